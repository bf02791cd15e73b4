"""`m2msim rate` and `m2msim compare`: files in, invoice or comparison out.

Exit status: 0 when the output was produced; 1 with `--strict` when the invoice has inventory
errors or rejected rows; 2 when an input or an option cannot be used at all (one line on stderr,
naming the file and line or row and field, or the option).  `--out` is written whole or not at
all (a temporary file renamed over it), by one process at a time, never over an input, nor over
a file m2msim did not write unless `--force` (`is_output`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from accounting.catalog import load_catalog
from accounting.compare import compare
from accounting.engine import RatingRun, rate_run
from accounting.errors import AccountingError, FolderChanged
from accounting.inventory import MAX_LINES, load_inventory
from accounting.invoice import run_coverage
from accounting.usage_small import small_reader
from m2msim.inputs import each_once
from m2msim.outputs import (
    OutputError,
    OutputSet,
    any_of,
    atomic_write_text,
    check_parents,
    head_matches,
    output_lock,
    refuse_foreign,
    refuse_misnamed,
    refuse_same_file,
    track_output,
)
from m2msim.rundir import FolderIdentity, folder_identity, not_whole_run, unfinished_run, unread_files

MAX_TOP = 1_000_000  # lines the readable output may list

# What `rate` and `compare` write, by its first line (text) or first keys (JSON), as every version of
# m2msim wrote it: either command's --out replaces any of the four, and no other file (m2msim.outputs).
_JSON_STRING = rb'"(?:[^"\\\n]|\\.)*"'
is_output = any_of(
    head_matches(rb"Invoice [^\n]*, \d{4}-\d{2} \(catalog [^\n]*\)\n"),
    head_matches(rb"Offer comparison [^\n]*, \d{4}-\d{2} \([^\n]*\)\n"),
    head_matches(
        rb'\{\n  "customer": '
        + _JSON_STRING
        + rb',\n  "month": "\d{4}-\d{2}",\n  "currency": '
        + _JSON_STRING
        + rb',\n  "[a-z_]+": '
    ),
)


class OptionError(AccountingError):
    """An option out of its range."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("rate", help="bill a month of usage records with the tariff catalog")
    _common(p)
    p.add_argument("--out", type=Path, help="write the invoice to this file instead of stdout")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when there are inventory errors or rejected rows, or no usage records",
    )
    p.add_argument("--all-lines", action="store_true", help="show every line's items in the readable invoice")
    p.set_defaults(handler=cmd_rate)
    c = subparsers.add_parser("compare", help="what the month would cost on every offer, plan and commitment")
    _common(c)
    c.add_argument("--out", type=Path, help="write the comparison to this file instead of stdout")
    c.set_defaults(handler=cmd_compare)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("inventory", type=Path, help="inventory YAML (customer, month, lines, services)")
    p.add_argument(
        "usage",
        type=Path,
        help="usage records: a .csv or .parquet file, a folder of them (a run's usage/ parts), or a run folder",
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout (or in --out)")
    p.add_argument("--catalog", default=None, help="catalog file or bundled name (default orange-m2m-2012)")
    p.add_argument(
        "--top",
        default="10",
        help=f"how many costliest lines the readable output shows (default 10; 0 to {MAX_TOP:,})",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help=f"rate an inventory of more than {MAX_LINES:,} lines (refused by default, with an estimate); "
        "replace an --out or --report file m2msim did not write",
    )


def _top(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise OptionError(f"--top: {text!r} is not a whole number (0 to {MAX_TOP:,})") from None
    if not 0 <= value <= MAX_TOP:
        raise OptionError(f"--top: {value:,} is out of range (0 to {MAX_TOP:,})")
    return value


def _rate(args: argparse.Namespace, what: str) -> RatingRun:
    """The checks every command makes before its work, then the month rated; `what`: the document
    written (`the invoice`)."""
    top = _top(str(args.top))
    args.top = top
    if args.out is not None:
        usage = args.usage
        inputs = [
            args.inventory,
            usage,
            *(usage.iterdir() if usage.is_dir() else ()),
            *([args.catalog] if args.catalog else []),
        ]
        refuse_same_file(args.out, inputs)
        if args.out.is_dir():
            raise OptionError(f"--out: {args.out} is a folder, expected a file name")
        # an output whose name says another format (`--out march.json` without --json: text) is
        # taken for that format by the next reader (`m2msim report` of its folder refused it)
        written, other = ("JSON", ", or leave out --json") if args.json else ("text", ", or add --json")
        refuse_misnamed(args.out, written, what, "--out", other)
        refuse_foreign(args.out, is_output, force=args.force, option="--out")
    catalog = load_catalog(args.catalog)
    inventory = load_inventory(args.inventory, max_lines=sys.maxsize if args.force else MAX_LINES)
    # A small plain CSV file is read without starting DuckDB (the same rows, rules and rejects).
    run = rate_run(inventory, args.usage, catalog, reader=small_reader(args.usage))
    if run.invoice.coverage is None:
        # (a run folder of part of its month: the days its usage covers, as its own invoice.json
        # says them; the invoice and the comparison of the month, without them, were drawn by
        # `m2msim report` of their folder as the whole month's)
        run.invoice.coverage = run_coverage(args.usage, run.invoice.month)
    # A header and no rows is a quiet month (devices that sent nothing): its subscriptions and fees
    # are owed all the same, so it is rated, and said (a file with no header at all is refused).
    args.no_records = not run.rated.rows and not run.invoice.rejects
    args.rating_run = run  # (`--report` draws this month: not rated a second time)
    return run


def _emit(text: str, out: Path | None, locked: bool, force: bool, together: OutputSet | None = None) -> None:
    """`text` to stdout, or to `out` (under its lock, unless the command holds it already); with
    `together` (`--report` too), staged in it, to be put in place with the page."""
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if together is not None:
        if not locked:
            together.hold(output_lock(out))
        data = text.encode("utf-8", errors="backslashreplace")
        together.stage(out, data, own=is_output, force=force, option="--out")
        return
    with contextlib.nullcontext() if locked else output_lock(out):
        atomic_write_text(out, text, own=is_output, force=force, option="--out")


def _doubt(command: str, said: str | None, args: argparse.Namespace) -> None:
    """A run whose output may not be what its input meant says so, on stderr (the output is
    still written): a usage input without records, half the rows or more rejected."""
    if args.no_records:
        print(
            f"m2msim {command}: warning: {args.usage}: the usage file holds no records: "
            "the month is billed its subscriptions and fees alone",
            file=sys.stderr,
        )
    if said is not None:
        print(f"m2msim {command}: warning: {said}", file=sys.stderr)


def _not_read(command: str, usage: Path, files: list[Path]) -> str | None:
    """Why a run folder's usage is not rated (a usage file in it the run did not write, which
    rating the folder would leave out: an export copied in, `april.csv` beside the run's files);
    each other file in it the run did not write is said not read, on stderr (`unread_files`), and
    each name in the folder of a file read under another (`each_once`: a link to a file there)."""
    from accounting.usage import has_usage_columns

    refused, notes = unread_files(usage, files, f"rating {usage}", has_usage_columns)
    if refused is None:
        notes = [f"{path}: {why}" for path, why in each_once(files)[1]] + notes
    for note in notes:
        print(f"m2msim {command}: warning: {note}", file=sys.stderr)
    return refused


def _run(command: str, args: argparse.Namespace, work: type[_Command]) -> int:
    # the usage of a run that has not ended (killed mid-way: its folder holds part of its records)
    # is not rated as a whole month's
    try:
        # the folder checked whole here is the one rated (`_Command.rated`): a run put in its place
        # meanwhile (`m2msim run --force` into it) was rated unchecked, or in part
        checked = folder_identity(args.usage)
        unfinished = unfinished_run(args.usage)
        if unfinished is None and args.usage.is_dir():
            # (a folder of a run's usage with a part missing or another run's part in it was rated
            # as a whole month's, without a word)
            from accounting.usage import input_files

            # (as listed: a link there to one of the run's parts is a file the run did not write)
            files = input_files([args.usage], once=False)
            unfinished = not_whole_run(args.usage, files) or _not_read(command, args.usage, files)
        if unfinished is not None:
            print(f"m2msim {command}: {unfinished}", file=sys.stderr)
            return 2
        command_ = work(args)
        command_.usage_folder = checked
        args.usage_folder = checked  # (--report's page, which reads the usage again, checks it too)
        # --out is held from the start (a second writer is refused before it rates), when its
        # folder exists; else its folder is made, and the lock taken, when the output is written
        out: Path | None = args.out
        for option, path in (("--out", out), ("--report", getattr(args, "report", None))):
            if path is not None:
                if option == "--report":
                    refuse_misnamed(path, "HTML", "the report", option)
                check_parents(path, option)  # (before the month is rated, not after)
                track_output(path)  # (its lock is taken later when its folder is to be made)
        held = out is not None and out.parent.is_dir()
        together: OutputSet | None = getattr(args, "together", None)
        with contextlib.ExitStack() as stack:
            if held and out is not None:
                # (with --report, held by the set until both are in place)
                (together.hold if together is not None else stack.enter_context)(output_lock(out))
            command_.out_locked = held
            return command_.run()
    except (AccountingError, OutputError) as exc:
        print(f"m2msim {command}: {exc}", file=sys.stderr)
    except BrokenPipeError:
        # standard output's reader went away (`| true`): no input was at fault; m2msim.cli says
        # so with 141, as for every command (it was 2, "m2msim rate: : Broken pipe")
        raise
    except OSError as exc:
        where = exc.filename or getattr(args, "out", None) or ""
        print(f"m2msim {command}: {where}: {exc.strerror or exc}", file=sys.stderr)
    return 2


class _Command:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out_locked = False  # whether the command holds --out's lock already
        self.usage_folder: FolderIdentity | None = None  # the usage folder as it was checked whole

    def rated(self, what: str) -> RatingRun:
        """The month rated (`_rate`); `FolderChanged` when the usage folder is no longer the one
        checked whole before it was read (another run put in its place meanwhile)."""
        run = _rate(self.args, what)
        if self.usage_folder is not None and folder_identity(self.args.usage) != self.usage_folder:
            raise FolderChanged(self.args.usage)
        return run

    def run(self) -> int:
        raise NotImplementedError


class _Rate(_Command):
    def run(self) -> int:
        args = self.args
        invoice = self.rated("the invoice").invoice
        _doubt("rate", invoice.doubt(), args)
        text = (
            invoice.to_json() + "\n"
            if args.json
            else invoice.render_text(top=args.top, all_lines=args.all_lines)
        )
        _emit(text, args.out, self.out_locked, args.force, getattr(args, "together", None))
        return 1 if args.strict and (invoice.has_problems or args.no_records) else 0


class _Compare(_Command):
    def run(self) -> int:
        args = self.args
        run = self.rated("the comparison")
        _doubt("compare", run.invoice.doubt(), args)
        comparison = compare(run)
        text = comparison.to_json() + "\n" if args.json else comparison.render_text(top=args.top)
        _emit(text, args.out, self.out_locked, args.force, getattr(args, "together", None))
        return 0


def cmd_rate(args: argparse.Namespace) -> int:
    return _run("rate", args, _Rate)


def cmd_compare(args: argparse.Namespace) -> int:
    return _run("compare", args, _Compare)
