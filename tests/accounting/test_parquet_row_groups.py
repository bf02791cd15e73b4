"""A Parquet file of many small row groups (a writer flushing every record, as a stream's sink
does) is rated as the same rows in one row group, its footer read once: each column chunk its
footer says is NULL on every row was checked by opening the file again, parsing its whole footer
each time (6,000 rows in one-row row groups: minutes of CPU, the time growing as the square)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of

from accounting import load_inventory, rate
from tests.accounting.test_usage_column_kinds import INVENTORY  # (line D, March 2026)


def _records(rows: int) -> pa.Table:
    """Data records and SMS in turn: each row group of one row holds NULL byte counts (an SMS) or a
    NULL destination (a data record), chunks whose footer says they are NULL on every row."""
    first = datetime(2026, 3, 1, tzinfo=UTC)
    data = [i % 2 == 0 for i in range(rows)]
    return pa.table(
        {
            "line": ["D"] * rows,
            "type": ["data" if d else "sms" for d in data],
            "dest": [None if d else "fr-mobile" for d in data],
            "start": pa.array(
                [first + timedelta(minutes=i) for i in range(rows)], pa.timestamp("us", tz="UTC")
            ),
            "duration_s": pa.array([60 if d else None for d in data], pa.int64()),
            "bytes_up": pa.array([1000 + i if d else None for i, d in enumerate(data)], pa.int64()),
            "bytes_down": pa.array([2000 if d else None for d in data], pa.int64()),
        }
    )


def test_one_row_row_groups_are_rated_as_one_row_group_reading_the_footer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(INVENTORY, encoding="utf-8")
    inventory = load_inventory(str(inventory_path))
    table = _records(300)
    whole, split = tmp_path / "whole.parquet", tmp_path / "split.parquet"
    pq.write_table(table, whole)
    pq.write_table(table, split, row_group_size=1)
    assert pq.ParquetFile(split).metadata.num_row_groups == 300
    expected = bill_of(rate(inventory, str(whole)))

    opened: list[str] = []
    real = pq.ParquetFile

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, source: object, *args: object, **kwargs: object) -> None:
            opened.append(str(source))
            super().__init__(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", Counted)
    assert bill_of(rate(inventory, str(split))) == expected
    assert opened.count(str(split)) <= 1, len(opened)
