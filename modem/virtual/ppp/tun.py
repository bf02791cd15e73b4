"""The network side of the PPP bearer in the kernel: a TUN device in a network namespace.

With the TUN path the devices' IP packets are written into a TUN device that lives in a network
namespace m2msim makes (or one the user names); the namespace's kernel is the network beyond the
gateway, so the device is a real IP host there: the gateway's address (`100.64.0.1`, on the TUN
device) answers pings, and the servers the user starts in the namespace (`ip netns exec NAME ...`)
answer the device's connections and see its own address.  What the kernel sends back to the APN
pools (routed through the TUN) is read from the device and handed to the bearer whose address it is
for.  The packets crossing PPP are the kernel's own, and the gateway counts them as they are.

The Internet table (`gateway.internet`) keeps its say: only destinations it lets through unchanged go
into the namespace, i.e. the gateway's address and the addresses under `allow` (add them in the
namespace: `ip netns exec NAME ip addr add 192.0.2.10/32 dev lo`).  What the table sends elsewhere
(a name's stand-in address, the echo, an address redirected to a local endpoint) and the DNS servers
are served by the user-space `Forwarder` as without TUN, and a destination the policy refuses gets
what the forwarder answers (ICMP "administratively prohibited", a TCP RST).

    tun = TunNetwork.open("m2msim-4242")      # root, /dev/net/tun and iproute2's `ip`
    modem.tun = tun                            # the modem's PPP bearers attach their forwarders
    ...
    tun.close()                                # device gone; the namespace too if m2msim made it

`tun_unavailable()` says why the path cannot be used here (not root, no /dev/net/tun, no `ip`).
The reader runs on the asyncio loop that is running when the first bearer comes up.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import ipaddress
import logging
import os
import struct
from collections.abc import Callable, Sequence

from modem.virtual.ppp.bearer import OWN_ADDRESS
from modem.virtual.ppp.forwarder import Forwarder
from modem.virtual.ppp.netns import Namespace, NamespaceError, ip_command

log = logging.getLogger(__name__)

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEVICE_PATTERN = "m2msim%d"  # the kernel picks the first free number in the namespace
READ_BATCH = 256  # packets read per wake-up of the loop at most
IP_CHOICES = ("auto", "tun", "user")


def tun_unavailable() -> str | None:
    """Why the TUN path cannot be used on this machine, None when it can."""
    if os.geteuid() != 0:
        return "not running as root"
    if ip_command() is None:
        return "iproute2's `ip` command is not installed"
    try:
        os.close(os.open(TUN_PATH, os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        return f"{TUN_PATH}: {exc.strerror or exc}"
    return None


def default_namespace() -> str:
    """The namespace a serving process makes when none is named: `m2msim-<pid>`."""
    return f"m2msim-{os.getpid()}"


def apn_pools() -> tuple[ipaddress.IPv4Network, ...]:
    """The address pools of the APN table the gateway hands addresses from (routed through the TUN)."""
    from gateway.api import default_catalog

    return tuple(sorted({apn.pool for apn in default_catalog().apns.values()}))


def _make_tun() -> tuple[int, str]:
    """A TUN device (IP packets, no packet information header) in the calling thread's namespace."""
    fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        answer = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", DEVICE_PATTERN.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd, answer[:16].rstrip(b"\0").decode()


class TunNetwork:
    """A namespace, its TUN device with the gateway's address, and the bearers' addresses behind it."""

    def __init__(
        self,
        namespace: Namespace,
        fd: int,
        device: str,
        address: str,
        routes: Sequence[ipaddress.IPv4Network],
    ) -> None:
        self.namespace = namespace
        self.fd = fd
        self.device = device
        self.address = address
        self.routes = tuple(routes)
        self._paths: dict[bytes, TunPath] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.packets_in = 0  # written into the TUN (from devices)
        self.packets_out = 0  # read from it and handed to a bearer
        self.dropped = 0  # read from it for no bearer (or not IPv4), or refused by the device on write
        atexit.register(self.close)  # a caller that forgets to close still leaves nothing behind

    @classmethod
    def open(
        cls,
        namespace: str,
        address: str = OWN_ADDRESS,
        routes: Sequence[ipaddress.IPv4Network] | None = None,
    ) -> TunNetwork:
        """Make (or join) `namespace`, a TUN device in it with `address`, and routes to `routes` (the
        APN pools by default) through it.  NamespaceError (an OSError) says what failed; nothing made
        is left behind then."""
        pools = apn_pools() if routes is None else tuple(routes)
        ns = Namespace.open(namespace)
        try:
            try:
                fd, device = ns.call(_make_tun)
            except OSError as exc:
                raise NamespaceError(
                    exc.errno or 0, f"TUN device in {namespace}: {exc.strerror or exc}"
                ) from None
            try:
                ns.ip_batch(
                    [
                        ["addr", "add", f"{address}/32", "dev", device],
                        ["link", "set", device, "up"],
                        *(["route", "add", str(pool), "dev", device] for pool in pools),
                    ]
                )
            except NamespaceError as exc:
                os.close(fd)
                raise NamespaceError(
                    exc.errno or 0, f"{exc.strerror} (namespace {namespace}: another m2msim's routes?)"
                ) from None
        except BaseException:
            ns.close()
            raise
        log.info(
            "TUN %s in namespace %s: %s, routes %s", device, namespace, address, ", ".join(map(str, pools))
        )
        return cls(ns, fd, device, address, pools)

    def describe(self) -> str:
        made = "made by m2msim, removed at the end" if self.namespace.made else "joined, kept at the end"
        return (
            f"TUN {self.device} in network namespace {self.namespace.name} ({made}), gateway "
            f"{self.address}, routes {', '.join(map(str, self.routes))}; servers there answer the devices: "
            f"ip netns exec {self.namespace.name} COMMAND"
        )

    # ----- the bearers ---------------------------------------------------------------------------

    def attach(self, forwarder: Forwarder, run: Callable[[Callable[[], None]], None]) -> TunPath | None:
        """Give the bearer whose forwarder serves `forwarder.device` its way into the namespace (the
        forwarder keeps what the Internet table sends elsewhere); what comes back for that address is
        emitted by the forwarder, each batch through `run` (the modem's clock).  None, and the
        forwarder alone, when no event loop runs to read the TUN."""
        if self.closed:
            return None
        if self._loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                log.warning(
                    "TUN %s: no event loop running, the bearer uses the user-space forwarder", self.device
                )
                return None
            loop.add_reader(self.fd, self._readable)
            self._loop = loop
        path = TunPath(self, forwarder, run)
        old = self._paths.get(forwarder.device)
        if old is not None:
            log.warning(
                "TUN %s: %s taken over by another bearer",
                self.device,
                ipaddress.IPv4Address(forwarder.device),
            )
        self._paths[forwarder.device] = path
        forwarder.kernel = path
        return path

    def detach(self, path: TunPath) -> None:
        if self._paths.get(path.device) is path:
            del self._paths[path.device]

    def write(self, packet: bytes) -> None:
        if self.closed:
            self.dropped += 1
            return
        try:
            os.write(self.fd, packet)
        except OSError as exc:  # a damaged header (EINVAL), a full queue (ENOBUFS, EAGAIN): lost
            log.debug("TUN %s: packet of %d bytes not taken: %s", self.device, len(packet), exc)
            self.dropped += 1
            return
        self.packets_in += 1

    def _readable(self) -> None:
        batches: dict[bytes, list[bytes]] = {}
        for _ in range(READ_BATCH):
            try:
                packet = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("TUN %s: read: %s", self.device, exc)
                break
            if len(packet) < 20 or packet[0] >> 4 != 4:  # IPv6 (router solicitations ...): no IPv6 here
                self.dropped += 1
                continue
            batches.setdefault(packet[16:20], []).append(packet)
        for dst, packets in batches.items():
            path = self._paths.get(dst)
            if path is None:
                self.dropped += len(packets)
                continue
            self.packets_out += len(packets)
            path.receive(packets)

    def close(self) -> None:
        """The device goes (with its address and routes); the namespace too when m2msim made it."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        for path in list(self._paths.values()):
            path.forwarder.close()
        self._paths.clear()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        os.close(self.fd)
        self.namespace.close()


class TunPath:
    """One bearer's way into the namespace (its forwarder's `kernel`): the packets it takes."""

    def __init__(
        self, tun: TunNetwork, forwarder: Forwarder, run: Callable[[Callable[[], None]], None]
    ) -> None:
        self.tun = tun
        self.forwarder = forwarder
        self.device = forwarder.device
        self.run = run
        self._ways: dict[bytes, bool] = {}  # destination -> into the namespace (True) or the forwarder

    def _into_namespace(self, dst: bytes) -> bool:
        way = self._ways.get(dst)
        if way is None:
            fwd = self.forwarder
            if dst == fwd.own:
                way = True
            elif dst in fwd.dns:
                way = False
            else:
                # through unchanged: the table neither redirects the address nor refuses it
                text = str(ipaddress.IPv4Address(dst))
                way = fwd.route(dst, 0) == ("connect", text, 0) and not ipaddress.IPv4Address(dst).is_loopback
            if len(self._ways) < 4096:
                self._ways[dst] = way
        return way

    def takes(self, packet: bytes) -> bool:
        """An IP packet from the device (counted by the gateway already): into the namespace when
        it is the device's own and its destination goes there; False: the forwarder's."""
        if (
            len(packet) >= 20
            and packet[0] >> 4 == 4
            and packet[12:16] == self.device
            and self._into_namespace(packet[16:20])
        ):
            self.tun.write(packet)
            return True
        return False

    def receive(self, packets: list[bytes]) -> None:
        """Packets the namespace sent to the device: out through the forwarder, on the modem's time."""
        emit = self.forwarder.emit

        def deliver() -> None:
            for packet in packets:
                emit(packet)

        self.run(deliver)

    def close(self) -> None:
        self.tun.detach(self)
