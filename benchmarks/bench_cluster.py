"""Scale beyond one machine: `m2msim run --cluster` on a Dask cluster of command-line processes.

The benchmark starts `dask scheduler` and 2 `dask worker` processes on 127.0.0.1
(`simulator.cluster.loopback_cluster`: one process group, stopped at the end even on a failure
or Ctrl-C), then, all in one run:

1. a small run (1,000 devices, 30 days) on the cluster, after a first one that lets the workers
   import the simulator: the fixed cost a (start-up, connection);
2. 10,000 devices on the cluster and, for the overhead of the cluster path, the same with
   `--workers 2` on local processes;
3. from those, the shard plan: per device, the workers' CPU seconds (c) and the coordinating
   process's serial time after the shards (d: the rating, the offer comparison, the report);
   predicted wall = a + c x devices / workers + d x devices;
4. 100,000 devices on the cluster, the prediction checked against it;
5. the projection to 1,000,000 devices on N machines (docs/scaling.md explains the model).

Figures: wall per run; the workers' CPU and peak RSS (VmHWM of each `dask worker` process); the
scheduler's CPU seconds and RSS (its overhead); the coordinating `m2msim run` process's CPU and
peak RSS.  `--quick`: 200 / 1,000 / 4,000 devices for 3 days.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_simulator import run_cli, usage_rows, write_scenario
from simulator.cluster import LoopbackCluster, loopback_cluster

WORKERS = 2
SHARD_DEVICES = 1_000
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """utime + stime of a live process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _mib(pid: int, key: str) -> float:
    """A /proc/PID/status memory figure (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


@dataclass
class Measured:
    devices: int
    wall: float
    rows: int
    worker_cpu: float  # the workers' CPU seconds during the run
    scheduler_cpu: float
    main_cpu: float  # the coordinating `m2msim run` process (and what it waited for)
    size: int  # bytes of usage part files


def measure(tmp: Path, devices: int, days: int, cluster: LoopbackCluster | None, label: str) -> Measured:
    scen = write_scenario(tmp, devices, days, min(SHARD_DEVICES, max(devices // 10, 1)))
    out = tmp / f"run-{label}"
    where = ["--cluster", cluster.address] if cluster else ["--workers", str(WORKERS)]
    pids = cluster.worker_pids if cluster else []
    w0 = sum(_cpu_s(p) for p in pids)
    s0 = _cpu_s(cluster.scheduler_pid) if cluster else 0.0
    wall, main_cpu = run_cli(["run", str(scen), *where, "--no-merge", "--force", "--out", str(out)])
    worker_cpu = sum(_cpu_s(p) for p in pids) - w0
    sched_cpu = (_cpu_s(cluster.scheduler_pid) - s0) if cluster else 0.0
    rows = usage_rows(out)
    size = sum(p.stat().st_size for p in (out / "usage").glob("part-*.parquet"))
    shutil.rmtree(out)
    m = Measured(devices, wall, rows, worker_cpu, sched_cpu, main_cpu, size)
    print(f"  ({label}: {m})", flush=True)  # as it comes: a long run interrupted still leaves its figures
    return m


@dataclass
class Plan:
    """The shard plan's cost model, from measured runs (see the module docstring)."""

    fixed_s: float  # a
    worker_cpu_per_device: float  # c
    serial_per_device: float  # d
    rows_per_device: float
    bytes_per_device: float

    def wall(self, devices: int, machines: int = 1, cores: int = WORKERS) -> float:
        return (
            self.fixed_s
            + self.worker_cpu_per_device * devices / (machines * cores)
            + self.serial_per_device * devices
        )


def make_plan(small: Measured, mid: Measured) -> Plan:
    c = mid.worker_cpu / mid.devices
    fixed = max(small.wall - c * small.devices / WORKERS, 0.0)
    shards_wall = c * mid.devices / WORKERS
    d = max(mid.wall - fixed - shards_wall, 0.0) / mid.devices
    return Plan(fixed, c, d, mid.rows / mid.devices, mid.size / mid.devices)


def main(quick: bool) -> None:
    days = 3 if quick else 30
    small_n, mid_n, big_n = (200, 1_000, 4_000) if quick else (1_000, 10_000, 100_000)
    tmp = Path(tempfile.mkdtemp(prefix="m2msim-cluster-"))
    try:
        t0 = time.perf_counter()
        with loopback_cluster(WORKERS, tmp / "logs") as cluster:
            started = time.perf_counter() - t0
            sched_rss0 = _mib(cluster.scheduler_pid, "VmRSS")
            measure(
                tmp, small_n, days, cluster, "warm-up"
            )  # the workers import the simulator on a first task
            small = measure(tmp, small_n, days, cluster, "small")
            mid = measure(tmp, mid_n, days, cluster, "mid")
            local = measure(tmp, mid_n, days, None, "local")
            plan = make_plan(small, mid)
            predicted = plan.wall(big_n)
            print(f"  (plan: {plan}; predicted for {big_n:,} devices: {predicted:.1f} s)", flush=True)
            big = measure(tmp, big_n, days, cluster, "big")
            worker_hwm = [_mib(p, "VmHWM") for p in cluster.worker_pids]
            sched_rss = _mib(cluster.scheduler_pid, "VmRSS")
            sched_hwm = _mib(cluster.scheduler_pid, "VmHWM")
        main_hwm = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"cluster: `dask scheduler` + {WORKERS} `dask worker` processes (1 thread each) on 127.0.0.1, "
        f"up in {started:.1f} s; `m2msim run --cluster ADDR --no-merge`, {days} days, 1 MQTT report / 15 min, "
        f"shards of {SHARD_DEVICES:,} devices"
    )
    for m, what in (
        (small, "cluster"),
        (mid, "cluster"),
        (local, f"local --workers {WORKERS}"),
        (big, "cluster"),
    ):
        print(
            f"  {m.devices:>9,} devices ({what}): {m.rows:>12,} records in {m.wall:7.2f} s wall "
            f"({m.rows / m.wall / 1e6:.2f} M records/s); workers {m.worker_cpu:.1f} CPU-s, scheduler "
            f"{m.scheduler_cpu:.2f} CPU-s, coordinating process {m.main_cpu:.1f} CPU-s; "
            f"{m.size / 2**20:.0f} MiB of part files"
        )
    print(
        f"  the cluster path against local processes at {mid_n:,} devices: {mid.wall / local.wall:.2f}x the wall "
        f"(scheduler {mid.scheduler_cpu / max(mid.worker_cpu, 1e-9) * 100:.1f}% of the workers' CPU)"
    )
    print(
        f"  memory: each worker's peak RSS {' / '.join(f'{w:.0f}' for w in worker_hwm)} MiB; the scheduler "
        f"{sched_rss0:.0f} MiB idle, {sched_rss:.0f} MiB after {big_n:,} devices (peak {sched_hwm:.0f}); the "
        f"coordinating process's peak {main_hwm:.0f} MiB"
    )
    print(
        f"  shard plan from the {small_n:,} and {mid_n:,} runs: fixed {plan.fixed_s:.2f} s, workers "
        f"{plan.worker_cpu_per_device * 1e3:.2f} CPU-ms per device, serial after the shards "
        f"{plan.serial_per_device * 1e3:.3f} ms per device; {plan.rows_per_device:,.0f} records and "
        f"{plan.bytes_per_device / 1024:.1f} KiB per device"
    )
    print(
        f"  predicted for {big_n:,} devices: {predicted:.1f} s; measured {big.wall:.1f} s "
        f"({(big.wall - predicted) / predicted * 100:+.0f}%)"
    )
    print("  projection to 1,000,000 devices (model above, 2 single-threaded workers per machine):")
    for machines in (1, 2, 4, 8, 16, 32, 64):
        w = plan.wall(1_000_000, machines)
        shards = plan.worker_cpu_per_device * 1_000_000 / (machines * WORKERS)
        print(
            f"    {machines:>3} machine(s): {w:8.0f} s ({shards:7.0f} s of shards, "
            f"{plan.serial_per_device * 1_000_000:5.0f} s serial after them)"
        )
    print(f"  machine load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
