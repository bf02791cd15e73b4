"""`replay://transcript.jsonl`: a modem that answers as a recorded one did.

A bench transcript (`hil.transcript`, recorded on a physical modem or a virtual one) replays as a
modem: each command written to it is answered with the lines, payloads and final result the
recorded module gave, after the recorded delay; the URCs that came after a command come again,
at the recorded offsets.  Times are multiplied by `scale` (`replay://run.jsonl?scale=0` answers
at once, `scale=2` twice as slowly; default 1).

    result = await run_bench("register", "replay://runs/bench/register-1/transcript.jsonl?scale=0")
    pytest tests/hil --modem-url replay://tests/hil/transcripts/register-quectel-bg96.jsonl

The recording is followed in order.  A command the script now sends more often than it was
recorded (a status poll: AT+CLCC while a call is set up) is answered as its last recorded
occurrence; recorded repetitions of the last command that are not sent again are skipped.  Any
other command is an error, `UnmatchedCommand`, naming the command, the one the recording expected
next and the nearest recorded command (difflib), e.g.

    replay://reg.jsonl: command 'AT+CGMM' is not in the recording reg.jsonl (expected next:
    'AT+GMM', line 12; nearest recorded: 'AT+GMM', line 12)

raised by the transport's `write`, so the command fails with it and the bench run fails with it
as its reason.  A command that timed out in the recording gets no answer (the client times out
again); one that was cut by the end of the link ends the replay (end of file).  The client's own
resynchronisation after a timeout (`ATS3?`, `ATS4?`, `ATS5?`: `modem.at.client.SYNC_REGISTERS`),
which no transcript records, is answered as a module answers it; so is its read-back of the
settings it made (`AT+CMEE?`: `ATClient.check_settings`, at the end of a bench run), as the
recording last answered that read or with the value last set.  Another program's line that failed
a run as untrusted (its `note`, `foreign`) comes again where it came, so the replay fails alike;
the commands the client then refused to send are not expected.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import difflib
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from hil.transcript import TRANSCRIPT_FORMAT, read_transcript_lines
from modem.at.client import SYNC_REGISTERS, TRACKED_SETTINGS
from modem.at.errors import TransportError
from modem.transport import Transport
from modem.transports import SpyTransport

log = logging.getLogger(__name__)

SCHEME = "replay://"
CTRL_Z = 0x1A
_CRLF = b"\r\n"
# the client's resynchronisation after a timeout, not in any recording: answered as a module does
_SETTING_READ = re.compile(r"AT(\+[A-Z0-9]+)\?", re.IGNORECASE)
_SETTING_SET = re.compile(r"AT(\+[A-Z0-9]+)=([^;?]*)", re.IGNORECASE)
_SYNC_ANSWERS = {
    f"AT{register}?": f"\r\n{value:03d}\r\n\r\nOK\r\n".encode() for register, value in SYNC_REGISTERS
}


class ReplayError(TransportError):
    """A recording that cannot be replayed (missing, not a transcript, a bad `replay://` option)."""


class UnmatchedCommand(ReplayError):
    """A command the recording has no answer for: names it and the nearest recorded command."""

    def __init__(self, message: str, command: str, nearest: str | None) -> None:
        super().__init__(message)
        self.command = command
        self.nearest = nearest


@dataclass
class Exchange:
    """One recorded command: what the modem sent back, and the URCs that followed it."""

    command: str
    line: int  # line of the transcript file
    answer: bytes | None  # None: no answer (the command timed out or was cancelled)
    delay: float  # seconds the answer took
    data_bytes: int = 0  # the command took data after the `> ` prompt
    eof: bool = False  # the link ended during the command
    urcs: list[tuple[float, bytes]] = field(default_factory=list)  # (seconds after the command, bytes)
    t: float = 0.0  # when it was sent, seconds after the recording's start


@dataclass
class Recording:
    path: str
    exchanges: list[Exchange]
    opening: list[tuple[float, bytes]]  # URCs before the first command (seconds after the start)
    profile: str | None = None  # the driver profile the recording ran with
    profile_source: str | None = None  # where it came from: `<defaults>` (none given), or its file
    timeout: float | None = None  # the recording's seconds per AT command (`--timeout`)
    script: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the script's parameters when recorded
    open_line: int | None = None  # the line of the `open` event (profile, script, params)
    targets: dict[str, str] = field(default_factory=dict)  # "sms"/"call" -> the number used
    # the client's read-backs of its settings (`setting` events): (commands before it, line, answer)
    settings: list[tuple[int, str, bytes]] = field(default_factory=list)
    started: datetime | None = None  # the recording's start, by the bench's clock (`wall_clock`)

    def time_of(self, exchange: Exchange) -> datetime | None:
        """When the recorded modem answered `exchange`, by the recording bench's clock (None for a
        transcript without its start's `wall_clock`)."""
        if self.started is None:
            return None
        return self.started + timedelta(seconds=exchange.t + exchange.delay)


def is_replay(url: str) -> bool:
    while url.startswith("spy://"):
        url = url[len("spy://") :]
    return url.startswith(SCHEME)


def split_url(url: str) -> tuple[str, float]:
    """(the transcript's path, the time scale) of a `replay://PATH[?scale=X]` URL."""
    while url.startswith("spy://"):
        url = url[len("spy://") :]
    rest = url[len(SCHEME) :]
    path, _, query = rest.partition("?")
    scale = 1.0
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "scale":
            raise ReplayError(f"{url}: unknown option {key!r}; known: scale")
        try:
            scale = float(value)
        except ValueError:
            scale = math.nan
        if not math.isfinite(scale) or scale < 0:
            raise ReplayError(f"{url}: scale={value!r}: expected a number 0 or more")
    if not path:
        raise ReplayError(f"{url}: expected replay://PATH-OF-A-TRANSCRIPT.jsonl")
    return path, scale


class _Event:
    """One event of a transcript being loaded: its fields read with their types checked, a field of
    the wrong type a `ReplayError` naming the file, the line and the field."""

    def __init__(self, source: str, line: int, event: dict[str, Any]) -> None:
        self.source, self.line, self.event = source, line, event

    def fail(self, key: str, reason: str) -> ReplayError:
        return ReplayError(f"{self.source}:{self.line}: {key}: {reason}")

    def number(self, key: str, default: float, minimum: float = -math.inf) -> float:
        value = self.event.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r:.40}")
        if not math.isfinite(value) or value < minimum:
            raise self.fail(key, f"{value!r} is out of range (a finite number, at least {minimum:g})")
        return float(value)

    def text(self, key: str) -> str | None:
        value = self.event.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"expected text, got {value!r:.40}")
        return value

    def texts(self, key: str, none: bool = False) -> list[Any]:
        """A list of text (and nulls, with `none`)."""
        value = self.event.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) or (none and v is None) for v in value):
            raise self.fail(key, f"expected a list of text, got {value!r:.40}")
        return value

    def payload(self, key: str, data: str) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(key, f"not base64: {data!r:.40}") from None

    def answer(self) -> bytes | None:
        final = self.event.get("final")
        if final is None:
            return None
        final = self.text("final")
        responses = self.texts("responses")
        payloads = self.texts("payloads", none=True)
        out = bytearray()
        if responses:
            out += _CRLF
            for i, text in enumerate(responses):
                out += text.encode("latin-1", "replace") + _CRLF
                payload = payloads[i] if i < len(payloads) else None
                if payload is not None:
                    out += self.payload("payloads", payload) + _CRLF
        if (
            not responses or responses[-1] != final
        ):  # a vendor final (SIMCom's AT+CIFSR address) is the last line
            out += _CRLF + str(final).encode("latin-1", "replace") + _CRLF
        return bytes(out)

    def urc(self) -> bytes:
        out = _CRLF + str(self.event["line"]).encode("latin-1", "replace") + _CRLF
        extra = self.text("extra")
        if extra is not None:
            out += extra.encode("latin-1", "replace") + _CRLF
        payload = self.text("payload")
        if payload is not None:
            out += self.payload("payload", payload) + _CRLF
        return out


def load_recording(path: str | Path) -> Recording:
    """The exchanges of a transcript file; `ReplayError` names the file (and line, and field) when
    unusable.  Events of a kind replay has no use for (steps, notes but another program's line, a
    later version's kinds) are skipped."""
    source = str(path)
    try:
        lined = read_transcript_lines(path)
    except FileNotFoundError:
        raise ReplayError(f"{source}: no such transcript") from None
    except IsADirectoryError:
        raise ReplayError(f"{source}: is a folder, expected a transcript.jsonl") from None
    except UnicodeDecodeError:
        raise ReplayError(f"{source}: not a transcript (not UTF-8 text)") from None
    except ValueError as exc:
        raise ReplayError(str(exc)) from None
    except OSError as exc:
        raise ReplayError(f"{source}: cannot read: {exc.strerror or exc}") from None
    checked = [(_Event(source, line, event), line) for line, event in lined]
    # Events are written when they end; a command's `t` is when it began: replay in time order.
    ordered = sorted(((e, e.number("t", 0.0), line) for e, line in checked), key=lambda p: (p[1], p[2]))
    exchanges: list[Exchange] = []
    opening: list[tuple[float, bytes]] = []
    rec = Recording(source, exchanges, opening)
    settings = rec.settings
    starts: list[float] = []
    for ev, t, line in ordered:
        event = ev.event
        kind = event.get("kind")
        if kind == "start":
            with contextlib.suppress(TypeError, ValueError):  # (none, or not a time: not known)
                started = datetime.fromisoformat(str(event.get("wall_clock")))
                rec.started = started if started.tzinfo is not None else started.replace(tzinfo=UTC)
            version = ev.number("format", 1, minimum=1)
            if version > TRANSCRIPT_FORMAT:
                raise ev.fail(
                    "format",
                    f"recorded by a later m2msim (transcript format {version:g}; this one reads up to "
                    f"{TRANSCRIPT_FORMAT}): replay it with that version",
                )
        if kind == "open":
            rec.open_line = line
            rec.profile = ev.text("profile")
            rec.profile_source = ev.text("profile_source")
            timeout = event.get("timeout")
            if isinstance(timeout, int | float) and not isinstance(timeout, bool) and 0 < timeout < math.inf:
                rec.timeout = float(timeout)
            rec.script = ev.text("script")
            if isinstance(event.get("params"), dict):
                rec.params = dict(event["params"])
        elif kind == "command" and _not_sent(event):
            continue  # refused by the client, never written: the replayed client refuses it again
        elif kind == "command":
            if not isinstance(event.get("command"), str):
                raise ReplayError(f"{source}:{line}: a command event without its `command`")
            data_bytes = ev.number("data_bytes", 0, minimum=0)
            exchanges.append(
                Exchange(
                    command=event["command"],
                    line=line,
                    answer=ev.answer(),
                    delay=ev.number("duration_s", 0.0, minimum=0),
                    data_bytes=int(data_bytes),
                    eof=event.get("error") == "ConnectionClosed",
                    t=t,
                )
            )
            starts.append(t)
        elif kind == "setting" and isinstance(event.get("command"), str):
            answer = ev.answer()
            if answer is not None:
                settings.append((len(exchanges), event["command"].upper(), answer))
        elif kind == "note" and event.get("untrusted") and isinstance(event.get("foreign"), str):
            # another program's line: played again where it came, so the replay fails as the run did
            heard = ev.text("foreign") or ""
            data = (
                heard.encode("latin-1", "replace") + b"\r"
                if event.get("foreign_kind") == "echo"
                else (_CRLF + heard.encode("latin-1", "replace") + _CRLF)
            )
            last = exchanges[-1] if exchanges else None
            if last is None:
                opening.append((t, data))
            elif last.answer is None:  # during the command, which it failed: its answer now
                last.answer, last.delay = data, max(0.0, t - starts[-1])
            else:  # after its answer, with it: before the client's next line, as it came then
                last.answer += data
        elif kind == "urc" and isinstance(event.get("line"), str):
            if exchanges:
                # written after the command's event, it came after the command's final answer: not
                # before it, whatever its time (taken as it was read, maybe in the answer's chunk,
                # before the command's waiter resumed and timed the answer)
                exchanges[-1].urcs.append((max(exchanges[-1].delay, t - starts[-1]), ev.urc()))
            else:
                opening.append((t, ev.urc()))
        elif kind == "step" and isinstance(event.get("info"), dict) and event["info"].get("number"):
            name = str(event.get("name", ""))
            action = "call" if "dial" in name or event["info"].get("action") == "dial" else "sms"
            rec.targets.setdefault(action, str(event["info"]["number"]))
    if not exchanges:
        raise ReplayError(f"{source}: no AT command in the transcript: nothing to replay")
    return rec


def _not_sent(event: dict[str, Any]) -> bool:
    """A command the client of an untrusted port refused to send (`UntrustedAnswer`, `not sent`)."""
    return event.get("error") == "UntrustedAnswer" and ": not sent: " in str(event.get("message", ""))


class ReplayTransport:
    """A `modem.transport.Transport` answering from a `Recording`."""

    def __init__(self, url: str, recording: Recording, scale: float = 1.0) -> None:
        self.url = url
        self.recording = recording
        self.scale = scale
        self.cursor = 0
        self.answered: int | None = None  # index of the last exchange answered
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._buf = bytearray()
        self._data_for: Exchange | None = None  # waiting for the data after the prompt
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._schedule(0.0, list(recording.opening), None)

    # -- the transport ------------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        """The bench's seconds per recorded second (`modem.transport.time_scale`): the `scale`."""
        return self.scale

    async def settled(self) -> None:
        """Until the answers and URCs scheduled so far have all come (`modem.transport.settled`)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def recorded_now(self) -> datetime | None:
        """The recorded time of the replay's place: when the exchange last answered was answered
        (the recording's start before any), by the recording bench's clock; None when the
        recording does not say (no `wall_clock`)."""
        if self.answered is None:
            return self.recording.started
        return self.recording.time_of(self.recording.exchanges[self.answered])

    async def read(self) -> bytes:
        if self._closed and self._inbox.empty():
            return b""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ReplayError(f"{self.url}: closed")
        self._buf += data
        while self._buf:
            if self._data_for is not None:
                need = self._data_for.data_bytes
                if len(self._buf) < need:
                    return
                del self._buf[:need]
                exchange, self._data_for = self._data_for, None
                self._respond(exchange)
                continue
            end = self._buf.find(b"\r")
            if end < 0:
                return
            line = self._buf[:end].decode("utf-8", "surrogateescape").strip()
            del self._buf[: end + 1]
            if self._buf[:1] == b"\n":
                del self._buf[:1]
            if line:
                self._command(line)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._inbox.put_nowait(b"")

    # -- matching ------------------------------------------------------------------------------------
    def _command(self, line: str) -> None:
        exchanges = self.recording.exchanges
        last = exchanges[self.answered].command if self.answered is not None else None
        skipped: list[Exchange] = []
        index = self.cursor
        if not (index < len(exchanges) and exchanges[index].command == line) and line != last:
            # recorded repetitions of the last command (a poll) that are not sent again are skipped
            while index < len(exchanges) and last is not None and exchanges[index].command == last:
                skipped.append(exchanges[index])
                index += 1
        if index < len(exchanges) and exchanges[index].command == line:
            self.cursor, self.answered = index + 1, index
            exchange = exchanges[index]
            for s in skipped:  # their URCs still come, at once
                self._schedule(0.0, [(0.0, data) for _, data in s.urcs], None)
        elif line in _SYNC_ANSWERS:
            self._inbox.put_nowait(_SYNC_ANSWERS[line])
            return
        elif (setting := _SETTING_READ.fullmatch(line)) and setting.group(1).upper() in TRACKED_SETTINGS:
            self._inbox.put_nowait(self._setting(line, setting.group(1).upper()))
            return
        elif line == last and self.answered is not None:
            exchange = Exchange(line, exchanges[self.answered].line, exchanges[self.answered].answer, 0.0)
            exchange.delay = exchanges[self.answered].delay
            exchange.data_bytes = exchanges[self.answered].data_bytes
        else:
            raise self._unmatched(line)
        log.debug("%s: %s answered as line %d", self.url, line, exchange.line)
        if exchange.data_bytes:
            self._data_for = exchange
            self._inbox.put_nowait(b"\r\n> ")
            return
        self._respond(exchange)

    def _respond(self, exchange: Exchange) -> None:
        events: list[tuple[float, bytes]] = []
        if exchange.answer is not None:
            events.append((exchange.delay, exchange.answer))
        events.extend(exchange.urcs)
        self._schedule(0.0, events, exchange if exchange.eof else None)

    def _setting(self, line: str, prefix: str) -> bytes:
        """The client's read-back of a setting (`ATClient.check_settings`, which no transcript
        records as a command): answered as recorded (a `setting` event), else as the recording last
        answered that read, else with the value last set and answered OK, else with OK alone."""
        for before, read, answer in reversed(self.recording.settings):
            if before <= self.cursor and read == line.upper():
                return answer
        for exchange in reversed(self.recording.exchanges[: self.cursor]):
            if exchange.answer is None or not exchange.answer.rstrip().endswith(b"OK"):
                continue
            if exchange.command.upper() == line.upper():
                return exchange.answer
            sets = _SETTING_SET.fullmatch(exchange.command)
            if sets and sets.group(1).upper() == prefix:
                return f"\r\n{prefix}: {sets.group(2)}\r\n\r\nOK\r\n".encode()
        return b"\r\nOK\r\n"

    def _unmatched(self, line: str) -> UnmatchedCommand:
        exchanges = self.recording.exchanges
        where = {e.command: e.line for e in reversed(exchanges)}
        near = difflib.get_close_matches(line, list(where), n=1, cutoff=0.0)
        nearest = near[0] if near else None
        expected = (
            f"expected next: {exchanges[self.cursor].command!r}, line {exchanges[self.cursor].line}"
            if self.cursor < len(exchanges)
            else "the recording has no command left"
        )
        hint = f"; nearest recorded: {nearest!r}, line {where[nearest]}" if nearest is not None else ""
        return UnmatchedCommand(
            f"{self.url}: command {line!r} is not in the recording {self.recording.path} ({expected}{hint})",
            line,
            nearest,
        )

    # -- timing --------------------------------------------------------------------------------------
    def _schedule(self, base: float, events: list[tuple[float, bytes]], eof: Exchange | None) -> None:
        if not events and eof is None:
            return
        ordered = sorted(events, key=lambda e: e[0])
        if self.scale == 0 or all(offset == 0 for offset, _ in ordered):
            for _, data in ordered:
                self._inbox.put_nowait(data)
            if eof is not None:
                self._closed = True
                self._inbox.put_nowait(b"")
            return
        task = asyncio.get_running_loop().create_task(self._emit(ordered, eof))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(self, events: list[tuple[float, bytes]], eof: Exchange | None) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for offset, data in events:
            wait = t0 + offset * self.scale - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._inbox.put_nowait(data)
        if eof is not None:
            self._closed = True
            self._inbox.put_nowait(b"")


def recorded_field_error(recording: Recording, key: str, exc: Exception) -> ReplayError:
    """A field of the recording's `open` event the bench cannot use (its profile, a parameter)."""
    where = f"{recording.path}:{recording.open_line}" if recording.open_line else recording.path
    return ReplayError(f"{where}: {key}: {exc}")


def recording_of(url: str) -> Recording:
    """The recording a `replay://` URL names (`ReplayError` when unusable)."""
    return load_recording(split_url(url)[0])


def open_replay(url: str) -> tuple[Transport, ReplayTransport]:
    """(the transport to use, the replaying modem) of a `replay://PATH[?scale=X]` URL, also under
    `spy://`; `ReplayError` when the URL or the recording is unusable."""
    if url.startswith("spy://"):
        inner, replay = open_replay(url[len("spy://") :])
        return SpyTransport(inner), replay
    path, scale = split_url(url)
    replay = ReplayTransport(url, load_recording(path), scale)
    return replay, replay
