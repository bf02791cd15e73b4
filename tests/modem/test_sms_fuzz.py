"""Bad input never escapes as anything but an SmsCodecError (no IndexError, no UnicodeError, ...)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.sms import (
    Direction,
    SmsCodecError,
    TruncatedPduError,
    decode_pdu,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

SCTS = datetime(2026, 11, 28, 18, 0, 0, tzinfo=timezone(timedelta(hours=-3)))

VALID = [
    encode_submit("hello [world] €", "+33612345678", validity=timedelta(days=2))[0].hex,
    encode_submit("a" * 200, "Orange", smsc="+33689004000")[1].hex,
    encode_submit("ж😀" * 40, "+33612345678", validity=SCTS)[0].hex,
    encode_deliver(bytes(range(50)), "+33612345678", SCTS)[0].hex,
    encode_deliver("Hi there", "InfoSMS", SCTS, smsc="+33689004000")[0].hex,
    encode_status_report(9, "+33612345678", SCTS, SCTS, 0x46).hex,
]


def _decode_only_typed_errors(pdu: bytes | str) -> None:
    for direction in (Direction.MT, Direction.MO):
        for with_smsc in (True, False):
            try:
                msg = decode_pdu(pdu, direction, with_smsc=with_smsc)
            except SmsCodecError:
                continue
            _ = msg.text  # decoding the text must not raise either


@settings(derandomize=True, deadline=None, max_examples=400)
@given(st.binary(max_size=200))
def test_random_bytes(pdu: bytes) -> None:
    _decode_only_typed_errors(pdu)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.text(max_size=80))
def test_random_strings(pdu: str) -> None:
    _decode_only_typed_errors(pdu)


@pytest.mark.parametrize("pdu", VALID)
def test_every_truncation_is_a_typed_error(pdu: str) -> None:
    raw = bytes.fromhex(pdu)
    direction = Direction.MO if raw[raw[0] + 1] & 0x03 == 1 else Direction.MT
    decode_pdu(pdu, direction)  # the whole one decodes
    for cut in range(len(raw)):
        with pytest.raises(SmsCodecError):
            decode_pdu(raw[:cut], direction)


def test_truncation_names_the_field() -> None:
    raw = bytes.fromhex(VALID[0])
    with pytest.raises(TruncatedPduError) as info:
        decode_pdu(raw[:5], Direction.MO)
    assert info.value.field == "TP-DA" and "truncated PDU: field TP-DA" in str(info.value)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_pdus(pdu: str, data: st.DataObject) -> None:
    raw = bytearray(bytes.fromhex(pdu))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _decode_only_typed_errors(bytes(raw))
