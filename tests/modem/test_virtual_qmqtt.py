"""Quectel's MQTT application (AT+QMTOPEN / +QMTCONN / +QMTSUB / +QMTPUB ..., BG96 MQTT Application
Note) on the virtual BG96: real MQTT 3.1.1 to a real mosquitto broker on loopback, a second client
checking what the broker got, the bytes billed as the TCP model bills the same exchange
(`gateway.wire.play`, what the simulator's MQTT profiles and the field notes' figures come from),
and the errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.network import Network, NetworkConfig
from gateway.wire import HEADER, SYN_OPTIONS, play
from modem.at.client import ATClient
from modem.at.policies import WatchdogPolicy
from modem.at.urcs import UrcStream
from modem.virtual import mqtt
from modem.virtual.cmd_qmqtt import MQTT_SID
from modem.virtual.core import VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.sockets import Socket
from modem.virtual.transport import VirtualTransport, open_virtual
from tests.modem.test_virtual_mqtt import broker, mosquitto  # noqa: F401  (the fixture: mosquitto on a free port)
from tests.modem.test_virtual_sapbr import data_records
from tests.modem.test_virtual_sockets import EPOCH, WAIT_S, Dte, Sink, at, later, setup, typed
from tests.modem.test_virtual_tls import NAME, Cert, cert  # noqa: F401  (the fixture: a self-signed certificate)
from tests.modem.test_virtual_wire import REPORT as WIRE_REPORT
from tests.modem.test_virtual_wire import TABLE as WIRE_TABLE
from tests.modem.test_virtual_wire import TOPIC as WIRE_TOPIC
from tests.modem.test_virtual_wire import Broker

OK = b"\r\nOK\r\n"


class Peer:
    """A second MQTT client on the broker (the backend), on asyncio streams, with the module's codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.packets = mqtt.Reader()
        self.got: list[mqtt.Packet] = []

    @classmethod
    async def connect(cls, port: int, client_id: str, tls: ssl.SSLContext | None = None) -> Peer:
        peer = cls(*await asyncio.open_connection("127.0.0.1", port, ssl=tls))
        peer.writer.write(mqtt.connect(client_id, 60))
        assert (await peer.next()).connack() == (False, 0)
        return peer

    async def next(self) -> mqtt.Packet:
        async with asyncio.timeout(WAIT_S):
            while not self.got:
                data = await self.reader.read(4096)
                assert data, "the broker closed the connection"
                self.got += self.packets.feed(data)
        packet = self.got.pop(0)
        if packet.kind == mqtt.PUBLISH and packet.flags & 0x06:  # QoS 1 (as subscribed): acknowledged
            self.writer.write(mqtt.ack(mqtt.PUBACK, packet.published()[2]))
        return packet

    async def subscribe(self, topic: str) -> None:
        self.writer.write(mqtt.subscribe(1, [(topic, 1)]))
        assert (await self.next()).suback() == (1, [1])

    async def close(self) -> None:
        self.writer.write(mqtt.disconnect())
        self.writer.close()
        await self.writer.wait_closed()


def table(port: int) -> str:
    return f'hosts:\n  broker.example.com: "127.0.0.1:{port}"\n'


async def test_open_connect_subscribe_publish_receive_and_disconnect_through_mosquitto(broker: int) -> None:  # noqa: F811
    m, sink = setup("quectel-bg96", table(broker))
    backend = await Peer.connect(broker, "backend")
    await backend.subscribe("meters/up")
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s
    try:
        assert await dte.at('AT+QMTCFG="keepalive",0,60') == OK
        assert await dte.at('AT+QMTCFG="keepalive",0') == b'\r\n+QMTCFG: "keepalive",60\r\n\r\nOK\r\n'
        assert await dte.at('AT+QMTOPEN=0,"broker.example.com",1883') == OK
        assert await dte.expect(b"+QMTOPEN: 0,0\r\n") == b"\r\n+QMTOPEN: 0,0\r\n"
        assert await dte.at("AT+QMTOPEN?") == b'\r\n+QMTOPEN: 0,"broker.example.com",1883\r\n\r\nOK\r\n'
        assert await dte.at('AT+QMTCONN=0,"meter-0001"') == OK
        assert await dte.expect(b"+QMTCONN: 0,0,0\r\n") == b"\r\n+QMTCONN: 0,0,0\r\n"
        assert await dte.at("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,3\r\n\r\nOK\r\n"
        assert await dte.at('AT+QMTSUB=0,1,"meters/cmd",1') == OK
        assert await dte.expect(b"+QMTSUB: 0,1,0,1\r\n") == b"\r\n+QMTSUB: 0,1,0,1\r\n"

        payload = b'{"meter":"0001","kWh":42.5}'
        assert await dte.at('AT+QMTPUB=0,2,1,0,"meters/up"', b"> ") == b"\r\n> "
        dte.write(payload + b"\x1a")
        assert await dte.expect(b"+QMTPUB: 0,2,0\r\n") == b"\r\nOK\r\n\r\n+QMTPUB: 0,2,0\r\n"
        topic, qos, _, retain, heard = (await backend.next()).published()
        assert (topic, qos, retain, heard) == ("meters/up", 1, False, payload)  # the broker got it

        assert await dte.at('AT+QMTPUB=0,4,2,1,"meters/up",5', b"> ") == b"\r\n> "
        dte.write(b"hello")  # QoS 2: PUBREC, PUBREL, PUBCOMP
        assert await dte.expect(b"+QMTPUB: 0,4,0\r\n") == b"\r\nOK\r\n\r\n+QMTPUB: 0,4,0\r\n"
        topic, qos, _, retain, heard = (await backend.next()).published()
        assert (topic, qos, retain, heard) == ("meters/up", 1, False, b"hello")  # retained: not, live

        assert await dte.at('AT+QMTPUBEX=0,0,0,0,"meters/up",3', b"> ") == b"\r\n> "
        dte.write(b"bye")  # the LTE Standard note's fixed-length publish
        assert await dte.expect(b"+QMTPUBEX: 0,0,0\r\n") == b"\r\nOK\r\n\r\n+QMTPUBEX: 0,0,0\r\n"
        assert (await backend.next()).published() == ("meters/up", 0, 0, False, b"bye")

        backend.writer.write(mqtt.publish("meters/cmd", b"reboot", qos=1, pid=7))
        assert (await backend.next()).kind == mqtt.PUBACK
        urc = await dte.expect(b'"meters/cmd","reboot"\r\n')
        assert urc.startswith(b"\r\n+QMTRECV: 0,") and urc.count(b",") == 3  # the broker's packet id

        assert await dte.at('AT+QMTUNS=0,3,"meters/cmd"') == OK
        assert await dte.expect(b"+QMTUNS: 0,3,0\r\n") == b"\r\n+QMTUNS: 0,3,0\r\n"
        assert await dte.at("AT+QMTDISC=0") == OK
        # then the broker closes after the DISCONNECT: the note's <err_code> 5, a normal process
        assert await dte.expect(b"+QMTSTAT: 0,5\r\n") == b"\r\n+QMTDISC: 0,0\r\n\r\n+QMTSTAT: 0,5\r\n"
        assert await dte.at("AT+QMTOPEN?;+QMTCONN?") == OK  # no client left
        assert await dte.at("AT+QIDEACT=1") == OK
    finally:
        await dte.close()
        await backend.close()
    (rec,) = data_records(sink)
    sizes = {
        "connect": len(mqtt.connect("meter-0001", 60)),
        "subscribe": len(mqtt.subscribe(1, [("meters/cmd", 1)])),
        "publish": len(mqtt.publish("meters/up", payload, qos=1, pid=2)),
        "exactly once": len(mqtt.publish("meters/up", b"hello", qos=2, pid=4)),
        "fixed length": len(mqtt.publish("meters/up", b"bye")),
        "received": len(mqtt.publish("meters/cmd", b"reboot", qos=1, pid=1)),
        "unsubscribe": len(mqtt.unsubscribe(3, ["meters/cmd"])),
    }
    # each answer comes within the delayed ACK's time: it carries the ACK of what it answers
    exchange = [
        ("open", 0, 0.0),
        ("up", sizes["connect"], 0.0),
        ("down", 4, 0.0),  # CONNACK
        ("up", sizes["subscribe"], 0.0),
        ("down", 5, 0.0),  # SUBACK
        ("up", sizes["publish"], 0.0),
        ("down", 4, 0.0),  # PUBACK
        ("up", sizes["exactly once"], 0.0),
        ("down", 4, 0.0),  # PUBREC
        ("up", 4, 0.0),  # PUBREL
        ("down", 4, 0.0),  # PUBCOMP
        ("up", sizes["fixed length"], 0.0),
        ("down", sizes["received"], 0.0),
        ("up", 4, 0.0),  # the module's PUBACK
        ("up", sizes["unsubscribe"], 0.0),
        ("down", 4, 0.0),  # UNSUBACK
        ("up", 2, 0.0),  # DISCONNECT, the module's FIN on it
        ("close up", 0, 0.0),
    ]
    wire = play(exchange)
    assert (rec.bytes_up, rec.bytes_down) == (wire.up, wire.down)


TOPIC = "fleet/meters/0001/state"  # the field notes' report: a 23-character topic, a 53-byte JSON
REPORT = b'{"id":"0001","kWh":1234.5,"V":230.1,"t":"2026-03-02"}'


async def send_report(m: VirtualModem, backend: Peer, host: str, port: int, qos: int) -> None:
    """The field notes' report from client 0: open, connect as a 10-character client id, one publish
    (the length form: exactly 53 bytes, no Ctrl-Z), disconnect, the context ended (its record
    written); the backend hears it."""
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s
    try:
        await dte.at(f'AT+QMTOPEN=0,"{host}",{port}', b"+QMTOPEN: 0,0\r\n")
        await dte.at('AT+QMTCONN=0,"meter-0001"', b"+QMTCONN: 0,0,0\r\n")
        msg_id = qos  # 0 at QoS 0
        assert await dte.at(f'AT+QMTPUB=0,{msg_id},{qos},0,"{TOPIC}",53', b"> ") == b"\r\n> "
        dte.write(REPORT)
        urc = f"\r\nOK\r\n\r\n+QMTPUB: 0,{msg_id},0\r\n".encode()
        assert await dte.expect(urc[2:]) == urc
        await dte.at("AT+QMTDISC=0", b"+QMTSTAT: 0,5\r\n")
        assert (await backend.next()).published()[4] == REPORT
        assert await dte.at("AT+QIDEACT=1") == OK
    finally:
        await dte.close()
        await backend.close()


@pytest.mark.parametrize(("qos", "packets", "total"), [(0, 9, 494), (1, 10, 540)])
async def test_the_field_notes_report_costs_what_the_tcp_model_and_the_notes_say(
    broker: int,  # noqa: F811
    qos: int,
    packets: int,
    total: int,
) -> None:
    """The field notes' exchange (connect, one publish of a 53-byte JSON, disconnect; a 10-character
    client id, a 23-character topic): the simulator's `mqtt-qos0` / `mqtt-qos1` profile steps."""
    m, sink = setup("quectel-bg96", table(broker))
    backend = await Peer.connect(broker, "backend")
    await backend.subscribe(TOPIC)
    assert (len(TOPIC), len(REPORT)) == (23, 53)
    await send_report(m, backend, "broker.example.com", 1883, qos)
    (rec,) = data_records(sink)
    steps = [("open", 0, 0.0), ("up", 24, 0.0), ("down", 4, 0.0), ("up", 80 + 2 * qos, 0.0)]
    steps += [("down", 4, 0.0)] if qos else []  # the PUBACK
    wire = play([*steps, ("up", 2, 0.0), ("close up", 0, 0.0)])
    assert (rec.bytes_up, rec.bytes_down) == (wire.up, wire.down)
    assert (wire.packets, rec.bytes_up + rec.bytes_down) == (packets, total)


@pytest.fixture
def tls_broker(tmp_path: Path, cert: Cert) -> Iterator[int]:  # noqa: F811
    """mosquitto with a TLS listener only, its certificate the self-signed one.  Started as root, it
    stays root ("user root"): as its own user it could not read the test's private folder."""
    files = f"cafile {cert.cert}\ncertfile {cert.cert}\nkeyfile {cert.key}\n"
    with mosquitto(tmp_path, files + ("user root\n" if os.getuid() == 0 else "")) as port:
        yield port


async def test_mqtt_over_tls_with_the_ssl_context_of_qsslcfg(tls_broker: int, cert: Cert) -> None:  # noqa: F811
    """AT+QMTCFG="ssl",0,1,2: the client's connection is TLS 1.2 with SSL context 2; the broker gets
    the message; the bytes billed are the TLS records as they crossed plus the TCP/IP headers."""
    m, sink = setup("quectel-bg96", f'hosts:\n  {NAME}: "127.0.0.1:{tls_broker}"\n')
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
    backend = await Peer.connect(tls_broker, "backend", unchecked)
    await backend.subscribe(TOPIC)
    assert at(m, 'AT+QSSLCFG="sslversion",2,3;+QMTCFG="ssl",0,1,2') == OK
    assert at(m, 'AT+QMTCFG="ssl",0') == b'\r\n+QMTCFG: "ssl",1,2\r\n\r\nOK\r\n'
    await send_report(m, backend, NAME, 8883, 1)
    (rec,) = data_records(sink)
    ctx = m.net.context(1)
    tls_up, tls_down = ctx.payload_up, ctx.payload_down  # the TLS records the gateway saw cross
    der = ssl.PEM_cert_to_DER_cert(cert.cert.read_text())
    assert tls_up > 24 + 82 + 2 and tls_down > len(der) + 4 + 82  # the handshake, the certificate
    # up, 9 packets: SYN, ACK, ClientHello, ClientKeyExchange + ChangeCipherSpec + Finished, CONNECT,
    # PUBLISH, DISCONNECT, the close_notify with the FIN, the last ACK; down, 6: SYN-ACK, the server's
    # hello flight with its certificate, its ChangeCipherSpec + Finished, CONNACK, PUBACK, its FIN
    assert (rec.bytes_up - tls_up, rec.bytes_down - tls_down) == (
        SYN_OPTIONS + 9 * HEADER,
        SYN_OPTIONS + 6 * HEADER,
    )
    assert rec.bytes_up + rec.bytes_down > 540 + len(der)  # the plain report's 540 B, the certificate


async def test_the_broker_ending_the_connection_is_qmtstat_1(broker: int) -> None:  # noqa: F811
    """A second client with the same client id takes the session over: the broker closes the first."""
    m, _ = setup("quectel-bg96", table(broker))
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+QMTOPEN=2,"broker.example.com",1883', b"+QMTOPEN: 2,0\r\n")
        await dte.at('AT+QMTCONN=2,"meter-0001"', b"+QMTCONN: 2,0,0\r\n")
        thief = await Peer.connect(broker, "meter-0001")
        assert await dte.expect(b"+QMTSTAT: 2,1\r\n") == b"\r\n+QMTSTAT: 2,1\r\n"
        assert await dte.at("AT+QMTCONN?") == OK
        await thief.close()
    finally:
        await dte.close()


async def test_a_broker_that_is_down_fails_the_open() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m, _ = setup("quectel-bg96", table(port))
    dte = Dte(m, speed=0.1)
    try:
        assert await dte.at('AT+QMTOPEN=0,"broker.example.com",1883') == OK
        assert await dte.expect(b"+QMTOPEN: 0,-1\r\n") == b"\r\n+QMTOPEN: 0,-1\r\n"
        assert await dte.at("AT+QMTOPEN?") == OK  # the identifier is free again
    finally:
        await dte.close()


class MuteBroker:
    """A broker on loopback that accepts the connection (CONNACK) and never answers a PINGREQ;
    `heard`: what came after the CONNECT, `pinged` set once a PINGREQ has."""

    def __init__(self) -> None:
        self.heard = bytearray()
        self.pinged = asyncio.Event()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)  # the CONNECT
        writer.write(b"\x20\x02\x00\x00")  # CONNACK, accepted
        while data := await reader.read(4096):
            self.heard.extend(data)
            if mqtt.pingreq() in self.heard:
                self.pinged.set()
        writer.close()

    async def pinged_once(self) -> bool:
        """A PINGREQ came, and it alone."""
        async with asyncio.timeout(WAIT_S):
            await self.pinged.wait()
        return bytes(self.heard) == mqtt.pingreq()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[MuteBroker]:
        mute = cls()
        server = await asyncio.start_server(mute._serve, "127.0.0.1", 0)
        mute.port = server.sockets[0].getsockname()[1]
        try:
            yield mute
        finally:
            server.close()
            await server.wait_closed()


async def test_a_ping_unanswered_within_the_packet_timeout_is_qmtstat_2() -> None:
    """A broker that accepts the connection and never answers its PINGREQ: after <keepalive> 2 s
    without a packet the module pings, and <pkt_timeout> 1 s later gives the connection up."""
    async with MuteBroker.running() as mute:
        m, _ = setup("quectel-bg96", table(mute.port))
        dte = Dte(m, speed=10.0)  # 3 simulated seconds in 0.3 s
        try:
            assert await dte.at('AT+QMTCFG="keepalive",0,2;+QMTCFG="timeout",0,1') == OK
            await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
            await dte.at('AT+QMTCONN=0,"meter-0001"', b"+QMTCONN: 0,0,0\r\n")
            assert await dte.expect(b"+QMTSTAT: 0,2\r\n") == b"\r\n+QMTSTAT: 0,2\r\n"
            assert await mute.pinged_once()
        finally:
            await dte.close()


def opened(profile: str = "quectel-bg96") -> VirtualModem:
    """Client 0 open on the echo (an endpoint that is no broker): connected at TCP, not at MQTT."""
    m, _ = setup(profile, "hosts:\n  echo.example: echo\n")
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+QMTOPEN=0,"echo.example",1883') == OK
    assert later(m, 1.0) == b"\r\n+QMTOPEN: 0,0\r\n"
    return m


@pytest.mark.parametrize("profile", ["quectel-bg96", "quectel-eg25"])
def test_bad_parameters_and_commands_out_of_order_are_cme_errors(profile: str) -> None:
    m = opened(profile)
    for line, code in (
        ('AT+QMTOPEN=6,"echo.example",1883', 50),  # <client_idx> 0-5
        ('AT+QMTOPEN=1,"echo.example",0', 50),
        ('AT+QMTCFG="keepalive",0,3601', 50),
        ('AT+QMTCFG="version",0,5', 50),
        ('AT+QMTCFG="nonsense",0', 50),
        ('AT+QMTCFG="recv/mode",0,2', 50),
        ("AT+QMTRECV=0,5", 50),  # <recv_id> 0-4
        ("AT+QMTRECV=1", 3),  # not open
        ('AT+QMTPUB=0,0,0,0,"t"', 3),  # publish before the CONNACK
        ('AT+QMTPUB=0,5,0,0,"t"', 50),  # a message id at QoS 0
        ('AT+QMTPUB=0,0,1,0,"t"', 50),  # none at QoS 1
        ('AT+QMTPUBEX=0,0,0,0,"t"', 50),  # the fixed-length form without its length
        ('AT+QMTSUB=0,1,"t",1', 3),
        ('AT+QMTSUB=0,0,"t",1', 50),  # <msgID> 1-65535
        ('AT+QMTSUB=0,1,"t"', 50),  # a topic without its QoS
        ("AT+QMTDISC=0", 3),  # not connected
        ("AT+QMTCLOSE=1", 3),  # not open
        ('AT+QMTCONN=1,"x"', 3),
    ):
        assert at(m, line) == f"\r\n+CME ERROR: {code}\r\n".encode(), line
    assert at(m, 'AT+QMTOPEN=0,"echo.example",1883') == OK
    assert later(m, 0.0) == b"\r\n+QMTOPEN: 0,2\r\n"  # the identifier is occupied
    assert at(m, "AT+QMTCLOSE=0") == OK
    assert later(m, 0.0) == b"\r\n+QMTCLOSE: 0,0\r\n"
    assert at(m, "AT+QMTCONN?") == OK


def test_open_failures_give_the_note_s_results() -> None:
    m, _ = setup("quectel-bg96", "unknown: fail\nhosts:\n  echo.example: echo\n")
    assert at(m, 'AT+QMTOPEN=0,"nowhere.example",1883') == OK
    assert later(m, 1.0) == b"\r\n+QMTOPEN: 0,4\r\n"  # the name not parsed
    assert at(m, 'AT+QMTOPEN=1,"10.0.0.9",1883') == OK  # refused by the policy
    assert later(m, 1.0) == b"\r\n+QMTOPEN: 1,-1\r\n"
    assert at(m, 'AT+QMTCFG="pdpcid",2,2') == OK
    assert at(m, 'AT+QMTOPEN=2,"echo.example",1883') == OK
    assert later(m, 1.0) == b"\r\n+QMTOPEN: 2,3\r\n"  # context 2 is not active
    assert at(m, 'AT+QMTCFG="ssl",3,1,0') == OK
    assert at(m, 'AT+QMTOPEN=3,"echo.example",8883') == OK
    assert later(m, 1.0) == b"\r\n+QMTOPEN: 3,-1\r\n"  # no TLS server: the handshake fails


def test_an_unanswered_connect_is_sent_again_then_fails() -> None:
    """<pkt_timeout> 2 s, 2 retries, <timeout_notice> 1: two retransmissions told, `+QMTCONN: <idx>,1`
    with no count (the note's `+QMTCONN: <idx>,<result>[,<ret_code>]`: a third field is the CONNACK's
    return code, and a count there read as ret_code 1, 2 would say the broker refused the client),
    then 2 (failed); the module closes the connection: `+QMTSTAT: <idx>,3`, sending the CONNECT
    timed out (the note's action: open again and send the CONNECT again; before, the client was
    left open)."""
    m = opened()
    ctx = m.net.context(1)
    assert at(m, 'AT+QMTCFG="timeout",0,2,2,1') == OK
    assert at(m, 'AT+QMTCFG="timeout",0') == b'\r\n+QMTCFG: "timeout",2,2,1\r\n\r\nOK\r\n'
    before = ctx.payload_up
    assert at(m, 'AT+QMTCONN=0,"dev"') == OK
    assert later(m, 2.0) == b"\r\n+QMTCONN: 0,1\r\n"
    assert later(m, 2.0) == b"\r\n+QMTCONN: 0,1\r\n"
    assert later(m, 2.0) == b"\r\n+QMTCONN: 0,2\r\n\r\n+QMTSTAT: 0,3\r\n"
    assert ctx.payload_up - before == 3 * len(mqtt.connect("dev", 120))  # the CONNECT, twice again
    assert at(m, "AT+QMTOPEN?;+QMTCONN?") == OK  # closed: the identifier free


def test_a_reset_ends_the_clients_and_their_settings() -> None:
    m = opened()
    assert at(m, 'AT+QMTCFG="will",0,1,1,1,"meters/lwt","gone"') == OK
    assert at(m, 'AT+QMTCFG="will",0') == b'\r\n+QMTCFG: "will",1,1,1,"meters/lwt","gone"\r\n\r\nOK\r\n'
    assert at(m, "AT+CFUN=1,1").startswith(OK)
    assert b"+QMTSTAT" not in later(m, 10.0)  # gone, silently
    at(m, "ATE0")
    assert at(m, "AT+QMTOPEN?") == OK
    assert at(m, 'AT+QMTCFG="will",0') == b'\r\n+QMTCFG: "will",0\r\n\r\nOK\r\n'  # settings as new


def test_packets_are_mqtt_3_1_1() -> None:
    """The codec against the standard's own bytes (OASIS MQTT 3.1.1 §3.1.2.11, §2.2.3)."""
    packet = mqtt.connect("dev", 60, user="u", password="p", will=mqtt.Will("w", b"x", 1, True))
    # 27 bytes; the flags: user name, password, will retain, will QoS 1, will, clean session
    assert packet[:12] == b"\x10\x1b\x00\x04MQTT\x04\xee\x00\x3c"
    assert mqtt.connect("dev", 60, level=3)[2:11] == b"\x00\x06MQIsdp\x03"
    big = mqtt.publish("t", b"x" * 200)
    assert big[:3] == b"\x30\xcb\x01"  # 203 in two bytes: 0xcb 0x01
    reader = mqtt.Reader()
    assert reader.feed(big[:2]) == []
    (got,) = reader.feed(big[2:])
    assert got.published() == ("t", 0, 0, False, b"x" * 200)
    with pytest.raises(mqtt.MqttError):
        mqtt.Reader().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(mqtt.MqttError):  # the fourth byte asks for a fifth: malformed, not waited on
        mqtt.Reader().feed(b"\x30\xff\xff\xff\xff")
    assert mqtt.Reader().feed(b"\x30\xff\xff\xff") == []  # (four bytes of it so far: may be whole)


def test_the_end_of_the_client_s_context_is_qmtstat_7() -> None:
    """Coverage lost (the network ends the context) and AT+QIDEACT (the host ends it): each client
    on it says `+QMTSTAT: <idx>,7`, the link not alive (before: 1, as if the broker had closed it),
    and is gone; the module leaving the network itself says nothing."""
    m = opened()
    m.net.lose()
    assert b"\r\n+QMTSTAT: 0,7\r\n" in m.take_output()
    assert at(m, "AT+QMTOPEN?") == OK
    m = opened()
    assert at(m, "AT+QIDEACT=1") == OK
    assert later(m, 0.0) == b"\r\n+QMTSTAT: 0,7\r\n"
    assert at(m, "AT+QMTCONN?") == OK
    m = opened()
    m.net.set_cfun(0)
    assert b"+QMTSTAT" not in m.take_output()
    assert at(m, "AT+QMTOPEN?") == OK


async def on_url(profile: str, port: int, tmp_path: Path) -> tuple[VirtualTransport, Peer]:
    """`virtual://<profile>` with the broker on `port` in its Internet table (from the URL),
    provisioned on a network; and the backend, subscribed to `TOPIC`."""
    internet = tmp_path / "internet.yaml"
    internet.write_text(table(port))
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), Sink())
    transport = open_virtual(f"virtual://{profile}?seed=3&speed=20&internet={internet}", network=net)
    provision(net, transport.modem, ServeScenario())
    backend = await Peer.connect(port, "backend")
    await backend.subscribe(TOPIC)
    return transport, backend


async def registered(client: ATClient, names: set[str]) -> UrcStream:
    """Echo off, +CEREG URCs on, and the modem registered (waited for if it still searches):
    the URCs `names` queued from the start."""
    urcs = client.urcs({"+CEREG", *names})
    await client.command("ATE0")
    if (await client.command("AT+CEREG=1;+CEREG?")).fields("+CEREG")[1] != "1":
        assert (await urcs.get(WAIT_S)).line == "+CEREG: 1"  # registered after the search
    return urcs


async def test_an_at_client_on_the_virtual_url_publishes_through_the_broker(
    broker: int,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The project's AT client on `virtual://quectel-bg96` (its Internet table from the URL): the
    note's sequence as firmware writes it, the URCs awaited as the client delivers them."""
    transport, backend = await on_url("quectel-bg96", broker, tmp_path)
    try:
        async with ATClient(transport, watchdog=WatchdogPolicy(enabled=False)) as client:
            urcs = await registered(client, {"+QMTOPEN", "+QMTCONN", "+QMTPUB"})
            await client.command('AT+QICSGP=1,1,"orange.m2m.spec","","",1')
            await client.command("AT+QIACT=1")
            await client.command('AT+QMTOPEN=0,"broker.example.com",1883')
            assert (await urcs.get(WAIT_S)).line == "+QMTOPEN: 0,0"
            await client.command('AT+QMTCONN=0,"meter-0001"')
            assert (await urcs.get(WAIT_S)).line == "+QMTCONN: 0,0,0"
            await client.command_with_data(f'AT+QMTPUB=0,1,1,0,"{TOPIC}",{len(REPORT)}', REPORT)
            assert (await urcs.get(WAIT_S)).line == "+QMTPUB: 0,1,0"
            assert (await backend.next()).published()[4] == REPORT
            await client.command("AT+QMTDISC=0")
    finally:
        await transport.close()
        await backend.close()


class PingedBroker(Broker):
    """The in-process broker of the wire tests (CONNACK, PUBACK at once), answering PINGREQ too."""

    def send(self, sock: Socket, data: bytes) -> None:
        super().send(sock, data)
        if data == mqtt.pingreq():
            self.modem.tcp.received(sock, b"\xd0\x00")  # PINGRESP


def run_until(m: VirtualModem, token: bytes) -> bytes:
    """The modem's output up to `token`, simulated time running to each next event till then."""
    out = m.take_output()
    while token not in out:
        due = m.next_deadline()
        assert due is not None, out
        out += m.take_output(due)
    return out


@pytest.mark.parametrize("conditions", ["full", "gprs"])
def test_a_persistent_connection_s_publish_and_ping_cost_the_field_notes_bytes(conditions: str) -> None:
    """Field notes: persistent MQTT, one QoS 1 publish 206 B; a keep-alive ping cycle 124 B (the
    broker's answer, then the module's delayed ACK alone), on a link with delays or without; the
    exchanges of the simulator's `mqtt-qos1` profile (`publish`, `ping`)."""
    m, _ = setup("quectel-bg96", WIRE_TABLE, net_preset=conditions)
    m.tcp.io = PingedBroker(m)
    ctx = m.net.context(1)
    assert at(m, 'AT+QMTCFG="keepalive",0,60') == OK
    assert at(m, 'AT+QMTOPEN=0,"broker.example.com",1883') == OK
    m.tcp.connected(m.tcp.sockets[MQTT_SID])  # the broker accepts at once
    run_until(m, b"+QMTOPEN: 0,0\r\n")
    assert at(m, 'AT+QMTCONN=0,"meter-0001"') == OK
    run_until(m, b"+QMTCONN: 0,0,0\r\n")
    m.take_output(m.now + 1.0)  # the module's delayed ACK of the CONNACK

    def spent(since: tuple[int, int]) -> tuple[int, int]:
        return ctx.bytes_up - since[0], ctx.bytes_down - since[1]

    before = (ctx.bytes_up, ctx.bytes_down)
    assert typed(m, f'AT+QMTPUB=0,1,1,0,"{WIRE_TOPIC}",53', WIRE_REPORT) == OK
    run_until(m, b"+QMTPUB: 0,1,0\r\n")
    published_at = m.now
    m.take_output(m.now + 1.0)  # the delayed ACK of the PUBACK goes alone: nothing else to carry it
    publish = play([("up", 82, 0.0), ("down", 4, 0.0)])
    assert spent(before) == (publish.up, publish.down) and sum(spent(before)) == 206

    before = (ctx.bytes_up, ctx.bytes_down)
    assert m.take_output(published_at + 65.0) == b""  # <keepalive> after the PUBLISH: the ping, answered
    ping = play([("up", 2, 0.0), ("down", 2, 0.0)])
    assert spent(before) == (ping.up, ping.down) and sum(spent(before)) == 124


@pytest.mark.parametrize(("qos", "total"), [(0, 494), (1, 540)])
def test_the_field_notes_report_costs_the_same_over_a_gprs_link(qos: int, total: int) -> None:
    """The report of the mosquitto test above, its broker answering at once in-process, over GPRS's
    delays: the same packets (every answer within the delayed ACK's time after it arrives)."""
    m, sink = setup("quectel-bg96", WIRE_TABLE, net_preset="gprs")
    m.tcp.io = PingedBroker(m)
    assert at(m, 'AT+QMTOPEN=0,"broker.example.com",1883') == OK
    m.tcp.connected(m.tcp.sockets[MQTT_SID])
    run_until(m, b"+QMTOPEN: 0,0\r\n")
    assert at(m, 'AT+QMTCONN=0,"meter-0001"') == OK
    run_until(m, b"+QMTCONN: 0,0,0\r\n")
    assert typed(m, f'AT+QMTPUB=0,{qos},{qos},0,"{WIRE_TOPIC}",53', WIRE_REPORT) == OK
    run_until(m, f"+QMTPUB: 0,{qos},0\r\n".encode())
    assert at(m, "AT+QMTDISC=0") == OK
    run_until(m, b"+QMTDISC: 0,0\r\n")
    m.take_output(m.now + 10.0)  # the close handshake across the link
    assert at(m, "AT+QIDEACT=1") == OK
    (rec,) = data_records(sink)
    assert rec.bytes_up + rec.bytes_down == total


def connected_to_stub(
    profile: str = "quectel-bg96", net_preset: str = "full"
) -> tuple[VirtualModem, PingedBroker, Socket]:
    """Client 0 connected (CONNACK accepted) to the in-process broker; the broker's socket."""
    m, _ = setup(profile, WIRE_TABLE, net_preset=net_preset)
    stub = PingedBroker(m)
    m.tcp.io = stub
    assert at(m, 'AT+QMTOPEN=0,"broker.example.com",1883') == OK
    sock = m.tcp.sockets[MQTT_SID]
    m.tcp.connected(sock)
    run_until(m, b"+QMTOPEN: 0,0\r\n")
    assert at(m, 'AT+QMTCONN=0,"meter-0001"') == OK
    run_until(m, b"+QMTCONN: 0,0,0\r\n")
    stub.sent.clear()
    return m, stub, sock


def test_an_incoming_qos_2_message_sent_again_before_its_pubrel_is_delivered_once() -> None:
    """MQTT 3.1.1 §4.3.3: the module answers PUBLISH QoS 2 with PUBREC, and PUBREL with PUBCOMP; the
    broker's retransmission (DUP, the same packet id) before the PUBREL is acknowledged again, not
    told the host twice; after the PUBCOMP the packet id is a new message."""
    m, stub, sock = connected_to_stub()
    m.tcp.received(sock, mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9))
    assert m.take_output(m.now + 1.0) == b'\r\n+QMTRECV: 0,9,"meters/cmd","reboot"\r\n'
    m.tcp.received(sock, mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9, dup=True))
    assert m.take_output(m.now + 1.0) == b""  # the same message: not told again
    m.tcp.received(sock, mqtt.ack(mqtt.PUBREL, 9))
    m.take_output(m.now + 1.0)
    pubrec, pubcomp = mqtt.ack(mqtt.PUBREC, 9), mqtt.ack(mqtt.PUBCOMP, 9)
    assert [p for p in stub.sent if p] == [pubrec, pubrec, pubcomp]
    m.tcp.received(sock, mqtt.publish("meters/cmd", b"again", qos=2, pid=9))
    assert m.take_output(m.now + 1.0) == b'\r\n+QMTRECV: 0,9,"meters/cmd","again"\r\n'


async def test_buffered_receive_mode_keeps_messages_for_qmtrecv(broker: int) -> None:  # noqa: F811
    """The MQTT Application Notes' AT+QMTCFG="recv/mode" (BG96 §3.2.1) and AT+QMTRECV (LTE Standard
    §3.3.9): with <msg_recv_mode> 1
    each message from the broker is kept in one of the client's five buffers, told as
    `+QMTRECV: <idx>,<recv_id>`, listed by AT+QMTRECV? and read (and freed) by AT+QMTRECV=<idx>
    [,<recv_id>]; <msg_len_enable> 1 puts the payload's length before it, in the direct URC too."""
    m, _ = setup("quectel-bg96", table(broker))
    backend = await Peer.connect(broker, "backend")
    dte = Dte(m, speed=0.1)
    try:
        assert await dte.at('AT+QMTCFG="recv/mode",1') == b'\r\n+QMTCFG: "recv/mode",0,0\r\n\r\nOK\r\n'
        assert await dte.at('AT+QMTCFG="recv/mode",1,1,1') == OK
        assert await dte.at('AT+QMTCFG="recv/mode",1') == b'\r\n+QMTCFG: "recv/mode",1,1\r\n\r\nOK\r\n'
        await dte.at('AT+QMTOPEN=1,"broker.example.com",1883', b"+QMTOPEN: 1,0\r\n")
        await dte.at('AT+QMTCONN=1,"meter-0001"', b"+QMTCONN: 1,0,0\r\n")
        await dte.at('AT+QMTSUB=1,1,"meters/cmd",0', b"+QMTSUB: 1,1,0,0\r\n")
        backend.writer.write(mqtt.publish("meters/cmd", b"reboot"))
        assert await dte.expect(b"+QMTRECV: 1,0\r\n") == b"\r\n+QMTRECV: 1,0\r\n"
        backend.writer.write(mqtt.publish("meters/cmd", b"stop"))
        assert await dte.expect(b"+QMTRECV: 1,1\r\n") == b"\r\n+QMTRECV: 1,1\r\n"
        assert await dte.at("AT+QMTRECV?") == b"\r\n+QMTRECV: 1,1,1,0,0,0\r\n\r\nOK\r\n"
        assert await dte.at("AT+QMTRECV=1,1") == b'\r\n+QMTRECV: 1,0,"meters/cmd",4,"stop"\r\n\r\nOK\r\n'
        assert await dte.at("AT+QMTRECV=1,1") == OK  # read: freed
        backend.writer.write(mqtt.publish("meters/cmd", b"go"))
        assert await dte.expect(b"+QMTRECV: 1,1\r\n") == b"\r\n+QMTRECV: 1,1\r\n"  # the free buffer
        assert await dte.at("AT+QMTRECV=1") == (
            b'\r\n+QMTRECV: 1,0,"meters/cmd",6,"reboot"\r\n+QMTRECV: 1,0,"meters/cmd",2,"go"\r\n\r\nOK\r\n'
        )
        assert await dte.at("AT+QMTRECV?") == b"\r\n+QMTRECV: 1,0,0,0,0,0\r\n\r\nOK\r\n"
        assert await dte.at('AT+QMTCFG="recv/mode",1,0') == OK  # direct again, the length kept
        backend.writer.write(mqtt.publish("meters/cmd", b"now"))
        urc = b'\r\n+QMTRECV: 1,0,"meters/cmd",3,"now"\r\n'
        assert await dte.expect(urc[2:]) == urc
        await dte.at("AT+QMTDISC=1", b"+QMTSTAT: 1,5\r\n")
    finally:
        await dte.close()
        await backend.close()


def test_a_message_finding_the_five_buffers_full_is_not_kept() -> None:
    m, _, sock = connected_to_stub()
    assert at(m, 'AT+QMTCFG="recv/mode",0,1') == OK
    for n in range(6):
        m.tcp.received(sock, mqtt.publish("t", b"%d" % n))
    urcs = m.take_output(m.now + 1.0)
    assert urcs == b"".join(b"\r\n+QMTRECV: 0,%d\r\n" % n for n in range(5))
    assert at(m, "AT+QMTRECV=0,4") == b'\r\n+QMTRECV: 0,0,"t","4"\r\n\r\nOK\r\n'
    assert at(m, "AT+QMTRECV=?") == b"\r\n+QMTRECV: (0-5),(0-4)\r\n\r\nOK\r\n"


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[int]:
    """mosquitto with a password file (user "meter", password "s3cret"), made by mosquitto_passwd."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("mosquitto_passwd is not installed (it comes with mosquitto)")
    passwords = tmp_path / "passwords"
    subprocess.run([exe, "-c", "-b", str(passwords), "meter", "s3cret"], check=True, capture_output=True)
    passwords.chmod(0o600)
    settings = f"password_file {passwords}\n" + ("user root\n" if os.getuid() == 0 else "")
    with mosquitto(tmp_path, settings) as port:
        yield port


async def test_a_broker_refusing_the_connect_gives_its_return_code(password_broker: int) -> None:
    """BG96 MQTT Application Note §3.2.4: the CONNACK refusing the client (here a wrong password) is
    `+QMTCONN: <idx>,0,<ret_code>`, the client not connected; then the broker closes the connection:
    `+QMTSTAT: <idx>,4`, receiving the CONNACK failed, as a BG96 says it (before: 1).  The right
    password connects."""
    m, _ = setup("quectel-bg96", table(password_broker))
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
        assert await dte.at('AT+QMTCONN=0,"meter-0001","meter","wrong"') == OK
        urc = await dte.expect(b"+QMTSTAT: 0,4\r\n")
        assert urc == b"\r\n+QMTCONN: 0,0,5\r\n\r\n+QMTSTAT: 0,4\r\n"  # mosquitto: 5, not authorised
        assert await dte.at("AT+QMTCONN?") == OK  # gone
        await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
        await dte.at('AT+QMTCONN=0,"meter-0001","meter","s3cret"', b"+QMTCONN: 0,0,0\r\n")
        await dte.at("AT+QMTDISC=0", b"+QMTSTAT: 0,5\r\n")
    finally:
        await dte.close()


@pytest.mark.parametrize("end", ["coverage lost", "AT+QIDEACT"])
def test_the_context_ending_while_the_connection_opens_is_qmtopen_5(end: str) -> None:
    """BG96 MQTT Application Note §3.2.2 <result> 5, a network disconnection error: the context
    ends before the broker has answered the SYN.  The host waiting for +QMTOPEN gets it (before: a
    +QMTSTAT for a client whose open it had never been told)."""
    m, _ = setup("quectel-bg96", WIRE_TABLE)
    m.tcp.io = PingedBroker(m)  # it never accepts: the connection stays opening
    assert at(m, 'AT+QMTOPEN=0,"broker.example.com",1883') == OK
    assert later(m, 1.0) == b""
    if end == "coverage lost":
        m.net.lose()
        out = m.take_output()
    else:
        assert at(m, "AT+QIDEACT=1") == OK
        out = later(m, 0.0)
    assert b"\r\n+QMTOPEN: 0,5\r\n" in out and b"+QMTSTAT" not in out
    assert at(m, "AT+QMTOPEN?") == OK  # the identifier is free again


async def test_a_qos_2_message_from_mosquitto_is_received_exactly_once(broker: int) -> None:  # noqa: F811
    """Subscribed at QoS 2, the backend's QoS 2 message comes as PUBLISH, the module's PUBREC, the
    broker's PUBREL, the module's PUBCOMP (MQTT 3.1.1 §4.3.3): told once, billed as the TCP model
    bills those packets."""
    m, sink = setup("quectel-bg96", table(broker))
    backend = await Peer.connect(broker, "backend")
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
        await dte.at('AT+QMTCONN=0,"meter-0001"', b"+QMTCONN: 0,0,0\r\n")
        await dte.at('AT+QMTSUB=0,1,"meters/cmd",2', b"+QMTSUB: 0,1,0,2\r\n")
        backend.writer.write(mqtt.publish("meters/cmd", b"reboot", qos=2, pid=5))
        assert (await backend.next()).kind == mqtt.PUBREC
        backend.writer.write(mqtt.ack(mqtt.PUBREL, 5))
        assert (await backend.next()).kind == mqtt.PUBCOMP
        urc = await dte.expect(b'"meters/cmd","reboot"\r\n')
        assert urc == b'\r\n+QMTRECV: 0,1,"meters/cmd","reboot"\r\n'  # mosquitto's first packet id
        # the broker answers the UNSUBSCRIBE after the PUBREC that came before it, so its UNSUBACK
        # comes after its PUBREL: +QMTUNS says the module has had the PUBREL (and sent its PUBCOMP)
        rest = await dte.at('AT+QMTUNS=0,2,"meters/cmd"', b"+QMTUNS: 0,2,0\r\n")
        rest += await dte.at("AT+QMTDISC=0", b"+QMTSTAT: 0,5\r\n")
        assert b"+QMTRECV" not in rest  # told once
        assert await dte.at("AT+QIDEACT=1") == OK
    finally:
        await dte.close()
        await backend.close()
    (rec,) = data_records(sink)
    exchange = [
        ("open", 0, 0.0),
        ("up", len(mqtt.connect("meter-0001", 120)), 0.0),
        ("down", 4, 0.0),  # CONNACK
        ("up", len(mqtt.subscribe(1, [("meters/cmd", 2)])), 0.0),
        ("down", 5, 0.0),  # SUBACK
        ("down", len(mqtt.publish("meters/cmd", b"reboot", qos=2, pid=1)), 0.0),
        ("up", 4, 0.0),  # PUBREC
        ("down", 4, 0.0),  # PUBREL
        ("up", 4, 0.0),  # PUBCOMP
        ("up", len(mqtt.unsubscribe(2, ["meters/cmd"])), 0.0),
        ("down", 4, 0.0),  # UNSUBACK
        ("up", 2, 0.0),  # DISCONNECT, the module's FIN on it
        ("close up", 0, 0.0),
    ]
    wire = play(exchange)
    assert (rec.bytes_up, rec.bytes_down) == (wire.up, wire.down)


async def test_topics_go_as_the_host_typed_their_bytes(broker: int) -> None:  # noqa: F811
    """A topic with letters past ASCII, typed in UTF-8 (MQTT 3.1.1 §1.5.3: topics are UTF-8): the
    broker gets those bytes, and the host gets a topic's bytes as the broker sent them, whatever
    the letters (the module passes them through)."""
    m, _ = setup("quectel-bg96", table(broker))
    backend = await Peer.connect(broker, "backend")
    await backend.subscribe("capteurs/température")
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
        await dte.at('AT+QMTCONN=0,"meter-0001"', b"+QMTCONN: 0,0,0\r\n")
        await dte.at('AT+QMTSUB=0,1,"prix/€/kWh",0', b"+QMTSUB: 0,1,0,0\r\n")
        assert await dte.at('AT+QMTPUB=0,0,0,0,"capteurs/température",4', b"> ") == b"\r\n> "
        dte.write(b"21.5")
        await dte.expect(b"+QMTPUB: 0,0,0\r\n")
        assert (await backend.next()).published() == ("capteurs/température", 0, 0, False, b"21.5")
        backend.writer.write(mqtt.publish("prix/€/kWh", b"0.25"))
        urc = await dte.expect(b'"0.25"\r\n')
        assert urc == '\r\n+QMTRECV: 0,0,"prix/€/kWh","0.25"\r\n'.encode()
        assert await dte.at("AT+QMTDISC=0", b"+QMTSTAT: 0,5\r\n")
    finally:
        await dte.close()
        await backend.close()
