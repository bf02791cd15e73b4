"""The open-file limit a process needs: the soft RLIMIT_NOFILE raised up to the hard limit.  Shared
by the virtual modems (a pty or TCP port holds descriptors) and the log readers (every file merged
by time is open at once)."""

from __future__ import annotations

import resource


class FdLimitError(OSError):
    """More descriptors are needed than the hard RLIMIT_NOFILE allows."""


def raise_fd_limit(need: int, fewer: str = "serve fewer modems") -> int:
    """Make the soft RLIMIT_NOFILE at least `need` (up to the hard limit); the soft limit now in force.
    `FdLimitError` past the hard limit, its message ending with what to do else (`fewer`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise FdLimitError(
            f"needs {need} open files, the limit is {soft} (hard limit {hard}): "
            f"raise it (ulimit -n {need} as root) or {fewer}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else need
