"""A run's files, found and read, and the DuckDB views over them (the SQL of `m2msim sql` and the report).

A folder holds some of: `summary.json` (run), `invoice.json` (run, or `rate --json --out`), a comparison
(`compare --json --out`, any `*.json` whose `fleet` has `today`), `scenario.yaml` (its `inventory` names
the lines and their groups), `usage.parquet` or `usage/part-*.parquet` (else `usage.csv`), `alarms.jsonl`.
Each JSON file is recognised by what it holds, not by its name, so the outputs of `rate` and `compare`
can be put in a folder under any name.

The views (documented in docs/report.md):

- `usage`: every usage record, the columns of accounting-io.md and the gateway's, plus `retry` (true for
  a reconnection attempt after an outage, read from the charging id the simulator gives it);
- `lines`: the inventory's lines: `line`, `device_group` (the run's device group, else the inventory's
  `id_prefix`), `offer`, `plan`, `commitment`;
- `alarms`: `time`, `line`, `rule`, `details` (JSON text);
- `invoice_lines`: `line`, `offer`, `plan`, `commitment`, `total_ht` (DECIMAL(38,2));
- `invoice_items`: `line` (NULL for a fleet item), `code`, `quantity`, `unit`, `amount` (DECIMAL(38,2)),
  `step`, `note`; the sum of `amount` is the invoice's `total_ht`.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

import pyarrow as pa

from accounting import inventory_from_dict
from accounting.db import arrow_scans, duckdb
from accounting.errors import AccountingError
from accounting.inventory import Inventory
from accounting.records import RETRY_BIT
from accounting.starts import start_sql
from accounting.zones import PLMN_REFUSED, usage_zone_sql
from m2msim.inputs import each_once, replaced_repeat
from m2msim.rundir import marker_files, not_whole_run, run_usage, usage_forms
from m2msim.yamlio import YamlError, load_yaml

log = logging.getLogger(__name__)

VIEWS = ("usage", "lines", "alarms", "invoice_lines", "invoice_items")
MONEY = pa.decimal128(38, 2)  # (any amount the rating can bill: a 30 M-record month may pass 10^12)
QUANTITY = pa.decimal128(38, 3)
# (without the inventory, the device group of a line with an inventory error: the invoice names its
# error, not its offer and plan)
UNBILLED_GROUP = "(inventory error)"

# A reconnection attempt's charging id: the retry bit set (`accounting.records.is_retry_charging`).
RETRY_SQL = f"coalesce(charging_id >= {RETRY_BIT}, false)"


def failed_sql(alias: str = "") -> str:
    """A usage view's record that ends a failed session (`accounting.records.is_failed_session`): a
    context lost (cause 4), or a reconnection attempt its device released (cause 0, `retry`);
    `alias`: the view's name in the query (`u.`)."""
    return f"({alias}cause = 4 OR ({alias}cause = 0 AND {alias}retry))"


class ReportError(Exception):
    """A folder or file the report or the SQL cannot use; the text is one line naming it."""


@dataclass
class RunFiles:
    """What a folder holds, read (JSON, YAML) or located (usage, alarms)."""

    folder: Path
    summary: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    scenario: dict[str, Any] | None = None
    inventory: Inventory | None = None
    usage: list[Path] = field(default_factory=list)
    alarms: Path | None = None
    bench: dict[str, Any] | None = None  # a bench folder's report.json
    transcript: Path | None = None
    paths: dict[str, Path] = field(default_factory=dict)  # the file each document was read from, by kind
    # names of a usage file read under another (`m2msim.inputs.each_once`), each with why it is not read
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    # usage files passed over for those the invoice rated (`_rated_form`), each with why
    passed_over: list[tuple[Path, str]] = field(default_factory=list)

    def source(self, kind: str) -> str:
        """The file the `kind` document ("summary", "invoice", ...) was read from, to name in an error
        (the outputs of `rate --json --out` and `compare --json --out` are read under any name)."""
        found = self.paths.get(kind)
        return str(found if found is not None else self.folder / f"{kind}.json")

    def read(self) -> list[Path]:
        """The files of the folder the report and SQL read (the others there they pass over)."""
        out = [*self.paths.values(), *self.usage]
        out += [p for p in (self.alarms, self.transcript) if p is not None]
        if self.scenario is not None:
            out.append(self.folder / "scenario.yaml")
        return out

    @property
    def is_bench(self) -> bool:
        return self.bench is not None

    @property
    def usage_kind(self) -> str:
        """ "csv" or "parquet", as the rating reads the usage files (by name, or by content)."""
        from accounting.usage import is_csv_input

        return "csv" if self.usage and is_csv_input(self.usage[0]) else "parquet"


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    except RecursionError:  # arrays or objects nested 10^5 deep: a traceback before
        raise ReportError(f"{path}: not JSON as m2msim writes it: nested too deep") from None


def _kind(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("summary"), dict) and "script" in doc["summary"]:
        return "bench"
    if isinstance(doc.get("fleet"), dict) and "today" in doc["fleet"]:
        return "comparison"
    if "totals" in doc and "groups" in doc:
        return "summary"
    if isinstance(doc.get("lines"), list) and "total_ht" in doc:
        return "invoice"
    return None


# the names a run (`summary.json`, `invoice.json`) and a bench (`report.json`) give their JSON files
_OWN_NAMES = frozenset({"summary", "invoice", "report"})


def find_files(folder: Path | str) -> RunFiles:
    """Read what `folder` holds; `ReportError` when it holds nothing a report or SQL can use."""
    root = Path(folder)
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder")
    files = RunFiles(root)
    # in a run folder, the JSON files the run (or m2msim since: `rate --json --out RUN/x.json`) wrote
    # alone: one copied in beside them (another month's `invoice-april.json`, before `invoice.json`
    # by name) was read as the run's
    listed = marker_files(root)
    # each kind's own name first (`invoice.json`, `summary.json`): one m2msim wrote beside them
    # since, listed (another month's `rate --json --out RUN/a-invoice.json`), was read as the run's
    for path in sorted(root.glob("*.json"), key=lambda p: (p.stem not in _OWN_NAMES, p.name)):
        if listed is not None and path.name not in listed:
            continue
        doc = _read_json(path)
        kind = _kind(doc)
        if kind is not None and getattr(files, kind) is None:
            setattr(files, kind, doc)
            files.paths[kind] = path
    if files.bench is not None and (root / "transcript.jsonl").is_file():
        files.transcript = root / "transcript.jsonl"
    scenario = root / "scenario.yaml"
    if scenario.is_file():
        try:
            doc = load_yaml(scenario)
        except YamlError as exc:
            raise ReportError(str(exc)) from None
        if isinstance(doc, dict):
            files.scenario = doc
            if isinstance(doc.get("inventory"), dict):
                try:
                    files.inventory = inventory_from_dict(doc["inventory"], str(scenario))
                except AccountingError as exc:
                    raise ReportError(str(exc)) from None
    usage = run_usage(root)  # (as `rate` reads it: merged, the parts, else the CSV)
    if listed is None and files.invoice is not None:
        usage, files.passed_over = _rated_form(files, usage)
    # (a run's usage with a part missing, or another run's part beside its own, was read as the
    # run's whole usage without a word; a link to one of its parts is another file there)
    if usage and (said := not_whole_run(root, usage)) is not None:
        raise ReportError(said)
    # each file once, as `rate` reads it: a part beside a link to it (in a folder of `rate` outputs
    # and their usage) was read twice, its records counted twice in the page and the queries
    files.usage, files.skipped = each_once(usage)
    _check_skipped(files)
    if (root / "alarms.jsonl").is_file():
        files.alarms = root / "alarms.jsonl"
    if not (files.summary or files.invoice or files.comparison or files.bench or files.usage):
        raise ReportError(
            f"{root}: no run outputs here (summary.json, invoice.json, a comparison, usage.parquet, "
            "usage/part-*.parquet, usage.csv or a bench report.json)"
        )
    return files


def _rated_form(files: RunFiles, usage: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The usage files of a folder of `rate` outputs to read: `usage`, those `run_usage` takes
    first, unless the folder's invoice rated another of its forms (`usage_forms`) and not these,
    as its `usage_files` tell them by size and `sampled_sha256` (a `usage.csv` rated, beside a
    `usage.parquet` of the same records written from it, or of others: the page refused the
    folder, as it cannot prove the Parquet holds the rows the invoice numbers); then that form,
    and each file of `usage` passed over with why, said on stderr.  A run's `usage.parquet` beside
    the parts rated is read as it is when its footer is their merge's (`_merge_of`; it is then
    checked so, `check_invoice_files`); one that is not (the same records written by another tool
    in other row groups, `COPY ... TO`) was refused, "not the merge of the parts it rated ... rate
    them again", the parts rated there (and rated again, the same invoice): the parts are read."""
    recorded = (files.invoice or {}).get("usage_files")
    if not usage or not isinstance(recorded, list):
        return usage, []
    forms = list(usage_forms(files.folder))
    if len(forms) < 2:
        return usage, []
    from accounting.usage import file_identity

    idents = [_entry_identity(e) for e in recorded]
    if None in idents:  # (an entry of no size or digest: `check_invoice_files` names it)
        return usage, []
    rated = Counter(idents)

    def is_rated(form: list[Path]) -> bool:
        try:
            now = Counter((i["bytes"], i["sampled_sha256"]) for i in map(file_identity, form))
        except OSError:
            return False  # (its reader says why)
        return now == rated

    if is_rated(usage):
        return usage, []
    merged = usage == [files.folder / "usage.parquet"]
    for form in forms:
        if form == usage or not is_rated(form):
            continue
        names = ", ".join(str(p) for p in form)
        its, is_, it = ("its size", "is", "it") if len(form) == 1 else ("their sizes", "are", "them")
        why = (
            f"not read: the invoice {files.source('invoice')} rated {names} (known by {its} and "
            f"sampled_sha256), not this file: {names} {is_} read in its place, as the rows the invoice "
            f"lists as rejected are numbered in {it}"
        )
        if merged and form[0].parent.name == "usage":
            if (other := _merge_of(usage[0], form)) is None:
                return usage, []  # (their merge, read as it is)
            why += f" (this file is not their merge: {other})"
        return form, [(p, why) for p in usage]
    return usage, []


def _entry_identity(entry: object) -> tuple[int, str] | None:
    """The size and `sampled_sha256` an invoice's entry gives a file (`usage_files`, `merged_into`);
    None when it gives no such pair (a hand-edited one: a size that is a list, no digest)."""
    if not isinstance(entry, dict):
        return None
    size, digest = entry.get("bytes"), entry.get("sampled_sha256")
    if not isinstance(size, int) or isinstance(size, bool) or not isinstance(digest, str):
        return None
    return size, digest


def _check_skipped(files: RunFiles) -> None:
    """`ReportError` when a usage name not read (another name of a file read) no longer names a
    file read: replaced (a part written again) just after the names were compared, its records
    were left out of the page and the queries without a word (as `rate` checks it)."""
    read = set()
    for path in files.usage:
        try:
            st = os.stat(path)
        except OSError:
            continue  # (its reader says why)
        read.add((st.st_dev, st.st_ino))
    replaced = replaced_repeat(files.skipped, read)
    if replaced is not None:
        path, what = replaced
        raise ReportError(
            f"{path}: changed while it was being read ({what}): read it again once it is complete"
        )


def group_names(files: RunFiles) -> dict[str, str]:
    """Inventory line group (id_prefix or line id) -> the run's device group name."""
    out: dict[str, str] = {}
    groups = (files.summary or {}).get("groups") or []
    if not isinstance(groups, list):
        raise ReportError(f"{files.source('summary')}: groups: not a list: {type(groups).__name__}")
    for g in groups:
        if isinstance(g, dict) and "lines" in g and "name" in g:
            out[str(g["lines"])] = str(g["name"])
    return out


def _run_group(line: str, names: dict[str, str], prefixes: list[str]) -> str | None:
    """The run's device group of inventory line `line`: the group whose `lines` is its id, else the
    longest id prefix followed by the line's number (an inventory group's ids: `MTR` 1 to 400 are
    `MTR001` to `MTR400`); None when no group names it."""
    if line in names:
        return names[line]
    for prefix in prefixes:
        if line.startswith(prefix) and line[len(prefix) :].isdigit():
            return names[prefix]
    return None


def unbilled_lines(invoice: dict[str, Any] | None) -> list[str]:
    """The inventory lines an invoice lists only among its errors (a line with an inventory error is
    not billed, so not among its `lines`), each once, in the errors' order: lines of the fleet all
    the same, as the device groups of its inventory count them."""
    billed = {str(b.get("id")) for b in (invoice or {}).get("lines") or [] if isinstance(b, dict)}
    out: dict[str, None] = {}
    for issue in (invoice or {}).get("errors") or []:
        line = issue.get("line") if isinstance(issue, dict) else None
        if line not in (None, "") and str(line) not in billed:  # ("": a fleet service's error)
            out[str(line)] = None
    return list(out)


def lines_table(files: RunFiles) -> pa.Table:
    """The `lines` view's rows: each inventory line with its device group (from the invoice if no inventory)."""
    names = group_names(files)
    rows: dict[str, list[Any]] = {k: [] for k in ("line", "device_group", "offer", "plan", "commitment")}
    if files.inventory is not None:
        for ln in files.inventory.lines:
            key = ln.group if ln.group is not None else ln.id
            rows["line"].append(ln.id)
            rows["device_group"].append(names.get(key, ln.group or "single lines"))
            rows["offer"].append(ln.offer)
            rows["plan"].append(ln.plan)
            rows["commitment"].append(ln.commitment)
    elif files.invoice is not None:
        # (a run folder without its scenario.yaml: each line in the run's device group that names its
        # id or its id prefix; the page listed every group with no line, then each line's offer and
        # plan as another group, its devices counted twice and the groups' figures at 0)
        by_prefix = sorted(names, key=len, reverse=True)
        for bill in files.invoice.get("lines", []):
            lid = str(bill.get("id"))
            rows["line"].append(lid)
            rows["device_group"].append(
                _run_group(lid, names, by_prefix) or f"{bill.get('offer')} {bill.get('plan')}"
            )
            rows["offer"].append(bill.get("offer"))
            rows["plan"].append(bill.get("plan"))
            rows["commitment"].append(bill.get("commitment"))
        # (a line with an inventory error, billed nothing, is a device all the same: its offer and
        # plan are not in the invoice; the headline counted 9 devices where `rate --report`, which
        # reads the inventory, counted 11, and its records were said not in the inventory)
        for lid in unbilled_lines(files.invoice):
            rows["line"].append(lid)
            rows["device_group"].append(_run_group(lid, names, by_prefix) or UNBILLED_GROUP)
            for k in ("offer", "plan", "commitment"):
                rows[k].append(None)
    schema = pa.schema(
        [
            ("line", pa.string()),
            ("device_group", pa.string()),
            ("offer", pa.string()),
            ("plan", pa.string()),
            ("commitment", pa.int32()),
        ]
    )
    return _typed_table(rows, schema, lambda k: f"{files.source('invoice')}: lines[{k}]")


def _money(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ReportError(f"{where}: not an amount: {value!r}") from None


def invoice_tables(invoice: dict[str, Any] | None, source: str) -> tuple[pa.Table, pa.Table]:
    """The `invoice_lines` and `invoice_items` rows of an invoice document."""
    lines: dict[str, list[Any]] = {k: [] for k in ("line", "offer", "plan", "commitment", "total_ht")}
    items: dict[str, list[Any]] = {
        k: [] for k in ("line", "code", "quantity", "unit", "amount", "step", "note")
    }
    places: list[tuple[int | None, int]] = []  # each item's (line's index or None: fleet, item's index)
    for i, bill in enumerate((invoice or {}).get("lines", [])):
        if not isinstance(bill, dict):
            raise ReportError(f"{source}: lines[{i}]: a line is an object")
        lid = str(bill.get("id"))
        lines["line"].append(lid)
        lines["offer"].append(bill.get("offer"))
        lines["plan"].append(bill.get("plan"))
        lines["commitment"].append(bill.get("commitment"))
        lines["total_ht"].append(bill.get("total_ht"))
        for j, it in enumerate(_listed(bill.get("items"), f"{source}: lines[{i}].items")):
            _add_item(items, places, lid, it, source, (i, j))
    for j, it in enumerate(_listed((invoice or {}).get("fleet"), f"{source}: fleet")):
        _add_item(items, places, None, it, source, (None, j))

    def item_place(k: int) -> str:  # made only to name a refused amount
        return _item_place(source, places[k])

    lines["total_ht"] = _amounts(lines["total_ht"], MONEY, lambda k: f"{source}: lines[{k}]", "total_ht")
    items["quantity"] = _amounts(items["quantity"], QUANTITY, item_place, "quantity")
    items["amount"] = _amounts(items["amount"], MONEY, item_place, "amount")
    s = pa.string()
    lt = _typed_table(
        lines,
        pa.schema([("line", s), ("offer", s), ("plan", s), ("commitment", pa.int32()), ("total_ht", MONEY)]),
        lambda k: f"{source}: lines[{k}]",
    )
    it_ = _typed_table(
        items,
        pa.schema(
            [
                ("line", s),
                ("code", s),
                ("quantity", QUANTITY),
                ("unit", s),
                ("amount", MONEY),
                ("step", s),
                ("note", s),
            ]
        ),
        item_place,
    )
    return lt, it_


def _typed_table(columns: dict[str, list[Any]], schema: pa.Schema, place: Callable[[int], str]) -> pa.Table:
    """The rows as an Arrow table of `schema`; `ReportError` naming the first value of another type
    (`place(k)`: where the k-th row is in the document): an invoice's plan that is a number, a
    commitment that is a text, ended `m2msim sql` in a traceback (ArrowTypeError)."""
    try:
        return pa.table(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    for f in schema:
        for k, v in enumerate(columns[f.name]):
            try:
                pa.array([v], f.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                kind = "a text" if pa.types.is_string(f.type) else "an integer"
                raise ReportError(f"{place(k)}.{f.name}: not {kind}: {repr(v)[:40]}") from None
    raise ReportError(f"{place(0)}: not as m2msim writes it")


def _listed(value: Any, where: str) -> list[Any]:
    """An invoice's list of items (none when absent); `ReportError` naming `where` when it is not a list
    (a number made `m2msim sql` end in a traceback, a text was read as items of one character)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: a list of items, not {type(value).__name__} {str(value)[:40]!r}")
    return value


def _item_place(source: str, place: tuple[int | None, int]) -> str:
    """Where an item is in the invoice document: (its line's index or None for the fleet's, its index)."""
    i, j = place
    return f"{source}: fleet[{j}]" if i is None else f"{source}: lines[{i}].items[{j}]"


def _add_item(
    items: dict[str, list[Any]],
    places: list[tuple[int | None, int]],
    line: str | None,
    it: Any,
    source: str,
    place: tuple[int | None, int],
) -> None:
    if not isinstance(it, dict):
        raise ReportError(f"{_item_place(source, place)}: an item is an object")
    items["line"].append(line)
    items["code"].append(str(it.get("code")))
    items["quantity"].append(it.get("quantity", "0"))
    items["unit"].append(it.get("unit"))
    items["amount"].append(it.get("amount", "0"))
    items["step"].append(it.get("step"))
    items["note"].append(it.get("note"))
    places.append(place)


def _amounts(values: list[Any], kind: pa.DataType, place: Callable[[int], str], name: str) -> pa.Array:
    """One column of amounts as Arrow decimals, converted from their text by Arrow at once (a
    month of 10,000 lines has 70,000 amounts); when Arrow refuses one, each is converted with
    `Decimal` as written, which names the first that is not an amount (`place(k)`: where the k-th
    value is in the document)."""
    try:
        return pa.array([str(v) for v in values], pa.string()).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    amounts = [_money(v, f"{place(k)}.{name}") for k, v in enumerate(values)]
    try:
        return pa.array(amounts, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # an amount too large (or too precise) for it
        k = next(k for k, d in enumerate(amounts) if not _fits(d, kind))
        raise ReportError(f"{place(k)}.{name}: not an amount of an invoice: {values[k]!r}") from None


def _fits(amount: Decimal, kind: pa.DataType) -> bool:
    try:
        pa.array([amount], kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def alarms_table(path: Path | None) -> pa.Table:
    """The `alarms` view's rows, from alarms.jsonl (a line that is not an alarm is an error naming it)."""
    cols: dict[str, list[Any]] = {"time": [], "line": [], "rule": [], "details": []}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportError(f"{path}: cannot read: {exc}") from None
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                a = json.loads(raw)
                when = a["time"]
                cols["line"].append(str(a["line"]))
                cols["rule"].append(str(a["rule"]))
                cols["details"].append(json.dumps(a.get("details", {}), ensure_ascii=False))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ReportError(f"{path}:{n}: not an alarm (time, line, rule): {exc}") from None
            except RecursionError:  # (a traceback before)
                raise ReportError(f"{path}:{n}: not an alarm (time, line, rule): nested too deep") from None
            cols["time"].append(str(when))
    table = pa.table(cols, schema=pa.schema([(k, pa.string()) for k in cols]))
    return table


# The `usage` view's columns and their types (DuckDB's names), and the values of those a file may
# leave out or empty, as the rating reads them.
_USAGE_COLUMNS = {
    "line": "VARCHAR",
    "type": "VARCHAR",
    "start": "TIMESTAMP WITH TIME ZONE",
    "duration_s": "BIGINT",
    "bytes_up": "BIGINT",
    "bytes_down": "BIGINT",
    "zone": "VARCHAR",
    "dest": "VARCHAR",
    "delivered": "BOOLEAN",
    "session": "VARCHAR",
    "imsi": "VARCHAR",
    "imeisv": "VARCHAR",
    "apn": "VARCHAR",
    "charging_id": "BIGINT",
    "serving_plmn": "VARCHAR",
    "cause": "INTEGER",
    "sequence": "INTEGER",
}
_USAGE_DEFAULTS = {"duration_s": "0", "bytes_up": "0", "bytes_down": "0", "zone": "'fr'"}
# Text columns an empty text leaves unset, as the rating reads them (a Parquet file of another
# writer may hold '' where a CSV's empty field is NULL): no line, no destination, zone `fr`.
_USAGE_EMPTY = ("line", "dest", "zone")


def _unset_if_empty(name: str, expr: str | None = None) -> str:
    """SQL: the column `name` (or `expr`, the column cast), with '' as unset."""
    column = f'"{name}"'
    expr = f"NULLIF({expr or column}, '')"
    return f"coalesce({expr}, {_USAGE_DEFAULTS[name]})" if name in _USAGE_DEFAULTS else expr


def _usage_source(files: RunFiles, usage: list[Path], numbered: bool = False) -> str:
    """SQL: the records of `usage` (files of `files.usage`), as the rating reads them; `numbered`:
    with each record's file (`_PART`) and row in it as the rating numbers it (`_ROW`: the header,
    or a Parquet file's first row, is row 1; a CSV row the reader could not split is not counted)."""
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in usage)
    if files.usage_kind == "parquet":
        if numbered:
            read = (
                f"read_parquet([{paths}], union_by_name = true, file_row_number = true, filename = '{_PART}')"
            )
            return f"(SELECT * EXCLUDE (file_row_number), file_row_number + 2 AS {_ROW} FROM {read})"
        return f"read_parquet([{paths}], union_by_name = true)"
    from accounting.usage import csv_layout, csv_read_options, number_text_sql

    try:
        header, delimiter = csv_layout(files.usage[0])
    except AccountingError as exc:
        raise ReportError(str(exc)) from None
    # Read as the rating reads it (its header, separator and quoting); the rows it rejects as
    # malformed (fields that do not match the header) are not in the view.
    named = f", filename = '{_PART}'" if numbered else ""
    read = f"read_csv([{paths}], {csv_read_options(header, delimiter)}, ignore_errors = true{named})"
    if numbered:  # (in the order read: `preserve_insertion_order`, DuckDB's default, as the rating does)
        rows = f"(SELECT *, row_number() OVER () AS {_ROW} FROM {read})"
        # each file from its own first row (a partitioned window, holding every row: for several only)
        first = f"min({_ROW}) OVER (PARTITION BY {_PART})" if len(usage) > 1 else "1"
        read = f"(SELECT * REPLACE ({_ROW} - {first} + 2 AS {_ROW}) FROM {rows})"
    # Counts read from their text as the rating reads them (`1_000` no number; in a file separated
    # by ';', a duration's decimal comma read, dotted thousands no number: the row is a reject).
    semicolons = delimiter == ";"
    numbers = ", ".join(
        number_text_sql(f'"{n}"', decimal_comma=semicolons and n == "duration_s", grouped=semicolons)
        + f' AS "{n}"'
        for n in ("duration_s", "bytes_up", "bytes_down")
        if n in header
    )
    return f"(SELECT * REPLACE ({numbers}) FROM {read})" if numbers else read


_PLMN = '"serving_plmn"'
_PART = "__m2msim_file"  # (the part a row was read from: `_zone_by_part`)
_ROW = "__m2msim_row"  # (its row there, as the rating numbers it: `_usage_source`)


def _refused_zone(zone: str) -> str:
    """SQL: `zone`, a zone or the zone of a network the rating refuses (`usage_zone`: its mark and
    why), with NULL for the latter: the row is a reject, in no zone."""
    return f"CASE WHEN starts_with({zone}, chr({ord(PLMN_REFUSED)})) THEN NULL ELSE {zone} END"


def _zone_by_part(
    files: RunFiles, con: duckdb.DuckDBPyConnection, have: dict[str, str], numbered: bool = False
) -> str | None:
    """SQL: the Parquet parts read together, each row's `zone` as the rating reads it by its own
    part's columns (`accounting.usage`: a part with only `serving_plmn` beside parts with `zone`,
    an operator's export beside the simulator's parts): its own zone in a part with the column (an
    empty one `fr`, as in any file), the zone of its network in a part without (`usage_zone`, a
    refused network its mark); None when no part is read so (the folder's union of columns alone,
    where the export's rows had a NULL zone, shown `fr`)."""
    if files.usage_kind != "parquet" or len(files.usage) < 2 or not {"zone", "serving_plmn"} <= set(have):
        return None
    from accounting.usage import part_columns

    try:
        columns = part_columns(con, files.usage)
    except AccountingError as exc:
        raise ReportError(str(exc)) from None
    by_plmn = [
        str(p) for p, c in zip(files.usage, columns, strict=True) if "zone" not in c and "serving_plmn" in c
    ]
    if not by_plmn:
        return None
    paths = ", ".join("'" + p.replace("'", "''") + "'" for p in map(str, files.usage))
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in by_plmn)
    zone = f'CASE WHEN {_PART} IN ({listed}) THEN {usage_zone_sql(_PLMN)} ELSE CAST("zone" AS VARCHAR) END'
    if numbered:
        return f'(SELECT * REPLACE ({zone} AS "zone") FROM {_usage_source(files, files.usage, True)})'
    return (
        f'(SELECT * EXCLUDE ({_PART}) REPLACE ({zone} AS "zone") '
        f"FROM read_parquet([{paths}], union_by_name = true, filename = '{_PART}'))"
    )


def _usage_sql(files: RunFiles, con: duckdb.DuckDBPyConnection, numbered: bool = False) -> str:
    """The `usage` view: every column of `_USAGE_COLUMNS` with its type, whatever the files hold
    (a run's parts as they are; a CSV, gzip or zstd too, or a Parquet file of other writers: its
    columns cast as the rating reads them, those it lacks empty or at their defaults); `numbered`:
    each record's file and row too (`_usage_source`)."""
    if not files.usage:
        empty = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in _USAGE_COLUMNS.items())
        return f"SELECT {empty}, false AS retry WHERE false"
    src = _usage_source(files, files.usage, numbered)
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    by_part = _zone_by_part(files, con, have, numbered)
    src = by_part or src
    if all(have.get(name) == kind for name, kind in _USAGE_COLUMNS.items()):
        # (a run's parts: every column, typed)
        unset = ", ".join(
            f'{_refused_zone(_unset_if_empty(n)) if n == "zone" and by_part else _unset_if_empty(n)} AS "{n}"'
            for n in _USAGE_EMPTY
        )
        return f"SELECT * REPLACE ({unset}), {RETRY_SQL} AS retry FROM {src}"
    cols = []
    for name, kind in _USAGE_COLUMNS.items():
        if name in have:
            expr = f'TRY_CAST("{name}" AS {kind})'
            if name == "start" and have[name] != kind:  # a leap second as the rating reads it
                expr = start_sql(f'"{name}"')
            if name == "duration_s":  # a fraction of a second rounded up, as the rating bills a call
                value = f'"{name}"'
                if have[name] == "INTERVAL":  # as its seconds, one of months no number (`accounting.usage`)
                    from accounting.usage import interval_seconds_sql

                    value = interval_seconds_sql(value)
                expr = f"TRY_CAST(ceil(TRY_CAST({value} AS DOUBLE)) AS {kind})"
            if name in _USAGE_EMPTY:
                expr = _unset_if_empty(name, expr)
                if name == "zone" and by_part:
                    expr = _refused_zone(expr)
            elif name in _USAGE_DEFAULTS:
                expr = f"coalesce({expr}, {_USAGE_DEFAULTS[name]})"
        elif name == "zone" and "serving_plmn" in have:
            # the zone the rating reads from the network (`accounting.zones.usage_zone`); a network
            # it refuses (no MCC+MNC, an MCC not assigned), none: the row is a reject
            expr = _refused_zone(f"coalesce({usage_zone_sql(_PLMN)}, 'fr')")
        else:
            expr = f"{_USAGE_DEFAULTS.get(name, 'NULL')}::{kind}"
        cols.append(f'{expr} AS "{name}"')
    if numbered:
        cols += [_PART, _ROW]
    return f"SELECT *, {RETRY_SQL} AS retry FROM (SELECT {', '.join(cols)} FROM {src})"


def damaged_usage(files: RunFiles) -> ReportError | None:
    """The first of the folder's usage files that cannot be read whole (every column of every row), as
    an error naming it; None when each reads.

    Asked when a query or the page's aggregation fails with an error that is not the query's: DuckDB
    says what is wrong with the data (`Parquet file is likely corrupted`) but not in which file,
    and a run's shards write one part each (a gzip file cut short, it names inside its message)."""
    if not files.usage:
        return None
    con = duckdb.connect(":memory:")
    try:
        for path in files.usage:
            try:
                src = _usage_source(files, [path])
                con.execute(f"SELECT count(*) FROM {src} WHERE hash(COLUMNS(*)) IS NOT NULL")
            except ReportError as exc:
                return exc
            except duckdb.Error as exc:
                return ReportError(f"{path}: cannot read the usage records: {str(exc).splitlines()[0]}")
        return _unlike_part(files, con)
    finally:
        con.close()


def _unlike_part(files: RunFiles, con: duckdb.DuckDBPyConnection) -> ReportError | None:
    """The first Parquet part, each read whole, whose column of the `usage` view is of another type
    than in the parts before it (a part of another writer: a `start` of integers), as an error naming
    it: the parts are read together, and DuckDB's error named the folder first."""
    if files.usage_kind != "parquet" or len(files.usage) < 2:
        return None
    seen: dict[str, tuple[str, Path]] = {}
    for path in files.usage:
        try:
            kinds = con.execute(f"DESCRIBE SELECT * FROM {_usage_source(files, [path])}").fetchall()
        except duckdb.Error:
            continue
        for name, kind, *_ in kinds:
            if name not in _USAGE_COLUMNS:
                continue
            first = seen.setdefault(name, (kind, path))
            if first[0] != kind:
                return ReportError(
                    f"{path}: cannot read the usage records with the other parts: its {name} is {kind}, "
                    f"{first[0]} in {first[1]} (a part of another writer?)"
                )
    return None


# DuckDB's optimizers that take a Parquet file's footer statistics (min, max, null count) for the
# truth: a filter or a join's keys skipped the row groups whose statistics rule them out, and an
# expression they settle is folded to a constant.  Off for any file that is not the simulator's
# (`accounting.usage.statistics_believed`), as the rating ignores them: a footer whose `line`
# statistics were wrong gave `usage WHERE line = 'A'` no row where 200 were.
STATISTICS_OPTIMIZERS = (
    "statistics_propagation",
    "filter_pushdown",
    "join_filter_pushdown",
    "row_group_pruner",
)


def records_counted(files: RunFiles) -> str:
    """Which usage records the page's figures drawn from them count, in the words of its labels:
    "billed" when the folder has an invoice (those it lists as rejected are left out, `connect`),
    else "read" (every record)."""
    return "billed" if files.invoice is not None else "read"


@dataclass(frozen=True)
class Rejects:
    """The records an invoice lists as rejected by the rating, placed in the usage files the page
    reads (`rejects_of`), worked out once per page and handed to what draws from the records.

    `rows`: each as (its usage file read, its row as the `usage` view numbers it: a CSV's rows the
    reader could not split, not in the view, are not counted); `unplaced`: how many rejected
    records the invoice counts but does not place so (past its listing's limit, or naming a file
    that is not among those read); `unchecked`: why the usage files were not checked against the
    invoice's `usage_files` (`check_invoice_files`), its `rows_read` then the only check; None when
    they were."""

    rows: tuple[tuple[str, int], ...] = ()
    unplaced: int = 0
    unchecked: str | None = None


NO_REJECTS = Rejects()


def rejects_of(files: RunFiles) -> Rejects:
    """The rejects of the folder's invoice in the usage files read (`Rejects`), once the files were
    checked to be those it rated (`check_invoice_files`: `ReportError` when they are not).

    The rating decides once which records it bills: the page reads its outcome, records the
    invoice lists as rejected left out, so that its figures are those billed."""
    inv = files.invoice
    if inv is None or not files.usage:
        return NO_REJECTS
    unchecked, where = check_invoice_files(files)
    rows, unplaced = _rejected_rows(inv.get("rejects") or [], inv.get("rejects_by_reason") or [], where)
    return Rejects(tuple(rows), unplaced, unchecked)


# where the rows of a file an invoice names are read: its name (as its `usage_files` or its
# rejects give it; None: the one file rated) -> (the file read, how many of its rows come first)
_Where = dict[str | None, tuple[str, int]]


def _rejected_rows(
    listed: list[Any], by_reason: list[Any], where: _Where
) -> tuple[list[tuple[str, int]], int]:
    """The rejects `listed` placed in the files read (`where`) and how many of those counted
    (`by_reason`) are not (`Rejects`)."""
    total = sum(int(r.get("count", 0)) for r in by_reason) if by_reason else len(listed)
    from accounting.usage import ROW_REASONS

    split_not = ROW_REASONS["bad-row"][0]  # (a CSV row of other fields than the header's)
    found: list[tuple[str, int, bool]] = []
    for r in listed:
        row, name = (
            r.get("row") if isinstance(r, dict) else None,
            r.get("file") if isinstance(r, dict) else None,
        )
        place = where.get(None if name is None else str(name))
        if isinstance(row, int) and not isinstance(row, bool) and place is not None:
            read, before = place
            found.append((read, before + row, str(r.get("reason", "")).startswith(split_not)))
    unsplit: dict[str, list[int]] = {}
    for f, row, bad in found:
        if bad:
            unsplit.setdefault(f, []).append(row)
    for rows in unsplit.values():
        rows.sort()
    out = [(f, row - bisect.bisect_left(unsplit.get(f, ()), row)) for f, row, bad in found if not bad]
    return out, max(total - len(found), 0)


def _named(names: list[str | None], reads: list[tuple[str, int]]) -> _Where:
    """`_Where` of files named `names` (paths as given), each read as `reads` says: by its name,
    by its file name where no other has it (as a reject names a file), and None for one alone."""
    where: _Where = {}
    bases = [[] if n is None else _file_names(n) for n in names]
    counts: dict[str, int] = {}
    for base in (b for each in bases for b in each):
        counts[base] = counts.get(base, 0) + 1
    for name, each, read in zip(names, bases, reads, strict=True):
        where[name] = read
        for base in each:
            if counts[base] == 1:
                where.setdefault(base, read)
    if len(names) == 1:
        where[None] = reads[0]
    return where


_COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")  # a usage file compressed since it was rated


def _file_names(name: str) -> list[str]:
    """The file name a path an invoice gives may end in: as this system splits it, and as Windows
    does (`C:\\data\\part-00000.parquet`, rated there, its rejects naming `part-00000.parquet`)."""
    posix = PurePath(name).name
    return list(dict.fromkeys((posix, PureWindowsPath(posix).name if "\\" in posix else posix)))


def _same_name(path: Path, name: str, folder: Path) -> bool:
    """Whether the file `path` of `folder` is the one a `usage_files` entry names (as given, from
    wherever the rating ran; a run's relative to its folder): its path, else its file name."""
    return str(path) == name or path == folder / Path(name) or path.name in _file_names(name)


def _identity_of(path: Path, refuse: Callable[[Path | str, str], ReportError]) -> tuple[int, str]:
    """A usage file's size and `sampled_sha256`; `refuse(path, why)` when it cannot be read."""
    from accounting.usage import file_identity

    try:
        now = file_identity(path)
    except OSError as exc:
        raise refuse(path, f"cannot be read: {exc.strerror or exc}") from None
    return now["bytes"], now["sampled_sha256"]


def _other(path: Path, size: Any, now: int, when: str = "rated") -> str:
    """Why a file of a rated file's name is not the file rated (`check_invoice_files`)."""
    if now != size:
        return f"{size} bytes when {when}, {now:,} now"
    return f"other content than when {when} (its sampled_sha256 differs)"


def check_invoice_files(files: RunFiles) -> tuple[str | None, _Where]:
    """Whether the usage files the page reads are those the invoice rated, as its `usage_files`
    tells them (`accounting.usage.file_identity`): a file is known by its size and `sampled_sha256`
    (a hash of its ends, its Parquet footer), not by its name, which is the path the rating was
    given from wherever it ran (`rate inv usage.csv` and `rate inv /data/F/usage.csv` name one file
    two ways), nor its time of change (a copy changes it).  A run's `usage.parquet` stands for the
    parts it merges (`usage/part-*.parquet`, those rated) when its footer is theirs, row group by
    row group (`_merge_of`).

    `ReportError` naming the invoice and the file when they are not: a file read that it did not
    rate (one of its names with other content or size says so), one it rated missing, a run's
    `usage.parquet` that is not the merge of its parts.  The rows it lists as rejected are left out
    by file and row: in other records they are other rows.

    Returns why the files were not so checked, None when they were (an invoice of an older m2msim,
    the files it rated not here, by content nor by name: a run's `usage.parquet` copied without
    its parts, or compressed since, `usage.csv.gz`; its `rows_read` is then what they are checked
    against), and where the rows of each file it names are read (`_Where`)."""
    inv = files.invoice or {}
    recorded = inv.get("usage_files")
    folder = files.folder
    if not isinstance(recorded, list):
        return "no usage_files (an invoice of an older m2msim)", _by_name(files)
    source = files.source("invoice")

    def refuse(path: Path | str, why: str) -> ReportError:
        return ReportError(
            f"{source}: usage_files: {path}: {why}: the invoice is not of these records (rated "
            "before they were changed, or of other data), and the rows it lists as rejected cannot "
            "be told in them; rate them again"
        )

    entries = [
        (str(e.get("name")), e.get("bytes"), e.get("sampled_sha256"))
        if isinstance(e, dict)
        else ("", None, None)
        for e in recorded
    ]
    rated = [(size, digest) for _, size, digest in entries]
    read = {path: _identity_of(path, refuse) for path in files.usage}
    # each file read taken for an entry of its content, that of its name first
    taken: dict[int, Path] = {}
    stray: list[Path] = []
    for path, ident in read.items():
        free = [i for i, r in enumerate(rated) if r == ident and i not in taken]
        named = [i for i in free if _same_name(path, entries[i][0], folder)]
        if free:
            taken[(named or free)[0]] = path
        else:
            stray.append(path)
    missing = [i for i in range(len(entries)) if i not in taken]
    if not stray and not missing:
        return None, _named([entries[i][0] for i in taken], [(str(p), 0) for p in taken.values()])
    if not taken and (merged := _merged_parts(files, entries, rated, refuse)) is not None:
        return None, merged
    if not taken and (alone := _merge_alone(files, recorded, refuse)) is not None:
        return None, alone
    for path in stray if not taken else ():  # (its bytes are not those rated: the records may be)
        if any(
            path.name == base + end
            for i in missing
            for base in _file_names(entries[i][0])
            for end in _COMPRESSED_SUFFIXES
        ):
            return f"{path}: compressed since it was rated", _by_name(files)
    for path in stray:
        for i in missing:
            name, size, _ = entries[i]
            if _same_name(path, name, folder):
                raise refuse(path, _other(path, size, read[path][0]))
    if not taken and not _rated_here(files, entries, rated, refuse):
        # (a run's usage.parquet copied without the parts rated, or a file renamed and changed)
        return f"the files it rated are not here ({entries[0][0] if entries else 'none'})", _by_name(files)
    if stray:
        raise refuse(stray[0], "a usage file the invoice did not rate")
    raise refuse(entries[missing[0]][0], "rated, but not in this folder")


def _by_name(files: RunFiles) -> _Where:
    """`_Where` of the files read, by their paths and names alone (an invoice that does not tell
    the files it rated: its rejects' files are looked up among those read)."""
    return _named([str(p) for p in files.usage], [(str(p), 0) for p in files.usage])


def _in_folder(files: RunFiles, name: str) -> list[Path]:
    """The files of the folder a `usage_files` entry may be (its path relative to the folder, a
    run's `usage/part-00000.parquet`; its file name there or in `usage/`)."""
    given = Path(name)
    out = [files.folder / given] if not given.is_absolute() and ".." not in given.parts else []
    for base in _file_names(name):
        out += [files.folder / base, files.folder / "usage" / base]
    return [p for p in dict.fromkeys(out) if p.is_file()]


def _rated_here(
    files: RunFiles,
    entries: list[tuple[str, Any, Any]],
    rated: list[tuple[Any, Any]],
    refuse: Callable[[Path | str, str], ReportError],
) -> bool:
    """Whether a file the invoice rated is in the folder, though not read (a run's parts beside
    the `usage.parquet` read; a `usage.csv` beside another `usage.parquet`)."""
    return any(
        _identity_of(path, refuse) == ident
        for (name, _, _), ident in zip(entries, rated, strict=True)
        for path in _in_folder(files, name)
    )


def _merged_parts(
    files: RunFiles,
    entries: list[tuple[str, Any, Any]],
    rated: list[tuple[Any, Any]],
    refuse: Callable[[Path | str, str], ReportError],
) -> _Where | None:
    """`_Where` of a run's parts read in the `usage.parquet` that merges them, in shard order
    (`simulator.run.UsageMerger`), when the invoice rated them and they are in the folder as rated:
    each part's rows there after those of the parts before it.  `ReportError` when that
    `usage.parquet` is not their merge (replaced, its parts kept). None when the file read is not a
    run's `usage.parquet`, or the parts rated are not all there."""
    merged = files.folder / "usage.parquet"
    if files.usage != [merged] or not entries:
        return None
    parts: list[Path] = []
    for (name, size, _), ident in zip(entries, rated, strict=True):
        there = [p for p in _in_folder(files, name) if p.parent.name == "usage"]
        if not there:
            return None
        now = [_identity_of(p, refuse) for p in there]
        if ident not in now:  # (a part rated, changed since)
            raise refuse(there[0], _other(there[0], size, now[0][0]))
        parts.append(there[now.index(ident)])
    why = _merge_of(merged, parts)
    if why is not None:
        raise refuse(
            merged,
            f"not the merge of the parts it rated ({Path(entries[0][0]).parent.as_posix() or '.'}/"
            f"part-*.parquet, as they are here): {why}",
        )
    import pyarrow.parquet as pq

    before, reads = 0, []
    for part in parts:
        reads.append((str(merged), before))
        before += pq.read_metadata(part).num_rows
    return _named([name for name, _, _ in entries], reads)


def _merge_alone(
    files: RunFiles, recorded: list[Any], refuse: Callable[[Path | str, str], ReportError]
) -> _Where | None:
    """`_Where` of a run's parts read in its `usage.parquet` alone (copied without them), as the
    invoice's entries place them there (`merged_into`, `simulator.run._placed_in_merge`: that file's
    size and `sampled_sha256`, the part's records before it, `row_offset`), when the file read is
    that file.  `ReportError` when it is of that name but another file (replaced since).  None when
    the entries do not say (an invoice of an older m2msim: its `rows_read` is then the only check,
    and the rejects it names by part are not placed)."""
    if len(files.usage) != 1 or not recorded:
        return None
    names, offsets, merged = [], [], set()
    for entry in recorded:
        into = entry.get("merged_into") if isinstance(entry, dict) else None
        offset = into.get("row_offset") if isinstance(into, dict) else None
        if (
            not isinstance(into, dict)
            or not isinstance(offset, int)
            or isinstance(offset, bool)
            or offset < 0
        ):
            return None
        if (ident := _entry_identity(into)) is None:
            return None
        names.append(str(entry.get("name")))
        offsets.append(offset)
        merged.add((str(into.get("name")), *ident))
    if len(merged) != 1:
        return None
    [(name, size, digest)] = merged
    [path] = files.usage
    now = _identity_of(path, refuse)
    if now != (size, digest):
        if _same_name(path, name, files.folder):
            raise refuse(
                path,
                f"not the {name} that merged the parts it rated: {_other(path, size, now[0], 'written')}",
            )
        return None
    return _named(list(names), [(str(path), offset) for offset in offsets])


def _merge_of(merged: Path, parts: list[Path]) -> str | None:
    """Why the Parquet file `merged` is not `parts` one after the other, as its footer tells: each
    part's row groups, in order, with their row counts and each column's statistics (min, max,
    nulls) where a row group is written whole; None when it is.  A change that keeps every row
    group's counts and statistics (two values exchanged) is not told, as a CSV changed in its
    middle at its size is not by `sampled_sha256`."""
    import pyarrow.parquet as pq

    try:
        whole = pq.read_metadata(merged)
        metas = [pq.read_metadata(p) for p in parts]
    except (OSError, pa.ArrowException) as exc:
        return f"its footer cannot be read: {str(exc).splitlines()[0]}"
    rows = sum(m.num_rows for m in metas)
    if whole.num_rows != rows:
        return f"{whole.num_rows:,} records, its parts {rows:,}"
    # (row groups of no row, an empty shard's, written or not alike)
    wanted = [m.row_group(g) for m in metas for g in range(m.num_row_groups) if m.row_group(g).num_rows]
    got = [whole.row_group(k) for k in range(whole.num_row_groups) if whole.row_group(k).num_rows]
    k = 0
    for want in wanted:
        if k >= len(got):
            return "fewer row groups than its parts"
        if got[k].num_rows == want.num_rows:
            if _statistics(got[k]) != _statistics(want):
                return f"a row group ({k + 1} of {len(got)}) holds other values than its part's"
            k += 1
            continue
        left = want.num_rows  # (a part's row group written in several)
        while left > 0 and k < len(got):
            left -= got[k].num_rows
            k += 1
        if left != 0:
            return f"a row group ({k} of {len(got)}) is not of its parts' rows"
    return None if k == len(got) else "more row groups than its parts"


def _statistics(group: Any) -> list[tuple[Any, ...]]:
    """Each column's statistics in a Parquet row group's footer (`_merge_of`)."""
    out = []
    for c in range(group.num_columns):
        column = group.column(c)
        s = column.statistics
        stated = s is not None and s.has_min_max
        out.append(
            (
                column.path_in_schema,
                s.min if stated else None,
                s.max if stated else None,
                s.null_count if s is not None else None,
            )
        )
    return out


def _check_invoice_of(files: RunFiles, con: duckdb.DuckDBPyConnection, view: str, unchecked: str) -> None:
    """`ReportError` naming the invoice when it did not read the rows of the folder's usage files:
    its `rows_read` (the rows the rating read, those it could not split counted) against the rows
    the files hold now. The rejects it lists are left out by file and row: an invoice of other data
    (another day's records, the usage replaced or cut after rating) left out other rows silently.
    Made when the invoice does not tell the files it rated (`check_invoice_files`: `unchecked`
    says why), and said on stderr: other records can be as many."""
    inv = files.invoice or {}
    read = inv.get("rows_read")
    if not isinstance(read, int) or isinstance(read, bool) or read <= 0:
        return  # (a document that does not say: nothing to check against)
    log.warning(
        "%s: %s: the usage files here are checked against its rows_read alone, a count other "
        "records can have too",
        files.source("invoice"),
        unchecked,
    )
    from accounting.usage import ROW_REASONS

    split_not = ROW_REASONS["bad-row"][0]
    by_reason = inv.get("rejects_by_reason")
    if by_reason:
        unsplit = sum(int(r.get("count", 0)) for r in by_reason if r.get("reason") == split_not)
    else:
        unsplit = sum(1 for r in inv.get("rejects") or [] if str(r.get("reason", "")).startswith(split_not))
    rows = int(con.execute(f"SELECT count(*) FROM ({view})").fetchall()[0][0]) + unsplit
    if rows != read:
        raise ReportError(
            f"{files.source('invoice')}: rows_read: {read:,} usage rows rated, but the usage files here "
            f"hold {rows:,}: the invoice is not of these records (rated before they were changed, or "
            "of other data), and the rows it lists as rejected cannot be told in them; rate them again"
        )


def connect(
    files: RunFiles, threads: int | None = None, *, rejects: Rejects = NO_REJECTS
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the documented views over the folder's files; `rejects`
    (the page's, `rejects_of`): the `usage` view without the records the invoice lists as
    rejected."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the command's output is the result, nothing else
    if files.usage_kind == "parquet" and files.usage:
        from accounting.usage import disable_optimizers, statistics_believed

        if not statistics_believed(con, files.usage):
            disable_optimizers(con, *STATISTICS_OPTIMIZERS)
    rejected = rejects.rows
    # (the files the invoice rated, when it tells them; else its rows_read, when rows are left out)
    unchecked = rejects.unchecked
    try:
        view = _usage_sql(files, con, numbered=bool(rejected))
        if unchecked is not None:  # (its rejects placed in these files or not: the page is its)
            _check_invoice_of(files, con, view, unchecked)
        if rejected:
            table = pa.table(
                {"f": [f for f, _ in rejected], "r": [r for _, r in rejected]},
                schema=pa.schema([("f", pa.string()), ("r", pa.int64())]),
            )
            arrow_scans()
            con.register("_rejected_arrow", table)
            con.execute("CREATE TABLE _rejected_rows AS SELECT * FROM _rejected_arrow")
            con.unregister("_rejected_arrow")
            view = (
                f"SELECT u.* EXCLUDE ({_PART}, {_ROW}) FROM ({view}) AS u "
                f"ANTI JOIN _rejected_rows AS r ON u.{_PART} = r.f AND u.{_ROW} = r.r"
            )
        con.execute(f"CREATE VIEW usage AS {view}")
    except duckdb.Error as exc:
        raise damaged_usage(files) or ReportError(
            f"{files.usage[0]}: cannot read the usage records: {str(exc).splitlines()[0]}"
        ) from None
    lines_t, items_t = invoice_tables(files.invoice, files.source("invoice"))
    tables = {
        "lines": lines_table(files),
        "alarms_raw": alarms_table(files.alarms),
        "invoice_lines": lines_t,
        "invoice_items": items_t,
    }
    arrow_scans()
    for name, table in tables.items():
        con.register(f"_{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}_arrow")
        con.unregister(f"_{name}_arrow")
    try:
        con.execute(
            "CREATE TABLE alarms AS SELECT CAST(time AS TIMESTAMPTZ) AS time, line, rule, details FROM alarms_raw"
        )
    except duckdb.Error as exc:
        raise ReportError(
            f"{files.alarms}: an alarm time is not a date: {str(exc).splitlines()[0]}"
        ) from None
    con.execute("DROP TABLE alarms_raw")
    return con
