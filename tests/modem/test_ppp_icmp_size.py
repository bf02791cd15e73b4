"""The size of the ICMP errors the PPP forwarder's hosts send a device, and how they travel.

A Linux host's error is as large as 576 bytes allow, or the MTU of its path to the device when that
is smaller (`icmp_send`: the room is the route's MTU, at most 576), a path MTU it may have learned
from the modem's "fragmentation needed" (a device MRU under 552 is taken as 552, min_pmtu); the
error goes without Don't Fragment.  Measured on Linux 6.18 (veth pair, two namespaces): a 1,000-byte
datagram to a closed port answered with 576 bytes, with 552 once the host was told of an MTU of 500
or 296, with 560 once told of 560; the errors' DF flag clear.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.wire import icmp_error_size
from modem.virtual.ppp.ip import DF, FRAG_NEEDED, ICMP, build_icmp, build_udp, icmp_quote, parse_ipv4
from tests.modem.test_ppp_udp_endpoints import DEVICE, FAR, LOOPBACK, _echo_server, _forwarder


def _closed_udp_port() -> int:
    """A loopback UDP port nothing listens on (one the kernel gave, given back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(("mru", "learned"), [(296, 552), (500, 552), (560, 560), (1500, 576)])
def test_a_host_told_of_a_smaller_mtu_sends_errors_no_larger_than_it(mru: int, learned: int) -> None:
    asyncio.run(asyncio.wait_for(_told(mru, learned), 30))


async def _told(mru: int, learned: int) -> None:
    server, port = await _echo_server()
    got: list[bytes] = []
    arrived = asyncio.Event()
    fwd = _forwarder(LOOPBACK, got, [0.0], arrived)
    try:
        # the host answers 1,400 bytes with Don't Fragment; a device of a smaller MRU has the modem
        # drop it and tell the host "fragmentation needed" with its MRU
        fwd.from_device(build_udp(DEVICE, FAR, 5000, port, bytes(1400), 1))
        await arrived.wait()
        (answer,) = got
        assert len(answer) == 1428 and int.from_bytes(answer[6:8], "big") & DF
        if mru < len(answer):
            rest = bytes(2) + mru.to_bytes(2, "big") + icmp_quote(answer)
            fwd.from_device(build_icmp(DEVICE, FAR, 3, FRAG_NEEDED, rest, 2))
        got.clear()
        arrived.clear()
        # a 1,000-byte datagram to a port of that host nothing listens on: "port unreachable" from it
        datagram = build_udp(DEVICE, FAR, 5001, _closed_udp_port(), bytes(range(250)) * 4, 3)
        fwd.from_device(datagram)
        await arrived.wait()
        # the same datagram to a destination the table refuses: "administratively prohibited" from
        # the gateway, a host that learned nothing (the path MTU is each host's own)
        fwd.from_device(build_udp(DEVICE, bytes([198, 51, 100, 7]), 5001, 9, bytes(range(250)) * 4, 4))
        error, prohibited = got
        ip = parse_ipv4(error)
        assert ip is not None and ip.proto == ICMP and ip.src == FAR and ip.payload[:2] == bytes([3, 3])
        assert len(error) == learned == icmp_error_size(len(datagram), learned)
        assert ip.payload[8:] == datagram[: learned - 28]
        gateway = parse_ipv4(prohibited)
        assert gateway is not None and gateway.payload[:2] == bytes([3, 13]) and len(prohibited) == 576
        # as Linux sends them: without Don't Fragment, for the modem to cut to a smaller MRU
        assert not int.from_bytes(error[6:8], "big") & DF and not int.from_bytes(prohibited[6:8], "big") & DF
    finally:
        fwd.close()
        server.close()
