"""Input files given more than once (the same name twice, a file of a folder given and by its name,
a hard or symbolic link to it): each read once, under the first name given.  Shared by the capture
reader and the log readers, which read each file given and merge them, and by the rating's usage
files (`rate`, `compare`) and the usage `report` and `sql` read."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path


def each_once(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(`paths` less the names of a file given before, known by its device and inode, symbolic links
    followed; each such name once, with why it is not read, naming the one read).  A file read again
    gave its records right (its requests taken as retransmissions), but every packet, entry and
    request of it counted twice in the summary.  A name that cannot be looked at is kept (its reader
    says why)."""
    first: dict[tuple[int, int], Path] = {}
    kept: list[Path] = []
    repeats: list[tuple[Path, str]] = []
    said: set[str] = set()
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            kept.append(path)
            continue
        read = first.get((stat.st_dev, stat.st_ino))
        if read is None:  # (not `is path`: one Path object given twice is a repeat too)
            first[(stat.st_dev, stat.st_ino)] = path
            kept.append(path)
        elif str(path) not in said:
            said.add(str(path))
            how = "given twice" if str(path) == str(read) else f"the same file as {read}"
            repeats.append((path, f"{how}: read once, from {read}"))
    return kept, repeats


def replaced_repeat(
    repeats: Iterable[tuple[Path, str]], read: Collection[tuple[int, int]]
) -> tuple[Path, str] | None:
    """The first name not read (`repeats` of `each_once`) that no longer names a file read (`read`:
    their (device, inode), taken once the names were compared), with why: replaced (an export
    written again, renamed over it) between the comparison of the names and then, it is another
    file, which was left out without a word.  A name gone is not one (its file is read under the
    other)."""
    for path, _ in repeats:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return path, exc.strerror or str(exc)
        if (st.st_dev, st.st_ino) not in read:
            return path, "another file now has its name"
    return None
