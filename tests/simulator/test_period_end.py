"""What is still going on at the period's end: its record closes there, and says the context was not
released (cause 20, management intervention, TS 32.298), not that the device released it (0)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from accounting.records import ClosingCause
from simulator.profiles import builtin_profiles
from simulator.run import simulate
from simulator.scenario import parse_scenario

END = datetime(2026, 3, 2, tzinfo=UTC).timestamp()


def group(name: str, lines: str, **application: Any) -> dict[str, Any]:
    return {
        "name": name,
        "lines": lines,
        "schedule": {"period": "2min", "jitter": "tr37868-model1"},
        "application": {"profile": "mqtt-qos1", "payload": {"fixed": 53}, **application},
    }


def line(prefix: str, count: int) -> dict[str, Any]:
    return {
        "id_prefix": prefix,
        "count": count,
        "offer": "business-m2m",
        "plan": "forfait-2mo",
        "commitment": 24,
        "since": "2025-01-01",
    }


def test_records_open_at_the_periods_end_close_with_management_intervention(tmp_path: Path) -> None:
    doc = {
        "name": "end",
        "seed": 3,
        "period": {"start": "2026-03-01", "days": 1},
        "inventory": {"customer": "c", "month": "2026-03", "lines": [line("R", 300), line("P", 3)]},
        "groups": [
            group("reports", "R"),  # sessions of a few seconds every 2 min: some run into the end
            group("connected", "P", session="persistent", keepalive="20min"),  # up to the end
        ],
    }
    run = simulate(parse_scenario(doc, "end.yaml"), tmp_path / "run")
    rows = [r for r in pq.read_table(run.out_dir / "usage.parquet").to_pylist() if r["type"] == "data"]
    management = int(ClosingCause.MANAGEMENT_INTERVENTION)
    lasting = builtin_profiles()["mqtt-qos1"].report.duration_s  # a report's session, uncut
    reports = [(r["start"].timestamp(), r["duration_s"], r["cause"]) for r in rows if r["line"][0] == "R"]
    going_on = [(s, d, c) for s, d, c in reports if s + lasting > END]
    # a report's context going on at the end is cut there and closed by the operator; one the
    # device released (at the end to the second too) is a normal release
    assert going_on and all(s + d == END and c == management for s, d, c in going_on)
    assert {c for s, d, c in reports if s + lasting <= END} == {int(ClosingCause.NORMAL)}
    # a persistent context is up at the end: closed there by the operator, its earlier records
    # 12-hour time limits
    connected = {
        (r["start"].timestamp() + r["duration_s"] == END, r["cause"]) for r in rows if r["line"][0] == "P"
    }
    assert connected == {(True, management), (False, int(ClosingCause.TIME_LIMIT))}
    # accounting rates them as any record: nothing rejected, their bytes billed
    invoice = json.loads((run.out_dir / "invoice.json").read_text())
    assert invoice["rejects"] == [] and invoice["errors"] == []
    # the run's failed sessions are closing cause 4 only: none here
    assert sum(g.retry_sessions for g in run.groups.values()) == 0
