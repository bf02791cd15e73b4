"""What cannot be an answer to this client (another program writing to the modem): the echo of a
command line it did not send, a final result no command of its waits for.  The parser says so
(`Foreign`), the client fails the command in flight and sends only the way out from then on."""

from __future__ import annotations

import asyncio

import pytest

from hil.fakemodem import REGISTERED, AnsweringTransport
from modem.at import errors
from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.command import Command
from modem.at.grammar import Result
from modem.at.parser import ATParser, Final, Foreign, Response, Urc
from modem.at.script import ScriptedTransport, steps
from modem.drivers.generic import Modem
from modem.drivers.profile import DriverProfile
from modem.safety import AllowList
from modem.sms import encode_submit


def _parsed(*steps: tuple[str | None, bytes]) -> list[object]:
    parser = ATParser()
    events: list[object] = []
    for line, data in steps:
        if line is not None:
            parser.begin(Command(line))
        events.extend(parser.feed(data))
    return events


def test_the_echo_of_another_programs_command_is_foreign() -> None:
    events = _parsed(("AT+CSQ", b"AT+GCAP\r\r\n+GCAP: +CGSM\r\n\r\nOK\r\n"))
    assert events[0] == Foreign("echo", "AT+GCAP")


def test_the_echo_of_a_command_with_none_in_flight_is_foreign() -> None:
    events = _parsed(("ATE0", b"\r\nOK\r\n"), (None, b"ATI\r"), (None, b"AT E0 V1\r"))
    assert events[1:] == [Foreign("echo", "ATI"), Foreign("echo", "AT E0 V1")]


def test_a_final_result_no_command_waits_for_is_foreign() -> None:
    events = _parsed(("AT+CSQ", b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n"), (None, b"\r\n+CME ERROR: 10\r\n\r\nOK\r\n"))
    assert events[-2:] == [Foreign("final", "+CME ERROR: 10"), Foreign("final", "OK")]


def test_own_echoes_late_answers_and_what_came_before_are_not_foreign() -> None:
    parser = ATParser()
    # what the port held before the first command (a previous session's answer)
    assert parser.feed(b"\r\nOK\r\n") == [Urc("OK", "OK")]
    parser.begin(Command("AT+CSQ"))
    assert parser.feed(b"AT+CSQ\r\r\n+CSQ: 20,0\r\n\r\nOK\r\n")[-1] == Final(Result.OK, "OK", True)
    parser.begin(Command("AT+COPS?"))
    parser.abandon()  # timed out: its echo and answer may still come
    assert parser.feed(b"AT+COPS?\r\r\nOK\r\n") == [Urc("OK", "OK")]
    parser.begin(Command("AT+CLAC"))  # its answer lists command names
    assert parser.feed(b"\r\nAT+CGMI\r\nATD\r\n\r\nOK\r\n")[:2] == [Response("AT+CGMI"), Response("ATD")]
    # identity text that merely starts with AT is not a command line
    parser.begin(Command("AT+CGMI"))
    assert parser.feed(b"\r\nAT&T Wireless\r\n\r\nOK\r\n")[0] == Response("AT&T Wireless")


def _client(modem: AnsweringTransport) -> ATClient:
    return ATClient(modem, retry=RetryPolicy(attempts=1, delay=0.0), watchdog=WatchdogPolicy(enabled=False))


async def test_a_foreign_echo_fails_the_command_and_only_the_way_out_goes() -> None:
    modem = AnsweringTransport(REGISTERED, url="script://")
    seen: list[str] = []
    async with _client(modem) as at:
        at.on_untrusted(seen.append)
        await at.command("ATE0")
        modem.interject("AT+GCAP", "+GCAP: +CGSM")  # ModemManager probing the port
        with pytest.raises(errors.UntrustedAnswer) as failed:
            await at.command("AT+CREG?")
        assert "'AT+GCAP' came, the echo of a command line this client did not send" in str(failed.value)
        assert at.untrusted is not None and seen[0] == at.untrusted
        with pytest.raises(errors.UntrustedAnswer, match=r"^'ATD\+33612345678;': not sent: script://"):
            await at.command("ATD+33612345678;")
        await at.command("ATH")  # the hang-up still goes (after the register read that resynchronises)
    assert not any(line.startswith("ATD") for line in modem.lines)
    assert modem.lines[-2:] == ["ATS3?", "ATH"]


async def test_an_answer_to_another_programs_command_fails_the_run() -> None:
    modem = AnsweringTransport(REGISTERED, url="script://")
    async with _client(modem) as at:
        seen = asyncio.Event()
        at.on_untrusted(lambda why: seen.set())
        await at.command("AT+CSQ")
        # with echo off another program's exchange shows only as its answer
        modem.interject("AT+CGMI", "ACME", echo=False)
        reply = await at.command("AT+CGSN")  # takes the other program's answer: not knowable yet
        assert reply.lines == ("ACME",)
        async with asyncio.timeout(5):
            await seen.wait()  # its own answer, then, came to no command
        assert [f.kind for f in at.foreign] == ["final"]
        with pytest.raises(errors.UntrustedAnswer):
            await at.command("AT+CSQ")


async def test_answers_shifted_by_another_programs_command_stop_a_send() -> None:
    # Echo off: another program's command is answered just before the client's AT+CMGF=0, whose
    # own OK comes after the client's next line was written.  The client took the other program's
    # OK for its own; without a pause no final result ever comes with no command waiting.  Before
    # a line that texts or calls, the client reads an S-register: its own OK comes before the value.

    pdu = encode_submit("hi", "+33612345678")[0]
    t = ScriptedTransport(
        steps(
            ("AT+CMGF=0\r", "\r\nOK\r\n"),  # the other program's OK
            ("ATS3?\r", "\r\nOK\r\n\r\n013\r\n\r\nOK\r\n"),  # the client's own, then the read's
        ),
        url="/dev/ttyUSB2",
    )
    client = _client(t)  # type: ignore[arg-type]
    client.start()
    seen: list[str] = []
    client.on_untrusted(seen.append)
    async with Modem(client, DriverProfile(), AllowList(["+33612345678"])) as modem:
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(errors.UntrustedAnswer, match="'OK' came, a final result while no command"):
            await modem.client.command_with_data(f"AT+CMGS={pdu.tpdu_length}", pdu.hex.encode() + b"\x1a")
    assert b"AT+CMGS" not in t.written and t.done
    assert seen and seen[0].kind == "final" and seen[0].command == "ATS3?"  # type: ignore[attr-defined]


async def test_answers_that_are_the_clients_own_let_a_send_go() -> None:
    modem = AnsweringTransport({**REGISTERED, "ATD": ""}, url="/dev/ttyUSB2")

    client = _client(modem)
    client.start()
    async with Modem(client, DriverProfile(), AllowList(["+33612345678"])) as driver:
        await driver.client.command("ATD+33612345678;")
        await driver.client.check_trust()
    assert modem.lines == ["ATS3?", "ATD+33612345678;", "ATS3?"] and client.untrusted is None
