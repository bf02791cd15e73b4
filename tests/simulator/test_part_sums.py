"""A usage part's aggregate made from the sums its writer kept equals the aggregate of the file read back.

`accounting.usage_parts.PartSums` sums each batch as the writer writes it; `aggregate_part(...,
sums=...)` uses those sums instead of reading the records when the reader's scan of the file is a
settled one.  Here both ways, on the shards of every shipped scenario and on generated parts of
every record type (calls, SMS, NULLs, an empty zone, `delivered` constant or mixed, records
outside the month, negative byte counts), must give the same Groups, and a run's invoice the same
text and JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accounting import inventory_from_dict, rate_run
from accounting.catalog import load_catalog
from accounting.usage import month_bounds
from accounting.usage_parts import PartAggregates, PartSums, aggregate_part
from accounting.usage_writer import UsageWriter
from m2msim.gcpause import paused_gc
from simulator.engine import Shard, fleet, shard_ranges
from simulator.run import rating_spec
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MARCH = month_bounds(2026, 3)
T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


def ordered(groups: list[Any]) -> list[Any]:
    return sorted(groups, key=repr)


class Counted(PartSums):
    """PartSums that counts the settled scans it answered."""

    answered = 0

    def settled_rows(self, plan: Any, first_periods: Any) -> Any:
        rows = super().settled_rows(plan, first_periods)
        if rows is not None:
            Counted.answered += 1
        return rows


@pytest.mark.parametrize(
    ("name", "days", "lines"),
    [
        ("asset-trackers-europe", 2, 40),
        ("default", 1, 40),
        ("firmware-retry-storm", 12, 20),
        ("heavy-data-intense", 2, 30),
        ("smart-meters", 1.5, 40),
        ("legacy-csd", 2, 30),
        ("alarm-panels", 2, 30),
        ("public-apn-scan", 1, 30),
    ],
)
def test_the_sums_of_a_shipped_scenarios_shards_equal_their_files_read_back(
    tmp_path: Path, name: str, days: float, lines: int
) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.yaml", days=days, max_lines=lines, shard_devices=16)
    spec = rating_spec(sc)
    Counted.answered = 0
    for index, (a, b) in enumerate(shard_ranges(sc)):
        with paused_gc():
            shard = Shard(sc, index, fleet(sc, a, b), tmp_path, sums=True)
            assert shard.part_sums is not None
            shard.part_sums.__class__ = Counted
            shard.run()
        summed = aggregate_part(shard.part_path, *spec, sums=shard.part_sums)
        read = aggregate_part(shard.part_path, *spec)
        assert ordered(summed.groups) == ordered(read.groups)
        assert (summed.origin, summed.first_periods) == (read.origin, read.first_periods)
    assert Counted.answered > 0, Counted.answered  # most parts are settled: the sums stood in


def write_part(path: Path, seed: int, shape: str, sums: PartSums, *, shard: int = 0) -> Path:
    """A part of data, calls and SMS records in batches of columns and records one by one."""
    rng = np.random.default_rng(seed)
    lines = [f"L{i}" for i in range(7)]
    with UsageWriter(path, origin={"run": "r seed 1", "shard": shard}, batch_rows=50, tally=sums.add) as w:
        for batch in range(3):
            n = int(rng.integers(250, 400))
            types = rng.choice(["data", "data", "voice", "csd", "sms"], n)
            is_sms = types == "sms"
            calls = (types == "voice") | (types == "csd")
            up = rng.integers(0, 50_000, n)
            down = rng.integers(0, 50_000, n)
            duration = rng.integers(0, 7_200, n)
            duration[calls & (rng.random(n) < 0.2)] = 0
            start = T0 + rng.integers(0, 29 * 86_400, n)
            if shape == "late" and batch == 2:
                start[-2:] = T0 + 40 * 86_400
            if shape == "negative" and batch == 1:
                up[3] = -5
            columns: dict[str, Any] = {
                "line": [lines[i] for i in rng.integers(0, len(lines), n)],
                "type": types.tolist(),
                "start": start,
                "duration_s": duration,
                "bytes_up": up,
                "bytes_down": down,
                "zone": [("fr", "eu", "", "world1")[i] for i in rng.integers(0, 4, n)],
                "dest": [("national" if s else None) for s in is_sms.tolist()],
                "session": [f"s{seed}-{batch}-{i}" for i in range(n)],
            }
            if shape == "runs":  # records in runs of one key, as a shard writes them
                types = np.where(calls, "voice", "data")
                columns["type"] = types.tolist()
                order = np.lexsort((types, columns["line"]))
                columns["line"] = [columns["line"][i] for i in order]
                columns["type"] = [columns["type"][i] for i in order]
                columns["zone"] = ["eu"] * n
                columns["dest"] = [None] * n
            elif shape == "many keys":  # more keys than rows could index densely
                columns["line"] = [f"L{i % 5}-{batch}-{i}" for i in range(n)]
                columns["dest"] = [f"+3361{i:07d}" if s else None for i, s in enumerate(is_sms.tolist())]
            elif shape == "one key":  # every record of a batch has the same key
                columns["line"], columns["type"], columns["zone"] = ["L1"] * n, ["voice"] * n, ["fr"] * n
                columns["dest"] = [None] * n
            if shape == "delivered mixed":
                columns["delivered"] = [bool(i % 3) if s else None for i, s in enumerate(is_sms.tolist())]
            elif shape == "delivered constant":
                columns["delivered"] = [True if s else None for s in is_sms.tolist()]
            if shape == "missing bytes" and batch == 0:
                columns["bytes_down"] = [None if i % 17 == 0 else int(v) for i, v in enumerate(down)]
            w.write_columns(columns, n)
        from accounting.records import UsageRecord, UsageType, Zone

        for i in range(120):  # one by one (the writer's own batches of 50)
            w.write(
                UsageRecord(
                    line=lines[i % len(lines)],
                    type=UsageType.VOICE if i % 2 else UsageType.DATA,
                    start=datetime.fromtimestamp(T0 + 3_600 * i, UTC),
                    duration_s=61 * (i % 5),
                    bytes_up=i * 10,
                    bytes_down=i,
                    zone=Zone.EU if i % 3 == 0 else Zone.FR,
                    session=f"one-{seed}-{i}",
                )
            )
    return path


def inventory() -> Any:
    return inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id": f"L{i}",
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
                for i in range(6)  # L6 is not in the inventory: its records are refused
            ],
        },
        "<test>",
    )


@pytest.mark.parametrize(
    "shape",
    [
        "plain",
        "runs",
        "one key",
        "many keys",
        "delivered mixed",
        "delivered constant",
        "missing bytes",
        "late",
        "negative",
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_the_sums_of_generated_parts_equal_the_files_read_back(tmp_path: Path, shape: str, seed: int) -> None:
    periods = load_catalog().first_periods()
    sums = [Counted(), Counted()]
    if seed == 3:  # the integer sums, as for ko past a float's exact range
        sums[0].EXACT = 0
    files = [
        write_part(tmp_path / f"part-0000{k}.parquet", seed * 2 + k, shape, sums[k], shard=k) for k in (0, 1)
    ]
    Counted.answered = 0
    summed = [aggregate_part(p, *MARCH, periods, sums=s) for p, s in zip(files, sums, strict=True)]
    read = [aggregate_part(p, *MARCH, periods) for p in files]
    for a, b in zip(summed, read, strict=True):
        assert ordered(a.groups) == ordered(b.groups)
    if shape not in ("late", "negative"):
        assert Counted.answered == 2  # settled: the sums stood in for the records
    else:
        assert Counted.answered == 0  # a row check to make: the files were read
    inv = inventory()
    with_sums = rate_run(inv, files, reader=PartAggregates(summed)).invoice
    whole = rate_run(inv, files).invoice
    assert with_sums.to_json() == whole.to_json()  # (the same files rated: their usage_files too)
    assert with_sums.render_text() == whole.render_text()


def test_sums_that_do_not_match_the_file_are_not_used(tmp_path: Path) -> None:
    """A part rewritten after its sums were kept (another row count): the file is read."""
    periods = load_catalog().first_periods()
    stale, fresh = Counted(), PartSums()
    write_part(tmp_path / "part-00000.parquet", 1, "plain", stale)
    write_part(tmp_path / "part-00000.parquet", 2, "plain", fresh)
    assert stale.rows != fresh.rows
    Counted.answered = 0
    summed = aggregate_part(tmp_path / "part-00000.parquet", *MARCH, periods, sums=stale)
    read = aggregate_part(tmp_path / "part-00000.parquet", *MARCH, periods)
    assert ordered(summed.groups) == ordered(read.groups)
    assert Counted.answered == 0


def test_a_batch_beyond_exact_sums_breaks_the_sums(tmp_path: Path) -> None:
    sums = PartSums()
    with UsageWriter(tmp_path / "p.parquet", tally=sums.add) as w:
        w.write_columns(
            {"line": ["A"], "type": ["data"], "start": [T0], "bytes_up": [1 << 41], "bytes_down": [0]}, 1
        )
    assert sums.broken
    periods = load_catalog().first_periods()
    assert sums.settled_rows(Any, periods) is None  # type: ignore[arg-type]
