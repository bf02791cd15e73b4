"""Concatenated messages: alphabet choice, part counts, splitting at safe points, reassembly."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    Address,
    Alphabet,
    ConcatInfo,
    DataCoding,
    Direction,
    MessageTooLongError,
    Reassembler,
    SmsDeliver,
    SmsSubmit,
    UserData,
    choose_alphabet,
    count_parts,
    decode_pdu,
    encode_deliver,
    encode_submit,
    length_info,
    split_text,
)
from modem.sms.gsm7 import ESC
from modem.sms.segment import encode_text, split_payload

SCTS = datetime(2026, 11, 28, 18, 0, 0, tzinfo=UTC)


def _decode_all(text: str, **kw: object) -> list[SmsDeliver]:
    out = []
    for p in encode_deliver(text, "+33612345678", SCTS, **kw):  # type: ignore[arg-type]
        m = decode_pdu(p.hex, Direction.MT)
        assert isinstance(m, SmsDeliver)
        out.append(m)
    return out


@pytest.mark.parametrize(
    ("text", "alphabet", "parts"),
    [
        ("", Alphabet.GSM7, 1),
        ("a" * 160, Alphabet.GSM7, 1),
        ("a" * 161, Alphabet.GSM7, 2),
        ("a" * 306, Alphabet.GSM7, 2),
        ("a" * 307, Alphabet.GSM7, 3),
        ("€" * 80, Alphabet.GSM7, 1),  # 160 septets
        ("€" * 81, Alphabet.GSM7, 2),
        ("é" * 160, Alphabet.GSM7, 1),  # é is in the default alphabet
        ("ç" * 70, Alphabet.UCS2, 1),
        ("ç" * 71, Alphabet.UCS2, 2),
        ("ç" * 134, Alphabet.UCS2, 2),
        ("ç" * 135, Alphabet.UCS2, 3),
        ("😀" * 35, Alphabet.UCS2, 1),  # 70 UTF-16 units
        ("😀" * 36, Alphabet.UCS2, 2),
    ],
)
def test_alphabet_and_part_count(text: str, alphabet: Alphabet, parts: int) -> None:
    assert choose_alphabet(text) is alphabet
    assert count_parts(text) == parts
    assert len(encode_submit(text, "+33612345678")) == parts


def test_length_info() -> None:
    info = length_info("a" * 200)
    assert (info.alphabet, info.units, info.parts, info.per_part, info.remaining) == (
        Alphabet.GSM7,
        200,
        2,
        153,
        106,
    )
    info = length_info("Привет")
    assert (info.alphabet, info.parts, info.per_part, info.remaining) == (Alphabet.UCS2, 1, 70, 64)


def test_part_capacities_8bit_and_16bit_references() -> None:
    assert [len(p) for p in split_text("a" * 400)[1]] == [153, 153, 94]
    assert [len(p) for p in split_text("a" * 400, concat_16bit=True)[1]] == [152, 152, 96]
    assert [len(p) for p in split_text("ж" * 140)[1]] == [67, 67, 6]
    assert [len(p) for p in split_text("ж" * 140, concat_16bit=True)[1]] == [66, 66, 8]
    data = encode_submit(bytes(300), "+33612345678")
    assert [len(p.message.data) for p in data] == [134, 134, 32]
    assert all(p.tpdu_length <= 140 + 2 + 12 + 3 for p in data)


def test_escape_pair_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro would straddle septets 153/154
    parts = _decode_all(text)
    assert [len(p.user_data.payload) for p in parts] == [152, 12]
    assert parts[0].text == "a" * 152 and parts[1].text == "€" + "b" * 10


def test_surrogate_pair_never_split() -> None:
    text = "ж" * 66 + "😀" + "x" * 5  # the emoji would straddle UTF-16 units 67/68
    parts = _decode_all(text)
    assert [len(p.user_data.payload) // 2 for p in parts] == [66, 7]
    assert parts[0].text == "ж" * 66 and parts[1].text == "😀xxxxx"


def test_concat_headers_and_udh_fill_bits() -> None:
    pdus = encode_submit("a" * 200, "+33612345678", message_reference=10, concat_reference=200)
    for i, p in enumerate(pdus, start=1):
        assert p.tpdu[0] & 0x40  # UDHI
        m = p.message
        assert m.concat == ConcatInfo(200, 2, i, 8)
        assert m.message_reference == 9 + i
        assert (p.part, p.parts) == (i, 2)
    # UDL counts the 7 header septets (6 octets + 1 fill bit): 160 for a full part.
    first = pdus[0].tpdu
    assert first[first.index(b"\x05\x00\x03") - 1] == 160
    assert "050003C80201" in pdus[0].hex


def test_16bit_reference() -> None:
    pdus = encode_submit("b" * 300, "+33612345678", concat_reference=0xBEEF, concat_16bit=True)
    assert all("060804BEEF02" in p.hex for p in pdus)
    m = decode_pdu(pdus[1].hex, Direction.MO)
    assert isinstance(m, SmsSubmit) and m.concat == ConcatInfo(0xBEEF, 2, 2, 16)


@pytest.mark.parametrize("parts", [2, 3, 17, 255])
def test_many_parts_round_trip(parts: int) -> None:
    text = "".join(chr(ord("A") + i % 26) for i in range(153 * parts))
    pdus = encode_deliver(text, "+33612345678", SCTS, concat_reference=77)
    assert len(pdus) == parts
    r = Reassembler(timeout=60)
    msgs = [decode_pdu(p.hex, Direction.MT) for p in pdus]
    out = [r.add(m, now=0.0) for m in reversed(msgs) if isinstance(m, SmsDeliver)]
    assert out[:-1] == [None] * (parts - 1)
    whole = out[-1]
    assert whole is not None and whole.text == text and len(whole.parts) == parts


def test_too_many_parts() -> None:
    with pytest.raises(MessageTooLongError, match="more than 255 parts"):
        encode_submit("a" * (153 * 255 + 1), "+33612345678")


@settings(derandomize=True, deadline=None, max_examples=60)
@given(
    st.text(alphabet=st.sampled_from(["a", "€", "[", "ж", "😀", " ", "\n"]), min_size=1, max_size=700),
    st.randoms(use_true_random=False),
)
def test_reassembly_in_any_order_with_duplicates(text: str, rnd: random.Random) -> None:
    pdus = encode_deliver(text, "+33612345678", SCTS, concat_reference=5)
    msgs = [decode_pdu(p.hex, Direction.MT) for p in pdus]
    arrivals = msgs + [rnd.choice(msgs) for _ in range(len(msgs) // 2)]
    rnd.shuffle(arrivals)
    r = Reassembler(timeout=60)
    wholes = [w for m in arrivals if isinstance(m, SmsDeliver) and (w := r.add(m, now=1.0)) is not None]
    # Complete once every part is in; a duplicate arriving after completion starts a new group.
    assert wholes and all(w.text == text for w in wholes)
    if len(msgs) > 1:
        assert r.pending + len(wholes) - 1 <= len(arrivals) - len(msgs)


def test_different_senders_and_references_do_not_mix() -> None:
    r = Reassembler(timeout=60)
    a = [decode_pdu(p.hex, Direction.MT) for p in encode_deliver("A" * 200, "+111", SCTS, concat_reference=1)]
    b = [decode_pdu(p.hex, Direction.MT) for p in encode_deliver("B" * 200, "+222", SCTS, concat_reference=1)]
    c = [decode_pdu(p.hex, Direction.MT) for p in encode_deliver("C" * 200, "+111", SCTS, concat_reference=2)]
    done = []
    for m in [a[0], b[0], c[0], c[1], b[1], a[1]]:
        assert isinstance(m, SmsDeliver)
        w = r.add(m, now=0.0)
        if w is not None:
            done.append((w.peer.number, w.text))
    assert done == [("+111", "C" * 200), ("+222", "B" * 200), ("+111", "A" * 200)]
    assert r.pending == 0


def test_duplicates_are_counted_and_ignored() -> None:
    r = Reassembler(timeout=60)
    parts = [
        decode_pdu(p.hex, Direction.MT) for p in encode_deliver("D" * 400, "+111", SCTS, concat_reference=3)
    ]
    assert all(isinstance(m, SmsDeliver) for m in parts)
    assert r.add(parts[0], 0.0) is None  # type: ignore[arg-type]
    assert r.add(parts[0], 1.0) is None  # type: ignore[arg-type]
    assert r.add(parts[2], 2.0) is None  # type: ignore[arg-type]
    whole = r.add(parts[1], 3.0)  # type: ignore[arg-type]
    assert whole is not None and whole.text == "D" * 400 and r.duplicates == 1


def test_expiry_uses_the_callers_clock() -> None:
    r = Reassembler(timeout=30.0)
    parts = [
        decode_pdu(p.hex, Direction.MT) for p in encode_deliver("E" * 500, "+111", SCTS, concat_reference=4)
    ]
    r.add(parts[0], now=100.0)  # type: ignore[arg-type]
    r.add(parts[2], now=110.0)  # type: ignore[arg-type]
    assert r.expire(now=139.9) == [] and r.pending == 1  # 29.9 s since the last part
    expired = r.expire(now=140.0)
    assert r.pending == 0 and len(expired) == 1
    e = expired[0]
    assert (e.peer.number, e.reference, e.total, e.missing) == ("+111", 4, 4, (2, 4))
    assert [p.concat.sequence for p in e.parts if p.concat] == [1, 3]
    assert (e.first_seen, e.last_seen) == (100.0, 110.0)
    # A late part after expiry starts a new group rather than completing a stale one.
    assert r.add(parts[1], now=150.0) is None and r.pending == 1  # type: ignore[arg-type]


def test_pair_cut_across_parts_by_a_sender_is_joined() -> None:
    # A careless sender cuts a surrogate pair: each part alone is broken, the whole reads right.
    raw = "x😀y".encode("utf-16-be")
    halves = [raw[:4], raw[4:]]
    r = Reassembler(timeout=10)
    results = []
    for i, h in enumerate(halves, start=1):
        ud = UserData(Alphabet.UCS2, h, (ConcatInfo(9, 2, i).to_ie(),))
        m = SmsDeliver(Address.parse("+111"), ud, SCTS, dcs=DataCoding(Alphabet.UCS2))
        assert "\ufffd" in (m.text or "")
        results.append(r.add(m, now=0.0))
    whole = results[-1]
    assert whole is not None and whole.text == "x😀y"


def test_submits_reassemble_by_destination() -> None:
    r = Reassembler(timeout=timedelta(minutes=5).total_seconds())
    pdus = encode_submit("S" * 170, "+33699999999", message_reference=250)
    assert [p.message.message_reference for p in pdus] == [250, 251]
    out = [r.add(decode_pdu(p.hex, Direction.MO), now=0.0) for p in pdus]  # type: ignore[arg-type]
    assert out[0] is None and out[1] is not None and out[1].peer.number == "+33699999999"


@settings(derandomize=True, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(["a", "€", "]", "~"]), max_size=1200),
    st.lists(st.sampled_from(["ж", "😀", "a", "🇫🇷"]), max_size=600).map("".join),
    st.booleans(),
)
def test_parts_never_end_inside_a_pair(gsm: str, ucs: str, wide_ref: bool) -> None:
    for text, alphabet, limit in (
        (gsm, Alphabet.GSM7, 152 if wide_ref else 153),
        (ucs, Alphabet.UCS2, 132 if wide_ref else 134),
    ):
        payload = encode_text(text, alphabet)
        chunks = split_payload(payload, alphabet, concat_16bit=wide_ref)
        assert b"".join(chunks) == payload
        if len(chunks) == 1:
            continue
        for c in chunks:
            assert 0 < len(c) <= limit
            if alphabet is Alphabet.GSM7:
                assert c[-1] != ESC
            else:
                assert not 0xD8 <= c[-2] <= 0xDB  # never ends on a high surrogate
        # a part is only short of the limit when the next unit would not fit whole
        for c, nxt in itertools.pairwise(chunks):
            unit = 2 if alphabet is Alphabet.GSM7 and nxt[0] == ESC else 1
            if alphabet is Alphabet.UCS2:
                unit = 4 if 0xD8 <= nxt[0] <= 0xDB else 2
            assert len(c) + unit > limit


def test_max_pending_pushes_out_the_stalest_group() -> None:
    r = Reassembler(timeout=600, max_pending=2)
    firsts = []
    for ref, sender in enumerate(["+111", "+222", "+333"], start=1):
        pdus = encode_deliver("F" * 200, sender, SCTS, concat_reference=ref)
        m = decode_pdu(pdus[0].hex, Direction.MT)
        assert isinstance(m, SmsDeliver)
        firsts.append(m)
    assert r.add(firsts[0], now=1.0) is None
    assert r.add(firsts[1], now=2.0) is None
    assert r.add(firsts[2], now=3.0) is None  # pushes +111 out
    assert r.pending == 2
    pushed = r.expire(now=4.0)  # nothing timed out, but the pushed-out group is reported
    assert [(e.peer.number, e.missing) for e in pushed] == [("+111", (2,))]
    assert r.expire(now=5.0) == []
    with pytest.raises(ValueError):
        Reassembler(timeout=1, max_pending=0)


def test_header_that_leaves_no_room_is_refused() -> None:
    with pytest.raises(MessageTooLongError, match="no room"):
        split_payload(b"x" * 200, Alphabet.DATA8, extra_ie_octets=133)


# An 8-bit SMS-DELIVER (no SMSC prefix) whose header is given as hex after its UDHL, then "AB".
def _deliver_8bit_with_header(ies: str) -> SmsDeliver:
    udh = bytes.fromhex(ies)
    ud = bytes([len(udh)]) + udh + b"\xab"
    pdu = "00440B913316325476F8000462118281000000" + f"{len(ud):02X}" + ud.hex()
    msg = decode_pdu(pdu, Direction.MT)
    assert isinstance(msg, SmsDeliver) and msg.data == b"\xab"
    return msg


@pytest.mark.parametrize(
    ("ies", "concat", "ports"),
    [
        # 8-bit then 16-bit reference: mutually exclusive, the last one counts
        ("0003070301080412340302", ConcatInfo(0x1234, 3, 2, 16), None),
        ("0804123403020003070301", ConcatInfo(7, 3, 1, 8), None),
        # the same IE twice: the last one
        ("000307030100030903020504162D0000", ConcatInfo(9, 3, 2, 8), (5677, 0, 16)),
        # 8-bit ports then 16-bit ports (TS 23.040's own example of exclusive IEs): the last
        ("0402F0F00504162D0001", None, (5677, 1, 16)),
        ("0504162D00010402F0F0", None, (0xF0, 0xF0, 8)),
        # a last concatenation IE with part 0 is ignored, as if absent: the one before it counts
        ("00030703020003070300", ConcatInfo(7, 3, 2, 8), None),
    ],
)
def test_repeated_or_exclusive_header_elements_the_last_counts(
    ies: str, concat: ConcatInfo | None, ports: tuple[int, int, int] | None
) -> None:
    """TS 23.040 9.2.3.24: of a repeated IE, or of IEs with mutually exclusive meanings, the last
    occurrence is used (the first was: a part joined the wrong message, or went to the wrong port)."""
    msg = _deliver_8bit_with_header(ies)
    assert msg.concat == concat
    got = msg.ports
    assert (None if got is None else (got.destination, got.originator, got.port_bits)) == ports


def test_a_reused_reference_starts_a_new_message_when_a_part_differs() -> None:
    """Message A (ref 9) loses its part 2; later message B reuses ref 9 (8-bit references wrap
    after 256).  B's part 1 was taken for a duplicate of A's and ignored, and B's part 2 completed
    A: the whole message read A's first part then B's second.  A part with other content under a
    number already held is a new message: the old group is given up and reported by expire()."""
    r = Reassembler(timeout=3600)
    a = [decode_pdu(p.hex, Direction.MT) for p in encode_deliver("A" * 200, "+111", SCTS, concat_reference=9)]
    b = [decode_pdu(p.hex, Direction.MT) for p in encode_deliver("B" * 200, "+111", SCTS, concat_reference=9)]
    assert all(isinstance(m, SmsDeliver) for m in a + b)
    assert r.add(a[0], 0.0) is None  # type: ignore[arg-type]
    assert r.add(b[0], 10.0) is None  # type: ignore[arg-type]
    whole = r.add(b[1], 20.0)  # type: ignore[arg-type]
    assert whole is not None and whole.text == "B" * 200 and r.duplicates == 0
    (given_up,) = r.expire(now=21.0)
    assert (given_up.reference, given_up.missing, given_up.parts) == (9, (2,), (a[0],))
    assert r.pending == 0
