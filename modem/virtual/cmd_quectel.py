"""Quectel's TCP/IP stack (AT+QICSGP / +QIACT / +QIOPEN / +QISEND / +QIRD / +QISWTMD ...).

As the BG96 TCP/IP AT Commands Manual V1.0 (the same commands in the EC2x/UG96 TCP/IP manuals)
describes it:

- QICSGP sets a context's APN, QIACT / QIDEACT open and close the session;
- QIOPEN=<contextID>,<connectID 0-11>,"TCP"|"UDP",<host>,<port>[,<local_port>[,<access_mode>]]
  answers OK then `+QIOPEN: <connectID>,<err>` (0 connected; 566 socket connect failed, 565 DNS
  parse failed, 561 open PDP context failed: chapter 4, summary of error codes); in access mode 2
  (transparent) it answers `CONNECT` once connected (or `ERROR`) instead;
- the three data access modes (§1.2): 0 buffer (`+QIURC: "recv",<id>` when data arrives into an
  empty buffer, read with QIRD), 1 direct push (`+QIURC: "recv",<id>,<len>` and the data),
  2 transparent (the port carries the socket's bytes both ways; `+++` with a quiet guard time
  before and after, S12, answers OK and leaves the socket in buffer mode; `ATO` or
  `AT+QISWTMD=<id>,2` go back with `CONNECT`; the remote end closing ends it with `NO CARRIER`);
- QISWTMD=<id>,<mode> switches a socket's access mode; QISEND=<id>[,<len>] -> `> ` -> `SEND OK`
  (QISEND=<id>,0 asks the sent / acknowledged / unacknowledged byte counts); QIRD=<id>[,<len>]
  (QIRD=<id>,0 the received / read / unread counts); QICLOSE; QISTATE (all, `=0,<contextID>` or
  `=1,<connectID>`); `+QIURC: "closed",<id>` when the remote end closes (the socket is then
  "closing", state 4: QIRD still reads what it received, its connectID is taken until QICLOSE or
  QIDEACT; its stack has acknowledged the remote end's FIN and sends its own at QICLOSE or
  QIDEACT); QGDCNT (IP bytes sent and received, as the gateway counts them);
- the network ending the PDP context (coverage lost, a detach): each socket on it reports
  `+QIURC: "closed",<id>` and is "closing" (§2.3.1: closed "due to network error"), then
  `+QIURC: "pdpdeact",<contextID>`; AT+QIDEACT frees the connectIDs.  The module's own reset,
  AT+CFUN=0 or power-off frees them at once (those already "closing" too: the stack's state starts
  again) and reports no "pdpdeact"; its contexts are released at the gateway (the records written).

A server on the module (BG96 TCP/IP Application Note §2.2.4, §2.3.4):
QIOPEN=<contextID>,<connectID>,"TCP LISTENER","127.0.0.1",0,<local_port>[,<access_mode>] answers OK
then `+QIOPEN: <connectID>,0`; each client gets the first free connectID and
`+QIURC: "incoming",<connectID>,<serverID>,"<remoteIP>",<remote_port>`, then is a "TCP INCOMING"
socket in the listener's access mode (buffer or push; a transparent listener's clients are in
buffer mode, as §2.3.4 has it); a client finding every connectID taken gets
`+QIURC: "incoming full"` and is turned away; QICLOSE=<serverID> stops listening.

Where the connections go: `modem.virtual.sockets` (the echo, or a real endpoint the Internet table
allows; a listener's clients come from the host through the table's `inbound` ports).  Not
emulated: "UDP SERVICE", QISENDEX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import CONNECT, ERROR, OK, SILENT, CmeError, Final
from modem.virtual.sockets import FAIL_DNS, Socket
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem
    from modem.virtual.netlink import Context

BUFFER, PUSH, TRANSPARENT = 0, 1, 2


@dataclass(slots=True)
class QiState:
    """Quectel's TCP/IP stack in one modem."""

    access: dict[int, int] = field(default_factory=dict)  # access mode per connect ID
    online: int | None = None  # the connect ID whose bytes the port carries (transparent, in data mode)
    counted_from: tuple[int, int] = (0, 0)  # IP bytes (sent, received) when AT+QGDCNT=0 reset the counter
    #: sockets the remote end closed ("closing", socket state 4): their unread data is read with
    #: AT+QIRD, and the connect ID stays taken until AT+QICLOSE (or AT+QIDEACT of their context)
    closing: dict[int, Socket] = field(default_factory=dict)


def _on_reset(m: VirtualModem) -> None:
    """A reset (AT+CFUN=1,1, AT+CFUN=0, power off): every connectID free (those "closing" too), no
    access modes, no "pdpdeact" to say (the state is made anew)."""
    m.tcp.on_context_lost.pop("quectel-tcp", None)


QUECTEL_TCP = StatefulSet("quectel-tcp", QiState, _on_reset)
_qi = QUECTEL_TCP.state
SEND_OK = Final("SEND OK", 0)
MAX_SEND = 1460
MAX_READ = 1500
ERR_PDP = 561  # open PDP context failed
ERR_ID_USED = 563  # socket identity has been used
ERR_DNS = 565  # DNS parse failed
ERR_CONNECT = 566  # socket connect failed
IDS = 12  # <connectID> 0..11
LISTENER, INCOMING = "TCP LISTENER", "TCP INCOMING"


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
    _watch_context(m)
    return None


def _watch_context(m: VirtualModem) -> None:
    """Have the network's end of a context reported: `+QIURC: "pdpdeact",<contextID>` (BG96 TCP/IP AT
    Commands Manual, URCs of the TCP/IP commands); the host then deactivates it with AT+QIDEACT,
    which frees the connectIDs its sockets keep."""
    m.tcp.on_context_lost[QUECTEL_TCP.name] = lambda ctx: m.urc(f'+QIURC: "pdpdeact",{ctx.cid}')


@QUECTEL_TCP.command("+QIDEACT")
def qideact(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QIDEACT: (1-16)")
        return None
    ctx = m.net.context(c.int_at(0, None, 1, 16))
    m.tcp.close_context(ctx)
    qi = _qi(m)
    for sid in [sid for sid, sock in qi.closing.items() if sock.ctx is ctx]:
        m.tcp.finish(qi.closing.pop(sid))  # the module's FIN, as for the sockets still open
        qi.access.pop(sid, None)
    m.net.deactivate(ctx)
    return None


# ----- data both ways ------------------------------------------------------------------------------


def _access(m: VirtualModem, sid: int) -> int:
    """The socket's access mode now: a transparent socket left by "+++" is in buffer mode."""
    qi = _qi(m)
    mode = qi.access.get(sid, BUFFER)
    if mode == TRANSPARENT and not (qi.online == sid and m.in_data_mode):
        return BUFFER
    return mode


def _go_online(m: VirtualModem, sock: Socket) -> None:
    """The port carries `sock`'s bytes: what was buffered first, then as it comes."""
    qi = _qi(m)
    qi.access[sock.sid] = TRANSPARENT
    qi.online = sock.sid
    m.tcp.resume = lambda: _resume(m)

    def from_dte(data: bytes) -> None:
        if m.tcp.sockets.get(sock.sid) is sock and sock.connected:
            m.tcp.send(sock, data)

    m.enter_data(from_dte)

    def flush_buffered() -> None:  # after the CONNECT that answers the command
        if sock.rx and _access(m, sock.sid) == TRANSPARENT:
            m.send_raw(bytes(sock.rx))
            sock.rx.clear()
            m.tcp.consumed(sock)

    if sock.rx:
        m.schedule(0.0, flush_buffered)


def _resume(m: VirtualModem) -> Final | None:
    """ATO: back to the transparent socket left by "+++"."""
    qi = _qi(m)
    sock = m.tcp.sockets.get(qi.online) if qi.online is not None else None
    if sock is None or not sock.connected:
        m.tcp.resume = None
        return Final("NO CARRIER", 3)
    _go_online(m, sock)
    return CONNECT


def _quectel_rx(m: VirtualModem, sock: Socket, data: bytes) -> None:
    mode = _access(m, sock.sid)
    if mode == TRANSPARENT:
        m.send_raw(data)
    elif mode == PUSH:
        m.urc(f'+QIURC: "recv",{sock.sid},{len(data)}', data.decode("latin-1"))
    else:
        was_empty = not sock.rx
        sock.rx += data
        if was_empty:
            m.urc(f'+QIURC: "recv",{sock.sid}')


def _quectel_closed(m: VirtualModem, sock: Socket) -> None:
    qi = _qi(m)
    if not m.tcp.losing or m.tcp.by_network:  # a reset or power-off forgets the socket
        qi.closing[sock.sid] = sock
    if qi.online == sock.sid:
        qi.online = None
        m.tcp.resume = None
        if m.in_data_mode:
            m.leave_data()
            m.urc("NO CARRIER")
            return
    m.urc(f'+QIURC: "closed",{sock.sid}')


def _quectel_up(m: VirtualModem, sock: Socket, access: int) -> None:
    if access == TRANSPARENT:
        m.send_raw(m.final_bytes(CONNECT))
        _go_online(m, sock)
    else:
        m.urc(f"+QIOPEN: {sock.sid},0")


def _quectel_fail(m: VirtualModem, sock: Socket, why: str, access: int) -> None:
    _qi(m).access.pop(sock.sid, None)
    if access == TRANSPARENT:
        m.send_raw(m.final_bytes(ERROR))
    else:
        m.urc(f"+QIOPEN: {sock.sid},{ERR_DNS if why == FAIL_DNS else ERR_CONNECT}")


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
    sid = c.int_at(1, None, 0, IDS - 1)
    proto = c.str_at(2).upper()
    host = c.str_at(3)
    listener = proto == LISTENER
    port = c.int_at(4, None, 0 if listener else 1, 65535)
    local_port = c.int_at(5, None if listener else 0, 1 if listener else 0, 65535)  # a client's: any
    access = c.int_at(6, BUFFER, 0, 2)
    if proto not in ("TCP", "UDP", LISTENER):
        raise CmeError(50)
    if sid in m.tcp.sockets or sid in m.tcp.listeners or sid in _qi(m).closing:
        raise CmeError(ERR_ID_USED)
    ctx = m.net.contexts.get(cid)
    if ctx is None or not ctx.active:
        if access == TRANSPARENT and not listener:
            return ERROR
        m.urc(f"+QIOPEN: {sid},{ERR_PDP}")
        return None
    _qi(m).access[sid] = access
    _watch_context(m)
    if listener:
        _listen(m, sid, local_port, ctx, BUFFER if access == TRANSPARENT else access)
        m.schedule(0.0, lambda: m.urc(f"+QIOPEN: {sid},0"))  # after the OK that answers the command
        return None
    sock = m.tcp.open(
        sid,
        proto,
        host,
        port,
        ctx,
        on_up=lambda sock: _quectel_up(m, sock, access),
        on_fail=lambda sock, why: _quectel_fail(m, sock, why, access),
        on_rx=lambda sock, data: _quectel_rx(m, sock, data),
        on_closed=lambda sock: _quectel_closed(m, sock),
    )
    sock.half_close = True  # the remote end's FIN acknowledged, the module's own FIN at AT+QICLOSE
    # Transparent: the answer is CONNECT (or ERROR) once the connection is up (or has failed).
    return SILENT if access == TRANSPARENT else None


def _free_id(m: VirtualModem) -> int | None:
    """The first connectID neither a socket nor a listener holds (a listener's new client takes it)."""
    tcp, closing = m.tcp, _qi(m).closing
    return next(
        (i for i in range(IDS) if i not in tcp.sockets and i not in tcp.listeners and i not in closing), None
    )


def _listen(m: VirtualModem, sid: int, port: int, ctx: Context, access: int) -> None:
    def accepted(sock: Socket) -> None:
        sock.half_close = True
        _qi(m).access[sock.sid] = access
        m.urc(f'+QIURC: "incoming",{sock.sid},{sid},"{sock.host}",{sock.port}')

    m.tcp.listen(
        sid,
        port,
        ctx,
        take_id=lambda: _free_id(m),
        on_accept=accepted,
        on_full=lambda: m.urc('+QIURC: "incoming full"'),
        on_rx=lambda sock, data: _quectel_rx(m, sock, data),
        on_closed=lambda sock: _quectel_closed(m, sock),
    )


@QUECTEL_TCP.command("+QISWTMD")
def qiswtmd(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QISWTMD: (0-11),(0-2)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, 11)
    mode = c.int_at(1, None, 0, 2)
    sock = m.tcp.sockets.get(sid)
    if sock is None:
        return ERROR
    if mode == TRANSPARENT:
        if not sock.connected:
            return ERROR
        _go_online(m, sock)
        return CONNECT
    _qi(m).access[sid] = mode
    return None


@QUECTEL_TCP.command("+QISEND")
def qisend(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+QISEND: (0-11),(0-{MAX_SEND})")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, 11)
    sock = m.tcp.sockets.get(sid)
    if len(c.params()) >= 2 and c.params()[1] == "0":  # sent, acknowledged, not yet acknowledged
        counted = sock or _qi(m).closing.get(sid)
        sent, acked = (counted.sent, counted.acked) if counted else (0, 0)
        m.info(f"+QISEND: {sent},{acked},{sent - acked}")
        return None
    if sock is None or not sock.ready:
        return ERROR
    return send_prompt(m, sid, sock, c.int_at(1, 0, 0, MAX_SEND) or None)


def send_prompt(m: VirtualModem, sid: int, sock: Socket, length: int | None) -> Final | None:
    """The `>` prompt of AT+QISEND / AT+QSSLSEND on socket `sid`: `length` bytes (None: up to
    Ctrl-Z) sent once they have come, SEND FAIL when the socket closed meanwhile."""

    def done(data: bytes) -> Final | None:
        if m.tcp.sockets.get(sid) is not sock:
            return Final("SEND FAIL", 4)
        m.tcp.send(sock, data)
        return SEND_OK

    return m.prompt(done, length)


def answer_read(m: VirtualModem, prefix: str, sock: Socket, want: int) -> None:
    """AT+QIRD's / AT+QSSLRECV's answer: up to `want` bytes of what `sock` received, after their count."""
    data = m.tcp.read(sock, want)
    m.info(f"{prefix}: {len(data)}")
    if data:
        m.raw(data + b"\r\n")


@QUECTEL_TCP.command("+QIRD")
def qird(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+QIRD: (0-11),(0-{MAX_READ})")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, 11)
    sock = m.tcp.sockets.get(sid) or _qi(m).closing.get(sid)
    if sock is None:
        raise CmeError(3)
    want = c.int_at(1, MAX_READ, 0, MAX_READ)
    if want == 0:
        m.info(f"+QIRD: {sock.received},{sock.received - len(sock.rx)},{len(sock.rx)}")
        return None
    answer_read(m, "+QIRD", sock, want)
    return None


@QUECTEL_TCP.command("+QICLOSE")
def qiclose(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QICLOSE: (0-11),(0-65535)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    sid = c.int_at(0, None, 0, IDS - 1)
    sock = m.tcp.sockets.get(sid)
    if sock is not None:
        m.tcp.close(sock)
    server = m.tcp.listeners.get(sid)
    if server is not None:
        m.tcp.unlisten(server)
    qi = _qi(m)
    closing = qi.closing.pop(sid, None)
    if closing is not None:
        m.tcp.finish(closing)  # the module's FIN at last: the remote end's came before
    qi.access.pop(sid, None)
    if qi.online == sid:
        qi.online = None
        m.tcp.resume = None
    return OK


@QUECTEL_TCP.command("+QISTATE")
def qistate(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    kind = c.int_at(0, None, 0, 1) if c.op is Op.SET else None
    which = c.int_at(1, None, 0, 16) if kind is not None else None
    lines: dict[int, tuple[Context, str]] = {}
    closing = _qi(m).closing
    for sid, sock in [*m.tcp.sockets.items(), *closing.items()]:
        server = sock.listener
        state = 4 if closing.get(sid) is sock else 2 if sock.ready else 1
        if server is None:
            shown = f'"{sock.proto}","{sock.host}",{sock.port},0,{state},{sock.ctx.cid},0'
        else:
            shown = (
                f'"{INCOMING}","{sock.host}",{sock.port},{server.port},{state},{sock.ctx.cid},{server.lid}'
            )
        lines[sid] = (sock.ctx, shown)
    for sid, lst in m.tcp.listeners.items():  # socket state 3: listening (§2.2.6)
        lines[sid] = (lst.ctx, f'"{LISTENER}","{lst.ctx.ip}",0,{lst.port},3,{lst.ctx.cid},{sid}')
    for sid, (ctx, shown) in sorted(lines.items()):
        if (kind == 0 and ctx.cid != which) or (kind == 1 and sid != which):
            continue
        m.info(f'+QISTATE: {sid},{shown},{_access(m, sid)},"uart1"')
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
