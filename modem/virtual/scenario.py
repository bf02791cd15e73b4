"""What `m2msim modem serve --scenario FILE` reads, and the network the served modems live on.

    start: 2026-03-01T08:00:00Z        # the network's epoch: simulated 0 (default: when serving starts)
    seed: 7
    offer: business-m2m-dtmf           # the lines' offer (voice + DTMF); business-m2m for CSD
    apns: [orange.m2m.spec]            # the lines' APNs (default: the offer's)
    coverage:                          # where the modems are, over simulated time
      - {at: 0, plmn: "20801"}
      - {at: 600, plmn: "20610", csq: [9, 2]}   # roaming in Belgium (5), weak signal
      - {at: 900, plmn: none}          # no coverage: registration 2 (searching)
    events:
      - {at: 30, sms: {from: "+33600000001", text: "ping"}}
      - {at: 60, call: {from: "+33600000002", data: false}}
    faults: {sim_busy: 2}              # as in a profile's faults (modem.virtual.faults)

Errors name the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gateway.api import MtSms, Subscriber
from modem.virtual.faults import FaultError, make_faults

if TYPE_CHECKING:
    from gateway.network import Network, RecordSink
    from modem.virtual.core import VirtualModem


class ScenarioError(ValueError):
    """A serve scenario that cannot be used."""


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    plmn: str | None
    csq: tuple[int, int] | None = None  # +CSQ <rssi>,<ber> from then on (None: unchanged)


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


def load_scenario(path: Path) -> ServeScenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a scenario is a mapping")

    def line(key: str) -> int:
        if isinstance(node, yaml.MappingNode):
            for k, _ in node.value:
                if k.value == key:
                    return int(k.start_mark.line) + 1
        return 1

    def fail(key: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{path}:{line(key)}: field {key}: {msg}")

    known = {"start", "seed", "offer", "apns", "coverage", "events", "faults"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise fail(unknown[0], f"unknown field; known: {', '.join(sorted(known))}")
    start = data.get("start")
    if start is not None:
        if isinstance(start, str):
            try:
                start = datetime.fromisoformat(start.replace("Z", "+00:00"))
            except ValueError:
                raise fail("start", f"not an ISO 8601 time: {start!r}") from None
        if not isinstance(start, datetime):
            raise fail("start", f"expected a time, got {start!r}")
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    steps: list[Step] = []
    for i, item in enumerate(data.get("coverage") or []):
        if not isinstance(item, dict) or "at" not in item or "plmn" not in item:
            raise fail("coverage", f"item {i}: expected {{at: seconds, plmn: MCCMNC or none}}")
        plmn = item["plmn"]
        plmn = None if plmn in (None, "none") else str(plmn)
        if plmn is not None and (not plmn.isdigit() or len(plmn) not in (5, 6)):
            raise fail("coverage", f"item {i}: plmn {plmn!r} is not MCC+MNC")
        csq = item.get("csq")
        if csq is not None:
            if (
                not isinstance(csq, list)
                or len(csq) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in csq)
                or not (0 <= csq[0] <= 31 or csq[0] == 99)
                or not (0 <= csq[1] <= 7 or csq[1] == 99)
            ):
                raise fail("coverage", f"item {i}: csq {csq!r} is not [rssi 0-31|99, ber 0-7|99]")
            csq = (csq[0], csq[1])
        steps.append(Step(_seconds(item["at"], fail, "coverage"), plmn, csq))
    events: list[Event] = []
    for i, item in enumerate(data.get("events") or []):
        if not isinstance(item, dict) or "at" not in item:
            raise fail(
                "events", f"item {i}: expected {{at: seconds, sms: ...}} or {{at: seconds, call: ...}}"
            )
        at = _seconds(item["at"], fail, "events")
        if isinstance(item.get("sms"), dict):
            sms = item["sms"]
            events.append(Event(at, "sms", str(sms.get("from", "")), str(sms.get("text", ""))))
        elif isinstance(item.get("call"), dict):
            call = item["call"]
            events.append(Event(at, "call", str(call.get("from", "")), data=bool(call.get("data", False))))
        else:
            raise fail("events", f"item {i}: needs sms: {{from, text}} or call: {{from, data}}")
    faults = data.get("faults") or {}
    try:
        make_faults(faults)
    except FaultError as exc:
        raise fail("faults", str(exc)) from None
    apns = data.get("apns") or []
    if not isinstance(apns, list):
        raise fail("apns", "expected a list of APN names")
    seed = data.get("seed", 0)
    if not isinstance(seed, int):
        raise fail("seed", f"expected an integer, got {seed!r}")
    return ServeScenario(
        start=start,
        seed=seed,
        offer=str(data.get("offer", "business-m2m-dtmf")),
        apns=tuple(str(a) for a in apns),
        coverage=tuple(steps),
        events=tuple(events),
        faults=dict(faults),
    )


def _seconds(value: Any, fail: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise fail(key, f"at: expected seconds >= 0, got {value!r}")
    return float(value)


def build_network(epoch: datetime, records: RecordSink, seed: int = 0) -> Network:
    """The operator network (gateway.network.Network) the served modems attach to."""
    from gateway.network import Network, NetworkConfig

    return Network(NetworkConfig(epoch=epoch, seed=seed), records)


def provision(network: Network, modem: VirtualModem, scenario: ServeScenario) -> None:
    """Register the modem's SIM as a line of `network` (the HLR entry)."""
    ident = modem.identity
    network.register_subscriber(
        Subscriber(ident.line_id, ident.imsi, ident.msisdn, scenario.offer, scenario.apns)
    )


def schedule(modem: VirtualModem, scenario: ServeScenario, network: Network | None) -> None:
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
    modem.net.move(step.plmn)


def _mt_call(modem: VirtualModem, ev: Event) -> None:
    modem.calls.incoming(ev.sender, ev.data)


def _mt_sms(modem: VirtualModem, network: Network | None, ev: Event) -> None:
    if network is not None:
        network.submit_sms(modem.now, modem.identity.line_id, ev.sender, ev.text)
    else:
        modem.sms.receive(MtSms(ev.sender, ev.text, modem.now))
