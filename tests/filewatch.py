"""Waiting for files without polling: inotify on a folder (Linux), read with a deadline."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

IN_MODIFY, IN_CLOSE_WRITE, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x20, 0x80, 0x100


@contextlib.contextmanager
def _inotify(folder: Path, mask: int) -> Iterator[Callable[[float], list[str]]]:
    """`next_names(timeout)`: the names of `folder` the next events of `mask` touch ([] on timeout)."""
    folder.mkdir(parents=True, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    assert fd >= 0
    assert libc.inotify_add_watch(fd, os.fsencode(folder), mask) >= 0

    def next_names(timeout: float) -> list[str]:
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        data, names, i = os.read(fd, 65536), [], 0
        while i < len(data):
            length = int.from_bytes(data[i + 12 : i + 16], sys.byteorder)
            names.append(data[i + 16 : i + 16 + length].rstrip(b"\0").decode())
            i += 16 + length
        return names

    try:
        yield next_names
    finally:
        os.close(fd)


@contextlib.contextmanager
def watch(
    folder: Path, mask: int = IN_CREATE | IN_MOVED_TO, timeout: float = 120.0
) -> Iterator[Callable[[], Iterator[str]]]:
    """Names of `folder` the events of `mask` touch from now on, as they come (blocks until the next
    one; no event in `timeout` seconds fails the test)."""
    with _inotify(folder, mask) as next_names:

        def names() -> Iterator[str]:
            while True:
                got = next_names(timeout)
                assert got, f"nothing created in {folder} in {timeout:g} s"
                yield from got

        yield names


def wait_in(
    folder: Path, found: Callable[[], T | None], timeout: float, what: str, *, growing: bool = False
) -> T:
    """`found()`'s first answer that is not None, asked now and after each file created, written or
    moved into `folder` (inotify), for at most `timeout` seconds; past it the test fails naming `what`.
    `growing`: after each write to a file of it too (a file kept open, written as it goes)."""
    deadline = time.monotonic() + timeout
    mask = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | (IN_MODIFY if growing else 0)
    with _inotify(folder, mask) as next_names:
        while (result := found()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{what}: not in {folder} after {timeout:g} s: {sorted(os.listdir(folder))}"
                )
            next_names(left)
        return result
