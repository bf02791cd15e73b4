"""The same device behaviour billed alike by the simulator and by the virtual modem.

A virtual modem (Quectel BG96, its own UDP stack) does something on its network; what it handed the
gateway is played again on a second gateway the way the simulator's device code plays it, with the
simulator's own models for what the device does not send itself (scans of a public address).  Both
gateways must write the same records, column by column (`test_moves_billed_alike` does the same for
moves between networks).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from accounting.records import USAGE_SCHEMA, UsageRecord, UsageType, is_retry_charging
from gateway.api import NetworkAPI, Subscriber, build_network
from gateway.internet import Internet, Target
from gateway.network import Network, NetworkConfig
from gateway.scans import scan_rng
from gateway.wire import HEADER, SYN, UDP_HEADER, refused, unreachable
from modem.profiles import load_profile
from modem.virtual.conditions import FULL
from modem.virtual.core import VirtualModem
from modem.virtual.netio import LoopSockets
from modem.virtual.ppp import forwarder as forwarder_module
from modem.virtual.ppp.ip import ICMP, build_udp, parse_ipv4
from modem.virtual.scenario import ScenarioError, ServeScenario, Step, load_scenario, provision, schedule
from modem.virtual.sockets import Listener, Socket
from simulator.run import simulate
from simulator.scenario import ApnSpec, parse_scenario
from simulator.traffic import scan_bytes
from tests.modem.pppdevice import Device as PppDevice
from tests.modem.pppdevice import TcpClient
from tests.modem.test_moves_billed_alike import EPOCH, Logged, Sink, _billed, at
from tests.modem.test_ppp import online
from tests.modem.test_virtual_sockets import Dte

PUBLIC_APN = "orange.m2m"  # a public-address APN: reachable from the Internet, scanned
SENDS = (60.0, 3_600.0, 7_000.0)  # a datagram to the echo at each of these seconds
CLOSED_AT = 7_200.0


def _modem_run(net: NetworkAPI, sink: Sink) -> tuple[list[UsageRecord], list[tuple[Any, ...]], Subscriber]:
    """A BG96 on `net` (its records to `sink`): a context on the public APN, a UDP socket to the
    echo, a datagram at each of `SENDS`, the socket and the context closed at `CLOSED_AT`."""
    logged = Logged(cast(Network, net))
    m = VirtualModem(
        load_profile("quectel-bg96"), network=cast(NetworkAPI, logged), seed=4, epoch=EPOCH, conditions=FULL
    )
    provision(cast(NetworkAPI, logged), m, ServeScenario())
    m.take_output(0.0)
    assert at(m, f'ATE0;+QICSGP=1,1,"{PUBLIC_APN}","","",1;+QIACT=1', 10.0).endswith(b"OK\r\n")
    assert at(m, 'AT+QIOPEN=1,0,"UDP","echo.example",7,0,1', 10.0).endswith(b"OK\r\n")
    m.poll(10.0)
    assert b"+QIOPEN: 0,0" in m.take_output()
    for t in SENDS:
        assert at(m, "AT+QISEND=0,7", t) == b"\r\n> "
        m.feed(b"reading", t)
        m.poll(t)
        assert m.take_output().endswith(b"reading\r\n")
    assert at(m, "AT+QICLOSE=0;+QIDEACT=1", CLOSED_AT).endswith(b"OK\r\n")
    ident = m.identity
    subscriber = Subscriber(ident.line_id, ident.imsi, ident.msisdn, ServeScenario().offer)
    return sink.records, logged.done, subscriber


def _simulator_run(
    done: list[tuple[Any, ...]], subscriber: Subscriber, imeisv: str, spec: ApnSpec, seed: int
) -> list[UsageRecord]:
    """The same session on a gateway as the simulator's shard makes it (its scans off: the device
    code adds the scenario's, `simulator.traffic.scan_bytes`, to the session's bytes)."""
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=3, scan_rate_per_hour=0.0), sink)
    net.register_subscriber(subscriber)
    assert net.attach(0.0, subscriber.line_id, imeisv, "20801").accepted
    session = ""
    for kind, now, *rest in done:
        if kind == "open":
            result = net.open_session(now, subscriber.line_id, rest[0])
            assert result.session_id is not None
            session, opened = result.session_id, now
        elif kind == "transfer":
            net.transfer(now, session, rest[0], rest[1])
        elif kind == "close":
            duration = np.array([int(now) - int(opened)], dtype=np.int64)
            up, down = scan_bytes(scan_rng(seed, subscriber.line_id), spec, duration)
            net.transfer(now, session, int(up[0]), int(down[0]))
            net.close_session(now, session)
    return sink.records


def test_a_public_apn_session_is_billed_as_the_simulator_bills_it_for_the_same_scenario() -> None:
    """A scenario that says nothing of scans: the simulator bills none on a public APN, and the
    virtual modem's network none either (it billed four 60-byte probes an hour, down only)."""
    sink = Sink()
    served, done, subscriber = _modem_run(build_network(EPOCH, sink, 3), sink)  # the serve's network
    spec = ApnSpec(name=PUBLIC_APN, addressing="public")  # the scenario's default for a public APN
    imeisv = served[0].imeisv
    assert imeisv is not None
    assert _billed(served) == _billed(_simulator_run(done, subscriber, imeisv, spec, seed=1))
    assert served[0].bytes_down == len(SENDS) * (7 + 28)  # the echoed datagrams alone


def test_a_probe_of_a_public_address_costs_what_the_simulator_bills_for_one() -> None:
    """With scans (the same rate both ways), each probe is the simulator's: a SYN down, the reset up."""
    rate = 3_600.0
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=3, scan_rate_per_hour=rate), sink)
    served, _done, _subscriber = _modem_run(net, sink)
    probes = net.counters["scan-packets"]
    assert probes > 0
    datagrams = len(SENDS) * (7 + 28)
    spec = ApnSpec(name=PUBLIC_APN, addressing="public", scan_per_hour=rate)  # the simulator's probe
    (record,) = served
    assert (record.bytes_up - datagrams, record.bytes_down - datagrams) == (
        probes * spec.scan_reply_bytes,
        probes * spec.scan_bytes,
    )


# ----- a destination the network cannot reach: the ICMP answer on the APN ------------------------

UNREACHABLE_HOST = "192.0.2.10"  # TEST-NET-1: allowed by the table below, so a real connect is tried


class NoRoute:
    """The served modem's real sockets (`SocketIO`) on a host with no route to `UNREACHABLE_HOST`:
    every connect is answered "unreachable", as `LoopSockets` reports EHOSTUNREACH."""

    def __init__(self) -> None:
        self.connecting: list[Socket] = []

    def connect(self, sock: Socket, host: str, port: int) -> None:
        sock.handle = self
        self.connecting.append(sock)

    def send(self, sock: Socket, data: bytes) -> None:
        raise AssertionError("nothing is sent on a connect that failed")

    def close(self, sock: Socket) -> None:
        sock.handle = None

    def pause(self, sock: Socket, paused: bool) -> None:
        return None

    def listen(self, listener: Listener) -> None:
        return None

    def unlisten(self, listener: Listener) -> None:
        return None


ALLOWED = Internet(allow=(ipaddress.ip_network("192.0.2.0/24"),))  # TEST-NET-1 reachable, so really tried


def _served(
    net: NetworkAPI,
    profile: str = "quectel-bg96",
    internet: Internet | None = ALLOWED,
    epoch: datetime = EPOCH,
) -> VirtualModem:
    """A modem on `net` (a line of the serve's offer), its link conditions "full"."""
    m = VirtualModem(
        load_profile(profile), network=net, seed=4, epoch=epoch, conditions=FULL, internet=internet
    )
    provision(net, m, ServeScenario())
    return m


def _bg96(net: NetworkAPI, internet: Internet | None = None) -> VirtualModem:
    m = _served(net, internet=internet)
    m.take_output(0.0)
    assert at(m, 'ATE0;+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1', 10.0).endswith(b"OK\r\n")
    return m


def test_a_datagram_to_a_refused_destination_bills_the_networks_answer_on_either_bearer() -> None:
    """The module's own UDP stack and the PPP bearer send the same datagram to a destination the
    network refuses: both bill it and the ICMP "administratively prohibited" the network answers
    with (the module stack billed the datagram alone, the PPP bearer a 33-byte ICMP quoting the
    datagram's payload instead of its header)."""
    sink = Sink()
    m = _bg96(build_network(EPOCH, sink, 3))
    assert at(m, f'AT+QIOPEN=1,0,"UDP","{UNREACHABLE_HOST}",5000,0,1', 10.0).endswith(b"OK\r\n")
    m.poll(10.0)
    assert b"+QIOPEN: 0,0" in m.take_output()  # UDP has no connect to fail
    assert at(m, "AT+QISEND=0,7", 20.0) == b"\r\n> "
    m.feed(b"reading", 20.0)
    m.poll(20.0)
    stack = m.net.contexts[1]

    dev, _net, _sink = online()
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    dev.send(build_udp(dev.address, ipaddress.IPv4Address(UNREACHABLE_HOST).packed, 5000, 5000, b"reading"))
    (answer,) = dev.received
    icmp = parse_ipv4(answer)
    assert icmp is not None and icmp.proto == ICMP and icmp.payload[:2] == bytes([3, 13])
    assert icmp.payload[8:] == dev.sent[-1]  # the whole datagram quoted (Linux: up to 576 B in all)

    assert (stack.bytes_up, stack.bytes_down) == (ctx.bytes_up - up0, ctx.bytes_down - down0)
    # the error: its IPv4 20 and ICMP 8 bytes and the 35 B datagram it quotes
    assert (stack.bytes_up, stack.bytes_down) == (7 + UDP_HEADER, 20 + 8 + 7 + UDP_HEADER)


def _simulated_rows(
    tmp_path: Path,
    name: str,
    group: dict[str, Any],
    outage: dict[str, Any] | None,
    since: str = "2025-01-01",
    days: int = 1,
    line_id: str | None = None,
    network: dict[str, Any] | None = None,
    seed: int = 5,
    end: str | None = None,
) -> list[dict[str, Any]]:
    """The data records, in time order, of a simulated run (from 2 March 2026, `days` long, or to
    `end`) of one device of `group` (on orange.m2m.spec unless the group says, its line `line_id`
    active `since`) through `outage`; `network`: the scenario's `network` keys beside its default APN."""
    line = {"id": line_id} if line_id is not None else {"id_prefix": "D", "count": 1}
    doc = {
        "name": name,
        "seed": seed,
        "period": {"start": "2026-03-02"} | ({"days": days} if end is None else {"end": end}),
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                line
                | {
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                }
                | {"since": since}
            ],
        },
        "network": {"default_apn": "orange.m2m.spec"} | (network or {}),
        "groups": [group | {"lines": line_id or "D"}],
        "events": {"outages": [outage] if outage is not None else []},
    }
    result = simulate(parse_scenario(doc, f"{name}.yaml"), tmp_path / "run", invoice=False)
    table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
    return sorted((r for r in table.to_pylist() if r["type"] == "data"), key=lambda r: r["start"])


def _simulated_unreachable_attempt(tmp_path: Path) -> dict[str, Any]:
    """The first failed attempt of an HTTP reporter in a server outage whose host the network
    answers "unreachable" (the scenario's `answer: unreachable`)."""
    group = {
        "name": "reporters",
        "schedule": {"period": "1h"},
        "application": {"profile": "http", "payload": {"fixed": 53}},
        "reconnect": {"policy": "fixed", "delay": "10min", "jitter": 0},
    }
    outage = {"kind": "server", "start": "2026-03-02T10:00:00Z", "duration": "2h", "answer": "unreachable"}
    rows = _simulated_rows(tmp_path, "unreachable", group, outage)
    retries = [r for r in rows if is_retry_charging(r["charging_id"])]
    assert retries
    return retries[0]


def test_a_connect_the_network_answers_unreachable_is_billed_as_the_simulator_bills_one(
    tmp_path: Path,
) -> None:
    """A BG96 connects to a host the network has no route to: the SYN and the ICMP answer are billed
    (the SYN alone was), as the simulator bills an attempt of a server outage answered so."""
    sink = Sink()
    m = _bg96(build_network(EPOCH, sink, 3), ALLOWED)
    io = NoRoute()
    m.tcp.io = io
    assert at(m, f'AT+QIOPEN=1,0,"TCP","{UNREACHABLE_HOST}",80,0,1', 10.0).endswith(b"OK\r\n")
    (sock,) = io.connecting
    m.poll(10.2)
    m.tcp.failed(sock, unreachable=True)  # what LoopSockets reports for EHOSTUNREACH
    m.poll(10.2)
    assert b"+QIOPEN: 0,566" in m.take_output()  # socket connect failed
    assert at(m, "AT+QIDEACT=1", 11.0).endswith(b"OK\r\n")
    (served,) = [r for r in sink.records if r.type == UsageType.DATA]
    simulated = _simulated_unreachable_attempt(tmp_path)
    # every billed column but the time, and the cause: the firmware releases its own context once
    # the connect has failed, which the network records as any release (0, normalRelease), as the
    # simulator's device does (it said 4, abnormal, which no network wrote for it)
    columns = ("duration_s", "bytes_up", "bytes_down", "zone", "serving_plmn", "cause", "sequence")
    assert tuple(getattr(served, k) for k in columns) == tuple(simulated[k] for k in columns)
    assert (served.bytes_up, served.bytes_down, served.cause) == (
        SYN,
        20 + 8 + SYN,
        0,
    )  # the ICMP quotes the SYN


# ----- coverage back: the report waits for the module's network search ---------------------------

COAP_SERVER = "192.0.2.20"  # a CoAP server the table lets through (`CoapServer` answers for it)
COAP_ACK = 6  # a piggybacked ACK without payload: CoAP header 4 and the token 2 (profiles.yaml's coap)


class CoapServer(NoRoute):
    """The served modem's real sockets, with a CoAP server behind `COAP_SERVER`: each CON it gets is
    answered by an empty ACK at once, as the simulator's `coap` profile has it."""

    def __init__(self, modem: VirtualModem) -> None:
        super().__init__()
        self.modem = modem

    def connect(self, sock: Socket, host: str, port: int) -> None:
        sock.handle = self
        self.modem.tcp.connected(sock)

    def send(self, sock: Socket, data: bytes) -> None:
        self.modem.tcp.received(sock, bytes(COAP_ACK))


def _sensors(search_s: float) -> dict[str, Any]:
    """A group of CoAP reporters (every hour on the hour), its module taking `search_s` to register."""
    return {
        "name": "sensors",
        "schedule": {"period": "1h", "align": "clock"},
        "application": {"profile": "coap", "payload": {"fixed": 53}},
        "reconnect": {"policy": "fixed", "delay": "45s", "jitter": 0},  # an attempt a minute
        "network_search": search_s,
    }


def _simulated_outage(
    tmp_path: Path, search_s: float, start: datetime | None = None, end: datetime | None = None
) -> tuple[datetime, datetime, list[dict[str, Any]]]:
    """A CoAP reporter (every hour on the hour) through an area outage (default 10:00 to 10:30), its
    module taking `search_s` to register again once the cell is back; the outage's start and end,
    its records."""
    start = start or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    end = end or datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    outage = {"kind": "area", "start": start.isoformat(), "end": end.isoformat()}
    return start, end, _simulated_rows(tmp_path, "search", _sensors(search_s), outage)


def _modem_reports(
    epoch: datetime,
    times: list[float],
    lost: float | None,
    back: float,
    apn: str = "orange.m2m.spec",
    scenario: ServeScenario | None = None,
) -> tuple[list[UsageRecord], float, str]:
    """A BG96 whose firmware sends a CoAP report (53 B, its CON 62 B of UDP payload) at each of
    `times`, each on a context of its own released a second later; coverage goes at `lost` and comes
    back at `back` (`lost` None: the module is switched on at 0 and searches from then): a report
    due before the module has registered again is sent as soon as it says it has; its contexts on
    `apn`, its network that of `scenario` (its seed and scans).  The records, when it registered
    again, and its line."""
    sink = Sink()
    net = (
        build_network(epoch, sink, 3)
        if scenario is None
        else build_network(epoch, sink, scenario.seed, scans=scenario.scans)
    )
    m = _served(net, epoch=epoch)
    if lost is not None:
        schedule(m, ServeScenario(coverage=(Step(lost, None), Step(back, "20801"))), net)
    m.tcp.io = CoapServer(m)
    m.take_output(0.0)
    assert at(m, "ATE0;+CEREG=1", 0.0 if lost is None else 1.0).endswith(b"OK\r\n")

    def report(t: float) -> None:
        assert at(m, f'AT+QICSGP=1,1,"{apn}","","",1;+QIACT=1', t).endswith(b"OK\r\n")
        out = at(m, f'AT+QIOPEN=1,0,"UDP","{COAP_SERVER}",5683,0,1', t)
        m.poll(t)
        assert b"+QIOPEN: 0,0" in out + m.take_output()
        assert at(m, "AT+QISEND=0,62", t) == b"\r\n> "
        m.feed(bytes(62), t)
        m.poll(t)
        assert b'+QIURC: "recv",0' in m.take_output()  # the ACK
        assert at(m, "AT+QICLOSE=0;+QIDEACT=1", t + 1).endswith(b"OK\r\n")

    registered = -1.0
    for t in times:
        if (lost is None or lost <= t) and registered < back:  # not registered: the report waits
            m.poll(max(t, back))
            out = m.take_output()
            while b"+CEREG: 1" not in out:  # the module's own time to find the cell (event to event)
                due = m.next_deadline()
                assert due is not None
                m.poll(due)
                out += m.take_output()
            registered = m.now
            t = registered
        m.poll(t)
        m.take_output()
        report(t)
    return sink.records, registered, m.identity.line_id


def test_a_report_due_without_coverage_leaves_once_the_module_has_registered_again(tmp_path: Path) -> None:
    """The cell comes back: a module searches for it (the BG96's 3 s) before it is registered and its
    report can leave; the simulator's device, whose group says so, sends it then too (it sent it the
    second the cell was back, before any module could)."""
    search_s = load_profile("quectel-bg96").search_s
    lost, back, simulated = _simulated_outage(tmp_path, search_s)
    # the modem is switched on a minute before the period, so that it is registered at its start
    # as the simulator's device is
    epoch = datetime(2026, 3, 2, tzinfo=UTC) - timedelta(minutes=1)
    hourly = [60.0 + 3_600.0 * k for k in range(24)]  # the scenario's schedule: every hour on the hour
    served, registered, _line = _modem_reports(
        epoch, hourly, (lost - epoch).total_seconds(), (back - epoch).total_seconds()
    )
    assert registered == (back - epoch).total_seconds() + search_s
    columns = ("start", "duration_s", "bytes_up", "bytes_down", "zone", "serving_plmn", "cause", "sequence")
    assert [tuple(r[k] for k in columns) for r in simulated] == [
        tuple(getattr(r, k) for k in columns) for r in served
    ]
    assert any(r["start"] == back + timedelta(seconds=search_s) for r in simulated)  # the missed report


COLUMNS = ("start", "duration_s", "bytes_up", "bytes_down", "zone", "serving_plmn", "cause", "sequence")


def test_a_report_due_while_the_module_searches_after_an_outage_without_one_waits_for_it(
    tmp_path: Path,
) -> None:
    """The cell goes and comes back a second before a report is due, none due while it was gone:
    the module searches for it all the same (the BG96's 3 s), and the report leaves once it has
    registered; the simulator's device waits for it too (it reported on the hour, as if it had
    never lost the cell, and did not attach again)."""
    search_s = load_profile("quectel-bg96").search_s
    lost, back, simulated = _simulated_outage(
        tmp_path,
        search_s,
        datetime(2026, 3, 2, 10, 5, tzinfo=UTC),
        datetime(2026, 3, 2, 10, 59, 59, tzinfo=UTC),
    )
    epoch = datetime(2026, 3, 2, tzinfo=UTC) - timedelta(minutes=1)  # registered at the period's start
    hourly = [60.0 + 3_600.0 * k for k in range(24)]
    served, registered, _line = _modem_reports(
        epoch, hourly, (lost - epoch).total_seconds(), (back - epoch).total_seconds()
    )
    assert registered == (back - epoch).total_seconds() + search_s
    assert [tuple(r[k] for k in COLUMNS) for r in simulated] == [
        tuple(getattr(r, k) for k in COLUMNS) for r in served
    ]
    assert any(r["start"] == back + timedelta(seconds=search_s) for r in simulated)  # the 11:00 report


def test_a_line_activated_in_the_period_reports_once_its_module_has_found_the_network(tmp_path: Path) -> None:
    """A line activated on 3 March: its device is switched on then and its module searches for the
    network (the BG96's 3 s) before the report due at midnight can leave, as a served modem switched
    on then does; the simulator's device sent it at midnight, attached the second it was on."""
    search_s = load_profile("quectel-bg96").search_s
    simulated = _simulated_rows(tmp_path, "power-on", _sensors(search_s), None, since="2026-03-03", days=2)
    epoch = datetime(2026, 3, 3, tzinfo=UTC)  # the activation: the module is switched on
    served, registered, _line = _modem_reports(epoch, [3_600.0 * k for k in range(24)], None, 0.0)
    assert registered == search_s
    assert [tuple(r[k] for k in COLUMNS) for r in simulated] == [
        tuple(getattr(r, k) for k in COLUMNS) for r in served
    ]
    assert simulated[0]["start"] == epoch + timedelta(seconds=search_s)


async def test_a_ppp_connect_to_a_host_with_no_route_gets_the_icmp_the_module_stacks_bill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over PPP the device's own stack connects; the host has no route to the far end: the device
    gets ICMP "host unreachable" for its SYN (it got a reset, as from a host that refuses), and the
    gateway bills that message as it bills a module stack's connect answered so."""

    async def no_route(*args: object, **kwargs: object) -> object:
        raise OSError(errno.EHOSTUNREACH, "No route to host")

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", no_route)
    dev, client, (up, down) = await _ppp_connect()
    (answer,) = dev.received
    icmp = parse_ipv4(answer)
    assert icmp is not None and icmp.proto == ICMP and icmp.payload[:2] == bytes([3, 1])
    syn = dev.sent[-1]
    assert icmp.payload[8:] == syn  # the whole SYN quoted, as Linux quotes it
    assert not client.reset
    # the real packets: this device's SYN (its stack offers the MSS alone: 44 B) and the ICMP quoting
    # it, IPv4 20 + ICMP 8 + 44 = 72 B; a module stack's SYN, as the model has it, 52 B and 80 B
    assert len(syn) == HEADER + 4
    assert (up, down) == (len(syn), 20 + 8 + len(syn))
    assert unreachable() == (SYN, 20 + 8 + SYN)


def _ppp_dialled(internet: Internet = ALLOWED) -> PppDevice:
    """A device dialled over PPP (SIMCom), the Internet table `internet` (default: letting
    `UNREACHABLE_HOST` through)."""
    net = build_network(EPOCH, Sink(), 3)
    m = _served(net, "simcom-sim800", internet)
    m.take_output(0.0)
    m.feed(b'ATE0;+CGDCONT=1,"IP","orange.m2m.spec"\r', 0.0)
    m.poll(m.profile.search_s + 1.0)  # registered
    m.take_output()
    dev = PppDevice(m, user="33612345678", password="secret")
    assert dev.dial() == b"\r\nCONNECT\r\n"
    return dev


async def _ppp_connect() -> tuple[PppDevice, TcpClient, tuple[int, int]]:
    """A device dialled over PPP connects to `UNREACHABLE_HOST`:80 through the forwarder: the
    device, its client, and the (up, down) bytes the gateway billed for the attempt."""
    dev = _ppp_dialled()
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    client = TcpClient(dev, ipaddress.IPv4Address(UNREACHABLE_HOST).packed, 80)
    client.connect()
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))  # the forwarder's connect
    dev.pump()
    return dev, client, (ctx.bytes_up - up0, ctx.bytes_down - down0)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.EACCES, errno.EPERM])
async def test_a_connect_the_host_cannot_make_is_refused_and_billed_alike_on_the_module_stack_and_over_ppp(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host cannot make the connection (out of descriptors, or its policy forbids it: connect's
    EMFILE, ENFILE, EACCES, EPERM).  Over PPP the forwarder answers the device's SYN with a reset,
    as for a destination the policy refuses (Linux's answer to a SYN nothing accepts, measured on
    Linux 6.18: RST|ACK, 40 B); a module stack's connect fails at once and is billed the same: its
    SYN and the reset (it was billed the SYN alone, as if nothing had answered, 40 B less)."""

    async def cannot(*args: object, **kwargs: object) -> object:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", cannot)
    dev, client, (_, down) = await _ppp_connect()
    (answer,) = dev.received
    client.read()
    assert client.reset and len(answer) == HEADER == down
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    dte = Dte(m)
    await dte.at(f'AT+QIOPEN=1,0,"TCP","{UNREACHABLE_HOST}",80,0,0', b"+QIOPEN: 0,566\r\n")
    ctx = m.net.contexts[1]
    assert (ctx.bytes_up, ctx.bytes_down) == refused() == (SYN, down)
    await dte.close()


async def test_a_connect_the_host_timed_out_is_left_unanswered_and_billed_alike_on_the_module_stack_and_over_ppp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host's connect timed out (ETIMEDOUT: nothing answered its SYNs, a blackholed host).  The
    real network sends the device nothing then: its stack retransmits its SYN until it gives up
    (measured on Linux 6.18, a SYN to a DROP rule: 11 SYNs, the last at 69.7 s, connect ETIMEDOUT
    at 135 s; docs/ppp.md).  Over PPP the forwarder answered the device's SYN with a reset (40 B down,
    and the device's connect refused at once); it now sends nothing, as a module stack's connect
    that timed out is billed: its SYNs up, nothing down."""

    async def timed_out(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT))

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", timed_out)
    dev, client, (up, down) = await _ppp_connect()
    client.read()
    assert not dev.received and not client.reset
    assert dev.m.ppp is not None and not dev.m.ppp.forwarder.tcp  # nothing kept of the attempt
    assert (up, down) == (len(dev.sent[-1]), 0)
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    dte = Dte(m)
    await dte.at(f'AT+QIOPEN=1,0,"TCP","{UNREACHABLE_HOST}",80,0,0', b"+QIOPEN: 0,566\r\n")
    ctx = m.net.contexts[1]
    assert (ctx.bytes_up, ctx.bytes_down) == (SYN, 0) == (SYN, down)
    await dte.close()


@pytest.mark.parametrize(("code", "answer"), [(errno.ENETUNREACH, 1), (errno.EACCES, 13), (errno.EMFILE, 3)])
async def test_a_datagram_the_host_cannot_send_is_answered_alike_on_the_module_stack_and_over_ppp(
    code: int, answer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host cannot make the real UDP socket a datagram would go by (no route, forbidden, out of
    descriptors).  Over PPP the forwarder drops the datagram and answers it ICMP "host unreachable",
    "administratively prohibited" or "port unreachable"; a module's UDP open, which sends nothing,
    succeeds, and its datagram is billed and answered the same (the open failed before, +QIOPEN
    566: nothing was sent, nothing billed, where the device over PPP was billed 35 + 63 B)."""

    def cannot(*args: object, **kwargs: object) -> object:
        raise OSError(code, os.strerror(code))

    async def cannot_bind(*args: object, **kwargs: object) -> object:
        return cannot()

    monkeypatch.setattr(forwarder_module, "host_udp_socket", cannot)
    monkeypatch.setattr(asyncio.get_running_loop(), "create_datagram_endpoint", cannot_bind)
    dev = _ppp_dialled()
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    dev.send(build_udp(dev.address, ipaddress.IPv4Address(UNREACHABLE_HOST).packed, 5000, 5683, b"reading"))
    (error,) = dev.received
    icmp = parse_ipv4(error)
    assert icmp is not None and icmp.proto == ICMP and icmp.payload[:2] == bytes([3, answer])
    over_ppp = (ctx.bytes_up - up0, ctx.bytes_down - down0)
    m = _bg96(build_network(EPOCH, Sink(), 3), ALLOWED)
    dte = Dte(m)
    await dte.at(f'AT+QIOPEN=1,0,"UDP","{UNREACHABLE_HOST}",5683,0,0', b"+QIOPEN: 0,0\r\n")
    ctx = m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    await dte.at("AT+QISEND=0,7", b"> ")
    dte.write(b"reading")
    await dte.expect(b"SEND OK\r\n")
    assert (ctx.bytes_up - up0, ctx.bytes_down - down0) == over_ppp == (35, 63)
    await dte.close()


ECHO_HOST = "192.0.2.80"  # mapped to a UDP echo on loopback (`_echo_internet`)


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # (the selector's is not a subclass)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def _until(ready: Callable[[], bool], step: Callable[[], None] = lambda: None) -> None:
    """Turn the loop (its I/O polled at each turn, `step` after it) until `ready()`."""
    async with asyncio.timeout(10):
        while not ready():
            await asyncio.sleep(0)
            step()


def _out_of_descriptors_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The loop's next host UDP socket fails EMFILE (out of descriptors), the later ones are made:
    the forwarder's and the module stacks' alike (both make theirs by `create_datagram_endpoint`).
    The list counts the attempts; clear it to fail the next one again."""
    loop = asyncio.get_running_loop()
    real = loop.create_datagram_endpoint
    tries: list[int] = []

    async def first_fails(*args: Any, **kwargs: Any) -> Any:
        tries.append(1)
        if len(tries) == 1:
            sock = kwargs.get("sock")
            if sock is not None:
                sock.close()
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return await real(*args, **kwargs)

    monkeypatch.setattr(loop, "create_datagram_endpoint", first_fails)
    return tries


@pytest.mark.parametrize(
    ("profile", "start", "opened", "send", "sent", "got"),
    [
        (
            "quectel-bg96",
            'AT+QIOPEN=1,0,"UDP","{}",{},0,0',
            b"+QIOPEN: 0,0\r\n",
            "AT+QISEND=0,7",
            b"SEND OK\r\n",
            b'+QIURC: "recv",0',
        ),
        (
            "simcom-sim800",
            'AT+CIPSTART="UDP","{}",{}',
            b"CONNECT OK\r\n",
            "AT+CIPSEND=7",
            b"SEND OK\r\n",
            b"reading",
        ),
    ],
)
async def test_out_of_descriptors_a_datagram_is_answered_and_the_next_one_tries_again_on_both_bearers(
    profile: str,
    start: str,
    opened: bytes,
    send: str,
    sent: bytes,
    got: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host is out of descriptors (EMFILE) when the first datagram's host socket is made, and
    no longer for the second.  Over PPP the forwarder answers the first "port unreachable" and makes
    the socket again for the second, which reaches the echo and comes back; a module stack opened
    its socket all the same and answered the first datagram so, but kept answering every later one
    for the socket's life (the second billed 35 B up and 63 B down, never sent).  Now it makes the
    host socket again once the first has had its answer, without a word to the DTE (its socket was
    open all along), and both bearers bill the same: 2 x 35 B up, 63 + 35 B down."""
    server, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _UdpEcho, local_addr=("127.0.0.1", 0)
    )
    port = server.get_extra_info("sockname")[1]
    internet = Internet(hosts={ECHO_HOST: Target(host="127.0.0.1")}, allow=())
    tries = _out_of_descriptors_once(monkeypatch)
    try:
        dev = _ppp_dialled(internet)
        ctx = dev.m.net.contexts[1]
        up0, down0 = ctx.bytes_up, ctx.bytes_down
        far = ipaddress.IPv4Address(ECHO_HOST).packed
        for k in (1, 2):
            dev.send(build_udp(dev.address, far, 5000, port, b"reading"))
            await _until(lambda: len(dev.received) == k, dev.pump)  # noqa: B023 (awaited here)
        first, second = (parse_ipv4(p) for p in dev.received)
        assert first is not None and first.proto == ICMP and first.payload[:2] == bytes([3, 3])
        assert second is not None and second.proto != ICMP and second.payload[8:] == b"reading"
        over_ppp = (ctx.bytes_up - up0, ctx.bytes_down - down0)
        assert len(tries) == 2
        assert dev.m.ppp is not None
        dev.m.ppp.close_io()  # the forwarder's host socket closed, as serving ends

        tries.clear()
        m = _served(build_network(EPOCH, Sink(), 3), profile, internet)
        m.take_output(0.0)
        if profile.startswith("quectel"):
            assert at(m, 'ATE0;+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1', 10.0).endswith(b"OK\r\n")
        else:
            assert at(m, 'ATE0;+CSTT="orange.m2m.spec";+CIICR', 10.0).endswith(b"OK\r\n")
            at(m, "AT+CIFSR", 10.0)
        dte = Dte(m)
        await dte.at(start.format(ECHO_HOST, port), opened)
        ctx = m.net.contexts[1]
        up0, down0 = ctx.bytes_up, ctx.bytes_down
        io = m.tcp.io
        assert isinstance(io, LoopSockets)
        for _ in range(2):
            await dte.at(send, b"> ")
            dte.write(b"reading")
            await dte.expect(sent)
            await asyncio.gather(*io._tasks)  # a host socket being made again
        await dte.expect(got)
        assert opened not in dte.buf and len(tries) == 2  # the DTE heard of its open once
        assert (ctx.bytes_up - up0, ctx.bytes_down - down0) == over_ppp == (2 * 35, 63 + 35)
        await dte.close()
    finally:
        server.close()


def _closed_port() -> int:
    """A loopback port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _over_ppp(scenario: str, port: int, internet: Internet) -> tuple[int, int, int]:
    """A device over PPP plays `scenario` to `ECHO_HOST`:`port`: (up, down) billed, and the size of
    the SYN its own stack sent (0: none)."""
    dev = _ppp_dialled(internet)
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    far = ipaddress.IPv4Address(ECHO_HOST).packed
    syn = 0
    try:
        if scenario == "udp-answer":
            dev.send(build_udp(dev.address, far, 5000, port, b"reading"))
            await _until(lambda: len(dev.received) == 1, dev.pump)
        else:  # "tcp-refused"
            client = TcpClient(dev, far, port)
            client.connect()
            syn = len(dev.sent[-1])
            await _until(lambda: len(dev.received) == 1, dev.pump)
            client.read()
            assert client.reset
        return ctx.bytes_up - up0, ctx.bytes_down - down0, syn
    finally:
        assert dev.m.ppp is not None
        dev.m.ppp.close_io()


async def _over_module(profile: str, scenario: str, port: int, internet: Internet) -> tuple[int, int, int]:
    """A module stack (`profile`) plays `scenario` to `ECHO_HOST`:`port`: (up, down) billed, and the
    size of the SYN the model bills for it (0: none)."""
    m = _served(build_network(EPOCH, Sink(), 3), profile, internet)
    m.take_output(0.0)
    quectel = profile.startswith("quectel")
    if quectel:
        assert at(m, 'ATE0;+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1', 10.0).endswith(b"OK\r\n")
    else:
        assert at(m, 'ATE0;+CSTT="orange.m2m.spec";+CIICR', 10.0).endswith(b"OK\r\n")
        at(m, "AT+CIFSR", 10.0)
    dte = Dte(m)
    ctx = m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    proto = "UDP" if scenario == "udp-answer" else "TCP"
    if quectel:
        opened, failed = b"+QIOPEN: 0,0\r\n", b"+QIOPEN: 0,566\r\n"
        start = f'AT+QIOPEN=1,0,"{proto}","{ECHO_HOST}",{port},0,0'
    else:
        opened, failed = b"CONNECT OK\r\n", b"CONNECT FAIL\r\n"
        start = f'AT+CIPSTART="{proto}","{ECHO_HOST}",{port}'
    try:
        if scenario == "udp-answer":
            await dte.at(start, opened)
            await dte.at("AT+QISEND=0,7" if quectel else "AT+CIPSEND=7", b"> ")
            dte.write(b"reading")
            await dte.expect(b'+QIURC: "recv",0' if quectel else b"reading")
            return ctx.bytes_up - up0, ctx.bytes_down - down0, 0
        await dte.at(start, failed)
        return ctx.bytes_up - up0, ctx.bytes_down - down0, SYN
    finally:
        await dte.close()


@pytest.mark.parametrize("profile", ["quectel-bg96", "simcom-sim800"])
@pytest.mark.parametrize("scenario", ["udp-answer", "tcp-refused"])
async def test_the_same_traffic_is_billed_alike_over_ppp_and_on_each_module_stack(
    scenario: str, profile: str
) -> None:
    """The same exchange with a real loopback endpoint, made by a device's own stack over PPP (the
    forwarder) and by a module's stack (its AT sockets), bills the same bytes: a datagram answered
    by an echo (35 B each way); a connect to a port nothing listens on (the SYN, the endpoint's
    40 B reset).  The one real difference is the SYN's own size: each stack sends its own options
    (this device's stack the MSS alone, 44 B; the module stacks' model `gateway.wire.SYN`, 52 B)."""
    server, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _UdpEcho, local_addr=("127.0.0.1", 0)
    )
    try:
        port = server.get_extra_info("sockname")[1] if scenario == "udp-answer" else _closed_port()
        internet = Internet(hosts={ECHO_HOST: Target(host="127.0.0.1")}, allow=())
        up, down, syn = await _over_ppp(scenario, port, internet)
        m_up, m_down, m_syn = await _over_module(profile, scenario, port, internet)
        assert (up - syn, down) == (m_up - m_syn, m_down)
    finally:
        server.close()


# ----- scans of a public APN: the same keys, the same draws --------------------------------------

SCANNED = """\
seed: 11
network:
  apns:
    orange.m2m: {scan_per_hour: 3600, scan_bytes: 52, scan_reply_bytes: 40}
"""


def test_a_public_apns_scans_are_billed_alike_by_a_serve_and_a_simulator_scenario(tmp_path: Path) -> None:
    """Scans on (a probe a second on average): a serve scenario takes the simulator scenario's
    `network.apns` keys (it refused them), and its network draws each context's probes from the
    line's own stream, as the simulator's device does, so that the same seed bills the same probes
    report by report (they came from other generators, drawn per event: equal only without scans)."""
    path = tmp_path / "serve.yaml"
    path.write_text(SCANNED)
    scenario = load_scenario(path)
    epoch = datetime(2026, 3, 2, tzinfo=UTC) - timedelta(minutes=1)  # registered at the period's start
    hourly = [60.0 + 3_600.0 * k for k in range(24)]
    served, _registered, line = _modem_reports(epoch, hourly, None, 0.0, PUBLIC_APN, scenario)
    keys = yaml.safe_load(SCANNED)
    group = _sensors(2.0) | {"apn": PUBLIC_APN}
    simulated = _simulated_rows(
        tmp_path, "scans", group, None, line_id=line, network=keys["network"], seed=keys["seed"]
    )
    assert [tuple(r[k] for k in COLUMNS) for r in simulated] == [
        tuple(getattr(r, k) for k in COLUMNS) for r in served
    ]
    probes = sum(r.bytes_down - COAP_ACK - UDP_HEADER for r in served) // SYN
    assert probes > 0
    assert sum(r.bytes_up for r in served) == 24 * (62 + UDP_HEADER) + probes * 40


def _scanned_reports(
    tmp_path: Path,
    name: str,
    end: datetime,
    cut: datetime,
    outage: dict[str, Any] | None = None,
    lost: bool = False,
    **more: Any,
) -> list[tuple[Any, ...]]:
    """The records of a simulated HTTPS TLS 1.3 reporter (930 / 1,660 B in 3 s, every hour from
    00:00 on 2 March 2026 until `end`, on a scanned public APN) through `outage` (and the group's
    `more` keys), against those of the served gateway (`m2msim modem serve` with the same keys and
    seed) given a context for each report, with the bytes the device sent in it, released 3 s later:
    the last one ends at `cut` (an outage's start, a SIM swap: with its bytes, as the simulator bills
    it) or, `cut` being the period's end, is open then, having sent the share of its time before it;
    `lost`: the cell goes at `cut`, and the context is lost there (closed abnormally) with the share
    of its bytes sent by then.  The two alike; the records, in time order."""
    path = tmp_path / "serve.yaml"
    path.write_text(SCANNED)
    scenario = load_scenario(path)
    keys = yaml.safe_load(SCANNED)
    group = {
        "name": "reporters",
        "apn": PUBLIC_APN,
        "schedule": {"period": "1h", "align": "clock"},
        "application": {"profile": "https-tls13", "payload": {"fixed": 53}},
    } | more
    simulated = _simulated_rows(
        tmp_path,
        name,
        group,
        outage,
        line_id="R1",
        network=keys["network"],
        seed=keys["seed"],
        end=end.isoformat(),
    )
    epoch = datetime(2026, 3, 2, tzinfo=UTC)
    sink = Sink()
    net = build_network(epoch, sink, scenario.seed, scans=scenario.scans)
    net.register_subscriber(Subscriber("R1", simulated[0]["imsi"], "33600000001", "business-m2m"))
    assert net.attach(0.0, "R1", simulated[0]["imeisv"], "20801").accepted
    stop, closed = (cut - epoch).total_seconds(), cut < end
    for k in range(int(stop // 3_600) + 1):
        t = 3_600.0 * k
        opened = net.open_session(t, "R1", PUBLIC_APN)
        assert opened.session_id is not None
        if t + 3 <= stop:
            net.transfer(t + 3, opened.session_id, 930, 1660)
            net.close_session(t + 3, opened.session_id)
        elif closed and not lost:  # ended with all its bytes counted (a report an outage cuts)
            net.transfer(stop, opened.session_id, 930, 1660)
            net.close_session(stop, opened.session_id)
        else:  # open at the period's end or lost with the cell, having sent a share of its bytes by then
            share = int(stop - t)
            net.transfer(stop, opened.session_id, 930 * share // 3, 1660 * share // 3)
            if lost:
                net.close_session(stop, opened.session_id, abnormal=True)
    net.flush((end - epoch).total_seconds())
    assert [tuple(r[k] for k in COLUMNS) for r in simulated] == [
        tuple(getattr(r, k) for k in COLUMNS) for r in sink.records
    ]
    return [tuple(r[k] for k in COLUMNS) for r in simulated]


def test_a_report_cut_at_the_periods_end_is_scanned_over_its_time_before_the_end(tmp_path: Path) -> None:
    """A report (HTTPS TLS 1.3: 930 / 1,660 B in 3 s) going on at the period's end, a second after
    its start, is cut there (docs/scenarios.md): the served gateway draws the probes of its context
    over the time it had before the end, as of any context, and adds them whole.  The simulator drew
    them over the report's 3 s and shared them by time with its bytes: other probes than the
    gateway's, and a third of their bytes."""
    end = datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)
    rows = _scanned_reports(tmp_path, "scan-cut", end, end)
    assert len(rows) == 13  # 00:00 to 12:00
    assert (rows[-1][COLUMNS.index("duration_s")], rows[-1][COLUMNS.index("cause")]) == (1, 20)


@pytest.mark.parametrize("cut", ["server outage", "SIM swap"])
def test_a_report_cut_at_an_outage_or_a_swap_is_scanned_over_its_time_before_the_cut(
    tmp_path: Path, cut: str
) -> None:
    """A report (HTTPS TLS 1.3: 930 / 1,660 B in 3 s) going on when a server outage starts or the
    SIM is swapped, a second after its start, ends there (docs/scenarios.md, "Outages"): the served
    gateway draws the probes of its context over its life, 1 s, as at the period's end.  The
    simulator drew them over the report's 3 s: other probes than the gateway's."""
    at = datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)
    end = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    if cut == "SIM swap":
        rows = _scanned_reports(
            tmp_path, "scan-cut-swap", end, at, sim_swaps=[{"at": at.isoformat(), "share": 1.0}]
        )
    else:  # over before the next report is due: no reconnection attempt
        outage = {"kind": "server", "start": at.isoformat(), "duration": "10min"}
        rows = _scanned_reports(tmp_path, "scan-cut-outage", end, at, outage)
    assert len(rows) == 13  # 00:00 to 12:00
    assert (rows[-1][COLUMNS.index("duration_s")], rows[-1][COLUMNS.index("cause")]) == (1, 0)


def test_a_report_the_cell_loses_is_billed_alike_by_a_serve_and_a_simulator_scenario(tmp_path: Path) -> None:
    """A report (HTTPS TLS 1.3: 930 / 1,660 B in 3 s) going on when an area outage starts, a second
    after its start, is lost there (docs/scenarios.md, "Outages"): the served gateway, the modem's
    context lost with its coverage, closes it abnormally (cause 4) with the bytes sent by then, a
    third of them, and its probes drawn over its life, 1 s.  The simulator ended it there with cause
    0 and all its bytes."""
    at = datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)
    end = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    outage = {"kind": "area", "start": at.isoformat(), "duration": "1h"}  # the cell back after the period
    rows = _scanned_reports(tmp_path, "scan-cut-cell", end, at, outage, lost=True)
    assert len(rows) == 13  # 00:00 to 12:00
    assert (rows[-1][COLUMNS.index("duration_s")], rows[-1][COLUMNS.index("cause")]) == (1, 4)


def test_a_serve_scenario_refuses_a_scan_rate_on_a_private_apn(tmp_path: Path) -> None:
    """The simulator scenario's rule: a private APN is not reachable from the Internet."""
    path = tmp_path / "serve.yaml"
    path.write_text("network:\n  apns:\n    orange.m2m.spec: {scan_per_hour: 5}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert str(exc.value).startswith(f"{path}:3: network.apns.orange.m2m.spec.scan_per_hour: ")
