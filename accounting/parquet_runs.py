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

import struct
import zlib
from collections.abc import Mapping
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
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
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

    def _page_header(self, page_type: int, body: bytes, header: tuple[int, list[Field]]) -> bytes:
        """The header of a page of `body` (uncompressed), with its type's own header (field id,
        fields) and, with `write_page_checksum`, the CRC-32 of `body` (readers verify it)."""
        fields: list[Field] = [(1, _I32, page_type), (2, _I32, len(body)), (3, _I32, len(body))]
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

    def write_batch(self, batch: pa.RecordBatch, row_group_size: int | None = None) -> None:
        """Write `batch` as row groups of at most `row_group_size` rows (`ROW_GROUP_ROWS`), as
        pyarrow's writer cuts a batch (-1 as None; 0 or another negative size is refused, as there:
        a range of such a step would have written no rows)."""
        if not batch.schema.equals(self._schema):
            raise ValueError(f"batch schema does not match the file's:\n{batch.schema}\nnot\n{self._schema}")
        if row_group_size is not None and row_group_size != -1 and row_group_size < 1:
            raise ValueError(f"row group size must be greater than 0, not {row_group_size}")
        rows = ROW_GROUP_ROWS if row_group_size in (None, -1) else row_group_size
        for at in range(0, batch.num_rows, rows):
            self._row_group(batch.slice(at, rows))

    def _row_group(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        found: dict[tuple[int, int, int, str], tuple[np.ndarray, Any]] = {}
        own = {i: self._run_column(i, batch.column(i), found) for i in range(batch.num_columns)}
        rest = [i for i in range(batch.num_columns) if own[i] is None]
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
            if made is None:
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
