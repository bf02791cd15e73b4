"""Processes of a command under test, read from /proc (the signal tests' proof that none is left)."""

from __future__ import annotations

import os
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
