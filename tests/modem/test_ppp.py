"""The PPP data bearer: framing, LCP / PAP / CHAP / IPCP negotiation, the forwarder, suspension,
hang-up, DTR, the network dropping, and the gateway's bytes equal to the IP bytes exchanged."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import socket
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.internet import ECHO_ADDRESS, Internet, Target
from gateway.ipv4 import checksum
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import preset
from modem.virtual.core import VirtualModem
from modem.virtual.ppp import cp, lcp
from modem.virtual.ppp.bearer import DNS_SERVERS, OWN_ADDRESS
from modem.virtual.ppp.hdlc import ALL_CONTROL, FrameDecoder, encode_frame, escape, fcs16
from modem.virtual.ppp.ip import (
    ACK,
    FIN,
    ICMP,
    PSH,
    SYN,
    TCP,
    UDP,
    Ipv4,
    build_icmp,
    build_tcp,
    build_udp,
    clamp_mss,
    dont_fragment,
    fragment,
    parse_ipv4,
    parse_tcp,
    transport_ok,
)
from modem.virtual.ppp.ipcp import IP_COMPRESSION
from modem.virtual.ppp.link import PppLink
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint, TcpEndpoint
from modem.virtual.transport import ModemRunner
from tests.modem.pppdevice import Device, TcpClient, no_timers
from tests.netparts import EPOCH, RecordSink

OWN = ipaddress.IPv4Address(OWN_ADDRESS).packed
ECHO_HOST = ipaddress.IPv4Address(ECHO_ADDRESS).packed  # the Internet table's built-in echo


def setup(
    profile: str = "simcom-sim800", conditions: str = "full"
) -> tuple[VirtualModem, Network, RecordSink]:
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    m = VirtualModem(load_profile(profile), network=net, seed=5, epoch=EPOCH, conditions=preset(conditions))
    provision(net, m, ServeScenario())
    m.take_output(0.0)
    m.feed(b"ATE0\r", 0.0)
    m.poll(m.profile.search_s + 1.0)  # registered
    m.take_output()
    m.feed(b'AT+CGDCONT=1,"IP","orange.m2m.spec"\r', m.now)
    assert m.take_output() == b"\r\nOK\r\n"
    return m, net, sink


def online(profile: str = "simcom-sim800", **link: object) -> tuple[Device, Network, RecordSink]:
    m, net, sink = setup(profile)
    dev = Device(m, user="33612345678", password="secret", **link)
    assert dev.dial() == b"\r\nCONNECT\r\n"
    assert dev.link.ip is not None, dev.link.phase
    return dev, net, sink


# ----- framing ------------------------------------------------------------------------------------


def test_fcs16_check_value_of_rfc1662() -> None:
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E  # CRC-16/X.25, the FCS-16 of RFC 1662


def _fcs16_table_of_rfc1662(data: bytes, fcs: int = 0xFFFF) -> int:
    """RFC 1662 appendix C.2, octet by octet: the reference the fast FCS is checked against."""
    for b in data:
        v = (fcs ^ b) & 0xFF
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        fcs = (fcs >> 8) ^ v
    return fcs


@given(data=st.binary(max_size=200), start=st.integers(0, 0xFFFF))
def test_fcs16_equals_the_rfc_table_computation(data: bytes, start: int) -> None:
    assert fcs16(data, start) == _fcs16_table_of_rfc1662(data, start)


@given(
    protocol=st.sampled_from([0x0021, 0xC021, 0x8021, 0xC023, 0x0057]),
    info=st.binary(min_size=1, max_size=300),  # RFC 1662: a frame of less than 4 octets is invalid
    accm=st.sampled_from([0, ALL_CONTROL, 0x000A0000]) | st.integers(0, ALL_CONTROL),
    acfc=st.booleans(),
    pfc=st.booleans(),
    cuts=st.lists(st.integers(0, 700), max_size=6),
)
def test_frames_round_trip_in_any_pieces(
    protocol: int, info: bytes, accm: int, acfc: bool, pfc: bool, cuts: list[int]
) -> None:
    frame = encode_frame(protocol, info, accm=accm, acfc=acfc, pfc=pfc)
    body = frame[1:-1]
    assert 0x7E not in body
    assert not any(b < 0x20 and accm >> b & 1 for b in body)
    dec = FrameDecoder(accm=accm)
    got = []
    last = 0
    for cut in sorted(c % (len(frame) + 1) for c in cuts):
        got += dec.feed(frame[last:cut])
        last = cut
    got += dec.feed(frame[last:])
    assert got == [(protocol, info)]


@given(info=st.binary(min_size=1, max_size=100), where=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_a_damaged_frame_is_dropped_and_counted(info: bytes, where: int, bit: int) -> None:
    raw = bytearray(b"\xff\x03\x00\x21" + info)
    raw[where % len(raw)] ^= 1 << bit
    fcs = fcs16(b"\xff\x03\x00\x21" + info) ^ 0xFFFF
    damaged = b"\x7e" + escape(bytes(raw) + bytes([fcs & 0xFF, fcs >> 8]), ALL_CONTROL) + b"\x7e"
    dec = FrameDecoder()
    assert dec.feed(damaged + encode_frame(0x21, b"next")) == [(0x21, b"next")]
    assert dec.bad == 1


def test_unescaped_control_characters_in_the_receive_map_are_dropped() -> None:
    frame = encode_frame(0x21, b"\x11\x13data", accm=ALL_CONTROL)
    noisy = frame[:3] + b"\x11" + frame[3:]  # an XON inserted by the line
    assert FrameDecoder(accm=ALL_CONTROL).feed(noisy) == [(0x21, b"\x11\x13data")]


# ----- negotiation ---------------------------------------------------------------------------------


def test_dial_negotiates_chap_and_ipcp_gives_the_pool_address_and_dns() -> None:
    dev, net, _ = online()
    m = dev.m
    ctx = m.net.contexts[1]
    assert ctx.active and (ctx.auth, ctx.user, ctx.password) == ("chap", "33612345678", "")
    assert dev.link.ip is not None
    assert dev.link.ip.local == ipaddress.IPv4Address(ctx.ip).packed
    assert ipaddress.IPv4Address(ctx.ip) in ipaddress.IPv4Network("10.64.0.0/12")
    assert dev.link.ip.dns == tuple(ipaddress.IPv4Address(a).packed for a in DNS_SERVERS)
    assert dev.link.ip.peer == OWN
    assert net.open_sessions() == [ctx.session_id]
    # the device agreed to ACCM 0, PFC, ACFC: the modem sends IP compressed, unescaped
    assert (dev.link.lcp_policy.tx_pfc, dev.link.lcp_policy.tx_acfc) == (True, True)
    assert m.ppp is not None and (m.ppp.link.lcp_policy.tx_accm, m.ppp.link.lcp_policy.tx_acfc) == (0, True)


def test_every_profile_dials_ppp() -> None:
    for profile in ("generic", "quectel-bg96", "quectel-eg25", "wavecom-fastrack"):
        dev, _, _ = online(profile)
        assert dev.m.net.contexts[1].active, profile


def test_pap_when_the_device_naks_chap() -> None:
    dev, _, _ = online(do_auth=("pap",))
    ctx = dev.m.net.contexts[1]
    assert (ctx.auth, ctx.user, ctx.password) == ("pap", "33612345678", "secret")


def test_no_authentication_when_the_device_rejects_it() -> None:
    dev, _, _ = online(refuse_lcp=frozenset({lcp.AUTH}))
    ctx = dev.m.net.contexts[1]
    assert ctx.active and ctx.auth == ""


def test_cgdata_and_cid_in_the_dial_string() -> None:
    m, _, _ = setup()
    m.feed(b'AT+CGDCONT=3,"IP","orange.m2m.spec"\r', m.now)
    m.take_output()
    dev = Device(m)
    assert dev.dial('AT+CGDATA="PPP",3') == b"\r\nCONNECT\r\n"
    assert m.net.contexts[3].active and not m.net.contexts[1].active
    m2, _, _ = setup()
    assert Device(m2).dial("ATD*99***7#") == b"\r\nNO CARRIER\r\n"  # no context 7 defined
    dev2 = Device(m2)
    assert dev2.dial("ATD*99***1#") == b"\r\nCONNECT\r\n" and m2.net.contexts[1].active


def test_mru_below_the_minimum_is_naked_and_unknown_options_rejected() -> None:
    m, _, _ = setup()
    dev = Device(m, mru=40)
    dev.dial()
    assert dev.link.lcp_policy.mru == lcp.DEFAULT_MRU  # took the modem's Nak
    assert m.ppp is not None and m.ppp.link.lcp.naks_sent >= 1
    # an option the modem does not do (callback, type 13) is rejected, the others acked
    answers: list[tuple[int, bytes]] = []
    request = cp.packet(cp.CONF_REQ, 99, cp.build_options([(lcp.MAGIC, b"\x01\x02\x03\x04"), (13, b"\x06")]))
    m.feed(encode_frame(0xC021, request), m.now)
    answers = FrameDecoder().feed(m.take_output(m.now))
    rej = [info for proto, info in answers if proto == 0xC021 and info[0] == cp.CONF_REJ]
    assert rej and cp.parse_options(rej[0][4:]) == [(13, b"\x06")] and rej[0][1] == 99


def test_ipcp_rejects_van_jacobson_compression() -> None:
    m, _, _ = setup()
    dev = Device(m, ipcp_extra=[(IP_COMPRESSION, b"\x00\x2d\x0f\x01")])
    dev.dial()
    assert dev.link.ip is not None
    assert m.ppp is not None and m.ppp.link.ipcp is not None and m.ppp.link.ipcp.rejects_sent == 1


def test_lcp_echo_and_protocol_reject_of_ipv6cp() -> None:
    dev, _, _ = online()
    dev.link.echo(b"hello")
    dev.pump()
    assert dev.link.echo_replies == 1
    dev.link.send(0x8057, cp.packet(cp.CONF_REQ, 1, b""))  # IPV6CP: not offered by this modem
    dev.pump()
    assert dev.m.ppp is not None and dev.m.ppp.link.rejected_protocols == [0x8057]


@pytest.mark.parametrize("refused", [frozenset(), frozenset({lcp.MAGIC})])
def test_an_echo_reply_carries_the_magic_number_or_zero_when_none_was_negotiated(
    refused: frozenset[int],
) -> None:
    # RFC 1661 5.8: the Echo-Reply carries the sender's magic number, zero when the peer rejected
    # the Magic-Number option (the network side's number was never agreed)
    dev, _, _ = online(refuse_lcp=refused)
    m = dev.m
    assert m.ppp is not None
    m.feed(encode_frame(0xC021, cp.packet(cp.ECHO_REQ, 9, bytes(4) + b"ping")), m.now)
    (reply,) = [info for p, info in FrameDecoder(accm=0).feed(m.take_output(m.now)) if p == 0xC021]
    magic = 0 if refused else m.ppp.link.lcp_policy.magic
    assert reply == cp.packet(cp.ECHO_REP, 9, magic.to_bytes(4, "big") + b"ping") and (refused or magic)


@pytest.mark.parametrize("mru", [1500, 296])
def test_a_protocol_reject_is_cut_to_the_peers_mru_with_its_length_field(mru: int) -> None:
    # RFC 1661 5.7: the rejected packet is truncated to the peer's MRU; the Protocol-Reject's
    # length field must say so, else the peer discards it as malformed (longer than what came)
    dev, net, _ = online(mru=mru)
    m = dev.m
    ipv6 = b"\x60" + bytes(1599)  # an IPv6 packet: IPV6CP is not offered
    m.feed(encode_frame(0x0057, ipv6, accm=0), m.now)
    (reject,) = [info for p, info in FrameDecoder(accm=0).feed(m.take_output(m.now)) if p == 0xC021]
    assert reject[0] == cp.PROTO_REJ and len(reject) == mru
    assert int.from_bytes(reject[2:4], "big") == mru and reject[4:6] == b"\x00\x57"
    assert reject[6:] == ipv6[: mru - 6]
    assert m.net.contexts[1].bytes_up == 0 and net.open_sessions() != []  # not IP: not billed


# ----- IP, the forwarder and the bytes counted --------------------------------------------------


def _reassembled(fragments: list[bytes]) -> tuple[bytes, bytes]:
    """The header of the first fragment and the data of all, put together by their offsets (each
    fragment checked: a good header checksum, More Fragments on all but the last, no gap)."""
    data = bytearray()
    parts = sorted(fragments, key=lambda f: int.from_bytes(f[6:8], "big") & 0x1FFF)
    for i, f in enumerate(parts):
        ihl = (f[0] & 0x0F) * 4
        assert checksum(f[:ihl]) == 0 and int.from_bytes(f[2:4], "big") == len(f)
        assert (int.from_bytes(f[6:8], "big") & 0x1FFF) * 8 == len(data)
        assert bool(f[6] & 0x20) == (i < len(parts) - 1)
        data += f[ihl:]
    return parts[0][: (parts[0][0] & 0x0F) * 4], bytes(data)


@given(
    size=st.integers(0, 4000),
    mtu=st.integers(68, 1500),
    again=st.integers(68, 1500),
    ident=st.integers(0, 0xFFFF),
)
def test_fragments_fit_the_mtu_and_put_back_together_give_the_packet(
    size: int, mtu: int, again: int, ident: int
) -> None:
    src, dst = bytes([10, 64, 0, 9]), bytes([192, 0, 2, 1])
    packet = build_udp(src, dst, 7, 5000, bytes(range(256)) * (size // 256) + bytes(size % 256), ident)
    pieces = fragment(packet, mtu)
    assert all(len(p) <= mtu for p in pieces)
    assert pieces == [packet] if len(packet) <= mtu else len(pieces) > 1
    cut_again = [q for p in pieces for q in fragment(p, again)]  # a router further on cuts them again
    for got in (pieces, cut_again):
        header, data = _reassembled(got)
        assert data == packet[20:] and header[4:6] == packet[4:6] and header[8:10] == packet[8:10]
        assert header[12:20] == packet[12:20] and not any(dont_fragment(p) for p in got if p is not packet)


def test_a_datagram_the_device_sends_in_fragments_reaches_its_destination() -> None:
    # A 3,028-byte UDP datagram is sent in fragments (the device's MTU is the modem's MRU, 1,500):
    # the forwarder dropped every fragment (billed), the echo never answered.  The destination
    # host puts it back together (RFC 791), as a host does; its answer comes in fragments too.
    dev, _, _ = online()
    ctx = dev.m.net.contexts[1]
    data = bytes(i % 253 for i in range(3000))
    for piece in fragment(build_udp(dev.address, ECHO_HOST, 5000, 7, data, 77), 1500):
        dev.send(piece)
    assert len(dev.received) == 3 and all(len(p) <= 1500 for p in dev.received)
    header, udp = _reassembled(dev.received)
    assert header[12:16] == ECHO_HOST and udp[8:] == data
    assert ctx.bytes_up == sum(map(len, dev.sent)) and ctx.bytes_down == sum(map(len, dev.received))


def test_fragments_of_a_datagram_left_incomplete_are_dropped_30_s_after_the_first() -> None:
    dev, _, _ = online()
    m = dev.m
    first, second, last = fragment(build_udp(dev.address, ECHO_HOST, 5000, 7, bytes(3000), 78), 1500)
    dev.send(first)
    dev.send(second)
    assert m.ppp is not None and m.ppp.forwarder is not None
    forwarder = m.ppp.forwarder
    m.poll(m.now + 29.5)
    assert forwarder.dropped == 0
    m.poll(m.now + 0.5)  # Linux's ipfrag_time: the host gives the datagram up
    assert forwarder.dropped == 1
    dev.send(last)  # too late: a datagram of its own, which never completes either
    m.poll(m.now + 30)
    assert dev.received == [] and forwarder.dropped == 2


def test_fragments_making_a_datagram_longer_than_65535_octets_are_dropped() -> None:
    # The "ping of death": fragments of a datagram whose last one ends past 65,535 octets.  The
    # forwarder put it together and failed on its 16-bit total length (OverflowError out of the
    # modem's input); it is dropped, as a host drops it, and the bearer goes on.
    dev, _, _ = online()
    m = dev.m
    *pieces, last = fragment(build_udp(dev.address, ECHO_HOST, 5000, 7, bytes(65_000), 79), 1500)
    offset = (int.from_bytes(last[6:8], "big") & 0x1FFF) * 8
    head = bytearray(last[:20])
    head[2:4] = (20 + 65_536 - offset).to_bytes(2, "big")  # the datagram's data ends at 65,536
    head[10:12] = b"\0\0"
    head[10:12] = checksum(bytes(head)).to_bytes(2, "big")
    for piece in [*pieces, bytes(head) + bytes(65_536 - offset)]:
        dev.send(piece)
    assert m.ppp is not None and m.ppp.forwarder is not None and m.ppp.forwarder.dropped == 1
    dev.ping(ECHO_HOST)
    assert len(dev.received) == 1


@given(mss=st.integers(0, 0xFFFF), limit=st.integers(24, 1460), flags=st.sampled_from([SYN, SYN | ACK, ACK]))
def test_mss_adjust_lowers_a_syns_mss_and_keeps_the_checksum_right(mss: int, limit: int, flags: int) -> None:
    src, dst = bytes([10, 64, 0, 9]), bytes([192, 0, 2, 1])
    packet = build_tcp(src, dst, 40000, 80, 1000, 0, flags, 65535, b"", mss)
    out = clamp_mss(packet, limit)
    ip = parse_ipv4(out)
    assert ip is not None and transport_ok(ip) and len(out) == len(packet)
    tcp = parse_tcp(ip.payload)
    assert tcp is not None
    assert tcp.mss == (min(mss, limit) if flags & SYN else mss)
    assert out == packet or (flags & SYN and mss > limit)


def test_a_ping_larger_than_the_devices_mru_reaches_it_in_fragments() -> None:
    # RFC 1661 6.1: the device asked for an MRU of 576; the echo reply of a 1,028-byte ping (sent
    # without Don't Fragment, as a host's ICMP answers go) was sent whole in one frame, which a
    # device holding to its MRU drops, billed.  The modem cuts it to the MRU (RFC 791): the device
    # gets the reply in fragments; the gateway billed the packet that crossed the radio.
    dev, _, _ = online(mru=576)
    m = dev.m
    payload = bytes(range(250)) * 4
    dev.ping(ECHO_HOST, payload)
    assert len(dev.received) == 2 and all(len(p) <= 576 for p in dev.received)
    _, icmp = _reassembled(dev.received)
    assert icmp[0] == 0 and checksum(icmp) == 0 and icmp[4:] == b"\x12\x34\x00\x01" + payload
    ctx = m.net.contexts[1]
    assert ctx.bytes_up == ctx.bytes_down == 28 + len(payload)
    assert m.ppp is not None and m.ppp.fragmented == 1 and m.ppp.lost_down == 0


def test_a_datagram_too_big_with_dont_fragment_gets_icmp_then_comes_in_fragments() -> None:
    # A 1,028-byte UDP answer with Don't Fragment for a device whose MRU is 576: it was sent whole
    # (dropped by a device holding to its MRU, billed).  The modem, as a router, drops it and sends
    # ICMP "fragmentation needed" (3/4, next-hop MTU 576) to the sender from the device's address,
    # uplink and billed like any packet (RFC 1191); the sender, knowing the path MTU, sends the
    # next answer in fragments that fit, billed as they crossed the radio.
    dev, _, _ = online(mru=576)
    m = dev.m
    ctx = m.net.contexts[1]
    data = bytes(range(200)) * 5
    query = build_udp(dev.address, ECHO_HOST, 5000, 7, data)
    dev.send(query)
    assert dev.received == []
    bearer = m.ppp
    assert bearer is not None and bearer.too_big == 1 and bearer.lost_down == len(query)
    icmp_bytes = 576  # the ICMP error quoting as much of the 1,028-octet answer as fits in 576 (Linux)
    assert ctx.bytes_up == len(query) + icmp_bytes and ctx.bytes_down == len(query)
    assert bearer.forwarder is not None and bearer.forwarder.path_mtu == {ECHO_HOST: 576}
    dev.send(query)
    assert len(dev.received) == 2 and all(len(p) <= 576 for p in dev.received)
    header, udp = _reassembled(dev.received)
    assert header[12:16] == ECHO_HOST and udp[8:] == data
    assert ctx.bytes_down == len(query) + sum(map(len, dev.received))
    assert ctx.bytes_up == 2 * len(query) + icmp_bytes and bearer.too_big == 1


@pytest.mark.parametrize("mru", [576, 296])
def test_a_learned_path_mtu_expires_after_600_s_and_is_learned_again_at_a_cost(mru: int) -> None:
    # Linux forgets a path MTU learned from ICMP "fragmentation needed" (and the lock of one below
    # min_pmtu) net.ipv4.route.mtu_expires = 600 s after it learned it: its next datagram goes at its
    # link's MTU with Don't Fragment again, the modem drops it (billed, never delivered) and sends
    # "fragmentation needed" again (billed uplink).  The forwarder's hosts kept it forever: that
    # cost came once a bearer, not once every ten minutes.
    dev, _, _ = online(mru=mru)
    m = dev.m
    ctx = m.net.contexts[1]
    query = build_udp(dev.address, ECHO_HOST, 5000, 7, bytes(range(200)) * 5)
    icmp_bytes = 576  # "fragmentation needed": as much of the 1,028-octet answer as fits in 576 (Linux)
    learned = m.now
    dev.send(query)
    bearer = m.ppp
    assert bearer is not None and bearer.forwarder is not None and bearer.too_big == 1
    m.poll(learned + 599.9)
    got = len(dev.received)
    dev.send(query)  # still known: the answer comes within the path MTU
    assert len(dev.received) > got and bearer.too_big == 1
    billed = ctx.bytes_up, ctx.bytes_down
    m.poll(learned + 600.0)
    got = len(dev.received)
    dev.send(query)  # forgotten: sent whole with Don't Fragment, dropped at the modem, learned again
    assert len(dev.received) == got and bearer.too_big == 2
    assert ctx.bytes_up - billed[0] == len(query) + icmp_bytes and ctx.bytes_down - billed[1] == len(query)
    assert bearer.forwarder.path_mtu == {ECHO_HOST: max(mru, 552)}  # (552 locked below it)
    dev.send(query)
    assert len(dev.received) > got and bearer.too_big == 2


def test_the_same_path_mtu_told_again_keeps_it_only_once_half_its_time_has_gone() -> None:
    # Linux's __ip_rt_update_pmtu: "fragmentation needed" repeating the MTU a host knows does not
    # put off its expiry until less than half of mtu_expires (300 s) is left; then it is kept 600 s
    # from then on.  A lower MTU is taken at once, for 600 s.
    dev, _, _ = online()
    m = dev.m
    fwd = m.ppp.forwarder if m.ppp is not None else None
    assert fwd is not None
    quoted = build_udp(ECHO_HOST, dev.address, 7, 5000, bytes(1400))[:28]

    def too_big(mtu: int, now: float) -> None:
        m.poll(now)
        dev.send(build_icmp(dev.address, ECHO_HOST, 3, 4, bytes(2) + mtu.to_bytes(2, "big") + quoted))

    start = m.now
    too_big(1400, start)
    too_big(1400, start + 299.0)  # 301 s left: not put off
    assert fwd.path_mtu_expires == {ECHO_HOST: start + 600.0}
    too_big(1400, start + 301.0)  # 299 s left: kept 600 s from now
    assert fwd.path_mtu_expires == {ECHO_HOST: start + 901.0}
    too_big(1300, start + 400.0)
    assert fwd.path_mtu == {ECHO_HOST: 1300} and fwd.path_mtu_expires == {ECHO_HOST: start + 1000.0}
    too_big(1400, start + 500.0)  # a higher one is not taken
    m.poll(start + 1000.0)
    dev.send(build_udp(dev.address, ECHO_HOST, 5000, 7, bytes(1372)))  # a 1,400-octet answer
    assert len(dev.received) == 1 and fwd.path_mtu == {}  # forgotten: whole again


@pytest.mark.parametrize("mru", [64, 296])
def test_below_linuxs_min_pmtu_the_sender_drops_dont_fragment_and_the_modem_fragments(mru: int) -> None:
    # A device whose MRU is under 552 (Linux's net.ipv4.route.min_pmtu): the sender, told by ICMP
    # of a smaller path MTU, takes 552 and sends without Don't Fragment from then on (Linux 4.17
    # on: the MTU locked); the modem, the router before the small link, cuts each datagram to the
    # MRU.  Before, the sender took the MRU itself (fragments of 296 octets billed, more headers
    # than crossed a real radio) or, under 68, not at all: every answer dropped, billed, with its
    # ICMP.  The bill is what crossed the radio: the sender's datagrams of 552 octets at most.
    dev, _, _ = online(mru=mru)
    m = dev.m
    ctx = m.net.contexts[1]
    data = bytes(range(200)) * 5
    query = build_udp(dev.address, ECHO_HOST, 5000, 7, data)
    dev.send(query)
    bearer = m.ppp
    assert bearer is not None and bearer.forwarder is not None and dev.received == []
    assert bearer.too_big == 1 and bearer.forwarder.path_mtu == {ECHO_HOST: 552}
    icmp_bytes = 576  # "fragmentation needed": as much of the 1,028-octet answer as fits in 576 (Linux)
    answer = build_udp(ECHO_HOST, dev.address, 7, 5000, data)
    sent = [len(p) for p in fragment(answer, 552)]  # what the sender puts on the path
    assert len(sent) == 2 and max(sent) <= 552
    for n in (1, 2):
        got = len(dev.received)
        dev.send(query)
        pieces = dev.received[got:]
        assert all(len(p) <= mru for p in pieces) and len(pieces) > len(sent)
        header, udp = _reassembled(pieces)
        assert header[12:16] == ECHO_HOST and udp[8:] == data
        assert ctx.bytes_down == len(query) + n * sum(sent)  # billed: the 552-octet datagrams
        assert ctx.bytes_up == (n + 1) * len(query) + icmp_bytes  # no ICMP error again
    assert bearer.too_big == 1 and bearer.fragmented == 2 * len(sent)


def test_ping_udp_echo_dns_and_the_gateway_counts_every_ip_byte() -> None:
    dev, _, _ = online()
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    dev.ping(OWN)
    dev.ping(ECHO_HOST, b"x" * 500)
    dev.send(build_udp(dev.address, ECHO_HOST, 5000, 7, b"udp echo"))
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04demo\x07example\x03com\x00\x00\x01\x00\x01"
    dev.send(build_udp(dev.address, ipaddress.IPv4Address(DNS_SERVERS[0]).packed, 5353, 53, query))
    got = [parse_ipv4(p) for p in dev.received]
    assert [(g.proto, g.src) for g in got if g is not None] == [
        (ICMP, OWN),
        (ICMP, ECHO_HOST),
        (UDP, ECHO_HOST),
        (UDP, ipaddress.IPv4Address(DNS_SERVERS[0]).packed),
    ]
    assert got[1] is not None and got[1].payload[0] == 0 and got[1].payload.endswith(b"x" * 500)
    assert got[2] is not None and got[2].payload[8:] == b"udp echo"
    assert got[3] is not None and got[3].payload[-4:] == ECHO_HOST  # an unknown name: the echo's stand-in
    assert ctx.bytes_up - up0 == sum(len(p) for p in dev.sent)
    assert ctx.bytes_down - down0 == sum(len(p) for p in dev.received)


def test_a_packet_from_another_source_address_is_billed_and_dropped() -> None:
    # A packet whose source is not the context's address (a LAN behind the device, not NATed, or a
    # forged one): the gateway's source check drops it (3GPP TS 33.203 T.6) and, by default, bills
    # it, as Cisco StarOS's `ip source-violation check` keeps such packets in the accounting unless
    # `exclude-from-accounting` is set (the gateway's `source_violation: excluded`).
    dev, net, sink = online()
    m = dev.m
    ctx = m.net.contexts[1]
    up0 = ctx.bytes_up
    forged = build_icmp(ipaddress.IPv4Address("192.168.1.20").packed, ECHO_HOST, 8, 0, b"\x00\x01\x00\x01lan")
    dev.send(forged)
    assert dev.received == []  # never reached the echo: no reply
    assert ctx.bytes_up - up0 == len(forged)
    assert m.ppp is not None and m.ppp.source_violations == 1 and net.counters["source-violations"] == 1
    assert m.ppp.forwarder is not None and m.ppp.forwarder.dropped == 0  # it never got there
    dev.ping(ECHO_HOST)  # the device's own packets go on
    assert len(dev.received) == 1 and m.ppp.source_violations == 1
    m.feed(b"+++", m.now + 1.5)
    m.poll(m.now + 1.5)
    m.feed(b"ATH\r", m.now)
    net.flush(m.now + 1)
    (record,) = [r for r in sink.records if r.session is not None]
    assert record.bytes_up == ctx.bytes_up == sum(map(len, dev.sent))  # the forged packet among them


def test_tcp_through_the_forwarder_to_the_echo_and_a_refused_destination() -> None:
    dev, _, _ = online()
    c = TcpClient(dev, ECHO_HOST, 7)
    c.connect()
    c.write(b"hello through PPP")
    c.write(b"z" * 3000)  # more than one segment (the device's MSS 1400)
    c.close()
    c.read()
    assert bytes(c.data) == b"hello through PPP" + b"z" * 3000 and c.peer_fin
    assert dev.m.ppp is not None and dev.m.ppp.forwarder is not None and not dev.m.ppp.forwarder.tcp
    refused = TcpClient(dev, ipaddress.IPv4Address("192.0.2.1").packed, 80, sport=40001)
    refused.connect()
    assert refused.reset


def test_records_bytes_equal_the_ip_bytes_exchanged() -> None:
    dev, net, sink = online()
    c = TcpClient(dev, ECHO_HOST, 7)
    c.connect()
    c.write(b"a" * 5000)
    c.close()
    c.read()
    dev.m.feed(b"+++", dev.m.now + 1.5)
    dev.m.poll(dev.m.now + 1.5)
    dev.m.feed(b"ATH\r", dev.m.now + 1.0)
    assert dev.m.take_output().endswith(b"\r\nOK\r\n")
    net.flush(dev.m.now + 1.0)
    (record,) = [r for r in sink.records if r.session is not None]
    assert record.bytes_up == sum(len(p) for p in dev.sent)
    assert record.bytes_down == sum(len(p) for p in dev.received)


def test_padding_and_frames_holding_no_ipv4_datagram_are_not_billed() -> None:
    # RFC 1661 2: the information field may be padded up to the MRU; the datagram is the header's
    # total length.  A frame of protocol 0x0021 that holds no IPv4 datagram (an IPv6 packet, a
    # header whose total length is beyond the frame, a few octets) is not IP: dropped, unbilled.
    dev, net, sink = online()
    m = dev.m
    ping = build_icmp(dev.address, ECHO_HOST, 8, 0, b"\x12\x34\x00\x01" + b"p" * 20)
    assert dev.link.send_ip(ping + bytes(12))
    dev.pump()
    (answer,) = dev.received
    assert parse_ipv4(answer) is not None  # the padded ping is answered
    ipv6 = b"\x60" + bytes(39)
    cut = ping[:2] + (len(ping) + 1).to_bytes(2, "big") + ping[4:]
    for junk in (ipv6, cut, b"\x45\x00\x00", b"\x42" + bytes(30)):
        assert dev.link.send_ip(junk)
        dev.pump()
    assert dev.received == [answer]
    ctx = m.net.contexts[1]
    assert (ctx.bytes_up, ctx.bytes_down) == (len(ping), len(answer))
    escape_sequence(dev)
    m.feed(b"ATH\r", m.now)
    assert m.take_output() == b"\r\nOK\r\n"
    net.flush(m.now)
    (record,) = [r for r in sink.records if r.session is not None]
    assert (record.bytes_up, record.bytes_down) == (len(ping), len(answer))


# ----- modes and endings ---------------------------------------------------------------------------


def escape_sequence(dev: Device) -> bytes:
    m = dev.m
    m.feed(b"+++", m.now + 1.1)  # guard time S12 = 50 (1 s) before...
    m.poll(m.now + 1.1)  # ...and after
    return m.take_output()


def test_escape_keeps_the_context_ato_resumes_ath_ends() -> None:
    dev, net, _ = online()
    m = dev.m
    assert escape_sequence(dev) == b"\r\nOK\r\n"
    m.feed(b"AT+CGACT?\r", m.now)
    assert b"+CGACT: 1,1" in m.take_output()
    dev.ping(OWN)  # the line is in command mode: the frame is not data, nothing answers
    assert dev.received == []
    m.feed(b"ATO\r", m.now)
    assert m.take_output() == b"\r\nCONNECT\r\n"
    dev.ping(OWN)
    assert len(dev.received) == 1
    escape_sequence(dev)
    m.feed(b"ATH\r", m.now)
    assert m.take_output() == b"\r\nOK\r\n"
    assert not m.net.contexts[1].active and net.open_sessions() == []
    m.feed(b"ATO\r", m.now)
    assert m.take_output() == b"\r\nNO CARRIER\r\n"


def test_dtr_drop_under_and_d1_suspends_and_d2_hangs_up() -> None:
    dev, _, _ = online()
    m = dev.m
    m.settings.dtr = 1  # AT&D1, as set in command mode
    m.dtr_drop()
    assert m.take_output() == b"\r\nOK\r\n" and m.ppp is not None
    m.feed(b"AT&D2;O\r", m.now)
    assert m.take_output() == b"\r\nCONNECT\r\n"
    m.dtr_drop()
    assert m.take_output() == b"\r\nNO CARRIER\r\n"
    assert m.ppp is None and not m.net.contexts[1].active


def test_dtr_drop_under_and_d2_ends_a_bearer_left_by_the_escape() -> None:
    # V.250 6.2.9: &D2 clears the call on DTR's on-to-off transition whatever the state: a bearer
    # suspended by "+++" (online command state) ends too, its context released (the device's host
    # went away: the context's record must not stay open); &D0 and &D1 there change nothing.
    dev, net, sink = online()
    m = dev.m
    assert escape_sequence(dev) == b"\r\nOK\r\n"
    for setting, answer in ((0, b""), (1, b""), (2, b"\r\nNO CARRIER\r\n")):
        m.feed(f"AT&D{setting}\r".encode(), m.now)
        assert m.take_output() == b"\r\nOK\r\n"
        m.dtr_drop()
        assert m.take_output() == answer
        assert (m.ppp is None) == (setting == 2)
    assert m.ppp is None and not m.net.contexts[1].active and net.open_sessions() == []
    (record,) = [r for r in sink.records if r.session is not None]
    assert record.cause == 0  # released by the device's side, normally
    m.feed(b"ATO\r", m.now)
    assert m.take_output() == b"\r\nNO CARRIER\r\n"
    m.dtr_drop()  # nothing left to clear
    assert m.take_output() == b""


def test_network_drop_sends_terminate_request_and_no_carrier() -> None:
    dev, net, _ = online()
    m = dev.m
    m.net.lose()
    out = m.take_output()
    frames = FrameDecoder().feed(out)
    assert any(p == 0xC021 and info[0] == cp.TERM_REQ for p, info in frames)
    assert out.endswith(b"\r\nNO CARRIER\r\n")
    assert m.ppp is None and net.open_sessions() == []


def test_device_terminate_ends_with_no_carrier_and_releases_the_context() -> None:
    dev, net, _ = online()
    dev.link.terminate("bye")
    dev.pump()
    assert dev.text.endswith(b"\r\nNO CARRIER\r\n")
    assert dev.m.ppp is None and net.open_sessions() == [] and not dev.m.in_data_mode


def test_activation_refused_by_the_network_terminates_the_link() -> None:
    m, _, _ = setup()
    m.feed(b'AT+CGDCONT=1,"IP","no.such.apn"\r', m.now)
    m.take_output()
    dev = Device(m)
    assert dev.dial() == b"\r\nCONNECT\r\n"
    assert dev.link.ip is None and dev.text.endswith(b"\r\nNO CARRIER\r\n") and m.ppp is None


def test_the_radio_conditions_delay_ip_packets_as_the_preset_says() -> None:
    m, _, _ = setup(conditions="gprs")
    dev = Device(m)
    dev.dial()
    assert dev.link.ip is not None
    sent_at = m.now
    dev.ping(OWN, b"p" * 200)
    assert dev.received == []  # on its way over GPRS
    rtt = m.link.conditions.rtt_min
    m.poll(sent_at + rtt / 2)
    assert m.take_output() == b""  # not before half the minimum round trip... each way
    deadline = m.next_deadline()
    while deadline is not None and not dev.received and deadline < sent_at + 60:
        dev.link.receive(m.take_output(deadline))
        deadline = m.next_deadline()
        dev.pump()
    assert len(dev.received) == 1
    assert rtt <= m.now - sent_at


def test_a_long_ppp_session_is_cut_every_12_hours_as_any_session() -> None:
    dev, net, sink = online()
    m = dev.m
    dev.ping(OWN, b"a" * 100)
    m.poll(m.now + 13 * 3600)  # thirteen hours later, still online
    dev.pump()
    dev.ping(OWN, b"b" * 100)
    dev.link.terminate("done")
    dev.pump()
    net.flush(m.now + 1)
    records = [r for r in sink.data() if r.session is not None]
    assert [r.cause for r in records] == [17, 0]  # a time-limit partial record, then the final one
    assert sum(r.bytes_up for r in records) == sum(len(p) for p in dev.sent)
    assert sum(r.bytes_down for r in records) == sum(len(p) for p in dev.received)


# ----- host sockets on an event loop (what `serve` does), without lwIP -----------------------------


def test_udp_and_tcp_reach_host_sockets_through_the_served_modem() -> None:
    asyncio.run(asyncio.wait_for(_served_exchange(), 30))


async def _served_exchange() -> None:
    loop = asyncio.get_running_loop()

    class UdpEcho(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(b"udp:" + data, addr)

    async def tcp_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readexactly(5)
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    udp, _ = await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", 0))
    server = await asyncio.start_server(tcp_upper, "127.0.0.1", 0)
    udp_port = udp.get_extra_info("sockname")[1]
    tcp_port = server.sockets[0].getsockname()[1]
    m, _, _ = setup()
    m.internet = Internet(hosts={"192.0.2.80": Target(host="127.0.0.1")}, allow=())
    dev = Device(m)
    dev.dial()
    assert dev.link.ip is not None
    arrived = asyncio.Event()

    def got_ip(packet: bytes) -> None:
        dev.received.append(packet)
        arrived.set()

    dev.link.on_ip = got_ip
    runner = ModemRunner(m, LoopClock(loop, m.now), lambda data: dev.link.receive(data))
    dev.link._write = lambda data: loop.call_soon(runner.feed, data)  # type: ignore[method-assign]
    far = ipaddress.IPv4Address("192.0.2.80").packed

    async def next_packet() -> Ipv4:
        arrived.clear()
        while True:
            if dev.received:
                ip = parse_ipv4(dev.received.pop(0))
                assert ip is not None
                return ip
            await arrived.wait()
            arrived.clear()

    try:
        dev.link.send_ip(build_udp(dev.address, far, 5000, udp_port, b"hello"))
        ip = await next_packet()
        assert ip.proto == UDP and ip.src == far and ip.payload[8:] == b"udp:hello"
        syn = build_tcp(dev.address, far, 40000, tcp_port, 100, 0, SYN, 65535, mss=1400)
        dev.link.send_ip(syn)
        ip = await next_packet()
        t = parse_tcp(ip.payload)
        assert t is not None and t.flags == SYN | ACK and t.ack == 101
        dev.link.send_ip(
            build_tcp(dev.address, far, 40000, tcp_port, 101, t.seq + 1, ACK | PSH, 65535, b"hello")
        )
        got = b""
        while True:
            ip = await next_packet()
            seg = parse_tcp(ip.payload)
            assert seg is not None
            got += seg.data
            if seg.flags & FIN:
                break
        assert got == b"HELLO"  # the host server's answer, then its close
        # nothing on a port: the host's "port unreachable" reaches the device (it got nothing, where
        # a module stack's socket bills it), from the address it sent to, quoting its datagram
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        closed.close()
        datagram = build_udp(dev.address, far, 5001, closed_port, b"anyone?")
        dev.link.send_ip(datagram)
        ip = await next_packet()
        while ip.proto == TCP:  # (the closed connection's last segments)
            ip = await next_packet()
        assert ip.proto == ICMP and ip.src == far and ip.payload[:2] == bytes([3, 3])
        assert ip.payload[8:] == datagram and 20 + len(ip.payload) == 20 + 8 + len(
            datagram
        )  # all of it quoted
    finally:
        runner.close()
        assert m.ppp is not None and m.ppp.forwarder is not None
        m.ppp.forwarder.close()
        udp.close()
        server.close()
        await server.wait_closed()


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            st.sampled_from([0xC021, 0xC023, 0xC223, 0x8021, 0x0021, 0x8057, 0x80FD]),
            st.binary(max_size=80)
            | st.builds(
                lambda code, ident, body: bytes([code, ident]) + (4 + len(body)).to_bytes(2, "big") + body,
                st.integers(0, 12),
                st.integers(0, 255),
                st.binary(max_size=40),
            ),
        ),
        max_size=8,
    ),
    noise=st.binary(max_size=40),
)
def test_garbage_on_the_line_never_breaks_the_modem(frames: list[tuple[int, bytes]], noise: bytes) -> None:
    dev, _, _ = online()
    m = dev.m
    m.feed(noise + b"".join(encode_frame(p, info, accm=0) for p, info in frames), m.now)
    m.poll(m.now + 10.0)  # restart timers and whatever the frames started
    m.take_output()
    m.feed(b"+++", m.now + 1.5)
    m.poll(m.now + 1.5)
    m.feed(b"ATH\r", m.now)
    assert m.take_output().endswith((b"OK\r\n", b"NO CARRIER\r\n"))
    assert m.ppp is None


# ----- renegotiation and loops (RFC 1661 4.1, 4.6) --------------------------------------------------


def test_a_device_restarting_ppp_on_the_open_line_gets_ip_again() -> None:
    # An MCU that resets and starts its PPP again while the modem is still online sends a fresh LCP
    # Configure-Request on the open link: LCP, authentication and IPCP are negotiated again.
    for refuse in (frozenset(), frozenset({lcp.AUTH})):  # authenticated, or not (the device rejects it)
        dev, net, _ = online(refuse_lcp=refuse)
        m = dev.m
        session = m.net.contexts[1].session_id
        again = Device(m, user="33612345678", password="secret", refuse_lcp=refuse)
        again.link.start()
        again.pump()
        assert again.link.ip is not None, (refuse, again.link.phase)
        assert again.link.ip.local == ipaddress.IPv4Address(m.net.contexts[1].ip).packed
        again.ping(OWN)
        assert len(again.received) == 1
        assert m.net.contexts[1].session_id == session and net.open_sessions() == [session]


def _answers(m: VirtualModem, protocol: int, ident: int, options: cp.Options) -> list[bytes]:
    """The modem's answers (protocol `protocol`) to one Configure-Request built here."""
    m.feed(encode_frame(protocol, cp.packet(cp.CONF_REQ, ident, cp.build_options(options))), m.now)
    frames = FrameDecoder(accm=0).feed(m.take_output(m.now))
    return [info for p, info in frames if p == protocol and info[0] != cp.CONF_REQ]


def test_a_nak_loop_turns_into_a_reject_after_max_failure() -> None:
    # A peer that asks again and again for an MRU of 40 (below the minimum): five Naks, then the
    # option is Rejected (RFC 1661 4.6 Max-Failure), and a request without it is Acked.
    m, _, _ = setup()
    m.feed(b"ATD*99#\r", m.now)
    assert m.take_output(m.now).startswith(b"\r\nCONNECT\r\n")
    codes = []
    for ident in range(1, 8):
        (answer,) = _answers(m, 0xC021, ident, [(lcp.MRU, b"\x00\x28"), (lcp.MAGIC, b"\x0a\x0b\x0c\x0d")])
        codes.append(answer[0])
        assert answer[1] == ident
    assert codes == [cp.CONF_NAK] * 5 + [cp.CONF_REJ] * 2
    assert cp.parse_options(answer[4:]) == [(lcp.MRU, b"\x00\x28")]
    (ack,) = _answers(m, 0xC021, 9, [(lcp.MAGIC, b"\x0a\x0b\x0c\x0d")])
    assert ack[0] == cp.CONF_ACK


def test_a_device_asking_again_for_what_was_rejected_is_hung_up_after_ten_rejects() -> None:
    # RFC 1661 5.4: a peer MUST NOT ask again for options Rejected; one that does (here the
    # Quality-Protocol option, every time) got Rejects without end.  Ten in a row (Max-Configure's
    # figure), then LCP finishes: NO CARRIER, no PDP context.
    m, net, _ = setup()
    m.feed(b"ATD*99#\r", m.now)
    assert m.take_output(m.now).startswith(b"\r\nCONNECT\r\n")
    quality = (lcp.QUALITY, b"\xc0\x25\x00\x00\x00\x0a")
    codes = []
    request = cp.build_options([quality, (lcp.MAGIC, b"\x0a\x0b\x0c\x0d")])
    for ident in range(1, 30):
        m.feed(encode_frame(0xC021, cp.packet(cp.CONF_REQ, ident, request)), m.now)
        out = m.take_output(m.now)
        codes += [
            info[0] for p, info in FrameDecoder(accm=0).feed(out) if p == 0xC021 and info[0] != cp.CONF_REQ
        ]
        if m.ppp is None:
            break
    assert codes == [cp.CONF_REJ] * cp.MAX_REJECTS
    assert out.endswith(b"\r\nNO CARRIER\r\n") and m.ppp is None
    assert net.open_sessions() == [] and not m.net.contexts[1].active


def test_a_reject_of_options_not_requested_is_discarded() -> None:
    # RFC 1661 5.4: a Configure-Reject lists some of the request's options, unchanged and in order;
    # another is silently discarded.  A device that answers every request with one (here rejecting
    # an MRU the modem never asks for) got a new request at once, every time, without end; now the
    # restart timer resends the request and after Max-Configure (10) the link ends.
    m, net, _ = setup()
    m.feed(b"ATD*99#\r", m.now)
    requests = 0
    for _ in range(40):
        frames = FrameDecoder(accm=0).feed(m.take_output(m.now))
        reqs = [info for p, info in frames if p == 0xC021 and info[0] == cp.CONF_REQ]
        requests += len(reqs)
        if m.ppp is None:
            break
        for req in reqs:
            bogus = cp.packet(cp.CONF_REJ, req[1], cp.build_options([(lcp.MRU, b"\x05\xdc")]))
            m.feed(encode_frame(0xC021, bogus), m.now)
        if not reqs:
            m.poll(m.now + cp.RESTART_S)
    assert m.ppp is None and requests == cp.MAX_CONFIGURE
    assert net.open_sessions() == []


def test_naks_the_modem_cannot_take_drop_the_option_after_max_failure() -> None:
    # A device that Naks the modem's own IPCP address with another, again and again: the modem asked
    # again with the same address at once, every time, without end.  After five Naks the sixth is
    # taken as a Reject (as pppd does): the modem asks without the address and the device Acks.
    dev, _, _ = online()
    m = dev.m
    assert m.ppp is not None and m.ppp.link.ipcp is not None
    ipcp = m.ppp.link.ipcp
    ipcp.open()  # the modem's IPCP Configure-Request again, as on a renegotiation
    other = ipaddress.IPv4Address("192.0.2.1").packed
    asked = []
    for _ in range(10):
        frames = FrameDecoder(accm=0).feed(m.take_output(m.now))
        (req,) = [info for p, info in frames if p == 0x8021 and info[0] == cp.CONF_REQ]
        options = cp.parse_options(req[4:])
        asked.append(options)
        if not options:
            break
        m.feed(encode_frame(0x8021, cp.packet(cp.CONF_NAK, req[1], cp.build_options([(3, other)]))), m.now)
    assert asked == [[(3, OWN)]] * 6 + [[]]


def test_a_device_insisting_on_its_own_address_is_rejected_then_hung_up() -> None:
    # pppd with a fixed local address and no ipcp-accept-local asks for it whatever the Nak says:
    # five Naks with the context's address, the address Rejected, then the link ends.
    dev, net, _ = online()
    m = dev.m
    fixed = ipaddress.IPv4Address("192.168.7.7").packed
    codes = []
    for ident in range(10, 16):
        (answer,) = _answers(m, 0x8021, ident, [(3, fixed)])
        codes.append(answer[0])
    assert codes == [cp.CONF_NAK] * 5 + [cp.CONF_REJ]
    assert cp.parse_options(answer[4:]) == [(3, fixed)]
    m.feed(encode_frame(0x8021, cp.packet(cp.CONF_REQ, 16, b"")), m.now)  # asks without an address
    (term,) = [i for p, i in FrameDecoder(accm=0).feed(m.take_output(m.now)) if p == 0xC021]
    assert term[0] == cp.TERM_REQ
    m.feed(encode_frame(0xC021, cp.packet(cp.TERM_ACK, term[1])), m.now)
    assert m.take_output(m.now).endswith(b"\r\nNO CARRIER\r\n")
    assert net.open_sessions() == [] and m.ppp is None


def test_an_unknown_ipcp_code_gets_a_code_reject_and_ipcp_stays_open() -> None:
    dev, _, _ = online()
    m = dev.m
    echo_in_ipcp = cp.packet(cp.ECHO_REQ, 5, b"\x01\x02\x03\x04data")  # an LCP-only code, sent in IPCP
    m.feed(encode_frame(0x8021, echo_in_ipcp), m.now)
    (answer,) = [info for p, info in FrameDecoder(accm=0).feed(m.take_output(m.now)) if p == 0x8021]
    assert answer[0] == cp.CODE_REJ and answer[4:] == echo_in_ipcp
    assert m.ppp is not None and m.ppp.link.ipcp is not None and m.ppp.link.ipcp.opened
    dev.ping(OWN)
    assert len(dev.received) == 1


def _dial_apn(apn: str, password: str, method: str) -> tuple[Device, Network]:
    m, net, _ = setup()
    m.feed(f'AT+CGDCONT=1,"IP","{apn}"\r'.encode(), m.now)
    assert m.take_output() == b"\r\nOK\r\n"
    dev = Device(m, user="33612345678", password=password, do_auth=(method,))
    assert dev.dial() == b"\r\nCONNECT\r\n"
    return dev, net


def test_an_apn_that_asks_for_authentication_refuses_a_wrong_password() -> None:
    # internet-entreprise asks PAP with "entreprise", orange-mib CHAP with "mib-access"
    # (gateway/data/apns.yaml): the modem passes the PPP credentials on at activation.
    for apn, right, method in (
        ("internet-entreprise", "entreprise", "pap"),
        ("orange-mib", "mib-access", "chap"),
    ):
        dev, net = _dial_apn(apn, right, method)
        assert dev.link.ip is not None, (apn, dev.link.phase)
        assert dev.m.net.contexts[1].auth == method and len(net.open_sessions()) == 1
        dev, net = _dial_apn(apn, "wrong", method)
        assert dev.link.ip is None and dev.finished, apn  # the modem's LCP Terminate-Request
        assert dev.text.endswith(b"\r\nNO CARRIER\r\n") and net.open_sessions() == []
        assert dev.m.ppp is None and not dev.m.net.contexts[1].active
        assert net.journal.counters["session-refused:209"] == 1
    # an APN that asks nothing takes any credentials
    dev, net = _dial_apn("orange.m2m.spec", "anything", "pap")
    assert dev.link.ip is not None


def _dial_missing_challenges(answering: bool) -> tuple[Device, Network, list[bytes]]:
    """A device that misses the first CHAP Challenge (answering), or every one; 36 s pass."""
    m, net, _ = setup()
    dev = Device(m, user="33612345678", password="secret")
    frame = dev.link._frame
    missed: list[bytes] = []

    def lossy(protocol: int, info: bytes) -> None:
        if protocol == 0xC223 and (not missed or not answering):
            missed.append(info)  # never reaches the device's CHAP
            return
        frame(protocol, info)

    dev.link._frame = lossy  # type: ignore[method-assign]
    assert dev.dial() == b"\r\nCONNECT\r\n"
    assert dev.link.phase == "authenticate" and len(missed) == 1
    for _ in range(12):
        m.poll(m.now + 3.0)
        dev.pump()
    return dev, net, missed


def test_a_lost_chap_challenge_is_sent_again_and_an_unanswered_one_ends_the_link() -> None:
    # RFC 1994 4.1: Challenges are sent until a valid Response comes.  The device misses the first
    # (line noise: a bad FCS): the modem sends it again after 3 s and the link comes up.
    dev, net, missed = _dial_missing_challenges(answering=True)
    assert len(missed) == 1 and dev.link.ip is not None
    assert dev.m.net.contexts[1].auth == "chap" and len(net.open_sessions()) == 1
    # one that never answers: 10 Challenges, then the modem gives up (Terminate-Request, NO CARRIER)
    dev, net, missed = _dial_missing_challenges(answering=False)
    assert len(missed) == 10 and len({c[1] for c in missed}) == 1  # the same identifier
    assert dev.finished and dev.text.endswith(b"\r\nNO CARRIER\r\n") and dev.m.ppp is None
    assert net.open_sessions() == []


def test_a_device_that_agrees_pap_and_never_authenticates_is_hung_up_after_30_s() -> None:
    # The device agreed PAP in LCP, then no Authenticate-Request comes (lost, or a stack that never
    # sends one): the modem waits 30 s, as pppd's pap-timeout, then ends the link (RFC 1334 leaves
    # the authenticator's wait to it); before, the bearer waited in the Authenticate phase for ever.
    m, net, _ = setup()
    dev = Device(m, user="33612345678", password="secret", do_auth=("pap",))
    send = dev.link.send
    dev.link.send = lambda protocol, info: None if protocol == 0xC023 else send(protocol, info)  # type: ignore[method-assign]
    assert dev.dial() == b"\r\nCONNECT\r\n"
    assert dev.link.phase == "authenticate" and dev.m.ppp is not None
    m.poll(m.now + 29.0)
    dev.pump()
    assert dev.m.ppp is not None and not dev.finished
    m.poll(m.now + 1.0)
    dev.pump()
    assert dev.finished and dev.text.endswith(b"\r\nNO CARRIER\r\n") and dev.m.ppp is None
    assert net.open_sessions() == [] and not m.net.contexts[1].active


def test_a_frame_with_a_bad_fcs_is_dropped_and_counted_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    dev, _, _ = online()
    m = dev.m
    frame = bytearray(encode_frame(0x21, b"\x45" + bytes(27), accm=0))
    frame[-2] ^= 0x01  # the FCS's last octet
    m.feed(bytes(frame), m.now)
    assert m.take_output(m.now) == b""  # nothing answers a damaged frame
    dev.ping(OWN)  # the link goes on
    assert len(dev.received) == 1
    with caplog.at_level(logging.INFO, logger="modem.virtual.ppp.bearer"):
        dev.link.terminate("bye")
        dev.pump()
    assert "1 dropped (bad FCS" in caplog.text


def test_a_looped_back_line_is_detected_and_hung_up_without_a_pdp_context() -> None:
    # What the modem sends comes back to it (a loopback plug, a mis-wired null modem): its own
    # Configure-Requests carry its own magic number; Naked every time (never Rejected at
    # Max-Failure), the tenth in a row ends the link before any PDP context (RFC 1661 6.4, pppd).
    m, net, sink = setup()
    m.feed(b"ATD*99#\r", m.now)
    out = m.take_output(m.now)
    assert out.startswith(b"\r\nCONNECT\r\n")
    out = out[len(b"\r\nCONNECT\r\n") :]
    bearer = m.ppp
    assert bearer is not None
    for _ in range(60):
        m.feed(out, m.now)
        m.poll(m.now + 0.5)
        out = m.take_output(m.now)
        if m.ppp is None:
            break
    assert out.endswith(b"\r\nNO CARRIER\r\n") and m.ppp is None
    assert bearer.link.ipcp is None  # LCP never opened: no network phase
    assert bearer.link.lcp_policy.magic != 0 and lcp.MAGIC in bearer.link.lcp_policy.want
    net.flush(m.now)
    assert net.journal.counters["session-refused:209"] == 0 and not sink.data()
    assert not m.net.contexts[1].active and bearer.link.lcp_policy.looped_back


def test_closing_the_runner_mid_session_closes_the_forwarders_host_connections() -> None:
    asyncio.run(asyncio.wait_for(_runner_closed_mid_session(), 30))


async def _runner_closed_mid_session() -> None:
    # The transport closes (a virtual:// URL's close, serve ending) while the device has a TCP
    # connection through the forwarder to a host server: that connection must end with it, not
    # stay open on the loop (the server never saw its end).
    loop = asyncio.get_running_loop()
    accepted, ended = asyncio.Event(), asyncio.Event()

    async def host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until the connection's end
        ended.set()
        writer.close()

    server = await asyncio.start_server(host, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    m, _, _ = setup()
    m.internet = Internet(hosts={"192.0.2.80": Target(host="127.0.0.1")}, allow=())
    dev = Device(m)
    dev.dial()
    runner = ModemRunner(m, LoopClock(loop, m.now), lambda data: dev.link.receive(data))
    dev.link._write = lambda data: loop.call_soon(runner.feed, data)  # type: ignore[method-assign]
    far = ipaddress.IPv4Address("192.0.2.80").packed
    try:
        dev.link.send_ip(build_tcp(dev.address, far, 40000, port, 100, 0, SYN, 65535, mss=1400))
        await accepted.wait()
        runner.close()
        await ended.wait()
        assert m.ppp is not None and m.ppp.forwarder is not None and not m.ppp.forwarder.tcp
        assert m.net.contexts[1].active  # the context is the network's to close (serve: cause 20)
    finally:
        runner.close()
        server.close()
        await server.wait_closed()


def test_the_client_closing_the_pty_mid_frame_drops_dtr_and_ends_the_bearer() -> None:
    asyncio.run(asyncio.wait_for(_client_killed_mid_frame(), 30))


async def _client_killed_mid_frame() -> None:
    # The DTE's process dies (pppd, lwIP killed) in the middle of a frame: its port's last close
    # drops DTR, as a serial port's does (HUPCL, the termios default); under AT&D2 the bearer ends,
    # the context is released, and the next client finds the modem in command mode.
    loop = asyncio.get_running_loop()
    m, net, sink = setup()
    endpoint = PtyEndpoint(m, LoopClock(loop, m.now))
    if endpoint.slave is not None:
        endpoint.close()
        pytest.skip("no inotify here: the endpoint holds the pty open and cannot see a client leave")
    left = asyncio.Event()
    gone = endpoint._left

    def leaving() -> None:
        gone()
        left.set()

    endpoint._left = leaving  # type: ignore[method-assign]

    async def talk(fd: int, line: bytes, wanted: bytes) -> bytes:
        got = bytearray()
        arrived = asyncio.Event()

        def readable() -> None:
            got.extend(os.read(fd, 4096))
            arrived.set()

        loop.add_reader(fd, readable)
        try:
            os.write(fd, line)
            while wanted not in got:
                await arrived.wait()
                arrived.clear()
        finally:
            loop.remove_reader(fd)
        return bytes(got)

    def open_client() -> int:
        fd = os.open(endpoint.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        return fd

    try:
        fd = open_client()
        await talk(fd, b"ATD*99#\r", b"CONNECT")
        up = asyncio.Event()
        link = PppLink(
            "device",
            lambda data: os.write(fd, data) and None,
            no_timers,
            random.Random(7),
            on_ip_up=lambda _: up.set(),
        )
        loop.add_reader(fd, lambda: link.receive(os.read(fd, 4096)))
        link.start()
        await up.wait()
        loop.remove_reader(fd)
        assert m.ppp is not None and m.net.contexts[1].active
        os.write(fd, b"\x7e\x21\x45\x00")  # the start of an IP packet's frame
        os.close(fd)
        await left.wait()
        assert m.ppp is None and not m.in_data_mode
        assert not m.net.contexts[1].active
        fd = open_client()
        try:
            assert (await talk(fd, b"AT\r", b"OK\r\n")).endswith(b"\r\nOK\r\n")
        finally:
            os.close(fd)
    finally:
        endpoint.close()
    assert net.open_sessions() == []
    (record,) = [r for r in sink.records if r.session is not None]
    assert record.cause == 0  # released by the modem, as at a hang-up (not left to the end of serve)


def test_the_client_leaving_the_tcp_port_drops_dtr_and_ends_the_bearer() -> None:
    asyncio.run(asyncio.wait_for(_tcp_client_leaves(), 30))


async def _tcp_client_leaves() -> None:
    loop = asyncio.get_running_loop()
    m, _, _ = setup()
    endpoint = TcpEndpoint(m, LoopClock(loop, m.now), 0)
    await endpoint.start()
    dropped = asyncio.Event()
    drop = endpoint._drop_client

    def dropping() -> None:
        had = endpoint._client is not None  # (called at each accept too, with no client yet)
        drop()
        if had:
            dropped.set()

    endpoint._drop_client = dropping  # type: ignore[method-assign]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        writer.write(b"ATD*99#\r")
        await reader.readuntil(b"CONNECT\r\n")
        assert m.ppp is not None
        writer.close()
        await dropped.wait()
        assert m.ppp is None and not m.in_data_mode
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        writer.write(b"AT\r")
        assert (await reader.readuntil(b"OK\r\n")).endswith(b"\r\nOK\r\n")
        writer.close()
    finally:
        endpoint.close()
