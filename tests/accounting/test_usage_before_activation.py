"""Usage of a line before its activation day, in the month it is activated in: rejected, never billed.

A line activated on 2026-03-15 is billed the whole of March, but it did not exist on 03-02: such a
row was billed, while a row of a line activated in April was rejected. It is rejected now, naming
the line's `since`, alike from every reader: a table, a small CSV (read without DuckDB), a CSV
with CRLF (DuckDB's reader), a CSV over 256 KiB (the pyarrow pass), Parquet of text and typed
Parquet, a folder of CSV files; `compare` prices the line without those rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import compare, inventory_from_dict, rate, usage_arrow, usage_csv_arrow
from accounting.activation import StartProbe
from accounting.engine import rate_run
from accounting.invoice import Invoice
from accounting.usage import UsageReader
from accounting.usage_small import small_reader
from accounting.usage_table import usage_table
from accounting.usage_writer import UsageWriter
from m2msim.cli import main
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS

MONTH = "2026-03"
LINES = [
    # business-m2m au compteur: 3 EUR/Mo from the first ko, 5.50 a month on 24 months
    {"id": "NEW", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2026-03-15"},
    {"id": "NEXT", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2026-04-02"},
    {"id": "DTMF", "offer": "business-m2m-dtmf", "plan": "compteur", "commitment": 24, "since": "2026-03-10"},
    {"id": "OLD", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2025-01-01"},
]
COLS = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest", "session"]
MO = 1024 * 1024


def row(line: str, type_: str, start: str, **kw: Any) -> dict[str, Any]:
    return {"line": line, "type": type_, "start": start, **kw}


ROWS = [
    row("NEW", "data", "2026-03-02T10:00:00Z", duration_s=60, bytes_up=MO, bytes_down=0, session="a"),  # 2
    row("NEW", "data", "2026-03-16T10:00:00Z", duration_s=60, bytes_up=MO, bytes_down=0, session="b"),  # 3
    row("NEW", "data", "2026-03-14T23:59:59Z", duration_s=60, bytes_up=MO, bytes_down=0, session="c"),  # 4
    row("NEW", "data", "2026-03-15T01:00:00+02:00", duration_s=60, bytes_up=MO, bytes_down=0),  # 5: 03-14 UTC
    row("NEW", "data", "2026-03-15T00:00:00Z", duration_s=60, bytes_up=2048, bytes_down=0, session="d"),  # 6
    row("NEXT", "data", "2026-03-20T10:00:00Z", duration_s=60, bytes_up=1024, bytes_down=0),  # 7
    row("DTMF", "sms", "2026-03-05T10:00:00Z", zone="fr", dest="intl"),  # 8: refused, and before
    row("DTMF", "sms", "2026-03-11T10:00:00Z", zone="fr", dest="intl"),  # 9: refused
    row("DTMF", "voice", "2026-03-05T10:00:00Z", duration_s=70, zone="fr", dest="fr-mobile"),  # 10
    row("DTMF", "voice", "2026-03-12T10:00:00Z", duration_s=70, zone="fr", dest="fr-mobile"),  # 11
    row("DTMF", "csd", "2026-03-06T10:00:00Z", duration_s=5, zone="fr", dest="fr-fixed"),  # 12: not in it
    row("DTMF", "voice", "2026-03-04T10:00:00Z", duration_s=30, zone="fr", dest="emergency"),  # 13: before
    row("OLD", "data", "2026-03-01T00:00:00Z", duration_s=60, bytes_up=1024, bytes_down=0),  # 14
    row("NEW", "data", "2026-03-02T10:00:00Z", duration_s=60, bytes_up=MO, bytes_down=0, session="a"),  # 15
]
# (an emergency call before the line's activation is rejected, as a later month's line's is)
BEFORE = {2: "NEW", 4: "NEW", 5: "NEW", 8: "DTMF", 10: "DTMF", 12: "DTMF", 13: "DTMF"}
STARTS = {"NEW": "2026-03-15", "DTMF": "2026-03-10"}


def expected_rejects() -> dict[int, str]:
    out = {row: f"line not yet active: line {line!r} starts {STARTS[line]}" for row, line in BEFORE.items()}
    out[7] = "line not active in the month: line 'NEXT' starts 2026-04-02"
    out[9] = "price not in this catalog: SMS from fr to intl"
    out[15] = "duplicate record: identical in every field to row 2"
    return out


def csv_text(rows: list[dict[str, Any]], end: str = "\n") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLS, lineterminator=end)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write(tmp: Path, form: str) -> Any:
    if form == "table":
        return usage_table(ROWS)
    if form in ("csv", "crlf"):
        path = tmp / f"{form}.csv"
        path.write_text(csv_text(ROWS, "\r\n" if form == "crlf" else "\n"), encoding="utf-8")
        return path
    if form == "large":  # over 256 KiB: the rows, then 4,000 rows of OLD (the pyarrow pass)
        extra = [
            row("OLD", "data", f"2026-03-{1 + i % 28:02d}T10:00:00Z", duration_s=1, bytes_up=1, bytes_down=0,
                session=f"x{i}" + "y" * 60)
            for i in range(4000)
        ]  # fmt: skip
        path = tmp / "large.csv"
        path.write_text(csv_text(ROWS + extra), encoding="utf-8")
        assert path.stat().st_size > 256 * 1024
        return path
    if form == "folder":  # two daily files, read as one
        folder = tmp / "days"
        folder.mkdir()
        (folder / "a.csv").write_text(csv_text(ROWS[:7]), encoding="utf-8")
        (folder / "b.csv").write_text(csv_text(ROWS[7:]), encoding="utf-8")
        return folder
    table = usage_table(ROWS)
    if form == "parquet typed":
        starts = [datetime.fromisoformat(r["start"]) for r in ROWS]
        table = table.set_column(
            table.schema.get_field_index("start"), "start", pa.array(starts, pa.timestamp("us", tz="UTC"))
        )
    path = tmp / "usage.parquet"
    pq.write_table(table, path)
    return path


def inventory() -> Any:
    return inventory_from_dict({"customer": "c", "month": MONTH, "lines": LINES})


def rejects_of(invoice: Invoice, form: str) -> dict[int, str]:
    if form != "folder":
        return {r.row: r.reason for r in invoice.rejects}
    # the folder's rows are numbered in their file: b.csv's first row is ROWS[7], row 9 of the one file
    return {(r.row + (7 if r.file == "b.csv" else 0)): r.reason for r in invoice.rejects}


@pytest.mark.parametrize("form", ["table", "csv", "crlf", "large", "folder", "parquet", "parquet typed"])
def test_usage_before_the_lines_activation_day_is_rejected_naming_it(tmp_path: Path, form: str) -> None:
    usage = write(tmp_path, form)
    reader = small_reader(usage) if form == "csv" else None
    assert (reader is not None) == (form == "csv")  # (the small CSV is read without DuckDB)
    run = rate_run(inventory(), usage, reader=reader)
    invoice = run.invoice
    want = expected_rejects()
    if form == "folder":
        want[15] = "duplicate record: identical in every field to a.csv:2"
    assert rejects_of(invoice, form) == want
    counts = {s.reason: s.count for s in invoice.reject_summary}
    assert counts["line not yet active"] == 7
    bills = {b.id: {i.code: (str(i.quantity), str(i.amount)) for i in b.items} for b in invoice.lines}
    # NEW: 1 Mo on 03-16 and 2 ko on 03-15 at 00:00, 1026 ko x 3 / 1024 = 3.006 -> 3.01
    assert bills["NEW"] == {"subscription": ("1", "5.50"), "data-fr-over": ("1026", "3.01")}
    # DTMF: the 03-12 call only, 0.15 + 10 s x 0.0025 = 0.175 -> 0.18
    assert bills["DTMF"] == {"subscription": ("1", "5.50"), "voice": ("70", "0.18")}
    assert bills["NEXT"] == {}
    extra_ko = 4000 if form == "large" else 0
    assert bills["OLD"]["data-fr-over"][0] == str(1 + extra_ko)
    assert invoice.rows_read == len(ROWS) + extra_ko
    # compare prices NEW and DTMF on every choice without the rows before their activation
    comparison = compare(run)
    dtmf = next(lc for lc in comparison.lines if lc.id == "DTMF")
    assert {c.offer for c in dtmf.costs} == {"business-m2m-dtmf", "intense-dtmf", "europe-dtmf"}
    new = next(lc for lc in comparison.lines if lc.id == "NEW")
    assert min(new.costs.values()) == new.cheapest_total <= Decimal("8.51")


def _csv_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    data = csv_text(rows).encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(data)
        return path
    path.write_bytes(data)
    return path


def _simulator_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    """As the simulator writes its usage (dictionaries, a footer that vouches the rows unique and
    whose statistics are believed: the starts settled, not read by the pass but for these lines)."""
    cols: dict[str, list[Any]] = {c: [r.get(c) for r in rows] for c in COLS if c != "session"}
    cols["start"] = [datetime.fromisoformat(v) for v in cols["start"]]
    cols["zone"] = [z or "fr" for z in cols["zone"]]
    with UsageWriter(
        path,
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=("line", "type", "start"),
        origin={"run": "before activation", "shard": 0},
    ) as w:
        w.write_columns(cols, length=len(rows))
    return path


def _parquet_file(path: Path, rows: list[dict[str, Any]], typed_start: bool) -> Path:
    """Parquet of counts stored as numbers, the start as text or typed (the pass's forms)."""
    numbers = ("duration_s", "bytes_up", "bytes_down")
    table = pa.table(
        {c: pa.array([r.get(c) for r in rows], pa.int64() if c in numbers else pa.string()) for c in COLS}
    )
    if typed_start:
        starts = [datetime.fromisoformat(r["start"]) for r in rows]
        table = table.set_column(
            table.schema.get_field_index("start"), "start", pa.array(starts, pa.timestamp("us", tz="UTC"))
        )
    pq.write_table(table, path)
    return path


PASSES = ["csv", "csv.gz", "csv.zst", "parquet text start", "parquet typed", "parquet of the simulator"]


@pytest.mark.parametrize("by", ["duckdb", "pyarrow"])
@pytest.mark.parametrize("form", PASSES)
def test_every_reader_path_rejects_them_alike(
    tmp_path: Path, form: str, by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pyarrow passes (a CSV, plain, gzip or zstd, read by pyarrow.csv; Parquet read with the
    proof of every row, or settled by the simulator's footers) and DuckDB's reading of the same
    files give the rejects, the bills and the one reading of the lines' rows again alike."""
    rows = ROWS if form != "parquet of the simulator" else ROWS[:-1]  # (its rows vouched unique)
    if form.startswith("csv"):
        usage = _csv_file(tmp_path / f"usage.{form}", rows)
    elif form == "parquet of the simulator":
        usage = _simulator_file(tmp_path / "usage.parquet", rows)
    else:
        usage = _parquet_file(tmp_path / "usage.parquet", rows, form == "parquet typed")
    here = by == "pyarrow"
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if here else 1 << 62)
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if here else 1 << 62)
    # (DuckDB's: the lines' rows read again found by their line, as when they hold many keys)
    monkeypatch.setattr("accounting.usage.MAX_LISTED_KEYS", 1_000 if here else 0)
    passes: list[bool] = []
    probes: list[int] = []
    again: list[int] = []
    for module in (usage_arrow, usage_csv_arrow):
        real = module.settled_rows

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            found = _real(*args, **kwargs)
            passes.append(found is not None)
            return found

        monkeypatch.setattr(module, "settled_rows", spy)
    real_probe, real_early = StartProbe.__call__, UsageReader.early_rows

    def probe(self: StartProbe, batch: Any) -> None:
        probes.append(batch.num_rows)
        real_probe(self, batch)

    def early(self: UsageReader, *args: Any) -> Any:
        again.append(1)
        return real_early(self, *args)

    monkeypatch.setattr(StartProbe, "__call__", probe)
    monkeypatch.setattr(UsageReader, "early_rows", early)
    invoice = rate_run(inventory(), usage).invoice
    assert (True in passes) == here  # (the pass read the rows, or DuckDB did)
    assert bool(probes) == (here and form == "parquet of the simulator")
    assert again == [1]  # two lines activated on two days: their rows read again once
    want = expected_rejects()
    if rows is not ROWS:
        del want[15]
    assert rejects_of(invoice, form) == want
    bills = {b.id: {i.code: (str(i.quantity), str(i.amount)) for i in b.items} for b in invoice.lines}
    assert bills["NEW"] == {"subscription": ("1", "5.50"), "data-fr-over": ("1026", "3.01")}
    assert bills["DTMF"] == {"subscription": ("1", "5.50"), "voice": ("70", "0.18")}
    assert invoice.rows_read == len(rows)


def test_a_month_without_such_rows_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines activated within the month whose rows all start from their activation: their rows
    are not read again (the first starts kept as the month is read say so)."""
    later = [r for i, r in enumerate(ROWS, start=2) if i not in BEFORE and i != 15]
    usage = _csv_file(tmp_path / "usage.csv", later)
    again: list[int] = []
    real_early = UsageReader.early_rows

    def early(self: UsageReader, *args: Any) -> Any:
        again.append(1)
        return real_early(self, *args)

    monkeypatch.setattr(UsageReader, "early_rows", early)
    for reader in (None, small_reader(usage)):
        invoice = rate_run(inventory(), usage, reader=reader).invoice
        assert not [r for r in invoice.rejects if r.reason.startswith("line not yet active")]
        assert {s.reason for s in invoice.reject_summary} == {
            "line not active in the month",
            "price not in this catalog",
        }
    assert again == []


def test_the_same_from_the_command_line_rate_and_compare(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(json.dumps({"customer": "c", "month": MONTH, "lines": LINES}), encoding="utf-8")
    docs = []
    for form in ("csv", "crlf", "parquet"):
        out = tmp_path / f"{form}.json"
        assert main(["rate", str(inv), str(write(tmp_path, form)), "--json", "--out", str(out)]) == 0
        doc = json.loads(out.read_text(encoding="utf-8"))
        assert {r["row"]: r["reason"] for r in doc["rejects"]} == expected_rejects()
        docs.append(doc)
        out = tmp_path / f"{form}-compare.json"
        assert main(["compare", str(inv), str(write(tmp_path, form)), "--json", "--out", str(out)]) == 0
        assert json.loads(out.read_text(encoding="utf-8"))["fleet"]["today"]["total_ht"] == doc["total_ht"]
    assert billed(docs[0]) == billed(docs[1]) == billed(docs[2])


def test_a_line_activated_on_the_first_of_the_month_bills_its_whole_month() -> None:
    lines = [{**LINES[0], "since": "2026-03-01"}]
    rows = [row("NEW", "data", "2026-03-01T00:00:00Z", duration_s=1, bytes_up=1024, bytes_down=0)]
    invoice = rate(inventory_from_dict({"customer": "c", "month": MONTH, "lines": lines}), usage_table(rows))
    assert invoice.rejects == [] and invoice.total == Decimal("5.50")


def test_a_runs_parts_summed_where_written_are_read_as_one_for_such_lines(tmp_path: Path) -> None:
    """A run's parts, each summed by the shard that wrote it, keep no start: a month with a line
    activated within it reads them as one, and rejects that line's rows before its day."""
    from accounting.catalog import load_catalog
    from accounting.usage import month_bounds
    from accounting.usage_parts import PartAggregates, aggregate_part

    periods = load_catalog().first_periods()
    month = month_bounds(2026, 3)
    data = [r for r in ROWS if r["type"] == "data" and r["line"] in ("NEW", "OLD") and r.get("session")]
    parts = []
    for shard, rows in enumerate((data[:2], data[2:])):  # NEW's 03-02 row in the first part
        path = _simulator_file(tmp_path / f"part-{shard:05d}.parquet", rows)
        parts.append(aggregate_part(path, *month, periods))
    run = rate_run(inventory(), None, reader=PartAggregates(parts))
    invoice = run.invoice
    early = [r for r in invoice.rejects if r.reason.startswith("line not yet active")]
    assert [(r.file, r.row, r.reason) for r in early] == [
        ("part-00000.parquet", 2, "line not yet active: line 'NEW' starts 2026-03-15"),
        ("part-00001.parquet", 2, "line not yet active: line 'NEW' starts 2026-03-15"),
    ]
    bills = {b.id: {i.code: str(i.quantity) for i in b.items} for b in invoice.lines}
    assert bills["NEW"] == {"subscription": "1", "data-fr-over": "1026"}


def _probe_batch(lines: list[str], starts_ms: list[int]) -> pa.RecordBatch:
    """A settled month's batch as the pass reads it: the line a dictionary, the start in ms."""
    return pa.RecordBatch.from_arrays(
        [pa.array(lines).dictionary_encode(), pa.array(starts_ms, pa.timestamp("ms", tz="UTC"))],
        names=["line", "start"],
    )


def test_a_settled_months_starts_are_compared_as_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe of a settled month compares each start in its file's unit (milliseconds) with the
    line's activation, exactly at the boundary: no pass turns the column into microseconds."""
    from accounting import usage_arrow_checks
    from accounting.activation import FirstStarts, micros

    def refused(*args: Any) -> Any:
        raise AssertionError("starts converted to microseconds")

    monkeypatch.setattr(usage_arrow_checks, "timestamp_micros", refused)
    activation = datetime.fromisoformat("2026-03-15T00:00:00+00:00")
    at = micros(activation) // 1000
    starts = FirstStarts({"NEW": activation, "DTMF": activation, "NEXT": activation})
    probe = StartProbe(starts, "line", "TIMESTAMP WITH TIME ZONE")
    probe(_probe_batch(["NEW", "DTMF", "OLD", "NEXT"], [at - 1, at, at - 10**9, at + 1]))
    assert starts.early() == {"NEW": activation}


def test_a_line_seen_is_no_longer_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once every watched line has a row before its activation, the month's other batches are not
    looked at (each lookup cost a settled month of 30 M rows 0.3 CPU-s); until then, the lines
    still watched are."""
    import pyarrow.compute as pc

    from accounting.activation import FirstStarts, micros

    lookups: list[int] = []
    real = pc.index_in

    def index_in(values: Any, **kwargs: Any) -> Any:
        lookups.append(len(kwargs["value_set"]))
        return real(values, **kwargs)

    monkeypatch.setattr(pc, "index_in", index_in)
    activation = datetime.fromisoformat("2026-03-15T00:00:00+00:00")
    at = micros(activation) // 1000
    starts = FirstStarts({"NEW": activation, "DTMF": activation})
    probe = StartProbe(starts, "line", "TIMESTAMP WITH TIME ZONE")
    probe(_probe_batch(["NEW", "DTMF"], [at - 1, at]))
    probe(_probe_batch(["DTMF", "NEW", "OLD"], [at + 5, at - 5, at - 5]))  # (NEW no longer looked up)
    probe(_probe_batch(["DTMF", "OLD"], [at - 2, at]))
    assert starts.early() == {"NEW": activation, "DTMF": activation}
    assert lookups == [2, 1, 1]
    probe(_probe_batch(["DTMF", "NEW"], [at - 9, at - 9]))
    assert lookups == [2, 1, 1]  # every line seen: nothing looked up
