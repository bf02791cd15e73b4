"""The PPP forwarder's UDP flows whose host endpoint cannot be made (no route, forbidden, out of
sockets): the device gets the ICMP error a Linux host or router sends, within the ICMP limits; the
datagrams are dropped, never held without bound; out of sockets, a later datagram tries again."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import resource
from collections.abc import Callable
from typing import Any, cast

import pytest

from gateway.internet import Internet, Target
from modem.virtual.ppp import forwarder as forwarder_module
from modem.virtual.ppp.forwarder import UDP_QUEUE_BYTES, Forwarder
from modem.virtual.ppp.ip import ICMP, UDP, Ipv4, build_udp, parse_ipv4

DEVICE = ipaddress.IPv4Address("10.64.0.2").packed
OWN = ipaddress.IPv4Address("10.64.0.1").packed
DNS = ipaddress.IPv4Address("10.64.0.53").packed
FAR = ipaddress.IPv4Address("192.0.2.80").packed
LOOPBACK = Internet(hosts={"192.0.2.80": Target(host="127.0.0.1")}, allow=())  # FAR is a loopback endpoint


def _forwarder(internet: Internet, got: list[bytes], clock: list[float], arrived: asyncio.Event) -> Forwarder:
    loop = asyncio.get_running_loop()

    def deliver(packet: bytes) -> None:
        got.append(packet)
        arrived.set()

    def schedule(delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return loop.call_later(delay, fn)

    return Forwarder(DEVICE, OWN, (DNS,), internet, deliver, schedule, now=lambda: clock[0])


def _icmp_errors(got: list[bytes]) -> list[Ipv4]:
    answers = [parse_ipv4(p) for p in got]
    assert all(ip is not None and ip.proto == ICMP for ip in answers)
    return [ip for ip in answers if ip is not None]


def test_a_destination_the_host_may_not_send_to_gets_prohibited_within_the_icmp_limits() -> None:
    asyncio.run(asyncio.wait_for(_forbidden(), 30))


async def _forbidden() -> None:
    # a UDP socket connected to the broadcast address without SO_BROADCAST: EACCES, a real one
    broadcast = "255.255.255.255"
    internet = Internet(
        hosts={"192.0.2.80": Target(host=broadcast)}, allow=(ipaddress.ip_network(f"{broadcast}/32"),)
    )
    got: list[bytes] = []
    clock = [0.0]
    fwd = _forwarder(internet, got, clock, asyncio.Event())
    sent = [build_udp(DEVICE, FAR, 5000, 9, bytes([i]) * 1000, i) for i in range(40)]
    try:
        for datagram in sent:
            fwd.from_device(datagram)
            await asyncio.sleep(0)  # (the loop runs between the device's datagrams)
        errors = _icmp_errors(got)
        # each datagram dropped and answered "administratively prohibited", as far as the gateway's
        # limits let the answers go: a burst, the rest held back
        assert errors and len(errors) == fwd.icmp_held[0] < len(sent) == sum(fwd.icmp_held)
        for ip, datagram in zip(errors, sent, strict=False):
            assert ip.src == FAR and ip.payload[:2] == bytes([3, 13])
            # Linux's largest error, 576 B: IPv4 20, ICMP 8 and the first 548 B of the 1,028 B datagram
            assert ip.payload[8:] == datagram[:548] and 20 + len(ip.payload) == 576 < len(datagram)
        assert fwd.dropped == len(sent)
        assert all(not flow.queue and flow.queued == 0 for flow in fwd.udp.values())  # nothing held
        clock[0] += 1.0  # a second later, the next datagram gets its answer again
        got.clear()
        fwd.from_device(sent[0])
        (ip,) = _icmp_errors(got)
        assert ip.payload[:2] == bytes([3, 13])
    finally:
        fwd.close()


@pytest.mark.parametrize("code", [errno.ENETUNREACH, errno.EHOSTUNREACH])
def test_no_route_to_the_host_gets_host_unreachable_from_the_gateway(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []

    def no_route(host: str, port: int) -> None:
        tried.append(host)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(forwarder_module, "host_udp_socket", no_route)
    asyncio.run(asyncio.wait_for(_no_route(tried), 30))


async def _no_route(tried: list[str]) -> None:
    got: list[bytes] = []
    fwd = _forwarder(LOOPBACK, got, [0.0], asyncio.Event())
    try:
        for i in range(3):
            datagram = build_udp(DEVICE, FAR, 5000, 9, b"reading %d" % i, i)
            fwd.from_device(datagram)
            await asyncio.sleep(0)
            ip = _icmp_errors(got)[-1]
            assert ip.payload[:2] == bytes([3, 1]) and ip.payload[8:] == datagram  # quoted whole
        assert len(got) == 3 and tried == ["127.0.0.1"]  # the route's answer is kept: tried once
    finally:
        fwd.close()


def test_out_of_sockets_the_datagram_gets_port_unreachable_and_the_next_one_tries_again() -> None:
    asyncio.run(asyncio.wait_for(_out_of_sockets(), 30))


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # (the selector's is not a subclass)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def _echo_server() -> tuple[asyncio.BaseTransport, int]:
    """A UDP echo server on loopback, and its port."""
    server, _ = await asyncio.get_running_loop().create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    return server, server.get_extra_info("sockname")[1]


async def _out_of_sockets() -> None:
    server, port = await _echo_server()
    got: list[bytes] = []
    arrived = asyncio.Event()
    fwd = _forwarder(LOOPBACK, got, [0.0], arrived)
    first = build_udp(DEVICE, FAR, 5000, port, b"first", 1)
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    filler: list[int] = []
    try:
        # a real EMFILE: every descriptor under a lowered limit taken
        probe = os.dup(0)
        os.close(probe)
        resource.setrlimit(resource.RLIMIT_NOFILE, (probe + 64, limits[1]))
        with pytest.raises(OSError) as full:
            while True:
                filler.append(os.dup(0))
        assert full.value.errno == errno.EMFILE
        for _ in range(3):
            fwd.from_device(first)
        await asyncio.sleep(0)
        errors = _icmp_errors(got)
        assert len(errors) == 3 and fwd.dropped == 3 and not fwd.udp  # nothing kept, nothing held
        for ip in errors:  # from the host itself, as for nothing on its port
            assert ip.src == FAR and ip.payload[:2] == bytes([3, 3]) and ip.payload[8:] == first
        for fd in filler:
            os.close(fd)
        filler.clear()
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        got.clear()
        arrived.clear()
        second = build_udp(DEVICE, FAR, 5000, port, b"second" * 200, 2)
        fwd.from_device(second)  # sockets again: the endpoint is made now
        await arrived.wait()
        ip = parse_ipv4(got[0])
        assert ip is not None and ip.proto == UDP and ip.src == FAR and ip.payload[8:] == b"second" * 200
        (flow,) = fwd.udp.values()
        # what an ICMP error would quote: as much of the 1,228-octet datagram as fits in 576 (Linux)
        assert flow.last == second[: 576 - 20 - 8]
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        fwd.close()
        server.close()


def test_datagrams_waiting_for_their_endpoint_are_held_up_to_a_bound() -> None:
    asyncio.run(asyncio.wait_for(_bounded(), 30))


async def _bounded() -> None:
    server, port = await _echo_server()
    got: list[bytes] = []
    arrived = asyncio.Event()
    fwd = _forwarder(LOOPBACK, got, [0.0], arrived)
    size = 1000
    count = UDP_QUEUE_BYTES // size + 20
    try:
        for i in range(count):  # before the loop runs: the endpoint is not there yet
            fwd.from_device(build_udp(DEVICE, FAR, 5000, port, bytes(size), i))
        (flow,) = fwd.udp.values()
        held = UDP_QUEUE_BYTES // size
        assert len(flow.queue) == held and flow.queued <= UDP_QUEUE_BYTES
        assert fwd.dropped == count - held
        await arrived.wait()  # the endpoint made, what was held went to it
        assert not flow.queue and flow.queued == 0
    finally:
        fwd.close()
        server.close()


def test_datagrams_held_for_an_endpoint_that_fails_are_each_answered_and_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(asyncio.wait_for(_endpoint_fails(monkeypatch), 30))


async def _endpoint_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # the socket is made, then the loop cannot serve it (ENOBUFS): what waited for it is answered
    loop = asyncio.get_running_loop()
    real = loop.create_datagram_endpoint
    failures = [errno.ENOBUFS]

    async def serving(*args: Any, **kwargs: Any) -> Any:
        if failures:
            code = failures.pop()
            raise OSError(code, os.strerror(code))
        return await real(*args, **kwargs)

    server, port = await _echo_server()
    monkeypatch.setattr(loop, "create_datagram_endpoint", serving)
    got: list[bytes] = []
    arrived = asyncio.Event()
    fwd = _forwarder(LOOPBACK, got, [0.0], arrived)
    sent = [build_udp(DEVICE, FAR, 5000, port, b"waiting %d" % i, i) for i in range(3)]
    try:
        for datagram in sent:
            fwd.from_device(datagram)
        await arrived.wait()
        errors = _icmp_errors(got)
        assert [ip.payload[8:] for ip in errors] == sent  # each quoted whole
        assert all(ip.src == FAR and ip.payload[:2] == bytes([3, 3]) for ip in errors)
        assert fwd.dropped == len(sent) and not fwd.udp  # (out of buffers: the next one tries again)
        got.clear()
        arrived.clear()
        fwd.from_device(sent[0])
        await arrived.wait()
        ip = parse_ipv4(got[0])
        assert ip is not None and ip.proto == UDP and ip.payload[8:] == b"waiting 0"
    finally:
        fwd.close()
        server.close()
