"""A device on the virtual modem's PPP bearer, sans-IO: the project's own PPP client (role "device")
and a minimal TCP client, pumped against a VirtualModem in simulated time."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from modem.virtual.core import VirtualModem
from modem.virtual.ppp.ip import ACK, FIN, PSH, SYN, TCP, build_icmp, build_tcp, parse_ipv4, parse_tcp
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
        d = self.dev
        got = False
        while self._seen < len(d.received):
            ip = parse_ipv4(d.received[self._seen])
            self._seen += 1
            if ip is None or ip.proto != TCP:
                continue
            t = parse_tcp(ip.payload)
            assert t is not None
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
