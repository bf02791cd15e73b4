"""The network side's "Internet": which name reaches which endpoint, and which destinations are reachable.

A device on the emulated network asks for a host (a name or an address) and a port; `Internet.route`
answers where that goes:

- `ECHO`: the built-in echo server (what every socket reached before real endpoints existed);
- `CONNECT`: a real endpoint on this machine (`host`, `port`, an IP address), which the caller
  connects to with its own sockets;
- `REFUSED`: an address the destination policy does not let through (the module's connect failure);
- `UNRESOLVED`: a name the table does not know, when the table says unknown names fail (DNS failure).

The destination policy: loopback (127.0.0.0/8, ::1) and the addresses and networks the user lists
under `allow` are reachable; anything else is refused.  Names resolve through the table only (never
through the host's resolver), so a run does not depend on the machine's DNS.

The table, in YAML (a file given by `m2msim modem serve --internet FILE`, the `internet=FILE` key of
a `virtual://` URL, or the serve scenario's `internet:` key, inline or a file name):

    hosts:
      broker.example.com: 127.0.0.1:1883    # a name -> an address and port
      api.example.com: 127.0.0.1            # -> an address, the port the device asked for
      203.0.113.7: "[::1]:8080"             # an address written in the firmware, sent elsewhere
      demo.example.com: echo                # -> the built-in echo server
    allow: [192.0.2.10, 198.51.100.0/24]    # reachable besides loopback
    unknown: echo                           # a name not in the table: echo (default) or fail
    inbound:                                # servers on the module: device port <- host loopback port
      8080: 18080

Built in (a user's `hosts` entry of the same name wins): `localhost` -> 127.0.0.1, and the demo
servers of the vendors' manuals -> the echo: SIMCom's 116.228.221.51 (SIM800 Series TCPIP
Application Note, §2.1.1 and §2.1.2 examples) and Quectel's 220.180.239.212 (BG96 TCP/IP AT Commands
Manual, §3 examples; the same host in the EC2x/UG96 manuals).

`resolve(name)` answers a DNS query the way a PPP device's resolver sees it: the address a name
stands for.  A name whose entry carries a port (or goes to the echo) gets a stand-in address from
100.127.0.0/16 (shared address space, RFC 6598: never routed on the Internet, and apart from
every APN pool and from the PPP link's own 100.64.0.x), fixed by the entry's place in the table, and `route(<that address>, port)` leads to the entry's endpoint.

Inbound connections (a server on the module: SIMCom AT+CIPSERVER, Quectel "TCP LISTENER"):
`inbound_route(device_ip, port)` answers where the host's programs reach a device listening on
`port`: the loopback port `inbound` maps it to, when the device's address is on a private APN (an
RFC 1918 pool, as the operator's private APNs in `data/apns.yaml` have: the customer's servers reach
their devices through the private network); a public APN's device is behind the operator's firewall
for unsolicited connections, and an unmapped port is reachable by nobody.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from m2msim.yamlio import LocatedDict, YamlError, check_keys, join_path, load_yaml, mapping, sequence

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
STAND_IN = ipaddress.ip_network("100.127.0.0/16")  # stand-in addresses for names (RFC 6598)
ECHO_ADDRESS = str(STAND_IN.network_address + 1)  # 100.127.0.1: the echo server's stand-in

# The demo servers of the vendors' manuals: their examples connect there; here they reach the echo.
DEMO_HOSTS: tuple[str, ...] = (
    "116.228.221.51",  # SIMCom, SIM800 Series TCPIP Application Note §2.1.1 (TCP) / §2.1.2 (UDP)
    "220.180.239.212",  # Quectel, BG96 TCP/IP AT Commands Manual §3 examples (ports 8009, 8062)
)

TOP_KEYS = ("hosts", "allow", "unknown", "inbound")
# A private APN's pool (RFC 1918): the only device addresses an inbound connection may reach.
PRIVATE_POOLS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
UNKNOWN_CHOICES = ("echo", "fail")


class InternetError(YamlError, ValueError):
    """An Internet table that cannot be used: names the file, the line and the key."""


class RouteKind(Enum):
    ECHO = "echo"
    CONNECT = "connect"
    REFUSED = "refused"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a device's (host, port) goes.  `host`/`port`: the real endpoint (CONNECT only)."""

    kind: RouteKind
    host: str = ""
    port: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """A table entry's right-hand side: the echo, or an address with an optional port."""

    echo: bool = False
    host: str = ""
    port: int | None = None

    def __str__(self) -> str:
        if self.echo:
            return "echo"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


ECHO = Target(echo=True)


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _builtin_hosts() -> dict[str, Target]:
    hosts = {"localhost": Target(host="127.0.0.1")}
    for demo in DEMO_HOSTS:
        hosts[demo] = ECHO
    return hosts


@dataclass(frozen=True, slots=True)
class Internet:
    """The name table and the destination policy (immutable; share one among many modems)."""

    hosts: Mapping[str, Target] = field(default_factory=lambda: MappingProxyType(_builtin_hosts()))
    allow: tuple[IPNetwork, ...] = ()
    unknown: str = "echo"  # "echo" or "fail"
    inbound: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))  # device -> host port
    _stand_ins: Mapping[str, str] = field(default_factory=dict, repr=False)  # stand-in address -> name

    def __post_init__(self) -> None:
        stand_ins: dict[str, str] = {}
        for i, (name, target) in enumerate(self.hosts.items()):
            if _address(name) is None and (target.echo or target.port is not None):
                stand_ins[str(STAND_IN.network_address + 2 + i)] = name
        object.__setattr__(self, "_stand_ins", MappingProxyType(stand_ins))

    def reachable(self, address: str) -> bool:
        """Whether the policy lets traffic to `address` (an IP address) through."""
        ip = _address(address)
        if ip is None:
            return False
        return any(ip.version == net.version and ip in net for net in (*LOOPBACK, *self.allow))

    def route(self, host: str, port: int) -> Route:
        """Where a connection (or datagram) to `host`:`port` goes; `host` is a name or an address."""
        key = host.strip().lower().rstrip(".")
        if key == ECHO_ADDRESS:
            return Route(RouteKind.ECHO)
        key = self._stand_ins.get(key, key)
        target = self.hosts.get(key)
        if target is None:
            ip = _address(key)
            if ip is None:
                if self.unknown == "echo":
                    return Route(RouteKind.ECHO)
                return Route(RouteKind.UNRESOLVED, reason=f"{host}: not in the Internet table")
            target = Target(host=str(ip))
        if target.echo:
            return Route(RouteKind.ECHO)
        if not self.reachable(target.host):
            return Route(
                RouteKind.REFUSED, reason=f"{target.host}: not reachable (loopback and 'allow' only)"
            )
        return Route(RouteKind.CONNECT, target.host, target.port if target.port is not None else port)

    def inbound_route(self, device_ip: str | None, port: int) -> Route:
        """Where the host's programs reach a device (address `device_ip`) listening on `port`:
        CONNECT with the loopback address and port to serve, or REFUSED with the reason."""
        ip = _address(device_ip or "")
        if ip is None or not any(ip.version == n.version and ip in n for n in PRIVATE_POOLS):
            return Route(
                RouteKind.REFUSED,
                reason=f"{device_ip}: not on a private APN (inbound connections are refused)",
            )
        host_port = self.inbound.get(port)
        if host_port is None:
            return Route(RouteKind.REFUSED, reason=f"port {port}: not under 'inbound' in the Internet table")
        return Route(RouteKind.CONNECT, "127.0.0.1", host_port)

    def resolve(self, name: str) -> str | None:
        """The address a DNS answer gives for `name` (None: no such name; the device sees NXDOMAIN)."""
        key = name.strip().lower().rstrip(".")
        if _address(key) is not None:
            return key
        target = self.hosts.get(key)
        if target is None:
            return ECHO_ADDRESS if self.unknown == "echo" else None
        if not target.echo and target.port is None:
            return target.host
        for address, entry in self._stand_ins.items():
            if entry == key:
                return address
        return None  # not reached: every echo or port entry has a stand-in


DEFAULT_INTERNET = Internet()


def _target(value: Any, source: str, path: str, line: int | None) -> Target:
    if not isinstance(value, str) or isinstance(value, bool):
        raise InternetError(source, line, path, f"expected echo, ADDRESS or ADDRESS:PORT, got {value!r}")
    text = value.strip()
    if text.lower() == "echo":
        return ECHO
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InternetError(source, line, path, f"{value!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if _address(host) is None:
        raise InternetError(
            source,
            line,
            path,
            f"{value!r}: not an IP address (the table maps names to addresses, not to names)",
        )
    port = None
    if port_text or text.endswith(":"):
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise InternetError(source, line, path, f"{value!r}: port must be 1..65535")
        port = int(port_text)
    return Target(host=str(ipaddress.ip_address(host)), port=port)


def parse_internet(doc: Any, source: str, path: str = "", line: int | None = None) -> Internet:
    """An `Internet` from a parsed YAML mapping (a file's top, or a scenario's `internet:` value)."""
    try:
        return _parse(doc, source, path, line)
    except InternetError:
        raise
    except YamlError as exc:
        raise InternetError(exc.source, exc.line, exc.key, exc.reason) from None


def _parse(doc: Any, source: str, path: str, line: int | None) -> Internet:
    top = mapping(doc, source, path, line)
    check_keys(top, TOP_KEYS, source, path)
    hosts = _builtin_hosts()
    allow: list[IPNetwork] = []
    if "allow" in top:
        items = sequence(top["allow"], source, join_path(path, "allow"), top.line_of("allow"))
        for i, item in enumerate(items):
            where = join_path(join_path(path, "allow"), i)
            try:
                net = ipaddress.ip_network(str(item), strict=True) if isinstance(item, str) else None
            except ValueError as exc:
                raise InternetError(source, items.line_of(i), where, f"{item!r}: {exc}") from None
            if net is None:
                raise InternetError(
                    source,
                    items.line_of(i),
                    where,
                    f"expected an address or network (quote it), got {item!r}",
                )
            allow.append(net)
    if "hosts" in top:
        table: LocatedDict = mapping(top["hosts"], source, join_path(path, "hosts"), top.line_of("hosts"))
        for name, value in table.items():
            where = join_path(join_path(path, "hosts"), str(name))
            key = str(name).strip().lower().rstrip(".")
            if not key or any(c.isspace() for c in key):
                raise InternetError(source, table.line_of(name), where, "not a host name or address")
            target = _target(value, source, where, table.line_of(name))
            probe = Internet(MappingProxyType({}), tuple(allow))
            if not target.echo and not probe.reachable(target.host):
                raise InternetError(
                    source,
                    table.line_of(name),
                    where,
                    f"{target.host} is not reachable: only loopback and the addresses under 'allow'",
                )
            hosts[key] = target
    unknown = top.get("unknown", "echo")
    if unknown not in UNKNOWN_CHOICES:
        raise InternetError(
            source, top.line_of("unknown"), join_path(path, "unknown"), f"{unknown!r}: expected echo or fail"
        )
    inbound = _inbound(top, source, path) if "inbound" in top else {}
    return Internet(MappingProxyType(hosts), tuple(allow), str(unknown), MappingProxyType(inbound))


def _inbound(top: LocatedDict, source: str, path: str) -> dict[int, int]:
    """`inbound:`, device listening port -> host loopback port, each 1..65535, host ports distinct."""
    where = join_path(path, "inbound")
    table: LocatedDict = mapping(top["inbound"], source, where, top.line_of("inbound"))
    ports: dict[int, int] = {}
    for device, host in table.items():
        key = join_path(where, str(device))
        line = table.line_of(device)
        text = str(device).strip()  # the loader's keys are text
        device_port = _port(int(text) if text.isdigit() else text, "device port", source, line, key)
        host_port = _port(host, "host port", source, line, key)
        if host_port in ports.values():
            raise InternetError(source, line, key, f"host port {host_port} is given twice")
        ports[device_port] = host_port
    return ports


def _port(value: Any, what: str, source: str, line: int | None, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InternetError(source, line, key, f"{what} {value!r}: expected a port 1..65535")
    return value


def load_internet(path: Path | str) -> Internet:
    """Read an Internet table file; `InternetError` (a `YamlError`) names the file, line and key."""
    source = str(path)
    try:
        doc = load_yaml(path, source=source)
    except YamlError as exc:
        raise InternetError(exc.source, exc.line, exc.key, exc.reason) from None
    return parse_internet(doc, source)
