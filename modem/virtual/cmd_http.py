"""SIMCom's HTTP application on the SAPBR bearer (SIM800 Series AT Command Manual V1.09 §9.2.2).

As device firmware drives it (the manual's HTTP examples, SIM800 HTTP Application Note):

- AT+HTTPINIT starts the service (ERROR when it runs already, or when no bearer profile is open:
  AT+SAPBR=1,<cid> comes first), AT+HTTPTERM stops it (an action under way is abandoned);
- AT+HTTPPARA="<tag>","<value>": "CID" (the bearer profile, 1-3, default 1), "URL"
  (`http://host[:port]/path`, the scheme may be left out), "UA" (default `SIMCOM_MODULE`),
  "CONTENT" (the POST's Content-Type), "USERDATA" (header lines of its own, `\\r\\n` between
  them), "REDIR" (1: 301 / 302 / 303 / 307 / 308 followed, at most `MAX_REDIRECTS` times),
  "TIMEOUT" (30-1000 s, default 120), "BREAK" / "BREAKEND" (a `Range: bytes=` request), "PROIP"
  / "PROPORT" (kept and shown, the proxy is not used); another tag is ERROR;
- AT+HTTPDATA=<size>,<time> answers `DOWNLOAD`, takes exactly <size> bytes (the POST's body),
  then OK;
- AT+HTTPACTION=<0|1|2> (GET, POST, HEAD) answers OK, then, once the exchange is over,
  `+HTTPACTION: <method>,<status>,<datalen>`: the server's status and the length of the body it
  sent, or the manual's own codes: 600 not an HTTP answer, 601 network error (the server cannot
  be reached, the connection ended before the answer was whole, no whole answer within TIMEOUT),
  602 no memory (a body longer than the module's 319,488 bytes: the connection is closed),
  603 DNS error (a name the Internet table does not know), 604 stack busy (an action under way);
- AT+HTTPREAD[=<start>,<size>] answers `+HTTPREAD: <n>`, the n bytes, OK; AT+HTTPHEAD the
  answer's header lines the same way; AT+HTTPSTATUS? `+HTTPSTATUS: <method>,<status>,<finish>,
  <remain>` (0 idle, 1 receiving; the bytes of the body received and still to come);
- AT+HTTPSSL=0 (and `?`, `=?`) is answered; AT+HTTPSSL=1 is ERROR, TLS not being emulated, and so
  is an `https://` URL.

Errors: `ERROR`, `+CME ERROR: 3` with +CMEE=1 (operation not allowed): a command before
AT+HTTPINIT, AT+HTTPACTION with the CID's bearer closed, AT+HTTPREAD / AT+HTTPHEAD with no answer
to read.

The request is one TCP connection of the module's stack (`modem.virtual.sockets`: to the host's
real server, or the echo the Internet table sends unknown names to) on the bearer's PDP context,
billed as the TCP stacks' connections are (`gateway.wire.TcpWire`): the request and the answer as
they cross the air, with their handshake and their close.  The module closes the connection once
the answer is whole (its Content-Length, its last chunk) or the server closes it.  A reset closes
it and ends the service; the bearer closed under an action (AT+SAPBR=0) ends the action with 601.
Not emulated: AT+HTTPDATA's <time> (the module waits for the bytes), AT+HTTPSCONT (saving the
parameters), AT+HTTPPARA? and the proxy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from modem.virtual.cmd_sapbr import CIDS, bearer_connected
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.sockets import FAIL_DNS, Socket
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

NOT_ALLOWED = 3  # CME 3, ERROR with +CMEE=0
HTTP_SID = 100  # the HTTP connection's number among the stack's sockets (clear of CIP's 0-5)
METHODS = ("GET", "POST", "HEAD")
NOT_HTTP, NETWORK_ERROR, NO_MEMORY, DNS_ERROR, BUSY = 600, 601, 602, 603, 604
MAX_DATA = 319488  # AT+HTTPDATA <size>: 1-319488 bytes; the most of an answer's body kept
MAX_HEAD = 16384  # an answer's header block longer than this is not HTTP
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
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
class Answer:
    """What the server sent, as it comes: the header block, then the body."""

    raw: bytearray = field(default_factory=bytearray)
    status: int | None = None  # None: the header block is not whole yet
    head: bytes = b""
    body: bytearray = field(default_factory=bytearray)
    length: int | None = None  # Content-Length (None: up to the close, or chunked)
    chunked: bool = False
    done: bool = False
    location: str = ""


@dataclass(slots=True)
class Action:
    """An AT+HTTPACTION under way."""

    method: int  # as AT+HTTPACTION gave it (the URC's)
    url: str
    verb: int = -1  # the method sent: a redirected POST is followed with a GET
    sock: Socket | None = None
    answer: Answer = field(default_factory=Answer)
    timer: Timer | None = None
    redirects: int = 0


@dataclass(slots=True)
class HttpState:
    """The HTTP service of one modem."""

    started: bool = False
    params: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    data: bytes = b""  # AT+HTTPDATA's bytes: the next POST's body
    action: Action | None = None
    method: int = 0  # the last action's
    status: int = 0
    head: bytes = b""
    body: bytes = b""
    read: bool = False  # an answer is there to read (AT+HTTPREAD / AT+HTTPHEAD)


def _on_reset(m: VirtualModem) -> None:
    """A reset: the connection is gone with the module's sockets, the service stops."""
    old = SIMCOM_HTTP.state(m)
    if old.action is not None and old.action.timer is not None:
        old.action.timer.cancel()


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
    if act is None:
        return
    if act.timer is not None:
        act.timer.cancel()
    if act.sock is not None and m.tcp.sockets.get(HTTP_SID) is act.sock:
        m.tcp.close(act.sock)


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
    if c.op is Op.TEST:
        m.info("+HTTPSSL: (0,1)")
    elif c.op is Op.READ:
        m.info("+HTTPSSL: 0")
    elif c.op is Op.SET and c.int_at(0, None, 0, 1) == 0:
        return None
    else:
        log.info("AT+HTTPSSL=1: TLS is not emulated")
        raise CmeError(NOT_ALLOWED)
    return None


def _target(url: str) -> tuple[str, int, str]:
    """Host, port and request target of a URL (http:// or none); CME 3 for anything else."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        log.info("AT+HTTPACTION: %r: only http:// URLs are served (TLS is not emulated)", url)
        raise CmeError(NOT_ALLOWED)
    try:
        port = parts.port or 80
    except ValueError:
        raise CmeError(NOT_ALLOWED) from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.hostname, port, target


def _request(st: HttpState, act: Action, host: str, port: int, target: str) -> bytes:
    p = st.params
    lines = [
        f"{METHODS[act.verb]} {target} HTTP/1.1",
        f"Host: {host}" if port == 80 else f"Host: {host}:{port}",
        f"User-Agent: {p['UA']}",
    ]
    if p["BREAK"] != "0" or p["BREAKEND"] != "0":
        end = p["BREAKEND"] if p["BREAKEND"] != "0" else ""
        lines.append(f"Range: bytes={p['BREAK']}-{end}")
    body = st.data if act.verb == 1 else b""
    if act.verb == 1:
        if p["CONTENT"]:
            lines.append(f"Content-Type: {p['CONTENT']}")
        lines.append(f"Content-Length: {len(body)}")
    if p["USERDATA"]:
        lines.extend(x for x in p["USERDATA"].replace("\\r\\n", "\r\n").split("\r\n") if x)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


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
    host, port, target = _target(url)
    act = Action(method, url, verb=method)
    st.action = act
    st.read = False
    act.timer = m.schedule(float(st.params["TIMEOUT"]), lambda: _end(m, act, NETWORK_ERROR))
    _connect(m, act, host, port, target)
    return None


def _connect(m: VirtualModem, act: Action, host: str, port: int, target: str) -> None:
    st = _http(m)
    ctx = m.net.context(int(st.params["CID"]))
    request = _request(st, act, host, port, target)
    act.answer = Answer()

    def up(sock: Socket) -> None:
        if st.action is act:
            m.tcp.send(sock, request)

    def fail(sock: Socket, why: str) -> None:
        _end(m, act, DNS_ERROR if why == FAIL_DNS else NETWORK_ERROR)

    def closed(sock: Socket) -> None:
        if st.action is not act or act.sock is not sock:
            return
        act.sock = None
        if m.tcp.losing and not m.tcp.by_network:  # the module's own reset: the service ends with it
            return
        ans = act.answer
        if ans.status is None:
            _end(m, act, NOT_HTTP if ans.raw else NETWORK_ERROR)
        elif ans.length is None and not ans.chunked and not m.tcp.losing:
            _answered(m, act)  # the body runs up to the close
        else:
            _end(m, act, NETWORK_ERROR)  # cut short

    act.sock = m.tcp.open(
        HTTP_SID,
        "TCP",
        host,
        port,
        ctx,
        on_up=up,
        on_fail=fail,
        on_rx=lambda sock, data: _received(m, act, data),
        on_closed=closed,
    )

    def dropped(sock: Socket) -> None:
        """The bearer closed under it (AT+SAPBR=0): said after that command's OK."""
        m.schedule(0.0, lambda: _end(m, act, NETWORK_ERROR))

    act.sock.on_dropped = dropped


def _received(m: VirtualModem, act: Action, data: bytes) -> None:
    if _http(m).action is not act:
        return
    if act.sock is not None and not act.sock.ctx.active:  # the context ended under it (AT+CGACT=0)
        _end(m, act, NETWORK_ERROR)
        return
    ans = act.answer
    try:
        _parse(ans, data, head_only=act.verb == 2)
    except ValueError as exc:
        log.info("AT+HTTPACTION: %s: not an HTTP answer (%s)", act.url, exc)
        _end(m, act, NOT_HTTP)
        return
    if len(ans.body) > MAX_DATA:
        log.info("AT+HTTPACTION: %s: a body of more than %d bytes", act.url, MAX_DATA)
        _end(m, act, NO_MEMORY)
        return
    if ans.done:
        _answered(m, act)


def _parse(ans: Answer, data: bytes, head_only: bool) -> None:
    """Take `data` into `ans`; ValueError when it is not HTTP."""
    if ans.status is None:
        ans.raw += data
        if not ans.raw.startswith(b"HTTP/"[: len(ans.raw)]):
            raise ValueError("no HTTP status line")
        end = ans.raw.find(b"\r\n\r\n")
        if end < 0:
            if len(ans.raw) > MAX_HEAD:
                raise ValueError("header block too long")
            return
        head, rest = bytes(ans.raw[:end]), bytes(ans.raw[end + 4 :])
        lines = head.decode("latin-1").split("\r\n")
        fields = lines[0].split(" ", 2)
        if len(fields) < 2 or not fields[1].isdigit() or len(fields[1]) != 3:
            raise ValueError(f"status line {lines[0]!r}")
        ans.status = int(fields[1])
        ans.head = head + b"\r\n"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and value.isdigit():
                ans.length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                ans.chunked = True
            elif name == "location":
                ans.location = value
        if head_only or ans.status in (204, 304) or 100 <= ans.status < 200:
            ans.length, ans.chunked = 0, False
        ans.raw = bytearray()
        data = rest
    ans.raw += data
    if ans.chunked:
        _dechunk(ans)
    else:
        ans.body += ans.raw
        ans.raw.clear()
        if ans.length is not None and len(ans.body) >= ans.length:
            del ans.body[ans.length :]
            ans.done = True


def _dechunk(ans: Answer) -> None:
    raw = ans.raw
    while True:
        eol = raw.find(b"\r\n")
        if eol < 0:
            return
        size_text = bytes(raw[:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError(f"chunk size {size_text!r}") from None
        if size == 0:
            ans.done = True  # trailers, if any, are not read
            raw.clear()
            return
        if len(raw) < eol + 2 + size + 2:
            return
        ans.body += raw[eol + 2 : eol + 2 + size]
        del raw[: eol + 2 + size + 2]


def _answered(m: VirtualModem, act: Action) -> None:
    """The answer is whole: the connection closed, a redirect followed, or the URC said."""
    st = _http(m)
    ans = act.answer
    if act.sock is not None and m.tcp.sockets.get(HTTP_SID) is act.sock:
        m.tcp.close(act.sock)
    act.sock = None
    assert ans.status is not None
    follow = st.params["REDIR"] == "1" and ans.status in REDIRECTS and ans.location
    if follow and act.redirects < MAX_REDIRECTS:  # past that many, the last 3xx is the answer
        act.redirects += 1
        act.url = urljoin(act.url if "://" in act.url else "http://" + act.url, ans.location)
        if ans.status == 303 or (ans.status in (301, 302) and act.verb == 1):
            act.verb = 0  # the POST becomes a GET, as browsers do
        try:
            host, port, target = _target(act.url)
        except CmeError:
            _end(m, act, NETWORK_ERROR)
            return
        _connect(m, act, host, port, target)
        return
    st.head, st.body = ans.head, bytes(ans.body)
    _end(m, act, ans.status)


def _end(m: VirtualModem, act: Action, status: int) -> None:
    st = _http(m)
    if st.action is not act:
        return
    st.action = None
    if act.timer is not None:
        act.timer.cancel()
    if act.sock is not None and m.tcp.sockets.get(HTTP_SID) is act.sock:
        m.tcp.close(act.sock)
    act.sock = None
    st.method, st.status = act.method, status
    if status >= NOT_HTTP:
        st.head, st.body = b"", b""
    st.read = status < NOT_HTTP
    m.urc(f"+HTTPACTION: {act.method},{status},{len(st.body)}")


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
    m.info(f"+HTTPSTATUS: {METHODS[act.method]},1,{got},{remain}")
    return None
