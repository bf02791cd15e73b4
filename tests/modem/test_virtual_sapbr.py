"""SIMCom's application bearer (AT+SAPBR, SIM800 manual §9.2.1) on the virtual SIM800, and
TinyGSM's SIM800 data set-up, which asks for it, through to a TCP echo on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from accounting.records import UsageRecord, UsageType
from gateway.network import Network, NetworkConfig
from gateway.wire import HEADER
from modem.profiles import load_profile
from modem.virtual.conditions import preset
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from modem.virtual.scenario import ServeScenario, provision
from tests.modem.test_virtual_sockets import EPOCH, Dte, Sink, at

APN = "orange.m2m.spec"


def registered(offer: str = "business-m2m-dtmf") -> tuple[VirtualModem, Sink]:
    """A SIM800 registered on the network (echo off), no context active."""
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    m = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
    )
    provision(net, m, ServeScenario(offer=offer))
    m.poll(3.0)
    m.take_output()
    at(m, "ATE0")
    return m, sink


def data_records(sink: Sink) -> list[UsageRecord]:
    return [r for r in sink.records if r.type == UsageType.DATA]


def test_bearer_parameters_are_set_and_shown() -> None:
    m, _ = registered()
    assert at(m, "AT+SAPBR=?") == b'\r\n+SAPBR: (0-4),(1-3), "ConParamTag","ConParamValue"\r\n\r\nOK\r\n'
    assert at(m, 'AT+SAPBR=3,2,"Contype","GPRS"') == b"\r\nOK\r\n"
    assert at(m, f'AT+SAPBR=3,2,"APN","{APN}";+SAPBR=3,2,"USER","u";+SAPBR=3,2,"RATE","3"') == b"\r\nOK\r\n"
    assert (
        at(m, "AT+SAPBR=4,2")
        == (
            f"\r\n+SAPBR:\r\nCONTYPE: GPRS\r\nAPN: {APN}\r\nPHONENUM:\r\nUSER: u\r\nPWD:\r\nRATE: 3\r\n\r\nOK\r\n"
        ).encode()
    )
    assert at(m, "AT+SAPBR=4,1") == (
        b"\r\n+SAPBR:\r\nCONTYPE: GPRS\r\nAPN:\r\nPHONENUM:\r\nUSER:\r\nPWD:\r\nRATE: 2\r\n\r\nOK\r\n"
    )
    at(m, "AT+CMEE=1")
    for bad in (
        'AT+SAPBR=3,1,"COLOUR","red"',  # no such parameter
        'AT+SAPBR=3,1,"CONTYPE","CSD"',  # a CSD bearer: not emulated
        'AT+SAPBR=3,1,"RATE","7"',
        f'AT+SAPBR=3,1,"APN","{"a" * 51}"',
        'AT+SAPBR=3,1,"APN"',
    ):
        assert at(m, bad) == b"\r\n+CME ERROR: 3\r\n", bad
    assert at(m, "AT+SAPBR=2,4") == b"\r\n+CME ERROR: 50\r\n"  # profiles 1-3


def test_opening_the_bearer_activates_a_billed_context_and_closing_writes_its_record() -> None:
    m, sink = registered()
    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    at(m, f'AT+SAPBR=3,1,"APN","{APN}"')
    assert at(m, "AT+SAPBR=1,1") == b"\r\nOK\r\n"
    ctx = m.net.context(1)
    assert ctx.active and ctx.apn == APN and ctx.ip is not None
    assert at(m, "AT+SAPBR=2,1") == f'\r\n+SAPBR: 1,1,"{ctx.ip}"\r\n\r\nOK\r\n'.encode()
    assert at(m, "AT+CGACT?").startswith(b"\r\n+CGACT: 1,1\r\n")
    assert at(m, "AT+SAPBR=1,1") == b"\r\nERROR\r\n"  # already open
    assert data_records(sink) == []
    assert at(m, "AT+SAPBR=0,1", now=m.now + 90.0) == b"\r\nOK\r\n"
    assert not ctx.active
    (rec,) = data_records(sink)
    assert (rec.apn, rec.duration_s, rec.line) == (APN, 90, m.identity.line_id)
    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert at(m, "AT+SAPBR=0,1") == b"\r\nERROR\r\n"  # already closed


def test_a_wrong_apn_or_wrong_credentials_fail_as_on_the_module() -> None:
    m, sink = registered()
    at(m, "AT+CMEE=1")
    at(m, 'AT+SAPBR=3,1,"APN","no.such.apn"')
    assert at(m, "AT+SAPBR=1,1") == b"\r\n+CME ERROR: 3\r\n"
    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    # internet-entreprise asks for PAP with its password: the bearer's USER / PWD are what it checks
    at(m, 'AT+SAPBR=3,1,"APN","internet-entreprise";+SAPBR=3,1,"USER","me";+SAPBR=3,1,"PWD","guess"')
    assert at(m, "AT+SAPBR=1,1") == b"\r\n+CME ERROR: 3\r\n"
    at(m, 'AT+SAPBR=3,1,"PWD","entreprise"')
    assert at(m, "AT+SAPBR=1,1") == b"\r\nOK\r\n"
    assert at(m, "AT+SAPBR=0,1") == b"\r\nOK\r\n"
    assert [r.apn for r in data_records(sink)] == ["internet-entreprise"]


def test_a_context_ended_under_the_bearer_closes_it() -> None:
    m, _ = registered()
    at(m, f'AT+SAPBR=3,1,"APN","{APN}";+SAPBR=1,1')
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert at(m, "AT+SAPBR=1,1") == b"\r\nOK\r\n"  # and it opens again


def test_cipssl_turns_tls_on_and_off() -> None:
    """AT+CIPSSL (SIM800 Series SSL Application Note §2.4), which TinyGSM sends before every
    AT+CIPSTART (=0 for a plain client, =1 for a secure one) and probes with =? (hasSSL)."""
    m, _ = registered()
    assert at(m, "AT+CIPSSL=?") == b"\r\n+CIPSSL: (0,1)\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSSL=0;+CIPSSL?") == b"\r\n+CIPSSL: 0\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSSL=1") == b"\r\nOK\r\n"
    assert at(m, "AT+CIPSSL?") == b"\r\n+CIPSSL: 1\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSSL=2") == b"\r\nERROR\r\n"


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A loopback TCP echo server started for the test: its port."""
    handlers: list[asyncio.Task[object]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def test_tinygsm_s_sim800_connect_echo_and_disconnect(echo_port: int) -> None:
    """TinyGSM's TinyGsmSim800 (src/TinyGsmClientSIM800.h): gprsConnect(APN, "", "") line by line
    with the answer it waits for (it stops at the first that fails: before AT+SAPBR it stopped at
    AT+SAPBR=2,1's ERROR), then a GsmClient (mux 1) connect, write, read and stop, then
    gprsDisconnect; the usage record carries the echo's bytes."""
    m, sink = registered()
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s: 2 s of the host's
    ok = b"OK\r\n"
    # gprsConnect: gprsDisconnect() first
    assert await dte.at("AT+CIPSHUT", b"SHUT OK\r\n") == b"\r\nSHUT OK\r\n"
    assert await dte.at("AT+CGATT=0") == b"\r\nOK\r\n"
    for line in (
        'AT+SAPBR=3,1,"Contype","GPRS"',
        f'AT+SAPBR=3,1,"APN","{APN}"',
        f'AT+CGDCONT=1,"IP","{APN}"',
    ):
        assert await dte.at(line) == b"\r\nOK\r\n", line
    assert await dte.at("AT+CGACT=1,1") == b"\r\nOK\r\n"
    assert await dte.at("AT+SAPBR=1,1") == b"\r\nOK\r\n"
    ip = m.net.context(1).ip
    assert await dte.at("AT+SAPBR=2,1") == f'\r\n+SAPBR: 1,1,"{ip}"\r\n\r\nOK\r\n'.encode()
    for line in (
        "AT+CGATT=1",
        "AT+CIPMUX=1",
        "AT+CIPQSEND=1",
        "AT+CIPRXGET=1",
        f'AT+CSTT="{APN}","",""',
        "AT+CIICR",
    ):
        assert await dte.at(line) == b"\r\nOK\r\n", line
    assert await dte.at("AT+CIFSR;E0") == f"\r\n{ip}\r\n\r\nOK\r\n".encode()
    assert await dte.at('AT+CDNSCFG="8.8.8.8","8.8.4.4"') == b"\r\nOK\r\n"
    # GsmClient(modem, 1).connect("127.0.0.1", port): TLS off first
    assert await dte.at("AT+CIPSSL=0") == b"\r\nOK\r\n"
    await dte.at(f'AT+CIPSTART=1,"TCP","127.0.0.1",{echo_port}', b"1, CONNECT OK\r\n")
    payload = b"tinygsm\x00\xff"
    await dte.at(f"AT+CIPSEND=1,{len(payload)}", b"> ")
    dte.write(payload)
    assert await dte.expect(f"DATA ACCEPT:1,{len(payload)}\r\n".encode()) == (
        f"\r\nDATA ACCEPT:1,{len(payload)}\r\n".encode()
    )
    await dte.expect(b"\r\n+CIPRXGET: 1,1\r\n")
    assert await dte.at("AT+CIPRXGET=4,1") == f"\r\n+CIPRXGET: 4,1,{len(payload)}\r\n\r\nOK\r\n".encode()
    assert await dte.at("AT+CIPRXGET=2,1,64") == (
        f"\r\n+CIPRXGET: 2,1,{len(payload)},0\r\n".encode() + payload + b"\r\n\r\nOK\r\n"
    )
    assert await dte.at("AT+CIPCLOSE=1,1", b"1, CLOSE OK\r\n") == b"\r\n1, CLOSE OK\r\n"
    # gprsDisconnect()
    assert await dte.at("AT+CIPSHUT", b"SHUT OK\r\n") == b"\r\nSHUT OK\r\n"
    assert await dte.at("AT+CGATT=0", ok) == b"\r\nOK\r\n"
    assert await dte.at("AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    await dte.close()
    (rec,) = data_records(sink)
    n = len(payload)
    assert rec.apn == APN
    # one connection to a real endpoint: handshake, the data sent, the echo (carrying the ACK of
    # the data), the module's close (its FIN carrying the ACK of the echo, the server's FIN, the
    # last ACK)
    assert (rec.bytes_up, rec.bytes_down) == (
        HANDSHAKE_UP + (n + HEADER) + 2 * HEADER,
        HANDSHAKE_DOWN + (n + HEADER) + HEADER,
    )
