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
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from accounting import usage
from accounting.db import duckdb
from accounting.usage import Group, RejectedKey, UsageReader, connect


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
    path: Path, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
) -> PartAggregate:
    """The rating's aggregates of one Parquet file, on a DuckDB connection of one thread.

    In a worker process (one that multiprocessing started: a run's `--workers`, a Dask worker)
    the connection is kept for the next part the process aggregates (it is made in 30-40 CPU-ms,
    a fifth of a 2.9 M-record part's scan); elsewhere it is closed after the file.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:
        with closing(connect(threads=1)) as con:
            return _aggregate(con, path, month_start, month_end, first_periods)
    return _aggregate(_worker_connection(), path, month_start, month_end, first_periods)


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
) -> PartAggregate:
    reader = UsageReader(path, con)
    groups = reader.aggregate(month_start, month_end, tuple(first_periods))
    origin = reader.origins[0] if reader.origins else None
    return PartAggregate(
        str(path), month_start, month_end, tuple(int(p) for p in first_periods), groups, origin
    )


class PartAggregates:
    """The aggregates of files read as one, summed from each file's (`aggregate_part`)."""

    def __init__(self, parts: Sequence[PartAggregate]) -> None:
        self.parts = list(parts)
        self.files = [Path(p.path) for p in self.parts]
        self._reader: UsageReader | None = None
        self._asked: tuple[datetime, datetime, tuple[int, ...]] | None = None  # what `aggregate` was asked
        self._aggregated = False  # the files read as one were aggregated

    def _whole(self) -> UsageReader:
        if self._reader is None:
            self._reader = UsageReader(self.files)
        return self._reader

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
        )

    def aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        """As `UsageReader.aggregate` of the files read as one."""
        self._asked = (month_start, month_end, tuple(first_periods))
        if not self._summable(month_start, month_end, first_periods):
            self._aggregated = True
            return self._whole().aggregate(month_start, month_end, first_periods)
        groups: dict[tuple[object, ...], Group] = {}
        for part in self.parts:
            for g in part.groups:
                usage._add(groups, g)
        return list(groups.values())

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
