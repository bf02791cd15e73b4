"""The same device behaviour billed alike by the simulator and by the virtual modem.

A virtual modem (Quectel BG96, its own UDP stack) does something on its network; what it handed the
gateway is played again on a second gateway the way the simulator's device code plays it, with the
simulator's own models for what the device does not send itself (scans of a public address).  Both
gateways must write the same records, column by column (`test_moves_billed_alike` does the same for
moves between networks).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from accounting.records import UsageRecord
from gateway.api import NetworkAPI, Subscriber, build_network
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.conditions import FULL
from modem.virtual.core import VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from simulator.scenario import ApnSpec
from simulator.traffic import scan_bytes
from tests.modem.test_moves_billed_alike import EPOCH, Logged, Sink, _billed, at

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
