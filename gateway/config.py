"""Settings of the simulated network (`NetworkConfig`), and reading them from a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gateway.api import CallOutcome
from gateway.errors import ConfigError
from gateway.identity import validate_plmn
from gateway.partial import INTERVAL_S
from gateway.scans import ScanSetting
from gateway.smsc import SmscConfig
from gateway.switch import SwitchConfig
from gateway.wire import HEADER, SYN


class CountingMode(StrEnum):
    INNER_IP = "inner-ip"  # the user's IP packets (what the catalog bills)
    OUTER_GTP = "outer-gtp"  # the GTP-U/UDP/IP packets on the Gn/Gp interface


class SourceViolation(StrEnum):
    """What the gateway's source check does with an uplink packet whose source is not the PDP
    context's address: it drops it either way (3GPP TS 33.203 T.6); counted in the records or not,
    as Cisco StarOS's APN `ip source-violation check` without or with `exclude-from-accounting`."""

    COUNTED = "counted"  # StarOS's default
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class NetworkConfig:
    epoch: datetime  # simulated time 0, timezone-aware (converted to UTC)
    home_plmn: str = "20801"
    apn_file: Path | None = None  # default: gateway/data/apns.yaml
    plmn_file: Path | None = None  # default: accounting/data/plmn.yaml
    numbering_file: Path | None = None  # default: gateway/data/numbering.yaml
    counting: CountingMode = CountingMode.INNER_IP
    source_violation: SourceViolation = SourceViolation.COUNTED  # packets from another source address
    mean_packet_bytes: int = 200  # packets estimate for OUTER_GTP when the caller gives none
    interim_interval_s: int = INTERVAL_S
    # unsolicited inbound probes per hour on a public-address session: none unless set (as in the
    # simulator's scenarios; a rate is an assumption, not a measurement)
    scan_rate_per_hour: float = 0.0
    scan_packet_bytes: int = SYN  # one probe: a TCP SYN of the wire model (with its options) ...
    scan_reply_bytes: int = HEADER  # ... and the device's answer, a reset (0: the device filters)
    # per public APN, a scenario's scans (`network.apns.<name>`): win over the three above
    apn_scans: tuple[tuple[str, ScanSetting], ...] = ()
    max_bytes_per_s: int = 125_000_000  # a transfer above this rate (1 Gbit/s) is absurd
    max_contexts: int = 10_000_000  # open PDP contexts the gateway holds; beyond: 199
    seed: int = 0
    ggsn_address: str = "192.0.2.1"
    sgsn_address: str = "192.0.2.2"  # the home network's SGSN
    visited_sgsn_address: str = "203.0.113.2"  # the SGSN of any other serving network (roaming, over Gp)
    sms: SmscConfig = field(default_factory=SmscConfig)
    calls: SwitchConfig = field(default_factory=SwitchConfig)
    max_incidents_kept: int = 10_000  # incidents beyond are only counted

    def __post_init__(self) -> None:
        if self.epoch.tzinfo is None or self.epoch.utcoffset() is None:
            raise ConfigError(f"epoch {self.epoch.isoformat()}: must be timezone-aware (UTC)")
        object.__setattr__(self, "epoch", self.epoch.astimezone(UTC))
        validate_plmn(self.home_plmn, "home_plmn")
        object.__setattr__(self, "counting", CountingMode(self.counting))
        try:
            object.__setattr__(self, "source_violation", SourceViolation(self.source_violation))
        except ValueError as exc:
            raise ConfigError(
                f"source_violation: one of counted, excluded, got {self.source_violation!r}"
            ) from exc
        for name in ("mean_packet_bytes", "interim_interval_s", "scan_packet_bytes", "max_bytes_per_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scan_reply_bytes < 0:
            raise ConfigError(f"scan_reply_bytes must be >= 0, got {self.scan_reply_bytes}")
        if self.scan_rate_per_hour < 0:
            raise ConfigError(f"scan_rate_per_hour must be >= 0, got {self.scan_rate_per_hour}")


_SCALAR_KEYS: dict[str, type] = {
    "home_plmn": str,
    "counting": str,
    "source_violation": str,
    "mean_packet_bytes": int,
    "interim_interval_s": int,
    "scan_rate_per_hour": float,
    "scan_packet_bytes": int,
    "scan_reply_bytes": int,
    "max_bytes_per_s": int,
    "max_contexts": int,
    "seed": int,
    "ggsn_address": str,
    "sgsn_address": str,
    "visited_sgsn_address": str,
    "max_incidents_kept": int,
}
_PATH_KEYS = ("apn_file", "plmn_file", "numbering_file")


def network_config(
    doc: Mapping[str, Any], epoch: datetime, seed: int | None = None, source: str = "gateway"
) -> NetworkConfig:
    """A `NetworkConfig` from a mapping (e.g. a scenario's `gateway:` section); bad keys name `source`.

    Keys: the `NetworkConfig` field names, plus `sms: {validity_s, max_stored_per_line}` and
    `calls: {p_answered, p_busy, forced: {number: outcome}}`.  `seed`, when given, wins over the mapping's.
    """
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: expected a mapping")
    known = set(_SCALAR_KEYS) | set(_PATH_KEYS) | {"sms", "calls"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, kind in _SCALAR_KEYS.items():
        if key in doc:
            value = doc[key]
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if not ok or isinstance(value, bool):
                raise ConfigError(f"{source}.{key}: {value!r} is not a {kind.__name__}")
            kwargs[key] = value
    for key in _PATH_KEYS:
        if key in doc:
            kwargs[key] = Path(str(doc[key]))
    if "counting" in kwargs:
        try:
            kwargs["counting"] = CountingMode(kwargs["counting"])
        except ValueError as exc:
            raise ConfigError(f"{source}.counting: one of inner-ip, outer-gtp") from exc
    if "source_violation" in kwargs:
        try:
            kwargs["source_violation"] = SourceViolation(kwargs["source_violation"])
        except ValueError as exc:
            raise ConfigError(f"{source}.source_violation: one of counted, excluded") from exc
    try:
        if "sms" in doc:
            kwargs["sms"] = SmscConfig(**dict(doc["sms"]))
        if "calls" in doc:
            calls = dict(doc["calls"])
            if "forced" in calls:
                calls["forced"] = {str(k): CallOutcome(v) for k, v in dict(calls["forced"]).items()}
            kwargs["calls"] = SwitchConfig(**calls)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    if seed is not None:
        kwargs["seed"] = seed
    return NetworkConfig(epoch=epoch, **kwargs)
