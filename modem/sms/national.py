"""National language shift tables (3GPP TS 23.038 6.2.1.2.4 and annex A): Turkish, Spanish,
Portuguese, and the Indic ones (Bengali to Urdu, `modem.sms.national_indic`).

A message names its tables in the user-data header: IE 0x25 (locking shift:
replaces the default alphabet) and IE 0x24 (single shift: replaces the
extension table reached by ESC), each holding a language identifier.  An
identifier without a table here (reserved: 14 and up) falls back to the default
table, as the standard asks of a receiver.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from functools import cache

from .gsm7 import DEFAULT_ALPHABET, DEFAULT_TABLES, EXTENSION_TABLE, Gsm7Tables
from .national_indic import INDIC_LOCKING, INDIC_SINGLE
from .udh import InformationElement

IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25


class Language(enum.IntEnum):
    """National language identifiers (TS 23.038 6.2.1.2.4) with tables in this codec."""

    DEFAULT = 0
    TURKISH = 1
    SPANISH = 2
    PORTUGUESE = 3
    BENGALI = 4
    GUJARATI = 5
    HINDI = 6
    KANNADA = 7
    MALAYALAM = 8
    ORIYA = 9
    PUNJABI = 10
    TAMIL = 11
    TELUGU = 12
    URDU = 13


# Locking shift tables, 128 characters in code order (0x1B is the escape to the single-shift table).
LOCKING_TABLES: dict[int, str] = {
    Language.TURKISH: (
        "@£$¥€éùıòÇ\nĞğ\rÅå"
        "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
        " !\"#¤%&'()*+,-./"
        "0123456789:;<=>?"
        "İABCDEFGHIJKLMNO"
        "PQRSTUVWXYZÄÖÑÜ§"
        "çabcdefghijklmno"
        "pqrstuvwxyzäöñüà"
    ),
    Language.PORTUGUESE: (
        "@£$¥êéúíóç\nÔô\rÁá"
        "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
        " !\"#º%&'()*+,-./"
        "0123456789:;<=>?"
        "ÍABCDEFGHIJKLMNO"
        "PQRSTUVWXYZÃÕÚÜ§"
        "~abcdefghijklmno"
        "pqrstuvwxyzãõ`üà"
    ),
}

_COMMON_SHIFT = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
}

# Single shift tables: code after ESC -> character.
SINGLE_TABLES: dict[int, dict[int, str]] = {
    Language.TURKISH: {
        **_COMMON_SHIFT,
        0x47: "Ğ",
        0x49: "İ",
        0x53: "Ş",
        0x63: "ç",
        0x65: "€",
        0x67: "ğ",
        0x69: "ı",
        0x73: "ş",
    },
    Language.SPANISH: {
        **_COMMON_SHIFT,
        0x09: "ç",
        0x41: "Á",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x61: "á",
        0x65: "€",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
    },
    Language.PORTUGUESE: {
        **_COMMON_SHIFT,
        0x05: "ê",
        0x09: "ç",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "Φ",
        0x13: "Γ",
        0x15: "Ω",
        0x16: "Π",
        0x17: "Ψ",
        0x18: "Σ",
        0x19: "Θ",
        0x1F: "Ê",
        0x41: "À",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x5B: "Ã",
        0x5C: "Õ",
        0x61: "Â",
        0x65: "€",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
        0x7B: "ã",
        0x7C: "õ",
        0x7F: "â",
    },
}


LOCKING_TABLES.update(INDIC_LOCKING)
SINGLE_TABLES.update(
    {lang: {c: ch for c, ch in enumerate(table) if ch != "\x1b"} for lang, table in INDIC_SINGLE.items()}
)

#: The highest national language identifier TS 23.038 6.2.1.2.4 defines (13, Urdu); those past it
#: are reserved.
LAST_DEFINED = Language.URDU


def tables_not_carried(header: Iterable[InformationElement]) -> list[str]:
    """The tables a header names that this codec has not, e.g. ["locking shift 14"]: identifiers
    past 13, reserved by TS 23.038 6.2.1.2.4 (a later release may define them).  The text is then
    read with the default tables, as the standard asks, and is likely not what was sent."""
    locking, single = shift_languages(header)
    out = []
    if locking > LAST_DEFINED:
        out.append(f"locking shift {locking}")
    if single > LAST_DEFINED:
        out.append(f"single shift {single}")
    return out


@cache
def tables_for(locking: int = 0, single: int = 0) -> Gsm7Tables:
    """The tables for a locking-shift and a single-shift language (0 or unknown = default)."""
    if locking not in LOCKING_TABLES and single not in SINGLE_TABLES:
        return DEFAULT_TABLES
    return Gsm7Tables(
        LOCKING_TABLES.get(locking, DEFAULT_ALPHABET), SINGLE_TABLES.get(single, EXTENSION_TABLE)
    )


def shift_languages(header: Iterable[InformationElement]) -> tuple[int, int]:
    """(locking, single) language identifiers named by a header; 0 where absent."""
    locking = single = 0
    for ie in header:
        if ie.iei == IEI_LOCKING_SHIFT and len(ie.data) == 1:
            locking = ie.data[0]
        elif ie.iei == IEI_SINGLE_SHIFT and len(ie.data) == 1:
            single = ie.data[0]
    return locking, single


def shift_ies(locking: int, single: int) -> tuple[InformationElement, ...]:
    """The header IEs that select these tables (none for the default ones)."""
    out: list[InformationElement] = []
    if locking:
        out.append(InformationElement(IEI_LOCKING_SHIFT, bytes([locking])))
    if single:
        out.append(InformationElement(IEI_SINGLE_SHIFT, bytes([single])))
    return tuple(out)


def shift_options(language: int) -> list[tuple[int, int]]:
    """(locking, single) pairs to try for a language, smallest header first."""
    options = [(0, language)] if language in SINGLE_TABLES else []
    if language in LOCKING_TABLES:
        options.append((language, 0))
        if language in SINGLE_TABLES:
            options.append((language, language))
    return options
