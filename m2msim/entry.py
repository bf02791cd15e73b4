"""The `m2msim` program itself (`m2msim` on the PATH, `python -m m2msim`).

Three things `m2msim.cli.main` cannot do, since tests also call it in their own process:

- SIGINT and SIGTERM are handled from the program's first line, before the command's modules are
  imported: a signal then ends the program with the same one line and exit status (130 / 143),
  never a traceback from the middle of an import (nothing has been written yet, nothing to undo);
- a command that only computes and writes its outputs (`rate`, `compare`, the SMS codecs: every
  file written whole and closed) leaves without the interpreter's teardown of its objects;
- once the command has returned, both signals are ignored: the command has already cleaned up
  after itself (temporary files, worker processes, locks), and the interpreter's own shutdown must
  not turn a late signal into an ending with no word and exit status -2.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from types import FrameType


def _early(signum: int, frame: FrameType | None) -> None:
    command = " ".join(["m2msim", *[w for w in sys.argv[1:] if not w.startswith("-")][:1]])
    os.write(2, f"{command}: interrupted ({signal.Signals(signum).name})\n".encode())
    os._exit(128 + signum)


def no_blas_threads() -> None:
    """m2msim does no linear algebra: without this, importing NumPy starts OpenBLAS's threads, one
    per core, which spin waiting for work for their first 0.1 s (0.09 CPU-s of every command that
    imports NumPy, on the core its own work would have).  Before NumPy is imported (here and in
    the processes started after); the user's own setting stands."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def console() -> None:
    """Run the command line in this process and exit with its status."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early)
    no_blas_threads()
    from m2msim.cli import ends_at_once, main
    from m2msim.signals import Terminated, received

    try:
        status = main()
    except KeyboardInterrupt as exc:  # a signal outside the command's own handling
        _early(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT, None)
    # The command is over: its outputs are whole, its processes gone. A signal from now on changes
    # nothing; ignored (not merely handled), it is also left ignored by the interpreter's shutdown,
    # which would otherwise put SIGINT back to its default action (a late Ctrl-C would then kill
    # the program with no word and exit status -2, after a complete run).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if (status in (130, 143) and received() is not None) or ends_at_once(sys.argv[1:]):
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> None:
    """What the interpreter's shutdown does for us (threads joined, exit functions run: logging,
    temporary folders, worker processes; the streams flushed), then leave without the rest.

    For an interrupted command: CPython remembers a KeyboardInterrupt raised inside code some
    extension module ran at import (PyRun_String) even after the command caught it, and its shutdown
    then kills the program with SIGINT (exit -2).  For a command of `ends_at_once`: the rest of the
    shutdown frees every object one by one and collects the cycles of a process about to end (0.02
    CPU-s after rating a 10,000-line month; the start-up target is 0.3 s).
    """
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is not None:
        shutdown_threads()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
