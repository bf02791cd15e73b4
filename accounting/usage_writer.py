"""Streaming writer of usage records to Parquet or CSV, in columnar batches.

Memory stays bounded: rows are buffered up to `batch_rows` and then written as
one Arrow record batch.  Producers that already have columns (the simulator's
vectorised traffic) hand them over with `write_columns` without building
per-row objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting.records import USAGE_SCHEMA, UsageRecord

log = logging.getLogger(__name__)

UsageFormat = Literal["parquet", "csv"]


def format_for(path: Path) -> UsageFormat:
    """The file format implied by a path's suffix (`.csv` or else Parquet)."""
    return "csv" if path.suffix.lower() == ".csv" else "parquet"


class UsageWriter:
    """Writes usage records to one file; use as a context manager."""

    def __init__(self, path: Path, fmt: UsageFormat | None = None, batch_rows: int = 65_536) -> None:
        self.path = Path(path)
        self.format: UsageFormat = fmt or format_for(self.path)
        self.batch_rows = batch_rows
        self.rows_written = 0
        self._pending: list[UsageRecord] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        if self.format == "parquet":
            self._parquet = pq.ParquetWriter(self.path, USAGE_SCHEMA, compression="zstd")
        else:
            self._csv = pacsv.CSVWriter(self.path, USAGE_SCHEMA)

    def write(self, record: UsageRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= self.batch_rows:
            self._flush_pending()

    def write_many(self, records: Iterable[UsageRecord]) -> None:
        for record in records:
            self.write(record)

    def write_columns(self, columns: Mapping[str, Sequence[Any] | Any], length: int | None = None) -> None:
        """Write a batch given as columns (lists or numpy arrays); missing columns are null."""
        self._flush_pending()
        n = length if length is not None else len(next(iter(columns.values())))
        if n == 0:
            return
        unknown = set(columns) - set(USAGE_SCHEMA.names)
        if unknown:
            raise ValueError(f"unknown usage columns: {sorted(unknown)}")
        arrays = []
        for field in USAGE_SCHEMA:
            if field.name in columns:
                arrays.append(pa.array(columns[field.name], type=field.type))
            else:
                arrays.append(pa.nulls(n, type=field.type))
        self._write_batch(pa.RecordBatch.from_arrays(arrays, schema=USAGE_SCHEMA))

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        rows = [r.as_row() for r in self._pending]
        self._pending.clear()
        batch = pa.RecordBatch.from_pylist(rows, schema=USAGE_SCHEMA)
        self._write_batch(batch)

    def _write_batch(self, batch: pa.RecordBatch) -> None:
        if self._parquet is not None:
            self._parquet.write_batch(batch)
        elif self._csv is not None:
            self._csv.write_batch(batch)
        self.rows_written += batch.num_rows

    def close(self) -> None:
        self._flush_pending()
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None
        log.debug("wrote %d usage rows to %s", self.rows_written, self.path)

    def __enter__(self) -> UsageWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
