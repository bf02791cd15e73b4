"""A small, plain usage CSV rated without DuckDB: the same rows, rules, rejects and sums.

Starting DuckDB (its engine loaded, a connection made, a few queries planned) costs about 0.1 s,
a third of `m2msim rate` on a one-row file.  A CSV file of at most `MAX_BYTES` written plainly
(printable ASCII without spaces or double quotes, `\\n` line ends, no empty line, every row with
the header's number of fields: what m2msim and most programs write) is read here instead, in
Python, by the rules of `accounting.usage.UsageReader`, which this module follows check for check:

- a row's reject code is the first check it fails, in the order of the reader's SQL (`_scan_sql`
  for the aggregates, `_normalised` for the listing), with DuckDB's NULL logic (an empty field is
  NULL; a test on NULL is not taken);
- a value is read as DuckDB reads it (`TRY_CAST` to a timestamp with time zone in UTC, to DOUBLE,
  to BOOLEAN; a count as a whole DOUBLE) only in the forms whose reading is certain: any other
  form of a value (`1e3`, `+5`, `2026-03-02`, `yes`, ...) makes the whole file go to DuckDB;
- a duplicate is a row of the same values, compared as the reader's search compares them
  (`UsageReader._compared`: a start as its instant, a count as its number, `delivered` as its
  boolean, the other fields as their texts);
- a reject's reason is the text the reader's SQL writes.

Anything outside that (a BOM, CRLF, quotes, a damaged row, non-ASCII text, a folder, Parquet, a
larger file) is read by DuckDB as before: `small_csv_reader` returns None.
tests/accounting/test_usage_small.py rates generated files both ways and compares the outputs.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from accounting.activation import EarlyLines, micros
from accounting.db import duckdb
from accounting.parquet_small import (
    arrow_duckdb_numbers,
    arrow_durations,
    footer_arrow_schema,
    read_small_parquet,
)
from accounting.starts import leap_second
from accounting.usage import (
    _CALL_TYPES,
    _EXACT_DOUBLE,
    _TYPES,
    FOOTER_KEY,
    LINE_TYPES,
    MAX_OCTETS,
    MAX_OCTETS_PER_S,
    MAX_RECORD_S,
    MAX_SECONDS,
    NUMBER_COLUMNS,
    PAST_MONTH_END_S,
    REQUIRED,
    ROW_REASONS,
    FileState,
    Group,
    RejectedKey,
    UsageReader,
    UsageSource,
    _judge,
    _misspelt_column,
    _sql_safe,
    duration_refused,
    file_state,
    group_key,
    kind_refused,
)
from accounting.zones import usage_zone

MAX_BYTES = 256 << 10  # a few thousand rows: read in a few ms
MAX_PARQUET_BYTES = 64 << 10
MAX_PARQUET_ROWS = 5_000
# Parquet column types whose values DuckDB writes as text that reads back as the rating reads the
# value (a whole number, a timestamp, true/false; a column of NULLs); a DOUBLE, a DECIMAL, a list
# ... make the file go to the reader.
_PARQUET_TYPES = frozenset(
    (
        "VARCHAR",
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP",
        "BOOLEAN",
        '"NULL"',
    )
)

_CHECKED = ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered")

# Bytes a plain file holds: printable ASCII but the space and the double quote, and `\n`.
_PLAIN = bytes([10, 0x21, *range(0x23, 0x7F)])
# The forms of a value whose reading by DuckDB is certain.
# (A timestamp as DuckDB writes one as text, `2026-03-02 10:00:00+00`, is one of them.)
_STAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d(?::?\d\d)?)?", re.ASCII
)
_NUMBER = re.compile(r"-?\d{1,18}(?:\.\d{1,9})?", re.ASCII)
_BOOLEANS = {"true": True, "false": False}


class _Unsure(Exception):
    """A value in a form this reader does not read: the file goes to DuckDB."""


def _stamp(text: str | None) -> datetime | None:
    """TRY_CAST(text AS TIMESTAMPTZ) with the time zone UTC."""
    if text is None:
        return None
    m = _STAMP.fullmatch(text)
    if m is None:
        raise _Unsure(text)
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        tz = UTC
        if zone and zone != "Z":
            hours, minutes = int(zone[1:3]), int(zone[-2:] if len(zone) > 3 else 0)  # +HH, +HHMM, +HH:MM
            if hours > 14 or minutes > 59:
                raise _Unsure(text)
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        micro = int((fraction or "").ljust(6, "0"))
        if second == "60":  # a leap second, read as the rule says (`accounting.starts`)
            leap = leap_second(int(year), int(month), int(day), int(hour), int(minute), tz)
            if leap is None:
                raise _Unsure(text)
            return leap
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
    except ValueError:  # a date or time of no calendar: DuckDB's answer is not certain here
        raise _Unsure(text) from None
    if value.year < 2 or value.year > 9998:
        raise _Unsure(text)
    return value


def _double(text: str | None) -> float | None:
    """TRY_CAST(text AS DOUBLE)."""
    if text is None:
        return None
    if _NUMBER.fullmatch(text) is None:
        raise _Unsure(text)
    return float(text)


def _count(text: str | None) -> int | None:
    """An octet count as the reader's `_count` makes it of text: the DOUBLE when whole and within
    10^18, else -1 (refused by the range check); NULL for no value."""
    d = _double(text)
    if d is None:
        return None
    return int(d) if d == math.trunc(d) and -1e18 <= d <= 1e18 else -1


def _boolean(text: str | None) -> bool | None:
    """TRY_CAST(text AS BOOLEAN)."""
    if text is None:
        return None
    if text not in _BOOLEANS:
        raise _Unsure(text)
    return _BOOLEANS[text]


def _quoted(text: str | None) -> str:
    """A value as a reject's reason shows it: ` 'text'`, or ` missing`."""
    return " missing" if text is None else f" '{text}'"


class _Row:
    """One row of the file: its fields (None: empty), their readings, the row it repeats."""

    __slots__ = ("bd", "bu", "deliv", "dest", "dup", "dur", "line", "raw", "row", "ts", "type", "zone")

    def __init__(self, row: int, values: Mapping[str, str | None], dup: int | None) -> None:
        self.row, self.raw, self.dup = row, values, dup
        self.line = values["line"] or None
        self.type = values["type"]
        self.zone = values["zone"] or "fr"
        self.dest = values["dest"] or None
        self.ts = _stamp(values["start"])
        self.dur = _double(values["duration_s"])
        self.bu = _count(values["bytes_up"])
        self.bd = _count(values["bytes_down"])
        self.deliv = _boolean(values["delivered"])

    def row_code(self, month_start: datetime, month_end: datetime) -> str | None:
        """The row-level checks, in the order of the reader's CASE (duplicates apart)."""
        ts, dur, bu, bd, type_ = self.ts, self.dur, self.bu, self.bd, self.type
        if ts is None:
            return "bad-start"
        if ts < month_start or ts >= month_end:
            return "outside-month"
        if self.raw["duration_s"] is not None and (dur is None or not 0 <= dur <= MAX_SECONDS):
            return "bad-duration"
        if (bu is not None and not 0 <= bu <= MAX_OCTETS) or (bd is not None and not 0 <= bd <= MAX_OCTETS):
            return "bad-bytes"
        if self.raw["delivered"] is not None and self.deliv is None:
            return "bad-delivered"
        if dur is not None and dur > MAX_RECORD_S and type_ == "data":
            return "over-12h"
        late = month_end.timestamp() + PAST_MONTH_END_S
        if dur is not None and dur > late - _epoch(ts) and type_ in ("data", "voice", "csd"):
            return "past-month-end"
        if (
            bu is not None
            and bd is not None
            and float(bu) + bd > float(MAX_OCTETS_PER_S) * max(MAX_RECORD_S if dur is None else dur, 1)
            and type_ == "data"
        ):
            return "too-many-octets"
        return None

    def full_code(self, month_start: datetime, month_end: datetime) -> str | None:
        """The code the reject listing gives (`_normalised`): duplicate, row checks, group checks."""
        if self.dup is not None:
            return "duplicate"
        code = self.row_code(month_start, month_end)
        if code is not None:
            return code
        if self.type not in _TYPES:
            return "bad-type"
        if self.type == "data" and (self.bu is None or self.bd is None):
            return "bad-bytes"
        return _judge(self.line, self.type, self.zone, self.dest)

    def reason(self, code: str) -> str:
        """A row-level reject's reason, as the reader's SQL writes it."""
        raw = self.raw
        text = ROW_REASONS[code][1]
        if code == "duplicate":
            return f"{text} row {self.dup}"
        if code == "bad-type":
            return text + _quoted(self.type)
        if code in ("bad-start", "outside-month"):
            return text + _quoted(raw["start"])
        if code in ("bad-duration", "over-12h"):
            return text + _quoted(raw["duration_s"])
        if code == "bad-zone":
            return text + _quoted(self.zone)
        if code == "bad-plmn":  # (the mark, then the value and why: `accounting.zones.usage_zone`)
            return f"{text} {self.zone[1:]}"
        if code == "bad-dest":
            return text + _quoted(self.dest)
        if code == "bad-delivered":
            return text + _quoted(raw["delivered"])
        if code == "past-month-end":
            return f"{text} '{raw['start']}' + {raw['duration_s']} s"
        if code in ("bad-bytes", "too-many-octets"):
            up, down = raw["bytes_up"], raw["bytes_down"]
            shown = ["missing" if v is None else f"'{v}'" for v in (up, down)]
            return f"{text} {shown[0]}/{shown[1]}"
        return text


def _number_read(text: str | None) -> tuple[Any, ...]:
    """A count as the duplicate search compares it: its number, a float below 2^53, past it its
    exact integer (`9007199254740994.0` is `9007199254740994`); else its text."""
    d = _double(text)
    if d is None or text is None:
        return ("", text)
    if abs(d) < _EXACT_DOUBLE:
        return (d + 0.0, None)
    exact = decimal.Decimal(text)  # (`_double` took the text: digits, maybe a fraction)
    return ("", str(int(exact)) if exact == exact.to_integral_value() else text)


def _start_read(text: str | None) -> tuple[Any, ...]:
    """A start as the duplicate search compares it: its instant; else its text."""
    ts = _stamp(text)
    return (None, text) if ts is None else (ts, None)


def _boolean_read(text: str | None) -> tuple[Any, ...]:
    b = _boolean(text)
    return (None, text) if b is None else (b, None)


_READINGS: dict[str, Callable[[str | None], tuple[Any, ...]]] = {
    "start": _start_read,
    **dict.fromkeys(NUMBER_COLUMNS, _number_read),
    "delivered": _boolean_read,
}


def _epoch(ts: datetime) -> float:
    """DuckDB's epoch(ts): the microseconds since 1970 divided by a million, as a DOUBLE."""
    delta = ts - _EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) / 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SmallUsageReader(UsageReader):
    """A small file's rows held in Python (see the module's text): what `UsageReader` gives the
    rating (`aggregate`, `list_rejects`), without a DuckDB connection of its own."""

    def __init__(self, path: Path, kind: str, rows: list[_Row], state: FileState) -> None:
        # (nothing of the base's set-up; `state`: the file before it was read, `check_unchanged`)
        self.name = str(path)
        self.kind = kind
        self.files = [path]
        self._states = [state]
        self._rows = rows

    def aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        periods = [int(p) for p in first_periods]
        no_calls: Mapping[int, int] = dict.fromkeys(periods, 0)
        sums: dict[tuple[Any, ...], list[Any]] = {}  # key -> [rows, ko, calls, beyond]
        starts = self.first_starts
        for r in self._rows:
            code = r.row_code(month_start, month_end)
            if code is None and r.type == "data" and (r.bu is None or r.bd is None):
                code = "bad-bytes"
            if r.dup is not None:  # a copy: taken out of its aggregate, a reject of its own
                code = "duplicate"
            elif code is None:  # the row's values count; the aggregate may still be refused
                code = _judge(r.line, r.type, r.zone, r.dest)
                if starts is not None and r.ts is not None:
                    starts.note(r.line, micros(r.ts))
                key = (r.line, r.type, r.zone, r.dest, r.deliv, code)
                entry = sums.get(key)
                calls = r.type in _CALL_TYPES
                if entry is None:
                    entry = sums[key] = [0, 0, 0, dict.fromkeys(periods, 0) if calls else no_calls]
                entry[0] += 1
                if r.bu is not None and r.bd is not None:
                    entry[1] += (r.bu + r.bd + 1023) // 1024
                if calls:
                    dur = r.dur
                    if dur is not None and dur > 0:
                        entry[2] += 1
                    secs = math.ceil(dur or 0)
                    beyond = entry[3]
                    for p in periods:
                        beyond[p] += max(secs - p, 0)
                continue
            key = (r.line, r.type, r.zone, r.dest, r.deliv, code)
            entry = sums.get(key)
            if entry is None:
                entry = sums[key] = [0, 0, 0, {}]
            entry[0] += 1
        return [
            Group(line, type_, zone, dest, deliv, code, n, ko, calls, beyond)
            for (line, type_, zone, dest, deliv, code), (n, ko, calls, beyond) in sums.items()
        ]

    def early_rows(
        self, asked: EarlyLines, limit: int
    ) -> tuple[list[Group], list[tuple[str | None, int, str]]]:
        # (every row is in memory: `keys` is not needed to find those of the lines)
        month_start, month_end, cutoffs, _, first_periods = asked
        periods = [int(p) for p in first_periods]
        sums: dict[tuple[Any, ...], list[Any]] = {}  # key -> [rows, ko, calls, beyond]
        listed: list[tuple[str | None, int, str]] = []
        for r in self._rows:
            cutoff = cutoffs.get(r.line or "")
            if cutoff is None or r.dup is not None or r.ts is None or r.ts >= cutoff[0]:
                continue
            if r.type not in LINE_TYPES:
                continue
            if r.full_code(month_start, month_end) is not None:
                continue
            if len(listed) < limit:
                listed.append((None, r.row, cutoff[1]))
            key = (r.line, r.type, r.zone, r.dest, r.deliv)
            entry = sums.get(key)
            if entry is None:
                entry = sums[key] = [0, 0, 0, dict.fromkeys(periods, 0)]
            entry[0] += 1
            if r.bu is not None and r.bd is not None:
                entry[1] += (r.bu + r.bd + 1023) // 1024
            if r.type in _CALL_TYPES:
                if r.dur is not None and r.dur > 0:
                    entry[2] += 1
                secs = math.ceil(r.dur or 0)
                for p in periods:
                    entry[3][p] += max(secs - p, 0)
        groups = [
            Group(line, type_, zone, dest, deliv, None, n, ko, calls, beyond)
            for (line, type_, zone, dest, deliv), (n, ko, calls, beyond) in sums.items()
        ]
        return groups, listed

    def list_rejects(
        self,
        month_start: datetime,
        month_end: datetime,
        rejected: Sequence[RejectedKey],
        limit: int,
        *,
        every_row: bool = False,
    ) -> list[tuple[str | None, int, str]]:
        # Every row is checked here whatever `every_row` says: the rows are already in memory.
        reasons = {r.key: r.reason for r in rejected}
        out: list[tuple[str | None, int, str]] = []
        for r in self._rows:
            if len(out) >= limit:
                break
            code = r.full_code(month_start, month_end)
            if code is not None:
                out.append((None, r.row, r.reason(code)))
                continue
            reason = reasons.get(group_key(r.line, r.type, r.zone, r.dest, r.deliv))
            if reason is not None:
                out.append((None, r.row, reason))
        return out


def small_reader(source: UsageSource) -> SmallUsageReader | None:
    """The reader of a small plain CSV file or a small Parquet file (see the module's text), or
    None: read it with `UsageReader`."""
    if not isinstance(source, str | Path):
        return None
    path = Path(source)
    name = path.name.lower()
    csv = name.endswith((".csv", ".txt"))
    if not csv and not name.endswith(".parquet"):
        return None
    try:
        if not path.is_file():
            return None
        state = file_state(path)
        if state.size > (MAX_BYTES if csv else MAX_PARQUET_BYTES):
            return None
        data = path.read_bytes()
    except OSError:
        return None  # the reader says why
    try:
        rows = _csv(data) if csv else _parquet(path, data)
    except _Unsure:
        return None
    return None if rows is None else SmallUsageReader(path, "csv" if csv else "parquet", rows, state)


def _csv(data: bytes) -> list[_Row] | None:
    if len(data) > MAX_BYTES or data.translate(None, _PLAIN):
        return None
    lines = data.decode("ascii").split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    header = lines[0].split(",")
    if (
        "" in header
        or len({h.lower() for h in header}) != len(header)
        or any(c not in header for c in REQUIRED)
        or any(_misspelt_column(h, header) for h in header)
        or not all(lines[1:])
    ):
        return None  # DuckDB's reader refuses the header, or the file has an empty line
    width = len(header)
    records: list[tuple[str | None, ...]] = []
    for text in lines[1:]:
        fields = text.split(",")
        if len(fields) != width:
            return None  # a malformed row: DuckDB's reader lists it
        records.append(tuple(f or None for f in fields))
    return _rows(header, records)


def _rows(header: Sequence[str], records: Sequence[tuple[str | None, ...]]) -> list[_Row]:
    """The rows (the first is row 2), each copy of an earlier one naming it."""
    index = [header.index(c) if c in header else -1 for c in _CHECKED]
    # no `zone` but `serving_plmn`: the zone read from the network, as `UsageReader` reads it
    plmn = header.index("serving_plmn") if "serving_plmn" in header and "zone" not in header else -1
    readings = [_READINGS.get(name) for name in header]
    seen: dict[tuple[Any, ...], int] = {}
    rows: list[_Row] = []
    for number, fields in enumerate(records, start=2):
        values = {c: fields[i] if i >= 0 else None for c, i in zip(_CHECKED, index, strict=True)}
        if plmn >= 0:
            values["zone"] = usage_zone(fields[plmn])
        # compared as the reader's duplicate search compares them (`UsageReader._compared`)
        key = tuple(v if read is None else read(v) for v, read in zip(fields, readings, strict=True))
        first = seen.setdefault(key, number)
        rows.append(_Row(number, values, first if first != number else None))
    return rows


def _parquet(path: Path, data: bytes) -> list[_Row] | None:
    """A small Parquet file's rows as DuckDB writes their values as text (one query), when its
    columns are of types whose text reads back as the rating reads the values."""
    if FOOTER_KEY in data:
        return None  # the simulator's file: its footer's claims decide what the reader checks
    schema = footer_arrow_schema(data)
    if schema is not None and (
        duration_refused(str(path), arrow_durations(schema)) is not None
        or kind_refused(str(path), {}, as_bytes=arrow_duckdb_numbers(schema)) is not None
    ):
        return None  # the reader refuses it, naming the column and its kind
    decoded = read_small_parquet(data, MAX_PARQUET_ROWS)
    if decoded is not None:  # a file of the kinds decoded in Python: DuckDB is not even loaded
        names, rows = decoded
        if not set(names) >= set(REQUIRED) or any(_misspelt_column(n, names) for n in names):
            return None
        if _named_twice(names):
            return None  # the reader refuses it, naming the column
        return _rows(names, _unset_empty(rows))
    con = duckdb.connect(":memory:", config={"threads": "1"})
    try:
        con.execute("SET TimeZone = 'UTC'")  # timestamps with a time zone written in UTC
        files = f"read_parquet(['{_sql_safe(str(path))}'])"
        types = {str(n): str(t) for n, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {files}").fetchall()}
        if not types.keys() >= set(REQUIRED) or not set(types.values()) <= _PARQUET_TYPES:
            return None
        if any(_misspelt_column(n, list(types)) for n in types):
            return None  # the reader refuses it, naming the column
        flat = con.execute(f"SELECT name FROM parquet_schema('{_sql_safe(str(path))}')").fetchall()[1:]
        if _named_twice([str(n) for (n,) in flat]):  # (DESCRIBE names the second `zone_1`)
            return None
        records = con.execute(
            f"SELECT CAST(COLUMNS(*) AS VARCHAR) FROM {files} LIMIT {MAX_PARQUET_ROWS + 1}"
        ).fetchall()
    except duckdb.Error:
        return None  # the reader says what is wrong with the file
    finally:
        con.close()
    if len(records) > MAX_PARQUET_ROWS:
        return None
    return _rows(list(types), _unset_empty(records))


def _named_twice(names: Sequence[str]) -> bool:
    """Whether a column is named twice (DuckDB's names ignore case)."""
    return len({n.lower() for n in names}) != len(names)


def _unset_empty(records: Sequence[tuple[str | None, ...]]) -> list[tuple[str | None, ...]]:
    """A Parquet file's rows with '' read as unset, as an empty CSV cell is, in every column (a
    CSV converted with every column read as text writes '' for it; rows alike but for '' and
    NULL are one row twice; an empty type or start is missing)."""
    out = []
    for fields in records:
        if "" in fields:
            fields = tuple(None if v == "" else v for v in fields)
        out.append(fields)
    return out
