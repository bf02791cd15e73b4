"""The Indic national language tables of TS 23.038 annex A (identifiers 4 Bengali to 13 Urdu)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from modem.sms import (
    Alphabet,
    Direction,
    Reassembler,
    SmsDeliver,
    SmsSubmit,
    decode_pdu,
    encode_deliver,
    encode_submit,
    length_info,
)
from modem.sms.cli import main
from modem.sms.national import Language, tables_for
from modem.sms.national_indic import INDIC_LOCKING, INDIC_SINGLE
from modem.sms.segment import plan_text

SCTS = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
INDIC = [lang for lang in Language if lang >= Language.BENGALI]

# Known answers from another codec: the septets gsmcodecs 1.0.0 (PyPI, tables transcribed from
# TS 23.038 V18.0.0) gives for each text with its codec 'gsm23.038-L-L' (the language's locking and
# single shift tables), and the SMS-DELIVER built from them by hand: no SMSC, first octet 44 (UDHI),
# originator +91989, PID 00, DCS 00, time stamp 2026-01-01, UDL, header 06 25 01 L 24 01 L (7 octets:
# 8 septets, no fill bits), then the septets packed LSB first.  The texts are drawn (seed 2026) from
# the tables, one or two single shift characters among locking shift ones.
VECTORS = [
    (
        4,
        "\u0993.\u09b7\u09b8a\u09dd\u098f!\u09c7\u09cc\u09c0;s\u09c2TzlrqL",
        "132e4b4c617d0f21595e523b73541b547a6c72711b4c",
        "1E0625010424010413D79219EE3F4259AF7437A76EA87AB63CBE6102",
    ),
    (
        5,
        "ik\u0ac0\u0aaa!\u0a81\u0ac3\n\u0a8f\u0aa4q\u0a8d\u0aab\u0a82X\u0acd\u0aa6\u0a9c6{",
        "696b523d2100550a0f27710c3e011b585f2b1d361b28",
        "1E06250105240105E9B5B4170254158F539CE10B6CB0DF55C7B64101",
    ),
    (
        6,
        ".\u097fx\u0928i2a\u092f\u0941\u090b\u094c\u0927\u090c\u0935L\u0923\u0922\u0929\u0912Z",
        "2e7f782f6932614353095e2d0b491b4c26253c121b5a",
        "1E06250106240106AE3FFE95968587D384B7B5486E98A6124FB2D102",
    ),
    (
        7,
        "ef\u0cc0\u0ca7\u0c86we54\u0caf\u0cab\r9\u0ce1Vz\u0c90\u0cab\u0cb5U",
        "6566522d0477653534433e0d397d1b567a103e491b55",
        "1E0625010724010765B3B445B8976BB4A1AF91EB6FAC7A882FB9A902",
    ),
    (
        8,
        "7\u0d63\u0d35\u0d22u:\u0d3d\u0d79\u0d2f\u0d33\u0d34p\u0d06\u0d3e\u0d6ck\u0d13q\u0d09P",
        "377e4925753a4f7f4347487004501b226b1371071b50",
        "1E06250108240108377FB254D73DFFC323124E806E44EB49FCB08102",
    ),
    (
        9,
        "\u0b62b\u0b0fh\u0b48\u0b2a\u0b2f\u0b16\u0b30\u0b62\u0b1fy\u0b62\u0b13Oc\u0b2fh\u0b3c\u0b5c",
        "7e620f685a3d4316447e22797e131b4f6343684e1b26",
        "1E062501092401097EF103ADED0D2D44BF28EF9F6C9EE321DAB93101",
    ),
    (
        10,
        "\u0a42;h\u0a28\u0a41ye\u0a38l\u0a33z;\u0a2c \u0a5c\u0a72(\u0a02\u0a06#",
        "543b682f5379654c6c477a3b40201b2b7d2901041b17",
        "1E0625010A24010AD41DFA35CD9799ECA37E07046D56FD5480B0B900",
    ),
    (
        11,
        "ng\u0bbf\u0bcb\u0bc6\u0baf\u0ba43s\u0bc6\u0bc0\u0bca\u0bf1\u0bc7Jbo\u0b877\u0bfa",
        "6e67515d584327337358525c7d591b4a626f05371b2e",
        "1E0625010B24010BEE73B48B1D9E6673AC94DBCF6E94E277E1B67101",
    ),
    (
        12,
        "?\u0c62p\r\u0c2aadm\u0c32\u0c21\u0c2b\u0c63\u0c19:O\u0c0a\u0c4a\u0c22\u0c60Q",
        "3f7e700d3d61646d46243e7f193a1b4f085c257c1b51",
        "1E0625010C24010C3F3FBCD10B93DB4692EF9FD16D9E086E89BF8902",
    ),
    (
        13,
        "1\u067d\u062dao6\u0681;w\u0622\u0679\u0627;\u06b1Kym\n\u06ba\u06f3",
        "310c18616f36123b77010b003b4c1b4b796d0a501b1f",
        "1E0625010D24010D310626FCB64976F7C002B0636E96F9B602BAF900",
    ),
]
DELIVER_HEAD = "004405911989F7000062101000000000"


def _repertoire(lang: int) -> list[str]:
    """Every character the language's two tables hold."""
    chars = {c for c in INDIC_LOCKING[lang] + INDIC_SINGLE[lang] if c != "\x1b"}
    return sorted(chars)


@pytest.mark.parametrize(("lang", "text", "septets", "ud"), VECTORS)
def test_decodes_a_deliver_built_by_another_codec(lang: int, text: str, septets: str, ud: str) -> None:
    msg = decode_pdu(DELIVER_HEAD + ud, Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.text == text


@pytest.mark.parametrize(("lang", "text", "septets", "ud"), VECTORS)
def test_encodes_as_another_codec_does(lang: int, text: str, septets: str, ud: str) -> None:
    """Each text needs both tables: the plan names them (IE 0x25 and 0x24) and its septets are the
    other codec's."""
    plan = plan_text(text, language=lang)
    assert plan.alphabet is Alphabet.GSM7
    assert {(ie.iei, ie.data) for ie in plan.shift_ies} == {(0x25, bytes([lang])), (0x24, bytes([lang]))}
    assert [c.hex() for c in plan.chunks] == [septets]


@pytest.mark.parametrize("lang", INDIC)
def test_round_trip_on_random_texts_of_each_repertoire(lang: Language) -> None:
    rng = random.Random(int(lang))
    chars = _repertoire(lang)
    for _ in range(20):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 400)))
        pdus = encode_deliver(text, "+919812345678", SCTS, language=lang, concat_reference=7)
        r = Reassembler(timeout=60)
        out = [r.add(m, 0.0) for p in pdus if isinstance(m := decode_pdu(p.hex, Direction.MT), SmsDeliver)]
        assert out[-1] is not None and out[-1].text == text
        if text:
            assert pdus[0].message.dcs.alphabet is Alphabet.GSM7


@pytest.mark.parametrize("lang", INDIC)
def test_tables_have_128_codes_and_no_character_twice_in_a_locking_table(lang: Language) -> None:
    lock = INDIC_LOCKING[lang]
    assert len(lock) == 128 and len(INDIC_SINGLE[lang]) == 128
    assert lock[0x1B] == "\x1b" and INDIC_SINGLE[lang][0x1B] == "\x1b"
    assert (lock[0x0A], lock[0x0D], lock[0x20]) == ("\n", "\r", " ")
    assert INDIC_SINGLE[lang][0x0A] == "\f"  # the page break, as in the default extension table
    assert INDIC_SINGLE[lang][0x0D] == "\x1b"  # CR2, a control with no character
    assert tables_for(lang, lang).decode(b"\x1b\x0d") == "\r"
    assigned = [c for c in lock if c != "\x1b"]
    assert len(assigned) == len(set(assigned))


def test_a_reserved_code_reads_as_a_space_and_is_never_sent() -> None:
    """Bengali 0x0C is reserved in annex A.3.4: it reads as a space, and a space goes out as 0x20."""
    t = tables_for(Language.BENGALI, Language.BENGALI)
    assert INDIC_LOCKING[Language.BENGALI][0x0C] == "\x1b"
    assert t.decode(bytes([0x0C, 0x01])) == " \u0982"
    assert t.encode(" ") == b"\x20"
    assert not t.can_encode("\x1b")


def test_escape_to_a_code_without_a_single_shift_character() -> None:
    """ESC + a code the single shift table leaves empty reads as the locking table's character
    (0x60: U+09CE in the Bengali locking table); ESC ESC reads as a space."""
    t = tables_for(Language.BENGALI, Language.BENGALI)
    assert INDIC_SINGLE[Language.BENGALI][0x60] == "\x1b"
    assert t.decode(bytes([0x1B, 0x60, 0x1B, 0x1B])) == "\u09ce "


def test_hindi_goes_out_in_fewer_parts() -> None:
    text = "नमस्ते, आप कैसे हैं? मैं ठीक हूँ। कल मिलते हैं।" * 4
    assert length_info(text).alphabet is Alphabet.UCS2
    ucs2_parts = length_info(text).parts
    info = length_info(text, language=Language.HINDI)
    assert info.alphabet is Alphabet.GSM7 and info.parts < ucs2_parts
    pdus = encode_submit(text, "+919812345678", language=Language.HINDI, concat_reference=1)
    assert len(pdus) == info.parts
    msg = decode_pdu(pdus[0].hex, Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert {ie.iei: ie.data for ie in msg.user_data.header if ie.iei in (0x24, 0x25)} == {
        0x25: b"\x06",
        0x24: b"\x06",
    }


def test_single_shift_alone_when_it_is_enough() -> None:
    """Latin text with Devanagari digits: the Hindi single shift table holds the digits, the
    default alphabet the rest, so the header names the single shift table only (the smaller one)."""
    text = "Order ४२ shipped"
    plan = plan_text(text, language=Language.HINDI)
    assert [(ie.iei, ie.data) for ie in plan.shift_ies] == [(0x24, b"\x06")]


def test_cli_counts_and_encodes_with_an_indic_language(capsys: pytest.CaptureFixture[str]) -> None:
    text = "வணக்கம், எப்படி இருக்கிறீர்கள்?" * 3
    assert main(["sms-count", text]) == 0
    assert "alphabet: ucs2" in capsys.readouterr().out
    assert main(["sms-count", text, "--language", "tamil"]) == 0
    out = capsys.readouterr().out
    assert "alphabet: gsm7" in out and "parts: 1" in out
    assert main(["sms-encode", text, "--to", "+919812345678", "--language", "tamil"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    msg = decode_pdu(lines[0].split("\t")[3], Direction.MO)
    assert isinstance(msg, SmsSubmit) and msg.text == text


def test_kannada_dda_and_pa() -> None:
    """Kannada locking 0x24 is DDA (U+0CA1) as handsets read it, not the second PA of the
    standard's letter; PA goes out as 0x3D, which every reader takes as PA."""
    t = tables_for(Language.KANNADA, 0)
    assert t.decode(b"\x24\x3d") == "\u0ca1\u0caa"
    assert t.encode("\u0caa") == b"\x3d"


def test_telugu_single_shift_has_no_euro() -> None:
    """TS 23.038 A.2.12 leaves 0x65 empty: ESC 0x65 reads as the locking table's 'e', and a Telugu
    text with € goes by the default extension table."""
    assert tables_for(Language.TELUGU, Language.TELUGU).decode(b"\x1b\x65") == "e"
    plan = plan_text("\u0c24\u0c46\u0c32\u0c41\u0c17\u0c41 \u20ac5", language=Language.TELUGU)
    assert plan.alphabet is Alphabet.GSM7
    assert [(ie.iei, ie.data) for ie in plan.shift_ies] == [(0x25, b"\x0c")]
