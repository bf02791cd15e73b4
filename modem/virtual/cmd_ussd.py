"""USSD (27.007 7.15, AT+CUSD) and the operator's menu behind it.

    AT+CUSD=1,"*#123#",15      -> OK, then +CUSD: 0,"03/2026: 2 SMS, 80 s of calls, ... 0.15 EUR",15
    AT+CUSD=1,"*123#",15       -> OK, then +CUSD: 1,"Orange M2M\n1 My consumption\n2 My number",15
    AT+CUSD=1,"1",15           -> OK, then the consumption (the menu's session ends)

The answer comes `ANSWER_S` after the request, as a network's round trip.  The consumption is the
line's usage this month priced by the catalog: the serve's console provides it (`UssdState.consumption`);
without one the menu says the service is unavailable.  Codes the menu does not know: `+CUSD: 4`
(operation not supported).  <n>=2 cancels a session; <n>=0 stops the result codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

log = logging.getLogger(__name__)

ANSWER_S = 1.0
DCS_GSM7 = 15  # 23.038: language unspecified, GSM 7-bit default alphabet
DCS_UCS2 = 72
CONSUMPTION, OWN_NUMBER, MENU = "*#123#", "*#100#", "*123#"
MENU_TEXT = "Orange M2M\n1 My consumption\n2 My number"
UNAVAILABLE = "Service unavailable, try again later"


@dataclass(slots=True)
class UssdState:
    presentation: int = 0  # <n>: 1 when the +CUSD result codes are shown
    in_menu: bool = False  # a session waits for the user's choice (+CUSD: 1)
    consumption: Callable[[], str] | None = None  # the line's month, priced (the serve's console)


USSD = StatefulSet("ussd", UssdState)


@USSD.command("+CUSD", sim=True)
def cusd(m: VirtualModem, c: Cmd) -> Final | None:
    st = USSD.state(m)
    if c.op is Op.READ:
        m.info(f"+CUSD: {st.presentation}")
        return None
    if c.op is Op.TEST:
        m.info("+CUSD: (0-2)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    n = c.int_at(0, 0, 0, 2)
    if n == 2:
        st.in_menu = False
        return None
    st.presentation = n
    params = c.params()
    if len(params) < 2 or not params[1]:
        return None
    if not m.net.registered:
        raise CmeError(30)  # no network service
    request = c.str_at(1).strip()
    if m.settings.cscs == "UCS2":  # <str> in the TE character set: UCS2 hex (27.007 7.15)
        try:
            request = bytes.fromhex(request).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            raise CmeError(50) from None
    m.schedule(ANSWER_S, lambda: _answer(m, st, request))
    return None


def _answer(m: VirtualModem, st: UssdState, request: str) -> None:
    if not m.net.registered:
        st.in_menu = False
        _present(m, st, 2, None)  # the network ended the session
        return
    if st.in_menu:
        st.in_menu = False
        request = {"1": CONSUMPTION, "2": OWN_NUMBER}.get(request, "")
    if request == MENU:
        st.in_menu = True
        _present(m, st, 1, MENU_TEXT)
    elif request == CONSUMPTION:
        text = UNAVAILABLE
        if st.consumption is not None:
            try:
                text = st.consumption()
            except Exception:  # the menu's answer, not the modem, suffers from a pricing failure
                log.exception("USSD %s: the consumption could not be priced", CONSUMPTION)
        _present(m, st, 0, text)
    elif request == OWN_NUMBER:
        _present(m, st, 0, f"Your number: +{m.identity.msisdn}")
    else:
        _present(m, st, 4, None)  # operation not supported


def _present(m: VirtualModem, st: UssdState, status: int, text: str | None) -> None:
    if not st.presentation:
        return
    if text is None:
        m.urc(f"+CUSD: {status}")
    elif m.settings.cscs == "UCS2":
        m.urc(f'+CUSD: {status},"{text.encode("utf-16-be").hex().upper()}",{DCS_UCS2}')
    else:
        m.urc(f'+CUSD: {status},"{text}",{DCS_GSM7}')
