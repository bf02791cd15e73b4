"""SIMCom's radio preferences of the SIM7000 series (SIM7000 Series AT Command Manual, AT+CNMP and
AT+CMNB): AT+CNMP=<mode>, the preferred mode (2 automatic, 13 GSM only, 38 LTE only, 51 GSM and
LTE only), and AT+CMNB=<mode>, the LTE flavour (1 Cat-M, 2 NB-IoT, 3 Cat-M and NB-IoT); `?` shows
each (`+CNMP: <mode>`, `+CMNB: <mode>`), `=?` its values, a value out of range is ERROR.  They are
kept in the module's memory across a reset, as the module keeps them.

Only kept and shown: the technology served is the network's (the profile's `network.rat` and
`act`, or the console's `rat`), not chosen by these preferences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.virtual.registry import QUERIES, StatefulSet
from modem.virtual.results import ERROR, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

CNMP_MODES = (2, 13, 38, 51)
CMNB_MODES = (1, 2, 3)


@dataclass(slots=True)
class RatPreference:
    cnmp: int = 2  # automatic
    cmnb: int = 1  # Cat-M


SIMCOM_RAT = StatefulSet("simcom-rat", RatPreference, kept=True)


def _preference(m: VirtualModem, c: Cmd, attr: str, modes: tuple[int, ...]) -> Final | None:
    pref = SIMCOM_RAT.state(m)
    if c.op is Op.READ:
        m.info(f"{c.name}: {getattr(pref, attr)}")
    elif c.op is Op.TEST:
        m.info(f"{c.name}: ({','.join(map(str, modes))})")
    elif c.op is Op.SET and len(c.params()) == 1 and c.str_at(0).strip().isdigit():
        mode = int(c.str_at(0).strip())
        if mode not in modes:
            return ERROR
        setattr(pref, attr, mode)
    else:
        return ERROR
    return None


@SIMCOM_RAT.command("+CNMP", pure=QUERIES)
def cnmp(m: VirtualModem, c: Cmd) -> Final | None:
    return _preference(m, c, "cnmp", CNMP_MODES)


@SIMCOM_RAT.command("+CMNB", pure=QUERIES)
def cmnb(m: VirtualModem, c: Cmd) -> Final | None:
    return _preference(m, c, "cmnb", CMNB_MODES)
