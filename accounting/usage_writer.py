"""Streaming writer of usage records to Parquet or CSV, in columnar batches.

Memory stays bounded: rows are buffered up to `batch_rows` and then written as
one Arrow record batch.  Producers that already have columns (the simulator's
vectorised traffic) hand them over with `write_columns` without building
per-row objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting.parquet_runs import NumberedText, RunColumnsWriter
from accounting.records import USAGE_SCHEMA, UsageRecord
from accounting.usage_claim import FOOTER_KEY as FOOTER_KEY  # (the rating reads it: accounting.usage)
from accounting.usage_claim import seal

log = logging.getLogger(__name__)

UsageFormat = Literal["parquet", "csv"]


def format_for(path: Path) -> UsageFormat:
    """The file format implied by a path's suffix (`.csv` or else Parquet)."""
    return "csv" if path.suffix.lower() == ".csv" else "parquet"


# Names of documents of another format than usage records', which their readers take them for.
_DOCUMENT_NAMES = (
    ((".json", ".jsonl", ".ndjson"), "a JSON document"),
    ((".html", ".htm"), "a page (HTML)"),
    ((".yaml", ".yml"), "a YAML document"),
)


def misnamed_output(path: Path) -> str | None:
    """Why usage records cannot be written under `path`'s name, or None: a name of another
    document (`records.json`), or one that the rating reads as a CSV or as compressed
    (`usage.csv.gz`, `usage.txt`, `usage.tsv`) would get Parquet
    (any name but `.csv`), which `m2msim rate` then refused ("not compressed by gzip", "binary
    data: not a CSV file")."""
    from accounting.csv_forms import CSV_NAMES

    name = path.name.lower()
    document = next((kind for ends, kind in _DOCUMENT_NAMES if name.endswith(ends)), None)
    if document is not None:
        # a JSON or HTML name given Parquet: `m2msim report` of its folder read it as an invoice or
        # comparison and refused the folder (`records.json:1: not JSON`)
        return (
            f"named as {document}, which usage records are not (CSV under a .csv name, else "
            f"Parquet): name it {path.stem}.csv or {path.stem}.parquet"
        )
    if name.endswith(".csv") or not name.endswith((*CSV_NAMES, ".gz", ".zst")):
        return None
    compressed = name.endswith((".gz", ".zst"))
    stem = path.name
    for ends in ((".gz", ".zst"), (*CSV_NAMES, ".parquet")):
        stem = next((stem[: -len(e)] for e in ends if stem.lower().endswith(e)), stem)
    what = "a compressed file" if compressed else "a CSV file"
    return (
        f"named as {what}, which m2msim does not write (usage records: CSV under a .csv name, "
        f"else Parquet, uncompressed): name it {stem}.csv or {stem}.parquet"
    )


class UsageWriter:
    """Writes usage records to one file; use as a context manager.

    `dictionary_columns` (Parquet only): string columns of few distinct values that
    producers hand over as `pa.DictionaryArray`s (or that are dictionary-encoded
    here), written without re-hashing every value.  The file then stores no Arrow
    schema: readers see plain strings, and `start` as a millisecond timestamp.

    `parquet_options` (Parquet only): further `pyarrow.parquet.ParquetWriter` options
    (`compression`, `use_dictionary`, `column_encoding`, `write_statistics`, ...), over
    the defaults (zstd, dictionary pages for every column, statistics).
    `required_columns` (Parquet only): columns the producer never leaves empty, stored as
    Parquet REQUIRED (no definition levels to encode); a batch with a null there is refused.
    `tally` (Parquet only): called with each Arrow batch as it is written (every record passes
    through it once, in file order): `accounting.usage_parts.PartSums.add` keeps the rating's
    sums of the file that way, so that its aggregate need not read the records back.  A column
    handed over as a `NumberedText` that the run columns' writer encodes from its numbers is null
    in that batch (the session ids: no sum reads them).
    `run_columns` (Parquet only): the columns of few runs (no nulls, a value changing at most
    once every 64 records) encoded by `accounting.parquet_runs`, the others by pyarrow.  The same values, types and statistics for every reader.
    `origin` (Parquet only): the run and shard that produced the file, `{"run": ..., "shard": ...}`.
    The producer vouches that the records it hands over as columns are unique by construction
    (the simulator's data records: a session's charging id and record sequence number); the
    writer checks the records handed over one by one (SMS, calls, hits) itself.  The footer then
    says so (`FOOTER_KEY`: run, shard, rows, unique, and the latest end of a record, start +
    duration_s), and the rating skips its duplicate search for the file and, when the latest end
    is inside the month, its row-by-row check of records lasting past the month.
    """

    def __init__(
        self,
        path: Path,
        fmt: UsageFormat | None = None,
        batch_rows: int = 65_536,
        *,
        dictionary_columns: Sequence[str] = (),
        parquet_options: Mapping[str, Any] | None = None,
        required_columns: Sequence[str] = (),
        origin: Mapping[str, Any] | None = None,
        tally: Callable[[pa.RecordBatch], None] | None = None,
        parents: bool = True,
        run_columns: bool = False,
    ) -> None:
        self.path = Path(path)
        self._tally = tally
        self.origin = dict(origin) if origin is not None else None
        self._seen: set[tuple[Any, ...]] | None = set() if origin is not None else None
        self._unique = True
        self._max_end: int | None = None
        self.format: UsageFormat = fmt or format_for(self.path)
        self.batch_rows = batch_rows
        self.rows_written = 0
        self._pending: list[UsageRecord] = []
        # `parents=False`: the file's folder is made, never its parents (a shard's folder in a run
        # folder that went away is not made again, FileNotFoundError instead)
        self.path.parent.mkdir(parents=parents, exist_ok=True)
        self._parquet: pq.ParquetWriter | RunColumnsWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._schema = USAGE_SCHEMA
        self._options: dict[str, Any] = {}
        self._required: list[int] = []
        # opened here, by its bytes: Arrow takes a path given as text for UTF-8 (a name of other
        # bytes, as a Latin-1 system makes, raised UnicodeEncodeError) and may read it as a URI
        self._sink = pa.OSFile(os.fsencode(self.path), "wb")
        if self.format == "parquet":
            self._required = [i for i, f in enumerate(USAGE_SCHEMA) if f.name in required_columns]
            if dictionary_columns or required_columns:
                self._schema = pa.schema(
                    [
                        pa.field(
                            f.name,
                            pa.dictionary(pa.int32(), pa.string())
                            if f.name in dictionary_columns and f.type == pa.string()
                            else f.type,
                            nullable=f.name not in required_columns,
                        )
                        for f in USAGE_SCHEMA
                    ]
                )
            options: dict[str, Any] = {"compression": "zstd", "store_schema": not dictionary_columns}
            options.update(parquet_options or {})
            self._options = options
            if run_columns:
                self._parquet = RunColumnsWriter(self._sink, self._schema, **options)
            else:
                self._parquet = pq.ParquetWriter(self._sink, self._schema, **options)
        else:
            self._csv = pacsv.CSVWriter(self._sink, USAGE_SCHEMA)

    def write(self, record: UsageRecord) -> None:
        if self._seen is not None and self._unique:
            key = tuple(record.as_row().values())
            if key in self._seen:
                self._unique = False
            self._seen.add(key)
        self._pending.append(record)
        if len(self._pending) >= self.batch_rows:
            self._flush_pending()

    def write_many(self, records: Iterable[UsageRecord]) -> None:
        for record in records:
            self.write(record)

    def write_columns(self, columns: Mapping[str, Sequence[Any] | Any], length: int | None = None) -> None:
        """Write a batch given as columns (lists or numpy arrays, a text column as a `NumberedText`);
        missing columns are null."""
        self._flush_pending()
        n = length if length is not None else len(next(iter(columns.values())))
        if n == 0:
            return
        unknown = set(columns) - set(USAGE_SCHEMA.names)
        if unknown:
            raise ValueError(f"unknown usage columns: {sorted(unknown)}")
        arrays = []
        numbered: dict[int, NumberedText] = {}
        for i, field in enumerate(self._schema):
            value = columns.get(field.name)
            if isinstance(value, NumberedText):
                if isinstance(self._parquet, RunColumnsWriter) and self._parquet.takes_numbered(i):
                    # encoded from its numbers: the batch holds nulls in its place (see `tally`)
                    numbered[i] = value
                    arrays.append(pa.nulls(n, type=field.type))
                else:
                    arrays.append(value.text())
            elif value is None:
                arrays.append(pa.nulls(n, type=field.type))
            elif isinstance(value, pa.DictionaryArray):
                arrays.append(value if value.type == field.type else value.cast(field.type))
            elif pa.types.is_dictionary(field.type):
                arrays.append(pc.dictionary_encode(pa.array(value, type=pa.string())))
            else:
                arrays.append(pa.array(value, type=field.type))
        self._write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._schema), numbered)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        rows = [r.as_row() for r in self._pending]
        self._pending.clear()
        batch = pa.RecordBatch.from_pylist(rows, schema=USAGE_SCHEMA)
        if self._schema is not USAGE_SCHEMA:
            batch = pa.RecordBatch.from_arrays(
                [
                    pc.dictionary_encode(col) if pa.types.is_dictionary(f.type) else col
                    for col, f in zip(batch.columns, self._schema, strict=True)
                ],
                schema=self._schema,
            )
        self._write_batch(batch)

    def _write_batch(self, batch: pa.RecordBatch, numbered: Mapping[int, NumberedText] | None = None) -> None:
        for i in self._required:
            if numbered and i in numbered:
                continue  # (a `NumberedText` has no empty value)
            if batch.column(i).null_count:
                name = batch.schema.field(i).name
                raise ValueError(f"{self.path}: column {name!r} is required, got an empty value")
        if self._parquet is not None:
            if self.origin is not None and batch.num_rows:
                duration = batch.column("duration_s")
                if duration.null_count:
                    duration = pc.fill_null(duration, 0)
                ends = pc.add(pc.cast(batch.column("start"), pa.int64()), duration)
                end = pc.max(ends).as_py()
                if end is not None:
                    self._max_end = end if self._max_end is None else max(self._max_end, end)
            if numbered:
                assert isinstance(self._parquet, RunColumnsWriter)
                self._parquet.write_batch(batch, numbered=numbered)
            else:
                self._parquet.write_batch(batch)
            if self._tally is not None:
                self._tally(batch)
        elif self._csv is not None:
            self._csv.write_batch(batch)
        self.rows_written += batch.num_rows

    def sync(self) -> None:
        """Push what is written so far to the disk (fsync), so that a power loss cannot take it: with
        `batch_rows=1`, every record written (a process killed leaves them all even without it)."""
        if not self._sink.closed:
            os.fsync(self._sink.fileno())

    def close(self) -> None:
        claim: dict[str, Any] | None = None
        written_as = (0, 0)
        try:
            self._flush_pending()
            if self._parquet is not None:
                if self.origin is not None:
                    claim = {
                        **self.origin,
                        "rows": self.rows_written,
                        "unique": self._unique,
                        "max_end": self._max_end,
                    }
                    st = os.fstat(self._sink.fileno())
                    written_as = (st.st_dev, st.st_ino)
                self._parquet.close()
                self._parquet = None
            if self._csv is not None:
                self._csv.close()
                self._csv = None
        finally:
            self._sink.close()
        if claim is not None:
            # the claim is bound to the file as written: a digest of its footer's layout, which
            # only this file has (accounting.usage_claim)
            make = lambda sink: pq.ParquetWriter(sink, self._schema, **self._options)  # noqa: E731
            if not seal(self.path, claim, make, written_as):
                log.debug("%s: gone or replaced before its footer claim was added", self.path)
        log.debug("wrote %d usage rows to %s", self.rows_written, self.path)

    def __enter__(self) -> UsageWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# The header row of a usage CSV as this writer writes it (Arrow quotes every name).
CSV_HEADER = ",".join(f'"{name}"' for name in USAGE_SCHEMA.names).encode("ascii") + b"\n"


def is_usage_file(path: Path) -> bool:
    """Whether `path` is a usage-record file as this writer writes it (any version of m2msim): a CSV
    whose first line is `CSV_HEADER`, or a Parquet file whose columns are the usage schema's, in its
    order.  Commands that write usage records replace such a file, and no other (m2msim.outputs)."""
    with open(path, "rb") as f:
        head = f.read(len(CSV_HEADER))
        if head == CSV_HEADER:
            return True
        if not head.startswith(b"PAR1"):
            return False
    try:
        with pa.OSFile(os.fsencode(path)) as f:  # (by its bytes: a name that is not UTF-8 too)
            names = pq.read_schema(f).names
    except (OSError, ValueError, pa.ArrowException):
        return False
    return bool(list(names) == list(USAGE_SCHEMA.names))
