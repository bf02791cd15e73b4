"""A modem left answering in digits (ATV0) by a program that had the port before, or by its stored
profile: the client reads its results in either form until the first one tells, tells it ATV1 and
checks that it answers in words; a digit result no command of the client waits for is another
program's."""

from __future__ import annotations

import pytest

from hil.bench import run_bench
from modem.at import errors
from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.command import Command
from modem.at.grammar import Result
from modem.at.parser import ATParser, Final, Foreign, Response
from modem.at.script import ScriptedTransport, steps
from modem.drivers.generic import Modem
from modem.drivers.profile import DriverProfile
from modem.safety import AllowList
from modem.transport import Transport
from modem.virtual.bound import open_bound_virtual

NO_WATCHDOG = WatchdogPolicy(enabled=False)


async def _left_in_digits(url: str) -> Transport:
    """The in-process virtual modem, on an operator's network, after another program sent it ATV0."""
    t, _ = await open_bound_virtual(url, "business-m2m")
    await t.write(b"ATV0\r")
    answer = b""
    while not answer.endswith(b"0\r"):
        answer += await t.read()
    return t


def test_before_its_first_result_either_form_is_read_and_the_first_tells() -> None:
    parser = ATParser()
    assert parser.verbose is None
    parser.begin(Command("ATE0"))
    assert parser.feed(b"0\r") + parser.flush() == [Final(Result.OK, "0", True)]
    assert parser.verbose is False
    # words first: ATV1 from then on, a one-digit line is text
    parser = ATParser()
    parser.begin(Command("ATE0"))
    assert parser.feed(b"\r\nOK\r\n") == [Final(Result.OK, "OK", True)] and parser.verbose is True
    parser.begin(Command("ATS0?"))
    assert parser.feed(b"\r\n0\r") + parser.flush() == [Response("0")]


def test_a_digit_result_no_command_waits_for_is_foreign() -> None:
    parser = ATParser()
    parser.begin(Command("ATV0"))
    assert parser.feed(b"0\r") + parser.flush() == [Final(Result.OK, "0", True)]
    # another program's command, answered OK and ERROR in digits; RING (2) stays unsolicited
    events = parser.feed(b"0\r4\r") + parser.flush()
    assert events == [Foreign("final", "0"), Foreign("final", "4")]


async def test_a_modem_left_in_atv0_is_told_atv1_and_checked() -> None:
    t = await _left_in_digits("virtual://generic?seed=1")
    modem = await Modem.on_transport(t, watchdog=NO_WATCHDOG, timeout=2)
    async with modem:
        assert modem.client._parser.verbose is True
        assert (await modem.client.command("AT+CSQ")).final.line == "OK"
        with pytest.raises(errors.CommandError):  # ERROR in words, not a timeout
            await modem.client.command("AT+NOSUCH")


async def test_a_modem_still_in_digits_after_atv1_fails_the_start() -> None:
    t = ScriptedTransport(steps(("ATE0\r", "0\r"), ("ATV1\r", "0\r"), ("AT\r", "0\r")))
    at = ATClient(t, init=["ATE0"], retry=RetryPolicy(attempts=1), watchdog=NO_WATCHDOG)
    async with at:
        with pytest.raises(errors.ModemError, match="still answers in digits after ATV1"):
            await at.initialise()


async def test_a_bench_run_on_a_modem_left_in_atv0_passes_and_records_the_switch() -> None:
    url = "virtual://quectel-bg96?seed=1&speed=20"
    t = await _left_in_digits(url)
    result = await run_bench("register", url, transport=t, timeout=5)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    assert lines[:4] == ["ATE0", "ATV1", "AT", "AT+CMEE=1"]


async def test_a_foreign_digit_result_fails_the_run_as_untrusted() -> None:
    t = ScriptedTransport(
        steps(
            ("ATV0\r", "0\r"),
            ("AT+CSQ\r", "+CSQ: 20,0\r\n0\r0\r"),  # one more OK: another program's command
            ("AT+CREG?\r", "+CREG: 0,1\r\n0\r"),
        )
    )
    async with ATClient(t, retry=RetryPolicy(attempts=1), watchdog=NO_WATCHDOG) as at:
        await at.command("ATV0")
        await at.command("AT+CSQ")
        with pytest.raises(errors.UntrustedAnswer, match="'0' came, a final result while no command"):
            await at.command("AT+CREG?")


async def test_the_recovery_finds_a_stored_profile_in_digits_and_brings_words_back() -> None:
    # the modem fell silent; its ATZ brings back a profile stored (AT&W) with ATV0
    t = ScriptedTransport(
        steps(
            ("ATE0\r", "\r\nOK\r\n"),
            ("AT+CSQ\r", ""),  # no answer: the watchdog probes, then recovers
            ("ATS3?\r", ""),
            ("\x1b", ""),
            ("+++", ""),
            ("ATQ0\r", "0\r"),  # in digits: the recovery reads either form
            ("ATS4?\r", "010\r\n0\r"),
            ("ATZ\r", "0\r"),
            ("ATQ0\r", "0\r"),
            ("ATE0\r", "0\r"),
            ("ATV1\r", "\r\nOK\r\n"),
            ("AT\r", "\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 20,0\r\n\r\nOK\r\n"),
        )
    )
    watchdog = WatchdogPolicy(probe_timeout=0.2, guard_time=0.0)
    async with ATClient(
        t, init=["ATE0"], timeout=0.2, retry=RetryPolicy(attempts=1), watchdog=watchdog
    ) as at:
        await at.initialise()
        with pytest.raises(errors.CommandTimeout):
            await at.command("AT+CSQ")
        assert at.recoveries == 1 and at._parser.verbose is True, (bytes(t.written), t.mismatch)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 20,0",)
    assert t.done, t.mismatch


async def test_in_digits_answers_shifted_by_another_programs_command_stop_a_dial() -> None:
    t = ScriptedTransport(
        steps(
            ("ATV0\r", "0\r"),
            ("AT+CSQ\r", "0\r"),  # the other program's OK, taken for AT+CSQ's
            ("ATS3?\r", "+CSQ: 20,0\r\n0\r013\r\n0\r"),  # AT+CSQ's own answer, then the read's
        ),
        url="/dev/ttyUSB2",
    )
    client = ATClient(t, retry=RetryPolicy(attempts=1), watchdog=NO_WATCHDOG)
    client.start()
    async with Modem(client, DriverProfile(), AllowList(["+33612345678"])) as modem:
        await modem.client.command("ATV0")
        await modem.client.command("AT+CSQ")
        with pytest.raises(errors.UntrustedAnswer, match="'0' came, a final result while no command"):
            await modem.client.command("ATD+33612345678;")
    assert b"ATD" not in t.written and t.done
