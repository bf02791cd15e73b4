"""Gateway commands for `m2msim`.

- `m2msim sessions-to-records SESSIONS.csv OUT` cuts data sessions (an
  operator's session export) into 12-hour partial usage records.
- `m2msim alarms-check ALARMS.yaml` validates an alarm configuration.
- `m2msim records-from-pcap` comes from `gateway.capture.cli`;
  `m2msim records-from-radius-detail` and `records-from-osmo-cdr` from `gateway.logs.cli`.

Exit status: 0 done; 1 when some rows were rejected, or a session lacks partial records (listed on stderr); 2 when
an input cannot be used at all (one line on stderr, no traceback).  A session id given again past
`--max-gap` (another session) is listed on stderr, exit 0: its records are all there.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from accounting.records import ClosingCause
from accounting.usage_writer import UsageWriter, format_for, is_usage_file, misnamed_output
from gateway.alarms import load_alarm_config
from gateway.errors import ConfigError
from gateway.partial import INTERVAL_S, cut_sessions, record_counts, usage_columns
from gateway.sessions_csv import (
    MAX_GAP_INTERVALS,
    NO_CAUSE,
    NO_ORIGIN,
    Sessions,
    UnusableFile,
    concat_sessions,
    default_max_gap,
    noted_lines,
    scan_sessions,
)
from m2msim.outputs import (
    OutputError,
    atomic_path,
    check_parents,
    output_lock,
    refuse_foreign,
    refuse_same_file,
    track_output,
)
from m2msim.yamlio import YamlError


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
        "--max-gap",
        type=int,
        metavar="S",
        help=(
            "seconds between two rows of one session id on a line past which the later one is another "
            f"session given the id again, not the next partial record (default {MAX_GAP_INTERVALS} "
            f"intervals: {default_max_gap(INTERVAL_S)} at the default --interval)"
        ),
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


MIN_INTERVAL_S = 60  # RFC 2869 5.16: an Acct-Interim-Interval "MUST NOT be smaller than 60"
CHUNK_RECORDS = 1 << 18  # records cut and written at once (a session gives 527,040 at the most)


def _groups(
    batches: Iterator[Sessions],
    linked: npt.NDArray[np.int64],
    first: npt.NDArray[np.int64],
    phase: npt.NDArray[np.int64],
    interval_s: int,
) -> Iterator[tuple[Sessions, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The sessions of `batches` (the file's, in its order) in groups whose records number about
    CHUNK_RECORDS at the most (a group ends with the session that reaches it), the same groups
    whatever the batches, each session with its first sequence number and the seconds it starts
    after a time-limit cut of its session (`first`, `phase` of the rows `linked`, else 1 and 0):
    the records of a group are cut and written at once, whatever the file's length."""
    carry: Sessions | None = None
    for batch in batches:
        sessions = batch if carry is None else concat_sessions(carry, batch)
        total = np.cumsum(
            record_counts(sessions.duration, interval_s, _phases(sessions, linked, phase, interval_s))
        )
        lo = 0
        while lo < len(sessions):
            before = int(total[lo - 1]) if lo else 0
            hi = int(np.searchsorted(total, before + CHUNK_RECORDS, side="left")) + 1
            if hi > len(sessions):
                break  # (the group goes on in the next batch)
            group = sessions.slice(lo, hi)
            yield group, _linked_to(group, linked, first, 1), _phases(group, linked, phase, interval_s)
            lo = hi
        carry = sessions.slice(lo, len(sessions)) if lo < len(sessions) else None
    if carry is not None:
        yield carry, _linked_to(carry, linked, first, 1), _phases(carry, linked, phase, interval_s)


def _phases(
    sessions: Sessions, linked: npt.NDArray[np.int64], phase: npt.NDArray[np.int64], interval_s: int
) -> npt.NDArray[np.int64]:
    """Each session's `phase` (those of the rows `linked`), else the seconds it starts after a mark
    counted from the session's start its row gives (`session_start`), else 0."""
    given = sessions.origin != NO_ORIGIN
    own = np.where(given, (sessions.start - np.where(given, sessions.origin, 0)) % interval_s, 0)
    return _linked_to(sessions, linked, phase, own)


def _linked_to(
    sessions: Sessions,
    linked: npt.NDArray[np.int64],
    values: npt.NDArray[np.int64],
    default: int | npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Each session's value of `values` (those of the rows `linked`), else `default`."""
    out = np.array(np.broadcast_to(default, len(sessions)), dtype=np.int64)
    if len(linked):
        at = np.minimum(np.searchsorted(linked, sessions.row), len(linked) - 1)
        hit = linked[at] == sessions.row
        out[hit] = values[at[hit]]
    return out


def _write_cut(
    writer: UsageWriter,
    sessions: Sessions,
    first: npt.NDArray[np.int64],
    phase: npt.NDArray[np.int64],
    interval_s: int,
) -> tuple[int, int]:
    """Cut these sessions into records and write them (`first`: each one's first sequence number,
    `phase`: the seconds it starts after a time-limit cut of its session); the number of records,
    and of rows off their session's marks (`off_marks`).  A row's last record closes by the cause
    the row gives, else: continued by the next partial record of its session, by the time limit
    where the row ends at a cut (`closing_causes`)."""
    cut = cut_sessions(
        sessions.start,
        sessions.duration,
        sessions.bytes_up,
        sessions.bytes_down,
        interval_s=interval_s,
        abnormal=sessions.abnormal,
        phase_s=phase,
    )
    index = cut.session_index
    if sessions.more.any() or (first != 1).any() or (sessions.cause != NO_CAUSE).any():
        last = np.append(index[1:] != index[:-1], True)
        cut = replace(
            cut,
            sequence=cut.sequence + first[index] - 1,
            cause=np.where(last, closing_causes(sessions, interval_s, phase)[index], cut.cause),
        )
    where = pa.array(index)
    columns: dict[str, Any] = {
        **usage_columns(
            cut, line=np.empty(len(sessions), dtype=object), zone=np.empty(len(sessions), dtype=object)
        ),
        "line": sessions.line.take(where),
        "zone": sessions.zone.take(where),
        "session": sessions.session.take(where),
    }
    writer.write_columns(columns, length=len(cut))
    return len(cut), off_marks(sessions, interval_s, phase)


def off_marks(sessions: Sessions, interval_s: int, phase: npt.NDArray[np.int64] | int = 0) -> int:
    """The rows the file says closed by the time limit (`cause` 17) that end at no mark of their
    session counted from its `session_start` given, else from its first row in the file: the
    session began before that row, its first partial records not in the file (an export without
    the session's start cannot say when it began), or the start given is not its context's; its
    records are cut at marks shifted from the gateway's."""
    ends = (sessions.duration + phase) % interval_s
    return int(np.count_nonzero((sessions.cause == int(ClosingCause.TIME_LIMIT)) & (ends != 0)))


def closing_causes(
    sessions: Sessions, interval_s: int, phase: npt.NDArray[np.int64] | int = 0
) -> npt.NDArray[np.int64]:
    """The cause closing each row's last record: the one its `cause` column gives; else, for a row
    the next partial record of its session continues, the time limit (17) when the row ends at a
    time-limit cut of its session (`phase`: the seconds it starts after one; the cuts count from
    the session's first row), else 98 (m2msim's own: a partial record whose trigger the file does
    not say, a volume limit, a serving node change...); else its release: 4 when `abnormal`, 0."""
    at_mark = (sessions.duration > 0) & ((sessions.duration + phase) % interval_s == 0)
    partial = np.where(at_mark, int(ClosingCause.TIME_LIMIT), int(ClosingCause.PARTIAL_UNSTATED))
    released = np.where(sessions.abnormal, int(ClosingCause.ABNORMAL), int(ClosingCause.NORMAL))
    inferred = np.where(sessions.more, partial, released)
    return np.where(sessions.cause != NO_CAUSE, sessions.cause, inferred).astype(np.int64)


def cmd_sessions_to_records(args: argparse.Namespace) -> int:
    if not MIN_INTERVAL_S <= args.interval <= INTERVAL_S:
        return _fail(
            "sessions-to-records",
            f"--interval {args.interval}: out of range ({MIN_INTERVAL_S}..{INTERVAL_S} s: interim "
            "records come at least 60 s apart (RFC 2869, Acct-Interim-Interval), and one is cut at 12 h)",
        )
    max_gap = default_max_gap(args.interval) if args.max_gap is None else args.max_gap
    if max_gap < 0:
        return _fail("sessions-to-records", f"--max-gap {max_gap}: a number of seconds, 0 or more")
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
            scan = held.enter_context(scan_sessions(args.sessions, args.interval, max_gap))
        except (UnusableFile, OutputError) as exc:
            return _fail("sessions-to-records", str(exc))
        rejects = scan.rejects
        try:
            if not locked:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(output_lock(args.out))
            guarded = atomic_path(args.out, own=is_usage_file, force=args.force, option="OUT")
            with guarded as tmp, UsageWriter(tmp, format_for(args.out)) as writer:
                records = kept = shifted = 0
                for batch, batch_first, batch_phase in _groups(
                    scan.batches(), scan.linked, scan.first, scan.phase, args.interval
                ):
                    written, off = _write_cut(writer, batch, batch_first, batch_phase, args.interval)
                    records += written
                    shifted += off
                    kept += len(batch)
        except OutputError as exc:
            return _fail("sessions-to-records", str(exc))
        except OSError as exc:
            return _fail("sessions-to-records", f"{args.out}: cannot write: {exc.strerror or exc}")
    for number, reason in rejects:
        print(f"{args.sessions}: row {number}: rejected: {reason}", file=sys.stderr)
    for number, reason in noted_lines(scan.notes, scan.reused):  # (each formatted as it is written)
        print(f"{args.sessions}: row {number}: warning: {reason}", file=sys.stderr)
    partials = scan.partials
    rows = (
        f" ({partials} rows continuing the session of another: its partial records one a row)"
        if partials
        else ""
    )
    print(
        f"{kept - partials} sessions{rows} -> {records} records in {args.out}; {len(rejects)} rows rejected"
        + (f"; {len(scan.notes)} gaps (partial records missing)" if scan.notes else "")
        + (
            f"; {shifted} rows closed by the time limit off their session's marks (cut at marks counted "
            "from its session_start, else from its first row: its first partial records not in the "
            "file, or the session_start given not its context's start)"
            if shifted
            else ""
        )
        + (
            f"; {len(scan.reused)} session ids given again (more than --max-gap {max_gap} s after: "
            "other sessions)"
            if scan.reused
            else ""
        )
    )
    return 1 if rejects or scan.notes else 0


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
