"""Capture speed: packets written from byte templates vs scapy building them; records read back.

Figures printed:
- sink: a synthetic fleet's GTP-C + RADIUS (+ sampled GTP-U) events through `PcapCapture`, packets/s;
- template paths alone (RADIUS Interim-Update, GTP-U G-PDU), packets/s;
- scapy building the same packets (Create PDP Context Request, Interim-Update), packets/s, and the ratio;
- reading: RawPcapReader alone, and `records_from_pcap` (struct parsing + authenticator check), packets/s.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.capture import PcapCapture, ReadReport, codec, gtpc, radius, records_from_pcap, reference
from gateway.capture.frames import PcapStream
from gateway.capture.synthetic import drive, make_sessions
from gateway.events import ContextInfo

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
    from scapy.utils import RawPcapReader

    def raw() -> int:
        n = 0
        with RawPcapReader(str(path)) as reader:
            for _ in reader:
                n += 1
        return n

    n, dt = _timed(raw)
    print(f"RawPcapReader alone: {_rate(n, dt):,.0f} packets/s ({n:,} packets)")
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
