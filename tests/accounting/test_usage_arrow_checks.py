"""Unsettled Parquet files proven clean by pyarrow and NumPy (`accounting.usage_arrow_checks`).

Seeded pyarrow-written files (text starts in every form the proof reads, typed starts with and
without a time zone, any column order, several row groups and files, extra columns, `delivered`
or not), with the keys the engine refuses later (unknown lines and types, empty and unknown
zones, bad destinations): the proof must answer, and the Groups, the invoice text and its JSON
(with the reject listing) are byte for byte those of DuckDB's checks.  Each kind of bad row,
each form the proof does not read, and a duplicate make it decline, and the rating is still
the same both ways.  The text starts' reading is compared with DuckDB's TRY_CAST value by value.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import first_then_long
from usage_forms import LINES, MONTH, PERIODS, parquet_table, rating, records, start_text, write_parquet

from accounting import inventory_from_dict, rate, usage_arrow, usage_arrow_checks
from accounting.errors import UsageError
from accounting.usage import MAX_OCTETS, MAX_SECONDS, PAST_MONTH_END_S, UsageReader, connect, month_bounds
from accounting.usage_small import _stamp, _Unsure


@pytest.fixture(autouse=True)
def _proof_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The proof is off by default (no faster yet than DuckDB's checks): on for these tests."""
    monkeypatch.setattr(usage_arrow_checks, "PROVE", True)


def _clean_file(tmp_path: Path, seed: int, name: str = "u.parquet") -> Path:
    rnd = random.Random(seed)
    start = ("text", "text", "ms", "us", "naive")[seed % 5]
    table = parquet_table(records(rnd, rnd.randrange(300, 1500), start != "ms"), rnd, start, seed % 3 != 0)
    return write_parquet(tmp_path / name, table, rnd)


class _Answers:
    """The answers of the proofs made, read when compared (a proof answers once the pass ends)."""

    def __init__(self, proofs: list[usage_arrow_checks.RowProof | None]) -> None:
        self.proofs = proofs

    def now(self) -> list[bool]:
        return [bool(p is not None and p.proven) for p in self.proofs]

    def aside(self) -> list[int | None]:
        """Per proof made, the rows it set aside for DuckDB to check (None: it gave up)."""
        return [len(p.set_aside) if p is not None and p.clean else None for p in self.proofs]


def _answers(monkeypatch: pytest.MonkeyPatch) -> _Answers:
    """From now on, for each aggregate the proof was tried on: whether every row was proven."""
    proofs: list[usage_arrow_checks.RowProof | None] = []
    real = usage_arrow_checks.row_proof

    def spy(*args: Any, **kwargs: Any) -> usage_arrow_checks.RowProof | None:
        found = real(*args, **kwargs)
        proofs.append(found)
        return found

    monkeypatch.setattr(usage_arrow_checks, "row_proof", spy)
    return _Answers(proofs)


def _rated(source: Any, proof: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """`rating(source)`; `proof`: the proof may run (and the pyarrow pass), else DuckDB's checks
    as for a small file."""
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if proof else 1 << 62)
    return rating(source)


def _searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, each of DuckDB's full duplicate searches (its SQL)."""
    searched: list[str] = []
    full_search = UsageReader._seen_twice

    def spy(reader: UsageReader, sql: str) -> list[tuple[int]]:
        searched.append(sql)
        return full_search(reader, sql)

    monkeypatch.setattr(UsageReader, "_seen_twice", spy)
    return searched


def _same_both_ways(source: Any, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The proof's answers (one per aggregate tried); the rating the same both ways."""
    answers = _answers(monkeypatch)
    by_proof = _rated(source, True, monkeypatch)
    made = answers.now()
    by_duckdb = _rated(source, False, monkeypatch)
    assert answers.now() == made, "the proof ran for a file left to DuckDB"
    assert by_proof == by_duckdb
    return made


@pytest.mark.parametrize("seed", first_then_long(range(20), 10))
def test_clean_pyarrow_files_are_proven_and_rated_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _clean_file(tmp_path, seed)
    assert not UsageReader(path)._scan_sql(*MONTH, PERIODS).settled or seed % 5 >= 2
    if seed % 2:
        monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 97)  # several batches a row group
    assert _same_both_ways(path, monkeypatch) == [True, True]  # the aggregate, and `rate`'s own


@pytest.mark.parametrize("seed", range(3))
def test_a_one_thread_connection_checks_the_rows_on_the_passs_thread(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker among others: the checks run on the pass's thread, not a thread of their own."""
    path = _clean_file(tmp_path, seed)
    answers = _answers(monkeypatch)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 61)
    alone = UsageReader(path, connect(threads=1)).aggregate(*MONTH, PERIODS)
    assert answers.now() == [True]
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 1 << 62)
    by_duckdb = UsageReader(path, connect(threads=1)).aggregate(*MONTH, PERIODS)
    assert sorted(map(repr, alone)) == sorted(map(repr, by_duckdb))


def test_several_files_read_as_one_are_proven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(5)
    cols = records(rnd, 900, True)
    table = parquet_table(cols, rnd, "text", True)
    paths = [write_parquet(tmp_path / f"part-{i}.parquet", table.slice(300 * i, 300), rnd) for i in range(3)]
    assert _same_both_ways(paths, monkeypatch) == [True, True]


def _bad(tmp_path: Path, seed: int) -> dict[str, pa.Table]:
    """A clean table and, per reason, the same table with one row (or value) changed."""
    rnd = random.Random(seed)
    cols = records(rnd, 400, False)
    data = cols["type"].index("data")
    voice = cols["type"].index("voice")
    out: dict[str, pa.Table] = {}

    def changed(**values: Any) -> dict[str, list[Any]]:
        copy = {k: list(v) for k, v in cols.items()}
        for name, (row, value) in values.items():
            copy[name][row] = value
        return copy

    end = MONTH[1]
    cases = {
        "start before the month": changed(start=(7, MONTH[0] - timedelta(seconds=1))),
        "start at the month's end": changed(start=(7, end)),
        "no start": changed(start=(7, None)),
        "negative duration": changed(duration_s=(3, -1)),
        "duration past its bound": changed(duration_s=(3, MAX_SECONDS + 1)),
        "negative byte count": changed(bytes_up=(5, -5)),
        "byte count past its bound": changed(bytes_down=(5, MAX_OCTETS + 1)),
        "a data row without a byte count": changed(bytes_up=(data, None)),
        "a data record over 12 h": changed(duration_s=(data, 43_201), start=(data, MONTH[0])),
        "a call past the month's end": changed(
            start=(voice, end - timedelta(seconds=10)), duration_s=(voice, 43_211)
        ),
        "too many octets": changed(
            bytes_up=(data, 3_750_000_000 * 2),
            bytes_down=(data, 1),
            duration_s=(data, 2),
            start=(data, MONTH[0]),
        ),
    }
    for reason, values in cases.items():
        out[reason] = parquet_table(values, random.Random(seed), "us", True)
    clean = out["clean"] = parquet_table(cols, random.Random(seed), "us", True)
    out["a duplicate row"] = pa.concat_tables([clean, clean.slice(11, 1)])
    return out


@pytest.mark.parametrize("seed", first_then_long(range(3)))
def test_each_bad_row_is_set_aside_and_checked_by_duckdb(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row that may fail is set aside, its sums taken back out of the pass's and DuckDB's
    checks of it put in: the same aggregates, invoice and listing as DuckDB's checks of every row."""
    for reason, table in _bad(tmp_path, seed).items():
        path = tmp_path / f"{seed}-{reason}.parquet"
        pq.write_table(table, path, row_group_size=150)
        answers = _answers(monkeypatch)
        unique = reason != "a duplicate row"
        assert _same_both_ways(path, monkeypatch) == [unique, unique], reason
        aside = 0 if reason in ("clean", "a duplicate row") else 1
        assert answers.aside() == [aside, aside], reason


@pytest.mark.parametrize("seed", range(2))
def test_batches_checked_by_slices_set_aside_the_same_rows(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch checked a slice of rows at a time (`SLICE_ROWS`): each bad row set aside by its
    row among all, in a slice after the first, every rating as DuckDB's; NULL slots read from
    the slice's own bits."""
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 97)  # several batches a row group
    tables = _bad(tmp_path, seed)
    for reason in ("clean", "no start", "a data row without a byte count", "a duplicate row"):
        path = tmp_path / f"{seed}-{reason}.parquet"
        pq.write_table(tables[reason], path, row_group_size=150)
        aside: dict[int, list[list[int]]] = {}
        for rows in (13, 1 << 20):
            monkeypatch.setattr(usage_arrow_checks, "SLICE_ROWS", rows)
            answers = _answers(monkeypatch)
            unique = reason != "a duplicate row"
            assert _same_both_ways(path, monkeypatch) == [unique, unique], reason
            aside[rows] = [sorted(p.set_aside) for p in answers.proofs if p is not None]
        assert aside[13] == aside[1 << 20], reason
        assert all(len(a) == (0 if reason in ("clean", "a duplicate row") else 1) for a in aside[13])
    texts = _clean_file(tmp_path, 5 * seed)  # (text starts)
    monkeypatch.setattr(usage_arrow_checks, "SLICE_ROWS", 13)
    assert _same_both_ways(texts, monkeypatch) == [True, True]


def test_rows_set_aside_past_the_limit_leave_the_file_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(11)
    cols = records(rnd, 300, False)
    for row in range(0, 300, 7):
        cols["bytes_up"][row] = -row - 1  # 43 rows refused
    path = write_parquet(tmp_path / "many.parquet", parquet_table(cols, rnd, "us", True), rnd)
    monkeypatch.setattr(usage_arrow_checks, "MAX_SET_ASIDE", 42)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [False, False]
    assert answers.aside() == [None, None]
    monkeypatch.setattr(usage_arrow_checks, "MAX_SET_ASIDE", 43)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert answers.aside() == [43, 43]


def _stamped(tmp_path: Path, texts: Sequence[str | None]) -> Path:
    """A clean file whose starts are these texts, row by row (the rest as `_rows` makes it)."""
    rnd = random.Random(1)
    table = parquet_table(records(rnd, len(texts), False), rnd, "text", False)
    i = table.schema.get_field_index("start")
    table = table.set_column(i, "start", pa.array(texts, pa.string()))
    path = tmp_path / "stamps.parquet"
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    "odd",
    [
        "2026-03-05",
        "2026-03-05 10:00",
        "2026-03-05 10:00:00.1234567Z",
        "2026-03-05 10:00:00+0160",
        "2026-03-05 10:00:00 UTC",
        "2026-03-05 10:00:00+15",
        "2026-03-05 24:00:00Z",
        "2026-03-05 10:60:00Z",
        "2026-03-05 10:00:60Z",
        "2026-02-30 10:00:00Z",
        "2026-03-05 10:00:00z",
        "2026-03-05t10:00:00Z",
        " 2026-03-05 10:00:00",
        "2026-03-05 10:00:00.Z",
        "2026-3-05 10:00:00Z",
        "+2026-03-05 10:00:0Z",
        "2026-03-05 10:00:00+01:",
        "2026-03-05 10:00:00 ",
        "٢٠٢٦-03-05 10:00:00Z",
    ],
)
def test_starts_in_other_forms_are_set_aside_for_duckdb(
    tmp_path: Path, odd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(len(odd))
    texts: list[str | None] = [
        start_text(MONTH[0] + timedelta(seconds=rnd.randrange(86_400 * 30)), rnd, i) for i in range(40)
    ]
    texts[17] = odd
    answers = _answers(monkeypatch)
    assert _same_both_ways(_stamped(tmp_path, texts), monkeypatch) == [True, True]
    # (other rows may be set aside too: the starts are not those the durations were made for)
    assert all(p is not None and 17 in p.set_aside for p in answers.proofs)


def test_a_record_ending_within_a_millisecond_of_the_month_is_set_aside_for_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB compares the duration with `end + 12 h - epoch(start)` in DOUBLE: too close to call here."""
    rnd = random.Random(3)
    cols = records(rnd, 50, False)
    row = cols["type"].index("voice")
    cols["start"][row] = MONTH[1] - timedelta(seconds=60, microseconds=500)  # 60.0005 s before the end
    cols["duration_s"][row] = 60 + PAST_MONTH_END_S  # ends 0.5 ms before the limit: too close to call
    base = parquet_table(cols, random.Random(3), "us", False)
    path = write_parquet(tmp_path / "close.parquet", base, rnd)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert answers.aside() == [1, 1]  # set aside, and found clean by DuckDB
    cols["start"][row] = MONTH[1] - timedelta(seconds=60, microseconds=5_000)  # 5 ms: certain
    path = write_parquet(tmp_path / "far.parquet", parquet_table(cols, random.Random(3), "us", False), rnd)
    assert _same_both_ways(path, monkeypatch) == [True, True]


def test_text_that_is_not_utf8_leaves_the_file_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(4)
    table = parquet_table(records(rnd, 60, False), rnd, "ms", False)
    i = table.schema.get_field_index("line")
    broken = pa.array([b"V1"] * 59 + [b"V\xff"], pa.binary()).cast(pa.string(), safe=False)
    table = table.set_column(i, "line", broken)
    path = tmp_path / "latin.parquet"
    pq.write_table(table, path)
    answers = _answers(monkeypatch)
    failures = []
    for proof in (True, False):
        monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if proof else 1 << 62)
        with pytest.raises(UsageError) as failed:
            UsageReader(path).aggregate(*MONTH, PERIODS)
        failures.append(str(failed.value))
    assert answers.now() == [False]
    assert failures[0] == failures[1]  # DuckDB's own refusal, both ways


def test_other_column_types_leave_the_file_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(6)
    table = parquet_table(records(rnd, 60, False), rnd, "ms", False)
    variants = {
        "a DECIMAL duration": table.set_column(
            table.schema.get_field_index("duration_s"),
            "duration_s",
            table["duration_s"].cast(pa.decimal128(24, 2)),
        ),
        "a list column": table.append_column("tags", pa.array([["a"]] * len(table))),
    }
    for reason, variant in variants.items():
        path = tmp_path / f"{reason}.parquet"
        pq.write_table(variant, path)
        assert _same_both_ways(path, monkeypatch) == [False, False], reason


@pytest.mark.parametrize("seed", range(6))
def test_counts_of_narrower_integer_types_are_read_as_duckdb_reads_them(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durations and octets in 8- to 32-bit columns, signed or not (Spark's IntegerType, a
    32-bit column from pandas or Polars): read by the pass and proven as BIGINT ones, the
    rating the same both ways; a negative one among them set aside."""
    rnd = random.Random(seed)
    cols = records(rnd, rnd.randrange(300, 900), seed % 2 == 0)
    negative = seed % 3 == 0
    if negative:
        cols["duration_s"][cols["type"].index("voice")] = -3
    table = parquet_table(cols, rnd, ("us", "text", "naive")[seed % 3], seed % 2 == 1)
    kinds = {
        "duration_s": rnd.choice([pa.int32(), pa.int64()] if negative else [pa.int32(), pa.uint32()]),
        "bytes_up": pa.uint32(),
        "bytes_down": rnd.choice([pa.int16(), pa.uint16(), pa.int32()]),
    }
    for name, kind in kinds.items():
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(kind))
    path = write_parquet(tmp_path / f"narrow-{seed}.parquet", table, rnd)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert answers.aside()[0] if negative else True


@pytest.mark.parametrize("seed", range(6))
def test_lines_written_as_numbers_are_read_as_the_text_duckdb_casts_them_to(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's lines written as numbers (their MSISDNs, which a spreadsheet or pandas reads as
    integers): read by the pass and the proof as the text of their digits, as DuckDB casts them;
    a number not in the inventory, a row that fails a check, a copy and NULL lines among them:
    the aggregates, the invoice and its rejects the same both ways."""
    rnd = random.Random(seed)
    cols = records(rnd, rnd.randrange(300, 900), seed % 2 == 0)
    number = {line: 33_612_345_600 + i for i, line in enumerate(LINES)} | {"X1": 33_699_999_999}
    cols["line"] = [None if line == "" else number[line] for line in cols["line"]]
    if seed % 3:
        cols["bytes_up"][cols["type"].index("data")] = -5  # set aside
    table = parquet_table(
        {**cols, "line": ["L"] * len(cols["line"])}, rnd, ("us", "text")[seed % 2], seed % 3 == 1
    )
    kind = pa.int64() if seed < 4 else pa.uint64() if seed == 4 else pa.decimal128(12, 0)
    table = table.set_column(table.schema.get_field_index("line"), "line", pa.array(cols["line"], kind))
    table = pa.concat_tables([table, table.slice(7, 1)])  # a copy
    path = write_parquet(tmp_path / f"numbers-{seed}.parquet", table, rnd)
    inventory = inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id": str(number[line]),
                    "offer": offer,
                    "plan": plan,
                    "commitment": 24,
                    "since": "2025-01-01",
                }
                for line, offer, plan in [
                    *((f"V{i}", "business-m2m-dtmf", "compteur") for i in range(1, 7)),
                    *((f"C{i}", "business-m2m", "forfait-2mo") for i in range(1, 7)),
                ]
            ],
        }
    )
    answers = _answers(monkeypatch)

    def rated(proof: bool) -> tuple[Any, ...]:
        monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if proof else 1 << 62)
        groups = UsageReader(path, connect(threads=2)).aggregate(*MONTH, PERIODS)
        invoice = rate(inventory, path)
        return sorted(map(repr, groups)), invoice.render_text(), invoice.to_json()

    by_proof = rated(True)
    checked = [aside is not None for aside in answers.aside()]  # (a copy: not proven, but checked)
    assert checked == ([True, True] if seed < 4 else [False, False])  # (UBIGINT, DECIMAL: DuckDB's)
    assert by_proof == rated(False)
    rejects = json.loads(by_proof[2])["rejects"]
    assert any(r["reason"] == "unknown line '33699999999'" for r in rejects), rejects
    assert any(r["reason"].startswith("duplicate record") for r in rejects), rejects


@pytest.mark.parametrize("seed", range(4))
def test_text_keys_stored_as_string_views_are_read_as_dictionaries(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys whose stored Arrow type is `string_view` (as newer writers give text): pyarrow reads
    them as dictionaries all the same, and the pass and the proof take them; a row set aside and
    a copy among them: the rating the same both ways."""
    rnd = random.Random(seed)
    cols = records(rnd, rnd.randrange(300, 900), True)
    cols["bytes_up"][cols["type"].index("data")] = -5
    table = parquet_table(cols, rnd, ("us", "text")[seed % 2], seed % 2 == 1)
    for name in ("line", "type", "zone", "dest"):
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(pa.string_view()))
    table = pa.concat_tables([table, table.slice(5, 1)])
    path = write_parquet(tmp_path / f"views-{seed}.parquet", table, rnd)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [False, False]  # (the copy: compared by DuckDB)
    assert all(aside == 1 for aside in answers.aside())  # checked to the end, the bad row set aside


@pytest.mark.parametrize("seed", first_then_long(range(24), 8))
def test_files_as_any_writer_types_them_are_rated_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The types other writers give, drawn together: a start as text, in ms, us or ns (with a time
    zone or not) or as an INT96; each count as an integer of 8 to 64 bits or a float; the line
    as text, as a `string_view` or as a number; rows that fail a check, NULLs, NaN and a copy
    among them.  The pass and the proof check them to the end (a copy: compared by DuckDB) and
    the aggregates, the invoice and its rejects are DuckDB's."""
    rnd = random.Random(1000 + seed)
    cols = records(rnd, rnd.randrange(300, 900), True)
    for name in ("duration_s", "bytes_up", "bytes_down"):
        for _ in range(rnd.randrange(3)):
            cols[name][rnd.randrange(len(cols[name]))] = rnd.choice((-1, None, 0))
    start = rnd.choice(("text", "ms", "us", "naive", "ns", "ns-naive", "int96"))
    table = parquet_table(
        cols, rnd, start if start in ("text", "ms", "us", "naive") else "us", rnd.random() < 0.5
    )
    if start.startswith(("ns", "int96")):
        kind = pa.timestamp("ns") if start != "ns" else pa.timestamp("ns", tz="UTC")
        nanos = [
            None if v is None else int(v.timestamp() * 10**6) * 1000 + rnd.randrange(1000)
            for v in cols["start"]
        ]
        table = table.set_column(table.schema.get_field_index("start"), "start", pa.array(nanos, kind))
    floats = False
    for name in ("duration_s", "bytes_up", "bytes_down"):
        values = cols[name]
        kind = rnd.choice((pa.int64(), pa.int32(), pa.float64(), pa.float32()))
        if kind == pa.int32() and any(v is not None and abs(v) >= 2**31 for v in values):
            kind = pa.int64()
        if kind == pa.float32() and any(v is not None and abs(v) >= 2**24 for v in values):
            kind = pa.float64()
        column: list[Any] = list(values)
        if kind in (pa.float64(), pa.float32()):
            floats = True
            if rnd.random() < 0.5:
                column[rnd.randrange(len(column))] = float("nan")
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(column, kind))
    numbers = {line: 33_612_345_600 + i for i, line in enumerate([*LINES, "X1"])}
    line_kind = rnd.choice(("text", "view", "number"))
    if line_kind == "view":
        table = table.set_column(
            table.schema.get_field_index("line"), "line", table["line"].cast(pa.string_view())
        )
    elif line_kind == "number":
        lines = [None if v in ("", None) else numbers[v] for v in cols["line"]]
        table = table.set_column(table.schema.get_field_index("line"), "line", pa.array(lines, pa.int64()))
    table = pa.concat_tables([table, table.slice(rnd.randrange(len(table)), 1)])
    path = tmp_path / f"any-{seed}.parquet"
    pq.write_table(
        table,
        path,
        row_group_size=max(len(table) // rnd.randrange(1, 4), 1),
        use_deprecated_int96_timestamps=start == "int96",
    )
    answers = _answers(monkeypatch)
    _same_both_ways(path, monkeypatch)
    checked = [aside is not None for aside in answers.aside()]
    assert checked == [True, True], (start, line_kind, floats, table.schema)


_ODD_FLOATS = (12.5, float("nan"), float("inf"), float("-inf"), -0.0, -3.0, 1e19, 2.0**62, 0.25)


@pytest.mark.parametrize("seed", range(8))
def test_counts_in_floats_are_read_where_whole_and_set_aside_where_not(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durations and octets in float columns (pandas' integers with a missing value; NaN, an
    infinity, a fraction, -0.0, a number past an int64 among them): each whole one read as
    DuckDB reads it, the others set aside for DuckDB (a fractional duration is no reject there,
    but its call is rated on its next second): the rating the same both ways."""
    rnd = random.Random(seed)
    cols = records(rnd, rnd.randrange(300, 900), seed % 2 == 0)
    odd = seed % 4 != 0
    if odd:
        for name in ("duration_s", "bytes_up", "bytes_down"):
            for _ in range(3):
                cols[name][rnd.randrange(len(cols[name]))] = rnd.choice(_ODD_FLOATS)
        cols["duration_s"][cols["type"].index("voice")] = 61.5
        cols["duration_s"][cols["type"].index("data")] = float("nan")  # (outside the file's bounds)
        cols["bytes_up"][cols["type"].index("sms")] = float("nan")
    float_cols = {
        k: [None if v is None else float(v) for v in cols[k]]
        for k in ("duration_s", "bytes_up", "bytes_down")
    }
    table = parquet_table(
        {**cols, **{k: [0] * len(vs) for k, vs in float_cols.items()}},
        rnd,
        ("us", "text")[seed % 2],
        seed % 3 == 1,
    )
    for name, values in float_cols.items():
        kind = pa.float32() if name == "bytes_down" and seed % 3 == 2 else pa.float64()
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, kind))
    path = write_parquet(tmp_path / f"floats-{seed}.parquet", table, rnd)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert bool(answers.aside()[0]) == odd


_NS_EDGES = (-501, -500, -499, -400, -1, 0, 1, 499, 500, 501)  # nanoseconds about a month's bound


def _nanosecond_file(tmp_path: Path, seed: int, form: str) -> Path:
    """Starts in nanoseconds, as pandas writes them (`utc`: TIMESTAMP(UTC, NANOS); `naive`:
    without a time zone) or Spark (`int96`): random parts of a microsecond, and SMS rows a few
    nanoseconds about the month's first and last instants, where rounding a start to the nearest
    microsecond (DuckDB's cast of nanoseconds) and flooring it (DuckDB's reading of an INT96)
    put the row on other sides of the bound; with `bad`, a data row about the first instant
    with a negative byte count too, set aside (its reason depends on its start's reading)."""
    rnd = random.Random(seed)
    cols = records(rnd, rnd.randrange(300, 900), True)
    nanos = [
        None
        if s is None
        else int((s - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000
        + rnd.randrange(1000)
        for s in cols["start"]
    ]
    sms = [i for i, kind in enumerate(cols["type"]) if kind == "sms"]
    bounds = [int(b.timestamp()) * 10**9 for b in MONTH]
    for i, (edge, bound) in enumerate(zip(_NS_EDGES * 2, [bounds[0]] * 10 + [bounds[1]] * 10, strict=True)):
        nanos[sms[i]] = bound + edge
    if seed % 2:
        data = cols["type"].index("data")
        nanos[data] = bounds[0] - 400
        cols["bytes_up"][data] = -5
    table = parquet_table(cols, rnd, "us", True)
    kind = pa.timestamp("ns") if form == "naive" else pa.timestamp("ns", tz="UTC")
    table = table.set_column(table.schema.get_field_index("start"), "start", pa.array(nanos, kind))
    path = tmp_path / f"{form}-{seed}.parquet"
    pq.write_table(
        table, path, row_group_size=max(len(table) // 3, 1), use_deprecated_int96_timestamps=form == "int96"
    )
    return path


@pytest.mark.parametrize("form", ["utc", "naive", "int96"])
@pytest.mark.parametrize("seed", first_then_long(range(4), 2))
def test_starts_in_nanoseconds_are_read_as_duckdb_rounds_or_floors_them(
    tmp_path: Path, form: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start of nanoseconds is the microsecond DuckDB makes of it: the nearest (half away from
    zero) for a TIMESTAMP(TZ)_NS, the one before for an INT96 (and a row set aside goes to
    DuckDB with that start): the rating is the same both ways, rejects listed alike."""
    path = _nanosecond_file(tmp_path, seed, form)
    expected = "TIMESTAMP" if form == "int96" else "TIMESTAMPTZ_NS" if form == "utc" else "TIMESTAMP_NS"
    assert UsageReader(path).types["start"] == expected
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert all(len(aside) for aside in (p.set_aside for p in answers.proofs if p is not None))


def test_small_files_and_the_proof_switched_off_are_not_proven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _clean_file(tmp_path, 0)
    answers = _answers(monkeypatch)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", len(pq.read_table(path)) + 1)  # below the threshold
    UsageReader(path).aggregate(*MONTH, PERIODS)
    assert answers.now() == []
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0)
    monkeypatch.setattr(usage_arrow_checks, "PROVE", False)
    UsageReader(path).aggregate(*MONTH, PERIODS)
    assert answers.now() == []
    monkeypatch.setattr(usage_arrow_checks, "PROVE", True)
    UsageReader(path).aggregate(*MONTH, PERIODS)
    assert answers.now() == [True]


def _duckdb_stamps(texts: Sequence[str]) -> list[int | None]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        "SELECT epoch_us(TRY_CAST(t AS TIMESTAMPTZ)) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
        [list(texts)],
    ).fetchall()
    return [r[0] for r in rows]


_SUFFIXES = {
    "": 19,
    "Z": 20,
    "+HH:MM": 25,
    "+HHMM": 24,
    "+HH": 22,
    ".fffZ": 24,
    ".ffffff": 26,
    ".fff+HH:MM": 29,
    ".fff+HHMM": 28,
}


@pytest.mark.parametrize("zone", sorted(_SUFFIXES))
@pytest.mark.parametrize("seed", first_then_long(range(45), 15))
def test_a_batch_of_plain_starts_read_by_arrow_is_read_as_the_layouts_and_duckdb_read_it(
    seed: int, zone: str
) -> None:
    """Batches of `YYYY-MM-DD HH:MM:SSZ` starts, of starts with an offset (`+HH:MM`, `-HH:MM` or
    `+HH`, up to 14 hours), with milli- or microseconds, or without a zone (read in UTC), `T` or
    a space in the middle, read by Arrow's cast: whenever it
    reads a batch, every row is one the layouts read, to the same instant, and DuckDB's TRY_CAST
    gives it too; a batch holding one row that is no instant (a day the month lacks, hour 24,
    minute or second 60, a letter for a digit, February 29 of a common year; years 0, 1, 9999,
    which Arrow reads and the layouts do not) or of
    another layout (a zone, no zone, another separator) is left to the layouts, which find it."""
    import numpy as np

    rnd = random.Random(seed)

    def offset() -> str:
        return f"{rnd.choice('+-')}{rnd.randrange(15):02d}:{rnd.choice((0, 30, 45, rnd.randrange(60))):02d}"

    def suffix() -> str:
        return (
            zone.replace(".ffffff", f".{rnd.randrange(10**6):06d}")
            .replace(".fff", f".{rnd.randrange(1000):03d}")
            .replace("+HH:MM", offset())
            .replace("+HHMM", offset().replace(":", ""))
            .replace("+HH", offset()[:3])
        )

    def text(moment: datetime) -> str:
        return f"{moment.year:04d}" + moment.strftime(f"-%m-%d{rnd.choice(' T')}%H:%M:%S") + suffix()

    year = rnd.choice((3, 1600, 1999, 2000, 2023, 2024, 2026, 2100, 9997))
    first = datetime(year, rnd.randrange(1, 13), 1, tzinfo=UTC)
    texts = [text(first + timedelta(seconds=rnd.randrange(-86_400 * 40, 86_400 * 40))) for _ in range(500)]
    bad = [
        "2026-02-30 10:00:00Z",
        "2023-02-29 10:00:00Z",
        "2026-04-31 10:00:00Z",
        "2026-03-01 24:00:00Z",
        "2026-03-01 23:60:00Z",
        "2026-03-01 23:59:60Z",
        "2026-13-01 10:00:00Z",
        "2026-00-10 10:00:00Z",
        "2026-03-00 10:00:00Z",
        "0000-03-01 10:00:00Z",
        "0001-03-01 10:00:00Z",
        "9999-03-01 10:00:00Z",
        "2026-03-0a 10:00:00Z",
        "2026-03-01 1O:00:00Z",
        "2026-03-01t10:00:00Z",
        "2026-03-01 10:00:00z",
        "2026/03/01 10:00:00Z",
        "2026-03-01 10:00+01Z",
        "+026-03-01 10:00:00Z",
        "2026-03-01 10:00:00+",
    ]
    if not zone:  # the same, of 19 characters
        bad = [b[:19] if b.endswith(("Z", "z")) else b[1:] for b in bad]
        bad += ["2026-03-01 10:00:0Z", "2026-03-01 10:00Z00"]
    elif zone != "Z":  # the same with this suffix, and suffixes of no instant or of other layouts
        bad = [b[:19] + suffix() for b in bad]
        odd = {
            "+HH:MM": (
                "+15:00",
                "-14:60",
                "+0a:00",
                "*01:00",
                "+01;00",
                "+01:0a",
                "Z+0100",
                ".50+01",
                ".1234Z",
            ),
            "+HH": ("+15", "-1a", "*01", ".5Z", "+1:"),
            ".fffZ": (".12aZ", ",123Z", ".123z", ".1234", "+01:0"),
            ".ffffff": (".12345a", ",123456", "+01:00Z", ".1234Z+"),
            ".fff+HH:MM": (".123+15:00", ".123-01:60", ".12a+01:00", ".123+01;00", ".123456+01"),
            "+HHMM": ("+1500", "-0160", "+01:0", "*0100", "+0a00", ".5+01", ".123Z"),
            ".fff+HHMM": (".123+1500", ".123-0160", ".12a+0100", ".123+01:0", ".12345+01"),
        }[zone]
        bad += [f"2026-03-01 10:00:00{o}" for o in odd]
    if seed % 3:
        texts[rnd.randrange(len(texts))] = rnd.choice(bad)
    column = pa.array(texts, pa.string())
    width = _SUFFIXES[zone]
    assert {len(t) for t in texts} == {width}
    matrix = np.frombuffer(column.buffers()[2], np.uint8)[: width * len(texts)].reshape(-1, width)
    quick = usage_arrow_checks._by_arrow(column, matrix)
    values, odd = usage_arrow_checks._layouts(matrix, width)
    duck = _duckdb_stamps(texts)
    if seed % 3 == 0:
        assert quick is not None  # (every row an instant of that layout: read by Arrow)
    if quick is not None:
        assert odd is None
        assert quick.tolist() == values.tolist() == duck
    else:
        assert seed % 3  # a bad row among them
    found, unread = usage_arrow_checks._stamps(column)
    expect = [None if odd is not None and odd[i] else v for i, v in enumerate(values.tolist())]
    assert [None if unread is not None and unread[i] else v for i, v in enumerate(found.tolist())] == expect
    assert unread is None or not found[unread].any()  # (the rows not read: instant 0)


def test_text_starts_read_as_duckdb_and_the_small_reader_read_them() -> None:
    """Every form the proof reads, generated around calendar edges: the instant DuckDB's TRY_CAST
    gives, and `usage_small` reads the same forms (one rule, two readers)."""
    rnd = random.Random(11)
    texts: list[str] = []
    edges = [
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        datetime(2000, 3, 1, tzinfo=UTC),
        MONTH[0],
        MONTH[1],
    ]
    for i in range(3000):
        base = rnd.choice(edges) + timedelta(seconds=rnd.randrange(-86_400 * 3, 86_400 * 3))
        base += timedelta(microseconds=rnd.randrange(1_000_000) if i % 2 else 0)
        texts.append(start_text(base, rnd, i))
        if i % 50 == 0:  # offsets of every kind, 1..6 decimals
            sign = rnd.choice("+-")
            digits = rnd.randrange(1, 7)
            texts.append(
                base.strftime("%Y-%m-%dT%H:%M:%S")
                + "."
                + str(rnd.randrange(10**digits)).zfill(digits)
                + f"{sign}{rnd.randrange(15):02d}{rnd.choice((':', ''))}{rnd.randrange(60):02d}"
            )
    ours = usage_arrow_checks.stamps(pa.array(texts, pa.string())).tolist()
    assert ours == _duckdb_stamps(texts)
    for text, micros in zip(texts, ours, strict=True):
        small = _stamp(text)
        assert small is not None
        delta = small - datetime(1970, 1, 1, tzinfo=UTC)
        assert micros == (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


ODD_STARTS = (
    None,
    "",
    "yesterday",
    "2026-03-05",
    "2026-03-05 10:00:00 UTC",
    "2026-13-01 00:00:00Z",
    "2026-02-30 10:00:00Z",
    "2026-03-05 10:00:00+15",
    "2026-03-05 10:00:00.25Z",
    "2026-03-05 10:00:00+01:00",
    "2026-03-05T10:00:00",
)


@pytest.mark.parametrize(
    ("kind", "zone"), [("string", "Z"), ("string", ""), ("large_string", ""), ("sliced", "Z")]
)
@pytest.mark.parametrize(
    ("odd", "runs"),
    first_then_long(
        [(1, usage_arrow_checks._RUNS), (9, 4), (200, usage_arrow_checks._RUNS), (200, 4), (2000, 4)], 3
    ),
)
@pytest.mark.parametrize("filled", [True, False])
def test_a_column_of_starts_with_odd_rows_is_read_around_them(
    odd: int, zone: str, kind: str, runs: int, filled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starts mostly of one length with `odd` rows of other forms, lengths or none (NULL): each
    row in a form read here has DuckDB's instant, the others are told apart, row by row as the
    starts of one row each are (a column of text or large text, or a slice of one; every row
    read as one matrix, the odd rows' places filled with a copy of another row, up to `_FILLED`
    odd rows, none taken out; past them the rows of one length taken run by run, or by Arrow's
    filter past `runs` runs)."""
    monkeypatch.setattr(usage_arrow_checks, "_RUNS", runs)
    monkeypatch.setattr(usage_arrow_checks, "_FILLED", 10_000 if filled else 0)
    if filled:  # (rows taken out: 43-48 ns a row against 28 for a slice of one length)
        monkeypatch.setattr(usage_arrow_checks, "_rows_of_length", None)
    rnd = random.Random(odd)
    texts: list[str | None] = [
        (MONTH[0] + timedelta(seconds=rnd.randrange(86_400 * 30))).strftime(f"%Y-%m-%d %H:%M:%S{zone}")
        for _ in range(5000)
    ]
    for row in rnd.sample(range(len(texts)), odd):
        texts[row] = rnd.choice(ODD_STARTS)
    if kind == "sliced":
        column = pa.array(["2026-03-05 10:00:00Z", *texts, None], pa.string()).slice(1, len(texts))
    else:
        column = pa.array(texts, pa.large_string() if kind == "large_string" else pa.string())
    values, unread = usage_arrow_checks._stamps(column)
    read_alone = []
    for text in texts:
        try:
            read_alone.append(None if text is None else int(usage_arrow_checks.stamps(pa.array([text]))[0]))
        except usage_arrow_checks._Unsure:
            read_alone.append(None)
    assert [None if unread is not None and unread[i] else int(v) for i, v in enumerate(values)] == read_alone
    assert unread is None or not values[unread].any()  # (the rows not read: instant 0)
    duck = _duckdb_stamps([t or "" for t in texts])
    assert all(ours is None or ours == theirs for ours, theirs in zip(read_alone, duck, strict=True))


def test_a_null_start_whose_slot_holds_a_whole_start_is_not_read() -> None:
    """Every slot of one length, one of them NULL (Arrow lets a NULL slot hold bytes): that row is
    unread, instant 0, and the others are read as they are without it."""
    import numpy as np

    texts = [f"2026-03-{day:02d} 10:00:00Z" for day in range(1, 29)]
    body = "".join(texts).encode()
    offsets = np.arange(0, len(body) + 1, 20, dtype=np.int32)
    valid = np.ones(len(texts), bool)
    valid[5] = False
    column = pa.Array.from_buffers(
        pa.string(),
        len(texts),
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(offsets), pa.py_buffer(body)],
    )
    values, unread = usage_arrow_checks._stamps(column)
    assert unread is not None and unread.tolist() == (~valid).tolist()
    assert values[5] == 0
    alone = usage_arrow_checks.stamps(pa.array(texts[:5] + texts[6:], pa.string()))
    assert np.delete(values, 5).tolist() == alone.tolist()


@pytest.mark.parametrize("text", ["2026-03-05 10:00:00 UTC", "2026-13-01 00:00:00", "2026-03-05 10:00:00+15"])
def test_forms_the_small_reader_refuses_the_proof_refuses(text: str) -> None:
    with pytest.raises(_Unsure):
        _stamp(text)
    with pytest.raises(usage_arrow_checks._Unsure):
        usage_arrow_checks.stamps(pa.array([text], pa.string()))


@pytest.mark.parametrize("seed", range(6))
def test_rows_alike_are_compared_by_duckdb_among_the_proofs_candidates_only(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duplicates (a row three times, two others twice, copies in another file and row group, NULLs)
    and a row alike in the hashed columns only (another zone): every row is clean, so the pass's
    sums stand and DuckDB compares only the rows whose hash another row shares (no duplicate
    search over the files); the rating, duplicates listed as rejects, is the same both ways."""
    rnd = random.Random(seed)
    table = parquet_table(
        records(rnd, 600, seed % 2 == 0), rnd, ("text", "us", "ms")[seed % 3], seed % 2 == 1
    )
    alike = table.take([50])
    zone = alike.schema.get_field_index("zone")
    alike = alike.set_column(zone, "zone", pa.array(["eu" if alike["zone"][0].as_py() != "eu" else "world"]))
    whole = pa.concat_tables([table, table.take([3, 3, 100, 599]), alike])
    cut = rnd.randrange(200, 600)
    paths = [
        write_parquet(tmp_path / "a.parquet", whole.slice(0, cut), rnd),
        write_parquet(tmp_path / "b.parquet", whole.slice(cut), rnd),
    ]
    if seed % 2:  # the hashes split about their median and sorted on two threads, as a month's are
        monkeypatch.setattr(usage_arrow_checks, "SPLIT_SORT", 1)
    searched = _searches(monkeypatch)
    answers = _answers(monkeypatch)
    by_proof = _rated(paths, True, monkeypatch)
    assert [(p is not None and p.clean, p is not None and p.proven) for p in answers.proofs] == [
        (True, False)
    ] * 2
    assert all(p is not None and p.repeats for p in answers.proofs)
    assert searched == []
    assert by_proof == _rated(paths, False, monkeypatch)
    assert searched  # DuckDB's own search, the proof off
    duplicates = [g for g in by_proof[0] if g[5] == "duplicate"]
    assert sum(g[6] for g in duplicates) == 4  # the copies; the row alike is no duplicate


@pytest.mark.parametrize("seed", range(40))
def test_hashes_seen_twice_are_found_whether_sorted_on_one_thread_or_split_on_two(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values repeated among a proof's hashes, each once, and the hashes left sorted, the same
    on one thread as split about the median on two: repeats on one side, across the middle, many
    copies of the median itself, none at all, an odd count, the largest 64-bit values."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    pool = rng.integers(0, 1 << 64, int(rng.integers(1, n + 1)), dtype=np.uint64, endpoint=False)
    if seed % 4 == 0:
        pool[:2] = np.iinfo(np.uint64).max
    hashes = rng.choice(pool, n) if seed % 5 else np.unique(pool)
    if seed % 3 == 0 and len(hashes) > 2:
        hashes[: len(hashes) // 2] = np.sort(hashes)[len(hashes) // 2]  # the median many times over
    values, counts = np.unique(hashes, return_counts=True)
    expected = values[counts > 1]
    monkeypatch.setattr(usage_arrow_checks, "SPLIT_SORT", 1)
    monkeypatch.setattr(usage_arrow_checks, "ENDING_BLOCK", 1 + seed % 7)
    with ThreadPoolExecutor(max_workers=1) as two:
        for pool in (None, two):
            mine = hashes.copy()
            found = usage_arrow_checks._repeated(mine, pool)
            assert found.tolist() == expected.tolist()
            assert mine.tolist() == sorted(hashes.tolist())
    low = hashes.astype(np.uint32)
    ends = np.zeros(1 << 16, bool)
    ends[rng.integers(0, 1 << 16, 50)] = True
    ends[low[: n // 3] & 0xFFFF] = True
    marked = [i for i, v in enumerate(low.tolist()) if ends[v & 0xFFFF]]
    with ThreadPoolExecutor(max_workers=1) as two:
        for pool in (None, two):
            assert usage_arrow_checks._ending(low, ends, pool).tolist() == marked


@pytest.mark.parametrize("seed", range(48))
def test_repeated_hashes_and_their_rows_are_found_from_the_low_bits_sorted_first(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_repeats` against a plain count: the hashes seen twice or more, the rows whose hash ends in
    the low 32 bits of one of them (rows of other hashes with those low bits among them), each
    row's low 32 bits in row order; None when no hash repeats, also when low bits do (hashes alike
    in their low 32 bits only); the same past `MAX_LOW_REPEATS` (the hashes then sorted
    themselves), on one thread or two, whatever the marks' width."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    hashes = rng.integers(0, 1 << 64, n, dtype=np.uint64, endpoint=False)
    if seed % 3:  # rows repeated
        copies = rng.integers(0, n, int(rng.integers(1, 6)))
        hashes[rng.integers(0, n, len(copies))] = hashes[copies]
    if seed % 4 < 2:  # hashes alike in their low 32 bits only
        others = rng.integers(0, n, int(rng.integers(1, 6)))
        hashes[rng.integers(0, n, len(others))] = (hashes[others] & np.uint64(0xFFFF_FFFF)) | (
            rng.integers(1, 1 << 32, len(others), dtype=np.uint64) << np.uint64(32)
        )
    if seed % 8 == 7:
        hashes[:2] = np.iinfo(np.uint64).max
    values, counts = np.unique(hashes, return_counts=True)
    repeated = values[counts > 1]
    ends = set((repeated & np.uint64(0xFFFF_FFFF)).tolist())
    rows = [i for i, h in enumerate(hashes.tolist()) if h & 0xFFFF_FFFF in ends]
    monkeypatch.setattr(usage_arrow_checks, "SPLIT_SORT", 1)
    monkeypatch.setattr(usage_arrow_checks, "ENDING_BLOCK", 1 + seed % 5)
    monkeypatch.setattr(usage_arrow_checks, "MAX_LOW_REPEATS", (0, 2, 1 << 20)[seed % 3])
    monkeypatch.setattr(usage_arrow_checks, "FEW_REPEATS", (1, 1_000)[seed % 2])
    if seed % 6 == 5:
        monkeypatch.setattr(usage_arrow_checks, "MAX_REPEATS", max(len(repeated) - 1, 0))
    with ThreadPoolExecutor(max_workers=1) as two:
        for pool in (None, two):
            found = usage_arrow_checks._repeats(hashes.copy(), hashes.astype(np.uint32), pool)
            if not len(repeated):
                assert found is None
                continue
            assert found is not None
            got, where, bits = found
            assert got.tolist() == repeated.tolist()
            assert bits.tolist() == (hashes & np.uint64(0xFFFF_FFFF)).tolist()
            if len(repeated) > usage_arrow_checks.MAX_REPEATS:
                assert where is None
            else:
                assert where is not None and where.tolist() == rows


@pytest.mark.parametrize(
    ("limit", "over"), first_then_long([(64, -1), (64, 0), (64, 1), (1 << 20, 0), (1 << 20, 1)], 3)
)
def test_repeats_just_up_to_and_past_the_low_bits_limit_list_every_row_of_a_repeated_hash(
    limit: int, over: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`limit + over` low 32 bits seen twice or more, `MAX_LOW_REPEATS` being `limit` (the real one
    for the long runs): each in a group of two to five rows, whole copies of one hash or hashes
    alike in their low bits only, or both, a group holding the first and the last row; the rest
    of one row each.  The rows' low bits only are sorted up to the limit, the hashes themselves
    past it, and either way the hashes seen twice and every row of their low bits (the first
    and the last among them) are a plain count's."""
    import numpy as np

    rng = np.random.default_rng(limit + over)
    monkeypatch.setattr(usage_arrow_checks, "MAX_LOW_REPEATS", limit)
    groups = limit + over
    lows = rng.choice(1 << 32, groups + 500, replace=False).astype(np.uint64)
    sizes = rng.integers(2, 6, groups)
    group_lows = np.repeat(lows[:groups], sizes)
    highs = rng.integers(0, 1 << 32, len(group_lows), dtype=np.uint64)
    whole = rng.random(groups) < 0.3  # (groups of one hash's copies; the first group's too)
    whole[0] = True
    whole = np.repeat(whole, sizes)
    highs[whole] = np.repeat(highs[np.cumsum(sizes) - sizes], sizes)[whole]
    hashes = np.concatenate([(highs << np.uint64(32)) | group_lows, lows[groups:]])
    hashes = hashes[[0, *(rng.permutation(len(hashes) - 2) + 2), 1]]  # (the first group's first)
    sorted_whole: list[int] = []
    real = usage_arrow_checks._repeated

    def spy(values: np.ndarray, pool: Any) -> np.ndarray:
        if values.dtype == np.uint64 and len(values) == len(hashes):
            sorted_whole.append(len(values))
        return real(values, pool)

    monkeypatch.setattr(usage_arrow_checks, "_repeated", spy)
    values, counts = np.unique(hashes, return_counts=True)
    repeated = values[counts > 1]
    rows = np.flatnonzero(np.isin(hashes.astype(np.uint32), repeated.astype(np.uint32)))
    assert len(rows) and rows[0] == 0 and rows[-1] == len(hashes) - 1
    with ThreadPoolExecutor(max_workers=1) as two:
        for pool in (None, two):
            found = usage_arrow_checks._repeats(hashes.copy(), hashes.astype(np.uint32), pool)
            assert found is not None
            got, where, bits = found
            assert got.tolist() == repeated.tolist()
            assert where is not None and where.tolist() == rows.tolist()
            assert bits.tolist() == hashes.astype(np.uint32).tolist()
    assert sorted_whole == ([len(hashes)] * 2 if over > 0 else [])


ODD_FILLS = (
    *ODD_STARTS,
    "2026-03-05 10:00:0aZ",
    "2026-03-31 24:00:00Z",
    "0001-03-05 10:00:00Z",
    "2026-04-05 10:00:00Z",
)


@pytest.mark.parametrize("seed", first_then_long(range(240), 60))
def test_starts_read_as_one_matrix_around_odd_rows_are_each_rows_own_reading(seed: int) -> None:
    """A column of text starts (text or large text, maybe a slice far into its buffers) of one
    length but for 0, 1, up to `_FILLED` and one more odd rows, every row odd, the first row odd, or
    the first row of that length malformed (the copy put in the odd rows' places): NULL (its slot
    empty, of that length, or holding another start), of another length, in another form or none.
    Each row read is read as it is alone, each row NULL or in another form is unread and 0, and the
    same with the rows taken out (`_FILLED` 0)."""
    import numpy as np

    rnd = random.Random(seed)
    zone = rnd.choice(["", "Z", "+01", ".123Z", "+01:00"])
    rows = rnd.choice([1, 2, 9, 127, 128, 129, 130, 300, 1100])
    texts = [
        (MONTH[0] + timedelta(seconds=rnd.randrange(86_400 * 30))).strftime(f"%Y-%m-%d %H:%M:%S{zone}")
        for _ in range(rows)
    ]
    valid = [True] * rows
    cap = usage_arrow_checks._FILLED
    odd = min(rows, rnd.choice([0, 1, cap - 1, cap, cap + 1, rows, rnd.randrange(rows + 1)]))
    picked = rnd.sample(range(rows), odd)
    if seed % 4 == 1:
        picked = [0, *[r for r in picked if r != 0]]
    for row in picked:
        texts[row] = rnd.choice(ODD_FILLS)
        if texts[row] is None or rnd.random() < 0.2:
            valid[row] = False
            texts[row] = rnd.choice(["", texts[row] or "", texts[row - 1] or ""])
    if seed % 4 == 2:  # the first row of that length malformed: copied into the others' places
        first = next((i for i, v in enumerate(valid) if v and len(texts[i] or "") == len(texts[-1] or "")), 0)
        texts[first] = "2026-02-30 10:00:00" + zone
    before = rnd.choice([0, 0, 3, 13])
    body_texts = ["2026-03-05 10:00:00Z"] * before + [t or "" for t in texts] + ["yesterday"]
    body = "".join(body_texts).encode()
    large = seed % 3 == 0
    offsets = np.cumsum([0, *(len(t) for t in body_texts)]).astype(np.int64 if large else np.int32)
    bitmap = np.packbits(np.array([True] * before + valid + [True]), bitorder="little")
    column = pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        len(body_texts),
        [pa.py_buffer(bitmap), pa.py_buffer(offsets), pa.py_buffer(body)],
        null_count=valid.count(False),
    ).slice(before, rows)
    column.validate(full=True)
    alone: list[int | None] = []
    for text, ok in zip(texts, valid, strict=True):
        try:
            alone.append(int(usage_arrow_checks.stamps(pa.array([text]))[0]) if ok else None)
        except usage_arrow_checks._Unsure:
            alone.append(None)
    for filled in (cap, 0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(usage_arrow_checks, "_FILLED", filled)
            values, unread = usage_arrow_checks._stamps(column)
        read = [None if unread is not None and unread[i] else int(v) for i, v in enumerate(values)]
        assert read == alone, filled
        assert unread is None or not values[unread].any()


@pytest.mark.parametrize("before", [True, False])
def test_numpy_asks_for_no_huge_pages_while_a_pass_and_its_proof_run(
    tmp_path: Path, before: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof's arrays are made, and the pass reads, without huge pages; the setting the process
    had is back after the rating."""
    from numpy._core.multiarray import _get_madvise_hugepage  # type: ignore[attr-defined]

    seen: list[bool] = []
    check = usage_arrow_checks.RowProof._check

    def spy(proof: usage_arrow_checks.RowProof, batch: pa.RecordBatch) -> None:
        seen.append(bool(_get_madvise_hugepage()))
        check(proof, batch)

    monkeypatch.setattr(usage_arrow_checks.RowProof, "_check", spy)
    real = usage_arrow_checks.row_proof

    def made(*args: Any, **kwargs: Any) -> usage_arrow_checks.RowProof | None:
        seen.append(bool(_get_madvise_hugepage()))
        return real(*args, **kwargs)

    monkeypatch.setattr(usage_arrow_checks, "row_proof", made)
    previous = usage_arrow.huge_pages(before)
    try:
        _rated(_clean_file(tmp_path, 2), True, monkeypatch)
        assert len(seen) > 1 and not any(seen)
        assert usage_arrow.huge_pages(before) is before
    finally:
        usage_arrow.huge_pages(previous)


def test_a_pass_reads_into_the_pass_pool_and_gives_the_default_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a pass runs, pyarrow's default pool is the pass's (jemalloc where pyarrow has it:
    Arrow grows and shrinks its buffers there without copying them): every batch the workers
    read and sum is read then; the default the process had is back after the rating."""
    seen: list[str] = []
    group = usage_arrow._group

    def spy(batch: pa.RecordBatch, *args: Any) -> Any:
        seen.append(pa.default_memory_pool().backend_name)
        return group(batch, *args)

    monkeypatch.setattr(usage_arrow, "_group", spy)
    try:
        pa.jemalloc_memory_pool()
        wanted = "jemalloc"
    except NotImplementedError:
        wanted = "system"
    assert usage_arrow.pass_pool().backend_name == wanted
    before = pa.default_memory_pool().backend_name
    _rated(_clean_file(tmp_path, 2), True, monkeypatch)
    assert len(seen) > 1 and set(seen) == {wanted}
    assert pa.default_memory_pool().backend_name == before


def test_too_many_rows_alike_leave_the_duplicate_search_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the rows it lists, the proof leaves the search to DuckDB (the pass's sums stand)."""
    rnd = random.Random(9)
    table = parquet_table(records(rnd, 400, True), rnd, "us", True)
    path = write_parquet(tmp_path / "u.parquet", pa.concat_tables([table, table.slice(0, 40)]), rnd)
    monkeypatch.setattr(usage_arrow_checks, "MAX_REPEAT_ROWS", 79)
    answers = _answers(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [False, False]
    assert [p is not None and p.clean and p.repeats is None for p in answers.proofs] == [True, True]


@pytest.mark.parametrize("month", [(2024, 2), (2026, 2), (2026, 3), (2026, 4), (2000, 12)])
def test_starts_of_one_month_read_8_bytes_at_a_time_as_duckdb_reads_them(month: tuple[int, int]) -> None:
    """Blocks of starts all in one month, `YYYY-MM-DD HH:MM:SS` then nothing or `Z` (the
    quick reading): the instants DuckDB's TRY_CAST gives; a day or time of no calendar in such
    a block is refused (24:00:00 too, which DuckDB reads as the next day's midnight)."""
    rnd = random.Random(month[0] * 12 + month[1])
    first, end = month_bounds(*month)
    days = (end - first).days
    for zone, sep in (("Z", " "), ("", "T"), ("Z", "T")):
        moments = [first + timedelta(seconds=rnd.randrange(days * 86_400)) for _ in range(3000)]
        moments += [first, end - timedelta(seconds=1)]
        texts = [m.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + zone for m in moments]
        assert usage_arrow_checks.stamps(pa.array(texts, pa.string())).tolist() == _duckdb_stamps(texts)
        for odd in (
            f"{days + 1:02d} 10:00:00",
            "00 10:00:00",
            "05 24:00:00",
            "05 10:60:00",
            "05 10:00:60",
            "05 1a:00:00",
        ):
            wrong = texts[:]
            wrong[1234] = first.strftime("%Y-%m-") + odd.replace(" ", sep) + zone
            with pytest.raises(usage_arrow_checks._Unsure):
                usage_arrow_checks.stamps(pa.array(wrong, pa.string()))


def test_a_pass_that_declines_leaves_the_month_to_duckdbs_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows the proof reads but the pass does not (a row group larger than the pass reads): DuckDB
    checks the rows and searches the duplicates, the rating the same both ways."""
    rnd = random.Random(12)
    table = parquet_table(records(rnd, 500, True), rnd, "text", True)
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.concat_tables([table, table.slice(7, 2)]), path, use_dictionary=False)
    monkeypatch.setattr(usage_arrow, "MAX_GROUP_ROWS", 100)
    searched = _searches(monkeypatch)
    answers = _answers(monkeypatch)
    by_proof = _rated(path, True, monkeypatch)
    assert len(answers.proofs) == 2 and all(p is not None for p in answers.proofs)
    assert len(searched) == 2  # the proof made, the pass declined: DuckDB's search each time
    assert by_proof == _rated(path, False, monkeypatch)
    assert sum(g[6] for g in by_proof[0] if g[5] == "duplicate") == 2


def test_parquet_rejects_are_listed_from_the_cells_and_the_rows_set_aside_as_duckdb_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three files read as one, with keys refused later (unknown lines and types, zones,
    destinations), rows that fail a check (set aside) and a row repeated in another file: the
    listing found from each row's aggregate cell and DuckDB's checks of the rows set aside is
    DuckDB's listing of every row, up to any limit, with the same invoice."""
    from usage_forms import key_listings, listing

    rnd = random.Random(17)
    cols = records(rnd, 900, True)
    data = [i for i, t in enumerate(cols["type"]) if t == "data"]
    cols["start"][data[1]] = MONTH[1] + timedelta(hours=1)  # outside the month
    cols["bytes_up"][data[2]] = -5
    cols["bytes_down"][data[400]] = None  # a data row without both byte counts
    cols["duration_s"][data[401]] = 43_201  # over 12 h
    for name in cols:
        cols[name].insert(750, cols[name][12])  # a copy of a row of the first file in the last
        cols[name].insert(760, cols[name][data[2]])  # and of a bad row
    table = parquet_table(cols, rnd, "text", True)
    paths = [write_parquet(tmp_path / f"part-{i}.parquet", table.slice(300 * i, 302), rnd) for i in range(3)]
    used = key_listings(monkeypatch)

    def rated(proof: bool, limit: int) -> tuple[list[dict[str, Any]], str]:
        monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if proof else 1 << 62)
        return listing(paths, limit)

    answers = _answers(monkeypatch)
    for limit in (1, 7, 13, 100_000):
        by_duckdb = rated(False, limit)
        assert rated(True, limit) == by_duckdb
    assert len(by_duckdb[0]) > 13
    assert used == [True] * 4  # (only the proven ratings list by cells; DuckDB's listing otherwise)
    assert all(p is not None and len(p.set_aside) == 5 for p in answers.proofs), answers.aside()


def _alike_in_hash_only(tmp_path: Path, seed: int) -> Path:
    """600 rows, then rows 0, 10, ... 590 again but for their destination (rows 600-659), then
    copies of rows 5 and 77 (rows 660 and 661)."""
    rnd = random.Random(seed)
    table = parquet_table(records(rnd, 600, seed % 2 == 0), rnd, ("text", "us")[seed % 2], True)
    picked = table.take(list(range(0, 600, 10)))
    other = ["fr-fixed" if v != "fr-fixed" else "fr-mobile" for v in picked["dest"].to_pylist()]
    dest = picked.schema.get_field_index("dest")
    alike = picked.set_column(dest, "dest", pa.array(other, picked.schema.field(dest).type))
    return write_parquet(tmp_path / "u.parquet", pa.concat_tables([table, alike, table.take([5, 77])]), rnd)


@pytest.mark.parametrize("seed", range(4))
def test_rows_alike_in_the_hash_but_of_another_cell_are_not_listed_for_duckdb(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many rows alike in the hashed columns but of another destination (a line's SMS to two
    numbers in one second), besides two duplicates: the proof lists only the duplicates' rows
    (rows alike in every field share their cell), within a limit the rows alike would pass, with
    the rows found by 24 bits of their hashes past a few repeated ones; DuckDB's full search is
    not made, and the rating is the same both ways."""
    path = _alike_in_hash_only(tmp_path, seed)
    monkeypatch.setattr(usage_arrow_checks, "FEW_REPEATS", 8 if seed % 2 else 1_000)
    monkeypatch.setattr(usage_arrow_checks, "MAX_REPEAT_ROWS", 20)  # (the 120 rows alike: past it)
    searched = _searches(monkeypatch)
    answers = _answers(monkeypatch)
    by_proof = _rated(path, True, monkeypatch)
    assert len(answers.proofs) == 2
    for p in answers.proofs:
        assert p is not None and p.clean and not p.proven
        assert p.repeats is not None and sorted(r for _, r in p.repeats) == [5, 77, 660, 661]
    assert searched == []
    assert by_proof == _rated(path, False, monkeypatch)
    assert sum(g[6] for g in by_proof[0] if g[5] == "duplicate") == 2


@pytest.mark.parametrize("seed", range(10))
def test_rows_are_alike_when_they_share_both_hash_bits_and_cell(seed: int) -> None:
    """`_alike` keeps exactly the rows whose (low 32 bits, cell) pair another row has."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 200))
    low = rng.integers(0, 6, n).astype(np.uint32) * np.uint32(0x9E3779B9)
    cells = (rng.integers(0, 3, n).astype(np.int64) << 32) + rng.integers(0, 4, n)
    pairs = list(zip(low.tolist(), cells.tolist(), strict=True))
    expected = [pairs.count(p) > 1 for p in pairs]
    assert usage_arrow_checks._alike(low, cells).tolist() == expected


def test_the_cells_of_rows_are_read_across_batches_of_other_line_counts() -> None:
    """A batch numbers its cells by the lines known then: each row's (combination, line) is the
    same whichever batch holds it."""
    import numpy as np

    cells = usage_arrow.Cells()
    cells.batches = [
        (np.array([0, 4, 7], np.int32), 3),
        (np.array([9, 2], np.int32), 5),
        (np.array([], np.int32), 5),
    ]
    cells.batches.append((np.array([13, 6], np.int32), 7))
    rows = np.array([0, 1, 2, 3, 4, 5, 6])
    expected = [divmod(c, n) for batch, n in cells.batches for c in batch.tolist()]
    assert cells.of_rows(rows).tolist() == [(c << 32) + line for c, line in expected]
    assert cells.of_rows(np.array([2, 6])).tolist() == [(2 << 32) + 1, (0 << 32) + 6]
    with pytest.raises(ValueError):
        cells.of_rows(np.array([7]))


def test_without_every_rows_cell_every_row_of_a_repeated_hash_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells that do not cover a candidate row (`Cells.of_rows` refuses): the proof lists every
    row of a repeated hash, as before it asked the cells, and the rating is the same."""

    def uncovered(cells: usage_arrow.Cells, rows: Any) -> Any:
        raise ValueError("a row past the cells kept")

    path = _alike_in_hash_only(tmp_path, 0)
    monkeypatch.setattr(usage_arrow.Cells, "of_rows", uncovered)
    searched = _searches(monkeypatch)
    answers = _answers(monkeypatch)
    by_proof = _rated(path, True, monkeypatch)
    for p in answers.proofs:
        assert p is not None and p.repeats is not None
        listed = sorted(r for _, r in p.repeats)
        assert {5, 77, 660, 661, *range(0, 600, 10), *range(600, 660)} <= set(listed)
    assert searched == []
    assert by_proof == _rated(path, False, monkeypatch)


def test_rows_alike_but_for_an_empty_text_or_a_null_key_are_duplicates_by_the_proof_and_by_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet export of text holds '' where its CSV's cell was empty, and NULL where another
    writer left it out: the same empty cell.  Rows alike but for '' and NULL in a key (zone,
    destination, line) are duplicates, as their CSV lines are; the proof lists them for DuckDB
    to compare (their cells are one), and both ways find them."""
    rnd = random.Random(3)
    table = parquet_table(records(rnd, 400, False), rnd, "text", False)
    rows = table.to_pylist()
    copies = []
    for at, key in ((10, "zone"), (20, "dest"), (30, "line")):
        row = dict(rows[at], type="sms_internet" if key == "line" else rows[at]["type"])
        row.update({key: ""}, dest=row["dest"] if key != "dest" else "")
        rows[at] = row
        copies.append(dict(row, **{key: None}))
    path = tmp_path / "u.parquet"
    pq.write_table(pa.Table.from_pylist(rows + copies, table.schema), path)
    answers = _answers(monkeypatch)
    by_proof = _rated(path, True, monkeypatch)
    assert [p is not None and p.clean and not p.proven for p in answers.proofs] == [True, True]
    assert by_proof == _rated(path, False, monkeypatch)
    assert sum(g[6] for g in by_proof[0] if g[5] == "duplicate") == 3


@pytest.mark.parametrize("seed", first_then_long(range(4), 2))
def test_slices_of_any_size_set_aside_the_rows_of_one_whole_batch_and_rate_as_duckdb(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random files with bad rows and NULL in every column, row groups and batches of odd sizes
    (slices starting at a row not a multiple of 8, batches of exactly `SLICE_ROWS` rows and one
    more), a row ending exactly at the month's limit and a duplicate across slices: every slice
    size sets the same rows aside as the whole batch, and the rating is DuckDB's."""
    rnd = random.Random(seed)
    cols = records(rnd, 700, seed % 2 == 0)
    end = MONTH[1]
    bad: list[tuple[str, Any]] = [
        ("start", None),
        ("start", end),
        ("start", MONTH[0] - timedelta(seconds=1)),
        ("duration_s", -1),
        ("duration_s", MAX_SECONDS + 1),
        ("bytes_up", None),
        ("bytes_down", MAX_OCTETS + 1),
    ]
    for row in rnd.sample(range(len(cols["line"])), 40):
        name, value = rnd.choice(bad)
        cols[name][row] = value
    voice = [i for i, k in enumerate(cols["type"]) if k == "voice"]
    cols["start"][voice[0]] = end - timedelta(seconds=10)
    cols["duration_s"][voice[0]] = 10 + PAST_MONTH_END_S  # ends at the limit exactly: no reject
    cols["start"][voice[1]] = end - timedelta(seconds=10)
    cols["duration_s"][voice[1]] = 11 + PAST_MONTH_END_S
    for name in cols:  # row 90 (a slice's first or last) a copy of row 3
        cols[name][90] = cols[name][3]
    start = ("text", "us", "ms", "naive")[seed % 4]
    path = tmp_path / "u.parquet"
    pq.write_table(parquet_table(cols, rnd, start, True), path, row_group_size=293)
    monkeypatch.setattr(usage_arrow, "BATCH_ROWS", 91)
    aside: dict[int, list[list[int]]] = {}
    for rows in (7, 8, 13, 90, 91, 1 << 20):
        monkeypatch.setattr(usage_arrow_checks, "SLICE_ROWS", rows)
        answers = _answers(monkeypatch)
        _same_both_ways(path, monkeypatch)
        aside[rows] = [sorted(p.set_aside) for p in answers.proofs if p is not None]
    assert aside[1 << 20] and all(len(a) >= 20 for a in aside[1 << 20])
    assert all(found == aside[1 << 20] for found in aside.values())


@pytest.mark.parametrize("start", ["us", "ms", "ns", "naive", "text", "dictionary"])
def test_slices_of_arrays_with_offsets_are_checked_as_the_whole_batch(
    start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches cut from a table at rows not a multiple of 8 (arrays with offsets, NULL bits and
    bytes shared with the rows before), of 0 rows, of `SLICE_ROWS` and one more: each slice size
    sets aside the same rows and hashes them as the whole batch does."""
    rnd = random.Random(len(start))
    cols = records(rnd, 300, start != "ms")
    for row in rnd.sample(range(300), 30):
        name, value = rnd.choice(
            [("start", None), ("duration_s", -1), ("bytes_up", None), ("start", MONTH[1])]
        )
        cols[name][row] = value
    table = parquet_table(cols, rnd, "text" if start == "dictionary" else start, True)
    kinds = {"ns": "TIMESTAMPTZ_NS", "naive": "TIMESTAMP", "text": "VARCHAR", "dictionary": "VARCHAR"}
    types = {"line": "VARCHAR", "type": "VARCHAR", "start": kinds.get(start, "TIMESTAMP WITH TIME ZONE")}
    types |= {"duration_s": "BIGINT", "bytes_up": "BIGINT", "bytes_down": "BIGINT", "delivered": "BOOLEAN"}
    table = table.select(list(types))
    for name in ("line", "type", *(("start",) if start == "dictionary" else ())):
        table = table.set_column(table.schema.get_field_index(name), name, table[name].dictionary_encode())
    if start == "ns":
        table = table.set_column(2, "start", table["start"].cast(pa.timestamp("ns", "UTC")))
    cuts = [0, 3, 3, 16, 29, 30, 131, 300]  # batches of 3, 0, 13, 13, 1, 101 and 169 rows

    empty = pa.record_batch([pa.array([], f.type) for f in table.schema], schema=table.schema)

    def proven(rows: int) -> tuple[list[int], list[int]]:
        monkeypatch.setattr(usage_arrow_checks, "SLICE_ROWS", rows)
        proof = usage_arrow_checks.RowProof([], types, *MONTH, 300, False)
        for a, b in pairwise(cuts):
            for batch in table.slice(a, b - a).to_batches() or [empty]:
                proof(batch)
        hashes = proof._hashes[: proof._done].tolist()
        proof.finish()
        return sorted(proof.set_aside), hashes

    whole = proven(1 << 20)
    assert len(whole[0]) >= 10 and len(whole[1]) == 300
    for rows in (1, 7, 8, 12, 13, 14):
        assert proven(rows) == whole, rows
