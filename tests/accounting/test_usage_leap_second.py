"""A start on a leap second (`2016-12-31T23:59:60Z`, as a 3GPP CDR or a RADIUS server may write it)
is read as the last instant of the second before, 23:59:59.999999 UTC, its duration kept, by every
reader alike: the small Python path, DuckDB's scans and listing, the pyarrow pass, the report's
view; CSV and Parquet of text.  It was a malformed value (DuckDB's cast has no second 60).  A
second 60 that is no leap second (not 23:59 UTC) stays a malformed value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of
from usage_forms import answers

from accounting import load_catalog, usage_arrow, usage_csv_arrow
from accounting.engine import rate_run
from accounting.inventory import inventory_from_dict
from accounting.usage import UsageReader
from accounting.usage_small import small_reader
from reports.data import connect, find_files

INVENTORY = inventory_from_dict(
    {
        "customer": "c",
        "month": "2016-12",
        "lines": [
            {
                "id": "L1",
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2016-01-01",
            }
        ],
    }
)
HEADER = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "dest"]


def _rows(start: str) -> list[list[str]]:
    return [
        ["L1", "data", "2016-12-30T10:00:00Z", "60", "1000", "2000", ""],
        ["L1", "data", start, "30", "300000", "700000", ""],  # the last second of the year and the month
        ["L1", "sms", "2016-12-31T23:00:00Z", "", "", "", "fr-mobile"],
    ]


def _write(path: Path, rows: list[list[str]]) -> Path:
    if path.suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="ascii")
    else:  # Parquet of text starts (a database's export): numbers as integers, '' as unset
        numbers = {"duration_s", "bytes_up", "bytes_down"}
        cols = {
            name: pa.array(
                [(int(r[i]) if name in numbers else r[i]) if r[i] else None for r in rows],
                pa.int64() if name in numbers else pa.string(),
            )
            for i, name in enumerate(HEADER)
        }
        pq.write_table(pa.table(cols), path)
    return path


def _rated(path: Path, small: bool) -> tuple[dict[str, Any], list[Any]]:
    """The invoice's bill (its twin is another file in usage_files) and its rejects."""
    reader = small_reader(path) if small else None
    assert (reader is not None) is small
    invoice = rate_run(INVENTORY, path, load_catalog(), reader=reader).invoice
    return bill_of(invoice), invoice.rejects


PATHS = ["small", "duckdb", "pyarrow pass"]


def by_the_pass(monkeypatch: pytest.MonkeyPatch, suffix: str) -> list[bool]:
    """The pyarrow pass made to take a file of any size; the list is told, at each reading,
    whether the pass read it (its rows set aside left to DuckDB)."""
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0)
    return answers(monkeypatch, UsageReader, "_csv_aggregate" if suffix == ".csv" else "_proven_aggregate")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("path_", PATHS)
@pytest.mark.parametrize(
    "leap", ["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.250Z", "2017-01-01T00:59:60+01:00"]
)
def test_a_leap_second_start_is_rated_as_the_last_instant_of_the_second_before(
    tmp_path: Path, suffix: str, path_: str, leap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = _write(tmp_path / f"twin{suffix}", _rows("2016-12-31T23:59:59.999999Z"))
    expected, none = _rated(twin, small=False)
    assert none == []
    usage = _write(tmp_path / f"usage{suffix}", _rows(leap))
    passes = by_the_pass(monkeypatch, suffix) if path_ == "pyarrow pass" else []
    assert _rated(usage, small=path_ == "small") == (expected, [])
    assert passes == ([True] if path_ == "pyarrow pass" else [])  # (its row set aside for DuckDB)


def test_the_rejects_listing_and_the_reports_view_read_it_alike(tmp_path: Path) -> None:
    """With another row rejected the rejects are listed by DuckDB (row by row): the leap second is
    not among them; the report's `usage` view has its start at 23:59:59.999999."""
    rows = [*_rows("2016-12-31T23:59:60Z"), ["L1", "data", "2016-12-31T10:00:00Z", "-5", "1", "1", ""]]
    usage = _write(tmp_path / "usage.csv", rows)
    for small in (True, False):
        _, rejects = _rated(usage, small)
        assert [r.row for r in rejects] == [5], rejects
    con = connect(find_files(tmp_path))
    [(start,)] = con.execute(
        "SELECT strftime(start, '%Y-%m-%dT%H:%M:%S.%f') FROM usage WHERE bytes_up = 300000"
    ).fetchall()
    assert start == "2016-12-31T23:59:59.999999"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_second_60_that_is_no_leap_second_is_a_malformed_value(tmp_path: Path, suffix: str) -> None:
    usage = _write(tmp_path / f"usage{suffix}", _rows("2016-12-31T10:15:60Z"))
    assert small_reader(usage) is None  # (a form the small path leaves to DuckDB)
    _, rejects = _rated(usage, small=False)
    assert [(r.row, r.reason) for r in rejects] == [(3, "malformed value: start '2016-12-31T10:15:60Z'")]
