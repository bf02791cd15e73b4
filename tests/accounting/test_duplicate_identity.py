"""What makes two rows one row twice: the same values, whatever the file's format and the path
that reads it.

The same rows give the same invoice and the same rejects read from a CSV (by DuckDB's reader or
by the pyarrow pass), from its Parquet conversion (pyarrow's CSV reader with the types it
infers, or every column as text; by DuckDB or by the pyarrow pass and its row proof), from an
Arrow table, or by the small-file reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import load_catalog, load_inventory, rate, usage_arrow, usage_arrow_checks, usage_csv_arrow
from accounting.engine import rate_run
from accounting.usage_small import small_reader

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"


def _quoted(line: str) -> str:
    """The CSV line with every field in quotes (an empty one as `""`), as a spreadsheet writes it."""
    return ",".join(f'"{v}"' for v in line.split(","))


def _rejects(source: Any, patch: pytest.MonkeyPatch, fast: bool) -> dict[str, Any]:
    """The invoice of `source` (JSON), read by the pyarrow passes when `fast`, else by DuckDB."""
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if fast else 1 << 62)
    patch.setattr(usage_arrow, "ARROW_ROWS", 0 if fast else 1 << 62)
    patch.setattr(usage_arrow_checks, "PROVE", True)
    doc: dict[str, Any] = json.loads(rate(load_inventory(str(INV)), source).to_json())
    return doc


def _every_path(
    csv: Path | None, parquets: list[Path], patch: pytest.MonkeyPatch
) -> dict[str, dict[str, Any]]:
    """The invoice of the CSV and of each Parquet file by every path that reads it."""
    out: dict[str, dict[str, Any]] = {}
    for source in ([csv] if csv else []) + parquets:
        for fast in (False, True):
            out[f"{source.name} {'pass' if fast else 'duckdb'}"] = _rejects(source, patch, fast)
        small = small_reader(source)
        if small is not None:
            run = rate_run(load_inventory(str(INV)), source, load_catalog(), reader=small)
            out[f"{source.name} small"] = json.loads(run.invoice.to_json())
    return out


def _converted(csv: Path, folder: Path) -> list[Path]:
    """The CSV as Parquet, converted by pyarrow's CSV reader with the types it infers, and with
    every column as text (an empty cell '')."""
    names = csv.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    inferred, text = folder / "inferred.parquet", folder / "text.parquet"
    pq.write_table(pacsv.read_csv(csv), inferred)
    every_text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    pq.write_table(pacsv.read_csv(csv, convert_options=every_text), text)
    return [inferred, text]


def _as_compared(doc: dict[str, Any]) -> dict[str, Any]:
    """The invoice, its rejects by row and kind: a reason quotes a value as its file holds it (a
    start typed by pyarrow's inference is quoted as DuckDB writes a timestamp)."""
    return billed(doc) | {  # (the bill: each form is its own file, `usage_files`)
        "rejects": [
            r if r["reason"].startswith("duplicate") else (r["row"], r["reason"].split(":")[0])
            for r in doc["rejects"]
        ]
    }


def _all_alike(invoices: dict[str, dict[str, Any]], check: Callable[[dict[str, Any]], bool]) -> None:
    first = next(iter(invoices.values()))
    assert check(first), first["rejects"]
    for name, doc in invoices.items():
        assert check(doc), (name, doc["rejects"])
        assert _as_compared(doc) == _as_compared(first), name
        if "inferred" not in name:
            assert billed(doc) == billed(first), name


def test_a_row_written_again_in_quotes_is_a_duplicate_in_the_csv_as_in_its_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row written twice, once bare and once with every field in quotes (`""` for an empty
    one), is one row twice: the same values.  It was billed twice from the CSV (its lines differ)
    and rejected as a duplicate from the CSV's Parquet conversions, where the rows are equal."""
    lines = USAGE.read_text(encoding="utf-8").rstrip("\n").split("\n")
    copies = [lines[1], lines[4]]  # a data row and an SMS row (empty fields)
    csv = tmp_path / "usage.csv"
    csv.write_text("\n".join([*lines, *map(_quoted, copies)]) + "\n", encoding="utf-8")
    invoices = _every_path(csv, _converted(csv, tmp_path), monkeypatch)
    n = len(lines)  # the last row of the example's file (the header is row 1)

    def copies_rejected(doc: dict[str, Any]) -> bool:
        dups = [r for r in doc["rejects"] if r["reason"].startswith("duplicate record")]
        return dups == [
            {"row": n + 1, "reason": "duplicate record: identical in every field to row 2"},
            {"row": n + 2, "reason": "duplicate record: identical in every field to row 5"},
        ]

    _all_alike(invoices, copies_rejected)
    assert invoices["usage.csv duckdb"]["total_ht"] == "2753.96"  # (the example month's, billed once)


def test_empty_text_and_null_in_a_column_outside_the_contract_are_one_empty_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column outside the contract (imsi, apn) is part of a record's identity, and '' there is
    an empty cell as in the contract's optional columns: a row of a Parquet file of text repeated
    with NULL where it held '' is one row twice, as its CSV lines are (an empty cell either way);
    a row repeated with another imsi is another record.  The Parquet file kept the two apart on
    every path (DuckDB's, the pass's, the small reader's, an Arrow table's) where the CSV did
    not."""
    lines = [r for r in USAGE.read_text(encoding="utf-8").rstrip("\n").split("\n") if ",lots," not in r]
    rows = [f"{lines[0]},imsi,apn"] + [f"{line},208011234567{i:03d},m2m" for i, line in enumerate(lines[1:])]
    rows[1] = f"{lines[1]},,"  # the row whose copy is written with NULLs
    rows += [rows[1], f"{lines[2]},208019999999999,m2m"]  # one row twice; a record of another imsi
    csv = tmp_path / "usage.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    names = rows[0].split(",")
    table = pacsv.read_csv(
        csv, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    )
    at = len(table) - 2  # the copy: NULL where the first holds ''
    table = pa.table(
        {
            n: pa.array(
                [None if i == at and v == "" else v for i, v in enumerate(table.column(n).to_pylist())]
            )
            for n in names
        }
    )
    assert table.column("imsi")[0].as_py() == "" and table.column("imsi")[at].as_py() is None
    parquet = tmp_path / "text.parquet"
    pq.write_table(table, parquet)
    invoices = _every_path(csv, [parquet], monkeypatch)
    invoices["table duckdb"] = _rejects(table, monkeypatch, False)
    assert {"text.parquet small", "usage.csv small"} <= set(
        invoices
    )  # (no value the small reader is unsure of)
    n = len(rows)  # the last row (the header is row 1)

    def one_copy(doc: dict[str, Any]) -> bool:
        dups = [r for r in doc["rejects"] if r["reason"].startswith("duplicate record")]
        return dups == [{"row": n - 1, "reason": "duplicate record: identical in every field to row 2"}]

    _all_alike(invoices, one_copy)
