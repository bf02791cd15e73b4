"""Simulator speed: a fleet of MQTT meters end to end to the usage records, against a plain SimPy model.

Full: 10,000 devices for 30 days at one MQTT QoS 1 report every 15 minutes (28.8 million
sessions), sharded over 2 worker processes, to the usage part files; targets <= 15 s wall and
<= 2 GiB peak memory per process.  The CPU seconds of the workers are printed too: the wall
time depends on what else the machine runs, the CPU time much less.  Then, in the main
process, the optional merge of the parts into one `usage.parquet` (`m2msim run` without
`--no-merge`).  Baseline in the same run: a plain SimPy model (one process per device, one
timeout per session, each record appended to a list) on 1,000 devices for the same 30 days.
`--quick`: 1,000 devices for 3 days, baseline on 100 devices.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import simpy

from simulator.engine import Shard, fleet, shard_ranges
from simulator.profiles import builtin_profiles
from simulator.run import merge_usage, run_shards
from simulator.scenario import Scenario, parse_scenario

PERIOD_S = 900


def fleet_doc(devices: int, days: int, shard_devices: int) -> dict[str, Any]:
    return {
        "name": "bench-meters",
        "seed": 7,
        "period": {"start": "2026-03-01T00:00:00Z", "days": days},
        "inventory": {
            "customer": "bench",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "M",
                    "count": devices,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
            ],
        },
        "groups": [
            {
                "name": "meters",
                "lines": "M",
                "schedule": {"period": "15min", "jitter": "tr37868-model1"},
                "application": {
                    "profile": "mqtt-qos1",
                    "payload": {"pareto": {"alpha": 2.5, "min": 20, "max": 200}},
                },
            }
        ],
        "run": {"shard_devices": shard_devices},
    }


def baseline(devices: int, days: int) -> tuple[float, float, int]:
    """One SimPy process per device, a timeout per session, records appended to a list."""
    prof = builtin_profiles()["mqtt-qos1"]
    env = simpy.Environment()
    records: list[tuple[str, int, int, int, int]] = []

    def device(line: str, phase: float) -> Any:
        yield env.timeout(phase)
        while True:
            records.append((line, int(env.now), prof.report.duration_s, prof.report.up, prof.report.down))
            yield env.timeout(PERIOD_S)

    for i in range(devices):
        env.process(device(f"M{i:05d}", (i * 7919) % PERIOD_S))
    t0, c0 = time.perf_counter(), time.process_time()
    env.run(until=days * 86_400)
    return time.perf_counter() - t0, time.process_time() - c0, len(records)


class _CountingSink:
    """Takes the batcher's column batches and only counts them: a shard without the Parquet encoding."""

    rows = 0

    def write_columns(self, columns: Any, length: int | None = None) -> None:
        self.rows += length or 0


def without_encoding(scenario: Scenario, out: Path) -> tuple[float, int]:
    """(CPU seconds, sessions) of the first shard, in this process, with every step but the encoding."""
    a, b = shard_ranges(scenario)[0]
    shard = Shard(scenario, 0, fleet(scenario)[a:b], out)
    shard.batcher.writer = _CountingSink()
    c0 = time.process_time()
    shard.run()
    return time.process_time() - c0, shard.batcher.stats.sessions


def _rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def main(quick: bool) -> None:
    devices, days, base_devices = (1_000, 3, 100) if quick else (10_000, 30, 1_000)
    workers = 2
    scenario = parse_scenario(fleet_doc(devices, days, max(devices // 10, 1)), "<bench>")
    out = Path(tempfile.mkdtemp(prefix="m2msim-bench-"))
    try:
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        stats = run_shards(scenario, out, workers=workers)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        sessions = sum(s.groups[0]["data_sessions"] for s in stats)
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "usage").glob("part-*.parquet"))
        size = sum(p.stat().st_size for p in (out / "usage").glob("part-*.parquet"))
        m0, mc0 = time.perf_counter(), time.process_time()
        merge_usage(out, csv=False)
        merge_wall, merge_cpu = time.perf_counter() - m0, time.process_time() - mc0
        bare_cpu, bare_sessions = without_encoding(scenario, out / "bare")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(
        f"simulator: {devices:,} devices x {days} days, 1 MQTT report / 15 min, {len(shard_ranges(scenario))} shards "
        f"on {workers} processes: {sessions:,} sessions, {rows:,} usage records ({size / 2**20:.0f} MiB Parquet)"
    )
    print(f"  wall {wall:.2f} s -> {sessions / wall / 1e6:.2f} M sessions/s  (target <= 15 s for 28.8 M)")
    print(f"  CPU in the workers {cpu:.1f} s ({cpu / wall:.2f} cores busy on average; the machine is shared)")
    worker_mib, main_mib = _rss_mib(resource.RUSAGE_CHILDREN), _rss_mib(resource.RUSAGE_SELF)
    print(
        f"  peak RSS: worker {worker_mib:.0f} MiB (the largest of {workers}), main {main_mib:.0f} MiB "
        f"(its high-water mark so far, the merge and the one-shard run included); the whole run stays under "
        f"{workers * worker_mib + main_mib:.0f} MiB (target <= 2048 MiB)"
    )
    print(
        f"  optional merge into one usage.parquet: {merge_wall:.2f} s wall, {merge_cpu:.1f} s CPU "
        f"(not in the figures above; `m2msim run --no-merge` skips it)"
    )
    b_wall, b_cpu, b_sessions = baseline(base_devices, days)
    b_rate = b_sessions / b_wall
    print(
        f"baseline (plain SimPy, 1 process per device, 1 timeout per session): {base_devices:,} devices x {days} days, "
        f"{b_sessions:,} sessions in {b_wall:.2f} s ({b_cpu:.2f} s CPU) -> {b_rate / 1e6:.3f} M sessions/s"
    )
    print(
        f"  ratio: {sessions / wall / b_rate:.1f}x the baseline's sessions per second (records written vs only listed)"
    )
    b_cpu_rate = b_sessions / max(b_cpu, 1e-9)
    if cpu > 0:
        print(f"  per CPU second: {sessions / cpu / b_cpu_rate:.1f}x the baseline's sessions per CPU second")
    print(
        f"  one shard without the Parquet encoding (everything else kept): {bare_sessions:,} sessions in "
        f"{bare_cpu:.2f} s CPU -> {bare_sessions / bare_cpu / b_cpu_rate:.1f}x the baseline per CPU second"
    )
