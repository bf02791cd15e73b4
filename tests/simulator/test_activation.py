"""Lines activated during the period (`since` after its start): a device's life starts at its
line's activation (00:00 UTC of `since`), and nothing of it happens before."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from accounting.records import is_retry_charging
from simulator.run import simulate
from simulator.scenario import parse_scenario

SINCE = datetime(2026, 3, 15, tzinfo=UTC)
# per-report data without jitter (the report times do not depend on the draws), heartbeat SMS,
# DTMF calls, LOCATE commands answered with a report, a trip going on at the activation, a SIM
# swap before it, and an alarm rule that fires on every use (the first one of each line: its attach)
GROUP: dict[str, Any] = {
    "schedule": {"period": "1h"},
    "application": {"profile": "coap", "payload": {"fixed": 48}},
    "sms": [{"kind": "heartbeat", "every": "1d", "dest": "0612345678", "size": 24}],
    "calls": [{"kind": "voice", "rate_per_day": 3, "dest": "0140000000", "duration": "25s"}],
    "mt_sms": {"sender": "20500", "text": "LOCATE", "rate_per_day": 4},
    "mobility": {
        "trips": [{"share": 1, "start": "2026-03-14", "end": "2026-03-16T06:00:00Z", "plmn": "26201"}]
    },
    "sim_swaps": [{"at": "2026-03-14T10:00:00Z", "share": 1}],
    "alarms": {"imei_change": True, "period": {"from": "2027-01-01"}},
}


def doc(new_since: str = "2026-03-15", **extra: Any) -> dict[str, Any]:
    """Two old lines and three activated at `new_since`, over 13-17 March."""
    line = {"offer": "business-m2m-dtmf", "plan": "compteur", "commitment": 24}
    line["options"] = ["autogestion", "autodiagnostic"]
    return {
        "name": "rollout",
        "seed": 5,
        "period": {"start": "2026-03-13", "days": 4},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {"id_prefix": "OLD", "count": 2, "since": "2025-01-01", **line},
                {"id_prefix": "NEW", "count": 3, "since": new_since, **line},
                *extra.pop("lines", []),
            ],
        },
        "groups": [
            {"name": "old", "lines": "OLD", **copy.deepcopy(GROUP)},
            {"name": "new", "lines": "NEW", **copy.deepcopy(GROUP)},
            *extra.pop("groups", []),
        ],
        **extra,
    }


def rows(out: Path) -> list[dict[str, Any]]:
    return list(pq.read_table(out / "usage.parquet").to_pylist())


def alarms(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "alarms.jsonl").read_text().splitlines()]


def key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["line"], r["type"], r["start"], r["duration_s"], r["bytes_up"], r["bytes_down"], r["zone"])


def test_no_record_sms_call_attach_or_alarm_of_a_line_before_its_activation(tmp_path: Path) -> None:
    rollout = simulate(parse_scenario(doc(), "unit.yaml"), tmp_path / "rollout", invoice=False)
    along = simulate(parse_scenario(doc("2025-01-01"), "unit.yaml"), tmp_path / "along", invoice=False)
    got = rows(rollout.out_dir)
    new = [r for r in got if r["line"].startswith("NEW")]
    assert {r["type"] for r in new} == {"data", "sms", "voice"}
    assert min(r["start"] for r in new) >= SINCE
    # after its activation, the line's traffic is the one it has when active all along: reports on
    # its schedule's times, heartbeats at theirs; and the trip going on leaves it abroad from there
    old_way = [r for r in rows(along.out_dir) if r["line"].startswith("NEW") and r["start"] >= SINCE]
    for kind in ("data", "sms"):
        assert sorted(key(r) for r in new if r["type"] == kind) == sorted(
            key(r) for r in old_way if r["type"] == kind
        )
    assert {r["start"] for r in new if r["type"] == "voice"} <= {r["start"] for r in old_way}
    first_day = [r for r in new if r["start"] < datetime(2026, 3, 16, tzinfo=UTC)]
    assert first_day and {r["zone"] for r in first_day} == {"eu"}
    # the lines active all along are as they were
    assert sorted(key(r) for r in got if r["line"].startswith("OLD")) == sorted(
        key(r) for r in rows(along.out_dir) if r["line"].startswith("OLD")
    )
    # the first use of a new line is its attach once its device, switched on at the activation, has
    # found the network (the group's network search, 2 s by default); no SIM swap seen for it
    seen = [a for a in alarms(rollout.out_dir) if a["line"].startswith("NEW")]
    firsts = {a["line"]: a for a in reversed(seen)}
    assert sorted(firsts) == ["NEW1", "NEW2", "NEW3"]
    for a in firsts.values():
        assert (a["time"], a["rule"], a["details"]["use"]) == (
            "2026-03-15T00:00:02+00:00",
            "period",
            "attach",
        )
    assert not [a for a in seen if a["rule"] == "imei-change"]
    assert [a for a in alarms(along.out_dir) if a["line"].startswith("NEW") and a["rule"] == "imei-change"]
    summary = json.loads((rollout.out_dir / "summary.json").read_text())
    groups = {g["name"]: g for g in summary["groups"]}
    assert summary["devices"] == 5 and groups["new"]["devices"] == 3
    assert groups["new"]["data_sessions"] == len([r for r in new if r["type"] == "data"])
    before = json.loads((along.out_dir / "summary.json").read_text())
    assert (
        0
        < groups["new"]["mt_sms_submitted"]
        < {g["name"]: g for g in before["groups"]}["new"]["mt_sms_submitted"]
    )
    # and so do the shards of another size (as on several workers or a cluster)
    small = simulate(parse_scenario(doc(), "unit.yaml", shard_devices=2), tmp_path / "small", invoice=False)
    assert small.shards == 3
    assert sorted(key(r) for r in rows(small.out_dir)) == sorted(key(r) for r in got)


def test_an_outage_going_on_at_the_activation_and_a_line_activated_after_the_period(tmp_path: Path) -> None:
    late_line = {"id_prefix": "LATE", "count": 2, "offer": "business-m2m-dtmf", "plan": "compteur"}
    late_line |= {"commitment": 24, "since": "2026-03-20", "options": ["autogestion", "autodiagnostic"]}
    late = {"name": "late", "lines": "LATE", **copy.deepcopy(GROUP)}
    outage = {"kind": "server", "start": "2026-03-14T20:00:00Z", "duration": "6h"}
    d = doc(lines=[late_line], groups=[late], events={"outages": [outage]})
    d["groups"][1]["reconnect"] = {"policy": "fixed", "delay": "30min"}
    run = simulate(parse_scenario(d, "unit.yaml"), tmp_path / "run")
    got = rows(run.out_dir)
    assert not [r for r in got if r["line"].startswith("LATE")]
    assert not [a for a in alarms(run.out_dir) if a["line"].startswith("LATE")]
    retries = [r for r in got if r["line"].startswith("NEW") and is_retry_charging(r["charging_id"])]
    # met from the activation (its first report): attempts at most 30 minutes apart until 02:00
    assert retries and min(r["start"] for r in retries) >= SINCE
    assert max(r["start"] for r in retries) < datetime(2026, 3, 15, 2, tzinfo=UTC)
    assert len({r["start"] for r in retries if r["line"] == "NEW1"}) >= 2
    # the invoice bills what the new lines used from their activation, and rejects nothing for it
    invoice = json.loads((run.out_dir / "invoice.json").read_text())
    assert not [x for x in invoice["rejects"] if "not active" in x["reason"]]
    lines = {x["id"]: x for x in invoice["lines"]}
    for line in ("NEW1", "NEW2", "NEW3"):
        items = {i["code"]: int(i["quantity"]) for i in lines[line]["items"]}
        used = [r for r in got if r["line"] == line]
        fr_sms = [r for r in used if r["type"] == "sms" and r["zone"] == "fr"]
        assert items.get("sms", 0) == len(fr_sms)
        ko = sum(-(-(r["bytes_up"] + r["bytes_down"]) // 1024) for r in used if r["type"] == "data")
        assert sum(n for code, n in items.items() if code.startswith("data-")) == ko > 0
    summary = json.loads((run.out_dir / "summary.json").read_text())
    assert {g["name"]: g["data_sessions"] for g in summary["groups"]}["late"] == 0


def test_a_line_is_watched_from_its_autodiagnostic_options_since(tmp_path: Path) -> None:
    d = doc()
    old, new = d["inventory"]["lines"][:2]
    old["since"] = new["since"] = "2025-01-01"
    # the option from 15 March (a SIM swap on the 16th) and from April: billed from then, watched from then
    old["options"] = ["autogestion", {"id": "autodiagnostic", "since": "2026-03-15"}]
    new["options"] = ["autogestion", {"id": "autodiagnostic", "since": "2026-04-01"}]
    d["groups"][0]["sim_swaps"] = [{"at": "2026-03-16T10:00:00Z", "share": 1}]
    run = simulate(parse_scenario(d, "unit.yaml"), tmp_path / "run", invoice=False)
    seen = alarms(run.out_dir)
    assert not [a for a in seen if a["line"].startswith("NEW")]
    old_alarms = [a for a in seen if a["line"].startswith("OLD")]
    assert "2026-03-15T00:00:00+00:00" <= min(a["time"] for a in old_alarms) < "2026-03-16"
    # the IMEI the line used before the option is known: the swap after it is seen
    swaps = [a for a in old_alarms if a["rule"] == "imei-change"]
    assert sorted(a["line"] for a in swaps) == ["OLD1", "OLD2"]
    assert {a["time"] for a in swaps} == {"2026-03-16T10:00:00+00:00"}


def test_lines_activated_after_the_billing_month_are_counted_as_not_active(tmp_path: Path) -> None:
    """A `since` after the month (a mistyped year) bills those lines nothing: the invoice's text,
    the summary and summary.json say how many, where a table of zeros alone would not."""
    later = {"id_prefix": "NEXT", "count": 2, "offer": "business-m2m-dtmf", "plan": "compteur"}
    later |= {"commitment": 24, "since": "2027-03-01"}
    d = doc(lines=[later], groups=[{"name": "next", "lines": "NEXT", **copy.deepcopy(GROUP)}])
    run = simulate(parse_scenario(d, "unit.yaml"), tmp_path / "run")
    summary = json.loads((run.out_dir / "summary.json").read_text())
    assert summary["invoice"]["lines_not_active"] == 2
    assert "2 lines not active in the month" in (run.out_dir / "summary.txt").read_text()
    head = (run.out_dir / "invoice.txt").read_text().splitlines()[2]
    assert head.startswith("  7 lines (2 not active in the month: no items): ")
    invoice = json.loads((run.out_dir / "invoice.json").read_text())
    assert [x["id"] for x in invoice["lines"] if not x["items"]] == ["NEXT1", "NEXT2"]
    # an invoice whose lines are all active says nothing of the kind
    plain = simulate(parse_scenario(doc(), "unit.yaml"), tmp_path / "plain")
    assert json.loads((plain.out_dir / "summary.json").read_text())["invoice"]["lines_not_active"] == 0
    assert "not active" not in (plain.out_dir / "summary.txt").read_text()
    assert "not active" not in (plain.out_dir / "invoice.txt").read_text().splitlines()[2]


def test_autodiagnostic_is_watched_only_with_the_autogestion_it_requires(tmp_path: Path) -> None:
    """The catalog: autodiagnostic requires autogestion. A line with autodiagnostic alone (an inventory
    error, not billed) raises no alarm; one whose autogestion starts later is watched from then."""
    d = doc()
    old, new = d["inventory"]["lines"][:2]
    old["since"] = new["since"] = "2025-01-01"
    old["options"] = ["autodiagnostic"]
    new["options"] = ["autodiagnostic", {"id": "autogestion", "since": "2026-03-15"}]
    run = simulate(parse_scenario(d, "unit.yaml"), tmp_path / "run")
    seen = alarms(run.out_dir)
    assert not [a for a in seen if a["line"].startswith("OLD")]
    new_alarms = [a for a in seen if a["line"].startswith("NEW")]
    assert new_alarms and min(a["time"] for a in new_alarms) >= "2026-03-15T00:00:00+00:00"
    errors = json.loads((run.out_dir / "invoice.json").read_text())["errors"]
    assert {e["line"] for e in errors} >= {"OLD1", "OLD2"}


def test_sms_and_calls_in_the_power_on_network_search_are_refused_unbilled(tmp_path: Path) -> None:
    """Until its module has registered (the group's `network_search` after the activation), a device
    has no network: its SMS and calls due then are refused (counted, no record), as in the search
    after an area outage."""
    d = doc()
    d["period"] = {"start": "2026-03-14T23:00:00Z", "end": "2026-03-15T01:00:00Z"}
    d["inventory"]["lines"][1]["count"] = 2
    search = 60
    d["groups"][1] = {
        "name": "new",
        "lines": "NEW",
        "network_search": f"{search}s",
        "sms": [{"kind": "heartbeat", "every": "5s", "dest": "0612345678", "size": 20}],
        "calls": [{"kind": "voice", "every": "7s", "dest": "0140000000", "duration": "1s"}],
    }
    result = simulate(parse_scenario(d, "unit.yaml"), tmp_path / "search", invoice=False)
    used = sorted(r["start"].timestamp() for r in rows(result.out_dir) if r["line"].startswith("NEW"))
    assert used and used[0] >= SINCE.timestamp() + search
    st = result.groups["new"]
    assert st.sms_refused == 2 * search // 5  # a heartbeat every 5 s on each line in the search
    assert st.calls_refused >= 2 * (search // 7) and st.calls_answered > 0
