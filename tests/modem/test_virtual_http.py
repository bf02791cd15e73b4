"""SIMCom's HTTP application (AT+HTTPINIT ... AT+HTTPACTION / AT+HTTPREAD, SIM800 manual §9.2.2)
on the virtual SIM800's SAPBR bearer: the manual's GET and POST sequences against a local
http.server, the answers read back, the bytes billed to the bearer's context, and the errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.internet import parse_internet
from gateway.wire import HEADER
from m2msim.yamlio import parse_yaml
from modem.virtual.cmd_http import HTTP_SID
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from tests.modem.test_virtual_sapbr import APN, data_records, registered
from tests.modem.test_virtual_sockets import Dte, Sink, at, later, setup

OK = b"\r\nOK\r\n"


@dataclass
class Seen:
    """What the test server received: each request's line, headers and body."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    """Answers each request in one write (one TCP segment on loopback), then closes (HTTP/1.0)."""

    seen: Seen

    def _answer(self, status: str, body: bytes, extra: str = "") -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.seen.requests.append((self.requestline, dict(self.headers.items()), self.rfile.read(n)))
        if self.command == "HEAD":
            extra += f"Content-Length: {len(body)}\r\n"
            body = b""
        elif "chunked" not in extra:
            extra += f"Content-Length: {len(body)}\r\n"
        answer = f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n{extra}\r\n".encode() + body
        self.seen.answers.append(answer)
        self.wfile.write(answer)

    def do_GET(self) -> None:
        if self.path == "/old":
            self._answer("302 Found", b"moved", "Location: /hello\r\n")
        elif self.path == "/big":
            self._answer("200 OK", bytes(range(256)) * 1249)  # 319,744 bytes: past the module's 319,488
        elif self.path == "/chunks":
            self._answer("200 OK", b"4\r\nwiki\r\n6\r\npedia \r\n0\r\n\r\n", "Transfer-Encoding: chunked\r\n")
        else:
            self._answer("200 OK", b"hello from the server")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self._answer("201 Created", b"stored")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def web() -> Iterator[tuple[int, Seen]]:
    """A local http.server on a thread: its port and what it saw."""
    seen = Seen()
    handler = type("H", (Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


BEARER = ('AT+SAPBR=3,1,"CONTYPE","GPRS"', f'AT+SAPBR=3,1,"APN","{APN}"', "AT+SAPBR=1,1")


def billed(request: int, answer: int, connections: int = 1) -> tuple[int, int]:
    """`connections` connections, one a request: handshake, the request, the answer (carrying the request's ACK),
    the module's close once the answer is whole (its FIN carrying the answer's ACK, the server's
    FIN, the last ACK)."""
    return (
        connections * (HANDSHAKE_UP + 2 * HEADER) + request + connections * HEADER,
        connections * (HANDSHAKE_DOWN + HEADER) + answer + connections * HEADER,
    )


async def test_the_manual_s_get_reads_the_server_s_answer_and_bills_it(web: tuple[int, Seen]) -> None:
    port, seen = web
    m, sink = registered()
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s
    for line in BEARER:
        assert await dte.at(line) == OK, line
    assert await dte.at("AT+HTTPINIT") == OK
    assert await dte.at('AT+HTTPPARA="CID",1') == OK
    assert await dte.at(f'AT+HTTPPARA="URL","127.0.0.1:{port}/hello?x=1"') == OK
    assert await dte.at("AT+HTTPACTION=0") == OK
    body = b"hello from the server"
    urc = await dte.expect(b"+HTTPACTION: 0,200,21\r\n")
    assert urc == b"\r\n+HTTPACTION: 0,200,21\r\n"
    assert await dte.at("AT+HTTPSTATUS?") == b"\r\n+HTTPSTATUS: GET,0,0,0\r\n\r\nOK\r\n"
    assert await dte.at("AT+HTTPREAD") == b"\r\n+HTTPREAD: 21\r\n" + body + b"\r\n\r\nOK\r\n"
    assert await dte.at("AT+HTTPREAD=6,4") == b"\r\n+HTTPREAD: 4\r\nfrom\r\n\r\nOK\r\n"
    head = await dte.at("AT+HTTPHEAD", b"\r\n\r\nOK\r\n")
    assert head.startswith(b"\r\n+HTTPHEAD: ") and b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n" in head
    assert await dte.at("AT+HTTPTERM") == OK
    assert await dte.at("AT+SAPBR=0,1") == OK
    await dte.close()
    request = f"GET /hello?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: SIMCOM_MODULE\r\n\r\n"
    ((line, headers, _),) = seen.requests
    assert line == "GET /hello?x=1 HTTP/1.1" and headers["User-Agent"] == "SIMCOM_MODULE"
    (rec,) = data_records(sink)
    assert rec.apn == APN
    assert (rec.bytes_up, rec.bytes_down) == billed(len(request), len(seen.answers[0]))


async def test_the_manual_s_post_sends_httpdata_s_body(web: tuple[int, Seen]) -> None:
    port, seen = web
    m, sink = registered()
    dte = Dte(m, speed=0.1)
    for line in BEARER:
        assert await dte.at(line) == OK, line
    for line in (
        "AT+HTTPINIT",
        'AT+HTTPPARA="CID",1',
        f'AT+HTTPPARA="URL","http://127.0.0.1:{port}/log"',
        'AT+HTTPPARA="CONTENT","application/json"',
        'AT+HTTPPARA="USERDATA","X-Device: 42"',
    ):
        assert await dte.at(line) == OK, line
    payload = b'{"t":21.5}\r\n\x00'
    assert await dte.at(f"AT+HTTPDATA={len(payload)},10000", b"DOWNLOAD\r\n") == b"\r\nDOWNLOAD\r\n"
    dte.write(payload)
    assert await dte.expect(b"OK\r\n") == OK
    assert await dte.at("AT+HTTPACTION=1") == OK
    assert await dte.expect(b"+HTTPACTION: 1,201,6\r\n") == b"\r\n+HTTPACTION: 1,201,6\r\n"
    assert await dte.at("AT+HTTPREAD") == b"\r\n+HTTPREAD: 6\r\nstored\r\n\r\nOK\r\n"
    assert await dte.at("AT+HTTPTERM") == OK
    assert await dte.at("AT+SAPBR=0,1") == OK
    await dte.close()
    ((line, headers, body),) = seen.requests
    assert line == "POST /log HTTP/1.1" and body == payload
    assert (headers["Content-Type"], headers["X-Device"]) == ("application/json", "42")
    request = (
        f"POST /log HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: SIMCOM_MODULE\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nX-Device: 42\r\n\r\n"
    ).encode() + payload
    (rec,) = data_records(sink)
    assert (rec.bytes_up, rec.bytes_down) == billed(len(request), len(seen.answers[0]))


async def test_redirects_chunks_and_head(web: tuple[int, Seen]) -> None:
    port, seen = web
    m, sink = registered()
    dte = Dte(m, speed=0.1)
    for line in (*BEARER, "AT+HTTPINIT", f'AT+HTTPPARA="URL","http://127.0.0.1:{port}/old"'):
        assert await dte.at(line) == OK, line
    # REDIR 0: the 302 itself
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,302,5\r\n") == b"\r\n+HTTPACTION: 0,302,5\r\n"
    # REDIR 1: followed to /hello, a second connection
    assert await dte.at('AT+HTTPPARA="REDIR",1') == OK
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,200,21\r\n") == b"\r\n+HTTPACTION: 0,200,21\r\n"
    assert [r[0] for r in seen.requests] == ["GET /old HTTP/1.1", "GET /old HTTP/1.1", "GET /hello HTTP/1.1"]
    # a chunked answer is read as its body
    assert await dte.at(f'AT+HTTPPARA="URL","http://127.0.0.1:{port}/chunks"') == OK
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,200,10\r\n") == b"\r\n+HTTPACTION: 0,200,10\r\n"
    assert await dte.at("AT+HTTPREAD") == b"\r\n+HTTPREAD: 10\r\nwikipedia \r\n\r\nOK\r\n"
    # HEAD: the status, no body; the header lines through AT+HTTPHEAD
    assert await dte.at(f'AT+HTTPPARA="URL","http://127.0.0.1:{port}/hello"') == OK
    assert await dte.at("AT+HTTPACTION=2") == OK
    assert await dte.expect(b"+HTTPACTION: 2,200,0\r\n") == b"\r\n+HTTPACTION: 2,200,0\r\n"
    assert b"Content-Length: 21\r\n" in await dte.at("AT+HTTPHEAD", b"\r\n\r\nOK\r\n")
    assert await dte.at("AT+SAPBR=0,1") == OK
    await dte.close()
    assert [r[0] for r in seen.requests][3:] == ["GET /chunks HTTP/1.1", "HEAD /hello HTTP/1.1"]
    (rec,) = data_records(sink)
    request = len(f"GET /old HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: SIMCOM_MODULE\r\n\r\n")
    sent = (
        5 * request
        + len("/hello")
        - len("/old")
        + len("/chunks")
        - len("/old")
        + len("HEAD /hello")
        - len("GET /old")
    )
    assert (rec.bytes_up, rec.bytes_down) == billed(sent, sum(map(len, seen.answers)), connections=5)


async def test_a_body_past_the_module_s_memory_is_602(web: tuple[int, Seen]) -> None:
    port, _ = web
    m, _ = registered()
    dte = Dte(m)
    for line in (*BEARER, "AT+HTTPINIT", f'AT+HTTPPARA="URL","127.0.0.1:{port}/big"'):
        assert await dte.at(line) == OK, line
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,602,0\r\n") == b"\r\n+HTTPACTION: 0,602,0\r\n"
    assert await dte.at("AT+HTTPREAD", b"ERROR\r\n") == b"\r\nERROR\r\n"
    assert HTTP_SID not in m.tcp.sockets  # the connection closed
    await dte.close()


async def test_a_server_that_never_answers_is_a_network_error_after_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    m, _ = registered()
    dte = Dte(m, speed=100.0)  # 30 simulated seconds in 0.3 s
    for line in (*BEARER, "AT+HTTPINIT", 'AT+HTTPPARA="TIMEOUT",30', f'AT+HTTPPARA="URL","127.0.0.1:{port}"'):
        assert await dte.at(line) == OK, line
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,601,0\r\n") == b"\r\n+HTTPACTION: 0,601,0\r\n"
    assert m.now >= 30.0
    await dte.close()
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()


def ready(table: str | None = None) -> tuple[VirtualModem, Sink]:
    m, sink = registered()
    if table is not None:
        m.internet = parse_internet(parse_yaml(table, "t.yaml"), "t.yaml")
    at(m, "AT+CMEE=1")
    return m, sink


def test_commands_out_of_order_are_cme_3() -> None:
    m, _ = registered()
    at(m, "AT+CMEE=1")
    cme3 = b"\r\n+CME ERROR: 3\r\n"
    assert at(m, "AT+HTTPACTION=0") == cme3  # before AT+HTTPINIT
    assert at(m, 'AT+HTTPPARA="URL","x"') == cme3
    assert at(m, "AT+HTTPINIT") == cme3  # no bearer open
    for line in BEARER:
        assert at(m, line) == OK
    assert at(m, "AT+HTTPINIT") == OK
    assert at(m, "AT+HTTPINIT") == cme3  # already started
    assert at(m, "AT+HTTPREAD") == cme3  # nothing to read
    assert at(m, 'AT+HTTPPARA="NOPE","1"') == cme3
    assert at(m, 'AT+HTTPPARA="CID",4') == cme3
    assert at(m, 'AT+HTTPPARA="URL","ftp://example.com/"') == OK
    assert at(m, "AT+HTTPACTION=0") == cme3  # neither http:// nor https://
    assert at(m, "AT+HTTPSSL=2") == b"\r\n+CME ERROR: 50\r\n"  # out of range
    assert at(m, "AT+HTTPSSL=0") == OK
    assert at(m, 'AT+HTTPPARA="CID",2') == OK
    assert at(m, 'AT+HTTPPARA="URL","example.com"') == OK
    assert at(m, "AT+HTTPACTION=0") == cme3  # bearer 2 is not open
    assert at(m, 'AT+HTTPPARA="CID",1') == OK
    assert at(m, "AT+SAPBR=0,1") == OK
    assert at(m, "AT+HTTPACTION=0") == cme3  # bearer 1 closed since
    assert at(m, "AT+HTTPTERM") == OK
    assert at(m, "AT+HTTPTERM") == cme3


def test_unreachable_unknown_and_non_http_servers_give_the_manual_s_codes() -> None:
    m, _ = ready("unknown: fail\nhosts:\n  echo.example: echo\n")
    for line in (*BEARER, "AT+HTTPINIT"):
        assert at(m, line) == OK
    cases = [
        ("nowhere.example/x", 603),  # DNS error
        ("10.0.0.9/x", 601),  # refused by the operator's policy: network error
        ("127.0.0.1:9/x", 601),  # a real endpoint, but no event loop serves the modem's sockets
        ("echo.example/x", 600),  # the echo answers the request itself: not HTTP
    ]
    for url, code in cases:
        assert at(m, f'AT+HTTPPARA="URL","{url}"') == OK
        assert at(m, "AT+HTTPACTION=0") == OK
        assert later(m, 1.0) == f"\r\n+HTTPACTION: 0,{code},0\r\n".encode(), url
        assert at(m, "AT+HTTPREAD") == b"\r\n+CME ERROR: 3\r\n", url


def acting() -> tuple[VirtualModem, Sink]:
    """A GET under way to the echo, a second's round trip away."""
    m, sink = ready()
    for line in (*BEARER, "AT+HTTPINIT", 'AT+HTTPPARA="URL","echo.example/x"'):
        assert at(m, line) == OK
    m.link.change(netdelay="1000")
    assert at(m, "AT+HTTPACTION=0") == OK
    return m, sink


def test_a_second_action_while_one_runs_is_604_stack_busy() -> None:
    m, _ = acting()
    assert at(m, "AT+HTTPACTION=1") == OK
    assert later(m, 0.0) == b"\r\n+HTTPACTION: 1,604,0\r\n"
    assert at(m, "AT+HTTPSTATUS?") == b"\r\n+HTTPSTATUS: GET,1,0,0\r\n\r\nOK\r\n"
    assert later(m, 5.0) == b"\r\n+HTTPACTION: 0,600,0\r\n"


def test_closing_the_bearer_under_an_action_is_a_network_error() -> None:
    m, sink = acting()
    assert at(m, "AT+SAPBR=0,1") == OK
    assert later(m, 0.0) == b"\r\n+HTTPACTION: 0,601,0\r\n"
    assert later(m, 200.0) == b""  # nothing more: not the TIMEOUT's 601 again
    (rec,) = data_records(sink)
    assert (rec.bytes_up, rec.bytes_down) == (0, 0)  # closed before the handshake was through


def test_a_reset_ends_the_service() -> None:
    m, _ = ready()
    for line in (*BEARER, "AT+HTTPINIT", 'AT+HTTPPARA="URL","echo.example/x"'):
        assert at(m, line) == OK
    at(m, "AT+CFUN=1,1")
    m.poll(m.now + 30.0)
    m.take_output()
    at(m, "ATE0;+CMEE=1")
    assert at(m, 'AT+HTTPPARA="URL","x"') == b"\r\n+CME ERROR: 3\r\n"


# ----- Quectel: AT+QHTTPURL / AT+QHTTPGET / AT+QHTTPPOST / AT+QHTTPREAD --------------------------


async def test_quectel_get_and_post_read_back_and_billed(web: tuple[int, Seen]) -> None:
    """The BG96 HTTP(S) manual's GET and POST examples, on context 1 (AT+QIACT)."""
    port, seen = web
    m, sink = setup("quectel-bg96")
    dte = Dte(m, speed=0.1)
    url = f"http://127.0.0.1:{port}/hello"
    assert await dte.at('AT+QHTTPCFG="contextid",1') == OK
    assert await dte.at('AT+QHTTPCFG="responseheader",0') == OK
    assert await dte.at(f"AT+QHTTPURL={len(url)},80", b"CONNECT\r\n") == b"\r\nCONNECT\r\n"
    dte.write(url.encode())
    assert await dte.expect(b"OK\r\n") == OK
    assert await dte.at("AT+QHTTPGET=80") == OK
    assert await dte.expect(b"+QHTTPGET: 0,200,21\r\n") == b"\r\n+QHTTPGET: 0,200,21\r\n"
    assert await dte.at("AT+QHTTPREAD=80", b"+QHTTPREAD: 0\r\n") == (
        b"\r\nCONNECT\r\nhello from the server\r\n\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    )
    message = b"Message=1111"
    assert await dte.at(f"AT+QHTTPPOST={len(message)},80,80", b"CONNECT\r\n") == b"\r\nCONNECT\r\n"
    dte.write(message)
    assert await dte.expect(b"OK\r\n") == OK
    assert await dte.expect(b"+QHTTPPOST: 0,201,6\r\n") == b"\r\n+QHTTPPOST: 0,201,6\r\n"
    assert await dte.at('AT+QHTTPCFG="responseheader",1') == OK
    read = await dte.at("AT+QHTTPREAD=80", b"+QHTTPREAD: 0\r\n")
    assert read.startswith(b"\r\nCONNECT\r\nHTTP/1.0 201 Created\r\n") and read.endswith(
        b"\r\n\r\nstored\r\n\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    )
    assert await dte.at("AT+QIDEACT=1") == OK
    await dte.close()
    (get, _, _), (post, headers, body) = seen.requests
    assert (get, post, body) == ("GET /hello HTTP/1.1", "POST /hello HTTP/1.1", message)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    head = f"Host: 127.0.0.1:{port}\r\nUser-Agent: QUECTEL_MODULE\r\nAccept: */*\r\n"
    sent = len(f"GET /hello HTTP/1.1\r\n{head}\r\n") + len(
        f"POST /hello HTTP/1.1\r\n{head}Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(message)}\r\n\r\n"
    )
    (rec,) = data_records(sink)
    assert (rec.bytes_up, rec.bytes_down) == billed(sent + len(message), sum(map(len, seen.answers)), 2)


def test_quectel_errors_are_the_manual_s_codes() -> None:
    m, _ = setup("quectel-bg96", "unknown: fail\nhosts:\n  echo.example: echo\n")
    at(m, "AT+CMEE=1")
    assert at(m, "AT+QHTTPGET=10") == b"\r\n+CME ERROR: 712\r\n"  # no URL yet
    assert at(m, "AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"  # nothing to read
    assert at(m, 'AT+QHTTPCFG="requestheader",1') == b"\r\n+CME ERROR: 50\r\n"  # not emulated
    for url, code in (
        ("http://nowhere.example/", 714),  # DNS error
        ("http://10.0.0.9/", 716),  # refused by the policy: socket connect error
        ("http://echo.example/", 723),  # not HTTP
        ("ftp://echo.example/", 711),  # neither http:// nor https://
    ):
        assert at(m, f"AT+QHTTPURL={len(url)}") == b"\r\nCONNECT\r\n"
        m.feed(url.encode(), m.now)
        assert m.take_output() == OK
        assert at(m, "AT+QHTTPGET=10") == OK
        assert later(m, 1.0) == f"\r\n+QHTTPGET: {code}\r\n".encode(), url
    assert at(m, "AT+QHTTPURL=20") == b"\r\nCONNECT\r\n"
    m.feed(b"http://echo.example/", m.now)
    m.take_output()
    m.link.change(netdelay="1000")
    assert at(m, "AT+QHTTPGET=10") == OK
    assert at(m, "AT+QHTTPGET=10") == b"\r\n+CME ERROR: 703\r\n"  # busy
    assert later(m, 5.0) == b"\r\n+QHTTPGET: 723\r\n"
    assert at(m, "AT+QIDEACT=1") == OK
    assert at(m, "AT+QHTTPGET=10") == OK
    assert later(m, 0.0) == b"\r\n+QHTTPGET: 709\r\n"  # the context is not active
