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

from accounting.partial import prorate_array
from gateway.api import ContextScans, ScanSetting, scan_probes
from simulator.profiles import Profile
from simulator.scenario import TR45820_PERIOD_MIX, ApnSpec, Application, Payload, Schedule
from simulator.traffic_models import offsets

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Sessions:
    """Data sessions as parallel columns (before the 12-hour cut); `scan_up` and `scan_down`: the
    bytes of scans among `up` and `down`, drawn over each session's time before its cut (the
    period's end, an outage's start, a SIM swap), kept whole when a session is cut there."""

    start: I64
    duration: I64
    up: I64
    down: I64
    scan_up: I64
    scan_down: I64

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @staticmethod
    def empty() -> Sessions:
        z = np.zeros(0, dtype=np.int64)
        return Sessions(z, z, z, z, z, z)


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
    return sizes_of(payload, rng.random(n))


def sizes_of(payload: Payload, u: F64) -> I64:
    """The bounded Pareto payload sizes of uniform draws `u` (`payload_sizes`'s, however drawn)."""
    lo, hi, a = float(payload.lo), float(payload.hi), payload.alpha
    y: F64 = u * -(1.0 - (lo / hi) ** a)  # 1 - u (1 - (lo/hi)^alpha) made in one array, as exactly
    y += 1.0
    table = _pareto_table(payload.lo, payload.hi, a)
    return _pareto_sizes(y, payload) if table is None else table.sizes(y, payload)


def _pareto_sizes(y: F64, payload: Payload) -> I64:
    """The inverse CDF's whole bytes of y = 1 - u (1 - (lo/hi)^alpha), u uniform (the definition)."""
    lo, hi, a = float(payload.lo), float(payload.hi), payload.alpha
    x: F64 = lo / y ** (1.0 / a)
    out: I64 = np.clip(np.ceil(x), lo, hi).astype(np.int64)
    return out


def time_share(n: I64, elapsed: I64 | int, duration: I64 | int) -> I64:
    """The bytes of `n` carried in the first `elapsed` of a session's `duration` seconds: a session's
    bytes are spread over its time (the cut of a move, `simulator.device.Device._play`, and the cut
    of a report going on at the period's end or lost when the cell goes, whose later bytes are not
    sent, share them so): the 12-hour cut's rule (`accounting.partial.prorate_array`)."""
    return prorate_array(np.asarray(n, dtype=np.int64), elapsed, duration)


# A draw whose y is this many ulps from a size's threshold (or closer) is worked out by the definition.
_NEAR_ULPS = 1 << 24
_FAR = -(1 << 61)  # (a bucket without a threshold: every draw is above it)


@dataclass(frozen=True, slots=True)
class _ParetoTable:
    """`_pareto_sizes` without a power per draw.  x = lo / y^(1/alpha) falls as y rises; its size
    ceil(x) steps at the whole numbers m, where y is y_m = (lo/m)^alpha.  The floating-point x of a
    draw is within a few ulps of the exact one, so it can round across a whole number only for a y
    within `_NEAR_ULPS` ulps of a threshold (a margin far wider than that, checked when the table is
    made): those few draws are worked out by the definition, every other one looked up.  y's bits
    (positive doubles order as their bits do) cut by a shift into buckets, each holding at most one
    threshold with its margin: the size above it (`base`), and the threshold's bits less the
    margin (`cut`, `_FAR` where none)."""

    shift: int
    first: int  # the bucket of the least y (y >= 1 - c: u < 1)
    base: I64
    cut: I64

    def sizes(self, y: F64, payload: Payload) -> I64:
        bits = y.view(np.int64)
        b = bits >> self.shift
        b -= self.first
        d = self.cut[b]
        np.subtract(bits, d, out=d)  # in (0, 2 margins): near its threshold; below `margin`: under it
        out: I64 = self.base[b]
        out += d < _NEAR_ULPS
        near = d.view(np.uint64) < 2 * _NEAR_ULPS
        if near.any():
            out[near] = _pareto_sizes(y[near], payload)
        return out


_TABLES: dict[tuple[int, int, float], _ParetoTable | None] = {}


def _pareto_table(lo: int, hi: int, alpha: float) -> _ParetoTable | None:
    """The look-up table of a bounded Pareto's sizes (made once per process), or None when one
    cannot stand for the definition: more than 65,536 buckets needed to keep thresholds apart, or
    a margin too narrow for the rounding of x."""
    key = (lo, hi, alpha)
    if key in _TABLES:
        return _TABLES[key]
    table = None
    flo, fhi = float(lo), float(hi)
    e = 1.0 / alpha
    y_min = 1.0 - (1.0 - (flo / fhi) ** alpha)
    # x's rounding from an exact y: the power's (a few ulps) and the division's; x moves by e ulps
    # per ulp of y, so a margin of N ulps of y keeps x e N ulps (less y's own ulp size) from m
    if hi > lo >= 1 and alpha > 0 and y_min > 0 and e * _NEAR_ULPS / 2 > 1e6:
        m = np.arange(lo, hi + 1, dtype=np.float64)
        cuts = ((flo / m) ** (1.0 / e)).view(np.int64)  # decreasing with m; y_lo = 1.0
        first_bits = int(np.array([y_min]).view(np.int64)[0])
        top = int(np.array([1.0]).view(np.int64)[0])
        for shift in range(52, 30, -1):
            first, n = first_bits >> shift, (top >> shift) - (first_bits >> shift) + 1
            if n > 65_536:
                break
            lows, highs = (cuts - _NEAR_ULPS) >> shift, (cuts + _NEAR_ULPS) >> shift
            held = np.zeros(n + 2, dtype=np.int64)
            np.add.at(held, np.clip(lows - first + 1, 0, n + 1), 1)  # (bucket j at j + 1)
            np.add.at(held, np.clip(highs - first + 1, 0, n + 1), (highs != lows).astype(np.int64))
            if int(held.max()) > 1 or np.any(np.diff(cuts) >= 0):
                continue
            # the size of a y above every threshold of its bucket: lo + the thresholds above it
            starts = (np.arange(n, dtype=np.int64) + first) << shift
            above = cuts.shape[0] - np.searchsorted(cuts[::-1], starts, side="right")
            base = lo + above
            cut = np.full(n, _FAR, dtype=np.int64)
            k = np.arange(cuts.shape[0], dtype=np.int64)
            for where in (lows, highs):
                inside = (where >= first) & (where < first + n)
                cut[where[inside] - first] = cuts[inside] - _NEAR_ULPS
                base[where[inside] - first] = lo + k[inside]
            table = _ParetoTable(shift, first, np.minimum(base, hi).astype(np.int64), cut)
            break
    _TABLES[key] = table
    return table


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


def report_bytes(profile: Profile, app: Application, payload: I64) -> tuple[I64, I64]:
    """(up, down) bytes of reports of `payload` bytes, one session each (the certificate chain of
    a TLS profile's handshake down)."""
    up, down = profile.report_bytes(payload)
    if profile.tls and app.certificate_chain:
        down = down + app.certificate_chain
    return up, down


def per_report_sessions(
    rng: np.random.Generator,
    profile: Profile,
    app: Application,
    apn: ApnSpec | None,
    times: I64,
    scans: Scans,
    end: int | None = None,
) -> Sessions:
    """One session per report: connect, send, close (the profile's `report` exchange); `scans`: the
    line's scan stream (or what makes it, called when `apn` is scanned).  `end`: where a session
    going on then is cut (the period's end, an outage's start, a SIM swap); it is scanned over its
    time before it, as the gateway scans a context over its life (its record is cut there later:
    `simulator.device.Device.traffic`, and `Device.sessions` at the period's end)."""
    n = times.shape[0]
    up, down = report_bytes(profile, app, payload_sizes(rng, app.payload, n))
    duration = np.full(n, profile.report.duration_s, dtype=np.int64)
    if not scanned(apn):
        zero = np.zeros(n, dtype=np.int64)
        return Sessions(times.astype(np.int64), duration, up, down, zero, zero)
    lived = duration if end is None else np.minimum(duration, end - times)
    s_up, s_down = scan_bytes(scans, apn, lived)
    return Sessions(times.astype(np.int64), duration, up + s_up, down + s_down, s_up, s_down)


def persistent_session(
    rng: np.random.Generator,
    profile: Profile,
    app: Application,
    apn: ApnSpec | None,
    times: I64,
    t0: int,
    t1: int,
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
    Its context's scans are not among them: the gateway draws them for each of its records
    (`context_scans`), as it scans a served modem's.
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
    return up, down


def context_scans(apn: ApnSpec | None, scans: Scans) -> ContextScans | None:
    """How the gateway scans a context of `apn` opened by the device whose scan stream is `scans`
    (or what makes it): the probes of each of its records, drawn as the gateway closes it
    (`gateway.scans`: over the record's span, where they arrived); None when `apn` is not scanned."""
    if apn is None or not scanned(apn):
        return None
    return ContextScans(ScanSetting(apn.scan_per_hour, apn.scan_bytes, apn.scan_reply_bytes), scans)
