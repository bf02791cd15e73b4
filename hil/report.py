"""What a bench run would cost: its usage records priced by the accounting API for an offer.

    estimate = estimate_cost(usage_records(run.usage, "bench"), offer="business-m2m", plan="forfait-2mo")
    estimate.usage_amount     # Decimal: what the run's usage adds to the line's month
    estimate.items            # the invoice items of a line that had only this usage this month

The line is priced twice in the month of the run, with and without the run's records, by
`accounting.rate`; the difference is what the usage costs on top of the subscription.  Nothing of
the tariff is known here: offers, plans, allowances and prices all come from the catalog.  Records
the offer cannot price (a voice call on an offer without DTMF) come back as rejects with the
catalog's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from accounting import compare_month, inventory_from_dict, load_catalog, rate
from accounting.catalog import Catalog
from accounting.records import USAGE_SCHEMA, UsageRecord

log = logging.getLogger(__name__)

DEFAULT_OFFER = "business-m2m"
DEFAULT_PLAN = "forfait-2mo"
DEFAULT_COMMITMENT = 24


@dataclass(frozen=True)
class CostEstimate:
    offer: str
    plan: str
    commitment: int
    month: str
    currency: str
    usage_amount: Decimal  # what the run's usage adds to the month
    month_total: Decimal  # the line's month with only this usage (subscription included)
    subscription_total: Decimal  # the same month with no usage
    items: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: int = 0
    cheapest: str | None = None  # the catalog's cheapest offer / plan / commitment for this month
    cheapest_total: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "offer": self.offer,
            "plan": self.plan,
            "commitment": self.commitment,
            "month": self.month,
            "currency": self.currency,
            "usage_amount": f"{self.usage_amount:.2f}",
            "month_total": f"{self.month_total:.2f}",
            "subscription_total": f"{self.subscription_total:.2f}",
            "items": self.items,
            "rejects": self.rejects,
            "errors": self.errors,
            "records": self.records,
            "cheapest": self.cheapest,
            "cheapest_total": f"{self.cheapest_total:.2f}" if self.cheapest_total is not None else None,
        }


class OfferError(ValueError):
    """An offer, plan or commitment the catalog does not have."""


def check_offer(offer: str, plan: str, commitment: int, catalog: Catalog | None = None) -> None:
    """Raise `OfferError` (naming what the catalog has) unless `offer` / `plan` / `commitment` exist."""
    catalog = catalog or load_catalog()
    found = catalog.offers.get(offer)
    if found is None:
        raise OfferError(f"unknown offer {offer!r}; the catalog has: {', '.join(sorted(catalog.offers))}")
    chosen = found.plans.get(plan)
    if chosen is None:
        raise OfferError(f"offer {offer} has no plan {plan!r}; it has: {', '.join(sorted(found.plans))}")
    if commitment not in chosen.commitments:
        months = ", ".join(str(c) for c in chosen.commitments)
        raise OfferError(f"{offer} {plan}: no {commitment}-month commitment; it has: {months}")


def records_table(records: Sequence[UsageRecord]) -> pa.Table:
    """Usage records as an Arrow table with the project's usage schema."""
    return pa.Table.from_pylist([r.as_row() for r in records], schema=USAGE_SCHEMA)


def _inventory(line: str, offer: str, plan: str, commitment: int, month: date) -> Any:
    since = date(month.year - 1, month.month, 1)  # active long before: no one-off fees this month
    return inventory_from_dict(
        {
            "customer": "bench",
            "month": f"{month.year:04d}-{month.month:02d}",
            "lines": [{"id": line, "offer": offer, "plan": plan, "commitment": commitment, "since": since}],
        },
        source="<bench estimate>",
    )


def estimate_cost(
    records: Sequence[UsageRecord],
    *,
    line: str | None = None,
    offer: str = DEFAULT_OFFER,
    plan: str = DEFAULT_PLAN,
    commitment: int = DEFAULT_COMMITMENT,
    when: datetime | None = None,
    catalog: Catalog | None = None,
    compare_offers: bool = True,
) -> CostEstimate:
    """Price the run's records for one line on `offer` / `plan` in the month of `when` (or of the records).

    With `compare_offers`, the same month is also re-priced on every offer, plan and commitment of
    the catalog (`accounting.compare_month`) to name the cheapest for this usage.
    """
    catalog = catalog or load_catalog()
    line_id = line or (records[0].line if records else "bench")
    stamp = when or (records[0].start if records else None)
    if stamp is None:
        raise ValueError("no records and no date: give `when` to price an empty run")
    month = stamp.date()
    inventory = _inventory(line_id, offer, plan, commitment, month)
    table = records_table([r for r in records if r.line == line_id])
    with_usage = rate(inventory, table, catalog)
    without = rate(inventory, None, catalog)
    items: list[dict[str, Any]] = []
    for bill in with_usage.lines:
        items.extend(i.to_dict() for i in bill.items)
    rejects = [f"row {r.row}: {r.reason}" for r in with_usage.rejects]
    rejects += [
        f"{s.count} record(s): {s.reason}"
        for s in with_usage.reject_summary
        if not any(s.reason in r for r in rejects)
    ]
    errors = [str(getattr(e, "message", e)) for e in with_usage.errors]
    cheapest, cheapest_total = None, None
    if compare_offers:
        [line_cmp] = compare_month(inventory, table, catalog).lines
        if line_cmp.cheapest is not None:
            cheapest, cheapest_total = str(line_cmp.cheapest), line_cmp.cheapest_total
    return CostEstimate(
        offer=offer,
        plan=plan,
        commitment=commitment,
        month=with_usage.month,
        currency=with_usage.currency,
        usage_amount=with_usage.total - without.total,
        month_total=with_usage.total,
        subscription_total=without.total,
        items=items,
        rejects=rejects,
        errors=errors,
        records=len(table),
        cheapest=cheapest,
        cheapest_total=cheapest_total,
    )
