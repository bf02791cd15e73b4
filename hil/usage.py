"""What a bench run used (bytes, SMS, call seconds) and the usage records it amounts to.

The bench sees application bytes (what the TCP stack was given and returned); the operator bills
IP bytes, TCP/IP headers included.  `wire_bytes` estimates them with a plain model (IPv4 and TCP
headers of 20 + 20 B, no options, MSS 1,460 B, every data segment acknowledged by a bare ACK):

    up   = SYN + ACK (80) + n + 40 * seg(n) + 40 * seg(m) (ACKs of what came down) + FIN + ACK (80)
    down = SYN-ACK (40) + m + 40 * seg(m) + 40 * seg(n) (ACKs of what went up) + FIN + ACK (80)

where n bytes were sent, m received, seg(x) = ceil(x / 1460).  On the virtual modem the network
counts the real thing (`hil.virtual`), and the report prices both.

A data session becomes records as the operator cuts it (`accounting.partial`, the rule the gateway
writes its records by): one every 12 hours from the session's opening and one at its end, the
first closed with cause 17 (time limit), the last with 0 (normal release), each rounded up to a ko
on its own when rated.  Its IP bytes are spread over the seconds its connections were open.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accounting.partial import Span, cut_spans
from accounting.records import Dest, UsageRecord, UsageType, Zone

IP_TCP_HEADER = 40
MSS = 1460


def billed_seconds(seconds: float) -> int:
    """A call's seconds as a record carries them and the tariff bills them: rounded up to a whole
    second (to the microsecond first: 2.0000000001 s of floating point is 2 s)."""
    return math.ceil(round(seconds, 6)) if seconds > 0 else 0


def segments(n: int) -> int:
    return math.ceil(n / MSS) if n > 0 else 0


def wire_bytes(sent: int, received: int, connections: int = 1) -> tuple[int, int]:
    """Estimated IP bytes (up, down) for `connections` TCP connections carrying sent / received bytes."""
    if connections <= 0:
        return 0, 0
    ack = IP_TCP_HEADER
    up = connections * (2 * ack + 2 * ack) + sent + ack * segments(sent) + ack * segments(received)
    down = connections * (ack + 2 * ack) + received + ack * segments(received) + ack * segments(sent)
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
    carried: tuple[float, float] | None = None  # seconds from `started`: first opening, last close
    zone: Zone | None = None  # where it was opened (the network the modem was on), None: not known

    def carry(self, opened_s: float, closed_s: float) -> None:
        """A connection was open from `opened_s` to `closed_s` seconds after the session's start."""
        lo, hi = (opened_s, closed_s) if self.carried is None else self.carried
        self.carried = (min(lo, opened_s), max(hi, closed_s))

    def ip_bytes(self) -> tuple[int, int]:
        """(up, down): IP bytes estimated from the application bytes (see `wire_bytes`)."""
        return wire_bytes(self.sent, self.received, self.connections)


@dataclass(frozen=True, slots=True)
class SmsUse:
    started: datetime
    number: str
    dest: Dest
    parts: int  # each part of a concatenated message is one billed SMS
    references: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CallUse:
    started: datetime  # when the call was answered
    number: str
    dest: Dest
    seconds: float  # answered to hung up
    dtmf: str = ""


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
    up, down = use.ip_bytes()
    duration = math.ceil(round(use.seconds * time_scale, 6)) if use.seconds > 0 else 0
    lo_s, hi_s = use.carried if use.carried is not None else (0.0, use.seconds)
    lo = min(max(0, math.floor(lo_s * time_scale)), duration)
    hi = min(max(lo, math.ceil(round(hi_s * time_scale, 6))), duration)
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
        for offset, seconds, rec_up, rec_down, sequence, cause in cut_spans(
            duration, [Span(lo, hi, up, down)]
        )
    ]


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
                    line=line, type=UsageType.SMS, start=start, zone=zone, dest=s.dest, sequence=parts
                )
            )
    for c in usage.calls:
        out.append(
            UsageRecord(
                line=line,
                type=UsageType.VOICE,
                start=c.started.replace(microsecond=0),
                duration_s=billed_seconds(c.seconds),
                zone=zone,
                dest=c.dest,
            )
        )
    return out
