"""A persistent MQTT session (clean session 0, MQTT 3.1.1 §3.1.2.4, §4.4) across its connections, on
Quectel's client (AT+QMTCFG="session",<idx>,0) and SIMCom's (AT+SMCONF="CLEANSS",0, the default):
what was in flight when the connection ended is sent again on the next one, its packet ids as
they were, and a QoS 2 message received before is not handed on twice."""

from __future__ import annotations

from modem.virtual import mqtt
from modem.virtual.cmd_qmqtt import MQTT_SID
from modem.virtual.cmd_smqtt import MQTT_SID as SM_SID
from modem.virtual.core import VirtualModem
from modem.virtual.sockets import Socket
from tests.modem.test_virtual_qmqtt import OK, run_until
from tests.modem.test_virtual_smqtt import app_network
from tests.modem.test_virtual_sockets import FakeIO, at, later, setup, typed
from tests.modem.test_virtual_wire import TABLE as WIRE_TABLE


class SessionBroker(FakeIO):
    """A broker that answers each CONNECT with a CONNACK, session present when the client asks for a
    persistent session it already had, and nothing else unless the test says so; `heard`: the
    packets the module sent (kind, flags, the rest)."""

    def __init__(self, modem: VirtualModem) -> None:
        super().__init__()
        self.modem = modem
        self.reader = mqtt.Reader()
        self.heard: list[mqtt.Packet] = []
        self.sessions: set[bytes] = set()  # the client ids whose persistent session it keeps

    def connect(self, sock: Socket, host: str, port: int) -> None:
        super().connect(sock, host, port)
        self.reader = mqtt.Reader()  # a new connection

    def send(self, sock: Socket, data: bytes) -> None:
        super().send(sock, data)
        for packet in self.reader.feed(data):
            self.heard.append(packet)
            if packet.kind == mqtt.CONNECT:  # §3.1.2: "MQTT", level, flags, keep-alive, client id
                clean = bool(packet.body[7] & 0x02)
                n = int.from_bytes(packet.body[10:12], "big")
                client_id = packet.body[12 : 12 + n]
                present = not clean and client_id in self.sessions
                (self.sessions.add if not clean else self.sessions.discard)(client_id)
                self.modem.tcp.received(sock, bytes([0x20, 2, int(present), 0]))

    def since(self, start: int) -> list[tuple[int, int, int]]:
        """What the module sent since packet `start`: (kind, DUP flag, packet id or 0)."""
        out = []
        for p in self.heard[start:]:
            if p.kind == mqtt.PUBLISH:
                out.append((p.kind, p.flags & 0x08, p.published()[2]))
            elif p.kind in (mqtt.PUBREL, mqtt.PUBACK, mqtt.PUBREC, mqtt.PUBCOMP):
                out.append((p.kind, 0, p.pid()))
            else:
                out.append((p.kind, 0, 0))
        return out


def _qmt_connect(m: VirtualModem) -> Socket:
    """Client 0 opened and connected to the stub broker; its socket."""
    assert at(m, 'AT+QMTOPEN=0,"broker.example.com",1883') == OK
    sock = m.tcp.sockets[MQTT_SID]
    m.tcp.connected(sock)
    run_until(m, b"+QMTOPEN: 0,0\r\n")
    assert at(m, 'AT+QMTCONN=0,"meter-0001"') == OK
    assert run_until(m, b"+QMTCONN: 0,0,0\r\n") == b"\r\n+QMTCONN: 0,0,0\r\n"
    return sock


def _quectel(session: int) -> tuple[VirtualModem, SessionBroker, Socket]:
    m, _ = setup("quectel-bg96", WIRE_TABLE)
    broker = SessionBroker(m)
    m.tcp.io = broker
    assert at(m, f'AT+QMTCFG="session",0,{session};+QMTCFG="timeout",0,5,0') == OK
    return m, broker, _qmt_connect(m)


def _broken(m: VirtualModem, sock: Socket) -> None:
    """The broker (or the network) ends the connection."""
    m.tcp.remote_closed(sock)
    assert run_until(m, b"+QMTSTAT: 0,1\r\n").endswith(b"\r\n+QMTSTAT: 0,1\r\n")


def test_quectel_messages_in_flight_are_sent_again_on_the_next_connection() -> None:
    """A QoS 1 PUBLISH not acknowledged, a QoS 2 one past its PUBREC (its PUBREL sent, no PUBCOMP):
    the connection ends; the next CONNACK says the session is there: the PUBLISH again with DUP
    and its id, the PUBREL again, and their acknowledgements told as +QMTPUB (before: lost, never
    told)."""
    m, broker, sock = _quectel(session=0)
    assert typed(m, 'AT+QMTPUB=0,7,1,0,"meters/up",2', b"42") == OK
    assert typed(m, 'AT+QMTPUB=0,8,2,0,"meters/up",2', b"43") == OK
    later(m, 0.1)
    m.tcp.received(sock, mqtt.ack(mqtt.PUBREC, 8))
    assert later(m, 0.1) == b""
    assert broker.since(1) == [(mqtt.PUBLISH, 0, 7), (mqtt.PUBLISH, 0, 8), (mqtt.PUBREL, 0, 8)]
    _broken(m, sock)

    start = len(broker.heard)
    sock = _qmt_connect(m)
    later(m, 0.1)
    assert broker.since(start) == [(mqtt.CONNECT, 0, 0), (mqtt.PUBLISH, 0x08, 7), (mqtt.PUBREL, 0, 8)]
    m.tcp.received(sock, mqtt.ack(mqtt.PUBACK, 7))
    m.tcp.received(sock, mqtt.ack(mqtt.PUBCOMP, 8))
    assert later(m, 0.1) == b"\r\n+QMTPUB: 0,7,0\r\n\r\n+QMTPUB: 0,8,0\r\n"


def test_quectel_a_qos_2_message_sent_again_after_a_reconnect_is_told_once() -> None:
    """The broker's QoS 2 PUBLISH handed on and answered PUBREC, then the connection ends before its
    PUBREL: on the next connection the broker sends it again (DUP, the same id, §4.4): acknowledged
    again, not told twice (before: told twice: the id was forgotten with the connection)."""
    m, broker, sock = _quectel(session=0)
    m.tcp.received(sock, mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9))
    assert later(m, 0.1) == b'\r\n+QMTRECV: 0,9,"meters/cmd","reboot"\r\n'
    _broken(m, sock)
    start = len(broker.heard)
    sock = _qmt_connect(m)
    m.tcp.received(sock, mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9, dup=True))
    assert later(m, 0.1) == b""
    m.tcp.received(sock, mqtt.ack(mqtt.PUBREL, 9))
    assert later(m, 0.1) == b""
    assert broker.since(start) == [(mqtt.CONNECT, 0, 0), (mqtt.PUBREC, 0, 9), (mqtt.PUBCOMP, 0, 9)]


def test_quectel_a_clean_session_sends_nothing_again() -> None:
    """Clean session 1 (the default): a new connection starts from nothing (§3.1.2.4)."""
    m, broker, sock = _quectel(session=1)
    assert typed(m, 'AT+QMTPUB=0,7,1,0,"meters/up",2', b"42") == OK
    later(m, 0.1)
    _broken(m, sock)
    start = len(broker.heard)
    _qmt_connect(m)
    assert later(m, 1.0) == b"" and broker.since(start) == [(mqtt.CONNECT, 0, 0)]


def test_simcom_a_publish_in_flight_is_sent_again_when_smconn_connects_again() -> None:
    """CLEANSS 0 (the default): AT+SMPUB's QoS 1 message unacknowledged when the connection ends
    (its command answered ERROR) is sent again, DUP and its id, after the next AT+SMCONN's CONNACK;
    its PUBACK then answers no command."""
    m = app_network(WIRE_TABLE)
    broker = SessionBroker(m)
    m.tcp.io = broker
    assert at(m, 'AT+SMCONF="URL","broker.example.com",1883;+SMCONF="CLIENTID","meter-0001"') == OK

    def smconn() -> Socket:
        assert at(m, "AT+SMCONN") == b""
        sock = m.tcp.sockets[SM_SID]
        m.tcp.connected(sock)
        assert run_until(m, OK) == OK
        return sock

    sock = smconn()
    assert typed(m, 'AT+SMPUB="meters/up",2,1,0', b"42") == b""  # waits for the PUBACK
    later(m, 0.1)  # the PUBLISH has left
    m.tcp.remote_closed(sock)
    assert run_until(m, b"+SMSTATE: 0\r\n") == b"\r\nERROR\r\n\r\n+SMSTATE: 0\r\n"
    start = len(broker.heard)
    sock = smconn()
    later(m, 0.1)
    assert broker.since(start) == [(mqtt.CONNECT, 0, 0), (mqtt.PUBLISH, 0x08, 1)]
    m.tcp.received(sock, mqtt.ack(mqtt.PUBACK, 1))
    assert later(m, 0.1) == b""
    assert at(m, "AT+SMSTATE?") == b"\r\n+SMSTATE: 1\r\n" + OK


def test_quectel_a_message_lost_before_it_was_sent_goes_without_dup() -> None:
    """A QoS 1 PUBLISH whose connection ends before it left (the broker closed it as the message was
    typed): on the next connection it is sent for the first time, so without DUP (MQTT 3.1.1
    §3.3.1.1: DUP only on a re-delivery; before: 0x3A, DUP set); its timeout's retransmission then
    has DUP."""
    m, broker, sock = _quectel(session=0)
    assert typed(m, 'AT+QMTPUB=0,7,1,0,"meters/up",2', b"42") == OK
    m.tcp.remote_closed(sock)  # at once: the PUBLISH never left
    assert run_until(m, b"+QMTSTAT: 0,1\r\n").endswith(b"\r\n+QMTSTAT: 0,1\r\n")
    assert broker.since(1) == []

    assert at(m, 'AT+QMTCFG="timeout",0,5,1') == OK  # one retransmission
    start = len(broker.sent)
    _qmt_connect(m)
    later(m, 0.1)
    first = mqtt.publish("meters/up", b"42", qos=1, pid=7)
    assert first[0] == 0x32
    assert broker.sent[start + 1 :] == [first]  # after the CONNECT
    later(m, 5.0)  # no PUBACK within <pkt_timeout>: sent again, now with DUP
    assert broker.sent[start + 1 :] == [first, bytes([0x3A]) + first[1:]]
