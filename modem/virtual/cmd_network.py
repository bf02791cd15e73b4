"""27.007 network commands: registration (+CREG/+CGREG/+CEREG), operator (+COPS), PDP contexts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.virtual.plmn import operator_names
from modem.virtual.registry import QUERIES, CommandSet, numeric_setting
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

NETWORK = CommandSet("network")  # circuit-switched registration and operator selection
GPRS = CommandSet("gprs")  # packet-switched registration and PDP contexts


def _registration(m: VirtualModem, c: Cmd, attr: str) -> Final | None:
    """+CREG / +CGREG / +CEREG: n=2 also shows the location (lac, ci) with the state (the packet
    domain's for +CGREG / +CEREG: 0 after AT+CGATT=0)."""
    net = m.net
    stat = net.stat if attr == "creg_n" else net.ps_stat
    return numeric_setting(m, c, attr, 2, lambda n: f"{n},{net.location(stat) if n == 2 else stat}")


@NETWORK.command("+CREG", pure=QUERIES)
def creg(m: VirtualModem, c: Cmd) -> Final | None:
    return _registration(m, c, "creg_n")


@GPRS.command("+CGREG", pure=QUERIES)
def cgreg(m: VirtualModem, c: Cmd) -> Final | None:
    return _registration(m, c, "cgreg_n")


@GPRS.command("+CEREG", pure=QUERIES)
def cereg(m: VirtualModem, c: Cmd) -> Final | None:
    return _registration(m, c, "cereg_n")


@NETWORK.command("+COPS", sim=True, pure=QUERIES)
def cops(m: VirtualModem, c: Cmd) -> Final | None:
    """27.007 7.3.  Manual selection (<mode> 1) of a network the modem does not find where it is
    (not on the air: `NetLink.on_air`, an unknown code or name) fails as on a module, `+CME ERROR: 30`
    (no network service), and the registration stays as it was; manual/automatic (<mode> 4) then
    selects automatically (the coverage's network), as 27.007 says."""
    net = m.net
    fmt = m.settings.cops_format
    if c.op is Op.READ:
        if net.registered:
            m.info(f'+COPS: {net.selection},{fmt},"{net.operator(fmt)}",{net.act}')
        else:
            m.info(f"+COPS: {net.selection}")
    elif c.op is Op.TEST:
        if net.cfun != 1:
            raise CmeError(30)
        entries = []
        for plmn in net.on_air():
            status = 2 if (plmn == net.plmn and net.registered) else 1
            long_name, short_name = operator_names(plmn)
            entries.append(f'({status},"{long_name}","{short_name}","{plmn}",{m.profile.act})')
        m.info("+COPS: " + ",".join(entries) + ",,(0-4),(0-2)")
    elif c.op is Op.SET:
        mode = c.int_at(0, 0, 0, 4)
        if mode == 3:
            m.settings.cops_format = c.int_at(1, 0, 0, 2)
        elif mode == 2:
            net.selection = 0
            if net.registered:
                m.tcp.lost()  # deregistered: the sockets end with the contexts (they went on, unbilled)
            net.detach()
        elif mode in (1, 4):
            fmt = c.int_at(1, fmt, 0, 2)
            oper = c.str_at(2)
            if oper.isdigit() and len(oper) not in (5, 6):
                raise CmeError(50)  # a numeric operator is MCC+MNC: 5 or 6 digits
            m.settings.cops_format = fmt
            plmn = oper if oper.isdigit() else _plmn_by_name(oper)
            if plmn in net.on_air():
                net.selection = 1
                net.select_plmn(plmn)
            elif mode == 1:
                raise CmeError(30)  # not found: no network service, no other network selected
            else:
                net.selection = 0
                net.select_plmn(net.coverage)
        else:
            net.selection = 0
            net.select_plmn(net.coverage)
    else:
        raise CmeError(50)
    return None


def _plmn_by_name(name: str) -> str:
    """The PLMN of a long or short operator name; "" for a name no network has."""
    from modem.virtual.plmn import PLMN_NAMES

    for plmn, names in PLMN_NAMES.items():
        if name in names:
            return plmn
    return ""


@GPRS.command("+CGATT", pure=QUERIES)
def cgatt(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CGATT: {1 if m.net.registered and not m.net.ps_detached else 0}")
    elif c.op is Op.TEST:
        m.info("+CGATT: (0,1)")
    elif c.op is Op.SET:
        state = c.int_at(0, None, 0, 1)
        if state == 1 and not m.net.registered:
            if m.net.cfun != 1:
                raise CmeError(30)
            m.net.search()
        else:
            m.net.set_ps_attached(bool(state))
    else:
        raise CmeError(50)
    return None


@GPRS.command("+CGEREP", pure=QUERIES)
def cgerep(m: VirtualModem, c: Cmd) -> Final | None:
    """27.007 §10.1.19 packet domain event reporting: `=?` `+CGEREP: (0-2),(0,1)`, `?` `+CGEREP:
    <mode>,<bfr>`, `=[<mode>[,<bfr>]]` (absent: 0); a value out of range CME 50.  Of the events, the
    network's detach is reported (`+CGEV: NW DETACH`)."""
    if c.op is Op.READ:
        m.info("+CGEREP: {},{}".format(*m.settings.cgerep))
    elif c.op is Op.TEST:
        m.info("+CGEREP: (0-2),(0,1)")
    elif c.op is Op.SET:
        m.settings.cgerep = (c.int_at(0, 0, 0, 2), c.int_at(1, 0, 0, 1))
    else:
        raise CmeError(50)
    return None


@GPRS.command("+CGDCONT")
def cgdcont(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        for cid, ctx in sorted(m.net.contexts.items()):
            m.info(f'+CGDCONT: {cid},"{ctx.pdp_type}","{ctx.apn}","{ctx.ip or "0.0.0.0"}",0,0')
    elif c.op is Op.TEST:
        m.info('+CGDCONT: (1-16),"IP",,,(0-2),(0-4)')
        m.info('+CGDCONT: (1-16),"IPV6",,,(0-2),(0-4)')
        m.info('+CGDCONT: (1-16),"IPV4V6",,,(0-2),(0-4)')
    elif c.op is Op.SET:
        cid = c.int_at(0, None, 1, 16)
        params = c.params()
        if len(params) == 1:
            old = m.net.contexts.get(cid)
            if old is not None and old.active:
                raise CmeError(3)
            m.net.contexts.pop(cid, None)
            return None
        pdp_type = c.str_at(1, "IP").upper()
        if pdp_type not in ("IP", "IPV6", "IPV4V6"):
            raise CmeError(50)
        ctx = m.net.context(cid)
        if ctx.active:
            raise CmeError(3)
        ctx.pdp_type = pdp_type
        ctx.apn = c.str_at(2, "")
    else:
        raise CmeError(50)
    return None


def _cids(params: list[str | None]) -> list[int]:
    """The context ids of a +CGACT / +CGPADDR list; CME 50 for one that is not a number."""
    try:
        return [int(p) for p in params if p]
    except ValueError:
        raise CmeError(50) from None


@GPRS.command("+CGACT", sim=True)
def cgact(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        for cid, ctx in sorted(m.net.contexts.items()):
            m.info(f"+CGACT: {cid},{1 if ctx.active else 0}")
    elif c.op is Op.TEST:
        m.info("+CGACT: (0,1)")
    elif c.op is Op.SET:
        state = c.int_at(0, None, 0, 1)
        params = c.params()
        cids = _cids(params[1:]) or sorted(m.net.contexts)
        for cid in cids:
            target = m.net.contexts.get(cid)
            if target is None:
                raise CmeError(50)
            if state:
                err = m.net.activate(target)
                if err:
                    raise CmeError(err)
            else:
                if target.active:
                    # the sockets on it go with it, as AT+CGATT=0's do (they went on sending and
                    # receiving, their bytes counted by the module and billed by nobody)
                    m.tcp.lost(ctx=target)
                m.net.deactivate(target)
    else:
        raise CmeError(50)
    return None


@GPRS.command("+CGDATA", sim=True)
def cgdata(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+CGDATA: ("PPP")')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    if c.str_at(0, "PPP").upper() != "PPP":
        raise CmeError(4)  # only PPP as the layer-2 protocol
    from modem.virtual.ppp.bearer import start

    return start(m, c.int_at(1, 1, 1, 16))


@GPRS.command("+CGPADDR")
def cgpaddr(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+CGPADDR: (" + ",".join(str(cid) for cid in sorted(m.net.contexts)) + ")")
        return None
    cids = _cids(c.params()) if c.op is Op.SET else sorted(m.net.contexts)
    for cid in cids:
        found = m.net.contexts.get(cid)
        if found is None:
            raise CmeError(50)
        m.info(f'+CGPADDR: {cid},"{found.ip or "0.0.0.0"}"')
    return None
