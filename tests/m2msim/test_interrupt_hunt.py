"""Every writing command interrupted at an event by SIGINT, SIGTERM, SIGHUP or SIGKILL, seeded
(tests/hunt.py says what each case checks; docs/reliability.md, "The contract").  `make fuzz`
runs 300 of them (HUNT_CASES; HUNT_SEED the first seed): each command once here."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from filewatch import wait_in
from hunt import Case, Run, attack, complete, json_lines, snapshot, stray, token_processes
from processes import TcpDte, run_group

ROAMING = "groups:\n  - name: bench\n    line_prefix: [vm-]\n    geography:\n      countries: [FR]\n"
ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"
SCENARIO = ROOT / "scenarios" / "default.yaml"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)


def _sessions(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("line,start,duration_s,bytes_up,bytes_down\n")
        for i in range(rows):
            f.write(
                f"3361234{i % 1000:04d},2026-03-{1 + i % 28:02d}T0{i % 10}:00:00Z,{50_000 + i},{i},{2 * i}\n"
            )
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished run with its capture, and a sessions CSV."""
    from m2msim.cli import main as m2msim

    d = tmp_path_factory.mktemp("inputs")
    argv = ["run", str(SCENARIO), "--days", "1", "--max-lines", "5", "--capture", "--out", str(d / "run")]
    assert m2msim(argv) == 0
    _sessions(d / "sessions.csv", 20_000)
    (d / "alarms.yaml").write_text(ROAMING, encoding="utf-8")
    return d


def _attach(proc: subprocess.Popen[bytes]) -> None:
    """A client attaches the served modem (in Belgium: a roaming alarm), then hangs up."""
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    if not url:
        return  # it ended: its status and line say why
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as sock:
        dte = TcpDte(sock)
        dte.send(b"AT+CGATT=1\r")
        dte.until(b"OK\r\n")


def _copied(run: Path, to: Path) -> Path:
    """A copy of the run folder `run` at `to` (made once), for a command that writes into it."""
    if run.is_dir() and not to.exists():
        shutil.copytree(run, to, copy_function=shutil.copy2)
    return to


def _whole_page(data: bytes) -> bool:
    return data.startswith(b"<!DOCTYPE html>") and data.rstrip().endswith(b"</html>")


def _whole_marker(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data).get("files"), list)
    except ValueError:
        return False


def _cases(inputs: Path, out: Path) -> dict[str, Callable[[], Case]]:
    run = ["run", str(SCENARIO), "--days", "1", "--max-lines", "5", "--no-invoice"]
    tmp = r"^\.m2msim-.*\.tmp-"
    return {
        "run": lambda: Case(
            "run",
            [*run, "--out", str(out / "r")],
            [out / "r"],
            [(out, r"\.lock$"), (out, tmp), (out, r"^r$")],
        ),
        "run --workers": lambda: Case(
            "run --workers",
            [*run, "--workers", "2", "--shard-devices", "5", "--out", str(out / "r")],
            [out / "r"],
            [(out, tmp)],
        ),
        "rate": lambda: Case(
            "rate",
            [
                "rate",
                str(MONTH / "inventory.yaml"),
                str(inputs / "run" / "usage.parquet"),
                "--out",
                str(out / "i.txt"),
                "--report",
                str(out / "i.html"),
            ],
            [out / "i.txt", out / "i.html"],
            [(out, r"\.lock$"), (out, tmp), (out, r"^i\.txt$")],
        ),
        "compare": lambda: Case(
            "compare",
            [
                "compare",
                str(MONTH / "inventory.yaml"),
                str(MONTH / "usage.csv"),
                "--json",
                "--out",
                str(out / "c.json"),
            ],
            [out / "c.json"],
            [(out, tmp)],
        ),
        "report": lambda: Case(
            "report",
            ["report", str(inputs / "run"), "--out", str(out / "p.html")],
            [out / "p.html"],
            [(out, tmp)],
        ),
        "rate RUN": lambda: Case(
            "rate RUN",
            [
                "rate",
                str(MONTH / "inventory.yaml"),
                str(inputs / "run"),
                "--json",
                "--out",
                str(out / "r.json"),
            ],
            [out / "r.json"],
            [(out, r"\.lock$"), (out, tmp)],
        ),
        "report RUN": lambda: Case(
            "report RUN",
            ["report", str(_copied(inputs / "run", out / "rr"))],
            [out / "rr" / "report.html", out / "rr" / ".m2msim-run.json"],
            [(out / "rr", r"\.lock$"), (out / "rr", tmp)],
            # (the page and the marker that records it: whole, the run's own or the new ones)
            volatile={0: _whole_page, 1: _whole_marker},
        ),
        "records-from-pcap": lambda: Case(
            "records-from-pcap",
            ["records-from-pcap", str(inputs / "run" / "capture"), "--out", str(out / "p.csv")],
            [out / "p.csv"],
            [(out, tmp)],
        ),
        "sessions-to-records": lambda: Case(
            "sessions-to-records",
            ["sessions-to-records", str(inputs / "sessions.csv"), str(out / "s.parquet")],
            [out / "s.parquet"],
            [(out, tmp)],
        ),
        "modem serve": lambda: Case(
            "modem serve",
            [
                "modem",
                "serve",
                "--tcp",
                "0",
                "--plmn",
                "20610",
                "--ip-path",
                "user",
                "--alarms",
                str(inputs / "alarms.yaml"),
                "--records",
                str(out / "u.csv"),
                "--capture",
                str(out / "u.pcap"),
                "--alarms-out",
                str(out / "a.jsonl"),
                "--journal",
                str(out / "j.jsonl"),
            ],
            [out / "u.csv", out / "u.pcap", out / "a.jsonl", out / "j.jsonl"],
            [(out, r"\.rec-"), (out, r"\.pcap-")],
            ok=(130,),
            drive=_attach,
            volatile={3: json_lines},  # the console's journal: each line has its time
        ),
        "bench": lambda: Case(
            "bench",
            [
                "bench",
                "register",
                "--modem-url",
                "virtual://generic?seed=1&speed=20",
                "--out",
                str(out / "b-{run}"),
                "--junit",
                str(out / "j.xml"),
            ],
            [out / "j.xml"],
            [(out, r"^b-")],
        ),
    }


CASES = int(os.environ.get("HUNT_CASES", "0"))  # 0: each command once (make test); make fuzz: 300
FIRST = int(os.environ.get("HUNT_SEED", "20261207"))
NAMES = list(_cases(Path("/i"), Path("/o")))


def _draw(seed: int) -> tuple[str, signal.Signals, int, bool]:
    """The command (each in turn), the signal, the event and whether a previous output is there."""
    rng = random.Random(seed)
    name = NAMES[seed % len(NAMES)]
    events = len(_cases(Path("/i"), Path("/o"))[name]().events)
    return name, rng.choice(SIGNALS), rng.randint(0, events), rng.random() < 0.5


@pytest.mark.parametrize("seed", range(FIRST, FIRST + (CASES or len(NAMES))))
def test_an_interrupted_command_leaves_whole_outputs_and_no_process(
    inputs: Path, tmp_path: Path, seed: int
) -> None:
    name, sig, event, previous = _draw(seed)
    attack(_cases(inputs, tmp_path / "out")[name](), sig, event, previous=previous)


def _m2msim(*argv: str) -> subprocess.CompletedProcess[str]:
    return run_group([sys.executable, "-m", "m2msim", *argv], timeout=120)


@pytest.mark.parametrize("command", ["run", "rate"])
def test_two_writers_of_one_out_at_once_one_is_refused_and_the_output_is_whole(
    inputs: Path, tmp_path: Path, command: str
) -> None:
    """The first is stopped (SIGSTOP) once its temporary file or folder is there; a second one then
    exits 2 naming it, before its work; the first, let go on, writes its output whole."""
    out = tmp_path / "out"
    case = _cases(inputs, out)[command]()
    run = Run(case, uuid.uuid4().hex)
    try:
        assert run.reach(2), "the command ended before its temporary file appeared"
        os.kill(run.proc.pid, signal.SIGSTOP)
        second = _m2msim(*case.argv)
        assert second.returncode == 2, second.stderr
        assert f"process {run.proc.pid} is writing it now" in second.stderr
        os.kill(run.proc.pid, signal.SIGCONT)
        rc, err, _ = run.finish()
        assert rc == 0, err
        assert not run.left()
    finally:
        if run.proc.poll() is None or token_processes(run.token):
            run.kill_all()
    assert not stray(case, killed=False)
    assert command == "run" or [snapshot(o) for o in case.outputs] == complete(case)[0]


def test_readers_of_a_run_folder_being_replaced_read_the_previous_run_whole(
    inputs: Path, tmp_path: Path
) -> None:
    """While a run replaces `--out`: `sql` reads the previous run, whole; `report` refuses it naming the
    run's process (exit 2, one line); given the run's temporary folder, both refuse it."""
    out = tmp_path / "out"
    case = _cases(inputs, out)["run"]()
    complete(case)
    page = _m2msim("report", str(out / "r"), "--out", str(tmp_path / "before.html"))
    count = _m2msim("sql", str(out / "r"), "SELECT count(*) FROM usage", "--csv")
    run = Run(case, uuid.uuid4().hex)
    try:
        assert run.reach(2)
        os.kill(run.proc.pid, signal.SIGSTOP)
        (work,) = [p for p in out.iterdir() if ".tmp-" in p.name]
        if not (work / ".m2msim-unfinished.json").exists():  # stopped as it made the folder: let it mark it
            os.kill(run.proc.pid, signal.SIGCONT)
            wait_in(work, lambda: (work / ".m2msim-unfinished.json").exists() or None, 60, "the run's mark")
            os.kill(run.proc.pid, signal.SIGSTOP)
        # the report waits for no one: it says who writes the folder, and writes nothing
        during = _m2msim("report", str(out / "r"), "--out", str(tmp_path / "during.html"))
        assert page.returncode == 0 and during.returncode == 2, during.stderr
        assert during.stderr.splitlines() == [
            f"m2msim report: {out / 'r'}: process {run.proc.pid} is writing it now (one writer per output); "
            "wait for it or choose another"
        ]
        assert not (tmp_path / "during.html").exists()
        sql = _m2msim("sql", str(out / "r"), "SELECT count(*) FROM usage", "--csv")
        assert (sql.returncode, sql.stdout) == (0, count.stdout), sql.stderr
        for argv in (["report", str(work)], ["sql", str(work), "SELECT 1"]):
            refused = _m2msim(*argv)
            assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
            assert "has not ended" in refused.stderr
        os.kill(run.proc.pid, signal.SIGCONT)
        rc, err, _ = run.finish()
        assert rc == 0, err
    finally:
        if run.proc.poll() is None or token_processes(run.token):
            run.kill_all()
    assert not stray(case, killed=False)


def test_a_link_to_a_foreign_file_and_a_forged_marker_lose_nothing(inputs: Path, tmp_path: Path) -> None:
    """`--out` a symbolic link to a file m2msim did not write: refused, file and link kept.  A run
    folder whose marker was forged to list files outside it: the run replaces the folder, and the
    files outside stay."""
    foreign = tmp_path / "notes.txt"
    foreign.write_text("mine\n")
    (tmp_path / "link.txt").symlink_to(foreign)
    rate = _m2msim(
        "rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--out", str(tmp_path / "link.txt")
    )
    assert rate.returncode == 2 and len(rate.stderr.splitlines()) == 1, rate.stderr
    assert foreign.read_text() == "mine\n" and (tmp_path / "link.txt").is_symlink()
    forged = tmp_path / "forged"
    forged.mkdir()
    marker = {"m2msim": "run folder", "files": ["../notes.txt", str(foreign), "sub/../../notes.txt"]}
    (forged / ".m2msim-run.json").write_text(json.dumps(marker))
    run = _m2msim(
        "run", str(SCENARIO), "--days", "1", "--max-lines", "2", "--no-invoice", "--out", str(forged)
    )
    assert run.returncode == 0, run.stderr
    assert foreign.read_text() == "mine\n"
