"""Simulator speed as a user meets it: `m2msim run` of a month of MQTT meters end to end, against a plain SimPy model.

Full: 10,000 devices for 30 days at one MQTT QoS 1 report every 15 minutes (28.8 million
sessions), `m2msim run SCENARIO --workers 2 --no-merge` in a process of its own, from start-up
to the last file: scenario load, the shards on 2 worker processes (usage part files), the
rating (invoice), the offer comparison, the summary and `report.html`.  Target <= 8 s wall and
>= 20x the baseline's sessions per second.  Three runs, each paired with a baseline run right
after it (the machine is shared and its speed swings: a ratio is taken within a pair); the
medians are printed.  The baseline: a plain SimPy model (one process per device, one timeout
per session, each record appended to a list) on 1,000 devices for the same 30 days.  Then, once,
the shards alone in this process's pool (no start-up, no rating, no report) and their CPU seconds,
and one shard in a worker set up as a run's, with and without the Parquet encoding.
`--quick`: 1,000 devices for 3 days, baseline on 100 devices, one pair.

As in the start-up benchmark, Python's compiled-module caches are kept in a folder of the
benchmark's own (`PYTHONPYCACHEPREFIX`), written by an untimed first run of a small fleet: an
installed package has them, and a shell that sets `PYTHONDONTWRITEBYTECODE` would otherwise make
every run compile each m2msim module before its workers fork.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import simpy
import yaml

from accounting.usage_parts import aggregate_part
from m2msim.gcpause import paused_gc
from simulator.engine import Shard, fleet, shard_ranges
from simulator.profiles import builtin_profiles
from simulator.run import rating_spec, run_shards, shard_worker_init
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


def write_scenario(folder: Path, devices: int, days: int, shard_devices: int) -> Path:
    """The bench fleet as a scenario file, as a user would write it."""
    path = folder / f"meters-{devices}.yaml"
    path.write_text(
        yaml.safe_dump(fleet_doc(devices, days, shard_devices), sort_keys=False), encoding="utf-8"
    )
    return path


def m2msim_command() -> list[str]:
    """The installed `m2msim` beside this interpreter (the console script users run)."""
    script = Path(sys.executable).with_name("m2msim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "m2msim"]


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (and of theirs: a run's forked workers)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU seconds) of one `m2msim ...` command, its workers included (output discarded;
    a failure stops the bench)."""
    t0, c0 = time.perf_counter(), children_cpu()
    done = subprocess.run([*m2msim_command(), *args], capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if done.returncode != 0:
        raise RuntimeError(f"m2msim {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return wall, cpu


def phases(run_dir: Path, launched: float) -> tuple[float, float, float]:
    """A run's wall split by the times of the files it wrote (the folder is renamed whole, times
    kept): start-up (to `scenario.yaml`), the shards (to the last usage part), after them (to
    `report.html`: the last part's scan for the rating, the invoice, comparison, summary, report)."""
    begun = (run_dir / "scenario.yaml").stat().st_mtime
    shards_done = max(p.stat().st_mtime for p in (run_dir / "usage").glob("part-*.parquet"))
    ended = (run_dir / "report.html").stat().st_mtime
    return begun - launched, shards_done - begun, ended - shards_done


def usage_rows(run_dir: Path) -> int:
    return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in (run_dir / "usage").glob("part-*.parquet"))


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


def _one_shard(scenario: Scenario, out: Path, index: int, encode: bool) -> tuple[float, int, float, float]:
    """(CPU seconds, sessions) of shard `index` in this process, its usage part's sums kept for the
    rating as a run's shards keep them; `encode=False`: every step but the Parquet encoding (the
    batches are only counted).  Then, with the encoding, the CPU seconds of the part's aggregate
    for the rating from those sums (as a run makes it) and by reading the part back (0.0 without)."""
    a, b = shard_ranges(scenario)[index]
    with paused_gc():
        shard = Shard(scenario, index, fleet(scenario, a, b), out, sums=encode)
        if not encode:
            shard.batcher.writer = _CountingSink()
        c0 = time.process_time()
        shard.run()
        cpu = time.process_time() - c0
        summed = read = 0.0
        if encode:
            spec = rating_spec(scenario)
            c0 = time.process_time()
            aggregate_part(shard.part_path, *spec, sums=shard.part_sums)
            summed = time.process_time() - c0
            c0 = time.process_time()
            aggregate_part(shard.part_path, *spec)
            read = time.process_time() - c0
        return cpu, shard.batcher.stats.sessions, summed, read


def shard_split(scenario: Scenario, out: Path) -> tuple[float, float, int, float, float]:
    """(CPU seconds with, without the encoding, sessions, the part's aggregate from the sums, by
    reading it back) of the second shard, in a worker process set up as a run's are
    (`shard_worker_init`, aggregating its parts), after a first shard (a worker's first shard also
    faults its memory in): the same shard twice, so that the difference is the encoding."""
    ctx = multiprocessing.get_context("fork")
    out.mkdir(exist_ok=True)  # (a shard makes its folders in the run's, never the run's itself)
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=shard_worker_init, initargs=(True,)) as pool:
        pool.submit(_one_shard, scenario, out, 0, True).result()
        with_cpu, sessions, summed, read = pool.submit(_one_shard, scenario, out, 1, True).result()
        bare_cpu, *_ = pool.submit(_one_shard, scenario, out, 1, False).result()
    return with_cpu, bare_cpu, sessions, summed, read


def _rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def main(quick: bool) -> None:
    devices, days, base_devices, pairs = (1_000, 3, 100, 1) if quick else (10_000, 30, 1_000, 3)
    workers = 2
    tmp = Path(tempfile.mkdtemp(prefix="m2msim-bench-"))
    try:
        scen_path = write_scenario(tmp, devices, days, max(devices // 10, 1))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        (tmp / "warm").mkdir()
        warm = write_scenario(tmp / "warm", 20, 1, 10)  # a first run writes the caches (untimed)
        run_cli(
            ["run", str(warm), "--workers", str(workers), "--no-merge", "--out", str(tmp / "warm" / "run")],
            env=env,
        )
        walls, cpus, ratios, cpu_ratios, base_rates = [], [], [], [], []
        split: list[tuple[float, float, float]] = []
        sessions = rows = 0
        for k in range(pairs):
            out = tmp / f"run-{k}"
            launched = time.time()
            wall, cpu = run_cli(
                ["run", str(scen_path), "--workers", str(workers), "--no-merge", "--out", str(out)], env=env
            )
            rows = usage_rows(out)
            split.append(phases(out, launched))
            sessions = rows  # one record per session (no session reaches a 12-hour cut)
            shutil.rmtree(out)
            b_wall, b_cpu, b_sessions = baseline(base_devices, days)
            walls.append(wall)
            cpus.append(cpu)
            cpu_ratios.append((sessions / cpu) / (b_sessions / b_cpu))
            base_rates.append(b_sessions / b_wall)
            ratios.append(sessions / wall / base_rates[-1])
        print(
            f"simulator end to end: `m2msim run --workers {workers} --no-merge` of {devices:,} devices x {days} days, "
            f"1 MQTT report / 15 min: {sessions:,} sessions, {rows:,} usage records, invoice, offer comparison, "
            f"report.html"
        )
        print(
            f"  wall {' / '.join(f'{w:.2f}' for w in walls)} s, median {statistics.median(walls):.2f} s -> "
            f"{sessions / statistics.median(walls) / 1e6:.2f} M sessions/s  (target <= 8 s for 28.8 M)"
        )
        print(
            f"  baseline (plain SimPy, 1 process per device, 1 timeout per session, {base_devices:,} devices x "
            f"{days} days) right after each: {' / '.join(f'{r / 1e6:.3f}' for r in base_rates)} M sessions/s"
        )
        print(
            f"  ratio within each pair: {' / '.join(f'{r:.1f}' for r in ratios)}x, median "
            f"{statistics.median(ratios):.1f}x the baseline's sessions per second (target >= 20x)"
        )
        print(
            f"  CPU seconds of a run, its workers included: {' / '.join(f'{c:.1f}' for c in cpus)}, median "
            f"{statistics.median(cpus):.1f} (on an idle 2-core machine the wall is at least half of it); per CPU "
            f"second {' / '.join(f'{r:.1f}' for r in cpu_ratios)}x, median {statistics.median(cpu_ratios):.1f}x the "
            f"baseline's sessions (less sensitive than the wall to what else the machine runs)"
        )
        start_s, shards_s, after_s = (statistics.median(x) for x in zip(*split, strict=True))
        print(
            f"  where a run's wall goes (medians, from the times of the files it wrote): start-up {start_s:.2f} s, "
            f"the shards {shards_s:.2f} s, after the last part {after_s:.2f} s (its scan for the rating, invoice, "
            f"comparison, summary, report on one core)"
        )
        print(f"  peak RSS of a run's processes: {_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB (the largest)")
        scenario = parse_scenario(fleet_doc(devices, days, max(devices // 10, 1)), "<bench>")
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        (tmp / "shards").mkdir()  # (a shard makes its folders in the run's, never the run's itself)
        stats = run_shards(scenario, tmp / "shards", workers=workers)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        n = sum(s.groups[0]["data_sessions"] for s in stats)
        with_cpu, bare_cpu, bare_sessions, summed_cpu, read_cpu = shard_split(scenario, tmp / "split")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"  the shards alone ({len(shard_ranges(scenario))} shards on {workers} processes, in this process's pool): "
        f"{n:,} sessions in {wall:.2f} s wall, {cpu:.1f} s CPU in the workers ({cpu / wall:.2f} cores busy)"
    )
    print(
        f"  one shard in a worker (after a first one), {bare_sessions:,} sessions: {with_cpu:.2f} s CPU, "
        f"{bare_cpu:.2f} without the Parquet encoding (the encoding {max(with_cpu - bare_cpu, 0):.2f}); "
        f"then its part's aggregate for the rating {summed_cpu:.3f} CPU-s from the sums kept as it was "
        f"written ({read_cpu:.3f} reading the part back)"
    )
    print(f"  machine load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
