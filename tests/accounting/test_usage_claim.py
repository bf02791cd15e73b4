"""The simulator's footer claim is believed only for the file it was written in.

A part read with pyarrow, a value edited and written back kept the claim (`m2msim.usage`: the
simulator's parts store no Arrow schema, so pyarrow carries the footer's entries into the table's
schema and writes them back) for as many rows: `m2msim rate` believed it, skipped its duplicate
search and its check of records lasting past the month, and billed what the rows now held, without
a word.  The claim now names the layout of the file as written (`accounting.usage_claim`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

from accounting.usage import UsageReader
from accounting.usage_writer import FOOTER_KEY, UsageWriter
from m2msim.cli import main
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV = EXAMPLE / "inventory.yaml"
LINE = "33612345678"  # data on Business M2M
CALLER = "33612345679"  # Business M2M DTMF: its calls too
NOTE = "its footer holds the simulator's claim (m2msim.usage), but the file is not laid out as"


def _rows() -> list[dict[str, Any]]:
    """Three data records on March 2nd and a call on the 31st at 23:59 (a minute), each unique."""
    data = [
        {"line": LINE, "type": "data", "start": datetime(2026, 3, 2, i, tzinfo=UTC), "duration_s": 60,
         "bytes_up": 1000 * (i + 1), "bytes_down": 10, "zone": "fr", "session": f"s{i}"}
        for i in range(3)
    ]  # fmt: skip
    call = {"line": CALLER, "type": "voice", "start": datetime(2026, 3, 31, 23, 59, tzinfo=UTC), "duration_s": 60,
            "bytes_up": 0, "bytes_down": 0, "zone": "fr", "dest": "fr-mobile", "session": "c0"}  # fmt: skip
    return [*data, call]


def _part(path: Path, rows: list[dict[str, Any]], run: str = "r", shard: int = 0) -> None:
    """A part as the simulator writes it (its dictionaries, options and required columns)."""
    with UsageWriter(
        path,
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=REQUIRED_COLUMNS,
        origin={"run": run, "shard": shard},
    ) as w:
        names = {k for r in rows for k in r}
        w.write_columns({c: [r.get(c) for r in rows] for c in names})


def _rate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    rc = main(["rate", str(INV), str(path), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc: dict[str, Any] = json.loads(out.out)
    return billed(doc), out.err  # (the bill: each file rated is its own, `usage_files`)


def _plain(tmp_path: Path, table: pa.Table, name: str) -> Path:
    """The same rows in a file of another writer (no claim at all): the reference."""
    folder = tmp_path / "plain"
    folder.mkdir(exist_ok=True)
    pq.write_table(table.replace_schema_metadata(None), folder / name)
    return folder / name


def _duplicate(table: pa.Table) -> pa.Table:
    """The second record made a copy of the first (as many rows)."""
    return table.take([0, 0, 2, 3])


def _longer_call(table: pa.Table) -> pa.Table:
    """The call of 23:59 on the 31st made to last 43,321 s: it ends 43,261 s past the month, more
    than the 43,200 s a record may run past it."""
    at = table.schema.get_field_index("duration_s")
    return table.set_column(at, "duration_s", pa.array([60, 60, 60, 43_321], table.schema.field(at).type))


EDITS = [
    (_duplicate, 3, "duplicate record: identical in every field to row 2"),
    (
        _longer_call,
        5,
        "impossible value: the record lasts more than 12 h past the end of the billing month: "
        "start + duration_s '2026-03-31 23:59:00+00' + 43321 s",
    ),
]


@pytest.mark.parametrize("options", [{}, {"compression": "zstd", "use_dictionary": False}])
@pytest.mark.parametrize(("edit", "row", "reason"), EDITS)
def test_a_part_edited_with_pyarrow_is_rated_as_another_writers(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    options: dict[str, Any],
    edit: Any,
    row: int,
    reason: str,
) -> None:
    part = tmp_path / "part-00000.parquet"
    _part(part, _rows())
    with caplog.at_level(logging.WARNING):
        untouched, _ = _rate(part, capsys)
    assert not any(NOTE in r.getMessage() for r in caplog.records) and UsageReader(part).claims_unique
    assert untouched["rows_read"] == 4 and untouched["rejects"] == []

    table = pq.read_table(part)
    assert FOOTER_KEY.encode() in (table.schema.metadata or {})  # the claim travels with the table
    edited = tmp_path / "edited" / "part-00000.parquet"
    edited.parent.mkdir()
    pq.write_table(edit(table), edited, **options)
    assert FOOTER_KEY.encode() in pq.read_metadata(edited).metadata  # ... and is written back
    with caplog.at_level(logging.WARNING):
        doc, _ = _rate(edited, capsys)
    assert any(f"{edited}: {NOTE}" in r.getMessage() for r in caplog.records)
    assert [(r["row"], r["reason"]) for r in doc["rejects"]] == [(row, reason)]
    assert doc == _rate(_plain(tmp_path, edit(table), edited.name), capsys)[0]


def test_a_claim_without_its_layout_is_not_believed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A part of an older m2msim (its claim names no layout) is rated as another writer's, said."""
    part = tmp_path / "part-00000.parquet"
    _part(part, _rows())
    table = pq.read_table(part)
    claim = json.loads(table.schema.metadata[FOOTER_KEY.encode()])
    del claim["layout"]
    old = tmp_path / "old" / "part-00000.parquet"
    old.parent.mkdir()
    pq.write_table(table.replace_schema_metadata({FOOTER_KEY: json.dumps(claim)}), old)
    with caplog.at_level(logging.WARNING):
        reader = UsageReader(old)
    assert not reader.claims_unique and reader.origins == [] and reader.max_end is None
    assert any(NOTE in r.getMessage() for r in caplog.records)
    doc, _ = _rate(old, capsys)
    assert doc == _rate(_plain(tmp_path, table, old.name), capsys)[0]


def test_a_runs_parts_keep_the_fast_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    usage = tmp_path / "usage"
    usage.mkdir()
    for shard in range(3):
        with UsageWriter(
            usage / f"part-{shard:05d}.parquet",
            dictionary_columns=DICTIONARY_COLUMNS,
            parquet_options=PART_PARQUET_OPTIONS,
            required_columns=REQUIRED_COLUMNS,
            origin={"run": "r", "shard": shard},
            batch_rows=2,
        ) as w:
            w.write_many([])
            rows = _rows()[:3]
            for i, r in enumerate(rows):
                r["session"] = f"s{shard}-{i}"
            for i in range(0, 3, 2):  # (two row groups)
                chunk = rows[i : i + 2]
                w.write_columns({c: [r.get(c) for r in chunk] for c in chunk[0]})
    reader = UsageReader(usage)
    assert reader.claims_unique and len(reader._ours) == 3 and reader.max_end is not None
    assert [pq.read_metadata(usage / f"part-{s:05d}.parquet").num_row_groups for s in range(3)] == [2] * 3
    with caplog.at_level(logging.WARNING):
        doc, _ = _rate(usage, capsys)
    assert (
        not any(NOTE in r.getMessage() for r in caplog.records)
        and doc["rows_read"] == 9
        and doc["rejects"] == []
    )


@pytest.mark.parametrize("shards", [(0, 0), (0, 1)])
def test_two_runs_parts_are_searched_for_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shards: tuple[int, int]
) -> None:
    """Each part's claim vouches for its own run: the parts of two runs given together (the same
    scenario and seed under another name holds the same records) were taken for one run's shards,
    not searched, and every record billed twice without a word."""
    usage = tmp_path / "usage"
    usage.mkdir()
    _part(usage / "part-00000.parquet", _rows(), run="meters seed 5", shard=shards[0])
    _part(usage / "part-00001.parquet", _rows(), run="meters again seed 5", shard=shards[1])
    assert not UsageReader(usage).claims_unique
    doc, _ = _rate(usage, capsys)
    assert doc["rows_read"] == 8
    assert [r["reason"] for r in doc["rejects"]] == [
        f"duplicate record: identical in every field to part-00000.parquet:{row}" for row in range(2, 6)
    ]
    plain = tmp_path / "plain"
    plain.mkdir()
    for part in sorted(usage.iterdir()):
        pq.write_table(pq.read_table(part).replace_schema_metadata(None), plain / part.name)
    assert {k: v for k, v in doc.items() if k != "rejects"} == {
        k: v for k, v in _rate(plain, capsys)[0].items() if k != "rejects"
    }
