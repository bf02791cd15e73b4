"""Processes of a command under test, read from /proc (the signal tests' proof that none is left, and
when a command has started handling signals)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def process_group(pgid: int) -> list[int]:
    """Live processes (not zombies) of process group `pgid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(int(entry))
    return found


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (SigCgt of /proc/PID/status); False once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def wait_for_handler(proc: subprocess.Popen[bytes], signum: int, timeout: float = 60.0) -> bool:
    """Wait until `proc` handles `signum` (its program has started) or has ended; True if it handles it.

    Nothing tells another process when a handler is installed: /proc is read again every
    millisecond, for at most `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if catches(proc.pid, signum):
            return True
        time.sleep(0.001)
    return False
