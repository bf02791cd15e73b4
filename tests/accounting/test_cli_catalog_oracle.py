"""`m2msim rate` and `m2msim compare`, run as commands, against prices read from the printed catalog.

The oracle here imports nothing of `accounting`: the March 2012 catalog's prices are written out
below, each beside the catalog's own words, and read as tariff-rules.md and docs/tariff.md read
them. Seeded random months (every offer, plan and commitment, prototypes, options, fleet services,
inventory errors, lines active or not, 40 to 50 and more Business lines, data around every
allowance and where one optima step costs what the next does, SMS, voice and CSD calls around the
first minute and the second, starts at the month's edges written with offsets, rejected rows) are
written as a plain CSV file (with UTC starts, rated without DuckDB), with CRLF line ends (DuckDB's
reader), as Parquet of text and as typed Parquet, and over 256 KiB with the fleet's SMS, SMS
Internet and location hits past their first steps. `m2msim rate --json --out` is compared with
the oracle item by item; `m2msim compare --json --out` is held to the oracle's cost of every line
on every choice it may take, the fleet's cheapest mix (the 5% discount earned or not) and every
"every line that can, on X" scenario.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from m2msim.cli import main

D = Decimal


def cents(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_HALF_UP)


KO_PER_MO = 1024  # "1 ko = 1,024 octets; 1 Mo = 1,024 ko"

# "forfait 2 Mo ... 8 / 7,5", "forfait 5 Mo ... 10 / 9,5", "offre au compteur ... 5,5 / 5";
# "prix du Mo supplémentaire en € HT/Mo 1,5"; au compteur "prix du Mo en € HT/Mo 3"
BUSINESS_PLANS = {
    "forfait-2mo": ({24: D("8"), 36: D("7.5")}, 2 * KO_PER_MO, D("1.5")),
    "forfait-5mo": ({24: D("10"), 36: D("9.5")}, 5 * KO_PER_MO, D("1.5")),
    "compteur": ({24: D("5.5"), 36: D("5")}, 0, D("3")),
}
# Europe: "forfait 2 Mo ... 9 / 8,5", "forfait 5 Mo ... 13 / 12,5";
# "prix du Mo supplémentaire en France Métropolitaine ou en Europe 3", "reste du Monde 10"
EUROPE_PLANS = {
    "forfait-2mo": ({24: D("9"), 36: D("8.5")}, 2 * KO_PER_MO, D("3")),
    "forfait-5mo": ({24: D("13"), 36: D("12.5")}, 5 * KO_PER_MO, D("3")),
}
# Intense, "option optima incluse": 0,5 Mo 6 (1 €/Mo beyond), 500 Mo 26, 1 Go 36, 2 Go 60, 5 Go 75
# (0,1 €/Mo beyond); "La durée d'engagement est de 36 mois."
OPTIMA = [
    ("0.5 Mo", KO_PER_MO // 2, D("6"), D("1")),
    ("500 Mo", 500 * KO_PER_MO, D("26"), D("0.1")),
    ("1 Go", KO_PER_MO * KO_PER_MO, D("36"), D("0.1")),
    ("2 Go", 2 * KO_PER_MO * KO_PER_MO, D("60"), D("0.1")),
    ("5 Go", 5 * KO_PER_MO * KO_PER_MO, D("75"), D("0.1")),
]
# "zone Europe 7 € HT / Mo, autres destinations 10 € HT / Mo" (Business and Intense abroad)
ABROAD = {"eu": D("7"), "world": D("10")}
OFFERS = ["business-m2m", "business-m2m-dtmf", "europe", "europe-dtmf", "intense", "intense-dtmf"]


def family(offer: str) -> str:
    return offer.removesuffix("-dtmf")


def choices() -> list[tuple[str, str, int]]:
    out = []
    for offer in OFFERS:
        fam = family(offer)
        if fam == "intense":
            out.append((offer, "optima", 36))
            continue
        for plan in BUSINESS_PLANS if fam == "business-m2m" else EUROPE_PLANS:
            out += [(offer, plan, 24), (offer, plan, 36)]
    return out


def sms_price(n: int) -> Decimal:
    # "de 1 à 9 999 0,07; de 10 000 à 49 999 0,06; 50 000 et plus 0,056"
    return D("0.056") if n >= 50_000 else D("0.06") if n >= 10_000 else D("0.07")


def sms_internet_price(n: int) -> Decimal:
    # "de 1 à 2 000 0,094; de 2 001 à 30 000 0,076; de 30 001 à 50 000 0,070; plus de 50 000 0,060"
    return D("0.060") if n > 50_000 else D("0.070") if n > 30_000 else D("0.076") if n > 2_000 else D("0.094")


def hits_discount(n: int) -> Decimal:
    # "de 2 001 à 30 000 17 %, ... 30 001 à 50 000 24 %, 50 001 à 500 000 31 %, ..."
    for low, rate in (
        (1_000_001, "0.48"),
        (500_001, "0.39"),
        (50_001, "0.31"),
        (30_001, "0.24"),
        (2_001, "0.17"),
    ):
        if n >= low:
            return D(rate)
    return D(0)


def assistance_fee(lines: int, hours: str) -> Decimal | None:
    col = {"8-20-weekdays": 0, "8-22-all-days": 1, "24-7": 2}[hours]
    for top, fees in ((100, (160, 200, 250)), (500, (600, 700, 900)), (1000, (1000, 1300, 1500)),
                      (2500, (2000, 2500, 3500)), (5000, (3000, 4500, 6000))):  # fmt: skip
        if lines <= top:
            return D(fees[col])
    return None  # "> 5001 lignes: sur devis"


OPTION_MONTHLY = {
    "exclusive-fr": D("3"),
    "exclusive-abroad": D("3"),
    "autogestion": D("0"),
    "autodiagnostic": D("1"),
    "secure-mobile-access-intranet": D("4"),
    "secure-mobile-access-internet": D("4"),
}


def call_cost(kind: str, seconds: int) -> Decimal:
    # DTMF "1ère minute indivisible = 0,15 € HT puis 0,0025 € HT/s"; GSM data "0,0025 € HT/s"
    if seconds == 0:
        return D(0)
    if kind == "voice":
        return D("0.15") + max(0, seconds - 60) * D("0.0025")
    return seconds * D("0.0025")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ----- months ---------------------------------------------------------------------------------


@dataclass
class Month:
    year: int
    month: int

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last(self) -> date:
        return self.next_first - timedelta(days=1)

    def index(self, d: date) -> int:
        return (self.year - d.year) * 12 + self.month - d.month

    def holds(self, d: date) -> bool:
        return self.first <= d <= self.last


# ----- the oracle -------------------------------------------------------------------------------


@dataclass
class Usage:
    ko: dict[str, int] = field(default_factory=lambda: {"fr": 0, "eu": 0, "world": 0})
    sms: int = 0
    calls: dict[str, Decimal] = field(default_factory=lambda: {"voice": D(0), "csd": D(0)})
    kinds: set[str] = field(default_factory=set)  # call types priced by some offer


@dataclass
class Line:
    id: str
    offer: str
    plan: str
    commitment: int | None
    since: date
    options: list[Any]  # an id, or {id, since}
    prototype: bool
    error: str | None = None
    active: bool = True


@dataclass
class Expected:
    lines: dict[str, dict[str, Decimal]]
    steps: dict[str, str]
    inactive: set[str]
    errors: dict[str, str]
    fleet: dict[str, Decimal]
    quotes: set[str]
    rejects: dict[int, str]
    total: Decimal
    usage: dict[str, Usage]
    valid: dict[str, Line]
    discount: bool
    fleet_fixed: Decimal


def inventory_lines(inv: dict[str, Any]) -> list[Line]:
    out = []
    # Secure Mobile Access, « 4 € HT/ligne/mois », is « à souscrire en complément d'une ligne »: a
    # line's option is billed from the month the customer's service (services.secure_mobile_access)
    # starts, whatever earlier date the line says
    service = {k: v["since"] for k, v in inv.get("services", {}).get("secure_mobile_access", {}).items()}
    for spec in inv["lines"]:
        ids = [spec["id"]] if "id" in spec else []
        if "id_prefix" in spec:
            width = len(str(spec["count"]))
            ids = [f"{spec['id_prefix']}{i:0{width}d}" for i in range(1, spec["count"] + 1)]
        for line_id in ids:
            options = list(spec.get("options", []))
            for i, opt in enumerate(options):
                name, since = (opt["id"], opt["since"]) if isinstance(opt, dict) else (opt, spec["since"])
                kind = name.rsplit("-", 1)[-1]
                if name in SMA and kind in service and service[kind] > since:
                    options[i] = {"id": name, "since": service[kind]}
            prototype = bool(spec.get("prototype", False))
            out.append(
                Line(
                    line_id,
                    spec["offer"],
                    spec["plan"],
                    spec.get("commitment"),
                    spec["since"],
                    options,
                    prototype,
                )
            )
    return out


def judge_lines(lines: list[Line], m: Month) -> None:
    protos = 0
    for line in lines:
        line.active = line.since <= m.last
        fam = family(line.offer)
        if fam == "intense" and line.commitment == 24 and not line.prototype:
            line.error = "commitment-not-offered"
        elif "autodiagnostic" in line.options and "autogestion" not in line.options:
            line.error = "autodiagnostic-requires-autogestion"
        elif line.prototype and fam == "business-m2m":
            line.error = "prototype-not-offered"
        elif line.prototype and m.index(line.since) > 2:
            line.error = "prototype-expired"
        elif line.prototype and line.active:  # « maximum 5 lignes »: those running in the month
            protos += 1
            if protos > 5:
                line.error = "too-many-prototypes"


def data_items(line: Line, ko: dict[str, int], items: dict[str, Decimal], steps: dict[str, str]) -> None:
    fam = family(line.offer)
    bundle = ["fr", "eu"] if fam == "europe" else ["fr"]
    code = "data-" + "-".join(bundle)
    inside = sum(ko[z] for z in bundle)
    if line.prototype:
        # "abonnement et 500ko data ... offerts par mois par ligne"; beyond, the out-of-bundle rate
        over_rate = D("3") if fam == "europe" else D("1")
        items[code + "-over"] = cents(max(0, inside - 500) * over_rate / KO_PER_MO)
    elif fam == "intense":
        # the step whose invoice is the cheapest; of equal ones the smaller
        costs = [
            (price + cents(max(0, inside - allow) * over / KO_PER_MO), i)
            for i, (_, allow, price, over) in enumerate(OPTIMA)
        ]
        _, best = min(costs)
        name, allow, price, over = OPTIMA[best]
        steps[line.id] = name
        items["subscription"] = price
        items[code + "-over"] = cents(max(0, inside - allow) * over / KO_PER_MO)
    else:
        _, allow, over = (BUSINESS_PLANS if fam == "business-m2m" else EUROPE_PLANS)[line.plan]
        items[code + "-over"] = cents(max(0, inside - allow) * over / KO_PER_MO)
    for zone in ("eu", "world"):
        if zone not in bundle:
            items[f"data-{zone}"] = cents(ko[zone] * ABROAD[zone] / KO_PER_MO)


def line_items(
    line: Line, use: Usage, m: Month, discount: bool, sms_unit: Decimal
) -> tuple[dict[str, Decimal], str | None]:
    items: dict[str, Decimal] = {}
    steps: dict[str, str] = {}
    fam = family(line.offer)
    if line.prototype:
        items["subscription"] = D(0)
    elif fam != "intense":
        prices = (BUSINESS_PLANS if fam == "business-m2m" else EUROPE_PLANS)[line.plan][0]
        price = prices[line.commitment or 0]
        items["subscription"] = cents(price * D("0.95")) if discount and fam == "business-m2m" else price
    data_items(line, use.ko, items, steps)
    items["sms"] = cents(use.sms * sms_unit)
    for kind in ("voice", "csd"):
        if allows(line.offer, kind):
            items[kind] = cents(use.calls[kind])
    for opt in line.options:  # an id, from the line's date, or {id, since}: from its own
        name, since = (opt["id"], opt["since"]) if isinstance(opt, dict) else (opt, line.since)
        if name == "first-traffic-billing":  # "3, once: charged in the month it is subscribed"
            if m.holds(since):
                items["option-first-traffic-billing-fee"] = D("3")
        elif since <= m.last:  # a monthly option, from the month it starts in
            items["option-" + name] = OPTION_MONTHLY[name]
    return {k: v for k, v in items.items() if v}, steps.get(line.id)


def allows(offer: str, kind: str) -> bool:
    # DTMF offers: voice, never CSD; data offers: CSD, never voice
    return kind == ("voice" if offer.endswith("-dtmf") else "csd")


def impossible(row: dict[str, str], m: Month) -> bool:
    """What no network produces: a record past the month's end by more than 12 hours, a data record
    longer than 12 hours or of more octets than 30 Gbit/s carry in its duration."""
    duration = D(row["duration_s"] or 0)
    end = datetime.fromisoformat(row["start"]) + timedelta(seconds=float(duration))
    if end > datetime(m.next_first.year, m.next_first.month, 1, 12, tzinfo=UTC):
        return True
    if row["type"] != "data":
        return False
    octets = int(row["bytes_up"]) + int(row["bytes_down"])
    return duration > 43200 or octets > 3_750_000_000 * max(duration if row["duration_s"] else 43200, 1)


def oracle(inv: dict[str, Any], rows: list[dict[str, str]]) -> Expected:
    y, mo = map(int, inv["month"].split("-"))
    m = Month(y, mo)
    lines = inventory_lines(inv)
    judge_lines(lines, m)
    by_id = {line.id: line for line in lines}
    services = inv.get("services", {})
    rejects: dict[int, str] = {}
    usage = {line.id: Usage() for line in lines}
    sms_internet = 0
    hits = 0
    for row_no, row in enumerate(rows, start=2):
        start = datetime.fromisoformat(row["start"]).astimezone(UTC).date()
        kind = row["type"]
        if kind in ("sms_internet", "location_hit"):
            name = "sms_internet" if kind == "sms_internet" else "localisation"
            svc = services.get(name)
            if not m.holds(start):
                rejects[row_no] = "outside the billing month"
            elif svc is None or svc["since"] > m.last:
                rejects[row_no] = "service not in the offer"
            elif kind == "location_hit":
                hits += 1
            elif row["dest"] != "orange-fr":
                rejects[row_no] = "price not in this catalog"
            elif row["delivered"] != "false":
                sms_internet += 1
            continue
        line = by_id.get(row["line"])
        if not m.holds(start):
            rejects[row_no] = "outside the billing month"
        elif impossible(row, m):
            rejects[row_no] = "impossible value"
        elif line is None:
            rejects[row_no] = "unknown line"
        elif line.error:
            rejects[row_no] = "line not billed (inventory error)"
        elif not line.active:
            rejects[row_no] = "line not active in the month"
        elif datetime.fromisoformat(row["start"]).astimezone(UTC).date() < line.since:
            # a line activated within the month did not exist before its day: its rows are rejected
            # (before what its offer would say of them, as for a line activated after the month)
            rejects[row_no] = "line not yet active"
        if row_no in rejects or line is None:
            continue
        zone = row["zone"] or "fr"
        use = usage[line.id]
        if kind == "data":
            use.ko[zone] += ceil_div(int(row["bytes_up"]) + int(row["bytes_down"]), 1024)
        elif kind == "sms":
            if zone != "fr" or row["dest"] not in ("fr-mobile", "fr-fixed"):
                rejects[row_no] = "price not in this catalog"
            else:
                use.sms += 1
        else:
            priced = zone == "fr" and row["dest"] in ("fr-mobile", "fr-fixed")
            if priced:  # priced on the offers that take the call, whichever the line is on
                use.kinds.add(kind)
                use.calls[kind] += call_cost(kind, math.ceil(D(row["duration_s"] or 0)))
            if not allows(line.offer, kind):
                rejects[row_no] = "service not in the offer"
            elif not priced:
                rejects[row_no] = "price not in this catalog"
    valid = {line.id: line for line in lines if not line.error}
    billed = [line for line in valid.values() if line.active]
    business = sum(1 for line in billed if family(line.offer) == "business-m2m" and not line.prototype)
    discount = business >= 50  # "remise de 5% ... à partir de 50 lignes"
    fleet_sms = sum(usage[line.id].sms for line in billed)
    out_lines: dict[str, dict[str, Decimal]] = {}
    steps: dict[str, str] = {}
    for line in billed:
        out_lines[line.id], step = line_items(line, usage[line.id], m, discount, sms_price(fleet_sms))
        if step:
            steps[line.id] = step
    fleet: dict[str, Decimal] = {}
    quotes: set[str] = set()
    if "assistance" in services:
        a = services["assistance"]
        fee = assistance_fee(len(billed), a["hours"])
        if fee is None:
            quotes.add("assistance")
        else:
            fleet["assistance"] = fee
        fleet["assistance-extra-managers"] = D(150) * max(0, a.get("managers", 5) - 5)
    s = services.get("sms_internet")
    if s and s["since"] <= m.last:
        if m.holds(s["since"]):
            fleet["sms-internet-activation"] = D(75) * s["short_ids"]
        fleet["sms-internet-subscription"] = D(140) * s["short_ids"]
        fleet["sms-internet-popup"] = D(60) * s.get("popup", 0)
        fleet["sms-internet-messages"] = cents(sms_internet * sms_internet_price(sms_internet))
    loc = services.get("localisation")
    if loc and loc["since"] <= m.last:
        if m.holds(loc["since"]):
            fleet["localisation-activation"] = D(200)
        fleet["localisation-subscription"] = D(100)
        fleet["localisation-hits"] = cents(hits * D("0.08") * (1 - hits_discount(hits)))
    errors = {line.id: line.error for line in lines if line.error}
    for kind, spec in services.get("secure_mobile_access", {}).items():
        # « Frais forfaitaire de mise en service 2 000 € HT pour le service », the service being
        # « à souscrire en complément d'une ligne voix ou d'une ligne data »: with a line taking it
        option = f"secure-mobile-access-{kind}"
        taken = any(
            (o["id"] if isinstance(o, dict) else o) == option
            and (o["since"] if isinstance(o, dict) else line.since) <= m.last
            for line in billed
            for o in line.options
        )
        if m.holds(spec["since"]) and taken:
            fleet[f"secure-mobile-access-{kind}-setup"] = D(2000)
        elif m.holds(spec["since"]):
            errors[""] = "secure-mobile-access-without-lines"
    fleet = {k: v for k, v in fleet.items() if v}
    total = sum((sum(i.values(), D(0)) for i in out_lines.values()), D(0)) + sum(fleet.values(), D(0))
    return Expected(
        out_lines, steps, {line.id for line in valid.values() if not line.active},
        errors, fleet, quotes, rejects, total,
        usage, valid, discount, sum(fleet.values(), D(0)),
    )  # fmt: skip


# ----- the comparison's oracle --------------------------------------------------------------------


def cost_on(
    line: Line, choice: tuple[str, str, int], want: Expected, m: Month, discount: bool
) -> Decimal | None:
    offer, plan, commitment = choice
    use = want.usage[line.id]
    here = choice == (line.offer, line.plan, line.commitment)
    if not here and any(not allows(offer, kind) for kind in use.kinds):
        return None
    moved = Line(line.id, offer, plan, commitment, line.since, line.options, False)
    fleet_sms = sum(want.usage[i].sms for i in want.lines)
    # calls the line made that the new offer prices: the same rows, priced the same
    items, _ = line_items(moved, use, m, discount, sms_price(fleet_sms))
    return sum(items.values(), D(0))


def label(choice: tuple[str, str, int]) -> str:
    return f"{choice[0]} {choice[1]} {choice[2]} m"


def fleet_best(want: Expected, m: Month) -> Decimal:
    """The cheapest month over every mix of the lines' choices, with the discount each mix earns."""
    movable = [want.valid[i] for i in want.lines if not want.valid[i].prototype]
    fixed = sum((sum(want.lines[i].values(), D(0)) for i in want.lines if want.valid[i].prototype), D(0))
    base = want.fleet_fixed + fixed
    best_off = base
    on_extra: list[Decimal] = []
    on_total = base
    on_count = 0
    feasible = 0
    for line in movable:
        off_costs = [c for ch in choices() if (c := cost_on(line, ch, want, m, False)) is not None]
        best_off += min(off_costs)
        biz = [
            c
            for ch in choices()
            if ch[0].startswith("business") and (c := cost_on(line, ch, want, m, True)) is not None
        ]
        other = [
            c
            for ch in choices()
            if not ch[0].startswith("business") and (c := cost_on(line, ch, want, m, True)) is not None
        ]
        if biz:
            feasible += 1
        if biz and (not other or min(biz) <= min(other)):
            on_total += min(biz)
            on_count += 1
        else:
            on_total += min(other)
            if biz:
                on_extra.append(min(biz) - min(other))
    if feasible < 50:
        return best_off
    on_extra.sort()
    on_total += sum(on_extra[: max(0, 50 - on_count)], D(0))
    return min(best_off, on_total)


# accounting-io.md's columns, "in any order"
COLUMNS = [
    "start",
    "type",
    "line",
    "zone",
    "dest",
    "bytes_down",
    "bytes_up",
    "duration_s",
    "delivered",
    "session",
]


# ----- random months ----------------------------------------------------------------------------------


def iso(t: datetime, rng: random.Random, offsets: bool) -> str:
    if offsets and rng.random() < 0.5:
        hours = rng.choice([-5, -2, -1, 1, 2, 9])
        local = (t + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{local}{'+' if hours > 0 else '-'}{abs(hours):02d}:00"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


OPTIONS = ("exclusive-fr", "exclusive-abroad", "autogestion", "first-traffic-billing")
SMA = ("secure-mobile-access-intranet", "secure-mobile-access-internet")
# fr ko of a month: around each allowance, where one optima step costs what the next does, far beyond
TARGETS = (0, 500, 511, 512, 513, 2047, 2048, 2049, 5120, 5121, 20992, 20993, 512000, 512001, 614400,
           614401, 1048576, 1294336, 1294337, 2250752, 2250753, 10**10)  # fmt: skip
DURATIONS = ("0", "0.0001", "1", "59", "59.9999", "60", "60.0000001", "61", "120.4", "1000000")


def gen_line(rng: random.Random, m: Month, i: int, protos: int) -> dict[str, Any]:
    offer = rng.choice(OFFERS)
    fam = family(offer)
    plans = (
        ["optima"] if fam == "intense" else list(BUSINESS_PLANS if fam == "business-m2m" else EUROPE_PLANS)
    )
    days = (m.last - m.first).days
    since = m.first + timedelta(days=rng.choice([-700, -90, -31, -1, 0, 3, 14, days, days + 1, 40]))
    spec: dict[str, Any] = {"id": f"L{i:03d}", "offer": offer, "plan": rng.choice(plans),
                            "commitment": 36 if fam == "intense" else rng.choice([24, 36]), "since": since}  # fmt: skip
    opts: list[Any] = [o for o in OPTIONS + SMA if rng.random() < 0.15]
    for name in ("first-traffic-billing", "exclusive-fr", "exclusive-abroad"):
        if name in opts and rng.random() < 0.5:  # its own date
            when = m.first + timedelta(days=rng.choice([-20, 0, 9, 40]))
            opts[opts.index(name)] = {"id": name, "since": when}
    if "autogestion" in opts and rng.random() < 0.6:
        opts.append("autodiagnostic")
    r = rng.random()
    if r < 0.04 and fam == "intense":
        spec["commitment"] = 24
    elif r < 0.06:
        opts = ["autodiagnostic"]
    if opts:
        spec["options"] = opts
    if fam != "business-m2m" and rng.random() < 0.45 and protos < 9:
        del spec["commitment"]
        spec.pop("options", None)
        spec["prototype"] = True
        spec["since"] = m.first - timedelta(days=rng.choice([0, 0, 10, 20, 45, 59, 95, -35, -50]))
    return spec


def gen_inventory(rng: random.Random, m: Month, seed: int) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for i in range(rng.randint(8, 30)):
        lines.append(gen_line(rng, m, i, sum(1 for spec in lines if spec.get("prototype"))))
    if rng.random() < 0.5:  # a group of Business lines: the fleet around the 5% discount's 50
        lines.append({"id_prefix": "G", "count": rng.choice([40, 44, 46, 48, 50]), "offer": rng.choice(OFFERS[:2]),
                      "plan": "forfait-2mo", "commitment": 36, "since": m.first - timedelta(days=300)})  # fmt: skip
    services: dict[str, Any] = {}
    if rng.random() < 0.8:
        hours = rng.choice(["8-20-weekdays", "8-22-all-days", "24-7"])
        services["assistance"] = {"hours": hours, "managers": rng.randint(3, 8)}
    if rng.random() < 0.7:
        since = m.first + timedelta(days=rng.choice([-100, 0, 10, 45]))
        short_ids = rng.randint(1, 3)
        # a pop-up option per ShortID at most
        services["sms_internet"] = {
            "short_ids": short_ids,
            "popup": rng.randint(0, short_ids),
            "since": since,
        }
    if rng.random() < 0.7:
        services["localisation"] = {"since": m.first + timedelta(days=rng.choice([-100, 0, 10, 45]))}
    for option in SMA:
        if any(option in spec.get("options", []) for spec in lines) or rng.random() < 0.15:
            kind = option.rsplit("-", 1)[1]
            since = m.first + timedelta(days=rng.choice([-100, 5, 5, 40]))
            services.setdefault("secure_mobile_access", {})[kind] = {"since": since}
    return {
        "customer": f"oracle-{seed}",
        "month": f"{m.year}-{m.month:02d}",
        "lines": lines,
        "services": services,
    }


class Rows:
    """Usage rows of one month, each (line, start) once, so that no row is another's duplicate."""

    def __init__(self, rng: random.Random, m: Month) -> None:
        self.rng, self.m = rng, m
        self.offsets = rng.random() < 0.5
        self.span = (m.next_first - m.first).days * 86400
        self.used: set[tuple[str, int]] = set()
        self.rows: list[dict[str, str]] = []

    def at(self, line_id: str) -> datetime:
        edges = [-3600, -1, 0, self.span - 1, self.span, self.span + 1800]  # the month's edges
        while True:
            s = self.rng.choice(edges) if self.rng.random() < 0.04 else self.rng.randrange(self.span)
            if (line_id, s) not in self.used:
                self.used.add((line_id, s))
                return datetime(self.m.year, self.m.month, 1, tzinfo=UTC) + timedelta(seconds=s)

    def add(self, line_id: str, kind: str, **kw: Any) -> None:
        row = dict.fromkeys(COLUMNS, "")
        row.update(line=line_id, type=kind, start=iso(self.at(line_id), self.rng, self.offsets))
        row.update({k: str(v) for k, v in kw.items()})
        self.rows.append(row)

    def data(self, line_id: str) -> None:
        rng = self.rng
        left = rng.choice(TARGETS)
        for _ in range(rng.randint(0, 6)):
            zone = rng.choice(["fr", "fr", "fr", "", "eu", "world"])
            if zone in ("", "fr") and left > 0:
                part = left if rng.random() < 0.4 else rng.randint(0, left)
                left -= part
                total = part * 1024 - rng.choice([0, 0, 1023, 500]) if part else 0
            else:
                total = rng.choice([0, 1, 1023, 1024, 1025, rng.randint(0, 10**7)])
            up = rng.randint(0, total)
            duration = 43200 if total > 10**11 else rng.randint(1, 43200)
            self.add(line_id, "data", duration_s=duration, bytes_up=up, bytes_down=total - up, zone=zone)
        if left > 0:
            self.add(line_id, "data", duration_s=43200, bytes_up=left * 1024, bytes_down=0, zone="fr")


def gen_month(seed: int, big: bool) -> tuple[dict[str, Any], list[dict[str, str]]]:
    rng = random.Random(seed)
    m = Month(rng.choice([2026, 2024]), rng.choice([1, 2, 3, 12]))
    inv = gen_inventory(rng, m, seed)
    out = Rows(rng, m)
    ids = [spec["id"] for spec in inv["lines"] if "id" in spec]
    for line_id in [*ids, "G01", "G45", "X404"]:
        out.data(line_id)
        for _ in range(rng.randint(0, 4)):
            zone, dest = (
                rng.choice(["fr", "fr", "", "eu"]),
                rng.choice(["fr-mobile", "fr-fixed", "fr-premium", "intl"]),
            )
            out.add(line_id, "sms", zone=zone, dest=dest)
        for _ in range(rng.randint(0, 3)):
            duration = rng.choice([*DURATIONS, str(rng.randint(1, 4000))])
            zone, dest = (
                rng.choice(["fr", "fr", "fr", "eu"]),
                rng.choice(["fr-mobile", "fr-fixed", "fr-fixed", "intl"]),
            )
            out.add(line_id, rng.choice(["voice", "csd"]), duration_s=duration, zone=zone, dest=dest)
    for _ in range(rng.choice([12_000, 2_500]) if big else rng.randint(0, 30)):
        delivered = rng.choice(["true", "true", "false", ""])
        out.add("", "sms_internet", dest="orange-fr" if rng.random() < 0.97 else "other", delivered=delivered)
    for _ in range(rng.choice([2_500, 2_001]) if big else rng.randint(0, 30)):
        out.add("", "location_hit")
    if big:  # a fleet sending 10,000 SMS or more
        judged = inventory_lines(inv)
        judge_lines(judged, m)
        senders = [line.id for line in judged if line.active and not line.error and line.id in ids]
        for _ in range(10_050):
            out.add(rng.choice(senders), "sms", zone="fr", dest="fr-mobile")
    rng.shuffle(out.rows)
    return inv, out.rows


def write_inputs(tmp: Path, inv: dict[str, Any], rows: list[dict[str, str]], crlf: bool) -> tuple[str, str]:
    inv_path = tmp / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(inv, sort_keys=False), encoding="utf-8")
    usage = tmp / ("usage-crlf.csv" if crlf else "usage.csv")
    with usage.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\r\n" if crlf else "\n")
        w.writeheader()
        w.writerows(rows)
    return str(inv_path), str(usage)


def write_parquet(tmp: Path, rows: list[dict[str, str]], typed: bool) -> str:
    """The rows as a Parquet export: every column text (empty cells NULL), or typed (start a
    timestamp, counts integers, the duration a float, `delivered` a boolean)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def col(name: str) -> Any:
        cells = [r[name] or None for r in rows]
        if not typed or name in ("line", "type", "zone", "dest", "session"):
            return pa.array(cells, pa.string())
        if name == "start":
            return pa.array([datetime.fromisoformat(r["start"]) for r in rows], pa.timestamp("us", tz="UTC"))
        if name == "delivered":
            return pa.array([None if c is None else c == "true" for c in cells], pa.bool_())
        if name == "duration_s":
            return pa.array([None if c is None else float(c) for c in cells], pa.float64())
        return pa.array([None if c is None else int(c) for c in cells], pa.int64())

    path = tmp / ("usage-typed.parquet" if typed else "usage-text.parquet")
    pq.write_table(pa.table({name: col(name) for name in COLUMNS}), path)
    return str(path)


def run(tmp: Path, command: str, inv: str, usage: str) -> dict[str, Any]:
    out = tmp / f"{command}-{Path(usage).stem}.json"
    assert main([command, inv, usage, "--json", "--out", str(out), "--force"]) == 0
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def reason_key(reason: str) -> str:
    return reason.split(":")[0].split(" '")[0]


def check_invoice(doc: dict[str, Any], want: Expected) -> None:
    got = {line["id"]: line for line in doc["lines"]}
    assert set(got) == set(want.lines) | want.inactive
    for line_id, items in want.lines.items():
        have = {i["code"]: D(i["amount"]) for i in got[line_id]["items"] if D(i["amount"])}
        assert have == items, (line_id, got[line_id])
        assert D(got[line_id]["total_ht"]) == sum(items.values(), D(0))
        if line_id in want.steps:
            sub = next(i for i in got[line_id]["items"] if i["code"] == "subscription")
            assert sub["step"] == want.steps[line_id], line_id
    for line_id in want.inactive:
        assert got[line_id]["items"] == []
    assert {e["line"]: e["rule"] for e in doc["errors"]} == want.errors
    fleet = {i["code"]: D(i["amount"]) for i in doc["fleet"] if D(i["amount"])}
    assert fleet == want.fleet
    assert {q["code"] for q in doc["quotes"]} == want.quotes
    assert {r["row"]: reason_key(r["reason"]) for r in doc["rejects"]} == want.rejects
    assert D(doc["total_ht"]) == want.total


def check_compare(doc: dict[str, Any], invoice: dict[str, Any], want: Expected, m: Month) -> None:
    totals = {line["id"]: D(line["total_ht"]) for line in invoice["lines"]}
    for line in doc["lines"]:
        valid = want.valid[line["id"]]
        assert D(line["current_total_ht"]) == totals[line["id"]]
        if valid.prototype or line["id"] in want.inactive:
            continue
        expect = {}
        for ch in choices():  # where the line is stays a choice, even with usage no offer takes whole
            cost = cost_on(valid, ch, want, m, want.discount)
            if cost is not None:
                expect[label(ch)] = cost
        assert {k: D(v) for k, v in line["options"].items()} == expect, line["id"]
        assert D(line["cheapest_total_ht"]) == min(expect.values()), line["id"]
        assert D(line["saving_ht"]) == D(line["current_total_ht"]) - min(expect.values()), line["id"]
    best = fleet_best(want, m)
    assert D(doc["fleet"]["today"]["total_ht"]) == D(invoice["total_ht"])
    assert (D(doc["fleet"]["cheapest"]["total_ht"]), D(doc["fleet"]["saving_ht"])) == (
        best,
        want.total - best,
    )
    scenarios = {sc["name"]: sc for sc in doc["fleet"]["scenarios"]}
    for ch in choices():
        total, moved = every_line_on(want, m, ch)
        sc = scenarios.get(f"every line that can, on {label(ch)}")
        if moved:
            assert sc is not None and (D(sc["total_ht"]), sc["lines_moved"]) == (total, moved), label(ch)


def every_line_on(want: Expected, m: Month, ch: tuple[str, str, int]) -> tuple[Decimal, int]:
    """The month with every line that can take `ch` on it, the discount as the moved fleet earns it."""
    lines = [want.valid[i] for i in want.lines]
    takes = {
        line.id for line in lines if not line.prototype and cost_on(line, ch, want, m, False) is not None
    }
    business = sum(
        1
        for line in lines
        if family(ch[0] if line.id in takes else line.offer) == "business-m2m" and not line.prototype
    )
    total = want.fleet_fixed
    for line in lines:
        here = ch if line.id in takes else (line.offer, line.plan, line.commitment or 0)
        if line.prototype:
            total += sum(want.lines[line.id].values(), D(0))
        else:
            total += cost_on(line, here, want, m, business >= 50) or D(0)
    moved = sum(1 for i in takes if (want.valid[i].offer, want.valid[i].plan, want.valid[i].commitment) != ch)
    return total, moved


@pytest.mark.parametrize("seed", range(6))
def test_rate_and_compare_hold_to_the_catalog(seed: int, tmp_path: Path) -> None:
    inv, rows = gen_month(seed, big=False)
    want = oracle(inv, rows)
    m = Month(*map(int, inv["month"].split("-")))
    for crlf in (False, True):
        inv_path, usage = write_inputs(tmp_path, inv, rows, crlf)
        invoice = run(tmp_path, "rate", inv_path, usage)
        check_invoice(invoice, want)
        check_compare(run(tmp_path, "compare", inv_path, usage), invoice, want, m)
    for typed in (False, True):
        check_invoice(run(tmp_path, "rate", inv_path, write_parquet(tmp_path, rows, typed)), want)


@pytest.mark.parametrize("seed", [100, 101])
def test_a_large_month_holds_to_the_catalog(seed: int, tmp_path: Path) -> None:
    """Over 256 KiB of plain CSV (DuckDB's reader), the fleet's SMS, SMS Internet and hit steps past
    their first: rated and compared."""
    inv, rows = gen_month(seed, big=True)
    want = oracle(inv, rows)
    inv_path, usage = write_inputs(tmp_path, inv, rows, crlf=False)
    assert Path(usage).stat().st_size > 256 * 1024
    invoice = run(tmp_path, "rate", inv_path, usage)
    check_invoice(invoice, want)
    check_compare(
        run(tmp_path, "compare", inv_path, usage), invoice, want, Month(*map(int, inv["month"].split("-")))
    )


def test_half_cents_round_up(tmp_path: Path) -> None:
    """Items that fall on half a cent where rounding half to even would go down: 128 ko over a
    prototype's 500 at 1 €/Mo (0.125), 64 ko in `world` at 10 €/Mo (0.625), 256 ko over 500 Mo at
    0.1 €/Mo (0.025), a 66 s DTMF call (0.165), a 2 s CSD call (0.005), a discounted 7.5 (7.125)."""
    first = date(2026, 3, 1)
    business = {"offer": "business-m2m", "plan": "forfait-2mo", "commitment": 36, "since": first}
    inv = {
        "customer": "half-cents",
        "month": "2026-03",
        "lines": [
            {"id": "P", "offer": "intense", "plan": "optima", "prototype": True, "since": first},
            {"id": "W", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": first},
            {"id": "I", "offer": "intense-dtmf", "plan": "optima", "commitment": 36, "since": first},
            {"id_prefix": "B", "count": 50, **business},
        ],
    }
    rows = Rows(random.Random(0), Month(2026, 3))
    rows.offsets = False
    rows.add("P", "data", duration_s=60, bytes_up=628 * 1024, bytes_down=0)
    rows.add("W", "data", duration_s=60, bytes_up=64 * 1024, bytes_down=0, zone="world")
    rows.add("W", "csd", duration_s=2, zone="fr", dest="fr-fixed")
    rows.add("I", "data", duration_s=43200, bytes_up=(512000 + 256) * 1024, bytes_down=0)
    rows.add("I", "voice", duration_s=66, zone="fr", dest="fr-mobile")
    want = oracle(inv, rows.rows)
    exact = [D("0.125"), D("0.625"), D("0.025"), D("0.165"), D("0.005"), D("7.125")]
    assert all(x.quantize(D("0.01"), rounding=ROUND_HALF_EVEN) < cents(x) for x in exact)
    inv_path, usage = write_inputs(tmp_path, inv, rows.rows, crlf=False)
    check_invoice(run(tmp_path, "rate", inv_path, usage), want)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_quiet_month_holds_to_the_catalog(seed: int, tmp_path: Path) -> None:
    """A usage file with a header and no row (devices that sent nothing): the month's subscriptions,
    options and fleet services are owed all the same. It was refused (exit 2); it is rated and
    compared from every form, the invoice the oracle's month without usage."""
    inv, _ = gen_month(seed, big=False)
    want = oracle(inv, [])
    m = Month(*map(int, inv["month"].split("-")))
    assert want.total > 0
    for crlf in (False, True):
        inv_path, usage = write_inputs(tmp_path, inv, [], crlf)
        invoice = run(tmp_path, "rate", inv_path, usage)
        check_invoice(invoice, want)
        check_compare(run(tmp_path, "compare", inv_path, usage), invoice, want, m)
    for typed in (False, True):
        check_invoice(run(tmp_path, "rate", inv_path, write_parquet(tmp_path, [], typed)), want)
