"""`m2msim modem serve`: virtual modems on pseudo-terminals (or loopback TCP ports) for any AT client.

    m2msim modem serve --profile simcom-sim800                 # prints /dev/pts/N, serves until Ctrl-C
    m2msim modem serve --profile quectel-bg96 --count 100      # 100 modems, 100 paths
    m2msim modem serve --profile generic --tcp 7000            # socket://127.0.0.1:7000
    m2msim modem serve --profile generic --scenario roam.yaml --records usage.csv
    m2msim modem serve --profile simcom-sim800 --records usage.csv --capture gateway.pcap   # PPP in GTP-U
    m2msim modem serve --profile quectel-bg96 --alarms alarms.yaml --alarms-out alarms.jsonl   # the operator's alarms
    m2msim modem serve --profile quectel-bg96 --internet hosts.yaml   # sockets reach local servers
    m2msim modem serve --profile quectel-bg96 --netspeed edge --netdelay 150:550   # network conditions
    m2msim modem serve --profile simcom-sim800 --ip-path tun --netns lab   # PPP's IP into a namespace

The first lines of the output are the device paths (one per modem, flushed at once); then the
modems' identities go to stderr.  It serves until SIGINT / SIGTERM / SIGHUP (a closed terminal), then
closes the modems, writes the records and exits 130 / 143 / 129 with one line; 2 on unusable input (one
line naming the file, line and key, or the option).  `--check` validates and exits without serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gateway.api import (
    Alarm,
    AlarmConfig,
    Internet,
    build_network,
    default_table,
    is_alarm_file,
    load_alarm_config,
    load_internet,
    unassigned_mcc,
)
from m2msim.outputs import (
    OPEN_TAG,
    OutputError,
    atomic_path,
    atomic_write_text,
    check_writable_dir,
    is_stream,
    keep_left,
    left_words,
    output_lock,
    refuse_foreign,
    refuse_same_file,
    same_path,
    temporary_name,
)
from m2msim.signals import loop_stops_on, say_interrupted
from m2msim.yamlio import YamlError
from modem.drivers.profile import load_driver_profile
from modem.options import MAX_PORT, MAX_SEED, OptionError, check_int
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import Conditions, ConditionsError, conditions_from, preset, preset_for
from modem.virtual.control import (
    JOURNAL_TAG,
    Console,
    JournalError,
    RecordTee,
    Served,
    load_journal,
    replay,
)
from modem.virtual.control_server import ADDRESS_TAG, ControlServer
from modem.virtual.core import RadioSettings
from modem.virtual.faults import FaultError, make_faults
from modem.virtual.ppp.netns import check_name
from modem.virtual.ppp.tun import IP_CHOICES, TunNetwork, default_namespace, tun_unavailable
from modem.virtual.scenario import (
    ServeScenario,
    load_scenario,
    served_modems,
)
from modem.virtual.server import PtyEndpoint, TcpEndpoint
from modem.virtual.serving import reserve_fds, run_served

log = logging.getLogger(__name__)


def register_serve(modem_subparsers: Any) -> None:
    """Add `serve` to the `m2msim modem` sub-commands."""
    p = modem_subparsers.add_parser(
        "serve", help="serve virtual modems on pseudo-terminals (or loopback TCP) for any AT client"
    )
    p.add_argument("--profile", default="generic", help="vendor profile name or YAML file (default generic)")
    p.add_argument(
        "--scenario", type=Path, help="YAML: start time, offer, coverage over time, SMS and call events"
    )
    p.add_argument("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT (PORT+i for modem i)")
    p.add_argument("--count", type=int, default=1, help="how many modems (default 1)")
    p.add_argument("--seed", type=int, help="identity and fault seed (default: the scenario's, else 0)")
    p.add_argument("--plmn", default="", help="serving network MCC+MNC (default: the SIM's home network)")
    p.add_argument("--pin", help='the SIMs ask for this PIN (+CPIN: SIM PIN until AT+CPIN="PIN")')
    p.add_argument(
        "--internet",
        type=Path,
        metavar="FILE",
        help="YAML: names -> local endpoints and the reachable addresses (default: loopback; names -> echo)",
    )
    p.add_argument(
        "--ip-path",
        choices=IP_CHOICES,
        default="auto",
        help="where PPP's IP packets go: tun (a TUN device in a network namespace; root), user (the "
        "user-space forwarder), auto (default: tun when root with /dev/net/tun and iproute2, else user)",
    )
    p.add_argument(
        "--netns",
        metavar="NAME",
        help="the network namespace of the TUN path (default m2msim-PID, made and removed; "
        "an existing one is joined and kept)",
    )
    p.add_argument("--records", type=Path, help="write the usage records to this CSV or Parquet file")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a --records, --capture or --alarms-out file m2msim did not write "
        "(usage records, its pcap, its alarms)",
    )
    p.add_argument(
        "--capture",
        type=Path,
        help="write the gateway's capture to this pcap (GTP-C, RADIUS, the PPP bearer's packets in GTP-U)",
    )
    p.add_argument(
        "--alarms",
        type=Path,
        metavar="ALARMS",
        help="the operator's autodiagnostic alarm configuration (YAML, as `m2msim alarms-check` checks): "
        "the served lines' uses raise its alarms",
    )
    p.add_argument(
        "--alarms-out",
        type=Path,
        metavar="FILE",
        help="write each alarm as it is raised, one JSON line (default: beside --records, "
        "RECORDS.alarms.jsonl, else alarms.jsonl)",
    )
    p.add_argument("--no-network", action="store_true", help="no operator network: the modems search forever")
    p.add_argument(
        "--control",
        choices=("unix", "tcp", "none"),
        default="unix",
        help="the control console: a Unix socket (default), loopback TCP with a token, or none",
    )
    p.add_argument("--control-file", type=Path, help="write the console's address (JSON) to this file")
    p.add_argument(
        "--journal", type=Path, help="write the console's commands, with their times, to this file"
    )
    p.add_argument("--replay", type=Path, help="run a console journal's commands again at their times")
    p.add_argument(
        "--net",
        metavar="PRESET",
        help="network conditions preset: gsm, gprs, edge, umts, hsdpa, lte, lte-m, nb-iot, full "
        "(default: the profile's radio)",
    )
    p.add_argument("--netspeed", metavar="SPEED", help="a preset, kbit/s, or UP:DOWN kbit/s (0: unlimited)")
    p.add_argument("--netdelay", metavar="DELAY", help="a preset, round trip ms, or MIN:MAX ms")
    p.add_argument("--netloss", metavar="PERCENT", help="IP packet loss in percent")
    p.add_argument(
        "--check",
        action="store_true",
        help="check the profile, scenario and options, print them, do not serve",
    )
    p.set_defaults(handler=_serve)


def register_ctl(modem_subparsers: Any) -> None:
    """Add `ctl` (the console's client) to the `m2msim modem` sub-commands."""
    p = modem_subparsers.add_parser("ctl", help="send a command to a running `modem serve` (its console)")
    p.add_argument("address", help="the serve's address file, unix:PATH or tcp://127.0.0.1:PORT")
    p.add_argument("words", nargs=argparse.REMAINDER, help="the command and its arguments (try: help)")
    p.add_argument("--token", help="the token of a TCP console (default: the address file's)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    p.set_defaults(handler=_ctl)


def register_modem_commands(modem_subparsers: Any) -> None:
    """The hook `modem.cli` looks for: `serve` and `ctl`."""
    register_serve(modem_subparsers)
    register_ctl(modem_subparsers)


def _ctl(args: argparse.Namespace) -> int:
    import json

    from modem.options import check_float
    from modem.virtual.control_client import ConsoleClient, ConsoleError

    try:
        check_float("--timeout", args.timeout, 0.001, 86_400)
    except OptionError as exc:
        print(f"m2msim modem ctl: {exc}", file=sys.stderr)
        return 2
    if not args.words:
        print("m2msim modem ctl: no command given (try: help)", file=sys.stderr)
        return 2
    try:
        with ConsoleClient(args.address, args.token, args.timeout) as client:
            result = client.run(*args.words)
    except ConsoleError as exc:
        print(f"m2msim modem ctl: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0


MAX_MODEMS = 1000


def _serve(args: argparse.Namespace) -> int:
    try:
        check_int("--count", args.count, 1, MAX_MODEMS)
        reserve_fds(args.count, args.tcp is not None)
        if args.tcp is not None:
            check_int("--tcp", args.tcp, 0, MAX_PORT)
            if args.tcp and args.tcp + args.count - 1 > MAX_PORT:
                raise OptionError(
                    f"--tcp {args.tcp} --count {args.count}: ports {args.tcp}..{args.tcp + args.count - 1} "
                    f"go past {MAX_PORT}"
                )
        check_int("--seed", args.seed, 0, MAX_SEED)
        if args.plmn and (not args.plmn.isdigit() or len(args.plmn) not in (5, 6)):
            raise OptionError(f"--plmn {args.plmn!r}: not MCC+MNC (5 or 6 digits)")
        if args.plmn and not default_table().assigned(args.plmn):
            raise OptionError(f"--plmn {args.plmn!r}: {unassigned_mcc(args.plmn)}")
        if args.pin is not None and (not args.pin.isdigit() or not 4 <= len(args.pin) <= 8):
            raise OptionError(f"--pin {args.pin!r}: a SIM PIN is 4 to 8 digits")
        if args.records is not None:
            if args.no_network:  # (nothing to record: the end replaced the file by an empty one)
                raise OptionError("--records: there is no network to record usage with --no-network")
            check_writable_dir(args.records.parent, "--records")
            if args.records.is_dir():
                raise OptionError(f"--records {args.records}: is a directory, expected a file name")
            inputs = [
                p for p in (args.scenario, Path(args.profile), args.internet, args.replay, args.alarms) if p
            ]
            refuse_same_file(args.records, inputs, option="--records")
            from accounting.usage_writer import is_usage_file, misnamed_output

            misnamed = misnamed_output(args.records)
            if misnamed is not None:
                raise OptionError(f"--records {args.records}: {misnamed}")
            refuse_foreign(args.records, is_usage_file, force=args.force, option="--records")
        if args.capture is not None:
            if args.no_network:
                raise OptionError("--capture: there is no network to capture with --no-network")
            check_writable_dir(args.capture.parent, "--capture")
            if args.capture.is_dir():
                raise OptionError(f"--capture {args.capture}: is a directory, expected a file name")
            refuse_same_file(
                args.capture,
                [
                    p
                    for p in (
                        args.scenario,
                        Path(args.profile),
                        args.internet,
                        args.replay,
                        args.records,
                        args.alarms,
                    )
                    if p
                ],
                option="--capture",
            )
            from gateway.api import is_own_capture

            if args.records is not None and args.capture.resolve() == args.records.resolve():
                raise OptionError(f"--capture {args.capture}: is also the --records file; name two files")
            refuse_foreign(args.capture, is_own_capture, force=args.force, option="--capture")
        args.alarm_config = _alarm_options(args)
        for option, path in (("--journal", args.journal), ("--control-file", args.control_file)):
            if path is not None:
                check_writable_dir(path.parent, option)
                if path.is_dir():
                    raise OptionError(f"{option} {path}: is a directory, expected a file name")
                refuse_same_file(
                    path,
                    [p for p in (args.scenario, args.records, args.capture, args.replay, args.alarms) if p],
                    option=option,
                )
        if args.netns is not None:
            if args.ip_path == "user":
                raise OptionError(f"--netns {args.netns}: only with --ip-path tun or auto")
            try:
                check_name(args.netns)
            except ValueError as exc:
                raise OptionError(f"--netns {exc}") from None
        if args.ip_path == "tun" and not args.no_network:
            reason = tun_unavailable()
            if reason is not None:
                raise OptionError(f"--ip-path tun: {reason}")
        if args.control == "none" and (args.control_file or args.journal):
            raise OptionError("--control none: no console, so no --control-file or --journal")
        if (
            args.journal is None
            and args.records is not None
            and args.control != "none"
            and not is_stream(args.records)
        ):
            # the run's console journal goes beside its records, so that the run replays (not beside
            # a device: `--records /dev/null` wrote /dev/null.console.jsonl, or failed at the end)
            args.journal = args.records.with_name(args.records.name + ".console.jsonl")
            if args.journal.exists() and not _ours(args.journal, JOURNAL_TAG):
                raise OptionError(
                    f"--records {args.records}: {args.journal} (the console journal beside the records) "
                    "exists and is not a console journal; name another with --journal"
                )
        named = [
            (option, path)
            for option, path in (
                ("--records", args.records),
                ("--capture", args.capture),
                ("--alarms-out", args.alarms_out),
                ("--journal", args.journal),
                ("--control-file", args.control_file),
            )
            if path is not None
        ]
        for i, (option, path) in enumerate(named):  # (one written over the other: the records lost)
            for other, other_path in named[:i]:
                if same_path(path, other_path):
                    raise OptionError(f"{option} {path}: is also the {other} file; name two files")
        for option, path, tag, what in (
            ("--control-file", args.control_file, ADDRESS_TAG, "a console address file"),
            ("--journal", args.journal, JOURNAL_TAG, "a console journal"),
        ):
            if path is not None and path.exists() and not _ours(path, tag):
                raise OptionError(f"{option} {path}: exists and is not {what}")
        replay: list[tuple[float, list[str]]] = []
        if args.replay is not None:
            _, replay = load_journal(args.replay)
        profile = load_profile(args.profile)
        load_driver_profile(args.profile)  # the file's driver section too: one file, checked whole
        scenario = load_scenario(args.scenario) if args.scenario else ServeScenario()
        faults = make_faults(scenario.faults, make_faults(profile.faults))
        internet = load_internet(args.internet) if args.internet else scenario.internet
        conditions = conditions_from(
            preset(preset_for(profile.rat, profile.act)),
            net=args.net,
            netspeed=args.netspeed,
            netdelay=args.netdelay,
            netloss=args.netloss,
            prefix="--",
        )
    except (YamlError, OutputError, OptionError, FaultError, JournalError, ConditionsError) as exc:
        print(f"m2msim modem serve: {exc}", file=sys.stderr)
        return 2
    # one writer per output: a second serve on the same --records or --capture is refused now, not
    # when both end (the later one's file replaced the other's: a whole serve's records lost); so is
    # one on the same --journal (the later one's replaced the other's console journal) or
    # --control-file (the later one's address replaced the other's, and the first to end removed it)
    held = contextlib.ExitStack()
    try:
        for path in (args.records, args.capture, args.alarms_out, args.journal, args.control_file):
            if path is not None:
                held.enter_context(output_lock(path))
    except OutputError as exc:
        held.close()
        print(f"m2msim modem serve: {exc}", file=sys.stderr)
        return 2
    args.journal_lost = None  # what kept the console journal from being written at the end
    args.lost = []  # the records or the capture that could not be written whole at the end
    args.records_journal = None  # the records as they come, beside a Parquet --records (`_run`)
    args.alarm_log = None  # --alarms-out as serving goes (`_alarm_log`)
    with held:
        if args.check:
            what = f"scenario {args.scenario}: {len(scenario.coverage)} coverage steps, {len(scenario.events)} events"
            print(f"profile {profile.name} ({profile.source}); {what if args.scenario else 'no scenario'}")
            print(f"network conditions {conditions.describe()}")
            print(f"IP path {_ip_path_choice(args)[0]}")
            if args.alarm_config is not None:
                cfg = args.alarm_config
                print(
                    f"alarms {args.alarms}: {len(cfg.groups)} group(s), time zone {cfg.timezone}, "
                    f"to {args.alarms_out}"
                )
            return 0
        # what an earlier serve killed (SIGKILL, the OOM killer) left of its records and capture
        for path in (args.records, args.capture):
            if path is not None and not is_stream(path):
                for left in keep_left(path):
                    print(f"m2msim modem serve: {left.path}: {left_words(left)}", file=sys.stderr, flush=True)
        try:
            # The records file and the capture appear whole when serving ends (written under temporary
            # names, filled as serving goes: a serve killed leaves them, kept by the next one).
            with (
                _unless_lost(_records_path(args), args.lost, "--records")
                if args.records
                else contextlib.nullcontext() as records,
                _unless_lost(_capture_path(args), args.lost, "--capture")
                if args.capture
                else contextlib.nullcontext() as capture,
                _alarm_log(args) as args.alarm_log,
            ):
                signum = run_served(
                    _run(args, profile, scenario, faults, records, replay, conditions, internet, capture)
                )
        except OutputError as exc:
            print(f"m2msim modem serve: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"m2msim modem serve: {exc}", file=sys.stderr)
            return 2
        finally:  # (after the rename: a serve killed before it leaves the records to keep)
            if args.records_journal is not None:
                with contextlib.suppress(OSError):
                    args.records_journal.unlink()
        lost = [*args.lost]
        if args.journal_lost is not None:  # (the records and the capture are written all the same)
            lost.insert(0, f"{args.journal_lost}: the console journal is lost")
        said = " ".join(lost)
        kept = f"; usage records in {args.records}" if args.records and "--records " not in said else ""
        kept += f"; capture in {args.capture}" if args.capture and "--capture " not in said else ""
        if args.alarm_log is not None and "--alarms-out " not in said:
            alarms = args.alarm_log.count
            kept += f"; {alarms} alarm{'s' * (alarms != 1)} in {args.alarms_out}"
        if lost:
            print(f"m2msim modem serve: {'; '.join(lost)}{kept}", file=sys.stderr)
            return 2
        say_interrupted(f"m2msim modem serve: interrupted ({signal.Signals(signum).name}){kept}")
        return 128 + signum


async def _run(
    args: argparse.Namespace,
    profile: Any,
    scenario: ServeScenario,
    faults: Any,
    records: Path | None,
    replay_entries: list[tuple[float, list[str]]],
    conditions: Conditions,
    internet: Internet | None = None,
    capture_path: Path | None = None,
) -> int:
    """Serve until SIGINT, SIGTERM or SIGHUP (`m2msim.signals.stop_signals`); the signal's number."""
    loop = asyncio.get_running_loop()
    epoch = scenario.start or datetime.now(UTC).replace(microsecond=0)
    seed = args.seed if args.seed is not None else scenario.seed
    writer: _Live | None = None
    sessions: Any = None  # the open data sessions' interim records (accounting.interim)
    network = None
    tee = None
    capture = None
    if not args.no_network:
        if records is not None:
            from accounting.usage_writer import UsageWriter, format_for

            # every record written as it comes, to a CSV under a temporary name (the --records file
            # itself when it is a CSV, a journal beside a Parquet one, whose footer comes at the end)
            try:
                if format_for(args.records) == "csv":
                    writer = _Live(UsageWriter(records, "csv", batch_rows=1))
                else:
                    writer = _Live(UsageWriter(records, "parquet"))
                    if not is_stream(records):
                        # named for the file written (the one a link names), as the next serve looks
                        args.records_journal = temporary_name(Path(os.path.realpath(args.records)), "rec")
                        writer.journal = UsageWriter(args.records_journal, "csv", batch_rows=1)
            except OSError as exc:  # (a full disk: Arrow's error names no file)
                if writer is not None:
                    with contextlib.suppress(OSError):
                        writer.close()
                raise OutputError(f"--records {args.records}: cannot write ({_why(exc)})") from None
            if not is_stream(records):
                from accounting.interim import OpenSessionJournal

                # named for the file written, as the records' temporary file (the next serve folds
                # them into what a killed serve left: accounting.interim)
                final = Path(os.path.realpath(args.records))
                try:
                    sessions = OpenSessionJournal(lambda: temporary_name(final, OPEN_TAG))
                except OSError as exc:
                    log.warning("--records %s: no journal of the open sessions (%s)", args.records, _why(exc))
        tee = RecordTee(writer if writer is not None else _Discard())
        if capture_path is not None:
            from gateway.api import PcapCapture

            # events come in real time: a short reorder window bounds the memory held for real packets;
            # in place: `capture_path` is already --capture's temporary name (`_capture_path`), renamed
            # when serving ends, after the check that no foreign file appeared at --capture meanwhile
            try:
                capture = PcapCapture(
                    capture_path, epoch, seed=seed, reorder_horizon_s=5.0, reorder_limit=32_768, in_place=True
                )
            except OSError as exc:
                if writer is not None:
                    writer.close()
                if sessions is not None:
                    with contextlib.suppress(OSError):
                        sessions.close(remove=True)
                raise OutputError(f"--capture {args.capture}: cannot write ({_why(exc)})") from None
        alarms = None
        if args.alarm_log is not None:
            # every served line has the autodiagnostic option: the groups' lines choose the watched ones
            alarms = args.alarm_config.engine(lambda _line: True, args.alarm_log)
        network = build_network(epoch, tee, seed, capture=capture, alarms=alarms, scans=scenario.scans)
    clock = LoopClock(loop, 0.0)
    endpoints: list[PtyEndpoint | TcpEndpoint] = []
    control: ControlServer | None = None
    console: Console | None = None
    tun: TunNetwork | None = None
    # a signal from here on ends the serving below, the namespace and the devices removed
    stop: asyncio.Future[int] = loop.create_future()

    def on_signal(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    remove_handlers = loop_stops_on(loop, on_signal)
    synced: asyncio.TimerHandle | None = None

    def sync() -> None:
        """Every second, the records and the capture written so far pushed to the disk (a power
        loss takes at most the last second; SIGKILL, nothing written), then the current record of
        each open data session whose bytes changed appended to their journal and pushed too: a kill
        loses at most the last second of a session still open (accounting.interim)."""
        nonlocal synced, sessions
        for out in (writer, capture):
            if out is not None:
                try:
                    out.sync()
                except OSError as exc:  # (a full disk: said when serving ends, the file closed)
                    log.debug("sync: %s", exc)
        if sessions is not None and network is not None:
            try:  # (after the records: a record it backs is on the disk before it)
                sessions.update(network.current_records(clock.now()))
                sessions.sync()
            except OSError as exc:
                log.warning("--records %s: the open sessions' journal stops (%s)", args.records, _why(exc))
                with contextlib.suppress(OSError):
                    sessions.close(remove=False)
                sessions = None
        synced = loop.call_later(1.0, sync)

    try:
        sync()
        if network is not None:
            tun = _open_tun(args)
        modems = served_modems(
            profile,
            args.count,
            network,
            scenario,
            seed,
            faults=faults,
            radio=RadioSettings(plmn=args.plmn),
            now=clock.now(),
            epoch=epoch,
            pin=args.pin,
            internet=internet,
            conditions=conditions,
        )
        for i, modem in enumerate(modems):
            modem.tun = tun
            if args.tcp is not None:
                tcp = TcpEndpoint(modem, clock, args.tcp + i if args.tcp else 0)
                await tcp.start()
                endpoints.append(tcp)
            else:
                endpoints.append(PtyEndpoint(modem, clock))
        print("\n".join(ep.path for ep in endpoints), flush=True)
        for ep in endpoints:
            ident = ep.modem.identity
            print(
                f"{ep.path}: {profile.name} IMEI {ident.imei} IMSI {ident.imsi} ICCID {ident.iccid} "
                f"MSISDN +{ident.msisdn} line {ident.line_id}",
                file=sys.stderr,
                flush=True,
            )
        if args.control != "none":
            served = [Served(i, ep.path, ep.runner) for i, ep in enumerate(endpoints)]
            console = Console(
                served,
                network,
                clock,
                epoch,
                offer=scenario.offer,
                tee=tee,
                header={
                    "profile": profile.name,
                    "seed": seed,
                    "count": args.count,
                    "start": epoch.isoformat(),
                },
            )
            control = ControlServer(console, args.control)
            await control.start()
            address_file = args.control_file or control.default_address_file()
            control.write_address_file(address_file, [ep.path for ep in endpoints])
            print(
                f"m2msim modem serve: console {control.address} (address file {address_file})",
                file=sys.stderr,
                flush=True,
            )
            replay(console, replay_entries)
        return await stop
    finally:
        try:
            if control is not None:
                await control.close()
            if console is not None and args.journal is not None:
                try:  # (raised, it skipped the rest: the records, the capture and the TUN namespace)
                    atomic_write_text(
                        args.journal, console.journal_text(), own=_journal_file, option="--journal"
                    )
                except OutputError as exc:
                    args.journal_lost = str(exc)
                except OSError as exc:
                    args.journal_lost = f"--journal {args.journal}: cannot write ({exc.strerror or exc})"
            for ep in endpoints:
                ep.close()
            if tun is not None:
                tun.close()
            if network is not None:
                network.flush(clock.now())
            # each file closed whatever befell the other: one that cannot be written whole (a full
            # disk) is not kept, and the other is (the first error skipped the capture's close, and
            # both were lost under a message naming neither)
            kept: tuple[tuple[Any, str, str], ...] = (
                (writer, f"--records {args.records}", "the usage records are lost"),
                (capture, f"--capture {args.capture}", "the capture is lost"),
            )
            for output, option, loss in kept:
                if output is not None:
                    try:
                        output.close()
                    except OSError as exc:
                        args.lost.append(f"{option}: cannot write ({_why(exc)}): {loss}")
            if args.alarm_log is not None and args.alarm_log.error is not None:
                args.lost.append(
                    f"--alarms-out {args.alarms_out}: cannot write ({args.alarm_log.error}): "
                    f"the alarms after the first {args.alarm_log.count} are lost"
                )
            if sessions is not None:  # every session closed with its record, in the file: no longer needed
                with contextlib.suppress(OSError):
                    sessions.close(remove=True)
        finally:  # the signals stay ignored until the records and the capture are renamed into place
            if synced is not None:
                synced.cancel()
            remove_handlers()


def _ip_path_choice(args: argparse.Namespace) -> tuple[str, str]:
    """("tun" | "user", why) for `--ip-path`."""
    if args.ip_path == "user":
        return "user", "--ip-path user"
    reason = tun_unavailable()
    if reason is None:
        return "tun", f"--ip-path {args.ip_path}"
    return "user", reason  # auto (tun without its needs was refused with the options)


def _open_tun(args: argparse.Namespace) -> TunNetwork | None:
    """The TUN path's namespace and device when `--ip-path` chooses it; states the choice on stderr.
    `--ip-path tun` that cannot be made raises (exit 2); auto falls back to the forwarder, saying why."""
    path, why = _ip_path_choice(args)
    tun = None
    if path == "tun":
        try:
            tun = TunNetwork.open(args.netns or default_namespace())
        except OSError as exc:
            if args.ip_path == "tun":
                raise
            why = str(exc)
    if tun is not None:
        print(f"m2msim modem serve: PPP's IP path: {tun.describe()}", file=sys.stderr, flush=True)
    else:
        print(
            f"m2msim modem serve: PPP's IP path: the user-space forwarder ({why})",
            file=sys.stderr,
            flush=True,
        )
    return tun


class _Live:
    """The record sink of `serve --records`: each record written at once to the file (a CSV of
    `batch_rows=1`, where a killed serve leaves every record it had; a Parquet file's writer, which
    keeps them for its footer) and to the `journal`, a CSV of them beside a Parquet file.  A write
    the disk refuses (full) never reaches the modems: the file's error is raised by `close` (its
    records lost, said when serving ends); the journal's stops the journal alone."""

    def __init__(self, file: Any, journal: Any | None = None) -> None:
        self.file, self.journal = file, journal
        self.failed: OSError | None = None

    def write(self, record: Any) -> None:
        if self.failed is None:
            try:
                self.file.write(record)
            except OSError as exc:
                self.failed = exc
        if self.journal is not None:
            try:
                self.journal.write(record)
            except OSError as exc:
                log.warning("--records journal %s: %s: no longer written", self.journal.path, _why(exc))
                with contextlib.suppress(OSError):
                    self.journal.close()
                self.journal = None

    def sync(self) -> None:
        for w in (self.file, self.journal):
            if w is not None and w.format == "csv":
                w.sync()

    def close(self) -> None:
        """Close the file and the journal, the file's first error raised after both are closed."""
        try:
            if self.journal is not None:
                with contextlib.suppress(OSError):
                    self.journal.close()
            self.file.close()
        except OSError as exc:
            self.failed = self.failed or exc
        if self.failed is not None:
            raise self.failed


def _alarm_options(args: argparse.Namespace) -> AlarmConfig | None:
    """--alarms read and checked, --alarms-out named (beside --records by default) and checked."""
    if args.alarms is None:
        if args.alarms_out is not None:
            raise OptionError("--alarms-out: only with --alarms (the alarm configuration)")
        return None
    if args.no_network:
        raise OptionError("--alarms: there is no network to raise alarms with --no-network")
    config = load_alarm_config(args.alarms)  # (a ConfigFileError: file:line: key: reason)
    if args.alarms_out is None:
        beside = args.records is not None and not is_stream(args.records)
        args.alarms_out = (
            args.records.with_name(args.records.name + ".alarms.jsonl") if beside else Path("alarms.jsonl")
        )
    check_writable_dir(args.alarms_out.parent, "--alarms-out")
    if args.alarms_out.is_dir():
        raise OptionError(f"--alarms-out {args.alarms_out}: is a directory, expected a file name")
    inputs = [p for p in (args.scenario, Path(args.profile), args.internet, args.replay, args.alarms) if p]
    refuse_same_file(args.alarms_out, inputs, option="--alarms-out")
    refuse_foreign(args.alarms_out, is_alarm_file, force=args.force, option="--alarms-out")
    return config


class _AlarmLog:
    """The alarm sink of `serve --alarms`: each alarm appended to --alarms-out as it is raised, one
    JSON line in one write, pushed out at once (a client waiting on the file sees it whole).  A write
    that fails (a full disk) stops the log, said when serving ends; the modems go on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0
        self.error: str | None = None

    def write(self, alarm: Alarm) -> None:
        if self.error is not None:
            return
        try:
            self.stream.write(alarm.to_json() + "\n")
            self.stream.flush()
        except OSError as exc:
            self.error = _why(exc)
            log.warning("--alarms-out: %s: no longer written", self.error)
            return
        self.count += 1


@contextlib.contextmanager
def _alarm_log(args: argparse.Namespace) -> Iterator[_AlarmLog | None]:
    """--alarms-out opened for appending, emptied first (this serve's alarms alone; an earlier serve's
    file is replaced, another only with --force), closed whatever ends serving."""
    if args.alarm_config is None:
        yield None
        return
    path = args.alarms_out
    try:
        if not is_stream(path):
            atomic_write_text(path, "", own=is_alarm_file, force=args.force, option="--alarms-out")
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise OutputError(f"--alarms-out {path}: cannot write ({_why(exc)})") from None
    try:
        yield (alarm_log := _AlarmLog(stream))
    finally:
        try:
            stream.close()
        except OSError as exc:  # (what a failed write left in the buffer: said once, when it failed)
            if alarm_log.error is None:
                args.lost.append(f"--alarms-out {path}: cannot write ({_why(exc)})")


class _Discard:
    """A record sink for `serve` without --records: records are counted, not kept."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, record: Any) -> None:
        self.count += 1


def _why(exc: OSError) -> str:
    """The reason of an OSError in words (Arrow's: "Error writing bytes to file. Detail: [errno 28]
    No space left on device")."""
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))


@contextlib.contextmanager
def _unless_lost(
    output: contextlib.AbstractContextManager[Path], lost: list[str], option: str
) -> Iterator[Path]:
    """`output`'s temporary path; renamed into place at the end unless `lost` names `option` (the file
    could not be written whole), then removed: no partial file under the output's name."""

    class Lost(Exception):
        pass

    try:
        with output as path:
            yield path
            if any(why.startswith(f"{option} ") for why in lost):
                raise Lost
    except Lost:
        pass


def _records_path(args: argparse.Namespace) -> contextlib.AbstractContextManager[Path]:
    """--records written atomically, never over a file m2msim did not write (unless --force)."""
    from accounting.usage_writer import format_for, is_usage_file

    # a CSV is written as the records come, under a name a killed serve's next one knows (`rec`)
    tag = "rec" if format_for(args.records) == "csv" else "tmp"
    return atomic_path(args.records, own=is_usage_file, force=args.force, option="--records", tag=tag)


def _capture_path(args: argparse.Namespace) -> contextlib.AbstractContextManager[Path]:
    """--capture written atomically, never over a file m2msim did not write (unless --force)."""
    from gateway.api import is_own_capture

    return atomic_path(args.capture, own=is_own_capture, force=args.force, option="--capture", tag="pcap")


def _journal_file(path: Path) -> bool:
    """A console journal an earlier serve wrote (replaced by this one's)."""
    return _ours(path, JOURNAL_TAG)


def _ours(path: Path, tag: str) -> bool:
    """True when the first line of `path` is a JSON object tagged `tag` (a file an earlier serve wrote,
    which may be replaced)."""
    import json

    try:
        with path.open(encoding="utf-8") as f:
            doc = json.loads(f.readline(65536))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("m2msim") == tag
