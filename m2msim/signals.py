"""SIGINT and SIGTERM as exceptions, so every command stops the same way.

SIGINT raises `KeyboardInterrupt` (Python's own handler); SIGTERM raises `Terminated`, a
`KeyboardInterrupt` subclass, so every `finally`, context manager and `except KeyboardInterrupt`
that cleans up after Ctrl-C (temporary files removed, worker processes terminated, locks released)
does the same after a `kill`.  The command line (`m2msim.cli`) turns them into one line on stderr
and exit status 130 (SIGINT) or 143 (SIGTERM).

Once the first signal has been raised, both signals are ignored until the process ends: a second
Ctrl-C cannot break the clean-up of the first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "Terminated",
    "deferred_signals",
    "exit_status",
    "handle_signals",
    "ignore_signals",
    "interruption",
    "received",
    "signal_name",
    "worker_init",
]


_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_received: list[int] = []


def received() -> int | None:
    """The signal that interrupted the current `handle_signals` block, if one did.

    A library can turn the `KeyboardInterrupt` raised in its code into an error of its own (DuckDB
    raises "Query interrupted"): the signal was still received, and the command still stops as
    interrupted."""
    return _received[-1] if _received else None


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    ignore_signals()
    raise interruption(signum)


def ignore_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on (the process is already stopping)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def handle_signals() -> Iterator[None]:
    """SIGINT raises `KeyboardInterrupt`, SIGTERM raises `Terminated` inside the block.

    The previous handlers come back when the block ends normally (a command run in-process by a
    test leaves the process as it was); after an interruption both signals stay ignored, since the
    process is on its way out.  Outside the main thread (where Python delivers signals) it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _received.clear()
    for sig in old:
        signal.signal(sig, _raise)
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True
        ignore_signals()
        raise
    finally:
        if not interrupted:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception `signum` raises inside `handle_signals`."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def signal_name(exc: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def exit_status(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def worker_init() -> None:
    """Initializer of worker processes: Ctrl-C in a terminal reaches the whole process group, but
    only the parent decides what to do (it terminates its workers); SIGTERM kills a worker at once;
    and a worker dies with its parent, even a parent killed by SIGKILL (Linux `PR_SET_PDEATHSIG`).

    The parent starts its workers with both signals blocked (`deferred_signals`), so none arrives
    before this runs; they are unblocked here."""
    import ctypes  # here: every command imports this module, only workers need ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the line above: do not outlive it
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back during a step that must not be cut in two (a rename pair);
    a signal that arrives meanwhile is delivered when the block ends.

    Blocking the signals holds them back in this thread and in the processes it starts meanwhile;
    but the process may have other threads (DuckDB's and Arrow's pools: five during a run's swap)
    that a signal sent to the process reaches, and Python then runs its handler in this thread at
    once.  In the main thread the handlers are also replaced by one that only notes the signal,
    and the signal is raised again, to the handler of before, when the block ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    noted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in held} if main else {}
    for sig in handlers:
        signal.signal(sig, lambda signum, frame: noted.append(signum))
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # one held back here is noted now
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if noted:
            signal.raise_signal(noted[0])
