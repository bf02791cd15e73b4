"""Seeded differential fuzz: the bulk path and the sessions played one by one give the same records.

Each seed draws a small scenario (one to three devices for a few hours: a profile, a session mode,
a report schedule, commands by SMS, outages of every kind, trips, a SIM swap, scans on a public
APN) and runs its shard twice, its data sessions in bulk and each played through the gateway
(`Shard.per_call`): the records and the group's statistics must be the same.

The suite runs `M2MSIM_DIFF_SEEDS` seeds (default 6) from `M2MSIM_DIFF_FIRST` (default 0); a
longer search sets more, e.g. `M2MSIM_DIFF_SEEDS=400`.  A seed that found a disagreement is kept
in `REGRESSIONS` once fixed.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.test_nsapi_limit import play
from tests.simulator.test_simulator_run import START, doc

SEEDS = int(os.environ.get("M2MSIM_DIFF_SEEDS", "6"))
FIRST = int(os.environ.get("M2MSIM_DIFF_FIRST", "0"))
# seeds that found a disagreement, run by the suite whatever the count
REGRESSIONS = [
    116,  # overlapping server outages: at one's end the attempts it held were handed twice in bulk
    # sessions an NSAPI wait pushed to or past the next decision were billed in bulk with the
    # network and device of before it (played one by one: those of when they opened)
    958,  # a scheduled report pushed past a trip's end: billed in the trip's network
    1096,  # the same, opening in the trip's last second, the cell found again after an area outage
    611,  # reports with scans pushed past a SIM swap after an area outage: the old IMEI
    665,  # the same past a move: the old network
    709,  # a report pushed past trips ending during the network search after an area outage
    752,  # the same, back home
    186,  # an attempt an NSAPI wait pushed across a SIM swap: not cut in bulk, closed empty one by one
    # the cell gone again before the device's next try after an area outage: it registered at that
    # try all the same and answered commands with no cell (one by one the second attach closed them)
    1291,
    1436,  # a report an NSAPI wait pushed to go on across a move: not cut in bulk, all bytes after it one by one
    2472,  # the same, across a move and a server outage's start: not cut in bulk
]

PER_REPORT = ["https-tls13", "coap", "http", "mqtt-qos1", "mqtt-tls13-qos1"]
PERSISTENT = ["mqtt-qos1", "mqtt-tls13-qos1"]


def _iso(second: int) -> str:
    return (START + timedelta(seconds=second)).isoformat()


def _when(rnd: random.Random, hours: float, backs: list[int]) -> int:
    """A second of the period: at random, or seconds after one of `backs` (a cell found again)."""
    if backs and rnd.random() < 0.5:
        return min(rnd.choice(backs) + rnd.randrange(25), int(hours * 3600) - 1)
    return rnd.randrange(int(hours * 3600))


def fuzz_scenario(seed: int) -> dict[str, Any]:
    """The scenario of `seed`: a small fleet over a few hours, with decisions falling among its sessions."""
    rnd = random.Random(seed)
    hours = rnd.choice([2, 4, 6])
    persistent = rnd.random() < 0.25
    app: dict[str, Any] = {
        "profile": rnd.choice(PERSISTENT if persistent else PER_REPORT),
        "payload": rnd.choice([{"fixed": 53}, {"pareto": {"alpha": 2.5, "min": 20, "max": 200}}]),
    }
    if persistent:
        app.update(session="persistent", keepalive=rnd.choice(["5min", "20min"]))
    period = rnd.choice(["1min", "5min", "15min", "1h"])
    jitters = ["none", "tr37868-model2"] + ([] if period == "1min" else ["uniform", "tr37868-model1"])
    schedule = {"period": period, "align": rnd.choice(["clock", "random"]), "jitter": rnd.choice(jitters)}
    reconnect = rnd.choice(
        [
            {"policy": "immediate"},
            {"policy": "fixed", "delay": rnd.choice(["10s", "1min", "5min"])},
            {"policy": "exponential", "delay": "30s", "max": "10min", "jitter": 0.5},
        ]
    )
    group: dict[str, Any] = {
        "application": app,
        "schedule": schedule,
        "reconnect": reconnect,
        "network_search": rnd.choice([0, 2, 30]),
    }
    if rnd.random() < 0.8:
        group["mt_sms"] = {
            "sender": "20500",
            "text": "LOCATE",
            "rate_per_day": rnd.choice([24, 200, 1000, 3000, 10000]),
        }
    public = rnd.random() < 0.3
    if public:
        group["apn"] = "internet-entreprise"
    search = group["network_search"]
    # the outages first: the other decisions fall at random, or seconds after a cell comes back
    # (when commands held while it was gone are answered together, waiting for NSAPIs)
    outages: list[dict[str, Any]] = []
    backs: list[int] = []
    for _ in range(rnd.choice([0, 1, 2, 3, 4])):
        kind = rnd.choice(["area", "server", "server", "apn"] if public else ["area", "server"])
        at = _when(rnd, hours, backs)
        length = rnd.choice([20, 120, 600, 3600, 10800])
        o: dict[str, Any] = {"kind": kind, "start": _iso(at), "duration": length}
        if kind == "apn":
            o["apn"] = "internet-entreprise"
        if kind != "area" and rnd.random() < 0.4:
            o["answer"] = "unreachable"
        if kind == "area":
            backs.append(at + length + search)
            if rnd.random() < 0.3:
                o["share"] = 0.5
        outages.append(o)
    trips = []
    for plmn in rnd.sample(["26201", "21407", "22210"], rnd.choice([0, 0, 1, 2])):
        a, b = sorted((_when(rnd, hours, backs), _when(rnd, hours, backs)))
        if a < b:
            trips.append({"share": rnd.choice([0.5, 1.0]), "start": _iso(a), "end": _iso(b), "plmn": plmn})
    if trips:
        group["mobility"] = {"trips": trips}
    if rnd.random() < 0.3:
        group["sim_swaps"] = [{"at": _iso(_when(rnd, hours, backs)), "share": 1.0}]
    d = doc(devices=rnd.choice([1, 2, 3]), **group)
    d["seed"] = seed
    d["period"] = {"start": "2026-03-01", "days": hours / 24}
    if public:
        d["network"] = {"apns": {"internet-entreprise": {"scan_per_hour": rnd.choice([0, 120, 1200])}}}
    if outages:
        d["events"] = {"outages": outages}
    return d


def differences(seed: int, tmp_path: Path) -> list[str]:
    """What differs between the two paths for `seed`'s scenario (nothing when they agree)."""
    d = fuzz_scenario(seed)
    bulk = play(d, tmp_path / f"bulk-{seed}", per_call=False)
    one = play(d, tmp_path / f"one-{seed}", per_call=True)
    found = []
    if bulk.groups != one.groups:
        found.append(f"stats: {bulk.groups} != {one.groups}")
    if bulk.records != one.records:
        only_bulk = sorted(set(bulk.records) - set(one.records))
        only_one = sorted(set(one.records) - set(bulk.records))
        found.append(f"records: bulk only {only_bulk[:4]}, one by one only {only_one[:4]}")
    return found


@pytest.mark.parametrize("seed", sorted({*range(FIRST, FIRST + SEEDS), *REGRESSIONS}))
def test_bulk_and_one_by_one_give_the_same_records(tmp_path: Path, seed: int) -> None:
    assert differences(seed, tmp_path) == [], fuzz_scenario(seed)
