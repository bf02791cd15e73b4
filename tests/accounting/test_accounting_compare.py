"""Offer comparison: every allowed choice priced on the same aggregates, constraints kept."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting import compare, inventory_from_dict, rate_run
from accounting.compare import Choice
from accounting.engine import LineUsage, RatingRun, fleet_context, fleet_sms_count, price_line
from accounting.inventory import is_active
from accounting.money import ZERO
from accounting.usage_table import usage_table

T = "2026-03-10T10:00:00Z"
MO = 1024 * 1024


def run(lines: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Any:
    return rate_run(
        inventory_from_dict({"customer": "c", "month": "2026-03", "lines": lines}), usage_table(rows)
    )


# 49 idle Business compteur 36 m lines: 5.00 each, 4.75 with the 5% of 50 Business lines
IDLE_49 = {
    "id_prefix": "G",
    "count": 49,
    "offer": "business-m2m",
    "plan": "compteur",
    "commitment": 36,
    "since": "2025-01-01",
}


def ln(
    id_: str, offer: str = "business-m2m", plan: str = "forfait-2mo", commitment: int = 24
) -> dict[str, Any]:
    return {"id": id_, "offer": offer, "plan": plan, "commitment": commitment, "since": "2025-01-01"}


def test_constraints_on_choices() -> None:
    rows: list[dict[str, Any]] = [
        {"line": "V", "type": "voice", "start": T, "duration_s": 30, "dest": "fr-mobile"},
        {"line": "C", "type": "csd", "start": T, "duration_s": 30, "dest": "fr-mobile"},
    ]
    c = compare(run([ln("V", "business-m2m-dtmf"), ln("C"), ln("N")], rows))
    by_id = {lc.id: lc for lc in c.lines}
    for lc in c.lines:
        assert Choice("intense", "optima", 24) not in lc.costs  # Intense: 36 months only
        assert Choice("intense", "optima", 36) in lc.costs or lc.id == "V"
    assert all(ch.offer.endswith("-dtmf") for ch in by_id["V"].costs)  # voice calls need DTMF
    assert not any(ch.offer.endswith("-dtmf") for ch in by_id["C"].costs)  # CSD needs a data offer
    assert len(by_id["N"].costs) == 22  # no usage: every choice of the catalog


def test_cheapest_choice_and_saving_per_line() -> None:
    # 600 Mo on Business compteur 24: 5.50 + 600 x 3 = 1805.50; on Intense optima: 26 + 100 x 0.1 = 36
    c = compare(
        run(
            [ln("A", plan="compteur")],
            [{"line": "A", "type": "data", "start": T, "bytes_up": 600 * MO, "bytes_down": 0}],
        )
    )
    (lc,) = c.lines
    assert lc.current_total == Decimal("1805.50")
    assert lc.cheapest in (Choice("intense", "optima", 36), Choice("intense-dtmf", "optima", 36))
    assert lc.saving == Decimal("1769.50")
    assert c.best_mix.total == Decimal("36.00") and c.saving == Decimal("1769.50")


def test_fleet_discount_is_recomputed_for_each_fleet_scenario() -> None:
    # 50 Business 2 Mo lines (discounted: 7.13 each = 356.50) and one Intense line with no usage (6.00).
    lines = [
        {
            "id_prefix": "B",
            "count": 50,
            "offer": "business-m2m",
            "plan": "forfait-2mo",
            "commitment": 36,
            "since": "2025-01-01",
        }
    ]
    lines.append(ln("I", "intense", "optima", 36))
    c = compare(run(lines, []))
    assert c.today.total == Decimal("362.50")
    # Moving one Business line to Intense (6.00) would drop the discount on the other 49 (7.50 each):
    # 49 x 7.50 + 2 x 6.00 = 379.50; the best mix keeps the discount: the Intense line to Business
    # compteur 36 (5 x 0.95 = 4.75) and every Business line too: 51 x 4.75 = 242.25.
    assert c.best_mix.total == Decimal("242.25")
    everyone_intense = next(s for s in c.uniform if s.name.endswith("intense optima 36 m"))
    assert everyone_intense.total == Decimal("306.00") and everyone_intense.discounts == ()
    every_compteur = next(s for s in c.uniform if s.name.endswith("business-m2m compteur 36 m"))
    assert every_compteur.total == Decimal("242.25") and every_compteur.discounts


def test_best_mix_moves_a_line_that_earns_the_discount_for_the_others() -> None:
    # 49 Business compteur 36 lines without usage (5.00 each, 4.75 with the 5% of 50 lines), an
    # Intense line with 512 ko (6.00; on Business compteur 36: 5.00 + 1.50 = 6.50, 6.25 discounted)
    # and a Europe line with 4 Mo in the EU (12.50; 33.00 on Business compteur: 5 + 4 x 7).
    # Today: 49 x 5 + 6 + 12.50 = 263.50.  Alone, the Intense line costs more on Business, even
    # discounted (6.25 > 6.00), but it is the 50th: 50 x 4.75 + 1.50 + 12.50 = 251.50.  Every line on
    # Business compteur (the Europe line too) costs 271.75.
    lines = [
        IDLE_49,
        ln("X", "intense", "optima", 36),
        ln("R", "europe", "forfait-5mo", 36),
    ]
    rows = [
        {"line": "X", "type": "data", "start": T, "bytes_up": 512 * 1024, "bytes_down": 0},
        {"line": "R", "type": "data", "start": T, "bytes_up": 4 * MO, "bytes_down": 0, "zone": "eu"},
    ]
    c = compare(run(lines, rows))
    assert c.today.total == Decimal("263.50")
    assert c.best_mix.total == Decimal("251.50") and c.best_mix.lines_moved == 1 and c.best_mix.discounts
    assert c.best_mix_choices["X"] == Choice("business-m2m", "compteur", 36)
    assert c.best_mix_choices["R"] == Choice("europe", "forfait-5mo", 36)
    assert c.cheapest == c.best_mix and c.saving == Decimal("12.00")
    # what rating the month with the line moved bills
    moved = [*lines[:1], {**lines[1], "offer": "business-m2m", "plan": "compteur"}, lines[2]]
    assert run(moved, rows).invoice.total == Decimal("251.50")


def test_best_mix_moves_as_many_alike_lines_as_the_discount_needs() -> None:
    # 45 Business compteur 36 lines (5.00) and 10 alike Intense lines of 512 ko (6.00; 6.25 on
    # Business compteur 36 discounted). Today 285.00.  Five of them moved earn the 5%:
    # 50 x 4.75 + 5 x 1.50 + 5 x 6.00 = 275.00; all ten moved: 55 x 4.75 + 10 x 1.50 = 276.25.
    lines = [
        {"id_prefix": "G", "count": 45, "offer": "business-m2m", "plan": "compteur", "commitment": 36},
        {"id_prefix": "X", "count": 10, "offer": "intense", "plan": "optima", "commitment": 36},
    ]
    for group in lines:
        group["since"] = "2025-01-01"
    xs = [f"X{k:02d}" for k in range(1, 11)]
    rows = [{"line": x, "type": "data", "start": T, "bytes_up": 512 * 1024, "bytes_down": 0} for x in xs]
    c = compare(run(lines, rows))
    assert c.today.total == Decimal("285.00")
    assert c.best_mix.total == Decimal("275.00") and c.best_mix.lines_moved == 5
    on_business = [x for x in xs if c.best_mix_choices[x].offer == "business-m2m"]
    assert on_business == xs[:5]
    # the JSON marks the five moved (their own cheapest is where they are), each alike line its own
    doc = json.loads(c.to_json())
    assert doc == c.to_dict()
    marked = {e["id"]: e["in_best_mix"] for e in doc["lines"] if "in_best_mix" in e}
    assert marked == dict.fromkeys(on_business, "business-m2m compteur 36 m")
    # what rating the month with those lines moved bills
    moved = [lines[0]]
    moved += [
        ln(x, *(("business-m2m", "compteur") if x in on_business else ("intense", "optima")), 36) for x in xs
    ]
    assert run(moved, rows).invoice.total == Decimal("275.00")


def invoiced_on(r: RatingRun, line_id: str, choice: Choice) -> Decimal:
    """The invoice total of a line moved to `choice` in the same fleet (discounts as they stand)."""
    month = r.inventory.month
    active = [line for line in r.valid.values() if is_active(line, month)]
    sms = fleet_sms_count(r.catalog, active, r.rated.lines)
    ctx = fleet_context(r.catalog, month, sms, Counter(line.offer for line in active))
    moved = replace(r.valid[line_id], offer=choice.offer, plan=choice.plan, commitment=choice.commitment)
    usage = r.rated.lines.get(line_id, LineUsage())
    return sum((i.amount for i in price_line(r.catalog, moved, usage, ctx)), ZERO)


def test_every_choice_costs_what_its_invoice_would() -> None:
    rows: list[dict[str, Any]] = [
        {"line": "A", "type": "data", "start": T, "bytes_up": 3 * MO, "bytes_down": 5, "zone": "fr"},
        {"line": "A", "type": "data", "start": T, "bytes_up": MO, "bytes_down": 5, "zone": "eu"},
        {"line": "A", "type": "data", "start": T, "bytes_up": 7000, "bytes_down": 5, "zone": "world"},
        {"line": "A", "type": "voice", "start": T, "duration_s": 75, "dest": "fr-mobile"},
        {"line": "A", "type": "sms", "start": T, "dest": "fr-mobile"},
    ]
    r = run([ln("A", "business-m2m-dtmf")], rows)
    costs = compare(r).lines[0].costs
    assert len(costs) > 1
    for choice, cost in costs.items():
        assert cost == invoiced_on(r, "A", choice), choice


_ROW = st.one_of(
    st.fixed_dictionaries(
        {
            "line": st.sampled_from(["A", "B"]),
            "type": st.just("data"),
            "start": st.just(T),
            "bytes_up": st.integers(0, 8 * MO),
            "bytes_down": st.integers(0, 3000),
            "zone": st.sampled_from(["fr", "eu", "world"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "line": st.sampled_from(["A", "B"]),
            "type": st.sampled_from(["voice", "csd"]),
            "start": st.just(T),
            "duration_s": st.integers(0, 400),
            "dest": st.sampled_from(["fr-mobile", "fr-fixed", "intl"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "line": st.sampled_from(["A", "B"]),
            "type": st.just("sms"),
            "start": st.just(T),
            "dest": st.just("fr-mobile"),
        }
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(_ROW, max_size=10), st.booleans())
def test_the_comparison_prices_each_choice_as_the_invoice_would(
    rows: list[dict[str, Any]], new: bool
) -> None:
    since = "2026-03-05" if new else "2025-01-01"  # a line starting in the month pays any activation fee
    lines = [ln("A", "business-m2m-dtmf", "compteur", 36), {**ln("B", "europe"), "since": since}]
    r = run(lines, rows)
    for lc in compare(r).lines:
        for choice, cost in lc.costs.items():
            assert cost == invoiced_on(r, lc.id, choice), (lc.id, choice)


def test_prototypes_are_kept_as_they_are() -> None:
    proto = {"id": "P", "offer": "intense", "plan": "optima", "prototype": True, "since": "2026-03-01"}
    c = compare(run([proto], [{"line": "P", "type": "data", "start": T, "bytes_up": 10, "bytes_down": 0}]))
    assert c.lines[0].current is None and c.lines[0].costs == {} and c.saving == 0


def test_usage_no_offer_prices_does_not_keep_a_line_on_its_offer() -> None:
    # A Business 5 Mo line (24 m) roams in the EU: 10 Mo there, 10 x 7 = 70.00, plus 10.00 = 80.00.
    # It also sent an SMS from the EU, which no offer of the catalog prices (rejected on every one).
    # On Europe 5 Mo 36 m the 10 Mo are in the bundle's zones: 12.50 + 5 x 3 = 27.50, saving 52.50.
    rows: list[dict[str, Any]] = [
        {"line": "R", "type": "data", "start": T, "bytes_up": 10 * MO, "bytes_down": 0, "zone": "eu"},
        {"line": "R", "type": "sms", "start": T, "zone": "eu", "dest": "fr-mobile"},
        {"line": "R", "type": "voice", "start": T, "duration_s": 30, "zone": "eu", "dest": "fr-mobile"},
    ]
    c = compare(run([ln("R", "business-m2m", "forfait-5mo", 24)], rows))
    (lc,) = c.lines
    assert lc.current_total == Decimal("80.00")
    assert lc.cheapest in (Choice("europe", "forfait-5mo", 36), Choice("europe-dtmf", "forfait-5mo", 36))
    assert lc.saving == Decimal("52.50")
    assert c.best_mix.total == Decimal("27.50")


def test_text_shows_the_best_mix_where_a_line_alone_would_cost_the_others_their_discount() -> None:
    """50 Business compteur 36 m lines, the fleet discount on (5 x 0.95 = 4.75 each).  49 are idle;
    H sent 3 Mo in France: 4.75 + 3 x 3 = 13.75.  Its own cheapest is Intense optima:
    6 + (3,072 - 512) ko x 1 / 1,024 = 6 + 2.50 = 8.50, "saves 5.25".  Moved alone, the fleet has
    49 Business lines and loses the discount: 49 x 5.00 + 8.50 = 253.50 against 246.50 today,
    7.00 more.  The best mix keeps H on Business forfait-2mo 36 m: 7.5 x 0.95 = 7.125 -> 7.13,
    + 1 Mo x 1.5 = 8.63; 49 x 4.75 + 8.63 = 241.38, saving 5.12.  The text shows H's place in the
    best mix beside its own cheapest, not the move alone as the advice."""
    rows = [{"line": "H", "type": "data", "start": T, "bytes_up": 3 * MO, "bytes_down": 0}]
    c = compare(run([IDLE_49, ln("H", plan="compteur", commitment=36)], rows))
    h = next(lc for lc in c.lines if lc.id == "H")
    assert (h.current_total, h.cheapest, h.saving) == (
        Decimal("13.75"),
        Choice("intense", "optima", 36),
        Decimal("5.25"),
    )
    assert (c.today.total, c.best_mix.total, c.saving) == (
        Decimal("246.50"),
        Decimal("241.38"),
        Decimal("5.12"),
    )
    assert c.best_mix_choices["H"] == Choice("business-m2m", "forfait-2mo", 36)
    moved = run([IDLE_49, ln("H", "intense", "optima", 36)], rows)  # H moved alone, rated as a month
    assert moved.invoice.total == Decimal("253.50")
    text = c.render_text()
    row = text.index("saves 5.25")
    assert text[row:].split("\n")[1].strip() == "in the best mix: business-m2m forfait-2mo 36 m"


def test_json_marks_the_line_the_best_mix_puts_elsewhere_than_its_own_cheapest() -> None:
    """The month above: the text shows H's place in the best mix under its own cheapest, but the
    JSON (`compare --json`) gave Intense optima, "saving" 5.25, and no word of it. Its entry keeps
    its keys and values, and has `in_best_mix` after them; the 49 others, in the best mix where
    they are, have none."""
    rows = [{"line": "H", "type": "data", "start": T, "bytes_up": 3 * MO, "bytes_down": 0}]
    c = compare(run([IDLE_49, ln("H", plan="compteur", commitment=36)], rows))
    doc = json.loads(c.to_json())
    assert doc == c.to_dict()
    h = next(e for e in doc["lines"] if e["id"] == "H")
    assert list(h) == [
        "id",
        "current",
        "current_total_ht",
        "cheapest",
        "cheapest_total_ht",
        "saving_ht",
        "options",
        "in_best_mix",
    ]
    assert (h["cheapest"], h["saving_ht"]) == ("intense optima 36 m", "5.25")
    assert h["in_best_mix"] == "business-m2m forfait-2mo 36 m"
    assert [e["id"] for e in doc["lines"] if "in_best_mix" in e] == ["H"]


def test_text_adds_nothing_where_each_line_s_cheapest_is_its_place_in_the_best_mix() -> None:
    """B1 on Business forfait-2mo 24 m sent 3 Mo in France: 8 + 1 Mo x 1.5 = 9.50; on Intense optima
    6 + 2.5 = 8.50, saving 1.00, in the best mix too (no fleet discount either way)."""
    rows = [{"line": "B1", "type": "data", "start": T, "bytes_up": 3 * MO, "bytes_down": 0}]
    c = compare(run([ln("B1")], rows))
    assert (c.lines[0].saving, c.best_mix.total) == (Decimal("1.00"), Decimal("8.50"))
    assert "in the best mix" not in c.render_text()
    assert "in_best_mix" not in c.to_json() and "in_best_mix" not in c.to_dict()["lines"][0]
