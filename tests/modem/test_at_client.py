"""The asyncio AT client over a scripted transport: answers, URCs, typed errors, retries, watchdog."""

from __future__ import annotations

import asyncio
import re

import pytest

from hil.fakemodem import Answer, AnsweringTransport
from modem.at import errors
from modem.at.client import ATClient, Reply, RetryPolicy, WatchdogPolicy
from modem.at.command import Command
from modem.at.parser import Urc
from modem.at.script import ScriptedTransport, steps
from modem.drivers.generic import Modem
from modem.drivers.profile import load_driver_profile

FAST_RETRY = RetryPolicy(attempts=4, delay=0.0)
NO_WATCHDOG = WatchdogPolicy(enabled=False)
FAST_WATCHDOG = WatchdogPolicy(probe_timeout=0.5, guard_time=0.0)


# A modem answering nothing (ATQ1): the probe unanswered, then the watchdog's recovery, whose ATQ0
# brings results back, and again after its ATZ (a stored profile may hold ATQ1)
QUIET_RECOVERY: tuple[tuple[str | bytes, str | None], ...] = (
    ("ATS3?\r", None),
    (b"\x1b", None),
    (b"+++", None),
    ("ATQ0\r", "\r\nOK\r\n"),
    ("ATS4?\r", "\r\n010\r\n\r\nOK\r\n"),
    ("ATZ\r", "\r\nOK\r\n"),
    ("ATQ0\r", "\r\nOK\r\n"),
)


def client(t: ScriptedTransport, **kw: object) -> ATClient:
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("watchdog", NO_WATCHDOG)
    return ATClient(t, **kw)  # type: ignore[arg-type]


async def test_reply_lines_and_fields() -> None:
    t = ScriptedTransport(steps(("AT+CSQ\r", "AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n")))
    async with client(t) as at:
        reply = await at.command("AT+CSQ")
    assert reply.lines == ("+CSQ: 17,99",)
    assert reply.fields("+CSQ") == ["17", "99"]
    assert reply.final.ok and t.done and t.mismatch is None


async def test_urc_reaches_subscribers_before_the_command_completes() -> None:
    seen: list[str] = []
    t = ScriptedTransport(steps(("AT+CMGL=4\r", '\r\n+CMTI: "SM",3\r\n\r\nOK\r\n')))
    async with client(t) as at:
        at.subscribe(lambda urc: seen.append(urc.line), {"+CMTI"})
        await at.command("AT+CMGL=4")
        seen.append("reply")
    assert seen == ['+CMTI: "SM",3', "reply"]


async def test_urc_stream_and_filter() -> None:
    t = ScriptedTransport([])
    async with client(t) as at, at.urcs({"RING", "+CLIP"}) as stream:
        t.push(b'\r\n+CREG: 1\r\n\r\nRING\r\n\r\n+CLIP: "+33612345678",145\r\n')
        first = await stream.get(timeout=5)
        second = await stream.get(timeout=5)
    assert (first.name, second.name) == ("RING", "+CLIP")
    assert second.fields == ['"+33612345678"', "145"]


async def test_typed_error_carries_code_and_meaning() -> None:
    t = ScriptedTransport(steps(("AT+CIMI\r", "\r\n+CME ERROR: 10\r\n")))
    async with client(t) as at:
        with pytest.raises(errors.SimNotInserted) as info:
            await at.command("AT+CIMI")
    assert info.value.code == 10 and info.value.meaning == "SIM not inserted"


async def test_sim_busy_is_retried_then_succeeds() -> None:
    # ZTE modules answer CME 14 while the SIM initialises (field notes).
    t = ScriptedTransport(
        steps(
            ("AT+CPIN?\r", "\r\n+CME ERROR: 14\r\n"),
            ("AT+CPIN?\r", "\r\n+CME ERROR: SIM busy\r\n"),
            ("AT+CPIN?\r", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        )
    )
    async with client(t) as at:
        reply = await at.command("AT+CPIN?")
    assert reply.lines == ("+CPIN: READY",) and t.done


async def test_please_wait_retries_are_bounded() -> None:
    # Wavecom returns CME 515 twice after AT+CFUN=1 (field notes); here it never stops.
    t = ScriptedTransport(steps(*[("AT+COPS?\r", "\r\n+CME ERROR: 515\r\n")] * 3))
    async with client(t, retry=RetryPolicy(attempts=3, delay=0.0)) as at:
        with pytest.raises(errors.PleaseWait):
            await at.command("AT+COPS?")
    assert t.written.count(b"AT+COPS?\r") == 3 and t.done


async def test_permanent_errors_are_not_retried() -> None:
    t = ScriptedTransport(steps(("AT+CGACT=1,1\r", "\r\n+CME ERROR: 148\r\n")))
    async with client(t) as at:
        with pytest.raises(errors.CMEError) as info:
            await at.command("AT+CGACT=1,1")
    assert info.value.code == 148 and t.written == bytearray(b"AT+CGACT=1,1\r")


async def test_timeout_without_watchdog() -> None:
    t = ScriptedTransport(steps(("AT+COPS=?\r", None)))
    async with client(t) as at:
        with pytest.raises(errors.CommandTimeout) as info:
            await at.command("AT+COPS=?", timeout=0.05)
    assert info.value.timeout == 0.05


async def test_per_command_timeouts_come_from_the_table() -> None:
    t = ScriptedTransport([])
    at = ATClient(t, timeout=5.0, timeouts={"+QIOPEN": 42.0})
    assert at.timeout_for(Command("AT+COPS=?")) == 180.0
    assert at.timeout_for(Command('AT+QIOPEN=1,0,"TCP","h",1,0,0')) == 42.0
    assert at.timeout_for(Command("ATD+33612345678;")) == 60.0
    assert at.timeout_for(Command("AT+CSQ")) == 5.0
    assert at.timeout_for(Command("AT+CSQ", timeout=1.5)) == 1.5


async def test_watchdog_recovers_a_stuck_modem_and_keeps_queued_commands() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CSQ\r", None),  # the modem is stuck
            ("ATS3?\r", None),  # the watchdog's probe (a resynchronisation) gets no answer either
            (b"\x1b", None),  # cancel a pending prompt
            (b"+++", "\r\nOK\r\n"),  # escape from data mode
            ("ATQ0\r", "\r\nOK\r\n"),
            ("ATS4?\r", "\r\n010\r\n\r\nOK\r\n"),  # where the answers stand, after ESC and +++
            ("ATZ\r", "\r\nOK\r\n"),
            ("ATQ0\r", "\r\nOK\r\n"),  # a stored profile may hold ATQ1
            ("ATE0\r", "ATE0\r\r\nOK\r\n"),  # the init sequence, re-run
            ("AT+CMEE=1\r", "\r\nOK\r\n"),
            ("AT+CREG?\r", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),  # queued meanwhile
            ("AT+CGSN\r", "\r\n869262030000012\r\n\r\nOK\r\n"),  # queued meanwhile
        )
    )
    async with client(t, watchdog=FAST_WATCHDOG, init=["ATE0", "AT+CMEE=1"]) as at:
        stuck = asyncio.create_task(at.command("AT+CSQ", timeout=0.1))
        queued = [asyncio.create_task(at.command("AT+CREG?")), asyncio.create_task(at.command("AT+CGSN"))]
        with pytest.raises(errors.CommandTimeout):
            await stuck
        creg, cgsn = await asyncio.gather(*queued)
    assert creg.lines == ("+CREG: 0,1",) and cgsn.lines == ("869262030000012",)
    assert at.recoveries == 1 and t.done and t.mismatch is None


async def test_watchdog_brings_back_a_modem_left_quiet_by_atq1() -> None:
    # V.250 Q1: no result codes at all, not even to AT; ATQ0 turns them back on (and answers OK).
    t = ScriptedTransport(
        steps(("ATQ1\r", None), *QUIET_RECOVERY, ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"))
    )
    async with client(t, watchdog=FAST_WATCHDOG) as at:
        with pytest.raises(errors.CommandTimeout, match="'ATQ1'"):
            await at.command("ATQ1", timeout=0.05)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 21,0",)
    assert at.recoveries == 1 and t.done


async def test_a_prompt_with_no_text_to_send_is_cancelled_at_once() -> None:
    # AT+CMGW sent as a plain command: the modem answers `> ` and waits for text. ESC ends the
    # entry (27.005 §3.5.3: nothing stored); the command fails then, not after its timeout with
    # the watchdog's AT typed in as text.
    t = ScriptedTransport(
        steps(
            ('AT+CMGW="+33612345678"\r', "\r\n> "),
            (b"\x1b", "\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
        )
    )
    async with client(t, watchdog=FAST_WATCHDOG) as at:
        with pytest.raises(errors.CommandError, match="asked for text and none was given"):
            await at.command('AT+CMGW="+33612345678"', timeout=30)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 21,0",)
    assert at.recoveries == 0 and t.done


async def test_watchdog_leaves_a_slow_but_alive_modem_alone() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CSQ\r", None),
            ("ATS3?\r", "\r\n013\r\n\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 3,0\r\n\r\nOK\r\n"),
        )
    )
    async with client(t, watchdog=FAST_WATCHDOG) as at:
        with pytest.raises(errors.CommandTimeout):
            await at.command("AT+CSQ", timeout=0.05)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 3,0",)
    assert at.recoveries == 0 and t.done


async def test_idle_watchdog_probes_a_quiet_link() -> None:
    t = ScriptedTransport(steps(("AT\r", "\r\nOK\r\n")))
    async with client(t, watchdog=WatchdogPolicy(idle_interval=0.01, probe_timeout=1.0, guard_time=0.0)):
        await asyncio.wait_for(t.finished.wait(), 5)
    assert t.written.startswith(b"AT\r")


async def test_prompt_then_data_then_final() -> None:
    # 27.005 §3.5.1 AT+CMGS in PDU mode: length, "> ", PDU and Ctrl-Z, then +CMGS: <mr>.
    pdu = b"0001000B913366214365F700000CC8329BFD065DDF72363904"
    t = ScriptedTransport(steps(("AT+CMGS=24\r", "\r\n> "), (pdu + b"\x1a", "\r\n+CMGS: 4\r\n\r\nOK\r\n")))
    async with client(t) as at:
        reply = await at.command_with_data("AT+CMGS=24", pdu + b"\x1a")
    assert reply.fields("+CMGS") == ["4"] and t.done


async def test_error_before_the_prompt_sends_no_data() -> None:
    t = ScriptedTransport(steps(("AT+CMGS=24\r", "\r\n+CMS ERROR: 302\r\n")))
    async with client(t) as at:
        with pytest.raises(errors.CMSError) as info:
            await at.command_with_data("AT+CMGS=24", b"00\x1a")
    assert info.value.code == 302 and t.written == bytearray(b"AT+CMGS=24\r")


async def test_end_of_stream_fails_the_pending_command() -> None:
    t = ScriptedTransport(steps(("AT+CSQ\r", b"\r\n+CSQ: 1,0\r\n")))
    async with client(t) as at:
        task = asyncio.create_task(at.command("AT+CSQ"))
        await asyncio.wait_for(t.finished.wait(), 5)  # the command went out and was half answered
        await t.close()
        with pytest.raises(errors.ConnectionClosed):
            await task


async def test_unexpected_command_is_reported_by_the_script() -> None:
    t = ScriptedTransport(steps(("AT+CSQ\r", "\r\nOK\r\n")))
    async with client(t) as at:
        with pytest.raises(errors.ConnectionClosed):
            await at.command("AT+CREG?")
    assert t.mismatch is not None and "AT+CREG?" in t.mismatch


async def test_data_mode_and_escape() -> None:
    t = ScriptedTransport(
        steps(
            ("ATD0612345678\r", "\r\nCONNECT 9600\r\nhello"),
            (b"ping", b"pong"),
            (b"+++", "\r\nOK\r\n"),
            ("ATH\r", "\r\nOK\r\n"),
        )
    )
    async with client(t, watchdog=WatchdogPolicy(guard_time=0.0)) as at:
        reply = await at.command(Command("ATD0612345678", data_mode=True))
        assert reply.final.value == "9600"
        assert await at.read_data(timeout=5) == b"hello"
        await at.write_data(b"ping")
        assert await at.read_data(timeout=5) == b"pong"
        await at.escape()
        await at.command("ATH")
    assert t.done


async def test_callback_errors_do_not_stop_the_reader() -> None:
    got: list[Urc] = []

    def broken(urc: Urc) -> None:
        raise RuntimeError("handler bug")

    t = ScriptedTransport(steps(("AT\r", "\r\nRING\r\n\r\nOK\r\n")))
    async with client(t) as at:
        at.subscribe(broken)
        at.subscribe(got.append)
        await at.command("AT")
    assert [u.name for u in got] == ["RING"]


async def test_answer_without_ok_ends_the_command_when_the_profile_says_so() -> None:
    # Wavecom answers AT+CPIN? with "+CPIN: READY" and no OK (field notes).
    t = ScriptedTransport(
        steps(("AT+CPIN?\r", "\r\n+CPIN: READY\r\n"), ("AT+CSQ\r", "\r\n+CSQ: 8,0\r\n\r\nOK\r\n"))
    )
    async with client(t) as at:
        at.final_patterns["AT+CPIN?"] = r"\+CPIN: .*"
        assert (await at.command("AT+CPIN?")).lines == ("+CPIN: READY",)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 8,0",)
    assert t.done


async def test_busy_after_the_data_went_out_is_not_retried() -> None:
    # Re-sending would send the SMS twice: a transient error after the PDU is final.
    t = ScriptedTransport(steps(("AT+CMGS=24\r", "\r\n> "), (b"00\x1a", "\r\n+CMS ERROR: 314\r\n")))
    async with client(t) as at:
        with pytest.raises(errors.SmsSimBusy):
            await at.command_with_data("AT+CMGS=24", b"00\x1a")
    assert t.written == bytearray(b"AT+CMGS=24\r00\x1a")


async def test_busy_before_the_prompt_is_retried() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CMGS=24\r", "\r\n+CMS ERROR: 314\r\n"),
            ("AT+CMGS=24\r", "\r\n> "),
            (b"00\x1a", "\r\n+CMGS: 9\r\n\r\nOK\r\n"),
        )
    )
    async with client(t) as at:
        reply = await at.command_with_data("AT+CMGS=24", b"00\x1a")
    assert reply.fields("+CMGS") == ["9"] and t.done


class ChunkedModem:
    """Answers each command line with these chunks, each one read of its own."""

    url = "script://chunked"

    def __init__(self, answers: dict[bytes, list[bytes]]) -> None:
        self.answers = answers
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        for chunk in self.answers[data]:
            self.inbox.put_nowait(chunk)

    async def close(self) -> None:
        self.inbox.put_nowait(b"")


async def test_a_one_digit_answer_is_the_value_in_either_result_format() -> None:
    # ATV1: `0` answering ATS0? is the register's value, not the numeric OK; ATV0: the value is
    # `0<CR><LF>`, the result `0<CR>`, even when a read ends between the CR and the LF
    t = ChunkedModem(
        {
            b"ATS0?\r": [b"\r\n0\r\n\r\nOK\r\n"],
            b"ATV0\r": [b"0\r"],
            b"ATS7?\r": [b"3\r", b"\n0", b"\r"],
            b"ATV1\r": [b"0\r"],
        }
    )
    async with ATClient(t, watchdog=WatchdogPolicy(enabled=False)) as at:
        assert (await at.command("ATS0?")).lines == ("0",)
        await at.command("ATV0")
        reply = await at.command("ATS7?")
        assert reply.lines == ("3",) and reply.final.line == "0"
        await at.command("ATV1")
        t.answers[b"ATS7?\r"] = [b"\r\n3\r\n\r\nOK\r\n"]
        assert (await at.command("ATS7?")).lines == ("3",)


class _UnpluggedTransport(ScriptedTransport):
    """A port whose device goes away while a command waits: its read fails as the serial and pty
    transports fail then (`TransportError`: pyserial's "device reports readiness to read but
    returned no data"), not with an end of stream."""

    unplugged: asyncio.Event

    async def read(self) -> bytes:
        data = await super().read()
        if not data and self.unplugged.is_set():
            raise errors.TransportError(f"{self.url}: read failed: device disconnected")
        return data


async def test_a_port_whose_read_fails_fails_the_pending_command_and_closes_cleanly() -> None:
    t = _UnpluggedTransport(steps(("AT+CSQ\r", b"\r\n+CSQ: 1,0\r\n")))
    t.unplugged = asyncio.Event()
    at = client(t, timeout=30)
    at.start()
    task = asyncio.create_task(at.command("AT+CSQ"))
    await asyncio.wait_for(t.finished.wait(), 5)  # the command went out and was half answered
    t.unplugged.set()
    await t.close()
    with pytest.raises(errors.ConnectionClosed, match="device disconnected"):
        await asyncio.wait_for(task, 5)  # at once, not after the command's 30 s
    with pytest.raises(errors.ConnectionClosed, match="device disconnected"):
        await at.command("AT")  # a later command says why the port is gone, too
    await at.close()  # the reader's failure was the command's: closing does not raise it again


class _SilentTransport:
    """A port with nothing behind it (a modem off, another port, another baud rate): every byte
    written is kept, nothing ever comes back."""

    url = "/dev/ttyUSB9"

    def __init__(self) -> None:
        self.written = bytearray()
        self._closed = asyncio.Event()

    async def read(self) -> bytes:
        await self._closed.wait()
        return b""

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close(self) -> None:
        self._closed.set()


async def not_answering(t: _SilentTransport, line: str) -> errors.ModemNotAnswering:
    """What the client raises when `line` finds the modem answering nothing, within 0.2 s."""
    async with client(t, watchdog=FAST_WATCHDOG, timeout=0.2) as at:  # type: ignore[arg-type]
        with pytest.raises(errors.ModemNotAnswering) as info:
            await at.command(line)
    assert str(info.value).startswith(
        f"{line!r}: no final result within 0.2 s, and /dev/ttyUSB9 answers nothing"
    )
    return info.value


async def test_a_modem_that_answers_nothing_is_named_with_the_command_that_found_it() -> None:
    t = _SilentTransport()
    error = await not_answering(t, "ATE0")
    # the caller's command and timeout, not the recovery's own ATQ0, and what to check
    message = str(error)
    assert "nor ATQ0 after its recovery" in message and "baud rate" in message
    assert isinstance(error, errors.CommandTimeout) and error.command == "ATE0" and error.noise == 0
    assert b"ATQ0\r" in t.written  # the recovery was tried


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to its next timer whenever nothing is ready to run: timeouts
    and guard times pass at once, by their exact lengths (no real waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        real = self._selector  # type: ignore[attr-defined]
        loop = self

        class _Selector:
            def select(self, timeout: float | None = None) -> list[object]:
                events = real.select(0)
                if not events and timeout:
                    loop.now += timeout
                return events  # type: ignore[no-any-return]

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

        self._selector = _Selector()

    def time(self) -> float:
        return self.now


def test_a_modem_that_answers_nothing_says_how_long_the_command_and_the_recovery_took() -> None:
    # the default watchdog, a command timing out after 3 s: its probe (ATS3?, 2 s), ESC, the guard
    # time (1 s), +++ and the wait for its OK (guard time + probe, 3 s), ATQ0 (2 s): 8 s more
    async def run() -> tuple[errors.ModemNotAnswering, float]:
        t = _SilentTransport()
        loop = asyncio.get_running_loop()
        async with client(t, watchdog=WatchdogPolicy(), timeout=3) as at:  # type: ignore[arg-type]
            started = loop.time()
            with pytest.raises(errors.ModemNotAnswering) as info:
                await at.command("AT+CSQ")
            return info.value, loop.time() - started

    loop = _VirtualTimeLoop()
    try:
        error, took = loop.run_until_complete(run())
    finally:
        loop.close()
    assert (took, error.timeout, error.recovery_time) == (11.0, 3, 8.0)
    assert (
        "no final result within 3 s, and /dev/ttyUSB9 answers nothing, not the watchdog's probe, nor "
        "ATQ0 after its recovery (the command waited 3 s, then the watchdog's probe and its recovery, "
        "ESC and the +++ escape with its guard times, 8.0 s)"
    ) in str(error)


class _OtherBaudRate(_SilentTransport):
    """A modem that restarted at another baud rate: each line it is sent comes out as bytes that are
    not text (an OK at 115200 read at 9600), never an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        await super().write(data)
        if data.endswith(b"\r"):
            self.inbox.put_nowait(b"\xe0\x00\xfc\r\n\x80\x1c\xf8\r\n")

    async def close(self) -> None:
        self.inbox.put_nowait(b"")


async def test_a_modem_at_another_baud_rate_is_said_to_be_so() -> None:
    error = await not_answering(_OtherBaudRate(), "AT+CSQ")
    assert re.search(
        r"\b\d+ bytes of line noise came instead, as from a modem at another baud rate", str(error)
    )
    assert error.noise > 0


async def test_a_late_answer_is_not_taken_for_the_next_command_s() -> None:
    # A module busy past a command's timeout answers it later, in order, before the next line's
    # answer: that OK is not the next command's (here the next one is refused with ERROR).
    modem = AnsweringTransport({"AT+CMGF=0": Answer(final="ERROR")}, url="script://")
    modem.hold()
    async with client(modem) as at:  # type: ignore[arg-type]
        with pytest.raises(errors.CommandTimeout):
            await at.command("AT+CMGF=1", timeout=0.05)
        modem.received.clear()
        following = asyncio.create_task(at.command("AT+CMGF=0"))
        await asyncio.wait_for(modem.received.wait(), 5)  # the client wrote its next line
        modem.catch_up()  # AT+CMGF=1's late OK, then the answer to that line
        with pytest.raises(errors.CommandError, match=re.escape("'AT+CMGF=0': ERROR")):
            await asyncio.wait_for(following, 5)
        assert (await at.command("AT+CMGF=1")).final.ok  # one answer per command from then on
    assert modem.lines[0] == "AT+CMGF=1" and modem.lines[-2:] == ["AT+CMGF=0", "AT+CMGF=1"]


async def test_a_late_answer_to_the_resynchronisation_is_not_the_next_one_s() -> None:
    # The modem answers nothing for a while: the command, then the resynchronisation, time out;
    # their late answers come before the third line's, which is the one its command gets.
    modem = AnsweringTransport({"AT+CSQ": "+CSQ: 20,0"}, url="script://")
    modem.hold()
    async with client(modem) as at:  # type: ignore[arg-type]
        with pytest.raises(errors.CommandTimeout):
            await at.command("AT+CGSN", timeout=0.05)
        with pytest.raises(errors.CommandTimeout, match=r"'AT\+CSQ': not sent: .* did not answer ATS3\?"):
            await at.command("AT+CSQ", timeout=0.05)
        modem.received.clear()
        following = asyncio.create_task(at.command("AT+CSQ"))
        await asyncio.wait_for(modem.received.wait(), 5)
        modem.catch_up()
        assert (await asyncio.wait_for(following, 5)).lines == ("+CSQ: 20,0",)
    assert modem.lines == ["AT+CGSN", "ATS3?", "ATS4?", "AT+CSQ"]


async def test_an_echo_back_after_ate0_is_a_restart_the_modem_did_not_announce() -> None:
    # a SIM800 at auto-baud prints no RDY: its restart shows in its echo, back on after ATE0
    t = ScriptedTransport(
        steps(
            ("AT+CSQ\r", "AT+CSQ\r\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),  # echo on, as after power-up: nothing lost
            ("ATE0\r", "ATE0\r\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
            ("AT+CSQ\r", "AT+CSQ\r\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),  # restarted since
            ("AT+CSQ\r", "AT+CSQ\r\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),  # the same restart: told once
        )
    )
    told: list[str] = []
    async with client(t) as at:
        at.on_restart(told.append)
        for _ in range(5):
            await at.command("ATE0" if t.steps[0].expect == b"ATE0\r" else "AT+CSQ")
    assert at.restarts == 1 and len(told) == 1 and "echoed 'AT+CSQ', though ATE0 was answered" in told[0]


async def test_a_late_prompt_is_cancelled_and_the_resynchronisation_goes_on() -> None:
    # AT+CMGW's `> ` comes past its timeout, as the resynchronisation is written (typed in as text):
    # ESC ends that entry (nothing stored), and the next read finds where the answers stand
    t = ScriptedTransport(
        steps(
            ('AT+CMGW="+33612345678"\r', None),
            ("ATS3?\r", "\r\n> "),
            (b"\x1b", "\r\nOK\r\n"),
            ("ATS4?\r", "\r\n010\r\n\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
        )
    )
    async with client(t, watchdog=WatchdogPolicy(enabled=False, probe_timeout=0.2)) as at:
        with pytest.raises(errors.CommandTimeout):
            await at.command_with_data('AT+CMGW="+33612345678"', b"hi\x1a", timeout=0.05)
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 21,0",)
    assert t.done and t.mismatch is None


class _EscapableModem(AnsweringTransport):
    """Answers `+++` (no line end) with OK, as a module in data mode does after the guard time."""

    async def write(self, data: bytes) -> None:
        if data == b"+++":
            self.written += data
            self._send(b"\r\nOK\r\n")
            return
        await super().write(data)


async def test_a_late_ok_to_the_escape_is_not_the_hang_up_s() -> None:
    # the OK to +++ comes past its wait, before ATH's ERROR: ATH must not take it for its own (the
    # call would be thought ended, and is not)
    modem = _EscapableModem(
        {"ATD": Answer(final="CONNECT 9600"), "ATH": Answer(final="ERROR")}, url="script://"
    )
    async with client(modem, watchdog=WatchdogPolicy(guard_time=0.0, probe_timeout=0.05)) as at:  # type: ignore[arg-type]
        await at.command(Command("ATD0612345678", data_mode=True))
        modem.hold()
        await at.escape()  # no OK within its wait
        modem.received.clear()
        hang_up = asyncio.create_task(at.command("ATH"))
        await asyncio.wait_for(modem.received.wait(), 5)
        modem.catch_up()  # the OK to +++, then the answer to the line written since
        with pytest.raises(errors.CommandError, match="'ATH': ERROR"):
            await asyncio.wait_for(hang_up, 5)


async def test_a_urc_right_after_the_prompt_does_not_hide_it() -> None:
    # in ATV0 a URC has no leading line end: it may follow the `> ` at once
    pdu = b"0001000B913366214365F700000CC8329BFD065DDF72363904"
    t = ScriptedTransport(
        steps(("AT+CMGS=24\r", '> +CMTI: "SM",1\r\n'), (pdu + b"\x1a", "\r\n+CMGS: 4\r\n\r\nOK\r\n"))
    )
    async with client(t) as at, at.urcs({"+CMTI"}) as urcs:
        reply = await at.command_with_data("AT+CMGS=24", pdu + b"\x1a", timeout=2)
        assert (await urcs.get(timeout=1)).line == '+CMTI: "SM",1'
    assert reply.fields("+CMGS") == ["4"] and t.done


class _SavedEchoOff(AnsweringTransport):
    """A SIM800 whose stored profile (AT&W) has echo off, at auto-baud: a restart prints no RDY and
    brings no echo back; only what it does not store, its +CMEE and +CREG settings, go back to
    their power-up values.  Its supply sags as `at` is sent: that command's answer is lost."""

    def __init__(self, at: str) -> None:
        super().__init__(
            {
                "AT+CMEE?": lambda _: f"+CMEE: {self.cmee}",
                "AT+CMEE=": self._set_cmee,
                "AT+CREG?": lambda _: f"+CREG: {self.creg},1",
                "AT+CREG=": self._set_creg,
            },
            url="/dev/ttyUSB9",
        )
        self.at = at
        self.cmee = self.creg = 0

    def _set_cmee(self, line: str) -> str:
        self.cmee = int(line.rpartition("=")[2])
        return ""

    def _set_creg(self, line: str) -> str:
        self.creg = int(line.rpartition("=")[2])
        return ""

    def _reply(self, line: str) -> None:
        if line == self.at:
            self.cmee = self.creg = 0  # restarted as it read the line: no answer
            return
        super()._reply(line)


class _Guard:
    def __init__(self) -> None:
        self.forgot: list[str] = []

    def check(self, line: str, data: bytes | None = None) -> None: ...

    def done(self, line: str, lines: object = ()) -> None: ...

    def urc(self, name: str, line: str = "") -> None: ...

    def restarted(self, why: str) -> None:
        self.forgot.append(why)

    def check_data_write(
        self, data_mode: bool, data: bytes, numeric: bool = False, *, seven_bit: bool = False
    ) -> None: ...

    def written(self, data: bool = False) -> None: ...

    def write_failed(self, data: bytes) -> None: ...


async def test_a_restart_with_echo_off_stored_shows_in_a_setting_read_back_after_a_timeout() -> None:
    modem = _SavedEchoOff(at="AT+COPS?")
    told: list[str] = []
    guard = _Guard()
    async with client(modem, init=["ATE0", "AT+CMEE=1"], watchdog=FAST_WATCHDOG) as at:  # type: ignore[arg-type]
        at.guard = guard
        at.on_restart(told.append)
        await at.initialise()
        await at.command("AT+CSQ")
        assert at.restarts == 0 and at.settings == {"+CMEE": ("1",)}
        with pytest.raises(errors.CommandTimeout):
            await at.command("AT+COPS?", timeout=0.05)  # the modem came back answering, not echoing
        assert at.restarts == 1 and len(told) == 1 and len(guard.forgot) == 1
        assert getattr(told[0], "sign", None) == "+CMEE back to its power-up value"
        assert "'+CMEE: 0' where +CMEE=1 was answered OK before" in told[0]
        assert at.settings == {}
    assert modem.lines[-2:] == ["ATS3?", "AT+CMEE?"]


async def test_a_setting_read_back_otherwise_than_set_tells_a_restart() -> None:
    # the read a driver makes anyway (the registration before a dial) tells it, with no line more
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        told: list[str] = []
        at.on_restart(told.append)
        await at.initialise()
        await at.command("AT+CREG?")  # as set: +CREG: 2,1
        assert at.restarts == 0
        modem.creg = 0  # restarted: its registration URCs off, roaming not told
        await at.command("AT+CREG?")
        assert at.restarts == 1 and told[0].startswith("+CREG lost: it reads '+CREG: 0,1' where +CREG=2")
        modem.cmee = 0
        await at.command("AT+CMEE?")  # +CMEE never set: nothing more to tell
    assert at.restarts == 1
    # before the next line, the client's settings set again and read back
    at_restart = modem.lines.index("ATQ0V1")
    assert modem.lines[at_restart:] == ["ATQ0V1", "ATE0", "AT+CREG=2", "AT", "AT+CREG?", "AT+CMEE?"]


async def test_a_reset_asked_for_or_a_setting_stored_tells_no_restart() -> None:
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem) as at:  # type: ignore[arg-type]
        await at.command("AT+CMEE=1")
        assert await at.check_settings()  # as set
        await at.command("ATZ")  # the stored profile's values: not the ones set
        modem.cmee = 0
        assert await at.check_settings() and at.restarts == 0
        await at.command("AT+CMEE=2;+CREG=2")
        assert at.settings == {"+CMEE": ("2",), "+CREG": ("2",)}
        modem.cmee = modem.creg = 0
        assert not await at.check_settings() and at.restarts == 1


async def test_a_modem_told_atv0_that_answers_in_words_restarted() -> None:
    t = ScriptedTransport(
        steps(
            ("ATV0\r", "0\r"),
            ("AT+CSQ\r", "+CSQ: 21,0\r\n0\r"),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),  # words: back on its defaults
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
        )
    )
    async with client(t) as at:
        for line in ("ATV0", "AT+CSQ", "AT+CSQ", "AT+CSQ"):
            await at.command(line)
    assert at.restarts == 1 and t.done


async def test_a_boot_notice_nothing_asked_for_is_a_restart_once() -> None:
    now = [0.0]
    t = ScriptedTransport(
        steps(
            ("AT+CSQ\r", "\r\nSMS Ready\r\n\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),  # the power-up's, late
            ("AT+CFUN=1\r", "\r\nOK\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
        )
    )
    at = client(t)
    at.clock = lambda: now[0]
    async with at, at.urcs({"SMS Ready", "Call Ready", "+CPIN", "+CFUN"}) as urcs:
        told: list[str] = []
        at.on_restart(told.append)
        for line in ("AT+CSQ", "AT+CFUN=1", "AT+CSQ"):
            await at.command(line)
        for _ in range(4):
            await urcs.get(timeout=5)
        assert at.restarts == 0  # the power-up's, and those AT+CFUN=1 asked for
        now[0] += 120.0  # much later, unasked: a restart, its notices told once
        t.push(b"\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n")
        for _ in range(4):
            await urcs.get(timeout=5)
    assert at.restarts == 1 and getattr(told[0], "sign", None) == "unasked +CFUN: 1"


async def test_rdy_begins_a_boot_whose_notices_are_not_another_restart() -> None:
    now = [0.0]
    t = ScriptedTransport([])
    at = client(t)
    at.clock = lambda: now[0]
    async with at, at.urcs({"RDY", "Call Ready", "SMS Ready"}) as urcs:
        t.push(b"\r\nCall Ready\r\n\r\nSMS Ready\r\n")  # the power-up's, as the client started
        now[0] += 10.0
        t.push(b"\r\nRDY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n")  # a restart RDY announces
        for _ in range(5):
            await urcs.get(timeout=5)
    assert at.restarts == 0  # RDY's to tell (the bench does), and the notices after it its boot's


async def _answered_after(modem: AnsweringTransport, at: ATClient, line: str, pushed: bytes) -> Reply:
    """`line`'s reply when `pushed` comes between its being sent and the fake modem's answer."""
    modem.hold()
    modem.received.clear()
    answer = asyncio.create_task(at.command(line))
    await asyncio.wait_for(modem.received.wait(), 5)
    modem.push(pushed)
    modem.catch_up()
    return await asyncio.wait_for(answer, 5)


async def test_text_mode_answers_a_message_came_into_or_a_status_report_heads() -> None:
    """A text-mode +CMT with its <length> (AT+CSDH=1) pushed while AT+CSQ is answered, its text
    holding `OK` and `+CME ERROR: 10` lines: those lines were AT+CSQ's answer and final result.
    A listing whose first entry is a stored status report (a header alone, 27.005 §3.4.2) took the
    next message's header for the report's text and ended at that message's line `OK`."""
    text = "hi\r\nOK\r\n+CME ERROR: 10\r\nbye"
    head = f'+CMT: "+33611111111",,"26/12/07,10:00:00+04",145,4,0,0,"+33689004000",145,{len(text)}'
    report = '1,"REC READ",6,0,"+447700900123",145,"26/03/02,08:00:04+00","26/03/02,08:00:04+00",0'
    message = '2,"REC READ","+33600000001",,"26/03/02,08:00:09+00"'
    modem = AnsweringTransport({"AT+CSQ": "+CSQ: 20,0"}, url="script://")
    async with client(modem) as at:  # type: ignore[arg-type]
        async with at.urcs({"+CMT"}) as urcs:
            reply = await _answered_after(modem, at, "AT+CSQ", f"\r\n{head}\r\n{text}\r\n".encode())
            assert reply.lines == ("+CSQ: 20,0",)
            assert (await urcs.get(timeout=5)).extra == text
        # the listing, then the fake's OK
        listing = f"\r\n+CMGL: {report}\r\n+CMGL: {message}\r\nOK\r\n".encode()
        reply = await _answered_after(modem, at, 'AT+CMGL="ALL"', listing)
        assert reply.lines == (f"+CMGL: {report}", f"+CMGL: {message}", "OK")
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 20,0",)


async def test_after_atz_the_settings_are_set_again_and_one_that_does_not_hold_fails() -> None:
    # ATZ brings back the stored profile (AT&W): the client's settings again, then read back
    t = ScriptedTransport(
        steps(
            ("ATZ\r", "0\r"),  # a stored ATV0
            ("ATQ0V1\r", "\r\nOK\r\n"),
            ("AT+CMEE=1\r", "\r\nOK\r\n"),
            ("AT\r", "\r\nOK\r\n"),
            ("AT+CMEE?\r", "\r\n+CMEE: 0\r\n\r\nOK\r\n"),  # the module does not keep it
        )
    )
    async with client(t, init=["AT+CMEE=1"]) as at:
        with pytest.raises(errors.ModemError, match=r"after 'ATZ' the modem did not take .* \+CMEE lost"):
            await at.command("ATZ")
    assert t.done and at.restarts == 0  # no restart: a setting that did not hold


async def test_an_atz_answered_by_nothing_is_a_stored_atq1_turned_off() -> None:
    t = ScriptedTransport(
        steps(
            ("ATZ\r", None),  # results off: not even ATZ's OK
            ("ATQ0V1\r", "\r\nOK\r\n"),
            ("ATE0\r", "\r\nOK\r\n"),
            ("AT\r", "\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 20,0\r\n\r\nOK\r\n"),
        )
    )
    async with client(t, init=["ATE0"], timeout=0.2, timeouts={"Z": 0.2}) as at:
        assert (await at.command("ATZ")).final.ok, t.mismatch
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 20,0",)
    assert t.done, t.mismatch


@pytest.mark.parametrize("kept", [(), ("ATS0=0", "AT+CNMI=2,1,0,1,0")], ids=["init", "kept"])
async def test_a_modem_left_quiet_is_initialised_after_the_watchdogs_recovery(kept: tuple[str, ...]) -> None:
    # ATQ1 (another program's, or a stored profile's at power-up): not even ATE0 is answered; the
    # recovery's ATQ0 brings results back, and the start goes on (before, it failed with the timeout).
    # Its ATZ brought back the stored profile (S0 > 0, the module's AT+CNMI): the settings the
    # driver kept are set again after the init sequence (before, they were not)
    t = ScriptedTransport(
        steps(
            ("ATE0\r", None),
            *QUIET_RECOVERY,
            ("ATE0\r", "\r\nOK\r\n"),  # the recovery's init sequence
            *((f"{line}\r", "\r\nOK\r\n") for line in kept),  # then what the driver kept
            ("ATE0\r", "\r\nOK\r\n"),  # and the line sent again
        )
    )
    async with client(t, init=["ATE0"], timeout=0.2, watchdog=FAST_WATCHDOG) as at:
        for line in kept:
            at.keep(line)
        await at.initialise()
    assert at.recoveries == 1 and t.done, t.mismatch


async def test_a_restart_asked_for_is_waited_for_and_a_later_one_nothing_asked_for_is_not() -> None:
    # a module that prints no boot notice (auto-baud): AT+CFUN=1,1 is waited for `restart_wait`,
    # then the settings set again; a later restart (its +CREG back at 0) is set again at once
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        await at.initialise()
        at.restart_wait = 0.01
        await at.command("AT+CFUN=1,1")
        await at.command("AT")  # after `restart_wait`: ATQ0V1, ATE0, AT+CREG=2, AT, AT+CREG?
        assert modem.lines.count("ATQ0V1") == 1
        at.restart_wait = 3600.0
        modem.creg = 0  # restarted again, unasked
        await at.command("AT+CREG?")
        async with asyncio.timeout(10):  # not waited for: the module already answered
            await at.command("AT+CSQ")
    assert modem.lines.count("ATQ0V1") == 2 and modem.lines[-1] == "AT+CSQ"


class _WavecomReset(AnsweringTransport):
    """A Wavecom: AT+CFUN=1 answered OK resets it, with no boot notice; it reads nothing while it
    boots (the first line after), then answers `+CME ERROR: 515` (init in progress) once."""

    def __init__(self) -> None:
        super().__init__({}, url="/dev/ttyUSB9")
        self.after_reset: list[str] | None = None

    def _reply(self, line: str) -> None:
        if self.after_reset is not None and len(self.after_reset) < 2:
            self.after_reset.append(line)
            if len(self.after_reset) == 2:
                self._send(b"\r\n+CME ERROR: 515\r\n")
            return  # the first line: read by nothing, the module booting
        if line == "AT+CFUN=1":
            self.after_reset = []
        super()._reply(line)


async def test_a_module_without_a_boot_notice_is_polled_until_it_answers_not_waited_for() -> None:
    # a Wavecom prints nothing when AT+CFUN=1 resets it: the next line waited the whole
    # `restart_wait` (15 s) for a notice that never comes; now its profile says so
    # (`driver.boot_notice: false`) and the module is polled with AT until it answers OK
    modem = _WavecomReset()
    watchdog = WatchdogPolicy(probe_timeout=0.2, guard_time=0.0)
    at = ATClient(modem, retry=FAST_RETRY, watchdog=watchdog)  # type: ignore[arg-type]
    Modem(at, load_driver_profile("wavecom-fastrack"))
    async with at:
        await at.initialise()
        at.restart_wait = 3600.0
        await at.command("AT+CFUN=1")
        async with asyncio.timeout(10):
            await at.command("AT+CSQ")
    after = modem.lines[modem.lines.index("AT+CFUN=1") + 1 :]
    # AT unanswered (booting), the answers found again (an S-register read, 515: initialising),
    # AT answered OK; then the settings again, then the line
    polls = after[: after.index("ATQ0V1")]
    assert polls[0] == polls[-1] == "AT" and set(polls) <= {"AT", "ATS3?", "ATS4?"}, after
    assert after[after.index("ATQ0V1") :] == ["ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?", "AT+CSQ"]


class _Restarting(_SavedEchoOff):
    """`_SavedEchoOff` that tells when the client begins setting its settings again (ATQ0V1)."""

    def __init__(self) -> None:
        super().__init__(at="AT+NOTHING")
        self.restoring = asyncio.Event()

    def _reply(self, line: str) -> None:
        if line == "ATQ0V1":
            self.restoring.set()
        super()._reply(line)


async def test_a_command_of_another_task_waits_for_the_settings_set_again_after_a_restart() -> None:
    # a second task's line while the settings are being set again after AT+CFUN=1,1 goes after
    # them, not in between (where it would run with the module's power-up settings)
    modem = _Restarting()
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        await at.initialise()
        at.restart_wait = 0.01
        await at.command("AT+CFUN=1,1")
        first = asyncio.create_task(at.command("AT+CSQ"))
        await modem.restoring.wait()
        await at.command("AT+CGSN")
        await first
    at_restart = modem.lines.index("ATQ0V1")
    assert modem.lines[at_restart : at_restart + 5] == ["ATQ0V1", "ATE0", "AT+CREG=2", "AT", "AT+CREG?"]
    assert sorted(modem.lines[at_restart + 5 :]) == ["AT+CGSN", "AT+CSQ"]


async def test_a_restart_command_inside_a_quoted_parameter_is_no_restart() -> None:
    # "+CRESET" in a URL (a string parameter) restarts nothing: the next line is not held back
    # for a boot notice, nor preceded by the settings again
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        await at.initialise()
        at.restart_wait = 3600.0
        async with asyncio.timeout(10):
            await at.command('AT+HTTPPARA="URL","example.org/ops?run=+CRESET"')
            await at.command('AT+HTTPPARA="USERDATA","+CFUN=1,1"')
            await at.command("AT+CSQ")
    assert "ATQ0V1" not in modem.lines and modem.lines[-1] == "AT+CSQ"


async def test_a_line_queued_behind_a_restart_waits_for_the_module_and_its_settings() -> None:
    # AT+CSQ of another task, waiting its turn while AT+CFUN=1,1 is answered, is not sent to the
    # module as it restarts: it goes once the settings are set again
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        await at.initialise()
        at.restart_wait = 0.01
        await asyncio.gather(at.command("AT+CFUN=1,1"), at.command("AT+CSQ"))
    at_restart = modem.lines.index("AT+CFUN=1,1")
    assert modem.lines[at_restart:] == [
        "AT+CFUN=1,1",
        "ATQ0V1",
        "ATE0",
        "AT+CREG=2",
        "AT",
        "AT+CREG?",
        "AT+CSQ",
    ]


async def test_a_data_command_queued_behind_a_restart_waits_for_the_module_and_goes_unsent() -> None:
    # AT+CMGS of another task, waiting its turn while AT+CFUN=1,1 is answered, is not sent to the
    # module as it restarts: it waits for the settings set again, then goes unsent, since the line
    # just before it is no longer its caller's AT+CMGF (which the command guard wants there)
    modem = _SavedEchoOff(at="AT+NOTHING")
    async with client(modem, init=["ATE0", "AT+CREG=2"]) as at:  # type: ignore[arg-type]
        await at.initialise()
        at.restart_wait = 0.01
        _, sent = await asyncio.gather(
            at.command("AT+CFUN=1,1"), at.command_with_data("AT+CMGS=24", b"00\x1a"), return_exceptions=True
        )
    assert isinstance(sent, errors.SettingsRestored) and sent.after == "AT+CFUN=1,1"
    at_restart = modem.lines.index("AT+CFUN=1,1")
    assert modem.lines[at_restart:] == ["AT+CFUN=1,1", "ATQ0V1", "ATE0", "AT+CREG=2", "AT", "AT+CREG?"]
    assert b"00\x1a" not in modem.written


@pytest.mark.parametrize(
    ("line", "answer", "final"),
    [("AT+CPOWD=1", "\r\nNORMAL POWER DOWN\r\n", "NORMAL POWER DOWN"), ("AT+CPOWD=0", None, "")],
)
async def test_simcom_power_down_is_answered_by_normal_power_down_or_by_nothing(
    line: str, answer: str | None, final: str
) -> None:
    # SIMCom's AT+CPOWD=1 answers NORMAL POWER DOWN and no OK, AT+CPOWD=0 nothing at all (SIM800
    # AT manual, AT+CPOWD): before, the line waited for its timeout and the watchdog found no modem
    t = ScriptedTransport(steps(("ATE0\r", "\r\nOK\r\n"), (f"{line}\r", answer)))
    async with client(t, init=["ATE0"], timeout=3600.0, watchdog=FAST_WATCHDOG) as at:
        await at.initialise()
        async with asyncio.timeout(10):
            reply = await at.command(line)
        assert reply.final.ok and reply.final.line == final
        # powered off: nothing more goes to it, not even the settings a restart would have set again
        assert at.powered_down == line and await at.settle() is None
    assert t.done and t.mismatch is None


@pytest.mark.parametrize("answer", ["\r\nERROR\r\n", "\r\n+CME ERROR: 4\r\n"])
async def test_an_urgent_power_down_the_module_does_not_know_fails_and_leaves_no_power_down_said(
    answer: str,
) -> None:
    # AT+CPOWD=0 is SIMCom's: a Quectel or a u-blox answers ERROR at once.  Taken as done once
    # written, the line passed and the client said the module powered off (`powered_down`; the bench
    # then notes it so, and passes the run) while the module stayed on; the error was dropped as a
    # late answer.  Now its answer is waited for a moment, and an error fails the line.
    t = ScriptedTransport(steps(("ATE0\r", "\r\nOK\r\n"), ("AT+CPOWD=0\r", answer)))
    async with client(t, init=["ATE0"], timeout=3600.0, watchdog=FAST_WATCHDOG) as at:
        await at.initialise()
        async with asyncio.timeout(10):
            with pytest.raises(errors.CommandError):
                await at.command("AT+CPOWD=0")
        assert at.powered_down is None
    assert t.done and t.mismatch is None


async def test_normal_power_down_is_still_a_notice_when_no_power_down_asked_for() -> None:
    # the module powered off by its power key, or by under-voltage: a URC, not an answer
    seen: list[str] = []
    t = ScriptedTransport(steps(("AT+CSQ\r", "\r\nNORMAL POWER DOWN\r\n\r\n+CSQ: 9,0\r\n\r\nOK\r\n")))
    async with client(t) as at:
        at.subscribe(lambda urc: seen.append(urc.line))
        assert (await at.command("AT+CSQ")).lines == ("+CSQ: 9,0",)
    assert seen == ["NORMAL POWER DOWN"]
