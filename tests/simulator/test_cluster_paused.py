"""A worker paused (SIGSTOP: a long GC pause, a network cut) but not dead, on a real Dask cluster:
the scheduler, past its worker TTL (a few seconds here, by Dask's configuration), runs the
worker's shard again elsewhere.  Resumed after the run ended, the paused attempt must put nothing
in the run's folder: only one attempt of a shard puts its files in place, and none once the run
has finished with its shards."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filewatch import wait_in

from simulator.cluster import loopback_cluster
from simulator.engine import part_name
from simulator.run import (
    ATTEMPTS,
    SHARDS_FILE,
    CommitStuck,
    RunFolderGone,
    _commit,
    close_shards,
    open_shards,
)

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "smart-meters.yaml"
# two shards of 500 devices over 30 days (a quarter of a second a day), one on each worker
ARGS = ["--days", "30", "--max-lines", "500", "--shard-devices", "500", "--seed", "16", "--no-merge"]


def _open_parts(pid: int, under: Path) -> list[str]:
    """The usage part files under `under` that process `pid` holds open (/proc/PID/fd)."""
    found = []
    with os.scandir(f"/proc/{pid}/fd") as fds:
        for fd in fds:
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith(f"{under}/") and target.endswith(".parquet"):
                found.append(target)
    return found


def _holding_a_part(pids: list[int], under: Path, timeout: float) -> int:
    """The first of `pids` seen holding a usage part open under `under`.  No file event tells that a
    process opened a file: /proc is read every 20 ms, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        for pid in pids:
            if _open_parts(pid, under):
                return pid
        tick.wait(0.02)
    raise AssertionError(f"no worker opened a usage part under {under} in {timeout:g} s")


def _files(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_paused_worker_resumed_after_the_run_writes_nothing_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the scheduler removes a worker silent for 2 s (Dask's default: 5 minutes)
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL", "2s")
    # (Dask's active memory manager left on, as by default: the scenario is a task's result, made
    # again when the removed worker held its only copy)
    out = tmp_path / "run"
    logs = tmp_path / "logs"
    with loopback_cluster(2, logs) as cluster:
        argv = [sys.executable, "-m", "m2msim", "run", str(SCENARIO), *ARGS, "--cluster", cluster.address]
        proc = subprocess.Popen(
            [*argv, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        tmp = wait_in(
            tmp_path,
            lambda: next(iter(tmp_path.glob(".m2msim-run.tmp-*")), None),
            120,
            "the run's temporary folder",
        )
        paused = _holding_a_part(cluster.worker_pids, tmp, 120)
        os.kill(paused, signal.SIGSTOP)
        try:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            # the run ended (its shard done again by the other worker); the paused attempt still
            # holds its files open, but none of them is one of the finished run's
            assert not [p for p in _open_parts(paused, tmp_path) if p.startswith(f"{out}/")]
            before = _files(out)
            assert sorted(n for n in before if n.startswith("usage/")) == [
                "usage/part-00000.parquet",
                "usage/part-00001.parquet",
            ]
        finally:
            os.kill(paused, signal.SIGCONT)
        # the resumed attempt finds its run gone: it stops, writing nothing (its worker logs it)
        k = cluster.worker_pids.index(paused)
        log = logs / f"worker-{k}.log"
        wait_in(
            logs, lambda: True if b"stopped" in log.read_bytes() else None, 120, "shard stopped", growing=True
        )
        assert b"the run's folder" in log.read_bytes()
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "run"]


# ---- the commit of a shard's attempt, in one process: one attempt's files in place, and none once
# the run stopped taking them or in another run at the same path


def _attempt(folder: Path, index: int, text: str) -> Path:
    attempt = folder / ATTEMPTS / f"{part_name(index)}-{text}"
    (attempt / "usage").mkdir(parents=True)
    (attempt / "alarms").mkdir()
    (attempt / "usage" / f"{part_name(index)}.parquet").write_text(text, encoding="utf-8")
    (attempt / "alarms" / f"{part_name(index)}.jsonl").write_text(text, encoding="utf-8")
    return attempt


def _placed(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in folder.rglob("*")
        if p.is_file() and ATTEMPTS not in p.parts and p.name != SHARDS_FILE
    }


def test_only_the_first_attempt_of_a_shard_is_put_in_place(tmp_path: Path) -> None:
    token = open_shards(tmp_path)
    first, second = _attempt(tmp_path, 3, "first"), _attempt(tmp_path, 3, "second")
    assert _commit(tmp_path, first, 3, token) is True
    assert _commit(tmp_path, second, 3, token) is False
    assert _placed(tmp_path) == {"usage/part-00003.parquet": "first", "alarms/part-00003.jsonl": "first"}
    assert not first.exists() and not second.exists()
    close_shards(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alarms", "usage"]  # nothing of the commits left


def test_no_attempt_is_put_in_place_once_the_run_stopped_taking_them(tmp_path: Path) -> None:
    token = open_shards(tmp_path)
    late, later = _attempt(tmp_path, 0, "late"), _attempt(tmp_path, 1, "later")
    close_shards(tmp_path)
    with pytest.raises(RunFolderGone):
        _commit(tmp_path, late, 0, token)
    (tmp_path / SHARDS_FILE).write_text("", encoding="utf-8")  # even were the file made again
    with pytest.raises(RunFolderGone):
        _commit(tmp_path, later, 1, token)
    assert _placed(tmp_path) == {}


def test_an_attempt_of_a_run_is_never_put_in_another_run_at_the_same_path(tmp_path: Path) -> None:
    old = open_shards(tmp_path)
    close_shards(tmp_path)
    open_shards(tmp_path)  # a new run in the same folder
    stale = _attempt(tmp_path, 1, "stale")
    with pytest.raises(RunFolderGone):
        _commit(tmp_path, stale, 1, old)
    assert _placed(tmp_path) == {} and not stale.exists()


# ---- an attempt paused while it holds the commit lock (SIGSTOP between its renames): neither the
# other attempts nor the run wait for it for good (a blocking flock waited as long as it was held)


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[str]:
    """An open run in `tmp_path` whose commit lock another open file holds (a paused attempt's); the
    run's token."""
    token = open_shards(tmp_path)
    fd = os.open(tmp_path / SHARDS_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield token
    finally:
        os.close(fd)


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_an_attempt_waits_for_a_held_lock_no_longer_than_the_bound(tmp_path: Path, held_lock: str) -> None:
    attempt = _attempt(tmp_path, 0, "waiting")
    thread, raised = _in_thread(lambda: _commit(tmp_path, attempt, 0, held_lock, wait_s=0.2))
    thread.join(30)
    assert not thread.is_alive(), "the attempt still waits for the lock"
    assert len(raised) == 1 and isinstance(raised[0], CommitStuck), raised
    assert "held by an attempt that had not yet said which" in str(raised[0])
    assert _placed(tmp_path) == {} and not attempt.exists()


def test_the_run_stops_taking_shards_though_the_lock_is_held(tmp_path: Path, held_lock: str) -> None:
    attempt = _attempt(tmp_path, 1, "waiting")
    waiting, raised = _in_thread(lambda: _commit(tmp_path, attempt, 1, held_lock, wait_s=60))
    closing, _ = _in_thread(lambda: close_shards(tmp_path, wait_s=0.2))
    closing.join(30)
    assert not closing.is_alive(), "the run still waits for the lock"
    # the attempt that waited for the lock sees the run done with its shards, at once
    waiting.join(30)
    assert not waiting.is_alive() and len(raised) == 1 and isinstance(raised[0], RunFolderGone), raised
    assert sorted(p.name for p in tmp_path.iterdir()) == []
