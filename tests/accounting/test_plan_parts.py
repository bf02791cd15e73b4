"""A line's plan items (its subscription on the step its volume is billed on, its data in and over
the bundle) made once per (offer, plan, commitment, volume) and shared by the lines alike in them,
and the invoice's JSON laid out by one join: against the plain reference of
test_perline_reference (every item made afresh from the catalog's prices, the JSON encoded by
`json`), on seeded months and on catalogs whose prices fall on half a cent, are zero of either
sign or negative."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from test_perline_reference import _check, _month, ref_invoice

from accounting import inventory_from_dict, load_catalog
from accounting.catalog import Catalog
from accounting.engine import rate_run
from accounting.inventory import Inventory
from accounting.invoice import _ENCODE, LaidOut, layout_json
from accounting.money import fmt
from accounting.usage import Group
from benchmarks.bench_perline import Aggregated

# Prices per Mo and per month that end on half a cent for some volumes (ko / 1024) and discounts,
# zero of either sign, negative.
OVER_PRICES = [Decimal(x) for x in ("-0", "0", "0.005", "7", "0.512", "-3.5", "12.345")]
MONTHLY = [Decimal(x) for x in ("-0", "0", "7.125", "0.005", "-1.005", "3.99", "10")]


def _odd_catalog(rng: random.Random) -> Catalog:
    """The catalog with every plan step's monthly prices and price beyond its allowance drawn from
    the odd ones, and a negative or zero activation fee on some offers."""
    base = load_catalog()
    offers = {}
    for oid, offer in base.offers.items():
        plans = {
            pid: replace(
                plan,
                steps=tuple(
                    replace(
                        step,
                        price={c: rng.choice(MONTHLY) for c in step.price},
                        over_per_mo=rng.choice(OVER_PRICES),
                    )
                    for step in plan.steps
                ),
            )
            for pid, plan in offer.plans.items()
        }
        fee = rng.choice([offer.activation_fee, Decimal("-0.005"), Decimal("0.125")])
        offers[oid] = replace(offer, plans=plans, activation_fee=fee)
    return replace(base, offers=offers)


def _run_against_reference(catalog: Catalog, inventory: Inventory, groups: list[Group]) -> None:
    run = rate_run(inventory, None, catalog, reader=Aggregated(groups))  # type: ignore[arg-type]
    ref, _ = ref_invoice(inventory, groups, catalog)
    assert [(b.id, repr(b.items)) for b in run.invoice.lines] == [(b.id, repr(b.items)) for b in ref.lines]
    assert run.invoice.to_json() == layout_json(ref.to_dict()) == _plain_layout(ref.to_dict())


@pytest.mark.parametrize("seed", range(12))
def test_plan_items_shared_are_the_reference_on_odd_prices(seed: int) -> None:
    _run_against_reference(_odd_catalog(random.Random(seed)), *_month(1000 + seed))


def test_plan_items_made_once_per_volume_and_each_bill_its_own_list() -> None:
    """Two lines alike in terms and volume share the items (one object), yet each has its own list:
    an item added to one bill is not added to the other's."""
    doc = {
        "customer": "c",
        "month": "2026-03",
        "lines": [
            {
                "id_prefix": "L",
                "count": 3,
                "offer": "intense",
                "plan": "optima",
                "commitment": 36,
                "since": "2025-01-01",
            }
        ],
    }
    inventory = inventory_from_dict(doc)
    ko = 3 * 1024 * 1024 + 7
    groups = [Group(f"L{i}", "data", "fr", None, None, None, 1, ko, 0, {}) for i in (1, 2)]
    groups.append(Group("L3", "data", "fr", None, None, None, 1, ko + 1, 0, {}))
    run = rate_run(inventory, None, load_catalog(), reader=Aggregated(groups))  # type: ignore[arg-type]
    one, two, three = run.invoice.lines
    assert [id(i) for i in one.items] == [id(i) for i in two.items]
    assert one.items is not two.items
    assert [id(i) for i in one.items] != [id(i) for i in three.items]
    one.items.append(one.items[0])
    assert len(two.items) == len(three.items) == len(one.items) - 1


@pytest.mark.parametrize("seed", range(8))
def test_generated_months_on_the_base_catalog(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference's own check (items, JSON, text, comparison) on months of other seeds."""
    _check(*_month(500 + seed), monkeypatch)


def _plain_layout(doc: dict[str, Any]) -> str:
    """`layout_json` as it was written before its one join: a join per list, one of the parts."""
    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            if isinstance(value, LaidOut):
                inner = ",\n".join(value)
            else:
                inner = ",\n".join(["    " + _ENCODE(v) for v in value])
            parts.append(f"  {json.dumps(key)}: [\n{inner}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}"


@pytest.mark.parametrize("seed", range(30))
def test_layout_json_is_the_plain_layout(seed: int) -> None:
    """Documents of 0 to 5 keys, each a scalar, an empty list, or a list of 1, 2 or more entries
    (plain values or entries already laid out), texts with quotes, escapes and accents."""
    rng = random.Random(seed)
    texts = ["", "a", 'q"uote', "back\\slash", "é à", "line\nend", "0.00", "-0.00"]

    def value() -> Any:
        kind = rng.randrange(6)
        if kind == 0:
            return rng.choice([rng.choice(texts), rng.randint(-5, 5), None, True])
        entries = [
            {"code": rng.choice(texts), "n": rng.randint(0, 9)} for _ in range(rng.choice([0, 1, 2, 3, 7]))
        ]
        if kind == 1 and entries:
            return LaidOut("    " + _ENCODE(e) for e in entries)
        return entries

    doc = {f"k{i}{rng.choice(texts)}": value() for i in range(rng.randint(0, 5))}
    text = layout_json(doc)
    assert text == _plain_layout(doc)
    expect = {k: list(v) if isinstance(v, LaidOut) else v for k, v in doc.items()}
    got = json.loads(text)
    assert got.keys() == expect.keys()
    for k, v in expect.items():
        assert got[k] == ([json.loads(e) for e in v] if isinstance(doc[k], LaidOut) else v)


def _zero_signs_catalog(kind: str) -> Catalog:
    """The catalog with a price of 0 on one side and of -0 on the other, where two lines make an
    item of the same code and quantity: data outside the bundle on two offers, data over the
    allowance on two plans of one bundle, calls on two offers."""
    base = load_catalog()
    offers = dict(base.offers)
    if kind == "outside":
        for oid, rate in (("business-m2m", "0"), ("business-m2m-dtmf", "-0")):
            o = offers[oid]
            offers[oid] = replace(o, zone_rates_per_mo={**o.zone_rates_per_mo, "world": Decimal(rate)})
    elif kind == "over":
        o = offers["business-m2m"]
        plans = dict(o.plans)
        for pid, price in (("forfait-2mo", "0"), ("forfait-5mo", "-0")):
            steps = tuple(replace(s, over_per_mo=Decimal(price)) for s in plans[pid].steps)
            plans[pid] = replace(plans[pid], steps=steps)
        offers["business-m2m"] = replace(o, plans=plans)
    else:
        for oid, price in (("business-m2m", "0"), ("intense", "-0")):
            o = offers[oid]
            csd = replace(o.calls["csd"], first_period_price=Decimal(price), per_second=Decimal(price))
            offers[oid] = replace(o, calls={**o.calls, "csd": csd})
    return replace(base, offers=offers)


@pytest.mark.parametrize("first", [0, 1])
@pytest.mark.parametrize("kind", ["outside", "over", "calls"])
def test_items_alike_but_for_the_sign_of_a_zero_price_are_not_shared(kind: str, first: int) -> None:
    """An item at a price of -0 is -0.00, at a price of 0 it is 0.00 (as made afresh): two lines
    whose items differ in that alone each get their own, whichever line comes first."""
    terms = {
        "outside": [("business-m2m", "forfait-2mo", 24), ("business-m2m-dtmf", "forfait-2mo", 24)],
        "over": [("business-m2m", "forfait-2mo", 24), ("business-m2m", "forfait-5mo", 24)],
        "calls": [("business-m2m", "forfait-2mo", 24), ("intense", "optima", 36)],
    }[kind]
    if first:
        terms.reverse()
    lines = [
        {"id": f"L{i}", "offer": o, "plan": p, "commitment": c, "since": "2025-01-01"}
        for i, (o, p, c) in enumerate(terms)
    ]
    inventory = inventory_from_dict({"customer": "c", "month": "2026-03", "lines": lines})
    groups = []
    for i, (_, plan, _) in enumerate(terms):
        if kind == "outside":
            groups.append(Group(f"L{i}", "data", "world", None, None, None, 1, 1000, 0, {}))
        elif kind == "over":
            allowance = 2048 if plan == "forfait-2mo" else 5120
            groups.append(Group(f"L{i}", "data", "fr", None, None, None, 1, allowance + 100, 0, {}))
        else:
            groups.append(Group(f"L{i}", "csd", "fr", "fr-mobile", None, None, 2, 0, 2, {0: 130, 60: 10}))
    catalog = _zero_signs_catalog(kind)
    run = rate_run(inventory, None, catalog, reader=Aggregated(groups))  # type: ignore[arg-type]
    ref, _ = ref_invoice(inventory, groups, catalog)
    amounts = {b.id: [fmt(i.amount) for i in b.items] for b in ref.lines}
    assert sum(("-0.00" in a) for a in amounts.values()) == 1  # (the case is there)
    assert [(b.id, repr(b.items)) for b in run.invoice.lines] == [(b.id, repr(b.items)) for b in ref.lines]
    assert run.invoice.to_json() == layout_json(ref.to_dict())


# Line ids as an inventory may hold them: quotes, backslashes, control characters, a line or paragraph
# separator, a byte-order mark, characters past the BMP, lone surrogates.
ODD_IDS = [
    "",
    'q"',
    "b\\",
    "\x00",
    "\x1f\x7f",
    "\u2028",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "é",
    "\ufeff",
    "</",
]
ODD_PRICES = [Decimal(x) for x in ("-0", "0", "-0.00", "0.005", "0.512", "-3.5", "12.345", "1.50", "-0.005")]
ZEROS = [Decimal(x) for x in ("-0", "0", "0.00", "-0.00")]  # (lines alike on offers apart in the sign)


def _odder_catalog(rng: random.Random) -> Catalog:
    """`_odd_catalog` with the prices outside the bundle, the calls', the options', the prototypes'
    and the fleet discounts' drawn too (zero of either sign among them on several offers at once)."""
    base = _odd_catalog(rng)
    offers = {}
    for oid, offer in base.offers.items():
        calls = {
            k: replace(t, first_period_price=rng.choice(ZEROS), per_second=rng.choice(ZEROS + ODD_PRICES))
            for k, t in offer.calls.items()
        }
        rates = {z: rng.choice(ZEROS if rng.random() < 0.7 else ODD_PRICES) for z in offer.zone_rates_per_mo}
        proto = offer.prototype
        if proto is not None:
            proto = replace(proto, over_per_mo=rng.choice(ODD_PRICES), free_ko=rng.choice([proto.free_ko, 0]))
        offers[oid] = replace(offer, calls=calls, zone_rates_per_mo=rates, prototype=proto)
    options = {
        k: replace(o, monthly=rng.choice(ODD_PRICES), once=rng.choice(ODD_PRICES))
        for k, o in base.options.items()
    }
    discounts = tuple(
        replace(
            d,
            min_lines=rng.choice([d.min_lines, 1, 20]),
            rate=rng.choice([d.rate, Decimal("0.125"), Decimal("-0")]),
        )
        for d in base.fleet_discounts
    )
    return replace(base, offers=offers, options=options, fleet_discounts=discounts)


@pytest.mark.parametrize("seed", range(16))
def test_odd_prices_and_line_ids_as_the_reference(seed: int) -> None:
    """Every price of the catalog drawn from odd ones and the lines' ids from odd texts: the items
    (shared or not) are those made afresh, the JSON that of `json` (ids escaped as it escapes them)."""
    rng = random.Random(seed)
    catalog = _odder_catalog(rng)
    inventory, groups = _month(2000 + seed)
    ids = {line.id: rng.choice(ODD_IDS) + line.id + rng.choice(ODD_IDS) for line in inventory.lines}
    inventory = replace(inventory, lines=[replace(line, id=ids[line.id]) for line in inventory.lines])
    groups = [g._replace(line=ids.get(g.line or "", g.line)) for g in groups]
    _run_against_reference(catalog, inventory, groups)
    run = rate_run(inventory, None, catalog, reader=Aggregated(groups))  # type: ignore[arg-type]
    assert [e["id"] for e in json.loads(run.invoice.to_json())["lines"]] == [b.id for b in run.invoice.lines]
