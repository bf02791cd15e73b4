"""`m2msim bench SCRIPT --modem-url URL`: run a bench script, write its transcript and report.

    m2msim bench register --modem-url virtual://quectel-bg96
    m2msim bench sms_roundtrip --modem-url /dev/ttyUSB2 --profile simcom-sim800 --allow-list bench.yaml
    m2msim bench dtmf_call --modem-url /dev/ttyUSB2 --allow-list bench.yaml --offer business-m2m-dtmf \\
        --param digits=1234# --out runs/bench/call-1

Exit status: 0 passed (or skipped: the modem lacks what the script needs, reason printed),
1 the script failed or a send was refused by the allow-list, 2 unusable input (unknown script,
bad parameter, bad URL, bad allow-list file, a texting or calling script on a physical modem
without an allow-list, unknown offer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hil.allowlist import BenchAllowList, load_allow_list
from hil.bench import run_bench
from hil.errors import AllowListError, ScriptParamError, UnknownScript
from hil.report import DEFAULT_COMMITMENT, DEFAULT_OFFER, DEFAULT_PLAN, OfferError, check_offer
from hil.result import BenchResult
from hil.scripts import NAMES, all_scripts, get_script
from modem.at.errors import TransportError
from modem.drivers.profile import DriverProfileError
from modem.safety import NoDialPolicy


def register(subparsers: Any) -> None:
    scripts = "\n".join(
        f"  {s.name:<16} {s.description}\n"
        + "".join(f"      {f'{k}={p.default}':<28} {p.help}\n" for k, p in s.params.items())
        for s in all_scripts()
    )
    p = subparsers.add_parser(
        "bench",
        help="run a bench script on a modem: transcript, timings and what it would cost",
        description="Run a bench script on a physical or virtual modem.\n\n"
        "scripts, with their --param KEY=VALUE and defaults:\n" + scripts,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("script", metavar="SCRIPT", help=f"one of: {', '.join(NAMES)}")
    p.add_argument(
        "--modem-url",
        required=True,
        help="/dev/ttyUSB2[?baudrate=115200&rtscts=1], socket://host:port, virtual://PROFILE[?seed=N], spy://...",
    )
    p.add_argument(
        "--allow-list",
        type=Path,
        help="YAML of the numbers the bench may text and call (required to text or call on a physical modem)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="directory for transcript.jsonl, report.json, report.txt, report.html (default runs/bench/SCRIPT-TIME)",
    )
    p.add_argument(
        "--profile", help="driver profile name or YAML (default: virtual://PROFILE's, else generic)"
    )
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="script parameter (repeatable)"
    )
    p.add_argument(
        "--offer", default=DEFAULT_OFFER, help=f"offer for the cost estimate (default {DEFAULT_OFFER})"
    )
    p.add_argument(
        "--plan", default=DEFAULT_PLAN, help=f"plan for the cost estimate (default {DEFAULT_PLAN})"
    )
    p.add_argument(
        "--commitment", type=int, default=DEFAULT_COMMITMENT, help="commitment in months (default 24)"
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per AT command (default 5)")
    p.add_argument("--raw", action="store_true", help="also record every byte both ways in the transcript")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")
    p.set_defaults(handler=_bench)


def _fail(message: str) -> int:
    print(f"m2msim bench: {message}", file=sys.stderr)
    return 2


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ScriptParamError(f"--param {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _bench(args: argparse.Namespace) -> int:
    try:
        script = get_script(args.script)
        params = script.resolve(_params(args.param))
        allow: BenchAllowList | None = load_allow_list(args.allow_list) if args.allow_list else None
        check_offer(args.offer, args.plan, args.commitment)
    except (UnknownScript, ScriptParamError, AllowListError, OfferError) as exc:
        return _fail(str(exc))
    out: Path = args.out or Path("runs") / "bench" / (
        f"{script.name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    )
    try:
        result = asyncio.run(
            run_bench(
                script,
                args.modem_url,
                allow_list=allow,
                profile=args.profile,
                params=params,
                offer=args.offer,
                plan=args.plan,
                commitment=args.commitment,
                timeout=args.timeout,
                raw=args.raw,
            )
        )
    except (NoDialPolicy, TransportError, DriverProfileError, ScriptParamError) as exc:
        return _fail(str(exc))
    try:
        paths = result.write(out)
    except OSError as exc:
        print(result.render_text(), end="")
        return _fail(f"{out}: cannot write the report: {exc.strerror or exc}")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_summary(result, paths)
    if result.status in ("passed", "skipped"):
        return 0
    return 1


def _print_summary(result: BenchResult, paths: dict[str, Path]) -> None:
    print(result.render_text(), end="")
    print(f"  transcript: {paths['transcript']}")
    print(f"  report:     {paths['report']}, {paths['html']}")
    if result.status == "refused":
        print(f"m2msim bench: REFUSED by the bench allow-list: {result.error}", file=sys.stderr)
