"""The module's real-time clock: 27.007 §8.15 AT+CCLK (the SIM800 AT manual's "AT+CCLK", Quectel
BG96 / EC25 AT manuals "AT+CCLK": the same form on every profile).

- `AT+CCLK?` -> `+CCLK: "yy/MM/dd,hh:mm:ss±zz"`: the local time and the time zone in quarters of an
  hour (-48...+56 accepted when set);
- `AT+CCLK="yy/MM/dd,hh:mm:ss±zz"` sets it; it runs on from there with simulated time; a value not of
  that form, or not a date, is `+CME ERROR: 50`;
- `AT+CCLK=?` -> OK.

Until the host sets it, the clock reads the network's time, UTC (the simulation's epoch plus the
simulated seconds, the time the SMS centre stamps messages with), as on a module that took it from
the network (NITZ).  The clock is kept across a reset and AT+CFUN, as a module's RTC is.  Never a
pure command (its answer changes with time: the memo of answers must not replay it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

_TIME = re.compile(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)")
ZONE_MIN, ZONE_MAX = -48, 56  # quarters of an hour: UTC-12 to UTC+14


@dataclass(slots=True)
class Clock:
    """What AT+CCLK= set: the local time then (naive), the simulated second it was set at, the zone."""

    local: datetime | None = None  # None: never set, the network's time (UTC)
    set_at: float = 0.0
    zone: int = 0


CLOCK = StatefulSet("clock", Clock, kept=True)


def now_text(m: VirtualModem) -> str:
    """The clock's reading, as +CCLK shows it (without quotes)."""
    clock = CLOCK.state(m)
    if clock.local is None:
        moment = m.epoch.replace(tzinfo=None) + timedelta(seconds=m.now)
    else:
        moment = clock.local + timedelta(seconds=m.now - clock.set_at)
    zone = clock.zone
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{'-' if zone < 0 else '+'}{abs(zone):02d}"


@CLOCK.command("+CCLK")
def cclk(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if c.op is Op.READ:
        m.info(f'+CCLK: "{now_text(m)}"')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    match = _TIME.fullmatch(c.str_at(0))
    if match is None:
        raise CmeError(50)
    yy, mo, dd, hh, mi, ss, zone = (int(g) for g in match.groups())
    if not ZONE_MIN <= zone <= ZONE_MAX:
        raise CmeError(50)
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss)
    except ValueError as exc:
        raise CmeError(50) from exc
    clock = CLOCK.state(m)
    clock.local, clock.set_at, clock.zone = local, m.now, zone
    return None
