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
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from accounting.records import Zone
from accounting.usage_writer import UsageWriter
from gateway.alarms import load_alarm_config
from gateway.errors import ConfigError
from gateway.partial import INTERVAL_S, cut_sessions, usage_columns
from m2msim.yamlio import YamlError

SESSION_COLUMNS = ("line", "start", "duration_s", "bytes_up", "bytes_down")
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
    p.add_argument("--interval", type=int, default=INTERVAL_S, help="seconds between partial records (43200)")
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


def _fail(message: str) -> int:
    print(f"m2msim: {message}", file=sys.stderr)
    return 2


def _parse_row(row: dict[str, str], number: int) -> tuple[str, int, int, int, int, str, str, bool]:
    line = (row.get("line") or "").strip()
    if not line:
        raise ValueError("field 'line' is empty")
    try:
        start = datetime.fromisoformat(row["start"].strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"field 'start' {row['start']!r} is not an ISO 8601 time") from exc
    if start.tzinfo is None:
        raise ValueError(f"field 'start' {row['start']!r} has no UTC offset")
    values = []
    for name in ("duration_s", "bytes_up", "bytes_down"):
        text = row[name].strip()
        if not text.isdigit():
            raise ValueError(f"field {name!r} {text!r} is not a non-negative integer")
        values.append(int(text))
        if values[-1] >= 2**62:
            raise ValueError(f"field {name!r} {text} is absurdly large")
    zone = (row.get("zone") or "fr").strip() or "fr"
    try:
        Zone(zone)
    except ValueError as exc:
        raise ValueError(f"field 'zone' {zone!r} is not fr, eu or world") from exc
    abnormal_text = (row.get("abnormal") or "").strip().lower()
    if abnormal_text not in ("", "0", "1", "true", "false"):
        raise ValueError(f"field 'abnormal' {abnormal_text!r} is not true/false")
    session = (row.get("session") or "").strip() or f"row{number}"
    seconds = int((start - EPOCH).total_seconds())
    return line, seconds, values[0], values[1], values[2], zone, session, abnormal_text in ("1", "true")


def cmd_sessions_to_records(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        return _fail(f"--interval {args.interval}: must be positive")
    try:
        handle = args.sessions.open(newline="", encoding="utf-8")
    except OSError as exc:
        return _fail(f"{args.sessions}: cannot read: {exc.strerror}")
    rows: list[tuple[str, int, int, int, int, str, str, bool]] = []
    rejects: list[tuple[int, str]] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in SESSION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            return _fail(f"{args.sessions}: missing column(s) {', '.join(missing)}")
        try:
            for number, row in enumerate(reader, start=2):
                try:
                    rows.append(_parse_row(row, number))
                except (ValueError, AttributeError) as exc:
                    rejects.append((number, str(exc)))
        except (csv.Error, UnicodeDecodeError) as exc:
            return _fail(f"{args.sessions}: unreadable CSV: {exc}")
    cut = cut_sessions(
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        np.array([r[4] for r in rows], dtype=np.int64),
        interval_s=args.interval,
        abnormal=np.array([r[7] for r in rows], dtype=bool),
    )
    columns = usage_columns(
        cut,
        line=[r[0] for r in rows],
        zone=[r[5] for r in rows],
        session=[r[6] for r in rows],
    )
    try:
        with UsageWriter(args.out) as writer:
            writer.write_columns(columns, length=len(cut))
    except OSError as exc:
        return _fail(f"{args.out}: cannot write: {exc.strerror}")
    for number, reason in rejects:
        print(f"{args.sessions}: row {number}: rejected: {reason}", file=sys.stderr)
    print(f"{len(rows)} sessions -> {len(cut)} records in {args.out}; {len(rejects)} rows rejected")
    return 1 if rejects else 0


def cmd_alarms_check(args: argparse.Namespace) -> int:
    try:
        config = load_alarm_config(args.config)
    except (ConfigError, YamlError) as exc:
        return _fail(str(exc))
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
