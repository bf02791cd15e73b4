"""A bench run's data sessions become the records the operator writes: cut every 12 hours, each
record's bytes rounded up to a ko on its own, closed with the TS 32.298 causes (17 time limit,
0 normal release), by the rule the gateway writes its records with (`accounting.partial`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from accounting.partial import INTERVAL_S
from accounting.records import UsageRecord, UsageType
from hil import run_bench
from hil.usage import BenchUsage, DataUse, usage_records

WHEN = datetime(2026, 3, 10, 9, 30, 15, tzinfo=UTC)

# two echoes half a day apart in one PDP context: at speed 20,000 the sleep is about 14 hours of the
# modem's (and its network's) time
LONG_SESSION = """\
name: long_session
steps:
  - register: {timeout: 60}
  - attach: {apn: orange.m2m.spec}
  - name: first
    socket: {host: tcpbin.com, port: 4242, send: "hello from the bench", expect: "hello from the bench"}
  - sleep: 2.5
  - name: second
    socket: {host: tcpbin.com, port: 4242, send: "hello again", expect: "hello again"}
  - detach: {}
"""


def _data(records: list[UsageRecord] | None) -> list[UsageRecord]:
    assert records is not None
    return [r for r in records if r.type is UsageType.DATA]


def _ko(r: UsageRecord) -> int:
    return math.ceil((r.bytes_up + r.bytes_down) / 1024)


async def test_a_long_session_is_cut_as_the_virtual_network_cuts_it(tmp_path: Path) -> None:
    script = tmp_path / "long_session.yaml"
    script.write_text(LONG_SESSION)
    result = await run_bench(
        str(script), "virtual://quectel-bg96?seed=1&speed=20000", offer="business-m2m", plan="compteur"
    )
    assert result.status == "passed", result.error
    bench, network = _data(result.records), _data(result.network_records)
    assert len(network) == 2  # the network's own cut, the reference
    assert (
        [(r.sequence, r.cause) for r in bench]
        == [(r.sequence, r.cause) for r in network]
        == [(1, 17), (2, 0)]
    )
    assert bench[0].duration_s == network[0].duration_s == INTERVAL_S
    assert [_ko(r) for r in bench] == [_ko(r) for r in network] == [1, 1]  # not 1 ko for the whole session
    assert result.estimate is not None and result.network_estimate is not None
    assert result.estimate.usage_amount == result.network_estimate.usage_amount


def test_records_of_a_session_over_12_hours_are_rounded_each() -> None:
    u = BenchUsage()
    u.data.append(DataUse(WHEN, seconds=13 * 3600.0, sent=300, received=300, connections=1))
    records = usage_records(u, "L1")
    assert [(r.sequence, r.cause, r.duration_s) for r in records] == [(1, 17, INTERVAL_S), (2, 0, 3600)]
    up, down = u.data[0].ip_bytes()
    assert sum(r.bytes_up for r in records) == up and sum(r.bytes_down for r in records) == down
    assert records[1].start == WHEN.replace(hour=21)  # 12 hours after the session's start
    assert [_ko(r) for r in records] == [1, 1]


def test_bytes_fall_in_the_record_of_the_seconds_they_were_carried() -> None:
    u = BenchUsage()
    use = DataUse(WHEN, seconds=13 * 3600.0, sent=3000, received=3000, connections=1)
    use.carry(10.0, 12.0)  # one connection at the session's start, then the context left idle
    u.data.append(use)
    first, second = usage_records(u, "L1")
    assert (second.bytes_up, second.bytes_down) == (0, 0)
    assert (first.bytes_up, first.bytes_down) == use.ip_bytes()


def test_a_short_session_is_one_record_closed_normally() -> None:
    u = BenchUsage()
    u.data.append(DataUse(WHEN, seconds=4.2, sent=500, received=400, connections=1))
    [record] = usage_records(u, "L1")
    assert (record.sequence, record.cause, record.duration_s) == (1, 0, 5)
