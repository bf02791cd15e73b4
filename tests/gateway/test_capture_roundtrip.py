"""Capture -> records: the usage records rebuilt from a capture equal those the events described."""

from __future__ import annotations

import dataclasses
import struct
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from netparts import EPOCH
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, RawPcapReader

from accounting.records import UsageRecord, UsageType
from gateway.api import GtpCause, Subscriber
from gateway.capture import PcapCapture, ReadReport, records_from_pcap
from gateway.capture.frames import PcapStream, UdpFlow
from gateway.capture.synthetic import INTERVAL_S, SyntheticSession, drive, make_sessions
from gateway.network import Network, NetworkConfig
from gateway.plmn import zone_of

SECRET = "round-trip-secret"


def expected_records(sessions: list[SyntheticSession]) -> list[UsageRecord]:
    """The records a session list stands for, computed from the specs (not from any capture)."""
    out: list[tuple[float, int, UsageRecord]] = []
    for s in sessions:
        ctx = s.ctx
        start_s = int(s.start)  # Event-Timestamp: whole seconds
        bounds = [0, *s.cuts(), s.duration_s]
        for k in range(1, len(bounds)):
            lo, hi = bounds[k - 1], bounds[k]
            up_lo, down_lo = s.cumulative(lo) if lo else (0, 0)
            up_hi, down_hi = s.cumulative(hi)
            last = k == len(bounds) - 1
            record = UsageRecord(
                line=ctx.line_id,
                type=UsageType.DATA,
                start=EPOCH + timedelta(seconds=start_s + lo),
                duration_s=hi - lo,
                bytes_up=up_hi - up_lo,
                bytes_down=down_hi - down_lo,
                zone=zone_of(ctx.serving_plmn),
                session=ctx.session_id,
                imsi=ctx.imsi,
                imeisv=ctx.imeisv,
                apn=ctx.apn,
                charging_id=ctx.charging_id,
                serving_plmn=ctx.serving_plmn,
                cause=s.cause if last else 17,
                sequence=k,
            )
            out.append((s.start + hi, 2 if last else 1, record))
    return [r for _t, _o, r in sorted(out, key=lambda x: (x[0], x[1], x[2].session or ""))]


def write_capture(path: Path, sessions: list[SyntheticSession], **options: object) -> PcapCapture:
    with PcapCapture(path, EPOCH, SECRET, **options) as capture:  # type: ignore[arg-type]
        drive(capture, sessions)
    return capture


def test_records_from_capture_equal_the_sessions_fed(tmp_path: Path) -> None:
    sessions = make_sessions(80, seed=5, lines=30)
    assert any(s.bytes_down >= 1 << 32 for s in sessions)  # gigawords are exercised
    assert any(len(s.cuts()) >= 2 for s in sessions) and any(s.abnormal for s in sessions)
    capture = write_capture(tmp_path / "run.pcap", sessions, gtpu_sample_rate=1e-4, seed=3)
    assert capture.open_contexts == 0 and not capture.skipped
    report = ReadReport()
    got = list(records_from_pcap(tmp_path / "run.pcap", SECRET, report))
    want = expected_records(sessions)
    assert sorted(got, key=_key) == sorted(want, key=_key)
    assert report.rejected == 0 and report.records == len(want) and report.sessions == 80
    assert report.unanswered_requests == 0 and not report.open_sessions
    assert report.packets == capture.packets


def _key(r: UsageRecord) -> tuple[str, int]:
    return (r.session or "", r.sequence or 0)


def test_same_inputs_give_a_byte_identical_capture(tmp_path: Path) -> None:
    sessions = make_sessions(20, seed=9)
    write_capture(tmp_path / "a.pcap", sessions, gtpu_sample_rate=2e-4, seed=4)
    write_capture(tmp_path / "b.pcap", sessions, gtpu_sample_rate=2e-4, seed=4)
    write_capture(tmp_path / "c.pcap", sessions, gtpu_sample_rate=2e-4, seed=5)
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.pcap", "b.pcap", "c.pcap"))
    assert a == b
    assert a != c  # the GTP-U sample follows the seed


def test_pcap_timestamps_are_epoch_plus_simulated_time(tmp_path: Path) -> None:
    sessions = make_sessions(1, seed=2)
    write_capture(tmp_path / "one.pcap", sessions)
    with RawPcapReader(str(tmp_path / "one.pcap")) as reader:
        first_data, first = next(iter(reader))
    expected_us = round((EPOCH.timestamp() + sessions[0].start) * 1_000_000)
    assert first.sec * 1_000_000 + first.usec == expected_us
    assert first_data[42:44] == b"\x32\x10"  # GTPv1-C Create PDP Context Request comes first


def test_sampled_gtpu_packets_carry_inner_ipv4(tmp_path: Path) -> None:
    ctx = make_sessions(1, seed=2)[0].ctx
    with PcapCapture(tmp_path / "u.pcap", EPOCH, SECRET, gtpu_sample_rate=1.0, mtu=500) as capture:
        capture.pdp_create(1.0, ctx, 128)
        capture.user_packets(2.0, ctx, 1_200, 100)
    assert capture.user_packets_sampled == 4  # 500 + 500 + 200 up, 100 down
    with RawPcapReader(str(tmp_path / "u.pcap")) as reader:
        frames = [bytes(data) for data, _meta in reader][2:]
    sizes = []
    for frame in frames:
        assert struct.unpack_from("!H", frame, 36)[0] == 2152  # UDP destination port GTP-U
        assert frame[42] == 0x30 and frame[43] == 0xFF  # G-PDU
        inner = frame[50:]
        assert inner[0] == 0x45 and struct.unpack_from("!H", inner, 2)[0] == len(inner)
        sizes.append(len(inner))
    assert sizes == [500, 500, 200, 100]


def test_refused_and_unencodable_contexts_are_counted_not_raised(tmp_path: Path) -> None:
    ctx = make_sessions(1, seed=2)[0].ctx
    bad = dataclasses.replace(ctx, imsi="20801ABC", session_id="S-bad")
    with PcapCapture(tmp_path / "r.pcap", EPOCH, SECRET) as capture:
        capture.pdp_create(1.0, ctx, int(GtpCause.MISSING_OR_UNKNOWN_APN))
        capture.pdp_create(2.0, bad, 128)
        capture.acct_start(2.0, bad)
    assert capture.packets == 2 and capture.open_contexts == 0
    assert capture.skipped == {"Create PDP Context": 1, "Accounting Start": 1}
    assert all("S-bad" in example and "IMSI" in example for example in capture.skipped_examples)
    with RawPcapReader(str(tmp_path / "r.pcap")) as reader:
        response = [bytes(d) for d, _m in reader][1]
    assert response[43] == 17 and response[54:56] == b"\x01\xdb"  # Create Response, Cause 219


def test_simulated_run_capture_gives_the_gateway_records(tmp_path: Path) -> None:
    """End to end: records the Network wrote == records_from_pcap of its capture."""
    written: list[UsageRecord] = []

    class Records:
        def write(self, record: UsageRecord) -> None:
            written.append(record)

    path = tmp_path / "net.pcap"
    with PcapCapture(path, EPOCH, SECRET, gtpu_sample_rate=1e-3, seed=1) as capture:
        net = Network(NetworkConfig(epoch=EPOCH, seed=7), Records(), capture=capture)
        plmns = ["20801", "20610", "310260", "22801"]
        for i in range(8):
            net.register_subscriber(
                Subscriber(f"M{i:04d}", f"2080100000{i:05d}", f"3361000{i:04d}", "business-m2m")
            )
            net.attach(10.0 + i, f"M{i:04d}", f"35349006000{i:03d}01", plmns[i % 4], rat="utran")
        sids = []
        for i in range(8):
            apn = "orange.m2m" if i % 2 else "orange.m2m.spec"
            result = net.open_session(100.5 + i, f"M{i:04d}", apn)
            assert result.accepted and result.session_id is not None
            sids.append(result.session_id)
        refused = net.open_session(200.0, "M0000", "no.such.apn")
        assert not refused.accepted
        assert net.open_session(201.0, "M0001", "m2m.unknown").cause == GtpCause.MISSING_OR_UNKNOWN_APN
        for step in range(1, 6):
            for i, sid in enumerate(sids):
                net.transfer(
                    step * 20_000.25 + i, sid, 1_000 * step + i, (3 << 32) if i == 3 and step == 2 else 77
                )
        net.close_session(120_000.0, sids[0], abnormal=True)
        net.flush(130_000.0)
    assert len(written) > len(sids)
    assert not capture.skipped  # refusals too are written (Create Request + Response with the cause)
    report = ReadReport()
    rebuilt = list(records_from_pcap(path, SECRET, report))
    assert report.rejected == 0 and not report.open_sessions
    assert sorted(rebuilt, key=_key) == sorted(written, key=_key)


def test_bad_packets_are_reported_never_raised(tmp_path: Path) -> None:
    sessions = make_sessions(3, seed=2)
    good = tmp_path / "good.pcap"
    write_capture(good, sessions)
    with RawPcapReader(str(good)) as reader:
        packets = [(bytes(d), m.sec * 1_000_000 + m.usec) for d, m in reader]
    out = tmp_path / "bad.pcap"
    flow = UdpFlow("192.0.2.200", "192.0.2.10", 32_768, 1813)
    with out.open("wb") as f:
        stream = PcapStream(f)
        first_request = next(i for i, (data, _ts) in enumerate(packets) if data[42] == 4)
        for i, (data, ts) in enumerate(packets):
            if i == first_request:  # first Accounting-Request (Start): altered -> bad authenticator
                data = data[:-1] + bytes((data[-1] ^ 1,))
            stream.write(ts, data[:42], data[42:])
        stream.write(packets[-1][1], flow.headers(1, 10), b"\x04\x01\x00\x40" + bytes(6))  # truncated
        stream.write(packets[-1][1], b"\x00" * 10, b"")  # runt frame
    report = ReadReport()
    got = list(records_from_pcap(out, SECRET, report))
    first_session = sessions[0].ctx.session_id
    assert report.reasons["bad Request Authenticator"] == 1
    assert report.reasons["truncated RADIUS message"] == 1
    assert report.reasons["truncated frame"] == 1
    # The first session lost its Start: it is joined at its first Interim-Update (the baseline), or,
    # with no Interim, its Stop is a reject; its later records come with no sequence.
    joined = [j["session"] for j in report.joined]
    assert joined == [first_session] or report.reasons["Stop of a session never seen before"] == 1
    expected = expected_records(sessions)
    want = [r for r in expected if r.session != first_session] + [
        dataclasses.replace(r, sequence=None)
        for r in expected
        if r.session == first_session and r.sequence is not None and r.sequence >= 2
    ]
    assert sorted(got, key=_key) == sorted(want, key=_key)
    assert all(reject.packet > 0 and reject.reason for reject in report.rejects)


def test_wrong_secret_rejects_every_request(tmp_path: Path) -> None:
    sessions = make_sessions(2, seed=2)
    write_capture(tmp_path / "s.pcap", sessions)
    report = ReadReport()
    assert list(records_from_pcap(tmp_path / "s.pcap", "not-the-secret", report)) == []
    assert report.reasons["bad Request Authenticator"] == report.accounting_requests > 0


@pytest.mark.parametrize("offset", [0, INTERVAL_S - 1])
def test_session_shorter_than_the_interval_gives_one_record(tmp_path: Path, offset: int) -> None:
    base = make_sessions(1, seed=2)[0]
    session = SyntheticSession(base.ctx, 1_000.0, max(offset, 1), 123, 456)
    write_capture(tmp_path / "x.pcap", [session])
    got = list(records_from_pcap(tmp_path / "x.pcap", SECRET))
    assert len(got) == 1 and got[0].bytes_up == 123 and got[0].bytes_down == 456 and got[0].cause == 0


def test_pcapng_capture_gives_the_same_records(tmp_path: Path) -> None:
    sessions = make_sessions(4, seed=6)
    write_capture(tmp_path / "a.pcap", sessions)
    writer = PcapNgWriter(str(tmp_path / "a.pcapng"))
    with RawPcapReader(str(tmp_path / "a.pcap")) as reader:
        for data, meta in reader:
            packet = Ether(data)
            packet.time = Decimal(meta.sec) + Decimal(meta.usec) / 1_000_000
            writer.write(packet)
    writer.close()
    report = ReadReport()
    assert list(records_from_pcap(tmp_path / "a.pcapng", SECRET, report)) == list(
        records_from_pcap(tmp_path / "a.pcap", SECRET)
    )
    assert report.rejected == 0 and report.records == len(expected_records(sessions))


@pytest.mark.parametrize(("closing", "read_back"), [(0, 0), (4, 4), (17, 17), (20, 20), (16, 4)])
def test_stop_cause_travels_as_acct_terminate_cause(tmp_path: Path, closing: int, read_back: int) -> None:
    ctx = make_sessions(1, seed=2)[0].ctx
    with PcapCapture(tmp_path / "c.pcap", EPOCH, SECRET) as capture:
        capture.pdp_create(0.0, ctx, 128)
        capture.acct_start(0.0, ctx)
        capture.acct_stop(60.0, ctx, 10, 20, 60, closing)
        capture.pdp_delete(60.0, ctx)
    (record,) = list(records_from_pcap(tmp_path / "c.pcap", SECRET))
    assert record.cause == read_back and record.duration_s == 60 and record.sequence == 1


def test_raw_ip_link_type_is_read(tmp_path: Path) -> None:
    sessions = make_sessions(3, seed=8)
    write_capture(tmp_path / "eth.pcap", sessions)
    with RawPcapReader(str(tmp_path / "eth.pcap")) as reader, (tmp_path / "raw.pcap").open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65_535, 101))  # LINKTYPE_RAW
        for data, meta in reader:
            ip = bytes(data)[14:]
            out.write(struct.pack("<IIII", meta.sec, meta.usec, len(ip), len(ip)) + ip)
    assert list(records_from_pcap(tmp_path / "raw.pcap", SECRET)) == list(
        records_from_pcap(tmp_path / "eth.pcap", SECRET)
    )
