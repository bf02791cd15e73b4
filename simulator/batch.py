"""Bulk data sessions: buffered as columns, cut into 12-hour records, written in Arrow batches.

Devices append sessions (parallel int64 arrays) with the constant context of the
stretch they belong to (line, identities, APN, serving network).  When the buffer
holds `flush_sessions` sessions, `gateway.partial.cut_sessions` cuts them into
partial records (skipped when no session reaches a cut: then each session is its
record) and one Arrow batch goes to the usage file: memory stays bounded whatever
the number of records.  The string columns go as dictionary arrays built from the
stretches, never one Python string per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from accounting.parquet_runs import NumberedText
from accounting.records import ClosingCause, UsageType
from gateway.api import INTERVAL_S, PartialRecords, cut_sessions, final_causes

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Stretch:
    """What does not change for a device between two decisions."""

    line: str
    imsi: str
    imeisv: str
    apn: str
    zone: str  # of the serving network: the zone of every session opened in the stretch
    serving_plmn: str


@dataclass(slots=True)
class BatchStats:
    sessions: int = 0
    records: int = 0


def _records(
    start: I64,
    duration: I64,
    up: I64,
    down: I64,
    abnormal: npt.NDArray[np.bool_] | None,
    still_open: npt.NDArray[np.bool_] | None,
) -> PartialRecords:
    """The partial records of sessions: `cut_sessions`, or at once when no session reaches a cut.
    `abnormal`, `still_open`: the sessions' flags, None where none is set.

    A session no longer than the interval yields exactly one record (`gateway.partial`):
    the session itself, sequence 1, closed normally or abnormally (or, still open at the
    period's end, by the operator: cause 20).  That is the usual case of per-report
    sessions, and it needs no per-record arithmetic.  Its causes and sequence numbers are
    made in the usage file's 32 bits at once (the values of `cut_sessions`'s int64 ones).
    """
    n = int(start.shape[0])

    def given(flags: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.bool_]:
        return np.zeros(n, dtype=bool) if flags is None else flags

    if (
        n == 0
        or int(duration.view(np.uint64).max()) > INTERVAL_S  # (a negative one too, as an unsigned one)
        or min(int(up.min()), int(down.min())) < 0
    ):
        return cut_sessions(start, duration, up, down, abnormal=given(abnormal), still_open=given(still_open))
    cause: npt.NDArray[Any]  # (int32, the usage file's type, where the records' type says int64)
    if abnormal is None and still_open is None:  # (the usual batch: every one closed normally)
        cause = np.full(n, int(ClosingCause.NORMAL), dtype=np.int32)
    else:
        cause = final_causes(given(abnormal), given(still_open)).astype(np.int32)
    return PartialRecords(
        session_index=np.arange(n, dtype=np.int64),
        start_s=start,
        duration_s=duration,
        bytes_up=up,
        bytes_down=down,
        sequence=np.ones(n, dtype=np.int32),
        cause=cause,
    )


# "0000" to "9999" as 4-byte words: the decimal digits of a number, four at a time, by table look-up.
_DIGITS4 = np.frombuffer(b"".join(b"%04d" % i for i in range(10_000)), dtype=np.uint32)


def session_ids(
    lines: Sequence[str], rsi: I64, charging: I64, runs: I64 | None = None, following: bool = False
) -> pa.Array:
    """The `session` column: `<line>-<charging id>` of each record, its line `lines[rsi[i]]`.

    The records of a batch come in runs of one stretch whose charging ids have as many digits,
    so each run's strings are one fixed-width block: the line and a dash, then the last digits
    of the ids, with no string made per record.  A block whose ids follow on one by one (a
    device's sessions) is its first row copied, then the last four digits of each row taken from
    a table of 4-digit words in one slice; the digits of other ids are made four at a time from
    that table.  Records in
    short runs or negative ids go the general way (pyarrow's casts, joined), which gives the
    same strings.  `runs`: the first record of each run, when the caller has them (a flush whose
    records are its sessions: each device stretch's first), else found here; `following`: the ids
    of each of those runs are known to follow on one by one (each drawn in a block: `Block`), so
    that their least and greatest are its first and last, and no pass looks for a skip.
    """
    n = int(rsi.shape[0])
    if n == 0:
        return _joined_session_ids(lines, rsi, charging)
    if runs is None:
        following = False
        runs = np.flatnonzero(np.concatenate(([True], rsi[1:] != rsi[:-1])))  # the first record of each run
    if runs.shape[0] * 64 > n:  # runs this short cost more in Python than the blocks save
        return _joined_session_ids(lines, rsi, charging)
    least = charging[runs] if following else np.minimum.reduceat(charging, runs)
    if int(least.min()) < 0:
        return _joined_session_ids(lines, rsi, charging)
    # the digits of each run's ids, from its least and greatest id; element by element only in
    # the (rare) runs whose ids do not all have as many digits, cut into blocks where that changes
    low = _digit_count(least)
    if following:  # (each run's last id)
        last = np.empty_like(runs)
        last[:-1] = runs[1:]
        last[-1] = n
        last -= 1
        high = _digit_count(charging[last])
    else:
        high = _digit_count(np.maximum.reduceat(charging, runs))
    starts, nd = runs, low
    mixed = np.flatnonzero(low != high).tolist()
    if mixed:
        ends = [*runs[1:].tolist(), n]
        cuts, counts = [], []
        for r in mixed:
            a, b = int(runs[r]), ends[r]
            each = _digit_count(charging[a:b])
            first = np.flatnonzero(np.concatenate(([True], each[1:] != each[:-1])))
            cuts.append(a + first)
            counts.append(each[first])
        keep = low == high
        starts = np.concatenate([runs[keep], *cuts])
        nd = np.concatenate([low[keep], *counts])
        order = np.argsort(starts, kind="stable")
        starts, nd = starts[order], nd[order]
    prefixes = [(line + "-").encode("utf-8") for line in lines]
    plen = np.array([len(a) for a in prefixes], dtype=np.int64)
    bounds = [*starts.tolist(), n]
    block_rsi = rsi[starts]
    widths = plen[block_rsi] + nd  # the width of each block's strings
    lengths = np.diff(bounds)
    total = int(np.dot(widths, lengths))
    # Arrow's offsets: 32-bit where the bytes allow, each row's width apart (one step for all
    # when every block's strings have one width, as a batch's of lines and ids alike have)
    kind = np.int32 if total < 1 << 31 else np.int64
    if int(widths.min()) == int(widths.max()):
        offsets = np.arange(n + 1, dtype=kind)
        np.multiply(offsets, int(widths[0]), out=offsets)
    else:
        offsets = np.zeros(n + 1, dtype=kind)
        np.cumsum(np.repeat(widths, lengths), dtype=kind, out=offsets[1:])
    data = np.empty(total, dtype=np.uint8)
    at = offsets[bounds].tolist()
    # the blocks whose ids follow on one by one (a device's sessions, as a rule)
    if following:
        uneven = [False] * len(starts)
    else:
        step = np.ones(n, dtype=bool)
        np.not_equal(charging[1:] - charging[:-1], 1, out=step[:-1])
        step[starts[1:] - 1] = False  # (from one block to the next)
        uneven = np.logical_or.reduceat(step, starts).tolist()
    firsts = charging[starts].tolist()
    for j, (s, d) in enumerate(zip(block_rsi.tolist(), nd.tolist(), strict=True)):
        rows = bounds[j + 1] - bounds[j]
        if uneven[j] or d < 4:
            _fill_block(data, at[j], prefixes[s], d, charging[bounds[j] : bounds[j + 1]])
        else:
            _fill_consecutive(data, at[j], rows, prefixes[s], firsts[j])
    if kind is np.int32:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _fill_consecutive(data: npt.NDArray[np.uint8], at: int, rows: int, prefix: bytes, first: int) -> None:
    """Rows `prefix` + `first + r` (ids of as many digits, at least 4), from byte `at` of `data`.

    Between two multiples of 10,000 only the last four digits change: the first row is written to
    every row at once (its bytes repeated by Python's bytes repetition, a few memory copies however
    many the rows), and their last four digits are a slice of the table of 4-digit words."""
    width = len(prefix) + len(str(first))
    r = 0
    while r < rows:
        c = first + r
        low = c % 10_000
        seg = min(rows - r, 10_000 - low)
        a = at + r * width
        data[a : a + seg * width] = np.frombuffer((prefix + b"%d" % c) * seg, dtype=np.uint8)
        _column(data, a + width - 4, seg, width, np.uint32)[:] = _DIGITS4[low : low + seg]
        r += seg


def _column(data: npt.NDArray[np.uint8], at: int, rows: int, width: int, dtype: type[np.generic]) -> Any:
    """The `dtype` values at byte `at` of each of `rows` rows of `width` bytes in `data` (unaligned)."""
    return np.ndarray((rows,), dtype=dtype, buffer=data, offset=at, strides=(width,))


def _fill_block(data: npt.NDArray[np.uint8], at: int, prefix: bytes, d: int, ids: I64) -> None:
    """Rows of `prefix` then the last `d` digits of each of `ids`, fixed width, from byte `at` of
    `data`: the ids' digits made four at a time from a table."""
    rows, lp = int(ids.shape[0]), len(prefix)
    width = lp + d
    k = -(-d // 4)  # 4-digit words of the ids
    words = np.empty((rows, k), dtype=np.uint32)
    rest = ids
    for i in range(k - 1, -1, -1):
        q = rest // 10_000
        words[:, i] = _DIGITS4[rest - q * 10_000]
        rest = q
    block = data[at : at + rows * width].reshape(rows, width)
    block[:, :lp] = np.frombuffer(prefix, dtype=np.uint8)
    block[:, lp:] = words.view(np.uint8).reshape(rows, 4 * k)[:, 4 * k - d :]


def _digit_count(values: I64) -> I64:
    """The number of decimal digits of each non-negative value."""
    nd = np.ones(values.shape[0], dtype=np.int64)
    top, p = int(values.max()) if values.shape[0] else 0, 10
    while p <= top:
        nd += values >= p
        p *= 10
    return nd


def _joined_session_ids(lines: Sequence[str], rsi: I64, charging: I64) -> pa.Array:
    line = pa.DictionaryArray.from_arrays(pa.array(rsi.astype(np.int32)), pa.array(lines, type=pa.string()))
    return pc.binary_join_element_wise(line.cast(pa.string()), pc.cast(pa.array(charging), pa.string()), "-")


def _flags(flags: list[bool], counts: I64) -> npt.NDArray[np.bool_] | None:
    """One flag per part, repeated for each of its `counts` sessions (None: none set)."""
    if not any(flags):
        return None
    return np.repeat(np.array(flags, dtype=bool), counts)


@dataclass(frozen=True, slots=True)
class Block:
    """Session columns of consecutive devices drawn together (`simulator.predraw`)."""

    start: I64
    duration: I64
    up: I64
    down: I64
    charging: I64


# Columns handed as rows lo to hi of a block: (start, duration, up, down, charging ids, block, lo, hi)
Span = tuple[I64, I64, I64, I64, I64, Block, int, int]
_COLUMNS = ("start", "duration", "up", "down", "charging")


def _joined(parts: list[tuple[Any, ...]]) -> list[I64]:
    """The start, duration, up, down and charging-id columns of `parts` (each `(stretch, start,
    duration, up, down, charging, abnormal, still_open, (block, lo, hi) or None)`) one after the
    other: those of parts that follow on in a block as one slice of it (a batch of one slice
    copies nothing), the others copied."""
    pieces: list[tuple[Block, int, int] | int] = []
    for k, p in enumerate(parts):
        span = p[8]
        last = pieces[-1] if pieces else None
        if span is not None and isinstance(last, tuple) and last[0] is span[0] and last[2] == span[1]:
            pieces[-1] = (last[0], last[1], span[2])
        else:
            pieces.append(k if span is None else span)
    if len(pieces) == 1 and isinstance(pieces[0], tuple):
        block, lo, hi = pieces[0]
        return [getattr(block, c)[lo:hi] for c in _COLUMNS]
    return [
        np.concatenate(
            [
                getattr(pc[0], name)[pc[1] : pc[2]] if isinstance(pc, tuple) else parts[pc][1 + c]
                for pc in pieces
            ]
        )
        for c, name in enumerate(_COLUMNS)
    ]


class ColumnSink(Protocol):
    def write_columns(self, columns: Mapping[str, Any], length: int | None = None) -> None: ...


class SessionBatcher:
    """Collects bulk sessions and writes their partial records through a `UsageWriter`."""

    def __init__(
        self,
        writer: ColumnSink,
        epoch_unix: int,
        flush_sessions: int = 1 << 20,
        on_records: Callable[[list[Stretch], I64, I64, I64, PartialRecords], None] | None = None,
        on_cut: Callable[[list[Stretch], I64, I64, PartialRecords], None] | None = None,
    ) -> None:
        self.writer = writer
        self.epoch_unix = epoch_unix
        self.flush_sessions = flush_sessions
        # (stretches, stretch index, group, charging id per record, records) per flush
        self.on_records = on_records
        self.on_cut = on_cut  # (stretches, stretch index, charging id, records) per flush, per session
        self._parts: list[tuple[int, I64, I64, I64, I64, I64, bool, bool, tuple[Block, int, int] | None]] = []
        # columns of a block about to be handed (`simulator.predraw`), by the id of their start
        self.spans: dict[int, Span] = {}
        self._pending = 0
        self._pending_from: int | None = None  # the earliest start of the sessions waiting
        self._stretches: list[Stretch] = []
        self._stretch_group: list[int] = []
        self.stats = BatchStats()

    def add(
        self,
        stretch: Stretch,
        group: int,
        start: I64,
        duration: I64,
        up: I64,
        down: I64,
        charging_id: I64,
        abnormal: bool = False,
        still_open: bool = False,
    ) -> None:
        """Add sessions (times in seconds from the run's start) of one device stretch; `abnormal`:
        they all end abnormally (closing cause 4), as reconnection attempts do; `still_open`: they
        were going on at the period's end, where their last record is closed (cause 20)."""
        n = int(start.shape[0])
        if n == 0:
            return
        self._stretches.append(stretch)
        self._stretch_group.append(group)
        span = self.spans.pop(id(start), None) if self.spans else None
        self._parts.append(
            (
                len(self._stretches) - 1,
                start,
                duration,
                up,
                down,
                charging_id,
                abnormal,
                still_open,
                span[5:]
                if span is not None
                and span[0] is start
                and span[1] is duration
                and span[2] is up
                and span[3] is down
                and span[4] is charging_id
                else None,
            )
        )
        self._pending += n
        first = int(start.min())
        self._pending_from = first if self._pending_from is None else min(self._pending_from, first)
        if self._pending >= self.flush_sessions:
            self.flush()

    @property
    def pending(self) -> int:
        """The number of sessions waiting for the next flush (it comes once they reach `flush_sessions`)."""
        return self._pending

    @property
    def pending_from(self) -> int | None:
        """The earliest start of the sessions waiting for the next flush (None: none waits)."""
        return self._pending_from

    def flush(self) -> None:
        if not self._parts:
            return
        counts = np.array([p[1].shape[0] for p in self._parts], dtype=np.int64)
        sidx = np.repeat(np.array([p[0] for p in self._parts], dtype=np.int64), counts)
        start, duration, up, down, charging = _joined(self._parts)
        abnormal = _flags([p[6] for p in self._parts], counts)
        still_open = _flags([p[7] for p in self._parts], counts)
        drawn = all(p[8] is not None for p in self._parts)  # each part's ids a device's first, in turn
        self._parts.clear()
        # a span handed but split by its device before `add` (its reports cut at the period's end,
        # say) is looked for no longer: kept, it would hold its whole block until the shard's end
        self.spans.clear()
        self._pending = 0
        self._pending_from = None
        rec = _records(start, duration, up, down, abnormal, still_open)
        if self.on_cut is not None:
            self.on_cut(self._stretches, sidx, charging, rec)
        same = len(rec) == start.shape[0]  # one record per session: the index is the identity
        rsi = sidx if same else sidx[rec.session_index]
        rcharging = charging if same else charging[rec.session_index]
        # (records that are their sessions come in the parts' runs: each part one stretch of its own)
        runs = np.concatenate(([0], np.cumsum(counts[:-1]))) if same else None
        self._write(rsi, rcharging, rec, runs, same and drawn)
        self.stats.sessions += int(start.shape[0])
        self.stats.records += len(rec)
        if self.on_records is not None:
            g = self._stretch_group
            # one group (the usual batch): its index seen as a column, no array of it made
            groups = (
                np.broadcast_to(np.int64(g[0]), rsi.shape)
                if min(g) == max(g)
                else np.array(g, dtype=np.int64)[rsi]
            )
            self.on_records(self._stretches, rsi, groups, rcharging, rec)
        self._stretches.clear()
        self._stretch_group.clear()

    def _write(self, rsi: I64, charging: I64, rec: PartialRecords, runs: I64 | None, following: bool) -> None:
        """The batch's columns to the writer; `runs`, `following`: as `session_ids` takes them."""
        n = len(rec)
        stretches = self._stretches
        indices: dict[bytes, pa.Array] = {}  # columns with the same codes per stretch share their indices

        def column(values: list[str]) -> pa.DictionaryArray:
            """A string column of per-stretch values, as a dictionary array (no per-row Python)."""
            uniq: dict[str, int] = {}
            codes = np.fromiter(
                (uniq.setdefault(v, len(uniq)) for v in values), dtype=np.int32, count=len(values)
            )
            key = codes.tobytes()
            if key not in indices:
                indices[key] = pa.array(codes[rsi]) if len(uniq) > 1 else pa.array(np.zeros(n, np.int32))
            # the codes index `uniq` by construction: no check of each one
            return pa.DictionaryArray.from_arrays(
                indices[key], pa.array(list(uniq), type=pa.string()), safe=False
            )

        lines = [s.line for s in stretches]
        line = column(lines)
        # the session ids `<line>-<charging id>` as those: the Parquet part encodes them from the
        # numbers, the strings are made only for a writer that needs them (CSV)
        session = NumberedText(
            [(x + "-").encode("utf-8") for x in lines],
            rsi,
            charging,
            lambda: session_ids(lines, rsi, charging, runs, following),
        )
        self.writer.write_columns(
            {
                "line": line,
                "type": column([UsageType.DATA.value] * len(stretches)),
                "start": rec.start_s + self.epoch_unix,
                "duration_s": rec.duration_s,
                "bytes_up": rec.bytes_up,
                "bytes_down": rec.bytes_down,
                "zone": column([s.zone for s in stretches]),
                "session": session,
                "imsi": column([s.imsi for s in stretches]),
                "imeisv": column([s.imeisv for s in stretches]),
                "apn": column([s.apn for s in stretches]),
                "charging_id": charging,
                "serving_plmn": column([s.serving_plmn for s in stretches]),
                "cause": rec.cause.astype(np.int32, copy=False),
                "sequence": rec.sequence.astype(np.int32, copy=False),
            },
            length=n,
        )
