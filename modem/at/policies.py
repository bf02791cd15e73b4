"""Client policies as data: maximum response times, retries of transient errors, the watchdog."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Maximum response times from the module manuals (seconds), by response prefix or basic command.
# Quectel BG96 AT Commands Manual V2.3 and TCP/IP Application Note V1.1 ("Maximum Response Time");
# SIMCom SIM800 Series AT Command Manual V1.10 and TCP/IP Application Note V1.02.
DEFAULT_TIMEOUTS: dict[str, float] = {
    "+COPS": 180.0,
    "+CGATT": 140.0,
    "+CGACT": 150.0,
    "+CMGS": 120.0,
    "+CMGW": 5.0,
    "+CMGD": 25.0,
    "+CMGL": 30.0,
    "+CUSD": 120.0,
    "+CCFC": 30.0,  # a supplementary service query goes to the network
    "+QIACT": 150.0,
    "+QIDEACT": 40.0,
    "+QIOPEN": 150.0,
    "+QICLOSE": 10.0,
    "+QISEND": 5.0,
    "+CIICR": 85.0,
    "+CIPSHUT": 65.0,
    "+CIPSTART": 160.0,
    "+CIPSEND": 645.0,
    "+CIPCLOSE": 5.0,
    "D": 60.0,
    "A": 20.0,
    "H": 20.0,
    "Z": 5.0,
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of transient "not ready" errors (CME 14/515, CMS 314)."""

    attempts: int = 6
    delay: float = 0.5
    backoff: float = 2.0
    max_delay: float = 5.0

    def delays(self) -> Iterable[float]:
        d = self.delay
        for _ in range(self.attempts - 1):
            yield d
            d = min(d * self.backoff, self.max_delay)


@dataclass(frozen=True, slots=True)
class WatchdogPolicy:
    """How a stuck modem is noticed and recovered."""

    probe_timeout: float = 2.0
    guard_time: float = 1.0  # silence around `+++` (V.250 S12 default 50 × 20 ms)
    reset: Sequence[str] = ("ATZ",)
    idle_interval: float | None = None  # also probe after this long without traffic
    enabled: bool = True
