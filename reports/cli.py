"""`m2msim report FOLDER [--out F]`, `m2msim sql RUN_DIR QUERY [--csv|--json] [--shell]`, and `--report F`
on `m2msim rate` and `m2msim compare`.

    m2msim report runs/default                       # runs/default/report.html again, from the files
    m2msim report runs/bench/register-1 --out b.html # a bench folder's page
    m2msim sql runs/default "SELECT rule, count(*) FROM alarms GROUP BY 1" --csv
    m2msim rate inventory.yaml usage.csv --report month.html

Exit status: 0 done; 2 unusable input (a folder with nothing to report on, a damaged file, an SQL
error, an output that is an input), one line on stderr.  `rate` and `compare` keep their own codes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import json
import math
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m2msim.outputs import (
    OutputBusy,
    OutputError,
    OutputSet,
    atomic_write_text,
    check_parents,
    output_lock,
    refuse_foreign,
    refuse_misnamed,
    refuse_same_file,
    same_path,
    track_output,
)
from m2msim.rundir import FolderIdentity, unfinished_run, unread_files
from reports.page import is_page

if TYPE_CHECKING:
    from reports.data import RunFiles

# The handlers import the report modules (DuckDB, pyarrow) they use: `m2msim rate` declares
# --report with this module and must not pay for them when no report is asked for.

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "report",
        help="the HTML report of a run, a rate/compare output or a bench folder (one offline file)",
        description="Make the HTML report of FOLDER again from its files: a run folder, a folder holding "
        "`rate --json`/`compare --json` outputs (and the usage), or a bench folder.",
    )
    p.add_argument(
        "folder", type=Path, metavar="FOLDER", help="run folder, rate/compare outputs or bench folder"
    )
    p.add_argument("--out", type=Path, help="the HTML file to write (default FOLDER/report.html)")
    p.add_argument(
        "--force", action="store_true", help="replace an --out (or FOLDER/report.html) m2msim did not write"
    )
    p.set_defaults(handler=cmd_report)
    q = subparsers.add_parser(
        "sql",
        help="SQL over a run: views usage, lines, alarms, invoice_lines, invoice_items (DuckDB)",
        description="Run one SQL query (DuckDB) over a run folder's views: usage, lines, alarms, "
        "invoice_lines, invoice_items (docs/report.md describes their columns).",
    )
    q.add_argument("folder", type=Path, metavar="RUN_DIR")
    q.add_argument("query", nargs="?", metavar="QUERY", help='e.g. "SELECT count(*) FROM usage"')
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    fmt.add_argument("--json", action="store_true", help="a JSON array of objects (amounts as strings)")
    q.add_argument(
        "--shell", action="store_true", help="open DuckDB's own shell on the views (needs `duckdb`)"
    )
    q.set_defaults(handler=cmd_sql)
    for name in ("rate", "compare"):
        sub = subparsers.choices.get(name)
        if sub is not None:
            sub.add_argument(
                "--report", type=Path, metavar="F", help="also write the month's HTML report to F"
            )
            sub.set_defaults(handler=_with_report(sub.get_default("handler"), name))


def _fail(cmd: str, message: str) -> int:
    print(f"m2msim {cmd}: {message}", file=sys.stderr)
    return 2


def _unfinished(cmd: str, folder: Path) -> int | None:
    """2 (unusable input), said in one line, when `folder` is the folder of a run that has not ended (`m2msim.rundir`):
    its files are part of a run's (a run killed mid-way left them; the page and the SQL took them
    for a whole run)."""
    said = unfinished_run(folder)
    if said is None:
        return None
    print(f"m2msim {cmd}: {said}", file=sys.stderr)
    return 2


def _unread(cmd: str, files: RunFiles, reader: str) -> str | None:
    """Why the run folder is refused (a usage file there the run did not write: its records left
    out of the page, or of the query's tables, without a word); each other file there the run did
    not write is said not read, on stderr (`m2msim.rundir.unread_files`, as `rate RUN` does), and
    each name of a usage file read under another (`RunFiles.skipped`) and each passed over for
    the one the invoice rated (`RunFiles.passed_over`)."""
    from accounting.usage import has_usage_columns

    refused, notes = unread_files(files.folder, files.read(), reader, has_usage_columns)
    if refused is None:
        notes = [f"{path}: {why}" for path, why in [*files.passed_over, *files.skipped]] + notes
    for note in notes:
        print(f"m2msim {cmd}: warning: {note}", file=sys.stderr)
    return refused


def cmd_report(args: argparse.Namespace) -> int:
    from reports import render_report
    from reports.data import ReportError, find_files

    if (unfinished := _unfinished("report", args.folder)) is not None:
        return unfinished

    target: Path = args.out if args.out is not None else args.folder / "report.html"
    try:
        option = "--out" if args.out is not None else None
        if args.out is not None:
            refuse_same_file(args.out, [p for p in args.folder.glob("*") if p.name != "report.html"])
            # (a page under `F/x.json` was refused by the next `report F` as a JSON file)
            refuse_misnamed(args.out, "HTML", "the report")
            if args.out.is_dir():  # (it was said to be written by this very process, naming its pid)
                raise OutputError(f"--out {args.out}: is a folder, expected a file name")
            check_parents(args.out)  # (before the page is made, not after)
        refuse_foreign(target, is_page, force=args.force, option=option)
        track_output(target)  # (FOLDER/report.html: under the folder's lock, not its own)
        # --out is held from the start when its folder exists, else from when it is made, as rate's
        # --out: two reports to one --out both wrote it (FOLDER/report.html: the folder's lock)
        held = args.out is not None and target.parent.is_dir()
        with _folder_lock(args.folder), output_lock(target) if held else contextlib.nullcontext():
            files = find_files(args.folder)
            if (refused := _unread("report", files, f"the report of {args.folder}")) is not None:
                return _fail("report", refused)
            html = render_report(args.folder, files=files)
            # --out's folder is made, as rate's --out (it failed naming a temporary file)
            target.parent.mkdir(parents=True, exist_ok=True)
            late = args.out is not None and not held
            with output_lock(target) if late else contextlib.nullcontext():
                atomic_write_text(target, html, own=is_page, force=args.force, option=option)
    except (ReportError, OutputError) as exc:
        return _fail("report", str(exc))
    except OSError as exc:
        return _fail("report", f"{exc.filename or target}: {exc.strerror or exc}")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as exc:
        # a JSON file of the right kind but not of the shape m2msim writes (edited, or another version);
        # ArithmeticError: an amount that is not a number (decimal.InvalidOperation)
        why = (
            "an amount that is not a number"
            if isinstance(exc, ArithmeticError)
            else f"{type(exc).__name__}: {exc}"
        )
        return _fail("report", f"{args.folder}: a file is not as m2msim writes it ({why})")
    print(f"report: {target} ({len(html.encode(errors='backslashreplace')) / 1024:,.0f} KiB)")
    return 0


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold the lock `run` and `bench` hold while they write `folder`: a report made while a run
    swapped in its new folder read the old run's files and wrote their page into the new run.

    A folder whose parent cannot be written is read without it: no run can replace that folder."""
    real = folder.resolve()
    if not folder.is_dir() or not real.name:
        yield  # not a folder: the report says what is wrong with it
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(output_lock(real, output=False))  # (read, not written)
        except OutputBusy:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
        yield


def _with_report(handler: Handler, name: str) -> Handler:
    def run(args: argparse.Namespace) -> int:
        if args.report is not None:
            try:
                refuse_same_file(args.report, [args.inventory, args.usage], "--report")
                if args.report.is_dir():  # (refused once the month was rated and printed)
                    raise OutputError(f"--report {args.report}: is a folder, expected a file name")
                out = getattr(args, "out", None)
                if out is not None and same_path(args.report, out):
                    # the page would be written over the invoice just written there
                    raise OutputError(f"--report {args.report}: is also --out; choose another file")
                refuse_foreign(args.report, is_page, force=args.force, option="--report")
            except OutputError as exc:
                return _fail(name, str(exc))
        # --report is held from the start to its write, as --out is: two commands writing the same
        # files at once left one's invoice beside the other's page
        held = args.report is not None and args.report.parent.is_dir()
        try:
            lock = output_lock(args.report) if held else contextlib.nullcontext()
            # --out and --report are one output: both put in place, or neither (a full disk at the
            # page left the new invoice beside the previous month's page)
            both = args.report is not None and getattr(args, "out", None) is not None
            with lock, OutputSet() if both else contextlib.nullcontext() as together:
                args.together = together
                return _rate_and_report(handler, name, args, held)
        except OutputError as exc:
            return _fail(name, str(exc))
        except BrokenPipeError:
            raise  # standard output's reader went away: m2msim.cli's 141, not an unusable --report
        except OSError as exc:  # the lock file cannot be made: nor could the page
            if args.report is None:
                raise  # (not the page's: said by m2msim.cli naming its file, not as "--report None")
            return _fail(name, f"--report {args.report}: {exc.strerror or exc}")

    return run


def _not_written(args: argparse.Namespace) -> str:
    """What the line of an output of the two that could not be written (the page, unless the set
    says which) adds about the other: written with it or not."""
    together: OutputSet | None = args.together
    if together is None:
        return ""
    option, other = ("--report", args.report) if together.failed == args.out else ("--out", args.out)
    if other in together.paths:
        return f"; {option} {other} not written either (left as it was)"
    return f"; {option} {other} written"


def _rate_and_report(handler: Handler, name: str, args: argparse.Namespace, held: bool) -> int:
    """Rate (or compare) with `handler`, then write the page to --report; `held`: whether its lock is
    held already (its folder existed), else the folder is made and the page written under its lock,
    as rate's --out (the page was refused after the month was rated: No such file or directory)."""
    rc = handler(args)
    if args.report is None or rc not in (0, 1):
        return rc
    from reports.data import ReportError
    from reports.run_report import render_rating_report

    try:
        try:
            html = render_rating_report(
                args.inventory, args.usage, args.catalog, run=getattr(args, "rating_run", None)
            )
        except ReportError:
            # a page refused because its usage is no longer the month rated: the run put in its
            # place is the cause to name, when it is one
            swapped = _swapped(args.usage, getattr(args, "usage_folder", None), "rate it again")
            if swapped is not None:
                return _fail(name, f"{swapped}{_not_written(args)}")
            raise
        # the page reads the usage again: a run put in its place since it was rated (`m2msim run
        # --force` into it) gave a page of the new run beside an invoice of the old
        swapped = _swapped(args.usage, getattr(args, "usage_folder", None), "rate it again")
        if swapped is not None:
            return _fail(name, f"{swapped}{_not_written(args)}")
        if not held:
            args.report.parent.mkdir(parents=True, exist_ok=True)
        together: OutputSet | None = args.together
        if together is not None:
            if not held:
                together.hold(output_lock(args.report))
            data = html.encode("utf-8", errors="backslashreplace")
            together.stage(args.report, data, own=is_page, force=args.force, option="--report")
            together.commit()
        else:
            with contextlib.nullcontext() if held else output_lock(args.report):
                atomic_write_text(args.report, html, own=is_page, force=args.force, option="--report")
    except (ReportError, OutputError) as exc:
        return _fail(name, f"{exc}{_not_written(args)}")
    except OSError as exc:
        return _fail(name, f"--report {args.report}: {exc.strerror or exc}{_not_written(args)}")
    print(f"report: {args.report}", file=sys.stderr)
    return rc


def _jsonable(v: Any) -> Any:
    """A result's value as JSON holds it: amounts, dates and times as text; a float that is not a
    number or infinite as `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such number: written
    bare, no JSON reader took the output); a list or a struct with its values so, inside too."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, datetime | date | dtime):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def _cell(v: Any) -> Any:
    """A result's value in a CSV field or a table cell: a list or a struct as its JSON text (it was
    Python's, `{'a': 1}`, its amounts and dates inside as Python shows them)."""
    if isinstance(v, dict | list | tuple):
        return json.dumps(_jsonable(v), ensure_ascii=False, default=str)
    if isinstance(v, Decimal | datetime | date | dtime):
        return _jsonable(v)
    return v


# Shown escaped in the table (a terminal acts on them): controls, and lone surrogates (a name that
# is not UTF-8). --csv and --json keep the text as it is, quoted or escaped by their formats.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(text: str) -> str:
    def shown(m: re.Match[str]) -> str:
        c = m.group()
        return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")

    return _CONTROL.sub(shown, text)


def _text_table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    names = [_visible(n) for n in names]
    cells = [[("" if v is None else _visible(str(_cell(v)))) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    numeric = [
        all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in rows) for i in range(len(names))
    ]

    def line(vals: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(vals, widths, strict=True))
        ).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    out.append(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def cmd_sql(args: argparse.Namespace) -> int:
    from accounting.db import duckdb
    from m2msim.rundir import folder_identity
    from reports.data import VIEWS, ReportError, connect, damaged_usage, find_files

    if not args.shell and not args.query:
        return _fail("sql", "give a QUERY (or --shell)")
    if (unfinished := _unfinished("sql", args.folder)) is not None:
        return unfinished
    # the folder whose files the query reads, from its JSON files to its usage: a run put in its
    # place meanwhile (`m2msim run --force` into it) answered with the old run's tables beside the
    # new run's usage (the lock `report` takes would refuse queries made at once)
    checked = folder_identity(args.folder)
    try:
        files = find_files(args.folder)
        if (refused := _unread("sql", files, f"a query of {args.folder}")) is not None:
            return _fail("sql", refused)
        if args.shell:
            return _shell(files)
        con = connect(files)
    except (ReportError, OutputError) as exc:
        return _fail("sql", _swapped(args.folder, checked) or str(exc))
    try:
        refused = _not_a_query(con, args.query)
        if refused is not None:
            return _fail("sql", refused)
        names, rows = _run_query(con, args.query)
    except duckdb.Error as exc:
        if (swapped := _swapped(args.folder, checked)) is not None:
            return _fail("sql", swapped)
        # (an error that is not the query's may be a damaged file's: DuckDB does not say which)
        query = isinstance(exc, duckdb.ProgrammingError | duckdb.DataError)
        damaged = None if query else damaged_usage(files)
        if damaged is not None:
            return _fail("sql", str(damaged))
        return _fail("sql", f"{str(exc).splitlines()[0]} (views: {', '.join(VIEWS)})")
    finally:
        con.close()
    if (swapped := _swapped(args.folder, checked)) is not None:
        return _fail("sql", swapped)
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(names)
        w.writerows([[_cell(v) for v in r] for r in rows])
    elif args.json:
        keys = _json_keys(names)
        doc = [{n: _jsonable(v) for n, v in zip(keys, r, strict=True)} for r in rows]
        sys.stdout.write(json.dumps(doc, indent=1, ensure_ascii=False, default=str, allow_nan=False) + "\n")
    else:
        sys.stdout.write(_text_table(names, rows))
    sys.stdout.flush()  # a reader gone says so here, exit 141 (m2msim.cli), not at the program's exit
    return 0


def _swapped(folder: Path, checked: FolderIdentity | None, again: str = "query it again") -> str | None:
    """Why what was read of `folder` is not one run's: the folder is another than when it was
    first read (`checked`, `folder_identity`); None when it is the same.  `again`: what to do."""
    from accounting.errors import FolderChanged
    from m2msim.rundir import folder_identity

    if checked is None or folder_identity(folder) == checked:
        return None
    return str(FolderChanged(folder, again))


def _json_keys(names: list[str]) -> list[str]:
    """The names of a result's columns as keys of one JSON object: a name given again (`SELECT 1 AS a,
    2 AS a`, a join's two `line`) kept only its last column's value, the others lost. Renamed as
    DuckDB names them apart in a table or `to_json` (names compared without case; `a` again is
    `a_1`, then `a_2`...), so that the --json output and a table made of the query agree."""
    used: set[str] = set()
    keys = []
    for name in names:
        key, k = name, 0
        while key.lower() in used:
            k += 1
            key = f"{name}_{k}"
        used.add(key.lower())
        keys.append(key)
    return keys


def _run_query(con: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of `sql`'s last statement, its BLOB and INTERVAL values (inside a
    list, a struct or a map too) as DuckDB's own text: Python's were written (`b'\\x00'`,
    `32 days, 3:04:05`, an interval's month counted as 30 days), unlike DuckDB's shell and its CSV."""
    from accounting.db import duckdb

    *before, last = con.extract_statements(sql)  # (one at least: _not_a_query refused none)
    for statement in before:  # (read-only, checked by _not_a_query: run for their errors alone)
        con.execute(statement.query).fetchall()
    if last.type != duckdb.StatementType.SELECT:
        cur = con.execute(last.query)
        return [d[0] for d in cur.description or []], cur.fetchall()
    rel = con.sql(last.query)
    shown = [_as_text_type(t) for t in rel.types]
    if any(text for _, text in shown):
        rel = rel.project(
            ", ".join(
                (f"CAST(#{i} AS {target})" if text else f"#{i}") + f" AS {_quoted(name)}"
                for i, (name, (target, text)) in enumerate(zip(rel.columns, shown, strict=True), 1)
            )
        )
    return list(rel.columns), rel.fetchall()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_text_type(t: Any) -> tuple[str, bool]:
    """The type `t` with its BLOBs and INTERVALs as VARCHAR (inside a list, an array, a struct, a map
    or a UNION's members too), and whether it has any."""
    kind = t.id
    if kind in ("blob", "interval"):
        return "VARCHAR", True
    if kind == "list":
        inner, text = _as_text_type(t.children[0][1])
        return f"{inner}[]", text
    if kind == "array":
        inner, text = _as_text_type(t.children[0][1])
        return f"{inner}[{t.children[1][1]}]", text
    if kind == "struct":
        fields = [(n, _as_text_type(c)) for n, c in t.children]
        body = ", ".join(f"{_quoted(n)} {inner}" for n, (inner, _) in fields)
        return f"STRUCT({body})", any(text for _, (_, text) in fields)
    if kind == "map":
        (key, key_text), (value, value_text) = (_as_text_type(c) for _, c in t.children)
        return f"MAP({key}, {value})", key_text or value_text
    if kind == "union":  # its first child is the tag, then its members
        members = [(n, _as_text_type(c)) for n, c in t.children[1:]]
        body = ", ".join(f"{_quoted(n)} {inner}" for n, (inner, _) in members)
        return f"UNION({body})", any(text for _, (_, text) in members)
    return str(t), False


_PIVOT = re.compile(r"\bPIVOT\b", re.IGNORECASE)
_EXPLAIN = re.compile(r"\s*EXPLAIN(?:\s+ANALY[SZ]E)?\s+", re.IGNORECASE)


def _not_a_query(con: Any, sql: str) -> str | None:
    """Why `sql` is refused, or None when every statement only reads (SELECT, or EXPLAIN of one).

    A COPY ... TO, an ATTACH, an EXPORT, a CREATE, a SET or a PRAGMA would write files (in the run
    folder or anywhere else) or change the session: `m2msim sql` answers queries, it writes nothing.
    """
    from accounting.db import duckdb

    statements = con.extract_statements(sql)
    if not statements:  # (a comment alone, or `;`: it ended in a traceback)
        return 'the QUERY holds no statement: give one, e.g. "SELECT count(*) FROM usage"'
    for statement in statements:
        kind = statement.type
        if kind == duckdb.StatementType.EXPLAIN:
            inner = _EXPLAIN.match(statement.query)
            rest = con.extract_statements(statement.query[inner.end() :]) if inner else []
            if len(rest) == 1 and rest[0].type == duckdb.StatementType.SELECT:
                continue
        elif kind == duckdb.StatementType.SELECT:
            continue
        text = " ".join(statement.query.split())
        shown = text if len(text) <= 60 else text[:57] + "..."
        if kind == duckdb.StatementType.MULTI and _PIVOT.search(text):
            # DuckDB makes a PIVOT without its values into several statements (the values' type, then
            # the query), as it does a COPY or a CREATE of one: it was refused as "MULTI", unexplained
            return (
                "a PIVOT is run with its values given (ON column IN (...)): without them DuckDB runs it "
                "as several statements, which are refused; e.g. PIVOT usage ON type IN ('data', 'sms') "
                f"USING count(*) (SELECT DISTINCT gives the values): {shown}"
            )
        return (
            f"only queries are run (SELECT, or EXPLAIN of one): {kind.name} refused, as it could write "
            f"files or change the views: {shown}"
        )
    return None


def _shell(files: Any) -> int:
    exe = shutil.which("duckdb")
    if exe is None:
        return _fail(
            "sql",
            "--shell: DuckDB's shell (the `duckdb` command) is not installed; run queries with "
            'm2msim sql RUN_DIR "SELECT ..." instead',
        )
    import subprocess  # for the shell alone (`m2msim rate` imports this module for --report)

    from m2msim.outputs import marked_folder
    from m2msim.signals import foreground_program
    from reports.data import VIEWS, connect

    # (marked: a shell killed by SIGKILL leaves it, which the next `sql --shell` of this host removes)
    with marked_folder("m2msim-sql", [*(f"{name}.parquet" for name in VIEWS), "init.sql"]) as tmp:
        con = connect(files)
        try:
            off = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()
            script = [".print views: " + ", ".join(VIEWS)]
            if off and off[0]:  # (the statistics of another writer's Parquet, as `connect` ignores them)
                script.insert(0, f"SET disabled_optimizers = '{off[0]}';")
            for name in VIEWS:
                kind = con.execute(
                    "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]
                ).fetchone()
                if kind and kind[0]:
                    sql = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()
                    script.append(str(sql[0]) if sql else "")
                else:
                    path = Path(tmp) / f"{name}.parquet"
                    con.execute(f"COPY {name} TO '{path}' (FORMAT parquet)")
                    script.append(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}');")
        finally:
            con.close()
        init = Path(tmp) / "init.sql"
        init.write_text("SET TimeZone = 'UTC';\n" + "\n".join(script) + "\n", encoding="utf-8")
        # (Ctrl-C is the shell's, to stop a query; SIGTERM and SIGHUP end it, and its folder goes)
        with foreground_program():
            return subprocess.call([exe, "-init", str(init)])
