"""`m2msim run --cluster` on a Dask cluster of `dask scheduler` + `dask worker` processes (loopback):
the same files as a local run of the same seed, and no process of the cluster left afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from processes import process_group

from simulator.cluster import ClusterError, loopback_cluster

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "smart-meters.yaml"
# 2 groups capped at 100 lines each: 200 devices, 4 shards, one day (persistent and per-report
# sessions, alarms, a SIM swap share)
SMALL = ["--days", "1", "--max-lines", "100", "--shard-devices", "50", "--seed", "16"]
COMPARED = ("invoice.json", "summary.json", "alarms.jsonl", "scenario.yaml")


def _run(out: Path, *where: str) -> None:
    argv = [sys.executable, "-m", "m2msim", "run", str(SCENARIO), *SMALL, *where, "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr


def test_cluster_run_writes_the_local_runs_files(tmp_path: Path) -> None:
    _run(tmp_path / "local", "--workers", "2")
    try:
        with loopback_cluster(2, tmp_path / "logs") as cluster:
            pgid = cluster.scheduler_pid
            # every process of the cluster in the one group stopped as one (which may also hold, for
            # a moment, a short-lived helper a worker or the scheduler started: seen once in a full run)
            assert {cluster.scheduler_pid, *cluster.worker_pids} <= set(process_group(pgid))
            _run(tmp_path / "cluster", "--cluster", cluster.address)
    except ClusterError as exc:  # the dask command-line tools are part of the dependencies
        pytest.fail(str(exc))
    assert process_group(pgid) == []  # the scheduler and both workers stopped and waited for
    local_parts = sorted(p.name for p in (tmp_path / "local" / "usage").glob("part-*.parquet"))
    assert len(local_parts) == 4
    assert sorted(p.name for p in (tmp_path / "cluster" / "usage").glob("part-*.parquet")) == local_parts
    for name in local_parts:
        local = (tmp_path / "local" / "usage" / name).read_bytes()
        assert (tmp_path / "cluster" / "usage" / name).read_bytes() == local, name
    for name in COMPARED:
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert (tmp_path / "local" / "usage.parquet").read_bytes() == (
        tmp_path / "cluster" / "usage.parquet"
    ).read_bytes()


def test_cluster_stops_even_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="interrupted"), loopback_cluster(1, tmp_path / "logs") as cluster:
        pgid = cluster.scheduler_pid
        assert process_group(pgid)
        raise RuntimeError("interrupted")
    assert process_group(pgid) == []
