"""V.250 basic commands: E, V, Q, Z, &F, I, S-registers, and the ones a module accepts and ignores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.virtual.registry import CommandSet
from modem.virtual.results import AtError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

V250 = CommandSet("v250")


def _flag(c: Cmd) -> int:
    value = int(c.arg) if c.arg else 0
    if value not in (0, 1):
        raise AtError()
    return value


@V250.command("E")
def echo(m: VirtualModem, c: Cmd) -> Final | None:
    m.settings.echo = bool(_flag(c))
    return None


@V250.command("V")
def verbose(m: VirtualModem, c: Cmd) -> Final | None:
    m.settings.verbose = bool(_flag(c))
    return None


@V250.command("Q")
def quiet(m: VirtualModem, c: Cmd) -> Final | None:
    m.settings.quiet = bool(_flag(c))
    return None


@V250.command("Z", "&F")
def reset(m: VirtualModem, c: Cmd) -> Final | None:
    """ATZ: the stored profile (AT&W) over the factory settings; AT&F: the factory settings.  The
    result comes as the settings brought back say (in digits after a stored ATV0, none after ATQ1)."""
    if c.arg not in ("", "0"):
        raise AtError()
    m.reset(factory=c.name == "&F")
    return None


@V250.command("&W", listed=False)
def store(m: VirtualModem, c: Cmd) -> Final | None:
    """AT&W[0]: store the current settings as the profile ATZ brings back (one profile: &W0)."""
    if c.arg not in ("", "0"):
        raise AtError()
    m.store_profile()
    return None


@V250.command("I")
def identification(m: VirtualModem, c: Cmd) -> Final | None:
    for line in m.profile.ati:
        m.info(line)
    return None


@V250.command("&D", listed=False)
def dtr_mode(m: VirtualModem, c: Cmd) -> Final | None:
    value = int(c.arg) if c.arg.isdigit() else -1 if c.arg else 0
    if value not in (0, 1, 2):
        raise AtError()
    m.settings.dtr = value
    return None


@V250.command("X", "L", "M", "&C", "&K", "&S", listed=False)
def accepted(m: VirtualModem, c: Cmd) -> Final | None:
    if c.arg and not c.arg.isdigit():
        raise AtError()
    return None


_SREG_RANGE = {0: (0, 255), 3: (0, 127), 4: (0, 127), 5: (0, 127), 7: (1, 255), 10: (1, 254), 12: (0, 255)}


@V250.command("S", listed=False)
def sregister(m: VirtualModem, c: Cmd) -> Final | None:
    if not c.name[1:].isdigit():  # `ATS?`, `ATS=3`: no register named
        raise AtError()
    reg = int(c.name[1:])
    if reg not in _SREG_RANGE:
        raise AtError()
    if c.op is Op.READ:
        m.info(f"{m.settings.sreg[reg]:03d}")
        return None
    lo, hi = _SREG_RANGE[reg]
    if not c.arg.isdigit() or not lo <= int(c.arg) <= hi:
        raise AtError()
    m.set_sreg(reg, int(c.arg))
    return None
