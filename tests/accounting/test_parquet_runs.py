"""The Parquet writer that encodes the columns of few runs itself (`accounting.parquet_runs`): what
readers see of its files is what they see of pyarrow's with the same schema and options (values,
types, row groups, statistics), and a simulator run's invoices are the same either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import billed

import simulator.engine as engine
from accounting import inventory_from_dict, parquet_runs, rate
from accounting.parquet_runs import RUN_SHARE, NumberedText, RunColumnsWriter
from accounting.usage_claim import FOOTER_KEY, claim_bound, layout_digests
from accounting.usage_writer import UsageWriter
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS
from simulator.run import simulate
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _schema(folder: Path) -> pa.Schema:
    """The simulator's part schema (dictionary columns, REQUIRED columns), as `UsageWriter` makes it."""
    probe = UsageWriter(
        folder / "probe.parquet",
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=REQUIRED_COLUMNS,
    )
    schema = probe._schema
    probe.close()
    return schema


def _runs(rng: np.random.Generator, n: int, runs: int, values: int) -> np.ndarray:
    """n codes in `runs` runs (at most n) of codes below `values`."""
    runs = min(runs, n)
    cuts = np.sort(rng.choice(np.arange(1, n), runs - 1, replace=False)) if runs > 1 else np.array([], int)
    lengths = np.diff(np.concatenate(([0], cuts, [n])))
    return np.repeat(rng.integers(0, values, runs), lengths)


def _batch(schema: pa.Schema, n: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    few = max(n // RUN_SHARE, 1)

    def text(codes: np.ndarray, words: list[str]) -> pa.DictionaryArray:
        # a dictionary of more values than used, not in order
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(words))

    lines = [f"L{k:03d}" for k in rng.permutation(50)]
    if seed == 3:  # a value longer than pyarrow's statistics keep: the chunk has no min and max
        lines = ["L" * 5000 for _ in lines]
    nulls = rng.random(n) < 0.1
    cols: dict[str, Any] = {
        "line": text(_runs(rng, n, few, 50), lines),  # few runs
        "type": text(np.zeros(n, np.int64), ["data", "sms"]),  # one value
        "start": pa.array(1_772_323_200 + np.cumsum(rng.integers(0, 900, n)), pa.timestamp("s", tz="UTC")),
        "duration_s": pa.array(_runs(rng, n, few, 7) * 30, pa.int64()),
        "bytes_up": pa.array(rng.integers(0, 5000, n), pa.int64()),  # a run every value
        "bytes_down": pa.array(np.full(n, -180), pa.int64()),  # negative, one value
        "zone": text(_runs(rng, n, few + 1, 3), ["fr", "eu", "world"]),  # one run too many
        "dest": pa.nulls(n, pa.dictionary(pa.int32(), pa.string())),
        "delivered": pa.array(np.where(nulls | (seed == 3), None, rng.random(n) < 0.5).tolist(), pa.bool_()),
        "session": pa.array([f"s-{k}" for k in range(n)]),
        "imsi": text(_runs(rng, n, 3, 4), ["208010000000002", "208010000000001", "2", "208010000000003"]),
        "imeisv": pa.DictionaryArray.from_arrays(
            pa.array(_runs(rng, n, 3, 2).astype(np.int32), mask=nulls), pa.array(["a", "b"])
        ),  # nulls
        "apn": text(np.zeros(n, np.int64), ["orange.m2m.spec"]),
        "charging_id": pa.array(np.arange(n) + 7, pa.int64()),
        "serving_plmn": text(_runs(rng, n, 2, 2), ["20801", "26201"]),
        "cause": pa.array(_runs(rng, n, few, 3) - 1, pa.int32()),  # -1, 0, 1
        "sequence": pa.array(np.ones(n, np.int32)),
    }
    return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)


def _write(
    path: Path, writer: Any, schema: pa.Schema, batches: list[pa.RecordBatch], options: dict[str, Any]
) -> None:
    with pa.OSFile(str(path), "wb") as sink:
        w = writer(sink, schema, store_schema=False, **options)
        for b in batches:
            w.write_batch(b, 4096)  # a batch cut into row groups
        w.close()


def _statistics(path: Path) -> list[tuple[Any, ...]]:
    footer = pq.read_metadata(path)
    out = []
    for g in range(footer.num_row_groups):
        group = footer.row_group(g)
        for c in range(group.num_columns):
            s = group.column(c).statistics
            if s is None:
                out.append((g, c, group.num_rows, None))
                continue
            minmax = (s.min, s.max, s.min_raw, s.max_raw) if s.has_min_max else None
            out.append(
                (
                    g,
                    c,
                    group.num_rows,
                    s.num_values,
                    s.has_null_count,
                    s.null_count,
                    s.has_distinct_count,
                    minmax,
                )
            )
    return out


def _duckdb_metadata(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT row_group_id, path_in_schema, type, num_values, stats_min, stats_max, stats_null_count, "
        "stats_min_value, stats_max_value, min_is_exact, max_is_exact FROM parquet_metadata(?) "
        "ORDER BY row_group_id, column_id",
        [str(path)],
    ).fetchall()


@pytest.mark.parametrize("statistics", ["the parts'", "all"])
def test_readers_see_the_same_file_as_pyarrows(tmp_path: Path, statistics: str) -> None:
    options = dict(PART_PARQUET_OPTIONS)
    if statistics == "all":
        options["write_statistics"] = True
    schema = _schema(tmp_path)
    batches = [_batch(schema, n, seed) for n, seed in ((10_000, 1), (1, 2), (3000, 3))]
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    _write(ours, RunColumnsWriter, schema, batches, options)
    _write(theirs, pq.ParquetWriter, schema, batches, options)
    mine, pyarrows = pq.read_table(ours), pq.read_table(theirs)
    assert mine.schema == pyarrows.schema and mine.equals(pyarrows)
    assert _statistics(ours) == _statistics(theirs)
    con = duckdb.connect()
    assert _duckdb_metadata(con, ours) == _duckdb_metadata(con, theirs)
    both = [str(ours), str(theirs)]
    assert con.execute("SELECT count(*) FROM read_parquet(?)", [[str(ours)]]).fetchone() == (13_001,)
    for a, b in (both, both[::-1]):
        assert con.execute(f"SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}'").fetchall() == []
    # the runs were encoded here: `cause` is PLAIN in pyarrow's file, a dictionary in this one
    encodings = (
        "SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'cause' AND row_group_id = 0"
    )
    assert con.execute(encodings, [str(ours)]).fetchone() == ("PLAIN, RLE, RLE_DICTIONARY",)
    assert con.execute(encodings, [str(theirs)]).fetchone() == ("RLE, PLAIN",)
    # and a column of nulls alone as definition levels (pyarrow's: an empty dictionary, codes)
    nulls = "SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'dest' AND row_group_id = 0"
    assert con.execute(nulls, [str(ours)]).fetchone() == ("RLE, PLAIN",)
    assert con.execute(nulls, [str(theirs)]).fetchone() == ("PLAIN, RLE, RLE_DICTIONARY",)
    # a file without rows
    _write(ours, RunColumnsWriter, schema, [], options)
    _write(theirs, pq.ParquetWriter, schema, [], options)
    assert pq.read_table(ours).equals(pq.read_table(theirs)) and pq.read_table(ours).num_rows == 0
    assert con.execute("SELECT count(*) FROM read_parquet(?)", [[str(ours)]]).fetchone() == (0,)


@pytest.mark.parametrize("version", ["2.6", "1.0"])
def test_unsigned_columns_have_pyarrows_values_and_statistics(tmp_path: Path, version: str) -> None:
    # unsigned integers: values past the signed types' range, statistics in unsigned order and no
    # deprecated min and max (whose order is signed), as pyarrow writes them; but a version 1.0 file
    # stores a uint32 as a plain INT64, ordered signed, with them
    types = {"u8": pa.uint8(), "u16": pa.uint16(), "u32": pa.uint32(), "u64": pa.uint64(), "i8": pa.int8()}
    schema = pa.schema([pa.field(name, t) for name, t in types.items()])
    n = 4096
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(
                np.repeat(np.array([1, np.iinfo(t.to_pandas_dtype()).max, 0, 7], t.to_pandas_dtype()), n // 4)
            )
            for t in types.values()
        ],
        schema=schema,
    )
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    _write(ours, RunColumnsWriter, schema, [batch, batch.slice(0, n // 2)], {"version": version})
    _write(theirs, pq.ParquetWriter, schema, [batch, batch.slice(0, n // 2)], {"version": version})
    assert pq.read_table(ours).equals(pq.read_table(theirs))
    assert _statistics(ours) == _statistics(theirs)
    con = duckdb.connect()
    assert _duckdb_metadata(con, ours) == _duckdb_metadata(con, theirs)
    encodings = "SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'u64' AND row_group_id = 0"
    assert con.execute(encodings, [str(ours)]).fetchone() == ("PLAIN, RLE, RLE_DICTIONARY",)


def test_page_checksums_asked_for_are_written_on_its_own_pages_too(tmp_path: Path) -> None:
    schema = pa.schema([("runs", pa.int64()), ("nulls", pa.int64()), ("each", pa.int64())])
    n = 10_000
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.repeat([5, 6], n // 2)), pa.nulls(n, pa.int64()), pa.array(np.arange(n))], schema=schema
    )
    options = {"write_page_checksum": True, "compression": "none"}
    path = tmp_path / "ours.parquet"
    _write(path, RunColumnsWriter, schema, [batch], options)
    # every page's checksum is right: the file reads with verification, as written
    assert pq.read_table(path, page_checksum_verification=True).equals(pa.Table.from_batches([batch]))
    # and a page of a column encoded here that changed on disk is told, not read as other values
    data = bytearray(path.read_bytes())
    start = pq.read_metadata(path).row_group(0).column(0).dictionary_page_offset
    at = bytes(data).index((5).to_bytes(8, "little"), start)
    data[at] = 9
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match="CRC checksum verification failed"):
        pq.read_table(path, page_checksum_verification=True)


def test_a_row_group_size_is_taken_as_pyarrows_writer_takes_it(tmp_path: Path) -> None:
    schema = pa.schema([("runs", pa.int64())])
    batch = pa.RecordBatch.from_arrays([pa.array(np.repeat([1, 2], 3000))], schema=schema)
    with pa.OSFile(str(tmp_path / "x.parquet"), "wb") as sink:
        w = RunColumnsWriter(sink, schema)
        w.write_batch(batch, -1)  # (pyarrow's "no size given": its rows were dropped, no row group written)
        for size in (0, -2):
            with pytest.raises(ValueError, match="row group size"):
                w.write_batch(batch, size)
        w.close()
    assert pq.read_table(tmp_path / "x.parquet").equals(pa.Table.from_batches([batch]))


def test_a_column_of_the_null_type_has_pyarrows_statistics(tmp_path: Path) -> None:
    schema = pa.schema([("none", pa.null()), ("absent", pa.int64())])
    batch = pa.RecordBatch.from_arrays([pa.nulls(5000), pa.nulls(5000, pa.int64())], schema=schema)
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    _write(ours, RunColumnsWriter, schema, [batch], {})
    _write(theirs, pq.ParquetWriter, schema, [batch], {})
    assert pq.read_table(ours).equals(pq.read_table(theirs))
    assert _statistics(ours) == _statistics(theirs)
    con = duckdb.connect()
    assert _duckdb_metadata(con, ours) == _duckdb_metadata(con, theirs)


def test_options_it_cannot_carry_over_are_refused(tmp_path: Path) -> None:
    # a page index lies outside the column chunks copied: its offsets would point elsewhere
    with (
        pa.OSFile(str(tmp_path / "x.parquet"), "wb") as sink,
        pytest.raises(ValueError, match="write_page_index"),
    ):
        RunColumnsWriter(sink, _schema(tmp_path), **PART_PARQUET_OPTIONS, write_page_index=True)


def test_a_batch_or_schema_it_cannot_write_is_refused(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    with pa.OSFile(str(tmp_path / "x.parquet"), "wb") as sink:
        w = RunColumnsWriter(sink, schema, **PART_PARQUET_OPTIONS)
        plain = pa.schema(
            [pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in schema]
        )
        with pytest.raises(ValueError, match="does not match"):
            w.write_batch(_batch(schema, 10, 1).cast(plain))
        nested = pa.schema([pa.field("a", pa.struct([("b", pa.int32()), ("c", pa.int32())]))])
        with pytest.raises(ValueError, match="flat schema"):
            RunColumnsWriter(sink, nested)


def test_runs_of_codes_shared_by_columns_are_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the simulator hands the line, IMSI and IMEISV one array of codes (a value a device each), and
    # the columns of one value (type, zone, APN, network) another: a row group finds the runs of
    # each array once, and the file is still pyarrow's
    schema = _schema(tmp_path)
    rng = np.random.default_rng(7)
    n = 5000
    base = _batch(schema, n, 1)
    per_device = pa.array(_runs(rng, n, 40, 40).astype(np.int32))
    one = pa.array(np.zeros(n, np.int32))
    words = {
        "line": [f"L{k:03d}" for k in range(40)],
        "imsi": [f"2080100000{k:05d}" for k in range(40)],
        "imeisv": [f"35332811{k:08d}" for k in range(40)],
    }
    cols = {f.name: base.column(f.name) for f in schema}
    for name, values in words.items():
        cols[name] = pa.DictionaryArray.from_arrays(per_device, pa.array(values), safe=False)
    for name, value in (("type", "data"), ("zone", "fr"), ("apn", "m2m"), ("serving_plmn", "20801")):
        cols[name] = pa.DictionaryArray.from_arrays(one, pa.array([value]), safe=False)
    cols["imeisv"] = cols["imeisv"].cast(schema.field("imeisv").type)
    batch = pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)
    calls: list[int] = []
    found = parquet_runs._runs
    monkeypatch.setattr(parquet_runs, "_runs", lambda values: calls.append(len(values)) or found(values))
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    _write(ours, RunColumnsWriter, schema, [batch], dict(PART_PARQUET_OPTIONS))
    _write(theirs, pq.ParquetWriter, schema, [batch], dict(PART_PARQUET_OPTIONS))
    assert pq.read_table(ours).equals(pq.read_table(theirs))
    assert _statistics(ours) == _statistics(theirs)
    # in each of the 2 row groups (4096 rows, then 904): the two shared arrays once each, and the
    # six integer columns (duration, the volumes, charging id, cause, sequence) each
    assert len(calls) == 2 * (2 + 6)


def _run(tmp_path: Path, name: str, run_columns: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(engine, "RUN_COLUMNS", run_columns)
    sc = load_scenario(SCENARIOS / "default.yaml", days=1, max_lines=40, shard_devices=16)
    return sc, simulate(sc, tmp_path / name, workers=1, merge=False)


def test_a_runs_invoices_are_the_same_as_with_pyarrows_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc, ours = _run(tmp_path, "ours", True, monkeypatch)
    _, theirs = _run(tmp_path, "theirs", False, monkeypatch)
    assert (ours.out_dir / "invoice.txt").read_bytes() == (theirs.out_dir / "invoice.txt").read_bytes()
    # (the bill: the parts rated, `usage_files`, are each writer's bytes)
    docs = [json.loads((r.out_dir / "invoice.json").read_text()) for r in (ours, theirs)]
    assert billed(docs[0]) == billed(docs[1])
    inventory = inventory_from_dict(sc.inventory, sc.source)
    mine, pyarrows = (sorted((r.out_dir / "usage").glob("part-*.parquet")) for r in (ours, theirs))
    assert len(mine) > 1
    con = duckdb.connect()
    cause = "SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'cause'"
    assert any("RLE_DICTIONARY" in r[0] for p in mine for r in con.execute(cause, [str(p)]).fetchall())
    for a, b in zip(mine, pyarrows, strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))
        assert _statistics(a) == _statistics(b)
        claim = json.loads(pq.read_metadata(a).metadata[FOOTER_KEY.encode()])
        assert claim["unique"] and claim["rows"] == pq.read_metadata(a).num_rows
        assert claim_bound(claim, layout_digests([a])[str(a)])  # the rating believes it
    # the rating of the part files (their footers' claims and statistics read): the same invoice
    rated = [rate(inventory, parts) for parts in (mine, pyarrows)]
    assert billed(rated[0].to_dict()) == billed(rated[1].to_dict())
    assert rated[0].rows_read == sum(pq.read_metadata(p).num_rows for p in mine)


def _numbered_cases() -> list[tuple[str, list[bytes], np.ndarray, np.ndarray]]:
    """(name, prefixes, index, numbers): session ids as the simulator hands them, and edge cases."""
    rng = np.random.default_rng(11)
    prefixes = [b"M01001-", b"M01002-", b"X-", b"", "Zé-".encode()]
    out = []
    for first in (0, 7, 95, 998, 9_990, 99_990, 131_203_072, 4_294_967_290, 10**17 - 50):
        n = int(rng.integers(2, 6000))
        index = np.repeat(rng.integers(0, len(prefixes), 8), -(-n // 8))[:n]
        numbers = first + np.arange(n)
        numbers[n // 2 :] += int(rng.integers(0, 3))  # (a jump or none: a device's next stretch)
        out.append((f"runs from {first}", prefixes, index, numbers))
    out.append(("one value", prefixes, np.array([4]), np.array([12])))
    out.append(("one run", prefixes[:1], np.zeros(3000, np.int64), np.arange(3000) + 10**9 - 1500))
    out.append(("repeated ids", prefixes, np.zeros(500, np.int64), np.repeat(np.arange(250), 2)))
    out.append(("a negative id", prefixes, np.zeros(300, np.int64), np.arange(300) - 1))
    out.append(("no runs", prefixes, rng.integers(0, 5, 700), rng.integers(0, 10**6, 700)))
    long = [b"L" * 300 + b"-"]
    out.append(("long values", long, np.zeros(200, np.int64), np.arange(200) + 10**12))
    # lines are any text: names that read as paths (absolute, with `//` or `/./`), each run's
    # first id its line's next to the last of the run before (a common prefix of their digits
    # too), and multi-byte ones apart by a byte of a character
    for name, paths in (
        ("lines read as paths", [b"a//b-", b"a/b-", b"x/./y-", b"x/y-", "é-".encode(), "è-".encode()]),
        ("absolute and relative paths", [b"/site/A-", b"site/A-"]),
    ):
        runs = np.arange(len(paths) * 3) % len(paths)
        starts = 10_000 + 199 * np.arange(len(runs))
        numbers = (starts[:, None] + np.arange(200)).reshape(-1)
        out.append((name, paths, np.repeat(runs, 200), numbers))
    return out


def _text(prefixes: list[bytes], index: np.ndarray, numbers: np.ndarray) -> pa.Array:
    return pa.array(
        [
            (prefixes[i] + str(x).encode()).decode()
            for i, x in zip(index.tolist(), numbers.tolist(), strict=True)
        ],
        pa.string(),
    )


@pytest.mark.parametrize("case", _numbered_cases(), ids=[c[0] for c in _numbered_cases()])
@pytest.mark.parametrize("options", ["the parts'", "uncompressed, checksums, required"])
def test_session_ids_given_as_numbers_read_as_pyarrows_text(
    tmp_path: Path, case: tuple[str, list[bytes], np.ndarray, np.ndarray], options: str
) -> None:
    _, prefixes, index, numbers = case
    schema = _schema(tmp_path)
    opts = dict(PART_PARQUET_OPTIONS)
    if options != "the parts'":
        opts["compression"] = {**opts["compression"], "session": "none"}
        opts["compression_level"] = {k: v for k, v in opts["compression_level"].items() if k != "session"}
        opts["write_page_checksum"] = True
        i = schema.get_field_index("session")
        schema = schema.set(i, schema.field(i).with_nullable(False))
    n = len(numbers)
    text = _text(prefixes, index, numbers)
    made: list[int] = []

    def make() -> pa.Array:
        made.append(1)
        return text

    column = NumberedText(prefixes, index.astype(np.int64), numbers.astype(np.int64), make)
    base = _batch(schema, n, 1)
    theirs_batch = base.set_column(schema.get_field_index("session"), schema.field("session"), text)
    holder = base.set_column(
        schema.get_field_index("session"), schema.field("session"), pa.array(["?"] * n, pa.string())
    )
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    with pa.OSFile(str(ours), "wb") as sink:
        w = RunColumnsWriter(sink, schema, store_schema=False, **opts)
        assert w.takes_numbered(schema.get_field_index("session"))
        w.write_batch(holder, 4096, numbered={schema.get_field_index("session"): column})
        w.close()
    _write(theirs, pq.ParquetWriter, schema, [theirs_batch], opts)
    mine = pq.read_table(ours)
    assert mine.equals(pq.read_table(theirs)) and mine.column("session").to_pylist() == text.to_pylist()
    con = duckdb.connect()
    sessions = "SELECT session FROM read_parquet(?)"
    assert [r[0] for r in con.execute(sessions, [str(ours)]).fetchall()] == text.to_pylist()
    assert _duckdb_metadata(con, ours) == _duckdb_metadata(con, theirs)
    # encoded from the numbers, the strings not made; else (repeats, a negative id, no runs) from them
    encodings = "SELECT DISTINCT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'session'"
    assert con.execute(encodings, [str(ours)]).fetchall() == [("RLE, DELTA_BYTE_ARRAY",)]
    fell_back = case[0] in ("repeated ids", "a negative id", "no runs")
    assert bool(made) == fell_back


def test_a_usage_writer_gives_numbered_session_ids_as_text_to_csv_and_pyarrow(tmp_path: Path) -> None:
    _, prefixes, index, numbers = _numbered_cases()[0]
    text = _text(prefixes, index, numbers)
    n = len(numbers)
    columns = {
        "line": ["L1"] * n,
        "type": ["data"] * n,
        "start": np.full(n, 1_772_323_200),
        "duration_s": np.ones(n, np.int64),
        "bytes_up": np.ones(n, np.int64),
        "bytes_down": np.ones(n, np.int64),
        "zone": ["fr"] * n,
    }
    tables = []
    for name, run_columns in (("ours.parquet", True), ("theirs.parquet", False), ("usage.csv", False)):
        column = NumberedText(prefixes, index.astype(np.int64), numbers.astype(np.int64), lambda: text)
        with UsageWriter(
            tmp_path / name,
            dictionary_columns=DICTIONARY_COLUMNS,
            parquet_options=PART_PARQUET_OPTIONS,
            required_columns=REQUIRED_COLUMNS,
            run_columns=run_columns,
        ) as w:
            w.write_columns({**columns, "session": column})
        tables.append(
            duckdb.connect()
            .execute(
                "SELECT session FROM read_parquet(?)"
                if name.endswith("parquet")
                else "SELECT session FROM read_csv(?)",
                [str(tmp_path / name)],
            )
            .fetchall()
        )
    assert tables[0] == tables[1] == tables[2] == [(s,) for s in text.to_pylist()]


def _session_pages(path: Path, at: int) -> list[bytes]:
    """The data page of column `at` of each row group of `path`, its header left out."""
    data, meta = path.read_bytes(), pq.read_metadata(path)
    pages = []
    for g in range(meta.num_row_groups):
        chunk = meta.row_group(g).column(at)
        assert chunk.dictionary_page_offset is None
        reader = parquet_runs._Reader(data, chunk.data_page_offset)
        reader.struct()
        end = chunk.data_page_offset + chunk.total_compressed_size
        pages.append(data[reader.pos : end])
    return pages


@pytest.mark.parametrize("case", _numbered_cases(), ids=[c[0] for c in _numbered_cases()])
def test_session_ids_given_as_numbers_are_pyarrows_page(
    tmp_path: Path, case: tuple[str, list[bytes], np.ndarray, np.ndarray]
) -> None:
    # the DELTA_BYTE_ARRAY made from the numbers is the one pyarrow's writer makes of the strings,
    # byte for byte (uncompressed): each value's longest common prefix with the one before, also
    # where the line changes
    _, prefixes, index, numbers = case
    schema = _schema(tmp_path)
    at = schema.get_field_index("session")
    opts = dict(PART_PARQUET_OPTIONS)
    opts["compression"] = {**opts["compression"], "session": "none"}
    opts["compression_level"] = {k: v for k, v in opts["compression_level"].items() if k != "session"}
    text = _text(prefixes, index, numbers)
    column = NumberedText(prefixes, index.astype(np.int64), numbers.astype(np.int64), lambda: text)
    base = _batch(schema, len(numbers), 1)
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    with pa.OSFile(str(ours), "wb") as sink:
        w = RunColumnsWriter(sink, schema, store_schema=False, **opts)
        w.write_batch(base, 4096, numbered={at: column})
        w.close()
    _write(theirs, pq.ParquetWriter, schema, [base.set_column(at, schema.field("session"), text)], opts)
    assert _session_pages(ours, at) == _session_pages(theirs, at)
