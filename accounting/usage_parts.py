"""A usage input of several Parquet files aggregated file by file, where each file is written.

A run's shards write one usage part each; the rating's scan (`UsageReader.aggregate`) of a part
can run in the process that wrote it, as soon as the part is complete, while other parts are
still being made.  `aggregate_part` does that scan; `PartAggregates` sums the parts' aggregates
per key and stands in for the reader of the whole input in `engine.rate_run`.

The sum equals the aggregate of the files read as one when no record of one file repeats a
record of another (the duplicate search is per file): `PartAggregates` checks that every part
claims its records unique by construction, each for its own run and shard, no (run, shard)
twice (as `UsageReader` reads the footers of the files given as one), and that every part was
aggregated for the month and first periods asked.  Otherwise, and to list rejected rows (their
row numbers are those of the files read as one), it reads the files as one.

`PartSums` makes a part's scan without reading its records back: its writer hands it each batch
it writes (`UsageWriter(tally=...)`), and it keeps the sums of the settled scans per raw key.  The
reader still reads the part's footer and statistics and decides what its scan is; only when the
scan is a settled one (every row check settled, `UsageReader._settled_by_arrow`) do these sums
stand in for the rows it would read.  Anything else (a row check to make, a batch it could not
sum exactly) reads the file as before.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accounting import usage
from accounting.db import duckdb
from accounting.usage import Group, RejectedKey, Scan, UsageReader, connect
from accounting.usage_arrow import CALL_TYPES, KEYS, Block, Settled, SettledRows, integers

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from accounting.activation import EarlyLines, FirstStarts


@dataclass(frozen=True, slots=True)
class PartAggregate:
    """One file's aggregates, the month and first periods they were made for, and its footer's
    claim: (run, shard) when the records are unique by construction, else None."""

    path: str
    month_start: datetime
    month_end: datetime
    first_periods: tuple[int, ...]
    groups: list[Group]
    origin: tuple[str, str] | None


def aggregate_part(
    path: Path,
    month_start: datetime,
    month_end: datetime,
    first_periods: Sequence[int],
    sums: PartSums | None = None,
) -> PartAggregate:
    """The rating's aggregates of one Parquet file, on a DuckDB connection of one thread.

    `sums`: the sums its writer kept of every record it wrote to the file (`PartSums`), used
    instead of reading the records back when the reader's scan of the file is a settled one.

    In a worker process (one that multiprocessing started: a run's `--workers`, a Dask worker)
    the connection is kept for the next part the process aggregates (it is made in 30-40 CPU-ms,
    a fifth of a 2.9 M-record part's scan); elsewhere it is closed after the file.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:
        with closing(connect(threads=1)) as con:
            return _aggregate(con, path, month_start, month_end, first_periods, sums)
    return _aggregate(_worker_connection(), path, month_start, month_end, first_periods, sums)


def before_workers() -> None:
    """Called by a process about to fork workers that will aggregate parts: DuckDB's spill folder
    is made here, so that they share it and it goes when this process ends (a worker that is
    killed, as an interrupted run's are, runs no clean-up of its own)."""
    usage._spill_folder()


def prepare_worker() -> None:
    """Make this worker's connection now, before it simulates: DuckDB gives the C library's free
    memory back to the kernel (`malloc_trim`) when its database starts, so a connection made after
    a first shard would make the next one fault all its pages in again."""
    _worker_connection()


# This worker's connections, one per thread (a Dask worker may run tasks on several threads),
# keyed with the process id: a process forked from this one makes its own.
_WORKER: dict[tuple[int, int], duckdb.DuckDBPyConnection] = {}


def _worker_connection() -> duckdb.DuckDBPyConnection:
    import multiprocessing.util

    key = (os.getpid(), threading.get_ident())
    con = _WORKER.get(key)
    if con is not None:
        return con
    fresh = not usage._SPILL
    con = _WORKER[key] = connect(threads=1)
    if fresh:
        # A worker process ends without running `atexit`: its spill folder goes with its
        # multiprocessing finalizers instead.
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(usage._SPILL[0], True), exitpriority=0)
    return con


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    month_start: datetime,
    month_end: datetime,
    first_periods: Sequence[int],
    sums: PartSums | None = None,
) -> PartAggregate:
    reader = UsageReader(path, con) if sums is None or sums.broken else _SummedReader(path, con, sums)
    groups = reader.aggregate(month_start, month_end, tuple(first_periods))
    origin = reader.origins[0] if reader.origins else None
    return PartAggregate(
        str(path), month_start, month_end, tuple(int(p) for p in first_periods), groups, origin
    )


class PartSums:
    """The settled scans' sums of the records of one Parquet file, made from the batches its
    writer writes (`add`, given to `UsageWriter(tally=...)`), so that its aggregate need not
    read them back (`aggregate_part(..., sums=...)`).

    Per raw key (line, type, zone, dest, delivered: the values as written, None for NULL): the
    rows, the ko of the rows with both byte counts ((up + down + 1023) // 1024 each, as the scan
    sums them) and how many rows have both; and the durations of the rows of a call type (NULL
    as 0).  `settled_rows` gives them as the settled scans of `UsageReader._settled_scan_sql`
    give their rows.  A batch it cannot sum exactly (byte counts beyond 2^40 or negative, which
    no settled scan takes, or too many keys) makes it `broken`: the file is then read.
    """

    MAX_BYTES = 1 << 40  # a byte count beyond this (or negative): no settled scan reads the file anyway
    EXACT = 1 << 53  # float sums of whole numbers below this are exact

    def __init__(self) -> None:
        self.rows = 0
        self.broken = False
        self._sums: dict[tuple[Any, ...], list[int]] = {}  # raw key -> [rows, ko, rows with both counts]
        self._calls: dict[tuple[Any, ...], list[np.ndarray]] = {}  # raw key of a call type -> durations

    def add(self, batch: pa.RecordBatch) -> None:
        """Sum one batch of records as written (the usage schema's columns, strings plain or as
        dictionaries)."""
        import numpy as np

        n = batch.num_rows
        self.rows += n
        if self.broken or not n:
            return
        names = batch.schema.names
        keyed = [_local(batch.column(name) if name in names else None, n) for name in (*KEYS, "delivered")]
        space = 1
        for _, values in keyed:
            space *= len(values)
        if space >= 1 << 62:
            self.broken = True
            return
        combined: np.ndarray | None = None  # the key's place in `space` (None: one key for every row)
        for codes, values in keyed:
            if codes is None:  # one value on every row: its code is 0
                if combined is not None and len(values) > 1:  # (times one changes nothing)
                    combined *= len(values)
                continue
            combined = codes.astype(np.int64) if combined is None else combined * len(values) + codes
        up, up_valid = _counts(batch, "bytes_up", n)
        down, down_valid = _counts(batch, "bytes_down", n)
        for counts in (up, down):
            # (one pass: a negative count is beyond MAX_BYTES as an unsigned one)
            if int(counts.view(np.uint64).max()) >= self.MAX_BYTES:
                self.broken = True
                return
        both = None  # the rows with both byte counts (None: every row)
        if up_valid is not None or down_valid is not None:
            both = (
                up_valid if down_valid is None else down_valid if up_valid is None else up_valid & down_valid
            )
        ko = up + down  # each row's whole ko (a row lacking a count is not summed)
        ko += 1023
        ko >>= 10
        inverse: np.ndarray | None = None  # each row's key (its place in `present`)
        runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (first row, rows, key) of runs
        if combined is None:  # one key for every row
            present = np.zeros(1, np.int64)
            counted = [n]
            with_bytes = [n if both is None else int(np.count_nonzero(both))]
            ko_sums = [int(ko.sum() if both is None else ko[both].sum())]
        elif both is None and (starts := np.flatnonzero(combined[1:] != combined[:-1]) + 1).shape[0] * 16 < n:
            # runs of one key (a device's stretch of sessions): exact integer sums per run, then
            # per key
            starts = np.concatenate((np.zeros(1, np.int64), starts))
            lengths = np.diff(np.append(starts, n))
            present, run_key = np.unique(combined[starts], return_inverse=True)
            run_key = run_key.reshape(-1)
            runs = (starts, lengths, run_key)
            per_key = np.zeros(len(present), np.int64)
            np.add.at(per_key, run_key, lengths)
            counted = with_bytes = per_key.tolist()
            per_key = np.zeros(len(present), np.int64)
            np.add.at(per_key, run_key, np.add.reduceat(ko, starts))
            ko_sums = per_key.tolist()
        else:
            if space <= max(4 * n, 1 << 16):
                present = np.flatnonzero(np.bincount(combined, minlength=space))
                to_present = np.zeros(space, np.int64)
                to_present[present] = np.arange(len(present), dtype=np.int64)
                inverse = to_present[combined]
            else:
                present, inverse = np.unique(combined, return_inverse=True)
                inverse = inverse.reshape(-1)
            k = len(present)
            where = inverse if both is None else inverse[both]
            kept = ko if both is None else ko[both]
            counted = np.bincount(inverse, minlength=k).tolist()
            with_bytes = counted if both is None else np.bincount(where, minlength=k).tolist()
            if int(kept.sum()) < self.EXACT:
                ko_sums = [int(v) for v in np.bincount(where, weights=kept, minlength=k).tolist()]
            else:
                exact = np.zeros(k, np.int64)
                np.add.at(exact, where, kept)
                ko_sums = exact.tolist()
        keys: list[tuple[Any, ...]] = []
        for value in present.tolist():
            parts = []
            for _, values in reversed(keyed):
                value, code = divmod(value, len(values))
                parts.append(values[code])
            keys.append(tuple(reversed(parts)))
        for key, rows, kos, withb in zip(keys, counted, ko_sums, with_bytes, strict=True):
            found = self._sums.get(key)
            if found is None:
                self._sums[key] = [rows, kos, withb]
            else:
                found[0] += rows
                found[1] += kos
                found[2] += withb
        is_call = np.array([key[1] in CALL_TYPES for key in keys], bool)
        if is_call.any():  # the call rows' durations, by key (sorted by key once)
            duration, _ = _counts(batch, "duration_s", n)
            if combined is None:
                self._calls.setdefault(keys[0], []).append(duration.copy())
                return
            if inverse is None:
                assert runs is not None
                inverse = np.repeat(runs[2], runs[1])
            rows = np.flatnonzero(is_call[inverse])
            rows = rows[np.argsort(inverse[rows], kind="stable")]
            cuts = np.flatnonzero(np.diff(inverse[rows])) + 1
            for chunk in np.split(rows, cuts):
                self._calls.setdefault(keys[int(inverse[chunk[0]])], []).append(duration[chunk])

    def settled_rows(self, plan: Settled, first_periods: Sequence[int]) -> SettledRows | None:
        """The rows of the settled scans `plan` describes (`usage_arrow.settled_rows`' form), or
        None when these sums cannot give them."""
        import numpy as np

        if self.broken:
            return None
        named = {"bytes_up": plan.bytes_up, "bytes_down": plan.bytes_down, "duration_s": plan.duration_s}
        if any(column not in (name, None) for name, column in named.items()):
            return None
        if any(column not in (name, None) for name, column in zip(KEYS, plan.keys, strict=True)):
            return None
        if plan.delivered not in (None, True, False, "delivered"):
            return None

        def scanned(key: tuple[Any, ...]) -> tuple[Any, ...]:
            """The key as the scan groups it: a column it does not read is NULL, a proven
            `delivered` the constant."""
            values = [v if column is not None else None for v, column in zip(key[:4], plan.keys, strict=True)]
            deliv = key[4] if plan.delivered == "delivered" else plan.delivered
            return (*values, deliv)

        counts: dict[tuple[Any, ...], list[int]] = {}
        for key, (rows, ko, with_bytes) in self._sums.items():
            k = scanned(key)
            found = counts.get(k)
            if found is None:
                counts[k] = [rows, ko, with_bytes]
            else:
                found[0] += rows
                found[1] += ko
                found[2] += with_bytes
        durations: dict[tuple[Any, ...], list[np.ndarray]] = {}
        for key, arrays in self._calls.items():
            durations.setdefault(scanned(key), []).extend(arrays)
        call_sums: dict[tuple[Any, ...], tuple[int, ...]] = {}
        for k, arrays in durations.items():
            if k[1] not in CALL_TYPES:
                continue
            secs = np.concatenate(arrays)
            call_sums[k] = (
                int(np.count_nonzero(secs > 0)),
                *(int(np.maximum(secs - int(p), 0).sum()) for p in first_periods),
            )
        no_calls = (0,) * (1 + len(first_periods))
        blocks: dict[tuple[Any, ...], Block] = {}
        for k, (n, ko, with_bytes) in counts.items():
            block = blocks.get(k[1:])
            if block is None:
                calls: list[tuple[int, ...]] | None = [] if k[1] in CALL_TYPES else None
                block = blocks[k[1:]] = Block((k[1], k[2], k[3], k[4]), [], [], [], [], calls)
            block.lines.append(k[0])
            block.rows.append(n)
            block.ko.append(ko)
            block.with_bytes.append(with_bytes)
            if block.calls is not None:
                block.calls.append(call_sums.get(k, no_calls))
        return list(blocks.values())


def _local(column: pa.Array | None, rows: int) -> tuple[np.ndarray | None, list[Any]]:
    """A key column as a code per row and the values the codes stand for (None: NULL); no
    codes (None) when every row has the one value."""
    import numpy as np
    import pyarrow as pa

    if column is None or column.null_count == rows:
        return None, [None]
    if pa.types.is_boolean(column.type):
        codes = np.asarray(column.fill_null(False)).astype(np.int64)
        if column.null_count:
            codes[np.asarray(column.is_null())] = 2
        return codes, [False, True, None]
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    indices = column.indices
    dictionary = column.dictionary.to_pylist()
    if indices.null_count:
        return np.asarray(indices.fill_null(len(dictionary))), [*dictionary, None]
    if len(dictionary) == 1:
        return None, dictionary
    return np.asarray(indices), dictionary


def _counts(batch: pa.RecordBatch, name: str, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A BIGINT column of the batch as int64 (NULL as 0) and where it is not NULL (None: on every
    row), read as the settled pass reads one."""
    return integers(batch.column(name) if name in batch.schema.names else None, rows)


class _SummedReader(UsageReader):
    """A part's reader whose settled scan is the sums its writer kept (`PartSums`), not a read."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, sums: PartSums) -> None:
        super().__init__(path, con)
        self._sums = sums

    def _settled_by_arrow(self, scan: Scan, periods: Sequence[int]) -> SettledRows | None:
        if (
            scan.settled
            and scan.plan is not None
            and self.relation == self._files
            and self.parquet_rows == self._sums.rows
        ):
            rows = self._sums.settled_rows(scan.plan, periods)
            if rows is not None:
                return rows
        return super()._settled_by_arrow(scan, periods)


class PartAggregates:
    """The aggregates of files read as one, summed from each file's (`aggregate_part`)."""

    def __init__(self, parts: Sequence[PartAggregate]) -> None:
        self.parts = list(parts)
        self.files = [Path(p.path) for p in self.parts]
        self._reader: UsageReader | None = None
        self._asked: tuple[datetime, datetime, tuple[int, ...]] | None = None  # what `aggregate` was asked
        self._aggregated = False  # the files read as one were aggregated
        self._watched: Mapping[str, datetime] | None = None  # (`watch_starts`)

    def _whole(self) -> UsageReader:
        if self._reader is None:
            self._reader = UsageReader(self.files)
            if self._watched is not None:
                self._reader.watch_starts(self._watched)
        return self._reader

    @property
    def first_starts(self) -> FirstStarts | None:
        return None if self._reader is None else self._reader.first_starts

    def watch_starts(self, cutoffs: Mapping[str, datetime]) -> None:
        """As `UsageReader.watch_starts`: the parts' sums keep no start, so the files are then
        read as one (a month with lines activated within it)."""
        self._watched = dict(cutoffs)
        self._whole()

    def early_rows(
        self, asked: EarlyLines, limit: int
    ) -> tuple[list[Group], list[tuple[str | None, int, str]]]:
        """As `UsageReader.early_rows` of the files read as one."""
        return self._whole().early_rows(asked, limit)

    def _summable(self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]) -> bool:
        periods = tuple(int(p) for p in first_periods)
        origins = [p.origin for p in self.parts]
        return (
            bool(self.parts)
            and all(
                (p.month_start, p.month_end, p.first_periods) == (month_start, month_end, periods)
                for p in self.parts
            )
            and None not in origins
            and len(set(origins)) == len(origins)
            # (one run's shards: another run's parts may repeat their records, `_footer_claims`)
            and len({o[0] for o in origins if o is not None}) == 1
        )

    def aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        """As `UsageReader.aggregate` of the files read as one."""
        self._asked = (month_start, month_end, tuple(first_periods))
        if self._watched is not None or not self._summable(month_start, month_end, first_periods):
            self._aggregated = True
            return self._whole().aggregate(month_start, month_end, first_periods)
        groups: dict[tuple[object, ...], Group] = {}
        for part in self.parts:
            for g in part.groups:
                usage._add(groups, g)
        return list(groups.values())

    def check_unchanged(self) -> None:
        """As `UsageReader.check_unchanged`, for the files when they were read as one (the parts'
        sums were made by the run's shards as they wrote the files)."""
        if self._reader is not None:
            self._reader.check_unchanged()

    def list_rejects(
        self,
        month_start: datetime,
        month_end: datetime,
        rejected: Sequence[RejectedKey],
        limit: int,
        **options: Any,
    ) -> list[tuple[str | None, int, str]]:
        """As `UsageReader.list_rejects` of the files read as one: they are read (and aggregated
        first, as the reader's listing expects, when the parts' sums stood in for that)."""
        whole = self._whole()
        if not self._aggregated and self._asked is not None:
            whole.aggregate(*self._asked)
            self._aggregated = True
        return whole.list_rejects(month_start, month_end, rejected, limit, **options)
