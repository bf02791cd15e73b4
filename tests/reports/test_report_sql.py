"""`m2msim sql`: the documented views answer the README's queries, in table, CSV and JSON; bad input exits 2.

The queries are read from README.md (the `sql` blocks under "SQL over a run"), so the README
shows what is tested.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fuzzing import run_cli

from accounting.records import is_retry_charging
from m2msim.rundir import MARKER
from simulator.run import simulate
from simulator.scenario import parse_scenario

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"


def readme_queries() -> dict[str, str]:
    """The README's SQL examples: title (the line before the block) -> query."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## SQL over a run", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"\n([^\n]+):\n\n```sql\n(.*?)```", section, re.S)
    return {title.strip(): " ".join(q.split()) for title, q in found}


@pytest.fixture(scope="module")
def rows(storm_run: Path) -> list[dict[str, Any]]:
    return pq.read_table(storm_run / "usage.parquet").to_pylist()


def sql_json(run: Path, query: str) -> list[dict[str, Any]]:
    r = run_cli(["sql", str(run), query, "--json"])
    assert r.rc == 0, r.err
    return list(json.loads(r.out))


def query(title_start: str) -> str:
    qs = readme_queries()
    [title] = [t for t in qs if t.lower().startswith(title_start)]
    return qs[title]


def test_the_readme_shows_the_queries_and_every_view_is_used() -> None:
    qs = readme_queries()
    assert len(qs) >= 5
    text = " ".join(qs.values())
    for view in ("usage", "lines", "alarms", "invoice_lines", "invoice_items"):
        assert re.search(rf"\b(FROM|JOIN) {view}\b", text), view


def test_top_lines_by_volume(storm_run: Path, rows: list[dict[str, Any]]) -> None:
    got = sql_json(storm_run, query("top lines by volume"))
    vol: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["type"] == "data":
            vol[r["line"]] += r["bytes_up"] + r["bytes_down"]
    expected = sorted(vol.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(g["line"], g["bytes"]) for g in got] == expected


def test_sessions_per_hour(storm_run: Path, rows: list[dict[str, Any]]) -> None:
    got = sql_json(storm_run, query("sessions per hour"))
    per: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["type"] == "data" and (r["sequence"] or 1) == 1:
            per[r["start"].strftime("%Y-%m-%dT%H:00:00+00:00")] += 1
    assert {g["hour"]: g["sessions"] for g in got} == per
    assert len(got) == 24


def test_cost_per_group(storm_run: Path) -> None:
    got = sql_json(storm_run, query("cost per device group"))
    summary = json.loads((storm_run / "summary.json").read_text())
    assert {g["device_group"]: g["cost_ht"] for g in got} == {
        g["name"]: g["cost_ht"] for g in summary["groups"]
    }
    invoice = json.loads((storm_run / "invoice.json").read_text())
    assert sum(Decimal(g["cost_ht"]) for g in got) == Decimal(invoice["total_ht"])


def test_roaming_share(storm_run: Path, rows: list[dict[str, Any]]) -> None:
    got = {g["device_group"]: g for g in sql_json(storm_run, query("roaming share"))}
    trk = [r for r in rows if r["type"] == "data" and r["line"].startswith("T")]
    # carried in a network outside France (a session opened at home stays in zone fr abroad)
    abroad = sum(
        r["bytes_up"] + r["bytes_down"]
        for r in trk
        if (r["serving_plmn"][:3] != "208" if r["serving_plmn"] else r["zone"] != "fr")
    )
    total = sum(r["bytes_up"] + r["bytes_down"] for r in trk)
    assert 0 < abroad < total
    assert got["trackers"]["roaming_share"] == pytest.approx(abroad / total)
    assert got["meters"]["roaming_share"] == 0


def test_retry_storm_minute_by_minute(storm_run: Path, rows: list[dict[str, Any]]) -> None:
    got = sql_json(storm_run, query("retry storm minute by minute"))
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if is_retry_charging(r["charging_id"]):
            k = r["start"].strftime("%Y-%m-%dT%H:%M:00+00:00")
            per[k][0] += 1
            per[k][1] += -(-(r["bytes_up"] + r["bytes_down"]) // 1024)
    assert {g["minute"]: [g["attempts"], int(Decimal(g["ko"]))] for g in got} == per
    summary = json.loads((storm_run / "summary.json").read_text())
    assert sum(g["attempts"] for g in got) == summary["retry_storm"]["sessions"]
    assert min(got, key=lambda g: g["minute"])["minute"] >= "2026-03-01T06:00"


def test_alarms_by_rule_and_day(storm_run: Path) -> None:
    got = sql_json(storm_run, query("alarms by rule"))
    summary = json.loads((storm_run / "summary.json").read_text())
    by_rule: dict[str, int] = defaultdict(int)
    for g in got:
        by_rule[g["rule"]] += g["alarms"]
    assert dict(by_rule) == summary["alarms"]["by_rule"] and by_rule["imei-change"] == 6


def test_invoice_items_by_code(storm_run: Path) -> None:
    got = sql_json(storm_run, query("what the invoice charges for"))
    invoice = json.loads((storm_run / "invoice.json").read_text())
    per: dict[str, Decimal] = defaultdict(Decimal)
    for ln in invoice["lines"]:
        for it in ln["items"]:
            per[it["code"]] += Decimal(it["amount"])
    assert {g["code"]: Decimal(g["amount_ht"]) for g in got} == per


def test_table_and_csv_output(storm_run: Path) -> None:
    q = "SELECT device_group, count(*) AS n FROM lines GROUP BY 1 ORDER BY 1"
    table = run_cli(["sql", str(storm_run), q])
    assert table.rc == 0 and table.out.splitlines()[0].split() == ["device_group", "n"]
    assert "meters" in table.out and table.out.rstrip().endswith("(2 rows)")
    out = run_cli(["sql", str(storm_run), q, "--csv"])
    assert list(csv.reader(io.StringIO(out.out))) == [
        ["device_group", "n"],
        ["meters", "6"],
        ["trackers", "2"],
    ]


def test_the_views_read_the_shards_parts_without_the_merged_file(
    tmp_path: Path, storm_doc: dict[str, Any]
) -> None:
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "storm-unit.yaml"), out, merge=False)
    assert not (out / "usage.parquet").exists()
    got = sql_json(out, "SELECT count(*) AS n FROM usage")
    summary = json.loads((out / "summary.json").read_text())
    assert got == [{"n": summary["usage_records"]}]


def test_bad_input_exits_2_with_one_line(storm_run: Path, tmp_path: Path) -> None:
    bad = run_cli(["sql", str(storm_run), "SELECT * FROM nowhere"])
    assert bad.rc == 2 and len(bad.err.strip().splitlines()) == 1 and "nowhere" in bad.err
    empty = run_cli(["sql", str(tmp_path), "SELECT 1"])
    assert empty.rc == 2 and "no run outputs here" in empty.err
    (tmp_path / "summary.json").write_text('{"totals": {}, "groups": [}')
    broken = run_cli(["sql", str(tmp_path), "SELECT 1"])
    assert broken.rc == 2 and "summary.json:1: not JSON" in broken.err
    none = run_cli(["sql", str(storm_run)])
    assert none.rc == 2 and "QUERY" in none.err


def test_a_statement_that_writes_is_refused_and_nothing_is_written(storm_run: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in storm_run.rglob("*")}
    target = tmp_path / "out.csv"
    for statement in (
        f"COPY (SELECT * FROM usage) TO '{target}'",
        f"COPY usage TO '{storm_run / 'usage.parquet'}' (FORMAT parquet)",
        f"ATTACH '{tmp_path / 'x.db'}' AS x; CREATE TABLE x.t AS SELECT 1",
        f"SELECT 1; EXPORT DATABASE '{tmp_path / 'dump'}'",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'",
        "SET threads = 1",
        "PRAGMA enable_profiling",
    ):
        r = run_cli(["sql", str(storm_run), statement])
        assert r.rc == 2 and len(r.err.strip().splitlines()) == 1, (statement, r.err)
        assert "only queries are run" in r.err
    assert list(tmp_path.iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in storm_run.rglob("*")} == before
    assert sql_json(storm_run, "SELECT count(*) > 0 AS ok FROM usage") == [{"ok": True}]
    explained = run_cli(["sql", str(storm_run), "EXPLAIN SELECT count(*) FROM usage"])
    assert explained.rc == 0, explained.err


def test_a_calls_fraction_of_a_second_counts_as_the_invoice_bills_it(tmp_path: Path) -> None:
    """A CSV's call of 120.4 s is billed 121 s (and one of 0.3 s, 1 s): the `usage` view, and the
    page's "SMS and calls" seconds, rounded it to the nearest second, 120 and 0."""
    from reports.run_report import render_rating_report

    (tmp_path / "inventory.yaml").write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: L1, offer: business-m2m-dtmf, plan: compteur,"
        " commitment: 24, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    (tmp_path / "usage.csv").write_text(
        "line,type,start,duration_s,zone,dest\n"
        "L1,voice,2026-03-06T10:00:00Z,120.4,fr,fr-fixed\nL1,voice,2026-03-06T11:00:00Z,0.3,fr,fr-fixed\n",
        encoding="utf-8",
    )
    rated = run_cli(["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json"])
    assert rated.rc == 0, rated.err
    (tmp_path / "invoice.json").write_text(rated.out, encoding="utf-8")
    [billed] = sql_json(tmp_path, "SELECT quantity FROM invoice_items WHERE code = 'voice'")
    assert billed == {"quantity": "122.000"}
    assert sql_json(tmp_path, "SELECT sum(duration_s) AS s FROM usage") == [{"s": 122}]
    page = render_rating_report(tmp_path / "inventory.yaml", tmp_path / "usage.csv")
    assert '<td>voice</td><td>fr-fixed</td><td class="num">2</td><td class="num">122</td>' in page


def test_a_duration_typed_interval_counts_as_the_invoice_bills_it(tmp_path: Path) -> None:
    """A Parquet file of DuckDB's INTERVALs (a database's export): the rating reads each as its
    seconds, a call of 120.4 s billed 121 s; the `usage` view read no number, 0 s, and an
    interval of months, a reject, is 0 s there as another malformed value is."""
    import duckdb

    (tmp_path / "inventory.yaml").write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: L1, offer: business-m2m-dtmf, plan: compteur,"
        " commitment: 24, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES ('L1', 'voice', '2026-03-06T10:00:00Z', INTERVAL 120400 MILLISECOND),"
        " ('L1', 'voice', '2026-03-06T11:00:00Z', INTERVAL 1 DAY), ('L1', 'voice', '2026-03-06T12:00:00Z',"
        " INTERVAL 1 MONTH)) t(line, type, start, duration_s)) TO"
        f" '{tmp_path / 'usage.parquet'}' (FORMAT parquet)"
    )
    rated = run_cli(["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.parquet"), "--json"])
    assert rated.rc == 0, rated.err
    (tmp_path / "invoice.json").write_text(rated.out, encoding="utf-8")
    # (no destination: the calls are rejects of the tariff, priced by neither, counted by both)
    assert json.loads(rated.out)["rows_read"] == 3
    got = sql_json(tmp_path, "SELECT duration_s FROM usage ORDER BY start")
    assert got == [{"duration_s": 121}, {"duration_s": 86_400}, {"duration_s": 0}]


@pytest.mark.parametrize("columns", ["all", "the rating's"])
def test_an_empty_zone_of_a_parquet_file_is_france_as_the_rating_reads_it(
    storm_run: Path, tmp_path: Path, columns: str
) -> None:
    """A Parquet file of another writer holding '' for an unset zone, destination or line (pandas
    writes missing text so): the rating reads such a zone as fr, but the view kept '', and the
    page counted those octets as roaming (100 % for a fleet that never left France)."""
    import pyarrow as pa

    table = pq.read_table(storm_run / "usage.parquet")
    if columns != "all":
        table = table.select(
            ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest"]
        )
    blank = pa.array([""] * table.num_rows, pa.string())
    table = table.set_column(table.schema.get_field_index("zone"), "zone", blank)
    table = table.set_column(table.schema.get_field_index("dest"), "dest", blank)
    (tmp_path / "invoice.json").write_text((storm_run / "invoice.json").read_text())
    pq.write_table(table, tmp_path / "usage.parquet")
    got = sql_json(tmp_path, "SELECT zone, count(dest) AS dest, count(*) AS n FROM usage GROUP BY 1")
    assert got == [{"zone": "fr", "dest": 0, "n": table.num_rows}]


def test_an_invoice_past_a_thousand_billion_is_queried_and_drawn(tmp_path: Path) -> None:
    """10,000 hours of world data at the highest rate a record may have are billed 1.29 * 10^12 EUR
    by the rating; the views' DECIMAL(14,2) refused that invoice ("not an amount of an invoice"),
    so `rate --report` exited 2 after writing it and `m2msim sql` could not read it."""
    from reports.data import find_files
    from reports.run_report import render_files

    total = "1287460327153.94"
    line = {"id": "L1", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "total_ht": total}
    line["items"] = [{"code": "data-world", "quantity": "1257285475000", "unit": "ko", "amount": total}]
    doc = {"customer": "c", "month": "2026-03", "currency": "EUR", "total_ht": total, "lines": [line]}
    (tmp_path / "invoice.json").write_text(json.dumps(doc), encoding="utf-8")
    got = sql_json(tmp_path, "SELECT sum(amount) AS a, sum(quantity) AS q FROM invoice_items")
    assert got == [{"a": total, "q": "1257285475000.000"}]
    assert "1,287,460,327,153.94 EUR" in render_files(find_files(tmp_path))


def test_special_values_are_valid_json_and_csv(storm_run: Path) -> None:
    """A float that is not a number or infinite was written `NaN`, `Infinity` in --json, which no
    JSON reader takes (`jq`, `json.loads` in strict mode); a nested value (a list, a struct) was
    written in --csv and in the table as Python shows it (`{'a': 1}`), its amounts and dates inside
    not as the top-level ones."""
    q = (
        "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::DOUBLE AS c, 1.5::DOUBLE AS d, "
        "{'x': 1.25::DECIMAL(10,2), 't': TIMESTAMPTZ '2026-03-01 10:00:00+00'} AS s, "
        "[1.50::DECIMAL(10,2), NULL] AS l, NULL AS n"
    )
    r = run_cli(["sql", str(storm_run), q, "--json"])
    assert r.rc == 0, r.err

    def refuse(word: str) -> Any:
        raise ValueError(word)

    assert json.loads(r.out, parse_constant=refuse) == [
        {
            "a": "NaN",
            "b": "Infinity",
            "c": "-Infinity",
            "d": 1.5,
            "s": {"x": "1.25", "t": "2026-03-01T10:00:00+00:00"},
            "l": ["1.50", None],
            "n": None,
        }
    ]
    c = run_cli(["sql", str(storm_run), q, "--csv"])
    assert c.rc == 0, c.err
    assert list(csv.reader(io.StringIO(c.out)))[1] == [
        "nan",
        "inf",
        "-inf",
        "1.5",
        '{"x": "1.25", "t": "2026-03-01T10:00:00+00:00"}',
        '["1.50", null]',
        "",
    ]


def test_the_table_shows_control_characters_escaped(storm_run: Path) -> None:
    """Text from the files (a line id, an APN, an alarm's details) went to the terminal as it was:
    an escape sequence in it recoloured or retitled the terminal, a newline broke the table. The
    table shows them escaped (--csv and --json keep the text as it is)."""
    q = "SELECT 'a' || chr(27) || '[31m' || chr(10) || 'b' || chr(7) AS t, 1 AS n"
    r = run_cli(["sql", str(storm_run), q])
    assert r.rc == 0, r.err
    assert "\x1b" not in r.out and "\x07" not in r.out
    assert r.out.splitlines()[2].split() == [r"a\x1b[31m\nb\x07", "1"]
    c = run_cli(["sql", str(storm_run), q, "--csv"])
    assert list(csv.reader(io.StringIO(c.out)))[1] == ["a\x1b[31m\nb\x07", "1"]


@pytest.mark.parametrize("form", [[], ["--json"]])
def test_a_result_cut_by_its_reader_is_status_141(storm_run: Path, form: list[str]) -> None:
    """`m2msim sql RUN "SELECT * FROM usage" | head`: the table and the JSON were written at once;
    with standard output unbuffered (PYTHONUNBUFFERED=1, as container images set it) the write
    returned what the pipe took when its reader went away, the rest was dropped without an error,
    and the command exited 0 as if its reader had read it all."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    q = "SELECT * FROM usage, range(3)"  # (some 600 KB: more than a pipe holds)
    with subprocess.Popen(
        [sys.executable, "-m", "m2msim", "sql", str(storm_run), q, *form],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(10)) == 10  # the output has begun: the reader goes away
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 141, err
    assert b"Traceback" not in err


def test_a_damaged_invoice_is_named_by_its_own_file_name(tmp_path: Path) -> None:
    """`rate --json --out march.json` is read under any name; a damaged amount in it was said to be
    in FOLDER/invoice.json, a file that is not there."""
    doc = {"total_ht": "1.00", "lines": [{"id": "L1", "total_ht": "1,00", "items": []}]}
    (tmp_path / "march.json").write_text(json.dumps(doc))
    for argv in (["sql", str(tmp_path), "SELECT 1"], ["report", str(tmp_path)]):
        r = run_cli(argv)
        assert r.rc == 2 and len(r.err.strip().splitlines()) == 1, r
        assert f"{tmp_path / 'march.json'}: lines[0].total_ht: not an amount" in r.err
        assert "invoice.json" not in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["march.json"]


@pytest.mark.parametrize(
    ("where", "value", "named"),
    [("items", 5, "lines[0].items: a list of items, not int"),
     ("items", "sub", "lines[0].items: a list of items, not str"),
     ("fleet", 7, "fleet: a list of items, not int")],
)  # fmt: skip
def test_an_invoices_items_that_are_no_list_are_named(
    tmp_path: Path, where: str, value: Any, named: str
) -> None:
    """An invoice whose items were a number made `m2msim sql` end in a traceback (TypeError), and
    `m2msim report` say only that some file of the folder was not as m2msim writes it."""
    doc: dict[str, Any] = {"total_ht": "1.00", "lines": [{"id": "L1", "total_ht": "1.00", "items": []}]}
    if where == "fleet":
        doc["fleet"] = value
    else:
        doc["lines"][0]["items"] = value
    (tmp_path / "invoice.json").write_text(json.dumps(doc))
    for argv in (["sql", str(tmp_path), "SELECT 1"], ["report", str(tmp_path)]):
        r = run_cli(argv)
        assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r
        assert f"{tmp_path / 'invoice.json'}: {named}" in r.err


def test_a_damaged_usage_part_is_named(tmp_path: Path, storm_doc: dict[str, Any]) -> None:
    """A run's shard part damaged inside (its footer whole): DuckDB says the data are corrupted but not
    in which file; `sql` said it as the query's error (with the view names), `report` named the
    folder. Both name the part now, and a query's own error is still the query's."""
    out = tmp_path / "run"
    simulate(parse_scenario({**storm_doc, "run": {"shard_devices": 3}}, "storm-unit.yaml"), out, merge=False)
    parts = sorted((out / "usage").glob("part-*.parquet"))
    assert len(parts) == 3
    data = bytearray(parts[1].read_bytes())
    data[4:68] = bytes(b ^ 0x5A for b in data[4:68])  # the first page's header
    parts[1].write_bytes(bytes(data))
    (out / "report.html").unlink()
    for argv in (
        ["sql", str(out), "SELECT line, count(*) FROM usage GROUP BY 1"],
        ["report", str(out)],
    ):
        r = run_cli(argv)
        assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r
        # (the page checks the parts are those the invoice rated before it reads them)
        said = "other content than when rated" if argv[0] == "report" else "cannot read the usage records: "
        assert f"{parts[1]}: {said}" in r.err, r.err
    assert not (out / "report.html").exists()
    own = run_cli(["sql", str(out), "SELECT nope FROM usage"])
    assert own.rc == 2 and "nope" in own.err and "views: usage" in own.err and "part-" not in own.err
    # a part cut short (its footer gone) was said to be the first part, part-00000
    parts[2].write_bytes(parts[2].read_bytes()[:300])
    cut = run_cli(["sql", str(out), "SELECT count(*) FROM usage"])  # (smaller than the run wrote it)
    assert cut.rc == 2 and cut.err.split(": ")[1] == str(parts[2]) and "300 bytes" in cut.err, cut.err
    (out / MARKER).unlink()  # (parts without their run's marker: each is read, and named as DuckDB fails)
    cut = run_cli(["sql", str(out), "SELECT count(*) FROM usage"])
    assert cut.rc == 2 and cut.err.split(": ")[1] == str(parts[1]), cut.err
    parts[1].unlink()
    cut = run_cli(["sql", str(out), "SELECT count(*) FROM usage"])
    assert cut.rc == 2 and cut.err.split(": ")[1] == str(parts[2]), cut.err


@pytest.mark.parametrize(
    ("name", "doc", "said"),
    [
        (
            "invoice.json",
            {"total_ht": "1.00", "lines": [{"id": "L1", "plan": 5, "total_ht": "1.00", "items": []}]},
            "lines[0].plan: not a text: 5",
        ),
        (
            "invoice.json",
            {"total_ht": "1.00", "lines": [{"id": "L1", "commitment": "24 m", "total_ht": "1.00"}]},
            "lines[0].commitment: not an integer: '24 m'",
        ),
        (
            "invoice.json",
            {
                "total_ht": "1.00",
                "lines": [{"id": "L1", "total_ht": "1.00", "items": [{"code": "x", "unit": []}]}],
            },
            "lines[0].items[0].unit: not a text: []",
        ),
        ("summary.json", {"totals": {}, "groups": 5}, "groups: not a list: int"),
    ],
)
def test_a_value_of_another_type_for_a_view_is_named(tmp_path: Path, name: str, doc: Any, said: str) -> None:
    """An invoice's plan that is a number, a commitment that is a text, a summary's groups that are
    no list: `m2msim sql` ended in a traceback (ArrowTypeError, TypeError), exit 1."""
    (tmp_path / name).write_text(json.dumps(doc))
    r = run_cli(["sql", str(tmp_path), "SELECT 1"])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r
    assert f"{tmp_path / name}: {said}" in r.err, r.err


def test_a_compressed_usage_file_cut_short_is_named_as_a_damaged_part_is(tmp_path: Path) -> None:
    """A `rate` folder's usage.csv.gz cut short (a copy that did not finish): `sql` said DuckDB's error
    as the query's (with the view names), `report` named the folder."""
    import gzip

    data = gzip.compress((EXAMPLE / "usage.csv").read_bytes())
    (tmp_path / "usage.csv.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "invoice.json").write_text('{"total_ht": "0.00", "lines": []}')
    for argv in (
        ["sql", str(tmp_path), "SELECT line, count(*) FROM usage GROUP BY 1"],
        ["report", str(tmp_path)],
    ):
        r = run_cli(argv)
        assert r.rc == 2 and len(r.err.strip().splitlines()) == 1, r
        assert r.err.split(": ")[1] == str(tmp_path / "usage.csv.gz"), r.err
        assert "cannot read the usage records" in r.err and "views:" not in r.err, r.err
    assert not (tmp_path / "report.html").exists()


def test_a_pivot_without_its_values_is_refused_saying_to_give_them(storm_run: Path) -> None:
    """`PIVOT usage ON type USING count(*)`: DuckDB runs it as several statements; it was refused as
    "MULTI refused, as it could write files", which did not say what to do. With its IN list, it runs."""
    r = run_cli(["sql", str(storm_run), "PIVOT usage ON type USING count(*)"])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "MULTI" not in r.err, r.err
    assert "PIVOT is run with its values given (ON column IN (...))" in r.err
    got = sql_json(storm_run, "PIVOT (SELECT type FROM usage) ON type IN ('data', 'sms') USING count(*)")
    assert got == sql_json(
        storm_run,
        "SELECT count(*) FILTER (type = 'data') AS data, count(*) FILTER (type = 'sms') AS sms FROM usage",
    )


def test_blobs_and_intervals_are_written_as_duckdb_writes_them(storm_run: Path) -> None:
    """A BLOB was written `b'\\x00'` and an INTERVAL `32 days, 3:04:05.500000` (Python's text, its
    month counted as 30 days) in the table, --csv and --json; they are DuckDB's text now, at the top
    level and inside a list or a struct."""
    q = (
        r"SELECT '\x00\xFFab'::BLOB AS b, INTERVAL '1 month 2 days 03:04:05.5' AS i, "
        r"INTERVAL 3 DAY AS d, [ '\x01'::BLOB ] AS l, {'x y': INTERVAL 1 HOUR, 'n': 2} AS s, 7 AS n"
    )
    expected = {
        "b": r"\x00\xFFab",
        "i": "1 month 2 days 03:04:05.5",
        "d": "3 days",
        "l": [r"\x01"],
        "s": {"x y": "01:00:00", "n": 2},
        "n": 7,
    }
    assert sql_json(storm_run, q) == [expected]
    c = run_cli(["sql", str(storm_run), q, "--csv"])
    assert c.rc == 0, c.err
    cells = [json.dumps(v) if isinstance(v, list | dict) else str(v) for v in expected.values()]
    assert list(csv.reader(io.StringIO(c.out))) == [list(expected), cells]
    t = run_cli(["sql", str(storm_run), q])
    assert t.rc == 0, t.err
    assert t.out.splitlines()[2].split("  ")[:3] == [r"\x00\xFFab", "1 month 2 days 03:04:05.5", "3 days"]
    assert "b'" not in t.out and "days," not in t.out


@pytest.mark.parametrize("text", ["-- nothing", ";", "  "])
def test_a_query_of_no_statement_is_refused(storm_run: Path, text: str) -> None:
    """A QUERY of a comment alone (or `;`) ended in a traceback (AttributeError), exit 1."""
    r = run_cli(["sql", str(storm_run), text])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    assert "the QUERY holds no statement" in r.err


def test_json_keeps_columns_of_one_name(storm_run: Path) -> None:
    """Two columns of one name (a join's two `line`, `SELECT 1 AS a, 2 AS a`) were one key in each
    --json object, holding the last column's value: the others were lost. They are named apart as
    DuckDB names them in a table made of the query (checked against DuckDB's own `to_json`)."""
    import duckdb

    q = "SELECT 1 AS a, 2 AS A, 3 AS a_1, 4 AS a, 'x' AS b"
    r = run_cli(["sql", str(storm_run), q, "--json"])
    assert r.rc == 0, r.err
    got = json.loads(r.out)
    assert got == [json.loads(duckdb.sql(f"SELECT to_json(t) FROM ({q}) t").fetchall()[0][0])]
    assert sorted(v for v in got[0].values() if isinstance(v, int)) == [1, 2, 3, 4]


def test_blobs_and_intervals_inside_a_union_value_are_duckdbs_text(storm_run: Path) -> None:
    """A DuckDB UNION value (a tagged union, `union_value`) holding a BLOB or an INTERVAL was Python's
    text (`b'\\x00ab'`, `30 days, 0:00:00` for a month), as at the top level before."""
    q = (
        r"SELECT union_value(b := '\x00ab'::BLOB) AS u, "
        r"[union_value(i := INTERVAL 1 MONTH)::UNION(i INTERVAL, n INT)] AS l, "
        r"union_value(n := 5)::UNION(i INTERVAL, n INT) AS k"
    )
    assert sql_json(storm_run, q) == [{"u": r"\x00ab", "l": ["1 month"], "k": 5}]


def test_a_zone_read_from_serving_plmn_is_the_views_as_the_rating_reads_it(tmp_path: Path) -> None:
    """A usage file with `serving_plmn` and no `zone` is rated in each row's network's zone (an
    empty one `fr`, one the rating refuses a reject): the `usage` view's `zone` is that zone, NULL
    for the refused row, where it said `fr` for every row."""
    rows = [
        "line,type,start,duration_s,bytes_up,bytes_down,serving_plmn",
        "L1,data,2026-03-02T10:00:00Z,60,1000,1000,20801",
        "L1,data,2026-03-02T11:00:00Z,60,1000,1000,26201",
        "L1,data,2026-03-02T12:00:00Z,60,1000,1000,310260",
        "L1,data,2026-03-02T13:00:00Z,60,1000,1000,23450",
        "L1,data,2026-03-02T14:00:00Z,60,1000,1000,",
        "L1,data,2026-03-02T15:00:00Z,60,1000,1000,99901",
    ]
    (tmp_path / "usage.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    got = sql_json(tmp_path, "SELECT zone FROM usage ORDER BY start")
    assert [r["zone"] for r in got] == ["fr", "eu", "world", "world", "fr", None]


@pytest.mark.parametrize("typed", [False, True], ids=["text", "every-column-typed"])
def test_a_part_with_only_serving_plmn_beside_a_part_with_zone_has_the_ratings_zones(
    tmp_path: Path, typed: bool
) -> None:
    """A folder of Parquet parts, one with `zone` and one with only `serving_plmn` (an operator's
    export beside the simulator's parts; of text, or of every column typed as the simulator's):
    the rating reads the zone of each part by its own columns, the export's rows in their
    networks' zones.  The `usage` view read the folder's union of columns, which has `zone`, so
    the export's rows were all `fr` (German data shown as French, the view's kilo-octets per zone
    not the invoice's); an empty `zone` cell stays `fr`, and a network the rating refuses is NULL,
    as in a file of its own."""
    from accounting.records import USAGE_SCHEMA
    from reports.data import find_files
    from reports.run_report import render_files

    (tmp_path / "inventory.yaml").write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: L1, offer: business-m2m, plan: compteur,"
        " commitment: 24, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    import pyarrow as pa

    def part(day: int, ko: list[int], **column: list[str]) -> None:
        n = len(ko)
        table = {
            "line": ["L1"] * n,
            "type": ["data"] * n,
            "start": [f"2026-03-0{day}T1{i}:00:00Z" for i in range(n)],
            "duration_s": ["60"] * n,
            "bytes_up": [str(k * 1024) for k in ko],
            "bytes_down": ["0"] * n,
            **column,
        }
        if typed:  # (every column of the simulator's, at its type; the export without `zone`)
            table["start"] = [datetime.fromisoformat(t) for t in table["start"]]
            schema = pa.schema([f for f in USAGE_SCHEMA if f.name in table or f.name != "zone"])
            table = {f.name: pa.array(table.get(f.name, [None] * n)).cast(f.type) for f in schema}
        pq.write_table(pa.table(table), tmp_path / "usage" / f"part-{day}.parquet")

    (tmp_path / "usage").mkdir()
    part(2, [1, 2, 64], zone=["fr", "world", ""])
    part(3, [4, 8, 16, 32, 128], serving_plmn=["26201", "26201", "20801", "310260", "2620"])
    rated = run_cli(["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage"), "--json"])
    assert rated.rc == 0, rated.err
    invoice = json.loads(rated.out)
    (tmp_path / "invoice.json").write_text(rated.out, encoding="utf-8")
    assert [r["row"] for r in invoice["rejects"]] == [6]  # (the refused network, part-1's last row)
    billed: dict[str, int] = defaultdict(int)
    for item in invoice["lines"][0]["items"]:
        if item["code"].startswith("data-"):
            billed[item["code"].split("-")[1]] += int(item["quantity"])
    got = sql_json(tmp_path, "SELECT zone, count(*) AS n, sum(bytes_up) // 1024 AS ko FROM usage GROUP BY 1")
    shown = {r["zone"]: r["ko"] for r in got if r["zone"] is not None}
    assert shown == billed == {"fr": 1 + 64 + 16, "eu": 12, "world": 2 + 32}
    assert {r["zone"]: r["n"] for r in got} == {"fr": 3, "eu": 2, "world": 2, None: 1}
    # the page's roaming share: the octets carried outside France, those of the eu and world rows
    # (the refused network's row, rejected, is not counted)
    page = render_files(find_files(tmp_path))
    roaming = (12 + 2 + 32) / (1 + 2 + 64 + 4 + 8 + 16 + 32)
    assert f'<td class="num">{100 * roaming:.1f} %</td>' in page


def test_the_footer_statistics_of_another_writers_parquet_decide_no_answer(tmp_path: Path) -> None:
    """A Parquet file whose footer statistics are wrong (a `line` chunk said to hold X..Z where its
    rows are A and D; a `bytes_up` max said 10^8 where a row holds 10^16) answers as its rows do:
    DuckDB skipped the row groups the statistics ruled out, and `WHERE line = 'A'` found none."""
    from tests.accounting.test_parquet_statistics_untrusted import HUGE, _max_lies, _rewrite_footer, _table

    honest, lying = tmp_path / "honest", tmp_path / "lying"
    honest.mkdir(), lying.mkdir()
    table = _table(300)
    pq.write_table(table, honest / "usage.parquet", row_group_size=150)
    pq.write_table(table, lying / "usage.parquet", row_group_size=150)
    _rewrite_footer(lying / "usage.parquet", b"(\x01D\x18\x01A", b"(\x01Z\x18\x01X")  # max D, min A -> Z, X
    stats = pq.ParquetFile(lying / "usage.parquet").metadata.row_group(1).column(0).statistics
    assert (stats.min, stats.max) == ("X", "Z")
    queries = (
        "SELECT line, count(*) AS n FROM usage WHERE line IN ('A', 'D') GROUP BY line ORDER BY line",
        "SELECT count(*) AS n FROM usage WHERE line = 'D'",
        "SELECT count(*) AS n FROM usage u JOIN (VALUES ('A'), ('D')) AS v(l) ON u.line = v.l",
        "SELECT line, count(*) AS n FROM usage u JOIN lines USING (line) GROUP BY line ORDER BY line",
    )
    for q in queries:
        assert sql_json(lying, q) == sql_json(honest, q), q
    assert sql_json(lying, queries[0]) == [{"line": "A", "n": 200}, {"line": "D", "n": 100}]

    big = tmp_path / "big"
    big.mkdir()
    _max_lies(big / "usage.parquet", _table(300, {"bytes_up": HUGE}))
    assert sql_json(big, "SELECT count(*) AS n FROM usage WHERE bytes_up > 104857600") == [{"n": 1}]


FAKE_SHELL = """\
import os, signal, sys
said = sys.argv[1]
def note(suffix, text):
    with open(said + ".tmp", "w") as f:
        f.write(text)
    os.replace(said + ".tmp", said + suffix)
signal.signal(signal.SIGINT, lambda *_: note(".int", "stopped"))  # (Ctrl-C: a query stopped)
note("", sys.argv[3])
sys.stdin.read()
"""


def _fake_shell(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A folder of a `duckdb` command as DuckDB's shell behaves here: it says its -init file (in the
    file `said`), takes Ctrl-C for a query stopped (`said.int`), and ends at the end of its input;
    the temporary directory to give; `said`."""
    bin_dir, temp, said = tmp_path / "bin", tmp_path / "temp", tmp_path / "said"
    bin_dir.mkdir()
    temp.mkdir()
    fake = bin_dir / "duckdb"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{FAKE_SHELL}' {said} \"$@\"\n")
    fake.chmod(0o755)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "invoice.json").write_text('{"total_ht": "0.00", "lines": []}')
    return bin_dir, temp, said


def test_the_folder_a_killed_sql_shell_left_is_removed_by_the_next_one_never_others(tmp_path: Path) -> None:
    """`sql --shell` killed by SIGKILL left its folder of the views' Parquet files in the temporary
    directory for good.  The next `sql --shell` of this host removes it: its files, those its mark
    says it wrote, its process gone; a folder of that name without such a mark, and a file the mark
    does not list, are left."""
    from processes import dead_pid, end_group

    from m2msim.outputs import FOLDER_MARK, host_name

    bin_dir, temp, said = _fake_shell(tmp_path)
    dead = dead_pid()
    marked = temp / f"m2msim-sql-{host_name()}-{dead}-abc123"  # (a killed one's, a file of the user's in it)
    marked.mkdir()
    mark = {"m2msim": "m2msim-sql", "host": host_name(), "pid": dead, "files": ["usage.parquet"]}
    (marked / FOLDER_MARK).write_text(json.dumps(mark))
    (marked / "usage.parquet").write_text("the killed shell's")
    (marked / "notes.txt").write_text("mine")
    unmarked = temp / f"m2msim-sql-{host_name()}-{dead}-def456"  # (no mark: not provably m2msim's)
    unmarked.mkdir()
    (unmarked / "usage.parquet").write_text("not m2msim's")
    env = {**os.environ, "TMPDIR": str(temp), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "m2msim", "sql", str(tmp_path / "run"), "--shell"]
    shell = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        from filewatch import wait_in

        init = Path(
            wait_in(tmp_path, lambda: said.read_text() if said.exists() else None, 120, "the shell").strip()
        )
        shell.kill()  # SIGKILL: its folder stays
        shell.wait()
    finally:
        assert shell.stdin is not None
        shell.stdin.close()  # (the shell it started ends)
        end_group(shell)
    killed = init.parent
    assert killed.parent == temp and (killed / FOLDER_MARK).is_file() and (killed / "init.sql").is_file()
    again = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert not killed.exists()
    assert sorted(p.name for p in marked.iterdir()) == ["notes.txt"]
    assert (unmarked / "usage.parquet").read_text() == "not m2msim's"
    assert sorted(p.name for p in temp.iterdir()) == sorted([marked.name, unmarked.name])


def test_ctrl_c_in_the_sql_shell_is_the_shells_and_sigterm_ends_both(tmp_path: Path) -> None:
    """Ctrl-C in `sql --shell` (SIGINT to the terminal's process group), as one stops a query in
    DuckDB's shell, ended m2msim and the shell with it, exit 130.  Now the shell takes it and goes
    on, and m2msim ends with it; SIGTERM ends both, exit 143, no process left, its folder removed."""
    from filewatch import wait_in
    from processes import end_group, process_group

    bin_dir, temp, said = _fake_shell(tmp_path)
    env = {**os.environ, "TMPDIR": str(temp), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "m2msim", "sql", str(tmp_path / "run"), "--shell"]
    stopped = Path(f"{said}.int")
    for sig in (signal.SIGINT, signal.SIGTERM):
        said.unlink(missing_ok=True)
        shell = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert shell.stdin is not None and shell.stderr is not None
        try:
            wait_in(tmp_path, lambda: True if said.exists() else None, 120, "the shell")
            if sig == signal.SIGINT:
                os.killpg(shell.pid, sig)  # (as the terminal sends it)
                wait_in(tmp_path, lambda: True if stopped.exists() else None, 120, "Ctrl-C in the shell")
                shell.stdin.close()  # (the user ends the shell)
            else:
                os.kill(shell.pid, sig)
            rc = shell.wait(timeout=120)
            err = shell.stderr.read().decode()
            assert not process_group(shell.pid)
        finally:
            shell.stdin.close()
            end_group(shell)
            shell.stderr.close()
        if sig == signal.SIGINT:
            assert rc == 0 and err == "", err
        else:
            assert rc == 143 and err == "m2msim sql: interrupted (SIGTERM)\n", err
        assert os.listdir(temp) == []
