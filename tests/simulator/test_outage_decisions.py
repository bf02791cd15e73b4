"""What falls inside an outage: a roaming trip's start or end, a SIM swap, a move during an attempt.

A device riding out an outage with its reconnection policy still travels and still changes
device: each such decision takes effect at its own time, and the attempts after it are made from
the new network or with the new device (as a move or a swap outside an outage would give).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from accounting.records import USAGE_SCHEMA, ClosingCause, is_retry_charging
from simulator.run import RunResult, simulate
from simulator.scenario import parse_scenario
from tests.simulator.test_nsapi_limit import play

TRACKERS = 2
TRIP_START = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
TRIP_END = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def doc(outage: tuple[str, str], reconnect: dict[str, Any], **group: Any) -> dict[str, Any]:
    """CoAP trackers for a day, all on a trip to Germany from 10:00 to 20:00, and a server outage."""
    g: dict[str, Any] = {
        "name": "trackers",
        "lines": "TRK",
        "schedule": {"period": "1h", "jitter": "uniform", "jitter_s": "5min"},
        "application": {"profile": "coap", "payload": {"fixed": 48}},
        "mobility": {
            "trips": [
                {"share": 1.0, "start": TRIP_START.isoformat(), "end": TRIP_END.isoformat(), "plmn": "26201"}
            ]
        },
        "reconnect": reconnect,
        "alarms": {"geography": {"countries": ["FR"]}, "imei_change": True},
    }
    g.update(group)
    return {
        "name": "outage-decisions",
        "seed": 7,
        "period": {"start": "2026-03-10", "days": 1},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "TRK",
                    "count": TRACKERS,
                    "offer": "europe",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-06-01",
                    "options": ["autogestion", "autodiagnostic"],
                }
            ],
        },
        "network": {"default_apn": "orange.m2m.spec"},
        "groups": [g],
        "events": {"outages": [{"kind": "server", "start": outage[0], "end": outage[1]}]},
    }


BACKOFF = {"policy": "exponential", "delay": "30s", "max": "30min", "jitter": 0.5}


def run(tmp: Path, d: dict[str, Any]) -> tuple[RunResult, list[dict[str, Any]]]:
    result = simulate(parse_scenario(d, "outage.yaml"), tmp / "run", invoice=False)
    return result, pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA).to_pylist()


def alarms(result: RunResult) -> list[dict[str, Any]]:
    text = (result.out_dir / "alarms.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_a_trip_that_starts_in_an_outage_moves_the_device_at_its_time(tmp_path: Path) -> None:
    """The retries made in Germany were recorded in France (zone fr, serving network 20801), and
    the device moved only when the outage ended: its SMS were rated at home, its geography alarm late."""
    d = doc(
        ("2026-03-10T09:00:00Z", "2026-03-10T11:00:00Z"),
        BACKOFF,
        sms=[{"kind": "heartbeat", "every": "10min", "dest": "0612345678", "size": 20}],
    )
    result, rows = run(tmp_path, d)
    retries = [r for r in rows if r["type"] == "data" and is_retry_charging(r["charging_id"])]
    before = [r for r in retries if r["start"] < TRIP_START]
    after = [r for r in retries if r["start"] >= TRIP_START]
    assert before and after
    assert {(r["zone"], r["serving_plmn"]) for r in before} == {("fr", "20801")}
    assert {(r["zone"], r["serving_plmn"]) for r in after} == {("eu", "26201")}
    sms = [r for r in rows if r["type"] == "sms" and TRIP_START <= r["start"] < TRIP_END]
    assert sms and {r["zone"] for r in sms} == {"eu"}
    geo = [a for a in alarms(result) if a["rule"] == "geography"]
    assert len(geo) == TRACKERS
    assert {datetime.fromisoformat(a["time"]) for a in geo} == {TRIP_START}


def test_a_trip_that_ends_in_an_outage_brings_the_device_home_at_its_time(tmp_path: Path) -> None:
    """An outage that starts during a trip is ridden out abroad; the trip's end in it brings the
    device home then, not when the outage ends."""
    _, rows = run(tmp_path, doc(("2026-03-10T19:00:00Z", "2026-03-10T21:00:00Z"), BACKOFF))
    retries = [r for r in rows if r["type"] == "data" and is_retry_charging(r["charging_id"])]
    abroad = [r for r in retries if r["start"] < TRIP_END]
    home = [r for r in retries if r["start"] >= TRIP_END]
    assert abroad and home
    assert {(r["zone"], r["serving_plmn"]) for r in abroad} == {("eu", "26201")}
    assert {(r["zone"], r["serving_plmn"]) for r in home} == {("fr", "20801")}


def test_a_sim_swap_in_an_outage_changes_the_imei_at_its_time(tmp_path: Path) -> None:
    swap = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    d = doc(
        ("2026-03-10T09:00:00Z", "2026-03-10T11:00:00Z"),
        BACKOFF,
        sim_swaps=[{"at": swap.isoformat(), "share": 1.0}],
    )
    result, rows = run(tmp_path, d)
    assert result.groups["trackers"].sim_swaps == TRACKERS  # once each, not again at the outage's end
    for line in {r["line"] for r in rows}:
        retries = [r for r in rows if r["line"] == line and is_retry_charging(r["charging_id"])]
        old = {r["imeisv"] for r in retries if r["start"] < swap}
        new = {r["imeisv"] for r in retries if r["start"] >= swap}
        assert len(old) == len(new) == 1 and old != new
    changes = [a for a in alarms(result) if a["rule"] == "imei-change"]
    assert len(changes) == TRACKERS
    assert {datetime.fromisoformat(a["time"]) for a in changes} == {swap}


def test_an_attempt_a_move_falls_into_is_cut_at_the_move(tmp_path: Path) -> None:
    """A device retrying at once is always in an attempt (62 s for CoAP): the one going on when the
    trip starts is cut there (cause 24) and goes on in Germany, as a report a move falls into."""
    _, rows = run(tmp_path, doc(("2026-03-10T09:00:00Z", "2026-03-10T11:00:00Z"), {"policy": "immediate"}))
    cut = [r for r in rows if r["cause"] == int(ClosingCause.PLMN_CHANGE)]
    assert len(cut) == TRACKERS
    for first in cut:
        assert is_retry_charging(first["charging_id"])
        assert first["start"].timestamp() + first["duration_s"] == TRIP_START.timestamp()
        assert (first["zone"], first["serving_plmn"]) == ("fr", "20801")
        rest = next(r for r in rows if r["session"] == first["session"] and r["sequence"] == 2)
        assert rest["start"] == TRIP_START and rest["cause"] == int(ClosingCause.NORMAL)  # released
        assert (rest["zone"], rest["serving_plmn"]) == ("fr", "26201")  # the zone where it was opened
        assert first["duration_s"] + rest["duration_s"] == 62
        assert first["bytes_up"] + rest["bytes_up"] + first["bytes_down"] + rest["bytes_down"] == 450


def test_a_cell_outage_inside_a_server_outage_takes_the_device_off_the_air(tmp_path: Path) -> None:
    """The cell gone from 10:00 to 12:00 in a server outage from 09:00 to 13:00: the device went on
    retrying the server (failed data sessions) and sending its SMS as if the cell were there, and
    made no attempt without coverage.  It is off the air until the cell returns, then retries the
    server until it answers."""
    d = doc(
        ("2026-03-10T09:00:00Z", "2026-03-10T13:00:00Z"),
        BACKOFF,
        sms=[{"kind": "heartbeat", "every": "10min", "dest": "0612345678", "size": 20}],
    )
    del d["groups"][0]["mobility"]
    d["events"]["outages"].append(
        {"kind": "area", "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T12:00:00Z"}
    )
    result, rows = run(tmp_path, d)
    st = result.groups["trackers"]
    cell_out, cell_back = datetime(2026, 3, 10, 10, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert not [r for r in rows if cell_out <= r["start"] < cell_back]
    assert st.no_coverage_attempts >= TRACKERS and st.sms_refused >= TRACKERS * 11
    retries = [r for r in rows if r["type"] == "data" and is_retry_charging(r["charging_id"])]
    for line in {r["line"] for r in rows}:
        assert any(r["line"] == line and r["start"] < cell_out for r in retries)
        assert any(r["line"] == line and r["start"] >= cell_back for r in retries)
    assert st.reconnections == 2 * TRACKERS


def test_a_cell_outage_with_no_report_due_in_it_still_takes_the_device_off_the_air(tmp_path: Path) -> None:
    """A daily reporter under a 2-hour cell outage: with no report due in it, the device was left on
    the air, and its SMS went through (and were billed) while its cell was gone."""
    d = doc(
        ("2026-03-10T10:00:00Z", "2026-03-10T12:00:00Z"),
        BACKOFF,
        schedule={"period": "1d"},
        sms=[{"kind": "heartbeat", "every": "10min", "dest": "0612345678", "size": 20}],
    )
    del d["groups"][0]["mobility"]
    d["events"]["outages"][0]["kind"] = "area"
    result, rows = run(tmp_path, d)
    st = result.groups["trackers"]
    cell_out, cell_back = datetime(2026, 3, 10, 10, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert not [r for r in rows if cell_out <= r["start"] < cell_back]
    assert st.sms_refused == TRACKERS * 12
    assert st.sms_sent == TRACKERS * (144 - 12)


@pytest.mark.parametrize(
    ("first", "second", "group"),
    [
        # the cell back at 10:00 and gone again at 10:00:10, before the device's next try (backing off)
        pytest.param(("09:00", "10:00"), ("10:00:10", "10:30"), {}, id="before-the-next-try"),
        # a daily reporter (no try in the first) under two overlapping outages of its cell
        pytest.param(
            ("10:00", "12:00"), ("11:00", "13:00"), {"schedule": {"period": "1d"}}, id="overlapping"
        ),
        # gone again at the very second the module would have found it (its 60-s search) and registered
        pytest.param(
            ("09:00", "10:00"),
            ("10:01", "10:30"),
            {"schedule": {"period": "1d"}, "network_search": "60s"},
            id="at-the-registration",
        ),
    ],
)
def test_a_cell_gone_again_before_the_device_registers_keeps_it_off_the_air(
    tmp_path: Path, first: tuple[str, str], second: tuple[str, str], group: dict[str, Any]
) -> None:
    """Two outages of the cell, the second starting before the device registered after the first:
    it registered at its next try all the same, the cell gone, and answered the commands held
    meanwhile: data sessions opened and billed with no cell.  It now rides out the second too."""
    day = "2026-03-10T"
    d = doc(
        (f"{day}{first[0]}Z", f"{day}{first[1]}Z"),
        BACKOFF,
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 500},
        **group,
    )
    del d["groups"][0]["mobility"]
    d["events"]["outages"][0]["kind"] = "area"
    d["events"]["outages"].append(
        {"kind": "area", "start": f"{day}{second[0]}Z", "end": f"{day}{second[1]}Z"}
    )
    result, rows = run(tmp_path, d)
    cell_out = datetime.fromisoformat(f"{day}{first[0]}Z")
    cell_back = datetime.fromisoformat(f"{day}{second[1]}Z")
    assert not [r for r in rows if cell_out <= r["start"] < cell_back]
    answers = [r for r in rows if r["type"] == "data" and r["start"] >= cell_back]
    assert {r["line"] for r in answers} == {f"TRK{k}" for k in range(1, TRACKERS + 1)}
    assert result.groups["trackers"].mt_sms_delivered == result.groups["trackers"].mt_sms_submitted


def test_a_report_missed_in_a_cell_outage_fails_in_the_server_outage_that_follows(tmp_path: Path) -> None:
    """The cell back at 10:00 as the server goes down: each device's missed report, due at once,
    vanished, and the device waited for its next scheduled report to try the server.  It tries at
    once (its return, within the recovery spread of 10 s) and fails, then retries."""
    d = doc(("2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z"), {"policy": "immediate"})
    del d["groups"][0]["mobility"]
    d["events"]["outages"][0]["kind"] = "area"
    d["events"]["outages"].append(
        {"kind": "server", "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z"}
    )
    _, rows = run(tmp_path, d)
    back = datetime(2026, 3, 10, 10, tzinfo=UTC).timestamp()
    for line in {r["line"] for r in rows}:
        retries = [
            r["start"].timestamp()
            for r in rows
            if r["line"] == line and is_retry_charging(r["charging_id"]) and r["start"].timestamp() >= back
        ]
        assert retries and back <= min(retries) <= back + 10


def test_an_attempt_in_progress_at_the_periods_end_is_cut_there(tmp_path: Path) -> None:
    """A server outage to the period's end (the month's last day): the reconnection attempt made in
    its last seconds lasted its whole failed-attempt time past the end, a record ending in April,
    where a report session is cut at the end. Every record now ends within the period."""
    d = doc(("2026-03-31T20:00:00+00:00", "2026-04-01T00:00:00+00:00"), {"policy": "immediate"}, mobility={})
    d["period"] = {"start": "2026-03-31", "days": 1}
    _, records = run(tmp_path, d)
    end = datetime(2026, 4, 1, tzinfo=UTC)
    retries = [r for r in records if is_retry_charging(r["charging_id"])]
    assert retries and all(r["start"] < end for r in retries)
    assert max(r["start"].timestamp() + r["duration_s"] for r in records) <= end.timestamp()
    # the attempt cut at the end has not failed by then: not released, its record closed by the
    # operator (cause 20; it said 4, abnormal release); those that ended before it failed and were
    # released by the device (0)
    at_end = [r for r in retries if r["start"].timestamp() + r["duration_s"] == end.timestamp()]
    assert at_end and {r["cause"] for r in at_end} == {int(ClosingCause.MANAGEMENT_INTERVENTION)}
    before = [r for r in retries if r not in at_end]
    assert before and {r["cause"] for r in before} == {int(ClosingCause.NORMAL)}


def test_a_report_due_in_the_search_is_held_when_the_cell_goes_again_before_registration(
    tmp_path: Path,
) -> None:
    """Hourly reports on the hour; the cell out 10:59:00-10:59:30 (no report due in it), the module's
    search for it 5 min, and the cell out again 11:02-11:10 before it registered.  The 11:00 report,
    due in the search, was dropped: the device counted its next report from the second outage's start
    (12:00), as if none were held, and sent nothing between.  A module holds a report whose timer
    fires while it searches: it tries in the second outage (no coverage) and sends it once back."""
    day = "2026-03-10T"
    d = doc(
        (f"{day}10:59:00Z", f"{day}10:59:30Z"),
        BACKOFF,
        schedule={"period": "1h", "align": "clock"},
        network_search="5min",
    )
    del d["groups"][0]["mobility"]
    d["events"]["outages"][0]["kind"] = "area"
    d["events"]["outages"].append({"kind": "area", "start": f"{day}11:02:00Z", "end": f"{day}11:10:00Z"})
    result, rows = run(tmp_path, d)
    back, next_report = datetime(2026, 3, 10, 11, 10, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert not [r for r in rows if datetime(2026, 3, 10, 10, 59, tzinfo=UTC) <= r["start"] < back]
    held = [r for r in rows if r["type"] == "data" and back <= r["start"] < next_report]
    assert sorted(r["line"] for r in held) == [f"TRK{k}" for k in range(1, TRACKERS + 1)]
    assert result.groups["trackers"].no_coverage_attempts >= TRACKERS
    bulk, one = play(d, tmp_path / "bulk", per_call=False), play(d, tmp_path / "one", per_call=True)
    assert bulk.records == one.records
    assert bulk.stats == one.stats
