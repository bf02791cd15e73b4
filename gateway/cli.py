"""Gateway commands for `m2msim`.

- `m2msim sessions-to-records SESSIONS.csv OUT` cuts data sessions (an
  operator's session export) into 12-hour partial usage records.
- `m2msim alarms-check ALARMS.yaml` validates an alarm configuration.
- `m2msim records-from-pcap` comes from `gateway.capture.cli`;
  `m2msim records-from-radius-detail` and `records-from-osmo-cdr` from `gateway.logs.cli`.

Exit status: 0 done; 1 when some rows were rejected (listed on stderr); 2 when
an input cannot be used at all (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import io
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from accounting.csv_forms import (
    misspelt_column,
    named_compression,
    other_separator,
    other_than_csv,
    separator_note,
)
from accounting.records import Zone
from accounting.usage_writer import UsageWriter, format_for, is_usage_file, misnamed_output
from gateway.alarms import load_alarm_config
from gateway.errors import ConfigError
from gateway.partial import INTERVAL_S, cut_sessions, record_count, usage_columns
from m2msim.compressed import compression_of
from m2msim.outputs import (
    OutputError,
    atomic_path,
    check_parents,
    output_lock,
    refuse_foreign,
    refuse_same_file,
    track_output,
)
from m2msim.yamlio import YamlError, decode_text, read_file_bytes

SESSION_COLUMNS = ("line", "start", "duration_s", "bytes_up", "bytes_down")
OPTIONAL_COLUMNS = ("zone", "session", "abnormal")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register(subparsers: Any) -> None:
    """Add the gateway's commands to the `m2msim` parser."""
    p = subparsers.add_parser(
        "sessions-to-records",
        help="cut data sessions (CSV) into 12-hour partial usage records",
        description=(
            "Read data sessions (CSV columns line, start, duration_s, bytes_up, bytes_down; optional "
            "zone, session, abnormal) and write one usage record per 12-hour period and per session end."
        ),
    )
    p.add_argument("sessions", type=Path, metavar="SESSIONS", help="sessions CSV with a header row")
    p.add_argument("out", type=Path, metavar="OUT", help="usage records to write (.csv or .parquet)")
    p.add_argument(
        "--interval",
        type=int,
        default=INTERVAL_S,
        help="seconds between partial records (60..43200, default 43200)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an OUT file m2msim did not write (usage records)"
    )
    p.set_defaults(handler=cmd_sessions_to_records)
    a = subparsers.add_parser("alarms-check", help="validate an autodiagnostic alarm configuration")
    a.add_argument("config", type=Path, metavar="ALARMS", help="alarm configuration (YAML)")
    a.set_defaults(handler=cmd_alarms_check)
    from gateway.logs import cli as logs_cli

    logs_cli.register(subparsers)
    try:
        from gateway.capture import cli as capture_cli
    except ImportError:
        return
    capture_cli.register(subparsers)


def _fail(command: str, message: str) -> int:
    print(f"m2msim {command}: {message}", file=sys.stderr)
    return 2


MAX_SESSION_S = 366 * 86_400  # a session longer than a year is not one a network produced
MAX_BYTES = 2**50  # a petabyte per session and direction
MAX_FIELD = 256  # characters in one field
MIN_INTERVAL_S = 60  # RFC 2869 5.16: an Acct-Interim-Interval "MUST NOT be smaller than 60"
CHUNK_RECORDS = 1 << 20  # records cut and written at once (a session gives 527,040 at the most)
Row = tuple[str, int, int, int, int, str, str, bool]
SECOND = timedelta(seconds=1)
FIRST_S = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // SECOND  # 0001-01-01T00:00:00Z
LAST_S = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH) // SECOND  # 9999-12-31T23:59:59Z
LAST_INSTANT = time(23, 59, 59, 999_999)  # where a leap second is read (`accounting.starts`)
_NOT_TEXT = re.compile("[\udc00-\udcff]")  # bytes that were not UTF-8, or NUL, as read
_LEAP = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d):60(\.\d+)?(.*)$")


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
    session = (row.get("session") or "").strip() or f"row{number}"
    seconds = (start - EPOCH) // SECOND  # floored to its second, as records are whole seconds
    if seconds < FIRST_S or seconds + values[0] > LAST_S:
        raise RowReject(
            f"field 'start' {row['start']!r}: the session's records would fall outside the years "
            "1 to 9999 (UTC), which usage records cannot hold"
        )
    return line, seconds, values[0], values[1], values[2], zone, session, abnormal_text in ("1", "true")


def read_sessions(path: Path) -> tuple[list[Row], list[tuple[int, str]]]:
    """The sessions of a CSV file and its rejected rows (row number, reason).

    A row is rejected, and the others converted, for: a wrong number of fields (a truncated last
    row too), bytes that are not UTF-8 (or NUL), an over-long field, a value no network produces,
    a row that is an earlier one's session again (as read, not as written) or gives its session
    id, line and start other values.  A file that cannot be used at all (missing, a directory,
    empty, binary, a header that is not UTF-8, lacks a column or names one twice, compressed
    data that are damaged or cut short) raises `UnusableFile`.  As `rate` reads a CSV:
    compressed by gzip (`.gz`) or zstd (`.zst`), its fields separated by `;`, a tab or `|` when
    its header is."""
    source = str(path)
    try:
        data = _decompressed(Path(path), read_file_bytes(path, source, "CSV file"))
    except YamlError as exc:
        raise UnusableFile(str(exc)) from None
    other = other_than_csv(data[: data.find(b"\n") + 1] if b"\n" in data else data)
    if other is not None:  # (a workbook, UTF-16 text: it was "binary data (a NUL byte)")
        raise UnusableFile(f"{source}: {other}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
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
    # Bad bytes stay in their row (surrogates), which is then rejected: one bad row is not a bad file.
    text = data.decode("utf-8", errors="surrogateescape").replace("\x00", "\udc00")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        delimiter = other_separator(header, SESSION_COLUMNS)
        if delimiter is not None:  # (a spreadsheet's export in a locale whose lists use ';')
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            header = [h.strip() for h in next(reader)]
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
    rows: list[Row] = []
    rejects: list[tuple[int, str]] = []
    seen: dict[tuple[object, ...], int] = {}
    held: dict[tuple[str, str], Held | list[Held]] = {}  # (line, session id): its sessions, by start
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
            if len(fields) != len(header):
                raise RowReject(f"{len(fields)} fields, the header has {len(header)}")
            for name, value in zip(header, fields, strict=True):
                if not value.isascii() and _NOT_TEXT.search(value):
                    raise RowReject(f"field {name!r} holds bytes that are not UTF-8 text")
                if len(value) > MAX_FIELD:
                    raise RowReject(f"field {name!r} is {len(value)} characters long (at most {MAX_FIELD})")
            values = dict(zip(header, fields, strict=True))
            row = _parse_row(values, number)
            # The session as read, not as written (`+01:00` or `Z`, `0100` or `100`, an operator's
            # column): its records would be written twice, and billed twice without a session id.
            key = (*row[:6], (values.get("session") or "").strip(), row[7])
            if key in seen:
                raise RowReject(
                    f"duplicate of row {seen[key]} (the same session: line, start, duration, bytes, "
                    "zone, session and release as read)"
                )
            given = key[6]
            prior = held.get((row[0], given)) if given else None
            spans = [] if prior is None else [prior] if isinstance(prior, tuple) else prior
            lasting = _overlapping(spans, row[1], row[1] + row[2])
            if lasting is not None and lasting[0] == row[1]:
                raise RowReject(
                    f"session {given!r} of line {row[0]!r} opened at {values['start'].strip()} is row "
                    f"{lasting[2]} with other values: which one is right is not known"
                )
            if lasting is not None:
                raise RowReject(
                    f"session {given!r} of line {row[0]!r} from {_utc(row[1])} to "
                    f"{_utc(row[1] + row[2])} overlaps row {lasting[2]}, the same session id from "
                    f"{_utc(lasting[0])} to {_utc(lasting[1])}: a session id is the session's while it "
                    "lasts, so one of them is not right"
                )
            seen[key] = number
            if given:
                span = (row[1], row[1] + row[2], number)
                if prior is None:  # (most session ids are one session's: a tuple, not a list)
                    held[row[0], given] = span
                else:
                    bisect.insort(spans, span)
                    held[row[0], given] = spans
            rows.append(row)
        except RowReject as exc:
            rejects.append((number, str(exc)))
    return rows, rejects


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


def _batches(durations: list[int], interval_s: int, most: int) -> Iterator[tuple[int, int]]:
    """Consecutive sessions (`[lo, hi)` of `durations`) whose records number about `most` at the
    most (a batch ends with the session that reaches it), so that the records are cut and written
    a batch at a time, whatever the file's length."""
    lo = count = 0
    for i, duration in enumerate(durations):
        count += record_count(duration, interval_s)
        if count >= most:
            yield lo, i + 1
            lo, count = i + 1, 0
    if lo < len(durations):
        yield lo, len(durations)


def _write_cut(writer: UsageWriter, rows: list[Row], interval_s: int) -> int:
    """Cut these sessions into records and write them; the number of records."""
    cut = cut_sessions(
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        np.array([r[4] for r in rows], dtype=np.int64),
        interval_s=interval_s,
        abnormal=np.array([r[7] for r in rows], dtype=bool),
    )
    columns = usage_columns(
        cut,
        line=[r[0] for r in rows],
        zone=[r[5] for r in rows],
        session=[r[6] for r in rows],
    )
    writer.write_columns(columns, length=len(cut))
    return len(cut)


def cmd_sessions_to_records(args: argparse.Namespace) -> int:
    if not MIN_INTERVAL_S <= args.interval <= INTERVAL_S:
        return _fail(
            "sessions-to-records",
            f"--interval {args.interval}: out of range ({MIN_INTERVAL_S}..{INTERVAL_S} s: interim "
            "records come at least 60 s apart (RFC 2869, Acct-Interim-Interval), and one is cut at 12 h)",
        )
    with contextlib.ExitStack() as held:
        try:
            check_parents(args.out, "OUT")  # (else "cannot write: File exists" once the work was done)
            refuse_same_file(args.out, [args.sessions], option="OUT")
            if args.out.is_dir():
                raise OutputError(f"OUT {args.out}: is a directory, expected a file name")
            misnamed = misnamed_output(args.out)
            if misnamed is not None:
                raise OutputError(f"OUT {args.out}: {misnamed}")
            refuse_foreign(args.out, is_usage_file, force=args.force, option="OUT")
            track_output(args.out)
            # held from before the sessions are read when its folder exists (a second writer is
            # refused before its work; it was taken for the writing only), else once it is made
            locked = args.out.parent.is_dir()
            if locked:
                held.enter_context(output_lock(args.out))
            rows, rejects = read_sessions(args.sessions)
        except (UnusableFile, OutputError) as exc:
            return _fail("sessions-to-records", str(exc))
        try:
            if not locked:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(output_lock(args.out))
            guarded = atomic_path(args.out, own=is_usage_file, force=args.force, option="OUT")
            with guarded as tmp, UsageWriter(tmp, format_for(args.out)) as writer:
                records = 0
                for lo, hi in _batches([r[2] for r in rows], args.interval, CHUNK_RECORDS):
                    records += _write_cut(writer, rows[lo:hi], args.interval)
        except OutputError as exc:
            return _fail("sessions-to-records", str(exc))
        except OSError as exc:
            return _fail("sessions-to-records", f"{args.out}: cannot write: {exc.strerror or exc}")
    for number, reason in rejects:
        print(f"{args.sessions}: row {number}: rejected: {reason}", file=sys.stderr)
    print(f"{len(rows)} sessions -> {records} records in {args.out}; {len(rejects)} rows rejected")
    return 1 if rejects else 0


def cmd_alarms_check(args: argparse.Namespace) -> int:
    try:
        config = load_alarm_config(args.config)
    except (ConfigError, YamlError) as exc:
        return _fail("alarms-check", str(exc))
    print(
        f"{args.config}: {len(config.groups)} group(s), time zone {config.timezone}, holdoff {config.holdoff_s:g} s"
    )
    for g in config.groups:
        rules = [
            name
            for name, on in (
                ("geography", g.geography is not None),
                ("period", g.period is not None),
                ("imei-change", g.imei_change),
                ("communication-type", g.allowed_types is not None),
                ("threshold", g.threshold is not None),
            )
            if on
        ]
        members = sorted(g.lines) + [f"{p}*" for p in g.line_prefixes]
        print(f"  {g.name}: lines {', '.join(members) or '(none)'}; rules {', '.join(rules) or '(none)'}")
    return 0
