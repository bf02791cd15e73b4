"""Network conditions: presets, the parsing of keys, and the seeded link shaper's arithmetic."""

from __future__ import annotations

import re

import pytest

from modem.profiles import load_profile
from modem.virtual.conditions import (
    FULL,
    MTU,
    PRESETS,
    SOURCES,
    Conditions,
    ConditionsError,
    Link,
    conditions_from,
    parse_netdelay,
    parse_netloss,
    parse_netspeed,
    preset,
    preset_for,
)

EXACT = dict(netdelay="200", netloss="0")  # a fixed 200 ms round trip (100 ms each way), no loss


def test_every_preset_has_its_sources_and_sane_figures() -> None:
    for name in ("gsm", "gprs", "edge", "umts", "hsdpa", "lte", "lte-m", "nb-iot"):
        c = PRESETS[name]
        assert name in SOURCES and len(SOURCES[name]) > 40
        assert c.up_bps and c.down_bps and 0 < c.rtt_min <= c.rtt_max
        assert 0 <= c.loss < 0.05 and 0 < c.sms_min <= c.sms_max
    assert PRESETS["gsm"].up_bps == PRESETS["gsm"].down_bps == 9600
    assert PRESETS["edge"].down_bps == 4 * 59_200  # MCS-9, 4 downlink slots
    assert not FULL.shaped and preset("off") == FULL == preset("None")


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("simcom-sim800", "gprs"),
        ("generic", "gprs"),
        ("quectel-bg96", "lte-m"),
        ("quectel-eg25", "lte"),
    ],
)
def test_profile_rat_picks_the_preset(profile: str, expected: str) -> None:
    p = load_profile(profile)
    assert preset_for(p.rat, p.act) == expected


def test_preset_for_act_values() -> None:
    assert preset_for("geran", 3) == "edge"
    assert preset_for("utran", 2) == "umts"
    assert preset_for("utran", 6) == "hsdpa"
    assert preset_for("eutran", 9) == "nb-iot"


def test_edge_transfer_takes_size_over_rate_plus_latency() -> None:
    link = Link(conditions_from(preset("edge"), **EXACT), seed=1)
    n = 10_000
    assert link.up.send(5.0, n) == pytest.approx(5.0 + n * 8 / 118_400 + 0.1)
    assert link.down.send(5.0, n) == pytest.approx(5.0 + n * 8 / 236_800 + 0.1)


def test_bytes_queue_behind_earlier_bytes() -> None:
    link = Link(conditions_from(preset("gprs"), **EXACT))
    tx = 1000 * 8 / 26_800
    first = link.up.send(0.0, 1000)
    second = link.up.send(0.0, 1000)
    assert first == pytest.approx(tx + 0.1)
    assert second == pytest.approx(2 * tx + 0.1)
    # once the link is idle again, a new send starts at its own time
    assert link.up.send(10.0, 1000) == pytest.approx(10.0 + tx + 0.1)


def test_round_trip_is_both_directions() -> None:
    link = Link(conditions_from(preset("gsm"), **EXACT))
    assert link.rtt(0.0, 100, 100) == pytest.approx(2 * (100 * 8 / 9600) + 0.2)


def test_same_seed_same_timings_other_seed_others() -> None:
    def run(seed: str) -> list[float | None]:
        link = Link(preset("gprs"), seed)
        out: list[float | None] = []
        for i in range(200):
            out.append(link.up.send(i * 0.5, 300))
            out.append(link.down.send_datagram(i * 0.5, 120))
        return out

    assert run("a") == run("a")
    assert run("a") != run("b")


def test_latency_is_drawn_within_half_the_rtt_range_and_keeps_order() -> None:
    c = conditions_from(preset("umts"), netloss="0", netspeed="full")
    link = Link(c, seed=3)
    arrivals = [link.down.send(i * 0.01, 10) for i in range(500)]
    delays = [t - i * 0.01 for i, t in enumerate(arrivals)]
    assert arrivals == sorted(arrivals)
    assert min(delays) >= c.rtt_min / 2 - 1e-9
    # the order rule can only lengthen a delay up to the slowest draw before it
    assert max(delays) <= c.rtt_max / 2 + 1e-9
    assert max(delays) - min(delays) > 0.1  # the draws spread over the range


def test_datagram_loss_is_a_seeded_draw_per_datagram() -> None:
    link = Link(conditions_from(preset("lte"), netloss="50"), seed=9)
    results = [link.up.send_datagram(float(i), 100) for i in range(1000)]
    lost = results.count(None)
    assert 400 < lost < 600
    again = Link(conditions_from(preset("lte"), netloss="50"), seed=9)
    assert [again.up.send_datagram(float(i), 100) for i in range(1000)] == results


def test_stream_loss_costs_a_retransmission_timeout() -> None:
    c = conditions_from(preset("edge"), netdelay="200", netloss="100")
    link = Link(c)
    n = 3 * MTU
    tx = n * 8 / 118_400
    # every packet lost once: three resends, each after one RTO (1 s minimum) and its own air time
    assert link.up.rto == 1.0
    assert link.up.send(0.0, n) == pytest.approx(tx + 3 * (1.0 + MTU * 8 / 118_400) + 0.1)


def test_full_is_instant() -> None:
    link = Link(FULL)
    assert link.up.send(3.0, 10**9) == 3.0
    assert link.down.send_datagram(3.0, 10**6) == 3.0
    assert link.sms_leg() == 0.0


def test_change_applies_to_what_is_sent_afterwards() -> None:
    link = Link(conditions_from(preset("gprs"), **EXACT))
    queued = link.up.send(0.0, 2680)  # 0.8 s of air time at 26.8 kbit/s
    seen: list[Conditions] = []
    link.on_change = seen.append
    c = link.change(netspeed="edge")
    assert c.name == "custom" and c.up_bps == 118_400 and seen == [c]
    assert queued == pytest.approx(0.8 + 0.1)
    # the new bytes wait for the queued ones, then go at the new rate
    assert link.up.send(0.0, 1184) == pytest.approx(0.8 + 0.08 + 0.1)
    assert link.change(net="lte-m").name == "lte-m"


def test_parsing_numbers_and_presets() -> None:
    assert parse_netspeed("edge") == (118_400, 236_800)
    assert parse_netspeed("64") == (64_000, 64_000)
    assert parse_netspeed("14.4:57.6") == pytest.approx((14_400, 57_600))
    assert parse_netspeed("0") == (None, None)
    assert parse_netdelay("gprs") == (0.3, 1.0)
    assert parse_netdelay("150:550") == (0.15, 0.55)
    assert parse_netdelay("none") == (0.0, 0.0)
    assert parse_netloss("1%") == parse_netloss("1") == 0.01


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("netspeed", "5g", "netspeed='5g': expected kbit/s (0..1e+07) or a preset: gsm, gprs"),
        ("netspeed", "1:x", "netspeed='1:x': expected UP:DOWN kbit/s"),
        ("netspeed", "nan", "netspeed='nan': expected kbit/s"),
        ("netdelay", "500:100", "netdelay='500:100': the maximum is below the minimum"),
        ("netdelay", "-5", "netdelay='-5': expected round trip in ms"),
        ("netloss", "150", "netloss='150': expected a loss percentage (0..100)"),
        ("net", "wifi", "net='wifi': unknown preset"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConditionsError, match="^" + re.escape(message)):
        conditions_from(FULL, **{key: value})


def test_option_prefix_names_the_command_line_option() -> None:
    with pytest.raises(ConditionsError, match=r"^--netspeed='x'"):
        conditions_from(FULL, netspeed="x", prefix="--")


def test_a_modem_gets_its_profiles_preset_and_its_own_seeded_link() -> None:
    from modem.virtual.core import VirtualModem

    bg96 = VirtualModem(load_profile("quectel-bg96"), seed=4)
    assert bg96.link.conditions.name == "lte-m"
    a = VirtualModem(load_profile("simcom-sim800"), seed=4, index=1)
    b = VirtualModem(load_profile("simcom-sim800"), seed=4, index=1)
    c = VirtualModem(load_profile("simcom-sim800"), seed=4, index=2)
    times = [m.link.up.send(0.0, 100) for m in (a, b, c)]
    assert times[0] == times[1] != times[2]
    given = VirtualModem(load_profile("simcom-sim800"), conditions=preset("edge"))
    assert given.link.conditions.name == "edge"


async def test_real_time_helpers_wait_for_the_arrival_on_the_loop_clock() -> None:
    import asyncio

    from modem.virtual.clock import LoopClock
    from modem.virtual.conditions import call_at_arrival, sleep_until

    loop = asyncio.get_running_loop()
    clock = LoopClock(loop, start=100.0, speed=1000.0)  # 1 simulated second per real millisecond
    link = Link(conditions_from(preset("gprs"), **EXACT))
    arrival = link.up.send(clock.now(), 1340)  # 0.4 s of air time + 0.1 s
    await sleep_until(clock, arrival)
    assert clock.now() >= arrival
    done: asyncio.Future[float] = loop.create_future()
    later = link.down.send(clock.now(), 2680)
    call_at_arrival(clock, later, lambda: done.set_result(clock.now()))
    assert await done >= later - 1e-3  # the loop's clock resolution, 1 µs of real time here
    await sleep_until(clock, 0.0)  # in the past: returns at once


async def test_shaped_pipe_delivers_real_bytes_at_their_arrival_in_order() -> None:
    import asyncio

    from modem.virtual.clock import LoopClock
    from modem.virtual.conditions import ShapedPipe

    loop = asyncio.get_running_loop()
    clock = LoopClock(loop, speed=1000.0)
    got: list[tuple[float, bytes]] = []
    all_in = asyncio.Event()

    def sink(data: bytes) -> None:
        got.append((clock.now(), data))
        if len(got) == 3:
            all_in.set()

    link = Link(conditions_from(preset("umts"), netloss="0"), seed=2)  # latency drawn in 50-250 ms
    pipe = ShapedPipe(link.down, clock, sink)
    arrivals = [pipe.send(bytes([i]) * 4800) for i in range(3)]  # 0.1 s of air time each at 384 kbit/s
    assert pipe.pending() == 3 * 4800
    await all_in.wait()
    assert [d[0] for _, d in got] == [0, 1, 2]
    for (t, _), arrival in zip(got, arrivals, strict=True):
        assert arrival is not None and t >= arrival - 1e-3
    assert pipe.pending() == 0

    lossy = ShapedPipe(Link(conditions_from(preset("lte"), netloss="100")).up, clock, sink, datagrams=True)
    assert [lossy.send(b"x") for _ in range(3)] == [None, None, None] and lossy.lost == 3
    closing = ShapedPipe(link.up, clock, sink)
    closing.send(b"late")
    closing.close()
    assert closing.pending() == 0 and closing.send(b"more") is None
