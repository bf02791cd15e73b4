"""Published PDUs: the GSM 03.40 tutorial examples and real-modem captures, decoded and re-encoded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modem.sms import (
    Address,
    Alphabet,
    Direction,
    Reassembler,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    SpecialIndication,
    StatusCategory,
    TruncatedPduError,
    TypeOfNumber,
    decode_pdu,
    encode_message,
    encode_submit,
)


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# The classic SMS-DELIVER of the GSM 03.40 tutorial: "hellohello" from 27838890001 via SMSC +27381000015.
TUTORIAL_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
# Its SMS-SUBMIT counterpart: to +46708251358, relative validity 0xAA (4 days).
TUTORIAL_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def test_tutorial_deliver() -> None:
    msg = decode_pdu(TUTORIAL_DELIVER, Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.smsc == Address("27381000015", TypeOfNumber.INTERNATIONAL)
    assert msg.smsc is not None and msg.smsc.toa == 0x91
    assert msg.originator.value == "27838890001"
    assert msg.originator.toa == 0xC8
    assert msg.scts == datetime(1999, 3, 29, 15, 16, 59, tzinfo=tz(2))
    assert msg.text == "hellohello"
    assert msg.dcs.alphabet is Alphabet.GSM7 and msg.pid == 0
    assert not msg.more_messages  # TP-MMS bit set: no more messages waiting
    assert encode_message(msg).hex == TUTORIAL_DELIVER


def test_tutorial_submit() -> None:
    msg = decode_pdu(TUTORIAL_SUBMIT, "mo")
    assert isinstance(msg, SmsSubmit)
    assert msg.smsc is None
    assert msg.destination.number == "+46708251358"
    assert msg.validity == timedelta(days=4)
    assert msg.text == "hellohello"
    pdus = encode_submit("hellohello", "+46708251358", validity=timedelta(days=4))
    assert [p.hex for p in pdus] == [TUTORIAL_SUBMIT]
    assert pdus[0].tpdu_length == 23


# Real captures (Openmoko / Qtopia and FSO test suites): sender, text, time stamp.
CAPTURES = [
    (
        "07918167830071F1040BD0C7F7FBCC2E030000808010800120804AD0473BED2697D9F3B20E644CCBDBE136835C6681CCF2B20B147381"
        "C2F5B30B04C3E96630500B1483E96030501A34CDB7C5E9B71B847AB2CB2062987D0E87E5E414",
        "Google",
        "Påmindelse: Firmamøde, fre. 1. aug. 08:30 - 10:00 i Symbion (Ole Dalgaard)",
        datetime(2008, 8, 1, 8, 10, 2, tzinfo=tz(2)),
    ),
    (
        "0791447758100650040DD0F334FC1CA6970100008080312170224008D4F29CDE0EA7D9",
        "sipgate",  # 13 semi-octets = 7 septets; a decoder that unpacks all 7 octets shows "sipgate@"
        "Testmail",
        datetime(2008, 8, 13, 12, 7, 22, tzinfo=tz(1)),
    ),
    (
        "07919471071600000412D0D4B03C6D6E25DDE63700008080221233758056B2970C040ABAE5757319947683C86539A858D5816438D0B8"
        "ECA683E0F237A89976D7E9651068F99ED3CB6EF67B5E0611CBF4709A9D769BDFA0BA9B5E96EB402B5A2E76BBC564B4598D367301",
        "Tarif-Info",
        "2/2  Anrufe in der EU: 28 cent pro Minute  Kostenlose Detailinfo unter: +491771243543.",
        None,
    ),
    (
        "0791889663000019040C918896631030990008809071619483234E60A86709672A63A54F8696FB003A000A00300039002F003100370020"
        "00300034003A003400330050004D4F8681EA0030003900380038003500360033003900390036002000280032901A0029000A",
        "+886936010399",
        "您有未接來電:\n09/17 04:43PM來自0988563996 (2通)\n",
        datetime(2008, 9, 17, 16, 49, 38, tzinfo=tz(8)),
    ),
]


@pytest.mark.parametrize(("pdu", "sender", "text", "scts"), CAPTURES)
def test_real_captures(pdu: str, sender: str, text: str, scts: datetime | None) -> None:
    msg = decode_pdu(pdu, Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.originator.number == sender
    assert msg.text == text
    if scts is not None:
        assert msg.scts == scts
    # Re-encoding a decoded message gives the captured octets back.
    assert encode_message(msg).hex == pdu


def test_alphanumeric_sender_type() -> None:
    msg = decode_pdu(CAPTURES[0][0], Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.originator.ton is TypeOfNumber.ALPHANUMERIC
    assert msg.originator.toa == 0xD0


# A six-part GSM 7-bit message captured from a handset (8-bit reference 1), parts listed out of order.
SIX_PARTS = [
    "0791448720003023440C91449703529096000050016121853340A005000301060540C8FA790EA2BF41E472193E7781402064FD3C07D1DF"
    "2072B90C9FBB402010B27E9E83E86F10B95C86CF5D201008593FCF41F437885C2EC3E72E100884AC9FE720FA1B442E97E17317080442D6"
    "CF7310FD0D2297CBF0B90B84AC9FE720FA1B442E97E17317080442D6CF7310FD0D2297CBF0B90B040221EBE73988FE0691CB65F8DC0502"
    "8190",
    "0791448720003023440C91449703529096000050016121855140A005000301060190F5F31C447F83C8E5327CEE0221EBE73988FE0691CB"
    "65F8DC05028190F5F31C447F83C8E5327CEE028140C8FA790EA2BF41E472193E7781402064FD3C07D1DF2072B90C9FBB402010B27E9E83"
    "E86F10B95C86CF5D2064FD3C07D1DF2072B90C9FBB40C8FA790EA2BF41E472193E7781402064FD3C07D1DF2072B90C9FBB402010B27E9E"
    "83E8",
    "0791448720003023440C914497035290960000500161218563402A050003010606EAE73988FE0691CB65F8DC05028190F5F31C447F83C8"
    "E5327CEE0281402010",
    "0791448720003023440C91449703529096000050016121850240A0050003010602DE2072B90C9FBB402010B27E9E83E86F10B95C86CF5D"
    "201008593FCF41F437885C2EC3E72E100884AC9FE720FA1B442E97E1731708593FCF41F437885C2EC3E72E100884AC9FE720FA1B442E97"
    "E17317080442D6CF7310FD0D2297CBF0B90B040221EBE73988FE0691CB65F8DC05028190F5F31C447F83C8E5327CEE028140C8FA790EA2"
    "BF41",
    "0791448720003023400C91449703529096000050016121858240A0050003010604E62E100884AC9FE720FA1B442E97E17317080442D6CF"
    "7310FD0D2297CBF0B90B040221EBE73988FE0691CB65F8DC0542D6CF7310FD0D2297CBF0B90B040221EBE73988FE0691CB65F8DC050281"
    "90F5F31C447F83C8E5327CEE028140C8FA790EA2BF41E472193E7781402064FD3C07D1DF2072B90C9FBB402010B27E9E83E86F10B95C86"
    "CF5D",
    "0791448720003023440C91449703529096000050016121854240A0050003010603C8E5327CEE0221EBE73988FE0691CB65F8DC05028190"
    "F5F31C447F83C8E5327CEE028140C8FA790EA2BF41E472193E7781402064FD3C07D1DF2072B90C9FBB402010B27E9E83E86F10B95C86CF"
    "5D201008593FCF41F437885C2EC3E72E10B27E9E83E86F10B95C86CF5D201008593FCF41F437885C2EC3E72E100884AC9FE720FA1B442E"
    "97E1",
]


def test_six_part_capture_reassembles() -> None:
    r = Reassembler(timeout=600)
    results = []
    for i, pdu in enumerate(SIX_PARTS):
        msg = decode_pdu(pdu, Direction.MT)
        assert isinstance(msg, SmsDeliver)
        assert msg.concat is not None and msg.concat.total == 6 and msg.concat.reference == 1
        assert len(msg.text or "") == 153 or msg.concat.sequence == 6
        results.append(r.add(msg, now=float(i)))
    assert results[:-1] == [None] * 5
    whole = results[-1]
    assert whole is not None and r.pending == 0
    assert whole.peer.number == "+447930250969"
    assert [p.concat.sequence for p in whole.parts if p.concat] == [1, 2, 3, 4, 5, 6]
    text = whole.text or ""
    assert len(text) == 5 * 153 + 35  # last part: UDL 42 septets, 7 of them header
    assert text.startswith("Hugs to deeps. Hugs to deeps.")
    # Joined in sequence order, the phrases cut at part boundaries read whole again.
    assert text.replace("Hugs to deeps.", "").strip() == ""


# A published capture whose TP-UDL (0x78 = 120 septets) promises more than its 80 octets of user data
# (they hold 91 septets): a lenient decoder shows the 91 characters; this codec reports the truncation.
SHORT_UD = (
    "07918167830071F1040BD0C7F7FBCC2E0300008080203201208078D0473BED2697D9F3B20E442DCFE9A076793E0F9FCBA07B9A8E06"
    "91C3EEF41C0D1AA3C3F2F0985E96CF75A00EE301E22C1C2C109B217781642E50B87E76816433DD0C066A81E60CB70B347381C2F5B30B"
)


# Another one: 140 septets announced (123 octets), 81 octets present.
SHORT_UD_2 = (
    "079194710756040000099194719719F14100808022029153808CD37419840E8BCB6E90BB5C2F83826E79DD5CD6811433D0142E0F8F"
    "D165C5758F6697DDA069BA0C5AD172B1DB2D97C3C562B61BADA648B641C1FA9C1D76934141F73C7C2ED3CB783AA89DA68354206A784E"
)


def test_captures_with_short_user_data_are_typed_errors() -> None:
    with pytest.raises(TruncatedPduError, match="TP-UD at octet 19 needs 105 octet"):
        decode_pdu(SHORT_UD, Direction.MT)
    with pytest.raises(TruncatedPduError, match="TP-UD at octet 18 needs 123 octet") as info:
        decode_pdu(SHORT_UD_2, Direction.MT)
    assert (info.value.field, info.value.needed, info.value.available) == ("TP-UD", 123, 81)


# Status reports: +CDS as printed by a modem without SMSC prefix, and an SMS-STATUS-REPORT with one.
def test_status_report_without_smsc_prefix() -> None:
    msg = decode_pdu("06000B910221815716F2709021510121807090215101718000", Direction.MT, with_smsc=False)
    assert isinstance(msg, SmsStatusReport)
    assert msg.message_reference == 0
    assert msg.recipient.number == "+20121875612"
    assert msg.scts == datetime(2007, 9, 12, 15, 10, 12, tzinfo=tz(2))
    assert msg.discharge_time == datetime(2007, 9, 12, 15, 10, 17, tzinfo=tz(2))
    assert msg.status == 0 and msg.delivered
    assert msg.meaning == "short message received by the SME"


def test_status_report_with_smsc() -> None:
    pdu = "07911326040000F006D60B911326880736F4111011719551401110117195714000"
    msg = decode_pdu(pdu, Direction.MT, tpdu_length=25)
    assert isinstance(msg, SmsStatusReport)
    assert msg.smsc is not None and msg.smsc.number == "+31624000000"
    assert msg.message_reference == 214
    assert msg.recipient.number == "+31628870634"
    assert msg.scts == datetime(2011, 1, 11, 17, 59, 15, tzinfo=tz(1))
    assert msg.discharge_time == datetime(2011, 1, 11, 17, 59, 17, tzinfo=tz(1))
    assert msg.category is StatusCategory.COMPLETED
    assert encode_message(msg).hex == pdu


def test_mo_capture_with_tp_mr_and_no_validity() -> None:
    msg = decode_pdu("079194710716000001310C919491103246570000061B1EBD3CA703", Direction.MO)
    assert isinstance(msg, SmsSubmit)
    assert msg.message_reference == 0x31
    assert msg.destination.number == "+491901236475"
    assert msg.validity is None
    assert msg.text == "[test"


def test_voicemail_indication_capture() -> None:
    # A network's "1 voicemail waiting" SMS: UDH IE 0x01 (special SMS message indication), kind 0, count 1.
    msg = decode_pdu("07914140279505F74404D011002000800190819234000704010200018000", Direction.MT)
    assert isinstance(msg, SmsDeliver)
    assert msg.indications == (SpecialIndication(kind=0, count=1, store=False),)
    assert msg.concat is None and msg.ports is None
    assert encode_message(msg).hex == "07914140279505F74404D011002000800190819234000704010200018000"
