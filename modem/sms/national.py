"""National language shift tables (3GPP TS 23.038 6.2.1.2.4 and annex A) for Turkish, Spanish, Portuguese.

A message names its tables in the user-data header: IE 0x25 (locking shift:
replaces the default alphabet) and IE 0x24 (single shift: replaces the
extension table reached by ESC), each holding a language identifier.  An
identifier without a table here (reserved, or one of the Indic scripts, not
carried) falls back to the default table, as the standard asks of a receiver.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from functools import cache

from .gsm7 import DEFAULT_ALPHABET, DEFAULT_TABLES, EXTENSION_TABLE, Gsm7Tables
from .udh import InformationElement

IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25


class Language(enum.IntEnum):
    """National language identifiers (TS 23.038 6.2.1.2.4) with tables in this codec."""

    DEFAULT = 0
    TURKISH = 1
    SPANISH = 2
    PORTUGUESE = 3


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


#: The national language identifiers of TS 23.038 6.2.1.2.4 whose tables this codec does not carry.
NOT_CARRIED: dict[int, str] = {
    4: "Bengali",
    5: "Gujarati",
    6: "Hindi",
    7: "Kannada",
    8: "Malayalam",
    9: "Oriya",
    10: "Punjabi",
    11: "Tamil",
    12: "Telugu",
    13: "Urdu",
}


def tables_not_carried(header: Iterable[InformationElement]) -> list[str]:
    """The tables a header names that are defined by TS 23.038 but not carried here (the text is
    then read with the default ones, and is likely not what was sent), e.g. ["Hindi locking shift"]."""
    locking, single = shift_languages(header)
    out = []
    if locking in NOT_CARRIED:
        out.append(f"{NOT_CARRIED[locking]} locking shift")
    if single in NOT_CARRIED:
        out.append(f"{NOT_CARRIED[single]} single shift")
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
