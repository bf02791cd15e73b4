"""The settled aggregate of Parquet files, read with pyarrow and summed with NumPy.

When the files' statistics and footers settle every row check (`UsageReader._scan_sql` gives a
settled scan: the simulator's files, a typed Parquet whose statistics keep its records inside
the month), the aggregate is only a grouping on four or five text keys with a few integer sums.
DuckDB hashes the four keys of every row; here the key columns are read as dictionaries, a row
group at a time, and summed in batches on two threads while the next row group is read: each
dictionary's values get codes of the whole input (one lookup per dictionary value, not per
row), a row's (line, combination) codes make one integer, and the sums are `np.bincount`s over
it, dense tables added to the totals in batch order.

The result is the rows the settled scan's SQL gives (`_settled_scan_sql`: the counts scan and the
call scan), a `Block` per key combination, so that the reader turns them into `Group`s the same
way.  Anything this module is not
sure of gives None, and the reader runs DuckDB instead: a column of another type than the scan
reads as it is, a key column stored without a dictionary, files whose schemas differ, text that is
not UTF-8, sums that might not be exact in a float or might not fit 64 bits.  DuckDB remains the
one judge of every reject: this path only ever sees files in which no row can be one (a data row
without both byte counts is counted as the SQL counts it, `with_bytes`, and sorted out by the
reader's second scan).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

log = logging.getLogger(__name__)

# Rows grouped at a time (slices of a row group read whole): the batch's arrays stay a few MiB.
BATCH_ROWS = 1 << 18
SAMPLE_STEP = 64  # a batch's combinations are guessed from one row in this many
MAX_SPACE = 1 << 16  # (type, zone, dest, delivered) index combinations a batch's dictionaries may make
MAX_GROUP_ROWS = 1 << 22  # a row group's rows: about 40 bytes each once read (dictionary indices, integers)
MAX_CELLS = 1 << 22  # lines x combinations of the dense sums (8 bytes each, per sum)
ARROW_ROWS = 500_000  # fewer rows (the footers count them): DuckDB (importing pyarrow costs what it saves)
_EXACT = 1 << 53  # a float64 sum of integers is exact below this
_FITS = 1 << 63  # a sum must stay below this (BIGINT)
_SPLIT = 1 << 26  # values summed as two halves (high, low) when one float sum would not be exact
KEYS = ("line", "type", "zone", "dest")
CALL_TYPES = ("voice", "csd")
_ROW_SUMS = ("n", "ko", "without_bytes")  # per (line, combination); the others per key of the call rows
WORKERS = 2  # threads summing batches (at most the cores)


class Settled(NamedTuple):
    """What the settled scan reads, as `_settled_scan_sql` was given it.

    keys: for line, type, zone and dest, the column read (as VARCHAR) or None (NULL on every
    row); bytes_up, bytes_down, duration_s: the BIGINT column read as it is, or None (NULL);
    delivered: the BOOLEAN column grouped on, True or False (a constant), or None (no key).
    """

    keys: tuple[str | None, ...]
    bytes_up: str | None
    bytes_down: str | None
    duration_s: str | None
    delivered: str | bool | None


class RowCheck(Protocol):
    """Checks of every row made as the pass reads them (a ValueError: a row fails)."""

    columns: list[str]  # read besides the pass's own

    def __call__(self, batch: pa.RecordBatch) -> None: ...


class Block(NamedTuple):
    """The settled scans' rows of one (type, zone, dest, delivered) key, as read: one entry per
    line with a row (the line as read, its rows, ko, rows with both byte counts and, for a call
    type, its call sums: calls, then the seconds beyond each first period)."""

    key: tuple[Any, Any, Any, Any]
    lines: list[Any]
    rows: list[int]
    ko: list[int]
    with_bytes: list[int]
    calls: list[tuple[int, ...]] | None  # None: not a call type


SettledRows = list[Block]


class _Codes:
    """The values of one key column over the whole input, each with its code (its place here)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}
        self._last: tuple[pa.Array, np.ndarray] | None = None  # the last dictionary, its codes

    def code(self, value: Any) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found

    def of_dictionary(self, dictionary: pa.Array) -> np.ndarray:
        """The codes of a dictionary's entries and of the NULL rows' entry after them: the row
        groups of a file often share one dictionary, coded once."""
        if self._last is not None and self._last[0].equals(dictionary):
            return self._last[1]
        codes = self.of([*dictionary.to_pylist(), None])
        self._last = (dictionary, codes)
        return codes

    def of(self, values: list[Any]) -> np.ndarray:
        """The codes of a dictionary's entries (given as values, the last one None: the entry
        of the NULL rows)."""
        import numpy as np

        get = self.index.get
        found = [get(v) for v in values]
        if None in found:
            found = [self.code(v) if c is None else c for v, c in zip(values, found, strict=True)]
        return np.array(found, np.intp)


class _Key(NamedTuple):
    """A row group's key column: each row's entry in its dictionary (the entry after the
    dictionary's: NULL, where `valid` says so), and the code of each entry."""

    indices: np.ndarray | None  # None: one entry, every row's (a constant or no column)
    valid: tuple[np.ndarray, int] | None  # the validity bitmap and its offset; None: no NULL
    codes: np.ndarray

    def rows(self, start: int, stop: int) -> np.ndarray:
        """The batch's rows' entries (as int32)."""
        import numpy as np

        if self.indices is None:
            return np.zeros(stop - start, np.int32)
        indices = self.indices[start:stop].astype(np.int32, copy=False)
        if self.valid is None:
            return indices
        return np.where(_bits(*self.valid, start, stop), indices, len(self.codes) - 1)


class _Group(NamedTuple):
    """A row group read: its keys (line, type, zone, dest, delivered), its integer columns, the
    entries of its type dictionary that are call types, the line codes given so far (its own
    among them), and the (type, zone, dest, delivered) codes, shared by the threads under `lock`."""

    keys: list[_Key]
    integers: list[
        tuple[np.ndarray, tuple[np.ndarray, int] | None] | None
    ]  # bytes_up, bytes_down, duration_s
    calls: list[int]
    lines: int
    combos: _Codes
    lock: threading.Lock


class _Part(NamedTuple):
    """A batch's sums, made on a worker thread: per (line code, combination code) cell of a
    `lines` x `width` table (its last column empty), or for the call sums, per key the call
    rows hold (`call_keys`, in the same cell numbering)."""

    lines: int
    width: int
    sums: dict[str, np.ndarray]
    most: dict[str, int]  # what each sum of values may reach
    call_keys: np.ndarray | None


class _Sums:
    """Integer sums per (line code, combination code), grown as new codes come."""

    def __init__(self, names: Sequence[str]) -> None:
        import numpy as np

        self.shape = (0, 0)
        self.sums = {name: np.zeros((0, 0), np.int64) for name in names}
        self.bound = dict.fromkeys(names, 0)  # what each sum of values may reach: it must fit 64 bits

    def fit(self, lines: int, combos: int) -> None:
        import numpy as np

        if lines <= self.shape[0] and combos <= self.shape[1]:
            return
        shape = (max(lines, self.shape[0]), max(combos, self.shape[1]))
        for name, old in self.sums.items():
            new = np.zeros(shape, np.int64)
            new[: old.shape[0], : old.shape[1]] = old
            self.sums[name] = new
        self.shape = shape

    def add(self, part: _Part) -> bool:
        """Add a batch's sums; False when a sum might not fit 64 bits."""
        import numpy as np

        for name, most in part.most.items():
            self.bound[name] += most
            if self.bound[name] >= _FITS:
                return False
        lines, width = part.lines, part.width
        self.fit(lines, width - 1)
        if part.call_keys is not None:
            call_place = np.divmod(part.call_keys, width)  # each key once: added in place
        for name, summed in part.sums.items():
            if name in _ROW_SUMS:
                self.sums[name][:lines, : width - 1] += summed.reshape(lines, width)[:, :-1]
            else:
                self.sums[name][call_place] += summed
        return True


def _sum(key: np.ndarray, size: int, values: np.ndarray | None = None) -> np.ndarray | None:
    """The count of rows (or the sum of non-negative integers `values`) per key below `size`;
    None when a sum might not be exact."""
    import numpy as np

    if values is None:  # a count: at most the rows, far from 2**63
        return np.bincount(key, minlength=size)
    top = int(values.max()) if len(values) else 0
    if top * len(values) < _EXACT:
        return np.bincount(key, weights=values, minlength=size).astype(np.int64)
    if top < _EXACT // 2 and len(values) < _SPLIT:
        high, low = np.divmod(values, _SPLIT)  # each half's sum is below 2**53: exact
        summed = np.bincount(key, weights=high, minlength=size).astype(np.int64) * _SPLIT
        summed += np.bincount(key, weights=low, minlength=size).astype(np.int64)
        return summed
    return None


def _batch(group: _Group, start: int, stop: int, beyond: list[tuple[str, int]]) -> _Part | None:
    """A batch's sums (rows start to stop of the row group); None when a sum might not be exact
    or the cells would be too many.  Runs on a worker thread: NumPy's loops and `bincount` let
    the other thread run."""
    import numpy as np

    entries, type_, zone, dest, dv = (k.rows(start, stop) for k in group.keys)
    line = group.keys[0].codes[entries]  # each row's line code (intp)
    sizes = [len(k.codes) for k in group.keys]
    local = type_
    for entries, size in ((zone, sizes[2]), (dest, sizes[3]), (dv, sizes[4])):
        if size > 1:  # one entry: every row's, nothing to add
            local = local * size + entries
    space = sizes[1] * sizes[2] * sizes[3] * sizes[4]
    # The combinations present, first guessed from a sample of the rows (counting every row's
    # into a few counters is slow: each count waits for the one before); a row of another
    # combination falls in an extra column, whose rows, if any, make the batch start again
    # from every row's combination.
    for sample in (local[::SAMPLE_STEP], local):
        present = np.flatnonzero(np.bincount(sample, minlength=space))
        found = _combination_codes(group, present)
        width = len(group.combos.values) + 1  # the extra column: a combination not in the sample
        cells = group.lines * width
        if cells > MAX_CELLS:
            return None  # more lines than the dense sums should hold: DuckDB's hash table
        to_code = np.full(space, width - 1, np.intp)
        to_code[present] = found
        combo = to_code[local]
        key = np.multiply(line, width)  # intp: bincount takes it without a copy
        key += combo
        counted = np.bincount(key, minlength=cells)
        if not counted[width - 1 :: width].any():
            break
    sums: dict[str, np.ndarray] = {"n": counted}
    most: dict[str, int] = {}
    up, up_valid = _integers(group.integers[0], start, stop)
    down, down_valid = _integers(group.integers[1], start, stop)
    ko = np.add(up, down)
    ko += 1023
    ko >>= 10  # as the SQL's // 1024 (no negative count): each record's whole ko
    both = up_valid if down_valid is None else down_valid if up_valid is None else up_valid & down_valid
    if both is not None:  # some row lacks a byte count: its ko is NULL, not summed, not counted
        sums["without_bytes"] = np.bincount(key[~both], minlength=cells)
        ko_key, ko = key[both], ko[both]
    else:
        ko_key = key
    summed = _sum(ko_key, cells, ko)
    if summed is None:
        return None
    sums["ko"], most["ko"] = summed, (int(ko.max()) if len(ko) else 0) * len(ko)
    call_keys = None
    if group.calls:
        # whether each present combination (and the extra column: none) is of a call type
        of_call = np.zeros(space, bool)
        of_call[present] = np.isin(present // (space // sizes[1]), group.calls)
        where = np.flatnonzero(of_call[local])
        if len(where):
            # NULL as 0: COALESCE(dur, 0)
            secs = _integers(group.integers[2], start, stop)[0][where]
            call_keys, inverse = np.unique(key[where], return_inverse=True)
            inverse = inverse.reshape(-1)
            sums["calls"] = np.bincount(inverse[secs > 0], minlength=len(call_keys))  # dur > 0
            for name, p in beyond:
                over = np.maximum(secs - p, 0)
                summed = _sum(inverse, len(call_keys), over)
                if summed is None:
                    return None
                sums[name], most[name] = summed, (int(over.max()) if len(over) else 0) * len(over)
    return _Part(group.lines, width, sums, most, call_keys)


def _combination_codes(group: _Group, present: np.ndarray) -> list[int]:
    """The codes of the batch's present (type, zone, dest, delivered) entry combinations."""
    type_, zone, dest, dv = (k.codes.tolist() for k in group.keys[1:])
    found = []
    with group.lock:
        for value in present.tolist():
            rest, d = divmod(value, len(dv))
            rest, de = divmod(rest, len(dest))
            t, z = divmod(rest, len(zone))
            found.append(group.combos.code((type_[t], zone[z], dest[de], dv[d])))
    return found


def settled_rows(
    files: Sequence[Path],
    types: dict[str, str],
    plan: Settled,
    first_periods: Sequence[int],
    threads: bool,
    check: RowCheck | None = None,
) -> SettledRows | None:
    """The rows of the settled scan's two queries over `files`, or None (DuckDB is to run them).

    A `Block` per (type, zone, dest, delivered) key: for each line, the counts row (rows, ko, rows
    with both byte counts) and, for a call type, the call sums (calls, then the seconds beyond each
    first period).  `types`: the columns' DuckDB types; `threads`: the file is read and summed on
    two threads (False on a one-thread connection: a worker among others).  `check`: called on
    the main thread with every batch read (in file order, with its own columns read too) before
    it is summed; a ValueError from it gives None.
    """
    return _guarded(
        lambda: _settled_rows(files, types, plan, [int(p) for p in first_periods], threads, check)
    )


def table_rows(
    tables: Iterable[pa.Table],
    plan: Settled,
    first_periods: Sequence[int],
    threads: bool,
    check: RowCheck | None = None,
) -> SettledRows | None:
    """`settled_rows` of Arrow tables given one at a time instead of the row groups of Parquet
    files (a CSV file read by pyarrow.csv, `usage_csv_arrow`), or None.  Each table holds the
    columns `plan` names as the pass reads them from Parquet (a key as dictionary<string>, a
    number as int64, `delivered` as bool), and `check`'s; the iterator may raise a ValueError
    (None: DuckDB is to run the scan).  A table is taken while the workers sum the one before."""
    return _guarded(lambda: _summed(tables, plan, [int(p) for p in first_periods], threads, check))


def _guarded(run: Callable[[], SettledRows | None]) -> SettledRows | None:
    try:
        with _system_pool():
            return run()
    except (UnicodeDecodeError, OSError, ValueError) as exc:  # ArrowException is an OSError or ValueError
        log.debug("the settled aggregate left to DuckDB: %s", exc)
        return None


_POOL_LOCK = threading.Lock()
_POOL: list[Any] = [0, None]  # passes under way (threads of a Dask worker), the pool to restore


@contextlib.contextmanager
def _system_pool() -> Iterator[None]:
    """pyarrow's buffers from the C library's allocator while a pass runs: with pyarrow's default
    (mimalloc) the first pass of a process cost 2-3 times the CPU of the next (0.8-1.1 CPU-s
    against 0.4 for 3 M rows).  The default is process-wide: set by the first pass, restored by
    the last (a buffer is freed by the pool that made it, whichever is the default then)."""
    import pyarrow as pa

    with _POOL_LOCK:
        if not _POOL[0]:
            _POOL[1] = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
            _kept_heap(True)
        _POOL[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL[0] -= 1
            if not _POOL[0]:
                pa.set_memory_pool(_POOL[1])
                _kept_heap(False)


# glibc's malloc options (malloc.h): the size from which a block is mapped on its own, and the
# free space at the top of a heap past which it is given back to the system.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for the threshold it moves itself (64-bit)
_KEPT_TOP = 512 << 20  # while a pass runs
_TRIM_AFTER = 2 * _MMAP_THRESHOLD  # what glibc's moving rule sets with that threshold


def _kept_heap(keep: bool) -> None:
    """While a pass runs, the freed blocks of one row group serve the next: with glibc's
    defaults each row group's buffers and each batch's arrays (MiB each) were mapped and
    given back, then faulted in again (180,000-230,000 page faults per 30 M rows on two
    threads against 80,000-110,000, 10-15 % of the pass's CPU).  After it, the top of the
    heap is given back again past the threshold glibc itself would set, and at once.  Nothing
    on another C library."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    if keep:
        mallopt(_M_TRIM_THRESHOLD, _KEPT_TOP)
    else:
        mallopt(_M_TRIM_THRESHOLD, _TRIM_AFTER)
        trim(0)


def _readable(files: Sequence[Path], types: dict[str, str], plan: Settled) -> list[str] | None:
    """The columns to read, when every file stores them as this module reads them; else None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted: dict[str, Any] = {}
    for name in plan.keys:
        if name is not None:
            if types.get(name) != "VARCHAR":
                return None
            wanted[name] = (pa.string(), pa.large_string())
    for name in (plan.bytes_up, plan.bytes_down, plan.duration_s):
        if name is not None:
            if types.get(name) != "BIGINT":
                return None
            wanted[name] = (pa.int64(),)
    if isinstance(plan.delivered, str):
        if types.get(plan.delivered) != "BOOLEAN":
            return None
        wanted[plan.delivered] = (pa.bool_(),)
    first: pa.Schema | None = None
    for path in files:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema().remove_metadata()
        if first is None:
            first = schema
        elif not schema.equals(first):
            return None  # files read as one by DuckDB's rules: left to it
        for name, kinds in wanted.items():
            if schema.get_field_index(name) < 0:
                return None
            kind = schema.field(name).type
            if (kind.value_type if pa.types.is_dictionary(kind) else kind) not in kinds:
                return None  # a text column written from dictionary values is read as its values
        where = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
        if any(metadata.row_group(g).num_rows > MAX_GROUP_ROWS for g in range(metadata.num_row_groups)):
            return None  # read a row group at a time: a larger one is left to DuckDB's streaming
        for name in plan.keys:
            if name is None:
                continue
            for g in range(metadata.num_row_groups):
                if not metadata.row_group(g).column(where[name]).has_dictionary_page:
                    return None  # text without a dictionary: DuckDB's hash is as fast
    return list(wanted)


def _settled_rows(
    files: Sequence[Path],
    types: dict[str, str],
    plan: Settled,
    periods: list[int],
    threads: bool,
    check: RowCheck | None = None,
) -> SettledRows | None:
    import pyarrow.parquet as pq

    columns = _readable(files, types, plan)
    if columns is None:
        return None
    if check is not None:
        columns += [name for name in check.columns if name not in columns]
    texts = [name for name in plan.keys if name is not None]

    def row_groups() -> Iterator[pa.Table]:
        for path in files:
            # pre_buffer=False: each column chunk read as it is decoded (with pre_buffer, 5-10 %
            # more CPU here)
            reader = pq.ParquetFile(path, read_dictionary=texts, pre_buffer=False)
            for g in range(reader.metadata.num_row_groups):
                yield reader.read_row_group(g, columns=columns, use_threads=threads)

    return _summed(row_groups(), plan, periods, threads, check)


def _summed(
    tables: Iterable[pa.Table], plan: Settled, periods: list[int], threads: bool, check: RowCheck | None
) -> SettledRows | None:
    """The pass over the tables (Parquet row groups, or `table_rows`' tables)."""
    codes = [_Codes() for _ in KEYS]
    deliv = _Codes()
    combos = _Codes()  # (type, zone, dest, delivered) codes
    beyond = [(f"b{i}", p) for i, p in enumerate(periods)]
    sums = _Sums(["n", "ko", "without_bytes", "calls", *(name for name, _ in beyond)])
    workers = min(os.cpu_count() or 1, WORKERS) if threads else 1
    pool = ThreadPoolExecutor(workers, thread_name_prefix="usage-arrow") if workers > 1 else None
    pending: deque[Future[_Part | None]] = deque()
    lock = threading.Lock()
    try:
        # Each table read while the workers sum the one before (pyarrow lets go of the GIL).
        for table in tables:
            group = _group(table, plan, codes, deliv, combos, lock)
            if group is None or not _merge(pending, sums):
                return None
            rows = table.num_rows
            if check is not None:
                for batch in table.to_batches(BATCH_ROWS):
                    check(batch)
            for start in range(0, rows, BATCH_ROWS):
                task = (group, start, min(start + BATCH_ROWS, rows), beyond)
                pending.append(pool.submit(_batch, *task) if pool else _done(_batch(*task)))
        if not _merge(pending, sums):
            return None
    finally:
        if pool is not None:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
    return _rows(codes, deliv, combos, sums, [name for name, _ in beyond])


def _done(part: _Part | None) -> Future[_Part | None]:
    """A batch summed on this thread, as a finished task."""
    future: Future[_Part | None] = Future()
    future.set_result(part)
    return future


def _group(
    table: pa.Table, plan: Settled, codes: list[_Codes], deliv: _Codes, combos: _Codes, lock: threading.Lock
) -> _Group | None:
    """A row group's columns as NumPy views and its dictionaries' codes; None when its
    (type, zone, dest, delivered) entries make too many combinations."""
    import numpy as np

    keys = []
    for c, name in zip(codes, plan.keys, strict=True):
        if name is None:
            keys.append(_Key(None, None, c.of([None])))
            continue
        column = _chunk(table.column(name))
        keys.append(_Key(_numbers(column.indices), _validity(column), c.of_dictionary(column.dictionary)))
    if isinstance(plan.delivered, str):  # a boolean column: its two values are the dictionary
        column = _chunk(table.column(plan.delivered))
        bits = _bits(np.frombuffer(column.buffers()[1], np.uint8), column.offset, 0, len(column))
        keys.append(_Key(bits, _validity(column), deliv.of([False, True, None])))
    else:  # a constant, or no column: the value of every row
        keys.append(_Key(None, None, deliv.of([plan.delivered])))
    space = 1
    for key in keys[1:]:
        space *= len(key.codes)
    if space > MAX_SPACE:
        return None
    integers: list[tuple[np.ndarray, tuple[np.ndarray, int] | None] | None] = []
    for name in (plan.bytes_up, plan.bytes_down, plan.duration_s):
        if name is None:
            integers.append(None)
        else:
            column = _chunk(table.column(name))
            integers.append((_numbers(column), _validity(column)))
    type_values = codes[1].values
    calls = [i for i, code in enumerate(keys[1].codes.tolist()) if type_values[code] in CALL_TYPES]
    return _Group(keys, integers, calls, len(codes[0].values), combos, lock)


def _chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _merge(pending: deque[Future[_Part | None]], sums: _Sums) -> bool:
    """Add the sums of the batches summed so far, in their order; False: DuckDB is to run the scan."""
    while pending:
        part = pending.popleft().result()
        if part is None or not sums.add(part):
            return False
    return True


def integers(array: pa.Array | None, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A BIGINT array's values as int64 (NULL as 0), and where it is not NULL (None: everywhere);
    no array: `rows` NULLs."""
    return _integers(None if array is None else (_numbers(array), _validity(array)), 0, rows)


def _integers(
    column: tuple[np.ndarray, tuple[np.ndarray, int] | None] | None, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """A BIGINT column's rows start to stop as int64 (NULL as 0), and where it is not NULL (None:
    everywhere)."""
    import numpy as np

    if column is None:
        return np.zeros(stop - start, np.int64), np.zeros(stop - start, bool)
    values, validity = column
    if validity is None:
        return values[start:stop], None
    valid = _bits(*validity, start, stop).astype(bool)
    return np.where(valid, values[start:stop], 0), valid


# An array's values and validity are taken from its buffers: pyarrow's `fill_null` and `is_valid`
# load `pyarrow.compute`, whose import costs more than the pass over a million rows.


def _numbers(array: pa.Array) -> np.ndarray:
    """A fixed-width integer array's values (anything where NULL)."""
    import numpy as np

    values = np.frombuffer(array.buffers()[1], dtype=array.type.to_pandas_dtype())
    return values[array.offset : array.offset + len(array)]


def _validity(array: pa.Array) -> tuple[np.ndarray, int] | None:
    """An array's validity bitmap and its offset; None when no value is NULL."""
    import numpy as np

    if not array.null_count:
        return None
    return np.frombuffer(array.buffers()[0], np.uint8), array.offset


def _bits(bitmap: np.ndarray, offset: int, start: int, stop: int) -> np.ndarray:
    """A bitmap's bits start to stop (Arrow's order: least significant first, from `offset`), as 0 and 1."""
    import numpy as np

    first = offset + start
    bits = np.unpackbits(bitmap[first >> 3 : (offset + stop + 7) >> 3], bitorder="little")
    return bits[first & 7 : (first & 7) + stop - start]


def _rows(codes: list[_Codes], deliv: _Codes, combos: _Codes, sums: _Sums, beyond: list[str]) -> SettledRows:
    """The sums as the settled scans' rows (see `settled_rows`), a block per key combination."""
    import numpy as np

    n = sums.sums["n"]
    names = np.empty(n.shape[0], dtype=object)
    names[:] = codes[0].values
    out = []
    for c, (t, z, d, v) in enumerate(combos.values):
        key = (codes[1].values[t], codes[2].values[z], codes[3].values[d], deliv.values[v])
        lines = np.flatnonzero(n[:, c])
        if not len(lines):
            continue
        counted = n[lines, c]
        with_bytes = counted - sums.sums["without_bytes"][lines, c]
        calls = None
        if key[0] in CALL_TYPES:
            columns = [sums.sums[name][lines, c].tolist() for name in ["calls", *beyond]]
            calls = list(zip(*columns, strict=True))
        out.append(
            Block(
                key,
                names[lines].tolist(),
                counted.tolist(),
                sums.sums["ko"][lines, c].tolist(),
                with_bytes.tolist(),
                calls,
            )
        )
    return out
