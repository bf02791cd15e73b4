"""A whole run: shards on processes or a Dask cluster, then merged outputs, the invoice and the summary.

Outputs in the run folder:

- `scenario.yaml`: the scenario as run, seed and overrides included (replays bit for bit);
- `usage/part-NNNNN.parquet`: each shard's usage records (the files accounting rates, read as
  one in shard order); `usage.parquet`: all of them in one file, in shard order, unless
  `merge=False` (a second write of every record, done in this process while the workers
  simulate the next shards); `usage.csv` too with `csv=True`;
- `alarms.jsonl`: the autodiagnostic alarms, in time order;
- `capture/part-NNNNN.pcap` when a capture was asked for;
- `invoice.json`, `invoice.txt`: the month's invoice (accounting);
- `summary.json`, `summary.txt`: sessions, volumes, SMS, calls, refusals, alarms, retry storm,
  outages, and the cost per device group;
- `report.html`: all of it drawn, one offline page (`reports`).

Nothing in these files depends on the wall clock or on the number of workers.

The folder appears whole (`m2msim.rundir.run_folder`): the run is written into a temporary
folder beside it and swapped in at the end, so an interrupted run leaves the previous run as it
was; `.m2msim-run.json` in it lists the files the run wrote.  Worker processes are terminated,
not waited for, when the run is interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting import Comparison, compare, inventory_from_dict, load_catalog, rate, rate_run
from accounting.invoice import Invoice, UsageCoverage
from accounting.records import RETRY_BIT, USAGE_SCHEMA
from accounting.usage import ROW_REASONS, file_identity, month_bounds
from accounting.usage_arrow import huge_pages
from accounting.usage_parts import PartAggregates, before_workers, prepare_worker
from m2msim.rundir import run_folder
from m2msim.signals import deferred_signals, worker_init
from reports import write_report
from reports.data import RunFiles, group_names
from reports.hourly import HourlyUsage
from simulator.engine import (
    DICTIONARY_COLUMNS,
    PART_PARQUET_OPTIONS,
    RatingSpec,
    ShardResult,
    part_name,
    part_path,
    run_shard,
    shard_ranges,
)
from simulator.scenario import Scenario, run_digest
from simulator.stats import GroupStats

log = logging.getLogger(__name__)

Progress = Callable[[float], None]


@dataclass
class RunResult:
    out_dir: Path
    scenario: Scenario
    groups: dict[str, GroupStats]
    shards: int
    usage_rows: int = 0
    alarms: int = 0
    alarms_by_rule: dict[str, int] = field(default_factory=dict)
    invoice: Invoice | None = None
    comparison: Comparison | None = None  # the offers compared on the invoice's own aggregates
    hourly: HourlyUsage | None = None  # the records' sums per hour and device group (the report's)
    cost_by_group: dict[str, Decimal] = field(default_factory=dict)
    retry_cost: Decimal | None = None
    retry_ko: int | None = None  # the ko the invoice bills for the reconnection attempts (with less without)
    incidents: dict[str, int] = field(default_factory=dict)  # bad input the gateway refused, by kind
    summary: dict[str, Any] = field(default_factory=dict)


def rating_spec(scenario: Scenario) -> RatingSpec:
    """The month and first periods the run's invoice rates with (the scenario's inventory month,
    the default catalog): its shards aggregate their usage parts for them."""
    year, month = (int(x) for x in str(scenario.inventory["month"]).split("-"))
    return (*month_bounds(year, month), load_catalog().first_periods())


def _shard_task(args: tuple[Scenario, int, int, int, str, bool, bool, RatingSpec | None]) -> ShardResult:
    # the rating's aggregates of the shard's usage part, when asked, are made in the process that
    # wrote the part, while the other shards still run
    scenario, index, start, end, out, csv, capture, rating = args
    return run_shard(scenario, index, start, end, Path(out), csv=csv, capture=capture, rating=rating)


_PACKAGES = ("accounting", "gateway", "simulator", "modem", "hil", "reports", "m2msim")


@functools.cache
def code_fingerprint() -> str:
    """m2msim's version and a digest of the source of its packages, as this process imports them:
    two processes with the same fingerprint simulate a shard into the same bytes."""
    from importlib import metadata, util

    digest = hashlib.sha256()
    for name in _PACKAGES:
        spec = util.find_spec(name)  # (found, not imported)
        root = Path(spec.origin if spec and spec.origin else name).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = metadata.version("m2msim")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"m2msim {version}, code {digest.hexdigest()[:12]}"


class ShardRefused(Exception):
    """A cluster worker refused a shard: its m2msim differs from the coordinating process's, or the
    run's folder is not there on its storage (one message, made on the worker)."""


class RunFolderGone(Exception):
    """The run's temporary folder went away while a worker simulated a shard (the run was
    interrupted or failed): the shard stops instead of computing for nothing."""


# A run on a cluster keeps two entries in its folder while its shards run (`open_shards`), removed
# when it stops taking their files (`close_shards`), before the folder is swapped in or removed:
SHARDS_FILE = ".m2msim-shards"  # {"run": the run's token, "open": true|false}; locked to commit
ATTEMPTS = ".m2msim-attempts"  # each attempt of a shard writes in a folder of its own in it
# in ATTEMPTS while an attempt holds the lock: which one ({"shard", "host", "pid"}), for the error
# of an attempt that waited for it too long
COMMITTING = "committing.json"
CLOSE_WAIT_S = 1.0  # how long the run waits for the lock to stop taking the shards' files

# The files a run writes in its folder, in the end or on the way (shell patterns, as
# `m2msim.rundir.run_folder` takes them; m2msim's own `.m2msim-*`, SHARDS_FILE and ATTEMPTS among
# them, go unnamed): the next run removes these, and only these, from the folder of a run killed
# mid-way; a file of another name there is one m2msim did not write, kept
RUN_WRITES = (
    "scenario.yaml",
    "usage.parquet",
    "usage.csv",
    ".usage-without-retries.parquet",
    "alarms.jsonl",
    "invoice.json",
    "invoice.txt",
    "summary.json",
    "summary.txt",
    "report.html",
    "usage/part-*.parquet",
    "usage-csv/part-*.csv",
    "alarms/part-*.jsonl",
    "capture/part-*.pcap",
    # a shard's capture spills its sessions in runs it merges as it closes (gateway.capture.sink)
    "capture/.part-*.pcap.runs-*/run-*.data",
    "capture/.part-*.pcap.runs-*/run-*.index",
    "capture/.part-*.pcap.runs-*/events.data",
    "capture/.part-*.pcap.runs-*/events.index",
)


class CommitStuck(ShardRefused):
    """An attempt waited longer than the cluster's worker TTL for the run's commit lock: the attempt
    holding it is paused or cut off (SIGSTOP, a long GC pause, a network cut) while it puts its files
    in place, maybe half of them (one message, made on the worker)."""


def commit_wait_s() -> float:
    """How long an attempt waits for the run's commit lock: the worker TTL of this process's Dask
    configuration (`distributed.scheduler.worker-ttl`, 5 minutes by default), the time after which
    the scheduler takes a silent worker for lost; 5 minutes where it is off."""
    import dask.config
    from dask.utils import parse_timedelta

    ttl = dask.config.get("distributed.scheduler.worker-ttl", None)
    seconds = parse_timedelta(ttl, "s") if ttl is not None else None
    return float(seconds) if seconds else 300.0


def _worker_name() -> str:
    return f"the worker on {socket.gethostname()} (pid {os.getpid()})"


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (the run removes `SHARDS_FILE` when it stops
    taking the shards' files)."""
    try:
        there = os.stat(path)
    except OSError:
        return False
    own = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (own.st_dev, own.st_ino)


def _lock(fd: int, path: Path, wait_s: float) -> bool:
    """The lock of `SHARDS_FILE` (open as `fd`, at `path`), taken within `wait_s` seconds: True once
    taken; False when it was not, or `path` names that file no more (the run stopped taking the
    shards' files).  A blocking `flock` waited for as long as its holder held it: a process paused
    while it held it (SIGSTOP) held up the run for good."""
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0 or not _same_file(fd, path):
            return False
        time.sleep(min(delay, left))  # (no event says that a lock was released)
        delay = min(2 * delay, 0.1)


def _holder(folder: Path) -> str:
    """Who holds the run's commit lock, as its holder wrote it (`COMMITTING`)."""
    try:
        said = json.loads((folder / ATTEMPTS / COMMITTING).read_text(encoding="utf-8"))
        return f"shard {int(said['shard'])}'s attempt on {said['host']} (pid {int(said['pid'])})"
    except (OSError, ValueError, TypeError, KeyError):
        return "an attempt that had not yet said which (paused as it took it)"


def open_shards(folder: Path) -> str:
    """Start taking the shards' files in the run folder `folder`: a new token for the run, written
    in `SHARDS_FILE` (a shard's attempt commits into this run only if it finds it there, open)."""
    token = uuid.uuid4().hex
    (folder / ATTEMPTS).mkdir()
    (folder / SHARDS_FILE).write_text(json.dumps({"run": token, "open": True}), encoding="utf-8")
    return token


def close_shards(folder: Path, wait_s: float = CLOSE_WAIT_S) -> None:
    """Stop taking the shards' files: `SHARDS_FILE` marked closed under its lock (an attempt
    committing now finishes first; one that comes later finds it closed, or gone, and puts nothing
    in place), then removed with the attempts' folders (files a paused attempt still holds open
    are then written nowhere).  A lock still held after `wait_s` seconds is not waited for: its
    holder is paused (a shard it was putting in place, if any, is one the run never took), and
    finds the file gone when it resumes."""
    path = folder / SHARDS_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        if _lock(fd, path, wait_s):
            try:
                state = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                state = {}
            data = json.dumps({**state, "open": False}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        else:
            log.info(
                "the run's commit lock is held by %s: the run stops taking shards without it", _holder(folder)
            )
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)
    shutil.rmtree(folder / ATTEMPTS, ignore_errors=True)


@contextlib.contextmanager
def _committing(folder: Path, token: str, index: int, wait_s: float) -> Iterator[bool]:
    """The run's commit lock, held for an attempt of shard `index` (`_commit`): yields whether the
    shard still takes its files (no other attempt's are in place); `RunFolderGone` when the run has
    finished with its shards, or is another run; `CommitStuck` when another attempt held the lock
    for `wait_s` seconds."""
    path = folder / SHARDS_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        raise RunFolderGone(str(folder)) from None
    try:
        if not _lock(fd, path, wait_s):
            if not _same_file(fd, path):
                raise RunFolderGone(str(folder))
            raise CommitStuck(
                f"{_worker_name()} waited {wait_s:.0f} s to put shard {index}'s files in place: the run's "
                f"lock {path} is held by {_holder(folder)}, paused or cut off while it put its own in "
                "place (longer than the worker TTL, distributed.scheduler.worker-ttl), its shard maybe "
                "half in place"
            )
        try:
            state = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            state = {}
        if state.get("run") != token or state.get("open") is not True:
            raise RunFolderGone(str(folder))
        if (folder / ATTEMPTS / f"{part_name(index)}.done").exists():
            yield False
            return
        # (the run stopped taking the shards' files without the lock, its holder paused: and it was
        # this attempt, now resumed)
        if not _same_file(fd, path):
            raise RunFolderGone(str(folder))
        said = folder / ATTEMPTS / COMMITTING
        said.with_suffix(".tmp").write_text(
            json.dumps({"shard": index, "host": socket.gethostname(), "pid": os.getpid()}),
            encoding="utf-8",
        )
        os.replace(said.with_suffix(".tmp"), said)
        try:
            yield True
        finally:
            said.unlink(missing_ok=True)
    finally:
        os.close(fd)  # (the lock with it)


def _commit(folder: Path, attempt: Path, index: int, token: str, wait_s: float | None = None) -> bool:
    """Put the files of `attempt` (one attempt of shard `index`) in place in the run folder, if the
    run is still `token`'s and taking files, and no other attempt of the shard has: under the lock
    of `SHARDS_FILE`, which `close_shards` takes too (waited for at most `wait_s` seconds, by
    default `commit_wait_s()`).  True when they were put in place; False when another attempt's
    already were (the same bytes: this one's are dropped); `RunFolderGone` when the run has
    finished with its shards, or is another run; `CommitStuck` when the lock's holder kept it."""
    try:
        with _committing(folder, token, index, commit_wait_s() if wait_s is None else wait_s) as wanted:
            if not wanted:
                return False
            # (an attempt killed midway through these renames left some: this one's replace them)
            for path in sorted(p for p in attempt.rglob("*") if p.is_file()):
                target = folder / path.relative_to(attempt)
                target.parent.mkdir(exist_ok=True)
                os.replace(path, target)
            (folder / ATTEMPTS / f"{part_name(index)}.done").touch()
            return True
    finally:
        shutil.rmtree(attempt, ignore_errors=True)


def _the_scenario(scenario: Scenario) -> Scenario:
    """The scenario as a cluster task's result (one copy per worker that runs shards)."""
    return scenario


def _cluster_shard_task(
    args: tuple[Scenario, int, int, int, str, bool, bool, RatingSpec | None], code: str, token: str
) -> ShardResult:
    """A shard on a Dask worker: refused when the worker's m2msim is not the coordinating process's
    (`code`) or the run folder is not on its storage; stopped, at its next simulated day, once the
    run's folder is gone.  Each attempt writes into a folder of its own (a worker paused past the
    scheduler's timeout is not dead: its shard is run again elsewhere, and the paused attempt may
    resume later), and its files are put in place only if the run `token` still takes them and no
    other attempt's were (`_commit`)."""
    scenario, index, start, end, out, csv, capture, rating = args
    folder = Path(out)
    here = _worker_name()
    if (mine := code_fingerprint()) != code:
        raise ShardRefused(
            f"{here} runs {mine}, not {code} as this run: start the workers from the same m2msim"
        )
    if not folder.is_dir():
        raise ShardRefused(
            f"{here} does not see the run's folder {folder}: the run folder must be on storage every "
            "worker writes to (docs/scaling.md)"
        )

    attempt = folder / ATTEMPTS / f"{part_name(index)}-{uuid.uuid4().hex}"

    def gone() -> RunFolderGone:
        log.warning("shard %d stopped: the run's folder %s is gone, or done with its shards", index, folder)
        return RunFolderGone(str(folder))

    def still_wanted(_done: float) -> None:
        if not attempt.is_dir():
            raise RunFolderGone(str(folder))

    try:
        attempt.mkdir()  # never its parents: a run folder gone is not made again
        result = run_shard(
            scenario,
            index,
            start,
            end,
            attempt,
            csv=csv,
            capture=capture,
            progress=still_wanted,
            rating=rating,
        )
        if not _commit(folder, attempt, index, token):
            log.info("shard %d: another attempt's files are in place, this one's are dropped", index)
    except RunFolderGone:
        raise gone() from None
    except OSError as exc:
        shutil.rmtree(attempt, ignore_errors=True)
        if not folder.is_dir() or not (folder / ATTEMPTS).is_dir():
            raise gone() from None
        raise ShardRefused(
            f"{here} could not write shard {index}'s files ({exc.filename or folder}: {exc.strerror or exc}); "
            "the run folder must be on storage every worker writes to (docs/scaling.md)"
        ) from None
    if result.usage is not None:  # the part's aggregates name it where it now is
        result = dataclasses.replace(
            result, usage=dataclasses.replace(result.usage, path=str(part_path(folder, index)))
        )
    return result


def run_shards(
    scenario: Scenario,
    out_dir: Path,
    *,
    workers: int = 1,
    cluster: str | None = None,
    csv: bool = False,
    capture: bool = False,
    progress: Progress | None = None,
    on_shard: Callable[[int], None] | None = None,
    rating: RatingSpec | None = None,
    leaving: contextlib.ExitStack | None = None,
) -> list[ShardResult]:
    """Simulate every shard; in this process, on `workers` processes, or on a Dask cluster.

    `on_shard(index)` is called in shard order as each shard's files are complete, while
    the later shards still run (`simulate` merges the usage parts that way).  `rating`: each
    shard also aggregates its usage part for the rating (`ShardResult.usage`).  `leaving`: the
    worker processes are told to end once the last result is in, and waited for when the stack
    closes (their ends, each freeing its memory, overlap the caller's next steps); without it
    they are waited for before the results are returned.
    """
    ranges = shard_ranges(scenario)
    # the run in its parts' footers: a part of another run (this scenario cut into other shards,
    # another fleet or period under the same name) is not taken for one of this run's
    # (`accounting.usage`); the scenario as run, so that running it again writes the same bytes
    scenario = dataclasses.replace(scenario, run_id=run_digest(scenario))
    # absolute: a worker of a cluster runs in a working directory of its own
    folder = str(Path(out_dir).absolute())
    tasks = [(scenario, i, a, b, folder, csv, capture, rating) for i, (a, b) in enumerate(ranges)]
    n = len(tasks)
    if cluster is not None:
        return _on_cluster(cluster, tasks, progress, on_shard)
    if workers <= 1 or n <= 1:
        results = []
        for i, t in enumerate(tasks):
            scenario_, index, a, b, out, csv_, cap, rating_ = t

            def shard_progress(f: float, i: int = i) -> None:
                if progress is not None:
                    progress((i + f) / n)

            result = run_shard(
                scenario_,
                index,
                a,
                b,
                Path(out),
                csv=csv_,
                capture=cap,
                progress=shard_progress,
                rating=rating_,
            )
            results.append(result)
            if on_shard is not None:
                on_shard(index)
        return results
    if rating is not None:
        before_workers()
    ctx = multiprocessing.get_context(_START_METHOD)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, n),
        mp_context=ctx,
        initializer=shard_worker_init,
        initargs=(rating is not None,),
    )
    try:
        results = _gather(pool, tasks, progress, on_shard)
    except BrokenProcessPool:
        culprit = _dead_worker(pool)
        terminate_pool(pool)
        raise WorkerDied(*culprit) from None
    except BaseException:
        terminate_pool(pool)
        raise
    if leaving is None:
        pool.shutdown(wait=True)
    else:
        # The pool's thread sends each worker its end, then reaps it: that thread is what is waited
        # for (`shutdown(wait=False)` forgets it, and a second `shutdown` would wait for nothing).
        manager: threading.Thread | None = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False)
        if manager is not None:
            leaving.callback(manager.join)
    return results


def _dead_worker(pool: ProcessPoolExecutor) -> tuple[int | None, int | None]:
    """(pid, exit code) of the worker whose death broke the pool, as far as known.

    The pool's manager thread reaps its workers after it has failed the futures: read before it
    is done, a worker's exit code may still be unknown (its `waitpid` raced with the manager's),
    so it is waited for first.  It also stops the other workers (SIGTERM): the one that died
    otherwise is the cause."""
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=5.0)
    processes = getattr(pool, "_processes", None) or {}
    died = [p for p in processes.values() if p.exitcode]
    died.sort(key=lambda p: p.exitcode == -signal.SIGTERM)  # (stable: the pool's own stops last)
    return (died[0].pid, died[0].exitcode) if died else (None, None)


class WorkerDied(Exception):
    """A worker process ended while it simulated a shard (killed: the system's out-of-memory killer,
    or by hand); the run stops, its folder is not written."""

    def __init__(self, pid: int | None, exitcode: int | None) -> None:
        who = f"worker process {pid}" if pid else "a worker process"
        if exitcode is not None and exitcode < 0:
            how = f"was killed by {signal.Signals(-exitcode).name}"
            if -exitcode == signal.SIGKILL:
                how += " (the system's out-of-memory killer, or a kill -9)"
        else:
            how = f"ended with status {exitcode}" if exitcode is not None else "ended"
        super().__init__(
            f"{who} {how} while it simulated a shard: the run stopped and wrote nothing (if memory "
            "ran out: fewer --workers, or a smaller --shard-devices)"
        )


class PoolStalled(WorkerDied):
    """The process pool stopped handing out work and results (its manager thread ended)."""

    def __init__(self) -> None:
        Exception.__init__(
            self,
            "the worker processes' pool stopped working (its manager thread ended: it could not "
            "start a thread, under this machine's limits on memory or processes?): the run stopped "
            "and wrote nothing (fewer --workers, or --workers 1)",
        )


# Workers are forked where the platform can: a forked worker starts with the parent's modules
# already imported (a spawned one imports numpy, pyarrow, SimPy, the gateway and accounting again,
# 0.5-1 s of CPU each).  The parent forks before it opens any DuckDB connection or starts a thread
# of its own (the pool forks all its workers at the first submit, before its manager thread).
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


# glibc's malloc options (malloc.h): allocations from this size on are mapped apart and unmapped
# when freed; the free memory above the heap's top beyond this size is given back to the kernel.
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1


def shard_worker_init(rates: bool = False) -> None:
    """Initializer of the processes that run shards: `worker_init`, and freed memory kept for reuse.

    Each batch of a shard allocates and frees the same few hundred MiB of columns (8 MiB arrays).
    By default glibc maps such arrays apart and unmaps them when freed, so every batch faults its
    memory in again page by page (measured: a fifth of the shards' CPU time spent in the kernel).
    Here they come from the heap, which keeps what they free (a worker's peak memory is the same;
    it is not handed back until the worker ends).  Where the C library is not glibc, nothing changes.

    NumPy asks the kernel for transparent huge pages on its large arrays (madvise): where the
    kernel honours that request by compacting memory at the fault (`defrag` set to `madvise`, a
    common default), a worker's first shard spent more CPU in the kernel (1.3-1.5 s, measured on
    a 2.9 M-record shard) than on the records' encoding.  The arrays are reused from the heap
    after the first batch, so huge pages would save little: they are not asked for.  Arrow's
    buffers come from the same heap (pyarrow's system memory pool): its default pool (mimalloc)
    asks for huge pages on its own, and a worker's first shard zeroed them page by page (a third
    of the kernel's time in a run).

    `rates`: the worker aggregates its usage parts for the rating (`accounting.usage_parts`): its
    DuckDB connection is made here, before the heap holds anything, since DuckDB gives the free
    heap back to the kernel when it starts (the next shard then faulted every page in again).
    """
    worker_init()
    huge_pages(False)
    with contextlib.suppress(AttributeError, OSError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's upper bound for it on 64-bit systems
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    pa.set_memory_pool(pa.system_memory_pool())
    if rates:
        prepare_worker()


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool now: pending tasks cancelled, workers terminated (SIGTERM, then SIGKILL
    after a second), and waited for, so none outlives the run."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(OSError, ValueError):
            p.terminate()
    for p in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            p.join(1.0)
            if p.is_alive():
                p.kill()
                p.join()


def _gather(
    pool: Executor,
    tasks: Sequence[Any],
    progress: Progress | None,
    on_shard: Callable[[int], None] | None,
    task: Callable[..., ShardResult] = _shard_task,
    *extra: Any,
    has_workers: Callable[[], bool] | None = None,
) -> list[ShardResult]:
    # Workers start on the first submit; they inherit SIGINT, SIGTERM and SIGHUP blocked, so a Ctrl-C
    # or a closed terminal that reaches the whole process group while they start cannot interrupt
    # them (`worker_init` then ignores SIGINT and SIGHUP: the parent stops them).
    with deferred_signals():
        futures: list[Future[ShardResult] | None] = [pool.submit(task, t, *extra) for t in tasks]
    results: list[ShardResult] = []
    for done in range(1, len(futures) + 1):
        f = futures[done - 1]
        assert f is not None
        results.append(_result(pool, f, has_workers))
        # let go of the shard once its result is here: a Dask cluster recomputes a result it holds
        # for a client, and would write the shard's files again if the worker holding it died
        futures[done - 1] = f = None
        if on_shard is not None:
            on_shard(done - 1)
        if progress is not None:
            progress(done / len(futures))
    return results


_STALL_CHECK_S = 0.5  # how often a wait for a shard checks that the pool still works
_WORKERS_CHECK_S = 2.0  # how often a wait for a shard on a cluster asks whether it has workers
NO_WORKER_S = 20.0  # a cluster without a worker that long: the run stops


class NoWorkerLeft(Exception):
    """The cluster had no worker for `NO_WORKER_S` while shards were still to run."""


def _result(
    pool: Executor, future: Future[ShardResult], has_workers: Callable[[], bool] | None = None
) -> ShardResult:
    """The shard's result.  A process pool whose manager thread has ended resolves none of its
    futures: measured, under a memory limit (`ulimit -v`) the thread could not start the queue's
    feeder thread ("can't start new thread") and the run waited forever.  Then `PoolStalled`.
    A Dask cluster's shards wait for workers, and waited forever once the last one had left
    (killed, or unable to read a shard): with `has_workers` (the cluster's), `NoWorkerLeft` after
    `NO_WORKER_S` without any."""
    asked = alone = None
    while True:
        try:
            return future.result(timeout=_STALL_CHECK_S)
        except TimeoutError:
            manager = getattr(pool, "_executor_manager_thread", None)
            if manager is not None and not manager.is_alive() and not future.done():
                raise PoolStalled() from None
            now = time.monotonic()
            if has_workers is not None and (asked is None or now - asked >= _WORKERS_CHECK_S):
                asked = now
                if has_workers():
                    alone = None
                elif alone is None:
                    alone = now
                elif now - alone >= NO_WORKER_S:
                    raise NoWorkerLeft() from None


def _client(address: str) -> Any:
    """A Dask client of the scheduler at `address`, or `TimeoutError`.  Dask bounds the connection
    by `distributed.comm.timeouts.connect` (30 s unless configured), but not the wait for the first
    answer after it: at an address that takes connections and says nothing (a proxy, a port held by
    a hung process), `Client` waited for good.  It is made on a thread of its own, waited for twice
    the connect timeout; past that the command ends, and the thread with the process."""
    import dask.config
    from dask.utils import parse_timedelta
    from distributed import Client

    made: list[Any] = []
    failed: list[BaseException] = []
    ready = threading.Event()

    def connect() -> None:
        try:
            made.append(Client(address))  # type: ignore[no-untyped-call]
        except BaseException as exc:  # (handed to the caller's thread)
            failed.append(exc)
        finally:
            ready.set()

    wait_s = 2 * float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s") or 30)
    threading.Thread(target=connect, name="m2msim-dask-connect", daemon=True).start()
    if not ready.wait(wait_s):
        raise TimeoutError(address)
    if failed:
        raise failed[0]
    return made[0]


def _on_cluster(
    address: str, tasks: Sequence[Any], progress: Progress | None, on_shard: Callable[[int], None] | None
) -> list[ShardResult]:
    """The shards on an existing Dask distributed cluster, through its executor interface."""
    try:
        client: Any = _client(address)
    except TimeoutError:
        raise OSError(
            errno.ETIMEDOUT,
            "no Dask scheduler answered there (something takes the connection and says nothing)",
            f"--cluster {address}",
        ) from None
    except OSError as exc:  # (no scheduler there: the error names the option, not the run folder)
        raise OSError(exc.errno, str(exc), f"--cluster {address}") from None
    except Exception as exc:
        # Something answered that is no Dask scheduler (an HTTP server, a proxy, the dashboard's port
        # 8787 given for the scheduler's 8786): Dask read its answer as a frame length and failed
        # with "Unable to allocate 3.07 EiB", a traceback.
        raise OSError(
            errno.EPROTO,
            f"no Dask scheduler answers there ({type(exc).__name__}: {str(exc)[:200]})",
            f"--cluster {address}",
        ) from None
    with _dask_quiet(), client:
        if tasks:
            # The scenario (its inventory names every line) goes to each worker once, not with
            # every shard: a queued task holds a reference, not a copy (at 100,000 devices a copy
            # is 1.6 MiB pickled, and each worker held its queue's copies unpickled: 1 GiB).
            # A task's result, not scattered data: scattered data lives only where it was put (a
            # worker that joined after it has none), and lost with the workers that held it the
            # shards that needed it were cancelled ("the cluster cancelled the shards": a worker
            # killed mid-run while the other was still joining, at load); the scheduler keeps
            # a task's spec and makes its result again where it is lost.
            shared = client.submit(_the_scenario, tasks[0][0], pure=False)
            tasks = [(shared, *t[1:]) for t in tasks]
        executor = client.get_executor(pure=False)
        folder = Path(tasks[0][4]) if tasks else None
        token = open_shards(folder) if folder is not None else ""
        try:
            results = _gather(
                executor,
                tasks,
                progress,
                on_shard,
                _cluster_shard_task,
                code_fingerprint(),
                token,
                has_workers=lambda: bool(client.scheduler_info(n_workers=1).get("workers")),
            )
        except BaseException as exc:
            # interrupted or failed: the shards still queued are cancelled, not awaited; those
            # running stop at their next simulated day, when they see their attempt's folder gone
            executor.shutdown(wait=False)
            raise _cluster_failure(exc, address, connected=client.status == "running") from None
        finally:
            # no shard's files are taken from now on (an attempt that Dask still runs, or a paused
            # worker's, resumed, finds the run closed or gone and puts nothing in place)
            if folder is not None:
                close_shards(folder)
        executor.shutdown(wait=True)
        return results


@contextlib.contextmanager
def _dask_quiet() -> Iterator[None]:
    """Dask's own logging held back while the run uses the cluster: a scheduler that went away made
    its client log its reconnection attempts' tracebacks before the run's one-line error."""
    names = ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


class ClusterFailed(WorkerDied):
    """The shards on a Dask cluster did not all end: the scheduler went away, a shard's workers died
    again and again, or a worker refused or could not write a shard (one line that says which)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)


def _cluster_failure(exc: BaseException, address: str, *, connected: bool) -> BaseException:
    """What the run says when its shards on the cluster at `address` failed with `exc` (an
    interruption as it is); `connected`: whether the client still had the scheduler then."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    end = "the run stopped and wrote nothing"
    if isinstance(exc, ShardRefused):
        return ClusterFailed(f"--cluster {address}: {exc}: {end}")
    if isinstance(exc, NoWorkerLeft):
        return ClusterFailed(
            f"--cluster {address}: no worker left on the cluster for {NO_WORKER_S:.0f} s with shards to "
            f"run (killed, or unable to read a shard, as a worker of another m2msim is; their logs "
            f"say which): {end}"
        )
    if isinstance(exc, CancelledError) and connected:
        # the scattered scenario lost with the worker that held it: the shards that needed it are
        # cancelled (seen when a worker of an older m2msim could not read a shard and left)
        return ClusterFailed(
            f"--cluster {address}: the cluster cancelled the shards (a worker left: killed, or unable to "
            f"read a shard, as a worker of another m2msim is; its log says which): {end}"
        )
    if isinstance(exc, CancelledError):
        return ClusterFailed(
            f"--cluster {address}: the Dask scheduler went away before every shard was done (stopped, "
            f"or the network failed): {end}"
        )
    if isinstance(exc, KilledWorker):
        return ClusterFailed(
            f"--cluster {address}: every worker that ran one shard died while it ran (out of memory?): {end}"
        )
    return exc


def _merge_stats(scenario: Scenario, shard_stats: list[ShardResult]) -> dict[str, GroupStats]:
    groups = {g.name: GroupStats() for g in scenario.groups}
    for shard in shard_stats:
        for g, data in zip(scenario.groups, shard.groups, strict=True):
            groups[g.name].add(GroupStats.from_dict(data))
    return groups


def _merge_incidents(shard_stats: list[ShardResult]) -> dict[str, int]:
    total: dict[str, int] = {}
    for shard in shard_stats:
        for kind, n in shard.incidents.items():
            total[kind] = total.get(kind, 0) + n
    return dict(sorted(total.items()))


class UsageMerger:
    """Appends each shard's usage part, in shard order, to one `usage.parquet`.

    The parts are read with their dictionaries and written as they were encoded
    (`PART_PARQUET_OPTIONS`): no string is decoded and re-hashed.  `simulate` adds
    each part as soon as its shard is done, so the merge (a second write of every
    record, single-threaded) runs while the workers simulate the next shards.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def add(self, part: Path) -> None:
        f = pq.ParquetFile(part, read_dictionary=DICTIONARY_COLUMNS)
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self.path, f.schema_arrow, store_schema=False, **PART_PARQUET_OPTIONS
            )
        for i in range(f.num_row_groups):
            self._writer.write_table(f.read_row_group(i))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def usage_parts(out_dir: Path) -> list[Path]:
    """The shards' usage part files, in shard order."""
    return sorted((out_dir / "usage").glob("part-*.parquet"))


def merge_usage(out_dir: Path, csv: bool, parquet: bool = True) -> int:
    """The shards' usage parts, in shard order, into `usage.parquet` (and `usage.csv`); the row count.

    `parquet=False`: no `usage.parquet` (not wanted, or already merged by a `UsageMerger`).
    """
    parts = usage_parts(out_dir)
    rows = sum(int(pq.ParquetFile(p).metadata.num_rows) for p in parts)
    if parquet and parts:
        merger = UsageMerger(out_dir / "usage.parquet")
        try:
            for part in parts:
                merger.add(part)
        finally:
            merger.close()
    if csv:
        with pacsv.CSVWriter(out_dir / "usage.csv", USAGE_SCHEMA) as cw:
            for part in parts:
                f = pq.ParquetFile(part)
                for i in range(f.num_row_groups):
                    cw.write_table(f.read_row_group(i).cast(USAGE_SCHEMA))
        _remove_parts(out_dir / "usage-csv", "part-*.csv")
    return rows


def _remove_parts(folder: Path, pattern: str) -> None:
    """Remove the shards' part files `pattern` of `folder` (in the run's temporary folder), merged,
    then the folder if nothing else is in it: a file put there meanwhile, not the run's, is kept
    (the folder was removed whole) and the marker does not list it."""
    for part in folder.glob(pattern):
        part.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def merge_alarms(out_dir: Path) -> tuple[int, dict[str, int]]:
    """The shards' alarms in one JSON-lines file, in time order (then line, then rule)."""
    alarms: list[tuple[str, str, str, str]] = []
    for part in sorted((out_dir / "alarms").glob("part-*.jsonl")):
        for text in part.read_text(encoding="utf-8").splitlines():
            if text.strip():
                a = json.loads(text)
                alarms.append((str(a["time"]), str(a["line"]), str(a["rule"]), text))
    alarms.sort()
    by_rule: dict[str, int] = {}
    with (out_dir / "alarms.jsonl").open("w", encoding="utf-8") as f:
        for _, _, rule, text in alarms:
            f.write(text + "\n")
            by_rule[rule] = by_rule.get(rule, 0) + 1
    _remove_parts(out_dir / "alarms", "part-*.jsonl")
    return len(alarms), dict(sorted(by_rule.items()))


def _without_retries(paths: list[Path], out: Path) -> Path:
    """The usage records less the reconnection attempts (charging ids with RETRY_BIT), streamed to `out`."""
    with pq.ParquetWriter(out, USAGE_SCHEMA, compression="zstd") as writer:
        for path in paths:
            f = pq.ParquetFile(path)
            for i in range(f.num_row_groups):
                table = f.read_row_group(i).cast(USAGE_SCHEMA)
                cid = table["charging_id"]
                retry = pc.greater_equal(cid, RETRY_BIT)
                writer.write_table(table.filter(pc.invert(pc.fill_null(retry, False))))
    return out


def _invoice(scenario: Scenario, out_dir: Path, result: RunResult, shards: Sequence[ShardResult]) -> None:
    from simulator.summary import invoiced_ko

    inventory = inventory_from_dict(scenario.inventory, scenario.source)
    parts = usage_parts(out_dir)
    aggregated = [s.usage for s in shards if s.usage is not None]
    # The shards aggregated their parts as they finished (when they all did, and nothing since
    # changed the parts: the sum stands in for the scan of the files read as one).
    reader = PartAggregates(aggregated) if parts and len(aggregated) == len(parts) else None
    run = rate_run(inventory, parts or None, reader=reader)
    invoice = run.invoice
    _name_in_run(invoice, parts, out_dir)
    if parts and (out_dir / "usage.parquet").is_file():
        _placed_in_merge(invoice, parts, out_dir)
    # the report's offer comparison re-prices these aggregates: the month is read and rated once
    result.comparison = compare(run)
    invoice.coverage = usage_coverage(scenario)
    result.invoice = invoice
    (out_dir / "invoice.json").write_text(invoice.to_json() + "\n", encoding="utf-8")
    (out_dir / "invoice.txt").write_text(invoice.render_text() + "\n", encoding="utf-8")
    group_of = {line: g.name for g in scenario.groups for line in g.line_ids}
    costs = {g.name: Decimal("0.00") for g in scenario.groups}
    for bill in invoice.lines:
        name = group_of.get(bill.id)
        if name is not None:
            costs[name] += bill.total
    result.cost_by_group = costs
    if sum(s.retry_sessions for s in result.groups.values()):
        calm_path = _without_retries(parts, out_dir / ".usage-without-retries.parquet")
        try:
            calm = rate(inventory, calm_path)
        finally:
            calm_path.unlink(missing_ok=True)
        result.retry_cost = invoice.total - calm.total
        result.retry_ko = sum(invoiced_ko(invoice).values()) - sum(invoiced_ko(calm).values())


def _name_in_run(invoice: Invoice, parts: Sequence[Path], out_dir: Path) -> None:
    """The files the run's invoice names, the parts it rated (`usage_files`) and those of its
    rejects (and of a duplicate's first copy), by their names in the run folder,
    `usage/part-00002.parquet`: they were rated in the run's temporary folder, swapped in for it,
    and the rejects named them as the rating was given them (`part-00002.parquet`), a name the
    report found in none of the files it reads."""
    named: dict[str, str] = {}
    for path in parts:
        named[str(path)] = named[path.name] = _run_name(path, out_dir)
    for entry in invoice.usage_files or ():
        entry["name"] = _run_name(entry["name"], out_dir)
    first = ROW_REASONS["duplicate"][1] + " "
    rejects = []
    for r in invoice.rejects:
        reason = r.reason
        if reason.startswith(first) and (f := reason[len(first) :].rpartition(":")[0]) in named:
            reason = first + named[f] + reason[len(first) + len(f) :]
        rejects.append(dataclasses.replace(r, reason=reason, file=named.get(r.file or "", r.file)))
    invoice.rejects = rejects


def _run_name(path: Path | str, out_dir: Path) -> str:
    """The name of `path` in the run folder `out_dir`, as its invoice gives it: `usage/part-00002.parquet`."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(out_dir))).as_posix()


def _placed_in_merge(invoice: Invoice, parts: Sequence[Path], out_dir: Path) -> None:
    """Each part the run's invoice rated (`usage_files`), with its record count (`rows`) and where
    its records are in the run's `usage.parquet`, which merges the parts in shard order
    (`UsageMerger`): `merged_into`, that file's name, size and `sampled_sha256` and the records of
    the parts before it (`row_offset`: the part's row r, as its rejects number it, is the merged
    file's row r + row_offset).  A page of `usage.parquet` copied without its parts placed none of
    the rejects, which name a part and a row: they were counted as billed records, with a warning.
    Nothing is added when the entries are not the parts merged, one for one."""
    entries = invoice.usage_files or []
    names = [_run_name(p, out_dir) for p in parts]
    if [e.get("name") for e in entries] != names:
        return
    counts = [int(pq.read_metadata(part).num_rows) for part in parts]
    if sum(counts) != pq.read_metadata(out_dir / "usage.parquet").num_rows:
        return
    merged = file_identity(out_dir / "usage.parquet", "usage.parquet")
    offset = 0
    for entry, rows in zip(entries, counts, strict=True):
        entry["rows"] = rows
        entry["merged_into"] = {**merged, "row_offset": offset}
        offset += rows


def usage_coverage(scenario: Scenario) -> UsageCoverage | None:
    """The days the run's usage covers, when they are not the whole billing month."""
    m_start, m_end = scenario.month
    days_in_month = (m_end - m_start).days
    if scenario.start <= m_start and scenario.end >= m_end:
        return None
    return UsageCoverage(
        start=scenario.start.isoformat(),
        end=scenario.end.isoformat(),
        days=Decimal(scenario.duration_s) / Decimal(86_400),
        days_in_month=days_in_month,
    )


def simulate(
    scenario: Scenario,
    out_dir: Path,
    *,
    workers: int = 1,
    cluster: str | None = None,
    csv: bool = False,
    capture: bool = False,
    invoice: bool = True,
    merge: bool = True,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Run a scenario into `out_dir` and write every output (see the module docstring).

    `merge=False` leaves the usage records in the shards' part files only (no `usage.parquet`).
    `out_dir` appears whole at the end; `force` lets it replace a folder m2msim did not write,
    which is then kept whole beside it (`m2msim.rundir`).
    """
    final = Path(out_dir)
    with run_folder(final, force=force, writes=RUN_WRITES) as work:
        result = _simulate_into(scenario, work, workers, cluster, csv, capture, invoice, merge, progress)
    result.out_dir = final
    return result


def _simulate_into(
    scenario: Scenario,
    out_dir: Path,
    workers: int,
    cluster: str | None,
    csv: bool,
    capture: bool,
    invoice: bool,
    merge: bool,
    progress: Progress | None,
) -> RunResult:
    # the workers end (and free their memory) while this process writes the outputs below
    with contextlib.ExitStack() as leaving:
        return _outputs(scenario, out_dir, cluster, workers, csv, capture, invoice, merge, progress, leaving)


def _outputs(
    scenario: Scenario,
    out_dir: Path,
    cluster: str | None,
    workers: int,
    csv: bool,
    capture: bool,
    invoice: bool,
    merge: bool,
    progress: Progress | None,
    leaving: contextlib.ExitStack,
) -> RunResult:
    from simulator.summary import build_summary, render_summary

    (out_dir / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
    merger = UsageMerger(out_dir / "usage.parquet") if merge else None
    try:
        shard_stats = run_shards(
            scenario,
            out_dir,
            workers=workers,
            cluster=cluster,
            csv=csv,
            capture=capture,
            progress=progress,
            on_shard=None if merger is None else lambda i: merger.add(part_path(out_dir, i)),
            rating=rating_spec(scenario) if invoice else None,
            leaving=leaving,
        )
    finally:
        if merger is not None:
            merger.close()
    result = RunResult(out_dir, scenario, _merge_stats(scenario, shard_stats), len(shard_stats))
    result.incidents = _merge_incidents(shard_stats)
    hourly = HourlyUsage()
    for shard in shard_stats:
        hourly.merge(shard.hourly)
    result.usage_rows = merge_usage(out_dir, csv, parquet=False)
    result.alarms, result.alarms_by_rule = merge_alarms(out_dir)
    if invoice:
        _invoice(scenario, out_dir, result, shard_stats)
    result.summary = build_summary(result)
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    (out_dir / "summary.txt").write_text(render_summary(result.summary) + "\n", encoding="utf-8")
    # the report draws the records' hourly sums the shards counted, under the device-group names
    # its `lines` view gives their lines, instead of reading every record again
    names = group_names(RunFiles(out_dir, summary=result.summary))
    by_index = {i: names[g.line_group] for i, g in enumerate(scenario.groups)}
    result.hourly = hourly.relabel(by_index)
    write_report(out_dir, comparison=result.comparison, hourly=result.hourly)
    return result
