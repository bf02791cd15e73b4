"""Call forwarding (27.007 §7.11, AT+CCFC): the network's registrations for the line, as a module
sets and reads them.

    AT+CCFC=0,3,"+33699999999",145     -> OK (registered and active: every call forwarded there)
    AT+CCFC=0,2                        -> +CCFC: 1,1,"+33699999999",145 / +CCFC: 0,2 / +CCFC: 0,4 / OK
    AT+CCFC=2,2                        -> +CCFC: 0,7 (none active for any class) / OK
    AT+CCFC=4,4                        -> OK (every forward erased)

`<reason>` 0 unconditional, 1 busy, 2 no reply, 3 not reachable, 4 all, 5 all conditional (these
two set or erase only); `<mode>` 0 disable, 1 enable, 2 query, 3 register (and enable), 4 erase;
`<class>` a sum of 1 voice, 2 data, 4 fax (default 7); `<number>` in the TE character set (+CSCS: UCS2
hex in "UCS2", set and answered).  The registrations are the network's: kept
across a reset (`kept`), asked only while registered (`+CME ERROR: 30` otherwise, as a module whose
query reaches no network).  The virtual modem keeps them and answers them; it forwards no call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.safety import te_number
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.sms import te_text
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

UNCONDITIONAL, BUSY, NO_REPLY, NOT_REACHABLE, ALL, ALL_CONDITIONAL = range(6)
CLASSES = (1, 2, 4)  # voice, data, fax: <class> 7, the default, is all three
NO_REPLY_TIME = 20  # <time>, seconds, for "no reply" when none is given


@dataclass(slots=True)
class Forward:
    number: str
    toa: int
    active: bool
    time: int


@dataclass(slots=True)
class ForwardingState:
    # (reason, class) -> its registration
    forwards: dict[tuple[int, int], Forward] = field(default_factory=dict)


FORWARDING = StatefulSet("forwarding", ForwardingState, kept=True)


def _reasons(reason: int) -> tuple[int, ...]:
    return {ALL: (0, 1, 2, 3), ALL_CONDITIONAL: (1, 2, 3)}.get(reason, (reason,))


@FORWARDING.command("+CCFC", sim=True)
def ccfc(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+CCFC: (0-5)")
        return None
    if c.op is not Op.SET:
        raise CmeError(4)  # operation not supported: +CCFC has no read form
    st = FORWARDING.state(m)
    reason = c.int_at(0, None, 0, 5)
    mode = c.int_at(1, None, 0, 4)
    try:  # (in the TE character set, 27.007 §7.11: UCS2 hex in "UCS2")
        number = te_number(c.str_at(2, ""), m.settings.cscs)
    except ValueError:
        raise CmeError(50) from None
    toa = c.int_at(3, 145 if number.startswith("+") else 129, 0, 255)
    klass = c.int_at(4, 7, 1, 255)
    time = c.int_at(7, NO_REPLY_TIME, 1, 30)
    if not m.net.registered:
        raise CmeError(30)  # no network service: the request goes to the network
    classes = [k for k in CLASSES if klass & k]
    if mode == 2:
        if reason in (ALL, ALL_CONDITIONAL):
            raise CmeError(4)  # a query names one reason
        active = [(k, f) for k in classes if (f := st.forwards.get((reason, k))) is not None and f.active]
        for k, f in active:
            extra = f",,,{f.time}" if reason == NO_REPLY else ""
            m.info(f'+CCFC: 1,{k},"{te_text(f.number, m.settings.cscs)}",{f.toa}{extra}')
        if not active:
            m.info(f"+CCFC: 0,{klass}")  # not active for any class asked (27.007 §7.11)
        return None
    for r in _reasons(reason):
        for k in classes:
            known = st.forwards.get((r, k))
            if mode == 3:
                if not number:
                    raise CmeError(50)
                st.forwards[(r, k)] = Forward(number, toa, True, time)
            elif mode == 4:
                st.forwards.pop((r, k), None)
            elif known is not None:
                known.active = mode == 1
    return None
