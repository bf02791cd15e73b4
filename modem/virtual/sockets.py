"""Sockets of the modules' own TCP/IP stacks, connected to an echo server on the network side.

Every byte goes through the gateway (`netlink.NetLink.count`, which models
TCP/IP headers).  Timing, in simulated seconds: a connection is up
`CONNECT_S` after it is asked for; what is sent comes back `RTT_S` later.
UDP: 28 B of IPv4+UDP header per datagram each way, no handshake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual.netlink import Context

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

CONNECT_S = 0.2
RTT_S = 0.1
UDP_HEADER = 28


@dataclass(slots=True)
class Socket:
    sid: int
    proto: str  # "TCP" or "UDP"
    host: str
    port: int
    ctx: Context
    connected: bool = False
    rx: bytearray = field(default_factory=bytearray)
    sent: int = 0
    received: int = 0
    timers: list[Timer] = field(default_factory=list)
    on_lost: Callable[[Socket], None] | None = None


@dataclass(slots=True)
class TcpSockets:
    modem: VirtualModem
    sockets: dict[int, Socket] = field(default_factory=dict)

    def open(
        self,
        sid: int,
        proto: str,
        host: str,
        port: int,
        ctx: Context,
        on_up: Callable[[Socket], None],
        on_lost: Callable[[Socket], None] | None = None,
    ) -> Socket:
        """Connect socket `sid`; `on_up` runs when connected, `on_lost` if the network drops it."""
        sock = Socket(sid, proto.upper(), host, port, ctx, on_lost=on_lost)
        self.sockets[sid] = sock

        def up() -> None:
            if self.sockets.get(sid) is not sock:
                return
            sock.connected = True
            if sock.proto == "TCP":
                self.modem.net.tcp_connect(ctx)
            on_up(sock)

        sock.timers.append(self.modem.schedule(CONNECT_S, up))
        return sock

    def send(self, sock: Socket, data: bytes, on_rx: Callable[[Socket, bytes], None]) -> None:
        """`data` leaves now; the echo server's copy arrives RTT_S later."""
        net = self.modem.net
        n = len(data)
        sock.sent += n
        if sock.proto == "TCP":
            net.tcp_echo(sock.ctx, n)
        else:
            net.count(sock.ctx, n + UDP_HEADER, n + UDP_HEADER, payload_up=n, payload_down=n)

        def arrive() -> None:
            if self.sockets.get(sock.sid) is not sock or not sock.connected:
                return
            sock.received += n
            on_rx(sock, data)

        sock.timers.append(self.modem.schedule(RTT_S, arrive))

    def close(self, sock: Socket) -> None:
        for t in sock.timers:
            t.cancel()
        if sock.connected and sock.proto == "TCP" and sock.ctx.active:
            self.modem.net.tcp_close(sock.ctx)
        sock.connected = False
        self.sockets.pop(sock.sid, None)

    def close_context(self, ctx: Context) -> None:
        for sock in [s for s in self.sockets.values() if s.ctx is ctx]:
            self.close(sock)

    def lost(self) -> None:
        """Coverage or the PDP context went away: sockets close without a teardown on the air."""
        for sock in list(self.sockets.values()):
            for t in sock.timers:
                t.cancel()
            sock.connected = False
            self.sockets.pop(sock.sid, None)
            if sock.on_lost is not None:
                sock.on_lost(sock)
