"""Interim accounting of open data sessions: a live writer's journal of them, and its fold into the
records a killed writer left.

A writer that streams usage records as sessions close (`m2msim modem serve`) has, for a data session
still open, only counters in memory: killed by SIGKILL (the OOM killer, a CI runner's hard timeout, a
power cut), it left no record of it.  So it keeps an `OpenSessionJournal` beside its records: every
second, the current record of each open session whose bytes changed (`NetworkAPI.current_records`),
appended as one CSV row of the usage schema, pushed to the disk, with cause `ClosingCause.KILLED`,
the sequence number the session's next record will have, its bytes since its last record and its
duration up to that interim point.  The rows of a session are cumulative: its latest one holds all
of the earlier ones.  Past `MAX_JOURNAL_BYTES` the journal starts afresh in a new file with the
latest row of each open session, the old file removed once the new one is on the disk.

`fold_open_sessions` is the recovery (`m2msim.outputs.keep_left`): into the records file the killed
writer left (a usage CSV cut after its last whole row), the latest row of each session its journals
hold, unless the records file already has that session's record of that sequence number or a later
one (the session's record was written after its last interim point: it holds those bytes).  No byte
is counted twice, and a fold repeated (a recovery itself killed) adds nothing more.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from accounting.records import ClosingCause, UsageRecord
from accounting.usage_writer import CSV_HEADER, UsageWriter

log = logging.getLogger(__name__)

MAX_JOURNAL_BYTES = 4 << 20
"""A journal larger than this starts afresh (its open sessions' latest rows in a new file)."""

IDLE_INTERIM_S = 60
"""A session whose bytes did not change gets a row this often (its duration goes on)."""


class OpenSessionJournal:
    """The journal of a writer's open data sessions (module docstring).  `new_path()` names each
    file of it (the first, and each fresh start); `update` appends the rows of what changed, `sync`
    pushes them to the disk, `close` ends it (`remove`: the records it backs are written whole)."""

    def __init__(self, new_path: Callable[[], Path], max_bytes: int = MAX_JOURNAL_BYTES) -> None:
        self._new_path = new_path
        self.max_bytes = max_bytes
        self._last: dict[str, UsageRecord] = {}  # the latest row of each open session
        self._writer: UsageWriter | None = UsageWriter(new_path(), "csv", batch_rows=1)
        self.rows = 0  # rows written to the current file
        self.size = len(CSV_HEADER)

    @property
    def path(self) -> Path | None:
        return None if self._writer is None else self._writer.path

    def update(self, current: Iterable[UsageRecord]) -> int:
        """Append the row of each open session in `current` that is new or changed (bytes, sequence
        number; its duration alone, every `IDLE_INTERIM_S`); forget the sessions not in it (closed:
        their records are written).  The rows appended."""
        if self._writer is None:
            return 0
        rows = []
        now: dict[str, UsageRecord] = {}
        for record in current:
            if record.session is None:
                continue
            row = replace(record, cause=int(ClosingCause.KILLED))
            now[record.session] = row
            last = self._last.get(record.session)
            if (
                last is None
                or (last.sequence, last.bytes_up, last.bytes_down)
                != (row.sequence, row.bytes_up, row.bytes_down)
                or row.duration_s - last.duration_s >= IDLE_INTERIM_S
            ):
                rows.append(row)
        self._last = {sid: last for sid, last in self._last.items() if sid in now}
        if self.size > self.max_bytes:
            self._start_afresh()
        for row in rows:
            self._writer.write(row)
            self._last[row.session or ""] = row
            self.size += _ROW_BYTES
        self.rows += len(rows)
        return len(rows)

    def _start_afresh(self) -> None:
        """A new file holding the latest row of each open session; the old one removed once the new
        one is on the disk (a kill in between leaves both: the fold takes each session's latest)."""
        assert self._writer is not None
        old = self._writer
        fresh = UsageWriter(self._new_path(), "csv", batch_rows=1)
        fresh.write_many(self._last.values())
        fresh.sync()
        self._writer, self.rows = fresh, len(self._last)
        self.size = len(CSV_HEADER) + _ROW_BYTES * len(self._last)
        old.close()
        os.unlink(old.path)

    def sync(self) -> None:
        if self._writer is not None:
            self._writer.sync()

    def close(self, remove: bool) -> None:
        """Close the file; `remove` it when the records it backs are written whole (each open session
        closed with its record)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            if remove:
                os.unlink(writer.path)


_ROW_BYTES = 200  # about a data row's size: the journal's size is counted, not asked of the disk


def _rows(data: bytes) -> list[dict[str, str]]:
    """The rows of usage CSV text (its header first), as text by column name."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def fold_open_sessions(records: Path, journals: Iterable[Path]) -> int:
    """Append to `records` (a usage CSV a killed writer left) the latest journal row of each session
    open at the kill that `records` has no record of at that sequence number or later; `records` is
    first cut after its last whole line (a row the kill cut short), and pushed to the disk after.
    Journals that are no usage CSV are skipped.  The rows added."""
    with open(records, "r+b") as f:
        data = f.read()
        cut = data.rfind(b"\n") + 1
        if not data.startswith(CSV_HEADER):
            log.warning("%s: not a usage CSV: its open sessions' journal is not folded in", records)
            return 0
        written: dict[str, int] = {}
        for row in _rows(data[:cut]):
            sid = row.get("session") or ""
            if sid and row.get("type") == "data":
                written[sid] = max(written.get(sid, 0), _int(row.get("sequence")))
        latest: dict[str, tuple[tuple[int, int, int], bytes]] = {}
        for journal in journals:
            text = journal.read_bytes()
            if not text.startswith(CSV_HEADER):
                continue
            body = text[len(CSV_HEADER) : text.rfind(b"\n") + 1]  # whole rows only
            lines = [line + b"\n" for line in body.split(b"\n")[:-1]]
            for line, row in zip(lines, _rows(b"".join([CSV_HEADER, *lines])), strict=True):
                sid = row.get("session") or ""
                rank = (
                    _int(row.get("sequence")),
                    _int(row.get("duration_s")),
                    _int(row.get("bytes_up")) + _int(row.get("bytes_down")),
                )
                if sid and (sid not in latest or rank > latest[sid][0]):
                    latest[sid] = (rank, line)
        # (by session: the same whatever order the journals are found in)
        added = [line for sid, (rank, line) in sorted(latest.items()) if written.get(sid, 0) < rank[0]]
        f.seek(cut)
        f.truncate()
        f.write(b"".join(added))
        f.flush()
        os.fsync(f.fileno())
    return len(added)
