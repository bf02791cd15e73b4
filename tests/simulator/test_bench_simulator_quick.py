"""The simulator's benchmark runs end to end at its small size (`python -m benchmarks simulator
--quick`): a change to how shards make their folders once stopped it with FileNotFoundError, and
nothing in the suite ran it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_simulator_benchmark_runs_at_its_small_size() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "simulator", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("== bench_simulator done in") for line in lines), r.stdout[-2000:]
    assert any("one shard in a worker" in line and "sessions" in line for line in lines), r.stdout[-2000:]
