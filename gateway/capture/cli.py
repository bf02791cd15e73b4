"""`m2msim records-from-pcap CAPTURE [--out FILE.parquet|.csv] [--json] [--secret S]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from accounting.records import UsageRecord
from accounting.usage_writer import UsageWriter
from gateway.capture.reader import CaptureFileError, ReadReport, records_from_pcap
from gateway.capture.sink import DEFAULT_SECRET

SECRET_ENV = "M2MSIM_RADIUS_SECRET"


def register(subparsers: Any) -> None:
    """Add the `records-from-pcap` command to the `m2msim` parser."""
    parser = subparsers.add_parser(
        "records-from-pcap",
        help="rebuild usage records from the RADIUS accounting in a capture",
        description=(
            "Rebuild usage records (one per Interim-Update and per Stop) from the RADIUS accounting "
            "in a pcap or pcapng capture, checking every authenticator against the shared secret."
        ),
    )
    parser.add_argument("capture", type=Path, metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the records (.parquet, or .csv)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument(
        "--secret",
        default=None,
        help=f"RADIUS shared secret (default: ${SECRET_ENV}, else the simulator's default)",
    )
    parser.set_defaults(handler=run)


def _summary(report: ReadReport, totals: Counter[str], lines: set[str], out: Path | None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "records": report.records,
        "lines": len(lines),
        "bytes_up": totals["up"],
        "bytes_down": totals["down"],
    }
    if out is not None:
        summary["out"] = str(out)
    summary.update(report.as_dict())
    return summary


def run(args: argparse.Namespace) -> int:
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV, DEFAULT_SECRET)
    report = ReadReport()
    try:
        records = records_from_pcap(args.capture, secret, report)
    except CaptureFileError as exc:
        print(f"m2msim records-from-pcap: {exc}", file=sys.stderr)
        return 2
    totals: Counter[str] = Counter()
    lines: set[str] = set()

    def counted(record: UsageRecord) -> UsageRecord:
        totals["up"] += record.bytes_up
        totals["down"] += record.bytes_down
        lines.add(record.line)
        return record

    if args.out is not None:
        try:
            with UsageWriter(args.out) as writer:
                for record in records:
                    writer.write(counted(record))
        except OSError as exc:
            print(
                f"m2msim records-from-pcap: {args.out}: cannot write ({exc.strerror or exc})", file=sys.stderr
            )
            return 2
    else:
        for record in records:
            counted(record)
    summary = _summary(report, totals, lines, args.out)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{args.capture}: {report.packets} packets, {report.accounting_requests} accounting requests, "
        f"{report.sessions} sessions -> {report.records} records for {len(lines)} lines "
        f"({totals['up']} octets up, {totals['down']} down)"
        + (f", written to {args.out}" if args.out is not None else "")
    )
    if report.retransmissions:
        print(f"  {report.retransmissions} retransmitted requests ignored")
    if report.open_sessions:
        print(
            f"  {len(report.open_sessions)} sessions without a Stop: {', '.join(report.open_sessions[:10])}"
        )
    if report.unanswered_requests:
        print(f"  {report.unanswered_requests} requests without a response")
    for reason, count in sorted(report.reasons.items()):
        print(f"  rejected {count} packets: {reason}")
    for reject in report.rejects[:20]:
        print(f"    packet {reject.packet}: {reject.reason}")
    return 0
