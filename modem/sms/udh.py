"""User-data header (3GPP TS 23.040 9.2.3.24): information elements, concatenation and port addressing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidUserDataHeaderError, SmsCodecError

IEI_CONCAT_8 = 0x00
IEI_SPECIAL_INDICATION = 0x01
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class InformationElement:
    """One IE: identifier and its data, kept as received whether known or not."""

    iei: int
    data: bytes

    def encode(self) -> bytes:
        if not 0 <= self.iei <= 0xFF or len(self.data) > 0xFF:
            raise SmsCodecError(
                f"information element {self.iei:#x} does not fit (data {len(self.data)} octets)"
            )
        return bytes([self.iei, len(self.data)]) + self.data


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Concatenated short message IE (0x00 with an 8-bit reference, 0x08 with a 16-bit one)."""

    reference: int
    total: int
    sequence: int
    reference_bits: int = 8

    def __post_init__(self) -> None:
        if self.reference_bits not in (8, 16):
            raise SmsCodecError(f"concatenation reference is 8 or 16 bits, got {self.reference_bits}")
        if not 0 <= self.reference < (1 << self.reference_bits):
            raise SmsCodecError(
                f"concatenation reference {self.reference} does not fit {self.reference_bits} bits"
            )
        if not 1 <= self.total <= 255 or not 1 <= self.sequence <= self.total:
            raise SmsCodecError(f"concatenation part {self.sequence} of {self.total} is not valid (1..255)")

    def to_ie(self) -> InformationElement:
        if self.reference_bits == 8:
            return InformationElement(IEI_CONCAT_8, bytes([self.reference, self.total, self.sequence]))
        ref = self.reference.to_bytes(2, "big")
        return InformationElement(IEI_CONCAT_16, ref + bytes([self.total, self.sequence]))


@dataclass(frozen=True, slots=True)
class PortInfo:
    """Application port addressing IE (0x04 with 8-bit ports, 0x05 with 16-bit ports)."""

    destination: int
    originator: int
    port_bits: int = 16

    def __post_init__(self) -> None:
        if self.port_bits not in (8, 16):
            raise SmsCodecError(f"ports are 8 or 16 bits, got {self.port_bits}")
        limit = 1 << self.port_bits
        if not (0 <= self.destination < limit and 0 <= self.originator < limit):
            raise SmsCodecError(
                f"ports {self.destination}/{self.originator} do not fit {self.port_bits} bits"
            )

    def to_ie(self) -> InformationElement:
        if self.port_bits == 8:
            return InformationElement(IEI_PORTS_8, bytes([self.destination, self.originator]))
        return InformationElement(
            IEI_PORTS_16, self.destination.to_bytes(2, "big") + self.originator.to_bytes(2, "big")
        )


@dataclass(frozen=True, slots=True)
class SpecialIndication:
    """Special SMS message indication IE 0x01 (TS 23.040 9.2.3.24.2): messages waiting, with their count.

    `kind` is 0 voicemail, 1 fax, 2 e-mail, 3 other; `extended` the extended type bits (4..2);
    `store` tells the mobile to keep the message (else it may discard it once the indication is shown).
    """

    kind: int
    count: int
    store: bool = False
    extended: int = 0

    def to_ie(self) -> InformationElement:
        if not (0 <= self.kind <= 3 and 0 <= self.count <= 255 and 0 <= self.extended <= 7):
            raise SmsCodecError(f"special indication kind {self.kind}, count {self.count} out of range")
        first = (0x80 if self.store else 0) | (self.extended << 2) | self.kind
        return InformationElement(IEI_SPECIAL_INDICATION, bytes([first, self.count]))


def encode_udh(elements: Sequence[InformationElement]) -> bytes:
    """UDHL followed by the IEs; b"" when there are none."""
    if not elements:
        return b""
    body = b"".join(ie.encode() for ie in elements)
    if len(body) > 139:
        raise SmsCodecError(f"user-data header of {len(body)} octets does not fit a message")
    return bytes([len(body)]) + body


def decode_udh(header: bytes) -> tuple[InformationElement, ...]:
    """Decode the IEs of a header (without its UDHL octet)."""
    out: list[InformationElement] = []
    i = 0
    n = len(header)
    while i < n:
        if i + 2 > n:
            raise InvalidUserDataHeaderError(f"user-data header: IE at offset {i} has no length octet")
        iei, length = header[i], header[i + 1]
        if i + 2 + length > n:
            raise InvalidUserDataHeaderError(
                f"user-data header: IE {iei:#04x} at offset {i} announces {length} octets, {n - i - 2} left"
            )
        out.append(InformationElement(iei, bytes(header[i + 2 : i + 2 + length])))
        i += 2 + length
    return tuple(out)


def find_concat(elements: Sequence[InformationElement]) -> ConcatInfo | None:
    """The concatenation IE, or None.  TS 23.040 9.2.3.24: of repeated or mutually exclusive IEs
    (0x00 and 0x08) the last is used; one with invalid values (part 0, or past the count) is ignored."""
    for ie in reversed(elements):
        try:
            if ie.iei == IEI_CONCAT_8 and len(ie.data) == 3:
                return ConcatInfo(ie.data[0], ie.data[1], ie.data[2], 8)
            if ie.iei == IEI_CONCAT_16 and len(ie.data) == 4:
                return ConcatInfo(int.from_bytes(ie.data[:2], "big"), ie.data[2], ie.data[3], 16)
        except SmsCodecError:
            continue
    return None


def find_ports(elements: Sequence[InformationElement]) -> PortInfo | None:
    """The application port addressing IE, or None; the last of repeated or mutually exclusive
    ones (0x04 and 0x05), as TS 23.040 9.2.3.24 asks."""
    for ie in reversed(elements):
        if ie.iei == IEI_PORTS_8 and len(ie.data) == 2:
            return PortInfo(ie.data[0], ie.data[1], 8)
        if ie.iei == IEI_PORTS_16 and len(ie.data) == 4:
            return PortInfo(int.from_bytes(ie.data[:2], "big"), int.from_bytes(ie.data[2:], "big"), 16)
    return None


def find_special_indications(elements: Iterable[InformationElement]) -> tuple[SpecialIndication, ...]:
    """Every special SMS message indication IE (one per kind of waiting message)."""
    return tuple(
        SpecialIndication(ie.data[0] & 0x03, ie.data[1], bool(ie.data[0] & 0x80), (ie.data[0] >> 2) & 0x07)
        for ie in elements
        if ie.iei == IEI_SPECIAL_INDICATION and len(ie.data) == 2
    )
