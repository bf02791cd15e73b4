"""`m2msim records-from-radius-detail` and `m2msim records-from-osmo-cdr`.

Exit status: 0 when the logs were read (rejected entries are listed; one warning
line on stderr per compressed log cut short, read up to its last whole line); 1 when
no accounting entry could be used (one warning line says why; the empty output
is written); 2 with one line on stderr when an input or the output cannot be
used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accounting.records import UsageRecord
from accounting.usage_writer import is_usage_file
from gateway.acct_sessions import (
    EVENT_TIME_HELP,
    EVENT_TIMES,
    LATE_COPIES_HELP,
    LATE_COPY_KEPT,
    late_copies_kept,
)
from gateway.logs.common import LogError, LogReport
from gateway.logs.osmo_cdr import records_from_osmo_cdr
from gateway.logs.radius_detail import records_from_radius_detail
from gateway.plmn import default_table, unassigned_mcc
from gateway.recordfiles import Totals, write_records
from m2msim.outputs import OutputError, check_parents, refuse_foreign, refuse_same_file


def register(subparsers: Any) -> None:
    """Add the log adapters' commands to the `m2msim` parser."""
    d = subparsers.add_parser(
        "records-from-radius-detail",
        help="usage records from FreeRADIUS detail files (the server's accounting log)",
        description=(
            "Read FreeRADIUS detail files (files, or folders such as radacct/) and write one usage record "
            "per Interim-Update and per Stop, as records-from-pcap does from a capture."
        ),
    )
    d.add_argument("inputs", type=Path, nargs="+", metavar="DETAIL", help="detail file, or a folder of them")
    d.add_argument(
        "--line-from",
        choices=("auto", "class", "calling-station-id"),
        default="auto",
        help="where the line id comes from (auto: Class when it is a text id, else Calling-Station-Id)",
    )
    d.add_argument("--event-time", choices=EVENT_TIMES, default="check", help=EVENT_TIME_HELP)
    d.add_argument(
        "--late-copies", type=late_copies_kept, default=LATE_COPY_KEPT, metavar="N", help=LATE_COPIES_HELP
    )
    _common(d)
    d.set_defaults(handler=cmd_radius_detail)
    o = subparsers.add_parser(
        "records-from-osmo-cdr",
        help="usage records from osmo-sgsn CDR files",
        description=(
            "Read osmo-sgsn CDR files (CSV) and write one usage record per pdp-periodic row and one at each "
            "PDP context's end."
        ),
    )
    o.add_argument("inputs", type=Path, nargs="+", metavar="CDR", help="CDR file, or a folder of them")
    o.add_argument("--line-from", choices=("msisdn", "imsi"), default="msisdn", help="the line id (msisdn)")
    o.add_argument(
        "--serving-plmn",
        metavar="MCCMNC",
        help="the SGSN's network (MCC+MNC): the records' serving_plmn and zone (default: none, zone fr)",
    )
    _common(o)
    o.set_defaults(handler=cmd_osmo_cdr)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the records (.parquet, or .csv)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument(
        "--force", action="store_true", help="replace an --out file m2msim did not write (usage records)"
    )


def cmd_radius_detail(args: argparse.Namespace) -> int:
    def read(report: LogReport) -> Iterator[UsageRecord]:
        return records_from_radius_detail(
            args.inputs,
            report,
            line_from=args.line_from,
            event_time=args.event_time,
            late_copies=args.late_copies,
        )

    return _run("records-from-radius-detail", args, read)


def cmd_osmo_cdr(args: argparse.Namespace) -> int:
    plmn = args.serving_plmn
    if plmn is not None and not (plmn.isascii() and plmn.isdigit() and len(plmn) in (5, 6)):
        print(
            f"m2msim records-from-osmo-cdr: --serving-plmn {plmn!r}: expected 5 or 6 digits", file=sys.stderr
        )
        return 2
    if plmn is not None and not default_table().assigned(plmn):  # its records were rated world
        print(
            f"m2msim records-from-osmo-cdr: --serving-plmn {plmn!r}: {unassigned_mcc(plmn)}", file=sys.stderr
        )
        return 2

    def read(report: LogReport) -> Iterator[UsageRecord]:
        return records_from_osmo_cdr(args.inputs, report, line_from=args.line_from, serving_plmn=plmn)

    return _run("records-from-osmo-cdr", args, read)


def _of_inputs(filename: object, inputs: list[Path]) -> bool:
    """Whether an OSError's file is one of `inputs` or in one of them (an input folder)."""
    if filename is None:
        return False
    name = os.fsdecode(filename) if isinstance(filename, bytes) else str(filename)
    return any(name == str(p) or name.startswith(str(p) + os.sep) for p in inputs)


def _run(command: str, args: argparse.Namespace, read: Callable[[LogReport], Iterator[UsageRecord]]) -> int:
    report = LogReport()
    try:
        if args.out is not None:
            check_parents(args.out)  # (else "cannot write (File exists)" once the logs were read)
            refuse_same_file(args.out, args.inputs)
            refuse_foreign(args.out, is_usage_file, force=args.force, option="--out")
        totals = write_records(read(report), args.out, force=args.force)
    except (LogError, OutputError) as exc:
        print(f"m2msim {command}: {exc}" + (" (nothing written)" if args.out else ""), file=sys.stderr)
        return 2
    except OSError as exc:
        if args.out is None or _of_inputs(exc.filename, args.inputs):
            # an input's (a name past 255 bytes): it was said as "None: cannot write"
            where = exc.filename if exc.filename is not None else args.inputs[0]
            print(f"m2msim {command}: {os.fsdecode(where)}: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"m2msim {command}: {args.out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 2
    status = 0
    for cut in report.cut_short:  # read up to the cut: its records end there
        print(f"m2msim {command}: warning: {_cut_said(cut)}", file=sys.stderr)
    if report.no_usable_entries is not None:  # (an empty output: done, but nothing to bill)
        print(f"m2msim {command}: warning: {report.no_usable_entries}", file=sys.stderr)
        status = 1
    if args.json:
        summary: dict[str, Any] = {
            "records": totals.records,
            "lines": len(totals.lines),
            "bytes_up": totals.bytes_up,
            "bytes_down": totals.bytes_down,
        }
        if args.out is not None:
            summary["out"] = str(args.out)
        summary.update(report.as_dict())
        print(json.dumps(summary, indent=2))
        return status
    _print(report, totals, args.out)
    return status


def _cut_said(cut: dict[str, Any]) -> str:
    return (
        f"{cut['file']}: its {cut['compression']} data are cut short after line {cut['lines']}: read up to "
        f"there, its records are complete only up to line {cut['lines']} (a copy that stopped, or a disk "
        "that filled up?)"
    )


def _print(report: LogReport, totals: Totals, out: Path | None) -> None:
    names = report.files[0] if len(report.files) == 1 else f"{len(report.files)} files"
    print(
        f"{names}: {report.entries} entries, {report.accounting_requests} accounting events, "
        f"{report.sessions} sessions -> {totals.records} records for {len(totals.lines)} lines "
        f"({totals.bytes_up} octets up, {totals.bytes_down} down)"
        + (f", written to {out}" if out is not None else "")
    )
    for path, why in report.skipped.items():
        print(f"  skipped {path}: {why}")
    for cut in report.cut_short:
        print(f"  warning: {_cut_said(cut)}")
    if report.no_usable_entries is not None:
        print(f"  warning: {report.no_usable_entries}")
    for clock in (
        report.clock_wrong_said("line"),
        report.clock_unset_warning("line"),
        report.delay_wrong_said("line"),
        report.clock_held_warning("line"),
        report.late_copies_warning("line"),
        report.forgotten_warning("line", "--late-copies"),
    ):
        if clock is not None:
            print(f"  warning: {clock}")
    for kind, count in sorted(report.ignored.items()):
        print(f"  {count} entries without usage: {kind}")
    if report.retransmissions:
        print(f"  {report.retransmissions} repeated requests billed once")
    if report.start_copies_unanswered:
        print(
            f"  {report.start_copies_unanswered} of them Start copies kept as a possible new session's Start, none followed"
        )
    if report.joined:
        print(
            f"  {len(report.joined)} sessions joined mid-way (records from their first entry on, no sequence)"
        )
        for joined in report.joined[:10]:
            print(
                f"    {joined['session']} at line {joined['at']}: {joined['bytes_up_before']} octets up, "
                f"{joined['bytes_down_before']} down before it, not billed here"
            )
    if report.counter_wraps:
        print(f"  {report.counter_wraps} 32-bit octet counters wrapped without Gigawords (2^32 added)")
    if report.open_sessions:
        print(
            f"  {len(report.open_sessions)} sessions without an end: {', '.join(report.open_sessions[:10])}"
        )
    for reason, count in sorted(report.reasons.items()):
        print(f"  rejected {count}: {reason}")
    for reject in report.rejects[:20]:
        print(f"    {reject['file']}:{reject['line']}: {reject['reason']}")
