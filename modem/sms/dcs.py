"""TP-Data-Coding-Scheme (3GPP TS 23.038 clause 4): alphabet, message class, and the other groups.

Encoding produces the general data coding group (00xx xxxx).  Decoding accepts
every group: general, automatic deletion, message waiting indication, data
coding / message class (1111), and the reserved groups (read as GSM 7-bit, as
TS 23.038 asks of a receiving entity).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import SmsCodecError


class Alphabet(enum.Enum):
    """Character set of the user data."""

    GSM7 = "gsm7"
    DATA8 = "8bit"
    UCS2 = "ucs2"


class MessageWaitingType(enum.IntEnum):
    VOICEMAIL = 0
    FAX = 1
    EMAIL = 2
    OTHER = 3


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    """Message waiting indication carried by DCS groups 1100/1101/1110."""

    active: bool
    kind: MessageWaitingType
    store: bool


@dataclass(frozen=True, slots=True)
class DataCoding:
    """A decoded (or to-be-encoded) TP-DCS octet."""

    alphabet: Alphabet = Alphabet.GSM7
    message_class: int | None = None
    compressed: bool = False
    auto_delete: bool = False
    waiting: MessageWaiting | None = None
    #: The octet as received; not part of equality (0xF0 and 0x10 both mean GSM 7-bit, class 0).
    raw: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.message_class is not None and not 0 <= self.message_class <= 3:
            raise SmsCodecError(f"message class must be 0..3 or None, got {self.message_class}")

    def to_octet(self) -> int:
        """The DCS octet: the raw one when decoded, else the general data coding group."""
        if self.raw is not None:
            return self.raw
        value = 0x40 if self.auto_delete else 0x00
        if self.compressed:
            value |= 0x20
        value |= _ALPHABET_BITS[self.alphabet]
        if self.message_class is not None:
            value |= 0x10 | self.message_class
        return value

    @classmethod
    def from_octet(cls, octet: int) -> DataCoding:
        """Decode any DCS value (0..255)."""
        if not 0 <= octet <= 0xFF:
            raise SmsCodecError(f"DCS must be one octet, got {octet}")
        group = octet >> 4
        if group <= 0x7:  # 00xx / 01xx: general data coding, 01xx marked for automatic deletion
            alpha_bits = (octet >> 2) & 0x3
            alphabet = {0: Alphabet.GSM7, 1: Alphabet.DATA8, 2: Alphabet.UCS2}.get(alpha_bits, Alphabet.GSM7)
            mclass = (octet & 0x3) if octet & 0x10 else None
            return cls(alphabet, mclass, bool(octet & 0x20), bool(octet & 0x40), None, octet)
        if group in (0xC, 0xD, 0xE):  # message waiting indication groups
            waiting = MessageWaiting(bool(octet & 0x08), MessageWaitingType(octet & 0x3), group != 0xC)
            alphabet = Alphabet.UCS2 if group == 0xE else Alphabet.GSM7
            return cls(alphabet, None, False, False, waiting, octet)
        if group == 0xF:  # data coding / message class
            alphabet = Alphabet.DATA8 if octet & 0x04 else Alphabet.GSM7
            return cls(alphabet, octet & 0x3, False, False, None, octet)
        # 1000..1011: reserved coding groups, to be read as GSM 7-bit.
        return cls(Alphabet.GSM7, None, False, False, None, octet)


_ALPHABET_BITS = {Alphabet.GSM7: 0x00, Alphabet.DATA8: 0x04, Alphabet.UCS2: 0x08}
