"""A device's periodic traffic between two decisions, drawn at once with numpy.

Arrival (jitter) models are in `simulator.traffic_models`.  Payloads and periods:
- TR 45.820 (as commonly cited): periodic reports with a payload Pareto-distributed
  with shape 2.5 between 20 and 200 bytes, and a report period mix of 1 day 40 %,
  2 h 40 %, 1 h 15 %, 30 min 5 %.

Times are whole seconds from the start of the run's period (int64).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.api import scan_probes
from simulator.profiles import Profile
from simulator.scenario import TR45820_PERIOD_MIX, ApnSpec, Application, Payload, Schedule
from simulator.traffic_models import offsets

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Sessions:
    """Data sessions as parallel columns (before the 12-hour cut)."""

    start: I64
    duration: I64
    up: I64
    down: I64

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @staticmethod
    def empty() -> Sessions:
        z = np.zeros(0, dtype=np.int64)
        return Sessions(z, z, z, z)


def draw_period(rng: np.random.Generator, schedule: Schedule) -> float:
    """The device's report period: the schedule's, or one drawn from the TR 45.820 mix."""
    if schedule.period_s is not None:
        return schedule.period_s
    periods = np.array([p for p, _ in TR45820_PERIOD_MIX])
    weights = np.array([w for _, w in TR45820_PERIOD_MIX])
    return float(periods[rng.choice(len(periods), p=weights / weights.sum())])


def draw_phase(rng: np.random.Generator, schedule: Schedule, period_s: float, epoch_unix: int) -> float:
    """Offset of the device's first period boundary: the wall clock's (`clock`) or a random one."""
    if schedule.align == "clock":
        return float((-epoch_unix) % period_s)
    return float(rng.random() * period_s)


def report_times(
    rng: np.random.Generator,
    schedule: Schedule,
    period_s: float,
    phase_s: float,
    t0: int,
    t1: int,
    *,
    late: bool = False,
) -> I64:
    """Report times in [t0, t1): boundaries phase + k*period, each moved by the schedule's jitter.

    `late`: also the reports of those boundaries that the jitter moves to t1 or after (a device
    whose stretch ends at a decision sends them in the next stretch)."""
    if t1 <= t0:
        return np.zeros(0, dtype=np.int64)
    k0 = int(np.ceil((t0 - phase_s) / period_s))
    k1 = int(np.ceil((t1 - phase_s) / period_s))
    nominal = phase_s + period_s * np.arange(k0, k1, dtype=np.float64)
    times = np.floor(nominal + offsets(rng, schedule.jitter, schedule.jitter_s, nominal.shape[0])).astype(
        np.int64
    )
    return times if late else times[times < t1]


def payload_sizes(rng: np.random.Generator, payload: Payload, n: int) -> I64:
    """Payload bytes: fixed, or a bounded Pareto (inverse CDF; TR 45.820: alpha 2.5 over 20..200 B)."""
    if payload.fixed is not None:
        return np.full(n, payload.fixed, dtype=np.int64)
    lo, hi, a = float(payload.lo), float(payload.hi), payload.alpha
    u = rng.random(n)
    x: F64 = lo / (1.0 - u * (1.0 - (lo / hi) ** a)) ** (1.0 / a)
    out: I64 = np.clip(np.ceil(x), lo, hi).astype(np.int64)
    return out


def time_share(n: I64, elapsed: I64 | int, duration: I64 | int) -> I64:
    """The bytes of `n` carried in the first `elapsed` of a session's `duration` seconds: a session's
    bytes are spread over its time (the cut of a move, `simulator.device.Device._play`, and the cut
    of a report going on at the period's end, whose later bytes fall after it, share them so)."""
    out: I64 = np.asarray(n, dtype=np.int64) * elapsed // np.maximum(duration, 1)
    return out


# A line's scan stream, or what makes it: made only when a session is scanned (most APNs are
# private; a line's stream costs a seed sequence of its own).
Scans = np.random.Generator | Callable[[], np.random.Generator]


def scanned(apn: ApnSpec | None) -> bool:
    """Whether sessions on `apn` meet unsolicited inbound probes (a public address, a scan rate)."""
    return apn is not None and apn.addressing == "public" and apn.scan_per_hour > 0


def scan_bytes(rng: Scans, apn: ApnSpec | None, durations: I64) -> tuple[I64, I64]:
    """(up, down) bytes of unsolicited inbound probes on a public address during sessions of
    `durations` s, drawn from the line's scan stream `rng` (`gateway.scans`: the gateway serving a
    virtual modem draws the same counts for the same sessions)."""
    if apn is None or not scanned(apn):
        z = np.zeros_like(durations)
        return z, z
    stream = rng if isinstance(rng, np.random.Generator) else rng()
    probes = scan_probes(stream, apn.scan_per_hour, durations)
    return probes * apn.scan_reply_bytes, probes * apn.scan_bytes


def per_report_sessions(
    rng: np.random.Generator,
    profile: Profile,
    app: Application,
    apn: ApnSpec | None,
    times: I64,
    scans: Scans,
) -> Sessions:
    """One session per report: connect, send, close (the profile's `report` exchange); `scans`: the
    line's scan stream (or what makes it, called when `apn` is scanned)."""
    n = times.shape[0]
    payload = payload_sizes(rng, app.payload, n)
    up, down = profile.report_bytes(payload)
    if profile.tls and app.certificate_chain:
        down = down + app.certificate_chain
    duration = np.full(n, profile.report.duration_s, dtype=np.int64)
    if scanned(apn):
        s_up, s_down = scan_bytes(scans, apn, duration)
        up, down = up + s_up, down + s_down
    return Sessions(times.astype(np.int64), duration, up, down)


def persistent_session(
    rng: np.random.Generator,
    profile: Profile,
    app: Application,
    apn: ApnSpec | None,
    times: I64,
    t0: int,
    t1: int,
    scans: Scans,
    *,
    connect: bool = True,
    since: int | None = None,
) -> tuple[int, int]:
    """(up, down) bytes of one persistent connection over [t0, t1) carrying reports at `times`.

    The connection costs its set-up (when `connect`), one `publish` per report, and
    one keep-alive ping cycle for every full keep-alive interval without traffic
    (MQTT 3.1.1 3.1.2.10: the client pings when it has sent no control packet for the interval):
    a ping at `keepalive` after the last packet sent (the set-up, a publish, a ping), before the
    next publish and before t1.  One due on a publish's second is not sent (the publish resets
    the timer; it was counted when the report period is a multiple of the keep-alive), nor one due
    at t1 (the stretch's end: the next stretch's, the connection's close, or the period's end).
    `since`: on a connection going on from an earlier stretch, the time it last sent before its
    pings; its keep-alive timer runs from there, and the pings before t0 were that stretch's.
    `scans`: the line's scan stream (or what makes it).
    """
    assert profile.connect is not None and profile.ping is not None
    payload = payload_sizes(rng, app.payload, times.shape[0])
    p_up, p_down = profile.publish_bytes(payload)
    edges = np.concatenate(([t0 if since is None else since], times, [t1])).astype(np.float64)
    pings = int(np.maximum(np.ceil(np.diff(edges) / app.keepalive_s) - 1, 0).sum())
    if since is not None:
        pings -= max(math.ceil((t0 - since) / app.keepalive_s) - 1, 0)
    up = int(p_up.sum()) + pings * profile.ping.up
    down = int(p_down.sum()) + pings * profile.ping.down
    if connect:
        up += profile.connect.up
        down += profile.connect.down + (app.certificate_chain if profile.tls else 0)
    s_up, s_down = scan_bytes(scans, apn, np.array([t1 - t0], dtype=np.int64))
    return up + int(s_up[0]), down + int(s_down[0])
