"""`m2msim bench SCRIPT --modem-url URL`: run a bench script, write its transcript and report.

    m2msim bench register --modem-url virtual://quectel-bg96
    m2msim bench sms_roundtrip --modem-url /dev/ttyUSB2 --profile simcom-sim800 --allow-list bench.yaml
    m2msim bench dtmf_call --modem-url /dev/ttyUSB2 --allow-list bench.yaml --offer business-m2m-dtmf \\
        --param digits=1234# --out runs/bench/call-1
    m2msim bench ./my_check.yaml --modem-url replay://runs/bench/call-1/transcript.jsonl?scale=0
    m2msim bench register --modem-url /dev/ttyUSB2 --modem-url /dev/ttyUSB6 --junit bench.xml
    m2msim bench ports --probe --json

Exit status: 0 passed (or skipped: the modem lacks what the script needs, reason printed),
1 the script failed or a send was refused by the allow-list, 2 unusable input (unknown script,
bad parameter or option, bad URL, bad allow-list file, a texting or calling script on a physical
modem without an allow-list, unknown offer, an --out folder that cannot be written: all checked
before the modem is opened), 130 / 143 / 129 interrupted by SIGINT / SIGTERM / SIGHUP (calls hung up, PDP
contexts released, the transcript kept up to the interruption).

The transcript is written to `--out` as the run goes (one JSON line per event, flushed), the
reports (report.json, report.txt) atomically at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hil.allowlist import BenchAllowList, load_allow_list
from hil.bench import TRANSCRIPT, driver_profile_for, preflight, run_bench
from hil.errors import ScriptParamError, UnknownScript
from hil.ports import list_ports, probe_ports, render_ports
from hil.rack import (
    RackModem,
    RackRow,
    is_junit,
    load_rack,
    rack_of,
    render_table,
    run_rack,
    summary_dict,
    write_junit,
)
from hil.report import DEFAULT_COMMITMENT, DEFAULT_OFFER, DEFAULT_PLAN, OfferError, check_offer
from hil.result import REPORT_FILES, BenchResult
from hil.scripts import NAMES, BenchScript, all_scripts, get_script
from m2msim.outputs import (
    OutputError,
    check_writable_dir,
    output_lock,
    refuse_foreign,
    refuse_same_file,
    remove_unheld_locks,
)
from m2msim.signals import loop_stops_on, say_interrupted
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
    p.add_argument(
        "script",
        metavar="SCRIPT",
        help=f"one of: {', '.join(NAMES)}; or a file: ./my_check.py (SCRIPT = BenchScript(...)), "
        "./my_check.yaml (steps); or `ports` (list the serial ports and the modems on them)",
    )
    p.add_argument(
        "--modem-url",
        action="append",
        help="/dev/ttyUSB2[?baudrate=115200&rtscts=1], socket://host:port, virtual://PROFILE[?seed=N], "
        "replay://TRANSCRIPT.jsonl[?scale=X], spy://...; repeat it to run on several modems at once",
    )
    p.add_argument("--rack", type=Path, help="YAML listing the modems to run the script on at once")
    p.add_argument("--junit", type=Path, help="also write a JUnit XML report (one test case per modem)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a --junit file, or a report.json, report.txt or report.html in --out, that m2msim "
        "did not write",
    )
    p.add_argument(
        "--probe",
        action="store_true",
        help="(bench ports) ask each port ATI, AT+CGMM, AT+CGSN (identity only, nothing that costs)",
    )
    p.add_argument(
        "--probe-timeout",
        type=float,
        default=1.0,
        help="(bench ports --probe) seconds per command (default 1)",
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
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds per AT command (default 5; on replay://, the recording's)",
    )
    p.add_argument("--raw", action="store_true", help="also record every byte both ways in the transcript")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")
    p.add_argument(
        "--no-forwarding-check",
        action="store_true",
        help="on a physical modem, do not read the SIM's call forwarding (AT+CCFC) before the first SMS "
        "or call (a forward off the allow-list is refused otherwise)",
    )
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
    if args.script == "ports":
        return ports_command(args)
    try:
        if args.timeout is not None:
            check_float("--timeout", args.timeout, 0.001, 3600)
        check_int("--commitment", args.commitment, 0, 120)
        script = get_script(args.script)
        given = _params(args.param)
        params = script.resolve(given)
        allow: BenchAllowList | None = load_allow_list(args.allow_list) if args.allow_list else None
        check_offer(args.offer, args.plan, args.commitment)
        if args.probe:
            raise OptionError("--probe is an option of `m2msim bench ports`")
        modems = rack_of(args.modem_url or []) + (load_rack(args.rack) if args.rack else [])
        if not modems:
            raise OptionError("give --modem-url URL (repeatable) or --rack FILE")
        names = [m.name for m in modems]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise OptionError(f"two modems named {dup!r}: give the rack's modems distinct names")
        drivers: dict[str, DriverProfile] = {}
        for m in modems:
            try:
                preflight(script, m.url, allow, params)
                drivers[m.name] = driver_profile_for(m.url, m.profile or args.profile)
            except (TransportError, YamlError) as exc:  # a rack's modem: name the rack file's line too
                if m.where is None:
                    raise
                raise OptionError(f"{m.where}: {exc}") from None
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
        if args.junit is not None:  # (before the --out folder is made)
            # never over an input, --force or not (the allow-list was replaced by the JUnit XML)
            inputs = [args.allow_list, args.rack, args.script, args.profile]
            refuse_same_file(args.junit, [Path(p) for p in inputs if p], option="--junit")
            refuse_foreign(args.junit, is_junit, force=args.force, option="--junit")
        _writable_folder(out, "--out")
        if args.junit is not None:
            if args.junit.is_dir():
                raise OutputError(f"--junit {args.junit}: is a folder, expected a file name")
            check_writable_dir(args.junit.parent, option="--junit")
        single = len(modems) == 1 and args.rack is None
        folders = [out] if single else [out / m.name for m in modems]
        if args.junit is not None:
            ours = {(f / n).resolve() for f in folders for n in (TRANSCRIPT, *_REPORTS)}
            if args.junit.resolve() in ours:  # the JUnit file was written over it, exit 0
                raise OutputError(
                    f"--junit {args.junit}: is one of the bench's own files; choose another name"
                )
        # one writer per output: the JUnit file too, for the whole bench (two benches on one --junit
        # both ran, and the one that ended last replaced the other's report)
        with (
            output_lock(out, output=False),  # (its files say themselves what they hold: not "left as it was")
            output_lock(args.junit) if args.junit is not None else contextlib.nullcontext(),
        ):
            # the lock files killed benches left beside theirs: each bench's --out is named once
            # (NAME-TIME), so no later bench of that name removed it
            for place in {os.path.realpath(out.parent), os.path.dirname(os.path.realpath(out))}:
                remove_unheld_locks(Path(place))
            for folder in folders:
                _refuse_earlier_bench(folder)
                for name, own in REPORT_FILES.items():
                    refuse_foreign(folder / name, own, force=args.force, option="--out")
            if single:
                return _run_and_report(args, script, given, allow, drivers[modems[0].name], out, modems)
            return _run_rack(args, script, given, allow, drivers, out, modems)
    except OutputError as exc:
        return _fail(str(exc))


def _writable_folder(out: Path, option: str) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out}: is a file, expected a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {out}: cannot create the folder ({exc.strerror or exc})") from None
    check_writable_dir(out, option)


_REPORTS = ("report.json", "report.txt", "report.html")  # what `BenchResult.write` puts beside the transcript


def _refuse_earlier_bench(folder: Path) -> None:
    """`OutputError` when `folder` holds an earlier bench's transcript: the new one would overwrite
    it, and an interrupted or failed run would leave the earlier run's reports beside its transcript."""
    if (folder / TRANSCRIPT).exists():
        raise OutputError(
            f"--out {folder}: holds an earlier bench's {TRANSCRIPT} (it would be overwritten, and the "
            "earlier reports left beside the new transcript); choose another folder"
        )


def _kwargs(args: argparse.Namespace, params: dict[str, Any], allow: BenchAllowList | None) -> dict[str, Any]:
    """run_bench's options; `params` as given (a replayed modem takes the others from its recording)."""
    return {
        "allow_list": allow,
        "params": params,
        "offer": args.offer,
        "plan": args.plan,
        "commitment": args.commitment,
        "timeout": args.timeout,
        "raw": args.raw,
        "check_forwarding": not args.no_forwarding_check,
    }


def _interrupted(signum: int, where: str) -> int:
    name = signal.Signals(signum).name
    say_interrupted(
        f"m2msim bench: interrupted ({name}); the transcript up to the interruption, with the "
        f"hang-up and PDP release, is {where}"
    )
    return 128 + signum


def _run_and_report(
    args: argparse.Namespace,
    script: BenchScript,
    params: dict[str, Any],
    allow: BenchAllowList | None,
    driver: DriverProfile,
    out: Path,
    modems: list[RackModem],
) -> int:
    url = modems[0].url
    kwargs = {**_kwargs(args, params, allow), "profile": driver, "out": out}
    started = datetime.now(UTC)
    try:
        result, signum = asyncio.run(_interruptible(lambda: run_bench(script, url, **kwargs)))
    except (NoDialPolicy, TransportError, YamlError, ScriptParamError) as exc:
        return _fail(str(exc))
    if result is None:
        return _interrupted(signum, str(out / TRANSCRIPT))
    try:
        paths = result.write(out, force=args.force)
    except OSError as exc:
        print(result.render_text(), end="")
        cut = result.transcript.unwritten is not None
        kept = f"; {TRANSCRIPT} there stops before the end of the run" if cut else ""
        return _fail(f"{out}: cannot write the report: {exc.strerror or exc}{kept}")
    if args.junit is not None:
        write_junit(args.junit, script.name, [RackRow(modems[0], result)], started, force=args.force)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        _print_summary(result, paths)
        if args.junit is not None:
            print(f"  junit:      {args.junit}")
    if result.status in ("passed", "skipped"):
        return 0
    return 1


def _run_rack(
    args: argparse.Namespace,
    script: BenchScript,
    params: dict[str, Any],
    allow: BenchAllowList | None,
    drivers: dict[str, DriverProfile],
    out: Path,
    modems: list[RackModem],
) -> int:
    """The script on every modem at once, each in `out/<name>/`; one table, one JUnit file."""
    for m in modems:
        _writable_folder(out / m.name, "--out")
    kwargs = _kwargs(args, params, allow)
    unwritten: dict[str, str] = {}

    async def one(m: RackModem) -> BenchResult:
        folder = out / m.name
        result = await run_bench(script, m.url, profile=drivers[m.name], out=folder, **kwargs)
        try:
            result.write(folder, force=args.force)
        except (OSError, OutputError) as exc:  # the run's verdict stands; its reports are missing
            unwritten[m.name] = f"{folder}: cannot write the report: {getattr(exc, 'strerror', None) or exc}"
        return result

    started = datetime.now(UTC)
    rows, signum = asyncio.run(_interruptible(lambda: run_rack(modems, one)))
    if rows is None:
        return _interrupted(signum, f"{out}/<modem>/{TRANSCRIPT}")
    for row in rows:
        row.unwritten = unwritten.get(row.modem.name)
    if args.junit is not None:
        write_junit(args.junit, script.name, rows, started, force=args.force)
    if args.json:
        print(json.dumps(summary_dict(script.name, rows), indent=2, ensure_ascii=False, default=str))
    else:
        print(render_table(script.name, rows), end="")
        print(f"  transcripts and reports: {out}/<modem>/")
        if args.junit is not None:
            print(f"  junit: {args.junit}")
    for row in rows:
        if row.status == "refused" and row.result is not None:
            print(
                f"m2msim bench: {row.modem.name}: REFUSED by the bench allow-list: {row.result.error}",
                file=sys.stderr,
            )
    for name, why in unwritten.items():
        print(f"m2msim bench: {name}: {why}", file=sys.stderr)
    if unwritten:  # as with one modem: an --out that cannot be written
        return 2
    return 0 if all(r.status in ("passed", "skipped") for r in rows) else 1


T = TypeVar("T")


async def _interruptible(run: Callable[[], Awaitable[T]]) -> tuple[T | None, int]:
    """Run the bench; SIGINT, SIGTERM or SIGHUP (a closed terminal) cancels it (each run hangs up
    and releases the PDP contexts on its way out) and gives (None, the signal's number)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received:
            received.append(signum)
            task.cancel()

    remove_handlers = loop_stops_on(loop, stop)
    try:
        return await run(), 0
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        return None, received[0]
    finally:
        remove_handlers()


def ports_command(args: argparse.Namespace, comports: Callable[[], Iterable[Any]] | None = None) -> int:
    try:
        check_float("--probe-timeout", args.probe_timeout, 0.05, 30)
        if args.modem_url or args.rack:
            raise OptionError("bench ports lists every port: --modem-url and --rack do not apply")
    except OptionError as exc:
        print(f"m2msim bench: {exc}", file=sys.stderr)
        return 2
    ports = list_ports(comports)
    if args.probe and ports:
        asyncio.run(probe_ports(ports, args.probe_timeout))
    if args.json:
        print(json.dumps({"ports": [p.to_dict() for p in ports]}, indent=2, ensure_ascii=False))
    else:
        print(render_ports(ports, probed=args.probe), end="")
    return 0


def _print_summary(result: BenchResult, paths: dict[str, Path]) -> None:
    print(result.render_text(), end="")
    print(f"  transcript: {paths['transcript']}")
    print(f"  report:     {paths['report']}, {paths['html']}")
    if result.status == "refused":
        print(f"m2msim bench: REFUSED by the bench allow-list: {result.error}", file=sys.stderr)
