"""What `attach_and_send` measures of the data link, compared with the network conditions' preset.

- RTT: the `open` step (AT+CIPSTART / AT+QIOPEN to the connection's result): one TCP handshake,
  80 IP bytes up and 40 down (`modem.virtual.netlink`'s header model).
- Throughput: the payload's bits over the echo's air time, i.e. the time from the start of `send` to
  the whole echo, less the latency of the measured RTT (the RTT less its handshake's air time at the
  preset's rates).  For one burst that
  is the preset's 1 / (1/up + 1/down) with the TCP/IP headers; the expected air time is computed
  with the preset's rates for the driver's chunks (`driver.tcp.max_send`) sent back to back.

The preset is the virtual modem's conditions (its URL keys, else its profile's radio), or on a
physical modem the preset of its profile's radio (`modem.virtual.conditions.preset_for`), when a
virtual profile of that name exists.  Times are measured on the host's monotonic clock, times the
virtual modem's `speed` (simulated seconds per real second), so they are in the modem's time.

Tolerance (checked on the virtual modem, reported on a physical one): the RTT lies in the preset's
round-trip range plus the handshake's serialisation, widened by `HOST_ALLOWANCE_S` of host time
(the AT exchanges) and, when the preset loses packets, by `retries_allowed` retransmission
timeouts (the expected losses plus three standard deviations, plus one); the air time lies within
the expected one +- the preset's latency spread (max - min: independent draws) +-
`HOST_ALLOWANCE_S`, widened upwards likewise by the retransmissions allowed for its packets.  When the expected air time is shorter than the latency spread (fast
links, small payloads) the throughput is reported but not checked: the latency hides it.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from modem.virtual.conditions import MTU, Conditions, Link, preset, preset_for
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP, HEADER, segments

if TYPE_CHECKING:
    from hil.bench import BenchContext

HOST_ALLOWANCE_S = 0.25  # host time the AT exchanges of a step may add (pty or in-process transport)


class LinkClock:
    """Seconds on the modem's time scale: monotonic host time, times the virtual modem's speed."""

    def __init__(self, bench: BenchContext) -> None:
        self.scale = 1.0
        if bench.virtual:
            from modem.virtual.transport import parse_virtual_url

            inner = bench.url
            while inner.startswith("spy://"):
                inner = inner[len("spy://") :]
            self.scale = parse_virtual_url(inner).speed

    def now(self) -> float:
        return time.monotonic() * self.scale


def expected_conditions(bench: BenchContext) -> Conditions | None:
    """The conditions the link should show (see the module docstring), None when unknown."""
    if bench.binding is not None:
        return bench.binding.modem.link.conditions
    from m2msim.yamlio import YamlError
    from modem.profiles import load_profile

    try:
        profile = load_profile(bench.modem.profile.name)
    except (YamlError, ValueError, OSError):
        return None
    return preset(preset_for(profile.rat, profile.act))


def expected_air_s(c: Conditions, size: int, chunk: int) -> float:
    """Seconds the preset's rates take to carry `size` bytes up in `chunk`-byte sends and echo them back."""
    link = Link(replace(c, rtt_min=0.0, rtt_max=0.0, loss=0.0))
    last = 0.0
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        ip = n + HEADER * segments(n)
        last = link.down.send(link.up.send(0.0, ip), ip)
    return last


def retries_allowed(c: Conditions, packets: int) -> int:
    """Retransmissions the tolerance allows for `packets` IP packets: 0 on a lossless link, else the
    expected number of losses plus three standard deviations (Poisson), plus one."""
    if c.loss <= 0:
        return 0
    mean = packets * c.loss
    return math.ceil(mean + 3 * math.sqrt(mean)) + 1


def echo_packets(size: int, chunk: int) -> int:
    """IP packets of an echo of `size` bytes sent in `chunk`-byte sends, both ways."""
    return 2 * sum(
        -(-(min(chunk, size - s) + HEADER * segments(min(chunk, size - s))) // MTU)
        for s in range(0, size, chunk)
    )


def handshake_s(c: Conditions) -> float:
    """Air time of a TCP handshake's packets at the preset's rates."""
    up = HANDSHAKE_UP * 8 / c.up_bps if c.up_bps else 0.0
    return up + (HANDSHAKE_DOWN * 8 / c.down_bps if c.down_bps else 0.0)


def compare(
    c: Conditions | None, size: int, chunk: int, rtt_s: float, echo_s: float | None, scale: float
) -> dict[str, Any]:
    """The bench result's `link` section: measured figures, the preset's, and whether they agree."""
    out: dict[str, Any] = {"rtt_ms": round(rtt_s * 1000.0, 1)}
    handshake = handshake_s(c) if c is not None else 0.0
    # the echo less the round trip's latency (the RTT less its handshake's own air time)
    air = None if echo_s is None or not size else echo_s - (rtt_s - handshake)
    if air is not None:
        out["air_s"] = round(air, 4)
        out["throughput_kbps"] = round(size * 8 / air / 1000.0, 2) if air > 0 else None
    if c is None:
        out["preset"] = None
        return out
    allowance = HOST_ALLOWANCE_S * scale
    low, high = c.rtt_min + handshake, c.rtt_max + handshake
    out.update(
        preset=c.name,
        conditions=c.describe(),
        rtt_expected_ms=[round(low * 1000.0, 1), round(high * 1000.0, 1)],
    )
    checks = {"rtt": low - 1e-6 <= rtt_s <= high + retries_allowed(c, 3) * c.rto + allowance}
    if air is not None:
        spread = c.rtt_max - c.rtt_min
        expected = expected_air_s(c, size, chunk)
        out["air_expected_s"] = round(expected, 4)
        out["throughput_expected_kbps"] = round(size * 8 / expected / 1000.0, 2) if expected > 0 else None
        if expected > spread:
            retry = retries_allowed(c, echo_packets(size, chunk)) * c.rto
            checks["throughput"] = (
                expected - spread - allowance <= air <= expected + spread + retry + allowance
            )
        else:
            out["throughput_not_checked"] = (
                f"the latency spread ({spread * 1000:g} ms) exceeds the expected air time "
                f"({expected * 1000:.3g} ms)"
            )
    out["within_tolerance"] = all(checks.values())
    if not out["within_tolerance"]:
        out["outside"] = sorted(k for k, ok in checks.items() if not ok)
    return out
