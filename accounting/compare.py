"""Which offer should each line, and the fleet, be on: the same month re-priced on every choice.

Only the month's integer aggregates are re-priced (never the rows), so 10,000 lines compare in
seconds.  A line can take an offer, plan and commitment when the catalog lists that commitment
for the plan (Intense: 36 months only) and the offer prices every kind of usage the line had
(voice calls need a DTMF offer; CSD needs a data offer).  Prototype lines stay as they are.

Fleet discounts depend on the whole fleet, so:
- the per-line table prices each choice with the discounts as they stand today;
- the fleet's best mix is searched under three assumptions (discounts as today, all on, all off),
  and from the mix with the discounts on, each discount it misses is reached by moving the lines
  that cost least to move (`_reach`); each mix is re-priced with the discounts it really earns, and
  the cheapest wins (with one fleet discount, no mix costs less);
- "everyone on X" scenarios move every line that can take X and recompute the discounts.
Fleet services (assistance, SMS Internet, localisation) do not depend on the offers chosen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from operator import itemgetter, mul
from typing import Any, NamedTuple

from accounting.catalog import Catalog, FleetDiscount, Offer, PlanStep
from accounting.charges import (
    OfferTerms,
    PlanPrices,
    bundle_volume,
    least_step,
    offer_cost,
    over_amount,
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
from accounting.invoice import LaidOut, UsageCoverage, json_string, layout_json
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
    catalog: Catalog,
    terms: OfferTerms,
    offer_id: str,
    line: Line,
    usage: LineUsage,
    month: Month,
    amounts: dict[tuple[Any, ...], Decimal] | None = None,
) -> tuple[int, Decimal]:
    """(volume in the bundle zones, the amounts of the offer's items: data outside them, calls,
    activation; `amounts`: as for `offer_cost`)."""
    offer = catalog.offers[offer_id]
    cost = offer_cost(catalog, terms, offer, line.since, month, usage.data_ko, usage.calls, amounts)
    return bundle_volume(terms, usage.data_ko), cost


_PlanCache = dict[tuple[Choice, Decimal], PlanPrices]


def _plan_part(catalog: Catalog, choice: Choice, volume: int, rate: Decimal, cache: _PlanCache) -> Decimal:
    """The amounts of the plan's items (subscription less `rate`, data over the bundle) on its best step."""
    return _plan_prices(catalog, choice, rate, cache).cheapest(catalog, volume)[1]


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
        """The choice of least cost; on a tie today's choice, then the least choice."""
        return _least_choice(self.costs, self.current) if self.costs else self.current

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
    # the days the usage covers when not the whole month (the invoice's): compared on them only
    covers: UsageCoverage | None = None

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
        return {**self._head(), "lines": _line_entries(self.lines, self.best_mix_choices)}

    def _head(self) -> dict[str, Any]:
        """The document's keys before its lines."""

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
            # (a partial month's alone: a whole month's document is as it was)
            **({"usage_covers": self.covers.to_dict()} if self.covers is not None else {}),
        }

    def to_json(self) -> str:
        """`layout_json(self.to_dict())`, the lines' entries written as text (`_line_texts`)."""
        with paused_gc():
            return layout_json({**self._head(), "lines": _line_texts(self.lines, self.best_mix_choices)})

    def render_text(self, top: int = 10) -> str:
        from accounting.render_compare import render_comparison

        return render_comparison(self, top=top)


def elsewhere_in_mix(lc: LineComparison, in_mix: dict[str, Choice]) -> Choice | None:
    """The line's choice in the fleet's best mix when it is not the line's own cheapest, else None.

    A line's cheapest is priced with the fleet discounts as they stand: moved alone, it may take the
    fleet across a discount's threshold (the 50th Business line leaving costs the other 49 their 5%),
    where the best mix puts it elsewhere (the text shows it under the line, `in the best mix: ...`;
    the JSON's `in_best_mix`)."""
    choice = in_mix.get(lc.id)
    return choice if choice is not None and choice != lc.cheapest else None


def _line_entries(lines: list[LineComparison], in_mix: dict[str, Choice]) -> list[dict[str, Any]]:
    """The lines of `Comparison.to_dict`.  The texts of amounts and choices repeat from line to line
    (10,000 lines, some 20 choices each): each is written once (`fmt` reads only the value; a zero is
    written each time, its sign being the one thing equal values can differ in).  `in_mix`: each
    line's choice in the best mix, given as `in_best_mix` where it is not the line's cheapest (a key
    added after the others, so that a reader of the document before it reads it the same)."""
    amounts: dict[Decimal, str] = {}
    names: dict[Choice, str] = {}

    def text(amount: Decimal) -> str:
        if not amount:
            return fmt(amount)
        known = amounts.get(amount)
        if known is None:
            known = amounts[amount] = fmt(amount)
        return known

    def name(choice: Choice | None) -> str:
        if not choice:
            return "prototype"
        known = names.get(choice)
        if known is None:
            known = names[choice] = str(choice)
        return known

    by_cost = itemgetter(1, 0)
    entries = []
    for lc in lines:
        cheapest_total = lc.cheapest_total
        entry = {
            "id": lc.id,
            "current": name(lc.current),
            "current_total_ht": text(lc.current_total),
            "cheapest": name(lc.cheapest),
            "cheapest_total_ht": text(cheapest_total),
            "saving_ht": text(lc.current_total - cheapest_total),
            "options": {name(c): text(v) for c, v in sorted(lc.costs.items(), key=by_cost)},
        }
        elsewhere = elsewhere_in_mix(lc, in_mix)
        if elsewhere is not None:
            entry["in_best_mix"] = name(elsewhere)
        entries.append(entry)
    return entries


_ALIKE_KEPT = 4  # entries kept per (today's choice, bill) to recognise alike lines by their costs


def _line_texts(lines: list[LineComparison], in_mix: dict[str, Choice]) -> LaidOut:
    """The entries of `_line_entries` as `layout_json` writes them, without their dicts: each
    amount's and choice's JSON text made once, and lines alike (the same choice, bill and costs,
    as a fleet of like devices has) written once after their id.  A zero amount's text is made each
    time (its sign is the one thing equal values can differ in): lines holding one are not shared."""
    amounts: dict[Decimal, str] = {}
    names: dict[Choice | None, str] = {}

    def text(amount: Decimal) -> str:
        if not amount:
            return json_string(fmt(amount))
        known = amounts.get(amount)
        if known is None:
            known = amounts[amount] = json_string(fmt(amount))
        return known

    def name(choice: Choice | None) -> str:
        known = names.get(choice)
        if known is None:
            known = names[choice] = json_string(str(choice) if choice else "prototype")
        return known

    by_cost = itemgetter(1, 0)
    alike: dict[tuple[Choice | None, str], list[tuple[dict[Choice, Decimal], str, Choice | None]]] = {}
    name_of, amount_of = names.get, amounts.get
    mix_of = in_mix.get
    out = LaidOut()
    for lc in lines:
        costs = lc.costs
        shared = bool(lc.current_total) and all(costs.values())
        rest = None
        seen: list[tuple[dict[Choice, Decimal], str, Choice | None]] = []
        if shared:
            seen = alike.setdefault((lc.current, str(lc.current_total)), seen)
            for known_costs, known_rest, known_cheapest in seen:
                if known_costs == costs:
                    rest, cheapest = known_rest, known_cheapest
                    break
        if rest is None:
            cheapest, cheapest_total = lc.cheapest, lc.cheapest_total
            # (the texts looked up inline, made by `name` / `text` the first time: a zero is never kept)
            options = ", ".join(
                [
                    f"{name_of(c) or name(c)}: {amount_of(v) or text(v)}"
                    for c, v in sorted(costs.items(), key=by_cost)
                ]
            )
            rest = (
                f'"current": {name(lc.current)}, "current_total_ht": {text(lc.current_total)}, '
                f'"cheapest": {name(cheapest)}, "cheapest_total_ht": {text(cheapest_total)}, '
                f'"saving_ht": {text(lc.current_total - cheapest_total)}, "options": {{{options}}}}}'
            )
            if shared and len(seen) < _ALIKE_KEPT:
                seen.append((costs, rest, cheapest))
        # (a line's place in the best mix is its own: lines alike may be split between two choices;
        # `elsewhere_in_mix` inline, a call per line being a tenth of the time here)
        in_mix_choice = mix_of(lc.id)
        if in_mix_choice is not None and in_mix_choice != cheapest:
            out.append(
                f'    {{"id": {json_string(lc.id)}, {rest[:-1]}, "in_best_mix": {name(in_mix_choice)}}}'
            )
        else:
            out.append(f'    {{"id": {json_string(lc.id)}, {rest}')
    return out


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
    table = _ChoiceTable.of(catalog, choices, today_ctx, rates_all, {})
    # Lines of the same choice, activation date and month's usage cost the same on every choice:
    # their variable costs are worked out once (a fleet of like devices has few distinct months).
    alike: dict[tuple[Any, ...], _Costs] = {}
    line_costs: dict[tuple[int, str], dict[Choice, Decimal]] = {}  # (variable costs, bill as written)
    # The lines of one `_Costs` (and so of one choice today) move alike in every mix below: a mix is
    # priced per class, each class counted as many times as it has lines.
    classes: dict[int, tuple[_Costs, Choice, list[str]]] = {}
    discounted_now = today_ctx.discounts
    fixed_all = ZERO  # the fixed parts of every line (each mix below moves them all)
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
            today_rate = discounted_now.get(line.offer, (ZERO, ""))[0]
            var_now, on, off = _variable_costs(table, today_rate, current, line, usage, month)
            now = {c: (on[c] if c.offer in discounted_now else v) for c, v in off.items()}
            known = alike[key] = _Costs(var_now, on, off, now, table.refusals(usage))
            classes[id(known)] = (known, current, [])
        classes[id(known)][2].append(line.id)
        part = total - known.var_now
        fixed_all += part
        # alike lines with the same bill have the same costs: summed once, each line a copy
        costs = line_costs.get((id(known), str(total)))
        if costs is None:  # (the first line's own; the next ones' copies of it)
            costs = line_costs[(id(known), str(total))] = {c: part + v for c, v in known.now.items()}
            comparisons.append(LineComparison(line.id, current, total, costs))
        else:
            comparisons.append(LineComparison(line.id, current, total, dict(costs)))
    protos = sum((bills[line.id].total for line in active if line.prototype), ZERO)
    kinds = list(classes.values())
    base_counts: dict[str, int] = defaultdict(int)  # the prototypes, on their offers in every mix
    for line in active:
        if line.prototype:
            base_counts[line.offer] += 1

    def price_mix(picks: list[Choice], split: _Split | None = None) -> tuple[Decimal, FleetContext, int]:
        """A mix given as each class's choice (`split`: but so many lines of one class on another
        choice): its total, its fleet context, the lines it moves."""
        counts = base_counts.copy()
        moved = 0
        for (_, now, lids), pick in zip(kinds, picks, strict=True):
            counts[pick.offer] += len(lids)
            if pick != now:
                moved += len(lids)
        if split is not None:
            k, target, n = split
            now, pick = kinds[k][1], picks[k]
            counts[target.offer] += n
            counts[pick.offer] -= n
            moved += n * ((target != now) - (pick != now))
        ctx = fleet_context(catalog, month, today_ctx.sms_count, counts)
        discounted = ctx.discounts
        total = fleet_fixed + protos + fixed_all
        for (costs, _, lids), pick in zip(kinds, picks, strict=True):
            cost = (costs.on if pick.offer in discounted else costs.off)[pick]
            total += cost if len(lids) == 1 else len(lids) * cost
        if split is not None:
            k, target, n = split
            costs, rest = kinds[k][0], picks[k]
            total += n * (
                (costs.on if target.offer in discounted else costs.off)[target]
                - (costs.on if rest.offer in discounted else costs.off)[rest]
            )
        return total, ctx, moved

    today = Scenario("today", invoice.total, 0, _discount_names(today_ctx))
    best: tuple[Decimal, FleetContext, int, list[Choice], _Split | None] | None = None
    for assume in ("today", "on", "off"):
        picks = [_cheapest(costs, now, assume) for costs, now, _ in kinds]
        mixes: list[tuple[list[Choice], _Split | None]] = [(picks, None)]
        if assume == "on":  # each discount the mix misses, reached by the lines cheapest to move
            for discount in catalog.fleet_discounts:
                reached = _reach(kinds, base_counts, discount, picks)
                if reached is not None:
                    mixes.append(reached)
        for mix, split in mixes:
            total, ctx, moved = price_mix(mix, split)
            if best is None or total < best[0]:
                best = (total, ctx, moved, mix, split)
    assert best is not None
    best_mix = Scenario("best choice per line", best[0], best[2], _discount_names(best[1]))
    best_choices = {lid: pick for (_, _, lids), pick in zip(kinds, best[3], strict=True) for lid in lids}
    if best[4] is not None:  # a class split by `_reach`: its first lines moved
        k, target, n = best[4]
        best_choices.update(dict.fromkeys(kinds[k][2][:n], target))
    # "Every line that can on X": classes alike in today's choice and in the choices they can take
    # (the same keys) all move or all stay; a set of them is summed at once, per choice.
    sets: dict[tuple[tuple[bool, ...], Choice], _Set] = {}
    for kind, current, lids in kinds:
        same = sets.get((kind.refused, current))
        if same is None:
            same = sets[(kind.refused, current)] = _Set(current, kind.off.keys(), [], [], [], [], [], [0])
        if len(lids) == 1:
            same.ons1.append(kind.on)
            same.offs1.append(kind.off)
        else:
            same.weights.append(Decimal(len(lids)))
            same.ons.append(kind.on)
            same.offs.append(kind.off)
        same.lines[0] += len(lids)
    uniform = []
    for choice in choices:
        counts = base_counts.copy()
        moved = 0
        picks = []
        for same in sets.values():
            pick = choice if choice in same.choices else same.now
            n = same.lines[0]
            counts[pick.offer] += n
            if pick != same.now:
                moved += n
            picks.append(pick)
        if not moved and not any(same.now == choice for same in sets.values()):
            continue
        ctx = fleet_context(catalog, month, today_ctx.sms_count, counts)
        discounted = ctx.discounts
        total = fleet_fixed + protos + fixed_all
        for same, pick in zip(sets.values(), picks, strict=True):
            get = itemgetter(pick)
            with_discount = pick.offer in discounted
            total += sum(map(get, same.ons1 if with_discount else same.offs1), ZERO)
            if same.weights:
                tables = same.ons if with_discount else same.offs
                total += sum(map(mul, same.weights, map(get, tables)), ZERO)
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
        {lc.id: best_choices[lc.id] for lc in comparisons if lc.current is not None},
        uniform,
        [(s.reason, s.count) for s in invoice.reject_summary],
        sorted(((rule, len(ids)) for rule, ids in rules.items()), key=lambda kv: (-kv[1], kv[0])),
        invoice.coverage,
    )


def _usage_key(usage: LineUsage) -> tuple[Any, ...]:
    """Everything of a line's month that the prices of `_variable_costs` read, as a hashable value."""
    calls = tuple(
        sorted((k, c.calls, c.seconds, tuple(sorted(c.beyond.items()))) for k, c in usage.calls.items())
    )
    return (tuple(sorted(usage.data_ko.items())), tuple(sorted(usage.sms.items())), calls)


_Priced = tuple[Choice, tuple[Decimal, ...], tuple[Decimal, ...] | None]


class _OfferChoices(NamedTuple):
    """An offer's choices as the comparison prices them, worked out once per comparison."""

    offer: Offer
    terms: OfferTerms
    # what its offer part reads (two offers alike in it give every line the same part)
    part_key: tuple[Any, ...]
    # per plan: its steps, and its choices: (choice, each step's subscription amount without
    # discount, with the fleet discount or None: no discount)
    plans: tuple[tuple[tuple[PlanStep, ...], tuple[_Priced, ...]], ...]


@dataclass
class _ChoiceTable:
    """The catalog's choices grouped by offer and plan, with what pricing them on a line's month reads."""

    catalog: Catalog
    offers: tuple[_OfferChoices, ...]
    plans: _PlanCache
    # the usage's kinds (data or not, SMS keys, call keys) -> which offers refuse it, in `offers` order
    refused: dict[tuple[Any, ...], tuple[bool, ...]] = field(default_factory=dict)
    # (price per Mo, ko over the allowance) -> the overage's amount (`over_amount`)
    overs: dict[tuple[Decimal, int], Decimal] = field(default_factory=dict)
    # the offer parts' rounded amounts of data and calls, by what they are made of (`offer_cost`)
    amounts: dict[tuple[Any, ...], Decimal] = field(default_factory=dict)

    @staticmethod
    def of(
        catalog: Catalog,
        choices: list[Choice],
        today_ctx: FleetContext,
        rates_all: Mapping[str, tuple[Decimal, str]],
        plans: _PlanCache,
    ) -> _ChoiceTable:
        by_plan: dict[str, dict[str, list[_Priced]]] = {}
        for choice in choices:
            rate = rates_all.get(choice.offer, (ZERO, ""))[0]
            off = _plan_prices(catalog, choice, ZERO, plans).subscriptions
            on = _plan_prices(catalog, choice, rate, plans).subscriptions if rate else None
            by_plan.setdefault(choice.offer, {}).setdefault(choice.plan, []).append((choice, off, on))
        offers = []
        for offer_id, priced in by_plan.items():
            offer = catalog.offers[offer_id]
            terms = today_ctx.offer_terms(catalog, offer)
            calls = tuple(
                (t, c.from_zones, c.to_dests, c.first_period_s, c.first_period_price, c.per_second)
                for t, c in offer.calls.items()
            )
            part_key = (terms.data, terms.bundle_zones, terms.outside, calls, offer.activation_fee)
            plans_priced = tuple((offer.plans[p].steps, tuple(c)) for p, c in priced.items())
            offers.append(_OfferChoices(offer, terms, part_key, plans_priced))
        return _ChoiceTable(catalog, tuple(offers), plans)

    def refusals(self, usage: LineUsage) -> tuple[bool, ...]:
        """For each offer, whether it refuses some of the usage (`refused_usage`, once per kind of month)."""
        key = (bool(usage.data_ko), tuple(usage.sms), tuple(usage.calls))
        known = self.refused.get(key)
        if known is None:
            catalog = self.catalog
            known = self.refused[key] = tuple(
                bool(refused_usage(catalog, o.offer, usage)) for o in self.offers
            )
        return known


def _plan_prices(catalog: Catalog, choice: Choice, rate: Decimal, cache: _PlanCache) -> PlanPrices:
    prices = cache.get((choice, rate))
    if prices is None:
        plan = catalog.offers[choice.offer].plans[choice.plan]
        prices = cache[(choice, rate)] = PlanPrices.of(plan, choice.commitment, rate)
    return prices


def _variable_costs(
    table: _ChoiceTable,
    today_rate: Decimal,
    current: Choice,
    line: Line,
    usage: LineUsage,
    month: Month,
) -> tuple[Decimal, dict[Choice, Decimal], dict[Choice, Decimal]]:
    """A line's variable cost today, and on every choice it can take with the fleet discounts on / off.

    Each choice's amount is `variable_cost`'s, worked out in shares: the offer part once per offer
    alike in it, a step's overage once per plan (its choices differ in commitment and discount only)
    and looked up by price and ko over the allowance (`over_amount` reads nothing else).
    """
    catalog = table.catalog
    overs = table.overs
    on: dict[Choice, Decimal] = {}
    off: dict[Choice, Decimal] = {}
    var_now: Decimal | None = None
    parts: dict[tuple[Any, ...], tuple[int, Decimal]] = {}
    for entry, refused in zip(table.offers, table.refusals(usage), strict=True):
        # an offer that refuses some of the usage is no choice (today's own choice stays listed)
        if refused and entry.offer.id != current.offer:
            continue
        part = parts.get(entry.part_key)
        if part is None:
            part = parts[entry.part_key] = _offer_part(
                catalog, entry.terms, entry.offer.id, line, usage, month, table.amounts
            )
        volume, extra = part
        for steps, priced in entry.plans:
            over = []
            for step in steps:
                allowance = step.allowance_ko
                okey = (step.over_per_mo, volume - allowance if volume > allowance else 0)
                amount = overs.get(okey)
                if amount is None:
                    amount = overs[okey] = over_amount(catalog, step, volume)
                over.append(amount)
            # one step: its overage and the offer part added once for the plan's choices (exact sums
            # of amounts in cents, in any order the same Decimal, its exponent and a zero's sign too)
            single = len(over) == 1
            rest = over[0] + extra if single else extra
            for choice, subs_off, subs_on in priced:
                if refused and choice != current:
                    continue
                cost = subs_off[0] + rest if single else least_step(subs_off, over)[1] + extra
                off[choice] = cost
                if subs_on is None:
                    on[choice] = cost
                else:
                    on[choice] = subs_on[0] + rest if single else least_step(subs_on, over)[1] + extra
                if choice == current:
                    subs = _plan_prices(catalog, choice, today_rate, table.plans).subscriptions
                    var_now = least_step(subs, over)[1] + extra
    if var_now is None:  # today's choice is not in the catalog's list: priced on its own
        var_now = variable_cost(catalog, current, line, usage, month, today_rate, table.plans)
    return var_now, on, off


class _Costs(NamedTuple):
    """A line's variable costs: today, on every choice it can take with the fleet discounts on and off,
    and with the discounts as they stand today (the choices of `off`, in its order)."""

    var_now: Decimal
    on: dict[Choice, Decimal]
    off: dict[Choice, Decimal]
    now: dict[Choice, Decimal]
    refused: tuple[bool, ...]  # the offers that refuse some of the usage (`_ChoiceTable.refusals`)


class _Set(NamedTuple):
    """Classes of lines with the same choice today and the same choices they can take: the
    classes of one line (most of a large fleet's, whose lines' months differ), then the others
    with their lines as a `Decimal` (a product of two Decimals is cheaper than of a Decimal and
    an int, which is made a Decimal first)."""

    now: Choice
    choices: Collection[Choice]
    ons1: list[dict[Choice, Decimal]]  # each one-line class's costs with the fleet discounts on
    offs1: list[dict[Choice, Decimal]]
    weights: list[Decimal]  # each other class's lines
    ons: list[dict[Choice, Decimal]]  # each other class's costs with the fleet discounts on
    offs: list[dict[Choice, Decimal]]
    lines: list[int]  # [the lines of every class]


# Part of a class on another choice than the class's in a mix: (the class, the choice, its lines).
_Split = tuple[int, Choice, int]


def _reach(
    kinds: list[tuple[_Costs, Choice, list[str]]],
    base_counts: Mapping[str, int],
    discount: FleetDiscount,
    picks: list[Choice],
) -> tuple[list[Choice], _Split | None] | None:
    """The mix `picks` (each class's cheapest choice with the fleet discounts on) with enough more
    lines moved onto the discount's offers to earn it, or None (it earns it already, or cannot).

    A line moved costs what its cheapest choice among those offers costs beyond its pick (discounts
    on); the lines that cost least to move are moved, as many as the discount misses (whole
    classes, and maybe part of the last one: the split).  Of the mixes that earn the discount,
    none costs less (a line's cost, the discounts given, does not depend on the others' choices);
    of those that do not, none costs less than the mix with the discounts off.  So with one fleet
    discount the best mix is this one, the mix with the discounts on, or the one with them off.
    (A line moved costs more itself; the discount it earns the others pays for it.)
    """
    offers = discount.offers
    have = sum(base_counts.get(o, 0) for o in offers)
    have += sum(len(lids) for (_, _, lids), pick in zip(kinds, picks, strict=True) if pick.offer in offers)
    missing = discount.min_lines - have
    if missing <= 0:
        return None
    moves = []  # (extra cost, class, choice to move to)
    for k, ((costs, now, _), pick) in enumerate(zip(kinds, picks, strict=True)):
        if pick.offer in offers:
            continue
        targets = {c: v for c, v in costs.on.items() if c.offer in offers}
        if targets:
            target = _least_choice(targets, now)
            moves.append((targets[target] - costs.on[pick], k, target))
    if sum(len(kinds[k][2]) for _, k, _ in moves) < missing:
        return None
    moved = picks.copy()
    for _, k, target in sorted(moves, key=itemgetter(0, 1)):
        n = len(kinds[k][2])
        if n > missing:
            return moved, (k, target, missing)
        moved[k] = target
        missing -= n
        if not missing:
            break
    return moved, None


def _cheapest(costs: _Costs, now: Choice, assume: str) -> Choice:
    """The choice of least cost under the assumption; on a tie today's choice, then the least choice."""
    return _least_choice(costs.on if assume == "on" else costs.off if assume == "off" else costs.now, now)


def _least_choice(costs: Mapping[Choice, Decimal], now: Choice | None) -> Choice:
    """The choice of least cost (`costs` not empty); on a tie `now`, then the least choice."""
    least = min(costs.values())
    if now is not None and costs.get(now) == least:
        return now
    return min(c for c, v in costs.items() if v == least)


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
