"""`gateway.ipv4`: the Internet checksum and the reassembly of fragments that the capture reader and
the PPP forwarder share: any order, copies, overlaps, bounds, time."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from gateway.ipv4 import Reassembly, Unfinished, checksum, reassemble
from modem.virtual.ppp.ip import build_udp, fragment

Key = tuple[bytes, bytes, int, int]
KEY: Key = (bytes([10, 64, 0, 9]), bytes([192, 0, 2, 1]), 17, 0x1234)


def _rfc1071(data: bytes) -> int:
    """RFC 1071 word by word: the reference for the fast checksum."""
    if len(data) & 1:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(
    data=st.binary(max_size=300)
    | st.sampled_from([b"", b"\0\0", b"\xff\xff", b"\xff\xff\xff\xff", b"\0\x01"])
)
def test_internet_checksum_equals_rfc1071(data: bytes) -> None:
    assert checksum(data) == _rfc1071(data)


def _parts(**bounds: int) -> tuple[Reassembly[Key], list[Unfinished[Key]]]:
    given_up: list[Unfinished[Key]] = []
    parts: Reassembly[Key] = Reassembly(
        bounds.get("timeout", 30),
        bounds.get("datagrams", 8),
        bounds.get("pieces", 64),
        evict_oldest=bool(bounds.get("evict", 0)),
        on_given_up=given_up.append,
    )
    return parts, given_up


@given(size=st.integers(1500, 9000), mtu=st.integers(68, 1500), order=st.randoms(use_true_random=False))
def test_fragments_in_any_order_and_repeated_are_put_back_together(
    size: int, mtu: int, order: random.Random
) -> None:
    packet = build_udp(KEY[0], KEY[1], 5000, 7, bytes(i % 251 for i in range(size)), 0x1234)
    pieces = fragment(packet, mtu)
    shuffled = pieces + order.sample(pieces, k=min(2, len(pieces)))  # some twice
    order.shuffle(shuffled)
    whole = reassemble(shuffled)
    assert whole is not None and whole[20:] == packet[20:] and whole[:6] == packet[:6]
    assert whole[8:10] == packet[8:10] and whole[12:20] == packet[12:20] and checksum(whole[:20]) == 0
    assert whole[6:8] == b"\0\0"  # a datagram, not a fragment
    assert reassemble(pieces[:-1]) is None and reassemble(pieces[1:]) is None


def test_overlapping_fragments_keep_the_octets_that_came_first() -> None:
    # RFC 815: a fragment fills holes only; whichever order, the datagram is whole once covered
    a, b, c = (0, True, b"A" * 16), (8, True, b"B" * 16), (24, False, b"C" * 8)
    parts, _ = _parts()
    assert parts.add(KEY, 0, *a) is None and parts.add(KEY, 0, *b) is None
    whole = parts.add(KEY, 0, *c)
    assert whole is not None and whole.data == b"A" * 16 + b"B" * 8 + b"C" * 8
    parts, _ = _parts()
    assert parts.add(KEY, 0, *c) is None and parts.add(KEY, 0, *b) is None
    whole = parts.add(KEY, 0, *a)
    assert whole is not None and whole.data == b"A" * 8 + b"B" * 16 + b"C" * 8
    assert whole.pieces == {0: b"A" * 16, 8: b"B" * 16, 24: b"C" * 8}
    assert len(parts) == 0


def test_a_copy_of_a_fragment_is_ignored_and_takes_no_room() -> None:
    parts, _ = _parts(pieces=2)
    assert parts.add(KEY, 0, 0, True, b"x" * 8) is None
    assert parts.add(KEY, 1, 0, True, b"x" * 8) is None  # a copy (a retransmission, a SPAN port's)
    whole = parts.add(KEY, 2, 8, False, b"y")
    assert whole is not None and whole.data == b"x" * 8 + b"y" and parts.refused == 0


def test_octets_past_the_last_fragments_end_are_not_the_datagrams() -> None:
    parts, _ = _parts()
    assert parts.add(KEY, 0, 16, True, b"z" * 16) is None  # beyond the end the last one gives
    assert parts.add(KEY, 0, 8, False, b"y" * 4) is None
    whole = parts.add(KEY, 0, 0, True, b"x" * 8)
    assert whole is not None and whole.data == b"x" * 8 + b"y" * 4


def test_too_many_fragments_or_datagrams_are_refused_or_the_oldest_forgotten() -> None:
    parts, _ = _parts(pieces=2, datagrams=2)
    assert parts.add(KEY, 0, 0, True, b"a" * 8) is None and parts.add(KEY, 0, 16, False, b"c") is None
    assert parts.add(KEY, 0, 8, True, b"b" * 8) is None and parts.refused == 1  # a third piece
    other = [(KEY[0], KEY[1], 17, ident) for ident in (1, 2)]
    assert parts.add(other[0], 0, 0, True, b"o" * 8) is None and len(parts) == 2
    assert parts.add(other[1], 0, 0, True, b"p" * 8) is None and parts.refused == 2 and len(parts) == 2
    parts, given_up = _parts(datagrams=2, evict=1)
    for key in (KEY, *other):
        assert parts.add(key, 0, 0, True, b"o" * 8) is None
    assert [u.key for u in parts.unfinished()] == other
    assert [(u.key, u.head) for u in given_up] == [(KEY, b"o" * 8)]  # the oldest given up, its caller told
    assert parts.refused == 0


def test_a_datagram_longer_than_65535_octets_is_dropped() -> None:
    # the "ping of death": a last fragment at offset 65,528 with 100 octets; the forwarder built a
    # header whose total length did not fit 16 bits (OverflowError)
    parts, _ = _parts()
    header = bytes(20)
    assert parts.add(KEY, 0, 0, True, b"a" * 8, header=header) is None
    assert parts.add(KEY, 0, 65_528, False, b"b" * 100, header=header) is None
    assert parts.refused == 1 and len(parts) == 0  # the datagram's fragments go with it
    assert parts.add(KEY, 0, 65_488, False, b"b" * 27, header=header) is None and parts.refused == 1


def test_a_datagram_is_given_up_its_timeout_after_its_first_fragment() -> None:
    parts, given_up = _parts(timeout=30)
    assert parts.add(KEY, 100, 8, True, b"b" * 8, tag=1) is None
    assert parts.add(KEY, 110, 0, True, b"a" * 8, tag=2) is None
    assert parts.holds(KEY, 129.5) and not parts.holds(KEY, 130)
    assert parts.next_deadline() == 130 and parts.expire(129.9) == 0 and given_up == []
    # a fragment of the key 30 s after the first: another datagram (the identification used again)
    assert parts.add(KEY, 130, 16, False, b"c", tag=3) is None
    assert given_up == [Unfinished(KEY, 1, b"a" * 8)]
    assert [(u.tag, u.head) for u in parts.unfinished()] == [(3, None)]
    assert parts.expire(160) == 1 and len(parts) == 0 and parts.next_deadline() is None
    assert given_up[1] == Unfinished(KEY, 3, None)
