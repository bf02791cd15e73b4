"""The run's summary: what happened per device group, what it cost, as JSON and as text."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from simulator.stats import GroupStats

if TYPE_CHECKING:
    from accounting.compare import Comparison
    from accounting.invoice import Invoice
    from simulator.run import RunResult


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def build_summary(result: RunResult) -> dict[str, Any]:
    sc = result.scenario
    total = GroupStats()
    for s in result.groups.values():
        total.add(s)
    # The ko billed are the invoice's (its data items' quantities): the records' own count
    # (`records_ko`) holds the records the rating rejected too (duplicates, lines with inventory
    # errors, refused services, records outside the month), billed nothing.
    invoiced = invoiced_ko(result.invoice) if result.invoice is not None else None
    groups = []
    for g in sc.groups:
        st = result.groups[g.name]
        entry: dict[str, Any] = {
            "name": g.name,
            "lines": g.line_group,
            **_ko(st.as_dict(), invoiced, g.line_ids),
        }
        if result.invoice is not None:
            entry["cost_ht"] = _money(result.cost_by_group.get(g.name, Decimal(0)))
        groups.append(entry)
    out: dict[str, Any] = {
        "scenario": sc.name,
        "seed": sc.seed,
        "period": {"start": sc.start.isoformat(), "end": sc.end.isoformat(), "seconds": sc.duration_s},
        "devices": sc.n_devices,
        "shards": result.shards,
        "usage_records": result.usage_rows,
        "totals": _ko(total.as_dict(), invoiced, None),
        "alarms": {"total": result.alarms, "by_rule": result.alarms_by_rule},
        "gateway_incidents": result.incidents,
        "outages": [
            {"kind": o.kind, "start": o.start.isoformat(), "end": o.end.isoformat(), "groups": list(o.groups)}
            for o in sc.outages
            if o.start < sc.end
        ],
        "retry_storm": {
            "attempts": total.retry_attempts,
            "sessions": total.retry_sessions,
            # (the ko the invoice bills for them: rated with and without them, as their cost)
            "billable_ko": total.retry_ko if result.retry_ko is None else result.retry_ko,
            "records_ko": total.retry_ko,
            "cost_ht": _money(result.retry_cost) if total.retry_sessions else "0.00",
        },
        "groups": groups,
    }
    if result.invoice is not None:
        inv = result.invoice
        out["invoice"] = {
            "total_ht": _money(inv.total),
            "currency": inv.currency,
            "errors": len(inv.errors),
            "rejects": inv.rejects_total,
            "quotes": len(inv.quotes),
            "lines_not_active": inv.lines_not_active,
        }
        out.update(_partial_month(inv))
    if result.comparison is not None:
        out["comparison"] = _comparison(result.comparison, out.get("usage_covers"))
    return out


def _comparison(cmp: Comparison, covers: dict[str, Any] | None) -> dict[str, Any]:
    """The offers compared (the report's section), and the usage they are compared on: the month,
    or only the days a partial run simulated (not a projected month: which plan is cheapest
    depends on a month's volume against bundles and steps)."""
    if covers is None:
        on = "the month"
    else:
        days = covers["days"]
        on = (
            f"the usage of the {days} day{'' if days == '1' else 's'} simulated only "
            f"(of the month's {covers['days_in_month']}), not a projected month"
        )
    return {
        "today_ht": _money(cmp.today.total),
        "cheapest": cmp.cheapest.name,
        "cheapest_ht": _money(cmp.cheapest.total),
        "saving_ht": _money(cmp.saving),
        "covers": on,
    }


def invoiced_ko(inv: Invoice) -> dict[str, int]:
    """Per line, the ko its invoice items bill (bundle, over it, free, outside: unit ko)."""
    return {bill.id: sum(int(it.quantity) for it in bill.items if it.unit == "ko") for bill in inv.lines}


def _ko(
    counts: dict[str, int], invoiced: dict[str, int] | None, lines: Iterable[str] | None
) -> dict[str, int]:
    """A group's (or, `lines` None, the fleet's) counters with `billable_ko` the invoice's for its
    lines and `records_ko` the records' (without an invoice, both the records')."""
    out = dict(counts)
    out["records_ko"] = counts["billable_ko"]
    if invoiced is not None:
        ids = invoiced if lines is None else lines
        out["billable_ko"] = sum(invoiced.get(line, 0) for line in ids)
    return out


def _partial_month(inv: Invoice) -> dict[str, Any]:
    """`usage_covers` and `projected_month`, as in invoice.json, when the run is not a whole month."""
    doc = inv.to_dict(lines=False)
    return {k: doc[k] for k in ("usage_covers", "projected_month") if k in doc}


def _mo(n: int) -> str:
    return f"{n / 1_048_576:,.1f} Mo"


def render_summary(s: dict[str, Any]) -> str:
    t = s["totals"]
    lines = [
        f"scenario {s['scenario']} (seed {s['seed']}): {s['devices']:,} devices, "
        f"{s['period']['start'][:16]} to {s['period']['end'][:16]} UTC, {s['shards']} shard(s)",
        f"data      {t['data_sessions']:,} sessions, {t['data_records']:,} records, "
        f"up {_mo(t['bytes_up'])}, down {_mo(t['bytes_down'])}, billable {t['billable_ko']:,} ko"
        + (
            f" ({t['records_ko']:,} ko in the records)"
            if t.get("records_ko", t["billable_ko"]) != t["billable_ko"]
            else ""
        ),
        f"sms       {t['sms_sent']:,} sent, {t['sms_refused']:,} refused; "
        f"MT {t['mt_sms_submitted']:,} submitted, {t['mt_sms_delivered']:,} delivered",
        f"calls     {t['calls_answered']:,} answered ({t['call_seconds']:,} s), {t['calls_busy']:,} busy, "
        f"{t['calls_no_answer']:,} unanswered, {t['calls_refused']:,} refused",
        f"refusals  {t['session_refusals']:,} PDP activations, {t['attach_refusals']:,} attaches, "
        f"{t['no_coverage_attempts']:,} attempts without coverage"
        + (
            f", {t['nsapi_waits_past_end']:,} sessions not sent (waiting for a free NSAPI past the "
            "period's end)"
            if t.get("nsapi_waits_past_end")
            else ""
        )
        + (
            f", {t['nsapi_connections_kept_out']:,} persistent connections kept out of a stretch "
            "(a free NSAPI only after its end)"
            if t.get("nsapi_connections_kept_out")
            else ""
        ),
    ]
    rs = s["retry_storm"]
    if rs["attempts"]:
        lines.append(
            f"retry storm {rs['attempts']:,} reconnection attempts, {rs['sessions']:,} failed sessions, "
            f"{rs['billable_ko']:,} ko billed, cost {rs['cost_ht']} EUR HT; "
            f"{t['reconnections']:,} reconnections after outages"
        )
    alarms = s["alarms"]
    by_rule = ", ".join(f"{k} {v:,}" for k, v in alarms["by_rule"].items())
    lines.append(f"alarms    {alarms['total']:,}" + (f" ({by_rule})" if by_rule else ""))
    incidents = s.get("gateway_incidents") or {}
    if incidents:
        detail = ", ".join(f"{k} {v:,}" for k, v in incidents.items())
        lines.append(f"incidents {sum(incidents.values()):,} refused by the gateway as bad input ({detail})")
    if "invoice" in s:
        inv = s["invoice"]
        lines.append(
            f"invoice   {inv['total_ht']} {inv['currency']} HT"
            f" ({inv['errors']} inventory errors, {inv['rejects']} rejected records, {inv['quotes']} quotes)"
            + (
                f"; {inv['lines_not_active']:,} lines not active in the month (their `since` after it)"
                if inv.get("lines_not_active")
                else ""
            )
        )
    if "projected_month" in s:
        c, p = s["usage_covers"], s["projected_month"]
        lines.append(
            f"partial   usage covers {c['days']} of the month's {c['days_in_month']} days "
            f"({c['start'][:16]} to {c['end'][:16]} UTC), billed against whole-month subscriptions"
        )
        lines.append(
            f"projected {p['total_ht']} {s['invoice']['currency']} HT for the whole month "
            f"(usage {p['usage_ht']} x {c['days_in_month']}/{c['days']} + fixed {p['fixed_ht']}; a projection, not a bill)"
        )
    if "comparison" in s:
        c = s["comparison"]
        lines.append(
            f"offers    cheapest {c['cheapest']} at {c['cheapest_ht']}, saving {c['saving_ht']} against today's "
            f"{c['today_ht']} {s['invoice']['currency']} HT, on {c['covers']}"
        )
    lines.append("")
    header = (
        f"{'group':<16}{'devices':>8}{'sessions':>12}{'records':>12}{'ko':>12}{'sms':>8}{'calls':>8}"
        f"{'retries':>9}{'cost HT':>12}"
    )
    lines.append(header)
    for g in s["groups"]:
        calls = g["calls_answered"] + g["calls_busy"] + g["calls_no_answer"]
        lines.append(
            f"{g['name']:<16}{g['devices']:>8,}{g['data_sessions']:>12,}{g['data_records']:>12,}{g['billable_ko']:>12,}"
            f"{g['sms_sent']:>8,}{calls:>8,}{g['retry_attempts']:>9,}{g.get('cost_ht') or '-':>12}"
        )
    return "\n".join(lines)
