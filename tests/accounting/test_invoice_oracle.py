"""`rate` and `compare` against an oracle written straight from the tariff rules.

The oracle below calls no pricing code of `accounting`: it prices each generated usage row by the
rules of docs/tariff.md (shared/spec tariff-rules.md), with the catalog's prices written out here
as the printed catalog gives them, then sums each invoice item and rounds it once to the cent,
half-up.  Seeded random small months (every offer, plan and commitment, prototypes (six or more,
expired ones), options from the line's start or their own, lines starting before, on the first or
last day of, or after the month, inventory errors, 49 to 51 Business lines, 100 or 101 lines and
5,000 or 5,001 with assistance, data records in every zone (an empty zone is `fr`) and exactly at
or one ko over an allowance, SMS of one to four parts, voice and CSD calls around the first
minute, emergency and unpriced destinations, starts written with offsets, rows outside the month
or of unknown lines, location hits) are rated as `m2msim rate` rates a small CSV file, and some
of them by DuckDB's reader, from an Arrow table and from the simulator's Parquet: every line's
items, the fleet items and quotes, the total (and the JSON's) and the rejected rows must be the
oracle's.

The comparison is checked against the tool's own rating: a line's cost on a choice is the line's
total when the month is rated with the line moved to that choice (the choices it can take being
those on which none of its usage is rejected but what every choice rejects), its cheapest total
the least of them, and each fleet scenario's total the invoice total of the inventory moved as
the scenario says.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fuzzing import first_then_long

from accounting import compare, inventory_from_dict, rate, rate_run
from accounting.engine import reject_category
from accounting.inventory import Inventory
from accounting.invoice import Invoice
from accounting.usage_small import small_reader
from accounting.usage_table import usage_table
from accounting.usage_writer import UsageWriter
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS

D = Decimal
CENT = D("0.01")


def c(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


# ----- the catalog, as printed (March 2012) and read by docs/tariff.md -------------------------------

BUSINESS = {"business-m2m", "business-m2m-dtmf"}
INTENSE = {"intense", "intense-dtmf"}
EUROPE = {"europe", "europe-dtmf"}
DTMF = {"business-m2m-dtmf", "intense-dtmf", "europe-dtmf"}
# plan -> [(step name, allowance in ko, {commitment: price}, over per Mo)]
PLANS: dict[str, dict[str, list[tuple[str, int, dict[int, Decimal], Decimal]]]] = {
    "business": {
        "forfait-2mo": [("2 Mo", 2 * 1024, {24: D(8), 36: D("7.5")}, D("1.5"))],
        "forfait-5mo": [("5 Mo", 5 * 1024, {24: D(10), 36: D("9.5")}, D("1.5"))],
        "compteur": [("compteur", 0, {24: D("5.5"), 36: D(5)}, D(3))],
    },
    "europe": {
        "forfait-2mo": [("2 Mo", 2 * 1024, {24: D(9), 36: D("8.5")}, D(3))],
        "forfait-5mo": [("5 Mo", 5 * 1024, {24: D(13), 36: D("12.5")}, D(3))],
    },
    "intense": {
        "optima": [
            ("0.5 Mo", 512, {36: D(6)}, D(1)),
            ("500 Mo", 500 * 1024, {36: D(26)}, D("0.1")),
            ("1 Go", 1024 * 1024, {36: D(36)}, D("0.1")),
            ("2 Go", 2048 * 1024, {36: D(60)}, D("0.1")),
            ("5 Go", 5120 * 1024, {36: D(75)}, D("0.1")),
        ]
    },
}
OPTIONS = {  # id -> (monthly, once)
    "exclusive-fr": (D(3), None),
    "exclusive-abroad": (D(3), None),
    "autogestion": (D(0), None),
    "autodiagnostic": (D(1), None),
    "first-traffic-billing": (None, D(3)),
    "secure-mobile-access-intranet": (D(4), None),
    "secure-mobile-access-internet": (D(4), None),
}
FR_DESTS = {"fr-mobile", "fr-fixed"}
ASSISTANCE = [  # lines up to -> price by hours
    (100, (160, 200, 250)),
    (500, (600, 700, 900)),
    (1000, (1000, 1300, 1500)),
    (2500, (2000, 2500, 3500)),
    (5000, (3000, 4500, 6000)),
]


def family(offer: str) -> str:
    return "business" if offer in BUSINESS else "intense" if offer in INTENSE else "europe"


def bundle_zones(offer: str) -> list[str]:
    return ["fr", "eu"] if offer in EUROPE else ["fr"]


def outside_rates(offer: str) -> dict[str, Decimal]:
    return {"world": D(10)} if offer in EUROPE else {"eu": D(7), "world": D(10)}


def sms_price(n: int) -> Decimal:
    return D("0.056") if n >= 50_000 else D("0.06") if n >= 10_000 else D("0.07")


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


# ----- the oracle -------------------------------------------------------------------------------------


@dataclass
class Month:
    year: int
    month: int

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.year + (self.month == 12), self.month % 12 + 1, 1, tzinfo=UTC)


@dataclass
class Use:
    ko: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sms: int = 0
    calls: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # type -> exact


@dataclass
class Expected:
    lines: dict[str, dict[str, Decimal]]  # valid line -> {item code: amount}
    fleet: dict[str, Decimal]
    total: Decimal
    errors: set[tuple[str, str]]  # (line, rule) of the lines' inventory errors
    rejects: dict[int, str]  # row -> category
    quotes: list[str]  # codes of the fleet charges on quote


def _lines(inv: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in inv["lines"]:
        if "id_prefix" in entry:
            width = len(str(entry["count"]))
            for k in range(1, entry["count"] + 1):
                one = {k2: v for k2, v in entry.items() if k2 not in ("id_prefix", "count")}
                out.append({**one, "id": f"{entry['id_prefix']}{k:0{width}d}"})
        else:
            out.append(entry)
    return out


def _options(line: dict[str, Any]) -> dict[str, date]:
    since = date.fromisoformat(line["since"])
    out = {}
    for o in line.get("options", []):
        if isinstance(o, str):
            out[o] = since
        else:
            out[o["id"]] = date.fromisoformat(o["since"])
    return out


def _errors(lines: list[dict[str, Any]], m: Month) -> set[tuple[str, str]]:
    errors: set[tuple[str, str]] = set()
    prototypes = 0
    for line in lines:
        lid, offer = line["id"], line["offer"]
        since = date.fromisoformat(line["since"])
        found = []
        if line.get("prototype"):
            if offer in BUSINESS:
                found.append("prototype-not-offered")
            elif m.index - month_index(since) >= 3:
                found.append("prototype-expired")
        elif offer in INTENSE and line["commitment"] != 36:
            found.append("commitment-not-offered")
        opts = _options(line)
        if "autodiagnostic" in opts:
            billed = month_index(opts["autodiagnostic"]) <= m.index
            if "autogestion" not in opts or (billed and month_index(opts["autogestion"]) > m.index):
                found.append("autodiagnostic-requires-autogestion")
        if line.get("prototype") and not found and month_index(since) <= m.index:  # running
            prototypes += 1
            if prototypes > 5:
                found.append("too-many-prototypes")
        errors.update((lid, rule) for rule in found)
    return errors


def oracle(inv: dict[str, Any], rows: list[dict[str, Any]]) -> Expected:
    y, mo = (int(x) for x in inv["month"].split("-"))
    m = Month(y, mo)
    lines = _lines(inv)
    errors = _errors(lines, m)
    services = inv.get("services", {})
    bad = {lid for lid, _ in errors}
    valid = [line for line in lines if line["id"] not in bad]
    by_id = {line["id"]: line for line in lines}
    active = {line["id"]: line for line in valid if month_index(date.fromisoformat(line["since"])) <= m.index}
    use: dict[str, Use] = defaultdict(Use)
    rejects: dict[int, str] = {}
    hits = 0
    for row_no, row in enumerate(rows, start=2):
        start = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
        if not m.start <= start < m.end:
            rejects[row_no] = "outside the billing month"
            continue
        kind = row["type"]
        if kind == "location_hit":
            hits += 1
            continue
        lid = row["line"]
        if lid not in by_id:
            rejects[row_no] = "unknown line"
            continue
        if lid in bad:
            rejects[row_no] = "line not billed (inventory error)"
            continue
        if lid not in active:
            rejects[row_no] = "line not active in the month"
            continue
        offer = active[lid]["offer"]
        zone, dest = row.get("zone") or "fr", row.get("dest")
        u = use[lid]
        # a line activated within the month did not exist before its day: its rows are rejected,
        # whatever its offer would say of them, an emergency call too (as a later month's line's)
        if start.astimezone(UTC).date() < date.fromisoformat(active[lid]["since"]):
            rejects[row_no] = "line not yet active"
            continue
        if kind == "data":
            u.ko[zone] += math.ceil((int(row["bytes_up"]) + int(row["bytes_down"])) / 1024)
            continue
        if dest == "emergency":  # free on every offer, from every zone: no reject, no item
            continue
        if kind == "sms":
            if zone == "fr" and dest in FR_DESTS:
                u.sms += 1
            else:
                rejects[row_no] = "price not in this catalog"
            continue
        allowed = "voice" if offer in DTMF else "csd"
        if kind != allowed:
            rejects[row_no] = "service not in the offer"
            continue
        if zone != "fr" or dest not in FR_DESTS:
            rejects[row_no] = "price not in this catalog"
            continue
        seconds = math.ceil(D(row.get("duration_s") or 0))
        if seconds == 0:  # an unanswered call costs nothing (and alone makes no item)
            continue
        if kind == "voice":  # first minute indivisible, then per second
            u.calls[kind] += D("0.15") + max(0, seconds - 60) * D("0.0025")
        else:
            u.calls[kind] += seconds * D("0.0025")
    fleet_sms = sum(use[lid].sms for lid in active)
    business_lines = sum(1 for line in active.values() if line["offer"] in BUSINESS)
    discount = D("0.05") if business_lines >= 50 else D(0)
    bills: dict[str, dict[str, Decimal]] = {}
    for line in valid:
        lid, offer = line["id"], line["offer"]
        items: dict[str, Decimal] = {}
        bills[lid] = items
        if lid not in active:
            continue
        u = use[lid]
        zones = bundle_zones(offer)
        bundle = "-".join(zones)
        volume = sum(u.ko[z] for z in zones)
        if line.get("prototype"):
            rate_over = D(1) if offer in INTENSE else D(3)
            items["subscription"] = D("0.00")
            if volume:
                items[f"data-{bundle}-free"] = D("0.00")
                if volume > 500:
                    items[f"data-{bundle}-over"] = c((volume - 500) * rate_over / 1024)
        else:
            rate_off = discount if offer in BUSINESS else D(0)
            # each step's subscription and overage; the cheapest step wins, the smaller of equals
            costs = [
                (
                    c(price[line["commitment"]] * (1 - rate_off)),
                    c(max(0, volume - allowance) * over / 1024),
                    allowance,
                )
                for _, allowance, price, over in PLANS[family(offer)][line["plan"]]
            ]
            sub, over, allowance = min(costs, key=lambda k: k[0] + k[1])
            items["subscription"] = sub
            if volume and allowance:
                items[f"data-{bundle}-bundle"] = D("0.00")
            if volume > allowance:
                items[f"data-{bundle}-over"] = over
        for zone, per_mo in outside_rates(offer).items():
            if u.ko[zone]:
                items[f"data-{zone}"] = c(u.ko[zone] * per_mo / 1024)
        if u.sms:
            items["sms"] = c(u.sms * sms_price(fleet_sms))
        for kind, exact in u.calls.items():
            items[kind] = c(exact)
        for oid, since in _options(line).items():
            monthly, once = OPTIONS[oid]
            service = services.get("secure_mobile_access", {}).get(oid.removeprefix("secure-mobile-access-"))
            if oid.startswith("secure-mobile-access-") and service:  # from the customer's service on
                since = max(since, date.fromisoformat(service["since"]))
            if monthly is not None and month_index(since) <= m.index:
                items[f"option-{oid}"] = c(monthly)
            if once is not None and month_index(since) == m.index:
                items[f"option-{oid}-fee"] = c(once)
    fleet: dict[str, Decimal] = {}
    quotes: list[str] = []
    if "assistance" in services:
        a = services["assistance"]
        n = len(active)
        col = ["8-20-weekdays", "8-22-all-days", "24-7"].index(a["hours"])
        if n <= 5000:
            fleet["assistance"] = c(D(next(p for up, p in ASSISTANCE if n <= up)[col]))
        else:
            quotes.append("assistance")  # a quote, not a price
        if a["managers"] > 5:
            fleet["assistance-extra-managers"] = c(D(150) * (a["managers"] - 5))
    if "localisation" in services:
        since = date.fromisoformat(services["localisation"]["since"])
        if month_index(since) == m.index:
            fleet["localisation-activation"] = D("200.00")
        fleet["localisation-subscription"] = D("100.00")
        if hits:
            fleet["localisation-hits"] = c(hits * D("0.08"))  # (no discount below 2,001 hits)
    for kind, sub in services.get("secure_mobile_access", {}).items():
        taken = any(f"secure-mobile-access-{kind}" in _options(line) for line in active.values())
        if month_index(date.fromisoformat(sub["since"])) == m.index and taken:  # set up with a line
            fleet[f"secure-mobile-access-{kind}-setup"] = D("2000.00")
    total = sum((a for items in bills.values() for a in items.values()), D(0)) + sum(fleet.values(), D(0))
    return Expected(bills, fleet, total, errors, rejects, quotes)


# ----- seeded months ----------------------------------------------------------------------------------

MONTHS = ["2026-03", "2026-02", "2024-02", "2026-12"]
OFFERS = ["business-m2m", "business-m2m-dtmf", "intense", "intense-dtmf", "europe", "europe-dtmf"]


_OFFSETS = [timedelta(0)] * 6 + [timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30)]


def _iso(t: datetime, rnd: random.Random | None = None) -> str:
    """A start in UTC (`Z`), or the same instant written with another offset."""
    offset = rnd.choice(_OFFSETS) if rnd else timedelta(0)
    if not offset:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return t.astimezone(timezone(offset)).isoformat()


def gen_month(seed: int, big: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A month of a few lines (`big`: maybe 5,000 more, alike) and their usage rows."""
    rnd = random.Random(seed)
    month = rnd.choice(MONTHS)
    y, mo = (int(x) for x in month.split("-"))
    m = Month(y, mo)
    first = m.start.date()
    last = (m.end - timedelta(days=1)).date()

    def day_before(months: int) -> date:
        k = m.index - months
        return date(k // 12, k % 12 + 1, rnd.choice([1, 15, 28]))

    lines: list[dict[str, Any]] = []
    for k in range(rnd.randint(3, 8)):
        offer = rnd.choice(OFFERS)
        since = rnd.choice(
            [day_before(rnd.randint(1, 30)), first, last, first + timedelta(days=9), m.end.date()]
        )
        line: dict[str, Any] = {"id": f"L{k}", "offer": offer, "since": since.isoformat()}
        if offer not in BUSINESS and rnd.random() < 0.3:
            line["prototype"] = True
            line["since"] = (
                day_before(rnd.randint(0, 3)).isoformat() if rnd.random() < 0.8 else since.isoformat()
            )
            line["plan"] = rnd.choice(list(PLANS[family(offer)]))
        else:
            line["plan"] = rnd.choice(list(PLANS[family(offer)]))
            line["commitment"] = 36 if offer in INTENSE and rnd.random() < 0.9 else rnd.choice([24, 36])
        opts: list[Any] = []
        for oid in rnd.sample(sorted(OPTIONS), rnd.randint(0, 3)):
            if rnd.random() < 0.3:
                opts.append(
                    {"id": oid, "since": rnd.choice([first, last, m.end.date(), day_before(2)]).isoformat()}
                )
            else:
                opts.append(oid)
        if opts:
            line["options"] = opts
        lines.append(line)
    if rnd.random() < 0.3:  # the fleet discount's edge: 49 or 50 Business lines with the others
        n_business = sum(1 for line in lines if line["offer"] in BUSINESS and not line.get("prototype"))
        lines.append(
            {
                "id_prefix": "G",
                "count": max(1, 50 - n_business + rnd.choice([-1, 0, 0, 1])),
                "offer": rnd.choice(sorted(BUSINESS)),
                "plan": "compteur",
                "commitment": 36,
                "since": day_before(3).isoformat(),
            }
        )
    services: dict[str, Any] = {}
    if rnd.random() < 0.2:  # more prototypes than a customer may have, an expired one among them
        for k in range(rnd.randint(4, 7)):
            started = day_before(rnd.choice([0, 1, 2, 3])).isoformat()
            lines.append(
                {
                    "id": f"P{k}",
                    "offer": rnd.choice(sorted(INTENSE | EUROPE)),
                    "since": started,
                    "prototype": True,
                }
            )
    if rnd.random() < 0.3:  # the edge of an assistance tier: 100 or 101 lines, 5,000 or 5,001
        edge = rnd.choice([100, 5000]) if big else 100
        services["assistance"] = {
            "hours": rnd.choice(["8-20-weekdays", "24-7"]),
            "managers": rnd.randint(4, 7),
        }
        lines.append(
            {
                "id_prefix": "H",
                "count": max(1, edge - len(_lines({"lines": lines})) + rnd.choice([0, 1, 9])),
                "offer": "intense",
                "plan": "optima",
                "commitment": 36,
                "since": day_before(1).isoformat(),
            }
        )
    inv: dict[str, Any] = {"customer": f"oracle-{seed}", "month": month, "lines": lines}
    if rnd.random() < 0.5:
        services["assistance"] = {
            "hours": rnd.choice(["8-20-weekdays", "8-22-all-days", "24-7"]),
            "managers": rnd.randint(1, 8),
        }
    if rnd.random() < 0.4:
        services["localisation"] = {"since": rnd.choice([first, day_before(4)]).isoformat()}
    if rnd.random() < 0.3:
        services["secure_mobile_access"] = {
            "intranet": {"since": rnd.choice([first, day_before(5)]).isoformat()}
        }
    if services:
        inv["services"] = services

    rows: list[dict[str, Any]] = []
    every = _lines(inv)
    ids = [line["id"] for line in lines if "id" in line] + [every[-1]["id"], "nobody"]
    seq = 0

    def at(day: int | None = None) -> datetime:
        days = (m.end - m.start).days
        d = rnd.randrange(days) if day is None else day
        return m.start + timedelta(days=d, seconds=rnd.randrange(86_400))

    for lid in ids:
        known = [ln for ln in every if ln["id"] == lid]
        allowance = 0
        if known and not known[0].get("prototype"):
            steps = PLANS[family(known[0]["offer"])].get(known[0]["plan"], [])
            allowance = rnd.choice(steps)[1] if steps else 0
        elif known:
            allowance = 500
        n_data = rnd.randint(0, 6)
        octets: list[int] = [
            rnd.choice([0, 1, 1023, 1024, 1025, rnd.randrange(1, 3_000_000)]) for _ in range(n_data)
        ]
        if allowance and rnd.random() < 0.5:  # the month's fr volume at the allowance, or one ko over
            chunk = rnd.choice([512, 65_536]) if allowance <= 5 * 1024 else 65_536
            octets = [1024 * chunk] * (allowance // chunk) + [1024 * (allowance % chunk), rnd.choice([0, 1])]
        for o in octets:
            seq += 1
            up = rnd.randint(0, o)
            zone = "fr" if rnd.random() < 0.7 else rnd.choice(["eu", "world"])
            rows.append(
                {
                    "line": lid,
                    "type": "data",
                    "start": _iso(at(), rnd),
                    "duration_s": rnd.randint(0, 43_200),
                    "bytes_up": up,
                    "bytes_down": o - up,
                    "zone": "" if zone == "fr" and rnd.random() < 0.2 else zone,
                    "session": f"s{seq}",
                }
            )
        for _ in range(rnd.randint(0, 3)):  # SMS, each of one to four parts
            t = at()
            zone = "fr" if rnd.random() < 0.8 else "eu"
            dest = rnd.choice(["fr-mobile", "fr-mobile", "fr-fixed", "fr-premium", "intl", "emergency"])
            for p in range(rnd.randint(1, 4)):
                rows.append(
                    {
                        "line": lid,
                        "type": "sms",
                        "start": _iso(t + timedelta(seconds=p), rnd),
                        "zone": zone,
                        "dest": dest,
                    }
                )
        for _ in range(rnd.randint(0, 4)):
            kind = rnd.choice(["voice", "csd"])
            dur = rnd.choice(
                ["", "0", "0.4", "1", "59", "59.5", "60", "60.2", "61", "90", str(rnd.randint(1, 3600))]
            )
            zone = "fr" if rnd.random() < 0.8 else rnd.choice(["eu", "world"])
            dest = rnd.choice(["fr-mobile", "fr-fixed", "fr-fixed", "intl", "emergency"])
            rows.append(
                {
                    "line": lid,
                    "type": kind,
                    "start": _iso(at(), rnd),
                    "duration_s": dur,
                    "zone": zone,
                    "dest": dest,
                }
            )
    for t in rnd.sample([m.start - timedelta(seconds=1), m.end], rnd.randint(0, 2)):  # outside the month
        rows.append({"line": "L0", "type": "sms", "start": _iso(t, rnd), "zone": "fr", "dest": "fr-mobile"})
    if "localisation" in services:
        for _ in range(rnd.randint(0, 5)):
            rows.append({"line": "", "type": "location_hit", "start": _iso(at(), rnd)})
    rnd.shuffle(rows)
    return inv, rows


COLUMNS = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest", "session"]


def write_csv(path: Path, rows: list[dict[str, Any]], quoted: bool = False) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(
            f, COLUMNS, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL, lineterminator="\n"
        )
        w.writeheader()
        w.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The rows as the simulator writes its usage parts: typed columns, durations in whole seconds."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for row in rows:
        for col in COLUMNS:
            v = row.get(col)
            if v == "":
                v = None
            elif col == "start" and v is not None:
                v = datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(UTC)
            elif col == "duration_s" and v is not None:
                v = math.ceil(D(v))  # (the cost of a call is its duration rounded up to the second)
            elif col in ("bytes_up", "bytes_down") and v is not None:
                v = int(v)
            cols[col].append(v)
    with UsageWriter(path, dictionary_columns=DICTIONARY_COLUMNS, parquet_options=PART_PARQUET_OPTIONS) as w:
        w.write_columns(cols)
    return path


def rate_small(inventory: Inventory, path: Path) -> Invoice:
    """The month rated as `m2msim rate` rates a small plain CSV file (`accounting.usage_small`)."""
    reader = small_reader(path)
    assert reader is not None
    return rate_run(inventory, path, reader=reader).invoice


def got_lines(invoice: Invoice) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = {}
    for b in invoice.lines:
        items: dict[str, Decimal] = {}
        for i in b.items:
            assert i.code not in items, f"{b.id}: two {i.code} items"
            items[i.code] = i.amount
        out[b.id] = items
    return out


def check_invoice(invoice: Invoice, want: Expected) -> None:
    assert {(e.line, e.rule) for e in invoice.errors if e.line} == want.errors
    assert got_lines(invoice) == want.lines
    assert {i.code: i.amount for i in invoice.fleet} == want.fleet
    assert [q.code for q in invoice.quotes] == want.quotes
    assert {r.row: reject_category(r.reason) for r in invoice.rejects} == want.rejects
    assert invoice.total == want.total
    doc = json.loads(invoice.to_json())  # what `m2msim rate --json` writes
    assert doc["total_ht"] == str(want.total)
    assert {e["id"]: {i["code"]: D(i["amount"]) for i in e["items"]} for e in doc["lines"]} == want.lines
    assert {e["id"]: D(e["total_ht"]) for e in doc["lines"]} == {
        k: sum(v.values(), D(0)) for k, v in want.lines.items()
    }
    assert invoice.total == sum((b.total for b in invoice.lines), D(0)) + sum(
        (i.amount for i in invoice.fleet), D(0)
    )


SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_rate_is_the_oracle(seed: int, tmp_path: Path) -> None:
    inv, rows = gen_month(seed, big=True)
    want = oracle(inv, rows)
    inventory = inventory_from_dict(inv)
    check_invoice(rate_small(inventory, write_csv(tmp_path / "usage.csv", rows)), want)
    if seed % 4 == 0:  # the same rows through DuckDB's reader, as an Arrow table, as the simulator's Parquet
        check_invoice(rate(inventory, tmp_path / "usage.csv"), want)
        check_invoice(rate(inventory, usage_table(rows)), want)
        check_invoice(rate(inventory, write_parquet(tmp_path / "usage.parquet", rows)), want)


# ----- compare: the least of rating the month on each choice -----------------------------------------

CHOICES = [
    (offer, plan, commitment)
    for offer in OFFERS
    for plan, steps in PLANS[family(offer)].items()
    for commitment in sorted(steps[0][2])
]


def moved(inv: dict[str, Any], moves: dict[str, tuple[str, str, int]]) -> dict[str, Any]:
    """The inventory with each line of `moves` on its choice (groups written out line by line)."""
    lines = []
    for line in _lines(inv):
        if line["id"] in moves:
            offer, plan, commitment = moves[line["id"]]
            line = {**line, "offer": offer, "plan": plan, "commitment": commitment}
        lines.append(line)
    return {**inv, "lines": lines}


def business_count(inv: dict[str, Any]) -> int:
    y, mo = (int(x) for x in inv["month"].split("-"))
    m = Month(y, mo)
    lines = _lines(inv)
    bad = {lid for lid, _ in _errors(lines, m)}
    return sum(
        1
        for line in lines
        if line["id"] not in bad
        and line["offer"] in BUSINESS
        and month_index(date.fromisoformat(line["since"])) <= m.index
    )


@pytest.mark.parametrize("seed", first_then_long(range(0, 60, 5), 6))
def test_compare_is_rating_each_choice(seed: int, tmp_path: Path) -> None:
    inv, rows = gen_month(seed)
    usage = write_csv(tmp_path / "usage.csv", rows)
    run = rate_run(inventory_from_dict(inv), usage, reader=small_reader(usage))
    comparison, invoice = compare(run), run.invoice
    bills = {b.id: b.total for b in invoice.lines}
    discounted_today = business_count(inv) >= 50
    with_rows = {r["line"] for r in rows}
    can: dict[str, set[tuple[str, str, int]]] = {}  # line -> the choices it can take

    def rated(moves: dict[str, tuple[str, str, int]]) -> Invoice:
        return rate_small(inventory_from_dict(moved(inv, moves)), usage)

    for lc in comparison.lines:
        assert lc.current_total == bills[lc.id]
        if lc.current is None:  # a prototype stays as it is
            continue
        if lc.id not in with_rows:
            can[lc.id] = set(CHOICES)
            continue
        totals, refused = {}, {}
        for choice in CHOICES:
            bill = rated({lc.id: choice})
            totals[choice] = next(b.total for b in bill.lines if b.id == lc.id)
            refused[choice] = {r.row for r in bill.rejects if rows[r.row - 2]["line"] == lc.id}
        priced_nowhere = set.intersection(*refused.values())
        current = (lc.current.offer, lc.current.plan, lc.current.commitment)
        can[lc.id] = {ch for ch in CHOICES if refused[ch] == priced_nowhere} | {current}
        assert {(ch.offer, ch.plan, ch.commitment) for ch in lc.costs} == can[lc.id]
        for ch, cost in lc.costs.items():
            choice = (ch.offer, ch.plan, ch.commitment)
            # (the table prices every choice with the fleet discounts as they stand)
            if (business_count(moved(inv, {lc.id: choice})) >= 50) == discounted_today:
                assert cost == totals[choice], (lc.id, ch)
        assert lc.cheapest_total == min(lc.costs.values())
        assert lc.costs[lc.current] == lc.current_total
    # every fleet scenario is what rating the month with its lines moved bills
    assert comparison.today.total == invoice.total
    best = rated({lid: (ch.offer, ch.plan, ch.commitment) for lid, ch in comparison.best_mix_choices.items()})
    assert comparison.best_mix.total == best.total
    for scenario in comparison.uniform:
        choice = next(
            ch for ch in CHOICES if scenario.name == "every line that can, on {} {} {} m".format(*ch)
        )
        moves = {lid: choice for lid, choices in can.items() if choice in choices}
        assert scenario.total == rated(moves).total, scenario.name
    assert comparison.cheapest.total == min(s.total for s in comparison.scenarios)
    doc = json.loads(comparison.to_json())  # what `m2msim compare --json` writes
    for entry, lc in zip(doc["lines"], comparison.lines, strict=True):
        assert entry["id"] == lc.id
        assert D(entry["current_total_ht"]) == lc.current_total
        assert D(entry["cheapest_total_ht"]) == lc.cheapest_total
        assert {k: D(v) for k, v in entry["options"].items()} == {str(ch): v for ch, v in lc.costs.items()}
    assert D(doc["fleet"]["cheapest"]["total_ht"]) == comparison.cheapest.total
