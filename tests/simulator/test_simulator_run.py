"""Whole runs: outputs, replay bit for bit, workers and clusters, outages, mobility, alarms, CLI."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import multiprocessing
import os
import select
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from invoice_docs import billed

from accounting.records import USAGE_SCHEMA, is_retry_charging
from accounting.usage_writer import UsageWriter
from gateway.scans import scan_rng
from gateway.wire import HEADER, SYN, icmp_error_size, unanswered
from m2msim.cli import main as m2msim
from reports import connect, find_files, render_run_report
from reports.run_report import hourly_usage
from simulator.batch import SessionBatcher, Stretch
from simulator.engine import Shard, fleet
from simulator.profiles import builtin_profiles
from simulator.progress import ProgressBar
from simulator.run import ShardResult, run_shards, simulate
from simulator.scenario import Scenario, load_scenario, parse_scenario
from simulator.traffic import time_share

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
START = datetime(2026, 3, 1, tzinfo=UTC)


def doc(devices: int = 6, **group: Any) -> dict[str, Any]:
    """A small fleet of MQTT devices for one day; `group` overrides the group's keys."""
    g: dict[str, Any] = {
        "name": "fleet",
        "lines": "D",
        "schedule": {"period": "15min", "jitter": "tr37868-model1"},
        "application": {"profile": "mqtt-qos1", "payload": {"pareto": {"alpha": 2.5, "min": 20, "max": 200}}},
    }
    g.update(group)
    return {
        "name": "unit",
        "seed": 11,
        "period": {"start": "2026-03-01", "days": 1},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "D",
                    "count": devices,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                    "options": ["autogestion", "autodiagnostic"],
                }
            ],
        },
        "groups": [g],
    }


def sc_of(d: dict[str, Any], **kw: Any) -> Scenario:
    return parse_scenario(d, "unit.yaml", **kw)


def table(path: Path) -> pa.Table:
    return pq.read_table(path).cast(USAGE_SCHEMA)


def sorted_rows(t: pa.Table, columns: list[str] | None = None) -> list[tuple[Any, ...]]:
    cols = columns or [c for c in t.column_names]
    data = t.select(cols).to_pylist()
    return sorted(tuple(r[c] for c in cols) for r in data)


RECORD_KEY = ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "cause", "sequence"]


def test_run_writes_every_output_and_replays_bit_for_bit(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "default.yaml", days=1, max_lines=12)
    a = simulate(sc, tmp_path / "a")
    b = simulate(sc, tmp_path / "b")
    names = ["usage.parquet", "usage/part-00000.parquet", "alarms.jsonl", "invoice.json", "invoice.txt"]
    names += ["summary.json", "summary.txt", "scenario.yaml"]
    for name in names:
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    # the copied scenario (seed included) replays the same run
    again = simulate(load_scenario(a.out_dir / "scenario.yaml"), tmp_path / "c")
    assert (again.out_dir / "usage.parquet").read_bytes() == (a.out_dir / "usage.parquet").read_bytes()
    # a different seed gives different traffic
    other = simulate(load_scenario(SCENARIOS / "default.yaml", days=1, max_lines=12, seed=1), tmp_path / "d")
    assert (other.out_dir / "usage.parquet").read_bytes() != (a.out_dir / "usage.parquet").read_bytes()
    summary = json.loads((a.out_dir / "summary.json").read_text())
    invoice = json.loads((a.out_dir / "invoice.json").read_text())
    assert summary["invoice"]["total_ht"] == invoice["total_ht"]
    assert summary["usage_records"] == table(a.out_dir / "usage.parquet").num_rows
    assert summary["gateway_incidents"] == {}  # the devices never sent the gateway bad input
    costs = sum(float(g["cost_ht"]) for g in summary["groups"])
    assert abs(costs - float(invoice["total_ht"])) < 0.005  # no fleet services in this inventory


def test_one_and_two_workers_write_the_same_records(tmp_path: Path) -> None:
    d = doc(devices=9)
    d["run"] = {"shard_devices": 4}
    sc = sc_of(d)
    one = simulate(sc, tmp_path / "w1", workers=1, invoice=False)
    two = simulate(sc, tmp_path / "w2", workers=2, invoice=False)
    assert one.shards == two.shards == 3
    t1, t2 = table(one.out_dir / "usage.parquet"), table(two.out_dir / "usage.parquet")
    assert t1.num_rows > 0 and sorted_rows(t1) == sorted_rows(t2)
    assert (one.out_dir / "usage.parquet").read_bytes() == (two.out_dir / "usage.parquet").read_bytes()


def _ends(pid: int, timeout: float) -> bool:
    """Whether process `pid` ends within `timeout` (waited on its pidfd, not reaped)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _three_shards_on_two_workers(
    out: Path, leaving: contextlib.ExitStack
) -> tuple[list[ShardResult], list[int]]:
    """The results of 9 devices in 3 shards run on 2 workers with `leaving`, and the workers' ids."""
    d = doc(devices=9)
    d["run"] = {"shard_devices": 4}
    results = run_shards(sc_of(d), out, workers=2, leaving=leaving)
    return results, [p.pid for p in multiprocessing.active_children() if p.pid is not None]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits on a process's pidfd (Linux)")
def test_the_workers_end_with_the_last_result_and_are_waited_for_when_the_caller_is_done(
    tmp_path: Path,
) -> None:
    """With `leaving`, the shards' results come back as soon as the last is in: the workers are
    told to end then (their ends overlap what the caller does next) and waited for when the
    caller's stack closes; no process is left."""
    with contextlib.ExitStack() as leaving:
        results, workers = _three_shards_on_two_workers(tmp_path, leaving)
        later = leaving.pop_all()
    assert len(results) == 3
    assert all(_ends(pid, 60.0) for pid in workers)  # told to end, without anyone waiting
    later.close()
    assert multiprocessing.active_children() == []


def _exists(pid: int) -> bool:
    """Whether process `pid` still exists (running, or ended and not yet waited for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_workers_are_gone_once_the_callers_stack_has_closed(tmp_path: Path) -> None:
    """Closing the `leaving` stack waits for the workers told to end: none is left, running or
    unreaped, once it is closed (it waited for nothing: they were still ending after it)."""
    with contextlib.ExitStack() as leaving:
        results, workers = _three_shards_on_two_workers(tmp_path, leaving)
    assert len(results) == 3 and len(workers) == 2
    assert [pid for pid in workers if _exists(pid)] == []


def test_records_do_not_depend_on_the_sharding(tmp_path: Path) -> None:
    d = doc(devices=7, mobility={"eu_share": 0.3})
    small = copy.deepcopy(d)
    small["run"] = {"shard_devices": 2}
    a = simulate(sc_of(small), tmp_path / "small", invoice=False)
    b = simulate(sc_of(d), tmp_path / "one", invoice=False)
    assert a.shards == 4 and b.shards == 1
    ta, tb = table(a.out_dir / "usage.parquet"), table(b.out_dir / "usage.parquet")
    assert sorted_rows(ta) == sorted_rows(tb)


def test_alarms_invoice_and_summary_do_not_depend_on_the_sharding_or_the_merge(tmp_path: Path) -> None:
    """Shards of 3 devices on 2 processes without the merged file, or one shard merged: the same
    alarms, invoice and summary (but for the shard count), and the same records."""
    one = simulate(load_scenario(SCENARIOS / "alarm-panels.yaml", days=1, max_lines=8), tmp_path / "one")
    sc = load_scenario(SCENARIOS / "alarm-panels.yaml", days=1, max_lines=8, shard_devices=3)
    many = simulate(sc, tmp_path / "many", workers=2, merge=False)
    assert (one.shards, many.shards) == (1, 6) and not (many.out_dir / "usage.parquet").exists()
    for name in ("alarms.jsonl", "invoice.txt"):
        assert (one.out_dir / name).read_bytes() == (many.out_dir / name).read_bytes(), name
    # (the bill: the parts rated, `usage_files`, are one and six)
    invoices = [json.loads((r.out_dir / "invoice.json").read_text()) for r in (one, many)]
    assert billed(invoices[0]) == billed(invoices[1])
    assert (one.out_dir / "alarms.jsonl").read_text().count("\n") > 0
    summaries = [json.loads((r.out_dir / "summary.json").read_text()) for r in (one, many)]
    assert [s.pop("shards") for s in summaries] == [1, 6] and summaries[0] == summaries[1]
    parts = sorted((many.out_dir / "usage").glob("part-*.parquet"))
    assert sorted_rows(table(one.out_dir / "usage.parquet")) == sorted_rows(
        pa.concat_tables(map(table, parts))
    )


def test_calls_do_not_depend_on_the_sharding(tmp_path: Path) -> None:
    calls = [{"kind": "csd", "rate_per_day": 12, "dest": "0145000000", "duration": "90s"}]
    d = doc(devices=7, calls=calls)
    small = copy.deepcopy(d)
    small["run"] = {"shard_devices": 2}
    a = simulate(sc_of(small), tmp_path / "small", invoice=False)
    b = simulate(sc_of(d), tmp_path / "one", invoice=False)
    ta, tb = table(a.out_dir / "usage.parquet"), table(b.out_dir / "usage.parquet")
    rows = sorted_rows(ta)
    outcomes = {(r[3] > 0) for r in rows if r[1] == "csd"}  # answered (with a duration) and not
    assert outcomes == {True, False}
    assert rows == sorted_rows(tb)
    sessions = [r for r in ta.to_pylist() if r["type"] == "csd"]
    assert all(r["session"].startswith(f"{r['line']}-C") for r in sessions)
    assert len({r["session"] for r in sessions}) == len(sessions)


def test_calls_stay_within_the_period_at_the_month_end(tmp_path: Path) -> None:
    """On the month's last day, a call going on at the end is cut there, as a data session is (it ran
    on into April: a record more than 12 h past the month's end, which the invoice rejected), and a
    call due while the line is on such a call is not placed after the end (it was, in April)."""
    calls = [{"kind": "csd", "rate_per_day": 24, "dest": "0145000000", "duration": "1d"}]
    d = doc(devices=4, calls=calls)
    d["period"] = {"start": "2026-03-31", "days": 1}
    start, end = START + timedelta(days=30), START + timedelta(days=31)
    run = simulate(sc_of(d), tmp_path / "o")
    rows = [r for r in table(run.out_dir / "usage.parquet").to_pylist() if r["type"] == "csd"]
    ends = [r["start"] + timedelta(seconds=r["duration_s"]) for r in rows]
    assert rows and all(start <= r["start"] < end for r in rows)
    assert all(e <= end + timedelta(seconds=1) for e in ends) and sum(e >= end for e in ends) >= 2
    invoice = json.loads((run.out_dir / "invoice.json").read_text())
    assert invoice["rejects"] == []
    summary = json.loads((run.out_dir / "summary.json").read_text())
    assert summary["totals"]["call_seconds"] == sum(r["duration_s"] for r in rows)


def test_dask_cluster_runs_the_same_shards(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    d = doc(devices=5)
    d["run"] = {"shard_devices": 2}
    sc = sc_of(d)
    local = simulate(sc, tmp_path / "local", invoice=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
    ) as cluster:
        remote = simulate(sc, tmp_path / "dask", cluster=cluster.scheduler_address, invoice=False)
    assert remote.shards == 3
    assert (remote.out_dir / "usage.parquet").read_bytes() == (local.out_dir / "usage.parquet").read_bytes()


def test_batcher_flushes_in_bounded_batches(tmp_path: Path) -> None:
    import numpy as np

    stretch = Stretch("L1", "208010000000001", "3533281100000101", "orange.m2m.spec", "fr", "20801")
    with UsageWriter(tmp_path / "u.parquet") as w:
        b = SessionBatcher(w, int(START.timestamp()), flush_sessions=100)
        for k in range(10):
            n = 60
            start = np.arange(n, dtype=np.int64) * 1000 + k * 60_000
            b.add(stretch, 0, start, np.full(n, 50_000), np.full(n, 10), np.full(n, 20), np.arange(n) + k * n)
            assert b._pending < 100  # never more than one batch held
        b.flush()
    f = pq.ParquetFile(tmp_path / "u.parquet")
    assert f.metadata.num_row_groups >= 5
    t = f.read().cast(USAGE_SCHEMA)
    # 50,000 s sessions cross one 12-hour boundary: two records each, bytes kept whole
    assert t.num_rows == 1200 and pa.compute.sum(t["bytes_up"]).as_py() == 600 * 10


def test_sessions_shorter_than_a_period_skip_the_cut_and_give_the_same_records() -> None:
    import numpy as np

    from gateway.partial import INTERVAL_S, cut_sessions
    from simulator.batch import _records

    rng = np.random.default_rng(5)
    n = 500
    start = np.sort(rng.integers(0, 30 * 86_400, n))
    up, down = rng.integers(0, 10_000, n), rng.integers(0, 10_000, n)
    abnormal = rng.random(n) < 0.2
    still_open = rng.random(n) < 0.1  # going on at the period's end: cause 20 on either path
    short = rng.integers(0, INTERVAL_S + 1, n)
    short[:3] = (0, 1, INTERVAL_S)  # a 0-second session, and one of exactly 12 hours: one record each
    long = short.copy()
    long[7] = INTERVAL_S + 1  # one session crossing a period: the general cut
    for duration in (short, long):
        fast, ref = (
            _records(start, duration, up, down, abnormal, still_open),
            cut_sessions(start, duration, up, down, abnormal=abnormal, still_open=still_open),
        )
        for name in ("session_index", "start_s", "duration_s", "bytes_up", "bytes_down", "sequence", "cause"):
            assert getattr(fast, name).tolist() == getattr(ref, name).tolist(), name
    assert len(_records(start, long, up, down, abnormal, still_open)) == n + 1
    assert (_records(start, short, up, down, abnormal, still_open).cause[still_open] == 20).all()
    with pytest.raises(ValueError, match="bytes_up"):  # bad input is refused on either path
        _records(start, short, -up, down, abnormal, still_open)


def test_the_invoice_rates_the_part_files_as_one_file(tmp_path: Path) -> None:
    from accounting import inventory_from_dict, rate
    from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS

    inv = inventory_from_dict(doc(devices=2)["inventory"])
    rows: list[list[dict[str, Any]]] = [
        [{"line": "D1", "type": "data", "start": START + timedelta(hours=h), "bytes_up": 900 * h, "bytes_down": 7}
         for h in range(3)],
        [],  # a shard without records
        [{"line": "D2", "type": "data", "start": START, "bytes_up": 5000, "bytes_down": 1, "zone": "eu"},
         {"line": "D2", "type": "data", "start": START - timedelta(days=1), "bytes_up": 1, "bytes_down": 1}],
    ]  # fmt: skip
    parts = []
    for k, part in enumerate(rows):
        parts.append(tmp_path / f"part-{k:05d}.parquet")
        with UsageWriter(
            parts[-1], dictionary_columns=DICTIONARY_COLUMNS, parquet_options=PART_PARQUET_OPTIONS
        ) as w:
            if part:
                w.write_columns(
                    {
                        c: [r.get(c) for r in part]
                        for c in ("line", "type", "start", "bytes_up", "bytes_down", "zone")
                    }
                )
    with UsageWriter(tmp_path / "one.parquet") as w:
        merged = [r for part in rows for r in part]
        w.write_columns(
            {
                c: [r.get(c) for r in merged]
                for c in ("line", "type", "start", "bytes_up", "bytes_down", "zone")
            }
        )
    from_parts, from_one = rate(inv, parts), rate(inv, tmp_path / "one.parquet")
    parts_doc, one_doc = from_parts.to_dict(), from_one.to_dict()
    assert parts_doc.pop("rejects") != one_doc.pop("rejects")
    assert billed(parts_doc) == billed(one_doc)
    # the bad record is the 5th: row 6 of the one file, counting the header; row 3 of its part
    assert [(r.row, r.reason[:25]) for r in from_one.rejects] == [(6, "outside the billing month")]
    assert [(r.file, r.row, r.reason[:25]) for r in from_parts.rejects] == [
        ("part-00002.parquet", 3, "outside the billing month")
    ]
    assert from_parts.rows_read == 5


def test_a_run_without_the_merged_usage_file_bills_the_same(tmp_path: Path) -> None:
    d = doc(devices=7, mobility={"eu_share": 0.3})
    d["run"] = {"shard_devices": 3}
    merged = simulate(sc_of(d), tmp_path / "merged")
    parts = simulate(sc_of(d), tmp_path / "parts", merge=False)
    assert not (parts.out_dir / "usage.parquet").exists() and merged.shards == parts.shards == 3
    for name in ("summary.json", "usage/part-00002.parquet"):
        assert (merged.out_dir / name).read_bytes() == (parts.out_dir / name).read_bytes(), name
    # (the same bill, of the same parts; the merged run's tells where they are in its usage.parquet)
    with_merge, without = (json.loads((r.out_dir / "invoice.json").read_bytes()) for r in (merged, parts))
    assert billed(with_merge) == billed(without)
    for entry in with_merge["usage_files"]:
        assert entry.pop("merged_into")["name"] == "usage.parquet" and entry.pop("rows") >= 0
    assert with_merge["usage_files"] == without["usage_files"]
    part_rows = [table(p) for p in sorted((parts.out_dir / "usage").glob("part-*.parquet"))]
    assert pa.concat_tables(part_rows).equals(table(merged.out_dir / "usage.parquet"))
    assert merged.usage_rows == parts.usage_rows == table(merged.out_dir / "usage.parquet").num_rows > 0


def test_server_outage_retry_storm_costs_and_shows(tmp_path: Path) -> None:
    outage = {"kind": "server", "start": "2026-03-01T06:00:00Z", "duration": "2h"}
    storm = doc(devices=4, reconnect={"policy": "immediate"})
    storm["events"] = {"outages": [outage]}
    calm = doc(devices=4, reconnect={"policy": "exponential", "delay": "60s", "max": "1h"})
    calm["events"] = {"outages": [outage]}
    quiet = doc(devices=4)
    for d in (storm, calm, quiet):  # pay per ko: every ko shows on the invoice
        d["inventory"]["lines"][0]["plan"] = "compteur"
    s = simulate(sc_of(storm), tmp_path / "storm")
    c = simulate(sc_of(calm), tmp_path / "calm")
    q = simulate(sc_of(quiet), tmp_path / "quiet")
    st, ct = s.groups["fleet"], c.groups["fleet"]
    assert st.retry_sessions > 4 * 300  # an attempt every 15 s for 2 hours
    assert 4 <= ct.retry_sessions < 4 * 12  # 60 s doubling to 1 h: a handful each
    t = table(s.out_dir / "usage.parquet")
    rows = t.to_pylist()
    retries = [r for r in rows if r["charging_id"] is not None and is_retry_charging(r["charging_id"])]
    assert len(retries) == st.retry_sessions
    # each released by its device once its connection failed: a normal release to the network
    assert all(r["cause"] == 0 and r["bytes_up"] + r["bytes_down"] > 0 for r in retries)
    out_start, out_end = START + timedelta(hours=6), START + timedelta(hours=8)
    assert all(out_start <= r["start"] < out_end for r in retries)
    assert s.retry_cost is not None and s.retry_cost > 0
    assert s.invoice is not None and q.invoice is not None and c.invoice is not None
    # compteur: 3 EUR/Mo charged per ko, each record rounded up to a ko, each line's item to the cent
    per_ko = Decimal(3) / 1024
    expected = Decimal(0)
    for line in ("D1", "D2", "D3", "D4"):
        ko_all = sum(-(-(r["bytes_up"] + r["bytes_down"]) // 1024) for r in rows if r["line"] == line)
        ko_calm = ko_all - sum(
            -(-(r["bytes_up"] + r["bytes_down"]) // 1024) for r in retries if r["line"] == line
        )
        cents = Decimal("0.01")
        expected += (ko_all * per_ko).quantize(cents, ROUND_HALF_UP) - (ko_calm * per_ko).quantize(
            cents, ROUND_HALF_UP
        )
    assert s.retry_cost == expected
    assert s.invoice.total > max(c.invoice.total, q.invoice.total)
    text = (s.out_dir / "summary.txt").read_text()
    assert "retry storm" in text and f"cost {s.summary['retry_storm']['cost_ht']} EUR" in text


def test_area_outage_no_coverage_then_synchronised_return(tmp_path: Path) -> None:
    d = doc(devices=20, reconnect={"policy": "immediate"})
    d["events"] = {"outages": [{"kind": "area", "start": "2026-03-01T10:00:00Z", "duration": "1h"}]}
    r = simulate(sc_of(d), tmp_path / "area", invoice=False)
    st = r.groups["fleet"]
    assert st.no_coverage_attempts > 20 * 100 and st.retry_sessions == 0 and st.reconnections == 20
    t = table(r.out_dir / "usage.parquet").to_pylist()
    end = START + timedelta(hours=11)
    during = [x for x in t if START + timedelta(hours=10, minutes=1) <= x["start"] < end]
    assert not during  # no traffic without a cell (a report started just before may end in it)
    first_back: dict[str, datetime] = {}
    for x in t:
        if x["start"] >= end:
            first_back[x["line"]] = min(first_back.get(x["line"], x["start"]), x["start"])
    # every device re-registers and sends its missed report within the 10 s Beta(3,4) burst
    assert len(first_back) == 20 and all(v - end <= timedelta(seconds=10) for v in first_back.values())


def test_public_apn_scans_are_counted_and_billed(tmp_path: Path) -> None:
    app = {"profile": "mqtt-qos1", "session": "persistent", "keepalive": "20min", "payload": {"fixed": 53}}
    pub = doc(devices=3, apn="internet-entreprise", application=app)
    pub["network"] = {"apns": {"internet-entreprise": {"scan_per_hour": 60, "scan_reply_bytes": 40}}}
    prv = doc(devices=3, apn="orange.m2m.spec", application=app)
    a = simulate(sc_of(pub), tmp_path / "pub")
    b = simulate(sc_of(prv), tmp_path / "prv")
    extra = a.groups["fleet"].bytes_down - b.groups["fleet"].bytes_down
    # 60 probes/h for a day on 3 devices, each the TCP model's SYN (52 B; 60 B before) down and the
    # device's reset up
    assert abs(extra / (3 * 24 * 60 * SYN) - 1) < 0.1
    probes = extra / SYN
    assert abs((a.groups["fleet"].bytes_up - b.groups["fleet"].bytes_up) / (probes * HEADER) - 1) < 0.01
    assert a.invoice is not None and b.invoice is not None and a.invoice.total >= b.invoice.total


def test_intense_refuses_the_public_apn(tmp_path: Path) -> None:
    d = doc(devices=2, apn="internet-entreprise")
    d["inventory"]["lines"][0].update(offer="intense", plan="optima", commitment=36)
    r = simulate(sc_of(d), tmp_path / "intense", invoice=False)
    assert r.groups["fleet"].session_refusals == 2 * 96 and r.usage_rows == 0


def test_roaming_share_and_trips_set_zone_and_serving_network(tmp_path: Path) -> None:
    trip = {"share": 1.0, "start": "2026-03-01T12:00:00Z", "end": "2026-03-01T18:00:00Z", "plmn": "26201"}
    d = doc(devices=4, mobility={"trips": [trip]})
    r = simulate(sc_of(d), tmp_path / "trip", invoice=False)
    for x in table(r.out_dir / "usage.parquet").to_pylist():
        abroad = START + timedelta(hours=12) <= x["start"] < START + timedelta(hours=18)
        assert (x["serving_plmn"], x["zone"]) == (("26201", "eu") if abroad else ("20801", "fr"))
    world = doc(devices=5, mobility={"world_share": 1.0, "world_plmns": ["310260"]})
    w = simulate(sc_of(world), tmp_path / "world", invoice=False)
    zones = {x["zone"] for x in table(w.out_dir / "usage.parquet").to_pylist()}
    assert zones == {"world"} and w.groups["fleet"].roaming_devices == 5


def test_sim_swap_raises_the_imei_alarm(tmp_path: Path) -> None:
    d = doc(devices=3, sim_swaps=[{"at": "2026-03-01T09:00:00Z", "share": 1.0}], alarms={"imei_change": True})
    r = simulate(sc_of(d), tmp_path / "swap", invoice=False)
    alarms = [json.loads(x) for x in (r.out_dir / "alarms.jsonl").read_text().splitlines()]
    assert sorted(a["line"] for a in alarms if a["rule"] == "imei-change") == ["D1", "D2", "D3"]
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    for line in ("D1", "D2", "D3"):
        imeis = {x["imeisv"] for x in rows if x["line"] == line}
        assert len(imeis) == 2  # one device before the swap, another after


def test_capture_path_gives_the_same_records_as_the_bulk_path(tmp_path: Path) -> None:
    capture = pytest.importorskip("gateway.capture")
    d = doc(devices=2)
    d["period"]["days"] = 0.5
    bulk = simulate(sc_of(d), tmp_path / "bulk", invoice=False)
    cap = simulate(sc_of(d), tmp_path / "cap", capture=True, invoice=False)
    pcap = cap.out_dir / "capture" / "part-00000.pcap"
    assert pcap.stat().st_size > 24 * 1000  # pcap header + the sessions' signalling
    key = list(RECORD_KEY)
    captured = table(cap.out_dir / "usage.parquet")
    assert sorted_rows(table(bulk.out_dir / "usage.parquet"), key) == sorted_rows(captured, key)
    # the capture's RADIUS accounting gives back the same data records
    from_pcap = [r.as_row() for r in capture.records_from_pcap(pcap)]
    volumes = ["start", "duration_s", "bytes_up", "bytes_down", "cause", "sequence"]
    assert len(from_pcap) == captured.num_rows > 0
    assert sorted(tuple(r[c] for c in volumes) for r in from_pcap) == sorted_rows(captured, volumes)


def test_progress_bar_is_quiet_off_a_terminal() -> None:
    quiet = io.StringIO()
    bar = ProgressBar("x", stream=quiet, interval_s=0.0)
    bar(0.5)
    bar.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    bar = ProgressBar("run", stream=loud, interval_s=0.0, enabled=True)
    bar(0.5)
    bar(1.0)
    bar.close()
    assert "run [" in loud.getvalue() and "100.0%" in loud.getvalue() and loud.getvalue().endswith("\n")


def test_cli_runs_and_prints_where_the_outputs_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = m2msim(
        [
            "run",
            str(SCENARIOS / "default.yaml"),
            "--out",
            str(out),
            "--days",
            "1",
            "--max-lines",
            "5",
            "--csv",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"outputs in {out}/" in captured.out and "invoice" in captured.out
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    assert "\nnote: --max-lines 5: " in captured.out  # the fleet was cut down: its prices are the cut one's
    n = duckdb.sql(f"SELECT count(*) FROM read_csv('{out / 'usage.csv'}', header = true)").fetchall()
    assert n[0][0] == table(out / "usage.parquet").num_rows > 0


def test_cli_bad_scenario_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    d = doc()
    d["groups"][0]["schedule"]["period"] = "soon"
    bad.write_text(yaml.safe_dump(d), encoding="utf-8")
    assert m2msim(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "soon" in t)
    assert f"{bad}:{line}: groups[0].schedule.period: expected a duration" in err  # file:line: key path


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_run_on_a_short_period(path: Path, tmp_path: Path) -> None:
    sc = load_scenario(path, days=2, max_lines=4)
    r = simulate(sc, tmp_path / sc.name)
    assert r.invoice is not None and not r.invoice.errors
    assert r.usage_rows > 0 and r.summary["devices"] == sc.n_devices
    assert (r.out_dir / "summary.txt").read_text().startswith(f"scenario {sc.name}")
    totals = r.summary["totals"]
    kinds = {"data": totals["data_records"], "sms": totals["sms_sent"], "calls": totals["calls_answered"]}
    assert sum(kinds.values()) > 0
    # the run's report draws the hourly sums its shards counted: the same page as from the records
    assert render_run_report(r.out_dir) == (r.out_dir / "report.html").read_text(encoding="utf-8")


def test_sms_calls_and_server_commands_go_through_the_gateway(tmp_path: Path) -> None:
    d = doc(
        devices=3,
        sms=[{"kind": "heartbeat", "every": "12h", "dest": "0612345678", "size": 20}],
        calls=[{"kind": "csd", "rate_per_day": 6, "dest": "0145000000", "duration": "90s"}],
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 4},
    )
    d["period"]["days"] = 2
    r = simulate(sc_of(d), tmp_path / "events")
    st = r.groups["fleet"]
    assert st.sms_sent == 3 * 4  # every 12 h for 2 days
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    sms = [x for x in rows if x["type"] == "sms"]
    assert len(sms) == 12 and {x["dest"] for x in sms} == {"fr-mobile"}
    csd = [x for x in rows if x["type"] == "csd"]
    answered = [x for x in csd if x["duration_s"] > 0]
    assert len(answered) == st.calls_answered > 0
    assert sum(x["duration_s"] for x in answered) == st.call_seconds
    assert len(csd) == st.calls_answered + st.calls_busy + st.calls_no_answer
    # each LOCATE command is delivered and answered with a report at once
    assert st.mt_sms_submitted == st.mt_sms_delivered > 0
    reports = sum(1 for x in rows if x["type"] == "data")
    assert reports == 3 * 2 * 96 + st.mt_sms_delivered
    # the same calls on a DTMF offer are refused: no record, counted
    dtmf = copy.deepcopy(d)
    dtmf["inventory"]["lines"][0].update(offer="business-m2m-dtmf", plan="compteur")
    refused = simulate(sc_of(dtmf), tmp_path / "dtmf")
    assert refused.groups["fleet"].calls_refused > 0 and refused.groups["fleet"].calls_answered == 0
    assert not [x for x in table(refused.out_dir / "usage.parquet").to_pylist() if x["type"] == "csd"]


def test_the_simulators_usage_files_are_rated_without_per_row_checks(tmp_path: Path) -> None:
    """Their statistics settle every row check, and the invoice is the one of the same rows as text."""
    from accounting import inventory_from_dict, rate
    from accounting.usage import UsageReader, month_bounds

    sc = load_scenario(SCENARIOS / "default.yaml", days=2, max_lines=30, seed=3)
    run = simulate(sc, tmp_path / "run", csv=True)
    parts = sorted((run.out_dir / "usage").glob("part-*.parquet"))
    kinds = {str(t) for t in table(run.out_dir / "usage.parquet").column("type").to_pylist()}
    assert {"data", "sms"} <= kinds
    reader = UsageReader(parts)
    assert reader._scan_sql(*month_bounds(2026, 3), [0, 60]).settled  # settled: no per-row flag
    inventory = inventory_from_dict(sc.inventory)
    typed, text = rate(inventory, parts), rate(inventory, run.out_dir / "usage.csv")
    assert billed(typed.to_dict()) == billed(text.to_dict()) and typed.rows_read == run.usage_rows > 0


def test_the_run_report_counts_every_kind_of_record_as_the_records_say(tmp_path: Path) -> None:
    """The hourly sums the shards count (bulk and per-call records) give the page the records give."""
    trip = {"share": 1.0, "start": "2026-03-01T12:00:00Z", "end": "2026-03-01T18:00:00Z", "plmn": "26201"}
    d = doc(
        devices=5,
        application={
            "profile": "mqtt-qos1",
            "session": "persistent",
            "keepalive": "20min",
            "payload": {"fixed": 96},
        },
        mobility={"trips": [trip]},
        reconnect={"policy": "fixed", "delay": "2min", "jitter": 0.5},
        sms=[{"kind": "heartbeat", "every": "6h", "dest": "0612345678", "size": 20}],
        calls=[{"kind": "csd", "rate_per_day": 6, "dest": "0145000000", "duration": "90s"}],
    )
    d["period"]["days"] = 2  # persistent contexts longer than 12 hours: partial records of sequence 2 and on
    bulk = {
        **doc()["groups"][0],
        "name": "bulk",
        "lines": "B",
        "mobility": {"eu_share": 0.5, "eu_plmns": ["26201"]},
    }
    d["groups"].append(bulk)
    d["inventory"]["lines"].append({**d["inventory"]["lines"][0], "id_prefix": "B", "count": 4})
    d["events"] = {
        "outages": [
            {"kind": "apn", "apn": "orange.m2m.spec", "start": "2026-03-01T03:00:00Z", "duration": "1h"},
            {"kind": "server", "start": "2026-03-01T20:00:00Z", "duration": "1h"},
        ]
    }
    r = simulate(sc_of(d, shard_devices=3), tmp_path / "mix", workers=2)
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    data = [x for x in rows if x["type"] == "data"]
    assert {x["type"] for x in rows} == {"data", "sms", "csd"}
    assert any(x["sequence"] > 1 for x in data) and any(x["cause"] == 4 for x in data)
    assert {x["zone"] for x in data} == {"fr", "eu"}
    con = connect(find_files(r.out_dir))
    try:
        assert r.hourly == hourly_usage(con)  # every sum, those the page does not show too
    finally:
        con.close()
    assert render_run_report(r.out_dir) == (r.out_dir / "report.html").read_text(encoding="utf-8")


def test_the_shards_aggregates_rate_the_month_as_the_part_files_read_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shard aggregates its usage part for the rating as it ends; the sum of these is the invoice's."""
    import simulator.run
    from accounting import inventory_from_dict, rate
    from accounting.usage_parts import PartAggregates

    summed: list[bool] = []

    class Watched(PartAggregates):
        def aggregate(self, start: datetime, end: datetime, periods: Any) -> Any:
            summed.append(self._summable(start, end, periods))
            return super().aggregate(start, end, periods)

    monkeypatch.setattr(simulator.run, "PartAggregates", Watched)
    d = doc(
        devices=5,
        application={"profile": "mqtt-qos1", "session": "persistent", "keepalive": "20min"},
        sms=[{"kind": "heartbeat", "every": "6h", "dest": "0612345678", "size": 20}],
        calls=[{"kind": "csd", "rate_per_day": 6, "dest": "0145000000", "duration": "90s"}],
        reconnect={"policy": "fixed", "delay": "2min", "jitter": 0.5},
    )
    d["period"]["days"] = 2
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T20:00:00Z", "duration": "1h"}]}
    r = simulate(sc_of(d, shard_devices=2), tmp_path / "run", workers=2, merge=False)
    assert summed == [True] and r.shards == 3 and r.retry_cost is not None
    assert r.invoice is not None and r.invoice.lines and not r.invoice.rejects
    whole = rate(
        inventory_from_dict(r.scenario.inventory), sorted((r.out_dir / "usage").glob("part-*.parquet"))
    )
    whole.coverage = r.invoice.coverage
    # (the same files, named in the run folder by the run: `usage_files`)
    assert billed(json.loads(r.invoice.to_json())) == billed(json.loads(whole.to_json()))
    assert [f["name"] for f in r.invoice.usage_files or []] == [
        f"usage/part-0000{i}.parquet" for i in range(3)
    ]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_shards_devices_are_its_slice_of_the_fleet(path: Path) -> None:
    sc = load_scenario(path)
    whole = fleet(sc)
    assert [d.gidx for d in whole] == list(range(sc.n_devices))
    n = len(whole)
    for a, b in [(0, n), (0, 1), (1, n // 2), (n // 3, n - 1), (n - 1, n), (n, n), (2, n + 5)]:
        assert fleet(sc, a, b) == whole[a:b]


def test_session_ids_are_the_line_a_dash_and_the_charging_id() -> None:
    """Fixed-width blocks per run of records, or pyarrow's casts joined: the same strings."""
    import numpy as np

    from simulator.batch import session_ids

    rng = np.random.default_rng(3)
    for trial in range(300):
        k, n = int(rng.integers(1, 30)), int(rng.integers(1, 6000))
        lines = [
            "é" * int(rng.integers(0, 3)) + str(rng.integers(0, 10 ** int(rng.integers(1, 12))))
            for _ in range(k)
        ]
        rsi = np.sort(rng.integers(0, k, n)) if trial % 3 else rng.integers(0, k, n)
        charging = rng.integers(0, 2 ** int(rng.integers(1, 62)), n).astype(np.int64)
        if trial % 2:  # consecutive ids per run, as a device's sessions have them, across powers of ten
            charging = np.sort(rng.integers(0, 10 ** int(rng.integers(1, 10)), n)).astype(np.int64)
        charging[: min(n, 5)] = [0, 9, 10, 99, 100][: min(n, 5)] if trial % 5 == 0 else charging[: min(n, 5)]
        got = session_ids(lines, rsi, charging)
        assert got.to_pylist() == [
            f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)
        ]
    minus = session_ids(["L"], np.zeros(3, dtype=np.int64), np.array([-5, 0, 7], dtype=np.int64))
    assert minus.to_pylist() == ["L--5", "L-0", "L-7"]


def test_session_ids_of_ids_following_on_across_multiples_of_ten_thousand() -> None:
    """A run of ids that follow on one by one is written from its first row and a slice of 4-digit
    words: the same strings across a multiple of 10,000, a power of ten, more than 10,000 rows,
    and beside runs whose ids skip or repeat."""
    import numpy as np

    from simulator.batch import session_ids

    lines = ["M00001", "é7", "L", "123456789012345"]
    runs = [
        (0, np.arange(9_990, 10_030)),  # 4 digits, then 5
        (1, np.arange(1_239_995, 1_262_010)),  # 10,000 rows and more, two multiples of 10,000
        (2, np.arange(995, 1_010)),  # 3 digits, then 4
        (3, np.array([5_000_000_000, 5_000_000_002, 5_000_000_003, 5_000_000_003])),  # a skip, a repeat
        (0, np.arange(2**33 - 9, 2**33 + 9)),  # past 32 bits
        (1, np.arange(99_999_990, 100_000_020)),  # 8 digits, then 9
    ]
    rsi = np.concatenate([np.full(len(ids), s, dtype=np.int64) for s, ids in runs])
    charging = np.concatenate([ids for _, ids in runs]).astype(np.int64)
    got = session_ids(lines, rsi, charging)
    assert got.to_pylist() == [
        f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)
    ]


def test_session_ids_of_runs_given_by_the_flush_are_those_found() -> None:
    """A flush whose records are its sessions hands its parts' first rows as the runs: the same
    strings as runs found from the stretch indices, for two stretches of one line side by side,
    ids that skip, and a negative id (written the general way)."""
    import numpy as np

    from simulator.batch import session_ids

    lines = ["M00001", "M00001", "M00002"]
    for ids in (
        [np.arange(9_990, 10_200), np.arange(10_200, 10_400), np.arange(50, 400, 2)],
        [np.arange(100, 300), np.arange(-3, 197), np.arange(7, 207)],
    ):
        rsi = np.repeat(np.arange(3, dtype=np.int64), [len(x) for x in ids])
        charging = np.concatenate(ids).astype(np.int64)
        runs = np.array([0, len(ids[0]), len(ids[0]) + len(ids[1])], dtype=np.int64)
        want = [f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)]
        assert session_ids(lines, rsi, charging, runs).to_pylist() == want
        assert session_ids(lines, rsi, charging).to_pylist() == want


def test_session_ids_of_runs_known_to_follow_on_are_those_found() -> None:
    """Runs whose ids the flush knows follow on one by one (each drawn in a block) are written
    from their first and last ids, with no pass looking for a skip: the same strings, across a
    power of ten and a multiple of 10,000, for runs of one row and of a long line."""
    import numpy as np

    from simulator.batch import session_ids

    lines = ["M00001", "M00002", "é123456789012"]
    ids = [np.arange(9_990, 10_200), np.arange(7, 8), np.arange(99_999_000, 100_000_300)]
    rsi = np.repeat(np.arange(3, dtype=np.int64), [len(x) for x in ids])
    charging = np.concatenate(ids).astype(np.int64)
    runs = np.array([0, len(ids[0]), len(ids[0]) + 1], dtype=np.int64)
    want = [f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)]
    assert session_ids(lines, rsi, charging, runs, following=True).to_pylist() == want


def test_reports_jittered_past_a_roaming_move_are_sent_after_it(tmp_path: Path) -> None:
    """A report whose boundary falls before a trip's start or end and whose jitter moves it past the
    move was dropped (each stretch kept only its own [t0, t1)): a quarter of a report per move with
    a 30-minute jitter on an hourly schedule.  The reports of a fleet on trips are now those of the
    same fleet at home, at the same times (the moves change their zone, not their number)."""
    group = {
        "schedule": {"period": "1h", "jitter": "uniform", "jitter_s": "30min"},
        "application": {"profile": "coap", "payload": {"fixed": 48}},
    }
    trips = [
        {"share": 1.0, "start": f"2026-03-0{d}T06:00:00Z", "end": f"2026-03-0{d}T18:00:00Z", "plmn": "26201"}
        for d in (1, 2, 3)
    ]
    away = doc(devices=20, mobility={"trips": trips}, **group)
    away["period"]["days"] = 4
    home = copy.deepcopy(away)  # the same draws: trips that no device takes
    for trip in home["groups"][0]["mobility"]["trips"]:
        trip["share"] = 0.0
    runs = {}
    for name, d in (("home", home), ("away", away)):
        result = simulate(sc_of(d), tmp_path / name, workers=1, invoice=False)
        runs[name] = sorted_rows(table(result.out_dir / "usage.parquet"), ["line", "start"])
    # 96 boundaries a device in 4 days; those jittered past the period's end are not in it
    assert 20 * 95 <= len(runs["home"]) <= 20 * 96
    assert runs["away"] == runs["home"]


@pytest.mark.parametrize("session", ["per-report", "persistent"])
def test_a_server_outage_makes_no_sessions_on_an_apn_the_offer_refuses(tmp_path: Path, session: str) -> None:
    """Intense lines on the public APN: the network refuses every context they ask for.  In a
    server outage their reconnection attempts were written as failed data sessions (billed a ko
    each, counted in the retry storm) as if the network had accepted them; they are refused as
    every other of their activations."""
    d = doc(devices=2, apn="internet-entreprise")
    d["groups"][0]["application"].update(session=session, payload={"fixed": 60})
    if session == "persistent":
        d["groups"][0]["application"]["keepalive"] = "20min"
    d["inventory"]["lines"][0].update(offer="intense", plan="optima", commitment=36)
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T10:00:00Z", "duration": "1h"}]}
    r = simulate(sc_of(d), tmp_path / "intense", invoice=False)
    st = r.groups["fleet"]
    assert r.usage_rows == 0
    assert st.data_sessions == st.retry_sessions == st.retry_ko == 0
    assert st.session_refusals > 0


def test_a_command_answered_in_a_server_outage_is_a_failed_attempt(tmp_path: Path) -> None:
    """A LOCATE command by SMS during a server outage: the device's answer was a report the server
    took (a normal session of a report's bytes) though the server answered nothing else.  It is an
    attempt that fails like the outage's own (released by the device: cause 0, the profile's
    failed-attempt bytes), in the retry storm."""
    d = doc(devices=3, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 24})
    d["groups"][0].update(schedule={"period": "1d"}, reconnect={"policy": "fixed", "delay": "2h"})
    d["groups"][0]["application"] = {"profile": "coap", "payload": {"fixed": 48}}
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T06:00:00Z", "duration": "12h"}]}
    r = simulate(sc_of(d), tmp_path / "mt", invoice=False)
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    inside = [x for x in rows if START + timedelta(hours=6) <= x["start"] < START + timedelta(hours=18)]
    assert r.groups["fleet"].mt_sms_delivered > 3 * 6  # commands delivered in the outage too
    assert len(inside) > 3 * 6
    assert all((x["cause"], x["bytes_up"] + x["bytes_down"]) == (0, 450) for x in inside)
    failed = sum(is_retry_charging(x["charging_id"]) for x in rows)
    assert failed == r.groups["fleet"].retry_sessions == len(inside)


def _commands_queued_in_an_unreachable_outage(
    tmp_path: Path, server: tuple[str, str], area: tuple[str, str], **group: Any
) -> list[dict[str, Any]]:
    """The failed attempts' records of an HTTP device on 1 March commanded by SMS 400 times a day,
    through a server outage the network answers "unreachable" (`server`: its start, HH:MM, and
    duration) and a cell outage inside it (`area`): the commands queued while the cell was gone are
    answered together when it returns."""
    d = doc(devices=1, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 400})
    d["groups"][0].update(schedule={"period": "1d"}, reconnect={"policy": "fixed", "delay": "2h"}, **group)
    d["groups"][0]["application"] = {"profile": "http", "payload": {"fixed": 48}}
    d["events"] = {
        "outages": [
            {
                "kind": "server",
                "start": f"2026-03-01T{server[0]}:00Z",
                "duration": server[1],
                "answer": "unreachable",
            },
            {"kind": "area", "start": f"2026-03-01T{area[0]}:00Z", "duration": area[1]},
        ]
    }
    r = simulate(sc_of(d), tmp_path / "mt", invoice=False)
    return [x for x in table(r.out_dir / "usage.parquet").to_pylist() if is_retry_charging(x["charging_id"])]


def test_commands_answered_at_once_in_an_unreachable_outage_get_the_icmp_answers_the_limits_let_go(
    tmp_path: Path,
) -> None:
    """Commands queued while the cell was gone, delivered together when it returns, in a server
    outage the network answers "unreachable": each answer is a TCP connect at the same second.  Each
    was billed its ICMP message at once (14 of them), where the rule of the modem's stacks
    (`gateway.icmplimit`) lets six go at once and the other SYNs wait for their retransmission."""
    rows = _commands_queued_in_an_unreachable_outage(tmp_path, ("06:00", "12h"), ("08:00", "1h"))
    back = min(x["start"] for x in rows if x["start"] >= START + timedelta(hours=9))
    together = [x for x in rows if x["start"] == back]
    assert len(together) > 6  # (the commands queued in the hour without the cell)
    at_once = [
        x for x in together if (x["bytes_up"], x["bytes_down"], x["duration_s"]) == (SYN, 20 + 8 + SYN, 1)
    ]
    assert len(at_once) == 6
    later = [x for x in together if x not in at_once]
    assert all(x["bytes_up"] > SYN and x["duration_s"] > 1 for x in later)  # a SYN sent again, at least
    assert sum(x["bytes_down"] > 0 for x in later) >= 1  # (one a second answered after the burst)


def test_commands_answered_together_just_before_the_period_s_end_bill_no_answer_after_it(
    tmp_path: Path,
) -> None:
    """Commands queued while the cell was gone, answered together 2 s before the period's end in a
    server outage the network answers "unreachable": six answered at once, one at its first
    retransmission; the others' SYNs at 0 and 1 s go unanswered by the end (their next, at 3 s,
    after it, is never sent).  Those were each billed the ICMP answer of a SYN sent after the end
    (80 B), and the limits spent their messages on them."""
    rows = _commands_queued_in_an_unreachable_outage(
        tmp_path, ("22:00", "4h"), ("23:00", "59min"), network_search="58s"
    )
    together = [x for x in rows if x["start"] == START + timedelta(days=1, seconds=-2)]
    assert len(together) > 8  # (the commands queued in the hour without the cell)
    answered = sorted((x["duration_s"], x["bytes_up"], x["bytes_down"]) for x in together if x["cause"] == 0)
    icmp = 20 + 8 + SYN  # the ICMP message quotes the whole SYN it answers
    assert answered == [(1, SYN, icmp)] * 6 + [(2, 2 * SYN, icmp)]
    cut = [x for x in together if x["cause"] == 20]
    assert len(cut) == len(together) - 7
    assert {(x["duration_s"], x["bytes_up"], x["bytes_down"]) for x in cut} == {(2, 2 * SYN, 0)}


def test_a_failed_tcp_attempt_costs_the_syns_of_the_tcp_model_until_it_gives_up(tmp_path: Path) -> None:
    """A TCP connect the server never answers: the 60-byte SYN three times (180 B) in the 15 s the
    attempt lasts, where the virtual modem's stacks bill one 52-byte SYN and its retransmissions on
    the RFC 6298 timer (`gateway.wire`).  The simulator bills the same model now: the SYNs sent at
    0, 1, 3 and 7 s, and an attempt cut at the period's end the SYNs sent by then."""
    d = doc(devices=4, reconnect={"policy": "fixed", "delay": "44s", "jitter": 0})  # the last one 2 s
    d["groups"][0].update(schedule={"period": "15min", "align": "clock"})
    d["groups"][0]["application"] = {"profile": "http", "payload": {"fixed": 60}}
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T22:00:00Z", "duration": "4h"}]}
    r = simulate(sc_of(d), tmp_path / "syn", invoice=False)
    failed = [
        x for x in table(r.out_dir / "usage.parquet").to_pylist() if is_retry_charging(x["charging_id"])
    ]
    whole = [x for x in failed if x["cause"] == 0]  # released by the device once it gave up
    cut = [x for x in failed if x["cause"] == 20]
    assert whole and cut  # attempts in the outage, and those it cuts at the period's end
    assert {(x["duration_s"], x["bytes_up"], x["bytes_down"]) for x in whole} == {(15, 4 * SYN, 0)}
    for x in cut:
        assert (x["bytes_up"], x["bytes_down"]) == unanswered(x["duration_s"]), x
    assert {(x["duration_s"], x["bytes_up"]) for x in cut} == {(2, 2 * SYN)}  # the SYNs of 0 and 1 s


def test_a_persistent_connection_publishes_its_answers_to_commands(tmp_path: Path) -> None:
    """A device on a persistent MQTT/TLS connection answered each command SMS by opening a PDP
    context and a TLS connection of its own (2.5 kB, 3 ko a time) beside the one it keeps open.  It
    publishes the answer on its connection: one publish more (250 B plus the payload's excess)."""
    app = {
        "profile": "mqtt-tls13-qos1",
        "session": "persistent",
        "keepalive": "20min",
        "payload": {"fixed": 60},
    }
    quiet = doc(devices=3, application=app)
    asked = doc(devices=3, application=app, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 6})
    runs = {
        name: simulate(sc_of(d), tmp_path / name, workers=1, invoice=False)
        for name, d in (("quiet", quiet), ("asked", asked))
    }
    volume = {
        name: sum(x["bytes_up"] + x["bytes_down"] for x in table(r.out_dir / "usage.parquet").to_pylist())
        for name, r in runs.items()
    }
    st = runs["asked"].groups["fleet"]
    assert st.mt_sms_delivered > 3
    assert st.data_sessions == runs["quiet"].groups["fleet"].data_sessions == 3  # one context a device
    assert volume["asked"] - volume["quiet"] == st.mt_sms_delivered * (250 + 60 - 53)


def test_a_device_that_gives_up_tries_again_at_its_next_report(tmp_path: Path) -> None:
    """`max_attempts` gives up until the next scheduled report: a device that had given up stayed
    silent until the outage's end, as if it knew when the server would be back (3 attempts in a
    3-hour outage instead of 3 at each of its 12 reports in it).  Each report in the outage now
    makes its round of attempts."""
    d = doc(devices=2, reconnect={"policy": "fixed", "delay": "30s", "jitter": 0, "max_attempts": 3})
    d["groups"][0].update(schedule={"period": "15min", "align": "clock"})  # rounds at :00, :15, ...
    d["groups"][0]["application"] = {"profile": "http", "payload": {"fixed": 60}}
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T10:00:00Z", "duration": "3h"}]}
    r = simulate(sc_of(d), tmp_path / "giveup", invoice=False)
    st = r.groups["fleet"]
    assert st.retry_attempts == st.retry_sessions == 2 * 12 * 3
    assert st.reconnections == 2


def test_a_trip_that_starts_as_another_ends_takes_the_device_there(tmp_path: Path) -> None:
    """An itinerary: Germany until 18:00, then Spain from 18:00.  The end of the German trip, taken
    after the Spanish start at the same second, sent the device home: its Spanish reports were
    in France (zone fr, no geography alarm).  The device is in Spain, and back home at the end."""
    d = doc(devices=2)
    d["groups"][0].update(
        schedule={"period": "1h"}, application={"profile": "coap", "payload": {"fixed": 60}}
    )
    d["groups"][0]["mobility"] = {
        "trips": [
            {"share": 1.0, "start": "2026-03-01T06:00:00Z", "end": "2026-03-01T18:00:00Z", "plmn": "26201"},
            {"share": 1.0, "start": "2026-03-01T18:00:00Z", "end": "2026-03-01T22:00:00Z", "plmn": "21407"},
        ]
    }
    r = simulate(sc_of(d), tmp_path / "b2b", invoice=False)
    for x in table(r.out_dir / "usage.parquet").to_pylist():
        hour = (x["start"] - START).total_seconds() / 3600
        expected = "26201" if 6 <= hour < 18 else "21407" if 18 <= hour < 22 else "20801"
        assert x["serving_plmn"] == expected, x


def test_a_trip_over_before_a_mid_month_period_leaves_no_trace(tmp_path: Path) -> None:
    """A period starting on the 10th and a trip of the 3rd to the 7th: the device was taken to
    Germany and back at the period's first second, raising a geography alarm for a country it had
    left days before and counted among the roaming devices.  A trip going on at the period's start
    still leaves the device abroad from there."""
    d = doc(devices=2, alarms={"geography": {"countries": ["FR"]}})
    d["period"]["start"] = "2026-03-10"
    d["groups"][0].update(
        schedule={"period": "1h"}, application={"profile": "coap", "payload": {"fixed": 60}}
    )
    d["groups"][0]["mobility"] = {
        "trips": [
            {"share": 1.0, "start": "2026-03-03T06:00:00Z", "end": "2026-03-07T18:00:00Z", "plmn": "26201"}
        ]
    }
    r = simulate(sc_of(d), tmp_path / "before", invoice=False)
    assert r.groups["fleet"].roaming_devices == 0
    assert (r.out_dir / "alarms.jsonl").read_text() == ""
    assert {x["serving_plmn"] for x in table(r.out_dir / "usage.parquet").to_pylist()} == {"20801"}
    d["groups"][0]["mobility"]["trips"][0]["end"] = "2026-03-10T12:00:00Z"
    r = simulate(sc_of(d), tmp_path / "going-on", invoice=False)
    assert r.groups["fleet"].roaming_devices == 2
    alarms = [json.loads(x) for x in (r.out_dir / "alarms.jsonl").read_text().splitlines()]
    assert sorted(a["line"] for a in alarms if a["rule"] == "geography") == ["D1", "D2"]
    for x in table(r.out_dir / "usage.parquet").to_pylist():
        hour = (x["start"] - datetime(2026, 3, 10, tzinfo=UTC)).total_seconds() / 3600
        assert x["serving_plmn"] == ("26201" if hour < 12 else "20801"), x


def test_a_persistent_connection_keeps_its_keep_alive_timer_across_a_move(tmp_path: Path) -> None:
    """A connection going on across a roaming move restarted its keep-alive count at the move: a
    30-minute gap split by a move into two gaps shorter than the 20-minute keep-alive lost its
    ping.  The connection carries the same bytes on a trip as at home (the pings of one timer)."""
    app = {"profile": "mqtt-qos1", "session": "persistent", "keepalive": "20min", "payload": {"fixed": 60}}
    trips = [
        {
            "share": 1.0,
            "start": f"2026-03-01T{h:02d}:15:00Z",
            "end": f"2026-03-01T{h + 2:02d}:15:00Z",
            "plmn": "26201",
        }
        for h in (2, 8, 14)
    ]
    away = doc(devices=2, application=app, mobility={"trips": trips})
    away["groups"][0]["schedule"] = {"period": "30min", "align": "clock"}  # reports at :00 and :30
    home = copy.deepcopy(away)
    for trip in home["groups"][0]["mobility"]["trips"]:
        trip["share"] = 0.0
    volume = {}
    for name, d in (("home", home), ("away", away)):
        r = simulate(sc_of(d), tmp_path / name, workers=1, invoice=False)
        volume[name] = sum(
            x["bytes_up"] + x["bytes_down"] for x in table(r.out_dir / "usage.parquet").to_pylist()
        )
    assert volume["away"] == volume["home"]


def test_threshold_amount_of_bulk_data_is_the_invoice_s_ko(tmp_path: Path) -> None:
    """Per-report sessions of a few hundred bytes are billed 1 ko each: an amount threshold at
    1 EUR per ko fires at the record whose ko take the line past it, with their count as value
    (priced on raw bytes, it read a fifth of that and fired days later, or never)."""
    threshold = {"amount": "30", "prices": {"per_mo": "1024"}}
    d = doc(devices=2, alarms={"threshold": threshold})
    d["period"]["days"] = 2
    r = simulate(sc_of(d), tmp_path / "run", invoice=False)
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    alarms = [json.loads(x) for x in (r.out_dir / "alarms.jsonl").read_text().splitlines()]
    assert sorted(a["line"] for a in alarms) == ["D1", "D2"]
    for a in alarms:
        at = datetime.fromisoformat(a["time"])
        ko = sum(
            -(-(x["bytes_up"] + x["bytes_down"]) // 1024)
            for x in rows
            if x["line"] == a["line"]
            and x["type"] == "data"
            and x["start"] + timedelta(seconds=x["duration_s"]) <= at
        )
        assert a["details"]["value"] == f"{ko}.00"
        assert ko > 30


def test_the_period_alarm_sees_bulk_data_after_the_first_record_of_a_day(tmp_path: Path) -> None:
    """Hourly reports on the hour, allowed 00:00-18:00 in Paris: each day's first record (01:00 in
    Paris) is allowed, and so is 18:00:00 (the window's last second); the alarm comes at 19:00."""
    d = doc(
        devices=2,
        schedule={"period": "1h", "align": "clock"},
        alarms={"period": {"hours": ["00:00-18:00"]}},
    )
    d["period"]["days"] = 2
    d["network"] = {"alarms": {"timezone": "Europe/Paris", "holdoff": "1h"}}
    r = simulate(sc_of(d), tmp_path / "run", invoice=False)
    alarms = [json.loads(x) for x in (r.out_dir / "alarms.jsonl").read_text().splitlines()]
    got = sorted((a["line"], a["details"]["local_time"][:13]) for a in alarms if a["rule"] == "period")
    assert got == [(line, f"2026-03-0{day}T19") for line in ("D1", "D2") for day in (1, 2)]


def run_shard(sc: Scenario, tmp_path: Path, per_call: bool) -> Path:
    """The scenario's first shard run in a folder of `tmp_path`, its data sessions in bulk or each
    played through the gateway (`per_call`); the folder."""
    out = tmp_path / ("per-session" if per_call else "bulk")
    out.mkdir()  # (a shard writes into its run's folder, made before it)
    shard = Shard(sc, 0, fleet(sc), out)
    shard.per_call = per_call
    shard.run()
    return out


def test_bulk_threshold_alarm_is_dated_at_the_record_that_crosses_it(tmp_path: Path) -> None:
    """Bulk data reached the alarm engine as one use per line and day, at the day's first record
    with the day's volume: the threshold alarm was dated before the usage that crossed the limit,
    with the day's end total.  Now the same sessions raise the same alarms in bulk as played one
    by one through the gateway: at the end of the record that takes the month over the limit,
    with the month's total then."""
    threshold = {"bytes": 20000, "amount": "12", "prices": {"per_mo": "1024"}}
    d = doc(devices=3, alarms={"threshold": threshold})
    d["period"]["days"] = 2
    sc = sc_of(d)
    alarms = {}
    for per_call in (False, True):
        out = run_shard(sc, tmp_path, per_call)
        lines = (out / "alarms" / "part-00000.jsonl").read_text().splitlines()
        alarms[per_call] = sorted(
            (a["line"], a["details"]["measure"], a["time"], str(a["details"]["value"]))
            for a in map(json.loads, lines)
        )
    assert alarms[False] == alarms[True]
    assert {(line, measure) for line, measure, _, _ in alarms[False]} == {
        (line, measure) for line in ("D1", "D2", "D3") for measure in ("bytes", "amount")
    }
    rows = table(tmp_path / "bulk" / "usage" / "part-00000.parquet").to_pylist()
    for line, measure, time, value in alarms[False]:
        ends = sorted(
            (x["start"] + timedelta(seconds=x["duration_s"]), x["bytes_up"] + x["bytes_down"])
            for x in rows
            if x["line"] == line and x["type"] == "data"
        )
        limit = 20000 if measure == "bytes" else 12
        running = 0  # the month's running total, record by record, up to the one that passes the limit
        for i, (_, volume) in enumerate(ends):
            running += volume if measure == "bytes" else -(-volume // 1024)
            if running > limit:
                crossing, total = ends[i][0], running
                break
        assert datetime.fromisoformat(time) == crossing, (line, measure)
        assert value == (str(total) if measure == "bytes" else f"{total}.00")


def test_answers_to_commands_in_the_same_second_open_together_when_played_one_by_one(tmp_path: Path) -> None:
    """Commands held while the cell was out are delivered together when it returns, and the device
    answers each with a report at once: played through the gateway one by one (`Shard.per_call`),
    the answers are the bulk path's, each opened that second.  They were played one after the other,
    each opened when the previous one ended (3 s later for an HTTPS report)."""
    d = doc(
        devices=3,
        schedule={"period": "1d"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 24},
    )
    d["events"] = {"outages": [{"kind": "area", "start": "2026-03-01T06:00:00Z", "duration": "4h"}]}
    sc = sc_of(d)
    rows = {}
    for per_call in (False, True):
        out = run_shard(sc, tmp_path, per_call)
        rows[per_call] = sorted_rows(table(out / "usage" / "part-00000.parquet"), RECORD_KEY)
    starts = Counter((r[0], r[2]) for r in rows[False] if r[1] == "data")
    assert max(starts.values()) > 1  # answers to the commands held in the outage, together
    assert rows[True] == rows[False]


def test_a_persistent_connection_s_records_each_carry_the_probes_of_their_span(tmp_path: Path) -> None:
    """The scans of a connection kept open for two days on a public APN: each of its 12-hour
    records carries the probes that arrived in its span (a Poisson count over the span, drawn from
    the line's stream as the gateway closes the record, as it scans a served modem's context), so
    a record's scan bytes are whole probes (a SYN down, the reset up).  They were one count per
    stretch shared by time between its records: shares of probes, the same count as its span's
    only by chance."""
    app = {"profile": "mqtt-qos1", "session": "persistent", "keepalive": "20min", "payload": {"fixed": 53}}
    runs = {}
    for rate in (0, 60):
        d = doc(devices=3, apn="internet-entreprise", application=app)
        d["period"]["days"] = 2
        d["network"] = {"apns": {"internet-entreprise": {"scan_per_hour": rate}}}
        out = simulate(sc_of(d), tmp_path / f"rate-{rate}", invoice=False).out_dir
        rows = table(out / "usage.parquet").to_pylist()
        runs[rate] = sorted(
            (r["line"], r["sequence"], r["duration_s"], r["bytes_up"], r["bytes_down"]) for r in rows
        )
    lines = sorted({r[0] for r in runs[0]})
    assert len(lines) == 3 and [r[:3] for r in runs[0]] == [r[:3] for r in runs[60]]
    for line in lines:
        quiet = [r for r in runs[0] if r[0] == line]
        scanned = [r for r in runs[60] if r[0] == line]
        assert [r[2] for r in quiet] == [43_200] * 4  # (opened at the start, closed at the end: cause 20)
        rng = scan_rng(11, line)
        probes = [int(rng.poisson(60 * r[2] / 3600)) for r in quiet]
        extra = [(b[3] - a[3], b[4] - a[4]) for a, b in zip(quiet, scanned, strict=True)]
        assert extra == [(n * HEADER, n * SYN) for n in probes]


def test_an_attempt_a_held_nsapi_pushes_to_the_period_s_end_bills_the_syns_sent_before_it(
    tmp_path: Path,
) -> None:
    """Commands queued while the cell was gone, answered together 20 s before the period's end in
    a server outage nobody answers: 11 attempts open at once (the line's NSAPIs), the others when
    those are released, 15 s later, and are going on at the end 5 s after.  Each sends the SYNs of
    the TCP model until the end (at 0, 1 and 3 s: 3 in 5 s), as one opened 5 s before the end does;
    the pushed ones were billed the time share of a whole attempt's bytes (a third of 3 SYNs)."""
    d = doc(devices=1, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 400})
    d["groups"][0].update(
        schedule={"period": "1d"}, reconnect={"policy": "fixed", "delay": "2h"}, network_search="40s"
    )
    d["groups"][0]["application"] = {"profile": "http", "payload": {"fixed": 48}}
    d["events"] = {
        "outages": [
            {"kind": "server", "start": "2026-03-01T22:00:00Z", "duration": "4h"},
            {"kind": "area", "start": "2026-03-01T23:00:00Z", "duration": "59min"},
        ]
    }
    r = simulate(sc_of(d), tmp_path / "mt", invoice=False)
    rows = [x for x in table(r.out_dir / "usage.parquet").to_pylist() if is_retry_charging(x["charging_id"])]
    back = START + timedelta(days=1, seconds=-20)
    first = [x for x in rows if x["start"] == back]
    pushed = [x for x in rows if x["start"] == back + timedelta(seconds=15)]
    assert len(first) == 11 and len(pushed) > 0  # (more than 11 commands queued in the hour)
    assert {(x["duration_s"], x["bytes_up"], x["bytes_down"], x["cause"]) for x in first} == {
        (15, unanswered(15)[0], 0, 0)
    }
    assert {(x["duration_s"], x["bytes_up"], x["bytes_down"], x["cause"]) for x in pushed} == {
        (5, unanswered(5)[0], 0, 20)
    }


def test_an_answered_attempt_an_nsapi_wait_cuts_at_the_period_s_end_bills_no_answer_it_did_not_get(
    tmp_path: Path,
) -> None:
    """Twelve commands queued while the cell was gone, answered together 8 s before the period's
    end in a server outage the network answers "unreachable": the ICMP limits answer all of them
    (six by their first SYN, one at 1 s, two at 3 s, three at 7 s), the twelfth among the last,
    but it waits for an NSAPI and opens a second later: at the end its SYN at 7 s has not left (3
    sent, at 0, 1 and 3 s) and no answer came.  It was billed that SYN's ICMP answer."""
    rows = _commands_queued_in_an_unreachable_outage(
        tmp_path, ("22:00", "4h"), ("23:00", "59min"), network_search="52s"
    )
    back = START + timedelta(days=1, seconds=-8)
    together = [x for x in rows if x["start"] == back]
    pushed = [x for x in rows if x["start"] == back + timedelta(seconds=1)]
    assert len(together) == 11 and len(pushed) == 1
    assert sum(x["bytes_down"] == icmp_error_size(SYN) for x in together) == 11  # (all answered)
    assert [(x["duration_s"], x["bytes_up"], x["bytes_down"], x["cause"]) for x in pushed] == [
        (7, 3 * SYN, 0, 20)
    ]


@pytest.mark.parametrize("session", ["persistent", "per-report"])
def test_commands_answered_in_a_server_outage_take_retry_ids_in_the_order_of_the_attempts(
    tmp_path: Path, session: str
) -> None:
    """Commands answered in a server outage the device rides out: in bulk, the outage's own failed
    attempts were held until its next decision or its end, while the answers took their retry
    charging ids at once, so the answers' ids came before those of earlier attempts (played one by
    one through the gateway, every attempt took its id as it was made).  The records were the same,
    their charging ids not.  Now the held attempts take theirs first: the same ids on both paths,
    in the order of the attempts."""
    app: dict[str, Any] = {"profile": "mqtt-tls13-qos1", "payload": {"fixed": 60}}
    if session == "persistent":
        app.update(session="persistent", keepalive="20min")
    d = doc(devices=3, application=app, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 24})
    d["groups"][0]["reconnect"] = {"policy": "fixed", "delay": "20min"}
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T06:00:00Z", "duration": "6h"}]}
    sc = sc_of(d)
    rows = {}
    for per_call in (False, True):
        out = run_shard(sc, tmp_path, per_call)
        rows[per_call] = sorted_rows(
            table(out / "usage" / "part-00000.parquet"), [*RECORD_KEY, "charging_id"]
        )
    assert [r[:-1] for r in rows[False]] == [r[:-1] for r in rows[True]]
    assert rows[False] == rows[True]
    retries = [r for r in rows[False] if is_retry_charging(r[-1])]
    for line in ("D1", "D2", "D3"):
        ids = [r[-1] for r in retries if r[0] == line]  # (sorted by start)
        assert len(ids) > 18 and ids == sorted(ids)  # (the attempts every 20 min and the answers)


CELL_GOES = [START + timedelta(minutes=m) for m in range(30, 1440, 30)]  # for 10 min each time


def _commands_around_cell_outages(
    tmp_path: Path, profile: str, server: bool, rate: int
) -> dict[bool, list[dict[str, Any]]]:
    """The data records of 20 devices on 1 March commanded by SMS `rate` times a day, the cell gone
    at `CELL_GOES` (with `server`: 8 devices, the server down all day): in bulk and played one by
    one through the gateway."""
    d = doc(devices=8 if server else 20, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": rate})
    # (back on the air minutes after the cell: fewer commands queued than the line's 11 NSAPIs)
    d["groups"][0].update(schedule={"period": "1d"}, reconnect={"policy": "fixed", "delay": "5min"})
    d["groups"][0]["application"] = {"profile": profile, "payload": {"fixed": 53}}
    outages: list[dict[str, Any]] = [
        {"kind": "area", "start": t.isoformat(), "duration": "10min"} for t in CELL_GOES
    ]
    if server:
        outages.append({"kind": "server", "start": "2026-03-01T00:00:00Z", "duration": "1d"})
    d["events"] = {"outages": outages}
    return _data_rows_both_paths(sc_of(d), tmp_path)


def _data_rows_both_paths(sc: Scenario, tmp_path: Path) -> dict[bool, list[dict[str, Any]]]:
    """The data records of `sc`'s first shard in bulk (False) and played one by one (True)."""
    rows = {}
    for per_call in (False, True):
        out = run_shard(sc, tmp_path, per_call)
        rows[per_call] = [
            x for x in table(out / "usage" / "part-00000.parquet").to_pylist() if x["type"] == "data"
        ]
    return rows


def _cell_cuts(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of sessions going on past a time the cell went, and of those ending then."""
    end = [(x, x["start"] + timedelta(seconds=x["duration_s"])) for x in rows]
    return (
        [x for x, e in end if any(x["start"] < c < e for c in CELL_GOES)],
        [x for x, e in end if e in CELL_GOES and x["start"] < e],
    )


def test_an_answer_to_a_command_going_on_when_the_cell_goes_is_lost_there(tmp_path: Path) -> None:
    """A device answering a command with an HTTPS report a second or two before its cell went: the
    report ran to its end past the outage's start and kept all its bytes (cause 0), as if the radio
    bearer were still there.  It is now lost at the outage's start as the device's reports are
    (cause 4), billed the bytes of its time before the cut, on both paths."""
    rows = _commands_around_cell_outages(tmp_path, "https-tls13", server=False, rate=400)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    report = builtin_profiles()["https-tls13"].report
    across, ending = _cell_cuts(rows[False])
    assert across == []
    lost = [x for x in ending if x["duration_s"] < report.duration_s]
    assert lost  # (answers cut 1 or 2 s in)
    for x in lost:
        assert not is_retry_charging(x["charging_id"]) and x["cause"] == 4, x
        assert (x["bytes_up"], x["bytes_down"]) == tuple(
            int(time_share(np.array([b]), x["duration_s"], report.duration_s)[0])
            for b in (report.up, report.down)
        ), x


@pytest.mark.parametrize("profile", ["coap", "http"])
def test_an_attempt_answering_a_command_in_a_server_outage_is_lost_when_the_cell_goes(
    tmp_path: Path, profile: str
) -> None:
    """A command answered in a server outage seconds before the cell went: the failed attempt ran
    its whole time past the outage's start and was billed all its sends (cause 0).  It is now cut
    there as the outage's own attempts are, lost with the radio bearer (cause 4) and billed what it
    sent by then, on both paths."""
    rows = _commands_around_cell_outages(tmp_path, profile, server=True, rate=400)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    prof = builtin_profiles()[profile]
    fa = prof.failed_attempt
    across, ending = _cell_cuts(rows[False])
    assert across == []
    lost = [x for x in ending if x["duration_s"] < fa.duration_s]
    assert len(lost) > 1
    for x in lost:
        assert is_retry_charging(x["charging_id"]) and x["cause"] == 4, x
        sent = prof.attempts_cut(fa, np.array([x["duration_s"]], dtype=np.int64))
        assert (x["bytes_up"], x["bytes_down"]) == (int(sent[0][0]), int(sent[1][0])), x


@pytest.mark.parametrize("outage", [None, "server", "apn"])
def test_a_report_or_attempt_a_sim_swap_ends_keeps_its_bytes_played_one_by_one(
    tmp_path: Path, outage: str | None
) -> None:
    """A report (or, in a server or APN outage, a failed CoAP attempt) going on at a SIM swap ends
    there with its bytes (cause 0).  Played one by one through the gateway, the swap's attach came
    first in that second and released the context: its record was closed with 0 octets where the
    bulk path billed its bytes.  Both paths now give the same records, the bytes kept."""
    profile = "https-tls13" if outage is None else "coap"
    swap_at = START + timedelta(hours=10, seconds=1 if outage is None else 20)
    d = doc(
        devices=2,
        application={"profile": profile, "payload": {"fixed": 53}},
        schedule={"period": "1h", "align": "clock", "jitter": "none"},
        sim_swaps=[{"at": swap_at.isoformat(), "share": 1.0}],
    )
    if outage is not None:
        o: dict[str, Any] = {"kind": outage, "start": "2026-03-01T09:30:00Z", "duration": "2h"}
        if outage == "apn":
            d["groups"][0]["apn"] = o["apn"] = "internet-entreprise"
        d["events"] = {"outages": [o]}
    rows = _data_rows_both_paths(sc_of(d), tmp_path)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    prof = builtin_profiles()[profile]
    ended = [x for x in rows[True] if x["start"] + timedelta(seconds=x["duration_s"]) == swap_at]
    assert len(ended) == 2  # (one per device)
    for x in ended:
        assert x["cause"] == 0 and x["start"] < swap_at, x
        if outage is None:
            assert (x["bytes_up"], x["bytes_down"]) == (prof.report.up, prof.report.down), x
        else:
            fa = prof.failed_attempt
            assert is_retry_charging(x["charging_id"]) and (x["bytes_up"], x["bytes_down"]) == (
                fa.up,
                fa.down,
            ), x


def test_a_report_ending_in_the_second_of_a_roaming_move_is_one_record_played_one_by_one(
    tmp_path: Path,
) -> None:
    """A 3-s TLS 1.3 report at 10:00:00, the device leaving for Germany at 10:00:03: the report ends
    as the move is made, one record with its bytes (cause 0), as in bulk.  Played one by one
    through the gateway, the move came first in that second: the context was cut there (cause 24)
    with 0 octets and its bytes went into a second record of 0 s."""
    move = START + timedelta(hours=10, seconds=3)
    trip = {"share": 1.0, "start": move.isoformat(), "end": (move + timedelta(hours=1)).isoformat()}
    d = doc(
        devices=2,
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        schedule={"period": "1h", "align": "clock", "jitter": "none"},
        mobility={"trips": [{**trip, "plmn": "26201"}]},
    )
    rows = _data_rows_both_paths(sc_of(d), tmp_path)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    report = builtin_profiles()["https-tls13"].report
    at_ten = [x for x in rows[True] if x["start"] == move - timedelta(seconds=3)]
    assert len(at_ten) == 2  # (one per device)
    for x in at_ten:
        assert (x["duration_s"], x["cause"], x["serving_plmn"]) == (3, 0, "20801"), x
        assert (x["bytes_up"], x["bytes_down"]) == (report.up, report.down), x
    assert not [x for x in rows[True] if x["start"] == move and x["duration_s"] == 0]


@pytest.mark.parametrize(("case", "seed"), [("answers", 1), ("move", 3)])
def test_attempts_on_a_scanned_apn_draw_their_probes_in_time_order_in_bulk(
    tmp_path: Path, case: str, seed: int
) -> None:
    """A CoAP device on a public APN, its server down, answering commands: in bulk its failed
    attempts were held and handed over together later (at the next decision or the outage's end),
    so their probes came from the line's scan stream after those of what happened meanwhile (a
    command answered once the outage was over; a context cut by a trip's move, scanned by the
    gateway as it closed each of its records): a probe went to another record than played one by
    one, and every record's scan bytes after it shifted for the rest of the day.  The attempts
    are now handed over as they are made: the same records on both paths."""
    d = doc(
        devices=1,
        application={"profile": "coap", "payload": {"fixed": 20}},
        apn="internet-entreprise",
        schedule={"period": "15min", "align": "clock", "jitter": "none"},
        reconnect={"policy": "fixed", "delay": "10s"},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 2000 if case == "move" else 400},
    )
    d["seed"] = seed
    d["network"] = {"apns": {"internet-entreprise": {"scan_per_hour": 120}}}
    trip_start = START + timedelta(hours=10, minutes=20)
    if case == "move":
        d["groups"][0]["mobility"] = {
            "trips": [
                {
                    "share": 1.0,
                    "start": trip_start.isoformat(),
                    "end": "2026-03-01T10:50:00Z",
                    "plmn": "26201",
                }
            ]
        }
    duration = "1h" if case == "move" else "2h"
    d["events"] = {"outages": [{"kind": "server", "start": "2026-03-01T10:00:00Z", "duration": duration}]}
    rows = _data_rows_both_paths(sc_of(d), tmp_path)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    retries = [x for x in rows[False] if is_retry_charging(x["charging_id"])]
    assert retries and any(x["bytes_down"] > 0 for x in retries)  # (probes: the server sends nothing)
    if case == "move":  # an attempt going on at the move: cut there, its records scanned by the gateway
        cut = {x["charging_id"] for x in retries if x["start"] == trip_start}
        assert any(
            x["charging_id"] in cut and x["start"] + timedelta(seconds=x["duration_s"]) == trip_start
            for x in retries
        )


def test_an_answer_to_a_command_going_on_when_the_server_goes_ends_there(tmp_path: Path) -> None:
    """A device answering a command with an HTTPS report a second or two before its server went
    down: the report ran to its end past the outage's start, where the device's reports going on
    then end at it.  It now ends there too, with its bytes (cause 0: the cell stays), on both
    paths."""
    d = doc(devices=20, mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 400})
    d["groups"][0].update(schedule={"period": "1d"}, reconnect={"policy": "fixed", "delay": "5min"})
    d["groups"][0]["application"] = {"profile": "https-tls13", "payload": {"fixed": 53}}
    d["events"] = {
        "outages": [{"kind": "server", "start": t.isoformat(), "duration": "10min"} for t in CELL_GOES]
    }
    rows = _data_rows_both_paths(sc_of(d), tmp_path)
    assert sorted(map(str, rows[False])) == sorted(map(str, rows[True]))
    report = builtin_profiles()["https-tls13"].report
    across, ending = _cell_cuts(rows[False])
    assert across == []
    ended = [x for x in ending if x["duration_s"] < report.duration_s]
    assert ended  # (answers ended 1 or 2 s in)
    for x in ended:
        assert not is_retry_charging(x["charging_id"]) and x["cause"] == 0, x
        assert (x["bytes_up"], x["bytes_down"]) == (report.up, report.down), x


def test_the_hourly_sums_of_bulk_records_are_exact_beyond_float_precision() -> None:
    """A shard's per-hour sums of its bulk records (`_bin_sums`) are the integers' exact sums, in
    cells left empty too, whatever their size (past 2^53, where a float sum rounds)."""
    from simulator.engine import _bin_sums

    rng = np.random.default_rng(11)
    cell = rng.integers(0, 5, 10_000).astype(np.int64)
    cell[cell == 3] = 4  # cell 3 empty
    for top in (1 << 20, 1 << 52):
        values = rng.integers(0, top, 10_000).astype(np.int64)
        expected = [0] * 6
        for c, v in zip(cell.tolist(), values.tolist(), strict=True):
            expected[c] += v
        assert _bin_sums(cell, values, 6) == expected


def test_session_ids_of_a_batch_of_one_width_are_each_rows_line_and_id() -> None:
    """A batch whose lines and ids all have one width (a fleet's month, as a rule): its offsets
    are one step apart, the strings those of each row's line and id."""
    from simulator.batch import session_ids

    lines = ["M00007", "M00008", "M00009"]
    rsi = np.repeat(np.array([0, 1, 2, 1], dtype=np.int64), [3_000, 20_010, 5, 7])
    charging = np.concatenate(
        [
            np.arange(131_203_072, 131_206_072),
            np.arange(131_329_995, 131_350_005),
            [200_000_001] * 5,
            [300_000_000] * 7,
        ]
    ).astype(np.int64)
    got = session_ids(lines, rsi, charging)
    assert got.type == pa.string()
    assert got.to_pylist() == [
        f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)
    ]
