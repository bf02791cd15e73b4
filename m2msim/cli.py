"""The `m2msim` command: a thin layer that hands each sub-command to its package.

Each package that has commands exposes `register(subparsers)` in its own `cli`
module; the handler it sets returns the exit status.  Usage errors exit 2 with one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("m2msim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
