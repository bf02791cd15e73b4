"""`m2msim rate` and `compare` under damaged inputs: the example month's inventory, usage CSV, the same
usage as Parquet, and the catalog, mutated.

Every run exits 0 or 2 (one stderr line on 2), never with a traceback.  And no total moves without
a reject explaining it: when a damaged usage file is rated, rating only the rows it accepted (the
damaged file less its rejected rows) gives the same total with no reject, so every row that
counted is in the bill and every row left out is listed.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given
from hypothesis import strategies as st

from accounting.catalog import CATALOG_DIR

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
INV_TEXT = INV.read_text(encoding="utf-8")
CSV_BYTES = USAGE.read_bytes()
CATALOG = CATALOG_DIR / "orange-m2m-2012.yaml"
CATALOG_TEXT = CATALOG.read_text(encoding="utf-8")


def _parquet_bytes() -> bytes:
    import io

    sink = io.BytesIO()
    pq.write_table(pacsv.read_csv(USAGE), sink)
    return sink.getvalue()


PARQUET_BYTES = _parquet_bytes()


@FUZZ
@given(text=mutated_yaml(INV_TEXT))
def test_a_damaged_inventory(tmp_path_factory: object, text: str) -> None:
    path = write(_tmp(tmp_path_factory) / "inventory.yaml", text)
    for command in ("rate", "compare"):
        assert_cli_contract(run_cli([command, str(path), str(USAGE), "--json"]))


@FUZZ
@given(data=mutated_bytes(INV_TEXT.encode()))
def test_inventory_bytes_damaged(tmp_path_factory: object, data: bytes) -> None:
    path = write(_tmp(tmp_path_factory) / "inventory.yaml", data)
    assert_cli_contract(run_cli(["rate", str(path), str(USAGE)]))


@FUZZ
@given(text=mutated_yaml(CATALOG_TEXT))
def test_a_damaged_catalog(tmp_path_factory: object, text: str) -> None:
    path = write(_tmp(tmp_path_factory) / "catalog.yaml", text)
    assert_cli_contract(run_cli(["rate", str(INV), str(USAGE), "--catalog", str(path), "--json"]))


@FUZZ
@given(data=mutated_bytes(PARQUET_BYTES))
def test_a_damaged_parquet(tmp_path_factory: object, data: bytes) -> None:
    path = write(_tmp(tmp_path_factory) / "usage.parquet", data)
    for command in ("rate", "compare"):
        assert_cli_contract(run_cli([command, str(INV), str(path), "--json"]))


@FUZZ
@given(
    data=st.sampled_from([b",", b";", b"\t"]).flatmap(lambda sep: mutated_bytes(CSV_BYTES.replace(b",", sep)))
)
def test_a_damaged_csv_bills_only_what_it_accepts(tmp_path_factory: object, data: bytes) -> None:
    folder = _tmp(tmp_path_factory)
    path = write(folder / "usage.csv", data)
    result = run_cli(["rate", str(INV), str(path), "--json"])
    assert_cli_contract(result)
    assert_cli_contract(run_cli(["compare", str(INV), str(path)]))
    if result.rc != 0 or not _rows_are_lines(data):
        return
    doc = json.loads(result.out)
    rejected = {r["row"] for r in doc["rejects"]}
    assert len(rejected) == len(doc["rejects"]) == sum(r["count"] for r in doc["rejects_by_reason"])
    lines = data.split(b"\n")
    kept = [line for n, line in enumerate(lines, start=1) if n == 1 or n not in rejected]
    again = run_cli(["rate", str(INV), str(write(folder / "accepted.csv", b"\n".join(kept))), "--json"])
    assert_cli_contract(again, allowed=(0,))
    if doc["rows_read"] == len(rejected):  # nothing accepted: only the header is left, said
        assert "the usage file holds no records" in again.err, again
    redo = json.loads(again.out)
    assert redo["rejects"] == [] and redo["total_ht"] == doc["total_ht"], (doc["rejects"], redo["rejects"])
    assert redo["rows_read"] == doc["rows_read"] - len(rejected)


GZIP_BYTES = gzip.compress(CSV_BYTES, mtime=0)


@FUZZ
@given(data=mutated_bytes(GZIP_BYTES), here=st.booleans())
def test_a_damaged_gzip_csv(tmp_path_factory: object, data: bytes, here: bool) -> None:
    """Damaged compressed data (a bad block, a checksum, a cut, bytes after it), read by DuckDB
    as a small file is, or (`here`) inflated and read by the pyarrow pass in chunks of a few
    lines: exit 0 or 2, one line, never a traceback."""
    from accounting import usage_csv_arrow

    path = write(_tmp(tmp_path_factory) / "usage.csv.gz", data)
    saved = usage_csv_arrow.MIN_BYTES, usage_csv_arrow.CHUNK_BYTES, usage_csv_arrow.PIECE
    if here:
        usage_csv_arrow.MIN_BYTES, usage_csv_arrow.CHUNK_BYTES, usage_csv_arrow.PIECE = 0, 500, 97
    try:
        assert_cli_contract(run_cli(["rate", str(INV), str(path), "--json"]))
    finally:
        usage_csv_arrow.MIN_BYTES, usage_csv_arrow.CHUNK_BYTES, usage_csv_arrow.PIECE = saved


def _rows_are_lines(data: bytes) -> bool:
    """Row n is line n of the file: no quote (a quoted field may span lines), no blank line, no
    carriage return; the check by line numbers holds then."""
    return b'"' not in data and b"\r" not in data and not re.search(rb"\n\n", data.rstrip(b"\n"))


_COUNTER = iter(range(10**9))


def _tmp(factory: object) -> Path:
    from pytest import TempPathFactory

    assert isinstance(factory, TempPathFactory)
    return factory.mktemp(f"fuzz-acct-{next(_COUNTER)}")
