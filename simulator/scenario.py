"""Scenario files: the fleet, its behaviour and the network's events, validated when loaded.

A scenario is YAML (docs/scenarios.md has every key).  It embeds the customer's
inventory in the accounting format, so a run bills itself, and binds each device
group to a line group of that inventory.  The file is read with `m2msim.yamlio` (the one YAML
loader); errors name the file, the line, the key path and what was expected
(`ScenarioError`, a `YamlError`).  The traffic models named by `jitter` and
`recovery` are those of `simulator.traffic_models`.
"""

from __future__ import annotations

import calendar
import copy
import difflib
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from accounting.errors import InventoryError
from accounting.inventory import MAX_LINES, Inventory, inventory_from_dict
from accounting.records import Zone
from gateway.api import (
    HEADER,
    MACHINE_ZONE,
    SCAN_KEYS,
    SYN,
    AlarmConfig,
    ApnCatalog,
    ConfigError,
    InvalidNumber,
    ScanSettingError,
    default_plan,
    default_table,
    machine_zone,
    parse_alarm_config,
    scan_setting,
    unassigned_mcc,
)
from m2msim.yamlio import load_yaml
from simulator.profiles import builtin_profiles
from simulator.traffic_models import TRAFFIC_MODELS, model_names
from simulator.validate import Reader, ScenarioError

__all__ = ["ScenarioError", "load_scenario", "parse_scenario"]

RECONNECT_POLICIES = ("immediate", "fixed", "exponential")
OUTAGE_KINDS = ("area", "apn", "server")
# a module's network search before it registers (the virtual modem profiles' default `search_s`)
NETWORK_SEARCH_S = 2.0
# how the network answers a device's attempts in a server or APN outage: nothing (the server's host
# is there but silent), or ICMP "destination unreachable" (no route to it)
OUTAGE_ANSWERS = ("none", "unreachable")
# TR 45.820 (as commonly cited): report period mix for periodic reporting.
TR45820_PERIOD_MIX: tuple[tuple[float, float], ...] = (
    (86_400.0, 0.40),
    (7_200.0, 0.40),
    (3_600.0, 0.15),
    (1_800.0, 0.05),
)
HOME_PLMN = "20801"  # Orange France
MAX_PAYLOAD = 1_000_000  # bytes of one report
MAX_RATE_PER_DAY = 86_400.0  # SMS or calls: one a second at most
DEFAULT_APN = "orange.m2m.spec"  # the private M2M APN


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a device reports: a fixed period or the TR 45.820 mix, aligned or not, with jitter."""

    period_s: float | None  # None: the TR 45.820 mix
    align: str  # "clock": every device on the same period boundaries; "random": a per-device phase
    jitter: str  # a traffic model (simulator.traffic_models)
    jitter_s: float  # spread of the jitter (default: the model's, simulator.traffic_models)


@dataclass(frozen=True, slots=True)
class Payload:
    fixed: int | None = None
    alpha: float = 2.5  # Pareto shape (TR 45.820: 2.5)
    lo: int = 20
    hi: int = 200


@dataclass(frozen=True, slots=True)
class Application:
    profile: str
    session: str  # "per-report" | "persistent"
    keepalive_s: float
    payload: Payload
    certificate_chain: int = 0  # extra downstream bytes per TLS handshake


@dataclass(frozen=True, slots=True)
class EventStream:
    """SMS or calls: periodic (`every_s`) or Poisson (`rate_per_day`)."""

    kind: str  # sms: heartbeat|alarm ; call: voice|csd
    dest: str
    every_s: float | None = None
    rate_per_day: float = 0.0
    duration_s: float = 0.0  # mean call duration
    size: int = 40  # SMS user data length


@dataclass(frozen=True, slots=True)
class MtSmsStream:
    sender: str
    text: str
    rate_per_day: float


@dataclass(frozen=True, slots=True)
class Trip:
    share: float
    start: datetime
    end: datetime
    plmn: str


@dataclass(frozen=True, slots=True)
class Mobility:
    home_plmn: str = HOME_PLMN
    eu_share: float = 0.0
    world_share: float = 0.0
    eu_plmns: tuple[str, ...] = ("20610", "26201", "21407", "22201")
    world_plmns: tuple[str, ...] = ("310260", "44010", "50501")
    trips: tuple[Trip, ...] = ()


@dataclass(frozen=True, slots=True)
class Reconnect:
    policy: str  # one of RECONNECT_POLICIES
    delay_s: float = 30.0  # fixed delay, or the first back-off step
    max_s: float = 3600.0  # back-off cap
    jitter: float = 0.5  # share of the delay drawn at random (full jitter at 1.0)
    max_attempts: int = 0  # 0: until the network is back


@dataclass(frozen=True, slots=True)
class SimSwap:
    at: datetime
    share: float


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    line_group: str  # an inventory id_prefix, or a single line's id
    line_ids: tuple[str, ...]
    apn: str
    tac: str  # IMEI type allocation code, 8 digits
    schedule: Schedule | None
    application: Application | None
    sms: tuple[EventStream, ...]
    calls: tuple[EventStream, ...]
    mt_sms: MtSmsStream | None
    mobility: Mobility
    reconnect: Reconnect
    sim_swaps: tuple[SimSwap, ...]
    alarms: dict[str, Any]
    # seconds the module takes to find the network and register once a cell is back (its network
    # search: the virtual modem profiles' `boot.search_s`, 2 s by default)
    network_search_s: float = NETWORK_SEARCH_S


@dataclass(frozen=True, slots=True)
class Outage:
    kind: str  # area | apn | server
    start: datetime
    end: datetime
    groups: tuple[str, ...]  # empty: every group
    share: float
    apn: str | None = None
    recovery: str = "tr37868-model2"  # traffic model of the synchronised come-back
    recovery_s: float = 10.0  # its spread (default: the model's)
    answer: str = "none"  # server / apn: one of OUTAGE_ANSWERS


@dataclass(frozen=True, slots=True)
class ApnSpec:
    name: str
    addressing: str  # private | public
    scan_per_hour: float = 0.0  # unsolicited inbound probes on a public address
    scan_bytes: int = SYN  # one probe (a TCP SYN, as gateway.wire's model has it) ...
    scan_reply_bytes: int = HEADER  # ... and the device's RST: a refused connect


@dataclass(frozen=True)
class Scenario:
    source: str
    name: str
    description: str
    seed: int
    start: datetime
    end: datetime
    inventory: dict[str, Any]
    groups: tuple[Group, ...]
    outages: tuple[Outage, ...]
    apns: dict[str, ApnSpec]
    network: dict[str, Any]
    shard_devices: int
    offers: dict[str, str] = field(repr=False, default_factory=dict)  # line id -> offer
    # line id -> second of the period at which the line is activated (its `since`, 00:00 UTC), for
    # the lines activated after the period's start only: a device starts its life there
    activations: dict[str, int] = field(repr=False, default_factory=dict)
    # lines with the autodiagnostic option and the autogestion it requires
    autodiagnostic: frozenset[str] = frozenset()
    # those whose options (the later of the two) start after the period's start: watched from then
    autodiagnostic_from: dict[str, datetime] = field(repr=False, default_factory=dict)
    alarms: AlarmConfig = field(default_factory=lambda: AlarmConfig(()))
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    # `--max-lines`: (lines the scenario writes, lines kept) when it kept fewer, else None
    capped: tuple[int, int] | None = None
    # the run its parts' footers name (`run_digest`, set by `simulator.run.run_shards`), so that
    # parts of two runs are never taken for one run's (`UsageWriter`'s claim)
    run_id: str = field(default="", compare=False)

    @property
    def duration_s(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def month(self) -> tuple[datetime, datetime]:
        """The billing month of the inventory, [start, end)."""
        return month_bounds(str(self.inventory["month"]))

    @property
    def n_devices(self) -> int:
        return sum(len(g.line_ids) for g in self.groups)

    def to_yaml(self) -> str:
        """The scenario as run (with its seed and any override applied), to replay it bit for bit."""
        return yaml.safe_dump(_plain(self.raw), sort_keys=False, allow_unicode=True)


def run_digest(scenario: Scenario) -> str:
    """A digest of the scenario as run: its YAML with every override, and the fleet's cut into
    shards, period and cap (the records its parts hold follow from them)."""
    import hashlib

    said = f"{scenario.to_yaml()}\n{scenario.shard_devices} {scenario.start} {scenario.end} {scenario.capped}"
    return hashlib.sha256(said.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Plain dicts and lists (the loader's located ones are subclasses the YAML dumper refuses)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def expand_lines(
    r: Reader, inventory: dict[str, Any], limit: int = MAX_LINES
) -> tuple[Inventory, dict[str, list[str]]]:
    """The inventory (accounting's reader) and its line groups: `id_prefix` groups and single `id`
    lines; more than `limit` lines are refused."""
    try:
        inv = inventory_from_dict(inventory, r.source, max_lines=limit)
    except InventoryError as exc:
        path = f"inventory.{exc.field}" if exc.field else "inventory"
        raise r.error(path, exc.reason) from None
    groups: dict[str, list[str]] = {}
    for line in inv.lines:
        groups.setdefault(line.group if line.group is not None else line.id, []).append(line.id)
    return inv, groups


def _some(names: Iterable[str], most: int = 10) -> str:
    """Names for a message: all of a few; else the first `most` and how many there are (an inventory
    of single lines named each of its 10,000 ids in one error line)."""
    ordered = sorted(names)
    if len(ordered) <= most:
        return ", ".join(ordered) or "none"
    return f"{', '.join(ordered[:most])}, ... ({len(ordered):,} in all)"


def _known_offers(r: Reader, inventory: dict[str, Any]) -> None:
    """Every line's offer is one the network knows: the shards provision each line with its offer
    (its APNs and calls), and an unknown one stopped the run after the simulation had started."""
    offers = ApnCatalog.load().offers
    for i, entry in enumerate(inventory.get("lines") or ()):
        offer = entry.get("offer") if isinstance(entry, dict) else None
        if isinstance(offer, str) and offer not in offers:
            near = difflib.get_close_matches(offer, sorted(offers), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise r.error(
                f"inventory.lines[{i}].offer",
                f"expected an offer of the catalog ({', '.join(sorted(offers))}), got {offer!r}{hint}",
            )


def activations(inv: Inventory, start: datetime) -> dict[str, int]:
    """The lines activated after `start`: line id -> seconds from `start` to its `since` at 00:00 UTC
    (the day the rating counts it active from: the billing month is UTC's)."""
    late: dict[date, int] = {}
    for day in {line.since for line in inv.lines}:  # a few dates for a fleet of any size
        on = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if on > start:
            late[day] = math.ceil((on - start).total_seconds())
    if not late:
        return {}
    return {line.id: late[line.since] for line in inv.lines if line.since in late}


def watched_lines(
    inv: Inventory, options: tuple[str, ...], start: datetime
) -> tuple[frozenset[str], dict[str, datetime]]:
    """The lines with every one of `options` (a service and the options it requires), and those
    of them whose last option starts after `start`: line id -> that `since` at 00:00 UTC."""
    lines: set[int] = set()
    late: dict[int, datetime] = {}
    # the lines of an inventory line group share their options: each set is looked at once
    for key, subs in {id(line.options): line.options for line in inv.lines}.items():
        since = {o.id: o.since for o in subs}
        if not all(o in since for o in options):
            continue
        lines.add(key)
        last = max(since[o] for o in options)
        on = datetime(last.year, last.month, last.day, tzinfo=UTC)
        if on > start:
            late[key] = on
    return (
        frozenset(line.id for line in inv.lines if id(line.options) in lines),
        {line.id: late[id(line.options)] for line in inv.lines if id(line.options) in late},
    )


# the autodiagnostic service and the option the catalog requires for it (a line with autodiagnostic
# alone is an inventory error the invoice does not bill: it is not watched)
AUTODIAGNOSTIC = ("autodiagnostic", "autogestion")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The billing month `YYYY-MM` as [start, end) in UTC; ValueError when it is not one."""
    y, mo = (int(x) for x in month.split("-"))
    start = datetime(y, mo, 1, tzinfo=UTC)
    return start, start + timedelta(days=calendar.monthrange(y, mo)[1])


def _period(r: Reader, doc: dict[str, Any], inventory: dict[str, Any]) -> tuple[datetime, datetime]:
    month = inventory.get("month")
    month_s = str(month) if month is not None else ""
    try:
        m_start, m_end = month_bounds(month_s)
    except (ValueError, OverflowError):  # (9999-12: its end is past the year 9999, a traceback)
        raise r.fail("inventory.month", "a billing month YYYY-MM such as 2026-03", month) from None
    raw = doc.get("period")
    if raw is None:
        return m_start, m_end
    p = r.mapping(raw, "period", {"start", "end", "days"})
    if "end" in p and "days" in p:  # one would be ignored
        raise r.error("period.days", "a period has an end or a number of days, not both: remove one")
    start = r.instant(p["start"], "period.start") if "start" in p else m_start
    within = f"start < end, both within the billing month {month_s} ({m_start:%Y-%m-%d} to {m_end:%Y-%m-%d})"
    if "end" in p:
        end = r.instant(p["end"], "period.end")
    elif "days" in p:
        days = r.number(p["days"], "period.days", 0.0, 31.0)
        try:
            end = start + timedelta(days=days)
        except OverflowError:  # (a start late in 9999, outside every billing month: a traceback)
            raise r.fail("period", within, f"{start.isoformat()} + {days:g} days") from None
    else:
        end = m_end
    for key in ("start", "end"):
        at = start if key == "start" else end
        if key in p and at.microsecond:  # the records, dated from the start's whole second, would not be its
            raise r.fail(f"period.{key}", "a time on a whole second (the run counts whole seconds)", at)
    if not m_start <= start < end <= m_end:
        raise r.fail("period", within, f"{start.isoformat()} .. {end.isoformat()}")
    if end - start < timedelta(seconds=1):
        length = f"{(end - start).total_seconds():g} s"
        raise r.fail("period", "a period of at least one second (the run counts whole seconds)", length)
    # a number of days ends on the last whole second the run simulates (`--days 1.00001`: 86,400 s,
    # where the invoice's and the summary's end said 00:00:00.864)
    return start, start + timedelta(seconds=math.floor((end - start).total_seconds()))


def _schedule(r: Reader, raw: Any, path: str) -> Schedule:
    m = r.mapping(raw, path, {"period", "mix", "align", "jitter", "jitter_s"})
    if "period" in m and "mix" in m:
        raise r.fail(path, "either 'period' or 'mix', not both", show_got=False)
    period = None
    if "mix" in m:
        r.choice(m["mix"], f"{path}.mix", ("tr45820",))
    else:
        period = r.duration(m.get("period"), f"{path}.period")
        if period < 1:  # the records are dated in whole seconds: two reports a second shared their start
            raise r.fail(
                f"{path}.period", "a period of at least 1s (one report a second at most)", m.get("period")
            )
    align = r.choice(m.get("align", "random"), f"{path}.align", ("clock", "random"))
    jitter = r.choice(m.get("jitter", "none"), f"{path}.jitter", model_names())
    spread = _spread(r, m, "jitter_s", jitter, path)
    shortest = period if period is not None else min(p for p, _ in TR45820_PERIOD_MIX)
    if spread >= shortest:
        which = "the period" if period is not None else "the mix's shortest period"
        raise r.fail(f"{path}.jitter_s", f"a spread shorter than {which} ({shortest:g} s)", spread)
    return Schedule(period_s=period, align=align, jitter=jitter, jitter_s=spread)


def _spread(r: Reader, m: dict[str, Any], key: str, model: str, path: str) -> float:
    """The spread `key` of traffic model `model`: as given, else the model's default (the registry's)."""
    spec = TRAFFIC_MODELS[model]
    if key not in m:
        return spec.default_spread_s
    if not spec.takes_spread:
        raise r.error(f"{path}.{key}", f"the traffic model {model!r} takes no spread: remove {key}")
    return r.duration(m[key], f"{path}.{key}")


def _application(r: Reader, raw: Any, path: str) -> Application:
    m = r.mapping(raw, path, {"profile", "session", "keepalive", "payload", "certificate_chain"})
    profiles = builtin_profiles()
    name = r.choice(m.get("profile"), f"{path}.profile", tuple(sorted(profiles)))
    session = r.choice(m.get("session", "per-report"), f"{path}.session", ("per-report", "persistent"))
    if session == "persistent" and not profiles[name].persistent_capable:
        capable = tuple(sorted(n for n, p in profiles.items() if p.persistent_capable))
        raise r.fail(f"{path}.profile", f"a profile with persistent figures ({', '.join(capable)})", name)
    if "keepalive" in m and session != "persistent":
        raise r.error(
            f"{path}.keepalive",
            "only a persistent session sends keep-alives (a per-report session closes after each "
            "report): set session: persistent, or remove keepalive",
        )
    if "certificate_chain" in m and not profiles[name].tls:
        tls = ", ".join(sorted(n for n, p in profiles.items() if p.tls))
        raise r.error(
            f"{path}.certificate_chain",
            f"profile {name!r} has no TLS handshake to carry a certificate chain (TLS profiles: {tls})",
        )
    keepalive = r.duration(m.get("keepalive", "20min"), f"{path}.keepalive")
    payload = Payload()
    if "payload" in m:
        p = r.mapping(m["payload"], f"{path}.payload", {"fixed", "pareto"})
        # neither: the default would be taken silently; both: one of them ignored
        if ("fixed" in p) == ("pareto" in p):
            raise r.fail(
                f"{path}.payload",
                "exactly one of 'fixed' (bytes) or 'pareto' (a distribution)",
                show_got=False,
            )
        if "fixed" in p:
            payload = Payload(fixed=r.integer(p["fixed"], f"{path}.payload.fixed", 0, MAX_PAYLOAD))
        elif "pareto" in p:
            q = r.mapping(p["pareto"], f"{path}.payload.pareto", {"alpha", "min", "max"})
            lo = r.integer(q.get("min", 20), f"{path}.payload.pareto.min", 1, MAX_PAYLOAD)
            hi = r.integer(q.get("max", 200), f"{path}.payload.pareto.max", lo, MAX_PAYLOAD)
            payload = Payload(
                alpha=r.number(q.get("alpha", 2.5), f"{path}.payload.pareto.alpha", 0.01, 100.0), lo=lo, hi=hi
            )
    chain = r.size(m["certificate_chain"], f"{path}.certificate_chain") if "certificate_chain" in m else 0
    return Application(
        profile=name, session=session, keepalive_s=keepalive, payload=payload, certificate_chain=chain
    )


def _stream(r: Reader, raw: Any, path: str, kinds: tuple[str, ...]) -> EventStream:
    # an SMS has a size and no duration, a call the reverse: the other key would be ignored
    own = "duration" if "voice" in kinds else "size"
    m = r.mapping(raw, path, {"kind", "dest", "every", "rate_per_day", own})
    kind = r.choice(m.get("kind"), f"{path}.kind", kinds)
    dest = r.string(m.get("dest"), f"{path}.dest")
    try:  # the gateway's own reading: a number it cannot route refused every SMS or call of the run
        default_plan().classify(dest)
    except InvalidNumber as exc:
        raise r.error(f"{path}.dest", f"expected a number to send to or call, got {exc}") from None
    if ("every" in m) == ("rate_per_day" in m):
        raise r.fail(path, "exactly one of 'every' (periodic) or 'rate_per_day' (Poisson)", show_got=False)
    every = r.duration(m["every"], f"{path}.every") if "every" in m else None
    if every is not None and every < 1:  # as rate_per_day: one event a second at most
        raise r.fail(f"{path}.every", "a period of at least 1s (one event a second at most)", m["every"])
    rate = _rate(r, m["rate_per_day"], f"{path}.rate_per_day") if "rate_per_day" in m else 0.0
    # a mean of 0 s was taken as calls of 1 s each: a call lasts at least a second
    dur = r.duration(m.get("duration", 30), f"{path}.duration")
    size = r.integer(m.get("size", 40), f"{path}.size", 0, 160)
    return EventStream(kind=kind, dest=dest, every_s=every, rate_per_day=rate, duration_s=dur, size=size)


def _rate(r: Reader, value: Any, path: str) -> float:
    """Events a day: above 0 (a rate of 0 made a stream of no events, without a word), one a second
    at most."""
    rate = r.number(value, path)
    if not 0 < rate <= MAX_RATE_PER_DAY:
        raise r.fail(path, f"a number in (0, {MAX_RATE_PER_DAY:g}] (for no events, remove the stream)", value)
    return rate


def _mobility(r: Reader, raw: Any, path: str) -> Mobility:
    m = r.mapping(raw, path, {"home_plmn", "eu_share", "world_share", "eu_plmns", "world_plmns", "trips"})
    base = Mobility()
    eu = r.share(m.get("eu_share", 0.0), f"{path}.eu_share")
    world = r.share(m.get("world_share", 0.0), f"{path}.world_share")
    if eu + world > 1.0:
        raise r.fail(path, "eu_share + world_share <= 1", eu + world)
    trips = []
    for i, t in enumerate(r.seq(m.get("trips", []), f"{path}.trips")):
        tp = f"{path}.trips[{i}]"
        tm = r.mapping(t, tp, {"share", "start", "end", "plmn"})
        start = r.instant(tm.get("start"), f"{tp}.start")
        end = r.instant(tm.get("end"), f"{tp}.end")
        if end <= start:
            raise r.fail(f"{tp}.end", "a date after start", tm.get("end"))
        trips.append(
            Trip(
                share=r.share(tm.get("share", 1.0), f"{tp}.share"),
                start=start,
                end=end,
                plmn=_network(r, tm.get("plmn"), f"{tp}.plmn"),
            )
        )
    networks: dict[str, tuple[str, ...]] = {}
    for key, share in (("eu_plmns", eu), ("world_plmns", world)):
        listed = r.seq(m.get(key, list(getattr(base, key))), f"{path}.{key}")
        networks[key] = tuple(_network(r, v, f"{path}.{key}[{i}]") for i, v in enumerate(listed))
        zone = key.split("_")[0]  # the zone the list's devices are based in: their records are rated there
        for i, network in enumerate(networks[key]):
            country = default_table().lookup(network)
            if country.zone.value != zone:
                where = (
                    f"{country.name}, zone {country.zone.value}"
                    if country.name
                    else f"zone {country.zone.value}"
                )
                raise r.fail(
                    f"{path}.{key}[{i}]",
                    f"a network of the {zone} zone (MCC {network[:3]}: {where})",
                    network,
                )
        if share > 0 and not networks[key]:  # the share's devices would silently stay at home
            which = key.split("_")[0] + "_share"
            raise r.fail(f"{path}.{key}", f"at least one network for the {which} of {share:g}", listed)
    home = _network(r, m.get("home_plmn", base.home_plmn), f"{path}.home_plmn")
    home_country = default_table().lookup(home)
    if home_country.zone != Zone.FR:  # the catalog's home network is Orange France's
        raise r.fail(
            f"{path}.home_plmn",
            f"a network of the fr zone, France métropolitaine (MCC {home[:3]}: {home_country.name}, "
            f"zone {home_country.zone.value})",
            home,
        )
    return Mobility(
        home_plmn=home,
        eu_share=eu,
        world_share=world,
        eu_plmns=networks["eu_plmns"],
        world_plmns=networks["world_plmns"],
        trips=tuple(trips),
    )


def _network(r: Reader, value: Any, path: str) -> str:
    """A serving network, MCC+MNC (5 or 6 digits), whose MCC is assigned (ITU-T E.212, the gateway's
    MCC table): an unassigned one was rated `world` without a word."""
    plmn = r.digits(value, path, (5, 6))
    if not default_table().assigned(plmn):
        raise r.error(path, unassigned_mcc(plmn))
    return plmn


# The keys each reconnection policy reads (immediate: no wait at all; fixed: no back-off cap).
_RECONNECT_KEYS = {
    "immediate": ("max_attempts",),
    "fixed": ("delay", "jitter", "max_attempts"),
    "exponential": ("delay", "max", "jitter", "max_attempts"),
}


def _reconnect(r: Reader, raw: Any, path: str) -> Reconnect:
    m = r.mapping(raw, path, {"policy", "delay", "max", "jitter", "max_attempts"})
    policy = r.choice(m.get("policy", "exponential"), f"{path}.policy", RECONNECT_POLICIES)
    for key in ("delay", "max", "jitter"):
        if key in m and key not in _RECONNECT_KEYS[policy]:
            takes = [k for k, keys in _RECONNECT_KEYS.items() if key in keys]
            raise r.error(
                f"{path}.{key}",
                f"the {policy} policy has no {key} (only {' and '.join(takes)}): remove it, or change the policy",
            )
    delay = r.duration(m.get("delay", 30), f"{path}.delay", positive=False)
    cap = r.duration(m.get("max", 3600), f"{path}.max")
    if policy == "exponential" and cap < delay:  # the back-off would never reach its first delay
        raise r.fail(f"{path}.max", f"a cap at least the first delay ({delay:g} s)", m.get("max", 3600))
    return Reconnect(
        policy=policy,
        delay_s=delay,
        max_s=cap,
        jitter=r.share(m.get("jitter", 0.5), f"{path}.jitter"),
        max_attempts=r.integer(m.get("max_attempts", 0), f"{path}.max_attempts", 0, 1_000_000),
    )


_GROUP_KEYS = {
    "name", "lines", "apn", "tac", "schedule", "application", "sms", "calls", "mt_sms",
    "mobility", "reconnect", "sim_swaps", "alarms", "network_search",
}  # fmt: skip


def _group(
    r: Reader,
    raw: Any,
    path: str,
    line_groups: dict[str, list[str]],
    default_apn: str,
    apns: dict[str, ApnSpec],
) -> Group:
    m = r.mapping(raw, path, _GROUP_KEYS)
    apn = r.string(m.get("apn", default_apn), f"{path}.apn").lower()
    if apn not in apns:
        raise r.fail(f"{path}.apn", f"an APN of the network ({', '.join(sorted(apns))})", apn)
    name = r.string(m.get("name"), f"{path}.name")
    lg = r.string(m.get("lines"), f"{path}.lines")
    if lg not in line_groups:
        raise r.fail(
            f"{path}.lines",
            f"an inventory id_prefix or line id ({_some(line_groups)})",
            lg,
        )
    if ("schedule" in m) != ("application" in m):
        raise r.fail(path, "both 'schedule' and 'application' (periodic data), or neither", show_got=False)
    mt = None
    if "mt_sms" in m:
        mm = r.mapping(m["mt_sms"], f"{path}.mt_sms", {"sender", "text", "rate_per_day"})
        mt = MtSmsStream(
            sender=r.string(mm.get("sender", "20500"), f"{path}.mt_sms.sender"),
            text=r.string(mm.get("text", "STATUS?"), f"{path}.mt_sms.text"),
            rate_per_day=_rate(r, mm.get("rate_per_day"), f"{path}.mt_sms.rate_per_day"),
        )
    swaps = tuple(
        SimSwap(
            at=r.instant(
                r.mapping(s, f"{path}.sim_swaps[{i}]", {"at", "share"}).get("at"), f"{path}.sim_swaps[{i}].at"
            ),
            share=r.share(s.get("share", 1.0), f"{path}.sim_swaps[{i}].share"),
        )
        for i, s in enumerate(r.seq(m.get("sim_swaps", []), f"{path}.sim_swaps"))
    )
    return Group(
        name=name,
        line_group=lg,
        line_ids=tuple(line_groups[lg]),
        apn=apn,
        tac=r.digits(m.get("tac", "35332811"), f"{path}.tac", (8,)),
        schedule=_schedule(r, m["schedule"], f"{path}.schedule") if "schedule" in m else None,
        application=_application(r, m["application"], f"{path}.application") if "application" in m else None,
        sms=tuple(
            _stream(r, s, f"{path}.sms[{i}]", ("heartbeat", "alarm"))
            for i, s in enumerate(r.seq(m.get("sms", []), f"{path}.sms"))
        ),
        calls=tuple(
            _stream(r, s, f"{path}.calls[{i}]", ("voice", "csd"))
            for i, s in enumerate(r.seq(m.get("calls", []), f"{path}.calls"))
        ),
        mt_sms=mt,
        mobility=_mobility(r, m.get("mobility", {}), f"{path}.mobility"),
        reconnect=_reconnect(r, m.get("reconnect", {}), f"{path}.reconnect"),
        sim_swaps=swaps,
        alarms=r.mapping(m.get("alarms", {}), f"{path}.alarms"),
        network_search_s=r.duration(
            m.get("network_search", NETWORK_SEARCH_S), f"{path}.network_search", positive=False, max_s=3600.0
        ),
    )


def _outage(r: Reader, raw: Any, path: str, group_names: set[str], apns: dict[str, ApnSpec]) -> Outage:
    m = r.mapping(
        raw,
        path,
        {"kind", "start", "duration", "end", "groups", "share", "apn", "recovery", "recovery_s", "answer"},
    )
    kind = r.choice(m.get("kind"), f"{path}.kind", OUTAGE_KINDS)
    # keys another kind of outage reads: here they would change nothing
    if kind == "apn" and "groups" in m:
        raise r.error(
            f"{path}.groups",
            "an apn outage hits every group on that APN: remove groups (or use kind: server for some groups)",
        )
    if kind != "apn" and "apn" in m:
        raise r.error(
            f"{path}.apn", f"only an apn outage names an APN: use kind: apn, or remove apn ({kind})"
        )
    for key in ("recovery", "recovery_s"):
        if kind != "area" and key in m:
            raise r.error(
                f"{path}.{key}",
                f"only an area outage has a synchronised come-back when the cell returns: remove {key} ({kind})",
            )
    if kind == "area" and "answer" in m:
        raise r.error(f"{path}.answer", "an area outage has no network to answer the device: remove answer")
    answer = r.choice(m.get("answer", "none"), f"{path}.answer", OUTAGE_ANSWERS)
    start = r.instant(m.get("start"), f"{path}.start")
    if "end" in m and "duration" in m:  # one would be ignored
        raise r.error(f"{path}.duration", "an outage has an end or a duration, not both: remove one")
    if "end" in m:
        end = r.instant(m["end"], f"{path}.end")
    else:
        end = start + timedelta(seconds=r.duration(m.get("duration"), f"{path}.duration"))
    if end <= start:
        raise r.fail(f"{path}.end", "an end after the start", m.get("end"))
    groups = tuple(
        r.string(g, f"{path}.groups[{i}]") for i, g in enumerate(r.seq(m.get("groups", []), f"{path}.groups"))
    )
    for i, g in enumerate(groups):
        if g not in group_names:
            raise r.fail(f"{path}.groups[{i}]", f"a device group ({_some(group_names)})", g)
    apn = None
    if kind == "apn":
        apn = r.string(m.get("apn"), f"{path}.apn")
        if apn not in apns:
            raise r.fail(f"{path}.apn", f"an APN of network.apns ({', '.join(sorted(apns))})", apn)
    recovery = r.choice(m.get("recovery", "tr37868-model2"), f"{path}.recovery", model_names())
    return Outage(
        kind=kind,
        start=start,
        end=end,
        groups=groups,
        share=r.share(m.get("share", 1.0), f"{path}.share"),
        apn=apn,
        recovery=recovery,
        recovery_s=_spread(r, m, "recovery_s", recovery, path),
        answer=answer,
    )


def _apns(r: Reader, raw: Any) -> dict[str, ApnSpec]:
    """Scan settings per APN; the APNs and their addressing are the gateway's (gateway/data/apns.yaml)."""
    catalog = ApnCatalog.load().apns
    m = r.mapping(raw, "network.apns")
    out: dict[str, ApnSpec] = {}
    for name, apn in catalog.items():
        out[name] = ApnSpec(name=name, addressing="public" if apn.public else "private")
    for name, spec in m.items():
        p = f"network.apns.{name}"
        key = str(name).lower()
        if key not in catalog:
            raise r.fail(p, f"an APN of the network ({', '.join(sorted(catalog))})", show_got=False)
        first = next(other for other in m if str(other).lower() == key)
        if first != name:  # APN names are read without case: the second one replaced the first's settings
            raise r.error(p, f"the APN {first!r} again (APN names are read without case): keep one")
        s = r.mapping(spec if spec is not None else {}, p, set(SCAN_KEYS))  # the serve scenario's too
        try:  # (the one rule of the scan keys, the serve scenario's too)
            scan = scan_setting(s, catalog[key].public)
        except ScanSettingError as exc:
            raise r.error(f"{p}.{exc.key}", f"expected {exc.reason}") from None
        out[key] = ApnSpec(
            name=key,
            addressing=out[key].addressing,
            scan_per_hour=scan.per_hour,
            scan_bytes=scan.packet_bytes,
            scan_reply_bytes=scan.reply_bytes,
        )
    return out


def _alarm_config(r: Reader, raw: Any, groups: tuple[Group, ...]) -> AlarmConfig:
    """The gateway's alarm configuration: one alarm group per device group that sets `alarms`."""
    m = r.mapping(raw, "network.alarms", {"timezone", "holdoff"})
    doc: dict[str, Any] = {
        "groups": [],
        "timezone": r.string(m.get("timezone", "UTC"), "network.alarms.timezone"),
    }
    if machine_zone(doc["timezone"]):  # the alarms would depend on the machine that runs the shard
        raise r.error(
            "network.alarms.timezone",
            f"{doc['timezone']!r} is {MACHINE_ZONE}: name a place's, such as Europe/Paris",
        )
    try:
        zoneinfo.ZoneInfo(doc["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise r.fail(
            "network.alarms.timezone", "an IANA time zone such as Europe/Paris", doc["timezone"]
        ) from None
    doc["holdoff_s"] = r.duration(m.get("holdoff", 3600), "network.alarms.holdoff", positive=False)
    for i, g in enumerate(groups):
        if g.alarms:
            entry = {"name": g.name, "lines": list(g.line_ids), **g.alarms}
            _gateway_alarms(r, {**doc, "groups": [entry]}, f"groups[{i}].alarms")  # the error names the group
            doc["groups"].append(entry)
    return _gateway_alarms(r, doc, "network.alarms")


_GATEWAY_GROUP = re.compile(r"^alarms(?::\d+)?: groups\[0\] \([^)]*\)(?P<sub>(?:\.[\w.\[\]]+)?): ")


def _gateway_alarms(r: Reader, doc: dict[str, Any], path: str) -> AlarmConfig:
    try:
        return parse_alarm_config(doc, "alarms")
    except ConfigError as exc:
        text = str(exc)
        m = _GATEWAY_GROUP.match(text)
        if m is not None:  # the gateway names its own group 0 (one at a time here): use our key path
            raise r.error(path + m.group("sub"), text[m.end() :]) from None
        raise r.error(path, text.split(": ", 1)[-1]) from None
    except (TypeError, ValueError, AttributeError, KeyError):
        # a value of the wrong kind the gateway's reader does not name (a number for a mapping...)
        raise r.error(path, "malformed alarm settings (see docs/gateway.md for their shape)") from None


def _apply_overrides(doc: dict[str, Any], days: float | None, max_lines: int | None) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    if days is not None:
        period = dict(doc.get("period") or {})
        period.pop("end", None)
        period["days"] = days
        doc["period"] = period
    if max_lines is not None:
        inv = doc.get("inventory")
        if isinstance(inv, dict) and isinstance(inv.get("lines"), list):
            for entry in inv["lines"]:
                if isinstance(entry, dict) and isinstance(entry.get("count"), int):
                    entry["count"] = min(entry["count"], max_lines)
    return doc


def _line_count(doc: dict[str, Any]) -> int:
    """The lines an inventory writes: a group's `count`, else one per entry (0 when unreadable:
    the reading after says what is wrong)."""
    inv = doc.get("inventory")
    entries = inv.get("lines") if isinstance(inv, dict) else None
    if not isinstance(entries, list):
        return 0
    return sum(e["count"] if isinstance(e, dict) and isinstance(e.get("count"), int) else 1 for e in entries)


def _within_month(r: Reader, month: str, groups: tuple[Group, ...], outages: tuple[Outage, ...]) -> None:
    """Every dated event touches the billing month: an outage or a trip wholly before or after it,
    or a SIM swap after it, would change nothing in the run (a date of another month, a typo)."""
    m_start, m_end = month_bounds(month)
    spans: list[tuple[str, datetime, datetime]] = [
        (f"events.outages[{i}]", o.start, o.end) for i, o in enumerate(outages)
    ]
    for i, g in enumerate(groups):
        spans += [
            (f"groups[{i}].mobility.trips[{j}]", t.start, t.end) for j, t in enumerate(g.mobility.trips)
        ]
        spans += [(f"groups[{i}].sim_swaps[{j}].at", w.at, w.at) for j, w in enumerate(g.sim_swaps)]
    for path, start, end in spans:
        if start >= m_end or (end <= m_start and not path.endswith(".at")):
            shown = start.isoformat() if start == end else f"{start.isoformat()} .. {end.isoformat()}"
            raise r.fail(
                path,
                f"a time within the billing month {month} ({m_start:%Y-%m-%d} to {m_end:%Y-%m-%d}): "
                "outside it, it changes nothing",
                shown,
            )


_TOP_KEYS = {"name", "description", "seed", "period", "inventory", "network", "groups", "events", "run"}

# Admission of a job before the inventory is expanded: (devices, days) -> None, or raise.
Admit = Callable[[int, float], None]


def run_name(r: Reader, value: Any, path: str = "name") -> str:
    """A scenario name: the run folder's default name (runs/NAME), so it stays inside the runs folder."""
    name = r.string(value, path)
    why = None
    if "\x00" in name:
        why = "a NUL character"
    elif "/" in name or "\\" in name:
        why = "a path separator"
    elif name in (".", "..") or name.startswith("."):
        why = "a leading dot"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        why = "a control character"
    elif not name.strip() or len(name) > 100:
        why = "no text" if not name.strip() else "more than 100 characters"
    if any("\udc80" <= c <= "\udcff" for c in name):
        # bytes of a file name that are not UTF-8 (the name by default): the run failed once simulated,
        # on a summary, a report and a folder (DuckDB opens UTF-8 paths only) that cannot hold them
        raise r.error(
            path,
            f"{name[:40]!r} has bytes that are not UTF-8 (the file's name): the run's folder, summary "
            "and report are named after it; set name: in the scenario",
        )
    if why is not None:
        raise r.error(
            path,
            f"{name[:40]!r} has {why}: the name is the run folder's (runs/NAME) and cannot place files elsewhere",
        )
    return name


def raw_devices(doc: Any) -> int:
    """The number of devices the inventory lines declare, counted without expanding them."""
    total = 0
    inv = doc.get("inventory") if isinstance(doc, dict) else None
    lines = inv.get("lines") if isinstance(inv, dict) else None
    for entry in lines if isinstance(lines, list) else ():
        if isinstance(entry, dict):
            count = entry.get("count", 1)
            total += count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    return total


def parse_scenario(
    doc: Any,
    source: str = "<scenario>",
    *,
    seed: int | None = None,
    days: float | None = None,
    max_lines: int | None = None,
    shard_devices: int | None = None,
    admit: Admit | None = None,
    inventory_limit: int = MAX_LINES,
) -> Scenario:
    """A validated scenario from a parsed YAML document; overrides are written into the kept copy.

    `admit(devices, days)` is called once the period is known and before the inventory's lines
    are expanded (a fleet of 10^9 lines would not fit in memory): it raises to refuse the job.
    More than `inventory_limit` lines are refused (`--force` raises it to what the memory holds).
    """
    r = Reader(source, doc)
    top = r.mapping(doc, "", _TOP_KEYS)
    name = run_name(r, top.get("name", Path(source).stem))
    written = _line_count(top)
    # an option's override goes into a key of the file: that key must be a mapping to take it
    if days is not None and top.get("period") is not None:
        r.mapping(top["period"], "period")
    if shard_devices is not None and top.get("run") is not None:
        r.mapping(top["run"], "run")
    top = _apply_overrides(top, days, max_lines)
    if "name" not in top:  # the file's name: written into the copy, which replays under another file name
        top = {"name": name, **top}
    kept = _line_count(top)
    if seed is not None:
        top["seed"] = seed
    if shard_devices is not None:
        top["run"] = {**(top.get("run") or {}), "shard_devices": shard_devices}
    run_seed = r.integer(top.get("seed", 0), "seed", 0, 2**63 - 1)
    top["seed"] = run_seed
    inventory = r.mapping(top.get("inventory"), "inventory")
    try:
        start, end = _period(r, top, inventory)
    except ScenarioError as exc:
        if days is None or not exc.key.startswith("period"):
            raise
        raise ScenarioError(source, None, "--days", f"{days:g}: {exc.reason}") from None
    if admit is not None:
        admit(raw_devices(top), (end - start).total_seconds() / 86_400)
    inv, line_groups = expand_lines(r, inventory, inventory_limit)
    _known_offers(r, inventory)
    net = r.mapping(top.get("network", {}), "network", {"apns", "default_apn", "alarms"})
    apns = _apns(r, net.get("apns", {}))
    default_apn = r.string(net.get("default_apn", DEFAULT_APN), "network.default_apn").lower()
    if default_apn not in apns:
        raise r.fail("network.default_apn", f"an APN of the network ({', '.join(sorted(apns))})", default_apn)
    groups = tuple(
        _group(r, g, f"groups[{i}]", line_groups, default_apn, apns)
        for i, g in enumerate(r.seq(top.get("groups"), "groups"))
    )
    if not groups:  # a run of no device: a month of subscriptions with no traffic, not a simulation
        raise r.fail("groups", "at least one device group (each bound to a line group of the inventory)", [])
    names: set[str] = set()
    used: set[str] = set()
    home = groups[0].mobility.home_plmn
    for i, g in enumerate(groups):
        if (
            g.mobility.home_plmn != home
        ):  # the network has one home: the IMSIs and the rating take the first's
            raise r.fail(
                f"groups[{i}].mobility.home_plmn",
                f"the fleet's home network {home} (groups[0]'s: the operator's, one for every group)",
                g.mobility.home_plmn,
            )
        if g.name in names:
            raise r.fail(f"groups[{i}].name", "a group name used once", g.name)
        if g.line_group in used:
            raise r.fail(f"groups[{i}].lines", "a line group bound to one device group only", g.line_group)
        names.add(g.name)
        used.add(g.line_group)
    events = r.mapping(top.get("events", {}), "events", {"outages"})
    outages = tuple(
        _outage(r, o, f"events.outages[{i}]", names, apns)
        for i, o in enumerate(r.seq(events.get("outages", []), "events.outages"))
    )
    _within_month(r, str(inventory["month"]), groups, outages)
    run = r.mapping(top.get("run", {}), "run", {"shard_devices"})
    alarms = _alarm_config(r, net.get("alarms", {}), groups)
    watched = watched_lines(inv, AUTODIAGNOSTIC, start)
    return Scenario(
        source=source,
        name=name,
        description=r.string(top.get("description", ""), "description"),
        seed=run_seed,
        start=start,
        end=end,
        inventory=inventory,
        groups=groups,
        outages=outages,
        apns=apns,
        network=net,
        shard_devices=r.integer(run.get("shard_devices", 1000), "run.shard_devices", 1, 10_000_000),
        offers={line.id: line.offer for line in inv.lines},
        activations=activations(inv, start),
        autodiagnostic=watched[0],
        autodiagnostic_from=watched[1],
        alarms=alarms,
        raw=top,
        capped=(written, kept) if kept < written else None,
    )


def load_scenario(
    path: str | Path,
    *,
    seed: int | None = None,
    days: float | None = None,
    max_lines: int | None = None,
    shard_devices: int | None = None,
    admit: Admit | None = None,
    inventory_limit: int = MAX_LINES,
) -> Scenario:
    """Read and validate a scenario file; a `YamlError` (`ScenarioError`) names the file, the line,
    the key path and what was expected."""
    doc = load_yaml(path)
    return parse_scenario(
        doc,
        str(path),
        seed=seed,
        days=days,
        max_lines=max_lines,
        shard_devices=shard_devices,
        admit=admit,
        inventory_limit=inventory_limit,
    )
