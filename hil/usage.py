"""What a bench run used (bytes, SMS, call seconds) and the usage records it amounts to.

The bench sees application bytes (what the TCP stack was given and returned); the operator bills
IP bytes, TCP/IP headers included.  Each connection's exchange (its opening, what went up, what
came down, its close, at the bench's times) is played through the TCP/IP model the virtual modem's
network bills with (`accounting.wire`, re-exported as `gateway.wire`): handshake with options,
segments of 1,460 B, delayed ACKs riding on the next segment within 0.2 s, FIN, so that the same
exchange costs the same bytes in the estimate and on the network.  On the virtual modem the
network counts the packets it carried (`hil.virtual`), and the report prices both.

A data session becomes records as the operator cuts it (`accounting.partial`, the rule the gateway
writes its records by): one every 12 hours from the session's opening and one at its end, the
first closed with cause 17 (time limit), the last with 0 (normal release), each rounded up to a ko
on its own when rated.  Each connection's IP bytes are spread over the seconds it was open.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accounting.partial import Span, cut_spans
from accounting.records import Dest, UsageRecord, UsageType, Zone
from accounting.wire import DEVICE, SERVER, TcpWire


def billed_seconds(seconds: float) -> int:
    """A call's seconds as a record carries them and the tariff bills them: rounded up to a whole
    second (to the microsecond first: 2.0000000001 s of floating point is 2 s)."""
    return math.ceil(round(seconds, 6)) if seconds > 0 else 0


Exchange = list[tuple[str, int, float, float]]
"""One TCP connection's steps: (what, bytes, when it left, when it arrived), in seconds into the
session of the network's clock; what: "open" (the device's: when it left and when the handshake was
done, its round trip; the same time when not known), "up", "down", "close up"."""


def play_exchange(steps: Exchange) -> TcpWire:
    """A connection's steps on the TCP/IP model (`accounting.wire.TcpWire`), the delayed ACKs still
    owed at the end sent."""
    wire = TcpWire()
    # when each side's next segment after each step leaves: a delayed ACK of that side's falling
    # due before the other's data comes rides on it if it leaves first
    following: list[tuple[float, float]] = []
    after = (math.inf, math.inf)  # (the device's, the server's)
    for what, n, at, _ in reversed(steps):
        following.append(after)
        if what == "close up" or (what == "up" and n > 0):  # no bytes: no segment to ride on
            after = (at, after[1])
        elif what == "down" and n > 0:
            after = (after[0], at)
    following.reverse()
    for (what, n, at, arrives), then in zip(steps, following, strict=True):
        if what == "open":  # the server's retransmission timeout from the round trip, when known
            wire.open(rtt=arrives - at if arrives > at else None)
        elif what in ("up", "down"):
            side = DEVICE if what == "up" else SERVER
            wire.send(side, n, at, arrives, then[1 - side])
        elif what == "close up":
            wire.close(DEVICE, at)
        else:
            raise ValueError(f"unknown step {what!r}")
    wire.tick(math.inf)
    return wire


def timed_exchange(
    opened: float,
    writes: Sequence[tuple[float, int]],
    reads: Sequence[tuple[float, int]],
    closed: float | None,
    one_way: float = 0.0,
    acked_sends: bool = False,
    banner: int = 0,
) -> Exchange:
    """The steps of a connection the bench opened at `opened`, wrote to in `writes` (each write's
    time, when it was handed to the stack, and its bytes: one message each), read from in `reads` (each
    read's time, when it returned, and its bytes) and closed at `closed` (None: not closed).  When
    what came back is as long as what went (an echo), the far end answered each write as it reached
    it, `one_way` seconds after it left (half the connection's round trip), its answer of the same
    size reaching the device by the read that completed it and by the device's next write after it
    left (the link's crossing of a full segment is not known: a slow link's may take many times
    `one_way`; the reads may come late, and the model takes an ACK owed from its data's arrival, a
    write before it carrying none); it left no sooner than halfway between the write and that read
    (`one_way` given: the write and the echo each crossed one way, which a slow link's serialisation
    makes longer than the connect's round trip says); else it answered once, arriving by the last
    read.  The "open" step's arrival is the connect's round trip after it (`one_way` twice): the far
    end's retransmission timeout (`accounting.wire.TcpWire.open`).
    `acked_sends`: the stack hands a write over only once the far end's ACK of the one before came
    back (SIMCom's SEND OK, `TcpSettings.send_waits_ack`): the echo, which carried that ACK, crossed
    both ways between a write and the next, whatever `one_way` (the connect's, its AT overhead
    included, may be longer).  The steps go in time order (a write before an answer at the same
    time): writes quicker than the link are all at the far end before its first answer leaves, its
    delayed ACK of one riding on the next or going prompt; writes far apart are answered one by one.
    `banner`: the far end spoke first (an SMTP or FTP greeting): its first `banner` bytes, sent
    once the connection was open on its side (`one_way` after `opened`), came by the read that
    completed them; what came back after them is the echo or the answer above."""
    sent, read_in_all = sum(n for _, n in writes), sum(n for _, n in reads)
    if not 0 <= banner <= read_in_all:
        raise ValueError(f"a banner of {banner} bytes, {read_in_all} read")
    received = read_in_all - banner  # (what came after the banner)
    timed: list[tuple[float, int, tuple[str, int, float, float]]] = []
    echo = bool(sent) and received == sent
    times = sorted(at for at, _ in writes)
    ends = [end - banner for end in itertools.accumulate(n for _, n in reads)]
    if banner:
        read = reads[bisect.bisect_left(ends, 0)][0]  # the read that completed the banner
        left = min(opened + one_way, read)
        timed.append((left, 1, ("down", banner, left, read)))
    done = 0
    for at, n in writes:
        if not echo:
            timed.append((at, 0, ("up", n, at, at + one_way)))
            continue
        done += n
        read = reads[bisect.bisect_left(ends, done)][0]  # it had come by then
        left = min(at + one_way, read)
        nxt = bisect.bisect_right(times, at)  # the next write after this one
        if acked_sends and nxt < len(times):
            # handed over once this one's ACK, on its echo, had come back: both crossed before it
            left = min(left, (at + times[nxt]) / 2)
            came = min(read, times[nxt])
            timed.append((at, 0, ("up", n, at, left)))
        else:
            if one_way:  # the write and its echo crossed the link's two ways, each as long (a
                # piece of data takes a slow link longer than the connect's round trip says)
                left = min(max(left, (at + read) / 2), read)
            # by the device's next write after it left (its crossing is not known); not by its
            # own, nor one at the same time (no round trip known: the echo left as its write did)
            k = bisect.bisect_right(times, left)
            came = min(read, times[k]) if k < len(times) else read
            timed.append((at, 0, ("up", n, at, left)))
        timed.append((left, 1, ("down", n, left, came)))
    if received and not echo:
        last = max(at for at, _ in reads)
        timed.append((last, 1, ("down", received, last, last)))
    timed.sort(key=lambda t: (t[0], t[1]))
    steps: Exchange = [("open", 0, opened, opened + 2 * one_way), *(step for _, _, step in timed)]
    if closed is not None:
        steps.append(("close up", 0, closed, closed))
    return steps


def wire_bytes(sent: int, received: int, connections: int = 1) -> tuple[int, int]:
    """IP bytes (up, down) of `connections` TCP connections whose times are not known: the first
    carries what was sent, then what came back, at once; the others open and close."""
    up = down = 0
    for i in range(connections):
        n, m = (sent, received) if i == 0 else (0, 0)
        wire = play_exchange(
            [("open", 0, 0.0, 0.0), ("up", n, 0.0, 0.0), ("down", m, 0.0, 0.0), ("close up", 0, 0.0, 0.0)]
        )
        up, down = up + wire.up, down + wire.down
    return up, down


@dataclass(slots=True)
class DataUse:
    """One data session (PDP context up to down) of the run."""

    started: datetime
    seconds: float = 0.0
    sent: int = 0  # application bytes
    received: int = 0
    connections: int = 0
    module_sent: int | None = None  # the module's own counters when it has them
    module_received: int | None = None
    zone: Zone | None = None  # where it was opened (the network the modem was on), None: not known
    exchanges: list[Exchange] = field(default_factory=list)  # each connection's, when timed

    def ip_bytes(self) -> tuple[int, int]:
        """(up, down): IP bytes of the session's connections by the TCP/IP model (`accounting.wire`),
        from their timed exchanges, else from the application bytes alone (`wire_bytes`)."""
        if not self.exchanges:
            return wire_bytes(self.sent, self.received, self.connections)
        up = down = 0
        for steps in self.exchanges:
            wire = play_exchange(steps)
            up, down = up + wire.up, down + wire.down
        return up, down


async def send_in_pieces(
    send: Callable[[bytes], Awaitable[object]],
    data: bytes,
    piece: int,
    now: Callable[[], float],
    writes: list[tuple[float, int]],
    use: DataUse,
) -> None:
    """Send `data` in the stack's own pieces of `piece` bytes (the drivers cut it the same way: the
    same AT sends), each noted in `writes` as (`now()`, its bytes) as it is handed over (SIMCom's
    SEND OK waits for the far end's ACK), for `timed_exchange`; each counted in `use.sent` once sent."""
    for start in range(0, len(data), piece):
        chunk = data[start : start + piece]
        writes.append((now(), len(chunk)))
        await send(chunk)
        use.sent += len(chunk)


@dataclass(frozen=True, slots=True)
class SmsUse:
    started: datetime
    number: str
    dest: Dest
    parts: int  # each part of a concatenated message is one billed SMS
    references: tuple[int, ...] = ()
    zone: Zone | None = None  # where it was sent from, None: not known


@dataclass(frozen=True, slots=True)
class CallUse:
    started: datetime  # when the call was answered
    number: str
    dest: Dest
    seconds: float  # answered to hung up
    dtmf: str = ""
    zone: Zone | None = None  # where it was made from, None: not known


@dataclass(slots=True)
class BenchUsage:
    """Everything billable a bench run did."""

    data: list[DataUse] = field(default_factory=list)
    sms: list[SmsUse] = field(default_factory=list)
    calls: list[CallUse] = field(default_factory=list)
    sms_received: int = 0

    @property
    def bytes_sent(self) -> int:
        return sum(d.sent for d in self.data)

    @property
    def bytes_received(self) -> int:
        return sum(d.received for d in self.data)

    @property
    def sms_sent(self) -> int:
        return sum(s.parts for s in self.sms)

    @property
    def call_seconds(self) -> float:
        return sum(c.seconds for c in self.calls)

    @property
    def billed_call_seconds(self) -> int:
        """The calls' seconds as billed: each call rounded up to a whole second on its own."""
        return sum(billed_seconds(c.seconds) for c in self.calls)

    def summary(self) -> dict[str, Any]:
        up = sum(d.ip_bytes()[0] for d in self.data)
        down = sum(d.ip_bytes()[1] for d in self.data)
        return {
            "data_sessions": len(self.data),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "ip_bytes_up": up,
            "ip_bytes_down": down,
            "sms_sent": self.sms_sent,
            "sms_received": self.sms_received,
            "calls": len(self.calls),
            "call_seconds": round(self.call_seconds, 3),
            "call_seconds_billed": self.billed_call_seconds,
        }

    def to_dict(self) -> dict[str, Any]:
        def plain(obj: Any) -> dict[str, Any]:
            d = asdict(obj)
            return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}

        return {
            "data": [plain(d) for d in self.data],
            "sms": [plain(s) for s in self.sms],
            "calls": [plain(c) for c in self.calls],
            "sms_received": self.sms_received,
        }


def data_records(
    use: DataUse, line: str, session: str, zone: Zone = Zone.FR, time_scale: float = 1.0
) -> list[UsageRecord]:
    """One data session as the operator's records: cut every 12 hours (`accounting.partial`).

    `time_scale`: the network's seconds for each of the bench's (a virtual modem's `speed`)."""
    duration = math.ceil(round(use.seconds * time_scale, 6)) if use.seconds > 0 else 0
    spans = [_span(steps, duration) for steps in use.exchanges] or [Span(0, duration, *use.ip_bytes())]
    start = use.started.replace(microsecond=0)
    return [
        UsageRecord(
            line=line,
            type=UsageType.DATA,
            start=start + timedelta(seconds=offset),
            duration_s=seconds,
            bytes_up=rec_up,
            bytes_down=rec_down,
            zone=zone,
            session=session,
            cause=cause,
            sequence=sequence,
        )
        for offset, seconds, rec_up, rec_down, sequence, cause in cut_spans(duration, spans)
    ]


def _span(steps: Exchange, duration: int) -> Span:
    """A connection's IP bytes over the seconds from its opening to its last packet."""
    wire = play_exchange(steps)
    lo = min(max(0, math.floor(min(at for _, _, at, _ in steps))), duration)
    hi = min(max(lo, math.ceil(round(max(max(at, arr) for _, _, at, arr in steps), 6))), duration)
    return Span(lo, hi, wire.up, wire.down)


def usage_records(
    usage: BenchUsage, line: str, zone: Zone = Zone.FR, time_scale: float = 1.0
) -> list[UsageRecord]:
    """The run as usage records (`accounting.records`): a data session's as the operator cuts it
    (`data_records`) in the zone it was opened in (`DataUse.zone`, else `zone`), one per SMS part
    and per call."""
    out: list[UsageRecord] = []
    for i, d in enumerate(usage.data):
        out.extend(data_records(d, line, f"bench-{i + 1}", d.zone or zone, time_scale))
    parts = 0  # each SMS part numbered: parts sent in the same second are distinct records
    for s in usage.sms:
        start = s.started.replace(microsecond=0)
        for _ in range(s.parts):
            parts += 1
            out.append(
                UsageRecord(
                    line=line,
                    type=UsageType.SMS,
                    start=start,
                    zone=s.zone or zone,
                    dest=s.dest,
                    sequence=parts,
                )
            )
    for c in usage.calls:
        out.append(
            UsageRecord(
                line=line,
                type=UsageType.VOICE,
                start=c.started.replace(microsecond=0),
                duration_s=billed_seconds(c.seconds),
                zone=c.zone or zone,
                dest=c.dest,
            )
        )
    return out
