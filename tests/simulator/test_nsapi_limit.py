"""A line's 11 NSAPIs (5..15, TS 24.008): the bulk path and the gateway played one by one agree.

A module holds at most 11 PDP contexts at once, and the gateway refuses a twelfth (cause 199).
Each test runs a seeded shard twice, its data sessions in bulk and each played through the
gateway (`Shard.per_call`), and compares what they billed and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from accounting.records import USAGE_SCHEMA, is_retry_charging
from gateway.api import NSAPIS
from simulator.device import Device
from simulator.engine import Shard, fleet
from simulator.profiles import builtin_profiles
from simulator.run import simulate
from simulator.summary import render_summary
from tests.simulator.test_simulator_run import START, doc, sc_of

HELD_COMMANDS = {
    "schedule": {"period": "1d"},
    "application": {"profile": "https-tls13", "payload": {"fixed": 53}},
    "mt_sms": {"sender": "20500", "text": "LOCATE", "rate_per_day": 120},
}
CELL_OUT = {"kind": "area", "start": "2026-03-01T06:00:00Z", "duration": "4h"}


def scenario(**group: Any) -> dict[str, Any]:
    """3 HTTPS reporters sent about 20 commands each while their cell is out for 4 hours."""
    d = doc(devices=3, **{**HELD_COMMANDS, **group})
    d["events"] = {"outages": [CELL_OUT]}
    return d


@dataclass
class Played:
    rows: list[dict[str, Any]]
    records: list[tuple[Any, ...]]  # the rows' values, sorted
    groups: list[dict[str, int]]  # each group's statistics
    counters: dict[str, int]

    @property
    def stats(self) -> dict[str, int]:
        """The first group's statistics (the scenarios here have one group)."""
        return self.groups[0]


def play(d: dict[str, Any], out: Path, per_call: bool) -> Played:
    """The scenario's shard run in `out`: its records, its groups' statistics, the gateway's counters."""
    out.mkdir()
    sc = sc_of(d)
    shard = Shard(sc, 0, fleet(sc), out)
    shard.per_call = per_call
    stats = shard.run()
    rows = pq.read_table(out / "usage" / "part-00000.parquet").cast(USAGE_SCHEMA).to_pylist()
    records = sorted(tuple(r.values()) for r in rows)
    return Played(rows, records, [s.as_dict() for s in stats], dict(shard.network.counters))


SERVER_DOWN = {"kind": "server", "start": "2026-03-01T05:00:00Z", "duration": "6h"}
PERSISTENT = {"profile": "mqtt-qos1", "session": "persistent", "keepalive": "1h", "payload": {"fixed": 53}}


def without_ids(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(v for k, v in r.items() if k not in ("session", "charging_id")) for r in rows)


def most_open_at_once(records: list[dict[str, Any]]) -> int:
    """The most data records of one line open at one instant (each over [start, start + duration))."""
    edges: dict[str, list[tuple[float, int]]] = {}
    for r in records:
        if r["type"] == "data":
            t = r["start"].timestamp()
            edges.setdefault(r["line"], []).extend(((t + r["duration_s"], -1), (t, 1)))
    most = 0
    for line_edges in edges.values():
        n = 0
        for _, step in sorted(line_edges):  # (an end before a start at the same time)
            n += step
            most = max(most, n)
    return most


@pytest.mark.parametrize(
    ("group", "server_down"),
    [
        pytest.param({}, False, id="https-answers"),
        pytest.param({"application": {"profile": "coap", "payload": {"fixed": 53}}}, True, id="coap-failed"),
        pytest.param({}, True, id="https-unreachable"),
        pytest.param({"application": PERSISTENT, "schedule": {"period": "15min"}}, True, id="persistent"),
    ],
)
def test_more_than_11_contexts_due_at_once_agree_in_bulk_and_one_by_one(
    tmp_path: Path, group: dict[str, Any], server_down: bool
) -> None:
    """Commands held while the cell is out (4 h, about 20 a line) are delivered together when it comes
    back, and each answered at once: a report, or in a server outage an attempt that fails.  Eleven
    open then, the others as contexts of the line are released: in bulk as played through the
    gateway one by one, and never a twelfth (the gateway refused none).  The bulk path wrote every
    answer in the cell's second (30 contexts together for one line), where played one by one the
    gateway refused 19 of them (cause 199): the two paths billed different records."""
    d = scenario(**group)
    if server_down:
        outage = dict(SERVER_DOWN, answer="unreachable") if group == {} else SERVER_DOWN
        d["events"]["outages"].append(outage)
    bulk = play(d, tmp_path / "bulk", per_call=False)
    one = play(d, tmp_path / "one", per_call=True)
    if group.get("application") is PERSISTENT:
        # (the charging ids aside: in bulk, a server outage's attempts are numbered when handed, after
        # those answering the commands delivered meanwhile; one by one, in the order they are made)
        assert without_ids(bulk.rows) == without_ids(one.rows)
    else:
        assert bulk.records == one.records
    assert bulk.stats == one.stats
    assert not [k for k in one.counters if k.startswith("session-refused")]
    assert most_open_at_once(bulk.rows) == len(NSAPIS)  # more were due at once: 11 opened


def test_the_nsapis_state_is_11_numbers_and_never_lets_a_twelfth_open(tmp_path: Path) -> None:
    """Seeded batches of sessions handed in the order they are due, with bursts of up to 30 at once:
    each opens at its time if fewer than 11 contexts are open then, else at the first release that
    leaves fewer (after those due before it), so never a twelfth; the state stays 11 numbers."""
    rng = np.random.default_rng(5)
    sc = sc_of(scenario())
    shard = Shard(sc, 0, fleet(sc)[:1], tmp_path)
    shard.close()  # (its files: only the device is used)
    dev = shard.devices[0]
    handed: list[tuple[int, int]] = []  # (open, end) of the contexts that may be open still
    last_open = t = 0
    waits = 0
    for _ in range(250):
        t += int(rng.integers(0, 40))
        n = int(rng.integers(1, 30))
        start = np.sort(t + rng.integers(0, 5, n)).astype(np.int64)
        duration = rng.choice([0, 1, 3, 15, 62], n).astype(np.int64)
        held = dev._hold_nsapis(start, duration)
        opens = start if held is None else held[0]
        for s, o, d in zip(start.tolist(), opens.tolist(), duration.tolist(), strict=True):
            handed = [(a, b) for a, b in handed if b > min(s, last_open)]
            x = max(s, last_open)
            candidates = sorted({x, *(b for _, b in handed if b > x)})
            expected = next(c for c in candidates if sum(1 for a, b in handed if a <= c < b) < len(NSAPIS))
            assert o == expected
            waits += o > s
            handed.append((o, o + d))
            last_open = o
        assert len(dev.nsapis) == len(NSAPIS)
        t = int(start.max())
    assert waits > 50


def test_a_stretch_s_reports_hold_one_nsapi_until_the_last_of_them_ends(tmp_path: Path) -> None:
    """A stretch's reports are handed at its start: the NSAPI they take in turn is the device's
    until the last of them ends, so 11 commands answered together within the stretch open 10 at
    once, the eleventh as the first of them ends (docs/scenarios.md, mt_sms)."""
    sc = sc_of(scenario())
    shard = Shard(sc, 0, fleet(sc)[:1], tmp_path)
    shard.close()
    dev = shard.devices[0]
    reports = np.arange(0, 86_400, 900, dtype=np.int64)
    assert dev._hold_nsapis(reports, np.full(reports.shape, 3, dtype=np.int64)) is None
    held = dev._hold_nsapis(np.full(11, 1000, dtype=np.int64), np.full(11, 3, dtype=np.int64))
    assert held is not None
    assert held[0].tolist() == [1000] * 10 + [1003]


def test_a_connection_the_held_nsapis_keep_out_of_its_stretch_frees_none_of_them(tmp_path: Path) -> None:
    """A persistent connection due while the line's 11 NSAPIs are held past the stretch's end does
    not open in it; the device then gave one of the 11 back as released at the stretch's start, so
    a session due before any of them is released opened as a twelfth context (in bulk; played
    through the gateway, refused with cause 199)."""
    sc = sc_of(scenario(application=PERSISTENT, schedule={"period": "15min"}))
    shard = Shard(sc, 0, fleet(sc)[:1], tmp_path)
    shard.close()
    dev = shard.devices[0]
    dev.attached = True
    dev.nsapis = [5_000] * len(NSAPIS)  # (11 contexts open up to 5,000 s)
    dev.env.process(dev.traffic(0, 900, False))
    dev.env.run(until=900)
    assert dev.context is None and dev.nsapis == [5_000] * len(NSAPIS)
    held = dev._hold_nsapis(np.array([1_000], dtype=np.int64), np.array([10], dtype=np.int64))
    assert held is not None and held[0].tolist() == [5_000]  # (waits for the first release)


def test_sessions_waiting_for_an_nsapi_past_the_period_s_end_are_counted(tmp_path: Path) -> None:
    """Commands held while the cell is out up to ten seconds before the period's end (12 hours,
    about 60 a line) are answered together then: 11 open at once, the others as contexts end, and
    those still waiting at the end are not sent in the period.  They are counted per group
    (`nsapi_waits_past_end`, in summary.json and summary.txt), the same in bulk and played one by
    one; they were counted nowhere, neither as sessions nor as refusals."""
    d = scenario()
    d["events"]["outages"] = [{"kind": "area", "start": "2026-03-01T12:00:00Z", "duration": "43190s"}]
    bulk = play(d, tmp_path / "bulk", per_call=False)
    one = play(d, tmp_path / "one", per_call=True)
    assert bulk.stats == one.stats
    assert bulk.stats["nsapi_waits_past_end"] > 0
    assert not [k for k in one.counters if k.startswith("session-refused")]
    result = simulate(sc_of(d), tmp_path / "run")
    summary = json.loads((result.out_dir / "summary.json").read_text())
    (group,) = summary["groups"]
    assert group["nsapi_waits_past_end"] == summary["totals"]["nsapi_waits_past_end"]
    assert group["nsapi_waits_past_end"] == bulk.stats["nsapi_waits_past_end"]
    said = f"{bulk.stats['nsapi_waits_past_end']:,} sessions not sent (waiting for a free NSAPI"
    assert said in (result.out_dir / "summary.txt").read_text()


@pytest.mark.parametrize("per_call", [False, True], ids=["bulk", "one-by-one"])
def test_a_connection_kept_out_of_its_stretch_by_the_held_nsapis_is_counted(
    tmp_path: Path, per_call: bool
) -> None:
    """A persistent connection the line's 11 NSAPIs, held past the stretch's end, keep out of the
    whole stretch is counted once a stretch it is kept out of (`nsapi_connections_kept_out`, said in
    summary.txt's refusals line), the same whether the sessions go in bulk or one by one; it was
    counted nowhere: neither a session, nor a refusal, nor a wait past the period's end."""
    sc = sc_of(scenario(application=PERSISTENT, schedule={"period": "15min"}))
    shard = Shard(sc, 0, fleet(sc)[:1], tmp_path)
    shard.per_call = per_call
    shard.close()
    dev = shard.devices[0]
    dev.attached = True
    dev.nsapis = [2_000] * len(NSAPIS)  # (11 contexts open up to 2,000 s)

    def stretches() -> Any:
        for t0 in (0, 900, 1_800):
            yield from dev.traffic(t0, t0 + 900, False)

    dev.env.process(stretches())
    dev.env.run(until=1_800)
    stats = dev.stats.as_dict()
    assert stats.get("nsapi_connections_kept_out") == 2  # [0, 900) and [900, 1,800): the 11 held to 2,000
    assert stats["data_sessions"] == stats["nsapi_waits_past_end"] == stats["session_refusals"] == 0
    assert dev.nsapis == [2_000] * len(NSAPIS)  # (none taken)
    totals = {**stats, "records_ko": stats["billable_ko"]}
    summary = {
        "scenario": "s",
        "seed": 1,
        "devices": 1,
        "period": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T00:45:00Z"},
        "shards": 1,
        "totals": totals,
        "retry_storm": {"attempts": 0},
        "alarms": {"total": 0, "by_rule": {}},
        "groups": [],
    }
    refusals = next(x for x in render_summary(summary).splitlines() if x.startswith("refusals"))
    assert refusals.endswith(
        ", 2 persistent connections kept out of a stretch (a free NSAPI only after its end)"
    )
    summary["totals"] = {**totals, "nsapi_connections_kept_out": 0}
    assert "kept out" not in render_summary(summary)  # (a run that never hits the limit prints as before)


def _answers_past_a_decision(
    tmp_path: Path, decision: str, second: int, server: bool = False
) -> dict[bool, list[dict[str, Any]]]:
    """A HTTPS reporter sent 30 commands while its cell was out (06:00-10:00): answered together
    once back (10:00:02), 11 at once, the others as their contexts end; `decision` falls
    `second` s after 10:00:00 (`server`: its server down from 05:00 to 11:00, or to then with
    `decision` "server-end").  Its data records from 10:00 on, in bulk (False) and played one by
    one (True)."""
    d = doc(
        devices=1,
        schedule={"period": "1d", "align": "clock", "jitter": "none"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 120},
    )
    at = START + timedelta(hours=10, seconds=second)
    outages: list[dict[str, Any]] = [CELL_OUT]
    if decision == "move":
        trip = {"share": 1.0, "start": at.isoformat(), "end": (at + timedelta(hours=1)).isoformat()}
        d["groups"][0]["mobility"] = {"trips": [{**trip, "plmn": "26201"}]}
    elif decision == "swap":
        d["groups"][0]["sim_swaps"] = [{"at": at.isoformat(), "share": 1.0}]
    elif decision != "server-end":
        outages.append({"kind": decision, "start": at.isoformat(), "duration": "10min"})
    if server:
        end = at if decision == "server-end" else START + timedelta(hours=11)
        outages.append({"kind": "server", "start": "2026-03-01T05:00:00Z", "end": end.isoformat()})
    d["events"] = {"outages": outages}
    rows = {}
    for per_call in (False, True):
        played = play(d, tmp_path / str(per_call), per_call)
        rows[per_call] = sorted(
            (x for x in played.rows if x["type"] == "data" and x["start"] >= START + timedelta(hours=10)),
            key=lambda x: (x["start"], x["charging_id"], x["sequence"] or 0),
        )
    return rows


def _end(x: dict[str, Any]) -> datetime:
    return x["start"] + timedelta(seconds=x["duration_s"])


REPORT = builtin_profiles()["https-tls13"].report
BACK = START + timedelta(hours=10, seconds=2)  # (the cell back at 10:00, found 2 s later)


@pytest.mark.parametrize(("decision", "second"), [("swap", 4), ("move", 6), ("area", 4), ("server", 4)])
def test_answers_waiting_for_an_nsapi_meet_the_decision_their_wait_reaches(
    tmp_path: Path, decision: str, second: int
) -> None:
    """Answers waiting for a free NSAPI were opened at its release whatever came meanwhile, as
    if the device were still where it was when the commands came: after a SIM swap with the old
    IMEI and cut by the swap's time before they opened (2 s records of 3-s reports); across a
    roaming move uncut and, in bulk, in the old network; in a cell outage that had started (records
    of cause 4 starting in it); and in a server outage as reports the server answered.  They now
    open after the decision, as a report jittered past it: with the new IMEI, in the new network
    (cut at the move when under way), once the cell is back, or as failed attempts in the
    server's outage; the same on both paths."""
    rows = _answers_past_a_decision(tmp_path, decision, second)
    assert rows[False] == rows[True]
    at = START + timedelta(hours=10, seconds=second)
    answers = rows[False]
    first = [x for x in answers if x["start"] == BACK]
    assert len({x["charging_id"] for x in first}) == len(NSAPIS)  # 11 at once, the others waited
    soon = BACK + timedelta(seconds=30)  # (the commands of the day after these come minutes later)
    waited = [x for x in answers if BACK < x["start"] < soon and not is_retry_charging(x["charging_id"])]
    if decision == "swap":
        assert {x["imeisv"] for x in first} != {x["imeisv"] for x in waited}
        assert waited and all(x["start"] >= at and x["duration_s"] == REPORT.duration_s for x in waited)
    elif decision == "move":
        assert all(x["serving_plmn"] == "26201" for x in waited if x["start"] >= at)
        across = [x for x in waited if x["start"] < at]
        assert across and all(_end(x) == at and x["cause"] == 24 for x in across)
        assert all(x["zone"] == "eu" for x in waited if x["start"] > at)
    elif decision == "area":
        back = at + timedelta(minutes=10, seconds=2)
        assert not [x for x in answers if BACK < x["start"] < back]
        assert all(_end(x) == at and x["cause"] == 4 for x in first)
        assert len(
            [x for x in answers if x["start"] >= back and x["start"] < back + timedelta(seconds=30)]
        ) > len(NSAPIS)
    else:
        for x in first:  # ended with the server, with their bytes
            assert (_end(x), x["cause"], x["bytes_up"], x["bytes_down"]) == (at, 0, REPORT.up, REPORT.down)
        assert not [x for x in waited if _end(x) > at]
        # the waiting answers: attempts, 11 at once, the others as these end 15 s later
        attempts = [
            x
            for x in answers
            if x["start"] <= at + timedelta(seconds=15) and is_retry_charging(x["charging_id"])
        ]
        assert min(x["start"] for x in attempts) == at and len(attempts) > len(NSAPIS)


@pytest.mark.parametrize(
    ("decision", "second"), [("swap", 10), ("move", 20), ("area", 10), ("server-end", 10)]
)
def test_attempts_answering_commands_in_a_server_outage_meet_the_decision_their_wait_reaches(
    tmp_path: Path, decision: str, second: int
) -> None:
    """The same commands answered in a server outage, each by a connect that fails (15 s): those
    waiting for an NSAPI were made at its release whatever came meanwhile: with the old IMEI and
    ended at the swap's time counted from the delivery (8-s attempts after it), uncut across the
    move and in the old network in bulk, inside the cell's outage (records of cause 4), and as
    failed attempts after the server was back.  They are now made after the decision (with the
    new IMEI, from the new network, once the cell is back) and, the server back, they are reports
    it answers; the same on both paths."""
    rows = _answers_past_a_decision(tmp_path, decision, second, server=True)
    assert rows[False] == rows[True]
    at = START + timedelta(hours=10, seconds=second)
    first = [x for x in rows[False] if x["start"] == BACK]
    assert len({x["charging_id"] for x in first}) == len(NSAPIS) and all(
        is_retry_charging(x["charging_id"]) for x in first
    )
    waited = [x for x in rows[False] if BACK < x["start"] < BACK + timedelta(seconds=40)]
    if decision == "swap":
        assert {x["imeisv"] for x in first}.isdisjoint({x["imeisv"] for x in waited})
        assert waited and all(x["start"] >= at and x["duration_s"] == 15 for x in waited)
    elif decision == "move":
        assert waited and all(x["serving_plmn"] == "26201" for x in waited if x["start"] >= at)
        across = [x for x in waited if x["start"] < at]
        assert across and all(_end(x) == at and x["cause"] == 24 for x in across)
    elif decision == "area":
        assert waited == [] and all(_end(x) == at and x["cause"] == 4 for x in first)
        back = at + timedelta(minutes=10, seconds=2)
        assert len([x for x in rows[False] if back <= x["start"] < back + timedelta(seconds=30)]) > len(
            NSAPIS
        )
    else:
        assert waited and not [x for x in waited if is_retry_charging(x["charging_id"])]
        for x in waited:  # reports the server answers, opened as the attempts released their NSAPIs
            assert x["start"] >= at and (x["bytes_up"], x["bytes_down"]) == (REPORT.up, REPORT.down)


def test_attempts_answering_commands_in_a_ridden_server_outage_are_not_held_for_another_ones_start(
    tmp_path: Path,
) -> None:
    """A reporter retrying through its server's outage (05:30-11:00) gets 30 commands once its
    cell (out 06:00-10:00) is back: answered by failed connects (15 s), 11 at once, the others as
    their NSAPIs are released.  Those whose wait reached another server outage's start (10:03:15)
    were held for that decision, which the device riding the first outage takes only at its end:
    they were made half an hour later, with the next command delivered.  A failed attempt fails
    in either outage: they are made at the releases, the same on both paths."""
    d = doc(
        devices=1,
        schedule={"period": "1h", "align": "clock", "jitter": "none"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 120},
        reconnect={"policy": "fixed", "delay": "5min"},
        network_search=2,
    )
    d["events"] = {
        "outages": [
            CELL_OUT,
            {"kind": "server", "start": "2026-03-01T05:30:00Z", "end": "2026-03-01T11:00:00Z"},
            {"kind": "server", "start": "2026-03-01T10:03:15Z", "duration": "10min"},
        ]
    }
    bulk, one = (play(d, tmp_path / str(per_call), per_call) for per_call in (False, True))
    assert bulk.records == one.records
    back = min(x["start"] for x in bulk.rows if x["start"] >= START + timedelta(hours=10))
    assert back < START + timedelta(hours=10, minutes=3, seconds=15)  # (the device's retry, found)
    made = [x for x in bulk.rows if back <= x["start"] <= back + timedelta(seconds=30)]
    assert all(is_retry_charging(x["charging_id"]) for x in made)
    # 11 at once, 11 as these end, the rest as those end (none left for the next command)
    batches = [sum(x["start"] == back + timedelta(seconds=s) for x in made) for s in (0, 15, 30)]
    assert batches[:2] == [len(NSAPIS)] * 2 and 0 < batches[2] <= len(NSAPIS)
    assert len(made) == sum(batches)


@pytest.mark.parametrize("swap", [False, True])
def test_an_outage_s_attempts_are_held_for_their_nsapis_only_with_a_decision_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: bool
) -> None:
    """Where an outage's attempt opens after its wait for a free NSAPI (`Device._opens`) matters
    only for a decision it may meet: each attempt stepped through the line's NSAPIs, with none
    ahead, cost a fifth more CPU on a retry storm.  With no decision ahead none is asked; with a
    SIM swap ahead they are, and both paths give the same records either way."""
    d = doc(
        devices=2,
        schedule={"period": "1h"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        reconnect={"policy": "fixed", "delay": "30s"},
    )
    d["events"] = {"outages": [SERVER_DOWN]}
    if swap:
        d["groups"][0]["sim_swaps"] = [{"at": "2026-03-01T09:00:00Z", "share": 1.0}]
    asked: list[int] = []
    opens = Device._opens

    def counted(self: Device, failed: list[int], busy: float) -> list[int]:
        asked.append(len(failed))
        return opens(self, failed, busy)

    monkeypatch.setattr(Device, "_opens", counted)
    bulk = play(d, tmp_path / "bulk", per_call=False)
    one = play(d, tmp_path / "one", per_call=True)
    assert bulk.records == one.records
    assert bulk.stats["retry_attempts"] > 100
    assert bool(asked) == swap


def test_attempts_not_asked_for_are_stepped_through_when_one_is(tmp_path: Path) -> None:
    """An outage's attempts `_attempt_cut` did not ask `_opens` about (no decision ahead) open,
    once one is asked about, where they would have opened asked one after another: each as an
    NSAPI of the line is released, the line's state left as it was."""
    sc = sc_of(scenario())
    shard = Shard(sc, 0, fleet(sc)[:1], tmp_path)
    shard.close()
    dev = shard.devices[0]
    dev.nsapis = sorted([100 + 7 * i for i in range(len(NSAPIS))])  # all held, released in turn
    state = list(dev.nsapis)
    made = [20 + 4 * i for i in range(40)]
    failed: list[int] = []
    stepped = []
    for t in made:
        failed.append(t)
        stepped = dev._opens(failed, 15.0)
    assert dev.nsapis == state and stepped[:3] == [100, 107, 114] and stepped[-1] > made[-1]
    for asked in ([3, 25, 40], [1, 40], [12, 13, 30, 40]):
        dev._opens_of = None
        failed = []
        for n, t in enumerate(made, 1):
            failed.append(t)
            if n in asked:
                opens = dev._opens(failed, 15.0)
        assert opens == stepped and dev.nsapis == state


@pytest.mark.parametrize(
    ("decision", "records"),
    [  # each record of the report: its seconds, its share of the bytes (thirds), its cause
        pytest.param("move", [(1, 1, 24), (2, 2, 0)], id="move"),  # cut, going on in the new network
        pytest.param("swap", [(1, 3, 0)], id="swap"),  # ended at the swap with its bytes
        pytest.param("area", [(1, 1, 4)], id="area"),  # lost with the cell: the bytes of its second
        pytest.param("server", [(1, 3, 0)], id="server"),  # ended with the server, with its bytes
    ],
)
def test_a_report_its_wait_pushes_across_a_decision_meets_it_on_both_paths(
    tmp_path: Path, decision: str, records: list[tuple[int, int, int]]
) -> None:
    """An hourly HTTPS reporter whose cell was out from 06:00:01 to 06:59:58, sent about 16
    commands meanwhile: back at 07:00:00, it answers 11 at once, and its 07:00 report waits for
    an NSAPI with the other answers until 07:00:03, going on across `decision` at 07:00:04.  In
    bulk it was billed whole (3 s) in the old network with the old device; played one by one the
    gateway cut it at a move, all its bytes after it, and the swap's attach closed it with none.
    It now meets the decision as a stretch's report going on across it does, on both paths."""
    d = doc(
        devices=1,
        schedule={"period": "1h", "align": "clock", "jitter": "none"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 400},
    )
    at = START + timedelta(hours=7, seconds=4)
    outages: list[dict[str, Any]] = [
        {"kind": "area", "start": "2026-03-01T06:00:01Z", "end": "2026-03-01T06:59:58Z"}
    ]
    if decision == "move":
        trip = {"share": 1.0, "start": at.isoformat(), "end": (at + timedelta(hours=1)).isoformat()}
        d["groups"][0]["mobility"] = {"trips": [{**trip, "plmn": "26201"}]}
    elif decision == "swap":
        d["groups"][0]["sim_swaps"] = [{"at": at.isoformat(), "share": 1.0}]
    else:
        outages.append({"kind": decision, "start": at.isoformat(), "duration": "10min"})
    d["events"] = {"outages": outages}
    played = {per_call: play(d, tmp_path / str(per_call), per_call) for per_call in (False, True)}
    assert played[False].records == played[True].records
    assert played[False].groups == played[True].groups
    pushed = START + timedelta(hours=7, seconds=3)
    rows = [x for x in played[False].rows if x["type"] == "data" and x["start"] == pushed]
    report = max({x["charging_id"] for x in rows})  # (the stretch's report: after the answers' ids)
    parts = sorted(
        (x for x in played[False].rows if x["charging_id"] == report and x["type"] == "data"),
        key=lambda x: x["sequence"],
    )
    assert [(x["duration_s"], x["bytes_up"], x["cause"]) for x in parts] == [
        (seconds, REPORT.up * thirds // 3, cause) for seconds, thirds, cause in records
    ]
    assert parts[0]["start"] == pushed and parts[0]["serving_plmn"] == "20801"
    assert [x["serving_plmn"] for x in parts[1:]] == ["26201"] * (len(parts) - 1)


@pytest.mark.parametrize(
    ("move_s", "decision", "record"),
    [  # the report's record: its seconds, its share of the bytes (thirds), its cause
        pytest.param(3, "swap", (2, 3, 0), id="opening-at-a-move-then-a-swap"),
        pytest.param(3, "area", (2, 2, 4), id="opening-at-a-move-then-the-cell-lost"),
        pytest.param(3, "server", (2, 3, 0), id="opening-at-a-move-then-the-server-down"),
        pytest.param(2, "swap", (2, 3, 0), id="pushed-past-its-move-then-a-swap"),
        pytest.param(2, "area", (2, 2, 4), id="pushed-past-its-move-then-the-cell-lost"),
    ],
)
def test_a_report_its_wait_pushes_past_a_move_meets_the_decision_after_it(
    tmp_path: Path, move_s: int, decision: str, record: tuple[int, int, int]
) -> None:
    """As above, the 07:00 report's wait for an NSAPI ends at 07:00:03, but past a roaming move
    (at 07:00:03, or at 07:00:02 inside the report as it was due), and it goes on across a SIM swap
    or an outage's start at 07:00:05.  It was played with the cuts of its time before the wait, so
    not ended there: the swap's attach closed it with none of its bytes, and across the cell's
    loss or the server's outage it was billed whole (3 s, cause 0), on both paths."""
    d = doc(
        devices=1,
        schedule={"period": "1h", "align": "clock", "jitter": "none"},
        application={"profile": "https-tls13", "payload": {"fixed": 53}},
        mt_sms={"sender": "20500", "text": "LOCATE", "rate_per_day": 400},
    )
    move, at = START + timedelta(hours=7, seconds=move_s), START + timedelta(hours=7, seconds=5)
    trip = {"share": 1.0, "start": move.isoformat(), "end": (move + timedelta(hours=1)).isoformat()}
    d["groups"][0]["mobility"] = {"trips": [{**trip, "plmn": "26201"}]}
    outages: list[dict[str, Any]] = [
        {"kind": "area", "start": "2026-03-01T06:00:01Z", "end": "2026-03-01T06:59:58Z"}
    ]
    if decision == "swap":
        d["groups"][0]["sim_swaps"] = [{"at": at.isoformat(), "share": 1.0}]
    else:
        outages.append({"kind": decision, "start": at.isoformat(), "duration": "10min"})
    d["events"] = {"outages": outages}
    played = {per_call: play(d, tmp_path / str(per_call), per_call) for per_call in (False, True)}
    assert played[False].records == played[True].records
    pushed = START + timedelta(hours=7, seconds=3)
    rows = [x for x in played[False].rows if x["type"] == "data" and x["start"] == pushed]
    report = min(x["charging_id"] for x in rows)  # (the stretch's report: before the answers waiting with it)
    parts = [
        (x["duration_s"], x["bytes_up"], x["cause"], x["serving_plmn"])
        for x in rows
        if x["charging_id"] == report
    ]
    seconds, thirds, cause = record
    assert parts == [(seconds, REPORT.up * thirds // 3, cause, "26201")]
