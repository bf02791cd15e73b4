"""A long context's scans: the probes arrive along its life, and each of its records carries those
of its span (`gateway.scans`): one Poisson count per record, over its span, from the line's stream,
in the order the records close.  A context's probes all came in its last record before."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from netparts import IMEISV, RecordSink
from scapy.utils import RawPcapReader

from accounting.records import ClosingCause
from gateway.api import ContextScans, PcapCapture, ScanSetting, Subscriber, build_network, move_to, scan_rng
from gateway.network import Network
from gateway.partial import INTERVAL_S
from gateway.wire import HEADER, SYN

RATE = 30.0  # probes an hour
SEED = 11


def expected_probes(line: str, spans: list[int]) -> list[int]:
    """The rule: a Poisson count of each record's span (the first at least a second), in order."""
    rng = scan_rng(SEED, line)
    return [int(rng.poisson(RATE * (max(d, 1) if k == 0 else d) / 3600.0)) for k, d in enumerate(spans)]


def served(epoch: datetime) -> tuple[Network, RecordSink]:
    """A served network (as `m2msim modem serve --scenario` builds it) scanning its public APN."""
    sink = RecordSink()
    net = build_network(epoch, sink, SEED, scans={"orange.m2m": ScanSetting(RATE)})
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
    assert net.attach(0, "L1", IMEISV, "20801").accepted
    return net, sink  # type: ignore[return-value]


def test_each_record_of_a_long_context_carries_the_probes_of_its_span() -> None:
    """A context over the end of March, three days: its records in March carry the probes that
    arrived in March, billed in March (all came in its last record, in April, before)."""
    epoch = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    net, sink = served(epoch)
    s = net.open_session(100, "L1", "orange.m2m")
    assert s.session_id
    for t in range(3_700, 3 * 86_400, 3_600):  # the device's own traffic: none, each hour
        net.transfer(t, s.session_id, 0, 0)
    net.close_session(3 * 86_400, s.session_id)
    records = sink.records
    assert len(records) == 6 and [r.cause for r in records] == [int(ClosingCause.TIME_LIMIT)] * 5 + [0]
    assert [r.duration_s for r in records] == [INTERVAL_S] * 5 + [3 * 86_400 - 100 - 5 * INTERVAL_S]
    probes = expected_probes("L1", [r.duration_s for r in records])
    assert [(r.bytes_down, r.bytes_up) for r in records] == [(n * SYN, n * HEADER) for n in probes]
    assert net.counters["scan-packets"] == sum(probes) and all(probes[:-1])
    march = [r for r in records if r.start.month == 3]  # (billed in March)
    assert len(march) == 4 and sum(r.bytes_down for r in march) == SYN * sum(probes[:4]) > 0


def test_a_move_closes_a_record_with_the_probes_of_its_span() -> None:
    """A routing area update cuts the context's record (cause 24): that record's probes are its
    own, the rest go on in the records after it."""
    net, sink = served(datetime(2026, 3, 2, tzinfo=UTC))
    s = net.open_session(0, "L1", "orange.m2m")
    assert s.session_id
    move_to(net, 30_000, "L1", IMEISV, "20610", attached=True)  # abroad: the context goes on
    net.close_session(60_000, s.session_id)
    spans = [r.duration_s for r in sink.records]
    assert spans == [30_000, INTERVAL_S - 30_000, 60_000 - INTERVAL_S]
    probes = expected_probes("L1", spans)
    assert [r.bytes_down for r in sink.records] == [n * SYN for n in probes]


def test_a_caller_s_scans_are_drawn_from_its_stream_for_each_record() -> None:
    """The simulator's persistent connection: its context scanned with the scenario's setting, from
    the device's stream (`ContextScans`), on a network that scans nothing itself."""
    sink = RecordSink()
    net = build_network(datetime(2026, 3, 2, tzinfo=UTC), sink, 0)
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
    assert net.attach(0, "L1", IMEISV, "20801").accepted
    made: list[np.random.Generator] = []

    def stream() -> np.random.Generator:
        made.append(scan_rng(SEED, "L1"))
        return made[-1]

    s = net.open_session(
        0, "L1", "orange.m2m", scan=ContextScans(ScanSetting(RATE), lambda: made[0] if made else stream())
    )
    assert s.session_id
    net.transfer(100_000, s.session_id, 1_000, 0)
    net.flush(100_000)
    spans = [r.duration_s for r in sink.records]
    probes = expected_probes("L1", spans)
    assert len(made) == 1 and len(spans) == 3
    assert [r.bytes_up for r in sink.records] == [
        n * HEADER + share for n, share in zip(probes, (432, 432, 136), strict=True)
    ]


def test_a_capture_dates_each_probe_in_the_span_of_the_record_that_counts_it(tmp_path: Path) -> None:
    """A context of three days whose records close together at its end (no traffic of its own
    before): with the capture sampling every modelled packet, its probes were written at the
    context's end, lumped with the chunk's volume, days after the Interim-Updates that counted
    them.  Each probe is now a SYN and its reset at a time of its own, in the span of its record."""
    epoch = datetime(2026, 3, 2, tzinfo=UTC)
    sink = RecordSink()
    path = tmp_path / "scans.pcap"
    with PcapCapture(path, epoch, gtpu_sample_rate=1.0, seed=3) as capture:
        net = build_network(epoch, sink, SEED, capture=capture, scans={"orange.m2m": ScanSetting(RATE)})
        net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
        assert net.attach(0, "L1", IMEISV, "20801").accepted
        s = net.open_session(100, "L1", "orange.m2m")
        assert s.session_id
        net.close_session(3 * 86_400, s.session_id)
    records = sink.records
    assert len(records) == 6
    probes = expected_probes("L1", [r.duration_s for r in records])
    with RawPcapReader(str(path)) as reader:
        gpdus = [
            (meta.sec + meta.usec / 1e6, struct.unpack_from("!H", data, 42 + 8 + 2)[0])
            for data, meta in reader
            if struct.unpack_from("!H", data, 36)[0] == 2152  # (GTP-U)
        ]
    syns = [t for t, size in gpdus if size == SYN]
    assert len(syns) == sum(probes) and sorted(t for t, size in gpdus if size == HEADER) == sorted(syns)
    for r, n in zip(records, probes, strict=True):
        start = r.start.timestamp()
        inside = [t for t in syns if start <= t <= start + r.duration_s]
        assert len(inside) == n, r
        assert len(set(inside)) > n // 2  # (each at its own time, not all at one)
