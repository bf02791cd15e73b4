"""A usage CSV separated by ';' whose durations are written with a decimal comma (`60,5`), as a
spreadsheet exports one in a locale of decimal commas (French, German, ...): the duration is
read as its number, as `60.5` in a file of decimal points, by every reader (DuckDB's, the pyarrow
pass, which leaves such a file to DuckDB, the report's view), and `60,5` and `60.5` are one value
for the duplicate search.  It was a reject (`malformed value: duration_s '60,5'`).  A count of
octets with a comma, and a number with thousands separators (a space, a no-break space, a dot
before a decimal comma), are rejects saying why."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from invoice_docs import bill_of, billed

from accounting import load_catalog, rate, usage_csv_arrow
from accounting.engine import rate_run
from accounting.usage_small import small_reader
from tests.usage_forms import INV, LINES

HEADER = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "dest"]
DESTS = {"voice": "fr-mobile", "csd": "fr-fixed", "sms": "fr-mobile", "data": ""}


def _rows(rnd: random.Random, n: int) -> list[list[str]]:
    """A month of rows whose durations have a fraction of a second (`90.25`), some copies of
    earlier rows at the end, and a few rows of an unknown line."""
    rows = []
    seconds = rnd.sample(range(27 * 86_400), n)
    for i in range(n):
        type_ = rnd.choice(["data", "data", "voice", "voice", "csd", "sms"])
        day, rest = divmod(seconds[i], 86_400)
        start = f"2026-03-{day + 1:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}Z"
        whole = rnd.randrange(43_000 if type_ == "data" else 4_000)
        duration = f"{whole}.{rnd.randrange(1, 100)}" if rnd.random() < 0.8 else str(whole)
        up, down = (str(rnd.randrange(99_999)), str(rnd.randrange(999_999))) if type_ == "data" else ("", "")
        line = rnd.choice(LINES) if rnd.random() > 0.01 else "NOBODY"
        rows.append([line, type_, start, duration, up, down, DESTS[type_]])
    rows += [list(r) for r in rnd.sample(rows, 5)]  # sent again: duplicates
    return rows


def _write(path: Path, rows: list[list[str]], separator: str, comma: float) -> Path:
    """The rows separated by `separator`, each duration with a fraction written with a decimal
    comma at the rate `comma` (0: never, 1: always)."""
    rnd = random.Random(len(rows))
    lines = [separator.join(HEADER)]
    for row in rows:
        duration = row[3].replace(".", ",") if rnd.random() < comma else row[3]
        lines.append(separator.join([*row[:3], duration, *row[4:]]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_duckdb_and_by_the_pass(source: Path, patch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The invoice (JSON, text) of `source` read by DuckDB, and with the pyarrow pass tried."""
    out = []
    patch.setattr(usage_csv_arrow, "CHUNK_BYTES", 4_000)
    for fast in (False, True):
        patch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if fast else 1 << 62)
        invoice = rate(INV, source)
        out.append((invoice.to_json(), invoice.render_text()))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_month_with_decimal_commas_is_rated_as_with_decimal_points_by_every_reader(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(random.Random(seed), 700)
    points = _write(tmp_path / "points.csv", rows, ",", 0)
    small = small_reader(points)
    assert small is not None  # (read without DuckDB)
    run = rate_run(INV, points, load_catalog(), reader=small)
    # (each form is its own file in usage_files: their bills are compared)
    expected = (bill_of(run.invoice), run.invoice.render_text())
    doc = json.loads(run.invoice.to_json())
    assert any("duplicate record" in r["reason"] for r in doc["rejects"])
    assert not any("malformed" in r["reason"] for r in doc["rejects"])
    assert doc["lines"] and doc["total_ht"] != "0.00"
    forms = {
        "points": points,
        "points ;": _write(tmp_path / "points-semicolons.csv", rows, ";", 0),
        "commas ;": _write(tmp_path / "commas.csv", rows, ";", 1),
        "mixed ;": _write(tmp_path / "mixed.csv", rows, ";", 0.5),  # some rows `.`, some `,`
    }
    assert "," in forms["commas ;"].read_text(encoding="utf-8")
    for name, source in forms.items():
        if name != "points":
            assert small_reader(source) is None  # (a file separated by ';': read by DuckDB)
        for doc_json, text in _by_duckdb_and_by_the_pass(source, monkeypatch):
            assert (billed(json.loads(doc_json)), text) == expected, name


def test_a_copy_written_with_a_decimal_comma_is_a_duplicate(tmp_path: Path) -> None:
    """`60,5` and `60.5` in a file separated by ';' are one duration: the second row repeats the
    first; `60,6` is another."""
    row = ["V1", "voice", "2026-03-02T10:00:00Z", "60,5", "", "", "fr-mobile"]
    rows = [row, [*row[:3], "60.5", *row[4:]], [*row[:3], "60,6", *row[4:]]]
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    doc = json.loads(rate(INV, usage).to_json())
    assert doc["rejects"] == [{"row": 3, "reason": "duplicate record: identical in every field to row 2"}]
    (voice,) = next(i for i in doc["lines"] if i["id"] == "V1")["items"][1:]
    assert (voice["code"], voice["quantity"]) == ("voice", str(61 + 61))


REJECTED = [  # (duration, bytes_up, bytes_down, the reason's end)
    ("1 234,5", "", "", "duration_s '1 234,5': a space (or a no-break space, or an apostrophe) between"),
    ("1\u00a0234,5", "", "", "duration_s '1\u00a0234,5': a space (or a no-break space"),
    ("1\u202f234", "", "", "duration_s '1\u202f234': a space (or a no-break space"),
    ("1.234,5", "", "", "duration_s '1.234,5': a dot before three digits, in a file separated by ';'"),
    ("60", "1,5", "24", "bytes_up '1,5': a count of octets is a whole number, and a comma in it"),
    ("60", "2", "1500,0", "bytes_down '1500,0': a count of octets is a whole number, and a comma in it"),
    ("60", "1 500", "2.000", "bytes_down '2.000': a dot before three digits"),
]


def test_thousands_separators_and_a_comma_in_a_count_of_octets_are_rejects_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused rather than guessed: `1 234,5` (French grouping), `1.234,5` (German), a comma in a
    count of octets (`1,5` octets, or `1500,0` as a number format with a decimal writes it: a
    count is digits alone); each reason names the column, its text and why.  The clean row is
    billed.  Read alike by DuckDB and with the pyarrow pass tried."""
    start = "2026-03-02T{:02d}:00:00Z"
    rows = [["V1", "voice", start.format(0), "60,5", "", "", "fr-mobile"]]
    for i, (duration, up, down, _) in enumerate(REJECTED, start=1):
        type_ = "data" if up else "voice"
        rows.append(["V1", type_, start.format(i), duration, up, down, DESTS[type_]])
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    ratings = _by_duckdb_and_by_the_pass(usage, monkeypatch)
    assert ratings[0] == ratings[1]
    doc: dict[str, Any] = json.loads(ratings[0][0])
    reasons = {r["row"]: r["reason"] for r in doc["rejects"]}
    assert set(reasons) == set(range(3, 3 + len(REJECTED)))
    for row, (*_, why) in enumerate(REJECTED, start=3):
        assert reasons[row].startswith("malformed value: " + why), reasons[row]
    assert reasons[9].endswith(
        "; bytes_up '1 500': a space (or a no-break space, or an apostrophe) between"
        " groups of three digits, in a file separated by ';', is a thousands separator:"
        " write the number without separators (1234,5)"
    )
    (voice,) = next(i for i in doc["lines"] if i["id"] == "V1")["items"][1:]
    assert (voice["code"], voice["quantity"]) == ("voice", "61")


def test_a_comma_in_a_file_separated_by_commas_is_no_decimal_comma(tmp_path: Path) -> None:
    """In a file separated by ',' a number in quotes with a comma (`"60,5"`, `"1,000"`) is a
    reject: such a file is written where the decimal sign is a point, and its comma may be a
    thousands separator (1,000 is 1000 in English) as well as a decimal comma."""
    usage = tmp_path / "usage.csv"
    usage.write_text(
        ",".join(HEADER) + '\nV1,voice,2026-03-02T10:00:00Z,"60,5",,,fr-mobile\n'
        'V1,voice,2026-03-02T11:00:00Z,"1,000",,,fr-mobile\n',
        encoding="utf-8",
    )
    doc = json.loads(rate(INV, usage).to_json())
    assert doc["rejects"] == [
        {"row": 2, "reason": "malformed value: duration_s '60,5'"},
        {"row": 3, "reason": "malformed value: duration_s '1,000'"},
    ]


def test_the_report_view_reads_a_decimal_comma_as_the_rating_does(tmp_path: Path) -> None:
    """The report's `usage` view of a file separated by ';': `60,5` is a call of 61 s, as `60.5`
    in a file separated by commas (it was NULL, a call of no duration)."""
    from reports.data import RunFiles, connect

    rows = [["V1", "voice", "2026-03-02T10:00:00Z", "60,5", "", "", "fr-mobile"]]
    rows.append(["V1", "voice", "2026-03-02T11:00:00Z", "1,5E+02", "", "", "fr-mobile"])
    durations = {}
    for separator in (";", ","):
        folder = tmp_path / f"run{len(durations)}"
        folder.mkdir()
        usage = _write(
            folder / "usage.csv",
            [[*r[:3], r[3].replace(",", "."), *r[4:]] for r in rows],
            separator,
            float(separator == ";"),
        )
        con = connect(RunFiles(folder, usage=[usage]))
        durations[separator] = con.execute("SELECT duration_s FROM usage ORDER BY start").fetchall()
        con.close()
    assert durations[";"] == durations[","] == [(61,), (150,)]


@pytest.mark.parametrize(
    ("first", "second"),
    [("1.500", "1,5"), ("1,5", "1.500"), ("1.000", "1"), ("1", "1.000")],
)
def test_a_count_with_dotted_thousands_is_no_copy_of_its_number_read_with_a_point(
    tmp_path: Path, first: str, second: str
) -> None:
    """`1.500` in a file separated by ';' is 1500 written with a thousands separator (a reject
    saying so), not 1.5: a row of `1,5` (or `1.000` and `1`) is another call, billed, and the
    row of dotted thousands is listed for them, not as its copy."""
    rows = [["V1", "voice", "2026-03-02T10:00:00Z", d, "", "", "fr-mobile"] for d in (first, second)]
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    doc = json.loads(rate(INV, usage).to_json())
    grouped = 2 if "." in first else 3
    ((row, reason),) = [(r["row"], r["reason"]) for r in doc["rejects"]]
    assert row == grouped and "a dot before three digits" in reason, reason
    (voice,) = next(i for i in doc["lines"] if i["id"] == "V1")["items"][1:]
    assert voice["quantity"] == ("2" if "," in first + second else "1")


def test_octets_with_dotted_thousands_are_no_copy_of_their_number(tmp_path: Path) -> None:
    """A data record of `2.000` octets, a reject, and one of 2 octets: two records, not a copy."""
    rows = [["C1", "data", "2026-03-02T10:00:00Z", "60", "1", up, ""] for up in ("2.000", "2")]
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    doc = json.loads(rate(INV, usage).to_json())
    assert [r["row"] for r in doc["rejects"]] == [2]
    assert "bytes_down '2.000': a dot before three digits" in doc["rejects"][0]["reason"]


@pytest.mark.parametrize("separator", [",", ";"])
def test_a_number_with_an_underscore_is_a_malformed_value(
    tmp_path: Path, separator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`1_000` (DuckDB reads it as 1000; the contract's numbers are digits) is a malformed value
    in a duration or a count of octets, listed with its text, read alike by DuckDB, with the
    pyarrow pass tried and by the small-file reader; it is no copy of a row of `1000`."""
    rows = [
        ["V1", "voice", "2026-03-02T10:00:00Z", "1_000", "", "", "fr-mobile"],
        ["V1", "voice", "2026-03-02T10:00:00Z", "1000", "", "", "fr-mobile"],
        ["C1", "data", "2026-03-02T11:00:00Z", "60", "1_000", "2000", ""],
        ["C1", "data", "2026-03-02T12:00:00Z", "6_0", "1000", "2000", ""],
        ["C1", "data", "2026-03-02T13:00:00Z", "60", "1000", "2000", ""],
    ]
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(separator.join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    ratings = _by_duckdb_and_by_the_pass(usage, monkeypatch)
    small = small_reader(usage)
    if small is not None:
        run = rate_run(INV, usage, load_catalog(), reader=small)
        ratings.append((run.invoice.to_json(), run.invoice.render_text()))
    assert all(r == ratings[0] for r in ratings)
    doc = json.loads(ratings[0][0])
    assert doc["rejects"] == [
        {"row": 2, "reason": "malformed value: duration_s '1_000'"},
        {"row": 4, "reason": "malformed value: bytes_up/bytes_down '1_000'/'2000'"},
        {"row": 5, "reason": "malformed value: duration_s '6_0'"},
    ]
    (voice,) = next(i for i in doc["lines"] if i["id"] == "V1")["items"][1:]
    assert voice["quantity"] == "1000"


def test_the_report_view_reads_no_number_with_an_underscore(tmp_path: Path) -> None:
    """The report's `usage` view of a CSV: `1_000` is no duration nor count (0, as another
    malformed value), where DuckDB read 1000; `1000` is 1000."""
    from reports.data import RunFiles, connect

    rows = [
        ["C1", "data", "2026-03-02T10:00:00Z", "1_000", "1_000", "2_000", ""],
        ["C1", "data", "2026-03-02T11:00:00Z", "1000", "1000", "2000", ""],
    ]
    for separator in (",", ";"):
        usage = tmp_path / f"run{len(separator)}{separator}" / "usage.csv"
        usage.parent.mkdir()
        usage.write_text("\n".join(separator.join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
        con = connect(RunFiles(usage.parent, usage=[usage]))
        got = con.execute("SELECT duration_s, bytes_up, bytes_down FROM usage ORDER BY start").fetchall()
        con.close()
        assert got == [(0, 0, 0), (1000, 1000, 2000)], separator


def test_the_report_view_reads_no_number_in_dotted_thousands(tmp_path: Path) -> None:
    """The report's `usage` view of a file separated by ';': `1.500` (1500 there, a reject) is no
    duration nor count (0, as another malformed value), where it showed 1.5 rounded up, 2."""
    from reports.data import RunFiles, connect

    rows = [
        ["C1", "data", "2026-03-02T10:00:00Z", "1.500", "2.000", "1.000.000", ""],
        ["C1", "data", "2026-03-02T11:00:00Z", "1.5", "2000", "0", ""],
    ]
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    con = connect(RunFiles(tmp_path, usage=[usage]))
    got = con.execute("SELECT duration_s, bytes_up, bytes_down FROM usage ORDER BY start").fetchall()
    con.close()
    assert got == [(0, 0, 0), (2, 2000, 0)]


@pytest.mark.parametrize("space", ["\t", "\v", "\f", " \t"])
def test_a_separated_number_after_or_before_whitespace_is_a_reject_saying_why(
    tmp_path: Path, space: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB reads a number past whitespace around it (`\\t60` is 60): a thousands separator
    behind a tab is one too, and says why as behind a space; `\\t3.600` was read 3.6 s, without a
    word, and `\\t1 234` a bare malformed value.  Alike by DuckDB and with the pyarrow pass."""
    start = "2026-03-02T{:02d}:00:00Z"
    cases = [  # (duration, bytes_up, the reason's end)
        (f"{space}1 234", "", "duration_s '" + space + "1 234': a space (or a no-break space"),
        (f"1 234{space}", "", "duration_s '1 234" + space + "': a space (or a no-break space"),
        (f"{space}3.600", "", "duration_s '" + space + "3.600': a dot before three digits"),
        ("60", f"{space}1.000", "bytes_up '" + space + "1.000': a dot before three digits"),
        ("60", f"{space}1,5", "bytes_up '" + space + "1,5': a count of octets is a whole number"),
    ]
    rows = [["V1", "voice", start.format(0), f"{space}60", "", "", "fr-mobile"]]
    for i, (duration, up, _) in enumerate(cases, start=1):
        type_ = "data" if up else "voice"
        rows.append(["V1", type_, start.format(i), duration, up, up and "24", DESTS[type_]])
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    ratings = _by_duckdb_and_by_the_pass(usage, monkeypatch)
    assert ratings[0] == ratings[1]
    reasons = {r["row"]: r["reason"] for r in json.loads(ratings[0][0])["rejects"]}
    assert set(reasons) == set(range(3, 3 + len(cases)))
    for row, (*_, why) in enumerate(cases, start=3):
        assert reasons[row].startswith("malformed value: " + why), reasons[row]


def test_the_reports_view_reads_a_count_behind_a_tab_as_without_it(tmp_path: Path) -> None:
    """The report's `usage` view reads a count as the rating does: `\t3.600` as `3.600` (dotted
    thousands: no number there), where it was 3.6; `\t60` as 60."""
    from reports.data import connect, find_files

    rows = []
    for hour, space in enumerate(["", "\t"]):
        rows.append(["V1", "voice", f"2026-03-02T1{hour}:00:00Z", f"{space}3.600", "", "", "fr-mobile"])
        rows.append(["V1", "data", f"2026-03-02T1{hour}:30:00Z", f"{space}60", f"{space}1.000", "24", ""])
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    con = connect(find_files(tmp_path))
    found = con.execute("SELECT type, duration_s, bytes_up FROM usage ORDER BY start").fetchall()
    assert found[:2] == found[2:]
