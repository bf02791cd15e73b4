"""A bench run's data sessions become the records the operator writes: cut every 12 hours, each
record's bytes rounded up to a ko on its own, closed with the TS 32.298 causes (17 time limit,
0 normal release), by the rule the gateway writes its records with (`accounting.partial`), in the
zone of the network the modem was on when the session was opened (`accounting.zones`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accounting.partial import INTERVAL_S
from accounting.records import UsageRecord, UsageType, Zone
from accounting.wire import DEVICE, HEADER, SERVER, SYN, TcpWire, rides
from hil import run_bench
from hil.result import BenchResult
from hil.usage import (
    BenchUsage,
    DataUse,
    Exchange,
    play_exchange,
    timed_exchange,
    usage_records,
)

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
    # one connection at the session's start, then the context left idle
    use.exchanges.append(timed_exchange(10.0, [(10.5, 1460), (10.5, 1460), (10.5, 80)], [(11.0, 3000)], 12.0))
    u.data.append(use)
    first, second = usage_records(u, "L1")
    assert (second.bytes_up, second.bytes_down) == (0, 0)
    assert (first.bytes_up, first.bytes_down) == use.ip_bytes()


def test_an_echo_not_timed_is_not_taken_as_come_by_its_own_write() -> None:
    """A 100 B echo written at 10.5 s, read at 11.0 s, the device closing at 11.1 s, the far end's
    crossing not known (no round trip given): the echo came by the read, the device's delayed ACK
    of it riding on its FIN.  The device's "next write after the echo left" was its own write, the
    echo taken as come at 10.5 s and its ACK billed alone, 40 B up more."""
    steps = timed_exchange(10.0, [(10.5, 100)], [(11.0, 100)], 11.1)
    assert ("down", 100, 10.5, 11.0) in steps
    wire = play_exchange(steps)
    # SYN, ACK, the 100 B, the FIN carrying the echo's ACK, the last ACK
    assert wire.up == SYN + HEADER + (100 + HEADER) + HEADER + HEADER


def test_an_echo_on_a_stack_whose_send_waits_for_the_ack_came_before_the_next_write() -> None:
    """A SIM7000's 3 kB echo as a bench run timed it (1,460, 1,460 and 80 B, each AT+CIPSEND's SEND
    OK once the far end's ACK came back): the connect's round trip, its AT overhead included, makes
    the crossing 45 ms, longer than the 40 ms between the first two writes.  The echo of a write,
    which carried the ACK the next write waited for, came before that write and rode on its ACK:
    it was taken to leave after it, both echoes then came together and were ACKed at once (40 B
    up), the far end ACKing the second write at once too (40 B down)."""
    writes = [(0.10119, 1460), (0.14079, 1460), (0.18864, 80)]
    reads = [(0.18864, 1460), (0.18864, 1460), (0.24900, 80)]
    steps = timed_exchange(0.10116, writes, reads, 0.24920, 0.04545, acked_sends=True)
    wire = play_exchange(steps)
    # the network's: handshake, three segments each way, each echo's ACK on the next write or the
    # FIN, each write's on its echo; the FIN, the FIN-ACK, the last ACK
    assert (wire.up, wire.down) == (
        SYN + HEADER + 3 * HEADER + 3000 + 2 * HEADER,
        SYN + 3 * HEADER + 3000 + HEADER,
    )
    # a stack that does not wait (Quectel's QISEND): the crossing is the connect's, as before
    assert timed_exchange(0.10116, writes, reads, 0.24920, 0.04545)[1] == (
        "up",
        1460,
        0.10119,
        0.10119 + 0.04545,
    )


def test_a_delayed_ack_due_before_a_piece_comes_rides_on_data_that_leaves_first() -> None:
    """The far end owes the ACK of a first 100 B piece (come at 1.0 s, due at 1.2 s) when a second
    piece leaves at 1.05 s over a slow uplink (there at 1.5 s); its own 50 B leave at 1.1 s, before
    the ACK's time, and carry it, as the virtual modem counts it (`ack_before`, `rides`).  The play
    checked ahead at the second piece and billed the ACK alone, 40 B down more."""
    steps: Exchange = [
        ("open", 0, 0.0, 0.0),
        ("up", 100, 1.0, 1.0),
        ("up", 100, 1.05, 1.5),
        ("down", 50, 1.1, 1.2),
        ("close up", 0, 2.0, 2.0),
    ]
    wire = play_exchange(steps)
    # SYN-ACK, the 50 B carrying the first piece's ACK, the second's delayed ACK alone at 1.7 s, the
    # FIN-ACK
    assert wire.down == SYN + (50 + HEADER) + HEADER + HEADER
    # its data leaving after the ACK's time: the ACK went alone before it
    late = [*steps[:3], ("down", 50, 1.3, 1.4), steps[4]]
    assert play_exchange(late).down == SYN + HEADER + (50 + HEADER) + HEADER + HEADER


def test_a_delayed_ack_that_rides_leaves_nothing_owed_for_the_next_piece() -> None:
    """Two 1,460 B writes 0.3 s apart over a 0.5 s crossing, echoed: the far end's ACK of the
    first, due at 0.7 s before the second comes at 0.8 s, rides on the first echo leaving at
    0.5 s.  The play left that ACK owed, so the second piece took it past one full segment and
    was ACKed at once, 40 B down more than the network (the virtual modem's `ack_before` clears
    it): each echo carries its write's ACK, no pure ACK goes down."""
    steps = timed_exchange(0.0, [(0.0, 1460), (0.3, 1460)], [(1.0, 1460), (1.0, 1460)], 1.1, 0.5)
    wire = play_exchange(steps)
    # the device ACKs both echoes at once (two segments), then FIN, FIN-ACK, the last ACK
    assert (wire.up, wire.down) == (
        SYN + HEADER + 2 * (1460 + HEADER) + HEADER + 2 * HEADER,
        SYN + 2 * (1460 + HEADER) + HEADER,
    )
    # the virtual modem's way: the ACK taken off before the second piece, not counted (it rode)
    net = TcpWire()
    net.open()
    net.send(DEVICE, 1460, 0.0, 0.5)
    due = net.ack_before(SERVER, 0.3, 0.8)
    assert due is not None and rides(due, 0.5)
    net.down -= HEADER
    net.send(DEVICE, 1460, 0.3, 0.8)
    net.send(SERVER, 1460, 0.5, 1.0)
    net.send(SERVER, 1460, 0.8, 1.0)
    net.close(DEVICE, 1.1)
    net.tick(math.inf)
    assert (net.up, net.down) == (wire.up, wire.down)


def test_an_echo_leaving_as_its_piece_comes_carries_its_ack_whatever_the_rounding() -> None:
    """Pieces written at once over a slow uplink, each echoed the moment it comes (the echo leaves
    at the piece's arrival, 8.520389777999299 s here, as the bench's estimate plays an `nb-iot`
    10 kB echo): the far end's delayed ACK of the first, due 0.2 s after it came, rides on that
    echo, as the network bills it.  The ACK's time is kept to the microsecond (8.72039 s), so
    the echo, 0.2 microseconds before that time less the delay, was taken to leave before the
    piece came and the ACK billed alone, 40 B down more than the network (about one such time in
    two)."""
    came = 8.520389777999299
    steps: Exchange = [
        ("open", 0, 4.8, 4.8),
        ("up", 1460, 4.8, came),
        ("up", 1460, 4.801, 9.1),
        ("down", 1460, came, 12.2),
        ("down", 1460, 9.1, 13.4),
        ("close up", 0, 14.0, 14.0),
    ]
    wire = play_exchange(steps)
    # SYN-ACK, each echo carrying its piece's ACK, the FIN-ACK
    assert wire.down == SYN + 2 * (1460 + HEADER) + HEADER


def test_a_write_of_no_bytes_carries_no_delayed_ack() -> None:
    """A step of no bytes sends no segment: the device's delayed ACK of a first answer, due before
    the second crosses a slow downlink, goes alone, as without that step (it was taken to ride on
    it, 40 B up less)."""
    steps: Exchange = [
        ("open", 0, 0.0, 0.0),
        ("down", 100, 1.0, 1.0),
        ("down", 100, 1.15, 1.5),
        ("close up", 0, 3.0, 3.0),
    ]
    without = play_exchange(steps)
    assert without.up == SYN + HEADER + HEADER + HEADER + HEADER + HEADER  # two ACKs alone, FIN, last ACK
    empty = play_exchange([*steps[:3], ("up", 0, 1.18, 1.18), steps[3]])
    assert (empty.up, empty.down) == (without.up, without.down)


def test_a_short_session_is_one_record_closed_normally() -> None:
    u = BenchUsage()
    u.data.append(DataUse(WHEN, seconds=4.2, sent=500, received=400, connections=1))
    [record] = usage_records(u, "L1")
    assert (record.sequence, record.cause, record.duration_s) == (1, 0, 5)


# -- the zone: where the session was opened -------------------------------------------------------


async def _roaming_run(url: str, out: Path | None = None) -> tuple[list[UsageRecord], BenchResult]:
    result = await run_bench(
        "attach_and_send", url, params={"bytes": 3000}, offer="business-m2m", plan="forfait-2mo", out=out
    )
    assert result.status == "passed", result.error
    return _data(result.records), result


async def test_a_session_abroad_is_rated_in_the_zone_of_the_network_it_was_opened_on() -> None:
    # a French SIM in Germany: the network's records are eu, priced outside the fr bundle
    bench, result = await _roaming_run("virtual://quectel-bg96?seed=1&speed=4&plmn=26201")
    network = _data(result.network_records)
    assert [r.zone for r in bench] == [r.zone for r in network] == [Zone.EU]
    assert result.estimate is not None and result.network_estimate is not None
    assert result.estimate.usage_amount == result.network_estimate.usage_amount > 0


async def test_a_session_outside_europe_is_world() -> None:
    bench, result = await _roaming_run("virtual://simcom-sim800?seed=2&speed=4&plmn=310410")
    assert [r.zone for r in bench] == [r.zone for r in _data(result.network_records)] == [Zone.WORLD]


async def test_a_session_at_home_is_fr() -> None:
    bench, _ = await _roaming_run("virtual://quectel-bg96?seed=1&speed=4")
    assert [r.zone for r in bench] == [Zone.FR]


async def test_the_replay_of_a_run_abroad_is_rated_abroad(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    await _roaming_run("virtual://quectel-bg96?seed=1&speed=4&plmn=26201", out=tmp_path / "de")
    recorded = (tmp_path / "de" / "transcript.jsonl").read_text()
    assert '"+COPS: 0,2,\\"26201\\",8"' in recorded  # the read is in the transcript
    bench, result = await _roaming_run(f"replay://{tmp_path / 'de' / 'transcript.jsonl'}?scale=0")
    assert result.network_records is None  # a recording: the bench's own estimate alone
    assert [r.zone for r in bench] == [Zone.EU]


async def test_a_yaml_script_session_abroad(tmp_path: Path) -> None:
    script = tmp_path / "echo.yaml"
    script.write_text(LONG_SESSION.replace("sleep: 2.5", "sleep: 0"))
    result = await run_bench(str(script), "virtual://quectel-bg96?seed=1&speed=4&plmn=20601")
    assert result.status == "passed", result.error
    assert [r.zone for r in _data(result.records)] == [r.zone for r in _data(result.network_records)]
    assert {r.zone for r in _data(result.records)} == {Zone.EU}


# -- the IP bytes: the network's TCP/IP model, played with the run's exchange -------------------------


@pytest.mark.parametrize(
    ("size", "url"),
    [
        (1000, "virtual://quectel-bg96?seed=1"),
        (3000, "virtual://quectel-bg96?seed=1"),  # three writes on the far end before its first echo
        (3000, "virtual://simcom-sim800?seed=2"),  # a slow uplink: each write echoed before the next
        # SEND OK waits for the ACK: each write echoed before the next, quicker than the connect says
        (3000, "virtual://simcom-sim7000?seed=1"),
        (10000, "virtual://simcom-sim7000?seed=1"),
        (10000, "virtual://quectel-eg25?seed=2"),
    ],
)
async def test_the_estimate_counts_the_ip_bytes_the_virtual_network_counts(size: int, url: str) -> None:
    """The bench plays each connection (its opening, each write of the stack's size and each read at
    their times, the echo, its close) on `accounting.wire`, the model the virtual modem's network
    bills by: the same bytes, the delayed ACKs going as they went."""
    result = await run_bench("attach_and_send", url, params={"bytes": size})
    assert result.status == "passed", result.error
    bench, network = _data(result.records), _data(result.network_records)
    assert [(r.bytes_up, r.bytes_down) for r in bench] == [(r.bytes_up, r.bytes_down) for r in network]
    summary = result.summary()
    assert (summary["ip_bytes_up"], summary["ip_bytes_down"]) == (bench[0].bytes_up, bench[0].bytes_down)
    assert result.network_notes() == []  # nothing to explain


@pytest.mark.parametrize(
    ("size", "url", "repeats"),
    [
        # 1,460 B pieces echoed over 9.6 kbit/s: the first echo's ACK is not back within the server's
        # timeout (the handshake's round trip, at least 1 s), which sends that echo again
        (3000, "virtual://simcom-sim800?seed=2&net=gsm", True),
        # one 1,000 B piece, its echo's ACK back in time: the crossing of the write, longer than the
        # connect's round trip says, taken as the echo's too (else the echo was taken to have left
        # early and been sent again, 1,040 B down and 40 B up more than the network's bill)
        (1000, "virtual://quectel-bg96?seed=1&net=gsm", False),
    ],
)
async def test_the_estimate_counts_the_servers_repeats_over_a_slow_link_as_the_network(
    size: int, url: str, repeats: bool
) -> None:
    """Over the `gsm` link a segment crosses slower than a real server's retransmission timeout
    (RFC 6298: from the handshake's round trip, at least 1 s), as over the PPP bearer (its
    forwarder, tests/modem/test_tcp_paths_billed.py): the module stack's bill and the bench's
    estimate count that repeat alike, and the device's ACK of it (the model sent every segment
    once, 1,500 B down and 40 B up less than over PPP)."""
    result = await run_bench("attach_and_send", url, params={"bytes": size})
    assert result.status == "passed", result.error
    bench, network = _data(result.records), _data(result.network_records)
    assert [(r.bytes_up, r.bytes_down) for r in bench] == [(r.bytes_up, r.bytes_down) for r in network]
    assert result.network_notes() == []
    (record,) = network
    pieces = -(-size // 1460)  # each echoed in one segment; then the FIN-ACK
    once = SYN + size + HEADER * pieces + HEADER
    extra = record.bytes_down - once  # the server's repeats, a full segment each
    assert extra >= 1460 + HEADER if repeats else extra == 0


# -- SMS and calls: rated where they were made ---------------------------------------------------


@pytest.mark.parametrize(
    ("script", "offer", "kind"),
    [("sms_roundtrip", "business-m2m", UsageType.SMS), ("dtmf_call", "business-m2m-dtmf", UsageType.VOICE)],
)
async def test_an_sms_or_a_call_abroad_is_rated_abroad(script: str, offer: str, kind: UsageType) -> None:
    """Texting or calling France from Germany is not priced in the catalog (tariff rules): the
    estimate rejects it as the network's records are rejected, instead of pricing it as at home."""
    result = await run_bench(script, "virtual://quectel-bg96?seed=1&speed=4&plmn=26201", offer=offer)
    assert result.status == "passed", result.error
    bench = [r.zone for r in result.records if r.type is kind]
    assert result.network_records is not None
    assert bench == [r.zone for r in result.network_records if r.type is kind] == [Zone.EU]
    assert result.estimate is not None and result.network_estimate is not None
    assert result.estimate.rejects == result.network_estimate.rejects != []
    assert result.estimate.usage_amount == result.network_estimate.usage_amount == 0


def test_a_server_that_speaks_first_is_played_with_its_banner() -> None:
    """An SMTP-like server greets the device (30 B, read at 0.5 s), then echoes its 10 B write (read
    at 1.6 s): the greeting leaves as the connection is open on the server's side (one way after
    the device's connect), the device's delayed ACK of it going alone before its write; the echo
    is played as an echo, its ACK alone before the close.  Without the banner the 40 B read were
    no echo of the 10 B written: one answer taken to come by the last read."""
    steps = timed_exchange(0.0, [(1.0, 10)], [(0.5, 30), (1.6, 10)], 2.0, 0.2, banner=30)
    assert ("down", 30, 0.2, 0.5) in steps
    assert ("down", 10, 1.3, 1.6) in steps
    wire = play_exchange(steps)
    # SYN, ACK, the greeting's ACK alone, the 10 B, the echo's ACK alone, FIN, the last ACK
    assert wire.up == SYN + HEADER + HEADER + (10 + HEADER) + HEADER + HEADER + HEADER
    # SYN-ACK, the greeting, the echo carrying the write's ACK, the FIN-ACK
    assert wire.down == SYN + (30 + HEADER) + (10 + HEADER) + HEADER
    with pytest.raises(ValueError, match="a banner of 50 bytes, 40 read"):
        timed_exchange(0.0, [(1.0, 10)], [(0.5, 30), (1.6, 10)], 2.0, 0.2, banner=50)
