"""`m2msim records-from-pcap CAPTURE... [--out FILE.parquet|.csv] [--json] [--secret S] [--radius-port P]`.

Exit status: 0 when the captures were read (with one warning line on stderr per
capture cut short within a packet, read up to the cut); 1 when no
Accounting-Request could be used (one warning line says why; the empty output is
written), every one failed its authenticator check (the shared secret is
wrong), or Accounting-Requests were out of time order by more than the reader's
wait (the records may be wrong; written all the same); 2 with one line on
stderr when an input or the output cannot be used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
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
from gateway.capture.reader import (
    ACCT_PORTS,
    REORDER_S,
    CaptureFileError,
    ReadReport,
    Skipped,
    capture_files,
    records_from_pcap,
)
from gateway.capture.sink import DEFAULT_SECRET
from gateway.recordfiles import Totals, write_records
from m2msim.outputs import OutputError, check_parents, refuse_foreign, refuse_same_file
from m2msim.rundir import FolderIdentity, folder_changed, folder_identity, not_whole_run, unfinished_run

SECRET_ENV = "M2MSIM_RADIUS_SECRET"
PROG = "m2msim records-from-pcap"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def register(subparsers: Any) -> None:
    """Add the `records-from-pcap` command to the `m2msim` parser."""
    parser = subparsers.add_parser(
        "records-from-pcap",
        help="rebuild usage records from the RADIUS accounting in captures",
        description=(
            "Rebuild usage records (one per Interim-Update and per Stop) from the RADIUS accounting "
            "in pcap or pcapng captures (several files, or folders of them, are merged in time order), "
            "checking every authenticator against the shared secret."
        ),
    )
    parser.add_argument(
        "captures", type=Path, nargs="+", metavar="CAPTURE", help="pcap or pcapng file, or a folder of them"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the records (.parquet, or .csv)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument(
        "--force", action="store_true", help="replace an --out file m2msim did not write (usage records)"
    )
    parser.add_argument(
        "--secret",
        default=None,
        help=f"RADIUS shared secret (default: ${SECRET_ENV}, else the simulator's default)",
    )
    parser.add_argument(
        "--radius-port",
        type=_port,
        action="append",
        metavar="PORT",
        help="UDP port of the accounting server (repeatable; default 1813 and 1646)",
    )
    parser.add_argument(
        "--line-from",
        choices=("auto", "class", "calling-station-id"),
        default="auto",
        help="where the line id comes from (auto: Class when it is text, else Calling-Station-Id)",
    )
    parser.add_argument("--event-time", choices=EVENT_TIMES, default="check", help=EVENT_TIME_HELP)
    parser.add_argument(
        "--late-copies", type=late_copies_kept, default=LATE_COPY_KEPT, metavar="N", help=LATE_COPIES_HELP
    )
    parser.set_defaults(handler=run)


def _fail(message: object) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _swapped(folders: dict[Path, FolderIdentity | None]) -> CaptureFileError | None:
    """A folder given that names another folder than before its captures were listed (a run put in
    its place, `folder_identity`); None when each is the one it was."""
    for folder, identity in folders.items():
        if identity is None or folder_identity(folder) != identity:
            return CaptureFileError(f"{folder}: {folder_changed('read it again')}")
    return None


def _unswapped(
    records: Iterator[UsageRecord], folders: dict[Path, FolderIdentity | None]
) -> Iterator[UsageRecord]:
    """`records`, then `CaptureFileError` once they are read when a folder given is no longer the one
    listed (before --out is put in place: nothing written)."""
    yield from records
    swapped = _swapped(folders)
    if swapped is not None:
        raise swapped


def _summary(report: ReadReport, totals: Totals, out: Path | None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "records": totals.records,
        "lines": len(totals.lines),
        "bytes_up": totals.bytes_up,
        "bytes_down": totals.bytes_down,
    }
    if out is not None:
        summary["out"] = str(out)
    summary.update(report.as_dict())
    return summary


def run(args: argparse.Namespace) -> int:
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV, DEFAULT_SECRET)
    ports = frozenset(args.radius_port) if args.radius_port else ACCT_PORTS
    report = ReadReport()
    # the folders given, before their captures are listed: a run put in the place of one meanwhile
    # (`m2msim run --force` into it) had its parts read under the old run's list, a mix of two runs
    folders = {given: folder_identity(given) for given in args.captures if given.is_dir()}
    try:
        for given in args.captures:
            # (the capture of a run killed mid-way, or of a run with a shard's capture missing or
            # another run's beside its own, was read as the run's whole, exit 0)
            said = unfinished_run(given)
            if said is not None:
                raise CaptureFileError(said)
        files, skipped = capture_files(args.captures)
        for given in args.captures:
            said = not_whole_run(given, files, "capture")
            if said is not None:
                raise CaptureFileError(said)
        if args.out is not None:
            check_parents(args.out)  # (else "cannot write (File exists)" once the captures were read)
            refuse_same_file(args.out, [*args.captures, *files])
            refuse_foreign(args.out, is_usage_file, force=args.force, option="--out")
        records = _unswapped(
            records_from_pcap(
                files,
                secret,
                report,
                ports=ports,
                line_from=args.line_from,
                event_time=args.event_time,
                late_copies=args.late_copies,
            ),
            folders,
        )
    except (CaptureFileError, OutputError) as exc:
        return _fail(_swapped(folders) or exc)
    try:
        totals = write_records(records, args.out, force=args.force)
    except CaptureFileError as exc:
        exc = _swapped(folders) or exc
        return _fail(f"{exc} (nothing written)" if args.out is not None else exc)
    except OutputError as exc:
        return _fail(exc)
    except OSError as exc:
        if (swapped := _swapped(folders)) is not None:  # (a part listed gone with the old run)
            return _fail(swapped)
        return _fail(f"{args.out}: cannot write ({exc.strerror or exc})")
    status = 0
    for cut in report.cut_short:  # read up to the cut, as tshark does: its records end there
        print(f"{PROG}: warning: {_cut_said(cut)}", file=sys.stderr)
    if report.out_of_order:  # (records read in another order than the network's: not to be billed)
        print(f"{PROG}: warning: {_out_of_order_said(report)}", file=sys.stderr)
        status = 1
    if report.bad_secret:
        print(
            f"{PROG}: every one of {report.accounting_requests} Accounting-Requests failed its authenticator "
            "check: check --secret (or $" + SECRET_ENV + ")",
            file=sys.stderr,
        )
        status = 1
    elif report.no_usable_requests is not None:  # (an empty output: done, but nothing to bill)
        print(f"{PROG}: warning: {report.no_usable_requests}", file=sys.stderr)
        status = 1
    else:
        if report.radius_tcp:  # (the records of the UDP accounting: that over TCP is in none)
            print(f"{PROG}: warning: {report.radius_tcp_said()}", file=sys.stderr)
        if report.gtp_prime or report.gtp_v0:  # (the CDRs of GTP' are billed by no record)
            print(f"{PROG}: warning: {report.gtp_prime_said()}", file=sys.stderr)
    summary = _summary(report, totals, args.out)
    summary["skipped_files"] = [str(s.path) for s in skipped]
    summary["skipped_reasons"] = {str(s.path): s.reason for s in skipped}
    if args.json:
        print(json.dumps(summary, indent=2))
        return status
    _print_summary(args, report, totals, skipped)
    return status


def _out_of_order_said(report: ReadReport) -> str:
    first = report.out_of_order_first or {}
    where = (
        f"{first['file']} packet {first['packet']}" if len(report.files) > 1 else f"packet {first['packet']}"
    )
    names = report.files[0] if len(report.files) == 1 else "a capture"
    plural = "" if report.out_of_order == 1 else "s"
    return (
        f"{names}: {report.out_of_order} Accounting-Request{plural} out of time order by more than {REORDER_S} s "
        f"(the first: {where}, {first['late_s']:.0f} s before one read earlier; a file of captures joined "
        "end to end?): the records may be wrong: sort it by time (reordercap IN OUT), or give the "
        "captures as separate files, and read it again"
    )


def _cut_said(cut: dict[str, Any]) -> str:
    complete = f"read up to there, its records are complete only up to packet {cut['packets']}"
    if cut["zero_fill"]:
        zeros = cut["zero_fill"]
        return (
            f"{cut['file']}: zero-filled from byte offset {zeros['offset']} to its end ({zeros['bytes']} "
            f"bytes of zeros), after packet {cut['packets']}: {complete} (a file preallocated, or a "
            "capture stopped by a crash or a full disk?)"
        )
    return (
        f"{cut['file']}: "
        + (f"its {cut['compression']} data are " if cut["compression"] else "")
        + f"cut short at byte offset {cut['offset']}"
        + (" of the decompressed capture" if cut["compression"] else "")
        + f", after packet {cut['packets']}: {complete} (a capture still being written, or a disk that filled up?)"
    )


def _print_summary(
    args: argparse.Namespace, report: ReadReport, totals: Totals, skipped: list[Skipped]
) -> None:
    names = report.files[0] if len(report.files) == 1 else f"{len(report.files)} captures"
    print(
        f"{names}: {report.packets} packets, {report.accounting_requests} accounting requests, "
        f"{report.sessions} sessions -> {totals.records} records for {len(totals.lines)} lines "
        f"({totals.bytes_up} octets up, {totals.bytes_down} down)"
        + (f", written to {args.out}" if args.out is not None else "")
    )
    for file in skipped:
        print(f"  skipped {file.path}: {file.reason}")
    for cut in report.cut_short:
        print(f"  warning: {_cut_said(cut)}")
    if report.out_of_order:
        print(f"  warning: {_out_of_order_said(report)}")
    if report.no_usable_requests is not None:
        print(f"  warning: {report.no_usable_requests}")
    for clock in (
        report.clock_wrong_said("packet"),
        report.clock_unset_warning("packet"),
        report.delay_wrong_said("packet"),
        report.clock_held_warning("packet"),
        report.late_copies_warning("packet"),
        report.forgotten_warning("packet", "--late-copies"),
    ):
        if clock is not None:
            print(f"  warning: {clock}")
    if report.retransmissions:
        print(f"  {report.retransmissions} retransmitted requests billed once")
    if report.start_copies_unanswered:
        print(
            f"  {report.start_copies_unanswered} of them Start copies kept as a possible new session's Start, none followed"
        )
    if report.duplicate_responses:
        print(f"  {report.duplicate_responses} duplicate responses")
    if report.status_server:
        print(
            f"  {report.status_server} Status-Server requests (RFC 5997: a proxy checking its server), no accounting"
        )
    if report.joined:
        print(
            f"  {len(report.joined)} sessions joined mid-way (first seen at an Interim-Update: records from it "
            "on, with no sequence):"
        )
        for joined in report.joined[:10]:
            over = "" if joined["session_time_s"] is None else f" over {joined['session_time_s']} s"
            print(
                f"    {joined['session']} at packet {joined['at']}: {joined['bytes_up_before']} octets up, "
                f"{joined['bytes_down_before']} down{over} before it, not billed here"
            )
    if report.counter_wraps:
        print(f"  {report.counter_wraps} 32-bit octet counters wrapped without Gigawords (2^32 added)")
    if report.fragments:
        without = report.fragments_without_first
        print(
            f"  {report.fragments} IP fragments ({report.reassembled} RADIUS messages reassembled"
            + (
                f"; {without} datagrams whose first fragment never came, what they carried not known"
                if without
                else ""
            )
            + ")"
        )
    if report.radius_tcp and report.no_usable_requests is None:
        print(f"  warning: {report.radius_tcp_said()}")
    if (report.gtp_prime or report.gtp_v0) and report.no_usable_requests is None:
        print(f"  warning: {report.gtp_prime_said()}")
    for port, count in sorted(report.other_ports.items()):
        print(
            f"  {count} datagrams to UDP port {port} look like Accounting-Requests: add --radius-port {port}?"
        )
    if report.open_sessions:
        print(
            f"  {len(report.open_sessions)} sessions without a Stop: {', '.join(report.open_sessions[:10])}"
        )
    if report.unanswered_requests:
        print(f"  {report.unanswered_requests} requests without a response")
    for reason, count in sorted(report.reasons.items()):
        print(f"  rejected {count} packets: {reason}")
    for reject in report.rejects[:20]:
        where = f"{reject.file} packet {reject.packet}" if reject.file else f"packet {reject.packet}"
        print(f"    {where}: {reject.reason}")
