"""A small Parquet file's rows decoded in Python, each value as the text DuckDB casts it to.

Loading DuckDB's engine and connecting costs about 0.06 s, pyarrow more: too much for a file of a
few rows.  This reads what pyarrow and most writers put in a small flat file, and nothing else:
the footer (Thrift compact protocol), each column's pages (data pages of version 1, a dictionary
page), uncompressed or Snappy, values PLAIN or dictionary-encoded, required or optional columns.
The values come out as `CAST(value AS VARCHAR)` gives them in DuckDB with the time zone UTC (a
whole number, `true`/`false`, a timestamp `2026-03-02 10:00:00.5+00`, the text itself), None for
NULL: what `accounting.usage_small` reads.

Anything else (nested or repeated columns, other codecs or encodings, data pages of version 2,
floating point, decimals, dates, nanosecond timestamps, binary that is not text) returns None,
and the file is read by DuckDB.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

_MAGIC = b"PAR1"
# Physical types
_BOOLEAN, _INT32, _INT64, _BYTE_ARRAY = 0, 1, 2, 6
# Encodings
_PLAIN, _PLAIN_DICTIONARY, _RLE, _RLE_DICTIONARY = 0, 2, 3, 8
# Page types
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_UNCOMPRESSED, _SNAPPY = 0, 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Unread(Exception):
    """Something this reader does not read: the file goes to DuckDB."""


# --- Thrift compact protocol: a struct as {field id: value} ----------------------------------------


class _Thrift:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise _Unread("varint")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> Any:
        if kind in (1, 2):  # a bool inside a list (in a struct, the field type holds it)
            return self.byte() == 1
        if kind == 3:
            return struct.unpack_from("b", self.data, self._skip(1))[0]
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            return struct.unpack_from("<d", self.data, self._skip(8))[0]
        if kind == 8:
            n = self.varint()
            return self.data[self._skip(n) : self.pos]
        if kind in (9, 10):
            head = self.byte()
            size, inner = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return [self.value(inner) for _ in range(size)]
        if kind == 12:
            return self.struct()
        raise _Unread(f"thrift type {kind}")

    def _skip(self, n: int) -> int:
        at = self.pos
        self.pos += n
        if self.pos > len(self.data):
            raise _Unread("truncated")
        return at

    def struct(self) -> dict[int, Any]:
        out: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return out
            kind, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            out[fid] = (kind == 1) if kind in (1, 2) else self.value(kind)


# --- the pages -----------------------------------------------------------------------------------


def _snappy(data: bytes) -> bytes:
    """A Snappy block decompressed."""
    src = _Thrift(data)
    size = src.varint()
    out = bytearray()
    n = len(data)
    while src.pos < n:
        tag = src.byte()
        kind = tag & 3
        if kind == 0:  # a literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[src.pos : src.pos + extra], "little")
                src.pos += extra
            length += 1
            out += data[src.pos : src.pos + length]
            src.pos += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | src.byte()
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[src.pos : src.pos + 2], "little")
            src.pos += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[src.pos : src.pos + 4], "little")
            src.pos += 4
        if offset == 0 or offset > len(out):
            raise _Unread("snappy offset")
        start = len(out) - offset
        for i in range(length):  # a copy may overlap what it writes
            out.append(out[start + i])
    if len(out) != size:
        raise _Unread("snappy length")
    return bytes(out)


def _hybrid(data: bytes, pos: int, end: int, width: int, count: int) -> list[int]:
    """`count` values of the RLE / bit-packed hybrid encoding between pos and end."""
    out: list[int] = []
    src = _Thrift(data, pos)
    size = (width + 7) // 8
    mask = (1 << width) - 1
    while len(out) < count:
        if src.pos >= end:
            raise _Unread("levels")
        head = src.varint()
        if head & 1:  # bit-packed groups of 8
            groups = head >> 1
            nbytes = groups * width
            bits = int.from_bytes(data[src.pos : src.pos + nbytes], "little")
            src.pos += nbytes
            out += [(bits >> (i * width)) & mask for i in range(groups * 8)]
        else:
            value = int.from_bytes(data[src.pos : src.pos + size], "little")
            src.pos += size
            out += [value] * (head >> 1)
    return out[:count]


def _plain(data: bytes, pos: int, physical: int, count: int) -> list[Any]:
    if physical == _INT64:
        return list(struct.unpack_from(f"<{count}q", data, pos))
    if physical == _INT32:
        return list(struct.unpack_from(f"<{count}i", data, pos))
    if physical == _BOOLEAN:
        bits = int.from_bytes(data[pos : pos + (count + 7) // 8], "little")
        return [bool((bits >> i) & 1) for i in range(count)]
    if physical == _BYTE_ARRAY:
        out = []
        for _ in range(count):
            (n,) = struct.unpack_from("<i", data, pos)
            out.append(data[pos + 4 : pos + 4 + n])
            pos += 4 + n
        return out
    raise _Unread("physical type")


def _page(data: bytes, codec: int, size: int) -> bytes:
    if codec == _UNCOMPRESSED:
        return data
    if codec == _SNAPPY:
        page = _snappy(data)
        if len(page) != size:
            raise _Unread("page size")
        return page
    raise _Unread("codec")


def _column(data: bytes, meta: dict[int, Any], physical: int, optional: bool, rows: int) -> list[Any]:
    """A column chunk's values (None: NULL), as stored."""
    codec = meta[4]
    pos = meta.get(11) or meta[9]
    dictionary: list[Any] | None = None
    out: list[Any] = []
    while len(out) < rows:
        src = _Thrift(data, pos)
        header = src.struct()
        size = header[3]
        body = _page(data[src.pos : src.pos + size], codec, header[2])
        pos = src.pos + size
        if header[1] == _DICTIONARY_PAGE:
            d = header[7]
            if d.get(2, _PLAIN) not in (_PLAIN, _PLAIN_DICTIONARY):
                raise _Unread("dictionary encoding")
            dictionary = _plain(body, 0, physical, d[1])
            continue
        if header[1] != _DATA_PAGE:
            raise _Unread("page type")
        d = header[5]
        count, encoding = d[1], d[2]
        at = 0
        if optional:
            if d.get(3, _RLE) != _RLE:
                raise _Unread("level encoding")
            (n,) = struct.unpack_from("<i", body, 0)
            levels = _hybrid(body, 4, 4 + n, 1, count)
            at = 4 + n
        else:
            levels = [1] * count
        present = sum(levels)
        if encoding == _PLAIN:
            values = _plain(body, at, physical, present)
        elif encoding in (_PLAIN_DICTIONARY, _RLE_DICTIONARY) and dictionary is not None:
            width = body[at]
            index = _hybrid(body, at + 1, len(body), width, present) if present else []
            values = [dictionary[i] for i in index]
        else:
            raise _Unread("encoding")
        it = iter(values)
        out += [next(it) if level else None for level in levels]
    if len(out) != rows:
        raise _Unread("row count")
    return out


# --- values as DuckDB writes them ------------------------------------------------------------------


def _stamp_text(value: int, per_second: int, utc: bool) -> str:
    micros = value * (1_000_000 // per_second)
    when = _EPOCH + timedelta(microseconds=micros)
    if not 1 <= when.year <= 9999:
        raise _Unread("timestamp range")
    text = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    )
    if when.microsecond:
        text += "." + f"{when.microsecond:06d}".rstrip("0")
    return text + "+00" if utc else text


def _as_text(element: dict[int, Any]) -> Any:
    """How a column's stored values become DuckDB's text of them: a function, or raises `_Unread`."""
    physical = element.get(1)
    logical = element.get(10) or {}
    converted = element.get(6)
    if 11 in logical:  # the null type: only NULLs
        return lambda v: None
    if physical == _BYTE_ARRAY and (1 in logical or converted == 0):
        return lambda v: v.decode("utf-8")  # bad UTF-8: UnicodeDecodeError, caught by the caller
    if physical == _BOOLEAN and not logical and converted is None:
        return lambda v: "true" if v else "false"
    if physical in (_INT32, _INT64) and not logical and converted is None:
        return str
    if physical in (_INT32, _INT64) and 10 in logical and logical[10].get(2, True):
        return str  # a signed integer of any width
    if physical == _INT64 and 8 in logical:
        unit = logical[8].get(2) or {}
        per = 1_000 if 1 in unit else 1_000_000 if 2 in unit else 0
        if not per:
            raise _Unread("timestamp unit")
        utc = bool(logical[8].get(1))
        if per == 1_000 and not utc:
            raise _Unread("a local timestamp in milliseconds")  # DuckDB's TIMESTAMP_MS
        return lambda v: _stamp_text(v, per, utc)
    raise _Unread("column type")


def read_small_parquet(data: bytes, max_rows: int) -> tuple[list[str], list[tuple[str | None, ...]]] | None:
    """(column names, rows of text values) of a small flat Parquet file, or None: read it with DuckDB."""
    try:
        if len(data) < 12 or data[:4] != _MAGIC or data[-4:] != _MAGIC:
            return None
        (size,) = struct.unpack_from("<i", data, len(data) - 8)
        if not 0 < size <= len(data) - 12:
            return None
        footer = _Thrift(data, len(data) - 8 - size).struct()
        schema = footer[2]
        root, columns = schema[0], schema[1:]
        if root.get(5) != len(columns) or any(c.get(5) or c.get(3, 0) == 2 for c in columns):
            return None  # nested or repeated columns
        names = [c[4].decode("utf-8") for c in columns]
        rows = footer[3]
        if rows > max_rows:
            return None
        convert = [_as_text(c) for c in columns]
        values: list[list[Any]] = [[] for _ in columns]
        for group in footer.get(4, []):
            chunks = group[1]
            if len(chunks) != len(columns):
                return None
            for i, chunk in enumerate(chunks):
                meta = chunk[3]
                if meta[3] != [names[i].encode("utf-8")] or meta[1] != columns[i].get(1) or chunk.get(1):
                    return None
                stored = _column(data, meta, meta[1], columns[i].get(3, 0) == 1, group[3])
                values[i] += [None if v is None else convert[i](v) for v in stored]
        if any(len(v) != rows for v in values):
            return None
        return names, list(zip(*values, strict=True)) if columns else []
    except (
        _Unread,
        AttributeError,  # (a footer's field of another Thrift type than the format's)
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        struct.error,
        OverflowError,
        RecursionError,
    ):
        return None


# --- the Arrow schema a writer stored in the footer -------------------------------------------------

ARROW_SCHEMA_KEY = b"ARROW:schema"  # pyarrow's (and pandas', Polars') copy of the table's types
_ARROW_DURATION = 18  # `Type.Duration` in Arrow's Schema.fbs
_TIME_UNITS = {0: "s", 1: "ms", 2: "us", 3: "ns"}  # `TimeUnit`, MILLISECOND its default


def footer_arrow_schema(data: bytes) -> bytes | None:
    """A whole Parquet file's `ARROW:schema` footer entry (`arrow_durations`, `arrow_duckdb_numbers`);
    None when the file has none or its footer does not read."""
    try:
        if len(data) < 12 or data[-4:] != _MAGIC:
            return None
        (size,) = struct.unpack_from("<i", data, len(data) - 8)
        if not 0 < size <= len(data) - 12:
            return None
        footer = _Thrift(data, len(data) - 8 - size).struct()
        for entry in footer.get(5) or []:
            if entry.get(1) == ARROW_SCHEMA_KEY and isinstance(entry.get(2), bytes):
                return bytes(entry[2])
    except (
        _Unread,
        AttributeError,
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        struct.error,
        RecursionError,
    ):
        pass
    return None


def footer_arrow_durations(data: bytes) -> dict[str, str]:
    """`arrow_durations` of a whole Parquet file's footer; {} when it has no `ARROW:schema`."""
    schema = footer_arrow_schema(data)
    return {} if schema is None else arrow_durations(schema)


def _schema_fields(value: bytes) -> tuple[bytes, list[tuple[int, int, int]]] | None:
    """An `ARROW:schema` footer value (base64 of an IPC Schema message) decoded, and its top-level
    fields' FlatBuffer tables; None when it is not one.  Read by hand (a FlatBuffer): importing
    pyarrow costs 0.4 s."""
    import base64
    import binascii

    try:
        buf = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    # (the IPC continuation marker, then the message's length; before Arrow 0.15, the length alone)
    buf = buf[8:] if buf[:4] == b"\xff\xff\xff\xff" else buf[4:]
    message = _fb_table(buf, struct.unpack_from("<I", buf, 0)[0])
    if _fb_scalar(buf, message, 1, "<B", 0) != 1:  # header_type: Schema
        return None
    schema = _fb_ref(buf, message, 2)
    if schema is None:
        return None
    return buf, [_fb_table(buf, field) for field in _fb_vector(buf, _fb_table(buf, schema), 1)]


def _fb_string(buf: bytes, table: tuple[int, int, int], index: int) -> str | None:
    at = _fb_ref(buf, table, index)
    if at is None:
        return None
    (size,) = struct.unpack_from("<I", buf, at)
    return buf[at + 4 : at + 4 + size].decode("utf-8")


# DuckDB's integer types that Arrow has not (DuckDB's `arrow_lossless_conversion`: an `arrow.opaque`
# extension of vendor DuckDB, named by its type; `duckdb.<type>` in earlier versions), by their name there
_DUCKDB_NUMBERS = {"hugeint": "HUGEINT", "uhugeint": "UHUGEINT", "varint": "VARINT", "bignum": "BIGNUM"}


def arrow_duckdb_numbers(value: bytes) -> dict[str, str]:
    """The top-level columns an `ARROW:schema` footer value types as one of DuckDB's own integer types
    (`_DUCKDB_NUMBERS`), each with its DuckDB type; {} when it holds none or is not one.  Parquet keeps
    such a column as its bytes (a BLOB to DuckDB, pyarrow's opaque extension): only this copy of the types
    says that they are a number."""
    import json

    try:
        parsed = _schema_fields(value)
        if parsed is None:
            return {}
        buf, fields = parsed
        out: dict[str, str] = {}
        for field in fields:
            said: dict[str, str] = {}
            for pair in _fb_vector(buf, field, 6):  # custom_metadata
                entry = _fb_table(buf, pair)
                key, text = _fb_string(buf, entry, 0), _fb_string(buf, entry, 1)
                if key is not None and text is not None:
                    said[key] = text
            extension = said.get("ARROW:extension:name", "")
            if extension == "arrow.opaque":
                opaque = json.loads(said.get("ARROW:extension:metadata", "{}"))
                if not isinstance(opaque, dict) or str(opaque.get("vendor_name", "")).lower() != "duckdb":
                    continue
                type_name = str(opaque.get("type_name", ""))
            elif extension.startswith("duckdb."):
                type_name = extension.removeprefix("duckdb.")
            else:
                continue
            name = _fb_string(buf, field, 0)
            kind = _DUCKDB_NUMBERS.get(type_name.lower())
            if name is not None and kind is not None:
                out[name] = kind
        return out
    except (struct.error, UnicodeDecodeError, IndexError, RecursionError, ValueError):
        return {}


def arrow_durations(value: bytes) -> dict[str, str]:
    """The top-level columns an `ARROW:schema` footer value (base64 of an IPC Schema message) types
    as an Arrow duration, each with its unit (`s`, `ms`, `us`, `ns`); {} when it holds none or is
    not one.  Parquet has no duration type: the column is stored as a bare INT64, a count of the
    unit, which DuckDB and this module read as a number; only this copy of the types says what it
    counts."""
    try:
        parsed = _schema_fields(value)
        if parsed is None:
            return {}
        buf, fields = parsed
        out: dict[str, str] = {}
        for table in fields:
            if _fb_scalar(buf, table, 2, "<B", 0) != _ARROW_DURATION:
                continue
            name = _fb_string(buf, table, 0)
            kind = _fb_ref(buf, table, 3)
            if name is None or kind is None:
                continue
            unit = _fb_scalar(buf, _fb_table(buf, kind), 0, "<h", 1)
            out[name] = _TIME_UNITS.get(unit, str(unit))
        return out
    except (struct.error, UnicodeDecodeError, IndexError, RecursionError):
        return {}


def _fb_table(buf: bytes, at: int) -> tuple[int, int, int]:
    """A FlatBuffer table at `at`: (its position, its vtable's position, the vtable's size)."""
    (back,) = struct.unpack_from("<i", buf, at)
    vtable = at - back
    (size,) = struct.unpack_from("<H", buf, vtable)
    return at, vtable, size


def _fb_field(buf: bytes, table: tuple[int, int, int], index: int) -> int | None:
    at, vtable, size = table
    slot = 4 + 2 * index
    if slot + 2 > size:
        return None
    (offset,) = struct.unpack_from("<H", buf, vtable + slot)
    return at + offset if offset else None


def _fb_scalar(buf: bytes, table: tuple[int, int, int], index: int, form: str, default: int) -> int:
    where = _fb_field(buf, table, index)
    return default if where is None else int(struct.unpack_from(form, buf, where)[0])


def _fb_ref(buf: bytes, table: tuple[int, int, int], index: int) -> int | None:
    """The position a table's offset field points to (a table, a vector, a string), or None."""
    where = _fb_field(buf, table, index)
    return None if where is None else where + struct.unpack_from("<I", buf, where)[0]


def _fb_vector(buf: bytes, table: tuple[int, int, int], index: int) -> list[int]:
    """The positions of the tables a vector field of offsets points to."""
    at = _fb_ref(buf, table, index)
    if at is None:
        return []
    (count,) = struct.unpack_from("<I", buf, at)
    if count > len(buf) // 4:
        raise IndexError("vector length")
    items = at + 4
    return [items + 4 * i + struct.unpack_from("<I", buf, items + 4 * i)[0] for i in range(count)]
