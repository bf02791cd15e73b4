"""Seeded property test: the session ids a batch hands over as numbers (`NumberedText`) read back as
`<line>-<charging id>` of each record, the same in the Parquet part (pyarrow, DuckDB, its filters and
min/max), the merged file and the CSV copy, whatever the lines, ids and flushes.

Each seed draws device stretches (lines of digits, multi-byte UTF-8, very long, or read as paths),
sessions with charging ids that follow on one by one, jump, or cross a power of ten, 2**31 or 2**32,
sessions longer than 12 hours (partial records that share their session's id), flushes mid-stretch,
and parts drawn in blocks (`following`): the part's session column must be the line, a dash and
the charging id of the same row (written by other encoders), and the strings the batch makes
(`NumberedText.text`, `session_ids`) the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from accounting.parquet_runs import NumberedText
from accounting.usage_writer import UsageWriter
from simulator.batch import Block, SessionBatcher, Stretch
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS, TeeWriter
from simulator.run import UsageMerger

EPOCH = 1_772_323_200  # 2026-03-01
LINES = ["33612345678", "Zé线路-ü" * 12, "L" * 300, "/site/A", "site/A", "a//b", "a/b", "x/./y", "9"]
FIRSTS = [0, 5, 95, 995, 9_990, 99_990, 2**31 - 40, 2**32 - 40, 10**12 - 7, 4_000_000_000_000_000_000]


class Capture:
    """A sink that keeps the session columns handed over, then passes the batch on."""

    def __init__(self, sink: TeeWriter) -> None:
        self.sink = sink
        self.sessions: list[Any] = []

    def write_columns(self, columns: Any, length: int | None = None) -> None:
        self.sessions.append(columns["session"])
        self.sink.write_columns(columns, length)


def _add_stretches(rng: np.random.Generator, batcher: SessionBatcher) -> None:
    first = int(rng.integers(len(LINES)))
    charging = 0
    for k in range(int(rng.integers(1, 7))):
        line = LINES[(first + k) % len(LINES)] + ("" if rng.random() < 0.3 else str(k))
        stretch = Stretch(line, f"20801{k:010d}", f"35332811{k:08d}", "m2m", "fr", "20801")
        if k == 0 or rng.random() < 0.7:
            charging = int(FIRSTS[int(rng.integers(len(FIRSTS)))]) + int(rng.integers(0, 30))
        # else the ids of the stretch before go on (another line's, or its own after a decision)
        for _ in range(int(rng.integers(1, 4))):  # several adds: flushes may fall between them
            n = int(rng.integers(1, 3000))
            start = np.sort(rng.integers(0, 20 * 86_400, n)).astype(np.int64)
            duration = rng.integers(0, 600, n).astype(np.int64)
            if rng.random() < 0.3:  # sessions past 12 hours: partial records sharing the id
                duration[rng.random(n) < rng.choice([0.001, 0.3])] = int(
                    rng.choice([43_201, 100_000, 200_000])
                )
            ids = charging + np.arange(n, dtype=np.int64)
            jumps = rng.random() < 0.3
            if jumps:  # ids that jump (a retry's, another block's)
                ids += np.cumsum(rng.random(n) < rng.choice([0.002, 0.05])) * int(rng.integers(2, 10**6))
            up = rng.integers(0, 10**6, n).astype(np.int64)
            down = rng.integers(0, 10**6, n).astype(np.int64)
            if not jumps and rng.random() < 0.5:  # drawn in a block: ids known to follow on
                block = Block(start, duration, up, down, ids)
                batcher.spans[id(start)] = (start, duration, up, down, ids, block, 0, n)
            batcher.add(stretch, 0, start, duration, up, down, ids, abnormal=bool(rng.random() < 0.1))
            charging = int(ids[-1]) + int(rng.choice([1, 1, 1, 7]))


def _values(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> list[tuple[Any, ...]]:
    return con.execute(query.format(path=f"'{path}'")).fetchall()


@pytest.mark.parametrize("seed", range(24))
def test_session_ids_read_back_as_line_and_charging_id_everywhere(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    part, csv, merged = tmp_path / "part.parquet", tmp_path / "usage.csv", tmp_path / "usage.parquet"
    writers = [
        UsageWriter(
            part,
            dictionary_columns=DICTIONARY_COLUMNS,
            parquet_options=PART_PARQUET_OPTIONS,
            required_columns=REQUIRED_COLUMNS,
            run_columns=True,
        ),
        UsageWriter(csv),
    ]
    capture = Capture(TeeWriter(writers))
    batcher = SessionBatcher(capture, EPOCH, flush_sessions=int(rng.choice([50, 400, 3000, 1 << 20])))
    _add_stretches(rng, batcher)
    batcher.flush()
    capture.sink.close()
    merger = UsageMerger(merged)
    merger.add(part)
    merger.close()

    # the strings the batch makes: each its prefix and number
    for column in capture.sessions:
        assert isinstance(column, NumberedText)
        want = [
            (column.prefixes[i] + str(x).encode()).decode()
            for i, x in zip(column.index.tolist(), column.numbers.tolist(), strict=True)
        ]
        assert column.text().to_pylist() == want

    table = pq.read_table(part)
    want = [
        f"{a}-{b}" for a, b in zip(table["line"].to_pylist(), table["charging_id"].to_pylist(), strict=True)
    ]
    assert table["session"].to_pylist() == want
    assert pq.read_table(merged)["session"].to_pylist() == want
    con = duckdb.connect()
    for path in (part, merged):
        assert [r[0] for r in _values(con, "SELECT session FROM read_parquet({path})", path)] == want
    csv_rows = _values(con, "SELECT session FROM read_csv({path}, all_varchar = true)", csv)
    assert [r[0] for r in csv_rows] == want
    # the footer's statistics of the session column: right or absent (DuckDB skips row groups by them)
    meta = pq.read_metadata(part)
    at = meta.schema.to_arrow_schema().get_field_index("session")
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(at).statistics
        if stats is not None and stats.has_min_max:
            rows = pq.ParquetFile(part).read_row_group(g, columns=["session"])["session"].to_pylist()
            assert (stats.min, stats.max) == (min(rows), max(rows))
    for path in (part, merged):
        got = _values(
            con, "SELECT min(session), max(session), count(DISTINCT session) FROM read_parquet({path})", path
        )
        assert got == [(min(want), max(want), len(set(want)))]
        for k in rng.integers(0, len(want), 5).tolist():
            query = "SELECT count(*) FROM read_parquet({path}) WHERE session = $1"
            assert con.execute(query.format(path=f"'{path}'"), [want[k]]).fetchone() == (want.count(want[k]),)
