"""`m2msim run SCENARIO`: simulate a fleet, write its usage, alarms, invoice and summary."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from accounting.errors import AccountingError
from accounting.inventory import MAX_LINES
from gateway.api import GatewayError
from m2msim.outputs import OutputError, track_output
from reports.data import ReportError
from simulator.estimate import PER_LINE_B, JobTooBig, admit, estimate_devices, estimate_run, machine_limits
from simulator.progress import ProgressBar
from simulator.run import WorkerDied, simulate
from simulator.scenario import load_scenario


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="simulate a scenario: usage records, alarms, invoice and summary in one folder",
        description="Simulate a fleet scenario (YAML) and write its outputs into --out.",
    )
    p.add_argument("scenario", type=Path, help="scenario file (see docs/scenarios.md)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<scenario name>)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--days", type=float, default=None, help="simulate only the first DAYS days of the period")
    p.add_argument("--max-lines", type=int, default=None, help="cap every inventory line group at N lines")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1)")
    p.add_argument(
        "--shard-devices",
        type=int,
        default=None,
        metavar="N",
        help="devices per shard (default: the scenario's, 1000)",
    )
    p.add_argument("--cluster", default=None, metavar="ADDRESS", help="run the shards on a Dask cluster")
    p.add_argument("--csv", action="store_true", help="also write the usage records as CSV")
    p.add_argument("--capture", action="store_true", help="write a pcap of the gateway's signalling (slower)")
    p.add_argument("--no-invoice", action="store_true", help="skip rating the month")
    p.add_argument(
        "--force",
        action="store_true",
        help="run a job estimated too big for this machine; replace an --out folder m2msim did not "
        "write (it is kept whole beside it as DIR.kept-N, never deleted)",
    )
    p.add_argument(
        "--no-merge",
        action="store_true",
        help="leave the usage records in the shards' usage/part-NNNNN.parquet only (no usage.parquet)",
    )
    p.set_defaults(handler=cmd_run)


# Each option's allowed range, checked before anything is read or written.
SEED_MAX = 2**63 - 1
WORKERS_MAX = 256
SHARD_DEVICES_MAX = 10_000_000
MAX_LINES_MAX = 1_000_000_000
DAYS_MAX = 31.0


def check_options(args: argparse.Namespace) -> str | None:
    """The first option out of its range, as the line to print; None when all are usable."""
    days = args.days
    if days is not None and not (math.isfinite(days) and 0 < days <= DAYS_MAX):
        return f"--days {days:g}: expected a number of days in (0, {DAYS_MAX:g}] (within the billing month)"
    checks = (
        ("--seed", args.seed, 0, SEED_MAX),
        ("--workers", args.workers, 1, WORKERS_MAX),
        ("--shard-devices", args.shard_devices, 1, SHARD_DEVICES_MAX),
        ("--max-lines", args.max_lines, 1, MAX_LINES_MAX),
    )
    for option, value, lo, hi in checks:
        if value is not None and not lo <= value <= hi:
            return f"{option} {value}: expected a whole number in [{lo}, {hi:,}]"
    if args.out is not None:
        where = os.fsencode(os.path.abspath(args.out))
        try:
            where.decode("utf-8")
        except UnicodeDecodeError:  # (found after the simulation, when the run's parts are rated)
            return (
                f"--out {os.fsdecode(where)!r}: the run folder's path is not UTF-8, and DuckDB, which "
                "reads the run's usage parts, opens only UTF-8 paths; choose a UTF-8 name"
            )
    if args.cluster is not None:
        return _cluster_problem(args.cluster)
    return None


def _cluster_problem(address: str) -> str | None:
    """Why `--cluster ADDRESS` is not a scheduler's address (Dask's own parsing raised a bare
    ValueError with a traceback), or None."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            _, port = parse_host_port(location)
            if not 1 <= port <= 65_535:
                raise ValueError(f"port {port} is not in 1..65535")
    except ValueError as exc:
        return f"--cluster {address}: not a scheduler address such as tcp://10.0.0.5:8786 ({exc})"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    problem = check_options(args)
    if problem is not None:
        print(f"m2msim run: {problem}", file=sys.stderr)
        return 2
    if args.out is not None:
        track_output(args.out)  # (named by the interrupted line from now on: its lock comes later)
    out_hint: Path = args.out or Path("runs")
    limits = machine_limits(out_hint)

    def admit_devices(devices: int, days: float) -> None:
        if not args.force:
            admit(estimate_devices(devices, days, args.workers, args.shard_devices or 1000), limits)

    try:
        scenario = load_scenario(
            args.scenario,
            seed=args.seed,
            days=args.days,
            max_lines=args.max_lines,
            shard_devices=args.shard_devices,
            admit=admit_devices,
            # --force runs a fleet of more than the inventory's million lines (a cluster's), up to
            # what the memory holds: beyond it, expanding the lines would exhaust the machine
            inventory_limit=max(MAX_LINES, int(limits.memory_b // PER_LINE_B)) if args.force else MAX_LINES,
        )
        if not args.force:
            admit(estimate_run(scenario, args.workers, csv=args.csv, capture=args.capture), limits)
    except JobTooBig as exc:
        print(f"m2msim run: {args.scenario}: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / scenario.name
    track_output(out)
    bar = ProgressBar(f"{scenario.name}: {scenario.n_devices:,} devices")
    t0 = time.perf_counter()
    try:
        result = simulate(
            scenario,
            out,
            workers=args.workers,
            cluster=args.cluster,
            csv=args.csv,
            capture=args.capture,
            invoice=not args.no_invoice,
            merge=not args.no_merge,
            progress=bar,
            force=args.force,
        )
    except (AccountingError, GatewayError, OutputError) as exc:
        print(f"m2msim run: {exc}", file=sys.stderr)
        return 2
    except WorkerDied as exc:
        print(f"m2msim run: {exc}", file=sys.stderr)
        return 1
    except ReportError as exc:  # (the run's own files, so not the user's input: a DuckDB out of memory)
        print(f"m2msim run: the report could not be drawn, so the run was not kept: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"m2msim run: {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()  # interrupted too: the message that follows starts on a line of its own
    from simulator.summary import render_summary

    print(render_summary(result.summary))
    print()
    if scenario.capped is not None:
        written, kept = scenario.capped
        print(
            f"note: --max-lines {args.max_lines}: {kept:,} of the scenario's {written:,} lines; the fleet's "
            "prices (the 5 % Business fleet discount, the SMS volume steps, the assistance tier) are those "
            f"of the {kept:,} lines simulated, not of the whole fleet"
        )
    files = ["summary.txt", "summary.json", "usage.parquet", "usage/", "alarms.jsonl", "scenario.yaml"]
    if args.no_merge:
        files.remove("usage.parquet")
    if not args.no_invoice:
        files[1:1] = ["invoice.txt", "invoice.json"]
    if args.csv:
        files.append("usage.csv")
    if args.capture:
        files.append("capture/")
    files.append("report.html")
    print(f"outputs in {out}/: {', '.join(files)}")
    print(f"simulated in {time.perf_counter() - t0:.1f} s")
    return 0
