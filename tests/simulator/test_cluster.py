"""`m2msim run --cluster` on a Dask cluster of `dask scheduler` + `dask worker` processes (loopback):
the same files as a local run of the same seed, and no process of the cluster left afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from filewatch import wait_in
from fuzzing import run_cli
from processes import process_group

from simulator.cluster import ClusterError, loopback_cluster
from simulator.run import ATTEMPTS

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


# ---- failures on a real cluster: the run's files are whole and alone, or the run says why it stopped


def _start(out: Path, address: str, *more: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "m2msim", "run", str(SCENARIO), *SMALL, *more, "--cluster", address]
    return subprocess.Popen(
        [*argv, "--out", str(out)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _mid_run(out: Path) -> Path:
    """Once a shard has opened its usage part in the run's temporary folder beside `out` (in its
    attempt's own folder there, `simulator.run.ATTEMPTS`): that part."""
    tmp = wait_in(
        out.parent,
        lambda: next(iter(out.parent.glob(f".m2msim-{out.name}.tmp-*")), None),
        120,
        "the run's temporary folder",
    )
    attempts = wait_in(tmp, lambda: tmp / ATTEMPTS if (tmp / ATTEMPTS).is_dir() else None, 120, ATTEMPTS)
    attempt = wait_in(attempts, lambda: next(iter(attempts.glob("part-*-*")), None), 120, "a shard's attempt")
    usage = wait_in(
        attempt, lambda: attempt / "usage" if (attempt / "usage").is_dir() else None, 120, "usage/"
    )
    return wait_in(usage, lambda: next(iter(usage.glob("part-*.parquet")), None), 120, "a usage part")


def _same_files(run: Path, reference: Path) -> None:
    parts = sorted(p.name for p in (reference / "usage").glob("part-*"))
    assert parts and sorted(p.name for p in (run / "usage").glob("*")) == parts
    for name in [*(f"usage/{p}" for p in parts), *COMPARED]:
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def _left_beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".m2msim-{out.name}"))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    _run(out, "--workers", "2", "--no-merge")
    return out


def test_worker_killed_mid_run_its_shard_is_run_again(tmp_path: Path, local_run: Path) -> None:
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        out = tmp_path / "run"
        proc = _start(out, cluster.address, "--no-merge")
        _mid_run(out)
        os.kill(cluster.worker_pids[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _same_files(out, local_run)
    assert _left_beside(out) == []


def test_workers_in_another_working_directory_write_the_runs_folder(tmp_path: Path, local_run: Path) -> None:
    # `--out` relative to the coordinating process's folder: the workers' own is elsewhere
    (tmp_path / "here").mkdir()
    (tmp_path / "workers").mkdir()
    with loopback_cluster(2, tmp_path / "logs", worker_cwd=tmp_path / "workers") as cluster:
        proc = _start(Path("run"), cluster.address, "--no-merge", cwd=tmp_path / "here")
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _same_files(tmp_path / "here" / "run", local_run)
    assert list((tmp_path / "workers").iterdir()) == []


def test_two_runs_at_once_on_one_cluster(tmp_path: Path, local_run: Path) -> None:
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        procs = [_start(tmp_path / name, cluster.address, "--no-merge") for name in ("a", "b")]
        errs = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    for name in ("a", "b"):
        _same_files(tmp_path / name, local_run)


def _previous_run(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "run"
    _run(out, "--days", "0.25")  # (the last --days wins: a shorter run than the one interrupted)
    return out, {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _unchanged(out: Path, before: dict[str, bytes]) -> None:
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _left_beside(out) == []


def test_scheduler_killed_mid_run(tmp_path: Path) -> None:
    out, before = _previous_run(tmp_path)
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        proc = _start(out, cluster.address, "--no-merge", "--days", "3")
        _mid_run(out)
        os.kill(cluster.scheduler_pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and "the Dask scheduler went away" in err, err
    _unchanged(out, before)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_client_interrupted_the_workers_stop_their_shards(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    out, before = _previous_run(tmp_path)
    # two shards of 500 devices over 30 days (a quarter of a second a day), one on each worker;
    # both workers held (SIGSTOP) as a shard starts, so the client ends while their shards still run
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        more = ["--days", "30", "--max-lines", "500", "--shard-devices", "500"]
        proc = _start(out, cluster.address, "--no-merge", *more)
        _mid_run(out)
        for pid in cluster.worker_pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=240)
        finally:
            for pid in cluster.worker_pids:
                os.kill(pid, signal.SIGCONT)
        assert proc.returncode == status, err
        assert f"interrupted ({signal.Signals(signum).name}); " in err.strip().splitlines()[-1], err
        # a running Dask task cannot be cancelled: the shard stops at its next simulated day, when it
        # finds the run's folder gone (before, it ran to its end for nothing; and a shard held as it
        # started made the removed folder again with its own folders, and wrote on into it)
        logs = tmp_path / "logs"
        stopped = wait_in(
            logs,
            lambda: next((p for p in logs.glob("worker-*.log") if b"stopped" in p.read_bytes()), None),
            120,
            "a shard stopped",
            growing=True,
        )
        assert b"the run's folder" in stopped.read_bytes()
    _unchanged(out, before)


def _code_copy(tmp_path: Path) -> Path:
    """This m2msim's packages copied, one comment changed: another m2msim's code."""
    root = Path(__file__).resolve().parents[2]
    copy = tmp_path / "other-m2msim"
    for name in ("accounting", "gateway", "simulator", "modem", "hil", "reports", "m2msim"):
        shutil.copytree(root / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    engine = copy / "simulator" / "engine.py"
    engine.write_text(engine.read_text(encoding="utf-8") + "# another version\n", encoding="utf-8")
    return copy


def test_worker_of_another_m2msim_is_refused(tmp_path: Path) -> None:
    out, before = _previous_run(tmp_path)
    other = {"PYTHONPATH": str(_code_copy(tmp_path))}
    with loopback_cluster(1, tmp_path / "logs", worker_env=other) as cluster:
        proc = _start(out, cluster.address, "--no-merge")
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and "start the workers from the same m2msim" in err, err
    _unchanged(out, before)


def test_worker_of_an_older_m2msim_is_refused(tmp_path: Path) -> None:
    # an m2msim from before the workers checked their code: the shard's own task is unknown there
    copy = _code_copy(tmp_path)
    run = copy / "simulator" / "run.py"
    run.write_text(
        run.read_text(encoding="utf-8").replace("def _cluster_shard_task(", "def _older("), "utf-8"
    )
    out, before = _previous_run(tmp_path)
    with loopback_cluster(1, tmp_path / "logs", worker_env={"PYTHONPATH": str(copy)}) as cluster:
        proc = _start(out, cluster.address, "--no-merge")
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and "as a worker of another m2msim is" in err, err
    _unchanged(out, before)


def _own_mount(folder: Path, *, read_only: bool) -> list[str]:
    """A worker that sees `folder` as another machine does: an empty file system of its own, or
    the same files read-only (a mount namespace of its own, as root)."""
    mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    if not read_only:
        mount = f"mount -t tmpfs m2msim-test {folder}"
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a mount namespace")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode(errors='replace').strip()}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mount} && exec "$@"', "worker"]


@pytest.mark.parametrize(
    ("read_only", "says"),
    [(False, "does not see the run's folder"), (True, "could not write shard")],
)
def test_worker_that_cannot_write_the_runs_folder(tmp_path: Path, read_only: bool, says: str) -> None:
    out, before = _previous_run(tmp_path)
    with loopback_cluster(
        1, tmp_path / "logs", worker_prefix=_own_mount(tmp_path, read_only=read_only)
    ) as cluster:
        proc = _start(out, cluster.address, "--no-merge")
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and says in err and "every worker writes to" in err, err
    _unchanged(out, before)


# ---- an attempt that holds the run's commit lock (`simulator.run._committing`) as it puts shard 0's
# files in place, half of them moved: a process that takes the lock as a worker does, as soon as the
# run opens it, then is paused (SIGSTOP) or killed (SIGKILL) there
HOLDER = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from filewatch import wait_in
from simulator.run import ATTEMPTS, SHARDS_FILE, _committing
base, name, how = Path(sys.argv[2]), sys.argv[3], signal.Signals[sys.argv[4]]
print("ready", flush=True)
tmp = wait_in(base, lambda: next(iter(base.glob(f".m2msim-{name}.tmp-*")), None), 120, "the run's folder")
def token():
    try:
        return json.loads((tmp / SHARDS_FILE).read_text(encoding="utf-8"))["run"]
    except (OSError, ValueError, KeyError):
        return None
run = wait_in(tmp, token, 120, SHARDS_FILE)
half = tmp / ATTEMPTS / "part-00000-held" / "usage"
half.mkdir(parents=True)
(half / "part-00000.parquet").write_bytes(b"half of an attempt")
with _committing(tmp, run, 0, 60.0) as wanted:
    assert wanted
    (tmp / "usage").mkdir(exist_ok=True)
    os.replace(half / "part-00000.parquet", tmp / "usage" / "part-00000.parquet")
    print("holding", flush=True)
    os.kill(os.getpid(), how)
"""


def _holder(out: Path, how: signal.Signals) -> subprocess.Popen[str]:
    tests = Path(__file__).resolve().parents[1]
    argv = [sys.executable, "-c", HOLDER, str(tests), str(out.parent), out.name, how.name]
    holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    return holder


def test_attempt_paused_holding_the_commit_lock_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the attempts wait for the lock as long as the cluster waits for a silent worker (its TTL)
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL", "2s")
    out = tmp_path / "run"
    holder = _holder(out, signal.SIGSTOP)
    try:
        with loopback_cluster(2, tmp_path / "logs") as cluster:
            proc = _start(out, cluster.address, "--no-merge")
            assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
            # before, every other attempt waited for the lock for good, and so did the run
            _, err = proc.communicate(timeout=120)
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.communicate(timeout=60)
    assert holder.returncode == 0  # (resumed: it finds the run gone and moves nothing more)
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"is held by shard 0's attempt on {os.uname().nodename} (pid {holder.pid})" in err, err
    assert "the run stopped and wrote nothing" in err, err
    assert not out.exists() and _left_beside(out) == []


def test_attempt_killed_holding_the_commit_lock_its_half_is_replaced(tmp_path: Path, local_run: Path) -> None:
    # the kernel drops a dead process's flock: the next attempt of shard 0 takes the lock and puts
    # all of its own files in place, over the half the killed one moved
    out = tmp_path / "run"
    holder = _holder(out, signal.SIGKILL)
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        proc = _start(out, cluster.address, "--no-merge")
        holder.communicate(timeout=120)
        _, err = proc.communicate(timeout=240)
    assert holder.returncode == -signal.SIGKILL
    assert proc.returncode == 0, err
    _same_files(out, local_run)
    assert _left_beside(out) == []


def test_client_killed_mid_run_its_folder_is_refused_then_replaced(tmp_path: Path, local_run: Path) -> None:
    out = tmp_path / "run"
    with loopback_cluster(2, tmp_path / "logs") as cluster:
        proc = _start(out, cluster.address, "--no-merge")
        tmp = _mid_run(out).parents[3]  # (TMP/.m2msim-attempts/ATTEMPT/usage/PART)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        # left beside the run's --out; the workers put the shards they were running in place there
        usage = wait_in(tmp, lambda: tmp / "usage" if (tmp / "usage").is_dir() else None, 120, "usage/")
        wait_in(usage, lambda: next(iter(usage.glob("part-*.parquet")), None), 120, "a shard put in place")
        # no reader takes it for a whole run (a report drew the shards done, exit 0)
        report = run_cli(["report", str(tmp)])
        assert report.rc == 2, report
        assert f"{tmp}: the folder of an m2msim run that has not ended" in report.err, report
        # the next run removes it, its workers' late shards included, and writes the whole run
        _run(out, "--cluster", cluster.address, "--no-merge")
    _same_files(out, local_run)
    assert _left_beside(out) == []
