"""SIMCom SIM800 TCP stack against transcripts from the SIM800 Series TCP/IP Application Note V1.02
(§2.3 "Single connection as client", §3 "Multi connection as client") and the SIM800 Series AT
Command Manual V1.10 §8.2 (AT+CIPSTART, AT+CIPSEND, AT+CIFSR, AT+CIPRXGET, AT+CIPCLOSE, AT+CIPSHUT)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.script import ScriptedTransport, steps
from modem.drivers import Modem, load_driver_profile
from modem.drivers.tcp import TcpError

SIM800 = load_driver_profile("simcom-sim800")


def modem_for(t: ScriptedTransport, mux: bool = False) -> Modem:
    client = ATClient(t, retry=RetryPolicy(delay=0.0), watchdog=WatchdogPolicy(enabled=False))
    client.start()
    profile = replace(SIM800, tcp=replace(SIM800.tcp, mux=mux, connect_timeout=5.0))
    return Modem(client, profile)


ATTACH = [
    ("AT+CIPMUX=0\r", "\r\nOK\r\n"),
    ("AT+CIPRXGET=1\r", "\r\nOK\r\n"),
    ('AT+CSTT="CMNET","",""\r', "\r\nOK\r\n"),
    ("AT+CIICR\r", "\r\nOK\r\n"),
    ("AT+CIFSR\r", "\r\n10.78.245.128\r\n"),  # the IP address alone: no OK
]


async def test_single_connection_session() -> None:
    t = ScriptedTransport(
        steps(
            *ATTACH,
            ('AT+CIPSTART="TCP","116.228.221.51","8500"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n"),
            ("AT+CIPSEND=5\r", "\r\n> "),
            ("hello", "\r\nSEND OK\r\n\r\n+CIPRXGET: 1\r\n"),
            ("AT+CIPRXGET=2,1460\r", "\r\n+CIPRXGET: 2,6,0\r\nworld!\r\nOK\r\n"),
            ("AT+CIPCLOSE\r", "\r\nCLOSE OK\r\n"),
            ("AT+CIPSHUT\r", "\r\nSHUT OK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        ip = await modem.tcp.attach("CMNET")
        conn = await modem.tcp.open("116.228.221.51", 8500)
        await modem.tcp.send(conn, b"hello")
        data = await modem.tcp.receive(conn, timeout=5)
        await modem.tcp.close(conn)
        await modem.tcp.detach()
        counters = await modem.tcp.counters()
    assert (ip, conn, data) == ("10.78.245.128", 0, b"world!")
    assert (counters.sent, counters.received) == (5, 6) and t.done and t.mismatch is None


async def test_receive_waits_for_the_data_urc() -> None:
    # Nothing buffered yet: the driver waits for "+CIPRXGET: 1" (here right after the empty read).
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n"),
            ("AT+CIPRXGET=2,1460\r", "\r\n+CIPRXGET: 2,0,0\r\n\r\nOK\r\n\r\n+CIPRXGET: 1\r\n"),
            ("AT+CIPRXGET=2,1460\r", "\r\n+CIPRXGET: 2,4,0\r\n\x00\x01\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        assert await modem.tcp.receive(conn, timeout=5) == b"\x00\x01\r\n"
    assert t.done


async def test_remote_close_ends_receive() -> None:
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n\r\nCLOSED\r\n"),
            ("AT+CIPRXGET=2,1460\r", "\r\nERROR\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        assert await modem.tcp.receive(conn, timeout=5) == b""
        await modem.tcp.close(conn)  # already closed by the peer: nothing to send
    assert t.done


async def test_connect_fail() -> None:
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n")
        )
    )
    async with modem_for(t) as modem:
        with pytest.raises(TcpError, match="CONNECT FAIL"):
            await modem.tcp.open("10.0.0.1", 7)


async def test_send_fail_is_a_tcp_error() -> None:
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n"),
            ("AT+CIPSEND=3\r", "\r\n> "),
            ("abc", "\r\nSEND FAIL\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        with pytest.raises(TcpError, match="SEND FAIL"):
            await modem.tcp.send(conn, b"abc")


async def test_multi_connection_forms() -> None:
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART=0,"TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\n0, CONNECT OK\r\n"),
            ("AT+CIPSEND=0,2\r", "\r\n> "),
            ("hi", "\r\n0, SEND OK\r\n\r\n+CIPRXGET: 1,0\r\n"),
            ("AT+CIPRXGET=2,0,1460\r", "\r\n+CIPRXGET: 2,0,3,0\r\nyo!\r\nOK\r\n"),
            ("AT+CIPCLOSE=0\r", "\r\n0, CLOSE OK\r\n"),
        )
    )
    async with modem_for(t, mux=True) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        await modem.tcp.send(conn, b"hi")
        assert await modem.tcp.receive(conn, timeout=5) == b"yo!"
        await modem.tcp.close(conn)
    assert conn == 0 and t.done


async def test_large_payload_is_split_by_the_profile_limit() -> None:
    data = bytes(range(256)) * 8  # 2048 bytes, max_send 1460
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n"),
            ("AT+CIPSEND=1460\r", "\r\n> "),
            (data[:1460], "\r\nSEND OK\r\n"),
            ("AT+CIPSEND=588\r", "\r\n> "),
            (data[1460:], "\r\nSEND OK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        await modem.tcp.send(conn, data)
    assert t.done


async def test_counters_with_the_module_ack_count() -> None:
    # SIM800 AT manual §8.2.21 AT+CIPACK: +CIPACK: <txlen>,<acklen>,<nacklen> (single connection).
    t = ScriptedTransport(
        steps(
            ('AT+CIPSTART="TCP","10.0.0.1","7"\r', "\r\nOK\r\n\r\nCONNECT OK\r\n"),
            ("AT+CIPSEND=4\r", "\r\n> "),
            ("ping", "\r\nSEND OK\r\n"),
            ("AT+CIPACK\r", "\r\n+CIPACK: 4,4,0\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("10.0.0.1", 7)
        await modem.tcp.send(conn, b"ping")
        counters = await modem.tcp.counters()
    assert (counters.sent, counters.received, counters.module_sent) == (4, 0, 4) and t.done
