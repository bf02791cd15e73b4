"""Sockets of the modules' own TCP/IP stacks: to the built-in echo server or to real endpoints on the host.

Where a socket goes is the network's decision (`gateway.internet.Internet.route`, the modem's
`internet` table): the built-in echo (`ECHO`), a real endpoint on this machine (`CONNECT`), a
destination the policy refuses (`REFUSED`: the module's connect failure) or a name the table does
not know (`UNRESOLVED`: the module's DNS failure).

Real endpoints need real sockets, which the sans-IO modem does not own: `TcpSockets.io` (a
`SocketIO`) opens them when the modem is served on an event loop (`modem.virtual.netio.LoopSockets`,
installed by `transport.ModemRunner`); without one (a modem driven by hand in tests) a real
destination fails as unreachable.  The I/O calls back `connected`, `failed`, `received` and
`remote_closed` with the modem's clock already at the moment the event happened.

Two clocks meet here.  The modem lives in simulated time (`clock.LoopClock`: loop time times
`speed`); a real server lives in real time.  A real event is stamped with the simulated time at
which it happens on the loop, so at `speed=1` the two agree; at `speed=10` a server that answers in
100 ms answers in one simulated second.  The radio link between the module and the gateway is the
modem's `link` (`modem.virtual.conditions`, the network conditions of its RAT), in simulated time:

- a connection is up when both the real connect has completed and the handshake (SYN and ACK
  up, SYN-ACK down) has crossed the link; the echo's and the refusals' answers cross it the same
  way (a refusal: the SYN up, the network's reset down; an unknown name: one exchange of the same
  size);
- what the module sends leaves for the server when its IP bytes have crossed the uplink
  (`link.up.send`); what the server sends is counted by the gateway when it arrives from the
  server and reaches the module when it has crossed the downlink (`link.down.send`); on a link
  with a rate a TCP message of either end crosses segment by segment (`_cross`); datagrams use
  `send_datagram` and may be lost on the air (an uplink loss never reaches the gateway);
- with conditions "full" nothing waits: bytes go through as they come (the throughput figure).

While more than `WINDOW` bytes of a connection wait for the downlink or lie unread in the module's
buffer (`Socket.rx`: Quectel's buffer access mode, SIMCom's manual receive), the real socket is not
read (the module's TCP receive window): a fast server meets the radio's and the host's pace, not
unbounded memory.  It is read again at half a window (`consumed`, after AT+QIRD / AT+CIPRXGET).

Ends.  The remote end's FIN is counted when it reaches the gateway and told to the module once the
data before it has crossed the downlink (`remote_closed`), and never before the connection is up.
The module's close lets what it sent and is still on the uplink arrive (counted, written to the
server) before its FIN (`close`; the socket's number is free at once; the FIN rides on that last
segment), a UDP socket's datagrams likewise; `close_context` and `lost` drop that data.  A real
endpoint's refusal costs the SYN and the reset, as the policy's does; no answer, the SYN and its
retransmissions until the module gives up (`gateway.wire.unanswered`).

Servers on the module (`listen`, SIMCom AT+CIPSERVER, Quectel "TCP LISTENER"): a `Listener` on a
device port.  The host's programs reach it on the loopback port the Internet table's `inbound`
section maps that port to, only when the device is on a private APN
(`gateway.internet.Internet.inbound_route`); the I/O serves that port (`SocketIO.listen`) and
reports each connection through `accept`, which gives it a connection number of the stack
(`Listener.take_id`) or refuses it when all are taken.  An accepted connection is a `Socket` like
any other (its `host` and `port` the client's), counted the same way but for its handshake, which
comes from the network: SYN and ACK down, SYN-ACK up.

Every byte goes through the gateway (`netlink.NetLink.count`).  A TCP connection's bytes are its
`Socket.wire`'s (`gateway.wire.TcpWire`, the model the simulator bills with too): what the module
sends is billed as it leaves the module (an ACK it owes rides on it) and counted when it reaches the
gateway; what the server sends, when it reaches the gateway, the module's delayed ACK running from
when it reaches the module; an ACK still owed when its delay runs out goes alone (a timer of the
socket), and one that falls due before the other end's next data arrives is counted at its time
(`_ack_alone`), for either end.  UDP: 28 B of IPv4+UDP header per datagram each way, no handshake; a datagram to a refused
destination is counted up and dropped (UDP has no connect to fail), the network's ICMP "destination
unreachable" counted down, as is one a real endpoint's host sends back: the size Linux sends, its
headers and as much of the datagram as fits in 576 B (`gateway.wire.icmp_error_size`; a 90 B
datagram's: 118 B).  A real connect the network answers "unreachable" (no route to the host) costs
its SYN and that ICMP message quoting it (`gateway.wire.unreachable`: 52 B up, 80 B down).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from gateway.api import (
    DEST_UNREACH,
    DEVICE,
    GATEWAY,
    HEADER,
    HOST_UNREACH,
    MSS,
    SERVER,
    SYN,
    SYN_RETRIES,
    UDP_HEADER,
    Route,
    RouteKind,
    TcpWire,
    icmp_error_size,
    rides,
    segments,
    syn_time,
    syns,
    unanswered,
)
from gateway.api import refused as refused_connect
from modem.virtual.netio import PORT_UNREACH, PROHIBITED
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP, Context
from modem.virtual.tls import TlsError, TlsSession, TlsSettings

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem
    from modem.virtual.results import Final

log = logging.getLogger(__name__)

__all__ = ["UDP_HEADER", "Listener", "Socket", "SocketIO", "TcpSockets"]

WINDOW = 65535  # bytes a connection lets wait for the downlink before its socket stops being read

FAIL_CONNECT = "connect"  # refused by the policy, or the real endpoint refused / was unreachable
FAIL_DNS = "dns"  # a name the Internet table does not know (unknown: fail)
FAIL_TLS = "tls"  # the TLS handshake failed (`Socket.tls.error` says why)


class SocketIO(Protocol):
    """Real sockets for one modem's stack (see `modem.virtual.netio.LoopSockets`)."""

    def connect(self, sock: Socket, host: str, port: int) -> None:
        """Start connecting `sock` (TCP) or binding it to `host:port` (UDP); report through `TcpSockets`."""

    def send(self, sock: Socket, data: bytes) -> None:
        """Write `data` on `sock` (one datagram for UDP)."""

    def close(self, sock: Socket) -> None:
        """Close `sock`; no callback follows."""

    def pause(self, sock: Socket, paused: bool) -> None:
        """Stop (or resume) reading `sock`: its data waits for the downlink."""

    def listen(self, listener: Listener) -> None:
        """Serve `listener.route` (a loopback address and port); connections go to `TcpSockets.accept`."""

    def unlisten(self, listener: Listener) -> None:
        """Stop serving `listener`'s port (its accepted connections stay)."""


def _ignore_socket(sock: Socket) -> None:
    return None


def _ignore_data(sock: Socket, data: bytes) -> None:
    return None


def _ignore_failure(sock: Socket, why: str) -> None:
    return None


@dataclass(slots=True, eq=False)
class Socket:
    sid: int
    proto: str  # "TCP" or "UDP"
    host: str
    port: int
    ctx: Context
    route: Route
    connected: bool = False
    rx: bytearray = field(default_factory=bytearray)
    sent: int = 0
    acked: int = 0  # of `sent`, the bytes that have reached the other end (AT+QISEND=<id>,0, AT+CIPACK)
    received: int = 0
    timers: list[Timer] = field(default_factory=list)
    on_up: Callable[[Socket], None] = _ignore_socket
    on_fail: Callable[[Socket, str], None] = _ignore_failure
    on_rx: Callable[[Socket, bytes], None] = _ignore_data
    on_closed: Callable[[Socket], None] = _ignore_socket  # the remote end closed, or the network dropped it
    on_dropped: Callable[[Socket], None] = (
        _ignore_socket  # the module ended its context under it (close_context)
    )
    handle: object = None  # the I/O's own state for a real socket
    up_at: float = 0.0  # when the handshake has crossed the link (a real connection is up no sooner)
    waiting: int = 0  # bytes from the server not yet across the downlink
    paused: bool = False  # the real socket is not read (more than WINDOW bytes waiting)
    listener: Listener | None = None  # the server on the module that accepted it (None: opened by the module)
    rx_last: float = -math.inf  # when the last chunk from the server still on the downlink reaches the module
    fin_counted: bool = False  # the remote end's close was counted (its FIN follows data on the downlink)
    up_pending: int = 0  # chunks the module sent that are still crossing the uplink
    draining: bool = False  # closed by the module: its FIN waits behind the data still on the uplink
    up_due: float | None = None  # when the handshake of a connection the endpoint accepted is across
    wire: TcpWire = field(default_factory=TcpWire)  # a TCP connection's packets, as billed
    datagram: int = 0  # the IP size of the last UDP datagram at the network (what ICMP quotes)
    answer: int = 0  # a real UDP socket the host could not make: the ICMP code its datagrams get (0: none)
    retry: bool = False  # ... for want of resources: made again once a datagram has had that answer
    closed_at: float = 0.0  # when the module closed it (its FIN may wait behind data on the uplink)
    ack_at: float = math.inf  # when the timer for the wire's next delayed ACK runs (inf: none set)
    server_at: float = -math.inf  # when the remote end's last segment (data, FIN) left it
    device_at: float = -math.inf  # when the module's last segment (data, FIN) left it
    # the remote end's FIN is acknowledged and the module's end kept open until the DTE closes it
    # (`finish`: Quectel's "closing" socket), not closed at once with the module's FIN (SIMCom)
    half_close: bool = False
    closed_then: Callable[[], None] | None = None  # the module's close waits for the close handshake
    opened_at: float = 0.0  # when the module sent its SYN (a failed connect's retransmissions run from it)
    rtt: float | None = None  # the handshake's round trip on the link: the server's timeout from it
    ack_seen: int = 0  # of `sent`, the bytes whose ACK from the other end has reached the module
    # sends waiting for that ACK (SIMCom's normal-mode SEND OK): (bytes it covers, told True / False)
    ack_waiters: list[tuple[int, Callable[[bool], None]]] = field(default_factory=list)
    #: a TLS connection's client (`modem.virtual.tls`): its records are the connection's bytes,
    #: the command sets see the plain bytes; `on_up` once its handshake is done
    tls: TlsSession | None = None

    @property
    def real(self) -> bool:
        return self.route.kind is RouteKind.CONNECT

    @property
    def ready(self) -> bool:
        """Connected as the module says it is: the TCP connection up and, on a TLS one, the TLS
        handshake done (until then the module is still connecting: no data to send)."""
        return self.connected and (self.tls is None or (self.tls.up and not self.tls.failed))


def _device(ctx: Context) -> bytes:
    """The device's address on `ctx`, as the ICMP rate limits know a destination."""
    return ipaddress.ip_address(ctx.ip).packed if ctx.ip else b""


def _remote(m: VirtualModem, sock: Socket) -> bytes:
    """The address `sock` sends to as the device has it (a name as the network's DNS answers it):
    the host that sends its ICMP errors, as the PPP bearer's forwarder has it."""
    address = m.internet.resolve(sock.host)
    try:
        return ipaddress.ip_address(address or "").packed
    except ValueError:  # (not an address: known by its name)
        return sock.host.encode()


def _no_id() -> int | None:
    return None


def _ignore() -> None:
    return None


@dataclass(slots=True, eq=False)
class Listener:
    """A TCP server on the module, listening on `port` of the device's address on `ctx`."""

    lid: int  # the stack's number for it (Quectel's <connectID> of the listener, SIMCom 0)
    port: int
    ctx: Context
    route: Route  # CONNECT: the loopback address and port the host's programs connect to
    take_id: Callable[[], int | None] = _no_id  # a free connection number for a new client, None: full
    on_accept: Callable[[Socket], None] = _ignore_socket
    on_full: Callable[[], None] = _ignore  # a client came and every connection number was taken
    on_rx: Callable[[Socket, bytes], None] = _ignore_data
    on_closed: Callable[[Socket], None] = _ignore_socket
    handle: object = None  # the I/O's own state (the host server)


@dataclass(slots=True)
class TcpSockets:
    modem: VirtualModem
    sockets: dict[int, Socket] = field(default_factory=dict)
    io: SocketIO | None = None
    #: `ATO` with no data call: a command set's way back to online data (Quectel transparent mode)
    resume: Callable[[], Final | None] | None = None
    losing: bool = False  # inside `lost()`: the network, not the remote end, closed the sockets
    #: inside `lost(by_network=True)`: the network ended the PDP contexts (coverage lost, a detach),
    #: not the module itself (a reset, AT+CFUN=0, power off)
    by_network: bool = False
    #: a command set's report of a PDP context the network ended (`context_lost`), by set name
    on_context_lost: dict[str, Callable[[Context], None]] = field(default_factory=dict)
    listeners: dict[int, Listener] = field(default_factory=dict)
    draining: set[Socket] = field(default_factory=set)  # closed by the module, data still on the uplink

    def open(
        self,
        sid: int,
        proto: str,
        host: str,
        port: int,
        ctx: Context,
        on_up: Callable[[Socket], None],
        on_fail: Callable[[Socket, str], None],
        on_rx: Callable[[Socket, bytes], None],
        on_closed: Callable[[Socket], None],
        tls: TlsSettings | None = None,
    ) -> Socket:
        """Open socket `sid` to `host:port`; exactly one of `on_up` / `on_fail` follows.  `tls`: a
        TLS connection (`on_up` once its handshake is done, `on_fail` with `FAIL_TLS` if it fails;
        settings that cannot make a client fail it so at once)."""
        m = self.modem
        route = m.internet.route(host, port)
        sock = Socket(sid, proto.upper(), host, port, ctx, route, on_up=on_up, on_fail=on_fail)
        sock.on_rx, sock.on_closed, sock.opened_at = on_rx, on_closed, m.now
        self.sockets[sid] = sock
        if tls is not None and route.kind in (RouteKind.ECHO, RouteKind.CONNECT):  # a connection comes
            try:
                sock.tls = TlsSession.client(tls, host)
            except TlsError as exc:
                log.info("socket %d: TLS settings refused: %s", sid, exc)
                why = str(exc)
                self._later(sock, 0.0, lambda: self._tls_failed(sock, why))
                return sock
        kind = route.kind
        link = m.link
        tcp = sock.proto == "TCP"
        handshake = link.rtt(m.now, HANDSHAKE_UP, HANDSHAKE_DOWN) if tcp else 0.0
        sock.up_at = m.now + handshake
        sock.rtt = handshake if tcp else None
        if kind is RouteKind.CONNECT and self.io is not None:
            log.debug("socket %d: %s %s:%d -> %s:%d", sid, sock.proto, host, port, route.host, route.port)
            self.io.connect(sock, route.host, route.port)
        elif kind is RouteKind.ECHO or (kind is RouteKind.REFUSED and not tcp):
            self._later(sock, handshake, lambda: self.connected(sock))
        else:
            why = FAIL_DNS if kind is RouteKind.UNRESOLVED else FAIL_CONNECT
            log.info(
                "socket %d: %s %s:%d fails (%s)", sid, sock.proto, host, port, route.reason or "not served"
            )
            if why == FAIL_CONNECT and tcp:
                m.net.count(ctx, *refused_connect())  # the SYN, and the network's reset
            answer = handshake if tcp else link.rtt(m.now, HEADER, HEADER)
            self._later(sock, answer, lambda: self.failed(sock))
        return sock

    def listen(
        self,
        lid: int,
        port: int,
        ctx: Context,
        take_id: Callable[[], int | None],
        on_accept: Callable[[Socket], None],
        on_full: Callable[[], None],
        on_rx: Callable[[Socket, bytes], None],
        on_closed: Callable[[Socket], None],
    ) -> Listener:
        """A server on `port`: reachable from the host when the Internet table and the APN allow it."""
        route = self.modem.internet.inbound_route(ctx.ip, port)
        listener = Listener(lid, port, ctx, route, take_id, on_accept, on_full, on_rx, on_closed)
        self.listeners[lid] = listener
        if route.kind is not RouteKind.CONNECT:
            log.info("server %d on port %d: nobody can connect: %s", lid, port, route.reason)
        elif self.io is None:
            log.info("server %d on port %d: nobody can connect: the modem is not served", lid, port)
        else:
            log.info("server %d on port %d: served on %s:%d", lid, port, route.host, route.port)
            self.io.listen(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        if self.listeners.get(listener.lid) is listener:
            del self.listeners[listener.lid]
        if self.io is not None and listener.handle is not None:
            self.io.unlisten(listener)
        listener.handle = None

    def accept(self, listener: Listener, host: str, port: int) -> Socket | None:
        """A client at `host`:`port` connected to `listener`: its socket, or None (refused: the
        listener is gone or every connection number is taken)."""
        if self.listeners.get(listener.lid) is not listener:
            return None
        sid = listener.take_id()
        if sid is None:
            listener.on_full()
            return None
        ctx = listener.ctx
        sock = Socket(sid, "TCP", host, port, ctx, Route(RouteKind.CONNECT, host, port), listener=listener)
        sock.on_rx, sock.on_closed = listener.on_rx, listener.on_closed
        self.sockets[sid] = sock
        self.modem.net.count(ctx, *sock.wire.open(by=SERVER))  # the client's SYN and ACK come down
        sock.connected = True
        listener.on_accept(sock)
        return sock

    # ----- what the network (or the real socket) does ----------------------------------------------

    def _later(self, sock: Socket, delay: float, fn: Callable[[], None]) -> None:
        """A timer of `sock` (cancelled when it closes); the list keeps only those still to come."""
        timers = sock.timers
        if len(timers) >= 32:
            now = self.modem.now
            timers[:] = [t for t in timers if not t.cancelled and t.when > now]
        timers.append(self.modem.schedule(delay, fn))

    def _current(self, sock: Socket) -> bool:
        return self.sockets.get(sock.sid) is sock

    def connected(self, sock: Socket) -> None:
        if not self._current(sock):
            return
        if sock.connected and sock.proto == "UDP":  # the host socket made again (`undeliverable`):
            sock.answer, sock.retry = 0, False  # the module's socket was open all along, nothing to say
            return
        if sock.up_at > self.modem.now:  # the real endpoint answered before the radio could
            self._later(sock, sock.up_at - self.modem.now, lambda: self.connected(sock))
            sock.up_due, sock.up_at = sock.up_at, self.modem.now
            return
        sock.up_due = None
        sock.connected = True
        if sock.proto == "TCP":
            self.modem.net.count(sock.ctx, *sock.wire.open(rtt=sock.rtt))
        if sock.tls is not None:
            self._send_raw(sock, sock.tls.start())  # the ClientHello: up when the handshake is over
            if sock.tls.failed:
                self._tls_failed(sock)
            return
        sock.on_up(sock)

    def undeliverable(self, sock: Socket, code: int, retry: bool = False) -> None:
        """The host could not make `sock`'s real UDP socket (`netio.datagram_answer` gave `code`):
        it opens all the same, as a module's UDP open sends nothing, and each datagram it sends is
        billed up and answered ICMP destination unreachable `code` (`unreachable`), as the PPP
        bearer's forwarder answers a datagram whose host socket cannot be made.  `retry` (out of
        descriptors or buffers: `netio.TRANSIENT_ERRNOS`): once a datagram has had that answer the
        host socket is tried again (`_at_network`), as the forwarder tries it again for the flow's
        next datagram; the module's socket stays open meanwhile and says nothing more (a retry
        failing again comes back here)."""
        if not self._current(sock):
            return
        sock.answer, sock.retry = code, retry
        sock.handle = None
        if not sock.connected:
            self.connected(sock)

    def _tls_failed(self, sock: Socket, why: str = "") -> None:
        """The TLS handshake failed: the module closes the connection (its alert went before) and
        the command set hears `FAIL_TLS`."""
        if sock.tls is not None and why:
            sock.tls.failed, sock.tls.error = True, why
        if self._current(sock):
            self.close(sock)
        sock.on_fail(sock, FAIL_TLS)

    def failed(self, sock: Socket, refused: bool = False, unreachable: bool = False) -> None:
        """The connection failed.  `refused`: a real endpoint answered the SYN with a reset, or the
        host could not make the connection (EMFILE, EACCES, EPERM ...: the network's reset, as the
        PPP bearer's forwarder sends the device), counted as the policy's refusal is (the SYN, the
        reset) and told once that exchange has crossed the link;
        `unreachable`: the network answered it "destination unreachable" (ICMP: no route to the host),
        the SYNs sent until then and the ICMP message counted (`gateway.wire.unreachable`), told
        likewise, unless the ICMP rate limits keep that answer back (`_no_route`); a real endpoint
        that never answered (timed out: the module gave up) cost the SYN and its retransmissions
        until then (`gateway.wire.syns`: 7 SYNs in the 75 s of a timeout)."""
        if not self._current(sock):
            return
        m = self.modem
        if sock.real and sock.proto == "TCP" and self.io is not None and sock.handle is not None:
            elapsed = m.now - sock.opened_at
            if unreachable:
                self._no_route(sock, syns(elapsed))
                return
            billed = refused_connect(elapsed) if refused else unanswered(elapsed)
            m.net.count(sock.ctx, *billed)
            sock.handle = None
            if refused and sock.up_at > m.now:
                self._later(sock, sock.up_at - m.now, lambda: self.failed(sock))
                return
        self._fail(sock)

    def _fail(self, sock: Socket) -> None:
        self.sockets.pop(sock.sid, None)
        kind = sock.route.kind
        sock.on_fail(sock, FAIL_DNS if kind is RouteKind.UNRESOLVED else FAIL_CONNECT)

    def _no_route(self, sock: Socket, sent: int) -> None:
        """The network has no route to a real connect's host: its ICMP "host unreachable" answers
        the `sent`-th SYN now if the gateway's rate limits let it go (`NetLink.icmp`, the PPP
        bearer's too: `gateway.icmplimit`), and the connect fails
        (its SYNs and the ICMP message billed, told once that has crossed the link).  Else that SYN
        goes unanswered, as on Linux: the stack sends it again on its timer (1, 3, 7 ... s after the
        first, `gateway.wire.syns`), which the network answers when the limits allow; past the last
        retransmission the connect gives up unanswered."""
        m = self.modem
        if not self._current(sock) or sock.handle is None:
            return
        if m.net.icmp.allow(m.now, GATEWAY, _device(sock.ctx), DEST_UNREACH, HOST_UNREACH):
            m.net.count(sock.ctx, SYN * sent, icmp_error_size(SYN))
        elif sent <= SYN_RETRIES:
            again = sock.opened_at + syn_time(sent)  # the next retransmission
            self._later(sock, max(again - m.now, 0.0), lambda: self._no_route(sock, sent + 1))
            return
        else:
            m.net.count(sock.ctx, SYN * sent, 0)
        sock.handle = None
        if sock.up_at > m.now:
            self._later(sock, sock.up_at - m.now, lambda: self.failed(sock))
            return
        self._fail(sock)

    def unreachable(self, sock: Socket) -> None:
        """An ICMP destination unreachable came back for a datagram of `sock` (a refused destination,
        a real endpoint with nothing on its port, or one whose host socket could not be made:
        `undeliverable`'s answer): counted by the gateway, unless the ICMP rate
        limits of the host that sent it kept it back (`NetLink.icmp`: six at once, then one a
        second; the gateway's for a refused destination, the endpoint's own for its port, as the
        PPP bearer's forwarder has it); the module's stack drops it (UDP: the datagram is lost, the
        socket stays).  It quotes the datagram it answers, the last that reached the network
        (`Socket.datagram`; a real socket's error, like Linux's, names no datagram), its size
        `gateway.wire.icmp_error_size`'s."""
        if (self._current(sock) or sock.draining) and sock.ctx.active:
            m = self.modem
            if sock.route.kind is RouteKind.REFUSED:
                code, sender = PROHIBITED, GATEWAY
            elif sock.answer and sock.answer != PORT_UNREACH:  # no route, forbidden: the gateway's
                code, sender = sock.answer, GATEWAY
            else:
                code, sender = PORT_UNREACH, _remote(m, sock)
            if m.net.icmp.allow(m.now, sender, _device(sock.ctx), DEST_UNREACH, code):
                m.net.count(sock.ctx, 0, icmp_error_size(sock.datagram))

    def received(self, sock: Socket, data: bytes) -> None:
        """`data` came from the remote end (a TCP chunk as read, or one datagram): counted by the
        gateway now, at the module when it has crossed the downlink."""
        if not self._current(sock) or not data:
            return
        m = self.modem
        n = len(data)
        at: float | None
        if sock.proto == "TCP":
            at = self._from_server(sock, n)
            self._server_acked(sock, at)  # the data carries the ACK of what reached the server
        else:
            m.net.count(sock.ctx, 0, n + UDP_HEADER, payload_down=n)
            at = m.link.down.send_datagram(m.now, n + UDP_HEADER)
            if at is None:
                return  # lost on the air
        if at <= m.now and not sock.waiting:
            self._deliver(sock, data)
            return
        sock.waiting += n
        sock.rx_last = at
        self._flow(sock)

        def arrive() -> None:
            sock.waiting -= n
            self._deliver(sock, data)
            self._flow(sock)

        self._later(sock, at - m.now, arrive)

    def _cross(self, sock: Socket, side: int, n: int) -> Iterator[tuple[int, float, tuple[int, int]]]:
        """`side`'s message of `n` bytes leaves now, on the wire, across its way of the link: each
        piece's bytes, when it arrives, and its (up, down) bytes on the wire (its segments, the
        other end's ACKs at once).  On a link with a rate each segment crosses on its own (as the
        PPP bearer's packets do), so the other end's delayed ACK of one that falls due before the
        next comes goes alone then (`_ack_alone`): a 10 kB message over `gsm`, 1.25 s a segment,
        is ACKed segment by segment, 6 ACKs, where taken to arrive whole it got 3, 120 B less than
        over PPP (the server's messages, and the module's own larger than an AT command's piece,
        which reached the server whole)."""
        m = self.modem
        way, wire, peer = (m.link.up if side == DEVICE else m.link.down), sock.wire, 1 - side
        step = n if way.rate_bps is None else MSS
        for k in range(0, n, step):
            size = min(step, n - k)
            arrives = way.send(m.now, size + HEADER * segments(size))
            due = wire.ack_before(peer, m.now, arrives)
            if due is not None:  # the other end's delayed ACK of earlier data goes alone before this
                self._ack_alone(sock, due, peer)
            # a segment lost on the air comes as the server's repeat: new to the module, not twice
            yield size, arrives, wire.send(side, size, m.now, arrives, lost=way.lost > 0)

    def _from_server(self, sock: Socket, n: int) -> float:
        """The remote end's `n` bytes leave it now: billed (`_cross`); when the last reaches the
        module."""
        m = self.modem
        sock.server_at = m.now
        arrives = m.now
        self._tick(sock)  # what fell due by now, at its time
        for size, arrives, (acks, billed) in self._cross(sock, SERVER, n):
            self._bill(sock, (0, billed), payload_down=size)
            # the module's ACKs at once (more than a full segment unacknowledged) leave as it comes
            if acks:
                self._while_up(sock.ctx, arrives - m.now, partial(m.net.count, sock.ctx, acks, 0))
        return arrives

    def _while_up(self, ctx: Context, delay: float, fn: Callable[[], None]) -> None:
        """`fn` in `delay` seconds if the PDP context `ctx` is still up (the same session) then."""
        session = ctx.session_id

        def run() -> None:
            if ctx.active and ctx.session_id == session:
                fn()

        if delay <= 0.0:
            run()
        else:
            self.modem.schedule(delay, run)

    def _bill(
        self, sock: Socket, billed: tuple[int, int], payload_up: int = 0, payload_down: int = 0
    ) -> None:
        """Count `billed` (up, down) of `sock`'s wire; a delayed ACK now owed goes alone when due."""
        self.modem.net.count(sock.ctx, *billed, payload_up=payload_up, payload_down=payload_down)
        self._ack_timer(sock)

    def _ack_timer(self, sock: Socket) -> None:
        """A timer for the wire's next delayed ACK, unless one runs by then."""
        due = sock.wire.due()
        if due < sock.ack_at and self._current(sock):
            sock.ack_at = due
            self._later(sock, due - self.modem.now, lambda: self._ack(sock))

    def _ack(self, sock: Socket) -> None:
        """A delayed ACK's time (if it is still owed: a segment may have carried it)."""
        if sock.ack_at > self.modem.now + 1e-9:
            return  # an earlier timer's: a later one is set
        sock.ack_at = math.inf
        if sock.ctx.active and not sock.wire.closed:
            self._tick(sock)
            self._ack_timer(sock)

    def _tick(self, sock: Socket) -> None:
        """The delayed ACKs whose time has come, each alone."""
        m = self.modem
        up, down = sock.wire.tick(m.now)
        if up or down:
            m.net.count(sock.ctx, up, down)
        if down:  # the server's delayed ACK, alone
            self._server_acked(sock, m.link.down.send(m.now, down))

    def _ack_alone(self, sock: Socket, due: float, side: int = SERVER) -> None:
        """`side`'s delayed ACK taken off the wire before the other end's data after it: counted at
        `due`, when it leaves, if the context is still up then (whatever ended the socket meanwhile)
        and no segment of `side`'s (data, its FIN) carried it before; the server's, the module told
        of it once it has crossed the downlink.  (The module's own was counted when the server's
        next data left, before it was due, and even when the context had ended by then.)"""
        m = self.modem
        ctx = sock.ctx

        def leaves() -> None:  # if the context is still up: else it never left
            last = sock.server_at if side == SERVER else sock.device_at
            if rides(due, last):
                return  # that side's data or FIN left after what it acknowledges came: it rode on it
            if side == DEVICE:
                m.net.count(ctx, HEADER, 0)
                return
            m.net.count(ctx, 0, HEADER)
            self._ack_reaches(sock, sock.acked, m.link.down.send(m.now, HEADER))

        self._while_up(ctx, due - m.now, leaves)

    def on_acked(self, sock: Socket, fn: Callable[[bool], None]) -> bool:
        """What the module has sent on `sock` so far, once the other end's ACK of it has reached the
        module: True now if it has (a UDP socket's at once: nothing acknowledges a datagram), else
        `fn(True)` when it does, or `fn(False)` if the connection ends first."""
        if sock.proto != "TCP" or sock.ack_seen >= sock.sent:
            return True
        sock.ack_waiters.append((sock.sent, fn))
        return False

    def _server_acked(self, sock: Socket, arrives: float) -> None:
        """The other end's ACK of what has reached it (`sock.acked`) leaves now and reaches the
        module at `arrives`, unless it still owes it (its delayed ACK runs)."""
        if not sock.wire.owes(SERVER):
            self._ack_reaches(sock, sock.acked, arrives)

    def _ack_reaches(self, sock: Socket, covered: int, arrives: float) -> None:
        """The other end's ACK of `covered` bytes reaches the module at `arrives`."""
        if covered <= sock.ack_seen:
            return

        def seen() -> None:
            sock.ack_seen = max(sock.ack_seen, covered)
            self._tell_acked(sock)

        if arrives <= self.modem.now:
            seen()
        else:
            self._later(sock, arrives - self.modem.now, seen)

    def _tell_acked(self, sock: Socket, ended: bool = False) -> None:
        """The sends waiting for an ACK that has come (`ended`: the connection is gone, the rest failed)."""
        if not sock.ack_waiters:
            return
        waiting, sock.ack_waiters = sock.ack_waiters, []
        for upto, fn in waiting:
            if sock.ack_seen >= upto:
                fn(True)
            elif ended:
                fn(False)
            else:
                sock.ack_waiters.append((upto, fn))

    def _deliver(self, sock: Socket, data: bytes) -> None:
        if not self._current(sock) or not sock.connected:
            return
        tls = sock.tls
        if tls is not None:
            was_up = tls.up
            data = tls.feed(data)
            self._send_raw(sock, tls.take())  # the handshake's next flight, an alert
            if not was_up and tls.up:
                sock.on_up(sock)
            elif tls.failed and not was_up:
                self._tls_failed(sock)
                return
            elif tls.failed:  # a broken record or the server's fatal alert: the connection is over
                self.close(sock)
                sock.on_closed(sock)
                return
            if not data:
                return
        sock.received += len(data)
        sock.on_rx(sock, data)
        if sock.rx:
            self._flow(sock)

    def _flow(self, sock: Socket) -> None:
        """The module's receive window: a real connection is not read while more than `WINDOW` bytes
        of it wait, on the downlink or in the module's buffer unread (buffer access mode, manual
        receive); it is read again once they are down to half of that."""
        if self.io is None or sock.proto != "TCP" or not self._current(sock):
            return
        held = sock.waiting + len(sock.rx)
        if not sock.paused and held > WINDOW:
            sock.paused = True
            self.io.pause(sock, True)
        elif sock.paused and held <= WINDOW // 2:
            sock.paused = False
            self.io.pause(sock, False)

    def consumed(self, sock: Socket) -> None:
        """The DTE read some of `sock.rx` (AT+QIRD, AT+CIPRXGET): the window may open again."""
        self._flow(sock)

    def read(self, sock: Socket, want: int) -> bytes:
        """The DTE reads up to `want` bytes of `sock.rx` (AT+QIRD, AT+QSSLRECV)."""
        data = bytes(sock.rx[:want])
        del sock.rx[:want]
        self._flow(sock)
        return data

    def remote_closed(self, sock: Socket) -> None:
        """The remote end closed the connection (FIN): counted by the gateway now; the socket is gone,
        and the module says so, once what the server sent before it has crossed the downlink (the FIN
        comes after the data: a server that answers and closes is read whole)."""
        if not self._current(sock) or sock.fin_counted:
            return
        m = self.modem
        if sock.up_due is not None:  # accepted, then closed at once: the FIN comes after the handshake
            self._later(sock, sock.up_due - m.now, lambda: self.remote_closed(sock))
            return
        if sock.connected and sock.proto == "TCP" and sock.ctx.active:
            sock.server_at = m.now
            if not sock.half_close:  # the module's FIN answers it once it came, after the data
                sock.device_at = sock.rx_last if sock.waiting and sock.rx_last > m.now else m.now
            wire = sock.wire
            m.net.count(sock.ctx, *(wire.half_close if sock.half_close else wire.close)(SERVER, m.now))
        sock.fin_counted = True
        if sock.waiting and sock.rx_last > m.now:
            self._later(sock, sock.rx_last - m.now, lambda: self._remote_gone(sock))
            return
        self._remote_gone(sock)

    def finish(self, sock: Socket) -> None:
        """The DTE closes a socket the remote end had closed (`half_close`, held "closing"): the
        module's FIN, the remote end's last ACK."""
        wire = sock.wire
        if sock.proto == "TCP" and wire.fin == SERVER and not wire.closed and sock.ctx.active:
            sock.device_at = self.modem.now
            self.modem.net.count(sock.ctx, *wire.close(DEVICE, self.modem.now))

    def _remote_gone(self, sock: Socket) -> None:
        if not self._current(sock):
            return
        self._drop(sock)
        if sock.tls is not None and not sock.tls.up:  # the server closed during the handshake
            sock.tls.failed, sock.tls.error = True, sock.tls.error or "closed during the handshake"
            self.finish(sock)  # a module that held its end open closes it: the handshake failed
            sock.on_fail(sock, FAIL_TLS)
            return
        sock.on_closed(sock)

    # ----- what the module does --------------------------------------------------------------------

    def send(self, sock: Socket, data: bytes) -> None:
        """`data` leaves the module now (as TLS records on a TLS connection); it reaches the network
        when it has crossed the uplink."""
        if sock.tls is not None and data:
            if not sock.tls.up or sock.tls.failed:
                return
            data = sock.tls.seal(data)
        self._send_raw(sock, data)

    def _send_raw(self, sock: Socket, data: bytes) -> None:
        m = self.modem
        n = len(data)
        if not n:
            return
        sock.sent += n
        if sock.proto == "UDP":
            there = m.link.up.send_datagram(m.now, n + UDP_HEADER)
            if there is not None:  # (else lost on the air: the gateway never sees it)
                self._up_at(sock, data, there, (0, 0))
            return
        sock.device_at = m.now
        k = 0
        for size, there, billed in self._cross(sock, DEVICE, n):  # billed as it leaves, counted on arrival
            self._up_at(sock, data[k : k + size], there, billed)
            k += size

    def _up_at(self, sock: Socket, data: bytes, there: float, billed: tuple[int, int]) -> None:
        """`data` reaches the network at `there`."""
        m = self.modem
        if there <= m.now:
            self._at_network(sock, data, billed)
            return
        # Not one of `sock.timers`: a close by the module lets it arrive (`close`), a drop does not.
        sock.up_pending += 1
        m.schedule(there - m.now, lambda: self._uplinked(sock, data, billed))

    def _uplinked(self, sock: Socket, data: bytes, billed: tuple[int, int]) -> None:
        sock.up_pending -= 1
        self._at_network(sock, data, billed)
        if sock.draining and not sock.up_pending:
            sock.draining = False
            self.draining.discard(sock)
            self._teardown(sock, fin=sock.proto == "TCP", held=True)

    def _at_network(self, sock: Socket, data: bytes, billed: tuple[int, int]) -> None:
        """`data` reached the gateway: counted (`billed`: its segments and what they set off), and on
        to the endpoint (or the echo, which answers at once)."""
        m = self.modem
        if not (self._current(sock) or sock.draining):
            return
        net = m.net
        n = len(data)
        sock.acked += n
        kind = sock.route.kind
        if sock.proto == "UDP":
            net.count(sock.ctx, n + UDP_HEADER, 0, payload_up=n)
            sock.datagram = n + UDP_HEADER
            if kind is RouteKind.REFUSED or sock.answer:  # the network's answer, as the PPP bearer's
                self.unreachable(sock)  # forwarder sends it: ICMP "communication administratively
                # prohibited", or what a datagram no host socket takes gets (`undeliverable`); out of
                # resources, the host socket is made again for the next datagram, as the forwarder's
                if sock.retry and sock.handle is None and self.io is not None and self._current(sock):
                    sock.retry = False
                    self.io.connect(sock, sock.route.host, sock.route.port)
                return
        else:
            self._bill(sock, billed, payload_up=n)
            if kind is not RouteKind.ECHO and not sock.wire.owes(SERVER):
                # acknowledged at once: every second segment, or a segment of the server's had left
                self._server_acked(sock, m.link.down.send(m.now, HEADER))
        if kind is RouteKind.CONNECT and self.io is not None:
            self.io.send(sock, data)
        elif kind is RouteKind.ECHO:
            # The echo answers on a timer even when the link takes no time: after the send's result.
            if sock.proto == "UDP":
                self._later(sock, 0.0, lambda: self.received(sock, data))
                return
            back = self._from_server(sock, n)
            self._server_acked(sock, back)  # the echo carries the ACK
            self._later(sock, back - m.now, lambda: self._deliver(sock, data))

    def close(self, sock: Socket, drain: bool = True, then: Callable[[], None] | None = None) -> bool:
        """The module closes `sock` (its number is free at once).  A TCP connection's FIN goes after
        what the module sent that is still crossing the uplink (`drain`), as a TCP stack's close
        does, and a UDP socket's datagrams on their way go on: that data reaches the server and is
        counted; without `drain` (the PDP context ends) it is lost with the connection.
        `then`: called once the remote end's FIN is back at the module (the close handshake done:
        True) or, when no handshake is to come, not at all (False)."""
        fin = sock.connected and sock.proto == "TCP" and not sock.fin_counted
        if fin and drain and sock.tls is not None and self._current(sock):
            self._send_raw(sock, sock.tls.close_notify())  # its close_notify before its FIN
        sock.closed_at = self.modem.now
        if fin:
            sock.device_at = sock.closed_at  # its FIN (on the data still crossing the uplink)
        sock.closed_then = then if fin else None
        self._drop(sock, keep_open=True)
        if drain and sock.up_pending and (fin or sock.proto == "UDP"):
            sock.draining = True  # `_uplinked` tears it down after the last chunk
            self.draining.add(sock)
            return sock.closed_then is not None
        return self._teardown(sock, fin)

    def _teardown(self, sock: Socket, fin: bool = True, held: bool = False) -> bool:
        """The module's FIN (`held`: on the last data, which waited on the uplink), the remote end's
        FIN and the last ACK (counted when `fin`), and the real socket closed.  True: the close's
        `then` runs when the remote end's FIN is back at the module."""
        m = self.modem
        then, sock.closed_then = sock.closed_then, None
        waits = False
        if fin and sock.ctx.active:
            m.net.count(sock.ctx, *sock.wire.close(DEVICE, sock.closed_at, held))
            if then is not None:  # the FIN up (on the data that just arrived when `held`), the peer's down
                back = m.link.down.send(m.now, HEADER) - m.now if held else m.link.rtt(m.now, HEADER, HEADER)
                if back > 0.0 or held:
                    m.schedule(back, then)
                    waits = True
        if sock.real and self.io is not None and sock.handle is not None:
            self.io.close(sock)
        if then is not None and not waits and held:
            then()  # after draining, no handshake to wait for (the bearer went): the close is over
        return waits

    def _drop(self, sock: Socket, keep_open: bool = False) -> None:
        for t in sock.timers:
            t.cancel()
        sock.timers.clear()
        if sock.ack_waiters:  # the remote end's FIN carried its ACK of what had reached it
            if sock.fin_counted and not sock.wire.owes(SERVER):
                sock.ack_seen = max(sock.ack_seen, sock.acked)
            self._tell_acked(sock, ended=True)
        if not keep_open and sock.real and self.io is not None and sock.handle is not None:
            self.io.close(sock)
        sock.connected = False
        if self._current(sock):
            del self.sockets[sock.sid]

    def _abort_draining(self, ctx: Context | None = None) -> None:
        """Connections the module closed whose data was still on the uplink: lost with the bearer."""
        for sock in [s for s in self.draining if ctx is None or s.ctx is ctx]:
            sock.draining = False
            self.draining.discard(sock)
            if sock.real and self.io is not None and sock.handle is not None:
                self.io.close(sock)
            then, sock.closed_then = sock.closed_then, None
            if then is not None:
                then()  # no handshake will come: the close is over

    def close_context(self, ctx: Context) -> None:
        self._abort_draining(ctx)
        for sock in [s for s in self.sockets.values() if s.ctx is ctx]:
            self.close(sock, drain=False)
            sock.on_dropped(sock)
        for listener in [lst for lst in self.listeners.values() if lst.ctx is ctx]:
            self.unlisten(listener)

    def context_lost(self, ctx: Context) -> None:
        """The network ended `ctx` (it was active): each command set that asked is told."""
        for report in list(self.on_context_lost.values()):
            report(ctx)

    def lost(self, by_network: bool = False, ctx: Context | None = None) -> None:
        """Coverage or the PDP context went away: sockets close without a teardown on the air.
        `by_network`: the network ended them (coverage lost, a detach), not the module's own reset,
        AT+CFUN=0 or power-off.  `ctx`: only the sockets on that context (AT+CGACT=0 of it)."""
        self.losing = True
        self.by_network = by_network
        self._abort_draining(ctx)
        for listener in [lst for lst in self.listeners.values() if ctx is None or lst.ctx is ctx]:
            self.unlisten(listener)
        try:
            for sock in [s for s in self.sockets.values() if ctx is None or s.ctx is ctx]:
                self._drop(sock)
                sock.on_closed(sock)
        finally:
            self.losing = self.by_network = False
