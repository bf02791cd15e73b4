"""`m2msim modem ...`: identify a modem, send raw AT commands (and, from modem.virtual, serve one).

    m2msim modem probe /dev/ttyUSB2 --profile quectel-bg96
    m2msim modem probe virtual://simcom-sim800
    m2msim modem at socket://127.0.0.1:7000 AT+CSQ 'AT+COPS?'

Exit status: 0 success, 1 the modem answered an error or did not answer, or (probe) the network
refused its registration (+CREG stat 3) or it did not register within --wait; 2 unusable input
(bad URL or option, unknown profile, a device that cannot be opened), one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import shlex
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from modem.at import grammar
from modem.at.client import ATClient, Reply
from modem.at.errors import ModemError, TransportError
from modem.at.parser import Urc
from modem.drivers.network import Registration
from modem.drivers.profile import DriverProfileError
from modem.options import OptionError, check_float, check_int
from modem.safety import CommandGuard, command_name, costly_command, is_physical, is_virtual, unseen_reset
from modem.transport import Transport

Configure = Callable[[Any], None]
MAX_WAIT_S = 86_400.0

# Sub-commands other modules add to `m2msim modem` (name -> configure(modem_subparsers)).
_EXTRA_COMMANDS: dict[str, Configure] = {}
# Modules whose `register_modem_commands(modem_subparsers)` is called when present.
_PLUGIN_MODULES = ("modem.virtual.cli",)


def register_modem_command(name: str, configure: Configure) -> None:
    """Add a `m2msim modem <name>` sub-command: `configure(subparsers)` adds its parser and handler."""
    _EXTRA_COMMANDS[name] = configure


def _transport_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url", help="modem URL: /dev/ttyUSB2, /dev/pts/7, socket://host:port, virtual://PROFILE, spy://..."
    )
    p.add_argument("--baudrate", type=int, help="serial speed (default 115200)")
    p.add_argument(
        "--rtscts", action="store_true", help="hardware flow control (off by default: 3-wire UARTs)"
    )
    p.add_argument("--xonxoff", action="store_true", help="software flow control")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per command (default 5)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("modem", help="drive AT modems: probe one, send raw AT commands")
    sub = parser.add_subparsers(dest="modem_command", metavar="SUBCOMMAND")
    sub.required = True

    probe = sub.add_parser(
        "probe", help="identify a modem: manufacturer, model, IMEI, IMSI, ICCID, registration, signal"
    )
    _transport_args(probe)
    probe.add_argument(
        "--profile", help="vendor profile name or YAML file (default: virtual://PROFILE's, else generic)"
    )
    probe.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for network registration before reporting (a modem just powered up)",
    )
    probe.set_defaults(handler=_probe)

    at = sub.add_parser("at", help="send raw AT commands and print the answers")
    _transport_args(at)
    at.add_argument("commands", nargs="+", metavar="COMMAND", help="command lines, e.g. AT+CSQ 'AT+CREG?'")
    at.add_argument(
        "--allow-command",
        action="append",
        default=[],
        metavar="NAME",
        help="on a physical modem, also send this command (e.g. AT+QENG) the guard does not know to be "
        "safe; never one that texts, calls or sends USSD (repeatable)",
    )
    at.set_defaults(handler=_at)

    # ---- sub-commands from other modules (e.g. `modem serve` from modem.virtual) ----
    for name in _PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        hook = getattr(module, "register_modem_commands", None)
        if hook is not None:
            hook(sub)
    for configure in _EXTRA_COMMANDS.values():
        configure(sub)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.url.startswith(("socket://", "virtual://", "spy://socket://", "spy://virtual://")):
        return opts
    if args.baudrate:
        opts["baudrate"] = args.baudrate
    if args.rtscts:
        opts["rtscts"] = True
    if args.xonxoff:
        opts["xonxoff"] = True
    return opts


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    print(f"m2msim modem {args.modem_command}: {message}", file=sys.stderr)
    return status


def _probe(args: argparse.Namespace) -> int:
    from modem.drivers.generic import Modem

    profile = args.profile
    if profile is None:
        inner = args.url.removeprefix("spy://")
        profile = urlsplit(inner).hostname if inner.startswith("virtual://") else None

    try:
        _check_transport_options(args)
        check_float("--wait", args.wait, 0, MAX_WAIT_S)
    except OptionError as exc:
        return _fail(args, str(exc), 2)

    async def run() -> int:
        try:
            transport = await _open(args)
        except TransportError as exc:
            return _fail(args, str(exc), 2)
        try:
            modem = await Modem.on_transport(transport, profile=profile, timeout=args.timeout)
        except DriverProfileError as exc:
            await transport.close()
            return _fail(args, str(exc), 2)
        # a port that goes away as the init sequence runs (a USB modem unplugged): exit 1 below, as
        # for any later command; 2 is for input that cannot be used
        async with modem:
            if args.wait > 0:
                # Not registered in time: reported below as the state it stayed in.
                with contextlib.suppress(TimeoutError):
                    await modem.network.wait_registered(
                        args.wait, poll=min(2.0, args.wait), until_refused=True
                    )
            report = await modem.probe()
        ident = report.identity
        print(f"url:          {args.url}")
        print(f"profile:      {modem.profile.name}")
        print(f"manufacturer: {ident.manufacturer}")
        print(f"model:        {ident.model}")
        print(f"revision:     {ident.revision}")
        print(f"IMEI:         {ident.imei}")
        print(f"IMSI:         {ident.imsi or '-'}")
        print(f"ICCID:        {ident.iccid or '-'}")
        print(f"SIM:          {report.pin or '-'}")
        for kind, reg in report.registrations.items():
            where = f" lac={reg.lac} ci={reg.ci}" if reg.lac else ""
            print(f"{kind[1:]:<13} {reg.stat} ({reg.state}){where}")
        if report.operator is not None:
            op = report.operator
            tech = f", {op.technology}" if op.technology else ""
            print(f"operator:     {op.name or '-'}{tech}")
        if report.signal is not None:
            sig = report.signal
            dbm = f"{sig.dbm} dBm" if sig.dbm is not None else "unknown"
            print(f"signal:       {dbm} (CSQ {sig.rssi},{sig.ber})")
        return _registration_status(args, report.registrations)

    try:
        return asyncio.run(run())
    except ModemError as exc:
        return _fail(args, str(exc), 1)


def _registration_status(args: argparse.Namespace, registrations: dict[str, Registration]) -> int:
    """0, or 1 with one line when the network refused the modem (stat 3) or, with --wait, the
    modem did not register in time."""
    states = ", ".join(f"{kind[1:]} {r.stat} ({r.state})" for kind, r in registrations.items())
    if any(r.stat == 3 for r in registrations.values()) and not any(
        r.registered for r in registrations.values()
    ):
        return _fail(args, f"{args.url}: registration refused by the network ({states})", 1)
    if args.wait > 0 and not any(r.registered for r in registrations.values()):
        return _fail(args, f"{args.url}: not registered after {args.wait:g} s ({states or 'no answer'})", 1)
    return 0


def _check_transport_options(args: argparse.Namespace) -> None:
    check_int("--baudrate", args.baudrate, 50, 4_000_000)
    check_float("--timeout", args.timeout, 0.001, MAX_WAIT_S)


def _shown(line: str) -> str:
    """A line as printed: a message text's line breaks (text mode, read up to the header's <length>)
    as `\\r` and `\\n`, so that each printed line is one line of the answer and a text's line `OK`
    is not taken for the answer's end."""
    if "\r" not in line and "\n" not in line:
        return line
    return line.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _warn_unbounded(args: argparse.Namespace, line: str) -> None:
    """Say on stderr that a text-mode message header came without its <length>: nothing tells
    where its text ends."""
    prefix = grammar.prefix_of(line)
    if prefix is not None and grammar.text_unbounded(prefix, grammar.fields_of(line)):
        print(
            f"m2msim modem {args.modem_command}: warning: {line!r}: text mode without the message's "
            "<length> (AT+CSDH=0): its text is taken as its first line; should it hold a line break, "
            "its later lines (a line OK or ERROR too) read as the answer's and as URCs. Send "
            "AT+CSDH=1 first, or read in PDU mode (AT+CMGF=0)",
            file=sys.stderr,
        )


def _print_reply(args: argparse.Namespace, reply: Reply) -> None:
    for r in reply.responses:
        print(_shown(r.line))
        _warn_unbounded(args, r.line)
        if r.payload is not None:
            print(f"<{len(r.payload)} bytes: {r.payload!r}>")
    print(reply.final.line)


def _print_urc(args: argparse.Namespace, urc: Urc) -> None:
    print(f"URC {urc.line}" + (f" | {_shown(urc.extra)}" if urc.extra else ""))
    _warn_unbounded(args, urc.line)


async def _open(args: argparse.Namespace) -> Transport:
    """The transport for `args.url`; a `virtual://` modem gets an operator network of its own to
    register on (its SIM provisioned on a DTMF offer), as `m2msim modem serve` gives it."""
    from modem.transports import open_transport

    if is_virtual(args.url):
        from modem.virtual.bound import open_bound_virtual

        transport, _ = await open_bound_virtual(args.url, "business-m2m-dtmf")
        return transport
    return await open_transport(args.url, **_options(args))


def _split_reset(line: str, reset: str) -> str:
    """`AT+CMEE=1;Z` as the lines to send instead (`AT+CMEE=1 ATZ`), when the reset ends the line
    after a ';'; else the reset alone first (`ATZ ...`), for the user to finish.  Each line quoted
    for a POSIX shell as needed (`'AT+CMEE=1;+CREG=2' ATZ`): pasted, a bare ';' would end the
    command there and run the rest as another."""
    head, sep, tail = line.rpartition(";")
    if sep and tail.strip().upper() in (reset, f"{reset}0"):
        return f"{shlex.quote(head)} {shlex.quote('AT' + tail.strip())}"
    return f"{shlex.quote('AT' + reset)} ..."


def _at(args: argparse.Namespace) -> int:
    try:
        _check_transport_options(args)
    except OptionError as exc:
        return _fail(args, str(exc), 2)
    try:
        allowed = [command_name(name) for name in args.allow_command]
    except ValueError as exc:
        return _fail(args, f"--allow-command: {exc}", 2)
    # Every line is checked before the modem is opened: one that texts, calls or forwards, or is
    # not known to be safe, is refused on a physical modem (no allow-list here): nothing is sent.
    for line in args.commands if not is_virtual(args.url) else ():
        why = costly_command(line, allowed if is_physical(args.url) else None)
        if why is not None:
            return _fail(
                args,
                f"{args.url}: {line!r} refused: {why}; texting and calling go through "
                "`m2msim bench --allow-list FILE`",
                2,
            )
        reset = unseen_reset(line) if is_physical(args.url) else None
        if reset is not None:  # (the command guard refuses it too, once lines before it were sent)
            return _fail(
                args,
                f"{args.url}: {line!r} refused: AT{reset} within the line (after an extended command or "
                f"a ';') brings back a stored or factory profile (its echo, result format, results on "
                f"or off) where this tool does not see a reset, and would read the answers by the "
                f"settings before it; send AT{reset} on its own line, e.g. `m2msim modem at {shlex.quote(args.url)} "
                f"{_split_reset(line, reset)}`: nothing was sent",
                2,
            )

    async def run() -> int:
        try:
            transport = await _open(args)
        except TransportError as exc:
            return _fail(args, str(exc), 2)
        status = 0
        async with ATClient(transport, timeout=args.timeout) as client:
            # a raw line that texts, calls or forwards is refused on a physical modem (no allow-list here)
            client.guard = CommandGuard(client.url, None, allowed, restarts=client.restarts_module)
            client.subscribe(lambda urc: _print_urc(args, urc))
            for line in args.commands:
                print(f"> {line}")
                try:
                    _print_reply(args, await client.command(line))
                except ModemError as exc:
                    lines = getattr(exc, "lines", ())
                    for text in lines:
                        print(text)
                    print(f"error: {exc}")
                    status = 1
        return status

    try:
        return asyncio.run(run())
    except ModemError as exc:
        return _fail(args, str(exc), 1)
