"""Every charge of a line's month, written once.

The invoice (`accounting.engine.price_line`) lists these items; the comparison (`accounting.compare`)
adds up the amounts of the same items for every offer, plan and commitment a line could take.  A
new kind of charge is one function here, called from both (see docs/extending.md).

The charges that depend on the line's choice:
- the plan: the subscription (less the fleet discount) and the data in the bundle and over it, on
  the cheapest step (`PlanPrices`; `step_cost` is what one step costs: the two items' amounts);
- the offer: data outside the bundle's zones, calls, the activation fee.
SMS (priced on the fleet's step) and options do not depend on the choice; prototypes keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from accounting.catalog import CallTariff, Catalog, Offer, Option, Plan, PlanStep, Prototype
from accounting.inventory import Month, OptionSub
from accounting.invoice import Item
from accounting.money import ZERO, cents


@dataclass(slots=True)
class CallUse:
    calls: int = 0  # calls that lasted more than 0 s
    seconds: int = 0  # whole seconds, each call rounded up
    beyond: dict[int, int] = field(default_factory=dict)  # first period -> seconds beyond it


@dataclass(frozen=True)
class OfferTerms:
    """What pricing a line needs of its offer, worked out once per offer and fleet."""

    data: bool  # the offer carries data
    sms: bool  # the offer carries SMS
    bundle_zones: tuple[str, ...]
    bundle: str  # the bundle's zones as they appear in item codes: "fr-eu"
    # (zone, item code, price per Mo, the price as a key of `made`: `price_key`) outside the bundle
    outside: tuple[tuple[str, str, Decimal, Decimal | str], ...]

    @staticmethod
    def of(catalog: Catalog, offer: Offer) -> OfferTerms:
        rates = offer.zone_rates_per_mo
        outside = tuple(
            (z, f"data-{z}", rates[z], price_key(rates[z]))
            for z in catalog.zones
            if z not in offer.bundle_zones
        )
        return OfferTerms(
            "data" in offer.usage,
            "sms" in offer.usage,
            offer.bundle_zones,
            "-".join(offer.bundle_zones),
            outside,
        )


# The hot items are made as `Item(..., cents(exact))`, what `Item.make` does, without its call.
_NOTHING = cents(ZERO)


def price_key(price: Decimal) -> Decimal | str:
    """A price as part of the key of the items made of it (`made`): -0 and 0 are equal Decimals, yet
    an item priced at -0 is -0.00 and one at 0 is 0.00 (as every item made afresh), so -0 is "-0"."""
    return price if price or not price.is_signed() else "-0"


def per_ko(catalog: Catalog, per_mo: Decimal, ko: int) -> Decimal:
    """The exact price of `ko` at a price per Mo (a Mo is `catalog.ko_per_mo` ko)."""
    return ko * per_mo / catalog.ko_per_mo


# ----- the plan --------------------------------------------------------------------------------------


def bundle_volume(terms: OfferTerms, data_ko: Mapping[str, int]) -> int:
    """The month's ko in the zones the offer's bundle covers (0 when the offer carries no data)."""
    volume = 0
    if terms.data and data_ko:
        for zone in terms.bundle_zones:
            volume += data_ko.get(zone, 0)
    return volume


def subscription_price(step: PlanStep, commitment: int, rate: Decimal) -> Decimal:
    """A step's monthly price for the commitment, less the fleet discount `rate` (exact)."""
    return step.price[commitment] * (1 - rate)


def over_amount(catalog: Catalog, step: PlanStep, volume_ko: int) -> Decimal:
    """The amount of the data over a step's allowance (rounded: the item's amount)."""
    over = volume_ko - step.allowance_ko
    if over <= 0 and not step.over_per_mo.is_signed():  # within the allowance: 0.00 (-0.00 at a price of -0)
        return _NOTHING
    return cents(per_ko(catalog, step.over_per_mo, max(0, over)))


def step_cost(catalog: Catalog, step: PlanStep, commitment: int, volume_ko: int, rate: Decimal) -> Decimal:
    """What the plan's items cost on one step: the subscription and the data over its allowance."""
    return cents(subscription_price(step, commitment, rate)) + over_amount(catalog, step, volume_ko)


def least_step(subscriptions: Sequence[Decimal], overages: Sequence[Decimal]) -> tuple[int, Decimal]:
    """Of steps' subscription and overage amounts, the step that costs least and its cost; ties go
    to the first step."""
    best, best_cost = 0, subscriptions[0] + overages[0]
    for i in range(1, len(subscriptions)):
        cost = subscriptions[i] + overages[i]
        if cost < best_cost:
            best, best_cost = i, cost
    return best, best_cost


@dataclass(frozen=True)
class PlanPrices:
    """A plan at one commitment and fleet discount rate: each step's subscription amount, made once
    (per fleet in the invoice, per choice in the comparison), so a volume only adds its overage."""

    plan: Plan
    subscriptions: tuple[Decimal, ...]  # each step's subscription amount (rounded), in step order

    @staticmethod
    def of(plan: Plan, commitment: int, rate: Decimal) -> PlanPrices:
        return PlanPrices(plan, tuple(cents(subscription_price(s, commitment, rate)) for s in plan.steps))

    def cheapest(self, catalog: Catalog, volume_ko: int) -> tuple[PlanStep, Decimal]:
        """The cheapest step for the volume and its cost (`step_cost`); ties go to the first step."""
        steps = self.plan.steps
        i, cost = least_step(self.subscriptions, [over_amount(catalog, s, volume_ko) for s in steps])
        return steps[i], cost

    def step_for(self, catalog: Catalog, volume_ko: int) -> PlanStep:
        """The step a line with this volume is billed on (a one-step plan has no choice)."""
        steps = self.plan.steps
        return steps[0] if len(steps) == 1 else self.cheapest(catalog, volume_ko)[0]


def subscription_item(
    step: PlanStep, commitment: int, rate: Decimal, why: str | None, label: str | None
) -> Item:
    """The month's subscription on `step`; `why` names the fleet discount `rate` when there is one."""
    price = step.price[commitment]
    note = f"{why}, {price} less {rate * 100:g}%" if why else None
    return Item.make("subscription", 1, "month", subscription_price(step, commitment, rate), note, label)


def bundle_items(
    catalog: Catalog,
    step: PlanStep,
    bundle: str,
    volume: int,
    label: str | None,
    items: list[Item],
    made: dict[tuple[Any, ...], Item],
) -> None:
    """The data in the bundle (free) and over it, on `step`, appended to `items` (after the subscription).

    `made`: the items made so far for the fleet, by what each is made of; an item is immutable, so
    the lines with the same one share it (and the invoice's writers encode it once)."""
    if not volume:
        return
    allowance = step.allowance_ko
    inside = min(volume, allowance)
    if inside:
        key: tuple[Any, ...] = ("bundle", bundle, inside, label)
        item = made.get(key)
        if item is None:
            item = made[key] = Item(f"data-{bundle}-bundle", inside, "ko", _NOTHING, None, label)
        items.append(item)
    if volume > allowance:
        over = volume - allowance
        per_mo = step.over_per_mo
        key = ("over", bundle, over, label, price_key(per_mo))
        item = made.get(key)
        if item is None:
            exact = per_ko(catalog, per_mo, over)
            item = made[key] = Item(f"data-{bundle}-over", over, "ko", cents(exact), None, label)
        items.append(item)


def prototype_items(
    catalog: Catalog, proto: Prototype, bundle: str, volume: int, month_k: int, items: list[Item]
) -> None:
    """A prototype line's month `month_k`: free subscription, `free_ko` free, then the prototype's rate."""
    items.append(Item.make("subscription", 1, "month", ZERO, f"prototype, month {month_k} of {proto.months}"))
    if volume:
        free = min(volume, proto.free_ko)
        items.append(Item.make(f"data-{bundle}-free", free, "ko", ZERO, f"{proto.free_ko} ko free per month"))
        if volume > proto.free_ko:
            over = volume - proto.free_ko
            items.append(
                Item.make(f"data-{bundle}-over", over, "ko", per_ko(catalog, proto.over_per_mo, over))
            )


# ----- the offer -------------------------------------------------------------------------------------


def activation_fee(offer: Offer, since: date, month: Month) -> Decimal | None:
    """The offer's activation fee, charged in the month the line starts (None: nothing to charge)."""
    if offer.activation_fee and month.contains(since):
        return offer.activation_fee
    return None


def activation_items(offer: Offer, since: date, month: Month, items: list[Item]) -> None:
    """`activation_fee` as an invoice item, appended to `items`."""
    fee = activation_fee(offer, since, month)
    if fee is not None:
        items.append(Item.make("activation", 1, "once", fee))


def outside_data_items(
    catalog: Catalog,
    terms: OfferTerms,
    data_ko: Mapping[str, int],
    items: list[Item],
    made: dict[tuple[Any, ...], Item],
) -> None:
    """`outside_data` as invoice items, appended to `items` (`made`: as for `bundle_items`)."""
    if not (terms.data and data_ko):
        return
    for zone, code, per_mo, pkey in terms.outside:
        ko = data_ko.get(zone, 0)
        if ko:
            key = (code, ko, pkey)
            item = made.get(key)
            if item is None:
                item = made[key] = Item(code, ko, "ko", cents(per_ko(catalog, per_mo, ko)))
            items.append(item)


def call_sums(
    offer: Offer, used: Mapping[tuple[str, str, str], CallUse]
) -> list[tuple[str, CallTariff, int, int, int]]:
    """The calls the offer prices, per kind: (call type, its tariff, calls, seconds, seconds beyond
    the first period)."""
    out = []
    for call_type, tariff in offer.calls.items() if used else ():
        n = seconds = beyond = 0
        from_zones, to_dests, first = tariff.from_zones, tariff.to_dests, tariff.first_period_s
        for (t, z, d), use in used.items():
            if t == call_type and z in from_zones and d in to_dests:
                n += use.calls
                seconds += use.seconds
                beyond += use.beyond.get(first, 0)
        if n:
            out.append((call_type, tariff, n, seconds, beyond))
    return out


def call_items(
    offer: Offer,
    used: Mapping[tuple[str, str, str], CallUse],
    items: list[Item],
    made: dict[tuple[Any, ...], Item],
) -> None:
    """`calls` as invoice items (quantity: the seconds; note: the number of calls), appended to `items`
    (`made`: as for `bundle_items`, by the counts and the tariff's prices)."""
    for call_type, tariff, n, seconds, beyond in call_sums(offer, used):
        price, per_second = tariff.first_period_price, tariff.per_second
        key = (call_type, n, seconds, beyond, price_key(price), price_key(per_second))
        item = made.get(key)
        if item is None:
            exact = n * price + beyond * per_second
            item = made[key] = Item(call_type, seconds, "s", cents(exact), f"{n} call{'s' if n > 1 else ''}")
        items.append(item)


def offer_cost(
    catalog: Catalog,
    terms: OfferTerms,
    offer: Offer,
    since: date,
    month: Month,
    usage_ko: Mapping[str, int],
    used_calls: Mapping[tuple[str, str, str], CallUse],
    amounts: dict[tuple[Any, ...], Decimal] | None = None,
) -> Decimal:
    """What the offer's items cost (data outside the bundle, calls, activation): their rounded amounts.

    `amounts`: the rounded amounts of data and calls worked out so far, by what they are made of
    (the price per Mo and the ko; the tariff's prices, the calls and the seconds beyond the first
    period), kept by the caller for its next lines (a comparison prices every line, whose counts
    often repeat).  An amount found there equals the one it saves working out (of a zero amount maybe
    not its sign, which the total does not keep: ZERO plus -0.00 is 0.00).
    """
    made: dict[tuple[Any, ...], Decimal] = {} if amounts is None else amounts
    total = ZERO
    if terms.data and usage_ko:
        for zone, _, per_mo, _ in terms.outside:
            ko = usage_ko.get(zone, 0)
            if ko:
                key: tuple[Any, ...] = (per_mo, ko)
                amount = made.get(key)
                if amount is None:
                    amount = made[key] = cents(per_ko(catalog, per_mo, ko))
                total += amount
    for _, tariff, n, _, beyond in call_sums(offer, used_calls):
        price, per_second = tariff.first_period_price, tariff.per_second
        key = (price, per_second, n, beyond)
        amount = made.get(key)
        if amount is None:
            amount = made[key] = cents(n * price + beyond * per_second)
        total += amount
    fee = activation_fee(offer, since, month)
    if fee is not None:
        total += cents(fee)
    return total


# ----- the same on every choice ----------------------------------------------------------------------


def sms_item(count: int, price: Decimal, note: str) -> Item:
    """The line's SMS at the fleet's step price (`note` says the step: made once per fleet)."""
    return Item("sms", count, "sms", cents(count * price), note)


def option_items(option: Option, sub: OptionSub, month: Month) -> tuple[Item, ...]:
    """An option's monthly price from its start month on, and its one-off fee in its start month."""
    made = []
    if (option.monthly or not option.once) and Month.of(sub.since).index <= month.index:
        made.append(Item.make(f"option-{option.id}", 1, "month", option.monthly))
    if option.once and month.contains(sub.since):
        made.append(Item.make(f"option-{option.id}-fee", 1, "once", option.once))
    return tuple(made)
