"""The ICMP errors the PPP forwarder's hosts send the device are limited as Linux limits them
(`modem.virtual.ppp.icmplimit`): per destination, for the whole host, never "fragmentation needed"."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from modem.virtual.ppp.icmplimit import IcmpRateLimit
from modem.virtual.ppp.ip import ICMP, build_udp, parse_ipv4
from tests.modem.test_ppp import online

DEVICE = bytes([10, 64, 0, 9])
REFUSED = ipaddress.IPv4Address("192.0.2.1").packed  # not in the Internet table: refused


def test_six_errors_at_once_to_a_destination_then_one_a_second() -> None:
    limit = IcmpRateLimit()
    assert [limit.allow(100.0, DEVICE, 3, 13) for _ in range(8)] == [True] * 6 + [False] * 2
    assert not limit.allow(100.999, DEVICE, 3, 3)
    assert limit.allow(101.0, DEVICE, 3, 3) and not limit.allow(101.5, DEVICE, 3, 1)
    assert limit.allow(102.0, DEVICE, 11, 0)  # time exceeded: limited alike, the same bucket
    assert limit.suppressed_host == 4 and limit.suppressed_global == 0
    # idle, the bucket fills up to six again, never more
    assert [limit.allow(200.0, DEVICE, 3, 13) for _ in range(7)] == [True] * 6 + [False]
    assert limit.allow(200.0, bytes([10, 64, 0, 10]), 3, 13)  # another destination has its own


def test_fragmentation_needed_and_answers_are_never_limited() -> None:
    limit = IcmpRateLimit()
    for _ in range(100):
        assert limit.allow(5.0, DEVICE, 3, 4)  # "Don't limit PMTU discovery"
        assert limit.allow(5.0, DEVICE, 0, 0)  # echo reply: not in icmp_ratemask
    assert limit.suppressed == 0
    assert limit.allow(5.0, DEVICE, 3, 13)  # the destination's bucket untouched by them


def test_the_host_sends_at_most_50_errors_at_once_then_1000_a_second() -> None:
    limit = IcmpRateLimit()
    destinations = [bytes([10, 64, i // 256, i % 256]) for i in range(200)]
    sent = [limit.allow(0.0, d, 3, 13) for d in destinations[:60]]
    assert sent == [True] * 50 + [False] * 10 and limit.suppressed_global == 10
    assert not limit.allow(0.019, destinations[60], 3, 13)  # refilled at most every 20 ms
    assert [limit.allow(0.02, d, 3, 13) for d in destinations[61:83]] == [True] * 20 + [False] * 2
    assert [limit.allow(5.0, d, 3, 13) for d in destinations[100:160]] == [True] * 50 + [False] * 10
    assert limit.suppressed_host == 0


def test_a_burst_of_refused_datagrams_gets_six_icmp_errors_then_one_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every datagram to a refused destination got ICMP "communication administratively
    # prohibited" back, as many as the device sent (each billed downlink), where a Linux host
    # sends six at once, then one a second.  What is not sent is not billed, and counted.
    dev, _, _ = online()
    m = dev.m
    ctx = m.net.contexts[1]
    for port in range(10):
        dev.send(build_udp(dev.address, REFUSED, 5000 + port, 9, b"ping"))
    assert len(dev.received) == 6
    m.poll(m.now + 1.0)
    dev.send(build_udp(dev.address, REFUSED, 5000, 9, b"ping"))
    dev.send(build_udp(dev.address, REFUSED, 5001, 9, b"ping"))
    assert len(dev.received) == 7
    icmp = [parse_ipv4(p) for p in dev.received]
    assert all(ip is not None and ip.proto == ICMP and ip.payload[:2] == b"\x03\x0d" for ip in icmp)
    assert ctx.bytes_down == sum(map(len, dev.received)) and ctx.bytes_up == sum(map(len, dev.sent))
    with caplog.at_level(logging.INFO, logger="modem.virtual.ppp.bearer"):
        dev.link.terminate("bye")
        dev.pump()
    assert (
        "5 ICMP errors to the device not sent for the rate limits (5 per destination, 0 global)"
        in caplog.text
    )
