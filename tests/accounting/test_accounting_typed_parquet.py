"""Typed Parquet (as the simulator writes it) rates exactly like the same rows given as text.

The one-scan aggregate reads BIGINT and timestamp columns as they are and lets the Parquet
statistics settle range checks and all-NULL columns; these tests hold it to the text path,
bad rows included (values too large to add, negative ones, missing byte counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from invoice_docs import billed
from usage_forms import write_claimed

from accounting import inventory_from_dict, rate
from accounting.usage import UsageReader, month_bounds
from accounting.usage_table import usage_table
from accounting.usage_writer import UsageWriter

INV = inventory_from_dict(
    {
        "customer": "c",
        "month": "2026-03",
        "lines": [
            {"id": "A", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2025-01-01"},
            {
                "id": "D",
                "offer": "business-m2m-dtmf",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2025-01-01",
            },
        ],
    }
)
DICTIONARY = ("line", "type", "zone", "dest", "imsi", "imeisv", "apn", "serving_plmn")
T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    """Typed columns through the writer the simulator uses (dictionary strings, all 17 columns)."""
    columns: dict[str, list[Any]] = {
        c: [r.get(c) for r in rows]
        for c in ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest")
    }
    columns["session"] = [f"s{i}" for i in range(len(rows))]  # records unique, as the footer says
    with UsageWriter(path, dictionary_columns=DICTIONARY, origin={"run": "test", "shard": 0}) as w:
        w.write_columns(columns, length=len(rows))


def _as_text(rows: list[dict[str, Any]]) -> pa.Table:
    return usage_table(
        [
            {"session": f"s{i}"}
            | {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items() if v is not None}
            for i, r in enumerate(rows)
        ]
    )


GOOD: list[dict[str, Any]] = [
    {
        "line": "A",
        "type": "data",
        "start": T,
        "bytes_up": 3000,
        "bytes_down": 100,
        "zone": "fr",
        "duration_s": 60,
    },
    {"line": "A", "type": "data", "start": T, "bytes_up": 1, "bytes_down": 0, "zone": "eu"},
    {"line": "D", "type": "voice", "start": T, "duration_s": 61, "dest": "fr-mobile"},
    {"line": "D", "type": "voice", "start": T, "duration_s": 0, "dest": "fr-mobile"},
    {"line": "A", "type": "sms", "start": T, "dest": "fr-mobile"},
    {"line": "Z", "type": "data", "start": T, "bytes_up": 5, "bytes_down": 5},
]
BAD: list[dict[str, Any]] = [
    {"line": "A", "type": "data", "start": T, "bytes_up": 2**62, "bytes_down": 2**62},  # would overflow a sum
    {"line": "A", "type": "data", "start": T, "bytes_up": -1, "bytes_down": 1},
    {"line": "A", "type": "data", "start": T, "bytes_up": 1},  # bytes_down missing
    {"line": "D", "type": "voice", "start": T, "duration_s": -5, "dest": "fr-mobile"},
    {"line": "D", "type": "voice", "start": T, "duration_s": 2**62, "dest": "fr-mobile"},
    {"line": "A", "type": "data", "start": datetime(2026, 4, 1, tzinfo=UTC), "bytes_up": 1, "bytes_down": 1},
]


def test_clean_typed_parquet_is_rated_like_its_text(tmp_path: Path) -> None:
    _write(tmp_path / "u.parquet", GOOD)
    typed = rate(INV, tmp_path / "u.parquet").to_dict()
    text = rate(INV, _as_text(GOOD)).to_dict()
    assert billed(typed) == billed(text)
    assert typed["rejects"] == [{"row": 7, "reason": "unknown line 'Z'"}]


def test_statistics_settle_the_checks_of_a_clean_file(tmp_path: Path) -> None:
    _write(tmp_path / "u.parquet", GOOD)
    reader = UsageReader(tmp_path / "u.parquet")
    assert reader.relation == reader._files  # (the files themselves: what the pyarrow pass reads)
    assert "delivered" in reader.columns and "delivered" in reader.empty_columns
    assert reader.ranges["bytes_up"] == (1, 3000) and reader.ranges["duration_s"] == (0, 61)
    sql, _, settled, _ = reader._scan_sql(*month_bounds(2026, 3), [0, 60])
    assert settled and "BETWEEN" not in sql and "delivered" not in sql and "start" not in sql


def test_bad_rows_in_typed_parquet_are_rejected_like_their_text(tmp_path: Path) -> None:
    rows = GOOD + BAD
    _write(tmp_path / "u.parquet", rows)
    reader = UsageReader(tmp_path / "u.parquet")
    assert not reader._scan_sql(*month_bounds(2026, 3), [0, 60]).settled  # checked row by row
    typed = rate(INV, tmp_path / "u.parquet")
    text = rate(INV, _as_text(rows))
    assert [(r.row, r.reason.split(":")[0]) for r in typed.rejects] == [
        (r.row, r.reason.split(":")[0]) for r in text.rejects
    ]
    assert [r.row for r in typed.rejects] == [7, 8, 9, 10, 11, 12, 13]
    assert typed.to_dict()["lines"] == text.to_dict()["lines"]
    assert typed.rejects_total == text.rejects_total == 7


def test_a_data_row_without_byte_counts_is_found_when_the_statistics_settle_the_rest(tmp_path: Path) -> None:
    missing = {"line": "A", "type": "data", "start": T, "bytes_up": 7}  # bytes_down missing
    rows = [*GOOD[:2], missing, *GOOD[2:], missing]
    _write(tmp_path / "u.parquet", rows)
    assert UsageReader(tmp_path / "u.parquet")._scan_sql(*month_bounds(2026, 3), [0, 60]).settled
    typed = rate(INV, tmp_path / "u.parquet")
    assert billed(typed.to_dict()) == billed(rate(INV, _as_text(rows)).to_dict())
    assert [(r.row, r.reason) for r in typed.rejects] == [
        (4, "malformed value: bytes_up/bytes_down '7'/missing"),
        (8, "unknown line 'Z'"),
        (9, "malformed value: bytes_up/bytes_down '7'/missing"),
    ]


def test_call_sums_of_the_settled_scan_match_the_text_path(tmp_path: Path) -> None:
    """Many call groups (both call types, zones, destinations, unknown lines, zero and long calls)."""
    import random

    rnd = random.Random(7)
    inv = inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "V",
                    "count": 9,
                    "offer": "business-m2m-dtmf",
                    "plan": "compteur",
                    "commitment": 24,
                    "since": "2025-01-01",
                },
                {
                    "id_prefix": "C",
                    "count": 9,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                },
            ],
        }
    )
    lines = [f"V{i}" for i in range(1, 10)] + [f"C{i}" for i in range(1, 10)] + ["X1"]
    rows: list[dict[str, Any]] = []
    for _ in range(600):
        line = rnd.choice(lines)
        kind = rnd.choice(("data", "sms", "voice", "csd"))
        row: dict[str, Any] = {"line": line, "type": kind, "start": T}
        if kind == "data":
            row |= {
                "bytes_up": rnd.randrange(5000),
                "bytes_down": rnd.randrange(5000),
                "zone": rnd.choice(("fr", "eu", "world")),
                "duration_s": rnd.randrange(43_200),
            }
        else:
            row |= {"dest": rnd.choice(("fr-mobile", "fr-fixed")), "zone": rnd.choice(("fr", "eu"))}
            if kind != "sms":
                row["duration_s"] = rnd.choice((0, 1, 59, 60, 61, rnd.randrange(4000)))
        rows.append(row)
    _write(tmp_path / "u.parquet", rows)
    assert UsageReader(tmp_path / "u.parquet")._scan_sql(*month_bounds(2026, 3), [0, 60]).settled
    typed = rate(inv, tmp_path / "u.parquet")
    text = rate(inv, _as_text(rows))
    assert billed(typed.to_dict()) == billed(text.to_dict())
    calls = [i for line in typed.lines for i in line.items if i.code in ("voice", "csd")]
    assert len(calls) >= 15 and all(i.amount > 0 for i in calls)


def test_a_typed_delivered_column_is_settled_a_key_when_it_varies_a_constant_when_not(tmp_path: Path) -> None:
    inv = inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id": "A",
                    "offer": "business-m2m",
                    "plan": "compteur",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
            ],
            "services": {"sms_internet": {"short_ids": 1, "since": "2025-01-01"}},
        }
    )
    smsi = {"type": "sms_internet", "start": T, "dest": "orange-fr"}
    data = {"line": "A", "type": "data", "start": T, "bytes_up": 10, "bytes_down": 2000}
    varied = [{**smsi, "delivered": True}] * 3 + [{**smsi, "delivered": False}] * 2 + [smsi, data]
    constant = [{**smsi, "delivered": True}] * 4 + [{**data, "delivered": True}]
    for name, rows, keyed in (("varied", varied, True), ("constant", constant, False)):
        path = tmp_path / f"{name}.parquet"
        columns = {
            c: [r.get(c) for r in rows] for c in ("line", "type", "start", "bytes_up", "bytes_down", "dest")
        }
        columns["delivered"] = [r.get("delivered") for r in rows]
        with UsageWriter(path, dictionary_columns=DICTIONARY, origin={"run": "test", "shard": 0}) as w:
            w.write_columns(columns, length=len(rows))
        sql, _, settled, _ = UsageReader(path)._scan_sql(*month_bounds(2026, 3), [0, 60])
        assert settled, name
        assert ("deliv_v" in sql) is keyed, name
        typed = rate(inv, path)
        assert billed(typed.to_dict()) == billed(rate(inv, _as_text(rows)).to_dict()), name
        assert typed.rejects_total == 0


def test_the_call_scan_runs_only_for_a_month_with_calls(tmp_path: Path) -> None:
    data_only = [r for r in GOOD if r["type"] != "voice"]
    for name, rows, scans in (("data", data_only, 1), ("calls", GOOD, 2)):
        _write(tmp_path / f"{name}.parquet", rows)
        reader = UsageReader(tmp_path / f"{name}.parquet")
        made: list[str] = []

        def fetch(
            sql: str, sums: Sequence[str], made: list[str] = made, read: Any = reader._fetch_sums
        ) -> list[tuple[Any, ...]]:
            made.append(sql)
            return read(sql, sums)  # type: ignore[no-any-return]

        reader._fetch_sums = fetch  # type: ignore[method-assign]
        groups = reader.aggregate(*month_bounds(2026, 3), [0, 60])
        assert len(made) == scans, name
        assert billed(rate(INV, tmp_path / f"{name}.parquet").to_dict()) == billed(
            rate(INV, _as_text(rows)).to_dict()
        )
        voice = [g for g in groups if g.type == "voice"]
        assert [(g.calls, dict(g.beyond)) for g in voice] == ([(1, {0: 61, 60: 1})] if scans == 2 else [])


def test_a_month_of_many_aggregates_is_fetched_exactly(tmp_path: Path) -> None:
    """More aggregates than are fetched as tuples (thousands of lines): the sums fetched by
    columns are the exact integers, typed Parquet and text alike."""
    count = 3000
    inv = inventory_from_dict(
        {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "L",
                    "count": count,
                    "offer": "business-m2m",
                    "plan": "compteur",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
            ],
        }
    )
    rows: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        line = f"L{i:04d}"
        rows.append(
            {
                "line": line,
                "type": "data",
                "start": T,
                "duration_s": 60,
                "bytes_up": i * 1000,
                "bytes_down": 7,
            }
        )
        rows.append({"line": line, "type": "csd", "start": T, "duration_s": i % 200, "dest": "fr-mobile"})
    _write(tmp_path / "many.parquet", rows)
    for source in (tmp_path / "many.parquet", _as_text(rows)):
        groups = UsageReader(source).aggregate(*month_bounds(2026, 3), [0, 60])
        assert len(groups) == 2 * count
        data = {g.line: g.ko for g in groups if g.type == "data"}
        calls = {g.line: (g.calls, dict(g.beyond)) for g in groups if g.type == "csd"}
        for i in range(1, count + 1):
            line = f"L{i:04d}"
            assert data[line] == -(-(i * 1000 + 7) // 1024)
            assert calls[line] == (int(i % 200 > 0), {0: i % 200, 60: max(i % 200 - 60, 0)})
            assert all(type(v) is int for v in (data[line], *calls[line][1].values()))
    assert billed(rate(inv, tmp_path / "many.parquet").to_dict()) == billed(
        rate(inv, _as_text(rows)).to_dict()
    )


def test_the_statistics_are_read_as_the_values_of_their_columns(tmp_path: Path) -> None:
    """DuckDB's text of each row group's min/max becomes the column's value: a timestamp in any
    unit and zone as an aware datetime in UTC (one finer than the microsecond rounded outwards),
    integers of any width as int, a BOOLEAN as bool; a text column bounds nothing.  (Only the
    statistics of a file that holds the simulator's footer claim are believed: each file here
    carries one; `test_parquet_statistics_untrusted` holds any other file to its rows.)"""

    ns = pa.array(
        [1_772_445_600_000_000_001, 1_772_449_200_000_000_999], pa.timestamp("ns", tz="Europe/Paris")
    )
    table = pa.table(
        {
            "line": ["A", "A"],
            "type": ["data", "data"],
            "start": ns,
            "duration_s": pa.array([0, 7], pa.int32()),
            "bytes_up": pa.array([None, 5], pa.uint16()),
            "bytes_down": ["1", "2"],
            "delivered": [True, False],
        }
    )
    path = tmp_path / "typed.parquet"
    write_claimed(table, path, {"rows": 2}, row_group_size=1)
    reader = UsageReader(path)
    assert reader.ranges == {
        "start": (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 11, 0, 0, 1, tzinfo=UTC)),
        "duration_s": (0, 7),
        "bytes_up": (5, 5),
        "delivered": (False, True),
    }
    assert reader.empty_columns == {"zone", "dest"}
    # a second file whose `start` has no time zone: no common bound, and no failure
    naive = tmp_path / "naive.parquet"
    write_claimed(table.set_column(2, "start", ns.cast(pa.timestamp("us"), safe=False)), naive, {"rows": 2})
    both = UsageReader([path, naive])
    assert "start" not in both.ranges and both.ranges["duration_s"] == (0, 7)


def test_float_counts_not_finite_are_rejected_rows_not_a_file_refused(tmp_path: Path) -> None:
    """A float column may hold NaN or an infinity where pandas' integers had a missing value
    (not a NULL): DuckDB refused to cast them in a CASE that never takes them, and the whole file
    was refused.  Each such row is a malformed value, named; the other rows are rated."""
    nan, inf = float("nan"), float("inf")
    path = tmp_path / "floats.parquet"
    table = pa.table(
        {
            "line": ["A", "A", "D", "D", "A", "D"],
            "type": ["data", "data", "voice", "voice", "data", "sms"],
            "start": pa.array([T] * 6, pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array([10.0, nan, 61.5, inf, 0.0, None]),
            "bytes_up": pa.array([100.0, 5.0, None, None, nan, None]),
            "bytes_down": pa.array([1.0, 2.0, None, None, -inf, None]),
            "dest": [None, None, "fr-mobile", "fr-mobile", None, "fr-mobile"],
        }
    )
    pq.write_table(table, path)
    invoice = rate(INV, path)
    assert [(r.row, r.reason) for r in invoice.rejects] == [
        (3, "malformed value: duration_s 'nan'"),
        (5, "malformed value: duration_s 'inf'"),
        (6, "malformed value: bytes_up/bytes_down 'nan'/'-inf'"),
    ]
    assert invoice.rows_read == 6
    items = {line.id: {i.code: i.quantity for i in line.items} for line in invoice.lines}
    assert items["D"]["voice"] == 62  # the call of 61.5 s, to its next second
    assert items["D"]["sms"] == 1 and items["A"]["data-fr-over"] == 1  # (100 + 1 octets: 1 ko)
