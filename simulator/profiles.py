"""Application profiles: how many bytes on the wire a report costs, by protocol.

The figures live in `simulator/data/profiles.yaml`, each with the packet sequence
it comes from.  A plain TCP profile (MQTT, HTTP) gives its exchanges as messages
(`exchange`), billed by the TCP model the virtual modem's stacks bill with
(`gateway.wire.play`): the same exchange costs the same bytes on either path.  This
module reads them and scales them to a payload size, the same way for one report or
a million (numpy).

Payload scaling (documented in the data file too): a payload of P bytes instead
of the reference payload R adds `P - R` bytes upstream, plus 40 bytes of IP+TCP
header (and a TLS record's overhead) for each extra 1,460-byte segment, and one
40-byte ACK downstream for every two extra segments (delayed ACK, RFC 1122).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.api import (
    DEST_UNREACH,
    HEADER,
    HOST_UNREACH,
    MSS,
    SYN,
    IcmpRateLimit,
    icmp_error_size,
    play,
    prompt_acks,
    segments,
    syn_time,
    syns,
    unanswered,
    unreachable,
)
from m2msim.yamlio import parse_yaml

I64 = npt.NDArray[np.int64]
# a connect ended by an ICMP "unreachable" fails within the round trip: its context held for a second
UNREACHABLE_ATTEMPT_S = 1


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
    def unreachable_attempt(self) -> Exchange:
        """An attempt the network answers "destination unreachable" (ICMP: no route to the server;
        an outage's `answer: unreachable`), every ICMP message sent (`unreachable_sent` gives those
        the rate limits let go).  TCP: the first SYN and the ICMP message, which ends the connect
        at once (`gateway.wire.unreachable`, as the virtual modem's stacks bill one), the context
        held for the second it takes; another transport: its transmissions as in `failed_attempt`
        (its stack does not give up on an ICMP error), each answered by one (`icmp_answer`)."""
        fa = self.failed_attempt
        if self.transport == "tcp":
            up, down = unreachable()
            return Exchange(up=up, down=down, packets=2, duration_s=UNREACHABLE_ATTEMPT_S)
        return self._answered(max(fa.packets, 1))

    @property
    def icmp_answer(self) -> int:
        """Bytes of the ICMP "destination unreachable" answering one transmission of an attempt,
        which quotes it as Linux does (`gateway.wire.icmp_error_size`): TCP's SYN (52 B: 80 B);
        another transport's datagram, `failed_attempt`'s bytes up over its transmissions (CoAP's
        90 B: 118 B; exact: the transmissions are one datagram sent again, `_failed_attempt`
        refuses figures that are not)."""
        if self.transport == "tcp":
            return int(icmp_error_size(SYN))
        fa = self.failed_attempt
        return int(icmp_error_size(fa.up // max(fa.packets, 1)))

    def _answered(self, icmp: int) -> Exchange:
        """A non-TCP attempt's transmissions (`failed_attempt`), `icmp` of them answered (ICMP)."""
        fa = self.failed_attempt
        return Exchange(
            up=fa.up,
            down=fa.down + icmp * self.icmp_answer,
            packets=fa.packets + icmp,
            duration_s=fa.duration_s,
        )

    def unreachable_sent(self, limit: IcmpRateLimit, at: float, device: bytes) -> Exchange:
        """The attempt made at `at` (seconds) by `device`, answered "destination unreachable" as the
        ICMP rate limits let the network answer (`unreachable_together` of one attempt)."""
        return self.unreachable_together(limit, at, device, 1)[0]

    def unreachable_together(
        self, limit: IcmpRateLimit, at: float, device: bytes, n: int, until: float = math.inf
    ) -> list[Exchange]:
        """`n` attempts made together at `at` (seconds) by `device`, answered "destination
        unreachable" as the ICMP rate limits let the network answer (`limit`, the device's: six at
        once, then one a second, `gateway.icmplimit`, the rule of the virtual modem's stacks and PPP
        bearer): what `unreachable_attempt` bills when each answer may go.  Counted from the
        attempts' send times, taken in time order across the attempts (ties: attempt by attempt),
        no event of their own.  TCP: a SYN whose answer is held back goes unanswered and is sent
        again on the stack's timer (1, 3, 7 ... s, `gateway.wire.syns`); the first answered ends
        the connect (its SYNs and the ICMP message, the context held a second past that SYN), none
        answered before the connect gives up is `failed_attempt`.  Another transport: the answers
        of its transmissions (`attempts_cut`'s times) that may go.  `until`: where the attempts are
        cut (the period's end, the cell lost): no send from then on is made, so the limits are not
        asked about it (they were, their state advanced for later attempts) and it is not answered
        (an answer after the cut was billed: `attempts_cut` bills those before it).  TCP: the first
        SYN is sent whenever the cut comes (`gateway.wire.syns`)."""
        fa = self.failed_attempt
        if self.transport == "tcp":
            tries = int(syns(float(fa.duration_s)))
            out = [fa] * n
            due = [(at, i, 0) for i in range(n)] if tries else []  # (send time, attempt, SYN number)
            heapq.heapify(due)
            while due:
                when, i, k = heapq.heappop(due)
                if k and when >= until:
                    continue  # (not sent: the attempt was cut before)
                if limit.allow(when, device, DEST_UNREACH, HOST_UNREACH):
                    sent = syn_time(k)  # (the k-th retransmission's time from the start)
                    out[i] = Exchange(
                        up=SYN * (k + 1),
                        down=self.icmp_answer,
                        packets=k + 2,
                        duration_s=int(sent) + UNREACHABLE_ATTEMPT_S,
                    )
                elif k + 1 < tries:
                    heapq.heappush(due, (at + syn_time(k + 1), i, k + 1))
            return out
        times = sorted(
            (at + float(t), i) for i in range(n) for t in self.send_times() if at + float(t) < until
        )
        answered = [0] * n
        for when, i in times:
            answered[i] += limit.allow(when, device, DEST_UNREACH, HOST_UNREACH)
        return [self._answered(a) for a in answered]

    def send_times(self) -> npt.NDArray[np.float64]:
        """When a non-TCP attempt's transmissions leave, from its start: the first at 0, each
        retransmission after a timeout doubling from the first (RFC 7252 4.2: 0, 2, 6, 14, 30 s for
        CoAP's five in 62 s)."""
        n = max(self.failed_attempt.packets, 1)
        first = self.failed_attempt.duration_s / (2.0**n - 1.0)
        return np.asarray(first * (2.0 ** np.arange(n) - 1.0), dtype=np.float64)

    def attempts_cut(self, fa: Exchange, elapsed: I64) -> tuple[I64, I64]:
        """(up, down) bytes of attempts costing `fa` in full, cut `elapsed` seconds after they
        started (the period's end): what they sent by then.  TCP: the SYNs of the TCP model's
        timer (`gateway.wire.syns`); another transport: its transmissions of `failed_attempt`, the
        first at 0 and each retransmission after a timeout doubling from the first (RFC 7252
        4.2: 0, 2, 6, 14, 30 s for CoAP's five in 62 s), each with its share of `failed_attempt`'s
        bytes, and the ICMP answers of `fa` (`answer: unreachable`) among them: those the rate limits
        let go before the cut (`unreachable_together`), else one each.  A TCP connect `fa` says
        answered (its SYNs up to the one answered) is billed the answer only when that SYN left
        before the cut: one that opened late (an NSAPI wait) and is cut before it got none."""
        if self.transport == "tcp":
            sent = SYN * syns(elapsed)
            got = sent >= fa.up  # (its last SYN, the one answered, sent)
            return np.minimum(sent, fa.up), np.where(got, fa.down, self.failed_attempt.down).astype(np.int64)
        n = max(self.failed_attempt.packets, 1)
        times = self.send_times()
        sent = (times[None, :] < np.asarray(elapsed, dtype=np.float64)[:, None]).sum(axis=1).astype(np.int64)
        base = self.failed_attempt.down
        icmp = self.icmp_answer
        answers = max(fa.down - base, 0) // icmp
        return fa.up * sent // n, base * sent // n + np.minimum(sent, answers) * icmp

    @property
    def persistent_capable(self) -> bool:
        return self.publish is not None and self.connect is not None and self.ping is not None

    def _extra(self, payload: I64) -> tuple[I64, I64 | None]:
        """(up, down) bytes of `payload` beyond the reference payload's exchange; down None: none."""
        if self.transport == "udp":
            return payload - self.reference_payload, None
        ref_segments = segments(self.reference_payload)
        if (
            payload.shape[0] and int(payload.max()) <= ref_segments * MSS
        ):  # no payload needs a further segment
            return payload - self.reference_payload, None
        extra = np.maximum(segments(payload) - ref_segments, 0)
        per_segment = HEADER + (self.tls_record_overhead if self.tls else 0)
        up = payload - self.reference_payload + per_segment * extra
        down = HEADER * np.maximum(prompt_acks(payload) - prompt_acks(self.reference_payload), 0)
        return up, down

    def report_bytes(self, payload: I64) -> tuple[I64, I64]:
        """(up, down) bytes of reports of `payload` bytes, each on a connection of its own."""
        return self._bytes(self.report, payload)

    def _bytes(self, base: Exchange, payload: I64) -> tuple[I64, I64]:
        """(up, down) bytes of exchanges `base` carrying `payload` bytes each."""
        up, down = self._extra(payload)
        return (
            np.maximum(base.up + up, 0).astype(np.int64, copy=False),
            np.full(payload.shape[0], base.down, dtype=np.int64)
            if down is None
            else (base.down + down).astype(np.int64, copy=False),
        )

    def publish_bytes(self, payload: I64) -> tuple[I64, I64]:
        """(up, down) bytes of reports of `payload` bytes on an open connection."""
        if self.publish is None:
            raise ProfileError(f"profile {self.name!r} has no persistent-connection figures")
        return self._bytes(self.publish, payload)


_STEPS = ("open", "up", "down", "close up", "close down")


def _steps(raw: Any, where: str) -> list[tuple[str, int, float]]:
    """An exchange's steps: "open", "up <bytes>", "down <bytes>", "close up", "close down", each
    with an optional "@<seconds>" (when it happens; 0 when not given)."""
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{where}: expected a list of steps such as [open, up 24, down 4, close up]")
    out: list[tuple[str, int, float]] = []
    for i, item in enumerate(raw):
        text, _, when = str(item).partition("@")
        words = text.split()
        what, n = " ".join(words), 0
        if len(words) == 2 and words[0] in ("up", "down"):
            what = words[0]
            n = int(words[1]) if words[1].isdigit() and int(words[1]) > 0 else -1
        try:
            at = float(when) if when.strip() else 0.0
        except ValueError:
            at = -1.0
        if what not in _STEPS or n < 0 or (what in ("up", "down")) != (n > 0) or not 0 <= at < 86400:
            raise ProfileError(
                f"{where}[{i}]: {item!r} is no step: expected open, up <bytes>, down <bytes>, "
                "close up or close down, with an optional @<seconds>"
            )
        out.append((what, n, at))
    return out


def _exchange(raw: Any, where: str, played: Any = None, played_where: str = "") -> Exchange:
    """An exchange's figures: given (`up`, `down`, `packets`), or played from its steps (`played`)."""
    if not isinstance(raw, dict):
        raw = {} if raw is None and played is not None else raw
    if not isinstance(raw, dict) or (played is None and ("up" not in raw or "down" not in raw)):
        raise ProfileError(f"{where}: expected a mapping with 'up' and 'down' byte counts")
    if played is not None and ({"up", "down", "packets"} & raw.keys()):
        raise ProfileError(f"{where}: its bytes come from the exchange's steps: no 'up', 'down' or 'packets'")
    try:
        duration = int(raw.get("duration_s", 0))
        if played is not None:
            wire = play(_steps(played, played_where))
            return Exchange(up=wire.up, down=wire.down, packets=wire.packets, duration_s=duration)
        return Exchange(
            up=int(raw["up"]),
            down=int(raw["down"]),
            packets=int(raw.get("packets", 0)),
            duration_s=duration,
        )
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _failed_attempt(raw: Any, where: str, transport: str) -> Exchange:
    """A failed attempt's figures: a TCP profile's are its SYNs, sent again on the retransmission
    timer until the connect gives up after `duration_s` (`gateway.wire.unanswered`, as the virtual
    modem's stacks bill theirs); another transport's are given (`up`, `down`, `packets`): its
    transmissions are one datagram sent again (a CoAP CON retransmitted: RFC 7252 4.2 repeats the
    message), so `up` is `packets` datagrams of one size, which each ICMP answer quotes
    (`Profile.icmp_answer`) and each transmission cut short bills (`Profile.attempts_cut`); an `up`
    that is not a multiple of `packets` cannot be that and is refused."""
    if transport != "tcp":
        fa = _exchange(raw, where)
        n = max(fa.packets, 1)
        if fa.up % n:
            raise ProfileError(
                f"{where}.up: {fa.up} B is not {n} transmissions of one datagram (packets: {n}): "
                f"a failed attempt sends its datagram again, each of the same size"
            )
        return fa
    if not isinstance(raw, dict) or "duration_s" not in raw:
        raise ProfileError(f"{where}: expected a mapping with 'duration_s' (when the connect gives up)")
    if {"up", "down", "packets"} & raw.keys():
        raise ProfileError(
            f"{where}: a TCP connect's bytes come from the TCP model (its SYNs until it gives up): "
            "no 'up', 'down' or 'packets'"
        )
    try:
        duration = int(raw["duration_s"])
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}.duration_s: {exc}") from None
    if duration < 1:
        raise ProfileError(f"{where}.duration_s: {duration} is not a time of at least 1 s")
    up, down = unanswered(duration)
    return Exchange(up=up, down=down, packets=up // SYN, duration_s=duration)


def parse_profiles(data: Any, source: str = "profiles") -> dict[str, Profile]:
    """Profiles from the parsed YAML document `data`."""
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ProfileError(f"{source}: expected a top-level 'profiles' mapping")
    out: dict[str, Profile] = {}
    for name, raw in data["profiles"].items():
        where = f"{source}: profiles.{name}"
        if not isinstance(raw, dict):
            raise ProfileError(f"{where}: expected a mapping")
        played = raw.get("exchange", {})
        if not isinstance(played, dict) or not set(played) <= {"report", "publish", "connect", "ping"}:
            raise ProfileError(f"{where}.exchange: expected a mapping of report, publish, connect, ping")
        opt = {
            k: _exchange(raw.get(k), f"{where}.{k}", played.get(k), f"{where}.exchange.{k}")
            for k in ("publish", "connect", "ping")
            if k in raw or k in played
        }
        transport = str(raw.get("transport", "tcp"))
        out[str(name)] = Profile(
            name=str(name),
            description=str(raw.get("description", "")),
            transport=transport,
            reference_payload=int(raw.get("reference_payload", 53)),
            report=_exchange(
                raw.get("report"), f"{where}.report", played.get("report"), f"{where}.exchange.report"
            ),
            failed_attempt=_failed_attempt(raw.get("failed_attempt"), f"{where}.failed_attempt", transport),
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
