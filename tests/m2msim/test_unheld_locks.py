"""Removing the lock files nobody holds (`remove_unheld_locks`, `remove_stale_locks`) never removes
one a writer holds, even one made under the same name as the remover looked at it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from m2msim import outputs
from m2msim.outputs import remove_unheld_locks


def test_a_lock_file_made_again_as_the_old_one_was_locked_is_left_to_its_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer releasing its lock removes its lock file; the next writer makes a new one under the
    same name and holds it.  The remover, which had opened the old file, took its lock once the first
    writer let it go and removed the name: the new writer's file, whose writer then held a lock on a
    name nobody saw (a third writer of the same output was let in beside it)."""
    lock = tmp_path / ".m2msim-out.csv.lock"
    lock.write_text("4242\n")  # (the first writer's, released as the remover opens it)
    held: list[int] = []
    real_flock = fcntl.flock

    def flock(fd: int, op: int) -> None:
        if not held and op & fcntl.LOCK_EX:
            # meanwhile: the first writer removes its file, the next one makes its own and locks it
            os.unlink(lock)
            new = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            real_flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(new, b"4343\n")
            held.append(new)
        real_flock(fd, op)

    monkeypatch.setattr(outputs.fcntl, "flock", flock)
    try:
        assert remove_unheld_locks(tmp_path) == []
        assert lock.read_text() == "4343\n"  # (the live writer's lock file kept)
        assert os.fstat(held[0]).st_ino == os.stat(lock).st_ino
    finally:
        for fd in held:
            os.close(fd)


def test_the_lock_files_nobody_holds_are_removed_and_only_those(tmp_path: Path) -> None:
    dead = tmp_path / ".m2msim-a.lock"
    dead.write_text("4242\n")
    live = tmp_path / ".m2msim-b.lock"
    fd = os.open(live, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    mine_not = tmp_path / "m2msim-c.lock"  # (not of m2msim's pattern)
    mine_not.write_text("")
    try:
        assert remove_unheld_locks(tmp_path) == [dead]
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m2msim-b.lock", "m2msim-c.lock"]
