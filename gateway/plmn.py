"""Where a network is: country and tariff zone from the serving MCC (the table is
`accounting.zones`', in `accounting/data/plmn.yaml`; re-exported here), home networks, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accounting import zones
from accounting.records import Zone
from accounting.zones import BUNDLED, bundled_mapping
from accounting.zones import Country as Country
from gateway.errors import ConfigFileError
from gateway.identity import validate_plmn
from m2msim.yamlio import YamlError, load_yaml, mapping


class PlmnTable(zones.PlmnTable):
    """`accounting.zones.PlmnTable` (the table lives with the tariff), read by the gateway's loader:
    a user's file (`NetworkConfig.plmn_file`) or the bundled one, errors as `ConfigFileError`."""

    @classmethod
    def load(cls, path: Path | None = None) -> PlmnTable:
        source = BUNDLED if path is None else str(path)
        try:
            doc = bundled_mapping() if path is None else mapping(load_yaml(path, source=source), source, "")
            table = cls.from_mapping(doc, source)
        except YamlError as exc:
            raise ConfigFileError(exc.source, exc.line, exc.key, exc.reason) from None
        assert isinstance(table, PlmnTable)
        return table


@cache
def default_table() -> PlmnTable:
    return PlmnTable.load()


def unassigned_mcc(plmn: str) -> str:
    """Why a PLMN id whose MCC is not assigned is refused (scenarios, options)."""
    return (
        f"MCC {plmn[:3]} of {plmn!r} is not an assigned mobile country code (ITU-T E.212: "
        "accounting/data/plmn.yaml lists them)"
    )


def zone_of(serving_plmn: str) -> Zone:
    """Tariff zone of a serving network (MCC+MNC), from the packaged table."""
    return default_table().zone(validate_plmn(serving_plmn))


# MCCs whose home networks have 3-digit MNCs (the Americas' and India's), the others 2 (TS 23.003 2.2:
# the MNC's length is not in the IMSI; an IMSI's home network needs this).
THREE_DIGIT_MNC_MCCS = frozenset(
    {302, 310, 311, 312, 313, 314, 315, 316, 334, 338, 342, 344, 346, 348, 352, 354, 356, 358, 360}
    | {365, 376, 405, 708, 722, 732, 750}
)


def mnc_length(mcc: str) -> int:
    """Digits in the MNC of home networks with this MCC (3 in the Americas and India, else 2)."""
    return 3 if int(mcc) in THREE_DIGIT_MNC_MCCS else 2


def home_plmn(imsi: str) -> str:
    """MCC+MNC of an IMSI's home network."""
    return imsi[: 3 + mnc_length(imsi[:3])]


# Serving MCC -> IANA time zone, for the MS Time Zone IE (others: UTC).
MCC_TIME_ZONES: dict[str, str] = {
    "208": "Europe/Paris",
    "206": "Europe/Brussels",
    "228": "Europe/Zurich",
    "213": "Europe/Andorra",
    "214": "Europe/Madrid",
    "222": "Europe/Rome",
    "262": "Europe/Berlin",
    "234": "Europe/London",
    "204": "Europe/Amsterdam",
    "268": "Europe/Lisbon",
    "340": "America/Martinique",
    "647": "Indian/Reunion",
    "310": "America/New_York",
    "302": "America/Toronto",
    "604": "Africa/Casablanca",
}


def ms_time_zone(plmn: str, when: datetime) -> bytes:
    """The two octets of the MS Time Zone IE (TS 29.060 7.7.52) for the serving country at `when`.

    Octet 1 is the offset from UTC in quarter hours as swapped BCD semi-octets with
    the sign in bit 3 (TS 23.040 9.2.3.11); octet 2 the daylight saving adjustment
    in hours (0-2).  The offset includes the DST hour, as a network sends it.
    """
    name = MCC_TIME_ZONES.get(plmn[:3])
    if name is None:
        return b"\x00\x00"
    try:
        local = when.astimezone(ZoneInfo(name))
    except ZoneInfoNotFoundError:  # no tz database on this machine
        return b"\x00\x00"
    offset = local.utcoffset()
    dst = local.dst()
    quarters = int(offset.total_seconds()) // 900 if offset is not None else 0
    dst_hours = int(dst.total_seconds()) // 3600 if dst is not None else 0
    q = abs(quarters)
    octet = (q % 10) << 4 | (q // 10)
    if quarters < 0:
        octet |= 0x08
    return bytes((octet, dst_hours & 0x03))


def time_zone_changes(plmn: str, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end) at which the serving country's MS Time Zone changes (daylight
    saving), to the second: where an SGSN updates its open PDP contexts (TS 29.060 7.3.3)."""
    if MCC_TIME_ZONES.get(plmn[:3]) is None:
        return []
    step = timedelta(hours=1)
    changes: list[datetime] = []
    t = start
    before = ms_time_zone(plmn, t)
    while t < end:
        nxt = min(t + step, end)
        after = ms_time_zone(plmn, nxt)
        if after != before:
            lo, hi = t, nxt  # the value at lo is `before`, at hi `after`: bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    break
                if ms_time_zone(plmn, mid) == before:
                    lo = mid
                else:
                    hi = mid
            if hi < end:
                changes.append(hi)
            before = after
        t = nxt
    return changes


@lru_cache(maxsize=512)
def _year_changes(mcc: str, year: int) -> tuple[datetime, ...]:
    start = datetime(year, 1, 1, tzinfo=UTC)
    return tuple(time_zone_changes(mcc + "00", start, start.replace(year=year + 1)))


def next_time_zone_change(plmn: str, after: datetime) -> datetime | None:
    """The first instant after `after` at which the serving country's MS Time Zone changes (as
    `time_zone_changes` finds them, a country's year computed once), within the year of `after`
    and the next; None when the country keeps one time zone."""
    if MCC_TIME_ZONES.get(plmn[:3]) is None:
        return None
    for year in (after.year, after.year + 1):
        for t in _year_changes(plmn[:3], year):
            if t > after:
                return t
    return None
