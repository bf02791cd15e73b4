"""The rating engine: catalog + inventory + aggregated usage -> invoice.

Generic: every price, step, zone and rule comes from the `Catalog`.  Usage arrives as integer
aggregates per line (see `accounting.usage`); this module decides what each aggregate is (billed,
or rejected with a reason) and prices it exactly with `Decimal`, rounding once per item.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from accounting.activation import (
    BEFORE_ACTIVATION,
    LINE_NOT_YET_ACTIVE,
    LINE_TYPES,
    EarlyLines,
    activation_cutoffs,
    reason_for,
    split,
)
from accounting.catalog import Catalog, Offer, load_catalog, pick_step
from accounting.charges import (
    CallUse,
    OfferTerms,
    PlanPrices,
    activation_items,
    bundle_items,
    bundle_volume,
    call_items,
    option_items,
    outside_data_items,
    prototype_items,
    sms_item,
    subscription_item,
)
from accounting.errors import AccountingError
from accounting.fleet import fleet_items
from accounting.inventory import Inventory, InventoryIssue, Line, Month, check_lines, is_active
from accounting.invoice import Invoice, Item, LineBill, Reject, RejectSummary
from accounting.money import ZERO
from accounting.usage import (
    ROW_REASONS,
    Group,
    RejectedKey,
    UsageReader,
    UsageSource,
    file_identity,
    month_bounds,
)
from m2msim.gcpause import paused_gc

if TYPE_CHECKING:
    from accounting.usage_parts import PartAggregates  # a run's parts, aggregated where written

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_LISTED_REJECTS = 100_000

UNKNOWN_LINE = "unknown line"
LINE_NOT_BILLED = "line not billed (inventory error)"
LINE_NOT_ACTIVE = "line not active in the month"
NOT_IN_OFFER = "service not in the offer"
NOT_PRICED = "price not in this catalog"
REJECT_CATEGORIES = (
    UNKNOWN_LINE,
    LINE_NOT_BILLED,
    LINE_NOT_ACTIVE,
    LINE_NOT_YET_ACTIVE,
    NOT_IN_OFFER,
    NOT_PRICED,
    "malformed value",
    "malformed row",
    "impossible value",
    "duplicate record",
    "outside the billing month",
)


_BOM = "\ufeff"


def unknown_line(lid: str, known: Collection[str]) -> str:
    """The reason of a row whose line is not in the inventory (`known`, its lines' ids).  A line
    that begins with a byte-order mark (U+FEFF, invisible: files joined by `cat`, each a
    spreadsheet's "CSV UTF-8" export, leave one at the start of the row where a file begins;
    every CSV reader keeps it there as text) says so, and whether the line is one without it."""
    if not lid.startswith(_BOM):
        return f"unknown line {lid!r}"
    bare = lid.lstrip(_BOM)
    return (
        f"unknown line {lid!r}: it begins with a byte-order mark (U+FEFF, invisible), as where "
        "files joined by cat meet (a file's first bytes)"
        + (f"; line {bare!r} without it" if bare in known else "")
        + ": remove it, or join the files leaving out each one's first 3 bytes (tail -c +4 FILE)"
    )


def reject_category(reason: str) -> str:
    """The category a reject's reason belongs to (its leading words)."""
    return next((c for c in REJECT_CATEGORIES if reason.startswith(c)), reason)


@dataclass(slots=True)
class LineUsage:
    """A line's month, in integers: ko per zone, SMS and calls per (zone, destination)."""

    data_ko: dict[str, int] = field(default_factory=dict)
    data_records: int = 0
    sms: dict[tuple[str, str], int] = field(default_factory=dict)
    calls: dict[tuple[str, str, str], CallUse] = field(default_factory=dict)

    def add_call(self, type_: str, zone: str, dest: str, n_calls: int, beyond: Mapping[int, int]) -> None:
        """Add an aggregate of calls: its calls and seconds beyond each first period."""
        ckey = (type_, zone, dest)
        use = self.calls.get(ckey)
        if use is None:
            use = self.calls[ckey] = CallUse()
        use.calls += n_calls
        use.seconds += beyond.get(0, 0)
        sums = use.beyond
        for p, s in beyond.items():
            sums[p] = sums.get(p, 0) + s

    def types_used(self) -> set[str]:
        used = {t for (t, _, _) in self.calls}
        if self.data_ko:
            used.add("data")
        if self.sms:
            used.add("sms")
        return used


def refusal(catalog: Catalog, offer: Offer, type_: str, zone: str, dest: str) -> tuple[str, str] | None:
    """Why an offer does not price this usage: (category, reason), or None when it does (a free
    destination, the catalog's `free_dests` such as the emergency services, on every offer: no item
    prices it, so it costs nothing)."""
    if type_ != "data" and dest in catalog.free_dests:
        return None
    if type_ not in offer.usage:
        return NOT_IN_OFFER, f"{NOT_IN_OFFER}: {type_} is not part of {offer.id}"
    if type_ == "data":
        if zone not in catalog.zones:
            return NOT_PRICED, f"{NOT_PRICED}: data in zone {zone}"
        return None
    if type_ == "sms":
        if zone in catalog.sms.from_zones and dest in catalog.sms.to_dests:
            return None
        return NOT_PRICED, f"{NOT_PRICED}: SMS from {zone} to {dest}"
    tariff = offer.calls[type_]
    if zone in tariff.from_zones and dest in tariff.to_dests:
        return None
    return NOT_PRICED, f"{NOT_PRICED}: {type_} call from {zone} to {dest}"


def refused_usage(catalog: Catalog, offer: Offer, usage: LineUsage) -> list[str]:
    """The reasons a line's usage would be refused on an offer (empty: the offer can take it all).

    Usage that no offer of the catalog prices (an SMS sent abroad, a call to an international
    number) is refused on every offer alike: it is no reason against this one."""
    out = []
    if usage.data_ko and "data" not in offer.usage:
        out.append(f"data is not part of {offer.id}")
    for zone, dest in usage.sms:
        r = refusal(catalog, offer, "sms", zone, dest)
        if r and _priced_somewhere(catalog, "sms", zone, dest):
            out.append(r[1])
    for type_, zone, dest in usage.calls:
        r = refusal(catalog, offer, type_, zone, dest)
        if r and _priced_somewhere(catalog, type_, zone, dest):
            out.append(r[1])
    return out


def _priced_somewhere(catalog: Catalog, type_: str, zone: str, dest: str) -> bool:
    """Whether some offer of the catalog prices this kind of usage."""
    return any(refusal(catalog, o, type_, zone, dest) is None for o in catalog.offers.values())


@dataclass(frozen=True)
class FleetContext:
    """What the whole fleet decides for each line: SMS step, discounts, the month."""

    month: Month
    sms_count: int
    sms_price: Decimal
    discounts: Mapping[str, tuple[Decimal, str]]  # offer id -> (rate, explanation)
    # Items and terms that depend on the line's choice, not on its volume: made once per fleet.
    subscriptions: dict[tuple[str, str, str, int], Item] = field(
        default_factory=dict, compare=False, repr=False
    )
    options: dict[tuple[str, date], tuple[Item, ...]] = field(default_factory=dict, compare=False, repr=False)
    plans: dict[tuple[str, str, int], PlanPrices] = field(default_factory=dict, compare=False, repr=False)
    terms: dict[str, OfferTerms] = field(default_factory=dict, compare=False, repr=False)
    # Items that depend on a volume, by what each is made of (see `charges.bundle_items`).
    made: dict[tuple[Any, ...], Item] = field(default_factory=dict, compare=False, repr=False)
    # A plan's items by (offer, plan, commitment, volume in the bundle's zones): see `price_line`.
    plan_parts: dict[tuple[str, str, int | None, int], tuple[Item, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def offer_terms(self, catalog: Catalog, offer: Offer) -> OfferTerms:
        terms = self.terms.get(offer.id)
        if terms is None:
            terms = self.terms[offer.id] = OfferTerms.of(catalog, offer)
        return terms

    @cached_property
    def sms_note(self) -> str:
        return f"{self.sms_price} per SMS: fleet sent {self.sms_count}"


def fleet_context(
    catalog: Catalog, month: Month, sms_count: int, lines_per_offer: Mapping[str, int]
) -> FleetContext:
    discounts: dict[str, tuple[Decimal, str]] = {}
    for d in catalog.fleet_discounts:
        n = sum(lines_per_offer.get(o, 0) for o in d.offers)
        if n >= d.min_lines:
            for o in d.offers:
                discounts[o] = (d.rate, f"{d.name}: {n} lines")
    return FleetContext(month, sms_count, pick_step(catalog.sms.steps, sms_count), discounts)


def price_line(catalog: Catalog, line: Line, usage: LineUsage, ctx: FleetContext) -> list[Item]:
    """The items of one valid, active line for the month (usage the offer refuses is left out).

    Each charge is described in `accounting.charges`; this puts them in the invoice's order.
    """
    offer = catalog.offers[line.offer]
    terms = ctx.terms.get(line.offer) or ctx.offer_terms(catalog, offer)
    data_ko = usage.data_ko
    volume = bundle_volume(terms, data_ko) if data_ko else 0
    if line.prototype and offer.prototype is not None:
        items: list[Item] = []
        k = ctx.month.index - Month.of(line.since).index + 1
        prototype_items(catalog, offer.prototype, terms.bundle, volume, k, items)
    else:
        # The subscription and the bundle's items depend on the plan and the volume alone: made
        # once per (offer, plan, commitment, volume) and shared by the lines alike in them.
        pkey = (line.offer, line.plan, line.commitment, volume)
        part = ctx.plan_parts.get(pkey)
        if part is None:
            part = ctx.plan_parts[pkey] = _plan_items(catalog, line, offer, terms, volume, ctx)
        items = [*part]
        if offer.activation_fee:
            activation_items(offer, line.since, ctx.month, items)
    if data_ko and terms.data:
        outside_data_items(catalog, terms, data_ko, items, ctx.made)
    if usage.sms and terms.sms:
        n = 0
        from_zones, to_dests = catalog.sms.from_zones, catalog.sms.to_dests
        for (z, d), c in usage.sms.items():
            if z in from_zones and d in to_dests:
                n += c
        if n:
            skey = ("sms", n, ctx.sms_price, ctx.sms_note)
            item = ctx.made.get(skey)
            if item is None:
                item = ctx.made[skey] = sms_item(n, ctx.sms_price, ctx.sms_note)
            items.append(item)
    if usage.calls:
        call_items(offer, usage.calls, items, ctx.made)
    for sub in line.options:
        okey = (sub.id, sub.since)
        fixed = ctx.options.get(okey)
        if fixed is None:
            fixed = ctx.options[okey] = option_items(catalog.options[sub.id], sub, ctx.month)
        items.extend(fixed)
    return items


def _plan_items(
    catalog: Catalog, line: Line, offer: Offer, terms: OfferTerms, volume: int, ctx: FleetContext
) -> tuple[Item, ...]:
    """A line's subscription on the step its volume is billed on, and its data in and over the bundle."""
    plan = offer.plans[line.plan]
    commitment = line.commitment
    assert commitment is not None
    rate, why = ctx.discounts.get(line.offer, (ZERO, None))
    pkey = (line.offer, line.plan, commitment)
    prices = ctx.plans.get(pkey)
    if prices is None:
        prices = ctx.plans[pkey] = PlanPrices.of(plan, commitment, rate)
    step = prices.step_for(catalog, volume)
    label = step.name if len(plan.steps) > 1 else None
    key = (line.offer, line.plan, step.name, commitment)
    subscription = ctx.subscriptions.get(key)
    if subscription is None:
        subscription = ctx.subscriptions[key] = subscription_item(step, commitment, rate, why, label)
    items = [subscription]
    bundle_items(catalog, step, terms.bundle, volume, label, items, ctx.made)
    return tuple(items)


@dataclass
class RatedUsage:
    """Usage sorted out for one inventory: per-line aggregates, fleet counts, rejected groups."""

    lines: dict[str, LineUsage]
    rejected: list[tuple[Group, str, str]]  # group, category, reason
    sms_internet: dict[tuple[str, bool], int]  # (dest, delivered) -> messages
    location_hits: int
    rows: int


_UNDECIDED = ("", "")  # a refusal not yet decided (None: decided, no refusal)


def sort_usage(
    catalog: Catalog,
    inventory: Inventory,
    groups: Iterable[Group],
    valid: Mapping[str, Line],
    active: Collection[str] | None = None,
) -> RatedUsage:
    """Attach each aggregate to its line, or reject it with the reason (for the lines' current offers).

    `active`: the ids of the valid lines active in the month, when the caller has them.
    """
    by_id = {line.id: line for line in inventory.lines}
    usage: dict[str, LineUsage] = {}
    rejected: list[tuple[Group, str, str]] = []
    smsi: dict[tuple[str, bool], int] = defaultdict(int)
    hits = rows = 0
    services = inventory.services
    if active is None:
        active = {lid for lid, line in valid.items() if is_active(line, inventory.month)}
    month_index = inventory.month.index

    def later(since: date) -> bool:  # a service subscribed from a later month
        return Month.of(since).index > month_index

    # Why an offer refuses a kind of aggregate, decided once per offer: data by zone, the rest by
    # (type, zone, destination).
    refusals: dict[str, tuple[dict[Any, tuple[str, str] | None], dict[Any, tuple[str, str] | None]]] = {}
    # A valid, active line's usage (each of its aggregates added as it comes, in their order) and
    # its offer's refusals.
    billable: dict[str | None, tuple[LineUsage, Any, Any, str]] = {}
    for g in groups:
        line_id, type_, zone, dest, delivered, code, n, ko, n_calls, beyond = g
        rows += n
        if code is not None:
            if code == BEFORE_ACTIVATION:  # (taken out of the line's aggregates: `_before_activation`)
                rejected.append((g, LINE_NOT_YET_ACTIVE, reason_for(valid[line_id or ""])))
                continue
            rejected.append((g, ROW_REASONS[code][0], code))
            continue
        if type_ == "sms_internet":
            if services.sms_internet is None or catalog.sms_internet is None:
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: SMS Internet is not subscribed"))
            elif later(services.sms_internet.since):
                since = services.sms_internet.since
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: SMS Internet starts {since}"))
            elif dest not in catalog.sms_internet.billable_dests:
                rejected.append((g, NOT_PRICED, f"{NOT_PRICED}: SMS Internet to {dest}"))
            else:
                smsi[(dest or "", delivered is not False)] += n
            continue
        if type_ == "location_hit":
            if services.localisation is None or catalog.localisation is None:
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: localisation is not subscribed"))
            elif later(services.localisation):
                since = services.localisation
                rejected.append((g, NOT_IN_OFFER, f"{NOT_IN_OFFER}: localisation starts {since}"))
            else:
                hits += n
            continue
        hit = billable.get(line_id)
        if hit is None:
            lid = line_id or ""
            line = valid.get(lid)
            if line is None:
                if lid in by_id:
                    rejected.append((g, LINE_NOT_BILLED, f"{LINE_NOT_BILLED}: line {lid!r}"))
                else:
                    rejected.append((g, UNKNOWN_LINE, unknown_line(lid, by_id)))
                continue
            if lid not in active:
                rejected.append((g, LINE_NOT_ACTIVE, f"{LINE_NOT_ACTIVE}: line {lid!r} starts {line.since}"))
                continue
            whys = refusals.get(line.offer)
            if whys is None:
                whys = refusals[line.offer] = ({}, {})
            used = usage.get(lid)
            if used is None:
                used = usage[lid] = LineUsage()
            hit = billable[line_id] = (used, *whys, line.offer)
        used, data_whys, other_whys, offer_id = hit
        zone = zone or ""
        if type_ == "data":
            why = data_whys.get(zone, _UNDECIDED)
            if why is _UNDECIDED:
                why = data_whys[zone] = refusal(catalog, catalog.offers[offer_id], "data", zone, "")
            data_ko = used.data_ko
            data_ko[zone] = data_ko.get(zone, 0) + ko
            used.data_records += n
        else:
            rkey = (type_, zone, dest)
            why = other_whys.get(rkey, _UNDECIDED)
            if why is _UNDECIDED:
                why = other_whys[rkey] = refusal(
                    catalog, catalog.offers[offer_id], type_ or "", zone, dest or ""
                )
            if type_ == "sms":
                sms, skey = used.sms, (zone, dest or "")
                sms[skey] = sms.get(skey, 0) + n
            else:
                used.add_call(type_ or "", zone, dest or "", n_calls, beyond)
        if why is not None:
            rejected.append((g, *why))
    return RatedUsage(usage, rejected, dict(smsi), hits, rows)


def fleet_sms_count(catalog: Catalog, lines: Iterable[Line], usage: Mapping[str, LineUsage]) -> int:
    """The SMS the fleet's lines sent that their offers price (the fleet's step is chosen by it)."""
    total = 0
    from_zones, to_dests = catalog.sms.from_zones, catalog.sms.to_dests
    with_sms = {offer_id for offer_id, offer in catalog.offers.items() if "sms" in offer.usage}
    for line in lines:
        if line.offer not in with_sms:
            continue
        u = usage.get(line.id)
        if u is None or not u.sms:
            continue
        for (z, d), c in u.sms.items():
            if z in from_zones and d in to_dests:
                total += c
    return total


def valid_lines(inventory: Inventory, catalog: Catalog) -> tuple[dict[str, Line], list[InventoryIssue]]:
    issues = check_lines(inventory, catalog)
    bad = {i.line for i in issues}
    return {line.id: line for line in inventory.lines if line.id not in bad}, issues


def _reject_summary(rejected: list[tuple[Group, str, str]]) -> list[RejectSummary]:
    counts: dict[str, int] = defaultdict(int)
    for g, category, _ in rejected:
        counts[category] += g.rows
    return [RejectSummary(r, n) for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass
class RatingRun:
    """Everything the month produced, kept for `compare` (which re-prices the same aggregates)."""

    catalog: Catalog
    inventory: Inventory
    valid: dict[str, Line]
    rated: RatedUsage
    invoice: Invoice
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def rate_run(
    inventory: Inventory,
    usage: UsageSource,
    catalog: Catalog | None = None,
    *,
    reader: UsageReader | PartAggregates | None = None,
    max_rejects: int = MAX_LISTED_REJECTS,
) -> RatingRun:
    with paused_gc():
        return _rate_run(inventory, usage, catalog, reader, max_rejects)


def _rate_run(
    inventory: Inventory,
    usage: UsageSource,
    catalog: Catalog | None,
    reader: UsageReader | PartAggregates | None,
    max_rejects: int,
) -> RatingRun:
    catalog = catalog or load_catalog()
    valid, issues = valid_lines(inventory, catalog)
    reader = reader or UsageReader(usage)
    start, end = month_bounds(inventory.month.year, inventory.month.month)
    month = inventory.month
    active = [line for line in valid.values() if is_active(line, month)]
    active_ids = {line.id for line in active}
    cutoffs = activation_cutoffs(active, month)
    if cutoffs:  # (lines activated within the month: their rows before it noted as the rows are read)
        reader.watch_starts(cutoffs)
    t0 = time.perf_counter()
    groups = _reading(reader, lambda: reader.aggregate(start, end, catalog.first_periods()))
    early: list[Group] = []
    early_listed: list[tuple[str | None, int, str]] = []
    if cutoffs:
        groups, early, early_listed = _before_activation(
            reader, catalog, groups, valid, start, end, max_rejects
        )
    t1 = time.perf_counter()
    rated = sort_usage(catalog, inventory, groups, valid, active_ids)
    per_offer: dict[str, int] = defaultdict(int)
    for line in active:
        per_offer[line.offer] += 1
    ctx = fleet_context(catalog, month, fleet_sms_count(catalog, active, rated.lines), per_offer)
    invoice = Invoice(inventory.customer, str(month), catalog.currency, catalog.id, errors=list(issues))
    empty = LineUsage()
    # A line without usage costs what its terms say: lines alike in them (a group of 10,000) are
    # priced once (the items are immutable; each bill gets its own list).
    unused: dict[tuple[Any, ...], list[Item]] = {}
    bills, used_by_line = invoice.lines, rated.lines
    for line in inventory.lines:
        line_id = line.id
        if line_id not in valid:
            continue
        items: list[Item]
        if line_id not in active_ids:
            items = []
        else:
            used = used_by_line.get(line_id)
            if used is None:
                terms = (line.offer, line.plan, line.commitment, line.prototype, line.since, line.options)
                priced = unused.get(terms)
                if priced is None:
                    priced = unused[terms] = price_line(catalog, line, empty, ctx)
                items = priced.copy()
            else:
                items = price_line(catalog, line, used, ctx)
        bills.append(
            LineBill(line_id, line.offer, line.plan, line.commitment, line.prototype, line.group, items)
        )
    fleet, quotes, service_issues = fleet_items(catalog, inventory, len(active), rated, active)
    invoice.fleet, invoice.quotes = fleet, quotes
    invoice.errors.extend(service_issues)
    invoice.reject_summary = _reject_summary(rated.rejected)
    invoice.rows_read = rated.rows
    t2 = time.perf_counter()
    if rated.rejected:
        keys = [RejectedKey(g.key, reason) for g, _, reason in rated.rejected if g.code is None]
        # (a row before its line's activation, of an aggregate its offer refuses too, is listed
        # once, as the former: the listing of the refused rows reads as many more)
        refused = {k.key for k in keys}
        more = sum(g.rows for g in early if g.key in refused)
        listed = _reading(reader, lambda: reader.list_rejects(start, end, keys, max_rejects + more))
        if early_listed:
            listed = _merged(reader.files, listed, early_listed, max_rejects)
        invoice.rejects = [Reject(row, reason, file) for file, row, reason in listed]
    if reader.files:  # (before the check: a file changed while it is hashed is then said changed)
        invoice.usage_files = [file_identity(path) for path in reader.files]
    reader.check_unchanged()  # (the invoice of a file changed while it was read is not given)
    t3 = time.perf_counter()
    timings = {"aggregate": t1 - t0, "price": t2 - t1, "rejects": t3 - t2}
    log.debug("rated %d rows: %s", rated.rows, timings)
    return RatingRun(catalog, inventory, valid, rated, invoice, timings)


def _before_activation(
    reader: UsageReader | PartAggregates,
    catalog: Catalog,
    groups: list[Group],
    valid: Mapping[str, Line],
    start: datetime,
    end: datetime,
    limit: int,
) -> tuple[list[Group], list[Group], list[tuple[str | None, int, str]]]:
    """The rows of lines activated within the month that start before their activation, taken
    out of the aggregates (`groups` without them, their aggregates coded `BEFORE_ACTIVATION`,
    their listing): read again, the rows of those lines alone, only when the reading saw such a
    line's row before its activation (`accounting.activation`)."""
    starts = reader.first_starts
    early = starts.early() if starts is not None else {}
    if not early:
        return groups, [], []
    keys = {g.key for g in groups if g.code is None and g.line in early and g.type in LINE_TYPES}
    lines = {k[0] for k in keys}
    cutoffs = {line: (until, reason_for(valid[line])) for line, until in early.items() if line in lines}
    if not cutoffs:  # (every early row a reject already)
        return groups, [], []
    asked = EarlyLines(start, end, cutoffs, keys, catalog.first_periods())
    before, listed = _reading(reader, lambda: reader.early_rows(asked, limit))
    log.debug("%d lines with rows before their activation: %d aggregates", len(cutoffs), len(before))
    return split(groups, before), before, listed


def _merged(
    files: Sequence[Path],
    listed: list[tuple[str | None, int, str]],
    early: list[tuple[str | None, int, str]],
    limit: int,
) -> list[tuple[str | None, int, str]]:
    """The rejects listed and the rows before a line's activation, in file order, at most `limit`
    (a row in both is listed as the latter)."""
    order: dict[str | None, int] = {None: 0}
    for i, path in reversed(list(enumerate(files))):
        order[path.name] = order[str(path)] = i
    seen = {(f, row) for f, row, _ in early}
    out = [x for x in listed if (x[0], x[1]) not in seen] + early
    out.sort(key=lambda x: (order.get(x[0], 0), x[1]))
    return out[:limit]


def _reading(reader: UsageReader | PartAggregates, work: Callable[[], _T]) -> _T:
    """`work()` reading the usage; a file changed while it was read is named as such (`FileChanged`)
    rather than by the error it caused (a row or a table missing, a file no longer readable)."""
    try:
        return work()
    except (AccountingError, OSError, ValueError):
        reader.check_unchanged()
        raise


def rate(inventory: Inventory, usage: UsageSource, catalog: Catalog | None = None) -> Invoice:
    """Rate one month: inventory + usage (a CSV/Parquet path, an Arrow table, or None) -> invoice."""
    return rate_run(inventory, usage, catalog).invoice
