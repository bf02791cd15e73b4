"""A small Parquet file decoded in Python (`accounting.parquet_small`) gives each value as the text
DuckDB casts it to, or declines the file (None): seeded tables of every column type the rating
meets, written by pyarrow with and without compression, dictionaries, NULLs and row groups."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from accounting.parquet_small import read_small_parquet

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _duckdb_text(path: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    result = con.execute(f"SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_parquet('{path}')")
    names = [str(d[0]) for d in result.description or ()]
    return names, result.fetchall()


def _table(rng: random.Random, rows: int) -> pa.Table:
    def maybe(values: list[Any]) -> list[Any]:
        nulls = rng.random() < 0.5
        return [None if nulls and rng.random() < 0.3 else v for v in values]

    stamps = [BASE + timedelta(seconds=rng.randrange(-86_400, 40 * 86_400), microseconds=rng.choice([0, 500_000, 123_456, 1])) for _ in range(rows)]  # fmt: skip
    return pa.table(
        {
            "line": pa.array(maybe([rng.choice(["L1", "L2", "é-ligne", "", "33612345678"]) for _ in range(rows)])),
            "type": pa.array(maybe([rng.choice(["data", "sms", "voice"]) for _ in range(rows)])),
            "start": pa.array(maybe(stamps), pa.timestamp(rng.choice(["ms", "us"]), tz="UTC")),
            "local": pa.array(maybe([s.replace(tzinfo=None) for s in stamps]), pa.timestamp("us")),
            "duration_s": pa.array(maybe([rng.randrange(-5, 100_000) for _ in range(rows)]), pa.int64()),
            "bytes_up": pa.array(maybe([rng.randrange(0, 2**62) for _ in range(rows)]), pa.int64()),
            "small": pa.array(maybe([rng.randrange(-100, 100) for _ in range(rows)]), rng.choice([pa.int8(), pa.int16(), pa.int32()])),
            "delivered": pa.array(maybe([rng.random() < 0.5 for _ in range(rows)]), pa.bool_()),
            "dest": pa.array([None] * rows, pa.null()),
        }
    )  # fmt: skip


def test_decoded_values_are_duckdbs_text(tmp_path: Path) -> None:
    rng = random.Random(16)
    decoded = 0
    for i in range(60):
        path = tmp_path / f"t{i}.parquet"
        table = _table(rng, rng.randrange(0, 40))
        pq.write_table(
            table,
            path,
            compression=rng.choice(["snappy", "none", "snappy"]),
            use_dictionary=rng.random() < 0.7,
            row_group_size=rng.choice([None, 3, 7]),
            data_page_version=rng.choice(["1.0", "1.0", "2.0"]),
        )
        got = read_small_parquet(path.read_bytes(), 1_000)
        if got is not None:
            decoded += 1
            names, rows = got
            assert (names, rows) == _duckdb_text(path), i
    assert decoded >= 30


def test_files_it_does_not_read_are_declined(tmp_path: Path) -> None:
    plain = pa.table({"line": ["L1"], "type": ["data"], "start": ["2026-03-02T10:00:00Z"]})
    cases = {
        "zstd": ({"compression": "zstd"}, plain),
        "gzip": ({"compression": "gzip"}, plain),
        "double": ({}, plain.append_column("bytes_up", pa.array([1.5]))),
        "list": ({}, plain.append_column("tags", pa.array([["a"]]))),
        "binary": ({}, plain.append_column("raw", pa.array([b"\x00"], pa.binary()))),
        "nanoseconds": ({}, plain.append_column("t", pa.array([0], pa.timestamp("ns", tz="UTC")))),
        "unsigned": ({}, plain.append_column("n", pa.array([1], pa.uint64()))),
    }
    for name, (options, table) in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path, **options)
        assert read_small_parquet(path.read_bytes(), 1_000) is None, name
    pq.write_table(plain, tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    assert read_small_parquet(data, 1_000) == (
        ["line", "type", "start"],
        [("L1", "data", "2026-03-02T10:00:00Z")],
    )
    assert read_small_parquet(data, 0) is None  # more rows than asked for
    # a footer whose schema is a list of integers, not of elements (Thrift compact: version 1,
    # schema [1, 2], 0 rows): it stopped `rate` with AttributeError
    odd = bytes([0x15, 0x02, 0x19, 0x25, 0x02, 0x04, 0x16, 0x00, 0x00])
    odd_footer = b"PAR1" + odd + len(odd).to_bytes(4, "little") + b"PAR1"
    for damaged in (
        data[: len(data) // 2],
        data[:-9] + data[-8:],
        b"PAR1" + b"\xff" * 40 + b"PAR1",
        b"",
        odd_footer,
    ):
        assert read_small_parquet(damaged, 1_000) is None
