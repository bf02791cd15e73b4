"""Usage records of small seeded runs against what the documentation predicts for them.

Every expected number here comes from docs/scenarios.md ("Behaviour keys", "Outages", "Where the
numbers come from"), docs/gateway.md ("Partial records") and the measured exchanges of
field-notes.md, worked out by hand in the comments, not from the simulator's code: the report's
bytes per profile and payload, reports per device, the 12-hour cuts and their causes (17, 23 at a
clock change, 24 at a move, 20 at the period's end), retry timelines and what an attempt cut at
the period's end costs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from simulator.run import simulate
from simulator.scenario import parse_scenario

H = 3600
DAY = 86_400


def lines(prefix: str, count: int, offer: str = "business-m2m", since: str = "2025-01-01") -> dict[str, Any]:
    return {
        "id_prefix": prefix,
        "count": count,
        "offer": offer,
        "plan": "forfait-2mo",
        "commitment": 24,
        "since": since,
    }


def group(
    name: str, profile: str, period: str = "1h", jitter: str = "none", payload: int = 53, **more: Any
) -> dict[str, Any]:
    """A device group on the lines of prefix `name.upper()`, on the clock's boundaries, with a fixed payload."""
    application = {"profile": profile, "payload": {"fixed": payload}}
    for key in ("session", "keepalive"):
        if key in more:
            application[key] = more.pop(key)
    return {
        "name": name,
        "lines": name.upper(),
        "schedule": {"period": period, "align": "clock", "jitter": jitter},
        "application": application,
        **more,
    }


def scenario(
    name: str,
    seed: int,
    period: dict[str, Any],
    line_groups: list[dict[str, Any]],
    groups: list[dict[str, Any]],
) -> dict[str, Any]:
    """A scenario of the billing month the period starts in."""
    month = str(period["start"])[:7]
    return {
        "name": name,
        "seed": seed,
        "period": period,
        "inventory": {"customer": "c", "month": month, "lines": line_groups},
        "groups": groups,
    }


def run(tmp_path: Path, doc: dict[str, Any]) -> list[dict[str, Any]]:
    result = simulate(parse_scenario(doc, f"{doc['name']}.yaml"), tmp_path / doc["name"], invoice=False)
    return [r for r in pq.read_table(result.out_dir / "usage.parquet").to_pylist() if r["type"] == "data"]


def trip_to_germany(start: str, end: str) -> dict[str, Any]:
    """The `mobility` of a group every device of which travels to Germany from `start` to `end`."""
    return {"trips": [{"share": 1.0, "start": start, "end": end, "plmn": "26201"}]}


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def by_line(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["line"], r["start"], r["sequence"])):
        out[r["line"]].append(r)
    return out


def starting(
    per_line: dict[str, list[dict[str, Any]]], line_ids: tuple[str, ...], t0: int, span: int
) -> dict[str, list[tuple[int, int, int, int, int]]]:
    """The records of `line_ids` starting in the `span` s from `t0`: (start from `t0`, duration, cause,
    bytes up, bytes down) each."""
    return {
        line: [
            (int(r["start"].timestamp()) - t0, r["duration_s"], r["cause"], r["bytes_up"], r["bytes_down"])
            for r in per_line[line]
            if t0 <= r["start"].timestamp() < t0 + span
        ]
        for line in line_ids
    }


def test_reports_bytes_counts_and_persistent_records_to_a_leap_months_end(tmp_path: Path) -> None:
    start, end = ts("2028-02-28T00:00:00"), ts("2028-03-01T00:00:00")  # Feb 28-29 2028, the month's end
    counts = {"A": 2, "E": 2, "G": 3, "H": 2, "T": 2, "B": 2, "F": 2}
    doc = scenario(
        "oracle-feb",
        11,
        {"start": "2028-02-28", "days": 2},
        [lines(p, n, since="2028-02-29" if p == "H" else "2025-01-01") for p, n in counts.items()],
        [
            group("a", "mqtt-qos1", period="15min", jitter="tr37868-model1", payload=2000),
            group("e", "https-tls12"),
            group("g", "coap", jitter="tr37868-model2"),
            group("h", "http"),
            group("t", "mqtt-tls13-qos1"),
            group("b", "mqtt-qos0", session="persistent", keepalive="25min"),
            group("f", "mqtt-tls12-qos1", payload=3000, session="persistent", keepalive="25min"),
        ],
    )
    rows = run(tmp_path, doc)
    assert all(
        start <= r["start"].timestamp() and r["start"].timestamp() + r["duration_s"] <= end for r in rows
    )
    per_line = by_line(rows)
    # (up, down, duration) of one report on its own connection, and reports per device in the 2 days
    # mqtt-qos1 at 2,000 B: 360 up + (2000 - 53) + 40 for the second segment; 180 down + one ACK
    # for every second segment (2 segments: 1 ACK, against 0 for 1 segment)
    expected = {
        "A": ((2347, 220, 2), 2 * 96),
        "E": ((896, 1288, 3), 48),  # HTTPS TLS 1.2: 2,184 B measured
        "G": ((90, 34, 1), 48),  # CoAP CON + piggybacked ACK: 124 B
        "H": ((475, 335, 2), 24),  # HTTP POST, 810 B, for a line active from Feb 29 only
        "T": ((900, 1611, 3), 48),  # MQTT TLS 1.3 new connection: 2,511 B
    }
    for prefix, (exchange, count) in expected.items():
        devices = [line for line in per_line if line[0] == prefix]
        assert len(devices) == counts[prefix]
        for line in devices:
            records = per_line[line]
            assert len(records) == count, line
            assert {(r["bytes_up"], r["bytes_down"], r["duration_s"]) for r in records} == {exchange}
            assert {(r["sequence"], r["cause"], r["zone"]) for r in records} == {(1, 0, "fr")}
            if prefix == "H":  # activated on Feb 29: switched on at 00:00 UTC that day, its first
                # report once registered, after the group's network search (2 s by default)
                assert min(r["start"].timestamp() for r in records) == ts("2028-02-29T00:00:02")
    # the jitter of the clock-aligned reports: Model 1 uniform over 60 s, Model 2 over 10 s
    offsets = {p: [int(r["start"].timestamp()) % (900 if p == "A" else H) for line in per_line if line[0] == p
                   for r in per_line[line]] for p in "AG"}  # fmt: skip
    assert max(offsets["A"]) < 60 and max(offsets["G"]) < 10
    assert abs(sum(offsets["A"]) / len(offsets["A"]) - 29.5) < 4 * 17.3 / len(offsets["A"]) ** 0.5
    # persistent: one connection from the period's start to its end, 12-hour records 17, 17, 17, 20,
    # its bytes: the set-up, one publish a report, one ping cycle per idle keep-alive interval
    # (2 in each hour's gap of 60 min at 25 min)
    # mqtt-qos0: set-up 292 B (196 up: SYN 52, ACK 40, CONNECT 64, ACK 40; 96 down), QoS 0 publish
    # 120 up / 40 down, ping 124 (PINGREQ 42 + ACK 40 up, PINGRESP 42 down)
    # mqtt-tls12-qos1 at 3,000 B: set-up 640/1000; publish 191 + 2947 + 2 more segments of 40 + 29 up,
    # 73 + one ACK (3 segments) 40 down; ping 111/71
    persistent = {"B": (196 + 48 * 120 + 96 * 82, 96 + 48 * 40 + 96 * 42), "F": (640 + 48 * 3276 + 96 * 111, 1000 + 48 * 113 + 96 * 71)}  # fmt: skip
    for prefix, (up, down) in persistent.items():
        for line in (line for line in per_line if line[0] == prefix):
            records = per_line[line]
            assert [(r["sequence"], r["cause"], r["duration_s"]) for r in records] == [
                (1, 17, 43_200),
                (2, 17, 43_200),
                (3, 17, 43_200),
                (4, 20, 43_200),
            ]
            assert records[0]["start"].timestamp() == start and len({r["session"] for r in records}) == 1
            assert (sum(r["bytes_up"] for r in records), sum(r["bytes_down"] for r in records)) == (up, down)


def test_partial_records_at_the_clock_change_and_moves_count_their_cuts_from_the_contexts_start(
    tmp_path: Path,
) -> None:
    trip = {"share": 1.0, "start": "2026-03-30T05:00:00Z", "end": "2026-03-31T07:00:00Z", "plmn": "26201"}
    doc = scenario(
        "oracle-dst",
        5,
        {"start": "2026-03-28", "days": 4},  # to the end of March 2026
        [lines("P", 2, "europe")],
        [group("p", "mqtt-qos1", session="persistent", keepalive="20min", mobility={"trips": [trip]})],
    )
    rows = run(tmp_path, doc)
    # France's clocks change on 2026-03-29 at 01:00 UTC (cause 23); the trip's moves at 05:00 on the
    # 30th and 07:00 on the 31st (cause 24); the 12-hour cuts at 00:00 and 12:00 counted from the
    # context's start at 00:00 on the 28th; 20 at the period's end
    cuts = [
        ("2026-03-28T00:00:00", 17, "20801"),
        ("2026-03-28T12:00:00", 17, "20801"),
        ("2026-03-29T00:00:00", 23, "20801"),
        ("2026-03-29T01:00:00", 17, "20801"),
        ("2026-03-29T12:00:00", 17, "20801"),
        ("2026-03-30T00:00:00", 24, "20801"),
        ("2026-03-30T05:00:00", 17, "26201"),
        ("2026-03-30T12:00:00", 17, "26201"),
        ("2026-03-31T00:00:00", 24, "26201"),
        ("2026-03-31T07:00:00", 17, "20801"),
        ("2026-03-31T12:00:00", 20, "20801"),
    ]
    ends = [ts(c[0]) for c in cuts[1:]] + [ts("2026-04-01T00:00:00")]
    # mqtt-qos1: set-up 196 up / 96 down; publish 162 (PUBLISH 122 + ACK 40) / 44; 2 pings an hour
    # at 20 min (82 / 42 each: at :20 and :40; none at the hour, when the publish resets the
    # keep-alive timer, nor at the period's end; 3 were counted); 96 reports
    up, down = 196 + 96 * 162 + 192 * 82, 96 + 96 * 44 + 192 * 42
    for records in by_line(rows).values():
        assert [(r["start"].timestamp(), r["cause"], r["serving_plmn"]) for r in records] == [
            (ts(s), c, p) for s, c, p in cuts
        ]
        assert [r["start"].timestamp() + r["duration_s"] for r in records] == ends
        assert [r["sequence"] for r in records] == list(range(1, len(cuts) + 1))
        assert {r["zone"] for r in records} == {"fr"}  # opened in France
        assert (sum(r["bytes_up"] for r in records), sum(r["bytes_down"] for r in records)) == (up, down)


def test_retry_timelines_of_the_reconnection_policies(tmp_path: Path) -> None:
    immediate = {"policy": "immediate"}
    doc = scenario(
        "oracle-retry",
        3,
        {"start": "2026-01-31", "days": 1},
        [lines("Y", 1), lines("Z", 1), lines("K", 2), lines("S", 3)],
        [
            group(
                "y",
                "mqtt-qos1",
                period="4h",
                reconnect={"policy": "exponential", "delay": "30s", "max": "10min", "jitter": 0},
            ),
            group("z", "coap", reconnect={"policy": "fixed", "delay": "60s", "jitter": 0, "max_attempts": 3}),
            group("k", "mqtt-qos1", reconnect=immediate),
            group("s", "coap", reconnect=immediate, network_search="2s"),
        ],
    )
    server = {"kind": "server", "start": "2026-01-31T08:00:00Z", "duration": "1h", "groups": ["y", "z", "k"]}
    area = {"kind": "area", "start": "2026-01-31T14:00:00Z", "duration": "30min", "groups": ["s"]}
    doc["events"] = {"outages": [server, area]}
    per_line = by_line(run(tmp_path, doc))
    eight = ts("2026-01-31T08:00:00")
    failed_tcp, failed_coap = (208, 0, 15, 0), (450, 0, 62, 0)  # 4 SYNs in 15 s; 5 CON in 62 s
    # exponential: an attempt of 15 s, then 30 s doubling up to 10 min, until one succeeds at or after 09:00
    y = [(int(r["start"].timestamp()) - eight, (r["bytes_up"], r["bytes_down"], r["duration_s"], r["cause"]))
         for r in per_line["Y1"] if eight <= r["start"].timestamp() < eight + 2 * H]  # fmt: skip
    t, wait, timeline = 0, 30, []
    while t < H:
        timeline.append((t, failed_tcp))
        t += 15 + wait
        wait = min(2 * wait, 600)
    timeline.append((t, (360, 180, 2, 0)))  # the missed report, once the server answers
    assert y == timeline
    # fixed with max_attempts 3: three attempts 62 + 60 s apart, then nothing until the next report
    z = [(int(r["start"].timestamp()) - eight, (r["bytes_up"], r["bytes_down"], r["duration_s"], r["cause"]))
         for r in per_line["Z1"] if eight <= r["start"].timestamp() < eight + H + 1]  # fmt: skip
    assert z == [(0, failed_coap), (122, failed_coap), (244, failed_coap), (H, (90, 34, 1, 0))]
    # immediate: one attempt every 15 s through the hour, 240 of them
    for line in ("K1", "K2"):
        failed = [r for r in per_line[line] if r["bytes_down"] == 0]
        assert [r["start"].timestamp() - eight for r in failed] == [15 * k for k in range(240)]
        assert {(r["bytes_up"], r["duration_s"], r["cause"]) for r in failed} == {(208, 15, 0)}
        assert len({r["charging_id"] for r in failed}) == 240
    # area outage 14:00-14:30: the 14:00 report is sent once the cell is back and found (2 s), within
    # Model 2's 10 s (Beta(3, 4)); nothing in the outage; 24 reports a day still
    two = ts("2026-01-31T14:00:00")
    for line in ("S1", "S2", "S3"):
        starts = [int(r["start"].timestamp()) - two for r in per_line[line]]
        assert len(starts) == 24
        back = [s for s in starts if 0 <= s < H]
        assert len(back) == 1 and 1800 + 2 <= back[0] < 1800 + 2 + 10


def test_an_attempt_cut_at_the_periods_end_costs_what_it_sent_by_then(tmp_path: Path) -> None:
    """A failed attempt going on at the period's end is cut there (cause 20) and costs what it sent
    by then: a TCP connect its SYNs (0, 1, 3, 7 s), a CoAP exchange its transmissions (0, 2, 6, 14,
    30 s: RFC 7252's ACK_TIMEOUT of 2 s doubling).  The CoAP attempt was billed its five transmissions
    (450 B) however early it was cut."""
    got: dict[int, Counter[tuple[str, int, int, int]]] = {}
    immediate = {"policy": "immediate"}
    for extra in (1, 3, 4, 5, 7, 10):  # the period ends `extra` s after 12:00
        doc = scenario(
            f"oracle-cut-{extra}",
            3,
            {"start": "2026-01-31T00:00:00Z", "end": f"2026-01-31T12:00:{extra:02d}Z"},
            [lines("Y", 1), lines("C", 1)],
            [group("y", "mqtt-qos1", reconnect=immediate), group("c", "coap", reconnect=immediate)],
        )
        doc["events"] = {"outages": [{"kind": "server", "start": "2026-01-31T11:00:00Z", "duration": "2h"}]}
        rows = run(tmp_path, doc)
        got[extra] = Counter(
            (r["line"], r["duration_s"], r["bytes_up"], r["bytes_down"]) for r in rows if r["cause"] == 20
        )
        if extra == 5:  # the network answers each CoAP transmission "unreachable" (ICMP, 118 B)
            doc["name"], doc["groups"] = "oracle-cut-icmp", doc["groups"][1:]
            doc["events"]["outages"][0]["answer"] = "unreachable"
            rows = run(tmp_path, doc)
            cut_icmp = [(r["duration_s"], r["bytes_up"], r["bytes_down"]) for r in rows if r["cause"] == 20]
            # transmissions at 0, 2 and 6 s, cut 9 s after 11:59:56; each answered by an ICMP message
            # quoting the whole 90 B datagram: IPv4 20 + ICMP 8 + 90 = 118 B
            assert cut_icmp == [(9, 3 * 90, 3 * (20 + 8 + 90))]
    # attempts every 15 s (TCP) and 62 s (CoAP) from 11:00: the last ones start at 12:00:00 and 11:59:56
    syn, con = 52, 90
    for extra, cut in got.items():
        tcp_sent = sum(1 for t in (0, 1, 3, 7) if t < extra)
        coap_sent = sum(1 for t in (0, 2, 6, 14, 30) if t < extra + 4)
        assert cut == Counter(
            {("Y1", extra, tcp_sent * syn, 0): 1, ("C1", extra + 4, coap_sent * con, 0): 1}
        ), extra


def test_a_persistent_connection_back_from_a_server_outage_sends_its_missed_report(tmp_path: Path) -> None:
    """The report that fell due while the server was down is published once the connection is back,
    as a per-report device sends its missed report at once (docs/scenarios.md, "Outages").  It was
    lost: the reconnected device waited for its next report."""
    doc = scenario(
        "oracle-persistent-outage",
        8,
        {"start": "2026-06-10", "days": 1},
        [lines("P", 1)],
        [
            group(
                "p",
                "mqtt-qos1",
                session="persistent",
                keepalive="25min",
                reconnect={"policy": "fixed", "delay": "60s", "jitter": 0},
            )
        ],
    )
    doc["events"] = {
        "outages": [{"kind": "server", "start": "2026-06-10T05:30:00Z", "end": "2026-06-10T06:05:00Z"}]
    }
    records = by_line(run(tmp_path, doc))["P1"]
    day = ts("2026-06-10T00:00:00")
    # attempts of 15 s every 75 s from 05:30 (4 SYNs each), the one at 06:05:00 connects
    attempts = [r for r in records if r["duration_s"] == 15]
    assert [r["start"].timestamp() - day for r in attempts] == [5.5 * H + 75 * k for k in range(28)]
    assert {(r["bytes_up"], r["bytes_down"], r["cause"]) for r in attempts} == {(208, 0, 0)}
    first = [r for r in records if r["start"].timestamp() == day]
    assert [(r["duration_s"], r["cause"]) for r in first] == [(5.5 * H, 4)]  # lost at the outage's start
    # set-up 196 / 96, publish 162 / 44, ping 82 / 42 (2 an hour at 25 min; 1 in 05:00-05:30)
    assert (first[0]["bytes_up"], first[0]["bytes_down"]) == (196 + 6 * 162 + 11 * 82, 96 + 6 * 44 + 11 * 42)
    second = [r for r in records if r["start"].timestamp() >= day + 6 * H + 300]
    assert [(r["start"].timestamp() - day, r["cause"], r["sequence"]) for r in second] == [
        (6 * H + 300, 17, 1),
        (18 * H + 300, 20, 2),
    ]
    # the 06:00 report at 06:05, then 07:00 to 23:00; pings: 2 in 06:05-07:00, 2 in each hour after
    publishes, pings = 1 + 17, 2 + 17 * 2
    assert (sum(r["bytes_up"] for r in second), sum(r["bytes_down"] for r in second)) == (
        196 + publishes * 162 + pings * 82,
        96 + publishes * 44 + pings * 42,
    )


def test_a_report_cut_at_the_periods_end_carries_the_bytes_of_its_time_before_the_end(tmp_path: Path) -> None:
    """A report going on at the period's end is cut there (cause 20) and carries only the bytes of its
    time before the end: its bytes are spread over its time, as at a move's cut (docs/scenarios.md,
    "Where the numbers come from").  A TLS 1.3 report (930 / 1,660 B in 3 s) cut a second after its
    start was billed all its bytes in a 1-s record."""
    for extra in (1, 2):  # the period ends `extra` s after the 12:00 report
        doc = scenario(
            f"oracle-report-cut-{extra}",
            4,
            {"start": "2026-01-31T00:00:00Z", "end": f"2026-01-31T12:00:{extra:02d}Z"},
            [lines("T", 1), lines("M", 1)],
            [group("t", "https-tls13"), group("m", "mqtt-tls13-qos1")],
        )
        rows = run(tmp_path, doc)
        cut = sorted(
            (r["line"], r["duration_s"], r["bytes_up"], r["bytes_down"]) for r in rows if r["cause"] == 20
        )
        # HTTPS TLS 1.3: 930 up, 1,660 down in 3 s; MQTT TLS 1.3: 900 up, 1,611 down in 3 s
        assert cut == [
            ("M1", extra, 900 * extra // 3, 1611 * extra // 3),
            ("T1", extra, 930 * extra // 3, 1660 * extra // 3),
        ]
        # the reports before, whole and released
        assert {
            (r["line"], r["bytes_up"], r["bytes_down"], r["cause"]) for r in rows if r["cause"] != 20
        } == {
            ("M1", 900, 1611, 0),
            ("T1", 930, 1660, 0),
        }


def test_an_answer_to_a_command_going_on_at_the_periods_end_is_cut_there(tmp_path: Path) -> None:
    """A device answers each command (MT SMS) with a report at once: one delivered in the period's last
    seconds ran past its end, a record into the next second of the month released normally."""
    doc = scenario(
        "oracle-answer-cut",
        6,
        {"start": "2026-01-31T12:00:00Z", "end": "2026-01-31T12:10:00Z"},
        [lines("T", 12)],
        [
            group("t", "https-tls13", period="1d")
            | {"mt_sms": {"sender": "20500", "text": "LOCATE", "rate_per_day": 86400}}
        ],
    )
    rows = run(tmp_path, doc)
    end = ts("2026-01-31T12:10:00")
    assert all(r["start"].timestamp() + r["duration_s"] <= end for r in rows)
    cut = [(end - r["start"].timestamp(), r["bytes_up"], r["bytes_down"]) for r in rows if r["cause"] == 20]
    assert cut  # commands about every second: answers going on at the end on some of the 12 lines
    assert {(d, up, down) for d, up, down in cut} <= {(d, 930 * d // 3, 1660 * d // 3) for d in (1, 2)}


def test_every_move_inside_a_session_cuts_its_record(tmp_path: Path) -> None:
    """A trip to Germany that starts and ends inside one session: a report of 3 s (moves 1 and 2 s
    into it) and a CoAP reconnection attempt of 62 s (moves 4 and 34 s into it).  Each move cuts a
    record (cause 24) in the network where its bytes went, every record in the zone where the
    session was opened, its bytes shared by time (docs/scenarios.md, "Outages" and "Behaviour keys").
    The session was cut at the first move only: its second record ran on to its end in Germany."""

    def trip(start: str, end: str) -> dict[str, Any]:
        return {"trips": [{"share": 1.0, "start": start, "end": end, "plmn": "26201"}]}

    doc = scenario(
        "oracle-two-moves",
        9,
        {"start": "2026-03-10", "days": 1},
        [lines("T", 1, "europe"), lines("C", 1, "europe")],
        [
            group("t", "https-tls13", mobility=trip("2026-03-10T10:00:01Z", "2026-03-10T10:00:02Z")),
            group(
                "c",
                "coap",
                reconnect={"policy": "immediate"},
                mobility=trip("2026-03-10T10:00:00Z", "2026-03-10T10:00:30Z"),
            ),
        ],
    )
    doc["events"] = {
        "outages": [
            {
                "kind": "server",
                "start": "2026-03-10T09:00:00Z",
                "end": "2026-03-10T11:00:00Z",
                "groups": ["c"],
            }
        ]
    }
    per_line = by_line(run(tmp_path, doc))
    ten = ts("2026-03-10T10:00:00")

    def session(line: str, start: int) -> list[tuple[int, int, int, int, int, str, str]]:
        first = next(r for r in per_line[line] if r["start"].timestamp() == start)
        return [
            (
                r["sequence"],
                r["start"].timestamp() - start,
                r["duration_s"],
                r["bytes_up"],
                r["cause"],
                r["zone"],
                r["serving_plmn"],
            )
            for r in per_line[line]
            if r["session"] == first["session"]
        ]

    # the 10:00 report, 930 B up in 3 s: a third each second
    assert session("T1", ten) == [
        (1, 0, 1, 310, 24, "fr", "20801"),
        (2, 1, 1, 310, 24, "fr", "26201"),
        (3, 2, 1, 310, 0, "fr", "20801"),
    ]
    # CoAP attempts every 62 s from 09:00: the one from 09:59:56 (3,596 s) to 10:00:58; 450 B up
    assert session("C1", ten - 4) == [
        (1, 0, 4, 450 * 4 // 62, 24, "fr", "20801"),
        (2, 4, 30, 450 * 34 // 62 - 450 * 4 // 62, 24, "fr", "26201"),
        (3, 34, 28, 450 - 450 * 34 // 62, 0, "fr", "20801"),
    ]


@pytest.mark.parametrize("outage_start", ["2026-03-02T23:00:00Z", "2026-03-03T00:00:01Z"])
def test_a_line_switched_on_in_an_area_outage_attaches_once_the_cell_is_back(
    tmp_path: Path, outage_start: str
) -> None:
    """A line activated on 3 March at 00:00 UTC while its cell is out or goes out before its
    module's power-on search (2 s) ends (from 2 March 23:00 or 3 March 00:00:01, to 3 March 01:30):
    the search finds no cell, so it does not register (no attach,
    no geography alarm of its German network) and rides out the outage as a device that lost the
    cell does (docs/scenarios.md, "Lines activated during the period" and "Outages").  It attached
    at 00:00:02 all the same, the geography alarm dated there, in the outage."""
    fixed = {"policy": "fixed", "delay": "10min", "jitter": 0}
    doc = scenario(
        "oracle-on-in-outage",
        4,
        {"start": "2026-03-02", "days": 2},
        [lines("C", 1, "europe", since="2026-03-03") | {"options": ["autogestion", "autodiagnostic"]}],
        [
            group(
                "c",
                "coap",
                reconnect=fixed,
                mobility={"eu_share": 1.0, "eu_plmns": ["26201"]},
                alarms={"geography": {"countries": ["FR"]}},
            )
        ],
    )
    doc["events"] = {"outages": [{"kind": "area", "start": outage_start, "end": "2026-03-03T01:30:00Z"}]}
    result = simulate(parse_scenario(doc, "on-in-outage.yaml"), tmp_path / "on", invoice=False)
    records = [r for r in pq.read_table(result.out_dir / "usage.parquet").to_pylist() if r["type"] == "data"]
    alarms = [json.loads(line) for line in (result.out_dir / "alarms.jsonl").read_text().splitlines()]
    # the report due at 00:00, in the search, is its first try: attempts without coverage (T3310,
    # 15 s) every 15 + 600 s from 00:00:02 while the cell is out (at 00:00:02 + 615 k < 01:30: 9 of
    # them); the cell back at 01:30 (and the module registered at 01:30:02), the device attaches at
    # its next attempt, 00:00:02 + 9 * 615 = 01:32:17, and sends its missed report then
    on = ts("2026-03-03T00:00:00")
    back = on + 2 + 9 * 615
    assert min(r["start"].timestamp() for r in records) == back
    assert [(a["time"], a["rule"]) for a in alarms] == [
        (datetime.fromtimestamp(back, UTC).isoformat(), "geography")
    ]
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["retry_storm"]["attempts"] == 9
    # then one report an hour, 02:00 to 23:00
    assert len(records) == 1 + 22


@pytest.mark.parametrize("kind", ["server", "area"])
def test_an_outage_starting_inside_a_session_cut_by_a_move_ends_it_there(tmp_path: Path, kind: str) -> None:
    """The 10:00 report (HTTPS TLS 1.3, 3 s) crosses a move to Germany 1 s after its start, and an
    outage starts 2 s after it: the outage ends the session at its start, as it ends one no move
    cut (docs/scenarios.md, "Outages": every move inside a report cuts it, a decision of another
    kind ends it).  The session went on past the outage's start to its end, in Germany."""
    trip = {
        "trips": [
            {"share": 1.0, "start": "2026-03-10T10:00:01Z", "end": "2026-03-10T12:00:00Z", "plmn": "26201"}
        ]
    }
    doc = scenario(
        f"oracle-move-then-{kind}",
        9,
        {"start": "2026-03-10", "days": 1},
        [lines("T", 1, "europe"), lines("U", 1, "europe")],
        [group("t", "https-tls13", mobility=trip), group("u", "https-tls13")],
    )
    outage = {"kind": kind, "start": "2026-03-10T10:00:02Z", "end": "2026-03-10T10:30:00Z"}
    doc["events"] = {"outages": [outage]}
    per_line = by_line(run(tmp_path, doc))
    ten = ts("2026-03-10T10:00:00")
    first = next(r for r in per_line["T1"] if r["start"].timestamp() == ten)
    moved = [r for r in per_line["T1"] if r["session"] == first["session"]]
    # cut at the move (cause 24) in France, then in Germany until the outage's start, 2 s after 10:00
    assert [
        (r["sequence"], r["start"].timestamp() - ten, r["duration_s"], r["serving_plmn"]) for r in moved
    ] == [
        (1, 0, 1, "20801"),
        (2, 1, 1, "26201"),
    ]
    assert moved[0]["cause"] == 24 and {r["zone"] for r in moved} == {"fr"}
    # ended as the same report without the move ends at the outage's start
    (alone,) = [r for r in per_line["U1"] if r["start"].timestamp() == ten]
    assert alone["duration_s"] == 2
    assert moved[-1]["cause"] == alone["cause"]
    assert (sum(r["bytes_up"] for r in moved), sum(r["bytes_down"] for r in moved)) == (
        alone["bytes_up"],
        alone["bytes_down"],
    )


def test_reports_going_on_together_across_a_move_each_open_at_their_own_time(tmp_path: Path) -> None:
    """A report every second (HTTPS TLS 1.3: 3 s each) across a trip to Germany from 10:00:30 to
    10:00:45: two reports go on at each move, each cut there (cause 24) and opened at its own
    second (docs/scenarios.md, "Outages": every move inside a report cuts it).  The second of them
    was opened when the first ended, two seconds late, after the move."""
    trip = trip_to_germany("2026-03-10T10:00:30Z", "2026-03-10T10:00:45Z")
    doc = scenario(
        "oracle-moves-together",
        9,
        {"start": "2026-03-10T10:00:00Z", "end": "2026-03-10T10:01:00Z"},
        [lines("T", 1, "europe")],
        [group("t", "https-tls13", period="1s", mobility=trip)],
    )
    ten, moves, end = ts("2026-03-10T10:00:00"), (30, 45), 60
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in by_line(run(tmp_path, doc))["T1"]:
        sessions[r["session"]].append(r)
    got = sorted(
        [(r["start"].timestamp() - ten, r["duration_s"], r["cause"], r["serving_plmn"]) for r in records]
        for records in sessions.values()
    )
    expected = []
    for s in range(end):  # one report a second, of 3 s, cut at the period's end when going on then (cause 20)
        stop = min(s + 3, end)
        cuts = [s, *(m for m in moves if s < m < stop), stop]
        expected.append(
            [
                (
                    a,
                    b - a,
                    24 if b < stop else (20 if s + 3 > end else 0),
                    "26201" if 30 <= a < 45 else "20801",
                )
                for a, b in pairwise(cuts)
            ]
        )
    assert got == expected


def test_an_attempt_going_on_when_the_cell_goes_ends_there_moved_or_not(tmp_path: Path) -> None:
    """A failed reconnection attempt (MQTT: a TCP connect nobody answers, SYNs at 0, 1, 3, 7 s) going
    on when an area outage starts, 5 s into it, ends there: the network loses the radio bearer, as a
    served modem losing its coverage loses its contexts (records closed with cause 4) and sends no
    more SYNs (docs/scenarios.md, "Outages").  With no move in it, the attempt ran its 15 s and was
    billed its 4 SYNs (cause 0); cut by a move 2 s in, it ended at the outage's start already."""
    immediate = {"policy": "immediate"}
    trip = trip_to_germany("2026-01-31T12:00:02Z", "2026-01-31T13:30:00Z")
    doc = scenario(
        "oracle-attempt-cell",
        3,
        {"start": "2026-01-31T00:00:00Z", "end": "2026-01-31T14:00:00Z"},
        [lines("Y", 1, "europe"), lines("M", 1, "europe")],
        [
            group("y", "mqtt-qos1", reconnect=immediate),
            group("m", "mqtt-qos1", reconnect=immediate, mobility=trip),
        ],
    )
    doc["events"] = {
        "outages": [
            {"kind": "server", "start": "2026-01-31T11:00:00Z", "duration": "2h"},
            {"kind": "area", "start": "2026-01-31T12:00:05Z", "duration": "30min"},
        ]
    }
    noon = ts("2026-01-31T12:00:00")
    per_line = by_line(run(tmp_path, doc))
    # attempts every 15 s from 11:00: the one at 12:00:00 is going on at 12:00:05, its SYNs at 0, 1
    # and 3 s sent by then (52 B each)
    got = starting(per_line, ("Y1", "M1"), noon, 5)
    assert got["Y1"] == [(0, 5, 4, 3 * 52, 0)]
    assert [(s, d, c) for s, d, c, _, _ in got["M1"]] == [(0, 2, 24), (2, 3, 4)]
    assert sum(u for _, _, _, u, _ in got["M1"]) == 3 * 52
    # nothing else until the cell is back
    for line in ("Y1", "M1"):
        assert not [r for r in per_line[line] if noon + 5 <= r["start"].timestamp() < noon + 1805]


def test_a_report_going_on_when_the_cell_goes_ends_there_moved_or_not(tmp_path: Path) -> None:
    """The 10:00 report (HTTPS TLS 1.3: 930 / 1,660 B in 3 s) going on when an area outage starts, 2 s
    into it, is lost there with the radio bearer, as a served modem losing its coverage loses its
    contexts (records closed with cause 4) and sends nothing after (docs/scenarios.md, "Outages"):
    billed the bytes of its 2 s, its bytes spread over its time (620 / 1,106 B).  Cut by a move to
    Germany 1 s in or not, it ended there with cause 0 and all its bytes.  A server outage leaves the
    cell: the report ends at its start with its bytes, released (cause 0)."""
    trip = trip_to_germany("2026-03-10T10:00:01Z", "2026-03-10T12:00:00Z")
    doc = scenario(
        "oracle-report-cell",
        9,
        {"start": "2026-03-10", "days": 1},
        [lines("T", 1, "europe"), lines("U", 1, "europe"), lines("S", 1, "europe")],
        [group("t", "https-tls13", mobility=trip), group("u", "https-tls13"), group("s", "https-tls13")],
    )
    doc["events"] = {
        "outages": [
            {"kind": "area", "start": "2026-03-10T10:00:02Z", "duration": "30min", "groups": ["t", "u"]},
            {"kind": "server", "start": "2026-03-10T10:00:02Z", "duration": "30min", "groups": ["s"]},
        ]
    }
    ten = ts("2026-03-10T10:00:00")
    per_line = by_line(run(tmp_path, doc))
    got = starting(per_line, ("T1", "U1", "S1"), ten, 3)
    assert got["U1"] == [(0, 2, 4, 930 * 2 // 3, 1660 * 2 // 3)]
    assert [(s, d, c) for s, d, c, _, _ in got["T1"]] == [(0, 1, 24), (1, 1, 4)]
    assert (sum(r[3] for r in got["T1"]), sum(r[4] for r in got["T1"])) == (930 * 2 // 3, 1660 * 2 // 3)
    assert got["S1"] == [(0, 2, 0, 930, 1660)]
    # the reports before, whole and released
    assert {
        (r["duration_s"], r["cause"], r["bytes_up"], r["bytes_down"])
        for line in ("T1", "U1")
        for r in per_line[line]
        if r["start"].timestamp() < ten
    } == {(3, 0, 930, 1660)}
