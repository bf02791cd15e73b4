"""`BulkNetworkAPI`: what the simulator's bulk path asks of the network, through the contract alone.

A session played whole is written to the capture with the identities the network gives an opened
one (`bulk_context`), the APN policy is the network's (`allowed_apns`), the bad input it refused is
counted by kind (`incident_counts`), and `build_network` sets the operator's home network.
"""

from __future__ import annotations

import ipaddress

import pytest
from netparts import EPOCH, IMEISV, RecordSink

from gateway.api import BulkNetworkAPI, ContextInfo, Subscriber, build_network
from gateway.errors import InvalidRequest, UnknownLine


class Contexts:
    """The contexts a CaptureSink is told of at their creation."""

    def __init__(self) -> None:
        self.created: list[ContextInfo] = []

    def pdp_create(self, now: float, ctx: ContextInfo, cause: int) -> None:
        self.created.append(ctx)

    def pdp_delete(self, now: float, ctx: ContextInfo) -> None: ...

    def pdp_update(self, now: float, ctx: ContextInfo) -> None: ...

    def acct_start(self, now: float, ctx: ContextInfo) -> None: ...

    def acct_interim(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int
    ) -> None: ...

    def acct_stop(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int, cause: int
    ) -> None: ...

    def user_packets(self, now: float, ctx: ContextInfo, bytes_up: int, bytes_down: int) -> None: ...

    def user_packet(self, now: float, ctx: ContextInfo, packet: bytes, uplink: bool) -> None: ...

    def scan_probes(
        self, start: float, end: float, ctx: ContextInfo, probes: int, packet_bytes: int, reply_bytes: int
    ) -> None: ...


def _network(capture: Contexts | None = None, home_plmn: str = "20801") -> BulkNetworkAPI:
    net = build_network(EPOCH, RecordSink(), 3, capture=capture, home_plmn=home_plmn)
    net.register_subscriber(
        Subscriber("L1", "208011234567890", "33612345678", "business-m2m", static_address=7)
    )
    return net


@pytest.mark.parametrize("plmn", ["20801", "26201"])
@pytest.mark.parametrize("apn", ["orange.m2m.spec", "internet-entreprise"])
def test_a_session_played_whole_has_the_identities_of_one_opened_by_call(plmn: str, apn: str) -> None:
    capture = Contexts()
    net = _network(capture)
    assert net.attach(0, "L1", IMEISV, plmn, "utran").accepted
    opened = net.open_session(1, "L1", apn, charging_id=41)
    assert opened.accepted and opened.session_id == "L1-41"
    assert net.bulk_context("L1", 41, apn, plmn, IMEISV) == capture.created[0]


def test_the_sgsn_is_the_home_one_on_the_home_network_given_to_build_network() -> None:
    home = _network(home_plmn="26201").bulk_context("L1", 1, "orange.m2m.spec", "26201", IMEISV)
    visited = _network(home_plmn="26201").bulk_context("L1", 1, "orange.m2m.spec", "20801", IMEISV)
    default = _network().bulk_context("L1", 1, "orange.m2m.spec", "20801", IMEISV)
    assert home.sgsn_address == default.sgsn_address != visited.sgsn_address


def test_an_apn_the_table_lacks_is_addressed_in_10_0_0_0_8_without_authentication() -> None:
    ctx = _network().bulk_context("L1", 2**32 + 5, "no.such.apn", "20801", IMEISV)
    assert ipaddress.ip_address(ctx.ip_address) in ipaddress.ip_network("10.0.0.0/8")
    assert (ctx.authentication, ctx.password, ctx.apn) == ("", "", "no.such.apn")
    assert (ctx.session_id, ctx.charging_id) == (f"L1-{2**32 + 5}", 5)  # the GTP field is 32 bits


def test_a_line_not_registered_has_no_context() -> None:
    with pytest.raises(UnknownLine):
        _network().bulk_context("L2", 1, "orange.m2m.spec", "20801", IMEISV)


def test_the_apns_an_offer_allows_are_the_networks_policy() -> None:
    net = _network()
    m2m_only = net.allowed_apns("intense")
    assert "orange.m2m.spec" in m2m_only and "internet-entreprise" not in m2m_only
    assert m2m_only < net.allowed_apns("business-m2m")
    assert net.attach(0, "L1", IMEISV, "20801").accepted
    for apn in net.allowed_apns("business-m2m"):
        assert net.open_session(1, "L1", apn).accepted


def test_incidents_are_counted_by_kind() -> None:
    net = _network()
    assert net.incident_counts() == {}
    assert not net.open_session(0, "L9", "orange.m2m.spec").accepted  # an unknown line
    assert not net.open_session(0, "L8", "orange.m2m.spec").accepted
    assert net.incident_counts() == {"unknown-line": 2}


def test_a_charging_id_in_use_is_refused_and_a_session_once_released_is_not_open() -> None:
    net = _network()
    assert net.attach(0, "L1", IMEISV, "20801").accepted
    sid = net.open_session(1, "L1", "orange.m2m.spec", charging_id=9).session_id
    assert sid is not None and net.session_open(sid)
    with pytest.raises(InvalidRequest):
        net.open_session(2, "L1", "orange.m2m.spec", charging_id=9)
    net.detach(3, "L1", by_network=True)
    assert not net.session_open(sid)
