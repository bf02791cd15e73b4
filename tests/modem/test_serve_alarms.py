"""`m2msim modem serve --alarms`: the operator's autodiagnostic alarms raised by the served modems.

The served lines' uses (attaches, data, SMS, calls) reach the gateway's alarm engine as the
simulator's devices' do in `m2msim run` (the same uses give the same alarms:
test_moves_billed_alike.py); each alarm is appended to --alarms-out as it is raised, dated in the
served network's time (the scenario's start, not the wall clock).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import assert_cli_contract, run_cli

from tests.filewatch import wait_in
from tests.processes import TcpDte

ROAMING = """\
groups:
  - name: bench
    line_prefix: [vm-]
    geography:
      countries: [FR]
"""
START = "2026-03-02T08:00:00Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)


def _alarms(path: Path) -> list[dict[str, Any]] | None:
    """The alarms of the file, once it holds a whole line (None before)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    lines = text.splitlines(keepends=True)
    if not lines or not lines[-1].endswith("\n"):
        return None
    return [json.loads(line) for line in lines]


def _serve_roaming(
    tmp_path: Path, served: list[subprocess.Popen[str]], file_limit: int | None = None
) -> tuple[subprocess.Popen[str], Path]:
    """A serve with the ROAMING alarms on a modem registered in Belgium (the SIM's home is France),
    its uses dated from START, attached by its client (AT+CGATT=1 answered); `file_limit`: the serve
    cannot write a file past so many bytes (EFBIG, as a full disk gives ENOSPC)."""
    config, scenario, out = (
        tmp_path / "alarms.yaml",
        tmp_path / "serve.yaml",
        tmp_path / "out" / "alarms.jsonl",
    )
    config.write_text(ROAMING, encoding="utf-8")
    scenario.write_text(f"start: {START}\n", encoding="utf-8")
    out.parent.mkdir()

    def limited() -> None:
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    options = ["--tcp", "0", "--plmn", "20610", "--ip-path", "user", "--control", "none"]
    files = ["--scenario", str(scenario), "--alarms", str(config), "--alarms-out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    argv = [sys.executable, "-m", "m2msim", "modem", "serve", *options, *files]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limited
    )
    served.append(proc)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        dte = TcpDte(sock)
        dte.send(b"ATE0;+CGREG=1\r")
        dte.until(b"OK\r\n")
        dte.until(b"+CGREG: 5\r\n")  # registered, roaming
        dte.send(b"AT+CGATT=1\r")
        dte.until(b"OK\r\n")
    return proc, out


def test_a_roaming_alarm_reaches_the_file_while_the_modem_is_served(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    """A firmware attaching abroad on the virtual modem raises the operator's geography alarm, in the
    file while serving goes on, dated in the served network's time; SIGTERM ends the serve cleanly."""
    proc, out = _serve_roaming(tmp_path, served)
    alarms = wait_in(out.parent, lambda: _alarms(out), 60, "the geography alarm", growing=True)
    assert [(a["rule"], a["details"]["country"], a["details"]["serving_plmn"]) for a in alarms] == [
        ("geography", "BE", "20610")
    ]
    assert alarms[0]["line"].startswith("vm-")
    assert alarms[0]["time"].startswith("2026-03-02T08:00:")  # the served network's clock
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == f"m2msim modem serve: interrupted (SIGTERM); 1 alarm in {out}"
    assert _alarms(out) == alarms


def test_an_alarm_the_disk_cannot_take_is_said_at_the_end(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    """The modem goes on serving (its client had its OK); the lost alarms are said in one line, exit 2."""
    proc, out = _serve_roaming(tmp_path, served, file_limit=60)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == (
        f"m2msim modem serve: --alarms-out {out}: cannot write (File too large): "
        "the alarms after the first 0 are lost"
    )
    assert "Traceback" not in err


def test_a_bad_alarm_configuration_names_its_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "alarms.yaml"
    config.write_text("groups:\n  - name: a\n    geography:\n      countrys: [FR]\n", encoding="utf-8")
    result = run_cli(["modem", "serve", "--alarms", str(config), "--check"], cwd=tmp_path)
    assert_cli_contract(result)
    assert result.rc == 2
    assert result.err == (
        f"m2msim modem serve: {config}:4: groups[0] (a).geography.countrys: unknown key "
        "(did you mean 'countries'?)\n"
    )
    assert not (tmp_path / "alarms.jsonl").exists()


def test_an_alarms_file_m2msim_did_not_write_is_kept_without_force(tmp_path: Path) -> None:
    config, out = tmp_path / "alarms.yaml", tmp_path / "notes.txt"
    config.write_text(ROAMING, encoding="utf-8")
    out.write_text("my notes\n", encoding="utf-8")
    args = ["modem", "serve", "--alarms", str(config), "--alarms-out", str(out), "--check"]
    result = run_cli(args, cwd=tmp_path)
    assert_cli_contract(result)
    assert result.rc == 2 and result.err == (
        f"m2msim modem serve: --alarms-out {out}: exists and was not written by m2msim: "
        "choose another name, or --force to replace it\n"
    )
    assert out.read_text(encoding="utf-8") == "my notes\n"
    assert run_cli([*args, "--force"], cwd=tmp_path).rc == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--alarms-out", "a.jsonl"], "--alarms-out: only with --alarms (the alarm configuration)"),
        (
            ["--alarms", "alarms.yaml", "--no-network"],
            "--alarms: there is no network to raise alarms with --no-network",
        ),
        (
            ["--alarms", "alarms.yaml", "--alarms-out", "alarms.yaml"],
            "--alarms-out alarms.yaml: is the input alarms.yaml; refusing to overwrite an input",
        ),
    ],
)
def test_alarm_options_that_cannot_be_served_are_refused(
    tmp_path: Path, options: list[str], message: str
) -> None:
    (tmp_path / "alarms.yaml").write_text(ROAMING, encoding="utf-8")
    result = run_cli(["modem", "serve", *options, "--check"], cwd=tmp_path)
    assert_cli_contract(result)
    assert result.rc == 2 and result.err.startswith(f"m2msim modem serve: {message}"), result.err


def test_the_alarms_go_beside_the_records_by_default(tmp_path: Path) -> None:
    (tmp_path / "alarms.yaml").write_text(ROAMING, encoding="utf-8")
    result = run_cli(
        ["modem", "serve", "--alarms", "alarms.yaml", "--records", "usage.csv", "--check"], cwd=tmp_path
    )
    assert result.rc == 0, result
    assert "alarms alarms.yaml: 1 group(s), time zone UTC, to usage.csv.alarms.jsonl" in result.out
    result = run_cli(["modem", "serve", "--alarms", "alarms.yaml", "--check"], cwd=tmp_path)
    assert "to alarms.jsonl" in result.out
