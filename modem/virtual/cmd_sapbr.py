"""SIMCom's application bearer: AT+SAPBR (SIM800 Series AT Command Manual V1.09 §9.2.1).

`AT+SAPBR=<cmd_type>,<cid>[,<ConParamTag>,<ConParamValue>]`, bearer profiles <cid> 1-3:

- 3 sets a parameter of the profile: "CONTYPE" (GPRS; CSD is not emulated and answers ERROR),
  "APN", "USER", "PWD" (at most 50 characters each), "PHONENUM", "RATE" (0-3: 2,400 to 14,400
  bit/s); the tag in any case (TinyGSM writes "Contype");
- 4 shows them: `+SAPBR:` then one `<TAG>: <value>` line each;
- 1 opens the bearer: the PDP context of the same <cid> (the one +CGDCONT / +CGACT, and for <cid>
  1 the +CSTT / +CIICR stack, use) is activated on the profile's APN, with USER / PWD given to the
  network as PAP credentials, and so billed as any context; a context already active on the same
  APN (TinyGSM activates it with +CGACT just before) carries the bearer as it is;
- 2 queries it: `+SAPBR: <cid>,<Status>,"<IP_Addr>"`, Status 1 connected or 3 closed
  ("0.0.0.0"); the activation is answered at once, so 0 (connecting) and 2 (closing) never show;
- 0 closes it: its connections dropped, the context deactivated (the gateway writes its record).

Errors, as the module gives them (`ERROR`, `+CME ERROR: 3` with +CMEE=1): an open bearer opened
again, a closed one closed, a profile parameter the module does not know, and an activation the
network refuses (a wrong APN, wrong credentials, not registered).  A context that ends under the
bearer (+CIPSHUT, +CGACT=0, +CGATT=0, lost coverage) leaves it closed; the module's
`+SAPBR <cid>: DEACT` is not said.  A reset (AT+CFUN=1,1, AT+CFUN=0, power off) closes the three
bearers and sets their parameters back to the defaults (AT+SAPBR=5, saving them, is not emulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.api import PcoAuth
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

CIDS = range(1, 4)  # bearer profiles 1-3
MAX_TEXT = 50  # APN, USER, PWD: at most 50 characters
RATES = range(4)  # CSD rate: 0 2400, 1 4800, 2 9600, 3 14400
CONNECTED, CLOSED = 1, 3  # <Status> (0 connecting and 2 closing are never seen)
NOT_ALLOWED = 3  # CME 3, operation not allowed: ERROR with +CMEE=0
TAGS = ("CONTYPE", "APN", "PHONENUM", "USER", "PWD", "RATE")  # in the order AT+SAPBR=4 shows them
DEFAULTS = {"CONTYPE": "GPRS", "APN": "", "PHONENUM": "", "USER": "", "PWD": "", "RATE": "2"}


@dataclass(slots=True)
class Profile:
    """One bearer profile's parameters (AT+SAPBR=3) and whether it was opened (AT+SAPBR=1)."""

    params: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    opened: bool = False


@dataclass(slots=True)
class BearerState:
    """The three bearer profiles of one modem."""

    profiles: dict[int, Profile] = field(default_factory=lambda: {cid: Profile() for cid in CIDS})


SIMCOM_BEARER = StatefulSet("simcom-bearer", BearerState)


def _connected(m: VirtualModem, cid: int, profile: Profile) -> bool:
    """The bearer is open and its context still active (a context ended under it closed it)."""
    if profile.opened and not m.net.context(cid).active:
        profile.opened = False
    return profile.opened


def bearer_connected(m: VirtualModem, cid: int) -> bool:
    """Bearer profile `cid` is open (AT+SAPBR=1) and its context still active: what SIMCom's
    applications on the bearer (AT+HTTPINIT, AT+HTTPACTION) need."""
    return _connected(m, cid, SIMCOM_BEARER.state(m).profiles[cid])


def _set(profile: Profile, tag: str, value: str) -> None:
    if tag not in TAGS:
        raise CmeError(NOT_ALLOWED)
    if tag == "CONTYPE" and value.upper() != "GPRS":
        raise CmeError(NOT_ALLOWED)  # a CSD bearer is not emulated
    if tag in ("APN", "USER", "PWD") and len(value) > MAX_TEXT:
        raise CmeError(NOT_ALLOWED)
    if tag == "RATE" and value not in {str(r) for r in RATES}:
        raise CmeError(NOT_ALLOWED)
    profile.params[tag] = value.upper() if tag == "CONTYPE" else value


def _open(m: VirtualModem, cid: int, profile: Profile) -> None:
    if _connected(m, cid, profile):
        raise CmeError(NOT_ALLOWED)
    ctx = m.net.context(cid)
    apn = profile.params["APN"]
    if ctx.active:
        if ctx.apn != apn:
            raise CmeError(NOT_ALLOWED)  # the context is up on another APN
    else:
        user, pwd = profile.params["USER"], profile.params["PWD"]
        ctx.apn = apn
        ctx.pco_auth = PcoAuth("pap", user, pwd.encode()) if user or pwd else None
        if m.net.activate(ctx):
            raise CmeError(NOT_ALLOWED)
    profile.opened = True


def _close(m: VirtualModem, cid: int, profile: Profile) -> None:
    if not _connected(m, cid, profile):
        raise CmeError(NOT_ALLOWED)
    ctx = m.net.context(cid)
    m.tcp.close_context(ctx)
    m.net.deactivate(ctx)
    profile.opened = False


@SIMCOM_BEARER.command("+SAPBR", sim=True)
def sapbr(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+SAPBR: (0-4),(1-3), "ConParamTag","ConParamValue"')
        return None
    if c.op is not Op.SET:
        raise CmeError(NOT_ALLOWED)
    cmd_type = c.int_at(0, None, 0, 4)
    cid = c.int_at(1, None, CIDS.start, CIDS.stop - 1)
    profile = SIMCOM_BEARER.state(m).profiles[cid]
    if cmd_type == 0:
        _close(m, cid, profile)
    elif cmd_type == 1:
        _open(m, cid, profile)
    elif cmd_type == 2:
        ip = m.net.context(cid).ip if _connected(m, cid, profile) else None
        m.info(f'+SAPBR: {cid},{CONNECTED if ip else CLOSED},"{ip or "0.0.0.0"}"')
    elif cmd_type == 3:
        if len(c.params()) != 4:
            raise CmeError(NOT_ALLOWED)
        _set(profile, c.str_at(2).upper(), c.str_at(3))
    else:
        m.info("+SAPBR:")
        for tag in TAGS:
            value = profile.params[tag]
            m.info(f"{tag}: {value}" if value else f"{tag}:")
    return None
