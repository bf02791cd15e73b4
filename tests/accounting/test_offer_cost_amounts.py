"""An offer part's amounts kept from line to line (`offer_cost`'s `amounts`) give every line the
same Decimal, byte for byte, as worked out afresh: on seeded random months, rounding edges
(half a cent) and zero prices of either sign included."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from accounting import load_catalog
from accounting.charges import CallUse, OfferTerms, offer_cost
from accounting.inventory import Month

CATALOG = load_catalog()
MONTH = Month(2026, 3)


def _offers() -> list[Any]:
    offers = list(CATALOG.offers.values())
    odd = replace(
        offers[0],
        id="odd",
        zone_rates_per_mo={"eu": Decimal("-0"), "world": Decimal("0.005")},
        calls={
            t: replace(c, first_period_price=Decimal("-0"), per_second=Decimal("0.00125"))
            for t, c in offers[0].calls.items()
        },
    )
    return [*offers, odd]


def _plain(offer: Any, usage_ko: dict[str, int], used: dict[tuple[str, str, str], CallUse]) -> Decimal:
    """The tariff rules' sum written out: each item rounded to the cent half-up, then added."""
    cent = Decimal("0.01")
    total = Decimal(0)
    for zone, rate in offer.zone_rates_per_mo.items():
        if usage_ko.get(zone) and zone not in offer.bundle_zones:
            total += (usage_ko[zone] * rate / CATALOG.ko_per_mo).quantize(cent, ROUND_HALF_UP)
    for t, tariff in offer.calls.items():
        picked = [
            u for (ut, z, d), u in used.items() if ut == t and z in tariff.from_zones and d in tariff.to_dests
        ]
        n = sum(u.calls for u in picked)
        if n:
            beyond = sum(u.beyond.get(tariff.first_period_s, 0) for u in picked)
            exact = n * tariff.first_period_price + beyond * tariff.per_second
            total += exact.quantize(cent, ROUND_HALF_UP)
    return total


def test_kept_amounts_equal_fresh_ones_byte_for_byte() -> None:
    rng = random.Random(11)
    # half a cent at 7 per Mo: 700 ko / 1024 ends in .5 cent for these ko
    edges = [ko for ko in range(1, 5000) if (ko * 700) % 1024 == 512]
    assert edges
    amounts: dict[tuple[Any, ...], Decimal] = {}
    for offer in _offers():
        terms = OfferTerms.of(CATALOG, offer)
        for _ in range(3000):
            usage_ko = {
                z: rng.choice(edges) if rng.random() < 0.3 else rng.randint(0, 700)
                for z in CATALOG.zones
                if rng.random() < 0.8
            }
            used: dict[tuple[str, str, str], CallUse] = {}
            for t in ("csd", "voice"):
                for dest in ("fr-mobile", "fr-fixed"):
                    if rng.random() < 0.7:
                        n = rng.randint(0, 20)
                        secs = n * rng.randint(0, 200)
                        used[(t, "fr", dest)] = CallUse(n, secs, {0: secs, 60: max(0, secs - 60 * n)})
            args = (CATALOG, terms, offer, date(2025, 1, 1), MONTH, usage_ko, used)
            kept = offer_cost(*args, amounts)
            fresh = offer_cost(*args)
            assert (str(kept), kept.as_tuple()) == (str(fresh), fresh.as_tuple())
            plain = _plain(offer, usage_ko, used)
            assert (str(kept), kept.as_tuple()) == (str(plain), plain.as_tuple())
    assert len(amounts) < 3000 * len(_offers())  # amounts were found again, not all made afresh
