"""What `m2msim modem serve --scenario FILE` reads, and the network the served modems live on.

    start: 2026-03-01T08:00:00Z        # the network's epoch: simulated 0 (default: when serving starts)
    seed: 7
    offer: business-m2m-dtmf           # the lines' offer (voice + DTMF); business-m2m for CSD
    apns: [orange.m2m.spec]            # the lines' APNs (default: the offer's)
    coverage:                          # where the modems are, over simulated time
      - {at: 0, plmn: "20801"}
      - {at: 600, plmn: "20610", csq: [9, 2]}   # roaming in Belgium (5), weak signal
      - {at: 900, plmn: none}          # no coverage: registration 2 (searching)
      - {at: 1200, plmn: "20801", net: edge, netdelay: "600:1500"}   # network conditions from then on
    events:
      - {at: 30, sms: {from: "+33600000001", text: "ping"}}
      - {at: 60, call: {from: "+33600000002", data: false}}
    faults: {sim_busy: 2}              # as in a profile's faults (modem.virtual.faults)
    internet:                          # where sockets go (gateway.internet); or a file name
      hosts: {broker.example.com: "127.0.0.1:1883"}
    network:                           # Internet scans of a public APN, as in a simulator scenario
      apns:
        internet-entreprise: {scan_per_hour: 120, scan_bytes: 52, scan_reply_bytes: 40}

A coverage step's `net` (a preset), `netspeed`, `netdelay` and `netloss` change the
modem's network conditions (`modem.virtual.conditions`) at that time; the
others are kept.

Errors name the file, the line and the key path (`roam.yaml:7: events[1].sms.from: ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.api import (
    SCAN_KEYS,
    ApnCatalog,
    IcmpHosts,
    Internet,
    MtSms,
    ScanSetting,
    ScanSettingError,
    Subscriber,
    default_table,
    load_internet,
    parse_internet,
    scan_setting,
    unassigned_mcc,
)
from m2msim.yamlio import (
    LocatedDict,
    LocatedList,
    YamlError,
    check_keys,
    flag_field,
    int_field,
    load_yaml,
    mapping,
    number_field,
    sequence,
    text_field,
    text_list,
)
from modem.virtual.conditions import FULL, ConditionsError, conditions_from
from modem.virtual.faults import FaultError, make_faults

if TYPE_CHECKING:
    from gateway.api import NetworkAPI
    from modem.profiles import Profile
    from modem.virtual.core import VirtualModem


class ScenarioError(YamlError, ValueError):
    """A serve scenario that cannot be used: names the file, the line and the key path."""


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    plmn: str | None
    csq: tuple[int, int] | None = None  # +CSQ <rssi>,<ber> from then on (None: unchanged)
    net: tuple[tuple[str, str], ...] = ()  # network condition keys (net, netspeed, ...) from then on


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    kind: str  # "sms" or "call"
    sender: str
    text: str = ""
    data: bool = False


@dataclass(frozen=True, slots=True)
class ServeScenario:
    start: datetime | None = None
    seed: int = 0
    offer: str = "business-m2m-dtmf"
    apns: tuple[str, ...] = ()
    coverage: tuple[Step, ...] = ()
    events: tuple[Event, ...] = ()
    faults: dict[str, Any] = field(default_factory=dict)
    internet: Internet | None = None  # the Internet table (None: the built-in one)
    scans: dict[str, ScanSetting] = field(default_factory=dict)  # per public APN (`gateway.scans`)


TOP_KEYS = ("start", "seed", "offer", "apns", "coverage", "events", "faults", "internet", "network")
MAX_SECONDS = 10 * 366 * 86_400.0  # scenario times: at most ten years after the start


def load_scenario(path: Path) -> ServeScenario:
    """Read a serve scenario; `ScenarioError` (a `YamlError`) names the file, line and key path."""
    source = str(path)
    try:
        doc = mapping(load_yaml(path, source=source), source, "")
        return _scenario(doc, source)
    except ScenarioError:
        raise
    except YamlError as exc:
        raise ScenarioError(exc.source, exc.line, exc.key, exc.reason) from None


def _internet(doc: LocatedDict, src: str) -> Internet | None:
    """The `internet:` key: an inline table, or the name of a table file (relative to the scenario)."""
    if "internet" not in doc:
        return None
    value = doc["internet"]
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute():
            path = Path(src).parent / path
        if not path.is_file():
            raise ScenarioError(src, doc.line_of("internet"), "internet", f"{value!r}: no such file")
        return load_internet(path)
    return parse_internet(value, src, "internet", doc.line_of("internet"))


def _scenario(doc: LocatedDict, src: str) -> ServeScenario:
    check_keys(doc, TOP_KEYS, src, "")
    start = doc.get("start")
    if start is not None:
        if isinstance(start, str):
            try:
                start = datetime.fromisoformat(start.replace("Z", "+00:00"))
            except ValueError:
                raise ScenarioError(
                    src, doc.line_of("start"), "start", f"not an ISO 8601 time: {start!r}"
                ) from None
        if not isinstance(start, datetime):
            raise ScenarioError(src, doc.line_of("start"), "start", f"expected a time, got {start!r}")
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    steps: list[Step] = []
    coverage = sequence(doc.get("coverage") or LocatedList(), src, "coverage", doc.line_of("coverage"))
    for i in range(len(coverage)):
        path = f"coverage[{i}]"
        item = mapping(coverage[i], src, path, coverage.line_of(i))
        check_keys(item, ("at", "plmn", "csq", *NET_KEYS), src, path, required=("at", "plmn"))
        plmn = text_field(item, "plmn", src, path, required=False, what="MCC+MNC (quoted) or none")
        if plmn is not None and plmn != "none" and (not plmn.isdigit() or len(plmn) not in (5, 6)):
            raise ScenarioError(src, item.line_of("plmn"), f"{path}.plmn", f"{plmn!r} is not MCC+MNC")
        if plmn is not None and plmn != "none" and not default_table().assigned(plmn):
            raise ScenarioError(src, item.line_of("plmn"), f"{path}.plmn", unassigned_mcc(plmn))
        csq = item.get("csq")
        if csq is not None:
            if (
                not isinstance(csq, list)
                or len(csq) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in csq)
                or not (0 <= csq[0] <= 31 or csq[0] == 99)
                or not (0 <= csq[1] <= 7 or csq[1] == 99)
            ):
                raise ScenarioError(
                    src, item.line_of("csq"), f"{path}.csq", f"{csq!r} is not [rssi 0-31|99, ber 0-7|99]"
                )
            csq = (csq[0], csq[1])
        net = _net_keys(item, src, path)
        steps.append(Step(_seconds(item, src, path), None if plmn in (None, "none") else plmn, csq, net))
    events: list[Event] = []
    items = sequence(doc.get("events") or LocatedList(), src, "events", doc.line_of("events"))
    for i in range(len(items)):
        path = f"events[{i}]"
        item = mapping(items[i], src, path, items.line_of(i))
        check_keys(item, ("at", "sms", "call"), src, path, required=("at",))
        at = _seconds(item, src, path)
        if ("sms" in item) == ("call" in item):
            raise ScenarioError(src, item.line, path, "needs one of sms: {from, text} or call: {from, data}")
        if "sms" in item:
            sms = mapping(item["sms"], src, f"{path}.sms", item.line_of("sms"))
            check_keys(sms, ("from", "text"), src, f"{path}.sms", required=("from",))
            sender = _number(sms, src, f"{path}.sms")
            text = text_field(sms, "text", src, f"{path}.sms", default="", required=False) or ""
            events.append(Event(at, "sms", sender, text))
        else:
            call = mapping(item["call"], src, f"{path}.call", item.line_of("call"))
            check_keys(call, ("from", "data"), src, f"{path}.call", required=("from",))
            sender = _number(call, src, f"{path}.call")
            data = bool(flag_field(call, "data", src, f"{path}.call", default=False))
            events.append(Event(at, "call", sender, data=data))
    faults = mapping(doc.get("faults") or LocatedDict(), src, "faults", doc.line_of("faults"))
    for key in faults:
        try:
            make_faults({key: faults[key]})
        except FaultError as exc:
            raise ScenarioError(src, faults.line_of(key), f"faults.{key}", str(exc)) from None
    apns = text_list(doc, "apns", src, "", default=[], what="an APN name") or []
    seed = int_field(doc, "seed", src, "", default=0, minimum=0, maximum=2**63 - 1)
    offer = text_field(doc, "offer", src, "", default="business-m2m-dtmf", what="an offer name")
    return ServeScenario(
        start=start,
        seed=int(seed or 0),
        offer=str(offer),
        apns=tuple(apns),
        coverage=tuple(steps),
        events=tuple(events),
        faults=dict(faults),
        internet=_internet(doc, src),
        scans=_scans(doc, src),
    )


def _scans(doc: LocatedDict, src: str) -> dict[str, ScanSetting]:
    """The `network:` key: `apns: {<name>: {scan_per_hour, scan_bytes, scan_reply_bytes}}`, the
    keys and limits of a simulator scenario's `network.apns` (`gateway.scans`)."""
    if "network" not in doc:
        return {}
    net = mapping(doc["network"], src, "network", doc.line_of("network"))
    check_keys(net, ("apns",), src, "network")
    apns = mapping(net.get("apns") or LocatedDict(), src, "network.apns", net.line_of("apns"))
    catalog = ApnCatalog.load().apns
    out: dict[str, ScanSetting] = {}
    for name in apns:
        path = f"network.apns.{name}"
        key = str(name).lower()
        if key not in catalog:
            raise ScenarioError(
                src, apns.line_of(name), path, f"not an APN of the network ({', '.join(sorted(catalog))})"
            )
        if key in out:  # APN names are read without case: the second would replace the first's settings
            raise ScenarioError(
                src, apns.line_of(name), path, "the same APN again (names are read without case): keep one"
            )
        spec = mapping(apns[name] if apns[name] is not None else LocatedDict(), src, path, apns.line_of(name))
        check_keys(spec, SCAN_KEYS, src, path)
        try:
            out[key] = scan_setting(spec, catalog[key].public)
        except ScanSettingError as exc:
            raise ScenarioError(src, spec.line_of(exc.key), f"{path}.{exc.key}", exc.reason) from None
    return out


NET_KEYS = ("net", "netspeed", "netdelay", "netloss")


def _net_keys(item: LocatedDict, src: str, path: str) -> tuple[tuple[str, str], ...]:
    """A step's network condition keys, each checked (as text: `netspeed: 64` is 64 kbit/s)."""
    keys: list[tuple[str, str]] = []
    for key in NET_KEYS:
        if key not in item:
            continue
        given = item[key]
        if isinstance(given, bool) or not isinstance(given, str | int | float):
            raise ScenarioError(
                src, item.line_of(key), f"{path}.{key}", f"expected a preset name or a number, got {given!r}"
            )
        value = item.raw(key) or str(given)
        try:
            conditions_from(FULL, **{key: value})
        except ConditionsError as exc:
            raise ScenarioError(src, item.line_of(key), f"{path}.{key}", str(exc)) from None
        keys.append((key, value))
    return tuple(keys)


def _number(m: LocatedDict, src: str, path: str) -> str:
    number = text_field(m, "from", src, path, what="a phone number")
    assert number is not None
    digits = number.removeprefix("+").replace(" ", "")
    if not digits.isdigit() or not 2 <= len(digits) <= 15:
        raise ScenarioError(src, m.line_of("from"), f"{path}.from", f"{number!r} is not a phone number")
    return number


def _seconds(m: LocatedDict, src: str, path: str) -> float:
    value = number_field(m, "at", src, path, minimum=0, maximum=MAX_SECONDS, unit="s")
    if value is None:
        raise ScenarioError(src, m.line_of("at"), f"{path}.at", "missing (required): seconds after the start")
    return value


def provision(network: NetworkAPI, modem: VirtualModem, scenario: ServeScenario) -> None:
    """Register the modem's SIM as a line of `network` (the HLR entry), the modem taking its calls:
    another line's call to it rings there (`NetworkAPI.serve_calls`)."""
    ident = modem.identity
    network.register_subscriber(
        Subscriber(ident.line_id, ident.imsi, ident.msisdn, scenario.offer, scenario.apns)
    )
    network.serve_calls(ident.line_id, modem.calls)


def served_modems(
    profile: Profile,
    count: int,
    network: NetworkAPI | None,
    scenario: ServeScenario,
    seed: int,
    **options: Any,
) -> list[VirtualModem]:
    """The `count` modems a serve puts on `network`, each provisioned (`provision`) and with the
    scenario's timers (`schedule`); `options`: `VirtualModem`'s other keywords.

    They are served by one network: its hosts' ICMP rate limits (`gateway.icmplimit`) are one set
    for all of them (`NetLink.icmp`): the gateway answers every modem's "no route" and "prohibited"
    within its one global limit (a burst of 50, 1,000 a second), each device's address its own
    bucket, as a host of the Internet answers them all within its own."""
    from modem.virtual.core import VirtualModem

    icmp = IcmpHosts()
    modems = []
    for i in range(count):
        modem = VirtualModem(profile, network=network, seed=seed, index=i, icmp=icmp, **options)
        if network is not None:
            provision(network, modem, scenario)
        schedule(modem, scenario, network)
        modems.append(modem)
    return modems


def schedule(modem: VirtualModem, scenario: ServeScenario, network: NetworkAPI | None) -> None:
    """Put the scenario's coverage steps and events on the modem's timers."""
    for step in scenario.coverage:
        modem.schedule(step.at - modem.now, partial(_cover, modem, step))
    for ev in scenario.events:
        if ev.kind == "sms":
            modem.schedule(ev.at - modem.now, partial(_mt_sms, modem, network, ev))
        else:
            modem.schedule(ev.at - modem.now, partial(_mt_call, modem, ev))


def _cover(modem: VirtualModem, step: Step) -> None:
    if step.csq is not None:
        modem.radio = replace(modem.radio, csq=step.csq)
    if step.net:
        modem.link.change(**dict(step.net))
    modem.net.move(step.plmn)


def _mt_call(modem: VirtualModem, ev: Event) -> None:
    modem.calls.incoming(ev.sender, ev.data)


def _mt_sms(modem: VirtualModem, network: NetworkAPI | None, ev: Event) -> None:
    if network is not None:
        network.submit_sms(modem.now, modem.identity.line_id, ev.sender, ev.text)
    else:
        modem.sms.receive(MtSms(ev.sender, ev.text, modem.now))
