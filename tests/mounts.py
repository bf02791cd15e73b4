"""A file system mounted for a test (as root; the test is skipped where mounting is not allowed)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted(point: Path, *how: str) -> Iterator[Path]:
    """`point` with `mount *how point` on it (`-t tmpfs -o size=256k m2msim-test`, `--bind SOURCE`),
    unmounted at the end; `pytest.skip` where it cannot be mounted."""
    done = subprocess.run(["mount", *how, str(point)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip() or done.returncode}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)
