"""The offer comparison against the straightforward computation, on seeded generated months.

The comparison prices a line's choices in shares and sums its fleet scenarios per set of alike
lines; here every figure is worked out the plain way instead: each choice of each line priced as
its invoice would be (`price_line` of the line moved there), each scenario the sum of every line's
bill with the fleet discounts that scenario earns, the best mix picked line by line.  The months mix
every offer, plan and commitment, inventory errors, prototypes, lines starting in the month,
options, fleets on both sides of the discount's threshold, usage some offers refuse, rejects, and
lines with the same month (which the comparison prices once).  The comparison's documents are
functions of the figures checked here (amounts as written, `str`, included).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from accounting import inventory_from_dict, rate_run
from accounting.catalog import FleetDiscount
from accounting.compare import Choice, Comparison, all_choices, compare
from accounting.engine import (
    LineUsage,
    RatingRun,
    fleet_context,
    fleet_sms_count,
    price_line,
    refused_usage,
)
from accounting.inventory import Line, is_active
from accounting.invoice import layout_json
from accounting.money import ZERO, fmt
from accounting.usage_table import usage_table

MONTHS = 16
KO = 1024
OFFERS = [
    ("business-m2m", "forfait-2mo", 24),
    ("business-m2m", "forfait-5mo", 36),
    ("business-m2m", "compteur", 24),
    ("business-m2m-dtmf", "compteur", 36),
    ("business-m2m-dtmf", "forfait-2mo", 24),
    ("intense", "optima", 36),
    ("intense-dtmf", "optima", 36),
    ("europe", "forfait-2mo", 24),
    ("europe-dtmf", "forfait-5mo", 36),
    ("intense", "optima", 24),  # an inventory error: Intense is 36 months only
]
OPTIONS = [[], [], [], ["autogestion"], ["exclusive-fr"], ["first-traffic-billing"]]
SINCE = ["2025-01-01", "2025-06-15", "2026-03-04", "2026-03-31", "2026-04-02"]  # the last: not active


def _inventory(rng: random.Random) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    if rng.random() < 0.5:  # a Business group big enough for the fleet discount (50 lines), or just short
        lines.append(
            {
                "id_prefix": "G",
                "count": rng.choice([49, 50, 60]),
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 36,
                "since": "2025-01-01",
            }
        )
    for i in range(rng.randint(10, 40)):
        offer, plan, commitment = rng.choice(OFFERS)
        line: dict[str, Any] = {
            "id": f"L{i}",
            "offer": offer,
            "plan": plan,
            "commitment": commitment,
            "since": rng.choice(SINCE),
            "options": rng.choice(OPTIONS),
        }
        if offer.startswith("intense") and rng.random() < 0.15:
            line = {"id": f"P{i}", "offer": offer, "plan": plan, "prototype": True, "since": "2026-02-10"}
        lines.append(line)
    services: dict[str, Any] = {"assistance": {"hours": "24-7"}}
    if rng.random() < 0.5:
        services["sms_internet"] = {"short_ids": 1, "popup": 0, "since": "2026-01-01"}
    return {"customer": "c", "month": "2026-03", "lines": lines, "services": services}


def _rows_of(rng: random.Random, line_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(rng.randint(0, 8)):
        day = rng.randint(1, 31)
        start = f"2026-03-{day:02d}T{rng.randint(0, 23):02d}:00:00Z"
        kind = rng.choice(["data", "data", "data", "sms", "voice", "csd", "sms_internet"])
        if kind == "data":
            if rng.random() < 0.5:  # a volume at a step's allowance, or just over it
                up, down = rng.choice([512, 2048, 5120]) * KO + rng.choice([0, 1, KO, 7 * KO, 100 * KO]), 0
            else:
                size = rng.choice([0, 1, 1000, 2047 * KO, 5 * KO * KO, 600 * KO * KO, 3 * KO**3])
                up, down = rng.randint(0, size), rng.randint(0, 5000)
            zone = rng.choice(["fr", "fr", "eu", "world"])
            rows.append(
                {
                    "line": line_id,
                    "type": "data",
                    "start": start,
                    "bytes_up": up,
                    "bytes_down": down,
                    "zone": zone,
                }
            )
        elif kind == "sms":
            dest = rng.choice(["fr-mobile", "fr-mobile", "intl"])
            rows.append({"line": line_id, "type": "sms", "start": start, "dest": dest})
        elif kind == "sms_internet":
            rows.append({"line": line_id, "type": "sms_internet", "start": start, "dest": "orange-fr"})
        else:
            rows.append(
                {
                    "line": line_id,
                    "type": kind,
                    "start": start,
                    "duration_s": rng.choice([0, 1, 59, 60, 61, 300, 3601]),
                    "dest": rng.choice(["fr-mobile", "fr-fixed", "intl"]),
                    "zone": rng.choice(["fr", "fr", "eu"]),
                }
            )
    return rows


def _month(seed: int) -> RatingRun:
    rng = random.Random(seed)
    doc = _inventory(rng)
    inventory = inventory_from_dict(doc)
    rows: list[dict[str, Any]] = []
    earlier: list[list[dict[str, Any]]] = []
    for line in inventory.lines:
        if earlier and rng.random() < 0.3:  # the same month as another line (priced once)
            mine = [{**r, "line": line.id} for r in rng.choice(earlier)]
        else:
            mine = _rows_of(rng, line.id)
            earlier.append(mine)
        rows += mine
    rows += _rows_of(rng, "NOBODY")  # an unknown line: rejected, left out
    rng.shuffle(rows)
    return rate_run(inventory, usage_table(rows))


def _active(run: RatingRun) -> list[Line]:
    return [line for line in run.valid.values() if is_active(line, run.inventory.month)]


def _billed(run: RatingRun, moves: dict[str, Choice]) -> Decimal:
    """The month's total with lines moved: each line priced as its invoice, the discounts recomputed."""
    month = run.inventory.month
    lines = [
        replace(
            line, offer=moves[line.id].offer, plan=moves[line.id].plan, commitment=moves[line.id].commitment
        )
        if line.id in moves
        else line
        for line in _active(run)
    ]
    ctx = fleet_context(
        run.catalog,
        month,
        fleet_sms_count(run.catalog, lines, run.rated.lines),
        Counter(line.offer for line in lines),
    )
    total = sum((i.amount for i in run.invoice.fleet), ZERO)
    for line in lines:
        usage = run.rated.lines.get(line.id, LineUsage())
        total += sum((i.amount for i in price_line(run.catalog, line, usage, ctx)), ZERO)
    return total


def _costs(run: RatingRun, line: Line, discounts: str) -> dict[Choice, Decimal]:
    """A line's bill on every choice it can take: the fleet discounts as today, all on or all off."""
    catalog, month = run.catalog, run.inventory.month
    usage = run.rated.lines.get(line.id, LineUsage())
    current = Choice(line.offer, line.plan, line.commitment or 0)
    active = _active(run)
    today = fleet_context(
        catalog, month, fleet_sms_count(catalog, active, run.rated.lines), Counter(x.offer for x in active)
    )
    rates = {o: (d.rate, d.name) for d in catalog.fleet_discounts for o in d.offers}
    out = {}
    for choice in all_choices(catalog):
        if choice != current and refused_usage(catalog, catalog.offers[choice.offer], usage):
            continue
        if discounts == "today":
            ctx = today
        else:
            on = {o: r for o, r in rates.items()} if discounts == "on" else {}
            ctx = replace(today, discounts=on, subscriptions={}, plans={})
        moved = replace(line, offer=choice.offer, plan=choice.plan, commitment=choice.commitment)
        out[choice] = sum((i.amount for i in price_line(catalog, moved, usage, ctx)), ZERO)
    return out


def _pick(costs: dict[Choice, Decimal], now: Choice) -> Choice:
    return min(costs, key=lambda c: (costs[c], c != now, c))


def _reached(
    run: RatingRun, discount: FleetDiscount, mix: dict[str, Choice], current: dict[str, Choice]
) -> dict[str, Choice] | None:
    """`mix` with the lines that cost least to move (discounts on) moved onto the discount's offers,
    as many as it misses to be earned; None when it is earned already or cannot be."""
    offers = discount.offers
    have = sum(1 for line in _active(run) if line.prototype and line.offer in offers)
    have += sum(1 for c in mix.values() if c.offer in offers)
    missing = discount.min_lines - have
    if missing <= 0:
        return None
    moves = []
    for lid, pick in mix.items():
        if pick.offer in offers:
            continue
        on = _costs(run, run.valid[lid], "on")
        targets = {c: v for c, v in on.items() if c.offer in offers}
        if targets:
            target = _pick(targets, current[lid])
            moves.append((targets[target] - on[pick], lid, target))
    if len(moves) < missing:
        return None
    moves.sort(key=lambda m: m[0])  # (stable: the lines in inventory order)
    return {**mix, **{lid: target for _, lid, target in moves[:missing]}}


def _check(run: RatingRun, got: Comparison) -> None:
    catalog = run.catalog
    bills = {b.id: b for b in run.invoice.lines}
    assert [lc.id for lc in got.lines] == [line.id for line in _active(run)]
    current_mix: dict[str, Choice] = {}
    for line, lc in zip(_active(run), got.lines, strict=True):
        assert str(lc.current_total) == str(bills[line.id].total)
        if line.prototype:
            assert lc.current is None and lc.costs == {}
            continue
        current_mix[line.id] = Choice(line.offer, line.plan, line.commitment or 0)
        want = _costs(run, line, "today")
        assert list(lc.costs) == list(want), line.id
        assert {c: str(v) for c, v in lc.costs.items()} == {c: str(v) for c, v in want.items()}, line.id
        assert lc.cheapest == _pick(want, current_mix[line.id])
    # the best mix: each line's cheapest choice with the discounts as today, all on, all off, and with
    # them on, each discount that mix misses reached by moving the lines that cost least to move
    best: tuple[Decimal, dict[str, Choice], bool] | None = None
    for assume in ("today", "on", "off"):
        mix = {lid: _pick(_costs(run, run.valid[lid], assume), now) for lid, now in current_mix.items()}
        mixes = [(mix, False)]
        if assume == "on":
            for discount in catalog.fleet_discounts:
                reached = _reached(run, discount, mix, current_mix)
                if reached is not None:
                    mixes.append((reached, True))
        for candidate, forced in mixes:
            total = _billed(run, candidate)
            if best is None or total < best[0]:
                best = (total, candidate, forced)
    assert best is not None
    assert str(got.best_mix.total) == str(best[0]) == str(_billed(run, got.best_mix_choices))
    if not best[2]:  # (lines alike in what moving costs may be moved in another order)
        assert got.best_mix_choices == best[1]
    assert got.best_mix.lines_moved == sum(
        1 for lid, c in got.best_mix_choices.items() if c != current_mix[lid]
    )
    # everyone that can on each choice, in the catalog's order
    want_uniform = []
    for choice in all_choices(catalog):
        mix = {
            lid: choice if choice in _costs(run, run.valid[lid], "off") else now
            for lid, now in current_mix.items()
        }
        moved = sum(1 for lid, c in mix.items() if c != current_mix[lid])
        if not moved and choice not in current_mix.values():
            continue
        want_uniform.append((f"every line that can, on {choice}", str(_billed(run, mix)), moved))
    assert [(s.name, str(s.total), s.lines_moved) for s in got.uniform] == want_uniform
    assert str(got.today.total) == str(run.invoice.total) == str(_billed(run, {}))


def _plain_lines(got: Comparison) -> list[dict[str, Any]]:
    """The "lines" of the comparison's document, written out the plain way."""
    out = []
    for lc in got.lines:
        cheapest = min(lc.costs, key=lambda c: (lc.costs[c], c != lc.current, c)) if lc.costs else lc.current
        least = lc.costs[cheapest] if cheapest is not None and lc.costs else lc.current_total
        in_mix = got.best_mix_choices.get(lc.id)
        out.append(
            {
                "id": lc.id,
                "current": str(lc.current) if lc.current else "prototype",
                "current_total_ht": fmt(lc.current_total),
                "cheapest": str(cheapest) if cheapest else "prototype",
                "cheapest_total_ht": fmt(least),
                "saving_ht": fmt(lc.current_total - least),
                "options": {
                    str(c): fmt(v) for c, v in sorted(lc.costs.items(), key=lambda kv: (kv[1], kv[0]))
                },
                **({} if in_mix in (None, cheapest) else {"in_best_mix": str(in_mix)}),
            }
        )
    return out


@pytest.mark.parametrize("seed", range(MONTHS))
def test_the_comparison_is_the_plain_computation(seed: int) -> None:
    run = _month(seed)
    got = compare(run)
    _check(run, got)
    doc = got.to_dict()
    assert doc["lines"] == _plain_lines(got)
    assert got.to_json() == layout_json({**doc, "lines": _plain_lines(got)})
