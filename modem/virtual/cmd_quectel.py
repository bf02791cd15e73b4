"""Quectel's TCP/IP stack (AT+QICSGP / +QIACT / +QIOPEN / +QISEND / +QIRD ...).

QICSGP sets a context's APN, QIACT / QIDEACT open and close the session,
QIOPEN answers OK then `+QIOPEN: <id>,0`, QISEND -> `> ` -> `SEND OK`, received
data is announced by `+QIURC: "recv",<id>` and read with QIRD (access mode 0),
or pushed as `+QIURC: "recv",<id>,<n>` and the data (mode 1); QICLOSE,
QISTATE, and QGDCNT (IP bytes sent and received, as the gateway counts them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, OK, CmeError, Final
from modem.virtual.sockets import Socket
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem


@dataclass(slots=True)
class QiState:
    """Quectel's TCP/IP stack in one modem."""

    push: dict[int, bool] = field(default_factory=dict)  # access mode 1 (push) per connect ID
    counted_from: tuple[int, int] = (0, 0)  # IP bytes (sent, received) when AT+QGDCNT=0 reset the counter


QUECTEL_TCP = StatefulSet("quectel-tcp", QiState)
_qi = QUECTEL_TCP.state
SEND_OK = Final("SEND OK", 0)
MAX_SEND = 1460


@QUECTEL_TCP.command("+QICSGP")
def qicsgp(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QICSGP: (1-16),(1-3),<APN>,<username>,<password>,(0-3)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    cid = c.int_at(0, None, 1, 16)
    ctx = m.net.context(cid)
    if len(c.params()) == 1:
        kind = {"IP": 1, "IPV6": 2, "IPV4V6": 3}.get(ctx.pdp_type, 1)
        m.info(f'+QICSGP: {kind},"{ctx.apn}","","",0')
        return None
    kind = c.int_at(1, 1, 1, 3)
    ctx.pdp_type = {1: "IP", 2: "IPV6", 3: "IPV4V6"}[kind]
    ctx.apn = c.str_at(2, "")
    return None


@QUECTEL_TCP.command("+QIACT", sim=True)
def qiact(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        for cid, ctx in sorted(m.net.contexts.items()):
            if ctx.active:
                m.info(f'+QIACT: {cid},1,1,"{ctx.ip}"')
        return None
    if c.op is Op.TEST:
        m.info("+QIACT: (1-16)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    err = m.net.activate(m.net.context(c.int_at(0, None, 1, 16)))
    if err:
        raise CmeError(err)
    return None


@QUECTEL_TCP.command("+QIDEACT")
def qideact(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QIDEACT: (1-16)")
        return None
    ctx = m.net.context(c.int_at(0, None, 1, 16))
    m.tcp.close_context(ctx)
    m.net.deactivate(ctx)
    return None


def _quectel_rx(m: VirtualModem, sock: Socket, data: bytes) -> None:
    if _qi(m).push.get(sock.sid, False):
        m.urc(f'+QIURC: "recv",{sock.sid},{len(data)}', data.decode("latin-1"))
        return
    was_empty = not sock.rx
    sock.rx += data
    if was_empty:
        m.urc(f'+QIURC: "recv",{sock.sid}')


@QUECTEL_TCP.command("+QIOPEN", sim=True)
def qiopen(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(
            '+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE","<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)'
        )
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    cid = c.int_at(0, None, 1, 16)
    sid = c.int_at(1, None, 0, 11)
    proto = c.str_at(2).upper()
    host = c.str_at(3)
    port = c.int_at(4, None, 1, 65535)
    access = c.int_at(6, 0, 0, 2)
    if proto not in ("TCP", "UDP"):
        raise CmeError(50)
    if access == 2:
        raise CmeError(4)  # transparent access mode is not emulated
    if sid in m.tcp.sockets:
        raise CmeError(563)  # socket identity has been used
    ctx = m.net.contexts.get(cid)
    if ctx is None or not ctx.active:
        m.urc(f"+QIOPEN: {sid},561")  # open PDP context failed
        return None
    _qi(m).push[sid] = access == 1
    m.tcp.open(
        sid,
        proto,
        host,
        port,
        ctx,
        lambda sock: m.urc(f"+QIOPEN: {sock.sid},0"),
        lambda sock: m.urc(f'+QIURC: "closed",{sock.sid}'),
    )
    return None


@QUECTEL_TCP.command("+QISEND")
def qisend(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, 11)
    sock = m.tcp.sockets.get(sid)
    if len(c.params()) >= 2 and c.params()[1] == "0":
        m.info(f"+QISEND: {sock.sent if sock else 0},{sock.sent if sock else 0},0")
        return None
    if sock is None or not sock.connected:
        return ERROR
    length = c.int_at(1, 0, 0, MAX_SEND) or None

    def done(data: bytes) -> Final | None:
        if sock.sid not in m.tcp.sockets:
            return Final("SEND FAIL", 4)
        m.tcp.send(sock, data, lambda s, d: _quectel_rx(m, s, d))
        return SEND_OK

    return m.prompt(done, length)


@QUECTEL_TCP.command("+QIRD")
def qird(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, 11)
    sock = m.tcp.sockets.get(sid)
    if sock is None:
        raise CmeError(3)
    want = c.int_at(1, 1500, 0, 1500)
    if want == 0:
        m.info(f"+QIRD: {sock.received},{sock.received - len(sock.rx)},{len(sock.rx)}")
        return None
    data = bytes(sock.rx[:want])
    del sock.rx[:want]
    m.info(f"+QIRD: {len(data)}")
    if data:
        m.raw(data + b"\r\n")
    return None


@QUECTEL_TCP.command("+QICLOSE")
def qiclose(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is not Op.SET:
        raise CmeError(50)
    sock = m.tcp.sockets.get(c.int_at(0, None, 0, 11))
    if sock is not None:
        m.tcp.close(sock)
    return OK


@QUECTEL_TCP.command("+QISTATE")
def qistate(m: VirtualModem, c: Cmd) -> Final | None:
    for sid, sock in sorted(m.tcp.sockets.items()):
        state = 2 if sock.connected else 1
        access = 1 if _qi(m).push.get(sid) else 0
        m.info(
            f'+QISTATE: {sid},"{sock.proto}","{sock.host}",{sock.port},0,{state},{sock.ctx.cid},0,{access},"uart1"'
        )
    return None


@QUECTEL_TCP.command("+QGDCNT")
def qgdcnt(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        sent = sum(ctx.bytes_up for ctx in m.net.contexts.values()) - _qi(m).counted_from[0]
        recv = sum(ctx.bytes_down for ctx in m.net.contexts.values()) - _qi(m).counted_from[1]
        m.info(f"+QGDCNT: {sent},{recv}")
    elif c.op is Op.TEST:
        m.info("+QGDCNT: (0,1)")
    elif c.op is Op.SET and c.int_at(0, None, 0, 1) == 0:
        _qi(m).counted_from = (
            sum(ctx.bytes_up for ctx in m.net.contexts.values()),
            sum(ctx.bytes_down for ctx in m.net.contexts.values()),
        )
    return None
