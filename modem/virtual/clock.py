"""Simulated time for the virtual modem.

The modem's core never reads a clock: every call passes `now`, seconds since
the network's epoch (as `gateway.api` counts time).  When the modem is served
to a real client, `LoopClock` maps the asyncio event loop's monotonic time to
that scale:

    now = start + (loop.time() - loop_t0) * speed

with `start` the simulated time at which serving began (0.0: the network's
epoch is the moment serving started) and `speed` 1.0 for real time.  Tests
drive time explicitly by passing their own `now`.
"""

from __future__ import annotations

import asyncio


class LoopClock:
    """Simulated seconds from an event loop's monotonic clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, start: float = 0.0, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.loop = loop
        self.start = start
        self.speed = speed
        self.loop_t0 = loop.time()

    def now(self) -> float:
        return self.start + (self.loop.time() - self.loop_t0) * self.speed

    def loop_time(self, sim_time: float) -> float:
        """The loop time at which simulated time `sim_time` is reached."""
        return self.loop_t0 + (sim_time - self.start) / self.speed
