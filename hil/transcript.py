"""The bench transcript: every AT command and answer, every URC, every step, with monotonic timings.

Written as JSON lines (`transcript.jsonl`), one event per line, in the order they happened:

    {"seq": 3, "t": 0.0153, "kind": "command", "command": "AT+CSQ", "responses": ["+CSQ: 20,0"],
     "final": "OK", "duration_s": 0.0011}
    {"seq": 9, "t": 2.0042, "kind": "urc", "line": "+CREG: 1,\"8F3A\",\"1B2C3D4\",0"}
    {"seq": 10, "t": 2.0051, "kind": "step", "name": "wait-registered", "duration_s": 1.99, "ok": true}
    {"seq": 11, "t": 2.0100, "kind": "refused", "action": "sms", "number": "+33...", "reason": "..."}

`t` is when the event began, in seconds since the transcript started, from `time.monotonic()`
(never the wall clock, which can jump); the wall-clock start is kept once in the `start` event,
with the transcript's `format` (`TRANSCRIPT_FORMAT`).
Events are appended when they end (`seq`), so a step comes after the commands it contains.

Given a `path`, the transcript is written as it goes: each event is appended to the file and
flushed at once, so a bench that is interrupted or crashes keeps every event up to that moment
(each line a complete JSON object).  A file that cannot be created, or take the first event, is an
`OutputError` (the bench has sent nothing yet).  A later write that fails (a full disk) never stops
the run nor its clean-up: the file is cut back to its last whole line, the events are kept in memory
(`unwritten` says why the file stopped), and `write` puts the whole transcript in place at the end.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from m2msim.outputs import OutputError, atomic_write_text, head_matches

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# The version of the events' layout, in the `start` event (none: 1). A reader refuses a later one,
# whose events it may misread, rather than replay part of it.
TRANSCRIPT_FORMAT = 1


class Transcript:
    """An ordered list of timed events, appended to `path` as they happen when one is given
    (`close()` when done); `write(path)` stores it as JSON lines."""

    def __init__(
        self, clock: Clock = time.monotonic, started: datetime | None = None, path: Path | None = None
    ) -> None:
        self.clock = clock
        self.t0 = clock()
        self.started = started or datetime.now(UTC)
        self.events: list[dict[str, Any]] = []
        self.path = path
        self.unwritten: OSError | None = None  # why the file stopped taking events, if it did
        self._fd: int | None = None
        self._written = 0  # bytes of whole lines in the file
        if path is not None:
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write the transcript ({exc.strerror or exc})") from None
        self.record(
            "start", wall_clock=self.started.isoformat(timespec="milliseconds"), format=TRANSCRIPT_FORMAT
        )
        if self.unwritten is not None:  # not even the first event: no file, the bench sends nothing
            if Path(path).is_file() and Path(path).stat().st_size == 0:
                Path(path).unlink()
            raise OutputError(
                f"{path}: cannot write the transcript ({self.unwritten.strerror or self.unwritten})"
            )

    def close(self) -> None:
        """Stop writing to `path` (the events stay in memory)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            # the file keeps whole lines only; the run and its clean-up go on, the events in memory
            with suppress(OSError):
                os.ftruncate(self._fd, self._written)
            self.close()
            self.unwritten = exc
            log.warning("%s: the transcript cannot be written any more (%s); kept in memory", self.path, exc)
            return
        self._written += len(data)

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def record(self, kind: str, *, at: float | None = None, **fields: Any) -> dict[str, Any]:
        """Append an event (`kind` and JSON-serialisable fields) stamped with the elapsed time.

        `at`: when it began (an earlier `elapsed()`), for events recorded once they are over.
        """
        t = self.elapsed() if at is None else at
        event: dict[str, Any] = {"seq": len(self.events), "t": round(t, 6), "kind": kind}
        event.update(fields)
        self.events.append(event)
        if self._fd is not None:
            # One write per event, unbuffered: an interruption leaves whole lines only.
            self._append(_line(event).encode("utf-8"))
        return event

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    @property
    def commands(self) -> list[dict[str, Any]]:
        return self.of_kind("command")

    @contextmanager
    def step(self, name: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """Time a named step; what the caller puts in the yielded dict is kept as the event's `info`."""
        start = self.clock()
        began = start - self.t0
        extra: dict[str, Any] = dict(fields)
        ok = False
        try:
            yield extra
            ok = True
        except BaseException as exc:
            extra["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            duration = round(self.clock() - start, 6)
            self.record("step", at=began, name=name, duration_s=duration, ok=ok, info=extra)

    def step_durations(self) -> dict[str, float]:
        """Seconds per step name (summed when a step name repeats)."""
        out: dict[str, float] = {}
        for e in self.of_kind("step"):
            out[e["name"]] = round(out.get(e["name"], 0.0) + float(e["duration_s"]), 6)
        return out

    def to_jsonl(self) -> str:
        return "".join(_line(e) for e in self.events)

    def write(self, path: str | Path) -> Path:
        """The transcript at `path`: the file it is streamed to already holds it; another path is
        written atomically."""
        target = Path(path)
        if self.path is not None and target.resolve() == Path(self.path).resolve() and self.unwritten is None:
            return target
        atomic_write_text(target, self.to_jsonl(), own=is_transcript)
        return target


# A transcript m2msim wrote (any version): its first event, numbered 0 (the start, on a bench).  `write` replaces such a file
# (the pytest plugin's --bench-out, run again) and no other (m2msim.outputs).
is_transcript = head_matches(rb'\{"seq": 0, "t": [-+.0-9eE]+, "kind": "')


def _line(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, default=str) + "\n"


def read_transcript(path: str | Path) -> list[dict[str, Any]]:
    """The events of a transcript file (JSON lines), in order."""
    return [event for _, event in read_transcript_lines(path)]


def read_transcript_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line of the file, event) of each event of a transcript file, in order: blank lines are
    skipped but counted, a byte-order mark (a transcript edited on Windows) is ignored.  A line
    that is not a JSON object with a `kind` is a `ValueError` naming the file and the line."""
    events: list[tuple[int, dict[str, Any]]] = []
    for lineno, text in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not a JSON object: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number; arrays nested 10^5 deep
            reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise ValueError(f"{path}:{lineno}: not a transcript event: {reason}") from None
        if not isinstance(event, dict) or "kind" not in event:
            raise ValueError(f"{path}:{lineno}: an event is an object with a `kind`")
        events.append((lineno, event))
    return events
