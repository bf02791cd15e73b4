"""A `duration_s` typed INTERVAL (a database's export: DuckDB's INTERVAL in a Parquet file, an
Arrow interval in a table) is read as its seconds, exactly (a day is 86,400 s), by every reader:
the same invoice as the twin file of seconds.  An interval with months has no one length in
seconds: its row is a malformed value naming the field and saying why, the rest rated.  Such
files were refused, every row with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of

from accounting import load_catalog, rate
from accounting.engine import rate_run
from accounting.errors import UsageError
from accounting.usage_small import small_reader
from m2msim.cli import main
from tests.accounting.test_usage_fraction_edges import INVENTORY  # (a DTMF line V, a data line C)

# (line, type, day, the duration as DuckDB's INTERVAL, as (months, days, nanoseconds), its seconds)
CALLS = [
    ("V", "voice", 2, "INTERVAL 90 SECOND + INTERVAL 500 MILLISECOND", (0, 0, 90_500_000_000), "90.5"),
    ("V", "voice", 3, "INTERVAL 1 MONTH + INTERVAL 3 SECOND", (1, 0, 3_000_000_000), None),
    ("C", "csd", 4, "INTERVAL 119 SECOND + INTERVAL 1 MILLISECOND", (0, 0, 119_001_000_000), "119.001"),
    ("V", "voice", 5, "INTERVAL 1 DAY + INTERVAL 1 HOUR", (0, 1, 3600 * 10**9), "90000"),
    ("V", "voice", 6, "NULL::INTERVAL", None, ""),
    ("V", "voice", 7, "INTERVAL 1 YEAR", (12, 0, 0), None),
    ("V", "voice", 8, "INTERVAL 0 SECOND", (0, 0, 0), "0"),
]
WHY = "an interval in months, and a month has no one length in seconds"


def _columns(durations: list[Any]) -> dict[str, Any]:
    return {
        "line": [c[0] for c in CALLS],
        "type": [c[1] for c in CALLS],
        "start": [f"2026-03-{c[2]:02d}T10:00:00Z" for c in CALLS],
        "duration_s": durations,
        "dest": ["fr-fixed"] * len(CALLS),
    }


def _duckdb_parquet(path: Path) -> Path:
    values = ", ".join(
        f"('{c[0]}', '{c[1]}', '2026-03-{c[2]:02d}T10:00:00Z', {c[3]}, 'fr-fixed')" for c in CALLS
    )
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM (VALUES {values}) t(line, type, start, duration_s, dest)) TO '{path}' (FORMAT parquet)"
    )
    con.close()
    return path


def _expected(tmp_path: Path) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """The twin CSV's bill (its durations in seconds; the rows of months written as their text)."""
    twin = tmp_path / "twin.csv"
    lines = ["line,type,start,duration_s,dest"]
    for c in CALLS:
        seconds = c[5] if c[5] is not None else "months"
        lines.append(f"{c[0]},{c[1]},2026-03-{c[2]:02d}T10:00:00Z,{seconds},fr-fixed")
    twin.write_text("\n".join(lines) + "\n", encoding="ascii")
    invoice = rate(INVENTORY, twin)
    return bill_of(invoice) | {"rejects": []}, [(r.row, r.reason.split(" '")[0]) for r in invoice.rejects]


def _compared(invoice: Any, expected: tuple[dict[str, Any], list[tuple[int, str]]]) -> None:
    assert bill_of(invoice) | {"rejects": []} == expected[0]
    assert (
        [(r.row, r.reason.split(" '")[0]) for r in invoice.rejects]
        == expected[1]
        == [
            (3, "malformed value: duration_s"),
            (7, "malformed value: duration_s"),
        ]
    )
    assert [r.reason for r in invoice.rejects] == [
        f"malformed value: duration_s '1 months + 3 s: {WHY}'",
        f"malformed value: duration_s '12 months + 0 s: {WHY}'",
    ]


def test_a_parquet_interval_duration_is_read_as_its_seconds(tmp_path: Path) -> None:
    """DuckDB's INTERVAL in Parquet (months, days, milliseconds), by DuckDB and the small reader."""
    usage = _duckdb_parquet(tmp_path / "usage.parquet")
    expected = _expected(tmp_path)
    _compared(rate(INVENTORY, usage), expected)
    small = small_reader(usage)
    if small is not None:
        _compared(rate_run(INVENTORY, usage, load_catalog(), reader=small).invoice, expected)


def test_an_arrow_interval_duration_is_read_as_its_seconds(tmp_path: Path) -> None:
    """An Arrow table's month_day_nano interval (its nanoseconds kept: a call of 60.0000005 s is
    61 s, where DuckDB reads whole microseconds), and a table of DuckDB's own INTERVAL."""
    expected = _expected(tmp_path)
    nanos = [None if c[4] is None else pa.MonthDayNano(list(c[4])) for c in CALLS]
    table = pa.table(_columns(pa.array(nanos, pa.month_day_nano_interval())))
    _compared(rate(INVENTORY, table), expected)
    con = duckdb.connect()
    from_duckdb = con.sql(f"SELECT * FROM '{_duckdb_parquet(tmp_path / 'usage.parquet')}'").to_arrow_table()
    con.close()
    assert from_duckdb.schema.field("duration_s").type == pa.month_day_nano_interval()
    _compared(rate(INVENTORY, from_duckdb), expected)
    half = pa.table(
        {
            "line": ["V"],
            "type": ["voice"],
            "start": ["2026-03-02T10:00:00Z"],
            "duration_s": pa.array([pa.MonthDayNano([0, 0, 60_000_000_500])], pa.month_day_nano_interval()),
            "dest": ["fr-fixed"],
        }
    )
    items = {i.code: i.quantity for line in rate(INVENTORY, half).lines for i in line.items}
    assert items["voice"] == 61


def test_parts_typing_the_duration_otherwise_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of a part of INTERVALs beside a part of seconds cannot be read as one column:
    refused, exit 2, naming the column; a byte count typed INTERVAL stays refused."""
    folder = tmp_path / "parts"
    folder.mkdir()
    _duckdb_parquet(folder / "a.parquet")
    pq.write_table(pa.table(_columns([90.5] * len(CALLS))), folder / "b.parquet")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n"
        "  - {id: V, offer: business-m2m-dtmf, plan: compteur, commitment: 24, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    assert main(["rate", str(inventory), str(folder)]) == 2
    err = capsys.readouterr().err
    assert "column 'duration_s' is an INTERVAL in a file and a DOUBLE in another" in err, err
    assert "Traceback" not in err
    octets = tmp_path / "octets.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT 'V' AS line, 'data' AS type, '2026-03-02T10:00:00Z' AS start, 10 AS duration_s, "
        f"INTERVAL 1 SECOND AS bytes_up, 5 AS bytes_down) TO '{octets}' (FORMAT parquet)"
    )
    con.close()
    with pytest.raises(UsageError, match="column 'bytes_up' is an INTERVAL"):
        rate(INVENTORY, octets)
