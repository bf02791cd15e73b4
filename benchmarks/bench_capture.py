"""Capture speed: packets written from byte templates vs scapy building them; records read back.

Figures printed:
- bulk: a synthetic fleet's sessions, cut into 12-hour records, written with `PcapCapture.write_sessions`
  (one batch, and four overlapping batches merged at close), vs the same sessions' events through the
  per-event sink, in the same run: medians of several runs, wall clock and process CPU;
- sink: a synthetic fleet's GTP-C + RADIUS (+ sampled GTP-U) events through `PcapCapture`, packets/s;
- template paths alone (RADIUS Interim-Update, GTP-U G-PDU), packets/s;
- scapy building the same packets (Create PDP Context Request, Interim-Update), packets/s, and the ratio;
- reading: the pcap file alone (`pcapfile.read_packets`), and `records_from_pcap` (struct parsing +
  authenticator check + session rules), packets/s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.capture import PcapCapture, ReadReport, codec, gtpc, radius, records_from_pcap, reference
from gateway.capture.frames import PcapStream
from gateway.capture.pcapfile import read_packets
from gateway.capture.synthetic import SyntheticSession, drive, make_sessions
from gateway.events import ContextInfo
from gateway.partial import PartialRecords, cut_sessions

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = b"bench-secret"


class _Recorder:
    """Records sink calls so that the timed loop replays them without generating events."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def pdp_create(self, *args: object) -> None:
        self.calls.append(("pdp_create", args))

    def pdp_delete(self, *args: object) -> None:
        self.calls.append(("pdp_delete", args))

    def acct_start(self, *args: object) -> None:
        self.calls.append(("acct_start", args))

    def acct_interim(self, *args: object) -> None:
        self.calls.append(("acct_interim", args))

    def acct_stop(self, *args: object) -> None:
        self.calls.append(("acct_stop", args))

    def user_packets(self, *args: object) -> None:
        self.calls.append(("user_packets", args))


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0


def bench_raw_write(tmp: Path, n: int) -> float:
    """Baseline: the same pcap stream writing one pre-serialised 300-octet frame n times."""
    frame = bytes(300)
    with (tmp / "raw.pcap").open("wb", buffering=1 << 20) as f:
        stream = PcapStream(f)

        def run() -> int:
            for i in range(n):
                stream.write(i, frame[:42], frame[42:])
            return n

        count, dt = _timed(run)
    rate = _rate(count, dt)
    print(f"baseline, pre-serialised frames written: {rate:,.0f} packets/s")
    return rate


def bench_sink(tmp: Path, sessions: int, sample_rate: float) -> tuple[Path, float]:
    recorder = _Recorder()
    lines = max(1, sessions // 20)  # an M2M line opens many sessions a month: 20 each here
    drive(recorder, make_sessions(sessions, seed=1, lines=lines))
    path = tmp / f"fleet-{sample_rate:g}.pcap"
    with PcapCapture(path, EPOCH, SECRET, gtpu_sample_rate=sample_rate, seed=1, mtu=1_400) as sink:
        methods = {name: getattr(sink, name) for name in {c[0] for c in recorder.calls}}

        def run() -> int:
            for name, args in recorder.calls:
                methods[name](*args)
            return sink.packets

        n, dt = _timed(run)
    size = path.stat().st_size
    print(
        f"sink, {sessions:,} sessions of {lines:,} lines, GTP-U sample {sample_rate:g}: {n:,} packets "
        f"({sink.user_packets_sampled:,} G-PDU) in {dt:.2f} s = {_rate(n, dt):,.0f} packets/s, "
        f"{size / 1e6:.1f} MB"
    )
    return path, _rate(n, dt)


def _fleet(sessions: int) -> tuple[list[SyntheticSession], list[ContextInfo], PartialRecords]:
    """Whole-second sessions (as bulk traffic is), 20 per line, and their partial records."""
    fleet = [
        dataclasses.replace(s, start=float(int(s.start)))
        for s in make_sessions(sessions, seed=1, lines=max(1, sessions // 20))
    ]
    records = cut_sessions(
        [int(s.start) for s in fleet],
        [s.duration_s for s in fleet],
        [s.bytes_up for s in fleet],
        [s.bytes_down for s in fleet],
        abnormal=[s.abnormal for s in fleet],
    )
    return fleet, [s.ctx for s in fleet], records


def _split(
    contexts: list[ContextInfo], records: PartialRecords, parts: int
) -> list[tuple[list[ContextInfo], PartialRecords]]:
    """The batch as `parts` batches of consecutive sessions (their times overlap: the close merges them)."""
    out = []
    bounds = [len(contexts) * k // parts for k in range(parts + 1)]
    for lo, hi in itertools.pairwise(bounds):
        keep = (records.session_index >= lo) & (records.session_index < hi)
        out.append(
            (
                contexts[lo:hi],
                PartialRecords(
                    records.session_index[keep] - lo,
                    records.start_s[keep],
                    records.duration_s[keep],
                    records.bytes_up[keep],
                    records.bytes_down[keep],
                    records.sequence[keep],
                    records.cause[keep],
                ),
            )
        )
    return out


def bench_md5_floor(sessions: int) -> float:
    """The fleet's MD5 work alone (one digest per RADIUS request, one per response): the bulk path's floor."""
    _fleet_sessions, _contexts, records = _fleet(sessions)
    requests = sessions + len(records)  # Start, then one Interim-Update or Stop per record
    packets = 8 * sessions + 2 * (len(records) - sessions)
    request, response = bytes(330), bytes(36)  # a typical Interim-Update + secret; a response + secret

    def digests() -> int:
        md5 = hashlib.md5
        for _ in range(requests):
            md5(request, usedforsecurity=False).digest()
            md5(response, usedforsecurity=False).digest()
        return 2 * requests

    n, dt = _timed(digests)
    floor = _rate(packets, dt)
    print(
        f"MD5 alone: {_rate(n, dt):,.0f} digests/s (330 and 36 octets) -> floor {floor:,.0f} packets/s "
        f"for the fleet ({2 * requests:,} digests for {packets:,} packets)"
    )
    return floor


def bench_bulk(tmp: Path, sessions: int, repeats: int) -> tuple[float, float]:
    """Median packets/s of the bulk path (1 and 4 batches) and of the per-event sink, same sessions."""
    fleet, contexts, records = _fleet(sessions)
    recorder = _Recorder()
    drive(recorder, fleet)
    batches = _split(contexts, records, 4)

    def bulk(
        parts: list[tuple[list[ContextInfo], PartialRecords]], name: str
    ) -> Callable[[], tuple[int, float, float]]:
        def run() -> tuple[int, float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            with PcapCapture(tmp / name, EPOCH, SECRET) as capture:
                for ctxs, recs in parts:
                    capture.write_sessions(ctxs, recs)
            return capture.packets, time.perf_counter() - t0, time.process_time() - c0

        return run

    def per_event() -> tuple[int, float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        with PcapCapture(tmp / "events.pcap", EPOCH, SECRET) as capture:
            methods = {name: getattr(capture, name) for name in {c[0] for c in recorder.calls}}
            for name, args in recorder.calls:
                methods[name](*args)
        return capture.packets, time.perf_counter() - t0, time.process_time() - c0

    runs: dict[str, list[tuple[int, float, float]]] = {"bulk": [], "bulk4": [], "events": []}
    for _ in range(repeats):  # interleaved, so that a burst of load on the shared CPU hits all three
        runs["bulk"].append(bulk([(contexts, records)], "bulk.pcap")())
        runs["bulk4"].append(bulk(batches, "bulk4.pcap")())
        runs["events"].append(per_event())
    same = (tmp / "bulk.pcap").read_bytes() == (tmp / "events.pcap").read_bytes()
    medians = {}
    for name, label in (
        ("bulk", "bulk write_sessions, 1 batch"),
        ("bulk4", "bulk write_sessions, 4 overlapping batches merged at close"),
        ("events", "per-event sink, same sessions"),
    ):
        n = runs[name][0][0]
        wall = statistics.median(_rate(p, w) for p, w, _c in runs[name])
        cpu = statistics.median(_rate(p, c) for p, _w, c in runs[name])
        best = max(_rate(p, w) for p, w, _c in runs[name])
        medians[name] = wall
        print(
            f"{label}: {sessions:,} sessions, {n:,} packets: median {wall:,.0f} packets/s wall "
            f"({cpu:,.0f} per CPU-second, best {best:,.0f}) over {repeats} runs"
        )
    print(
        f"bulk / per-event = {medians['bulk'] / medians['events']:.2f}x (1 batch), "
        f"{medians['bulk4'] / medians['events']:.2f}x (4 batches); files byte-identical: {same}; "
        f"target 200,000 packets/s: {'met' if medians['bulk'] >= 200_000 else 'NOT met'} by the bulk median"
    )
    return medians["bulk"], medians["events"]


def _ctx() -> ContextInfo:
    return make_sessions(1, seed=1)[0].ctx


def bench_templates(tmp: Path, n: int) -> float:
    ctx = _ctx()
    path = tmp / "templates.pcap"
    with PcapCapture(path, EPOCH, SECRET, gtpu_sample_rate=1.0, mtu=200) as sink:
        sink.pdp_create(0.0, ctx, 128)

        def interims() -> int:
            for i in range(n // 2):
                sink.acct_interim(float(i), ctx, i * 1_000, i * 7_000, i)
            return n

        count, dt = _timed(interims)
        radius_rate = _rate(count, dt)

        def gpdus() -> int:
            before = sink.user_packets_sampled
            for i in range(n // 40):
                sink.user_packets(float(i), ctx, 2_000, 2_000)
            return sink.user_packets_sampled - before

        count, dt = _timed(gpdus)
        gtpu_rate = _rate(count, dt)
    print(f"template RADIUS Interim-Update + Accounting-Response: {radius_rate:,.0f} packets/s")
    print(f"template GTP-U G-PDU (inner IPv4/UDP, 200 B): {gtpu_rate:,.0f} packets/s")
    return radius_rate


def bench_scapy(n: int) -> float:
    ctx = _ctx()
    tunnel = gtpc.Tunnel.of(ctx)
    tz = codec.ms_time_zone(ctx.serving_plmn, EPOCH)

    def build() -> int:
        for i in range(n):
            req = reference.accounting_request(
                ctx, radius.STATUS_INTERIM, i & 0xFF, 1_772_323_200 + i, SECRET, tz, i, i, i
            )
            bytes(reference.frame(ctx.ggsn_address, "192.0.2.10", 32_768, 1813, i & 0xFFFF, req))
        return n

    count, dt = _timed(build)
    radius_rate = _rate(count, dt)

    def build_gtp() -> int:
        for i in range(n):
            bytes(
                reference.frame(
                    ctx.sgsn_address,
                    ctx.ggsn_address,
                    2123,
                    2123,
                    i,
                    reference.create_request(ctx, tunnel, i, 1, tz),
                )
            )
        return n

    count, dt = _timed(build_gtp)
    print(f"scapy build RADIUS Interim-Update frame: {radius_rate:,.0f} packets/s")
    print(f"scapy build GTP-C Create PDP Context Request frame: {_rate(count, dt):,.0f} packets/s")
    return radius_rate


def bench_reader(path: Path) -> None:
    def raw() -> int:
        return sum(1 for _ in read_packets(path))

    n, dt = _timed(raw)
    print(f"pcap file reading alone (pcapfile.read_packets): {_rate(n, dt):,.0f} packets/s ({n:,} packets)")
    report = ReadReport()

    def records() -> int:
        return sum(1 for _ in records_from_pcap(path, SECRET, report))

    count, dt = _timed(records)
    print(
        f"records_from_pcap: {_rate(report.packets, dt):,.0f} packets/s, "
        f"{_rate(report.accounting_requests, dt):,.0f} accounting requests/s -> {count:,} records, "
        f"{report.rejected} rejected"
    )


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp_name:
        tmp = Path(tmp_name)
        sessions = 2_000 if quick else 40_000
        raw_rate = bench_raw_write(tmp, 50_000 if quick else 500_000)
        bench_md5_floor(2_000 if quick else 40_000)
        bench_bulk(tmp, 2_000 if quick else 40_000, 2 if quick else 5)
        control_path, control_rate = bench_sink(tmp, sessions, 0.0)
        _path, mixed_rate = bench_sink(tmp, sessions // 4, 2e-5)
        template_rate = bench_templates(tmp, 20_000 if quick else 400_000)
        scapy_rate = bench_scapy(100 if quick else 500)
        print(
            f"template RADIUS path = {template_rate / raw_rate:.0%} of the pre-serialised write rate; "
            f"fleet sink = {control_rate / raw_rate:.0%} of it"
        )
        print(
            f"ratio template / scapy (RADIUS Interim frames): {template_rate / scapy_rate:,.0f}x; "
            f"fleet sink {control_rate:,.0f} (control + accounting) and {mixed_rate:,.0f} (with GTP-U) "
            f"packets/s vs target 200,000"
        )
        bench_reader(control_path)
