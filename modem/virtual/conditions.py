"""Network conditions per radio technology: presets, and a seeded link shaper.

    link = Link(preset("edge"), seed="simcom-sim800/0/0")
    t = link.up.send(now, 1500)             # when 1,500 bytes sent at `now` arrive (TCP-like stream)
    t = link.down.send_datagram(now, 100)   # when a datagram arrives, or None: lost
    link.change(netspeed="gprs")            # the console, a scenario step: new conditions from now on

A `Conditions` says how one radio bearer carries bytes: uplink and downlink
throughput (bits per second, None: unlimited), a ROUND-TRIP latency range
(`rtt_min`..`rtt_max`, seconds, as a ping measures it: each direction draws a
one-way delay uniformly in half that range), a loss rate per IP packet, and
the radio legs of an SMS (`sms_min`..`sms_max`, seconds for one leg: MO
submit to the SMSC, or SMSC to the handset).

`Direction` shapes one direction of a link; it is pure arithmetic over the
times it is given (no clock is read) and its random draws come from its own
seeded generator, so the same seed and the same calls give the same times:

- serialisation: `nbytes * 8 / rate` seconds, starting when the link is free
  (bytes sent earlier are queued ahead: `busy_until`);
- latency: one one-way delay drawn per call, added after the last bit;
- order: nothing overtakes what was sent before it (arrival >= the previous
  arrival), as on an RLC acknowledged-mode bearer;
- loss, streams (`send`, TCP-like): the bytes are cut in `MTU`-sized packets;
  each is lost with probability `loss` and then costs a retransmission: its
  serialisation again plus one retransmission timeout (`Direction.rto`,
  RFC 6298: SRTT + 4 RTTVAR with SRTT the mean RTT and RTTVAR the mean
  deviation of a uniform RTT, (max - min) / 4; at least 1 s, RFC 6298 2.4);
- loss, datagrams (`send_datagram`, UDP): one draw per datagram; a lost one
  still took its air time and returns None.

Times are in whatever clock the caller uses: the virtual modem passes its
simulated `now` and schedules a timer at the arrival (`modem.schedule(t -
modem.now, fn)`); asyncio code moving real bytes passes `LoopClock.now()` and
waits with `call_at_arrival` / `sleep_until` (which map simulated to loop time), or
hands its bytes to a `ShapedPipe` that delivers them at their arrival, in order.

Presets (`PRESETS`, each figure's source in `SOURCES` and in
docs/virtual-modem.md) are chosen by the profile's RAT and 27.007 <AcT>
(`preset_for`), overridden by `virtual://` URL keys and `m2msim modem serve`
options (`net`, `netspeed`, `netdelay`, `netloss`, parsed by `conditions_from`),
and changed while running by `Link.change` (serve scenario steps, the console).
The Android emulator's `-netspeed` / `-netdelay` presets are kept in
`EMULATOR` for comparison; they are not ours.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modem.virtual.clock import LoopClock

log = logging.getLogger(__name__)

MTU = 1500  # bytes per IP packet when a stream is cut into packets for loss draws
RTO_MIN = 1.0  # RFC 6298 2.4: a retransmission timeout is at least one second


def rto_for(rtt_min: float, rtt_max: float) -> float:
    """RFC 6298's RTO for a round trip uniform in [rtt_min, rtt_max]: SRTT (the mean) + 4 RTTVAR (the
    mean deviation, (max - min) / 4), at least `RTO_MIN`."""
    return max(RTO_MIN, (rtt_min + rtt_max) / 2.0 + (rtt_max - rtt_min))


class ConditionsError(ValueError):
    """Network conditions that cannot be used (the text names the key or option and the value)."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """How a radio bearer carries bytes (see the module's docstring for the units)."""

    name: str  # the preset's name, or "custom" once a figure was overridden
    up_bps: float | None  # device -> network, bits/s; None: unlimited
    down_bps: float | None  # network -> device
    rtt_min: float  # round-trip latency range, seconds
    rtt_max: float
    loss: float = 0.0  # probability that an IP packet is lost (0..1)
    sms_min: float = 0.0  # one SMS radio leg (MO submit, or MT delivery), seconds
    sms_max: float = 0.0

    @property
    def shaped(self) -> bool:
        """False for "full": no rate limit, no latency, no loss."""
        return bool(self.up_bps or self.down_bps or self.rtt_max or self.loss)

    @property
    def rto(self) -> float:
        """The retransmission timeout of a stream on this link (see the module docstring)."""
        return rto_for(self.rtt_min, self.rtt_max)

    def describe(self) -> str:
        """One line for logs and `--check`: `edge: up 118.4 / down 236.8 kbit/s, RTT 300-1000 ms, loss 1%`."""

        def rate(bps: float | None) -> str:
            return "unlimited" if bps is None else f"{bps / 1000:g}"

        return (
            f"{self.name}: up {rate(self.up_bps)} / down {rate(self.down_bps)} kbit/s, "
            f"RTT {self.rtt_min * 1000:g}-{self.rtt_max * 1000:g} ms, loss {self.loss * 100:g}%"
        )


# One SMS radio leg on GSM: 2-3.5 s.  ETSI EMTEL at the ITU-T workshop of October 2006: mobile to
# mobile "typically 6 to 8 seconds", of which "about 1 to 2 seconds" in the SMSC, leaving 4-7 s for
# the two radio legs (MO submit, MT delivery): 2-3.5 s each.  No public per-RAT figure was found for
# UMTS or SMS over SGs/NAS (LTE, LTE-M, NB-IoT); they use the same figure (the same SMSC and MSC path).
_SMS_LEG = (2.0, 3.5)

#: name -> (up kbit/s, down kbit/s, RTT min ms, RTT max ms, loss %)
_TABLE: dict[str, tuple[float | None, float | None, float, float, float]] = {
    "gsm": (9.6, 9.6, 175.0, 550.0, 0.0),
    "gprs": (26.8, 53.6, 300.0, 1000.0, 1.0),
    "edge": (118.4, 236.8, 300.0, 1000.0, 1.0),
    "umts": (64.0, 384.0, 100.0, 500.0, 0.5),
    "hsdpa": (5760.0, 14000.0, 150.0, 400.0, 0.5),
    "lte": (50_000.0, 150_000.0, 22.0, 100.0, 0.2),
    "lte-m": (375.0, 300.0, 50.0, 130.0, 0.2),
    "nb-iot": (62.5, 26.0, 837.0, 8000.0, 0.2),
    "full": (None, None, 0.0, 0.0, 0.0),
}

#: Where every figure of `_TABLE` comes from (also the table in docs/virtual-modem.md).
SOURCES: dict[str, str] = {
    "gsm": (
        "CSD, the 9.6 kbit/s non-transparent full-rate bearer (TCH/F9.6, RLP error correction: no loss "
        "left above it). RTT: at least the 175 ms round trip the BTS alone adds on TCH/F9.6NT (Ericsson "
        "RBS reference manual, GSM 11.20 measuring method); at most 550 ms, the Android emulator's "
        "`-netdelay gsm` maximum."
    ),
    "gprs": (
        "Multislot class 10 (4 down + 2 up time slots, 5 active; class 12 modules such as the SIM800 "
        "get the same from a network that allocates 4+2) with CS-2, the usual coding scheme: 13.4 "
        "kbit/s per slot (TS 45.003 radio block sizes; module hardware manuals' CS-1..CS-4 table: 9.05 "
        "/ 13.4 / 15.6 / 21.4) -> 4 x 13.4 = 53.6 down, 2 x 13.4 = 26.8 up. RTT 300-1000 ms: 2G in "
        "I. Grigorik, High Performance Browser Networking, table 7-2. Loss 1%: GPRS in Loadero's "
        "network-condition presets."
    ),
    "edge": (
        "EGPRS multislot class 10 with MCS-9, 59.2 kbit/s per slot (module manuals' MCS-1..MCS-9 "
        "table): 4 x 59.2 = 236.8 down, 2 x 59.2 = 118.4 up (the figures of the Android emulator's "
        "first `edge` preset). RTT 300-1000 ms: 2G in Grigorik table 7-2. Loss 1%: Loadero's Edge."
    ),
    "umts": (
        "Release 99 packet bearer 64 kbit/s up / 384 kbit/s down (the 384 kbit/s DCH the emulator's "
        "`umts` preset uses down). RTT 100-500 ms: 3G in Grigorik table 7-2. Loss 0.5%: Loadero's 3G."
    ),
    "hsdpa": (
        "HSDPA category 10 (14.0 Mbit/s, TS 25.306) down, HSUPA category 6 (5.76 Mbit/s) up: the "
        "Android emulator's `hsdpa` preset (703.1 / 1706.5 KiB/s). RTT 150-400 ms: AT&T's 3G figure "
        "quoted by P. Meenan (High Performance Mobile Web). Loss 0.5%: Loadero's 3.5G/HSPDA."
    ),
    "lte": (
        "Category 4 (TS 36.306): 150 Mbit/s down, 50 Mbit/s up (the EG25-G's class). RTT: 22 ms, the "
        "expected LTE ping with one retransmission (Holma & Toskala, LTE for UMTS, 11.11), to 100 ms, "
        "4G in Grigorik table 7-2. Loss 0.2%: Loadero's 4G."
    ),
    "lte-m": (
        "Cat-M1 half-duplex FDD with scheduling delays: 300 kbit/s down, 375 kbit/s up (Release 13, "
        "1,000-bit transport blocks, TS 36.306; rfwireless-world's Cat-M1 figures). RTT 50-130 ms: twice "
        "the 10-15 ms Cat-M1 latency of Keysight's NB-IoT and LTE Cat-M1 field-measurement note, plus "
        "the 30-100 ms core network latency of Grigorik chapter 7. Loss 0.2%: Loadero's 4G (no "
        "separate public figure found)."
    ),
    "nb-iot": (
        "Cat-NB1 (Release 13): ~26 kbit/s down, ~62.5 kbit/s up (multi-tone), Haltian's NB1/NB2 "
        "comparison (NB2, Release 14: ~127 / ~159 kbit/s). RTT 0.837-8 s: 837 ms measured by Ugwuanyi, "
        "Paul and Irvine (Electronics 10(18) 2224, 2021) to Keysight's ~8 s upper latency (3GPP's "
        "target: < 10 s). Loss 0.2%: Loadero's 4G (no separate public figure found)."
    ),
    "full": "No shaping: no rate limit, no latency, no loss (also `off`).",
}

#: The Android emulator's `-netspeed` / `-netdelay` presets, for comparison (not used by the shaper):
#: name -> (up kbit/s, down kbit/s, delay min ms, delay max ms).  Speeds as its `-help-netspeed`
#: lists them in KiB/s, converted (1.8 KiB/s = 14.4 kbit/s); delays as `-help-netdelay` lists them.
#: Its older table (platform/external/qemu android-constants.c, Android 5.1) had gprs 40/80,
#: edge 118.4/236.8, umts 128/1920 kbit/s and delays gprs 150-550, edge 80-400, umts 35-200 ms.
EMULATOR: dict[str, tuple[float, float, float, float]] = {
    "gsm": (14.4, 14.4, 150.0, 550.0),
    "hscsd": (14.4, 57.6, 80.0, 400.0),
    "gprs": (28.8, 57.6, 35.0, 200.0),
    "edge": (473.6, 473.6, 80.0, 400.0),
    "umts": (384.0, 384.0, 35.0, 200.0),
    "hsdpa": (5760.0, 13980.0, 0.0, 0.0),
    "lte": (58_000.0, 173_000.0, 0.0, 0.0),
    "evdo": (75_000.0, 280_000.0, 0.0, 0.0),
}


def _build(name: str) -> Conditions:
    up, down, lo, hi, loss = _TABLE[name]
    sms = (0.0, 0.0) if name == "full" else _SMS_LEG
    return Conditions(
        name,
        None if up is None else up * 1000.0,
        None if down is None else down * 1000.0,
        lo / 1000.0,
        hi / 1000.0,
        loss / 100.0,
        sms[0],
        sms[1],
    )


PRESETS: dict[str, Conditions] = {name: _build(name) for name in _TABLE}
ALIASES = {"off": "full", "none": "full"}
FULL = PRESETS["full"]


def preset_names() -> list[str]:
    return list(PRESETS) + list(ALIASES)


def preset(name: str, option: str = "net") -> Conditions:
    """The preset called `name` (case-insensitive; `off`/`none` are `full`), else `ConditionsError`."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return PRESETS[key]
    except KeyError:
        raise ConditionsError(
            f"{option}={name!r}: unknown preset; known: {', '.join(preset_names())}"
        ) from None


def preset_for(rat: str, act: int = 0) -> str:
    """The preset of a profile's packet bearer from its RAT (geran / utran / eutran) and 27.007 <AcT>.

    GERAN: gprs (AcT 3, "GSM w/EGPRS": edge).  UTRAN: umts (AcT 4-6, HSDPA/HSUPA: hsdpa).
    E-UTRAN: lte (AcT 8, LTE-M as Quectel reports it: lte-m; AcT 9, NB-S1 mode: nb-iot).
    """
    if rat == "geran":
        return "edge" if act == 3 else "gprs"
    if rat == "utran":
        return "hsdpa" if act in (4, 5, 6) else "umts"
    if rat == "eutran":
        return {8: "lte-m", 9: "nb-iot"}.get(act, "lte")
    raise ConditionsError(f"rat {rat!r}: expected geran, utran or eutran")


# ----- parsing keys and options ---------------------------------------------------------------------

MAX_KBPS = 10_000_000.0  # 10 Gbit/s
MAX_DELAY_MS = 600_000.0  # ten minutes


def _number(part: str, text: str, option: str, what: str, maximum: float) -> float:
    try:
        value = float(part)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value > maximum:
        raise ConditionsError(
            f"{option}={text!r}: expected {what} (0..{maximum:g}) or a preset: {', '.join(preset_names())}"
        )
    return value


def _is_name(text: str) -> bool:
    key = text.strip().lower()
    return key in PRESETS or key in ALIASES


def _pair(text: str, option: str, unit: str, maximum: float, names: str) -> tuple[float, float]:
    """`A` (both the same) or `A:B`, each a number 0..maximum; `names` and `unit` name them in errors."""
    a_s, sep, b_s = text.partition(":")
    what = f"{names} {unit}" if sep else unit
    a = _number(a_s, text, option, what, maximum)
    return a, (_number(b_s, text, option, what, maximum) if sep else a)


def parse_netspeed(text: str, option: str = "netspeed") -> tuple[float | None, float | None]:
    """(up, down) bits/s from `edge`, `full`, `<kbps>` (both ways) or `<up>:<down>` kbit/s; 0 is unlimited."""
    if _is_name(text):
        p = preset(text, option)
        return p.up_bps, p.down_bps
    up, down = _pair(text, option, "kbit/s", MAX_KBPS, "UP:DOWN")
    return (up * 1000.0 or None), (down * 1000.0 or None)


def parse_netdelay(text: str, option: str = "netdelay") -> tuple[float, float]:
    """(min, max) round trip in seconds from `gprs`, `none`, `<ms>` (exact) or `<min>:<max>` ms."""
    if _is_name(text):
        p = preset(text, option)
        return p.rtt_min, p.rtt_max
    lo, hi = _pair(text, option, "round trip in ms", MAX_DELAY_MS, "MIN:MAX")
    if hi < lo:
        raise ConditionsError(f"{option}={text!r}: the maximum is below the minimum")
    return lo / 1000.0, hi / 1000.0


def parse_netloss(text: str, option: str = "netloss") -> float:
    """Packet loss from a percentage: `1` or `1%` is 1%, `0` none."""
    value = _number(text.strip().removesuffix("%"), text, option, "a loss percentage", 100.0)
    return value / 100.0


def conditions_from(
    base: Conditions,
    *,
    net: str | None = None,
    netspeed: str | None = None,
    netdelay: str | None = None,
    netloss: str | None = None,
    prefix: str = "",
) -> Conditions:
    """`base` with the given keys applied: `net` a whole preset first, then each figure on its own.

    `prefix` goes before the key names in errors ("--" for command-line options).
    """
    c = base
    if net:
        c = preset(net, prefix + "net")
    changed = False
    if netspeed:
        up, down = parse_netspeed(netspeed, prefix + "netspeed")
        c = replace(c, up_bps=up, down_bps=down)
        changed = True
    if netdelay:
        lo, hi = parse_netdelay(netdelay, prefix + "netdelay")
        c = replace(c, rtt_min=lo, rtt_max=hi)
        changed = True
    if netloss:
        c = replace(c, loss=parse_netloss(netloss, prefix + "netloss"))
        changed = True
    if changed and c.name != "custom" and c != PRESETS.get(c.name):
        c = replace(c, name="custom")
    return c


# ----- the shaper -----------------------------------------------------------------------------------


class Direction:
    """One direction of a link: when bytes sent at a time arrive (see the module docstring)."""

    __slots__ = (
        "_rng",
        "_seed",
        "busy_until",
        "delay_max",
        "delay_min",
        "last_arrival",
        "loss",
        "lost",
        "rate_bps",
        "rto",
    )

    def __init__(self, rate_bps: float | None, rtt: tuple[float, float], loss: float, seed: str) -> None:
        self._seed = seed
        self._rng: random.Random | None = (
            None  # made at the first draw: a modem that sends nothing pays nothing
        )
        self.busy_until = -math.inf
        self.last_arrival = -math.inf
        self.rate_bps = rate_bps
        self.delay_min = self.delay_max = self.loss = self.rto = 0.0
        self.lost = 0  # packets of the last `send` lost on the air and sent again
        self.configure(rate_bps, rtt, loss)

    def configure(self, rate_bps: float | None, rtt: tuple[float, float], loss: float) -> None:
        """New figures for what is sent from now on (what is queued keeps its times)."""
        self.rate_bps = rate_bps or None
        self.delay_min, self.delay_max = rtt[0] / 2.0, rtt[1] / 2.0
        self.loss = loss
        self.rto = rto_for(rtt[0], rtt[1])

    @property
    def rng(self) -> random.Random:
        """This direction's seeded generator (latency and loss draws)."""
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def serialisation(self, nbytes: int) -> float:
        """Seconds the link takes to carry `nbytes` (0 when unlimited)."""
        return nbytes * 8.0 / self.rate_bps if self.rate_bps else 0.0

    def _delay(self) -> float:
        if self.delay_max <= self.delay_min:
            return self.delay_min
        return self.rng.uniform(self.delay_min, self.delay_max)

    def _occupy(self, now: float, nbytes: int) -> float:
        start = now if now > self.busy_until else self.busy_until
        end = start + self.serialisation(nbytes)
        self.busy_until = end
        return end

    def _arrive(self, t: float) -> float:
        if t < self.last_arrival:
            t = self.last_arrival
        self.last_arrival = t
        return t

    def send(self, now: float, nbytes: int) -> float:
        """A stream's `nbytes` (IP bytes) handed to the link at `now`: when the last one arrives.

        Lost packets are retransmitted: each costs its serialisation again and one `rto` (`lost`:
        how many were).
        """
        end = self._occupy(now, nbytes)
        self.lost = 0
        if self.loss > 0.0 and nbytes > 0:
            packets = -(-nbytes // MTU)
            rng = self.rng
            for i in range(packets):
                if rng.random() < self.loss:
                    self.lost += 1
                    size = MTU if i < packets - 1 else nbytes - MTU * (packets - 1)
                    end = self._occupy(end + self.rto, size)
        return self._arrive(end + self._delay())

    def send_datagram(self, now: float, nbytes: int) -> float | None:
        """A datagram of `nbytes` handed to the link at `now`: when it arrives, None if lost."""
        end = self._occupy(now, nbytes)
        if self.loss > 0.0 and self.rng.random() < self.loss:
            return None
        return self._arrive(end + self._delay())

    def idle_at(self) -> float:
        """When the bytes queued so far have left (-inf: nothing was ever sent)."""
        return self.busy_until


class Link:
    """A radio bearer's two directions, seeded: `up` (device -> network) and `down`, plus SMS legs."""

    __slots__ = ("_conditions", "_sms_rng", "down", "on_change", "seed", "up")

    def __init__(self, conditions: Conditions, seed: str | int = 0) -> None:
        self.seed = seed  # what derived links (a CSD circuit) seed from
        self._conditions = conditions
        self.up = Direction(
            conditions.up_bps,
            (conditions.rtt_min, conditions.rtt_max),
            conditions.loss,
            f"{seed}/link/up",
        )
        self.down = Direction(
            conditions.down_bps,
            (conditions.rtt_min, conditions.rtt_max),
            conditions.loss,
            f"{seed}/link/down",
        )
        self._sms_rng: random.Random | None = None
        #: called with the new conditions after each change (logs, the console's display)
        self.on_change: Callable[[Conditions], None] | None = None

    @property
    def conditions(self) -> Conditions:
        return self._conditions

    def set_conditions(self, conditions: Conditions) -> None:
        """Apply `conditions` to what is sent from now on (the console, a scenario step)."""
        self._conditions = conditions
        rtt = (conditions.rtt_min, conditions.rtt_max)
        self.up.configure(conditions.up_bps, rtt, conditions.loss)
        self.down.configure(conditions.down_bps, rtt, conditions.loss)
        log.info("link %s: %s", self.seed, conditions.describe())
        if self.on_change is not None:
            self.on_change(conditions)

    def change(
        self,
        *,
        net: str | None = None,
        netspeed: str | None = None,
        netdelay: str | None = None,
        netloss: str | None = None,
    ) -> Conditions:
        """Parse and apply keys as `conditions_from` does, from the current conditions; returns them."""
        c = conditions_from(self._conditions, net=net, netspeed=netspeed, netdelay=netdelay, netloss=netloss)
        self.set_conditions(c)
        return c

    def rtt(self, now: float, nbytes_up: int, nbytes_down: int) -> float:
        """Round trip of a request of `nbytes_up` answered at once by `nbytes_down`: arrival back - now."""
        there = self.up.send(now, nbytes_up)
        return self.down.send(there, nbytes_down) - now

    def sms_leg(self) -> float:
        """Seconds of one SMS radio leg (MO submit to the SMSC, or SMSC to the handset)."""
        c = self._conditions
        if c.sms_max <= c.sms_min:
            return c.sms_min
        if self._sms_rng is None:
            self._sms_rng = random.Random(f"{self.seed}/link/sms")
        return self._sms_rng.uniform(c.sms_min, c.sms_max)


# ----- asyncio, real time ---------------------------------------------------------------------------


def call_at_arrival(clock: LoopClock, t: float, fn: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
    """Run `fn(*args)` on the clock's loop when simulated time `t` (an arrival) is reached (to the
    loop's clock resolution)."""
    return clock.loop.call_at(clock.loop_time(t), fn, *args)


async def sleep_until(clock: LoopClock, t: float) -> None:
    """Wait until simulated time `t` (an arrival) on `clock`; returns at once if it is past."""
    # the loop may wake a callback up to its clock resolution early: wait again for what is left
    while (delay := clock.loop_time(t) - clock.loop.time()) > 0:
        await asyncio.sleep(delay)


class ShapedPipe:
    """Real bytes through one direction of a link, on an event loop: `send(data)` now, `sink(data)`
    at its arrival, in the order sent (a lost datagram never reaches `sink`).

        up = ShapedPipe(modem.link.up, clock, forward_to_server)             # a TCP-like stream
        up = ShapedPipe(modem.link.up, clock, forward_packet, datagrams=True)  # IP packets, may drop

    `size` is what the link carries for `data` (IP bytes, headers included; default `len(data)`).
    With no shaping (`full`) `sink` still runs from the loop, never inside `send`.
    """

    def __init__(
        self,
        direction: Direction,
        clock: LoopClock,
        sink: Callable[[bytes], None],
        *,
        datagrams: bool = False,
    ) -> None:
        self.direction = direction
        self.clock = clock
        self.sink = sink
        self.datagrams = datagrams
        self.lost = 0  # datagrams the link dropped
        self._queue: deque[tuple[float, bytes]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self.closed = False

    def send(self, data: bytes, size: int | None = None) -> float | None:
        """Hand `data` to the link now; its arrival time (simulated), None if lost or closed."""
        if self.closed:
            return None
        n = len(data) if size is None else size
        now = self.clock.now()
        if self.datagrams:
            arrival = self.direction.send_datagram(now, n)
            if arrival is None:
                self.lost += 1
                return None
        else:
            arrival = self.direction.send(now, n)
        self._queue.append((arrival, data))
        if self._handle is None:
            self._arm()
        return arrival

    def pending(self) -> int:
        """Bytes sent and not yet delivered."""
        return sum(len(d) for _, d in self._queue)

    def close(self) -> None:
        """Deliver nothing more (what is in flight is dropped: the connection is gone)."""
        self.closed = True
        self._queue.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        self._handle = call_at_arrival(self.clock, self._queue[0][0], self._deliver)

    def _deliver(self) -> None:
        self._handle = None
        now = self.clock.now()
        queue = self._queue
        # the loop may run a callback up to its clock resolution early: deliver what is due within it
        while queue and queue[0][0] <= now + 1e-6 * self.clock.speed:
            self.sink(queue.popleft()[1])
            if self.closed:
                return
        if queue:
            self._arm()
