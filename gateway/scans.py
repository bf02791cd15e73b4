"""Internet scans of a public-address APN: one model for the simulator's devices and the gateway.

A context on a public APN is reachable from the Internet and gets unsolicited probes: a Poisson
number of them over the session, `per_hour` on average (none unless a scenario sets a rate: a
rate is an assumption, not a measurement), each a SYN down (`packet_bytes`) and, unless the
device filters, its reset up (`reply_bytes`), a refused connect of the wire model.

The draws: the probes arrive along a context's life, and each of its records carries those of its
span: one count per record, over the record's span (a context's first at least a second), drawn
from a stream of the line's own (`line_rng`: the run's seed and the line's id) when the record is
closed (a 12-hour cut, a move, the release), in the order the line's records close
(`record_probes`).  A session of one record, as a report's, is one count over its duration
(`scan_probes`).  The simulator's device (`simulator.traffic.scan_bytes`, its reports) and the
gateway (`gateway.ggsn`: the contexts of a served virtual modem, and the simulator's persistent
connections and sessions a move cuts, `ContextScans`) draw the same counts for the same sessions
and the same seed, so a bench run and a simulated one bill the same scans.

The settings a scenario gives per APN (`network.apns.<name>`, in the simulator's scenario and in
`m2msim modem serve --scenario`) are read here too (`scan_setting`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.wire import HEADER, SYN

# the streams of a line: separate purposes, so that adding SMS to a group does not move its data
# traffic (the simulator's `simulator.rng` names the others)
SCANS = 5

SCAN_KEYS = ("scan_per_hour", "scan_bytes", "scan_reply_bytes")
MAX_SCAN_PER_HOUR = 3_600_000.0  # a probe a millisecond
MAX_PACKET_BYTES = 65_535  # an IPv4 packet


@dataclass(frozen=True, slots=True)
class ScanSetting:
    """Probes on a public APN: `per_hour` of them on average, each `packet_bytes` down and
    `reply_bytes` up (0: the device filters and answers nothing)."""

    per_hour: float = 0.0
    packet_bytes: int = SYN
    reply_bytes: int = HEADER


class ScanSettingError(ValueError):
    """A scan setting out of range: `key` names the setting, the text says what is wanted."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def scan_setting(doc: Mapping[str, Any], public: bool) -> ScanSetting:
    """The scan setting of one APN from a scenario's mapping (keys `SCAN_KEYS`, checked by the
    caller); `ScanSettingError` names the key of a value out of range, or a rate on a private APN."""
    rate = _number(doc, "scan_per_hour", 0.0, MAX_SCAN_PER_HOUR)
    if rate > 0 and not public:
        raise ScanSettingError("scan_per_hour", "0 on a private APN (unreachable from the Internet)")
    return ScanSetting(
        per_hour=rate,
        packet_bytes=int(_number(doc, "scan_bytes", SYN, MAX_PACKET_BYTES, integer=True)),
        reply_bytes=int(_number(doc, "scan_reply_bytes", HEADER, MAX_PACKET_BYTES, integer=True)),
    )


def _number(doc: Mapping[str, Any], key: str, default: float, high: float, integer: bool = False) -> float:
    value = doc.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not 0 <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ScanSettingError(key, f"{kind} from 0 to {high:g}, got {value!r}")
    return float(value)


def id_words(line_id: str) -> tuple[int, int]:
    """Two 32-bit words of BLAKE2b(line_id): the id's part of a line's seed (stable across
    processes and Python versions, unlike `hash()`)."""
    digest = hashlib.blake2b(line_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def line_rng(seed: int, line_id: str, purpose: int) -> np.random.Generator:
    """The generator of `line_id` for `purpose` in a run seeded with `seed`."""
    hi, lo = divmod(seed, 2**32)
    w0, w1 = id_words(line_id)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([lo, hi % 2**32, w0, w1, purpose])))


def scan_rng(seed: int, line_id: str) -> np.random.Generator:
    """The stream a line's scan counts are drawn from."""
    return line_rng(seed, line_id, SCANS)


def scan_probes(
    rng: np.random.Generator, per_hour: float, durations: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The probes of sessions of `durations` seconds (a 0-second one counts one second), in order."""
    if per_hour <= 0:
        return np.zeros_like(durations)
    lam = per_hour * np.maximum(durations, 1) / 3600.0
    return rng.poisson(lam).astype(np.int64)


def record_probes(
    rng: np.random.Generator, per_hour: float, spans: npt.NDArray[np.int64], first: bool
) -> npt.NDArray[np.int64]:
    """The probes of a context's records of `spans` seconds, in order: those that arrived in each
    one's span (a Poisson count over it); `first`: the first span is the context's first record's,
    which counts one second at least (a context of 0 s is scanned as a session of 0 s is:
    `scan_probes`).  A record of one span is a session's draw."""
    if per_hour <= 0 or not spans.shape[0]:
        return np.zeros_like(spans)
    seconds = spans.copy()
    if first:
        seconds[0] = max(int(seconds[0]), 1)
    return rng.poisson(per_hour * seconds / 3600.0).astype(np.int64)  # (none drawn for a 0 mean)


ScanStream = np.random.Generator | Callable[[], np.random.Generator]


@dataclass(frozen=True, slots=True)
class ContextScans:
    """How a context is scanned when its caller says so (`open_session(scan=...)`): `setting`, drawn
    from `stream` (a line's scan stream, or what makes it when first drawn from)."""

    setting: ScanSetting
    stream: ScanStream

    def rng(self) -> np.random.Generator:
        return self.stream if isinstance(self.stream, np.random.Generator) else self.stream()
