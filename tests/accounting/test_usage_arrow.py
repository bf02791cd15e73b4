"""The settled aggregate read by pyarrow and NumPy (`accounting.usage_arrow`) against DuckDB's scan.

Many seeded files whose row checks the statistics settle (the simulator's writer, and plain
pyarrow files whose starts and durations stay inside the month), with the keys the scan sorts
out later (unknown lines, an empty line, empty and unknown zones, missing or unknown
destinations, unknown types, data rows lacking a byte count, NULL durations, `delivered` absent,
constant or varying), in several row groups and batches: the same `Group`s and the same invoice,
byte for byte, whichever path aggregates.  And the inputs the path leaves to DuckDB.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import first_then_long
from usage_forms import INV, LINES, MONTH, PERIODS, answers, write_claimed

from accounting import rate, usage_arrow, usage_arrow_checks
from accounting.usage import Group, UsageReader
from accounting.usage_writer import UsageWriter
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS


def _rows(rnd: random.Random, n: int, odd: bool, delivered: str) -> dict[str, list[Any]]:
    """`n` records as columns; `odd`: keys and values the later checks reject or sort out."""
    lines = [*LINES, "X1"] + (["", "Y2"] if odd else [])
    kinds = ["data"] * 6 + ["sms", "voice", "csd", "sms_internet", "location_hit"] + (["fax"] if odd else [])
    zones: list[str | None] = ["fr", "eu", "world", *(("", None, "mars") if odd else ())]
    dests: list[str | None] = ["fr-mobile", "fr-fixed", *((None, "", "moon") if odd else ())]
    start = MONTH[0] + timedelta(hours=1)
    cols: dict[str, list[Any]] = {k: [] for k in ("line", "type", "start", "duration_s", "bytes_up")}
    cols |= {k: [] for k in ("bytes_down", "zone", "dest", "delivered", "session")}
    for i in range(n):
        kind = rnd.choice(kinds)
        big = rnd.random() < 0.05  # ko and seconds far from a float's exact range when summed
        cols["line"].append(rnd.choice(lines))
        cols["type"].append(kind)
        cols["start"].append(start + timedelta(seconds=rnd.randrange(20 * 86_400)))
        cols["duration_s"].append(
            None
            if odd and rnd.random() < 0.05
            else rnd.choice((0, 1, 29, 30, 31, 59, 60, 61, rnd.randrange(43_201)))
            if not big
            else 43_200
        )
        missing = odd and kind == "data" and rnd.random() < 0.05
        up = rnd.randrange(3_000_000_000) if big else rnd.randrange(9000)
        cols["bytes_up"].append(None if missing and rnd.random() < 0.5 else up)
        cols["bytes_down"].append(
            None if missing and cols["bytes_up"][-1] is not None else rnd.randrange(700)
        )
        cols["zone"].append(rnd.choice(zones) if kind == "data" or odd else "fr")
        cols["dest"].append(None if kind == "data" and not odd else rnd.choice(dests))
        cols["delivered"].append(
            None if delivered == "none" else True if delivered == "true" else rnd.choice((True, False, None))
        )
        cols["session"].append(f"s{i}")
    if delivered == "none":
        del cols["delivered"]
    return cols


def _plain_table(cols: dict[str, list[Any]]) -> pa.Table:
    """The records as a table of plain types (text keys, a typed start, int64 counts)."""
    return pa.table(
        {
            "line": pa.array(cols["line"], pa.string()),
            "type": pa.array(cols["type"], pa.string()),
            "start": pa.array(cols["start"], pa.timestamp("s", tz="UTC")),
            **{k: pa.array(cols[k], pa.int64()) for k in ("duration_s", "bytes_up", "bytes_down")},
            "zone": pa.array(cols["zone"], pa.string()),
            "dest": pa.array(cols["dest"], pa.string()),
        }
    )


def _simulator_file(path: Path, seed: int, odd: bool, delivered: str, chunks: int) -> None:
    """As the simulator writes its usage: dictionary strings, its encodings, a footer."""
    rnd = random.Random(seed)
    required = REQUIRED_COLUMNS if not odd else ("line", "type", "start")
    with UsageWriter(
        path,
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=required,
        origin={"run": f"test {seed}", "shard": 0},
    ) as w:
        for _ in range(chunks):  # a row group each, each with its own dictionaries
            n = rnd.randrange(1, 400)
            w.write_columns(_rows(rnd, n, odd, delivered), length=n)


def _pyarrow_file(path: Path, seed: int, odd: bool, copies: int) -> None:
    """A typed Parquet written by pyarrow (no footer claim: the duplicate search runs), with
    `copies` rows repeated."""
    rnd = random.Random(seed)
    cols = _rows(rnd, rnd.randrange(200, 900), odd, "none")
    del cols["session"]
    table = _plain_table(cols)
    if copies:
        table = pa.concat_tables([table, table.take([rnd.randrange(len(table)) for _ in range(copies)])])
    if seed % 2:  # the text columns as Arrow dictionaries (their type stored in the file's schema)
        for i, name in enumerate(table.column_names):
            if name in ("line", "type", "zone", "dest"):
                table = table.set_column(i, name, table[name].dictionary_encode())
    pq.write_table(table, path, row_group_size=max(len(table) // 3, 1))


def _groups(source: Any, arrow: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], int]:
    """The aggregates, normalised for comparison, and how many times the pyarrow path answered."""
    real = usage_arrow.settled_rows
    answered = answers(monkeypatch, usage_arrow, "settled_rows")
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if arrow else 1 << 62)
    groups = UsageReader(source).aggregate(*MONTH, PERIODS)
    monkeypatch.setattr(usage_arrow, "settled_rows", real)
    return sorted((_plain(g) for g in groups), key=repr), sum(answered)


def _plain(g: Group) -> tuple[Any, ...]:
    return (*g[:9], sorted(g.beyond.items()))


def _invoice(source: Any, arrow: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if arrow else 1 << 62)
    invoice = rate(INV, source)
    return invoice.render_text(), json.dumps(invoice.to_json(), sort_keys=True)


def _same_both_ways(source: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    by_arrow, answered = _groups(source, True, monkeypatch)
    by_duckdb, unasked = _groups(source, False, monkeypatch)
    assert unasked == 0
    assert by_arrow == by_duckdb
    assert _invoice(source, True, monkeypatch) == _invoice(source, False, monkeypatch)
    return answered


@pytest.mark.parametrize("seed", first_then_long(range(12), 6))
def test_the_simulators_files_aggregate_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = seed % 2 == 1
    delivered = ("none", "true", "vary")[seed % 3]
    path = tmp_path / "u.parquet"
    _simulator_file(path, seed, odd, delivered, chunks=1 + seed % 4)
    assert UsageReader(path)._scan_sql(*MONTH, PERIODS).settled
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", (97, 1024)[seed % 2])  # several batches a row group
    assert _same_both_ways(path, monkeypatch) == 1


@pytest.mark.parametrize("step", [1, 5, 1 << 30])
def test_the_combinations_a_sample_misses_are_counted_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    """A batch's combinations guessed from every row, from one in five, or from its first row only
    (every other combination then found by the batch's second count)."""
    path = tmp_path / "u.parquet"
    _simulator_file(path, 5, odd=True, delivered="vary", chunks=2)
    monkeypatch.setattr(usage_arrow, "SAMPLE_STEP", step)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 211)
    assert _same_both_ways(path, monkeypatch) == 1


@pytest.mark.parametrize("seed", range(8))
def test_typed_pyarrow_files_with_duplicates_aggregate_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "typed.parquet"
    _pyarrow_file(path, 100 + seed, odd=seed % 2 == 0, copies=seed % 3)
    # another writer's statistics settle nothing: the pass takes it with its row proof
    assert not UsageReader(path)._scan_sql(*MONTH, PERIODS).settled
    assert _same_both_ways(path, monkeypatch) == 1  # the copies are taken back out by DuckDB


def test_several_files_read_as_one_aggregate_alike_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for shard in range(3):
        path = tmp_path / f"part-{shard}.parquet"
        rnd = random.Random(shard)
        with UsageWriter(
            path,
            dictionary_columns=DICTIONARY_COLUMNS,
            parquet_options=PART_PARQUET_OPTIONS,
            required_columns=("line", "type", "start"),
            origin={"run": "test", "shard": shard},
        ) as w:
            for _ in range(2):
                w.write_columns(_rows(rnd, 300, True, "vary"), length=300)
        paths.append(path)
    assert _same_both_ways(paths, monkeypatch) == 1


def test_sums_that_may_pass_64_bits_are_left_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "u.parquet"
    _simulator_file(path, 5, odd=False, delivered="true", chunks=3)
    assert _same_both_ways(path, monkeypatch) == 1
    monkeypatch.setattr(usage_arrow, "_FITS", 1 << 20)  # a sum that may not fit: DuckDB's
    assert _same_both_ways(path, monkeypatch) == 0


def _unsettled_or_declined(tmp_path: Path) -> dict[str, Sequence[Path]]:
    """Inputs the pyarrow path leaves to DuckDB, each with a reason in its name."""
    base = tmp_path / "base.parquet"
    _pyarrow_file(base, 7, odd=False, copies=0)
    table = pq.read_table(base)
    made: dict[str, Sequence[Path]] = {}
    other = tmp_path / "other.parquet"
    pq.write_table(table.append_column("extra", pa.array([1] * len(table))), other)
    made["files whose schemas differ"] = [base, other]
    narrow = tmp_path / "narrow.parquet"
    pq.write_table(table.set_column(4, "bytes_up", pa.array([5] * len(table), pa.int32())), narrow)
    made["a byte count of another type"] = [narrow]
    late = tmp_path / "late.parquet"
    later = pa.array([datetime(2026, 3, 31, 23, tzinfo=UTC)] * len(table), pa.timestamp("s", tz="UTC"))
    longer = table.schema.get_field_index("duration_s")
    pq.write_table(
        table.set_column(2, "start", later).set_column(
            longer, "duration_s", pa.array([13 * 3_600 + 1] * len(table), table.schema.field(longer).type)
        ),
        late,
    )
    made["records that may last more than 12 h past the month (unsettled)"] = [late]
    return made


def test_what_the_path_is_not_sure_of_is_left_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pass's own judgement: the row proof (which may prove the unsettled rows) is off here.
    monkeypatch.setattr(usage_arrow_checks, "PROVE", False)
    for reason, paths in _unsettled_or_declined(tmp_path).items():
        assert _same_both_ways(list(paths), monkeypatch) == 0, reason


def test_a_month_of_the_simulators_shape_is_read_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches much smaller than the row groups: the dictionaries of a row group are mapped once."""
    path = tmp_path / "u.parquet"
    args = _pass_args(path, 42, chunks=6)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 13)
    small = usage_arrow.settled_rows(*args, threads=False)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 1 << 20)
    large = usage_arrow.settled_rows(*args, threads=True)
    assert small is not None and large is not None
    assert _flat(small) == _flat(large)
    assert sum(n for block in small for n in block.rows) == pq.ParquetFile(path).metadata.num_rows


def _pass_args(
    path: Path, seed: int, chunks: int
) -> tuple[Sequence[Path], dict[str, str], usage_arrow.Settled, Sequence[int]]:
    """A simulator's file with odd keys and a varying `delivered`, and the pass's arguments for it."""
    _simulator_file(path, seed, odd=True, delivered="vary", chunks=chunks)
    reader = UsageReader(path)
    scan = reader._scan_sql(*MONTH, PERIODS)
    assert scan.plan is not None
    return reader.parquet_files, reader.types, scan.plan, PERIODS


def _row_group_tables(path: Path, plan: usage_arrow.Settled) -> list[pa.Table]:
    """A file's row groups as tables of the columns the pass reads, as `table_rows` takes them."""
    columns = [name for name in (*plan.keys, plan.bytes_up, plan.bytes_down, plan.duration_s) if name]
    if isinstance(plan.delivered, str):
        columns.append(plan.delivered)
    reader = pq.ParquetFile(path, read_dictionary=[name for name in plan.keys if name])
    return [reader.read_row_group(g, columns=columns) for g in range(reader.metadata.num_row_groups)]


def _flat(blocks: list[usage_arrow.Block]) -> list[tuple[Any, ...]]:
    """The settled rows, one per (key, line), in a fixed order."""
    rows: list[tuple[Any, ...]] = []
    for block in blocks:
        calls: list[Any] = block.calls or [None] * len(block.lines)
        rows += zip(
            [block.key] * len(block.lines),
            block.lines,
            block.rows,
            block.ko,
            block.with_bytes,
            calls,
            strict=True,
        )
    return sorted(rows, key=repr)


@pytest.mark.parametrize(("limit", "value"), [("MAX_GROUP_ROWS", 50), ("MAX_CELLS", 40), ("MAX_SPACE", 2)])
def test_inputs_past_the_memory_the_path_allows_itself_are_left_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, value: int
) -> None:
    """Row groups read whole, the dense (line, combination) tables, a batch's combinations."""
    path = tmp_path / "u.parquet"
    _simulator_file(path, 3, odd=True, delivered="vary", chunks=3)
    assert _same_both_ways(path, monkeypatch) == 1
    monkeypatch.setattr(usage_arrow, limit, value)
    assert _same_both_ways(path, monkeypatch) == 0


class _Seen:
    """A row check that counts the rows it is shown and the starts among its columns."""

    def __init__(self) -> None:
        self.columns = ["start"]
        self.rows = 0
        self.starts = 0

    def __call__(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        self.starts += batch.num_rows - batch.column(batch.schema.get_field_index("start")).null_count


class _Refuse:
    def __init__(self) -> None:
        self.columns: list[str] = []

    def __call__(self, batch: pa.RecordBatch) -> None:
        raise ValueError("a row fails")


def test_a_row_check_is_shown_every_row_and_its_refusal_leaves_the_scan_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "u.parquet"
    args = _pass_args(path, 11, chunks=3)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 97)
    seen = _Seen()
    checked = usage_arrow.settled_rows(*args, threads=True, check=seen)
    unchecked = usage_arrow.settled_rows(*args, threads=True)
    assert checked is not None and unchecked is not None and _flat(checked) == _flat(unchecked)
    rows = pq.ParquetFile(path).metadata.num_rows
    assert seen.rows == seen.starts == rows  # every row, with the column the check asked for
    assert usage_arrow.settled_rows(*args, threads=True, check=_Refuse()) is None
    assert usage_arrow.settled_rows(*args, threads=False, check=_Refuse()) is None


@pytest.mark.parametrize("seed", first_then_long(range(6), 3))
def test_two_workers_give_what_one_thread_gives_in_the_same_order(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several files of many row groups, read a batch at a time by two workers in turns: the same
    blocks, lines and sums, in the same order, as one thread reading them all, run after run."""
    rnd = random.Random(seed)
    paths = []
    for shard in range(1 + seed % 3):
        path = tmp_path / f"part-{shard}.parquet"
        with UsageWriter(
            path,
            dictionary_columns=DICTIONARY_COLUMNS,
            parquet_options=PART_PARQUET_OPTIONS,
            required_columns=("line", "type", "start"),
            origin={"run": f"test {seed}", "shard": shard},
        ) as w:
            for _ in range(rnd.randrange(2, 9)):  # a row group each
                n = rnd.randrange(1, 500)
                w.write_columns(
                    _rows(rnd, n, rnd.random() < 0.5, ("none", "true", "vary")[seed % 3]), length=n
                )
        paths.append(path)
    reader = UsageReader(paths)
    scan = reader._scan_sql(*MONTH, PERIODS)
    assert scan.plan is not None
    args = (reader.parquet_files, reader.types, scan.plan, PERIODS)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", (37, 128, 1 << 18)[seed % 3])
    one = usage_arrow.settled_rows(*args, threads=False)
    assert one is not None
    for _ in range(3):
        assert usage_arrow.settled_rows(*args, threads=True) == one
    assert sum(sum(block.rows) for block in one) == sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    assert _same_both_ways(paths, monkeypatch) == 1


def _growing_file(path: Path, seed: int, dictionary: bool) -> pa.Table:
    """A pyarrow-written month whose later rows bring lines the first ones lack, its text
    columns stored without a dictionary, or with one that outgrows its page limit (the rest of
    the chunk then written without it); several row groups."""
    rnd = random.Random(seed)
    cols = _rows(rnd, 5000, odd=seed % 2 == 1, delivered="none")
    del cols["session"]
    cols["line"] = [
        f"Z{rnd.randrange(1 + i // 2)}" if rnd.random() < 0.5 else line for i, line in enumerate(cols["line"])
    ]
    # the simulator's footer claim (the rows counted): its statistics believed, its scan settled
    table = _plain_table(cols)
    options: dict[str, Any] = {"dictionary_pagesize_limit": 2000} if dictionary else {"use_dictionary": False}
    claim = {"rows": len(table)}
    write_claimed(table, path, claim, data_page_size=1000, row_group_size=len(table) // 2, **options)
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert chunk.has_dictionary_page is dictionary and "PLAIN" in chunk.encodings
    return table


@pytest.mark.parametrize(("seed", "dictionary"), [(1, True), (2, False), (3, True), (4, False)])
def test_a_dictionary_that_grows_within_a_row_group_is_coded_again_alike(
    tmp_path: Path, seed: int, dictionary: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text columns stored without a dictionary, or whose dictionary outgrew its page limit: read
    a batch at a time, each later batch comes with a larger dictionary, coded again as it comes.
    The pass answers, with DuckDB's aggregates and invoice, and the same blocks, in the same
    order, on two workers as on one thread, run after run."""
    path = tmp_path / "grows.parquet"
    _growing_file(path, seed, dictionary)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 300)
    batches = pq.ParquetFile(path, read_dictionary=["line"]).iter_batches(
        300, row_groups=[0], columns=["line"]
    )
    assert len({len(batch.column(0).dictionary) for batch in batches}) > 1
    reader = UsageReader(path)
    scan = reader._scan_sql(*MONTH, PERIODS)
    assert scan.plan is not None
    args = (reader.parquet_files, reader.types, scan.plan, PERIODS)
    one = usage_arrow.settled_rows(*args, threads=False)
    assert one is not None
    for block in one:  # coded out of the files' order: each block's lines by name
        assert block.lines == sorted(block.lines, key=lambda v: (v is None, str(v)))
    for _ in range(3):
        assert usage_arrow.settled_rows(*args, threads=True) == one
    assert _same_both_ways(path, monkeypatch) == 1


@pytest.mark.parametrize("seed", range(4))
def test_arrow_tables_given_one_at_a_time_sum_as_the_row_groups_do(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`table_rows`: the row groups handed over as tables (two of them joined into one table of
    two chunks with dictionaries of their own, whose batches must share one) give the blocks
    the files give."""
    path = tmp_path / "u.parquet"
    files, types, plan, periods = _pass_args(path, 50 + seed, chunks=5)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", (61, 1 << 18)[seed % 2])
    threads = seed < 2
    read = usage_arrow.settled_rows(files, types, plan, periods, threads=threads)
    assert read is not None
    groups = _row_group_tables(path, plan)
    tables = [pa.concat_tables(groups[:2]), *groups[2:]]
    assert tables[0].column("line").num_chunks == 2
    assert _flat(usage_arrow.table_rows(iter(tables), plan, periods, threads=threads) or []) == _flat(read)

    def refused() -> Any:
        yield tables[0]
        raise ValueError("a CSV row the reader cannot take")

    assert usage_arrow.table_rows(refused(), plan, periods, threads=threads) is None


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_dictionaries_are_coded_as_value_by_value_whatever_their_order(
    seed: int, indexed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups' dictionaries of the same values in other orders, some with new values, a NULL
    among them, text or large text: each entry gets the code the value had the first time it came
    (a new value the next code, in the dictionary's order), and the NULL rows' entry the code of
    None, as coding each value in turn gives.  `indexed`: by the hashes of a large fleet's
    `_TextIndex` (texts empty, not ASCII, longer than it takes, dictionaries cut from larger
    arrays, values twice in one, values coded one at a time meanwhile)."""
    import numpy as np

    if indexed:
        monkeypatch.setattr(usage_arrow, "TEXT_INDEX_VALUES", 0)
    rnd = random.Random(seed)
    kind = pa.large_string() if seed % 3 == 0 else pa.string()
    pool = [f"L{i:04d}" for i in range(rnd.randrange(1, 60))] + ["", "Zé-ü", "x" * rnd.randrange(7, 17)]
    fast, slow = usage_arrow.Codes(), usage_arrow.Codes()
    for _ in range(8):
        values: list[str | None] = rnd.sample(pool, rnd.randrange(1, len(pool) + 1))
        if rnd.random() < 0.3:
            values.append(f"new{rnd.randrange(10**6)}")
        if rnd.random() < 0.1:
            values.insert(rnd.randrange(len(values) + 1), None)
        if indexed and rnd.random() < 0.1:
            values.append("y" * 70)
        values = list(dict.fromkeys(values))
        if indexed and rnd.random() < 0.2:
            values.append(rnd.choice(values))  # a value twice (a writer's dictionary may hold it so)
        padded = ["pad", *values, "pad"] if rnd.random() < 0.3 else values
        dictionary = pa.array(padded, kind)
        if padded is not values:
            dictionary = dictionary.slice(1, len(values))
        codes = fast.of_dictionary(dictionary)
        assert codes.dtype == np.intp
        assert codes.tolist() == slow.of([*values, None]).tolist()
        assert fast.values == slow.values
        if rnd.random() < 0.3:
            one = f"one{rnd.randrange(10**6)}"
            assert fast.code(one) == slow.code(one)
            pool.append(one)
        pool = list(dict.fromkeys([*pool, *(v for v in values if v is not None)]))


def test_texts_of_one_hash_are_told_apart_by_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large fleet's index gives a code only to a text equal to the one it stands for: with a
    hash that makes many texts alike (their length), the same codes as coding value by value."""
    import numpy as np

    monkeypatch.setattr(usage_arrow, "TEXT_INDEX_VALUES", 0)
    monkeypatch.setattr(
        usage_arrow, "text_hashes", lambda a: np.array([len(v.as_py() or "") for v in a], np.uint64)
    )
    rnd = random.Random(5)
    fast, slow = usage_arrow.Codes(), usage_arrow.Codes()
    for _ in range(10):
        values = list(dict.fromkeys(f"{rnd.choice('ABC')}{rnd.randrange(40)}" for _ in range(30)))
        assert fast.of_dictionary(pa.array(values)).tolist() == slow.of([*values, None]).tolist()
        assert fast.values == slow.values


def test_text_hashes_follow_each_texts_bytes_alone() -> None:
    """A text hashes alike wherever it lies in its array (offsets, large text, a slice, longer
    texts beside it) and unlike its neighbours that share all but a byte or the length."""
    from accounting.usage_arrow import TextHashes, text_hashes

    long = "L" * 300
    texts = [
        "",
        "a",
        "a\x00",
        "abcdefgh",
        "abcdefgi",
        "abcdefghX",
        "Zé" * 9,
        "12345678901234567",
        long,
        long + "!",
    ]
    texts += [long[:-1] + "M"]
    alone = [int(text_hashes(pa.array([t]))[0]) for t in texts]
    assert len(set(alone)) == len(texts)
    shuffled = random.Random(3).sample(texts, len(texts))
    for kind in (pa.string(), pa.large_string()):
        array = pa.array(["pad", *shuffled, "pad"], kind).slice(1, len(texts))
        assert [int(h) for h in text_hashes(array)] == [alone[texts.index(t)] for t in shuffled]
    hashes = TextHashes(7).of_dictionary(pa.array(["a", None, "b"]))
    assert hashes.tolist() == [alone[1], 7, int(text_hashes(pa.array(["b"]))[0]), 7]


def test_past_the_ceiling_each_row_group_gives_the_heaps_back_and_sums_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process resident past `KEPT_HEAP_CEILING` gives back the C library's heap and the pass
    pool's unused pages after each row group (here: every one, with a ceiling of 0); the sums are
    those DuckDB makes."""
    path = tmp_path / "u.parquet"
    _simulator_file(path, 5, False, "vary", chunks=4)
    trims: list[str] = []
    real = usage_arrow.pass_pool

    def pool() -> pa.MemoryPool:
        trims.append("pool")
        return real()

    monkeypatch.setattr(usage_arrow, "pass_pool", pool)
    monkeypatch.setattr(usage_arrow, "KEPT_HEAP_CEILING", 0)
    by_arrow, answered = _groups(path, True, monkeypatch)
    by_duckdb, _ = _groups(path, False, monkeypatch)
    assert answered == 1 and by_arrow == by_duckdb
    # the pool set at the pass's start, given back after each of the 4 row groups and at the end
    assert len(trims) == 1 + 4 + 1


def _fleet_file(path: Path, seed: int, lines: int, groups: int) -> None:
    """The simulator's writing of a fleet of `lines` lines (most unknown to the inventory), each
    row group bringing lines the ones before lacked, so that the sums' tables grow as they come."""
    rnd = random.Random(seed)
    with UsageWriter(
        path,
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=("line", "type", "start"),
        origin={"run": f"test {seed}", "shard": 0},
    ) as w:
        for g in range(groups):
            cols = _rows(rnd, 400, seed % 2 == 1, "vary")
            known = lines * (g + 1) // groups  # the lines met so far
            cols["line"] = [
                line if rnd.random() < 0.1 else f"F{rnd.randrange(known)}" for line in cols["line"]
            ]
            w.write_columns(cols, length=400)


@pytest.mark.parametrize("seed", first_then_long(range(4), 2))
def test_a_large_fleets_sums_added_row_by_row_aggregate_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `DENSE_CELLS` (a fleet of a million lines) each batch's rows are added to the sums'
    tables cell by cell instead of through a table of every cell: the pass answers, with DuckDB's
    aggregates and invoice, the same blocks as the dense sums give, on two workers as on one
    thread, while the tables grow row group after row group."""
    path = tmp_path / "u.parquet"
    _fleet_file(path, seed, 1500, 6)
    reader = UsageReader(path)
    scan = reader._scan_sql(*MONTH, PERIODS)
    assert scan.plan is not None
    args = (reader.parquet_files, reader.types, scan.plan, PERIODS)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", (37, 128, 400, 1 << 18)[seed])
    dense = usage_arrow.settled_rows(*args, threads=False)
    assert dense is not None
    by_row: list[bool] = []
    real_add = usage_arrow._Sums.add

    def add(self: usage_arrow._Sums, part: usage_arrow._Part) -> bool:
        by_row.append(part.by_row is not None)
        return real_add(self, part)

    monkeypatch.setattr(usage_arrow._Sums, "add", add)
    monkeypatch.setattr(usage_arrow, "DENSE_CELLS", 0)
    for threads in (False, True, True):
        assert usage_arrow.settled_rows(*args, threads=threads) == dense
    assert by_row and all(by_row)
    assert _same_both_ways(path, monkeypatch) == 1


@pytest.mark.parametrize("where", ["first", "between"])
def test_an_empty_batch_of_a_large_fleet_adds_nothing(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table with an empty chunk (a CSV's part of no row, joined) gives `table_rows` an empty
    batch; past `DENSE_CELLS` its rows' largest cell was asked of no row (ValueError), and the
    month went to DuckDB (None here).  The pass sums it as nothing: the blocks of the table
    without it."""
    path = tmp_path / "u.parquet"
    _fleet_file(path, 5, 1500, 6)
    reader = UsageReader(path)
    plan = reader._scan_sql(*MONTH, PERIODS).plan
    assert plan is not None
    groups = _row_group_tables(path, plan)
    empty = groups[0].slice(0, 0)
    joined = [empty, *groups] if where == "first" else [groups[0], empty, *groups[1:]]
    table = pa.concat_tables(joined)
    assert 0 in [b.num_rows for b in usage_arrow._table_batches(table)]
    monkeypatch.setattr(usage_arrow, "DENSE_CELLS", 0)
    for threads in (False, True):
        whole = usage_arrow.table_rows(iter(groups), plan, PERIODS, threads=threads)
        assert whole is not None
        with_empty = usage_arrow.table_rows(iter([table]), plan, PERIODS, threads=threads)
        assert with_empty is not None  # (None: left to DuckDB)
        assert _flat(with_empty) == _flat(whole)


def test_the_sums_tables_keep_room_for_the_lines_to_come() -> None:
    """Lines coming a few at a time grow the tables by a quarter at least, not each time; the
    sums kept, the call sums only for the call types' combinations."""
    import numpy as np

    sums = usage_arrow._Sums(["n", "ko", "without_bytes", "calls", "b0"])
    grown = 0
    for lines in range(1, 2001):
        before = sums.sums["n"]
        sums.fit(3, lines)
        grown += sums.sums["n"] is not before
        sums.sums["n"][2, lines - 1] = lines
    assert grown < 40
    assert sums.table("n").shape == (3, 2000)
    assert sums.table("n")[2].tolist() == list(range(1, 2001))
    # no row lacked a byte count: no table of them made, all the same read as zeros
    assert "without_bytes" not in sums.sums and not sums.table("without_bytes").any()
    assert sums.table("without_bytes").shape == (3, 2000)
    part = usage_arrow._Part(
        2000, 4, {"calls": np.array([1, 2]), "b0": np.array([5, 7])}, {}, np.array([2 * 2000 + 3, 9])
    )
    assert sums.add(part)
    assert sums.table("calls").shape == (2, 2000)  # two call combinations, not three
    assert sums.table("b0")[sums.call_row[2], 3] == 5 and sums.table("b0")[sums.call_row[0], 9] == 7


def test_an_empty_row_group_done_before_the_one_ahead_does_not_stall_the_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row group of no rows (a run's usage less its reconnection attempts, written a filtered
    row group at a time) gave no batch, so it never took its turn: done while the row group ahead
    was still being read, it left the next one waiting for ever, and `m2msim run` hung rating the
    month without the attempts."""
    import threading

    from accounting.records import USAGE_SCHEMA

    part = tmp_path / "part.parquet"
    _simulator_file(part, 7, False, "none", chunks=2)
    path = tmp_path / "u.parquet"
    with pq.ParquetWriter(path, USAGE_SCHEMA) as w:  # as the run writes it, a row group emptied
        first, second = (pq.ParquetFile(part).read_row_group(i).cast(USAGE_SCHEMA) for i in range(2))
        for table in (first, second.slice(0, 0), second):
            w.write_table(table)
    assert pq.ParquetFile(path).metadata.row_group(1).num_rows == 0
    expected = _invoice(path, False, monkeypatch)  # (DuckDB's scan)
    empty_done = threading.Event()
    works: list[Any] = []
    real = usage_arrow._Work._run

    def run(self: Any, task: int, source: Any) -> Any:
        works.append(self)
        if task == 0:  # the first row group still read when the empty one is done
            assert empty_done.wait(10)
        try:
            return real(self, task, source)
        finally:
            if task == 1:
                empty_done.set()

    monkeypatch.setattr(usage_arrow._Work, "_run", run)
    monkeypatch.setattr(usage_arrow.os, "cpu_count", lambda: 2)
    found: list[Any] = []
    t = threading.Thread(target=lambda: found.append(_invoice(path, True, monkeypatch)))
    t.start()
    t.join(10)
    stalled = t.is_alive()
    if stalled:  # (let the stalled pass go, so that its threads end)
        works[0].stop()
        t.join()
    assert not stalled
    assert found == [expected]
    assert len(works) == 3  # the row groups read by the two workers


def test_a_batchs_integer_sums_are_exact_or_refused() -> None:
    """A batch's sums per cell (`_sum`) are the integers' exact sums, past a float's 2^53 and with
    the negative values of rows in doubt; a batch whose sums might pass 64 bits gives None (the
    month goes to DuckDB's aggregate)."""
    import numpy as np

    rng = np.random.default_rng(5)
    for top in (1 << 10, 1 << 40, 1 << 49):  # (sums up to 2^59)
        key = rng.integers(0, 7, 5_000)
        key[key == 4] = 5  # cell 4 left empty
        values = rng.integers(-top, top, 5_000, dtype=np.int64)
        expected = [0] * 9
        for k, v in zip(key.tolist(), values.tolist(), strict=True):
            expected[k] += v
        summed = usage_arrow._sum(key, 9, values)
        assert summed is not None
        assert summed[0].tolist() == expected
        assert summed[1] == max(int(values.max()), -int(values.min())) * len(values)
    big = np.array([1 << 62, 1 << 62], np.int64)
    assert usage_arrow._sum(np.array([0, 1]), 2, big) is None


def test_the_settled_pass_loads_no_module_it_does_not_use(tmp_path: Path) -> None:
    """The pass over the simulator's files codes a row group's dictionaries by Arrow's
    `index_in` and finds the call combinations of a batch without `pyarrow.compute` (which makes
    a Python function of each of Arrow's compute functions when imported: 0.03-0.04 CPU-s, the
    other worker waiting for the first row group's codes meanwhile) or `numpy.ma` (imported by
    `np.unique` for its check of a masked array: 0.02 CPU-s); nor does the reader of a Parquet
    file load the CSV pass's module, or the row proof's where the footer settles the scan and
    claims its rows unique (0.02 CPU-s compiled from source)."""
    import os
    import subprocess
    import sys

    path = tmp_path / "u.parquet"
    _simulator_file(path, 3, False, "none", chunks=4)  # row groups of their own dictionaries, calls
    code = f"""
import json, sys
from accounting import usage_arrow
from accounting.usage import UsageReader, connect
from usage_forms import MONTH, PERIODS
usage_arrow.ARROW_ROWS = 0
answered = []
real = usage_arrow.settled_rows
def spy(*args, **kwargs):
    found = real(*args, **kwargs)
    answered.append(found is not None)
    return found
usage_arrow.settled_rows = spy
UsageReader({str(path)!r}, connect(threads=2)).aggregate(*MONTH, PERIODS)
unused = ("pyarrow.compute", "numpy.ma", "accounting.usage_csv_arrow", "accounting.usage_arrow_checks")
print(json.dumps([answered, [m for m in unused if m in sys.modules]]))
"""
    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tests.parent), str(tests)))}  # (this tree's code)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    answered, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert answered == [True]  # (the pass read the file, on two workers)
    assert loaded == []


def test_a_compiled_compute_module_of_another_form_leaves_the_public_one_to_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`index_in` calls Arrow's compiled compute module, which pyarrow does not promise to keep:
    where its lookup options take other arguments (or it has no `call_function`), the public
    `pyarrow.compute` answers, the same codes given (no TypeError out of the month's rating)."""
    import pyarrow._compute as compiled

    class OtherOptions:  # lookup options of another signature
        def __init__(self, value_set: pa.Array, *, null_matching_behavior: str = "match") -> None:
            self.value_set = value_set

    codes = usage_arrow.Codes()
    codes.of(["a", "b", None])
    known = pa.array(["a", "b", None])
    for name, other in (("SetLookupOptions", OtherOptions), ("call_function", None)):
        with monkeypatch.context() as patched:
            if other is None:
                patched.delattr(compiled, name)
            else:
                patched.setattr(compiled, name, other)
            assert usage_arrow.index_in(pa.array(["b", None, "c"]), known).to_pylist() == [1, 2, None]
            codes._last = None
            assert codes.of_dictionary(pa.array(["b", None, "a"])).tolist() == [1, 2, 0, 2]
            path = tmp_path / f"{name}.parquet"
            _simulator_file(path, 3, False, "none", chunks=4)  # row groups of their own dictionaries
            assert _same_both_ways(path, monkeypatch) >= 1
