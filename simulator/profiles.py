"""Application profiles: how many bytes on the wire a report costs, by protocol.

The figures live in `simulator/data/profiles.yaml`, each with the packet sequence
it comes from.  This module reads them and scales them to a payload size, the
same way for one report or a million (numpy).

Payload scaling (documented in the data file too): a payload of P bytes instead
of the reference payload R adds `P - R` bytes upstream, plus 40 bytes of IP+TCP
header (and a TLS record's overhead) for each extra 1,460-byte segment, and one
40-byte ACK downstream for every two extra segments (delayed ACK, RFC 1122).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from m2msim.yamlio import parse_yaml

I64 = npt.NDArray[np.int64]

MSS = 1_460  # TCP maximum segment size on a 1,500-byte MTU (IPv4, no options)
HEADER_BYTES = 40  # IPv4 20 + TCP 20


class ProfileError(ValueError):
    """A profile data file is malformed."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """Bytes of one exchange at the reference payload."""

    up: int
    down: int
    packets: int = 0
    duration_s: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    transport: str  # "tcp" | "udp"
    reference_payload: int
    report: Exchange
    failed_attempt: Exchange
    publish: Exchange | None = None
    connect: Exchange | None = None
    ping: Exchange | None = None
    tls: bool = False
    tls_record_overhead: int = 0

    @property
    def persistent_capable(self) -> bool:
        return self.publish is not None and self.connect is not None and self.ping is not None

    def _extra(self, payload: I64) -> tuple[I64, I64]:
        if self.transport == "udp":
            zero = np.zeros_like(payload)
            return payload - self.reference_payload, zero
        ref_segments = -(-self.reference_payload // MSS)
        if (
            payload.shape[0] and int(payload.max()) <= ref_segments * MSS
        ):  # no payload needs a further segment
            return payload - self.reference_payload, np.zeros_like(payload)
        segments = -(-payload // MSS) - ref_segments
        segments = np.maximum(segments, 0)
        per_segment = HEADER_BYTES + (self.tls_record_overhead if self.tls else 0)
        up = payload - self.reference_payload + per_segment * segments
        down = HEADER_BYTES * (-(-segments // 2))
        return up, down

    def report_bytes(self, payload: I64) -> tuple[I64, I64]:
        """(up, down) bytes of reports of `payload` bytes, each on a connection of its own."""
        up, down = self._extra(payload)
        return (
            np.maximum(self.report.up + up, 0).astype(np.int64),
            (self.report.down + down).astype(np.int64),
        )

    def publish_bytes(self, payload: I64) -> tuple[I64, I64]:
        """(up, down) bytes of reports of `payload` bytes on an open connection."""
        if self.publish is None:
            raise ProfileError(f"profile {self.name!r} has no persistent-connection figures")
        up, down = self._extra(payload)
        return (
            np.maximum(self.publish.up + up, 0).astype(np.int64),
            (self.publish.down + down).astype(np.int64),
        )


def _exchange(raw: Any, where: str) -> Exchange:
    if not isinstance(raw, dict) or "up" not in raw or "down" not in raw:
        raise ProfileError(f"{where}: expected a mapping with 'up' and 'down' byte counts")
    try:
        return Exchange(
            up=int(raw["up"]),
            down=int(raw["down"]),
            packets=int(raw.get("packets", 0)),
            duration_s=int(raw.get("duration_s", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: {exc}") from None


def parse_profiles(data: Any, source: str = "profiles") -> dict[str, Profile]:
    """Profiles from the parsed YAML document `data`."""
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ProfileError(f"{source}: expected a top-level 'profiles' mapping")
    out: dict[str, Profile] = {}
    for name, raw in data["profiles"].items():
        where = f"{source}: profiles.{name}"
        if not isinstance(raw, dict):
            raise ProfileError(f"{where}: expected a mapping")
        opt = {k: _exchange(raw[k], f"{where}.{k}") for k in ("publish", "connect", "ping") if k in raw}
        out[str(name)] = Profile(
            name=str(name),
            description=str(raw.get("description", "")),
            transport=str(raw.get("transport", "tcp")),
            reference_payload=int(raw.get("reference_payload", 53)),
            report=_exchange(raw.get("report"), f"{where}.report"),
            failed_attempt=_exchange(raw.get("failed_attempt"), f"{where}.failed_attempt"),
            publish=opt.get("publish"),
            connect=opt.get("connect"),
            ping=opt.get("ping"),
            tls=bool(raw.get("tls", False)),
            tls_record_overhead=int(raw.get("tls_record_overhead", 0)),
        )
    return out


_CACHE: dict[str, Profile] | None = None


def builtin_profiles() -> dict[str, Profile]:
    """The profiles shipped in `simulator/data/profiles.yaml`."""
    global _CACHE
    if _CACHE is None:
        text = resources.files("simulator").joinpath("data/profiles.yaml").read_text(encoding="utf-8")
        _CACHE = parse_profiles(
            parse_yaml(text, "simulator/data/profiles.yaml"), "simulator/data/profiles.yaml"
        )
    return _CACHE
