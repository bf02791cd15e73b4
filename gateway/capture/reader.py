"""Usage records rebuilt from the RADIUS accounting in a capture (pcap or pcapng).

One record per Interim-Update and one per Stop: its volumes are the deltas of
the cumulative Acct-Input/Output-Octets (+ Gigawords x 2^32) since the
session's previous request, its duration the delta of Acct-Session-Time, and
its start the Start's Event-Timestamp plus the previous request's
Acct-Session-Time (whole seconds, as records are; the capture time of the
Start, floored, when it has no Event-Timestamp).  Identities come from the
session's Start:

| record field | from |
|---|---|
| line | Class (attribute 25), as the accounting server set it at authorisation; else Calling-Station-Id (MSISDN) |
| session | Acct-Session-Id |
| imsi / imeisv | 3GPP-IMSI / 3GPP-IMEISV |
| apn | Called-Station-Id |
| charging_id | 3GPP-Charging-ID |
| serving_plmn, zone | 3GPP-SGSN-MCC-MNC; zone from its MCC (`gateway.plmn`, as the gateway does) |
| cause | Interim: 17 (time limit), or the mobility cause when it reports a new SGSN-MCC-MNC (24), SGSN address (18), RAT (22) or MS time zone (23), from which the session's later records take their network and zone; Stop: Acct-Terminate-Cause mapped to TS 32.298 (`codec`) |
| sequence | 1, 2, ... within the session |

Frames are parsed with `struct` from scapy's `RawPcapReader` (no dissection).
Every Accounting-Request's authenticator is checked against the shared secret,
and every Accounting-Response's against its request.  A packet that cannot be
used is counted in the `ReadReport` with its number and reason; reading never
stops on a bad packet.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapReader

from accounting.records import ClosingCause, UsageRecord, UsageType
from gateway.capture import codec, radius
from gateway.capture.sink import DEFAULT_SECRET
from gateway.plmn import default_table

ACCT_PORTS = frozenset({radius.ACCT_PORT, 1646})  # 1646: the pre-RFC 2866 accounting port
MAX_LISTED_REJECTS = 1_000

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_UDP = struct.Struct("!HHH")


class CaptureFileError(Exception):
    """The file is missing, unreadable or not a capture."""


@dataclass(frozen=True, slots=True)
class Reject:
    packet: int  # 1-based packet number, as tshark and Wireshark count
    reason: str


@dataclass(slots=True)
class ReadReport:
    """What a read found besides the records: counts, and every packet it could not use."""

    packets: int = 0
    accounting_requests: int = 0
    accounting_responses: int = 0
    retransmissions: int = 0
    records: int = 0
    sessions: int = 0
    unanswered_requests: int = 0
    open_sessions: list[str] = field(default_factory=list)  # sessions with no Stop in the capture
    reasons: Counter[str] = field(default_factory=Counter)  # reject reason category -> count
    rejects: list[Reject] = field(default_factory=list)  # the first MAX_LISTED_REJECTS, with details

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    def reject(self, packet: int, category: str, detail: str = "") -> None:
        self.reasons[category] += 1
        if len(self.rejects) < MAX_LISTED_REJECTS:
            self.rejects.append(Reject(packet, f"{category}: {detail}" if detail else category))

    def as_dict(self) -> dict[str, object]:
        return {
            "packets": self.packets,
            "accounting_requests": self.accounting_requests,
            "accounting_responses": self.accounting_responses,
            "retransmissions": self.retransmissions,
            "records": self.records,
            "sessions": self.sessions,
            "unanswered_requests": self.unanswered_requests,
            "open_sessions": list(self.open_sessions),
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "rejects": [{"packet": r.packet, "reason": r.reason} for r in self.rejects],
        }


@dataclass(slots=True)
class _Session:
    line: str
    imsi: str | None
    imeisv: str | None
    apn: str | None
    charging_id: int | None
    serving_plmn: str | None
    start_s: int  # Event-Timestamp of the Start (seconds since 1970)
    last_time: int = 0
    last_in: int = 0
    last_out: int = 0
    sequence: int = 0
    location: tuple[bytes | None, ...] = (None, None, None)  # SGSN address, RAT, MS time zone (`_location`)


class _BadMessage(Exception):
    pass


def _attributes(msg: bytes) -> tuple[dict[int, bytes], list[int]]:
    """(standard attributes, offsets of Vendor-Specific attributes) of a RADIUS message.

    The first occurrence of an attribute wins.  Vendor attributes are decoded on
    demand (`_vendor_attributes`): only a Start needs them.
    """
    std: dict[int, bytes] = {}
    vendor: list[int] = []
    pos, end = 20, len(msg)
    while pos < end:
        if pos + 2 > end:
            raise _BadMessage("attribute header past the end of the message")
        a_type, a_len = msg[pos], msg[pos + 1]
        if a_len < 2 or pos + a_len > end:
            raise _BadMessage(f"attribute {a_type} has length {a_len} at offset {pos}")
        if a_type == radius.VENDOR_SPECIFIC:
            vendor.append(pos)
        elif a_type not in std:
            std[a_type] = msg[pos + 2 : pos + a_len]
        pos += a_len
    return std, vendor


def _vendor_attributes(msg: bytes, offsets: list[int]) -> dict[int, bytes]:
    """The 3GPP (vendor 10415) sub-attributes of the Vendor-Specific attributes at `offsets`."""
    tgpp: dict[int, bytes] = {}
    for pos in offsets:
        a_len = msg[pos + 1]
        if a_len < 8 or _U32.unpack_from(msg, pos + 2)[0] != radius.VENDOR_3GPP:
            continue
        sub, sub_end = pos + 6, pos + a_len
        while sub < sub_end:
            if sub + 2 > sub_end or msg[sub + 1] < 2 or sub + msg[sub + 1] > sub_end:
                raise _BadMessage(f"3GPP attribute at offset {sub} overruns its Vendor-Specific")
            tgpp.setdefault(msg[sub], msg[sub + 2 : sub + msg[sub + 1]])
            sub += msg[sub + 1]
    return tgpp


def _location(tgpp: dict[int, bytes]) -> tuple[bytes | None, ...]:
    """What a mobility Interim-Update may change besides the serving PLMN: SGSN address, RAT, time zone."""
    return (
        tgpp.get(radius.TGPP_SGSN_ADDRESS),
        tgpp.get(radius.TGPP_RAT_TYPE),
        tgpp.get(radius.TGPP_MS_TIMEZONE),
    )


def _mobility_cause(state: _Session, tgpp: dict[int, bytes]) -> int | None:
    """The cause of an Interim-Update that reports a move (`gateway.network.mobility_cause`), else None.

    The GGSN sends an Interim-Update with the new 3GPP-SGSN-MCC-MNC / SGSN address /
    RAT-Type / MS-TimeZone when a context is updated: the record it closes has the
    cause of that change (24, 18, 22, 23); an Interim-Update with none changed is a
    time-limit record (17).
    """
    plmn = _text(tgpp, radius.TGPP_SGSN_MCC_MNC)
    if plmn is not None and state.serving_plmn is not None and plmn != state.serving_plmn:
        return int(ClosingCause.PLMN_CHANGE)
    for (old, new), cause in zip(
        zip(state.location, _location(tgpp), strict=True),
        (ClosingCause.SERVING_NODE_CHANGE, ClosingCause.RAT_CHANGE, ClosingCause.MS_TIME_ZONE_CHANGE),
        strict=True,
    ):
        if old is not None and new is not None and old != new:
            return int(cause)
    return None


def _u32(attrs: dict[int, bytes], a_type: int, name: str) -> int:
    value = attrs.get(a_type)
    if value is None:
        raise _BadMessage(f"missing {name}")
    if len(value) != 4:
        raise _BadMessage(f"{name} has {len(value)} octets, not 4")
    return int(_U32.unpack(value)[0])


def _text(attrs: dict[int, bytes], a_type: int) -> str | None:
    value = attrs.get(a_type)
    return value.decode("utf-8", "replace") if value is not None else None


class _Decoder:
    """The accounting state machine over a capture's packets."""

    def __init__(self, secret: bytes, report: ReadReport) -> None:
        self.secret = secret
        self.report = report
        self.sessions: dict[str, _Session] = {}
        self.pending: dict[tuple[bytes, int, int], bytes] = {}  # (NAS address, port, id) -> authenticator
        self.zones = default_table()

    def udp_payload(self, n: int, data: bytes, linktype: int) -> tuple[bytes, bytes, int, int, bytes] | None:
        """(source, destination, source port, destination port, payload) of an IPv4/UDP packet."""
        if linktype == LINKTYPE_ETHERNET:
            if len(data) < 14:
                self.report.reject(n, "truncated frame")
                return None
            off, ethertype = 14, _U16.unpack_from(data, 12)[0]
            while ethertype in (0x8100, 0x88A8) and len(data) >= off + 4:  # VLAN tags
                ethertype = _U16.unpack_from(data, off + 2)[0]
                off += 4
            if ethertype != 0x0800:
                return None
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
            off = 0
        elif linktype == LINKTYPE_LINUX_SLL:
            if len(data) < 16 or _U16.unpack_from(data, 14)[0] != 0x0800:
                return None
            off = 16
        else:
            self.report.reject(n, "unsupported link type", str(linktype))
            return None
        if len(data) < off + 20 or data[off] >> 4 != 4:
            return None
        ihl = (data[off] & 0x0F) * 4
        if data[off + 9] != 17:
            return None
        if _U16.unpack_from(data, off + 6)[0] & 0x3FFF:
            self.report.reject(n, "IPv4 fragment", "fragments are not reassembled")
            return None
        udp = off + ihl
        if len(data) < udp + 8:
            self.report.reject(n, "truncated frame", "UDP header cut")
            return None
        sport, dport, ulen = _UDP.unpack_from(data, udp)
        if ulen < 8 or len(data) < udp + ulen:
            self.report.reject(n, "truncated frame", f"UDP length {ulen}, {len(data) - udp} octets captured")
            return None
        return data[off + 12 : off + 16], data[off + 16 : off + 20], sport, dport, data[udp + 8 : udp + ulen]

    def packet(self, n: int, data: bytes, linktype: int, ts_us: int) -> UsageRecord | None:
        udp = self.udp_payload(n, data, linktype)
        if udp is None:
            return None
        src, dst, sport, dport, payload = udp
        if dport in ACCT_PORTS and payload[:1] == b"\x04":
            return self.request(n, src, sport, payload, ts_us)
        if sport in ACCT_PORTS and payload[:1] == b"\x05":
            self.response(n, dst, dport, payload)
        return None

    def _message(self, n: int, payload: bytes) -> bytes | None:
        if len(payload) < 20:
            self.report.reject(n, "truncated RADIUS message", f"{len(payload)} octets")
            return None
        length = _U16.unpack_from(payload, 2)[0]
        if length < 20 or length > len(payload):
            self.report.reject(n, "truncated RADIUS message", f"Length {length}, {len(payload)} octets")
            return None
        return payload[:length]

    def response(self, n: int, nas: bytes, port: int, payload: bytes) -> None:
        msg = self._message(n, payload)
        if msg is None:
            return
        self.report.accounting_responses += 1
        request_auth = self.pending.pop((nas, port, msg[1]), None)
        if request_auth is None:
            self.report.reject(n, "Accounting-Response without a request", f"identifier {msg[1]}")
        elif not radius.response_authenticator_ok(msg, request_auth, self.secret):
            self.report.reject(n, "bad Response Authenticator", f"identifier {msg[1]}")

    def request(self, n: int, nas: bytes, port: int, payload: bytes, ts_us: int) -> UsageRecord | None:
        msg = self._message(n, payload)
        if msg is None:
            return None
        self.report.accounting_requests += 1
        key = (nas, port, msg[1])
        if self.pending.get(key) == msg[4:20]:
            self.report.retransmissions += 1
            return None
        self.pending[key] = msg[4:20]
        if not radius.request_authenticator_ok(msg, self.secret):
            self.report.reject(n, "bad Request Authenticator", "wrong shared secret or altered message")
            return None
        try:
            std, vendor = _attributes(msg)
            status = _u32(std, radius.ACCT_STATUS_TYPE, "Acct-Status-Type")
            session_id = _text(std, radius.ACCT_SESSION_ID)
            if session_id is None:
                raise _BadMessage("missing Acct-Session-Id")
            if status == radius.STATUS_START:
                self.start(n, session_id, std, _vendor_attributes(msg, vendor), ts_us)
                return None
            if status in (radius.STATUS_INTERIM, radius.STATUS_STOP):
                tgpp = _vendor_attributes(msg, vendor) if status == radius.STATUS_INTERIM else None
                return self.usage(n, session_id, status, std, ts_us, tgpp)
        except _BadMessage as exc:
            self.report.reject(n, "malformed Accounting-Request", str(exc))
        return None  # Accounting-On/Off and others carry no usage

    def start(
        self, n: int, session_id: str, std: dict[int, bytes], tgpp: dict[int, bytes], ts_us: int
    ) -> None:
        if session_id in self.sessions:
            self.report.reject(n, "duplicate Start", f"session {session_id!r} is already open")
            return
        line = _text(std, radius.CLASS) or _text(std, radius.CALLING_STATION_ID)
        if not line:
            raise _BadMessage("neither Class nor Calling-Station-Id names the line")
        charging = tgpp.get(radius.TGPP_CHARGING_ID)
        self.sessions[session_id] = _Session(
            line=line,
            imsi=_text(tgpp, radius.TGPP_IMSI),
            imeisv=_text(tgpp, radius.TGPP_IMEISV),
            apn=_text(std, radius.CALLED_STATION_ID),
            charging_id=int(_U32.unpack(charging)[0]) if charging and len(charging) == 4 else None,
            serving_plmn=_text(tgpp, radius.TGPP_SGSN_MCC_MNC),
            location=_location(tgpp),
            start_s=_u32(std, radius.EVENT_TIMESTAMP, "Event-Timestamp")
            if radius.EVENT_TIMESTAMP in std
            else ts_us // 1_000_000,
        )
        self.report.sessions += 1

    def usage(
        self,
        n: int,
        session_id: str,
        status: int,
        std: dict[int, bytes],
        ts_us: int,
        tgpp: dict[int, bytes] | None = None,
    ) -> UsageRecord | None:
        octets_in = _u32(std, radius.ACCT_INPUT_OCTETS, "Acct-Input-Octets")
        octets_out = _u32(std, radius.ACCT_OUTPUT_OCTETS, "Acct-Output-Octets")
        if radius.ACCT_INPUT_GIGAWORDS in std:
            octets_in += _u32(std, radius.ACCT_INPUT_GIGAWORDS, "Acct-Input-Gigawords") << 32
        if radius.ACCT_OUTPUT_GIGAWORDS in std:
            octets_out += _u32(std, radius.ACCT_OUTPUT_GIGAWORDS, "Acct-Output-Gigawords") << 32
        session_time = _u32(std, radius.ACCT_SESSION_TIME, "Acct-Session-Time")
        if status == radius.STATUS_STOP:
            terminate = _u32(std, radius.ACCT_TERMINATE_CAUSE, "Acct-Terminate-Cause")
            cause = codec.CLOSING_FOR_TERMINATE_CAUSE.get(terminate, int(ClosingCause.ABNORMAL))
        else:
            cause = int(ClosingCause.TIME_LIMIT)
        state = self.sessions.get(session_id)
        if state is None:
            self.report.reject(
                n, "no Start for session", f"{session_id!r}: its usage before this request is unknown"
            )
            return None
        moved = None if tgpp is None else _mobility_cause(state, tgpp)
        if moved is not None:
            cause = moved
        d_in, d_out = octets_in - state.last_in, octets_out - state.last_out
        duration = session_time - state.last_time
        if d_in < 0 or d_out < 0 or duration < 0:
            self.report.reject(n, "counters went backwards", f"session {session_id!r}")
            return None
        state.sequence += 1
        record = UsageRecord(
            line=state.line,
            type=UsageType.DATA,
            start=_EPOCH + timedelta(seconds=state.start_s + state.last_time),
            duration_s=duration,
            bytes_up=d_in,
            bytes_down=d_out,
            zone=self.zones.zone(state.serving_plmn or ""),
            session=session_id,
            imsi=state.imsi,
            imeisv=state.imeisv,
            apn=state.apn,
            charging_id=state.charging_id,
            serving_plmn=state.serving_plmn,
            cause=cause,
            sequence=state.sequence,
        )
        if status == radius.STATUS_STOP:
            del self.sessions[session_id]
        elif moved is not None and tgpp is not None:  # the context goes on where it moved
            state.serving_plmn = _text(tgpp, radius.TGPP_SGSN_MCC_MNC) or state.serving_plmn
            state.location = _location(tgpp)
            state.last_time = session_time
            state.last_in, state.last_out = octets_in, octets_out
        else:
            state.last_time = session_time
            state.last_in, state.last_out = octets_in, octets_out
        self.report.records += 1
        return record

    def finish(self) -> None:
        self.report.open_sessions = sorted(self.sessions)
        self.report.unanswered_requests = len(self.pending)


def _timestamp_us(meta: object, nano: bool) -> tuple[int, int]:
    """(microseconds since 1970, link type or -1) of a RawPcapReader / RawPcapNgReader metadata tuple."""
    sec = getattr(meta, "sec", None)
    if sec is not None:
        frac = int(getattr(meta, "usec", 0))
        return int(sec) * 1_000_000 + (frac // 1000 if nano else frac), -1
    ticks = (int(getattr(meta, "tshigh", 0)) << 32) | int(getattr(meta, "tslow", 0))
    resol = int(getattr(meta, "tsresol", 1_000_000)) or 1_000_000
    return ticks * 1_000_000 // resol, int(getattr(meta, "linktype", LINKTYPE_ETHERNET))


def open_capture(path: Path | str) -> RawPcapReader:
    """Open a pcap or pcapng file; `CaptureFileError` when it is missing, unreadable or not a capture."""
    path = Path(path)
    if not path.exists():
        raise CaptureFileError(f"{path}: no such file")
    if not path.is_file():
        raise CaptureFileError(f"{path}: not a file")
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise CaptureFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        if len(stream.read(4)) < 4:
            raise CaptureFileError(f"{path}: empty or too short to be a capture")
        stream.seek(0)
        opener: Any = RawPcapReader  # accepts an open binary file as well as a name
        reader: RawPcapReader = opener(stream)
        return reader
    except CaptureFileError:
        stream.close()
        raise
    except (Scapy_Exception, EOFError) as exc:
        stream.close()
        raise CaptureFileError(f"{path}: not a pcap or pcapng capture ({exc})") from exc
    except OSError as exc:
        stream.close()
        raise CaptureFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def records_from_pcap(
    path: Path | str, secret: bytes | str = DEFAULT_SECRET, report: ReadReport | None = None
) -> Iterator[UsageRecord]:
    """Usage records rebuilt from a capture's RADIUS accounting, in capture order.

    The file is opened at once (`CaptureFileError` if it cannot be); packets are
    read lazily.  Pass a `ReadReport` to learn what was rejected and why.
    """
    reader = open_capture(path)
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    return _records(reader, key, report if report is not None else ReadReport())


def _records(reader: RawPcapReader, secret: bytes, report: ReadReport) -> Iterator[UsageRecord]:
    decoder = _Decoder(secret, report)
    nano = bool(getattr(reader, "nano", False))
    default_linktype = int(getattr(reader, "linktype", LINKTYPE_ETHERNET))
    n = 0
    try:
        for data, meta in reader:
            n += 1
            ts_us, linktype = _timestamp_us(meta, nano)
            record = decoder.packet(n, bytes(data), default_linktype if linktype < 0 else linktype, ts_us)
            if record is not None:
                yield record
    finally:
        reader.close()
        report.packets = n
    decoder.finish()
