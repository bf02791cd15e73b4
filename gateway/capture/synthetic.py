"""A synthetic fleet of PDP contexts, to drive a `CaptureSink` without the network (demos, benchmarks).

Each session is opened, cut into 12-hour partial records (Interim-Update at
every 43,200 s strictly inside it, cumulative counters prorated in integers as
`gateway.partial` does), and closed normally or abnormally.  Events of all
sessions are merged in time order, as the gateway would emit them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from accounting.records import ClosingCause
from gateway.events import CaptureSink, ContextInfo

INTERVAL_S = 43_200

SERVING_PLMNS = ("20801", "20810", "20620", "22801", "310260", "26201")


@dataclass(frozen=True, slots=True)
class SyntheticSession:
    ctx: ContextInfo
    start: float  # seconds since the run's epoch
    duration_s: int
    bytes_up: int
    bytes_down: int
    abnormal: bool = False

    def cuts(self) -> list[int]:
        """Offsets of the time-limit Interim-Updates (strictly inside the session)."""
        return list(range(INTERVAL_S, self.duration_s, INTERVAL_S))

    def cumulative(self, offset: int) -> tuple[int, int]:
        """Uplink and downlink octets carried by `offset` seconds (floor of the even spread)."""
        if offset >= self.duration_s:
            return self.bytes_up, self.bytes_down
        return self.bytes_up * offset // self.duration_s, self.bytes_down * offset // self.duration_s

    @property
    def cause(self) -> int:
        return int(ClosingCause.ABNORMAL if self.abnormal else ClosingCause.NORMAL)


def make_sessions(
    count: int, seed: int = 1, lines: int | None = None, span_s: int = 86_400
) -> list[SyntheticSession]:
    """`count` sessions of `lines` lines (default: one per session), starting over `span_s` seconds."""
    rng = np.random.default_rng(seed)
    n_lines = lines or count
    starts = np.sort(rng.uniform(0, span_s, count))
    durations = rng.choice([30, 600, 3_600, 43_200, 50_000, 100_000], size=count)
    ups = rng.integers(0, 5_000_000, size=count)
    downs = rng.integers(0, 20_000_000, size=count)
    big = rng.random(count) < 0.05  # a few sessions carry more than 4 GiB one way
    sessions = []
    for i in range(count):
        line = i % n_lines
        ctx = ContextInfo(
            session_id=f"S{i:08d}",
            line_id=f"L{line:06d}",
            imsi=f"20801{line:010d}",
            msisdn=f"336{line:08d}",
            imeisv=f"35349006{line:06d}{i % 100:02d}",
            apn="m2m.orange.fr" if line % 3 else "orange.m2m.spec",
            charging_id=1_000_000 + i,
            ip_address=f"10.{64 + line // 65_536 % 64}.{line // 256 % 256}.{line % 256}",
            sgsn_address=f"192.0.2.{1 + line % 4}",
            ggsn_address="192.0.2.200",
            serving_plmn=SERVING_PLMNS[line % len(SERVING_PLMNS)],
            rat=("geran", "utran", "eutran")[line % 3],
            nsapi=5,
            sequence=1 + i % 65_535,
        )
        up, down = int(ups[i]), int(downs[i])
        if big[i]:
            down += 5 << 32
        sessions.append(
            SyntheticSession(ctx, float(starts[i]), int(durations[i]), up, down, bool(i % 17 == 0))
        )
    return sessions


def events(sessions: list[SyntheticSession]) -> Iterator[tuple[float, int, int, str, SyntheticSession, int]]:
    """(time, order, index, kind, session, offset) of every sink call, merged in time order."""
    heap: list[tuple[float, int, int, str, SyntheticSession, int]] = []
    for i, s in enumerate(sessions):
        heap.append((s.start, 0, i, "open", s, 0))
    heapq.heapify(heap)
    while heap:
        item = heapq.heappop(heap)
        yield item
        _when, _order, i, kind, s, _offset = item
        if kind == "open":
            for cut in s.cuts():
                heapq.heappush(heap, (s.start + cut, 1, i, "interim", s, cut))
            heapq.heappush(heap, (s.start + s.duration_s, 2, i, "close", s, s.duration_s))


def drive(sink: CaptureSink, sessions: list[SyntheticSession]) -> None:
    """Play the sessions' events into `sink` as the gateway would."""
    for when, _order, _i, kind, s, offset in events(sessions):
        ctx = s.ctx
        if kind == "open":
            sink.pdp_create(when, ctx, 128)
            sink.acct_start(when, ctx)
            continue
        up, down = s.cumulative(offset)
        prev = max((c for c in s.cuts() if c < offset), default=0)
        prev_up, prev_down = s.cumulative(prev) if prev else (0, 0)
        sink.user_packets(when, ctx, up - prev_up, down - prev_down)
        if kind == "interim":
            sink.acct_interim(when, ctx, up, down, offset)
        else:
            sink.acct_stop(when, ctx, up, down, offset, s.cause)
            sink.pdp_delete(when, ctx)
