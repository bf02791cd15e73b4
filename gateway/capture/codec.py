"""Identity encodings shared by GTPv1-C and RADIUS: TBCD digits, PLMN ids, APN labels, RAT, time zone.

References: TS 29.060 7.7 (GTPv1-C information elements), TS 24.008 10.5.1.3
(MCC/MNC octets), TS 23.003 9.1 (APN labels), TS 29.061 16.4.7 (3GPP RADIUS
attributes), TS 23.040 9.2.3.11 (time zone semi-octets).
"""

from __future__ import annotations

import socket
import zlib
from datetime import UTC, datetime
from functools import lru_cache

from accounting.records import ClosingCause
from gateway.plmn import MCC_TIME_ZONES as MCC_TIME_ZONES
from gateway.plmn import home_plmn as home_plmn
from gateway.plmn import ms_time_zone as ms_time_zone


class CaptureError(ValueError):
    """Malformed input to the capture (a context's identity that cannot be encoded)."""


# RAT Type values, TS 29.060 7.7.50 (also 3GPP-RAT-Type, TS 29.061).
RAT_TYPES: dict[str, int] = {
    "utran": 1,
    "geran": 2,
    "wlan": 3,
    "gan": 4,
    "hspa": 5,
    "hspa-evolution": 5,
    "eutran": 6,
    "lte": 6,
}

# Cause for record closing (TS 32.298) <-> RADIUS Acct-Terminate-Cause (RFC 2866 5.10).
TERMINATE_CAUSE_FOR_CLOSING: dict[int, int] = {
    ClosingCause.NORMAL: 1,  # User-Request: the MS deactivated its context
    ClosingCause.ABNORMAL: 2,  # Lost-Carrier: the context was lost (radio, SGSN failure)
    ClosingCause.TIME_LIMIT: 5,  # Session-Timeout
    ClosingCause.SERVING_NODE_CHANGE: 3,  # Lost-Service
    ClosingCause.MANAGEMENT_INTERVENTION: 6,  # Admin-Reset
}
NAS_REQUEST = 10  # Acct-Terminate-Cause for closing causes with no RADIUS counterpart
CLOSING_FOR_TERMINATE_CAUSE: dict[int, int] = {v: int(k) for k, v in TERMINATE_CAUSE_FOR_CLOSING.items()}
CLOSING_FOR_TERMINATE_CAUSE.update(
    {4: int(ClosingCause.NORMAL), 7: int(ClosingCause.MANAGEMENT_INTERVENTION)}
)


def digits(value: str, what: str, lengths: range) -> str:
    """`value` checked to be decimal digits with a length in `lengths`."""
    if not value.isascii() or not value.isdigit() or len(value) not in lengths:
        raise CaptureError(f"{what} {value!r}: expected {lengths.start}-{lengths.stop - 1} decimal digits")
    return value


_NIBBLE_SWAP = bytes((b << 4 & 0xF0) | (b >> 4) for b in range(256))


def tbcd(number: str, size: int | None = None) -> bytes:
    """Digits in TBCD: two per octet, low nibble first, an odd count padded with F (TS 29.002).

    With `size`, the result is padded with 0xFF octets to `size` octets (fixed-size IEs).
    """
    if len(number) % 2:
        number += "F"
    out = bytes.fromhex(number).translate(_NIBBLE_SWAP)
    if size is not None:
        if len(out) > size:
            raise CaptureError(f"{number.rstrip('F')!r} is longer than {2 * size} digits")
        out += b"\xff" * (size - len(out))
    return out


def untbcd(data: bytes) -> str:
    """TBCD octets back to digits, stopping at the F filler."""
    out: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                return "".join(out)
            out.append("0123456789*#abc"[nibble])
    return "".join(out)


@lru_cache(maxsize=4096)
def plmn_octets(plmn: str) -> bytes:
    """MCC+MNC (5 or 6 digits) as the three octets of TS 24.008 10.5.1.3; a 2-digit MNC puts F in MNC3."""
    digits(plmn, "PLMN id", range(5, 7))
    mcc, mnc = plmn[:3], plmn[3:]
    mnc3 = mnc[2] if len(mnc) == 3 else "F"
    return bytes(
        (
            int(mcc[1]) << 4 | int(mcc[0]),
            int(mnc3, 16) << 4 | int(mcc[2]),
            int(mnc[1]) << 4 | int(mnc[0]),
        )
    )


def plmn_from_octets(data: bytes) -> str:
    """Inverse of `plmn_octets`."""
    mcc = f"{data[0] & 0xF}{data[0] >> 4}{data[1] & 0xF}"
    mnc = f"{data[2] & 0xF}{data[2] >> 4}"
    if data[1] >> 4 != 0xF:
        mnc += str(data[1] >> 4)
    return mcc + mnc


@lru_cache(maxsize=4096)
def apn_labels(apn: str) -> bytes:
    """An APN as length-prefixed labels (TS 23.003 9.1), as in the GTP APN IE."""
    if not apn or len(apn) > 100:
        raise CaptureError(f"APN {apn!r}: expected 1-100 characters")
    out = bytearray()
    for label in apn.split("."):
        raw = label.encode("ascii", "strict") if label.isascii() else b""
        if not raw or len(raw) > 63:
            raise CaptureError(f"APN {apn!r}: label {label!r} is empty, too long or not ASCII")
        out.append(len(raw))
        out += raw
    return bytes(out)


def ipv4(address: str, what: str) -> bytes:
    """A dotted-quad IPv4 address as 4 octets."""
    packed = _dotted_quad(address) if isinstance(address, str) else None
    if packed is None:
        raise CaptureError(f"{what} {address!r} is not an IPv4 address")
    return packed


@lru_cache(maxsize=65_536)
def _dotted_quad(address: str) -> bytes | None:
    try:
        packed = socket.inet_aton(address)
    except OSError:
        return None
    return packed if socket.inet_ntoa(packed) == address else None  # only the canonical a.b.c.d form


def rat_type(rat: str) -> int:
    try:
        return RAT_TYPES[rat.lower()]
    except KeyError as exc:
        raise CaptureError(f"RAT {rat!r}: expected one of {', '.join(sorted(RAT_TYPES))}") from exc


@lru_cache(maxsize=65_536)
def location_codes(line_id: str, plmn: str) -> tuple[int, int, int]:
    """(LAC, RAC, cell or service area code) of a line's serving cell: stable per line and network.

    The simulator has no radio geography; these are fixed per (line, network)
    so that a capture replays byte for byte and a device seems to stay put.
    """
    h = zlib.crc32(f"{plmn}/{line_id}".encode())
    lac = 0x1000 + (h & 0x7FFF)
    rac = (h >> 15) & 0xFF
    cell = 1 + ((h >> 8) % 0xFFFE)
    return lac, rac, cell


def derived_teid(session_id: str, side: str) -> int:
    """A non-zero tunnel endpoint id from a text (a context with neither tunnel ids nor charging id)."""
    return zlib.crc32(f"{side}/{session_id}".encode()) | 1


TEID_SGSN_FACTOR = 0x9E3779B1  # odd: multiplying by it modulo 2^32 is a bijection
TEID_GGSN_FACTOR = 0x85EBCA77


def context_teids(charging_id: int, session_id: str) -> tuple[int, int]:
    """(SGSN, GGSN) tunnel endpoint ids of a context that did not set its own.

    From the 32-bit charging id by a bijection (an odd factor modulo 2^32): contexts
    with distinct charging ids have distinct, non-zero TEIDs on both sides (TEID-C
    and TEID Data alike), whatever shard or batch wrote them.  A context without a
    charging id (a refused Create) takes CRC-32 of `session_id` (the caller makes it
    unique to the attempt).
    """
    c = charging_id & 0xFFFFFFFF
    if c:
        return (c * TEID_SGSN_FACTOR) & 0xFFFFFFFF, (c * TEID_GGSN_FACTOR) & 0xFFFFFFFF
    return derived_teid(session_id, "sgsn"), derived_teid(session_id, "ggsn")


def epoch_utc(when: datetime) -> datetime:
    """`when` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
