"""The invoice: per-line items, fleet items, quotes, inventory errors and rejects.

Every item is rounded once to the cent (half-up) when it is made; totals are sums of rounded
items.  `to_dict()` / `to_json()` give the JSON of accounting-io.md; `render_text()` the readable
invoice (see `accounting.render`).
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from accounting.inventory import InventoryIssue
from accounting.money import ZERO, cents, fmt
from m2msim.gcpause import paused_gc

log = logging.getLogger(__name__)

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # what json.dumps(v, ensure_ascii=False) does
json_string: Callable[[str], str] = json.encoder.encode_basestring  # a JSON string, as _ENCODE writes one


class LaidOut(list[str]):
    """A list's entries already encoded and laid out ("    " + entry), joined as they are."""


def layout_json(doc: dict[str, Any]) -> str:
    """JSON readable by people and fast to write: lists get one compact entry per line.

    Every key's part and every list entry is separated from the next by ",\n": the document is one
    join of them all (a list's entries taken as they are, its key and brackets put on its first and
    last), not a join per list then one of the parts (a million lines' entries, 500 MB, copied
    once instead of three times)."""
    pieces: list[str] = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            entries = value if isinstance(value, LaidOut) else ["    " + _ENCODE(v) for v in value]
            head, tail = f"  {json.dumps(key)}: [\n", "\n  ]"
            pieces.append(head + entries[0])
            pieces.extend(entries[1:])
            pieces[-1] += tail
        else:
            pieces.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    if not pieces:
        return "{\n\n}"
    pieces[0] = "{\n" + pieces[0]
    pieces[-1] += "\n}"
    return ",\n".join(pieces)


class Item(NamedTuple):
    """One priced item.  A named tuple: a month of 10,000 lines makes some 60,000 of them."""

    code: str
    quantity: int | Decimal
    unit: str
    amount: Decimal  # already rounded to the cent
    note: str | None = None
    step: str | None = None

    @staticmethod
    def make(
        code: str,
        quantity: int | Decimal,
        unit: str,
        exact: Decimal,
        note: str | None = None,
        step: str | None = None,
    ) -> Item:
        return Item(code, quantity, unit, cents(exact), note, step)

    def to_json(self) -> str:
        """`to_dict()` encoded, as `json.dumps(..., ensure_ascii=False)` writes it, without the dict."""
        return _ItemTexts().text(self)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "code": self.code,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "amount": fmt(self.amount),
        }
        if self.step is not None:
            d["step"] = self.step
        if self.note is not None:
            d["note"] = self.note
        return d


class _ItemTexts:
    """`Item.to_json` for many items: the text around an item's quantity and amount is made once
    per (code, unit, step, note), an amount's text once per value."""

    def __init__(self) -> None:
        self.forms: dict[tuple[str, str, str | None, str | None], tuple[str, str, str]] = {}
        self.amounts: dict[Decimal, str] = {}

    def text(self, item: Item) -> str:
        code, quantity, unit, amount, note, step = item
        fkey = (code, unit, step, note)
        form = self.forms.get(fkey)
        if form is None:
            tail = '"'
            if step is not None:
                tail += f', "step": {json_string(step)}'
            if note is not None:
                tail += f', "note": {json_string(note)}'
            form = self.forms[fkey] = (
                f'{{"code": {json_string(code)}, "quantity": "',
                f'", "unit": {json_string(unit)}, "amount": "',
                tail + "}",
            )
        # An int's or a Decimal's text holds nothing JSON escapes; anything else is encoded.
        qtext = str(quantity) if type(quantity) is int else json_string(str(quantity))[1:-1]
        if amount:
            atext = self.amounts.get(amount)
            if atext is None:
                atext = self.amounts[amount] = fmt(amount)
        else:  # zero: 0.00 and -0.00 are equal keys but differ in text
            atext = fmt(amount)
        head, mid, tail = form
        return f"{head}{qtext}{mid}{atext}{tail}"


@dataclass(slots=True)
class LineBill:
    id: str
    offer: str
    plan: str
    commitment: int | None
    prototype: bool
    group: str | None
    items: list[Item] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), ZERO)

    def to_dict(self) -> dict[str, Any]:
        return self._dict(self.total)

    def _json_terms(self) -> str:
        """The keys of the line's entry (as `_ENCODE(self._dict(...))` writes it) after its id and
        before its total: the same for alike lines."""
        head = f'"offer": {json_string(self.offer)}, "plan": {json_string(self.plan)}, '
        if self.commitment is not None:
            head += f'"commitment": {int.__repr__(self.commitment)}, '
        if self.prototype:
            head += '"prototype": true, '
        return head

    def _dict(self, total: Decimal, items: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "offer": self.offer, "plan": self.plan}
        if self.commitment is not None:
            d["commitment"] = self.commitment
        if self.prototype:
            d["prototype"] = True
        d["total_ht"] = fmt(total)
        if items:
            d["items"] = [i.to_dict() for i in self.items]
        return d


@dataclass(frozen=True)
class Quote:
    code: str
    reason: str


def _rejects_json(rejects: Sequence[Reject]) -> LaidOut:
    """Each reject's entry as `_ENCODE(reject.to_dict())` writes it, each reason encoded once (a
    month's 30,000 rejects: 0.02 s, where encoding each took 0.08)."""
    reasons: dict[str, str] = {}
    out = LaidOut()
    for r in rejects:
        reason = reasons.get(r.reason)
        if reason is None:
            reason = reasons[r.reason] = json_string(r.reason)
        where = "" if r.file is None else f', "file": {json_string(r.file)}'
        out.append(f'    {{"row": {int(r.row)}, "reason": {reason}{where}}}')
    return out


@dataclass(frozen=True)
class Reject:
    row: int  # in its file; the header is row 1
    reason: str
    file: str | None = None  # the file's name when the input was several files

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"row": self.row, "reason": self.reason}
        if self.file is not None:
            d["file"] = self.file
        return d

    @property
    def where(self) -> str:
        return f"{self.file}:{self.row}" if self.file is not None else f"row {self.row}"


@dataclass(frozen=True)
class RejectSummary:
    reason: str  # the category: unknown line, malformed value, ...
    count: int


_SLASHED_DATE = re.compile(r"start '\d{1,2}/\d{1,2}/\d{2,4}")  # (01/03/2026 10:00, 3/1/26 ...)
_DATE_ALONE = re.compile(r"start '\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}\s*'")  # (2026-03-05, 2026/3/5)
# Subscriptions, options, fees: not proportional to usage (the fleet's fees per SMS Internet ShortID
# and per extra assistance manager too: monthly or once, counted in their own units).
FIXED_UNITS = frozenset({"month", "once", "short id", "manager"})
PROJECTION_RULE = (
    "projection, not a bill: usage charges x days in the month / days covered; "
    "subscriptions, options and fees as they are"
)


@dataclass(frozen=True)
class UsageCoverage:
    """The days the usage records cover when they are not the whole billing month."""

    start: str  # ISO 8601, UTC
    end: str  # exclusive
    days: Decimal  # days covered (a fraction when the period ends within a day)
    days_in_month: int

    def describe(self) -> str:
        return (
            f"usage covers {self.start[:16].replace('T', ' ')} to {self.end[:16].replace('T', ' ')} UTC, "
            f"{self.days.normalize():f} of the month's {self.days_in_month} days"
        )

    def to_dict(self) -> dict[str, Any]:
        """`usage_covers` as the JSON documents write it (accounting-io.md)."""
        return {
            "start": self.start,
            "end": self.end,
            "days": f"{self.days.normalize():f}",  # 10, not 1E+1
            "days_in_month": self.days_in_month,
        }


def run_coverage(usage: Path, month: str) -> UsageCoverage | None:
    """The days a run's usage covers when `usage` is a run folder of part of `month` (`m2msim run
    --days 1`), or its `usage/` or `usage.parquet` (a link to them, `.` in them: `run_of`): its
    summary.json's `usage_covers` (a version before it: its `period`), when it is the run's as
    written.  `rate RUN --json` wrote an invoice of the month without the days it covers: the page
    of its folder drew 31 days and compared the offers "on the month"."""
    from m2msim.rundir import changed_files, marker_files, run_of

    # (the run's usage as the rating reads it: through a link to its usage/, as `.` in it, or with
    # a file of the user's beside the run's; its summary.json as the run wrote it)
    folder = run_of(usage)
    if folder is None or "summary.json" not in (marker_files(folder) or []):
        return None
    changed = changed_files(folder)
    # (its usage replaced, a whole month's records put in place of the run's day: the run's days
    # projected them x31; the days are those of the run's usage as it wrote it)
    replaced = [f for f in changed if f.split("/", 1)[0].startswith("usage")]
    if replaced:
        log.warning(
            "%s: %s is not the run's as it wrote it: the days its summary.json says are not taken "
            "for its usage (the month, no projection)",
            folder,
            replaced[0],
        )
    if "summary.json" in changed or replaced:
        return None
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        c = summary.get("usage_covers")
        if c is not None:
            covers = UsageCoverage(
                str(c["start"]), str(c["end"]), Decimal(str(c["days"])), int(c["days_in_month"])
            )
        else:  # (a version before `usage_covers`: its period, as the run's own page reads it)
            start, end = (document_time(summary["period"][k]) for k in ("start", "end"))
            in_month = calendar.monthrange(start.year, start.month)[1]
            days = (end - start).total_seconds() / 86400
            if days >= in_month - 1e-9:
                return None  # (a whole month's run)
            covered = Decimal(str(round(days, 6)))  # (the days the run's own page projects by)
            since, until = (t.isoformat().replace("+00:00", "Z") for t in (start, end))
            covers = UsageCoverage(since, until, covered, in_month)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError):
        return None  # (a whole month's run has none; a summary not as m2msim writes it: the month)
    return covers if covers.start[:7] == month and covers.days > 0 else None


def document_time(text: object) -> datetime:
    """A time of a document, in UTC (one without an offset taken as UTC; one written with another
    offset, `08:00+02:00`, converted to UTC)."""
    return as_utc(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def as_utc(d: datetime) -> datetime:
    """`d` in UTC: one without a zone (naive) taken as UTC, never as the machine's local time (which
    `astimezone` takes it for: a page's dates shifted by the zone of the machine that drew it)."""
    return d.astimezone(UTC) if d.tzinfo else d.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Projection:
    """The month the partial usage points to (see `PROJECTION_RULE`)."""

    usage: Decimal  # usage charges of the days covered
    usage_projected: Decimal
    fixed: Decimal  # subscriptions, options, fees, as billed
    total: Decimal


@dataclass
class Invoice:
    customer: str
    month: str
    currency: str
    catalog: str
    lines: list[LineBill] = field(default_factory=list)
    fleet: list[Item] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    errors: list[InventoryIssue] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    reject_summary: list[RejectSummary] = field(default_factory=list)
    rows_read: int = 0
    # each usage file rated, as `accounting.usage.file_identity` tells it (none for records not read
    # from files): a report checks the usage files beside the invoice are these
    usage_files: list[dict[str, Any]] | None = None
    coverage: UsageCoverage | None = None  # set when the usage covers part of the month only

    def projection(self) -> Projection | None:
        """The projected month when the usage covers part of it (`PROJECTION_RULE`), else None."""
        c = self.coverage
        if c is None or c.days <= 0:
            return None
        usage = fixed = ZERO
        for item in (i for bill in self.lines for i in bill.items):
            if item.unit in FIXED_UNITS:
                fixed += item.amount
            else:
                usage += item.amount
        for item in self.fleet:
            if item.unit in FIXED_UNITS:
                fixed += item.amount
            else:
                usage += item.amount
        projected = cents(usage * Decimal(c.days_in_month) / c.days)
        return Projection(usage, projected, fixed, projected + fixed)

    def _coverage_dict(self) -> dict[str, Any]:
        """The keys a partial month adds to the JSON (none for a whole month: older readers see no change)."""
        c, p = self.coverage, self.projection()
        if c is None or p is None:
            return {}
        return {
            "usage_covers": c.to_dict(),
            "projected_month": {
                "rule": PROJECTION_RULE,
                "usage_ht": fmt(p.usage),
                "usage_projected_ht": fmt(p.usage_projected),
                "fixed_ht": fmt(p.fixed),
                "total_ht": fmt(p.total),
            },
        }

    @property
    def rejects_total(self) -> int:
        return sum(s.count for s in self.reject_summary)

    def doubt(self) -> str | None:
        """Why the invoice may not be what the usage meant, when half the rows read or more were
        rejected (a file in another form than a usage file's: starts written as a spreadsheet
        shows dates, another month): the main reason, its first row, and what a start is."""
        rejected = self.rejects_total
        if not self.rows_read or rejected * 2 < self.rows_read:
            return None
        top = max(self.reject_summary, key=lambda s: s.count)
        first = next((r for r in self.rejects if r.reason.startswith(top.reason)), None)
        said = (
            f"{rejected:,} of the {self.rows_read:,} usage rows were rejected, {top.count:,} as "
            f"{top.reason}" + (f" ({first.where}: {first.reason})" if first is not None else "")
        )
        if first is not None and _SLASHED_DATE.search(first.reason):
            said += (
                "; a start is ISO 8601 with its offset (2026-03-01T10:00:00Z), not a date with slashes "
                "as a spreadsheet shows it"
            )
        elif first is not None and _DATE_ALONE.search(first.reason):
            said += (
                "; a start is an instant, ISO 8601 with its time of day and offset (2026-03-01T10:00:00Z), "
                "not a date alone: the records of a day could not be told apart"
            )
        return said + ": the invoice bills only the rows not rejected"

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO) + sum((i.amount for i in self.fleet), ZERO)

    @property
    def lines_not_active(self) -> int:
        """The lines listed with no items: not active in the month (`since` after it); an active
        line always has its subscription item."""
        return sum(1 for line in self.lines if not line.items)

    @property
    def has_problems(self) -> bool:
        return bool(self.errors or self.rejects_total)

    def to_dict(self, *, lines: bool = True) -> dict[str, Any]:
        """The JSON document as Python values (`lines=False`: with "lines" and "rejects" left
        empty)."""
        entries = []
        lines_total = ZERO
        for line in self.lines if lines else ():  # each line's total once: its entry, the invoice's
            total = line.total
            lines_total += total
            entries.append(line._dict(total))
        return {
            "customer": self.customer,
            "month": self.month,
            "currency": self.currency,
            "catalog": self.catalog,
            "total_ht": fmt(lines_total + sum((i.amount for i in self.fleet), ZERO)),
            "lines": entries,
            "fleet": [i.to_dict() for i in self.fleet],
            "quotes": [{"code": q.code, "reason": q.reason} for q in self.quotes],
            "errors": [{"line": e.line, "rule": e.rule, "message": e.message} for e in self.errors],
            "rejects": [r.to_dict() for r in self.rejects] if lines else [],
            "rejects_by_reason": [{"reason": s.reason, "count": s.count} for s in self.reject_summary],
            "rows_read": self.rows_read,
            **({"usage_files": self.usage_files} if self.usage_files is not None else {}),
            **self._coverage_dict(),
        }

    def to_json(self) -> str:
        """The JSON document: one key per line at the top, one list entry (line, item, reject) per line.

        Each line's entry is the text `_ENCODE(line.to_dict())` would give, put together from its
        items' texts; an item many lines share (a subscription) is encoded once.
        """
        with paused_gc():
            doc = self.to_dict(lines=False)
            write = _ItemTexts().text
            shared: dict[int, str] = {}
            # Lines alike (a group's lines without usage share their items): the total and the
            # items' text once per distinct items (their identities: an item is immutable).
            alike: dict[tuple[int, ...], tuple[Decimal, str]] = {}
            heads: dict[tuple[str, str, int | None, bool], str] = {}  # a line's keys after its id
            lines = LaidOut()
            add = lines.append
            lines_total = ZERO
            for line in self.lines:
                items = line.items
                key = tuple(map(id, items))
                known = alike.get(key)
                if known is None:
                    texts = []
                    total = ZERO  # (`line.total`, summed here with the texts)
                    for item in items:
                        text = shared.get(id(item))
                        if text is None:
                            text = shared[id(item)] = write(item)
                        texts.append(text)
                        total += item.amount
                    # (an amount's text, digits, a sign and a point, holds nothing JSON escapes)
                    known = alike[key] = (
                        total,
                        f'"total_ht": "{fmt(total)}", "items": [{", ".join(texts)}]}}',
                    )
                total, tail = known
                lines_total += total
                hkey = (line.offer, line.plan, line.commitment, line.prototype)
                head = heads.get(hkey)
                if head is None:
                    head = heads[hkey] = line._json_terms()
                add(f'    {{"id": {json_string(line.id)}, {head}{tail}')
            doc["total_ht"] = fmt(lines_total + sum((i.amount for i in self.fleet), ZERO))
            doc["lines"] = lines
            doc["rejects"] = _rejects_json(self.rejects)
            return layout_json(doc)

    def render_text(self, top: int = 10, all_lines: bool = False) -> str:
        from accounting.render import render_invoice

        with paused_gc():
            return render_invoice(self, top=top, all_lines=all_lines)
