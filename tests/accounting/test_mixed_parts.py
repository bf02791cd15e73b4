"""A folder of Parquet parts of other schemas (the simulator's typed parts beside parts of text,
as pyarrow's CSV reader writes them with every column as text) is rated as the same rows in one
file: each part read by its own schema, a row and its copy in another part one row twice."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting import load_inventory, rate, usage_arrow, usage_arrow_checks
from accounting.errors import UsageError
from accounting.usage_writer import UsageWriter

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
COUNTS = ("duration_s", "bytes_up", "bytes_down")


def _typed(line: str, names: list[str]) -> dict[str, Any] | None:
    """A CSV row as the simulator's writer takes it (None: a row it would not write)."""
    row = dict(zip(names, line.split(","), strict=True))
    try:
        start = datetime.fromisoformat(row["start"])
        counts = {c: int(row[c]) if row[c] else None for c in COUNTS}
    except ValueError:
        return None
    delivered = {"": None, "true": True, "false": False}.get(row["delivered"])
    if delivered is None and row["delivered"]:
        return None
    texts = {c: row[c] or None for c in ("line", "type", "zone", "dest", "session")}
    return texts | counts | {"start": int(start.timestamp()), "delivered": delivered}


def _write_typed(path: Path, rows: list[dict[str, Any]]) -> None:
    """The simulator's part: every column of the usage schema, typed, its footer of a run's shard."""
    with UsageWriter(path, origin={"run": "r seed 1", "shard": 0}) as w:
        w.write_columns({k: [r[k] for r in rows] for k in rows[0]}, len(rows))


def _write_text(path: Path, lines: list[str]) -> None:
    """The CSV lines converted by pyarrow's CSV reader with every column as text ('' for an empty cell)."""
    names = lines[0].split(",")
    text = pa.BufferReader(("\n".join(lines) + "\n").encode())
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    pq.write_table(pacsv.read_csv(text, convert_options=options), path)


def _invoice(source: Any, monkeypatch: pytest.MonkeyPatch, fast: bool) -> dict[str, Any]:
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if fast else 1 << 62)
    monkeypatch.setattr(usage_arrow_checks, "PROVE", True)
    doc: dict[str, Any] = json.loads(rate(load_inventory(str(INV)), source).to_json())
    return doc


def test_typed_and_text_parts_are_rated_as_their_rows_in_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example month's first rows in the simulator's typed part, the others (its rejects
    among them) and a copy of a typed row in a part of text: the folder's invoice is the one
    file's, its rejects the one file's at their part's rows, the copy a duplicate (its start
    the typed row's instant, written as text), by DuckDB (the pyarrow pass leaves such a folder
    to it).  The folder was refused ("schema mismatch in glob": the part of text lacks the
    gateway's columns; with them, its '' failed the cast to the first part's BIGINT)."""
    lines = USAGE.read_text(encoding="utf-8").rstrip("\n").split("\n")
    names = lines[0].split(",")
    first = [(line, _typed(line, names)) for line in lines[1:20]]
    typed = [line for line, row in first if row is not None]
    text = [line for line, row in first if row is None] + lines[20:] + [typed[0]]  # a copy of a typed row
    folder = tmp_path / "usage"
    folder.mkdir()
    _write_typed(folder / "part-0.parquet", [row for _, row in first if row is not None])
    _write_text(folder / "part-1.parquet", [lines[0], *text])
    one = tmp_path / "usage.csv"
    one.write_text("\n".join([lines[0], *typed, *text]) + "\n", encoding="utf-8")
    expected = _invoice(one, monkeypatch, False)
    assert "duplicate record" in json.dumps(expected["rejects"][-1])  # (the copy)
    offset = {"part-0.parquet": 0, "part-1.parquet": len(typed)}
    for fast in (False, True):
        doc = _invoice(folder, monkeypatch, fast)
        rejects = [  # (a row of the folder as a row of the one file)
            {
                "row": r["row"] + offset[r.pop("file")],
                "reason": re.sub(
                    r"(part-\d\.parquet):(\d+)", lambda m: f"row {int(m[2]) + offset[m[1]]}", r["reason"]
                ),
            }
            for r in doc["rejects"]
        ]
        assert rejects == expected["rejects"]
        assert billed(doc) | {"rejects": rejects} == billed(expected)


def test_a_part_without_a_required_column_is_refused_naming_it(tmp_path: Path) -> None:
    lines = USAGE.read_text(encoding="utf-8").rstrip("\n").split("\n")
    names = lines[0].split(",")
    folder = tmp_path / "usage"
    folder.mkdir()
    _write_typed(folder / "part-0.parquet", [r for r in (_typed(x, names) for x in lines[1:5]) if r])
    no_type = [
        ",".join(v for n, v in zip(names, x.split(","), strict=True) if n != "type") for x in lines[:5]
    ]
    _write_text(folder / "part-1.parquet", no_type)
    with pytest.raises(UsageError, match=r"part-1\.parquet: missing required column\(s\): type"):
        rate(load_inventory(str(INV)), folder)


@pytest.mark.parametrize("seed", range(6))
def test_a_seeded_month_split_into_a_typed_and_a_text_part_is_rated_as_its_csv(
    tmp_path: Path, seed: int
) -> None:
    """A seeded month (`usage_forms.csv_file`, keys refused later among its rows) cut in two: the
    first rows in a part of the types pyarrow's CSV reader infers (counts integers or floats,
    `delivered` a boolean; for odd seeds the start a timestamp), the others, with copies of rows of both
    parts, in a part of text: the rating of the folder (aggregates, invoice, rejects at their
    part's rows) is that of the one CSV."""
    import random

    from usage_forms import csv_file, rating

    rnd = random.Random(seed)
    text = csv_file(rnd, rnd.choice(("bare", "pyarrow", "mixed")), rnd.randrange(40, 200)).decode()
    lines = text.rstrip("\n").split("\n")
    header, rows = lines[0], lines[1:]
    cut = rnd.randrange(1, len(rows))
    copies = [rnd.choice(rows) for _ in range(3)]
    first, second = rows[:cut], rows[cut:] + copies
    folder = tmp_path / "usage"
    folder.mkdir()
    typed = pacsv.read_csv(pa.BufferReader(("\n".join([header, *first]) + "\n").encode()))
    assert any(not pa.types.is_string(t) for t in typed.schema.types)
    if seed % 2:  # the start typed too, as the instant each text is (read in UTC without an offset)
        at = typed.schema.get_field_index("start")
        instants = [datetime.fromisoformat(v) for v in typed.column(at).to_pylist()]
        instants = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in instants]
        typed = typed.set_column(at, "start", pa.array(instants, pa.timestamp("ms", tz="UTC")))
    pq.write_table(typed, folder / "part-0.parquet")
    _write_text(folder / "part-1.parquet", [header, *second])
    one = tmp_path / "usage.csv"
    one.write_text("\n".join([header, *first, *second]) + "\n", encoding="utf-8")
    expected, got = rating(one), rating(folder)
    assert got[0] == expected[0]  # the aggregates (the text's rejects name the parts)
    offset = {"part-0.parquet": 0, "part-1.parquet": cut}
    doc, want = json.loads(got[2]), json.loads(expected[2])
    doc["rejects"] = [
        {
            "row": r["row"] + offset[r.pop("file")],
            "reason": re.sub(
                r"(part-\d\.parquet):(\d+)", lambda m: f"row {int(m[2]) + offset[m[1]]}", r["reason"]
            ),
        }
        for r in doc["rejects"]
    ]
    assert sum(r["reason"].startswith("duplicate") for r in want["rejects"]) >= 3
    assert billed(doc) == billed(want)


def test_a_column_of_lists_in_one_part_and_text_in_another_is_refused_naming_both(tmp_path: Path) -> None:
    """Parts that hold a column as values of no common reading (a list, a structure) are refused
    before anything is rated, naming the part, the column and both types (DuckDB's reading
    failed in the middle of the scan)."""
    base = {
        "line": ["33612345678"],
        "type": ["sms"],
        "start": ["2026-03-02T10:00:00Z"],
        "dest": ["fr-mobile"],
    }
    folder = tmp_path / "usage"
    folder.mkdir()
    pq.write_table(pa.table(base | {"tags": pa.array([[1, 2]])}), folder / "part-0.parquet")
    pq.write_table(pa.table(base | {"tags": ["x"]}), folder / "part-1.parquet")
    with pytest.raises(
        UsageError, match=r"part-1\.parquet: column 'tags' is VARCHAR where part-0\.parquet's is BIGINT\[\]"
    ):
        rate(load_inventory(str(INV)), folder)
