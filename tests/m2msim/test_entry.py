"""The `m2msim` program's own start (`m2msim.entry`): what it sets before any command's modules load."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from m2msim import entry


def _threads_after_numpy(setup: str) -> int:
    """The threads a fresh interpreter runs once `setup` has run and NumPy is imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    code = f"{setup}\nimport os, numpy\nprint(len(os.listdir('/proc/self/task')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="no /proc to count a process's threads")
def test_numpy_starts_no_blas_threads_under_m2msim() -> None:
    """NumPy's BLAS threads (one per core, spinning at first) are not started by any command."""
    assert _threads_after_numpy("from m2msim.entry import no_blas_threads\nno_blas_threads()") == 1
    if (os.cpu_count() or 1) > 1:  # the comparison: without it, NumPy's import starts them
        assert _threads_after_numpy("") > 1


def test_the_users_own_blas_setting_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    entry.no_blas_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    entry.no_blas_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
