"""Quectel's SSL sockets (BG96 SSL AT Commands Manual V1.0; the same commands on the EC2x / EG25):
AT+QSSLCFG, AT+QSSLOPEN, AT+QSSLSEND, AT+QSSLRECV, AT+QSSLCLOSE, AT+QSSLSTATE, `+QSSLURC`.

As the manual's examples drive them:

- AT+QSSLCFG="<name>",<sslctxID 0-5>[,<value>] sets (or shows: `+QSSLCFG: "<name>",<ctx>,<value>`)
  an SSL context: "sslversion" 0 SSL 3.0, 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2, 4 all (default: TLS 1.0
  to 1.2; the BG96 has no TLS 1.3; SSL 3.0 is offered by no OpenSSL build, its handshake fails);
  "ciphersuite" a suite's IANA number in hex (`0XC02F`) or 0XFFFF all (default; a number this
  machine's OpenSSL does not know answers ERROR); "seclevel" 0 no check (default), 1 the server's
  chain checked against "cacert", 2 that and the client's certificate ("clientcert", "clientkey")
  sent when the server asks; "cacert", "clientcert", "clientkey" name files of the module's UFS
  (`"cacert.pem"` or `"UFS:cacert.pem"`, uploaded with AT+QFUPL: `modem.virtual.cmd_qfile`), read
  when a connection opens; "ignorelocaltime" and "negotiatetime" are kept;
- AT+QSSLOPEN=<pdpctxID>,<sslctxID>,<clientID 0-11>,"<serveraddr>",<port>[,<access_mode>] answers
  OK, then `+QSSLOPEN: <clientID>,<err>` once the TLS handshake is over: 0, or the manual's error
  codes (chapter 4): 565 DNS parse failed, 566 socket connect failed (the TCP connection, and the TLS
  handshake: the manual gives no code of its own for it), 561 the PDP context is not active, 563 the
  clientID is taken (`+CME ERROR: 563`).  Access modes 0 (buffer: `+QSSLURC: "recv",<clientID>` when
  data comes into an empty buffer, read with AT+QSSLRECV) and 1 (direct push: `+QSSLURC:
  "recv",<clientID>,<len>` and the data); 2 (transparent) answers ERROR: not emulated.  A context
  whose CA file (seclevel 1, 2) or client files are not in UFS or are no certificate or key, or SSL
  3.0 alone, fails the open at once (566), before any packet;
- AT+QSSLSEND=<clientID>[,<len>] `> `, the data (<len> bytes, or up to Ctrl-Z), `SEND OK`;
- AT+QSSLRECV=<clientID>,<len> `+QSSLRECV: <n>`, the n plain bytes, OK;
- AT+QSSLCLOSE=<clientID>[,<timeout>] OK: the close_notify, then the TCP close;
- AT+QSSLSTATE[=<clientID>] `+QSSLSTATE: <clientID>,"SSLClient","<addr>",<port>,0,<state>,<pdpctxID>,
  <serverID>,<access_mode>,"uart1",<sslctxID>`;
- `+QSSLURC: "closed",<clientID>` when the server closes (the clientID is "closing", state 4, until
  AT+QSSLCLOSE: what it sent before is still read with AT+QSSLRECV).

The connection is one of the stack's (`modem.virtual.sockets`, the clientIDs shared with
AT+QIOPEN's connectIDs, as on the module) with real TLS on it (`modem.virtual.tls`): every record
crosses the link and is billed as TCP data.  AT+QHTTPCFG="sslctxid" names the context an https://
request of Quectel's HTTP application uses (`settings`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual.cmd_qfile import read_file
from modem.virtual.cmd_quectel import (
    ERR_CONNECT,
    ERR_DNS,
    ERR_ID_USED,
    ERR_PDP,
    IDS,
    MAX_READ,
    MAX_SEND,
    QUECTEL_TCP,
    answer_read,
    send_prompt,
)
from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, OK, CmeError, Final
from modem.virtual.sockets import FAIL_DNS, Socket
from modem.virtual.syntax import Cmd, Op
from modem.virtual.tls import TlsSettings, cipher_name

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

log = logging.getLogger(__name__)

__all__ = ["QUECTEL_SSL", "settings"]

BUFFER, PUSH, TRANSPARENT = 0, 1, 2
CONTEXTS = 6  # <sslctxID> 0..5
ALL_SUITES = 0xFFFF
#: "sslversion": the versions offered (SSL 3.0: none this machine can offer, the open fails)
VERSIONS = {0: ("3.0", "3.0"), 1: ("1.0", "1.0"), 2: ("1.1", "1.1"), 3: ("1.2", "1.2"), 4: ("1.0", "1.2")}
FILES = ("cacert", "clientcert", "clientkey")


@dataclass(slots=True)
class SslContext:
    """One of the module's six SSL contexts (AT+QSSLCFG)."""

    sslversion: int = 4
    ciphersuite: int = ALL_SUITES
    seclevel: int = 0
    cacert: str = ""
    clientcert: str = ""
    clientkey: str = ""
    ignorelocaltime: int = 1
    negotiatetime: int = 300

    def settings(self, m: VirtualModem) -> TlsSettings:
        """The TLS client it makes, with the files it names read from the module's UFS."""
        versions = VERSIONS[self.sslversion]
        suite = "" if self.ciphersuite == ALL_SUITES else cipher_name(self.ciphersuite) or ""
        wanted = {"ca": self.cacert} if self.seclevel >= 1 else {}
        if self.seclevel == 2 and self.clientcert:
            wanted |= {"cert": self.clientcert, "key": self.clientkey}
        files: dict[str, bytes] = {}
        missing = ""
        for field_, name in wanted.items():
            if not name:
                continue
            data = read_file(m, name)
            if data is None:
                missing = missing or name
            else:
                files[field_] = data
        return TlsSettings(
            min_version=versions[0],
            max_version=versions[1],
            ciphers=suite,
            verify=self.seclevel >= 1,
            missing=missing,
            **files,
        )


@dataclass(slots=True)
class SslState:
    contexts: list[SslContext] = field(default_factory=lambda: [SslContext() for _ in range(CONTEXTS)])
    access: dict[int, int] = field(default_factory=dict)  # access mode per clientID
    sslctx: dict[int, int] = field(default_factory=dict)  # the SSL context per clientID
    closing: dict[int, Socket] = field(default_factory=dict)  # closed by the server, not yet by the DTE


def _on_reset(m: VirtualModem) -> None:
    return None  # the sockets went with the stack's; the contexts are the module's defaults again


QUECTEL_SSL = StatefulSet("quectel-ssl", SslState, _on_reset)
_st = QUECTEL_SSL.state


def settings(m: VirtualModem, sslctx: int) -> TlsSettings:
    """The TLS client of SSL context `sslctx` (the defaults when the module has no SSL commands)."""
    if QUECTEL_SSL.name in m.set_states:
        return _st(m).contexts[sslctx].settings(m)
    return SslContext().settings(m)


def _shown(name: str, ctx: SslContext) -> str:
    value = getattr(ctx, name)
    if name == "ciphersuite":
        return f"0X{value:04X}"
    return f'"{value}"' if isinstance(value, str) else str(value)


@QUECTEL_SSL.command("+QSSLCFG")
def qsslcfg(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+QSSLCFG: "sslversion",(0-5),(0-4)')
        m.info('+QSSLCFG: "ciphersuite",(0-5),(0X0035,0X002F,0X0005,0X0004,0X000A,0X003D,...,0XFFFF)')
        m.info('+QSSLCFG: "cacert",(0-5),<cacertpath>')
        m.info('+QSSLCFG: "clientcert",(0-5),<client_cert_path>')
        m.info('+QSSLCFG: "clientkey",(0-5),<client_key_path>')
        m.info('+QSSLCFG: "seclevel",(0-5),(0-2)')
        m.info('+QSSLCFG: "ignorelocaltime",(0-5),(0,1)')
        m.info('+QSSLCFG: "negotiatetime",(0-5),(10-300)')
        return None
    if c.op is not Op.SET or len(c.params()) < 2:
        raise CmeError(50)
    name = c.str_at(0).lower()
    ctx = _st(m).contexts[c.int_at(1, None, 0, CONTEXTS - 1)]
    if not hasattr(ctx, name) or name == "settings":
        raise CmeError(50)
    if len(c.params()) == 2:
        m.info(f'+QSSLCFG: "{name}",{c.int_at(1, None, 0, CONTEXTS - 1)},{_shown(name, ctx)}')
        return None
    if name in FILES:
        setattr(ctx, name, c.str_at(2))
    elif name == "ciphersuite":
        text = c.str_at(2).strip()
        try:
            code = int(text, 16)
        except ValueError:
            raise CmeError(50) from None
        if code != ALL_SUITES and cipher_name(code) is None:
            log.info("AT+QSSLCFG: cipher suite %s: unknown to this machine's OpenSSL", text)
            return ERROR
        ctx.ciphersuite = code
    else:
        lo, hi = {
            "sslversion": (0, 4),
            "seclevel": (0, 2),
            "ignorelocaltime": (0, 1),
            "negotiatetime": (10, 300),
        }[name]
        setattr(ctx, name, c.int_at(2, None, lo, hi))
    return None


# ----- the sockets ---------------------------------------------------------------------------------


def _taken(m: VirtualModem, cid: int) -> bool:
    qi_closing = QUECTEL_TCP.state(m).closing if QUECTEL_TCP.name in m.set_states else {}
    return cid in m.tcp.sockets or cid in m.tcp.listeners or cid in _st(m).closing or cid in qi_closing


def _rx(m: VirtualModem, sock: Socket, data: bytes) -> None:
    if _st(m).access.get(sock.sid, BUFFER) == PUSH:
        m.urc(f'+QSSLURC: "recv",{sock.sid},{len(data)}', data.decode("latin-1"))
        return
    was_empty = not sock.rx
    sock.rx += data
    if was_empty:
        m.urc(f'+QSSLURC: "recv",{sock.sid}')


def _closed(m: VirtualModem, sock: Socket) -> None:
    if not m.tcp.losing or m.tcp.by_network:  # a reset or power-off forgets the socket
        _st(m).closing[sock.sid] = sock
    m.urc(f'+QSSLURC: "closed",{sock.sid}')


def _failed(m: VirtualModem, sock: Socket, why: str) -> None:
    st = _st(m)
    st.access.pop(sock.sid, None)
    st.sslctx.pop(sock.sid, None)
    if sock.tls is not None and sock.tls.error:
        log.info("AT+QSSLOPEN %d: %s", sock.sid, sock.tls.error)
    m.urc(f"+QSSLOPEN: {sock.sid},{ERR_DNS if why == FAIL_DNS else ERR_CONNECT}")


@QUECTEL_SSL.command("+QSSLOPEN", sim=True)
def qsslopen(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+QSSLOPEN: (1-16),(0-5),(0-11),"<serveraddr>",(1-65535),(0-2)')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    pdp = c.int_at(0, None, 1, 16)
    sslctx = c.int_at(1, None, 0, CONTEXTS - 1)
    cid = c.int_at(2, None, 0, IDS - 1)
    host = c.str_at(3)
    port = c.int_at(4, None, 1, 65535)
    access = c.int_at(5, BUFFER, 0, 2)
    if access == TRANSPARENT:
        log.info("AT+QSSLOPEN: transparent access mode is not emulated")
        return ERROR
    if _taken(m, cid):
        raise CmeError(ERR_ID_USED)
    ctx = m.net.contexts.get(pdp)
    if ctx is None or not ctx.active:
        m.schedule(0.0, lambda: m.urc(f"+QSSLOPEN: {cid},{ERR_PDP}"))
        return None
    st = _st(m)
    tls = st.contexts[sslctx].settings(m)
    st.access[cid], st.sslctx[cid] = access, sslctx
    sock = m.tcp.open(
        cid,
        "TCP",
        host,
        port,
        ctx,
        on_up=lambda sock: m.urc(f"+QSSLOPEN: {sock.sid},0"),
        on_fail=lambda sock, why: _failed(m, sock, why),
        on_rx=lambda sock, data: _rx(m, sock, data),
        on_closed=lambda sock: _closed(m, sock),
        tls=tls,
    )
    sock.half_close = True  # as the TCP/IP stack's: the module's FIN at AT+QSSLCLOSE
    return None


def _open(m: VirtualModem, cid: int) -> Socket | None:
    sock = m.tcp.sockets.get(cid)
    return sock if sock is not None and sock.tls is not None else None


@QUECTEL_SSL.command("+QSSLSEND")
def qsslsend(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+QSSLSEND: (0-11),(1-{MAX_SEND})")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    cid = c.int_at(0, None, 0, IDS - 1)
    sock = _open(m, cid)
    if sock is None or not sock.ready:
        return ERROR
    return send_prompt(m, cid, sock, c.int_at(1, 0, 1, MAX_SEND) if len(c.params()) > 1 else None)


@QUECTEL_SSL.command("+QSSLRECV")
def qsslrecv(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+QSSLRECV: (0-11),(1-{MAX_READ})")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    cid = c.int_at(0, None, 0, IDS - 1)
    sock = _open(m, cid) or _st(m).closing.get(cid)
    if sock is None:
        raise CmeError(3)
    answer_read(m, "+QSSLRECV", sock, c.int_at(1, None, 1, MAX_READ))
    return None


@QUECTEL_SSL.command("+QSSLCLOSE")
def qsslclose(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QSSLCLOSE: (0-11),(0-65535)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    cid = c.int_at(0, None, 0, IDS - 1)
    c.int_at(1, 10, 0, 65535)  # the time to wait for the close (the close is not waited for)
    st = _st(m)
    sock = _open(m, cid)
    if sock is not None:
        m.tcp.close(sock)
    closing = st.closing.pop(cid, None)
    if closing is not None:
        m.tcp.finish(closing)  # the module's FIN at last: the server's came before
    st.access.pop(cid, None)
    st.sslctx.pop(cid, None)
    return OK


@QUECTEL_SSL.command("+QSSLSTATE")
def qsslstate(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    which = c.int_at(0, None, 0, IDS - 1) if c.op is Op.SET else None
    st = _st(m)
    socks = {cid: s for cid, s in m.tcp.sockets.items() if s.tls is not None} | st.closing
    for cid, sock in sorted(socks.items()):
        if which is not None and cid != which:
            continue
        state = 4 if st.closing.get(cid) is sock else 2 if sock.ready else 1
        m.info(
            f'+QSSLSTATE: {cid},"SSLClient","{sock.host}",{sock.port},0,{state},{sock.ctx.cid},0,'
            f'{st.access.get(cid, BUFFER)},"uart1",{st.sslctx.get(cid, 0)}'
        )
    return None
