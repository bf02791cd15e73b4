"""A usage record's start that falls on a leap second, read alike by every reader.

UTC inserts a leap second as the 61st second of a day's last minute, `23:59:60` (the last was
`2016-12-31T23:59:60Z`); a 3GPP CDR or a RADIUS accounting server of a network whose clock shows
it writes such a time, and DuckDB's cast to a timestamp, like most time types, has no second 60.
The record happened and its network billed it: it is read as starting at the last instant of the
second before, `23:59:59.999999` UTC, its duration kept, so that it stays in its day and its
billing month (rolling it over to the next minute, as PostgreSQL does, moved a record of 31
December into January).  A second 60 at any other time (not 23:59 in UTC, after its offset) is no
leap second: a start that is no time, a malformed value, as before.

A start whose time is followed by a zone's name is read only where the name says one instant:
`UTC` and `GMT` (any case), and an IANA zone name (`Europe/Paris`, `Etc/GMT+5`: a name with a
`/`) at a local time that the zone shows once.  DuckDB's cast read any name it knew and guessed
the rest: `IST` as India's +05:30 (it is also Israel's +02:00 and Ireland's +01:00), `CST` as US
Central (also China, Cuba), `BST` as Bangladesh (also British Summer Time); a local time inside
a DST change's gap (`2012-03-25 02:30 Europe/Paris`, which the clocks skipped) was moved an hour,
and one the change repeats (`2012-10-28 02:30 Europe/Paris`) was taken as the second of the two:
a row's start moved by hours, into another day, billing month or tariff period, without a word.
Such a start is now no start, a malformed value whose reason says why (`start_why`):
an abbreviation (any name without a `/` but `UTC` and `GMT`, also `UTC+2`, whose sign POSIX
reads the other way), a time that does not exist in its zone, a time it shows twice, a name that
is no zone at all (`Europe/Pariss`: unknown zone, the time before it a time; also `Etc/Unknown`,
the name ICU gives a zone it could not tell, which the cast read as UTC).

`start_sql` is the DuckDB reading (the rating's scans, its listing of rejects, the report's
`usage` view); `leap_second` the small Python reader's (`accounting.usage_small`), the same rule.
The small reader and the pyarrow passes read offsets alone (`Z`, `+01:00`): a start with a zone's
name is left to DuckDB's reading here by each of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

DAY_US = 86_400_000_000
LAST_INSTANT_US = DAY_US - 1  # 23:59:59.999999, in microseconds since midnight

# `...HH:MM:60[.fraction]` with `:59.999999` in place of the seconds, the rest kept (a zone)
_LEAP_PATTERN = r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d):60(\.\d+)?"


# A start routed to the zone's name checks: a letter then no `:` to the end, ending in a letter or
# digit (`... IST`, `... Etc/GMT+5`), or one letter but `Z` after the time (`...00A`).
_NAMED = r"[A-Za-z][^:]*[A-Za-z0-9]$|[A-Ya-y]$"
# The zone's name after the time (`''` when the text has no such form)
_ZONE = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s?([A-Za-z][A-Za-z0-9_/+\-]*)$"
# ICU's name of a zone it could not tell (CLDR's, no IANA zone), which DuckDB's cast reads as UTC
_NO_ZONE = "etc/unknown"


def _zone_checks(raw: str, ts: str) -> tuple[str, str, str, str]:
    """SQL of a start's zone's name (`raw` its text, `ts` the instant DuckDB read): the name, and
    whether it is an abbreviation, whether the local time written is in a DST change's gap (the
    instant read shows another wall time in the zone), whether it is in a fold (the instant an
    hour's change away, by the zone's offsets a day before or after, shows the same wall time)."""
    zone = f"regexp_extract({raw}, '{_ZONE}', 1)"
    abbreviation = f"(NOT contains({zone}, '/') AND lower({zone}) NOT IN ('utc', 'gmt', 'z'))"
    wall = f"strftime(timezone({zone}, {ts}), '%Y-%m-%d %H:%M')"
    written = f"(substr({raw}, 1, 10) || ' ' || substr({raw}, 12, 5))"
    gap = f"({wall} != {written})"

    def offset(instant: str) -> str:
        return f"(timezone({zone}, {instant}) - timezone('UTC', {instant}))"

    def other(sign: str) -> str:  # the instant of that wall time by the offset a day away
        return f"({ts} + ({offset(ts)} - {offset(f'({ts} {sign} INTERVAL 1 DAY)')}))"

    fold = " OR ".join(
        f"({other(s)} != {ts} AND timezone({zone}, {other(s)}) = timezone({zone}, {ts}))" for s in "-+"
    )
    return zone, abbreviation, gap, f"({fold})"


def _unknown_zone(raw: str, zone: str) -> str:
    """SQL true when the zone's name `zone` of text `raw` is no zone the cast knows (it refuses it
    after an ordinary time) and the local time written before it is a time (a second 60 read as
    59.999999): a start whose name alone the cast refused.  A time the cast refused with a known
    name (a second 60 that is no leap second in that zone: 23:59:60 in Paris) is not the name's."""
    local = f"rtrim(left({raw}, length({raw}) - length({zone})))"
    timed = f"TRY_CAST(regexp_replace({local}, '{_LEAP_PATTERN}', '\\1:59.999999') AS TIMESTAMP)"
    known = f"(TRY_CAST('2000-01-01 00:00:00 ' || {zone} AS TIMESTAMPTZ) IS NOT NULL AND lower({zone}) != '{_NO_ZONE}')"
    return f"(NOT {known} AND {timed} IS NOT NULL)"


def _read(raw: str, value: str | None = None) -> str:
    """SQL: DuckDB's cast of `value` (by default the text `raw`, its text; a date alone NULL), a
    leap second read as the rule says.  A typed value is cast as it is, not through its text: a
    start in nanoseconds is rounded to the microsecond by the cast, its text would be cut."""
    leap = f"TRY_CAST(regexp_replace({raw}, '{_LEAP_PATTERN}', '\\1:59.999999') AS TIMESTAMPTZ)"
    timed = f"CASE WHEN contains({raw}, ':') THEN {raw if value is None else value} END"
    return (
        f"COALESCE(TRY_CAST({timed} AS TIMESTAMPTZ), "
        f"CASE WHEN epoch_us({leap}) % {DAY_US} = {LAST_INSTANT_US} THEN {leap} END)"
    )


def start_sql(text: str) -> str:
    """`TRY_CAST(text AS TIMESTAMPTZ)`, a leap second read as the last instant of the second before
    (NULL for anything else the cast refuses).  The second cast runs only on the rows the first
    left NULL (DuckDB's COALESCE), so a column of ordinary starts costs nothing more.

    A date alone (`2026-03-05`, `2026/03/05`: no `:` of a time of day), which the cast reads as
    the day's midnight, is no start either (NULL): a line's records of one day alike in the other
    columns were taken for copies of each other and left unbilled.  (About 5 ns a row.)

    A zone's name after the time is read only where it names one instant (the module's text):
    an abbreviation, a time in a DST change's gap or fold, are NULL.  The checks run only on the
    rows whose text ends in a name (`_NAMED`)."""
    raw = f"CAST({text} AS VARCHAR)"
    read = _read(raw, text)
    zone, abbreviation, gap, fold = _zone_checks(raw, read)
    # (in this order: a name the cast did not read is never given to `timezone`, which refuses it)
    named = (
        f"CASE WHEN {zone} = '' OR {abbreviation} OR lower({zone}) = '{_NO_ZONE}' OR {read} IS NULL "
        f"OR {gap} OR {fold} THEN NULL ELSE {read} END"
    )
    return f"CASE WHEN regexp_matches({raw}, '{_NAMED}') THEN {named} ELSE {read} END"


def start_why(raw: str) -> str:
    """SQL: why the start of text `raw` with a zone's name is no start (`''` for any other): an
    unknown zone (a time before a name the cast knows no zone by), an abbreviation, a time that
    does not exist in its zone, a time it shows twice."""
    read = _read(raw)
    zone, abbreviation, gap, fold = _zone_checks(raw, read)
    return (
        f"(CASE WHEN NOT regexp_matches({raw}, '{_NAMED}') OR {zone} = '' THEN '' "
        f"WHEN {read} IS NULL OR lower({zone}) = '{_NO_ZONE}' THEN CASE WHEN NOT {_unknown_zone(raw, zone)} THEN '' ELSE "
        f"': unknown zone ' || {zone} || ': no zone of that name (a misspelt name?): write the"
        f" offset (+01:00) or an IANA zone name (Europe/Paris)' END "
        f"WHEN {abbreviation} THEN ': ambiguous zone abbreviation ' || {zone} || "
        f"': an abbreviation names several zones (IST: India, Israel, Ireland), write the offset"
        f" (India''s +05:30) or the IANA zone name (Asia/Kolkata)' "
        f"WHEN {gap} THEN ': start does not exist in ' || {zone} || "
        f"': inside the DST change (the clocks skipped that time)' "
        f"WHEN {fold} THEN ': start is ambiguous in ' || {zone} || "
        f"': the DST change shows that time twice: write its offset' "
        f"ELSE '' END)"
    )


def leap_second(
    year: int, month: int, day: int, hour: int, minute: int, zone: tzinfo = UTC
) -> datetime | None:
    """The start a time of second 60 is read as (23:59:59.999999 UTC), or None when it is no leap
    second (not 23:59 in UTC); `ValueError` for a date or time of no calendar."""
    value = datetime(year, month, day, hour, minute, 59, 999_999, zone).astimezone(UTC)
    if (value.hour, value.minute) != (23, 59):
        return None
    return value


__all__ = ["leap_second", "start_sql", "start_why"]
