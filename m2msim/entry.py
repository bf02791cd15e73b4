"""The `m2msim` program itself (`m2msim` on the PATH, `python -m m2msim`).

Two things `m2msim.cli.main` cannot do, since tests also call it in their own process:

- SIGINT and SIGTERM are handled from the program's first line, before the command's modules are
  imported: a signal then ends the program with the same one line and exit status (130 / 143),
  never a traceback from the middle of an import (nothing has been written yet, nothing to undo);
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


def console() -> None:
    """Run the command line in this process and exit with its status."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early)
    from m2msim.cli import main
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
    if status in (130, 143) and received() is not None:
        # CPython remembers a KeyboardInterrupt raised inside code some extension module ran at
        # import (PyRun_String) even after the command caught it, and its shutdown then kills the
        # program with SIGINT (exit -2). What that shutdown does for us, then leave.
        shutdown_threads = getattr(threading, "_shutdown", None)
        if shutdown_threads is not None:
            shutdown_threads()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    sys.exit(status)
