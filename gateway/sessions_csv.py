"""The sessions CSV of `m2msim sessions-to-records`: its rules, and two readers of them.

`read_sessions` reads a file by columns (pyarrow's CSV reader, numpy for the values): each row
whose every field is plain ASCII in a form it knows (an ISO 8601 start with `Z` or `+hh:mm`,
digits, a known zone) is converted there; any other row is checked by the rules of one row in
Python (`_checked_row`), which names its field; the rows of a session id given more than once,
and rows the same in every value, are then checked one by one in file order (`_Ids`).  A file
whose rows the columns cannot number as Python's `csv` does (a row with another number of
fields, a header whose quotes hold a line end, data that are not UTF-8 or hold a NUL) is read by
`read_sessions_py`, the same rules as a loop over its rows: the reference the tests compare it
with.  Both then find the rows that are one session's partial records, one a row (`_partials`).
`scan_sessions`, the command's reader, reads a long file a block at a time by the same rules,
keeping a hash of each row's session and the rows of a session given in more than one row.
"""

from __future__ import annotations

import bisect
import csv
import io
import logging
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from accounting.csv_forms import (
    misspelt_column,
    named_compression,
    other_separator,
    other_than_csv,
    separator_note,
)
from accounting.records import Zone
from gateway.partial import INTERVAL_S, record_counts
from m2msim.compressed import compression_of, decompressing
from m2msim.yamlio import YamlError, decode_text, read_file_bytes

log = logging.getLogger(__name__)

SESSION_COLUMNS = ("line", "start", "duration_s", "bytes_up", "bytes_down")
OPTIONAL_COLUMNS = ("zone", "session", "abnormal", "cause", "session_start")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_SESSION_S = 366 * 86_400  # a session longer than a year is not one a network produced
MAX_BYTES = 2**50  # a petabyte per session and direction
MAX_FIELD = 256  # characters in one field
Row = tuple[
    str, int, int, int, int, str, str, bool, int, int
]  # the cause given, else -1; the session's start, else NO_ORIGIN
# TS 32.298 CauseForRecClosing of a PS record, by value and by its ASN.1 name (an export's `cause`)
CAUSES = {
    0: "normalRelease",
    4: "abnormalRelease",
    5: "cAMELInitCallRelease",
    16: "volumeLimit",
    17: "timeLimit",
    18: "servingNodeChange",
    19: "maxChangeCond",
    20: "managementIntervention",
    21: "intraSGSNIntersystemChange",
    22: "rATChange",
    23: "mSTimeZoneChange",
    24: "sGSNPLMNIDChange",
}
_CAUSE_NAMES = {name.lower(): value for value, name in CAUSES.items()}
RELEASES = (0, 4, 5)  # causes that end the session (the others close a partial record of it)
NO_CAUSE = -1
NO_ORIGIN = -(2**63)  # no `session_start` given: the session's start is not known
SECOND = timedelta(seconds=1)
# The longest time between two rows of one session id on a line that are one session's partial
# records, the ones between them lost from the export, in intervals (`default_max_gap`).
MAX_GAP_INTERVALS = 2
FIRST_S = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // SECOND  # 0001-01-01T00:00:00Z
LAST_S = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH) // SECOND  # 9999-12-31T23:59:59Z
LAST_INSTANT = time(23, 59, 59, 999_999)  # where a leap second is read (`accounting.starts`)
_NOT_TEXT = re.compile("[\udc00-\udcff]")  # bytes that were not UTF-8, or NUL, as read
_LEAP = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d):60(\.\d+)?(.*)$")


GAP, REUSED = 0, 1  # the kinds of `Noted` rows: after a gap in their session, or an id given again


def default_max_gap(interval_s: int) -> int:
    """The longest gap, in seconds, between a row's end and the start of the next row of its session
    id on its line for the two to be one session (the partial records between them lost from the
    export), for partial records every `interval_s`: MAX_GAP_INTERVALS intervals.  A context's
    partial records abut (TS 32.298: one context's records, linked by their sequence numbers, each
    opened as the one before closed) and its node closes one at least every time limit (TS 32.251's
    time-limit trigger; a RADIUS client's interim update every Acct-Interim-Interval, RFC 2869
    5.16, with or without traffic): a gap of an interval is one record lost, two intervals two in a
    row.  A longer silence is not a session going on without a record: it is the id given to another
    session (a NAS numbering its sessions anew after a restart, RFC 2866 5.5's example; a counter
    that wrapped)."""
    return MAX_GAP_INTERVALS * interval_s


class RowReject(ValueError):
    """A sessions CSV row that cannot be converted (its reason)."""


def _start(text: str) -> datetime:
    """A session's start: ISO 8601 with its UTC offset.  A leap second (`2016-12-31T23:59:60Z`, the
    61st second of a day's last minute in UTC) is read as `rate` reads it (`accounting.starts`):
    the last instant of the second before, in its day and its billing month."""
    value = text.strip().replace("Z", "+00:00")
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        leap = _LEAP.match(value)
        try:
            start = datetime.fromisoformat(f"{leap[1]}:59.999999{leap[3]}" if leap else value)
        except ValueError:
            raise RowReject(f"field 'start' {text!r} is not an ISO 8601 time") from None
        if start.tzinfo is not None and start.astimezone(UTC).time() != LAST_INSTANT:
            raise RowReject(f"field 'start' {text!r} is no leap second (second 60 of 23:59 UTC)") from None
    if start.tzinfo is None:
        raise RowReject(f"field 'start' {text!r} has no UTC offset")
    return start


def _parse_row(row: dict[str, str], number: int) -> Row:
    line = (row.get("line") or "").strip()
    if not line:
        raise RowReject("field 'line' is empty")
    start = _start(row["start"])
    values = []
    for name, limit in (("duration_s", MAX_SESSION_S), ("bytes_up", MAX_BYTES), ("bytes_down", MAX_BYTES)):
        text = row[name].strip()
        if not text.isascii() or not text.isdigit():
            raise RowReject(f"field {name!r} {text!r} is not a non-negative integer")
        values.append(int(text))
        if values[-1] > limit:
            raise RowReject(f"field {name!r} {text} is more than a network produces (at most {limit})")
    zone = (row.get("zone") or "fr").strip() or "fr"
    try:
        Zone(zone)
    except ValueError:
        raise RowReject(f"field 'zone' {zone!r} is not fr, eu or world") from None
    abnormal_text = (row.get("abnormal") or "").strip().lower()
    if abnormal_text not in ("", "0", "1", "true", "false"):
        raise RowReject(f"field 'abnormal' {abnormal_text!r} is not true/false")
    cause = _cause(row.get("cause") or "")
    if cause != NO_CAUSE and abnormal_text and (cause == 4) != (abnormal_text in ("1", "true")):
        raise RowReject(
            f"field 'cause' {cause} ({CAUSES[cause]}) and field 'abnormal' {abnormal_text!r} say "
            "otherwise of the session's release: which one is right is not known"
        )
    session = (row.get("session") or "").strip() or f"row{number}"
    seconds = (start - EPOCH) // SECOND  # floored to its second, as records are whole seconds
    if seconds < FIRST_S or seconds + values[0] > LAST_S:
        raise RowReject(
            f"field 'start' {row['start']!r}: the session's records would fall outside the years "
            "1 to 9999 (UTC), which usage records cannot hold"
        )
    abnormal = abnormal_text in ("1", "true") or cause == 4
    return (
        line,
        seconds,
        values[0],
        values[1],
        values[2],
        zone,
        session,
        abnormal,
        cause,
        _origin(row, seconds),
    )


def _origin(row: dict[str, str], seconds: int) -> int:
    """The seconds of the session's start the optional `session_start` gives (its context's start,
    where its 12-hour marks count from), else NO_ORIGIN; a start after the row's is a reject."""
    text = (row.get("session_start") or "").strip()
    if not text:
        return NO_ORIGIN
    try:
        origin = (_start(text) - EPOCH) // SECOND
    except RowReject as exc:
        raise RowReject(str(exc).replace("field 'start'", "field 'session_start'", 1)) from None
    if origin > seconds or seconds - origin > MAX_SESSION_S:
        raise RowReject(
            f"field 'session_start' {text!r} is after the row's start, or more than 366 days before it"
        )
    return int(origin)


def _cause(text: str) -> int:
    """An export's cause for record closing (TS 32.298: `16` or `volumeLimit`), NO_CAUSE if empty."""
    value = text.strip()
    if not value:
        return NO_CAUSE
    if value.isascii() and value.isdigit() and len(value) <= 3 and int(value) in CAUSES:
        return int(value)
    if value.lower() in _CAUSE_NAMES:
        return _CAUSE_NAMES[value.lower()]
    raise RowReject(
        f"field 'cause' {value!r} is not a TS 32.298 cause for record closing "
        f"({', '.join(f'{k} {v}' for k, v in CAUSES.items())})"
    )


@dataclass(frozen=True)
class Opened:
    """A sessions file's bytes (decompressed, without a byte order mark), its header and separator."""

    source: str
    data: bytes
    header: list[str]
    delimiter: str


def _open(path: Path) -> Opened:
    """The file's header checked, or `UnusableFile` (see `read_sessions`)."""
    source = str(path)
    try:
        data = _decompressed(Path(path), read_file_bytes(path, source, "CSV file"))
    except YamlError as exc:
        raise UnusableFile(str(exc)) from None
    return _opened(source, data)


def _opened(source: str, data: bytes) -> Opened:
    """`_open` of these bytes (the whole file, or its header row alone)."""
    other = other_than_csv(data[: data.find(b"\n") + 1] if b"\n" in data else data)
    if other is not None:  # (a workbook, UTF-16 text: it was "binary data (a NUL byte)")
        raise UnusableFile(f"{source}: {other}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():  # (as `not data.strip()`, without a copy of the file)
        raise UnusableFile(f"{source}: the file is empty (no header row)")
    header_end = data.find(b"\n")
    header_bytes = data if header_end < 0 else data[:header_end]
    try:
        decode_text(header_bytes, source)
    except YamlError as exc:
        raise UnusableFile(f"{exc} (in the header row)") from None
    note = separator_note(header_bytes.decode("utf-8").rstrip("\r"))
    if note is not None:  # (as `rate` says it: else every column was said missing)
        raise UnusableFile(f"{source}:1: {note}")
    # (the header row alone, unless quoted: a quoted field may hold a line end)
    first = _text(data if b'"' in header_bytes else header_bytes)
    delimiter = ","
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(first, newline="")))]
        other_sep = other_separator(header, SESSION_COLUMNS)
        if other_sep is not None:  # (a spreadsheet's export in a locale whose lists use ';')
            delimiter = other_sep
            header = [
                h.strip() for h in next(csv.reader(io.StringIO(first, newline=""), delimiter=delimiter))
            ]
    except (StopIteration, csv.Error) as exc:
        raise UnusableFile(f"{source}:1: unreadable header row: {exc}") from None
    _misspelt_column(header, source)  # (before the columns missing: `Line` is `line` misspelt)
    missing = [c for c in SESSION_COLUMNS if c not in header]
    if missing:
        raise UnusableFile(f"{source}:1: missing column(s) {', '.join(missing)}")
    for name in (*SESSION_COLUMNS, *OPTIONAL_COLUMNS):
        places = [i + 1 for i, h in enumerate(header) if h == name]
        if len(places) > 1:  # (the last one was read, the others left aside without a word)
            raise UnusableFile(
                f"{source}:1: column {name!r} is in the header {len(places)} times "
                f"(columns {', '.join(map(str, places))}): which one holds the sessions' values is not known"
            )
    return Opened(source, data, header, delimiter)


def _text(data: bytes) -> str:
    """The file as text: bad bytes stay in their row (surrogates), which is then rejected: one bad
    row is not a bad file."""
    return data.decode("utf-8", errors="surrogateescape").replace("\x00", "\udc00")


def _checked_row(header: list[str], fields: list[str], number: int) -> tuple[Row, str, str]:
    """One row converted (its session id as given, and its start as written), or `RowReject`."""
    if len(fields) != len(header):
        raise RowReject(f"{len(fields)} fields, the header has {len(header)}")
    for name, value in zip(header, fields, strict=True):
        if not value.isascii() and _NOT_TEXT.search(value):
            raise RowReject(f"field {name!r} holds bytes that are not UTF-8 text")
        if len(value) > MAX_FIELD:
            raise RowReject(f"field {name!r} is {len(value)} characters long (at most {MAX_FIELD})")
    values = dict(zip(header, fields, strict=True))
    return _parse_row(values, number), (values.get("session") or "").strip(), values["start"].strip()


class _Ids:
    """The sessions kept so far, by their values and by (line, session id): a row that is one of
    them again, or that gives one's session id for a time it shares, is a reject."""

    def __init__(self) -> None:
        self.seen: dict[tuple[object, ...], int] = {}
        self.held: dict[tuple[str, str], Held | list[Held]] = {}  # (line, session id): by start

    def admit(self, row: Row, given: str, start: str, number: int) -> None:
        # The session as read, not as written (`+01:00` or `Z`, `0100` or `100`, an operator's
        # column): its records would be written twice, and billed twice without a session id.
        key = (*row[:6], given, row[7], row[8])  # (not `session_start`: the same session's)
        if key in self.seen:
            raise RowReject(
                f"duplicate of row {self.seen[key]} (the same session: line, start, duration, bytes, "
                "zone, session and release as read)"
            )
        prior = self.held.get((row[0], given)) if given else None
        spans = [] if prior is None else [prior] if isinstance(prior, tuple) else prior
        lasting = _overlapping(spans, row[1], row[1] + row[2])
        if lasting is not None and lasting[0] == row[1]:
            raise RowReject(
                f"session {given!r} of line {row[0]!r} opened at {start} is row "
                f"{lasting[2]} with other values: which one is right is not known"
            )
        if lasting is not None:
            raise RowReject(
                f"session {given!r} of line {row[0]!r} from {_utc(row[1])} to "
                f"{_utc(row[1] + row[2])} overlaps row {lasting[2]}, the same session id from "
                f"{_utc(lasting[0])} to {_utc(lasting[1])}: a session id is the session's while it "
                "lasts, so one of them is not right"
            )
        self.seen[key] = number
        if given:
            span = (row[1], row[1] + row[2], number)
            if prior is None:  # (most session ids are one session's: a tuple, not a list)
                self.held[row[0], given] = span
            else:
                bisect.insort(spans, span)
                self.held[row[0], given] = spans


def read_sessions_py(
    path: Path, max_gap_s: int = default_max_gap(INTERVAL_S)
) -> tuple[Sessions, list[tuple[int, str]]]:
    """`read_sessions` as a loop over the rows: the same sessions and rejects (the reference of
    the tests, and the reader of a file the columns cannot number)."""
    return _partials(*_rows_py(_open(path)), max_gap_s)


def _rows_py(opened: Opened) -> tuple[Sessions, list[tuple[int, str]]]:
    reader = csv.reader(io.StringIO(_text(opened.data), newline=""), delimiter=opened.delimiter)
    next(reader)  # (the header, read by `_open`)
    rows: list[Row] = []
    numbers: list[int] = []
    named: list[bool] = []
    rejects: list[tuple[int, str]] = []
    ids = _Ids()
    number = 1
    while True:
        number += 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.append((number, f"unreadable CSV row: {exc}"))
            continue
        if not fields:
            number -= 1  # a blank line is not a row
            continue
        try:
            row, given, start = _checked_row(opened.header, fields, number)
            ids.admit(row, given, start, number)
            rows.append(row)
            numbers.append(number)
            named.append(bool(given))
        except RowReject as exc:
            rejects.append((number, str(exc)))
    return _from_rows(rows, numbers, named), rejects


I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Sessions:
    """Sessions by column, in the file's order: line, zone and session id as Arrow strings, the
    start in seconds since 1970 (UTC), duration and octets as int64, `row` the file's row."""

    line: pa.Array
    start: I64
    duration: I64
    bytes_up: I64
    bytes_down: I64
    zone: pa.Array
    session: pa.Array
    abnormal: npt.NDArray[np.bool_]
    cause: I64  # the cause for record closing the file gives its row (TS 32.298), else NO_CAUSE
    row: I64
    named: npt.NDArray[np.bool_]  # its session id given by the file (else `row<n>`)
    origin: I64  # the session's start the file gives (`session_start`), else NO_ORIGIN
    # A session exported one partial record a row (`_partials`): the index of its first row, the
    # row's place among them (0 the first), and whether a later one continues it.
    chain: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    part: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    more: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # Rows after a gap in their session's partial records (one lost from the file).
    notes: Noted = field(default_factory=lambda: Noted.none(GAP))
    # Rows giving the session id of an earlier session on their line, past `max_gap_s` after its
    # end: another session under the same id.
    reused: Noted = field(default_factory=lambda: Noted.none(REUSED))

    def __len__(self) -> int:
        return len(self.start)

    def rows(self) -> list[Row]:
        """As `read_sessions_py` gives them."""
        return list(
            zip(
                self.line.to_pylist(),
                self.start.tolist(),
                self.duration.tolist(),
                self.bytes_up.tolist(),
                self.bytes_down.tolist(),
                self.zone.to_pylist(),
                self.session.to_pylist(),
                self.abnormal.tolist(),
                self.cause.tolist(),
                self.origin.tolist(),
                strict=True,
            )
        )

    def slice(self, lo: int, hi: int) -> Sessions:
        """Sessions `lo` to `hi` (excluded), without a copy."""
        return Sessions(
            self.line.slice(lo, hi - lo),
            self.start[lo:hi],
            self.duration[lo:hi],
            self.bytes_up[lo:hi],
            self.bytes_down[lo:hi],
            self.zone.slice(lo, hi - lo),
            self.session.slice(lo, hi - lo),
            self.abnormal[lo:hi],
            self.cause[lo:hi],
            self.row[lo:hi],
            self.named[lo:hi],
            self.origin[lo:hi],
            self.chain[lo:hi] if len(self.chain) else self.chain,
            self.part[lo:hi] if len(self.part) else self.part,
            self.more[lo:hi] if len(self.more) else self.more,
        )

    def take(self, index: npt.NDArray[np.int64]) -> Sessions:
        where = pa.array(index, type=pa.int64())
        return Sessions(
            self.line.take(where),
            self.start[index],
            self.duration[index],
            self.bytes_up[index],
            self.bytes_down[index],
            self.zone.take(where),
            self.session.take(where),
            self.abnormal[index],
            self.cause[index],
            self.row[index],
            self.named[index],
            self.origin[index],
        )


def concat_sessions(a: Sessions, b: Sessions) -> Sessions:
    """The sessions of `a` then `b` (`more` kept where both have it; not `chain`, `part`)."""

    def strings(x: pa.Array, y: pa.Array) -> pa.Array:
        return pa.concat_arrays([x, y.cast(x.type)])

    both = len(a.more) == len(a) and len(b.more) == len(b)
    return Sessions(
        strings(a.line, b.line),
        np.concatenate([a.start, b.start]),
        np.concatenate([a.duration, b.duration]),
        np.concatenate([a.bytes_up, b.bytes_up]),
        np.concatenate([a.bytes_down, b.bytes_down]),
        strings(a.zone, b.zone),
        strings(a.session, b.session),
        np.concatenate([a.abnormal, b.abnormal]),
        np.concatenate([a.cause, b.cause]),
        np.concatenate([a.row, b.row]),
        np.concatenate([a.named, b.named]),
        np.concatenate([a.origin, b.origin]),
        more=np.concatenate([a.more, b.more]) if both else np.zeros(0, dtype=bool),
    )


def read_sessions(
    path: Path, max_gap_s: int = default_max_gap(INTERVAL_S)
) -> tuple[Sessions, list[tuple[int, str]]]:
    """The sessions of a CSV file and its rejected rows (row number, reason).

    A row is rejected, and the others converted, for: a wrong number of fields (a truncated last
    row too), bytes that are not UTF-8 (or NUL), an over-long field, a value no network produces,
    a row that is an earlier one's session again (as read, not as written) or gives its session
    id, line and start other values.  A file that cannot be used at all (missing, a directory,
    empty, binary, a header that is not UTF-8, lacks a column or names one twice, compressed
    data that are damaged or cut short) raises `UnusableFile`.  As `rate` reads a CSV:
    compressed by gzip (`.gz`) or zstd (`.zst`), its fields separated by `;`, a tab or `|` when
    its header is.  Rows of one session id on a line more than `max_gap_s` apart are two sessions
    (`_partials`)."""
    opened = _open(path)
    read = _table(opened)
    if read is None:
        return _partials(*_rows_py(opened), max_gap_s)
    header = opened.header
    del opened  # (its bytes: the table holds the fields)
    try:
        return _partials(*_columns(header, [read]), max_gap_s)
    finally:
        del read
        pa.default_memory_pool().release_unused()  # (the columns' copies: the records need the memory)


def _from_rows(rows: list[Row], numbers: list[int], named: list[bool]) -> Sessions:
    return Sessions(
        pa.array([r[0] for r in rows], type=pa.string()),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        np.array([r[4] for r in rows], dtype=np.int64),
        pa.array([r[5] for r in rows], type=pa.string()),
        pa.array([r[6] for r in rows], type=pa.string()),
        np.array([r[7] for r in rows], dtype=bool),
        np.array([r[8] for r in rows], dtype=np.int64),
        np.array(numbers, dtype=np.int64),
        np.array(named, dtype=bool),
        np.array([r[9] for r in rows], dtype=np.int64),
    )


_BIGGEST_FIELD = 100_000  # (Python's csv refuses a field past 131,072 characters: such a file is read by it)
_PLAIN = bytes([9, 10, 13, *range(32, 127)])  # a tab, line ends, printable ASCII
_BLOCK = 1 << 18  # rows whose starts are read at once


def _block(size: int) -> int:
    """pyarrow's block size for a file of `size` bytes: the whole file in one block up to 1 GiB, so
    that each column is one array, not chunks to copy into one."""
    return min(max(size + 1, 1 << 20), 1 << 30)


def _table(opened: Opened) -> tuple[pa.Table, bool] | None:
    """The rows as Arrow strings, numbered as Python's csv numbers them (the header row 1, the n-th
    row after it n + 1, blank lines not counted), or None when they could be numbered otherwise
    or a field read otherwise: a header whose quotes run past its first line or with a lone carriage return, a row
    with another number of fields, data that are not UTF-8 or hold a NUL, a field past Python's
    csv limit.  With it, whether every byte of the file is a printable ASCII character, a tab or
    a line end, none a quote."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    data = opened.data
    end = data.find(b"\n")
    if end < 0 or data.count(b'"', 0, end) % 2 or b"\r" in data[: end - 1] or b"\x00" in data:
        return None  # (quotes in pairs: the header row ends with its first line)
    names = [f"c{i}" for i in range(len(opened.header))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[end + 1 :]),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=_block(len(data))
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opened.delimiter,
                newlines_in_values=b'"' in data,
                ignore_empty_lines=True,  # (a row with another number of fields: an error, read by the loop)
            ),
            convert_options=_as_text(names),
        )
    except (pa.ArrowException, ValueError):
        return None
    for column in table.columns:
        if len(column) and pc.max(pc.utf8_length(column)).as_py() > _BIGGEST_FIELD:
            return None
    return table, not data.translate(None, _PLAIN) and b'"' not in data


def _as_text(names: list[str]) -> Any:
    """pyarrow's options reading every field as it is written (a string, never null)."""
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=True,
    )


def _columns(header: list[str], read: list[tuple[pa.Table, bool]]) -> tuple[Sessions, list[tuple[int, str]]]:
    """The sessions of the rows of the table `read` holds (given up once converted), and the rows
    rejected: each row converted by `_converted`, then the rows that may repeat a session by `_Ids`."""
    converted, rejects = _converted(header, read, 2)
    key = converted.key
    ordered = np.sort(key)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    # (a collision of the keys only checks more rows)
    again = np.flatnonzero(np.isin(key, twice)) if len(twice) else np.zeros(0, dtype=np.int64)
    dropped = _repeats(converted, again, rejects)
    rejects.sort()
    sessions = converted.sessions
    if not dropped:
        return sessions, rejects
    keep = np.ones(len(sessions), dtype=bool)
    keep[dropped] = False
    return sessions.take(np.flatnonzero(keep)), rejects


@dataclass(frozen=True)
class _Converted:
    """Rows converted (`sessions`, in the file's order), with their session ids as given (empty
    where none is), their starts as written and a hash of what makes them one session (`key`: the
    line and session id given, else every value)."""

    sessions: Sessions
    given: pa.Array
    start_text: pa.Array
    key: npt.NDArray[np.uint64]


def _repeats(converted: _Converted, again: I64, rejects: list[tuple[int, str]]) -> list[int]:
    """The rows `again` (places in `converted`, in the file's order) checked one by one by `_Ids`:
    the places of those rejected (their reasons appended to `rejects`)."""
    dropped: list[int] = []
    if not len(again):
        return dropped
    s = converted.sessions
    where = pa.array(again)
    lines, givens, starts, zones, sessions = (
        a.take(where).to_pylist() for a in (s.line, converted.given, converted.start_text, s.zone, s.session)
    )
    ids = _Ids()
    for k, i in enumerate(again.tolist()):
        row: Row = (
            lines[k],
            int(s.start[i]),
            int(s.duration[i]),
            int(s.bytes_up[i]),
            int(s.bytes_down[i]),
            zones[k],
            sessions[k],
            bool(s.abnormal[i]),
            int(s.cause[i]),
            int(s.origin[i]),
        )
        try:
            ids.admit(row, givens[k], starts[k], int(s.row[i]))
        except RowReject as exc:
            rejects.append((int(s.row[i]), str(exc)))
            dropped.append(i)
    return dropped


def _converted(
    header: list[str], read: list[tuple[pa.Table, bool]], first: int
) -> tuple[_Converted, list[tuple[int, str]]]:
    """The rows of the table `read` holds (given up once converted; its first row is row `first` of
    the file, its fields all printable ASCII, tabs and spaces when `plain`) converted: each row by
    columns when its every field is in a form they know, else by `_checked_row`; and the rows
    rejected."""
    import pyarrow.compute as pc

    table, plain = read.pop()
    n = table.num_rows
    number = np.arange(first, n + first, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    trimmed: dict[str, pa.Array] = {}
    for name, chunks in zip(header, table.columns, strict=True):
        column = chunks.combine_chunks() if n else pa.array([], type=pa.string())
        if not plain:  # (a field with other characters is checked as one row is: its reason)
            ok &= pc.match_substring_regex(column, r"^[\t -~]*$").to_numpy(zero_copy_only=False)
        ok &= pc.utf8_length(column).to_numpy(zero_copy_only=False) <= MAX_FIELD
        if name in (*SESSION_COLUMNS, *OPTIONAL_COLUMNS):
            trimmed[name] = _trimmed(column)
    line = trimmed["line"]
    ok &= pc.utf8_length(line).to_numpy(zero_copy_only=False) > 0
    start_text = trimmed["start"]
    seconds, good = _seconds(start_text)
    ok &= good
    numbers: dict[str, I64] = {}
    for name, limit in (("duration_s", MAX_SESSION_S), ("bytes_up", MAX_BYTES), ("bytes_down", MAX_BYTES)):
        text = trimmed[name]
        digits = pc.ascii_is_decimal(text).to_numpy(zero_copy_only=False)
        digits &= pc.binary_length(text).to_numpy(zero_copy_only=False) <= 16
        if not digits.all():
            text = pc.if_else(pa.array(digits), text, "0")
        value = np.array(pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False))
        ok &= digits & (value <= limit)
        numbers[name] = value
    ok &= (seconds >= FIRST_S) & (seconds + numbers["duration_s"] <= LAST_S)
    if "zone" in trimmed:
        zone = pc.if_else(pc.equal(trimmed["zone"], ""), "fr", trimmed["zone"])
        ok &= pc.is_in(zone, pa.array([z.value for z in Zone])).to_numpy(zero_copy_only=False)
    else:
        zone = pa.array(np.full(n, "fr", dtype=object), type=pa.string())
    if "abnormal" in trimmed:
        flag = pc.utf8_lower(trimmed["abnormal"])
        ok &= pc.is_in(flag, pa.array(["", "0", "1", "true", "false"])).to_numpy(zero_copy_only=False)
        abnormal = np.array(pc.is_in(flag, pa.array(["1", "true"])).to_numpy(zero_copy_only=False))
    else:
        abnormal = np.zeros(n, dtype=bool)
    cause = np.full(n, NO_CAUSE, dtype=np.int64)
    if "cause" in trimmed:  # (a number as `_cause` writes it, or none; other forms: `_checked_row`)
        text = trimmed["cause"]
        known = pc.is_in(text, pa.array([str(k) for k in CAUSES])).to_numpy(zero_copy_only=False)
        ok &= known | pc.equal(text, "").to_numpy(zero_copy_only=False)
        if known.any():
            cause[known] = np.array(
                pc.cast(pc.if_else(pa.array(known), text, "-1"), pa.int64()).to_numpy(zero_copy_only=False)
            )[known]
        if "abnormal" in trimmed:  # (saying otherwise of the release: rejected there)
            said = pc.not_equal(trimmed["abnormal"], "").to_numpy(zero_copy_only=False)
            ok &= ~(known & said & ((cause == 4) != abnormal))
        abnormal |= cause == 4
    origin = np.full(n, NO_ORIGIN, dtype=np.int64)
    if "session_start" in trimmed:  # (a form `_seconds` reads, or none; others: `_checked_row`)
        text = trimmed["session_start"]
        said = pc.not_equal(text, "").to_numpy(zero_copy_only=False)
        if said.any():
            at, read_well = _seconds(text)
            read_well &= (at <= seconds) & (seconds - at <= MAX_SESSION_S)
            ok &= read_well | ~said
            origin = np.where(said & read_well, at, origin)
    given = (
        trimmed["session"]
        if "session" in trimmed
        else pa.array(np.full(n, "", dtype=object), type=pa.string())
    )
    del trimmed, text  # (the fields converted: the rows not converted are taken from `table`)

    # The other rows, one at a time: converted (patched in) or rejected.
    rejects: list[tuple[int, str]] = []
    slow = np.flatnonzero(~ok)
    patched: list[tuple[int, Row, str, str]] = []
    fields_of: object = None
    if len(slow):
        where_slow = pa.array(slow)
        fields_of = zip(*(column.take(where_slow).to_pylist() for column in table.columns), strict=True)
        for i, fields in zip(slow.tolist(), fields_of, strict=True):
            try:
                row, text_given, text_start = _checked_row(header, list(fields), i + first)
            except RowReject as exc:
                rejects.append((i + first, str(exc)))
                continue
            patched.append((i, row, text_given, text_start))
    del table, fields_of  # (the fields not converted)
    kept = ok.copy()
    if patched:
        at = np.array([p[0] for p in patched], dtype=np.int64)
        kept[at] = True
        seconds[at] = [p[1][1] for p in patched]
        for k, name in enumerate(("duration_s", "bytes_up", "bytes_down"), start=2):
            numbers[name][at] = [p[1][k] for p in patched]
        abnormal[at] = [p[1][7] for p in patched]
        cause[at] = [p[1][8] for p in patched]
        origin[at] = [p[1][9] for p in patched]
        where = np.arange(n, dtype=np.int64)
        where[at] = n + np.arange(len(patched))
        index = pa.array(where)

        def patch(column: pa.Array, values: list[str]) -> pa.Array:
            return pa.concat_arrays([column, pa.array(values, type=pa.string())]).take(index)

        line = patch(line, [p[1][0] for p in patched])
        zone = patch(zone, [p[1][5] for p in patched])
        given = patch(given, [p[2] for p in patched])
        start_text = patch(start_text, [p[3] for p in patched])

    # What makes rows one session (a session id given more than once on a line; without one, the
    # same values): the rows of a key found twice are checked one by one in the file's order
    # (`_repeats`), as the loop checks every row.
    line_id = _hashes(line)
    has_id = pc.not_equal(given, "").to_numpy(zero_copy_only=False)
    key = _mix(line_id, _hashes(given))
    if not has_id.all():
        by_values = _mix(
            line_id,
            seconds.view(np.uint64),
            numbers["duration_s"].view(np.uint64),
            numbers["bytes_up"].view(np.uint64),
            numbers["bytes_down"].view(np.uint64),
            _hashes(zone),
            abnormal.astype(np.uint64),
            cause.view(np.uint64),
        )
        key = np.where(has_id, key, by_values)
        del by_values
    del line_id
    session = given
    if not has_id.all():
        named = pc.binary_join_element_wise("row", pc.cast(pa.array(number), pa.string()), "")
        session = pc.if_else(pa.array(has_id), given, named)
    sessions = Sessions(
        line,
        seconds,
        numbers["duration_s"],
        numbers["bytes_up"],
        numbers["bytes_down"],
        zone,
        session,
        abnormal,
        cause,
        number,
        has_id,
        origin,
    )
    converted = _Converted(sessions, given, start_text, key)
    if not kept.all():
        index = np.flatnonzero(kept)
        where = pa.array(index)
        converted = _Converted(sessions.take(index), given.take(where), start_text.take(where), key[index])
    return converted, rejects


def _partials(
    sessions: Sessions, rejects: list[tuple[int, str]], max_gap_s: int
) -> tuple[Sessions, list[tuple[int, str]]]:
    """The rows that are one session's partial records, exported one a row (an operator's portal
    that already cut its sessions, at 12 h, at a volume limit, at a change of serving node): the
    rows of one line and one session id given by the file, in the order of their starts.  A
    session id is the session's while it lasts (an Acct-Session-Id, a GGSN's charging id with its
    address), so the row after one is its next partial record (TS 32.298: the record sequence
    number links the partial records of one context), not another session: their records are
    numbered on from the row before's.  One context's partial records abut: a row starting after
    the one before it ends means the file lost the partial record(s) between them; the two are kept
    as one session, and the later row is noted (`Sessions.notes`), naming both.  A row starting more
    than `max_gap_s` after the one before it ends is not one of its session's partial records but
    another session given the same id (`default_max_gap`): a session of its own, its records numbered
    from 1, noted (`Sessions.reused`), naming both.  A row after one saying the session was released
    then (`abnormal`, or a `cause` 0, 4 or 5), within `max_gap_s`, is a reject, and so are the rows
    after it: a next partial record of a released session, or another session given its id, which
    one is not known.  `chain`, `part` and `more` of the sessions say it."""
    while True:
        chain, part, more, before, broken, after = _links(sessions, max_gap_s)
        if broken:
            sessions = _without_broken(sessions, broken, before, rejects)
            continue
        end = sessions.start + sessions.duration
        gaps = np.flatnonzero(before >= 0)
        gaps = gaps[end[before[gaps]] < sessions.start[gaps]]
        notes = Noted.of(GAP, sessions, gaps, before, max_gap_s)
        reused = Noted.of(REUSED, sessions, np.flatnonzero(after >= 0), after, max_gap_s)
        return (
            replace(sessions, chain=chain, part=part, more=more, notes=notes, reused=reused),
            rejects,
        )


@dataclass(frozen=True, eq=False)
class Noted:
    """Rows noted of one kind (`GAP`, `REUSED`), in the order of their rows, kept as arrays (a row's
    number, line, session id and start, and the earlier row it follows and that row's end): each
    warning is formatted only as it is written (`lines`).  A file of rows nearly all giving their
    id again noted most of its rows: their messages, about 450 bytes each, were all held to the end
    (+2.3 GB at 5 million rows)."""

    kind: int
    max_gap_s: int
    row: I64
    line: pa.ChunkedArray
    session: pa.ChunkedArray
    start: I64
    earlier: I64
    until: I64

    @staticmethod
    def none(kind: int, max_gap_s: int = 0) -> Noted:
        empty = np.zeros(0, dtype=np.int64)
        strings = pa.chunked_array([], pa.string())
        return Noted(kind, max_gap_s, empty, strings, strings, empty, empty, empty)

    @staticmethod
    def of(kind: int, sessions: Sessions, at: I64, earlier: I64, max_gap_s: int) -> Noted:
        """The rows of `sessions` at the places `at`, each following the row at `earlier[place]`."""
        if not len(at):
            return Noted.none(kind, max_gap_s)
        at = at[np.argsort(sessions.row[at], kind="stable")]
        where, b = pa.array(at), earlier[at]
        return Noted(
            kind,
            max_gap_s,
            sessions.row[at],
            pa.chunked_array([sessions.line.take(where)]),
            pa.chunked_array([sessions.session.take(where)]),
            sessions.start[at],
            sessions.row[b],
            sessions.start[b] + sessions.duration[b],
        )

    @staticmethod
    def joined(kind: int, parts: list[Noted]) -> Noted:
        """The rows of several (the buckets of a file read a block at a time), in the order of their rows."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Noted.none(kind)
        row = np.concatenate([p.row for p in parts])
        order = np.argsort(row, kind="stable")
        where = pa.array(order)

        def strings(arrays: list[pa.ChunkedArray]) -> pa.ChunkedArray:
            chunks = [c.cast(pa.string()) for a in arrays for c in a.chunks]
            return pa.chunked_array(chunks, pa.string()).take(where)

        return Noted(
            kind,
            parts[0].max_gap_s,
            row[order],
            strings([p.line for p in parts]),
            strings([p.session for p in parts]),
            np.concatenate([p.start for p in parts])[order],
            np.concatenate([p.earlier for p in parts])[order],
            np.concatenate([p.until for p in parts])[order],
        )

    def __len__(self) -> int:
        return len(self.row)

    def __bool__(self) -> bool:
        return len(self.row) > 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Noted) and list(self.lines()) == list(other.lines())

    __hash__ = None  # type: ignore[assignment]

    def lines(self, chunk: int = 4096) -> Iterator[tuple[int, str]]:
        """(row, why) of each row, in the order of their rows, formatted as they are taken."""
        for at in range(0, len(self.row), chunk):
            end = at + chunk
            yield from (
                (row, self._why(row, line, given, start, earlier, until))
                for row, line, given, start, earlier, until in zip(
                    self.row[at:end].tolist(),
                    self.line.slice(at, chunk).to_pylist(),
                    self.session.slice(at, chunk).to_pylist(),
                    self.start[at:end].tolist(),
                    self.earlier[at:end].tolist(),
                    self.until[at:end].tolist(),
                    strict=True,
                )
            )

    def _why(self, row: int, line: str, given: str, start: int, earlier: int, until: int) -> str:
        if self.kind == GAP:
            return (
                f"session {given!r} of line {line!r} from {_utc(start)} follows row {earlier}, the same "
                f"session up to {_utc(until)}: the partial record(s) of the {start - until} s between "
                "them are not in the file (one session's partial records abut, TS 32.298); kept as one "
                f"session, its records numbered on from row {earlier}'s"
            )
        return (
            f"session {given!r} of line {line!r} from {_utc(start)} follows row {earlier}, the same "
            f"session id up to {_utc(until)}, {start - until} s after it, more than the {self.max_gap_s} s "
            "a session's lost partial records may leave: another session given the id again (a NAS "
            "numbering its sessions anew after a restart, a counter that wrapped), its records "
            "numbered from 1"
        )


def noted_lines(*kinds: Noted) -> Iterator[tuple[int, str]]:
    """(row, why) of the rows noted of every kind, in the order of their rows (`GAP` before `REUSED`
    at one row), each formatted as it is taken."""
    import heapq

    return heapq.merge(*(k.lines() for k in sorted(kinds, key=lambda k: k.kind)), key=lambda item: item[0])


def _without_broken(
    sessions: Sessions, broken: list[tuple[int, list[int]]], before: I64, rejects: list[tuple[int, str]]
) -> Sessions:
    """The sessions without the rows after one saying the session was released (listed in
    `rejects`, in the order of their rows)."""
    dropped: list[int] = []
    lines = sessions.line.to_pylist()
    ids = sessions.session.to_pylist()
    for released, tail in broken:
        cause = int(sessions.cause[released])
        said = (
            "released abnormally" if cause in (NO_CAUSE, 4) else f"released (cause {cause}, {CAUSES[cause]})"
        )
        for at in tail:
            b = int(before[at])
            end = int(sessions.start[b] + sessions.duration[b])
            head = f"session {ids[at]!r} of line {lines[at]!r} from {_utc(int(sessions.start[at]))} "
            if b != released:
                why = f"continues row {int(sessions.row[b])}, rejected: the session it continues is not known"
            elif end == int(sessions.start[at]):
                why = (
                    f"continues row {int(sessions.row[b])}, its partial record up to then, which says the "
                    f"session was {said} then: a next partial record of a released session, or another "
                    "session given its id that second, which one is not known"
                )
            else:
                why = (
                    f"follows row {int(sessions.row[b])}, the same session id up to {_utc(end)}, which "
                    f"says the session was {said} then: a partial record of a released session, or "
                    "another session given its id, which one is not known"
                )
            rejects.append((int(sessions.row[at]), head + why))
            dropped.append(at)
    rejects.sort()
    keep = np.ones(len(sessions), dtype=bool)
    keep[dropped] = False
    return sessions.take(np.flatnonzero(keep))


def _links(
    sessions: Sessions, max_gap_s: int
) -> tuple[I64, I64, npt.NDArray[np.bool_], I64, list[tuple[int, list[int]]], I64]:
    """`chain`, `part`, `more` of `_partials`, the row each row continues (-1 none), the partial
    records that continue one saying the session was released (its row, and the rows continuing
    it, by time), and the row of the same session id each row follows past `max_gap_s` (-1 none)."""
    n = len(sessions)
    chain = np.arange(n, dtype=np.int64)
    part = np.zeros(n, dtype=np.int64)
    more = np.zeros(n, dtype=bool)
    before = np.full(n, -1, dtype=np.int64)
    after = np.full(n, -1, dtype=np.int64)
    named = np.flatnonzero(sessions.named)
    if len(named) < 2:
        return chain, part, more, before, [], after
    key = _mix(_hashes(sessions.line.take(pa.array(named))), _hashes(sessions.session.take(pa.array(named))))
    by_time = np.lexsort((sessions.start[named], key))
    order = named[by_time]
    key = key[by_time]
    link = key[1:] == key[:-1]
    if link.any():  # (the same line and id, not only the same hash)
        at = np.flatnonzero(link)
        a, b = pa.array(order[at]), pa.array(order[at + 1])
        same = [
            x == y
            for x, y in zip(
                zip(sessions.line.take(a).to_pylist(), sessions.session.take(a).to_pylist(), strict=True),
                zip(sessions.line.take(b).to_pylist(), sessions.session.take(b).to_pylist(), strict=True),
                strict=True,
            )
        ]
        link[at] = same
    if link.any():  # (the same session id: another session past the gap a session may leave)
        ends = sessions.start[order[:-1]] + sessions.duration[order[:-1]]
        apart = link & (sessions.start[order[1:]] - ends > min(max_gap_s, LAST_S - FIRST_S))
        after[order[1:][apart]] = order[:-1][apart]
        link &= ~apart
    if not link.any():
        return chain, part, more, before, [], after
    first = np.concatenate([[True], ~link])  # (a row of `order` that continues none)
    head = np.flatnonzero(first)[np.cumsum(first) - 1]
    chain[order] = order[head]
    part[order] = np.arange(len(order)) - head
    more[order[:-1]] = link
    before[order[1:][link]] = order[:-1][link]
    released = sessions.abnormal | np.isin(sessions.cause, RELEASES)
    broken: list[tuple[int, list[int]]] = []
    for k in np.flatnonzero(link & released[order[:-1]]).tolist():
        if broken and order[k] in broken[-1][1]:
            continue  # (continues a rejected one: rejected with it)
        tail = []
        j = k
        while j < len(link) and link[j]:
            tail.append(int(order[j + 1]))
            j += 1
        broken.append((int(order[k]), tail))
    return chain, part, more, before, broken, after


def _hashes(strings: pa.Array) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each string's bytes (equal strings, equal hashes, in any block of a file:
    a string past 40 bytes was hashed by its index in the strings' dictionary, which another block
    numbers otherwise); `accounting.usage_arrow.text_hashes`, the rule of `rate`'s duplicates."""
    from accounting.usage_arrow import text_hashes

    if not len(strings):
        return np.zeros(0, dtype=np.uint64)
    return np.asarray(text_hashes(strings), dtype=np.uint64)


def _mix(*columns: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each row of these columns (equal rows, equal hashes)."""
    h = np.full(len(columns[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in columns:
            h = (h ^ c) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
    return h


def _trimmed(column: pa.Array) -> pa.Array:
    """The fields without the spaces and tabs around them (as `str.strip` leaves an ASCII field
    of printable characters and tabs), the column itself when none has any."""
    import pyarrow.compute as pc

    for blank in (" ", "\t"):
        if pc.any(pc.starts_with(column, blank)).as_py() or pc.any(pc.ends_with(column, blank)).as_py():
            return pc.utf8_trim(column, characters=" \t")
    return column


_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]  # of `YYYY-MM-DDThh:mm:ss`
_SIGNS = {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":"}


def _seconds(text: pa.Array) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Seconds since 1970 (UTC, floored to the second) of ISO 8601 starts written
    `YYYY-MM-DDThh:mm:ss[.f]` (1 to 6 digits) with `Z` or `+hh:mm`, and whether each is one that
    `_start` reads as a date and time in the calendar (the others are left to it).  Read from the
    strings' bytes by numpy, a block of rows at a time."""
    n = len(text)
    seconds = np.zeros(n, dtype=np.int64)
    good = np.zeros(n, dtype=bool)
    buffers = text.buffers()
    if n == 0 or buffers[2] is None or buffers[2].size == 0:
        return seconds, good
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[text.offset : text.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        head, tail, point, length = _windows(data, offsets[lo : hi + 1])
        zulu = tail[:, 5] == ord("Z")
        fraction = length - 19 - np.where(zulu, 1, 6)
        digit = (head[:, _DIGITS] >= 48) & (head[:, _DIGITS] <= 57)
        ok = digit.all(axis=1) & (length >= 20) & (length <= 32)
        for at, signs in _SIGNS.items():
            ok &= np.isin(head[:, at], list(signs))
        zone = (tail[:, 1:] >= 48) & (tail[:, 1:] <= 57)
        zone[:, 2] = tail[:, 3] == ord(":")
        ok &= zulu | (zone.all(axis=1) & ((tail[:, 0] == ord("+")) | (tail[:, 0] == ord("-"))))
        decimals = (point[:, 1:] >= 48) & (point[:, 1:] <= 57)
        decimals |= np.arange(1, 7) >= fraction[:, None]  # (past the fraction: not looked at)
        ok &= (fraction == 0) | (
            (fraction >= 2) & (fraction <= 7) & (point[:, 0] == ord(".")) & decimals.all(axis=1)
        )
        y, m, d = _number(head, 0, 1, 2, 3), _number(head, 5, 6), _number(head, 8, 9)
        hh, mi, ss = _number(head, 11, 12), _number(head, 14, 15), _number(head, 17, 18)
        oh = np.where(zulu, 0, _number(tail, 1, 2))
        om = np.where(zulu, 0, _number(tail, 4, 5))
        sign = np.where(tail[:, 0] == ord("-"), -1, 1)
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        dim = _MONTH_DAYS[np.clip(m, 0, 13)] + ((m == 2) & leap)
        ok &= (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= dim)
        ok &= (hh <= 23) & (mi <= 59) & (ss <= 59) & (oh <= 23) & (om <= 59)
        # days from the civil date (H. Hinnant's algorithm)
        yy = y - (m <= 2)
        era = yy // 400
        yoe = yy - era * 400
        doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
        days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
        seconds[lo:hi] = days * 86_400 + hh * 3_600 + mi * 60 + ss - sign * (oh * 3_600 + om * 60)
        good[lo:hi] = ok
    return seconds, good


def _number(matrix: npt.NDArray[np.uint8], *at: int) -> I64:
    """The number the digits in these columns of a matrix of bytes write."""
    value = np.zeros(len(matrix), dtype=np.int64)
    for k in at:
        value = value * 10 + matrix[:, k] - 48
    return value


def _windows(
    data: npt.NDArray[np.uint8], offsets: I64
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8], I64]:
    """Of the strings between these offsets of `data`: their first 19 bytes, their last 6, their
    bytes 19 to 25 (0 past their end) and their lengths.  Strings all of one length (a column of
    one export) are read as a matrix, without copying them."""
    begin = offsets[:-1]
    length = np.diff(offsets)
    width = int(length[0])
    if width >= 20 and (length == width).all():
        matrix = data[int(offsets[0]) : int(offsets[-1])].reshape(-1, width)
        point = np.zeros((len(length), 7), dtype=np.uint8)
        point[:, : min(width, 26) - 19] = matrix[:, 19:26]
        return matrix[:, :19], matrix[:, width - 6 :], point, length
    last = len(data) - 1
    head = data[np.minimum(begin[:, None] + np.arange(19), last)]
    tail = data[np.clip((begin + length - 6)[:, None] + np.arange(6), 0, last)]
    point = data[np.minimum(begin[:, None] + np.arange(19, 26), last)]
    return head, tail, point, length


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0], dtype=np.int64)


def _utc(seconds: int) -> str:
    """A time in seconds since 1970 as ISO 8601 in UTC (`2026-03-01T10:00:00Z`)."""
    return (EPOCH + seconds * SECOND).isoformat().replace("+00:00", "Z")


Held = tuple[int, int, int]  # a session's start, end (seconds since 1970) and row


def _overlapping(spans: list[Held], start: int, end: int) -> Held | None:
    """The session of `spans` (sorted, apart from one another: a session id is a session's while it
    lasts, an Acct-Session-Id or a charging id) whose time shares a moment with `[start, end]`, else
    None.  One ending as the other begins does not (a session's records exported one a row); one
    opened at the same second does."""
    i = bisect.bisect_left(spans, (start,))
    for other in spans[max(i - 1, 0) : i + 1]:
        if (other[0] < end and start < other[1]) or other[0] == start:
            return other
    return None


def _misspelt_column(header: list[str], source: str) -> None:
    """An unknown column close to a known one the file lacks (`Zone`, `sesion`) is refused: read as
    another column it would be left aside, and every session taken as in France or normal without a
    word (`accounting.csv_forms.misspelt_column`, the rule of the usage files).  Other columns of an
    operator's export (an IMSI, an APN) are left aside."""
    for name in header:
        near = misspelt_column(name, header, (*SESSION_COLUMNS, *OPTIONAL_COLUMNS))
        if near is not None:
            raise UnusableFile(f"{source}:1: column {name!r}: unknown column (did you mean {near!r}?)")


class UnusableFile(Exception):
    """An input file that cannot be used at all (the text names it)."""


def _decompressed(path: Path, data: bytes) -> bytes:
    """A file's bytes decompressed as its name says (`.gz`, `.zst`; a name that says another
    compression than its data's, damaged data, data cut short: `UnusableFile`), else as read."""
    import gzip
    import zlib

    from accounting.errors import AccountingError

    name = path.name.lower()
    if not name.endswith((".gz", ".zst")):
        found = compression_of(data[:4])
        if found is not None:  # (as rate says it: else "binary data (a NUL byte)", or "not UTF-8")
            end = ".gz" if found == "gzip" else ".zst"
            raise UnusableFile(f"{path}: compressed by {found}: name it {path.name}{end}, or decompress it")
        return data
    try:
        named_compression(path)
    except AccountingError as exc:
        raise UnusableFile(str(exc)) from None
    if name.endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # (BadGzipFile is an OSError)
            why = f"damaged: not gzip data as its writer left them ({exc}); nothing was read"
            raise UnusableFile(f"{path}: {why}") from None
    import pyarrow as pa

    from accounting.usage_csv_arrow import zstd_error

    try:
        with pa.input_stream(pa.BufferReader(data), compression="zstd") as stream:
            return bytes(stream.read())
    except OSError as exc:
        raise UnusableFile(str(zstd_error(path, exc, "read"))) from None


# Streaming: a file past STREAM_BLOCK bytes is read a block at a time (`scan_sessions`).
STREAM_BLOCK = 4 << 20
_HEAD = 1 << 20  # where a streamed file's header row must end


class _NotStreamed(Exception):
    """A file the blocks cannot read as the whole file is read: read whole (`read_sessions`)."""


@dataclass
class Scan:
    """The sessions of a CSV file, to be cut a batch at a time (`batches`, in the file's order, `more`
    set), with its rejected rows and notes, and for the rows of a session exported one partial
    record a row (`linked`, by row number): the sequence number of each one's first record
    (`first`).  A context manager: it holds a temporary copy of the rows converted."""

    rejects: list[tuple[int, str]]
    notes: Noted  # rows after a gap in their session (`Sessions.notes`)
    partials: int  # rows continuing the session of another
    linked: I64  # rows (sorted) of a session exported one partial record a row
    more: npt.NDArray[np.bool_]  # of `linked`: continued by the next one
    first: I64  # of `linked`: the sequence number of its first record
    phase: I64  # of `linked`: the seconds it starts after a time-limit cut of its session
    reused: Noted = field(default_factory=lambda: Noted.none(REUSED))  # (`Sessions.reused`)
    _whole: Sessions | None = None
    _spill: Any = None  # (the temporary file of `_scan_blocks`)
    _dropped: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def batches(self) -> Iterator[Sessions]:
        """The sessions kept, in the file's order, a batch at a time (`more` set)."""
        if self._whole is not None:
            yield self._whole
            return
        import pyarrow.ipc as ipc

        self._spill.seek(0)
        for batch in ipc.open_stream(self._spill):
            sessions = _unspilled(batch).sessions
            if len(self._dropped):
                keep = ~_among(self._dropped, sessions.row)
                if not keep.all():
                    sessions = sessions.take(np.flatnonzero(keep))
            more = np.zeros(len(sessions), dtype=bool)
            if len(self.linked):
                at = np.minimum(np.searchsorted(self.linked, sessions.row), len(self.linked) - 1)
                hit = self.linked[at] == sessions.row
                more[hit] = self.more[at[hit]]
            yield replace(sessions, more=more)

    def __enter__(self) -> Scan:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None


def first_sequences(sessions: Sessions, interval_s: int) -> tuple[I64, I64]:
    """The sequence number of each row's first record: 1, or for a row that continues a session
    exported one partial record a row, one more than the session's rows before it give; and the
    seconds it starts after a time-limit cut of its session, counted from the session's first row
    (its context's start: the gateway's cuts count from it whatever trigger closed a record before,
    `cut_sessions`' `phase_s`), or from the session's start a row of it gives (`session_start`:
    the session's first partial records may be lost from the file).  A row within `interval_s` is
    cut there too: a row from 5 h to 17 h of its session is cut at 12 h, as the gateway cuts the
    same context (it was kept whole, closed by the time limit at 17 h, a cut the gateway never
    makes)."""
    origin = sessions.start[sessions.chain]
    if (sessions.origin != NO_ORIGIN).any():  # (a row without it takes the one another row gives)
        chained = _session_starts(sessions)
        origin = np.where(chained != NO_ORIGIN, chained, origin)
    phase = (sessions.start - origin) % interval_s
    counts = record_counts(sessions.duration, interval_s, phase)
    order = np.lexsort((sessions.part, sessions.chain))
    taken = counts[order]
    before = np.cumsum(taken) - taken  # (the records of the rows before, in every session)
    head = np.flatnonzero(sessions.part[order] == 0)
    first = np.empty(len(sessions), dtype=np.int64)
    first[order] = before - before[head][np.cumsum(sessions.part[order] == 0) - 1] + 1
    return first, phase


class SessionStartConflict(ValueError):
    """Rows of one session whose `session_start` cannot all hold (`_session_starts`)."""


def _session_starts(sessions: Sessions) -> I64:
    """The start of each row's session its rows give (`session_start`), else NO_ORIGIN; rows of one
    session giving two starts, or a row of it starting before the start given or more than 366 days
    after it, are a `SessionStartConflict` naming them (the session's marks cannot be told: each
    row cut from its own start gave records the gateway never writes)."""
    given = sessions.origin != NO_ORIGIN
    high = np.full(len(sessions), NO_ORIGIN, dtype=np.int64)
    np.maximum.at(high, sessions.chain, sessions.origin)
    low = np.full(len(sessions), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(low, sessions.chain, np.where(given, sessions.origin, low))
    chained = high[sessions.chain]
    said = chained != NO_ORIGIN
    after = sessions.start - np.where(said, chained, 0)
    bad = said & ((low[sessions.chain] != chained) | (after < 0) | (after > MAX_SESSION_S))
    if bad.any():
        chain = sessions.chain[np.flatnonzero(bad)[0]]
        rows = sessions.row[sessions.chain == chain].tolist()
        others = len(np.unique(sessions.chain[bad])) - 1
        starts = sorted({int(t) for t in sessions.origin[(sessions.chain == chain) & given].tolist()})
        said_as = ", ".join(datetime.fromtimestamp(t, UTC).isoformat() for t in starts)
        raise SessionStartConflict(
            f"rows {', '.join(map(str, rows))}: field 'session_start' ({said_as}): the rows of one "
            f"session (line {sessions.line[int(chain)]}, session {sessions.session[int(chain)]}) "
            "give two starts, or one after a row's start or more than 366 days before it"
            + (f" (and {others} other sessions so)" if others else "")
        )
    return chained


def scan_sessions(path: Path, interval_s: int, max_gap_s: int | None = None) -> Scan:
    """`read_sessions` for a file of any length: one past STREAM_BLOCK bytes (decompressed, for one
    compressed by gzip or zstd as its name says), its header row on its first line (no carriage return inside it, its quotes holding no line end), is
    read a block at a time, each block's rows converted and kept in a temporary file, and only the
    rows whose session id on their line (or, without one, whose values) were seen twice are checked
    together (`_Ids`,
    `_partials`): the rows of a session may be anywhere in the file (an export is in no order), so
    a hash of each row's key (8 bytes a row) is kept until the end of the file.  The same sessions,
    rejects and notes as `read_sessions`; any other file, or one whose blocks cannot be read as the
    whole file is (a row with another number of fields, bytes that are not UTF-8 or NUL, a field
    past Python's csv limit), or a temporary file that cannot be written (no room left), is read
    whole by it.  Rows of one session id on a line more than `max_gap_s` apart (by default
    `default_max_gap(interval_s)`) are two sessions."""
    gap = default_max_gap(interval_s) if max_gap_s is None else max_gap_s
    head = _head(Path(path))
    if head is not None:
        try:
            return _scan_blocks(Path(path), head, interval_s, gap)
        except _NotStreamed as exc:
            log.info("%s: read whole: %s", path, exc)
        except SessionStartConflict as exc:
            raise UnusableFile(f"{path}: {exc}") from None
    sessions, rejects = read_sessions(path, gap)
    partials = int(np.count_nonzero(sessions.part))
    try:
        first, phase = first_sequences(sessions, interval_s)
    except SessionStartConflict as exc:
        raise UnusableFile(f"{path}: {exc}") from None
    return Scan(
        rejects,
        sessions.notes,
        partials,
        sessions.row,
        sessions.more,
        first,
        phase,
        sessions.reused,
        sessions,
    )


Head = tuple[Opened, int, str | None]  # a file's header, where its rows start, its compression


def _head(path: Path) -> Head | None:
    """The header of a file to read a block at a time, where its rows start (in its data
    decompressed) and its compression ("gzip", "zstd" or None); else None: a file of STREAM_BLOCK
    bytes or less (decompressed), compressed data its name does not say (or the other way round),
    data damaged in its first bytes: `read_sessions` says what it says of them."""
    name = path.name.lower()
    named = "gzip" if name.endswith(".gz") else "zstd" if name.endswith(".zst") else None
    try:
        if not path.is_file():
            return None
        with path.open("rb") as f:
            if compression_of(f.read(4)) != named:
                return None
        if named is None:
            if path.stat().st_size <= STREAM_BLOCK:
                return None
            with path.open("rb") as f:
                head = f.read(_HEAD)
        else:
            with decompressing(path, named) as f:
                head = f.read(max(STREAM_BLOCK + 1, _HEAD))
            if len(head) <= STREAM_BLOCK:
                return None
            head = head[:_HEAD]
    except (OSError, EOFError, zlib.error):
        return None  # (`read_sessions` says why)
    begin = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    end = head.find(b"\n", begin)
    if end < 0:
        return None
    row = head[begin:end]
    if b"\r" in row[:-1] or b"\x00" in row or not row.strip() or not _one_line(row, head[begin:]):
        return None
    return _opened(str(path), head[: end + 1]), end + 1, named


def _one_line(row: bytes, head: bytes) -> bool:
    """Whether a header row (its first line `row`, of the file's first bytes `head`) ends with that
    line as Python's csv reads it, by any separator `_opened` may take: no quote, or quotes in pairs
    (as `_table` takes them) that hold no line end (`"a,b",c` does not; `x"y,"z` followed by `w"`
    on the next line does)."""
    if b'"' not in row:
        return True
    if row.count(b'"') % 2:
        return False
    text = _text(head)
    for delimiter in (",", ";", "\t", "|"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            next(reader)
        except (StopIteration, csv.Error):
            return False
        if reader.line_num != 1:
            return False
    return True


_SPILLED = (
    "line", "start", "duration", "bytes_up", "bytes_down", "zone", "session", "abnormal", "cause",
    "row", "named", "origin", "given", "start_text", "key",
)  # fmt: skip


def _spilled(converted: _Converted) -> pa.RecordBatch:
    s = converted.sessions
    columns = (
        s.line, s.start, s.duration, s.bytes_up, s.bytes_down, s.zone, s.session, s.abnormal, s.cause,
        s.row, s.named, s.origin, converted.given, converted.start_text, converted.key,
    )  # fmt: skip
    return pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=list(_SPILLED))


def _unspilled(batch: pa.RecordBatch) -> _Converted:
    c = [batch.column(i) for i in range(batch.num_columns)]

    def numbers(a: pa.Array) -> Any:
        return np.asarray(a.to_numpy(zero_copy_only=False))

    sessions = Sessions(
        c[0], numbers(c[1]), numbers(c[2]), numbers(c[3]), numbers(c[4]), c[5], c[6],
        numbers(c[7]), numbers(c[8]), numbers(c[9]), numbers(c[10]), numbers(c[11]),
    )  # fmt: skip
    return _Converted(sessions, c[12], c[13], numbers(c[14]))


def _plain(table: pa.Table) -> bool:
    """Whether every field of the table is printable ASCII, tabs and spaces; `_NotStreamed` for a
    NUL (read whole, as Python's csv reads it) or a field past Python's csv limit."""
    import pyarrow.compute as pc

    plain = True
    for column in table.columns:
        for chunk in column.chunks:
            if len(chunk) and pc.max(pc.utf8_length(chunk)).as_py() > _BIGGEST_FIELD:
                raise _NotStreamed("a field past Python's csv limit")
            data = chunk.buffers()[2]
            if data is None:
                continue
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
                chunk.offset : chunk.offset + len(chunk) + 1
            ]
            values = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
            if not values.all():
                raise _NotStreamed("a NUL byte")
            plain = plain and not _NOT_PLAIN[values].any()
    return plain


_NOT_PLAIN = np.ones(256, dtype=bool)
_NOT_PLAIN[[9, *range(32, 127)]] = False


def _scan_blocks(path: Path, head: Head, interval_s: int, max_gap_s: int) -> Scan:
    """`scan_sessions` of a file read a block at a time (decompressed as it is read: `_head`)."""
    import pyarrow.csv as pacsv
    import pyarrow.ipc as ipc

    opened, begin, kind = head
    header = opened.header
    names = [f"c{i}" for i in range(len(header))]
    rejects: list[tuple[int, str]] = []
    keys: list[npt.NDArray[np.uint64]] = []
    try:
        spill = tempfile.TemporaryFile(prefix="m2msim-sessions-")  # noqa: SIM115 (held by the Scan, closed by it)
    except OSError as exc:
        raise _NotStreamed(f"no temporary file: {exc}") from None
    try:
        with path.open("rb") if kind is None else decompressing(path, kind) as f:
            try:
                if kind is None:
                    f.seek(begin)
                else:
                    f.read(begin)  # (the header: data decompressed are read in order)
                reader = pacsv.open_csv(
                    f,
                    read_options=pacsv.ReadOptions(
                        column_names=names, use_threads=False, block_size=STREAM_BLOCK
                    ),
                    parse_options=pacsv.ParseOptions(
                        delimiter=opened.delimiter, newlines_in_values=True, ignore_empty_lines=True
                    ),
                    convert_options=_as_text(names),
                )
                writer = None
                first = 2
                for batch in reader:
                    if not batch.num_rows:
                        continue
                    table = pa.Table.from_batches([batch])
                    del batch
                    plain = _plain(table)
                    converted, found = _converted(header, [(table, plain)], first)
                    first += table.num_rows
                    del table
                    rejects += found
                    keys.append(converted.key)
                    spilled = _spilled(converted)
                    if writer is None:
                        writer = ipc.new_stream(spill, spilled.schema)
                    writer.write_batch(spilled)
                    del converted, spilled
                    pa.default_memory_pool().release_unused()  # (the block's copies: the next one reuses none)
                if writer is not None:
                    writer.close()
            except (pa.ArrowException, ValueError, OSError, EOFError, zlib.error) as exc:
                # (OSError: the temporary file's too; with EOFError, zlib.error: compressed data
                # damaged or cut short, read whole to be said as they were)
                raise _NotStreamed(str(exc)) from None
        ordered = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
        del keys
        ordered.sort()
        same = ordered[1:] == ordered[:-1]
        again = 2 * int(np.count_nonzero(same)) - int(np.count_nonzero(same[1:] & same[:-1]))  # (rows)
        twice = ordered[1:][same]
        del ordered, same
        twice = twice[np.concatenate([[True], twice[1:] != twice[:-1]])] if len(twice) else twice
        try:
            scan = _linked(spill, twice, again, interval_s, max_gap_s, rejects)
        except (pa.ArrowException, OSError) as exc:  # (the temporary files: no room left)
            raise _NotStreamed(str(exc)) from None
        scan._spill = spill
        return scan
    except BaseException:
        spill.close()
        raise


BUCKET_ROWS = 1 << 16  # rows whose key was seen twice checked together (their Python objects)


def _linked(
    spill: Any,
    twice: npt.NDArray[np.uint64],
    again: int,
    interval_s: int,
    max_gap_s: int,
    rejects: list[tuple[int, str]],
) -> Scan:
    """The scan of the rows of the temporary file whose key was seen twice (`twice`, sorted; `again`
    rows): in buckets of about BUCKET_ROWS rows by their key (the rows of one session, or of one
    session given twice, in one bucket), each checked one by one in the file's order (`_repeats`),
    then its rows of one session id linked (`_partials`)."""
    import pyarrow.ipc as ipc

    buckets = min(max(-(-again // BUCKET_ROWS), 1), 256)
    files: list[Any] = []
    writers: list[Any] = []
    notes: list[Noted] = []
    reused: list[Noted] = []
    rows: list[I64] = []
    mores: list[npt.NDArray[np.bool_]] = []
    firsts: list[I64] = []
    phases: list[I64] = []
    dropped: list[I64] = []
    partials = 0
    try:
        if len(twice):
            spill.seek(0)
            for batch in ipc.open_stream(spill):
                key = batch.column(len(_SPILLED) - 1).to_numpy(zero_copy_only=False)
                hit = _among(twice, key)
                if not hit.any():
                    continue
                which = key % np.uint64(buckets)
                for b in np.unique(which[hit]).tolist():
                    taken = batch.take(pa.array(np.flatnonzero(hit & (which == b))))
                    if not files:
                        files = [tempfile.TemporaryFile(prefix="m2msim-sessions-") for _ in range(buckets)]  # noqa: SIM115
                        writers = [ipc.new_stream(f, taken.schema) for f in files]
                    writers[b].write_batch(taken)
        for f, writer in zip(files, writers, strict=True):
            writer.close()
            f.seek(0)
            table = ipc.open_stream(f).read_all()
            if not table.num_rows:
                continue
            converted = _unspilled(table.combine_chunks().to_batches()[0])
            del table
            s = converted.sessions
            gone = _repeats(converted, np.arange(len(s), dtype=np.int64), rejects)
            keep = np.ones(len(s), dtype=bool)
            keep[gone] = False
            bucket, rejects = _partials(s.take(np.flatnonzero(keep & s.named)), rejects, max_gap_s)
            lost = s.row[~keep | s.named]
            dropped.append(lost[~_among(bucket.row, lost)])
            notes.append(bucket.notes)
            reused.append(bucket.reused)
            rows.append(bucket.row)
            mores.append(bucket.more)
            first_of, phase_of = first_sequences(bucket, interval_s)
            firsts.append(first_of)
            phases.append(phase_of)
            partials += int(np.count_nonzero(bucket.part))
    finally:
        for f in files:
            f.close()
    linked = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    order = np.argsort(linked, kind="stable")
    more = np.concatenate(mores)[order] if rows else np.zeros(0, dtype=bool)
    first = np.concatenate(firsts)[order] if rows else np.zeros(0, dtype=np.int64)
    phase = np.concatenate(phases)[order] if rows else np.zeros(0, dtype=np.int64)
    gone_rows = np.sort(np.concatenate(dropped)) if dropped else np.zeros(0, dtype=np.int64)
    rejects.sort()
    return Scan(
        rejects,
        Noted.joined(GAP, notes),
        partials,
        linked[order],
        more,
        first,
        phase,
        Noted.joined(REUSED, reused),
        _dropped=gone_rows,
    )


def _among(ordered: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Whether each of `values` is one of `ordered` (sorted): `np.isin` by a binary search, without
    its sort of both (or its hash table: seconds for a million values)."""
    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.asarray(ordered[at] == values)
