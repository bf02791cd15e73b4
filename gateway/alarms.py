"""Autodiagnostic alarms: the catalog's five criteria, per line group, for lines with the option.

The network reports each use of a line (`Use`: attach, data, SMS, call) to an
`AlarmEngine`, which checks the rules of the line's group and writes an
`Alarm` (time, line, rule, details) to its sink as it happens; lines without
the autodiagnostic option are not watched, and a line whose option starts during
the run (`watched_from`) raises no alarm before then (a threshold crossed before then
raises its alarm at the line's first use after).

Rules (a group sets any of them):

- `geography`: an attach on a network whose country (ISO code, from the MCC)
  is not in `countries` and whose MCC+MNC is not in `operators`;
- `period`: a use outside the allowed days of the week, hours and dates, in
  the configured time zone.  Windows include both ends: with "08:00-20:00",
  a use at 08:00:00 or 20:00:00 is allowed, one at 20:00:01 is not; a window
  ending before it starts ("22:00-06:00") runs past midnight, its morning part
  on the day (and dates) it started;
- `imei_change`: an attach from a device whose 14-digit IMEI (TAC + serial)
  differs from the line's previous one; a new software version (the IMEISV's
  last 2 digits) is not a change;
- `allowed_types`: traffic of a type not in the list (`data` at home,
  `roaming-data` abroad, `sms`, `voice`, `csd`, `fax`; refused attempts count);
- `threshold`: the month's (UTC calendar month) volume (`bytes`, up + down) or
  amount (`amount`, from the configured unit prices; data priced on the billable
  ko, each record rounded up to a whole ko as the invoice does) goes over the
  limit: one alarm per line, month and measure.

Repeated alarms for the same line, rule and cause within `holdoff_s` after one
written are counted in `AlarmEngine.suppressed` instead of written (a use observed
after later ones is held off only by the alarms written before its time).  An engine
with `hold_threshold` counts the threshold's uses in time order, at `release`, whatever
the order they are observed in (the simulator's bulk data comes at a batch's flush).
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from accounting.money import fmt
from accounting.records import Zone
from gateway.errors import ConfigError, ConfigFileError
from gateway.plmn import PlmnTable, default_table
from m2msim.outputs import head_matches
from m2msim.yamlio import (
    LocatedDict,
    YamlError,
    check_keys,
    flag_field,
    int_field,
    join_path,
    load_yaml,
    mapping,
    number_field,
    sequence,
    text_field,
    text_list,
)

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COMM_TYPES = ("data", "roaming-data", "sms", "voice", "csd", "fax")
KO_PER_MO = 1024


class UseKind(StrEnum):
    ATTACH = "attach"
    DATA = "data"
    SMS = "sms"
    VOICE = "voice"
    CSD = "csd"
    FAX = "fax"


@dataclass(frozen=True, slots=True)
class Use:
    """One use of a line, as the network sees it."""

    time: datetime
    line: str
    kind: UseKind
    serving_plmn: str
    zone: Zone
    imei: str = ""  # 14-digit IMEI (attach)
    bytes: int = 0  # data counted (up + down)
    ko: int = 0  # the billable ko it adds: each record's bytes rounded up to a whole ko on their own
    seconds: int = 0  # call duration
    count: int = 0  # SMS sent
    # checked against the period rule alone (the simulator's first bulk record outside the period
    # on a day whose first record, observed with the day's volume, is inside it)
    period_only: bool = False


@dataclass(frozen=True, slots=True)
class Alarm:
    time: datetime
    line: str
    rule: str  # geography | period | imei-change | communication-type | threshold
    details: Mapping[str, object]

    def to_json(self) -> str:
        return json.dumps(
            {
                "time": self.time.isoformat(),
                "line": self.line,
                "rule": self.rule,
                "details": dict(self.details),
            },
            ensure_ascii=False,
            default=str,
        )


class AlarmSink(Protocol):
    def write(self, alarm: Alarm) -> None: ...


# an alarms file m2msim wrote (`Alarm.to_json`, one a line): another file is not replaced without --force
is_alarm_file = head_matches(rb'\{"time": "\d{4}-\d\d-\d\dT')


class JsonLinesAlarmSink:
    """Writes each alarm as one JSON line, flushed at once (alarms are written as they happen)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0

    def write(self, alarm: Alarm) -> None:
        self.stream.write(alarm.to_json() + "\n")
        self.stream.flush()
        self.count += 1


@dataclass(frozen=True, slots=True)
class GeographyRule:
    countries: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()


_DAY_ZERO = date(1970, 1, 1)


def _offset_s(local: datetime) -> int:
    offset = local.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@dataclass(frozen=True, slots=True)
class PeriodRule:
    days: frozenset[int] = frozenset(range(7))  # Monday = 0
    windows: tuple[tuple[int, int], ...] = ((0, 86_400),)  # seconds of the day, both ends allowed
    first_day: date | None = None
    last_day: date | None = None

    def _day_allowed(self, day: date) -> bool:
        if self.first_day is not None and day < self.first_day:
            return False
        if self.last_day is not None and day > self.last_day:
            return False
        return day.weekday() in self.days

    def _days_allowed(self, day: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """`_day_allowed` for local days counted from 1970-01-01 (a Thursday)."""
        ok = np.isin((day + 3) % 7, sorted(self.days))
        if self.first_day is not None:
            ok &= day >= (self.first_day - _DAY_ZERO).days
        if self.last_day is not None:
            ok &= day <= (self.last_day - _DAY_ZERO).days
        return ok

    def allows_many(self, local_s: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """`allows` for many local times at once, in whole seconds since 1970-01-01 00:00 local."""
        day = local_s // 86_400
        second = local_s - day * 86_400
        today = self._days_allowed(day)
        allowed = np.zeros(len(local_s), dtype=bool)
        for lo, hi in self.windows:
            if lo <= hi:
                allowed |= (second >= lo) & (second <= hi) & today
            else:
                allowed |= ((second >= lo) & today) | ((second <= hi) & self._days_allowed(day - 1))
        return allowed

    def allows(self, local: datetime) -> bool:
        """A window that ends before it starts ("22:00-06:00") runs past midnight: its morning part
        belongs to the day it started (Friday night's 03:00 is on Saturday, allowed with `fri`)."""
        day = local.date()
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        for lo, hi in self.windows:
            if lo <= hi:
                if lo <= second <= hi and self._day_allowed(day):
                    return True
            elif (second >= lo and self._day_allowed(day)) or (
                second <= hi and self._day_allowed(day - timedelta(days=1))
            ):
                return True
        return False


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    bytes: int | None = None
    amount: Decimal | None = None
    per_mo: Decimal = Decimal(0)
    per_sms: Decimal = Decimal(0)
    per_call_s: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class AlarmGroup:
    name: str
    lines: frozenset[str] = frozenset()
    line_prefixes: tuple[str, ...] = ()
    geography: GeographyRule | None = None
    period: PeriodRule | None = None
    imei_change: bool = False
    allowed_types: frozenset[str] | None = None
    threshold: ThresholdRule | None = None

    def has(self, line: str) -> bool:
        return line in self.lines or any(line.startswith(p) for p in self.line_prefixes)


@dataclass(slots=True)
class _Month:
    month: str
    bytes: int = 0
    ko: int = 0
    sms: int = 0
    seconds: int = 0
    fired: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Held:
    """A line's data records not counted yet, in time order (`at`: microseconds since 1970, UTC)."""

    use: Use
    at: npt.NDArray[np.int64]
    nbytes: npt.NDArray[np.int64]
    ko: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Counted:
    """Uses counted for the threshold, in time order (`at`: microseconds since 1970, UTC); `times`:
    their exact times, where not a record's end (a whole second)."""

    at: npt.NDArray[np.int64]
    nbytes: npt.NDArray[np.int64]
    ko: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]
    seconds: npt.NDArray[np.int64]
    times: list[datetime | None] | None = None

    def part(self, lo: int, hi: int) -> _Counted:
        times = None if self.times is None else self.times[lo:hi]
        return _Counted(
            self.at[lo:hi], self.nbytes[lo:hi], self.ko[lo:hi], self.count[lo:hi], self.seconds[lo:hi], times
        )


class AlarmEngine:
    """Checks each `Use` of a watched line against its group's rules."""

    def __init__(
        self,
        groups: Iterable[AlarmGroup],
        autodiagnostic: Collection[str] | Callable[[str], bool],
        sink: AlarmSink,
        timezone: str = "UTC",
        holdoff_s: float = 3600.0,
        plmns: PlmnTable | None = None,
        watched_from: Mapping[str, datetime] | None = None,
        hold_threshold: bool = False,
    ) -> None:
        self.groups = tuple(groups)
        # lines watched from a time (their option subscribed then): the engine follows their uses
        # before it (IMEI, the month's consumption) but raises no alarm
        self._watched_from: Mapping[str, datetime] = watched_from or {}
        self._watched: Callable[[str], bool] = (
            autodiagnostic if callable(autodiagnostic) else frozenset(autodiagnostic).__contains__
        )
        self.sink = sink
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"alarms: unknown time zone {timezone!r}") from exc
        self.holdoff_s = holdoff_s
        self.plmns = plmns or default_table()
        self.written: Counter[str] = Counter()
        self.suppressed: Counter[str] = Counter()
        self._group_of: dict[str, AlarmGroup | None] = {}
        self._imei: dict[str, str] = {}
        # the times of the alarms written per (line, rule, cause), in order: a use may be observed
        # after later ones (the simulator's bulk data reaches the engine after the SMS and calls
        # of the same days), and the hold-off looks at the alarms written before its time only
        self._written_at: dict[tuple[str, str, str], list[datetime]] = {}
        self._months: dict[tuple[str, str], _Month] = {}
        # lines registered on a network not listed before their option started
        self._geography_due: set[str] = set()
        # `hold_threshold`: the threshold counts each line's consumption in time order, whatever the
        # order it is observed in, when `release` says up to when it is all known (the simulator
        # gives a day's bulk data before or after the SMS and calls of the same days)
        self._hold = hold_threshold
        self._held_records: dict[str, _Held] = {}
        self._held_uses: dict[str, list[Use]] = {}

    def outside_period(self, period: PeriodRule, unix_s: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of these times (whole seconds since 1970, UTC) the period rule does not allow, in
        the engine's time zone: `allows` for many uses at once."""
        quarter = unix_s // 900  # time zones change their offset on a quarter of an hour
        quarters, where = np.unique(quarter, return_inverse=True)
        offsets = np.array(
            [_offset_s(datetime.fromtimestamp(q * 900, self.tz)) for q in quarters.tolist()], dtype=np.int64
        )
        return ~period.allows_many(unix_s + offsets[where.reshape(-1)])

    def group_of(self, line: str) -> AlarmGroup | None:
        """The line's group if the line is watched (autodiagnostic and in a group)."""
        if line not in self._group_of:
            found = None
            if self._watched(line):
                found = next((g for g in self.groups if g.has(line)), None)
            self._group_of[line] = found
        return self._group_of[line]

    def _fire(self, use: Use, rule: str, key: str, details: dict[str, object]) -> bool:
        """Write the alarm (or count it as held off); False when the line is not watched yet."""
        since = self._watched_from.get(use.line)
        if since is not None and use.time < since:
            return False
        slot = (use.line, rule, key)
        times = self._written_at.setdefault(slot, [])
        at = bisect_right(times, use.time)  # the alarms written at or before this use's time
        if at and (use.time - times[at - 1]).total_seconds() < self.holdoff_s:
            self.suppressed[rule] += 1
            return True
        times.insert(at, use.time)
        self.written[rule] += 1
        log.info("alarm %s on line %s: %s", rule, use.line, details)
        self.sink.write(Alarm(use.time, use.line, rule, details))
        return True

    def observe(self, use: Use) -> None:
        group = self.group_of(use.line)
        if group is None:
            return
        if use.time.tzinfo is not UTC:
            # the month and the hold-off are counted in UTC: a time given in another zone (Paris
            # on 1 April at 01:30 is 31 March in UTC) is the same instant, not the same wall clock
            if use.time.utcoffset() is None:
                raise ValueError(f"alarm use of line {use.line}: time {use.time} has no time zone")
            use = replace(use, time=use.time.astimezone(UTC))
        if use.kind == UseKind.ATTACH:
            self._attach(group, use)
        elif use.line in self._geography_due and group.geography is not None:
            # registered on a network not listed before the option started: its first use after
            self._geography(group.geography, use)
        if use.seconds:  # the end of a call: only its duration is new (the call was checked when placed)
            if group.threshold is not None:
                self._count(group.threshold, use)
            return
        if group.period is not None:
            local = use.time.astimezone(self.tz)
            if not group.period.allows(local):
                self._fire(use, "period", "", {"use": use.kind.value, "local_time": local.isoformat()})
        if use.period_only:
            return
        if group.allowed_types is not None and use.kind != UseKind.ATTACH:
            kind = use.kind.value
            if use.kind == UseKind.DATA and use.zone != Zone.FR:
                kind = "roaming-data"
            if kind not in group.allowed_types:
                self._fire(
                    use,
                    "communication-type",
                    kind,
                    {"type": kind, "allowed": sorted(group.allowed_types), "serving_plmn": use.serving_plmn},
                )
        if group.threshold is not None and (use.bytes or use.ko or use.count or use.seconds):
            self._count(group.threshold, use)

    def _count(self, rule: ThresholdRule, use: Use) -> None:
        if self._hold:
            self._held_uses.setdefault(use.line, []).append(use)
        else:
            self._threshold(rule, use)

    def observe_records(
        self,
        use: Use,
        end_unix_s: npt.NDArray[np.int64],
        nbytes: npt.NDArray[np.int64],
        ko: npt.NDArray[np.int64],
    ) -> None:
        """Data records of one line at once (the simulator's bulk data, a day's): `use` is their
        first use (the first record's start, its network; checked by every rule but the threshold),
        then each record, in order of its end (whole seconds since 1970, UTC), its volume and its
        billable ko.  A record's bytes count at its end, as the gateway's per-session path reports
        a session's at its transfer: the threshold alarm is dated at the end of the record that took
        the month over the limit (the first index where the month's running total passes it), with
        the month's total then; not at the day's first record with the day's volume.  With
        `hold_threshold`, the records are held and counted at `release`, in time order with the
        line's other uses."""
        group = self.group_of(use.line)
        if group is None:
            return
        self.observe(replace(use, bytes=0, ko=0, count=0, seconds=0))
        rule = group.threshold
        if rule is None or use.period_only or len(end_unix_s) == 0:
            return
        order = np.argsort(end_unix_s, kind="stable")
        at = end_unix_s[order].astype(np.int64) * _US
        nbytes, ko = nbytes[order].astype(np.int64), ko[order].astype(np.int64)
        if self._hold:  # merged in time order with what the line has held already
            held = self._held_records.get(use.line)
            if held is not None:
                at, nbytes, ko = (
                    np.concatenate((h, x)) for h, x in ((held.at, at), (held.nbytes, nbytes), (held.ko, ko))
                )
                order = np.argsort(at, kind="stable")
                at, nbytes, ko = at[order], nbytes[order], ko[order]
                use = held.use
            self._held_records[use.line] = _Held(use, at, nbytes, ko)
            return
        zeros = np.zeros(len(at), dtype=np.int64)
        self._count_records(rule, use, _Counted(at, nbytes, ko, zeros, zeros))

    def release(self, until: datetime | None = None) -> None:
        """Count the consumption held (`hold_threshold`) dated before `until` (all of it without),
        line by line in time order: the caller knows no use before then is still to come."""
        limit = None if until is None else _micros(until)
        for line in sorted(self._held_records.keys() | self._held_uses.keys()):
            group = self.group_of(line)
            assert group is not None and group.threshold is not None
            held = self._held_records.pop(line, None)
            uses = sorted(self._held_uses.pop(line, []), key=lambda u: u.time)
            n = len(uses) if limit is None else bisect_right([_micros(u.time) for u in uses], limit - 1)
            if n < len(uses):
                self._held_uses[line] = uses[n:]
            due = uses[:n]
            if held is None:
                held = _Held(uses[0], *(np.zeros(0, dtype=np.int64) for _ in range(3)))
            k = len(held.at) if limit is None else int(np.searchsorted(held.at, limit, side="left"))
            if k < len(held.at):
                self._held_records[line] = _Held(held.use, held.at[k:], held.nbytes[k:], held.ko[k:])
            if k + len(due) == 0:
                continue
            # at the same time, records before single uses
            at = np.concatenate((held.at[:k], np.array([_micros(u.time) for u in due], dtype=np.int64)))
            order = np.argsort(at, kind="stable")
            records = [held.nbytes[:k], held.ko[:k], np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)]
            singles = [
                [u.bytes for u in due],
                [u.ko for u in due],
                [u.count for u in due],
                [u.seconds for u in due],
            ]
            nbytes, ko, count, seconds = (
                np.concatenate((r, np.array(x, dtype=np.int64)))[order]
                for r, x in zip(records, singles, strict=True)
            )
            times = [None if i < k else due[i - k].time for i in order.tolist()]
            self._count_records(
                group.threshold, held.use, _Counted(at[order], nbytes, ko, count, seconds, times)
            )

    def _count_records(self, rule: ThresholdRule, use: Use, uses: _Counted) -> None:
        """Uses in time order counted for the threshold, month by month."""
        months = (uses.at // _US).astype("datetime64[s]").astype("datetime64[M]")
        bounds = np.flatnonzero(months[1:] != months[:-1]) + 1
        since = self._watched_from.get(use.line)
        starts = [0, *bounds.tolist()]
        for lo, hi in zip(starts, [*starts[1:], len(uses.at)], strict=True):
            self._threshold_records(rule, use, uses.part(lo, hi), since)

    def _threshold_records(
        self, rule: ThresholdRule, use: Use, uses: _Counted, since: datetime | None
    ) -> None:
        """Records of one month (in order of their end): fed to `_threshold` in chunks that end at
        each crossing (and, for a crossing before the line is watched, at its first record after)."""

        ends, nbytes, ko, times = uses.at, uses.nbytes, uses.ko, uses.times

        def time_of(i: int) -> datetime:
            exact = None if times is None else times[i]
            return exact if exact is not None else datetime.fromtimestamp(int(ends[i]) // _US, UTC)

        state = self._months.get((use.line, time_of(0).strftime("%Y-%m")))
        fired = state.fired if state is not None else set()
        cum_bytes = np.cumsum(nbytes)
        cum_ko = np.cumsum(ko)
        cum_sms = np.cumsum(uses.count)
        cum_s = np.cumsum(uses.seconds)
        cuts = set()
        if rule.bytes is not None and "bytes" not in fired:
            before = state.bytes if state is not None else 0
            cuts.add(int(np.searchsorted(cum_bytes, rule.bytes - before, side="right")))
        if rule.amount is not None and "amount" not in fired:
            month = state if state is not None else _Month("")
            limit = rule.amount
            # the amount grows with the ko: the first record where the month's amount passes the limit
            cuts.add(
                bisect_right(
                    range(len(ko)),
                    False,
                    key=lambda i: (
                        _amount(
                            rule,
                            month.ko + int(cum_ko[i]),
                            month.sms + int(cum_sms[i]),
                            month.seconds + int(cum_s[i]),
                        )
                        > limit
                    ),
                )
            )
        # a record of no bytes adds nothing to the month and, observed on its own, is not checked
        # against the threshold: no chunk may end at one (the alarm of a month crossed before the
        # line was watched came at an empty record, with the total before the record that added)
        adds = (nbytes > 0) | (ko > 0) | (uses.count > 0) | (uses.seconds > 0)
        adding = np.flatnonzero(adds)
        if len(adding) == 0:
            return
        # a month already over the limit (crossed before the line was watched) crosses "at" the
        # first record, which may be empty: its first record that adds
        moved = np.searchsorted(adding, sorted(cuts), side="left")
        cuts = {int(adding[i]) for i in moved.tolist() if i < len(adding)}
        if since is not None:
            watched = np.flatnonzero(adds & (ends >= _micros(since)))
            first_watched = int(watched[0]) if len(watched) else len(ends)
            if any(c < first_watched for c in cuts):
                cuts.add(first_watched)
        last = -1
        for cut in [*sorted(c for c in cuts if c < len(ends)), int(adding[-1])]:
            if cut <= last:
                continue
            b, k, c, s = (
                int(x[cut]) - (int(x[last]) if last >= 0 else 0) for x in (cum_bytes, cum_ko, cum_sms, cum_s)
            )
            self._threshold(rule, replace(use, time=time_of(cut), bytes=b, ko=k, count=c, seconds=s))
            last = cut

    def _geography(self, geo: GeographyRule, use: Use) -> None:
        self._geography_due.discard(use.line)
        if not use.serving_plmn:
            return
        country = self.plmns.lookup(use.serving_plmn).country
        if country in geo.countries or use.serving_plmn in geo.operators:
            return
        details: dict[str, object] = {
            "serving_plmn": use.serving_plmn,
            "country": country,
            "allowed_countries": sorted(geo.countries),
            "allowed_operators": sorted(geo.operators),
        }
        if not self._fire(use, "geography", use.serving_plmn, details):
            self._geography_due.add(use.line)  # the option starts later: checked again at its first use

    def _attach(self, group: AlarmGroup, use: Use) -> None:
        if group.geography is not None:
            self._geography(group.geography, use)
        if use.imei:
            previous = self._imei.get(use.line)
            self._imei[use.line] = use.imei
            if group.imei_change and previous is not None and previous != use.imei:
                self._fire(use, "imei-change", use.imei, {"previous_imei": previous, "imei": use.imei})

    def _threshold(self, rule: ThresholdRule, use: Use) -> None:
        month = use.time.strftime("%Y-%m")
        state = self._months.get((use.line, month))
        if state is None:
            # a month observed out of order keeps its own count (a month is not reset by another)
            state = self._months[(use.line, month)] = _Month(month)
        state.bytes += use.bytes
        state.ko += use.ko
        state.sms += use.count
        state.seconds += use.seconds
        # a crossing before the line's option started raises nothing then, and the alarm at the
        # line's first use once it is watched (the month is still over the limit)
        if (
            rule.bytes is not None
            and "bytes" not in state.fired
            and state.bytes > rule.bytes
            and self._fire(
                use,
                "threshold",
                f"{month}:bytes",
                {"month": month, "measure": "bytes", "limit": rule.bytes, "value": state.bytes},
            )
        ):
            state.fired.add("bytes")
        if rule.amount is not None and "amount" not in state.fired:
            amount = _amount(rule, state.ko, state.sms, state.seconds)
            if amount > rule.amount and self._fire(
                use,
                "threshold",
                f"{month}:amount",
                {
                    "month": month,
                    "measure": "amount",
                    "limit": str(rule.amount),
                    "value": fmt(amount),  # to the cent as the invoice rounds (half-up)
                },
            ):
                state.fired.add("amount")


def _amount(rule: ThresholdRule, ko: int, sms: int, seconds: int) -> Decimal:
    """The month's amount from the unit prices: `ko` billable ko of data, SMS, call seconds."""
    return Decimal(ko) / KO_PER_MO * rule.per_mo + sms * rule.per_sms + seconds * rule.per_call_s


_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(t: datetime) -> int:
    """Whole microseconds since 1970, UTC (exact: no float)."""
    return (t - _EPOCH) // timedelta(microseconds=1)


# --------------------------------------------------------------------- configuration


MACHINE_ZONE = (
    "the machine's setting, not a place's time zone: the alarms would differ from one machine to another"
)


def machine_zone(name: str) -> bool:
    """Whether the time zone `name` is the machine's own setting, not a place's: `localtime` (the
    machine's zone), `posixrules`, `Factory`, or a `right/` zone (counting leap seconds, 27 s off
    UTC's clock).  The same alarms on another machine, or on a cluster's workers, would differ."""
    return name in ("localtime", "posixrules", "Factory") or name.startswith("right/")


def _parse_clock(text: str, src: str, line: int | None, where: str) -> int:
    try:
        hours, minutes = text.split(":")
        value = int(hours) * 3600 + int(minutes) * 60
    except ValueError:
        raise ConfigFileError(src, line, where, f"{text!r} is not HH:MM") from None
    if not 0 <= value <= 86_400 or not 0 <= int(minutes) < 60:
        raise ConfigFileError(src, line, where, f"{text!r} is not a time of day (00:00 to 24:00)")
    return value


def _parse_date(m: LocatedDict, key: str, src: str, path: str) -> date | None:
    value = m.get(key)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigFileError(
            src, m.line_of(key), join_path(path, key), f"{value!r} is not a date (YYYY-MM-DD)"
        ) from None


def _decimal(m: LocatedDict, key: str, src: str, path: str) -> Decimal | None:
    value = m.get(key)
    if value is None:
        return None
    where = join_path(path, key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigFileError(src, m.line_of(key), where, f"{value!r} is not a number")
    try:
        out = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigFileError(src, m.line_of(key), where, f"{value!r} is not a number") from None
    if not out.is_finite() or out < 0 or out > MAX_AMOUNT:
        raise ConfigFileError(
            src, m.line_of(key), where, f"{value!r} must be a number from 0 to {MAX_AMOUNT}"
        )
    return out


def _section(m: LocatedDict, key: str, src: str, path: str, allowed: Iterable[str]) -> LocatedDict:
    """A sub-mapping (empty when written without a value), its keys checked."""
    where = join_path(path, key)
    value = m.get(key)
    if value is None:
        section = LocatedDict()
        section.line = m.line_of(key)
        return section
    section = mapping(value, src, where, m.line_of(key))
    check_keys(section, allowed, src, where)
    return section


def _refuse_empty(listed: list[str], m: LocatedDict, key: str, src: str, path: str, what: str) -> None:
    """A list written empty (`allowed_types: []`) allows nothing: every use would raise the alarm
    (it was accepted, and the alarm fired on every use). Left out, the key allows every `what`."""
    if key in m and m[key] is not None and not listed:
        raise ConfigFileError(
            src,
            m.line_of(key),
            join_path(path, key),
            f"an empty list allows no {what}: every use would raise this alarm; list the {what}s "
            f"allowed, or leave {key} out to allow every one",
        )


GROUP_KEYS = (
    "name",
    "lines",
    "line_prefix",
    "geography",
    "period",
    "imei_change",
    "allowed_types",
    "threshold",
)


def _group(item: LocatedDict, src: str, index: int) -> AlarmGroup:
    name = text_field(item, "name", src, f"groups[{index}]", what="a group name")
    assert name is not None
    where = f"groups[{index}] ({name})"
    check_keys(item, GROUP_KEYS, src, where)
    prefixes = text_list(item, "line_prefix", src, where, default=[], what="a line id prefix") or []
    geography = None
    if "geography" in item:
        geo = _section(item, "geography", src, where, ("countries", "operators"))
        geopath = f"{where}.geography"
        countries = text_list(geo, "countries", src, geopath, default=[], what="an ISO country code") or []
        for i, country in enumerate(countries):
            if len(country) != 2 or not country.isascii() or not country.isalpha():
                raise ConfigFileError(
                    src,
                    geo.line_of("countries"),
                    f"{geopath}.countries[{i}]",
                    f"{country!r} is not an ISO 3166-1 alpha-2 country code (FR, BE, DE, ...): "
                    "no network would match it, and every attach would raise an alarm",
                )
        operators = text_list(geo, "operators", src, geopath, default=[], what="MCC+MNC (quoted)") or []
        if not countries and not operators:
            raise ConfigFileError(
                src,
                item.line_of("geography"),
                geopath,
                "a geography needs countries or operators: allowing none, every attach would raise "
                "this alarm",
            )
        for i, op in enumerate(operators):
            if not op.isdigit() or len(op) not in (5, 6):
                raise ConfigFileError(
                    src, geo.line_of("operators"), f"{geopath}.operators[{i}]", f"{op!r} is not MCC+MNC"
                )
        geography = GeographyRule(frozenset(c.upper() for c in countries), frozenset(operators))
    period = None
    if "period" in item:
        p = _section(item, "period", src, where, ("days", "hours", "from", "until"))
        ppath = f"{where}.period"
        if not p:
            raise ConfigFileError(
                src,
                p.line,
                ppath,
                "a period needs days, hours, from or until: without any, every use is allowed and it "
                "would never fire",
            )
        days = text_list(p, "days", src, ppath, default=DAYS, what="a day (mon..sun)") or []
        _refuse_empty(days, p, "days", src, ppath, "day")
        bad_days = [d for d in days if d.lower() not in DAYS]
        if bad_days:
            raise ConfigFileError(
                src, p.line_of("days"), f"{ppath}.days", f"unknown {bad_days}; use {', '.join(DAYS)}"
            )
        windows = []
        hours = text_list(p, "hours", src, ppath, default=["00:00-24:00"], what="HH:MM-HH:MM") or []
        _refuse_empty(hours, p, "hours", src, ppath, "window")
        for w in hours:
            line = p.line_of("hours")
            lo, sep, hi = w.partition("-")
            if not sep:
                raise ConfigFileError(src, line, f"{ppath}.hours", f"{w!r} is not HH:MM-HH:MM")
            a = _parse_clock(lo.strip(), src, line, f"{ppath}.hours")
            b = _parse_clock(hi.strip(), src, line, f"{ppath}.hours")
            if a > b and (a == 86_400 or b == 0):
                raise ConfigFileError(
                    src,
                    line,
                    f"{ppath}.hours",
                    f"{w!r}: midnight is 00:00 at a window's start, 24:00 at its end",
                )
            windows.append((a, b))  # a > b: past midnight, into the next day
        first, last = _parse_date(p, "from", src, ppath), _parse_date(p, "until", src, ppath)
        if first is not None and last is not None and first > last:
            raise ConfigFileError(
                src, p.line_of("until"), f"{ppath}.until", f"{last} is before from: {first} (reversed range)"
            )
        period = PeriodRule(frozenset(DAYS.index(d.lower()) for d in days), tuple(windows), first, last)
    types = None
    if "allowed_types" in item:
        listed = text_list(item, "allowed_types", src, where, default=[], what="a communication type") or []
        _refuse_empty(listed, item, "allowed_types", src, where, "communication type")
        types = frozenset(listed)
        bad = sorted(types - set(COMM_TYPES))
        if bad:
            raise ConfigFileError(
                src,
                item.line_of("allowed_types"),
                f"{where}.allowed_types",
                f"unknown {bad}; use {', '.join(COMM_TYPES)}",
            )
    threshold = None
    if "threshold" in item:
        t = _section(item, "threshold", src, where, ("bytes", "amount", "prices"))
        tpath = f"{where}.threshold"
        prices = _section(t, "prices", src, tpath, ("per_mo", "per_sms", "per_call_s"))
        ppath = f"{tpath}.prices"
        if isinstance(t.get("bytes"), str):  # a plain number written with a fraction, kept as text
            raise ConfigFileError(
                src, t.line_of("bytes"), f"{tpath}.bytes", f"{t['bytes']!r} must be a non-negative integer"
            )
        try:
            limit = int_field(t, "bytes", src, tpath, minimum=0, maximum=2**62)
        except YamlError as exc:
            raise ConfigFileError(src, exc.line, exc.key, f"{exc.reason} (a non-negative integer)") from None
        if limit is None and "amount" not in t:
            raise ConfigFileError(
                src,
                t.line,
                tpath,
                "a threshold needs a limit (bytes: a volume, amount: a cost from unit prices): "
                "without one it would never fire",
            )
        threshold = ThresholdRule(
            bytes=limit,
            amount=_decimal(t, "amount", src, tpath),
            per_mo=_decimal(prices, "per_mo", src, ppath) or Decimal(0),
            per_sms=_decimal(prices, "per_sms", src, ppath) or Decimal(0),
            per_call_s=_decimal(prices, "per_call_s", src, ppath) or Decimal(0),
        )
        if threshold.amount is not None and not (
            threshold.per_mo or threshold.per_sms or threshold.per_call_s
        ):
            raise ConfigFileError(
                src,
                t.line_of("amount"),
                f"{tpath}.amount",
                "an amount is counted from the unit prices (prices: per_mo, per_sms, per_call_s) and "
                "none is above 0: it would stay 0 and never fire; give the prices",
            )
    lines = text_list(item, "lines", src, where, default=[], what="a line id") or []
    if not lines and not prefixes:
        # `has` matches no line: the group's rules would never run (leave a group out to watch nothing)
        raise ConfigFileError(
            src,
            item.line_of("lines") or item.line_of("line_prefix") or item.line_of("name"),
            where,
            "names no line: give `lines` (line ids) and/or `line_prefix`; a group without lines "
            "watches nothing and would never raise an alarm",
        )
    return AlarmGroup(
        name=name,
        lines=frozenset(lines),
        line_prefixes=tuple(prefixes),
        geography=geography,
        period=period,
        imei_change=bool(flag_field(item, "imei_change", src, where, default=False)),
        allowed_types=types,
        threshold=threshold,
    )


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    groups: tuple[AlarmGroup, ...]
    timezone: str = "UTC"
    holdoff_s: float = 3600.0

    def engine(
        self,
        autodiagnostic: Collection[str] | Callable[[str], bool],
        sink: AlarmSink,
        watched_from: Mapping[str, datetime] | None = None,
        hold_threshold: bool = False,
    ) -> AlarmEngine:
        return AlarmEngine(
            self.groups,
            autodiagnostic,
            sink,
            self.timezone,
            self.holdoff_s,
            watched_from=watched_from,
            hold_threshold=hold_threshold,
        )


TOP_KEYS = ("groups", "timezone", "holdoff_s")
MAX_HOLDOFF_S = 366 * 86_400.0
MAX_AMOUNT = Decimal("1e9")


def parse_alarm_config(doc: Any, source: str = "<alarms>") -> AlarmConfig:
    """Validate an alarm configuration (read by `m2msim.yamlio`, or a plain dict built in code).

    Unknown or misspelt keys, an unknown time zone, reversed ranges (hours, dates) and two groups
    of one name are errors (`ConfigFileError`: a `ConfigError` and a `YamlError`)."""
    try:
        return _config(doc, source)
    except ConfigFileError:
        raise
    except YamlError as exc:
        raise ConfigFileError(exc.source, exc.line, exc.key, exc.reason) from None


def _config(doc: Any, src: str) -> AlarmConfig:
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        line = getattr(doc, "line", None)
        raise ConfigFileError(src, line, "", "expected a mapping with a list 'groups'")
    top = mapping(doc, src, "")
    check_keys(top, TOP_KEYS, src, "")
    items = sequence(top["groups"], src, "groups", top.line_of("groups"))
    groups: list[AlarmGroup] = []
    seen: dict[str, int | None] = {}
    for i in range(len(items)):
        item = items[i]
        if not isinstance(item, dict) or not item.get("name"):
            raise ConfigFileError(src, items.line_of(i), f"groups[{i}]", "a group is a mapping with a 'name'")
        group = _group(mapping(item, src, f"groups[{i}]", items.line_of(i)), src, i)
        if group.name in seen:
            first = seen[group.name]
            at = f" (first at line {first})" if first else ""
            raise ConfigFileError(
                src, items.line_of(i), f"groups[{i}].name", f"duplicate group name {group.name!r}{at}"
            )
        seen[group.name] = items.line_of(i)
        groups.append(group)
    holdoff = number_field(
        top, "holdoff_s", src, "", default=3600.0, minimum=0, maximum=MAX_HOLDOFF_S, unit="s"
    )
    timezone = text_field(top, "timezone", src, "", default="UTC", what="a time zone name")
    assert timezone is not None and holdoff is not None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigFileError(
            src,
            top.line_of("timezone"),
            "timezone",
            f"unknown time zone {timezone!r} (e.g. Europe/Paris, UTC)",
        ) from None
    if machine_zone(timezone):
        raise ConfigFileError(
            src,
            top.line_of("timezone"),
            "timezone",
            f"{timezone!r} is {MACHINE_ZONE} (e.g. Europe/Paris, UTC)",
        )
    return AlarmConfig(tuple(groups), timezone, float(holdoff))


def load_alarm_config(path: Path) -> AlarmConfig:
    """Read an alarm configuration (YAML; see docs/gateway.md).  Numbers with a fraction (prices,
    amounts) are read as written, never through a float."""
    try:
        doc = load_yaml(path, source=str(path), decimals_as_text=True)
    except YamlError as exc:
        raise ConfigFileError(exc.source, exc.line, exc.key, exc.reason) from None
    return parse_alarm_config(doc, str(path))
