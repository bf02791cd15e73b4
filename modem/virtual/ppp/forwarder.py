"""The network side of the PPP bearer in user space: the device's IP packets to real host sockets.

Like slirp, the forwarder is every remote host the device talks to:

- ICMP echo requests are answered (for the network side's address, the DNS servers, and every
  destination the Internet table reaches); others get ICMP "communication administratively prohibited".
  ICMP errors to the device are rate-limited as Linux limits them, by the host that sends them
  (`gateway.icmplimit`): a port unreachable by the host itself, the others by the gateway; each no
  larger than 576 bytes or the sending host's path MTU to the device, without Don't Fragment.
- UDP to the DNS servers' port 53 is answered from the Internet table's names (A records; an unknown
  name is NXDOMAIN); other UDP goes to the endpoint the table routes it to (a host socket, or the
  built-in echo), answers come back as datagrams from the address the device sent to, and a host
  socket's ICMP error (nothing on the port) as "port unreachable" from it.  A host socket that cannot
  be made answers as Linux does (`Forwarder._udp_failed`): the datagram is dropped with an ICMP error.
- TCP is terminated here by a small TCP endpoint (SYN/ACK, in-order data, FIN/RST, the device's
  window, retransmission on RFC 6298's timer, delayed ACKs as the TCP model bills a server's,
  `TcpFlow._ack`) whose other end is a host socket (or the echo); a refused
  destination gets a RST, one the host has no route to ICMP "host unreachable".

Where a destination goes is the Internet table's answer (`gateway.internet`): the echo, a real
endpoint (loopback or an address the user allowed), or refused.

Host sockets need a running asyncio loop (the `serve` loop); without one, as in sans-IO tests, only
the echo, ICMP and DNS answer.  Every packet the forwarder writes goes through `deliver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from gateway.api import (
    ACK_DELAY_S,
    GATEWAY,
    RTO_MAX_S,
    IcmpHosts,
    Internet,
    Reassembly,
    RouteKind,
    add_fragment,
    measured_rto,
)
from modem.virtual.netio import PORT_UNREACH, TRANSIENT_ERRNOS, UNREACHABLE_ERRNOS, datagram_answer
from modem.virtual.ppp.cp import Cancel, Schedule
from modem.virtual.ppp.ip import (
    ACK,
    FIN,
    FRAG_NEEDED,
    ICMP,
    PSH,
    RST,
    SYN,
    TCP,
    UDP,
    build_icmp,
    build_tcp,
    build_udp,
    fragment,
    icmp_quote,
    is_fragment,
    parse_ipv4,
    parse_tcp,
    transport_ok,
    without_dont_fragment,
)

log = logging.getLogger(__name__)

RTO_S = 1.0  # the retransmission timeout before any round trip is measured (RFC 6298 2.1)
# once measured, the TCP model's (`gateway.wire.measured_rto`): at least RFC 6298 2.4's 1 s (above
# any delayed ACK of the device's; Linux goes down to the round trip and 200 ms), at most RTO_MAX_S
WINDOW = 65_535
HIGH_WATER = 256 * 1024  # bytes waiting for the device's window before the host socket stops being read
DNS_TTL = 60
HOST_MTU = 1500  # the link MTU of the hosts the forwarder stands for (Ethernet's)
# net.ipv4.route.min_pmtu: a Linux host takes no path MTU below it; told of a smaller one, it sends
# datagrams of this size without Don't Fragment, for routers to fragment (Linux 4.17 on)
MIN_PMTU = 552
# net.ipv4.route.mtu_expires: a path MTU learned from ICMP "fragmentation needed" (and the lock of one
# below MIN_PMTU) is forgotten this long after it was learned; the host then tries its link's MTU again
MTU_EXPIRES_S = 600.0
MAX_PATH_MTUS = 4096  # destinations whose path MTU a host remembers at once
REASSEMBLY_S = 30.0  # how long the fragments of a datagram wait for the others (Linux's ipfrag_time)
MAX_REASSEMBLING = 64  # datagrams being put together at once; the fragments of more are dropped
MAX_PIECES = 256  # fragments kept for one datagram (a 65,535-octet one in 576-octet frames: 120)
# UDP data held for a flow whose host endpoint is being made (Linux's unres_qlen_bytes: what a host
# keeps for a next hop not resolved yet); more is dropped
UDP_QUEUE_BYTES = 212_992


class Backend(Protocol):
    def write(self, data: bytes) -> None: ...

    def eof(self) -> None: ...

    def close(self) -> None: ...

    def buffered(self) -> int: ...

    def pause(self, paused: bool) -> None: ...


@dataclass(slots=True)
class EchoBackend:
    """The built-in echo server: what is written comes back."""

    flow: TcpFlow

    def write(self, data: bytes) -> None:
        self.flow.from_host(data)

    def eof(self) -> None:
        self.flow.host_eof()

    def close(self) -> None:
        pass

    def buffered(self) -> int:
        return 0

    def pause(self, paused: bool) -> None:
        pass


class HostBackend(asyncio.Protocol):
    """A host TCP socket behind a flow."""

    def __init__(self, flow: TcpFlow, run: Callable[[Callable[[], None]], None]) -> None:
        self.flow = flow
        self.run = run
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.run(lambda: self.flow.from_host(data))

    def eof_received(self) -> bool | None:
        self.run(self.flow.host_eof)
        return True  # keep the socket open for what the device still sends

    def connection_lost(self, exc: Exception | None) -> None:
        self.run(self.flow.host_lost)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def eof(self) -> None:
        if self.transport is not None and not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def pause(self, paused: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(RuntimeError):
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()


@dataclass(slots=True)
class TcpFlow:
    """One TCP connection of the device, terminated here."""

    fwd: Forwarder
    device: bytes
    dport_device: int  # the device's port
    remote: bytes
    rport: int
    rcv_nxt: int
    iss: int
    peer_mss: int
    peer_window: int
    snd_una: int = 0
    snd_nxt: int = 0
    backend: Backend | None = None
    established: bool = False
    pending: bytearray = field(default_factory=bytearray)  # from the host, not yet sent
    unacked: bytearray = field(default_factory=bytearray)  # sent, not yet acknowledged
    host_done: bool = False  # the host half-closed: a FIN follows the pending data
    fin_sent: bool = False
    peer_fin: bool = False
    closed: bool = False
    paused: bool = False
    timer: Cancel | None = None
    syn: bytes = b""  # the device's SYN as it came: what an ICMP error about the connect quotes
    rto: float = RTO_S  # the retransmission timeout now (RFC 6298): measured, doubled on each expiry
    srtt: float | None = None  # the smoothed round trip (None: none measured yet)
    rttvar: float = 0.0
    # the segments in flight: (the sequence number that ends each, when it was sent; None: sent again)
    flight: deque[tuple[int, float | None]] = field(default_factory=deque)
    ack_owed: bool = False  # the device's data or FIN came and no segment has acknowledged it yet
    rcv_unacked: int = 0  # the octets of it
    ack_timer: Cancel | None = None  # the delayed ACK's
    # the device has acknowledged the SYN-ACK (before, `snd_una` is the SYN's, the data after it)
    syn_acked: bool = False

    @property
    def key(self) -> tuple[int, bytes, int]:
        return (self.dport_device, self.remote, self.rport)

    def segment(
        self, flags: int, seq: int, data: bytes = b"", mss: int | None = None, window: int | None = None
    ) -> None:
        """A segment to the device; its window is what the host end has not taken yet, unless given.
        It carries the ACK of everything received: a delayed ACK owed goes with it."""
        self.ack_owed, self.rcv_unacked = False, 0
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        if window is None:
            window = max(0, WINDOW - (self.backend.buffered() if self.backend is not None else 0))
        self.fwd.emit(
            build_tcp(
                self.remote,
                self.device,
                self.rport,
                self.dport_device,
                seq,
                self.rcv_nxt,
                flags,
                window,
                data,
                mss,
                self.fwd.ident(),
            )
        )

    def accept(self) -> None:
        """The host end is there: SYN-ACK."""
        self.established = True
        self.snd_una = self.iss
        self.snd_nxt = self.iss + 1
        self.segment(SYN | ACK, self.iss, mss=self.fwd.mss)
        self.flight.append((self.snd_nxt, self.fwd.now()))  # the handshake's round trip, as Linux's

    def refuse(self) -> None:
        self.segment(RST | ACK, 0, window=0)
        self.finish()

    def unreachable(self) -> None:
        """The host has no route to the far end (its connect failed with EHOSTUNREACH or
        ENETUNREACH): the device gets ICMP "host unreachable" for its SYN, as from a router."""
        self.fwd.unreachable(self.remote, 1, self.syn, GATEWAY)
        self.finish()

    def from_device(self, tcp: Any) -> None:
        if tcp.flags & RST:
            self.finish()
            return
        if tcp.flags & SYN:
            if self.established and tcp.seq + 1 == self.rcv_nxt:
                self.segment(SYN | ACK, self.iss, mss=self.fwd.mss)  # our SYN-ACK was lost
                if self.flight and self.snd_una == self.iss:
                    self.flight[0] = (self.flight[0][0], None)  # (no round trip from it: Karn)
            return
        if not self.established:
            return
        if tcp.flags & ACK:
            self._acked(tcp.ack, tcp.window)
        data = tcp.data
        if tcp.seq != self.rcv_nxt:
            if data or tcp.flags & FIN:
                self.segment(ACK, self.snd_nxt)  # out of order or a repeat: say what is expected
            return
        if data:
            self.rcv_nxt = (self.rcv_nxt + len(data)) & 0xFFFFFFFF
            self.fwd.bytes_from_device += len(data)
        if tcp.flags & FIN and not self.peer_fin:
            self.peer_fin = True
            self.rcv_nxt = (self.rcv_nxt + 1) & 0xFFFFFFFF
        if data or tcp.flags & FIN:
            self._ack(len(data), at_once=bool(tcp.flags & FIN) and self.fin_sent)
            if data and self.backend is not None:
                self.backend.write(data)
            if tcp.flags & FIN and self.backend is not None:
                self.backend.eof()
        self._maybe_done()

    def _ack(self, n: int, at_once: bool = False) -> None:
        """The device's `n` octets (or its FIN) came in order: acknowledged as a Linux server's stack
        does outside its quick-ACK mode, and as the module stacks' model bills the server's ACKs
        (`gateway.wire.TcpWire`): at once when more than one full segment (the device's MSS) is
        unacknowledged, or when the device's FIN answers this end's (`at_once`: the last ACK of a
        close), else by the next segment the host end's answer or FIN sends within `ACK_DELAY_S`,
        or alone then.  (Every segment was acknowledged at once by a pure ACK before: an upload
        was billed a 40-byte ACK per segment down, twice what the server's stack sends, and each
        answer of a request / response exchange 40 bytes more than the same exchange made by a
        module's stack.)"""
        self.rcv_unacked += n
        self.ack_owed = True
        if at_once or self.rcv_unacked > self.peer_mss:
            self.segment(ACK, self.snd_nxt)
        elif self.ack_timer is None:
            self.ack_timer = self.fwd.schedule(ACK_DELAY_S, self._delayed_ack)

    def _delayed_ack(self) -> None:
        self.ack_timer = None
        if self.ack_owed and not self.closed:
            self.segment(ACK, self.snd_nxt)

    def _acked(self, ack: int, window: int) -> None:
        """The device's ACK: what it covers is done with.  Its round trip, from the oldest segment
        it covers, sets the retransmission timeout (RFC 6298 2.2-2.3, as Linux measures it), unless
        it covers a segment sent again (Karn: the timeout an expiry doubled is kept until then)."""
        self.peer_window = window
        n = (ack - self.snd_una) & 0xFFFFFFFF
        if 0 < n <= (self.snd_nxt - self.snd_una) & 0xFFFFFFFF:
            # (the SYN's sequence number is no data: an ACK of the SYN alone that came after the
            # host end's first data had left took the first octet of it as acknowledged)
            data_acked = min(n - (0 if self.syn_acked else 1), len(self.unacked))
            self.syn_acked = True
            del self.unacked[:data_acked]
            self.snd_una = ack
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            flight, first, again = self.flight, None, False
            while flight and (ack - flight[0][0]) & 0xFFFFFFFF < 0x80000000:  # ends at or before it
                sent_at = flight.popleft()[1]
                again = again or sent_at is None
                first = sent_at if first is None else first
            if first is not None and not again:
                self._measured(self.fwd.now() - first)
        self.push()

    def _measured(self, rtt: float) -> None:
        self.srtt, self.rttvar, self.rto = measured_rto(self.srtt, self.rttvar, rtt)

    def _resend(self) -> None:
        """The first unacknowledged segment sent again (with the FIN when it is the last); the
        SYN-ACK while the device has not acknowledged it, as Linux does (data sent again at the
        SYN's sequence number would be read shifted by one octet by a device whose SYN-ACK came)."""
        if not self.syn_acked:
            self.segment(SYN | ACK, self.iss, mss=self.fwd.mss)
            if self.flight:
                self.flight[0] = (self.flight[0][0], None)
            return
        seg = bytes(self.unacked[: self.peer_mss])
        fin = FIN if self.fin_sent and len(seg) == len(self.unacked) else 0
        if seg or fin:
            self.segment(ACK | (PSH if seg else 0) | fin, self.snd_una, seg)
        if self.flight:
            self.flight[0] = (self.flight[0][0], None)

    def from_host(self, data: bytes) -> None:
        if self.closed:
            return
        self.pending += data
        self.push()
        if len(self.pending) > HIGH_WATER and not self.paused and self.backend is not None:
            self.paused = True
            self.backend.pause(True)

    def host_eof(self) -> None:
        self.host_done = True
        self.push()

    def host_lost(self) -> None:
        if not self.closed and not (self.host_done and self.peer_fin):
            self.host_done = True
            self.push()

    def push(self) -> None:
        if self.closed or not self.established:
            return
        mss = self.peer_mss
        while self.pending:
            in_flight = len(self.unacked)
            room = self.peer_window - in_flight
            if room <= 0:
                break
            seg = bytes(self.pending[: min(mss, room)])
            del self.pending[: len(seg)]
            self.unacked += seg
            # the host end closed with this data still to send: its FIN rides on the last segment,
            # as Linux's tcp_send_fin puts it on the data not sent yet (it went alone before)
            fin = FIN if self.host_done and not self.pending and not self.fin_sent else 0
            self.segment(ACK | PSH | fin, self.snd_nxt, seg)
            self.snd_nxt = (self.snd_nxt + len(seg) + (1 if fin else 0)) & 0xFFFFFFFF
            self.flight.append((self.snd_nxt, self.fwd.now()))
            self.fin_sent = self.fin_sent or bool(fin)
            self.fwd.bytes_to_device += len(seg)
        if self.paused and len(self.pending) < HIGH_WATER // 2 and self.backend is not None:
            self.paused = False
            self.backend.pause(False)
        if self.host_done and not self.pending and not self.fin_sent:
            self.fin_sent = True
            self.segment(FIN | ACK, self.snd_nxt)
            self.snd_nxt = (self.snd_nxt + 1) & 0xFFFFFFFF
        if self.timer is None and (self.snd_nxt != self.snd_una or self.pending):
            # unacknowledged data to retransmit, or data held back by a zero window to probe
            self.timer = self.fwd.schedule(self.rto, self._retransmit)
        self._maybe_done()

    def _retransmit(self) -> None:
        """The retransmission timer ran out: the first unacknowledged segment is sent again, and
        the timeout doubled (RFC 6298 5.4-5.6); the rest follows as the window allows.  (It
        went back to the first unacknowledged octet and sent the whole window again every second,
        and took no ACK of what it had sent before: over the `gsm` link's 9.6 kbit/s, where a 10 kB
        answer takes 8.5 s to cross, the answer was billed 50,824 B down.)"""
        self.timer = None
        if self.closed:
            return
        if self.snd_nxt == self.snd_una:
            if self.pending and self.peer_window == 0:  # window probe (RFC 9293 3.8.6.1): one octet
                self.peer_window = 1
                self.push()
            return
        self.rto = min(self.rto * 2, RTO_MAX_S)
        self._resend()
        self.timer = self.fwd.schedule(self.rto, self._retransmit)

    def _maybe_done(self) -> None:
        if self.fin_sent and self.peer_fin and self.snd_una == self.snd_nxt:
            self.finish()

    def finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        if self.backend is not None:
            self.backend.close()
        self.fwd.tcp.pop(self.key, None)


def host_udp_socket(host: str, port: int) -> socket.socket:
    """A host UDP socket connected to `host`:`port` (an IP address), made at once: what fails here
    (EMFILE, ENETUNREACH, EACCES ...) fails for the datagram that asked for it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(
        self,
        on_data: Callable[[bytes], None],
        run: Callable[[Callable[[], None]], None],
        on_error: Callable[[bytes], None],
    ) -> None:
        self.on_data = on_data
        self.run = run
        self.on_error = on_error  # the host's ICMP error for the device's datagram given
        self.transport: asyncio.DatagramTransport | None = None
        # (datagram, its quote) sent before the endpoint is there, at most UDP_QUEUE_BYTES of data
        self.queue: list[tuple[bytes, bytes]] = []
        self.queued = 0
        self.last = b""  # what an ICMP error about the device's last datagram sent here quotes
        # the endpoint cannot be made (a lasting error): the ICMP error (code, sender) every datagram gets
        self.failed: tuple[int, bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        for d, _ in self.queue:
            self.transport.sendto(d)
        self.queue.clear()
        self.queued = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.run(lambda: self.on_data(data))

    def error_received(self, exc: Exception) -> None:
        # an ICMP error came back for a datagram (ECONNREFUSED: nothing on the port), as for the
        # module stacks' sockets (`modem.virtual.netio`): the device gets it too
        log.debug("UDP to a host endpoint: %s", exc)
        last = self.last
        self.run(lambda: self.on_error(last))

    def send(self, data: bytes, quote: bytes) -> bool:
        """False when the datagram is dropped: the endpoint is not there yet and its queue is full."""
        if self.transport is None:
            if self.queued + len(data) > UDP_QUEUE_BYTES:
                return False
            self.queue.append((data, quote))
            self.queued += len(data)
        else:
            self.transport.sendto(data)
        self.last = quote
        return True


class KernelPath(Protocol):
    """A way past the forwarder into a kernel's network (`modem.virtual.ppp.tun.TunPath`)."""

    def takes(self, packet_bytes: bytes) -> bool:
        """Whether the packet went that way (else the forwarder serves it)."""
        ...

    def close(self) -> None: ...


class Forwarder:
    """The device's IP packets in (`from_device`), the answers out (`deliver`); with a `kernel`
    path, the packets it takes go there instead."""

    def __init__(
        self,
        device: bytes,
        own: bytes,
        dns: tuple[bytes, ...],
        internet: Internet,
        deliver: Callable[[bytes], None],
        schedule: Schedule,
        run: Callable[[Callable[[], None]], None] | None = None,
        mss: int = 1460,
        seed: int = 0,
        *,
        now: Callable[[], float],
        icmp: IcmpHosts | None = None,
        icmp_held: list[int] | None = None,
    ) -> None:
        self.device = device
        self.own = own
        self.dns = dns
        self.internet = internet
        self.deliver = deliver
        self.schedule = schedule
        self.now = now  # the modem's clock: read, never waited on
        # the ICMP errors the hosts send the device are limited as Linux limits them, each host's own
        self.icmp = icmp if icmp is not None else IcmpHosts()
        # those errors by `IcmpRateLimit.verdict`: sent, held back per destination, held back globally
        self.icmp_held = icmp_held if icmp_held is not None else [0, 0, 0]
        self.run: Callable[[Callable[[], None]], None] = run or (lambda fn: fn())
        self.mss = mss
        self._ident = seed & 0xFFFF
        self._iss = (seed * 2_654_435_761) & 0xFFFFFFFF
        self._routes: dict[tuple[bytes, int], tuple[str, str, int]] = {}
        self.tcp: dict[tuple[int, bytes, int], TcpFlow] = {}
        self.udp: dict[tuple[int, bytes, int], _Datagrams] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.kernel: KernelPath | None = None
        self.path_mtu: dict[bytes, int] = {}  # remote address -> the MTU ICMP "fragmentation needed" gave
        self.path_mtu_locked: set[bytes] = set()  # those told of a path MTU below MIN_PMTU
        self.path_mtu_expires: dict[bytes, float] = {}  # remote address -> when its path MTU goes
        # the device's fragmented datagrams being put together, as their destination host does
        self._fragments: Reassembly[tuple[bytes, bytes, int, int]] = Reassembly(
            REASSEMBLY_S, MAX_REASSEMBLING, MAX_PIECES, on_given_up=lambda _: self._drop()
        )
        self._fragments_timer: Cancel | None = None
        self.dropped = 0
        self.bytes_from_device = 0  # TCP payload octets
        self.bytes_to_device = 0

    def ident(self) -> int:
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    def emit(self, packet_bytes: bytes) -> None:
        self.deliver(packet_bytes)

    def emit_datagram(self, packet_bytes: bytes) -> None:
        """A datagram (UDP, an ICMP answer) the remote host sends: as one packet when it fits the
        path's MTU (the host's link, or what ICMP "fragmentation needed" said), else fragmented by
        the host, as a host fragments what exceeds the path MTU it knows (RFC 1191 3); without Don't
        Fragment once told of a path MTU below `MIN_PMTU` (`_path_mtu`).  A path MTU is known for
        `MTU_EXPIRES_S` (Linux's `mtu_expires`), then forgotten: the host sends at its link's MTU
        again and learns the path's anew (`_known_mtu`)."""
        src = packet_bytes[12:16]
        mtu = HOST_MTU
        if self.path_mtu:
            mtu = self._known_mtu(src)
            if src in self.path_mtu_locked:
                packet_bytes = without_dont_fragment(packet_bytes)
        for piece in fragment(packet_bytes, mtu):
            self.deliver(piece)

    def _known_mtu(self, dst: bytes) -> int:
        """The path MTU host `dst` sends to the device with now: what ICMP "fragmentation needed"
        told it, until `MTU_EXPIRES_S` after (Linux's `ipv4_mtu`: the route exception's MTU while
        `jiffies` is before its `expires`, the exception, its lock too, deleted after); else its
        link's."""
        mtu = self.path_mtu.get(dst)
        if mtu is None:
            return HOST_MTU
        if self.now() >= self.path_mtu_expires[dst]:
            self._forget_mtu(dst)
            return HOST_MTU
        return min(HOST_MTU, mtu)

    def _forget_mtu(self, dst: bytes) -> None:
        del self.path_mtu[dst]
        del self.path_mtu_expires[dst]
        self.path_mtu_locked.discard(dst)

    # ----- routing ------------------------------------------------------------------------------

    def route(self, dst: bytes, port: int) -> tuple[str, str, int]:
        """('local' | 'echo' | 'connect' | 'refused', host, port) for a destination of the device."""
        known = self._routes.get((dst, port))
        if known is not None:
            return known
        if dst == self.own or dst in self.dns:
            answer = ("local", "", port)
        else:
            route = self.internet.route(str(ipaddress.IPv4Address(dst)), port)
            if route.kind is RouteKind.ECHO:
                answer = ("echo", "", port)
            elif route.kind is RouteKind.CONNECT:
                answer = ("connect", route.host, route.port)
            else:
                answer = ("refused", "", port)
        if len(self._routes) < 4096:  # the table does not change while the bearer is up
            self._routes[(dst, port)] = answer
        return answer

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    # ----- packets from the device ----------------------------------------------------------------

    def from_device(self, packet_bytes: bytes) -> None:
        if self.kernel is not None and self.kernel.takes(packet_bytes):
            return
        if len(packet_bytes) >= 20 and is_fragment(packet_bytes):
            whole = self._reassembled(packet_bytes)
            if whole is None:
                return
            packet_bytes = whole
        ip = parse_ipv4(packet_bytes)
        if ip is None or ip.src != self.device:
            self.dropped += 1  # the gateway's source check drops another address first
            return
        if ip.proto == ICMP:
            self._icmp(ip.dst, ip.payload, packet_bytes)
        elif ip.proto == UDP and len(ip.payload) >= 8 and transport_ok(ip):
            sport, dport = struct.unpack("!HH", ip.payload[:4])
            self._udp(ip.dst, sport, dport, ip.payload[8:], packet_bytes)
        elif ip.proto == TCP and transport_ok(ip):
            tcp = parse_tcp(ip.payload)
            if tcp is None:
                self.dropped += 1
                return
            self._tcp(ip.dst, tcp, packet_bytes)
        else:
            self.dropped += 1

    def _reassembled(self, piece: bytes) -> bytes | None:
        """The device's datagram `piece` is a fragment of, once all have come; None until then
        (or when too many datagrams or fragments are being put together: the fragment is dropped)."""
        fragments = self._fragments
        refused = fragments.refused
        whole = add_fragment(fragments, self.now(), piece)
        self.dropped += fragments.refused - refused
        if self._fragments_timer is None:
            self._expire_fragments()
        return whole

    def _expire_fragments(self, at: float | None = None) -> None:
        """Datagrams whose fragments did not all come in time are dropped, as a host drops them;
        the timer is set again for the next one's time."""
        self._fragments_timer = None
        if at is not None:
            self._fragments.expire(at)
        deadline = self._fragments.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.now())
            self._fragments_timer = self.schedule(delay, lambda: self._expire_fragments(deadline))

    def _drop(self) -> None:
        self.dropped += 1

    def _icmp(self, dst: bytes, body: bytes, original: bytes) -> None:
        if len(body) >= 8 and body[0] == 3 and body[1] == FRAG_NEEDED:
            # from the modem, about a datagram of `dst` too big for the device's MRU (RFC 1191):
            # that host sends smaller ones from now on
            self._path_mtu(dst, int.from_bytes(body[6:8], "big"))
            return
        if len(body) < 8 or body[0] != 8:
            self.dropped += 1
            return
        kind, _, _ = self.route(dst, 0)
        if kind == "refused":
            self.unreachable(dst, 13, original, GATEWAY)
            return
        # a host's echo reply goes without Don't Fragment (Linux's ICMP socket): fragmented if need be
        self.emit_datagram(build_icmp(dst, self.device, 0, 0, body[4:], self.ident(), df=False))

    def _path_mtu(self, dst: bytes, mtu: int) -> None:
        """What host `dst` does with ICMP "fragmentation needed" saying `mtu`, as Linux does
        (`__ip_rt_update_pmtu`): a path MTU is only lowered; one below `MIN_PMTU` (the device's MRU
        under 552) is taken as `MIN_PMTU` and locked, and the host's datagrams then go without
        Don't Fragment, for the router before the small link, the modem, to fragment (Linux 4.17
        on; before, it kept Don't Fragment and the router dropped every such datagram).  What is
        learned goes `MTU_EXPIRES_S` later (`mtu_expires`; the same MTU told again puts that off
        only once half that time has gone, a locked one is not put off: `__ip_rt_update_pmtu`)."""
        now = self.now()
        known = self._known_mtu(dst)  # (one expired is gone first)
        if dst in self.path_mtu_locked or mtu > known:
            return
        if dst not in self.path_mtu and len(self.path_mtu) >= MAX_PATH_MTUS:
            for gone in [d for d, at in self.path_mtu_expires.items() if now >= at]:
                self._forget_mtu(gone)
            if len(self.path_mtu) >= MAX_PATH_MTUS:
                return
        lock = mtu < MIN_PMTU
        if lock:
            mtu = min(known, MIN_PMTU)
            self.path_mtu_locked.add(dst)
        elif self.path_mtu.get(dst) == mtu and now < self.path_mtu_expires[dst] - MTU_EXPIRES_S / 2:
            return
        self.path_mtu[dst] = mtu
        self.path_mtu_expires[dst] = now + MTU_EXPIRES_S

    def unreachable(self, dst: bytes, code: int, original: bytes, sender: bytes) -> None:
        """ICMP destination unreachable (`code`) for the device's packet `original` (or what is
        kept of it, `icmp_quote`), quoting as much of it as fits in 576 bytes, as Linux's
        `icmp_send` does (RFC 1812 4.3.2.3; `gateway.wire.icmp_error_size`, as the module stacks
        bill theirs): a 52-byte SYN's 80 bytes, a 90-byte datagram's 118, as the kernel behind a
        TUN bearer answers the same packet; from a host that knows a smaller path MTU to the device
        (552 once told of an MRU under it), no larger than that, as Linux caps it by the route's
        MTU.  Without Don't Fragment, as Linux sends it: the modem cuts it to a smaller MRU.  Not
        sent past the Linux rate limits of the host that sends it, `sender`
        (`gateway.icmplimit`: the destination `dst` itself for a port unreachable, `GATEWAY` for
        the network's answers): six at once to the device, then one a second, from each host."""
        verdict = self.icmp.verdict(self.now(), sender, self.device, 3, code)
        self.icmp_held[verdict] += 1
        if verdict:
            return  # (as a Linux host: icmp_ratelimit, icmp_msgs_per_sec)
        mtu = self._known_mtu(dst) if sender == dst and self.path_mtu else HOST_MTU
        quote = icmp_quote(original, mtu)
        self.emit(build_icmp(dst, self.device, 3, code, bytes(4) + quote, self.ident(), df=False))

    def _udp(self, dst: bytes, sport: int, dport: int, data: bytes, original: bytes) -> None:
        kind, host, port = self.route(dst, dport)

        def back(payload: bytes) -> None:
            self.emit_datagram(build_udp(dst, self.device, dport, sport, payload, self.ident()))

        if kind == "local":
            if dst in self.dns and dport == 53:
                answer = self._dns(data)
                if answer is not None:
                    back(answer)
                return
            self.unreachable(dst, 3, original, dst)  # (from that host: nothing on the port)
            return
        if kind == "echo":
            back(data)
            return
        loop = self._loop()
        if kind == "refused" or loop is None:
            self.unreachable(dst, 13, original, GATEWAY)
            return
        key = (sport, dst, dport)
        proto = self.udp.get(key)
        if proto is None:
            proto = self._udp_endpoint(loop, key, host, port, back, original)
            if proto is None:
                return
        if proto.failed is not None:
            self._udp_unreachable(dst, proto.failed, [icmp_quote(original)])
        elif not proto.send(data, icmp_quote(original)):
            self.dropped += 1

    def _udp_endpoint(
        self,
        loop: asyncio.AbstractEventLoop,
        key: tuple[int, bytes, int],
        host: str,
        port: int,
        back: Callable[[bytes], None],
        original: bytes,
    ) -> _Datagrams | None:
        """The flow `key`'s host endpoint, its socket made now; None when that failed (the device's
        datagram `original` got the ICMP error)."""
        dst = key[1]
        try:
            sock = host_udp_socket(host, port)
        except OSError as exc:
            self._udp_failed(key, exc, [icmp_quote(original)])
            return None
        proto = self.udp[key] = _Datagrams(back, self.run, lambda sent: self._refused_by_host(dst, sent))
        self._spawn(self._serve_udp(loop, key, proto, sock))
        return proto

    async def _serve_udp(
        self,
        loop: asyncio.AbstractEventLoop,
        key: tuple[int, bytes, int],
        proto: _Datagrams,
        sock: socket.socket,
    ) -> None:
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        except asyncio.CancelledError:
            sock.close()  # the bearer ended first
            raise
        except OSError as exc:
            error = exc  # (`exc` is gone after the except clause, before `failed` runs)
            sock.close()
            quotes = [quote for _, quote in proto.queue]
            proto.queue.clear()
            proto.queued = 0

            def failed() -> None:
                if self.udp.get(key) is proto:
                    self._udp_failed(key, error, quotes)

            self.run(failed)
            return
        if self.udp.get(key) is not proto:
            transport.close()  # the bearer ended while it was made

    def _udp_failed(self, key: tuple[int, bytes, int], exc: OSError, quotes: list[bytes]) -> None:
        """The host endpoint of UDP flow `key` could not be made: the datagrams waiting for it
        (`quotes`: what ICMP quotes of each) are dropped, and each is answered as a Linux host or
        router answers (within the ICMP limits of the host sending it): no route, "host unreachable"
        from the gateway (as TCP's connect); forbidden by the host's policy, "administratively
        prohibited" from the gateway; else (out of sockets or memory: the datagram reached no socket)
        "port unreachable" from the destination.  Out of resources, the next datagram tries again;
        otherwise the flow keeps its answer while the bearer is up."""
        dst = key[1]
        code = datagram_answer(exc.errno)  # (the module stacks' rule too)
        answer = (code, dst if code == PORT_UNREACH else GATEWAY)
        log.info("PPP: UDP to %s:%d: no host endpoint: %s", ipaddress.IPv4Address(dst), key[2], exc)
        if exc.errno in TRANSIENT_ERRNOS:
            self.udp.pop(key, None)
        else:
            failed = self.udp[key] = _Datagrams(lambda _: None, self.run, lambda _: None)
            failed.failed = answer
        self._udp_unreachable(dst, answer, quotes)

    def _udp_unreachable(self, dst: bytes, answer: tuple[int, bytes], quotes: list[bytes]) -> None:
        """The device's datagrams `quotes` are dropped, each answered ICMP `answer` (code, sender)."""
        code, sender = answer
        self.dropped += len(quotes)
        for quote in quotes:
            self.unreachable(dst, code, quote, sender)

    def _refused_by_host(self, dst: bytes, original: bytes) -> None:
        """The real endpoint behind `dst` answered the device's datagram `original` with an ICMP
        error (nothing on its port): the device gets "port unreachable" from `dst`, within that
        host's rate limits, as the module stacks bill it (`TcpSockets.unreachable`).  It got
        nothing before."""
        if original:
            self.unreachable(dst, 3, original, dst)

    def _dns(self, query: bytes) -> bytes | None:
        """The answer to a DNS query for an A record, from the Internet table's names."""
        if len(query) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        if flags & 0x8000 or qd != 1:
            return None
        labels = []
        i = 12
        while i < len(query) and query[i]:
            n = query[i]
            labels.append(query[i + 1 : i + 1 + n].decode("latin-1"))
            i += 1 + n
        if i + 5 > len(query):
            return None
        question = query[12 : i + 5]
        qtype = int.from_bytes(query[i + 1 : i + 3], "big")
        name = ".".join(labels)
        address = self.internet.resolve(name)
        rd = flags & 0x0100
        if address is None or ":" in address:
            return struct.pack("!HHHHHH", qid, 0x8180 | rd | 3, 1, 0, 0, 0) + question  # NXDOMAIN
        if qtype != 1:
            return struct.pack("!HHHHHH", qid, 0x8180 | rd, 1, 0, 0, 0) + question  # no data of that type
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, DNS_TTL, 4) + ipaddress.IPv4Address(address).packed
        return struct.pack("!HHHHHH", qid, 0x8180 | rd, 1, 1, 0, 0) + question + answer

    def _tcp(self, dst: bytes, tcp: Any, original: bytes) -> None:
        key = (tcp.sport, dst, tcp.dport)
        flow = self.tcp.get(key)
        if flow is not None:
            flow.from_device(tcp)
            return
        if tcp.flags & RST:
            return
        if not tcp.flags & SYN or tcp.flags & ACK:
            seq = tcp.ack if tcp.flags & ACK else 0
            ack = (tcp.seq + len(tcp.data) + (1 if tcp.flags & FIN else 0)) & 0xFFFFFFFF
            self.emit(
                build_tcp(dst, self.device, tcp.dport, tcp.sport, seq, ack, RST | ACK, 0, ident=self.ident())
            )
            return
        self._iss = (self._iss + 64_000) & 0xFFFFFFFF
        flow = TcpFlow(
            self,
            self.device,
            tcp.sport,
            dst,
            tcp.dport,
            (tcp.seq + 1) & 0xFFFFFFFF,
            self._iss,
            min(tcp.mss or 536, self.mss),
            tcp.window,
        )
        flow.syn = original
        kind, host, port = self.route(dst, tcp.dport)
        loop = self._loop()
        if kind == "echo":
            self.tcp[key] = flow
            flow.backend = EchoBackend(flow)
            flow.accept()
        elif kind == "connect" and loop is not None:
            self.tcp[key] = flow
            self._spawn(self._connect(loop, flow, host, port))
        else:
            flow.refuse()

    async def _connect(self, loop: asyncio.AbstractEventLoop, flow: TcpFlow, host: str, port: int) -> None:
        backend = HostBackend(flow, self.run)
        try:
            await loop.create_connection(lambda: backend, host, port)
        except OSError as exc:
            log.info("PPP: TCP to %s:%d refused by the host: %s", host, port, exc)
            # no route to it: ICMP host unreachable, as the module stacks bill it; nothing ever
            # answered (the host's SYNs timed out): no answer either, as the network sends none
            # (the device's stack retransmits its SYN until it gives up, each one billed, as the
            # module stacks bill theirs); else a reset
            if exc.errno == errno.ETIMEDOUT:
                self.run(flow.finish)
                return
            self.run(flow.unreachable if exc.errno in UNREACHABLE_ERRNOS else flow.refuse)
            return
        if flow.closed:
            backend.close()
            return
        flow.backend = backend
        self.run(flow.accept)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """The bearer ended: every flow and host socket goes (and the kernel path)."""
        if self._fragments_timer is not None:
            self._fragments_timer.cancel()
            self._fragments_timer = None
        self._fragments.clear()
        if self.kernel is not None:
            self.kernel.close()
            self.kernel = None
        for flow in list(self.tcp.values()):
            flow.finish()
        for proto in self.udp.values():
            if proto.transport is not None:
                proto.transport.close()
        self.udp.clear()
        for task in self._tasks:
            task.cancel()
