"""Scale beyond one machine: `m2msim run --cluster` on a Dask cluster of command-line processes.

The benchmark starts `dask scheduler` and 2 `dask worker` processes on 127.0.0.1
(`simulator.cluster.loopback_cluster`: one process group, stopped at the end even on a failure
or Ctrl-C), then, all in one run:

1. a small run (1,000 devices, 30 days) on the cluster, after a first one that lets the workers
   import the simulator: the fixed cost a (start-up, connection);
2. 10,000 devices on the cluster and, for the overhead of the cluster path, the same with
   `--workers 2` on local processes;
3. from those, the shard plan: each run's two phases, timed from the files it wrote (the shards:
   from `scenario.yaml` to the last part file; after them: to `report.html`, the rating, the
   offer comparison, the summary and the report by the coordinating process), each fitted as a
   fixed part plus a part per device; the shards' part divides among machines, the other does not;
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
    shards_s: float  # from scenario.yaml written to the last part file written
    serial_s: float  # from the last part file to report.html: rating, comparison, summary, report


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
    parts = list((out / "usage").glob("part-*.parquet"))
    size = sum(p.stat().st_size for p in parts)
    # the phases, from the times the run wrote its files (the folder is renamed whole, times kept)
    begun = (out / "scenario.yaml").stat().st_mtime
    shards_done = max(p.stat().st_mtime for p in parts)
    ended = (out / "report.html").stat().st_mtime
    shutil.rmtree(out)
    m = Measured(
        devices, wall, rows, worker_cpu, sched_cpu, main_cpu, size, shards_done - begun, ended - shards_done
    )
    print(f"  ({label}: {m})", flush=True)  # as it comes: a long run interrupted still leaves its figures
    return m


@dataclass
class Plan:
    """The shard plan's cost model, fitted on two measured runs (see the module docstring).

    wall = fixed + shards0 + shards_per_device x devices / machines + serial0 + serial_per_device x devices
    """

    fixed_s: float  # start-up and what is outside the two phases
    shards0_s: float
    shards_per_device: float  # the shard phase's wall per device, on one machine's workers
    serial0_s: float
    serial_per_device: float  # the coordinating process's time per device after the shards
    worker_cpu_per_device: float
    rows_per_device: float
    bytes_per_device: float

    def phases(self, devices: int, machines: int = 1) -> tuple[float, float]:
        shards = self.shards0_s + self.shards_per_device * devices / machines
        return shards, self.serial0_s + self.serial_per_device * devices

    def wall(self, devices: int, machines: int = 1) -> float:
        return self.fixed_s + sum(self.phases(devices, machines))


def _line(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    slope = max((y1 - y0) / (x1 - x0), 0.0)
    return max(y1 - slope * x1, 0.0), slope


def make_plan(small: Measured, mid: Measured) -> Plan:
    sh0, sh = _line(small.devices, small.shards_s, mid.devices, mid.shards_s)
    se0, se = _line(small.devices, small.serial_s, mid.devices, mid.serial_s)
    fixed = max(mid.wall - mid.shards_s - mid.serial_s, 0.0)
    return Plan(
        fixed, sh0, sh, se0, se, mid.worker_cpu / mid.devices, mid.rows / mid.devices, mid.size / mid.devices
    )


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
            # the `m2msim run` processes (and the local run's workers), before the cluster's are waited for
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
        f"`m2msim run` processes' peak {main_hwm:.0f} MiB"
    )
    print(
        f"  shard plan from the {small_n:,} and {mid_n:,} runs: fixed {plan.fixed_s:.2f} s; shards "
        f"{plan.shards0_s:.2f} s + {plan.shards_per_device * 1e3:.2f} ms per device on {WORKERS} workers "
        f"({plan.worker_cpu_per_device * 1e3:.2f} CPU-ms per device); after them {plan.serial0_s:.2f} s + "
        f"{plan.serial_per_device * 1e3:.3f} ms per device; {plan.rows_per_device:,.0f} records and "
        f"{plan.bytes_per_device / 1024:.1f} KiB per device"
    )
    p_sh, p_se = plan.phases(big_n)
    print(
        f"  predicted for {big_n:,} devices: {predicted:.1f} s (shards {p_sh:.1f}, after them {p_se:.1f}); "
        f"measured {big.wall:.1f} s (shards {big.shards_s:.1f}, after them {big.serial_s:.1f}): "
        f"{(big.wall - predicted) / predicted * 100:+.0f}%"
    )
    print(f"  projection to 1,000,000 devices (model above, {WORKERS} single-threaded workers per machine):")
    for machines in (1, 2, 4, 8, 16, 32, 64):
        sh, se = plan.phases(1_000_000, machines)
        print(
            f"    {machines:>3} machine(s): {plan.wall(1_000_000, machines):8.0f} s ({sh:7.0f} s of shards, "
            f"{se:5.0f} s after them on the coordinating machine)"
        )
    print(f"  machine load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
