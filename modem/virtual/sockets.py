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
100 ms answers in one simulated second.  The echo server and refusals are the network's own: they
happen `CONNECT_S` / `RTT_S` simulated seconds later, whatever the speed.

Every byte goes through the gateway (`netlink.NetLink.count`, which models TCP/IP headers as
its docstring says).  UDP: 28 B of IPv4+UDP header per datagram each way, no handshake; a datagram
to a refused destination is counted up and dropped (UDP has no connect to fail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gateway.internet import Route, RouteKind
from modem.virtual.netlink import HEADER, Context

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem
    from modem.virtual.results import Final

log = logging.getLogger(__name__)

CONNECT_S = 0.2  # echo / refusal: the network's answer to a connect, in simulated seconds
RTT_S = 0.1  # echo: what is sent comes back this much later
UDP_HEADER = 28

FAIL_CONNECT = "connect"  # refused by the policy, or the real endpoint refused / was unreachable
FAIL_DNS = "dns"  # a name the Internet table does not know (unknown: fail)


class SocketIO(Protocol):
    """Real sockets for one modem's stack (see `modem.virtual.netio.LoopSockets`)."""

    def connect(self, sock: Socket, host: str, port: int) -> None:
        """Start connecting `sock` (TCP) or binding it to `host:port` (UDP); report through `TcpSockets`."""

    def send(self, sock: Socket, data: bytes) -> None:
        """Write `data` on `sock` (one datagram for UDP)."""

    def close(self, sock: Socket) -> None:
        """Close `sock`; no callback follows."""


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
    received: int = 0
    timers: list[Timer] = field(default_factory=list)
    on_up: Callable[[Socket], None] = _ignore_socket
    on_fail: Callable[[Socket, str], None] = _ignore_failure
    on_rx: Callable[[Socket, bytes], None] = _ignore_data
    on_closed: Callable[[Socket], None] = _ignore_socket  # the remote end closed, or the network dropped it
    handle: object = None  # the I/O's own state for a real socket
    tag: object = None  # the command set's own state for this socket (access mode, ...)

    @property
    def real(self) -> bool:
        return self.route.kind is RouteKind.CONNECT


@dataclass(slots=True)
class TcpSockets:
    modem: VirtualModem
    sockets: dict[int, Socket] = field(default_factory=dict)
    io: SocketIO | None = None
    #: `ATO` with no data call: a command set's way back to online data (Quectel transparent mode)
    resume: Callable[[], Final | None] | None = None
    losing: bool = False  # inside `lost()`: the network, not the remote end, closed the sockets

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
    ) -> Socket:
        """Open socket `sid` to `host:port`; exactly one of `on_up` / `on_fail` follows."""
        m = self.modem
        route = m.internet.route(host, port)
        sock = Socket(sid, proto.upper(), host, port, ctx, route, on_up=on_up, on_fail=on_fail)
        sock.on_rx, sock.on_closed = on_rx, on_closed
        self.sockets[sid] = sock
        kind = route.kind
        if kind is RouteKind.CONNECT and self.io is not None:
            log.debug("socket %d: %s %s:%d -> %s:%d", sid, sock.proto, host, port, route.host, route.port)
            self.io.connect(sock, route.host, route.port)
        elif kind is RouteKind.ECHO or (kind is RouteKind.REFUSED and sock.proto == "UDP"):
            sock.timers.append(m.schedule(CONNECT_S, lambda: self.connected(sock)))
        else:
            why = FAIL_DNS if kind is RouteKind.UNRESOLVED else FAIL_CONNECT
            log.info(
                "socket %d: %s %s:%d fails (%s)", sid, sock.proto, host, port, route.reason or "not served"
            )
            if why == FAIL_CONNECT and sock.proto == "TCP":
                m.net.count(ctx, HEADER, HEADER)  # the SYN, and the network's reset
            sock.timers.append(m.schedule(CONNECT_S, lambda: self.failed(sock)))
        return sock

    # ----- what the network (or the real socket) does ----------------------------------------------

    def _current(self, sock: Socket) -> bool:
        return self.sockets.get(sock.sid) is sock

    def connected(self, sock: Socket) -> None:
        if not self._current(sock):
            return
        sock.connected = True
        if sock.proto == "TCP":
            self.modem.net.tcp_connect(sock.ctx)
        sock.on_up(sock)

    def failed(self, sock: Socket) -> None:
        if not self._current(sock):
            return
        self.sockets.pop(sock.sid, None)
        kind = sock.route.kind
        sock.on_fail(sock, FAIL_DNS if kind is RouteKind.UNRESOLVED else FAIL_CONNECT)

    def received(self, sock: Socket, data: bytes) -> None:
        """`data` came from the remote end (a TCP chunk as read, or one datagram)."""
        if not self._current(sock) or not sock.connected or not data:
            return
        n = len(data)
        if sock.proto == "TCP":
            self.modem.net.tcp_receive(sock.ctx, n)
        else:
            self.modem.net.count(sock.ctx, 0, n + UDP_HEADER, payload_down=n)
        sock.received += n
        sock.on_rx(sock, data)

    def remote_closed(self, sock: Socket) -> None:
        """The remote end closed the connection (FIN): the socket is gone, the module says so."""
        if not self._current(sock):
            return
        if sock.connected and sock.proto == "TCP" and sock.ctx.active:
            self.modem.net.tcp_close(sock.ctx)
        self._drop(sock)
        sock.on_closed(sock)

    # ----- what the module does --------------------------------------------------------------------

    def send(self, sock: Socket, data: bytes) -> None:
        """`data` leaves now: to the real endpoint, or to the echo, whose copy arrives RTT_S later."""
        net = self.modem.net
        n = len(data)
        if not n:
            return
        sock.sent += n
        kind = sock.route.kind
        if sock.proto == "UDP":
            echo = kind is RouteKind.ECHO
            net.count(sock.ctx, n + UDP_HEADER, 0, payload_up=n)
        elif kind is RouteKind.ECHO:
            echo = True
            net.tcp_echo(sock.ctx, n)
        else:
            echo = False
            net.tcp_send(sock.ctx, n)
        if kind is RouteKind.CONNECT and self.io is not None:
            self.io.send(sock, data)
        elif echo:

            def arrive() -> None:
                if not self._current(sock) or not sock.connected:
                    return
                if sock.proto == "UDP":
                    net.count(sock.ctx, 0, n + UDP_HEADER, payload_down=n)
                sock.received += n
                sock.on_rx(sock, data)

            sock.timers.append(self.modem.schedule(RTT_S, arrive))

    def close(self, sock: Socket) -> None:
        if sock.connected and sock.proto == "TCP" and sock.ctx.active:
            self.modem.net.tcp_close(sock.ctx)
        self._drop(sock)

    def _drop(self, sock: Socket) -> None:
        for t in sock.timers:
            t.cancel()
        sock.timers.clear()
        if sock.real and self.io is not None and sock.handle is not None:
            self.io.close(sock)
        sock.connected = False
        if self._current(sock):
            del self.sockets[sock.sid]

    def close_context(self, ctx: Context) -> None:
        for sock in [s for s in self.sockets.values() if s.ctx is ctx]:
            self.close(sock)

    def lost(self) -> None:
        """Coverage or the PDP context went away: sockets close without a teardown on the air."""
        self.losing = True
        try:
            for sock in list(self.sockets.values()):
                self._drop(sock)
                sock.on_closed(sock)
        finally:
            self.losing = False
