"""Bulk capture: whole sessions from partial records, byte-identical to the per-event path, in time order."""

from __future__ import annotations

import dataclasses
import struct
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from netparts import EPOCH
from scapy.utils import RawPcapReader

from accounting.records import UsageRecord, UsageType
from gateway.capture import CaptureError, PcapCapture, ReadReport, records_from_pcap
from gateway.capture.bulk import drive_records, plan, running_rank
from gateway.capture.order import RunWriter, merge_runs
from gateway.capture.synthetic import SyntheticSession, drive, make_sessions
from gateway.events import ContextInfo
from gateway.partial import PartialRecords, cut_sessions
from gateway.plmn import zone_of

SECRET = "bulk-secret"


def fleet(count: int, seed: int, lines: int, offset: int = 0) -> list[SyntheticSession]:
    """Synthetic sessions on whole seconds (as bulk traffic is), a third without a GTP sequence of their own."""
    out = []
    for i, s in enumerate(make_sessions(count, seed=seed, lines=lines)):
        ctx = dataclasses.replace(s.ctx, session_id=f"B{offset + i:08d}", charging_id=offset + i + 1)
        if i % 3 == 0:
            ctx = dataclasses.replace(ctx, sequence=0)  # the capture numbers its Create request
        if i % 7 == 0:
            ctx = dataclasses.replace(ctx, sgsn_address="192.0.2.77", ggsn_address="192.0.2.201")
        out.append(dataclasses.replace(s, ctx=ctx, start=float(int(s.start))))
    return out


def cut(sessions: list[SyntheticSession]) -> PartialRecords:
    return cut_sessions(
        [int(s.start) for s in sessions],
        [s.duration_s for s in sessions],
        [s.bytes_up for s in sessions],
        [s.bytes_down for s in sessions],
        abnormal=[s.abnormal for s in sessions],
    )


def timestamps(path: Path) -> list[int]:
    with RawPcapReader(str(path)) as reader:
        return [m.sec * 1_000_000 + m.usec for _d, m in reader]


def expected_records(contexts: list[ContextInfo], rec: PartialRecords) -> list[UsageRecord]:
    """The usage records the partial records stand for (independent of any capture)."""
    out = []
    for i in range(len(rec)):
        ctx = contexts[int(rec.session_index[i])]
        out.append(
            UsageRecord(
                line=ctx.line_id,
                type=UsageType.DATA,
                start=EPOCH + timedelta(seconds=int(rec.start_s[i])),
                duration_s=int(rec.duration_s[i]),
                bytes_up=int(rec.bytes_up[i]),
                bytes_down=int(rec.bytes_down[i]),
                zone=zone_of(ctx.serving_plmn),
                session=ctx.session_id,
                imsi=ctx.imsi,
                imeisv=ctx.imeisv,
                apn=ctx.apn,
                charging_id=ctx.charging_id,
                serving_plmn=ctx.serving_plmn,
                cause=int(rec.cause[i]),
                sequence=int(rec.sequence[i]),
            )
        )
    return out


def _key(r: UsageRecord) -> tuple[str, int]:
    return (r.session or "", r.sequence or 0)


def test_bulk_capture_is_byte_identical_to_the_per_event_sink(tmp_path: Path) -> None:
    sessions = fleet(150, seed=11, lines=25)
    contexts = [s.ctx for s in sessions]
    rec = cut(sessions)
    assert any(s.bytes_down >= 1 << 32 for s in sessions) and int(rec.sequence.max()) >= 3
    with PcapCapture(tmp_path / "bulk.pcap", EPOCH, SECRET) as bulk:
        written = bulk.write_sessions(contexts, rec)
    with PcapCapture(tmp_path / "events.pcap", EPOCH, SECRET) as events:
        drive(events, sessions)  # the synthetic fleet's own event player
    assert written == bulk.packets == events.packets == 8 * len(sessions) + 2 * int(np.sum(rec.cause == 17))
    assert (tmp_path / "bulk.pcap").read_bytes() == (tmp_path / "events.pcap").read_bytes()
    with PcapCapture(tmp_path / "replay.pcap", EPOCH, SECRET) as replay:
        drive_records(replay, contexts, rec)
    assert (tmp_path / "replay.pcap").read_bytes() == (tmp_path / "bulk.pcap").read_bytes()


def test_records_read_back_from_a_bulk_capture_equal_the_partial_records(tmp_path: Path) -> None:
    sessions = fleet(120, seed=4, lines=30)
    contexts = [s.ctx for s in sessions]
    rec = cut(sessions)
    with PcapCapture(tmp_path / "b.pcap", EPOCH, SECRET) as capture:
        capture.write_sessions(contexts, rec)
    report = ReadReport()
    got = list(records_from_pcap(tmp_path / "b.pcap", SECRET, report))
    assert sorted(got, key=_key) == sorted(expected_records(contexts, rec), key=_key)
    assert report.rejected == 0 and report.unanswered_requests == 0 and not report.open_sessions
    assert report.sessions == len(sessions) and report.packets == capture.packets


def test_overlapping_batches_and_small_windows_are_merged_in_time_order(tmp_path: Path) -> None:
    first = fleet(90, seed=21, lines=20)
    second = fleet(90, seed=22, lines=20, offset=1_000)  # same days: the batches overlap in time
    with PcapCapture(tmp_path / "bulk.pcap", EPOCH, SECRET) as bulk:
        bulk.write_sessions([s.ctx for s in first], cut(first), window_events=7)
        bulk.write_sessions([s.ctx for s in second], cut(second), window_events=50)
    ts = timestamps(tmp_path / "bulk.pcap")
    assert len(ts) == bulk.packets and ts == sorted(ts)
    # the per-event sink given the same calls, batch after batch, with a horizon covering them: same bytes
    with PcapCapture(tmp_path / "events.pcap", EPOCH, SECRET, reorder_horizon_s=1e7) as events:
        drive_records(events, [s.ctx for s in first], cut(first))
        drive_records(events, [s.ctx for s in second], cut(second))
    assert events.late_packets == 0
    assert (tmp_path / "bulk.pcap").read_bytes() == (tmp_path / "events.pcap").read_bytes()
    got = list(records_from_pcap(tmp_path / "bulk.pcap", SECRET))
    want = expected_records([s.ctx for s in first], cut(first))
    want += expected_records([s.ctx for s in second], cut(second))
    assert sorted(got, key=_key) == sorted(want, key=_key)


def test_per_event_packets_and_bulk_runs_share_one_time_ordered_file(tmp_path: Path) -> None:
    sessions = fleet(40, seed=8, lines=10)
    per_event, bulk = sessions[:15], sessions[15:]
    with PcapCapture(tmp_path / "mixed.pcap", EPOCH, SECRET) as capture:
        drive(capture, per_event)
        capture.write_sessions([s.ctx for s in bulk], cut(bulk))
    ts = timestamps(tmp_path / "mixed.pcap")
    assert len(ts) == capture.packets and ts == sorted(ts)
    got = list(records_from_pcap(tmp_path / "mixed.pcap", SECRET))
    want = expected_records([s.ctx for s in sessions], cut(sessions))
    assert sorted(got, key=_key) == sorted(want, key=_key)


def test_per_event_reorder_buffer_sorts_within_its_horizon(tmp_path: Path) -> None:
    s = fleet(3, seed=3, lines=3)
    a, b, c = s[0].ctx, s[1].ctx, s[2].ctx
    with PcapCapture(tmp_path / "r.pcap", EPOCH, SECRET, reorder_horizon_s=100.0) as capture:
        capture.pdp_create(1_000.0, a, 128)
        capture.acct_start(1_000.0, a)
        capture.pdp_create(1_050.0, b, 128)
        capture.acct_start(1_050.0, b)
        capture.user_packets(1_060.0, b, 10, 10)
        capture.acct_interim(1_020.0, a, 10, 20, 20)  # reported lazily, dated back 40 s: within the horizon
        capture.pdp_create(1_070.0, c, 128)
        capture.acct_stop(1_070.0, a, 30, 40, 70, 0)
        capture.pdp_delete(1_070.0, a)
    ts = timestamps(tmp_path / "r.pcap")
    assert capture.late_packets == 0 and len(ts) == capture.packets == 16
    assert ts == sorted(ts)
    report = ReadReport()
    got = list(records_from_pcap(tmp_path / "r.pcap", SECRET, report))
    assert [(r.session, r.sequence, r.bytes_up) for r in got] == [
        (a.session_id, 1, 10),
        (a.session_id, 2, 20),
    ]
    assert report.rejected == 0


def test_packets_later_than_the_horizon_are_written_and_counted(tmp_path: Path) -> None:
    ctx = fleet(1, seed=3, lines=1)[0].ctx
    with PcapCapture(tmp_path / "z.pcap", EPOCH, SECRET, reorder_horizon_s=0.0, reorder_limit=1) as capture:
        capture.pdp_create(2.0, ctx, 128)  # request 2.000 s and response 2.002 s: written at once
        capture.acct_start(2.0, ctx)  # 2.000 s and 2.001 s: later than the horizon allows
    assert capture.late_packets == 2 and capture.packets == 4
    ts = timestamps(tmp_path / "z.pcap")
    assert [t - ts[0] for t in ts] == [0, 2_000, 0, 1_000]
    with pytest.raises(CaptureError, match="reorder"):
        PcapCapture(tmp_path / "bad.pcap", EPOCH, SECRET, reorder_horizon_s=-1.0)


def test_unencodable_sessions_are_skipped_whole_and_counted(tmp_path: Path) -> None:
    sessions = fleet(6, seed=5, lines=6)
    contexts = [s.ctx for s in sessions]
    contexts[2] = dataclasses.replace(contexts[2], imsi="20801ABC")
    contexts[4] = dataclasses.replace(contexts[4], ip_address="10.0.0")
    rec = cut(sessions)
    with PcapCapture(tmp_path / "s.pcap", EPOCH, SECRET) as capture:
        capture.write_sessions(contexts, rec)
    assert capture.skipped == {"session": 2}
    assert any("IMSI" in e for e in capture.skipped_examples)
    assert any("Framed-IP-Address" in e for e in capture.skipped_examples)
    got = {r.session for r in records_from_pcap(tmp_path / "s.pcap", SECRET)}
    assert got == {c.session_id for i, c in enumerate(contexts) if i not in (2, 4)}


def _records(**changes: list[int]) -> PartialRecords:
    base = {
        "session_index": [0, 0, 1],
        "start_s": [0, 43_200, 10],
        "duration_s": [43_200, 100, 5],
        "bytes_up": [1, 2, 3],
        "bytes_down": [4, 5, 6],
        "sequence": [1, 2, 1],
        "cause": [17, 0, 4],
    }
    base.update(changes)
    return PartialRecords(**{k: np.array(v, dtype=np.int64) for k, v in base.items()})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"session_index": [0, 0, 2]}, "row 2: session_index 2 has no context"),
        ({"sequence": [1, 3, 1]}, "row 1: sequence 3 breaks"),
        ({"start_s": [0, 43_000, 10]}, "row 1: start_s 43000 is not the end"),
        ({"bytes_up": [1, -2, 3]}, "row 1: bytes_up -2 is negative"),
        ({"session_index": [0, 1, 0], "sequence": [1, 1, 1]}, "not contiguous"),
    ],
)
def test_malformed_records_raise_a_typed_error_naming_the_row(
    tmp_path: Path, changes: dict[str, list[int]], message: str
) -> None:
    contexts = [s.ctx for s in fleet(2, seed=1, lines=2)]
    with PcapCapture(tmp_path / "m.pcap", EPOCH, SECRET) as capture:
        with pytest.raises(CaptureError, match=message):
            capture.write_sessions(contexts, _records(**changes))
        assert capture.write_sessions(contexts, _records()) == 4 + 2 + 4 + 4 + 4


def test_event_plan_orders_by_time_then_kind_then_session() -> None:
    p = plan(_records(start_s=[0, 43_200, 43_200], duration_s=[43_200, 100, 0]), 2)
    assert p.time_s.tolist() == [0, 43_200, 43_200, 43_200, 43_300]
    assert p.kind.tolist() == [0, 0, 1, 2, 2]  # open < interim < close at the same second
    assert p.session.tolist() == [0, 1, 0, 1, 0]
    assert p.cum_up.tolist() == [1, 3, 3] and p.session_time.tolist() == [43_200, 43_300, 0]
    assert running_rank(np.array([5, 2, 5, 5, 2], dtype=np.int64)).tolist() == [0, 0, 1, 2, 1]


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_merge_of_runs_is_stable_and_bounded_by_its_chunk(tmp_path: Path, chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    runs = []
    want: list[tuple[int, int, bytes]] = []
    for r in range(4):
        ts = np.sort(rng.integers(0, 50, size=40)).astype(np.int64)
        records = [
            struct.pack("<IIII", 0, int(t), 2 + r, 2 + r) + bytes((r, i)) + bytes(r) for i, t in enumerate(ts)
        ]
        run = RunWriter(tmp_path / f"{r}.data", tmp_path / f"{r}.index")
        run.write(b"".join(records), ts, np.array([len(x) for x in records], dtype=np.int64))
        run.close()
        runs.append((run.data_path, run.index_path, 0))
        want += [(int(t), r, x) for t, x in zip(ts.tolist(), records, strict=True)]
    out: list[bytes] = []
    assert merge_runs(runs, out.append, chunk=chunk) == 160
    assert b"".join(out) == b"".join(x for _t, _r, x in sorted(want, key=lambda w: (w[0], w[1])))


def test_a_burst_at_one_second_turns_through_client_ports_and_reads_back_clean(tmp_path: Path) -> None:
    sessions = [dataclasses.replace(s, start=500.0) for s in fleet(300, seed=6, lines=300)]
    sessions = [
        dataclasses.replace(s, ctx=dataclasses.replace(s.ctx, ggsn_address="192.0.2.200")) for s in sessions
    ]
    contexts = [s.ctx for s in sessions]
    with PcapCapture(tmp_path / "burst.pcap", EPOCH, SECRET) as bulk:
        bulk.write_sessions(contexts, cut(sessions))
    with PcapCapture(tmp_path / "events.pcap", EPOCH, SECRET) as events:
        drive(events, sessions)
    assert (tmp_path / "burst.pcap").read_bytes() == (tmp_path / "events.pcap").read_bytes()
    with RawPcapReader(str(tmp_path / "burst.pcap")) as reader:
        starts = [bytes(d) for d, _m in reader if bytes(d)[36:38] == b"\x07\x15" and bytes(d)[42] == 4]
    ports = [struct.unpack_from("!H", d, 34)[0] for d in starts[:300]]
    assert ports[:256] == [32_768] * 256 and ports[256:] == [32_769] * 44  # 257th request: next client port
    report = ReadReport()
    got = list(records_from_pcap(tmp_path / "burst.pcap", SECRET, report))
    assert report.rejected == 0 and report.unanswered_requests == 0
    assert sorted(got, key=_key) == sorted(expected_records(contexts, cut(sessions)), key=_key)
