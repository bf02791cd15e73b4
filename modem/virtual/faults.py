"""Fault injection: what can go wrong with a modem, from its profile's `faults:` or the URL's query.

Keys (profile `faults:` mapping or `virtual://PROFILE?key=value&...`):

| key | meaning |
|---|---|
| `sim_busy` | the first N commands that need the SIM answer `+CME ERROR: 14` (SIM busy) |
| `cme515` | for N simulated seconds after power-on and after AT+CFUN, extended commands answer `+CME ERROR: 515` (init in progress) |
| `reg_denied` | registration is refused: +CREG stat 3 |
| `reg_lost_at` / `reg_back_at` | simulated second at which registration is lost (stat 2) / comes back |
| `fail` | commands that always fail: `+CMGS:cms:500,+COPS:cme:30,ATD:error` |
| `delay_ms` | every response is held this long (input waits meanwhile, as on a busy module) |
| `drop` | probability that a response is lost entirely |
| `garbage` | probability that noise bytes precede a response |
| `urc_burst` | probability that a burst of URCs lands between a response's lines and its final result |
| `burst_urcs` | the URC lines of a burst (default `+CIEV: 2,3`, `+CREG`, `+CGREG`); a bare `+CREG`, `+CGREG` or `+CEREG` is that registration URC with the modem's state at the time (`+CREG: 5` while roaming), as a module repeats it; written whole (`+CREG: 1`) it is sent as written, true or not |

Random draws come from the modem's generator, seeded from `seed`: a run replays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

MAX_DELAY_MS = 600_000.0  # ten minutes: a response later than that is a dropped one


class FaultError(ValueError):
    """A fault setting that cannot be used (names the key)."""


@dataclass(frozen=True, slots=True)
class FailRule:
    kind: str  # "cme", "cms" or "error"
    code: int = -1


@dataclass(frozen=True, slots=True)
class Faults:
    sim_busy: int = 0
    cme515: float = 0.0  # seconds
    reg_denied: bool = False
    reg_lost_at: float | None = None
    reg_back_at: float | None = None
    fail: dict[str, FailRule] = field(default_factory=dict)
    delay_ms: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    urc_burst: float = 0.0
    # (a bare registration name: that URC with the modem's state when the burst comes)
    burst_urcs: tuple[str, ...] = ("+CIEV: 2,3", "+CREG", "+CGREG")

    @property
    def noisy(self) -> bool:
        """True when responses may be altered (the fast path skips the checks otherwise)."""
        return bool(self.delay_ms or self.drop or self.garbage or self.urc_burst)


def _prob(key: str, value: Any) -> float:
    p = _num(key, value)
    if p > 1.0:
        raise FaultError(f"fault {key}: a probability is between 0 and 1, got {value!r}")
    return p


def _num(key: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"fault {key}: expected a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise FaultError(f"fault {key}: expected a finite non-negative number, got {value!r}")
    return v


def _delay(key: str, value: Any) -> float:
    v = _num(key, value)
    if v > MAX_DELAY_MS:
        raise FaultError(f"fault {key}: at most {MAX_DELAY_MS:g} ms, got {value!r}")
    return v


def _delay_s(key: str, value: Any) -> float:
    v = _num(key, value)
    if v > MAX_DELAY_MS / 1000.0:
        raise FaultError(f"fault {key}: at most {MAX_DELAY_MS / 1000.0:g} s, got {value!r}")
    return v


def _count(key: str, value: Any) -> int:
    v = _num(key, value)
    if v != int(v):
        raise FaultError(f"fault {key}: expected a whole number, got {value!r}")
    return int(v)


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise FaultError(f"fault {key}: expected true/false, got {value!r}")


def parse_fail(key: str, value: Any) -> dict[str, FailRule]:
    """`+CMGS:cms:500,+COPS:cme:30,D:error` (or a mapping / list of such items) to rules by command name."""
    items: list[str]
    if isinstance(value, Mapping):
        items = [f"{k}:{v}" for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = [v for v in str(value).split(",") if v.strip()]
    rules: dict[str, FailRule] = {}
    for item in items:
        parts = [p.strip() for p in item.split(":")]
        name = parts[0].upper()
        if name.startswith("AT") and len(name) > 2:
            name = name[2:]
        kind = parts[1].lower() if len(parts) > 1 else "error"
        if not name or kind not in ("cme", "cms", "error"):
            raise FaultError(f"fault {key}: {item!r} is not COMMAND:cme:N, COMMAND:cms:N or COMMAND:error")
        code = -1
        if kind != "error":
            if len(parts) < 3 or not parts[2].isdigit():
                raise FaultError(f"fault {key}: {item!r} needs an error number")
            code = int(parts[2])
        rules[name] = FailRule(kind, code)
    return rules


_KEYS = {
    "sim_busy": _count,
    "cme515": _delay_s,
    "reg_denied": _flag,
    "reg_lost_at": _num,
    "reg_back_at": _num,
    "fail": parse_fail,
    "delay_ms": _delay,
    "drop": _prob,
    "garbage": _prob,
    "urc_burst": _prob,
}


def fault_keys() -> tuple[str, ...]:
    return (*_KEYS, "burst_urcs")


def make_faults(settings: Mapping[str, Any], base: Faults | None = None) -> Faults:
    """Faults from a mapping (profile section or URL query), over `base`; unknown keys raise FaultError."""
    faults = base or Faults()
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "burst_urcs":
            lines = value if isinstance(value, list | tuple) else str(value).split("|")
            changes[key] = tuple(str(v) for v in lines if str(v))
            continue
        conv = _KEYS.get(key)
        if conv is None:
            raise FaultError(f"unknown fault {key!r}; known: {', '.join(fault_keys())}")
        changes[key] = conv(key, value)
    return replace(faults, **changes)
