"""A device on the virtual modem's PPP bearer, sans-IO: the project's own PPP client (role "device")
and a minimal TCP client, pumped against a VirtualModem in simulated time."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from accounting.wire import ACK_DELAY_S, MSS
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.ip import ACK, FIN, PSH, RST, SYN, TCP, build_icmp, build_tcp, parse_ipv4, parse_tcp
from modem.virtual.ppp.link import PppLink


class _NoTimer:
    def cancel(self) -> None:
        pass


def no_timers(delay: float, fn: Callable[[], None]) -> _NoTimer:
    """The device's restart timers never fire: the line loses nothing."""
    return _NoTimer()


class Device:
    def __init__(self, m: VirtualModem, **link: Any) -> None:
        self.m = m
        self.queue: list[bytes] = []
        self.received: list[bytes] = []  # IP packets from the network
        self.sent: list[bytes] = []
        self.finished: list[str] = []
        self.text = bytearray()  # what the modem sent that is not PPP (result codes after the bearer)
        self.link = PppLink(
            "device",
            self.queue.append,
            no_timers,
            random.Random(7),
            on_ip=self.received.append,
            on_finished=self.finished.append,
            **link,
        )

    def pump(self, rounds: int = 200) -> None:
        """Bytes both ways until both sides are quiet (timers due now included)."""
        m = self.m
        for _ in range(rounds):
            m.poll(m.now)
            out = m.take_output()
            if out:
                if m.in_data_mode or self.link.phase != "dead":
                    self.link.receive(out)
                start = out.rfind(b"\x7e")
                self.text += out[start + 1 :] if start >= 0 else out
            if self.queue:
                data = b"".join(self.queue)
                self.queue.clear()
                m.feed(data, m.now)
            elif not out:
                return
        raise AssertionError("the link never went quiet")

    def dial(self, command: str = "ATD*99#") -> bytes:
        self.m.feed(command.encode() + b"\r", self.m.now)
        answer = self.m.take_output()
        if b"CONNECT" in answer:
            self.link.start()
            self.pump()
        return answer

    def send(self, packet: bytes) -> None:
        assert self.link.send_ip(packet)
        self.sent.append(packet)
        self.pump()

    @property
    def address(self) -> bytes:
        assert self.link.ip is not None
        return self.link.ip.local

    def ping(self, dst: bytes, payload: bytes = b"ping") -> None:
        self.send(build_icmp(self.address, dst, 8, 0, b"\x12\x34\x00\x01" + payload))


def arrived(dev: Device, seen: int) -> tuple[list[Any], int]:
    """The TCP segments `dev` received after its first `seen` packets, and how many it has now."""
    out = []
    for packet in dev.received[seen:]:
        ip = parse_ipv4(packet)
        if ip is not None and ip.proto == TCP:
            t = parse_tcp(ip.payload)
            assert t is not None
            out.append(t)
    return out, len(dev.received)


class TcpClient:
    """The device's TCP client: connect, send, read, close, all in order (the line loses nothing)."""

    def __init__(self, dev: Device, dst: bytes, port: int, sport: int = 40000) -> None:
        self.dev, self.dst, self.port, self.sport = dev, dst, port, sport
        self.seq = 1000
        self.ack = 0
        self.data = bytearray()
        self.peer_fin = False
        self.reset = False
        self._seen = 0

    def _send(self, flags: int, data: bytes = b"") -> None:
        d = self.dev
        d.send(
            build_tcp(
                d.address,
                self.dst,
                self.sport,
                self.port,
                self.seq,
                self.ack,
                flags,
                65535,
                data,
                1400 if flags & SYN else None,
            )
        )

    def read(self) -> None:
        """Take the segments that arrived; acknowledge data and FIN."""
        got = False
        segments, self._seen = arrived(self.dev, self._seen)
        for t in segments:
            if t.flags & 0x04:
                self.reset = True
                continue
            if t.flags & SYN:
                self.ack = t.seq + 1
                self.seq += 1
                got = True
                continue
            if t.data and t.seq == self.ack:
                self.data += t.data
                self.ack += len(t.data)
                got = True
            if t.flags & FIN:
                self.ack += 1
                self.peer_fin = True
                got = True
        if got:
            self._send(ACK)

    def connect(self) -> None:
        self._send(SYN)
        self.read()

    def write(self, data: bytes) -> None:
        self._send(ACK | PSH, data)
        self.seq += len(data)
        self.read()

    def close(self) -> None:
        self._send(FIN | ACK)
        self.seq += 1
        self.read()


class DelayedAckClient:
    """The device's TCP stack as the module stacks' model has it (`accounting.wire`) and Linux and lwIP
    do outside Linux's quick-ACK mode: segments of at most the peer's MSS within its window; a
    receiver that ACKs at once when more than one full segment is unacknowledged, else
    `ACK_DELAY_S` after the data came unless a segment of its own carries the ACK first.  Driven in
    the modem's simulated time (`settle`); the line loses nothing."""

    def __init__(self, dev: Device, dst: bytes, port: int, sport: int = 40000, mss: int = MSS) -> None:
        self.dev, self.dst, self.port, self.sport, self.mss = dev, dst, port, sport, mss
        self.seq = self.una = 1000
        self.ack = 0
        self.peer_mss = mss
        self.window = 0
        self.data = bytearray()
        self.outbox = bytearray()
        self.closing = self.fin_sent = self.peer_fin = self.reset = self.open = False
        self.unacked = 0  # octets received and not yet acknowledged
        self.due = math.inf  # when the ACK owed goes alone
        self._seen = 0

    def _emit(self, flags: int, data: bytes = b"") -> None:
        d = self.dev
        mss = self.mss if flags & SYN else None
        d.send(
            build_tcp(d.address, self.dst, self.sport, self.port, self.seq, self.ack, flags, 65535, data, mss)
        )
        self.unacked, self.due = 0, math.inf  # every segment carries the ACK

    def connect(self) -> None:
        self._emit(SYN)
        self.settle(lambda: self.open or self.reset)

    def write(self, data: bytes) -> None:
        """`data` goes out (in segments, as the window allows) as the stack gets to it (`settle`)."""
        self.outbox += data

    def close(self) -> None:
        self.closing = True

    def _take(self) -> bool:
        now = self.dev.m.now
        segments, self._seen = arrived(self.dev, self._seen)
        for t in segments:
            if t.flags & RST:
                self.reset = True
                continue
            if t.flags & ACK and t.ack - self.una > 0:
                self.una = t.ack
            self.window = t.window
            if t.flags & SYN:
                self.ack, self.seq, self.una = (t.seq + 1) & 0xFFFFFFFF, self.seq + 1, self.seq + 1
                self.peer_mss = min(self.mss, t.mss or 536)
                self.open = True
                self._emit(ACK)
                continue
            if t.data and t.seq == self.ack:
                self.data += t.data
                self.ack = (self.ack + len(t.data)) & 0xFFFFFFFF
                self.unacked += len(t.data)
                if self.unacked > self.mss:  # more than one full segment: at once
                    self._emit(ACK)
                else:
                    self.due = min(self.due, now + ACK_DELAY_S)
            elif t.data and (self.ack - t.seq) & 0xFFFFFFFF < 0x80000000:
                self._emit(ACK)  # a repeat of what came: ACKed at once, as Linux and lwIP do
            if t.flags & FIN and (t.seq + len(t.data)) & 0xFFFFFFFF == self.ack:
                self.ack = (self.ack + 1) & 0xFFFFFFFF
                self.peer_fin = True
                self.due = now  # a FIN is acknowledged at once (by this stack's FIN if it closes now)
        return bool(segments)

    def _flush(self) -> bool:
        sent = False
        while self.outbox:
            room = self.window - (self.seq - self.una)
            size = min(self.peer_mss, len(self.outbox))
            if room < size:
                break
            seg = bytes(self.outbox[:size])
            del self.outbox[:size]
            fin = FIN if self.closing and not self.outbox else 0  # the FIN rides on the last data
            self._emit(ACK | PSH | fin, seg)
            self.seq += size + (1 if fin else 0)
            self.fin_sent = self.fin_sent or bool(fin)
            sent = True
        if self.closing and not self.outbox and not self.fin_sent:
            self._emit(FIN | ACK)
            self.seq += 1
            self.fin_sent = True
            sent = True
        return sent

    def settle(self, done: Callable[[], bool], limit: float = 600.0, until: float | None = None) -> None:
        """Packets both ways, the modem's time running to each next timer (this stack's delayed ACK,
        the modem's), until `done()` (or, `until` given, until that time)."""
        m = self.dev.m
        end = m.now + limit if until is None else until
        if until is not None:
            done = lambda: m.now >= until  # noqa: E731
        while True:
            self.dev.pump()
            busy = self._take()
            busy = self._flush() or busy
            if busy:
                continue
            if done():
                return  # (an ACK due now rides on what the caller sends at once, if anything)
            if self.due <= m.now:
                self._emit(ACK)
                continue
            due = min(self.due, m.next_deadline() or math.inf, math.inf if until is None else until)
            assert due <= end, "nothing more happens"
            m.poll(due)
            self.dev.pump()

    def finished(self) -> bool:
        """Everything sent is acknowledged, nothing owed (delayed ACKs included) on this side."""
        return not self.outbox and self.una == self.seq and self.due == math.inf
