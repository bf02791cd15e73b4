"""Several files of one output: `rate`/`compare --out F --report P` put both in place, or neither
(docs/reliability.md, point 3).

They were written one after the other: a full disk at the page, or a signal while the page was
made, left the new invoice beside the previous month's page.  The disk is a small tmpfs (mounted as
root; the test is skipped where mounting is not permitted) filled to leave room for the invoice but
not for the page."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from interrupts import signals_restored, terminated
from mounts import mounted

import m2msim.outputs
import reports.run_report
from m2msim.cli import main
from m2msim.outputs import OutputSet
from m2msim.signals import Terminated, handle_signals

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"
RATE = ["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv")]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted at the end."""
    folder = tmp_path / "disk"
    folder.mkdir()
    with mounted(folder, "-t", "tmpfs", "-o", "size=256k", "m2msim-test"):
        yield folder


def _ours(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".m2msim-"))


@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_full_disk_at_the_page_leaves_the_invoice_as_it_was(
    small_disk: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out, page = small_disk / "invoice", small_disk / "month.html"
    argv = [command, *RATE[1:], "--out", str(out), "--report", str(page)]
    assert main(argv) == 0
    before = {p: p.read_bytes() for p in (out, page)}
    # room for the new invoice (--json: other bytes) and not for the page
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    room = 4 * len(before[out]) + 16384
    assert room < len(before[page])
    (small_disk / "filler").write_bytes(b"\0" * (free - room))
    capsys.readouterr()
    assert main([*argv, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"m2msim {command}: --report {page}: No space left on device; "
        f"--out {out} not written either (left as it was)"
    ], err
    assert {p: p.read_bytes() for p in (out, page)} == before
    assert _ours(small_disk) == []
    (small_disk / "filler").unlink()
    assert main([*argv, "--json"]) == 0  # room again: both replaced
    assert out.read_bytes().startswith(b"{") and _ours(small_disk) == []


def test_a_signal_while_the_page_is_made_leaves_the_invoice_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out, page = tmp_path / "invoice", tmp_path / "month.html"
    argv = [*RATE, "--out", str(out), "--report", str(page)]
    assert main(argv) == 0
    before = {p: p.read_bytes() for p in (out, page)}

    # SIGTERM while the page is drawn, as m2msim.signals raises it
    monkeypatch.setattr(reports.run_report, "render_rating_report", terminated)
    with signals_restored():
        assert main([*argv, "--json"]) == 143
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            f"m2msim rate: interrupted (SIGTERM); left as it was: {page}, {out}"
        )
    assert {p: p.read_bytes() for p in (out, page)} == before
    assert _ours(tmp_path) == []


def test_a_set_is_put_in_place_whole_or_not_at_all(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"old a")
    with OutputSet() as outputs:
        outputs.stage(a, b"new a")
        outputs.stage(b, b"new b")
        assert a.read_bytes() == b"old a" and not b.exists()  # nothing in place before the commit
        outputs.commit()
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b") and _ours(tmp_path) == []
    with pytest.raises(RuntimeError), OutputSet() as outputs:
        outputs.stage(a, b"newer a")
        raise RuntimeError  # an error before the commit: the staged files are removed
    assert a.read_bytes() == b"new a" and _ours(tmp_path) == []


def test_a_pipe_in_a_set_is_written_with_the_signals_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rate --out FIFO --report page.html`: the FIFO was opened with the signals held back (the
    renames' guard), and a FIFO nobody reads blocks its writer: SIGTERM and Ctrl-C could not stop it.
    Now the signal stops it there, and the page is left as it was."""
    fifo, page = tmp_path / "fifo", tmp_path / "page.html"
    os.mkfifo(fifo)
    page.write_bytes(b"old")

    def opening(path: Path, mode: str = "r") -> object:
        if Path(path) == fifo:  # nobody reads it: only a signal ends the wait
            os.kill(os.getpid(), signal.SIGTERM)
            return open(os.devnull, mode)  # (held back, the signal would come after the renames)
        return open(path, mode)

    monkeypatch.setattr(m2msim.outputs, "open", opening, raising=False)
    with signals_restored(), pytest.raises(Terminated), handle_signals(), OutputSet() as outputs:
        outputs.stage(page, b"new")
        outputs.stage(fifo, b"invoice")
        outputs.commit()
    assert page.read_bytes() == b"old" and _ours(tmp_path) == []


def test_the_line_names_the_output_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out` a socket (written in place, it cannot be opened) with `--report page.html`: the line
    said `--report page.html: No such device or address`, the page's name for the invoice's error."""
    monkeypatch.chdir(tmp_path)  # (a socket's path is short: relative)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("s")
        assert main([*RATE, "--out", "s", "--report", "page.html"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "m2msim rate: --out s: No such device or address; --report page.html not written either (left as it was)\n"
    )
    assert not (tmp_path / "page.html").exists() and _ours(tmp_path) == []
