"""m2msim.inputs.each_once: a file given more than once is read once, under the first name given."""

from __future__ import annotations

from pathlib import Path

from m2msim.inputs import each_once


def test_the_same_path_object_given_twice_is_read_once(tmp_path: Path) -> None:
    # a caller's list holding one Path object twice (`[path] * 2`): the second is the same file
    path = tmp_path / "a.pcap"
    path.write_bytes(b"x")
    kept, repeats = each_once([path, path])
    assert kept == [path]
    assert repeats == [(path, f"given twice: read once, from {path}")]


def test_different_files_are_all_read(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.pcap" for name in "abc"]
    for path in paths:
        path.write_bytes(b"x")
    missing = tmp_path / "gone.pcap"  # (not looked at: kept, its reader says why)
    kept, repeats = each_once([*paths, missing, missing])
    assert kept == [*paths, missing, missing]
    assert repeats == []
