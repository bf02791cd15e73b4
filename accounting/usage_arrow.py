"""The settled aggregate of Parquet files, read with pyarrow and summed with NumPy.

When the files' statistics and footers settle every row check (`UsageReader._scan_sql` gives a
settled scan: the simulator's files, a typed Parquet whose statistics keep its records inside
the month), the aggregate is only a grouping on four or five text keys with a few integer sums.
DuckDB hashes the four keys of every row; here the key columns are read as dictionaries, a row
group at a time, grouped in batches: each batch's
dictionary codes become codes of the whole input (one lookup per dictionary value, not per
row), the codes one integer per row, and the sums `np.bincount`s over it.

The result is the rows the settled scan's SQL gives (`_settled_scan_sql`: the counts scan and the
call scan), so that the reader turns them into `Group`s the same way.  Anything this module is not
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
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

log = logging.getLogger(__name__)

# Rows grouped at a time (slices of a row group read whole): the batch's arrays stay a few MiB.
BATCH_ROWS = 1 << 18
MAX_SPACE = 1 << 16  # (type, zone, dest, delivered) index combinations a batch's dictionaries may make
MAX_GROUP_ROWS = 1 << 22  # a row group's rows: about 40 bytes each once read (dictionary indices, integers)
MAX_CELLS = 1 << 22  # lines x combinations of the dense sums (8 bytes each, per sum)
ARROW_ROWS = 1_000_000  # fewer rows (the footers count them): DuckDB (importing pyarrow costs what it saves)
_EXACT = 1 << 53  # a float64 sum of integers is exact below this
_FITS = 1 << 63  # a sum must stay below this (BIGINT)
_SPLIT = 1 << 26  # values summed as two halves (high, low) when one float sum would not be exact
KEYS = ("line", "type", "zone", "dest")
CALL_TYPES = ("voice", "csd")


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


SettledRows = tuple[list[tuple[Any, ...]], dict[tuple[Any, ...], tuple[int, ...]]]


class _Codes:
    """The values of one key column over the whole input, each with its code (its place here)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}
        self._last: tuple[pa.Array, np.ndarray, bool] | None = None  # the last dictionary, its codes

    def code(self, value: Any) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found

    def local(
        self, column: pa.Array | pa.ChunkedArray | None, rows: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """A batch's column as indices into its own dictionary (the last entry: NULL), the code
        of each entry, and whether the codes are distinct.  None: NULL on every row."""
        import numpy as np
        import pyarrow as pa

        if column is None:
            return np.zeros(rows, np.int32), np.array([self.code(None)], np.int64), True
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(column.type):
            dictionary = column.dictionary
            indices, valid = _numbers(column.indices)
        else:  # a boolean column (delivered): its two values are the dictionary
            dictionary = pa.array([False, True])
            indices, valid = _bits(column.buffers()[1], column.offset, len(column)), _valid(column)
        if self._last is not None and self._last[0].equals(dictionary):
            codes, distinct = self._last[1:]  # the batches of a row group share its dictionary
        else:
            get = self.index.get
            values = [*dictionary.to_pylist(), None]
            found = [get(v) for v in values]
            if None in found:
                found = [self.code(v) if c is None else c for v, c in zip(values, found, strict=True)]
            codes, distinct = np.array(found, np.int64), len(set(found)) == len(found)
            self._last = (dictionary, codes, distinct)
        indices = indices.astype(np.int32, copy=False)
        if valid is not None:
            indices = np.where(valid, indices, len(dictionary))  # NULL: the entry after the dictionary's
        return indices, codes, distinct


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


class _Batch:
    """One batch's keys: each row's line index (in the batch's dictionary) and combination
    index (among the batch's (type, zone, dest, delivered) combinations) as one integer, and the
    codes of the whole input they stand for."""

    def __init__(
        self, key: np.ndarray, lines: np.ndarray, combos: np.ndarray, distinct: bool, sums: _Sums
    ) -> None:
        self.key, self.lines, self.combos, self.sums = key, lines, combos, sums
        # Distinct codes: the batch's sums are added in place; else (a dictionary holding a value
        # twice) added one by one.
        self.distinct = distinct
        self.size = len(lines) * len(combos)
        self.where: np.ndarray | None = None  # `few`: the rows of the sums that follow
        self.keys: np.ndarray | None = None  # and their keys, each present once

    def few(self, where: np.ndarray) -> None:
        """The sums that follow are of these rows only (the calls: a few in a hundred): made
        over the keys they hold, not over every (line, combination) of the batch."""
        import numpy as np

        self.keys, inverse = np.unique(self.key[where], return_inverse=True)
        self.where, self.inverse = where, inverse.reshape(-1)

    def add(self, name: str, where: np.ndarray | None = None, values: np.ndarray | None = None) -> bool:
        """Add the batch's count of rows (`where`: of those rows) or sum of non-negative integers
        (`values`, of the rows `where`); False when a sum might not be exact or fit 64 bits."""
        import numpy as np

        if self.keys is not None:  # of the rows of `few` (`where` a subset of them, as a mask)
            key, size = self.inverse if where is None else self.inverse[where], len(self.keys)
        else:
            key, size = self.key if where is None else self.key[where], self.size
        if values is None:  # a count: at most the rows, far from 2**63
            summed = np.bincount(key, minlength=size)
        else:
            top = int(values.max()) if len(values) else 0
            most = top * len(values)
            if most < _EXACT:
                summed = np.bincount(key, weights=values, minlength=size).astype(np.int64)
            elif top < _EXACT // 2 and len(values) < _SPLIT:
                high, low = np.divmod(values, _SPLIT)  # each half's sum is below 2**53: exact
                summed = np.bincount(key, weights=high, minlength=size).astype(np.int64) * _SPLIT
                summed += np.bincount(key, weights=low, minlength=size).astype(np.int64)
            else:
                return False
            self.sums.bound[name] += most
            if self.sums.bound[name] >= _FITS:
                return False
        total = self.sums.sums[name]
        if self.keys is not None:
            lines, combos = np.divmod(self.keys, len(self.combos))
            place = (self.lines[lines], self.combos[combos])
            if self.distinct:
                total[place] += summed
            else:
                np.add.at(total, place, summed)
            return True
        summed = summed.reshape(len(self.lines), len(self.combos))
        if self.distinct:
            total[np.ix_(self.lines, self.combos)] += summed
        else:
            np.add.at(total, np.ix_(self.lines, self.combos), summed)
        return True


def settled_rows(
    files: Sequence[Path],
    types: dict[str, str],
    plan: Settled,
    first_periods: Sequence[int],
    threads: bool,
) -> SettledRows | None:
    """The rows of the settled scan's two queries over `files`, or None (DuckDB is to run them).

    (the counts rows: line, type, zone, dest, delivered, False, rows, ko, rows with both byte
    counts; the call sums per key of the rows of a call type: calls, then the seconds beyond each
    first period.)  `types`: the columns' DuckDB types; `threads`: pyarrow may read columns in
    parallel (False on a one-thread connection: a worker among others).
    """
    try:
        with _system_pool():
            return _settled_rows(files, types, plan, [int(p) for p in first_periods], threads)
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
        _POOL[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL[0] -= 1
            if not _POOL[0]:
                pa.set_memory_pool(_POOL[1])


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
    files: Sequence[Path], types: dict[str, str], plan: Settled, periods: list[int], threads: bool
) -> SettledRows | None:
    import numpy as np
    import pyarrow.parquet as pq

    columns = _readable(files, types, plan)
    if columns is None:
        return None
    texts = [name for name in plan.keys if name is not None]
    codes = [_Codes() for _ in KEYS]
    deliv = _Codes()
    combos = _Codes()  # (type, zone, dest, delivered) codes
    beyond = [f"b{i}" for i in range(len(periods))]
    sums = _Sums(["n", "ko", "without_bytes", "calls", *beyond])
    for path in files:
        reader = pq.ParquetFile(path, read_dictionary=texts)
        for batch in _batches(reader, columns, threads):
            rows = batch.num_rows
            if not rows:
                continue
            indexed = [
                c.local(batch.column(name) if name is not None else None, rows)
                for c, name in zip(codes, plan.keys, strict=True)
            ]
            if isinstance(plan.delivered, str):
                indexed.append(deliv.local(batch.column(plan.delivered), rows))
            else:  # a constant, or no column: the value of every row
                indexed.append(
                    (np.zeros(rows, np.int32), np.array([deliv.code(plan.delivered)], np.int64), True)
                )
            # The batch's combinations of (type, zone, dest, delivered) indices: a small space,
            # whose entries present in the batch are given codes of the whole input.
            sizes = [len(found) for _, found, _ in indexed]
            space = sizes[1] * sizes[2] * sizes[3] * sizes[4]
            if space > MAX_SPACE:
                return None
            (line, line_codes, line_distinct), (type_, type_codes, _), (zone, zone_codes, _) = indexed[:3]
            (dest, dest_codes, _), (dv, dv_codes, _) = indexed[3:]
            local = ((type_ * sizes[2] + zone) * sizes[3] + dest) * sizes[4] + dv
            present = np.flatnonzero(np.bincount(local, minlength=space))
            global_combos = []
            for value in present.tolist():
                rest, d = divmod(value, sizes[4])
                rest, de = divmod(rest, sizes[3])
                t, z = divmod(rest, sizes[2])
                global_combos.append(
                    combos.code(
                        (int(type_codes[t]), int(zone_codes[z]), int(dest_codes[de]), int(dv_codes[d]))
                    )
                )
            if max(sizes[0], len(codes[0].values)) * len(combos.values) > MAX_CELLS:
                return None  # more lines than the dense sums should hold: DuckDB's hash table
            sums.fit(len(codes[0].values), len(combos.values))
            to_present = np.zeros(space, np.int32)
            to_present[present] = np.arange(len(present), dtype=np.int32)
            distinct = line_distinct and len(set(global_combos)) == len(global_combos)
            key = line * len(present) + to_present[local]  # below 2**31: MAX_CELLS
            part = _Batch(key, line_codes, np.array(global_combos, np.int64), distinct, sums)
            part.add("n")
            up, up_valid = _integers(batch, plan.bytes_up, rows)
            down, down_valid = _integers(batch, plan.bytes_down, rows)
            both = (
                up_valid if down_valid is None else down_valid if up_valid is None else up_valid & down_valid
            )
            ko = (up + down + 1023) >> 10  # as the SQL's // 1024 (no negative count): each record's whole ko
            if both is not None:  # some row lacks a byte count: its ko is NULL, not summed, not counted
                if not part.add("without_bytes", ~both) or not part.add("ko", both, ko[both]):
                    return None
            elif not part.add("ko", None, ko):
                return None
            calls = [i for i, code in enumerate(type_codes.tolist()) if codes[1].values[code] in CALL_TYPES]
            if calls:
                is_call = np.isin(type_, calls)
                if is_call.any():
                    where = np.flatnonzero(is_call)
                    secs = _integers(batch, plan.duration_s, rows)[0][where]  # NULL as 0: COALESCE(dur, 0)
                    part.few(where)
                    part.add("calls", secs > 0)  # dur > 0: a NULL duration is no call
                    for name, p in zip(beyond, periods, strict=True):
                        if not part.add(name, None, np.maximum(secs - p, 0)):
                            return None
    return _rows(codes, deliv, combos, sums, beyond)


def _batches(reader: pq.ParquetFile, columns: list[str], threads: bool) -> Iterator[pa.RecordBatch]:
    """The file's rows a batch at a time, read a row group at a time: `iter_batches` kept 10 MiB
    more of each row group it passed (0.4 GiB after 30 M rows, against 0.25 this way)."""
    for group in range(reader.metadata.num_row_groups):
        yield from reader.read_row_group(group, columns=columns, use_threads=threads).to_batches(BATCH_ROWS)


def _integers(batch: pa.RecordBatch, name: str | None, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A BIGINT column of the batch as int64 (NULL as 0), and where it is not NULL (None: everywhere)."""
    import numpy as np

    if name is None:
        return np.zeros(rows, np.int64), np.zeros(rows, bool)
    values, valid = _numbers(batch.column(name))
    return (values, None) if valid is None else (np.where(valid, values, 0), valid)


# An array's values and validity are taken from its buffers: pyarrow's `fill_null` and `is_valid`
# load `pyarrow.compute`, whose import costs more than the pass over a million rows.


def _numbers(array: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """A fixed-width integer array's values (anything where NULL) and where it is not NULL (None:
    everywhere)."""
    import numpy as np

    values = np.frombuffer(array.buffers()[1], dtype=array.type.to_pandas_dtype())
    return values[array.offset : array.offset + len(array)], _valid(array)


def _valid(array: pa.Array) -> np.ndarray | None:
    if not array.null_count:
        return None
    return _bits(array.buffers()[0], array.offset, len(array)).astype(bool)


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    """A bitmap's bits (Arrow's order: least significant first) from `offset`, as 0 and 1."""
    import numpy as np

    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")
    return bits[offset : offset + length]


def _rows(codes: list[_Codes], deliv: _Codes, combos: _Codes, sums: _Sums, beyond: list[str]) -> SettledRows:
    """The sums as the settled scans' rows (see `settled_rows`), one per key with a row."""
    import numpy as np

    n = sums.sums["n"]
    lines, combo = np.nonzero(n)
    keys = [
        (codes[1].values[t], codes[2].values[z], codes[3].values[d], deliv.values[v])
        for t, z, d, v in combos.values
    ]
    names = codes[0].values
    counted = n[lines, combo].tolist()
    ko = sums.sums["ko"][lines, combo].tolist()
    with_bytes = (n - sums.sums["without_bytes"])[lines, combo].tolist()
    line_list, combo_list = lines.tolist(), combo.tolist()
    out = [
        (names[li], *keys[ci], False, count, k, w)
        for li, ci, count, k, w in zip(line_list, combo_list, counted, ko, with_bytes, strict=True)
    ]
    is_call = np.array([k[0] in CALL_TYPES for k in keys] or [False])[combo]
    where = np.flatnonzero(is_call)
    call_columns = [sums.sums[name][lines[where], combo[where]].tolist() for name in ["calls", *beyond]]
    call_sums = {
        (names[line_list[i]], *keys[combo_list[i]]): sums_of
        for i, sums_of in zip(where.tolist(), zip(*call_columns, strict=True), strict=True)
    }
    return out, call_sums
