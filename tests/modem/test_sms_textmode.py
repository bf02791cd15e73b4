"""27.005 text-mode and PDU-mode headers of +CMGR, +CMGL, +CMT, +CDS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modem.sms import Alphabet, Direction, TextModeParseError
from modem.sms.textmode import (
    MessageStatus,
    decode_ucs2_hex,
    format_scts_text,
    parse_cds_pdu,
    parse_cds_text,
    parse_cmgl_pdu,
    parse_cmgl_text,
    parse_cmgr_pdu,
    parse_cmgr_text,
    parse_cmgs,
    parse_cmt_pdu,
    parse_cmt_text,
    parse_scts_text,
    split_params,
    status_report_text,
    submit_parameters,
)


def tz(quarters: int) -> timezone:
    return timezone(timedelta(minutes=15 * quarters))


def test_cmgr_deliver() -> None:
    h = parse_cmgr_text('+CMGR: "REC UNREAD","+31628870634",,"11/01/09,10:26:26+04"')
    assert h.kind == "deliver" and h.status is MessageStatus.REC_UNREAD
    assert h.address == "+31628870634" and h.alpha is None
    assert h.scts == datetime(2011, 1, 9, 10, 26, 26, tzinfo=tz(4))


def test_cmgr_deliver_with_csdh_fields_and_alpha() -> None:
    h = parse_cmgr_text(
        '+CMGR: "REC READ","+33612345678","Alice","26/11/28,18:01:02-12",145,4,0,0,"+33689004000",145,5'
    )
    assert h.status is MessageStatus.REC_READ and h.alpha == "Alice"
    assert h.scts == datetime(2026, 11, 28, 18, 1, 2, tzinfo=tz(-12))
    assert (h.type_of_address, h.first_octet, h.pid, h.dcs, h.sca, h.tosca, h.length) == (
        145,
        4,
        0,
        0,
        "+33689004000",
        145,
        5,
    )


def test_cmgr_stored_submit() -> None:
    h = parse_cmgr_text('+CMGR: "STO UNSENT","+33612345678",,145,17,0,0,167,"+33689004000",145,12')
    assert h.kind == "submit" and h.status is MessageStatus.STO_UNSENT and h.scts is None
    assert (h.type_of_address, h.first_octet, h.validity, h.sca, h.length) == (
        145,
        17,
        "167",
        "+33689004000",
        12,
    )


def test_cmgr_status_report() -> None:
    h = parse_cmgr_text(
        '+CMGR: "REC READ",6,46,"+31628870634",145,"11/01/09,10:26:26+04","11/01/09,10:26:30+04",0'
    )
    assert h.kind == "status-report" and h.status is MessageStatus.REC_READ
    assert (h.first_octet, h.message_reference, h.address, h.type_of_address, h.st) == (
        6,
        46,
        "+31628870634",
        145,
        0,
    )
    assert h.discharge_time == datetime(2011, 1, 9, 10, 26, 30, tzinfo=tz(4))


def test_cmgl_lines() -> None:
    h = parse_cmgl_text('+CMGL: 3,"REC READ","+31628870634",,"11/01/09,10:26:26+04"')
    assert (h.index, h.status, h.address) == (3, MessageStatus.REC_READ, "+31628870634")
    h = parse_cmgl_text('+CMGL: 12,"STO SENT","0612345678",,,129,20')
    assert h.kind == "submit" and (h.index, h.scts, h.type_of_address, h.length) == (12, None, 129, 20)
    h = parse_cmgl_text(
        '+CMGL: 4,"REC UNREAD",6,7,"+33612345678",145,"26/11/28,18:00:00+04","26/11/28,18:00:09+04",0'
    )
    assert h.kind == "status-report" and h.index == 4 and h.message_reference == 7


def test_cmt_and_cds_text() -> None:
    h = parse_cmt_text('+CMT: "+33612345678","","26/11/28,18:00:00+04",145,4,0,8,"+33689004000",145,10')
    assert h.kind == "deliver" and h.status is None and h.alpha == "" and h.dcs == 8 and h.length == 10
    h = parse_cds_text('+CDS: 6,46,"+31628870634",145,"11/01/09,10:26:26+04","11/01/09,10:26:30+04",0')
    assert (h.message_reference, h.address, h.st) == (46, "+31628870634", 0)


def test_a_text_mode_status_report_reads_as_the_report_its_pdu_gives() -> None:
    from modem.sms import decode_pdu, encode_status_report

    scts = datetime(2026, 3, 2, 8, 0, 5, tzinfo=UTC)
    dt = scts + timedelta(seconds=4)
    pdu = encode_status_report(46, "+31628870634", scts, dt, 0x46)
    line = '+CDS: 6,46,"+31628870634",145,"26/03/02,08:00:05+00","26/03/02,08:00:09+00",70'
    assert status_report_text(line) == decode_pdu(pdu.hex, Direction.MT)
    stored = status_report_text(
        '+CMGL: 3,"REC READ",38,9,"0612345678",129,"26/03/02,08:00:05+00","26/03/02,08:00:09+00",0'
    )
    assert (stored.message_reference, stored.recipient.number, stored.recipient.toa) == (9, "0612345678", 129)
    assert stored.more_messages is False and stored.qualifier_command is True and stored.delivered
    with pytest.raises(TextModeParseError, match="without <dt>"):
        status_report_text('+CDS: 6,46,"+31628870634",145,"26/03/02,08:00:05+00",,0')
    with pytest.raises(TextModeParseError, match="not a status report"):
        status_report_text('+CMGR: "REC READ","+33612345678",,"26/03/02,08:00:05+00"')


def test_pdu_mode_headers() -> None:
    assert parse_cmgr_pdu("+CMGR: 0,,23").length == 23
    assert parse_cmgr_pdu('+CMGR: 1,"Bob",40').alpha == "Bob"
    h = parse_cmgl_pdu("+CMGL: 2,1,,25")
    assert (h.index, h.status, h.length) == (2, MessageStatus.REC_READ, 25)
    assert parse_cmt_pdu("+CMT: ,24").length == 24
    assert parse_cds_pdu("+CDS: 25").length == 25


def test_status_values_and_directions() -> None:
    assert MessageStatus.parse("0") is MessageStatus.REC_UNREAD
    assert MessageStatus.parse('"sto sent"') is MessageStatus.STO_SENT
    assert MessageStatus.STO_UNSENT.text == "STO UNSENT"
    assert MessageStatus.REC_READ.direction is Direction.MT
    assert MessageStatus.STO_SENT.direction is Direction.MO
    with pytest.raises(TextModeParseError, match="message status"):
        MessageStatus.parse("7")


def test_split_params_keeps_commas_in_quotes() -> None:
    params = split_params('1,"a,b",,"" ,x')
    assert [(p.value, p.quoted) for p in params] == [
        ("1", False),
        ("a,b", True),
        ("", False),
        ("", True),
        ("x", False),
    ]
    assert params[2].empty and not params[3].empty


def test_timestamps_text() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz(-14))
    assert format_scts_text(when) == "26/01/02,03:04:05-14"
    assert parse_scts_text(format_scts_text(when)) == when
    assert parse_scts_text("26/01/02,03:04:05").tzinfo is None


@pytest.mark.parametrize(
    "line",
    [
        '+CMGR: "REC UNREAD","+3162',  # unterminated quote
        '+CMGR: "REC UNREAD"',
        '+CMGR: "READ IT","+1",,"11/01/09,10:26:26+04"',
        '+CMGR: "REC READ","+1",,"11/13/09,10:26:26+04"',
        '+CMGR: "REC READ","+1",,"yesterday"',
        '+CMTI: "SM",3',
        "+CDS: 6,46",
        "+CMGL: x,0,,23",
    ],
)
def test_bad_lines_are_typed_errors(line: str) -> None:
    with pytest.raises(TextModeParseError):
        if line.startswith("+CMGL"):
            parse_cmgl_pdu(line)
        elif line.startswith("+CDS"):
            parse_cds_text(line)
        else:
            parse_cmgr_text(line)


def test_ucs2_body() -> None:
    assert decode_ucs2_hex("041F04400438043204350442D83DDE00") == "Привет😀"
    with pytest.raises(TextModeParseError):
        decode_ucs2_hex("04ZZ")


def test_submit_parameters_for_csmp() -> None:
    assert submit_parameters(timedelta(days=1), status_report=True).command == "AT+CSMP=49,167,0,0"
    assert submit_parameters().command == "AT+CSMP=1,0,0,0"
    p = submit_parameters(timedelta(hours=1), message_class=0, alphabet=Alphabet.UCS2, reject_duplicates=True)
    assert (p.first_octet, p.validity, p.dcs) == (0x15, 11, 0x18)


def test_parse_cmgs() -> None:
    assert parse_cmgs("+CMGS: 17") == (17, None)
    mr, scts = parse_cmgs('+CMGS: 3,"26/11/28,18:00:00+04"')
    assert mr == 3 and scts == datetime(2026, 11, 28, 18, 0, tzinfo=tz(4))
    with pytest.raises(TextModeParseError):
        parse_cmgs("+CMGS: 300")
    with pytest.raises(TextModeParseError):
        parse_cmgs("+CMGS: ")


@pytest.mark.parametrize("line", ["+CMGS: -4", "+CMGS: 0x1f", "+CMGS: ４", '+CMGS: "7"', "+CMGS: 256"])
def test_parse_cmgs_takes_a_reference_of_decimal_digits_0_to_255_only(line: str) -> None:
    # TP-MR is one octet: a garbled answer read as a reference (0x1f as 31, a full-width ４ as 4)
    # would be matched against another part's status reports
    with pytest.raises(TextModeParseError, match=r"0\.\.255"):
        parse_cmgs(line)
