"""Durations with a fraction of a second (`60.5`, as a CDR in milliseconds exports them) at the
edges of the rules, by every reader: the small Python path, DuckDB, the pyarrow passes (CSV, and
Parquet of float durations; a reader that does not read fractions leaves the file, or the row, to
DuckDB); each gives the same invoice and the same rejects.  A call is billed
its duration rounded up to a whole second (tariff-rules.md: 0.5 s is 1 s, not an unanswered
call); the checks read the duration as written (a data record of 43,200.5 s is over 12 h; a
record 1.5 s long may carry 1.5 s of the line's rate, not 2 s of it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of

from accounting import inventory_from_dict, load_catalog, usage_csv_arrow
from accounting.engine import rate_run
from accounting.usage import MAX_OCTETS_PER_S
from accounting.usage_small import small_reader
from tests.accounting.test_usage_leap_second import by_the_pass

INVENTORY = inventory_from_dict(
    {
        "customer": "c",
        "month": "2026-03",
        "lines": [
            {
                "id": "V",
                "offer": "business-m2m-dtmf",
                "plan": "compteur",
                "commitment": 24,
                "since": "2025-01-01",
            },
            {
                "id": "C",
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2025-01-01",
            },
        ],
    }
)
HEADER = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "dest"]
_RATE = MAX_OCTETS_PER_S
ROWS = [
    ["V", "voice", "2026-03-02T10:00:00Z", "0.5", "", "", "fr-mobile"],  # 1 s: answered
    ["V", "voice", "2026-03-02T11:00:00Z", "60.000001", "", "", "fr-mobile"],  # 61 s
    ["V", "voice", "2026-03-02T12:00:00Z", "60.5", "", "", "fr-mobile"],
    ["V", "voice", "2026-03-02T12:00:00Z", "60.50", "", "", "fr-mobile"],  # a copy of the row above
    ["V", "voice", "2026-03-02T12:00:00Z", "61", "", "", "fr-mobile"],  # no copy: 61 is not 60.5
    ["V", "voice", "2026-03-02T13:00:00Z", "-0.5", "", "", "fr-mobile"],  # no duration
    ["C", "csd", "2026-03-02T14:00:00Z", "119.25", "", "", "fr-fixed"],  # 120 s
    ["C", "data", "2026-03-03T10:00:00Z", "43200.5", "10", "10", ""],  # over 12 h
    ["C", "data", "2026-03-03T11:00:00Z", "43199.5", "10", "10", ""],
    ["C", "data", "2026-03-04T10:00:00Z", "1.5", str(_RATE), str(_RATE // 2), ""],  # 1.5 s of the rate
    ["C", "data", "2026-03-04T11:00:00Z", "1.5", str(_RATE), str(_RATE // 2 + 1), ""],  # one octet more
    ["C", "data", "2026-03-04T12:00:00Z", "0.25", str(_RATE), "0", ""],  # 1 s of the rate at least
    # 11:59:59.5 past the month's end: within 12 h (as 43,201 s it would be at 12:00:00)
    ["V", "voice", "2026-03-31T23:59:59Z", "43200.5", "", "", "fr-mobile"],
    ["V", "voice", "2026-03-31T23:59:59.75Z", "43200.5", "", "", "fr-mobile"],  # 12:00:00.25: past
]


def _write(path: Path, rows: list[list[str]]) -> Path:
    if path.suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="ascii")
        return path
    numbers = {"bytes_up", "bytes_down"}
    cols = {}
    for i, name in enumerate(HEADER):
        values = [r[i] or None for r in rows]
        if name == "duration_s":
            cols[name] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        elif name in numbers:
            cols[name] = pa.array([None if v is None else int(v) for v in values], pa.int64())
        else:
            cols[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(cols), path)
    return path


def _rated(path: Path, path_: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Any], list[bool]]:
    passes = by_the_pass(monkeypatch, path.suffix) if path_ == "pyarrow pass" else []
    # (the CSV pass sets each row of a fraction aside, however many: `FRACTIONS_SHARE`)
    monkeypatch.setattr(usage_csv_arrow, "FRACTIONS_SHARE", 1)
    reader = small_reader(path) if path_ == "small" else None
    if path_ == "small" and path.suffix == ".csv":
        assert reader is not None  # (a Parquet file of floats is left to DuckDB: `parquet_small`)
    invoice = rate_run(INVENTORY, path, load_catalog(), reader=reader).invoice
    monkeypatch.undo()
    return invoice.to_json(), [(r.row, r.reason) for r in invoice.rejects], passes


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_fractions_of_a_second_at_the_rules_edges_alike_by_every_reader(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = _write(tmp_path / f"usage{suffix}", ROWS)
    expected = _rated(usage, "duckdb", monkeypatch)
    rows = {row: reason.split(":")[0] for row, reason in expected[1]}
    assert rows == {
        5: "duplicate record",
        7: "malformed value",
        9: "impossible value",
        12: "impossible value",
        15: "impossible value",
    }, expected[1]
    items = {
        (line["id"], i["code"]): i["quantity"]
        for line in json.loads(expected[0])["lines"]
        for i in line["items"]
    }
    # each call rounded up on its own: 0.5 -> 1, 60.000001 -> 61, 60.5 -> 61, 61, 43,200.5 -> 43,201
    assert items["V", "voice"] == str(1 + 61 + 61 + 61 + 43_201)
    assert items["C", "csd"] == "120"
    for path_ in ("small", "pyarrow pass"):
        got = _rated(usage, path_, monkeypatch)
        assert got[:2] == expected[:2], path_
        # (each pass sets the rows of a fraction aside for DuckDB and reads the rest: the CSV
        # pass left the whole file to DuckDB at its first fraction)
        assert got[2] == ([] if path_ == "small" else [True])


@pytest.mark.parametrize(
    "kind",
    [pa.decimal128(12, 6), pa.decimal256(20, 6), pa.decimal256(40, 6), pa.float16()],
    ids=["decimal128", "decimal256-20", "decimal256-40", "float16"],
)
def test_an_arrow_table_of_such_durations_is_rated_as_its_parquet_file(
    tmp_path: Path, kind: pa.DataType
) -> None:
    """Durations typed as a pandas or polars Decimal (decimal256 among them) or a half float: the
    table is rated as its Parquet file (DuckDB reads a decimal of more than 38 digits as a DOUBLE)
    and as the CSV of its values.  A decimal256 or half float table failed in DuckDB with a
    traceback."""
    rows = [r for r in ROWS if r[3] in ("", "0.5", "60.5", "61", "119.25", "1.5", "0.25", "43199.5")]
    usage = _write(tmp_path / "usage.csv", rows)
    expected = rate_run(INVENTORY, usage, load_catalog()).invoice
    at = HEADER.index("duration_s")
    seconds = pa.array([float(r[at]) if r[at] else None for r in rows], pa.float64())
    table = pa.table(
        {
            name: seconds.cast(kind)
            if name == "duration_s"
            else pa.array([r[i] or None for r in rows]).cast(
                pa.int64() if name.startswith("bytes") else pa.string()
            )
            for i, name in enumerate(HEADER)
        }
    )
    pq.write_table(table, tmp_path / "usage.parquet")
    for source in (table, tmp_path / "usage.parquet"):
        got = rate_run(INVENTORY, source, load_catalog()).invoice
        assert bill_of(got) == bill_of(expected), source
        assert got.rows_read == len(rows)
