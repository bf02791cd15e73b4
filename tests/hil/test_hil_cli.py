"""`m2msim bench`: runs a script, writes transcript and report, exit 2 on unusable input."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from interrupts import signals_restored, terminated

from hil.transcript import read_transcript
from m2msim.cli import main
from m2msim.outputs import output_lock

FAST = "virtual://simcom-sim800?seed=2&speed=20"  # 20 simulated seconds per real second


def test_bench_register_writes_transcript_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    status = main(["bench", "register", "--modem-url", FAST, "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "PASSED" in printed and str(out / "transcript.jsonl") in printed
    events = read_transcript(out / "transcript.jsonl")
    assert events[0]["kind"] == "start" and events[-1] == {**events[-1], "kind": "end", "status": "passed"}
    assert any(e["kind"] == "command" and e["command"] == "AT+CSQ" for e in events)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["status"] == "passed"
    assert report["summary"]["at_commands"] == sum(1 for e in events if e["kind"] == "command")
    assert report["estimate"]["usage_amount"] == "0.00"
    assert report["details"]["sim"] == "READY"
    assert (out / "report.txt").read_text(encoding="utf-8").startswith("bench register on ")


def test_bench_sms_json_report_with_offer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "bench", "sms_roundtrip", "--modem-url", FAST, "--out", str(tmp_path),
            "--offer", "business-m2m-dtmf", "--param", "text=hello bench", "--json",
        ]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["summary"]["sms_sent"] == 1 and report["summary"]["sms_received"] == 1
    assert report["estimate"]["offer"] == "business-m2m-dtmf"
    assert report["details"]["received"][0]["text"] == "hello bench"
    assert [r["type"] for r in report["network_records"]] == ["sms"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "nosuch", "--modem-url", FAST], "unknown bench script 'nosuch'"),
        (["bench", "register", "--modem-url", "virtual://nosuch"], "nosuch"),
        (["bench", "register", "--modem-url", "gopher://modem"], "unsupported URL scheme"),
        (["bench", "register", "--modem-url", FAST, "--param", "colour=red"], "unknown parameter 'colour'"),
        (["bench", "register", "--modem-url", FAST, "--param", "timeout=soon"], "timeout='soon'"),
        (["bench", "register", "--modem-url", FAST, "--param", "timeout"], "expected KEY=VALUE"),
        (["bench", "register", "--modem-url", FAST, "--offer", "gold"], "unknown offer 'gold'"),
        (["bench", "dtmf_call", "--modem-url", FAST, "--param", "digits=12X"], "not DTMF digits: X"),
        (["bench", "dtmf_call", "--modem-url", FAST, "--param", "to=06 12 34 56 7x"], "not a phone number"),
        (["bench", "sms_roundtrip", "--modem-url", FAST, "--param", "to=bench phone"], "not a phone number"),
        (["bench", "attach_and_send", "--modem-url", FAST, "--param", "payload=hex"], "binary, text"),
        (["bench", "attach_and_send", "--modem-url", FAST, "--param", "bytes=-1"], "must be 0 or more"),
        (["bench", "register", "--modem-url", FAST, "--profile", "nosuch"], "nosuch"),
        (["bench", "register", "--modem-url", "/dev/m2msim-no-such-tty"], "cannot open serial device"),
    ],
)
def test_unusable_input_is_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([*args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("m2msim bench: ") and message in err
    assert "Traceback" not in err


def test_missing_allow_list_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    status = main(["bench", "register", "--modem-url", FAST, "--allow-list", str(missing)])
    assert status == 2
    assert f"{missing}: cannot read" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_the_modem_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        for out in (blocker, blocker / "run"):
            status = main(["bench", "register", "--modem-url", url, "--out", str(out)])
            assert status == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"m2msim bench: --out {out}")
        with pytest.raises(BlockingIOError):  # nobody connected: no byte went to the modem
            server.accept()


def test_a_failed_run_hangs_up_and_releases_on_its_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "virtual://generic?seed=1&speed=50&reg_lost_at=0"  # never registers
    out = tmp_path / "run"
    assert main(["bench", "register", "--modem-url", url, "--param", "timeout=0.5", "--out", str(out)]) == 1
    capsys.readouterr()
    events = read_transcript(out / "transcript.jsonl")
    release = next(e for e in events if e["kind"] == "step" and e["name"] == "release")
    assert release["info"]["reason"] == "failed"
    after = [e["command"] for e in events[events.index(release) - 2 :] if e["kind"] == "command"]
    assert after == ["ATH", "AT+CGACT=0"]
    assert events[-1]["kind"] == "end" and events[-1]["status"] == "failed"
    assert json.loads((out / "report.json").read_text())["summary"]["status"] == "failed"


def test_a_second_bench_on_the_same_out_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with output_lock(out):  # as a first bench holds it
        assert main(["bench", "register", "--modem-url", "virtual://generic", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"process {os.getpid()} is writing it now" in err[0]
    assert not (out / "transcript.jsonl").exists()


def test_a_bench_into_an_earlier_benchs_folder_is_refused_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The transcript was truncated by the next bench on the same --out; interrupted, that bench left
    the earlier run's report.json / report.html (PASSED) beside its own transcript."""
    out = tmp_path / "run"
    assert main(["bench", "register", "--modem-url", FAST, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    again = ["bench", "dtmf_call", "--modem-url", "virtual://generic", "--out", str(out)]
    assert main(again) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "earlier bench's transcript.jsonl" in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _bench_with_file_size_limit(out: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """`m2msim -vv bench dtmf_call` in a process that cannot write a file past `limit` bytes (EFBIG,
    as a full disk gives ENOSPC): its debug log names every command sent to the modem."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    argv = [sys.executable, "-m", "m2msim", "-vv", "bench", "dtmf_call", "--modem-url", FAST]
    return subprocess.run(
        [*argv, "--param", "hold=1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limited,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_a_transcript_the_disk_cannot_take_from_the_start_sends_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _bench_with_file_size_limit(out, 20)  # the lock's PID fits, not the first event
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and " >> " not in done.stderr  # not one byte to the modem
    assert done.stderr.strip().splitlines()[-1].endswith("cannot write the transcript (File too large)")
    assert sorted(p.name for p in out.iterdir()) == []
    lock = _bench_with_file_size_limit(out, 0)  # not even the lock file's PID
    assert lock.returncode == 2 and "Traceback" not in lock.stderr and " >> " not in lock.stderr
    assert (
        lock.stderr.strip().splitlines()[-1]
        == f"m2msim bench: {out}: cannot write beside it (File too large)"
    )
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_transcript_the_disk_stops_taking_keeps_whole_lines_and_the_bench_hangs_up(tmp_path: Path) -> None:
    """A full disk in the middle of a call: the next event's write raised, the clean-up (ATH) was
    skipped, the command ended with a traceback and the file with half a line."""
    out = tmp_path / "run"
    done = _bench_with_file_size_limit(out, 2500)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and " >> ATH" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("m2msim bench:") and "transcript.jsonl there stops before the end" in last
    text = (out / "transcript.jsonl").read_text(encoding="utf-8")
    events = [json.loads(line) for line in text.splitlines()]  # every line whole
    assert text.endswith("\n") and 0 < len(text) <= 2500
    assert [e["seq"] for e in events] == list(range(len(events))) and events[-1]["kind"] != "end"


def test_a_junit_file_that_is_one_of_the_benchs_own_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--junit OUT/transcript.jsonl: the JUnit XML was written over the transcript, exit 0."""
    for name in ("transcript.jsonl", "report.json"):
        out = tmp_path / name.split(".")[0]
        bench = ["bench", "register", "--modem-url", FAST, "--out", str(out)]
        assert main([*bench, "--junit", str(out / "." / name)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is one of the bench's own files" in err[0], err
        assert not (out / "transcript.jsonl").exists()


def test_a_bench_interrupted_while_its_reports_are_written_does_not_say_its_folder_was_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line of an interrupted command says what became of its outputs; a bench's --out holds
    the transcript of the run as it went (not put in place at the end): it is not "left as it was"."""
    import hil.result

    # SIGTERM once the run is over, as m2msim.signals raises it
    monkeypatch.setattr(hil.result.BenchResult, "write", terminated)
    out, junit = tmp_path / "run", tmp_path / "bench.xml"
    with signals_restored():
        argv = ["bench", "register", "--modem-url", FAST, "--out", str(out), "--junit", str(junit)]
        assert main(argv) == 143
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == f"m2msim bench: interrupted (SIGTERM); not written: {junit}"
    )
    assert (out / "transcript.jsonl").exists() and not junit.exists()


def test_a_disk_that_cannot_take_the_page_leaves_none_of_the_reports(tmp_path: Path) -> None:
    """report.json and report.txt were written, then the page failed (a full disk): the folder held
    two of the three reports, which said the bench was done. They are put in place together now."""
    out = tmp_path / "run"

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))  # the page is over 20 kB, the rest under

    done = subprocess.run(
        [sys.executable, "-m", "m2msim", "bench", "register", "--modem-url", FAST, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limited,
    )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"m2msim bench: {out}: cannot write the report: File too large"
    )
    assert sorted(p.name for p in out.iterdir()) == ["transcript.jsonl"]


def test_a_bench_removes_the_lock_files_killed_benches_left_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bench's --out is named once (`runs/bench/NAME-TIME`): the lock file a bench killed by
    SIGKILL left beside it (`.m2msim-NAME-TIME.lock`) was never removed, no later bench writing that
    name.  The next bench removes those nobody holds; a live bench's stays."""
    runs = tmp_path / "runs"
    runs.mkdir()
    dead = runs / ".m2msim-register-20260301T120000Z.lock"
    dead.write_text("4242\n")  # (its writer gone: nobody holds it)
    live = runs / "register-20260301T130000Z"
    with output_lock(live, output=False):  # (a bench running now)
        held = [p.name for p in runs.iterdir() if p != dead]  # (the live bench's lock file)
        out = runs / "register-20260301T140000Z"
        assert (
            main(["bench", "register", "--modem-url", "virtual://generic?seed=1&speed=50", "--out", str(out)])
            == 0
        )
        assert sorted(p.name for p in runs.iterdir()) == sorted([*held, out.name])
    assert held == [".m2msim-register-20260301T130000Z.lock"]
    capsys.readouterr()


@pytest.mark.parametrize(("flag", "checks"), [([], True), (["--no-forwarding-check"], False)])
def test_no_forwarding_check_reaches_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], checks: bool
) -> None:
    import hil.cli

    seen: dict[str, object] = {}
    real = hil.cli.run_bench

    async def run_bench(script: object, url: str, **kwargs: Any) -> object:
        seen.update(kwargs)
        return await real(script, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hil.cli, "run_bench", run_bench)
    assert main(["bench", "register", "--modem-url", FAST, "--out", str(tmp_path / "run"), *flag]) == 0
    assert seen["check_forwarding"] is checks
