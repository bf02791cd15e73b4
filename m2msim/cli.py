"""The `m2msim` command: a thin layer that hands each sub-command to its package.

Each package that has commands exposes `register(subparsers)` in its own `cli`
module; the handler it sets returns the exit status.  What holds for every command
(docs/reliability.md):

- usage errors exit 2 with one line on stderr, never a traceback; so does a
  `YamlError` (an unusable YAML input) or an `OutputError` (an output that cannot be
  written as asked, or that another process is writing) raised by any handler;
- SIGINT and SIGTERM stop the command with one line, "m2msim CMD: interrupted
  (SIGINT)", and exit 130 or 143; the handlers' `finally` blocks and context managers
  clean up on the way out (see `m2msim.signals`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from m2msim.outputs import OutputError
from m2msim.signals import exit_status, handle_signals, interruption, received, signal_name
from m2msim.yamlio import YamlError

# Package cli modules, in the order their commands are listed by --help.
# reports.cli comes after accounting.cli: it adds --report to `rate` and `compare`.
_COMMAND_MODULES = (
    "simulator.cli",
    "accounting.cli",
    "gateway.cli",
    "modem.cli",
    "modem.sms.cli",
    "hil.cli",
    "reports.cli",
)

Handler = Callable[[argparse.Namespace], int]


def _version() -> str:
    try:
        return importlib.metadata.version("m2msim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2), naming the command and where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="m2msim",
        description="Simulate an M2M fleet, drive GSM modems on a bench, and bill both with the operator's tariff.",
    )
    parser.add_argument("--version", action="version", version=f"m2msim {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # the command's name for an interruption that comes before the arguments are parsed
    command = " ".join(["m2msim", *[w for w in words if not w.startswith("-")][:1]])
    try:
        with handle_signals():
            try:
                parser = build_parser()
                args = parser.parse_args(argv)
                command = f"m2msim {args.command}"
                level = logging.WARNING - 10 * min(args.verbose, 2)
                logging.basicConfig(
                    level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
                )
                handler: Handler = args.handler
                status = handler(args)
            except Exception:
                # Code that caught the KeyboardInterrupt and raised its own error in its place
                # (DuckDB's "Query interrupted", a class body's RuntimeError during an import):
                # the signal was still received, and the command stops as interrupted.
                if received() is None:
                    raise
                status = 1
            signum = received()
            if signum is not None:
                raise interruption(signum)
            return status
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM as m2msim.signals.Terminated
        print(f"{command}: interrupted ({signal_name(exc)})", file=sys.stderr)
        return exit_status(exc)
    except (YamlError, OutputError) as exc:
        print(f"{command}: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unusable input"


if __name__ == "__main__":
    from m2msim.entry import console

    console()
