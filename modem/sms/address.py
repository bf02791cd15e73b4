"""Addresses: TP-OA / TP-DA / TP-RA (TS 23.040 9.1.2.5) and the SMSC (RP) address prefix of a PDU.

Numbers are swapped semi-octets after a type-of-address octet (1 TON NPI: 0x91
international, 0x81 unknown, 0xA1 national); alphanumeric senders (TON 5,
0xD0) are GSM 7-bit packed, and their length counts useful semi-octets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import InvalidAddressError, TruncatedPduError
from .gsm7 import can_encode_gsm7, decode_gsm7, encode_gsm7, pack_septets, unpack_septets

MAX_DIGITS = 20
_SEMI_OK = frozenset("0123456789*#abc")
_SEPARATORS = str.maketrans("", "", " .-()")
MAX_ALPHANUMERIC = 11


class TypeOfNumber(enum.IntEnum):
    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6
    RESERVED = 7


class NumberingPlan(enum.IntEnum):
    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    SC_SPECIFIC_1 = 5
    SC_SPECIFIC_2 = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    RESERVED = 15


_TON_BY_BITS = tuple(TypeOfNumber(i) for i in range(8))
_NPI_BY_BITS = tuple(
    NumberingPlan(i) if i in NumberingPlan._value2member_map_ else NumberingPlan.RESERVED for i in range(16)
)


@dataclass(frozen=True, slots=True)
class Address:
    """A phone number (digits, `*`, `#`, a-c, without the `+`) or an alphanumeric sender, with its type."""

    value: str
    ton: TypeOfNumber = TypeOfNumber.UNKNOWN
    npi: NumberingPlan = NumberingPlan.ISDN

    @property
    def toa(self) -> int:
        """The type-of-address octet (e.g. 0x91, 0x81, 0xA1, 0xD0)."""
        return 0x80 | (int(self.ton) << 4) | int(self.npi)

    @property
    def number(self) -> str:
        """The address as people write it: `+` before an international number."""
        return "+" + self.value if self.ton == TypeOfNumber.INTERNATIONAL else self.value

    def __str__(self) -> str:
        return self.number

    @classmethod
    def from_toa(cls, value: str, toa: int) -> Address:
        return cls(value, _TON_BY_BITS[(toa >> 4) & 0x7], _NPI_BY_BITS[toa & 0xF])

    @classmethod
    def parse(cls, text: str) -> Address:
        """`+33 6 12 34 56 78` -> international; `0612345678`, `*100#` -> unknown/ISDN; other text
        (`Orange`, `Tarif-Info`) -> alphanumeric.  Spaces, dots, dashes and brackets in numbers are dropped."""
        if not text:
            raise InvalidAddressError("empty address")
        plus = text.startswith("+")
        digits = (text[1:] if plus else text).translate(_SEPARATORS)
        if digits and _SEMI_OK.issuperset(digits) and any(c.isdigit() for c in digits):
            return cls(
                digits, TypeOfNumber.INTERNATIONAL if plus else TypeOfNumber.UNKNOWN, NumberingPlan.ISDN
            )
        if plus:
            raise InvalidAddressError(f"international number {text!r} holds characters other than digits")
        return cls(text, TypeOfNumber.ALPHANUMERIC, NumberingPlan.UNKNOWN)

    @classmethod
    def national(cls, digits: str) -> Address:
        return cls(digits, TypeOfNumber.NATIONAL, NumberingPlan.ISDN)


def as_address(value: str | Address) -> Address:
    return value if isinstance(value, Address) else Address.parse(value)


_SWAP = bytes(((b & 0xF) << 4) | (b >> 4) for b in range(256))  # swap the two semi-octets of an octet
_TO_HEX = str.maketrans("*#abc", "abcde")
_FROM_HEX = str.maketrans("abcde", "*#abc", "f")


def encode_semi_octets(digits: str) -> bytes:
    """Digits -> swapped semi-octets, an odd count padded with 0xF."""
    if not _SEMI_OK.issuperset(digits):
        bad = next(c for c in digits if c not in _SEMI_OK)
        raise InvalidAddressError(f"address {digits!r}: character {bad!r} is not a semi-octet digit")
    hexed = digits.translate(_TO_HEX)
    if len(hexed) % 2:
        hexed += "f"
    return bytes.fromhex(hexed).translate(_SWAP)


def decode_semi_octets(data: bytes, count: int | None = None) -> str:
    """Swapped semi-octets -> digits; `count` useful digits (fillers 0xF are skipped)."""
    hexed = bytes(data).translate(_SWAP).hex()
    if count is not None:
        hexed = hexed[:count]
    return hexed.translate(_FROM_HEX)


def encode_address(addr: Address) -> bytes:
    """TP address field: length (useful semi-octets), type of address, value."""
    if addr.ton == TypeOfNumber.ALPHANUMERIC:
        if not can_encode_gsm7(addr.value):
            raise InvalidAddressError(f"alphanumeric address {addr.value!r} is not GSM 7-bit text")
        codes = encode_gsm7(addr.value)
        if len(codes) > MAX_ALPHANUMERIC:
            raise InvalidAddressError(
                f"alphanumeric address {addr.value!r} takes {len(codes)} septets, at most {MAX_ALPHANUMERIC}"
            )
        packed = pack_septets(codes)
        return bytes([(7 * len(codes) + 3) // 4, addr.toa]) + packed
    if len(addr.value) > MAX_DIGITS:
        raise InvalidAddressError(
            f"address {addr.value!r} has {len(addr.value)} digits, at most {MAX_DIGITS}"
        )
    return bytes([len(addr.value), addr.toa]) + encode_semi_octets(addr.value)


def decode_address(pdu: bytes, offset: int, field: str) -> tuple[Address, int]:
    """Decode a TP address at `offset`; returns it and the offset after it."""
    if offset + 2 > len(pdu):
        raise TruncatedPduError(field, offset, 2, max(0, len(pdu) - offset))
    semi, toa = pdu[offset], pdu[offset + 1]
    nbytes = (semi + 1) // 2
    start = offset + 2
    if start + nbytes > len(pdu):
        raise TruncatedPduError(field, offset, 2 + nbytes, len(pdu) - offset)
    raw = pdu[start : start + nbytes]
    if (toa >> 4) & 0x7 == TypeOfNumber.ALPHANUMERIC:
        value = decode_gsm7(unpack_septets(raw, semi * 4 // 7))
    else:
        value = decode_semi_octets(raw, semi)
    return Address.from_toa(value, toa), start + nbytes


def encode_smsc(smsc: str | Address | None) -> bytes:
    """The SMSC prefix of a PDU: `00` (use the SMSC stored in the modem) or length, TOA, semi-octets."""
    if smsc is None or smsc == "":
        return b"\x00"
    addr = as_address(smsc)
    if addr.ton == TypeOfNumber.ALPHANUMERIC:
        raise InvalidAddressError(f"SMSC address {addr.value!r} must be a number")
    if len(addr.value) > MAX_DIGITS:
        raise InvalidAddressError(f"SMSC address {addr.value!r} has more than {MAX_DIGITS} digits")
    body = bytes([addr.toa]) + encode_semi_octets(addr.value)
    return bytes([len(body)]) + body


def decode_smsc(pdu: bytes) -> tuple[Address | None, int]:
    """Decode the SMSC prefix; returns the address (None for length 0) and the TPDU offset."""
    if not pdu:
        raise TruncatedPduError("SMSC length", 0, 1, 0)
    length = pdu[0]
    if length == 0:
        return None, 1
    if 1 + length > len(pdu):
        raise TruncatedPduError("SMSC address", 0, 1 + length, len(pdu))
    toa = pdu[1]
    value = decode_semi_octets(pdu[2 : 1 + length])
    return Address.from_toa(value, toa), 1 + length
