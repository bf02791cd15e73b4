"""TP-User-Data (TS 23.040 9.2.3.24): an optional header, then text or data in one alphabet.

`UserData.payload` holds the content before packing: septet codes (one per
byte) for GSM 7-bit, UTF-16BE octets for UCS2, raw octets for 8-bit data.
Keeping it unpacked lets the reassembler join parts before decoding, so an
escape pair or a surrogate pair cut across parts by a careless sender still
reads right.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dcs import Alphabet
from .errors import MalformedPduError, MessageTooLongError, TruncatedPduError, UnencodableTextError
from .gsm7 import decode_gsm7, encode_gsm7, fill_bits_after, pack_septets, septets_for_octets, unpack_septets
from .national import shift_languages, tables_for
from .udh import (
    ConcatInfo,
    InformationElement,
    PortInfo,
    SpecialIndication,
    decode_udh,
    encode_udh,
    find_concat,
    find_ports,
    find_special_indications,
)

MAX_OCTETS = 140
MAX_SEPTETS = 160


def encode_ucs2(text: str) -> bytes:
    """Text -> UTF-16BE (characters beyond the BMP as surrogate pairs)."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:  # lone surrogates in a Python str
        raise UnencodableTextError(f"text has an unpaired surrogate at index {exc.start}") from None


def decode_ucs2(data: bytes) -> str:
    """UTF-16BE -> text; an odd trailing octet or an unpaired surrogate reads as U+FFFD."""
    return data.decode("utf-16-be", errors="replace")


def decode_payload(
    alphabet: Alphabet, payload: bytes, header: tuple[InformationElement, ...] = ()
) -> str | None:
    """Payload -> text (None for 8-bit data); GSM 7-bit with the national tables the header names."""
    if alphabet is Alphabet.GSM7:
        if header:
            return tables_for(*shift_languages(header)).decode(payload)
        return decode_gsm7(payload)
    if alphabet is Alphabet.UCS2:
        return decode_ucs2(payload)
    return None


@dataclass(frozen=True, slots=True)
class UserData:
    alphabet: Alphabet
    payload: bytes
    header: tuple[InformationElement, ...] = ()

    @classmethod
    def from_text(
        cls, text: str, alphabet: Alphabet, header: tuple[InformationElement, ...] = ()
    ) -> UserData:
        if alphabet is Alphabet.GSM7:
            return cls(alphabet, encode_gsm7(text), header)
        if alphabet is Alphabet.UCS2:
            return cls(alphabet, encode_ucs2(text), header)
        raise UnencodableTextError("text needs the GSM 7-bit or UCS2 alphabet, not 8-bit data")

    @property
    def text(self) -> str | None:
        """The text (GSM 7-bit, UCS2), None for 8-bit data."""
        return decode_payload(self.alphabet, self.payload, self.header)

    @property
    def concat(self) -> ConcatInfo | None:
        return find_concat(self.header)

    @property
    def ports(self) -> PortInfo | None:
        return find_ports(self.header)

    @property
    def indications(self) -> tuple[SpecialIndication, ...]:
        return find_special_indications(self.header)

    def encode(self) -> tuple[int, bytes]:
        """(TP-UDL, TP-UD octets)."""
        udh = encode_udh(self.header)
        if self.alphabet is Alphabet.GSM7:
            hdr_septets = septets_for_octets(len(udh))
            udl = hdr_septets + len(self.payload)
            if udl > MAX_SEPTETS:
                raise MessageTooLongError(
                    f"user data takes {udl} septets (header {hdr_septets}), at most {MAX_SEPTETS}"
                )
            return udl, udh + pack_septets(self.payload, fill_bits_after(len(udh)))
        udl = len(udh) + len(self.payload)
        if udl > MAX_OCTETS:
            raise MessageTooLongError(
                f"user data takes {udl} octets (header {len(udh)}), at most {MAX_OCTETS}"
            )
        return udl, udh + self.payload

    @classmethod
    def decode(cls, pdu: bytes, offset: int, udhi: bool, alphabet: Alphabet) -> tuple[UserData, int]:
        """Decode TP-UDL and TP-UD at `offset`; returns the user data and the offset after it."""
        if offset >= len(pdu):
            raise TruncatedPduError("TP-UDL", offset, 1, 0)
        udl = pdu[offset]
        start = offset + 1
        septets = alphabet is Alphabet.GSM7
        nbytes = (udl * 7 + 7) // 8 if septets else udl
        if start + nbytes > len(pdu):
            raise TruncatedPduError("TP-UD", start, nbytes, len(pdu) - start)
        data = pdu[start : start + nbytes]
        header: tuple[InformationElement, ...] = ()
        hdr_len = 0
        if udhi and udl:
            udhl = data[0]
            hdr_len = 1 + udhl
            if hdr_len > nbytes:
                raise MalformedPduError(
                    f"TP-UD at octet {start}: header length {udhl} overruns the user data of {nbytes} octets"
                )
            header = decode_udh(data[1:hdr_len])
        if septets:
            hdr_septets = septets_for_octets(hdr_len)
            count = udl - hdr_septets
            if count < 0:
                raise MalformedPduError(
                    f"TP-UDL {udl} septets at octet {offset} is shorter than its {hdr_len}-octet header"
                )
            payload = unpack_septets(data, count, hdr_septets * 7)
        else:
            payload = bytes(data[hdr_len:])
        return cls(alphabet, payload, header), start + nbytes
