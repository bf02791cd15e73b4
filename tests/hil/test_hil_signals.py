"""A bench interrupted by SIGINT / SIGTERM / SIGHUP (its terminal closed): exit 130 / 143 / 129
within 2 s, no process left, and a transcript that holds every event up to the interruption, then the hang-up and PDP release.

The bench runs as a real `m2msim bench` process on the virtual modem; the test follows its debug
log (one line per command sent) and sends the signal when the seeded k-th command goes out.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Seeded moments: which command the signal follows, and which signal.
CASES = [(seed, random.Random(seed).randint(1, 15), sig) for seed in (1, 2) for sig in ("SIGINT", "SIGTERM")]
CASES.append((3, random.Random(3).randint(1, 15), "SIGHUP"))  # a SIGHUP killed it: no ATH sent


def _started(argv: list[str]) -> subprocess.Popen[str]:
    """`argv` started with its output read as it comes (unbuffered), to signal it at a chosen line."""
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(x) for x in text.split()}


@pytest.mark.parametrize(("seed", "k", "sig"), CASES)
def test_an_interrupted_bench_keeps_its_transcript_and_releases(
    tmp_path: Path, seed: int, k: int, sig: str
) -> None:
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "m2msim",
        "-vv",
        "bench",
        "dtmf_call",
        "--modem-url",
        f"virtual://generic?seed={seed}&speed=20",
    ]
    proc = _started([*argv, "--out", str(out), "--param", "hold=30"])
    sent = 0
    children: set[int] = set()
    assert proc.stderr is not None
    for line in proc.stderr:  # waits on the process's own log, line by line
        if " >> " in line:
            sent += 1
            if sent == k:
                children = _children(proc.pid)
                proc.send_signal(getattr(signal, sig))
                break
    assert sent == k, "the bench ended before the moment chosen"
    _, err = proc.communicate(timeout=2)  # the contract: stopped within 2 s
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert f"m2msim bench: interrupted ({sig})" in err and "Traceback" not in err
    assert all(not Path(f"/proc/{c}").exists() for c in children)

    text = (out / "transcript.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n")
    events = [json.loads(line) for line in text.splitlines()]  # every line a whole JSON object
    assert [e["seq"] for e in events] == list(range(len(events)))
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and events[-1]["status"] == "interrupted"
    cut = kinds.index("interrupted")
    commands_before = [e for e in events[:cut] if e["kind"] == "command"]
    assert len(commands_before) >= k - 1  # the k-1 answered commands, and the one cut short
    after = [e.get("command") for e in events[cut:] if e["kind"] == "command"]
    assert after[:2] == ["ATH", "AT+CGACT=0"]
    release = next(e for e in events[cut:] if e["kind"] == "step" and e["name"] == "release")
    assert release["ok"] and release["info"]["reason"] == "interrupted"
    assert not (out / "report.json").exists()  # no report for a run that did not end


def test_an_interrupted_rack_releases_every_modem(tmp_path: Path) -> None:
    out = tmp_path / "out"
    urls = ["virtual://generic?seed=1&speed=20", "virtual://quectel-bg96?seed=2&speed=20"]
    argv = [sys.executable, "-m", "m2msim", "-vv", "bench", "dtmf_call", "--param", "hold=30", "--out", str(out),
            "--junit", str(tmp_path / "bench.xml")]  # fmt: skip
    for url in urls:
        argv += ["--modem-url", url]
    proc = _started(argv)
    dialled: set[str] = set()
    assert proc.stderr is not None
    for line in proc.stderr:  # both modems in their call: the signal
        if " >> ATD" in line:
            dialled.add(line.split(" >> ")[0].rsplit(" ", 1)[-1])
            if len(dialled) == len(urls):
                proc.send_signal(signal.SIGINT)
                break
    assert len(dialled) == len(urls), "the bench ended before both modems dialled"
    _, err = proc.communicate(timeout=2)
    assert proc.returncode == 130, err
    assert "m2msim bench: interrupted (SIGINT)" in err and "Traceback" not in err
    assert not (tmp_path / "bench.xml").exists()  # no report of runs that did not end
    for name in ("generic-seed-1-speed-20", "quectel-bg96-seed-2-speed-20"):
        events = [
            json.loads(x) for x in (out / name / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert events[-1]["kind"] == "end" and events[-1]["status"] == "interrupted"
        cut = [e["kind"] for e in events].index("interrupted")
        assert [e.get("command") for e in events[cut:] if e["kind"] == "command"][:1] == ["ATH"]


def test_a_second_bench_on_the_same_junit_file_exits_2_naming_the_first(tmp_path: Path) -> None:
    """Two benches (each its --out) given one --junit both ran, and the one that ended last replaced
    the other's JUnit report."""
    junit = tmp_path / "bench.xml"

    def bench(out: str, hold: int) -> list[str]:
        return [sys.executable, "-m", "m2msim", "-vv", "bench", "dtmf_call", "--param", f"hold={hold}",
                "--modem-url", "virtual://generic?seed=1&speed=20", "--out", str(tmp_path / out),
                "--junit", str(junit)]  # fmt: skip

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        bench("a", 30), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert first.stderr is not None
        assert any(" >> " in line for line in first.stderr)  # its first command sent: under way
        second = subprocess.run(bench("b", 1), capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines()[-1] == (
            f"m2msim bench: {junit}: process {first.pid} is writing it now (one writer per output); "
            "wait for it or choose another"
        )
        assert " >> " not in second.stderr  # not one byte to its modem
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=10)
    assert first.returncode == 130


# `m2msim bench` on a port handled as a device (TIOCEXCL and a UUCP lock file, as on /dev/ttyUSB2;
# a pty is spared both), its lock files written to the folder given first
AS_DEVICE = """\
import sys
from pathlib import Path
from modem import portholders, transports
transports.NO_TIOCEXCL = ()
portholders.LOCK_DIRS = (Path(sys.argv[1]),)
from m2msim.cli import main
sys.exit(main(sys.argv[2:]))
"""
TIOCGEXCL = 0x80045440  # Linux: whether TIOCEXCL is set on the tty


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_bench_on_a_port_leaves_it_unlocked_and_no_process(tmp_path: Path, sig: str) -> None:
    import fcntl
    import struct

    from ptys import served_ptys_sync

    locks = tmp_path / "lock"
    locks.mkdir()
    allow = tmp_path / "bench.yaml"
    allow.write_text('numbers:\n  - number: "+33600000001"\n    allow: [call]\n', encoding="utf-8")
    with served_ptys_sync("simcom-sim800", seed=3) as [path]:
        argv = [sys.executable, "-c", AS_DEVICE, str(locks), "-vv", "bench", "dtmf_call", "--modem-url", path,
                "--allow-list", str(allow), "--param", "hold=30", "--out", str(tmp_path / "out")]  # fmt: skip
        proc = _started(argv)
        assert proc.stderr is not None
        children: set[int] = set()
        held = []
        for line in proc.stderr:  # the bench's own log: once it has the port and talks to it
            if " >> " in line:
                held = [p.name for p in locks.iterdir()]
                children = _children(proc.pid)
                proc.send_signal(getattr(signal, sig))
                break
        _, err = proc.communicate(timeout=10)
        assert held == [f"LCK..{os.path.basename(path)}"]  # (the lock was taken)
        assert proc.returncode == 128 + getattr(signal, sig), err
        assert f"interrupted ({sig})" in err and "Traceback" not in err
        assert all(not Path(f"/proc/{c}").exists() for c in children)
        assert list(locks.iterdir()) == []  # the UUCP lock file removed
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:  # TIOCEXCL lifted: another program may open the port
            assert struct.unpack("i", fcntl.ioctl(fd, TIOCGEXCL, b"\0" * 4))[0] == 0
        finally:
            os.close(fd)
