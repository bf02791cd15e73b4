"""A tiny progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from m2msim.signals import stderr_gone


class ProgressBar:
    """`bar(fraction)` redraws at most every `interval_s`; `close()` ends the line. Silent off a TTY."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        width: int = 30,
        interval_s: float = 0.2,
        enabled: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.width = width
        self.interval_s = interval_s
        self._t0 = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < self.interval_s:
            return
        self._last = now
        f = min(max(fraction, 0.0), 1.0)
        filled = round(f * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self._draw(f"\r{self.label} [{bar}] {f * 100:5.1f}% {now - self._t0:6.1f} s")
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._draw("\n")
            self._drawn = False

    def _draw(self, text: str) -> None:
        """Write `text`; a terminal that is gone (closed: EIO) ends the drawing, not the run (the
        run stopped with "Input/output error", or after SIGHUP with exit status 1, not 129)."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = self._drawn = False
            if self.stream in (sys.stderr, sys.__stderr__):
                stderr_gone()
