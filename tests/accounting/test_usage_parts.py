"""Usage parts aggregated one by one, where they are written, sum to the aggregate of the files read as one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accounting import inventory_from_dict, rate_run
from accounting.catalog import load_catalog
from accounting.usage import UsageReader, month_bounds
from accounting.usage_parts import PartAggregates, aggregate_part
from accounting.usage_writer import UsageWriter

MARCH = month_bounds(2026, 3)
T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


def write_part(
    path: Path, lines: list[str], *, shard: int, run: str = "r seed 1", seed: int = 0, late: int = 0
) -> Path:
    """A part as a run's shard writes it: data columns, footer claiming its records unique; its
    last `late` records start after the month."""
    rng = np.random.default_rng(seed)
    n = 500
    with UsageWriter(path, origin={"run": run, "shard": shard}) as w:
        w.write_columns(
            {
                "line": [lines[i % len(lines)] for i in range(n)],
                "type": ["data"] * n,
                "start": T0
                + np.sort(rng.integers(0, 30 * 86_400, n))
                + np.r_[np.zeros(n - late), np.full(late, 40 * 86_400)].astype(np.int64),
                "duration_s": rng.integers(1, 600, n),
                "bytes_up": rng.integers(0, 5_000, n),
                "bytes_down": rng.integers(0, 5_000, n),
                "zone": [("fr", "eu", "fr")[i % 3] for i in range(n)],
                "session": [f"{lines[i % len(lines)]}-{i}" for i in range(n)],
            }
        )
    return path


def key(groups: list[Any]) -> list[Any]:
    return sorted(groups, key=repr)


def inventory(lines: list[str]) -> Any:
    return inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id": i,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
                for i in lines
            ],
        },
        "<test>",
    )


def test_summed_parts_equal_the_files_read_as_one(tmp_path: Path) -> None:
    periods = load_catalog().first_periods()
    files = [
        write_part(tmp_path / "part-00000.parquet", ["A", "B"], shard=0, seed=1),
        write_part(tmp_path / "part-00001.parquet", ["B", "C"], shard=1, seed=2),  # B in both: summed
    ]
    parts = PartAggregates([aggregate_part(p, *MARCH, periods) for p in files])
    whole = UsageReader(files).aggregate(*MARCH, periods)
    summed = parts.aggregate(*MARCH, periods)
    assert key(summed) == key(whole)
    assert len(summed) < sum(len(p.groups) for p in parts.parts)  # B's groups met across the files
    inv = inventory(["A", "B", "C"])
    assert rate_run(inv, files, reader=parts).invoice.to_json() == rate_run(inv, files).invoice.to_json()


@pytest.mark.parametrize("case", ["same shard twice", "other month", "no claim", "two runs"])
def test_parts_that_cannot_be_summed_are_read_as_one(tmp_path: Path, case: str) -> None:
    periods = load_catalog().first_periods()
    a = write_part(tmp_path / "a.parquet", ["A"], shard=0, seed=1)
    # the same records under another name: duplicates across the files, which only the files read
    # as one can find (the same shard twice), or a copy without the footer's claim, or the same
    # records as another run's shard (its scenario under another name, or cut into other shards)
    b = tmp_path / "b.parquet"
    if case == "two runs":
        write_part(b, ["A"], shard=1, seed=1, run="r again seed 1")
    elif case == "no claim":
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(a), b)
    else:
        write_part(b, ["A"], shard=0, seed=1)
    month = MARCH if case != "other month" else month_bounds(2026, 4)
    parts = PartAggregates([aggregate_part(a, *MARCH, periods), aggregate_part(b, *month, periods)])
    whole = UsageReader([a, b]).aggregate(*MARCH, periods)
    assert key(parts.aggregate(*MARCH, periods)) == key(whole)
    assert any(g.code == "duplicate" for g in whole)
    inv = inventory(["A"])
    with_parts = rate_run(inv, [a, b], reader=parts).invoice
    assert with_parts.rejects and with_parts.to_json() == rate_run(inv, [a, b]).invoice.to_json()


def test_summed_parts_with_rejects_list_them_as_the_files_read_as_one(tmp_path: Path) -> None:
    periods = load_catalog().first_periods()
    files = [
        write_part(tmp_path / "part-00000.parquet", ["A", "B"], shard=0, seed=1),
        write_part(tmp_path / "part-00001.parquet", ["B", "C"], shard=1, seed=2, late=3),
    ]
    parts = PartAggregates([aggregate_part(p, *MARCH, periods) for p in files])
    assert parts._summable(*MARCH, periods)
    inv = inventory(["A", "B", "C"])
    summed, whole = rate_run(inv, files, reader=parts).invoice, rate_run(inv, files).invoice
    assert [(r.file, r.row) for r in summed.rejects] == [("part-00001.parquet", n) for n in (499, 500, 501)]
    assert summed.to_json() == whole.to_json()
