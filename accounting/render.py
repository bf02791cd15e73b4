"""The readable invoice: short enough for a 10,000-line fleet.

Totals by offer, plan and commitment; the optima steps chosen; the costliest lines; fleet
services and quotes; inventory errors; rejected rows summarised by reason with their first rows.
Small fleets (or `all_lines=True`) also get every line with its items.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from accounting.engine import reject_category
from accounting.invoice import PROJECTION_RULE, Invoice, Item, LineBill
from accounting.money import ZERO, fmt

SMALL_FLEET = 20
FAMILIES = ("subscription", "data", "sms", "calls", "options")


def family(code: str) -> str:
    if code.startswith("data-"):
        return "data"
    if code.startswith("option-"):
        return "options"
    if code in ("voice", "csd"):
        return "calls"
    if code == "sms":
        return "sms"
    return "subscription"


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _plan_label(bill: LineBill) -> str:
    return _label(bill.offer, bill.plan, bill.commitment, bill.prototype)


def _label(offer: str, plan: str, commitment: int | None, prototype: bool) -> str:
    if prototype:
        return f"{offer} prototype"
    months = f" {commitment} m" if commitment else ""
    return f"{offer} {plan}{months}"


class _Sums(NamedTuple):
    """What the readable invoice sums of one line's items."""

    total: Decimal
    families: dict[str, Decimal]  # by family, the families of the items only
    steps: list[str]  # the steps of its subscription items


def _sums(items: Sequence[Item], families_of: dict[str, str]) -> _Sums:
    """`families_of`: each item code's family, filled as codes come."""
    families: dict[str, Decimal] = {}
    steps = []
    total = ZERO
    for code, _, _, amount, _, step in items:
        fam = families_of.get(code)
        if fam is None:
            fam = families_of[code] = family(code)
        total += amount
        families[fam] = families.get(fam, ZERO) + amount
        if step and code == "subscription":
            steps.append(step)
    return _Sums(total, families, steps)


def _line_detail(bill: LineBill) -> list[str]:
    out = [f"  {bill.id}  {_plan_label(bill)}  total {money(bill.total)}"]
    for item in bill.items:
        extra = " ".join(x for x in (f"[{item.step}]" if item.step else "", item.note or "") if x)
        out.append(
            f"      {item.code:<28} {item.quantity!s:>12} {item.unit:<6} {money(item.amount):>12}  {extra}".rstrip()
        )
    return out


def render_invoice(invoice: Invoice, top: int = 10, all_lines: bool = False) -> str:
    out: list[str] = []
    cur = invoice.currency
    # Lines alike (a group's lines without usage share their items) are summed once: per distinct
    # items (their identities: an item is immutable), the total, the sums by family and the steps.
    alike: dict[tuple[int, ...], _Sums] = {}
    counts: dict[tuple[str, str, int | None, bool, tuple[int, ...]], int] = defaultdict(int)
    totals = []  # each line's total, in the invoice's order
    families_of: dict[str, str] = {}
    for bill in invoice.lines:
        items = bill.items
        key = tuple(map(id, items))
        known = alike.get(key)
        if known is None:
            known = alike[key] = _sums(items, families_of)
        totals.append(known.total)
        counts[(bill.offer, bill.plan, bill.commitment, bill.prototype, key)] += 1
    lines_total = sum(totals, ZERO)
    fleet_total = sum((i.amount for i in invoice.fleet), ZERO)
    out.append(f"Invoice {invoice.customer}, {invoice.month} (catalog {invoice.catalog}, {cur} HT)")
    out.append(f"Total HT: {money(lines_total + fleet_total)} {cur}")
    out.append(
        f"  {len(invoice.lines):,} lines: {money(lines_total)}; fleet services: {money(fleet_total)}; "
        f"{invoice.rows_read:,} usage rows read, {invoice.rejects_total:,} rejected"
    )
    projection = invoice.projection()
    if invoice.coverage is not None and projection is not None:
        c = invoice.coverage
        out.append(f"  {c.describe()}: the subscriptions are a whole month's")
        out.append(
            f"Projected month: {money(projection.total)} {cur} = usage {money(projection.usage)} x "
            f"{c.days_in_month}/{c.days.normalize():f} = {money(projection.usage_projected)}, "
            f"plus subscriptions, options and fees {money(projection.fixed)}"
        )
        out.append(f"  ({PROJECTION_RULE})")
    groups: dict[str, int] = defaultdict(int)  # lines per offer, plan and commitment
    group_sums: dict[str, dict[str, Decimal]] = {}
    steps: dict[str, int] = defaultdict(int)
    for (offer, plan, commitment, prototype, key), n in counts.items():
        label = _label(offer, plan, commitment, prototype)
        groups[label] += n
        sums = group_sums.get(label)
        if sums is None:
            sums = group_sums[label] = dict.fromkeys(FAMILIES, ZERO)
        known = alike[key]
        for fam, amount in known.families.items():
            sums[fam] += amount if n == 1 else amount * n
        for step in known.steps:
            steps[f"{offer} {plan}: {step}"] += n
    if groups:
        out.append("")
        out.append("By offer and plan")
        head = (
            f"  {'offer plan commitment':<36} {'lines':>7}"
            + "".join(f" {f:>12}" for f in FAMILIES)
            + f" {'total':>13}"
        )
        out.append(head)
        for label in sorted(groups):
            sums = group_sums[label]
            total = sum(sums.values(), ZERO)
            out.append(
                f"  {label:<36} {groups[label]:>7}"
                + "".join(f" {money(sums[f]):>12}" for f in FAMILIES)
                + f" {money(total):>13}"
            )
    if steps:
        out.append("")
        out.append("Steps chosen (cheapest for each line's volume)")
        out.extend(f"  {k:<40} {n:>7} lines" for k, n in sorted(steps.items()))
    if all_lines or len(invoice.lines) <= SMALL_FLEET:
        out.append("")
        out.append("Lines")
        for bill in invoice.lines:
            out.extend(_line_detail(bill))
    elif invoice.lines:
        out.append("")
        out.append(
            f"Costliest lines (top {min(top, len(invoice.lines))} of {len(invoice.lines)}; --all-lines shows every line)"
        )
        bills = invoice.lines
        order = range(len(bills))
        costliest = (
            heapq.nsmallest(top, order, key=lambda i: (-totals[i], bills[i].id))
            if top >= 0
            else sorted(order, key=lambda i: (-totals[i], bills[i].id))[:top]
        )
        for i in costliest:
            out.extend(_line_detail(bills[i]))
    if invoice.fleet or invoice.quotes:
        out.append("")
        out.append("Fleet services")
        for item in invoice.fleet:
            out.append(
                f"  {item.code:<30} {item.quantity!s:>10} {item.unit:<9} {money(item.amount):>12}  {item.note or ''}".rstrip()
            )
        for quote in invoice.quotes:
            out.append(f"  {quote.code:<30} QUOTE REQUIRED: {quote.reason}")
    if invoice.errors:
        out.append("")
        out.append(f"Inventory errors ({len(invoice.errors)}): these lines are not billed")
        for err in invoice.errors[: max(top, 20)]:
            out.append(f"  {err.line or '(customer)'}  {err.rule}: {err.message}")
        if len(invoice.errors) > max(top, 20):
            out.append(f"  ... and {len(invoice.errors) - max(top, 20)} more (--json lists them all)")
    if invoice.reject_summary:
        out.append("")
        out.append(f"Rejected usage rows: {invoice.rejects_total:,} (header is row 1)")
        first: dict[str, list[str]] = defaultdict(list)
        for r in invoice.rejects:
            rows = first[reject_category(r.reason)]
            if len(rows) < 3:
                rows.append(f"{r.where}: {r.reason}")
        for s in invoice.reject_summary:
            out.append(f"  {s.reason:<36} {s.count:>10,}")
            out.extend(f"      {example}" for example in first.get(s.reason, []))
        if len(invoice.rejects) < invoice.rejects_total:
            out.append(f"  (the first {len(invoice.rejects):,} rejected rows are listed in --json)")
    return "\n".join(out) + "\n"


__all__ = ["fmt", "render_invoice"]
