"""Quectel BG96 TCP stack against transcripts from the Quectel BG96 TCP/IP AT Commands Manual V1.0
(chapter 2 examples for AT+QICSGP, AT+QIACT, AT+QIOPEN, AT+QISEND, AT+QIRD, AT+QICLOSE, AT+QGDCNT;
chapter 4, summary of error codes)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.script import ScriptedTransport, steps
from modem.drivers import Modem, load_driver_profile
from modem.drivers.tcp import TcpError

BG96 = load_driver_profile("quectel-bg96")


def modem_for(t: ScriptedTransport) -> Modem:
    client = ATClient(t, retry=RetryPolicy(delay=0.0), watchdog=WatchdogPolicy(enabled=False))
    client.start()
    return Modem(client, replace(BG96, tcp=replace(BG96.tcp, connect_timeout=5.0)))


OPEN = ('AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,0\r', "\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n")


async def test_buffer_access_mode_session() -> None:
    t = ScriptedTransport(
        steps(
            ('AT+QICSGP=1,1,"UNINET","","",0\r', "\r\nOK\r\n"),
            ("AT+QIACT=1\r", "\r\nOK\r\n"),
            ("AT+QIACT?\r", '\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n'),
            OPEN,
            ("AT+QISEND=0,5\r", "\r\n> "),
            ("test1", '\r\nSEND OK\r\n\r\n+QIURC: "recv",0\r\n'),
            ("AT+QIRD=0,1500\r", "\r\n+QIRD: 5\r\ntest2\r\n\r\nOK\r\n"),
            ("AT+QIRD=0,1500\r", '\r\n+QIRD: 0\r\n\r\nOK\r\n\r\n+QIURC: "closed",0\r\n'),
            ("AT+QGDCNT?\r", "\r\n+QGDCNT: 5,5\r\n\r\nOK\r\n"),
            ("AT+QICLOSE=0\r", "\r\nOK\r\n"),
            ("AT+QIDEACT=1\r", "\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        ip = await modem.tcp.attach("UNINET")
        conn = await modem.tcp.open("220.180.239.212", 8009)
        await modem.tcp.send(conn, b"test1")
        first = await modem.tcp.receive(conn, timeout=5)
        end = await modem.tcp.receive(conn, timeout=5)  # empty read, then the peer's close
        counters = await modem.tcp.counters()
        await modem.tcp.close(conn)
        await modem.tcp.detach()
    assert (ip, conn, first, end) == ("10.7.157.1", 0, b"test2", b"")
    assert (counters.sent, counters.received, counters.module_sent, counters.module_received) == (5, 5, 5, 5)
    assert t.done and t.mismatch is None


async def test_open_error_code_is_explained() -> None:
    t = ScriptedTransport(
        steps(('AT+QIOPEN=1,0,"TCP","no.such.host",80,0,0\r', "\r\nOK\r\n\r\n+QIOPEN: 0,565\r\n"))
    )
    async with modem_for(t) as modem:
        with pytest.raises(TcpError, match="565 \\(DNS parse failed\\)") as info:
            await modem.tcp.open("no.such.host", 80)
    assert info.value.code == 565


async def test_urc_for_another_connection_is_not_taken() -> None:
    t = ScriptedTransport(
        steps(
            OPEN,
            (
                'AT+QIOPEN=1,1,"TCP","10.0.0.2",80,0,0\r',
                "\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n\r\n+QIOPEN: 1,566\r\n",
            ),
        )
    )
    async with modem_for(t) as modem:
        assert await modem.tcp.open("220.180.239.212", 8009) == 0
        with pytest.raises(TcpError) as info:
            await modem.tcp.open("10.0.0.2", 80)
    assert info.value.code == 566


async def test_binary_data_read_by_length() -> None:
    payload = b"OK\r\n\r\nERROR\r\n\x00\xff"
    t = ScriptedTransport(
        steps(
            OPEN,
            ("AT+QIRD=0,1500\r", b"\r\n+QIRD: %d\r\n" % len(payload) + payload + b"\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        conn = await modem.tcp.open("220.180.239.212", 8009)
        assert await modem.tcp.receive(conn, timeout=5) == payload
    assert t.done
