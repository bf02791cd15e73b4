"""Quectel's HTTP application (BG96 / EC2x HTTP(S) AT Commands Manual): AT+QHTTPCFG, AT+QHTTPURL,
AT+QHTTPGET, AT+QHTTPPOST, AT+QHTTPREAD.

As the manual's examples drive it:

- AT+QHTTPCFG="contextid",<1-16> (the PDP context AT+QIACT brought up, default 1),
  "responseheader",<0|1> (1: AT+QHTTPREAD gives the answer's header lines before its body),
  "contenttype",<0-3> (the POST's: application/x-www-form-urlencoded, text/plain,
  application/octet-stream, multipart/form-data), "requestheader",0 (1, the DTE writing the whole
  request, is not emulated: ERROR), "sslctxid" (0-5, default 1: the SSL context, AT+QSSLCFG of
  `modem.virtual.cmd_qssl`, an `https://` URL's request runs with: real TLS, its records billed as
  they cross the air); `AT+QHTTPCFG="<name>"` shows one;
- AT+QHTTPURL=<length>[,<timeout>] answers `CONNECT`, takes exactly <length> bytes (the URL), OK;
- AT+QHTTPGET[=<rsptime>] answers OK, then `+QHTTPGET: 0,<status>[,<content_length>]` (the length
  when the server gave one), or `+QHTTPGET: <err>`;
- AT+QHTTPPOST=<length>[,<input_time>,<rsptime>] answers `CONNECT`, takes the body, OK, then
  `+QHTTPPOST: 0,<status>[,<content_length>]` or `+QHTTPPOST: <err>`;
- AT+QHTTPREAD[=<wait_time>] answers `CONNECT`, the body, OK, then `+QHTTPREAD: 0`.

<err>, the manual's list: 702 timeout (no whole answer within <rsptime>, default 60 s), 703 busy
(a request under way: `+CME ERROR: 703`), 705 no GET/POST answer to read (`+CME ERROR: 705`), 709
network deactivated (the context is not active), 711 URL error (neither `http://` nor
`https://`), 712 empty URL (`+CME ERROR: 712`), 714 DNS error, 716 socket connect error, 719
socket closed (before the answer was whole), 723 response failed (not HTTP), 729 out of memory
(a body past `MAX_BODY`), and 701 HTTP(S) unknown error for a TLS handshake that failed (the
code a BG96 gives then, as its users report it: the manual has no TLS code of its own).  The
request is an exchange of `modem.virtual.httpclient` on the context, billed as the TCP/IP stack's
connections are.  A reset forgets the URL and the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual import cmd_qssl, httpclient
from modem.virtual.httpclient import GET, POST, Exchange, Failure
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

BUSY, NO_REQUEST, DEACTIVATED, URL_ERROR, EMPTY_URL = 703, 705, 709, 711, 712
HTTPS_ERROR = 701  # HTTP(S) unknown error: what a BG96 answers when its TLS handshake fails
CODES = {
    Failure.DNS: 714,
    Failure.CONNECT: 716,
    Failure.CLOSED: 719,
    Failure.TIMEOUT: 702,
    Failure.NOT_HTTP: 723,
    Failure.MEMORY: 729,
    Failure.URL: URL_ERROR,
    Failure.TLS: HTTPS_ERROR,
    Failure.TLS_ALERT: HTTPS_ERROR,
}
MAX_URL = 700  # AT+QHTTPURL <length>: 1-700 bytes
MAX_POST = 1024000  # AT+QHTTPPOST <length>
MAX_BODY = 1 << 20  # the most of an answer the module keeps
CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data",
)
CFG = {
    "contextid": (1, 16, 1),
    "requestheader": (0, 0, 0),
    "responseheader": (0, 1, 0),
    "contenttype": (0, 3, 0),
}


@dataclass(slots=True)
class QhttpState:
    cfg: dict[str, int] = field(default_factory=lambda: {k: v[2] for k, v in CFG.items()} | {"sslctxid": 1})
    url: str = ""
    request: Exchange | None = None
    answer: tuple[bytes, bytes] | None = None  # the last answer's header block and body, until read


def _on_reset(m: VirtualModem) -> None:
    request = QUECTEL_HTTP.state(m).request
    if request is not None:
        httpclient.cancel(m, request)


QUECTEL_HTTP = StatefulSet("quectel-http", QhttpState, _on_reset)
_st = QUECTEL_HTTP.state


@QUECTEL_HTTP.command("+QHTTPCFG")
def qhttpcfg(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.TEST:
        m.info('+QHTTPCFG: "contextid",(1-16)')
        m.info('+QHTTPCFG: "requestheader",(0)')
        m.info('+QHTTPCFG: "responseheader",(0,1)')
        m.info('+QHTTPCFG: "sslctxid",(0-5)')
        m.info('+QHTTPCFG: "contenttype",(0-3)')
        return None
    if c.op is not Op.SET:
        raise CmeError(4)
    name = c.str_at(0).lower()
    if name not in st.cfg:
        raise CmeError(4)
    if len(c.params()) == 1:
        m.info(f'+QHTTPCFG: "{name}",{st.cfg[name]}')
        return None
    lo, hi, _ = CFG.get(name, (0, 5, 1))
    st.cfg[name] = c.int_at(1, None, lo, hi)
    return None


@QUECTEL_HTTP.command("+QHTTPURL")
def qhttpurl(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.TEST:
        m.info(f"+QHTTPURL: (1-{MAX_URL}),(1-65535)")
        return None
    if c.op is Op.READ:
        if st.url:
            m.info(f"+QHTTPURL: {st.url}")
        return None
    if st.request is not None:
        raise CmeError(BUSY)
    length = c.int_at(0, None, 1, MAX_URL)
    c.int_at(1, 60, 1, 65535)  # the time to type it (not emulated: it is waited for)

    def done(data: bytes) -> Final | None:
        st.url = data.decode("latin-1").strip()
        return None

    return m.prompt(done, length, banner="CONNECT")


def _request(m: VirtualModem, verb: int, body: bytes, rsptime: int) -> None:
    """Start the GET or POST; its URC comes when it ends."""
    st = _st(m)
    name = "+QHTTPGET" if verb == GET else "+QHTTPPOST"
    ctx = m.net.context(st.cfg["contextid"])
    if not ctx.active:
        m.schedule(0.0, lambda: m.urc(f"{name}: {DEACTIVATED}"))
        return
    headers = ["User-Agent: QUECTEL_MODULE", "Accept: */*"]
    if verb == POST:
        headers.append(f"Content-Type: {CONTENT_TYPES[st.cfg['contenttype']]}")

    def ended(ex: Exchange, outcome: int | Failure) -> None:
        st.request = None
        if isinstance(outcome, Failure):
            st.answer = None
            m.urc(f"{name}: {CODES[outcome]}")
            return
        ans = ex.answer
        st.answer = (ans.head, bytes(ans.body))
        m.urc(f"{name}: 0,{outcome}" + (f",{ans.length}" if ans.length is not None else ""))

    tls = cmd_qssl.settings(m, st.cfg["sslctxid"]) if httpclient.is_https(st.url) else None
    ex = Exchange(
        verb, st.url, ctx, headers, body, timeout=float(rsptime), max_body=MAX_BODY, on_done=ended, tls=tls
    )
    st.request, st.answer = ex, None
    httpclient.start(m, ex)


def _ready(m: VirtualModem) -> QhttpState:
    st = _st(m)
    if st.request is not None:
        raise CmeError(BUSY)
    if not st.url:
        raise CmeError(EMPTY_URL)
    return st


@QUECTEL_HTTP.command("+QHTTPGET")
def qhttpget(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QHTTPGET: (1-65535)")
        return None
    _ready(m)
    rsptime = c.int_at(0, 60, 1, 65535) if c.op is Op.SET else 60
    _request(m, GET, b"", rsptime)
    return None


@QUECTEL_HTTP.command("+QHTTPPOST")
def qhttppost(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+QHTTPPOST: (1-{MAX_POST}),(1-65535),(1-65535)")
        return None
    if c.op is not Op.SET:
        raise CmeError(4)
    _ready(m)
    length = c.int_at(0, None, 1, MAX_POST)
    c.int_at(1, 60, 1, 65535)  # the time to type the body (not emulated: it is waited for)
    rsptime = c.int_at(2, 60, 1, 65535)

    def done(data: bytes) -> Final | None:
        _request(m, POST, data, rsptime)
        return None

    return m.prompt(done, length, banner="CONNECT")


@QUECTEL_HTTP.command("+QHTTPREAD")
def qhttpread(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+QHTTPREAD: (1-65535)")
        return None
    st = _st(m)
    if st.request is not None:
        raise CmeError(BUSY)
    if st.answer is None:
        raise CmeError(NO_REQUEST)
    head, body = st.answer
    st.answer = None  # read once
    m.info("CONNECT")
    m.raw((head + b"\r\n" if st.cfg["responseheader"] else b"") + body + b"\r\n")
    m.schedule(0.0, lambda: m.urc("+QHTTPREAD: 0"))
    return None
