"""The same moves billed alike by the simulator's devices and by the virtual modem.

A virtual modem (Quectel BG96, its UDP socket) follows a serve scenario's coverage steps: abroad, to
another country, home, out of coverage, back, abroad again.  The data it hands the gateway (its
context's opening, every datagram, its own release) is played again on a second gateway by the
simulator's device code (`simulator.device.Device`: `attach`, `relocate` at each move, the context
closed abnormally when coverage goes, an attach when it comes back), with the same moves at the same
times.  Both gateways write the same records: start, duration, bytes, zone, serving network, cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from accounting.records import ClosingCause, UsageRecord, UsageType
from gateway.alarms import Alarm, AlarmEngine, parse_alarm_config
from gateway.api import AttachResult, NetworkAPI, PcoAuth, SessionResult, Subscriber
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.conditions import FULL
from modem.virtual.core import RadioSettings, VirtualModem
from modem.virtual.scenario import ServeScenario, Step, provision, schedule
from simulator.device import Device

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
APN = "orange.m2m.spec"
START_PLMN = "20610"  # the modem starts abroad (Belgium): its first context is in the eu zone
# the coverage steps: Switzerland, home, no coverage, home again, Belgium
MOVES: tuple[tuple[float, str | None], ...] = (
    (100.0, "22801"),
    (200.0, "20801"),
    (300.0, None),
    (400.0, "20801"),
    (500.0, "20610"),
)
SENDS = (20.0, 150.0, 250.0, 280.0, 450.0, 550.0)  # a datagram to the echo at each of these seconds


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


@dataclass
class Logged:
    """The gateway as the modem sees it, keeping what the device itself did on it."""

    net: Network
    done: list[tuple[Any, ...]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.net, name)

    def attach(
        self, now: float, line_id: str, imeisv: str, serving_plmn: str, rat: str = "geran"
    ) -> AttachResult:
        self.done.append(("attach", now, serving_plmn))
        return self.net.attach(now, line_id, imeisv, serving_plmn, rat)

    def move(self, now: float, line_id: str, serving_plmn: str, rat: str | None = None) -> AttachResult:
        self.done.append(("move", now, serving_plmn))
        return self.net.move(now, line_id, serving_plmn, rat)

    def open_session(
        self, now: float, line_id: str, apn: str, *, auth: PcoAuth | None = None
    ) -> SessionResult:
        self.done.append(("open", now, apn))
        return self.net.open_session(now, line_id, apn, auth=auth)

    def transfer(self, now: float, session_id: str, bytes_up: int, bytes_down: int) -> None:
        self.done.append(("transfer", now, bytes_up, bytes_down))
        self.net.transfer(now, session_id, bytes_up, bytes_down)

    def carry_packet(self, now: float, session_id: str, packet: bytes, *, uplink: bool) -> None:
        self.done.append(("transfer", now, len(packet) if uplink else 0, 0 if uplink else len(packet)))
        self.net.carry_packet(now, session_id, packet, uplink=uplink)

    def close_session(self, now: float, session_id: str, abnormal: bool = False) -> None:
        if not abnormal:  # the device's own release (the network's are the moves' to make)
            self.done.append(("close", now))
        self.net.close_session(now, session_id, abnormal=abnormal)


def at(m: VirtualModem, line: str, now: float) -> bytes:
    m.feed(line.encode() + b"\r", now)
    return m.take_output()


def _modem_run(
    alarms: AlarmEngine | None = None,
) -> tuple[list[UsageRecord], list[tuple[Any, ...]], Subscriber, str]:
    sink = Sink()
    logged = Logged(Network(NetworkConfig(epoch=EPOCH, seed=3), sink, alarms=alarms))
    m = VirtualModem(
        load_profile("quectel-bg96"),
        network=cast(NetworkAPI, logged),
        seed=4,
        radio=RadioSettings(plmn=START_PLMN),
        epoch=EPOCH,
        conditions=FULL,
    )
    provision(cast(NetworkAPI, logged), m, ServeScenario())
    schedule(m, ServeScenario(coverage=tuple(Step(t, plmn) for t, plmn in MOVES)), cast(NetworkAPI, logged))
    m.take_output(0.0)

    def connect(now: float) -> None:
        assert at(m, f'ATE0;+QICSGP=1,1,"{APN}","","",1;+QIACT=1', now).endswith(b"OK\r\n")
        assert at(m, 'AT+QIOPEN=1,0,"UDP","echo.example",7,0,1', now).endswith(b"OK\r\n")
        m.poll(now)
        assert b"+QIOPEN: 0,0" in m.take_output()

    connect(10.0)
    for t in SENDS:
        if t == 450.0:  # the context was lost with the coverage at 300: a new one, once home again
            m.poll(410.0)
            assert b'+QIURC: "pdpdeact",1' in m.take_output()
            assert at(m, "AT+QICLOSE=0", 410.0).endswith(b"OK\r\n")  # the socket left by the context
            connect(410.0)
        m.poll(t)
        m.take_output()
        assert at(m, "AT+QISEND=0,7", t) == b"\r\n> "
        m.feed(b"reading", t)
        m.poll(t)
        assert m.take_output().endswith(b"reading\r\n")  # the echo, on the same socket across the moves
    assert at(m, "AT+QICLOSE=0;+QIDEACT=1", 600.0).endswith(b"OK\r\n")
    ident = m.identity
    subscriber = Subscriber(ident.line_id, ident.imsi, ident.msisdn, ServeScenario().offer)
    return sink.records, logged.done, subscriber, ident.imeisv


def _simulator_run(
    done: list[tuple[Any, ...]], subscriber: Subscriber, imeisv: str, alarms: AlarmEngine | None = None
) -> list[UsageRecord]:
    """What the device did, played on another gateway by the simulator's device code at the same moves."""
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=3), sink, alarms=alarms)
    net.register_subscriber(subscriber)
    dev: Any = SimpleNamespace(
        net=net,
        env=SimpleNamespace(now=0.0),
        ident=SimpleNamespace(line=subscriber.line_id),
        imeisv=imeisv,
        plmn=START_PLMN,
        attached=False,
        stats=SimpleNamespace(attach_refusals=0),
    )
    session: str | None = None
    outages = [t for t, plmn in MOVES if plmn is None]
    for kind, now, *rest in done:
        while outages and outages[0] <= now:  # an area outage: the context ends abnormally (`Device.traffic`)
            t = outages.pop(0)
            if session is not None:
                net.close_session(t, session, abnormal=True)
                session = None
            dev.attached = False
        if kind in ("attach", "move"):  # where the modem found coverage, when it did (registration time)
            dev.env.now, dev.plmn = now, rest[0]
            Device.relocate(dev)  # attached: a routing area update, else an attach (`Device.outage`)
        elif kind == "open":
            result = net.open_session(now, subscriber.line_id, rest[0])
            assert result.session_id is not None
            session = result.session_id
        elif kind == "transfer":
            assert session is not None
            net.transfer(now, session, rest[0], rest[1])
        else:
            assert session is not None
            net.close_session(now, session)
            session = None
    return sink.records


def _billed(records: list[UsageRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.start, r.duration_s, r.bytes_up, r.bytes_down, r.zone, r.serving_plmn, r.cause, r.sequence, r.apn)
        for r in records
        if r.type == UsageType.DATA
    ]


def test_the_same_moves_give_the_same_records_from_the_simulator_and_the_virtual_modem() -> None:
    modem_records, done, subscriber, imeisv = _modem_run()
    billed = _billed(modem_records)
    assert billed == _billed(_simulator_run(done, subscriber, imeisv))
    zone, plmn, cause = 4, 5, 6
    assert [(b[zone], b[plmn], b[cause]) for b in billed] == [
        ("eu", "20610", ClosingCause.PLMN_CHANGE),  # opened in Belgium: eu, to its end
        ("eu", "22801", ClosingCause.PLMN_CHANGE),
        ("eu", "20801", ClosingCause.ABNORMAL),  # the coverage lost at home: the context with it
        ("fr", "20801", ClosingCause.PLMN_CHANGE),  # a new one, opened at home
        ("fr", "20610", ClosingCause.NORMAL),
    ]
    assert all(b[2] > 0 and b[3] > 0 for b in billed)  # each record carries its own datagrams


class Alarms:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def write(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


# the operator's alarms on the modem's line: France only, 08:05 to 18:00, data at home alone, 30 bytes
ALARMS = parse_alarm_config(
    {
        "groups": [
            {
                "name": "bench",
                "line_prefix": ["vm-"],
                "geography": {"countries": ["FR"]},
                "period": {"hours": ["08:05-18:00"]},
                "allowed_types": ["data"],
                "threshold": {"bytes": 30},
            }
        ],
        "holdoff_s": 60,
    }
)


def test_the_same_moves_raise_the_same_alarms_from_the_simulator_and_the_virtual_modem() -> None:
    """`m2msim modem serve --alarms` feeds the gateway's alarm engine from the modem's uses as `m2msim
    run` does from its devices': the same moves and data give the same alarms, at the same times (the
    simulator's engine counts the threshold in time order at its release, as a run's does)."""
    served = Alarms()
    _, done, subscriber, imeisv = _modem_run(ALARMS.engine(lambda _line: True, served))
    simulated = Alarms()
    engine = ALARMS.engine({subscriber.line_id}, simulated, hold_threshold=True)
    _simulator_run(done, subscriber, imeisv, engine)
    engine.release()
    # in time order (then line, rule), as `m2msim run` writes alarms.jsonl; the served ones come so
    assert served.alarms == sorted(served.alarms, key=lambda a: a.time)
    assert served.alarms == sorted(simulated.alarms, key=lambda a: (a.time, a.line, a.rule))
    rules = [(a.time - EPOCH, a.rule, a.details.get("country")) for a in served.alarms]
    assert ("geography", "BE") in [(r, c) for _, r, c in rules]  # attached in Belgium
    assert ("geography", "CH") in [(r, c) for _, r, c in rules]  # moved to Switzerland at 100 s
    assert {r for _, r, _ in rules} >= {"period", "communication-type", "threshold"}
    assert all(a.time >= EPOCH for a in served.alarms)
