"""Quectel's +QMTSTAT <err_code> (BG96 MQTT Application Note §3.3), each where the module says it,
against a real mosquitto that refuses, stalls (SIGSTOP: its kernel still takes the bytes, the broker
answers nothing), or is killed (its connections closed or reset): 1 the connection closed or reset
by the broker, 3 sending the CONNECT timed out, 4 receiving the CONNACK failed, 6 the client closing
the connection as sending kept failing; 2 (no PINGRESP) and 7 (the context ended) are in
`test_virtual_qmqtt`; 5 the server closing the connection after the client's DISCONNECT
(AT+QMTDISC, the module's FIN on it: the broker's FIN back)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from accounting.wire import play
from modem.virtual import mqtt
from tests.modem.test_virtual_mqtt import mosquitto_process
from tests.modem.test_virtual_qmqtt import OK, connected_to_stub, run_until, table
from tests.modem.test_virtual_sockets import Dte, at, setup

Broker = tuple[int, subprocess.Popen[bytes]]


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[Broker]:
    with mosquitto_process(tmp_path) as running:
        yield running


async def _connected(dte: Dte, timeout: str = "1,0") -> None:
    """Client 0 open and connected to broker.example.com, <pkt_timeout>,<retry_times> `timeout`."""
    assert await dte.at(f'AT+QMTCFG="timeout",0,{timeout}') == OK
    await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
    await dte.at('AT+QMTCONN=0,"meter-0001"', b"+QMTCONN: 0,0,0\r\n")


async def test_a_stalled_broker_s_connect_timing_out_is_qmtstat_3(broker_process: Broker) -> None:
    """The broker takes the connection and never answers the CONNECT: after <pkt_timeout> (and its
    retransmissions) `+QMTCONN: <idx>,2`, then the module closes the connection, `+QMTSTAT: <idx>,3`,
    the client gone (the note's action: open and connect again)."""
    port, proc = broker_process
    m, _ = setup("quectel-bg96", table(port))
    dte = Dte(m, speed=10.0)
    try:
        assert await dte.at('AT+QMTCFG="timeout",0,1,1') == OK
        await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
        proc.send_signal(signal.SIGSTOP)
        assert await dte.at('AT+QMTCONN=0,"meter-0001"') == OK
        urcs = await dte.expect(b"+QMTSTAT: 0,3\r\n")
        assert urcs == b"\r\n+QMTCONN: 0,2\r\n\r\n+QMTSTAT: 0,3\r\n"
        assert await dte.at("AT+QMTOPEN?;+QMTCONN?") == OK
    finally:
        await dte.close()


@pytest.mark.parametrize(("when", "code"), [("the CONNECT waits", 4), ("connected", 1)])
async def test_the_broker_killed(broker_process: Broker, when: str, code: int) -> None:
    """The broker dies: connected, the connection closed or reset by the broker, `+QMTSTAT: <idx>,1`;
    with the CONNECT unread (stopped first: its connection reset), no CONNACK, `+QMTSTAT: <idx>,4`
    (before: 1 too), and no +QMTCONN result after it."""
    port, proc = broker_process
    m, _ = setup("quectel-bg96", table(port))
    dte = Dte(m, speed=1.0)
    try:
        if when == "connected":
            await _connected(dte)
        else:
            await dte.at('AT+QMTOPEN=0,"broker.example.com",1883', b"+QMTOPEN: 0,0\r\n")
            proc.send_signal(signal.SIGSTOP)
            assert await dte.at('AT+QMTCONN=0,"meter-0001"') == OK  # <pkt_timeout> 5 s: not reached
        proc.kill()
        urc = f"\r\n+QMTSTAT: 0,{code}\r\n".encode()
        assert await dte.expect(urc[2:]) == urc
        assert await dte.at("AT+QMTOPEN?;+QMTCONN?") == OK
    finally:
        await dte.close()


async def test_a_stalled_broker_failing_a_publish_is_qmtstat_6(broker_process: Broker) -> None:
    """The broker stops answering a connected client: its QoS 1 PUBLISH is sent again after
    <pkt_timeout>, then fails, `+QMTPUB: <idx>,<msgID>,2`; the module closes the connection itself,
    `+QMTSTAT: <idx>,6` (before: the client stayed connected on a dead broker)."""
    port, proc = broker_process
    m, _ = setup("quectel-bg96", table(port))
    dte = Dte(m, speed=10.0)
    try:
        await _connected(dte, "1,1")
        proc.send_signal(signal.SIGSTOP)
        assert await dte.at('AT+QMTPUB=0,7,1,0,"meters/up",2', b"> ") == b"\r\n> "
        dte.write(b"42")
        urcs = await dte.expect(b"+QMTSTAT: 0,6\r\n")
        assert urcs == b"\r\nOK\r\n\r\n+QMTPUB: 0,7,2\r\n\r\n+QMTSTAT: 0,6\r\n"
        assert await dte.at("AT+QMTOPEN?;+QMTCONN?") == OK
    finally:
        await dte.close()


def test_the_connection_closed_after_a_failed_publish_is_billed_as_it_crossed() -> None:
    """The in-process broker answers a QoS 2 PUBLISH with a PUBACK (no PUBREC, what the module
    waits for): the PUBLISH, its retransmission (DUP) <pkt_timeout> later, the broker's two
    answers, then the module's FIN when it gives up: billed as the TCP model bills those packets."""
    m, stub, _ = connected_to_stub()
    ctx = m.net.context(1)
    assert at(m, 'AT+QMTCFG="timeout",0,1,1') == OK
    m.take_output(m.now + 1.0)  # the module's delayed ACK of the CONNACK
    before = (ctx.bytes_up, ctx.bytes_down)
    m.feed(b'AT+QMTPUB=0,7,2,0,"meters/up",2\r', m.now)
    m.feed(b"42", m.now)
    assert run_until(m, b"+QMTSTAT: 0,6\r\n").endswith(b"\r\n+QMTPUB: 0,7,2\r\n\r\n+QMTSTAT: 0,6\r\n")
    m.take_output(m.now + 1.0)  # the close handshake
    n = len(mqtt.publish("meters/up", b"42", qos=2, pid=7))
    assert [len(p) for p in stub.sent if p] == [n, n]  # the PUBLISH and its DUP, nothing after
    steps = [("up", n, 0.0), ("down", 4, 0.0), ("up", n, 1.0), ("down", 4, 1.0), ("close up", 0, 2.0)]
    wire = play(steps)
    assert (ctx.bytes_up - before[0], ctx.bytes_down - before[1]) == (wire.up, wire.down)


async def test_qmtdisc_is_followed_by_qmtstat_5(broker_process: Broker) -> None:
    """Against mosquitto: AT+QMTDISC, `+QMTDISC: 0,0`, then `+QMTSTAT: 0,5` (the server closed the
    connection after the client's DISCONNECT, the note's normal process), and the client is gone."""
    port, _ = broker_process
    m, _ = setup("quectel-bg96", table(port))
    dte = Dte(m, speed=1.0)
    try:
        await _connected(dte)
        out = await dte.at("AT+QMTDISC=0", b"+QMTSTAT: 0,5\r\n")
        assert out == OK + b"\r\n+QMTDISC: 0,0\r\n\r\n+QMTSTAT: 0,5\r\n"
        assert await dte.at("AT+QMTOPEN?") == OK
    finally:
        await dte.close()


@pytest.mark.parametrize("conditions", ["full", "gprs"])
def test_qmtdisc_then_the_broker_closing_is_qmtstat_5_billed_as_before(conditions: str) -> None:
    """The note's <err_code> 5, "the client sends a DISCONNECT packet and the server closes the
    MQTT connection" ("a normal process"): AT+QMTDISC -> OK, `+QMTDISC: <idx>,0` once the
    DISCONNECT (the module's FIN on it) has left, then `+QMTSTAT: <idx>,5` when the broker's FIN
    is back (before: never said).  The bytes are the close's as before: the DISCONNECT with the
    FIN, the broker's FIN, the last ACK."""
    m, _, _ = connected_to_stub(net_preset=conditions)
    ctx = m.net.context(1)
    m.take_output(m.now + 1.0)  # the module's delayed ACK of the CONNACK
    before = (ctx.bytes_up, ctx.bytes_down)
    assert at(m, "AT+QMTDISC=0") == OK
    out = m.take_output(m.now + 60.0)  # the broker's FIN is back within a round trip
    assert out == b"\r\n+QMTDISC: 0,0\r\n\r\n+QMTSTAT: 0,5\r\n"
    assert at(m, "AT+QMTOPEN?;+QMTCONN?") == OK  # the client gone
    wire = play([("up", len(mqtt.disconnect()), 0.0), ("close up", 0, 0.0)])
    assert (ctx.bytes_up - before[0], ctx.bytes_down - before[1]) == (wire.up, wire.down)


def test_a_reset_before_the_broker_s_fin_says_no_qmtstat_5() -> None:
    """The module resets between AT+QMTDISC and the broker's FIN: nothing about the old client after
    the boot messages."""
    m, _, _ = connected_to_stub(net_preset="gprs")
    assert at(m, "AT+QMTDISC=0") == OK
    assert m.take_output(m.now) == b"\r\n+QMTDISC: 0,0\r\n"
    m.restart()
    assert b"+QMTSTAT" not in m.take_output(m.now + 30.0)
