"""The modem's memo of answers (a poller's repeated lines) and the serving hub: the same bytes as the
full interpreter, forgotten whenever anything that an answer shows changes."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import tty
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import FULL
from modem.virtual.core import VirtualModem
from modem.virtual.faults import make_faults
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint, TcpEndpoint
from modem.virtual.serving import ReadyHub

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLLS = ("AT", "AT+CSQ", "AT+CREG?", "AT+CGREG?", "AT+CGATT?", "AT+COPS?", "AT+CPIN?", "AT+CFUN?", "AT+CGMI")
CHANGES = (
    "AT+CREG=2",
    "AT+CREG=0",
    "AT+CGREG=1",
    "AT+COPS=3,2",
    "AT+COPS=3,0",
    "AT+CMEE=2",
    "AT+CMEE=0",
    "ATE1",
    "ATE0",
    "ATV0",
    "ATV1",
    "AT+CFUN=0",
    "AT+CFUN=1",
    "AT+CGATT=0",
    "AT+CGATT=1",
    "A/",
    "AT+BOGUS?",
    "ATS3=13",
)


class Sink:
    def write(self, record: object) -> None:
        pass


def bound(seed: int = 5) -> VirtualModem:
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), Sink())  # type: ignore[arg-type]
    m = VirtualModem(load_profile("simcom-sim800"), network=net, seed=seed, epoch=EPOCH, conditions=FULL)
    provision(net, m, ServeScenario())
    return m


def at(m: VirtualModem, line: str, now: float) -> bytes:
    data = line.encode() if line == "A/" else line.encode() + b"\r"
    m.feed(data, now)
    return m.take_output()


def test_a_repeated_poll_is_answered_from_the_memo_with_the_same_bytes() -> None:
    m = bound()
    at(m, "ATE0", 0.0)
    first = at(m, "AT+CSQ", 10.0)  # registered by then
    assert first == b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n"
    assert m.answer(b"AT+CSQ\r", 10.5) == first  # known, nothing changed
    assert at(m, "AT+CSQ", 11.0) == first


def test_the_memo_forgets_on_a_setting_a_radio_change_a_fault_and_a_timer() -> None:
    m = bound()
    at(m, "ATE0", 0.0)
    at(m, "AT+CREG?", 10.0)
    assert at(m, "AT+CREG?", 10.0) == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    at(m, "AT+CREG=2", 10.0)  # a setting the answer shows
    assert m.answer(b"AT+CREG?\r", 10.0) is None
    assert at(m, "AT+CREG?", 10.0).startswith(b'\r\n+CREG: 2,1,"')
    at(m, "AT+CSQ", 10.0)
    m.radio = replace(m.radio, csq=(5, 3))  # the console's `csq`, set from outside
    assert at(m, "AT+CSQ", 10.0) == b"\r\n+CSQ: 5,3\r\n\r\nOK\r\n"
    m.faults = make_faults({"fail": "+CSQ:cme:100"})
    assert at(m, "AT+CSQ", 10.0) == b"\r\nERROR\r\n"  # CME errors as ERROR: AT+CMEE=0
    m.faults = make_faults({})
    at(m, "AT+CGATT?", 10.0)
    m.schedule(1.0, m.net.lose)  # a timer due at 11 s: the answer holds until then only
    assert m.answer(b"AT+CGATT?\r", 10.5) is not None
    assert at(m, "AT+CGATT?", 11.0).endswith(b"\r\n+CGATT: 0\r\n\r\nOK\r\n")  # after the +CREG URC


def test_the_sms_poll_keeps_the_memo_and_a_message_forgets_it() -> None:
    m = bound()
    at(m, "ATE0", 0.0)
    at(m, "AT+CPMS?", 10.0)
    at(m, "AT+CSQ", 10.0)
    assert m.answer(b"AT+CSQ\r", 15.0) is not None  # five SMS polls later, nothing pending: still known
    assert m.net.network is not None
    m.net.network.submit_sms(15.0, m.identity.line_id, "33600000000", "hello")
    out = at(m, "AT+CSQ", 17.0)
    assert b"+CMTI" in out and out.endswith(b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n")


def test_a_line_observer_or_a_transcript_set_later_sees_every_line() -> None:
    """Set after the memo knows a line, a line observer is told of that line and a transcript records
    it: neither is skipped by an answer from the memo."""
    m = bound()
    at(m, "ATE0", 0.0)
    first = at(m, "AT+CSQ", 10.0)
    assert m.answer(b"AT+CSQ\r", 10.0) == first
    seen: list[str] = []
    m.on_line = seen.append
    assert m.answer(b"AT+CSQ\r", 10.0) is None
    assert at(m, "AT+CSQ", 10.0) == first and seen == ["AT+CSQ"]
    m.on_line = None
    at(m, "AT+CSQ", 10.0)
    assert m.answer(b"AT+CSQ\r", 10.0) == first
    m.transcript = []
    assert at(m, "AT+CSQ", 10.0) == first
    assert m.transcript == [(10.0, "dte", "AT+CSQ")]


def test_echo_and_the_last_line_for_a_slash_follow_the_memo() -> None:
    m = bound()
    at(m, "AT+CSQ", 10.0)
    assert at(m, "AT+CGMI", 10.0) == b"AT+CGMI\r\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"
    assert at(m, "AT+CSQ", 10.0) == b"AT+CSQ\r\r\n+CSQ: 21,0\r\n\r\nOK\r\n"  # from the memo
    assert at(m, "A/", 10.0) == b"A/\r\n+CSQ: 21,0\r\n\r\nOK\r\n"  # repeats +CSQ, the last line


@pytest.mark.parametrize("seed", range(6))
def test_random_sessions_give_the_bytes_of_a_modem_without_memo(seed: int) -> None:
    """Two twins fed the same seeded mix of polls, changes, pauses and split lines; one keeps no memo
    (a line observer turns it off): their outputs are the same bytes."""
    rng = random.Random(seed)
    memo, plain = bound(seed), bound(seed)
    plain.on_line = lambda line: None
    now = 0.0
    hits = 0
    for _ in range(400):
        now += rng.choice((0.0, 0.0, 0.01, 0.3, 1.7))
        r = rng.random()
        line = rng.choice(CHANGES) if r < 0.15 else rng.choice(POLLS)
        data = line.encode() if line == "A/" else line.encode() + b"\r"
        chunks = [data[:3], data[3:]] if r > 0.97 else [data]  # now and then a line in two reads
        for chunk in chunks:
            hits += memo.answer(chunk, now) is not None and not memo._out
            memo.feed(chunk, now)
            plain.feed(chunk, now)
        assert memo.take_output() == plain.take_output(), (seed, now, line)
    assert hits > 40  # the memo did answer


def test_hub_serves_ptys_and_closes_with_its_last_descriptor() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = LoopClock(loop)
        eps = [PtyEndpoint(VirtualModem(load_profile("generic"), index=i), clock) for i in range(3)]
        hub = ReadyHub.of(loop)
        assert all(ReadyHub.of(loop) is hub for _ in eps)
        fds = []
        for ep in eps:
            fd = os.open(ep.path, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(fd)
            fds.append(fd)
        try:
            for fd in fds:
                os.write(fd, b"ATE0\r")
            for fd in fds:
                got = b""
                while not got.endswith(b"OK\r\n"):
                    got += await loop.run_in_executor(None, os.read, fd, 4096)
        finally:
            for fd in fds:
                os.close(fd)
            for ep in eps:
                ep.close()
        assert ReadyHub.of(loop) is not hub  # the old one closed with its last descriptor
        ReadyHub.of(loop).close()

    asyncio.run(main())


def test_tcp_endpoint_a_new_client_takes_over() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ep = TcpEndpoint(VirtualModem(load_profile("generic")), LoopClock(loop), 0)
        await ep.start()
        try:
            r1, w1 = await asyncio.open_connection("127.0.0.1", ep.port)
            w1.write(b"ATE0\r")
            assert (await r1.readuntil(b"OK\r\n")).endswith(b"OK\r\n")
            r2, w2 = await asyncio.open_connection("127.0.0.1", ep.port)
            assert await r1.read() == b""  # the first client is closed
            w2.write(b"AT+CGMI\r")
            assert await r2.readuntil(b"OK\r\n") == b"\r\nM2MSIM\r\n\r\nOK\r\n"
            w2.close()
            w1.close()
        finally:
            ep.close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ep.port), timeout=2).close()

    asyncio.run(main())
