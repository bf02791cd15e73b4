"""Real sockets for a served virtual modem: asyncio connections to the endpoints the Internet table allows.

`LoopSockets` is the `sockets.SocketIO` of a modem driven by `transport.ModemRunner` on an event
loop.  It connects (TCP) or binds a connected datagram endpoint (UDP) to the address
`gateway.internet.Internet.route` chose, writes what the module sends, and reports each real event
to the modem's `TcpSockets` through `run`, which first brings the modem's clock to the moment of the
event (see the note on clocks in `modem.virtual.sockets`) and afterwards flushes the modem's output.

A server on the module (`sockets.Listener`) is an asyncio server on the loopback port the Internet
table maps it to; each connection a host program makes there is reported through `accept`, and is
then read and written as any other connection, or closed at once when the stack refuses it.

Reading is paused while the modem's output toward the DTE is backed up (`pause_reading` /
`resume_reading` from the endpoint), so a fast server cannot fill memory faster than a slow serial
client drains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from modem.virtual.sockets import Listener, Socket, TcpSockets

log = logging.getLogger(__name__)

# what a connect gets when the network answers its SYN "destination unreachable" (ICMP)
UNREACHABLE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH})
# the host's policy forbids it (a firewall, a broadcast address): "administratively prohibited"
PROHIBITED_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
# a host UDP socket that could not be made for want of resources: tried again for the next datagram
# (by the PPP bearer's forwarder and the module stacks alike)
TRANSIENT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN})
# codes of the ICMP destination unreachable the network answers a datagram with (RFC 792, RFC 1812)
HOST_UNREACH = 1  # no route to the host: from the gateway
PORT_UNREACH = 3  # nothing on the datagram's port: from the destination host itself
PROHIBITED = 13  # communication administratively prohibited: from the gateway
MUX_BACKLOG = 8  # clients waiting to be accepted by a server on the module
CONNECT_TIMEOUT_S = 75.0  # SIM800 AT Command Manual §8.2.2: at most 75 s for AT+CIPSTART (multi-IP)
# (simulated seconds: the module gives up after 75 s of its own clock, 7.5 real seconds at speed 10).
# Quectel's stack too: the BG96 TCP/IP application note §2.2.4 gives no module time, only that the host
# should wait 150 s for +QIOPEN before AT+QICLOSE; the 75 s answer comes within that.


def datagram_answer(error: int | None) -> int:
    """The ICMP destination unreachable code a datagram gets when the host cannot make the real UDP
    socket it would go by (`socket()` or `connect()` failed with errno `error`), as a Linux host or
    router answers it: no route (ENETUNREACH, EHOSTUNREACH), `HOST_UNREACH` from the gateway, as
    for TCP's connect; forbidden by the host's policy (EACCES, EPERM), `PROHIBITED` from the
    gateway; else (out of descriptors, buffers or memory: the datagram reached no socket)
    `PORT_UNREACH` from the destination.  The one rule of the PPP bearer's forwarder and the
    module stacks."""
    if error in UNREACHABLE_ERRNOS:
        return HOST_UNREACH
    if error in PROHIBITED_ERRNOS:
        return PROHIBITED
    return PORT_UNREACH


class _Stream(asyncio.Protocol):
    def __init__(self, owner: LoopSockets, sock: Socket) -> None:
        self.owner = owner
        self.sock = sock
        self.transport: asyncio.Transport | None = None
        self.closing = False  # closed by the modem: no callback
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: the interface, not the class, counts
        self.transport = cast(asyncio.Transport, transport)
        self.owner.streams.add(self)

    def data_received(self, data: bytes) -> None:
        tcp, sock = self.owner.tcp, self.sock
        self.owner.run(lambda: tcp.received(sock, data))

    def eof_received(self) -> bool | None:
        return False  # close our side too: a module has no half-open sockets

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.streams.discard(self)
        if not self.closing:
            tcp, sock = self.owner.tcp, self.sock
            self.owner.run(lambda: tcp.remote_closed(sock))


class _Incoming(_Stream):
    """A host program's connection to a server on the module: a `_Stream` once the stack took it."""

    def __init__(self, owner: LoopSockets, listener: Listener) -> None:
        self.owner = owner
        self.transport = None
        self.closing = False
        self.reading_paused = False
        self.listener = listener
        self.accepted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        owner, listener = self.owner, self.listener
        peer = transport.get_extra_info("peername") or ("127.0.0.1", 0)
        taken: list[Socket] = []

        def accept() -> None:
            sock = owner.tcp.accept(listener, str(peer[0]), int(peer[1]))
            if sock is not None:
                taken.append(sock)

        owner.run(accept)
        if not taken:
            self.closing = True
            transport.close()
            return
        self.sock = taken[0]
        self.sock.handle = self
        self.accepted = True
        super().connection_made(transport)
        owner._apply(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.accepted:
            super().connection_lost(exc)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: LoopSockets, sock: Socket) -> None:
        self.owner = owner
        self.sock = sock
        self.transport: asyncio.DatagramTransport | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector's is not a subclass
        self.owner.streams.add(self)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        tcp, sock = self.owner.tcp, self.sock
        self.owner.run(lambda: tcp.received(sock, data))

    def error_received(self, exc: Exception) -> None:
        log.debug("socket %d: %s", self.sock.sid, exc)  # ICMP unreachable: UDP loses the datagram
        tcp, sock = self.owner.tcp, self.sock
        self.owner.run(lambda: tcp.unreachable(sock))  # the ICMP message came down the APN all the same

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.streams.discard(self)


class LoopSockets:
    """`SocketIO` on an asyncio loop; `run(fn)` calls `fn` with the modem at the current time.  A TCP
    connect the endpoint never answers fails after `CONNECT_TIMEOUT_S` of the modem's clock, which
    runs `speed` times as fast as the loop's."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        tcp: TcpSockets,
        run: Callable[[Callable[[], None]], None],
        speed: float = 1.0,
    ) -> None:
        self.loop = loop
        self.connect_timeout = CONNECT_TIMEOUT_S / speed  # real seconds (`speed`: simulated per real)
        self.tcp = tcp
        self.run = run
        self.streams: set[_Stream | _Datagrams] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.servers: set[asyncio.AbstractServer] = set()
        self._binding: dict[asyncio.Task[None], socket.socket] = {}  # servers' sockets not yet served
        self.paused = False

    def connect(self, sock: Socket, host: str, port: int) -> None:
        task = self.loop.create_task(self._connect(sock, host, port))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        sock.handle = task

    async def _connect(self, sock: Socket, host: str, port: int) -> None:
        tcp = self.tcp
        proto: _Stream | _Datagrams
        try:
            if sock.proto == "TCP":
                _, proto = await asyncio.wait_for(
                    self.loop.create_connection(lambda: _Stream(self, sock), host, port), self.connect_timeout
                )
            else:
                _, proto = await self.loop.create_datagram_endpoint(
                    lambda: _Datagrams(self, sock), remote_addr=(host, port)
                )
        except (OSError, TimeoutError) as exc:
            log.info("socket %d: %s %s:%d: %s", sock.sid, sock.proto, host, port, exc)
            if sock.proto != "TCP" and isinstance(exc, OSError):
                # a module's UDP open sends nothing and cannot fail so: it opens, and each datagram
                # it sends is answered as the network answers one it cannot deliver
                code, retry = datagram_answer(exc.errno), exc.errno in TRANSIENT_ERRNOS
                self.run(lambda: tcp.undeliverable(sock, code, retry))
                return
            # an ICMP "destination unreachable" (no route); no answer at all when the module gave up
            # (or the host's connect timed out); else a reset: the endpoint's (ECONNREFUSED), or the
            # network's for a connection the host cannot make (out of sockets, forbidden), as the
            # PPP bearer's forwarder answers the device's SYN then
            unreachable = isinstance(exc, OSError) and exc.errno in UNREACHABLE_ERRNOS
            refused = not isinstance(exc, TimeoutError) and not unreachable
            self.run(lambda: tcp.failed(sock, refused, unreachable))
            return
        if tcp.sockets.get(sock.sid) is not sock:  # closed while connecting
            proto.closing = True
            if proto.transport is not None:
                proto.transport.close()
            return
        sock.handle = proto
        if isinstance(proto, _Stream):
            self._apply(proto)
        self.run(lambda: tcp.connected(sock))

    def send(self, sock: Socket, data: bytes) -> None:
        proto = sock.handle
        if isinstance(proto, _Stream) and proto.transport is not None and not proto.transport.is_closing():
            proto.transport.write(data)
        elif isinstance(proto, _Datagrams) and proto.transport is not None:
            proto.transport.sendto(data)

    def close(self, sock: Socket) -> None:
        handle = sock.handle
        sock.handle = None
        if isinstance(handle, asyncio.Task):
            handle.cancel()
        elif isinstance(handle, _Stream | _Datagrams):
            handle.closing = True
            if handle.transport is not None:
                handle.transport.close()

    def listen(self, listener: Listener) -> None:
        """Bind the port now (a client connecting before the loop serves it waits in the backlog)."""
        host, port = listener.route.host, listener.route.port
        listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind((host, port))
            listening.listen(MUX_BACKLOG)
            listening.setblocking(False)
        except OSError as exc:
            listening.close()
            log.warning("server %d: cannot serve %s:%d: %s", listener.lid, host, port, exc)
            return
        task = self.loop.create_task(self._serve(listener, listening))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._binding[task] = listening
        listener.handle = task

    async def _serve(self, listener: Listener, listening: socket.socket) -> None:
        task = asyncio.current_task()
        try:
            server = await self.loop.create_server(lambda: _Incoming(self, listener), sock=listening)
        except BaseException:
            listening.close()
            raise
        finally:
            if task is not None:
                self._binding.pop(task, None)
        if listener.handle is not task:  # closed while starting
            server.close()
            return
        listener.handle = server
        self.servers.add(server)

    def unlisten(self, listener: Listener) -> None:
        handle = listener.handle
        listener.handle = None
        if isinstance(handle, asyncio.Task):
            self._close_binding(handle)
            handle.cancel()
        elif isinstance(handle, asyncio.AbstractServer):
            self.servers.discard(handle)
            handle.close()

    def _close_binding(self, task: asyncio.Task[None]) -> None:
        """A server's socket bound but not yet served: closed (its task may never run)."""
        listening = self._binding.pop(task, None)
        if listening is not None:
            listening.close()

    def pause(self, sock: Socket, paused: bool) -> None:
        """One connection's data waits for the downlink (`sockets.WINDOW`): stop or resume reading it."""
        proto = sock.handle
        if isinstance(proto, _Stream):
            self._apply(proto)

    def pause_reading(self) -> None:
        """The DTE side is backed up: stop reading the servers until `resume_reading`."""
        if not self.paused:
            self.paused = True
            self._apply_all()

    def resume_reading(self) -> None:
        if self.paused:
            self.paused = False
            self._apply_all()

    def _apply_all(self) -> None:
        for proto in self.streams:
            if isinstance(proto, _Stream):
                self._apply(proto)

    def _apply(self, proto: _Stream) -> None:
        transport = proto.transport
        if transport is None or transport.is_closing():
            return
        want = self.paused or proto.sock.paused
        if want != proto.reading_paused:
            proto.reading_paused = want
            with contextlib.suppress(RuntimeError):
                if want:
                    transport.pause_reading()
                else:
                    transport.resume_reading()

    def close_all(self) -> None:
        for task in list(self._tasks):
            self._close_binding(task)
            task.cancel()
        for server in list(self.servers):
            server.close()
        self.servers.clear()
        for proto in list(self.streams):
            proto.closing = True
            if proto.transport is not None:
                proto.transport.abort()
        self.streams.clear()
