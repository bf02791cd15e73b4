"""A Parquet writer whose columns of few runs are encoded here, the others by pyarrow.

pyarrow's writer spends about 4 ns a value on any column, even one that holds a single value over
a million rows (its definition levels and dictionary codes are made and run-length coded value by
value): the simulator's usage parts have eleven such columns (the line, IMSI and IMEISV change
once a device, the type, zone, APN, network, duration, downlink bytes, cause and sequence number
not at all in a month of MQTT meters), about 0.12 of a shard's 0.3 CPU-s of encoding.  Here a
column without nulls whose values change at most once every `RUN_SHARE` values is written as
Parquet's own writers do for a dictionary column (a PLAIN dictionary page, then one data page of
RLE_DICTIONARY codes, runs of the RLE / bit-packed hybrid), made from its runs: a few NumPy
passes over the codes; a column of nulls alone (the SMS columns of data records) as one data
page of its definition levels, one run of zeros.  The other columns of a batch (the session ids, times, uplink bytes,
charging ids, columns with some nulls) go through a `pyarrow.parquet.ParquetWriter` with the file's
options into memory, and their column chunks (pages with their headers) are copied as written,
their footer entries (Thrift compact protocol) with them, offsets moved.

A batch is cut into row groups as pyarrow cuts it (`ROW_GROUP_ROWS`; an empty batch makes no row
group, where pyarrow's writer makes one of no rows).  The footer is pyarrow's for the file's
schema and options (its schema, created_by, column orders), with the row groups written here; the
statistics of a column encoded here are the ones pyarrow gives the same values (min and max of
the values, null count, exact; the deprecated min and max only where the column's sort order is
signed), for the columns whose options ask for them; its pages carry their CRC-32 with
`write_page_checksum`.  Readers see the same values, types and statistics (pyarrow, DuckDB;
`tests/accounting/test_parquet_runs.py`).
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# The most rows of a row group (pyarrow's writer's default).
ROW_GROUP_ROWS = 1 << 20
# A column is encoded here when its values change at most once every RUN_SHARE values.
RUN_SHARE = 64

# pyarrow's writer gives no min and max longer than this (its `max_statistics_size`)
_MAX_STATISTICS_SIZE = 4096

# Thrift compact protocol types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
# Parquet: physical types, encodings, page types
_INT32, _INT64, _BYTE_ARRAY = 1, 2, 6
_PLAIN, _RLE, _DELTA_BYTE_ARRAY, _RLE_DICTIONARY = 0, 3, 7, 8
_UNCOMPRESSED, _ZSTD = 0, 6  # compression codecs
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_UNSIGNED = frozenset({11, 12, 13, 14})  # converted types UINT_8, UINT_16, UINT_32, UINT_64

# A Thrift struct as read here: its fields in order, (field id, compact type, value); a list's value
# is (element type, [elements]).
Field = tuple[int, int, Any]


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):  # (a list's element: one byte)
            b = self.data[self.pos]
            self.pos += 1
            return b == 1
        if kind == _BYTE:
            b = self.data[self.pos]
            self.pos += 1
            return b - 256 if b > 127 else b
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            self.pos += 8
            return self.data[self.pos - 8 : self.pos]
        if kind == _BINARY:
            n = self.varint()
            self.pos += n
            return self.data[self.pos - n : self.pos]
        if kind in (_LIST, _SET):
            head = self.data[self.pos]
            self.pos += 1
            n, element = head >> 4, head & 0x0F
            if n == 15:
                n = self.varint()
            return (element, [self.value(element) for _ in range(n)])
        if kind == _STRUCT:
            return self.struct()
        raise ValueError(f"Thrift compact type {kind} not read here")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            head = self.data[self.pos]
            self.pos += 1
            if head == 0:
                return fields
            kind, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            value = kind == _TRUE if kind in (_TRUE, _FALSE) else self.value(kind)
            fields.append((fid, kind, value))
            last = fid


def _varint(v: int, out: bytearray) -> None:
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _write_value(kind: int, value: Any, out: bytearray) -> None:
    if kind in (_TRUE, _FALSE):
        out.append(1 if value else 2)
    elif kind == _BYTE:
        out.append(value & 0xFF)
    elif kind in (_I16, _I32, _I64):
        _varint((value << 1) ^ (value >> 63), out)
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        _varint(len(value), out)
        out += value
    elif kind in (_LIST, _SET):
        element, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | element)
        else:
            out.append(0xF0 | element)
            _varint(len(items), out)
        for item in items:
            _write_value(element, item, out)
    elif kind == _STRUCT:
        _write_struct(value, out)
    else:
        raise ValueError(f"Thrift compact type {kind} not written here")


def _write_struct(fields: list[Field], out: bytearray) -> None:
    last = 0
    for fid, kind, value in fields:
        if kind in (_TRUE, _FALSE):
            kind = _TRUE if value else _FALSE
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | kind)
        else:
            out.append(kind)
            _varint((fid << 1) ^ (fid >> 63), out)
        if kind not in (_TRUE, _FALSE):
            _write_value(kind, value, out)
        last = fid
    out.append(0)


def _encode(fields: list[Field]) -> bytes:
    out = bytearray()
    _write_struct(fields, out)
    return bytes(out)


def _get(fields: list[Field], fid: int) -> Any:
    return next((v for f, _, v in fields if f == fid), None)


def _replace(fields: list[Field], changes: Mapping[int, tuple[int, Any]]) -> list[Field]:
    """`fields` with those of `changes` (field id: (type, value)) set, in field id order."""
    kept = {f: (k, v) for f, k, v in fields}
    kept.update(changes)
    return [(f, k, v) for f, (k, v) in sorted(kept.items())]


def _footer(data: pa.Buffer) -> list[Field]:
    """The footer of the Parquet file `data` (a whole file in memory)."""
    length = int.from_bytes(data[-8:-4].to_pybytes(), "little")
    return _Reader(data[-8 - length :].to_pybytes()).struct()


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(first index, length) of each run of equal values, or None when there are more runs than
    one every `RUN_SHARE` values."""
    n = len(values)
    most = max(n // RUN_SHARE, 1)
    head = values[: 64 * RUN_SHARE]  # (a column of a value a row is told by its first values)
    if len(head) < n and np.count_nonzero(head[1:] != head[:-1]) >= 64:
        return None
    changed = values[1:] != values[:-1]
    if np.count_nonzero(changed) + 1 > most:
        return None
    starts = np.concatenate(([0], np.flatnonzero(changed) + 1))
    lengths = np.diff(np.append(starts, n))
    return starts, lengths


def _hybrid_runs(codes: list[int], lengths: list[int], width: int) -> bytes:
    """The RLE / bit-packed hybrid of runs (RLE runs only), values of `width` bits."""
    out = bytearray()
    size = (width + 7) // 8
    for code, length in zip(codes, lengths, strict=True):
        _varint(length << 1, out)
        out += code.to_bytes(size, "little")
    return bytes(out)


# DELTA_BINARY_PACKED as Arrow's writer makes it for the lengths of DELTA_BYTE_ARRAY (int32: blocks of
# 4 miniblocks of 32 deltas), by NumPy passes: for the session ids handed over as numbers.
_MINIBLOCK = 32
_DELTA_BLOCK = 4 * _MINIBLOCK
_UINT64 = np.dtype("<u8")


def _uleb128(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value (uint64) as a ULEB128 varint: a row of 10 bytes each, and each one's length."""
    count = np.ones(len(values), np.int64)
    for k in range(1, 10):
        count += values >= np.uint64(1 << (7 * k))
    out = np.empty((len(values), 10), np.uint8)
    for k in range(10):
        more = np.where(k + 1 < count, 0x80, 0).astype(np.uint64)
        out[:, k] = ((values >> np.uint64(7 * k)) & np.uint64(0x7F)) | more
    return out, count


_BYTE_WIDTHS = np.array([v.bit_length() for v in range(256)], np.int64)


def _bit_widths(values: np.ndarray) -> np.ndarray:
    """The bits each value (uint64) takes, 0 for 0."""
    _, exponent = np.frexp(values.astype(np.float64))  # (rounded up at most: one bit too many)
    width = np.minimum(exponent, 64).astype(np.int64)
    over = width > 0
    over[over] = (values[over] >> (width[over] - 1).astype(np.uint64)) == 0
    width[over] -= 1
    return width


def _bit_packed(rows: np.ndarray, width: int) -> np.ndarray:
    """Each row of 32 values (unsigned, each below 2**width) bit-packed, least bit first: 4 * width
    bytes a row."""
    if width <= 8:  # (the values' bits in stream order, then packed 8 a byte)
        small = rows.astype(np.uint8)
        bits = np.empty((len(rows), _MINIBLOCK, width), np.uint8)
        for k in range(width):
            np.right_shift(small, k, out=bits[:, :, k])
        bits &= 1
        return np.packbits(bits.reshape(-1), bitorder="little").reshape(len(rows), -1)
    words = np.zeros((len(rows), _MINIBLOCK * width // 64 + 2), _UINT64)
    rows = rows.astype(_UINT64)
    for j in range(_MINIBLOCK):
        k, s = divmod(j * width, 64)
        words[:, k] |= rows[:, j] << np.uint64(s)
        if s + width > 64:
            words[:, k + 1] |= rows[:, j] >> np.uint64(64 - s)
    return words.view(np.uint8)[:, : _MINIBLOCK * width // 8]


def _delta_binary_packed(values: np.ndarray) -> bytes:
    """`values` (integers of 32 bits, at least one) as Parquet's DELTA_BINARY_PACKED, as Arrow's
    writer makes them: blocks of 4 miniblocks of 32 deltas, each block its least delta (a zigzag
    varint) and its miniblocks' widths, each miniblock its deltas less the least, bit-packed at the
    width of its largest (the last block's unused miniblocks: width 0, no bytes)."""
    n = len(values)
    # values of 0 to 127 (a text's lengths, as a rule): deltas and their distances to a block's least
    # in one byte each (a quarter of the memory to go through)
    small = values.dtype == np.int8 or (n > 1 and int(values.min()) >= 0 and int(values.max()) < 128)
    v = values.astype(np.int8 if small else np.int32, copy=False)
    head = bytearray()
    for x in (_DELTA_BLOCK, _DELTA_BLOCK // _MINIBLOCK, n):
        _varint(x, head)
    first = int(v[0])
    _varint((first << 1) ^ (first >> 63), head)
    if n == 1:
        return bytes(head)
    m = n - 1
    blocks = -(-m // _DELTA_BLOCK)
    deltas = np.empty((blocks, _DELTA_BLOCK), v.dtype)  # (wrapping, as the format's int32 deltas)
    flat = deltas.reshape(-1)
    np.subtract(v[1:], v[:-1], out=flat[:m])
    flat[m:] = flat[m - 1]  # (the last block filled out with a delta it has: its least unchanged)
    least = deltas.min(axis=1)
    deltas -= least[:, None]  # (wrapping too: each distance as an unsigned number of v's size)
    flat[m:] = 0
    mini = flat.view(np.uint8 if small else np.uint32).reshape(-1, _MINIBLOCK)
    if small:  # (a miniblock's width is its values' OR's: 32 bytes as 4 words, then their bytes)
        ored = np.bitwise_or.reduce(flat.view(_UINT64).reshape(-1, 4), axis=1)
        for shift in (32, 16, 8):
            ored |= ored >> np.uint64(shift)
        widths = _BYTE_WIDTHS[(ored & np.uint64(0xFF)).astype(np.intp)]
    else:
        widths = _bit_widths(mini.max(axis=1).astype(_UINT64))
    # the miniblocks' bytes by width, then gathered in order after each block's least delta and widths
    zigzag = (least.astype(np.int64) << 1) ^ (least.astype(np.int64) >> 63)
    varints, varint_len = _uleb128(zigzag.view(_UINT64))
    parts = [varints.reshape(-1), widths.astype(np.uint8)]
    at = varints.size + widths.size
    source = np.zeros(len(mini), np.int64)  # where each miniblock's bytes start in the parts
    for w in np.unique(widths[widths > 0]).tolist():
        which = np.flatnonzero(widths == w)
        parts.append(_bit_packed(mini[which], w).reshape(-1))
        source[which] = at + np.arange(len(which)) * (_MINIBLOCK * w // 8)
        at += len(which) * (_MINIBLOCK * w // 8)
    per = 2 + _DELTA_BLOCK // _MINIBLOCK
    starts = np.empty((blocks, per), np.int64)
    lengths = np.empty((blocks, per), np.int64)
    starts[:, 0] = np.arange(blocks) * 10
    lengths[:, 0] = varint_len
    starts[:, 1] = varints.size + np.arange(blocks) * 4
    lengths[:, 1] = 4
    starts[:, 2:] = source.reshape(blocks, -1)
    lengths[:, 2:] = (widths * (_MINIBLOCK // 8)).reshape(blocks, -1)
    return bytes(head) + _gather(np.concatenate(parts), starts.reshape(-1), lengths.reshape(-1)).tobytes()


def _gather(src: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The pieces `src[starts[i] : starts[i] + lengths[i]]`, one after another."""
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    index = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    index += np.arange(len(index))
    pieces: np.ndarray = src[index]
    return pieces


class NumberedText:
    """A text column whose values are a prefix and a non-negative number in decimal,
    `prefixes[index[i]] + str(numbers[i])` (the simulator's session ids: its line and a dash, then the
    charging id), handed over as those integers.  `RunColumnsWriter` encodes such a column as
    DELTA_BYTE_ARRAY (each value as its common prefix with the value before and the rest) from
    the numbers, without the text; `text()` makes the Arrow strings (`make_text`, once) for any
    other writer."""

    __slots__ = ("_make", "_text", "index", "numbers", "prefixes")

    def __init__(
        self,
        prefixes: Sequence[bytes],
        index: np.ndarray,
        numbers: np.ndarray,
        make_text: Callable[[], pa.Array],
    ) -> None:
        self.prefixes = prefixes
        self.index = index
        self.numbers = numbers
        self._make = make_text
        self._text: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.numbers)

    def text(self) -> pa.Array:
        if self._text is None:
            self._text = self._make()
        return self._text

    def slice(self, at: int, count: int) -> NumberedText:
        whole = self
        part = NumberedText(
            self.prefixes,
            self.index[at : at + count],
            self.numbers[at : at + count],
            lambda: whole.text().slice(at, count),
        )
        return part


def _common_prefix(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix of `a` and `b`, byte by byte (a line's name is any
    text: no path rules, as `os.path.commonpath`'s, which drop `.` and repeated `/`)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    differ = np.frombuffer(a, np.uint8, n) != np.frombuffer(b, np.uint8, n)
    return int(np.argmax(differ))


# The suffixes of numbers that follow on one by one: for x in 1 to 9999, the last digits x changed
# from x - 1 (the last one, and one more for each 0 it ends with), as its 4-digit decimal form
# ends; a value of a run of numbers one more each time takes its suffix from here, by x its
# number's last 4 digits (between multiples of 10,000).
_CYCLE = 10_000
_SUFFIXES: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _cycle_suffixes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(length of each x's suffix, where it starts in the bytes, the bytes), made once."""
    global _SUFFIXES
    if _SUFFIXES is None:
        x = np.arange(_CYCLE, dtype=np.int64)
        length = np.ones(_CYCLE, np.int64)
        for p in (10, 100, 1000):
            length += x % p == 0
        length[0] = 0  # (never taken: a multiple of 10,000 starts a piece of its own)
        end = np.cumsum(length)
        data = np.zeros(int(end[-1]), np.uint8)
        for j in range(4):
            which = length > j
            data[end[which] - 1 - j] = x[which] // 10**j % 10 + 48
        _SUFFIXES = (length.astype(np.int8), np.concatenate(([0], end)), data)
    return _SUFFIXES


def _numbered_delta_byte_array(column: NumberedText) -> bytes | None:
    """The DELTA_BYTE_ARRAY encoding (Arrow's writer's bytes) of a `NumberedText` column's values, or
    None when it is not made here: a negative number, or more than one value in `RUN_SHARE` that
    does not follow the one before (the same prefix, its number plus one).  The values that follow
    on one by one share all of the one before but the last digits their number changed: those,
    their lengths and the prefixes' lengths are slices of `_cycle_suffixes`' tables."""
    n = len(column.numbers)
    numbers = column.numbers
    if n == 0 or int(numbers.min()) < 0:
        return None
    index = column.index
    follows = (numbers[1:] - numbers[:-1] == 1) & (index[1:] == index[:-1])
    breaks = np.flatnonzero(~follows) + 1
    if len(breaks) > n // RUN_SHARE + 1:
        return None
    length, start, data = _cycle_suffixes()
    prefixes: list[np.ndarray] = []
    suffixes: list[np.ndarray] = []
    rests: list[np.ndarray] = []
    before = b""
    longest = 0

    def value(i: int) -> bytes:
        return column.prefixes[int(index[i])] + str(int(numbers[i])).encode()

    def single(i: int) -> None:
        nonlocal before, longest
        this = value(i)
        longest = max(longest, len(this))
        common = _common_prefix(before, this) if i else 0
        prefixes.append(np.array([common], np.int64))
        suffixes.append(np.array([len(this) - common], np.int64))
        rests.append(np.frombuffer(this[common:], np.uint8))
        before = this

    bounds = [0, *breaks.tolist(), n]
    for a, b in itertools.pairwise(bounds):
        first = int(numbers[a])
        at = a
        while at < b:
            # a piece: its first value worked out, then the values up to the next multiple of 10,000
            # or of 10, 100, 1000 (one digit more), each its number's last 4 digits x
            single(at)
            number = first + (at - a)
            upto = min(b, at + _CYCLE - number % _CYCLE)
            if number < 1000:
                upto = min(upto, at + next(p for p in (10, 100, 1000) if p > number) - number)
            if upto > at + 1:
                x0 = (number + 1) % _CYCLE
                x1 = x0 + (upto - at - 1)
                last = value(upto - 1)
                taken = length[x0:x1]
                suffixes.append(taken)
                prefixes.append(len(last) - taken.astype(np.int64))
                rests.append(data[start[x0] : start[x1]])
                before = last
            at = upto
    kind = np.int8 if longest < 128 else np.int64  # (lengths of one byte: `_delta_binary_packed`'s fast way)
    prefix = np.concatenate(prefixes, dtype=kind)
    suffix = np.concatenate(suffixes, dtype=kind)
    return _delta_binary_packed(prefix) + _delta_binary_packed(suffix) + np.concatenate(rests).tobytes()


# The `pyarrow.parquet.ParquetWriter` options whose effect lies within a column chunk's pages and
# footer entry (copied whole) or the footer's schema (pyarrow's): the ones this writer takes.
_CARRIED_OPTIONS = frozenset(
    {
        "compression",
        "compression_level",
        "use_dictionary",
        "column_encoding",
        "write_statistics",
        "write_batch_size",
        "data_page_size",
        "dictionary_pagesize_limit",
        "data_page_version",
        "store_schema",
        "version",
        "use_byte_stream_split",
        "write_page_checksum",
        "coerce_timestamps",
        "allow_truncated_timestamps",
    }
)


class RunColumnsWriter:
    """Writes record batches to `sink` (a file opened for writing) as one Parquet file of the
    schema and `pyarrow.parquet.ParquetWriter` options given (`store_schema=False` files: no
    stored Arrow schema); `write_batch` and `close` as pyarrow's writer."""

    def __init__(self, sink: Any, schema: pa.Schema, **options: Any) -> None:
        unknown = sorted(set(options) - _CARRIED_OPTIONS)
        if unknown:
            # (a page index, bloom filters or encryption live outside the column chunks copied here)
            raise ValueError(f"options not carried over by this writer: {', '.join(unknown)}")
        self._sink = sink
        self._schema = schema
        self._options = options
        template = pa.BufferOutputStream()
        pq.ParquetWriter(template, schema, **options).close()
        self._template = _footer(template.getvalue())
        elements = _get(self._template, 2)[1][1:]
        self._physical = [_get(e, 1) for e in elements]
        # a column whose values the Parquet schema orders unsigned (converted types UINT_8 to
        # UINT_64; a uint32 is a plain INT64 in a version 1.0 file, ordered signed)
        self._unsigned = [_get(e, 6) in _UNSIGNED for e in elements]
        if len(self._physical) != len(schema):
            raise ValueError("a flat schema only: one Parquet column a field")
        stats = options.get("write_statistics", True)
        self._stats = [stats if isinstance(stats, bool) else f.name in stats for f in schema]
        self._row_groups: list[Any] = []
        self._rows = 0
        self._pos = 0
        self._put(b"PAR1")

    def _put(self, data: bytes | memoryview) -> None:
        self._sink.write(data)
        self._pos += len(data)

    def _options_for(self, names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self._options.items():
            if isinstance(value, Mapping):
                out[key] = {k: v for k, v in value.items() if k in names}
            elif isinstance(value, list | tuple):
                out[key] = [k for k in value if k in names]
            else:
                out[key] = value
        return out

    def _page_header(
        self, page_type: int, body: bytes, header: tuple[int, list[Field]], uncompressed: int | None = None
    ) -> bytes:
        """The header of a page of `body` (as stored: `uncompressed` bytes before its compression),
        with its type's own header (field id, fields) and, with `write_page_checksum`, the CRC-32
        of `body` (readers verify it)."""
        size = len(body) if uncompressed is None else uncompressed
        fields: list[Field] = [(1, _I32, page_type), (2, _I32, size), (3, _I32, len(body))]
        if self._options.get("write_page_checksum", False):
            crc = zlib.crc32(body)
            fields.append((4, _I32, crc - (1 << 32) if crc >= 1 << 31 else crc))
        return _encode([*fields, (header[0], _STRUCT, header[1])])

    def _all_null(self, i: int, n: int) -> tuple[list[bytes], int | None, list[Field] | None]:
        """The page of a column of `n` nulls: its definition levels, one run of zeros, no values."""
        levels = bytearray()
        _varint(n << 1, levels)
        levels.append(0)
        body = struct.pack("<I", len(levels)) + levels
        header = self._page_header(
            _DATA_PAGE, body, (5, [(1, _I32, n), (2, _I32, _PLAIN), (3, _I32, _RLE), (4, _I32, _RLE)])
        )
        # (a column of Arrow's null type has no statistics in pyarrow's file, not even a null count)
        counted = self._stats[i] and not pa.types.is_null(self._schema.field(i).type)
        return [header, body], None, [(3, _I64, n)] if counted else None

    def _run_column(
        self, i: int, column: pa.Array, found: dict[tuple[int, int, int, str], tuple[np.ndarray, Any]]
    ) -> tuple[list[bytes], int | None, list[Field] | None] | None:
        """A column's pages, the size of its dictionary page (None without) and its statistics, when
        it has no nulls and few runs, or only nulls.  `found`: the runs found so far in the row
        group's columns, by the codes' buffer (the simulator hands the line, IMSI and IMEISV one
        array of codes, and the columns of one value another: their runs are found once)."""
        if len(column) == 0:
            return None
        if column.null_count == len(column) and self._schema.field(i).nullable:
            return self._all_null(i, len(column))
        if column.null_count:
            return None
        physical = self._physical[i]
        if pa.types.is_dictionary(column.type):
            if physical != _BYTE_ARRAY or column.dictionary.null_count:
                return None
            keys = column.indices.to_numpy(zero_copy_only=False)
        elif physical in (_INT32, _INT64) and pa.types.is_integer(column.type):
            keys = column.to_numpy(zero_copy_only=False)
        else:
            return None
        key = (keys.__array_interface__["data"][0], keys.strides[0], len(keys), keys.dtype.str)
        if key not in found:  # (the codes kept with their runs: their buffer's address not reused)
            found[key] = (keys, _runs(keys))
        runs = found[key][1]
        if runs is None:
            return None
        starts, lengths = runs
        run_keys = keys[starts].tolist()
        order = list(dict.fromkeys(run_keys))  # the dictionary: each value at its first run
        code_of = {k: c for c, k in enumerate(order)}
        values: list[Any]
        signed = pa.types.is_signed_integer(column.type)
        if pa.types.is_dictionary(column.type):
            dictionary = column.dictionary
            values = [dictionary[k].as_buffer().to_pybytes() for k in order]
            plain = b"".join(struct.pack("<I", len(v)) + v for v in values)
            as_stat = values
        else:
            values = order
            # (an unsigned type's values as such: past the signed range too, ordered unsigned)
            form = (
                ("<i" if physical == _INT32 else "<q") if signed else ("<I" if physical == _INT32 else "<Q")
            )
            plain = b"".join(struct.pack(form, v) for v in values)
            as_stat = [struct.pack(form, v) for v in values]
        if self._stats[i] and max(map(len, as_stat)) > _MAX_STATISTICS_SIZE:
            return None  # (pyarrow's writer gives such a column no min and max)
        width = max((len(order) - 1).bit_length(), 1)
        body = bytearray()
        if self._schema.field(i).nullable:  # definition levels: one run of ones
            levels = bytearray()
            _varint(len(column) << 1, levels)
            levels.append(1)
            body += struct.pack("<I", len(levels)) + levels
        body.append(width)
        body += _hybrid_runs([code_of[k] for k in run_keys], lengths.tolist(), width)
        dict_header = self._page_header(
            _DICTIONARY_PAGE, plain, (7, [(1, _I32, len(values)), (2, _I32, _PLAIN)])
        )
        encodings = [(1, _I32, len(column)), (2, _I32, _RLE_DICTIONARY), (3, _I32, _RLE), (4, _I32, _RLE)]
        data_header = self._page_header(_DATA_PAGE, bytes(body), (5, encodings))
        stats: list[Field] | None = None
        if self._stats[i]:
            if physical == _BYTE_ARRAY:
                low, high = min(as_stat), max(as_stat)
            else:
                low_v, high_v = min(values), max(values)
                low, high = as_stat[values.index(low_v)], as_stat[values.index(high_v)]
            stats = [(3, _I64, 0), (5, _BINARY, high), (6, _BINARY, low), (7, _TRUE, True), (8, _TRUE, True)]
            if physical != _BYTE_ARRAY and not self._unsigned[i]:
                # the deprecated min and max, in signed order: none for an unsigned column or a string
                stats = [(1, _BINARY, high), (2, _BINARY, low), *stats]
        pages = [dict_header, plain, data_header, bytes(body)]
        return pages, len(dict_header) + len(plain), stats

    def _column_option(self, key: str, name: str, default: Any) -> Any:
        value = self._options.get(key, default)
        return value.get(name, default) if isinstance(value, Mapping) else value

    def takes_numbered(self, i: int) -> bool:
        """Whether a `NumberedText` given for column `i` can be encoded here (else its text goes to
        pyarrow): a text column written DELTA_BYTE_ARRAY (`column_encoding`), uncompressed or by zstd,
        in version 1 data pages, without statistics."""
        name = self._schema.field(i).name
        return (
            self._physical[i] == _BYTE_ARRAY
            and pa.types.is_string(self._schema.field(i).type)
            and self._column_option("column_encoding", name, None) == "DELTA_BYTE_ARRAY"
            and str(self._column_option("compression", name, "snappy")).lower() in ("none", "zstd")
            and self._options.get("data_page_version", "1.0") == "1.0"
            and not self._stats[i]
        )

    def _numbered_column(self, i: int, column: NumberedText) -> tuple[list[bytes], int, int] | None:
        """The page of a `NumberedText` column (`takes_numbered`), its size before compression and
        its codec; None when `_numbered_delta_byte_array` does not make it."""
        values = _numbered_delta_byte_array(column)
        if values is None:
            return None
        body = b""
        if self._schema.field(i).nullable:  # definition levels: one run of ones
            levels = bytearray()
            _varint(len(column) << 1, levels)
            levels.append(1)
            body = struct.pack("<I", len(levels)) + levels
        body += values
        name = self._schema.field(i).name
        codec = _UNCOMPRESSED
        stored = body
        if str(self._column_option("compression", name, "none")).lower() == "zstd":
            codec = _ZSTD
            level = self._column_option("compression_level", name, None)
            stored = pa.Codec("zstd", level).compress(body, asbytes=True)
        encodings = [(1, _I32, len(column)), (2, _I32, _DELTA_BYTE_ARRAY), (3, _I32, _RLE), (4, _I32, _RLE)]
        header = self._page_header(_DATA_PAGE, stored, (5, encodings), len(body))
        return [header, stored], len(header) + len(body), codec

    def write_batch(
        self,
        batch: pa.RecordBatch,
        row_group_size: int | None = None,
        numbered: Mapping[int, NumberedText] | None = None,
    ) -> None:
        """Write `batch` as row groups of at most `row_group_size` rows (`ROW_GROUP_ROWS`), as
        pyarrow's writer cuts a batch (-1 as None; 0 or another negative size is refused, as there:
        a range of such a step would have written no rows).  `numbered`: columns (by index) whose
        values are these `NumberedText`s, not the batch's (which may be anything of their length)."""
        if not batch.schema.equals(self._schema):
            raise ValueError(f"batch schema does not match the file's:\n{batch.schema}\nnot\n{self._schema}")
        if row_group_size is not None and row_group_size != -1 and row_group_size < 1:
            raise ValueError(f"row group size must be greater than 0, not {row_group_size}")
        rows = ROW_GROUP_ROWS if row_group_size in (None, -1) else row_group_size
        numbered = numbered or {}
        for at in range(0, batch.num_rows, rows):
            part = batch.slice(at, rows)
            self._row_group(part, {i: c.slice(at, part.num_rows) for i, c in numbered.items()})

    def _row_group(self, batch: pa.RecordBatch, numbered: Mapping[int, NumberedText]) -> None:
        n = batch.num_rows
        found: dict[tuple[int, int, int, str], tuple[np.ndarray, Any]] = {}
        texts: dict[int, tuple[list[bytes], int, int]] = {}
        for i, column in numbered.items():
            encoded = self._numbered_column(i, column) if self.takes_numbered(i) else None
            if encoded is None:  # (its text, to pyarrow)
                batch = batch.set_column(i, self._schema.field(i), column.text())
            else:
                texts[i] = encoded
        own = {
            i: None if i in texts else self._run_column(i, batch.column(i), found)
            for i in range(batch.num_columns)
        }
        rest = [i for i in range(batch.num_columns) if own[i] is None and i not in texts]
        copied: dict[int, tuple[list[Field], memoryview]] = {}
        if rest:
            names = [self._schema.field(i).name for i in rest]
            sub_schema = pa.schema([self._schema.field(i) for i in rest])
            buf = pa.BufferOutputStream()
            writer = pq.ParquetWriter(buf, sub_schema, **self._options_for(names))
            writer.write_batch(
                pa.RecordBatch.from_arrays([batch.column(i) for i in rest], schema=sub_schema), n
            )
            writer.close()
            data = memoryview(buf.getvalue())
            (group,) = _get(_footer(buf.getvalue()), 4)[1]
            for i, chunk in zip(rest, _get(group, 1)[1], strict=True):
                copied[i] = (chunk, data)
        columns: list[list[Field]] = []
        start = self._pos
        total_uncompressed = total_compressed = 0
        for i in range(batch.num_columns):
            made = own[i]
            if i in texts:
                pages, uncompressed, codec = texts[i]
                at = self._pos
                for page in pages:
                    self._put(page)
                size = self._pos - at
                meta = [
                    (1, _I32, self._physical[i]),
                    (2, _LIST, (_I32, [_RLE, _DELTA_BYTE_ARRAY])),
                    (3, _LIST, (_BINARY, [self._schema.field(i).name.encode()])),
                    (4, _I32, codec),
                    (5, _I64, n),
                    (6, _I64, uncompressed),
                    (7, _I64, size),
                    (9, _I64, at),
                    (
                        13,
                        _LIST,
                        (_STRUCT, [[(1, _I32, _DATA_PAGE), (2, _I32, _DELTA_BYTE_ARRAY), (3, _I32, 1)]]),
                    ),
                ]
                chunk = [(2, _I64, 0), (3, _STRUCT, meta)]
                total_uncompressed += uncompressed
                total_compressed += size
            elif made is None:
                chunk, data = copied[i]
                meta = _get(chunk, 3)
                first = min(v for f, _, v in meta if f in (9, 10, 11))
                size = _get(meta, 7)
                shift = self._pos - first
                changes = {f: (k, v + shift) for f, k, v in meta if f in (9, 10, 11)}
                self._put(data[first : first + size])
                chunk = _replace(chunk, {3: (_STRUCT, _replace(meta, changes))})
                total_uncompressed += _get(meta, 6)
                total_compressed += size
            else:
                pages, dict_size, stats = made
                at = self._pos
                for page in pages:
                    self._put(page)
                size = self._pos - at
                if dict_size is None:  # (only nulls: a PLAIN page of definition levels)
                    encodings, offsets = [_RLE, _PLAIN], [(9, _I64, at)]
                    kinds = [[(1, _I32, _DATA_PAGE), (2, _I32, _PLAIN), (3, _I32, 1)]]
                else:
                    encodings, offsets = (
                        [_PLAIN, _RLE, _RLE_DICTIONARY],
                        [(9, _I64, at + dict_size), (11, _I64, at)],
                    )
                    kinds = [
                        [(1, _I32, _DICTIONARY_PAGE), (2, _I32, _PLAIN), (3, _I32, 1)],
                        [(1, _I32, _DATA_PAGE), (2, _I32, _RLE_DICTIONARY), (3, _I32, 1)],
                    ]
                meta = [
                    (1, _I32, self._physical[i]),
                    (2, _LIST, (_I32, encodings)),
                    (3, _LIST, (_BINARY, [self._schema.field(i).name.encode()])),
                    (4, _I32, 0),
                    (5, _I64, n),
                    (6, _I64, size),
                    (7, _I64, size),
                    *offsets,
                ]
                if stats is not None:
                    meta.append((12, _STRUCT, stats))
                meta.append((13, _LIST, (_STRUCT, kinds)))
                chunk = [(2, _I64, 0), (3, _STRUCT, meta)]
                total_uncompressed += size
                total_compressed += size
            columns.append(chunk)
        self._row_groups.append(
            [
                (1, _LIST, (_STRUCT, columns)),
                (2, _I64, total_uncompressed),
                (3, _I64, n),
                (5, _I64, start),
                (6, _I64, total_compressed),
            ]
        )
        self._rows += n

    def close(self) -> None:
        footer = _encode(
            _replace(self._template, {3: (_I64, self._rows), 4: (_LIST, (_STRUCT, self._row_groups))})
        )
        self._put(footer)
        self._put(struct.pack("<I", len(footer)) + b"PAR1")
