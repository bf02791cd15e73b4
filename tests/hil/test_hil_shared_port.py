"""A bench on a port another program uses (ModemManager, gpsd, a terminal, a second bench): refused
when it is seen before the run, failed as untrusted when its traffic shows during the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from ptys import held_open, served_ptys_sync

from m2msim.cli import main


def test_the_bench_refuses_a_port_another_process_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served_ptys_sync("simcom-sim800", seed=5) as (path,):
        with held_open(path) as other:
            status = main(["bench", "register", "--modem-url", path, "--out", str(tmp_path / "run")])
            err = capsys.readouterr().err.strip().splitlines()
            at = main(["modem", "at", path, "AT+CSQ"])
            at_err = capsys.readouterr().err.strip().splitlines()
        # the other process gone, the same port runs (its server, holding the master, is no holder)
        passed = main(["modem", "at", path, "AT+CSQ"])
    assert status == 2 and len(err) == 1
    assert f"{path} is open by python -c (pid {other.pid})" in err[0]
    assert f"To share it knowingly: {path}?exclusive=0" in err[0]
    assert at == 2 and len(at_err) == 1 and f"(pid {other.pid})" in at_err[0]
    assert passed == 0, capsys.readouterr()
