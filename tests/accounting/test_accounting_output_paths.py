"""The fast paths of the invoice's output and of pricing keep their contracts.

`Invoice.to_json` writes each line from its items' JSON texts: it must say exactly what the
JSON encoder says of `to_dict()`.  Pricing pauses the cyclic garbage collector: no collection
may run while a month is rated, and the collector's state must come back as it was.
"""

from __future__ import annotations

import gc
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounting import inventory_from_dict, rate
from accounting.engine import price_line, sort_usage
from accounting.invoice import _ENCODE, Invoice, Item, LineBill, Reject, layout_json
from accounting.render import family
from accounting.usage import UsageReader
from accounting.usage_table import usage_table
from m2msim.gcpause import paused_gc

ITEMS = [
    Item.make("subscription", 1, "month", Decimal("7.5"), None, "step-1"),
    Item.make("data-fr-over", 1234, "ko", Decimal("0.0049999")),
    Item.make("sms", 3, "sms", Decimal("0.3"), 'fleet "sent" 3 \\ é € 😀\n\t'),
    Item.make("voice", 61, "s", Decimal("1.005"), "1 call", "Palier \u00e0 2"),
    Item("option-x", Decimal("2.50"), "month", Decimal("-1.00")),
]


@pytest.mark.parametrize("item", ITEMS, ids=[i.code for i in ITEMS])
def test_an_items_json_text_is_what_the_encoder_writes(item: Item) -> None:
    assert item.to_json() == _ENCODE(item.to_dict())
    assert json.loads(item.to_json()) == item.to_dict()


def test_invoice_json_lines_are_the_encoded_line_dicts() -> None:
    inv = Invoice("c\u00e9", "2026-03", "EUR", "cat")
    inv.lines = [
        LineBill('A"1', "o", "p", 24, False, None, [ITEMS[0], ITEMS[1], ITEMS[0]]),
        LineBill("B", "o", "p", None, True, "g", []),
        LineBill("C", "o", "p", 36, False, None, ITEMS[2:]),
    ]
    inv.fleet = [ITEMS[3]]
    inv.rejects = [
        Reject(2, "malformed row: start 'hier à 9 h' \"x\"\n"),
        Reject(7, "duplicate record of row 2", "mars b.csv"),
        Reject(9, "malformed row: start 'hier à 9 h' \"x\"\n"),
    ]
    text = inv.to_json()
    assert json.loads(text) == inv.to_dict()
    assert text == layout_json(inv.to_dict())  # (the rejects, as the lines, encoded alike)
    for line in inv.lines:
        assert (
            "    " + _ENCODE(line.to_dict()) in text.splitlines()
            or ("    " + _ENCODE(line.to_dict()) + ",") in text.splitlines()
        )


def _month(tmp_path: Path) -> tuple[Any, Any]:
    inventory = inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "L",
                    "count": 50,
                    "offer": "intense",
                    "plan": "optima",
                    "commitment": 36,
                    "since": "2025-01-01",
                }
            ],
        }
    )
    rows = [
        {
            "line": f"L{i % 50 + 1:02d}",
            "type": "data",
            "start": "2026-03-02T10:00:00Z",
            "bytes_up": 100 * i,
            "bytes_down": 7,
            "zone": ("fr", "eu", "world")[i % 3],
        }
        for i in range(3000)
    ]
    return inventory, usage_table(rows)


# Functions that run inside the pause: a collection started while one is on the stack is a failure.
PAUSED = {
    UsageReader.aggregate.__code__,
    sort_usage.__code__,
    price_line.__code__,
    Item.to_json.__code__,
    LineBill._dict.__code__,
    family.__code__,
}


@pytest.mark.parametrize("enabled", [True, False])
def test_rating_runs_no_cyclic_collection_and_restores_the_collector(tmp_path: Path, enabled: bool) -> None:
    inventory, usage = _month(tmp_path)
    threshold = gc.get_threshold()
    inside: list[str] = []
    outside = 0

    def seen(phase: str, info: dict[str, int]) -> None:
        nonlocal outside
        if phase != "start":
            return
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code in PAUSED:
                inside.append(frame.f_code.co_name)
                return
            frame = frame.f_back  # type: ignore[assignment]
        outside += 1

    gc.enable() if enabled else gc.disable()
    gc.set_threshold(1)  # without the pause, nearly every allocation would start a collection
    gc.callbacks.append(seen)
    try:
        invoice = rate(inventory, usage)
        invoice.to_json()
        invoice.render_text()
        after = gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)
        gc.enable()
    assert invoice.rows_read == 3000
    assert inside == []
    assert (outside > 0) is enabled  # the probe sees collections where the collector runs
    assert after is enabled


def test_the_pause_ends_when_the_block_raises() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
