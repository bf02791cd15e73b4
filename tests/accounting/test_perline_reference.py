"""The work after the aggregate (aggregates to lines, pricing, the invoice's JSON and text) against a
plain reference, on seeded generated months.

The engine shares every item lines have in common (an item is made once per what it is made of),
writes the JSON from per-kind text forms and sums the readable invoice per distinct items.  The
reference here is the code as it was before those shares, written out plainly: each aggregate added
to its line one by one, every item of every line made afresh from the catalog's prices, the JSON
encoded from `to_dict()` by `json`, the text's sums per line.  Same Groups in, same bytes out: the
items (their `repr`, so 1.5 and 1.50 differ), the rejected aggregates with their reasons, the JSON
and the readable invoice (every line's detail, and the costliest lines' summary).

The months: every offer, plan (one and several steps) and commitment, inventory errors,
prototypes, lines starting in or after the month, options, the fleet discount's threshold, data in
every zone (at, under and over the allowances), SMS to priced and unpriced destinations, calls of
every type and first period, SMS Internet, location hits, row-level reject codes, unknown lines,
lines with the same month, and the bench's two shapes (four offers; alike meters).
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from test_compare_reference import _inventory

import accounting.render as render
from accounting import inventory_from_dict, load_catalog
from accounting.catalog import Catalog
from accounting.charges import CallUse
from accounting.compare import compare
from accounting.engine import (
    LINE_NOT_ACTIVE,
    LINE_NOT_BILLED,
    NOT_IN_OFFER,
    NOT_PRICED,
    UNKNOWN_LINE,
    FleetContext,
    LineUsage,
    RatedUsage,
    _reject_summary,
    fleet_context,
    fleet_sms_count,
    rate_run,
    refusal,
    valid_lines,
)
from accounting.fleet import fleet_items
from accounting.inventory import Inventory, Line, Month, is_active
from accounting.invoice import Invoice, Item, LineBill, layout_json
from accounting.money import ZERO, cents
from accounting.usage import ROW_REASONS, Group
from benchmarks.bench_perline import Aggregated, bench_month, meters_month

KO = 1024


# ----- the reference ---------------------------------------------------------------------------------


def ref_add(usage: LineUsage, g: Group) -> None:
    """One aggregate added to its line's month."""
    zone = g.zone or ""
    if g.type == "data":
        usage.data_ko[zone] = usage.data_ko.get(zone, 0) + g.ko
        usage.data_records += g.rows
    elif g.type == "sms":
        key = (zone, g.dest or "")
        usage.sms[key] = usage.sms.get(key, 0) + g.rows
    else:
        use = usage.calls.setdefault((g.type or "", zone, g.dest or ""), CallUse())
        use.calls += g.calls
        use.seconds += g.beyond.get(0, 0)
        for p, s in g.beyond.items():
            use.beyond[p] = use.beyond.get(p, 0) + s


def ref_sort(
    catalog: Catalog, inventory: Inventory, groups: list[Group], valid: dict[str, Line]
) -> RatedUsage:
    by_id = {line.id: line for line in inventory.lines}
    usage: dict[str, LineUsage] = defaultdict(LineUsage)
    rejected: list[tuple[Group, str, str]] = []
    smsi: dict[tuple[str, bool], int] = defaultdict(int)
    hits = rows = 0
    services = inventory.services
    for g in groups:
        rows += g.rows
        if g.code is not None:
            rejected.append((g, ROW_REASONS[g.code][0], g.code))
        elif g.type == "sms_internet":
            if services.sms_internet is None or catalog.sms_internet is None:
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: SMS Internet is not subscribed"))
            elif g.dest not in catalog.sms_internet.billable_dests:
                rejected.append((g, NOT_PRICED, f"{NOT_PRICED}: SMS Internet to {g.dest}"))
            else:
                smsi[(g.dest or "", g.delivered is not False)] += g.rows
        elif g.type == "location_hit":
            if services.localisation is None or catalog.localisation is None:
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: localisation is not subscribed"))
            else:
                hits += g.rows
        else:
            line_id = g.line or ""
            line = valid.get(line_id)
            if line is None:
                if line_id in by_id:
                    rejected.append((g, LINE_NOT_BILLED, f"{LINE_NOT_BILLED}: line {line_id!r}"))
                else:
                    rejected.append((g, UNKNOWN_LINE, f"unknown line {line_id!r}"))
            elif not is_active(line, inventory.month):
                rejected.append(
                    (g, LINE_NOT_ACTIVE, f"{LINE_NOT_ACTIVE}: line {line_id!r} starts {line.since}")
                )
            else:
                ref_add(usage[line_id], g)
                why = refusal(catalog, catalog.offers[line.offer], g.type or "", g.zone or "", g.dest or "")
                if why is not None:
                    rejected.append((g, *why))
    return RatedUsage(dict(usage), rejected, dict(smsi), hits, rows)


def ref_price(catalog: Catalog, line: Line, usage: LineUsage, ctx: FleetContext) -> list[Item]:
    """Every item made afresh from the catalog's prices, in the invoice's order."""
    offer = catalog.offers[line.offer]
    month = ctx.month
    per_ko = catalog.ko_per_mo
    bundle = "-".join(offer.bundle_zones)
    data = "data" in offer.usage
    volume = sum(usage.data_ko.get(z, 0) for z in offer.bundle_zones) if data else 0
    items: list[Item] = []
    if line.prototype and offer.prototype is not None:
        p = offer.prototype
        k = month.index - Month.of(line.since).index + 1
        items.append(Item("subscription", 1, "month", cents(ZERO), f"prototype, month {k} of {p.months}"))
        if volume:
            items.append(
                Item(
                    f"data-{bundle}-free",
                    min(volume, p.free_ko),
                    "ko",
                    cents(ZERO),
                    f"{p.free_ko} ko free per month",
                )
            )
            if volume > p.free_ko:
                over = volume - p.free_ko
                items.append(Item(f"data-{bundle}-over", over, "ko", cents(over * p.over_per_mo / per_ko)))
    else:
        plan = offer.plans[line.plan]
        commitment = line.commitment
        assert commitment is not None
        rate, why = ctx.discounts.get(line.offer, (ZERO, None))
        costs = [
            cents(s.price[commitment] * (1 - rate))
            + cents(max(0, volume - s.allowance_ko) * s.over_per_mo / per_ko)
            for s in plan.steps
        ]
        step = plan.steps[costs.index(min(costs))]
        label = step.name if len(plan.steps) > 1 else None
        price = step.price[commitment]
        note = f"{why}, {price} less {rate * 100:g}%" if why else None
        items.append(Item("subscription", 1, "month", cents(price * (1 - rate)), note, label))
        if volume:
            if min(volume, step.allowance_ko):
                inside = min(volume, step.allowance_ko)
                items.append(Item(f"data-{bundle}-bundle", inside, "ko", cents(ZERO), None, label))
            if volume > step.allowance_ko:
                over = volume - step.allowance_ko
                items.append(
                    Item(
                        f"data-{bundle}-over",
                        over,
                        "ko",
                        cents(over * step.over_per_mo / per_ko),
                        None,
                        label,
                    )
                )
        if offer.activation_fee and month.contains(line.since):
            items.append(Item("activation", 1, "once", cents(offer.activation_fee)))
    if data:
        for zone in catalog.zones:
            ko = usage.data_ko.get(zone, 0)
            if zone not in offer.bundle_zones and ko:
                items.append(
                    Item(f"data-{zone}", ko, "ko", cents(ko * offer.zone_rates_per_mo[zone] / per_ko))
                )
    if "sms" in offer.usage:
        n = sum(
            c for (z, d), c in usage.sms.items() if z in catalog.sms.from_zones and d in catalog.sms.to_dests
        )
        if n:
            note = f"{ctx.sms_price} per SMS: fleet sent {ctx.sms_count}"
            items.append(Item("sms", n, "sms", cents(n * ctx.sms_price), note))
    for call_type, tariff in offer.calls.items():
        n = seconds = beyond = 0
        for (t, z, d), use in usage.calls.items():
            if t == call_type and z in tariff.from_zones and d in tariff.to_dests:
                n += use.calls
                seconds += use.seconds
                beyond += use.beyond.get(tariff.first_period_s, 0)
        if n:
            exact = n * tariff.first_period_price + beyond * tariff.per_second
            items.append(Item(call_type, seconds, "s", cents(exact), f"{n} call{'s' if n > 1 else ''}"))
    for sub in line.options:
        option = catalog.options[sub.id]
        if (option.monthly or not option.once) and Month.of(sub.since).index <= month.index:
            items.append(Item(f"option-{option.id}", 1, "month", cents(option.monthly)))
        if option.once and month.contains(sub.since):
            items.append(Item(f"option-{option.id}-fee", 1, "once", cents(option.once)))
    return items


def ref_invoice(inventory: Inventory, groups: list[Group], catalog: Catalog) -> tuple[Invoice, RatedUsage]:
    valid, issues = valid_lines(inventory, catalog)
    month = inventory.month
    rated = ref_sort(catalog, inventory, groups, valid)
    active = [line for line in valid.values() if is_active(line, month)]
    per_offer: dict[str, int] = defaultdict(int)
    for line in active:
        per_offer[line.offer] += 1
    ctx = fleet_context(catalog, month, fleet_sms_count(catalog, active, rated.lines), per_offer)
    invoice = Invoice(inventory.customer, str(month), catalog.currency, catalog.id, errors=list(issues))
    for line in inventory.lines:
        if line.id not in valid:
            continue
        items = (
            ref_price(catalog, line, rated.lines.get(line.id, LineUsage()), ctx)
            if is_active(line, month)
            else []
        )
        invoice.lines.append(
            LineBill(line.id, line.offer, line.plan, line.commitment, line.prototype, line.group, items)
        )
    invoice.fleet, invoice.quotes, service_issues = fleet_items(catalog, inventory, len(active), rated)
    invoice.errors.extend(service_issues)
    invoice.reject_summary = _reject_summary(rated.rejected)
    invoice.rows_read = rated.rows
    return invoice, rated


def ref_summary(bills: list[LineBill]) -> render.Summary:
    """The readable invoice's sums, plainly: each line's total and sums by family, then by label."""
    totals = []
    lines: dict[str, int] = defaultdict(int)
    sums: dict[str, dict[str, Decimal]] = {}
    steps: dict[str, int] = defaultdict(int)
    for bill in bills:
        totals.append(sum((i.amount for i in bill.items), ZERO))
        label = render._label(bill.offer, bill.plan, bill.commitment, bill.prototype)
        lines[label] += 1
        families: dict[str, Decimal] = {}
        for item in bill.items:
            fam = render.family(item.code)
            families[fam] = families.get(fam, ZERO) + item.amount
            if item.step and item.code == "subscription":
                steps[f"{bill.offer} {bill.plan}: {item.step}"] += 1
        into = sums.setdefault(label, dict.fromkeys(render.FAMILIES, ZERO))
        for fam, amount in families.items():
            into[fam] += amount
    return render.Summary(totals, lines, sums, steps)


def ref_text(invoice: Invoice, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    """The text with the plain sums."""
    with monkeypatch.context() as m:
        m.setattr(render, "summary", ref_summary)
        return invoice.render_text(**kw)


# ----- the months ------------------------------------------------------------------------------------

CALLS = ["voice", "csd"]
DESTS = ["fr-mobile", "fr-fixed", "intl", "nowhere"]


def _groups(rng: random.Random, inventory: Inventory) -> list[Group]:
    ids = [line.id for line in inventory.lines] + ["NOBODY", ""]
    groups: list[Group] = []
    earlier: list[list[Group]] = []
    for line_id in ids:
        if earlier and rng.random() < 0.3:  # the same month as another line
            groups += [g._replace(line=line_id) for g in rng.choice(earlier)]
            continue
        mine = []
        for _ in range(rng.randint(0, 7)):
            kind = rng.choice(["data", "data", "data", "sms", "call", "sms_internet", "location_hit", "code"])
            rows = rng.randint(1, 50)
            line: str | None = line_id or None
            if kind == "data":
                if rng.random() < 0.5:
                    ko = rng.choice([512, 2048, 5120]) * KO + rng.choice([-1, 0, 1, KO, 100 * KO])
                else:
                    ko = rng.randint(0, rng.choice([1, 1000, 2047 * KO, 600 * KO * KO]))
                zone = rng.choice(["fr", "fr", "eu", "world", "", "mars"])
                mine.append(Group(line, "data", zone or None, None, None, None, rows, ko, 0, {}))
            elif kind == "sms":
                mine.append(
                    Group(
                        line, "sms", rng.choice(["fr", "eu"]), rng.choice(DESTS), None, None, rows, 0, 0, {}
                    )
                )
            elif kind == "call":
                n = rng.randint(0, 9)
                secs = n * rng.choice([1, 30, 60, 61, 3601])
                beyond = {p: max(0, secs - p * n) for p in (0, 1, 30, 60)}
                mine.append(
                    Group(
                        line,
                        rng.choice(CALLS),
                        rng.choice(["fr", "eu"]),
                        rng.choice(DESTS),
                        None,
                        None,
                        rows,
                        0,
                        n,
                        beyond,
                    )
                )
            elif kind == "sms_internet":
                dest = rng.choice(["orange-fr", "elsewhere"])
                mine.append(
                    Group(
                        line,
                        "sms_internet",
                        None,
                        dest,
                        rng.choice([True, False, None]),
                        None,
                        rows,
                        0,
                        0,
                        {},
                    )
                )
            elif kind == "location_hit":
                mine.append(Group(line, "location_hit", None, None, None, None, rows, 0, 0, {}))
            else:
                mine.append(
                    Group(line, "data", "fr", None, None, rng.choice(sorted(ROW_REASONS)), rows, 0, 0, {})
                )
        earlier.append(mine)
        groups += mine
    rng.shuffle(groups)
    return groups


def _month(seed: int) -> tuple[Inventory, list[Group]]:
    rng = random.Random(seed)
    doc = _inventory(rng)
    if rng.random() < 0.5:
        doc["services"]["localisation"] = {"since": "2026-01-01"}
    inventory = inventory_from_dict(doc)
    return inventory, _groups(rng, inventory)


def _check(inventory: Inventory, groups: list[Group], monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    run = rate_run(inventory, None, catalog, reader=Aggregated(groups))  # type: ignore[arg-type]
    ref, rated = ref_invoice(inventory, groups, catalog)
    got, want = run.rated, rated
    assert [(repr(g), c, r) for g, c, r in got.rejected] == [(repr(g), c, r) for g, c, r in want.rejected]
    assert (got.sms_internet, got.location_hits, got.rows) == (
        want.sms_internet,
        want.location_hits,
        want.rows,
    )
    assert got.lines == want.lines
    assert [(b.id, repr(b.items)) for b in run.invoice.lines] == [(b.id, repr(b.items)) for b in ref.lines]
    assert run.invoice.to_json() == layout_json(ref.to_dict())
    for kw in ({}, {"all_lines": True}, {"top": 3}):
        assert run.invoice.render_text(**kw) == ref_text(ref, monkeypatch, **kw)
    # the comparison's JSON, written as text, against its document encoded by `json`
    comparison = compare(run)
    assert comparison.to_json() == layout_json(comparison.to_dict())


@pytest.mark.parametrize("seed", range(40))
def test_generated_month_as_the_reference(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(*_month(seed), monkeypatch)


@pytest.mark.parametrize("make", [bench_month, meters_month])
def test_bench_months_as_the_reference(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    doc, groups = make(1_500)
    _check(inventory_from_dict(doc), groups, monkeypatch)


def test_lines_share_items_made_alike() -> None:
    """Lines with the same usage under the same terms share their items (what the writers rely on)."""
    doc, groups = meters_month(200)
    run = rate_run(inventory_from_dict(doc), None, load_catalog(), reader=Aggregated(groups))  # type: ignore[arg-type]
    distinct = {id(i) for b in run.invoice.lines for i in b.items}
    volumes = {g.ko for g in groups}
    assert len(distinct) == 2 + len(volumes)  # the subscription, the bundle full, one overage per volume
