"""The catalog as data: the bundled file loads, broken files fail clearly, a second operator needs no code."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounting import CatalogError, inventory_from_dict, load_catalog, rate
from accounting.catalog import CATALOG_DIR
from accounting.usage_table import usage_table

DATA = Path(__file__).parent.parent / "data" / "accounting"
ORANGE = CATALOG_DIR / "orange-m2m-2012.yaml"


def test_bundled_catalog_reads_the_2012_prices_exactly() -> None:
    c = load_catalog()
    assert c.id == "orange-m2m-2012" and c.ko_per_mo == 1024
    assert c.offers["business-m2m"].plans["forfait-2mo"].steps[0].price == {
        24: Decimal("8"),
        36: Decimal("7.5"),
    }
    assert [s.name for s in c.offers["intense-dtmf"].plans["optima"].steps] == [
        "0.5 Mo",
        "500 Mo",
        "1 Go",
        "2 Go",
        "5 Go",
    ]
    assert c.offers["intense"].plans["optima"].steps[0].allowance_ko == 512
    assert c.offers["intense"].plans["optima"].commitments == (36,)
    assert c.call_tariffs["dtmf"].per_second == Decimal("0.0025")
    assert set(c.offers["business-m2m-dtmf"].usage) == {"data", "sms", "voice"}
    assert c.offers["europe"].bundle_zones == ("fr", "eu")
    assert c.assistance is not None and c.assistance.tiers[-1].quote is not None
    assert load_catalog(ORANGE) == c  # by path or by name


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("rate: 0.05", "rate: five", "fleet_discounts[0].rate", "expected a non-negative decimal"),
        ("      forfait-5mo:\n        steps: [{name: \"5 Mo\", allowance_mo: 5, price: {24: 10, 36: 9.5}, over_per_mo: 1.5}]",
         "      forfait-5mo:\n        steps: []", "offers.business-m2m.plans.forfait-5mo.steps", "non-empty"),
        ("zones: [fr, eu, world]", "zones: [fr, eu, mars]", "zones[2]", "unknown value 'mars'"),
        ("calls: {voice: dtmf}", "calls: {voice: dtmf2}", "offers.business-m2m-dtmf.calls.voice", "unknown call tariff"),
        ("ko_per_mo: 1024", "ko_per_mo: -1", "ko_per_mo", "expected an integer from 1 to"),
        # (values whose amounts would pass Decimal's 28 digits: the rounding to the cent failed)
        ("first_period_price: 0.15", "first_period_price: 1e30", "call_tariffs.dtmf.first_period_price", "below 1,000,000,000"),
        ("first_period_s: 60", "first_period_s: 1000000000000000000000000", "call_tariffs.dtmf.first_period_s", "from 0 to 1,000,000,000,000,000"),
        ("currency: EUR\n", "currency: EUR\nvat: 20\n", "vat", "unknown key"),
        ("  autodiagnostic: {name: autodiagnostic, monthly: 1, requires: [autogestion]}",
         "  autodiagnostic: {name: autodiagnostic, monthly: 1, requires: [autogestion2]}", "options.autodiagnostic.requires", "unknown option"),
    ],
)  # fmt: skip
def test_broken_catalog_names_file_key_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    text = ORANGE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.key == key and reason in err.value.reason
    assert str(err.value).startswith(f"{path}:")  # file and line
    assert err.value.line is not None


def test_unparsable_or_missing_catalog(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("offers: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"bad\.yaml"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "none.yaml")
    # a name without a suffix: a bundled catalog's, else nothing (a path was read as the bundled one)
    with pytest.raises(CatalogError, match=r"^orange-2012: \(top\): no such file, nor a bundled catalog"):
        load_catalog("orange-2012")
    missing = tmp_path / "orange-m2m-2012"
    with pytest.raises(CatalogError, match="bundled: orange-m2m-2012"):
        load_catalog(missing)
    assert load_catalog("orange-m2m-2012").id == "orange-m2m-2012"


def test_a_second_operator_catalog_works_without_code() -> None:
    tiny = load_catalog(DATA / "tiny-operator.yaml")
    inv = inventory_from_dict(
        {
            "customer": "t",
            "month": "2026-03",
            "lines": [
                {
                    "id": "A",
                    "offer": "iot",
                    "plan": "flex",
                    "commitment": 12,
                    "since": "2026-03-01",  # (activated this month, before its usage)
                    "options": ["static-ip"],
                },
                {"id": "B", "offer": "iot", "plan": "flex", "commitment": 12, "since": "2025-01-01"},
                {"id": "C", "offer": "iot", "plan": "flex", "commitment": 24, "since": "2025-01-01"},
            ],
        }
    )
    t = "2026-03-02T00:00:00Z"
    rows: list[dict[str, Any]] = [
        {
            "line": "A",
            "type": "data",
            "start": t,
            "bytes_up": 50_000,
            "bytes_down": 50_000,
        },  # 98 ko (1024 o per ko)
        {
            "line": "A",
            "type": "data",
            "start": t,
            "bytes_up": 102_400,
            "bytes_down": 0,
            "zone": "world",
        },  # 100 ko
        {"line": "B", "type": "voice", "start": t, "duration_s": 45, "dest": "intl"},
        {"line": "B", "type": "sms", "start": t, "dest": "fr-mobile", "zone": "world"},
        {"line": "B", "type": "sms", "start": t, "dest": "fr-mobile"},
        {"line": "B", "type": "sms", "start": t, "dest": "fr-mobile", "session": "2nd"},  # not a duplicate
        {"line": "B", "type": "csd", "start": t, "duration_s": 5, "dest": "fr-mobile"},
        {"line": "A", "type": "data", "start": t, "bytes_up": 1, "bytes_down": 0, "zone": "eu"},
    ]
    invoice = rate(inv, usage_table(rows), tiny)
    a, b = invoice.lines
    # A: 198 ko in the bundle zones; small: 2 + 98 x 10/1000 = 2.98, big: 4 -> small, halved by the
    # 2-line discount: 1.00 + 0.98 = 1.98; activation 12 this month; static IP 1.25
    assert {i.code: str(i.amount) for i in a.items} == {
        "subscription": "1.00",
        "data-fr-world-bundle": "0.00",
        "data-fr-world-over": "0.98",
        "activation": "12.00",
        "option-static-ip": "1.25",
    }
    # B: 3 SMS reach the 0.01 step; a 45 s call: 0.10 + 15 x 0.01 = 0.25
    assert {i.code: str(i.amount) for i in b.items} == {
        "subscription": "1.00",
        "sms": "0.03",
        "voice": "0.25",
    }
    assert [(e.line, e.rule) for e in invoice.errors] == [("C", "commitment-not-offered")]
    assert [(r.row, r.reason) for r in invoice.rejects] == [
        (8, "service not in the offer: csd is not part of iot"),
        (9, "price not in this catalog: data in zone eu"),
    ]
    assert invoice.total == Decimal("16.51")  # 15.23 + 1.28
