"""How a module's connection ends: the server closing first (its last data still on the downlink) and the module closing while its data crosses the uplink; what the DTE
reads, what reaches the server and what the gateway bills each time."""

from __future__ import annotations

from accounting.records import UsageType
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP, HEADER, TEARDOWN_DOWN, TEARDOWN_UP
from modem.virtual.sockets import Socket
from tests.modem.test_virtual_sockets import FakeIO, at, later, setup


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
        HANDSHAKE_UP + HEADER + TEARDOWN_UP,  # the ACK of the answer
        HANDSHAKE_DOWN + (23 + HEADER) + TEARDOWN_DOWN,
    )


def test_the_module_s_close_lets_its_data_on_the_uplink_reach_the_server_first() -> None:
    m, sink = setup("simcom-sim800", net_preset="gprs")
    io = RecordingIO()
    m.tcp.io = io
    at(m, 'AT+CIPSTART="TCP","127.0.0.1",8000')
    m.tcp.connected(m.tcp.sockets[0])
    later(m, 5.0)
    at(m, "AT+CIPSEND=5")
    m.feed(b"bye\x00\x1a", m.now)
    assert m.take_output() == b"\r\nSEND OK\r\n"
    assert at(m, "AT+CIPCLOSE") == b"\r\nCLOSE OK\r\n"
    assert io.events == []  # the data still crosses the uplink; the FIN goes after it
    later(m, 5.0)
    assert io.events == [("send", b"bye\x00\x1a"), ("close", b"")]
    at(m, "AT+CIPSHUT")
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (
        HANDSHAKE_UP + (5 + HEADER) + TEARDOWN_UP,
        HANDSHAKE_DOWN + HEADER + TEARDOWN_DOWN,  # the server's ACK of the data
    )
