"""The network's trace of refusals and bad input: counters, incidents, the time-order check.

Nothing the network refuses is dropped without a trace: each bad input leaves
an `Incident` (kept up to a bound, always counted) and a log line, and the
typed error is raised to the caller.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from gateway.errors import GatewayError, InvalidRequest, OutOfOrder

log = logging.getLogger("gateway.network")

MAX_TIME_S = 1e10  # about 317 years either side of the epoch: beyond, a time is absurd


@dataclass(frozen=True, slots=True)
class Incident:
    """Bad input the network refused: what, about whom, why."""

    time: float
    kind: str
    subject: str
    detail: str


class Journal:
    def __init__(self, max_kept: int = 10_000) -> None:
        self.max_kept = max_kept
        self.counters: Counter[str] = Counter()
        self.incidents: list[Incident] = []

    def incident(self, now: float, kind: str, subject: str, detail: str) -> None:
        self.counters[f"incident:{kind}"] += 1
        if len(self.incidents) < self.max_kept:
            self.incidents.append(Incident(now, kind, subject, detail))
        log.warning("t=%s %s %s: %s", now, kind, subject, detail)

    def fail(self, now: float, kind: str, subject: str, exc: GatewayError) -> NoReturn:
        """Record an incident for `exc` and raise it."""
        self.incident(now, kind, subject, str(exc))
        raise exc

    def check_order(self, now: float, last: float, what: str) -> None:
        """`now` must be a finite time not before `last` (the previous event of `what`)."""
        if (
            not isinstance(now, (int, float, np.integer, np.floating))
            or isinstance(now, bool)
            or not math.isfinite(now)
            or abs(now) > MAX_TIME_S
        ):
            self.fail(
                math.nan,
                "bad-time",
                what,
                InvalidRequest(f"{what}: time {now!r} is not a number of seconds within ±{MAX_TIME_S:.0e}"),
            )
        if now < last:
            self.fail(now, "out-of-order", what, OutOfOrder(what, now, last))
