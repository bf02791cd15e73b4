"""A command interrupted inside the test's own process (`m2msim.cli.main`), at a chosen step."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import NoReturn

from m2msim.signals import Terminated


def terminated(*args: object, **kwargs: object) -> NoReturn:
    """Put in place of a step (monkeypatch): SIGTERM there, as `m2msim.signals` raises it."""
    raise Terminated


@contextlib.contextmanager
def signals_restored() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP's handlers back as they were after the block: an interrupted
    command leaves them ignored (it is on its way out; the test's process is not)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
