"""National language shift tables (TS 23.038 annex A): Turkish, Spanish, Portuguese."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    Address,
    Alphabet,
    DataCoding,
    Direction,
    InformationElement,
    Reassembler,
    SmsDeliver,
    SmsSubmit,
    UnencodableTextError,
    UserData,
    count_parts,
    decode_pdu,
    decode_tpdu,
    encode_deliver,
    encode_submit,
    length_info,
)
from modem.sms.national import LOCKING_TABLES, SINGLE_TABLES, Language, tables_for

SCTS = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
TURKISH = "Şişli'de buluşalım mı? Günaydın, ağabey! İyi çalışmalar."


@pytest.mark.parametrize(
    ("language", "code", "char"),
    [
        (Language.TURKISH, 0x07, "ı"),
        (Language.TURKISH, 0x0B, "Ğ"),
        (Language.TURKISH, 0x1C, "Ş"),
        (Language.TURKISH, 0x40, "İ"),
        (Language.TURKISH, 0x60, "ç"),
        (Language.PORTUGUESE, 0x04, "ê"),
        (Language.PORTUGUESE, 0x12, "ª"),
        (Language.PORTUGUESE, 0x15, "∞"),
        (Language.PORTUGUESE, 0x24, "º"),
        (Language.PORTUGUESE, 0x60, "~"),
        (Language.PORTUGUESE, 0x7D, "`"),
    ],
)
def test_locking_shift_positions(language: Language, code: int, char: str) -> None:
    assert LOCKING_TABLES[language][code] == char
    assert tables_for(language, 0).decode(bytes([code])) == char


@pytest.mark.parametrize(
    ("language", "code", "char"),
    [
        (Language.TURKISH, 0x47, "Ğ"),
        (Language.TURKISH, 0x69, "ı"),
        (Language.SPANISH, 0x09, "ç"),
        (Language.SPANISH, 0x75, "ú"),
        (Language.PORTUGUESE, 0x1F, "Ê"),
        (Language.PORTUGUESE, 0x7F, "â"),
        (Language.PORTUGUESE, 0x65, "€"),
    ],
)
def test_single_shift_positions(language: Language, code: int, char: str) -> None:
    assert SINGLE_TABLES[language][code] == char
    assert tables_for(0, language).decode(bytes([0x1B, code])) == char


def test_every_table_round_trips_its_characters() -> None:
    for locking in (0, Language.TURKISH, Language.PORTUGUESE):
        for single in (0, Language.TURKISH, Language.SPANISH, Language.PORTUGUESE):
            t = tables_for(locking, single)
            chars = [c for i, c in enumerate(t.locking) if i != 0x1B] + list(t.single.values())
            text = "".join(chars)
            assert t.decode(t.encode(text)) == text


def test_turkish_goes_out_as_gsm7_with_shift_ies() -> None:
    assert count_parts(TURKISH) == 1 and length_info(TURKISH).alphabet is Alphabet.UCS2
    info = length_info(TURKISH, language=Language.TURKISH)
    assert info.alphabet is Alphabet.GSM7
    pdus = encode_submit(TURKISH, "+905321234567", language=Language.TURKISH)
    msg = decode_pdu(pdus[0].hex, Direction.MO)
    assert isinstance(msg, SmsSubmit) and msg.dcs.alphabet is Alphabet.GSM7
    assert msg.text == TURKISH
    ieis = {ie.iei for ie in msg.user_data.header}
    assert ieis <= {0x24, 0x25} and ieis


def test_national_tables_save_parts() -> None:
    text = TURKISH * 5  # ~285 characters
    assert count_parts(text) == 5  # UCS2: 67 per part
    assert count_parts(text, language=Language.TURKISH) == 2
    pdus = encode_deliver(text, "+905321234567", SCTS, language=Language.TURKISH, concat_reference=3)
    r = Reassembler(timeout=60)
    wholes = [r.add(m, 0.0) for p in pdus if isinstance(m := decode_pdu(p.hex, Direction.MT), SmsDeliver)]
    assert wholes[-1] is not None and wholes[-1].text == text


def test_spanish_uses_single_shift_only() -> None:
    text = "Canción: ¿Dónde está el niño? Ahí, en la acción."
    pdus = encode_submit(text, "+34600111222", language=Language.SPANISH)
    msg = decode_pdu(pdus[0].hex, Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert [(ie.iei, ie.data) for ie in msg.user_data.header] == [(0x24, b"\x02")]
    assert msg.text == text


def test_language_without_the_characters_falls_back_to_ucs2() -> None:
    pdus = encode_submit("Привет", "+79001234567", language=Language.TURKISH)
    assert pdus[0].message.dcs.alphabet is Alphabet.UCS2
    with pytest.raises(UnencodableTextError):
        encode_submit("Привет", "+79001234567", alphabet="gsm7", language=Language.TURKISH)


def test_unknown_language_identifier_reads_with_default_tables() -> None:
    header = (InformationElement(0x25, b"\x0e"), InformationElement(0x24, b"\x0e"))  # 14: reserved
    ud = UserData(Alphabet.GSM7, b"\x48\x69\x1b\x65", header)
    msg = SmsDeliver(Address.parse("+111"), ud, SCTS, dcs=DataCoding(Alphabet.GSM7))
    back = decode_tpdu(msg.encode(), Direction.MT)
    assert back.text == "Hi€"


@settings(derandomize=True, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ığüşöçĞÜŞİÖÇ aZ€[")), max_size=500),
    st.sampled_from([Language.TURKISH, Language.PORTUGUESE, Language.SPANISH]),
)
def test_round_trip_with_a_language(text: str, language: Language) -> None:
    pdus = encode_deliver(text, "+111", SCTS, language=language, concat_reference=1)
    r = Reassembler(timeout=60)
    out = [r.add(m, 0.0) for p in pdus if isinstance(m := decode_pdu(p.hex, Direction.MT), SmsDeliver)]
    assert out[-1] is not None and out[-1].text == text


def test_parts_with_different_tables_are_each_read_with_their_own() -> None:
    """A sender may name tables in one part and not another: each part's header says how that part
    reads (TS 23.038 6.2.1.2.4).  Code 0x60 is 'ç' in the Turkish locking shift table (annex A.3.1)
    and '¿' in the default alphabet; the whole message read part 2 with part 1's tables ('çQué?')."""
    concat = [InformationElement(0x00, bytes([5, 2, seq])) for seq in (1, 2)]
    part1 = UserData(
        Alphabet.GSM7, bytes([0x60, 0x6F, 0x6B, 0x20]), (concat[0], InformationElement(0x25, b"\x01"))
    )
    part2 = UserData(Alphabet.GSM7, bytes([0x60, 0x51, 0x75, 0x05, 0x3F]), (concat[1],))
    r = Reassembler(timeout=60)
    whole = None
    for ud in (part2, part1):  # out of order
        msg = decode_tpdu(SmsDeliver(Address.parse("+111"), ud, SCTS).encode(), Direction.MT)
        assert isinstance(msg, SmsDeliver)
        whole = r.add(msg, 0.0) or whole
    assert whole is not None and whole.text == "çok ¿Qué?"
