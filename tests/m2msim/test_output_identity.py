"""One output, several paths to it: the lock is on the file's identity, not on the name given, and
`--force` never writes through a link into a file m2msim did not write."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from m2msim.outputs import OutputBusy, OutputError, atomic_write_text, head_matches, output_lock
from tests.m2msim.test_shared_files import held_by_another_process

Paths = Callable[[Path], tuple[Path, Path]]


def _symlink(tmp: Path) -> tuple[Path, Path]:
    (tmp / "link.csv").symlink_to("out.csv")
    return tmp / "out.csv", tmp / "link.csv"


def _symlink_existing(tmp: Path) -> tuple[Path, Path]:
    (tmp / "out.csv").write_text("m2msim\n")
    return _symlink(tmp)


def _dangling_symlink(tmp: Path) -> tuple[Path, Path]:
    (tmp / "sub").mkdir()
    (tmp / "link.csv").symlink_to("sub/out.csv")  # the output does not exist yet
    return tmp / "sub" / "out.csv", tmp / "link.csv"


def _dotdot(tmp: Path) -> tuple[Path, Path]:
    (tmp / "elsewhere" / "deep").mkdir(parents=True)
    (tmp / "a").symlink_to(tmp / "elsewhere" / "deep")  # a/.. is elsewhere, not tmp
    return tmp / "elsewhere" / "b.csv", tmp / "a" / ".." / "b.csv"


def _folder_link(tmp: Path) -> tuple[Path, Path]:
    (tmp / "real").mkdir()
    (tmp / "alias").symlink_to("real")
    return tmp / "real" / "out.csv", tmp / "alias" / "out.csv"


def _hard_link(tmp: Path) -> tuple[Path, Path]:
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    (tmp / "a" / "out.csv").write_text("m2msim\n")
    os.link(tmp / "a" / "out.csv", tmp / "b" / "same.csv")
    return tmp / "a" / "out.csv", tmp / "b" / "same.csv"


WAYS: dict[str, Paths] = {
    "symlink": _symlink,
    "symlink to an existing file": _symlink_existing,
    "dangling symlink": _dangling_symlink,
    "a/../b": _dotdot,
    "folder reached through a link": _folder_link,
    "hard link": _hard_link,
}


@pytest.mark.parametrize("way", WAYS)
def test_two_names_of_one_output_share_its_lock(tmp_path: Path, way: str) -> None:
    first, second = WAYS[way](tmp_path)
    with output_lock(first), pytest.raises(OutputBusy), output_lock(second):  # a descriptor held
        pass
    with output_lock(second), pytest.raises(OutputBusy), output_lock(first):
        pass
    with output_lock(first), output_lock(tmp_path / "another.csv"):
        pass  # free again, and another output is not held by it
    assert not [p for p in tmp_path.rglob(".m2msim-*")]  # the lock files are removed on release


@pytest.mark.parametrize("way", ["symlink", "hard link"])
def test_a_second_process_through_another_name_is_refused_naming_the_holder(tmp_path: Path, way: str) -> None:
    first, second = WAYS[way](tmp_path)
    with held_by_another_process(first) as pid, pytest.raises(OutputBusy) as info, output_lock(second):
        pass
    assert info.value.pid == pid and f"{second}: process {pid} is writing it now" in str(info.value)


def test_a_link_into_a_missing_folder_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / "link.csv").symlink_to("gone/out.csv")
    missing = r"symbolic link to .*gone/out\.csv, whose folder does not exist"
    with pytest.raises(OutputError, match=missing), output_lock(tmp_path / "link.csv"):
        pass


OWN = head_matches(b"m2msim")


def test_force_replaces_a_link_to_a_foreign_file_not_the_file(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("the user's notes\n")
    link = tmp_path / "out.txt"
    link.symlink_to(foreign)
    with pytest.raises(OutputError, match="not written by m2msim"):
        atomic_write_text(link, "m2msim output\n", own=OWN)
    atomic_write_text(link, "m2msim output\n", own=OWN, force=True)
    assert foreign.read_text() == "the user's notes\n"  # never written through the link
    assert not link.is_symlink() and link.read_text() == "m2msim output\n"


def test_a_link_to_m2msims_own_file_is_kept_and_its_file_replaced(tmp_path: Path) -> None:
    own = tmp_path / "runs" / "out.txt"
    own.parent.mkdir()
    own.write_text("m2msim earlier output\n")
    link = tmp_path / "out.txt"
    link.symlink_to(own)
    for force in (False, True):
        atomic_write_text(link, f"m2msim output {force}\n", own=OWN, force=force)
        assert link.is_symlink() and own.read_text() == f"m2msim output {force}\n"
