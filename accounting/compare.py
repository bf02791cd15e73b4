"""Which offer should each line, and the fleet, be on: the same month re-priced on every choice.

Only the month's integer aggregates are re-priced (never the rows), so 10,000 lines compare in
seconds.  A line can take an offer, plan and commitment when the catalog lists that commitment
for the plan (Intense: 36 months only) and the offer prices every kind of usage the line had
(voice calls need a DTMF offer; CSD needs a data offer).  Prototype lines stay as they are.

Fleet discounts depend on the whole fleet, so:
- the per-line table prices each choice with the discounts as they stand today;
- the fleet's best mix is searched under three assumptions (discounts as today, all on, all off);
  each resulting mix is re-priced with the discounts it really earns, and the cheapest wins;
- "everyone on X" scenarios move every line that can take X and recompute the discounts.
Fleet services (assistance, SMS Internet, localisation) do not depend on the offers chosen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple

from accounting.catalog import Catalog
from accounting.charges import (
    OfferTerms,
    PlanPrices,
    bundle_volume,
    offer_cost,
)
from accounting.engine import (
    FleetContext,
    LineUsage,
    RatingRun,
    fleet_context,
    fleet_sms_count,
    refused_usage,
)
from accounting.inventory import Line, Month, is_active
from accounting.invoice import layout_json
from accounting.money import ZERO, fmt
from m2msim.gcpause import paused_gc


class Choice(NamedTuple):
    """An offer, plan and commitment (a tuple: hashed, compared and ordered field by field, in C)."""

    offer: str
    plan: str
    commitment: int

    def __str__(self) -> str:
        return f"{self.offer} {self.plan} {self.commitment} m"


def all_choices(catalog: Catalog) -> list[Choice]:
    return [
        Choice(o.id, p.id, c)
        for o in catalog.offers.values()
        for p in o.plans.values()
        for c in p.commitments
    ]


def _offer_part(
    catalog: Catalog, terms: OfferTerms, offer_id: str, line: Line, usage: LineUsage, month: Month
) -> tuple[int, Decimal]:
    """(volume in the bundle zones, the amounts of the offer's items: data outside them, calls, activation)."""
    cost = offer_cost(catalog, terms, catalog.offers[offer_id], line.since, month, usage.data_ko, usage.calls)
    return bundle_volume(terms, usage.data_ko), cost


_PlanCache = dict[tuple[Choice, Decimal], PlanPrices]


def _plan_part(catalog: Catalog, choice: Choice, volume: int, rate: Decimal, cache: _PlanCache) -> Decimal:
    """The amounts of the plan's items (subscription less `rate`, data over the bundle) on its best step."""
    prices = cache.get((choice, rate))
    if prices is None:
        plan = catalog.offers[choice.offer].plans[choice.plan]
        prices = cache[(choice, rate)] = PlanPrices.of(plan, choice.commitment, rate)
    return prices.cheapest(catalog, volume)[1]


def variable_cost(
    catalog: Catalog,
    choice: Choice,
    line: Line,
    usage: LineUsage,
    month: Month,
    rate: Decimal,
    cache: _PlanCache | None = None,
) -> Decimal:
    """Subscription, data and calls of a line on a choice: the part of its bill that depends on it."""
    terms = OfferTerms.of(catalog, catalog.offers[choice.offer])
    volume, extra = _offer_part(catalog, terms, choice.offer, line, usage, month)
    return _plan_part(catalog, choice, volume, rate, {} if cache is None else cache) + extra


@dataclass
class LineComparison:
    id: str
    current: Choice | None  # None: a prototype, kept as is
    current_total: Decimal
    costs: dict[Choice, Decimal] = field(default_factory=dict)  # with today's discounts

    @property
    def cheapest(self) -> Choice | None:
        if not self.costs:
            return self.current
        return min(self.costs, key=lambda c: (self.costs[c], c != self.current, c))

    @property
    def cheapest_total(self) -> Decimal:
        # the cheapest choice costs the least of the costs, however its ties are broken (a report
        # sorts 10,000 lines by the saving: the minimum is taken without ranking the choices)
        return min(self.costs.values()) if self.costs else self.current_total

    @property
    def saving(self) -> Decimal:
        return self.current_total - self.cheapest_total


@dataclass(frozen=True)
class Scenario:
    name: str
    total: Decimal
    lines_moved: int
    discounts: tuple[str, ...]


@dataclass
class Comparison:
    customer: str
    month: str
    currency: str
    lines: list[LineComparison]
    today: Scenario
    best_mix: Scenario
    best_mix_choices: dict[str, Choice]
    uniform: list[Scenario]
    # What the comparison leaves out, and why: usage rows (by reason) and lines (by rule)
    rows_left_out: list[tuple[str, int]] = field(default_factory=list)
    lines_left_out: list[tuple[str, int]] = field(default_factory=list)

    @property
    def left_out(self) -> dict[str, Any]:
        return {
            "rows": sum(n for _, n in self.rows_left_out),
            "rows_by_reason": [{"reason": r, "count": n} for r, n in self.rows_left_out],
            "lines": sum(n for _, n in self.lines_left_out),
            "lines_by_rule": [{"rule": r, "count": n} for r, n in self.lines_left_out],
        }

    @property
    def scenarios(self) -> list[Scenario]:
        return [self.today, self.best_mix, *self.uniform]

    @property
    def cheapest(self) -> Scenario:
        return min(self.scenarios, key=lambda s: s.total)

    @property
    def saving(self) -> Decimal:
        return self.today.total - self.cheapest.total

    def to_dict(self) -> dict[str, Any]:
        def scen(s: Scenario) -> dict[str, Any]:
            return {
                "name": s.name,
                "total_ht": fmt(s.total),
                "lines_moved": s.lines_moved,
                "discounts": list(s.discounts),
            }

        return {
            "customer": self.customer,
            "month": self.month,
            "currency": self.currency,
            "left_out": self.left_out,
            "fleet": {
                "today": scen(self.today),
                "cheapest": scen(self.cheapest),
                "saving_ht": fmt(self.saving),
                "scenarios": [scen(s) for s in sorted(self.scenarios, key=lambda s: (s.total, s.name))],
            },
            "lines": [
                {
                    "id": lc.id,
                    "current": str(lc.current) if lc.current else "prototype",
                    "current_total_ht": fmt(lc.current_total),
                    "cheapest": str(lc.cheapest) if lc.cheapest else "prototype",
                    "cheapest_total_ht": fmt(lc.cheapest_total),
                    "saving_ht": fmt(lc.saving),
                    "options": {
                        str(c): fmt(v) for c, v in sorted(lc.costs.items(), key=lambda kv: (kv[1], kv[0]))
                    },
                }
                for lc in self.lines
            ],
        }

    def to_json(self) -> str:
        return layout_json(self.to_dict())

    def render_text(self, top: int = 10) -> str:
        from accounting.render_compare import render_comparison

        return render_comparison(self, top=top)


def _discount_names(ctx: FleetContext) -> tuple[str, ...]:
    return tuple(sorted({why.split(":")[0] for _, why in ctx.discounts.values()}))


def compare(run: RatingRun) -> Comparison:
    """Compare every choice for every line of a rated month (see the module's note on discounts)."""
    with paused_gc():  # see m2msim.gcpause: many small objects, no cycles
        return _compare(run)


def _compare(run: RatingRun) -> Comparison:
    catalog, inv, invoice = run.catalog, run.inventory, run.invoice
    month = inv.month
    today_ctx = _context_of(run, {})
    bills = {b.id: b for b in invoice.lines}
    fleet_fixed = sum((i.amount for i in invoice.fleet), ZERO)
    choices = all_choices(catalog)
    empty = LineUsage()
    active = [line for line in run.valid.values() if is_active(line, month)]
    rates_all = {o: (d.rate, d.name) for d in catalog.fleet_discounts for o in d.offers}
    # fixed part (SMS, options) and variable costs per line, choice and discount state
    comparisons: list[LineComparison] = []
    fixed: dict[str, Decimal] = {}
    cost_on: dict[str, dict[Choice, Decimal]] = {}
    cost_off: dict[str, dict[Choice, Decimal]] = {}
    plans: _PlanCache = {}
    # Lines of the same choice, activation date and month's usage cost the same on every choice:
    # their variable costs are worked out once (a fleet of like devices has few distinct months).
    alike: dict[tuple[Any, ...], tuple[Decimal, dict[Choice, Decimal], dict[Choice, Decimal]]] = {}
    line_costs: dict[tuple[int, str], dict[Choice, Decimal]] = {}  # (variable costs, bill as written)
    for line in active:
        usage = run.rated.lines.get(line.id, empty)
        total = bills[line.id].total
        if line.prototype:
            comparisons.append(LineComparison(line.id, None, total))
            continue
        current = Choice(line.offer, line.plan, line.commitment or 0)
        key = (current, line.since, _usage_key(usage))
        known = alike.get(key)
        if known is None:
            known = alike[key] = _variable_costs(
                catalog, choices, today_ctx, rates_all, current, line, usage, month, plans
            )
        var_now, on, off = known
        fixed[line.id] = part = total - var_now
        cost_on[line.id], cost_off[line.id] = on, off
        # alike lines with the same bill have the same costs: summed once, each line a copy
        costs = line_costs.get((id(known), str(total)))
        if costs is None:
            costs = line_costs[(id(known), str(total))] = {
                choice: part + (on[choice] if choice.offer in today_ctx.discounts else off[choice])
                for choice in off
            }
        comparisons.append(LineComparison(line.id, current, total, dict(costs)))
    protos = sum((bills[line.id].total for line in active if line.prototype), ZERO)

    fixed_all = sum(fixed.values(), ZERO)  # a mix of every line (each one below) sums them alike

    def price_mix(mix: Mapping[str, Choice]) -> tuple[Decimal, FleetContext]:
        counts: dict[str, int] = defaultdict(int)
        for line in active:
            counts[mix[line.id].offer if line.id in mix else line.offer] += 1
        ctx = fleet_context(catalog, month, today_ctx.sms_count, counts)
        discounted = ctx.discounts
        if mix.keys() == fixed.keys():
            total = fleet_fixed + protos + fixed_all
        else:
            total = fleet_fixed + protos + sum((fixed[lid] for lid in mix), ZERO)
        total += sum(
            (
                (cost_on if choice.offer in discounted else cost_off)[lid][choice]
                for lid, choice in mix.items()
            ),
            ZERO,
        )
        return total, ctx

    current_mix = {lc.id: lc.current for lc in comparisons if lc.current is not None}
    today = Scenario("today", invoice.total, 0, _discount_names(today_ctx))
    best: tuple[Decimal, FleetContext, dict[str, Choice]] | None = None
    for assume in ("today", "on", "off"):
        mix: dict[str, Choice] = {}
        picked: dict[tuple[int, Choice], Choice] = {}  # alike lines (the same tables) pick alike
        for lid, now in current_mix.items():
            on, off = cost_on[lid], cost_off[lid]
            pick = picked.get((id(off), now))
            if pick is None:
                pick = picked[(id(off), now)] = _cheapest(on, off, now, assume, today_ctx)
            mix[lid] = pick
        total, ctx = price_mix(mix)
        if best is None or total < best[0]:
            best = (total, ctx, mix)
    assert best is not None
    moved = sum(1 for lid, c in best[2].items() if c != current_mix[lid])
    best_mix = Scenario("best choice per line", best[0], moved, _discount_names(best[1]))
    uniform = []
    for choice in choices:
        mix = {lid: (choice if choice in cost_off[lid] else cur) for lid, cur in current_mix.items()}
        moved = sum(1 for lid, c in mix.items() if c != current_mix[lid])
        if not moved and not any(c == choice for c in current_mix.values()):
            continue
        total, ctx = price_mix(mix)
        uniform.append(Scenario(f"every line that can, on {choice}", total, moved, _discount_names(ctx)))
    rules: dict[str, set[str]] = defaultdict(set)
    for issue in invoice.errors:
        if issue.line:
            rules[issue.rule].add(issue.line)
    return Comparison(
        inv.customer,
        str(month),
        catalog.currency,
        comparisons,
        today,
        best_mix,
        best[2],
        uniform,
        [(s.reason, s.count) for s in invoice.reject_summary],
        sorted(((rule, len(ids)) for rule, ids in rules.items()), key=lambda kv: (-kv[1], kv[0])),
    )


def _usage_key(usage: LineUsage) -> tuple[Any, ...]:
    """Everything of a line's month that the prices of `_variable_costs` read, as a hashable value."""
    calls = tuple(
        sorted((k, c.calls, c.seconds, tuple(sorted(c.beyond.items()))) for k, c in usage.calls.items())
    )
    return (tuple(sorted(usage.data_ko.items())), tuple(sorted(usage.sms.items())), calls)


def _variable_costs(
    catalog: Catalog,
    choices: list[Choice],
    today_ctx: FleetContext,
    rates_all: Mapping[str, tuple[Decimal, str]],
    current: Choice,
    line: Line,
    usage: LineUsage,
    month: Month,
    plans: _PlanCache,
) -> tuple[Decimal, dict[Choice, Decimal], dict[Choice, Decimal]]:
    """A line's variable cost today, and on every choice it can take with the fleet discounts on / off."""
    var_now = variable_cost(
        catalog, current, line, usage, month, today_ctx.discounts.get(line.offer, (ZERO, ""))[0], plans
    )
    on: dict[Choice, Decimal] = {}
    off: dict[Choice, Decimal] = {}
    parts: dict[str, tuple[int, Decimal] | None] = {}
    for choice in choices:
        if choice.offer not in parts:
            refused = bool(refused_usage(catalog, catalog.offers[choice.offer], usage))
            # an offer that refuses some of the usage is no choice (today's own choice stays listed)
            terms = today_ctx.offer_terms(catalog, catalog.offers[choice.offer])
            parts[choice.offer] = (
                None if refused else _offer_part(catalog, terms, choice.offer, line, usage, month)
            )
        part = parts[choice.offer]
        if part is None and choice == current:
            terms = today_ctx.offer_terms(catalog, catalog.offers[choice.offer])
            part = _offer_part(catalog, terms, choice.offer, line, usage, month)
        if part is None:
            continue
        volume, extra = part
        off[choice] = _plan_part(catalog, choice, volume, ZERO, plans) + extra
        rate = rates_all.get(choice.offer, (ZERO, ""))[0]
        on[choice] = _plan_part(catalog, choice, volume, rate, plans) + extra if rate else off[choice]
    return var_now, on, off


def _cheapest(
    on: Mapping[Choice, Decimal], off: Mapping[Choice, Decimal], now: Choice, assume: str, today: FleetContext
) -> Choice:
    def cost(c: Choice) -> Decimal:
        if assume == "on" or (assume == "today" and c.offer in today.discounts):
            return on[c]
        return off[c]

    return min(off, key=lambda c: (cost(c), c != now, c))


def _context_of(run: RatingRun, moves: Mapping[str, Choice]) -> FleetContext:
    month = run.inventory.month
    counts: dict[str, int] = defaultdict(int)
    lines = [
        replace(line, offer=moves[line.id].offer) if line.id in moves else line for line in run.valid.values()
    ]
    for line in lines:
        if is_active(line, month):
            counts[line.offer] += 1
    active = [line for line in lines if is_active(line, month)]
    return fleet_context(run.catalog, month, fleet_sms_count(run.catalog, active, run.rated.lines), counts)
