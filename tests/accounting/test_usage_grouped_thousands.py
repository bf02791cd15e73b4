"""A count written with dots between groups of three digits (`1.000`, `3.600`) in a usage CSV
separated by ';': the export of a spreadsheet in a locale of decimal commas, where the dot
separates thousands.  Such a row is a reject saying why, by every reader; it was read as a decimal
point: a call of `3.600` (an hour) billed 3.6 s, a record of `1.000` octets billed 1."""

from __future__ import annotations

import json
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

from accounting import inventory_from_dict, rate, usage_csv_arrow
from m2msim.cli import main

INVENTORY = """\
customer: c
month: 2026-03
lines:
  - {id: "D", offer: business-m2m-dtmf, plan: compteur, commitment: 24, since: 2025-01-15}
"""
HEADER = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "dest"]
WHY = "a dot before three digits, in a file separated by ';', is a thousands separator"


def _call_price(seconds: int) -> Decimal:
    """A DTMF call from `fr` (tariff-rules.md): the first minute 0.15, then 0.0025 a second."""
    return Decimal("0.15") + max(seconds - 60, 0) * Decimal("0.0025")


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return str(path)


def _write(path: Path, rows: list[list[str]], separator: str) -> Path:
    lines = [separator.join(HEADER), *(separator.join(r) for r in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


ROWS = [
    ["D", "voice", "2026-03-02T10:00:00Z", "3.600", "", "", "fr-mobile"],  # an hour, as written
    ["D", "voice", "2026-03-02T11:00:00Z", "3600", "", "", "fr-mobile"],
    ["D", "voice", "2026-03-02T12:00:00Z", "60.5", "", "", "fr-mobile"],  # no thousands: 61 s
    ["D", "data", "2026-03-02T13:00:00Z", "60", "1.000", "24", ""],
    ["D", "data", "2026-03-02T14:00:00Z", "60", "1000", "24", ""],
    ["D", "data", "2026-03-02T15:00:00Z", "60", "2", "12.000.000", ""],
]


def test_a_count_with_dotted_thousands_in_a_file_separated_by_semicolons_is_a_reject(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = _write(tmp_path / "usage.csv", ROWS, ";")
    assert main(["rate", inventory, str(usage), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rejects = {r["row"]: r["reason"] for r in doc["rejects"]}
    assert set(rejects) == {2, 5, 7}
    assert rejects[2].startswith("malformed value: duration_s '3.600': " + WHY)
    assert rejects[5].startswith("malformed value: bytes_up '1.000': " + WHY)
    assert rejects[7].startswith("malformed value: bytes_down '12.000.000': " + WHY)
    items = {i["code"]: i for i in doc["lines"][0]["items"]}
    # the clean rows only: calls of 3600 s and 61 s, one record of 1024 octets (1 ko)
    assert items["voice"]["quantity"] == str(3600 + 61)
    assert Decimal(items["voice"]["amount"]) == _cents(_call_price(3600) + _call_price(61))
    assert items["data-fr-over"]["quantity"] == "1"
    assert Decimal(doc["total_ht"]) == _cents(Decimal("5.50")) + Decimal(items["voice"]["amount"]) + Decimal(
        items["data-fr-over"]["amount"]
    )


def test_the_same_text_in_a_file_separated_by_commas_is_its_number(tmp_path: Path) -> None:
    """A dot in a file separated by ',' is a decimal point, as before: `3.600` is 3.6 s."""
    usage = _write(tmp_path / "usage.csv", ROWS[:1], ",")
    invoice = json.loads(rate(inventory_from_dict(_inventory_dict()), usage).to_json())
    assert invoice["rejects"] == []
    (voice,) = [i for i in invoice["lines"][0]["items"] if i["code"] == "voice"]
    assert voice["quantity"] == "4"


def _inventory_dict() -> dict[str, object]:
    doc = yaml.safe_load(INVENTORY)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("seed", range(3))
def test_a_large_file_is_rated_alike_by_the_pyarrow_pass_and_by_duckdb(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pyarrow pass reads a ';' file's counts as digits: a dotted one leaves the file to
    DuckDB, whose rejects are the same; a file of plain counts is read by the pass as before."""
    rnd = random.Random(seed)
    rows = []
    for i in range(600):
        start = f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{rnd.randrange(60):02d}Z"
        if rnd.random() < 0.5:
            rows.append(["D", "voice", start, str(rnd.randrange(0, 4000)), "", "", "fr-mobile"])
        else:
            rows.append(
                ["D", "data", start, "60", str(rnd.randrange(0, 99_999)), str(rnd.randrange(99_999)), ""]
            )
    plain = _write(tmp_path / "plain.csv", rows, ";")
    dotted_rows = [list(r) for r in rows]
    marked = rnd.sample(range(len(rows)), 5)
    for at in marked:
        column = 3 if dotted_rows[at][1] == "voice" else 4
        dotted_rows[at][column] = f"{rnd.randrange(1, 999)}.{rnd.randrange(1000):03d}"
    dotted = _write(tmp_path / "dotted.csv", dotted_rows, ";")
    inv = inventory_from_dict(_inventory_dict())
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    ratings = {}
    for here in (True, False):
        monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if here else 1 << 62)
        ratings[here] = [rate(inv, plain).to_json(), rate(inv, dotted).to_json()]
    assert ratings[True] == ratings[False]
    listed = {r["row"]: r["reason"] for r in json.loads(ratings[True][1])["rejects"]}
    assert {at + 2 for at in marked} <= set(listed)
    assert all(WHY in listed[at + 2] for at in marked)
    assert not any(WHY in r["reason"] for r in json.loads(ratings[True][0])["rejects"])
