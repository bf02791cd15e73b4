"""SMS-SUBMIT-REPORT, SMS-DELIVER-REPORT and SMS-COMMAND (TS 23.040 9.2.2.1a, 9.2.2.2a, 9.2.2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    Address,
    Alphabet,
    CommandType,
    DataCoding,
    Direction,
    SmsCommand,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmitReport,
    TruncatedPduError,
    UserData,
    decode_pdu,
    decode_tpdu,
    encode_message,
    failure_cause_meaning,
)
from modem.sms.cli import describe


@pytest.mark.parametrize(
    ("ackpdu", "scts"),
    [
        ("010080110191146140", datetime(2008, 11, 10, 19, 41, 16, tzinfo=timezone(timedelta(hours=1)))),
        ("010080112102618040", datetime(2008, 11, 12, 20, 16, 8, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_captured_submit_report_acks(ackpdu: str, scts: datetime) -> None:
    # The <ackpdu> a modem appends to +CMGS with AT+CSMS=1: RP-ACK form, no SMSC prefix.
    msg = decode_pdu(ackpdu, Direction.MT, with_smsc=False)
    assert isinstance(msg, SmsSubmitReport)
    assert msg.accepted and msg.meaning == "accepted" and msg.scts == scts
    assert msg.encode().hex().upper() == ackpdu.upper()


def test_submit_report_error_with_parameters() -> None:
    when = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    report = SmsSubmitReport(
        when,
        failure_cause=0xC5,
        pid=0,
        dcs=DataCoding(Alphabet.GSM7),
        user_data=UserData.from_text("dup", Alphabet.GSM7),
    )
    raw = report.encode()
    assert raw[:3] == bytes([0x01, 0xC5, 0x07])  # MTI, TP-FCS, TP-PI (PID, DCS, UD)
    back = decode_tpdu(raw, Direction.MT)
    assert isinstance(back, SmsSubmitReport)
    assert back == report and not back.accepted
    assert back.meaning == "SM rejected-duplicate SM" and back.text == "dup"


@pytest.mark.parametrize(
    ("report", "octets"),
    [
        (SmsDeliverReport(), "0000"),
        (SmsDeliverReport(failure_cause=0xD3), "00D300"),
        (SmsDeliverReport(failure_cause=0xD0, pid=0x7F), "00D0017F"),
    ],
)
def test_deliver_reports(report: SmsDeliverReport, octets: str) -> None:
    assert report.encode().hex().upper() == octets
    back = decode_pdu(octets, Direction.MO, with_smsc=False)
    assert back == report
    assert isinstance(back, SmsDeliverReport)
    assert back.accepted is (report.failure_cause is None)


def test_failure_cause_meanings() -> None:
    assert failure_cause_meaning(0xD3) == "memory capacity exceeded"
    assert failure_cause_meaning(0xFF) == "unspecified error cause"
    assert failure_cause_meaning(0xE5) == "application-specific failure 0xe5"
    assert failure_cause_meaning(0xB7) == "reserved failure cause 0xb7"


def test_command_round_trip() -> None:
    cmd = SmsCommand(
        message_reference=12,
        command_type=CommandType.DELETE,
        message_number=7,
        destination=Address.parse("+33612345678"),
        status_report_request=True,
    )
    pdu = encode_message(cmd)
    assert pdu.hex.startswith("00220C0002070B913316325476F800")  # SMSC 00, fo 0x22, MR, PID, CT, MN, DA, CDL
    back = decode_pdu(pdu.hex, Direction.MO, tpdu_length=pdu.tpdu_length)
    assert back == cmd
    assert describe(back)["type"] == "SMS-COMMAND"


def test_command_with_data_and_truncation() -> None:
    cmd = SmsCommand(1, CommandType.ENQUIRY, 1, Address.parse("0612345678"), data=b"\x01\x02\x03")
    raw = cmd.encode()
    assert decode_tpdu(raw, Direction.MO) == cmd
    with pytest.raises(TruncatedPduError, match="TP-CD"):
        decode_tpdu(raw[:-1], Direction.MO)


@settings(derandomize=True, deadline=None)
@given(
    st.builds(
        SmsCommand,
        message_reference=st.integers(0, 255),
        command_type=st.integers(0, 255),
        message_number=st.integers(0, 255),
        destination=st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True).map(Address.parse),
        pid=st.integers(0, 255),
        data=st.binary(max_size=156),
        status_report_request=st.booleans(),
    )
)
def test_command_round_trip_property(cmd: SmsCommand) -> None:
    assert decode_tpdu(cmd.encode(), Direction.MO) == cmd


@settings(derandomize=True, deadline=None)
@given(
    st.one_of(st.none(), st.integers(0x80, 0xFF)),
    st.one_of(st.none(), st.integers(0, 255)),
    st.one_of(st.none(), st.text(alphabet="abc xyz0123", max_size=150)),
)
def test_report_round_trip_property(cause: int | None, pid: int | None, text: str | None) -> None:
    ud = None if text is None else UserData.from_text(text, Alphabet.GSM7)
    dcs = None if text is None else DataCoding(Alphabet.GSM7)
    deliver = SmsDeliverReport(cause, pid, dcs, ud)
    assert decode_tpdu(deliver.encode(), Direction.MO) == deliver
    submit = SmsSubmitReport(datetime(2026, 1, 1, tzinfo=UTC), cause, pid, dcs, ud)
    assert decode_tpdu(submit.encode(), Direction.MT) == submit


# The published SMS-STATUS-REPORT (MR 214 to +31628870634, delivered) and TP-PI octets after it.
REPORT = "07911326040000F006D60B911326880736F4111011719551401110117195714000"


@pytest.mark.parametrize(
    ("tail", "pid"),
    [
        ("810000", 0x00),  # TP-PI 0x81: PID present, extension bit set; extension octet 0x00; PID 0
        ("81007F", 0x7F),  # the same with PID 0x7F
        ("FF", None),  # an SMSC's padding read as a TP-PI announcing everything: nothing follows
        ("0100", 0x00),
    ],
)
def test_status_report_parameter_indicator_is_its_first_octet(tail: str, pid: int | None) -> None:
    """TS 23.040 9.2.3.27: the first TP-PI octet says which parameters follow.  The decoder took
    them from the last extension octet (PI 0x81 + 0x00 read as no parameter), and a padding octet
    0xFF made the whole report undecodable (its status lost)."""
    msg = decode_pdu(REPORT + tail, Direction.MT)
    assert isinstance(msg, SmsStatusReport)
    assert (msg.message_reference, msg.delivered, msg.pid) == (214, True, pid)
