"""The report counts data sessions, not records: a 30-hour session is 3 records (one per 12-hour
period and its end) and one session, in a file whose records carry no sequence number too; the
records are said beside, under their own label."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from reports.data import connect, find_files
from reports.run_report import record_sums, render_rating_report
from simulator.run import simulate
from simulator.summary import render_summary
from tests.simulator.test_simulator_run import doc, sc_of

INVENTORY = (
    "customer: c\nmonth: 2026-03\nlines:\n"
    "  - {id_prefix: M, count: 2, offer: business-m2m, plan: forfait-2mo, commitment: 24, since: 2025-01-01}\n"
)
# an operator's export in the schema's columns: session ids, no sequence numbers
USAGE = (
    "line,type,start,duration_s,bytes_up,bytes_down,zone,session\n"
    "M1,data,2026-03-02T06:00:00Z,43200,1000,2000,fr,M1-77\n"
    "M1,data,2026-03-02T18:00:00Z,43200,1000,2000,fr,M1-77\n"
    "M1,data,2026-03-03T06:00:00Z,21600,500,500,fr,M1-77\n"
    "M2,data,2026-03-02T06:10:00Z,60,100,100,fr,M2-78\n"
    "M2,data,2026-03-02T07:00:00Z,60,100,100,fr,\n"
)


def test_a_30_hour_session_of_an_export_is_one_session(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "usage.csv").write_text(USAGE, encoding="utf-8")
    con = connect(find_files(tmp_path))
    hourly, _ = record_sums(con)
    per_hour = {h: row[2] for (h, _), row in hourly.cells.items()}  # (one group: no inventory here)
    assert sum(per_hour.values()) == 3  # M1's session, M2's, and a record without a session id
    opened = int(datetime(2026, 3, 2, 6, tzinfo=UTC).timestamp()) // 3600  # M1's and M2's sessions
    assert per_hour[opened] == 2
    page = render_rating_report(tmp_path / "inventory.yaml", tmp_path / "usage.csv")
    row = re.search(r"<tr><td>M</td><td class=\"num\">2</td><td class=\"num\">(\d+)</td>", page)
    assert row is not None and row.group(1) == "3", row  # data sessions read (it said 5)


def test_a_runs_headline_says_sessions_and_records_apart(tmp_path: Path) -> None:
    d = doc(
        devices=2,
        application={
            "profile": "mqtt-qos1",
            "session": "persistent",
            "keepalive": "20min",
            "payload": {"pareto": {"alpha": 2.5, "min": 20, "max": 200}},
        },
    )
    d["period"]["days"] = 1.5  # one connection a device, cut every 12 hours: 3 records each
    r = simulate(sc_of(d), tmp_path / "run")
    summary = json.loads((r.out_dir / "summary.json").read_text())
    assert summary["totals"]["data_sessions"] == 2 and summary["totals"]["data_records"] == 6
    page = (r.out_dir / "report.html").read_text()
    assert 'data-key="summary:totals.data_sessions">2</div><div class="note">6 data records' in page
    text = render_summary(summary)
    header = next(x for x in text.splitlines() if x.startswith("group"))
    assert header.split()[:4] == ["group", "devices", "sessions", "records"]
    fleet = next(x for x in text.splitlines() if x.startswith("fleet"))
    assert fleet.split()[1:4] == ["2", "2", "6"]
