"""The ICMP errors the PPP forwarder's hosts send the device are limited as Linux limits them
(`gateway.icmplimit`): per destination, for the whole host, never "fragmentation needed", each
host its own limits (the gateway's shared by all it answers for)."""

from __future__ import annotations

import ipaddress
import logging

import numpy as np
import pytest

from gateway.api import (
    GATEWAY,
    SYN,
    SYN_RTO_S,
    UDP_HEADER,
    IcmpHosts,
    IcmpRateLimit,
    build_network,
)
from gateway.icmplimit import IDLE_S
from modem.profiles import load_profile
from modem.virtual.conditions import FULL
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.bearer import DNS_SERVERS, OWN_ADDRESS
from modem.virtual.ppp.ip import ICMP, build_udp, parse_ipv4
from modem.virtual.scenario import ServeScenario, served_modems
from modem.virtual.sockets import Socket
from simulator.profiles import builtin_profiles, parse_profiles
from tests.modem.pppdevice import Device
from tests.modem.test_billed_alike import ALLOWED, UNREACHABLE_HOST, NoRoute, _bg96
from tests.modem.test_moves_billed_alike import EPOCH, Sink, at
from tests.modem.test_ppp import online

DEVICE = bytes([10, 64, 0, 9])
REFUSED = ipaddress.IPv4Address("192.0.2.1").packed  # not in the Internet table: refused
# an ICMP error quotes the whole of a short datagram (Linux's icmp_send: up to 576 B in all): its
# IPv4 20 and ICMP 8 bytes and the datagram's own, so 20 + 8 + (20 + 8 + 7) = 63 B for "reading"
READING_ICMP = 20 + 8 + UDP_HEADER + len(b"reading")
SYN_ICMP = 20 + 8 + SYN  # the one answering a SYN (52 B): 80 B


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


def test_each_host_limits_the_errors_it_sends_by_its_own_buckets() -> None:
    hosts = IcmpHosts()
    a, b = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
    for sender in (a, b, GATEWAY):  # six at once from each of them, to the same device
        assert [hosts.allow(10.0, sender, DEVICE, 3, 3) for _ in range(7)] == [True] * 6 + [False]
    assert [hosts.allow(11.0, s, DEVICE, 3, 3) for s in (a, a, b, GATEWAY)] == [True, False, True, True]
    a_limits = hosts.of(a)
    assert a_limits.suppressed_host == 2 and hosts.of(GATEWAY).suppressed_host == 1
    # the gateway's global limit is its own: 50 at once, whichever devices it answers
    hosts = IcmpHosts()
    others = [bytes([10, 64, 1, i]) for i in range(60)]
    assert sum(hosts.allow(20.0, GATEWAY, d, 3, 1) for d in others) == 50
    assert hosts.allow(20.0, a, others[-1], 3, 3)


def test_the_hosts_remembered_are_bounded_and_one_forgotten_idle_is_as_one_never_seen() -> None:
    hosts = IcmpHosts(max_hosts=2)
    a, b, c = b"a", b"b", b"c"
    for _ in range(6):
        hosts.allow(0.0, a, DEVICE, 3, 3)
    hosts.allow(0.0, b, DEVICE, 3, 3)
    hosts.allow(0.0, a, DEVICE, 3, 3)  # (a used last: b goes first)
    hosts.allow(IDLE_S, c, DEVICE, 3, 3)
    assert len(hosts) == 2 and hosts.of(a).suppressed_host == 1
    # a, idle `IDLE_S`, has its six again: forgotten or not, the same answers
    kept, fresh = hosts.of(a), IcmpRateLimit()
    assert [kept.allow(IDLE_S, DEVICE, 3, 3) for _ in range(7)] == [
        fresh.allow(IDLE_S, DEVICE, 3, 3) for _ in range(7)
    ]


def test_a_host_forgotten_idle_sends_what_one_kept_does_up_to_its_global_burst() -> None:
    """A host's credit left over is kept however long it is idle (topped up only once spent): one
    forgotten answers the same up to the 50 of a burst, and past it sends fewer (as documented)."""
    destinations = [bytes([10, 64, 2, i]) for i in range(100)]
    kept = IcmpRateLimit()
    assert kept.allow(0.0, destinations[0], 3, 3)  # (one sent: 49 left)
    fresh = IcmpRateLimit()
    burst = [(kept.allow(IDLE_S, d, 3, 1), fresh.allow(IDLE_S, d, 3, 1)) for d in destinations]
    assert burst[:50] == [(True, True)] * 50
    assert sum(k for k, _ in burst) == 99 and sum(f for _, f in burst) == 50


def test_errors_from_different_hosts_reach_the_device_each_within_its_own_limits() -> None:
    # Eight datagrams to each of three hosts at once: to the modem's own address and to a DNS server,
    # nothing on the port (each host answers "port unreachable" itself), and to a destination the
    # policy refuses (the gateway answers "administratively prohibited").  One limiter answered for
    # all of them: six errors in all, as if one host had sent them.  Each host limits its own: six
    # from each, eighteen billed.
    dev, _, _ = online()
    ctx = dev.m.net.contexts[1]
    down0 = ctx.bytes_down
    own, dns = (ipaddress.IPv4Address(a).packed for a in (OWN_ADDRESS, DNS_SERVERS[0]))
    for dst, port in ((own, 9), (dns, 9), (REFUSED, 9)):
        for sport in range(8):
            dev.send(build_udp(dev.address, dst, 5000 + sport, port, b"ping"))
    icmp = [parse_ipv4(p) for p in dev.received]
    assert len(icmp) == 18 and all(ip is not None and ip.proto == ICMP for ip in icmp)
    codes = sorted((ip.src, ip.payload[1]) for ip in icmp if ip is not None)
    assert codes == sorted([(own, 3)] * 6 + [(dns, 3)] * 6 + [(REFUSED, 13)] * 6)
    assert ctx.bytes_down - down0 == 18 * (20 + 8 + UDP_HEADER + len(b"ping"))  # each quoting its datagram


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


# ----- the module stacks (AT+QIOPEN / AT+CIPSTART): the same rule as the PPP bearer's ----------------


def _udp_burst_on_the_module_stack(times: list[list[float]], data: bytes = b"reading") -> tuple[int, int]:
    """A BG96's own UDP stack sends a datagram (`data`) to a destination the network refuses at each
    of `times` (lists of sends at the same instant): the (up, down) bytes of its context."""
    m = _bg96(build_network(EPOCH, Sink(), 3))
    assert at(m, f'AT+QIOPEN=1,0,"UDP","{UNREACHABLE_HOST}",5000,0,1', 10.0).endswith(b"OK\r\n")
    m.poll(10.0)
    assert b"+QIOPEN: 0,0" in m.take_output()
    for burst in times:
        for t in burst:
            assert at(m, f"AT+QISEND=0,{len(data)}", t) == b"\r\n> "
            m.feed(data, t)
            m.poll(t)
            assert m.take_output() == b"\r\nSEND OK\r\n"
    ctx = m.net.contexts[1]
    return ctx.bytes_up, ctx.bytes_down


def test_a_burst_of_datagrams_to_a_refused_destination_bills_six_icmp_errors_then_one_a_second() -> None:
    # The module stack billed an ICMP "administratively prohibited" for every datagram, ten for a
    # burst of ten, where the network (and the PPP bearer's forwarder) sends six, then one a second.
    up, down = _udp_burst_on_the_module_stack([[20.0] * 10, [20.5], [21.0] * 2])
    assert up == 13 * (7 + UDP_HEADER)
    assert down == 7 * READING_ICMP  # six at once, none at 20.5, one at 21.0


def test_the_same_burst_is_billed_alike_by_the_module_stack_and_the_ppp_bearer() -> None:
    """Ten datagrams at once to a refused destination, two a second later: the module's own stack
    and the PPP bearer bill the same ICMP errors (the stack billed every one)."""
    stack = _udp_burst_on_the_module_stack([[20.0] * 10, [21.0] * 2])
    dev, _, _ = online()
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    datagram = build_udp(dev.address, ipaddress.IPv4Address(UNREACHABLE_HOST).packed, 5000, 5000, b"reading")
    for _ in range(10):
        dev.send(datagram)
    dev.m.poll(dev.m.now + 1.0)
    for _ in range(2):
        dev.send(datagram)
    assert stack == (ctx.bytes_up - up0, ctx.bytes_down - down0)


class ClosedPorts(NoRoute):
    """The served modem's real sockets (`SocketIO`) to hosts with nothing on the port: every datagram
    is answered "port unreachable" by its host, as `LoopSockets` reports ECONNREFUSED."""

    def __init__(self, m: VirtualModem) -> None:
        super().__init__()
        self.m = m

    def send(self, sock: Socket, data: bytes) -> None:
        self.m.tcp.unreachable(sock)


def test_the_module_stack_bills_each_hosts_errors_within_that_hosts_limits() -> None:
    # Eight datagrams at once to each of two real hosts with nothing on the port, and eight to a
    # destination the policy refuses: the stack billed six ICMP errors in all (one limiter for
    # every host); each host limits its own (the gateway the refusals): six of each, as on the PPP
    # bearer.
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    io = ClosedPorts(m)
    m.tcp.io = io
    hosts = ("192.0.2.10", "192.0.2.11", "198.51.100.1")  # (the last not allowed: refused)
    for sid, host in enumerate(hosts):
        assert at(m, f'AT+QIOPEN=1,{sid},"UDP","{host}",5000,0,1', 10.0).endswith(b"OK\r\n")
    for sock in io.connecting:
        m.tcp.connected(sock)
    m.poll(10.0)
    out = m.take_output()
    assert all(f"+QIOPEN: {sid},0".encode() in out for sid in range(len(hosts)))
    ctx = m.net.contexts[1]
    down0 = ctx.bytes_down
    for sid in range(len(hosts)):
        for _ in range(8):
            assert at(m, f"AT+QISEND={sid},7", 20.0) == b"\r\n> "
            m.feed(b"reading", 20.0)
            m.poll(20.0)
            assert m.take_output() == b"\r\nSEND OK\r\n"
    assert ctx.bytes_down - down0 == 3 * 6 * READING_ICMP


def test_the_ppp_bearer_and_the_module_stack_on_one_context_share_the_hosts_limits() -> None:
    # The module's stack sends six datagrams to a refused destination (six errors from the gateway,
    # its bucket for the context's address empty), then the host dials PPP on the same context (the
    # same address) and sends one more: the bearer kept limits of its own and billed a seventh
    # error at once.  The gateway limits its errors to that address together: the next one a
    # second after the six.
    m = _bg96(build_network(EPOCH, Sink(), 3))
    assert at(m, f'AT+QIOPEN=1,0,"UDP","{UNREACHABLE_HOST}",5000,0,1', 10.0).endswith(b"OK\r\n")
    m.poll(10.0)
    assert b"+QIOPEN: 0,0" in m.take_output()
    for _ in range(6):
        assert at(m, "AT+QISEND=0,7", 20.0) == b"\r\n> "
        m.feed(b"reading", 20.0)
        m.poll(20.0)
        assert m.take_output() == b"\r\nSEND OK\r\n"
    ctx = m.net.contexts[1]
    assert ctx.bytes_down == 6 * READING_ICMP
    dev = Device(m)
    assert dev.dial("ATD*99***1#") == b"\r\nCONNECT\r\n" and m.now == 20.0
    assert dev.address == ipaddress.IPv4Address(ctx.ip).packed
    datagram = build_udp(dev.address, ipaddress.IPv4Address(UNREACHABLE_HOST).packed, 5000, 5000, b"reading")
    dev.send(datagram)
    assert dev.received == [] and ctx.bytes_down == 6 * READING_ICMP
    m.poll(21.0)
    dev.send(datagram)
    assert len(dev.received) == 1 and ctx.bytes_down == 7 * READING_ICMP


def test_connects_to_a_host_without_route_fail_as_the_icmp_limits_let_the_answers_come() -> None:
    # Eight connects at once to a host the network has no route to: each was billed its SYN and an
    # ICMP "host unreachable" and failed at once.  The network answers six at once; the other two
    # SYNs go unanswered, are sent again on the stack's timer (1, 3 s after the first) and are
    # answered when the limit has a message again: at the second retransmission (the first comes
    # 0.8 s after the six answers, before a second's worth).
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    io = NoRoute()
    m.tcp.io = io
    for sid in range(8):
        assert at(m, f'AT+QIOPEN=1,{sid},"TCP","{UNREACHABLE_HOST}",80,0,1', 10.0).endswith(b"OK\r\n")
    m.poll(10.2)
    for sock in io.connecting:
        m.tcp.failed(sock, unreachable=True)  # what LoopSockets reports for EHOSTUNREACH
    m.poll(10.2)
    out = m.take_output()
    assert [f"+QIOPEN: {sid},566".encode() in out for sid in range(8)] == [True] * 6 + [False] * 2
    third_syn = 10.0 + SYN_RTO_S * 3  # the first retransmission after 1 s, the second 2 s after it
    m.poll(third_syn - 0.001)
    assert b"+QIOPEN" not in m.take_output()
    m.poll(third_syn)
    out = m.take_output()
    assert b"+QIOPEN: 6,566" in out and b"+QIOPEN: 7,566" in out
    ctx = m.net.contexts[1]
    assert (ctx.bytes_up, ctx.bytes_down) == (6 * SYN + 2 * 3 * SYN, 8 * SYN_ICMP)


# ----- the simulator: the same rule, counted from an attempt's send times ------------------------

BURST = parse_profiles(
    {
        "profiles": {
            "burst": {  # a UDP stack that sends its ten tries within two seconds
                "transport": "udp",
                "report": {"up": 90, "down": 34, "packets": 2, "duration_s": 1},
                "failed_attempt": {"up": 900, "down": 0, "packets": 10, "duration_s": 2},
            }
        }
    }
)["burst"]


def test_a_simulated_attempt_bills_the_icmp_answers_the_module_stack_bills_for_the_same_sends() -> None:
    # The simulator billed every transmission of an attempt answered "unreachable" its ICMP message
    # (ten for ten tries in two seconds); counted from the attempt's send times by the rule of the
    # modem's paths, it bills those a module stack sending at the same times does: six at once.
    fa = BURST.failed_attempt
    start = 100.0
    sends = [start + float(t) for t in BURST.send_times()]
    assert len(sends) == fa.packets
    limited = BURST.unreachable_sent(IcmpRateLimit(), start, b"device")
    every = BURST.unreachable_attempt
    assert (limited.up, limited.duration_s) == (every.up, every.duration_s)
    datagram = fa.up // fa.packets  # 90 B: its data 62 B
    _up, down = _udp_burst_on_the_module_stack([[t] for t in sends], bytes(datagram - UDP_HEADER))
    answer = 20 + 8 + datagram  # each error quotes the whole datagram: 118 B
    assert limited.down - fa.down == down == 6 * answer < every.down - fa.down
    assert limited.packets == fa.packets + 6


def test_simulated_connects_answered_unreachable_are_billed_as_the_module_stack_bills_them() -> None:
    """Seven connects to a host without route at one instant: six answered at once, the seventh's
    SYN sent again a second later and answered then (the icmp limit has a message again), by the
    simulator's arithmetic as by the module stack's timers."""
    http = builtin_profiles()["http"]
    limit = IcmpRateLimit()
    attempts = [http.unreachable_sent(limit, 10.0, b"device") for _ in range(7)]
    assert attempts[:6] == [http.unreachable_attempt] * 6
    assert (attempts[6].up, attempts[6].duration_s) == (2 * SYN, 2)  # its SYN at 10 s and at 11 s

    billed, out = _connects_on_the_module_stack(7, [10.0 + SYN_RTO_S])
    assert b"+QIOPEN: 6,566" in out
    assert billed == (sum(a.up for a in attempts), sum(a.down for a in attempts))


def _connects_on_the_module_stack(n: int, polls: list[float]) -> tuple[tuple[int, int], bytes]:
    """`n` connects at 10 s to a host without route on a BG96's stack, polled at `polls`: the
    context's (up, down) bytes, and the module's output."""
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    io = NoRoute()
    m.tcp.io = io
    for sid in range(n):
        assert at(m, f'AT+QIOPEN=1,{sid},"TCP","{UNREACHABLE_HOST}",80,0,1', 10.0).endswith(b"OK\r\n")
    for sock in io.connecting:
        m.tcp.failed(sock, unreachable=True)
    for t in polls:
        m.poll(t)
    ctx = m.net.contexts[1]
    return (ctx.bytes_up, ctx.bytes_down), m.take_output()


def test_simulated_connects_made_together_are_billed_as_the_module_stack_bills_them() -> None:
    """Ten connects to a host without route at one instant: six answered at once, the others' SYNs
    sent again on their timers and answered as the limit has a message again: the simulator's count
    for attempts made together (commands answered at once in an outage), the send times of all of
    them taken in time order, bills what the module stack's timers bill."""
    http = builtin_profiles()["http"]
    attempts = http.unreachable_together(IcmpRateLimit(), 10.0, b"device", 10)
    assert attempts[:6] == [http.unreachable_attempt] * 6

    billed, _ = _connects_on_the_module_stack(10, [float(t) for t in range(11, 60)])
    assert billed == (sum(a.up for a in attempts), sum(a.down for a in attempts))
    assert sum(a.down for a in attempts) == 10 * SYN_ICMP  # every connect answered in the end


def test_connects_made_together_and_cut_at_the_period_s_end_are_billed_as_sent_by_then() -> None:
    """Eight connects to a host without route at 10 s, the period ending at 12 s: six answered at
    once, the seventh's SYN sent again at 11 s and answered, the eighth's SYNs at 10 and 11 s not
    (its third, at 13 s, after the end, is never sent).  Its answer to that third SYN was counted
    and billed all the same (56 B after the end), and the rate limits spent a message on it: the
    run's cut stops the sends, their answers and the limits' count."""
    http = builtin_profiles()["http"]
    limit = IcmpRateLimit()
    start, end = 10.0, 12.0
    attempts = http.unreachable_together(limit, start, b"device", 8, until=end)
    billed_up = billed_down = 0
    for fa in attempts:
        if start + fa.duration_s > end:  # going on at the end: what it sent by then
            up, down = http.attempts_cut(fa, np.array([int(end - start)], dtype=np.int64))
            billed_up, billed_down = billed_up + int(up[0]), billed_down + int(down[0])
        else:
            billed_up, billed_down = billed_up + fa.up, billed_down + fa.down
    # the SYNs sent by the end (six answered at once, the seventh's two, the eighth's two) and the
    # seven answers that came by then (the TCP model's timer, the limits' six at once then one a second)
    assert attempts[7] == http.failed_attempt and attempts[6].duration_s == 2
    assert (billed_up, billed_down) == (10 * SYN, 7 * SYN_ICMP)
    # the limits spent no message after the cut: two more to the device at 13 s (two seconds' worth)
    assert limit.allow(13.0, b"device", 3, 1) and limit.allow(13.0, b"device", 3, 1)


# ----- served together: one network, one set of hosts ---------------------------------------------


def test_the_modems_served_on_one_network_are_answered_within_the_gateways_one_global_limit() -> None:
    """Nine modems of one serve (`served_modems`, as `m2msim modem serve --count 9` makes them)
    each send seven datagrams at once to a destination the network refuses.  The gateway answers
    "prohibited" six at once to each device's address, within its one burst of 50 for all of them:
    50 errors in all, the last modem's context billed two of its six (each modem had the gateway's
    limits of its own: 54, six each).  A second later the gateway's credit is back: one more each."""
    net = build_network(EPOCH, Sink(), 3)
    modems = served_modems(
        load_profile("quectel-bg96"), 9, net, ServeScenario(), 4, epoch=EPOCH, conditions=FULL
    )
    for m in modems:
        m.take_output(0.0)
        assert at(m, 'ATE0;+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1', 10.0).endswith(b"OK\r\n")
        assert at(m, f'AT+QIOPEN=1,0,"UDP","{UNREACHABLE_HOST}",5000,0,1', 10.0).endswith(b"OK\r\n")
        m.poll(10.0)
        assert b"+QIOPEN: 0,0" in m.take_output()
    assert len({m.net.contexts[1].ip for m in modems}) == len(modems)

    def burst(t: float, n: int) -> list[int]:
        """The ICMP errors each modem's context is billed for `n` datagrams sent at `t`."""
        before = [m.net.contexts[1].bytes_down for m in modems]
        for m in modems:
            for _ in range(n):
                assert at(m, "AT+QISEND=0,7", t) == b"\r\n> "
                m.feed(b"reading", t)
                m.poll(t)
                assert m.take_output() == b"\r\nSEND OK\r\n"
        return [
            (m.net.contexts[1].bytes_down - b) // READING_ICMP for m, b in zip(modems, before, strict=True)
        ]

    assert burst(20.0, 7) == [6] * 8 + [2]
    assert modems[0].net.icmp.of(GATEWAY).suppressed_global == 5 and modems[0].net.icmp is modems[8].net.icmp
    assert burst(21.0, 1) == [1] * 9
