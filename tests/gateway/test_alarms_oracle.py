"""The alarm engine against an oracle written from docs/gateway.md alone ("Autodiagnostic alarms").

`Oracle` is a plain reading of the page: each rule's firing condition, the hold-off per line, rule
and cause, `watched_from`, the UTC month of the threshold, the period in the configured zone.  Seeded
random configurations and usage streams go through both and their alarms must be the same, in the
same order.  The bulk path (`observe_records`, a day's records at once) must raise the threshold
alarms of the same records observed one by one, at batch edges, month ends and for lines watched
from mid-month.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from accounting.records import Zone
from gateway.alarms import Alarm, Use, UseKind, parse_alarm_config

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# a few networks and their country (ISO 3166-1) and zone, as the PLMN table has them
NETWORKS = {
    "20801": ("FR", Zone.FR),
    "20810": ("FR", Zone.FR),
    "20610": ("BE", Zone.EU),
    "26201": ("DE", Zone.EU),
    "23415": ("GB", Zone.EU),
    "31041": ("US", Zone.WORLD),
}
ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight saving change
    "Asia/Kolkata",  # +05:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
)
# around each: a month end, clock changes (Europe, North America, southern hemisphere), a year end
BASES = (
    datetime(2026, 3, 27, tzinfo=UTC),
    datetime(2026, 4, 3, tzinfo=UTC),
    datetime(2026, 10, 23, tzinfo=UTC),
    datetime(2026, 10, 30, tzinfo=UTC),
    datetime(2026, 12, 29, tzinfo=UTC),
    datetime(2026, 2, 26, tzinfo=UTC),
)
USE_ZONES = (UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles"))


class Alarms:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def write(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


Row = tuple[datetime, str, str, dict[str, object]]


def rows(alarms: list[Alarm]) -> list[Row]:
    return [(a.time, a.line, a.rule, dict(a.details)) for a in alarms]


# -- the oracle ------------------------------------------------------------------------------------


def clock(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


@dataclass
class OPeriod:
    days: set[str] | None
    hours: list[tuple[int, int]] | None  # none listed: no hour allowed; no key: any hour
    start: date | None
    until: date | None

    def day_ok(self, day: date) -> bool:
        return (
            (self.days is None or DAYS[day.weekday()] in self.days)
            and (self.start is None or day >= self.start)
            and (self.until is None or day <= self.until)
        )

    def allows(self, local: datetime) -> bool:
        day = local.date()
        tod = local.hour * 3600 + local.minute * 60 + local.second
        if self.hours is None:
            return self.day_ok(day)
        for lo, hi in self.hours:
            if lo <= hi:
                if lo <= tod <= hi and self.day_ok(day):
                    return True
            else:  # past midnight: the morning part belongs to the day before
                if tod >= lo and self.day_ok(day):
                    return True
                if tod <= hi and self.day_ok(day - timedelta(days=1)):
                    return True
        return False


@dataclass
class OGroup:
    name: str
    lines: set[str]
    prefixes: list[str]
    countries: set[str] | None = None
    operators: set[str] = field(default_factory=set)
    period: OPeriod | None = None
    imei_change: bool = False
    allowed: set[str] | None = None
    t_bytes: int | None = None
    t_amount: Decimal | None = None
    per_mo: Decimal = Decimal(0)
    per_sms: Decimal = Decimal(0)
    per_call_s: Decimal = Decimal(0)


@dataclass
class OMonth:
    bytes: int = 0
    ko: int = 0
    sms: int = 0
    seconds: int = 0
    fired: set[str] = field(default_factory=set)


class Oracle:
    """What docs/gateway.md says the engine raises, use by use, in the order the uses are given."""

    def __init__(
        self, doc: dict[str, Any], watched: set[str], watched_from: dict[str, datetime] | None = None
    ) -> None:
        self.tz = ZoneInfo(doc.get("timezone", "UTC"))
        self.holdoff = float(doc.get("holdoff_s", 3600))
        self.watched = watched
        self.since = watched_from or {}
        self.groups: list[OGroup] = []
        for g in doc["groups"]:
            og = OGroup(g["name"], set(g.get("lines", [])), list(g.get("line_prefix", [])))
            if "geography" in g:
                og.countries = set(g["geography"].get("countries", []))
                og.operators = set(g["geography"].get("operators", []))
            if "period" in g:
                p = g["period"]
                og.period = OPeriod(
                    set(p["days"]) if "days" in p else None,
                    [(clock(h.split("-")[0]), clock(h.split("-")[1])) for h in p["hours"]]
                    if "hours" in p
                    else None,
                    date.fromisoformat(p["from"]) if "from" in p else None,
                    date.fromisoformat(p["until"]) if "until" in p else None,
                )
            og.imei_change = bool(g.get("imei_change", False))
            if "allowed_types" in g:
                og.allowed = set(g["allowed_types"])
            if "threshold" in g:
                t = g["threshold"]
                og.t_bytes = t.get("bytes")
                og.t_amount = Decimal(t["amount"]) if "amount" in t else None
                prices = t.get("prices", {})
                og.per_mo = Decimal(prices.get("per_mo", "0"))
                og.per_sms = Decimal(prices.get("per_sms", "0"))
                og.per_call_s = Decimal(prices.get("per_call_s", "0"))
            self.groups.append(og)
        self.imei: dict[str, str] = {}
        self.written: dict[tuple[str, str, str], list[datetime]] = {}
        self.months: dict[tuple[str, str], OMonth] = {}
        self.registered: dict[str, str] = {}
        self.geo_due: set[str] = set()
        self.out: list[Row] = []

    def group(self, line: str) -> OGroup | None:
        if line not in self.watched:
            return None
        return next(
            (g for g in self.groups if line in g.lines or any(line.startswith(p) for p in g.prefixes)), None
        )

    def fire(self, use: Use, rule: str, cause: str, details: dict[str, object]) -> None:
        t = use.time.astimezone(UTC)
        times = self.written.setdefault((use.line, rule, cause), [])
        if any(w <= t and (t - w).total_seconds() < self.holdoff for w in times):
            return
        times.append(t)
        self.out.append((t, use.line, rule, details))

    def on(self, use: Use) -> bool:
        since = self.since.get(use.line)
        return since is None or use.time >= since

    def observe(self, use: Use) -> None:
        g = self.group(use.line)
        if g is None:
            return
        on = self.on(use)
        country = NETWORKS[use.serving_plmn][0]
        # geography
        if g.countries is not None:
            bad = country not in g.countries and use.serving_plmn not in g.operators
            details = {
                "serving_plmn": use.serving_plmn,
                "country": country,
                "allowed_countries": sorted(g.countries),
                "allowed_operators": sorted(g.operators),
            }
            if use.kind == UseKind.ATTACH:
                self.geo_due.discard(use.line)
                if bad:
                    if on:
                        self.fire(use, "geography", use.serving_plmn, details)
                    else:
                        self.geo_due.add(use.line)
            elif on and use.line in self.geo_due:
                self.geo_due.discard(use.line)
                if bad:
                    self.fire(use, "geography", use.serving_plmn, details)
        # imei-change
        if use.kind == UseKind.ATTACH and use.imei:
            previous = self.imei.get(use.line)
            self.imei[use.line] = use.imei
            if g.imei_change and on and previous is not None and previous != use.imei:
                self.fire(use, "imei-change", use.imei, {"previous_imei": previous, "imei": use.imei})
        # period: a use, a call when placed
        if g.period is not None and on and not use.seconds:
            local = use.time.astimezone(self.tz)
            if not g.period.allows(local):
                self.fire(use, "period", "", {"use": use.kind.value, "local_time": local.isoformat()})
        if use.seconds:  # a call's end: its seconds are counted, the call was checked when placed
            self.threshold(g, use, on)
            return
        # communication-type
        if g.allowed is not None and use.kind != UseKind.ATTACH and on:
            kind = use.kind.value
            if use.kind == UseKind.DATA and use.zone != Zone.FR:
                kind = "roaming-data"
            if kind not in g.allowed:
                details = {"type": kind, "allowed": sorted(g.allowed), "serving_plmn": use.serving_plmn}
                self.fire(use, "communication-type", kind, details)
        self.threshold(g, use, on)

    def threshold(self, g: OGroup, use: Use, on: bool) -> None:
        if g.t_bytes is not None or g.t_amount is not None:
            t = use.time.astimezone(UTC)
            month = f"{t:%Y-%m}"
            m = self.months.setdefault((use.line, month), OMonth())
            m.bytes += use.bytes
            m.ko += use.ko
            m.sms += use.count
            m.seconds += use.seconds
            # once watched, the first use that adds to the month raises the alarm of a month over its
            # limit before then (an attach, a session opened or a call placed adds nothing)
            if on and (use.bytes or use.ko or use.count or use.seconds):
                if g.t_bytes is not None and m.bytes > g.t_bytes and "bytes" not in m.fired:
                    m.fired.add("bytes")
                    details = {"month": month, "measure": "bytes", "limit": g.t_bytes, "value": m.bytes}
                    self.fire(use, "threshold", f"{month}:bytes", details)
                amount = m.ko * g.per_mo / 1024 + m.sms * g.per_sms + m.seconds * g.per_call_s
                if g.t_amount is not None and amount > g.t_amount and "amount" not in m.fired:
                    m.fired.add("amount")
                    value = str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))
                    details = {"month": month, "measure": "amount", "limit": str(g.t_amount), "value": value}
                    self.fire(use, "threshold", f"{month}:amount", details)


# -- random configurations and streams -------------------------------------------------------------


def pick(rng: np.random.Generator, items: list[str] | tuple[str, ...], low: int, high: int) -> list[str]:
    """Between low and high (excluded) of the items, in their order."""
    chosen = set(rng.choice(len(items), size=int(rng.integers(low, high)), replace=False).tolist())
    return [x for i, x in enumerate(items) if i in chosen]


def random_hours(rng: np.random.Generator) -> list[str]:
    out = []
    for _ in range(int(rng.integers(1, 3))):
        a, b = (int(x) for x in rng.integers(0, 24 * 4, size=2))
        if rng.random() < 0.1:
            b = a  # a window of one second
        if a == b and rng.random() < 0.5:
            continue
        if b == 0 and a != 0:
            b = 1  # 00:00 as an end is refused (`24:00` is not a time either)
        out.append(f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}")
    return out or ["08:00-20:00"]  # (an empty list is refused)


def random_group(rng: np.random.Generator, name: str, lines: list[str], base: datetime) -> dict[str, Any]:
    g: dict[str, Any] = {"name": name, "lines": lines}
    if rng.random() < 0.6:
        geo: dict[str, Any] = {"countries": pick(rng, ["FR", "BE", "DE"], 1, 3)}
        if rng.random() < 0.5:
            geo["operators"] = pick(rng, ["26201", "31041", "23415"], 1, 2)
        g["geography"] = geo
    if rng.random() < 0.7:
        period: dict[str, Any] = {}
        if rng.random() < 0.6:
            period["days"] = pick(rng, DAYS, 1, 7)  # (an empty list is refused)
        if rng.random() < 0.8:
            period["hours"] = random_hours(rng)
        if rng.random() < 0.3:
            period["from"] = (base + timedelta(days=int(rng.integers(0, 4)))).date().isoformat()
        if rng.random() < 0.3:
            period["until"] = (base + timedelta(days=int(rng.integers(4, 7)))).date().isoformat()
        if not period:
            period["hours"] = ["08:00-20:00"]
        g["period"] = period
    if rng.random() < 0.5:
        g["imei_change"] = True
    if rng.random() < 0.5:
        g["allowed_types"] = pick(rng, ["data", "roaming-data", "sms", "voice", "csd", "fax"], 1, 5)
    if rng.random() < 0.8:
        t: dict[str, Any] = {}
        if rng.random() < 0.7:
            t["bytes"] = int(rng.integers(1, 40_000))
        if rng.random() < 0.6 or not t:
            t["amount"] = str(Decimal(int(rng.integers(1, 4000))) / 100)
            prices = {"per_mo": str(Decimal(int(rng.integers(1, 3000))) / 100)}
            if rng.random() < 0.7:
                prices["per_sms"] = str(Decimal(int(rng.integers(1, 200))) / 1000)
            if rng.random() < 0.7:
                prices["per_call_s"] = str(Decimal(int(rng.integers(1, 50))) / 10_000)
            t["prices"] = prices
        g["threshold"] = t
    return g


def random_case(seed: int) -> tuple[dict[str, Any], set[str], dict[str, datetime], list[Use]]:
    rng = np.random.default_rng(seed)
    base = BASES[int(rng.integers(0, len(BASES)))]
    lines = [f"L{k}" for k in range(6)]
    doc = {
        "timezone": ZONES[int(rng.integers(0, len(ZONES)))],
        "holdoff_s": float(rng.choice([0, 600, 900, 3600, 7200.5, 86_400])),
        "groups": [random_group(rng, "a", lines[:3], base), random_group(rng, "b", lines[3:5], base)],
    }
    watched = {line for line in lines if rng.random() < 0.85}
    since: dict[str, datetime] = {}
    for line in lines:
        if rng.random() < 0.4:
            since[line] = base + timedelta(seconds=int(rng.integers(0, 6 * 4 * 24)) * 900)
    uses: list[Use] = []
    for line in lines:
        t = base - timedelta(hours=int(rng.integers(0, 12)))
        plmn, imei = "20801", f"3569380356{int(rng.integers(0, 3)):04d}"
        uses.append(Use(t, line, UseKind.ATTACH, plmn, NETWORKS[plmn][1], imei=imei))
        for _ in range(int(rng.integers(20, 80))):
            t += timedelta(seconds=int(rng.exponential(6 * 3600)))
            if rng.random() < 0.4:  # on a quarter hour (a window's edge in every zone here) or beside it
                t = datetime.fromtimestamp(t.timestamp() // 900 * 900 + int(rng.integers(-1, 2)), UTC)
            r = rng.random()
            if r < 0.1:
                plmn = list(NETWORKS)[int(rng.integers(0, len(NETWORKS)))]
                if rng.random() < 0.4:
                    imei = f"3569380356{int(rng.integers(0, 3)):04d}"
                uses.append(Use(t, line, UseKind.ATTACH, plmn, NETWORKS[plmn][1], imei=imei))
                continue
            kind = (
                UseKind.DATA
                if r < 0.6
                else UseKind.SMS
                if r < 0.8
                else UseKind(("voice", "csd", "fax")[int(rng.integers(0, 3))])
            )
            zone = NETWORKS[plmn][1]
            if kind == UseKind.DATA:
                n = int(rng.integers(0, 3000)) if rng.random() < 0.9 else 0
                ko = -(-n // 1024) + int(rng.integers(0, 2))
                use = Use(t, line, kind, plmn, zone, bytes=n, ko=ko)
            elif kind == UseKind.SMS:
                use = Use(t, line, kind, plmn, zone, count=1)
            else:  # a call: placed, then its end with its seconds
                uses.append(Use(t, line, kind, plmn, zone))
                end = t + timedelta(seconds=int(rng.integers(0, 300)))
                use = Use(end, line, kind, plmn, zone, seconds=int((end - t).total_seconds()))
            uses.append(use)
    # each use on the network the line is registered on at its time (a call's end too, as the
    # network reports it: a call placed before a move ends after it)
    registered: dict[str, str] = {}
    for k, u in sorted(enumerate(uses), key=lambda x: (x[1].time, x[1].kind != UseKind.ATTACH)):
        if u.kind == UseKind.ATTACH:
            registered[u.line] = u.serving_plmn
        elif u.serving_plmn != registered.get(u.line, u.serving_plmn):
            uses[k] = replace(u, serving_plmn=registered[u.line])
    # times written in any zone; uses in time order across lines, some observed late
    uses = [replace(u, time=u.time.astimezone(USE_ZONES[int(rng.integers(0, len(USE_ZONES)))])) for u in uses]
    uses.sort(key=lambda u: u.time)
    late = [
        i
        for i, u in enumerate(uses)
        if u.kind != UseKind.ATTACH and u.line not in since and rng.random() < 0.1
    ]
    moved = [uses[i] for i in late]
    kept = [u for i, u in enumerate(uses) if i not in set(late)]
    for u in moved:  # a few places later, as the simulator's bulk data comes after the SMS of its days
        first = next((i for i, k in enumerate(kept) if k.time >= u.time), len(kept))
        kept.insert(min(len(kept), first + int(rng.integers(1, 8))), u)
    return doc, watched, since, kept


@pytest.mark.parametrize("seed", range(60))
def test_engine_matches_the_documented_rules(seed: int) -> None:
    doc, watched, since, uses = random_case(seed)
    sink = Alarms()
    engine = parse_alarm_config(doc).engine(watched, sink, watched_from=since)
    oracle = Oracle(doc, watched, since)
    for use in uses:
        engine.observe(use)
        oracle.observe(use)
    assert rows(sink.alarms) == oracle.out


# -- the bulk path: a day's records at once ---------------------------------------------------------


def random_batches(
    seed: int,
) -> tuple[dict[str, Any], dict[str, datetime], list[Use | tuple[Use, np.ndarray, np.ndarray, np.ndarray]]]:
    """Batches of one line's data records (a stretch's day, as the simulator gives them), across a
    month end, with SMS between them; the line watched from a record's end, a second beside one, or
    not at all."""
    rng = np.random.default_rng(seed)
    threshold: dict[str, Any] = {}
    if rng.random() < 0.7:
        threshold["bytes"] = int(rng.integers(1, 30_000))
    if rng.random() < 0.6 or not threshold:
        threshold["amount"] = str(Decimal(int(rng.integers(1, 3000))) / 100)
        threshold["prices"] = {"per_mo": str(Decimal(int(rng.integers(1, 3000))) / 10), "per_sms": "0.5"}
    doc = {
        "holdoff_s": float(rng.choice([0, 3600, 86_400])),
        "groups": [{"name": "g", "lines": ["L1"], "threshold": threshold}],
    }
    base = int(datetime(2026, 3, 30, tzinfo=UTC).timestamp())
    steps: list[Use | tuple[Use, np.ndarray, np.ndarray, np.ndarray]] = []
    ends_seen: list[int] = []
    keep = float(rng.choice([0.3, 0.8, 1.0]))  # the share of records with bytes
    t = base
    for _ in range(int(rng.integers(1, 8))):
        t += int(rng.integers(0, 86_400))
        n = int(rng.integers(0, 60))
        ends = t + rng.integers(0, 86_400, size=n).astype(np.int64)
        if rng.random() < 0.5:
            ends = np.sort(ends)
        nbytes = rng.integers(0, 1500, size=n).astype(np.int64) * (rng.random(n) < keep)
        ko = (nbytes + 1023) >> 10
        first = Use(datetime.fromtimestamp(t, UTC), "L1", UseKind.DATA, "20801", Zone.FR)
        steps.append((first, ends, nbytes, ko))
        ends_seen += ends.tolist()
        if rng.random() < 0.5:
            at = datetime.fromtimestamp(t + int(rng.integers(0, 86_400)), UTC)
            steps.append(Use(at, "L1", UseKind.SMS, "20801", Zone.FR, count=1))
    since: dict[str, datetime] = {}
    r = rng.random()
    if ends_seen and r < 0.6:
        pick_end = ends_seen[int(rng.integers(0, len(ends_seen)))] + int(rng.integers(-1, 2))
        since["L1"] = datetime.fromtimestamp(pick_end, UTC)
    elif r < 0.8:
        since["L1"] = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(seconds=int(rng.integers(-3600, 3600)))
    return doc, since, steps


def play_batches(
    doc: dict[str, Any], since: dict[str, datetime], steps: list[Any], at_once: bool
) -> tuple[list[Row], Oracle]:
    sink = Alarms()
    engine = parse_alarm_config(doc).engine({"L1"}, sink, watched_from=since)
    oracle = Oracle(doc, {"L1"}, since)
    for step in steps:
        if isinstance(step, Use):
            engine.observe(step)
            oracle.observe(step)
            continue
        first, ends, nbytes, ko = step
        if at_once:
            engine.observe_records(first, ends, nbytes, ko)
        else:
            engine.observe(first)
        oracle.observe(first)
        for i in np.argsort(ends, kind="stable").tolist():
            record = replace(
                first, time=datetime.fromtimestamp(int(ends[i]), UTC), bytes=int(nbytes[i]), ko=int(ko[i])
            )
            if not at_once:
                engine.observe(record)
            oracle.observe(record)
    return rows(sink.alarms), oracle


@pytest.mark.parametrize("seed", range(150))
def test_records_at_once_raise_the_alarms_of_the_records_one_by_one(seed: int) -> None:
    doc, since, steps = random_batches(seed)
    bulk, oracle = play_batches(doc, since, steps, at_once=True)
    one_by_one, _ = play_batches(doc, since, steps, at_once=False)
    assert one_by_one == oracle.out
    assert bulk == one_by_one


# -- uses held for the threshold: any order of observation, counted in time order -------------------


def threshold_rows(out: list[Row]) -> list[Row]:
    return sorted((r for r in out if r[2] == "threshold"), key=lambda r: (r[0], r[1], str(r[3])))


@pytest.mark.parametrize("seed", range(40))
def test_held_threshold_counts_uses_in_time_order_whatever_their_order(seed: int) -> None:
    """The simulator gives a day's bulk data before or after the SMS and calls of the same days:
    with `hold_threshold`, uses observed in any order, released at times before which all have
    been observed, raise the threshold alarms of the same uses observed in time order."""
    doc, watched, since, uses = random_case(seed)
    rng = np.random.default_rng(seed + 1000)
    # one use per line and instant (two at once have no order)
    seen: set[tuple[str, datetime]] = set()
    timed: list[Use] = []
    for u in sorted(uses, key=lambda u: u.time):
        if (u.line, u.time) not in seen:
            seen.add((u.line, u.time))
            timed.append(u)
    oracle = Oracle(doc, watched, since)
    for use in timed:
        oracle.observe(use)
    sink = Alarms()
    engine = parse_alarm_config(doc).engine(watched, sink, watched_from=since, hold_threshold=True)
    cuts = sorted(set(rng.integers(0, len(timed), size=4).tolist()))
    for lo, hi in zip([0, *cuts], [*cuts, len(timed)], strict=True):
        segment = timed[lo:hi]
        for i in rng.permutation(len(segment)).tolist():
            engine.observe(segment[i])
        if hi < len(timed):
            engine.release(timed[hi].time)
    engine.release()
    assert threshold_rows(rows(sink.alarms)) == threshold_rows(oracle.out)


@pytest.mark.parametrize("seed", range(60))
def test_held_records_and_sms_in_any_order_count_in_time_order(seed: int) -> None:
    """Bulk records held (`hold_threshold`) and SMS observed before or after them: released at the
    end, the alarms of the records and SMS one by one in time order."""
    doc, since, steps = random_batches(seed)
    rng = np.random.default_rng(seed + 2000)
    singles = [s for s in steps if isinstance(s, Use)]
    batches = [s for s in steps if not isinstance(s, Use)]
    timed: list[Use] = list(singles)
    for first, ends, nbytes, ko in batches:
        for i in np.argsort(ends, kind="stable").tolist():
            timed.append(
                replace(
                    first, time=datetime.fromtimestamp(int(ends[i]), UTC), bytes=int(nbytes[i]), ko=int(ko[i])
                )
            )
    order = sorted(range(len(timed)), key=lambda i: (timed[i].time, i < len(singles)))  # records first
    oracle = Oracle(doc, {"L1"}, since)
    for i in order:
        oracle.observe(timed[i])
    sink = Alarms()
    engine = parse_alarm_config(doc).engine({"L1"}, sink, watched_from=since, hold_threshold=True)
    shuffled: list[Any] = [*singles, *batches]
    for i in rng.permutation(len(shuffled)).tolist():
        step = shuffled[i]
        if isinstance(step, Use):
            engine.observe(step)
        else:
            engine.observe_records(*step)
    engine.release()
    assert threshold_rows(rows(sink.alarms)) == threshold_rows(oracle.out)
