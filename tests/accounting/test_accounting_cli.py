"""`m2msim rate` and `m2msim compare` on files: outputs, JSON shape and exit status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from invoice_docs import bill_of, billed

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
        "Total HT: 2,753.96 EUR" in text and "By offer and plan" in text and "Rejected usage rows: 6" in text
    )
    out = tmp_path / "inv.json"
    assert main(["rate", INV, USAGE, "--json", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(out.read_text(encoding="utf-8"))["total_ht"] == "2753.96"


def test_readable_items_keep_their_columns_whatever_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    """Codes longer than the code column (`option-first-traffic-billing-fee`,
    `secure-mobile-access-intranet-setup`) pushed their quantity and amount out of line."""
    assert main(["rate", INV, USAGE, "--all-lines"]) == 0
    text = capsys.readouterr().out
    lines = text.split("\nLines\n")[1].split("\n\n")[0]
    fleet = text.split("\nFleet services\n")[1].split("\n\n")[0]
    for block, indent in ((lines, 6), (fleet, 2)):
        rows = [
            m
            for row in block.splitlines()
            if (m := re.match(rf" {{{indent}}}(\S+) +(\d+) (.+?) +([\d,]+\.\d\d)", row))
        ]
        codes = {m[1] for m in rows}
        assert {"option-first-traffic-billing-fee", "secure-mobile-access-intranet-setup"} & codes
        assert len({m.start(2) + len(m[2]) for m in rows}) == 1, block  # the quantities end in one column
        assert len({m.end(4) for m in rows}) == 1, block  # and so do the amounts


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


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        ("\ufeffline;type;start;duration_s;bytes_up;bytes_down;;\r\n", True),  # Excel, French locale
        ("line,type,start,duration_s,bytes_up,bytes_down,\n", True),
        ("line,type,,start,duration_s,bytes_up,bytes_down\n", False),  # a column inside: no hint
    ],
)
def test_a_header_ending_in_empty_columns_says_they_are_a_spreadsheet_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str, hint: bool
) -> None:
    usage = tmp_path / "u.csv"
    usage.write_bytes(header.encode())
    for command in ("rate", "compare"):
        assert main([command, INV, str(usage)]) == 2
        err = capsys.readouterr().err
        assert "u.csv: line 1: column " in err and "of the header has no name" in err
        assert ("delete those columns and export again" in err) is hint
        assert err.count("\n") == 1 and "Traceback" not in err


def test_broken_catalog_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "cat.yaml"
    cat.write_text("catalog: x\n", encoding="utf-8")
    assert main(["rate", INV, USAGE, "--catalog", str(cat)]) == 2
    assert "cat.yaml" in capsys.readouterr().err


def test_compare_json_names_the_cheapest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", INV, USAGE, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fleet"]["today"]["total_ht"] == "2753.96"
    assert doc["fleet"]["cheapest"]["name"] == "best choice per line"
    line = next(x for x in doc["lines"] if x["id"] == "33612345680")  # Business roaming in eu and world
    assert (line["cheapest"], line["saving_ht"]) == ("europe forfait-5mo 36 m", "3.84")
    assert main(["compare", INV, USAGE]) == 0
    assert "Cheapest: best choice per line" in capsys.readouterr().out


def _as_text_parquet(csv: Path, out: Path) -> Path:
    """The CSV converted as pyarrow's reader converts it when every column is read as text: an
    empty cell is '' (no `strings_can_be_null`)."""
    import pyarrow as pa
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    names = csv.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    options = pc.ConvertOptions(column_types={n: pa.string() for n in names})
    pq.write_table(pc.read_csv(csv, convert_options=options), out)
    return out


def test_the_example_month_as_text_parquet_is_rated_as_its_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'' in an optional column of a Parquet file of text is an empty cell, not a malformed value."""
    parquet = str(_as_text_parquet(Path(USAGE), tmp_path / "usage.parquet"))
    assert main(["rate", INV, USAGE, "--json"]) == 0
    csv_doc = json.loads(capsys.readouterr().out)
    assert main(["rate", INV, parquet, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_ht"] == "2753.96" and len(doc["rejects"]) == 6
    assert billed(doc) == billed(csv_doc)
    assert main(["rate", INV, parquet]) == 0
    assert "Total HT: 2,753.96 EUR" in capsys.readouterr().out


def test_a_small_text_parquet_is_rated_as_its_csv_by_the_small_reader_and_by_duckdb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from accounting.usage_small import small_reader

    rows = Path(USAGE).read_text(encoding="utf-8").splitlines()
    csv = tmp_path / "usage.csv"
    csv.write_text("\n".join(r for r in rows if ",lots," not in r) + "\n", encoding="utf-8")
    parquet = _as_text_parquet(csv, tmp_path / "usage.parquet")
    assert small_reader(parquet) is not None  # (read without DuckDB)
    outputs = []
    for source in (csv, parquet):
        assert main(["rate", INV, str(source), "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert billed(outputs[1]) == billed(outputs[0]) and len(outputs[0]["rejects"]) == 5
    from accounting import load_inventory, rate

    by_duckdb = rate(load_inventory(INV), parquet).to_json()  # (the reader of every size)
    assert json.loads(by_duckdb) == outputs[1]  # (the same file: its usage_files too)


def test_a_row_of_text_parquet_repeated_with_nulls_for_its_empty_texts_is_a_duplicate(tmp_path: Path) -> None:
    """'' and NULL are the same empty cell: the row is written twice, as in its CSV."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accounting import load_inventory, rate, rate_run
    from accounting.records import RATING_COLUMNS
    from accounting.usage_small import small_reader

    row = ["33612345678", "data", "2026-03-02T10:00:00Z", "", "2000", "3000", "", "", "", ""]
    names = list(RATING_COLUMNS)
    twice = [row, [v or None for v in row]]
    csv = tmp_path / "usage.csv"
    csv.write_text("\n".join(",".join(r) for r in [names, row, row]) + "\n", encoding="utf-8")
    parquet = tmp_path / "usage.parquet"
    pq.write_table(
        pa.table({n: pa.array([r[i] for r in twice], pa.string()) for i, n in enumerate(names)}), parquet
    )
    inventory = load_inventory(INV)
    expected = bill_of(rate(inventory, csv))
    assert "duplicate record" in json.dumps(expected)
    assert bill_of(rate(inventory, parquet)) == expected  # DuckDB's reader
    small = small_reader(parquet)
    assert small is not None
    assert bill_of(rate_run(inventory, parquet, reader=small).invoice) == expected


def test_the_example_month_as_an_arrow_table_of_text_is_rated_as_its_csv() -> None:
    import pyarrow as pa
    import pyarrow.csv as pc

    from accounting import load_inventory, rate

    names = Path(USAGE).read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    table = pc.read_csv(
        USAGE, convert_options=pc.ConvertOptions(column_types={n: pa.string() for n in names})
    )
    inventory = load_inventory(INV)
    got = json.loads(rate(inventory, table).to_json())
    assert "usage_files" not in got  # (no file read)
    assert got == bill_of(rate(inventory, USAGE))
