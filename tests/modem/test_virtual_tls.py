"""TLS on the virtual modems' stacks: SIMCom's HTTPS (AT+HTTPSSL=1) and TLS connections
(AT+CIPSSL=1), Quectel's SSL sockets (AT+QSSLCFG / AT+QSSLOPEN ...) and HTTPS
(AT+QHTTPCFG="sslctxid"), against a local TLS server started here with a self-signed certificate
(openssl's command line).  The server counts the TLS bytes it reads and writes: what the gateway
bills is those bytes and the TCP/IP headers of the wire model, nothing estimated."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.internet import parse_internet
from gateway.wire import HEADER, SYN_OPTIONS
from m2msim.yamlio import parse_yaml
from modem.virtual.core import VirtualModem
from tests.modem.test_virtual_http import BEARER
from tests.modem.test_virtual_sapbr import data_records, registered
from tests.modem.test_virtual_sockets import Dte, at, later, setup

OK = b"\r\nOK\r\n"
NAME = "iot.example"


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed ECDSA P-256 certificate for iot.example (openssl's command line)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={NAME}",
            "-addext", f"subjectAltName=DNS:{NAME}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Cert(crt, key)


@dataclass
class TlsServer:
    """A TLS server in memory on a plain asyncio server: the TLS bytes it read (`up`) and wrote
    (`down`), the plain bytes each connection gave, and the answer `reply` makes of them (None:
    not whole yet).  It never sends a close_notify: the module's close ends each connection."""

    context: ssl.SSLContext
    reply: Callable[[bytes], bytes | None]
    up: int = 0
    down: int = 0
    requests: list[bytes] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # a connection's end was read
    handlers: list[tuple[asyncio.Task[object], asyncio.StreamWriter]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append((task, writer))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.context.wrap_bio(incoming, outgoing, server_side=True)
        plain, done, failed = bytearray(), False, False
        try:
            while data := await reader.read(65536):
                self.up += len(data)
                incoming.write(data)
                try:
                    if not done:
                        obj.do_handshake()
                        done = True
                        self.versions.append(obj.version() or "")
                    while chunk := obj.read(65536):
                        plain += chunk
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    break
                except ssl.SSLError as exc:
                    self.failures.append(exc.reason or str(exc))
                    failed = True
                answer = self.reply(bytes(plain)) if done and plain else None
                if answer is not None:
                    self.requests.append(bytes(plain))
                    plain.clear()
                    obj.write(answer)
                out = outgoing.read()
                if out:  # one flight, one write
                    self.down += len(out)
                    writer.write(out)
                    await writer.drain()
                if failed:
                    break
        except ConnectionError:
            pass
        writer.close()
        self.ended.set()

    async def wait_ended(self) -> None:
        async with asyncio.timeout(15.0):
            await self.ended.wait()


@contextlib.asynccontextmanager
async def serving(server: TlsServer) -> AsyncIterator[int]:
    """`server` on a loopback port; at the end its connections closed and their handlers done."""
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        for _, writer in server.handlers:
            writer.close()
        await asyncio.gather(*(task for task, _ in server.handlers), return_exceptions=True)
        listening.close()
        await listening.wait_closed()


def http_reply(request: bytes) -> bytes | None:
    head, sep, body = request.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = next(
        (int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")), 0
    )
    if len(body) < length:
        return None
    text = b"stored" if head.startswith(b"POST") else b"hello over tls"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(text) + text


def echo_reply(data: bytes) -> bytes | None:
    return data.upper() if data.endswith(b"\n") else None


def server_context(cert: Cert, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


@pytest.fixture
async def tls_server(cert: Cert) -> AsyncIterator[tuple[int, TlsServer]]:
    server = TlsServer(server_context(cert), http_reply)
    async with serving(server) as port:
        yield port, server


def assert_billed_as_the_wire(up: int, down: int, tls_up: int, tls_down: int) -> None:
    """IP bytes = the TLS bytes + 40 B a packet (+ 12 B of options on the SYN / the SYN-ACK), for a
    TLS 1.2 connection with one request and its answer, the module closing, every ACK riding on the
    next data (the host's steps within the delayed ACK's 0.2 s).  Up, 7 packets: SYN, ACK,
    ClientHello, ClientKeyExchange + ChangeCipherSpec + Finished, the request, the close_notify with
    the FIN, the last ACK.  Down, 5: SYN-ACK, the server's hello flight (ServerHello, Certificate,
    ServerKeyExchange, ServerHelloDone), its ChangeCipherSpec + Finished (+ NewSessionTicket), the
    answer, its FIN."""
    assert (up - tls_up, down - tls_down) == (SYN_OPTIONS + 7 * HEADER, SYN_OPTIONS + 5 * HEADER)


def hosts(port: int) -> str:
    return f'hosts:\n  {NAME}: "127.0.0.1:{port}"\n'


def with_table(m: VirtualModem, table: str) -> None:
    m.internet = parse_internet(parse_yaml(table, "t.yaml"), "t.yaml")


# ----- SIMCom: AT+HTTPSSL=1 ------------------------------------------------------------------------


async def test_sim800_https_get_over_real_tls_is_billed_as_the_server_s_tls_bytes(
    tls_server: tuple[int, TlsServer],
) -> None:
    port, server = tls_server
    m, sink = registered()
    with_table(m, hosts(port))
    dte = Dte(m, speed=0.1)
    for line in (*BEARER, "AT+HTTPINIT", 'AT+HTTPPARA="CID",1', f'AT+HTTPPARA="URL","https://{NAME}/data"'):
        assert await dte.at(line) == OK, line
    assert await dte.at("AT+HTTPSSL?", b"OK\r\n") == b"\r\n+HTTPSSL: 0\r\n\r\nOK\r\n"
    assert await dte.at("AT+HTTPSSL=1") == OK
    assert await dte.at("AT+HTTPSSL?", b"OK\r\n") == b"\r\n+HTTPSSL: 1\r\n\r\nOK\r\n"
    assert await dte.at("AT+HTTPACTION=0") == OK
    assert await dte.expect(b"+HTTPACTION: 0,200,14\r\n") == b"\r\n+HTTPACTION: 0,200,14\r\n"
    assert await dte.at("AT+HTTPREAD") == b"\r\n+HTTPREAD: 14\r\nhello over tls\r\n\r\nOK\r\n"
    ctx = m.net.context(1)
    payload = (ctx.payload_up, ctx.payload_down)
    assert await dte.at("AT+HTTPTERM") == OK
    assert await dte.at("AT+SAPBR=0,1") == OK
    await dte.close()
    await server.wait_ended()
    (request,) = server.requests
    assert request.startswith(f"GET /data HTTP/1.1\r\nHost: {NAME}\r\nUser-Agent: SIMCOM_MODULE".encode())
    assert server.versions == ["TLSv1.2"]  # the SIM800 stops at TLS 1.2
    # every TLS byte the server read or wrote, and no other, is the session's payload
    assert payload == (server.up, server.down)
    (rec,) = data_records(sink)
    assert_billed_as_the_wire(rec.bytes_up, rec.bytes_down, server.up, server.down)


def test_sim800_a_failed_handshake_is_605() -> None:
    """The echo sends the ClientHello back: no TLS server, the channel cannot be set up."""
    m, _ = registered()
    with_table(m, "hosts:\n  echo.example: echo\n")
    for line in (*BEARER, "AT+HTTPINIT", 'AT+HTTPPARA="URL","https://echo.example/"', "AT+HTTPSSL=1"):
        assert at(m, line) == OK, line
    assert at(m, "AT+HTTPACTION=0") == OK
    assert later(m, 2.0) == b"\r\n+HTTPACTION: 0,605,0\r\n"
    assert at(m, "AT+HTTPSSL=0") == OK  # the same URL in plain: the echo is no HTTP server
    assert at(m, "AT+HTTPACTION=0") == OK
    assert later(m, 2.0) == b"\r\n+HTTPACTION: 0,600,0\r\n"


async def test_sim800_a_server_refusing_its_tls_version_is_606(cert: Cert) -> None:
    """A TLS 1.3-only server answers the SIM800's TLS 1.2 ClientHello with a fatal alert."""
    ctx = server_context(cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server = TlsServer(ctx, http_reply)
    async with serving(server) as port:
        m, _ = registered()
        with_table(m, hosts(port))
        dte = Dte(m, speed=0.1)
        for line in (*BEARER, "AT+HTTPINIT", f'AT+HTTPPARA="URL","https://{NAME}/"', "AT+HTTPSSL=1"):
            assert await dte.at(line) == OK, line
        assert await dte.at("AT+HTTPACTION=0") == OK
        assert await dte.expect(b"+HTTPACTION: 0,606,0\r\n") == b"\r\n+HTTPACTION: 0,606,0\r\n"
        await dte.close()
    assert server.failures and not server.requests


# ----- SIMCom: AT+CIPSSL=1 --------------------------------------------------------------------------


async def test_sim800_cipssl_connection_carries_plain_bytes_over_tls(cert: Cert) -> None:
    server = TlsServer(server_context(cert), echo_reply)
    async with serving(server) as port:
        m, _ = setup("simcom-sim800", hosts(port))
        dte = Dte(m, speed=0.1)
        assert await dte.at("AT+CIPSSL=1") == OK
        assert await dte.at(f'AT+CIPSTART="TCP","{NAME}",{port}') == OK
        assert await dte.expect(b"CONNECT OK\r\n") == b"\r\nCONNECT OK\r\n"
        assert await dte.at("AT+CIPSEND=6", b"> ") == b"\r\n> "
        dte.write(b"hello\n")
        assert await dte.expect(b"SEND OK\r\n") == b"\r\nSEND OK\r\n"
        assert await dte.expect(b"HELLO\n") == b"HELLO\n"  # the plain bytes, as on a plain connection
        assert await dte.at("AT+CIPCLOSE", b"CLOSE OK\r\n") == b"\r\nCLOSE OK\r\n"
        ctx = m.net.context(1)
        await dte.close()
        await server.wait_ended()
    assert server.requests == [b"hello\n"] and server.versions == ["TLSv1.2"]
    assert (ctx.payload_up, ctx.payload_down) == (server.up, server.down)
    assert_billed_as_the_wire(ctx.bytes_up, ctx.bytes_down, server.up, server.down)


def test_sim800_cipssl_handshake_failure_is_connect_fail() -> None:
    m, _ = setup("simcom-sim800", "hosts:\n  echo.example: echo\n")
    assert at(m, "AT+CIPSSL=1") == OK
    assert at(m, 'AT+CIPSTART="TCP","echo.example",443') == OK
    assert later(m, 2.0) == b"\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n"
    assert at(m, "AT+CIPSSL=0") == OK  # plain: the echo answers
    assert at(m, 'AT+CIPSTART="TCP","echo.example",443') == OK
    assert later(m, 2.0) == b"\r\nCONNECT OK\r\n"


# ----- Quectel: AT+QSSLCFG / AT+QSSLOPEN / AT+QSSLSEND / AT+QSSLRECV / AT+QSSLCLOSE ---------------


def xor16(data: bytes) -> int:
    """The checksum of the BG96 FILE AT Commands Manual (2.4, note 2), written out here again: the XOR
    of the data's 16-bit words, an odd last byte as the high byte of a last word."""
    padded = data + b"\0" * (len(data) % 2)
    acc = 0
    for i in range(0, len(padded), 2):
        acc ^= int.from_bytes(padded[i : i + 2], "big")
    return acc


async def quectel_ssl_session(
    server: TlsServer, port: int, ca: bytes, seclevel: int, sslversion: int = 4
) -> tuple[list[bytes], VirtualModem]:
    """The manual's sequence on a BG96: the CA certificate uploaded into UFS (AT+QFUPL), the context
    set, a buffer-mode socket opened, one message sent, the answer read, the socket closed.  What
    each step answered."""
    m, _ = setup("quectel-bg96", hosts(port))
    dte = Dte(m, speed=0.1)
    assert await dte.at(f'AT+QFUPL="UFS:cacert.pem",{len(ca)},10', b"CONNECT\r\n") == b"\r\nCONNECT\r\n"
    dte.write(ca)
    assert await dte.expect(b"OK\r\n") == f"\r\n+QFUPL: {len(ca)},{xor16(ca):x}\r\n\r\nOK\r\n".encode()
    out = []
    for line in (
        f'AT+QSSLCFG="sslversion",2,{sslversion}',
        'AT+QSSLCFG="ciphersuite",2,0XFFFF',
        f'AT+QSSLCFG="seclevel",2,{seclevel}',
        'AT+QSSLCFG="cacert",2,"UFS:cacert.pem"',
    ):
        assert await dte.at(line) == OK, line
    assert await dte.at(f'AT+QSSLOPEN=1,2,4,"{NAME}",{port},0') == OK
    out.append(await dte.expect(b"+QSSLOPEN: 4,"))
    out.append(await dte.expect(b"\r\n"))
    if out[-1] != b"0\r\n":
        await dte.close()
        return out, m
    assert await dte.at("AT+QSSLSEND=4,6", b"> ") == b"\r\n> "
    dte.write(b"hello\n")
    out.append(await dte.expect(b"SEND OK\r\n"))
    out.append(await dte.expect(b'+QSSLURC: "recv",4\r\n'))
    out.append(await dte.at("AT+QSSLRECV=4,1500"))
    out.append(await dte.at("AT+QSSLSTATE=4"))
    out.append(await dte.at("AT+QSSLCLOSE=4"))
    out.append(await dte.at("AT+QSSLSTATE"))
    await dte.close()
    return out, m


async def test_bg96_ssl_socket_verified_against_the_uploaded_ca(cert: Cert) -> None:
    server = TlsServer(server_context(cert), echo_reply)
    async with serving(server) as port:
        out, m = await quectel_ssl_session(server, port, cert.cert.read_bytes(), seclevel=1)
        await server.wait_ended()
    assert out == [
        b"\r\n+QSSLOPEN: 4,",
        b"0\r\n",
        b"\r\nSEND OK\r\n",
        b'\r\n+QSSLURC: "recv",4\r\n',
        b"\r\n+QSSLRECV: 6\r\nHELLO\n\r\n\r\nOK\r\n",
        f'\r\n+QSSLSTATE: 4,"SSLClient","{NAME}",{port},0,2,1,0,0,"uart1",2\r\n\r\nOK\r\n'.encode(),
        OK,
        OK,
    ]
    assert server.requests == [b"hello\n"] and server.versions == ["TLSv1.2"]
    ctx = m.net.context(1)
    assert (ctx.payload_up, ctx.payload_down) == (server.up, server.down)
    assert_billed_as_the_wire(ctx.bytes_up, ctx.bytes_down, server.up, server.down)


async def test_bg96_seclevel_1_refuses_a_server_the_ca_file_does_not_vouch_for(
    cert: Cert, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    openssl = shutil.which("openssl")
    assert openssl is not None
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(other / "k.pem"), "-out", str(other / "c.pem"), "-days", "2",
            "-subj", "/CN=someone.else",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = TlsServer(server_context(cert), echo_reply)
    async with serving(server) as port:
        ca = (other / "c.pem").read_bytes()
        out, _ = await quectel_ssl_session(server, port, ca, seclevel=1)
        # seclevel 0: no check, the same server is fine
        out0, _ = await quectel_ssl_session(server, port, ca, seclevel=0)
    assert out == [b"\r\n+QSSLOPEN: 4,", b"566\r\n"]
    assert out0[1] == b"0\r\n"
    assert any("ALERT" in f.upper() for f in server.failures)  # the module's alert reached the server


def test_bg96_ssl_errors_and_settings() -> None:
    m, _ = setup("quectel-bg96", "unknown: fail\nhosts:\n  echo.example: echo\n")
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+QSSLCFG="sslversion",1') == b'\r\n+QSSLCFG: "sslversion",1,4\r\n\r\nOK\r\n'
    assert at(m, 'AT+QSSLCFG="ciphersuite",1,0XC02F') == OK
    assert at(m, 'AT+QSSLCFG="ciphersuite",1') == b'\r\n+QSSLCFG: "ciphersuite",1,0XC02F\r\n\r\nOK\r\n'
    assert at(m, 'AT+QSSLCFG="ciphersuite",1,0XFFFE') == b"\r\nERROR\r\n"  # no such suite
    assert at(m, 'AT+QSSLCFG="seclevel",1,3') == b"\r\n+CME ERROR: 50\r\n"
    assert at(m, 'AT+QSSLCFG="cacert",1,"UFS:ca.pem"') == OK
    assert at(m, 'AT+QSSLCFG="cacert",1') == b'\r\n+QSSLCFG: "cacert",1,"UFS:ca.pem"\r\n\r\nOK\r\n'
    assert at(m, 'AT+QSSLOPEN=1,1,0,"echo.example",443,2') == b"\r\nERROR\r\n"  # transparent: not emulated
    for line, answer in (
        ('AT+QSSLOPEN=1,0,0,"echo.example",443,0', b"\r\n+QSSLOPEN: 0,566\r\n"),  # the echo: no TLS server
        ('AT+QSSLOPEN=1,0,0,"nowhere.example",443,0', b"\r\n+QSSLOPEN: 0,565\r\n"),  # DNS
        ('AT+QSSLOPEN=2,0,0,"echo.example",443,0', b"\r\n+QSSLOPEN: 0,561\r\n"),  # context 2 not active
        ('AT+QSSLOPEN=1,0,0,"a..b",443,0', b"\r\n+QSSLOPEN: 0,565\r\n"),  # DNS first
    ):
        assert at(m, line) == OK, line
        assert later(m, 2.0) == answer, line
    assert at(m, 'AT+QSSLCFG="seclevel",1,1') == OK
    assert at(m, 'AT+QSSLOPEN=1,1,0,"echo.example",443,0') == OK  # no ca.pem in UFS
    assert later(m, 2.0) == b"\r\n+QSSLOPEN: 0,566\r\n"
    assert at(m, 'AT+QSSLCFG="sslversion",3,0') == OK  # SSL 3.0 alone: nothing to offer
    assert at(m, 'AT+QSSLOPEN=1,3,0,"echo.example",443,0') == OK
    assert later(m, 2.0) == b"\r\n+QSSLOPEN: 0,566\r\n"
    assert at(m, 'AT+QIOPEN=1,5,"TCP","echo.example",7,0,0') == OK
    later(m, 1.0)
    assert at(m, 'AT+QSSLOPEN=1,0,5,"echo.example",443,0') == b"\r\n+CME ERROR: 563\r\n"  # shared IDs
    assert at(m, "AT+QSSLSEND=1,5") == b"\r\nERROR\r\n"  # not open
    m, _ = setup("quectel-bg96")  # names reach the echo: "a..b" too, a name no ClientHello can carry
    assert at(m, 'AT+QSSLOPEN=1,0,0,"a..b",443,0') == OK
    assert later(m, 2.0) == b"\r\n+QSSLOPEN: 0,566\r\n"


# ----- Quectel: HTTPS with AT+QHTTPCFG="sslctxid" --------------------------------------------------


async def test_bg96_https_get_through_the_ssl_context(tls_server: tuple[int, TlsServer]) -> None:
    port, server = tls_server
    m, sink = setup("quectel-bg96", hosts(port))
    dte = Dte(m, speed=0.1)
    url = f"https://{NAME}:{port}/data"
    assert await dte.at('AT+QSSLCFG="sslversion",3,3') == OK
    assert await dte.at('AT+QHTTPCFG="sslctxid",3') == OK
    assert await dte.at(f"AT+QHTTPURL={len(url)},80", b"CONNECT\r\n") == b"\r\nCONNECT\r\n"
    dte.write(url.encode())
    assert await dte.expect(b"OK\r\n") == OK
    assert await dte.at("AT+QHTTPGET=80") == OK
    assert await dte.expect(b"+QHTTPGET: 0,200,14\r\n") == b"\r\n+QHTTPGET: 0,200,14\r\n"
    assert await dte.at("AT+QHTTPREAD=80", b"+QHTTPREAD: 0\r\n") == (
        b"\r\nCONNECT\r\nhello over tls\r\n\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    )
    ctx = m.net.context(1)
    payload = (ctx.payload_up, ctx.payload_down)
    assert await dte.at("AT+QIDEACT=1") == OK
    await dte.close()
    await server.wait_ended()
    (request,) = server.requests
    assert request.startswith(f"GET /data HTTP/1.1\r\nHost: {NAME}:{port}\r\n".encode())
    assert payload == (server.up, server.down)
    (rec,) = data_records(sink)
    assert_billed_as_the_wire(rec.bytes_up, rec.bytes_down, server.up, server.down)


def test_bg96_https_handshake_failure_is_701() -> None:
    m, _ = setup("quectel-bg96", "hosts:\n  echo.example: echo\n")
    url = "https://echo.example/"
    assert at(m, f"AT+QHTTPURL={len(url)}") == b"\r\nCONNECT\r\n"
    m.feed(url.encode(), m.now)
    assert m.take_output() == OK
    assert at(m, "AT+QHTTPGET=10") == OK
    assert later(m, 2.0) == b"\r\n+QHTTPGET: 701\r\n"


async def test_bg96_a_server_closing_in_the_handshake_fails_the_open_and_both_fins_are_billed() -> None:
    """A plain server that reads the ClientHello and closes: 566, the server's FIN acknowledged, then
    the module's own FIN (it held its end open, as for a socket the server closes) and its ACK."""
    seen = bytearray()

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.extend(await reader.read(65536))
        writer.close()
        await writer.wait_closed()

    listening = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    try:
        m, _ = setup("quectel-bg96", hosts(listening.sockets[0].getsockname()[1]))
        dte = Dte(m, speed=0.1)
        assert await dte.at(f'AT+QSSLOPEN=1,0,1,"{NAME}",443,0') == OK
        assert await dte.expect(b"+QSSLOPEN: 1,566\r\n") == b"\r\n+QSSLOPEN: 1,566\r\n"
        assert await dte.at("AT+QSSLSTATE") == OK  # nothing left open or closing
        await dte.close()
    finally:
        listening.close()
        await listening.wait_closed()
    ctx = m.net.context(1)
    assert seen and ctx.payload_up == len(seen)  # the ClientHello
    # down: SYN-ACK 52, the server's FIN 40, its last ACK of the module's FIN 40
    assert ctx.bytes_down == SYN_OPTIONS + 3 * HEADER
    # up: SYN 52, ACK 40, the ClientHello, the ACK of the server's FIN 40, the module's FIN 40
    assert ctx.bytes_up == SYN_OPTIONS + 4 * HEADER + len(seen) + HEADER


async def test_bg96_deactivating_the_context_under_a_tls_socket_bills_every_packet_of_its_wire(
    cert: Cert,
) -> None:
    """AT+QIDEACT cuts the connection with the bearer: no close_notify (what is on its way up is lost
    with the bearer), the FIN exchange billed; everything the connection's wire holds is billed."""
    server = TlsServer(server_context(cert), echo_reply)
    async with serving(server) as port:
        m, _ = setup("quectel-bg96", hosts(port))
        m.link.change(netdelay="1000")  # a second's round trip: the close would wait on the uplink
        dte = Dte(m, speed=50.0)
        assert await dte.at(f'AT+QSSLOPEN=1,0,2,"{NAME}",{port},0') == OK
        assert await dte.expect(b"+QSSLOPEN: 2,0\r\n") == b"\r\n+QSSLOPEN: 2,0\r\n"
        sock = m.tcp.sockets[2]
        assert await dte.at("AT+QIDEACT=1") == OK
        ctx = m.net.context(1)
        await dte.close()
    assert sock.wire.closed
    assert (ctx.bytes_up, ctx.bytes_down) == (sock.wire.up, sock.wire.down)


def test_sim800_data_waits_for_the_tls_handshake() -> None:
    """While the TLS handshake runs the connection is still connecting: +CIPSTATUS says so and
    +CIPSEND answers ERROR (the data was taken, SEND OK said, and dropped)."""
    m, _ = setup("simcom-sim800", "hosts:\n  echo.example: echo\n")
    m.link.change(netdelay="1000")
    assert at(m, "AT+CIPSSL=1") == OK
    assert at(m, 'AT+CIPSTART="TCP","echo.example",443') == OK
    assert later(m, 1.2) == b""  # the TCP handshake is over, the ClientHello on its way
    assert m.tcp.sockets[0].connected
    assert at(m, "AT+CIPSTATUS").endswith(b"STATE: TCP CONNECTING\r\n")
    assert at(m, "AT+CIPSEND=5") == b"\r\nERROR\r\n"
    assert later(m, 3.0) == b"\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n"  # the echo is no TLS server


async def test_bg96_seclevel_2_sends_the_client_certificate_uploaded_into_ufs(cert: Cert) -> None:
    """A server that asks for a client certificate: the module sends the one its UFS holds
    ("clientcert", "clientkey" uploaded with AT+QFUPL); without them the server refuses it."""
    context = server_context(cert)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cert.cert)  # the self-signed certificate vouches for itself
    server = TlsServer(context, echo_reply)
    async with serving(server) as port:
        m, _ = setup("quectel-bg96", hosts(port))
        dte = Dte(m, speed=0.1)
        for name, path in (("ca.pem", cert.cert), ("client.pem", cert.cert), ("client.key", cert.key)):
            data = path.read_bytes()
            assert await dte.at(f'AT+QFUPL="{name}",{len(data)}', b"CONNECT\r\n") == b"\r\nCONNECT\r\n"
            dte.write(data)
            assert (await dte.expect(b"OK\r\n")).startswith(f"\r\n+QFUPL: {len(data)},".encode())
        for line in (
            'AT+QSSLCFG="seclevel",1,2',
            'AT+QSSLCFG="cacert",1,"UFS:ca.pem"',
            'AT+QSSLCFG="clientcert",1,"UFS:client.pem"',
            'AT+QSSLCFG="clientkey",1,"UFS:client.key"',
            'AT+QSSLCFG="seclevel",2,2',
            'AT+QSSLCFG="cacert",2,"UFS:ca.pem"',
        ):
            assert await dte.at(line) == OK, line
        assert await dte.at(f'AT+QSSLOPEN=1,1,4,"{NAME}",{port},0') == OK
        assert await dte.expect(b"\r\n") == b"\r\n"
        assert await dte.expect(b"\r\n") == b"+QSSLOPEN: 4,0\r\n"
        assert await dte.at("AT+QSSLSEND=4,6", b"> ") == b"\r\n> "
        dte.write(b"hello\n")
        await dte.expect(b'+QSSLURC: "recv",4\r\n')
        assert await dte.at("AT+QSSLCLOSE=4") == OK
        assert await dte.at(f'AT+QSSLOPEN=1,2,5,"{NAME}",{port},0') == OK  # context 2: no client files
        await dte.expect(b"+QSSLOPEN: 5,")
        refused = await dte.expect(b"\r\n")
        await dte.close()
    assert server.requests == [b"hello\n"]
    assert refused == b"566\r\n"
