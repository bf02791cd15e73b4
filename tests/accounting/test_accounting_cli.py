"""`m2msim rate` and `m2msim compare` on files: outputs, JSON shape and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from m2msim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = str(EXAMPLE / "inventory.yaml"), str(EXAMPLE / "usage.csv")


def test_rate_json_shape_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", INV, USAGE, "--json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)  # nothing but the JSON on stdout
    assert out.err == ""
    assert {
        "customer",
        "month",
        "currency",
        "total_ht",
        "lines",
        "fleet",
        "quotes",
        "errors",
        "rejects",
    } <= set(doc)
    assert doc["currency"] == "EUR" and doc["month"] == "2026-03"
    amounts = [i["amount"] for line in doc["lines"] for i in line["items"]] + [
        i["amount"] for i in doc["fleet"]
    ]
    assert all(a.count(".") == 1 and len(a.split(".")[1]) == 2 for a in amounts)
    from decimal import Decimal

    lines_total = sum(Decimal(line["total_ht"]) for line in doc["lines"])
    assert Decimal(doc["total_ht"]) == lines_total + sum(Decimal(i["amount"]) for i in doc["fleet"])
    for line in doc["lines"]:
        assert Decimal(line["total_ht"]) == sum(Decimal(i["amount"]) for i in line["items"])
    assert {e["line"] for e in doc["errors"]} == {"BAD1", "BAD2"}
    assert "BAD1" not in {line["id"] for line in doc["lines"]}
    m1 = next(line for line in doc["lines"] if line["id"] == "M1")
    assert m1["items"][0]["step"] == "500 Mo"
    assert all(isinstance(r["row"], int) and r["reason"] for r in doc["rejects"])


def test_rate_readable_and_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", INV, USAGE]) == 0
    text = capsys.readouterr().out
    assert (
        "Total HT: 2,749.96 EUR" in text and "By offer and plan" in text and "Rejected usage rows: 6" in text
    )
    out = tmp_path / "inv.json"
    assert main(["rate", INV, USAGE, "--json", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(out.read_text(encoding="utf-8"))["total_ht"] == "2749.96"


def test_strict_exits_1_on_errors_or_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", INV, USAGE, "--strict"]) == 1
    clean_inv = tmp_path / "inv.yaml"
    clean_inv.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: A, offer: intense, plan: optima, commitment: 36, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    usage = tmp_path / "u.csv"
    usage.write_text(
        "line,type,start,bytes_up,bytes_down\nA,data,2026-03-02T00:00:00Z,10,10\n", encoding="utf-8"
    )
    assert main(["rate", str(clean_inv), str(usage), "--strict"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("inventory", "usage", "message"),
    [
        ("missing.yaml", USAGE, "missing.yaml: (top): cannot read"),
        (INV, "missing.csv", "missing.csv: no such file"),
        ("BADINV", USAGE, "inv.yaml:2: month: expected YYYY-MM"),
        (INV, "BADCSV", "missing required column(s): start"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inventory: str, usage: str, message: str
) -> None:
    if inventory == "BADINV":
        inventory = str(tmp_path / "inv.yaml")
        Path(inventory).write_text("customer: c\nmonth: 13\nlines: []\n", encoding="utf-8")
    if usage == "BADCSV":
        usage = str(tmp_path / "u.csv")
        Path(usage).write_text("line,type\nA,data\n", encoding="utf-8")
    for command in ("rate", "compare"):
        assert main([command, inventory, usage]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_broken_catalog_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "cat.yaml"
    cat.write_text("catalog: x\n", encoding="utf-8")
    assert main(["rate", INV, USAGE, "--catalog", str(cat)]) == 2
    assert "cat.yaml" in capsys.readouterr().err


def test_compare_json_names_the_cheapest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", INV, USAGE, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fleet"]["today"]["total_ht"] == "2749.96"
    assert doc["fleet"]["cheapest"]["name"] == "best choice per line"
    line = next(x for x in doc["lines"] if x["id"] == "33612345680")  # Business roaming in eu and world
    assert (line["cheapest"], line["saving_ht"]) == ("europe forfait-5mo 36 m", "3.84")
    assert main(["compare", INV, USAGE]) == 0
    assert "Cheapest: best choice per line" in capsys.readouterr().out
