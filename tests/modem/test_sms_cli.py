"""The SMS codec commands: sms-decode, sms-encode, sms-count (python -m modem.sms / m2msim)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from modem.sms import Direction, SmsSubmit, decode_pdu
from modem.sms.cli import main

DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def test_decode_prints_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms-decode", DELIVER]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "type: SMS-DELIVER" in out
    assert "originator: 27838890001 (toa 0xC8)" in out
    assert "scts: 1999-03-29T15:16:59+02:00" in out
    assert "text: hellohello" in out


def test_decode_json_and_status_report(capsys: pytest.CaptureFixture[str]) -> None:
    pdu = "07911326040000F006D60B911326880736F4111011719551401110117195714000"
    assert main(["sms-decode", pdu, "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["type"] == "SMS-STATUS-REPORT"
    assert fields["message_reference"] == 214
    assert fields["status"].startswith("0x00 short message received by the SME")


def test_decode_submit_shows_validity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms-decode", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", "--direction", "mo"]) == 0
    assert "validity: 4 days, 0:00:00 (relative)" in capsys.readouterr().out


def test_encode_prints_one_line_per_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms-encode", "x" * 200, "--to", "+33612345678", "--mr", "9", "--validity", "60"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for i, line in enumerate(lines, start=1):
        part, parts, length, pdu = line.split("\t")
        assert (int(part), int(parts)) == (i, 2)
        msg = decode_pdu(pdu, Direction.MO, tpdu_length=int(length))
        assert isinstance(msg, SmsSubmit) and msg.message_reference == 8 + i


def test_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms-count", "Ağabey " * 30, "--language", "turkish"]) == 0
    out = capsys.readouterr().out
    assert "alphabet: gsm7" in out and "parts: 2" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sms-decode", "0011ZZ"], "not a hex digit"),
        (["sms-decode", DELIVER[:30]], "truncated PDU"),
        (["sms-decode", DELIVER, "--length", "3"], "length given is 3"),
        (["sms-encode", "hi", "--to", "+33 six"], "international number"),
        (["sms-encode", "hi", "--to", "O612345678"], "--to O612345678: not a phone number"),
        (["sms-encode", "hi", "--to", "0612345678", "--smsc", "Orange"], "--smsc Orange: not a phone number"),
        (["sms-encode", "a" * 40000, "--to", "+336"], "more than 255 parts"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err.count("\n") == 1
        and message in captured.err
        and captured.err.startswith(f"m2msim {argv[0]}: ")
    )


def test_decode_without_smsc_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    """A +CMGR string without the SMSC prefix decodes when --length says so, and without --length
    the error says to pass --no-smsc."""
    assert main(["sms-decode", DELIVER[16:], "--length", "28"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "text: hellohello" in out and not any(line.startswith("smsc:") for line in out)
    submit = "11000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert main(["sms-decode", submit, "--length", "23"]) == 0
    assert "type: SMS-SUBMIT" in capsys.readouterr().out.splitlines()
    assert main(["sms-decode", "040B913316325476F800006210203040504902E834"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --no-smsc" in err


# SMS-DELIVER from +33612345678, no SMSC prefix ("00"), with the DCS octet and user data given.
def _deliver_with(dcs: str, ud: str) -> str:
    return f"00040B913316325476F800{dcs}62102030405049{ud}"


@pytest.mark.parametrize(
    ("dcs", "ud", "shown", "content"),
    [
        # TS 23.038 4: 001x xxxx is compressed (TS 23.042), its TP-UDL counted in octets
        ("20", "040B0C0D0E", "0x20 (gsm7, compressed: TS 23.042, not decompressed", "data: 0B0C0D0E"),
        ("2A", "040B0C0D0E", "0x2A (ucs2, compressed: TS 23.042, not decompressed", "data: 0B0C0D0E"),
        # 1100: message waiting, discard; bit 3 set: indication active; 00 voicemail
        ("C8", "02E834", "0xC8 (gsm7, voicemail waiting active, discard message)", "text: hi"),
        # 1110: message waiting, store, UCS2; bit 3 clear: inactive; 10 e-mail
        ("E2", "0400680069", "0xE2 (ucs2, email waiting inactive, store message)", "text: hi"),
        # 01xx: marked for automatic deletion; 0x12 = class 2
        ("52", "02E834", "0x52 (gsm7, class 2, marked for automatic deletion)", "text: hi"),
    ],
)
def test_decode_says_what_the_dcs_means(
    dcs: str, ud: str, shown: str, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compressed user data was shown as plain GSM 7-bit ("dcs: 0x20 (gsm7)") beside its octets, and
    a message-waiting or automatic-deletion DCS as its alphabet alone."""
    assert main(["sms-decode", _deliver_with(dcs, ud)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"dcs: {shown}") for line in out), out
    assert content in out and not (content.startswith("data") and any(x.startswith("text") for x in out))


@pytest.mark.parametrize(
    ("pdu", "warning", "text"),
    [
        # header 25 01 06 / 24 01 06: Hindi locking and single shift (TS 23.038 6.2.1.2.4: 6 = Hindi);
        # septets 01 02 03 are U+0902 U+0903 U+0905 in the Hindi locking shift table (annex A.3.6)
        ("004405911989F70000621010000000000B0625010624010601C100", None, "\u0902\u0903\u0905"),
        ("004405911989F7000062101000000000080324010D080806", None, None),  # 13 = Urdu
        ("004405911989F70000621010000000000803240101080806", None, None),  # 1 = Turkish
        # 14: reserved, no table
        ("004405911989F7000062101000000000080324010E080806", "single shift 14", None),
        (
            "004405911989F70000621010000000000B0625010F24010E01C100",
            "locking shift 15 and single shift 14",
            None,
        ),
    ],
)
def test_decode_warns_of_a_language_table_not_carried(
    pdu: str, warning: str | None, text: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text whose header names an Indic table was read with the default alphabet ('£$¥' for
    Devanagari) under a warning; it now reads with that table, and the warning is left for the
    identifiers past 13, which TS 23.038 reserves."""
    assert main(["sms-decode", pdu, "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert "text" in fields
    if text is not None:
        assert fields["text"] == text
    if warning is None:
        assert "warning" not in fields
    else:
        assert f"names {warning}," in fields["warning"] and "not what was sent" in fields["warning"]


def test_decode_tells_a_submit_from_its_message_type(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --direction, an SMS-SUBMIT (what sms-encode prints, an AT+CMGS string) decodes as
    sent, where it was read as received and refused ('time stamp TP-SCTS ...'); a DELIVER and a
    STATUS-REPORT are still read as received, with or without the SMSC prefix."""
    assert main(["sms-encode", "round trip", "--to", "+33612345678", "--validity", "60"]) == 0
    pdu = capsys.readouterr().out.split("\t")[3].strip()
    assert main(["sms-decode", pdu]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "type: SMS-SUBMIT" in out
        and "text: round trip" in out
        and "destination: +33612345678 (toa 0x91)" in out
    )
    assert main(["sms-decode", pdu[2:], "--no-smsc"]) == 0
    assert "type: SMS-SUBMIT" in capsys.readouterr().out.splitlines()
    assert main(["sms-decode", DELIVER]) == 0
    assert "type: SMS-DELIVER" in capsys.readouterr().out.splitlines()
    report = "07911326040000F006D60B911326880736F4111011719551401110117195714000"
    assert main(["sms-decode", report[16:], "--no-smsc"]) == 0
    assert "type: SMS-STATUS-REPORT" in capsys.readouterr().out.splitlines()
    # --direction still forces a reading: the SUBMIT read as received is refused as before
    assert main(["sms-decode", pdu, "--direction", "mt"]) == 2
    assert capsys.readouterr().err.startswith("m2msim sms-decode: PDU: ")


def test_a_closed_standard_output_is_status_141_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m modem.sms sms-decode ... | head -1`: the print that met the closed pipe ended in
    a BrokenPipeError traceback; the status is now 141, as SIGPIPE ends a Unix tool (m2msim too)."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["sms-decode", DELIVER]) == 141
