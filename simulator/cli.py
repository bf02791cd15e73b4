"""`m2msim run SCENARIO`: simulate a fleet, write its usage, alarms, invoice and summary."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from accounting.errors import AccountingError
from gateway.errors import GatewayError
from simulator.progress import ProgressBar
from simulator.run import simulate
from simulator.scenario import ScenarioError, load_scenario


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
        "--no-merge",
        action="store_true",
        help="leave the usage records in the shards' usage/part-NNNNN.parquet only (no usage.parquet)",
    )
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("m2msim run: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(
            args.scenario,
            seed=args.seed,
            days=args.days,
            max_lines=args.max_lines,
            shard_devices=args.shard_devices,
        )
    except ScenarioError as exc:
        print(f"m2msim run: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / scenario.name
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
        )
    except (AccountingError, GatewayError) as exc:
        bar.close()
        print(f"m2msim run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        bar.close()
        print(f"m2msim run: {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    bar.close()
    from simulator.summary import render_summary

    print(render_summary(result.summary))
    print()
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
