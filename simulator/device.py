"""A simulated device: SimPy processes for its discrete decisions, numpy for its periodic traffic.

The life process walks the device's decisions in time order (roaming trips, SIM
swaps, outages).  Between two decisions nothing changes for the device, so its
periodic reports over that stretch are drawn at once (`simulator.traffic`) and
handed to the session batcher, or, for a persistent connection, carried by one
PDP context through the gateway's per-call API.  Outages run a retry loop with
the device's reconnection policy: every attempt is a SimPy timeout, and every
attempt that reaches the gateway (APN or server outage) is a data session that
costs at least a ko.  SMS, calls and mobile-terminated SMS are processes of
their own, each call going through the gateway (`gateway.api.NetworkAPI`).
"""

from __future__ import annotations

import copy
import itertools
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import simpy

from accounting.records import CHARGING_ID_BITS, RETRY_BIT
from gateway.api import NSAPIS, CallKind, CallOutcome, IcmpRateLimit, SmsStatus, move_to, scan_rng
from simulator import rng as rngmod
from simulator.batch import Stretch
from simulator.profiles import Exchange, Profile
from simulator.scenario import EventStream, Group, Outage
from simulator.stats import GroupStats
from simulator.traffic import (
    Sessions,
    context_scans,
    draw_period,
    draw_phase,
    per_report_sessions,
    persistent_session,
    report_times,
    scan_bytes,
    scanned,
    time_share,
)
from simulator.traffic_models import offsets

if TYPE_CHECKING:
    from simulator.engine import Shard

ATTACH_ATTEMPT_S = 15  # T3310, TS 24.008: a GPRS attach attempt left unanswered times out after 15 s
MT_PAGING_S = 5  # an MT SMS reaches a reachable device a few seconds after submission
SV = "01"
I64 = np.ndarray[Any, np.dtype[np.int64]]
# sessions handed together: start, duration, up, down, charging ids, going on at the period's end,
# opening only as a context ending then is released, scans' bytes, the moves that cut them, closed
# abnormally (lost)
_Part = tuple[
    I64, I64, I64, I64, I64, bool, npt.NDArray[np.bool_] | None, tuple[I64, I64] | None, tuple[int, ...], bool
]
HELD = 1 << 62  # the release of the NSAPI a persistent connection's context holds while it is open


def _sent_by_cut(
    up: I64, down: I64, scans: tuple[I64, I64] | None, lived: I64, duration: I64
) -> tuple[I64, I64]:
    """What sessions lost with the radio bearer `lived` s into their `duration` had sent (cause 4):
    their bytes shared by time (`time_share`), their scans' bytes (`scans`, drawn over that time)
    whole."""
    s_up, s_down = (np.zeros_like(lived), np.zeros_like(lived)) if scans is None else scans
    return time_share(up - s_up, lived, duration) + s_up, time_share(down - s_down, lived, duration) + s_down


@dataclass(frozen=True, slots=True)
class Identity:
    line: str
    imsi: str
    msisdn: str
    offer: str


class Device:
    """One device of a group, bound to one line."""

    def __init__(
        self,
        shard: Shard,
        group_index: int,
        group: Group,
        ident: Identity,
        gidx: int,
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> None:
        """`rngs`: its traffic and set-up streams when made beforehand (`simulator.rng.device_rngs`)."""
        self.shard = shard
        self.env: simpy.Environment = shard.env
        self.net = shard.network
        self.gi = group_index
        self.group = group
        self.ident = ident
        self.gidx = gidx
        self.stats: GroupStats = shard.stats[group_index]
        seed = shard.scenario.seed
        if rngs is None:
            rngs = (
                rngmod.device_rng(seed, ident.line, rngmod.TRAFFIC),
                rngmod.device_rng(seed, ident.line, rngmod.SETUP),
            )
        self.rng_traffic, setup = rngs
        self.seed = seed
        self.T = shard.scenario.duration_s
        # the second its line is activated (0: at the period's start or before): the device's life
        # starts there; at or after T it has none in the period
        self.on = shard.scenario.activations.get(ident.line, 0)
        mob = group.mobility
        self.home = mob.home_plmn
        u = float(setup.random())
        pick = int(setup.integers(0, 1 << 30))
        if u < mob.eu_share and mob.eu_plmns:
            self.base_plmn = mob.eu_plmns[pick % len(mob.eu_plmns)]
        elif u < mob.eu_share + mob.world_share and mob.world_plmns:
            self.base_plmn = mob.world_plmns[pick % len(mob.world_plmns)]
        else:
            self.base_plmn = self.home
        self.plmn = self.base_plmn
        self.imei = shard.imeis.imei(group.tac, gidx)
        self.persistent = group.application is not None and group.application.session == "persistent"
        # decisions: (time s, order, kind, payload)
        self.decisions: list[tuple[int, int, str, Any]] = []
        start = shard.scenario.start
        for k, trip in enumerate(mob.trips):
            if float(setup.random()) < trip.share:
                t0 = int((trip.start - start).total_seconds())
                t1 = int((trip.end - start).total_seconds())
                if t1 <= 0:  # over before the period (one starting mid-month): it leaves no trace
                    continue
                self.decisions.append((max(t0, 0), 0, "trip", (k, trip.plmn)))
                self.decisions.append((max(t1, 0), 1, "trip", (k, None)))
        self.trips_on: dict[int, str] = {}  # the trips going on, in the order they started
        for k, swap in enumerate(group.sim_swaps):
            if float(setup.random()) < swap.share:
                at = int((swap.at - start).total_seconds())
                if self.on > 0 and at <= self.on:  # before the line's activation: no swap of this SIM
                    continue
                if at <= 0:  # swapped before the period: the SIM is in its new device from the start
                    self.imei = shard.imeis.imei(group.tac, gidx, k + 1)
                else:
                    self.decisions.append((at, 2, "swap", k + 1))
        self.outages: list[Outage] = []
        for o in shard.scenario.outages:
            hit = float(setup.random()) < o.share
            applies = (o.kind == "apn" and o.apn == group.apn) or (
                o.kind != "apn" and (not o.groups or group.name in o.groups)
            )
            if hit and applies:
                self.outages.append(o)
                self.decisions.append((int((o.start - start).total_seconds()), 3, "outage", o))
        if self.persistent:  # clock changes under an open context
            plmns = {self.base_plmn} | {d[3][1] for d in self.decisions if d[2] == "trip" and d[3][1]}
            for plmn in sorted(plmns):
                self.decisions.extend((t, 0, "tz", plmn) for t in shard.tz_changes(plmn))
        # in time order; at the same second trips first, then swaps, then outages (a stable sort)
        self.decisions = sorted((d for d in self.decisions if d[0] < self.T), key=lambda d: (d[0], d[1]))
        if self.on > 0:
            self._activate()
        abroad = self.base_plmn != self.home or self.plmn != self.home
        if self.on < self.T and (abroad or any(d[2] == "trip" for d in self.decisions)):
            self.stats.roaming_devices += 1
        self.profile: Profile | None = None
        self.period = 0.0
        self.phase = 0.0
        if group.application is not None and group.schedule is not None:
            self.profile = shard.profiles[group.application.profile]
            self.period = draw_period(setup, group.schedule)
            self.phase = draw_phase(setup, group.schedule, self.period, shard.epoch_unix)
        self.area_down = False  # in an area outage: no coverage
        self.attached = False
        self.session_counter = 0
        self.context: str | None = None  # the persistent connection's open PDP context
        self.retry_counter = 0
        # the decision `life` is at: the one it takes, or while it waits for the next the last taken
        self.cursor = -1
        self.applied: set[int] = set()  # decisions taken in an outage, ahead of `life`
        self.late: I64 = np.zeros(0, dtype=np.int64)  # reports jittered past the last stretch's end
        self.last_sent = 0  # when the persistent connection last sent (its keep-alive timer's start)
        self.answers: list[int] = []  # a persistent connection's answers to commands, in this stretch
        # commands whose answers waited for a free NSAPI past the next decision: answered once it is
        # taken (`_answer_reports`)
        self.unanswered = 0
        self.failing: Exchange | None = None  # what an attempt costs in the outage ridden out last
        # the failed attempts of the outage ridden out, held to be handed in one batch (`outage`)
        self.holding: list[int] | None = None
        # the ICMP errors the network sends it, limited as a Linux host limits them (when first sent)
        self.icmp_limit: IcmpRateLimit | None = None
        # when each of the line's 11 NSAPIs is released by the contexts handed so far, in order: the
        # module's whole state of them, whatever the number of sessions (`_hold_nsapis`)
        self.nsapis: list[int] = [-1] * len(NSAPIS)
        # (the attempts last given to `_opens`, their opens and the NSAPIs' state after them)
        self._opens_of: tuple[list[int], int, int, list[int], list[int], list[int]] | None = None
        block = shard.charging_block_bits
        self.charging_base = ((gidx + 1) << block) & ((1 << CHARGING_ID_BITS) - 1)
        self.charging_span = 1 << block
        self.stats.devices += 1

    def _activate(self) -> None:
        """The decisions of a device whose line is activated at `on` > 0, as it sees them from there.

        Until its activation the SIM is not on the network: a trip going on at `on` leaves it
        abroad (its first attach is on the trip's network) and one ended before leaves no trace;
        an outage going on at `on` is met from there; SIM swaps and clock changes until then do
        not touch it (the swaps are left out when drawn).
        """
        on, start = self.on, self.shard.scenario.start
        kept: list[tuple[int, int, str, Any]] = []
        for d in self.decisions:
            t, order, kind, payload = d
            if t > on:
                kept.append(d)
            elif kind == "trip":
                self.plmn = self._trip(payload)
            elif kind == "outage" and (payload.end - start).total_seconds() > on:
                kept.append((on, order, kind, payload))
        self.decisions = sorted(kept, key=lambda d: (d[0], d[1]))

    def _trip(self, event: tuple[int, str | None]) -> str:
        """The serving network after a trip's start or end: the latest trip still going on, else the
        base (a trip that starts as another ends, or within it, is not cut short by the other's end)."""
        k, plmn = event
        if plmn is None:
            self.trips_on.pop(k, None)
        else:
            self.trips_on[k] = plmn
        return next(reversed(self.trips_on.values()), self.base_plmn)

    @cached_property
    def scanned(self) -> bool:
        """Whether the sessions of this device meet probes (`traffic.scanned`)."""
        return scanned(self.shard.scenario.apns.get(self.group.apn))

    @cached_property
    def rng_scan(self) -> np.random.Generator:
        """The line's scan stream (`gateway.scans`), made when a first session needs it."""
        return scan_rng(self.seed, self.ident.line)

    def scan_stream(self) -> np.random.Generator:
        """The line's scan stream (`rng_scan`), handed to the traffic draws as what makes it: made
        only when an APN scans a session."""
        return self.rng_scan

    @cached_property
    def rng_retry(self) -> np.random.Generator:
        """The retry stream, made when a first retry needs it (most devices never retry)."""
        return rngmod.device_rng(self.seed, self.ident.line, rngmod.RETRY)

    # ------------------------------------------------------------------ identities and attach

    @property
    def imeisv(self) -> str:
        return self.imei[:14] + SV

    def stretch(self) -> Stretch:
        zone = self.shard.zone_of(self.plmn)
        return Stretch(self.ident.line, self.ident.imsi, self.imeisv, self.group.apn, zone, self.plmn)

    def attach(self) -> bool:
        res = self.net.attach(self.env.now, self.ident.line, self.imeisv, self.plmn)
        self.attached = res.accepted
        if not res.accepted:
            self.stats.attach_refusals += 1
        return res.accepted

    def relocate(self) -> None:
        """A move to `self.plmn`: a routing area update when attached (contexts go on), else an attach."""
        res = move_to(self.net, self.env.now, self.ident.line, self.imeisv, self.plmn, attached=self.attached)
        self.attached = res.accepted
        if not res.accepted:
            self.stats.attach_refusals += 1

    # ------------------------------------------------------------------ data sessions

    def _charging(self, n: int, retry: bool) -> I64:
        """Charging ids of sessions: the device's block (wrapping), retries with RETRY_BIT set."""
        if retry:
            first, base = self.retry_counter, self.charging_base + RETRY_BIT
            self.retry_counter += n
        else:
            first, base = self.session_counter, self.charging_base
            self.session_counter += n
        if first >= 0 and first + n <= self.charging_span:  # no wrap: ids one after another
            return np.arange(base + first, base + first + n, dtype=np.int64)
        return base + (first + np.arange(n, dtype=np.int64)) % self.charging_span

    def sessions(
        self,
        start: I64,
        duration: I64,
        up: I64,
        down: I64,
        abnormal: bool = False,
        retry: bool = False,
        charging: I64 | None = None,
        moves: tuple[int, ...] = (),
        still_open: bool = False,
        scans: tuple[I64, I64] | None = None,
        attempt: Exchange | None = None,
    ) -> None:
        """Data sessions of this device: the bulk path, or the gateway's per-call path (`_play`) when
        the shard plays every session so or moves at `moves` fall into them.  `still_open`: they
        are going on at the period's end, their `duration` cut there: the device has not released
        them, the operator closes their records (cause 20).

        One whose `duration` runs past the period's end is cut there so, and carries the bytes of
        its time before the end only: a session's bytes are spread over its time (`time_share`, as
        at a move's cut), and those after the end are not sent in the period (a TLS 1.3 report cut
        a second after its start: 310 / 553 B of its 930 / 1,660).  `scans`: the bytes of scans
        among `up` and `down`, drawn over the time before the end (`per_report_sessions`): kept
        whole, as the gateway bills a context's probes.  `attempt`: they are failed attempts that
        cost this each in full; one an NSAPI wait pushes to the period's end is cut there as any
        attempt is (`Profile.attempts_cut`: what it sent by then, not a time share of its bytes).
        Those an NSAPI wait pushes to or past the next decision are played through the gateway
        (`_play`): they open in the network and with the device of then; those it pushes to go on
        across it are cut or ended there (`_pushed_across`)."""
        n = int(start.shape[0])
        if n == 0:
            return
        if charging is None:
            charging = self._charging(n, retry)
        tight = None
        late: int | None = None
        held = self._hold_nsapis(start, duration)
        if held is not None:  # some wait for a free NSAPI: any pushed past the period's end not sent
            start, tight = held
            late = self._next_decision(int(self.env.now) - 1)
            if int(start.max()) >= self.T:
                sent = start < self.T
                self.stats.nsapi_waits_past_end += n - int(sent.sum())  # (counted, not lost silently)
                start, duration, up, down, charging = (x[sent] for x in (start, duration, up, down, charging))
                tight = tight[sent]
                scans = None if scans is None else (scans[0][sent], scans[1][sent])
                n = int(start.shape[0])
                if n == 0:
                    return
        self.stats.data_sessions += n
        parts: list[_Part] = [
            (start, duration, up, down, charging, still_open, tight, scans, moves, abnormal)
        ]
        over = start + duration > self.T
        if over.any():
            cut, keep = self.T - start[over], ~over
            s_up, s_down = (
                (np.zeros_like(cut), np.zeros_like(cut))
                if scans is None
                else (scans[0][over], scans[1][over])
            )
            if attempt is not None and self.profile is not None:
                sent_up, sent_down = self.profile.attempts_cut(attempt, cut)
            else:
                sent_up = time_share(up[over] - s_up, cut, duration[over])
                sent_down = time_share(down[over] - s_down, cut, duration[over])
            parts = [
                (
                    start[over],
                    cut,
                    sent_up + s_up,
                    sent_down + s_down,
                    charging[over],
                    True,
                    None if tight is None else tight[over],
                    (s_up, s_down),
                    moves,
                    abnormal,
                ),
                (
                    start[keep],
                    duration[keep],
                    up[keep],
                    down[keep],
                    charging[keep],
                    still_open,
                    None if tight is None else tight[keep],
                    None if scans is None else (scans[0][keep], scans[1][keep]),
                    moves,
                    abnormal,
                ),
            ]
        if late is not None and attempt is None:
            parts = [q for part in parts for q in self._pushed_across(part, late)]
        for st, du, u, w, c, going_on, ties, sc, cut_at, lost in parts:
            if not st.shape[0]:
                continue
            if self.shard.per_call or cut_at:
                self.env.process(self._play(st, du, u, w, c, lost, cut_at, going_on, ties, sc))
                continue
            if late is not None and bool((st >= late).any()):
                # a wait for an NSAPI pushed these to or past the next decision (a move, a SIM
                # swap): they open in the network and with the device of then, played through the
                # gateway at their time as one by one (a stretch's batch is billed in the network
                # and with the IMEI of its start)
                then = st >= late
                self.env.process(
                    self._play(
                        st[then],
                        du[then],
                        u[then],
                        w[then],
                        c[then],
                        lost,
                        (),
                        going_on,
                        None if ties is None else ties[then],
                        None if sc is None else (sc[0][then], sc[1][then]),
                    )
                )
                st, du, u, w, c = (x[~then] for x in (st, du, u, w, c))
                if not st.shape[0]:
                    continue
            self.shard.batcher.add(self.stretch(), self.gi, st, du, u, w, c, lost, going_on)

    def _pushed_across(self, part: _Part, late: int) -> list[_Part]:
        """`part` split where its wait for a free NSAPI pushed some of its sessions to go on across a
        decision: each of those that end after the next decision at `late` meets the decisions of its
        own time once pushed (`_cut_of`: after its opening), as a stretch's reports going on across
        its end do, on both paths: cut at a roaming move or a clock change and at every move after it
        while it lasts (`_play`: its bytes shared by time between the cuts), and ended at a SIM swap
        or an outage's start (after those moves) as `_reports_ended` ends them: lost at an area
        outage's (cause 4, the bytes of its time before), else with its bytes.  The cuts it was
        handed with (`moves`) were those of its time before the wait.  Before, they were billed
        whole in the network and with the device of before the decision in bulk (played one by one,
        the gateway cut them at a move, their bytes all in the record after it, and a SIM swap's
        attach closed them with none of their bytes); one pushed to open at or past a move, or past
        the moves it was handed with, was still played so across the decision after them."""
        st, du = part[0], part[1]
        end = st + du
        reach = end > late
        if not reach.any():
            return [part]
        cuts: dict[tuple[tuple[int, ...], int | None], list[int]] = {}
        for k in np.flatnonzero(reach).tolist():
            cuts.setdefault(self._cut_of(int(st[k]), int(end[k]), outages=True), []).append(k)
        ties, sc = part[6], part[7]

        def of(sel: npt.NDArray[np.bool_] | list[int], cut_at: tuple[int, ...]) -> _Part:
            return (
                st[sel],
                du[sel],
                part[2][sel],
                part[3][sel],
                part[4][sel],
                part[5],
                None if ties is None else ties[sel],
                None if sc is None else (sc[0][sel], sc[1][sel]),
                cut_at,
                part[9],
            )

        parts = [of(~reach, part[8])]
        for (moves, stop), sel in cuts.items():
            if stop is None:
                parts.append(of(sel, moves))
                continue
            e_st, e_du, up, down, c, _, e_ties, e_sc, _, abnormal = of(sel, moves)
            lived = stop - e_st
            if self._cell_goes_at(stop):  # lost with the radio bearer: what was sent by then
                up, down = _sent_by_cut(up, down, e_sc, lived, e_du)
                abnormal = True
            parts.append((e_st, lived, up, down, c, False, e_ties, e_sc, moves, abnormal))
        return parts

    def _hold_nsapis(self, start: I64, duration: I64) -> tuple[I64, npt.NDArray[np.bool_]] | None:
        """Where sessions about to be handed open, in the order they are due: each takes one of the
        line's 11 NSAPIs (`NSAPIS`: a module activates no twelfth context, the network would refuse
        it with cause 199), at its own time, or when all 11 are held then, at the first release of
        one (none overtakes one waiting).  Returns their opening times (in the order given) and
        which open only once a context ending in that second is released (`_play` lets it close
        first); None when none waits or needs that (the usual case, checked at once).

        `self.nsapis` is the whole state: the time each NSAPI is released, 11 numbers whatever the
        number of sessions.  An NSAPI is held up to its last context's end, so a session handed
        after another that is due later waits for that one too (a stretch's reports are handed at
        its start: one of the NSAPIs stays theirs until the last of them ends)."""
        n = int(start.shape[0])
        free = self.nsapis
        end = start + duration
        order = None
        if n == 1 or bool((start[1:] >= end[:-1]).all()):  # one after the other (the usual case)
            first = 1
        else:
            first = 2
            if not bool((start[1:] >= start[:-1]).all()):
                order = np.argsort(start, kind="stable")
                start, duration, end = start[order], duration[order], end[order]
        k = bisect_left(free, int(start[0]))  # the NSAPIs released before the first opens
        for c in range(first, k):
            if c >= n or c == 1 or bool((start[c:] >= end[:-c]).all()):
                # no c + 1 of them open at once: c of those k NSAPIs carry them in turn (i, i + c,
                # i + 2c, ...), each released at the end of its last, and with the others held
                # fewer than 11 are ever open together
                c = min(c, n)
                free[k - c : k] = end[n - c :].tolist()
                free.sort()
                return None
        opens: list[int] = []
        ties: list[bool] = []
        for s, d in zip(start.tolist(), duration.tolist(), strict=True):
            at = s
            j = bisect_right(free, at)  # NSAPIs free at `at`
            if j == 0:  # all 11 held: the first released
                at = free[0]
                j = bisect_right(free, at)
            ties.append(bisect_left(free, at) == 0)  # one free only as a context ends this second
            del free[j - 1]  # the one released last of those free (the others stay free earlier)
            insort(free, at + d)
            opens.append(at)
        moved = np.array(opens, dtype=np.int64)
        tie = np.array(ties, dtype=np.bool_)
        if not tie.any() and bool((moved == start).all()):
            return None
        if order is not None:
            moved[order], tie[order] = moved.copy(), tie.copy()
        return moved, tie

    def _hold_connection_nsapi(self, until: int) -> tuple[float, bool] | None:
        """When the persistent connection's context can open (now, or the first release of an NSAPI
        when the line's 11 are held) and whether only as a context ending then is released; its
        NSAPI is then held until the device releases the context (`_release_connection_nsapi`).
        None, and no NSAPI taken, when that is `until` or later (the 11 held to the stretch's end)."""
        free = self.nsapis
        at = max(self.env.now, free[0])
        if at >= until:
            return None
        tie = bisect_left(free, at) == 0
        del free[bisect_right(free, at) - 1]
        free.append(HELD)  # (the greatest)
        return at, tie

    def _release_connection_nsapi(self) -> None:
        """The persistent connection's context released now (by the device, or found released)."""
        free = self.nsapis
        if free[-1] == HELD:
            free.pop()
            insort(free, math.ceil(self.env.now))  # (whole seconds, as the sessions' times)

    def _play(
        self,
        start: I64,
        duration: I64,
        up: I64,
        down: I64,
        charging: I64,
        abnormal: bool,
        moves: tuple[int, ...] = (),
        still_open: bool = False,
        ties: npt.NDArray[np.bool_] | None = None,
        scans: tuple[I64, I64] | None = None,
    ) -> Generator[simpy.Event, Any, None]:
        """Sessions played through the gateway as they happen.

        A session that moves at `moves` fall into is cut at each of them by the gateway like any
        context (`Network.move`: a partial record with the move's cause, in the network where its
        bytes went; every record in the zone where the session was opened) and goes on to its end.
        Its bytes are shared in proportion to the time between the cuts (`time_share`): those
        before the first move are counted when it opens (so the cut finds them), those between two
        moves once the first of them is made, the rest at its end.  `ties`: those whose NSAPI is free
        only as a context ending in their second is released (`_hold_nsapis`): they open after it.
        `scans`: the bytes of the scans among `up` and `down`; a session a move cuts is scanned by
        the gateway instead, each of its records carrying the probes of its span (`context_scans`,
        as a persistent connection's context), not its one count shared by time between them.
        """
        items = list(
            zip(start.tolist(), duration.tolist(), up.tolist(), down.tolist(), charging.tolist(), strict=True)
        )
        scanned_by = context_scans(self.shard.scenario.apns.get(self.group.apn), self.scan_stream)
        for k, (s, d, u, w, c) in enumerate(items):
            if s > self.env.now:
                yield self.env.timeout(s - self.env.now)
            if ties is not None and ties[k]:  # the contexts ending now are released first
                yield self.env.timeout(0)
            scan = None
            if scans is not None and scanned_by is not None and any(s < m < s + d for m in moves):
                u, w, scan = u - int(scans[0][k]), w - int(scans[1][k]), scanned_by
            res = self.net.open_session(
                self.env.now, self.ident.line, self.group.apn, charging_id=c, scan=scan
            )
            if not res.accepted or res.session_id is None:
                self.stats.session_refusals += 1
                continue
            carry = self._carry(res.session_id, s, d, u, w, abnormal, moves, still_open)
            if k + 1 < len(items) and items[k + 1][0] < self.env.now + d:
                # the next one opens while this one goes on (two answers to commands in the same
                # second, reports closer than their duration): each at its own time (the next one
                # opened at this one's end, seconds late)
                self.env.process(carry)
            else:
                yield from carry

    def _carry(
        self,
        sid: str,
        s: int,
        d: int,
        u: int,
        w: int,
        abnormal: bool,
        moves: tuple[int, ...],
        still_open: bool,
    ) -> Generator[simpy.Event, Any, None]:
        """A session of `_play` opened now, at `s`, carried to its end `d` s later: cut at each move of
        `moves` inside it, its bytes `u`, `w` shared by time between the cuts.  One handed within its
        second (an answer to a command at its delivery) ends at `s + d` all the same, the second its
        NSAPI is free again for the sessions waiting for one (`_hold_nsapis`)."""
        sent_u, sent_w, at, end = 0, 0, s, max(self.env.now, s + d)
        for move in (m for m in moves if s < m < s + d):
            if at > self.env.now:  # the move at `at` made (the device's process first at that time)
                yield self.env.timeout(at - self.env.now)
                yield self.env.timeout(0)
            if not self.net.session_open(sid):
                break
            to_u, to_w = (int(x) for x in time_share(np.array([u, w]), move - s, d))
            self.net.transfer(self.env.now, sid, to_u - sent_u, to_w - sent_w)
            sent_u, sent_w, at = to_u, to_w, move
        if end > self.env.now:
            yield self.env.timeout(end - self.env.now)
        if self.net.session_open(sid):
            self.net.transfer(self.env.now, sid, u - sent_u, w - sent_w)
            if not still_open:  # else open at the period's end: `Network.flush` closes its record
                self.net.close_session(self.env.now, sid, abnormal=abnormal)

    def apn_allowed(self) -> bool:
        return self.group.apn in self.shard.allowed_apns(self.ident.offer)

    def traffic(self, t0: int, t1: int, catch_up: bool) -> Generator[simpy.Event, Any, None]:
        """The periodic traffic of the stretch [t0, t1); returns (via the generator) when t1 is reached."""
        app, sched, prof = self.group.application, self.group.schedule, self.profile
        # the first stretch of most devices: drawn with the shard's other devices' (`simulator.predraw`;
        # asked before any draw of the stream, which it puts back as it was when not taken)
        first = self.shard.first_draws.take(self, t0, t1, catch_up)
        if app is None or sched is None or prof is None or not self.attached or t1 <= t0:
            if t1 > self.env.now:
                yield self.env.timeout(t1 - self.env.now)
            return
        if first is not None:
            if first.late is not None:
                self.late = first.late
            n = len(first.sessions)
            if self.session_counter == 0 and n <= self.charging_span:  # the first ids of its block
                charging, self.session_counter = first.charging, n
            else:
                charging = self._charging(n, retry=False)
            yield from self._reports(first.sessions, charging, t1)
            return
        # reports whose boundary is before a decision but whose jitter moves them after it are sent
        # in the stretch they fall in (after a roaming move, a clock change or a SIM swap)
        times = report_times(self.rng_traffic, sched, self.period, self.phase, t0, t1, late=True)
        if self.late.shape[0]:
            times = np.sort(np.concatenate((self.late[self.late >= t0], times)))
        if times.shape[0] and int(times.max()) >= t1:
            self.late = times[times >= t1]
            times = times[times < t1]
        elif self.late.shape[0]:
            self.late = times[:0]  # (none jittered past t1: the usual stretch, no passes to find them)
        if catch_up:
            times = np.concatenate(([t0], times[times > t0])).astype(np.int64)
        apn = self.shard.scenario.apns.get(self.group.apn)
        if not self.persistent:
            if not self.apn_allowed():
                self.stats.session_refusals += int(times.shape[0])
            else:
                cut = self._reports_end(t1, times, prof.report.duration_s) if scanned(apn) else self.T
                s = per_report_sessions(self.rng_traffic, prof, app, apn, times, self.scan_stream, cut)
                yield from self._reports(s, self._charging(len(s), retry=False), t1)
                return
            if t1 > self.env.now:
                yield self.env.timeout(t1 - self.env.now)
            return
        sid = self.context
        opened = sid is None or not self.net.session_open(sid)
        if sid is None or opened:
            if sid is not None:  # released by the network (a new registration): its NSAPI too
                self._release_connection_nsapi()
            held = self._hold_connection_nsapi(t1)
            if held is None:  # the line's 11 NSAPIs held to the stretch's end: no connection in it
                self.stats.nsapi_connections_kept_out += 1  # (counted, not lost silently)
                self.context = None
                yield self.env.timeout(t1 - self.env.now)
                self.answers = []
                return
            at, tie = held
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            if tie:  # the context ending now is released first
                yield self.env.timeout(0)
            # its scans drawn by the gateway for each of its records, from the line's stream
            res = self.net.open_session(
                self.env.now,
                self.ident.line,
                self.group.apn,
                charging_id=int(self._charging(1, retry=False)[0]),
                scan=context_scans(apn, self.scan_stream),
            )
            if not res.accepted or res.session_id is None:
                self.stats.session_refusals += 1
                self._release_connection_nsapi()
                self.context = None
                yield self.env.timeout(t1 - self.env.now)
                self.answers = []
                return
            self.stats.data_sessions += 1
            sid = self.context = res.session_id
        yield self.env.timeout(t1 - self.env.now)
        if self.answers:  # answers to commands, published on the connection like reports
            times = np.sort(np.concatenate((times, np.array(self.answers, dtype=np.int64))))
            self.answers = []
        # the connection is set up once per context: a context going on after a move keeps it, and
        # its keep-alive timer
        since = None if opened else self.last_sent
        up, down = persistent_session(
            self.rng_traffic, prof, app, apn, times, t0, t1, connect=opened, since=since
        )
        self.last_sent = int(times[-1]) if times.shape[0] else (t0 if since is None else since)
        if self.net.session_open(sid):
            self.net.transfer(self.env.now, sid, up, down)
            if t1 >= self.T:  # up at the period's end: `Network.flush` closes its record there (cause 20)
                return
            if not self._moves_only_at(t1):  # a move keeps the context up (`relocate`)
                self.net.close_session(self.env.now, sid, abnormal=self._outage_at(t1))
                self._release_connection_nsapi()
                self.context = None

    def _reports(self, s: Sessions, charging: I64, t1: int) -> Generator[simpy.Event, Any, None]:
        """The stretch's reports `s` (charging ids `charging`) handed over; returns when t1 is reached."""
        scans = (s.scan_up, s.scan_down)
        n = int(s.start.shape[0])
        if n and int(s.start.max()) + int(s.duration.max()) <= t1:  # every one ends by t1
            self.sessions(s.start, s.duration, s.up, s.down, charging=charging, scans=scans)
            if t1 > self.env.now:
                yield self.env.timeout(t1 - self.env.now)
            return
        across = s.start + s.duration > t1
        if self._moves_only_at(t1) and across.any():
            # the context goes on across the move, and across every move after it while it lasts
            moves, stop = self._moves_from(t1, int((s.start + s.duration).max()))
            keep = ~across
            if stop is None:  # (one going on at the period's end is cut there: `sessions`)
                self.sessions(
                    s.start[across],
                    s.duration[across],
                    s.up[across],
                    s.down[across],
                    charging=charging[across],
                    moves=moves,
                    scans=(scans[0][across], scans[1][across]),
                )
            else:
                self._reports_ended(s, across, charging, stop, moves)
            self.sessions(s.start[keep], s.duration[keep], s.up[keep], s.down[keep], charging=charging[keep])
        elif t1 < self.T:  # the session ends at the stretch's end (an outage, a SIM swap)
            self._reports_ended(s, np.ones(n, dtype=np.bool_), charging, t1)
        else:  # one going on at the period's end is cut there (`sessions`)
            self.sessions(s.start, s.duration, s.up, s.down, charging=charging, scans=scans)
        if t1 > self.env.now:
            yield self.env.timeout(t1 - self.env.now)

    def _reports_ended(
        self, s: Sessions, part: npt.NDArray[np.bool_], charging: I64, end: int, moves: tuple[int, ...] = ()
    ) -> None:
        """The reports `part` of `s` (charging ids `charging`), ended at `end` at the latest: an
        outage's start or a SIM swap (after `moves`, which they go on across).  One going on when an
        area outage starts at `end` is lost there with the radio bearer, as a served modem's
        contexts are when its coverage goes (closed abnormally, cause 4, nothing sent after): it is
        billed the bytes of its time before (`time_share`, its scans, drawn over that time, whole);
        any other ends there with its bytes (cause 0)."""
        lived = np.minimum(s.duration, np.maximum(end - s.start, 0))
        lost = part & (lived < s.duration) if self._cell_goes_at(end) else np.zeros_like(part)
        for sel, abnormal in ((part & ~lost, False), (lost, True)):
            if not sel.any():
                continue
            up, down, s_up, s_down = s.up[sel], s.down[sel], s.scan_up[sel], s.scan_down[sel]
            if abnormal:  # what was sent by the cut
                up, down = _sent_by_cut(up, down, (s_up, s_down), lived[sel], s.duration[sel])
            self.sessions(
                s.start[sel],
                lived[sel],
                up,
                down,
                abnormal=abnormal,
                charging=charging[sel],
                moves=moves,
                scans=(s_up, s_down),
            )

    def _reports_end(self, t1: int, times: I64, duration: int) -> int:
        """Where the reports at `times` (of `duration` s) of the stretch ending at `t1` are cut if
        going on then: the period's end, an outage's start or a SIM swap at `t1`, or after the moves
        at `t1` (which they go on across) the first such decision (`_moves_from`)."""
        if t1 >= self.T or not times.shape[0]:
            return self.T
        if not self._moves_only_at(t1):
            return t1
        _moves, stop = self._moves_from(t1, int(times.max()) + duration)
        return self.T if stop is None else stop

    def _outage_at(self, t: int) -> bool:
        return any(d[0] == t and d[2] == "outage" for d in self.decisions)

    def _moves_from(self, t: int, until: float) -> tuple[tuple[int, ...], int | None]:
        """The moves at `t` (roaming moves or clock changes only) and those after it before `until`,
        each of which cuts a session going on across them, and the time of the first other decision
        between (a SIM swap, an outage's start), where such a session ends, as one no move cut ends
        at its stretch's end, if any (the period's end cuts it in `sessions`)."""
        moves = [t]
        for at in sorted({d[0] for d in self.decisions if t < d[0] < until}):
            if not self._moves_only_at(at):
                return tuple(moves), at
            moves.append(at)
        return tuple(moves), None

    def _moves_only_at(self, t: int) -> bool:
        """Whether the decisions at `t` are roaming moves or clock changes only (before the run's end)."""
        at = [d[2] for d in self.decisions if d[0] == t]
        return t < self.T and bool(at) and all(kind in ("trip", "tz") for kind in at)

    # ------------------------------------------------------------------ life

    def life(self) -> Generator[simpy.Event, Any, None]:
        catch_up = False
        if self.on > 0:
            # the line is activated during the period: the device is switched on then, and its module
            # searches for the network before its first attach (a served modem's power-on search); a
            # report due meanwhile waits for the registration
            yield self.env.timeout(min(self.on + self.group.network_search_s, self.T))
            if self.env.now >= self.T:
                return
            catch_up = self._due_between(self.on, self.env.now)
        if not self._cell_out(self.env.now):  # else no cell to register on: the outage's end attaches
            self.attach()
        for i, (t, _order, kind, payload) in enumerate(self.decisions):
            if i in self.applied:  # taken at its time while an outage was ridden out
                continue
            if t > self.env.now:
                yield from self.traffic(int(self.env.now), t, catch_up)
                catch_up = False
            self.cursor = i  # (a command answered in the stretch meets this decision: `_cut_of`)
            if kind == "outage":  # one going on when the device is back from another: its missed report fails
                catch_up = yield from self.outage(payload, first=float(self.env.now) if catch_up else None)
            else:
                yield from self._ended_first()
                self._apply(kind, payload)
                if self.unanswered and not (i + 1 < len(self.decisions) and self.decisions[i + 1][0] == t):
                    self._answer(0)  # (after every decision of that second)
        if self.env.now < self.T:
            yield from self.traffic(int(self.env.now), self.T, catch_up)
        # answers that waited for an NSAPI, then for the cell, back only after the period's end
        self.stats.nsapi_waits_past_end += self.unanswered
        self.unanswered = 0

    def _cell_out(self, t: float) -> bool:
        """Whether an area outage of this device's is going on at `t` (its module finds no cell)."""
        start = self.shard.scenario.start
        return any(
            o.kind == "area" and (o.start - start).total_seconds() <= t < (o.end - start).total_seconds()
            for o in self.outages
        )

    def _ended_first(self) -> Generator[simpy.Event, Any, None]:
        """Before a roaming move, a clock change or a SIM swap: the sessions played through the gateway
        that end at its second (a report or an attempt ending then, or one the swap ends:
        `_reports_ended`, `_attempt_cut`) hand their bytes and are released first, as in bulk where
        they end before it.  Taken before them, a SIM swap's attach released their contexts, their
        records closed with none of their bytes; a move cut them (cause 24, 0 octets), their bytes
        in a 0-s record after it."""
        yield self.env.timeout(0)

    def _apply(self, kind: str, payload: Any, coverage: bool = True) -> None:
        """A roaming move, a clock change or a SIM swap, now.  Without `coverage` (an area outage)
        the device cannot signal it: the attach at the outage's end does, on the new network and
        with the new device."""
        if kind == "trip":
            self.plmn = self._trip(payload)
            if coverage:
                self.relocate()
        elif kind == "tz":
            if coverage and payload == self.plmn and self.attached:
                self.net.time_zone_change(self.env.now, self.ident.line)
        elif kind == "swap":
            self.imei = self.shard.imeis.imei(self.group.tac, self.gidx, payload)
            self.stats.sim_swaps += 1
            if coverage:
                self.attach()

    def _pending(
        self,
        t: float,
        cell_outage_before: float | None = None,
        after: float | None = None,
        outages: bool = False,
    ) -> int | None:
        """The next decision after the current one, not yet taken, due at or before `t` (and after
        `after`, when given): a move, a clock change or a SIM swap, or with `cell_outage_before` an
        area outage starting before it (with `outages`, any outage)."""
        for i in range(self.cursor + 1, len(self.decisions)):
            at, _order, kind, payload = self.decisions[i]
            if at > t:
                return None
            if i in self.applied or (after is not None and at <= after):
                continue
            if kind != "outage" or (
                cell_outage_before is not None
                and (outages or payload.kind == "area")
                and at < cell_outage_before
            ):
                return i
        return None

    def _until(
        self, t: float, failed: list[int], coverage: bool, cell_outage_before: float | None = None
    ) -> Generator[simpy.Event, Any, int | None]:
        """Wait in an outage until `t`, taking the decisions that fall in the wait at their own times
        (the failed attempts made before one are handed over first: they were made where the device
        was then, with the device it was).  An area outage reached (`cell_outage_before`) stops the
        wait at its start: its index is returned."""
        while (i := self._pending(t, cell_outage_before)) is not None:
            at, _order, kind, payload = self.decisions[i]
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            self._failed_sessions(failed)
            failed.clear()
            self.applied.add(i)
            if kind == "outage":
                return i
            yield from self._ended_first()
            self._apply(kind, payload, coverage)
            if self.unanswered and coverage and self._next_decision(at - 1) != at:
                self._answer(0)  # (after every decision of that second)
        if t > self.env.now:
            yield self.env.timeout(t - self.env.now)
        return None

    def _next_report(self, t: float) -> float:
        if self.period <= 0:
            return t
        k = math.ceil((t - self.phase) / self.period)
        return self.phase + k * self.period

    def _due_between(self, t0: float, t1: float) -> bool:
        """Whether a report of the schedule is due in [t0, t1) (a boundary, before its jitter)."""
        return self.profile is not None and self.period > 0 and self._next_report(t0) < t1

    def _delay(self, attempt: int) -> float:
        rc = self.group.reconnect
        if rc.policy == "immediate":
            return 0.0
        base = rc.delay_s if rc.policy == "fixed" else min(rc.max_s, rc.delay_s * 2.0 ** (attempt - 1))
        return base * (1.0 - rc.jitter * float(self.rng_retry.random()))

    def outage(self, o: Outage, first: float | None = None) -> Generator[simpy.Event, Any, bool]:
        """Ride out an outage with the reconnection policy; True when a catch-up report is due.

        `first`: the device's first try (an area outage that starts while it retries in another)."""
        # the start times of failed sessions, handed over in one batch: the shard knows they are to
        # come (the alarm engine counts no use after the first of them until they are given)
        failed: list[int] = []
        self.shard.failed_attempts[id(failed)] = failed
        holding, self.holding = self.holding, failed
        try:
            if self.unanswered and o.kind != "area":  # answers that waited past its start: attempts
                self._answer(0)
            return (yield from self._outage(o, first, failed))
        finally:
            self.holding = holding
            del self.shard.failed_attempts[id(failed)]

    def _outage(self, o: Outage, first: float | None, failed: list[int]) -> Generator[simpy.Event, Any, bool]:
        start = self.shard.scenario.start
        t_end = min(int((o.end - start).total_seconds()), self.T)
        has_data = self.profile is not None
        entered = float(self.env.now)
        if o.kind == "area":
            self.area_down = True
        elif not has_data or not self.attached or not self.apn_allowed():
            # an APN or server outage does not concern a device that opens no session: without data,
            # or whose contexts the network refuses (its reports go on being refused, as before)
            return False
        self.late = self.late[self.late >= t_end]  # one due in the outage is lost (retries, catch-up)
        if o.kind != "area":
            self.failing = self._attempt(o)  # what its attempts cost (an area outage's go on)
        if first is None:
            first = (
                float(self.env.now) if (self.persistent or not has_data) else self._next_report(self.env.now)
            )
        if first >= t_end:
            if o.kind != "area":
                return False
            # no report due in it: off the air all the same (SMS and calls refused) until the module
            # has found the cell again and registered (its network search, as when a report is due)
            back = min(float(t_end) + self.group.network_search_s, float(self.T))
            again = yield from self._cell_gone_again(back, [])
            # a report due in the search waits for the registration (held, not skipped)
            held = has_data and not self.persistent and self._due_between(t_end, self.env.now)
            if again is not None:  # gone again before the module found it: off the air through that one,
                # trying the report it holds from there (before, counted from that one's start: lost)
                return (yield from self._outage(again, float(self.env.now) if held else None, failed))
            self.area_down = False
            if self.env.now >= self.T:
                return False
            self.attach()  # on the network and with the device of now (a trip, a SIM swap meanwhile)
            self.deliver_mt()
            return held
        prof = self.profile
        rc = self.group.reconnect
        t = first
        attempts = 0
        gave_up = False
        coverage = o.kind != "area"
        while True:
            while t < t_end and t < self.T:
                cell = yield from self._until(t, failed, coverage, float(t_end) if coverage else None)
                if cell is not None:  # the cell goes too: no coverage until it returns, then this goes on
                    cursor, self.cursor = self.cursor, cell
                    yield from self.outage(self.decisions[cell][3], first=t)
                    self.cursor = cursor
                    if self.env.now > t:  # back on the network: its missed report at once
                        t, attempts, gave_up = float(self.env.now), 0, False
                    continue
                attempts += 1
                self.stats.retry_attempts += 1
                if o.kind == "area":
                    self.stats.no_coverage_attempts += 1
                    busy = float(ATTACH_ATTEMPT_S)
                else:
                    assert prof is not None
                    fa = self._attempt(o, float(self.env.now))
                    if fa != self.failing:  # the attempts of one cost are billed together
                        self._failed_sessions(failed)  # those before, at theirs
                        failed.clear()
                        self.failing = fa
                    busy = float(fa.duration_s)
                    failed.append(int(self.env.now))
                    self._attempt_cut(failed, busy)
                    if self.shard.per_call or self.scanned:
                        # played through the gateway as they happen; on a scanned APN handed over at
                        # once as well: the line's scan stream draws their probes in time order with
                        # the gateway's (a context cut by a move) and a command's answer (`scan_bytes`)
                        self._failed_sessions(failed)
                        failed.clear()
                    self.stats.retry_sessions += 1
                    self.stats.retry_records += 1
                    self.stats.retry_ko += -(-(fa.up + fa.down) // 1024)
                if rc.max_attempts and attempts >= rc.max_attempts:
                    # given up until the next scheduled report, which tries again (and may find the outage over)
                    gave_up, attempts = True, 0
                    t = self._next_report(t + busy) if has_data else float(t_end)
                    continue
                gave_up = False
                t = t + busy + self._delay(attempts)
            back = float(t_end)
            if o.kind == "area":  # the module finds the cell again and registers: its network search
                back += self.group.network_search_s
                if not gave_up and rc.policy == "immediate":
                    # the cell comes back for every device at once: synchronised access (TR 37.868 Model 2)
                    t = back + float(offsets(self.rng_retry, o.recovery, o.recovery_s, 1)[0])
            t = min(max(t, back), float(self.T))
            if o.kind != "area":
                break
            again = yield from self._cell_gone_again(t, failed)
            if again is None:
                break
            # the cell gone again before the device's next try found it: its tries go on (with their
            # back-off) until that outage is over too, as through one outage
            o, t_end = again, max(t_end, min(int((again.end - start).total_seconds()), self.T))
            self.late = self.late[self.late >= t_end]
        yield from self._until(t, failed, coverage)
        self._failed_sessions(failed)
        failed.clear()  # (handed: an answer made in another server outage going on hands none again)
        self.area_down = False
        if self.env.now >= self.T:
            return False
        self.stats.reconnections += 1
        if o.kind == "area":
            self.attach()
        self.deliver_mt()
        # its missed report at once: a per-report device's first attempt was one; a persistent
        # connection's, when a report fell due while it was down (before, it was lost)
        return has_data and (not self.persistent or self._next_report(entered) < self.env.now)

    def _cell_gone_again(self, t: float, failed: list[int]) -> Generator[simpy.Event, Any, Outage | None]:
        """Wait, after an area outage, until `t` (the device's next try once the cell is back and
        found) unless another area outage of the device's starts by then (at `t` too: the cell is out
        from its start's second) or already has, and is not over, its cell found again, by then: the
        wait stops at its start and it is returned (taken: the device, not registered yet, rides it
        out).  One over by then goes unnoticed.  Before, the device registered at `t` with the cell
        gone, and answered the commands held meanwhile: contexts opened and billed with no cell (one
        starting at `t` itself was met only after that registration and those answers)."""
        start = self.shard.scenario.start
        # (decisions fall on whole seconds: those before `t + 1` not after `t` are those up to `t`)
        while (cell := (yield from self._until(t, failed, False, cell_outage_before=t + 1))) is not None:
            o: Outage = self.decisions[cell][3]
            if (o.end - start).total_seconds() + self.group.network_search_s > t:
                return o
        return None

    def _attempt_cut(
        self, failed: list[int], busy: float, fa: Exchange | None = None, together: int = 1
    ) -> None:
        """The attempt just made (`failed[-1]`, or the last `together` of `failed`, made at once:
        answers to commands) when a decision falls into it, handed over at once as a session
        outside an outage would be: cut at a move and going on in the new network, ended at a SIM
        swap; at an area outage's start, lost with the radio bearer (as a served modem's contexts
        when its coverage goes: closed abnormally, nothing sent after).  `fa`: what each costs
        (default that of the outage ridden out).  What falls into it is found from where it opens,
        after its wait for a free NSAPI (`_opens`): an attempt whose wait ends before a SIM swap
        ends at the swap with its bytes, on both paths."""
        if self._pending(math.inf, cell_outage_before=math.inf, after=failed[-1]) is None:
            return  # no decision after it (the usual case): nothing falls into it, wherever it opens
        opens = self._opens(failed, busy)
        start = opens[-1]
        moves, stop = self._cut_of(start, start + busy)
        if not moves and stop is None:
            return
        starts = failed[-together:]  # (the same second, or as NSAPIs are released: `_answer_attempts`)
        del failed[-together:]
        self._failed_sessions(failed)  # the earlier ones first: charging ids in the order of the attempts
        failed.clear()
        lost = stop is not None and self._cell_goes_at(stop)
        duration = None if stop is None else [stop - s for s in opens[-together:]]
        self._failed_sessions(starts, duration=duration, moves=moves, fa=fa, lost=lost)

    def _opens(self, failed: list[int], busy: float) -> list[int]:
        """Where the attempts of `failed` (each lasting `busy` s) open: at their time, or as an NSAPI
        of the line is released (`_hold_nsapis`; those not handed yet counted as if they were, in
        the order they were made), the NSAPIs' state left as it is.  An outage's attempts are held
        one after another: the state after the earlier ones is kept (`_opens_of`), so that each
        new one costs one step, not a pass over all those held (those `_attempt_cut` did not ask
        for, no decision being ahead of them, are stepped through when one is)."""
        kept = self._opens_of
        n = len(failed)
        if (
            kept is not None
            and kept[0] is failed
            and 0 < kept[1] < n
            and kept[2] == failed[kept[1] - 1]
            and kept[3] == self.nsapis
        ):
            free, opens, nsapis = kept[4], kept[5], kept[3]  # (kept's own: changed in place)
            for t in failed[kept[1] :]:
                k = bisect_left(free, t)
                if k >= 2:  # two NSAPIs free before it: it opens at its time (`_hold_nsapis`'s first step)
                    free[k - 1] = t + int(busy)
                    free.sort()
                    opens.append(t)
                else:
                    self._hold_onto(free, opens, [t], busy)
        else:
            free, opens, nsapis = list(self.nsapis), [], list(self.nsapis)
            self._hold_onto(free, opens, failed, busy)
        self._opens_of = (failed, n, failed[-1], nsapis, free, opens)
        return opens

    def _hold_onto(self, free: list[int], opens: list[int], new: list[int], busy: float) -> None:
        """`new`'s attempts (each lasting `busy` s) opened from the NSAPIs' state `free` (changed in
        place, `self.nsapis` left as it is), their opens added to `opens`."""
        held = self._held_from(
            free, np.array(new, dtype=np.int64), np.full(len(new), int(busy), dtype=np.int64)
        )
        opens += new if held is None else held[0].tolist()

    def _held_from(
        self, free: list[int], start: I64, duration: I64
    ) -> tuple[I64, npt.NDArray[np.bool_]] | None:
        """`_hold_nsapis` from the NSAPIs' state `free` (changed in place), `self.nsapis` left as it is."""
        nsapis, self.nsapis = self.nsapis, free
        try:
            return self._hold_nsapis(start, duration)
        finally:
            self.nsapis = nsapis

    def _cut_of(self, start: int, end: float, outages: bool = False) -> tuple[tuple[int, ...], int | None]:
        """What cuts a session or an attempt the device starts at `start` and would end at `end`: the
        moves that fall into it (roaming moves, clock changes: it goes on across them) and the
        decision that ends it then, if any (a SIM swap, an area outage's start, with `outages` any
        outage's start, as a report's: `_attempt_cut`, `_reports_ended`); ((), None) when none
        falls into it."""
        i = self._pending(end, cell_outage_before=end, after=start, outages=outages)
        if i is None:
            return (), None
        at = self.decisions[i][0]
        if not at < end:
            return (), None
        if self._moves_only_at(at):  # cut at every move while it lasts
            return self._moves_from(at, end)
        return (), at

    def _cell_goes_at(self, t: int) -> bool:
        """Whether an area outage of this device's starts at `t`."""
        return any(d[0] == t and d[2] == "outage" and d[3].kind == "area" for d in self.decisions)

    def _attempt(self, o: Outage, at: float | None = None) -> Exchange:
        """What one attempt costs in the server or APN outage `o`: nothing answers (the profile's
        failed attempt), or the network answers "destination unreachable" (ICMP); one made at `at`,
        as many of those answers as the ICMP rate limits let go to the device (`gateway.icmplimit`,
        the device's own, as a modem's; every answer when `at` is not given)."""
        assert self.profile is not None
        if o.answer != "unreachable":
            return self.profile.failed_attempt
        if at is None:
            return self.profile.unreachable_attempt
        return self._unreachable_sent(at, 1, self._sends_end(at))[0]

    def _sends_end(self, at: float) -> float:
        """Where the sends of an attempt made at `at` stop: the period's end, or the start of an
        area outage that cuts it (`_attempt_cut`: the radio bearer lost, nothing sent after; a SIM
        swap ends it with its bytes, its sends made)."""
        assert self.profile is not None
        end = at + self.profile.failed_attempt.duration_s
        i = self._pending(end, cell_outage_before=end, after=at)
        if i is None:
            return float(self.T)
        t: int | None = self.decisions[i][0]
        if t is not None and self._moves_only_at(t):
            _moves, t = self._moves_from(t, end)
        return float(t) if t is not None and self._cell_goes_at(t) and t < self.T else float(self.T)

    def _unreachable_sent(self, at: float, n: int, until: float) -> list[Exchange]:
        """`n` attempts made together at `at`, answered "unreachable" as the device's ICMP rate
        limits let the network answer (`Profile.unreachable_together`), their sends cut at `until`."""
        assert self.profile is not None
        if self.icmp_limit is None:
            self.icmp_limit = IcmpRateLimit()
        return self.profile.unreachable_together(self.icmp_limit, at, self.ident.line.encode(), n, until)

    def _failed_sessions(
        self,
        starts: list[int],
        duration: list[int] | None = None,
        moves: tuple[int, ...] = (),
        fa: Exchange | None = None,
        lost: bool = False,
    ) -> None:
        """Sessions of reconnection attempts that reached the gateway but not the server (`fa`: what
        each costs; default that of the outage ridden out).  The device releases each context once
        its connection has failed: the network sees a normal release (cause 0, as a module's
        firmware deactivating its context after a failed connect); the retry bit of their charging
        ids says what they were.  `lost`: the cell went `duration` s after their start (an area
        outage): the network lost their contexts then (cause 4), and they sent nothing after."""
        if not starts or self.profile is None:
            return
        if fa is None:
            fa = self.failing or self.profile.failed_attempt
        at = np.array(starts, dtype=np.int64)
        full = fa.duration_s if duration is None else np.array(duration, dtype=np.int64)
        # an attempt in progress at the period's end is cut there, as a report session is, and not
        # released yet (it has not failed by then): its record is closed by the operator (cause 20)
        lasting = np.clip(self.T - at, 0, full)
        going_on = at + full > self.T  # the last attempts, if any: charging ids stay in time order
        up = np.full(at.shape[0], fa.up, dtype=np.int64)
        down = np.full(at.shape[0], fa.down, dtype=np.int64)
        cut = going_on | lost
        if cut.any():  # what was sent by the cut: the SYNs, or the CoAP transmissions
            up[cut], down[cut] = self.profile.attempts_cut(fa, lasting[cut])
        # a context on a public APN is scanned as any other (the gateway draws for every context)
        s_up, s_down = scan_bytes(self.scan_stream, self.shard.scenario.apns.get(self.group.apn), lasting)
        up, down = up + s_up, down + s_down
        for part, still_open in ((~going_on, False), (going_on, True)):
            n = int(part.sum())
            if n:
                self.sessions(
                    at[part],
                    lasting[part],
                    up[part],
                    down[part],
                    abnormal=lost,
                    retry=True,
                    moves=moves,
                    still_open=still_open,
                    scans=(s_up[part], s_down[part]),
                    attempt=fa,
                )

    # ------------------------------------------------------------------ SMS, calls, MT SMS

    def _arrivals(self, stream: EventStream, r: np.random.Generator) -> Generator[float, None, None]:
        if stream.every_s is not None:
            t = float(r.random()) * stream.every_s
            while t < self.T:
                yield t
                t += stream.every_s
        elif stream.rate_per_day > 0:
            mean = 86_400.0 / stream.rate_per_day
            t = float(r.exponential(mean))
            while t < self.T:
                yield t
                t += float(r.exponential(mean))

    def sms_process(self, k: int, stream: EventStream) -> Generator[simpy.Event, Any, None]:
        r = rngmod.device_rng(self.seed, self.ident.line, rngmod.EVENTS * 1000 + k)
        for t in self._arrivals(stream, r):
            if t < self.on:  # the line is not active yet
                continue
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            if self.area_down:
                self.stats.sms_refused += 1
                continue
            res = self.net.send_sms(self.env.now, self.ident.line, stream.dest, stream.size)
            if res.status == SmsStatus.ACCEPTED:
                self.stats.sms_sent += 1
            else:
                self.stats.sms_refused += 1

    def call_process(self, k: int, stream: EventStream) -> Generator[simpy.Event, Any, None]:
        r = rngmod.device_rng(self.seed, self.ident.line, rngmod.EVENTS * 1000 + 100 + k)
        kind = CallKind.VOICE if stream.kind == "voice" else CallKind.CSD
        for t in self._arrivals(stream, r):
            hold = max(1, math.ceil(float(r.exponential(stream.duration_s)))) if stream.duration_s > 0 else 1
            if t < self.on:  # the line is not active yet
                continue
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            elif self.env.now >= self.T:  # due while the line was on a call that ran past the period's end
                return
            if self.area_down:
                self.stats.calls_refused += 1
                continue
            res = self.net.place_call(self.env.now, self.ident.line, stream.dest, kind)
            if res.outcome == CallOutcome.ANSWERED and res.call_id is not None:
                self.stats.calls_answered += 1
                # one going on at the period's end is cut there, as a data session is: its record
                # stays in the days the run covers (a long one ran on into the next month, where the
                # rating rejects a record ending more than 12 h past the month's end)
                held = min(float(hold), self.T - self.env.now)
                yield self.env.timeout(held)
                self.net.hang_up(self.env.now, res.call_id)
                self.stats.call_seconds += math.ceil(round(held, 6))
            elif res.outcome == CallOutcome.BUSY:
                self.stats.calls_busy += 1
            elif res.outcome == CallOutcome.NO_ANSWER:
                self.stats.calls_no_answer += 1
            else:
                self.stats.calls_refused += 1

    def _server_down(self, t: float) -> Outage | None:
        """The server or APN outage of this device's going on at `t` (its server does not answer), if any."""
        start = self.shard.scenario.start
        return next(
            (
                o
                for o in self.outages
                if o.kind != "area"
                and (o.start - start).total_seconds() <= t < (o.end - start).total_seconds()
            ),
            None,
        )

    def deliver_mt(self) -> None:
        if self.group.mt_sms is None or self.area_down:
            return
        got = self.net.pending_sms(self.env.now, self.ident.line)
        self.stats.mt_sms_delivered += len(got)
        self._answer(len(got))

    def _answer(self, n: int) -> None:
        """Answers now to `n` commands just delivered and to those whose answers waited for a free
        NSAPI past the decision just taken (`unanswered`, `_answer_reports`): in the network, with
        the device and in the outage of now."""
        n, self.unanswered = n + self.unanswered, 0
        if not n:
            return
        down = self._server_down(self.env.now)
        if (
            self.profile is not None and self.attached and self.apn_allowed() and down is not None
        ):  # the answer is an attempt the server does not answer, as the outage's own attempts
            self._answer_attempts(n, down)
            return
        if self.persistent and self.attached and self.apn_allowed():
            # published on the open connection (or the one the device opens now, after an outage)
            self.answers.extend([int(self.env.now)] * n)
            return
        if self.profile is not None and self.group.application is not None and self.attached:
            self._answer_reports(n)

    def _answer_attempts(self, n: int, down: Outage) -> None:
        """`n` commands answered now in the server or APN outage `down`, each by an attempt that
        fails as the outage's own: made together, answered "unreachable" as the device's ICMP rate
        limits let the network answer (`_attempt`).  Each opens at once, or as an NSAPI of the line
        is released; those whose wait reaches the next decision or the outage's end are made once
        it is taken (`unanswered`, as `_answer_reports`): from the new network, with the new device,
        once the cell is back, or, the server back, as reports."""
        if self.holding:  # the outage's attempts made before these first: charging ids in time order
            self._failed_sessions(self.holding)
            self.holding.clear()
        now = float(self.env.now)
        start = int(now)
        limit = copy.deepcopy(self.icmp_limit)
        costs = self._attempt_costs(down, now, n)
        held = self._held_from(  # (where they would open: the NSAPIs' state left as it is)
            list(self.nsapis),
            np.full(n, start, dtype=np.int64),
            np.array([fa.duration_s for fa in costs], dtype=np.int64),
        )
        opens = [start] * n
        if held is not None:
            opens = held[0].tolist()
            back = math.ceil((down.end - self.shard.scenario.start).total_seconds())
            # (another server's or APN's outage starting meanwhile changes nothing: they fail in it
            # all the same, and a device riding this outage takes no such start before its end)
            after = min(back, self._next_decision(start, servers=False) or back)
            if opens[-1] >= after:
                n = bisect_left(opens, after)
                self.unanswered += len(opens) - n
                if back == after:  # the server back first: answered then
                    self.env.process(self._answer_at(back))
                self.icmp_limit = limit  # (the limits asked only about those made now)
                if not n:
                    return
                costs, opens = self._attempt_costs(down, now, n), opens[:n]
        self.stats.retry_attempts += n
        self.stats.retry_sessions += n
        self.stats.retry_records += n
        done = 0
        for fa, same in itertools.groupby(costs):  # (charging ids in the order of the attempts)
            k = len(list(same))
            self.stats.retry_ko += k * -(-(fa.up + fa.down) // 1024)
            # cut by a decision as the outage's own attempts are (an area outage's start: lost)
            starts = opens[done : done + k]
            done += k
            self._attempt_cut(starts, float(fa.duration_s), fa=fa, together=k)
            self._failed_sessions(starts, fa=fa)

    def _attempt_costs(self, down: Outage, now: float, n: int) -> list[Exchange]:
        """What `n` attempts made together at `now` in the outage `down` cost each (`_attempt`)."""
        if down.answer == "unreachable":
            return self._unreachable_sent(now, n, self._sends_end(now))
        return [self._attempt(down)] * n

    def _answer_at(self, t: int) -> Generator[simpy.Event, Any, None]:
        """The answers still waiting (`unanswered`) made at `t`, if not made before."""
        if t > self.env.now:
            yield self.env.timeout(t - self.env.now)
        if self.unanswered and not self.area_down and t < self.T:
            self._answer(0)

    def _answer_reports(self, n: int) -> None:
        """`n` commands answered now each with a report: each opens at once, or as an NSAPI of the
        line is released (`_hold_nsapis`), and is cut as the stretch's reports are by a move, a SIM
        swap or an outage's start that falls into it (an area outage's: the radio bearer lost; a
        server or APN outage's: ended there with its bytes) and by the period's end (`sessions`).
        Those whose wait reaches the next decision are answered once it is taken (`unanswered`): in
        the new network or with the new device, in the server's outage as failed attempts, or once
        the cell is back."""
        assert self.profile is not None and self.group.application is not None
        start = int(self.env.now)
        length = self.profile.report.duration_s
        opens = np.full(n, start, dtype=np.int64)
        allowed = self.apn_allowed()
        # (where they would open: the NSAPIs' state left as it is)
        held = (
            self._held_from(list(self.nsapis), opens, np.full(n, length, dtype=np.int64)) if allowed else None
        )
        if held is not None:
            opens = held[0]
            after = self._next_decision(start)
            if after is not None and int(opens[-1]) >= after:
                kept = int(np.searchsorted(opens, after))
                self.unanswered += n - kept
                opens = opens[:kept]
                if not kept:
                    return
        moves, stop = self._cut_of(start, int(opens[-1]) + length, outages=allowed)
        s = per_report_sessions(
            self.rng_traffic,
            self.profile,
            self.group.application,
            self.shard.scenario.apns.get(self.group.apn),
            opens,
            self.scan_stream,
            self.T if stop is None else stop,
        )
        if not allowed:  # (drawn all the same: the traffic stream as it always was)
            self.stats.session_refusals += n
        elif stop is None:
            self.sessions(s.start, s.duration, s.up, s.down, moves=moves, scans=(s.scan_up, s.scan_down))
        else:
            charging = self._charging(len(opens), retry=False)
            self._reports_ended(s, np.ones(len(opens), dtype=np.bool_), charging, stop, moves)

    def _next_decision(self, t: int, servers: bool = True) -> int | None:
        """The time of the next decision after `t` not taken yet (of any kind, or without `servers`
        a server's or APN's outage start), if any."""
        return next(
            (
                d[0]
                for i, d in enumerate(self.decisions[self.cursor + 1 :], self.cursor + 1)
                if d[0] > t and i not in self.applied and (servers or d[2] != "outage" or d[3].kind == "area")
            ),
            None,
        )

    def mt_process(self) -> Generator[simpy.Event, Any, None]:
        mt = self.group.mt_sms
        if mt is None or mt.rate_per_day <= 0:
            return
        r = rngmod.device_rng(self.seed, self.ident.line, rngmod.EVENTS * 1000 + 500)
        mean = 86_400.0 / mt.rate_per_day
        t = float(r.exponential(mean))
        while t < self.on:  # the server sends no command to a line not active yet
            t += float(r.exponential(mean))
        while t + MT_PAGING_S < self.T:
            yield self.env.timeout(t - self.env.now)
            res = self.net.submit_sms(self.env.now, self.ident.line, mt.sender, mt.text)
            if res.status != SmsStatus.REFUSED:
                self.stats.mt_sms_submitted += 1
            yield self.env.timeout(MT_PAGING_S)
            self.deliver_mt()
            t = max(t + float(r.exponential(mean)), float(self.env.now))

    def start(self, spawn: Callable[[Generator[simpy.Event, Any, Any]], object]) -> None:
        if self.on >= self.T:  # activated after the period: no activity in it
            return
        spawn(self.life())
        for k, s in enumerate(self.group.sms):
            spawn(self.sms_process(k, s))
        for k, c in enumerate(self.group.calls):
            spawn(self.call_process(k, c))
        if self.group.mt_sms is not None:
            spawn(self.mt_process())
