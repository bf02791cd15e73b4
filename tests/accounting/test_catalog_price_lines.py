"""Every price line of the March 2012 catalog, and every step boundary of tariff-rules.md, pinned by
an amount worked out by hand in the test (from the catalog's prices, never by calling the code)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounting import compare, inventory_from_dict, rate, rate_run
from accounting.catalog import load_catalog
from accounting.compare import Choice
from accounting.engine import RatedUsage
from accounting.fleet import fleet_items
from accounting.usage_table import usage_table
from m2msim.cli import main

T = "2026-03-10T10:00:00Z"
MO = 1024 * 1024  # octets in a Mo (1 ko = 1,024 octets, 1 Mo = 1,024 ko)
EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"


def line(id_: str, offer: str, plan: str, commitment: int, **kw: Any) -> dict[str, Any]:
    return {"id": id_, "offer": offer, "plan": plan, "commitment": commitment, "since": "2025-01-15", **kw}


def bill(lines: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Any:
    distinct = [{"session": f"r{i}", **row} for i, row in enumerate(rows)]
    return rate(
        inventory_from_dict({"customer": "c", "month": "2026-03", "lines": lines}), usage_table(distinct)
    )


def data(line_id: str, octets: int, zone: str = "fr") -> dict[str, Any]:
    return {"line": line_id, "type": "data", "start": T, "bytes_up": octets, "bytes_down": 0, "zone": zone}


def items(invoice: Any, line_id: str) -> dict[str, str]:
    b = next(b for b in invoice.lines if b.id == line_id)
    return {i.code: str(i.amount) for i in b.items}


# --- subscriptions and data over the bundle: one row per price of the catalog's tables --------------

# (plan, commitment, subscription, Mo used in fr, amount over the bundle), for both offers of a pair.
# Business (p. 3): 2 Mo 8 / 7,5; 5 Mo 10 / 9,5; compteur 5,5 / 5; 1,5 EUR per Mo over a bundle,
# 3 EUR per Mo au compteur. Europe (p. 7): 2 Mo 9 / 8,5; 5 Mo 13 / 12,5; 3 EUR per Mo over.
# Intense (p. 5): 0,5 Mo step 6 EUR, 1 EUR per Mo beyond. Each line uses its allowance + 1 Mo.
PRICES: dict[str, list[tuple[str, int, str, float, str]]] = {
    "business-m2m": [
        ("forfait-2mo", 24, "8.00", 3, "1.50"),
        ("forfait-2mo", 36, "7.50", 3, "1.50"),
        ("forfait-5mo", 24, "10.00", 6, "1.50"),
        ("forfait-5mo", 36, "9.50", 6, "1.50"),
        ("compteur", 24, "5.50", 1, "3.00"),
        ("compteur", 36, "5.00", 1, "3.00"),
    ],
    "europe": [
        ("forfait-2mo", 24, "9.00", 3, "3.00"),
        ("forfait-2mo", 36, "8.50", 3, "3.00"),
        ("forfait-5mo", 24, "13.00", 6, "3.00"),
        ("forfait-5mo", 36, "12.50", 6, "3.00"),
    ],
    # 1.5 Mo on the 0.5 Mo step: 6 + 1 x 1 = 7.00 (500 Mo would be 26.00)
    "intense": [("optima", 36, "6.00", 1.5, "1.00")],
}
PRICE_LINES = [
    (offer, *row) for base, rows in PRICES.items() for offer in (base, f"{base}-dtmf") for row in rows
]


@pytest.mark.parametrize(("offer", "plan", "commitment", "sub", "used_mo", "over"), PRICE_LINES)
def test_every_subscription_and_overage_price_of_the_catalog(
    offer: str, plan: str, commitment: int, sub: str, used_mo: float, over: str
) -> None:
    idle = bill([line("L", offer, plan, commitment)], [])
    assert items(idle, "L") == {"subscription": sub}  # activation: « gratuit »
    used = bill([line("L", offer, plan, commitment)], [data("L", int(used_mo * MO))])
    got = items(used, "L")
    zones = "fr-eu" if offer.startswith("europe") else "fr"
    assert got[f"data-{zones}-over"] == over
    assert used.total == Decimal(sub) + Decimal(over)


def test_bundles_are_per_line_not_pooled_across_the_fleet() -> None:
    # « forfait 2 Mo » is each line's: A uses 3 Mo (1 Mo over at 1.5 = 1.50), B nothing. The fleet's
    # 3 Mo fit in 2 x 2 Mo, but A still pays its 1.50: 8 + 1.50 + 8 = 17.50 (pooled: 16.00).
    # Two optima lines alike: each 1.5 Mo on its own 0.5 Mo step, 6 + 1 = 7.00 each.
    lines = [line(x, "business-m2m", "forfait-2mo", 24) for x in "AB"]
    inv = bill(lines, [data("A", 3 * MO)])
    assert items(inv, "A")["data-fr-over"] == "1.50" and items(inv, "B") == {"subscription": "8.00"}
    assert inv.total == Decimal("17.50")
    lines = [line(x, "intense", "optima", 36) for x in "IJ"]
    inv = bill(lines, [data("I", 3 * MO // 2), data("J", 3 * MO // 2)])
    assert [b.total for b in inv.lines] == [Decimal("7.00"), Decimal("7.00")]


@pytest.mark.parametrize(
    ("offer", "plan", "commitment", "eu", "world"),
    [
        # « zone Europe 7 EUR HT / Mo, autres destinations 10 EUR HT / Mo » (Business and Intense)
        ("business-m2m", "forfait-5mo", 24, "7.00", "10.00"),
        ("business-m2m-dtmf", "compteur", 36, "7.00", "10.00"),
        ("intense-dtmf", "optima", 36, "7.00", "10.00"),
        # Europe: eu is in the bundle (1 Mo of 2 Mo: 0.00 over), « reste du Monde » 10 EUR / Mo
        ("europe-dtmf", "forfait-2mo", 36, None, "10.00"),
    ],
)
def test_data_abroad_on_every_offer(
    offer: str, plan: str, commitment: int, eu: str | None, world: str
) -> None:
    inv = bill([line("L", offer, plan, commitment)], [data("L", MO, "eu"), data("L", MO, "world")])
    got = items(inv, "L")
    assert got.get("data-eu") == eu and got["data-world"] == world


def test_an_intense_prototype_abroad_is_billed_as_usual() -> None:
    # the 500 ko free cover fr only on Intense: 100 ko in fr free; eu 512 ko at 7 = 3.50;
    # world 1 ko at 10 / 1024 = 0.0098 -> 0.01. Subscription free: 3.51.
    proto = {"id": "P", "offer": "intense", "plan": "optima", "prototype": True, "since": "2026-03-01"}
    inv = bill([proto], [data("P", 100 * 1024), data("P", MO // 2, "eu"), data("P", 1, "world")])
    assert items(inv, "P") == {
        "subscription": "0.00",
        "data-fr-free": "0.00",
        "data-eu": "3.50",
        "data-world": "0.01",
    }
    assert inv.total == Decimal("3.51")


def test_every_option_price() -> None:
    # « exclusive hors France 3 EUR / mois / ligne »; Secure Mobile Access Internet 4 EUR / ligne / mois
    # (its 2,000 set-up dated 2024: paid then). 8 + 3 + 4 = 15.00.
    opts = ["exclusive-abroad", "secure-mobile-access-internet"]
    inv = rate(
        inventory_from_dict(
            {
                "customer": "c",
                "month": "2026-03",
                "lines": [line("A", "business-m2m", "forfait-2mo", 24, options=opts)],
                "services": {"secure_mobile_access": {"internet": {"since": "2024-01-01"}}},
            }
        ),
        None,
    )
    assert items(inv, "A") == {
        "subscription": "8.00",
        "option-exclusive-abroad": "3.00",
        "option-secure-mobile-access-internet": "4.00",
    }
    assert inv.total == Decimal("15.00") and inv.fleet == []


# --- subscriptions: no pro rata; the 50-line discount counts the lines active in the month -----------


def group(n: int, since: str = "2025-01-01") -> dict[str, Any]:
    return {
        "id_prefix": "B",
        "count": n,
        "offer": "business-m2m",
        "plan": "forfait-2mo",
        "commitment": 24,
        "since": since,
    }


def test_a_line_activated_on_the_last_day_is_billed_a_whole_month_and_counts_for_the_discount() -> None:
    # 49 lines + one from 31 March: 50 Business lines active in March, each 8 x 0.95 = 7.60, the
    # new one too (no pro rata): 50 x 7.60 = 380.00
    inv = bill([group(49), line("N", "business-m2m", "forfait-2mo", 24, since="2026-03-31")], [])
    assert items(inv, "B01") == {"subscription": "7.60"} and items(inv, "N") == {"subscription": "7.60"}
    assert inv.total == Decimal("380.00")


def test_a_line_activated_after_the_month_does_not_count_for_the_discount() -> None:
    # 49 lines active + one from 2 April: 49 < 50, no discount: 49 x 8 = 392.00
    inv = bill([group(49), line("N", "business-m2m", "forfait-2mo", 24, since="2026-04-02")], [])
    assert items(inv, "B01") == {"subscription": "8.00"} and items(inv, "N") == {}
    assert inv.total == Decimal("392.00")


# --- SMS: the fleet's count of priced SMS only -------------------------------------------------------


def sms(line_id: str, n: int, zone: str = "fr") -> list[dict[str, Any]]:
    return [{"line": line_id, "type": "sms", "start": T, "zone": zone, "dest": "fr-mobile"}] * n


def test_sms_step_boundary_at_50000() -> None:
    # 49,999 x 0.06 = 2,999.94 ; 50,000 x 0.056 = 2,800.00
    lines = [line("A", "business-m2m", "forfait-2mo", 24)]
    assert items(bill(lines, sms("A", 49_999)), "A")["sms"] == "2999.94"
    assert items(bill(lines, sms("A", 50_000)), "A")["sms"] == "2800.00"


def test_rejected_sms_do_not_count_for_the_fleet_step() -> None:
    # 10,000 SMS each from a line with an inventory error, from a line before its activation and
    # from abroad: all rejected, none counts. A's one SMS stays on the first step: 0.07.
    lines = [
        line("A", "business-m2m", "forfait-2mo", 24),
        line("X", "business-m2m", "forfait-2mo", 24, options=["autodiagnostic"]),
        line("L", "business-m2m", "forfait-2mo", 24, since="2026-03-15"),
    ]
    inv = bill(lines, sms("A", 1) + sms("X", 10_000) + sms("L", 10_000) + sms("A", 10_000, zone="eu"))
    assert items(inv, "A")["sms"] == "0.07"
    assert inv.rejects_total == 30_000


# --- fleet services at every step boundary -----------------------------------------------------------

CATALOG = load_catalog()


def fleet(services: dict[str, Any], billed: int = 1, delivered: int = 0, hits: int = 0) -> dict[str, str]:
    inv = inventory_from_dict({"customer": "c", "month": "2026-03", "lines": [], "services": services})
    sms_internet = {("orange-fr", True): delivered} if delivered else {}
    got, _, _ = fleet_items(CATALOG, inv, billed, RatedUsage({}, [], sms_internet, hits, 0))
    return {i.code: str(i.amount) for i in got}


@pytest.mark.parametrize(
    ("lines", "prices"),
    [
        (1, ("160.00", "200.00", "250.00")),
        (100, ("160.00", "200.00", "250.00")),
        (101, ("600.00", "700.00", "900.00")),
        (500, ("600.00", "700.00", "900.00")),
        (501, ("1000.00", "1300.00", "1500.00")),
        (1_000, ("1000.00", "1300.00", "1500.00")),
        (1_001, ("2000.00", "2500.00", "3500.00")),
        (2_500, ("2000.00", "2500.00", "3500.00")),
        (2_501, ("3000.00", "4500.00", "6000.00")),
        (5_000, ("3000.00", "4500.00", "6000.00")),
    ],
)
def test_assistance_every_tier_and_hours(lines: int, prices: tuple[str, str, str]) -> None:
    hours = ("8-20-weekdays", "8-22-all-days", "24-7")
    assert tuple(fleet({"assistance": {"hours": h}}, lines)["assistance"] for h in hours) == prices
    # 8 managers: 3 beyond the 5 included, 3 x 150 = 450.00
    assert (
        fleet({"assistance": {"hours": "24-7", "managers": 8}}, lines)["assistance-extra-managers"]
        == "450.00"
    )


@pytest.mark.parametrize(
    ("delivered", "amount"),
    [
        (1, "0.09"),  # 0.094 -> 0.09
        (30_000, "2280.00"),  # x 0.076
        (30_001, "2100.07"),  # x 0.070 = 2,100.07
        (50_000, "3500.00"),  # x 0.070
        (50_001, "3000.06"),  # x 0.060 = 3,000.06
    ],
)
def test_sms_internet_every_step_boundary(delivered: int, amount: str) -> None:
    got = fleet({"sms_internet": {"short_ids": 1, "since": "2025-01-01"}}, delivered=delivered)
    assert got == {"sms-internet-subscription": "140.00", "sms-internet-messages": amount}


@pytest.mark.parametrize(
    ("hits", "amount"),
    [
        (1, "0.08"),
        (30_000, "1992.00"),  # 2,400 x 0.83
        (50_000, "3040.00"),  # 4,000 x 0.76
        (50_001, "2760.06"),  # 4,000.08 x 0.69 = 2,760.0552
        (500_000, "27600.00"),  # 40,000 x 0.69
        (500_001, "24400.05"),  # 40,000.08 x 0.61 = 24,400.0488
        (1_000_000, "48800.00"),  # 80,000 x 0.61
        (1_000_001, "41600.04"),  # 80,000.08 x 0.52 = 41,600.0416
    ],
)
def test_localisation_every_discount_boundary(hits: int, amount: str) -> None:
    got = fleet({"localisation": {"since": "2025-01-01"}}, hits=hits)
    assert got == {"localisation-subscription": "100.00", "localisation-hits": amount}


# --- compare: ties ---------------------------------------------------------------------------------


def test_compare_keeps_today_s_choice_on_a_tie_else_the_least_choice() -> None:
    # No usage: the cheapest is compteur 36 months, 5.00, on business-m2m and on business-m2m-dtmf.
    # K is on business-m2m-dtmf compteur 36 already: it stays (saving 0.00). Z (Europe 2 Mo 24 m,
    # 9.00) moves to the least of the tied choices, business-m2m: saving 4.00. Best mix 10.00.
    lines = [
        line("K", "business-m2m-dtmf", "compteur", 36),
        line("Z", "europe", "forfait-2mo", 24),
    ]
    c = compare(rate_run(inventory_from_dict({"customer": "c", "month": "2026-03", "lines": lines}), None))
    by_id = {lc.id: lc for lc in c.lines}
    assert by_id["K"].cheapest == Choice("business-m2m-dtmf", "compteur", 36) and by_id["K"].saving == 0
    assert by_id["Z"].cheapest == Choice("business-m2m", "compteur", 36)
    assert by_id["Z"].saving == Decimal("4.00")
    assert c.best_mix.total == Decimal("10.00") and c.saving == Decimal("4.00")


# --- the readable invoice and the JSON agree to the cent ---------------------------------------------


def test_the_text_invoice_shows_every_json_amount(capsys: pytest.CaptureFixture[str]) -> None:
    inv, usage = str(EXAMPLE / "inventory.yaml"), str(EXAMPLE / "usage.csv")
    assert main(["rate", inv, usage, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert main(["rate", inv, usage]) == 0
    text = capsys.readouterr().out
    assert f"Total HT: {Decimal(doc['total_ht']):,.2f} EUR" in text
    # each line's items, in order, with the same amounts (the example's 9 lines are all shown)
    for b in doc["lines"]:
        head = re.search(rf"^  {re.escape(b['id'])}  .*  total ([\d,.]+)$", text, re.M)
        assert head is not None and head.group(1).replace(",", "") == b["total_ht"]
        shown = text[head.end() :].splitlines()[1 : 1 + len(b["items"])]
        for item, row in zip(b["items"], shown, strict=True):
            cols = row.split()
            assert cols[0] == item["code"] and item["amount"] in {c.replace(",", "") for c in cols}
        assert sum(Decimal(i["amount"]) for i in b["items"]) == Decimal(b["total_ht"])
    for item in doc["fleet"]:
        assert re.search(rf"^  {re.escape(item['code'])} .* {Decimal(item['amount']):>12,.2f}", text, re.M)
    assert Decimal(doc["total_ht"]) == sum(Decimal(b["total_ht"]) for b in doc["lines"]) + sum(
        Decimal(i["amount"]) for i in doc["fleet"]
    )
