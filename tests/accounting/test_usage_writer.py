"""The usage-record writer: rows and column batches land in Parquet and CSV alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from accounting.records import USAGE_SCHEMA, UsageRecord, UsageType, Zone
from accounting.usage_writer import UsageWriter


@pytest.mark.parametrize("name", ["usage.parquet", "usage.csv"])
def test_rows_and_columns_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with UsageWriter(path, batch_rows=2) as writer:
        for i in range(3):
            writer.write(
                UsageRecord(
                    line=f"L{i}",
                    type=UsageType.DATA,
                    start=start,
                    bytes_up=100 + i,
                    bytes_down=7,
                    zone=Zone.EU,
                )
            )
        writer.write_columns(
            {
                "line": ["L9", "L9"],
                "type": ["data", "data"],
                "start": np.array([1772359200, 1772402400], dtype="int64"),
                "bytes_up": np.array([1, 2]),
                "bytes_down": np.array([3, 4]),
            }
        )
    assert writer.rows_written == 5
    if name.endswith(".csv"):
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=USAGE_SCHEMA, strings_can_be_null=True)
        )
    else:
        table = pq.read_table(path)
    rows = table.to_pylist()
    assert [r["line"] for r in rows] == ["L0", "L1", "L2", "L9", "L9"]
    assert [r["bytes_up"] for r in rows] == [100, 101, 102, 1, 2]
    assert rows[0]["zone"] == "eu" and rows[3]["zone"] is None
    assert rows[0]["start"] == start
    assert rows[4]["start"] == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    with UsageWriter(tmp_path / "u.parquet") as writer, pytest.raises(ValueError, match="bogus"):
        writer.write_columns({"line": ["x"], "bogus": [1]})


def test_parquet_options_and_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.parquet"
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    options = {
        "compression": "lz4",
        "use_dictionary": ["line"],
        "column_encoding": {"charging_id": "DELTA_BINARY_PACKED"},
    }
    with UsageWriter(
        path, dictionary_columns=["line"], parquet_options=options, required_columns=["line", "start"]
    ) as writer:
        writer.write(UsageRecord(line="L1", type=UsageType.SMS, start=start, dest=None))
        writer.write_columns(
            {"line": ["L2"], "type": ["data"], "start": [start], "charging_id": [7]}, length=1
        )
    f = pq.ParquetFile(path)
    names = [f.schema.column(i).name for i in range(len(f.schema))]
    levels = {n: f.schema.column(i).max_definition_level for i, n in enumerate(names)}
    assert levels["line"] == levels["start"] == 0 and levels["type"] == 1  # REQUIRED: no definition levels
    chunk = {n: f.metadata.row_group(1).column(i) for i, n in enumerate(names)}
    assert chunk["line"].compression == "LZ4" and "DELTA_BINARY_PACKED" in chunk["charging_id"].encodings
    assert "RLE_DICTIONARY" not in chunk["type"].encodings  # dictionary pages only where asked
    assert f.read().cast(USAGE_SCHEMA).column("line").to_pylist() == ["L1", "L2"]
    with (
        UsageWriter(tmp_path / "v.parquet", required_columns=["line"]) as writer,
        pytest.raises(ValueError, match="'line' is required"),
    ):
        writer.write_columns({"type": ["data"], "start": [start]}, length=1)
