"""Inventory loading: groups, zero-padded ids, and errors naming the file, the line and the field."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from accounting import InventoryError, inventory_from_dict, load_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month" / "inventory.yaml"

BASE = """customer: acme
month: 2026-03
lines:
  - id: "33612345678"
    offer: business-m2m
    plan: forfait-2mo
    commitment: 24
    since: 2025-01-15
    options: [autogestion, {id: first-traffic-billing, since: 2026-03-02}]
  - id_prefix: "M"
    count: 500
    offer: intense
    plan: optima
    commitment: 36
    since: 2025-06-01
services:
  assistance: {hours: 8-20-weekdays, managers: 6}
  sms_internet: {short_ids: 1, popup: 0, since: 2026-03-01}
  localisation: {since: 2025-06-01}
  secure_mobile_access: {intranet: {since: 2026-03-04}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_groups_options_and_services(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, BASE))
    assert inv.customer == "acme" and str(inv.month) == "2026-03"
    assert len(inv.lines) == 501
    assert [line.id for line in inv.lines[1:3]] == ["M001", "M002"] and inv.lines[-1].id == "M500"
    assert inv.lines[1].group == "M"
    first = inv.lines[0]
    assert [(o.id, o.since) for o in first.options] == [
        ("autogestion", date(2025, 1, 15)),
        ("first-traffic-billing", date(2026, 3, 2)),
    ]
    assert inv.services.assistance is not None and inv.services.assistance.managers == 6
    assert inv.services.secure_mobile_access == {"intranet": date(2026, 3, 4)}
    assert first.where == f"{tmp_path / 'inventory.yaml'}:4"


def test_a_date_and_time_is_taken_as_its_day_in_utc(tmp_path: Path) -> None:
    """The billing month is UTC's: an activation at 00:30 on 1 April in Paris is on 31 March in UTC.
    It was taken as its day where written, 1 April: the line was not active in March, billed nothing."""
    text = BASE.replace("    since: 2025-01-15\n", "    since: 2026-04-01T00:30:00+02:00\n", 1)
    text = text.replace(
        "{id: first-traffic-billing, since: 2026-03-02}",
        "{id: first-traffic-billing, since: 2026-03-02T23:00:00-02:00}",
    )
    first = load_inventory(write(tmp_path, text)).lines[0]
    assert first.since == date(2026, 3, 31)
    assert [o.since for o in first.options] == [date(2026, 3, 31), date(2026, 3, 3)]
    naive = BASE.replace("    since: 2025-01-15\n", "    since: 2026-03-31T23:30:00\n", 1)
    assert load_inventory(write(tmp_path, naive)).lines[0].since == date(2026, 3, 31)  # UTC, as elsewhere


@pytest.mark.parametrize(
    ("count", "first", "last"), [(9, "G1", "G9"), (10, "G01", "G10"), (1000, "G0001", "G1000")]
)
def test_group_counter_is_as_wide_as_count(count: int, first: str, last: str) -> None:
    inv = inventory_from_dict(
        {"customer": "c", "month": "2026-03", "lines": [
            {"id_prefix": "G", "count": count, "offer": "intense", "plan": "optima", "commitment": 36, "since": "2025-01-01"}]}
    )  # fmt: skip
    assert (inv.lines[0].id, inv.lines[-1].id, len(inv.lines)) == (first, last, count)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "reason"),
    [
        ("month: 2026-03", "month: March", 2, "month", "expected YYYY-MM"),
        # the year 0, and 9999-12 whose end is no date: `rate` ended in a traceback (ValueError)
        ("month: 2026-03", "month: 0000-01", 2, "month", "a billing month from 0001-01 to 9999-11"),
        ("month: 2026-03", "month: 9999-12", 2, "month", "a billing month from 0001-01 to 9999-11"),
        ("    since: 2025-01-15\n", "    since: 15/01/2025\n", 8, "lines[0].since", "expected a date"),
        ("    commitment: 24\n", "", 4, "lines[0].commitment", "required field missing"),
        ("    offer: business-m2m\n", "", 4, "lines[0].offer", "required field missing"),
        ("    count: 500", "    count: -1", 11, "lines[1].count", "expected an integer >= 1"),
        ('  - id_prefix: "M"', '  - id_prefix: "M"\n    colour: red', 11, "lines[1].colour", "unknown key"),
        ("hours: 8-20-weekdays", "hours: always", 17, "services.assistance.hours", "expected one of"),
        # « l'option pop up: abonnement mensuel / ShortID »: 3 pop-ups on 1 ShortID were billed 180.00
        ("popup: 0", "popup: 3", 18, "services.sms_internet.popup", "at most short_ids (1)"),
        ('  - id: "33612345678"', '  - id: "M001"', 10, "lines[1].id", "duplicate line id 'M001'"),
        ("customer: acme\n", "", 1, "customer", "required field missing"),
    ],
)
def test_inventory_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int | None, field: str, reason: str
) -> None:
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert (err.value.line, err.value.field) == (line, field)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:{line}: {field}: ")


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"inventory\.yaml:\d+: \(top\): not valid YAML"):
        load_inventory(write(tmp_path, "customer: a\nlines:\n  - {id: [\n"))
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "absent.yaml")
    with pytest.raises(InventoryError, match="duplicate key 'customer'"):
        load_inventory(write(tmp_path, "customer: a\ncustomer: b\n"))


def test_prototype_needs_no_commitment_and_flag_must_be_boolean() -> None:
    inv = inventory_from_dict({"customer": "c", "month": "2026-03", "lines": [
        {"id": "P", "offer": "intense", "plan": "optima", "prototype": True, "since": "2026-03-01"}]})  # fmt: skip
    assert inv.lines[0].commitment is None
    with pytest.raises(InventoryError, match=r"lines\[0\].prototype"):
        inventory_from_dict({"customer": "c", "month": "2026-03", "lines": [
            {"id": "P", "offer": "intense", "plan": "optima", "prototype": "yes", "since": "2026-03-01"}]})  # fmt: skip


def test_bundled_example_loads() -> None:
    inv = load_inventory(EXAMPLE)
    assert inv.customer == "acme-meters" and len(inv.lines) == 11


def _entry(**key: Any) -> dict[str, Any]:
    return {"offer": "intense", "plan": "optima", "commitment": 36, "since": "2025-01-01", **key}


@pytest.mark.parametrize(
    ("entries", "field", "dup"),
    [
        ([_entry(id="A"), _entry(id="B"), _entry(id="A")], "lines[2].id", "A"),  # lines of their own
        ([_entry(id_prefix="G", count=20), _entry(id="G07")], "lines[1].id", "G07"),  # a line in a group
        ([_entry(id="G07"), _entry(id_prefix="G", count=20)], "lines[1].id", "G07"),  # a group over a line
        ([_entry(id_prefix="G", count=9), _entry(id_prefix="G", count=9)], "lines[1].id", "G1"),
    ],
)
def test_a_duplicate_id_is_refused_whatever_the_entries(
    entries: list[dict[str, Any]], field: str, dup: str
) -> None:
    """Plain mappings too (a scenario's embedded inventory): the first place of the id is named."""
    with pytest.raises(InventoryError) as err:
        inventory_from_dict({"customer": "c", "month": "2026-03", "lines": entries}, "inv")
    assert err.value.field == field
    assert f"duplicate line id {dup!r} (first at inv)" in err.value.reason


def test_a_groups_lines_are_lines_like_any() -> None:
    """Equal (and hashing alike) to the lines written one by one, and frozen."""
    grouped = inventory_from_dict(
        {"customer": "c", "month": "2026-03", "lines": [_entry(id_prefix="G", count=12)]}
    )
    one_by_one = inventory_from_dict(
        {"customer": "c", "month": "2026-03", "lines": [_entry(id=f"G{n:02d}") for n in range(1, 13)]}
    )
    assert [replace(line, group=None) for line in grouped.lines] == list(one_by_one.lines)
    assert {hash(replace(line, group=None)) for line in grouped.lines} == {hash(x) for x in one_by_one.lines}
    with pytest.raises(FrozenInstanceError):
        grouped.lines[0].id = "X"  # type: ignore[misc]
