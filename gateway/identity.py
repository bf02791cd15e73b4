"""Validation of subscriber and equipment identities (TS 23.003).

- IMSI: 14 or 15 digits (MCC 3 + MNC 2-3 + MSIN); 6 to 15 digits are legal in
  TS 23.003, but every IMSI a GSM/UMTS network issues is 14-15 digits long.
- IMEI: 14 digits (TAC 8 + serial 6), plus a Luhn check digit when it is
  written with 15 digits.  IMEISV: the 14 IMEI digits plus a 2-digit software
  version number (16 digits, no check digit).
- MSISDN: E.164 digits without '+', 8 to 15 digits, not starting with 0.
- PLMN id: MCC (3 digits) + MNC (2 or 3 digits).
"""

from __future__ import annotations

from gateway.errors import InvalidIdentity


def _digits(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentity(field, value, "not a string")
    if not value.isascii() or not value.isdigit():
        raise InvalidIdentity(field, value, "must be decimal digits only")
    return value


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit to append to `digits` (the IMEI's 15th digit, TS 23.003 annex B)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def validate_imsi(imsi: object) -> str:
    value = _digits("imsi", imsi)
    if len(value) not in (14, 15):
        raise InvalidIdentity("imsi", imsi, f"must be 14 or 15 digits, got {len(value)}")
    return value


def normalise_imeisv(imeisv: object) -> str:
    """A 16-digit IMEISV from an IMEISV (16 digits) or an IMEI with its check digit (15 digits).

    A 15-digit IMEI's Luhn digit is checked; its software version is unknown and
    written 00.
    """
    value = _digits("imeisv", imeisv)
    if len(value) == 16:
        return value
    if len(value) == 15:
        expected = luhn_check_digit(value[:14])
        if int(value[14]) != expected:
            raise InvalidIdentity("imeisv", imeisv, f"IMEI check digit is {value[14]}, expected {expected}")
        return value[:14] + "00"
    raise InvalidIdentity("imeisv", imeisv, f"must be 15 (IMEI) or 16 (IMEISV) digits, got {len(value)}")


def imei14(imeisv: str) -> str:
    """The 14-digit IMEI (TAC + serial) of an IMEI or IMEISV: what identifies the device."""
    return imeisv[:14]


def validate_msisdn(msisdn: object) -> str:
    value = _digits("msisdn", msisdn)
    if not 8 <= len(value) <= 15:
        raise InvalidIdentity("msisdn", msisdn, f"E.164 numbers have 8 to 15 digits, got {len(value)}")
    if value[0] == "0":
        raise InvalidIdentity("msisdn", msisdn, "E.164 digits start with the country code, not 0")
    return value


def validate_plmn(plmn: object, field: str = "serving_plmn") -> str:
    value = _digits(field, plmn)
    if len(value) not in (5, 6):
        raise InvalidIdentity(field, plmn, f"MCC+MNC is 5 or 6 digits, got {len(value)}")
    return value
