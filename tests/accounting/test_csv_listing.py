"""A CSV's listing of rejects as the rating makes it (the rows of the aggregates that hold a
reject, or the copies found by the duplicate search, without reading the rows again) is the
listing of a read of every row (`every_row`): seeded generated inputs with every reject reason,
malformed rows (many of them, with many rejects after them), records over two lines, copies of
rows (also written differently), one file or several, small and over several of DuckDB's read
buffers; each rated both ways, the invoice's JSON and text byte for byte the same."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest

from accounting import inventory_from_dict, load_catalog
from accounting.engine import rate_run
from accounting.errors import UsageError
from accounting.inventory import Inventory
from accounting.records import RATING_COLUMNS
from accounting.usage import UsageReader, connect
from tests.accounting.test_usage_small import BYTES, DESTS, DURATIONS, STARTS, TYPES, ZONES

INPUTS = 30  # generated inputs, in one seeded run
COLUMNS = list(RATING_COLUMNS)
KNOWN = [f"A{i:02d}" for i in range(1, 31)] + [f"V{i:02d}" for i in range(1, 11)]
LINES = [*KNOWN, "LATE1", "NOBODY", "X-unknown", ""]


def _inventory() -> Inventory:
    groups = [("A", 30, "business-m2m", "forfait-2mo"), ("V", 10, "business-m2m-dtmf", "compteur")]
    lines: list[dict[str, Any]] = [
        {"id_prefix": p, "count": n, "offer": o, "plan": pl, "commitment": 24, "since": "2025-01-01"}
        for p, n, o, pl in groups
    ]
    lines.append(
        {
            "id": "LATE1",
            "offer": "business-m2m",
            "plan": "forfait-2mo",
            "commitment": 24,
            "since": "2026-04-10",
        }
    )
    return inventory_from_dict({"customer": "numbered", "month": "2026-03", "lines": lines})


def _clean(rng: random.Random, n: int) -> list[str]:
    kind = rng.random()
    line = rng.choice(KNOWN)
    start = f"2026-03-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}Z"
    if kind < 0.7:
        return [line, "data", start, str(n % 3000), str(n % 9000), str(n % 700), "fr", "", "", f"s{n % 50}"]
    if kind < 0.85:
        return [line, "sms", start, "", "", "", "", "fr-mobile", "true", ""]
    return [line, rng.choice(["voice", "csd"]), start, str(n % 400), "", "", "eu", "fr-fixed", "", "s1"]


def _bad(rng: random.Random, n: int) -> list[str]:
    """A row with one value (or two) from the pools of every check, any of them a reject."""
    row = _clean(rng, n)
    pools = [
        LINES,
        TYPES,
        [*STARTS, "yesterday"],
        DURATIONS,
        BYTES,
        BYTES,
        ZONES,
        DESTS,
        ["", "true", "false", "yes"],
        ["", "s1", "it's"],
    ]
    for _ in range(rng.choice([1, 1, 2])):
        i = rng.randrange(len(COLUMNS))
        row[i] = rng.choice(pools[i])
    return row


def _quoted(row: list[str], rng: random.Random) -> str:
    """The row as a spreadsheet may write it: some fields quoted (the same values)."""
    return ",".join(f'"{v}"' if v and rng.random() < 0.3 else v for v in row)


def _file(rng: random.Random, path: Path, rows: int, salt: int) -> None:
    written: list[str] = []
    lines = [",".join(COLUMNS)]
    for n in range(rows):
        roll = rng.random()
        if written and roll < 0.01:
            lines.append(rng.choice(written))  # a copy of a line written before
            continue
        if written and roll < 0.012:
            again = next(csv.reader([rng.choice(written)]))
            lines.append(_quoted(again, rng))  # the same fields, written otherwise
            continue
        if roll < 0.015:
            lines.append(rng.choice(["x,y", ",".join(["z"] * (len(COLUMNS) + 1))]))  # too few, too many
            continue
        if roll < 0.017:
            row = _clean(rng, n)
            row[7] = f'"two\nlines {salt}-{n}"'  # a quoted field over two lines: one record
            lines.append(",".join(row))
            continue
        row = _bad(rng, n * 31 + salt) if roll < 0.06 else _clean(rng, n * 31 + salt)
        text = _quoted(row, rng) if rng.random() < 0.1 else ",".join(row)
        lines.append(text)
        if rng.random() < 0.05:
            written.append(text)
    data = ("\r\n" if rng.random() < 0.2 else "\n").join(lines).encode("utf-8") + b"\n"
    rng.random()  # (drawn where a field of bad UTF-8 was put in, which now refuses the file)
    path.write_bytes(data)


def _rated(inventory: Inventory, source: Path | list[Path]) -> tuple[str, str]:
    """The invoice as JSON and as text; or the error, when DuckDB's reader refuses the input."""
    try:
        run = rate_run(inventory, None, load_catalog(), reader=UsageReader(source, connect(threads=4)))
    except UsageError as exc:
        return "", str(exc)
    return run.invoice.to_json(), run.invoice.render_text(top=1000, all_lines=True)


@pytest.mark.slow
def test_the_listing_of_a_csv_is_the_listing_of_every_row_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1616)
    inventory = _inventory()
    real = UsageReader.list_rejects

    def every_row(self: UsageReader, *args: Any, **kw: Any) -> list[tuple[str | None, int, str]]:
        return real(self, *args, every_row=True)

    reasons: set[str] = set()
    refused = 0
    for i in range(INPUTS):
        # the first input over several of DuckDB's read buffers (a scan on several threads)
        sizes = [rng.choice([60, 400, 3000]) if i else 200_000]
        if rng.random() < 0.25:
            sizes.append(rng.choice([50, 800]))  # several files read as one
        paths = [tmp_path / f"u{i}-{j}.csv" for j in range(len(sizes))]
        for j, (path, rows) in enumerate(zip(paths, sizes, strict=True)):
            _file(rng, path, rows, salt=i * 10 + j)
        source: Path | list[Path] = paths if len(paths) > 1 else paths[0]
        monkeypatch.setattr(UsageReader, "list_rejects", real)
        fast = _rated(inventory, source)
        monkeypatch.setattr(UsageReader, "list_rejects", every_row)
        slow = _rated(inventory, source)
        assert fast == slow, paths
        if not fast[0]:
            refused += 1
            continue
        reasons |= {r["reason"].split(" '")[0].split(":")[0] for r in json.loads(fast[0])["rejects"]}
    assert refused <= INPUTS // 5  # inputs DuckDB refuses both ways (a quote it cannot place)
    assert reasons >= {
        "duplicate record",
        "impossible value",
        "line not active in the month",
        "malformed row",
        "malformed value",
        "outside the billing month",
        "price not in this catalog",
        "unknown line",
    }, sorted(reasons)
