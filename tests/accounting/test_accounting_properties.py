"""Properties of the rating, checked on generated months (hypothesis, seeded by the profile)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoice_docs import billed

from accounting import inventory_from_dict, load_catalog, rate
from accounting.charges import step_cost
from accounting.usage_table import usage_table

CATALOG = load_catalog()
T = "2026-03-10T10:00:00Z"
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
OFFERS = [
    ("business-m2m", "forfait-2mo", 24),
    ("business-m2m-dtmf", "compteur", 36),
    ("europe", "forfait-5mo", 24),
    ("intense-dtmf", "optima", 36),
    ("europe-dtmf", "forfait-2mo", 36),
]


def inventory(offer: tuple[str, str, int]) -> Any:
    o, p, c = offer
    return inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [{"id": "A", "offer": o, "plan": p, "commitment": c, "since": "2025-01-01"}],
        }
    )


row_strategy = st.one_of(
    st.fixed_dictionaries(
        {
            "line": st.just("A"),
            "type": st.just("data"),
            "start": st.just(T),
            "bytes_up": st.integers(0, 5 * 1024 * 1024),
            "bytes_down": st.integers(0, 3000),
            "zone": st.sampled_from(["fr", "eu", "world"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "line": st.just("A"),
            "type": st.sampled_from(["voice", "csd"]),
            "start": st.just(T),
            "duration_s": st.integers(0, 400),
            "dest": st.sampled_from(["fr-mobile", "fr-fixed", "intl"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "line": st.just("A"),
            "type": st.just("sms"),
            "start": st.just(T),
            "dest": st.sampled_from(["fr-mobile", "fr-premium"]),
        }
    ),
)


@SETTINGS
@given(st.integers(0, 8 * 1024 * 1024))
def test_optima_never_costs_more_than_any_single_step(volume_ko: int) -> None:
    plan = CATALOG.offers["intense"].plans["optima"]
    inv = inventory(("intense", "optima", 36))
    rows = (
        [{"line": "A", "type": "data", "start": T, "bytes_up": volume_ko * 1024, "bytes_down": 0}]
        if volume_ko
        else []
    )
    total = rate(inv, usage_table(rows)).lines[0].total
    for step in plan.steps:
        assert total <= step_cost(CATALOG, step, 36, volume_ko, Decimal(0))


@SETTINGS
@given(st.sampled_from(OFFERS), st.lists(row_strategy, max_size=12))
def test_total_is_the_sum_of_rounded_items(offer: tuple[str, str, int], rows: list[dict[str, Any]]) -> None:
    invoice = rate(inventory(offer), usage_table(rows))
    for bill in invoice.lines:
        assert all(i.amount == i.amount.quantize(Decimal("0.01")) for i in bill.items)
        assert bill.total == sum((i.amount for i in bill.items), Decimal(0))
    assert invoice.total == sum((b.total for b in invoice.lines), Decimal(0)) + sum(
        (i.amount for i in invoice.fleet), Decimal(0)
    )


@SETTINGS
@given(st.sampled_from(OFFERS), st.lists(row_strategy, min_size=1, max_size=8), st.data())
def test_splitting_a_record_in_two_never_lowers_the_bill(
    offer: tuple[str, str, int], rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(rows) - 1))
    row = rows[i]
    first, second = dict(row), dict(row)
    if row["type"] == "data":
        cut = data.draw(st.integers(0, row["bytes_up"]))
        first["bytes_up"], second["bytes_up"] = cut, row["bytes_up"] - cut
        second["bytes_down"] = 0
    elif row["type"] in ("voice", "csd"):
        cut = data.draw(st.integers(0, row["duration_s"]))
        first["duration_s"], second["duration_s"] = cut, row["duration_s"] - cut
    else:
        return  # one SMS is one SMS
    split = [*rows[:i], first, second, *rows[i + 1 :]]
    inv = inventory(offer)
    assert rate(inv, usage_table(split)).total >= rate(inv, usage_table(rows)).total


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.sampled_from(OFFERS), st.lists(row_strategy, max_size=15))
def test_csv_and_parquet_inputs_give_the_same_invoice(
    offer: tuple[str, str, int], rows: list[dict[str, Any]]
) -> None:
    table = usage_table(rows)
    inv = inventory(offer)
    with TemporaryDirectory() as tmp:
        pacsv.write_csv(table, Path(tmp) / "u.csv")
        pq.write_table(table, Path(tmp) / "u.parquet")
        a, b = (rate(inv, Path(tmp) / name).to_dict() for name in ("u.csv", "u.parquet"))
        assert billed(a) == billed(b)
