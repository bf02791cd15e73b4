"""Every command's error line starts with the command's own words (`m2msim sessions-to-records: `), as
`m2msim rate: ` does, so a script running several commands knows which one refused what."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m2msim.cli import main


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as done:  # (argparse's own errors)
        return int(done.code or 0)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["sessions-to-records", "{missing}", "{tmp}/out.csv"], "sessions-to-records"),
        (["sessions-to-records", "{missing}", "{tmp}/out.csv", "--interval", "0"], "sessions-to-records"),
        (["alarms-check", "{missing}"], "alarms-check"),
        (["records-from-pcap", "{missing}"], "records-from-pcap"),
        (["records-from-radius-detail", "{missing}"], "records-from-radius-detail"),
        (["records-from-osmo-cdr", "{missing}"], "records-from-osmo-cdr"),
        (["rate", "{missing}", "{missing}"], "rate"),
        (["sms-decode", "zz"], "sms-decode"),
        (["sms-encode", "hi", "--to", "O612345678"], "sms-encode"),
        (["sms-count", "hi", "--language", "xx"], "sms-count"),
        (["modem", "probe", "virtual://generic", "--profile", "{missing}"], "modem probe"),
        (["modem", "at", "virtual://generic", "--timeout", "nan", "ATI"], "modem at"),
        (["modem", "serve", "--profile", "{missing}"], "modem serve"),
        # options a command does not have: the command says so, not the program ("m2msim: ...")
        (["rate", "--bogus", "{missing}", "{missing}"], "rate"),
        (["sessions-to-records", "{missing}", "{tmp}/o.csv", "--bogus"], "sessions-to-records"),
        (["modem", "probe", "virtual://generic", "--bogus"], "modem probe"),
    ],
)
def test_an_error_line_names_the_command(
    argv: list[str], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = [w.format(missing=tmp_path / "missing.csv", tmp=tmp_path) for w in argv]
    assert _status(words) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"m2msim {command}: "), err


class _ClosedPipe(io.StringIO):
    """A standard output whose reader went away (`| true`): every write raises EPIPE."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_standard_output_closed_by_its_reader_is_status_141_not_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`m2msim ... --json | true`: the command could not print and its status was 0, so a script
    under `set -o pipefail` saw a success (even where the command would have failed, exit 1). It is
    141 now, as SIGPIPE ends a Unix tool."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["sms-count", "hello"]) == 141


EXAMPLE_MONTH = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"


@pytest.mark.parametrize("command", ["rate", "compare"])
@pytest.mark.parametrize("form", [[], ["--json"]])
def test_rate_and_compare_to_a_closed_pipe_are_status_141(
    command: str, form: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`m2msim rate INVENTORY USAGE --json | true` exited 2 with `m2msim rate: : Broken pipe`,
    as if its input were unusable: the invoice was made, only its reader went away, which every
    other command says with 141."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    inventory, usage = EXAMPLE_MONTH / "inventory.yaml", EXAMPLE_MONTH / "usage.csv"
    assert main([command, str(inventory), str(usage), *form]) == 141
    assert "Broken pipe" not in capsys.readouterr().err


F_SETPIPE_SZ = 1031  # (Linux fcntl)


@pytest.mark.parametrize(("command", "form"), [("rate", []), ("rate", ["--json"]), ("compare", ["--json"])])
def test_an_output_cut_by_its_reader_is_status_141_with_standard_output_unbuffered(
    command: str, form: list[str]
) -> None:
    """With PYTHONUNBUFFERED=1 (container images, CI runners), the invoice went to the pipe in one
    write, which returned what the pipe had taken when its reader went away: the rest was dropped
    without an error, and `m2msim rate ... | head` ended with status 0 under `set -o pipefail`."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, F_SETPIPE_SZ, 4096)  # (smaller than each output: the writer must wait)
    inventory, usage = EXAMPLE_MONTH / "inventory.yaml", EXAMPLE_MONTH / "usage.csv"
    with subprocess.Popen(
        [sys.executable, "-m", "m2msim", command, str(inventory), str(usage), *form],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        os.close(write_end)
        assert len(os.read(read_end, 10)) == 10  # the output has begun: its reader goes away
        os.close(read_end)
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 141, err
    assert b"Traceback" not in err


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", str(ROOT / "scenarios" / "default.yaml"), "--days", "1", "--max-lines", "2", "--out", "r"],
        ["sessions-to-records", "sessions.csv", "records.csv"],
        ["rate", "inventory.yaml", "usage.csv"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_command_run_in_a_removed_folder_says_so(tmp_path: Path, argv: list[str]) -> None:
    """The shell's folder removed, or replaced by a run into `--out .` (the shell is left in the
    folder it replaced): `run` and `sessions-to-records` ended in a traceback (FileNotFoundError of
    `os.path.abspath`), `rate` in "m2msim rate: : No such file or directory"."""
    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["sh", "-c", script, "sh", str(gone), sys.executable, "-m", "m2msim", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    err = [line for line in done.stderr.splitlines() if line.startswith("m2msim ")]
    assert err[0] == (
        f"m2msim {argv[0]}: warning: the current folder no longer exists (removed, or replaced: a run "
        "into --out . replaces it whole), so no relative path names a file; change into it again "
        '(cd "$PWD"), or give absolute paths'
    ), done.stderr
    assert "Traceback" not in done.stderr and len(err) == 2, done.stderr
