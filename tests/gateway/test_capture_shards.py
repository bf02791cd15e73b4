"""A run's capture, whatever the sharding: the shards' pcaps merged give back the run's records exactly.

One scenario (per-report CoAP trackers on the bulk path, persistent MQTT meters through the
gateway's per-call path, both roaming; a server outage for reconnection attempts) is run with
`--capture` on 1, 2 and 4 shards.  Each time the shards' captures are merged with `mergecap`,
`records_from_pcap` rebuilds the records from the merged file, and tshark pairs every GTP request
with its response.  The records are the same whatever the number of shards.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from accounting.records import USAGE_SCHEMA, ClosingCause
from gateway.capture import ReadReport, records_from_pcap
from simulator.run import simulate
from simulator.scenario import parse_scenario

MERGECAP = shutil.which("mergecap")
TSHARK = shutil.which("tshark")
if MERGECAP is None:
    print(
        "mergecap is not installed (Debian package wireshark-common; .ci/run installs it): shard tests skipped"
    )
pytestmark = pytest.mark.skipif(MERGECAP is None, reason="mergecap is not installed (wireshark-common)")

DEVICES = 8
COLUMNS = [
    "line",
    "type",
    "start",
    "duration_s",
    "bytes_up",
    "bytes_down",
    "zone",
    "session",
    "imsi",
    "imeisv",
    "apn",
    "charging_id",
    "serving_plmn",
    "cause",
    "sequence",
]
GTP_REQUESTS = "gtp.message == 16 || gtp.message == 18 || gtp.message == 20"  # Create, Update, Delete
TRIP = {"share": 1.0, "start": "2026-03-01T10:00:00Z", "end": "2026-03-02T02:00:00Z", "plmn": "26201"}


def scenario_doc(shard_devices: int) -> dict[str, Any]:
    lines = [
        {"id_prefix": p, "count": DEVICES // 2, "offer": "europe", "plan": "forfait-2mo", "commitment": 24}
        | {"since": "2025-01-01"}
        for p in ("TRK", "MTR")
    ]
    return {
        "name": "shards",
        "seed": 5,
        "period": {"start": "2026-03-01", "days": 2},
        "inventory": {"customer": "unit", "month": "2026-03", "lines": lines},
        "network": {"default_apn": "orange.m2m.spec"},
        "run": {"shard_devices": shard_devices},
        "groups": [
            {
                "name": "trackers",
                "lines": "TRK",
                "schedule": {"period": "30min", "jitter": "tr37868-model1"},
                "application": {"profile": "coap", "payload": {"fixed": 64}},
                "mobility": {"eu_share": 0.25, "trips": [TRIP]},
                "reconnect": {"policy": "exponential", "delay": "60s", "max": "1h"},
            },
            {
                "name": "meters",
                "lines": "MTR",
                "schedule": {"period": "15min", "jitter": "tr37868-model1"},
                "application": {
                    "profile": "mqtt-qos1",
                    "session": "persistent",
                    "keepalive": "20min",
                    "payload": {"fixed": 96},
                },
                "mobility": {"trips": [TRIP]},
                "reconnect": {"policy": "exponential", "delay": "30s", "max": "30min"},
            },
        ],
        "events": {
            "outages": [
                {"kind": "server", "start": "2026-03-02T05:00:00Z", "duration": "1h", "groups": ["trackers"]}
            ]
        },
    }


def rows_of(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(r[c] for c in COLUMNS) for r in records)


def run_records(out: Path) -> list[dict[str, Any]]:
    table = pq.read_table(out / "usage.parquet").cast(USAGE_SCHEMA)
    return [r for r in table.to_pylist() if r["type"] == "data"]


def merged_capture(out: Path) -> Path:
    assert MERGECAP is not None
    parts = sorted((out / "capture").glob("part-*.pcap"))
    merged = out / "merged.pcap"
    subprocess.run([MERGECAP, "-F", "pcap", "-w", str(merged), *map(str, parts)], check=True, timeout=120)
    return merged


def tshark_rows(path: Path, *args: str) -> list[list[str]]:
    """tshark's fields of a capture, in two passes (a request learns its response frame)."""
    assert TSHARK is not None
    done = subprocess.run(
        [TSHARK, "-2", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return [line.split("\t") for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    base = tmp_path_factory.mktemp("shards")
    out: dict[int, Path] = {}
    for shards in (1, 2, 4):
        sc = parse_scenario(scenario_doc(DEVICES // shards), "shards.yaml")
        result = simulate(sc, base / f"s{shards}", capture=True, invoice=False)
        assert result.shards == shards
        assert len(list((result.out_dir / "capture").glob("part-*.pcap"))) == shards
        out[shards] = result.out_dir
    return out


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_merged_capture_gives_back_the_runs_records(runs: dict[int, Path], shards: int) -> None:
    out = runs[shards]
    expected = run_records(out)
    report = ReadReport()
    rebuilt = [r.as_row() for r in records_from_pcap(merged_capture(out), report=report)]
    assert report.rejected == 0, report.rejects[:5]
    assert report.open_sessions == [] and report.unanswered_requests == 0
    assert len(rebuilt) == len(expected) > 100
    assert rows_of(rebuilt) == rows_of(expected)
    # one charging id per session, one session per charging id; session ids are the line and charging id
    sessions: dict[int, set[str]] = defaultdict(set)
    for r in expected:
        sessions[r["charging_id"]].add(r["session"])
        assert r["session"] == f"{r['line']}-{r['charging_id']}"
    assert all(len(s) == 1 for s in sessions.values())
    assert all(0 < c < 1 << 32 for c in sessions)


def test_records_are_the_same_whatever_the_sharding(runs: dict[int, Path]) -> None:
    one, two, four = (rows_of(run_records(runs[n])) for n in (1, 2, 4))
    assert one == two == four


def test_roaming_persistent_contexts_go_on_with_plmn_change_records(runs: dict[int, Path]) -> None:
    records = run_records(runs[1])
    meters = [r for r in records if r["line"].startswith("MTR")]
    moved = [r for r in meters if r["cause"] == int(ClosingCause.PLMN_CHANGE)]
    assert len(moved) == 2 * (DEVICES // 2)  # out at 10:00 and back at 02:00, each meter
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in meters:
        by_session[r["session"]].append(r)
    for r in moved:
        later = sorted(by_session[r["session"]], key=lambda x: x["sequence"])
        nxt = next(x for x in later if x["sequence"] == r["sequence"] + 1)  # the context went on
        assert nxt["start"] == r["start"] + (nxt["start"] - r["start"])
        assert r["start"].timestamp() + r["duration_s"] == nxt["start"].timestamp()
        assert {r["serving_plmn"], nxt["serving_plmn"]} == {"20801", "26201"}
        # both in the zone where the context was opened, in France, wherever the bytes went
        assert r["zone"] == nxt["zone"] == "fr"
    # the 12-hour cut still counts from each context's start
    for rs in by_session.values():
        first = min(x["start"] for x in rs)
        for x in rs:
            if x["cause"] == int(ClosingCause.TIME_LIMIT):
                assert (x["start"].timestamp() + x["duration_s"] - first.timestamp()) % 43_200 == 0


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")
def test_no_address_is_held_by_two_open_contexts_in_the_merged_capture(runs: dict[int, Path]) -> None:
    rows = tshark_rows(
        merged_capture(runs[4]),
        "-Y",
        "radius.code == 4",
        "-T",
        "fields",
        "-e",
        "radius.Acct_Status_Type",
        "-e",
        "radius.Acct_Session_Id",
        "-e",
        "radius.Framed-IP-Address",
    )
    holder: dict[str, str] = {}  # address -> the open session holding it
    starts = 0
    for status, session, address in rows:
        if status == "1":  # Start
            starts += 1
            assert holder.get(address) in (None, session), (
                f"{address}: {session} while {holder[address]} holds it"
            )
            holder[address] = session
        elif status == "2" and holder.get(address) == session:  # Stop
            del holder[address]
    assert starts > 100


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")
@pytest.mark.parametrize("shards", [1, 4])
def test_tshark_pairs_every_gtp_request_with_its_response(runs: dict[int, Path], shards: int) -> None:
    merged = merged_capture(runs[shards])
    requests = tshark_rows(merged, "-Y", GTP_REQUESTS, "-T", "fields", "-e", "frame.number")
    assert len(requests) > 100
    unpaired = tshark_rows(
        merged, "-Y", f"({GTP_REQUESTS}) && !gtp.response_in", "-T", "fields", "-e", "frame.number"
    )
    assert unpaired == []
    updates = tshark_rows(merged, "-Y", "gtp.message == 18", "-T", "fields", "-e", "gtp.seq_number")
    assert len(updates) == 2 * (DEVICES // 2)
    flagged = tshark_rows(
        merged, "-Y", "_ws.malformed || _ws.expert.severity >= warning", "-T", "fields", "-e", "frame.number"
    )
    assert flagged == []


BIG_FLEET = 4_100  # past 4,096 devices: device 4,096's ids met device 0's in a 32-bit field cut from 64


def test_a_fleet_past_4096_devices_keeps_distinct_32_bit_charging_ids(tmp_path: Path) -> None:
    doc = scenario_doc(BIG_FLEET // 2)
    doc["period"]["days"] = 1
    doc["inventory"]["lines"] = [
        {"id_prefix": "TRK", "count": BIG_FLEET, "offer": "europe", "plan": "forfait-2mo", "commitment": 24}
        | {"since": "2025-01-01"}
    ]
    trackers = doc["groups"][0] | {"schedule": {"period": "8h", "jitter": "tr37868-model1"}}
    doc["groups"] = [trackers]
    doc["events"] = {}
    result = simulate(parse_scenario(doc, "big.yaml"), tmp_path / "big", capture=True, invoice=False)
    assert result.shards == 2
    expected = run_records(result.out_dir)
    ids = [r["charging_id"] for r in expected]
    assert len(set(ids)) == len(ids) >= 2 * BIG_FLEET
    assert all(0 < c < 1 << 32 for c in ids)
    assert len({r["line"] for r in expected}) == BIG_FLEET
    report = ReadReport()
    rebuilt = [r.as_row() for r in records_from_pcap(merged_capture(result.out_dir), report=report)]
    assert report.rejected == 0, report.rejects[:5]
    assert rows_of(rebuilt) == rows_of(expected)
