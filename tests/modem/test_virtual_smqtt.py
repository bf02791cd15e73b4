"""SIMCom's MQTT application of the SIM7000 series (AT+CNACT, AT+SMCONF / +SMCONN / +SMSUB / +SMPUB
..., SIM7000 Series AT Command Manual, "AT Commands for MQTT(S) Application") on the virtual
SIM7000G: real MQTT 3.1.1 to a real mosquitto broker on loopback, a second client checking what the
broker got, the bytes billed as the TCP model bills the same exchange, and the errors."""

from __future__ import annotations

import ssl
from pathlib import Path

from gateway.wire import HEADER, SYN_OPTIONS, play
from modem.at.client import ATClient
from modem.at.policies import WatchdogPolicy
from modem.virtual import mqtt
from modem.virtual.cmd_smqtt import MQTT_SID, PKT_TIMEOUT_S
from modem.virtual.core import VirtualModem
from tests.modem.test_virtual_listen import free_port
from tests.modem.test_virtual_mqtt import broker, mosquitto  # noqa: F401  (the fixture: mosquitto on a free port)
from tests.modem.test_virtual_qmqtt import (
    REPORT,
    TOPIC,
    MuteBroker,
    Peer,
    PingedBroker,
    on_url,
    registered,
    run_until,
    table,
    tls_broker,  # noqa: F401  (the fixture: mosquitto with TLS)
)
from tests.modem.test_virtual_sapbr import data_records
from tests.modem.test_virtual_sockets import WAIT_S, Dte, at, later, setup
from tests.modem.test_virtual_tls import NAME, Cert, cert  # noqa: F401  (the fixture: a self-signed certificate)
from tests.modem.test_virtual_wire import TABLE as WIRE_TABLE

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
SIM7000 = "simcom-sim7000"


async def test_connect_subscribe_publish_receive_and_disconnect_through_mosquitto(broker: int) -> None:  # noqa: F811
    m, sink = setup(SIM7000, table(broker))
    backend = await Peer.connect(broker, "backend")
    await backend.subscribe("meters/up")
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s
    try:
        assert await dte.at('AT+CNACT=1,"orange.m2m.spec"') == OK
        assert await dte.expect(b"+APP PDP: ACTIVE\r\n") == b"\r\n+APP PDP: ACTIVE\r\n"
        assert (await dte.at("AT+CNACT?")).startswith(b'\r\n+CNACT: 1,"')
        assert await dte.at('AT+SMCONF="URL","broker.example.com","1883"') == OK
        assert await dte.at('AT+SMCONF="CLIENTID","meter-0001";+SMCONF="KEEPTIME",60') == OK
        assert await dte.at("AT+SMSTATE?") == b"\r\n+SMSTATE: 0\r\n\r\nOK\r\n"
        assert await dte.at("AT+SMCONN") == OK  # once the CONNACK accepted it
        assert await dte.at("AT+SMSTATE?") == b"\r\n+SMSTATE: 1\r\n\r\nOK\r\n"
        assert await dte.at('AT+SMSUB="meters/cmd",1') == OK  # once the SUBACK granted it

        assert await dte.at('AT+SMPUB="meters/up",1025,0,0', b"ERROR\r\n") == ERROR  # 1-1024 bytes
        assert await dte.at('AT+SMPUB="meters/up",0,0,0', b"ERROR\r\n") == ERROR
        payload = b'{"meter":"0001","kWh":42.5}'
        assert await dte.at(f'AT+SMPUB="meters/up",{len(payload)},1,0', b"> ") == b"\r\n> "
        dte.write(payload)
        assert await dte.expect(b"OK\r\n") == OK  # once the PUBACK came
        topic, qos, _, retain, heard = (await backend.next()).published()
        assert (topic, qos, retain, heard) == ("meters/up", 1, False, payload)  # the broker got it

        backend.writer.write(mqtt.publish("meters/cmd", b"reboot", qos=1, pid=7))
        assert (await backend.next()).kind == mqtt.PUBACK
        urc = b'\r\n+SMSUB: "meters/cmd","reboot"\r\n'
        assert await dte.expect(urc[2:]) == urc

        assert await dte.at('AT+SMUNSUB="meters/cmd"') == OK
        assert await dte.at("AT+SMDISC") == OK
        assert await dte.at("AT+SMSTATE?") == b"\r\n+SMSTATE: 0\r\n\r\nOK\r\n"
        assert await dte.at("AT+CNACT=0") == OK
        assert await dte.expect(b"+APP PDP: DEACTIVE\r\n") == b"\r\n+APP PDP: DEACTIVE\r\n"
    finally:
        await dte.close()
        await backend.close()
    (rec,) = data_records(sink)
    exchange = [
        ("open", 0, 0.0),
        ("up", len(mqtt.connect("meter-0001", 60, clean=False)), 0.0),
        ("down", 4, 0.0),  # CONNACK
        ("up", len(mqtt.subscribe(1, [("meters/cmd", 1)])), 0.0),
        ("down", 5, 0.0),  # SUBACK
        ("up", len(mqtt.publish("meters/up", payload, qos=1, pid=1)), 0.0),
        ("down", 4, 0.0),  # PUBACK
        ("down", len(mqtt.publish("meters/cmd", b"reboot", qos=1, pid=1)), 0.0),
        ("up", 4, 0.0),  # the module's PUBACK
        ("up", len(mqtt.unsubscribe(1, ["meters/cmd"])), 0.0),
        ("down", 4, 0.0),  # UNSUBACK
        ("up", 2, 0.0),  # DISCONNECT, the module's FIN on it
        ("close up", 0, 0.0),
    ]
    wire = play(exchange)
    assert (rec.bytes_up, rec.bytes_down) == (wire.up, wire.down)


async def test_the_broker_ending_the_connection_is_smstate_0(broker: int) -> None:  # noqa: F811
    """A second client with the same client id takes the session over: the broker closes the first."""
    m, _ = setup(SIM7000, table(broker))
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
        assert await dte.at('AT+SMCONF="URL","broker.example.com",1883;+SMCONF="CLIENTID","meter-0001"') == OK
        assert await dte.at("AT+SMCONN") == OK
        thief = await Peer.connect(broker, "meter-0001")
        assert await dte.expect(b"+SMSTATE: 0\r\n") == b"\r\n+SMSTATE: 0\r\n"
        assert await dte.at('AT+SMPUB="t",1,0,0', b"ERROR\r\n") == ERROR  # no connection left
        await thief.close()
    finally:
        await dte.close()


async def test_a_broker_that_is_down_fails_the_connect() -> None:
    m, _ = setup(SIM7000, table(free_port()))  # a port nobody listens on
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
        assert await dte.at('AT+SMCONF="URL","broker.example.com",1883') == OK
        assert await dte.at("AT+SMCONN", b"ERROR\r\n") == ERROR
        assert await dte.at("AT+SMSTATE?") == b"\r\n+SMSTATE: 0\r\n\r\nOK\r\n"
    finally:
        await dte.close()


def app_network(table: str = "hosts:\n  echo.example: echo\n") -> VirtualModem:
    m, _ = setup(SIM7000, table)
    assert at(m, 'AT+CNACT=1,"orange.m2m.spec"') == OK
    assert later(m, 0.0) == b"\r\n+APP PDP: ACTIVE\r\n"
    return m


def test_bad_parameters_and_commands_out_of_order_are_errors() -> None:
    m, _ = setup(SIM7000, "hosts:\n  echo.example: echo\n")
    assert at(m, 'AT+SMCONF="URL","echo.example",1883') == OK
    assert at(m, "AT+SMCONN") == ERROR  # no app network
    assert at(m, "AT+CNACT=0") == ERROR  # not active
    assert at(m, 'AT+CNACT=1,"other.apn"') == ERROR  # context 1 is up on another APN (AT+CIICR's)
    assert at(m, 'AT+CNACT=1,"orange.m2m.spec"') == OK
    assert at(m, 'AT+CNACT=1,"orange.m2m.spec"') == b"\r\n+APP PDP: ACTIVE\r\n" + ERROR  # already active
    for line in (
        'AT+SMCONF="KEEPTIME",70000',
        'AT+SMCONF="QOS",3',
        'AT+SMCONF="CLEANSS","x"',
        'AT+SMCONF="URL","echo.example",0',
        'AT+SMCONF="NONSENSE",1',
        'AT+SMPUB="t",1,0,0',  # before the connection
        'AT+SMSUB="t",1',
        'AT+SMUNSUB="t"',
        "AT+SMDISC",
    ):
        assert at(m, line) == ERROR, line
    assert at(m, 'AT+SMCONF="CLIENTID","dev";+SMCONF="CLEANSS",1;+SMCONF="TOPIC","lwt"') == OK
    shown = at(m, "AT+SMCONF?")
    assert b'CLIENTID: "dev"\r\n' in shown and b'URL: "echo.example",1883\r\n' in shown
    assert b"CLEANSS: 1\r\n" in shown and b'TOPIC: "lwt"\r\n' in shown and shown.endswith(OK)


def test_an_unanswered_connect_is_an_error_after_the_packet_timeout() -> None:
    """The echo is no broker: the CONNECT comes back, no CONNACK; input waits meanwhile."""
    m = app_network()
    assert at(m, 'AT+SMCONF="URL","echo.example",1883;+SMCONF="CLIENTID","dev"') == OK
    assert at(m, "AT+SMCONN") == b""
    assert at(m, "AT+SMSTATE?") == b""  # waits for AT+SMCONN's answer
    assert later(m, PKT_TIMEOUT_S - 1.0) == b""
    assert later(m, 2.0) == ERROR + b"\r\n+SMSTATE: 0\r\n" + OK
    assert m.net.context(1).payload_up == len(mqtt.connect("dev", 60, clean=False))  # sent once


def test_the_end_of_the_app_network_is_smstate_0() -> None:
    """Coverage lost (the network ends the context): `+SMSTATE: 0` and `+APP PDP: DEACTIVE`."""
    m = app_network()
    m.net.lose()
    out = m.take_output()
    assert b"\r\n+APP PDP: DEACTIVE\r\n" in out
    assert at(m, "AT+CNACT?") == b'\r\n+CNACT: 0,"0.0.0.0"\r\n' + OK


async def connected(dte: Dte, client_id: str) -> None:
    """The app network up and the client connected to broker.example.com as `client_id`."""
    await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
    assert await dte.at(f'AT+SMCONF="URL","broker.example.com";+SMCONF="CLIENTID","{client_id}"') == OK
    assert await dte.at("AT+SMCONN") == OK


async def test_the_host_ending_the_app_network_is_smstate_0(broker: int) -> None:  # noqa: F811
    m, sink = setup(SIM7000, table(broker))
    dte = Dte(m, speed=0.1)
    try:
        await connected(dte, "meter-0002")
        assert await dte.at("AT+CNACT=0") == OK
        urcs = b"\r\n+SMSTATE: 0\r\n\r\n+APP PDP: DEACTIVE\r\n"  # the client's connection, then the network
        assert await dte.expect(urcs[2:]) == urcs
        assert await dte.at("AT+SMSTATE?;+CNACT?") == b'\r\n+SMSTATE: 0\r\n+CNACT: 0,"0.0.0.0"\r\n' + OK
    finally:
        await dte.close()
    (rec,) = data_records(sink)  # the context ended: its record written
    assert rec.bytes_up > len(mqtt.connect("meter-0002", 60, clean=False))


async def test_a_ping_unanswered_is_smstate_0() -> None:
    """A broker that accepts the connection and never answers its PINGREQ: after KEEPTIME 2 s
    without a packet the module pings, and gives the connection up `PKT_TIMEOUT_S` later."""
    async with MuteBroker.running() as mute:
        m, _ = setup(SIM7000, table(mute.port))
        dte = Dte(m, speed=40.0)  # 32 simulated seconds in 0.8 s
        try:
            await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
            assert await dte.at('AT+SMCONF="URL","broker.example.com",1883;+SMCONF="KEEPTIME",2') == OK
            assert await dte.at("AT+SMCONN") == OK
            assert await dte.expect(b"+SMSTATE: 0\r\n") == b"\r\n+SMSTATE: 0\r\n"
            assert await mute.pinged_once()
        finally:
            await dte.close()


async def test_an_at_client_on_the_virtual_url_publishes_and_hears_through_the_broker(
    broker: int,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The project's AT client on `virtual://simcom-sim7000` (its Internet table from the URL): the
    manual's sequence as firmware writes it, the broker's message taken as the client delivers URCs."""
    transport, backend = await on_url(SIM7000, broker, tmp_path)
    try:
        async with ATClient(transport, watchdog=WatchdogPolicy(enabled=False)) as client:
            urcs = await registered(client, {"+APP PDP", "+SMSUB"})
            await client.command('AT+CNACT=1,"orange.m2m.spec"')
            assert (await urcs.get(WAIT_S)).line == "+APP PDP: ACTIVE"
            await client.command('AT+SMCONF="URL","broker.example.com","1883"')
            await client.command('AT+SMCONF="CLIENTID","meter-0001"')
            await client.command("AT+SMCONN", timeout=WAIT_S)
            await client.command('AT+SMSUB="meters/cmd",1', timeout=WAIT_S)
            await client.command_with_data(f'AT+SMPUB="{TOPIC}",{len(REPORT)},1,0', REPORT)
            assert (await backend.next()).published()[4] == REPORT
            backend.writer.write(mqtt.publish("meters/cmd", b"reboot", qos=0))
            assert (await urcs.get(WAIT_S)).line == '+SMSUB: "meters/cmd","reboot"'
            await client.command("AT+SMDISC")
    finally:
        await transport.close()
        await backend.close()


async def test_topics_go_as_the_host_typed_their_bytes(broker: int) -> None:  # noqa: F811
    """A topic with letters past ASCII, typed in UTF-8 (MQTT 3.1.1 §1.5.3: topics are UTF-8): the
    broker gets those bytes, and +SMSUB gives a topic's bytes as the broker sent them, whatever the
    letters (the module passes them through); the client id too: a client connecting with it in
    UTF-8 takes the session over."""
    m, _ = setup(SIM7000, table(broker))
    backend = await Peer.connect(broker, "backend")
    await backend.subscribe("capteurs/température")
    dte = Dte(m, speed=0.1)
    try:
        await connected(dte, "compteur-é")
        assert await dte.at('AT+SMSUB="prix/€/kWh",0') == OK
        assert await dte.at('AT+SMPUB="capteurs/température",4,0,0', b"> ") == b"\r\n> "
        dte.write(b"21.5")
        assert await dte.expect(b"OK\r\n") == OK
        assert (await backend.next()).published() == ("capteurs/température", 0, 0, False, b"21.5")
        backend.writer.write(mqtt.publish("prix/€/kWh", b"0.25"))
        urc = await dte.expect(b'"0.25"\r\n')
        assert urc == '\r\n+SMSUB: "prix/€/kWh","0.25"\r\n'.encode()
        assert await dte.at('AT+SMUNSUB="prix/€/kWh"') == OK
        thief = await Peer.connect(broker, "compteur-é")  # the same client id, in UTF-8: takes it over
        assert await dte.expect(b"+SMSTATE: 0\r\n") == b"\r\n+SMSTATE: 0\r\n"
        await thief.close()
    finally:
        await dte.close()
        await backend.close()


def test_an_incoming_qos_2_message_sent_again_before_its_pubrel_is_told_once() -> None:
    """MQTT 3.1.1 §4.3.3, as on Quectel's client (the session is the same): PUBREC to the QoS 2
    PUBLISH, PUBCOMP to the PUBREL; the broker's retransmission (DUP, the same packet id) before
    the PUBREL is acknowledged again, not a second +SMSUB; after the PUBCOMP the id is a new message."""
    m = app_network(WIRE_TABLE)
    stub = PingedBroker(m)
    m.tcp.io = stub
    assert at(m, 'AT+SMCONF="URL","broker.example.com",1883;+SMCONF="CLIENTID","meter-0001"') == OK
    assert at(m, "AT+SMCONN") == b""  # answered on the CONNACK
    sock = m.tcp.sockets[MQTT_SID]
    m.tcp.connected(sock)
    assert run_until(m, OK) == OK
    pubrec, pubcomp = mqtt.ack(mqtt.PUBREC, 9), mqtt.ack(mqtt.PUBCOMP, 9)
    steps = [  # what the broker sends; what the host is told; what the module answers
        (
            mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9),
            b'\r\n+SMSUB: "meters/cmd","reboot"\r\n',
            [pubrec],
        ),
        (mqtt.publish("meters/cmd", b"reboot", qos=2, pid=9, dup=True), b"", [pubrec]),  # not told again
        (mqtt.ack(mqtt.PUBREL, 9), b"", [pubcomp]),
        (
            mqtt.publish("meters/cmd", b"again", qos=2, pid=9),
            b'\r\n+SMSUB: "meters/cmd","again"\r\n',
            [pubrec],
        ),
    ]
    for packet, told, answers in steps:
        stub.sent.clear()
        m.tcp.received(sock, packet)
        assert m.take_output(m.now + 1.0) == told
        assert [p for p in stub.sent if p] == answers


async def test_mqtt_over_tls_with_smssl_and_the_ssl_context_of_csslcfg(tls_broker: int, cert: Cert) -> None:  # noqa: F811
    """AT+CSSLCFG="sslversion",0,3 and AT+SMSSL=1 (SSL context 0), as the manual's examples pair them:
    the client's connection is TLS 1.2; the broker gets the message; the bytes billed are the TLS
    records as they crossed plus the TCP/IP headers (before: AT+SMSSL was ERROR, MQTT plain only)."""
    m, sink = setup(SIM7000, f'hosts:\n  {NAME}: "127.0.0.1:{tls_broker}"\n')
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
    backend = await Peer.connect(tls_broker, "backend", unchecked)
    await backend.subscribe(TOPIC)
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s
    try:
        await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
        assert await dte.at('AT+CSSLCFG="sslversion",0,3;+SMSSL=1,"ca.crt",""') == OK
        assert await dte.at("AT+SMSSL?") == b'\r\n+SMSSL: 1,"ca.crt",""\r\n' + OK
        assert await dte.at(f'AT+SMCONF="URL","{NAME}",8883;+SMCONF="CLIENTID","meter-0001"') == OK
        assert await dte.at("AT+SMCONN") == OK
        assert await dte.at(f'AT+SMPUB="{TOPIC}",{len(REPORT)},1,0', b"> ") == b"\r\n> "
        dte.write(REPORT)
        assert await dte.expect(b"OK\r\n") == OK  # once the PUBACK came
        assert (await backend.next()).published()[4] == REPORT
        assert await dte.at("AT+SMDISC") == OK
        assert (await dte.at("AT+CNACT=0", b"+APP PDP: DEACTIVE\r\n")).startswith(OK)
    finally:
        await dte.close()
        await backend.close()
    (rec,) = data_records(sink)
    ctx = m.net.context(1)
    tls_up, tls_down = ctx.payload_up, ctx.payload_down  # the TLS records the gateway saw cross
    der = ssl.PEM_cert_to_DER_cert(cert.cert.read_text())
    plain_up = len(mqtt.connect("meter-0001", 60, clean=False)) + len(REPORT) + len(TOPIC) + 6 + 2
    assert tls_up > plain_up + 100 and tls_down > len(der) + 4 + 4  # the handshake, the certificate
    # up, 9 packets: SYN, ACK, ClientHello, ClientKeyExchange + ChangeCipherSpec + Finished, CONNECT,
    # PUBLISH, DISCONNECT, the close_notify with the FIN, the last ACK; down, 6: SYN-ACK, the server's
    # hello flight with its certificate, its ChangeCipherSpec + Finished, CONNACK, PUBACK, its FIN
    assert (rec.bytes_up - tls_up, rec.bytes_down - tls_down) == (
        SYN_OPTIONS + 9 * HEADER,
        SYN_OPTIONS + 6 * HEADER,
    )


async def test_smssl_to_a_broker_without_tls_fails_the_connect(broker: int) -> None:  # noqa: F811
    """The TLS handshake fails (the broker speaks plain MQTT): AT+SMCONN answers ERROR; AT+SMSSL=0
    connects plainly again."""
    m, _ = setup(SIM7000, table(broker))
    dte = Dte(m, speed=0.1)
    try:
        await dte.at('AT+CNACT=1,"orange.m2m.spec"', b"+APP PDP: ACTIVE\r\n")
        assert await dte.at('AT+SMSSL=1;+SMCONF="URL","broker.example.com",1883;+SMCONF="CLIENTID","m"') == OK
        assert await dte.at("AT+SMCONN", b"ERROR\r\n") == ERROR
        assert await dte.at("AT+SMSTATE?") == b"\r\n+SMSTATE: 0\r\n" + OK
        assert await dte.at("AT+SMSSL=0") == OK
        assert await dte.at("AT+SMCONN") == OK
        assert await dte.at("AT+SMDISC") == OK
    finally:
        await dte.close()


def test_ssl_settings_out_of_range_are_errors() -> None:
    m, _ = setup(SIM7000)
    for line in (
        'AT+CSSLCFG="sslversion",6,3',
        'AT+CSSLCFG="sslversion",0,4',
        'AT+CSSLCFG="nonsense",0',
        "AT+SMSSL=7",
    ):
        assert at(m, line) == ERROR, line
    assert (
        at(m, 'AT+CSSLCFG="convert",2,"ca.crt";+SMSSL=?')
        == b'\r\n+SMSSL: (0-6),"<ca list>","<cert name>"\r\n' + OK
    )
