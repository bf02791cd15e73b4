"""SMS-SUBMIT / SMS-DELIVER / SMS-STATUS-REPORT fields: addresses, time stamps, validity, DCS, round trips."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    Address,
    Alphabet,
    DataCoding,
    Direction,
    EnhancedValidity,
    InvalidAddressError,
    InvalidHexError,
    InvalidTimestampError,
    InvalidValidityPeriodError,
    MessageWaitingType,
    NumberingPlan,
    PduLengthMismatchError,
    PortInfo,
    SmsCodecError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    StatusCategory,
    TypeOfNumber,
    UnsupportedPduError,
    UserData,
    decode_pdu,
    decode_relative_validity,
    decode_tpdu,
    encode_deliver,
    encode_relative_validity,
    encode_status_report,
    encode_submit,
    status_meaning,
)
from modem.sms.address import decode_address, encode_address, encode_smsc
from modem.sms.gsm7 import DEFAULT_ALPHABET, EXTENSION_TABLE
from modem.sms.timestamp import decode_timestamp, encode_timestamp

GSM7_CHARS = [c for i, c in enumerate(DEFAULT_ALPHABET) if i != 0x1B] + list(EXTENSION_TABLE.values())
SCTS = datetime(2026, 11, 28, 17, 30, 5, tzinfo=timezone(timedelta(hours=1)))


# ---- addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded", "toa"),
    [
        ("+31628870634", "0B911326880736F4", 0x91),
        ("0612345678", "0A816021436587", 0x81),
        ("*100#", "05811A00FB", 0x81),
    ],
)
def test_number_addresses(text: str, encoded: str, toa: int) -> None:
    addr = Address.parse(text)
    assert addr.toa == toa
    assert encode_address(addr).hex().upper() == encoded
    back, end = decode_address(bytes.fromhex(encoded), 0, "TP-DA")
    assert back == addr and back.number == text and end == len(encoded) // 2


def test_national_number_type() -> None:
    addr = Address.national("0612345678")
    assert addr.toa == 0xA1
    back, _ = decode_address(encode_address(addr), 0, "TP-DA")
    assert back.ton is TypeOfNumber.NATIONAL and back.npi is NumberingPlan.ISDN and back.value == "0612345678"


@pytest.mark.parametrize("name", ["Google", "sipgate", "Tarif-Info", "ORANGE", "A", "InfoService"])
def test_alphanumeric_addresses_round_trip(name: str) -> None:
    addr = Address.parse(name)
    assert addr.toa == 0xD0
    raw = encode_address(addr)
    assert raw[0] == (7 * len(name) + 3) // 4  # useful semi-octets
    back, _ = decode_address(raw, 0, "TP-OA")
    assert back.value == name


def test_alphanumeric_google_matches_the_capture() -> None:
    assert encode_address(Address.parse("Google")).hex().upper() == "0BD0C7F7FBCC2E03"


def test_address_errors() -> None:
    with pytest.raises(InvalidAddressError, match="at most 11"):
        encode_address(Address.parse("TwelveLetter"))
    with pytest.raises(InvalidAddressError, match="at most 20"):
        encode_address(Address.parse("+" + "1" * 21))
    with pytest.raises(InvalidAddressError, match="empty"):
        Address.parse("")
    with pytest.raises(InvalidAddressError, match="must be a number"):
        encode_smsc("Operator")


def test_smsc_prefix() -> None:
    assert encode_smsc(None) == b"\x00"
    assert encode_smsc("+33689004000").hex().upper() == "07913386094000F0"
    pdus = encode_submit("hi", "+33612345678", smsc="+33689004000")
    assert pdus[0].hex.startswith("07913386094000F0")
    msg = decode_pdu(pdus[0].hex, Direction.MO)
    assert msg.smsc == Address("33689004000", TypeOfNumber.INTERNATIONAL)
    assert pdus[0].tpdu_length == len(pdus[0].hex) // 2 - 8


# ---- time stamps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("99309251619580", datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))),
        ("62118271035069", datetime(2026, 11, 28, 17, 30, 5, tzinfo=timezone(timedelta(hours=-4)))),
        (
            "62118271035009",
            datetime(2026, 11, 28, 17, 30, 5, tzinfo=timezone(timedelta(hours=-2, minutes=-30))),
        ),
        ("62118271035023", datetime(2026, 11, 28, 17, 30, 5, tzinfo=timezone(timedelta(hours=8)))),
    ],
)
def test_timestamps_with_time_zones(raw: str, expected: datetime) -> None:
    assert decode_timestamp(bytes.fromhex(raw), 0) == expected
    assert decode_timestamp(bytes.fromhex(raw), 0).utcoffset() == expected.utcoffset()
    assert encode_timestamp(expected).hex().upper() == raw


def test_negative_time_zone_in_a_deliver() -> None:
    when = datetime(2026, 3, 1, 0, 15, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    pdu = encode_deliver("Newfoundland", "+17095551234", when)[0]
    msg = decode_pdu(pdu.hex, Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.scts == when and msg.scts.utcoffset() == timedelta(hours=-3, minutes=-30)


def test_timestamp_errors() -> None:
    with pytest.raises(InvalidTimestampError, match="no time zone"):
        encode_timestamp(datetime(2026, 1, 1))
    with pytest.raises(InvalidTimestampError, match="quarter"):
        encode_timestamp(datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=10))))
    with pytest.raises(InvalidTimestampError, match="not a date"):
        decode_timestamp(bytes.fromhex("62310271035000"), 0)  # month 13
    with pytest.raises(InvalidTimestampError, match="decimal"):
        decode_timestamp(bytes.fromhex("6A118271035000"), 0)


# ---- validity periods (TS 23.040 9.2.3.12.1) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("vp", "period"),
    [
        (0, timedelta(minutes=5)),
        (11, timedelta(hours=1)),
        (143, timedelta(hours=12)),
        (144, timedelta(hours=12, minutes=30)),
        (167, timedelta(hours=24)),
        (168, timedelta(days=2)),
        (170, timedelta(days=4)),
        (196, timedelta(days=30)),
        (197, timedelta(weeks=5)),
        (255, timedelta(weeks=63)),
    ],
)
def test_relative_validity_table(vp: int, period: timedelta) -> None:
    assert decode_relative_validity(vp) == period
    assert encode_relative_validity(period) == vp


def test_every_relative_value_round_trips() -> None:
    for vp in range(256):
        assert encode_relative_validity(decode_relative_validity(vp)) == vp


@settings(derandomize=True, deadline=None)
@given(st.integers(1, 63 * 7 * 24 * 60))
def test_relative_validity_rounds_up(minutes: int) -> None:
    asked = timedelta(minutes=minutes)
    granted = decode_relative_validity(encode_relative_validity(asked))
    assert granted >= asked
    vp = encode_relative_validity(asked)
    assert vp == 0 or decode_relative_validity(vp - 1) < asked  # the smallest period that covers it


def test_relative_validity_errors() -> None:
    with pytest.raises(InvalidValidityPeriodError, match="63 weeks"):
        encode_relative_validity(timedelta(weeks=64))
    with pytest.raises(InvalidValidityPeriodError, match="positive"):
        encode_relative_validity(timedelta(0))


def test_absolute_validity() -> None:
    until = datetime(2026, 12, 24, 18, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    pdu = encode_submit("see you", "+15145551234", validity=until)[0]
    assert (pdu.tpdu[0] >> 3) & 0x3 == 0b11
    msg = decode_pdu(pdu.hex, Direction.MO)
    assert isinstance(msg, SmsSubmit) and msg.validity == until


def test_enhanced_validity_decodes_but_does_not_encode() -> None:
    # TP-VPF 01 (enhanced), functionality 0x01 = relative octet follows: 0xA7 = 24 h.
    tpdu = bytes.fromhex("0900" + "0B911326880736F4" + "0000" + "01A70000000000" + "02C834")
    msg = decode_tpdu(tpdu, Direction.MO)
    assert isinstance(msg, SmsSubmit) and isinstance(msg.validity, EnhancedValidity)
    assert msg.validity.period == timedelta(hours=24) and not msg.validity.single_shot
    assert msg.text == "Hi"
    with pytest.raises(UnsupportedPduError, match="enhanced"):
        msg.encode()


# ---- DCS (TS 23.038 4) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("octet", "alphabet", "mclass"),
    [
        (0x00, Alphabet.GSM7, None),
        (0x04, Alphabet.DATA8, None),
        (0x08, Alphabet.UCS2, None),
        (0x10, Alphabet.GSM7, 0),
        (0x11, Alphabet.GSM7, 1),
        (0x18, Alphabet.UCS2, 0),
        (0x0C, Alphabet.GSM7, None),  # reserved alphabet: read as GSM 7-bit
        (0xF0, Alphabet.GSM7, 0),
        (0xF5, Alphabet.DATA8, 1),
        (0x48, Alphabet.UCS2, None),  # automatic deletion group
        (0x80, Alphabet.GSM7, None),  # reserved group
    ],
)
def test_dcs_decoding(octet: int, alphabet: Alphabet, mclass: int | None) -> None:
    dcs = DataCoding.from_octet(octet)
    assert dcs.alphabet is alphabet and dcs.message_class == mclass
    assert dcs.to_octet() == octet


def test_dcs_message_waiting_groups() -> None:
    voicemail = DataCoding.from_octet(0xC8)  # discard, indication active, voicemail
    assert voicemail.waiting is not None and voicemail.waiting.active and not voicemail.waiting.store
    assert voicemail.waiting.kind is MessageWaitingType.VOICEMAIL
    email = DataCoding.from_octet(0xEA)  # store, UCS2, active, e-mail
    assert email.alphabet is Alphabet.UCS2 and email.waiting is not None and email.waiting.store
    assert email.waiting.kind is MessageWaitingType.EMAIL
    assert DataCoding.from_octet(0x20).compressed and DataCoding.from_octet(0x40).auto_delete


def test_general_dcs_encoding_and_flash_class() -> None:
    assert DataCoding(Alphabet.UCS2, 0).to_octet() == 0x18
    pdu = encode_submit("ALERT", "+33612345678", message_class=0)[0]
    msg = decode_pdu(pdu.hex, Direction.MO)
    assert isinstance(msg, SmsSubmit) and msg.dcs.message_class == 0 and msg.dcs.to_octet() == 0x10


# ---- SMS-SUBMIT flags and round trips -----------------------------------------------------------------


def test_submit_first_octet_flags() -> None:
    pdu = encode_submit(
        "x",
        "+33612345678",
        status_report=True,
        reject_duplicates=True,
        reply_path=True,
        validity=timedelta(hours=1),
        message_reference=77,
    )[0]
    fo = pdu.tpdu[0]
    assert fo & 0x03 == 0x01  # SMS-SUBMIT
    assert fo & 0x04 and fo & 0x20 and fo & 0x80  # RD, SRR, RP
    assert (fo >> 3) & 0x3 == 0b10 and not fo & 0x40
    assert pdu.tpdu[1] == 77
    msg = decode_pdu(pdu.hex, Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert msg.reject_duplicates and msg.status_report_request and msg.reply_path
    assert msg.message_reference == 77 and msg.validity == timedelta(hours=1)


def test_ucs2_emoji_counts_utf16_units() -> None:
    text = "Météo ☀ 😀"
    pdu = encode_submit(text, "+33612345678")[0]
    msg = decode_pdu(pdu.hex, Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert msg.dcs.alphabet is Alphabet.UCS2
    assert pdu.tpdu[pdu.tpdu.index(0x08) + 1] == 2 * 10  # UDL: 10 UTF-16 code units (emoji = 2)
    assert msg.text == text


def test_8bit_data_with_ports() -> None:
    data = bytes(range(256))[:120]
    pdu = encode_submit(data, "+33612345678", ports=PortInfo(2948, 9200))[0]
    msg = decode_pdu(pdu.hex, Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert msg.dcs.alphabet is Alphabet.DATA8 and msg.text is None
    assert msg.data == data
    assert msg.ports == PortInfo(2948, 9200, 16)
    assert pdu.tpdu[0] & 0x40  # UDHI


def test_8bit_ports_ie_decoded() -> None:
    ud = UserData(Alphabet.DATA8, b"\x01\x02", (PortInfo(5, 6, 8).to_ie(),))
    msg = SmsDeliver(Address.parse("+33612345678"), ud, SCTS, dcs=DataCoding(Alphabet.DATA8))
    back = decode_tpdu(msg.encode(), Direction.MT)
    assert isinstance(back, SmsDeliver) and back.ports == PortInfo(5, 6, 8) and back.data == b"\x01\x02"


gsm7_text = st.text(alphabet=st.sampled_from(GSM7_CHARS), max_size=400)
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300)


@settings(derandomize=True, deadline=None)
@given(gsm7_text, st.integers(0, 255))
def test_gsm7_submit_round_trip(text: str, mr: int) -> None:
    pdus = encode_submit(text, "+33612345678", message_reference=mr)
    decoded = [decode_pdu(p.hex, Direction.MO, tpdu_length=p.tpdu_length) for p in pdus]
    assert all(isinstance(m, SmsSubmit) and m.dcs.alphabet is Alphabet.GSM7 for m in decoded)
    assert "".join(m.text or "" for m in decoded) == text


@settings(derandomize=True, deadline=None)
@given(any_text)
def test_auto_alphabet_deliver_round_trip(text: str) -> None:
    pdus = encode_deliver(text, "Orange", SCTS, concat_reference=9)
    decoded = [decode_pdu(p.hex, Direction.MT) for p in pdus]
    assert "".join(m.text or "" for m in decoded) == text
    for m in decoded:
        assert isinstance(m, SmsDeliver) and m.originator.value == "Orange" and m.scts == SCTS


@settings(derandomize=True, deadline=None)
@given(st.binary(max_size=600))
def test_8bit_round_trip(data: bytes) -> None:
    pdus = encode_submit(data, "+33612345678")
    decoded = [decode_pdu(p.hex, Direction.MO) for p in pdus]
    assert b"".join(m.data for m in decoded if isinstance(m, SmsSubmit)) == data


def test_interoperates_with_python_gsmmodem() -> None:
    # Our PDUs decoded by a third-party decoder ...
    for pdu in encode_submit("Status €[x] " * 20, "+31628870634", message_reference=5):
        theirs = decodeSmsPdu(pdu.hex)
        assert theirs["number"] == "+31628870634" and theirs["tpdu_length"] == pdu.tpdu_length
        assert theirs["text"] == (pdu.message.text or "")
    # ... and theirs by ours.
    for p in encodeSmsSubmitPdu("+31628870634", "Привет, мир", reference=3, requestStatusReport=True):
        msg = decode_pdu(bytes(p.data).hex(), Direction.MO, tpdu_length=p.tpduLength)
        assert isinstance(msg, SmsSubmit)
        assert msg.text == "Привет, мир" and msg.status_report_request and msg.message_reference == 3


# ---- status reports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category", "meaning"),
    [
        (0x00, StatusCategory.COMPLETED, "short message received by the SME"),
        (0x21, StatusCategory.TEMPORARY_RETRYING, "SME busy"),
        (0x46, StatusCategory.PERMANENT, "SM validity period expired"),
        (0x62, StatusCategory.TEMPORARY_GAVE_UP, "no response from SME"),
        (0x15, StatusCategory.COMPLETED, "SC-specific status 0x15 (completed)"),
        (0x4B, StatusCategory.PERMANENT, "reserved status 0x4b (permanent)"),
        (0x90, StatusCategory.RESERVED, "reserved status 0x90"),
    ],
)
def test_status_report_round_trip(status: int, category: StatusCategory, meaning: str) -> None:
    done = SCTS + timedelta(seconds=12)
    pdu = encode_status_report(42, "+33612345678", SCTS, done, status, smsc="+33689004000")
    msg = decode_pdu(pdu.hex, Direction.MT)
    assert isinstance(msg, SmsStatusReport)
    assert (msg.message_reference, msg.recipient.number, msg.status) == (42, "+33612345678", status)
    assert msg.scts == SCTS and msg.discharge_time == done
    assert msg.category is category and msg.meaning == meaning == status_meaning(status)
    assert msg.delivered is (category is StatusCategory.COMPLETED)


def test_status_report_with_parameter_indicator() -> None:
    report = SmsStatusReport(
        7,
        Address.parse("+33612345678"),
        SCTS,
        SCTS,
        0,
        pid=0,
        dcs=DataCoding(Alphabet.GSM7),
        user_data=UserData.from_text("ok", Alphabet.GSM7),
    )
    back = decode_tpdu(report.encode(), Direction.MT)
    assert isinstance(back, SmsStatusReport)
    assert back.pid == 0 and back.dcs == DataCoding(Alphabet.GSM7) and back.text == "ok"


# ---- PDU string handling ---------------------------------------------------------------------------


def test_pdu_string_errors() -> None:
    with pytest.raises(InvalidHexError, match="odd"):
        decode_pdu("0011000", Direction.MO)
    with pytest.raises(InvalidHexError, match="'Z'"):
        decode_pdu("00ZZ", Direction.MO)
    with pytest.raises(PduLengthMismatchError, match="length given is 5"):
        decode_pdu(encode_submit("x", "+33612345678")[0].hex, Direction.MO, tpdu_length=5)
    with pytest.raises(SmsCodecError, match="direction"):
        decode_pdu("0011", "sideways")


# The 3GPP example SMS-DELIVER ("hellohello" from 27838890001): SMSC prefix, then a 28-octet TPDU.
HELLO_SMSC = "07917283010010F5"
HELLO_TPDU = "040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def test_pdu_without_smsc_prefix_is_read_by_its_length() -> None:
    """Some modules print +CMGR / +CMT / +CDS without the SMSC prefix: a string exactly as long as the
    <length> they give is the TPDU alone, where its first octet was read as an SMSC length and the
    message refused as a length mismatch."""
    msg = decode_pdu(HELLO_TPDU, Direction.MT, tpdu_length=28)
    assert isinstance(msg, SmsDeliver)
    assert (msg.smsc, msg.originator.value, msg.text) == (None, "27838890001", "hellohello")
    with_prefix = decode_pdu(HELLO_SMSC + HELLO_TPDU, Direction.MT, tpdu_length=28)
    assert with_prefix.smsc is not None and with_prefix.smsc.number == "+27381000015"
    # a <length> counting the SMSC octets too matches neither reading
    with pytest.raises(PduLengthMismatchError, match="given is 36 but the TPDU has 28 octets after"):
        decode_pdu(HELLO_SMSC + HELLO_TPDU, Direction.MT, tpdu_length=36)


def test_pdu_types_by_direction() -> None:
    # The same TP-MTI means another type the other way: a SUBMIT read as MT is a SUBMIT-REPORT
    # whose time stamp is not one.
    submit_hex = encode_submit("x", "+33612345678")[0].hex
    with pytest.raises(InvalidTimestampError, match="TP-SCTS"):
        decode_pdu(submit_hex, Direction.MT)
    # A reserved TP-MTI received by the mobile is read as an SMS-DELIVER (TS 23.040 9.2.3.1).
    deliver_hex = encode_deliver("x", "+33612345678", SCTS)[0].hex
    reserved = bytes.fromhex(deliver_hex)
    reserved = reserved[:1] + bytes([reserved[1] | 0x03]) + reserved[2:]
    assert isinstance(decode_pdu(reserved.hex(), Direction.MT), SmsDeliver)
    mo_reserved = bytes.fromhex(submit_hex)
    mo_reserved = mo_reserved[:1] + bytes([mo_reserved[1] | 0x03]) + mo_reserved[2:]
    with pytest.raises(SmsCodecError, match="reserved"):
        decode_pdu(mo_reserved.hex(), Direction.MO)


def test_more_messages_and_status_report_indication() -> None:
    pdu = encode_deliver("x", "+33612345678", SCTS, more_messages=True, status_report_indication=True)[0]
    assert pdu.tpdu[0] & 0x04 == 0  # TP-MMS 0: more messages are waiting
    msg = decode_pdu(pdu.hex, Direction.MT)
    assert isinstance(msg, SmsDeliver) and msg.more_messages and msg.status_report_indication


@pytest.mark.parametrize(
    ("text", "value", "ton"),
    [
        ("+33 6 12 34 56 78", "33612345678", TypeOfNumber.INTERNATIONAL),
        ("06.12.34.56.78", "0612345678", TypeOfNumber.UNKNOWN),
        ("(555) 123-4567", "5551234567", TypeOfNumber.UNKNOWN),
        ("Tarif-Info", "Tarif-Info", TypeOfNumber.ALPHANUMERIC),
        ("abc", "abc", TypeOfNumber.ALPHANUMERIC),
    ],
)
def test_address_parsing(text: str, value: str, ton: TypeOfNumber) -> None:
    addr = Address.parse(text)
    assert (addr.value, addr.ton) == (value, ton)


def test_plus_with_letters_is_refused() -> None:
    with pytest.raises(InvalidAddressError, match="international number"):
        Address.parse("+33 six")
