"""What every rating of a 10,000-line month pays after its aggregate, whatever the file's size.

The month of `bench_accounting` (10,000 lines on four offers; data in three zones, SMS, CSD or DTMF
calls: ~67,000 aggregates) is made directly as aggregates (seeded), so that only the Python work
after the scan is measured: the aggregates sorted to their lines and priced (`rate_run`), the
invoice's text and JSON, the offer comparison and its JSON.  Each stage is timed in CPU seconds
(this process, median of the runs), so a shared machine's load weighs less.  The baseline, in the
same run: the comparison worked out the plain way (each choice of each line priced by
`variable_cost`, each fleet scenario summed line by line), checked equal to the comparison's.
A second month has the simulator's shape (10,000 alike meters, data in France only).
`--quick`: 2,000 lines, one run.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from accounting import inventory_from_dict, load_catalog
from accounting.compare import Choice, all_choices, compare, variable_cost
from accounting.engine import LineUsage, RatingRun, fleet_context, fleet_sms_count, rate_run, refused_usage
from accounting.inventory import is_active
from accounting.money import ZERO
from accounting.usage import Group
from benchmarks.bench_accounting import GROUPS

MO = 1024


class Aggregated:
    """A reader whose month is already aggregated."""

    first_starts = None  # (no row read: none before a line's activation within the month)
    files: tuple[Path, ...] = ()  # (no file read: the invoice tells none)

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups

    def watch_starts(self, cutoffs: Any) -> None:
        """No row is read, whose start could be before its line's activation."""

    def aggregate(self, *_: Any) -> list[Group]:
        return self.groups

    def list_rejects(self, *_: Any, **__: Any) -> list[tuple[str | None, int, str]]:
        return []

    def check_unchanged(self) -> None:
        """No file read: nothing that may change."""


def bench_month(lines: int, seed: int = 2026) -> tuple[dict[str, Any], list[Group]]:
    """The accounting bench's inventory (scaled to `lines`) and a month of aggregates for it."""
    rng = random.Random(seed)
    scale = lines / sum(g[1] for g in GROUPS)
    doc_lines, groups = [], []
    for prefix, count, offer, plan, commitment, calls in GROUPS:
        n = max(1, round(count * scale))
        doc_lines.append(
            {"id_prefix": prefix, "count": n, "offer": offer, "plan": plan, "commitment": commitment}
        )
        doc_lines[-1]["since"] = "2025-01-01"
        width = len(str(n))
        for i in range(1, n + 1):
            line = f"{prefix}{i:0{width}d}"
            for zone, top in (("fr", 8 * MO), ("eu", 600), ("world", 100)):
                if zone == "fr" or rng.random() < 0.9:
                    rows = rng.randint(20, 400)
                    groups.append(
                        Group(line, "data", zone, None, None, None, rows, rng.randint(0, top), 0, {})
                    )
            groups.append(Group(line, "sms", "fr", "fr-mobile", None, None, rng.randint(1, 30), 0, 0, {}))
            for dest in ("fr-mobile", "fr-fixed"):
                n_calls = rng.randint(1, 20)
                secs = n_calls * rng.randint(10, 200)
                beyond = {0: secs, 60: max(0, secs - 60 * n_calls)}
                groups.append(Group(line, calls, "fr", dest, None, None, n_calls, 0, n_calls, beyond))
    inventory = {"customer": "bench", "month": "2026-03", "lines": doc_lines}
    return inventory, groups


def meters_month(lines: int, seed: int = 7) -> tuple[dict[str, Any], list[Group]]:
    """The simulator bench's month: alike meters on one offer, data in France only."""
    rng = random.Random(seed)
    doc = {
        "customer": "bench",
        "month": "2026-03",
        "lines": [
            {
                "id_prefix": "M",
                "count": lines,
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2025-01-01",
            }
        ],
    }
    width = len(str(lines))
    groups = []
    for i in range(1, lines + 1):
        n = 2880 + rng.randint(-2, 2)
        groups.append(Group(f"M{i:0{width}d}", "data", "fr", None, None, None, n, n, 0, {}))
    return doc, groups


def plain_comparison(run: RatingRun) -> tuple[dict[str, dict[Choice, Decimal]], list[Decimal]]:
    """Each line's cost on each choice it can take (today's fleet discounts), and each uniform
    scenario's total with the discounts left as today's, the plain way: the per-line, per-choice work."""
    catalog, month = run.catalog, run.inventory.month
    bills = {b.id: b.total for b in run.invoice.lines}
    active = [line for line in run.valid.values() if is_active(line, month)]
    sms = fleet_sms_count(catalog, active, run.rated.lines)
    today = fleet_context(catalog, month, sms, Counter(line.offer for line in active)).discounts
    choices = all_choices(catalog)
    costs: dict[str, dict[Choice, Decimal]] = {}
    for line in active:
        if line.prototype:
            continue
        usage = run.rated.lines.get(line.id, LineUsage())
        current = Choice(line.offer, line.plan, line.commitment or 0)
        rate = today.get(line.offer, (ZERO, ""))[0]
        fixed = bills[line.id] - variable_cost(catalog, current, line, usage, month, rate)
        costs[line.id] = {
            c: fixed + variable_cost(catalog, c, line, usage, month, today.get(c.offer, (ZERO, ""))[0])
            for c in choices
            if c == current or not refused_usage(catalog, catalog.offers[c.offer], usage)
        }
    totals = [sum((costs[lid].get(c, bills[lid]) for lid in costs), ZERO) for c in choices]
    return costs, totals


def _cpu(fn: Any, *args: Any) -> tuple[float, Any]:
    t = time.process_time()
    out = fn(*args)
    return time.process_time() - t, out


def measure(label: str, doc: dict[str, Any], groups: list[Group], runs: int, plain: bool) -> None:
    catalog = load_catalog()
    inventory = inventory_from_dict(doc)
    stages: dict[str, list[float]] = {}
    for _ in range(runs):
        price_s, run = _cpu(lambda: rate_run(inventory, None, catalog, reader=Aggregated(groups)))  # type: ignore[arg-type]
        text_s, _ = _cpu(run.invoice.render_text)
        json_s, _ = _cpu(run.invoice.to_json)
        compare_s, comparison = _cpu(compare, run)
        cjson_s, _ = _cpu(comparison.to_json)
        for k, v in (
            ("sort + price", price_s),
            ("invoice text", text_s),
            ("invoice JSON", json_s),
            ("comparison", compare_s),
            ("comparison JSON", cjson_s),
        ):
            stages.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in stages.items()}
    print(
        f"{label}: {len(inventory.lines):,} lines, {len(groups):,} aggregates; CPU-s (median of {runs}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in med.items())
    )
    rate_text = med["sort + price"] + med["invoice text"]
    print(
        f"  `rate` after the aggregate {rate_text:.3f} CPU-s (text) / "
        f"{med['sort + price'] + med['invoice JSON']:.3f} (JSON), {rate_text / len(inventory.lines) * 1e6:.0f} us a line; "
        f"the comparison {med['comparison'] / len(inventory.lines) * 1e6:.0f} us a line"
    )
    if plain:
        plain_s, (costs, _) = _cpu(plain_comparison, run)
        got = {lc.id: lc.costs for lc in comparison.lines if lc.current is not None}
        assert got == costs, "the comparison differs from the plain computation"
        print(
            f"  plain per-choice comparison (each line's choices priced one by one, uniform totals summed "
            f"line by line): {plain_s:.3f} CPU-s; the comparison x{plain_s / med['comparison']:.1f} faster, same costs"
        )


def main(quick: bool) -> None:
    lines = 2_000 if quick else 10_000
    runs = 1 if quick else 5
    measure("bench month (four offers, data in 3 zones, SMS, calls)", *bench_month(lines), runs, True)
    measure("simulator month (alike meters)", *meters_month(lines), runs, False)
