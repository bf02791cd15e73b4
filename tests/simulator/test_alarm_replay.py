"""A run's alarms against the alarm engine fed its usage records one by one, in time order.

The simulator gives the alarm engine a line's bulk data per batch (its records at once, found
crossing the threshold with numpy) and its SMS and calls through the gateway as they happen: the
threshold alarms of `m2msim run` must be those of the same records observed one at a time, in
the order of their times, at any batch size and for lines watched from mid-period.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from accounting.records import USAGE_SCHEMA, Zone
from gateway.alarms import Alarm, Use, UseKind
from m2msim.cli import main as m2msim
from simulator.engine import Shard, fleet
from simulator.scenario import Scenario, parse_scenario

THRESHOLD = {
    "bytes": 30_000,
    "amount": "3",
    "prices": {"per_mo": "50", "per_sms": "0.05", "per_call_s": "0.002"},
}


def scenario_doc(seed: int, outage: bool = False) -> dict[str, Any]:
    """Meters reporting every 15 minutes with an SMS every 6 hours; the E lines' autodiagnostic
    option starts on the period's third day.  `outage`: the server is down for 9 hours across a
    day's end, the devices' failed attempts handed over when it is back."""

    def line(prefix: str, options: list[Any]) -> dict[str, Any]:
        return {
            "id_prefix": prefix,
            "count": 3,
            "offer": "business-m2m",
            "plan": "forfait-2mo",
            "commitment": 24,
            "since": "2025-01-01",
            "options": options,
        }

    def group(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "lines": name.upper(),
            "schedule": {"period": "15min", "jitter": "tr37868-model1"},
            "application": {
                "profile": "mqtt-qos1",
                "payload": {"pareto": {"alpha": 2.5, "min": 20, "max": 400}},
            },
            "sms": [{"kind": "heartbeat", "every": "6h", "dest": "0612000000", "size": 32}],
            "reconnect": {"policy": "exponential", "delay": "30s", "max": "10min", "jitter": 0.5},
            "alarms": {"threshold": THRESHOLD},
        }

    events = {"outages": [{"kind": "server", "start": "2026-03-28T19:00:00Z", "duration": "9h"}]}
    return {
        **({"events": events} if outage else {}),
        "name": "replay",
        "seed": seed,
        "period": {"start": "2026-03-27", "days": 5},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                line("D", ["autogestion", "autodiagnostic"]),
                line("E", ["autogestion", {"id": "autodiagnostic", "since": "2026-03-29"}]),
            ],
        },
        "groups": [group("d"), group("e")],
    }


class Alarms:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def write(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


def replayed(sc: Scenario, usage: Path) -> list[tuple[str, str, str, str]]:
    """The threshold alarms of the run's records observed one by one in time order: a data record's
    bytes and ko at its end, an SMS at its time, a call's seconds at its end."""
    uses = []
    for x in pq.read_table(usage).cast(USAGE_SCHEMA).to_pylist():
        end = x["start"] + timedelta(seconds=x["duration_s"])
        plmn, zone = x["serving_plmn"] or "20801", Zone(x["zone"]) if x["zone"] else Zone.FR
        if x["type"] == "data":
            n = x["bytes_up"] + x["bytes_down"]
            uses.append(Use(end, x["line"], UseKind.DATA, plmn, zone, bytes=n, ko=-(-n // 1024)))
        elif x["type"] == "sms":
            uses.append(Use(x["start"], x["line"], UseKind.SMS, plmn, zone, count=1))
        elif x["type"] == "voice":
            uses.append(Use(end, x["line"], UseKind.VOICE, plmn, zone, seconds=x["duration_s"]))
    uses.sort(key=lambda u: (u.time, u.kind != UseKind.DATA))
    sink = Alarms()
    engine = sc.alarms.engine(sc.autodiagnostic, sink, watched_from=sc.autodiagnostic_from)
    for use in uses:
        engine.observe(use)
    return sorted(
        (a.time.isoformat(), a.line, str(a.details["measure"]), str(a.details["value"]))
        for a in sink.alarms
        if a.rule == "threshold"
    )


def written(path: Path) -> list[tuple[str, str, str, str]]:
    return sorted(
        (a["time"], a["line"], a["details"]["measure"], str(a["details"]["value"]))
        for a in map(json.loads, path.read_text().splitlines())
        if a["rule"] == "threshold"
    )


def test_a_run_raises_the_threshold_alarms_of_its_records_one_by_one(tmp_path: Path) -> None:
    """The SMS of the whole period reached the engine before the bulk data of its first day: the
    amount alarm came hours early, its value counting SMS sent days after it."""
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(scenario_doc(5)))
    out = tmp_path / "run"
    assert m2msim(["run", str(path), "--out", str(out), "--no-invoice"]) == 0
    sc = parse_scenario(scenario_doc(5), str(path))
    got = written(out / "alarms.jsonl")
    assert {(line, measure) for _, line, measure, _ in got} == {
        (f"{p}{k}", m) for p in "DE" for k in (1, 2, 3) for m in ("bytes", "amount")
    }
    assert got == replayed(sc, out / "usage.parquet")


@pytest.mark.parametrize(
    ("flush_sessions", "per_call", "outage"),
    [
        (37, False, False),
        (1000, False, False),
        (1 << 20, True, False),
        (300, False, True),
        (1 << 20, False, True),
    ],
)
def test_batch_edges_and_the_per_session_path_raise_the_same_alarms(
    tmp_path: Path, flush_sessions: int, per_call: bool, outage: bool
) -> None:
    """Batches of 37, 300 or 1000 sessions (a line's records cut anywhere, a flush in the middle of
    a day), every session played through the gateway, a server outage whose failed attempts reach
    the batcher hours after they were made: the alarms of the records one by one."""
    sc = parse_scenario(scenario_doc(8, outage), "replay.yaml")
    out = tmp_path / "shard"
    out.mkdir()  # (a shard writes into its run's folder, made before it)
    shard = Shard(sc, 0, fleet(sc), out, flush_sessions=flush_sessions)
    shard.per_call = per_call
    shard.run()
    got = written(out / "alarms" / "part-00000.jsonl")
    assert len(got) == 12
    assert got == replayed(sc, out / "usage" / "part-00000.parquet")
