"""The run report's money sections: the offers compared, the device groups, the costliest lines, rejects."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from accounting import Comparison, compare_month
from accounting.db import duckdb
from accounting.engine import MAX_LISTED_REJECTS
from accounting.errors import AccountingError
from reports import svg
from reports.data import Rejects, RunFiles, records_counted
from reports.page import count, e, kpi, money, num, table, td, tr
from reports.run_common import CENT, FLEET_GROUP, MO, NO_INVENTORY_GROUP, TOP_LINES, amount, mo

log = logging.getLogger(__name__)


def comparison(files: RunFiles, con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    if files.comparison is not None:
        return files.comparison
    if files.inventory is None or not files.usage or files.usage_kind != "parquet":
        return None
    try:
        cmp = compare_month(files.inventory, files.usage)
    except AccountingError as exc:
        log.warning("no offer comparison: %s", exc)
        return None
    return page_comparison(cmp)


def page_comparison(cmp: Comparison) -> dict[str, Any]:
    """What the page shows of a comparison: the fleet's scenarios and the lines that save most
    (only they are laid out: 10,000 lines' choices are not)."""
    top = sorted(cmp.lines, key=lambda lc: (-lc.saving, lc.id))[:TOP_LINES]
    return replace(cmp, lines=top).to_dict()


MAX_CHOICES_DRAWN = 24  # the offers chart's bars at most (and today's)


def offers_section(cmp: dict[str, Any], covers: tuple[str, int] | None = None) -> str:
    """The offers compared. `covers`: (days, days in the month) when the usage is of part of the
    month only (a run of `--days 1`): the comparison is of those days' usage, and says so.

    It is not scaled to a month: which plan is cheapest depends on where each line's volume
    falls against bundles and steps, so a month's choice cannot be read off a few days' prices
    (scaling their amounts keeps the few days' choice; scaling their usage would price a month
    no one rated). A whole month's run compares the month."""
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
                    td(", ".join(sc.get("discounts") or []) or "–"),
                ],
                "best" if is_best else None,
            )
        )
    span = "the month"
    if covers is not None:
        days, in_month = covers
        span = f"the {days} day{'' if days == '1' else 's'} simulated (of {in_month})"
    # The cheapest choices are drawn, today and the cheapest always among them: the first 24 in the
    # document's order were, without a word of the others (today or the cheapest left out past them)
    drawn = sorted(range(len(scen)), key=lambda i: (Decimal(scen[i]["total_ht"]), i))[:MAX_CHOICES_DRAWN]
    keep = {i for i, sc in enumerate(scen) if sc["name"] == "today" or i == best_i}
    drawn = sorted(set(drawn) | keep)
    left_out = (
        f" {len(drawn):,} of the {len(scen):,} choices are drawn, the cheapest and today; every one is in "
        "the table below."
        if len(drawn) < len(scen)
        else ""
    )
    chart = svg.hbar_chart(
        "plot-offers",
        f"{span[0].upper()}{span[1:]} on every offer and plan ({cur} HT, {cmp.get('month', '')})",
        [chart_rows[i] for i in drawn],
        x_label=f"cost of {span}, {cur} HT",  # (a partial run's said "cost of the month")
        x_fmt=amount(cur),
        highlight=drawn.index(best_i) if best_i is not None else None,
        caption="today: the inventory as it is; best choice per line: each line on its cheapest offer, plan and "
        "commitment; everyone on …: every line that can take it moved. Green: the cheapest." + left_out,
    )
    saving = Decimal(fleet["saving_ht"])
    call = (
        f'<p class="callout">Cheapest: <b>{e(cheapest)}</b> at <b data-key="comparison:fleet.cheapest.total_ht">'
        f"{e(money(Decimal(fleet['cheapest']['total_ht']), cur))}</b>, saving "
        f'<b data-key="comparison:fleet.saving_ht">{e(money(saving, cur))}</b> on {e(span)} against today '
        f"({e(money(today, cur))}).</p>"
    )
    if covers is not None:
        call += (
            f'<p class="callout">The offers are compared on the usage of {e(span)} only, billed against '
            "whole-month subscriptions, not on a projected month: the cheapest plan depends on where a "
            "month's volume falls against bundles and steps, which a few days do not tell. Run the "
            "whole month to choose.</p>"
        )
    movers = sorted(cmp.get("lines", []), key=lambda ln: (-Decimal(ln["saving_ht"]), ln["id"]))
    movers = [ln for ln in movers if Decimal(ln["saving_ht"]) > 0][:TOP_LINES]
    extra = ""
    if movers:

        def cheapest_cell(ln: dict[str, Any]) -> str:
            # (where the best mix puts the line elsewhere, as the text shows it under the line)
            mix = ln.get("in_best_mix")
            return td(ln["cheapest"] if mix is None else f"{ln['cheapest']} (in the best mix: {mix})")

        extra = "<h3>Lines that would save the most on another choice</h3>" + table(
            ["line", "today", "cheapest", "saving HT"],
            [
                tr([td(ln["id"]), td(ln["current"]), cheapest_cell(ln), num(money(ln["saving_ht"], cur))])
                for ln in movers
            ],
            numeric=[3],
        )
        if any(ln.get("in_best_mix") is not None for ln in movers):
            extra += (
                "<p>A line's cheapest is its own bill's, with the fleet discounts as they stand; where "
                "the best mix puts it elsewhere, moved alone it changes the fleet discounts and the other "
                "lines' bills with them (the 50th Business line leaving costs the other 49 their 5%): "
                "the best mix is the fleet's cheapest.</p>"
            )
    tbl = table(
        [
            "choice",
            "month HT" if covers is None else f"HT, {span}",
            "vs today",
            "lines moved",
            "fleet discounts",
        ],
        rows,
        numeric=[1, 2, 3],
    )
    return call + chart + f"<details><summary>every choice ({len(scen)})</summary>{tbl}</details>" + extra


def groups_section(
    files: RunFiles,
    con: duckdb.DuckDBPyConnection,
    hourly: list[tuple[Any, ...]],
    cur: str,
    rejects: Rejects,
    read: bool = True,
) -> str:
    """Per device group: devices, what its usage records hold (`read`: whether the records are known:
    a folder without its usage files shows none, not zero sessions against the summary's count;
    `rejects`: the invoice's, left out of them), the ko invoiced, its cost."""
    cost = dict(
        con.execute(
            "SELECT l.device_group, sum(i.total_ht) FROM invoice_lines i JOIN lines l USING (line) GROUP BY 1"
        ).fetchall()
    )
    n_lines = dict(con.execute("SELECT device_group, count(*) FROM lines GROUP BY 1").fetchall())
    # The ko the invoice bills (its data items' quantities: bundle, over it, free, outside), not the
    # records' ko: those count the records the rating rejected too (`records_read_note`).
    billed = dict(
        con.execute(
            "SELECT l.device_group, sum(i.quantity) FROM invoice_items i JOIN lines l USING (line) "
            "WHERE i.unit = 'ko' GROUP BY 1"
        ).fetchall()
    )
    invoiced = files.invoice is not None
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
    # The records of no line are the fleet's services', not a device group's: what they hold is on
    # the row of the fleet's services under the groups (a group of 0 devices was drawn as costing
    # 0.00 beside that row's bill)
    fleet_read = agg.pop(FLEET_GROUP, None) if files.invoice is not None else None
    summary_groups = {g["name"]: g for g in (files.summary or {}).get("groups", [])}
    # (the summary's data sessions are its records', rejected ones too: the page's are those billed
    # when the invoice lists rejects, not the summary's figure)
    rejects_left_out = bool(files.usage) and bool(rejects.rows)
    # (a run's inventory lines that no device group uses are billed too: listed after the groups)
    names = list(summary_groups) + sorted((set(cost) | set(agg) | set(n_lines)) - set(summary_groups))
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
                    num(count(devices), f"{k}.devices" if k else None)
                    if name != NO_INVENTORY_GROUP
                    else num("–"),
                    num(
                        count(a.get("sessions", 0)),
                        f"{k}.data_sessions" if k and not rejects_left_out else None,
                    )
                    if read
                    else num("–"),
                    num(mo(a.get("vol", 0)) if read else "–"),
                    num(f"{100 * a.get('roam', 0) / a['vol']:.1f} %" if a.get("vol") else "–"),
                    num(
                        count(int(billed.get(name) or 0)) if invoiced else "–",
                        f"{k}.billable_ko" if k and invoiced else None,
                    ),
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
    if files.invoice is not None:
        rows += _total_rows(
            files.invoice, con, sum((v for v in cost.values() if v is not None), Decimal(0)), cur, fleet_read
        )
    counted = records_counted(files)  # (beside an invoice, the records billed: they said "read")
    tbl = table(
        [
            "device group",
            "devices",
            f"data sessions {counted}",
            f"volume {counted}",
            f"roaming ({counted})",
            "ko invoiced",
            "cost HT",
            "cost per device",
        ],
        rows,
        numeric=range(1, 8),
    )
    cats = [n for n in names]
    # (no invoice: no cost is known, "–" in the table; the chart drew each group at 0.00)
    cost_chart = (
        ""
        if not invoiced
        else svg.bar_chart(
            "plot-group-cost",
            f"Cost per device group ({cur} HT)",
            cats,
            [svg.Series("cost HT", [(i, float(cost.get(n, 0) or 0)) for i, n in enumerate(cats)])],
            y_label=f"{cur} HT",
            x_label="device group",
            y_fmt=lambda v: f"{v:,.0f}",
            tip_fmt=amount(cur),  # (a bar's exact amount: it was rounded to the unit, as the axis is)
            width=430,
            height=280,
        )
    )
    vol_chart = svg.bar_chart(
        "plot-group-volume",
        f"Data volume per device group (Mo, records {records_counted(files)})",
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
    note = records_read_note(files, rejects) if read else _NO_RECORDS
    return note + tbl + f'<div class="cols">{cost_chart}{vol_chart if read else ""}</div>'


def _total_rows(
    invoice: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    groups: Decimal,
    cur: str,
    fleet_read: dict[str, float] | None = None,
) -> list[str]:
    """Under the device groups, what else the invoice bills and its total, so that the column adds up
    to it: the fleet's services (assistance, SMS+ short ids: billed to no line; `fleet_read`: what
    the records of no line hold) and lines in no device group, if any. The groups' costs alone were
    124.53 beside a total of 2,749.96, the fleet's 2,625.43 in no row of the table."""
    row = con.execute("SELECT coalesce(sum(amount), 0) FROM invoice_items WHERE line IS NULL").fetchone()
    fleet = Decimal(row[0]) if row else Decimal(0)
    total = Decimal(str(invoice["total_ht"]))
    blank = [num("")] * 5
    # (rows of a class of their own: they are not device groups)
    read = blank
    if fleet_read:
        vol = fleet_read.get("vol", 0)
        roaming = f"{100 * fleet_read.get('roam', 0) / vol:.1f} %" if vol else "–"
        read = [num(""), num(count(fleet_read.get("sessions", 0))), num(mo(vol)), num(roaming), num("")]
    out = [tr([td("fleet services (billed to no line)"), *read, num(money(fleet, cur)), num("")], "sum")]
    if total - fleet - groups:
        out.append(
            tr(
                [td("lines in no device group"), *blank, num(money(total - fleet - groups, cur)), num("")],
                "sum",
            )
        )
    out.append(tr([td("total HT"), *blank, num(money(total, cur), "invoice:total_ht"), num("")], "total"))
    return out


_NO_RECORDS = (
    '<p class="muted">No usage records in this folder (usage.parquet, usage/part-*.parquet or usage.csv): '
    "the sessions, volume and roaming share they hold are not known. The ko "
    "invoiced and the cost are the invoice's.</p>"
)


def records_read_note(
    files: RunFiles, rejects: Rejects, what: str = "Sessions, volume, roaming share and the charts"
) -> str:
    """What the figures drawn from the usage records count: the records billed, those the invoice
    lists as rejected (a duplicate, a line with an inventory error or unknown, a record outside the
    month, a bad value, a service the offer refuses) left out (`rejects`, `reports.data.rejects_of`) and
    counted beside them, so that they agree with the invoice's figures (ko invoiced, SMS and seconds
    billed, cost); those the invoice counts but does not say where they are in the files read
    (past its listing's limit, or in a file not read here) are said counted in them, and why."""
    inv = files.invoice
    if inv is None:
        return f'<p class="muted">{what} count the usage records read (no invoice in this folder).</p>'
    by_reason = inv.get("rejects_by_reason") or []
    rejected = sum(int(r.get("count", 0)) for r in by_reason) if by_reason else len(inv.get("rejects") or [])
    unlisted = rejects.unplaced if files.usage else 0
    kept = (
        f" <b>{unlisted:,} of them are counted</b> here all the same: the invoice does not say which "
        f"rows they are in these files (it lists {MAX_LISTED_REJECTS:,} rejects at most, or names a "
        "file not read here), so they cannot be told from the records billed."
        if unlisted
        else ""
    )
    return (
        f'<p class="muted">{what} count the usage records billed: of the '
        f'<span data-key="invoice:rows_read">{int(inv.get("rows_read") or 0):,}</span> records read, '
        f"<b>{rejected:,} rejected</b> by the rating and billed nothing are left out (see Rejects and "
        f"inventory errors).{kept} The ko invoiced and the cost are the invoice's.</p>"
    )


def costliest_section(files: RunFiles, con: duckdb.DuckDBPyConnection, cur: str) -> str:
    if files.invoice is None:
        return '<p class="muted">No invoice in this folder.</p>'
    # A line listed with no items is not active in the month (an active line has its subscription):
    # it was listed among the costliest at 0.00 with no items; it is counted below the table instead
    billed = "line IN (SELECT line FROM invoice_items WHERE line IS NOT NULL)"
    top = con.execute(
        f"SELECT i.line, i.offer, i.plan, i.commitment, i.total_ht, l.device_group FROM invoice_lines i "
        f"LEFT JOIN lines l USING (line) WHERE i.{billed} ORDER BY i.total_ht DESC, i.line LIMIT {TOP_LINES}"
    ).fetchall()
    items = con.execute(
        "SELECT line, code, quantity, unit, amount, coalesce(step, ''), coalesce(note, '') FROM invoice_items "
        f"WHERE line IN (SELECT line FROM invoice_lines WHERE {billed} ORDER BY total_ht DESC, line "
        f"LIMIT {TOP_LINES})"
    ).fetchall()
    idle_row = con.execute(f"SELECT count(*) FROM invoice_lines WHERE NOT {billed}").fetchone()
    idle = int(idle_row[0]) if idle_row else 0
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
    idle_note = (
        f'<p class="muted">{idle:,} line{"s" if idle != 1 else ""} not active in the month '
        "(activated after it): no items, "
        "not listed.</p>"
        if idle
        else ""
    )
    return (
        table(["line", "group", "offer, plan, commitment", "month HT", "items"], rows, numeric=[3])
        + idle_note
        + extra
    )


LISTED = 200  # the inventory errors and rejected rows listed at most (a 10,000-line fleet's page stays short)


def problems_section(files: RunFiles, cur: str) -> str:
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
        # (the first 200 were listed as if they were all: 5,000 errors, 200 rows and no word of the rest)
        more = (
            f'<p class="muted">The first {LISTED:,} of {len(errors):,} are listed; every one is in the '
            "invoice's JSON (<code>rate --json</code>, a run's invoice.json), under <code>errors</code>.</p>"
            if len(errors) > LISTED
            else ""
        )
        parts.append(
            "<h3>Inventory errors (these lines are not billed)</h3>"
            + table(
                ["line", "rule", "message"],
                [tr([td(x.get("line")), td(x.get("rule")), td(x.get("message"))]) for x in errors[:LISTED]],
            )
            + more
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
        # (the rows of several files, a run's parts, each with its file: "row 2" said nothing of which)
        shown = [r if isinstance(r, dict) else {} for r in rejects[:LISTED]]
        named = any(r.get("file") is not None for r in shown)
        parts.append(
            f"<details><summary>the first {min(len(rejects), LISTED):,} rejected rows of {n_rej:,}</summary>"
            + table(
                ["file", "row", "reason"] if named else ["row", "reason"],
                [
                    tr(
                        ([td(r.get("file") or "")] if named else [])
                        + [num(str(r.get("row"))), td(r.get("reason"))]
                    )
                    for r in shown
                ],
                numeric=[1] if named else [0],
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
