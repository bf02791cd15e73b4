"""The rating's fast paths against DuckDB's reading, on damaged months: never another number.

A usage file may be rated by a fast path (a large CSV read by pyarrow.csv and proven row by row,
`accounting.usage_csv_arrow`; a Parquet file summed by the pyarrow pass, its rows proven when
no footer settles them, `accounting.usage_arrow` and `usage_arrow_checks`) or by DuckDB's reader
and checks.  Whatever the file holds, both give the same aggregates, the same invoice text and
JSON (rejects listed alike) or the same refusal: the fast path either reads a file exactly as
DuckDB does or leaves it to DuckDB.  The months are the seeded clean months of `usage_forms`,
damaged as real exports are: fields replaced by the values at the edges of every check (the
month's bounds, 12 h, the counts' bounds, forms of a start or a count DuckDB may read otherwise,
keys with blanks or in another case), rows repeated (also written otherwise), removed or moved,
bytes damaged; Parquet columns typed otherwise (int32, double or text counts, dictionary keys),
with or without statistics, in row groups and batches of any size.  The fast paths are taken
for files of any size here (their thresholds lowered), in chunks and batches of a few rows.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import FUZZ, mutated_bytes
from hypothesis import assume, given
from hypothesis import strategies as st
from usage_forms import CSV_STYLES, MONTH, csv_file, parquet_table, rating, records

from accounting import usage_arrow, usage_arrow_checks, usage_csv_arrow
from accounting.usage import MAX_OCTETS, MAX_SECONDS

STARTS = (
    "2026-03-01T00:00:00Z",
    "2026-03-01 00:00:00",
    "2026-02-28T23:59:59Z",
    "2026-02-28T23:59:59.999999Z",
    "2026-03-31T23:59:59Z",
    "2026-03-31T23:59:59.999999Z",
    "2026-03-31T23:59:59.9999995Z",
    "2026-04-01T00:00:00Z",
    "2026-04-01T01:00:00+01:00",
    "2026-03-01T00:59:59+01",
    "2026-03-15T12:00:00.5",
    "2026-03-15T12:00:00.1234567Z",
    "2026-03-15T24:00:00Z",
    "2026-03-15T12:60:00Z",
    "2026-03-15T12:00:60Z",
    "2026-3-15T12:00:00Z",
    "2026-03-15",
    "2026-03-15T12:00Z",
    "2026-03-15t12:00:00z",
    " 2026-03-15T12:00:00Z",
    "2026-03-15T12:00:00Z ",
    "2026-03-15T12:00:00 Z",
    "2026-03-15T12:00:00+14:00",
    "2026-03-15T12:00:00-12:30",
    "2026-03-15T12:00:00+0530",
    "2026-03-15T12:00:00 UTC",
    "2026-02-29T12:00:00Z",
    "1774000000",
    "",
    "null",
)
COUNTS = (
    "0",
    "-0",
    "1",
    "-1",
    "43199",
    "43200",
    "43201",
    str(MAX_SECONDS),
    str(MAX_SECONDS + 1),
    str(MAX_OCTETS),
    str(MAX_OCTETS + 1),
    "999999999999999",
    "1000000000000000",
    "1000000000000001",
    "1e15",
    "1e16",
    "1.0",
    "1.5",
    "0.0000001",
    "4.9999999999999999",
    " 3",
    "3 ",
    "+3",
    "007",
    "0x1F",
    "0b11",
    "1_000",
    "nan",
    "inf",
    "-inf",
    "\uff13",
    "9" * 20,
    "",
)
KEYS = (
    "",
    "V1",
    "C1",
    "V1 ",
    " C2",
    "v1",
    "NOBODY",
    "data",
    "sms",
    "voice",
    "csd",
    "sms_internet",
    "location_hit",
    "fax",
    "DATA",
    "fr",
    "eu",
    "world",
    "FR",
    "mars",
    "fr-mobile",
    "fr-fixed",
    "intl",
    "orange-fr",
    "other",
    "\u00e9",
    "\t",
    "null",
)
DELIVERED = ("", "true", "false", "TRUE", "True", "1", "0", "t", "f", "yes", "no", " true")
QUOTES = ('"', 'a"b', '""', '"""', "'x'")
NUMBERS = ("duration_s", "bytes_up", "bytes_down")


def _values(column: str) -> tuple[str, ...]:
    if column == "start":
        return STARTS
    if column in NUMBERS:
        return COUNTS
    if column == "delivered":
        return DELIVERED
    return KEYS


@st.composite
def _damaged_lines(draw: st.DrawFn, text: str) -> str:
    """The CSV text with one row damaged: a field replaced, the row repeated (maybe with a field
    quoted otherwise: the same values, a duplicate), removed or moved."""
    end = "\r\n" if "\r\n" in text else "\n"
    lines = text.rstrip(end).split(end)
    names = [n.strip('"') for n in lines[0].split(",")]
    if len(lines) < 3:
        return text
    row = draw(st.integers(1, len(lines) - 1))
    kinds = ("field", "field", "field", "repeat", "twin", "remove", "move")
    kind = draw(st.sampled_from(kinds))
    fields = lines[row].split(",")
    if kind in ("field", "twin") and len(fields) == len(names):
        at = draw(st.integers(0, len(names) - 1))
        old = fields[at]
        quoted = old.startswith('"')
        if kind == "twin":  # the same value, written with or without quotes
            bare = old.strip('"')
            fields[at] = bare if quoted else f'"{bare}"'
            lines.insert(draw(st.integers(1, len(lines))), ",".join(fields))
        else:
            value = draw(st.sampled_from(_values(names[at]) + QUOTES))
            fields[at] = f'"{value}"' if quoted and draw(st.booleans()) else value
            lines[row] = ",".join(fields)
    elif kind == "repeat":
        lines.insert(draw(st.integers(1, len(lines))), lines[row])
    elif kind == "remove":
        del lines[row]
    elif kind == "move":
        lines.insert(draw(st.integers(1, len(lines) - 1)), lines.pop(row))
    return end.join(lines) + end


@st.composite
def _damaged_csv(draw: st.DrawFn) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    text = csv_file(rnd, draw(st.sampled_from(CSV_STYLES)), draw(st.integers(30, 250))).decode()
    for _ in range(draw(st.integers(0, 4))):
        text = draw(_damaged_lines(text))
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:  # damaged as bytes too: cut, flipped, re-encoded
        data = draw(mutated_bytes(data, max_mutations=1))
    return data


@FUZZ
@given(
    data=_damaged_csv(),
    threads=st.sampled_from((1, 2)),
    chunk=st.sampled_from((400, 3_000, 1 << 20)),
    large=st.booleans(),
)
def test_a_damaged_csv_is_rated_alike_by_pyarrow_and_by_duckdb(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, threads: int, chunk: int, large: bool
) -> None:
    path = tmp_path_factory.mktemp("fast-csv") / "usage.csv"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        _as_a_large_fleet(patch, large)
        fast, slow = _by_the_pass_and_by_duckdb(patch, path, threads, CHUNK_BYTES=chunk)
    assert fast == slow


def _by_the_pass_and_by_duckdb(
    patch: pytest.MonkeyPatch, source: Path, threads: int, **sizes: int
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """`rating(source)` by the CSV pass (taken whatever the size, `sizes` set in its module),
    then by DuckDB's reader."""
    for name, value in sizes.items():
        patch.setattr(usage_csv_arrow, name, value)
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    fast = rating(source, threads)
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 1 << 62)
    return fast, rating(source, threads)


def _as_a_large_fleet(patch: pytest.MonkeyPatch, large: bool) -> None:
    """When `large`, the pass takes the ways of a fleet of a million lines: each batch's row sums
    added cell by cell, the dictionaries coded by the hashes of their texts."""
    if large:
        patch.setattr(usage_arrow, "DENSE_CELLS", 0)
        patch.setattr(usage_arrow, "TEXT_INDEX_VALUES", 0)


def _edge(draw: st.DrawFn, column: str) -> Any:
    """A value at the edge of a check, for a Parquet column of records (None: a NULL)."""
    if column == "start":
        moments = (
            MONTH[0],
            MONTH[0] - timedelta(microseconds=1),
            MONTH[1],
            MONTH[1] - timedelta(microseconds=1),
            MONTH[1] - timedelta(seconds=1),
            MONTH[1] - timedelta(seconds=43_200),
            None,
        )
        return draw(st.sampled_from(moments))
    if column in NUMBERS:
        edges = (None, -1, 0, 1, 43_199, 43_200, 43_201, MAX_SECONDS, MAX_SECONDS + 1)
        return draw(st.sampled_from((*edges, MAX_OCTETS, MAX_OCTETS + 1, 2**53 + 1, 2**62)))
    if column == "delivered":
        return draw(st.sampled_from((True, False, None)))
    return draw(st.sampled_from((None, *KEYS)))


def _retyped(draw: st.DrawFn, table: pa.Table) -> pa.Table:
    """The table with some columns typed as other writers type them."""
    for i, field in enumerate(table.schema):
        if pa.types.is_integer(field.type) and field.name in NUMBERS:
            to = draw(st.sampled_from((None, None, pa.int32(), pa.uint64(), pa.float64(), pa.string())))
        elif pa.types.is_string(field.type) and field.name != "start":
            to = draw(
                st.sampled_from((None, None, pa.large_string(), pa.dictionary(pa.int32(), pa.string())))
            )
        else:
            to = None
        if to is not None:
            # (a value the type cannot hold: the column as it was)
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = table.set_column(i, field.name, table.column(i).cast(to))
    return table


@st.composite
def _damaged_parquet(draw: st.DrawFn) -> tuple[pa.Table, int, bool, bool]:
    """A month's records damaged, as a table in pyarrow's types (maybe retyped), with the row
    group size and whether statistics and dictionaries are written."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    start = draw(st.sampled_from(("text", "text", "ms", "us", "naive")))
    cols = records(rnd, draw(st.integers(30, 400)), start != "ms")
    rows = len(cols["line"])
    texts: dict[int, str] = {}
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(0, rows - 1))
        kind = draw(st.sampled_from(("value", "value", "value", "repeat", "text")))
        if kind == "repeat":
            for values in cols.values():
                values.append(values[row])
            rows += 1
        elif kind == "text" and start == "text":  # a start written in a form of its own
            texts[row] = draw(st.sampled_from(STARTS))
        else:
            column = draw(st.sampled_from(sorted(cols)))
            cols[column][row] = _edge(draw, column)
    table = parquet_table(cols, rnd, start, draw(st.booleans()))
    if texts:
        at = table.schema.get_field_index("start")
        starts = table.column(at).to_pylist()
        for row, text in texts.items():
            starts[row] = text
        table = table.set_column(at, "start", pa.array(starts, pa.string()))
    if draw(st.booleans()):  # (else in the types the row proof reads: its checks, and rows set aside)
        table = _retyped(draw, table)
    return table, draw(st.integers(1, rows)), draw(st.booleans()), draw(st.booleans())


@FUZZ
@given(made=_damaged_parquet(), batch=st.sampled_from((61, 1 << 18)), large=st.booleans())
def test_a_damaged_parquet_is_rated_alike_by_the_pyarrow_pass_and_by_duckdb(
    tmp_path_factory: pytest.TempPathFactory, made: tuple[pa.Table, int, bool, bool], batch: int, large: bool
) -> None:
    table, group_rows, statistics, dictionary = made
    path: Path = tmp_path_factory.mktemp("fast-parquet") / "usage.parquet"
    pq.write_table(
        table, path, row_group_size=group_rows, write_statistics=statistics, use_dictionary=dictionary
    )
    with pytest.MonkeyPatch.context() as patch:
        _as_a_large_fleet(patch, large)
        patch.setattr(usage_arrow_checks, "PROVE", True)
        patch.setattr(usage_arrow, "BATCH_ROWS", batch)
        patch.setattr(usage_arrow, "ARROW_ROWS", 0)
        fast = rating(path)
        patch.setattr(usage_arrow, "ARROW_ROWS", 1 << 62)
        slow = rating(path)
    assert fast == slow


def _compressed(data: bytes, codec: str, level: int) -> bytes:
    if codec == "gz":
        return gzip.compress(data, compresslevel=level, mtime=0)
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def _split(data: bytes, parts: int) -> list[bytes]:
    """The CSV text as `parts` files of its rows in order, each with the header (a folder of
    daily exports)."""
    header, _, body = data.partition(b"\n")
    rows = body.splitlines(keepends=True)
    size = max(1, -(-len(rows) // parts))
    return [header + b"\n" + b"".join(rows[i : i + size]) for i in range(0, max(len(rows), 1), size)]


@FUZZ
@given(
    data=_damaged_csv(),
    codec=st.sampled_from(("gz", "zst", "plain")),
    files=st.sampled_from((1, 1, 3)),
    chunk=st.sampled_from((400, 3_000, 1 << 20)),
    piece=st.sampled_from((64, 1 << 17)),
    recent=st.sampled_from((0, 1, 12)),
    threads=st.sampled_from((1, 2)),
    cut=st.sampled_from((None, None, None, 0.3, 0.9)),
)
def test_a_damaged_compressed_csv_or_folder_is_rated_alike_by_pyarrow_and_by_duckdb(
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    codec: str,
    files: int,
    chunk: int,
    piece: int,
    recent: int,
    threads: int,
    cut: float | None,
) -> None:
    """The pass's own decompression (gzip inflated from a kept state, zstd swept again from the
    start, chunks at hand or not) and its reading of several files as one input give what DuckDB
    gives for the same bytes, in small pieces and chunks; compressed data cut short (`cut`: the
    share of the last file's bytes left) are refused alike."""
    if codec == "plain" and files == 1:
        files = 2
    folder = tmp_path_factory.mktemp("fast-compressed")
    parts = _split(data, files) if files > 1 else [data]
    suffix = "" if codec == "plain" else f".{codec}"
    for day, part in enumerate(parts, 1):
        body = part if codec == "plain" else _compressed(part, codec, 1 + day % 9)
        if cut is not None and day == len(parts) and codec != "plain":
            body = body[: max(1, int(len(body) * cut))]
        (folder / f"usage-2026-03-{day:02d}.csv{suffix}").write_bytes(body)
    source: Path = folder if len(parts) > 1 else folder / f"usage-2026-03-01.csv{suffix}"
    with pytest.MonkeyPatch.context() as patch:
        fast, slow = _by_the_pass_and_by_duckdb(
            patch, source, threads, CHUNK_BYTES=chunk, PIECE=piece, ZSTD_PIECE=piece, RECENT=recent
        )
    assert fast == slow


@st.composite
def _text_parquet(draw: st.DrawFn) -> tuple[bytes, pa.Table]:
    """A damaged month as CSV and as Parquet of text converted from it (pyarrow's CSV reader, every
    column as text: an empty cell is ''), some of its '' written as NULL; the rows' type and start
    never empty (an empty one is a reject either way, named otherwise)."""
    import pyarrow.csv as pc

    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    text = csv_file(rnd, draw(st.sampled_from(CSV_STYLES)), draw(st.integers(30, 250))).decode()
    for _ in range(draw(st.integers(0, 4))):
        text = draw(_damaged_lines(text))  # (a twin quoted otherwise is a copy in both)
    data = text.encode()
    names = [n.strip('"\r') for n in text.split("\n", 1)[0].split(",")]
    try:
        table = pc.read_csv(
            pa.BufferReader(data),
            convert_options=pc.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
    except pa.ArrowInvalid:
        assume(False)  # a malformed row: DuckDB lists it, pyarrow refuses the file
    assume(all("" not in table.column(n).to_pylist() for n in ("type", "start")))
    nulls = draw(st.sampled_from((0.0, 0.0, 0.5)))
    typed = draw(st.booleans())  # numbers and `delivered` typed where they can be: the pass reads the rest
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = [None if v == "" and rnd.random() < nulls else v for v in column.to_pylist()]
        array = pa.array(values, pa.string())
        plain = r"true|false" if name == "delivered" else r"-?[1-9][0-9]{0,17}|0"  # (read alike by both)
        if typed and name in (*NUMBERS, "delivered") and all(re.fullmatch(plain, v) for v in values if v):
            array = pa.array([v or None for v in values], pa.string()).cast(
                pa.bool_() if name == "delivered" else pa.int64()
            )
        columns.append(array)
    return data, pa.table(columns, names=table.column_names)


@FUZZ
@given(made=_text_parquet(), group=st.sampled_from((7, 1 << 20)), dictionary=st.booleans())
def test_a_parquet_of_text_is_rated_as_its_csv_by_the_pyarrow_pass_and_by_duckdb(
    tmp_path_factory: pytest.TempPathFactory, made: tuple[bytes, pa.Table], group: int, dictionary: bool
) -> None:
    """'' in a Parquet file of text is an empty CSV cell: the same invoice and rejects."""
    data, table = made
    folder = tmp_path_factory.mktemp("text-parquet")
    csv, parquet = folder / "usage.csv", folder / "usage.parquet"
    csv.write_bytes(data)
    pq.write_table(table, parquet, row_group_size=group, use_dictionary=dictionary)
    expected = rating(csv)[1:]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(usage_arrow_checks, "PROVE", True)
        patch.setattr(usage_arrow, "ARROW_ROWS", 0)
        fast = rating(parquet)[1:]
        patch.setattr(usage_arrow, "ARROW_ROWS", 1 << 62)
        slow = rating(parquet)[1:]
    assert slow == expected
    assert fast == expected
