"""What is at an output path: a device or a pipe (`--out /dev/null`, `/dev/stdout`, a FIFO) is written
in place, never replaced by a regular file (as root, renaming over `/dev/null` replaced it for every
program of the machine), with no lock or temporary file beside it; a symbolic link is kept, and the
file it names written."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from m2msim.cli import main as m2msim
from m2msim.outputs import atomic_write_text, output_lock

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"


@contextmanager
def _fifo(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at `path` and a thread reading it to the end: the bytes written, once the block ends."""
    os.mkfifo(path)
    got: list[bytes] = []
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: a writer's open does not wait
    os.set_blocking(fd, True)
    writer_side = os.open(path, os.O_WRONLY)  # held until the end: the reader sees no end of file before

    def read() -> None:
        with os.fdopen(fd, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        yield got
    finally:
        os.close(writer_side)
        reader.join()


def test_an_atomic_write_to_a_pipe_writes_in_place(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    with _fifo(pipe) as got, output_lock(pipe):
        atomic_write_text(pipe, "whole text\n")
    assert got == [b"whole text\n"]
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode), "the pipe was replaced by a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_rate_out_and_report_to_a_pipe(tmp_path: Path) -> None:
    invoice, html = tmp_path / "invoice", tmp_path / "page"
    argv = ["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--json"]
    with _fifo(invoice) as got, _fifo(html) as page:
        assert m2msim([*argv, "--out", str(invoice), "--report", str(html)]) == 0
    assert b'"customer": "acme-meters"' in got[0]
    assert page[0].startswith(b"<!DOCTYPE html>")
    assert stat.S_ISFIFO(os.lstat(invoice).st_mode) and stat.S_ISFIFO(os.lstat(html).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice", "page"]


def test_an_output_that_is_a_symbolic_link_writes_the_file_it_names(tmp_path: Path) -> None:
    """`--out latest.json` pointing at this month's file: the link was replaced by a regular file,
    and the month's file, the one the link names, was left as it was."""
    month = tmp_path / "months" / "2026-03.json"
    month.parent.mkdir()
    month.write_text("Invoice acme-meters, 2026-02 (catalog orange-m2m-2012, EUR HT)\nTotal HT: 1.00 EUR\n")
    latest = tmp_path / "latest.json"
    latest.symlink_to(Path("months") / "2026-03.json")
    argv = ["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--json", "--out", str(latest)]
    assert m2msim(argv) == 0
    assert latest.is_symlink() and os.readlink(latest) == str(Path("months") / "2026-03.json")
    assert month.read_text().startswith("{") and '"customer": "acme-meters"' in month.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "months"]
    assert sorted(p.name for p in month.parent.iterdir()) == ["2026-03.json"]
