"""The same device behaviour billed alike by the simulator and by the virtual modem.

A virtual modem (Quectel BG96, its own UDP stack) does something on its network; what it handed the
gateway is played again on a second gateway the way the simulator's device code plays it, with the
simulator's own models for what the device does not send itself (scans of a public address).  Both
gateways must write the same records, column by column (`test_moves_billed_alike` does the same for
moves between networks).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow.parquet as pq

from accounting.records import USAGE_SCHEMA, UsageRecord, UsageType, is_retry_charging
from gateway.api import NetworkAPI, Subscriber, build_network
from gateway.internet import Internet
from gateway.network import Network, NetworkConfig
from gateway.wire import ICMP_UNREACHABLE, SYN, UDP_HEADER
from modem.profiles import load_profile
from modem.virtual.conditions import FULL
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.ip import ICMP, build_udp, parse_ipv4
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.sockets import Listener, Socket
from simulator.run import simulate
from simulator.scenario import ApnSpec, parse_scenario
from simulator.traffic import scan_bytes
from tests.modem.test_moves_billed_alike import EPOCH, Logged, Sink, _billed, at
from tests.modem.test_ppp import online

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
        else:
            duration = np.array([int(now) - int(opened)], dtype=np.int64)
            up, down = scan_bytes(np.random.default_rng(seed), spec, duration)
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


def _bg96(net: NetworkAPI, internet: Internet | None = None) -> VirtualModem:
    m = VirtualModem(
        load_profile("quectel-bg96"), network=net, seed=4, epoch=EPOCH, conditions=FULL, internet=internet
    )
    provision(net, m, ServeScenario())
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
    assert icmp.payload[8:] == dev.sent[-1][:28]  # the datagram's IP header and UDP header, quoted

    assert (stack.bytes_up, stack.bytes_down) == (ctx.bytes_up - up0, ctx.bytes_down - down0)
    assert (stack.bytes_up, stack.bytes_down) == (7 + UDP_HEADER, ICMP_UNREACHABLE)


def _simulated_unreachable_attempt(tmp_path: Path) -> dict[str, Any]:
    """The first failed attempt of an HTTP reporter in a server outage whose host the network
    answers "unreachable" (the scenario's `answer: unreachable`)."""
    doc = {
        "name": "unreachable",
        "seed": 5,
        "period": {"start": "2026-03-02", "days": 1},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "U",
                    "count": 1,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                }
                | {"since": "2025-01-01"}
            ],
        },
        "network": {"default_apn": "orange.m2m.spec"},
        "groups": [
            {
                "name": "reporters",
                "lines": "U",
                "schedule": {"period": "1h"},
                "application": {"profile": "http", "payload": {"fixed": 53}},
                "reconnect": {"policy": "fixed", "delay": "10min", "jitter": 0},
            }
        ],
        "events": {
            "outages": [
                {"kind": "server", "start": "2026-03-02T10:00:00Z", "duration": "2h", "answer": "unreachable"}
            ]
        },
    }
    result = simulate(parse_scenario(doc, "unreachable.yaml"), tmp_path / "run", invoice=False)
    table = pq.read_table(result.out_dir / "usage.parquet").cast(USAGE_SCHEMA)
    retries = [r for r in table.to_pylist() if r["type"] == "data" and is_retry_charging(r["charging_id"])]
    assert retries
    return min(retries, key=lambda r: r["start"])


def test_a_connect_the_network_answers_unreachable_is_billed_as_the_simulator_bills_one(
    tmp_path: Path,
) -> None:
    """A BG96 connects to a host the network has no route to: the SYN and the ICMP answer are billed
    (the SYN alone was), as the simulator bills an attempt of a server outage answered so."""
    sink = Sink()
    m = _bg96(build_network(EPOCH, sink, 3), Internet(allow=(ipaddress.ip_network("192.0.2.0/24"),)))
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
    # every billed column but the time and the cause: the simulator closes a failed attempt's
    # context with cause 4, where this firmware releases its own (0)
    assert (served.duration_s, served.bytes_up, served.bytes_down, served.zone, served.serving_plmn) == (
        simulated["duration_s"],
        simulated["bytes_up"],
        simulated["bytes_down"],
        simulated["zone"],
        simulated["serving_plmn"],
    )
    assert (served.bytes_up, served.bytes_down) == (SYN, ICMP_UNREACHABLE)
