"""Every row of an unsettled Parquet input checked as the pyarrow pass reads it, or not.

A Parquet file without the simulator's footer (a pyarrow export: its `start` as text or as a
typed timestamp, no statistics that settle the checks, any column order) is checked row by row
by DuckDB's scan (`UsageReader._scan_sql`, unsettled) and searched for duplicates
(`UsageReader._dedupe`).  Instead, the reader may take the settled scans (`usage_arrow`, the
pyarrow pass) and have the pass call a `RowProof` on every batch it reads (the columns the
checks need read with the pass's own: one read for both).  When every row passes and no two
rows are alike, the pass's sums are the month's.  A row that may fail a check is set aside (at
most `MAX_SET_ASIDE` of them): the reader takes its sums back out of the pass's (the pass run
again on the rows set aside, as it read them) and has DuckDB check and sum it as a scan of the
whole input would (`UsageReader._set_aside`).  Anything unsure (a value not read as DuckDB reads
it, text that is not UTF-8, too many rows set aside) and the pass gives up: DuckDB checks every
row as before (and lists the rejects).

The checks follow the reader's SQL check for check, on the values as DuckDB reads them:

- `start`: a TIMESTAMP WITH TIME ZONE (or a TIMESTAMP, read in UTC) in milliseconds or
  microseconds, or in nanoseconds (pandas' TIMESTAMP(TZ)_NS, rounded to the nearest microsecond
  as DuckDB's cast rounds them; Spark's INT96, floored as DuckDB reads them); or text in the
  forms whose reading by DuckDB is certain (those of `usage_small`: `YYYY-MM-DD HH:MM:SS`, `T`
  or a space between, up to six decimals, then nothing, `Z`, `+HH`, `+HHMM` or `+HH:MM`), parsed here by
  columns of bytes.  Every row has one, inside the month;
- `duration_s`, `bytes_up`, `bytes_down`: BIGINT (or a narrower integer, read as one), NULL or
  within their bounds; a data row has both byte counts; the checks of what no network produces
  (`_record_checks`) computed in integers, and where DuckDB's DOUBLE arithmetic could round the
  other way (a record ending within a millisecond of the month's end), unsure;
- `delivered`: BOOLEAN (never malformed), or no column;
- no two rows identical: a 64-bit hash of each row's line, start, duration, byte counts and
  `delivered`, sorted; a hash seen twice (a copy, or two rows alike in those columns): every row
  being clean, the pass's sums stand, and the rows sharing a hash are listed (`repeats`) for
  DuckDB to compare (`UsageReader._dedupe(rows)`);
- text that is not UTF-8 in any text column (DuckDB refuses the file): unsure (a start's is
  checked on the rows set aside only: one in a form read here is ASCII).

The checks that depend on the aggregate's key only (type, zone, destination, line) are made on
the aggregates by the reader, as for every input.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accounting.usage_arrow import (
    COUNT_TYPES,
    FLOAT_COUNT_TYPES,
    FLOAT_LARGEST,
    PLMN_COLUMN,
    count_types,
    fixed_values,
    wide,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accounting.activation import FirstStarts
    from accounting.usage_arrow import Cells, TextHashes

log = logging.getLogger(__name__)

# On: with the two-thread pass, the month of a pyarrow file of 3 M rows is aggregated in half the
# time of DuckDB's checks and duplicate search (docs/accounting.md).
PROVE = True
_TEXT = "VARCHAR"
_KEYS = ("line", "type", "zone", "dest")
_NUMBERS = ("duration_s", "bytes_up", "bytes_down")
# Other columns: read only to check their text is UTF-8 (DuckDB's duplicate search reads every
# column); a type outside these (a list, a map, a DECIMAL...) leaves the file to DuckDB.
_OTHER_TYPES = frozenset(
    (
        "VARCHAR",
        "BLOB",
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "FLOAT",
        "DOUBLE",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
    )
)
_STAMP_TYPES = {
    "VARCHAR": "text",
    "TIMESTAMP WITH TIME ZONE": "aware",
    "TIMESTAMP": "naive",
    "TIMESTAMPTZ_NS": "aware",  # (pandas' default: nanoseconds, read by DuckDB as such)
    "TIMESTAMP_NS": "naive",
}
_MICROS = {"ms": 1_000, "us": 1}  # a Parquet timestamp's unit -> microseconds per unit
_UNSURE_MICROS = 1_000  # past-month-end: DuckDB's DOUBLE may round a closer call the other way


class _Unsure(ValueError):
    """A row DuckDB may judge otherwise than clean, or a value this module does not read (a
    ValueError: the pass that calls the checks gives up)."""


class RowProof:
    """The checks of every row of the files, made on the batches the pyarrow pass reads
    (`usage_arrow.settled_rows(check=...)`), then `finish` for the duplicates.  Made only for
    files whose columns it reads (`_Unsure` otherwise).  `threads`: the checks run on a thread
    of their own, beside the pass (NumPy's passes over whole columns release the interpreter's
    lock), at most `AHEAD` batches behind it."""

    def __init__(
        self,
        files: Sequence[Path],
        types: dict[str, str],
        month_start: datetime,
        month_end: datetime,
        rows: int,
        threads: bool,
        grows: bool = False,
    ) -> None:
        import numpy as np

        if not all(name in types for name in ("line", "type", "start")):
            raise _Unsure("a required column is missing")
        self.columns, self._texts, counts = _columns(files, types)
        # `grows`: no footer counts the rows (a CSV file's lines, counted as they are read, told
        # to `finish`); `rows` is the room first made for them, made larger when they are more.
        self._grows = grows
        if not files:
            counts = [rows]
        if sum(counts) != rows:
            raise _Unsure("the footers count other rows")
        self._firsts = np.cumsum([0, *counts])  # each file's first row among all
        self._types = types
        self._bounds = _micros(month_start), _micros(month_end)
        self._hashes = np.empty(rows, np.uint64)
        self._low = np.empty(rows, np.uint32)  # each row's hash's low 32 bits, in row order
        self._done = 0
        self._pool = ThreadPoolExecutor(max_workers=1) if threads else None
        self._pending: deque[Future[None]] = deque()
        self._tables: dict[str, TextHashes] = {}  # `_row_hashes`' hashes of the text values
        self.proven: bool | None = None  # the answer, once given: every row clean, no two alike
        self.clean = False  # every row passed the checks (two may still be alike)
        # When clean but not proven: the rows (file index, row of the file from 0) whose hash
        # another row of their aggregate cell shares (`cells`), every copy of every duplicate
        # among them; None: too many to list.
        self.repeats: list[tuple[int, int]] | None = None
        # The rows that may fail a check, set aside (at most `MAX_SET_ASIDE`): each one's row
        # among all (from 0), and the rows themselves as the pass read them, for the reader to
        # take their sums back out and have DuckDB check them (`UsageReader._set_aside`).
        self.set_aside: list[int] = []
        self.taken: list[pa.RecordBatch] = []
        self.meanwhile: Future[Any] | None = None  # `finish`'s work beside the sort
        # Told the rows set aside (among all, sorted) as each batch's are, on the checks' thread.
        self.on_aside: Callable[[list[int]], None] | None = None
        # Each row's aggregate cell, kept by the pass (set by its caller): rows of one hash in
        # other cells are then not listed in `repeats` (`_alike`).
        self.cells: Cells | None = None
        # Told each batch's starts, its rows in doubt left out (set by its caller): the first
        # start of the lines activated within the month (`accounting.activation`).
        self.starts: FirstStarts | None = None

    def __call__(self, batch: pa.RecordBatch) -> None:
        """One batch's rows checked (`_Unsure` at the first that may fail, maybe a batch or two
        later), their hashes kept."""
        if self._pool is None:
            self._check(batch)
            return
        self._pending.append(self._pool.submit(self._check, batch))
        while len(self._pending) > AHEAD:
            self._pending.popleft().result()

    def _check(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa

        if batch.num_rows <= SLICE_ROWS or pa.types.is_dictionary(batch.column("start").type):
            self._check_rows(batch)  # (a dictionary of starts: read once for the whole batch)
            return
        for at in range(0, batch.num_rows, SLICE_ROWS):
            self._check_rows(batch.slice(at, SLICE_ROWS))

    def _check_rows(self, batch: pa.RecordBatch) -> None:
        """`_check` of a batch, or of a slice of one (the rows follow those checked before)."""
        import numpy as np
        import pyarrow as pa

        hashes, doubt = _batch(batch, self._types, self._texts, *self._bounds, self._tables, self.starts)
        first, self._done = self._done, self._done + len(hashes)  # one thread at a time
        if self._done > len(self._hashes):
            if not self._grows:
                raise _Unsure("the files hold more rows than their footers count")
            self._room(self._done)
        if doubt is not None:
            where = np.flatnonzero(doubt)
            if len(self.set_aside) + len(where) > MAX_SET_ASIDE:
                raise _Unsure("too many rows that may fail a check")
            taken = _kept(batch, where)
            start = taken.column("start")
            if pa.types.is_string(start.type) or pa.types.is_large_string(start.type):
                start.validate(full=True)  # (a start read is ASCII; one set aside is DuckDB's to read)
            elif pa.types.is_timestamp(start.type) and start.type.unit == "ns":
                taken = _in_micros(taken, self._types["start"])
            aside = (where + first).tolist()
            self.set_aside += aside
            self.taken.append(taken)
            if self.on_aside is not None:
                self.on_aside(aside)
        self._hashes[first : first + len(hashes)] = hashes
        self._low[first : first + len(hashes)] = hashes  # (the low bits: NumPy's cast wraps)

    def _room(self, rows: int) -> None:
        """The arrays of the hashes made larger, for at least `rows` rows (half as many again)."""
        import numpy as np

        size = max(rows, len(self._hashes) * 3 // 2)
        for name, kind in (("_hashes", np.uint64), ("_low", np.uint32)):
            old, new = getattr(self, name), np.empty(size, kind)
            new[: len(old)] = old
            setattr(self, name, new)

    def finish(
        self, rows: int | Sequence[int] | None = None, meanwhile: Callable[[], Any] | None = None
    ) -> bool:
        """True when every row was checked and no two rows are alike (see the module's text).
        Called once, whether the pass ended or gave up.  `clean` and `repeats` tell the rest.
        `rows`: when the rows grow as they are read, how many there are, or each file's (None:
        not all read).
        `meanwhile`: work run on a thread of its own while the hashes are sorted, once every row
        is checked and clean (its future: `self.meanwhile`); the sort leaves the interpreter's
        lock free, and a core half idle."""
        import numpy as np

        try:
            try:
                while self._pending:
                    self._pending.popleft().result()
                if self._grows:
                    counts = [rows] if isinstance(rows, int) else list(rows or ())
                    self.clean = rows is not None and self._done == sum(counts)
                    self._firsts = np.cumsum([0, *counts]) if self.clean else np.array([0, self._done])
                else:
                    self.clean = self._done == len(self._hashes)
            except (_Unsure, OSError, ValueError) as exc:
                log.debug("the rows are left to DuckDB's checks: %s", exc)
                self.clean = False
            if self.clean and meanwhile is not None:
                aside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-meanwhile")
                self.meanwhile = aside.submit(meanwhile)
                aside.shutdown(wait=False)  # (its thread ends with the work)
            return self._answer()  # (the checks' thread sorts half the hashes)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)

    def _answer(self) -> bool:
        """`finish` once the checks are done: the hashes searched for repeats (`_repeats`)."""
        hashes, self._hashes = self._hashes[: self._done], self._hashes[:0]
        low, self._low = self._low[: self._done], self._low[:0]
        self.proven = False
        if not self.clean:
            return False
        found = _repeats(hashes, low, self._pool)
        if found is None:
            self.proven = True
            return True
        repeated, where, bits = found
        log.debug("%d row hashes seen twice or more: those rows compared by DuckDB", len(repeated))
        if where is not None:
            if self.cells is not None:
                try:
                    cells = self.cells.of_rows(where)
                except ValueError as exc:  # (cells not kept for every row: every candidate listed)
                    log.debug("the rows alike listed whatever their cells: %s", exc)
                else:
                    where = where[_alike(bits[where], cells)]
            if len(where) <= MAX_REPEAT_ROWS:
                self.repeats = self.of_files(where)
        return False

    @property
    def firsts(self) -> list[int]:
        """Each file's first row among all (from 0)."""
        return [int(f) for f in self._firsts[:-1]]

    def of_files(self, rows: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
        """Rows among all (from 0) as (file index, row of the file from 0)."""
        import numpy as np

        where = np.asarray(rows, np.int64)
        files = np.searchsorted(self._firsts, where, side="right") - 1
        return list(zip(files.tolist(), (where - self._firsts[files]).tolist(), strict=True))


def _repeats(
    hashes: np.ndarray, low: np.ndarray, pool: Executor | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
    """The hashes seen twice or more (sorted, each once); the rows (from 0, in order) whose hash
    ends in the low 32 bits of one of them (every row of a repeated hash, and about one more in
    2**32 rows a repeated hash; None past `MAX_REPEATS` repeated hashes: too many to list); and
    each row's low 32 bits, in row order.  None when no hash is seen twice.  `hashes` and `low`
    (each row's hash and its low 32 bits, in row order) are the proof's, sorted here in place.

    The low 32 bits are sorted first: half the bytes of the hashes, which NumPy sorts at three
    times the rate (30 M rows: 0.19 CPU-s against 0.60).  A hash seen twice has its low bits seen
    twice; low bits seen twice (about rows**2 / 2**33 values: 105,000 of 30 M rows, 1 of 90,000)
    are few, their rows found (`_rows_ending`) and only their hashes compared.  Past
    `MAX_LOW_REPEATS` such values (more than 90 M rows) the hashes themselves are sorted."""
    import numpy as np

    lows = _repeated(low, pool)
    if not len(lows):
        return None  # (no low bits seen twice: no hash either)
    if len(lows) > MAX_LOW_REPEATS:
        low[:] = hashes  # each row's low bits again, in row order (NumPy's cast wraps)
        repeated = _repeated(hashes, pool)
        bits = low
        if not len(repeated):
            return None
    else:
        bits = hashes.view(np.uint32)[::2] if sys.byteorder == "little" else hashes.view(np.uint32)[1::2]
        rows = _rows_ending(bits, lows, pool)
        repeated = _repeated(hashes[rows], None)
        if not len(repeated):
            return None
        if len(repeated) <= MAX_REPEATS:  # (their rows are among these, in order)
            return repeated, rows[np.isin(bits[rows], repeated.astype(np.uint32))], bits
    if len(repeated) > MAX_REPEATS:
        return repeated, None, bits
    return repeated, _rows_ending(bits, repeated.astype(np.uint32), pool), bits


def _rows_ending(bits: np.ndarray, values: np.ndarray, pool: Executor | None) -> np.ndarray:
    """The rows (from 0, in order) whose low 32 bits (`bits`, in row order) are among `values`:
    the rows whose last 16 bits, or 24 past `FEW_REPEATS` values, are a value's (`_ending`), then
    searched for the 32 bits, a few per mark."""
    import numpy as np

    width = 16 if len(values) <= FEW_REPEATS else 24
    ends = np.zeros(1 << width, bool)
    ends[(values & np.uint32((1 << width) - 1)).astype(np.intp)] = True
    maybe = _ending(bits, ends, pool)
    found: np.ndarray = maybe[np.isin(bits[maybe], values)]
    return found


def _repeated(hashes: np.ndarray, pool: Executor | None) -> np.ndarray:
    """The values found twice or more among the hashes (sorted, each once), the hashes sorted
    where they are (a sorted copy cost more in page faults than the sort itself).  With a `pool`
    (a thread besides this one) the array is first split about its median (NumPy's selection:
    0.04 s for 30 M), no value on the left above it, none on the right below it, and each side
    sorted on a thread of its own: 0.21 s against 0.33 for the one sort and search of 30 M."""
    import numpy as np

    def sort(part: np.ndarray) -> np.ndarray:
        part.sort()
        same = part[1:] == part[:-1]
        return np.unique(part[1:][same]) if bool(same.any()) else part[:0]

    middle = len(hashes) // 2
    if pool is None or middle < SPLIT_SORT:
        return sort(hashes)
    hashes.partition(middle)
    right = pool.submit(sort, hashes[middle:])
    found = [sort(hashes[:middle]), right.result()]
    if hashes[middle - 1] == hashes[middle]:  # the two sides' ends: the one place they meet
        found.append(hashes[middle : middle + 1])
    return np.unique(np.concatenate(found))


def _ending(low: np.ndarray, ends: np.ndarray, pool: Executor | None) -> np.ndarray:
    """The rows (from 0) whose hash's low bits (16, or as many as `ends` has marks for) are
    marked in `ends`: by blocks of a million rows (the whole at once made a temporary of 8
    bytes a row), with a `pool` the two halves on two threads (0.05 s against 0.10 for 30 M
    rows, 16 bits)."""
    import numpy as np

    mask = np.uint32(len(ends) - 1)

    def rows(start: int, stop: int) -> np.ndarray:
        found = [np.empty(0, np.intp)]
        for at in range(start, stop, ENDING_BLOCK):
            block = low[at : min(at + ENDING_BLOCK, stop)]
            if len(ends) == 1 << 16 and sys.byteorder == "little" and block.strides == (4,):
                bits = block.view(np.uint16)[::2]
            else:
                bits = block & mask
            found.append(np.flatnonzero(ends[bits]) + at)
        return np.concatenate(found)

    middle = len(low) // 2
    if pool is None or middle < SPLIT_SORT:
        return rows(0, len(low))
    right = pool.submit(rows, middle, len(low))
    return np.concatenate([rows(0, middle), right.result()])


def _alike(low: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Which rows share both their hash's low 32 bits and their aggregate cell with another of
    them: rows alike in every field do (the same values, the same hash and cell); rows of one
    hash in other cells (two SMS of a line in one second, to two destinations: the proof's hash
    leaves type, zone and destination to the cell) are not duplicates, and DuckDB need not
    compare them."""
    import numpy as np

    if not len(low):
        return np.zeros(0, bool)
    # Both as one number, as a row's hash adds a column (wrapping: two pairs made one keep a row
    # more, never one less).
    with np.errstate(over="ignore"):
        pairs = cells.astype(np.uint64) * np.uint64(_STEP) + low.astype(np.uint64)
    _, inverse, counts = np.unique(pairs, return_inverse=True, return_counts=True)
    alike: np.ndarray = counts[inverse.reshape(-1)] > 1
    return alike


def _kept(batch: pa.RecordBatch, rows: np.ndarray) -> pa.RecordBatch:
    """These rows of the batch, a dictionary column's as its values: rows kept to the end of the
    pass with the dictionaries of their batches pinned the C library's heap, which the pass
    keeps (`usage_arrow._kept_heap`), and grew it by the freed blocks around them (a peak of
    1.9 GiB instead of 1.0 for 30 M rows of a CSV with 0.1 % rejects)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at = pa.array(rows)
    columns = []
    for column in batch.columns:
        if pa.types.is_dictionary(column.type):
            columns.append(pc.take(column.dictionary, pc.take(column.indices, at)))
        else:
            columns.append(pc.take(column, at))
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _in_micros(taken: pa.RecordBatch, duckdb_type: str) -> pa.RecordBatch:
    """Rows set aside whose start pyarrow read in nanoseconds, their start as DuckDB reads it
    from the file when it holds it in microseconds (an INT96, floored: DuckDB would round the
    nanoseconds of an Arrow table); as they are when DuckDB holds nanoseconds."""
    import pyarrow as pa

    if duckdb_type.endswith("_NS"):
        return taken
    start = taken.column("start")
    valid = _valid(start)
    micros = pa.array(
        _micros_of(_values(start), "ns", duckdb_type),
        pa.timestamp("us", start.type.tz),
        mask=None if valid is None else ~valid,
    )
    columns = [micros if name == "start" else taken.column(name) for name in taken.schema.names]
    return pa.RecordBatch.from_arrays(columns, names=taken.schema.names)


def taken_table(proof: RowProof) -> pa.Table:
    """The rows the proof set aside, as one table of the pass's types (its text keys as
    dictionaries again), of one chunk (summed again as one batch, not one per batch they came
    from); a ValueError when the batches differ in their types."""
    import pyarrow as pa

    table = pa.Table.from_batches(proof.taken).combine_chunks()
    for i, name in enumerate(table.schema.names):
        if (name in _KEYS or name == PLMN_COLUMN) and pa.types.is_string(table.schema.field(i).type):
            table = table.set_column(i, name, table.column(i).dictionary_encode())
    return table


# Rows alike in the hashed columns listed for DuckDB to compare (more: its full duplicate search).
MAX_REPEATS = 1_000_000
FEW_REPEATS = 1_000  # repeated hashes whose rows are found by 16 bits of their hashes (more: 24)
# Low 32 bits of the hashes seen twice past which the hashes themselves are sorted (`_repeats`).
MAX_LOW_REPEATS = 1 << 20
MAX_REPEAT_ROWS = 10_000
# Rows that may fail a check, set aside for DuckDB to check (more: DuckDB checks every row): each
# costs its line read again (a CSV) and a row of a small table; a month with a reject in 30 rows
# is better checked by DuckDB's scan.
MAX_SET_ASIDE = 200_000
SPLIT_SORT = 1 << 20  # rows on each side from which the hashes are sorted on two threads
ENDING_BLOCK = 1 << 20  # rows whose hashes' ends are looked up at a time
# Batches the checks may be behind the pass: as many wait to be checked on one core once the
# reading is done (8: 0.07-0.14 s of a Parquet month of 30 M rows; 3: 4.61-4.70 s against
# 4.76-4.84 for one with 0.1 % rejects, the others within the noise).
AHEAD = 3
# Rows checked at a time: a batch of the pass (`usage_arrow.BATCH_ROWS`, 262,144 rows) is checked
# by slices, each pass of NumPy over a column of a slice (512 KiB at 8 bytes a row) then reading
# what the pass before left in the processor's cache (a pyarrow Parquet month of 30 M rows: the
# checks 38 -> 33 ns a row with a typed start, 72 -> 65 with a text start).
SLICE_ROWS = 1 << 16


def row_proof(
    files: Sequence[Path],
    types: dict[str, str],
    month_start: datetime,
    month_end: datetime,
    rows: int,
    threads: bool,
    grows: bool = False,
) -> RowProof | None:
    """The checks of the files' `rows` rows for this month, or None when some column is not of a
    type they read (the rows are left to DuckDB's checks); `grows`: see `RowProof`."""
    try:
        return RowProof(files, types, month_start, month_end, rows, threads, grows)
    except (_Unsure, OSError, ValueError) as exc:  # ArrowException is an OSError or ValueError
        log.debug("the rows are left to DuckDB's checks: %s", exc)
        return None


def _columns(files: Sequence[Path], types: dict[str, str]) -> tuple[list[str], list[str], list[int]]:
    """(the columns to read, the text columns among them checked for UTF-8, each file's rows),
    when every file stores the columns as this module reads them; else `_Unsure`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted: dict[str, tuple[Any, ...]] = {}
    for name, kind in types.items():
        if name == "line" and kind in COUNT_TYPES:  # (a line's number: the pass reads it as text)
            wanted[name] = count_types()
        elif name in _KEYS:
            if kind != _TEXT:
                raise _Unsure(f"{name} is {kind}")
            wanted[name] = (pa.string(), pa.large_string(), pa.string_view())  # (the pass reads dictionaries)
        elif name == "start":
            if kind not in _STAMP_TYPES:
                raise _Unsure(f"start is {kind}")
            wanted[name] = (pa.string(), pa.large_string()) if kind == _TEXT else ("timestamp",)
        elif name in _NUMBERS:
            if kind not in COUNT_TYPES | FLOAT_COUNT_TYPES:
                raise _Unsure(f"{name} is {kind}")
            wanted[name] = count_types(floats=kind in FLOAT_COUNT_TYPES)
        elif name == "delivered":
            if kind != "BOOLEAN":
                raise _Unsure(f"delivered is {kind}")
            wanted[name] = (pa.bool_(),)
        elif kind not in _OTHER_TYPES:
            raise _Unsure(f"{name} is {kind}")
        elif kind == _TEXT:
            wanted[name] = (pa.string(), pa.large_string())  # read for its UTF-8 only
    first: pa.Schema | None = None
    counts = []
    for path in files:
        with pq.ParquetFile(path) as file:
            counts.append(file.metadata.num_rows)
            schema = file.schema_arrow.remove_metadata()
            stored = file.schema
        if first is None:
            first = schema
        elif not schema.equals(first):
            raise _Unsure("files whose schemas differ")
        for name, kinds in wanted.items():
            if schema.get_field_index(name) < 0:
                raise _Unsure(f"no column {name}")
            kind = schema.field(name).type
            if pa.types.is_dictionary(kind):
                if pa.string() not in kinds:
                    raise _Unsure(f"{name} is {kind}")  # numbers are read from their buffers
                kind = kind.value_type
            if kinds == ("timestamp",):
                if not pa.types.is_timestamp(kind) or kind.unit not in _stamp_units(
                    types["start"], stored, name
                ):
                    raise _Unsure(f"start is {kind}")
                if (kind.tz is None) != (_STAMP_TYPES[types["start"]] == "naive"):
                    raise _Unsure(f"start is {kind}")
            elif kind not in kinds:
                raise _Unsure(f"{name} is {kind}")
    texts = [name for name, kinds in wanted.items() if pa.string() in kinds and name != "start"]
    return list(wanted), texts, counts


def _stamp_units(duckdb_type: str, stored: pq.ParquetSchema, name: str) -> tuple[str, ...]:
    """The units pyarrow may give the timestamps of column `name` (`stored`: the file's Parquet
    schema) that DuckDB reads as `duckdb_type`, each read here as DuckDB reads it (`_micros_of`):
    milliseconds or microseconds for a TIMESTAMP (WITH TIME ZONE); nanoseconds for a
    TIMESTAMP(TZ)_NS (pandas' default), or for Spark's INT96, which DuckDB reads as a TIMESTAMP
    of microseconds (pyarrow: nanoseconds)."""
    if duckdb_type.endswith("_NS"):
        return ("ns",)
    leaves = [stored.column(i) for i in range(len(stored))]
    if any(c.path == name and c.physical_type == "INT96" for c in leaves):
        return ("ns",)
    return tuple(_MICROS)


def _micros_of(values: np.ndarray, unit: str, duckdb_type: str) -> np.ndarray:
    """Timestamps in `unit` as DuckDB reads them, in microseconds: nanoseconds rounded to the
    nearest (half away from zero) when DuckDB holds them as nanoseconds and casts them (a
    TIMESTAMP(TZ)_NS), else floored (an INT96, read as microseconds)."""
    import numpy as np

    if unit != "ns":
        if _MICROS[unit] == 1 and values.dtype == np.int64:
            return values  # (as stored: no copy to make)
        return values.astype(np.int64) * _MICROS[unit]
    whole: np.ndarray
    whole, rest = np.divmod(values.astype(np.int64), 1_000)
    if not duckdb_type.endswith("_NS"):
        return whole
    rounded: np.ndarray = whole + ((rest > 500) | ((rest == 500) & (values >= 0)))
    return rounded


def timestamp_micros(column: pa.Array, duckdb_type: str) -> np.ndarray:
    """A timestamp column's values in microseconds as DuckDB reads them (anything where NULL)."""
    return _micros_of(_values(column), column.type.unit, duckdb_type)


# A Parquet timestamp's units that `stored_values` may be compared in (microseconds per unit).
MICROS = _MICROS


def stored_values(column: pa.Array) -> np.ndarray:
    """A timestamp column's values as stored, in its unit (anything where NULL)."""
    return _values(column)


def read_stamps(column: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """A text column's starts in microseconds, and the rows NULL or not read (None: none)."""
    return _stamps(column)


def _values(array: pa.Array) -> np.ndarray:
    """A fixed-width column's values (a timestamp's count of its units), anything where NULL."""
    import numpy as np

    width = array.type.bit_width // 8
    values = np.frombuffer(array.buffers()[1], f"<i{width}")
    return values[array.offset : array.offset + len(array)]


def _valid(array: pa.Array) -> np.ndarray | None:
    """Where a column is not NULL (None: everywhere)."""
    if not array.null_count:
        return None
    return _bits(array.buffers()[0], array.offset, len(array)).astype(bool)


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    """A bitmap's bits (Arrow's order: least significant first) from `offset`, as 0 and 1."""
    import numpy as np

    first = offset // 8  # (a slice far into its array: only the bytes of its own bits unpacked)
    raw = np.frombuffer(buffer, np.uint8)[first : (offset + length + 7) // 8]
    bits = np.unpackbits(raw, count=offset % 8 + length, bitorder="little")
    return bits[offset % 8 :]


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _batch(
    batch: pa.RecordBatch,
    types: dict[str, str],
    texts: list[str],
    lo: int,
    hi: int,
    tables: dict[str, TextHashes],
    starts: FirstStarts | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The checks of one batch: its rows' hashes, and the rows that may fail a check (None: none);
    `_Unsure` when the batch cannot be read as DuckDB reads it.

    Each check is first made on the batch's extremes (a minimum or maximum over a column, its
    NULL slots included, bounds what its rows can be); only the rows the extremes leave in doubt,
    usually none, are looked at one by one.  A row in doubt is checked no further: its start is
    taken as the month's first instant and its numbers as 0 in the checks after (its start is
    hashed as such: rows alike are in doubt alike, and still hash alike)."""
    import numpy as np
    import pyarrow as pa

    from accounting.usage import MAX_OCTETS, MAX_OCTETS_PER_S, MAX_RECORD_S, MAX_SECONDS, PAST_MONTH_END_S

    rows = batch.num_rows
    for name in texts:  # text DuckDB reads is UTF-8, or DuckDB refuses the file
        column = batch.column(name)
        (column.dictionary if pa.types.is_dictionary(column.type) else column).validate(full=True)
    start = batch.column("start")
    doubt: np.ndarray | None = None
    if types["start"] != _TEXT:
        ts = _micros_of(_values(start), start.type.unit, types["start"])
        if start.null_count:
            doubt = ~_valid(start)  # type: ignore[operator]
    elif pa.types.is_dictionary(start.type):  # stored as an Arrow dictionary: each value read once
        values_of, unread = _stamps(start.dictionary)
        # (as intp: NumPy casts an index of another integer type to intp on each gather, through a
        # buffered loop, at three times the cost of a gather by intp indices)
        index = _values(start.indices).astype(np.intp)
        if start.null_count:
            index = np.where(_valid(start.indices), index, len(values_of))  # type: ignore[arg-type]
            values_of = np.append(values_of, 0)
            unread = np.append(np.zeros(len(values_of) - 1, bool) if unread is None else unread, True)
        ts = values_of[index]
        doubt = None if unread is None else unread[index]
    else:
        ts, doubt = _stamps(start)
    if not rows:
        return np.zeros(0, np.uint64), None

    def aside(rows_in_doubt: np.ndarray) -> None:
        nonlocal doubt
        doubt = rows_in_doubt if doubt is None else doubt | rows_in_doubt

    def at(where: np.ndarray) -> np.ndarray:
        mask = np.zeros(rows, bool)
        mask[where] = True
        return mask

    latest = int(ts.max())  # (and, with `lo` for the rows in doubt, the latest start below)
    if int(ts.min()) < lo or latest >= hi:
        aside((ts < lo) | (ts >= hi))
    if starts is not None:  # (a row in doubt is DuckDB's to check, and to note: `_set_aside`)
        starts.note_rows(batch.column("line"), ts, doubt)
    if doubt is not None:
        ts = np.where(doubt, lo, ts)
        latest = max(latest, lo)
    values: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in _NUMBERS:
        if name in types:
            column = batch.column(name)
            raw, valid = fixed_values(column), _valid(column)
            if raw.dtype.kind == "f":  # whole and an int64, or DuckDB's reading is a reject (or fractional)
                odd = (raw != np.trunc(raw)) | ~(np.abs(raw) < FLOAT_LARGEST)  # (NaN: odd)
                if valid is not None:
                    odd &= valid
                if bool(odd.any()):
                    aside(odd)
            values[name] = (wide(raw), valid)
        else:
            values[name] = (np.zeros(rows, np.int64), np.zeros(rows, bool))
    (dur, dur_ok), (up, up_ok), (down, down_ok) = (values[n] for n in _NUMBERS)
    for number, valid, most in (
        (dur, dur_ok, MAX_SECONDS),
        (up, up_ok, MAX_OCTETS),
        (down, down_ok, MAX_OCTETS),
    ):
        if int(number.min()) >= 0 and int(number.max()) <= most:
            continue  # every value in range, a NULL slot's too
        bad = number.view(np.uint64) > most  # a negative number is past 2**63 as unsigned
        if valid is not None:
            bad &= valid
        if bool(bad.any()):
            aside(bad)
    # The numbers with NULL (or in doubt) as 0 (a NULL slot may hold anything): each in range now.
    d, u, v = (
        n if ok is None else np.where(ok, n, 0) for n, ok in ((dur, dur_ok), (up, up_ok), (down, down_ok))
    )
    if doubt is not None:
        d, u, v = (np.where(doubt, 0, n) for n in (d, u, v))
    kind = batch.column("type")
    # A data row has both byte counts (else: bad-bytes).
    if up_ok is not None or down_ok is not None:
        both = np.ones(rows, bool) if up_ok is None else up_ok.copy()
        if down_ok is not None:
            both &= down_ok
        lacking = np.flatnonzero(~both)
        data = _flags_at(kind, ("data",), lacking)
        if bool(data.any()):
            aside(at(lacking[data]))
    # over-12h: dur > MAX_RECORD_S on a data row.
    longest = int(d.max())
    if longest > MAX_RECORD_S:
        long = np.flatnonzero(d > MAX_RECORD_S)
        data = _flags_at(kind, ("data",), long)
        if bool(data.any()):
            aside(at(long[data]))
    # past-month-end: dur > end + PAST_MONTH_END_S - epoch(ts) on a call or data row, in DOUBLE;
    # exact in microseconds here, and unsure within a millisecond of the limit unless the start
    # is a whole second (then DuckDB's arithmetic is exact too).
    # The latest start and the longest duration bound every end: only past that bound are the
    # ends themselves made (the simulator's months and most others: never).
    limit = hi + PAST_MONTH_END_S * 1_000_000
    if latest + longest * 1_000_000 > limit - _UNSURE_MICROS and (
        int((ends := ts + d * 1_000_000).max()) > limit - _UNSURE_MICROS
    ):
        near = np.flatnonzero(ends > limit - _UNSURE_MICROS)
        over = ends[near] - limit  # microseconds past the limit (> 0: a reject)
        late = (over > 0) | ((over > -_UNSURE_MICROS) & (ts[near] % 1_000_000 != 0))
        timed = _flags_at(kind, ("data", "voice", "csd"), near)
        if dur_ok is not None:
            timed &= dur_ok[near]
        if bool((timed & late).any()):
            aside(at(near[timed & late]))
    # too-many-octets: bu + bd > MAX_OCTETS_PER_S * max(COALESCE(dur, MAX_RECORD_S), 1) on a
    # data row; bu + bd <= 2 * MAX_OCTETS (< 2**53: DuckDB's DOUBLE sum is exact), and past
    # 10**6 s the product is more than any such sum, so the product is made on at most 10**6.
    if int(u.max()) + int(v.max()) > MAX_OCTETS_PER_S:
        seconds = np.where(dur_ok, dur, MAX_RECORD_S) if dur_ok is not None else dur
        seconds = np.clip(seconds, 1, 1_000_000)
        heavy = np.flatnonzero(u + v > MAX_OCTETS_PER_S * seconds)
        data = _flags_at(kind, ("data",), heavy)
        if bool(data.any()):
            aside(at(heavy[data]))
    return _row_hashes(batch, types, ts, values, tables), doubt


def _flags_at(kind: pa.DictionaryArray, wanted: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Whether the type of each of these rows is among `wanted` (a NULL type: no)."""
    indices = kind.indices
    valid = _valid(indices)
    return _flags(
        kind.dictionary.to_pylist(), wanted, _values(indices)[rows], None if valid is None else valid[rows]
    )


def _flags(
    values: list[Any], wanted: tuple[str, ...], index: np.ndarray, valid: np.ndarray | None
) -> np.ndarray:
    """Each row's type among `wanted` (a NULL type: no)."""
    import numpy as np

    table = np.array([v in wanted for v in values] + [False], bool)
    flags: np.ndarray = table[index if valid is None else np.where(valid, index, len(values))]
    return flags


# The text columns hashed: type, zone and destination rarely tell two rows apart that line,
# start, duration and byte counts do not (rows alike in the hashed columns only are unsure).
_HASHED = ("line",)
_NULL = 0x9E3779B97F4A7C15  # a NULL's value in a row's hash
_STEP = 0x100000001B3  # each column's hash is multiplied by this before the next is added


def _row_hashes(
    batch: pa.RecordBatch,
    types: dict[str, str],
    ts: np.ndarray,
    values: dict[str, tuple[np.ndarray, np.ndarray | None]],
    tables: dict[str, TextHashes],
) -> np.ndarray:
    """A hash of each row's line, start, duration, byte counts and `delivered`: rows alike in
    them hash alike (a text by a hash of its bytes, a number by its value, NULL by a value of
    its own); rows that differ hash alike about once in 2**64 pairs (then DuckDB compares
    them, as when two rows differ in their other columns only).  `tables`: each hashed text
    column's dictionaries' hashes (`TextHashes`: no code to give each text, which cost a
    million lines' CSV 0.1 s a chunk)."""
    import numpy as np

    from accounting.usage_arrow import TextHashes, mix64

    null, step = np.uint64(_NULL), np.uint64(_STEP)
    h = ts.view(np.uint64).copy()
    for name in _HASHED:
        if name in types:
            column = batch.column(name)
            table = tables.setdefault(name, TextHashes(_NULL)).of_dictionary(column.dictionary)
            index, valid = _values(column.indices).astype(np.intp), _valid(column.indices)  # (`_batch`)
            h *= step
            h += table[index if valid is None else np.where(valid, index, len(table) - 1)]
    for name in _NUMBERS:
        if name in types:
            number, valid = values[name]
            h *= step
            h += number.view(np.uint64) if valid is None else np.where(valid, number.view(np.uint64), null)
    if "delivered" in types:
        column = batch.column("delivered")
        bits = _bits(column.buffers()[1], column.offset, len(column)).astype(np.uint64)
        valid = _valid(column)
        h *= step
        h += bits if valid is None else np.where(valid, bits, null)
    return mix64(h)


# Text starts: the forms of `usage_small._stamp` (a fixed layout of 19 characters, then a
# fraction and a time zone), read by columns of bytes, one layout of the rest at a time.
_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_FIXED = ((4, b"-"), (7, b"-"), (13, b":"), (16, b":"))
_FRACTIONS = (0, 2, 3, 4, 5, 6, 7)  # characters of `.d{1,6}`, or none
_ZONES = (0, 1, 3, 5, 6)  # none, Z, +HH, +HHMM, +HH:MM


def stamps(column: pa.Array) -> np.ndarray:
    """TRY_CAST(text AS TIMESTAMPTZ) in UTC of each row, as microseconds since 1970; `_Unsure`
    when some row is NULL or not in one of the forms whose reading is certain."""
    out, unread = _stamps(column)
    if unread is not None:
        raise _Unsure("a start NULL, or in a form whose reading is not certain")
    return out


def _stamps(column: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """`stamps`, and the rows NULL or in another form (None: none), whose instants are 0."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_large_string(column.type):
        stored = np.frombuffer(column.buffers()[1], np.int64)
    else:
        stored = np.frombuffer(column.buffers()[1], np.int32)
    stored = stored[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(column.buffers()[2], np.uint8) if len(column) else np.zeros(0, np.uint8)
    lengths = np.diff(stored)  # (in the offsets' own width: no 64-bit copy of them for most batches)
    if len(column) and not column.null_count and int(lengths.min()) == int(lengths.max()):
        length = int(lengths[0])  # (most batches: one length, no NULL)
        if 19 <= length <= 19 + 7 + 6:
            text = data[int(stored[0]) : int(stored[-1])].reshape(len(column), length)
            instants, odd = _matrix(column, text, length)
            if odd is not None:
                instants[odd] = 0
            return instants, odd
    out = np.zeros(len(column), np.int64)
    unread = None if not column.null_count else ~_valid(column)  # type: ignore[operator]
    if not len(column):
        return out, unread
    # The length of seven rows in eight or more, if one is (most often the middle row's: no count
    # of every length, 3 ns a row), and every length.
    most = int(lengths[len(column) // 2])
    of_length = lengths == most
    if 8 * (len(column) - int(np.count_nonzero(of_length))) < len(column):
        seen = sorted([most, *np.unique(lengths[~of_length]).tolist()])
    else:
        counts = np.bincount(lengths)
        most, seen = int(counts.argmax()), np.flatnonzero(counts).tolist()
        of_length = lengths == most
        if 8 * (len(column) - int(counts[most])) >= len(column):
            most = -1
    filled = False
    if 19 <= most <= 19 + 7 + 6:
        # A few rows of other lengths (or NULL) among them: every row read as a matrix, the others
        # a copy of one of that length in their place (`_filled`), each then set aside or read
        # below; no rows taken out, nor their instants put back.
        if column.null_count:
            of_length &= _valid(column)
        whole = _filled(column, data, stored, of_length, most)
        if whole is not None:
            instants, odd = _matrix(whole[0], whole[1], most)
            out = instants if instants.flags.writeable else instants.copy()
            if odd is not None:  # (of the others, each set aside or read below)
                odd &= of_length
                unread = odd if unread is None else unread | odd
            filled = True
    offsets = stored.astype(np.int64)
    for length in seen:
        if length == most and filled:
            continue
        if length < 19 or length > 19 + 7 + 6:  # no form read here
            unread = lengths == length if unread is None else unread | (lengths == length)
        elif length == most:  # a few rows of other lengths, more than `_FILLED`
            # (or NULL: every row of one length without NULL is read above.) Taken out, the rest
            # is a matrix again, and an array Arrow's cast may read (`_rows_of_length`).
            of_length = lengths == length
            if column.null_count:
                of_length &= _valid(column)
            where = np.flatnonzero(of_length)
            if not len(where):  # (NULL, each of them)
                continue
            rest, text = _rows_of_length(column, data, offsets, where, of_length, length)
            out[of_length], odd = _matrix(rest, text, length)
            if odd is not None:
                if unread is None:
                    unread = np.zeros(len(column), bool)
                unread[where] |= odd
        else:  # gathered a block of rows at a time (an index of 8 bytes a character)
            every = np.flatnonzero(lengths == length)
            for first in range(0, len(every), _BLOCK):
                where = every[first : first + _BLOCK]
                out[where], odd = _layouts(data[offsets[where][:, None] + np.arange(length)], length)
                if odd is not None:
                    if unread is None:
                        unread = np.zeros(len(column), bool)
                    unread[where] |= odd
    if unread is not None:
        out[unread] = 0
    return out, unread


_FILLED = 128  # rows of other lengths among a slice's past which the rows are taken out instead


def _filled(
    column: pa.Array, data: np.ndarray, stored: np.ndarray, of_length: np.ndarray, length: int
) -> tuple[pa.Array, np.ndarray] | None:
    """The rows of a column of text (`data` and `stored`: its bytes and offsets) as an array of
    text and the matrix of its bytes, `length` a row, the rows `of_length` as they are and each
    other row (NULL, or of another length) a copy of the first of them; None past `_FILLED`
    others, or none of that length."""
    import numpy as np
    import pyarrow as pa

    rows = len(of_length)
    others = np.flatnonzero(~of_length)
    if len(others) > _FILLED or len(others) == rows:
        return None
    text = np.empty((rows, length), np.uint8)
    first = 0
    for stop in [*others.tolist(), rows]:  # each run of rows of that length copied as it is stored
        if stop > first:
            at = int(stored[first])
            text[first:stop] = data[at : at + (stop - first) * length].reshape(-1, length)
        first = stop + 1
    text[others] = text[int(np.argmax(of_length))]
    wide = np.int64 if pa.types.is_large_string(column.type) else np.int32
    bounds = np.arange(0, (rows + 1) * length, length, dtype=wide)
    array = pa.Array.from_buffers(column.type, rows, [None, pa.py_buffer(bounds), pa.py_buffer(text)])
    return array, text


_RUNS = 1_000  # runs of rows of one length copied one by one (more: by Arrow's filter)


def _rows_of_length(
    column: pa.Array,
    data: np.ndarray,
    offsets: np.ndarray,
    where: np.ndarray,
    of_length: np.ndarray,
    length: int,
) -> tuple[pa.Array, np.ndarray]:
    """The rows `where` of a column of text (`of_length`: the same, as flags), each of `length`
    bytes (`data` and `offsets`: the column's), as an array of text and the matrix of their
    bytes.  Their bytes are copied a run of rows at a time when the runs are few (a column of 1 M
    rows with a few hundred others: 0.7 ms, where Arrow's filter took 1.6, and NumPy's delete three
    times that); else by the filter."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    cuts = np.flatnonzero(np.diff(where) != 1) + 1
    if len(cuts) >= _RUNS:
        rest = pc.filter(column, pa.array(of_length))
        wide = np.int64 if pa.types.is_large_string(rest.type) else np.int32
        first, last = np.frombuffer(rest.buffers()[1], wide)[[rest.offset, rest.offset + len(rest)]]
        return rest, np.frombuffer(rest.buffers()[2], np.uint8)[int(first) : int(last)].reshape(-1, length)
    starts = offsets[where[np.concatenate([[0], cuts])]].tolist()
    ends = offsets[where[np.concatenate([cuts - 1, [len(where) - 1]])] + 1].tolist()
    text = np.concatenate([data[a:b] for a, b in zip(starts, ends, strict=True)])
    large = pa.types.is_large_string(column.type)
    bounds = np.arange(0, (len(where) + 1) * length, length, dtype=np.int64 if large else np.int32)
    rest = pa.Array.from_buffers(column.type, len(where), [None, pa.py_buffer(bounds), pa.py_buffer(text)])
    return rest, text.reshape(-1, length)


def _matrix(column: pa.Array, text: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The instants of the rows of `column` (no NULL), every one of `length` characters (`text`:
    the matrix of their bytes), and the rows in no layout (None: none); read by Arrow's cast when
    it can, else by the layouts."""
    quick = _by_arrow(column, text)
    if quick is not None:
        return quick, None
    return _layouts(text, length)


def _by_arrow(column: pa.Array, text: np.ndarray) -> np.ndarray | None:
    """The instants of rows all of one layout (the matrix of their bytes: `YYYY-MM-DD HH:MM:SS`,
    `T` or a space in the middle, up to six decimals, then nothing, read in UTC as DuckDB reads it
    here, `Z`, or an offset `+HH`, `+HHMM` or `+HH:MM` of a local time), read by Arrow's cast: 18 ns a row
    with the checks here, against 24-44 for `_layouts` (60 with a fraction or an offset).
    Arrow's ISO 8601 reader takes digits only where the layout has them, and refuses a day the
    month does not have, an hour past 23, a minute or a second past 59; the separators, checked
    here, pin the layout to one `_layouts` reads, and an offset past 14 hours or 59 minutes
    (Arrow reads them, the layouts do not) leaves the rows to them.  None when the rows are of
    no one layout, or Arrow refuses one (`_layouts` then reads them and finds which)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    width = text.shape[1]
    if width == 20 and text.strides == (20, 1):  # bytes 4-7 `-MM-`, 8-11 `DD?H`, 12-15 `H:MM`, 16-19 `:SSZ`
        words = text.view("<u4")
        separators = (
            (1, 0xFF0000FF, ord("-") | ord("-") << 24),
            (3, 0x0000FF00, ord(":") << 8),
            (4, 0xFF0000FF, ord(":") | ord("Z") << 24),
        )
        for at, mask, value in separators:
            if not bool(((words[:, at] & np.uint32(mask)) == np.uint32(value)).all()):
                return None
        middle = text[:, 10]
        if not bool(((middle == ord(" ")) | (middle == ord("T"))).all()):
            return None
        fraction, zone = 0, 1
    else:
        layouts = [(f, z) for f in _FRACTIONS for z in _ZONES if 19 + f + z == width]
        found = next((lay for lay in layouts if bool(_separators(text, *lay).all())), None)
        if found is None:
            return None
        fraction, zone = found
    kind = pa.timestamp("us", "UTC") if zone else pa.timestamp("us")  # (no zone: its digits as UTC)
    try:
        instants: np.ndarray = pc.cast(column, kind).cast(pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if int(instants.min()) < _ARROW_YEARS[0] or int(instants.max()) >= _ARROW_YEARS[1]:
        return None  # (Arrow reads year 0 too; the layouts read the years 2 to 9998)
    if zone >= 3:  # (digits there: Arrow read them)
        hours, minutes = _offset(text, fraction, zone)
        if int(hours.max()) > 14 or int(minutes.max()) > 59:
            return None
    return instants


# The instants from which and before which Arrow's reading of text starts is taken (years 2-9998).
_ARROW_YEARS = (-62104060800000000, 253370764800000000)


def _layouts(text: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The instants of rows of `length` characters (a matrix of their bytes), each in one of the
    layouts of that length, and the rows in none (None: none); read a block of rows at a time
    (each pass over a column of bytes then stays in the processor's cache)."""
    import numpy as np

    rows = len(text)
    out = np.zeros(rows, np.int64)
    odd: np.ndarray | None = None
    rest = length - 19
    layouts = [(f, rest - f) for f in _FRACTIONS if rest - f in _ZONES]
    for first in range(0, rows, _BLOCK):
        block = text[first : first + _BLOCK]
        quick = _one_month(block) if length in (19, 20) else None
        if quick is not None:
            out[first : first + len(block)] = quick
            continue
        matched = np.zeros(len(block), bool)
        for fraction, zone in layouts:
            fits = _layout_mask(block, fraction, zone)
            if bool(fits.all()):
                value, wrong = _instant(block, fraction, zone)
                out[first : first + len(block)] = value
                matched[:] = True if wrong is None else ~wrong
                break
            if bool(fits.any()):
                value, wrong = _instant(block[fits], fraction, zone)
                out[first : first + len(block)][fits] = value
                matched[fits] |= True if wrong is None else ~wrong
        if not bool(matched.all()):
            if odd is None:
                odd = np.zeros(rows, bool)
            odd[first : first + len(block)] = ~matched
    return out, odd


_BLOCK = 1 << 15  # rows of text starts read at a time


def _swar(pattern: str) -> tuple[int, int, int, int, int]:
    """Constants to test 8 bytes read as one little-endian integer against `pattern`: `d` a
    digit, `?` anything, any other character itself (see `_fits`)."""
    high = digits = six = fixed = chars = 0
    for i, char in enumerate(pattern):
        if char == "d":
            high |= 0xF0 << 8 * i
            digits |= 0x30 << 8 * i
            six |= 0x06 << 8 * i
        elif char != "?":
            fixed |= 0xFF << 8 * i
            chars |= ord(char) << 8 * i
    return high, digits, six, fixed, chars


def _fits(words: np.ndarray, constants: tuple[int, int, int, int, int]) -> np.ndarray:
    """Whether each word's bytes are of the pattern: a digit is a byte 0x30 to 0x39 (its high
    half 3, and still 3 once 6 is added; a carry out of a byte that is no digit spoils only a
    word that fails already)."""
    import numpy as np

    high, digits, six, fixed, chars = (np.uint64(c) for c in constants)
    fits: np.ndarray = (
        ((words & high) == digits) & (((words + six) & high) == digits) & ((words & fixed) == chars)
    )
    return fits


_DAY_TIME = _swar("dd?dd:dd")  # bytes 8 to 15 of `YYYY-MM-DD HH:MM:SS`
_SECONDS = {19: _swar(":dd\0\0\0\0\0"), 20: _swar(":ddZ\0\0\0\0")}  # bytes 16 to 23, then nothing or Z
_PAIRS = 0xFFFF_00FF_FF00_FFFF  # the digits' bytes of bytes 8 to 15


def _one_month(text: np.ndarray) -> np.ndarray | None:
    """The instants of rows `YYYY-MM-DD HH:MM:SS` (`T` or a space in the middle) then nothing or
    `Z` (all of one length), all in the month of the first: its days, hours, minutes and seconds
    read as pairs of digits, 8 bytes at a time, the month's calendar once.  None when some row is
    not of that form (the layouts are then read one by one, and decide)."""
    import numpy as np

    rows, length = text.shape
    words = np.zeros((rows, 3), np.uint64)
    words.view(np.uint8).reshape(rows, 24)[:, :length] = text
    month_words, day_time, seconds = words[:, 0], words[:, 1], words[:, 2]
    head = bytes(text[0, :8])  # YYYY-MM-
    if not bool((month_words == month_words[0]).all()) or not (
        head[:4].isdigit() and head[4:5] == b"-" and head[5:7].isdigit() and head[7:8] == b"-"
    ):
        return None
    year, month = int(head[:4]), int(head[5:7])
    if not (2 <= year <= 9998 and 1 <= month <= 12):
        return None
    middle = (day_time >> np.uint64(16)) & np.uint64(0xFF)
    fits = _fits(day_time, _DAY_TIME) & _fits(seconds, _SECONDS[length])
    fits &= (middle == ord(" ")) | (middle == ord("T"))
    if not bool(fits.all()):
        return None
    # Each pair of digits (tens at the lower byte) made one number: byte i of v * 10 + (v >> 8).
    v = (day_time - np.uint64(_DAY_TIME[1])) & np.uint64(_PAIRS)
    pairs = v * np.uint64(10) + (v >> np.uint64(8))
    day, hour, minute = (((pairs >> np.uint64(s)) & np.uint64(0xFF)).astype(np.int64) for s in (0, 24, 48))
    v = seconds - np.uint64(_SECONDS[length][1])
    second = (
        ((v >> np.uint64(8)) & np.uint64(0xFF)) * np.uint64(10) + ((v >> np.uint64(16)) & np.uint64(0xFF))
    ).astype(np.int64)
    starts, leaps, before, month_days = _calendar()
    leap = bool(leaps[year])
    days = int(month_days[month]) + (leap and month == 2)
    if int(day.min()) < 1 or int(day.max()) > days or int(hour.max()) > 23 or int(minute.max()) > 59:
        return None
    if int(second.max()) > 59:
        return None
    first_day = int(starts[year]) + int(before[month]) + (leap and month > 2)
    micros: np.ndarray = ((((day + (first_day - 1)) * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000
    return micros


def _layout_mask(text: np.ndarray, fraction: int, zone: int) -> np.ndarray:
    """The rows whose bytes are of this layout (digits where digits go, each separator in place)."""
    import numpy as np

    digits = [*_DIGITS, *range(20, 19 + fraction)]
    at = 19 + fraction
    if zone >= 3:  # the offset's hours, then its minutes (`_offset`)
        digits += [at + 1, at + 2] + ([at + zone - 2, at + zone - 1] if zone >= 5 else [])
    ok = _separators(text, fraction, zone)
    for i in digits:
        ok &= (text[:, i] - np.uint8(48)) <= 9
    return ok


def _separators(text: np.ndarray, fraction: int, zone: int) -> np.ndarray:
    """The rows whose separators are those of this layout (`-`, `:`, `T` or a space, the point of
    a fraction, `Z` or the sign of an offset and its `:`)."""
    import numpy as np

    ok = np.ones(len(text), bool)
    for i, char in _FIXED:
        ok &= text[:, i] == char[0]
    ok &= (text[:, 10] == ord(" ")) | (text[:, 10] == ord("T"))
    if fraction:
        ok &= text[:, 19] == ord(".")
    at = 19 + fraction
    if zone == 1:
        ok &= text[:, at] == ord("Z")
    elif zone:
        ok &= (text[:, at] == ord("+")) | (text[:, at] == ord("-"))
        if zone == 6:
            ok &= text[:, at + 3] == ord(":")
    return ok


def _offset(text: np.ndarray, fraction: int, zone: int) -> tuple[np.ndarray, np.ndarray]:
    """The hours and minutes of an offset `+HH` (minutes 0), `+HHMM` or `+HH:MM` (`zone` 3, 5,
    6 characters) after the seconds and `fraction`, their digits already checked."""
    import numpy as np

    at = 19 + fraction
    minutes = _number(text, at + zone - 2, 2) if zone >= 5 else np.zeros(len(text), np.int32)
    return _number(text, at + 1, 2), minutes


def _number(text: np.ndarray, first: int, count: int) -> np.ndarray:
    """The number written by `count` digits from column `first` (their bytes already checked)."""
    import numpy as np

    value = text[:, first].astype(np.int32) - 48
    for i in range(first + 1, first + count):
        value = value * 10 + text[:, i] - 48
    return value


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@functools.cache
def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Days from 1970 to 1 January of years 0..9999, which are leap years, days before each month
    (of a common year) and each month's days."""
    import numpy as np

    year = np.arange(10_000, dtype=np.int64)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    starts = np.concatenate([[0], np.cumsum(365 + leap[:-1])]) - 719_528  # 1970-01-01 is day 719,528
    month_days = np.array(_MONTH_DAYS, np.int64)
    before = np.concatenate([[0], np.cumsum(month_days)[:-1]])
    return starts, leap, before, month_days


def _instant(text: np.ndarray, fraction: int, zone: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of one layout as microseconds since 1970, and those of no calendar (None: none;
    their instants are anything)."""
    import numpy as np

    starts, leaps, before, month_days = _calendar()
    year, month, day = _number(text, 0, 4), _number(text, 5, 2), _number(text, 8, 2)
    hour, minute, second = _number(text, 11, 2), _number(text, 14, 2), _number(text, 17, 2)
    ok = (year >= 2) & (year <= 9998) & (month >= 1) & (month <= 12)
    if not bool(ok.all()):  # looked up as a calendar's first month, and refused
        month = np.where(ok, month, 1)
    leap = leaps[year]
    ok &= (day >= 1) & (day <= month_days[month] + (leap & (month == 2)))
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    seconds = (starts[year] + before[month] + leap * (month > 2) + day - 1) * 86_400
    seconds += hour * 3600 + minute * 60 + second
    if zone >= 3:
        hours, minutes = _offset(text, fraction, zone)
        ok &= (hours <= 14) & (minutes <= 59)
        offset = hours * 3600 + minutes * 60
        seconds -= np.where(text[:, 19 + fraction] == ord("-"), -offset, offset)
    micros: np.ndarray = seconds * 1_000_000
    if fraction:
        micros += _number(text, 20, fraction - 1) * 10 ** (7 - fraction)
    return micros, None if bool(ok.all()) else ~ok
