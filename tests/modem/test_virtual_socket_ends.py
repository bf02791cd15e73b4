"""How a module's connection ends: the server closing first (its last data still on the downlink, or
unread in Quectel's buffer) and the module closing while its data crosses the uplink; what the DTE
reads, what reaches the server and what the gateway bills each time."""

from __future__ import annotations

import asyncio

import pytest

from accounting.records import UsageType
from gateway.wire import HEADER
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from modem.virtual.sockets import UDP_HEADER, Socket
from tests.modem.test_virtual_sockets import Dte, FakeIO, at, later, setup


class RecordingIO(FakeIO):
    """A `FakeIO` that keeps the order of what the stack did to the real socket."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, bytes]] = []

    def send(self, sock: Socket, data: bytes) -> None:
        self.events.append(("send", data))

    def close(self, sock: Socket) -> None:
        self.events.append(("close", b""))
        sock.handle = None


def test_a_server_that_answers_and_closes_is_read_whole_on_a_gprs_link() -> None:
    m, sink = setup("simcom-sim800", net_preset="gprs")
    m.tcp.io = RecordingIO()
    at(m, 'AT+CIPSTART="TCP","127.0.0.1",8000')
    m.tcp.connected(m.tcp.sockets[0])
    assert later(m, 5.0) == b"\r\nCONNECT OK\r\n"
    m.tcp.received(m.tcp.sockets[0], b"HTTP/1.0 200 OK\r\n\r\nbody")
    m.tcp.remote_closed(m.tcp.sockets[0])  # the FIN right behind the answer, as a server sends it
    assert m.take_output() == b""  # both still cross the downlink
    assert later(m, 5.0) == b"HTTP/1.0 200 OK\r\n\r\nbody\r\nCLOSED\r\n"
    at(m, "AT+CIPSHUT")
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (
        HANDSHAKE_UP + HEADER,  # the module's FIN, carrying the ACK of the answer
        # the answer, the server's FIN alone (the answer had left: Linux's tcp_send_fin puts a FIN
        # on data not sent yet only), the last ACK
        HANDSHAKE_DOWN + (23 + HEADER) + HEADER + HEADER,
    )


def test_a_server_that_accepts_and_closes_at_once_is_connected_then_closed_and_billed_so() -> None:
    m, sink = setup("simcom-sim800", net_preset="gprs")
    m.tcp.io = RecordingIO()
    at(m, 'AT+CIPSTART="TCP","127.0.0.1",8000')
    sock = m.tcp.sockets[0]
    m.tcp.connected(sock)  # the loopback endpoint accepts at once; the handshake still crosses GPRS
    m.tcp.remote_closed(sock)  # and closes
    assert later(m, 5.0) == b"\r\nCONNECT OK\r\n\r\nCLOSED\r\n"
    at(m, "AT+CIPSHUT")
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    # the server's FIN down, the module's up, the last ACK down
    assert (rec.bytes_up, rec.bytes_down) == (HANDSHAKE_UP + HEADER, HANDSHAKE_DOWN + 2 * HEADER)


@pytest.mark.parametrize("close", ["AT+QICLOSE=0", "AT+QIDEACT=1"])
def test_quectel_sends_its_fin_when_the_host_closes_the_socket_the_server_closed(close: str) -> None:
    """The server closes first: the module says `+QIURC: "closed"` and holds the socket "closing"
    until AT+QICLOSE (or AT+QIDEACT).  Its stack ACKs the server's FIN at once and sends its own FIN
    when the host closes it; the whole teardown (the module's FIN and the last ACK too) was billed at
    once when the server's FIN came, though the module had sent no FIN."""
    m, _ = setup("quectel-bg96")
    m.tcp.io = RecordingIO()
    at(m, 'AT+QIOPEN=1,0,"TCP","127.0.0.1",8000,0,0')
    sock = m.tcp.sockets[0]
    m.tcp.connected(sock)
    assert later(m, 1.0) == b"\r\n+QIOPEN: 0,0\r\n"
    ctx = m.net.context(1)
    up, down = ctx.bytes_up, ctx.bytes_down
    m.tcp.remote_closed(sock)
    assert m.take_output() == b'\r\n+QIURC: "closed",0\r\n'
    assert (ctx.bytes_up - up, ctx.bytes_down - down) == (HEADER, HEADER)  # the server's FIN, the ACK
    later(m, 60.0)
    assert (ctx.bytes_up - up, ctx.bytes_down - down) == (HEADER, HEADER)  # held "closing": no FIN
    at(m, close)
    # the module's FIN up, the server's last ACK down
    assert (ctx.bytes_up - up, ctx.bytes_down - down) == (2 * HEADER, 2 * HEADER)
    at(m, "AT+QICLOSE=0")
    assert (ctx.bytes_up - up, ctx.bytes_down - down) == (2 * HEADER, 2 * HEADER)  # once


def test_simcom_closes_at_once_when_the_server_closes() -> None:
    """SIMCom says CLOSED and frees the connection: its FIN answers the server's at once."""
    m, _ = setup("simcom-sim800")
    m.tcp.io = RecordingIO()
    at(m, 'AT+CIPSTART="TCP","127.0.0.1",8000')
    m.tcp.connected(m.tcp.sockets[0])
    assert later(m, 1.0) == b"\r\nCONNECT OK\r\n"
    ctx = m.net.context(1)
    up, down = ctx.bytes_up, ctx.bytes_down
    m.tcp.remote_closed(m.tcp.sockets[0])
    assert m.take_output() == b"\r\nCLOSED\r\n"
    # the server's FIN down, the module's FIN (with the ACK) up, the last ACK down
    assert (ctx.bytes_up - up, ctx.bytes_down - down) == (HEADER, 2 * HEADER)


async def test_quectel_keeps_a_closed_socket_s_data_until_qiclose() -> None:
    answer = b"HTTP/1.0 200 OK\r\n\r\n" + bytes(range(256)) * 8  # 2,067 B: two reads of 1,500

    async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_and_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    q, sink = setup("quectel-bg96")
    dte = Dte(q)
    try:
        await dte.at(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0', b"+QIOPEN: 0,0\r\n")
        await dte.at("AT+QISEND=0,18", b"> ")
        dte.write(b"GET / HTTP/1.0\r\n\r\n")
        await dte.expect(b'+QIURC: "closed",0\r\n')
        # BG96 TCP/IP manual: the socket is "closing" (state 4); its data is read, then AT+QICLOSE frees it.
        assert (await dte.at("AT+QISTATE=1,0")).endswith(b',0,4,1,0,0,"uart1"\r\n\r\nOK\r\n')
        used = await dte.at(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0', b"563\r\n")
        assert used == b"\r\n+CME ERROR: 563\r\n"  # its connect ID is still taken
        first = await dte.at("AT+QIRD=0,1500", b"\r\n\r\nOK\r\n")  # the answer has an "OK\r\n" of its own
        second = await dte.at("AT+QIRD=0,1500", b"\r\n\r\nOK\r\n")
        assert first == b"\r\n+QIRD: 1500\r\n" + answer[:1500] + b"\r\n\r\nOK\r\n"
        assert second == b"\r\n+QIRD: 567\r\n" + answer[1500:] + b"\r\n\r\nOK\r\n"
        assert await dte.at("AT+QIRD=0,1500") == b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
        assert await dte.at("AT+QICLOSE=0;+QISTATE") == b"\r\nOK\r\n"
        await dte.at("AT+QIDEACT=1")
    finally:
        await dte.close()
        server.close()
        await server.wait_closed()
    ctx = q.net.context(1)
    assert (ctx.payload_up, ctx.payload_down) == (18, len(answer))
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (ctx.bytes_up, ctx.bytes_down)


@pytest.mark.parametrize(
    ("profile", "commands", "billed"),
    [
        (
            "simcom-sim800",
            # quick send: in normal mode the module says SEND OK only once the data is acknowledged
            ('AT+CIPQSEND=1;+CIPSTART="TCP","127.0.0.1",8000', "AT+CIPSEND=5", "AT+CIPCLOSE=1", "AT+CIPSHUT"),
            (HANDSHAKE_UP + (5 + HEADER) + HEADER, HANDSHAKE_DOWN + HEADER),
        ),
        (
            "quectel-bg96",
            ('AT+QIOPEN=1,0,"UDP","127.0.0.1",5683,0,0', "AT+QISEND=0,5", "AT+QICLOSE=0", "AT+QIDEACT=1"),
            (5 + UDP_HEADER, 0),
        ),
    ],
)
def test_the_module_s_close_lets_its_data_on_the_uplink_reach_the_server_first(
    profile: str, commands: tuple[str, str, str, str], billed: tuple[int, int]
) -> None:
    start, send, close, deactivate = commands
    m, sink = setup(profile, net_preset="gprs")
    io = RecordingIO()
    m.tcp.io = io
    at(m, start)
    m.tcp.connected(m.tcp.sockets[0])
    later(m, 5.0)
    at(m, send)
    m.feed(b"bye\x00\x1a", m.now)
    assert m.take_output() == (
        b"\r\nDATA ACCEPT:5\r\n" if profile.startswith("simcom") else b"\r\nSEND OK\r\n"
    )
    assert at(m, close).endswith(b"OK\r\n")
    assert io.events == []  # the data still crosses the uplink; a TCP FIN goes after it
    later(m, 5.0)
    assert io.events == [("send", b"bye\x00\x1a"), ("close", b"")]
    at(m, deactivate)
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    # TCP: the FIN rides on the data still on the uplink; the server's FIN carries its ACK of both
    assert (rec.bytes_up, rec.bytes_down) == billed


@pytest.mark.parametrize("quick", [0, 1])
def test_simcom_slow_close_answers_once_the_close_handshake_is_done(quick: int) -> None:
    """AT+CIPCLOSE=0 (slow close, the default) and =1 (quick close), SIM800 manual §8.2.6: both
    answered CLOSE OK at once.  A slow close answers once the module's FIN (after its data still on
    the uplink) has reached the server and the server's FIN is back; a quick close at once, the
    handshake going on without the DTE.  The packets are the same."""
    m, sink = setup("simcom-sim800", net_preset="gprs")
    io = RecordingIO()
    m.tcp.io = io
    at(m, 'AT+CIPQSEND=1;+CIPSTART="TCP","127.0.0.1",8000')
    m.tcp.connected(m.tcp.sockets[0])
    later(m, 5.0)
    at(m, "AT+CIPSEND=5")
    m.feed(b"bye\x00\x1a", m.now)
    assert m.take_output() == b"\r\nDATA ACCEPT:5\r\n"
    closing = m.now
    out = at(m, f"AT+CIPCLOSE={quick}")
    if quick:
        assert out == b"\r\nCLOSE OK\r\n"
    else:
        assert out == b""  # the FIN still waits behind the data on the uplink
        while not out:
            due = m.next_deadline()
            assert due is not None
            out = m.take_output(due)
            if not out:
                assert io.events in ([], [("send", b"bye\x00\x1a"), ("close", b"")])
        assert out == b"\r\nCLOSE OK\r\n"
        assert io.events == [("send", b"bye\x00\x1a"), ("close", b"")]  # the data reached the server
        assert m.now - closing > 0.3  # GPRS: the data's uplink, then the server's FIN back
    later(m, 5.0)
    at(m, "AT+CIPSHUT")
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (HANDSHAKE_UP + (5 + HEADER) + HEADER, HANDSHAKE_DOWN + HEADER)
