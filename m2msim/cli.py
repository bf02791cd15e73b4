"""The `m2msim` command: a thin layer that hands each sub-command to its package.

Each package that has commands exposes `register(subparsers)` in its own `cli`
module; the handler it sets returns the exit status.  What holds for every command
(docs/reliability.md):

- usage errors exit 2 with one line on stderr, never a traceback; so does a
  `YamlError` (an unusable YAML input) or an `OutputError` (an output that cannot be
  written as asked, or that another process is writing) raised by any handler;
- SIGINT, SIGTERM and SIGHUP (a closed terminal) stop the command with one line,
  "m2msim CMD: interrupted (SIGINT)", and exit 130, 143 or 129; the handlers' `finally`
  blocks and context managers clean up on the way out (see `m2msim.signals`);
- standard output closed by its reader (`| head`) ends the command with status 141, as
  SIGPIPE ends a Unix tool: never 0, which would hide a failure under `set -o pipefail`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import errno
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from m2msim.gcpause import paused_gc
from m2msim.outputs import OutputError, forget_outputs, interrupted_words
from m2msim.signals import (
    exit_status,
    handle_signals,
    interruption,
    received,
    say_interrupted,
    signal_name,
    stderr_gone,
)
from m2msim.yamlio import YamlError

# Every command: its name, its one-line help (`m2msim --help`) and the package cli modules whose
# `register(subparsers)` declare its arguments and handler, in order (reports.cli adds --report to
# `rate` and `compare`).  Building the parser imports none of them: a command's modules are
# imported when the command line names it, so `m2msim --help`, `m2msim sms-decode ...` or
# `m2msim rate ...` never load the simulator, the gateway's capture reader or the modem layer.
# tests/m2msim/test_cli_lazy.py checks this table against what the modules register.
_COMMANDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "run",
        "simulate a scenario: usage records, alarms, invoice and summary in one folder",
        ("simulator.cli",),
    ),
    ("rate", "bill a month of usage records with the tariff catalog", ("accounting.cli", "reports.cli")),
    (
        "compare",
        "what the month would cost on every offer, plan and commitment",
        ("accounting.cli", "reports.cli"),
    ),
    ("sessions-to-records", "cut data sessions (CSV) into 12-hour partial usage records", ("gateway.cli",)),
    ("alarms-check", "validate an autodiagnostic alarm configuration", ("gateway.cli",)),
    (
        "records-from-radius-detail",
        "usage records from FreeRADIUS detail files (the server's accounting log)",
        ("gateway.cli",),
    ),
    ("records-from-osmo-cdr", "usage records from osmo-sgsn CDR files", ("gateway.cli",)),
    ("records-from-pcap", "rebuild usage records from the RADIUS accounting in captures", ("gateway.cli",)),
    ("modem", "drive AT modems: probe one, send raw AT commands", ("modem.cli",)),
    ("sms-decode", "decode an SMS PDU string (as in +CMGR, +CMGL, +CMT, AT+CMGS)", ("modem.sms.cli",)),
    ("sms-encode", "encode a text into the SMS-SUBMIT PDUs for AT+CMGS", ("modem.sms.cli",)),
    ("sms-count", "alphabet and number of parts a text needs", ("modem.sms.cli",)),
    (
        "bench",
        "run a bench script on a modem: transcript, timings and what it would cost",
        ("hil.cli",),
    ),
    (
        "report",
        "the HTML report of a run, a rate/compare output or a bench folder (one offline file)",
        ("reports.cli",),
    ),
    (
        "sql",
        "SQL over a run: views usage, lines, alarms, invoice_lines, invoice_items (DuckDB)",
        ("reports.cli",),
    ),
)

Handler = Callable[[argparse.Namespace], int]

# Commands that compute and write their outputs whole (closed), with no process or server of their
# own left when they return (`run` has joined its worker processes and closed its cluster client):
# the program leaves once they return, without the interpreter's teardown (m2msim.entry).
_AT_ONCE = frozenset(("rate", "compare", "run", "sms-decode", "sms-encode", "sms-count"))


def ends_at_once(words: Sequence[str]) -> bool:
    """Whether the command line names a command of `_AT_ONCE` (its first word not an option: the
    program's own options take no value)."""
    named = [w for w in words if not w.startswith("-")][:1]
    return bool(named) and named[0] in _AT_ONCE


def _version() -> str:
    import importlib.metadata  # only for --version: it costs a tenth of the start-up

    try:
        return importlib.metadata.version("m2msim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """--version: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"m2msim {_version()}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2), naming the command and where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {_one_line(message)} (see {self.prog} --help)\n")


class _Command(_Parser):
    """A command's place in the parser: its arguments are declared by its package's cli modules,
    imported (and their `register` called) only when the command line names this command."""

    def __init__(self, *args: Any, modules: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules = modules
        self._declared: argparse.ArgumentParser | None = None

    def declared(self) -> argparse.ArgumentParser:
        """The command's parser as its package declares it (with its handler)."""
        if self._declared is None:
            name = self.prog.rsplit(" ", 1)[-1]
            top = _Parser(prog=self.prog.rsplit(" ", 1)[0], add_help=False)
            sub = top.add_subparsers()
            # Importing makes tens of thousands of objects (functions, classes) that all live on:
            # the cyclic collector would walk them all several times for nothing (m2msim.gcpause).
            with paused_gc():
                for module in self.modules:
                    importlib.import_module(module).register(sub)
            found = sub.choices.get(name)
            if found is None:  # a command whose optional dependency is not installed
                self.error(f"not available in this installation (its modules {', '.join(self.modules)})")
            self._declared = found
        return self._declared

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = self.declared().parse_known_args(args, namespace)
        if extras:  # said by the command that got them (the top parser said "m2msim: unrecognized ...")
            _chosen(self.declared(), parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def format_help(self) -> str:
        return self.declared().format_help()

    def format_usage(self) -> str:
        return self.declared().format_usage()


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the sub-command `args` names under `parser` (`modem probe`), else `parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if isinstance(name, str) and name in action.choices:
                return _chosen(action.choices[name], args)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    """The command's words, as its error lines start: `m2msim rate`, `m2msim modem probe`."""
    words = ["m2msim", args.command]
    sub = getattr(args, "modem_command", None)
    return " ".join([*words, sub] if isinstance(sub, str) else words)


def build_parser() -> argparse.ArgumentParser:
    """The `m2msim` parser; no command's modules are imported until it parses that command."""
    parser = _Parser(
        prog="m2msim",
        description="Simulate an M2M fleet, drive GSM modems on a bench, and bill both with the operator's tariff.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Command)
    sub.required = True
    for name, text, modules in _COMMANDS:
        sub.add_parser(name, help=text, modules=modules, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    forget_outputs()  # (a test's earlier command in this process)
    # the command's name for an interruption that comes before the arguments are parsed
    command = " ".join(["m2msim", *[w for w in words if not w.startswith("-")][:1]])
    if _cwd_gone():  # (each relative path then names nothing: "x.txt: No such file or directory")
        print(f"{command}: warning: {_CWD_GONE}", file=sys.stderr)
    try:
        with handle_signals():
            try:
                parser = build_parser()
                args = parser.parse_args(argv)
                command = _command_name(args)
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
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM / SIGHUP as m2msim.signals.Terminated / HungUp
        # and what became of its outputs: "; left as it was: runs/x" (the previous run, whole)
        say_interrupted(f"{command}: interrupted ({signal_name(exc)}){interrupted_words()}")
        return exit_status(exc)
    except (YamlError, OutputError) as exc:
        print(f"{command}: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        # Python before 3.13: `Path.resolve()` of a loop of symbolic links raises RuntimeError (3.13:
        # OSError ELOOP, above); a command given such a path ended in a traceback
        looped = _SYMLINK_LOOP.fullmatch(str(exc))
        if looped is None:
            raise
        print(f"{command}: {ast.literal_eval(looped.group(1))}: {os.strerror(errno.ELOOP)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of standard output went away (`| head`, `| true`): what was left to print is
        # lost and the command did not finish its work as asked, so its status says so, as a Unix
        # tool killed by SIGPIPE says it (128 + 13): with 0, `set -o pipefail` saw a success where
        # the command would have failed.  What follows goes nowhere (no second error at exit).
        # (a standard output that is no file: nothing will flush into the pipe)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename is None and _cwd_gone():
            # the shell's folder was removed, or replaced (by a run into `--out .`): a relative path
            # (`os.path.abspath`) ended in a traceback, "No such file or directory" naming nothing
            print(f"{command}: the current folder no longer exists (see the warning above)", file=sys.stderr)
            return 2
        if exc.errno in _PATH_ERRNOS and exc.filename is not None:
            # a path no file can have (a name past 255 bytes, a loop of symbolic links), met by a
            # check before the command's own reading (`Path.exists()` raises for these): it ended in
            # a traceback; named, as a missing file is
            print(f"{command}: {_shown(exc.filename)}: {exc.strerror}", file=sys.stderr)
            return 2
        # Standard output was a terminal that is gone (closed, or the ssh session ended, with SIGHUP
        # ignored: `disown`): writing there fails with EIO.  The command's work is done and its files
        # whole; what was left to print is lost, as when a pipe's reader goes away (it ended in a
        # traceback nobody saw, exit status 1).
        if exc.errno != errno.EIO or not _terminal_gone(1):
            raise
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
        if _terminal_gone(2):
            stderr_gone()
        return 141


_CWD_GONE = (
    "the current folder no longer exists (removed, or replaced: a run into --out . replaces it whole), "
    'so no relative path names a file; change into it again (cd "$PWD"), or give absolute paths'
)


def _cwd_gone() -> bool:
    """Whether the current folder was removed (`os.getcwd()` fails)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _terminal_gone(fd: int) -> bool:
    """Whether writing to `fd` fails with EIO (a terminal hung up): writing nothing tells."""
    try:
        os.write(fd, b"")
    except OSError as exc:
        return exc.errno == errno.EIO
    return False


_PATH_ERRNOS = (errno.ENAMETOOLONG, errno.ELOOP)
_SYMLINK_LOOP = re.compile(r"Symlink loop from ('.*'|\".*\")", re.DOTALL)  # (the path's repr)


def _shown(filename: object) -> str:
    """A file name of an OSError as the user gave it (bytes that are not UTF-8 as escapes)."""
    return os.fsdecode(filename) if isinstance(filename, bytes) else str(filename)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unusable input"


if __name__ == "__main__":
    from m2msim.entry import console

    console()
