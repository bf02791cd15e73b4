"""The usage records of seeded runs of the shipped scenarios, fixed by their digest.

The part files' layout (encodings, row groups, compression) may change for speed; the records may
not.  Each digest is of every record of a run, every column as a reader sees it, the rows sorted:
it was taken from the code before the part files' layout last changed, and a change of any value,
row or column type shows here.  A deliberate change of the model (new traffic, new columns) updates
the digests, and says why in its commit.  Also: how a shard worker is set up to keep its memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from simulator.run import simulate
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# (scenario, days, lines) -> (records, sha256 of the sorted records' text)
EXPECTED = {
    ("asset-trackers-europe", 2, 40): (
        4087,
        "36ce2d7de4a477bc9d6bcc4d9d61a019453b4643f7fbc187a16b648804bfa0b2",
    ),
    ("default", 1, 40): (5339, "832f4b056a86b00ab9b1bdbc337a1f39287cf6c8340759fd89c2054fffa8a966"),
    ("firmware-retry-storm", 12, 20): (
        38896,
        # the devices back from the 3-hour cell outage attach after their module's network search;
        # the failed reconnection attempts' records are closed with cause 0 (released by the device)
        "61ef8fdbfe6776d7b215341c7af8b1ca720ce2c65e6c2c3b4d4990ac89277029",
    ),
    ("heavy-data-intense", 2, 30): (5880, "c3694603136a3821cf57c288aa119127d3e94e4022deb02d4283bfd84b4c879a"),
    ("smart-meters", 1.5, 40): (5880, "a78d5484667a10a0f6b733b83390261042d2e563a23f9fb73eb36ab58e2fd892"),
}


def records_digest(parts: list[Path]) -> tuple[int, str]:
    """(rows, digest) of the records of `parts` read as one: every column, by name, rows sorted."""
    con = duckdb.connect()
    files = [str(p) for p in parts]
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({files!r})").fetchall()
    columns = ", ".join(f'"{name}"' for name in sorted(r[0] for r in described))
    rows = con.execute(f"SELECT {columns} FROM read_parquet({files!r}) ORDER BY ALL").fetchall()
    types = con.execute(f"DESCRIBE SELECT {columns} FROM read_parquet({files!r})").fetchall()
    text = repr([(r[0], r[1]) for r in types]) + "\n" + "\n".join(repr(r) for r in rows)
    return len(rows), hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("name", "days", "lines"), sorted(EXPECTED))
def test_the_records_of_a_seeded_run_are_unchanged(
    tmp_path: Path, name: str, days: float, lines: int
) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.yaml", days=days, max_lines=lines, shard_devices=16)
    result = simulate(sc, tmp_path / "run", workers=1, invoice=False, merge=False)
    parts = sorted((result.out_dir / "usage").glob("part-*.parquet"))
    assert len(parts) > 1
    assert records_digest(parts) == EXPECTED[(name, days, lines)]


def _worker_state() -> tuple[str, bool]:
    import os

    import pyarrow as pa

    from accounting import usage_parts

    return pa.default_memory_pool().backend_name, any(pid == os.getpid() for pid, _ in usage_parts._WORKER)


@pytest.mark.parametrize("rates", [False, True])
def test_a_shard_worker_keeps_its_memory_and_starts_duckdb_before_its_first_shard(rates: bool) -> None:
    """Arrow's buffers from the C library's kept heap; DuckDB (which trims that heap when its
    database starts) connected at once when the worker will aggregate its parts for the rating."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from simulator.run import shard_worker_init

    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=shard_worker_init, initargs=(rates,)) as pool:
        backend, connected = pool.submit(_worker_state).result()
    assert backend == "system"
    assert connected is rates
