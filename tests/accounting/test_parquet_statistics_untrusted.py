"""A Parquet file's rows decide its invoice, not its footer's statistics.

A writer's statistics (min, max, null count of each column chunk) are a claim about the rows.
Only the simulator's own files (their footer claim, `UsageWriter`) are believed; any other file
whose footer says a column stays in bounds, or holds no NULL, is checked row by row all the same,
on DuckDB's path and on the pyarrow pass alike: the invoice is the one of the same rows given as an
Arrow table, which carries no statistics.  The footers here are rewritten in place (a value of the
same width), as a tool that wrote wrong statistics would leave them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import rate, usage_arrow, usage_arrow_checks
from accounting.errors import UsageError
from accounting.usage import UsageReader, month_bounds
from tests.accounting.test_accounting_typed_parquet import INV, T

HUGE = 10**16  # octets no record carries: a malformed value
SAID = 104_857_600  # what the rewritten footer says is the largest


def _table(n: int, bad: dict[str, Any] | None = None, day: int = 0) -> pa.Table:
    """`n` distinct clean data and voice rows (from `day` days after T); `bad`: the last row's
    values replaced."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if i % 3 == 2:
            rows.append({"line": "D", "type": "voice", "dest": "fr-mobile", "duration_s": 30 + i % 50})
        else:
            rows.append({"line": "A", "type": "data", "bytes_up": 1000 + i, "bytes_down": 10 + i % 7})
        rows[-1]["start"] = T + timedelta(days=day, seconds=37 * i)
    rows[-1] |= bad or {}
    columns = ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "dest", "zone")
    types = {"start": pa.timestamp("us", tz="UTC"), "duration_s": pa.int64()}
    return pa.table(
        {
            c: pa.array([r.get(c) for r in rows], types.get(c, pa.int64() if "bytes" in c else pa.string()))
            for c in columns
        }
    )


def _rewrite_footer(path: Path, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` (as long) in the file's footer, every time it occurs there."""
    assert len(old) == len(new)
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - size
    footer = bytes(data[start:-8])
    assert old in footer
    data[start:-8] = footer.replace(old, new)
    path.write_bytes(bytes(data))


def _int64(value: int) -> bytes:
    return struct.pack("<q", value)


def _max_lies(path: Path, table: pa.Table) -> None:
    """The footer's `bytes_up` max says SAID where a row holds HUGE."""
    pq.write_table(table, path)
    _rewrite_footer(path, _int64(HUGE), _int64(SAID))
    stats = pq.ParquetFile(path).metadata.row_group(0).column(table.column_names.index("bytes_up")).statistics
    assert stats.max == SAID  # (the footer as a reader sees it)


def _min_lies(path: Path, table: pa.Table) -> None:
    """The footer's `duration_s` min says 0 where a row holds -5."""
    pq.write_table(table, path)
    _rewrite_footer(path, _int64(-5), _int64(0))
    stats = (
        pq.ParquetFile(path).metadata.row_group(0).column(table.column_names.index("duration_s")).statistics
    )
    assert stats.min == 0


def _null_count_lies(path: Path, table: pa.Table) -> None:
    """The footer's `start` null count says 0 where a row has no start."""
    pq.write_table(table, path)
    first = _int64(int(T.timestamp()) * 1_000_000)  # the chunk's min, then its null count (1) follows
    _rewrite_footer(path, first + b"\x16\x02", first + b"\x16\x00")
    stats = pq.ParquetFile(path).metadata.row_group(0).column(table.column_names.index("start")).statistics
    assert stats.null_count == 0 and table["start"].null_count == 1


def _all_null_lies(path: Path, table: pa.Table) -> None:
    """The footer's `zone` null count says every row has none where one says `eu`."""
    pq.write_table(table, path)
    assert table["zone"].null_count == 299 and len(table) == 300  # zigzag varints of 2 bytes each
    _rewrite_footer(path, b"\x36\xd6\x04\x28\x02eu", b"\x36\xd8\x04\x28\x02eu")  # 299 -> 300
    stats = pq.ParquetFile(path).metadata.row_group(0).column(table.column_names.index("zone")).statistics
    assert stats.null_count == 300


ROAMING = {
    "line": "A",
    "type": "data",
    "zone": "eu",
    "bytes_up": 5000,
    "bytes_down": 5,
    "duration_s": None,
    "dest": None,
}

# how the footer lies, the last row's values, and the start of its reject's reason
CASES: dict[str, tuple[Callable[[Path, pa.Table], None], dict[str, Any], str]] = {
    "max": (_max_lies, {"bytes_up": HUGE}, f"malformed value: bytes_up/bytes_down '{HUGE}'"),
    "min": (_min_lies, {"line": "D", "type": "voice", "duration_s": -5}, "malformed value: duration_s '-5'"),
    "null_count": (_null_count_lies, {"start": None}, "malformed value: start"),
}


@pytest.fixture(params=["duckdb", "pass"])
def path_taken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """DuckDB's scan, or the pyarrow pass and its row proof (every size of file taken)."""
    monkeypatch.setattr(usage_arrow_checks, "PROVE", True)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 1 << 62 if request.param == "duckdb" else 0)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 64)  # several batches
    return str(request.param)


def _expected(table: pa.Table) -> dict[str, Any]:
    return rate(INV, table).to_dict()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_file_whose_statistics_lie_is_billed_as_its_rows(
    tmp_path: Path, path_taken: str, case: str
) -> None:
    forge, bad, reason = CASES[case]
    table = _table(300, bad)
    forge(tmp_path / "u.parquet", table)
    got = rate(INV, tmp_path / "u.parquet").to_dict()
    assert [(r["row"], r["reason"][: len(reason)]) for r in got["rejects"]] == (
        [(301, reason)] if reason else []
    )
    assert billed(got) == _expected(table)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_part_whose_statistics_lie_is_billed_as_its_rows(
    tmp_path: Path, path_taken: str, case: str
) -> None:
    forge, bad, reason = CASES[case]
    (tmp_path / "usage").mkdir()
    clean, lying = _table(200, day=1), _table(300, bad)
    pq.write_table(clean, tmp_path / "usage" / "part-0.parquet")
    forge(tmp_path / "usage" / "part-1.parquet", lying)
    got = rate(INV, tmp_path / "usage").to_dict()
    assert [(r["row"], r["reason"][: len(reason)]) for r in got["rejects"]] == (
        [(301, reason)] if reason else []
    )
    assert got["total_ht"] == _expected(pa.concat_tables([clean, lying]))["total_ht"]
    assert got["lines"] == _expected(pa.concat_tables([clean, lying]))["lines"]


def test_statistics_of_another_writer_settle_nothing(tmp_path: Path) -> None:
    """A clean file of another writer: its statistics are not taken for a proof (checked by rows)."""
    table = _table(30)
    pq.write_table(table, tmp_path / "u.parquet")
    reader = UsageReader(tmp_path / "u.parquet")
    assert reader.ranges == {} and not reader.empty_columns & set(table.column_names)
    assert not reader._scan_sql(*month_bounds(2026, 3), [0, 60]).settled


def test_a_chunk_said_null_throughout_that_holds_values_is_refused(tmp_path: Path, path_taken: str) -> None:
    """DuckDB reads a column chunk whose footer null count is its row count as NULL without
    reading it (the roaming row was billed in France): such a file is refused, naming it, the
    column and the row group, on either path; a folder holding it too."""
    (tmp_path / "usage").mkdir()
    lying = tmp_path / "usage" / "part-1.parquet"
    _all_null_lies(lying, _table(300, ROAMING))
    pq.write_table(_table(200, day=1), tmp_path / "usage" / "part-0.parquet")
    for source in (lying, tmp_path / "usage"):
        with pytest.raises(UsageError) as refused:
            rate(INV, source)
        assert str(refused.value) == (
            f"{lying}: column 'zone', row group 0: the footer says every one of its 300 values is NULL, "
            "but 1 of them holds a value: its statistics are wrong (write the file again)"
        )


def test_a_column_null_throughout_is_rated_as_one(tmp_path: Path, path_taken: str) -> None:
    """An export's empty column (its footer right) is read, and rated as NULL, as before."""
    table = _table(300)
    pq.write_table(table, tmp_path / "u.parquet")
    assert table["zone"].null_count == 300
    assert billed(rate(INV, tmp_path / "u.parquet").to_dict()) == _expected(table)


def test_the_parts_checked_are_not_held_open_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of many parts, each with a column NULL throughout (the check reads each such
    chunk): every part was kept open until the last was checked, so past the process's limit of
    open files (1,024 by default) opening the next failed, was taken for a damaged file (left to
    DuckDB), and the parts after were not checked: a part whose footer hides a roaming row would
    have been billed it in France.  One part is open at a time."""
    (tmp_path / "usage").mkdir()
    tables = [_table(3, day=1 + k % 20) for k in range(150)]
    for k, table in enumerate(tables):
        pq.write_table(table, tmp_path / "usage" / f"part-{k:03d}.parquet")
    open_files: list[int] = []
    real = pq.ParquetFile.read_row_group

    def counted(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Any:
        open_files.append(len(list(Path("/proc/self/fd").iterdir())))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    got = rate(INV, tmp_path / "usage").to_dict()
    assert len(open_files) == 150  # (each part's `zone` chunk, NULL throughout)
    assert max(open_files) - min(open_files) < 10, (min(open_files), max(open_files))
    assert got["total_ht"] == _expected(pa.concat_tables(tables))["total_ht"]
