"""SIMCom's HTTP application on the SAPBR bearer (SIM800 Series AT Command Manual V1.09 §9.2.2).

As device firmware drives it (the manual's HTTP examples, SIM800 HTTP Application Note):

- AT+HTTPINIT starts the service (ERROR when it runs already, or when no bearer profile is open:
  AT+SAPBR=1,<cid> comes first), AT+HTTPTERM stops it (an action under way is abandoned);
- AT+HTTPPARA="<tag>","<value>": "CID" (the bearer profile, 1-3, default 1), "URL"
  (`http://host[:port]/path`, the scheme may be left out), "UA" (default `SIMCOM_MODULE`),
  "CONTENT" (the POST's Content-Type), "USERDATA" (header lines of its own, `\\r\\n` between
  them), "REDIR" (1: 301 / 302 / 303 / 307 / 308 followed, at most 5 times),
  "TIMEOUT" (30-1000 s, default 120), "BREAK" / "BREAKEND" (a `Range: bytes=` request), "PROIP"
  / "PROPORT" (kept and shown, the proxy is not used); another tag is ERROR;
- AT+HTTPDATA=<size>,<time> answers `DOWNLOAD`, takes exactly <size> bytes (the POST's body),
  then OK;
- AT+HTTPACTION=<0|1|2> (GET, POST, HEAD) answers OK, then, once the exchange is over,
  `+HTTPACTION: <method>,<status>,<datalen>`: the server's status and the length of the body it
  sent, or the manual's own codes: 600 not an HTTP answer, 601 network error (the server cannot
  be reached, the connection ended before the answer was whole, no whole answer within TIMEOUT),
  602 no memory (a body longer than the module's 319,488 bytes: the connection is closed),
  603 DNS error (a name the Internet table does not know), 604 stack busy (an action under way),
  605 / 606 (TLS, below);
- AT+HTTPREAD[=<start>,<size>] answers `+HTTPREAD: <n>`, the n bytes, OK; AT+HTTPHEAD the
  answer's header lines the same way; AT+HTTPSTATUS? `+HTTPSTATUS: <method>,<status>,<finish>,
  <remain>` (0 idle, 1 receiving; the bytes of the body received and still to come);
- AT+HTTPSSL=<0|1> (SIM800 Series SSL Application Note §2.2; `?` shows it): 1, the actions run
  over TLS (`modem.virtual.tls` with `cmd_simcom.SIMCOM_TLS`, the stack's: real TLS 1.2, its
  records billed as they cross the air; the server's certificate is not checked: AT+SSLSETCERT is
  not emulated); the URL's scheme gives only
  the default port (https: 443), AT+HTTPSSL decides whether TLS is spoken.  The application note's
  +HTTPACTION codes: 605 the TLS channel could not be set up (the handshake failed: no common
  version or suite, a broken record, the server closing), 606 the server's fatal alert ended the
  connection.

Errors: `ERROR`, `+CME ERROR: 3` with +CMEE=1 (operation not allowed): a command before
AT+HTTPINIT, AT+HTTPACTION with the CID's bearer closed, AT+HTTPREAD / AT+HTTPHEAD with no answer
to read.

The request is one exchange of `modem.virtual.httpclient` (a TCP connection of the module's stack
on the bearer's PDP context, billed as the TCP stacks' connections are).  A reset closes
it and ends the service; the bearer closed under an action (AT+SAPBR=0) ends the action with 601.
Not emulated: AT+HTTPDATA's <time> (the module waits for the bytes), AT+HTTPSCONT (saving the
parameters), AT+HTTPPARA? and the proxy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual import httpclient
from modem.virtual.cmd_sapbr import CIDS, bearer_connected
from modem.virtual.cmd_simcom import SIMCOM_TLS
from modem.virtual.httpclient import HTTP_SID, METHODS, POST, Exchange, Failure
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

__all__ = ["HTTP_SID", "SIMCOM_HTTP"]

log = logging.getLogger(__name__)

NOT_ALLOWED = 3  # CME 3, ERROR with +CMEE=0
NOT_HTTP, NETWORK_ERROR, NO_MEMORY, DNS_ERROR, BUSY = 600, 601, 602, 603, 604
SSL_FAILED, SSL_ALERT = 605, 606  # SIM800 Series SSL Application Note §2.2
CODES = {
    Failure.TLS: SSL_FAILED,
    Failure.TLS_ALERT: SSL_ALERT,
    Failure.DNS: DNS_ERROR,
    Failure.CONNECT: NETWORK_ERROR,
    Failure.CLOSED: NETWORK_ERROR,
    Failure.TIMEOUT: NETWORK_ERROR,
    Failure.NOT_HTTP: NOT_HTTP,
    Failure.MEMORY: NO_MEMORY,
    Failure.URL: NETWORK_ERROR,
}
MAX_DATA = 319488  # AT+HTTPDATA <size>: 1-319488 bytes; the most of an answer's body kept

DEFAULTS = {
    "CID": "1",
    "URL": "",
    "UA": "SIMCOM_MODULE",
    "PROIP": "0.0.0.0",
    "PROPORT": "0",
    "REDIR": "0",
    "BREAK": "0",
    "BREAKEND": "0",
    "TIMEOUT": "120",
    "CONTENT": "",
    "USERDATA": "",
}


@dataclass(slots=True)
class HttpState:
    """The HTTP service of one modem."""

    started: bool = False
    params: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    data: bytes = b""  # AT+HTTPDATA's bytes: the next POST's body
    action: Exchange | None = None
    method: int = 0  # the running or last action's, as AT+HTTPACTION gave it
    status: int = 0
    head: bytes = b""
    body: bytes = b""
    read: bool = False  # an answer is there to read (AT+HTTPREAD / AT+HTTPHEAD)
    ssl: bool = False  # AT+HTTPSSL=1: the actions run over TLS


def _on_reset(m: VirtualModem) -> None:
    """A reset: the connection is gone with the module's sockets, the service stops."""
    action = SIMCOM_HTTP.state(m).action
    if action is not None:
        httpclient.cancel(m, action)


SIMCOM_HTTP = StatefulSet("simcom-http", HttpState, _on_reset)
_http = SIMCOM_HTTP.state


def _started(m: VirtualModem) -> HttpState:
    st = _http(m)
    if not st.started:
        raise CmeError(NOT_ALLOWED)
    return st


@SIMCOM_HTTP.command("+HTTPINIT", sim=True)
def httpinit(m: VirtualModem, c: Cmd) -> Final | None:
    st = _http(m)
    if c.op is Op.TEST:
        return None
    if st.started or not any(bearer_connected(m, cid) for cid in CIDS):
        raise CmeError(NOT_ALLOWED)
    st.started = True
    return None


@SIMCOM_HTTP.command("+HTTPTERM")
def httpterm(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    _started(m)
    _abandon(m)
    SIMCOM_HTTP.reset(m)
    return None


def _abandon(m: VirtualModem) -> None:
    st = _http(m)
    act, st.action = st.action, None
    if act is not None:
        httpclient.cancel(m, act)


def _check(tag: str, value: str) -> str:
    if tag not in DEFAULTS:
        raise CmeError(NOT_ALLOWED)
    ranges = {"CID": (1, 3), "REDIR": (0, 1), "TIMEOUT": (30, 1000), "PROPORT": (0, 65535)}
    if tag in ranges or tag in ("BREAK", "BREAKEND"):
        lo, hi = ranges.get(tag, (0, 2**31 - 1))
        if not value.isdigit() or not lo <= int(value) <= hi:
            raise CmeError(NOT_ALLOWED)
        return str(int(value))
    return value


@SIMCOM_HTTP.command("+HTTPPARA")
def httppara(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info('+HTTPPARA: "HTTPParamTag","HTTPParmValue"')
        return None
    st = _started(m)
    if c.op is not Op.SET or len(c.params()) != 2:
        raise CmeError(NOT_ALLOWED)
    tag = c.str_at(0).upper()
    st.params[tag] = _check(tag, c.str_at(1))
    return None


@SIMCOM_HTTP.command("+HTTPDATA")
def httpdata(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+HTTPDATA: (1-{MAX_DATA}),(1000-120000)")
        return None
    st = _started(m)
    if c.op is not Op.SET or st.action is not None:
        raise CmeError(NOT_ALLOWED)
    size = c.int_at(0, None, 1, MAX_DATA)
    c.int_at(1, None, 1000, 120000)  # the time to wait for the bytes (not emulated: they are waited for)

    def done(data: bytes) -> Final | None:
        st.data = data
        return None

    return m.prompt(done, size, banner="DOWNLOAD")


@SIMCOM_HTTP.command("+HTTPSSL")
def httpssl(m: VirtualModem, c: Cmd) -> Final | None:
    st = _http(m)
    if c.op is Op.TEST:
        m.info("+HTTPSSL: (0,1)")
    elif c.op is Op.READ:
        m.info(f"+HTTPSSL: {int(st.ssl)}")
    elif c.op is Op.SET:
        st.ssl = c.int_at(0, None, 0, 1) == 1
    else:
        raise CmeError(NOT_ALLOWED)
    return None


def _headers(st: HttpState, post: bool) -> list[str]:
    p = st.params
    lines = [f"User-Agent: {p['UA']}"]
    if p["BREAK"] != "0" or p["BREAKEND"] != "0":
        end = p["BREAKEND"] if p["BREAKEND"] != "0" else ""
        lines.append(f"Range: bytes={p['BREAK']}-{end}")
    if post and p["CONTENT"]:
        lines.append(f"Content-Type: {p['CONTENT']}")
    if p["USERDATA"]:
        lines.extend(x for x in p["USERDATA"].replace("\\r\\n", "\r\n").split("\r\n") if x)
    return lines


@SIMCOM_HTTP.command("+HTTPACTION")
def httpaction(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+HTTPACTION: (0-2)")
        return None
    st = _started(m)
    if c.op is not Op.SET:
        raise CmeError(NOT_ALLOWED)
    method = c.int_at(0, None, 0, len(METHODS) - 1)
    cid = int(st.params["CID"])
    if not bearer_connected(m, cid):
        raise CmeError(NOT_ALLOWED)
    if st.action is not None:
        m.schedule(0.0, lambda: m.urc(f"+HTTPACTION: {method},{BUSY},0"))
        return None
    url = st.params["URL"]
    try:
        httpclient.target(url)
    except ValueError as exc:
        log.info("AT+HTTPACTION: %s", exc)
        raise CmeError(NOT_ALLOWED) from None
    act = Exchange(
        method,
        url,
        m.net.context(cid),
        headers=_headers(st, method == POST),
        body=st.data,
        redirect=st.params["REDIR"] == "1",
        timeout=float(st.params["TIMEOUT"]),
        max_body=MAX_DATA,
        on_done=lambda ex, outcome: _end(m, ex, outcome),
        tls=SIMCOM_TLS if st.ssl else None,
    )
    st.action, st.method, st.read = act, method, False
    httpclient.start(m, act)
    return None


def _end(m: VirtualModem, act: Exchange, outcome: int | Failure) -> None:
    st = _http(m)
    if st.action is not act:
        return
    st.action = None
    if isinstance(outcome, Failure):
        st.status, st.head, st.body, st.read = CODES[outcome], b"", b"", False
    else:
        st.status, st.head, st.body, st.read = outcome, act.answer.head, bytes(act.answer.body), True
    m.urc(f"+HTTPACTION: {st.method},{st.status},{len(st.body)}")


def _readable(m: VirtualModem) -> HttpState:
    """The service, with an answer to read (none while an action runs, nor after a failed one)."""
    st = _started(m)
    if not st.read or st.action is not None:
        raise CmeError(NOT_ALLOWED)
    return st


def _show(m: VirtualModem, name: str, data: bytes) -> None:
    m.info(f"{name}: {len(data)}")
    m.raw(data + b"\r\n")


@SIMCOM_HTTP.command("+HTTPREAD")
def httpread(m: VirtualModem, c: Cmd) -> Final | None:
    """`+HTTPREAD: <n>`, the body (from <start>, <size> bytes at most), OK."""
    if c.op is Op.TEST:
        return None
    body = _readable(m).body
    if c.op is Op.SET:
        start = c.int_at(0, None, 0, MAX_DATA)
        body = body[start : start + c.int_at(1, None, 1, MAX_DATA)]
    _show(m, "+HTTPREAD", body)
    return None


@SIMCOM_HTTP.command("+HTTPHEAD")
def httphead(m: VirtualModem, c: Cmd) -> Final | None:
    """`+HTTPHEAD: <n>`, the answer's status line and header lines, OK."""
    if c.op is not Op.TEST:
        _show(m, "+HTTPHEAD", _readable(m).head)
    return None


@SIMCOM_HTTP.command("+HTTPSTATUS")
def httpstatus(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+HTTPSTATUS: (GET,POST,HEAD),(0-2),(0-319488),(0-319488)")
        return None
    if c.op is not Op.READ:
        raise CmeError(NOT_ALLOWED)
    st = _started(m)
    act = st.action
    if act is None:
        m.info(f"+HTTPSTATUS: {METHODS[st.method]},0,0,0")
        return None
    got = len(act.answer.body)
    remain = max(0, act.answer.length - got) if act.answer.length is not None else 0
    m.info(f"+HTTPSTATUS: {METHODS[st.method]},1,{got},{remain}")
    return None
