"""Usage files: CSV and Parquet read alike, every bad row rejected with its row number and reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import UsageError, inventory_from_dict, rate
from accounting.records import UsageRecord, UsageType, Zone
from accounting.usage import ARROW_TABLE_ROWS
from accounting.usage_table import usage_table
from accounting.usage_writer import UsageWriter

INV = inventory_from_dict(
    {
        "customer": "c",
        "month": "2026-03",
        "lines": [
            {"id": "A", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2025-01-01"},
            {
                "id": "D",
                "offer": "business-m2m-dtmf",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2025-01-01",
            },
        ],
        "services": {"sms_internet": {"short_ids": 1, "since": "2025-01-01"}},
    }
)
T = "2026-03-02T10:00:00Z"

# (row, reason) for each kind of bad row; row 2 is the first data row
BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"line": "A", "type": "fax", "start": T}, "malformed value: type 'fax'"),
    ({"line": "A", "type": None, "start": T}, "malformed value: type missing"),
    ({"line": "A", "type": "data", "start": "yesterday", "bytes_up": 1, "bytes_down": 1}, "malformed value: start 'yesterday'"),
    ({"line": "A", "type": "data", "start": None, "bytes_up": 1, "bytes_down": 1}, "malformed value: start missing"),
    ({"line": "A", "type": "data", "start": "2026-02-28T23:59:59Z", "bytes_up": 1, "bytes_down": 1},
     "outside the billing month: start '2026-02-28T23:59:59Z'"),
    ({"line": "A", "type": "data", "start": "2026-04-01T02:00:00+02:00", "bytes_up": 1, "bytes_down": 1},
     "outside the billing month: start '2026-04-01T02:00:00+02:00'"),
    ({"line": "A", "type": "csd", "start": T, "duration_s": "-3", "dest": "fr-mobile"}, "malformed value: duration_s '-3'"),
    ({"line": "A", "type": "csd", "start": T, "duration_s": "long", "dest": "fr-mobile"}, "malformed value: duration_s 'long'"),
    ({"line": "A", "type": "data", "start": T, "bytes_up": "x", "bytes_down": 1}, "malformed value: bytes_up/bytes_down 'x'/'1'"),
    ({"line": "A", "type": "data", "start": T, "bytes_up": 1}, "malformed value: bytes_up/bytes_down '1'/missing"),
    ({"line": "A", "type": "data", "start": T, "bytes_up": -1, "bytes_down": 1}, "malformed value: bytes_up/bytes_down '-1'/'1'"),
    ({"line": "A", "type": "data", "start": T, "bytes_up": 1, "bytes_down": 1, "zone": "moon"}, "malformed value: zone 'moon'"),
    ({"line": "A", "type": "sms", "start": T}, "malformed value: dest missing"),
    ({"line": "A", "type": "sms", "start": T, "dest": "mars"}, "malformed value: dest 'mars'"),
    ({"type": "sms_internet", "start": T, "dest": "orange-fr", "delivered": "maybe"}, "malformed value: delivered 'maybe'"),
    ({"type": "data", "start": T, "bytes_up": 1, "bytes_down": 1}, "malformed value: line is empty"),
    ({"line": "Z", "type": "data", "start": T, "bytes_up": 1, "bytes_down": 1}, "unknown line 'Z'"),
    ({"line": "A", "type": "voice", "start": T, "duration_s": 0, "dest": "fr-mobile"}, "service not in the offer: voice is not part of business-m2m"),
    ({"line": "D", "type": "csd", "start": T, "duration_s": 9, "dest": "fr-mobile"}, "service not in the offer: csd is not part of business-m2m-dtmf"),
    ({"line": "A", "type": "sms", "start": T, "dest": "fr-premium"}, "price not in this catalog: SMS from fr to fr-premium"),
    ({"line": "D", "type": "voice", "start": T, "duration_s": 9, "dest": "intl"}, "price not in this catalog: voice call from fr to intl"),
    ({"type": "sms_internet", "start": T, "dest": "other"}, "price not in this catalog: SMS Internet to other"),
]  # fmt: skip
GOOD: list[dict[str, Any]] = [
    {"line": "A", "type": "data", "start": T, "bytes_up": 3000, "bytes_down": 100, "zone": "fr"},
    {"line": "D", "type": "voice", "start": T, "duration_s": "61.5", "dest": "fr-mobile"},
    {"type": "sms_internet", "start": T, "dest": "orange-fr", "delivered": "false"},
]


def test_every_kind_of_bad_row_is_rejected_with_its_row_and_reason() -> None:
    rows = GOOD[:1] + [r for r, _ in BAD_ROWS] + GOOD[1:]
    invoice = rate(INV, usage_table(rows))
    assert [(r.row, r.reason) for r in invoice.rejects] == [
        (i + 3, reason) for i, (_, reason) in enumerate(BAD_ROWS)
    ]
    assert invoice.rejects_total == len(BAD_ROWS) and invoice.rows_read == len(rows)
    a, d = invoice.lines
    assert {i.code: str(i.amount) for i in a.items} == {
        "subscription": "5.50",
        "data-fr-over": "0.01",
    }  # 4 ko
    assert {i.code: str(i.amount) for i in d.items} == {
        "subscription": "8.00",
        "voice": "0.16",
    }  # 62 s: 0.155


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    pacsv.write_csv(usage_table(rows), path)


def test_csv_and_parquet_give_the_same_invoice(tmp_path: Path) -> None:
    rows = GOOD + [r for r, _ in BAD_ROWS]
    table = usage_table(rows)
    pacsv.write_csv(table, tmp_path / "u.csv")
    pq.write_table(table, tmp_path / "u.parquet")
    a = rate(INV, tmp_path / "u.csv").to_dict()
    b = rate(INV, tmp_path / "u.parquet").to_dict()
    assert billed(a) == billed(b) and a["rejects"]


def test_typed_parquet_from_the_usage_writer(tmp_path: Path) -> None:
    path = tmp_path / "gw.parquet"
    start = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    with UsageWriter(path) as w:
        w.write(
            UsageRecord(line="A", type=UsageType.DATA, start=start, bytes_up=2048, bytes_down=1, zone=Zone.FR)
        )
        w.write(
            UsageRecord(line="A", type=UsageType.DATA, start=start, bytes_up=1024, bytes_down=0, zone=Zone.EU)
        )
        w.write_columns(
            {
                "line": ["A"],
                "type": ["data"],
                "start": [datetime(2026, 2, 1, tzinfo=UTC)],
                "bytes_up": [1],
                "bytes_down": [0],
            }
        )
    invoice = rate(INV, path)
    got = {i.code: (str(i.quantity), str(i.amount)) for i in invoice.lines[0].items}
    assert got["data-fr-over"] == ("3", "0.01") and got["data-eu"] == ("1", "0.01")
    assert [(r.row, r.reason) for r in invoice.rejects] == [
        (4, "outside the billing month: start '2026-02-01 00:00:00+00'")
    ]


def test_columns_in_any_order_and_optional_ones_absent(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "start,type,line,bytes_down,bytes_up\n2026-03-05T00:00:00Z,data,A,0,2048\n", encoding="utf-8"
    )
    assert str(rate(INV, path).lines[0].total) == "5.51"  # 2 ko x 3/1024 = 0.0059 -> 0.01


def test_no_usage_bills_subscriptions_only() -> None:
    invoice = rate(INV, None)
    assert str(invoice.total) == "153.50"  # 5.50 + 8.00 + SMS Internet 140


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("type,start\ndata,2026-03-01T00:00:00Z\n", "missing required column(s): line"),
        ("", "line 1: empty"),
        ("li\x00ne,type,start\n", "line 1: binary data"),
        ("line,type,line,start\n", "column 'line' is named twice"),
    ],
)
def test_unusable_usage_file(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "u.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        rate(INV, path)
    assert reason in str(err.value) and str(path) in str(err.value)


def test_missing_or_corrupt_parquet(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        rate(INV, tmp_path / "none.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(UsageError, match="cannot read"):
        rate(INV, bad)


def test_rejects_listing_is_bounded_but_counts_are_complete() -> None:
    from accounting.engine import rate_run

    rows = [{"line": "Z", "type": "sms", "start": T, "dest": "fr-mobile"}] * 50
    run = rate_run(INV, pa.Table.from_pylist([]) if False else usage_table(rows), max_rejects=7)
    assert len(run.invoice.rejects) == 7 and run.invoice.rejects_total == 50
    assert [r.row for r in run.invoice.rejects] == list(range(2, 9))


def test_gzipped_csv_reads_like_csv(tmp_path: Path) -> None:
    import gzip

    text = "line,type,start,bytes_up,bytes_down\nA,data,2026-03-05T00:00:00Z,0,2048\nQ,data,2026-03-05T00:00:00Z,0,1\n"
    (tmp_path / "u.csv").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "u.csv.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    assert billed(rate(INV, tmp_path / "u.csv.gz").to_dict()) == billed(
        rate(INV, tmp_path / "u.csv").to_dict()
    )
    assert [(r.row, r.reason) for r in rate(INV, tmp_path / "u.csv.gz").rejects] == [(3, "unknown line 'Q'")]


def test_rows_with_several_faults_are_counted_and_listed_under_the_same_reason() -> None:
    from collections import Counter

    from accounting.engine import reject_category

    late = "2026-04-02T00:00:00Z"
    rows: list[dict[str, Any]] = [
        {"line": "A", "type": "fax", "start": late},  # outside the month first
        {
            "line": "Z",
            "type": "data",
            "start": T,
            "bytes_up": -1,
            "bytes_down": 1,
            "zone": "moon",
        },  # bytes first
        {"line": "A", "type": "data", "start": T, "bytes_up": 1, "bytes_down": 1, "zone": "moon"},
        {"type": "sms", "start": T, "dest": "mars"},  # dest before the missing line
        {"line": "A", "type": "voice", "start": T, "duration_s": "x", "dest": "fr-mobile"},
    ]
    rows += [r for r, _ in BAD_ROWS]
    invoice = rate(INV, usage_table(rows))
    listed = Counter(reject_category(r.reason) for r in invoice.rejects)
    assert listed == Counter({s.reason: s.count for s in invoice.reject_summary})
    assert [r.reason for r in invoice.rejects[:5]] == [
        "outside the billing month: start '2026-04-02T00:00:00Z'",
        "malformed value: bytes_up/bytes_down '-1'/'1'",
        "malformed value: zone 'moon'",
        "malformed value: dest 'mars'",
        "malformed value: duration_s 'x'",
    ]


def test_huge_values_are_malformed_not_fatal_and_stray_columns_are_ignored() -> None:
    rows: list[dict[str, Any]] = [
        {"line": "D", "type": "voice", "start": T, "duration_s": "1e300", "dest": "fr-mobile"},
        {"line": "A", "type": "data", "start": T, "bytes_up": 10**17, "bytes_down": 0},
        {"line": "A", "type": "sms", "start": T, "dest": "fr-mobile", "bytes_up": "n/a"},  # not a data row
    ]
    invoice = rate(INV, usage_table(rows))
    assert [(r.row, r.reason) for r in invoice.rejects] == [
        (2, "malformed value: duration_s '1e300'"),
        (3, f"malformed value: bytes_up/bytes_down '{10**17}'/'0'"),
    ]
    assert {i.code: str(i.amount) for i in invoice.lines[0].items} == {"subscription": "5.50", "sms": "0.07"}


def test_a_large_table_of_text_reaches_duckdb_as_arrow_where_only_its_engine_is_loaded(
    tmp_path: Path,
) -> None:
    """`m2msim rate` loads DuckDB's engine without the package's Python layer: a temporary table
    of many rows of text (the lines of rows set aside) is sent as Arrow all the same."""
    import subprocess
    import sys

    usage = tmp_path / "u.csv"
    usage.write_text("line,type,start\nA,sms,2026-03-02T10:00:00Z\n", encoding="utf-8")
    code = f"""
import sys
import pyarrow
from accounting import usage
reader = usage.UsageReader({str(usage)!r})
assert "duckdb" not in sys.modules, "the package's layer is loaded: not as m2msim rate runs"
rows = [(str(i), None if i % 7 == 0 else "x") for i in range(usage.ARROW_TABLE_ROWS)]
reader._table("many", ["a", "b"], rows)
print(reader.con.execute("SELECT count(*), count(b), max(a::INT) FROM many").fetchone())
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    n = ARROW_TABLE_ROWS
    assert done.stdout.strip() == str((n, n - len(range(0, n, 7)), n - 1))
