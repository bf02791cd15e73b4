"""One report's bytes on the wire through the modules' stacks: the measured exchanges of one report
(MQTT connect + publish + disconnect at QoS 0 and 1, an HTTP/1.1 POST with the connection closed;
53-byte JSON, IPv4, both directions) are billed their measured packets and bytes, the same as the
simulator's profiles bill them (`gateway.wire`, the one model of both).

The device side is AT commands and real MQTT / HTTP messages; the server is an in-process stand-in
on the stack's real-socket path (`SocketIO`), answering when it is told, so the timing is exact:
no host's clock decides which ACK rides on which segment."""

from __future__ import annotations

import json
import math

import mqtt_packets as mq
import numpy as np
import pytest

from accounting.records import UsageType
from gateway.wire import (
    ACK_DELAY_S,
    DEVICE,
    HEADER,
    MSS,
    SERVER,
    SYN,
    TcpWire,
    icmp_error_size,
    play,
    refused,
    syns,
    unanswered,
    unreachable,
)
from modem.virtual.core import VirtualModem
from modem.virtual.sockets import Socket
from simulator.profiles import builtin_profiles
from tests.modem.test_virtual_sockets import FakeIO, at, setup, typed

# Field notes, "Bytes on the wire per report": (packets, bytes) measured
MEASURED = {"mqtt-qos0": (9, 494), "mqtt-qos1": (10, 540), "http": (12, 810)}

TABLE = 'hosts:\n  broker.example.com: "127.0.0.1:1883"\n  api.example.com: "127.0.0.1:8080"\n'
PAYLOAD = json.dumps({"id": "meter-0001", "ts": 1772438400, "kwh": 1234.5}, separators=(",", ":"))
REPORT = PAYLOAD.encode().ljust(53)  # the measured report: 53 bytes of JSON
TOPIC = "meters/meter-0001/index"  # 23 characters


class Broker(FakeIO):
    """An MQTT 3.1.1 broker's answers at once: CONNACK to CONNECT, PUBACK to a QoS 1 PUBLISH."""

    def __init__(self, modem: VirtualModem) -> None:
        super().__init__()
        self.modem = modem
        self.pending = bytearray()

    def send(self, sock: Socket, data: bytes) -> None:
        super().send(sock, data)
        self.pending += data
        for packet in mq.split(self.pending):
            if packet.kind == 1:  # CONNECT
                self.modem.tcp.received(sock, b"\x20\x02\x00\x00")
            elif packet.kind == mq.PUBLISH and (packet.flags >> 1) & 3:
                self.modem.tcp.received(sock, mq.puback(packet.published()[2]))


class Stack:
    """The DTE's side of one connection on a SIMCom (CIPSTART, CIPHEAD=1, quick send: its DATA
    ACCEPT comes at once, as Quectel's SEND OK) or Quectel (QIOPEN, push mode) stack; it answers
    what comes at the moment it comes."""

    def __init__(self, m: VirtualModem, profile: str, host: str, port: int) -> None:
        self.m = m
        self.out = b""
        self.simcom = profile.startswith("simcom")
        if self.simcom:
            at(m, "AT+CIPHEAD=1")
            at(m, "AT+CIPQSEND=1")
            at(m, f'AT+CIPSTART="TCP","{host}",{port}')
        else:
            at(m, f'AT+QIOPEN=1,0,"TCP","{host}",{port},0,1')
        self.sock = m.tcp.sockets[0]
        m.tcp.connected(self.sock)  # the real endpoint accepts at once
        self.wait(b"CONNECT OK\r\n" if self.simcom else b"+QIOPEN: 0,0\r\n")

    def wait(self, token: bytes) -> bytes:
        """The modem's output up to `token`, simulated time running to each next event till then."""
        self.out += self.m.take_output()
        while token not in self.out:
            due = self.m.next_deadline()
            assert due is not None, self.out
            self.out += self.m.take_output(due)
        head, _, self.out = self.out.partition(token)
        return head + token

    def send(self, data: bytes) -> None:
        self.out += at(self.m, f"AT+CIPSEND={len(data)}" if self.simcom else f"AT+QISEND=0,{len(data)}")
        assert self.out.endswith(b"\r\n> ")
        self.out = self.out[: -len(b"\r\n> ")]
        self.m.feed(data, self.m.now)
        self.out += self.m.take_output()
        sent = f"\r\nDATA ACCEPT:{len(data)}\r\n".encode() if self.simcom else b"\r\nSEND OK\r\n"
        assert sent in self.out
        self.out = self.out.replace(sent, b"", 1)

    def receive(self, data: bytes) -> None:
        self.wait(data)

    def close(self) -> None:
        out = at(self.m, "AT+CIPCLOSE" if self.simcom else "AT+QICLOSE=0")
        out += self.m.take_output(self.m.now + 10.0)  # what is still on the uplink arrives
        assert out.endswith(b"CLOSE OK\r\n" if self.simcom else b"OK\r\n")  # SIMCom's slow close waits
        at(self.m, "AT+CIPSHUT" if self.simcom else "AT+QIDEACT=1")


def billed(m: VirtualModem, sink: object) -> tuple[int, int]:
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]  # type: ignore[attr-defined]
    ctx = m.net.context(1)
    assert (rec.bytes_up, rec.bytes_down) == (ctx.bytes_up, ctx.bytes_down)
    return rec.bytes_up, rec.bytes_down


def mqtt_report(profile: str, conditions: str, qos: int) -> tuple[tuple[int, int], TcpWire]:
    m, sink = setup(profile, TABLE, net_preset=conditions)
    m.tcp.io = Broker(m)
    dte = Stack(m, profile, "broker.example.com", 1883)
    connect = mq.connect("meter-0001")
    publish = mq.publish(TOPIC, REPORT, qos=qos, packet_id=1 if qos else 0)
    assert (len(connect), len(publish)) == (24, 80 + 2 * qos)  # the profile's messages
    dte.send(connect)
    dte.receive(b"\x20\x02\x00\x00")
    dte.send(publish)
    if qos:
        dte.receive(mq.puback(1))
    dte.send(mq.disconnect())
    dte.close()  # at once: the FIN goes with the DISCONNECT
    return billed(m, sink), dte.sock.wire


@pytest.mark.parametrize("conditions", ["full", "gprs"])
@pytest.mark.parametrize("profile", ["simcom-sim800", "quectel-bg96"])
@pytest.mark.parametrize("qos", [0, 1])
def test_an_mqtt_report_costs_its_measured_bytes_on_either_path(
    profile: str, conditions: str, qos: int
) -> None:
    (up, down), wire = mqtt_report(profile, conditions, qos)
    name = f"mqtt-qos{qos}"
    assert (wire.packets, up + down) == MEASURED[name]
    report = builtin_profiles()[name].report
    assert (up, down, wire.packets) == (report.up, report.down, report.packets)  # the simulator's
    # SYN, ACK, CONNECT, PUBLISH (carrying the ACK of the CONNACK), DISCONNECT with the FIN, the
    # last ACK up; SYN-ACK, CONNACK (carrying the ACK of the CONNECT), [PUBACK,] the broker's FIN down
    assert up == SYN + HEADER + (24 + HEADER) + (80 + 2 * qos + HEADER) + (2 + HEADER) + HEADER
    assert down == SYN + (4 + HEADER) + qos * (4 + HEADER) + HEADER


def http_request() -> tuple[bytes, bytes, bytes]:
    """A POST of the report (183 B: 130 of request line and headers) and its answer in two
    segments, the status line and headers (106 B) and the body (17 B)."""
    head = (
        "POST /v1/index HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: meter/1.0\r\n"
        "Content-Type: application/json\r\nContent-Length: 53\r\n\r\n"
    )
    head = head.replace("meter/1.0", "meter/1.0" + "." * (130 - len(head)))
    body = b'{"accepted":true}'
    answer = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n"
    )
    answer = answer.replace("200 OK", "200 OK" + " " * (106 - len(answer)))
    return head.encode() + REPORT, answer.encode(), body


@pytest.mark.parametrize("conditions", ["full", "gprs"])
@pytest.mark.parametrize("profile", ["simcom-sim800", "quectel-bg96"])
def test_an_http_post_costs_its_measured_bytes_on_either_path(profile: str, conditions: str) -> None:
    """The server answers after the ACK delay, in two segments a delay apart, and the device closes
    a delay after the answer: every ACK goes alone, the 12 packets measured."""
    request, head, body = http_request()
    assert (len(request), len(head), len(body)) == (183, 106, 17)  # the profile's messages
    m, sink = setup(profile, TABLE, net_preset=conditions)
    m.tcp.io = FakeIO()
    dte = Stack(m, profile, "api.example.com", 8080)
    dte.send(request)
    pause = ACK_DELAY_S + 0.1
    m.take_output(m.now + 10.0)  # the request reaches the server (and its ACK comes back alone)
    m.tcp.received(dte.sock, head)
    dte.receive(head)
    m.take_output(m.now + pause)
    m.tcp.received(dte.sock, body)
    dte.receive(body)
    m.take_output(m.now + pause)
    dte.close()
    up, down = billed(m, sink)
    assert (dte.sock.wire.packets, up + down) == MEASURED["http"]
    report = builtin_profiles()["http"].report
    assert (up, down, dte.sock.wire.packets) == (report.up, report.down, report.packets)
    # up: SYN, ACK, POST, the ACKs of the two segments, FIN, the last ACK; down: SYN-ACK, the ACK of
    # the POST, the two segments, the server's FIN
    assert up == SYN + HEADER + (183 + HEADER) + 2 * HEADER + 2 * HEADER
    assert down == SYN + HEADER + (106 + HEADER) + (17 + HEADER) + HEADER


def test_a_quick_answer_carries_the_ack_and_a_late_one_does_not() -> None:
    """The delayed ACK: an answer within 0.2 s carries it; after, the ACK has gone alone."""
    quick = play([("open", 0, 0.0), ("up", 10, 0.0), ("down", 4, 0.1)])
    late = play([("open", 0, 0.0), ("up", 10, 0.0), ("down", 4, 0.3)])
    assert late.down - quick.down == HEADER and late.packets - quick.packets == 1
    # every second segment of a long message is ACKed at once: 3 segments, one ACK at once and one
    # delayed; the last ACK goes alone here, nothing answering
    bulk = play([("up", 3000, 0.0)])
    assert (bulk.up, bulk.down, bulk.packets) == (3000 + 3 * HEADER, 2 * HEADER, 5)


def test_back_to_back_messages_are_acked_every_second_full_segment_as_one_message_is() -> None:
    """The receiver ACKs at once once more than a full segment is unacknowledged, whichever message
    the segments came in (Linux's rule, lwIP's every second segment): an upload made of 1,460-byte
    sends (AT+CIPSEND's largest) is ACKed every second segment, as the same bytes sent at once are.
    The ACK was counted per message: such an upload got no ACK but the delayed one of its last
    segment, 1 MB billed 92 B down where the server's stack sends 13,772 B.  Small messages back to
    back still share one delayed ACK (MQTT's PUBLISH and DISCONNECT: the measured 9 packets)."""
    whole = play([("up", 10_000, 0.0)])
    sends = play([("up", MSS, 0.0)] * 6 + [("up", 10_000 - 6 * MSS, 0.0)])
    assert (sends.up, sends.down, sends.packets) == (whole.up, whole.down, whole.packets)
    assert whole.down == 4 * HEADER  # after the 2nd, 4th and 6th segments; the 7th's delayed
    assert play([("up", MSS, 0.0), ("up", 1, 0.0)]).down == HEADER  # past one MSS: at once
    assert play([("up", 80, 0.0), ("up", 2, 0.0)]).down == HEADER  # one delayed ACK for both
    late = play([("up", MSS, 0.0), ("up", MSS, 0.5)])  # the first ACK went alone before the second
    assert late.down == 2 * HEADER
    wire = TcpWire()
    wire.send(DEVICE, 1000, 0.0)
    assert wire.send(DEVICE, 1000, 0.0) == (1040, HEADER)  # 2,000 B unacknowledged: ACKed at once
    assert not wire.owes(SERVER)


def test_persistent_mqtt_figures_come_from_the_same_model() -> None:
    """A QoS 1 publish on an open connection 206 B and a keep-alive cycle 124 B (measured): the
    simulator's figures, played on the model."""
    for name in ("mqtt-qos0", "mqtt-qos1"):
        prof = builtin_profiles()[name]
        assert prof.ping is not None and prof.publish is not None and prof.connect is not None
        assert (prof.ping.up, prof.ping.down, prof.ping.packets) == (2 * HEADER + 2, HEADER + 2, 3)
        # the handshake, CONNECT, CONNACK, and the device's delayed ACK of the CONNACK
        assert prof.connect.up + prof.connect.down == 2 * SYN + 4 * HEADER + 24 + 4
    qos1 = builtin_profiles()["mqtt-qos1"].publish
    assert qos1 is not None and qos1.up + qos1.down == 206


def test_a_failed_connect_sends_its_syn_again_on_the_retransmission_timer() -> None:
    """One model for a connect that fails, the simulator's and the virtual modem's: the SYN sent
    again 1 s after the first, each wait twice the one before (RFC 6298 5.5), 6 retransmissions at
    most (Linux's tcp_syn_retries), until the connect gives up; a reset ends it at once.  The
    simulator billed a 60-byte SYN three times, the virtual modem one 52-byte SYN."""
    retransmissions = [1.0, 3.0, 7.0, 15.0, 31.0, 63.0]
    for elapsed in (0.0, 0.5, 1.0, 1.5, 14.9, 15.0, 15.1, 62.0, 75.0, 127.0, 1000.0):
        assert syns(elapsed) == 1 + sum(t < elapsed for t in retransmissions), elapsed
    got = syns(np.array([0.0, 1.5, 15.0, 75.0, 1000.0]))
    assert got.tolist() == [syns(e) for e in (0.0, 1.5, 15.0, 75.0, 1000.0)]
    assert unanswered(75.0) == (7 * SYN, 0)  # SIMCom's 75 s: every retransmission Linux would send
    assert unanswered(15.0) == (4 * SYN, 0)  # a 15 s application timeout: 0, 1, 3, 7 s
    assert refused() == (SYN, HEADER)  # the reset answers the first SYN
    assert refused(2.0) == (2 * SYN, HEADER)  # ... or a retransmission


def test_an_icmp_error_quotes_as_much_of_the_datagram_as_fits_in_576_octets() -> None:
    """Measured on Linux 6.18 (a UDP datagram to a closed port across a veth pair, and one with
    Don't Fragment through a router whose next hop has a smaller MTU): the "port unreachable",
    "host unreachable" or "fragmentation needed" is 28 octets (IPv4 20, ICMP 8) more than the
    datagram it answers, 576 at most (RFC 1812 4.3.2.3).  Every path billed 56 (RFC 792's
    minimum quote: the IP header and 8 octets) whatever the datagram."""
    measured = {28: 56, 35: 63, 36: 64, 60: 88, 200: 228, 548: 576, 576: 576, 577: 576, 1000: 576, 1400: 576}
    for datagram, error in measured.items():
        assert icmp_error_size(datagram) == error, datagram
    sizes = np.array(list(measured), dtype=np.int64)
    assert icmp_error_size(sizes).tolist() == list(measured.values())
    # a connect the network answers "unreachable": the SYN (52 octets) up, the error quoting it down
    assert unreachable() == (SYN, 20 + 8 + SYN) == (52, 80)
    assert unreachable(2.0) == (2 * SYN, 80)  # answered at the first retransmission


def test_simcom_normal_mode_says_send_ok_once_the_server_has_acknowledged_the_data() -> None:
    """SIM800 manual §8.2.4: in normal mode (AT+CIPQSEND=0) "when the server receives TCP data, it
    will response SEND OK"; in quick send mode DATA ACCEPT comes when the module has the data.  The
    module said SEND OK at once in either mode, before the server had the data.  Now: SEND OK when
    the server's ACK is back, on its answer (a CONNACK at once) or alone after its delayed ACK
    (a QoS 0 PUBLISH nobody answers); input waits meanwhile, as for any running command."""
    m, _ = setup("simcom-sim800", TABLE)
    m.tcp.io = Broker(m)
    at(m, "AT+CIPHEAD=1")
    at(m, 'AT+CIPSTART="TCP","broker.example.com",1883')
    m.tcp.connected(m.tcp.sockets[0])
    assert m.take_output() == b"\r\nCONNECT OK\r\n"
    t0 = m.now
    # the CONNACK carries the ACK of the CONNECT: SEND OK with it
    connack = b"\r\n+IPD,4:\x20\x02\x00\x00"
    assert typed(m, "AT+CIPSEND=24", mq.connect("meter-0001")) == connack + b"\r\nSEND OK\r\n"
    publish = mq.publish(TOPIC, REPORT, qos=0)
    assert typed(m, f"AT+CIPSEND={len(publish)}", publish) == b""  # nothing answers it: the ACK waits
    m.feed(b"AT+CIPQSEND=1\r", m.now)  # waits behind the running send
    assert m.take_output(t0 + ACK_DELAY_S - 1e-6) == b""
    assert m.take_output(t0 + ACK_DELAY_S) == b"\r\nSEND OK\r\n\r\nOK\r\n"  # the delayed ACK, alone
    assert m.net.context(1).bytes_down == SYN + (4 + HEADER) + HEADER
    disconnect = mq.disconnect()
    assert typed(m, "AT+CIPSEND=2", disconnect) == b"\r\nDATA ACCEPT:2\r\n"  # quick send: at once
    assert m.now == t0 + ACK_DELAY_S


def test_the_servers_timer_stops_on_a_devices_segment_that_acks_while_more_crosses() -> None:
    """Over a slow link the server sends two small messages back to back (100 B each, there at
    0.75 s and 0.9 s); the device's 50 B, leaving at 0.8 s between them, carry the first one's ACK,
    back at the server by 0.9 s, within its timeout (1 s, from a 0.2 s handshake): nothing is sent
    again.  That segment, with more of the server's data still crossing to it, was not taken as
    acknowledging the first: the second's delayed ACK, alone at 1.1 s, was, too late, and a repeat
    was billed, 140 B down and 40 B up more than the server sends."""
    wire = TcpWire()
    wire.open(rtt=0.2)
    wire.send(SERVER, 100, 0.0, 0.75)
    wire.send(SERVER, 100, 0.05, 0.9)
    wire.send(DEVICE, 50, 0.8, 0.85)
    wire.tick(math.inf)
    # the 50 B, the second message's ACK alone at 1.1 s
    assert wire.up == SYN + HEADER + (50 + HEADER) + HEADER
    # the two messages, the server's ACK of the 50 B alone
    assert wire.down == SYN + 2 * (100 + HEADER) + HEADER
