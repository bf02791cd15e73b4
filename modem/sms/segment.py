"""Choosing the alphabet and splitting a message into the parts of a concatenated one.

Capacities (TS 23.040 9.2.3.24.1): one message carries 160 septets or 140
octets; each part of a concatenated one gives 6 octets (7 with a 16-bit
reference) to the header, leaving 153 septets, 134 octets or 67 UCS2 code
units.  A GSM 7-bit escape pair or a UTF-16 surrogate pair is never cut.

Splitting works on the encoded payload (septet codes, UTF-16BE octets), so a
text is encoded once whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dcs import Alphabet
from .errors import MessageTooLongError, UnencodableTextError
from .gsm7 import ESC, can_encode_gsm7, encode_gsm7, septets_for_octets
from .national import shift_ies, shift_options, tables_for
from .udh import InformationElement
from .userdata import MAX_OCTETS, MAX_SEPTETS, decode_payload, encode_ucs2

MAX_PARTS = 255


def choose_alphabet(text: str) -> Alphabet:
    """GSM 7-bit when every character encodes in it, else UCS2."""
    return Alphabet.GSM7 if can_encode_gsm7(text) else Alphabet.UCS2


def encode_text(text: str, alphabet: Alphabet) -> bytes:
    """Text -> payload: septet codes (GSM 7-bit) or UTF-16BE octets (UCS2)."""
    if alphabet is Alphabet.GSM7:
        return encode_gsm7(text)
    if alphabet is Alphabet.UCS2:
        return encode_ucs2(text)
    raise UnencodableTextError("text needs the GSM 7-bit or UCS2 alphabet; send 8-bit data as bytes")


def capacity(alphabet: Alphabet, header_octets: int) -> int:
    """Units (septets, UCS2 code units, octets) left for content beside a header of
    `header_octets` octets (UDHL included; 0 for no header)."""
    if alphabet is Alphabet.GSM7:
        return MAX_SEPTETS - septets_for_octets(header_octets)
    room = MAX_OCTETS - header_octets
    return room // 2 if alphabet is Alphabet.UCS2 else room


def header_octets(extra_ie_octets: int, concat: bool, concat_16bit: bool) -> int:
    """Size of the user-data header, UDHL included: other IEs plus the concatenation IE."""
    body = extra_ie_octets + ((6 if concat_16bit else 5) if concat else 0)
    return body + 1 if body else 0


def split_payload(
    payload: bytes, alphabet: Alphabet, *, extra_ie_octets: int = 0, concat_16bit: bool = False
) -> list[bytes]:
    """Cut a payload into parts, never between the two septets of an escape pair nor the two
    code units of a surrogate pair."""
    unit = 2 if alphabet is Alphabet.UCS2 else 1
    single = capacity(alphabet, header_octets(extra_ie_octets, False, concat_16bit)) * unit
    n = len(payload)
    if n <= single:
        return [payload]
    per_part = capacity(alphabet, header_octets(extra_ie_octets, True, concat_16bit)) * unit
    if per_part < 2 * unit:
        raise MessageTooLongError(
            f"a header of {extra_ie_octets} octets leaves no room for content in a part"
        )
    parts: list[bytes] = []
    start = 0
    while start < n:
        end = start + per_part
        if end < n:
            if alphabet is Alphabet.GSM7 and payload[end - 1] == ESC:
                end -= 1  # escape pair: ESC would end this part, its character start the next
            elif alphabet is Alphabet.UCS2 and 0xD8 <= payload[end - 2] <= 0xDB:
                end -= 2  # high surrogate: keep it with its low surrogate
        parts.append(payload[start:end])
        start = end
        if len(parts) > MAX_PARTS:
            raise MessageTooLongError(f"message needs more than {MAX_PARTS} parts (at most 255 allowed)")
    return parts


@dataclass(frozen=True, slots=True)
class Plan:
    """How a text goes out: alphabet, national-language IEs (sent in every part), and the part payloads."""

    alphabet: Alphabet
    shift_ies: tuple[InformationElement, ...]
    chunks: list[bytes]


def plan_text(
    text: str,
    alphabet: Alphabet | None = None,
    *,
    language: int = 0,
    extra_ie_octets: int = 0,
    concat_16bit: bool = False,
) -> Plan:
    """Choose the encoding of a text and split it.

    GSM 7-bit with the default tables when every character is in them; else, when
    `language` names national tables (1 Turkish to 13 Urdu, `Language`) that hold every
    character, GSM 7-bit with those (fewest parts, then smallest header); else UCS2.  An
    explicit `alphabet=Alphabet.GSM7` refuses text none of those tables can carry.
    """
    if alphabet is Alphabet.DATA8:
        raise UnencodableTextError("text needs the GSM 7-bit or UCS2 alphabet; send 8-bit data as bytes")
    if alphabet is not Alphabet.UCS2:
        if can_encode_gsm7(text):
            payload = encode_gsm7(text)
            chunks = split_payload(
                payload, Alphabet.GSM7, extra_ie_octets=extra_ie_octets, concat_16bit=concat_16bit
            )
            return Plan(Alphabet.GSM7, (), chunks)
        best: Plan | None = None
        for locking, single in shift_options(language):
            tables = tables_for(locking, single)
            if not tables.can_encode(text):
                continue
            ies = shift_ies(locking, single)
            extra = extra_ie_octets + sum(2 + len(ie.data) for ie in ies)
            chunks = split_payload(
                tables.encode(text), Alphabet.GSM7, extra_ie_octets=extra, concat_16bit=concat_16bit
            )
            if best is None or len(chunks) < len(best.chunks):
                best = Plan(Alphabet.GSM7, ies, chunks)
        if best is not None:
            return best
        if alphabet is Alphabet.GSM7:
            encode_gsm7(text)  # raises, naming the first character that does not encode
    chunks = split_payload(
        encode_ucs2(text), Alphabet.UCS2, extra_ie_octets=extra_ie_octets, concat_16bit=concat_16bit
    )
    return Plan(Alphabet.UCS2, (), chunks)


def split_text(
    text: str,
    alphabet: Alphabet | None = None,
    *,
    language: int = 0,
    extra_ie_octets: int = 0,
    concat_16bit: bool = False,
) -> tuple[Alphabet, list[str]]:
    """The alphabet used and the text of each part (one part when it fits a single message).

    `extra_ie_octets` is the size of other header IEs sent in every part (e.g. 6 for 16-bit ports).
    """
    p = plan_text(
        text, alphabet, language=language, extra_ie_octets=extra_ie_octets, concat_16bit=concat_16bit
    )
    return p.alphabet, [decode_payload(p.alphabet, c, p.shift_ies) or "" for c in p.chunks]


@dataclass(frozen=True, slots=True)
class LengthInfo:
    """What a text costs: alphabet, units used, parts, units per part, units left in the last part."""

    alphabet: Alphabet
    units: int
    parts: int
    per_part: int
    remaining: int


def length_info(
    text: str, alphabet: Alphabet | None = None, *, language: int = 0, concat_16bit: bool = False
) -> LengthInfo:
    p = plan_text(text, alphabet, language=language, concat_16bit=concat_16bit)
    unit = 2 if p.alphabet is Alphabet.UCS2 else 1
    ie_octets = sum(2 + len(ie.data) for ie in p.shift_ies)
    per_part = capacity(p.alphabet, header_octets(ie_octets, len(p.chunks) > 1, concat_16bit))
    units = sum(len(c) for c in p.chunks) // unit
    return LengthInfo(p.alphabet, units, len(p.chunks), per_part, per_part - len(p.chunks[-1]) // unit)


def count_parts(
    text: str, alphabet: Alphabet | None = None, *, language: int = 0, concat_16bit: bool = False
) -> int:
    """Number of messages the text needs (1 for an empty text)."""
    return length_info(text, alphabet, language=language, concat_16bit=concat_16bit).parts
