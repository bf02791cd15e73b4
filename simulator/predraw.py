"""The first stretch of reports of a shard's devices, drawn for many devices together.

A device draws its reports stretch by stretch from its own stream (`Device.traffic`): the jitter
of each report, then each one's payload.  Most devices' first stretch runs from the period's start
to their first decision (for most, the period's end), each report a session of its own on an APN
that scans none.  Those stretches are drawn here for consecutive devices of a group at once: each
device's draws still come from its own stream, in the same order and number, written into one
array for all, and the arithmetic that makes times, sizes and bytes of them is made once over the
whole block (the same operations on each value: the values the device would have drawn itself).
A device that takes another way after all (its attach refused, say) gets its stream back as it was.

The columns are handed to the session batcher as views of the block's arrays; it writes those of
consecutive devices as one slice of them, not copied part by part (`SessionBatcher.flush`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator import rng as rngmod
from simulator.batch import Block, SessionBatcher
from simulator.traffic import Sessions, report_bytes, sizes_of
from simulator.traffic_models import offsets_into

if TYPE_CHECKING:
    from simulator.device import Device
    from simulator.profiles import Profile
    from simulator.scenario import Application

I64 = npt.NDArray[np.int64]
_BY_SIZE_MAX = 1 << 20  # the largest Pareto maximum whose reports' bytes are looked up by size
_STEP_ROWS = 1 << 13  # the rows drawn together at least (the devices' whose reach that): in the cache


@dataclass(frozen=True, slots=True)
class FirstDraw:
    """A device's first stretch: its sessions, their charging ids (those of a device's first
    sessions, from its block's start), and the reports jittered past the stretch's end (None:
    none)."""

    sessions: Sessions
    charging: I64
    late: I64 | None
    block: Block  # the arrays its columns are rows lo to hi of
    lo: int
    hi: int


def first_end(device: Device) -> int | None:
    """The end of the device's first stretch when it is drawn here, else None: a device with
    periodic reports, one session each on an APN its offer allows and that scans none, on the
    network from the period's start, whose first decision (if any) comes after it."""
    g = device.group
    if (
        device.profile is None
        or g.application is None
        or g.schedule is None
        or device.persistent
        or device.on > 0
        or device.period <= 0
        or device.scanned
        or not device.apn_allowed()
    ):
        return None
    end = device.decisions[0][0] if device.decisions else device.T
    return end if 0 < end <= device.T else None


_RAMP = np.arange(1 << 16, dtype=np.float64)


_COUNT = np.arange(1 << 16, dtype=np.int64)


def _count(n: int) -> I64:
    """`np.arange(n, dtype=np.int64)` (a slice of one made once, where it reaches)."""
    return _COUNT[:n] if n <= _COUNT.shape[0] else np.arange(n, dtype=np.int64)


def _ramp(k0: int, n: int) -> npt.NDArray[np.float64]:
    """`np.arange(k0, k0 + n, dtype=np.float64)` (a slice of one made once, where it reaches)."""
    if k0 >= 0 and k0 + n <= _RAMP.shape[0]:
        return _RAMP[k0 : k0 + n]
    return np.arange(k0, k0 + n, dtype=np.float64)


class FirstStretches:
    """The first stretches of a shard's devices, drawn a block of devices at a time as the first of
    them asks for its own (`take`)."""

    def __init__(self, devices: Sequence[Device], batcher: SessionBatcher) -> None:
        self.devices = devices
        self.batcher = batcher
        self.ends = [first_end(d) for d in devices]
        self.index = {id(d): i for i, d in enumerate(devices) if self.ends[i] is not None}
        self.drawn: dict[int, FirstDraw] = {}
        self._handed: int | None = None  # the id of the last draw's sessions handed to the batcher
        self._by_size: dict[tuple[int, int], tuple[Profile, Application, tuple[I64, I64 | int]]] = {}

    def take(self, device: Device, t0: int, t1: int, catch_up: bool) -> FirstDraw | None:
        """The sessions of the device's stretch [t0, t1) when drawn here (once: None after), else
        None, its stream then as it was before any draw."""
        i = self.index.pop(id(device), None)
        if i is None:
            return None
        if t0 != 0 or t1 != self.ends[i] or catch_up or not device.attached:
            if self.drawn.pop(i, None) is not None:  # drawn from its stream: taken back
                device.rng_traffic = rngmod.device_rng(device.seed, device.ident.line, rngmod.TRAFFIC)
            return None
        if i not in self.drawn:
            self._draw(i)
        draw = self.drawn.pop(i)
        spans = self.batcher.spans
        if self._handed is not None:
            spans.pop(self._handed, None)  # (not handed as drawn: no longer looked for)
        s = draw.sessions
        spans[id(s.start)] = (s.start, s.duration, s.up, s.down, draw.charging, draw.block, draw.lo, draw.hi)
        self._handed = id(s.start)
        return draw

    def _draw(self, first: int) -> None:
        """Draw the first stretches of devices from `first` on, of its group, until the batcher's
        next flush (as far as their reports before the jitter tell)."""
        devices, ends = self.devices, self.ends
        gi = devices[first].gi
        room = max(self.batcher.flush_sessions - self.batcher.pending, 1)
        idx: list[int] = []
        k0s: list[int] = []
        t1s: list[int] = []  # their stretches' ends
        counts: list[int] = []
        rows = 0
        j = first
        while j < len(devices) and rows < room:
            t1 = ends[j]
            d = devices[j]
            # the device asking, then those after it still to draw, until one of another group
            if t1 is not None and (j == first or (id(d) in self.index and j not in self.drawn)):
                if d.gi != gi:
                    break
                k0 = math.ceil((0 - d.phase) / d.period)
                k1 = math.ceil((t1 - d.phase) / d.period)
                idx.append(j)
                t1s.append(t1)
                k0s.append(k0)
                counts.append(max(k1 - k0, 0))
                rows += counts[-1]
            j += 1
        prof = devices[first].profile
        assert prof is not None
        # the block's columns, filled a few devices at a time (their arithmetic in the cache)
        start = np.empty(rows, dtype=np.int64)
        up = np.empty(rows, dtype=np.int64)
        down = np.empty(rows, dtype=np.int64)
        charging = np.empty(rows, dtype=np.int64)
        spans: list[tuple[int, int, I64 | None]] = []  # each device's rows, its reports past its end
        filled = 0
        a = 0
        while a < len(idx):
            b, m = a, 0
            while b < len(idx) and (m < _STEP_ROWS or b == a):
                m += counts[b]
                b += 1
            filled = self._fill(
                idx[a:b], t1s[a:b], k0s[a:b], counts[a:b], (start, up, down, charging), filled, spans, rows
            )
            a = b
        duration = np.full(filled, prof.report.duration_s, dtype=np.int64)
        zero = np.zeros(filled, dtype=np.int64)
        block = Block(start[:filled], duration, up[:filled], down[:filled], charging[:filled])
        for i, (lo, hi, late) in zip(idx, spans, strict=True):
            z = zero[lo:hi]
            sessions = Sessions(block.start[lo:hi], duration[lo:hi], block.up[lo:hi], block.down[lo:hi], z, z)
            self.drawn[i] = FirstDraw(sessions, block.charging[lo:hi], late, block, lo, hi)

    def _bytes_by_size(self, prof: Profile, app: Application, reports: int) -> tuple[I64, I64 | int] | None:
        """(up, down) bytes of a report of each payload size 0 to the Pareto maximum of `app`
        (`report_bytes`, which works out each report's bytes from its size alone), down as one
        number when every size has the same; None when the table would be too large, or larger
        than a block of `reports` reports (made for them, it would cost more than it saves: 28 ms
        of CPU for a maximum of a million, a shard)."""
        key = (id(prof), id(app))
        if key not in self._by_size:
            hi = app.payload.hi
            if not 0 <= hi < min(_BY_SIZE_MAX, reports):
                return None  # (not kept: a larger block may make it)
            up, down = report_bytes(prof, app, np.arange(hi + 1, dtype=np.int64))
            lo = max(app.payload.lo, 0)
            same = int(down[lo:].min()) == int(down[lo:].max())
            self._by_size[key] = (prof, app, (up, int(down[lo]) if same else down))  # (the objects
            # kept: their ids stay theirs)
        return self._by_size[key][2]

    def _fill(
        self,
        idx: list[int],
        t1s: list[int],
        k0s: list[int],
        counts: list[int],
        out: tuple[I64, I64, I64, I64],
        at: int,
        spans: list[tuple[int, int, I64 | None]],
        reports: int,
    ) -> int:
        """Draw the first stretches of devices `idx` (ending at `t1s`, their first report boundaries
        `k0s`, as many as `counts` before the jitter) into the columns `out` (start, up, down,
        charging ids) from row `at`; each device's rows and its reports past its stretch's end go
        to `spans`; `reports`: the block's (the size table is made only for as many).  Returns the
        row after the last filled."""
        devices = self.devices
        group = devices[idx[0]].group
        sched, app, prof = group.schedule, group.application, devices[idx[0]].profile
        assert sched is not None and app is not None and prof is not None
        bounds = [0, *itertools.accumulate(counts)]
        rows = bounds[-1]
        # each report's boundary: phase + k period, as `report_times` makes it, then its jitter
        nominal = np.empty(rows, dtype=np.float64)
        jitter = np.empty(rows, dtype=np.float64)
        for c, i in enumerate(idx):
            d, lo, hi = devices[i], bounds[c], bounds[c + 1]
            k0 = k0s[c]
            np.multiply(d.period, _ramp(k0, hi - lo), out=nominal[lo:hi])
            nominal[lo:hi] += d.phase
            offsets_into(d.rng_traffic, sched.jitter, sched.jitter_s, jitter[lo:hi])
        nominal += jitter
        np.floor(nominal, out=nominal)  # each report's second (a whole number)
        late: dict[int, I64] = {}
        start, up, down, charging = out
        if rows and min(t1s) == max(t1s) and float(nominal.max()) < t1s[0]:
            start[at : at + rows] = nominal  # (none jittered past the stretches' common end: as a rule)
        else:
            times = nominal.astype(np.int64)
            past = times >= np.repeat(np.array(t1s, dtype=np.int64), counts)
            if past.any():  # reports jittered past their stretch's end: sent in the next one
                before = np.zeros(rows + 1, dtype=np.int64)  # of those, the number before each row
                np.cumsum(past, out=before[1:])
                for c in np.flatnonzero(before[bounds[1:]] > before[bounds[:-1]]).tolist():
                    own = times[bounds[c] : bounds[c + 1]]
                    late[c] = own[own >= t1s[c]]
                times = times[~past]
                bounds = [b - int(before[b]) for b in bounds]
                rows = bounds[-1]
            start[at : at + rows] = times
        end = at + rows
        if app.payload.fixed is not None:
            one_up, one_down = report_bytes(prof, app, np.array([app.payload.fixed], dtype=np.int64))
            up[at:end], down[at:end] = int(one_up[0]), int(one_down[0])
        else:
            u = jitter[:rows]  # (the jitter's array, done with: its pages already in)
            for c, i in enumerate(idx):
                devices[i].rng_traffic.random(out=u[bounds[c] : bounds[c + 1]])
            sizes = sizes_of(app.payload, u)
            by_size = self._bytes_by_size(prof, app, reports)
            if by_size is None:
                up[at:end], down[at:end] = report_bytes(prof, app, sizes)
            else:  # each report's bytes looked up by its size (sizes are within [min, max])
                np.take(by_size[0], sizes, out=up[at:end], mode="clip")
                if isinstance(by_size[1], int):
                    down[at:end] = by_size[1]
                else:
                    np.take(by_size[1], sizes, out=down[at:end], mode="clip")
        # the ids of each device's first sessions: its block's from the start
        for c, i in enumerate(idx):
            lo, hi = bounds[c], bounds[c + 1]
            np.add(_count(hi - lo), devices[i].charging_base, out=charging[at + lo : at + hi])
        spans.extend((at + bounds[c], at + bounds[c + 1], late.get(c)) for c in range(len(idx)))
        return end
