"""`m2msim bench SCRIPT --modem-url URL`: run a bench script, write its transcript and report.

    m2msim bench register --modem-url virtual://quectel-bg96
    m2msim bench sms_roundtrip --modem-url /dev/ttyUSB2 --profile simcom-sim800 --allow-list bench.yaml
    m2msim bench dtmf_call --modem-url /dev/ttyUSB2 --allow-list bench.yaml --offer business-m2m-dtmf \\
        --param digits=1234# --out runs/bench/call-1

Exit status: 0 passed (or skipped: the modem lacks what the script needs, reason printed),
1 the script failed or a send was refused by the allow-list, 2 unusable input (unknown script,
bad parameter or option, bad URL, bad allow-list file, a texting or calling script on a physical
modem without an allow-list, unknown offer, an --out folder that cannot be written: all checked
before the modem is opened), 130 / 143 interrupted by SIGINT / SIGTERM (calls hung up, PDP
contexts released, the transcript kept up to the interruption).

The transcript is written to `--out` as the run goes (one JSON line per event, flushed), the
reports (report.json, report.txt) atomically at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hil.allowlist import BenchAllowList, load_allow_list
from hil.bench import TRANSCRIPT, driver_profile_for, preflight, run_bench
from hil.errors import ScriptParamError, UnknownScript
from hil.report import DEFAULT_COMMITMENT, DEFAULT_OFFER, DEFAULT_PLAN, OfferError, check_offer
from hil.result import BenchResult
from hil.scripts import NAMES, BenchScript, all_scripts, get_script
from m2msim.outputs import OutputError, check_writable_dir, output_lock
from m2msim.yamlio import YamlError
from modem.at.errors import TransportError
from modem.drivers.profile import DriverProfile
from modem.options import OptionError, check_float, check_int
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
        check_float("--timeout", args.timeout, 0.001, 3600)
        check_int("--commitment", args.commitment, 0, 120)
        script = get_script(args.script)
        params = script.resolve(_params(args.param))
        allow: BenchAllowList | None = load_allow_list(args.allow_list) if args.allow_list else None
        check_offer(args.offer, args.plan, args.commitment)
        preflight(script, args.modem_url, allow, params)
        driver = driver_profile_for(args.modem_url, args.profile)
    except (
        UnknownScript,
        ScriptParamError,
        YamlError,
        OfferError,
        OptionError,
        NoDialPolicy,
        TransportError,
    ) as exc:
        return _fail(str(exc))
    out: Path = args.out or Path("runs") / "bench" / (
        f"{script.name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    )
    # The output must be writable before the first byte goes to a modem: SMS and calls on a
    # physical modem cost money, and a run whose transcript cannot be kept must not happen.
    try:
        if out.exists() and not out.is_dir():
            raise OutputError(f"--out {out}: is a file, expected a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
        check_writable_dir(out)
        with output_lock(out):
            return _run_and_report(args, script, params, allow, driver, out)
    except OutputError as exc:
        return _fail(str(exc))


def _run_and_report(
    args: argparse.Namespace,
    script: BenchScript,
    params: dict[str, Any],
    allow: BenchAllowList | None,
    driver: DriverProfile,
    out: Path,
) -> int:
    kwargs: dict[str, Any] = {
        "allow_list": allow,
        "profile": driver,
        "params": params,
        "offer": args.offer,
        "plan": args.plan,
        "commitment": args.commitment,
        "timeout": args.timeout,
        "raw": args.raw,
        "out": out,
    }
    try:
        result, signum = asyncio.run(_interruptible(script, args.modem_url, kwargs))
    except (NoDialPolicy, TransportError, YamlError, ScriptParamError) as exc:
        return _fail(str(exc))
    if result is None:
        name = signal.Signals(signum).name
        print(
            f"m2msim bench: interrupted ({name}); the transcript up to the interruption, with the "
            f"hang-up and PDP release, is {out / TRANSCRIPT}",
            file=sys.stderr,
        )
        return 128 + signum
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


async def _interruptible(
    script: BenchScript, url: str, kwargs: dict[str, Any]
) -> tuple[BenchResult | None, int]:
    """Run the bench; SIGINT or SIGTERM cancels it (the run hangs up and releases the PDP contexts
    on its way out) and gives (None, the signal's number)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received:
            received.append(signum)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await run_bench(script, url, **kwargs), 0
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        return None, received[0]
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _print_summary(result: BenchResult, paths: dict[str, Path]) -> None:
    print(result.render_text(), end="")
    print(f"  transcript: {paths['transcript']}")
    print(f"  report:     {paths['report']}, {paths['html']}")
    if result.status == "refused":
        print(f"m2msim bench: REFUSED by the bench allow-list: {result.error}", file=sys.stderr)
