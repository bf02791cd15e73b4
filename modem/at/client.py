"""The asyncio AT client: one command at a time over a `Transport`, URCs delivered as they arrive.

    async with ATClient(transport, init=["ATE0", "AT+CMEE=1"]) as at:
        reply = await at.command("AT+CSQ")
        rssi, ber = reply.fields("+CSQ")
        async for urc in at.urcs({"+CMTI"}):
            ...

A reader task feeds every byte to the sans-IO `ATParser`; responses go to the command in flight,
unsolicited results to subscribers at once, even while a command runs.  Errors are typed
(`modem.at.errors`); transient "not ready" errors (CME 14 SIM busy, CME 515 please wait, CMS 314)
are retried a bounded number of times; a timeout triggers the watchdog (`WatchdogPolicy`),
which probes the modem and recovers it while queued commands wait their turn on the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NoReturn, Protocol

from modem.at import grammar
from modem.at.command import Command, split_chain
from modem.at.errors import (
    CallFailed,
    CMEError,
    CMSError,
    CommandError,
    CommandTimeout,
    ConnectionClosed,
    ModemError,
    ModemNotAnswering,
    SettingsRestored,
    TransportError,
    UntrustedAnswer,
    cme_error,
    cms_error,
    is_transient,
)
from modem.at.grammar import Result
from modem.at.parser import ATParser, Data, Event, Final, Foreign, Late, Prompt, PushedData, Response, Urc
from modem.at.policies import DEFAULT_TIMEOUTS, RetryPolicy, WatchdogPolicy
from modem.at.urcs import Subscription, UrcCallback, UrcHub, UrcStream
from modem.transport import Transport, settled, seven_bit, time_scale

__all__ = [
    "DEFAULT_TIMEOUTS",
    "POWER_DOWN_COMMAND",
    "RESTART_COMMAND",
    "TRACKED_SETTINGS",
    "ATClient",
    "ForeignNotice",
    "GuardedTransport",
    "Reply",
    "RestartNotice",
    "RetryPolicy",
    "Subscription",
    "UrcCallback",
    "UrcStream",
    "WatchdogPolicy",
    "boot_notice",
]

log = logging.getLogger(__name__)
# ATV0: how long a `<digit><CR>` waits for an LF that would make it text (the modem writes CR LF
# together; a USB serial adapter may still deliver them in two reads)
CR_LF_WAIT = 0.05
# After a command is abandoned (its timeout expired, or its caller was cancelled) its answer may
# still come, before the next command's: the next exchange first reads one of these V.250
# S-registers (S3 line end 13, S4 line feed 10, S5 backspace 8: their values are fixed, as
# another would change how the modem reads a line) and drops every final result before the
# register's value.  The three take turns, so that a late answer to an abandoned resynchronisation
# is not taken for the next one's.
SYNC_REGISTERS: tuple[tuple[str, int], ...] = (("S3", 13), ("S4", 10), ("S5", 8))
# Settings the client sets that a restart brings back to the module's power-up values: a read of
# one (`AT+CMEE?` -> `+CMEE: 0`) showing another value than the one last set and answered OK tells
# a restart the module did not announce (a SIM800 at auto-baud prints no RDY, and with echo off in
# its stored profile, AT&W, its echo does not tell either).  A setting the stored profile holds
# comes back as it was set, and tells nothing.  Not +CSCS: in UCS2 some modules read its value back
# in hex, as every string.
TRACKED_SETTINGS: frozenset[str] = frozenset(
    {"+CMEE", "+CMGF", "+CSDH", "+CNMI", "+CREG", "+CGREG", "+CEREG", "+C5GREG"}
)
# Lines after which a module reports as it does at boot (+CFUN: 1, +CPIN: READY, Call Ready, SMS
# Ready...) without having restarted unasked: a change of functionality, a PIN entered, a reset.
_BOOTING_LINE = re.compile(r"\+(?:CFUN|CPIN|CRESET|CPOWD|QPOWD|QRST)\b(?!\?|=\?)", re.IGNORECASE)
#: Lines that restart the module or power it off (`modem.at.grammar.RESTART_COMMAND`, the one list).
#: Once one is answered the module comes back with its stored profile (AT&W): the client's settings
#: are set again before its next command (`restore_settings`), once the module said it is ready.
RESTART_COMMAND = grammar.RESTART_COMMAND
#: Of those, the lines that power the module off (to be powered on again by its power key or its
#: supply): SIMCom's AT+CPOWD, Quectel's AT+QPOWD.  A module so powered off at the end of a run is
#: left off (`powered_down`): nothing more is sent to it.
POWER_DOWN_COMMAND = re.compile(r"\+(?:CPOWD|QPOWD)\b(?!\?|=\?)", re.IGNORECASE)
# SIMCom's AT+CPOWD=<n> (SIM800 / SIM900 / SIM7000 AT manuals, AT+CPOWD): n=1, a normal power
# down, is answered "NORMAL POWER DOWN" and no OK; n=0, an urgent one, powers off at once and
# answers nothing (the line is done once written).
_CPOWD = re.compile(r"AT\+CPOWD\s*=\s*([01])\s*", re.IGNORECASE)
_CPOWD_FINAL = "NORMAL POWER DOWN"
# How long a line the module does not answer (`Command.answered` False: SIMCom's AT+CPOWD=0) waits
# for an answer all the same, seconds on the modem's clock: a module that does not know the line
# (a Quectel, a u-blox) answers ERROR within milliseconds, and the line fails, where a SIMCom,
# powered off, says nothing and the line is done.
UNANSWERED_GRACE = 1.0
# A line's quoted string parameters (a URL, a text, a number), which name no command of its own
_QUOTED = grammar.QUOTED
# The most a module restarted by a line is waited for before the client's settings are set again:
# until its first boot notice (RDY...), seconds on the modem's clock (`modem.transport.time_scale`).
# A module that prints none (a SIM800 at auto-baud, a Wavecom) is set after this long.
RESTART_WAIT = 15.0
# Between two `AT`s to a module that prints no boot notice while it restarts (the modem's seconds)
RESTART_POLL = 0.5
# How long after the client starts the module's own power-up notices may still come (a SIM800
# says SMS Ready some 10-20 s after power-on): they are the power-up's, not a restart's.
BOOT_WINDOW = 60.0
# What still goes to a modem whose port is untrusted (another program writes to it): the hang-up
# and PDP deactivation a run leaves with, and the register reads that find where answers stand.
_STILL_SENT = re.compile(r"ATH0?|AT\+CHUP|AT\+CGACT=0(,\d+)*|ATS[345]\?", re.IGNORECASE)


class RestartNotice(str):
    """Why the client took the modem to have restarted (the `on_restart` callbacks' argument), with
    `sign`, the short name of what showed it (`its echo back on`, `+CMEE back to its power-up
    value`, `unasked SMS Ready`)."""

    sign: str

    def __new__(cls, why: str, sign: str) -> RestartNotice:
        notice = super().__new__(cls, why)
        notice.sign = sign
        return notice


class ForeignNotice(str):
    """Why the port is untrusted (the `on_untrusted` callbacks' argument), with the line that
    showed it: `kind` and `line` (`modem.at.parser.Foreign`), and `command`, the line of the
    command it came during (None when none was in flight)."""

    kind: str
    line: str
    command: str | None

    def __new__(cls, why: str, foreign: Foreign, command: str | None) -> ForeignNotice:
        notice = super().__new__(cls, why)
        notice.kind, notice.line, notice.command = foreign.kind, foreign.line, command
        return notice


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's information lines (with any binary payloads) and its final result."""

    command: str
    responses: tuple[Response, ...]
    final: Final

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(r.line for r in self.responses)

    def line(self, prefix: str | None = None) -> str | None:
        """The first response line starting with `prefix` (any line when None)."""
        for r in self.responses:
            if prefix is None or r.line.upper().startswith(prefix.upper()):
                return r.line
        return None

    def fields(self, prefix: str) -> list[str]:
        """The fields of the first `prefix:` line (quotes kept); raises `ModemError` if absent."""
        line = self.line(prefix)
        if line is None:
            raise ModemError(f"{self.command!r}: no {prefix} line in the answer {list(self.lines)!r}")
        return grammar.fields_of(line)

    @property
    def payload(self) -> bytes:
        """All binary payloads of the answer, concatenated."""
        return b"".join(r.payload for r in self.responses if r.payload is not None)


class CommandGuard(Protocol):
    """Checks every command line before it is written (`modem.safety.CommandGuard`: the allow-list)."""

    def check(self, line: str, data: bytes | None = None) -> None: ...

    def done(self, line: str, lines: Iterable[str] = ()) -> None: ...

    def urc(self, name: str, line: str = "") -> None: ...

    def restarted(self, why: str) -> None: ...

    def check_data_write(
        self, data_mode: bool, data: bytes, numeric: bool = False, *, seven_bit: bool = False
    ) -> None: ...

    def written(self, data: bool = False) -> None: ...

    def write_failed(self, data: bytes) -> None: ...


class GuardedTransport:
    """A view of the AT client's transport on a physical modem (`ATClient.transport`): its URL
    and clock (`modem.transport.time_scale`, `settled`), and no bytes either way, which would pass
    the command guard by (written) or be taken from the client's answers (read)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.url = transport.url

    @property
    def time_scale(self) -> float:
        return time_scale(self._transport)

    async def settled(self) -> None:
        await settled(self._transport)

    def _refused(self, what: str) -> ModemError:
        from modem.safety import SafetyError

        return SafetyError(
            f"{self.url}: {what} the transport refused: bytes past the AT client pass the bench's "
            "command guard by; send command lines with command() and data with write_data()"
        )

    async def read(self) -> bytes:
        raise self._refused("reading from")

    async def write(self, data: bytes) -> None:
        raise self._refused(f"{len(data)} bytes written to")

    async def close(self) -> None:
        await self._transport.close()


@dataclass
class _Pending:
    command: Command
    future: asyncio.Future[Reply]
    prompt: asyncio.Event = field(default_factory=asyncio.Event)
    responses: list[Response] = field(default_factory=list)
    numeric: bool = False  # the modem answered in digits (ATV0) when the command was sent


class ATClient:
    """An AT command client over one transport. Use as an async context manager."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float = 5.0,
        timeouts: Mapping[str, float] | None = None,
        init: Sequence[str] = (),
        retry: RetryPolicy | None = None,
        watchdog: WatchdogPolicy | None = None,
    ) -> None:
        self._transport = transport  # the client's alone: others get `transport`, a guarded view
        self.url = transport.url
        self.timeout = timeout
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.init_sequence: list[str] = list(init)
        #: command line (upper case) -> regex of the answer that ends it without OK (vendor quirks)
        self.final_patterns: dict[str, str] = {}
        #: regexes of the lines that restart this module family besides `RESTART_COMMAND` (its
        #: driver profile's `restarts`: AT+CFUN=1 on a Wavecom), searched outside quoted parameters
        self.restart_patterns: list[re.Pattern[str]] = []
        self.retry = retry or RetryPolicy()
        self.watchdog = watchdog or WatchdogPolicy()
        self.recoveries = 0
        self._guard: CommandGuard | None = None
        self._parser = ATParser()
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._urcs = UrcHub(self.url)
        self._data: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._idle: asyncio.Task[None] | None = None
        self._closed = False
        self._eof = False
        self._ended: str | None = None  # why the reader stopped
        self._data_sent = False
        # a command was abandoned (timed out, cancelled) and its answer may still come: the next
        # exchange resynchronises first (`SYNC_REGISTERS`)
        self._behind = False
        self._syncs = 0
        # the echo as the modem was last told (ATE0: False, ATE1: True), None when not known
        self._echo: bool | None = None
        #: restarts the modem did not announce, noticed by what it lost (its echo back on)
        self.restarts = 0
        self._restart_callbacks: list[Callable[[str], None]] = []
        #: why the port cannot be trusted (another program writes to the modem), None while it can
        self.untrusted: str | None = None
        #: the lines that showed it (`modem.at.parser.Foreign`), in order
        self.foreign: list[Foreign] = []
        # a trust check's register read is in flight: a final result before its value is foreign
        self._checking_trust = False
        self._untrusted_callbacks: list[Callable[[str], None]] = []
        #: the settings of `TRACKED_SETTINGS` as last set and answered OK: prefix -> fields
        self.settings: dict[str, tuple[str, ...]] = {}
        #: seconds after start during which boot notices are the power-up's (`BOOT_WINDOW`)
        self.boot_window = BOOT_WINDOW
        #: the clock of the boot notices' window (monotonic seconds)
        self.clock: Callable[[], float] = time.monotonic
        # the boot notices of the boot under way (the power-up's, one a line asked for, or an
        # unasked restart's): one that comes again is the next boot's
        self._boot_seen: set[str] = set()
        self._boot_since = time.monotonic()
        self.last_activity = time.monotonic()
        # the settings are being set again after a reset (`restore_settings`); what a line of it
        # showed that does not hold (a read back unlike what was set), None while all holds
        self._restoring = False
        self._restore_problem: str | None = None
        # the task setting them (its lines go at once), and set while none is: another task's line
        # waits for them to be set (`_after_restart`), not to go between them
        self._restorer: asyncio.Task[Any] | None = None
        self._settings_set = asyncio.Event()
        self._settings_set.set()
        #: the settings a driver made after the init sequence (`keep`): command name -> its line
        self.kept: dict[str, str] = {}
        #: the init sequence has been answered: a restart from then on loses the client's settings
        self.initialised = False
        # what restarted the module since the client's settings were last set (a line, `RDY`): they
        # are set again before the next command (`_after_restart`); None while they hold
        self._lost: str | None = None
        self._booted = asyncio.Event()  # a boot notice came since the restart a line asked for
        self._restart_lock = asyncio.Lock()
        #: the most a restart a line asked for is waited for (`RESTART_WAIT`, the modem's seconds)
        self.restart_wait = RESTART_WAIT
        #: the module prints a boot notice when it restarts (the driver profile's `boot_notice`);
        #: False: after a restart a line asked for it is polled with AT until it answers OK instead
        self.boot_notice = True
        self.unanswered_grace = UNANSWERED_GRACE  # (`UNANSWERED_GRACE`)
        # how many times the settings were set again (`restore_settings`), and after what last
        self._restores = 0
        self._last_restore = ""

    @property
    def guard(self) -> CommandGuard | None:
        """Checks each command line before it is written; the driver installs the bench's
        allow-list.  One that enforces a bench's rules on a physical modem (`strict`) is never
        removed nor replaced (`SafetyError`) but by a guard of its own class that enforces the
        same policy (the same object) with no command allowed that it did not allow (a second
        driver on the client, given the bench's policy): not by one that does not check its lines,
        nor by one that says it is strict (any object can), nor by a driver's with another policy."""
        return self._guard

    @guard.setter
    def guard(self, guard: CommandGuard | None) -> None:
        current = self._guard
        if getattr(current, "strict", False) is True and not _same_rules(current, guard):
            from modem.safety import SafetyError

            raise SafetyError(
                f"{self.url}: the command guard of a physical modem cannot be removed, nor replaced "
                "but by one of its class with the same policy and allowed commands (a second driver "
                "given the bench's policy)"
            )
        held, hold = getattr(current, "held", None), getattr(guard, "hold", None)
        if isinstance(held, str) and callable(hold):  # (a second driver's guard: held as this one)
            hold(held)
        self._guard = guard

    @property
    def transport(self) -> Transport:
        """The transport as the client's users see it (a driver, a bench script).  While the
        command guard enforces a bench's rules on a physical modem (`modem.safety.CommandGuard`'s
        `strict`), a `GuardedTransport`: the transport's URL and clock, its bytes refused, since
        bytes written past the client pass the guard by (`ATD<number>;` to any number); command
        lines go with `command()`, data with `write_data()`, where the guard reads them.
        Otherwise (the virtual modem, a replay, no guard) the transport itself."""
        if getattr(self.guard, "strict", False) is True:
            return GuardedTransport(self._transport)
        return self._transport

    @property
    def data_sent(self) -> bool:
        """Whether the data of the last command with data (after its `> ` prompt) was written."""
        return self._data_sent

    def expect_pushed(self, pushed: Iterable[PushedData]) -> None:
        """Recognise a vendor's pushed socket data (declared by its driver) in what the modem sends."""
        self._parser.expect_pushed(pushed)

    # -- life cycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> ATClient:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start reading the transport (idempotent)."""
        if self._reader is None:
            self._boot_since = self.clock()  # the power-up's notices may still come
            self._reader = asyncio.create_task(self._read_loop(), name=f"at-reader {self.url}")
            if self.watchdog.enabled and self.watchdog.idle_interval:
                self._idle = asyncio.create_task(self._idle_loop(self.watchdog.idle_interval))

    async def close(self) -> None:
        """Stop the reader and close the transport; pending waiters get `ConnectionClosed`."""
        if self._closed:
            return
        self._closed = True
        for task in (self._idle, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._transport.close()
        self._end(ConnectionClosed(f"{self.url}: closed"))

    async def initialise(self) -> None:
        """Run the init sequence (also re-run after a watchdog recovery).  A modem that answers it
        in digits (left in ATV0 by a program that had the port before, or by its stored profile)
        is told ATV1 at once, and must then answer in words (`words`).  One left quiet (ATQ1, by a
        program that had the port before, or by its stored profile) answers nothing: the line times
        out, the watchdog's recovery (`ATQ0`, `ATZ`, the init sequence) brings its results back, and
        the line is sent once more."""
        for line in self.init_sequence:
            recoveries = self.recoveries
            try:
                await self.command(line)
            except CommandTimeout:
                if self.recoveries == recoveries:
                    raise
                log.info("%s: %r unanswered until the watchdog's recovery: sent again", self.url, line)
                await self.command(line)
            if self._parser.verbose is False and grammar.verbose_after(line) is not False:
                await self.words()
        self.initialised = True
        self._lost = None

    async def words(self) -> None:
        """Have the modem answer in words (ATV1) and check that it does: `ATV1`, then a bare `AT`
        whose result may come either way; raises `ModemError` when it still comes in digits.
        Only words are a sure end of an answer (V.250 §5.7.1): in digits `3` (NO CARRIER) is also
        data, and a one-digit answer line is told from a result only by the LF after it."""
        await self.command("ATV1")
        self._parser.verbosity_unknown()  # the next result tells, in either form
        self._check_words(await self.command("AT"))

    async def _words(self) -> None:
        """`words` while holding the lock (a recovery)."""
        await self._exchange(Command("ATV1"), self.timeout)
        self._parser.verbosity_unknown()
        self._check_words(await self._exchange(Command("AT"), self.timeout))

    def _check_words(self, reply: Reply) -> None:
        if self._parser.verbose is not True:
            raise ModemError(
                f"{self.url}: the modem still answers in digits after ATV1 ({reply.final.line!r} to AT): "
                "its results cannot be read for sure"
            )
        log.info("%s: the modem answered in digits (ATV0); told ATV1, it answers in words", self.url)

    # -- URCs ----------------------------------------------------------------------------------
    def subscribe(self, callback: UrcCallback, names: Iterable[str] | None = None) -> Subscription:
        """Call `callback(urc)` for each URC (whose name is in `names`, when given)."""
        return self._urcs.subscribe(callback, names)

    def urcs(self, names: Iterable[str] | None = None) -> UrcStream:
        """An async iterator of URCs; subscribe before sending the command whose URC you await."""
        return self._urcs.stream(names)

    def on_restart(self, callback: Callable[[str], None]) -> None:
        """Call `callback(why)` when the modem shows it restarted without a word (see `restarted`)."""
        self._restart_callbacks.append(callback)

    def on_untrusted(self, callback: Callable[[str], None]) -> None:
        """Call `callback(why)` at each line that cannot be an answer to this client (`Foreign`);
        `why` is a `ForeignNotice`."""
        self._untrusted_callbacks.append(callback)

    def _foreign(self, event: Foreign) -> None:
        """A line that is not this client's answer: the port is shared with another program.  The
        command in flight fails (its answer may be the other program's), and from now on only the
        way out is sent (`_STILL_SENT`): the command guard may have believed a foreign answer."""
        what = (
            "the echo of a command line this client did not send"
            if event.kind == "echo"
            else "a final result while no command of this client was waiting for one"
        )
        why = (
            f"{self.url}: untrusted port: {event.line!r} came, {what}: another program (ModemManager, "
            "gpsd, a terminal, a second bench) is writing to the modem, and its answers cannot be told "
            "from this client's"
        )
        self.foreign.append(event)
        if self.untrusted is None:
            self.untrusted = why
        log.warning("%s", why)
        pending = self._pending
        in_flight = pending is not None and not pending.future.done()
        if pending is not None and in_flight:
            pending.future.set_exception(UntrustedAnswer(f"{pending.command.line!r}: {why}"))
        notice = ForeignNotice(
            why, event, pending.command.line if pending is not None and in_flight else None
        )
        for callback in list(self._untrusted_callbacks):
            try:
                callback(notice)
            except Exception:
                log.exception("%s: untrusted callback %r failed", self.url, callback)

    def restarted(self, why: str, sign: str = "") -> None:
        """The modem restarted without announcing it (no RDY: a SIM800 at auto-baud, a Wavecom,
        a brown-out): its settings are its defaults again (echo, result format, SMS format, URCs
        off), its calls and PDP contexts gone.  The command guard forgets what it knew, and the
        `on_restart` callbacks are told why."""
        self._echo = None
        self.settings.clear()  # its power-up values (or its stored profile's) now
        if self.guard is not None:
            self.guard.restarted(why)
        if self._restoring:  # a setting just made back after a reset that does not hold: no restart
            self._restore_problem = why
            return
        self.restarts += 1
        self._settings_lost(sign or "a restart")
        log.warning("%s: the modem restarted without a word: %s", self.url, why)
        notice = RestartNotice(why, sign or why)
        for callback in list(self._restart_callbacks):
            try:
                callback(notice)
            except Exception:
                log.exception("%s: restart callback %r failed", self.url, callback)

    # -- commands ------------------------------------------------------------------------------
    def timeout_for(self, command: Command) -> float:
        if command.timeout is not None:
            return command.timeout
        best = self.timeout
        for prefix in command.prefixes:
            best = max(best, self.timeouts.get(prefix, self.timeout))
        body = command.line[2:3].upper()
        if not command.prefixes and body in self.timeouts:
            best = max(best, self.timeouts[body])
        return best

    async def command(self, command: str | Command, *, timeout: float | None = None) -> Reply:
        """Send one command line and return its reply; raises a typed `ModemError` on failure.
        A line that brings back the stored profile or the factory settings (ATZ, AT&F) is followed
        by the client's own settings, set again and checked (`restore_settings`), when it has an
        init sequence (a client without one, `m2msim modem at`, sets nothing of its own)."""
        cmd = self._with_quirks(_as_command(command, timeout))
        if not self.init_sequence or (self._restoring and asyncio.current_task() is self._restorer):
            return await self._issue(cmd, None)
        await self._after_restart(cmd.line)
        if grammar.resets(cmd.line):
            return await self._reset(cmd)
        if self.restarts_module(cmd.line):
            async with self._restart_lock:  # a line queued behind it waits for the restart
                return await self._issue(cmd, None)
        return await self._issue(cmd, None)

    def restarts_module(self, line: str) -> bool:
        """Whether `line`, answered, restarts the module or powers it off: one of `RESTART_COMMAND`,
        or of the lines its family restarts on (`restart_patterns`, from the driver profile's
        `restarts`), outside the line's quoted parameters (not a "+CRESET" in a URL)."""
        return grammar.restarts(line, self.restart_patterns)

    @property
    def powered_down(self) -> str | None:
        """The line that powered the module off (`POWER_DOWN_COMMAND`, answered) while the client's
        settings are not yet set again after it, else None: the module answers nothing until its
        power key or its supply brings it back."""
        lost = self._lost
        return lost if lost is not None and POWER_DOWN_COMMAND.search(_QUOTED.sub('""', lost)) else None

    async def settle(self) -> str | None:
        """After a line that restarted the module (`restarts_module`), the module waited for and the
        client's settings set again now, as `command` does before its next line: a run that ends
        with that line leaves the modem in the bench's settings, checked.  Not after a power-down
        (`powered_down`): a module powered off is left off; nor after a restart nothing asked for,
        which fails a run anyway.  Returns the line, or None when there was none to settle."""
        after = self._lost
        if after is None or not self.init_sequence or self.powered_down is not None:
            return None
        if not self.restarts_module(after):
            return None
        await self._after_restart("AT")
        return after

    def _settings_lost(self, after: str) -> None:
        """The module restarted (`after`: the line that asked, or the sign of one nothing asked
        for) once the init sequence was answered: its settings are its stored profile's (AT&W:
        echo, results, auto-answer S0 ...), its SMS format and routing its defaults.  The client's
        are set again before its next command (`_after_restart`)."""
        if not self.initialised or self._restoring or not self.init_sequence:
            return
        self._echo = None
        self.settings.clear()
        if self._lost is None:
            self._lost = after

    async def _after_restart(self, line: str) -> None:
        """Before `line`, the client's settings set again after a restart (`restore_settings`), once
        the module is ready: a restart a line asked for waits for the module's first boot notice
        (RDY, ...), at most `restart_wait` seconds on the transport's clock.  Not before a hang-up
        or a PDP deactivation, which go at once (a run leaving).  A line of another task while the
        settings are being set again (after a restart or an ATZ) waits for them to be set, and one
        queued behind a line that restarts the module waits for that line's answer, then its
        restart."""
        if _STILL_SENT.fullmatch(line.strip()):
            return
        await self._settings_set.wait()
        async with self._restart_lock:  # (held too while a line that restarts the module is answered)
            after = self._lost
            if after is None:
                return
            await settled(self._transport)  # a replay's boot notices recorded after the answer
            if not self._booted.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.restart_wait * time_scale(self._transport)):
                        await (self._booted.wait() if self.boot_notice else self._answers_again())
            if not self._booted.is_set() and self.boot_notice:
                log.info("%s: no boot notice within %g s after %r", self.url, self.restart_wait, after)
            self._lost = None
            self._booted.set()  # (a later restart nothing asked for is not waited for)
            self._restart_settings(after)
            await self.restore_settings(after)

    async def _answers_again(self) -> None:
        """A module that prints no boot notice, restarting: `AT` until it answers OK (not while it
        is silent, booting, nor while it answers an error, as a Wavecom's `+CME ERROR: 515` while it
        initialises), each within the watchdog's probe timeout; the caller bounds the whole."""
        self._parser.verbosity_unknown()  # its stored profile's result format: words or digits
        while True:
            async with self._lock:
                try:
                    reply = await self._exchange(Command("AT"), self.watchdog.probe_timeout, guarded=False)
                except (CommandTimeout, CommandError):
                    reply = None
            if reply is not None and reply.final.result is Result.OK:
                return
            await asyncio.sleep(RESTART_POLL * time_scale(self._transport))

    def _restart_settings(self, after: str) -> None:
        """The settings are about to be set again after a restart (a subclass records it)."""

    def _with_quirks(self, cmd: Command) -> Command:
        pattern = self.final_patterns.get(cmd.line.upper()) if cmd.final_pattern is None else None
        if pattern is not None:
            cmd = dataclasses.replace(cmd, final_pattern=pattern)
        power_down = _CPOWD.fullmatch(cmd.line)
        if power_down is not None and power_down.group(1) == "1" and _CPOWD_FINAL not in cmd.finals:
            cmd = dataclasses.replace(cmd, finals={**cmd.finals, _CPOWD_FINAL: True})
        elif power_down is not None and power_down.group(1) == "0":
            cmd = dataclasses.replace(cmd, answered=False)
        return cmd

    async def command_with_data(
        self, command: str | Command, data: bytes, *, timeout: float | None = None
    ) -> Reply:
        """Send a command that answers the `> ` prompt (AT+CMGS, AT+CIPSEND, AT+QISEND), then `data`.
        No settings are set again just before it: the line before it is the caller's, as the
        command guard wants it (AT+CMGF before AT+CMGS); a restart noticed since is restored before
        the caller's next command.  One queued behind a line that restarts the module (or while
        the settings are set again) waits for the module and its settings as any line, and then
        goes unsent: `SettingsRestored`, the caller sending its line before it again, then it."""
        cmd = _as_command(command, timeout)
        cmd = dataclasses.replace(cmd, prompt=True, prompt_mark=_prompt_mark(cmd.line))
        if self.init_sequence and not (self._restoring and asyncio.current_task() is self._restorer):
            restores = self._restores
            waited = self._restart_lock.locked() or not self._settings_set.is_set()
            if waited:
                await self._after_restart(cmd.line)
            if waited and self._restores != restores:
                raise SettingsRestored(cmd.line, self._last_restore)
        return await self._issue(cmd, data)

    async def _issue(
        self, cmd: Command, data: bytes | None, *, watchdog: bool = True, resync: bool = True
    ) -> Reply:
        """One command line sent and answered (`command`, `command_with_data` and the lines that
        restore the settings after a reset: a subclass records each here)."""
        return await self._run(cmd, data, watchdog=watchdog, resync=resync)

    async def _reset(self, cmd: Command) -> Reply:
        """ATZ / AT&F, then the client's settings again (`restore_settings`).  ATZ brings back the
        stored profile (AT&W), which may hold ATQ1: results off, not even ATZ's own OK comes.  So
        no answer to it is no failure yet: `ATQ0` follows at once (no watchdog recovery, whose own
        ATZ would bring ATQ1 back), and only when that too goes unanswered is the timeout raised."""
        try:
            reply = await self._issue(cmd, None, watchdog=False)
        except CommandTimeout as exc:
            # as if the line had been answered: the echo, the result format and the settings are
            # the stored profile's, not known here
            self._echo = None
            self.settings.clear()
            self._parser.verbosity_unknown()
            log.info(
                "%s: %r answered nothing: its stored profile may have results off (ATQ1)", self.url, cmd.line
            )
            try:
                await self.restore_settings(cmd.line, quiet=True)
            except CommandTimeout:
                raise exc from None
            return Reply(cmd.line, (), Final(Result.OK, "", True))
        await self.restore_settings(cmd.line)
        return reply

    def keep(self, line: str) -> None:
        """A setting the driver made after the init sequence and the modem answered OK
        (`AT+CMGF=0`, `AT+CNMI=2,1,0,1,0`, `AT+CSMP=49,167,0,0`, `AT+CREG=2`): after a reset
        (`restore_settings`) it is set again, after the init sequence, in the order first kept; a
        later line of the same command replaces it."""
        self.kept[line.partition("=")[0].strip().upper()] = line

    async def restore_settings(self, after: str = "ATZ", *, quiet: bool = False) -> None:
        """Set the client's settings again after a line that reset them (`after`: ATZ brings back
        the stored profile, whose echo, result format, results on or off and +CMEE may be any;
        AT&F the factory ones), and check them: `ATQ0V1` (results on, in words), the init sequence
        (`ATE0`, `AT+CMEE=1`), the settings the driver made since (`keep`: `AT+CMGF`, `AT+CNMI`,
        ...), then a bare `AT` that must come back in words (and, after ATE0, without its echo),
        and a read of each setting made that a restart would show (`TRACKED_SETTINGS`: `AT+CMEE?`,
        `AT+CNMI?`, ...), which must read as set.
        `quiet`: the reset was not answered (a stored ATQ1): `ATQ0V1` goes without first reading
        an S-register, which a module with results off would not end with OK.  Raises `ModemError`
        when a setting does not hold (the modem cannot be read for sure), `CommandTimeout` when
        `ATQ0V1` is not answered."""
        self._restoring = True
        self._restorer = asyncio.current_task()
        self._restores += 1
        self._last_restore = after
        self._settings_set.clear()
        self._restore_problem = None
        try:
            self._parser.verbosity_unknown()  # ATQ0V1's result may come in either form
            await self._restore(Command("ATQ0V1"), after, resync=not quiet)
            # answered: ATZ's own result, had it come late, would have been taken for this one's,
            # and this one's would have come with no command waiting (another program's, untrusted)
            self._behind = False
            for line in self.init_sequence:
                if not grammar.resets(line):
                    await self._restore(Command(line), after)
            for line in list(self.kept.values()):
                await self._restore(Command(line), after)
            self._parser.verbosity_unknown()  # the check's result tells, in either form
            reply = await self._restore(Command("AT"), after)
            if self._parser.verbose is not True:
                raise ModemError(
                    f"{self.url}: after {after!r} the modem still answers in digits after ATV1 "
                    f"({reply.final.line!r} to AT): its results cannot be read for sure"
                )
            for prefix in list(self.settings):
                await self._restore(Command(f"AT{prefix}?"), after)
        finally:
            self._restoring = False
            self._restorer = None
            self._settings_set.set()
        log.info("%s: settings set again and checked after %r", self.url, after)

    async def _restore(self, cmd: Command, after: str, *, resync: bool = True) -> Reply:
        reply = await self._issue(cmd, None, watchdog=False, resync=resync)
        if self._restore_problem is not None:
            raise ModemError(
                f"{self.url}: after {after!r} the modem did not take the bench's settings back: "
                f"{self._restore_problem}"
            )
        return reply

    async def _run(
        self, cmd: Command, data: bytes | None, *, watchdog: bool = True, resync: bool = True
    ) -> Reply:
        async with self._lock:
            delays = iter(self.retry.delays())
            noise = self._parser.noise_bytes
            while True:
                try:
                    return await self._exchange(cmd, self.timeout_for(cmd), data, resync=resync)
                except (CMEError, CMSError) as exc:
                    # never repeat a command whose data (an SMS, a socket payload) already went out
                    again = cmd.retry and is_transient(exc) and not self._data_sent
                    delay = next(delays, None) if again else None
                    if delay is None:
                        raise
                    log.info("%s: %s, retrying in %.2f s", self.url, exc, delay)
                    await asyncio.sleep(delay)
                except CommandTimeout as exc:
                    if watchdog and self.watchdog.enabled and not self._eof:
                        started = asyncio.get_running_loop().time()
                        try:
                            await self._check_and_recover()
                        except CommandTimeout as lost:  # not even the recovery is answered
                            # the command the caller sent, and that nothing answers: not the
                            # recovery's own command, which the caller never asked for
                            raise ModemNotAnswering(
                                exc.command,
                                exc.timeout,
                                self.url,
                                lost.command,
                                noise=self._parser.noise_bytes - noise,
                                recovery_time=asyncio.get_running_loop().time() - started,
                            ) from lost
                    raise exc

    async def _exchange(
        self,
        cmd: Command,
        timeout: float,
        data: bytes | None = None,
        *,
        resync: bool = True,
        guarded: bool = True,
    ) -> Reply:
        if self._eof or self._closed:
            # why the port ended (end of stream, the device gone), not only that it did
            raise ConnectionClosed(self._ended or f"{self.url}: closed")
        if self._parser.holding:  # a `<digit><CR>` that came before this line is not its answer
            for event in self._parser.flush():
                self._dispatch(event)
        if self.untrusted is not None and not _STILL_SENT.fullmatch(cmd.line.strip()):
            raise UntrustedAnswer(f"{cmd.line!r}: not sent: {self.untrusted}")
        if self._behind and resync:  # before the guard reads the line: what it knows is the line's
            try:
                await self._resync(timeout)
            except CommandTimeout as exc:
                raise CommandTimeout(cmd.line, timeout, not_sent=exc.command) from None
        if self.guard is not None and guarded:
            self.guard.check(cmd.line, data)
            if resync and _sync_first(self.guard, cmd.line):
                try:  # answers shifted by another program's: not sent
                    await self._check_trust(timeout)
                except CommandTimeout as exc:
                    raise CommandTimeout(cmd.line, timeout, not_sent=exc.command) from None
        loop = asyncio.get_running_loop()
        pending = _Pending(cmd, loop.create_future(), numeric=self._parser.verbose is False)
        self._pending = pending
        self._data_sent = False
        if _BOOTING_LINE.search(_QUOTED.sub('""', cmd.line)):  # its boot notices are asked for
            self._boot_seen, self._boot_since = set(), self.clock()
        self._parser.begin(cmd)
        log.debug("%s >> %s", self.url, cmd.line)
        try:
            async with asyncio.timeout(timeout):
                await self._write(cmd.line.encode("utf-8", "surrogateescape") + b"\r", guarded)
                if not cmd.answered:  # done once written, unless the module answers all the same
                    await asyncio.wait(
                        {pending.future}, timeout=self.unanswered_grace * time_scale(self._transport)
                    )
                    if not pending.future.done():  # (an echo, a late OK, still come as the late answer's)
                        self._parser.abandon()
                        self._complete(pending, Final(Result.VENDOR, "", True))
                prompt: asyncio.Future[Any] = asyncio.ensure_future(pending.prompt.wait())
                waiters: set[asyncio.Future[Any]] = {prompt, pending.future}
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    prompt.cancel()
                if not pending.future.done():
                    if data is None:  # `> `: the modem asks for text (AT+CMGW, AT+CMGS) none was given
                        await self._cancel_prompt(cmd, pending)
                    self._parser.expect_echo(data.decode("utf-8", "surrogateescape"))
                    self._data_sent = True
                    await self._write(data, guarded, data=True)
                reply = await asyncio.shield(pending.future)
            if self.guard is not None and guarded:
                self.guard.done(cmd.line, reply.lines)
            return reply
        except TimeoutError:
            self._abandon()
            raise CommandTimeout(cmd.line, timeout) from None
        except asyncio.CancelledError:
            self._abandon()  # a late answer to this command is not the next one's
            raise
        except UntrustedAnswer:
            self._abandon()  # its own answer may still come
            raise
        finally:
            self._pending = None
            if not pending.future.done():
                pending.future.cancel()

    def _abandon(self) -> None:
        """The command in flight is given up: its answer, should it still come, is not the next one's."""
        self._parser.abandon()
        self._behind = True

    async def _resync(self, timeout: float, *, guarded: bool = True) -> None:
        """Find where the modem's answers stand after a command was abandoned: read a V.250
        S-register (`SYNC_REGISTERS`) and drop the final results that come before its value (the
        abandoned command's late answer: a modem answers in order).  Raises `CommandTimeout` when
        the modem does not answer it."""
        for attempt in range(2):
            register, value = SYNC_REGISTERS[self._syncs % len(SYNC_REGISTERS)]
            self._syncs += 1
            try:
                await self._exchange(
                    Command(f"AT{register}?", until=rf"0*{value}"), timeout, resync=False, guarded=guarded
                )
            except CommandError:  # the late `> ` of an abandoned send, which ESC ended: read again
                if attempt:
                    raise
                continue
            self._behind = False
            return

    async def check_trust(self, timeout: float | None = None) -> None:
        """Check that no other program wrote to the modem unseen: raises `UntrustedAnswer` when one
        did (`untrusted` says why).  With echo off another program's command shows only by its
        answer, and when the client's next command goes before the client's own answer comes, that
        answer is taken for the next command's, and so on: no final result ever comes with no
        command waiting.  This reads a V.250 S-register (`SYNC_REGISTERS`), as the
        resynchronisation does, and a final result before its value (the client's own answer,
        behind the other program's) is `Foreign`.  After an abandoned command such results are its
        late answer: the check is that resynchronisation, and tells nothing more."""
        async with self._lock:
            await self._check_trust(timeout or self.watchdog.probe_timeout)

    async def _check_trust(self, timeout: float) -> None:
        if self._eof or self._closed:
            raise ConnectionClosed(self._ended or f"{self.url}: closed")
        if self.untrusted is not None:
            raise UntrustedAnswer(self.untrusted)
        if self._behind:
            await self._resync(timeout)
            return
        self._checking_trust = True
        try:  # between a line the guard passed and its sending: what the guard knows stays as it is
            await self._resync(timeout, guarded=False)
            self._syncs -= 1  # answered: the next one may read the same register
        finally:
            self._checking_trust = False
        if self.untrusted is not None:
            raise UntrustedAnswer(self.untrusted)

    async def _cancel_prompt(self, cmd: Command, pending: _Pending) -> NoReturn:
        """ESC ends the text entry without sending or storing anything; the command fails at once
        rather than wait out its timeout while the watchdog's probe is typed in as text."""
        await self._write(b"\x1b")
        with contextlib.suppress(TimeoutError, ModemError):
            async with asyncio.timeout(self.watchdog.probe_timeout):
                await asyncio.shield(pending.future)  # OK, ERROR or nothing, as modules differ
        if pending.future.done():
            self._parser.abandon()
        else:
            self._abandon()  # unanswered so far: its OK or ERROR may still come
        raise CommandError(cmd.line, "> (the modem asked for text and none was given: cancelled with ESC)")

    async def _write(self, payload: bytes, guarded: bool | None = None, *, data: bool = False) -> None:
        """Write `payload`; `guarded`: bytes the guard checked (a command line, or with `data` the
        data after it or in data mode), which it learns went out whole (`written`), or not
        (`write_failed`: the modem may hold any first part of them); False: a command line it did
        not check (the client's own probe), whose failed write it learns all the same."""
        try:
            await self._transport.write(payload)
        except BaseException as exc:  # (cut by a timeout or a cancel too)
            if guarded is not None and self.guard is not None:
                self.guard.write_failed(payload)
            if isinstance(exc, OSError):  # a transport that does not map its OS errors itself
                raise ConnectionClosed(f"{self.url}: write failed: {exc}") from exc
            raise
        if guarded and self.guard is not None:
            self.guard.written(data)

    # -- data mode -----------------------------------------------------------------------------
    async def read_data(self, timeout: float | None = None) -> bytes:
        """Next bytes received in data mode (after CONNECT); b"" once the link is closed."""
        async with asyncio.timeout(timeout):
            return await self._data.get()

    async def write_data(self, data: bytes) -> None:
        """Send raw bytes in data mode."""
        if self.guard is not None:
            # in ATV0 the end of data mode (`3`, NO CARRIER) cannot be told from data: the guard says
            self.guard.check_data_write(
                self._parser.in_data_mode,
                data,
                numeric=self._parser.verbose is not True,
                seven_bit=seven_bit(self._transport),
            )
        await self._write(data, True, data=True)

    async def escape(self) -> None:
        """Leave data mode with the `+++` escape (guard time of silence before and after)."""
        async with self._lock:
            await self._escape()

    async def _escape(self) -> None:
        guard = self.watchdog.guard_time
        await asyncio.sleep(guard)
        self._parser.leave_data_mode()
        cmd = Command("+++")
        loop = asyncio.get_running_loop()
        pending = _Pending(cmd, loop.create_future())
        self._pending = pending
        self._parser.begin(cmd)
        try:
            await self._write(b"+++")
            async with asyncio.timeout(guard + self.watchdog.probe_timeout):
                await asyncio.shield(pending.future)
        except (TimeoutError, ModemError) as exc:
            log.info("%s: no OK after +++ (%s)", self.url, exc or "timeout")
            self._abandon()  # an OK still to come is not the next command's (ATH's after a call)
        finally:
            self._pending = None

    # -- watchdog ------------------------------------------------------------------------------
    async def probe(self, timeout: float | None = None) -> bool:
        """Send a bare `AT`: True if the modem answers at all (OK or an error) within the timeout."""
        async with self._lock:
            return await self._probe(timeout)

    async def _probe(self, timeout: float | None = None, line: str = "AT") -> bool:
        timeout = timeout or self.watchdog.probe_timeout
        try:
            if self._behind and line == "AT":  # after a timeout: the resynchronisation is the probe
                await self._resync(timeout)
            else:  # ATQ0 first in a recovery: a modem left quiet (ATQ1) answers nothing before
                await self._exchange(Command(line), timeout, resync=False)
        except CommandTimeout:
            return False
        except ModemError:
            return not self._eof
        return True

    async def check_settings(self) -> bool:
        """Read back the settings the client set (`TRACKED_SETTINGS`: `AT+CMEE?`, ...): False when
        one of them is no longer as set, a restart the modem did not announce (`restarted` has
        been called).  A read the module refuses or does not answer (within the watchdog's probe
        timeout) tells nothing."""
        async with self._lock:
            return await self._check_settings()

    async def _check_settings(self) -> bool:
        restarts = self.restarts
        for prefix in list(self.settings):
            if self.restarts != restarts:
                break
            if prefix not in self.settings:
                continue
            line = f"AT{prefix}?"
            try:
                self._read_back(line, await self._exchange(Command(line), self.watchdog.probe_timeout))
            except CommandTimeout:
                break  # no more reads to a silent modem: the caller's timeout handling follows
            except ModemError as exc:
                log.info("%s: %s? not read back: %s", self.url, prefix, exc)
        return self.restarts == restarts

    def _read_back(self, line: str, reply: Reply) -> None:
        """A setting read back by `check_settings` (a subclass records it)."""

    async def _check_and_recover(self) -> None:
        if await self._probe():
            # it answers: a restart (a brown-out as the command ran) may be why the command was not
            await self._check_settings()
            return
        log.warning("%s: modem does not answer AT; recovering", self.url)
        await self._recover()

    async def recover(self) -> None:
        """Cancel any prompt or data mode, reset, and re-run the init sequence (holding the queue)."""
        async with self._lock:
            await self._recover()

    async def _recover(self) -> None:
        self.recoveries += 1
        self._abandon()  # and what ESC and `+++` may be answered is not the next command's answer
        await self._write(b"\x1b")  # cancels a pending `> ` prompt
        await self._escape()
        policy = self.watchdog
        # ATQ0, not a bare AT: a modem left quiet by ATQ1 answers nothing, not even AT, until then;
        # and a modem stuck may answer in digits (ATV0, from its stored profile): either form goes
        self._parser.verbosity_unknown()
        if not await self._probe(line="ATQ0"):
            raise CommandTimeout("ATQ0", policy.probe_timeout)
        # (the driver's kept settings too: the reset brought back the stored ones, auto-answer too)
        for line in (*policy.reset, *self.init_sequence, *self.kept.values()):
            try:
                await self._exchange(Command(line), self.timeout_for(Command(line)))
                if self._parser.verbose is False and grammar.verbose_after(line) is not False:
                    await self._words()  # ATZ brought back a stored profile in ATV0
            except ModemError as exc:
                log.warning("%s: recovery step %s failed: %s", self.url, line, exc)
            if grammar.resets(line):  # a stored profile with ATQ1 answers nothing from here on
                self._parser.verbosity_unknown()
                if not await self._probe(line="ATQ0"):
                    raise CommandTimeout("ATQ0", policy.probe_timeout)
        self._lost = None  # its reset and the client's settings again, as after a restart
        log.info("%s: recovered (%d recoveries so far)", self.url, self.recoveries)

    async def _idle_loop(self, interval: float) -> None:
        while not self._eof:
            await asyncio.sleep(max(0.0, self.last_activity + interval - time.monotonic()))
            if time.monotonic() - self.last_activity < interval:
                continue
            async with self._lock:
                if self._eof:
                    break
                try:
                    await self._check_and_recover()
                except ModemError as exc:
                    log.error("%s: watchdog recovery failed: %s", self.url, exc)
            self.last_activity = time.monotonic()

    # -- reader --------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        error: ModemError = ConnectionClosed(f"{self.url}: end of stream")
        read: asyncio.Future[bytes] | None = None
        try:
            while True:
                if read is None:
                    read = asyncio.ensure_future(self._transport.read())
                if self._parser.holding:  # ATV0 `<digit><CR>`: a result code unless LF follows
                    done, _ = await asyncio.wait({read}, timeout=CR_LF_WAIT)
                    if not done:
                        for event in self._parser.flush():
                            self._dispatch(event)
                        continue
                try:
                    chunk = await read
                except asyncio.CancelledError:
                    reader = asyncio.current_task()
                    if not read.cancelled() or reader is None or reader.cancelling():
                        raise
                    # the read alone cancelled, not the reader (a test harness cancelling every
                    # task but its own on SIGTERM): read again, the answers to the hang-up to come
                    read = None
                    continue
                read = None
                if not chunk:
                    break
                self.last_activity = time.monotonic()
                log.debug("%s << %r", self.url, chunk)
                for event in self._parser.feed(chunk):
                    self._dispatch(event)
        except OSError as exc:
            error = ConnectionClosed(f"{self.url}: {exc}")
        except TransportError as exc:  # the port went away (a USB modem unplugged, a pty closed)
            error = ConnectionClosed(str(exc))
        finally:
            if read is not None and not read.done():
                read.cancel()
        self._eof = True
        self._ended = str(error)
        self._end(error)

    def _end(self, error: ModemError) -> None:
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)
        self._urcs.end()
        self._data.put_nowait(b"")

    def _dispatch(self, event: Event) -> None:
        pending = self._pending
        if isinstance(event, Urc):
            log.debug("%s URC %s", self.url, event.line)
            if self.guard is not None:
                self.guard.urc(event.name, event.line)
            self._urcs.publish(event)
            self._boot_notice(event)
        elif isinstance(event, Data):
            self._data.put_nowait(event.data)
        elif isinstance(event, Foreign):
            self._foreign(event)
        elif isinstance(event, Late):  # the lines so far were a late answer's, not this command's
            if pending is not None:
                pending.responses.clear()
            if self._checking_trust:  # no command was abandoned: not the client's answer
                self._foreign(Foreign("final", event.line))
        elif pending is None or pending.future.done():
            log.debug("%s: answer with no command waiting: %r", self.url, event)
        elif isinstance(event, Response):
            pending.responses.append(event)
        elif isinstance(event, Prompt):
            pending.prompt.set()
        elif isinstance(event, Final):
            self._complete(pending, event)

    def _boot_notice(self, urc: Urc) -> None:
        """A notice a module gives as it boots (`boot_notice`) is the boot under way's (the
        power-up's, one a line asked for, or a restart already noticed) when it did not come yet in
        that boot and the boot began less than `boot_window` seconds before; otherwise it is a new
        boot, an unasked restart.  `RDY` begins a boot and announces it (the bench counts it
        itself): the notices after it are that boot's."""
        notice = boot_notice(urc)
        if notice is None:
            return
        now = self.clock()
        self._booted.set()
        if notice == "RDY":  # the module restarted: its settings are the stored profile's
            if self.guard is not None and self._lost is None:
                self.guard.restarted("RDY: the module restarted")
            self._settings_lost("RDY")
        if notice != "RDY" and notice not in self._boot_seen and now - self._boot_since < self.boot_window:
            self._boot_seen.add(notice)
            return
        self._boot_seen, self._boot_since = {notice}, now
        if notice != "RDY":
            self.restarted(
                f"unasked {notice}: no line asked for it, and a module says it as it boots "
                "(settings, calls and PDP contexts lost)",
                f"unasked {notice}",
            )

    def _follow_settings(self, command: Command, pending: _Pending, final: Final) -> None:
        """Learn the settings a line set (answered OK) and check those its answer reads back; a
        word result (OK) from a modem told ATV0 is one back on its defaults too."""
        line = command.line
        if pending.numeric and final.line in ("OK", "ERROR") and grammar.verbose_after(line) is None:
            self._parser.restarted()
            self.restarted(
                f"words again: it answered {line!r} with {final.line}, though ATV0 was answered "
                "before, as after a power-up (settings, calls and PDP contexts lost)",
                "its results in words again",
            )
            return
        if not final.ok:
            return
        sets: dict[str, tuple[str, ...]] = {}
        for part in split_chain(line):
            m = _SET.fullmatch(part)
            if m and m.group(1).upper() in TRACKED_SETTINGS:
                sets[m.group(1).upper()] = tuple(_norm(f) for f in grammar.split_fields(m.group(2)))
        for response in pending.responses:
            prefix = grammar.prefix_of(response.line)
            if prefix not in self.settings or prefix in sets or command.kinds.get(prefix) != "read":
                continue
            expected = self.settings[prefix]
            fields = tuple(_norm(f) for f in grammar.fields_of(response.line))
            if fields[: len(expected)] != expected:
                self.restarted(
                    f"{prefix} lost: it reads {response.line!r} where {prefix}={','.join(expected)} was "
                    "answered OK before, as after a power-up (settings, calls and PDP contexts lost)",
                    f"{prefix} back to its power-up value",
                )
                return
        if grammar.resets(line) or _FUNCTIONALITY.search(line):
            self.settings.clear()  # the stored profile's values, or the module's
        for prefix, fields in sets.items():
            if all(fields):
                self.settings[prefix] = fields
            else:  # a value left out: the module's default, not known here
                self.settings.pop(prefix, None)

    def _follow_echo(self, command: Command, final: Final) -> None:
        """A modem told ATE0 that echoes again has lost its settings: it restarted."""
        if self._parser.echoed and self._echo is False:
            self._echo = None
            self.restarted(
                f"it echoed {command.line!r}, though ATE0 was answered before: its echo is back on, "
                "as after a power-up (settings, calls and PDP contexts lost)",
                "its echo back on",
            )
        if final.ok:
            sets, echo = grammar.echo_after(command.line)
            if sets:
                self._echo = echo

    def _complete(self, pending: _Pending, final: Final) -> None:
        restarts = self.restarts
        self._follow_echo(pending.command, final)
        if self.restarts == restarts:
            self._follow_settings(pending.command, pending, final)
        line = pending.command.line
        lines = tuple(r.line for r in pending.responses)
        # its boot notices and stored profile follow (not a "+CRESET" in a URL's quotes)
        if final.ok and self.restarts_module(line):
            self._booted.clear()
            self._settings_lost(line)
        if final.ok:
            pending.future.set_result(Reply(line, tuple(pending.responses), final))
        elif final.result is Result.CME_ERROR:
            pending.future.set_exception(cme_error(line, final.value, lines))
        elif final.result is Result.CMS_ERROR:
            pending.future.set_exception(cms_error(line, final.value, lines))
        elif final.result in (Result.NO_CARRIER, Result.BUSY, Result.NO_ANSWER, Result.NO_DIALTONE):
            pending.future.set_exception(CallFailed(line, final.result.value))
        else:
            pending.future.set_exception(CommandError(line, final.line, lines))


def _same_rules(current: object, guard: object) -> bool:
    """Whether `guard` enforces what the strict `current` does: of its very class, strict, the same
    policy object and no allowed command that `current` does not allow."""
    return (
        type(guard) is type(current)
        and getattr(guard, "strict", False) is True
        and getattr(guard, "policy", None) is getattr(current, "policy", None)
        and frozenset(getattr(guard, "allow_commands", ()))
        <= frozenset(getattr(current, "allow_commands", ()))
    )


def _sync_first(guard: CommandGuard, line: str) -> bool:
    """Whether the guard has the client check its answers are its own before `line` goes (a line
    that texts or calls, on a physical modem: `modem.safety.CommandGuard.costs`)."""
    costs = getattr(guard, "costs", None)
    return bool(costs(line)) if callable(costs) else False


_FUNCTIONALITY = re.compile(r"\+CFUN\s*=\s*\d", re.IGNORECASE)
_SET = re.compile(r"\s*([+][A-Za-z0-9]+)\s*=\s*([^?].*|)", re.DOTALL)


def _norm(field: str) -> str:
    """A setting's field as compared: unquoted, upper case, no spaces (`" 2"` -> `2`)."""
    return grammar.unquote(field.strip()).strip().upper()


def boot_notice(urc: Urc) -> str | None:
    """What a module says as it boots, named (`Call Ready`, `+CFUN: 1`, `+CPIN: READY`), or None:
    SIMCom's RDY, +CFUN: 1, +CPIN: READY, Call Ready, SMS Ready, PB DONE; Quectel's RDY, APP RDY,
    +QIND: SMS DONE / PB DONE, +QUSIM."""
    fields = [grammar.unquote(f).upper() for f in urc.fields] if urc.name.startswith("+") else []
    if urc.name in ("RDY", "APP RDY", "Call Ready", "SMS Ready", "PB DONE", "SMS DONE"):
        return urc.name
    if urc.name == "+CFUN" and fields == ["1"]:
        return "+CFUN: 1"
    if urc.name == "+CPIN" and fields == ["READY"]:
        return "+CPIN: READY"
    if urc.name == "+QIND" and fields[:1] in (["SMS DONE"], ["PB DONE"]):
        return f"+QIND: {fields[0]}"
    if urc.name == "+QUSIM":
        return "+QUSIM"
    return None


def _prompt_mark(line: str) -> str:
    """The prompt the module answers `line` with before it reads its data: `@` for u-blox's binary
    socket writes, `> ` otherwise (`modem.safety.SEND_FORMS`)."""
    from modem.safety import send_form  # (modem.safety reads lines with modem.at.grammar)

    form = send_form(line)
    return form.prompt if form is not None and form.prompt else "> "


def _as_command(command: str | Command, timeout: float | None) -> Command:
    if isinstance(command, str):
        return Command(command, timeout=timeout)
    return command if timeout is None else dataclasses.replace(command, timeout=timeout)
