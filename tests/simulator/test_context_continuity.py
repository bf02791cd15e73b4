"""A persistent context across what does not end it: a roaming trip and a daylight-saving change.

A core network cuts a partial record when the serving network or the MS Time Zone changes
(TS 32.298 causes 24 and 23) and the context, with its TCP connection, goes on: the
connection's set-up is carried once, not again after each change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from accounting.records import USAGE_SCHEMA, ClosingCause
from gateway.capture import records_from_pcap
from gateway.wire import HEADER, SYN
from reports.data import connect, find_files
from reports.run_report import hourly_usage
from simulator.profiles import builtin_profiles
from simulator.run import simulate
from simulator.scenario import parse_scenario

METERS = 3
PAYLOAD = 96
DST = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # France's clocks go forward: 01:00 UTC


def scenario(trip: bool) -> dict[str, Any]:
    meters: dict[str, Any] = {
        "name": "meters",
        "lines": "MTR",
        "schedule": {"period": "15min"},  # no jitter: gaps of 15 min, under the keep-alive: no ping
        "application": {
            "profile": "mqtt-qos1",
            "session": "persistent",
            "keepalive": "1h",
            "payload": {"fixed": PAYLOAD},
        },
    }
    if trip:
        meters["mobility"] = {
            "trips": [
                {
                    "share": 1.0,
                    "start": "2026-03-28T10:00:00Z",
                    "end": "2026-03-28T20:00:00Z",
                    "plmn": "26201",
                }
            ]
        }
    return {
        "name": "continuity",
        "seed": 11,
        "period": {"start": "2026-03-28", "days": 2},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "MTR",
                    "count": METERS,
                    "offer": "europe",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                }
                | {"since": "2025-01-01"}
            ],
        },
        "network": {"default_apn": "orange.m2m.spec"},
        "groups": [meters],
    }


def records(tmp: Path, trip: bool) -> list[dict[str, Any]]:
    result = simulate(parse_scenario(scenario(trip), "continuity.yaml"), tmp / f"trip-{trip}", invoice=False)
    table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
    return [r for r in table.to_pylist() if r["type"] == "data"]


def test_daylight_saving_cuts_a_partial_record_and_the_context_goes_on(tmp_path: Path) -> None:
    rows = records(tmp_path, trip=False)
    by_line: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_line.setdefault(r["line"], []).append(r)
    assert len(by_line) == METERS
    for line_rows in by_line.values():
        assert len({r["session"] for r in line_rows}) == 1  # one context for the two days
        tz = [r for r in line_rows if r["cause"] == int(ClosingCause.MS_TIME_ZONE_CHANGE)]
        assert len(tz) == 1
        end = tz[0]["start"].timestamp() + tz[0]["duration_s"]
        assert end == DST.timestamp()
        nxt = next(r for r in line_rows if r["sequence"] == tz[0]["sequence"] + 1)
        assert nxt["start"].timestamp() == DST.timestamp()


def test_the_connection_is_set_up_once_per_context_whatever_the_moves(tmp_path: Path) -> None:
    prof = builtin_profiles()["mqtt-qos1"]
    assert prof.connect is not None
    publish_up = int(prof.publish_bytes(np.array([PAYLOAD], dtype=np.int64))[0][0])
    assert prof.connect.up % publish_up != 0  # else the check below could not tell
    for trip in (False, True):
        rows = records(tmp_path, trip)
        if trip:
            assert sum(r["cause"] == int(ClosingCause.PLMN_CHANGE) for r in rows) == 2 * METERS
        for line in {r["line"] for r in rows}:
            up = sum(r["bytes_up"] for r in rows if r["line"] == line)
            # one connection set-up, then publishes only (no ping: reports come before the keep-alive)
            assert (up - prof.connect.up) % publish_up == 0, (trip, line, up)


def test_a_persistent_context_on_a_trip_stays_in_the_zone_where_it_was_opened(tmp_path: Path) -> None:
    """A connection opened in France goes on across a trip to Germany: its records there (cause 24 at
    each move, `serving_plmn` 26201) are rated in `fr`, where the session was opened.  The report's
    roaming share is where the bytes were carried: the volume carried in Germany, the run's sums and
    the page's SQL alike."""
    result = simulate(
        parse_scenario(scenario(trip=True), "continuity.yaml"), tmp_path / "trip", invoice=False
    )
    table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
    rows = [r for r in table.to_pylist() if r["type"] == "data"]
    assert sum(r["cause"] == int(ClosingCause.PLMN_CHANGE) for r in rows) == 2 * METERS
    abroad = [r for r in rows if r["serving_plmn"] == "26201"]
    assert abroad and len({r["session"] for r in rows}) == METERS  # one context per meter
    assert {r["zone"] for r in rows} == {"fr"}
    carried_abroad = sum(r["bytes_up"] + r["bytes_down"] for r in abroad)
    assert result.hourly is not None
    assert sum(values[7] for values in result.hourly.cells.values()) == carried_abroad
    con = connect(find_files(result.out_dir))
    try:
        assert hourly_usage(con) == result.hourly
    finally:
        con.close()


def test_a_short_session_a_move_falls_into_is_cut_at_the_move_and_goes_on(tmp_path: Path) -> None:
    doc = scenario(trip=False)
    doc["groups"] = [
        {
            "name": "trackers",
            "lines": "MTR",
            "schedule": {"period": "15min", "align": "clock"},  # reports at 10:00:00 sharp, 3 s long
            "application": {"profile": "https-tls13", "payload": {"fixed": PAYLOAD}},
            # the trip starts and ends one second into a report
            "mobility": {
                "trips": [
                    {
                        "share": 1.0,
                        "start": "2026-03-28T10:00:01Z",
                        "end": "2026-03-28T20:00:01Z",
                        "plmn": "26201",
                    }
                ]
            },
        }
    ]
    result = simulate(parse_scenario(doc, "across.yaml"), tmp_path / "across", capture=True, invoice=False)
    table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
    rows = [r for r in table.to_pylist() if r["type"] == "data"]
    plain = [r for r in rows if r["cause"] != int(ClosingCause.PLMN_CHANGE)]
    out_at = datetime(2026, 3, 28, 10, 0, 1, tzinfo=UTC).timestamp()
    back_at = datetime(2026, 3, 28, 20, 0, 1, tzinfo=UTC).timestamp()
    # each session in the zone where it was opened: in France going out, in Germany coming back
    for when, zones in ((out_at, ("fr", "fr")), (back_at, ("eu", "eu"))):
        cut = [
            r
            for r in rows
            if r["cause"] == int(ClosingCause.PLMN_CHANGE) and r["start"].timestamp() == when - 1
        ]
        assert len(cut) == METERS
        for first in cut:
            assert first["duration_s"] == 1 and first["zone"] == zones[0]
            rest = next(r for r in plain if r["session"] == first["session"] and r["sequence"] == 2)
            assert rest["start"].timestamp() == when and rest["duration_s"] == 2 and rest["zone"] == zones[1]
            whole = next(r for r in plain if r["line"] == first["line"] and r["sequence"] == 1)
            assert first["bytes_up"] + rest["bytes_up"] == whole["bytes_up"]  # every report the same size
            assert first["bytes_up"] == whole["bytes_up"] // 3  # one second of three
    # the capture tells the same: Update PDP Context and Interim at the move, records rebuilt alike
    fields = ("session", "sequence", "start", "duration_s", "bytes_up", "bytes_down", "zone", "cause")
    rebuilt = [r.as_row() for r in records_from_pcap(result.out_dir / "capture" / "part-00000.pcap")]
    assert sorted(tuple(r[f] for f in fields) for r in rebuilt) == sorted(
        tuple(r[f] for f in fields) for r in rows
    )


def test_a_scanned_report_cut_by_a_move_carries_whole_probes_in_each_record(tmp_path: Path) -> None:
    """A report on a public APN that a roaming move falls into: the gateway cuts its record at the
    move, and each record carries the probes that arrived in its span, whole (a SYN down, the reset
    up), as it scans any context (`gateway.scans`).  The session's one count was shared by time
    between its two records: a third of the probes' bytes in the first (fractions of a SYN)."""
    runs: dict[float, list[tuple[Any, ...]]] = {}
    for rate in (0.0, 20_000.0):
        doc = scenario(trip=False)
        doc["inventory"]["lines"][0]["offer"] = "business-m2m"  # (whose lines may use the public APN)
        doc["network"] = {
            "default_apn": "internet-entreprise",
            "apns": {"internet-entreprise": {"scan_per_hour": rate}},
        }
        doc["groups"] = [
            {
                "name": "trackers",
                "lines": "MTR",
                "apn": "internet-entreprise",
                "schedule": {"period": "15min", "align": "clock"},  # reports at 10:00:00 sharp, 3 s long
                "application": {"profile": "https-tls13", "payload": {"fixed": PAYLOAD}},
                "mobility": {  # the trip starts one second into a report
                    "trips": [
                        {
                            "share": 1.0,
                            "start": "2026-03-28T10:00:01Z",
                            "end": "2026-03-28T20:00:01Z",
                            "plmn": "26201",
                        }
                    ]
                },
            }
        ]
        result = simulate(parse_scenario(doc, "scanned.yaml"), tmp_path / f"rate-{rate}", invoice=False)
        table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
        runs[rate] = sorted(
            (
                r["line"],
                r["session"],
                r["sequence"],
                r["duration_s"],
                r["bytes_up"],
                r["bytes_down"],
                r["cause"],
            )
            for r in table.to_pylist()
            if r["type"] == "data"
        )
    quiet, scanned = runs[0.0], runs[20_000.0]
    assert [r[:4] for r in quiet] == [r[:4] for r in scanned]
    cut = [i for i, r in enumerate(quiet) if r[6] == int(ClosingCause.PLMN_CHANGE) and r[3] == 1]
    assert len(cut) >= METERS  # (the reports the move falls into, one a line)
    probes = [
        (scanned[i][4] - quiet[i][4], scanned[i][5] - quiet[i][5]) for i in (*cut, *(i + 1 for i in cut))
    ]
    assert all(down > 0 for _, down in probes)  # (probes in each record at this rate)
    assert all(down % SYN == 0 and up == down // SYN * HEADER for up, down in probes), probes
