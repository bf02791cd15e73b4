"""Service-centre time stamps (TS 23.040 9.2.3.11) and validity periods (9.2.3.12).

A time stamp is seven swapped semi-octets: year, month, day, hour, minute,
second, and the time zone in quarters of an hour from GMT whose sign is bit 3
of the octet.  Times are `datetime`s with a fixed-offset `tzinfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .errors import InvalidTimestampError, InvalidValidityPeriodError, TruncatedPduError

_YEAR_PIVOT = 90  # two-digit years 90..99 are 1990s, 00..89 are 2000s


def _bcd(octet: int, field: str) -> int:
    lo, hi = octet & 0xF, octet >> 4
    if lo > 9 or hi > 9:
        raise InvalidTimestampError(f"time stamp {field}: octet {octet:#04x} is not two decimal semi-octets")
    return lo * 10 + hi


def _swap(value: int) -> int:
    return (value % 10) << 4 | (value // 10)


def encode_timestamp(when: datetime) -> bytes:
    """A timezone-aware datetime -> 7 octets (seconds kept, microseconds dropped)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidTimestampError(f"time stamp {when.isoformat()} has no time zone")
    offset = when.utcoffset()
    assert offset is not None
    quarters, rest = divmod(int(offset.total_seconds()), 900)
    if rest:
        raise InvalidTimestampError(f"time zone {offset} is not a whole number of quarter hours")
    if abs(quarters) > 79:
        raise InvalidTimestampError(f"time zone {offset} is beyond ±19:45")
    if not 1990 <= when.year <= 2089:
        raise InvalidTimestampError(f"year {when.year} is outside 1990..2089")
    tz = _swap(abs(quarters)) | (0x08 if quarters < 0 else 0)
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    return bytes(_swap(v) for v in fields) + bytes([tz])


def decode_timestamp(pdu: bytes, offset: int, field: str = "TP-SCTS") -> datetime:
    """7 octets at `offset` -> timezone-aware datetime."""
    if offset + 7 > len(pdu):
        raise TruncatedPduError(field, offset, 7, max(0, len(pdu) - offset))
    raw = pdu[offset : offset + 7]
    yy, mo, dd, hh, mi, ss = (_bcd(raw[i], field) for i in range(6))
    tzo = raw[6]
    quarters = _bcd(tzo & 0xF7, field)
    if tzo & 0x08:
        quarters = -quarters
    year = 1900 + yy if yy >= _YEAR_PIVOT else 2000 + yy
    try:
        return datetime(year, mo, dd, hh, mi, ss, tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except ValueError as exc:
        raise InvalidTimestampError(
            f"{field} at octet {offset}: {raw.hex().upper()} is not a date: {exc}"
        ) from None


# ---- validity periods -------------------------------------------------------------------------------

MIN_RELATIVE = timedelta(minutes=5)
MAX_RELATIVE = timedelta(weeks=63)


def decode_relative_validity(vp: int) -> timedelta:
    """TP-VP relative format (one octet) -> duration."""
    if not 0 <= vp <= 255:
        raise InvalidValidityPeriodError(f"relative validity octet must be 0..255, got {vp}")
    if vp <= 143:
        return timedelta(minutes=5 * (vp + 1))
    if vp <= 167:
        return timedelta(hours=12, minutes=30 * (vp - 143))
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def encode_relative_validity(period: timedelta) -> int:
    """Duration -> TP-VP octet, rounded up to the next period the format can express."""
    if period <= timedelta(0):
        raise InvalidValidityPeriodError(f"validity period {period} must be positive")
    if period > MAX_RELATIVE:
        raise InvalidValidityPeriodError(f"validity period {period} exceeds the relative maximum of 63 weeks")
    minutes = -(-period // timedelta(minutes=1))  # ceil, whole minutes
    if minutes <= 12 * 60:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 24 * 60:
        return 143 + -(-(minutes - 12 * 60) // 30)
    days = -(-minutes // (24 * 60))
    if days <= 30:
        return 166 + days
    weeks = -(-days // 7)
    return 192 + max(weeks, 5)


@dataclass(frozen=True, slots=True)
class EnhancedValidity:
    """TP-VP in the enhanced format (TP-VPF = 01): kept as its 7 raw octets, with the duration when readable."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 7:
            raise InvalidValidityPeriodError(f"enhanced validity is 7 octets, got {len(self.raw)}")

    @property
    def single_shot(self) -> bool:
        return bool(self.raw[0] & 0x40)

    @property
    def period(self) -> timedelta | None:
        """The relative duration for formats 001 (relative octet), 010 (seconds), 011 (hh mm ss); else None."""
        fmt = self.raw[0] & 0x7
        if fmt == 1:
            return decode_relative_validity(self.raw[1])
        if fmt == 2:
            return timedelta(seconds=self.raw[1])
        if fmt == 3:
            try:
                hh, mm, ss = (_bcd(b, "TP-VP enhanced") for b in self.raw[1:4])
            except InvalidTimestampError:
                return None
            return timedelta(hours=hh, minutes=mm, seconds=ss)
        return None


Validity = timedelta | datetime | EnhancedValidity
