"""The report of a run (or of a `rate`/`compare` output): what the fleet costs, on which offer, when it
peaks, what an outage's retry storm does, which lines raise alarms.

Every figure is aggregated in DuckDB over the folder's views (`reports.data`) before it is drawn:
a month of 10,000 devices (some 30 million records) comes down to a few thousand numbers.
"""

from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb

from accounting import compare_month
from accounting.errors import AccountingError
from reports import svg
from reports.data import ReportError, RunFiles, connect, find_files
from reports.page import Page, count, e, kpi, money, num, table, td, tr

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
HOURLY_UP_TO_DAYS = 7  # hourly curves for runs up to a week; daily curves from two days on
STORM_BEFORE = timedelta(minutes=30)
STORM_AFTER = timedelta(hours=3)
TOP_LINES = 10
MO = 1_048_576


@dataclass
class Period:
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def month_days(self) -> int:
        return calendar.monthrange(self.start.year, self.start.month)[1]


def _dt(text: Any) -> datetime:
    d = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _period(files: RunFiles, con: duckdb.DuckDBPyConnection) -> Period | None:
    if files.summary and isinstance(files.summary.get("period"), dict):
        p = files.summary["period"]
        return Period(_dt(p["start"]), _dt(p["end"]))
    month = (files.invoice or files.comparison or {}).get("month")
    if isinstance(month, str) and len(month) == 7:
        y, m = int(month[:4]), int(month[5:])
        start = datetime(y, m, 1, tzinfo=UTC)
        return Period(start, start + timedelta(days=calendar.monthrange(y, m)[1]))
    row = con.execute("SELECT min(start), max(start) FROM usage").fetchone()
    if row and row[0] is not None:
        return Period(row[0].astimezone(UTC), row[1].astimezone(UTC) + timedelta(seconds=1))
    return None


def _mo(v: float) -> str:
    return f"{v / MO:,.1f} Mo"


def _eur(v: float) -> str:
    return f"{v:,.2f} €"


# ---------------------------------------------------------------------------------------------------
# Sections


def _projected(files: RunFiles, period: Period | None) -> tuple[Decimal, str] | None:
    """The month's projected cost when the period is shorter than the billing month, and how it was made.

    The run's own projection (summary `projected_month.total_ht`) is used when it has one; else
    monthly charges (items billed per month) are kept and usage items scaled by month days / period days.
    """
    if period is None or files.invoice is None or period.days >= period.month_days() - 1e-9:
        return None
    proj = (files.summary or {}).get("projected_month")
    if isinstance(proj, dict) and proj.get("total_ht") is not None:
        return Decimal(str(proj["total_ht"])), "the run's projection"
    factor = Decimal(period.month_days()) / Decimal(str(round(period.days, 6)))
    total = Decimal(0)
    for bill in files.invoice.get("lines", []):
        for it in bill.get("items", []):
            amount = Decimal(str(it.get("amount", "0")))
            total += amount if it.get("unit") == "month" else amount * factor
    for it in files.invoice.get("fleet", []):
        total += Decimal(str(it.get("amount", "0")))
    how = f"monthly charges as billed, usage × {period.month_days()}/{period.days:g} days"
    return total.quantize(CENT, ROUND_HALF_UP), how


def _headline(files: RunFiles, period: Period | None, devices: int, currency: str) -> str:
    s, inv = files.summary or {}, files.invoice
    cards = [kpi("fleet", f"{devices:,} devices", key="summary:devices" if s else None)]
    if period is not None:
        cards.append(
            kpi(
                "period",
                f"{period.days:g} days",
                f"{period.start:%d %b %Y %H:%M} – {period.end:%d %b %Y %H:%M} UTC",
            )
        )
    projected = _projected(files, period)
    if inv is not None:
        total = Decimal(str(inv["total_ht"]))
        note = f"billing month {inv.get('month', '')}, {inv.get('catalog', '')}"
        cards.append(kpi("total cost HT", money(total, currency), note, key="invoice:total_ht", accent=True))
        base = projected[0] if projected else total
        if devices:
            per = (base / devices).quantize(CENT, ROUND_HALF_UP)
            what = "on the projected month" if projected else "the billing month"
            cards.append(kpi("cost per device per month", money(per, currency), what))
        if projected:
            cards.append(kpi("projected month HT", money(projected[0], currency), projected[1], accent=True))
    if s:
        t = s["totals"]
        cards.append(kpi("data sessions", count(t["data_sessions"]), key="summary:totals.data_sessions"))
        cards.append(
            kpi(
                "billable volume",
                f"{t['billable_ko']:,} ko",
                _mo(t["bytes_up"] + t["bytes_down"]) + " on the wire",
                key="summary:totals.billable_ko",
            )
        )
        cards.append(kpi("alarms", count(s["alarms"]["total"]), key="summary:alarms.total"))
    return f'<div class="kpis">{"".join(cards)}</div>'


def _comparison(files: RunFiles, con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    if files.comparison is not None:
        return files.comparison
    if files.inventory is None or not files.usage or files.usage_kind != "parquet":
        return None
    try:
        cmp = compare_month(files.inventory, files.usage)
    except AccountingError as exc:
        log.warning("no offer comparison: %s", exc)
        return None
    # the page shows the lines that save most: only they are laid out (10,000 lines' choices are not)
    top = sorted(cmp.lines, key=lambda lc: (-lc.saving, lc.id))[:TOP_LINES]
    return replace(cmp, lines=top).to_dict()


def _offers(cmp: dict[str, Any]) -> str:
    fleet = cmp["fleet"]
    cur = cmp.get("currency", "EUR")
    scen = fleet["scenarios"]
    cheapest = fleet["cheapest"]["name"]
    rows = []
    chart_rows = []
    today = Decimal(fleet["today"]["total_ht"])
    best_i = None
    for i, sc in enumerate(scen):
        total = Decimal(sc["total_ht"])
        is_best = sc["name"] == cheapest
        if is_best:
            best_i = i
        col = svg.PALETTE[2] if is_best else (svg.PALETTE[0] if sc["name"] == "today" else "#9ca3af")
        chart_rows.append((sc["name"], float(total), col))
        rows.append(
            tr(
                [
                    td(sc["name"] + ("  ← cheapest" if is_best else "")),
                    num(money(total, cur), "comparison:fleet.cheapest.total_ht" if is_best else None),
                    num(money(total - today, cur)),
                    num(count(sc["lines_moved"])),
                    td(", ".join(sc.get("discounts", [])) or "–"),
                ],
                "best" if is_best else None,
            )
        )
    chart = svg.hbar_chart(
        "plot-offers",
        f"The month on every offer and plan (EUR HT, {cmp.get('month', '')})",
        chart_rows[:24],
        x_label=f"cost of the month, {cur} HT",
        x_fmt=_eur,
        highlight=best_i,
        caption="today: the inventory as it is; best choice per line: each line on its cheapest offer, plan and "
        "commitment; everyone on …: every line that can take it moved. Green: the cheapest.",
    )
    saving = Decimal(fleet["saving_ht"])
    call = (
        f'<p class="callout">Cheapest: <b>{e(cheapest)}</b> at <b data-key="comparison:fleet.cheapest.total_ht">'
        f"{e(money(Decimal(fleet['cheapest']['total_ht']), cur))}</b>, saving "
        f'<b data-key="comparison:fleet.saving_ht">{e(money(saving, cur))}</b> on the month against today '
        f"({e(money(today, cur))}).</p>"
    )
    movers = sorted(cmp.get("lines", []), key=lambda ln: (-Decimal(ln["saving_ht"]), ln["id"]))
    movers = [ln for ln in movers if Decimal(ln["saving_ht"]) > 0][:TOP_LINES]
    extra = ""
    if movers:
        extra = "<h3>Lines that would save the most on another choice</h3>" + table(
            ["line", "today", "cheapest", "saving HT"],
            [
                tr([td(ln["id"]), td(ln["current"]), td(ln["cheapest"]), num(money(ln["saving_ht"], cur))])
                for ln in movers
            ],
            numeric=[3],
        )
    tbl = table(["choice", "month HT", "vs today", "lines moved", "fleet discounts"], rows, numeric=[1, 2, 3])
    return call + chart + f"<details><summary>every choice ({len(scen)})</summary>{tbl}</details>" + extra


def _groups(files: RunFiles, con: duckdb.DuckDBPyConnection, hourly: list[tuple[Any, ...]], cur: str) -> str:
    cost = dict(
        con.execute(
            "SELECT l.device_group, sum(i.total_ht) FROM invoice_lines i JOIN lines l USING (line) GROUP BY 1"
        ).fetchall()
    )
    n_lines = dict(con.execute("SELECT device_group, count(*) FROM lines GROUP BY 1").fetchall())
    agg: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for _, g, vol, ko, sessions, failed, sms, calls, _secs, roam in hourly:
        a = agg[g]
        a["vol"] += vol
        a["ko"] += ko
        a["sessions"] += sessions
        a["failed"] += failed
        a["sms"] += sms
        a["calls"] += calls
        a["roam"] += roam
    summary_groups = {g["name"]: g for g in (files.summary or {}).get("groups", [])}
    names = list(summary_groups) or sorted(set(cost) | set(agg) | set(n_lines))
    rows = []
    for name in names:
        sg = summary_groups.get(name, {})
        devices = sg.get("devices", n_lines.get(name, 0))
        c = cost.get(name)
        a = agg.get(name, {})
        k = f"summary:groups[{name}]" if sg else None
        rows.append(
            tr(
                [
                    td(name),
                    num(count(devices), f"{k}.devices" if k else None),
                    num(count(a.get("sessions", 0)), f"{k}.data_sessions" if k else None),
                    num(_mo(a.get("vol", 0))),
                    num(count(a.get("ko", 0)), f"{k}.billable_ko" if k else None),
                    num(f"{100 * a.get('roam', 0) / a['vol']:.1f} %" if a.get("vol") else "–"),
                    num(
                        money(c, cur) if c is not None else "–",
                        f"{k}.cost_ht" if k and c is not None else None,
                    ),
                    num(
                        money((c / devices).quantize(CENT, ROUND_HALF_UP), cur)
                        if c is not None and devices
                        else "–"
                    ),
                ]
            )
        )
    tbl = table(
        [
            "device group",
            "devices",
            "data sessions",
            "volume",
            "billable ko",
            "roaming",
            "cost HT",
            "cost per device",
        ],
        rows,
        numeric=range(1, 8),
    )
    cats = [n for n in names]
    cost_chart = svg.bar_chart(
        "plot-group-cost",
        "Cost per device group (EUR HT)",
        cats,
        [svg.Series("cost HT", [(i, float(cost.get(n, 0) or 0)) for i, n in enumerate(cats)])],
        y_label=f"{cur} HT",
        x_label="device group",
        y_fmt=lambda v: f"{v:,.0f}",
        width=430,
        height=280,
    )
    vol_chart = svg.bar_chart(
        "plot-group-volume",
        "Data volume per device group (Mo)",
        cats,
        [
            svg.Series(
                "volume", [(i, agg.get(n, {}).get("vol", 0) / MO) for i, n in enumerate(cats)], svg.PALETTE[1]
            )
        ],
        y_label="Mo (up + down)",
        x_label="device group",
        width=430,
        height=280,
    )
    return tbl + f'<div class="cols">{cost_chart}{vol_chart}</div>'


def _traffic(
    period: Period | None, hourly: list[tuple[Any, ...]], groups: list[str], bands: list[svg.Band]
) -> str:
    if not hourly:
        return '<p class="muted">No usage records in this folder.</p>'
    out = []
    days = period.days if period else 31.0

    def series(bucket_s: int, idx: int, scale: float) -> list[svg.Series]:
        acc: dict[str, dict[float, float]] = {g: defaultdict(float) for g in groups}
        for row in hourly:
            t = row[0].timestamp()
            b = t - (t % bucket_s)
            acc.setdefault(row[1], defaultdict(float))[b] += row[idx] / scale
        keys = sorted({k for d in acc.values() for k in d})
        if period is not None and keys:  # every bucket of the period, a quiet one at zero
            first = period.start.timestamp() - period.start.timestamp() % bucket_s
            keys = [first + i * bucket_s for i in range(int((period.end.timestamp() - first) // bucket_s))]
        return [svg.Series(g, [(k, acc[g].get(k, 0.0)) for k in keys]) for g in acc if any(acc[g].values())]

    def tip_mo(s: svg.Series, x: float, y: float) -> str:
        return f"{s.name}, {datetime.fromtimestamp(x, UTC):%d %b %H:%M} UTC: {y:,.2f} Mo"

    def tip_n(s: svg.Series, x: float, y: float) -> str:
        return f"{s.name}, {datetime.fromtimestamp(x, UTC):%d %b %H:%M} UTC: {y:,.0f} sessions"

    if days >= 2:
        out.append(
            svg.line_chart(
                "plot-daily-volume",
                "Data volume per day, per device group",
                series(86400, 2, MO),
                y_label="Mo per day (up + down)",
                steps=True,
                tip=tip_mo,
                bands=bands,
            )
        )
        out.append(
            svg.line_chart(
                "plot-daily-sessions",
                "Data sessions per day, per device group",
                series(86400, 4, 1),
                y_label="sessions per day",
                steps=True,
                tip=tip_n,
                bands=bands,
            )
        )
    if days <= HOURLY_UP_TO_DAYS:
        out.append(
            svg.line_chart(
                "plot-hourly-volume",
                "Data volume per hour, per device group",
                series(3600, 2, MO),
                y_label="Mo per hour (up + down)",
                steps=True,
                tip=tip_mo,
                bands=bands,
            )
        )
        out.append(
            svg.line_chart(
                "plot-hourly-sessions",
                "Data sessions per hour, per device group",
                series(3600, 4, 1),
                y_label="sessions per hour",
                steps=True,
                tip=tip_n,
                bands=bands,
            )
        )
    return "".join(out)


def _storm(files: RunFiles, con: duckdb.DuckDBPyConnection, cur: str) -> str:
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
    rows = []
    for n, o in enumerate(outages, 1):
        start, end = _dt(o["start"]), _dt(o["end"])
        later = [_dt(x["start"]) for x in outages if _dt(x["start"]) > start]
        w0, w1 = start - STORM_BEFORE, min([end + STORM_AFTER, *later])  # windows never overlap
        data = con.execute(
            "SELECT time_bucket(INTERVAL '1 minute', start) AS m, count(*) FILTER (retry) AS retries, "
            "count(*) FILTER (type = 'data' AND NOT retry) AS others, count(*) FILTER (cause = 4) AS failed, "
            "coalesce(sum(ceil((bytes_up + bytes_down) / 1024.0)) FILTER (retry), 0) AS ko "
            "FROM usage WHERE type = 'data' AND start >= ? AND start < ? GROUP BY 1 ORDER BY 1",
            [w0, w1],
        ).fetchall()
        retries = sum(r[1] for r in data)
        failed = sum(r[3] for r in data)
        ko = sum(int(r[4]) for r in data)
        groups = ", ".join(o.get("groups") or []) or "every group"
        label = f"{o.get('kind', 'outage')} outage {start:%d %b %H:%M}–{end:%H:%M} UTC ({groups})"
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
                f"Outage {n}: sessions minute by minute, {start:%d %b} UTC",
                series,
                y_label="records per minute",
                bands=band,
                steps=True,
                caption=f"{label}; from {w0:%H:%M} to {w1:%d %b %H:%M} UTC (30 min before, up to 3 h after or the next outage).",
            )
        )
    parts.insert(
        1 if rs else 0,
        table(
            [
                "outage (window: 30 min before to 3 h after, or to the next outage)",
                "reconnection records",
                "failed sessions",
                "ko billed by retries",
            ],
            rows,
            numeric=[1, 2, 3],
        ),
    )
    return "".join(parts)


def _alarms(con: duckdb.DuckDBPyConnection, period: Period | None) -> str:
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
                    td(f"{a:%d %b %H:%M}"),
                    td(f"{b:%d %b %H:%M}"),
                ]
            )
            for r, c, ln, a, b in counts
        ],
        numeric=[1, 2],
    )
    top = con.execute(
        "SELECT line, count(*) AS n, string_agg(DISTINCT rule, ', ') FROM alarms GROUP BY 1 "
        "ORDER BY n DESC, line LIMIT 10"
    ).fetchall()
    tbl2 = table(
        ["line", "alarms", "rules"], [tr([td(a), num(count(b)), td(c)]) for a, b, c in top], numeric=[1]
    )
    return (
        chart
        + f'<div class="cols"><div>{tbl}</div><div><h3>Lines with the most alarms</h3>{tbl2}</div></div>'
    )


def _costliest(files: RunFiles, con: duckdb.DuckDBPyConnection, cur: str) -> str:
    if files.invoice is None:
        return '<p class="muted">No invoice in this folder.</p>'
    top = con.execute(
        f"SELECT i.line, i.offer, i.plan, i.commitment, i.total_ht, l.device_group FROM invoice_lines i "
        f"LEFT JOIN lines l USING (line) ORDER BY i.total_ht DESC, i.line LIMIT {TOP_LINES}"
    ).fetchall()
    items = con.execute(
        "SELECT line, code, quantity, unit, amount, coalesce(step, ''), coalesce(note, '') FROM invoice_items "
        f"WHERE line IN (SELECT line FROM invoice_lines ORDER BY total_ht DESC, line LIMIT {TOP_LINES})"
    ).fetchall()
    by_line: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for it in items:
        by_line[it[0]].append(it)
    rows = []
    for line, offer, plan, commitment, total, group in top:
        detail = "; ".join(
            f"{code} {q.normalize():f} {unit}: {money(a, cur)}" + (f" ({step})" if step else "")
            for _, code, q, unit, a, step, _ in by_line[line]
        )
        rows.append(
            tr(
                [
                    td(line),
                    td(group or "–"),
                    td(f"{offer} {plan} {commitment or ''}".strip()),
                    num(money(total, cur), f"invoice:lines[{line}].total_ht"),
                    td(detail),
                ]
            )
        )
    fleet = files.invoice.get("fleet") or []
    extra = ""
    if fleet:
        extra = "<h3>Fleet items</h3>" + table(
            ["item", "quantity", "amount HT"],
            [
                tr(
                    [
                        td(f.get("code")),
                        num(f"{f.get('quantity', '')} {f.get('unit', '')}"),
                        num(money(f.get("amount"), cur)),
                    ]
                )
                for f in fleet
            ],
            numeric=[1, 2],
        )
    return table(["line", "group", "offer, plan, commitment", "month HT", "items"], rows, numeric=[3]) + extra


def _problems(files: RunFiles, cur: str) -> str:
    inv = files.invoice
    if inv is None:
        return '<p class="muted">No invoice in this folder.</p>'
    parts = []
    errors = inv.get("errors") or []
    by_reason = inv.get("rejects_by_reason") or []
    rejects = inv.get("rejects") or []
    quotes = inv.get("quotes") or []
    n_rej = sum(int(r.get("count", 0)) for r in by_reason) if by_reason else len(rejects)
    checked = "summary:invoice" if files.summary and "invoice" in files.summary else None
    parts.append(
        '<div class="kpis">'
        + "".join(
            [
                kpi(
                    "inventory errors",
                    count(len(errors)),
                    "lines not billed",
                    key=checked and f"{checked}.errors",
                ),
                kpi(
                    "rejected records",
                    count(n_rej),
                    f"of {inv.get('rows_read', 0):,} read",
                    key=checked and f"{checked}.rejects",
                ),
                kpi("price on quote", count(len(quotes)), key=checked and f"{checked}.quotes"),
            ]
        )
        + "</div>"
    )
    if errors:
        parts.append(
            "<h3>Inventory errors (these lines are not billed)</h3>"
            + table(
                ["line", "rule", "message"],
                [tr([td(x.get("line")), td(x.get("rule")), td(x.get("message"))]) for x in errors[:200]],
            )
        )
    if by_reason:
        parts.append(
            "<h3>Rejected records by reason</h3>"
            + table(
                ["reason", "records"],
                [tr([td(r.get("reason")), num(count(r.get("count")))]) for r in by_reason],
                numeric=[1],
            )
        )
    if rejects:
        parts.append(
            f"<details><summary>the first {min(len(rejects), 200)} rejected rows</summary>"
            + table(
                ["row", "reason"],
                [tr([num(str(r.get("row"))), td(r.get("reason"))]) for r in rejects[:200]],
                numeric=[0],
            )
            + "</details>"
        )
    if quotes:
        parts.append(
            "<h3>Price on quote</h3>"
            + table(["service", "reason"], [tr([td(q.get("code")), td(q.get("reason"))]) for q in quotes])
        )
    if not (errors or n_rej or quotes):
        parts.append('<p class="ok">Every line of the inventory was billed and every record rated.</p>')
    return "".join(parts)


def _sms_calls(
    files: RunFiles, hourly: list[tuple[Any, ...]], groups: list[str], con: duckdb.DuckDBPyConnection
) -> str:
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
    rows = con.execute(
        "SELECT coalesce(l.device_group, '(not in the inventory)'), u.type, u.dest, count(*), sum(u.duration_s) "
        "FROM usage u LEFT JOIN lines l USING (line) WHERE u.type IN ('sms', 'voice', 'csd', 'sms_internet') "
        "GROUP BY ALL ORDER BY 1, 2, 3"
    ).fetchall()
    if rows:
        parts.append(
            table(
                ["device group", "type", "destination", "records", "seconds"],
                [
                    tr(
                        [
                            td(g),
                            td(ty),
                            td(d or "–"),
                            num(count(n)),
                            num(count(s) if ty in ("voice", "csd") else "–"),
                        ]
                    )
                    for g, ty, d, n, s in rows
                ],
                numeric=[3, 4],
            )
        )
        acc: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for row in hourly:
            day = row[0].timestamp() - row[0].timestamp() % 86400
            acc["SMS"][day] += row[6]
            acc["calls"][day] += row[7]
        keys = sorted({k for d in acc.values() for k in d})
        series = [svg.Series(name, [(k, acc[name].get(k, 0.0)) for k in keys]) for name in ("SMS", "calls")]
        parts.append(
            svg.line_chart(
                "plot-sms-calls",
                "SMS and calls per day (all groups)",
                series,
                y_label="records per day",
                steps=True,
            )
        )
    elif not t:
        parts.append('<p class="muted">No SMS or call records.</p>')
    else:
        parts.append('<p class="muted">No SMS or call records in this period.</p>')
    return "".join(parts)


def _scenario(files: RunFiles) -> str:
    s = files.summary or {}
    sc = files.scenario or {}
    run = sc.get("run") if isinstance(sc.get("run"), dict) else {}
    rows = []

    def row(k: str, v: Any, key: str | None = None) -> None:
        rows.append(tr([td(k), f"<td{f' data-key={chr(34)}{e(key)}{chr(34)}' if key else ''}>{e(v)}</td>"]))

    if s or sc:
        row("scenario", s.get("scenario") or sc.get("name", "–"))
        if sc.get("description"):
            row("description", " ".join(str(sc["description"]).split()))
        row("seed", s.get("seed", sc.get("seed", "–")), "summary:seed" if s else None)
        if s:
            row("shards", s.get("shards"), "summary:shards")
        shard_devices = (run or {}).get("shard_devices") or sc.get("shard_devices")
        if shard_devices:
            row("devices per shard", shard_devices)
        if s:
            row("usage records", f"{s.get('usage_records', 0):,}", "summary:usage_records")
            inc = s.get("gateway_incidents") or {}
            row(
                "refused by the gateway as bad input",
                ", ".join(f"{k} {v:,}" for k, v in inc.items()) or "none",
            )
    if files.invoice:
        row("customer", files.invoice.get("customer"))
        row("catalog", files.invoice.get("catalog"))
    replay = ""
    if files.scenario is not None:
        replay = (
            "<p>To replay this run bit for bit: <code>m2msim run RUN_DIR/scenario.yaml --out OTHER_DIR</code> "
            "(the scenario as run, seed and "
            "overrides included; the results do not depend on the number of workers).</p>"
        )
    return table(["", ""], rows) + replay


# ---------------------------------------------------------------------------------------------------


def _hourly(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Per hour and device group: volume, billable ko, sessions, failed, SMS, calls, call s, roaming volume.

    The one pass over every record.  Hours are bucketed on the epoch (integer arithmetic, no time
    zone rules to apply per row) and turned into datetimes once per bucket.
    """
    data = "u.type = 'data'"
    calls = "u.type IN ('voice', 'csd')"
    rows = con.execute(
        "SELECT epoch(u.start)::BIGINT // 3600 AS h, coalesce(l.device_group, '(not in the inventory)') AS g, "
        f"coalesce(sum(u.bytes_up + u.bytes_down) FILTER ({data}), 0)::DOUBLE, "
        f"coalesce(sum((u.bytes_up + u.bytes_down + 1023) // 1024) FILTER ({data}), 0)::DOUBLE, "
        f"count(*) FILTER ({data} AND coalesce(u.sequence, 1) <= 1)::DOUBLE, "
        f"count(*) FILTER ({data} AND u.cause = 4)::DOUBLE, "
        "count(*) FILTER (u.type = 'sms')::DOUBLE, "
        f"count(*) FILTER ({calls})::DOUBLE, "
        f"coalesce(sum(u.duration_s) FILTER ({calls}), 0)::DOUBLE, "
        f"coalesce(sum(u.bytes_up + u.bytes_down) FILTER ({data} AND u.zone <> 'fr'), 0)::DOUBLE "
        "FROM usage u LEFT JOIN lines l USING (line) WHERE u.start IS NOT NULL GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return [(datetime.fromtimestamp(r[0] * 3600, UTC), *r[1:]) for r in rows]


def render_files(files: RunFiles, *, threads: int | None = None) -> str:
    """The report of what `files` holds (see `render_run_report`)."""
    con = connect(files, threads)
    try:
        return _render(files, con)
    except duckdb.Error as exc:
        raise ReportError(
            f"{files.folder}: cannot aggregate the records: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        con.close()


def _render(files: RunFiles, con: duckdb.DuckDBPyConnection) -> str:
    period = _period(files, con)
    s = files.summary or {}
    inv = files.invoice or {}
    cur = inv.get("currency") or (files.comparison or {}).get("currency") or "EUR"
    devices = int(s.get("devices") or len(inv.get("lines", [])) or 0)
    name = (
        s.get("scenario")
        or inv.get("customer")
        or (files.comparison or {}).get("customer")
        or files.folder.name
    )
    hourly = _hourly(con)
    groups = [g["name"] for g in s.get("groups", [])] or sorted({r[1] for r in hourly})
    bands = [
        svg.Band(_dt(o["start"]).timestamp(), _dt(o["end"]).timestamp(), f"{o.get('kind', '')} outage")
        for o in s.get("outages") or []
    ]
    when = f"{period.start:%d %b %Y} – {period.end:%d %b %Y}" if period else ""
    page = Page(f"m2msim report: {name}", f"{devices:,} devices · {when}")
    page.add("headline", "Headline", _headline(files, period, devices, cur))
    cmp = _comparison(files, con)
    if cmp is not None:
        page.add("offers", "Cost per offer and plan", _offers(cmp))
    page.add("groups", "Cost and volume per device group", _groups(files, con, hourly, cur))
    page.add("traffic", "Volume and sessions over time", _traffic(period, hourly, groups, bands))
    if files.summary is not None:
        page.add("storm", "Outages and retry storms", _storm(files, con, cur))
    page.add("alarms", "Alarms", _alarms(con, period))
    page.add("lines", "Costliest lines", _costliest(files, con, cur))
    page.add("problems", "Rejects and inventory errors", _problems(files, cur))
    page.add("sms", "SMS and calls", _sms_calls(files, hourly, groups, con))
    page.add("scenario", "The scenario as run", _scenario(files))
    page.footer = (
        "Made by m2msim from the folder's files (summary.json, invoice.json, scenario.yaml, usage records, "
        "alarms.jsonl); amounts in " + e(cur) + " HT as invoiced. The same data answers SQL: "
        '<code>m2msim sql RUN_DIR "SELECT …"</code>.'
    )
    return page.render()


def render_run_report(run_dir: Path | str, *, threads: int | None = None) -> str:
    """The HTML report of a run folder, or of a folder holding `rate` / `compare` outputs."""
    return render_files(find_files(run_dir), threads=threads)


__all__ = ["render_files", "render_rating_report", "render_run_report"]


def render_rating_report(inventory: Path | str, usage: Path | str, catalog: str | None = None) -> str:
    """The report of `m2msim rate`/`compare INVENTORY USAGE`: the month rated and compared, then drawn."""
    from accounting import compare, load_catalog, load_inventory, rate_run

    try:
        inv = load_inventory(inventory)
        run = rate_run(inv, usage, load_catalog(catalog))
        comparison = compare(run).to_dict()
    except AccountingError as exc:
        raise ReportError(str(exc)) from None
    usage_path = Path(usage)
    files = RunFiles(
        usage_path.parent,
        invoice=run.invoice.to_dict(),
        comparison=comparison,
        inventory=inv,
        usage=[usage_path],
    )
    return render_files(files)
