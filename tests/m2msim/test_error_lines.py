"""Every command's error line starts with the command's own words (`m2msim sessions-to-records: `), as
`m2msim rate: ` does, so a script running several commands knows which one refused what."""

from __future__ import annotations

import io
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
