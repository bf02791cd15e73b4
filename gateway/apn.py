"""APNs, their address pools, and the offers' policy on them (data in `data/apns.yaml`)."""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gateway.api import CallKind
from gateway.datafiles import check_table_keys, load_table
from gateway.errors import ConfigError
from m2msim.yamlio import LocatedDict

# The keys of an APN entry in apns.yaml (any other is refused, with the nearest of these).
APN_KEYS = ("m2m", "addressing", "pool", "scan_rate_per_hour", "authentication", "password")


@dataclass(frozen=True, slots=True)
class Apn:
    name: str
    m2m: bool
    public: bool  # public addressing: reachable from the Internet
    pool: ipaddress.IPv4Network
    scan_rate_per_hour: float | None = None  # unsolicited inbound packets; None: the network's setting
    authentication: str = ""  # "" (none), "pap" or "chap": what the MS sends in the PCO at activation
    password: str = ""  # the APN's password for PAP / CHAP (user name: the line's MSISDN)


@dataclass(frozen=True, slots=True)
class OfferPolicy:
    offer: str
    m2m_apns_only: bool
    calls: frozenset[CallKind]


def fixed_host(pool: ipaddress.IPv4Network, number: int) -> str:
    """Host `number` of `pool` (modulo its size): a line's fixed address (`Subscriber.static_address`)."""
    return str(ipaddress.IPv4Address(int(pool.network_address) + 1 + number % max(pool.num_addresses - 2, 1)))


class AddressPool:
    """Dynamic IPv4 addresses of one APN: the network's hosts, handed out in order, reused when freed."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self._base = int(network.network_address) + 1
        self._size = max(network.num_addresses - 2, 0)
        self._next = 0
        self._free: deque[int] = deque()
        self._used: set[int] = set()
        self.in_use = 0

    @property
    def capacity(self) -> int:
        return self._size

    def allocate(self, prefer: int | None = None) -> str | None:
        """A free address: host `prefer` (modulo the pool's size) when given and free, else the
        first freed one, else the next never handed out; None when the pool is exhausted."""
        used = self._used
        index: int | None = None
        if prefer is not None and self._size and prefer % self._size not in used:
            index = prefer % self._size
        while index is None and self._free:
            freed = self._free.popleft()
            if freed not in used:
                index = freed
        while index is None and self._next < self._size:
            if self._next not in used:
                index = self._next
            self._next += 1
        if index is None:
            return None
        used.add(index)
        self.in_use += 1
        return str(ipaddress.IPv4Address(self._base + index))

    def release(self, address: str) -> None:
        index = int(ipaddress.IPv4Address(address)) - self._base
        if index in self._used:
            self._used.discard(index)
            self._free.append(index)
            self.in_use -= 1


class ApnCatalog:
    """The APN table and the offers' APN and call policy."""

    def __init__(self, apns: dict[str, Apn], offers: dict[str, OfferPolicy]) -> None:
        self.apns = apns
        self.offers = offers

    @classmethod
    def load(cls, path: Path | None = None) -> ApnCatalog:
        doc, source = load_table(path, "apns.yaml")
        return cls.from_dict(doc, source)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str = "<apns>") -> ApnCatalog:
        if isinstance(doc, LocatedDict):
            check_table_keys(doc, ("apns", "offers"), source, "")
        apns: dict[str, Apn] = {}
        raw_apns = doc.get("apns")
        if not isinstance(raw_apns, dict) or not raw_apns:
            raise ConfigError(f"{source}: 'apns' must be a non-empty mapping")
        for name, item in raw_apns.items():
            where = f"{source}: apns.{name}"
            if not isinstance(item, dict):
                raise ConfigError(f"{where}: expected a mapping")
            if isinstance(item, LocatedDict):
                check_table_keys(item, APN_KEYS, source, f"apns.{name}")
            addressing = item.get("addressing")
            if addressing not in ("private", "public"):
                raise ConfigError(f"{where}.addressing: must be private or public, got {addressing!r}")
            try:
                pool = ipaddress.IPv4Network(str(item.get("pool")))
            except ValueError as exc:
                raise ConfigError(f"{where}.pool: {exc}") from exc
            rate = item.get("scan_rate_per_hour")
            if rate is not None and (
                not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0
            ):
                raise ConfigError(f"{where}.scan_rate_per_hour: {rate!r} must be a number >= 0")
            if rate is not None and addressing == "private" and rate > 0:
                raise ConfigError(
                    f"{where}.scan_rate_per_hour: a private APN is not reachable from the Internet"
                )
            auth = item.get("authentication", "none")
            if auth not in ("none", "pap", "chap"):
                raise ConfigError(f"{where}.authentication: must be none, pap or chap, got {auth!r}")
            password = item.get("password", "")
            if not isinstance(password, str) or len(password.encode()) > 64:
                raise ConfigError(f"{where}.password: a text of at most 64 octets (quote it)")
            if auth != "none" and not password:
                raise ConfigError(f"{where}.password: {auth} authentication needs one")
            key = str(name).lower()
            apns[key] = Apn(
                key,
                bool(item.get("m2m", False)),
                addressing == "public",
                pool,
                None if rate is None else float(rate),
                "" if auth == "none" else auth,
                password,
            )
        offers: dict[str, OfferPolicy] = {}
        raw_offers = doc.get("offers")
        if not isinstance(raw_offers, dict) or not raw_offers:
            raise ConfigError(f"{source}: 'offers' must be a non-empty mapping")
        for offer, item in raw_offers.items():
            where = f"{source}: offers.{offer}"
            if not isinstance(item, dict) or item.get("apns") not in ("any", "m2m"):
                raise ConfigError(f"{where}.apns: must be any or m2m")
            if isinstance(item, LocatedDict):
                check_table_keys(item, ("apns", "calls"), source, f"offers.{offer}")
            try:
                calls = frozenset(CallKind(c) for c in item.get("calls", None) or [])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.calls: {exc}") from exc
            offers[str(offer)] = OfferPolicy(str(offer), item["apns"] == "m2m", calls)
        return cls(apns, offers)

    def allowed_apns(self, offer: str) -> tuple[str, ...]:
        policy = self.offers[offer]
        return tuple(a.name for a in self.apns.values() if a.m2m or not policy.m2m_apns_only)


@cache
def default_catalog() -> ApnCatalog:
    """The packaged APN table (`gateway/data/apns.yaml`), read once."""
    return ApnCatalog.load()
