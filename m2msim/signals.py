"""SIGINT, SIGTERM and SIGHUP as exceptions, so every command stops the same way.

SIGINT raises `KeyboardInterrupt` (Python's own handler); SIGTERM raises `Terminated` and SIGHUP
(the terminal or the ssh connection closed) `HungUp`, both `KeyboardInterrupt` subclasses, so every
`finally`, context manager and `except KeyboardInterrupt` that cleans up after Ctrl-C (temporary
files removed, worker processes terminated, locks released) does the same after a `kill` or a
closed terminal.  The command line (`m2msim.cli`) turns them into one line on stderr and exit status
130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP).

SIGHUP that is ignored when the program starts (`nohup m2msim run ...`) stays ignored: the user
asked the command to outlive its terminal (`stop_signals`).

Once the first signal has been raised, all of them are ignored until the process ends: a second
Ctrl-C cannot break the clean-up of the first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "HungUp",
    "Terminated",
    "deferred_signals",
    "exit_status",
    "foreground_program",
    "handle_signals",
    "ignore_signals",
    "interruption",
    "loop_stops_on",
    "received",
    "say_interrupted",
    "signal_name",
    "signal_of",
    "stop_signals",
    "worker_init",
]


_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


class HungUp(KeyboardInterrupt):
    """The process received SIGHUP: its terminal, or the ssh connection it ran under, was closed."""


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop a command: SIGINT, SIGTERM, and SIGHUP unless it is ignored (the
    program was started under `nohup`, or by a caller that wants it to outlive its terminal).

    SIGHUP's default action killed the process at once: a closed terminal or ssh session left the
    outputs under their temporary names (a `modem serve`'s whole session of usage records lost),
    the TUN namespace in place, a bench's call not hung up."""
    hup = signal.getsignal(signal.SIGHUP)
    if hup == signal.SIG_IGN or hup is None:
        return (signal.SIGINT, signal.SIGTERM)
    return (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
    """Ignore SIGINT, SIGTERM and SIGHUP from now on (the process is already stopping)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def handle_signals() -> Iterator[None]:
    """SIGINT raises `KeyboardInterrupt`, SIGTERM `Terminated`, SIGHUP `HungUp` inside the block
    (SIGHUP only when it is not ignored: `stop_signals`).

    The previous handlers come back when the block ends normally (a command run in-process by a
    test leaves the process as it was); after an interruption both signals stay ignored, since the
    process is on its way out.  Outside the main thread (where Python delivers signals) it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in stop_signals()}
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


@contextmanager
def foreground_program() -> Iterator[None]:
    """While an interactive program this process started reads the terminal (`sql --shell`'s
    DuckDB shell), Ctrl-C is the program's: the terminal sends SIGINT to the whole process group,
    and this process's `KeyboardInterrupt` ended the program with it (Ctrl-C to stop a query ended
    the whole shell, exit 130).  SIGINT is dropped here meanwhile, by a handler that does nothing
    (not `SIG_IGN`, which the program would inherit); SIGTERM and SIGHUP still end the command and
    the program.  Outside the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception `signum` raises inside `handle_signals`."""
    if signum == signal.SIGTERM:
        return Terminated()
    if signum == signal.SIGHUP:
        return HungUp()
    return KeyboardInterrupt()


def signal_of(exc: KeyboardInterrupt) -> signal.Signals:
    """The signal `exc` stands for."""
    if isinstance(exc, Terminated):
        return signal.SIGTERM
    if isinstance(exc, HungUp):
        return signal.SIGHUP
    return signal.SIGINT


def say_interrupted(line: str) -> None:
    """The one line of an interrupted command, on stderr.  After SIGHUP stderr is often a terminal
    that is gone: writing there fails (EIO), which ended the command with exit status 1 and "lost
    sys.stderr" after its clean-up.  Then stderr is pointed at /dev/null: the line goes nowhere, and
    nothing written after it (the interpreter's last flush) fails."""
    import sys

    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        stderr_gone()


def stderr_gone() -> None:
    """Point file descriptor 2 at /dev/null (its terminal is gone): what is written there, what its
    buffer still holds included, goes nowhere instead of failing."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)


def signal_name(exc: KeyboardInterrupt) -> str:
    return signal_of(exc).name


def exit_status(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + int(signal_of(exc))


def worker_init() -> None:
    """Initializer of worker processes: Ctrl-C in a terminal reaches the whole process group, but
    only the parent decides what to do (it terminates its workers), and so does SIGHUP, which a
    closed terminal sends to the whole process group too (a worker killed by it first ended the run
    as a crash, "worker killed by SIGHUP", exit 1); SIGTERM kills a worker at once; and a worker dies
    with its parent, even a parent killed by SIGKILL (Linux `PR_SET_PDEATHSIG`).

    The parent starts its workers with these signals blocked (`deferred_signals`), so none arrives
    before this runs; they are unblocked here."""
    import ctypes  # here: every command imports this module, only workers need ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the line above: do not outlive it
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back during a step that must not be cut in two (a rename
    pair); a signal that arrives meanwhile is delivered when the block ends.

    Blocking the signals holds them back in this thread and in the processes it starts meanwhile;
    but the process may have other threads (DuckDB's and Arrow's pools: five during a run's swap)
    that a signal sent to the process reaches, and Python then runs its handler in this thread at
    once.  In the main thread the handlers are also replaced by one that only notes the signal,
    and the signal is raised again, to the handler of before, when the block ends."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    noted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    # (a handler installed from C, not Python's, reads as None: it cannot be put back, so it is left
    # in place; the signal is still held back in this thread by the mask)
    before = {sig: signal.getsignal(sig) for sig in held} if main else {}
    handlers = {sig: handler for sig, handler in before.items() if handler is not None}
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


def loop_stops_on(loop: asyncio.AbstractEventLoop, stop: Callable[[int], None]) -> Callable[[], None]:
    """`stop(signum)` runs in `loop` on each of `stop_signals()` (a command that serves or drives a
    modem stops its work on them and cleans up itself); the function returned removes these handlers.

    Removed, the loop's handlers leave a signal at its default action (asyncio's rule), which killed
    the process at once: a SIGTERM, or a second one, while the command wrote its files after the
    loop ended (a serve's records, a bench's reports).  Once a signal has come, they are ignored from
    then on (the command is stopping, as after `handle_signals`); otherwise the handlers of before
    come back."""
    signals = stop_signals()
    before = {sig: signal.getsignal(sig) for sig in signals}
    came: list[int] = []

    def on_signal(signum: int) -> None:
        came.append(signum)
        stop(signum)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, int(sig))

    def remove() -> None:
        for sig, handler in before.items():
            loop.remove_signal_handler(sig)
            if came or handler is None:  # (None: a handler not set from Python; left at default)
                signal.signal(sig, signal.SIG_IGN if came else signal.SIG_DFL)
            else:
                signal.signal(sig, handler)

    return remove
