"""SIMCom's TCP/IP stack (AT+CSTT / +CIICR / +CIFSR / +CIPSTART / +CIPSEND ...), single and multi-connection.

As the SIM800 Series AT Command Manual V1.09 chapter 8 and the SIM800 Series TCPIP Application
Note (§2 single connection, §3 multi-connection) describe it:

- §8.2.9 CSTT sets the APN, §8.2.10 CIICR opens the gateway session, §8.2.11 CIFSR answers the IP
  address (with no OK when the profile says `cifsr_no_ok`);
- §8.2.1 CIPMUX=1 (only in IP INITIAL) switches to multi-connection: connection numbers 0-5, and
  every answer about a connection starts with `<n>, `;
- §8.2.2 CIPSTART answers OK, then `CONNECT OK` (`<n>, CONNECT OK`), or `STATE: <state>` and
  `CONNECT FAIL` (`<n>, CONNECT FAIL`) when the network refuses the destination, the endpoint
  refuses the connection or the name is unknown; `ALREADY CONNECT` when it is open;
- §8.2.3 CIPSEND[=<n>][,<length>] opens the `> ` prompt (Ctrl-Z ends it, Esc cancels it, a length
  takes exactly that many bytes) and answers `SEND OK` (`<n>, SEND OK`) once the server has
  acknowledged the data (§8.2.4 normal mode: "when the server receives TCP data, it will response
  SEND OK"): the ACK back across the downlink, riding on the server's answer or alone after its
  delayed-ACK time; input waits meanwhile, and the connection ending first answers `SEND FAIL`;
- received data comes raw, after `+IPD,<len>:` under §8.2.14 CIPHEAD=1, as
  `+RECEIVE,<n>,<len>:` and the data in multi-connection mode (Application Note §3.1), or is kept
  for AT+CIPRXGET=2/3 after §8.2.26 CIPRXGET=1 (`+CIPRXGET: 1[,<n>]` announces it);
- §8.2.4 CIPQSEND=1 (quick send): a send answers `DATA ACCEPT:<length>` (`DATA ACCEPT:<n>,<length>`)
  at once, when the module has the data, instead of `SEND OK`;
- CIPSSL=1 (SIM800 Series SSL Application Note §2.4): the next TCP connections of CIPSTART run
  over TLS (`modem.virtual.tls`: real TLS 1.2, `SIMCOM_TLS`, the server's certificate not
  checked): `CONNECT OK` once the TLS handshake is over, `CONNECT FAIL` when it fails; CIPSEND
  takes and the received data gives the plain bytes, the records are what crosses the air and is
  billed (CIPACK counts those bytes); CIPSSL=0 (the default, and what TinyGSM sends before a plain
  client's CIPSTART) plain TCP; a UDP connection is plain either way;
- CDNSCFG sets the DNS servers the stack would ask (shown by CDNSCFG?; names resolve through the
  Internet table all the same);
- §8.2.5 CIPACK (`=<n>` in multi-connection mode) -> `+CIPACK: <sent>,<acknowledged>,<not yet>`:
  acknowledged once the bytes have crossed the uplink to the other end;
- §8.2.6 CIPCLOSE[=<n>] (CIPCLOSE=<id>[,<n>]; <n> 0 slow, the default, 1 quick close, anything
  else ERROR) -> `CLOSE OK` (`<id>, CLOSE OK`): a slow close once the close handshake is done (the
  module's FIN up after its data, the server's FIN back; input waits meanwhile, as in the state
  list's TCP CLOSING), a quick close at once (the handshake goes on without the DTE; TinyGSM
  closes so); the bytes are the same; the remote end closing -> `CLOSED`
  (`<n>, CLOSED`); §8.2.7 CIPSHUT -> `SHUT OK` (the session closes); §8.2.8 CIPSTATUS shows the
  state and, in multi-connection mode, one `C: ` line per connection;
- the network ending the context (coverage lost, a detach) after CIICR: each connection says
  `CLOSED`, then `+PDP: DEACT` (the manual's URC list: "GPRS is disconnected by network") and the
  state is PDP DEACT until CIPSHUT;
- the module's own reset (AT+CFUN=1,1, AT+CFUN=0 or 4, power off and on): its connections and
  server are gone, its context released at the gateway (the record written), and the stack is
  back at IP INITIAL with no +CSTT APN and CIPMUX / CIPHEAD / CIPRXGET / CIPQSEND / CDNSCFG at
  their defaults.

- §8.2.18 CIPSERVER=1,<port> (after CIFSR) answers OK then `SERVER OK`: a TCP server on the
  module.  Multi-connection: each client gets the first free connection number and `<n>, REMOTE
  IP: <address>`, then is a connection like the others (+CIPSEND, `+RECEIVE`, +CIPCLOSE,
  `<n>, CLOSED`); a client finding all six taken is turned away; +CIPSTATUS adds
  `S: 0,0,"<port>","LISTENING"`.  Single connection: the state is `SERVER LISTENING`, one client
  at a time (`REMOTE IP: <address>`, then the connection 0 of +CIPSEND and `CONNECT OK`), the
  next ones turned away while it stays.  CIPSERVER=0 answers OK then `SERVER CLOSE` (the
  connections stay).

Where the connections go: `modem.virtual.sockets` (the echo, or a real endpoint the Internet table
allows; a server's clients come from the host through the table's `inbound` ports).  Not
emulated: AT+CIPMODE=1 (transparent mode).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modem.virtual.ppp.bearer import DNS_SERVERS
from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, SILENT, CmeError, Final
from modem.virtual.sockets import Listener, Socket
from modem.virtual.syntax import Cmd, Op
from modem.virtual.tls import TlsSettings

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem
    from modem.virtual.netlink import Context


#: the SIM800's TLS client (+CIPSSL, +HTTPSSL): TLS 1.2 (no SIM800 firmware speaks TLS 1.3), the
#: server's certificate not checked (AT+SSLSETCERT is not emulated)
SIMCOM_TLS = TlsSettings(min_version="1.2", max_version="1.2")


@dataclass(slots=True)
class CipState:
    """SIMCom's TCP/IP stack in one modem (kept across ATZ, as on the module)."""

    status: str = "IP INITIAL"  # the stack state +CIPSTATUS shows
    head: bool = False  # +CIPHEAD=1: pushed data comes after "+IPD,<n>:"
    manual_rx: bool = False  # +CIPRXGET=1: data is kept until read
    mux: bool = False  # +CIPMUX=1: connections 0-5
    quick: bool = False  # +CIPQSEND=1: a send answers DATA ACCEPT once the module has the data
    dns: tuple[str, str] = DNS_SERVERS  # +CDNSCFG (names resolve through the Internet table all the same)
    ssl: bool = False  # +CIPSSL=1: the TCP connections of +CIPSTART run over TLS


def _on_reset(m: VirtualModem) -> None:
    """A reset (AT+CFUN=1,1, AT+CFUN=0, power off): the stack starts again at IP INITIAL with its
    settings at their defaults (the state is made anew), the APN of AT+CSTT (context 1's) forgotten, and no
    `+PDP: DEACT` to say for the context the reset ended."""
    m.net.context(1).apn = ""
    m.tcp.on_context_lost.pop("simcom-tcp", None)


SIMCOM_TCP = StatefulSet("simcom-tcp", CipState, _on_reset)
_cip = SIMCOM_TCP.state
SEND_OK = Final("SEND OK", 0)
MAX_SEND = 1460
MUX_IDS = 6  # §8.2.2: <n> 0..5
SERVER_ID = 0  # the one server of the stack (its key among the stack's listeners)


def _prefix(m: VirtualModem, sid: int) -> str:
    return f"{sid}, " if _cip(m).mux else ""


def _sim_state(m: VirtualModem) -> str:
    cip = _cip(m)
    if cip.mux:
        return "IP PROCESSING" if m.tcp.sockets or m.tcp.listeners else cip.status
    sock = m.tcp.sockets.get(0)
    if sock is not None:
        return "CONNECT OK" if sock.ready else f"{sock.proto} CONNECTING"
    if _server(m) is not None:
        return "SERVER LISTENING"
    return cip.status


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
    m.tcp.on_context_lost[SIMCOM_TCP.name] = lambda ctx: _pdp_deact(m, ctx)
    return None


def _pdp_deact(m: VirtualModem, ctx: Context) -> None:
    """The network ended the stack's context (coverage lost, a detach): `+PDP: DEACT` ("GPRS is
    disconnected by network", the manual's list of URCs) and the state PDP DEACT, left by AT+CIPSHUT."""
    cip = _cip(m)
    if ctx.cid == 1 and cip.status not in ("IP INITIAL", "IP START", "IP CONFIG"):
        cip.status = "PDP DEACT"
        m.urc("+PDP: DEACT")


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


def _client_line(m: VirtualModem, sid: int) -> str:
    sock = m.tcp.sockets.get(sid)
    if sock is None:
        return f'{sid},,"","","","INITIAL"'
    state = "CONNECTED" if sock.ready else "CONNECTING"
    return f'{sid},0,"{sock.proto}","{sock.host}","{sock.port}","{state}"'


@SIMCOM_TCP.command("+CIPSTATUS")
def cipstatus(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    cip = _cip(m)
    if c.op is Op.SET:  # multi-connection: one connection's line (§8.2.8)
        if not cip.mux:
            return ERROR
        m.info(f"+CIPSTATUS: {_client_line(m, c.int_at(0, None, 0, MUX_IDS - 1))}")
        return None
    text = f"OK\r\n\r\nSTATE: {_sim_state(m)}"
    if cip.mux:
        lines = [f"C: {_client_line(m, sid)}" for sid in range(MUX_IDS)]
        server = _server(m)
        if server is not None:
            lines.append(f'S: 0,0,"{server.port}","LISTENING"')
        text += "\r\n\r\n" + "\r\n".join(lines)
    return Final(text, 0)


@SIMCOM_TCP.command("+CIPMUX")
def cipmux(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    if c.op is Op.READ:
        m.info(f"+CIPMUX: {int(cip.mux)}")
    elif c.op is Op.TEST:
        m.info("+CIPMUX: (0,1)")
    elif c.op is Op.SET:
        mux = bool(c.int_at(0, None, 0, 1))
        if mux != cip.mux and (cip.status != "IP INITIAL" or m.tcp.sockets):
            return ERROR  # §8.2.1: only in IP INITIAL
        cip.mux = mux
    else:
        raise CmeError(50)
    return None


def _switch(m: VirtualModem, c: Cmd, name: str, now: bool) -> bool | None:
    """A 0/1 setting's command: read and test answered here; the value a write gives, else None."""
    if c.op is Op.READ:
        m.info(f"{name}: {int(now)}")
    elif c.op is Op.TEST:
        m.info(f"{name}: (0,1)")
    else:
        return bool(c.int_at(0, 0, 0, 1))
    return None


@SIMCOM_TCP.command("+CIPHEAD")
def ciphead(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    if (head := _switch(m, c, "+CIPHEAD", cip.head)) is not None:
        cip.head = head
    return None


def _simcom_closed(m: VirtualModem, sock: Socket) -> None:
    cip = _cip(m)
    if m.tcp.losing:
        cip.status = "PDP DEACT"
    elif not cip.mux:
        cip.status = f"{sock.proto} CLOSED"
    m.urc(f"{_prefix(m, sock.sid)}CLOSED")


def _simcom_fail(m: VirtualModem, sock: Socket, why: str) -> None:
    cip = _cip(m)
    if cip.mux:
        m.urc(f"{sock.sid}, CONNECT FAIL")
    else:
        cip.status = f"{sock.proto} CLOSED"
        m.urc(f"STATE: {cip.status}")
        m.urc("CONNECT FAIL")


def _simcom_rx(m: VirtualModem, sock: Socket, data: bytes) -> None:
    cip = _cip(m)
    if cip.manual_rx:
        was_empty = not sock.rx
        sock.rx += data
        if was_empty:
            m.urc(f"+CIPRXGET: 1,{sock.sid}" if cip.mux else "+CIPRXGET: 1")
    elif cip.mux:
        m.send_raw(f"\r\n+RECEIVE,{sock.sid},{len(data)}:\r\n".encode() + data)
    elif cip.head:
        m.send_raw(f"\r\n+IPD,{len(data)}:".encode() + data)
    else:
        m.send_raw(data)


@SIMCOM_TCP.command("+CIPSTART", sim=True)
def cipstart(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    if c.op is Op.TEST:
        n = "(0-5)," if cip.mux else ""
        m.info(f'+CIPSTART: {n}("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)"),(1-65535)')
        m.info(f'+CIPSTART: {n}("TCP","UDP"),("DOMAIN NAME"),(1-65535)')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    first = 1 if cip.mux else 0
    sid = c.int_at(0, None, 0, MUX_IDS - 1) if cip.mux else 0
    proto = c.str_at(first).upper()
    host = c.str_at(first + 1)
    port = c.int_at(first + 2, None, 1, 65535)
    if proto not in ("TCP", "UDP"):
        raise CmeError(50)
    if sid in m.tcp.sockets:
        return Final(f"ERROR\r\n\r\n{_prefix(m, sid)}ALREADY CONNECT", 4)
    if not cip.mux and _server(m) is not None:
        return ERROR  # single connection: the one connection is the server's
    ctx = m.net.context(1)
    ready = ("IP STATUS",) if cip.mux else ("IP STATUS", "IP GPRSACT", "TCP CLOSED", "UDP CLOSED")
    if cip.status not in ready or not ctx.active:
        return ERROR
    m.tcp.open(
        sid,
        proto,
        host,
        port,
        ctx,
        on_up=lambda sock: m.urc(f"{_prefix(m, sock.sid)}CONNECT OK"),
        on_fail=lambda sock, why: _simcom_fail(m, sock, why),
        on_rx=lambda sock, data: _simcom_rx(m, sock, data),
        on_closed=lambda sock: _simcom_closed(m, sock),
        tls=SIMCOM_TLS if cip.ssl and proto == "TCP" else None,
    )
    if not cip.mux:
        cip.status = "IP STATUS"
    return None


@SIMCOM_TCP.command("+CIPSEND")
def cipsend(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    if c.op is Op.TEST:
        m.info(f"+CIPSEND: (0-5),<length>(1-{MAX_SEND})" if cip.mux else f"+CIPSEND: <length>(1-{MAX_SEND})")
        return None
    if cip.mux:
        if c.op is not Op.SET:
            return ERROR
        sid = c.int_at(0, None, 0, MUX_IDS - 1)
        length = c.int_at(1, None, 1, MAX_SEND) if len(c.params()) > 1 else None
    else:
        sid = 0
        length = c.int_at(0, None, 1, MAX_SEND) if c.op is Op.SET else None
    sock = m.tcp.sockets.get(sid)
    if sock is None or not sock.ready:
        return ERROR

    def done(data: bytes) -> Final | None:
        if m.tcp.sockets.get(sid) is not sock:
            return ERROR
        m.tcp.send(sock, data)
        if cip.quick:
            return Final(f"DATA ACCEPT:{sid},{len(data)}" if cip.mux else f"DATA ACCEPT:{len(data)}", 0)
        sent = Final(f"{_prefix(m, sid)}SEND OK", 0)
        failed = Final(f"{_prefix(m, sid)}SEND FAIL", 4)
        complete = m.completer()  # a reset meanwhile ends the command unanswered
        if m.tcp.on_acked(sock, lambda ok: complete(sent if ok else failed)):
            return sent
        return m.wait()  # §8.2.4 normal mode: SEND OK once the server has acknowledged the data

    return m.prompt(done, length)


@SIMCOM_TCP.command("+CIPQSEND")
def cipqsend(m: VirtualModem, c: Cmd) -> Final | None:
    """§8.2.4: 0 normal mode (`SEND OK`), 1 quick send (`DATA ACCEPT:[<n>,]<length>`)."""
    cip = _cip(m)
    if (quick := _switch(m, c, "+CIPQSEND", cip.quick)) is not None:
        cip.quick = quick
    return None


@SIMCOM_TCP.command("+CIPSSL")
def cipssl(m: VirtualModem, c: Cmd) -> Final | None:
    """TLS on the next TCP connections (1) or not (0, the default; TinyGSM sends it before each
    AT+CIPSTART of a plain client)."""
    cip = _cip(m)
    if c.op not in (Op.SET, Op.READ, Op.TEST):
        return ERROR
    if (ssl := _switch(m, c, "+CIPSSL", cip.ssl)) is not None:
        cip.ssl = ssl
    return None


@SIMCOM_TCP.command("+CDNSCFG")
def cdnscfg(m: VirtualModem, c: Cmd) -> Final | None:
    """The DNS servers the stack asks (primary, secondary); the network's own until set."""
    cip = _cip(m)
    if c.op is Op.READ:
        m.info(f"PrimaryDns: {cip.dns[0]}")
        m.info(f"SecondaryDns: {cip.dns[1]}")
    elif c.op is Op.TEST:
        m.info('+CDNSCFG: ("Primary DNS"),("Secondary DNS")')
    elif c.op is Op.SET:
        servers = (c.str_at(0), c.str_at(1, "0.0.0.0"))
        try:
            for server in servers:
                ipaddress.IPv4Address(server)
        except ValueError:
            return ERROR
        cip.dns = servers
    else:
        raise CmeError(50)
    return None


@SIMCOM_TCP.command("+CIPACK")
def cipack(m: VirtualModem, c: Cmd) -> Final | None:
    """§8.2.5: the bytes sent on a connection, those the other end has acknowledged, the rest."""
    if c.op is Op.TEST:
        return None
    mux = _cip(m).mux
    if mux != (c.op is Op.SET):
        return ERROR  # AT+CIPACK=<n> with multi-connection, AT+CIPACK without
    sock = m.tcp.sockets.get(c.int_at(0, None, 0, MUX_IDS - 1) if mux else 0)
    if sock is None:
        return ERROR
    m.info(f"+CIPACK: {sock.sent},{sock.acked},{sock.sent - sock.acked}")
    return None


@SIMCOM_TCP.command("+CIPRXGET")
def ciprxget(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    if c.op is Op.READ:
        m.info(f"+CIPRXGET: {int(cip.manual_rx)}")
        return None
    if c.op is Op.TEST:
        m.info("+CIPRXGET: (0-4),(0-5),(1-1460)" if cip.mux else "+CIPRXGET: (0-4),(1-1460)")
        return None
    mode = c.int_at(0, None, 0, 4)
    if mode in (0, 1):
        cip.manual_rx = bool(mode)
        return None
    sid = c.int_at(1, None, 0, MUX_IDS - 1) if cip.mux else 0
    sock = m.tcp.sockets.get(sid)
    if sock is None or not cip.manual_rx:
        raise CmeError(3)
    who = f"{sid}," if cip.mux else ""
    if mode == 4:
        m.info(f"+CIPRXGET: 4,{who}{len(sock.rx)}")
        return None
    want = c.int_at(2 if cip.mux else 1, MAX_SEND, 1, MAX_SEND)
    if mode == 3:
        want = min(want, MAX_SEND // 2)  # §8.2.26: hex mode reads at most 730 bytes
    data = bytes(sock.rx[:want])
    del sock.rx[:want]
    m.tcp.consumed(sock)
    shown = data.hex().upper().encode() if mode == 3 else data
    m.info(f"+CIPRXGET: {mode},{who}{len(data)},{len(sock.rx)}")
    m.raw(shown + b"\r\n")
    return None


@SIMCOM_TCP.command("+CIPCLOSE")
def cipclose(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    cip = _cip(m)
    sid = c.int_at(0, None, 0, MUX_IDS - 1) if cip.mux else 0
    quick = c.int_at(1 if cip.mux else 0, 0, 0, 1)  # <n>: 0 slow close, 1 quick close (§8.2.6); no other
    sock = m.tcp.sockets.get(sid)
    if sock is None:
        return ERROR
    closed = Final(f"{_prefix(m, sid)}CLOSE OK", 0)
    if not cip.mux:
        cip.status = f"{sock.proto} CLOSED"
    if quick:
        m.tcp.close(sock)
        return closed
    # slow close: CLOSE OK once the close handshake is done (the FIN up, the server's FIN back)
    complete = m.completer()  # a reset meanwhile ends the command unanswered
    if m.tcp.close(sock, then=lambda: complete(closed)):
        return m.wait()
    return closed


@SIMCOM_TCP.command("+CIPSHUT")
def cipshut(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    ctx = m.net.context(1)
    m.tcp.close_context(ctx)
    m.net.deactivate(ctx)
    _cip(m).status = "IP INITIAL"
    return Final("SHUT OK", 0)


def _server(m: VirtualModem) -> Listener | None:
    return m.tcp.listeners.get(SERVER_ID)


def _free_id(m: VirtualModem) -> int | None:
    """The first connection number no connection uses (a new client of the server takes it)."""
    ids = MUX_IDS if _cip(m).mux else 1
    return next((sid for sid in range(ids) if sid not in m.tcp.sockets), None)


def _accepted(m: VirtualModem, sock: Socket) -> None:
    m.urc(f"{_prefix(m, sock.sid)}REMOTE IP: {sock.host}")
    if not _cip(m).mux:
        m.urc("CONNECT OK")


@SIMCOM_TCP.command("+CIPSERVER")
def cipserver(m: VirtualModem, c: Cmd) -> Final | None:
    cip = _cip(m)
    server = _server(m)
    if c.op is Op.TEST:
        m.info("+CIPSERVER: (0-CLOSE SERVER, 1-OPEN SERVER),(1,65535)")
        return None
    if c.op is Op.READ:
        m.info(f"+CIPSERVER: 1,{server.port},0,0" if server is not None else "+CIPSERVER: 0")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    mode = c.int_at(0, None, 0, 1)
    if mode == 0:
        if server is None:
            return ERROR
        m.tcp.unlisten(server)
        return Final("OK\r\n\r\nSERVER CLOSE", 0)
    port = c.int_at(1, None, 1, 65535)
    ctx = m.net.context(1)
    if server is not None or (m.tcp.sockets.get(0) is not None and not cip.mux):
        return ERROR
    if cip.status not in (("IP STATUS",) if cip.mux else ("IP STATUS", "TCP CLOSED")) or not ctx.active:
        return ERROR
    m.tcp.listen(
        SERVER_ID,
        port,
        ctx,
        take_id=lambda: _free_id(m),
        on_accept=lambda sock: _accepted(m, sock),
        on_full=lambda: None,  # the module says nothing: the client is turned away
        on_rx=lambda sock, data: _simcom_rx(m, sock, data),
        on_closed=lambda sock: _simcom_closed(m, sock),
    )
    return Final("OK\r\n\r\nSERVER OK", 0)
