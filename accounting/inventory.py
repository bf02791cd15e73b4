"""The customer's inventory: lines (one by one or in groups), their offers, options and services.

`load_inventory(path)` reads the YAML of accounting-io.md; `inventory_from_dict(data)` builds the
same from a mapping (a simulator scenario embeds it).  A structurally unusable inventory (not YAML,
a required field missing or malformed, a duplicate id) raises `InventoryError` naming the file,
the line and the field.  Catalog rules (unknown offer, Intense on 24 months, ...) are checked by
`check_lines`: a line breaking one is reported in the invoice's errors and not billed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from accounting.catalog import Catalog
from accounting.errors import InventoryError
from m2msim import yamlio
from m2msim.gcpause import paused_gc
from m2msim.yamlio import LocatedDict, YamlError, load_yaml

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_MONTH, LAST_MONTH = (1, 1), (9999, 11)  # (year, month): a month whose start and end are dates
ASSISTANCE_HOURS = ("8-20-weekdays", "8-22-all-days", "24-7")

# A fleet this large is refused unless forced: what one line costs, measured on the bench (its
# objects, its bill, its share of the rating), for the estimate the refusal shows.
MAX_LINES = 1_000_000
BYTES_PER_LINE = 2_000
SECONDS_PER_LINE = 0.000_1


@dataclass(frozen=True)
class Month:
    """A billing month."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + (self.month == 12), self.month % 12 + 1)

    def contains(self, day: date) -> bool:
        return (day.year, day.month) == (self.year, self.month)

    @staticmethod
    def of(day: date) -> Month:
        return Month(day.year, day.month)


@dataclass(frozen=True)
class OptionSub:
    """An option on a line, from its `since` day."""

    id: str
    since: date


@dataclass(frozen=True)
class Line:
    """One line of the inventory (a group's lines are made alike, `group` set to its prefix)."""

    id: str
    offer: str
    plan: str
    commitment: int | None
    since: date
    options: tuple[OptionSub, ...] = ()
    prototype: bool = False
    group: str | None = None
    where: str = ""  # "file:line" of the entry, for messages


@dataclass(frozen=True)
class AssistanceSub:
    """The customer's assistance subscription."""

    hours: str
    managers: int
    since: date | None = None


@dataclass(frozen=True)
class SmsInternetSub:
    """The customer's SMS Internet subscription."""

    short_ids: int
    popup: int
    since: date


@dataclass(frozen=True)
class Services:
    """The customer's fleet services (each absent when not subscribed)."""

    assistance: AssistanceSub | None = None
    sms_internet: SmsInternetSub | None = None
    localisation: date | None = None  # the `since` of the service
    secure_mobile_access: Mapping[str, date] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """The customer's inventory for one billing month."""

    customer: str
    month: Month
    lines: tuple[Line, ...]
    services: Services = Services()
    source: str = "<inventory>"


@dataclass(frozen=True)
class InventoryIssue:
    """A line that breaks a catalog rule: reported, never billed."""

    line: str
    rule: str
    message: str


def too_many_lines(lines: int, limit: int) -> str:
    """Why a fleet is refused: its size and what rating it would take."""
    memory = lines * BYTES_PER_LINE / 2**30
    hours = lines * SECONDS_PER_LINE / 3600
    if limit == MAX_LINES:
        bound = f"at most {limit:,} lines unless forced: --force"
    else:  # forced already: the most this machine's memory holds
        bound = f"at most {limit:,} lines with --force: what this machine's memory holds"
    return (
        f"{lines:,} lines would take about {memory:,.1f} GiB of memory and {hours:,.1f} h to rate ({bound})"
    )


class _Ctx:
    def __init__(self, source: str, max_lines: int = MAX_LINES) -> None:
        self.source = source
        self.max_lines = max_lines
        self.lines = 0  # lines read so far

    def fail(self, fieldpath: str, reason: str, m: Any = None, key: str | None = None) -> InventoryError:
        line = None
        if isinstance(m, LocatedDict):
            line = m.line_of(key) if key else m.line
        return InventoryError(self.source, fieldpath, reason, line)

    def where(self, m: Any) -> str:
        return f"{self.source}:{m.line}" if isinstance(m, LocatedDict) and m.line else self.source

    def text(self, m: Mapping[str, Any], key: str, path: str, required: bool = True) -> str | None:
        """Text as written: a YAML number or boolean is refused (`0612345670` unquoted is the octal
        number 103402424), with the advice to quote it."""
        value = m.get(key)
        if type(value) is str and value.strip():
            return value  # the usual case, without the checks' calls (10,000 lines, three texts each)
        if value is None:
            if required:
                raise self.fail(f"{path}.{key}" if path else key, "required field missing", m)
            return None
        try:
            return yamlio.text_field(self.located(m, path), key, self.source, path)
        except YamlError as exc:
            raise InventoryError(self.source, exc.key, exc.reason, exc.line) from None

    def located(self, m: Mapping[str, Any], path: str) -> LocatedDict:
        try:
            return yamlio.mapping(m, self.source, path)
        except YamlError as exc:
            raise InventoryError(self.source, exc.key, exc.reason, exc.line) from None

    def day(self, m: Mapping[str, Any], key: str, path: str, required: bool = True) -> date | None:
        fp = f"{path}.{key}" if path else key
        if key not in m or m[key] is None:
            if required:
                raise self.fail(fp, "required field missing", m)
            return None
        value = m[key]
        if isinstance(value, datetime):  # (a date too): its day in UTC, the billing month's zone
            return (value.astimezone(UTC) if value.tzinfo is not None else value).date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(fp, f"expected a date YYYY-MM-DD, got {value!r}", m, key)

    def integer(
        self, m: Mapping[str, Any], key: str, path: str, default: int | None = None, minimum: int = 0
    ) -> int:
        fp = f"{path}.{key}" if path else key
        if key not in m or m[key] is None:
            if default is None:
                raise self.fail(fp, "required field missing", m)
            return default
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(fp, f"expected an integer >= {minimum}, got {value!r}", m, key)
        return value

    def mapping(self, value: Any, path: str, parent: Any = None, key: str | None = None) -> Mapping[str, Any]:
        if not isinstance(value, dict) and not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {value!r}", parent, key)
        return value

    def known_keys(self, m: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        """Every key is one of `allowed`; a misspelt one is named with the key it resembles."""
        if m.keys() <= allowed:
            return
        try:
            yamlio.check_keys(self.located(m, path), sorted(allowed), self.source, path)
        except YamlError as exc:
            raise InventoryError(self.source, exc.key, exc.reason, exc.line) from None


_LINE_KEYS = {"id", "id_prefix", "count", "offer", "plan", "commitment", "since", "options", "prototype"}


def _options(ctx: _Ctx, m: Mapping[str, Any], path: str, since: date) -> tuple[OptionSub, ...]:
    raw = m.get("options")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ctx.fail(f"{path}.options", f"expected a list, got {raw!r}", m, "options")
    out = []
    for i, item in enumerate(raw):
        ip = f"{path}.options[{i}]"
        if isinstance(item, str) and item:
            out.append(OptionSub(item, since))
        elif isinstance(item, Mapping):
            ctx.known_keys(item, ip, {"id", "since"})
            oid = ctx.text(item, "id", ip)
            assert oid is not None
            out.append(OptionSub(oid, ctx.day(item, "since", ip, required=False) or since))
        else:
            raise ctx.fail(ip, f"an option is a name or {{id, since}}, got {item!r}", m, "options")
    return tuple(out)


def _line_entries(ctx: _Ctx, raw: Any, i: int) -> list[Line]:
    path = f"lines[{i}]"
    m = ctx.mapping(raw, path)
    ctx.known_keys(m, path, _LINE_KEYS)
    offer = ctx.text(m, "offer", path)
    plan = ctx.text(m, "plan", path, required=False) or ""
    prototype = m.get("prototype", False)
    if not isinstance(prototype, bool):
        raise ctx.fail(f"{path}.prototype", f"expected true or false, got {prototype!r}", m, "prototype")
    commitment = None
    if m.get("commitment") is not None:
        commitment = ctx.integer(m, "commitment", path, minimum=1)
    elif not prototype:
        raise ctx.fail(f"{path}.commitment", "required field missing", m)
    since = ctx.day(m, "since", path)
    assert offer is not None and since is not None
    options = _options(ctx, m, path, since)
    where = ctx.where(m)
    if "id" in m:
        if "id_prefix" in m or "count" in m:
            raise ctx.fail(path, "a line has either `id` or `id_prefix` and `count`", m)
        line_id = ctx.text(m, "id", path)
        assert line_id is not None
        if ctx.lines >= ctx.max_lines:
            raise ctx.fail(f"{path}.id", too_many_lines(ctx.lines + 1, ctx.max_lines), m, "id")
        return [Line(line_id, offer, plan, commitment, since, options, prototype, None, where)]
    if "id_prefix" not in m:
        raise ctx.fail(f"{path}.id", "required field missing (or `id_prefix` and `count` for a group)", m)
    group = ctx.text(m, "id_prefix", path)
    assert group is not None
    count = ctx.integer(m, "count", path, minimum=1)
    if count > ctx.max_lines - ctx.lines:
        raise ctx.fail(f"{path}.count", too_many_lines(ctx.lines + count, ctx.max_lines), m, "count")
    width = len(str(count))
    template = Line(group, offer, plan, commitment, since, options, prototype, group, where)
    return _alike(template, [f"{group}{n:0{width}d}" for n in range(1, count + 1)])


def _alike(template: Line, ids: list[str]) -> list[Line]:
    """Lines equal to `template` but for their ids (a group's).

    The same objects `Line(...)` makes (equal, hashing alike, frozen), made by copying the
    template's fields: a frozen dataclass's `__init__` sets each field through
    `object.__setattr__`, which was two thirds of the time to load a 10,000-line group.
    """
    new = object.__new__
    fields = template.__dict__
    out = []
    for line_id in ids:
        line = new(Line)
        state = line.__dict__
        state.update(fields)
        state["id"] = line_id
        out.append(line)
    return out


def _services(ctx: _Ctx, raw: Any) -> Services:
    if raw is None:
        return Services()
    m = ctx.mapping(raw, "services")
    ctx.known_keys(m, "services", {"assistance", "sms_internet", "localisation", "secure_mobile_access"})
    assistance = sms_internet = None
    localisation = None
    sma: dict[str, date] = {}
    if m.get("assistance") is not None:
        a = ctx.mapping(m["assistance"], "services.assistance", m, "assistance")
        ctx.known_keys(a, "services.assistance", {"hours", "managers", "since"})
        hours = ctx.text(a, "hours", "services.assistance")
        if hours not in ASSISTANCE_HOURS:
            raise ctx.fail(
                "services.assistance.hours",
                f"expected one of {list(ASSISTANCE_HOURS)}, got {hours!r}",
                a,
                "hours",
            )
        assistance = AssistanceSub(
            hours,
            ctx.integer(a, "managers", "services.assistance", 5),
            ctx.day(a, "since", "services.assistance", False),
        )
    if m.get("sms_internet") is not None:
        p = "services.sms_internet"
        s = ctx.mapping(m["sms_internet"], p, m, "sms_internet")
        ctx.known_keys(s, p, {"short_ids", "popup", "since"})
        since = ctx.day(s, "since", p)
        assert since is not None
        short_ids, popup = ctx.integer(s, "short_ids", p, 1, minimum=1), ctx.integer(s, "popup", p, 0)
        if popup > short_ids:  # « l'option pop up: abonnement mensuel / ShortID »: one per ShortID at most
            raise ctx.fail(
                f"{p}.popup",
                f"expected at most short_ids ({short_ids}): the pop-up option is taken per ShortID, got {popup}",
                s,
                "popup",
            )
        sms_internet = SmsInternetSub(short_ids, popup, since)
    if m.get("localisation") is not None:
        loc = ctx.mapping(m["localisation"], "services.localisation", m, "localisation")
        ctx.known_keys(loc, "services.localisation", {"since"})
        localisation = ctx.day(loc, "since", "services.localisation")
    if m.get("secure_mobile_access") is not None:
        p = "services.secure_mobile_access"
        s = ctx.mapping(m["secure_mobile_access"], p, m, "secure_mobile_access")
        ctx.known_keys(s, p, {"intranet", "internet"})
        for kind, sub in s.items():
            sm = ctx.mapping(sub, f"{p}.{kind}", s, kind)
            ctx.known_keys(sm, f"{p}.{kind}", {"since"})
            day = ctx.day(sm, "since", f"{p}.{kind}")
            assert day is not None
            sma[kind] = day
    return Services(assistance, sms_internet, localisation, sma)


def inventory_from_dict(data: Any, source: str = "<inventory>", *, max_lines: int = MAX_LINES) -> Inventory:
    """Build an inventory from a mapping shaped like accounting-io.md's YAML.

    More than `max_lines` lines is refused (`InventoryError`) with what rating them would take.
    """
    with paused_gc():  # a line object per line, all living on (see m2msim.gcpause)
        return _inventory(data, source, max_lines)


def _inventory(data: Any, source: str, max_lines: int) -> Inventory:
    ctx = _Ctx(source, max_lines)
    m = ctx.mapping(data, "")
    ctx.known_keys(m, "", {"customer", "month", "lines", "services"})
    customer = ctx.text(m, "customer", "")
    month_raw = m.get("month")
    if month_raw is None:
        raise ctx.fail("month", "required field missing", m)
    match = _MONTH.match(str(month_raw))
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ctx.fail("month", f"expected YYYY-MM, got {month_raw!r}", m, "month")
    if not FIRST_MONTH <= (int(match.group(1)), int(match.group(2))) <= LAST_MONTH:
        # the year 0 and 9999-12 (its end, 10000-01-01, is no date) ended `rate` in a traceback
        raise ctx.fail(
            "month",
            f"a billing month from 0001-01 to 9999-11 (its end a date), got {month_raw!r}",
            m,
            "month",
        )
    raw_lines = m.get("lines")
    if not isinstance(raw_lines, list):
        raise ctx.fail("lines", "expected a list of lines", m, "lines" if "lines" in m else None)
    lines: list[Line] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(raw_lines):
        entries = _line_entries(ctx, raw, i)
        ctx.lines += len(entries)
        if len(entries) == 1:  # a line of its own (an inventory of 10,000 of them is usual)
            line = entries[0]
            known = len(seen)
            seen.setdefault(line.id, line.where)
            if len(seen) == known:
                raise ctx.fail(
                    f"lines[{i}].id", f"duplicate line id {line.id!r} (first at {seen[line.id]})", raw
                )
            lines.append(line)
            continue
        ids = [line.id for line in entries]  # distinct within an entry (a group's counter)
        if not seen.keys().isdisjoint(ids):
            dup = next(line_id for line_id in ids if line_id in seen)
            raise ctx.fail(f"lines[{i}].id", f"duplicate line id {dup!r} (first at {seen[dup]})", raw)
        seen.update(dict.fromkeys(ids, entries[0].where))
        lines.extend(entries)
    assert customer is not None
    month = Month(int(match.group(1)), int(match.group(2)))
    services = _services(ctx, m.get("services"))
    if services.secure_mobile_access:
        lines = _secure_mobile_access_from_service(lines, services.secure_mobile_access)
    return Inventory(customer, month, tuple(lines), services, source)


SECURE_MOBILE_ACCESS = "secure-mobile-access-"  # the options of the service `<kind>`: this + kind


def _secure_mobile_access_from_service(lines: list[Line], service: Mapping[str, date]) -> list[Line]:
    """A Secure Mobile Access option (« 4 € HT/ligne/mois », « service à souscrire en complément
    d'une ligne ») is billed from the month the customer has the service: a line's option that
    says an earlier date (the line's own `since`, when the option gives none) starts on the
    service's `since` instead."""
    moved: dict[tuple[OptionSub, ...], tuple[OptionSub, ...]] = {}
    out = []
    for line in lines:
        options = line.options
        if options:
            later = moved.get(options)
            if later is None:
                later = moved[options] = tuple(
                    OptionSub(o.id, max(o.since, service[kind]))
                    if o.id.startswith(SECURE_MOBILE_ACCESS)
                    and (kind := o.id.removeprefix(SECURE_MOBILE_ACCESS)) in service
                    else o
                    for o in options
                )
            if later != options:
                line = replace(line, options=later)
        out.append(line)
    return out


def load_inventory(path: str | Path, *, max_lines: int = MAX_LINES) -> Inventory:
    """Read an inventory YAML file (accounting-io.md)."""
    source = str(path)
    try:
        data = load_yaml(Path(path), decimals_as_text=True, cache=True)
    except YamlError as exc:
        raise InventoryError(source, exc.key, exc.reason, exc.line) from None
    return inventory_from_dict(data, source, max_lines=max_lines)


def is_active(line: Line, month: Month) -> bool:
    """A line is active in the month when it was activated on or before the month's last day."""
    since = line.since
    return since.year * 12 + since.month - 1 <= month.index


def check_lines(inventory: Inventory, catalog: Catalog) -> list[InventoryIssue]:
    """The catalog rules each line must keep; a line with an issue is not billed."""
    issues: list[InventoryIssue] = []
    prototypes = 0
    # Lines alike in what the rules read (a group's lines all are) are checked once.
    checked: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
    for line in inventory.lines:
        terms = (line.offer, line.plan, line.commitment, line.prototype, line.since, line.options)
        found = checked.get(terms)
        if found is None:
            found = checked[terms] = _check_line(line, inventory.month, catalog)
        # A place among the five is taken by a prototype running in the month: one that starts
        # after it is not there yet (listed with no items), and takes none.
        if line.prototype and not found and is_active(line, inventory.month):
            found = []
            prototypes += 1
            if prototypes > catalog.prototype_max_lines:
                found.append(
                    (
                        "too-many-prototypes",
                        f"prototype line number {prototypes}: at most {catalog.prototype_max_lines} per customer",
                    )
                )
        if found:
            issues.extend(InventoryIssue(line.id, rule, f"{msg} ({line.where})") for rule, msg in found)
    return issues


def _check_line(line: Line, month: Month, catalog: Catalog) -> list[tuple[str, str]]:
    offer = catalog.offers.get(line.offer)
    if offer is None:
        return [("unknown-offer", f"unknown offer {line.offer!r}")]
    out: list[tuple[str, str]] = []
    plan = offer.plans.get(line.plan)
    if line.prototype:
        if offer.prototype is None:
            out.append(("prototype-not-offered", f"offer {line.offer!r} has no prototype option"))
        else:
            elapsed = month.index - Month.of(line.since).index
            if elapsed >= offer.prototype.months:
                out.append(
                    (
                        "prototype-expired",
                        f"prototype since {line.since} is past its {offer.prototype.months} months",
                    )
                )
        if line.plan and plan is None:
            out.append(("unknown-plan", f"offer {line.offer!r} has no plan {line.plan!r}"))
    elif plan is None:
        out.append(("unknown-plan", f"offer {line.offer!r} has no plan {line.plan!r}"))
    if plan is not None and line.commitment is not None and line.commitment not in plan.commitments:
        months = " or ".join(str(c) for c in plan.commitments)
        out.append(
            (
                "commitment-not-offered",
                f"{line.offer} {line.plan} is on {months} months only, not {line.commitment}",
            )
        )
    since = {o.id: o.since for o in line.options}
    ids = since.keys()
    for opt in line.options:
        known = catalog.options.get(opt.id)
        if known is None:
            out.append(("unknown-option", f"unknown option {opt.id!r}"))
            continue
        billed = Month.of(opt.since).index <= month.index
        for req in known.requires:
            if req not in ids:
                out.append((f"{opt.id}-requires-{req}", f"option {opt.id} requires {req} on the same line"))
            elif billed and Month.of(since[req]).index > month.index:
                out.append(
                    (
                        f"{opt.id}-requires-{req}",
                        f"option {opt.id} requires {req} on the same line, which starts {since[req]}",
                    )
                )
    if len(ids) != len(line.options):
        out.append(("duplicate-option", "an option is listed twice"))
    return out
