"""The same usage rows give the same invoice and the same rejects (reasons, wording, rows) in
every form of file: a CSV written plainly, compressed by gzip or zstd, exported by a spreadsheet
(a byte-order mark, ';' between fields in quotes, CRLF), with CRLF, its header in quotes and an
empty line at its end, its Parquet conversion with every column as text or with the types pyarrow
infers, those types as a warehouse exports them (NUMBER(20,0) and unsigned 64-bit counts,
large_string keys, a dictionary-encoded line, the start in a time zone of its own; row groups of
3 rows without statistics), a folder of CSV parts, of Parquet parts of text, of a
typed part beside a part of text, or an Arrow table of text or typed; each read by every path
that takes it (DuckDB, the pyarrow pass, the small-file reader)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import first_then_long
from invoice_docs import billed
from usage_forms import INV as FORMS_INV
from usage_forms import KEPT, TYPED_FORMS, as_one_file, as_table, csv_file, every_form

from accounting import load_catalog, load_inventory, rate, usage_arrow, usage_arrow_checks, usage_csv_arrow
from accounting.engine import rate_run
from accounting.errors import UsageError
from accounting.inventory import Inventory
from accounting.usage_small import small_reader

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
LINES = USAGE.read_text(encoding="utf-8").rstrip("\n").split("\n")
NAMES = LINES[0].split(",")
# The example's rows the engine refuses in every form alike ('lots' bytes, April, unknown lines...)
# are kept: their rejects are compared too.


def _invoice(source: Path, inventory: Inventory, patch: pytest.MonkeyPatch, fast: bool) -> dict[str, Any]:
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if fast else 1 << 62)
    patch.setattr(usage_arrow, "ARROW_ROWS", 0 if fast else 1 << 62)
    patch.setattr(usage_arrow_checks, "PROVE", True)
    try:
        doc: dict[str, Any] = json.loads(rate(inventory, source).to_json())
    except UsageError as exc:
        return {"refused": str(exc)}
    return doc


def _every_rating(
    text: str, folder: Path, patch: pytest.MonkeyPatch, inventory: Inventory | None = None
) -> dict[str, dict[str, Any]]:
    """The invoice of the rows in every form by every path, its rejects as the plain file's
    (`inventory`: the example month's when None)."""
    inventory = inventory or load_inventory(str(INV))
    out = {}
    for form, (source, offsets) in every_form(text, folder).items():
        for fast in (False, True):
            doc = _invoice(source, inventory, patch, fast)
            out[f"{form} {'pass' if fast else 'duckdb'}"] = as_one_file(doc, offsets)
        small = small_reader(source)
        if small is not None:
            run = rate_run(inventory, source, load_catalog(), reader=small)
            out[f"{form} small"] = json.loads(run.invoice.to_json())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for typed in (False, True):  # the rows as an Arrow table, rated without a file
        table = as_table(rows, typed, KEPT)
        out[f"{'typed' if typed else 'text'}-table duckdb"] = json.loads(rate(inventory, table).to_json())
    return out


def _by_kind(doc: dict[str, Any]) -> dict[str, Any]:
    """The invoice with each reject's reason cut to its kind, but a duplicate's (a typed value is
    quoted as DuckDB writes it: `'2026-04-01 00:00:00+00'` for `'2026-04-01T00:00:00Z'`)."""
    return billed(doc) | {  # (each form is its own file: `usage_files`)
        "rejects": [
            r if r["reason"].startswith("duplicate") else (r["row"], r["reason"].split(" '")[0])
            for r in doc.get("rejects", [])
        ]
    }


def _alike(ratings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The plain CSV's invoice by DuckDB, once every other form and path gave the same."""
    want = ratings["plain.csv duckdb"]
    assert "refused" not in want, want
    for name, doc in ratings.items():
        if name.split()[0] in TYPED_FORMS:
            assert _by_kind(doc) == _by_kind(want), name
        else:
            assert billed(doc) == billed(want), name
    return want


def _row(**fields: str) -> str:
    """An example row (the first's, a data record of a Business line) with these fields."""
    values = dict(zip(NAMES, LINES[1].split(","), strict=True)) | fields
    return ",".join(values[n] for n in NAMES)


def _dups(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["rejects"] if r["reason"].startswith("duplicate")]


def test_a_row_with_a_line_end_in_a_quoted_field_and_its_copy_are_one_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted field may hold a line end (a session label written on two lines): such a row
    written twice is one row twice.  DuckDB's CSV path hashed each line of the file as written,
    and missed it (the row's two lines apart), billing the copy; its Parquet found it."""
    row = _row(session='"s1\nnight"')
    n = len(LINES)
    want = _alike(_every_rating("\n".join([*LINES, row, row]) + "\n", tmp_path, monkeypatch))
    assert _dups(want) == [
        {"row": n + 2, "reason": f"duplicate record: identical in every field to row {n + 1}"}
    ]


def test_an_empty_type_or_start_is_missing_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty `type` or `start` is missing, as the CSV says, where a Parquet file of text holds
    '' for it (it said `type ''`); and the row written twice, '' or NULL, is one row twice."""
    rows = [_row(type=""), _row(start=""), _row(type='""'), _row(start=""), _row(type="")]
    n = len(LINES)
    want = _alike(_every_rating("\n".join([*LINES, *rows]) + "\n", tmp_path, monkeypatch))
    assert want["rejects"][-5:] == [
        {"row": n + 1, "reason": "malformed value: type missing"},
        {"row": n + 2, "reason": "malformed value: start missing"},
        {"row": n + 3, "reason": "duplicate record: identical in every field to row 39"},
        {"row": n + 4, "reason": "duplicate record: identical in every field to row 40"},
        {"row": n + 5, "reason": "duplicate record: identical in every field to row 39"},
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"duration_s": "43200.0"},  # a count written with a fraction of zero
        {"bytes_up": "+900000", "bytes_down": "1.2e6"},  # a sign, an exponent
        {"start": "2026-03-01 01:00:00+01:00"},  # the same instant in another time zone
        {"start": "2026-03-01T00:00:00.000Z"},  # with a fraction of a second
        {"start": "2026-03-01 00:00:00"},  # without a zone: UTC
        {"delivered": "true"},  # (not an SMS Internet row: read, and true when empty)
    ],
    ids=["fraction", "sign-exponent", "zone", "milliseconds", "no-zone", "delivered"],
)
def test_a_row_written_again_in_another_form_of_its_values_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, str]
) -> None:
    """A duplicate is the same values: a row written again with a value in another form that the
    rating reads as the same value (a count `43200.0` for `43200`, a start as the same instant)
    is one row twice, in every form.  A CSV compared the texts (two rows, the copy billed), where
    its typed Parquet or a folder of a typed part compared the values (a duplicate)."""
    # (an empty `delivered` and `true` are two values, read alike: the copy of a row with TRUE)
    first = _row(delivered="TRUE") if "delivered" in fields else LINES[1]
    n = len(LINES)
    text = "\n".join([*LINES, first, _row(**fields)]) + "\n"
    want = _alike(_every_rating(text, tmp_path, monkeypatch))
    copy = 2 if "delivered" not in fields else n + 1
    assert _dups(want)[-1] == {
        "row": n + 2,
        "reason": f"duplicate record: identical in every field to row {copy}",
    }


def _written_otherwise(field: str, value: str, rnd: random.Random) -> str:
    """The value in another form the rating reads alike, one the small-file reader reads too (a
    start in another time zone, a count with a fraction of zeros; other values unchanged)."""
    if not value:
        return value
    if field == "start":
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(timezone(timedelta(hours=rnd.choice((-5, 1, 3))))).isoformat()
    if field in ("duration_s", "bytes_up", "bytes_down") and "." not in value:
        return value + rnd.choice((".0", ".000"))
    return value


@pytest.mark.parametrize("seed", first_then_long(range(3)))
def test_a_seeded_month_with_copies_written_otherwise_is_rated_alike_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A seeded month (`usage_forms.csv_file`: keys refused later among its rows, small enough
    for the small-file reader) with copies of some rows, each value of the copy in another form
    the rating reads alike: the same invoice and rejects in every form by every path, each copy
    a duplicate of its row."""
    rnd = random.Random(seed)
    text = csv_file(rnd, "bare", rnd.randrange(40, 120)).decode().replace(" ", "T")  # (a plain file)
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split(",")
    picked = rnd.sample(range(1, len(lines)), 4)
    copies = [
        ",".join(_written_otherwise(f, v, rnd) for f, v in zip(header, lines[i].split(","), strict=True))
        for i in picked
    ]
    n = len(lines)
    ratings = _every_rating("\n".join([*lines, *copies]) + "\n", tmp_path, monkeypatch, FORMS_INV)
    assert "plain.csv small" in ratings  # (the small-file reader takes the plain file)
    want = _alike(ratings)
    assert [r for r in _dups(want) if r["row"] > n] == [
        {"row": n + 1 + k, "reason": f"duplicate record: identical in every field to row {i + 1}"}
        for k, i in enumerate(picked)
    ]


def _at(day: int, **fields: str) -> str:
    """`_row` started on its own day of March (rows that are not copies of one another)."""
    return _row(start=f"2026-03-{day:02d}T06:00:00Z", **fields)


_VOICE = {"line": "33612345679", "type": "voice", "dest": "fr-mobile", "bytes_up": "", "bytes_down": ""}
_SMS = {"line": "33612345679", "type": "sms", "dest": "fr-mobile", "duration_s": ""}


def test_a_nan_count_is_the_same_reject_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count written NaN (or an infinity, in any spelling DuckDB reads) is a malformed value in
    every form: the CSV's text, its Parquet file of text, and its typed conversion, where it is a
    float NaN; and the row written again is a duplicate.  The typed forms were written by
    pyarrow's CSV reader with its default NULL texts, which made the NaN a NULL: a duration of
    0 s billed, a byte count 'missing', where the CSV said 'NaN'."""
    rows = [
        _at(20, duration_s="NaN"),
        _at(21, duration_s="nan", **_VOICE),
        _at(22, **(_SMS | {"bytes_up": "-nan", "bytes_down": "10"})),
        _at(23, bytes_up="inf"),
        _at(24, bytes_down="-Infinity"),
        _at(21, duration_s="nan", **_VOICE),
    ]
    n = len(LINES)
    want = _alike(_every_rating("\n".join([*LINES, *rows]) + "\n", tmp_path, monkeypatch))
    assert want["rejects"][-6:] == [
        {"row": n + 1, "reason": "malformed value: duration_s 'NaN'"},
        {"row": n + 2, "reason": "malformed value: duration_s 'nan'"},
        {"row": n + 3, "reason": "malformed value: bytes_up/bytes_down '-nan'/'10'"},
        {"row": n + 4, "reason": "malformed value: bytes_up/bytes_down 'inf'/'1200000'"},
        {"row": n + 5, "reason": "malformed value: bytes_up/bytes_down '900000'/'-Infinity'"},
        {"row": n + 6, "reason": f"duplicate record: identical in every field to row {n + 2}"},
    ]


def test_a_line_after_a_byte_order_mark_says_so_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files joined by `cat`, each a spreadsheet's "CSV UTF-8" export, leave a byte-order mark at
    the start of the row where each one after the first begins: the row is an unknown line in
    every form (every CSV reader keeps such a mark as text), whose reason says the mark is there
    and which line it hides, where it read `unknown line '\\ufeff33612345678'`."""
    known = LINES[1].split(",")[0]
    rows = ["\ufeff" + _row(start="2026-03-20T10:00:00Z"), "\ufeffX9" + _row()[len(known) :]]
    n = len(LINES)
    want = _alike(_every_rating("\n".join([*LINES, *rows]) + "\n", tmp_path, monkeypatch))
    mark = "it begins with a byte-order mark (U+FEFF, invisible), as where files joined by cat meet (a file's first bytes)"
    advice = "remove it, or join the files leaving out each one's first 3 bytes (tail -c +4 FILE)"
    assert want["rejects"][-2:] == [
        {
            "row": n + 1,
            "reason": f"unknown line '\\ufeff{known}': {mark}; line '{known}' without it: {advice}",
        },
        {"row": n + 2, "reason": f"unknown line '\\ufeffX9': {mark}: {advice}"},
    ]


def test_a_duration_past_a_doubles_digits_read_whole_is_a_reject_in_every_form_of_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duration written with more significant digits than a DOUBLE holds, which the DOUBLE
    reads as a whole number where the text is not (`60.00000000000000001`: 60), is a malformed
    value saying why, by every path and in every form of text: it was billed 60 s (the exact text
    61), and `43200.0000000000000001` s passed for a 12-hour record.  A text of many digits whose
    DOUBLE keeps a fraction (`12.300000000000001`, as pandas writes some floats) is read as before
    (13 s), and one of trailing zeros is whole.  A typed Parquet conversion holds the DOUBLE
    itself (60.0), which is rated as such: those forms are not compared."""
    rows = [
        _at(20, duration_s="60.00000000000000001", **_VOICE),
        _at(21, duration_s="6.0000000000000000001e1", **_VOICE),
        _at(22, duration_s="43200.0000000000000001"),
        _at(23, duration_s="12.300000000000001", **_VOICE),
        _at(24, duration_s="60.000000000000000000", **_VOICE),
    ]
    n = len(LINES)
    ratings = _every_rating("\n".join([*LINES, *rows]) + "\n", tmp_path, monkeypatch)
    want = ratings["plain.csv duckdb"]
    for name, doc in ratings.items():
        if name.split()[0] not in TYPED_FORMS:
            assert billed(doc) == billed(want), name
    why = (
        ": more significant digits than a DOUBLE holds, whose reading is a whole number of seconds "
        "where the text is not (60.00000000000000001 is read 60): write at most 15 significant digits"
    )
    assert [r for r in want["rejects"] if r["row"] > n] == [
        {"row": n + 1, "reason": f"malformed value: duration_s '60.00000000000000001'{why}"},
        {"row": n + 2, "reason": f"malformed value: duration_s '6.0000000000000000001e1'{why}"},
        {"row": n + 3, "reason": f"malformed value: duration_s '43200.0000000000000001'{why}"},
    ]


def test_a_missing_count_is_rated_as_the_contract_says_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty count is NULL in every form (the CSV's empty cell, NULL in its Parquet files):
    a duration is then 0 s (billed), a data record's byte count 'missing' (a reject), another
    record's byte counts not needed (billed)."""
    rows = [
        _at(20, duration_s=""),
        _at(21, duration_s="", **_VOICE),
        _at(22, **(_SMS | {"bytes_up": "", "bytes_down": ""})),
        _at(23, bytes_up=""),
        _at(24, bytes_up="", bytes_down=""),
    ]
    n = len(LINES)
    text = "\n".join([*LINES, *rows]) + "\n"
    want = _alike(_every_rating(text, tmp_path, monkeypatch))
    assert [r for r in want["rejects"] if r["row"] > n] == [
        {"row": n + 4, "reason": "malformed value: bytes_up/bytes_down missing/'1200000'"},
        {"row": n + 5, "reason": "malformed value: bytes_up/bytes_down missing/missing"},
    ]
    # the rows billed: their invoice is that of the file with the two rejected rows left out
    kept = "\n".join([*LINES, *rows[:3]]) + "\n"
    (tmp_path / "kept.csv").write_text(kept, encoding="utf-8")
    other = json.loads(rate(load_inventory(str(INV)), tmp_path / "kept.csv").to_json())
    assert (other["total_ht"], other["lines"]) == (want["total_ht"], want["lines"])


@pytest.mark.parametrize("fast", [False, True], ids=["duckdb", "pass"])
def test_a_csv_converted_with_pyarrows_default_null_texts_is_rated_as_its_nulls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """pyarrow's CSV reader, left to its defaults, reads `NaN`, `NA`, `null`, `N/A`... as NULL:
    the typed Parquet file it writes holds no NaN, and its rows are rated as NULL counts are, as
    the CSV with those cells empty (a duration of 0 s, a data record's byte count missing)."""
    rows = [_at(20, duration_s="NaN"), _at(21, duration_s="NA", **_VOICE), _at(23, bytes_down="null")]
    csv_rows = list(csv.reader(io.StringIO("\n".join([*LINES, *rows]) + "\n", newline="")))
    table = as_table(csv_rows, True)  # (pyarrow's default NULL texts)
    pq.write_table(table, tmp_path / "defaults.parquet")
    emptied = [_at(20, duration_s=""), _at(21, duration_s="", **_VOICE), _at(23, bytes_down="")]
    (tmp_path / "emptied.csv").write_text("\n".join([*LINES, *emptied]) + "\n", encoding="utf-8")
    inventory = load_inventory(str(INV))
    want = _invoice(tmp_path / "emptied.csv", inventory, monkeypatch, False)
    assert want["rejects"][-1] == {
        "row": len(LINES) + 3,
        "reason": "malformed value: bytes_up/bytes_down '900000'/missing",
    }
    got = _invoice(tmp_path / "defaults.parquet", inventory, monkeypatch, fast)
    assert (got["rejects"][-1], got["total_ht"], got["lines"]) == (
        want["rejects"][-1],
        want["total_ht"],
        want["lines"],
    )
    if not fast:  # (an Arrow table is rated by DuckDB)
        assert _by_kind(json.loads(rate(inventory, table).to_json())) == _by_kind(billed(got))


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("9007199254740994", "9007199254740994.0"),  # 2^53 + 2, whole, in the small reader's forms
        ("18446744073709551616", "1.8446744073709551616e19"),  # 2^64, past int64
        ("+36028797018963968", "36028797018963968.000"),  # 2^55
    ],
    ids=["2^53+2", "2^64", "2^55"],
)
def test_a_count_past_2_53_written_again_otherwise_is_a_duplicate_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, again: str
) -> None:
    """Past 2^53 a DOUBLE no longer holds every whole number: such counts were compared as their
    texts, so that a row written again with its count in another form (`...994.0`) was two
    malformed values in a CSV and a duplicate in its typed Parquet file (a DOUBLE column, which
    reads both alike).  A count is compared as its exact integer there: a duplicate in every
    form, by every path; and two counts that differ (by 2, each exact in a DOUBLE) are two rows."""
    number = int(first)
    other = str(number + (1 << (number.bit_length() - 53)))  # the next DOUBLE
    rows = [
        _at(20, bytes_up=first),
        _at(20, bytes_up=again),
        _at(20, bytes_up=other),
        _at(21, duration_s=first, **_VOICE),
        _at(21, duration_s=again, **_VOICE),
    ]
    plain = [line for line in LINES if ",lots," not in line]  # (a count the small reader leaves)
    n = len(plain)
    ratings = _every_rating("\n".join([*plain, *rows]) + "\n", tmp_path, monkeypatch)
    want = _alike(ratings)
    if first == "9007199254740994":
        assert "plain.csv small" in ratings  # (the small-file reader read its forms)
    got = [(r["row"], r["reason"].split(" '")[0]) for r in want["rejects"][-5:]]
    assert got == [
        (n + 1, "malformed value: bytes_up/bytes_down"),
        (n + 2, f"duplicate record: identical in every field to row {n + 1}"),
        (n + 3, "malformed value: bytes_up/bytes_down"),
        (n + 4, "malformed value: duration_s"),
        (n + 5, f"duplicate record: identical in every field to row {n + 4}"),
    ]


def test_a_column_given_twice_is_refused_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column given twice (a writer that appended `zone` again, maybe of other values) is
    refused naming it, exit 2, in every form: a CSV header said so; a Parquet file, a folder
    holding such a part and an Arrow table were rated on one of the two (DuckDB read the first
    and named the second `zone_1`; pyarrow's pass read both), without a word."""
    from m2msim.cli import main

    rows = list(csv.reader(io.StringIO("\n".join(LINES) + "\n", newline="")))
    table = as_table(rows, True, KEPT)
    twice = pa.Table.from_arrays(
        [*table.columns, pa.array(["world"] * len(table))], [*table.column_names, "zone"]
    )
    upper = twice.rename_columns([*table.column_names, "ZONE"])
    pq.write_table(twice, tmp_path / "twice.parquet")
    pq.write_table(upper, tmp_path / "upper.parquet")
    (tmp_path / "parts").mkdir()
    pq.write_table(table, tmp_path / "parts" / "part-0.parquet")
    pq.write_table(twice, tmp_path / "parts" / "part-1.parquet")
    header, *body = LINES
    (tmp_path / "twice.csv").write_text("\n".join([header + ",zone", *(b + ",world" for b in body)]) + "\n")
    inventory = load_inventory(str(INV))
    sources: list[Any] = [tmp_path / n for n in ("twice.csv", "twice.parquet", "upper.parquet", "parts")]
    for source in [*sources, twice]:
        for fast in (False, True):
            refused = _invoice(source, inventory, monkeypatch, fast) if isinstance(source, Path) else None
            if refused is None:
                with pytest.raises(UsageError, match="given twice"):
                    rate(inventory, source)
                continue
            assert "refused" in refused, (source, fast)
            assert re.search(r"column '(zone|ZONE)' is (named|given) twice", refused["refused"]), refused
        small = small_reader(source) if isinstance(source, Path) else None
        assert small is None, source  # (the small-file reader leaves it to the reader)
    assert main(["rate", str(INV), str(tmp_path / "twice.parquet")]) == 2
    err = capsys.readouterr().err
    assert "twice.parquet: column 'zone' is given twice (columns 7 and 11)" in err and err.count("\n") == 1


# The example's zones written as a network of each (a DOM's, the United Kingdom's, Jersey's: a
# network of its own in the UK's MCC 234, rated world, as the gateway rates it).
_NETWORKS = {"fr": ["20801", "20815"], "eu": ["26201", "34001", "23415"], "world": ["23450", "310260"]}


def _with_serving_plmn(keep_zone: bool) -> list[str]:
    """The example's rows with a `serving_plmn` of each row's zone (none where the zone is
    empty), beside the zone or in its place."""
    at = NAMES.index("zone")
    out = [
        ",".join([*NAMES, "serving_plmn"] if keep_zone else [*NAMES[:at], "serving_plmn", *NAMES[at + 1 :]])
    ]
    seen: dict[str, int] = {}
    for line in LINES[1:]:
        fields = line.split(",")
        zone = fields[at]
        plmn = ""
        if zone in _NETWORKS:
            choices = _NETWORKS[zone]
            plmn = choices[seen.get(zone, 0) % len(choices)]
            seen[zone] = seen.get(zone, 0) + 1
        out.append(",".join([*fields, plmn] if keep_zone else [*fields[:at], plmn, *fields[at + 1 :]]))
    return out


def test_a_zone_read_from_serving_plmn_is_the_same_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with `serving_plmn` and no `zone` (an operator's export) is rated in the zone of
    each row's network, by the gateway's table (accounting/zones.py): the example month written
    so is billed as with its zones, in every form and by every path.  A network that is no
    MCC+MNC, or whose MCC is not assigned, is a reject naming the column and the value; an empty
    one is `fr`, the contract's default.  Every row was rated `fr` without a word (a German or an
    American network billed as France)."""
    base = _alike(_every_rating("\n".join(LINES) + "\n", tmp_path / "zone", monkeypatch))
    at = _with_serving_plmn(keep_zone=False)[0].split(",").index("serving_plmn")

    def row(day: int, plmn: str) -> str:
        fields = _at(day).split(",")
        fields[at] = plmn  # (`_at`'s zone column is this file's serving_plmn)
        return ",".join(fields)

    added = [row(20, "2620"), row(21, "99901"), row(22, "26201x"), row(23, "")]
    text = "\n".join([*_with_serving_plmn(keep_zone=False), *added]) + "\n"
    want = _alike(_every_rating(text, tmp_path / "plmn", monkeypatch))
    n = len(LINES)
    assert [r for r in want["rejects"] if r["row"] > n] == [
        {"row": n + 1, "reason": "malformed value: serving_plmn '2620': not an MCC+MNC (5 or 6 digits)"},
        {
            "row": n + 2,
            "reason": "malformed value: serving_plmn '99901': MCC 999 is not an assigned mobile "
            "country code (ITU-T E.212)",
        },
        {"row": n + 3, "reason": "malformed value: serving_plmn '26201x': not an MCC+MNC (5 or 6 digits)"},
    ]
    assert [r for r in want["rejects"] if r["row"] <= n] == base["rejects"]
    # the rows of the example billed as their zones said; the row without a network as `fr`
    (tmp_path / "fr.csv").write_text("\n".join([*LINES, _at(23, zone="")]) + "\n", encoding="utf-8")
    also = json.loads(rate(load_inventory(str(INV)), tmp_path / "fr.csv").to_json())
    assert (want["total_ht"], want["lines"]) == (also["total_ht"], also["lines"])
    assert want["total_ht"] != base["total_ht"]  # (the row of day 23 is billed)


def test_a_zone_beside_serving_plmn_is_the_sessions_and_is_rated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with both columns is rated by `zone`, in every form: the gateway writes the zone
    of the network a session was opened on in each of its records, and each record's own network
    in `serving_plmn`, so the two differ after a move (a session opened in France going on in
    Germany is in `fr`, tariff.md); a row of such a file is not refused for it, nor its network
    read instead."""
    at = NAMES.index("zone")
    rows = _with_serving_plmn(keep_zone=True)
    moved = rows[1].split(",")
    assert moved[at] == "fr"
    moved[-1] = "26201"  # the first row's session, opened in France, recorded in Germany
    rows[1] = ",".join(moved)
    base = _alike(_every_rating("\n".join(LINES) + "\n", tmp_path / "zone", monkeypatch))
    want = _alike(_every_rating("\n".join(rows) + "\n", tmp_path / "both", monkeypatch))
    assert billed(want) == billed(base)


def test_a_usage_rows_network_is_read_in_sql_as_the_gateway_reads_it() -> None:
    """The zone the readers' SQL gives a usage row's `serving_plmn` is the gateway's (`zone_of`)
    for every MCC of the table and every network listed on its own, and the refusal the small
    reader gives for any other value."""
    from accounting.db import duckdb
    from accounting.records import Zone
    from accounting.zones import PLMN_REFUSED, default_table, usage_zone, usage_zone_sql
    from gateway.plmn import zone_of

    table = default_table()
    assigned = [mcc + mnc for zone in Zone for mcc in table.mccs(zone) for mnc in ("01", "999")]
    networks = [plmn for zone in Zone for plmn in table.networks(zone)]
    others = ["99901", "00101", "2080", "2080112", "2O801", "20801 ", "２0801", "", None]
    values = [*assigned, *networks, *others]
    con = duckdb.connect()
    read = con.execute(
        f"SELECT v, {usage_zone_sql('v')} FROM unnest(?::VARCHAR[]) AS t(v)", [values]
    ).fetchall()
    assert dict(read) == {v: usage_zone(v) for v in values}
    assert [usage_zone(p) for p in [*assigned, *networks]] == [
        zone_of(p).value for p in [*assigned, *networks]
    ]
    assert all(str(usage_zone(v)).startswith(PLMN_REFUSED) for v in others[:-2])
    assert usage_zone("") is None and usage_zone(None) is None


def _proven_forms(text: str, folder: Path, patch: pytest.MonkeyPatch, inventory: Inventory) -> set[str]:
    """The forms of these rows whose rating the pyarrow pass made, every row proven by it (the
    rejects then listed from its cells)."""
    from accounting.usage import UsageReader

    proven: list[bool] = []
    aggregate = UsageReader.aggregate

    def spied(reader: UsageReader, *args: Any) -> Any:
        groups = aggregate(reader, *args)
        proven.append(reader._cells is not None)
        return groups

    patch.setattr(UsageReader, "aggregate", spied)
    out = set()
    for form, (source, _) in every_form(text, folder).items():
        proven.clear()
        _invoice(source, inventory, patch, True)
        if proven == [True]:
            out.add(form)
    patch.setattr(UsageReader, "aggregate", aggregate)
    return out


_REFUSED = {"mars": "99901"}  # (the seeded month's refused zone: a network of no assigned MCC)


@pytest.mark.parametrize("seed", first_then_long(range(2)))
def test_a_zone_read_from_serving_plmn_takes_the_pyarrow_passes_and_rates_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A clean seeded month with `serving_plmn` in place of `zone` is read by the pyarrow passes
    (CSV and Parquet), each batch's networks read once, in every form where the same rows with
    their zones are: it was left to DuckDB (1 M rows of CSV in 3-5.7 s, 1.1-2.2 s with a zone).
    Every form and path gives the invoice of the rows with their zones, and the rejects of
    their rows, a refused network's named as DuckDB names it, at the same rows."""
    from usage_forms import _csv_row

    rnd = random.Random(seed)
    names = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered"]
    rows = [_csv_row(rnd, s, rnd.random() < 0.05) for s in sorted(rnd.sample(range(27 * 86_400), 300))]
    # rows the proof sets aside for DuckDB to check (a start in April, 13 hours), and copies
    late = rows[7] | {"start": "2026-04-01T00:00:00Z", "zone": "eu"}
    rows += [rows[3], late, rows[9] | {"type": "data", "duration_s": "46800", "zone": "world"}, rows[200]]
    seen: dict[str, int] = {}

    def network(zone: str) -> str:
        if zone in _REFUSED or not zone:
            return _REFUSED.get(zone, "")
        seen[zone] = seen.get(zone, 0) + 1
        return _NETWORKS[zone][seen[zone] % len(_NETWORKS[zone])]

    def text(plmn: bool) -> str:
        header = [("serving_plmn" if plmn and n == "zone" else n) for n in names]
        body = [",".join(network(r[n]) if plmn and n == "zone" else r[n] for n in names) for r in rows]
        return "\n".join([",".join(header), *body]) + "\n"

    by_zone, by_plmn = text(False), text(True)
    want = _alike(_every_rating(by_zone, tmp_path / "zone", monkeypatch, FORMS_INV))
    got = _alike(_every_rating(by_plmn, tmp_path / "plmn", monkeypatch, FORMS_INV))
    refused = (
        "malformed value: serving_plmn '99901': MCC 999 is not an assigned mobile country code (ITU-T E.212)"
    )
    reasons = {r["reason"].split(":")[0] for r in got["rejects"]}
    assert {refused.split(":")[0], "duplicate record", "outside the billing month"} <= reasons
    assert any(r["reason"] == refused for r in got["rejects"])
    assert billed(got) == billed(want) | {
        "rejects": [
            r | {"reason": refused} if r["reason"] == "malformed value: zone 'mars'" else r
            for r in want["rejects"]
        ]
    }
    proven = _proven_forms(by_zone, tmp_path / "zone-pass", monkeypatch, FORMS_INV)
    assert {"plain.csv", "gzip.csv.gz", "typed.parquet"} <= proven, proven
    assert _proven_forms(by_plmn, tmp_path / "plmn-pass", monkeypatch, FORMS_INV) == proven, proven


@pytest.mark.parametrize("typed", [False, True], ids=["text", "typed"])
def test_a_part_with_only_serving_plmn_beside_a_part_with_zone_is_rated_in_its_networks_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: bool
) -> None:
    """A folder of Parquet parts whose columns differ, one with `zone` and one with only
    `serving_plmn` (another writer's export beside the simulator's): the second's rows are rated
    in their networks' zones, as in a file of its own, a refused network rejected at its row,
    by every path.  Its rows were rated `fr` (a NULL zone in the folder's union of columns)."""
    at = NAMES.index("zone")
    moved = LINES[1].split(",")  # (a row of its own: the first, a week later)
    moved[NAMES.index("start")] = "2026-03-08T00:00:00Z"
    refused = [*moved[:at], "mars", *moved[at + 1 :]]
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join([*LINES, ",".join(refused)]) + "\n", encoding="utf-8")
    inventory = load_inventory(str(INV))
    want = _invoice(whole, inventory, monkeypatch, False)
    n = len(LINES) + 1
    assert want["rejects"][-1] == {"row": n, "reason": "malformed value: zone 'mars'"}
    want["rejects"][-1]["reason"] = "malformed value: serving_plmn '2620': not an MCC+MNC (5 or 6 digits)"
    rows = list(csv.reader(io.StringIO("\n".join(LINES) + "\n", newline="")))
    networks = [line.split(",") for line in _with_serving_plmn(keep_zone=False)]
    networks.append([*moved[:at], "2620", *moved[at + 1 :]])
    cut = len(rows) // 2
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(as_table(rows[:cut], typed, KEPT), parts / "part-0.parquet")
    pq.write_table(as_table([networks[0], *networks[cut:]], typed, KEPT), parts / "part-1.parquet")
    offsets = {"part-0.parquet": 0, "part-1.parquet": cut - 1}
    for fast in (False, True):
        got = as_one_file(_invoice(parts, inventory, monkeypatch, fast), offsets)
        assert (_by_kind(got) if typed else billed(got)) == (_by_kind(want) if typed else billed(want)), fast
    small = small_reader(parts)
    if small is not None:
        run = rate_run(inventory, parts, load_catalog(), reader=small)
        got = as_one_file(json.loads(run.invoice.to_json()), offsets)
        assert (_by_kind(got) if typed else got) == (_by_kind(want) if typed else want)


# Starts of every form a reader may take (a fraction, an offset with or without its colon, `T` or
# a space, no seconds, midnight written in full, a leap second) beside dates alone (two of one day).
_STARTS = [
    "2026-03-05T10:00:00Z",
    "2026-03-05 10:00",
    "2026-03-05T10:00",
    "2026-03-06T00:00:00Z",
    "2026-03-06 00:00:00",
    "2026-03-07T10:00:00.123+02:00",
    "2026-03-07T10:00:00.5+0100",
    "2026-03-07T10:00:00+01",
    "2026-03-08",
    "2026/03/08",
    "2026-03-08",
    "2026-3-9 10:00:00",
    "2026-03-31T23:59:60Z",
]


def test_starts_with_their_times_are_read_and_dates_alone_refused_alike_in_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start of a date alone is a malformed value (read as midnight, a day's records alike in
    the other fields were taken for copies), where every instant written otherwise, midnight in
    full too, is read: the same invoice and rejects by DuckDB, the pyarrow passes and the small
    reader, of a CSV and of its Parquet forms; an instant written again otherwise (10:00 for
    10:00:00Z, midnight with and without its zone) and the second date alone of a day are copies."""
    rows = [_row(start=s) for s in _STARTS]
    n = len(LINES)
    want = _alike(_every_rating("\n".join([*LINES, *rows]) + "\n", tmp_path, monkeypatch))
    assert [r for r in want["rejects"] if r["row"] > n] == [
        {"row": n + 2, "reason": f"duplicate record: identical in every field to row {n + 1}"},
        {"row": n + 3, "reason": f"duplicate record: identical in every field to row {n + 1}"},
        {"row": n + 5, "reason": f"duplicate record: identical in every field to row {n + 4}"},
        {"row": n + 9, "reason": "malformed value: start '2026-03-08'"},
        {"row": n + 10, "reason": "malformed value: start '2026/03/08'"},
        {"row": n + 11, "reason": f"duplicate record: identical in every field to row {n + 9}"},
    ]
