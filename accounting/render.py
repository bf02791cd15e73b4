"""The readable invoice: short enough for a 10,000-line fleet.

Totals by offer, plan and commitment; the optima steps chosen; the costliest lines; fleet
services and quotes; inventory errors; rejected rows summarised by reason with their first rows.
Small fleets (or `all_lines=True`) also get every line with its items.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from accounting.engine import reject_category
from accounting.invoice import PROJECTION_RULE, Invoice, LineBill
from accounting.money import ZERO, cents, fmt

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
    """An amount with thousands separators and two decimals, rounded half-up as every amount is
    (`format`'s own rounding is the thread's decimal context's, half-even by default: 0.125 -> 0.12)."""
    return f"{cents(amount):,.2f}"


def _plan_label(bill: LineBill) -> str:
    return _label(bill.offer, bill.plan, bill.commitment, bill.prototype)


def _label(offer: str, plan: str, commitment: int | None, prototype: bool) -> str:
    if prototype:
        return f"{offer} prototype"
    months = f" {commitment} m" if commitment else ""
    return f"{offer} {plan}{months}"


class Summary(NamedTuple):
    """What the readable invoice sums of its lines."""

    totals: list[Decimal]  # each line's total, in the invoice's order
    lines: dict[str, int]  # lines per offer, plan and commitment (their label)
    sums: dict[str, dict[str, Decimal]]  # by label, the amounts by family (every one of FAMILIES)
    steps: dict[str, int]  # "offer plan: step" -> lines billed on that step


def summary(bills: Sequence[LineBill]) -> Summary:
    """The lines' totals and sums, in one pass over their items (an item code's family found once)."""
    families_of: dict[str, str] = {}
    kinds: dict[tuple[str, str, int | None, bool], list[Any]] = {}  # -> [lines, sums by family]
    steps: dict[tuple[str, str, str], int] = defaultdict(int)
    totals = []
    for bill in bills:
        kkey = (bill.offer, bill.plan, bill.commitment, bill.prototype)
        kind = kinds.get(kkey)
        if kind is None:
            kind = kinds[kkey] = [0, dict.fromkeys(FAMILIES, ZERO)]
        kind[0] += 1
        sums = kind[1]
        total = ZERO
        for code, _, _, amount, _, step in bill.items:
            fam = families_of.get(code)
            if fam is None:
                fam = families_of[code] = family(code)
            total += amount
            sums[fam] += amount
            if step and code == "subscription":
                steps[(bill.offer, bill.plan, step)] += 1
        totals.append(total)
    lines: dict[str, int] = defaultdict(int)
    label_sums: dict[str, dict[str, Decimal]] = {}
    for (offer, plan, commitment, prototype), (n, sums) in kinds.items():
        label = _label(offer, plan, commitment, prototype)
        lines[label] += n
        into = label_sums.get(label)
        if into is None:
            label_sums[label] = sums
        else:
            for fam, amount in sums.items():
                into[fam] += amount
    by_step: dict[str, int] = defaultdict(int)
    for (offer, plan, step), n in steps.items():
        by_step[f"{offer} {plan}: {step}"] += n
    return Summary(totals, lines, label_sums, by_step)


def _code_width(codes: Iterable[str], least: int) -> int:
    """The width of a column of item codes: the longest shown (`option-first-traffic-billing-fee`,
    `secure-mobile-access-intranet-setup`), so that the quantities and amounts stay in their columns."""
    return max(least, max(map(len, codes), default=0))


def _line_detail(bill: LineBill, code_w: int = 28) -> list[str]:
    out = [f"  {bill.id}  {_plan_label(bill)}  total {money(bill.total)}"]
    for item in bill.items:
        extra = " ".join(x for x in (f"[{item.step}]" if item.step else "", item.note or "") if x)
        out.append(
            f"      {item.code:<{code_w}} {item.quantity!s:>12} {item.unit:<6} {money(item.amount):>12}  {extra}".rstrip()
        )
    return out


def render_invoice(invoice: Invoice, top: int = 10, all_lines: bool = False) -> str:
    out: list[str] = []
    cur = invoice.currency
    totals, groups, group_sums, steps = summary(invoice.lines)
    lines_total = sum(totals, ZERO)
    fleet_total = sum((i.amount for i in invoice.fleet), ZERO)
    out.append(f"Invoice {invoice.customer}, {invoice.month} (catalog {invoice.catalog}, {cur} HT)")
    out.append(f"Total HT: {money(lines_total + fleet_total)} {cur}")
    idle = invoice.lines_not_active
    out.append(
        f"  {len(invoice.lines):,} lines"
        + (f" ({idle:,} not active in the month: no items)" if idle else "")
        + f": {money(lines_total)}; fleet services: {money(fleet_total)}; "
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
        code_w = _code_width((i.code for bill in invoice.lines for i in bill.items), 28)
        for bill in invoice.lines:
            out.extend(_line_detail(bill, code_w))
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
        code_w = _code_width((item.code for i in costliest for item in bills[i].items), 28)
        for i in costliest:
            out.extend(_line_detail(bills[i], code_w))
    if invoice.fleet or invoice.quotes:
        out.append("")
        out.append("Fleet services")
        code_w = _code_width((i.code for i in invoice.fleet), 30)
        for item in invoice.fleet:
            out.append(
                f"  {item.code:<{code_w}} {item.quantity!s:>10} {item.unit:<9} {money(item.amount):>12}  {item.note or ''}".rstrip()
            )
        for quote in invoice.quotes:
            out.append(f"  {quote.code:<{code_w}} QUOTE REQUIRED: {quote.reason}")
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
        categories: dict[str, str] = {}  # (by reason: most rejects share theirs)
        for r in invoice.rejects:
            category = categories.get(r.reason)
            if category is None:
                category = categories[r.reason] = reject_category(r.reason)
            rows = first[category]
            if len(rows) < 3:
                rows.append(f"{r.where}: {r.reason}")
        for s in invoice.reject_summary:
            out.append(f"  {s.reason:<36} {s.count:>10,}")
            out.extend(f"      {example}" for example in first.get(s.reason, []))
        if len(invoice.rejects) < invoice.rejects_total:
            out.append(f"  (the first {len(invoice.rejects):,} rejected rows are listed in --json)")
    return "\n".join(out) + "\n"


__all__ = ["fmt", "render_invoice"]
