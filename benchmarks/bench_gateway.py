"""Gateway speed: per-call `Network` throughput, and `cut_sessions` vs a plain-Python loop.

Figures printed:
- sessions/s through `Network` (open, 4 transfers, close: 6 calls, about 1.5
  records per session), with a list sink and with the Parquet `UsageWriter`;
- `cut_sessions` rows/s (numpy) and the same rule as a Python loop
  (`cut_sessions_py`), on the same sessions, and their ratio;
- sessions/s read from a sessions CSV (`m2msim sessions-to-records`'s reader) by columns
  (`read_sessions`) and by the same rules as a loop over the rows (`read_sessions_py`), on
  the same file, CPU seconds of this process, and their ratio;
- per IP packet of 1,400 octets on one session (what the PPP bearer gives):
  `carry_packet` without a capture and with a `PcapCapture` writing each
  packet whole as a G-PDU, against `transfer` of the same counts without a
  capture and with one sampling a G-PDU per 1,400 octets (rate 1, the path
  PPP used before): microseconds per packet, medians of 5 interleaved runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from accounting.records import UsageRecord
from accounting.usage_writer import UsageWriter
from gateway.api import Subscriber
from gateway.capture import PcapCapture
from gateway.network import Network, NetworkConfig, RecordSink
from gateway.partial import INTERVAL_S, cut_sessions, cut_sessions_py

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


class _ListSink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


def _network_run(n_lines: int, sessions_per_line: int, sink: RecordSink) -> tuple[int, float]:
    net = Network(NetworkConfig(epoch=EPOCH, seed=1, scan_rate_per_hour=4.0), sink)
    for i in range(n_lines):
        net.register_subscriber(Subscriber(f"L{i}", f"20801{i:010d}", f"336{i:08d}", "business-m2m"))
        net.attach(0, f"L{i}", "3569380356438091", "20801")
    apns = ("orange.m2m.spec", "orange.m2m")
    t0 = time.perf_counter()
    count = 0
    for k in range(sessions_per_line):
        base = k * 30_000.0
        for i in range(n_lines):
            s = net.open_session(base, f"L{i}", apns[i % 2])
            sid = s.session_id
            assert sid is not None
            for j in range(1, 5):
                net.transfer(base + j * 5_000.0, sid, 120, 480)
            net.close_session(base + 25_000.0, sid)
            count += 1
    return count, time.perf_counter() - t0


def bench_network(quick: bool) -> None:
    lines, per_line = (200, 5) if quick else (2_000, 10)
    n, dt = _network_run(lines, per_line, _ListSink())
    print(f"Network per call, list sink:      {n:>9,} sessions in {dt:6.2f} s = {n / dt:>10,.0f} sessions/s")
    with tempfile.TemporaryDirectory() as tmp:
        with UsageWriter(Path(tmp) / "usage.parquet") as writer:
            n, dt = _network_run(lines, per_line, writer)
        print(
            f"Network per call, Parquet writer: {n:>9,} sessions in {dt:6.2f} s = {n / dt:>10,.0f} sessions/s"
        )


def bench_cut(quick: bool) -> None:
    n = 20_000 if quick else 1_000_000
    rng = np.random.default_rng(7)
    start = rng.integers(0, 31 * 86_400, n)
    duration = rng.exponential(INTERVAL_S, n).astype(np.int64)  # about 1.5 records a session
    up = rng.integers(0, 10**7, n)
    down = rng.integers(0, 10**7, n)
    t0 = time.perf_counter()
    cut = cut_sessions(start, duration, up, down)
    dt_np = time.perf_counter() - t0
    rows = len(cut)
    print(
        f"cut_sessions (numpy):  {n:>9,} sessions -> {rows:>9,} rows in {dt_np:6.3f} s = {rows / dt_np:>12,.0f} rows/s"
    )
    m = min(n, 200_000)
    lists = (start[:m].tolist(), duration[:m].tolist(), up[:m].tolist(), down[:m].tolist())
    t0 = time.perf_counter()
    py_rows = len(cut_sessions_py(*lists))
    dt_py = time.perf_counter() - t0
    print(
        f"cut_sessions_py (loop): {m:>8,} sessions -> {py_rows:>9,} rows in {dt_py:6.3f} s = {py_rows / dt_py:>12,.0f} rows/s"
    )
    print(f"numpy / Python loop: {(rows / dt_np) / (py_rows / dt_py):.1f}x")


def _sessions_csv(path: Path, n: int) -> None:
    """`n` sessions as an operator exports them (a session id each, starts in UTC), seeded."""
    rng = np.random.default_rng(11)
    start = int(EPOCH.timestamp()) + rng.integers(0, 30 * 86_400, n)
    duration = rng.exponential(INTERVAL_S, n).astype(np.int64)
    up, down = rng.integers(0, 10**7, n), rng.integers(0, 10**8, n)
    stamps = np.datetime_as_string(start.astype("datetime64[s]"))
    with path.open("w", encoding="utf-8") as f:
        f.write("line,start,duration_s,bytes_up,bytes_down,zone,session\n")
        f.writelines(
            f"336{i % 50_000:08d},{stamps[i]}Z,{duration[i]},{up[i]},{down[i]},fr,S{i}\n" for i in range(n)
        )


def bench_sessions_csv(quick: bool) -> None:
    from gateway.sessions_csv import read_sessions, read_sessions_py

    n = 20_000 if quick else 1_000_000
    m = min(n, 200_000)  # (the loop, on the first rows of the same file)
    with tempfile.TemporaryDirectory() as tmp:
        path, head = Path(tmp) / "sessions.csv", Path(tmp) / "head.csv"
        _sessions_csv(path, n)
        with path.open("rb") as f:
            head.write_bytes(b"".join(f.readline() for _ in range(m + 1)))
        t0 = time.process_time()
        sessions, _ = read_sessions(path)
        dt_cols = time.process_time() - t0
        t0 = time.process_time()
        rows, _ = read_sessions_py(head)
        dt_py = time.process_time() - t0
    print(
        f"read_sessions (columns): {len(sessions):>9,} sessions in {dt_cols:6.3f} CPU-s = {len(sessions) / dt_cols:>12,.0f} sessions/s"
    )
    print(
        f"read_sessions_py (loop): {len(rows):>9,} sessions in {dt_py:6.3f} CPU-s = {len(rows) / dt_py:>12,.0f} sessions/s"
    )
    print(f"columns / Python loop: {(len(sessions) / dt_cols) / (len(rows) / dt_py):.1f}x")


PACKET = 1_400


def _packets_run(folder: Path, n: int, real: bool, capture: bool) -> float:
    """CPU seconds (user + system: the capture's writes included) for `n` packets of PACKET octets, up
    and down in turn, on one session."""
    with PcapCapture(folder / "p.pcap", EPOCH, gtpu_sample_rate=0.0 if real else 1.0, mtu=PACKET) as pcap:
        net = Network(NetworkConfig(epoch=EPOCH, seed=1), _ListSink(), capture=pcap if capture else None)
        net.register_subscriber(Subscriber("L1", "208010000000001", "33600000001", "business-m2m"))
        net.attach(0, "L1", "3569380356438091", "20801")
        sid = net.open_session(0, "L1", "orange.m2m.spec").session_id
        assert sid is not None
        packet = bytes([0x45]) + bytes(PACKET - 1)
        carry, transfer = net.carry_packet, net.transfer
        t0 = time.process_time()
        if real:
            for k in range(n):
                carry(1.0 + k * 1e-4, sid, packet, uplink=not k & 1)
        else:
            for k in range(n):
                if k & 1:
                    transfer(1.0 + k * 1e-4, sid, 0, PACKET)
                else:
                    transfer(1.0 + k * 1e-4, sid, PACKET, 0)
        net.close_session(1.0 + n * 1e-4, sid)
        pcap.close()
        return time.process_time() - t0


def bench_packets(quick: bool) -> None:
    n = 5_000 if quick else 100_000
    runs: dict[str, list[float]] = {}
    cases: dict[str, Callable[[Path], float]] = {
        "transfer, no capture": lambda d: _packets_run(d, n, real=False, capture=False),
        "carry_packet, no capture": lambda d: _packets_run(d, n, real=True, capture=False),
        "transfer, capture sampling 1 G-PDU per packet": lambda d: _packets_run(
            d, n, real=False, capture=True
        ),
        "carry_packet, capture writing each packet": lambda d: _packets_run(d, n, real=True, capture=True),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(5):
            for name, case in cases.items():
                runs.setdefault(name, []).append(case(Path(tmp)))
    for name, times in runs.items():
        us = statistics.median(times) / n * 1e6
        print(
            f"per packet of {PACKET} B, {name:<46} {us:6.2f} CPU-us = {PACKET / us:7.1f} MB per CPU-s of IP"
        )


def main(quick: bool) -> None:
    bench_cut(quick)
    bench_sessions_csv(quick)
    bench_network(quick)
    bench_packets(quick)


if __name__ == "__main__":
    main(quick=False)
