"""A usage record's start that falls on a leap second, read alike by every reader.

UTC inserts a leap second as the 61st second of a day's last minute, `23:59:60` (the last was
`2016-12-31T23:59:60Z`); a 3GPP CDR or a RADIUS accounting server of a network whose clock shows
it writes such a time, and DuckDB's cast to a timestamp, like most time types, has no second 60.
The record happened and its network billed it: it is read as starting at the last instant of the
second before, `23:59:59.999999` UTC, its duration kept, so that it stays in its day and its
billing month (rolling it over to the next minute, as PostgreSQL does, moved a record of 31
December into January).  A second 60 at any other time (not 23:59 in UTC, after its offset) is no
leap second: a start that is no time, a malformed value, as before.

`start_sql` is the DuckDB reading (the rating's scans, its listing of rejects, the report's
`usage` view); `leap_second` the small Python reader's (`accounting.usage_small`), the same rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

DAY_US = 86_400_000_000
LAST_INSTANT_US = DAY_US - 1  # 23:59:59.999999, in microseconds since midnight

# `...HH:MM:60[.fraction]` with `:59.999999` in place of the seconds, the rest kept (a zone)
_LEAP_PATTERN = r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d):60(\.\d+)?"


def start_sql(text: str) -> str:
    """`TRY_CAST(text AS TIMESTAMPTZ)`, a leap second read as the last instant of the second before
    (NULL for anything else the cast refuses).  The second cast runs only on the rows the first
    left NULL (DuckDB's COALESCE), so a column of ordinary starts costs nothing more.

    A date alone (`2026-03-05`, `2026/03/05`: no `:` of a time of day), which the cast reads as
    the day's midnight, is no start either (NULL): a line's records of one day alike in the other
    columns were taken for copies of each other and left unbilled.  (About 5 ns a row.)"""
    leap = f"TRY_CAST(regexp_replace(CAST({text} AS VARCHAR), '{_LEAP_PATTERN}', '\\1:59.999999') AS TIMESTAMPTZ)"
    timed = f"CASE WHEN contains(CAST({text} AS VARCHAR), ':') THEN {text} END"
    return (
        f"COALESCE(TRY_CAST({timed} AS TIMESTAMPTZ), "
        f"CASE WHEN epoch_us({leap}) % {DAY_US} = {LAST_INSTANT_US} THEN {leap} END)"
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


__all__ = ["leap_second", "start_sql"]
