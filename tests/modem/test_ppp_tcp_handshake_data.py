"""The PPP forwarder's TCP endpoint when its host end's data leave before the device's ACK of the
SYN-ACK has come (a server that speaks first: a banner, over a link slower than the timeout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modem.virtual.ppp.forwarder import TcpFlow
from modem.virtual.ppp.ip import ACK, SYN, Tcp, parse_ipv4, parse_tcp

DEVICE, REMOTE = bytes([10, 0, 0, 2]), bytes([192, 0, 2, 1])
ISS = 5_000
BANNER = b"220 banner\r\n"


class _Timer:
    def __init__(self, at: float, fn: Callable[[], None]) -> None:
        self.at, self.fn, self.cancelled = at, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class _Forwarder:
    """What a flow uses of the forwarder: its clock, timers and the segments it sends the device."""

    def __init__(self) -> None:
        self.t = 0.0
        self.timers: list[_Timer] = []
        self.sent: list[Tcp] = []
        self.tcp: dict[Any, TcpFlow] = {}
        self.mss = 1460
        self.bytes_to_device = self.bytes_from_device = 0

    def now(self) -> float:
        return self.t

    def ident(self) -> int:
        return 1

    def schedule(self, delay: float, fn: Callable[[], None]) -> _Timer:
        timer = _Timer(self.t + delay, fn)
        self.timers.append(timer)
        return timer

    def emit(self, packet: bytes) -> None:
        ip = parse_ipv4(packet)
        assert ip is not None
        tcp = parse_tcp(ip.payload)
        assert tcp is not None
        self.sent.append(tcp)

    def run_until(self, until: float) -> None:
        while True:
            live = [t for t in self.timers if not t.cancelled and t.at <= until]
            if not live:
                break
            timer = min(live, key=lambda t: t.at)
            self.timers.remove(timer)
            self.t = timer.at
            timer.fn()
        self.t = until


def _flow() -> tuple[_Forwarder, TcpFlow]:
    fwd = _Forwarder()
    flow = TcpFlow(fwd, DEVICE, 40_000, REMOTE, 25, 1_001, ISS, 1460, 65_535)  # type: ignore[arg-type]
    fwd.tcp[flow.key] = flow
    flow.accept()
    flow.from_host(BANNER)  # the host speaks first, before the device's ACK of the SYN-ACK
    return fwd, flow


def _device_ack(flow: TcpFlow, ack: int) -> None:
    flow.from_device(Tcp(40_000, 25, 1_001, ack, ACK, 65_535, None, b""))


def test_the_acknowledgement_of_the_syn_alone_leaves_the_data_unacknowledged() -> None:
    fwd, flow = _flow()
    _device_ack(flow, ISS + 1)  # the SYN-ACK's ACK: the banner (at ISS + 1) not yet
    assert bytes(flow.unacked) == BANNER
    fwd.run_until(flow.rto + 0.01)  # the banner lost: sent again whole, where it began
    again = fwd.sent[-1]
    assert (again.seq, again.data) == (ISS + 1, BANNER)


def test_a_timeout_before_the_syn_is_acknowledged_sends_the_syn_ack_again() -> None:
    fwd, _ = _flow()
    fwd.run_until(1.01)  # nothing from the device yet (an 8 s round trip)
    again = fwd.sent[-1]
    # not the banner at the SYN's sequence number, which a device whose SYN-ACK came reads
    # shifted by one octet
    assert again.flags & SYN and again.seq == ISS and not again.data
