"""GSM 7-bit default alphabet, extension table and septet packing (TS 23.038 6.1.2, 6.2.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import UnencodableTextError, can_encode_gsm7, decode_gsm7, encode_gsm7, gsm7_length
from modem.sms.gsm7 import (
    DEFAULT_ALPHABET,
    EXTENSION_TABLE,
    fill_bits_after,
    pack_septets,
    septets_for_octets,
    unpack_septets,
)

GSM7_CHARS = [c for i, c in enumerate(DEFAULT_ALPHABET) if i != 0x1B] + list(EXTENSION_TABLE.values())


def test_hellohello_packs_to_the_published_octets() -> None:
    assert pack_septets(encode_gsm7("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    assert decode_gsm7(unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10)) == "hellohello"


def test_eight_septets_fill_seven_octets_exactly() -> None:
    # 8 septets = 56 bits = 7 octets: the 8th septet sits in the top 7 bits of the last 7 octets.
    packed = pack_septets(encode_gsm7("12345678"))
    assert len(packed) == 7
    assert packed.hex().upper() == "31D98C56B3DD70"


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("@", 0x00),
        ("£", 0x01),
        ("$", 0x02),
        ("è", 0x04),
        ("\n", 0x0A),
        ("Δ", 0x10),
        ("_", 0x11),
        ("Æ", 0x1C),
        ("É", 0x1F),
        ("¤", 0x24),
        ("¡", 0x40),
        ("Ä", 0x5B),
        ("§", 0x5F),
        ("¿", 0x60),
        ("ä", 0x7B),
        ("à", 0x7F),
    ],
)
def test_default_alphabet_positions(char: str, code: int) -> None:
    assert encode_gsm7(char) == bytes([code])
    assert decode_gsm7(bytes([code])) == char


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\f", 0x0A),
        ("^", 0x14),
        ("{", 0x28),
        ("}", 0x29),
        ("\\", 0x2F),
        ("[", 0x3C),
        ("~", 0x3D),
        ("]", 0x3E),
        ("|", 0x40),
        ("€", 0x65),
    ],
)
def test_extension_characters_are_escape_pairs(char: str, code: int) -> None:
    assert encode_gsm7(char) == bytes([0x1B, code])
    assert gsm7_length(char) == 2
    assert decode_gsm7(bytes([0x1B, code])) == char


def test_length_counts_extension_characters_twice() -> None:
    assert gsm7_length("a€b[c]") == 9
    assert gsm7_length("") == 0


def test_unencodable_character_is_named_with_its_position() -> None:
    assert not can_encode_gsm7("Hello ç")  # only upper-case Ç is in the default alphabet
    with pytest.raises(UnencodableTextError, match=r"U\+00E7.*index 6"):
        encode_gsm7("Hello ç")
    with pytest.raises(UnencodableTextError, match=r"U\+1F600"):
        gsm7_length("😀")


def test_decoding_is_tolerant_of_unknown_and_dangling_escapes() -> None:
    # ESC + a code without an extension character shows the default-table character.
    assert decode_gsm7(bytes([0x1B, 0x41])) == "A"
    # Dangling escape at the end, and ESC ESC, read as a space.
    assert decode_gsm7(bytes([0x41, 0x1B])) == "A "
    assert decode_gsm7(bytes([0x1B, 0x1B, 0x42])) == " B"


@pytest.mark.parametrize(
    ("octets", "fill", "septets"), [(0, 0, 0), (6, 1, 7), (7, 0, 8), (12, 2, 14), (1, 6, 2)]
)
def test_fill_bits_after_a_header(octets: int, fill: int, septets: int) -> None:
    assert fill_bits_after(octets) == fill
    assert septets_for_octets(octets) == septets
    assert (octets * 8 + fill) == septets * 7


def test_packing_after_fill_bits_shifts_the_septets() -> None:
    # With 1 fill bit, 'A' (0x41) becomes 0x82 in the first octet.
    assert pack_septets(b"\x41", 1) == b"\x82"
    assert unpack_septets(b"\x82", 1, 1) == b"\x41"
    with pytest.raises(ValueError):
        pack_septets(b"\x41", 7)


@settings(derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from(GSM7_CHARS), max_size=200))
def test_text_round_trip(text: str) -> None:
    codes = encode_gsm7(text)
    assert len(codes) == gsm7_length(text)
    assert decode_gsm7(codes) == text


@settings(derandomize=True, deadline=None)
@given(st.lists(st.integers(0, 127), max_size=200).map(bytes), st.integers(0, 6))
def test_pack_unpack_round_trip(codes: bytes, fill: int) -> None:
    packed = pack_septets(codes, fill)
    assert len(packed) == (fill + 7 * len(codes) + 7) // 8
    assert unpack_septets(packed, len(codes), fill) == codes
