"""Traffic models, application profiles and per-device random streams."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gateway.wire import SYN, icmp_error_size, unreachable
from simulator import rng as rngmod
from simulator.engine import Shard, fleet
from simulator.profiles import ProfileError, builtin_profiles, parse_profiles
from simulator.scenario import TR45820_PERIOD_MIX, ApnSpec, Application, Payload, Schedule, load_scenario
from simulator.traffic import (
    _pareto_table,
    draw_period,
    payload_sizes,
    per_report_sessions,
    persistent_session,
    report_times,
    scan_bytes,
)
from simulator.traffic_models import TRAFFIC_MODELS, offsets

# The measured totals (bytes, both directions, 53-byte JSON payload) the profiles must reproduce.
MEASURED = {
    "coap": 124,
    "http": 810,
    "https-tls12": 2184,
    "https-tls13": 2590,
    "mqtt-qos0": 494,
    "mqtt-qos1": 540,
    "mqtt-tls12-qos1": 1952,
    "mqtt-tls13-qos1": 2511,
}


@pytest.mark.parametrize(("name", "total"), sorted(MEASURED.items()))
def test_profiles_reproduce_the_measured_bytes_at_the_reference_payload(name: str, total: int) -> None:
    prof = builtin_profiles()[name]
    up, down = prof.report_bytes(np.array([53], dtype=np.int64))
    assert int(up[0] + down[0]) == total
    assert up[0] > 0 and down[0] > 0


def test_plain_tcp_profiles_play_their_messages_into_the_measured_packets() -> None:
    """MQTT and HTTP bill the messages of their exchange through the TCP model the virtual modem's
    stacks bill with (`gateway.wire`): the measured packets come out as well as the bytes."""
    p = builtin_profiles()
    assert [
        (p[n].report.packets, p[n].report.up + p[n].report.down) for n in ("mqtt-qos0", "mqtt-qos1", "http")
    ] == [
        (9, 494),
        (10, 540),
        (12, 810),
    ]
    # the SYN and SYN-ACK with their options (52 B), every other segment 40 B of headers
    assert (p["mqtt-qos0"].report.up, p["mqtt-qos0"].report.down) == (
        52 + 40 + 64 + 120 + 42 + 40,
        52 + 44 + 40,
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("up", "profiles.p.exchange.report[1]: 'up' is no step"),
        ("down -4", "profiles.p.exchange.report[1]: 'down -4' is no step"),
        ("close sideways", "profiles.p.exchange.report[1]: 'close sideways' is no step"),
        ("up 5 @soon", "profiles.p.exchange.report[1]: 'up 5 @soon' is no step"),
    ],
)
def test_a_bad_exchange_step_is_named_with_its_place(step: str, message: str) -> None:
    doc = {
        "profiles": {"p": {"exchange": {"report": ["open", step]}, "failed_attempt": {"up": 1, "down": 0}}}
    }
    with pytest.raises(ProfileError, match=re.escape(message)):
        parse_profiles(doc, "profiles.yaml")
    doc["profiles"]["p"]["report"] = {"up": 1, "down": 2}
    doc["profiles"]["p"]["exchange"]["report"] = ["open", "up 5"]
    with pytest.raises(ProfileError, match="come from the exchange's steps"):
        parse_profiles(doc, "profiles.yaml")


def test_a_failed_attempts_transmissions_are_one_datagram_whose_size_the_icmp_answer_quotes() -> None:
    # an ICMP answer quotes the datagram it answers: the quote is taken from up / packets, exact
    # only when every transmission is the same datagram sent again (CoAP's CON: 5 x 90 B)
    udp = [p for p in builtin_profiles().values() if p.transport != "tcp"]
    assert udp
    for prof in udp:
        fa = prof.failed_attempt
        assert fa.packets >= 1 and fa.up % fa.packets == 0
        assert prof.icmp_answer == icmp_error_size(fa.up // fa.packets)
    # figures that cannot be one datagram sent again (451 B in 5 transmissions) are refused, named
    doc = {
        "profiles": {
            "p": {
                "transport": "udp",
                "report": {"up": 90, "down": 34, "packets": 2},
                "failed_attempt": {"up": 451, "down": 0, "packets": 5, "duration_s": 62},
            }
        }
    }
    with pytest.raises(
        ProfileError, match=re.escape("profiles.yaml: profiles.p.failed_attempt.up: 451 B is not 5")
    ):
        parse_profiles(doc, "profiles.yaml")
    doc["profiles"]["p"]["failed_attempt"]["up"] = 450
    assert parse_profiles(doc, "profiles.yaml")["p"].icmp_answer == 118


def test_persistent_mqtt_figures() -> None:
    p = builtin_profiles()
    for name, publish, ping in (("mqtt-qos1", 206, 124), ("mqtt-tls13-qos1", 250, 168)):
        prof = p[name]
        assert prof.publish is not None and prof.ping is not None
        assert prof.publish.up + prof.publish.down == publish
        assert prof.ping.up + prof.ping.down == ping


def test_a_qos0_publish_on_a_persistent_connection_is_acknowledged_by_tcp() -> None:
    """A QoS 0 publish has no PUBACK, but the broker's TCP still acknowledges the segment (40 B
    down): the figure had 0 B down, a quarter of the bytes of a persistent QoS 0 device missing."""
    prof = builtin_profiles()["mqtt-qos0"]
    assert prof.publish is not None
    assert (prof.publish.up, prof.publish.down) == (120, 40)
    up, down = prof.publish_bytes(np.array([53], dtype=np.int64))
    assert int(up[0] + down[0]) == 160


def test_tls_ping_cycles_carry_their_tls_record() -> None:
    """A keep-alive cycle over TLS: PINGREQ and PINGRESP (2 B each) in a TLS record each, and the
    client's ACK.  The TLS 1.2 figure (160 B) was smaller than its own record overhead makes it."""
    for name in ("mqtt-tls12-qos1", "mqtt-tls13-qos1"):
        prof = builtin_profiles()[name]
        assert prof.ping is not None
        record = 40 + 2 + prof.tls_record_overhead
        assert (prof.ping.up, prof.ping.down) == (record + 40, record), name


def test_payload_scaling_adds_bytes_segments_and_acks() -> None:
    mqtt = builtin_profiles()["mqtt-qos1"]
    up, down = mqtt.report_bytes(np.array([53, 153, 1460, 1461, 4000], dtype=np.int64))
    assert up[1] - up[0] == 100 and down[1] == down[0]  # same segment: payload bytes only
    assert up[3] - up[2] == 1 + 40  # one byte more opens a second segment: one more IP+TCP header
    assert down[3] - down[2] == 40  # and one delayed ACK downstream
    coap = builtin_profiles()["coap"]
    cu, cd = coap.report_bytes(np.array([53, 1053], dtype=np.int64))
    assert cu[1] - cu[0] == 1000 and cd[1] == cd[0]
    tls = builtin_profiles()["https-tls13"]
    tu, _ = tls.report_bytes(np.array([1460, 1461], dtype=np.int64))
    assert tu[1] - tu[0] == 1 + 40 + tls.tls_record_overhead


@pytest.mark.parametrize("name", ["mqtt-qos1", "https-tls13", "mqtt-tls13-qos1", "coap"])
def test_one_segment_payloads_cost_the_same_alone_or_with_larger_ones(name: str) -> None:
    prof = builtin_profiles()[name]
    small = np.arange(0, 1461, dtype=np.int64)  # all within the reference payload's one segment
    alone = prof.report_bytes(small)
    mixed = prof.report_bytes(np.concatenate((small, [5000])))  # a larger payload: the general formula
    assert alone[0].tolist() == mixed[0][:-1].tolist() and alone[1].tolist() == mixed[1][:-1].tolist()
    assert alone[0].tolist() == (prof.report.up + small - prof.reference_payload).tolist()


def test_jitter_models() -> None:
    r = np.random.default_rng(1)
    m1 = offsets(r, "tr37868-model1", 60.0, 200_000)
    assert m1.min() >= 0 and m1.max() < 60 and abs(m1.mean() - 30) < 0.2
    m2 = offsets(r, "tr37868-model2", 10.0, 200_000)
    assert m2.min() >= 0 and m2.max() <= 10
    assert abs(m2.mean() - 10 * 3 / 7) < 0.02  # Beta(3, 4) mean 3/7
    assert abs(m2.var() - 100 * 12 / (49 * 8)) < 0.05  # Beta(3, 4) variance ab/((a+b)^2 (a+b+1))
    assert not offsets(r, "none", 60.0, 5).any()


def test_one_registry_of_traffic_models() -> None:
    # the defaults the scenario reader and the outage recovery both take from the registry
    assert {n: m.default_spread_s for n, m in TRAFFIC_MODELS.items()} == {
        "none": 0.0,
        "uniform": 60.0,
        "tr37868-model1": 60.0,
        "tr37868-model2": 10.0,
    }
    with pytest.raises(ValueError, match=r"unknown traffic model 'poisson' \(known: none, uniform"):
        offsets(np.random.default_rng(1), "poisson", 10.0, 3)
    # no draw when there is nothing to spread: the generator's stream is untouched
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    offsets(a, "uniform", 0.0, 4)
    offsets(a, "none", 30.0, 4)
    assert a.random() == b.random()


def test_report_times_are_periodic_within_the_stretch() -> None:
    r = np.random.default_rng(2)
    sched = Schedule(period_s=900.0, align="clock", jitter="tr37868-model1", jitter_s=60.0)
    times = report_times(r, sched, 900.0, 0.0, 1000, 1000 + 86_400)
    assert times.shape[0] == 96
    assert times.min() >= 1000 and times.max() < 1000 + 86_400
    offsets = (times - 1800) % 900  # each report within 60 s after its quarter hour
    assert offsets.max() < 60
    assert report_times(r, sched, 900.0, 0.0, 500, 500).shape[0] == 0


def test_tr45820_period_mix() -> None:
    r = np.random.default_rng(3)
    sched = Schedule(period_s=None, align="random", jitter="none", jitter_s=0.0)
    periods = np.array([draw_period(r, sched) for _ in range(20_000)])
    for period, share in TR45820_PERIOD_MIX:
        assert abs((periods == period).mean() - share) < 0.015


def test_bounded_pareto_payload() -> None:
    r = np.random.default_rng(4)
    sizes = payload_sizes(r, Payload(alpha=2.5, lo=20, hi=200), 100_000)
    assert 20 <= sizes.min() <= 21 and sizes.max() <= 200
    # bounded Pareto(2.5) on [20, 200]: mean = a L^a (L^(1-a) - H^(1-a)) / ((a - 1)(1 - (L/H)^a)) ~ 33.0
    a, lo, hi = 2.5, 20.0, 200.0
    mean = a * lo**a * (lo ** (1 - a) - hi ** (1 - a)) / ((a - 1) * (1 - (lo / hi) ** a))
    assert abs(sizes.mean() - mean) < 1.0  # whole bytes (rounded up) shift it by < 1
    assert (payload_sizes(r, Payload(fixed=77), 3) == 77).all()


class _Draws:
    """A generator stand-in handing out given uniform draws."""

    def __init__(self, u: np.ndarray) -> None:
        self.u = u

    def random(self, n: int) -> np.ndarray:
        assert n == self.u.shape[0]
        return self.u


@pytest.mark.parametrize(
    ("lo", "hi", "alpha"),
    [
        (20, 200, 2.5),
        (20, 21, 2.5),
        (1, 2, 1.0),
        (100, 300, 3.0),
        (10, 1000, 0.5),
        (1, 4096, 1.1),
        (20, 20, 2.5),
    ],
)
def test_pareto_sizes_looked_up_are_the_inverse_cdfs(lo: int, hi: int, alpha: float) -> None:
    """The sizes found by table look-up are the inverse CDF's, draw for draw: random draws, and
    draws at, next to and around every size's threshold (where the floating-point x rounds)."""
    payload = Payload(alpha=alpha, lo=lo, hi=hi)
    flo, fhi = float(lo), float(hi)
    c = 1.0 - (flo / fhi) ** alpha

    def definition(u: np.ndarray) -> np.ndarray:
        x = flo / (1.0 - u * c) ** (1.0 / alpha)
        return np.clip(np.ceil(x), flo, fhi).astype(np.int64)

    m = np.arange(lo, hi + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cuts = (1.0 - (flo / m) ** alpha) / c  # the u where x is a whole number
    around = [cuts + k * 2.0**-53 for k in (-(1 << 25), -(1 << 24), -1000, -3, -1, 0, 1, 3, 1000, 1 << 24)]
    ulp_steps = [np.nextafter(cuts, 0.0), np.nextafter(cuts, 1.0)]
    edge = np.concatenate([*around, *ulp_steps, [0.0, 2.0**-53, 0.5, 1.0 - 2.0**-53]])
    edge = edge[np.isfinite(edge) & (edge >= 0.0) & (edge < 1.0)]
    for u in (np.random.default_rng(9).random(400_000), edge):
        assert (payload_sizes(_Draws(u), payload, u.shape[0]) == definition(u)).all()  # type: ignore[arg-type]
    if (lo, hi, alpha) == (20, 200, 2.5):  # TR 45.820's: by the table
        assert _pareto_table(lo, hi, alpha) is not None


def test_a_line_s_scan_stream_is_made_only_for_scanned_sessions(tmp_path: Path) -> None:
    """A device on a private APN never makes its scan stream (a seed sequence of its own); one on
    a scanned public APN does, and draws its probes from it: per-report sessions (the bench's
    meters) and persistent connections (the scan scenario's two groups, one on each APN)."""
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    made: dict[str, set[bool]] = {}
    for name, days in (("public-apn-scan", 1), ("smart-meters", 1)):
        sc = load_scenario(scenarios / f"{name}.yaml", days=days, max_lines=40)
        out = tmp_path / name
        out.mkdir()
        shard = Shard(sc, 0, fleet(sc), out)
        shard.run()
        for d in shard.devices:
            key = f"{d.group.apn} {'persistent' if d.persistent else 'per-report'}"
            made.setdefault(key, set()).add("rng_scan" in vars(d))
    assert made["internet-entreprise persistent"] == {True}
    assert made["orange.m2m.spec persistent"] == {False}
    per_report = [v for k, v in made.items() if k.endswith("per-report")]
    assert per_report and all(v == {False} for v in per_report)


def test_persistent_session_counts_setup_publishes_and_pings() -> None:
    prof = builtin_profiles()["mqtt-qos1"]
    app = Application("mqtt-qos1", "persistent", 1200.0, Payload(fixed=53))
    r = np.random.default_rng(5)
    times = np.array([3600, 7200], dtype=np.int64)
    up, down = persistent_session(r, prof, app, None, times, 0, 10_800)
    # gaps 3600, 3600, 3600 s with a 1,200 s keep-alive: 2 pings each (at 1,200 and 2,400 s into
    # the gap; the one due at 3,600 s falls on the publish's second, which resets the timer, or on
    # the stretch's end: not sent; 3 each were counted)
    assert prof.connect is not None and prof.ping is not None and prof.publish is not None
    assert up + down == (
        prof.connect.up
        + prof.connect.down
        + 2 * (prof.publish.up + prof.publish.down)
        + 6 * (prof.ping.up + prof.ping.down)
    )
    # 1 s more in each gap: the third ping is due before the publish and goes
    times = np.array([3601, 7202], dtype=np.int64)
    more = persistent_session(r, prof, app, None, times, 0, 10_803)
    assert sum(more) == up + down + 3 * (prof.ping.up + prof.ping.down)
    # a connection going on from an earlier stretch whose last publish was at -1,200 s: its pings
    # at 0 (the earlier stretch's end: this stretch's) and 1,200; the one at 2,400 s on the publish
    going_on = persistent_session(
        r,
        prof,
        app,
        None,
        np.array([2400], dtype=np.int64),
        0,
        2401,
        connect=False,
        since=-1200,
    )
    assert sum(going_on) == prof.publish.up + prof.publish.down + 2 * (prof.ping.up + prof.ping.down)


def test_scans_only_on_public_addresses() -> None:
    r = np.random.default_rng(6)
    dur = np.full(1000, 3600, dtype=np.int64)
    private = ApnSpec("orange.m2m.spec", "private", scan_per_hour=100.0)
    assert scan_bytes(r, private, dur)[1].sum() == 0
    public = ApnSpec("internet-entreprise", "public", scan_per_hour=100.0, scan_bytes=60, scan_reply_bytes=40)
    up, down = scan_bytes(r, public, dur)
    assert abs(down.mean() / 60 - 100) < 2 and (up * 60 == down * 40).all()


def test_per_report_sessions_carry_the_profile_bytes() -> None:
    prof = builtin_profiles()["coap"]
    app = Application("coap", "per-report", 1200.0, Payload(fixed=53))
    times = np.array([10, 20], dtype=np.int64)
    s = per_report_sessions(np.random.default_rng(7), prof, app, None, times, np.random.default_rng(8))
    assert s.start.tolist() == [10, 20] and (s.up + s.down == 124).all()


def test_device_streams_are_stable_and_independent() -> None:
    a = rngmod.device_rng(42, "M0001", rngmod.TRAFFIC).random(4)
    b = rngmod.device_rng(42, "M0001", rngmod.TRAFFIC).random(4)
    assert (a == b).all()
    assert not (a == rngmod.device_rng(42, "M0002", rngmod.TRAFFIC).random(4)).any()
    assert not (a == rngmod.device_rng(43, "M0001", rngmod.TRAFFIC).random(4)).any()
    assert not (a == rngmod.device_rng(42, "M0001", rngmod.EVENTS).random(4)).any()
    # BLAKE2b, not hash(): the same words in every process and Python version
    digest = bytes.fromhex("e4a6a0577479b2b4")  # BLAKE2b-64 of the empty string
    assert rngmod.id_words("") == (int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little"))


def test_device_streams_made_for_many_devices_at_once_are_each_devices_own() -> None:
    """`device_rngs` mixes the seed sequences of a shard's devices at once: each stream is the one
    `device_rng` makes for the device alone, whatever the seed (beyond 32 and 64 bits, negative),
    the id (empty, non-ASCII, long) or the purpose."""
    ids = [f"M{i:05d}" for i in range(300)] + ["", "é", "x" * 80, "33612345678"]
    for seed in (7, 0, 2**32 - 1, 2**40 + 5, -3, 2**64 - 1, 2**70 + 9):
        for purpose in (rngmod.TRAFFIC, rngmod.SETUP, rngmod.EVENTS * 1000 + 500, 2**32 - 1):
            made = rngmod.device_rngs(seed, ids, purpose)
            for device_id, rng in zip(ids, made, strict=True):
                alone = rngmod.device_rng(seed, device_id, purpose)
                assert rng.random(3).tolist() == alone.random(3).tolist()
                assert rng.integers(0, 1 << 62, 2).tolist() == alone.integers(0, 1 << 62, 2).tolist()
    assert rngmod.device_rngs(7, [], rngmod.TRAFFIC) == []


def test_an_attempt_the_network_answers_unreachable_costs_the_wire_models_bytes() -> None:
    """TCP: the SYN and the ICMP message that ends the connect; CoAP: each transmission of the
    failed attempt answered by one ICMP message (the stack goes on as without an answer)."""
    profiles = builtin_profiles()
    http, coap = profiles["http"].unreachable_attempt, profiles["coap"].unreachable_attempt
    # each ICMP message quotes the whole packet it answers (Linux: up to 576 B in all): its IPv4 20
    # and ICMP 8 bytes and the SYN (52 B) or the CoAP datagram (90 B)
    assert (http.up, http.down) == unreachable() == (SYN, 20 + 8 + SYN)
    fa = profiles["coap"].failed_attempt
    assert fa.packets > 0
    datagram = fa.up // fa.packets
    assert datagram == 90
    assert (coap.up, coap.down, coap.duration_s) == (
        fa.up,
        fa.down + fa.packets * (20 + 8 + datagram),
        fa.duration_s,
    )
