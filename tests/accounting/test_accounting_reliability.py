"""`m2msim rate` and `compare` on damaged inputs: one line and exit 2, or rejects that explain the bill.

Unusable input (a file, an option) is refused with one line naming the file and line or row and
field, or the option.  Rows no network produces, malformed CSV rows and duplicates are rejects with
their row numbers; the rest is rated as if they had never been there.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import usage
from accounting.records import RATING_COLUMNS
from accounting.usage import MAX_OCTETS_PER_S, UsageReader, month_bounds
from accounting.usage_writer import FOOTER_KEY, UsageWriter
from m2msim.cli import main
from m2msim.outputs import output_lock

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
CSV_TEXT = USAGE.read_text(encoding="utf-8")
HEADER = CSV_TEXT.splitlines()[0]
TOTAL = Decimal("2753.96")  # the example month, as rated from the example's usage.csv


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc, out, err = run(argv, capsys)
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def rated(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    rc, out, err = run([*argv, "--json"], capsys)
    assert rc == 0, err
    doc: dict[str, Any] = json.loads(out)
    return billed(doc)  # (the bill: the files rated, `usage_files`, are each test's own)


def with_rows(tmp_path: Path, *rows: str, name: str = "u.csv") -> Path:
    path = tmp_path / name
    path.write_text(CSV_TEXT + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


# --- unusable inputs: one line, exit 2 -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: empty"),
        (b"\x00\x01PK garbage\xff", "line 1: binary data"),
        (b"line,ty\xe9pe,start\n", "line 1: not UTF-8 text (byte 0xe9 at column 8)"),
        (b"type,start\ndata,2026-03-01T00:00:00Z\n", "missing required column(s): line"),
        (b"line;type;line;start\n", "line 1: column 'line' is named twice in the header"),
        (b"line,type,zone,start,Zone\nL1,sms,fr,2026-03-02T00:00:00Z,fr\n", "column 'Zone' is named twice"),
        *(  # left aside, each made every row a row in France, or without its bytes down
            (f"line,type,start,bytes_up,{name}\nL1,data,2026-03-02T00:00:00Z,1,2\n".encode(), expected)
            for name, expected in (
                ("Zone", "column 'Zone' is not a usage column: did you mean 'zone'?"),
                ("zones", "column 'zones' is not a usage column: did you mean 'zone'?"),
                ("bytes_dwn", "column 'bytes_dwn' is not a usage column: did you mean 'bytes_down'?"),
            )
        ),
        (b"line\rtype,start\n", "line 1: a carriage return within the header row"),
        (b"line;type\n", "missing required column(s): line, type, start"),
        *(  # Excel's note of the separator on line 1 (it said: missing columns, or a column without a name)
            (
                hint + HEADER.replace(",", sep).encode() + b"\n",
                f"line 1: {hint.decode().strip()!r} is a spreadsheet's note of the separator, not the header "
                f"row: delete that line (the header is line 2; a {sep!r} between its names is read as the "
                "separator)",
            )
            for hint, sep in (
                (b"sep=;\n", ";"),
                (b"sep=,\r\n", ","),
                (b'"sep=;";;\n', ";"),
                (b"SEP=|\n", "|"),
            )
        ),
        *(
            (text, "UTF-16 text (as a spreadsheet's 'Unicode text' export saves it), not UTF-8")
            for text in (
                b"\xff\xfe" + "line\ttype\tstart\n".encode("utf-16-le"),
                b"\xfe\xff" + "line\ttype\tstart\n".encode("utf-16-be"),
                "line,type,start\n".encode("utf-16-le"),
            )
        ),
    ],
)
def test_an_unusable_csv_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = tmp_path / "usage.csv"
    path.write_bytes(content)
    line = refused(["rate", str(INV), str(path)], capsys)
    assert line.startswith(f"m2msim rate: {path}: ") and expected in line, line


@pytest.mark.parametrize(
    "form", ["csv", "crlf", "tabs", "csv.gz", "folder", "parquet", "parquet typed", "parquet parts"]
)
@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_usage_file_with_a_header_and_no_row_bills_the_months_fees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str, command: str
) -> None:
    """A quiet month (devices that sent nothing) was refused, exit 2, "no usage records in it": its
    subscriptions and fees could not be invoiced. It is rated as the month without usage, the same
    invoice in every form, with one warning line; `rate --strict` exits 1."""
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER + "\n", encoding="utf-8")
    path = tmp_path / "usage.csv"
    names = HEADER.split(",")
    if form == "crlf":
        path.write_bytes(HEADER.encode() + b"\r\n")
    elif form == "tabs":
        path.write_text("\t".join(f'"{n}"' for n in names) + "\n", encoding="utf-8")
    elif form == "csv.gz":
        import gzip

        path = tmp_path / "usage.csv.gz"
        path.write_bytes(gzip.compress(HEADER.encode() + b"\n"))
    elif form == "folder":
        path = tmp_path / "days"
        path.mkdir()
        for day in ("01", "02"):
            (path / f"2026-03-{day}.csv").write_text(HEADER + "\n", encoding="utf-8")
    elif form.startswith("parquet"):
        import pyarrow as pa

        typed = {"start": pa.timestamp("us", tz="UTC"), "bytes_up": pa.int64(), "duration_s": pa.float64()}
        schema = pa.schema(
            [(n, typed.get(n, pa.string()) if form != "parquet" else pa.string()) for n in names]
        )
        path = tmp_path / "usage.parquet"
        if form == "parquet parts":
            path = tmp_path / "usage"
            path.mkdir()
            for part in ("part-00000.parquet", "part-00001.parquet"):
                pq.write_table(schema.empty_table(), path / part)
        else:
            pq.write_table(schema.empty_table(), path)
    else:
        path = empty
    rc, out, err = run([command, str(INV), str(path), "--json"], capsys)
    assert rc == 0 and err.splitlines() == [
        f"m2msim {command}: warning: {path}: the usage file holds no records: the month is billed its "
        "subscriptions and fees alone"
    ], (rc, err)
    doc = json.loads(out)
    rc, base, _ = run([command, str(INV), str(empty), "--json"], capsys)
    assert rc == 0 and billed(doc) == billed(json.loads(base))
    if command == "rate":
        # the month without usage: every valid active line's fees, the fleet's services
        assert doc["rows_read"] == 0 and doc["rejects"] == [] and Decimal(doc["total_ht"]) > 0
        assert {e["line"] for e in doc["errors"]} == {"BAD1", "BAD2"}
        assert run(["rate", str(INV), str(path), "--strict"], capsys)[0] == 1
    else:
        assert Decimal(doc["fleet"]["today"]["total_ht"]) > 0


@pytest.mark.parametrize("form", ["csv", "csv.gz", "folder", "pass", "parquet", "parquet parts"])
def test_text_in_latin_1_is_refused_naming_the_file_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """A file saved as Latin-1 (a spreadsheet's 'CSV' in some locales): its first field that is not
    UTF-8 refuses the file, exit 2, naming the file, the row and the column.  A CSV listed each row
    holding an accented letter as a malformed row (exit 0, the invoice short of them), where its
    Parquet conversion was refused without the row or the column."""
    import gzip

    from accounting import usage_csv_arrow

    body = CSV_TEXT.splitlines()
    body.insert(5, "33612345678,sms,2026-03-10T00:00:00Z,,,,fr,fr-mobile,,\u00e9t\u00e9")  # row 6
    body.insert(8, "33612345678,sms,2026-03-10T01:00:00Z,,,,fr,fr-mobile,,No\u00ebl")  # row 9
    data = ("\n".join(body) + "\n").encode("latin-1")
    name, row = "usage.csv", 6
    if form == "csv.gz":
        name = "usage.csv.gz"
        (tmp_path / name).write_bytes(gzip.compress(data))
    elif form == "folder":  # a clean day, then the day in Latin-1: named, at its own row
        name = "days/b.csv"
        (tmp_path / "days").mkdir()
        (tmp_path / "days" / "a.csv").write_text(CSV_TEXT, encoding="utf-8")
        (tmp_path / name).write_bytes(data)
    elif form.startswith("parquet"):  # the CSV's bytes kept as they are in text columns
        table = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(HEADER.split(","), pa.binary())),
        )
        table = pa.table(
            {
                n: c.combine_chunks().view(pa.string())
                for n, c in zip(table.column_names, table.columns, strict=True)
            }
        )
        name = "usage.parquet"
        if form == "parquet parts":  # (the row is the part's)
            name, row = "parts/part-1.parquet", 3
            (tmp_path / "parts").mkdir()
            pq.write_table(table.slice(0, 3), tmp_path / "parts" / "part-0.parquet")
            table = table.slice(3)
        pq.write_table(table, tmp_path / name)
    else:
        (tmp_path / name).write_bytes(data)
        if form == "pass":  # (the pyarrow pass reads it first)
            monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    given = tmp_path / name.split("/")[0]
    line = refused(["rate", str(INV), str(given)], capsys)
    assert line.startswith(f"m2msim rate: {tmp_path / name}: row {row} ("), line
    assert "column 'session': not UTF-8 text" in line, line


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_csv_split_by_another_separator_is_rated_as_the_plain_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], delimiter: str
) -> None:
    """A spreadsheet's export in a locale whose lists are separated by ';' (a tab, '|'): the
    separator read from its header, the same invoice; files of one input split otherwise than
    the first are refused saying so."""
    plain = rated(["rate", str(INV), str(USAGE)], capsys)
    other = tmp_path / "exports" / "b.csv"
    other.parent.mkdir()
    other.write_text(CSV_TEXT.replace(",", delimiter), encoding="utf-8")
    assert rated(["rate", str(INV), str(other)], capsys) == plain
    (tmp_path / "exports" / "a.csv").write_text(CSV_TEXT, encoding="utf-8")
    line = refused(["rate", str(INV), str(tmp_path / "exports")], capsys)
    assert line == (
        f"m2msim rate: {other}: line 1: the header differs from a.csv's: {delimiter.join(HEADER.split(','))} "
        f"(its names separated by {delimiter!r}, not ',')"
    ), line


def test_a_csv_compressed_by_gzip_or_zstd_is_rated_as_the_plain_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As operators ship exports: the same invoice as the plain file's (DuckDB inflates both)."""
    import gzip

    import pyarrow as pa

    plain = rated(["rate", str(INV), str(USAGE)], capsys)
    packed = {"u.csv.gz": gzip.compress(USAGE.read_bytes()), "u.txt.gz": gzip.compress(USAGE.read_bytes())}
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(USAGE.read_bytes())
    packed["u.csv.zst"] = sink.getvalue().to_pybytes()
    for name, data in packed.items():
        (tmp_path / name).write_bytes(data)
        assert rated(["rate", str(INV), str(tmp_path / name)], capsys) == plain, name
        # damaged: cut short, or (gzip) data failing their own check
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        line = refused(["rate", str(INV), str(tmp_path / name)], capsys)
        why = "cut short: its zstd data end within a frame" if name.endswith(".zst") else "cannot read: "
        assert line.startswith(f"m2msim rate: {tmp_path / name}: {why}"), line
    data = packed["u.csv.gz"]
    (tmp_path / "u.csv.gz").write_bytes(data[:-8] + bytes([data[-8] ^ 1]) + data[-7:])
    line = refused(["rate", str(INV), str(tmp_path / "u.csv.gz")], capsys)
    assert line == (
        f"m2msim rate: {tmp_path / 'u.csv.gz'}: damaged: its gzip data fail their own check "
        "(Error -3 while decompressing data: incorrect data check); nothing was rated"
    ), line


def test_a_usage_file_is_known_by_its_content_whatever_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV named `.dat`, `.tsv` (split by tabs) or with no extension, a Parquet file named
    `.dat`: rated as what they hold; a workbook, gzip data named `.csv`, a zip named `.csv`:
    refused saying what they are."""
    plain = rated(["rate", str(INV), str(USAGE)], capsys)
    (tmp_path / "cdr-20260301.dat").write_text(CSV_TEXT, encoding="utf-8")
    (tmp_path / "export").write_text(CSV_TEXT, encoding="utf-8")
    (tmp_path / "usage.tsv").write_text(CSV_TEXT.replace(",", "\t"), encoding="utf-8")
    for name in ("cdr-20260301.dat", "export", "usage.tsv"):
        assert rated(["rate", str(INV), str(tmp_path / name)], capsys) == plain, name
    pq.write_table(pacsv.read_csv(USAGE), tmp_path / "usage.parquet")
    (tmp_path / "usage-parquet.dat").write_bytes((tmp_path / "usage.parquet").read_bytes())
    as_parquet = rated(["rate", str(INV), str(tmp_path / "usage.parquet")], capsys)
    assert rated(["rate", str(INV), str(tmp_path / "usage-parquet.dat")], capsys) == as_parquet
    import gzip

    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04 a workbook")
    (tmp_path / "packed.csv").write_bytes(gzip.compress(CSV_TEXT.encode()))
    (tmp_path / "zipped.csv").write_bytes(b"PK\x03\x04 an archive")
    expected = {
        "sheet.xlsx": "a spreadsheet workbook (.xlsx), not a usage file: save its sheet as CSV",
        "packed.csv": "compressed by gzip: name it .csv.gz, or decompress it",
        "zipped.csv": "a zip archive (or a spreadsheet workbook): not a CSV file",
    }
    for name, text in expected.items():
        line = refused(["rate", str(INV), str(tmp_path / name)], capsys)
        assert line.startswith(f"m2msim rate: {tmp_path / name}: {text}"), line


@pytest.mark.parametrize("name", ["usage.jsonl", "usage.json", "usage.csv", "export"])
@pytest.mark.parametrize("shape", ["lines", "array", "bom"])
def test_json_records_are_refused_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, shape: str
) -> None:
    """Records as JSON Lines (DuckDB's `COPY ... (FORMAT json)`, a log shipper's), or a JSON array
    of them, were read as a CSV whose header is the first record: refused for a column
    `{"line":"33612345678"` that is no usage column, close to `line`, which said nothing of JSON."""
    import csv

    rows = list(csv.DictReader(io.StringIO(CSV_TEXT)))
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    if shape == "array":
        text = "[\n" + text.replace("}\n", "},\n").rstrip(",\n") + "\n]\n"
    path = tmp_path / name
    path.write_bytes(("\ufeff" if shape == "bom" else "").encode() + text.encode())
    for command in ("rate", "compare"):
        line = refused([command, str(INV), str(path)], capsys)
        assert line.startswith(
            f"m2msim {command}: {path}: JSON text (JSON Lines, or a JSON array of records), not a CSV: convert it"
        ), line


def test_a_month_whose_rows_are_mostly_rejected_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Starts written as a spreadsheet shows dates (day first, with slashes): every row is
    rejected, the invoice is still written (subscriptions), and the run warns on stderr with the
    reason, its first row and what a start is; a month with a few rejects does not."""
    import re

    day_first = re.sub(
        r"(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)Z", lambda m: f"{m[3]}/{m[2]}/{m[1]} {m[4]}", CSV_TEXT
    )
    path = tmp_path / "export.csv"
    path.write_text(day_first, encoding="utf-8")
    rows = len(CSV_TEXT.splitlines()) - 1
    for command in ("rate", "compare"):
        rc, out, err = run([command, str(INV), str(path)], capsys)
        assert rc == 0 and out
        first = day_first.splitlines()[1].split(",")[2]
        assert err == (
            f"m2msim {command}: warning: {rows} of the {rows} usage rows were rejected, {rows} as malformed value "
            f"(row 2: malformed value: start '{first}'); a start is ISO 8601 with its offset "
            "(2026-03-01T10:00:00Z), not a date with slashes as a spreadsheet shows it: the invoice bills "
            "only the rows not rejected\n"
        ), err
    rc, out, err = run(["rate", str(INV), str(USAGE)], capsys)
    assert rc == 0 and "Rejected usage rows" in out and err == ""


@pytest.mark.parametrize("end", [".bz2", ".xz", ".zip"])
def test_a_csv_compressed_otherwise_is_refused_saying_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], end: str
) -> None:
    """Not read as a Parquet file (which it is not), but named for what it is."""
    path = tmp_path / f"usage.csv{end}"
    path.write_bytes(b"BZh91AY&SY not read")
    line = refused(["rate", str(INV), str(path)], capsys)
    kind = {".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}[end]
    assert line == (
        f"m2msim rate: {path}: a CSV compressed by {kind}: usage CSVs are read as they are, or compressed "
        "by gzip (.csv.gz) or zstd (.csv.zst); decompress it, or compress it by one of those"
    ), line


def test_an_unusable_parquet_is_refused_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pacsv.read_csv(USAGE), good)
    data = good.read_bytes()
    for name, content in (
        ("cut.parquet", data[:-20]),
        ("not.parquet", b"PAR1 not at all PAR1"),
        ("empty.parquet", b""),
    ):
        (tmp_path / name).write_bytes(content)
        line = refused(["rate", str(INV), str(tmp_path / name)], capsys)
        assert line.startswith(f"m2msim rate: {tmp_path / name}: cannot read: not a Parquet file"), line


@pytest.mark.parametrize("rows", [3, None])  # a small file (read without DuckDB) and the whole month
def test_a_parquet_column_close_to_a_rating_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int | None
) -> None:
    """Left aside, a `Zone` column made every row a row in France: roaming billed at home rates."""
    table = pacsv.read_csv(USAGE)
    table = table.slice(0, rows) if rows else table
    path = tmp_path / "usage.parquet"
    pq.write_table(table.rename_columns(["Zone" if n == "zone" else n for n in table.column_names]), path)
    line = refused(["rate", str(INV), str(path)], capsys)
    assert line == (
        f"m2msim rate: {path}: column 'Zone' is not a usage column: did you mean 'zone'? "
        "(left aside, every row would be rated without it)"
    )


def test_a_folder_without_usage_files_and_a_folder_for_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(["rate", str(INV), str(tmp_path)], capsys)
    assert str(tmp_path) in line and "without usage files" in line
    line = refused(["rate", str(tmp_path), str(USAGE)], capsys)
    assert line.startswith(f"m2msim rate: {tmp_path}: ") and "is a directory" in line


@pytest.mark.parametrize("value", ["-1", "nan", "1e9", "99999999999999999999", "5x"])
def test_top_out_of_range_names_the_option(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("rate", "compare"):
        line = refused([command, str(INV), str(USAGE), "--top", value], capsys)
        assert line.startswith(f"m2msim {command}: --top: "), line


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'id: "33612345678"',
            "id: 0612345670",
            ":5: lines[0].id: 0612345670 is read by YAML as a number (103402424)",
        ),
        ('id: "33612345678"', "id: 33612345678", ":5: lines[0].id: 33612345678 is read by YAML as a number"),
        (
            "    offer: business-m2m\n",
            "    ofer: business-m2m\n",
            "lines[0].ofer: unknown key (did you mean 'offer'?)",
        ),
        ("customer: acme-meters", "customer: acme-meters\ncustomer: other", "duplicate key 'customer'"),
        ("count: 3", "count: 1000000000", "lines[5].count: 1,000,000,005 lines would take about"),
    ],
)
def test_inventory_surprises_are_refused_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    text = INV.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "inventory.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = refused(["rate", str(path), str(USAGE)], capsys)
    assert line.startswith(f"m2msim rate: {path}:") and expected in line, line
    if "quote" in expected or "read by YAML" in expected:
        assert "quote it" in line


def test_a_huge_inventory_is_refused_with_an_estimate_unless_forced(tmp_path: Path) -> None:
    from accounting.errors import InventoryError
    from accounting.inventory import inventory_from_dict

    group = {"id_prefix": "M", "count": 2_000_000, "offer": "intense", "plan": "optima", "commitment": 36}
    doc = {"customer": "c", "month": "2026-03", "lines": [{**group, "since": "2025-01-01"}]}
    with pytest.raises(InventoryError, match=r"2,000,000 lines would take about 3\.7 GiB .* --force"):
        inventory_from_dict(doc)
    assert (
        len(
            inventory_from_dict(
                {**doc, "lines": [{**group, "count": 30, "since": "2025-01-01"}]}, max_lines=30
            ).lines
        )
        == 30
    )


def test_a_misspelt_catalog_key_names_the_key_it_resembles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from accounting.catalog import CATALOG_DIR

    text = (CATALOG_DIR / "orange-m2m-2012.yaml").read_text(encoding="utf-8")
    path = tmp_path / "catalog.yaml"
    path.write_text(text.replace("\ncurrency: EUR", "\ncurency: EUR", 1), encoding="utf-8")
    line = refused(["rate", str(INV), str(USAGE), "--catalog", str(path)], capsys)
    assert line.startswith(f"m2msim rate: {path}:7: curency: unknown key (did you mean 'currency'?)"), line


# --- rejects, never billed --------------------------------------------------------------------


def test_the_trillion_second_call_is_a_reject_and_bills_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_rows(tmp_path, "33612345679,voice,2026-03-05T10:00:00Z,1000000000000,,,fr,fr-mobile,,")
    doc = rated(["rate", str(INV), str(path)], capsys)
    assert Decimal(doc["total_ht"]) == TOTAL
    assert doc["rejects"][-1] == {
        "row": 39,
        "reason": "impossible value: the record lasts more than 12 h past the end of the billing month: "
        "start + duration_s '2026-03-05T10:00:00Z' + 1000000000000 s",
    }


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_session_open_across_the_months_end_is_billed_once_in_the_months_of_its_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """The gateway's 12-hour records of a context opened at 20:00 on 31 March: the first one ends at
    08:00 on 1 April.  It was an impossible value in March and outside the month in April: its
    octets were billed in no month.  Each record is billed whole in the month its start falls in."""
    from datetime import UTC, datetime

    from gateway.api import Subscriber
    from gateway.network import Network, NetworkConfig

    path = tmp_path / f"usage{suffix}"
    with UsageWriter(path) as sink:
        net = Network(NetworkConfig(epoch=datetime(2026, 3, 31, 20, tzinfo=UTC), seed=1), sink)
        net.register_subscriber(Subscriber("33612345678", "208011234567890", "33612345678", "business-m2m"))
        net.attach(0, "33612345678", imeisv="3569380356438091", serving_plmn="20801")
        session = net.open_session(0, "33612345678", "orange.m2m.spec")
        assert session.session_id is not None
        net.transfer(86_400, session.session_id, 2 * 1_000 * 1024, 0)  # 1,000 ko in each 12 hours
        net.close_session(86_400, session.session_id)
    lines = INV.read_text(encoding="utf-8").split("\n  - id:")[:2]  # the header and the first line
    billed = {}
    for month in ("2026-03", "2026-04"):
        inventory = tmp_path / f"{month}.yaml"
        inventory.write_text("\n  - id:".join(lines).replace("month: 2026-03", f"month: {month}"), "utf-8")
        doc = rated(["rate", str(inventory), str(path)], capsys)
        [line] = doc["lines"]
        billed[month] = sum(int(i["quantity"]) for i in line["items"] if i["code"].startswith("data-fr"))
        assert [r["reason"].split(":")[0] for r in doc["rejects"]] == ["outside the billing month"]
    assert billed == {"2026-03": 1_000, "2026-04": 1_000}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "33612345678,data,2026-03-10T00:00:00Z,43201,10,10,fr,,,s9",
            "impossible value: a data record is cut at 43,200 s",
        ),
        (
            "33612345679,csd,2026-03-31T23:59:00Z,43261,,,fr,fr-mobile,,",
            "lasts more than 12 h past the end of the billing month",
        ),
        (
            f"33612345678,data,2026-03-10T00:00:00Z,2,{2 * MAX_OCTETS_PER_S},1,fr,,,s9",
            "more octets than 30 Gbit/s",
        ),
        (
            f"33612345678,data,2026-03-10T00:00:00Z,,{MAX_OCTETS_PER_S * 43_200},1,fr,,,s9",
            "more octets than 30 Gbit/s",
        ),
        (
            "33612345678,data,2026-03-10T00:00:00Z,60,10.5,10,fr,,,s9",
            "malformed value: bytes_up/bytes_down '10.5'/'10'",
        ),
        (
            "33612345678,data,2026-03-10T00:00:00Z,60,-10,10,fr,,,s9",
            "malformed value: bytes_up/bytes_down '-10'/'10'",
        ),
        ("33612345678,data,2026-03-10T00:00:00Z,-1,10,10,fr,,,s9", "malformed value: duration_s '-1'"),
        (
            "33612345678,data,2026-03-10T00:00:00Z,60,10,10,fr,,,s9,extra",
            "malformed row: more fields than the header's 10",
        ),
        ("33612345678,data,2026-03-10T00:00:00Z", "malformed row: fewer fields than the header's 10"),
        (
            "33612345678,sms,2026-03-10T00:00:00Z,,,,fr,fr-mobile,," + "x" * 1_100_000,
            "malformed row: longer than 1,048,576 bytes",
        ),
    ],
)
def test_a_record_no_network_produces_is_a_reject_and_the_rest_is_rated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, reason: str
) -> None:
    path = tmp_path / "u.csv"
    data = CSV_TEXT.encode() + row.encode("latin-1" if "\xe9" in row else "utf-8") + b"\n"
    path.write_bytes(data)
    doc = rated(["rate", str(INV), str(path)], capsys)
    assert Decimal(doc["total_ht"]) == TOTAL  # the other 37 rows billed as before
    assert doc["rows_read"] == 38
    [new] = [r for r in doc["rejects"] if r["row"] == 39]
    assert reason in new["reason"], new


def test_a_truncated_last_row_and_a_bad_row_in_the_middle_keep_the_numbers_of_the_rows_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = CSV_TEXT.splitlines()
    damaged = [*lines[:3], "33612345678,data,,,", *lines[3:], "33612345678,sms,2026-03-0"]
    path = tmp_path / "u.csv"
    path.write_text("\n".join(damaged), encoding="utf-8")  # no newline after the last, cut row
    original = {r["row"]: r["reason"] for r in rated(["rate", str(INV), str(USAGE)], capsys)["rejects"]}
    doc = rated(["rate", str(INV), str(path)], capsys)
    got = {r["row"]: r["reason"] for r in doc["rejects"]}
    assert got.pop(4).startswith("malformed row: fewer fields")
    assert got.pop(40).startswith("malformed row: fewer fields")
    assert got == {row + 1: reason for row, reason in original.items()}  # one row later than before
    assert Decimal(doc["total_ht"]) == TOTAL


def test_identical_records_are_billed_once_and_the_copies_name_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = CSV_TEXT.splitlines()[1:]
    path = with_rows(tmp_path, body[0], body[3])
    doc = rated(["rate", str(INV), str(path)], capsys)
    assert Decimal(doc["total_ht"]) == TOTAL
    dups = [r for r in doc["rejects"] if r["reason"].startswith("duplicate record")]
    assert dups == [
        {"row": 39, "reason": "duplicate record: identical in every field to row 2"},
        {"row": 40, "reason": "duplicate record: identical in every field to row 5"},
    ]
    # the same from Parquet (no footer of the simulator: the file is searched for duplicates)
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"session": pa.string()}))
    pq.write_table(table, tmp_path / "u.parquet")
    doc = rated(["rate", str(INV), str(tmp_path / "u.parquet")], capsys)
    assert Decimal(doc["total_ht"]) == TOTAL
    assert [r for r in doc["rejects"] if r["reason"].startswith("duplicate")] == dups
    # a large input's hashes are sorted in NumPy rather than grouped in DuckDB: the same copies
    monkeypatch.setattr(usage, "SMALL_PARQUET", 0)
    monkeypatch.setattr(usage, "SMALL_CSV", 0)
    for source in (path, tmp_path / "u.parquet"):
        doc = rated(["rate", str(INV), str(source)], capsys)
        assert [r for r in doc["rejects"] if r["reason"].startswith("duplicate")] == dups


def test_copies_and_malformed_rows_alone_are_listed_without_reading_the_rows_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected = {r["row"] for r in rated(["rate", str(INV), str(USAGE)], capsys)["rejects"]}
    header, *body = [line for row, line in enumerate(CSV_TEXT.splitlines(), 1) if row not in rejected]
    fields = len(header.split(","))
    path = tmp_path / "u.csv"
    rows = [header, *body[:5], "33612345678,data,,,", *body[5:], body[0], body[3], body[0]]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    listings: list[tuple[int, list[tuple[str | None, int, str]]]] = []
    reads: list[str] = []
    real, normalised = UsageReader.list_rejects, UsageReader._normalised

    def read(self: UsageReader, *args: Any, **kw: Any) -> str:
        reads.append(self.name)
        return normalised(self, *args, **kw)

    def both_ways(self: UsageReader, *args: Any) -> list[tuple[str | None, int, str]]:
        reads.clear()
        listed = real(self, *args)
        listings.append((len(reads), listed))
        assert real(self, *args, every_row=True) == listed and reads  # every row read: the same
        return listed

    monkeypatch.setattr(UsageReader, "_normalised", read)
    monkeypatch.setattr(UsageReader, "list_rejects", both_ways)
    for source in (path, tmp_path / "u.parquet"):
        doc = rated(["rate", str(INV), str(source)], capsys)
        assert Decimal(doc["total_ht"]) == TOTAL
        copies = [
            {"row": len(rows) - 2, "reason": "duplicate record: identical in every field to row 2"},
            {"row": len(rows) - 1, "reason": "duplicate record: identical in every field to row 5"},
            {"row": len(rows), "reason": "duplicate record: identical in every field to row 2"},
        ]
        if source == path:
            assert doc["rejects"] == [
                {"row": 7, "reason": f"malformed row: fewer fields than the header's {fields}"},
                *copies,
            ]
            rows.remove("33612345678,data,,,")  # the same rows in Parquet, one row fewer
            path.write_text("\n".join(rows) + "\n", encoding="utf-8")
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(column_types={"session": pa.string()})
            )
            pq.write_table(table, tmp_path / "u.parquet")
        else:
            assert doc["rejects"] == copies
    assert [n for n, _ in listings] == [0, 0]  # the rows were not read again


@pytest.mark.parametrize(
    ("name", "packed_by", "advice"),
    [
        ("u.csv.zst", "gzip", "named .zst, but compressed by gzip: name it u.csv.gz"),
        ("u.csv.gz", "zstd", "named .gz, but compressed by zstd: name it u.csv.zst"),
        ("u.csv.gz", None, "named .gz, but its data are not compressed by gzip: name it u.csv"),
        ("u.txt.zst", None, "named .zst, but its data are not compressed by zstd: name it u.txt"),
    ],
)
def test_a_file_named_as_compressed_otherwise_says_how_to_name_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, packed_by: str | None, advice: str
) -> None:
    import gzip

    data = USAGE.read_bytes()
    if packed_by == "gzip":
        data = gzip.compress(data)
    elif packed_by == "zstd":
        data = pa.Codec("zstd").compress(data, asbytes=True)
    path = tmp_path / name
    path.write_bytes(data)
    assert refused(["rate", str(INV), str(path)], capsys) == f"m2msim rate: {path}: {advice}"
    fixed = tmp_path / advice.rsplit("name it ", 1)[1]
    fixed.write_bytes(data)
    assert Decimal(rated(["rate", str(INV), str(fixed)], capsys)["total_ht"]) == TOTAL


def test_a_folder_with_a_days_export_compressed_otherwise_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of daily exports where one day is `.csv.bz2`: refused, naming that file (its rows
    were left out without a word, and the month billed without them)."""
    import bz2

    header, *rows = CSV_TEXT.splitlines(keepends=True)
    folder = tmp_path / "daily"
    folder.mkdir()
    (folder / "d1.csv").write_text("".join([header, *rows[:20]]), encoding="utf-8")
    (folder / "d2.csv.bz2").write_bytes(bz2.compress("".join([header, *rows[20:]]).encode()))
    line = refused(["rate", str(INV), str(folder)], capsys)
    assert line.startswith(f"m2msim rate: {folder / 'd2.csv.bz2'}: a CSV compressed by bzip2"), line
    # a day as Parquet beside days as CSV: the CSVs were left out
    (folder / "d2.csv.bz2").unlink()
    table = pacsv.read_csv(
        io.BytesIO("".join([header, *rows[20:]]).encode()),
        convert_options=pacsv.ConvertOptions(column_types={"session": pa.string()}),
    )
    pq.write_table(table, folder / "d2.parquet")
    mixed = f"m2msim rate: {folder}: a folder of Parquet files and CSV files (d1.csv): give one kind, or the files"
    assert refused(["rate", str(INV), str(folder)], capsys) == mixed
    (folder / "d1.csv").rename(folder / "d1.txt")  # (an operator's export named .txt: the same)
    assert refused(["rate", str(INV), str(folder)], capsys) == mixed.replace("d1.csv", "d1.txt")
    (folder / "d1.txt").unlink()  # a run's folder: its invoice and summary texts beside its Parquet
    for name in ("invoice.txt", "summary.txt"):
        (folder / name).write_text("Invoice ...\n", encoding="utf-8")
    assert rated(["rate", str(INV), str(folder)], capsys)["rows_read"] == len(rows) - 20


def test_malformed_rows_as_the_only_rejects_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No copy and no other reject: the listing of the malformed rows alone (it once asked DuckDB
    for the table of copies, which no search had made, and the month was refused)."""
    rejected = {r["row"] for r in rated(["rate", str(INV), str(USAGE)], capsys)["rejects"]}
    header, *body = [line for row, line in enumerate(CSV_TEXT.splitlines(), 1) if row not in rejected]
    fields = len(header.split(","))
    path = tmp_path / "u.csv"
    path.write_text("\n".join([header, *body[:5], "33612345678,data,,,", *body[5:]]) + "\n", encoding="utf-8")
    doc = rated(["rate", str(INV), str(path)], capsys)
    assert doc["rejects"] == [{"row": 7, "reason": f"malformed row: fewer fields than the header's {fields}"}]
    assert Decimal(doc["total_ht"]) == TOTAL
    assert doc["rows_read"] == len(body) + 1


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_column_named_with_quotes_is_read_as_any_other(
    form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column of the user's own named with a double quote (`note "x"`), beside a copied row: the
    copy is listed and the rest is rated (the name went into DuckDB's SQL within quotes it ended:
    a traceback, exit 1); a field of it that is not UTF-8 refuses the file naming the column."""
    rows = rated(["rate", str(INV), str(USAGE)], capsys)
    rejected = {r["row"] for r in rows["rejects"]}
    header, *body = [line for row, line in enumerate(CSV_TEXT.splitlines(), 1) if row not in rejected]
    lines = [f'{header},"note ""x"""', *(f"{line},n{i}" for i, line in enumerate(body))]
    lines.insert(4, lines[3])  # a copy of the third record, as row 5
    data = ("\n".join(lines) + "\n").encode()
    if form == "csv":
        path = tmp_path / "u.csv"
        path.write_bytes(data + body[0].encode() + b",\xff\n")  # (row len(body) + 3)
        line = refused(["rate", str(INV), str(path)], capsys)
        assert f"u.csv: row {len(body) + 3} (the header is row 1): column 'note \"x\"': not UTF-8" in line
        path.write_bytes(data)
    else:
        path = tmp_path / "u.parquet"
        text = pacsv.read_csv(
            io.BytesIO(data), convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
        )
        pq.write_table(text, path)
    doc = rated(["rate", str(INV), str(path)], capsys)
    assert doc["rejects"] == [{"row": 5, "reason": "duplicate record: identical in every field to row 4"}]
    assert Decimal(doc["total_ht"]) == TOTAL


def test_the_listing_passes_over_clean_aggregates_and_names_the_rows_a_full_read_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the rows of aggregates holding a reject are converted and checked again: the same
    rows, reasons and order as when every row is, whatever their keys normalise to."""
    path = with_rows(
        tmp_path,
        ",sms_internet,2026-03-05T10:00:00Z,,,,,other,true,",
        ",sms_internet,2026-03-05T11:00:00Z,,,,,other,,",
        ",sms_internet,2026-03-05T12:00:00Z,,,,,orange-fr,maybe,",
        ",sms_internet,2026-03-05T13:00:00Z,,,,fr,orange-fr,false,",
        "33612345678,data,2026-03-05T10:00:00Z,60,100,100,,,,",
        "33612345678,data,2026-03-05T10:00:01Z,60,100,100,mars,,,",
        "33612345678,,2026-03-05T10:00:00Z,60,100,100,fr,,,",
        ",data,2026-03-05T10:00:00Z,60,100,100,fr,,,",
        "33612345679,sms,2026-03-05T10:00:00Z,,,,,fr-mobile,,",
        "33612345679,sms,2026-03-05T10:00:01Z,,,,,,,",
        "UNKNOWN9,data,yesterday,60,1,1,,,,",
    )
    text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(RATING_COLUMNS, pa.string()), strings_can_be_null=True
    )
    table = pacsv.read_csv(path, convert_options=text)  # as the CSV holds them: an empty field is NULL
    pq.write_table(table, tmp_path / "u.parquet")
    listings: list[list[tuple[str | None, int, str]]] = []
    filtered: list[str] = []
    real, key_hash = UsageReader.list_rejects, UsageReader._key_hash

    def hashed(self: UsageReader, row: str) -> str:
        filtered.append(row)
        return key_hash(self, row)

    def both_ways(self: UsageReader, *args: Any) -> list[tuple[str | None, int, str]]:
        filtered.clear()
        listed = real(self, *args)
        assert filtered  # only the rows of the aggregates holding a reject were checked
        assert real(self, *args, every_row=True) == listed  # every row checked: the same
        listings.append(listed)
        return listed

    monkeypatch.setattr(UsageReader, "_key_hash", hashed)
    monkeypatch.setattr(UsageReader, "list_rejects", both_ways)
    for source in (path, tmp_path / "u.parquet"):
        doc = rated(["rate", str(INV), str(source)], capsys)
        assert len(doc["rejects"]) == sum(r["count"] for r in doc["rejects_by_reason"]) == 14
    assert listings[0] == listings[1]


# --- several files as one input ---------------------------------------------------------------


def _part(path: Path, rows: list[dict[str, Any]], origin: dict[str, Any] | None) -> None:
    with UsageWriter(path, origin=origin) as w:
        w.write_columns(
            {
                c: [r.get(c) for r in rows]
                for c in (
                    "line",
                    "type",
                    "start",
                    "duration_s",
                    "bytes_up",
                    "bytes_down",
                    "zone",
                    "dest",
                    "session",
                )
            },
            length=len(rows),
        )


def _records(n: int, day: int) -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    return [
        {"line": "33612345678", "type": "data", "start": datetime(2026, 3, day, i, tzinfo=UTC), "duration_s": 60,
         "bytes_up": 1000 * (i + 1), "bytes_down": 10, "zone": "fr", "session": f"s{i}"}
        for i in range(n)
    ]  # fmt: skip


def test_a_runs_usage_folder_is_one_input_with_rows_numbered_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage"
    usage.mkdir()
    _part(usage / "part-00000.parquet", _records(3, 2), {"run": "r", "shard": 0})
    rows = _records(2, 3)
    rows[1]["start"] = rows[1]["start"].replace(month=4)
    _part(usage / "part-00001.parquet", rows, {"run": "r", "shard": 1})
    (usage / ".m2msim-part-00002.parquet.tmp-1-ab").write_bytes(b"half a file")  # an interrupted write
    doc = rated(["rate", str(INV), str(usage)], capsys)
    assert doc["rows_read"] == 5
    assert doc["rejects"] == [
        {
            "row": 3,
            "reason": "outside the billing month: start '2026-04-03 01:00:00+00'",
            "file": "part-00001.parquet",
        }
    ]
    # the same part given twice: its footer claims no longer hold, the copy's rows are duplicates
    (usage / "part-00002.parquet").write_bytes((usage / "part-00000.parquet").read_bytes())
    doc2 = rated(["rate", str(INV), str(usage)], capsys)
    assert doc2["total_ht"] == doc["total_ht"]
    assert [(r.get("file"), r["row"], r["reason"]) for r in doc2["rejects"]][1:] == [
        ("part-00002.parquet", n, f"duplicate record: identical in every field to part-00000.parquet:{n}")
        for n in (2, 3, 4)
    ]


def test_a_folder_of_csv_files_is_one_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = CSV_TEXT.splitlines()
    (tmp_path / "a.csv").write_text("\n".join(lines[:20]) + "\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("\n".join([lines[0], "x,y", *lines[20:]]) + "\n", encoding="utf-8")
    doc = rated(["rate", str(INV), str(tmp_path)], capsys)
    assert Decimal(doc["total_ht"]) == TOTAL
    assert doc["rejects"][0] == {
        "row": 2,
        "reason": "malformed row: fewer fields than the header's 10",
        "file": "b.csv",
    }
    assert all(r["file"] == "b.csv" for r in doc["rejects"])
    (tmp_path / "c.csv").write_text("line,type,start\n", encoding="utf-8")
    line = refused(["rate", str(INV), str(tmp_path)], capsys)
    assert line.startswith(f"m2msim rate: {tmp_path / 'c.csv'}: line 1: the header differs"), line


def test_the_footer_speeds_up_only_what_it_proves(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.parquet"
    _part(path, _records(3, 2), {"run": "r", "shard": 0})
    claim = json.loads(pq.ParquetFile(path).metadata.metadata[FOOTER_KEY.encode()])
    layout = claim.pop("layout")  # (the digest of the file's layout: tests/accounting/test_usage_claim.py)
    assert claim == {"run": "r", "shard": 0, "rows": 3, "unique": True, "max_end": 1772409600 + 2 * 3600 + 60}
    assert isinstance(layout, str) and len(layout) == 64
    reader = UsageReader(path)
    assert reader.claims_unique and reader._scan_sql(*month_bounds(2026, 3), [0, 60]).settled
    plain = tmp_path / "plain.parquet"
    _part(plain, _records(3, 2), None)
    assert not UsageReader(plain).claims_unique
    across = _records(1, 31)  # a record across midnight at the month's end is billed in March
    across[0].update(start=across[0]["start"].replace(hour=23, minute=59), duration_s=120)
    _part(tmp_path / "across.parquet", across, {"run": "r", "shard": 1})
    assert UsageReader(tmp_path / "across.parquet")._scan_sql(*month_bounds(2026, 3), [0, 60]).settled
    late = _records(1, 31)  # a call ending more than 12 h after it is an impossible value
    late[0].update(
        type="voice", dest="fr-mobile", start=late[0]["start"].replace(hour=23, minute=59), duration_s=43_321
    )
    _part(tmp_path / "late.parquet", late, {"run": "r", "shard": 1})
    assert not UsageReader(tmp_path / "late.parquet")._scan_sql(*month_bounds(2026, 3), [0, 60]).settled


# --- compare says what it left out ------------------------------------------------------------


def test_compare_says_how_many_rows_and_lines_it_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["compare", str(INV), str(USAGE), "--json"], capsys)
    assert rc == 0
    left = json.loads(out)["left_out"]
    assert left["rows"] == 6 and sum(r["count"] for r in left["rows_by_reason"]) == 6
    assert left["lines"] == 2 and {r["rule"] for r in left["lines_by_rule"]} == {
        "autodiagnostic-requires-autogestion",
        "commitment-not-offered",
    }
    rc, out, _ = run(["compare", str(INV), str(USAGE)], capsys)
    assert "Left out of the comparison: 6 usage rows and 2 lines" in out


# --- --out --------------------------------------------------------------------------------------


def test_out_is_refused_when_it_is_an_input_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(CSV_TEXT, encoding="utf-8")
    for command in ("rate", "compare"):
        line = refused([command, str(INV), str(usage), "--out", str(usage)], capsys)
        assert line.startswith(f"m2msim {command}: --out ") and "input" in line, line
    assert usage.read_text(encoding="utf-8") == CSV_TEXT


def test_an_output_whose_folder_is_a_file_or_cannot_be_written_is_named_before_rating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out f/r.txt` where `f` is a file was rated, then refused as "f: File exists"; a folder on
    a read-only file system was named by the lock file beside the output."""
    import errno

    import accounting.cli

    def not_rated(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("rated before the output was checked")

    (tmp_path / "f").write_text("x\n")
    with monkeypatch.context() as patch:
        patch.setattr(accounting.cli, "rate_run", not_rated)
        for option, name in (("--out", "r.txt"), ("--report", "r.html")):
            path = tmp_path / "f" / "sub" / name
            line = refused(["rate", str(INV), str(USAGE), option, str(path)], capsys)
            assert line == f"m2msim rate: {option} {path}: {tmp_path / 'f'} is a file, not a folder", line
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    out = tmp_path / "invoice.txt"
    line = refused(["rate", str(INV), str(USAGE), "--out", str(out)], capsys)
    assert line == f"m2msim rate: {out}: cannot write in {tmp_path} (Read-only file system)", line
    assert not out.exists()


def test_out_is_written_whole_by_one_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "invoice.json"
    previous = (  # last month's, as m2msim wrote it
        '{\n  "customer": "acme-meters",\n  "month": "2026-02",\n  "currency": "EUR",\n'
        '  "catalog": "orange-m2m-2012",\n  "total_ht": "1.00"\n}\n'
    )
    out.write_text(previous, encoding="utf-8")
    with output_lock(out):
        line = refused(["rate", str(INV), str(USAGE), "--json", "--out", str(out)], capsys)
    assert f"process {os.getpid()}" in line and str(out) in line
    assert out.read_text(encoding="utf-8") == previous
    rc, stdout, _ = run(["rate", str(INV), str(USAGE), "--json", "--out", str(out)], capsys)
    assert rc == 0 and stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["total_ht"] == str(TOTAL)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".m2msim-")) == ["invoice.json"]


def test_no_traceback_from_the_command_line_on_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(CSV_TEXT.encode()[:200] + b"\xff\xfe\x00\x00" + CSV_TEXT.encode()[200:])
    done = subprocess.run(
        [sys.executable, "-m", "m2msim", "rate", str(INV), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr


def test_a_header_of_a_name_past_the_csv_limit_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header row holding a quoted name longer than the csv module's limit (128 KiB, within the
    header's 1 MiB): `rate` ended in a traceback (`_csv.Error: field larger than field limit`)."""
    usage = tmp_path / "usage.csv"
    header, rest = CSV_TEXT.split("\n", 1)
    usage.write_text(f'{header},"{"x" * 200_000}"\n{rest}', encoding="utf-8")
    for command in ("rate", "compare"):
        line = refused([command, str(INV), str(usage)], capsys)
        assert line.startswith(f"m2msim {command}: {usage}: line 1: not a usage header"), line


def test_a_parquet_footer_nested_too_deep_is_not_ours_and_the_rows_are_rated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Parquet file whose footer's `m2msim.usage` entry is arrays nested 10^5 deep (another writer's,
    or damaged): `rate` ended in a traceback (RecursionError). It is no claim of m2msim's: the rows
    are rated as the same rows without it."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(USAGE)
    plain, deep = tmp_path / "plain.parquet", tmp_path / "deep.parquet"
    pq.write_table(table, plain)
    pq.write_table(table.replace_schema_metadata({b"m2msim.usage": b"[" * 100_000 + b"]" * 100_000}), deep)
    assert rated(["rate", str(INV), str(deep)], capsys)["total_ht"] == rated(["rate", str(INV), str(plain)], capsys)["total_ht"]  # fmt: skip
