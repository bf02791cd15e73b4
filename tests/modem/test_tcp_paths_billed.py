"""One TCP exchange billed alike on the two paths a modem's TCP takes to the Internet.

The module stacks (SIMCom CIPSTART / CIPSEND here) bill their connections by the TCP model
(`gateway.wire.TcpWire`); over the PPP bearer the device's own stack talks to the forwarder's TCP
endpoint (`modem.virtual.ppp.forwarder`), which stands for the remote server, and the gateway bills
the IP packets both send.  The same application exchange, made at the same simulated times, costs
the same bytes either way when the device's stack acknowledges as the model's device does
(`pppdevice.DelayedAckClient`: at once once more than one full segment is unacknowledged, else after
the delayed-ACK time unless data carries it) and the forwarder as the model's server does.

Each server stands in with exact timing: it answers a request the moment the request has all come
(the built-in echo's timing), and sends a download in 64 KiB reads, as a host socket hands them over.
The one difference left is the SYN's own size: this device's stack offers the MSS alone (44 B), the
model's SYN the MSS, SACK-permitted and window scale (52 B)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from gateway.wire import ACK_DELAY_S, DEVICE, HEADER, MSS, SERVER, SYN, TcpWire, segments
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP, Context
from modem.virtual.ppp.forwarder import EchoBackend, TcpFlow
from modem.virtual.sockets import Socket
from tests.modem.pppdevice import DelayedAckClient, Device, arrived
from tests.modem.test_ppp import ECHO_HOST
from tests.modem.test_ppp import setup as setup_ppp
from tests.modem.test_virtual_sockets import FakeIO, at, setup

READ = 65_536  # what a host socket's read hands over at most (a download comes in such pieces)
TABLE = 'hosts:\n  api.example.com: "127.0.0.1:8080"\n'
SYN_OPTIONS_NOT_SENT = SYN - 44  # the model's SYN options this device's stack does not send

Step = tuple[str, float]  # ("up", bytes) the device sends; ("down", bytes) the server sends (at once
# after the request before it has all come); ("wait", seconds) nothing happens for that long;
# ("close", 0) the server closes (last, with its last data), the device then; ("push", bytes) the
# server sends at once, what came before still crossing the link

EXCHANGES: dict[str, list[Step]] = {
    "upload 10 kB": [("up", 10_000)],
    "upload 100 kB": [("up", 100_000)],
    "upload 1 MB": [("up", 1_000_000)],
    "download 10 kB": [("up", 100), ("down", 10_000)],
    "download 100 kB": [("up", 100), ("down", 100_000)],
    "download 1 MB": [("up", 100), ("down", 1_000_000)],
    # an HTTP/1.0-like answer: the server closes after it, the device at once then
    "download 10 kB, the server closing": [("up", 100), ("down", 10_000), ("close", 0)],
    "download 1 MB, the server closing": [("up", 100), ("down", 1_000_000), ("close", 0)],
    # an MQTT-like session: CONNECT / CONNACK, ten QoS 1 PUBLISH / PUBACK, DISCONNECT
    "mqtt loop": [("up", 24), ("down", 4), *[("up", 82), ("down", 4)] * 10, ("up", 2)],
    # the same, a publish every 30 s: each delayed ACK goes alone
    "mqtt loop 30 s": [("up", 24), ("down", 4), *[("wait", 30.0), ("up", 82), ("down", 4)] * 10, ("up", 2)],
    # a TLS 1.2-like handshake (ClientHello; ServerHello, certificate, key exchange, done; client key
    # exchange and Finished; Finished), a request and its answer
    "tls handshake": [("up", 517), ("down", 2_800), ("up", 126), ("down", 51), ("up", 120), ("down", 300)],
}

# A server that closes the moment its answer has gone sends its FIN alone on both paths (Linux's
# tcp_send_fin puts it on data not sent yet, and a 10 kB answer within the device's window has all
# left): the module stack's model let it ride on the answer's last segment, 40 B down less than the
# PPP bearer's forwarder billed.  It rides on both when the answer waits for the window (1 MB).


class _Server(EchoBackend):
    """The forwarder flow's backend for an exchange: answers each request once it has all come,
    closes when the device has (as the echo)."""

    def __init__(self, flow: TcpFlow, answers: list[tuple[int, int]]) -> None:
        super().__init__(flow)
        self.answers, self.got = answers, 0
        self.closes = False  # the server closes after its last answer

    def send(self, n: int) -> None:
        while n:
            k = min(READ, n)
            self.flow.from_host(b"d" * k)
            n -= k

    def write(self, data: bytes) -> None:
        self.got += len(data)
        while self.answers and self.got >= self.answers[0][0]:
            self.send(self.answers.pop(0)[1])
            if self.closes and not self.answers:
                self.flow.host_eof()


def _answers(steps: list[Step]) -> list[tuple[int, int]]:
    """(upload total when the answer goes, answer bytes) of each "down" that follows an "up"."""
    out, up = [], 0
    for k, (what, n) in enumerate(steps):
        up += int(n) if what == "up" else 0
        if what == "down" and k and steps[k - 1][0] == "up":
            out.append((up, int(n)))
    return out


def over_ppp(steps: list[Step]) -> tuple[int, int]:
    """(up, down) billed for `steps` made by a device's stack over the PPP bearer, then closed by it."""
    return ppp_run(steps)[1]


def ppp_run(steps: list[Step], conditions: str = "full") -> tuple[Device, tuple[int, int]]:
    """`over_ppp` on a radio link of `conditions`: the device, and the (up, down) billed."""
    m, _net, _sink = setup_ppp("simcom-sim800", conditions)
    dev = Device(m, user="33612345678", password="secret")
    assert dev.dial() == b"\r\nCONNECT\r\n"
    ctx = m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    client = DelayedAckClient(dev, ECHO_HOST, 7)
    client.connect()
    assert m.ppp is not None
    forwarder = m.ppp.forwarder
    (flow,) = forwarder.tcp.values()
    server = _Server(flow, _answers(steps))
    flow.backend = server
    sent = wanted = 0
    for k, (what, n) in enumerate(steps):
        if what == "up":
            client.write(b"u" * int(n))
            sent += int(n)
        elif what == "down":
            wanted += int(n)
            if not k or steps[k - 1][0] != "up":
                server.send(int(n))
        elif what == "push":
            wanted += int(n)
            server.send(int(n))
        elif what == "close":
            server.closes = True
            if not server.answers:
                flow.host_eof()
            client.settle(lambda: client.peer_fin)
            break
        else:
            client.settle(lambda: True, until=m.now + n)
            continue
        last = k + 1 == len(steps)
        if (last and what == "up") or (not last and steps[k + 1][0] in ("down", "close", "push")):
            continue  # the answer comes when the request has all come; the close comes with the last
        client.settle(lambda: server.got >= sent and len(client.data) >= wanted)  # noqa: B023
    client.close()
    client.settle(lambda: client.peer_fin and client.finished() and not forwarder.tcp)
    m.poll(m.now + 1.0)  # delayed ACKs still owed go
    dev.pump()
    return dev, (ctx.bytes_up - up0, ctx.bytes_down - down0)


class _Answering(FakeIO):
    """A real endpoint's stand-in behind a module stack's socket: answers as `_Server` does."""

    def __init__(self, m: object, answers: list[tuple[int, int]]) -> None:
        super().__init__()
        self.m, self.answers, self.got = m, answers, 0
        self.sock: Socket | None = None

    def send(self, sock: Socket, data: bytes) -> None:
        self.sock = sock
        self.got += len(data)
        while self.answers and self.got >= self.answers[0][0]:
            self.download(sock, self.answers.pop(0)[1])

    def download(self, sock: Socket, n: int) -> None:
        while n:
            k = min(READ, n)
            self.m.tcp.received(sock, b"d" * k)  # type: ignore[attr-defined]
            n -= k


def _until(m: VirtualModem, out: bytes, token: bytes) -> None:
    """The modem's time runs to each next event until its output, after `out`, has `token`."""
    while token not in out:
        due = m.next_deadline()
        assert due is not None, out
        out += m.take_output(due)


def _run_until(m: VirtualModem, done: Callable[[], bool]) -> None:
    """The modem's time runs to each next event until `done()`."""
    while not done():
        due = m.next_deadline()
        assert due is not None, "nothing more happens"
        m.take_output(due)


def on_module(steps: list[Step], conditions: str = "full") -> tuple[int, int]:
    """(up, down) billed for `steps` made by a SIMCom stack (quick send) on a radio link of
    `conditions`, then closed by it; as over PPP (`ppp_run`), a step waits for what came before it
    to have arrived, unless it is the answer to it or the close."""
    m, _sink = setup("simcom-sim800", TABLE, net_preset=conditions)
    io = _Answering(m, _answers(steps))
    m.tcp.io = io
    at(m, "AT+CIPQSEND=1")
    at(m, 'AT+CIPSTART="TCP","api.example.com",8080')
    sock = m.tcp.sockets[0]
    ctx = m.net.context(1)
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    m.tcp.connected(sock)  # the endpoint accepts at once
    _until(m, m.take_output(), b"CONNECT OK")
    sent = wanted = 0
    for k, (what, n) in enumerate(steps):
        if what == "up":
            sent += int(n)
            left = int(n)
            while left:
                part = min(MSS, left)  # AT+CIPSEND takes 1,460 bytes at most
                _until(m, at(m, f"AT+CIPSEND={part}"), b"> ")
                m.feed(b"u" * part, m.now)
                left -= part
        elif what == "down":
            wanted += int(n)
            if not k or steps[k - 1][0] != "up":
                io.download(sock, int(n))
        elif what == "push":
            wanted += int(n)
            io.download(sock, int(n))
        elif what == "wait":
            m.take_output(m.now + n)
        elif what == "close":
            m.tcp.remote_closed(sock)  # the module answers the server's FIN with its own at once
            assert m.take_output().endswith(b"CLOSED\r\n")
        last = k + 1 == len(steps)
        if (
            what in ("up", "down", "push")
            and not (last and what == "up")
            and (last or steps[k + 1][0] not in ("down", "close", "push"))
        ):
            _run_until(m, lambda: io.got >= sent and sock.received >= wanted)  # noqa: B023
    if steps[-1][0] != "close":
        m.take_output()
        _until(m, at(m, "AT+CIPCLOSE"), b"CLOSE OK\r\n")
    m.take_output(m.now + 1.0)  # delayed ACKs still owed go
    return ctx.bytes_up - up0, ctx.bytes_down - down0


@pytest.mark.parametrize("name", list(EXCHANGES))
def test_an_exchange_is_billed_alike_over_ppp_and_on_a_module_stack(name: str) -> None:
    steps = EXCHANGES[name]
    ppp_up, ppp_down = over_ppp(steps)
    module = on_module(steps)
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == module
    if name.startswith("upload"):  # the server's ACK every second segment, its FIN carrying the last
        ((_, n),) = steps
        assert module[1] == SYN + HEADER * (segments(int(n)) // 2 + 1)


@pytest.mark.parametrize(
    "name", ["download 10 kB", "download 100 kB", "mqtt loop", "tls handshake", "two echoed pieces"]
)
def test_an_exchange_is_billed_alike_over_a_slow_link(name: str) -> None:
    """Over the `gsm` link (9.6 kbit/s) the server's answers of a full segment or more, and a
    1,460-byte echo, cross slower than its retransmission timeout: the first segment of each burst
    goes twice over PPP (the forwarder's timer, from the handshake's round trip) and on the module
    stack alike (the model's, `accounting.wire`), the device ACKing each repeat at once.  The
    module stack billed none: 1,500 B down and 40 B up less per repeat.  The MQTT exchange's small
    messages are ACKed in time: no repeat on either path."""
    steps = EXCHANGES.get(name) or [("up", MSS), ("down", MSS), ("up", MSS), ("down", MSS)]
    _dev, (ppp_up, ppp_down) = ppp_run(steps, "gsm")
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == on_module(steps, "gsm")


def test_an_answer_slower_to_cross_than_the_retransmission_timeout_is_billed_once() -> None:
    """Over the `gsm` link (9.6 kbit/s, nothing lost) a 10 kB answer takes 8.5 s to cross: the
    forwarder's retransmission timeout, measured on the handshake and the ACKs and doubled on each
    expiry (RFC 6298, as a Linux server's), sends the first segment a second time once (the
    timeout the handshake's small packets gave runs out before that segment's ACK can come back,
    as a server's would), and nothing else again.  It sent the whole window again every second and
    took no ACK of what it had sent before: 50,824 B down."""
    full = over_ppp(EXCHANGES["download 10 kB"])
    dev, (_, down) = ppp_run(EXCHANGES["download 10 kB"], "gsm")
    segments, _ = arrived(dev, 0)
    sent = [t.seq for t in segments if t.data]
    again = [seq for seq in set(sent) if sent.count(seq) > 1]
    assert again == [sent[0]] and sent.count(sent[0]) == 2
    assert down == full[1] + HEADER + MSS  # that one segment more


@pytest.mark.parametrize("name", ["upload 10 kB", "upload 100 kB"])
def test_an_upload_over_a_slow_link_is_billed_alike_each_segment_acked_alone(name: str) -> None:
    """Over the `gsm` link (9.6 kbit/s up) a 1,460-byte segment takes 1.25 s to cross, more than the
    server's delayed ACK: each is ACKed alone when its delay runs out, over PPP (the forwarder's
    timer) and on the module stack alike (the model ticked the server's delayed ACK at the
    device's time, when the DTE typed the next AT+CIPSEND, before that segment had even crossed:
    the pieces were ACKed in pairs as on a fast link, 10 kB 212 B down against 332 over PPP)."""
    steps = EXCHANGES[name]
    _dev, (ppp_up, ppp_down) = ppp_run(steps, "gsm")
    up, down = on_module(steps, "gsm")
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == (up, down)
    ((_, n),) = steps
    assert down == SYN + HEADER * (segments(int(n)) - 1) + HEADER  # the last ACK rides on the FIN


def test_a_download_over_a_slow_link_is_acked_alike_segment_by_segment() -> None:
    """Over the `gsm` link (9.6 kbit/s down) the answer's 1,460-byte segments reach the module
    1.25 s apart, more than its delayed ACK: each but the last is ACKed alone, over PPP (the
    forwarder's packets cross the link one by one) and on the module stack alike (the model took
    the 10 kB answer to arrive whole, ACKed every second segment: 3 ACKs, 120 B up less than over
    PPP).  The server sends the first segment twice on both paths: its timeout, from the handshake's
    round trip, runs out before that segment's ACK is back (above; the model sent it once, 1,500 B
    down less than over PPP), and the device ACKs the repeat at once (40 B up)."""
    steps = EXCHANGES["download 10 kB"]
    _dev, (ppp_up, ppp_down) = ppp_run(steps, "gsm")
    up, down = on_module(steps, "gsm")
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == (up, down)
    # SYN, ACK, the request, an ACK for each segment but the last (its ACK on the FIN), the last ACK,
    # the ACK of the repeat
    assert up == SYN + HEADER + (100 + HEADER) + HEADER * (segments(10_000) - 1) + 2 * HEADER + HEADER
    assert down == SYN + 10_000 + HEADER * segments(10_000) + (MSS + HEADER) + HEADER


def _second_piece_crossing(after: float) -> tuple[VirtualModem, Socket, Context, int, int]:
    """Over the `gsm` link a SIM800 types two 1,460-byte pieces at once; the first reaches the
    server 1.25 s before the second, and the server's ACK of it goes alone 0.2 s after it came.
    The modem `after` seconds past that first piece's arrival, its socket, its context and the
    context's bytes (up, down) before the pieces."""
    m, _sink = setup("simcom-sim800", TABLE, net_preset="gsm")
    m.tcp.io = _Answering(m, [])
    at(m, "AT+CIPQSEND=1")
    at(m, 'AT+CIPSTART="TCP","api.example.com",8080')
    sock = m.tcp.sockets[0]
    ctx = m.net.context(1)
    m.tcp.connected(sock)
    _until(m, m.take_output(), b"CONNECT OK")
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    for _ in range(2):
        _until(m, at(m, f"AT+CIPSEND={MSS}"), b"> ")
        m.feed(b"u" * MSS, m.now)
    while ctx.payload_up < MSS:  # the first piece reaches the network
        due = m.next_deadline()
        assert due is not None
        m.take_output(due)
    assert ctx.payload_up == MSS and ctx.bytes_up - up0 == MSS + HEADER
    m.take_output(m.now + after)
    return m, sock, ctx, up0, down0


@pytest.mark.parametrize("command", ["AT+CIPSHUT", "AT+CGACT=0,1"])
@pytest.mark.parametrize("after", [0.1, 0.3])
def test_a_delayed_ack_due_before_a_context_drop_is_billed(command: str, after: float) -> None:
    """The PDP context ended `after` seconds after the first piece came (`_second_piece_crossing`):
    past the 0.2 s, the ACK left and is billed (it was counted with the second piece, which the
    drop lost: never billed); before them, it never left (AT+CIPSHUT closes the socket first: the
    server's FIN carries it)."""
    m, _sock, ctx, _up0, down0 = _second_piece_crossing(after)
    at(m, command)
    m.take_output(m.now + 5.0)
    assert ctx.payload_up == MSS  # the second piece was lost with the context
    fin = HEADER if command == "AT+CIPSHUT" else 0  # the module's close first: the server's FIN
    assert ctx.bytes_down - down0 == (HEADER if after > ACK_DELAY_S else 0) + fin


@pytest.mark.parametrize("after", [0.1, 0.3])
def test_a_delayed_ack_the_servers_fin_carries_is_not_billed_alone_too(after: float) -> None:
    """The server closes `after` seconds after the first piece came (`_second_piece_crossing`).
    Within the 0.2 s ACK delay its FIN carries the ACK of that piece: its FIN, the module's FIN and
    ACK, its last ACK (80 B down), no ACK alone; past it, the ACK had left alone first (40 B more)."""
    m, sock, ctx, _up0, down0 = _second_piece_crossing(after)
    m.tcp.remote_closed(sock)
    m.take_output(m.now + 5.0)
    assert ctx.active
    assert ctx.bytes_down - down0 == 2 * HEADER + (HEADER if after > ACK_DELAY_S else 0)


def test_the_echos_answer_carries_its_delayed_ack_of_the_piece() -> None:
    """Two 1,460-byte pieces typed at once over `gsm` to the echo: it answers each piece as it comes,
    its answer carrying the ACK of it (1,500 B down each, nothing alone); the ACK was billed alone
    too, 40 B more.  The first answer's own ACK, delayed (the module has nothing to send), is not
    back within the server's timeout: that answer goes twice (`accounting.wire`, RFC 6298)."""
    m, _sink = setup("simcom-sim800", "hosts:\n  demo.example.com: echo\n", net_preset="gsm")
    at(m, "AT+CIPQSEND=1")
    _until(m, at(m, 'AT+CIPSTART="TCP","demo.example.com",7'), b"CONNECT OK")
    ctx = m.net.context(1)
    down0 = ctx.bytes_down
    for _ in range(2):
        _until(m, at(m, f"AT+CIPSEND={MSS}"), b"> ")
        m.feed(b"u" * MSS, m.now)
    m.take_output(m.now + 20.0)
    assert ctx.payload_down == 2 * MSS
    assert ctx.bytes_down - down0 == 2 * (MSS + HEADER) + (MSS + HEADER)


def _connected(conditions: str) -> tuple[VirtualModem, Socket, Context]:
    """A SIM800 on a radio link of `conditions` connected to a server that sends only when told:
    the modem, its socket and its context."""
    m, _sink = setup("simcom-sim800", TABLE, net_preset=conditions)
    m.tcp.io = _Answering(m, [])
    at(m, 'AT+CIPSTART="TCP","api.example.com",8080')
    sock = m.tcp.sockets[0]
    ctx = m.net.context(1)
    m.tcp.connected(sock)
    _until(m, m.take_output(), b"CONNECT OK")
    return m, sock, ctx


def _second_chunk_crossing() -> tuple[VirtualModem, Socket, Context, int]:
    """Over the `gsm` link a server sends two 1,460-byte chunks at once to a SIM800; the first
    reaches the module 1.25 s before the second, and the module's ACK of it is due 0.2 s after it
    came.  The modem at that first chunk's arrival, its socket, its context and the context's
    bytes up before the chunks."""
    m, sock, ctx = _connected("gsm")
    up0 = ctx.bytes_up
    for _ in range(2):
        m.tcp.received(sock, b"d" * MSS)
    assert ctx.bytes_up == up0  # nothing has reached the module: it has sent no ACK
    while sock.received < MSS:  # the first chunk reaches the module
        due = m.next_deadline()
        assert due is not None
        m.take_output(due)
    return m, sock, ctx, up0


@pytest.mark.parametrize("after", [0.1, 0.3])
def test_the_modules_delayed_ack_is_billed_when_due_only_while_the_context_is_up(after: float) -> None:
    """The PDP context ends `after` seconds after the first chunk came (`_second_chunk_crossing`):
    past the 0.2 s, the module's ACK of it left and is billed; before them it never left.  It was
    billed when the server sent the second chunk, before the first had even reached the module."""
    m, _sock, ctx, up0 = _second_chunk_crossing()
    m.take_output(m.now + after)
    assert ctx.bytes_up - up0 == (HEADER if after > ACK_DELAY_S else 0)
    at(m, "AT+CGACT=0,1")
    m.take_output(m.now + 5.0)
    assert ctx.bytes_up - up0 == (HEADER if after > ACK_DELAY_S else 0)


def test_the_modules_delayed_ack_its_data_carries_is_not_billed_alone_too() -> None:
    """The module sends within the 0.2 s after the first chunk came: its data carries the ACK,
    nothing goes alone for it."""
    m, sock, ctx, up0 = _second_chunk_crossing()
    m.tcp.send(sock, b"u" * 10)
    m.take_output(m.now + 1.0)
    assert ctx.bytes_up - up0 == 10 + HEADER


def test_data_the_server_sends_before_a_piece_arrives_does_not_carry_its_ack() -> None:
    """Over the `gsm` link the device sends a 1,460-byte piece, 1.25 s on the uplink, and the server
    sends 100 B at once, while it crosses: that segment leaves before the piece has come and
    carries no ACK of it; the piece's ACK goes alone 0.2 s after it came, over PPP and on the module
    stack alike.  The model took the ACK as owed from the piece's send and the server's segment
    as carrying it: no ACK, 40 B down less than over PPP."""
    steps: list[Step] = [("up", MSS), ("push", 100), ("wait", 1.0)]  # the device closes 1 s later
    _dev, (ppp_up, ppp_down) = ppp_run(steps, "gsm")
    up, down = on_module(steps, "gsm")
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == (up, down)
    # SYN-ACK, the 100 B, the piece's ACK alone, the server's FIN answering the device's
    assert down == SYN + (100 + HEADER) + HEADER + HEADER


@pytest.mark.parametrize("after", [0.05, 0.3])
def test_the_modules_delayed_ack_is_billed_when_the_server_closes_while_its_data_crosses(
    after: float,
) -> None:
    """The server closes `after` seconds after its first chunk came (`_second_chunk_crossing`),
    the second still crossing the downlink: its FIN comes after that chunk, so the module's FIN
    answering it leaves after the ACK of the first chunk was due, and that ACK goes alone either
    way: 40 B up, then the module's FIN (carrying the second chunk's ACK).  Within the ACK's delay
    the module's FIN was taken as leaving at the server's close, before the ACK was due and as
    carrying it: never billed, 40 B up less.  The first chunk's ACK is not back within the server's
    timeout: the server sends it again, and the module ACKs the repeat at once (40 B up more)."""
    m, sock, ctx, up0 = _second_chunk_crossing()
    m.take_output(m.now + after)
    m.tcp.remote_closed(sock)
    m.take_output(m.now + 10.0)
    assert sock.received == 2 * MSS
    # the first chunk's ACK alone, the module's FIN, its ACK of the repeat
    assert ctx.bytes_up - up0 == HEADER + HEADER + HEADER


def test_a_segment_that_leaves_before_some_data_came_acknowledges_what_had_come() -> None:
    """The device sends 400 B, 400 B and 1,000 B, each before the last has reached the server; the
    server echoes each piece the moment it comes, its echo carrying the ACK of what has come by
    then: of the first piece alone, the second still crossing.  When the third comes, 1,400 B are
    unacknowledged, under one full segment: no ACK at once, the third echo carries it; nothing
    goes alone down.  The first echo was taken to acknowledge nothing, the first piece's 400 B still
    counted as owed: 1,800 B, an ACK at once, 40 B down more."""
    wire = TcpWire()
    wire.send(DEVICE, 400, 0.0, 0.5)
    wire.send(DEVICE, 400, 0.1, 0.6)
    wire.send(SERVER, 400, 0.5, 1.0)
    wire.send(DEVICE, 1000, 0.55, 0.7)
    wire.send(SERVER, 400, 0.6, 1.1)
    wire.send(SERVER, 1000, 0.7, 1.7)
    wire.tick(math.inf)
    assert wire.down == 400 + 400 + 1000 + 3 * HEADER


@pytest.mark.parametrize("drop", [False, True])
def test_the_modules_prompt_acks_are_billed_as_the_data_comes_only_while_the_context_is_up(
    drop: bool,
) -> None:
    """Over `lte-m` (300 kbit/s down) a server's 64 KiB read takes about 1.7 s to reach a SIM800,
    its 45 segments 40 ms apart: the module ACKs every second one at once as it comes (22 ACKs up),
    the last alone when its delay runs out.  The PDP context ending as the read leaves
    (AT+CGACT=0), nothing has come and no ACK leaves; the 22 were billed as the server sent, 880 B
    up for segments the module never had."""
    m, sock, ctx = _connected("lte-m")
    up0 = ctx.bytes_up
    m.tcp.received(sock, b"d" * READ)
    if drop:
        at(m, "AT+CGACT=0,1")
    m.take_output(m.now + 10.0)
    assert ctx.bytes_up - up0 == (0 if drop else HEADER * (segments(READ) // 2 + 1))


def test_a_modules_own_large_message_crosses_a_slow_link_segment_by_segment() -> None:
    """A module's 10 kB message handed to its stack at once (an MQTT publish, an HTTP body, a TLS
    record: more than an AT command's 1,460-byte piece) over the `gsm` link's 9.6 kbit/s uplink
    reaches the server segment by segment, 1.25 s apart, each ACKed alone when its delay runs out,
    as the same upload over PPP is (the server's messages cross the downlink so too).  It was taken
    to arrive whole and ACKed every second segment: 3 ACKs down where PPP bills 6, 120 B less."""
    _dev, (ppp_up, ppp_down) = ppp_run([("up", 10_000)], "gsm")
    m, sock, ctx = _connected("gsm")
    up0, down0 = ctx.bytes_up - HANDSHAKE_UP, ctx.bytes_down - HANDSHAKE_DOWN
    m.tcp.send(sock, b"u" * 10_000)
    _until(m, at(m, "AT+CIPCLOSE"), b"CLOSE OK\r\n")  # its FIN on the last segment, as over PPP
    m.take_output(m.now + 1.0)
    assert ctx.payload_up == 10_000
    billed = (ctx.bytes_up - up0, ctx.bytes_down - down0)
    assert (ppp_up + SYN_OPTIONS_NOT_SENT, ppp_down + SYN_OPTIONS_NOT_SENT) == billed
    # the server's ACK of each segment but the last (its ACK on the FIN), its SYN-ACK and FIN
    assert billed[1] == SYN + HEADER * (segments(10_000) - 1) + HEADER


def test_a_segment_lost_on_the_air_is_sent_again_but_not_acked_twice() -> None:
    """A server's 100 B answer lost once on the downlink (every packet lost once: it comes 1 s
    late, after the link's own retransmission timeout) outlasts the server's timeout (1 s, from a
    handshake that took no time): the server sends it again, billed (140 B down more), and that
    repeat is the first copy to reach the module, which ACKs it once, delayed, as any new data.
    The model took the repeat as a duplicate of what the module had and billed its ACK at once
    too, 40 B up more than a device's stack sends (the PPP bearer over a lossy `gprs` link bills
    no such ACK)."""
    m, sock, ctx = _connected("full")
    m.link.down.configure(None, (0.2, 0.2), 1.0)  # every packet lost once, then comes 1 s late
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    io = m.tcp.io
    assert isinstance(io, _Answering)
    io.download(sock, 100)
    m.take_output(m.now + 5.0)
    assert sock.received == 100
    assert (ctx.bytes_up - up0, ctx.bytes_down - down0) == (HEADER, 2 * (100 + HEADER))
