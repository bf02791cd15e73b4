"""`m2msim run` under attack: signals at random moments, two runs on one folder, foreign folders,
bad options, jobs too big for the machine, partial months (docs/reliability.md, "## run")."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from filewatch import wait_in, watch
from fuzzing import CliResult, assert_cli_contract, run_cli
from interrupts import signals_restored, terminated
from processes import process_group, wait_for_handler

from m2msim.outputs import host_name
from m2msim.rundir import MARKER, marker_files, run_folder
from simulator.estimate import JobTooBig, Limits, admit, estimate_run
from simulator.run import PoolStalled, _gather
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEFAULT = SCENARIOS / "default.yaml"
SMALL = ["--days", "1", "--max-lines", "8", "--shard-devices", "4"]


# -- processes -----------------------------------------------------------------------------------


def _start(out: Path, seed: int, workers: int = 2) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "m2msim", "run", str(DEFAULT), *SMALL, "--workers", str(workers)]
    argv += ["--seed", str(seed), "--out", str(out)]
    # a session of its own: its process group is the run and everything it starts
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (on each process's pidfd, no polling) until `pids` have exited; those still alive."""
    alive = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                alive.append(pid)
        finally:
            os.close(fd)
    return alive


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, list[str]]:
    """The exit status and stderr lines of `proc`, which must end within `timeout` and leave no
    process of its group behind."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"m2msim run did not stop within {timeout} s")
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    left = _wait_gone(process_group(proc.pid), 2.0)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind by m2msim run: {left}"
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


# -- folders -------------------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _assert_complete_run(folder: Path, seed: int) -> None:
    """A whole run folder: the marker lists exactly the files there, the records are all there."""
    listed = marker_files(folder)
    assert listed is not None
    assert sorted(listed) == sorted(k for k in _digest(folder) if k != MARKER)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seed"] == seed
    assert pq.ParquetFile(folder / "usage.parquet").metadata.num_rows == summary["usage_records"] > 0


def _m2msim_entries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".m2msim-"))


def test_signals_at_random_moments_leave_a_whole_run_and_no_process(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "r"
    rc, err = _finish(_start(out, seed=1, workers=1), 120)
    assert rc == 0, err
    _assert_complete_run(out, 1)
    before = _digest(out)
    rng = random.Random(20260309)
    for attempt, sig in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM)):
        seed = 10 + attempt
        proc = _start(out, seed)
        wait_for_handler(proc, signal.SIGTERM)  # the delay counts from the program's first line
        try:  # the moment: a seeded delay, cut short if the run ends first
            proc.wait(timeout=rng.uniform(0.3, 4.0))
        except subprocess.TimeoutExpired:
            if sig == signal.SIGINT:
                os.killpg(proc.pid, sig)  # Ctrl-C in a terminal: the whole foreground group
            else:
                os.kill(proc.pid, sig)  # kill PID: the main process only
        rc, err = _finish(proc, 2.0 if proc.returncode is None else 120)
        name = signal.Signals(sig).name
        if rc == 0:  # it finished before the signal
            _assert_complete_run(out, seed)
        else:
            assert rc == 128 + sig, err
            now = _digest(out)
            if now != before:  # the signal came during the swap: the new run is whole
                _assert_complete_run(out, seed)
            # the line says which run the folder holds (once the run had taken it: the scenario is
            # read and checked first)
            kept = f"; written: {out}" if now != before else f"; left as it was: {out}"
            assert err in (
                [f"m2msim run: interrupted ({name})"],
                [f"m2msim run: interrupted ({name}){kept}"],
            ), err
        assert _m2msim_entries(out.parent) == [], "temporary files left beside the run folder"
        before = _digest(out)


def _ignores_sigint(pid: str) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


def _a_worker(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """A worker process of the run `proc`, as soon as one is ready: a child of it that ignores SIGINT
    (`worker_init`; a child forked to run a program, or the resource tracker, does not)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                with contextlib.suppress(OSError):
                    if _ignores_sigint(child):
                        return int(child)
        time.sleep(0.001)  # nothing tells another process when a child is ready: /proc is read again
    pytest.fail("the run started no worker process")


def test_a_worker_killed_stops_the_run_in_one_line_and_keeps_the_old_run(tmp_path: Path) -> None:
    """A worker killed by the out-of-memory killer (SIGKILL): the run ended in a traceback."""
    out = tmp_path / "runs" / "r"
    with run_folder(out) as old:  # the previous run
        (old / "summary.json").write_text("{}\n")
    before = _digest(out)
    proc = _start(out, seed=2)
    worker = _a_worker(proc)
    os.kill(worker, signal.SIGKILL)
    rc, err = _finish(proc, 60)
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"m2msim run: worker process {worker} was killed by SIGKILL"), err
    assert _digest(out) == before and _m2msim_entries(out.parent) == []


def test_a_report_that_cannot_be_drawn_stops_the_run_in_one_line_and_keeps_the_old_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's DuckDB out of memory (a ReportError from the run's own files) ended the run in
    a traceback."""
    import simulator.run
    from reports.data import ReportError

    out = tmp_path / "runs" / "r"
    with run_folder(out) as old:  # the previous run
        (old / "summary.json").write_text("{}\n")
    before = _digest(out)

    def no_memory(folder: Any, *args: Any, **kwargs: Any) -> Path:
        raise ReportError(f"{folder}: Out of Memory Error: could not allocate block of size 256 KiB")

    monkeypatch.setattr(simulator.run, "write_report", no_memory)
    result = run_cli(["run", str(DEFAULT), *SMALL, "--workers", "1", "--out", str(out)])
    assert_cli_contract(result, allowed=(1,))
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Out of Memory Error" in lines[0], result
    assert lines[0].startswith("m2msim run: the report could not be drawn, so the run was not kept: ")
    assert _digest(out) == before and _m2msim_entries(out.parent) == []


class _PoolWithoutManager(Executor):
    """A process pool whose manager thread has ended (under `ulimit -v` it could not start the
    queue's feeder thread): what it was given is never done."""

    def __init__(self) -> None:
        self._executor_manager_thread = threading.Thread(target=lambda: None)
        self._executor_manager_thread.start()
        self._executor_manager_thread.join()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Future()


def test_a_pool_that_stopped_working_stops_the_run_rather_than_waiting_forever() -> None:
    outcome: list[BaseException] = []

    def gather() -> None:
        try:
            _gather(_PoolWithoutManager(), [("shard", 0)], None, None)
        except BaseException as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=gather, daemon=True)  # left behind if it waits forever
    waiting.start()
    waiting.join(30)
    assert not waiting.is_alive(), "the run waited forever for a pool that had stopped"
    assert isinstance(outcome[0], PoolStalled) and "--workers 1" in str(outcome[0])


def test_a_closed_terminal_stops_the_run_as_an_interruption(tmp_path: Path) -> None:
    """SIGHUP to the run's process group (its terminal or ssh session closed) killed the main process
    at once: no word, its temporary folder and lock left beside `--out`, its workers orphaned."""
    out = tmp_path / "runs" / "r"
    with run_folder(out) as old:  # the previous run
        (old / "summary.json").write_text("{}\n")
    before = _digest(out)
    proc = _start(out, seed=4)
    _a_worker(proc)  # the shards are under way
    os.killpg(proc.pid, signal.SIGHUP)
    rc, err = _finish(proc, 2.0)
    assert rc == 128 + signal.SIGHUP, err
    assert err == [f"m2msim run: interrupted (SIGHUP); left as it was: {out}"], err
    assert _digest(out) == before and _m2msim_entries(out.parent) == []


def test_a_run_under_nohup_outlives_its_terminal(tmp_path: Path) -> None:
    """SIGHUP ignored when the run starts (`nohup m2msim run ...`) stays ignored, by the workers too."""
    out = tmp_path / "runs" / "r"
    argv = [sys.executable, "-m", "m2msim", "run", str(DEFAULT), *SMALL, "--workers", "2"]
    proc = subprocess.Popen(
        [*argv, "--seed", "5", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    _a_worker(proc)
    os.killpg(proc.pid, signal.SIGHUP)
    rc, err = _finish(proc, 120)
    assert rc == 0, err
    _assert_complete_run(out, 5)


def _run_on_a_closed_terminal(out: Path, seed: int, ignore_hup: bool) -> int:
    """`m2msim run` on a terminal of its own (stdin, stdout and stderr, its controlling terminal),
    which is closed as soon as the progress bar is drawn on it (the shards under way): SIGHUP, and
    every write there fails with EIO.  The exit status, once no process of the run is left."""
    import fcntl
    import termios

    def on_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if ignore_hup:  # `nohup` without its redirections, or a job the shell was told to `disown`
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    master, slave = os.openpty()
    argv = [sys.executable, "-m", "m2msim", "run", str(DEFAULT), "--days", "5", "--max-lines", "40"]
    proc = subprocess.Popen(
        [*argv, "--shard-devices", "20", "--workers", "2", "--seed", str(seed), "--out", str(out)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=on_the_terminal,
    )
    os.close(slave)
    shown = b""
    try:
        while b"%" not in shown:  # the progress bar, drawn on the terminal
            chunk = os.read(master, 4096)
            assert chunk, shown
            shown += chunk
    finally:
        os.close(master)  # the terminal goes away
    try:
        proc.wait(timeout=120 if ignore_hup else 2.0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("m2msim run did not stop")
    assert not _wait_gone(process_group(proc.pid), 2.0), "processes left behind by m2msim run"
    return proc.returncode


def test_a_terminal_that_goes_away_ends_the_run_as_interrupted(tmp_path: Path) -> None:
    """Its terminal gone, the run cleaned up after SIGHUP, then failed to write its last line there
    (EIO): exit status 1 and "lost sys.stderr" instead of 129."""
    out = tmp_path / "runs" / "r"
    with run_folder(out) as old:  # the previous run
        (old / "summary.json").write_text("{}\n")
    before = _digest(out)
    assert _run_on_a_closed_terminal(out, 6, ignore_hup=False) == 128 + signal.SIGHUP
    assert _digest(out) == before and _m2msim_entries(out.parent) == []


def test_a_run_that_outlives_its_terminal_completes(tmp_path: Path) -> None:
    """SIGHUP ignored, the terminal gone: the progress bar's next write failed with EIO and stopped the
    run ("Input/output error"); at the end, the summary's did and the status was 1.  Now the bar stops
    drawing, the run completes, and the summary it could not print makes it 141, as a closed pipe."""
    out = tmp_path / "runs" / "r"
    assert _run_on_a_closed_terminal(out, 7, ignore_hup=True) == 141
    _assert_complete_run(out, 7)
    assert _m2msim_entries(out.parent) == []


def test_sigkill_leaves_the_old_run_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "r"
    rc, _ = _finish(_start(out, seed=1, workers=1), 120)
    assert rc == 0
    before = _digest(out)
    # kill the main process once its temporary folder exists (the run is under way)
    with watch(out.parent) as created:
        proc = _start(out, seed=2)
        for name in created():
            if name.startswith(f".m2msim-{out.name}.tmp-"):
                break
    os.kill(proc.pid, signal.SIGKILL)
    rc, _ = _finish(proc, 2.0)  # its workers die with it (PR_SET_PDEATHSIG): no process left
    assert rc == -signal.SIGKILL
    assert _digest(out) == before  # still the old complete run
    stale = re.compile(rf"^\.m2msim-{out.name}\.(tmp-{host_name()}-\d+-[0-9a-f]{{8}}|lock)$")
    left = _m2msim_entries(out.parent)
    assert left and all(stale.match(n) for n in left), left  # m2msim's own names, known to the next run
    rc, err = _finish(_start(out, seed=3, workers=1), 120)
    assert rc == 0, err
    _assert_complete_run(out, 3)
    # (every file the killed run wrote is one it names: no folder kept aside as holding a user's)
    assert sorted(p.name for p in out.parent.iterdir()) == ["r"]


def test_the_folder_a_killed_run_left_is_never_read_as_a_run(tmp_path: Path) -> None:
    # killed once its first shard's usage part is whole: its temporary folder holds a part of the
    # records, which `report` drew as a whole run's (exit 0) and `rate` rated as a month's
    out = tmp_path / "runs" / "r"
    with watch(out.parent) as created:
        proc = _start(out, seed=5, workers=1)
        tmp = next(out.parent / n for n in created() if n.startswith(f".m2msim-{out.name}.tmp-"))
    usage = wait_in(tmp, lambda: tmp / "usage" if (tmp / "usage").is_dir() else None, 120, "usage/")
    wait_in(usage, lambda: True if (usage / "part-00000.parquet").is_file() else None, 120, "a part")
    os.kill(proc.pid, signal.SIGKILL)
    assert _finish(proc, 2.0)[0] == -signal.SIGKILL
    inventory = SCENARIOS / "example-month" / "inventory.yaml"
    for argv in (
        ["report", str(tmp)],
        ["sql", str(tmp), "SELECT count(*) FROM usage"],
        ["rate", str(inventory), str(tmp / "usage")],
        ["compare", str(inventory), str(tmp / "usage" / "part-00000.parquet")],
    ):
        result = run_cli(argv)
        assert_cli_contract(result, allowed=(2,))
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and result.out == "", result
        assert lines[0].startswith(f"m2msim {argv[0]}: {tmp}: the folder of an m2msim run that has not ended")
        assert f"process {proc.pid} on {host_name()}" in lines[0], result
    assert not (tmp / "report.html").exists()
    # the next run into the same folder removes it, under its lock (no run of that folder is alive)
    rc, err = _finish(_start(out, seed=3, workers=1), 120)
    assert rc == 0, err
    _assert_complete_run(out, 3)
    # (every file the killed run wrote is one it names: no folder kept aside as holding a user's)
    assert sorted(p.name for p in out.parent.iterdir()) == ["r"]


def test_a_second_run_on_the_same_folder_exits_2_naming_the_first(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "r"
    with watch(out.parent) as created:
        first = _start(out, seed=4)
        for name in created():
            if name.startswith(f".m2msim-{out.name}.tmp-"):
                break
    second = run_cli(["run", str(DEFAULT), *SMALL, "--out", str(out)])
    assert_cli_contract(second)
    assert second.rc == 2 and f"process {first.pid} is writing it now" in second.err, second
    rc, err = _finish(first, 120)
    assert rc == 0, err
    _assert_complete_run(out, 4)


# -- folders, options, estimates, partial months (in-process) --------------------------------------


def test_a_folder_m2msim_did_not_write_is_refused_then_kept_whole_with_force(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["run", str(DEFAULT), "--days", "0.25", "--max-lines", "2", "--no-invoice", "--out", str(out)]
    refused = run_cli(argv)
    assert_cli_contract(refused)
    assert refused.rc == 2 and "not an m2msim run folder" in refused.err and "notes.txt" in refused.err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    forced = run_cli([*argv, "--force"])
    assert forced.rc == 0, forced
    assert (tmp_path / "mine.kept-1" / "notes.txt").read_text() == "mine"  # never deleted
    assert (out / MARKER).exists() and not (out / "notes.txt").exists()
    # a file dropped into a run folder makes it foreign again: refused, not deleted
    (out / "extra.txt").write_text("x")
    again = run_cli(argv)
    assert again.rc == 2 and "extra.txt" in again.err and (out / "extra.txt").exists()


def test_a_file_of_the_run_edited_by_hand_survives_the_next_run(tmp_path: Path) -> None:
    """The marker listed names only: notes added to `summary.txt` were deleted by the next run."""
    out = tmp_path / "r"
    argv = ["run", str(DEFAULT), "--days", "0.25", "--max-lines", "2", "--no-invoice", "--out", str(out)]
    assert run_cli(argv).rc == 0
    edited = (out / "summary.txt").read_text() + "my notes\n"
    (out / "summary.txt").write_text(edited)
    refused = run_cli(argv)
    assert_cli_contract(refused)
    assert refused.rc == 2 and "'summary.txt' changed since the run wrote it" in refused.err, refused
    assert (out / "summary.txt").read_text() == edited
    forced = run_cli([*argv, "--force"])
    assert forced.rc == 0, forced
    assert (tmp_path / "r.kept-1" / "summary.txt").read_text() == edited
    _assert_complete_run(out, load_scenario(DEFAULT).seed)


def test_files_m2msim_writes_into_a_run_folder_later_are_the_runs(tmp_path: Path) -> None:
    """`report RUN` and `rate --out RUN/invoice.txt` (into a `--no-invoice` run, which lists no
    invoice): the next run refused the folder for the invoice, not written by the run."""
    out = tmp_path / "r"
    argv = ["run", str(DEFAULT), "--days", "0.25", "--max-lines", "2", "--no-invoice", "--out", str(out)]
    assert run_cli(argv).rc == 0
    assert run_cli(["report", str(out)]).rc == 0
    inventory = SCENARIOS / "example-month" / "inventory.yaml"
    rated = run_cli(["rate", str(inventory), str(out / "usage"), "--out", str(out / "invoice.txt")])
    assert rated.rc in (0, 1) and (out / "invoice.txt").is_file(), rated
    assert "invoice.txt" in (marker_files(out) or [])
    again = run_cli(argv)
    assert again.rc == 0, again
    assert not (out / "invoice.txt").exists() and not list(tmp_path.glob("r.kept-*"))
    _assert_complete_run(out, load_scenario(DEFAULT).seed)


def test_a_full_disk_stops_the_run_in_one_line_and_keeps_the_old_run(tmp_path: Path) -> None:
    """The disk fills as the next run is built (a small tmpfs, mounted as root; skipped where that is
    not permitted): exit 2 naming the folder and the reason, the previous run whole, nothing beside
    it; with room again, the next run replaces it whole."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "m2msim-test", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        out = disk / "r"
        argv = ["run", str(DEFAULT), *SMALL, "--workers", "1", "--force", "--out", str(out)]
        first = run_cli([*argv, "--seed", "4"])
        assert first.rc == 0, first
        before = _digest(out)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * max(0, free - size // 2))  # (room for half a run)
        full = run_cli([*argv, "--seed", "5"])
        assert_cli_contract(full)
        assert full.rc == 2 and full.err.startswith(f"m2msim run: {out}: "), full
        assert "No space left on device" in full.err, full
        assert _digest(out) == before and _m2msim_entries(disk) == []
        (disk / "filler").unlink()
        again = run_cli([*argv, "--seed", "5"])
        assert again.rc == 0, again
        _assert_complete_run(out, 5)
        assert _m2msim_entries(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_run_folder_is_replaced_and_only_its_files_removed(tmp_path: Path) -> None:
    out = tmp_path / "r"
    argv = ["run", str(DEFAULT), "--days", "0.25", "--max-lines", "2", "--no-invoice", "--out", str(out)]
    assert run_cli([*argv, "--seed", "1"]).rc == 0
    first = _digest(out)
    assert run_cli([*argv, "--seed", "2"]).rc == 0
    assert _digest(out) != first
    _assert_complete_run(out, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # nothing beside it


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--days", "nan", "--days nan: expected a number of days in (0, 31]"),
        ("--days", "inf", "--days inf: expected"),
        ("--days", "0", "--days 0: expected"),
        ("--days", "-1", "--days -1: expected"),
        ("--days", "1e9", "--days 1e+09: expected"),
        ("--days", "1e-9", "--days: 1e-09: expected a period of at least one second"),
        ("--seed", "-1", "--seed -1: expected a whole number in [0, 9,223,372,036,854,775,807]"),
        ("--seed", str(2**64), f"--seed {2**64}: expected"),
        ("--workers", "0", "--workers 0: expected a whole number in [1, 256]"),
        ("--workers", "1000000", "--workers 1000000: expected"),
        ("--shard-devices", "0", "--shard-devices 0: expected a whole number in [1, 10,000,000]"),
        ("--max-lines", "-1", "--max-lines -1: expected a whole number in [1, 1,000,000,000]"),
        ("--seed", "x", "argument --seed: invalid int value"),
        (
            "--cluster",
            "scheduler",
            "--cluster scheduler: not a scheduler address such as tcp://10.0.0.5:8786",
        ),
        ("--cluster", "tcp://10.0.0.5:99999", "(port 99999 is not in 1..65535)"),
    ],
)
def test_options_out_of_range_exit_2_naming_the_range(
    tmp_path: Path, option: str, value: str, needle: str
) -> None:
    result = run_cli(["run", str(DEFAULT), option, value, "--out", str(tmp_path / "o")])
    assert_cli_contract(result)
    assert result.rc == 2 and needle in result.err, result
    assert not (tmp_path / "o").exists()


def test_a_cluster_address_where_no_scheduler_answers_exits_2_naming_it(tmp_path: Path) -> None:
    """An HTTP server at the address (a proxy; the dashboard's port 8787 given for the scheduler's
    8786) answers Dask's handshake with "HTTP/1.1 400 Bad Request": read as a frame length, it ended
    the run in a traceback, "Unable to allocate 3.07 EiB"."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
                    )

    threading.Thread(target=answer, daemon=True).start()
    try:
        result = _run_on_cluster(tmp_path, port)
    finally:
        server.close()
    _assert_refused_cluster(
        tmp_path, result, f"--cluster tcp://127.0.0.1:{port}: no Dask scheduler answers there"
    )


def _run_on_cluster(tmp_path: Path, port: int) -> CliResult:
    return run_cli(
        ["run", str(DEFAULT), *SMALL, "--cluster", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "o")]
    )


def _assert_refused_cluster(tmp_path: Path, result: CliResult, message: str) -> None:
    """One line, `m2msim run: MESSAGE...`, exit 2, and nothing left behind."""
    assert_cli_contract(result)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.rc == 2 and len(lines) == 1, result
    assert lines[0].startswith(f"m2msim run: {message}")
    assert not (tmp_path / "o").exists() and _m2msim_entries(tmp_path) == []


def test_a_cluster_address_that_takes_the_connection_and_says_nothing_ends_the_run(tmp_path: Path) -> None:
    """A port that accepts and never answers (a hung process, a proxy waiting for its own protocol):
    Dask's Client waited for its first answer for good, past its own connect timeout; the run now
    ends after twice that timeout (set to 1 s here as a user sets it, Dask's configuration)."""
    import socket

    import dask.config

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held: list[socket.socket] = []

    def hold() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=hold, daemon=True).start()
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            result = _run_on_cluster(tmp_path, port)
    finally:
        server.close()
        for conn in held:  # (the connecting thread, still waiting, sees the end and stops)
            conn.close()
    assert held, "the run never connected"
    _assert_refused_cluster(
        tmp_path, result, f"--cluster tcp://127.0.0.1:{port}: no Dask scheduler answered there"
    )


def test_a_fleet_too_big_for_the_machine_is_refused_with_the_estimate(tmp_path: Path) -> None:
    text = re.sub(r"count: \d+", "count: 1000000000", DEFAULT.read_text())
    huge = tmp_path / "huge.yaml"
    huge.write_text(text)
    result = run_cli(["run", str(huge), "--out", str(tmp_path / "o")])
    assert_cli_contract(result)
    assert result.rc == 2, result
    assert "job too big for this machine: 4,000,000,000 devices x 31 days" in result.err
    assert "of memory" in result.err and "--force" in result.err
    assert not (tmp_path / "o").exists()


def test_the_estimate_from_the_traffic_refuses_devices_x_days_too_large() -> None:
    month = estimate_run(load_scenario(DEFAULT, max_lines=100), workers=1)  # 300 devices
    assert month.devices == 300 and month.days == 31
    admit(month, Limits(memory_b=4 * 2**30, disk_b=2**30))  # fits
    two_days = estimate_run(load_scenario(DEFAULT, max_lines=100, days=2), workers=1)
    # a shard's sessions are held in memory: the longer job needs more
    assert month.sessions > two_days.sessions and month.memory_b > two_days.memory_b
    with pytest.raises(
        JobTooBig, match=r"job too big for this machine: 300 devices x 31 days, about [\d,]+ sessions"
    ):
        admit(month, Limits(memory_b=two_days.memory_b, disk_b=None))
    with pytest.raises(JobTooBig, match="disk over"):
        admit(month, Limits(memory_b=2**40, disk_b=month.disk_b / 2))


def test_scenario_name_cannot_leave_the_runs_folder(tmp_path: Path) -> None:
    for name, why in (
        ("../../etc", "a path separator"),
        ("/tmp/x", "a path separator"),
        ("..", "a leading dot"),
    ):
        path = tmp_path / "s.yaml"
        path.write_text(DEFAULT.read_text().replace("name: default", f"name: {json.dumps(name)}"))
        result = run_cli(["run", str(path), "--days", "0.25", "--max-lines", "2"], cwd=tmp_path)
        assert_cli_contract(result)
        assert result.rc == 2 and f"{path}:2: name: " in result.err and why in result.err, result
        assert "cannot place files elsewhere" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_partial_month_says_the_days_and_projects_the_month(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(["run", str(DEFAULT), "--days", "2", "--max-lines", "3", "--out", str(out)])
    assert result.rc == 0, result
    inv = json.loads((out / "invoice.json").read_text())
    assert inv["usage_covers"] == {
        "start": "2026-03-01T00:00:00+00:00",
        "end": "2026-03-03T00:00:00+00:00",
        "days": "2",
        "days_in_month": 31,
    }
    p = inv["projected_month"]
    assert "projection" in p["rule"] and "days in the month / days covered" in p["rule"]
    usage, fixed = Decimal(p["usage_ht"]), Decimal(p["fixed_ht"])
    assert usage + fixed == Decimal(inv["total_ht"])  # the invoice itself is unchanged
    assert Decimal(p["usage_projected_ht"]) == (usage * 31 / 2).quantize(Decimal("0.01"))
    assert Decimal(p["total_ht"]) == Decimal(p["usage_projected_ht"]) + fixed
    text = (out / "invoice.txt").read_text()
    assert "usage covers 2026-03-01 00:00 to 2026-03-03 00:00 UTC, 2 of the month's 31 days" in text
    assert f"Projected month: {p['total_ht']}" in text.replace(",", "")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["projected_month"] == p and summary["usage_covers"] == inv["usage_covers"]
    assert "a projection, not a bill" in (out / "summary.txt").read_text()


def test_a_run_folder_whose_path_is_not_utf8_is_refused_before_simulating(tmp_path: Path) -> None:
    """`--out` with a Latin-1 name (`r\\xe9run`): the month was simulated, then DuckDB, which opens
    only UTF-8 paths, could not read the run's parts and the run failed with 'not a Parquet file'.
    Refused at once now, saying why, nothing made."""
    out = tmp_path / os.fsdecode(b"r\xe9run")
    result = run_cli(["run", str(DEFAULT), *SMALL, "--out", str(out)])
    assert_cli_contract(result)
    assert result.rc == 2 and "the run folder's path is not UTF-8" in result.err, result
    assert list(tmp_path.iterdir()) == []


def test_a_partial_month_of_whole_tens_of_days_says_them_in_digits(tmp_path: Path) -> None:
    """`--days 10` (20, 30): invoice.json, summary.json and summary.txt said the usage covered
    "1E+1" days (a Decimal's normal form); they say 10."""
    from simulator.run import simulate

    sc = load_scenario(DEFAULT, days=10, max_lines=1)
    result = simulate(sc, tmp_path / "r", workers=1)
    inv = json.loads((result.out_dir / "invoice.json").read_text())
    assert inv["usage_covers"]["days"] == "10"
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["usage_covers"]["days"] == "10"
    text = (result.out_dir / "summary.txt").read_text()
    assert "usage covers 10 of the month's 31 days" in text and "x 31/10 +" in text
    assert "E+" not in text


def test_a_fleet_cut_by_max_lines_says_its_fleet_prices_are_the_cut_fleets(tmp_path: Path) -> None:
    """`--max-lines 8` keeps 32 of the default scenario's 600 lines: the 5 % Business fleet discount
    (from 50 lines), the SMS steps and the assistance tier then went by the 32 lines without a word,
    and the invoice looked like the fleet's. The run says so after its summary; without a cut, nothing
    is said."""
    result = run_cli(["run", str(DEFAULT), *SMALL, "--out", str(tmp_path / "o")])
    assert result.rc == 0, result
    assert "\nnote: --max-lines 8: 32 of the scenario's 600 lines; the fleet's prices" in result.out
    whole = run_cli(["run", str(DEFAULT), "--days", "1", "--max-lines", "1000", "--out", str(tmp_path / "w")])
    assert whole.rc == 0 and "--max-lines" not in whole.out, whole


class _Simulated(Exception):
    """The run got past the scenario's reading and the machine's admission, to the simulation."""


@pytest.mark.slow
def test_force_runs_a_fleet_of_more_than_a_million_lines_up_to_what_the_memory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over the inventory's million lines (a cluster's fleet), `run` said "unless forced: --force",
    and said it again with --force, which it did not pass to the inventory."""
    import simulator.cli
    from m2msim.cli import main

    reached: list[int] = []

    def simulate(scenario: Any, *args: Any, **kwargs: Any) -> None:
        reached.append(scenario.n_devices)
        raise _Simulated

    monkeypatch.setattr(simulator.cli, "simulate", simulate)
    big = tmp_path / "big.yaml"
    text = re.sub(r"count: \d+", "count: 250001", DEFAULT.read_text())  # 4 line groups: 1,000,004 lines
    big.write_text(text)
    line = max(i for i, t in enumerate(text.splitlines(), 1) if "count:" in t)  # the fourth, last group
    argv = ["run", str(big), "--days", "1", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"m2msim run: {big}:{line}: inventory.lines[3].count: 1,000,004 lines would take")
    assert err.rstrip().endswith("(at most 1,000,000 lines unless forced: --force)")
    with pytest.raises(_Simulated):
        main([*argv, "--force"])
    assert reached == [1_000_004]
    # forced, a fleet past what the memory holds is still refused before its lines are made
    huge = tmp_path / "huge.yaml"
    huge.write_text(re.sub(r"count: \d+", "count: 100000000000", DEFAULT.read_text()))
    assert main(["run", str(huge), "--force", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{huge}:" in err and "inventory.lines[0].count: 100,000,000,000 lines would take" in err
    assert err.rstrip().endswith("lines with --force: what this machine's memory holds)")
    assert reached == [1_000_004] and not (tmp_path / "o").exists()


def test_a_run_interrupted_while_its_scenario_is_read_names_its_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folder is taken (locked) once the scenario is read and checked: a signal before that said
    only "interrupted (SIGTERM)", where one after it says what became of --out."""
    import simulator.cli
    from m2msim.cli import main

    # SIGTERM while the scenario is read, as m2msim.signals raises it
    monkeypatch.setattr(simulator.cli, "load_scenario", terminated)
    out = tmp_path / "runs" / "r"
    with signals_restored():
        assert main(["run", str(DEFAULT), *SMALL, "--out", str(out)]) == 143
    assert capsys.readouterr().err == f"m2msim run: interrupted (SIGTERM); not written: {out}\n"
    assert not out.exists()
