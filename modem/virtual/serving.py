"""What serving many virtual modems from one process asks of the process: open files and the event loop.

    reserve_fds(1000, tcp=False)                  # before opening 1,000 ptys (OptionError: --count)
    run_served(main())                            # on uvloop when it is installed, else asyncio's loop

A pty keeps two descriptors open (master and slave), a TCP port two (the listening socket and the
client's; three while a new client takes over).  The soft RLIMIT_NOFILE is raised up to the hard
limit when the modems need more; past the hard limit `FdLimitError` says how many are needed.
uvloop (an optional dependency, `pip install m2msim[speed]`) serves the same modems with less CPU per
command, on TCP most of all; the modems behave the same on either loop.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from modem.options import OptionError

T = TypeVar("T")

FDS_SPARE = 64  # the interpreter, imports, the records file, signals, the control socket...


class FdLimitError(OSError):
    """More descriptors are needed than the hard RLIMIT_NOFILE allows."""


def fds_needed(count: int, tcp: bool) -> int:
    """Descriptors `count` modems keep open (plus a margin for the rest of the process)."""
    return (3 if tcp else 2) * count + FDS_SPARE


def raise_fd_limit(need: int) -> int:
    """Make the soft RLIMIT_NOFILE at least `need` (up to the hard limit); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise FdLimitError(
            f"needs {need} open files, the limit is {soft} (hard limit {hard}): "
            f"raise it (ulimit -n {need} as root) or serve fewer modems"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else need


def reserve_fds(count: int, tcp: bool) -> None:
    """Raise the open-file limit for `count` modems; `OptionError` naming `--count` when it cannot be."""
    try:
        raise_fd_limit(fds_needed(count, tcp))
    except FdLimitError as exc:
        raise OptionError(f"--count {count}: {exc}") from None


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def run_served(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
