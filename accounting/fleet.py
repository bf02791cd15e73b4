"""Customer-level charges: Assistance Dédiée, SMS Internet, localisation, Secure Mobile Access set-up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from accounting.catalog import Catalog, pick_step
from accounting.inventory import SECURE_MOBILE_ACCESS, Inventory, InventoryIssue, Line, Month, is_active
from accounting.invoice import Item, Quote
from accounting.money import ZERO

if TYPE_CHECKING:
    from accounting.engine import RatedUsage


def fleet_items(
    catalog: Catalog,
    inventory: Inventory,
    billed_lines: int,
    rated: RatedUsage,
    billed: Iterable[Line] | None = None,
) -> tuple[list[Item], list[Quote], list[InventoryIssue]]:
    """Customer-level charges: assistance, SMS Internet, localisation, Secure Mobile Access set-up.

    `billed`: the lines billed in the month (valid and active; by default the inventory's lines
    active in the month), of which one at least takes a Secure Mobile Access service's option when
    its set-up is charged."""
    month = inventory.month
    services = inventory.services
    items: list[Item] = []
    quotes: list[Quote] = []
    issues: list[InventoryIssue] = []

    def started(since: date | None) -> bool:
        return since is None or Month.of(since).index <= month.index

    a = services.assistance
    if a is not None and started(a.since):
        if catalog.assistance is None:
            issues.append(InventoryIssue("", "service-not-offered", "assistance is not in this catalog"))
        else:
            tier = next(t for t in catalog.assistance.tiers if t.up_to is None or billed_lines <= t.up_to)
            if tier.quote is not None:
                quotes.append(Quote("assistance", tier.quote))
            elif a.hours not in tier.prices:
                issues.append(
                    InventoryIssue("", "unknown-assistance-hours", f"no price for hours {a.hours!r}")
                )
            else:
                items.append(
                    Item.make(
                        "assistance", 1, "month", tier.prices[a.hours], f"{a.hours}, {billed_lines} lines"
                    )
                )
            extra = max(0, a.managers - catalog.assistance.included_managers)
            if extra:
                items.append(
                    Item.make(
                        "assistance-extra-managers",
                        extra,
                        "manager",
                        extra * catalog.assistance.extra_manager_monthly,
                    )
                )
    s = services.sms_internet
    if s is not None and started(s.since):
        if catalog.sms_internet is None:
            issues.append(InventoryIssue("", "service-not-offered", "SMS Internet is not in this catalog"))
        else:
            si = catalog.sms_internet
            if month.contains(s.since):
                items.append(
                    Item.make(
                        "sms-internet-activation",
                        s.short_ids,
                        "short id",
                        s.short_ids * si.activation_per_short_id,
                    )
                )
            items.append(
                Item.make(
                    "sms-internet-subscription",
                    s.short_ids,
                    "short id",
                    s.short_ids * si.monthly_per_short_id,
                )
            )
            if s.popup:
                items.append(
                    Item.make(
                        "sms-internet-popup", s.popup, "short id", s.popup * si.popup_monthly_per_short_id
                    )
                )
            delivered = sum(n for (_, ok), n in rated.sms_internet.items() if ok)
            failed = sum(n for (_, ok), n in rated.sms_internet.items() if not ok)
            if delivered:
                price = pick_step(si.steps, delivered)
                note = f"{price} per SMS" + (f"; {failed} not delivered, not billed" if failed else "")
                items.append(Item.make("sms-internet-messages", delivered, "sms", delivered * price, note))
            elif failed:
                items.append(
                    Item.make("sms-internet-messages", 0, "sms", ZERO, f"{failed} not delivered, not billed")
                )
    loc = services.localisation
    if loc is not None and started(loc):
        if catalog.localisation is None:
            issues.append(InventoryIssue("", "service-not-offered", "localisation is not in this catalog"))
        else:
            lc = catalog.localisation
            if month.contains(loc):
                items.append(Item.make("localisation-activation", 1, "once", lc.activation))
            items.append(Item.make("localisation-subscription", 1, "month", lc.monthly))
            if rated.location_hits:
                rate = pick_step(lc.discount_steps, rated.location_hits)
                note = f"{lc.hit_price} per hit less {rate * 100:g}%" if rate else f"{lc.hit_price} per hit"
                items.append(
                    Item.make(
                        "localisation-hits",
                        rated.location_hits,
                        "hit",
                        rated.location_hits * lc.hit_price * (1 - rate),
                        note,
                    )
                )
    for kind, since in sorted(services.secure_mobile_access.items()):
        if catalog.secure_mobile_access is None or kind not in catalog.secure_mobile_access.setup:
            issues.append(
                InventoryIssue(
                    "", "service-not-offered", f"Secure Mobile Access {kind} is not in this catalog"
                )
            )
        elif month.contains(since):
            if billed is None:
                billed = [line for line in inventory.lines if is_active(line, month)]
            option = SECURE_MOBILE_ACCESS + kind
            if any(o.id == option and started(o.since) for line in billed for o in line.options):
                items.append(
                    Item.make(
                        f"secure-mobile-access-{kind}-setup",
                        1,
                        "once",
                        catalog.secure_mobile_access.setup[kind],
                    )
                )
            else:  # « service à souscrire en complément d'une ligne voix ou d'une ligne data »
                issues.append(
                    InventoryIssue(
                        "",
                        "secure-mobile-access-without-lines",
                        f"services.secure_mobile_access.{kind} starts {since}, but no line billed in the "
                        f"month takes {option}: the service is subscribed with a line, its set-up (once) "
                        "is not billed",
                    )
                )
    issues.extend(_secure_mobile_access_unsaid(inventory))
    return items, quotes, issues


def _secure_mobile_access_unsaid(inventory: Inventory) -> list[InventoryIssue]:
    """Lines taking a Secure Mobile Access option whose service the customer's `services` do not
    date: its 2,000 set-up, charged once when the customer first subscribed, can be neither billed
    nor known to be paid already, so it is said rather than left out in silence."""
    month = inventory.month
    said = inventory.services.secure_mobile_access
    unsaid: dict[str, list[str]] = {}
    for line in inventory.lines:
        for option in line.options:
            kind = option.id.removeprefix(SECURE_MOBILE_ACCESS)
            if kind != option.id and kind not in said and Month.of(option.since).index <= month.index:
                unsaid.setdefault(kind, []).append(line.id)
    issues = []
    for kind, lines in sorted(unsaid.items()):
        named = ", ".join(lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
        issues.append(
            InventoryIssue(
                "",
                "secure-mobile-access-setup-undated",
                f"{named} {'takes' if len(lines) == 1 else 'take'} secure-mobile-access-{kind}, but services.secure_mobile_access.{kind} "
                "does not say since when the customer has the service: its set-up (once, when first "
                "subscribed) is not billed",
            )
        )
    return issues
