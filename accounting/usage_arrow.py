"""The settled aggregate of Parquet files, read with pyarrow and summed with NumPy.

When the files' statistics and footers settle every row check (`UsageReader._scan_sql` gives a
settled scan: the simulator's files, whose statistics keep their records inside the month; no
other writer's statistics are believed), the aggregate is only a grouping on four or five text keys with a few integer sums.
DuckDB hashes the four keys of every row; here the key columns are read as dictionaries, a row
group at a time, on two threads each reading a row group and summing it in batches: each
dictionary's values get codes of the whole input (one lookup per dictionary value, not per
row), a row's (line, combination) codes make one integer, and the sums are made over it
(`np.bincount` counts, `np.add.at` integer sums), dense tables added to the totals in batch order.

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
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
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
MAX_CELLS = 1 << 25  # lines x combinations of the sums' tables (8 bytes each, per row sum)
DENSE_CELLS = 1 << 19  # more lines x combinations: a batch's row sums added row by row (`_Part`)
ARROW_ROWS = 500_000  # fewer rows (the footers count them): DuckDB (importing pyarrow costs what it saves)
_FITS = 1 << 63  # a sum must stay below this (BIGINT)
KEYS = ("line", "type", "zone", "dest")
# The column read for the key `zone` when a file has none (`Settled.keys`): each row's zone is its
# network's (`accounting.zones.usage_zone`), read once per entry of the column's dictionary.
PLMN_COLUMN = "serving_plmn"
CALL_TYPES = ("voice", "csd")
_ROW_SUMS = ("n", "ko", "without_bytes")  # per (line, combination); the others per key of the call rows
WORKERS = 2  # threads summing batches (at most the cores)


class Settled(NamedTuple):
    """What the settled scan reads, as `_settled_scan_sql` was given it.

    keys: for line, type, zone and dest, the column read (as VARCHAR) or None (NULL on every
    row); the zone's may be `PLMN_COLUMN`, each row's zone then read from its network;
    bytes_up, bytes_down, duration_s: the BIGINT column read as it is, or None (NULL);
    delivered: the BOOLEAN column grouped on, True or False (a constant), or None (no key).
    """

    keys: tuple[str | None, ...]
    bytes_up: str | None
    bytes_down: str | None
    duration_s: str | None
    delivered: str | bool | None


def plmn_zones(dictionary: pa.Array) -> list[str | None]:
    """The zones of a `serving_plmn` dictionary's entries, as DuckDB's path reads each row's
    (`accounting.zones.usage_zone`: a refused network gives its mark and why, which the rating
    judges 'bad-plmn'): a few distinct networks a batch, whatever its rows."""
    from accounting.zones import default_table, usage_zone

    table = default_table()
    return [usage_zone(value, table) for value in dictionary.to_pylist()]


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


class Codes:
    """The values of one key column over the whole input, each with its code (its place here)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}
        self._last: tuple[pa.Array, np.ndarray] | None = None  # the last dictionary, its codes
        self._known: pa.Array | None = None  # `values` as an Arrow array, once a dictionary is coded
        self._texts: _TextIndex | None = None  # the values by their bytes' hashes, for large dictionaries

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
        codes = None
        if len(dictionary) + len(self.values) > TEXT_INDEX_VALUES:
            codes = self._text_codes(dictionary)
        if codes is None:
            codes = self._known_codes(dictionary)
        if codes is None:  # values not seen before: coded in the dictionary's order
            codes = self.of([*dictionary.to_pylist(), None])
        self._last = (dictionary, codes)
        return codes

    def _text_codes(self, dictionary: pa.Array) -> np.ndarray | None:
        """`of_dictionary` of a large fleet's lines, by `_TextIndex`: the known values found by a
        hash of their bytes and checked equal, the new ones given codes in the dictionary's
        order (as `of` gives them).  None when the index cannot say (not text, a NULL in the
        dictionary, two texts of one hash): the other ways code it."""
        import numpy as np

        if self._texts is None:
            self._texts = _TextIndex()
        texts = self._texts
        if not texts.sync(self.values):
            return None
        found = texts.find(dictionary)
        if found is None:
            return None
        codes, new = found
        if len(new):
            added = dictionary.take(new).to_pylist()
            first = len(self.values)
            self.values.extend(added)
            self.index.update(zip(added, range(first, first + len(added)), strict=True))
        null = self.index.get(None)
        if null is None:
            null = self.code(None)
        out = np.empty(len(codes) + 1, np.intp)
        out[:-1] = codes
        out[-1] = null
        return out

    def _known_codes(self, dictionary: pa.Array) -> np.ndarray | None:
        """The codes of a dictionary's entries and the NULL entry when every one has a code
        already, found by Arrow's hash lookup: the row groups of a pyarrow file each have a
        dictionary of their own, of the same values in another order, and coding 10,000 lines
        a value at a time in Python cost 2-3 ms a row group (0.3 CPU-s of 30 M rows).  None
        when some value has none (then coded by `of`, in order)."""
        import numpy as np
        import pyarrow as pa

        null = self.index.get(None)
        if null is None or len(dictionary) > 2 * len(self.values):
            return None
        try:
            if self._known is None or len(self._known) != len(self.values):
                self._known = pa.array(self.values, dictionary.type)
            at = index_in(dictionary, self._known)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None  # values of other types than the dictionary's
        if at.null_count:
            return None
        codes = np.empty(len(at) + 1, np.intp)
        codes[:-1] = at.to_numpy()
        codes[-1] = null
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


def index_in(values: pa.Array, known: pa.Array) -> pa.Array:
    """Arrow's `index_in`: each value's place in `known` (NULL where it has none), called through
    Arrow's compiled compute module.  `pyarrow.compute` makes a Python function of every one of
    Arrow's compute functions when first imported (0.03-0.04 CPU-s): the settled pass, which
    needs this one alone, imported it while coding its first row group, the other worker waiting
    for the codes.  pyarrow does not promise that module's form: where it has not these names,
    takes other arguments or answers otherwise, the public module answers (a TypeError of
    Arrow's own, values of another type than the known ones', is the caller's)."""
    import pyarrow as pa

    try:
        from pyarrow._compute import SetLookupOptions, call_function

        result = call_function("index_in", [values], SetLookupOptions(known, skip_nulls=False))
    except (ImportError, AttributeError, TypeError) as exc:
        if isinstance(exc, pa.ArrowException):
            raise
        result = None
    if not isinstance(result, pa.Array):  # (a pyarrow whose compiled module is of another form)
        import pyarrow.compute as pc

        found: pa.Array = pc.index_in(values, value_set=known)
        return found
    return result


# Dictionaries and known values past this many together are coded by `_TextIndex` (a million
# lines: each CSV chunk's dictionary of 250,000 of them took 150 ms by Python's dict, whose
# entries are met in no order, and 270 ms by Arrow's `index_in`, which hashes every known value
# again; 10,000 lines stay with `index_in`).
TEXT_INDEX_VALUES = 1 << 16
_HASH_STEP = 0x100000001B3


class _TextIndex:
    """A key column's text values by a 64-bit hash of their bytes, kept sorted with each one's
    code, grown as values come (each added once, in place by `np.insert`).  A dictionary's
    values are hashed by their 8-byte words (NumPy) and looked up in hash order by
    `np.searchsorted` (a tenth of the time of looking them up in the dictionary's order, whose
    searches meet the known hashes in no order); those found are compared with the known value
    of their code (Arrow's `equal`): a code is given only to a value equal to it, whatever the
    hashes."""

    def __init__(self) -> None:
        import numpy as np

        self.hashes = np.empty(0, np.uint64)  # sorted
        self.codes = np.empty(0, np.intp)  # each hash's value's code
        self.chunks: list[pa.Array] = []  # the values, code after code (NULL where not text)
        self.firsts: list[int] = []  # the code of each chunk's first value
        self.count = 0  # the values indexed: codes 0 to count - 1
        self.broken = False  # a value the index cannot take: it says nothing more

    def sync(self, values: list[Any]) -> bool:
        """The values given codes since (by any way) indexed; False when the index is of no use."""
        import numpy as np
        import pyarrow as pa

        if self.broken:
            return False
        if len(values) > self.count:
            try:
                added = pa.array(values[self.count :], pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                self.broken = True
                return False
            hashes = text_hashes(added)
            valid = np.flatnonzero(added.is_valid().to_numpy(zero_copy_only=False))
            order = np.argsort(hashes[valid], kind="stable")
            hashes, codes = hashes[valid][order], valid[order] + self.count
            at = np.searchsorted(self.hashes, hashes)
            self.hashes = np.insert(self.hashes, at, hashes)
            self.codes = np.insert(self.codes, at, codes)
            self.chunks.append(added)
            self.firsts.append(self.count)
            if len(self.chunks) > 16:  # (a take reads each chunk apart)
                self.chunks, self.firsts = [pa.concat_arrays(self.chunks)], [0]
            self.count = len(values)
        return True

    def _same(self, dictionary: pa.Array, entries: np.ndarray, codes: np.ndarray) -> bool:
        """Whether each of the dictionary's `entries` is the text of its code."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        chunk = np.searchsorted(np.array(self.firsts), codes, side="right") - 1
        for c, (values, first) in enumerate(zip(self.chunks, self.firsts, strict=True)):
            mine = np.flatnonzero(chunk == c) if len(self.chunks) > 1 else np.arange(len(codes))
            if len(mine):
                known = values.take(pa.array(codes[mine] - first))
                given = dictionary.take(pa.array(entries[mine])).cast(pa.string())
                if not pc.all(pc.equal(given, known)).as_py():
                    return False
        return True

    def find(self, dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
        """Each entry's code (the new values numbered on from the known ones, in the order they
        first come in the dictionary, as `Codes.of` numbers them), and the first entry of each
        new value, in order; None when the index cannot tell."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)
        if dictionary.null_count or not text:
            return None
        hashes = text_hashes(dictionary)
        order = np.argsort(hashes, kind="stable")  # the entries by hash (alike: in their order)
        ordered = hashes[order]
        codes = np.full(len(hashes), -1, np.intp)
        if len(self.hashes):
            at = np.minimum(np.searchsorted(self.hashes, ordered), len(self.hashes) - 1)
            hit = self.hashes[at] == ordered
            entries = order[hit]
            codes[entries] = self.codes[at[hit]]
            if len(entries) and not self._same(dictionary, entries, codes[entries]):
                return None  # two texts of one hash
            new = order[~hit]
            ordered = ordered[~hit]
        else:
            new = order
        if not len(new):
            return codes, new
        head = np.ones(len(new), bool)  # the first entry of each hash (the entries of one: in order)
        head[1:] = ordered[1:] != ordered[:-1]
        run = np.cumsum(head) - 1
        firsts = new[head]
        if len(firsts) < len(new):  # a value twice in the dictionary, or two texts of one hash
            again = pa.array(firsts[run])
            if not pc.all(pc.equal(dictionary.take(pa.array(new)), dictionary.take(again))).as_py():
                return None
        rank = np.empty(len(firsts), np.intp)
        rank[np.argsort(firsts)] = np.arange(len(firsts))
        codes[new] = self.count + rank[run]
        return codes, np.sort(firsts)


def text_hashes(array: pa.Array) -> np.ndarray:
    """A 64-bit hash of each text's bytes and length (a string or large string array), by its
    8-byte words, a round per word the text has (whatever the array's other texts), each round
    over the texts that long only.  NULLs hash as empty texts."""
    import numpy as np
    import pyarrow as pa

    n = len(array)
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)[
        array.offset : array.offset + n + 1
    ]
    lengths = np.diff(offsets)
    first, last = int(offsets[0]), int(offsets[-1])
    raw = np.zeros(last - first + 8, np.uint8)  # room to read a whole word past any end
    data = array.buffers()[2]
    if data is not None and last > first:
        raw[: last - first] = np.frombuffer(data, np.uint8)[first:last]
    keep = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)
    step = np.uint64(_HASH_STEP)
    hashes = lengths.astype(np.uint64)
    live = np.arange(n)  # the texts with a word at `w`: all for the first (an empty one: zero)
    at = (offsets[:-1] - first).astype(np.intp)
    left = lengths.astype(np.intp)
    w = 0
    while len(live):
        word = np.zeros(len(live), np.uint64)
        for b in range(8):  # the word's bytes, little-endian
            word |= raw[at + b].astype(np.uint64) << np.uint64(8 * b)
        word &= keep[np.minimum(left, 8)]  # the bytes past the text's end taken out
        mixed = hashes[live] * step
        mixed += word
        hashes[live] = mix64(mixed)
        w += 1
        more = np.flatnonzero(left > 8)
        live, at, left = live[more], at[more] + 8, left[more] - 8
    return hashes


class TextHashes:
    """`text_hashes` of a key column's dictionaries, each entry's and a NULL's (`null`, after
    them), the last dictionary's kept (a row group's batches share one): alike for a text
    wherever it comes, with no codes to give (the row proof hashes a line so).  An empty text
    hashes as NULL: a CSV's empty cell is either (rows alike but for them are duplicates)."""

    def __init__(self, null: int) -> None:
        import pyarrow as pa

        self.null = null
        self.empty = text_hashes(pa.array([""], pa.string()))[0]
        self._last: tuple[pa.Array, np.ndarray] | None = None

    def of_dictionary(self, dictionary: pa.Array) -> np.ndarray:
        import numpy as np

        if self._last is not None and (self._last[0] is dictionary or self._last[0].equals(dictionary)):
            return self._last[1]
        hashes = np.empty(len(dictionary) + 1, np.uint64)
        hashes[:-1] = text_hashes(dictionary)
        if dictionary.null_count:
            hashes[:-1][~dictionary.is_valid().to_numpy(zero_copy_only=False)] = self.null
        hashes[:-1][hashes[:-1] == self.empty] = self.null  # (another text of its hash: compared by DuckDB)
        hashes[-1] = self.null
        self._last = (dictionary, hashes)
        return hashes


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place (uint64 arithmetic wraps)."""
    import numpy as np

    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


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
        return np.where(_bits(*self.valid, start, stop).view(bool), indices, len(self.codes) - 1)


class _Group(NamedTuple):
    """A row group read: its keys (line, type, zone, dest, delivered), its integer columns, the
    entries of its type dictionary that are call types, the line codes given so far (its own
    among them), the code of its first line entry when its entries' codes follow on from it (None
    otherwise), and the (type, zone, dest, delivered) codes, shared by the threads under `lock`."""

    keys: list[_Key]
    integers: list[
        tuple[np.ndarray, tuple[np.ndarray, int] | None] | None
    ]  # bytes_up, bytes_down, duration_s
    calls: list[int]
    lines: int
    first_line: int | None
    combos: Codes
    lock: threading.Lock


class _Part(NamedTuple):
    """A batch's sums, made on a worker thread: per (combination code, line code) cell of a
    `width` x `lines` table (its last row empty), or for the call sums, per key the call rows
    hold (`call_keys`, in the same cell numbering).  (A batch of more cells than `DENSE_CELLS`
    (a large fleet's) gives its row sums as each row's cell and value instead (`by_row`: the
    name's cells, and its values or None for a count of one each), added in place to the
    totals: a table of every cell for each batch would cost more than its rows)."""

    lines: int
    width: int
    sums: dict[str, np.ndarray]
    most: dict[str, int]  # what each sum of values may reach
    call_keys: np.ndarray | None
    cells: np.ndarray | None = None  # each row's cell (int32), when the pass keeps them (`Cells`)
    by_row: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None


Key = tuple[str, str, str, str, str]  # an aggregate's key (`usage.group_key`)


class Cells:
    """Each row's cell of the pass's sums, kept batch by batch in row order when asked (4 bytes a
    row): a combination code times the batch's line count plus a line code, and what the codes
    stand for once the pass ends.  The rows of some aggregate keys are then found without reading
    the input again (`rows_of`)."""

    def __init__(self) -> None:
        self.batches: list[tuple[np.ndarray, int]] = []  # (each row's cell, the lines then)
        self.lines: list[Any] = []  # line code -> the line's value
        self.combos: list[tuple[Any, Any, Any, Any]] = []  # code -> (type, zone, dest, delivered)

    def rows_of(self, keys: Collection[Key], limit: int, skip: Collection[int] = ()) -> list[tuple[int, Key]]:
        """(row from 0, key) of each row whose aggregate key (`usage.group_key` of its line,
        type, zone as the aggregates normalise it, destination and `delivered`) is one of
        `keys`, in order, the rows of `skip` left out, at most `limit`."""
        import numpy as np

        from accounting.usage import group_key

        lines: dict[str, list[int]] = {}
        for code, value in enumerate(self.lines):
            lines.setdefault(str(value or ""), []).append(code)
        by_rest: dict[tuple[Any, ...], list[Key]] = {}  # the keys by all but their line
        for key in keys:
            by_rest.setdefault(key[1:], []).append(key)
        wanted = np.zeros((len(self.combos), len(self.lines)), bool)
        key_of: dict[tuple[int, int], Key] = {}
        for c, (type_, zone, dest, deliv) in enumerate(self.combos):
            for key in by_rest.get(group_key("", type_, zone or "fr", dest, deliv)[1:], ()):
                for code in lines.get(key[0], ()):
                    wanted[c, code] = True
                    key_of[c, code] = key
        found: list[tuple[int, Key]] = []
        if not key_of:
            return found
        first = 0
        known, table = -1, wanted[:, :0].ravel()  # whether each cell is wanted, per lines known
        key_at: dict[int, Key] = {}  # the key of each cell wanted, per lines known
        for cells, count in self.batches:
            if count != known:  # (a batch numbers its cells by the lines known then)
                known, table = count, wanted[:, :count].ravel()
                key_at = {combo * count + line: key for (combo, line), key in key_of.items() if line < count}
            rows = np.flatnonzero(np.take(table, cells))
            if len(rows):
                for row, cell in zip((rows + first).tolist(), cells[rows].tolist(), strict=True):
                    if row not in skip:
                        found.append((row, key_at[cell]))
                        if len(found) >= limit:
                            return found
            first += len(cells)
        return found

    def of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The cell of each of these rows (from 0, ascending) as one number: its combination code
        times 2**32 plus its line code (`rows_of`' reading of a batch's cells).  A key's '' and
        NULL are one cell here, as a CSV's empty cell is either (rows alike but for them are
        duplicates)."""
        import numpy as np

        combos = _unset_codes(self.combos) if any("" in c for c in self.combos) else None
        lines = _unset_codes(self.lines) if "" in self.lines else None
        out = np.empty(len(rows), np.int64)
        firsts = np.cumsum([0, *(len(cells) for cells, _ in self.batches)])
        if len(rows) and int(rows[-1]) >= int(firsts[-1]):
            raise ValueError("a row past the cells kept")
        batch = np.searchsorted(firsts, rows, side="right") - 1
        cut = np.flatnonzero(np.diff(batch)) + 1
        for at in np.split(np.arange(len(rows)), cut) if len(rows) else ():
            b = int(batch[at[0]])
            cells, count = self.batches[b]
            combo, line = np.divmod(cells[rows[at] - firsts[b]].astype(np.int64), count)
            if combos is not None:
                combo = combos[combo]
            if lines is not None:
                line = lines[line]
            out[at] = (combo << 32) + line
        return out


def _unset_codes(values: Sequence[Any]) -> np.ndarray:
    """Each code as the first code of its value once '' is read as NULL (in a combination, in
    each of its keys): used only when some value holds ''."""
    import numpy as np

    def unset(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(None if v == "" else v for v in value)
        return None if value == "" else value

    first: dict[Any, int] = {}
    return np.array([first.setdefault(unset(v), i) for i, v in enumerate(values)], np.int64)


class _Sums:
    """Integer sums per (combination code, line code), grown as new codes come.

    The row sums (`_ROW_SUMS`: rows, ko, rows without both byte counts) are tables of every
    combination and line; the call sums only have rows for the call types' combinations
    (`call_row`), a few of the month's combinations.  The tables are made larger than asked
    (a quarter more lines), so that the lines of a large fleet, coming row group after row
    group, do not copy them each time; `table` gives a sum's table as asked."""

    def __init__(self, names: Sequence[str]) -> None:
        import numpy as np

        self.shape = (0, 0)  # (combinations, lines) asked for
        self.lines_room = 0  # the lines the tables have room for
        self.names = list(names)
        # the rows without both byte counts' table made when a batch has some (80 MB a million lines)
        self.sums = {name: np.zeros((0, 0), np.int64) for name in ("n", "ko")}
        self.call_row: dict[int, int] = {}  # a call type's combination -> its row in the call sums
        self.calls = {name: np.zeros((0, 0), np.int64) for name in names if name not in _ROW_SUMS}
        self.bound = dict.fromkeys(names, 0)  # what each sum of values may reach: it must fit 64 bits

    def fit(self, combos: int, lines: int) -> None:
        if combos <= self.shape[0] and lines <= self.shape[1]:
            return
        if lines > self.lines_room:
            self.lines_room = max(lines, self.lines_room + self.lines_room // 4)
        self.shape = (max(combos, self.shape[0]), max(lines, self.shape[1]))
        for sums, rows in ((self.sums, self.shape[0]), (self.calls, len(self.call_row))):
            for name, old in sums.items():
                if old.shape[0] < rows or old.shape[1] < self.lines_room:
                    sums[name] = _grown(old, rows, self.lines_room)

    def _call_rows(self, combos: np.ndarray) -> np.ndarray:
        """The rows of the call sums of these combinations, new ones made."""
        import numpy as np

        # (the combination codes present, in order: `np.unique` would import `numpy.ma` for its
        # check of a masked array, 0.02 CPU-s on this thread while the workers wait for it)
        for c in np.flatnonzero(np.bincount(combos)).tolist():
            if c not in self.call_row:
                self.call_row[c] = len(self.call_row)
        for name, old in self.calls.items():
            if old.shape[0] < len(self.call_row):
                self.calls[name] = _grown(old, len(self.call_row), self.lines_room)
        rows = np.empty(self.shape[0] + 1, np.intp)
        for c, r in self.call_row.items():
            rows[c] = r
        placed: np.ndarray = rows[combos]
        return placed

    def table(self, name: str) -> np.ndarray:
        """A sum's table: every combination (a row sum) or call combination (a call sum) by
        every line."""
        import numpy as np

        if name in self.sums:
            return self.sums[name][: self.shape[0], : self.shape[1]]
        if name in _ROW_SUMS:  # none made: no batch had any
            return np.zeros(self.shape, np.int64)
        return self.calls[name][: len(self.call_row), : self.shape[1]]

    def _row_sums(self, name: str) -> np.ndarray:
        """A row sum's table, made (of zeros, as large as the others) when first summed."""
        table = self.sums.get(name)
        if table is None:
            n = self.sums["n"]
            table = self.sums[name] = _grown(n[:0, :0], n.shape[0], n.shape[1])
        return table

    def add(self, part: _Part) -> bool:
        """Add a batch's sums; False when a sum might not fit 64 bits."""
        import numpy as np

        for name, most in part.most.items():
            self.bound[name] += most
            if self.bound[name] >= _FITS:
                return False
        lines, width = part.lines, part.width
        self.fit(width - 1, lines)
        if part.by_row is not None:
            room = self.lines_room
            for name, (cells, values) in part.by_row.items():
                combo, line = np.divmod(cells, lines)
                combo *= room
                combo += line  # the cell in the tables' numbering
                table = self._row_sums(name).reshape(-1)
                np.add.at(table, combo, _ones(len(combo)) if values is None else values)
        if part.call_keys is not None:
            combo, line = np.divmod(part.call_keys, lines)  # each key once: added in place
            call_place = (self._call_rows(combo), line)
        for name, summed in part.sums.items():
            if name in _ROW_SUMS:
                self._row_sums(name)[: width - 1, :lines] += summed.reshape(width, lines)[:-1]
            else:
                self.calls[name][call_place] += summed
        return True


def _grown(old: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """A table made larger, its sums kept and the rest zero."""
    import numpy as np

    new = np.zeros((max(rows, old.shape[0]), max(columns, old.shape[1])), np.int64)
    new[: old.shape[0], : old.shape[1]] = old
    return new


_ONES: list[np.ndarray] = []


def _ones(n: int) -> np.ndarray:
    """n ones (int64), a view of an array kept for the pass (`np.add.at` adds an array of
    values six times faster than a scalar)."""
    import numpy as np

    if not _ONES or len(_ONES[0]) < n:
        _ONES[:] = [np.ones(max(n, BATCH_ROWS), np.int64)]
    return _ONES[0][:n]


def _sum(key: np.ndarray, size: int, values: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The sum of integers `values` per key below `size`, and what a sum may reach (the largest
    magnitude times the values); None when a sum might not be exact.  (A clean row's values are
    not negative; the rows of a check's doubt may be, and their sums are taken back out after.)"""
    import numpy as np

    top = max(int(values.max()), -int(values.min())) if len(values) else 0
    most = top * len(values)
    if most < _FITS:  # (beyond, the month's sums could not be added up: `_Sums.add`)
        # `np.add.at` on int64: exact, and some 40 % less CPU than `np.bincount` with integer
        # weights, which makes each one a float first
        summed = np.zeros(size, np.int64)
        np.add.at(summed, key, values.astype(np.int64, copy=False))
        return summed, most
    return None


def _batch(
    group: _Group, start: int, stop: int, beyond: list[tuple[str, int]], keep_cells: bool = False
) -> _Part | None:
    """A batch's sums (rows start to stop of the row group), and each row's cell when `keep_cells`;
    None when a sum might not be exact or the cells would be too many.  Runs on a worker thread: NumPy's loops and `bincount` let
    the other thread run."""
    import numpy as np

    keys = group.keys
    # each row's line code: its entry, plus the code of the first entry when they follow on
    line = keys[0].rows(start, stop)
    if group.first_line is None:
        line = keys[0].codes[line.astype(np.intp)]  # (an intp index: see `local` below)
    sizes = [len(k.codes) for k in keys]
    # each row's (type, zone, dest, delivered) entries as one number below `space`
    types = keys[1].rows(start, stop)  # (not changed below: `local` is copied before it is)
    local = types
    owned = False  # `local` may be a view of the column read
    for k, size in zip(keys[2:], sizes[2:], strict=True):
        if size > 1:  # one entry: every row's, nothing to add
            if owned:
                local *= size
            else:
                local, owned = local * size, True
            local += k.rows(start, stop)
    # Made intp once: NumPy casts an index of any other integer type to intp on each use, through
    # a buffered loop (a gather by 262,144 int32 indices took three times a gather by intp ones,
    # and `local` indexes twice a batch)
    local = local.astype(np.intp, copy=False)
    space = sizes[1] * sizes[2] * sizes[3] * sizes[4]
    lines = group.lines
    # The combinations present, first guessed from a sample of the rows (counting every row's
    # into a few counters is slow: each count waits for the one before); a row of another
    # combination falls in an extra column, whose rows, if any, make the batch start again
    # from every row's combination.
    for sample in (local[::SAMPLE_STEP], local):
        present = np.flatnonzero(np.bincount(sample, minlength=space))
        found = _combination_codes(group, present)
        width = len(group.combos.values) + 1  # the extra column: a combination not in the sample
        cells = lines * width
        if cells > MAX_CELLS:
            return None  # more lines than the sums' tables should hold: DuckDB's hash table
        # a row's cell: its combination's code times the lines, plus its line's code
        to_cell = np.full(space, (width - 1) * lines, np.intp)
        to_cell[present] = found
        to_cell[present] *= lines
        if group.first_line:
            to_cell += group.first_line  # the code of the line of entry 0
        key = to_cell[local]  # intp: bincount takes it without a copy
        key += line
        if cells > DENSE_CELLS:  # a large fleet: the row sums given by row (`_Part.by_row`)
            counted = None
            if int(key.max()) < (width - 1) * lines:  # no row in the extra column
                break
            continue
        counted = np.bincount(key, minlength=cells)
        if not counted[(width - 1) * lines :].any():
            break
    sums: dict[str, np.ndarray] = {}
    by_row: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None
    if counted is None:
        by_row = {"n": (key, None)}
    else:
        sums["n"] = counted
    most: dict[str, int] = {}
    up, up_valid = _integers(group.integers[0], start, stop)
    down, down_valid = _integers(group.integers[1], start, stop)
    ko = np.add(up, down)
    ko += 1023
    ko >>= 10  # as the SQL's // 1024 (no negative count): each record's whole ko
    both = up_valid if down_valid is None else down_valid if up_valid is None else up_valid & down_valid
    if both is not None:  # some row lacks a byte count: its ko is NULL, not summed, not counted
        if by_row is None:
            sums["without_bytes"] = np.bincount(key[~both], minlength=cells)
        else:
            by_row["without_bytes"] = (key[~both], None)
        ko_key, ko = key[both], ko[both]
    else:
        ko_key = key
    if by_row is None:
        summed = _sum(ko_key, cells, ko)
        if summed is None:
            return None
        sums["ko"], most["ko"] = summed
    else:  # added as integers: exact whatever their size (`most` keeps them within 64 bits)
        by_row["ko"] = (ko_key, ko)
        most["ko"] = max(int(ko.max()), -int(ko.min())) * len(ko) if len(ko) else 0
    call_keys = None
    if group.calls:
        # The call rows, told by their type's entry alone (a row's combination holds it): one
        # comparison of the 4-byte entries per call type, where a gather of each row's
        # combination (8-byte indices) took three times as long.
        is_call = types == group.calls[0]
        for entry in group.calls[1:]:
            is_call |= types == entry
        where = np.flatnonzero(is_call)
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
                sums[name], most[name] = summed
    kept = key.astype(np.int32) if keep_cells else None
    return _Part(lines, width, sums, most, call_keys, kept, by_row)


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
    cells: Cells | None = None,
) -> SettledRows | None:
    """The rows of the settled scan's two queries over `files`, or None (DuckDB is to run them).

    A `Block` per (type, zone, dest, delivered) key: for each line, the counts row (rows, ko, rows
    with both byte counts) and, for a call type, the call sums (calls, then the seconds beyond each
    first period).  `types`: the columns' DuckDB types; `threads`: the file is read and summed on
    two threads (False on a one-thread connection: a worker among others).  `check`: called on
    the calling thread with every batch read (in file order, with its own columns read too)
    before its sums are added (they are made beforehand, on the worker that read it); a
    ValueError from it gives None.  `cells`: filled with each row's cell (`Cells`).
    """
    return _guarded(
        lambda: _settled_rows(files, types, plan, [int(p) for p in first_periods], threads, check, cells)
    )


def table_rows(
    tables: Iterable[pa.Table],
    plan: Settled,
    first_periods: Sequence[int],
    threads: bool,
    check: RowCheck | None = None,
    cells: Cells | None = None,
) -> SettledRows | None:
    """`settled_rows` of Arrow tables given one at a time instead of the row groups of Parquet
    files, or None.  Each table holds the columns `plan` names as the pass reads them from
    Parquet (a key as dictionary<string>, a number as int64, `delivered` as bool), and
    `check`'s; the iterator may raise a ValueError (None: DuckDB is to run the scan).  The
    tables are taken on the calling thread, each summed by a worker while the next is taken.
    `cells`: filled with each row's cell, for the listing of rows by key."""
    return _guarded(
        lambda: _summed(
            (partial(_table_batches, t) for t in tables), plan, first_periods, threads, check, cells
        )
    )


def _table_batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    """A table's batches, its chunks' dictionaries made one (a batch's dictionaries must be the
    first batch's)."""
    return iter(table.unify_dictionaries().to_batches(BATCH_ROWS))


def _guarded(run: Callable[[], SettledRows | None]) -> SettledRows | None:
    try:
        with _pass_pool():
            return run()
    except (UnicodeDecodeError, OSError, ValueError) as exc:  # ArrowException is an OSError or ValueError
        log.debug("the settled aggregate left to DuckDB: %s", exc)
        return None


_POOL_LOCK = threading.Lock()
_POOL: list[Any] = [0, None]  # passes under way (threads of a Dask worker), the pool to restore


@contextlib.contextmanager
def _pass_pool() -> Iterator[None]:
    """pyarrow's buffers from its jemalloc pool while a pass runs (the C library's where this
    pyarrow has none).  With pyarrow's default (mimalloc) the first pass of a process cost 2-3
    times the CPU of the next (0.8-1.1 CPU-s against 0.4 for 3 M rows).  With the C library's,
    every buffer Arrow grows or shrinks (a text column's values while they are decoded, each
    column's buffer cut to its length at the end) is copied whole to a new block: Arrow's
    system allocator cannot `realloc` and keep its 64-byte alignment; jemalloc grows and shrinks
    in place.  30 M rows, one process each in turns, wall / CPU-s against the C library's: a
    pyarrow Parquet month with text starts 3.45 / 6.2 s against 3.49 / 6.26 (pyarrow's reading
    2.39 CPU-s against 2.58), with 0.1 % rejects 4.21-4.29 s against 4.48-4.62, a CSV with
    0.1 % rejects 9.54-9.59 s against 9.85 (peak 0.96 GiB against 1.32), the simulator's CSV
    7.27-7.64 s against 7.41-7.98; the other shapes 0.02-0.05 s sooner.  The default is
    process-wide: set by the first pass, restored by the last (a buffer is freed by the pool
    that made it, whichever is the default then)."""
    import pyarrow as pa

    with _POOL_LOCK:
        if not _POOL[0]:
            _POOL[1] = pa.default_memory_pool()
            pa.set_memory_pool(pass_pool())
            _kept_heap(True)
        _POOL[0] += 1
    try:
        with small_pages():
            yield
    finally:
        with _POOL_LOCK:
            _POOL[0] -= 1
            if not _POOL[0]:
                pa.set_memory_pool(_POOL[1])
                _kept_heap(False)
                _release_pass_pool()  # (what jemalloc keeps after a pass, 20-100 MB: 0.3 ms)


def pass_pool() -> pa.MemoryPool:
    """The memory pool of a pass's buffers: pyarrow's jemalloc pool, or the C library's where
    this pyarrow was built without jemalloc."""
    import pyarrow as pa

    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


def _release_pass_pool() -> None:
    """The pass pool's unused pages given back (the C library's pool's are its heap, which the
    callers trim themselves).  Under the decay every `m2msim` command sets for jemalloc
    (`m2msim.entry.arrow_keeps_freed_pages`) jemalloc gives none back: they serve the process's
    next buffers until it ends."""
    pool = pass_pool()
    if pool.backend_name != "system":
        pool.release_unused()


_PAGES: list[Any] = [0, True]  # holders of `small_pages`, NumPy's setting to restore


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """NumPy's large arrays made without asking for huge pages while a pass runs (or a row
    proof's arrays are made).  NumPy asks for them for every array of 4 MiB or more, and where
    the kernel makes them only when asked (`madvise`), it makes them at the first touch by
    compacting memory: writing a fresh array of 30 M row hashes (240 MB) took 0.47 s, against
    0.11 s in pages of 4 KiB, and a pyarrow Parquet month of 30 M rows with a typed start was
    rated 0.15-0.2 s sooner.  A pass writes its arrays once and reads them in order, where
    huge pages save little.  The setting is process-wide: set by the first holder, restored by
    the last."""
    with _POOL_LOCK:
        if not _PAGES[0]:
            _PAGES[1] = huge_pages(False)
        _PAGES[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _PAGES[0] -= 1
            if not _PAGES[0]:
                huge_pages(_PAGES[1])


def huge_pages(on: bool) -> bool:
    """Whether NumPy asks the kernel for huge pages for its large arrays, set; the setting
    before (True where this NumPy has no such setting)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
    except ImportError:
        return True
    return bool(_set_madvise_hugepage(on))


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


# Past this resident size the heap a pass keeps is given back (its free blocks, wherever they are).
KEPT_HEAP_CEILING = 5 << 28  # 1.25 GiB: under the 1.5 GiB a month may take, trimmed seldom


def _ceiling() -> None:
    """The heap kept during a pass given back when the process grows past `KEPT_HEAP_CEILING`:
    rows kept to the end of a pass (a check's rows set aside, each row's cell) leave freed blocks
    between them that the heap keeps, 0.3-0.5 GiB more at the peak of 30 M rows of a CSV with
    rejects (1.38-1.48 GiB; 1.25-1.27 with the ceiling, in the same time).  Read after each row
    group (about 20 us).  A ceiling of 1 GiB trimmed so often (a pyarrow Parquet month with text
    starts peaks at 1.2-1.3 GiB) that the page faults after cost 0.3-1 CPU-s.  (Since the pass's
    buffers come from jemalloc, the shapes of the benchmark peak at 0.9-1 GiB.)  The pass pool's
    unused pages are given back too."""
    import ctypes
    import mmap

    try:
        with open("/proc/self/statm", "rb") as f:
            resident = int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return  # no /proc: the heaps as they keep themselves
    if resident > KEPT_HEAP_CEILING:
        _release_pass_pool()
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except AttributeError:
            return  # not glibc


def _readable(
    files: Sequence[Path], types: dict[str, str], plan: Settled
) -> tuple[list[str], list[Any]] | None:
    """The columns to read and each file's footer, when every file stores the columns as this
    module reads them; else None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted: dict[str, Any] = {}
    for name in plan.keys:
        if name is not None:
            # (a line's number, or a network's, as pandas types one: read as text)
            if name in (plan.keys[0], PLMN_COLUMN) and types.get(name) in COUNT_TYPES:
                wanted[name] = count_types()
                continue
            if types.get(name) != "VARCHAR":
                return None
            wanted[name] = (pa.string(), pa.large_string(), pa.string_view())  # (read as dictionaries)
    for name in (plan.bytes_up, plan.bytes_down, plan.duration_s):
        if name is not None:
            if types.get(name) not in COUNT_TYPES | FLOAT_COUNT_TYPES:
                return None
            wanted[name] = count_types(floats=True)  # (floats only in a plan the proof vouches for)
    if isinstance(plan.delivered, str):
        if types.get(plan.delivered) != "BOOLEAN":
            return None
        wanted[plan.delivered] = (pa.bool_(),)
    first: pa.Schema | None = None
    footers = []
    for path in files:
        metadata = pq.read_metadata(path)
        footers.append(metadata)
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
        if any(metadata.row_group(g).num_rows > MAX_GROUP_ROWS for g in range(metadata.num_row_groups)):
            return None  # read a row group at a time: a larger one is left to DuckDB's streaming
    return list(wanted), footers


def _settled_rows(
    files: Sequence[Path],
    types: dict[str, str],
    plan: Settled,
    periods: list[int],
    threads: bool,
    check: RowCheck | None = None,
    cells: Cells | None = None,
) -> SettledRows | None:
    readable = _readable(files, types, plan)
    if readable is None:
        return None
    columns, footers = readable
    if check is not None:
        columns += [name for name in check.columns if name not in columns]
    keys = [name for name in plan.keys if name is not None]
    texts = [k for k in keys if types[k] == "VARCHAR"]
    groups = _RowGroups(files, footers, columns, texts, [k for k in keys if k not in texts])
    try:
        return _summed(groups.tasks(), plan, periods, threads, check, cells)
    finally:
        groups.close()


class _RowGroups:
    """The row groups of Parquet files, each read a batch at a time by whichever worker takes it,
    each worker with its own open files."""

    def __init__(
        self,
        files: Sequence[Path],
        footers: list[Any],
        columns: list[str],
        texts: list[str],
        numbered: Sequence[str] = (),
    ) -> None:
        self.files, self.footers, self.columns, self.texts = files, footers, columns, texts
        self.numbered = list(numbered)  # key columns of integers (a line's number): made text
        self.local = threading.local()
        self.sources: list[Any] = []  # every worker's open files, closed after the pass

    def tasks(self) -> Iterator[Callable[[], Iterator[pa.RecordBatch]]]:
        for f, footer in enumerate(self.footers):
            for g in range(footer.num_row_groups):
                yield partial(self.batches, f, g)

    def batches(self, f: int, g: int) -> Iterator[pa.RecordBatch]:
        """Row group `g` of file `f`, a batch at a time (a row group read whole was mapped and
        faulted in afresh: twice the page faults)."""
        import pyarrow.parquet as pq

        opened: dict[int, pq.ParquetFile] = self.local.__dict__.setdefault("files", {})
        reader = opened.get(f)
        if reader is None:
            import pyarrow as pa

            # The file opened here, its column chunks read into buffers of the pass's pool: opened
            # by pyarrow from its path, they came from Arrow's own default pool (mimalloc), which
            # gave their pages back between row groups, to be faulted in again (430 MB of 30 M
            # rows with text starts; 0.15 CPU-s in the kernel; `_pass_pool`).  pre_buffer=False: each column
            # chunk read as it is decoded (with pre_buffer, 5-10 % more CPU here).
            source = pa.OSFile(str(self.files[f]), "r", memory_pool=pa.default_memory_pool())
            with _OPEN_LOCK:
                self.sources.append(source)
            reader = opened[f] = pq.ParquetFile(
                source, metadata=self.footers[f], read_dictionary=self.texts, pre_buffer=False
            )
        batches: Iterator[pa.RecordBatch] = reader.iter_batches(
            BATCH_ROWS, row_groups=[g], columns=self.columns, use_threads=False
        )
        if self.numbered:
            return (_keys_as_text(batch, self.numbered) for batch in batches)
        return batches

    def close(self) -> None:
        """The files the workers opened, closed (once the pass is over)."""
        with _OPEN_LOCK:
            opened, self.sources = self.sources, []
        for source in opened:
            source.close()


_OPEN_LOCK = threading.Lock()


def _keys_as_text(batch: pa.RecordBatch, names: Sequence[str]) -> pa.RecordBatch:
    """The batch with these integer columns as dictionaries of the text DuckDB casts them to
    (`CAST(line AS VARCHAR)`: the digits, a minus first): each value encoded by Arrow's hash of
    integers, then only the distinct values cast (a fleet's lines written as numbers by a
    spreadsheet or pandas, which read them as integers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = list(batch.columns)
    for name in names:
        i = batch.schema.get_field_index(name)
        coded = pc.dictionary_encode(columns[i])
        columns[i] = pa.DictionaryArray.from_arrays(coded.indices, coded.dictionary.cast(pa.string()))
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _summed(
    sources: Iterable[Callable[[], Iterator[pa.RecordBatch]]],
    plan: Settled,
    first_periods: Sequence[int],
    threads: bool,
    check: RowCheck | None,
    cells: Cells | None = None,
) -> SettledRows | None:
    """The pass over `sources` (row groups, or tables), each giving its batches when called."""
    beyond = [(f"b{i}", int(p)) for i, p in enumerate(first_periods)]
    sums = _Sums(["n", "ko", "without_bytes", "calls", *(name for name, _ in beyond)])
    work = _Work(plan, beyond, keep=check is not None, cells=cells)
    workers = min(os.cpu_count() or 1, WORKERS) if threads else 1
    if workers == 1:
        for task, source in enumerate(sources):
            if not _take(work.run(task, source), sums, check, cells):
                return None
        return work.rows(sums)
    # Each worker reads a row group and sums it, the next row group going to the other: both
    # cores read (pyarrow lets go of the GIL; its own threads within one row group cost more CPU
    # than they save).  This thread checks and adds the results in row group order, a few ahead.
    pool = ThreadPoolExecutor(workers, thread_name_prefix="usage-arrow")
    pending: deque[Future[_Read | None]] = deque()
    try:
        for task, source in enumerate(sources):
            pending.append(pool.submit(work.run, task, source))
            if len(pending) > workers and not _take(pending.popleft().result(), sums, check, cells):
                return None
        while pending:
            if not _take(pending.popleft().result(), sums, check, cells):
                return None
    finally:
        work.stop()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    return work.rows(sums)


class _Read(NamedTuple):
    """A row group read and summed: its batches' sums, and the batches when a check is to see them."""

    parts: list[_Part | None]
    batches: list[pa.RecordBatch]


def _take(read: _Read | None, sums: _Sums, check: RowCheck | None, cells: Cells | None = None) -> bool:
    """Check a row group's rows (when asked) and add its batches' sums (and keep their rows'
    cells), in their order; False: DuckDB is to run the scan."""
    if read is None:
        return False
    if check is not None:
        for batch in read.batches:
            check(batch)
    for part in read.parts:
        if part is None or not sums.add(part):
            return False
        if cells is not None and part.cells is not None:
            cells.batches.append((part.cells, part.lines))
    _ceiling()
    return True


class _Work:
    """Row groups (or tables) each read and summed by `run` on whichever thread; the dictionaries
    are coded in their order (a row group waits for the one before it to be coded), so that the
    codes, and the order of the result, do not depend on the threads' timing."""

    def __init__(
        self, plan: Settled, beyond: list[tuple[str, int]], keep: bool, cells: Cells | None = None
    ) -> None:
        self.plan, self.beyond = plan, beyond
        self.keep = keep  # the batches are kept for a check
        self.cells = cells  # each row's cell kept
        self.codes = [Codes() for _ in KEYS]
        self.deliv = Codes()
        self.delivered = self.deliv.of(
            [False, True, None] if isinstance(plan.delivered, str) else [plan.delivered]
        )  # a boolean column's entries (False, True, NULL), or the value of every row
        self.combos = Codes()  # (type, zone, dest, delivered) codes
        self.lock = threading.Lock()  # the combinations' codes, given from the batches
        self.turn = threading.Condition()
        self.coded = 0  # the row groups coded so far
        self.recoded = False  # a batch's dictionaries coded out of the files' order
        self.stopped = False

    def run(self, task: int, source: Callable[[], Iterator[pa.RecordBatch]]) -> _Read | None:
        """Read row group `task` (the `task`th source) and sum its batches; None: a row group the
        pass does not take."""
        try:
            return self._run(task, source)
        finally:
            with self.turn:  # whatever happened, the next row group is not kept waiting
                # (a row group that gave no batch, an empty one, still takes its turn: done before
                # the one ahead of it was coded, it left the next waiting for ever)
                while self.coded < task and not self.stopped:
                    self.turn.wait()
                if self.coded == task:
                    self.coded = task + 1
                    self.turn.notify_all()

    def _run(self, task: int, source: Callable[[], Iterator[pa.RecordBatch]]) -> _Read | None:
        coded = None  # the row group's dictionaries, coded when its first batch is read
        parts: list[_Part | None] = []
        kept = []
        for batch in source():
            if not batch.num_rows:
                # (a table's empty chunk, `table_rows`): nothing to code, check or add; past
                # `DENSE_CELLS` its largest cell was asked of no row and the month went to DuckDB
                continue
            if coded is None:
                with self.turn:
                    while self.coded != task and not self.stopped:
                        self.turn.wait()
                    if self.stopped:
                        return None
                    coded = _code(batch, self.plan, self.codes, self.delivered)
                    self.coded = task + 1
                    self.turn.notify_all()
            try:
                group = _group(batch, self.plan, coded, self.combos, self.lock)
            except _OtherDictionaries:
                # pyarrow makes a text column's dictionary from its values where the column
                # chunk has no dictionary page (or no more room in it): each batch's holds the
                # batch before's and the values new in it.  Its codes are given now, whatever
                # the other row groups were given meanwhile (`rows` orders the lines by name).
                with self.turn:
                    coded = _code(batch, self.plan, self.codes, self.delivered)
                    self.recoded = True
                group = _group(batch, self.plan, coded, self.combos, self.lock)
            part = (
                None
                if group is None
                else _batch(group, 0, batch.num_rows, self.beyond, self.cells is not None)
            )
            parts.append(part)
            if part is None or self.stopped:
                break
            if self.keep:
                kept.append(batch)
        return _Read(parts, kept)

    def stop(self) -> None:
        """No row group is to be coded or summed any more (the pass has its answer, or none)."""
        with self.turn:
            self.stopped = True
            self.turn.notify_all()

    def rows(self, sums: _Sums) -> SettledRows:
        if self.cells is not None:  # what the codes stand for
            self.cells.lines = list(self.codes[0].values)
            self.cells.combos = [
                (
                    self.codes[1].values[t],
                    self.codes[2].values[z],
                    self.codes[3].values[d],
                    self.deliv.values[v],
                )
                for t, z, d, v in self.combos.values
            ]
        beyond = [name for name, _ in self.beyond]
        return _rows(self.codes, self.deliv, self.combos, sums, beyond, by_name=self.recoded)


class _OtherDictionaries(Exception):
    """A batch whose dictionaries are not those of the batch before it in its row group."""


class _Coded(NamedTuple):
    """A row group's key codes, given when its first batch is read: the dictionaries of its key
    columns (None: no column), each key's entry codes (line, type, zone, dest, delivered), the
    line codes given so far (its own among them), the entries of its type dictionary that are
    call types, the code of its first line entry when its entries' codes follow on from it
    (None otherwise), and whether the NULL entry's code follows them too."""

    dictionaries: list[pa.Array | None]
    codes: list[np.ndarray]
    lines: int
    calls: list[int]
    first_line: int | None
    null_follows: bool


def _code(batch: pa.RecordBatch, plan: Settled, codes: list[Codes], delivered: np.ndarray) -> _Coded:
    """The codes of a row group's dictionaries, from its first batch (the row groups one after
    the other: the codes are given in the files' order)."""
    import numpy as np

    dictionaries = [None if name is None else batch.column(name).dictionary for name in plan.keys]
    found = [
        c.of([None])
        if d is None
        else c.of([*plmn_zones(d), None])  # (the zone read from each entry's network)
        if i == 2 and plan.keys[2] == PLMN_COLUMN
        else c.of_dictionary(d)
        for i, (c, d) in enumerate(zip(codes, dictionaries, strict=True))
    ]
    type_values = codes[1].values
    calls = [i for i, code in enumerate(found[1].tolist()) if type_values[code] in CALL_TYPES]
    line = found[0]  # its entries' codes, then the NULL entry's
    used = line if plan.keys[0] is None else line[:-1]
    follow = (
        len(used) > 0 and int(used[-1]) - int(used[0]) == len(used) - 1 and bool((np.diff(used) == 1).all())
    )
    first = int(used[0]) if follow else None
    null_follows = first is not None and int(line[-1]) == first + len(line) - 1
    return _Coded(dictionaries, [*found, delivered], len(codes[0].values), calls, first, null_follows)


def _group(
    batch: pa.RecordBatch, plan: Settled, coded: _Coded, combos: Codes, lock: threading.Lock
) -> _Group | None:
    """A batch's columns as NumPy views, with the codes of its dictionaries (`coded`); None when
    its (type, zone, dest, delivered) entries make too many combinations.  `_OtherDictionaries`
    when a key column's dictionary is not the one `coded` codes."""
    import numpy as np

    keys = []
    for name, dictionary, codes in zip(plan.keys, coded.dictionaries, coded.codes, strict=False):
        if name is None:
            keys.append(_Key(None, None, codes))
            continue
        column = batch.column(name)
        if column.dictionary is not dictionary and not column.dictionary.equals(dictionary):
            raise _OtherDictionaries
        keys.append(_Key(fixed_values(column.indices), _validity(column), codes))
    if isinstance(plan.delivered, str):  # a boolean column: its two values are the dictionary
        column = batch.column(plan.delivered)
        bits = _bits(np.frombuffer(column.buffers()[1], np.uint8), column.offset, 0, len(column))
        keys.append(_Key(bits, _validity(column), coded.codes[4]))
    else:  # a constant, or no column: the value of every row
        keys.append(_Key(None, None, coded.codes[4]))
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
            column = batch.column(name)
            integers.append((wide(fixed_values(column)), _validity(column)))
    first = coded.first_line if keys[0].valid is None or coded.null_follows else None
    return _Group(keys, integers, coded.calls, coded.lines, first, combos, lock)


def integers(array: pa.Array | None, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A BIGINT array's values as int64 (NULL as 0), and where it is not NULL (None: everywhere);
    no array: `rows` NULLs."""
    return _integers(None if array is None else (wide(fixed_values(array)), _validity(array)), 0, rows)


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
    valid = _bits(*validity, start, stop).view(bool)  # 0 and 1: as booleans
    return np.where(valid, values[start:stop], 0), valid


# An array's values and validity are taken from its buffers: pyarrow's `fill_null` and `is_valid`
# load `pyarrow.compute`, whose import costs more than the pass over a million rows.


# The integer types a count (duration, octets) may have, as DuckDB names them, read as they are:
# each value exact in an int64 (Spark's IntegerType, a 32-bit column from pandas or Polars).
COUNT_TYPES = frozenset(("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"))
# Floating-point counts (pandas' integers with a missing value): read as integers only where the
# row proof vouches that DuckDB reads the same whole number (`usage_arrow_checks`).
FLOAT_COUNT_TYPES = frozenset(("DOUBLE", "FLOAT"))
# Floats from this magnitude up (or not finite) read as 0: past any bound of the checks (`MAX_OCTETS`,
# `MAX_SECONDS`), rejects the proof sets aside, and not always whole numbers of an int64.
FLOAT_LARGEST = 2.0**53


def count_types(floats: bool = False) -> tuple[pa.DataType, ...]:
    """The Arrow types of `COUNT_TYPES` (`floats`: and of `FLOAT_COUNT_TYPES`)."""
    import pyarrow as pa

    integers = (pa.int64(), pa.int32(), pa.int16(), pa.int8(), pa.uint32(), pa.uint16(), pa.uint8())
    return (*integers, pa.float64(), pa.float32()) if floats else integers


def wide(values: np.ndarray) -> np.ndarray:
    """Counts as int64: a narrower integer column's values copied (sums of them would overflow);
    a float's whole part (not finite, or from `FLOAT_LARGEST` up: 0), which the row proof sets aside
    unless it is the whole number DuckDB reads."""
    import numpy as np

    if values.dtype == np.int64:
        return values
    if values.dtype.kind == "f":
        return np.where(np.abs(values) < FLOAT_LARGEST, values, 0).astype(np.int64)
    return values.astype(np.int64)


def fixed_values(array: pa.Array) -> np.ndarray:
    """A fixed-width array's values, of its own type (anything where NULL)."""
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


def _rows(
    codes: list[Codes], deliv: Codes, combos: Codes, sums: _Sums, beyond: list[str], by_name: bool = False
) -> SettledRows:
    """The sums as the settled scans' rows (see `settled_rows`), a block per key combination.
    `by_name`: each block's lines in the order of their names (their codes were not all given in
    the files' order)."""
    import numpy as np

    n = sums.table("n")
    names = np.empty(n.shape[1], dtype=object)
    names[:] = codes[0].values[: n.shape[1]]
    rank = None
    if by_name:
        rank = np.empty(len(names), np.intp)
        rank[sorted(range(len(names)), key=lambda i: (names[i] is None, str(names[i])))] = np.arange(
            len(names)
        )
    keys = [
        (codes[1].values[t], codes[2].values[z], codes[3].values[d], deliv.values[v])
        for t, z, d, v in combos.values[: n.shape[0]]
    ]
    # The workers code the combinations as they meet them: the blocks in the keys' order, the
    # lines in their codes' (given in the files' order), whatever the threads' timing.
    out = []
    for c in sorted(range(len(keys)), key=lambda c: [(v is None, str(v)) for v in keys[c]]):
        key = keys[c]
        lines = np.flatnonzero(n[c])
        if not len(lines):
            continue
        if rank is not None:
            lines = lines[np.argsort(rank[lines], kind="stable")]
        counted = n[c, lines]
        with_bytes = counted - sums.table("without_bytes")[c, lines]
        calls = None
        if key[0] in CALL_TYPES:
            row = sums.call_row.get(c)
            columns = [
                [0] * len(lines) if row is None else sums.table(name)[row, lines].tolist()
                for name in ["calls", *beyond]
            ]
            calls = list(zip(*columns, strict=True))
        out.append(
            Block(
                key,
                names[lines].tolist(),
                counted.tolist(),
                sums.table("ko")[c, lines].tolist(),
                with_bytes.tolist(),
                calls,
            )
        )
    return out
