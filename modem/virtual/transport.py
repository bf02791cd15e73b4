"""The virtual modem on an asyncio loop: the runner, the in-process transport, and `virtual://` URLs.

    virtual://PROFILE?seed=3&index=0&plmn=20610&sim_busy=2&fail=+CMGS:cms:500
    virtual://quectel-bg96?netspeed=edge&netdelay=150:550&netloss=0

Query keys: `seed`, `index` (which modem of a fleet: its identity), `plmn`
(serving network; another country's PLMN makes the modem roam), `csq`
(`rssi,ber`), `speed` (simulated seconds per real second), `pin` (the SIM
asks for this PIN: +CPIN: SIM PIN until AT+CPIN="<pin>"), `internet` (a YAML
file: the Internet table and destination policy of `gateway.internet`), the
network conditions `net` (a preset: gsm, gprs, edge, umts, hsdpa, lte, lte-m,
nb-iot, full/off; default: the profile's radio), `netspeed` (a preset, kbit/s or
UP:DOWN kbit/s), `netdelay` (a preset, round-trip ms or MIN:MAX ms),
`netloss` (percent) of `modem.virtual.conditions`, `ip` (where PPP's IP goes: `user`, the
user-space forwarder, the default; `tun`, a TUN device in a network namespace, as root;
`auto`, tun when it can be made, else user) with `netns` (the namespace's name, default
`m2msim-<pid>-<n>`: made when the modem starts, removed when the transport closes; an existing one is
joined and kept), and every fault key of `modem.virtual.faults`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from gateway.api import DEFAULT_INTERNET, load_internet
from m2msim.yamlio import YamlError
from modem.at.errors import TransportError
from modem.options import MAX_SEED
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import ConditionsError, conditions_from, preset, preset_for
from modem.virtual.core import RadioSettings, VirtualModem
from modem.virtual.faults import FaultError, fault_keys, make_faults
from modem.virtual.netio import LoopSockets
from modem.virtual.ppp.netns import check_name
from modem.virtual.ppp.tun import IP_CHOICES, TunNetwork, default_namespace, tun_unavailable

if TYPE_CHECKING:
    from gateway.api import NetworkAPI

log = logging.getLogger(__name__)


class VirtualUrlError(TransportError):
    """A `virtual://` URL that cannot be served (unknown profile, bad query)."""


@dataclass(frozen=True, slots=True)
class VirtualSpec:
    """What a `virtual://` URL asks for."""

    profile: str
    seed: int = 0
    index: int = 0
    plmn: str = ""
    csq: tuple[int, int] | None = None
    speed: float = 1.0
    pin: str | None = None
    faults: tuple[tuple[str, str], ...] = ()
    internet: str = ""  # the Internet table's file (empty: the built-in table)
    net: tuple[tuple[str, str], ...] = ()  # net, netspeed, netdelay, netloss as given
    ip_path: str = "user"  # PPP's IP: user (the forwarder), tun or auto (modem.virtual.ppp.tun)
    netns: str = ""  # the TUN path's namespace (empty: m2msim-<pid>-<n>)


NET_KEYS = ("net", "netspeed", "netdelay", "netloss")
_OWN_KEYS = ("seed", "index", "plmn", "csq", "speed", "pin", "internet", "ip", "netns", *NET_KEYS)
MAX_INDEX = 999_999  # a fleet's modem number
MAX_SPEED = 1e6


def parse_virtual_url(url: str) -> VirtualSpec:
    parts = urlsplit(url)
    if parts.scheme != "virtual" or not parts.netloc:
        raise VirtualUrlError(f"{url}: expected virtual://PROFILE[?key=value&...]")
    values: dict[str, str] = {}
    faults: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN_KEYS:
            values[key] = value
        elif key in fault_keys():
            faults.append((key, value))
        else:
            known = ", ".join((*_OWN_KEYS, *fault_keys()))
            raise VirtualUrlError(f"{url}: unknown query key {key!r}; known: {known}")

    def bad(key: str, expected: str) -> VirtualUrlError:
        return VirtualUrlError(f"{url}: {key}={values[key]!r}: expected {expected}")

    def whole(key: str, low: int, high: int) -> int:
        text = values.get(key, str(low))
        if not text.isdigit() or not low <= int(text) <= high:
            raise bad(key, f"a whole number {low}..{high}")
        return int(text)

    csq = None
    if "csq" in values:
        rssi, _, ber = values["csq"].partition(",")
        if not (rssi.isdigit() and ber.isdigit()):
            raise bad("csq", "rssi,ber (e.g. 20,0)")
        csq = (int(rssi), int(ber))
        if not (csq[0] <= 31 or csq[0] == 99) or not (csq[1] <= 7 or csq[1] == 99):
            raise bad("csq", "rssi 0-31 or 99, ber 0-7 or 99")
    try:
        speed = float(values.get("speed", "1.0"))
    except ValueError:
        speed = math.nan
    if not math.isfinite(speed) or not 0 < speed <= MAX_SPEED:
        raise bad("speed", f"simulated seconds per real second, more than 0 and at most {MAX_SPEED:g}")
    pin = values.get("pin") or None
    if pin is not None and (not pin.isdigit() or not 4 <= len(pin) <= 8):
        raise bad("pin", "a SIM PIN of 4 to 8 digits")
    ip_path = values.get("ip", "user")
    if ip_path not in IP_CHOICES:
        raise bad("ip", " or ".join(IP_CHOICES))
    if "netns" in values:
        try:
            check_name(values["netns"])
        except ValueError as exc:
            raise VirtualUrlError(f"{url}: netns={exc}") from None
        if ip_path == "user":
            raise VirtualUrlError(f"{url}: netns is for ip=tun or ip=auto")
    spec = VirtualSpec(
        profile=parts.netloc,
        seed=whole("seed", 0, MAX_SEED),
        index=whole("index", 0, MAX_INDEX),
        plmn=values.get("plmn", ""),
        csq=csq,
        speed=speed,
        pin=pin,
        faults=tuple(faults),
        internet=values.get("internet", ""),
        net=tuple((k, values[k]) for k in NET_KEYS if k in values),
        ip_path=ip_path,
        netns=values.get("netns", ""),
    )
    try:
        conditions_from(preset("full"), **dict(spec.net))
    except ConditionsError as exc:
        raise VirtualUrlError(f"{url}: {exc}") from None
    if spec.plmn and (not spec.plmn.isdigit() or len(spec.plmn) not in (5, 6)):
        raise VirtualUrlError(f"{url}: plmn must be MCC+MNC (5 or 6 digits), got {spec.plmn!r}")
    return spec


def build_modem(
    spec: VirtualSpec, network: NetworkAPI | None = None, now: float = 0.0, epoch: datetime | None = None
) -> VirtualModem:
    """A VirtualModem as `spec` says; VirtualUrlError names what is wrong."""
    try:
        profile = load_profile(spec.profile)
        faults = make_faults(dict(spec.faults), make_faults(profile.faults))
        internet = load_internet(spec.internet) if spec.internet else DEFAULT_INTERNET
        conditions = conditions_from(preset(preset_for(profile.rat, profile.act)), **dict(spec.net))
    except ConditionsError as exc:
        raise VirtualUrlError(f"virtual://{spec.profile}: {exc}") from exc
    except YamlError as exc:
        raise VirtualUrlError(str(exc)) from exc
    except FaultError as exc:
        raise VirtualUrlError(f"virtual://{spec.profile}: {exc}") from exc
    return VirtualModem(
        profile,
        network=network,
        seed=spec.seed,
        index=spec.index,
        faults=faults,
        radio=RadioSettings(plmn=spec.plmn, csq=spec.csq),
        now=now,
        epoch=epoch,
        pin=spec.pin,
        internet=internet,
        conditions=conditions,
    )


class ModemRunner:
    """Drives a VirtualModem on an event loop: input now, output to `sink`, timers at their time."""

    def __init__(self, modem: VirtualModem, clock: LoopClock, sink: Callable[[bytes], None]) -> None:
        self.modem = modem
        self.clock = clock
        self.sink = sink
        self._handle: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self.closed = False
        #: called after every output flush (the control console's `wait` checks its states there)
        self.observer: Callable[[], None] | None = None
        self._now = clock.now
        self._answer = modem.answer
        self.sockets = LoopSockets(clock.loop, modem.tcp, self.run_now, clock.speed)
        modem.tcp.io = self.sockets  # the stacks' sockets to real endpoints live on this loop
        modem.external = self.run_now  # and the PPP forwarder's host sockets
        self._flush()

    def feed(self, data: bytes) -> None:
        now = self._now()
        out = self._answer(data, now)  # a poller's repeated line: its memoised answer, nothing else to do
        if out is None:
            self.modem.feed(data, now)
            self._flush()
            return
        if out and not self.closed:
            self.sink(out)
        if self.observer is not None:
            self.observer()

    def kick(self) -> None:
        """Run what is due now and send its output (after the modem was changed from outside)."""
        self.modem.changed()
        self.modem.poll(self.clock.now())
        self._flush()

    def run_now(self, fn: Callable[[], None]) -> None:
        """Run `fn` (a real socket's event) with the modem's clock at this moment, then flush."""
        if self.closed:
            return
        self.modem.poll(self.clock.now())
        fn()
        self.modem.changed()
        self._flush()

    def _tick(self) -> None:
        self._handle = None
        due = self._armed
        self._armed = None
        now = self.clock.now()
        self.modem.poll(max(now, due) if due is not None else now)
        self._flush()

    def _flush(self) -> None:
        if self.closed:
            return
        out = self.modem.take_output()
        if out:
            self.sink(out)
        if self.observer is not None:
            self.observer()
        deadline = self.modem.next_deadline()
        if deadline == self._armed:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed = deadline
        if deadline is not None:
            self._handle = self.clock.loop.call_at(self.clock.loop_time(deadline), self._tick)

    def close(self) -> None:
        self.closed = True
        self.sockets.close_all()
        if self.modem.ppp is not None:  # the PPP forwarder's host sockets too (none are left open)
            self.modem.ppp.close_io()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class VirtualTransport:
    """`modem.transport.Transport` for an in-process virtual modem."""

    def __init__(
        self,
        url: str,
        modem_factory: Callable[[float], VirtualModem],
        speed: float = 1.0,
        tun_opener: Callable[[], TunNetwork | None] | None = None,
    ) -> None:
        self.url = url
        self._factory = modem_factory
        self._speed = speed
        self._tun_opener = tun_opener
        self.tun: TunNetwork | None = None  # the TUN path's device and namespace, made with the modem
        self._runner: ModemRunner | None = None
        self._buf = bytearray()
        self._ready: asyncio.Event | None = None
        self._closed = False

    @property
    def modem(self) -> VirtualModem:
        return self._ensure().modem

    @property
    def time_scale(self) -> float:
        """Real seconds per simulated second (`modem.transport.time_scale`): 1 / `speed`."""
        return 1.0 / self._speed

    def _ensure(self) -> ModemRunner:
        if self._runner is None:
            loop = asyncio.get_running_loop()
            self._ready = asyncio.Event()
            clock = LoopClock(loop, 0.0, self._speed)
            modem = self._factory(clock.now())
            if self._tun_opener is not None:
                self.tun = modem.tun = self._tun_opener()
            self._runner = ModemRunner(modem, clock, self._sink)
        return self._runner

    def _sink(self, data: bytes) -> None:
        self._buf += data
        if self._ready is not None:
            self._ready.set()

    async def read(self) -> bytes:
        self._ensure()
        assert self._ready is not None
        while not self._buf:
            if self._closed:
                return b""
            self._ready.clear()
            await self._ready.wait()
        data = bytes(self._buf)
        self._buf.clear()
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportError(f"{self.url}: closed")
        self._ensure().feed(data)

    async def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.close()
        if self.tun is not None:
            self.tun.close()
        if self._ready is not None:
            self._ready.set()


def open_virtual(url: str, network: NetworkAPI | None = None, **opts: Any) -> VirtualTransport:
    """The in-process transport for `virtual://PROFILE?...`; the modem starts at the first read or write.

    `network`: the NetworkAPI to bind to (default: none, the modem searches forever).  Serial-line
    options (`baudrate`, `rtscts`, ...) mean nothing here and are ignored.
    """
    spec = parse_virtual_url(url)
    load_or_fail = build_modem(spec, network)  # validate now, at open time
    del load_or_fail
    if opts:
        log.debug("%s: serial options ignored by the virtual modem: %s", url, sorted(opts))
    epoch = datetime.now(UTC).replace(microsecond=0)
    return VirtualTransport(
        url, lambda now: build_modem(spec, network, now, epoch), spec.speed, _tun_opener(url, spec)
    )


_transports = iter(range(1 << 62))


def _tun_opener(url: str, spec: VirtualSpec) -> Callable[[], TunNetwork | None] | None:
    """What makes the TUN path of `spec` when the modem starts (None: the forwarder, ip=user).
    ip=tun that cannot be used fails here, at open time; ip=auto falls back to the forwarder."""
    if spec.ip_path == "user":
        return None
    reason = tun_unavailable()
    if reason is not None:
        if spec.ip_path == "tun":
            raise VirtualUrlError(f"{url}: ip=tun: {reason}")
        log.info("%s: PPP's IP through the user-space forwarder: %s", url, reason)
        return None
    name = spec.netns or f"{default_namespace()}-{next(_transports)}"

    def opener() -> TunNetwork | None:
        try:
            tun = TunNetwork.open(name)
        except OSError as exc:
            if spec.ip_path == "tun":
                raise VirtualUrlError(f"{url}: ip=tun: {exc}") from None
            log.info("%s: PPP's IP through the user-space forwarder: %s", url, exc)
            return None
        log.info("%s: PPP's IP path: %s", url, tun.describe())
        return tun

    return opener
