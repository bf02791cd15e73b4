"""The bench's link measurement (`attach_and_send`'s `link` section) against the network conditions."""

from __future__ import annotations

import pytest

from hil.bench import run_bench
from hil.linkcheck import HOST_ALLOWANCE_S, compare, expected_air_s, handshake_s
from modem.virtual.conditions import conditions_from, preset
from modem.virtual.netlink import HEADER


@pytest.mark.parametrize(
    ("url", "size"),
    [
        ("virtual://simcom-sim800?net=gsm&netloss=0&speed=4", 1000),  # 9.6 kbit/s, in one send
        ("virtual://quectel-bg96?net=edge&netdelay=300:400&speed=2", 20_000),  # 14 sends, lossy
    ],
)
async def test_attach_and_send_measures_the_link_within_the_tolerance(url: str, size: int) -> None:
    result = await run_bench("attach_and_send", url, params={"bytes": size}, timeout=30.0)
    assert result.status == "passed", result.error
    link = result.details["link"]
    assert link["within_tolerance"] is True, link
    assert "throughput_not_checked" not in link  # the air time exceeds the latency spread here
    assert link["rtt_expected_ms"][0] <= link["rtt_ms"]
    assert link["throughput_kbps"] == pytest.approx(link["throughput_expected_kbps"], rel=0.5)


def test_expected_air_time_of_one_burst_and_of_pipelined_chunks() -> None:
    gsm = preset("gsm")
    one = expected_air_s(gsm, 1000, 1460)
    assert one == pytest.approx(2 * (1000 + HEADER) * 8 / 9600)
    # two chunks: the first one's echo comes down while the second goes up
    two = expected_air_s(gsm, 1000, 500)
    assert two == pytest.approx(2 * (500 + HEADER) * 8 / 9600 + (500 + HEADER) * 8 / 9600)
    assert two < one + HEADER * 8 * 2 / 9600


def test_compare_flags_what_is_outside_and_says_what_it_cannot_check() -> None:
    c = conditions_from(preset("gsm"), netdelay="600", netloss="0")
    hs = handshake_s(c)
    air = expected_air_s(c, 1000, 1460)
    good = compare(c, 1000, 1460, 0.6 + hs, air + 0.6, 1.0)
    # 600 ms, and the handshake's air time: SYN and ACK 92 B up, SYN-ACK 52 B down at 9.6 kbit/s
    assert good["within_tolerance"] is True and good["rtt_expected_ms"] == [720.0, 720.0]
    assert good["throughput_kbps"] == good["throughput_expected_kbps"] == 4.62
    slow = compare(c, 1000, 1460, 0.6 + hs, air + 0.6 + HOST_ALLOWANCE_S + 0.1, 1.0)
    assert slow["within_tolerance"] is False and slow["outside"] == ["throughput"]
    early = compare(c, 1000, 1460, 0.3, None, 1.0)
    assert early["outside"] == ["rtt"] and "air_s" not in early
    lte = compare(preset("lte"), 1000, 1460, 0.05, 0.06, 1.0)
    assert lte["within_tolerance"] is True and "latency spread (78 ms)" in lte["throughput_not_checked"]
    unknown = compare(None, 1000, 1460, 0.05, 0.5, 1.0)
    assert unknown["preset"] is None and "within_tolerance" not in unknown
