"""A tariff catalog: one data file, validated when loaded, read by the generic rating engine.

Nothing of an operator's prices lives in code: offers, plans and their steps, commitments,
bundles by zone, per-zone data rates, SMS volume steps, call tariffs, options, fleet services,
fleet discounts and prototype rules all come from the file.  A broken file fails with the file,
the key path and the reason (`CatalogError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from accounting.errors import CatalogError
from accounting.money import to_decimal
from accounting.records import Dest, UsageType, Zone
from m2msim import yamlio
from m2msim.yamlio import LocatedDict, YamlError, load_yaml

CATALOG_DIR = Path(__file__).resolve().parent / "catalogs"
DEFAULT_CATALOG = "orange-m2m-2012"

# Bounds of a catalog's values: an amount is a price below a billion times a count of at most 10**15
# (ko, seconds, messages), so every amount and sum keeps within Decimal's 28 digits and rounds to
# the cent exactly (a price of 1e30 made the rounding fail: a traceback).
MAX_PRICE = Decimal(10**9)
MAX_INTEGER = 10**15
_ID = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
LINE_USAGE = (UsageType.DATA, UsageType.SMS, UsageType.VOICE, UsageType.CSD)
CALL_TYPES = (UsageType.VOICE, UsageType.CSD)


@dataclass(frozen=True)
class VolumeStep:
    """Volume pricing: the step whose `start` the month's count reached prices every unit."""

    start: int
    value: Decimal


def pick_step(steps: tuple[VolumeStep, ...], count: int) -> Decimal:
    chosen = steps[0].value
    for step in steps:
        if count >= step.start:
            chosen = step.value
    return chosen


@dataclass(frozen=True)
class SmsRule:
    """SMS pricing: the zones a message may leave from, the destinations it may go to, its volume steps."""

    from_zones: frozenset[str]
    to_dests: frozenset[str]
    steps: tuple[VolumeStep, ...]


@dataclass(frozen=True)
class CallTariff:
    """A call tariff: where from and to, an indivisible first period and its price, then per second."""

    id: str
    from_zones: frozenset[str]
    to_dests: frozenset[str]
    first_period_s: int
    first_period_price: Decimal
    per_second: Decimal


@dataclass(frozen=True)
class PlanStep:
    """One step of a plan: its allowance, its monthly price per commitment, the price beyond it."""

    name: str
    allowance_ko: int
    price: Mapping[int, Decimal]  # commitment months -> monthly price
    over_per_mo: Decimal


@dataclass(frozen=True)
class Plan:
    """A plan of an offer: its steps (one, or the optima steps chosen by volume)."""

    id: str
    steps: tuple[PlanStep, ...]

    @property
    def commitments(self) -> tuple[int, ...]:
        return tuple(sorted(self.steps[0].price))


@dataclass(frozen=True)
class Prototype:
    """An offer's prototype option: how many months, the free volume, the price beyond it."""

    months: int
    free_ko: int
    over_per_mo: Decimal


@dataclass(frozen=True)
class Offer:
    """An offer: the usage it includes, its call tariffs, fees, bundle zones and rates, plans."""

    id: str
    name: str
    usage: frozenset[str]
    calls: Mapping[str, CallTariff]
    activation_fee: Decimal
    bundle_zones: tuple[str, ...]
    zone_rates_per_mo: Mapping[str, Decimal]
    plans: Mapping[str, Plan]
    prototype: Prototype | None


@dataclass(frozen=True)
class FleetDiscount:
    """A discount on some offers' subscriptions once the fleet has enough of their lines."""

    name: str
    offers: frozenset[str]
    min_lines: int
    rate: Decimal


@dataclass(frozen=True)
class Option:
    """A line option: its monthly and one-off prices and the options it requires."""

    id: str
    name: str
    monthly: Decimal
    once: Decimal
    requires: tuple[str, ...]


@dataclass(frozen=True)
class AssistanceTier:
    """Assistance prices up to a fleet size (by hours of service), or a quote above it."""

    up_to: int | None
    prices: Mapping[str, Decimal]
    quote: str | None


@dataclass(frozen=True)
class Assistance:
    """The assistance service: tiers by fleet size, managers included and the price of more."""

    name: str
    tiers: tuple[AssistanceTier, ...]
    included_managers: int
    extra_manager_monthly: Decimal


@dataclass(frozen=True)
class SmsInternet:
    """The SMS Internet service: per short id fees, billable destinations, volume steps."""

    name: str
    activation_per_short_id: Decimal
    monthly_per_short_id: Decimal
    popup_monthly_per_short_id: Decimal
    billable_dests: frozenset[str]
    steps: tuple[VolumeStep, ...]


@dataclass(frozen=True)
class Localisation:
    """The localisation service: fees, the price of a hit and its volume discounts."""

    name: str
    activation: Decimal
    monthly: Decimal
    hit_price: Decimal
    discount_steps: tuple[VolumeStep, ...]


@dataclass(frozen=True)
class SecureMobileAccess:
    """The Secure Mobile Access service: its set-up fee per kind of access."""

    name: str
    setup: Mapping[str, Decimal]


@dataclass(frozen=True)
class Catalog:
    """A whole tariff catalog, validated: everything the rating engine prices from."""

    id: str
    title: str
    currency: str
    ko_per_mo: int
    zones: tuple[str, ...]
    sms: SmsRule
    call_tariffs: Mapping[str, CallTariff]
    offers: Mapping[str, Offer]
    prototype_max_lines: int
    fleet_discounts: tuple[FleetDiscount, ...]
    options: Mapping[str, Option]
    assistance: Assistance | None = None
    sms_internet: SmsInternet | None = None
    localisation: Localisation | None = None
    secure_mobile_access: SecureMobileAccess | None = None
    # Destinations whose SMS and calls every offer takes, from every zone, at no cost (`free_dests`)
    free_dests: frozenset[str] = frozenset()
    source: str = field(default="", compare=False)

    def first_periods(self) -> tuple[int, ...]:
        """The distinct indivisible first periods of the call tariffs (for usage aggregation)."""
        return tuple(sorted({t.first_period_s for t in self.call_tariffs.values()} | {0}))


class _Reader:
    """Walks the parsed file, checking types and remembering the key path for errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, reason: str, line: int | None = None) -> CatalogError:
        return CatalogError(self.source, path, reason, line)

    def mapping(self, value: Any, path: str, line: int | None = None) -> LocatedDict:
        if not isinstance(value, LocatedDict):
            raise self.fail(path, f"expected a mapping, got {_show(value)}", line)
        return value

    def get(self, m: LocatedDict, key: str, path: str, default: Any = ...) -> Any:
        if key not in m:
            if default is ...:
                raise self.fail(_join(path, key), "required key missing", m.line)
            return default
        return m[key]

    def check_keys(self, m: LocatedDict, path: str, allowed: set[str]) -> None:
        """Every key is one of `allowed`; a misspelt one is named with the key it resembles."""
        try:
            yamlio.check_keys(m, sorted(allowed), self.source, path)
        except YamlError as exc:
            raise self.fail(exc.key, exc.reason, exc.line) from None

    def text(self, m: LocatedDict, key: str, path: str, default: Any = ...) -> str:
        value = self.get(m, key, path, default)
        if not isinstance(value, str) or not value:
            raise self.fail(_join(path, key), f"expected text, got {_show(value)}", m.line_of(key))
        return value

    def ident(self, value: Any, path: str, line: int | None) -> str:
        if isinstance(value, int | float | bool):
            raise self.fail(path, f"{_show(value)} is read by YAML as a number or true/false: quote it", line)
        if not isinstance(value, str) or not _ID.match(value):
            raise self.fail(path, f"expected an identifier (a-z, 0-9, -), got {_show(value)}", line)
        return str(value)

    def money(self, m: LocatedDict, key: str, path: str, default: Any = ...) -> Decimal:
        value = self.get(m, key, path, default)
        d = value if isinstance(value, Decimal) else to_decimal(value)
        if d is None or d < 0 or d >= MAX_PRICE:
            raise self.fail(
                _join(path, key),
                f"expected a non-negative decimal below {MAX_PRICE:,}, got {_show(value)}",
                m.line_of(key),
            )
        return d

    def integer(self, m: LocatedDict, key: str, path: str, default: Any = ..., minimum: int = 0) -> int:
        value = self.get(m, key, path, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_INTEGER:
            raise self.fail(
                _join(path, key),
                f"expected an integer from {minimum} to {MAX_INTEGER:,}, got {_show(value)}",
                m.line_of(key),
            )
        return value

    def id_list(
        self, m: LocatedDict, key: str, path: str, allowed: set[str] | None = None
    ) -> tuple[str, ...]:
        value = self.get(m, key, path)
        p = _join(path, key)
        if not isinstance(value, list) or not value:
            raise self.fail(p, f"expected a non-empty list, got {_show(value)}", m.line_of(key))
        out = []
        for i, item in enumerate(value):
            ident = self.ident(item, f"{p}[{i}]", m.line_of(key))
            if allowed is not None and ident not in allowed:
                raise self.fail(
                    f"{p}[{i}]",
                    f"unknown value {ident!r} (expected one of {sorted(allowed)})",
                    m.line_of(key),
                )
            out.append(ident)
        return tuple(out)

    def steps(self, m: LocatedDict, key: str, path: str, value_key: str) -> tuple[VolumeStep, ...]:
        value = self.get(m, key, path)
        p = _join(path, key)
        if not isinstance(value, list) or not value:
            raise self.fail(p, "expected a non-empty list of steps", m.line_of(key))
        out: list[VolumeStep] = []
        for i, raw in enumerate(value):
            sp = f"{p}[{i}]"
            step = self.mapping(raw, sp, m.line_of(key))
            self.check_keys(step, sp, {"from", value_key})
            start = self.integer(step, "from", sp)
            if out and start <= out[-1].start:
                raise self.fail(_join(sp, "from"), "steps must be in increasing order of `from`", step.line)
            out.append(VolumeStep(start, self.money(step, value_key, sp)))
        return tuple(out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mo_to_ko(r: _Reader, m: LocatedDict, path: str, ko_per_mo: int) -> int:
    if "allowance_ko" in m:
        return r.integer(m, "allowance_ko", path)
    mo = r.money(m, "allowance_mo", path)
    ko = mo * ko_per_mo
    if ko != ko.to_integral_value():
        raise r.fail(
            _join(path, "allowance_mo"), "allowance is not a whole number of ko", m.line_of("allowance_mo")
        )
    return int(ko)


def _zone_set(r: _Reader, m: LocatedDict, key: str, path: str, zones: set[str]) -> frozenset[str]:
    return frozenset(r.id_list(m, key, path, zones))


def _call_tariff(r: _Reader, tid: str, raw: Any, path: str, zones: set[str]) -> CallTariff:
    m = r.mapping(raw, path)
    r.check_keys(m, path, {"from_zones", "to_dests", "first_period_s", "first_period_price", "per_second"})
    return CallTariff(
        id=tid,
        from_zones=_zone_set(r, m, "from_zones", path, zones),
        to_dests=frozenset(r.id_list(m, "to_dests", path, {d.value for d in Dest})),
        first_period_s=r.integer(m, "first_period_s", path),
        first_period_price=r.money(m, "first_period_price", path),
        per_second=r.money(m, "per_second", path),
    )


def _plan(r: _Reader, pid: str, raw: Any, path: str, ko_per_mo: int) -> Plan:
    m = r.mapping(raw, path)
    r.check_keys(m, path, {"steps"})
    raw_steps = r.get(m, "steps", path)
    sp = _join(path, "steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise r.fail(sp, "expected a non-empty list of steps", m.line_of("steps"))
    steps: list[PlanStep] = []
    for i, raw_step in enumerate(raw_steps):
        p = f"{sp}[{i}]"
        s = r.mapping(raw_step, p, m.line_of("steps"))
        r.check_keys(s, p, {"name", "allowance_ko", "allowance_mo", "price", "over_per_mo"})
        prices = r.mapping(r.get(s, "price", p), _join(p, "price"), s.line_of("price"))
        price: dict[int, Decimal] = {}
        for months in prices:
            if not months.isdigit() or int(months) <= 0:
                raise r.fail(
                    _join(p, f"price.{months}"), "a commitment is a number of months", prices.line_of(months)
                )
            price[int(months)] = r.money(prices, months, _join(p, "price"))
        if not price:
            raise r.fail(_join(p, "price"), "at least one commitment price is needed", s.line_of("price"))
        if steps and set(price) != set(steps[0].price):
            raise r.fail(
                _join(p, "price"), "every step of a plan must list the same commitments", s.line_of("price")
            )
        steps.append(
            PlanStep(r.text(s, "name", p), _mo_to_ko(r, s, p, ko_per_mo), price, r.money(s, "over_per_mo", p))
        )
    return Plan(pid, tuple(steps))


def _offer(
    r: _Reader,
    oid: str,
    raw: Any,
    path: str,
    zones: set[str],
    tariffs: Mapping[str, CallTariff],
    ko_per_mo: int,
) -> Offer:
    m = r.mapping(raw, path)
    r.check_keys(
        m,
        path,
        {
            "name",
            "usage",
            "calls",
            "activation_fee",
            "bundle_zones",
            "zone_rates_per_mo",
            "plans",
            "prototype",
        },
    )
    usage = frozenset(r.id_list(m, "usage", path, {t.value for t in LINE_USAGE}))
    calls_raw = r.mapping(r.get(m, "calls", path, LocatedDict()), _join(path, "calls"), m.line_of("calls"))
    calls: dict[str, CallTariff] = {}
    for call_type, tid in calls_raw.items():
        cp = _join(path, f"calls.{call_type}")
        if call_type not in {t.value for t in CALL_TYPES}:
            raise r.fail(cp, "a call type is voice or csd", calls_raw.line_of(call_type))
        if tid not in tariffs:
            raise r.fail(cp, f"unknown call tariff {tid!r}", calls_raw.line_of(call_type))
        if call_type not in usage:
            raise r.fail(cp, f"{call_type} is not in this offer's usage", calls_raw.line_of(call_type))
        calls[call_type] = tariffs[tid]
    for call_type in usage & {t.value for t in CALL_TYPES}:
        if call_type not in calls:
            raise r.fail(_join(path, "calls"), f"usage lists {call_type} but no call tariff is given", m.line)
    bundle_zones = r.id_list(m, "bundle_zones", path, zones)
    rates_raw = r.mapping(
        r.get(m, "zone_rates_per_mo", path, LocatedDict()), _join(path, "zone_rates_per_mo")
    )
    rates = {}
    for zone in rates_raw:
        if zone not in zones or zone in bundle_zones:
            raise r.fail(
                _join(path, f"zone_rates_per_mo.{zone}"),
                "not a zone outside the bundle",
                rates_raw.line_of(zone),
            )
        rates[zone] = r.money(rates_raw, zone, _join(path, "zone_rates_per_mo"))
    missing = zones - set(bundle_zones) - set(rates)
    if missing:
        raise r.fail(_join(path, "zone_rates_per_mo"), f"no data rate for zone(s) {sorted(missing)}", m.line)
    plans_raw = r.mapping(r.get(m, "plans", path), _join(path, "plans"), m.line_of("plans"))
    plans = {
        r.ident(pid, _join(path, f"plans.{pid}"), plans_raw.line_of(pid)): _plan(
            r, pid, praw, _join(path, f"plans.{pid}"), ko_per_mo
        )
        for pid, praw in plans_raw.items()
    }
    if not plans:
        raise r.fail(_join(path, "plans"), "an offer needs at least one plan", m.line_of("plans"))
    prototype = None
    if m.get("prototype") is not None:
        pp = _join(path, "prototype")
        pm = r.mapping(m["prototype"], pp, m.line_of("prototype"))
        r.check_keys(pm, pp, {"months", "free_ko", "over_per_mo"})
        prototype = Prototype(
            r.integer(pm, "months", pp, minimum=1),
            r.integer(pm, "free_ko", pp),
            r.money(pm, "over_per_mo", pp),
        )
    return Offer(
        id=oid,
        name=r.text(m, "name", path),
        usage=usage,
        calls=calls,
        activation_fee=r.money(m, "activation_fee", path, 0),
        bundle_zones=bundle_zones,
        zone_rates_per_mo=rates,
        plans=plans,
        prototype=prototype,
    )


def _services(r: _Reader, raw: Any, zones: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = r.mapping(raw, "services")
    r.check_keys(m, "services", {"assistance", "sms_internet", "localisation", "secure_mobile_access"})
    if "assistance" in m:
        p = "services.assistance"
        a = r.mapping(m["assistance"], p, m.line_of("assistance"))
        r.check_keys(a, p, {"name", "tiers", "included_managers", "extra_manager_monthly", "minimum_months"})
        tiers: list[AssistanceTier] = []
        raw_tiers = r.get(a, "tiers", p)
        if not isinstance(raw_tiers, list) or not raw_tiers:
            raise r.fail(_join(p, "tiers"), "expected a non-empty list", a.line_of("tiers"))
        for i, t in enumerate(raw_tiers):
            tp = f"{p}.tiers[{i}]"
            tm = r.mapping(t, tp, a.line_of("tiers"))
            r.check_keys(tm, tp, {"up_to", "prices", "quote"})
            up_to = r.integer(tm, "up_to", tp, None, minimum=1) if tm.get("up_to") is not None else None
            if "quote" in tm:
                tiers.append(AssistanceTier(up_to, {}, r.text(tm, "quote", tp)))
            else:
                pm = r.mapping(r.get(tm, "prices", tp), _join(tp, "prices"), tm.line_of("prices"))
                prices = {str(h): r.money(pm, h, _join(tp, "prices")) for h in pm}
                tiers.append(AssistanceTier(up_to, prices, None))
        if tiers[-1].up_to is not None:
            raise r.fail(
                _join(p, "tiers"), "the last tier must have no `up_to` (it covers every larger fleet)", a.line
            )
        out["assistance"] = Assistance(
            r.text(a, "name", p),
            tuple(tiers),
            r.integer(a, "included_managers", p),
            r.money(a, "extra_manager_monthly", p),
        )
    if "sms_internet" in m:
        p = "services.sms_internet"
        s = r.mapping(m["sms_internet"], p, m.line_of("sms_internet"))
        r.check_keys(
            s,
            p,
            {
                "name",
                "activation_per_short_id",
                "monthly_per_short_id",
                "popup_monthly_per_short_id",
                "billable_dests",
                "steps",
            },
        )
        out["sms_internet"] = SmsInternet(
            r.text(s, "name", p),
            r.money(s, "activation_per_short_id", p),
            r.money(s, "monthly_per_short_id", p),
            r.money(s, "popup_monthly_per_short_id", p),
            frozenset(r.id_list(s, "billable_dests", p, {d.value for d in Dest})),
            r.steps(s, "steps", p, "price"),
        )
    if "localisation" in m:
        p = "services.localisation"
        loc = r.mapping(m["localisation"], p, m.line_of("localisation"))
        r.check_keys(
            loc, p, {"name", "activation", "monthly", "hit_price", "discount_steps", "minimum_months"}
        )
        steps = r.steps(loc, "discount_steps", p, "rate")
        if any(s.value >= 1 for s in steps):
            raise r.fail(
                _join(p, "discount_steps"), "a discount rate is below 1", loc.line_of("discount_steps")
            )
        out["localisation"] = Localisation(
            r.text(loc, "name", p),
            r.money(loc, "activation", p),
            r.money(loc, "monthly", p),
            r.money(loc, "hit_price", p),
            steps,
        )
    if "secure_mobile_access" in m:
        p = "services.secure_mobile_access"
        sma = r.mapping(m["secure_mobile_access"], p, m.line_of("secure_mobile_access"))
        r.check_keys(sma, p, {"name", "setup"})
        setup = r.mapping(r.get(sma, "setup", p), _join(p, "setup"), sma.line_of("setup"))
        out["secure_mobile_access"] = SecureMobileAccess(
            r.text(sma, "name", p), {str(k): r.money(setup, k, _join(p, "setup")) for k in setup}
        )
    return out


def parse_catalog(data: Any, source: str = "<catalog>") -> Catalog:
    """Validate a parsed catalog document and build the `Catalog`."""
    r = _Reader(source)
    m = r.mapping(data, "")
    r.check_keys(
        m,
        "",
        {
            "catalog",
            "title",
            "currency",
            "ko_per_mo",
            "zones",
            "sms",
            "call_tariffs",
            "offers",
            "prototype_max_lines",
            "fleet_discounts",
            "options",
            "services",
            "free_dests",
        },
    )
    ko_per_mo = r.integer(m, "ko_per_mo", "", minimum=1)
    zones = r.id_list(m, "zones", "", {z.value for z in Zone})
    zone_set = set(zones)
    sms_m = r.mapping(r.get(m, "sms", ""), "sms", m.line_of("sms"))
    r.check_keys(sms_m, "sms", {"from_zones", "to_dests", "steps"})
    sms = SmsRule(
        _zone_set(r, sms_m, "from_zones", "sms", zone_set),
        frozenset(r.id_list(sms_m, "to_dests", "sms", {d.value for d in Dest})),
        r.steps(sms_m, "steps", "sms", "price"),
    )
    tariffs_raw = r.mapping(
        r.get(m, "call_tariffs", "", LocatedDict()), "call_tariffs", m.line_of("call_tariffs")
    )
    tariffs = {
        str(tid): _call_tariff(r, str(tid), raw, f"call_tariffs.{tid}", zone_set)
        for tid, raw in tariffs_raw.items()
    }
    offers_raw = r.mapping(r.get(m, "offers", ""), "offers", m.line_of("offers"))
    offers = {}
    for oid, raw in offers_raw.items():
        r.ident(oid, f"offers.{oid}", offers_raw.line_of(oid))
        offers[oid] = _offer(r, oid, raw, f"offers.{oid}", zone_set, tariffs, ko_per_mo)
    if not offers:
        raise r.fail("offers", "a catalog needs at least one offer", m.line_of("offers"))
    discounts = []
    raw_discounts = r.get(m, "fleet_discounts", "", [])
    if not isinstance(raw_discounts, list):
        raise r.fail("fleet_discounts", "expected a list", m.line_of("fleet_discounts"))
    for i, raw in enumerate(raw_discounts):
        p = f"fleet_discounts[{i}]"
        d = r.mapping(raw, p, m.line_of("fleet_discounts"))
        r.check_keys(d, p, {"name", "offers", "min_lines", "rate"})
        rate = r.money(d, "rate", p)
        if rate >= 1:
            raise r.fail(_join(p, "rate"), "a discount rate is below 1", d.line_of("rate"))
        discounts.append(
            FleetDiscount(
                r.text(d, "name", p),
                frozenset(r.id_list(d, "offers", p, set(offers))),
                r.integer(d, "min_lines", p, minimum=1),
                rate,
            )
        )
    options: dict[str, Option] = {}
    options_raw = r.mapping(r.get(m, "options", "", LocatedDict()), "options", m.line_of("options"))
    for oid, raw in options_raw.items():
        p = f"options.{oid}"
        r.ident(oid, p, options_raw.line_of(oid))
        o = r.mapping(raw, p, options_raw.line_of(oid))
        r.check_keys(o, p, {"name", "monthly", "once", "requires"})
        requires = r.id_list(o, "requires", p) if "requires" in o else ()
        options[oid] = Option(
            oid, r.text(o, "name", p), r.money(o, "monthly", p, 0), r.money(o, "once", p, 0), requires
        )
    for opt in options.values():
        for req in opt.requires:
            if req not in options:
                raise r.fail(
                    f"options.{opt.id}.requires", f"unknown option {req!r}", options_raw.line_of(opt.id)
                )
    services = _services(r, m["services"], zone_set) if "services" in m else {}
    return Catalog(
        id=r.ident(r.get(m, "catalog", ""), "catalog", m.line_of("catalog")),
        title=r.text(m, "title", ""),
        currency=r.text(m, "currency", ""),
        ko_per_mo=ko_per_mo,
        zones=zones,
        sms=sms,
        call_tariffs=tariffs,
        offers=offers,
        prototype_max_lines=r.integer(m, "prototype_max_lines", "", 0),
        fleet_discounts=tuple(discounts),
        options=options,
        free_dests=frozenset(r.id_list(m, "free_dests", "", {d.value for d in Dest}))
        if "free_dests" in m
        else frozenset(),
        source=source,
        **services,
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog file; by default the bundled Orange M2M 2012 catalog.

    `path` may also be the name of a bundled catalog (`orange-m2m-2012`).
    """
    if path is None:
        path = DEFAULT_CATALOG
    p = Path(path)
    if not p.suffix and not p.exists():
        bundled = sorted(f.stem for f in CATALOG_DIR.glob("*.yaml"))
        if p.name not in bundled or p.name != str(path):
            raise CatalogError(
                str(path),
                "",
                f"no such file, nor a bundled catalog of that name (bundled: {', '.join(bundled)})",
            )
        p = CATALOG_DIR / f"{p.name}.yaml"
    source = str(p)
    try:
        data = load_yaml(p, decimals_as_text=True, cache=True)
    except YamlError as exc:
        raise CatalogError(source, exc.key, exc.reason, exc.line) from None
    return parse_catalog(data, source)
