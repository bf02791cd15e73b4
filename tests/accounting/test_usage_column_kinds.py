"""A rating column typed as a kind of value it cannot be read as refuses the file, naming the
file and the column: a `start` typed DATE (a day without its time, as DuckDB, polars or Spark
write a `date` column) was read as the day's midnight, so that a line's records of one day alike
in the other columns were rejected as copies of each other and left unbilled; a `start` typed
TIME, or a count typed INTERVAL (DuckDB's `to_seconds()`), made every row a malformed value."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of

from accounting import load_inventory, rate
from accounting.errors import UsageError
from m2msim.cli import main

INVENTORY = """\
customer: c
month: 2026-03
lines:
  - {id: "D", offer: business-m2m-dtmf, plan: compteur, commitment: 24, since: 2025-01-15}
"""


def _calls(rows: int) -> pa.Table:
    """`rows` calls of 90 s on line D in March, two a day, each at its own time of the day."""
    first = datetime(2026, 3, 1, 8, tzinfo=UTC)
    return pa.table(
        {
            "line": ["D"] * rows,
            "type": ["voice"] * rows,
            "dest": ["fr-mobile"] * rows,
            "start": pa.array(
                [first + timedelta(days=i // 2 % 28, hours=i % 2, seconds=i // 56) for i in range(rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "duration_s": pa.array([90] * rows, pa.int64()),
        }
    )


def _with(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return str(path)


def _refused(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr()
    assert out.out == ""
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1
    return out.err


@pytest.mark.parametrize("rows", [40, 6_000])  # the small reader's file and the reader's
@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_start_typed_as_a_date_is_refused(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str], rows: int, command: str
) -> None:
    table = _calls(rows)
    path = tmp_path / "usage.parquet"
    pq.write_table(_with(table, "start", table["start"].cast(pa.date32())), path)
    assert main([command, inventory, str(path), "--json"]) == 2
    assert "usage.parquet: column 'start' is a DATE, a day without its time" in _refused(capsys)


def test_a_start_typed_as_a_date_by_duckdb_is_refused(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.parquet"
    con = duckdb.connect()
    con.register("calls", _calls(40))
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(start AS DATE) AS start) FROM calls) TO '{path}' (FORMAT parquet)"
    )
    con.close()
    assert main(["rate", inventory, str(path)]) == 2
    assert "column 'start' is a DATE" in _refused(capsys)


def test_a_part_of_a_folder_with_a_date_start_is_refused_naming_it(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    table = _calls(40)
    pq.write_table(table, folder / "part-0.parquet")
    pq.write_table(_with(table, "start", table["start"].cast(pa.date32())), folder / "part-1.parquet")
    assert main(["rate", inventory, str(folder)]) == 2
    assert "part-1.parquet: column 'start' is a DATE" in _refused(capsys)


def test_a_start_typed_as_a_time_of_day_is_refused(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _calls(40)
    path = tmp_path / "usage.parquet"
    pq.write_table(_with(table, "start", pa.array([time(8, i) for i in range(40)], pa.time64("us"))), path)
    assert main(["rate", inventory, str(path)]) == 2
    assert "column 'start' is a TIME, a time of day without its date" in _refused(capsys)


@pytest.mark.parametrize(
    ("kind", "scale", "words"),
    [
        (pa.int64(), 1, "BIGINT"),
        (pa.int64(), 1_000, "BIGINT"),
        (pa.int32(), 1, "INTEGER"),
        (pa.float64(), 1, "DOUBLE"),
        (pa.decimal128(24, 3), 1, "DECIMAL(24,3)"),
    ],
)
@pytest.mark.parametrize("rows", [40, 6_000])
def test_a_start_typed_as_a_number_since_1970_is_refused(
    tmp_path: Path,
    inventory: str,
    capsys: pytest.CaptureFixture[str],
    kind: pa.DataType,
    scale: int,
    words: str,
    rows: int,
) -> None:
    """A start written as a count since 1970 (Kafka Connect's, a log's epoch): every row was a
    malformed value, the month billed its subscriptions alone, exit 0."""
    table = _calls(rows)
    seconds = [int(s.timestamp()) * scale for s in table["start"].to_pylist()]
    path = tmp_path / "usage.parquet"
    pq.write_table(_with(table, "start", pa.array(seconds, pa.int64()).cast(kind)), path)
    for command in ("rate", "compare"):
        assert main([command, inventory, str(path)]) == 2
        assert f"usage.parquet: column 'start' is a number ({words}), not a time" in _refused(capsys)


def _duckdb_typed(table: pa.Table, kind: str, name: str = "start") -> pa.Table:
    """`table` with its column `name` (the start: a count of seconds since 1970) of DuckDB's type `kind`,
    as DuckDB gives it to Arrow keeping its type (`arrow_lossless_conversion`: an `arrow.opaque`
    extension of its bytes)."""
    value = "epoch(start)" if name == "start" else name
    con = duckdb.connect()
    con.execute("SET arrow_lossless_conversion = true")
    con.register("calls", table)
    out = con.sql(f"SELECT * REPLACE (CAST({value} AS {kind}) AS {name}) FROM calls").arrow()
    typed = out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    con.close()
    return typed


@pytest.mark.parametrize(("kind", "words"), [("UHUGEINT", "UHUGEINT"), ("VARINT", "BIGNUM")])
@pytest.mark.parametrize("rows", [40, 6_000])
def test_a_start_typed_as_a_duckdb_integer_past_64_bits_is_refused(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str], kind: str, words: str, rows: int
) -> None:
    """A start of DuckDB's UHUGEINT or VARINT (BIGNUM), a count since 1970 as the other numbers are:
    Parquet keeps it as its bytes (BLOB), only the writer's Arrow schema saying what it is, and every
    row was a malformed value, the month billed its subscriptions alone, exit 0; an Arrow table of
    it the same."""
    table = _duckdb_typed(_calls(rows), kind)
    path = tmp_path / "usage.parquet"
    pq.write_table(table, path)
    for command in ("rate", "compare"):
        assert main([command, inventory, str(path)]) == 2
        assert f"usage.parquet: column 'start' is a number ({words}), not a time" in _refused(capsys)
    with pytest.raises(UsageError, match=rf"column 'start' is a number \({words}\)"):
        rate(load_inventory(inventory), table)


@pytest.mark.parametrize("rows", [40, 6_000])
def test_a_duration_typed_as_an_interval_is_read_as_its_seconds(
    tmp_path: Path, inventory: str, rows: int
) -> None:
    """DuckDB's `to_seconds()` written to Parquet (an INTERVAL) is rated as the file of seconds it
    came from (tests/accounting/test_usage_interval_durations.py: an interval of months refused).
    It was refused, exit 2."""
    path, twin = tmp_path / "usage.parquet", tmp_path / "twin.parquet"
    con = duckdb.connect()
    con.register("calls", _calls(rows))
    con.execute(
        f"COPY (SELECT * REPLACE (to_seconds(duration_s) AS duration_s) FROM calls) TO '{path}' (FORMAT parquet)"
    )
    con.execute(f"COPY calls TO '{twin}' (FORMAT parquet)")
    con.close()
    got, expected = (rate(load_inventory(inventory), p) for p in (path, twin))
    assert got.rows_read == expected.rows_read == rows and not got.rejects
    assert bill_of(got) == bill_of(expected)


@pytest.mark.parametrize(
    ("name", "column", "words"),
    [
        ("start", pa.array([date(2026, 3, 1)] * 4), "is a DATE"),
        ("start", pa.array([time(8)] * 4), "is a TIME"),
    ],
)
def test_an_arrow_table_with_such_a_column_is_refused(
    inventory: str, name: str, column: pa.Array, words: str
) -> None:
    with pytest.raises(UsageError, match=f"column '{name}' {words}"):
        rate(load_inventory(inventory), _with(_calls(4), name, column))


def test_the_same_calls_with_their_times_are_billed_every_one(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: the calls the DATE file held, with their times, are billed every one (two
    calls a day alike but for their hour are two calls)."""
    path = tmp_path / "usage.parquet"
    pq.write_table(_calls(40), path)
    invoice = rate(load_inventory(inventory), str(path))
    assert not invoice.rejects
    voice = [i for line in invoice.lines for i in line.items if i.code == "voice"]
    assert [str(i.quantity) for i in voice] == [str(40 * 90)]  # (seconds)


def _csv(table: pa.Table) -> str:
    lines = ["line,type,dest,start,duration_s"]
    for row in table.to_pylist():
        lines.append(f"{row['line']},{row['type']},{row['dest']},{row['start']},{row['duration_s']}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("form", ["csv", "parquet"])
@pytest.mark.parametrize("rows", [40, 6_000])  # the small reader's file (left to DuckDB) and the reader's
def test_a_start_written_as_a_date_alone_is_a_malformed_value(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str], form: str, rows: int
) -> None:
    """A start of text that is a date alone (`2026-03-05`, `2026/03/05`) is a malformed value, as
    a start typed DATE is refused: read as the day's midnight, the second call of each day was a
    copy of the first, rejected as a duplicate, and the first billed.  The other rows are billed."""
    table = _calls(rows)
    days = [
        f"2026-03-{1 + i // 2 % 28:02d}" if i % 4 else f"2026/03/{1 + i // 2 % 28:02d}" for i in range(rows)
    ]
    starts = [
        d if i < rows // 2 else s.isoformat()
        for i, (d, s) in enumerate(zip(days, table["start"].to_pylist(), strict=True))
    ]
    table = _with(table, "start", pa.array(starts, pa.string()))
    seconds = [90 + i for i in range(rows)]  # (no two rows alike: none a copy of another)
    table = _with(table, "duration_s", pa.array(seconds, pa.int64()))
    path = tmp_path / f"usage.{form}"
    if form == "csv":
        path.write_text(_csv(table), encoding="utf-8")
    else:
        pq.write_table(table, path)
    invoice = rate(load_inventory(inventory), str(path))
    bad = {r.row: r.reason for r in invoice.rejects}
    assert bad == {i + 2: f"malformed value: start '{days[i]}'" for i in range(rows // 2)}
    voice = [i for line in invoice.lines for i in line.items if i.code == "voice"]
    assert [str(i.quantity) for i in voice] == [str(sum(seconds[rows // 2 :]))]


def test_a_month_of_starts_without_their_times_says_what_a_start_is(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _calls(40)
    table = _with(table, "start", pa.array([f"2026-03-{1 + i // 2:02d}" for i in range(40)], pa.string()))
    table = _with(table, "duration_s", pa.array([90 + i % 2 for i in range(40)], pa.int64()))
    path = tmp_path / "usage.csv"
    path.write_text(_csv(table), encoding="utf-8")
    assert main(["rate", inventory, str(path)]) == 0
    err = capsys.readouterr().err
    assert "40 of the 40 usage rows were rejected" in err
    assert "(row 2: malformed value: start '2026-03-01')" in err
    assert "not a date alone: the records of a day could not be told apart" in err


@pytest.mark.parametrize("kind", [pa.float64(), pa.int64(), pa.date32()])
def test_a_start_column_of_empty_cells_typed_as_a_number_is_each_row_missing(
    tmp_path: Path, inventory: str, kind: pa.DataType
) -> None:
    """pandas writes a column of empty cells (a part whose starts were lost) as DOUBLE: refused as
    a count since 1970, the whole month was not billed where each row's start is missing."""
    table = _calls(40)
    path = tmp_path / "usage.parquet"
    pq.write_table(_with(table, "start", pa.nulls(len(table), kind)), path)
    for source in (path, pq.read_table(path)):
        got = rate(load_inventory(inventory), source).to_dict()
        assert len(got["rejects"]) == 40  # (rows alike but for their start: copies of each other)
        assert got["rejects"][0]["reason"] == "malformed value: start missing"
        assert {r["reason"].split(":")[0] for r in got["rejects"]} <= {"malformed value", "duplicate record"}


@pytest.mark.parametrize(
    ("kind", "words"), [("UHUGEINT", "UHUGEINT"), ("VARINT", "BIGNUM"), ("HUGEINT", "HUGEINT")]
)
@pytest.mark.parametrize("name", ["duration_s", "bytes_up"])
@pytest.mark.parametrize("rows", [40, 6_000])
def test_a_count_typed_as_a_duckdb_integer_kept_as_bytes_is_refused(
    tmp_path: Path,
    inventory: str,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    words: str,
    name: str,
    rows: int,
) -> None:
    """A duration or an octet count of DuckDB's HUGEINT, UHUGEINT or VARINT (BIGNUM) given to Arrow
    keeping its type: Parquet keeps it as its bytes (BLOB), only the writer's Arrow schema saying it is
    a number, and every row was a malformed value, the month billed its subscriptions alone, exit 0."""
    calls = _calls(rows)
    if name == "bytes_up":
        calls = calls.append_column("bytes_up", pa.array([1_000] * rows, pa.int64()))
    path = tmp_path / "usage.parquet"
    pq.write_table(_duckdb_typed(calls, kind, name), path)
    for command in ("rate", "compare"):
        assert main([command, inventory, str(path)]) == 2
        err = _refused(capsys)
        assert f"usage.parquet: column {name!r} is a {words} kept as its bytes" in err
