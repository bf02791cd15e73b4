"""Power and battery: SIMCom's AT+CPOWD, Quectel's AT+QPOWD, 27.007 AT+CBC.

- `AT+CPOWD=1` (SIM800 AT manual V1.09, 6.2.2): the answer is the profile's power-down URC
  ("NORMAL POWER DOWN"), with no OK; `AT+CPOWD=0` powers off at once, saying nothing.
- `AT+QPOWD[=1]` (Quectel: UC20 / UG96 hardware design 3.7.2.1, BG96 AT manual "AT+QPOWD"): OK, the
  module logs off the network (`LOG_OFF_S`), then sends the profile's URCs ("POWERED DOWN");
  `AT+QPOWD=0`: OK, then off at once.
Then the module answers nothing until powered on again (the console's `power TARGET on`).

- `AT+CBC` (27.007 8.4; SIMCom and Quectel add the voltage): `+CBC: <bcs>,<bcl>,<mV>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.virtual.registry import CommandSet, StatefulSet
from modem.virtual.results import SILENT, CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

LOG_OFF_S = 2.0  # Quectel: "log off network about 2 s to 40 s" (UG96 hardware design 3.7.2.1)

SIMCOM_POWER = CommandSet("simcom-power")
QUECTEL_POWER = CommandSet("quectel-power")


@SIMCOM_POWER.command("+CPOWD")
def cpowd(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+CPOWD: (0,1)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    normal = c.int_at(0, None, 0, 1)
    m.power_off(m.profile.power_down_urcs if normal else ())
    return SILENT


@QUECTEL_POWER.command("+QPOWD")
def qpowd(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QPOWD: (0,1)")
        return None
    if c.op is Op.READ:
        raise CmeError(50)
    normal = c.int_at(0, 1, 0, 1) if c.op is Op.SET else 1
    if normal:
        m.schedule(LOG_OFF_S, lambda: m.power_off(m.profile.power_down_urcs))
    else:
        m.schedule(0.0, m.power_off)
    return None


@dataclass(slots=True)
class Battery:
    """What AT+CBC reports: charging state (0 not charging, 1 charging, 2 full), level %, millivolts."""

    bcs: int = 0
    bcl: int = 95
    mv: int = 4100


BATTERY = StatefulSet("battery", Battery)


@BATTERY.command("+CBC")
def cbc(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+CBC: (0-2),(1-100),(voltage)")
        return None
    if c.op is not Op.EXEC:
        raise CmeError(50)
    b = BATTERY.state(m)
    m.info(f"+CBC: {b.bcs},{b.bcl},{b.mv}")
    return None
