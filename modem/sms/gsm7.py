"""GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 6.2.1), septet packing.

Text is turned into *septet codes* (one code 0..127 per byte of a `bytes`), an
extension character becoming the pair ESC (0x1B) + code.  Packing puts septets
into octets least significant bit first, optionally after `fill_bits` zero bits
(the fill that aligns the text on a septet boundary after a user-data header,
TS 23.040 9.2.3.24).
"""

from __future__ import annotations

from .errors import UnencodableTextError

ESC = 0x1B

#: The 128 characters of the default alphabet, in code order (0x1B is the escape, shown as a space here).
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(DEFAULT_ALPHABET) == 128

#: The extension table: code after ESC -> character.
EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_UNENCODABLE = "\uffff"


class Gsm7Tables:
    """A pair of tables: the locking table (128 characters, code order) and the single-shift
    table reached by ESC.  The default alphabet is one pair; the national language tables of
    TS 23.038 annex A are others (`modem.sms.national`)."""

    def __init__(self, locking: str, single: dict[int, str]) -> None:
        if len(locking) != 128:
            raise ValueError(f"a locking table has 128 characters, got {len(locking)}")
        self.locking = locking
        self.single = single
        # ESC (0x1B) in a locking table marks a code without a character: the escape itself, and the
        # codes an annex A table leaves reserved, which read as a space and are never sent.
        self._basic_decode = [" " if locking[c] == "\x1b" or c == ESC else locking[c] for c in range(128)]
        encode: dict[str, str] = {ch: chr(ESC) + chr(c) for c, ch in single.items() if ch != "\x1b"}
        encode.update(
            {ch: chr(c) for c, ch in enumerate(locking) if c != ESC and ch != "\x1b"}
        )  # one septet beats two
        self._encode = encode
        # str.translate tables.  Encoding maps each character of the tables to its codes as code points
        # < 0x80; other ASCII characters map to a non-ASCII marker and other non-ASCII characters stay
        # as they are, so `isascii()` on the result tells whether everything encoded.
        self._encode_table: dict[int, str] = {c: _UNENCODABLE for c in range(128)}
        self._encode_table.update({ord(ch): codes for ch, codes in encode.items()})
        # Decoding reads octets as latin-1 code points; the top bit is ignored as a septet has none.
        self._decode_table: dict[int, str] = {c: self._basic_decode[c & 0x7F] for c in range(256)}

    def can_encode(self, text: str) -> bool:
        return text.translate(self._encode_table).isascii()

    def encode(self, text: str) -> bytes:
        out = text.translate(self._encode_table)
        if not out.isascii():
            bad_index, bad = next((i, ch) for i, ch in enumerate(text) if ch not in self._encode)
            raise UnencodableTextError(
                f"character {bad!r} (U+{ord(bad):04X}) at index {bad_index} is not in the GSM 7-bit alphabet"
            )
        return out.encode("ascii")

    def decode(self, codes: bytes) -> str:
        """Tolerant as TS 23.038 asks: ESC + a code with no single-shift character shows the
        locking-table character of that code; ESC ESC and a dangling ESC show a space."""
        s = codes.decode("latin-1")
        if "\x1b" not in s and "\x9b" not in s:
            return s.translate(self._decode_table)
        out: list[str] = []
        i = 0
        n = len(s)
        while i < n:
            j = i
            while j < n and ord(s[j]) & 0x7F != ESC:
                j += 1
            out.append(s[i:j].translate(self._decode_table))
            if j >= n:
                break
            if j + 1 >= n:
                out.append(" ")
                break
            nxt = ord(s[j + 1]) & 0x7F
            out.append(" " if nxt == ESC else self.single.get(nxt, self._basic_decode[nxt]))
            i = j + 2
        return "".join(out)


DEFAULT_TABLES = Gsm7Tables(DEFAULT_ALPHABET, EXTENSION_TABLE)

#: Below this many septets plain integer arithmetic beats numpy's call overhead (and its import).
_NUMPY_MIN = 64


def can_encode_gsm7(text: str) -> bool:
    """True when every character of the text is in the default alphabet or its extension table."""
    return DEFAULT_TABLES.can_encode(text)


def encode_gsm7(text: str) -> bytes:
    """Text -> septet codes, one per byte, extension characters as ESC + code."""
    return DEFAULT_TABLES.encode(text)


def gsm7_length(text: str) -> int:
    """Number of septets the text takes (extension characters count two)."""
    return len(DEFAULT_TABLES.encode(text))


def decode_gsm7(codes: bytes) -> str:
    """Septet codes -> text with the default alphabet and its extension table (tolerant)."""
    return DEFAULT_TABLES.decode(codes)


def pack_septets(codes: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets, after `fill_bits` (0..6) zero bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    n = len(codes)
    if n >= _NUMPY_MIN:
        import numpy as np  # imported here: `m2msim sms-decode` starts without it

        bits = np.unpackbits(np.frombuffer(codes, dtype=np.uint8).reshape(-1, 1), axis=1, bitorder="little")
        flat = bits[:, :7].ravel()
        if fill_bits:
            flat = np.concatenate((np.zeros(fill_bits, dtype=np.uint8), flat))
        return bytes(np.packbits(flat, bitorder="little").tobytes())
    nbits = fill_bits + 7 * n
    if nbits == 0:
        return b""
    # One integer holds the bit string: septet i sits at bit fill_bits + 7 i.
    acc = 0
    shift = fill_bits
    for c in codes:
        acc |= (c & 0x7F) << shift
        shift += 7
    return acc.to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, skip_bits: int = 0) -> bytes:
    """Unpack `count` septets from packed octets, starting `skip_bits` bits into the data.

    The caller checks that `data` holds at least `skip_bits + 7 * count` bits.
    """
    if count <= 0:
        return b""
    if count >= _NUMPY_MIN:
        import numpy as np

        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        septets = bits[skip_bits : skip_bits + 7 * count].reshape(count, 7)
        return bytes(np.packbits(septets, axis=1, bitorder="little").tobytes())
    acc = int.from_bytes(data, "little") >> skip_bits
    out = bytearray(count)
    for i in range(count):
        out[i] = acc & 0x7F
        acc >>= 7
    return bytes(out)


def septets_for_octets(octets: int) -> int:
    """Septets occupied by a header of `octets` octets, counting its fill bits (ceil(8 n / 7))."""
    return (octets * 8 + 6) // 7


def fill_bits_after(octets: int) -> int:
    """Fill bits needed after a header of `octets` octets to reach a septet boundary."""
    return (7 - (octets * 8) % 7) % 7
