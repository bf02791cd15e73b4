"""The run report's sections over time: volume and sessions, outages and retry storms, alarms, SMS and calls."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from accounting.db import duckdb
from reports import svg
from reports.data import Rejects, RunFiles, failed_sql, records_counted
from reports.page import count, date_text, e, kpi, money, num, table, td, tr
from reports.run_common import HOURLY_UP_TO_DAYS, MO, RECORD_GROUP_SQL, Period, parse_time
from reports.run_cost import records_read_note

STORM_BEFORE = timedelta(minutes=30)
STORM_AFTER = timedelta(hours=3)


# A chart over time draws at most this many buckets: the days of a usage file alone, whose period is
# its records' first and last, are drawn per so many days past it (a stray record dated 1970, a
# device without a clock, drew 20,000 days a group; two records 1,000 years apart, a 32 MB page).
MAX_BUCKETS = 400


def day_bucket(days: float) -> tuple[str, int]:
    """The span a chart per day draws over `days` ("day", or "7 days" past `MAX_BUCKETS` days) and its
    length in seconds."""
    n = max(1, math.ceil(days / MAX_BUCKETS))
    return ("day", 86400) if n == 1 else (f"{n} days", n * 86400)


def _wider(span: str) -> str | None:
    if span in ("day", "hour"):
        return None
    return f"The period is longer than {MAX_BUCKETS:,} days: each point is the sum of {span}."


def first_bucket(period: Period | None, hourly: list[tuple[Any, ...]], bucket_s: int) -> float:
    """Where the buckets of a chart over time begin: the period's start (else the first record's) at
    the start of its UTC hour, or day for buckets of days: a bucket of so many days begins with the
    period (counted from 1970, it began before it, before the year 1 for a record dated so, and the
    page was refused)."""
    t = period.start.timestamp() if period is not None else min(row[0].timestamp() for row in hourly)
    return t - t % min(bucket_s, 86400)


def _not_drawn(
    period: Period | None, hourly: list[tuple[Any, ...]], what: dict[str, tuple[int, float]]
) -> str:
    """What the records dated outside the period hold (`what`: a unit and its column of `hourly`, and
    its scale), which the charts over the period do not draw: they are counted in the tables (a
    record of another month, which the rating rejects), and the charts' sums were short of them
    without a word."""
    if period is None:
        return ""
    start, end = period.start.timestamp(), period.end.timestamp()
    outside = [r for r in hourly if r[0].timestamp() + 3600 <= start or r[0].timestamp() >= end]
    sums = {unit: sum(r[i] for r in outside) / scale for unit, (i, scale) in what.items()}
    if not any(sums.values()):
        return ""
    said = ", ".join(f"{u}: {v:,.1f}" if u == "Mo" else f"{u}: {v:,.0f}" for u, v in sums.items())
    return (
        f'<p class="muted">Not drawn: records dated outside the period ({said}), counted in the tables '
        "(the rating rejects them).</p>"
    )


def every_bucket(period: Period | None, seen: set[float], bucket_s: int, origin: float) -> list[float]:
    """Every bucket of `bucket_s` seconds from `origin` to the period's end (a quiet one at zero; a
    period ending within a bucket, --days 2.5, has that bucket too: its last half day); without a
    period, to the last bucket seen. A chart drew only the buckets with records, each step
    stretched to the next one: 2 SMS on the 3rd and 1 on the 10th were drawn as 2 a day for a week."""
    if not seen:
        return []
    end = period.end.timestamp() if period is not None else max(seen) + bucket_s
    return [origin + i * bucket_s for i in range(math.ceil((end - origin) / bucket_s))]


def traffic_section(
    period: Period | None,
    hourly: list[tuple[Any, ...]],
    groups: list[str],
    bands: list[svg.Band],
    counted: str = "read",
    read: bool = False,
) -> str:
    """Volume and sessions per day and hour per group; `counted`: which records the sums are of
    (`reports.data.records_counted`); `read`: whether the folder's usage records were read (a
    folder without them has none to draw)."""
    if not hourly and read:
        # (a usage file of no record, or of rejects alone: it said there was no usage file here)
        if counted == "billed":
            return (
                '<p class="muted">No usage record billed: the usage files here hold none that the '
                "invoice bills (see Rejects and inventory errors).</p>"
            )
        return '<p class="muted">The usage files here hold no records.</p>'
    if not hourly:
        return '<p class="muted">No usage records in this folder.</p>'
    out = []
    days = period.days if period else 31.0

    def series(bucket_s: int, idx: int, scale: float) -> list[svg.Series]:
        acc: dict[str, dict[float, float]] = {g: defaultdict(float) for g in groups}
        origin = first_bucket(period, hourly, bucket_s)
        for row in hourly:
            b = origin + (row[0].timestamp() - origin) // bucket_s * bucket_s
            acc.setdefault(row[1], defaultdict(float))[b] += row[idx] / scale
        keys = every_bucket(period, {k for d in acc.values() for k in d}, bucket_s, origin)
        return [svg.Series(g, [(k, acc[g].get(k, 0.0)) for k in keys]) for g in acc if any(acc[g].values())]

    def tip_mo(s: svg.Series, x: float, y: float) -> str:
        return f"{s.name}, {date_text(datetime.fromtimestamp(x, UTC), '%d %b %H:%M')} UTC: {y:,.2f} Mo"

    def tip_n(s: svg.Series, x: float, y: float) -> str:
        return f"{s.name}, {date_text(datetime.fromtimestamp(x, UTC), '%d %b %H:%M')} UTC: {y:,.0f} sessions"

    spans = [day_bucket(days)] if days >= 2 else []
    if days <= HOURLY_UP_TO_DAYS:
        spans.append(("hour", 3600))
    for span, seconds in spans:
        kind = "hourly" if span == "hour" else "daily"
        for what, idx, scale, unit, tip in (
            ("volume", 2, MO, f"Mo per {span} (up + down)", tip_mo),
            ("sessions", 4, 1, f"sessions per {span}", tip_n),
        ):
            title = f"Data {what} per {span}, per device group (records {counted})"
            out.append(
                svg.line_chart(
                    f"plot-{kind}-{what}",
                    title,
                    series(seconds, idx, scale),
                    y_label=unit,
                    steps=True,
                    bucket=seconds,
                    tip=tip,
                    bands=bands,
                    caption=_wider(span),
                )
            )
    return "".join(out) + _not_drawn(period, hourly, {"Mo": (2, MO), "data sessions": (4, 1)})


def storm_section(files: RunFiles, con: duckdb.DuckDBPyConnection, cur: str) -> str:
    s = files.summary or {}
    rs = s.get("retry_storm")
    outages = s.get("outages") or []
    parts = []
    if rs:
        parts.append(
            '<div class="kpis">'
            + "".join(
                [
                    kpi(
                        "reconnection attempts",
                        count(rs["attempts"]),
                        "every try, covered or not",
                        key="summary:retry_storm.attempts",
                    ),
                    kpi(
                        "failed sessions",
                        count(rs["sessions"]),
                        "attempts that opened a session and failed",
                        key="summary:retry_storm.sessions",
                    ),
                    kpi(
                        "extra volume billed",
                        f"{rs['billable_ko']:,} ko",
                        key="summary:retry_storm.billable_ko",
                    ),
                    kpi(
                        "what the storm costs",
                        money(rs["cost_ht"], cur),
                        "the month rated with and without the attempts",
                        key="summary:retry_storm.cost_ht",
                        accent=True,
                    ),
                ]
            )
            + "</div>"
        )
    if not outages:
        parts.append(
            '<p class="muted">No outage in this period.</p>'
            if files.summary
            else '<p class="muted">No run summary here: outages are not known.</p>'
        )
        return "".join(parts)
    if not files.usage:  # (each outage's records were counted 0)
        parts.append(
            '<p class="muted">No usage records in this folder: the records in each outage\'s window are '
            "not known.</p>"
        )
        return "".join(parts)
    rows = []
    for n, o in enumerate(outages, 1):
        start, end = parse_time(o["start"]), parse_time(o["end"])
        later = [parse_time(x["start"]) for x in outages if parse_time(x["start"]) > start]
        w0, w1 = start - STORM_BEFORE, min([end + STORM_AFTER, *later])  # windows never overlap
        data = con.execute(
            "SELECT time_bucket(INTERVAL '1 minute', start) AS m, count(*) FILTER (retry) AS retries, "
            "count(*) FILTER (type = 'data' AND NOT retry) AS others, "
            f"count(*) FILTER ({failed_sql()}) AS failed, "
            "coalesce(sum(ceil((bytes_up::HUGEINT + bytes_down) / 1024.0)) FILTER (retry), 0) AS ko "
            "FROM usage WHERE type = 'data' AND start >= ? AND start < ? GROUP BY 1 ORDER BY 1",
            [w0, w1],
        ).fetchall()
        retries = sum(r[1] for r in data)
        failed = sum(r[3] for r in data)
        ko = sum(int(r[4]) for r in data)
        groups = ", ".join(o.get("groups") or []) or "every group"
        label = (
            f"{o.get('kind', 'outage')} outage {date_text(start, '%d %b %H:%M')}–{end:%H:%M} UTC ({groups})"
        )
        rows.append(tr([td(label), num(count(retries)), num(count(failed)), num(count(ko))]))
        band = [svg.Band(start.timestamp(), end.timestamp(), f"{o.get('kind', '')} outage")]
        by_minute = {r[0].timestamp(): r for r in data}
        first = w0.timestamp() - w0.timestamp() % 60
        minutes = [first + 60 * i for i in range(int((w1.timestamp() - first) // 60))]

        cols = [[(m, float(by_minute[m][c]) if m in by_minute else 0.0) for m in minutes] for c in (1, 3, 2)]
        series = [
            svg.Series("reconnection attempts that reached the network", cols[0], svg.PALETTE[5]),
            svg.Series("failed sessions", cols[1], svg.PALETTE[1], dashed=True),
            svg.Series("other data sessions", cols[2], svg.PALETTE[0]),
        ]
        parts.append(
            svg.line_chart(
                f"plot-storm-{n}",
                f"Outage {n}: sessions minute by minute, {date_text(start, '%d %b')} UTC",
                series,
                y_label="records per minute",
                bands=band,
                steps=True,
                caption=f"{label}; from {w0:%H:%M} to {date_text(w1, '%d %b %H:%M')} UTC (30 min before, up to 3 h after or the next outage).",
            )
        )
    parts.insert(
        1 if rs else 0,
        table(
            [
                "outage (window: 30 min before to 3 h after, or to the next outage)",
                "reconnection records",
                "failed sessions",
                f"ko of the retry records {records_counted(files)}",
            ],
            rows,
            numeric=[1, 2, 3],
        ),
    )
    return "".join(parts)


def alarms_section(con: duckdb.DuckDBPyConnection, period: Period | None) -> str:
    total = con.execute("SELECT count(*) FROM alarms").fetchone()
    n = int(total[0]) if total else 0
    if not n:
        return '<p class="muted">No alarm was raised.</p>' + svg.empty(
            "plot-alarms", "Alarms over time, by rule", "no alarm in this period"
        )
    days = period.days if period else 31.0
    bucket = "1 hour" if days <= HOURLY_UP_TO_DAYS else "6 hours"
    rows = con.execute(
        f"SELECT rule, time_bucket(INTERVAL '{bucket}', time) AS b, count(*) FROM alarms GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    by_rule: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for rule, b, c in rows:
        by_rule[rule].append((b.timestamp(), int(c)))
    t0 = period.start.timestamp() if period else min(p[0] for v in by_rule.values() for p in v)
    t1 = period.end.timestamp() if period else max(p[0] for v in by_rule.values() for p in v) + 3600
    chart = svg.dot_timeline(
        "plot-alarms",
        "Alarms over time, by rule",
        sorted(by_rule.items()),
        t0=t0,
        t1=t1,
        unit=f"alarms in {'the hour' if bucket == '1 hour' else '6 hours'}",
    )
    counts = con.execute(
        "SELECT rule, count(*), count(DISTINCT line), min(time), max(time) FROM alarms GROUP BY 1 "
        "ORDER BY 2 DESC"
    ).fetchall()
    tbl = table(
        ["rule", "alarms", "lines", "first (UTC)", "last (UTC)"],
        [
            tr(
                [
                    td(r),
                    num(count(c), f"summary:alarms.by_rule.{r}"),
                    num(count(ln)),
                    td(f"{date_text(a, '%d %b %H:%M')}"),
                    td(f"{date_text(b, '%d %b %H:%M')}"),
                ]
            )
            for r, c, ln, a, b in counts
        ],
        numeric=[1, 2],
    )
    top = con.execute(
        "SELECT line, count(*) AS n, string_agg(DISTINCT rule, ', ' ORDER BY rule) FROM alarms GROUP BY 1 "
        "ORDER BY n DESC, line LIMIT 10"
    ).fetchall()
    tbl2 = table(
        ["line", "alarms", "rules"], [tr([td(a), num(count(b)), td(c)]) for a, b, c in top], numeric=[1]
    )
    return (
        chart
        + f'<div class="cols"><div>{tbl}</div><div><h3>Lines with the most alarms</h3>{tbl2}</div></div>'
    )


def sms_calls_section(
    files: RunFiles,
    hourly: list[tuple[Any, ...]],
    groups: list[str],
    con: duckdb.DuckDBPyConnection,
    rejects: Rejects,
    calls: list[tuple[str, str, str | None, int, int]] | None = None,
    period: Period | None = None,
) -> str:
    """SMS and calls: the run's totals, a table per device group, type and destination (`calls`:
    as `run_report.record_sums` summed them, else asked of the records here), per day of `period`."""
    counted = records_counted(files)
    parts = []
    t = (files.summary or {}).get("totals")
    if t:
        parts.append(
            '<div class="kpis">'
            + "".join(
                [
                    kpi(
                        "SMS sent",
                        count(t["sms_sent"]),
                        f"{t['sms_refused']:,} refused",
                        key="summary:totals.sms_sent",
                    ),
                    kpi(
                        "SMS to devices",
                        count(t["mt_sms_submitted"]),
                        f"{t['mt_sms_delivered']:,} delivered",
                        key="summary:totals.mt_sms_submitted",
                    ),
                    kpi(
                        "calls answered",
                        count(t["calls_answered"]),
                        f"{t['call_seconds']:,} s in all",
                        key="summary:totals.calls_answered",
                    ),
                    kpi(
                        "calls not answered",
                        count(t["calls_busy"] + t["calls_no_answer"]),
                        f"{t['calls_busy']:,} busy, {t['calls_no_answer']:,} no answer, {t['calls_refused']:,} refused",
                    ),
                ]
            )
            + "</div>"
        )
    rows = calls
    if rows is None:
        rows = con.execute(
            f"SELECT {RECORD_GROUP_SQL}, u.type, u.dest, count(*), "
            "sum(u.duration_s) FROM usage u LEFT JOIN lines l USING (line) "
            "WHERE u.type IN ('sms', 'voice', 'csd', 'sms_internet') GROUP BY ALL ORDER BY 1, 2, 3"
        ).fetchall()
    if not files.usage:  # (they were said to be none, "in this period", beside the summary's SMS and calls)
        parts.append(
            '<p class="muted">No usage records in this folder: the SMS and call records are not known.</p>'
        )
        parts.append(_billed_table(files, con))
        return "".join(parts)
    if rows:
        parts.append(records_read_note(files, rejects, "This table and the chart"))
        shown, left = _most_records(rows)
        cells = [
            tr(
                [
                    td(g),
                    td(ty),
                    td(d or "–"),
                    num(count(n)),
                    num(count(s) if ty in ("voice", "csd") else "–"),
                ]
            )
            for g, ty, d, n, s in shown
        ]
        if left:
            timed = [r for r in left if r[1] in ("voice", "csd")]
            cells.append(
                tr(
                    [
                        td(f"{len(left):,} other rows"),
                        td(", ".join(sorted({r[1] for r in left}))),
                        td(f"{len({r[2] for r in left}):,} destinations"),
                        num(count(sum(r[3] for r in left))),
                        num(count(sum(r[4] for r in timed)) if timed else "–"),
                    ],
                    "total",
                )
            )
        parts.append(
            table(
                ["device group", "type", "destination", f"records {counted}", f"seconds {counted}"],
                cells,
                numeric=[3, 4],
            )
        )
        if left:
            parts.append(
                f'<p class="muted">The {MAX_DESTINATION_ROWS} rows of the most records are listed, the '
                f"{len(left):,} others summed in the last row (a destination written as each record's "
                f"number, not its kind, is a row per record). Every one: <code>{e(_EVERY_DESTINATION)}</code>.</p>"
            )
        span, seconds = day_bucket(period.days if period else 0.0)
        acc: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        origin = first_bucket(period, hourly, seconds)
        for row in hourly:
            day = origin + (row[0].timestamp() - origin) // seconds * seconds
            acc["SMS"][day] += row[6]
            acc["calls"][day] += row[7]
        keys = every_bucket(period, {k for d in acc.values() for k in d}, seconds, origin)
        series = [svg.Series(name, [(k, acc[name].get(k, 0.0)) for k in keys]) for name in ("SMS", "calls")]

        def tip(s: svg.Series, x: float, y: float) -> str:
            return f"{s.name}, {date_text(datetime.fromtimestamp(x, UTC), '%d %b')} UTC: {y:,.0f} records"

        parts.append(_billed_table(files, con))
        parts.append(
            svg.line_chart(
                "plot-sms-calls",
                f"SMS and calls per {span} (all groups, records {counted})",
                series,
                y_label=f"records per {span}",
                steps=True,
                bucket=seconds,
                tip=tip,
                caption=_wider(span),
            )
        )
        parts.append(_not_drawn(period, hourly, {"SMS": (6, 1), "calls": (7, 1)}))
    elif not t:
        # (records read, none billed: an invoice rejecting every SMS said there were none)
        parts.append(f'<p class="muted">No SMS or call records {counted}.</p>')
    else:
        parts.append(f'<p class="muted">No SMS or call records {counted} in this period.</p>')
    return "".join(parts)


# The "SMS and calls" table lists this many (device group, type, destination) rows at most, those of
# the most records: rows past them are summed in one.  A usage file whose destinations are numbers
# (an export, rejected by the rating but read by the page) made a row per record: 10,000 SMS, a
# page of 1 MB.
MAX_DESTINATION_ROWS = 50
_EVERY_DESTINATION = (
    'm2msim sql RUN_DIR "SELECT type, dest, count(*) FROM usage '
    "WHERE type IN ('sms', 'voice', 'csd', 'sms_internet') GROUP BY ALL ORDER BY 3 DESC\""
)


def _most_records(
    rows: list[tuple[str, str, str | None, int, int]],
) -> tuple[list[tuple[str, str, str | None, int, int]], list[tuple[str, str, str | None, int, int]]]:
    """The rows to list (at most `MAX_DESTINATION_ROWS`, those of the most records, in their order)
    and the others."""
    if len(rows) <= MAX_DESTINATION_ROWS:
        return rows, []
    keep = set(sorted(range(len(rows)), key=lambda i: (-rows[i][3], i))[:MAX_DESTINATION_ROWS])
    return [r for i, r in enumerate(rows) if i in keep], [r for i, r in enumerate(rows) if i not in keep]


def _billed_table(files: RunFiles, con: duckdb.DuckDBPyConnection) -> str:
    """The SMS and call seconds the invoice bills per device group, as a table (none: nothing)."""
    billed = _billed_sms_calls(files, con)
    if not billed:
        return ""
    return "<h3>Invoiced per device group</h3>" + table(
        ["device group", "SMS billed", "voice s billed", "csd s billed"],
        [tr([td(g), *(num(count(int(v))) for v in vals)]) for g, *vals in billed],
        numeric=[1, 2, 3],
    )


def _billed_sms_calls(files: RunFiles, con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Per device group, what the invoice bills (its items' quantities): SMS, voice and csd seconds."""
    if files.invoice is None:
        return []
    return con.execute(
        "SELECT l.device_group, coalesce(sum(i.quantity) FILTER (i.unit = 'sms'), 0), "
        "coalesce(sum(i.quantity) FILTER (i.code = 'voice'), 0), coalesce(sum(i.quantity) FILTER (i.code = 'csd'), 0) "
        "FROM invoice_items i JOIN lines l USING (line) WHERE i.unit = 'sms' OR i.code IN ('voice', 'csd') "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
