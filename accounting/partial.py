"""Time-limit partial records: the one rule that cuts a data session into records.

A session is cut every `interval_s` (43,200 s, the catalog's "relevé par
périodes de 12 heures", RADIUS Acct-Interim-Interval 43200) counted from the
session's start, plus a final record at release.  Each record but the last
closes with cause 17 (time limit, TS 32.298); the last one closes with 0
(normal release) or 4 (abnormal release), or, for a session still open when the
period (the run) ends, 20 (management intervention: the operator closes the
record at the period's end, the context is not released).

The rule, in one place:

- Cut points are the offsets `k * interval_s` (k >= 1) that lie *strictly*
  inside the session.  A session lasting exactly 43,200 s therefore yields one
  record (closed by its release, cause 0), not a time-limit record plus an
  empty one: the release and the timer fall on the same second and the release
  closes the record.  (An empty record would cost 0 ko anyway.)  A session of
  0 s yields one record of 0 s.
- Bytes are spread over the periods in proportion to time, in integer
  arithmetic: the bytes counted up to offset `t` of a session of `d` seconds
  carrying `B` bytes are `floor(B * t / d)` (`prorate`), and a record carries
  the difference between its end's and its start's count.  Totals are kept
  exactly; no float is involved.  A session of 0 s puts all its bytes in its
  single record.

`cut_sessions` applies it to millions of sessions at once (numpy, no Python
loop); `gateway.network.Network` applies `prorate` and `period_end` to each
transfer it receives, so the per-call and the bulk paths cut alike.
`cut_spans` cuts one session whose bytes are known by span (each connection's,
from its opening to its close: a bench run's), each span's bytes spread over
its own seconds by the same `prorate`; a session carrying its bytes over its
whole length is its one span.

This module is the usage record's rule, not the gateway's alone: the gateway
writes records by it (`gateway.partial` re-exports it) and the bench harness
estimates a run's records by it (`hil.usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from accounting.records import ClosingCause

INTERVAL_S = 43_200
"""Default partial-record interval: 12 hours."""

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PartialRecords:
    """Partial records as parallel int64 columns, grouped by session in input order (`sequence` and
    `cause` int32 where the simulator's batcher makes them in the usage file's type at once)."""

    session_index: I64  # index of the session in the input arrays
    start_s: I64  # record opening time (same unit and origin as the input starts)
    duration_s: I64
    bytes_up: I64
    bytes_down: I64
    sequence: I64  # 1-based record sequence number within its session
    cause: I64  # cause for record closing: 17 time limit, 0 normal, 4 abnormal, 20 still open at the end

    def __len__(self) -> int:
        return int(self.session_index.shape[0])


def prorate(total: int, t: int, d: int) -> int:
    """Bytes of a `total` spread evenly over `d` seconds that were carried by offset `t` (floor).

    `t >= d` gives the whole total (also for `d == 0`): the bytes of a 0-second
    span are carried at its end.  A record's bytes are `prorate(hi) - prorate(lo)`
    with `prorate(0)` taken as 0 for the first record (`record_bytes`).
    """
    if t >= d:
        return total
    if t <= 0:
        return 0
    q, r = divmod(total, d)
    return q * t + (r * t) // d


def prorate_array(total: I64, t: I64 | int, d: I64 | int) -> I64:
    """Vectorised `prorate`, exact in int64 (no `total * t` product that could overflow)."""
    safe_d = np.where(d > 0, d, 1)
    q = total // safe_d
    r = total - q * safe_d
    out = q * t + (r * t) // safe_d
    out = np.where(t <= 0, 0, out)
    out = np.where(t >= d, total, out)
    return out.astype(np.int64, copy=False)


def _deltas(cumulative: I64, first: npt.NDArray[np.bool_]) -> I64:
    """Per-record bytes from the bytes counted by each record's end (a session's records are contiguous)."""
    before = np.empty_like(cumulative)
    if before.shape[0]:
        before[0] = 0
        before[1:] = cumulative[:-1]
        before[first] = 0
    return cumulative - before


def record_bytes(total: int, lo: int, hi: int, d: int) -> int:
    """Bytes of the record spanning offsets `[lo, hi]` of a `d`-second span carrying `total` bytes."""
    before = 0 if lo <= 0 else prorate(total, lo, d)
    return prorate(total, hi, d) - before


def record_count(duration_s: int, interval_s: int = INTERVAL_S) -> int:
    """Number of records a session of `duration_s` seconds yields (at least 1)."""
    if duration_s <= 0:
        return 1
    return -(-duration_s // interval_s)


def record_counts(duration_s: I64, interval_s: int = INTERVAL_S, phase_s: I64 | int = 0) -> I64:
    """`record_count` of each session, its first record starting `phase_s` seconds after a cut
    (0..interval_s-1: a row continuing a session cut from the session's start, `cut_sessions`)."""
    return np.where(duration_s > 0, (duration_s + phase_s + interval_s - 1) // interval_s, 1).astype(np.int64)


def period_end(offset_s: int, interval_s: int = INTERVAL_S) -> int:
    """The offset (from the session's start) of the next time-limit cut after `offset_s`."""
    return (offset_s // interval_s + 1) * interval_s


def cut_sessions(
    start_s: npt.ArrayLike,
    duration_s: npt.ArrayLike,
    bytes_up: npt.ArrayLike,
    bytes_down: npt.ArrayLike,
    interval_s: int = INTERVAL_S,
    abnormal: npt.ArrayLike | None = None,
    still_open: npt.ArrayLike | None = None,
    phase_s: npt.ArrayLike | None = None,
) -> PartialRecords:
    """Cut sessions into partial records (see the module docstring for the rule).

    `phase_s` (0 by default): the seconds each one starts after a time-limit cut of the context
    it is part of (a partial record that another trigger opened: the cuts still count from the
    context's start, as the gateway cuts it), its first cut `interval_s - phase_s` in.

    All inputs are 1-D arrays of the same length (converted to int64; `abnormal`
    and `still_open` to bool).  A session `still_open` at the period's end has its
    last record closed with cause 20, whatever `abnormal` says.  Raises ValueError
    on negative durations or volumes, or a non-positive interval.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    start = np.asarray(start_s, dtype=np.int64)
    dur = np.asarray(duration_s, dtype=np.int64)
    up = np.asarray(bytes_up, dtype=np.int64)
    down = np.asarray(bytes_down, dtype=np.int64)
    n_sessions = start.shape[0]
    for name, arr in (("duration_s", dur), ("bytes_up", up), ("bytes_down", down)):
        if arr.ndim != 1 or arr.shape[0] != n_sessions:
            raise ValueError(f"{name} must be a 1-D array of {n_sessions} values, got shape {arr.shape}")
        if n_sessions and int(arr.min()) < 0:
            bad = int(np.argmax(arr < 0))
            raise ValueError(f"{name}[{bad}] is negative: {int(arr[bad])}")
    abn = _flags("abnormal", abnormal, n_sessions)
    still = _flags("still_open", still_open, n_sessions)

    phase = np.zeros(n_sessions, dtype=np.int64) if phase_s is None else np.asarray(phase_s, dtype=np.int64)
    counts = record_counts(dur, interval_s, phase)
    total = int(counts.sum())
    session_index = np.repeat(np.arange(n_sessions, dtype=np.int64), counts)
    first_row = np.cumsum(counts) - counts
    sequence = np.arange(total, dtype=np.int64) - np.repeat(first_row, counts) + 1

    d = dur[session_index]
    shift = phase[session_index]
    lo = np.maximum((sequence - 1) * interval_s - shift, 0)
    hi = np.minimum(sequence * interval_s - shift, d)
    up_r = up[session_index]
    down_r = down[session_index]
    first = sequence == 1
    rec_up = _deltas(prorate_array(up_r, hi, d), first)
    rec_down = _deltas(prorate_array(down_r, hi, d), first)
    last = sequence == counts[session_index]
    cause = np.where(
        last,
        final_causes(abn, still)[session_index],
        int(ClosingCause.TIME_LIMIT),
    ).astype(np.int64)
    return PartialRecords(
        session_index=session_index,
        start_s=start[session_index] + lo,
        duration_s=hi - lo,
        bytes_up=rec_up,
        bytes_down=rec_down,
        sequence=sequence,
        cause=cause,
    )


def _flags(name: str, values: npt.ArrayLike | None, n: int) -> npt.NDArray[np.bool_]:
    if values is None:
        return np.zeros(n, dtype=bool)
    flags = np.asarray(values, dtype=bool)
    if flags.shape != (n,):
        raise ValueError(f"{name} must be a 1-D array of {n} values, got shape {flags.shape}")
    return flags


def final_causes(abnormal: npt.NDArray[np.bool_], still_open: npt.NDArray[np.bool_]) -> I64:
    """The cause closing each session's last record: 20 still open at the period's end, else 4
    abnormal release, else 0 normal release."""
    if not abnormal.any() and not still_open.any():  # (the usual batch: no two passes of `where`)
        return np.full(abnormal.shape[0], int(ClosingCause.NORMAL), dtype=np.int64)
    released = np.where(abnormal, int(ClosingCause.ABNORMAL), int(ClosingCause.NORMAL))
    return np.where(still_open, int(ClosingCause.MANAGEMENT_INTERVENTION), released).astype(np.int64)


def usage_columns(
    records: PartialRecords,
    line: npt.ArrayLike,
    zone: npt.ArrayLike,
    session: npt.ArrayLike | None = None,
    epoch_s: int = 0,
) -> dict[str, npt.NDArray[Any]]:
    """Columns for `UsageWriter.write_columns` (type `data`) from partial records.

    `line`, `zone` and `session` are per input session (indexed by
    `records.session_index`); `epoch_s` is added to the records' starts to make
    them seconds since 1970-01-01 UTC.
    """
    index = records.session_index
    columns: dict[str, npt.NDArray[Any]] = {
        "line": np.asarray(line, dtype=object)[index],
        "type": np.full(len(records), "data", dtype=object),
        "start": records.start_s + epoch_s,
        "duration_s": records.duration_s,
        "bytes_up": records.bytes_up,
        "bytes_down": records.bytes_down,
        "zone": np.asarray(zone, dtype=object)[index],
        "cause": records.cause.astype(np.int32),
        "sequence": records.sequence.astype(np.int32),
    }
    if session is not None:
        columns["session"] = np.asarray(session, dtype=object)[index]
    return columns


@dataclass(frozen=True, slots=True)
class Span:
    """Bytes carried between two offsets (seconds from the session's start), spread evenly over them."""

    lo: int
    hi: int
    bytes_up: int
    bytes_down: int


def cut_spans(
    duration_s: int,
    spans: list[Span],
    interval_s: int = INTERVAL_S,
    abnormal: bool = False,
    still_open: bool = False,
) -> list[tuple[int, int, int, int, int, int]]:
    """One session of `duration_s` seconds cut into records, its bytes given by span.

    Rows are `(start offset, duration_s, bytes_up, bytes_down, sequence, cause)`.  A span's
    bytes fall in the records its seconds overlap, in proportion to time (`prorate`); a span of 0 s
    puts them in the record its instant closes.  A span reaching past the session's end counts in
    the last record.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if duration_s < 0:
        raise ValueError(f"duration_s is negative: {duration_s}")
    for sp in spans:
        if sp.bytes_up < 0 or sp.bytes_down < 0 or sp.hi < sp.lo:
            raise ValueError(f"span {sp}: negative bytes or an end before its start")
    n = record_count(duration_s, interval_s)
    rows: list[tuple[int, int, int, int, int, int]] = []
    for k in range(n):
        lo = k * interval_s
        hi = min((k + 1) * interval_s, duration_s)
        last = k == n - 1
        up = down = 0
        for sp in spans:
            span = sp.hi - sp.lo
            end = span if last else hi - sp.lo  # the last record takes what is left
            up += record_bytes(sp.bytes_up, lo - sp.lo, end, span)
            down += record_bytes(sp.bytes_down, lo - sp.lo, end, span)
        rows.append((lo, hi - lo, up, down, k + 1, _cause(last, abnormal, still_open)))
    return rows


def cut_sessions_py(
    start_s: list[int],
    duration_s: list[int],
    bytes_up: list[int],
    bytes_down: list[int],
    interval_s: int = INTERVAL_S,
    abnormal: list[bool] | None = None,
    still_open: list[bool] | None = None,
    phase_s: list[int] | None = None,
) -> list[tuple[int, int, int, int, int, int, int]]:
    """The same rule as a plain Python loop (reference for tests and the benchmark's baseline).

    Rows are `(session_index, start_s, duration_s, bytes_up, bytes_down, sequence, cause)`.
    """
    rows: list[tuple[int, int, int, int, int, int, int]] = []
    for i, (s, d, u, w) in enumerate(zip(start_s, duration_s, bytes_up, bytes_down, strict=True)):
        shift = 0 if phase_s is None else phase_s[i]
        n = record_count(d + shift, interval_s) if d > 0 else 1
        for k in range(n):
            lo = max(k * interval_s - shift, 0)
            hi = min((k + 1) * interval_s - shift, d)
            cause = _cause(
                k == n - 1,
                abnormal is not None and abnormal[i],
                still_open is not None and still_open[i],
            )
            rows.append(
                (
                    i,
                    s + lo,
                    hi - lo,
                    record_bytes(u, lo, hi, d),
                    record_bytes(w, lo, hi, d),
                    k + 1,
                    cause,
                )
            )
    return rows


def _cause(last: bool, abnormal: bool, still_open: bool) -> int:
    """The cause closing a record: 17 time limit but for the last, closed 20 when still open at the
    period's end, else 4 abnormal release, else 0 normal release."""
    if not last:
        return int(ClosingCause.TIME_LIMIT)
    if still_open:
        return int(ClosingCause.MANAGEMENT_INTERVENTION)
    return int(ClosingCause.ABNORMAL if abnormal else ClosingCause.NORMAL)
