"""The APN gateway: sessions, refusals, partial records, counting, scans, capture calls, bad input."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netparts import EPOCH, IMEISV, RecordSink

from accounting.records import ClosingCause, UsageRecord, Zone
from gateway.api import CallOutcome, GtpCause, NetworkAPI, PcoAuth, Subscriber
from gateway.errors import (
    ConfigError,
    InvalidIdentity,
    InvalidVolume,
    OutOfOrder,
    UnknownLine,
    UnknownSession,
)
from gateway.events import ContextInfo
from gateway.network import GTP_U_OVERHEAD, CountingMode, Network, NetworkConfig, network_config
from gateway.partial import INTERVAL_S, cut_sessions
from gateway.wire import HEADER, SYN


class Capture:
    """Records the calls a CaptureSink receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def pdp_create(self, now: float, ctx: ContextInfo, cause: int) -> None:
        self.calls.append(("pdp_create", now, ctx.session_id, cause))

    def pdp_delete(self, now: float, ctx: ContextInfo) -> None:
        self.calls.append(("pdp_delete", now, ctx.session_id))

    def acct_start(self, now: float, ctx: ContextInfo) -> None:
        self.calls.append(
            (
                "acct_start",
                now,
                ctx.session_id,
                ctx.sgsn_address,
                ctx.imsi,
                ctx.imeisv,
                ctx.apn,
                ctx.ip_address,
            )
        )

    def acct_interim(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int
    ) -> None:
        self.calls.append(("acct_interim", now, ctx.session_id, octets_up, octets_down, session_time_s))

    def acct_stop(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int, cause: int
    ) -> None:
        self.calls.append(("acct_stop", now, ctx.session_id, octets_up, octets_down, session_time_s, cause))

    def user_packets(self, now: float, ctx: ContextInfo, bytes_up: int, bytes_down: int) -> None:
        self.calls.append(("user_packets", now, ctx.session_id, bytes_up, bytes_down))

    def user_packet(self, now: float, ctx: ContextInfo, packet: bytes, uplink: bool) -> None:
        self.calls.append(("user_packet", now, ctx.session_id, packet, uplink))

    def scan_probes(
        self, start: float, end: float, ctx: ContextInfo, probes: int, packet_bytes: int, reply_bytes: int
    ) -> None:
        self.calls.append(("scan_probes", start, ctx.session_id, end, probes, packet_bytes, reply_bytes))


def make(
    offer: str = "business-m2m", capture: Capture | None = None, **config: object
) -> tuple[Network, RecordSink]:
    sink = RecordSink()
    config.setdefault("scan_rate_per_hour", 0.0)
    net = Network(NetworkConfig(epoch=EPOCH, **config), sink, capture=capture)  # type: ignore[arg-type]
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", offer))
    assert net.attach(0, "L1", IMEISV, "20801").accepted
    return net, sink


def test_network_implements_the_api() -> None:
    net, _ = make()
    api: NetworkAPI = net
    assert api is net


def test_one_short_session_gives_one_record_with_its_3gpp_fields() -> None:
    net, sink = make()
    s = net.open_session(10, "L1", "orange.m2m.spec")
    assert s.accepted and s.session_id and s.ip_address and s.ip_address.startswith("10.")
    net.transfer(70, s.session_id, 1_200, 3_400)
    net.close_session(100, s.session_id)
    (rec,) = sink.records
    assert rec.start == EPOCH + timedelta(seconds=10)
    assert (rec.duration_s, rec.bytes_up, rec.bytes_down) == (90, 1_200, 3_400)
    assert (rec.cause, rec.sequence, rec.session) == (0, 1, s.session_id)
    assert (rec.imsi, rec.imeisv, rec.apn, rec.serving_plmn) == (
        "208011234567890",
        IMEISV,
        "orange.m2m.spec",
        "20801",
    )
    assert rec.charging_id == s.charging_id and rec.zone == Zone.FR and rec.line == "L1"


def test_records_are_cut_every_12_hours_lazily() -> None:
    net, sink = make()
    s = net.open_session(100, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(100 + INTERVAL_S, s.session_id, 10, 10)  # exactly on the boundary: no record yet
    assert sink.records == []
    net.transfer(100 + INTERVAL_S + 50, s.session_id, 5, 0)  # past it: the first period is written
    assert [(r.duration_s, r.bytes_up, r.cause, r.sequence) for r in sink.records] == [
        (INTERVAL_S, 10, 17, 1)
    ]
    net.flush(100 + 3 * INTERVAL_S + 1, close=False)  # a checkpoint writes the periods passed
    assert [r.sequence for r in sink.records] == [1, 2, 3]
    assert sink.records[1].bytes_up == 5 and sink.records[2].bytes_up == 0
    net.close_session(100 + 3 * INTERVAL_S + 7, s.session_id, abnormal=True)
    last = sink.records[-1]
    assert (last.duration_s, last.cause, last.sequence) == (7, 4, 4)
    assert [r.start for r in sink.records] == [
        EPOCH + timedelta(seconds=100 + k * INTERVAL_S) for k in range(4)
    ]


def test_current_records_are_what_the_next_record_will_hold_and_change_nothing() -> None:
    """The interim state `modem serve` journals (accounting.interim): each open session's bytes since
    its last record, to `now` (to the 12-hour cut when `now` is past it with no event since), under
    the sequence number its next record gets; the records written after are as without it."""
    net, sink = make()
    twin, twin_sink = make()
    sid = net.open_session(100, "L1", "orange.m2m.spec").session_id
    assert sid and twin.open_session(100, "L1", "orange.m2m.spec").session_id == sid
    for n in (net, twin):
        n.transfer(160, sid, 1_000, 2_000)
    (now,) = net.current_records(190)
    assert (now.session, now.sequence, now.cause, now.start) == (sid, 1, None, EPOCH + timedelta(seconds=100))
    assert (now.duration_s, now.bytes_up, now.bytes_down) == (90, 1_000, 2_000) and sink.records == []
    (later,) = net.current_records(100 + INTERVAL_S + 500)  # past the cut, nothing carried since
    assert (later.duration_s, later.bytes_up, later.sequence) == (INTERVAL_S, 1_000, 1)
    for n in (net, twin):
        n.transfer(100 + INTERVAL_S + 600, sid, 10, 0)
    (after,) = net.current_records(100 + INTERVAL_S + 700)  # the cut written: the second period's
    (cut,) = sink.records
    assert (after.sequence, after.duration_s, after.bytes_up + cut.bytes_up) == (2, 700, 1_010)
    for n in (net, twin):
        n.flush(100 + INTERVAL_S + 800)
    assert sink.records == twin_sink.records and net.current_records(100 + INTERVAL_S + 900) == []


def test_a_session_of_exactly_12_hours_gives_one_normal_record() -> None:
    net, sink = make()
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(INTERVAL_S, s.session_id, 1, 1)
    net.close_session(INTERVAL_S, s.session_id)
    assert [(r.duration_s, r.cause) for r in sink.records] == [(INTERVAL_S, 0)]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 10**6),
    duration=st.integers(0, 6 * INTERVAL_S),
    up=st.integers(0, 10**10),
    down=st.integers(0, 10**10),
)
def test_one_transfer_at_the_end_is_cut_like_cut_sessions(
    start: int, duration: int, up: int, down: int
) -> None:
    net, sink = make(max_bytes_per_s=10**12)
    s = net.open_session(start, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(start + duration, s.session_id, up, down)
    net.close_session(start + duration, s.session_id)
    cut = cut_sessions([start], [duration], [up], [down])
    got = [
        (int((r.start - EPOCH).total_seconds()), r.duration_s, r.bytes_up, r.bytes_down, r.sequence, r.cause)
        for r in sink.records
    ]
    want = list(
        zip(
            cut.start_s.tolist(),
            cut.duration_s.tolist(),
            cut.bytes_up.tolist(),
            cut.bytes_down.tolist(),
            cut.sequence.tolist(),
            cut.cause.tolist(),
            strict=True,
        )
    )
    assert got == want


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50_000), st.integers(0, 10**6), st.integers(0, 10**6), st.booleans()),
        max_size=20,
    )
)
def test_many_transfers_keep_totals_and_the_12_hour_grid(chunks: list[tuple[int, int, int, bool]]) -> None:
    net, sink = make()
    s = net.open_session(5, "L1", "orange.m2m.spec")
    assert s.session_id
    t = 5
    for dt, up, down, checkpoint in chunks:
        t += dt
        net.transfer(t, s.session_id, up, down)
        if checkpoint:
            net.flush(t + dt // 2, close=False)
            t += dt // 2
    net.close_session(t, s.session_id)
    recs = sink.data()
    assert sum(r.bytes_up for r in recs) == sum(c[1] for c in chunks)
    assert sum(r.bytes_down for r in recs) == sum(c[2] for c in chunks)
    assert sum(r.duration_s for r in recs) == t - 5
    assert [r.sequence for r in recs] == list(range(1, len(recs) + 1))
    assert all(r.duration_s == INTERVAL_S and r.cause == 17 for r in recs[:-1])
    assert recs[-1].cause == 0


def test_refusals_carry_the_ggsn_cause(tmp_path: Path) -> None:
    apns = tmp_path / "apns.yaml"
    apns.write_text(
        """
apns:
  m2m.tiny: {m2m: true, addressing: private, pool: 10.0.0.0/30}
  web: {m2m: false, addressing: public, pool: 198.18.0.0/24}
offers:
  intense: {apns: m2m, calls: [csd]}
  business-m2m: {apns: any, calls: [csd]}
""",
        encoding="utf-8",
    )
    capture = Capture()
    net, _ = make("intense", capture=capture, apn_file=apns)
    assert net.open_session(1, "L1", "no.such.apn").cause == GtpCause.MISSING_OR_UNKNOWN_APN
    assert (
        net.open_session(1, "L1", "web").cause == GtpCause.USER_AUTHENTICATION_FAILED
    )  # Intense: M2M APNs only
    first = net.open_session(2, "L1", "M2M.Tiny")  # APN names are case-insensitive
    second = net.open_session(2, "L1", "m2m.tiny")
    assert first.accepted and second.accepted
    assert {first.ip_address, second.ip_address} == {"10.0.0.1", "10.0.0.2"}
    assert net.open_session(3, "L1", "m2m.tiny").cause == GtpCause.ALL_DYNAMIC_ADDRESSES_OCCUPIED
    assert first.session_id
    net.close_session(4, first.session_id)
    assert net.open_session(5, "L1", "m2m.tiny").ip_address == "10.0.0.1"  # freed addresses are reused
    refused = [c for c in capture.calls if c[0] == "pdp_create" and c[3] != 128]
    assert [c[3] for c in refused] == [219, 209, 211]
    assert net.counters["session-refused:219"] == 1


def test_line_policy_not_attached_and_nsapi_limit() -> None:
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0), sink)
    net.register_subscriber(
        Subscriber("L2", "208011234567891", "33612345679", "business-m2m", apns=("orange-mib",))
    )
    assert (
        net.open_session(0, "L2", "orange-mib").cause == GtpCause.USER_AUTHENTICATION_FAILED
    )  # not attached
    assert net.open_session(0, "nobody", "orange-mib").cause == GtpCause.USER_AUTHENTICATION_FAILED
    net.attach(1, "L2", IMEISV, "20801")
    assert (
        net.open_session(2, "L2", "orange.m2m").cause == GtpCause.USER_AUTHENTICATION_FAILED
    )  # not subscribed
    opened = [net.open_session(3, "L2", "orange-mib") for _ in range(11)]
    assert all(r.accepted for r in opened)
    assert (
        net.open_session(3, "L2", "orange-mib").cause == GtpCause.NO_RESOURCES_AVAILABLE
    )  # NSAPI 5..15 used


def test_a_context_asked_without_an_apn_gets_the_subscriptions_default() -> None:
    """AT+CGDCONT=1,"IP","" (a module's factory setting, common in firmware): no APN asked, the
    network selects the subscription's default (TS 23.060 9.2.1): its first subscribed APN, else the
    first of the table its offer may use. It was refused as a missing APN (+CME ERROR: 533)."""
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0), sink)
    net.register_subscriber(
        Subscriber("L2", "208011234567891", "33612345679", "business-m2m", apns=("orange-mib",))
    )
    net.register_subscriber(Subscriber("L3", "208011234567892", "33612345680", "intense"))
    for line in ("L2", "L3"):
        net.attach(1, line, IMEISV, "20801")
    subscribed, by_offer = net.open_session(2, "L2", ""), net.open_session(2, "L3", " ")
    assert subscribed.accepted and by_offer.accepted
    assert subscribed.session_id is not None and by_offer.session_id is not None
    net.close_session(10, subscribed.session_id)
    net.close_session(10, by_offer.session_id)
    assert [(r.line, r.apn) for r in sink.data()] == [("L2", "orange-mib"), ("L3", "orange.m2m.spec")]


def test_context_limit_gives_no_resources() -> None:
    net, _ = make(max_contexts=1)
    assert net.open_session(1, "L1", "orange.m2m.spec").accepted
    assert net.open_session(1, "L1", "orange.m2m.spec").cause == GtpCause.NO_RESOURCES_AVAILABLE


def test_zone_follows_the_serving_network_at_session_start() -> None:
    capture = Capture()
    net, sink = make(capture=capture)
    assert net.attach(10, "L1", IMEISV, "20610").zone == Zone.EU
    s = net.open_session(11, "L1", "orange.m2m.spec")
    assert s.session_id
    net.close_session(20, s.session_id)
    assert net.attach(30, "L1", IMEISV, "31041").zone == Zone.WORLD
    s = net.open_session(31, "L1", "orange.m2m.spec")
    assert s.session_id
    net.close_session(40, s.session_id)
    assert [(r.zone, r.serving_plmn) for r in sink.records] == [(Zone.EU, "20610"), (Zone.WORLD, "31041")]
    assert {c[3] for c in capture.calls if c[0] == "acct_start"} == {"203.0.113.2"}  # a visited SGSN


def test_outer_gtp_counting_adds_36_bytes_per_packet() -> None:
    net, sink = make(counting=CountingMode.OUTER_GTP, mean_packet_bytes=100)
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(10, s.session_id, 250, 100)  # estimated 3 and 1 packets
    net.transfer(20, s.session_id, 1_000, 1_000, packets_up=2, packets_down=5)
    net.close_session(30, s.session_id)
    (rec,) = sink.records
    assert rec.bytes_up == 250 + 3 * GTP_U_OVERHEAD + 1_000 + 2 * GTP_U_OVERHEAD
    assert rec.bytes_down == 100 + 1 * GTP_U_OVERHEAD + 1_000 + 5 * GTP_U_OVERHEAD


def test_public_apns_receive_scans_and_private_ones_none() -> None:
    day = 86_400
    net, sink = make(scan_rate_per_hour=10.0, seed=3)
    net.attach(0, "L1", IMEISV, "20801")
    public = net.open_session(0, "L1", "orange.m2m")
    private = net.open_session(0, "L1", "orange.m2m.spec")
    assert public.session_id and private.session_id
    net.flush(day)
    up = {r.apn: 0 for r in sink.records}
    down = dict(up)
    for r in sink.records:
        up[r.apn] += r.bytes_up
        down[r.apn] += r.bytes_down
    assert up["orange.m2m.spec"] == down["orange.m2m.spec"] == 0
    packets = net.counters["scan-packets"]
    # each probe a refused connect of the wire model: its SYN down, the device's reset up
    assert (down["orange.m2m"], up["orange.m2m"]) == (packets * SYN, packets * HEADER)
    assert 240 - 5 * 240**0.5 < packets < 240 + 5 * 240**0.5  # Poisson(10/h over 24 h)
    assert net.counters["scan-bytes"] == down["orange.m2m"] + up["orange.m2m"]


def test_a_device_that_filters_probes_sends_no_reset() -> None:
    net, sink = make(scan_rate_per_hour=60.0, scan_reply_bytes=0, seed=5)
    s = net.open_session(0, "L1", "orange.m2m")
    assert s.session_id
    net.close_session(3_600, s.session_id)
    (rec,) = sink.records
    assert net.counters["scan-packets"] > 0
    assert (rec.bytes_up, rec.bytes_down) == (0, net.counters["scan-packets"] * SYN)


def test_the_same_seed_replays_the_same_records() -> None:
    def run(seed: int) -> list[UsageRecord]:
        net, sink = make(scan_rate_per_hour=30.0, seed=seed)
        s = net.open_session(0, "L1", "orange.m2m")
        assert s.session_id
        for k in range(1, 50):
            net.transfer(k * 3_000, s.session_id, 100, 100)
        net.flush(200_000)
        return sink.records

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_capture_sees_the_context_life_with_cumulative_counters() -> None:
    capture = Capture()
    net, sink = make(capture=capture)
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    sid = s.session_id
    net.transfer(INTERVAL_S + 100, sid, 2 * (INTERVAL_S + 100), 0)
    net.close_session(INTERVAL_S + 100, sid)
    kinds = [c[0] for c in capture.calls]
    assert kinds == ["pdp_create", "acct_start", "user_packets", "acct_interim", "pdp_delete", "acct_stop"]
    assert capture.calls[1][3:] == ("192.0.2.2", "208011234567890", IMEISV, "orange.m2m.spec", s.ip_address)
    assert capture.calls[3] == ("acct_interim", float(INTERVAL_S), sid, 2 * INTERVAL_S, 0, INTERVAL_S)
    assert capture.calls[5] == (
        "acct_stop",
        INTERVAL_S + 100,
        sid,
        2 * (INTERVAL_S + 100),
        0,
        INTERVAL_S + 100,
        0,
    )
    # records are the deltas of the cumulative counters
    assert [r.bytes_up for r in sink.records] == [2 * INTERVAL_S, 200]


def test_detach_releases_and_flush_closes_what_is_still_open() -> None:
    """A detach releases the line's contexts (cause 0); the period's end closes the records of the
    contexts still up, which no one released: cause 20 (management intervention), not 0."""
    net, sink = make()
    a = net.open_session(0, "L1", "orange.m2m.spec")
    assert a.session_id
    net.detach(50, "L1")
    assert not net.session_open(a.session_id)
    net.attach(60, "L1", IMEISV, "20801")
    b = net.open_session(60, "L1", "orange.m2m.spec")
    assert b.session_id
    net.flush(100)
    assert net.open_sessions() == []
    assert [(r.session, r.duration_s, r.cause) for r in sink.records] == [
        (a.session_id, 50, int(ClosingCause.NORMAL)),
        (b.session_id, 40, int(ClosingCause.MANAGEMENT_INTERVENTION)),
    ]


# ----------------------------------------------------------------------------- bad input


def test_malformed_identities_raise_typed_errors_with_a_trace() -> None:
    net, _ = make()
    with pytest.raises(InvalidIdentity, match="imeisv"):
        net.attach(1, "L1", "35693803564380", "20801")
    with pytest.raises(InvalidIdentity, match="check digit"):
        net.attach(1, "L1", "356938035643801", "20801")
    with pytest.raises(InvalidIdentity, match="serving_plmn"):
        net.attach(1, "L1", IMEISV, "208")
    with pytest.raises(InvalidIdentity, match="rat"):
        net.attach(1, "L1", IMEISV, "20801", rat="5g-sa")
    assert [i.kind for i in net.incidents] == ["bad-identity"] * 4
    with pytest.raises(InvalidIdentity, match="imsi"):
        net.register_subscriber(Subscriber("L9", "20801123", "33612345670", "business-m2m"))
    with pytest.raises(InvalidIdentity, match="msisdn"):
        net.register_subscriber(Subscriber("L9", "208011234567899", "0612345670", "business-m2m"))
    with pytest.raises(ConfigError, match="unknown offer"):
        net.register_subscriber(Subscriber("L9", "208011234567899", "33612345670", "platinum"))
    with pytest.raises(ConfigError, match="already registered"):
        net.register_subscriber(Subscriber("L1", "208011234567899", "33612345670", "business-m2m"))


def test_unknown_line_attach_is_refused_not_raised() -> None:
    net, _ = make()
    result = net.attach(1, "ghost", IMEISV, "20801")
    assert not result.accepted and result.cause == 2
    assert net.incidents[-1].kind == "unknown-line"
    with pytest.raises(UnknownLine):
        net.detach(1, "ghost")


@pytest.mark.parametrize(
    ("up", "down", "match"),
    [
        (-1, 0, "bytes_up.*negative"),
        (0, 1.5, "bytes_down.*integer"),
        (10**12, 0, "bytes/s"),
        (True, 0, "integer"),
    ],
)
def test_negative_or_absurd_volumes_are_refused(up: object, down: object, match: str) -> None:
    net, sink = make()
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    with pytest.raises(InvalidVolume, match=match):
        net.transfer(10, s.session_id, up, down)  # type: ignore[arg-type]
    assert net.incidents[-1].kind == "bad-volume"
    net.transfer(20, s.session_id, 5, 5)  # the session is still usable
    net.close_session(30, s.session_id)
    assert sink.records[0].bytes_up == 5


def test_time_going_backwards_is_refused() -> None:
    net, _ = make()
    s = net.open_session(100, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(200, s.session_id, 1, 1)
    with pytest.raises(OutOfOrder, match="time went backwards"):
        net.transfer(150, s.session_id, 1, 1)
    with pytest.raises(OutOfOrder):
        net.close_session(199, s.session_id)
    with pytest.raises(OutOfOrder):
        net.attach(50, "L1", IMEISV, "20801")
    assert [i.kind for i in net.incidents] == ["out-of-order"] * 3


def test_unknown_and_released_sessions() -> None:
    net, sink = make()
    with pytest.raises(UnknownSession):
        net.transfer(1, "S999999999", 1, 1)
    with pytest.raises(UnknownSession):
        net.close_session(1, "not-a-session")
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.close_session(2, s.session_id)
    net.transfer(3, s.session_id, 10, 10)  # late traffic on a released context: dropped, with a trace
    net.close_session(4, s.session_id)
    assert [i.kind for i in net.incidents] == [
        "unknown-session",
        "unknown-session",
        "released-session",
        "released-session",
    ]
    assert len(sink.records) == 1


def test_naive_epoch_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        NetworkConfig(epoch=datetime(2026, 3, 1))


def test_network_config_from_a_mapping() -> None:
    config = network_config(
        {
            "counting": "outer-gtp",
            "scan_rate_per_hour": 2,
            "sms": {"validity_s": 600},
            "calls": {"p_answered": 0.5, "forced": {"0600000000": "busy"}},
        },
        EPOCH,
        seed=9,
    )
    assert config.counting == CountingMode.OUTER_GTP and config.seed == 9
    assert config.sms.validity_s == 600 and config.calls.forced == {"0600000000": CallOutcome.BUSY}
    with pytest.raises(ConfigError, match=r"scenario.gateway: unknown key\(s\) \['colour'\]"):
        network_config({"colour": 1}, EPOCH, source="scenario.gateway")
    with pytest.raises(ConfigError, match="counting"):
        network_config({"counting": "gtp"}, EPOCH)
    assert network_config({"source_violation": "excluded"}, EPOCH).source_violation == "excluded"
    with pytest.raises(ConfigError, match=r"gateway.source_violation: one of counted, excluded"):
        network_config({"source_violation": "ignored"}, EPOCH)
    with pytest.raises(ConfigError, match="seed"):
        network_config({"seed": "x"}, EPOCH)
    with pytest.raises(ConfigError, match="validity"):
        network_config({"sms": {"validity": 1}}, EPOCH)


def test_records_round_trip_through_the_usage_writer(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from accounting.usage_writer import UsageWriter

    path = tmp_path / "usage.parquet"
    with UsageWriter(path) as writer:
        net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0), writer)
        net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
        net.attach(np.float64(0.0), "L1", IMEISV, "20801")  # numpy times are times too
        s = net.open_session(np.int64(10), "L1", "orange.m2m.spec")  # type: ignore[arg-type]
        assert s.session_id
        net.transfer(np.int64(INTERVAL_S + 20), s.session_id, np.int64(100), 7)  # type: ignore[arg-type]
        net.close_session(INTERVAL_S + 20, s.session_id)
    rows = pq.read_table(path).to_pylist()
    assert [(r["sequence"], r["cause"], r["bytes_up"], r["charging_id"]) for r in rows] == [
        (1, 17, 99, s.charging_id),
        (2, 0, 1, s.charging_id),
    ]
    assert rows[0]["start"] == EPOCH + timedelta(seconds=10)


def test_usage_columns_for_the_bulk_path(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from accounting.usage_writer import UsageWriter
    from gateway.partial import usage_columns

    cut = cut_sessions([0, 100], [INTERVAL_S + 1, 5], [10, 20], [0, 0], abnormal=[False, True])
    columns = usage_columns(cut, ["A", "B"], ["fr", "eu"], ["s1", "s2"], epoch_s=int(EPOCH.timestamp()))
    path = tmp_path / "bulk.parquet"
    with UsageWriter(path) as writer:
        writer.write_columns(columns, length=len(cut))
    rows = pq.read_table(path).to_pylist()
    assert [(r["line"], r["zone"], r["session"], r["cause"], r["sequence"]) for r in rows] == [
        ("A", "fr", "s1", 17, 1),
        ("A", "fr", "s1", 0, 2),
        ("B", "eu", "s2", 4, 1),
    ]
    assert rows[2]["start"] == EPOCH + timedelta(seconds=100)
    assert all(r["type"] == "data" for r in rows)


def test_non_finite_time_is_refused() -> None:
    from gateway.errors import InvalidRequest

    net, _ = make()
    for bad in (float("nan"), float("inf"), 1e300):
        with pytest.raises(InvalidRequest, match="not a number of seconds"):
            net.open_session(bad, "L1", "orange.m2m.spec")
    assert net.counters["incident:bad-time"] == 3


def test_an_apn_can_set_its_own_scan_rate(tmp_path: Path) -> None:
    apns = tmp_path / "apns.yaml"
    apns.write_text(
        "apns:\n"
        "  quiet: {m2m: true, addressing: public, pool: 198.18.0.0/24, scan_rate_per_hour: 0}\n"
        "  noisy: {m2m: true, addressing: public, pool: 198.18.1.0/24}\n"
        "offers:\n  business-m2m: {apns: any, calls: [csd]}\n",
        encoding="utf-8",
    )
    net, sink = make(apn_file=apns, scan_rate_per_hour=60.0)
    assert net.open_session(0, "L1", "quiet").accepted and net.open_session(0, "L1", "noisy").accepted
    net.flush(3_600)
    got = {r.apn: r.bytes_down for r in sink.records}
    assert got["quiet"] == 0 and got["noisy"] > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apns: {}\noffers: {x: {apns: any}}\n", "'apns' must be a non-empty mapping"),
        ("apns: {a: {addressing: open, pool: 10.0.0.0/8}}\noffers: {x: {apns: any}}\n", "apns.a.addressing"),
        ("apns: {a: {addressing: private, pool: 10.0.0.1/8}}\noffers: {x: {apns: any}}\n", "apns.a.pool"),
        (
            "apns: {a: {addressing: private, pool: 10.0.0.0/8, scan_rate_per_hour: 3}}\noffers: {x: {apns: any}}\n",
            "private APN",
        ),
        ("apns: {a: {addressing: private, pool: 10.0.0.0/8}}\noffers: {x: {apns: some}}\n", "offers.x.apns"),
        (
            "apns: {a: {addressing: private, pool: 10.0.0.0/8}}\noffers: {x: {apns: any, calls: [telex]}}\n",
            "calls",
        ),
        ("apns: [\n", "not valid YAML"),
    ],
)
def test_bad_apn_tables_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    from gateway.apn import ApnCatalog

    path = tmp_path / "apns.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        ApnCatalog.load(path)
    assert str(path) in str(info.value)


# ----- real packets (carry_packet) ------------------------------------------------------------------


def test_real_packets_are_counted_at_their_length_and_reach_the_capture_whole() -> None:
    capture = Capture()
    net, sink = make(capture=capture)
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    sid = s.session_id
    up, down = b"\x45" + bytes(59), bytearray(b"\x45" + bytes(1_399))
    net.carry_packet(1.0, sid, up, uplink=True)
    net.carry_packet(1.25, sid, down, uplink=False)
    net.carry_packet(INTERVAL_S, sid, up, uplink=True)  # at the boundary's instant: still the first period
    net.carry_packet(INTERVAL_S + 0.25, sid, memoryview(up), uplink=True)  # past it: the next one, whole
    net.transfer(INTERVAL_S + 6.0, sid, 100, 0)  # modelled volume still goes as counts
    net.close_session(INTERVAL_S + 7.0, sid)
    # a packet is carried at an instant: never spread over the time since the previous one
    assert [(r.bytes_up, r.bytes_down, r.cause, r.duration_s) for r in sink.records] == [
        (120, 1_400, 17, INTERVAL_S),
        (160, 0, 0, 7),
    ]
    carried = [
        c[:3] + c[3:5] for c in capture.calls if c[0] in ("user_packet", "user_packets", "acct_interim")
    ]
    assert carried == [
        ("user_packet", 1.0, sid, up, True),
        ("user_packet", 1.25, sid, bytes(down), False),
        ("user_packet", float(INTERVAL_S), sid, up, True),
        (
            "acct_interim",
            float(INTERVAL_S),
            sid,
            120,
            1_400,
        ),  # the boundary's record before the packet past it
        ("user_packet", INTERVAL_S + 0.25, sid, up, True),
        ("user_packets", INTERVAL_S + 6.0, sid, 100, 0),
    ]


@pytest.mark.parametrize("setting", ["counted", "excluded"])
def test_an_uplink_packet_from_another_address_is_dropped_and_counted_as_set(setting: str) -> None:
    # The source check (3GPP TS 33.203 T.6): dropped either way; in the records by default, as Cisco
    # StarOS's `ip source-violation check`, or not, as with its `exclude-from-accounting`.
    capture = Capture()
    net, sink = make(capture=capture, source_violation=setting)
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id and s.ip_address
    own = ipaddress.IPv4Address(s.ip_address).packed
    mine = b"\x45" + bytes(11) + own + bytes(44)
    forged = b"\x45" + bytes(11) + bytes([192, 168, 1, 20]) + bytes(4) + bytes(80)
    assert net.carry_packet(1.0, s.session_id, mine, uplink=True) is True
    assert net.carry_packet(2.0, s.session_id, forged, uplink=True) is False
    assert (
        net.carry_packet(3.0, s.session_id, forged, uplink=False) is True
    )  # a downlink packet is not checked
    net.close_session(4.0, s.session_id)
    assert net.counters["source-violations"] == 1
    (record,) = sink.records
    assert record.bytes_up == len(mine) + (len(forged) if setting == "counted" else 0)
    assert record.bytes_down == len(forged)
    # the capture shows what crossed the tunnel, the dropped packet too
    assert [c[3] for c in capture.calls if c[0] == "user_packet"] == [mine, forged, forged]


def test_real_packets_with_outer_gtp_counting_and_scans() -> None:
    capture = Capture()
    net, sink = make(capture=capture, counting=CountingMode.OUTER_GTP, scan_rate_per_hour=3_600.0, seed=4)
    s = net.open_session(0, "L1", "orange.m2m")  # a public APN: scanned
    assert s.session_id
    net.carry_packet(600.0, s.session_id, bytes(100), uplink=True)
    net.carry_packet(600.0, s.session_id, bytes(200), uplink=False)
    net.close_session(600.0, s.session_id)
    scans = net.counters["scan-packets"]
    assert scans > 0  # Poisson(1/s over 600 s), drawn for the context when it ends
    (rec,) = sink.records
    assert rec.bytes_up == 100 + GTP_U_OVERHEAD + scans * (HEADER + GTP_U_OVERHEAD)  # the resets
    assert rec.bytes_down == 200 + GTP_U_OVERHEAD + scans * (SYN + GTP_U_OVERHEAD)  # the probes
    kinds = [(c[0], c[1], c[3:]) for c in capture.calls if c[0].startswith(("user_", "scan_"))]
    # the real packets go whole; the scans are modelled (sampled), over the span of their record
    assert kinds == [
        ("user_packet", 600.0, (bytes(100), True)),
        ("user_packet", 600.0, (bytes(200), False)),
        ("scan_probes", 0.0, (600.0, scans, SYN, HEADER)),  # (drawn as the context ends)
    ]


@pytest.mark.parametrize(
    ("packet", "match"),
    [(b"", "1..65535 octets"), (bytes(65_536), "1..65535 octets"), ("45000014", "must be bytes")],
)
def test_a_packet_that_cannot_be_ip_is_refused(packet: object, match: str) -> None:
    net, sink = make()
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id
    with pytest.raises(InvalidVolume, match=match):
        net.carry_packet(1, s.session_id, packet, uplink=True)  # type: ignore[arg-type]
    assert net.incidents[-1].kind == "bad-volume"
    net.carry_packet(2, s.session_id, bytes(65_535), uplink=False)  # the session is still usable
    net.close_session(3, s.session_id)
    assert (sink.records[0].bytes_up, sink.records[0].bytes_down) == (0, 65_535)


def test_packets_on_a_released_session_are_dropped_with_a_trace_and_time_order_holds() -> None:
    net, sink = make()
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.carry_packet(5, s.session_id, bytes(40), uplink=True)
    with pytest.raises(OutOfOrder):
        net.carry_packet(4, s.session_id, bytes(40), uplink=True)
    net.close_session(6, s.session_id)
    net.carry_packet(7, s.session_id, bytes(40), uplink=False)
    with pytest.raises(UnknownSession):
        net.carry_packet(7, "L1-99", bytes(40), uplink=False)
    assert [i.kind for i in net.incidents][-2:] == ["released-session", "unknown-session"]
    assert [(r.bytes_up, r.bytes_down) for r in sink.records] == [(40, 0)]


def test_credentials_given_are_checked_against_the_apns_password() -> None:
    net, _ = make()
    challenge = bytes(range(16))
    good_chap = hashlib.md5(b"\x07" + b"mib-access" + challenge, usedforsecurity=False).digest()
    cases = [
        ("internet-entreprise", PcoAuth("pap", "33612345678", b"entreprise"), True),
        ("internet-entreprise", PcoAuth("pap", "33612345678", b"Entreprise"), False),
        ("internet-entreprise", PcoAuth("chap", "33612345678", b"", 7, challenge, good_chap), False),
        ("orange-mib", PcoAuth("chap", "33612345678", b"", 7, challenge, good_chap), True),
        (
            "orange-mib",
            PcoAuth("chap", "33612345678", b"", 8, challenge, good_chap),
            False,
        ),  # other identifier
        ("orange-mib", PcoAuth("pap", "33612345678", b"mib-access"), True),
        ("orange.m2m.spec", PcoAuth("pap", "x", b"anything"), True),  # asks for none: takes any
        ("orange-mib", None, True),  # credentials not given: the device sends the APN's
    ]
    for t, (apn, auth, accepted) in enumerate(cases):
        result = net.open_session(t, "L1", apn, auth=auth)
        assert result.accepted == accepted, (apn, auth)
        if not accepted:
            assert result.cause == GtpCause.USER_AUTHENTICATION_FAILED
    assert net.journal.counters["session-refused:209"] == 3
