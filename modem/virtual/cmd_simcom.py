"""SIMCom's TCP/IP stack (AT+CSTT / +CIICR / +CIFSR / +CIPSTART / +CIPSEND ...), single connection.

CSTT sets the APN, CIICR opens the gateway session, CIFSR answers the IP
address (with no OK when the profile says `cifsr_no_ok`), CIPSTART answers OK
then `CONNECT OK`, CIPSEND opens the `> ` prompt and answers `SEND OK`;
received data comes raw (or with `+IPD,<n>:` under +CIPHEAD=1), or is kept for
AT+CIPRXGET=2 after AT+CIPRXGET=1 (`+CIPRXGET: 1` announces it); CIPCLOSE ->
`CLOSE OK`, CIPSHUT -> `SHUT OK` (the session closes).  The remote end is the
echo server of `modem.virtual.sockets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, SILENT, CmeError, Final
from modem.virtual.sockets import Socket
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem


@dataclass(slots=True)
class CipState:
    """SIMCom's TCP/IP stack in one modem (kept across ATZ, as on the module)."""

    status: str = "IP INITIAL"  # the stack state +CIPSTATUS shows
    head: bool = False  # +CIPHEAD=1: pushed data comes after "+IPD,<n>:"
    manual_rx: bool = False  # +CIPRXGET=1: data is kept until read


SIMCOM_TCP = StatefulSet("simcom-tcp", CipState)
_cip = SIMCOM_TCP.state
SEND_OK = Final("SEND OK", 0)
MAX_SEND = 1460


# ----- SIMCom ------------------------------------------------------------------------------------------


def _sim_state(m: VirtualModem) -> str:
    st = _cip(m).status
    sock = m.tcp.sockets.get(0)
    if sock is not None:
        return "CONNECT OK" if sock.connected else "TCP CONNECTING"
    return st


@SIMCOM_TCP.command("+CSTT")
def cstt(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f'+CSTT: "{m.net.context(1).apn}","",""')
    elif c.op is Op.TEST:
        m.info('+CSTT: "APN","USER","PWD"')
    else:
        cip = _cip(m)
        if cip.status not in ("IP INITIAL", "IP START"):
            return ERROR
        ctx = m.net.context(1)
        if c.op is Op.SET:
            ctx.apn = c.str_at(0, "")
        cip.status = "IP START"
    return None


@SIMCOM_TCP.command("+CIICR", sim=True)
def ciicr(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    cip = _cip(m)
    if cip.status != "IP START":
        return ERROR
    cip.status = "IP CONFIG"
    if m.net.activate(m.net.context(1)):
        cip.status = "PDP DEACT"
        return ERROR
    cip.status = "IP GPRSACT"
    return None


@SIMCOM_TCP.command("+CIFSR")
def cifsr(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    ctx = m.net.context(1)
    if not ctx.active or ctx.ip is None:
        return ERROR
    m.info(ctx.ip)
    cip = _cip(m)
    if cip.status == "IP GPRSACT":
        cip.status = "IP STATUS"
    return SILENT if m.profile.quirk("cifsr_no_ok") else None


@SIMCOM_TCP.command("+CIPSTATUS")
def cipstatus(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    return Final(f"OK\r\n\r\nSTATE: {_sim_state(m)}", 0)


@SIMCOM_TCP.command("+CIPMUX")
def cipmux(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info("+CIPMUX: 0")
    elif c.op is Op.TEST:
        m.info("+CIPMUX: (0)")
    elif c.int_at(0, None, 0, 1) != 0:
        raise CmeError(4)  # multi-connection mode is not emulated
    return None


@SIMCOM_TCP.command("+CIPHEAD")
def ciphead(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CIPHEAD: {int(_cip(m).head)}")
    elif c.op is Op.TEST:
        m.info("+CIPHEAD: (0,1)")
    else:
        _cip(m).head = bool(c.int_at(0, 0, 0, 1))
    return None


def _simcom_lost(m: VirtualModem) -> None:
    _cip(m).status = "PDP DEACT"
    m.urc("CLOSED")


def _simcom_rx(m: VirtualModem, sock: Socket, data: bytes) -> None:
    cip = _cip(m)
    if cip.manual_rx:
        was_empty = not sock.rx
        sock.rx += data
        if was_empty:
            m.urc("+CIPRXGET: 1")
    elif cip.head:
        m.send_raw(f"\r\n+IPD,{len(data)}:".encode() + data)
    else:
        m.send_raw(data)


@SIMCOM_TCP.command("+CIPSTART", sim=True)
def cipstart(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+CIPSTART: ("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)')
        m.info('+CIPSTART: ("TCP","UDP"),("DOMAIN NAME"),(1-65535)')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    proto = c.str_at(0).upper()
    host = c.str_at(1)
    port = c.int_at(2, None, 1, 65535)
    if proto not in ("TCP", "UDP"):
        raise CmeError(50)
    if 0 in m.tcp.sockets:
        return Final("ERROR\r\n\r\nALREADY CONNECT", 4)
    ctx = m.net.context(1)
    if _cip(m).status not in ("IP STATUS", "IP GPRSACT", "TCP CLOSED") or not ctx.active:
        return ERROR
    m.tcp.open(0, proto, host, port, ctx, lambda sock: m.urc("CONNECT OK"), lambda sock: _simcom_lost(m))
    return None


@SIMCOM_TCP.command("+CIPSEND")
def cipsend(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+CIPSEND: <length>(1-{MAX_SEND})")
        return None
    sock = m.tcp.sockets.get(0)
    if sock is None or not sock.connected:
        return ERROR
    length = c.int_at(0, None, 1, MAX_SEND) if c.op is Op.SET else None

    def done(data: bytes) -> Final | None:
        if sock.sid not in m.tcp.sockets:
            return ERROR
        m.tcp.send(sock, data, lambda s, d: _simcom_rx(m, s, d))
        return SEND_OK

    return m.prompt(done, length)


@SIMCOM_TCP.command("+CIPRXGET")
def ciprxget(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CIPRXGET: {int(_cip(m).manual_rx)}")
        return None
    if c.op is Op.TEST:
        m.info("+CIPRXGET: (0-4),(1-1460)")
        return None
    mode = c.int_at(0, None, 0, 4)
    if mode in (0, 1):
        _cip(m).manual_rx = bool(mode)
        return None
    sock = m.tcp.sockets.get(0)
    if sock is None or not _cip(m).manual_rx:
        raise CmeError(3)
    if mode == 4:
        m.info(f"+CIPRXGET: 4,{len(sock.rx)}")
        return None
    want = c.int_at(1, MAX_SEND, 1, MAX_SEND)
    data = bytes(sock.rx[:want])
    del sock.rx[:want]
    shown = data.hex().upper().encode() if mode == 3 else data
    m.info(f"+CIPRXGET: {mode},{len(data)},{len(sock.rx)}")
    m.raw(shown + b"\r\n")
    return None


@SIMCOM_TCP.command("+CIPCLOSE")
def cipclose(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    sock = m.tcp.sockets.get(0)
    if sock is None:
        return ERROR
    m.tcp.close(sock)
    _cip(m).status = "TCP CLOSED"
    return Final("CLOSE OK", 0)


@SIMCOM_TCP.command("+CIPSHUT")
def cipshut(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    ctx = m.net.context(1)
    m.tcp.close_context(ctx)
    m.net.deactivate(ctx)
    _cip(m).status = "IP INITIAL"
    return Final("SHUT OK", 0)
