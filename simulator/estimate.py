"""What a run will cost the machine, estimated before it starts, and the refusal of one too big.

`m2msim run` estimates memory, time and disk from the scenario and its options, and refuses a job
that does not fit (unless `--force`).  The estimate is made twice: once from the device count the
inventory declares (before its lines are expanded: a fleet of 10^9 lines would not fit in memory),
and once from the validated scenario (sessions per device and day from each group's schedule).

The costs below were measured with `m2msim run` end to end (2-core machine, one worker and two, MQTT
meters every 15 min and the shipped default scenario): they are upper figures, not averages, since
a refusal should only come when the job clearly does not fit.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from simulator.scenario import TR45820_PERIOD_MIX, Scenario

__all__ = ["Estimate", "JobTooBig", "estimate_devices", "estimate_run", "machine_limits"]

# Measured costs (see the module docstring and docs/reliability.md).
BASE_PROCESS_B = 260 * 2**20  # one Python process with numpy, pyarrow, DuckDB, SimPy loaded
PER_LINE_B = 3_500  # the main process, per inventory line: lines, invoice, summary
PER_SESSION_IN_SHARD_B = 90  # a worker, per session of the shard it simulates (columns, batches)
CPU_PER_DEVICE_S = 0.8e-3  # setting up a device: random streams, first decisions, rating its line
CPU_PER_SESSION_S = 1.2e-6  # simulating, writing and rating one session
STARTUP_S = 2.0
DISK_PER_ROW_B = 8  # usage parts and usage.parquet (about 3 bytes a row each, zstd) and alarms
CSV_PER_ROW_B = 80
CAPTURE_PER_SESSION_B = 600  # GTP-C and RADIUS packets of one session
MAX_TIME_S = 24 * 3600.0  # longer than a day is refused too: almost surely a mistake
MEMORY_SHARE = 0.8  # of the machine's physical memory

MIX_REPORTS_PER_DAY = sum(w * 86_400.0 / p for p, w in TR45820_PERIOD_MIX) / sum(
    w for _, w in TR45820_PERIOD_MIX
)


class JobTooBig(Exception):
    """The job does not fit the machine; the text gives the estimate and the limit."""


@dataclass(frozen=True)
class Estimate:
    devices: int
    days: float
    sessions: float
    memory_b: float
    time_s: float
    disk_b: float

    def describe(self) -> str:
        return (
            f"{self.devices:,} devices x {self.days:g} days, about {self.sessions:,.0f} sessions: "
            f"about {_bytes(self.memory_b)} of memory, {_duration(self.time_s)}, {_bytes(self.disk_b)} on disk"
        )


@dataclass(frozen=True)
class Limits:
    memory_b: float
    disk_b: float | None  # free space where the run is written; None: unknown
    time_s: float = MAX_TIME_S


def machine_limits(out: Path) -> Limits:
    """80 % of the physical memory; the free space of the nearest existing folder of `out`."""
    try:
        memory = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        memory = 8.0 * 2**30
    folder = out.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        disk: float | None = float(shutil.disk_usage(folder).free)
    except OSError:
        disk = None
    return Limits(memory_b=memory * MEMORY_SHARE, disk_b=disk)


def _estimate(
    devices: int, days: float, sessions_per_device_day: float, workers: int, shard_devices: int
) -> Estimate:
    sessions = devices * days * sessions_per_device_day
    parallel = max(1, min(workers, math.ceil(devices / max(shard_devices, 1)), os.cpu_count() or 1))
    shard_sessions = min(shard_devices, devices) * days * sessions_per_device_day
    processes = min(workers, math.ceil(devices / max(shard_devices, 1))) if workers > 1 else 0
    memory = float(BASE_PROCESS_B + devices * PER_LINE_B)
    memory += max(processes, 1) * shard_sessions * PER_SESSION_IN_SHARD_B + processes * BASE_PROCESS_B
    cpu = STARTUP_S + devices * CPU_PER_DEVICE_S + sessions * CPU_PER_SESSION_S
    return Estimate(devices, days, sessions, memory, cpu / parallel, sessions * DISK_PER_ROW_B)


def estimate_devices(devices: int, days: float, workers: int, shard_devices: int = 1000) -> Estimate:
    """A first estimate from the device count alone, one session per device and hour (the fleet's
    exact traffic is known only once the scenario is validated)."""
    return _estimate(devices, days, 24.0, workers, shard_devices)


def sessions_per_device_day(scenario: Scenario) -> float:
    """Sessions (usage rows) per device and day, averaged over the fleet, from each group's traffic."""
    total = 0.0
    for g in scenario.groups:
        per_day = 0.0
        if g.schedule is not None and g.application is not None:
            if g.application.session == "persistent":
                per_day += 2.0  # one record per 12 hours
            elif g.schedule.period_s is None:
                per_day += MIX_REPORTS_PER_DAY
            else:
                per_day += 86_400.0 / g.schedule.period_s
        for s in (*g.sms, *g.calls):
            per_day += 86_400.0 / s.every_s if s.every_s else s.rate_per_day
        if g.mt_sms is not None:
            per_day += g.mt_sms.rate_per_day
        total += per_day * len(g.line_ids)
    return total / max(scenario.n_devices, 1)


def estimate_run(scenario: Scenario, workers: int, *, csv: bool = False, capture: bool = False) -> Estimate:
    """The estimate of a validated scenario's run."""
    days = scenario.duration_s / 86_400
    e = _estimate(
        scenario.n_devices, days, sessions_per_device_day(scenario), workers, scenario.shard_devices
    )
    disk = e.disk_b + e.sessions * ((CSV_PER_ROW_B if csv else 0) + (CAPTURE_PER_SESSION_B if capture else 0))
    return Estimate(e.devices, e.days, e.sessions, e.memory_b, e.time_s, disk)


def admit(e: Estimate, limits: Limits) -> None:
    """`JobTooBig` when the estimate exceeds a limit of the machine."""
    over = []
    if e.memory_b > limits.memory_b:
        over.append(f"memory over the {_bytes(limits.memory_b)} this machine can give")
    if limits.disk_b is not None and e.disk_b > limits.disk_b:
        over.append(f"disk over the {_bytes(limits.disk_b)} free")
    if e.time_s > limits.time_s:
        over.append(f"time over {_duration(limits.time_s)}")
    if over:
        raise JobTooBig(
            f"job too big for this machine: {e.describe()} ({'; '.join(over)}); "
            "reduce the fleet (--max-lines) or the period (--days), or run it anyway with --force"
        )


def _bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 2**10:,.0f} KiB"


def _duration(s: float) -> str:
    if s >= 86_400:
        return f"{s / 86_400:,.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"
