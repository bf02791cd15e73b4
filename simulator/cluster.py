"""A Dask cluster of command-line processes on this machine's loopback, for `--cluster` trials.

`loopback_cluster(workers)` starts `dask scheduler` and `workers` x `dask worker` (one
process each, `--no-nanny`, one thread) bound to 127.0.0.1 (their HTTP servers too, on free ports), all in one new process group, and
yields a `LoopbackCluster` whose `address` is what `m2msim run --cluster` takes.  Leaving the
block, normally or by an exception (Ctrl-C included), stops the whole process group: SIGTERM,
then SIGKILL after a grace period, and every process is waited for.  The benchmarks and the
tests use it; on real machines the same two commands are run by hand or by a job scheduler
(docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)")
# a worker is ready once registered with the scheduler ("Start worker at" comes before): a run
# started earlier sent its scenario (`client.scatter(broadcast=True)`) to the workers registered then
_WORKER = re.compile(r"Registered to:\s+(tcp://127\.0\.0\.1:\d+)")


class ClusterError(Exception):
    """The local cluster did not come up (its processes' last log lines say why)."""


@dataclass
class LoopbackCluster:
    """The started processes: `address` (tcp://127.0.0.1:PORT), the scheduler's and workers' PIDs."""

    address: str
    scheduler_pid: int
    worker_pids: list[int]
    logs: Path
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)


def _dask() -> list[str]:
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


class _Watch(threading.Thread):
    """Copies a process's stderr to its log file and signals when a line matches `pattern`."""

    def __init__(self, stream: IO[bytes], log_path: Path, pattern: re.Pattern[str]) -> None:
        super().__init__(daemon=True)
        self.stream, self.log_path, self.pattern = stream, log_path, pattern
        self.found = threading.Event()
        self.ended = threading.Event()
        self.match: str | None = None

    def run(self) -> None:
        with self.stream, self.log_path.open("wb") as out:
            for raw in self.stream:
                out.write(raw)
                out.flush()
                if self.match is None:
                    m = self.pattern.search(raw.decode("utf-8", "replace"))
                    if m:
                        self.match = m.group(1)
                        self.found.set()
        self.ended.set()
        self.found.set()  # the process ended: whoever waits stops waiting

    def wait(self, timeout: float) -> str | None:
        self.found.wait(timeout)
        return self.match


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


@contextlib.contextmanager
def loopback_cluster(
    workers: int,
    logs: Path,
    *,
    memory_limit: str = "0",
    start_timeout: float = 60.0,
    stop_timeout: float = 5.0,
    worker_cwd: Path | None = None,
    worker_env: Mapping[str, str] | None = None,
    worker_prefix: Sequence[str] = (),
) -> Iterator[LoopbackCluster]:
    """A scheduler and `workers` single-threaded workers on 127.0.0.1, stopped on leaving the block.

    `logs`: a folder for their stderr (`scheduler.log`, `worker-N.log`).  `memory_limit`: each
    worker's (`dask worker --memory-limit`; "0" lets the run's own admission decide).
    `worker_cwd`, `worker_env`: the workers' working directory and variables added to their
    environment, `worker_prefix` a command that runs each worker (a worker elsewhere: another
    folder, another PYTHONPATH, a mount namespace of its own).
    """
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False", PYTHONUNBUFFERED="1")
    procs: list[subprocess.Popen[bytes]] = []
    watches: list[_Watch] = []
    try:
        sched = subprocess.Popen(
            # its HTTP server (health, metrics) too on loopback, on a free port: never 0.0.0.0:8787
            [
                *_dask(),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            process_group=0,  # a process group of its own: stopped as one, not by a Ctrl-C at the terminal
        )
        procs.append(sched)
        assert sched.stderr is not None
        watch = _Watch(sched.stderr, logs / "scheduler.log", _ADDRESS)
        watch.start()
        watches.append(watch)
        address = watch.wait(start_timeout)
        if address is None:
            raise ClusterError(f"dask scheduler did not start: {_tail(logs / 'scheduler.log')}")
        for k in range(workers):
            w = subprocess.Popen(
                [
                    *worker_prefix,
                    *_dask(),
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--memory-limit",
                    memory_limit,
                    "--name",
                    f"w{k}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**env, **(worker_env or {})},
                cwd=worker_cwd,
                process_group=sched.pid,
            )
            procs.append(w)
            assert w.stderr is not None
            ww = _Watch(w.stderr, logs / f"worker-{k}.log", _WORKER)
            ww.start()
            watches.append(ww)
        for k, ww in enumerate(watches[1:]):
            if ww.wait(start_timeout) is None:
                raise ClusterError(f"dask worker {k} did not start: {_tail(logs / f'worker-{k}.log')}")
        log.info("local Dask cluster at %s with %d workers", address, workers)
        yield LoopbackCluster(address, sched.pid, [p.pid for p in procs[1:]], logs, procs)
    finally:
        _stop(procs, stop_timeout)
        for ww in watches:
            ww.join(stop_timeout)


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM to the process group, SIGKILL to what is left after `timeout`, every process waited for."""
    if not procs:
        return
    pgid = procs[0].pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        alive = []
        for p in procs:
            try:
                p.wait(timeout if sig == signal.SIGTERM else None)
            except subprocess.TimeoutExpired:
                alive.append(p)
        if not alive:
            return
