"""An HTTP/1.1 client on a module's TCP/IP stack: what the modules' HTTP applications (SIMCom's
AT+HTTPACTION, Quectel's AT+QHTTPGET / AT+QHTTPPOST) do once their commands have said what to ask.

One exchange (`Exchange`) is one request on one TCP connection of `modem.virtual.sockets` (to the
Internet table's endpoint for the URL's host, the echo for a name the table sends there), on the
context given, billed as every connection of the stack is (`gateway.wire.TcpWire`): the handshake,
the request and the answer as they cross the air, the module's close once the answer is whole (by
its Content-Length, its last chunk, or the server's close).  Redirects are followed when asked (a
new connection each).  The outcome goes to `Exchange.on_done`: the server's status, or a `Failure`
the command set turns into its own code.

HTTPS: an exchange with `tls` settings runs on a TLS connection (`modem.virtual.tls`: real TLS, its
records billed as they cross the air); the URL's scheme only gives the default port (80, 443): which
of the two a module speaks is its command set's choice (SIMCom's AT+HTTPSSL, Quectel's scheme).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from modem.virtual.sockets import FAIL_DNS, FAIL_TLS, Socket
from modem.virtual.tls import TlsSettings

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem
    from modem.virtual.netlink import Context

log = logging.getLogger(__name__)

HTTP_SID = 100  # the HTTP connection's number among the stack's sockets (clear of the stacks' own)
METHODS = ("GET", "POST", "HEAD")
GET, POST, HEAD = 0, 1, 2
MAX_HEAD = 16384  # an answer's header block longer than this is not HTTP
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class Failure(enum.Enum):
    """Why an exchange has no answer."""

    DNS = "a name the Internet table does not know"
    CONNECT = "the connection was refused or the server is unreachable"
    CLOSED = "the connection ended before the answer was whole"
    TIMEOUT = "no whole answer in time"
    NOT_HTTP = "the answer is not HTTP"
    MEMORY = "the body is longer than the module keeps"
    URL = "not an http:// or https:// URL"
    TLS = "the TLS handshake failed"
    TLS_ALERT = "the server's fatal TLS alert ended the connection"


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


def _ignore_done(ex: Exchange, outcome: int | Failure) -> None:
    return None


@dataclass(slots=True, eq=False)
class Exchange:
    """One request and its answer.  `headers`: lines after Host (User-Agent, Content-Type...);
    `body` goes with a POST (its Content-Length added)."""

    verb: int  # GET, POST, HEAD (a redirected POST is followed with a GET)
    url: str
    ctx: Context
    headers: list[str] = field(default_factory=list)
    body: bytes = b""
    redirect: bool = False
    timeout: float = 120.0
    max_body: int = 1 << 20
    on_done: Callable[[Exchange, int | Failure], None] = _ignore_done
    tls: TlsSettings | None = None  # HTTPS: the module's TLS client
    sock: Socket | None = None
    answer: Answer = field(default_factory=Answer)
    timer: Timer | None = None
    redirects: int = 0
    live: bool = False


def is_https(url: str) -> bool:
    return url.lower().startswith("https://")


def target(url: str) -> tuple[str, int, str]:
    """Host, port and request target of an http:// or https:// URL (the scheme may be left out:
    http); ValueError else."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r}: only http:// and https:// URLs are served")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)  # ValueError out of range
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path


def start(m: VirtualModem, ex: Exchange) -> None:
    """Send `ex`'s request; its outcome comes to `ex.on_done` (a bad URL: at once)."""
    ex.live = True
    ex.timer = m.schedule(ex.timeout, lambda: finish(m, ex, Failure.TIMEOUT))
    _connect(m, ex)


def cancel(m: VirtualModem, ex: Exchange) -> None:
    """Abandon `ex` (its connection closed, nothing said)."""
    _stop(m, ex)


def _stop(m: VirtualModem, ex: Exchange) -> bool:
    if not ex.live:
        return False
    ex.live = False
    if ex.timer is not None:
        ex.timer.cancel()
    if ex.sock is not None and m.tcp.sockets.get(HTTP_SID) is ex.sock:
        m.tcp.close(ex.sock)
    ex.sock = None
    return True


def finish(m: VirtualModem, ex: Exchange, outcome: int | Failure) -> None:
    if _stop(m, ex):
        if isinstance(outcome, Failure):
            log.info("HTTP %s %s: %s", METHODS[ex.verb], ex.url, outcome.value)
        ex.on_done(ex, outcome)


def _request(ex: Exchange, host: str, port: int, path: str) -> bytes:
    default = 443 if ex.tls is not None else 80
    lines = [
        f"{METHODS[ex.verb]} {path} HTTP/1.1",
        f"Host: {host}" if port == default else f"Host: {host}:{port}",
    ]
    lines += ex.headers
    body = ex.body if ex.verb == POST else b""
    if ex.verb == POST:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _connect(m: VirtualModem, ex: Exchange) -> None:
    try:
        host, port, path = target(ex.url)
    except ValueError:
        m.schedule(0.0, lambda: finish(m, ex, Failure.URL))
        return
    request = _request(ex, host, port, path)
    ex.answer = Answer()

    def up(sock: Socket) -> None:
        if ex.live:
            m.tcp.send(sock, request)

    def fail(sock: Socket, why: str) -> None:
        if why == FAIL_TLS:
            finish(m, ex, Failure.TLS_ALERT if sock.tls is not None and sock.tls.alert else Failure.TLS)
            return
        finish(m, ex, Failure.DNS if why == FAIL_DNS else Failure.CONNECT)

    def closed(sock: Socket) -> None:
        if not ex.live or ex.sock is not sock:
            return
        ex.sock = None
        if m.tcp.losing and not m.tcp.by_network:  # the module's own reset: nothing to say
            _stop(m, ex)
            return
        ans = ex.answer
        if sock.tls is not None and sock.tls.failed:  # a broken record, the server's fatal alert
            finish(m, ex, Failure.TLS_ALERT if sock.tls.alert else Failure.TLS)
        elif ans.status is None:
            finish(m, ex, Failure.NOT_HTTP if ans.raw else Failure.CLOSED)
        elif ans.length is None and not ans.chunked and not m.tcp.losing:
            _answered(m, ex)  # the body runs up to the close
        else:
            finish(m, ex, Failure.CLOSED)  # cut short

    def dropped(sock: Socket) -> None:
        """The module ended the context under it (AT+SAPBR=0, AT+QIDEACT): said after that command's OK."""
        m.schedule(0.0, lambda: finish(m, ex, Failure.CLOSED))

    ex.sock = m.tcp.open(
        HTTP_SID,
        "TCP",
        host,
        port,
        ex.ctx,
        on_up=up,
        on_fail=fail,
        on_rx=lambda sock, data: _received(m, ex, data),
        on_closed=closed,
        tls=ex.tls,
    )
    ex.sock.on_dropped = dropped


def _received(m: VirtualModem, ex: Exchange, data: bytes) -> None:
    if not ex.live:
        return
    if not ex.ctx.active:  # the context ended under it (AT+CGACT=0)
        finish(m, ex, Failure.CLOSED)
        return
    ans = ex.answer
    try:
        _parse(ans, data, head_only=ex.verb == HEAD)
    except ValueError as exc:
        log.info("HTTP %s: %s", ex.url, exc)
        finish(m, ex, Failure.NOT_HTTP)
        return
    if len(ans.body) > ex.max_body:
        finish(m, ex, Failure.MEMORY)
        return
    if ans.done:
        _answered(m, ex)


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


def _answered(m: VirtualModem, ex: Exchange) -> None:
    """The answer is whole: a redirect followed, or the outcome told."""
    ans = ex.answer
    if ex.sock is not None and m.tcp.sockets.get(HTTP_SID) is ex.sock:
        m.tcp.close(ex.sock)
    ex.sock = None
    assert ans.status is not None
    follow = ex.redirect and ans.status in REDIRECTS and ans.location
    if follow and ex.redirects < MAX_REDIRECTS:  # past that many, the last 3xx is the answer
        ex.redirects += 1
        ex.url = urljoin(ex.url if "://" in ex.url else "http://" + ex.url, ans.location)
        if ans.status == 303 or (ans.status in (301, 302) and ex.verb == POST):
            ex.verb = GET  # the POST becomes a GET, as browsers do
        _connect(m, ex)
        return
    finish(m, ex, ans.status)
