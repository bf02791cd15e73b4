"""Usage records rebuilt from the RADIUS accounting in captures (pcap or pcapng, one or several files).

Each Accounting-Request becomes a `gateway.acct_sessions.AcctRequest`; the
session rules (records per Interim-Update and Stop, retransmissions, sessions
joined mid-way, counter wraps, mobility causes) are `SessionTracker`'s.  This
module finds the requests:

- files: `gateway.capture.pcapfile` (pcap and pcapng, several interfaces of
  different link types); several files or a folder are merged in time order;
- link layers: Ethernet (802.1Q / QinQ tags, 802.1ah MAC-in-MAC, PPPoE sessions), Linux cooked v1 (113) and v2
  (276), BSD loopback NULL (0) and LOOP (108), raw IP (101, 12, 14), raw
  IPv4 (228) and IPv6 (229), Linux NFLOG (239);
- mirrored traffic: MPLS labels (IP, Ethernet pseudowires), GRE (IP, Ethernet, ERSPAN I-III) over IPv4/IPv6, VXLAN and Geneve;
- IPv4 and IPv6 (extension headers skipped), UDP to / from the accounting
  ports (1813 and 1646 unless told otherwise); fragmented UDP datagrams are
  reassembled, fragments of other traffic ignored (counted, not rejected);
- every Accounting-Request's authenticator is checked against the shared
  secret, every Accounting-Response's against its request.

Identities of a record:

| record field | from |
|---|---|
| line | Class (attribute 25) when it is printable text, else Calling-Station-Id (MSISDN); `line_from` chooses one |
| session | Acct-Session-Id |
| imsi / imeisv | 3GPP-IMSI / 3GPP-IMEISV |
| apn | Called-Station-Id |
| charging_id | 3GPP-Charging-ID |
| serving_plmn, zone | 3GPP-SGSN-MCC-MNC; zone from its MCC (`gateway.plmn`, as the gateway does) |

A packet that cannot be used is counted in the `ReadReport` with its number
(and file) and reason; reading never stops on a bad packet.  A file that is
not a capture or is damaged raises `CaptureFileError`; one cut short within a
packet is read up to the cut, listed in the report's `cut_short`.
"""

from __future__ import annotations

import heapq
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from accounting.records import UsageRecord
from gateway.acct_sessions import (
    CLOCK_FLOOR_S,
    HOLD_S,
    LATE_COPY_KEPT,
    MAX_GIGAWORDS,
    RETRY_WINDOW_S,
    STATUS_ACCOUNTING_OFF,
    STATUS_ACCOUNTING_ON,
    AcctRequest,
    EventTime,
    LineFrom,
    Rejects,
    SessionTracker,
    choose_line,
    class_for_line,
    main_reject_said,
    no_usable_said,
    plmn_of_location,
    serving_plmn_of,
    within_retry,
)
from gateway.capture import radius
from gateway.capture.gtpc import GTPC_PORT, GTPU_PORT
from gateway.capture.pcapfile import (
    NOT_A_PACKET,
    CaptureCutShort,
    CaptureFileError,
    check_file,
    compare_decompressed,
    is_capture,
    plain_sibling,
    read_frames,
    skipped_said,
)
from gateway.capture.sink import DEFAULT_SECRET
from gateway.ipv4 import Reassembly, Unfinished
from m2msim.fdlimit import FdLimitError, raise_fd_limit
from m2msim.inputs import each_once

__all__ = [
    "ACCT_PORTS",
    "CaptureFileError",
    "LineFrom",
    "ReadReport",
    "Reject",
    "Skipped",
    "capture_files",
    "records_from_pcap",
]

FDS_SPARE = 64  # the interpreter, imports, the output, its temporary file...
ACCT_PORTS = frozenset({radius.ACCT_PORT, 1646})  # 1646: the pre-RFC 2866 accounting port
RADSEC_PORT = 2083  # RADIUS over TLS (RFC 6614)
GTP_PRIME_PORT = 3386  # GTP' (TS 32.295: a GGSN's charging data records to its charging gateway), GTPv0's too
MAX_RADIUS_TCP = 4_096  # the longest RADIUS message over TCP (RFC 6613 2.3)
_TLS_CONTENT_TYPES = frozenset({20, 21, 22, 23})  # a TLS record's: change cipher spec, alert, handshake, data
IP_TCP = 6
MAX_LISTED_REJECTS = 1_000
SNAPLEN_CUT = "packet cut by the capture's snapshot length"
MAX_FRAGMENTED_DATAGRAMS = 4_096  # datagrams being reassembled at once; the oldest is dropped past it
MAX_FRAGMENTS = 8_192  # fragments kept for one datagram (as many as there are offsets)
# fragments of a datagram of other traffic told apart (their offsets, lengths and digests), at most: a G-PDU of
# 65,535 octets cut for an MTU of 1,280 has 52
OTHER_PIECES_KEPT = 64
# a datagram's fragments are put together this long (packet time) after its first, as Linux does
# (net.ipv4.ipfrag_time): a fragment later than that, of the same identification, is another datagram's
FRAGMENT_TIMEOUT_S = 30
# RADIUS messages wait this long (packet time) to be handled in time order: a capture's interfaces, or
# captures merged by mergecap, put packets out of order by up to this much; and at most this many wait
REORDER_S = 60
REORDER_LIMIT = 65_536
# how long (capture time, s, after its latest copy) a client's port and Identifier are remembered: an
# answered request for twice the retry window (a copy or the server's repeated answer past it is a new
# event; the margin covers packets of another interface handled late), an unanswered one for hours (a copy
# at any distance is re-sent, but no client re-sends for hours): a NAS with a new port per request made
# the maps grow without end
ANSWERED_KEPT_S = 2 * RETRY_WINDOW_S
SUPERSEDED_KEPT = 4  # the earlier copies of a request re-sent on its Identifier whose answers are told
UNANSWERED_KEPT_S = 6 * 3600
MAX_EARLY_RESPONSES = 4_096  # responses awaiting a request read after them; the oldest is a reject past it
# accounting clients the look-ahead pass (`_answered_clients`) remembers as answered somewhere in the captures,
# at most (past it, the others are taken as unanswered there: the retry window alone tells their copies)
MAX_ANSWERED_CLIENTS = 65_536

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_BSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239  # Linux netfilter's log (`tcpdump -i nflog:N`): TLVs, the packet in NFULA_PAYLOAD
NFULA_PAYLOAD = 9
NFPROTO_NETDEV, NF_NETDEV_EGRESS = 5, 1  # an NFLOG record's family and hook whose payload is the frame
LINKTYPE_LINUX_SLL2 = 276
LINK_TYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW_OPENBSD: "raw IP",
    LINKTYPE_RAW_BSD: "raw IP",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked v1",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_NFLOG: "Linux NFLOG",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}
_RAW_IP = frozenset({LINKTYPE_RAW, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSD, LINKTYPE_IPV4, LINKTYPE_IPV6})
_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})
_MPLS = frozenset({0x8847, 0x8848})  # unicast, multicast: labels, then IP or an Ethernet pseudowire
PBB = 0x88E7  # IEEE 802.1ah, MAC-in-MAC: the I-tag (4 octets), then the customer's Ethernet frame
PPPOE_SESSION = 0x8864  # RFC 2516: a 6-octet header, then PPP's protocol and the packet
_PPP_IP = {0x0021: 0x0800, 0x0057: 0x86DD}  # PPP's protocols IPv4, IPv6 (in 2 octets, or 1 compressed)
_CARRIED = frozenset({0x0800, 0x86DD, 0x0806, PBB, *_MPLS})  # Ethernet types a pseudowire's frame carries
IP_GRE = 47
VXLAN_PORT, GENEVE_PORT = 4789, 6081  # mirrored traffic in UDP (cloud traffic mirroring)
_TUNNEL_PORTS = frozenset({VXLAN_PORT, GENEVE_PORT})
MAX_TUNNELS = 8  # tunnels inside tunnels opened, at most (a crafted frame nests thousands)
# GRE protocol types carried: IP, or an Ethernet frame (transparent bridging, ERSPAN types I-II and III)
_GRE_ETHERNET = frozenset({0x6558, 0x88BE, 0x22EB})
_GRE_IP = frozenset({0x0800, 0x86DD})
# IPv6 extension headers walked through: hop-by-hop, routing, destination options, AH, and those of
# the uniform format (RFC 6564: next header, length in 8 octets less one): Mobility, HIP, Shim6,
# experimental (ESP's encrypt what follows)
_IPV6_EXTENSIONS = frozenset({0, 43, 60, 51, 135, 139, 140, 253, 254})


_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_UDP = struct.Struct("!HHH")
_UDP_PORTS = struct.Struct("!HH")
_FRAG6 = struct.Struct("!BBHI")

Udp = tuple[bytes, bytes, int, int, bytes]  # source, destination, source port, destination port, payload
_Waiting = tuple[int, int, int, str | None, int, Udp]  # time, arrival, packet number, file, kind, datagram


def _radius_stream(payload: bytes) -> bool:
    """Whether a TCP segment's payload starts as a stream of RADIUS accounting does (RFC 6613): messages
    of code 4 or 5, each Length 20 to 4,096 octets, back to back up to the segment's end or the last running
    past it (the stream cut into segments)."""
    pos, size = 0, len(payload)
    if size < 4:
        return False
    while pos + 4 <= size:
        length = _U16.unpack_from(payload, pos + 2)[0]
        if payload[pos] not in (4, 5) or not 20 <= length <= MAX_RADIUS_TCP:
            return False
        pos += length
    return pos >= size or payload[pos] in (4, 5)  # (or the next message's first octets)


def _carried_type(data: bytes, start: int) -> bool:
    """Whether an Ethernet frame starting at `start` has, past its VLAN tags, the type of a packet a
    link carries (IPv4, IPv6, ARP, MPLS)."""
    at = start + 12
    while len(data) >= at + 2 and _U16.unpack_from(data, at)[0] in _VLAN_TAGS:
        at += 4
    return len(data) >= at + 2 and _U16.unpack_from(data, at)[0] in _CARRIED


def _nflog_payload(data: bytes, order: str) -> tuple[int, int] | None:
    """Where an NFLOG record's NFULA_PAYLOAD is (start, end), its TLVs read in byte order `order`."""
    pos, size = 4, len(data)
    while pos + 4 <= size:
        length, kind = struct.unpack_from(order + "HH", data, pos)
        if length < 4:
            return None
        if kind == NFULA_PAYLOAD:
            return pos + 4, pos + length
        pos += (length + 3) & ~3
    return None


@dataclass(frozen=True, slots=True)
class Reject:
    packet: int  # 1-based packet number within its file, as tshark and Wireshark count
    reason: str
    file: str | None = None  # the capture file, when several were read


class ReadReport(Rejects):
    """What a read found besides the records: counts, and every packet it could not use."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []
        self.packets = 0
        self.accounting_requests = 0
        self.accounting_responses = 0
        self.authenticated_requests = 0
        self.duplicate_responses = 0
        self.status_server = 0  # Status-Server requests to the accounting ports (RFC 5997): no accounting
        self.unanswered_requests = 0
        self.fragments = 0  # IPv4/IPv6 fragments seen (of any traffic)
        self.reassembled = 0  # RADIUS messages rebuilt from fragments
        self.other_ports: Counter[int] = Counter()  # port -> datagrams shaped like Accounting-Requests
        self.reasons: Counter[str] = Counter()  # reject reason category -> count
        self.rejects: list[Reject] = []  # the first MAX_LISTED_REJECTS, with details
        self.current_file: str | None = None
        self.ports: list[int] = []  # the accounting ports read
        # files that end within a packet, read up to it: file, whole packets read, offset, reason
        self.cut_short: list[dict[str, object]] = []
        self.out_of_order = (
            0  # Accounting-Requests older than one of their client handled before (by REORDER_S)
        )
        self.out_of_order_first: dict[str, object] | None = None  # the first: packet, file, seconds late
        self.gtp_c = 0  # GTP-C datagrams seen (UDP 2123): no usage in them
        self.gtp_u = 0  # GTP-U datagrams seen (UDP 2152): user packets, no count of them
        # datagrams of UDP 3386: GTP' (its header's Protocol Type 0: the GGSN's charging data records, TS
        # 32.295) and GTPv0 (version 0, Protocol Type 1: TS 09.60's GTP, control and user plane). Not read:
        # the CDRs GTP' carries are billed by no record of ours
        self.gtp_prime = 0
        self.gtp_v0 = 0
        # fragmented datagrams given up with their first fragment never seen (within 30 s of their others:
        # a probe that saw part of a G-PDU's fragments, the first taking another link): what they carried,
        # and whether it was accounting, is not known
        self.fragments_without_first = 0
        # TCP segments of RADIUS over TCP or TLS (RFC 6613/6614): to or from the accounting ports, their
        # payload starting as Accounting-Requests or Responses do; to or from RadSec's, as a TLS record does.
        # Not read, their accounting in no record; by what they carry ('RADIUS', 'TLS') and the server's port
        self.radius_tcp = 0
        self.radius_tcp_by: Counter[tuple[str, int]] = Counter()

    @property
    def no_usable_requests(self) -> str | None:
        """Why no Accounting-Request of the captures could be used (none opened or joined a session:
        none present, all cut by the snapshot length, all rejected), naming them; None when some could."""
        if self.sessions or self.joined:
            return None
        said = no_usable_said(self.files, "Accounting-Request")
        if not self.rejected:
            ports = ", ".join(str(p) for p in sorted(self.ports))
            said += (
                f"{self.accounting_requests} Accounting-Requests (none with usage)"
                if self.accounting_requests
                else f"none among its {self.packets} packets (UDP port{'s' if len(self.ports) > 1 else ''} {ports})"
            )
            if self.other_ports:
                port, count = self.other_ports.most_common(1)[0]
                said += f"; {count} datagrams to UDP port {port} look like some: add --radius-port {port}?"
            if self.gtp_c or self.gtp_u:
                said += f"; {self._gtp_said()}"
            if self.gtp_prime or self.gtp_v0:
                said += f"; {self.gtp_prime_said()}"
            if self.radius_tcp:
                said += f"; {self.radius_tcp_said()}"
            return said
        listed = (
            (f"{r.file} packet {r.packet}" if r.file else f"packet {r.packet}", r.reason)
            for r in self.rejects
        )
        return said + main_reject_said(self.reasons, "packets", listed)

    def radius_tcp_said(self) -> str:
        """What the TCP segments of RADIUS over TCP or TLS seen (`radius_tcp`) were, and what they mean."""
        kinds = []
        for kind, what in (
            ("RADIUS", "carrying RADIUS accounting (RFC 6613) on TCP port"),
            ("TLS", "carrying TLS records (RadSec, RFC 6614) on TCP port"),
        ):
            ports = sorted(port for k, port in self.radius_tcp_by if k == kind)
            if ports:
                count = sum(self.radius_tcp_by[kind, port] for port in ports)
                kinds.append(f"{count} {what}{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}")
        one = self.radius_tcp == 1
        return (
            f"{self.radius_tcp} TCP segment{'' if one else 's'} of RADIUS over TCP or TLS ({'; '.join(kinds)}): "
            f"not read, the accounting {'it carries' if one else 'they carry'} is in no record"
        )

    def gtp_prime_said(self) -> str:
        """What the GTP' and GTPv0 datagrams seen (UDP 3386) were, and that they are not billed."""
        kinds = []
        if self.gtp_prime:
            kinds.append(
                f"{self.gtp_prime} GTP' datagram{'' if self.gtp_prime == 1 else 's'} (the charging data records "
                "a GGSN sends its charging gateway, TS 32.295)"
            )
        if self.gtp_v0:
            unit = "" if kinds else f" datagram{'' if self.gtp_v0 == 1 else 's'}"
            kinds.append(f"{self.gtp_v0} GTPv0{unit} (TS 09.60)")
        return (
            f"{' and '.join(kinds)} seen on UDP {GTP_PRIME_PORT}: not read, no record is made of them, the usage "
            "they carry is not billed here"
        )

    def _gtp_said(self) -> str:
        """Why the GTP of a capture gives no record."""
        return (
            f"{self.gtp_c} GTP-C and {self.gtp_u} GTP-U packets seen (UDP {GTPC_PORT}, {GTPU_PORT}), of "
            "which no record is made: GTP-C's PDP context messages carry no octet count, and GTP-U's "
            "user packets are not the volume the network counted (a probe samples them, or misses "
            "some); records come from the RADIUS accounting's Interim-Updates and Stops: capture "
            "its traffic too"
        )

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    @property
    def bad_secret(self) -> bool:
        """Every Accounting-Request failed its authenticator check: the shared secret is wrong."""
        return self.authenticated_requests == 0 and self.reasons["bad Request Authenticator"] > 0

    def reject(self, where: int, category: str, detail: str = "") -> None:
        self.reasons[category] += 1
        if len(self.rejects) < MAX_LISTED_REJECTS:
            file = self.current_file if len(self.files) > 1 else None
            self.rejects.append(Reject(where, f"{category}: {detail}" if detail else category, file))

    def as_dict(self) -> dict[str, object]:
        return {
            "files": list(self.files),
            "packets": self.packets,
            "accounting_requests": self.accounting_requests,
            "accounting_responses": self.accounting_responses,
            "retransmissions": self.retransmissions,
            **self.start_copies(),
            "duplicate_responses": self.duplicate_responses,
            "status_server": self.status_server,
            "records": self.records,
            "sessions": self.sessions,
            "joined_sessions": list(self.joined),
            "counter_wraps": self.counter_wraps,
            "fragments": self.fragments,
            "reassembled": self.reassembled,
            "unanswered_requests": self.unanswered_requests,
            "other_ports": {str(k): v for k, v in sorted(self.other_ports.items())},
            "open_sessions": list(self.open_sessions),
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "warning": self.no_usable_requests,
            "cut_short": list(self.cut_short),
            "gtp_c": self.gtp_c,
            "gtp_u": self.gtp_u,
            "gtp_prime": self.gtp_prime,
            "gtp_v0": self.gtp_v0,
            "fragments_without_first": self.fragments_without_first,
            "radius_tcp": self.radius_tcp,
            "radius_tcp_by": {f"{kind} {port}": n for (kind, port), n in sorted(self.radius_tcp_by.items())},
            "out_of_order": self.out_of_order,
            "out_of_order_first": self.out_of_order_first,
            "clock_wrong": self.clock_wrong,
            "clock_wrong_first": list(self.clock_wrong_first),
            "delay_wrong": self.delay_wrong,
            "delay_wrong_first": self.delay_wrong_first,
            "clock_unset": self.clock_unset,
            "clock_unset_first": self.clock_unset_first,
            "clock_unset_undated": self.clock_unset_undated,
            "clock_held": self.clock_held,
            "clock_held_first": list(self.clock_held_first),
            "rejects": [
                {"packet": r.packet, "reason": r.reason} | ({"file": r.file} if r.file else {})
                for r in self.rejects
            ],
        }


class _BadMessage(Exception):
    pass


def _attributes(msg: bytes) -> tuple[dict[int, bytes], list[int]]:
    """(standard attributes, offsets of Vendor-Specific attributes) of a RADIUS message.

    The first occurrence of an attribute wins; of several Class, the first that is a line id
    (`class_for_line`).
    """
    std: dict[int, bytes] = {}
    vendor: list[int] = []
    pos, end = 20, len(msg)
    while pos < end:
        a_type = msg[pos]
        a_len = msg[pos + 1] if pos + 1 < end else 0
        nxt = pos + a_len
        if a_len < 2 or nxt > end:
            raise _BadMessage(f"attribute {a_type} has length {a_len} at offset {pos}")
        if a_type == 26:  # Vendor-Specific
            vendor.append(pos)
        elif a_type not in std:
            std[a_type] = msg[pos + 2 : nxt]
        elif a_type == radius.CLASS:
            std[a_type] = class_for_line(std[a_type], msg[pos + 2 : nxt])
        pos = nxt
    return std, vendor


# what a client may change in a request it re-sends (RFC 2866 5.2, RFC 5080 2.2.1): Acct-Delay-Time; a
# proxy's Proxy-State and the Message-Authenticator over the new Identifier
PROXY_STATE = 33
MESSAGE_AUTHENTICATOR = 80
_RESEND_CHANGES = frozenset({41, PROXY_STATE, MESSAGE_AUTHENTICATOR})  # 41: Acct-Delay-Time


def _resend_form(msg: bytes) -> int:
    """A digest of a request's attributes but those a copy re-sent may change (`_RESEND_CHANGES`), as
    they are (the message was parsed: its attribute lengths hold), whatever the order of attributes of
    different types, in the order of those of one type (RFC 2865 5: a proxy may reorder the first, never
    the second): the attributes of each kind, in order, digested as a set of kinds (no sort), as
    records-from-radius-detail compares a block's attributes by name.  A Vendor-Specific's sub-attributes
    (RFC 2865 5.26) are each of the kind of their vendor and type (`_vendor_parts`): a proxy that encodes
    them again, in another order of types or one to a Vendor-Specific, makes the same request."""
    kinds: dict[object, bytes] = {}
    pos, end = 20, len(msg)
    while pos < end:  # (each attribute's length is 2 or more: the message was parsed)
        a_type = msg[pos]
        nxt = pos + msg[pos + 1]
        if a_type not in _RESEND_CHANGES:
            parts = _vendor_parts(msg, pos, nxt) if a_type == 26 else ((a_type, msg[pos:nxt]),)
            for kind, octets in parts:
                # (each with its length: those of a kind, one after the other, read back alike)
                kinds[kind] = kinds[kind] + octets if kind in kinds else octets
        pos = nxt
    return hash(frozenset(kinds.items()))


def _vendor_parts(msg: bytes, pos: int, nxt: int) -> list[tuple[object, bytes]]:
    """The sub-attributes of the Vendor-Specific at `pos` (up to `nxt`), each (its kind: vendor and type,
    its octets), when they are RFC 2865 5.26's (type, length, value) and fill it; else the whole of it,
    of its vendor's kind (a vendor's own format, or no sub-attribute)."""
    vendor = msg[pos + 2 : pos + 6]
    parts: list[tuple[object, bytes]] = []
    sub = pos + 6
    while sub < nxt:
        sub_end = sub + msg[sub + 1] if sub + 1 < nxt else nxt + 1
        if sub_end - sub < 2 or sub_end > nxt:
            return [((vendor, None), msg[pos:nxt])]
        parts.append(((vendor, msg[sub]), msg[sub:sub_end]))
        sub = sub_end
    return parts or [((vendor, None), msg[pos:nxt])]


_TGPP_WANTED = frozenset(
    {
        radius.TGPP_IMSI,
        radius.TGPP_CHARGING_ID,
        radius.TGPP_SGSN_ADDRESS,
        radius.TGPP_SGSN_MCC_MNC,
        radius.TGPP_IMEISV,
        radius.TGPP_RAT_TYPE,
        radius.TGPP_MS_TIMEZONE,
        radius.TGPP_USER_LOCATION_INFO,
    }
)


def _vendor_attributes(msg: bytes, offsets: list[int]) -> dict[int, bytes]:
    """The 3GPP (vendor 10415) sub-attributes a record uses, from the Vendor-Specific attributes at `offsets`."""
    tgpp: dict[int, bytes] = {}
    for pos in offsets:
        a_len = msg[pos + 1]
        if a_len < 8 or _U32.unpack_from(msg, pos + 2)[0] != radius.VENDOR_3GPP:
            continue
        sub, sub_end = pos + 6, pos + a_len
        while sub < sub_end:
            if sub + 2 > sub_end or msg[sub + 1] < 2 or sub + msg[sub + 1] > sub_end:
                raise _BadMessage(f"3GPP attribute at offset {sub} overruns its Vendor-Specific")
            if msg[sub] in _TGPP_WANTED:
                tgpp.setdefault(msg[sub], msg[sub + 2 : sub + msg[sub + 1]])
            sub += msg[sub + 1]
    return tgpp


def _u32(attrs: dict[int, bytes], a_type: int, name: str) -> int | None:
    value = attrs.get(a_type)
    if value is None:
        return None
    if len(value) != 4:
        raise _BadMessage(f"{name} has {len(value)} octets, not 4")
    return int(_U32.unpack(value)[0])


def _gigawords(attrs: dict[int, bytes], a_type: int, name: str) -> int | None:
    value = _u32(attrs, a_type, name)
    if value is not None and value > MAX_GIGAWORDS:
        raise _BadMessage(f"{name} {value} is out of range (more than 2^31 - 1: octets past 2^63 - 1)")
    return value


def _text(attrs: dict[int, bytes], a_type: int) -> str | None:
    """A text attribute (RFC 2865 5: UTF-8 SHOULD) as text; an octet that is no UTF-8 as `\\xNN`, so
    that distinct octets stay distinct (as U+FFFD, two sessions whose Acct-Session-Ids differed there
    were one, the second's requests taken for retransmissions of the first's)."""
    value = attrs.get(a_type)
    return value.decode("utf-8", "backslashreplace") if value else None


_Key = tuple[bytes, bytes, int, int]  # a fragmented datagram: source, destination, protocol, identification


def _past_extensions(data: bytes, start: int, next_header: int) -> tuple[int, int] | None:
    """(the protocol after the IPv6 extension headers at `start`, the first being `next_header`,
    and where it begins), or None when `data` ends within them."""
    while next_header in _IPV6_EXTENSIONS:
        if len(data) < start + 2:
            return None
        length = (data[start + 1] + 2) * 4 if next_header == 51 else (data[start + 1] + 1) * 8
        next_header = data[start]
        start += length
    return next_header, start


def _udp_start(data: bytes, next_header: int) -> int | None:
    """Where the UDP header is in a datagram put together from fragments, whose first header is
    `next_header` (17; in IPv6, extension headers of the fragmentable part may come before it, as
    destination options), or None when it carries no UDP (or is cut before)."""
    found = _past_extensions(data, 0, next_header)
    return found[1] if found is not None and found[0] == 17 else None


def _udp_head(datagram: Unfinished[_Key]) -> bytes | None:
    """The first fragment's octets of a datagram given up, from its UDP header on (None: none)."""
    head = datagram.head
    start = None if head is None else _udp_start(head, datagram.key[2])
    return None if head is None or start is None else head[start:]


def _piece(part: bytes) -> tuple[int, int]:
    """What `_Other.pieces` keeps of a fragment's octets to tell its copies: their length and hash."""
    return len(part), hash(part)


@dataclass(slots=True)
class _Other:
    """A fragmented datagram of other traffic (`_Fragments.others`): when its first fragment came, and
    what its fragments seen cover, to tell its later fragments from another datagram's."""

    seen: int  # µs
    pieces: dict[int, tuple[int, int]] | None  # offset -> (length, hash of its octets); None: first one cut
    end: int  # its length, once its last fragment came; -1 before

    def whole(self) -> bool:
        """Whether its fragments seen cover it from its start to its end."""
        if self.pieces is None or self.end < 0:
            return False
        at = 0
        for offset in sorted(self.pieces):
            if offset > at:
                return False
            at = max(at, offset + self.pieces[offset][0])
        return at >= self.end


class _Fragments:
    """Fragmented UDP datagrams (IPv4 and IPv6) put together (`gateway.ipv4.Reassembly`, on packet
    time), less a SPAN port's copies: a copy of a fragment of a datagram put together lately is no
    start of another datagram, which a later one of the identification would join."""

    def __init__(self) -> None:
        self.expired: list[tuple[int, bytes | None]] = []  # datagrams given up: first packet, first piece
        self.open: Reassembly[_Key] = Reassembly(
            FRAGMENT_TIMEOUT_S * 1_000_000 + 1,  # (µs: given up once more than 30 s have passed)
            MAX_FRAGMENTED_DATAGRAMS,
            MAX_FRAGMENTS,
            evict_oldest=True,
            on_given_up=self._given_up,
            on_too_long=self._too_long,
        )
        # datagrams dropped for a fragment ending past 65,535 octets: first packet, first piece
        self.too_long: list[tuple[int, bytes | None]] = []
        # key -> (time, pieces by offset) of the datagrams put together lately
        self.done: dict[_Key, tuple[int, Mapping[int, bytes]]] = {}
        # key -> the datagrams whose first fragment said they are other traffic (GTP-U over a path of too
        # small an MTU...): their other fragments are not kept
        self.others: dict[_Key, _Other] = {}
        self.without_first = 0  # datagrams given up whose first fragment never came

    def other(self, key: _Key, ts_us: int) -> bool:
        """Whether `key` names a datagram of other traffic (its first fragment said so) at `ts_us`."""
        entry = self.others.get(key)
        return entry is not None and ts_us - entry.seen <= FRAGMENT_TIMEOUT_S * 1_000_000

    def later_of_other(self, key: _Key, ts_us: int, offset: int, more: bool, part: bytes) -> bool:
        """Whether a later fragment (not cut) of `key` at `ts_us` is that of a datagram of other traffic:
        within 30 s of its first fragment, unless this is no copy of one of its fragments and that datagram
        came whole already or had other octets at this offset: then it is another datagram's, the
        identification used again (a RADIUS request's later fragment coming before its first was dropped
        so, the request a reject)."""
        if not self.other(key, ts_us):
            return False
        entry = self.others[key]
        if entry.pieces is None:
            return True  # (its first fragment cut: what it covers not known)
        piece = _piece(part)
        had = entry.pieces.get(offset)
        if had == piece:
            return True  # a copy
        if had is not None or entry.whole():
            return False  # (other octets where it had some: another datagram's, even with some of it lost)
        if len(entry.pieces) < OTHER_PIECES_KEPT:  # (past it, never whole: its fragments all taken as its)
            entry.pieces[offset] = piece
        if not more:
            entry.end = offset + len(part)
        return True

    def mark_other(self, key: _Key, ts_us: int, part: bytes | None = None, more: bool = True) -> bool:
        """Remember that the datagram `key` at `ts_us` is other traffic's, its first fragment `part` (None:
        cut by the snapshot length); False when it already was (a copy of its first fragment)."""
        entry = self.others[key] if self.other(key, ts_us) else None
        if entry is not None and (
            part is None or not entry.whole() or entry.pieces is None or entry.pieces.get(0) == _piece(part)
        ):
            return False  # (a datagram whose fragments all came is another's under the identification, but a copy)
        self.open.discard(key)  # (its later fragments come first: other traffic's too, kept no longer)
        self.others.pop(key, None)
        if len(self.others) >= MAX_FRAGMENTED_DATAGRAMS:
            del self.others[next(iter(self.others))]
        pieces = None if part is None else {0: _piece(part)}
        self.others[key] = _Other(ts_us, pieces, -1 if more or part is None else len(part))
        return True

    def _given_up(self, datagram: Unfinished[_Key]) -> None:
        # the identification used again (it wraps at 65,536), or pushed out by a newer datagram past
        # MAX_FRAGMENTED_DATAGRAMS: those pieces were another datagram's, whose other fragments never
        # came. Only one whose first fragment came can be told as accounting (a reject at the end):
        # those without fill no place (later fragments of G-PDUs whose first the probe never saw)
        head = _udp_head(datagram)
        if datagram.head is None:
            self.without_first += 1  # (counted: `ReadReport.fragments_without_first`)
        elif head is not None and len(self.expired) < MAX_FRAGMENTED_DATAGRAMS:
            self.expired.append((datagram.tag, head))

    def _too_long(self, datagram: Unfinished[_Key]) -> None:
        if len(self.too_long) < MAX_FRAGMENTED_DATAGRAMS:
            self.too_long.append((datagram.tag, _udp_head(datagram)))

    def add(self, n: int, ts_us: int, key: _Key, offset: int, more: bool, part: bytes) -> bytes | None:
        if not self.open.holds(key, ts_us):
            done = self.done.get(key)
            if (
                done is not None
                and ts_us - done[0] <= FRAGMENT_TIMEOUT_S * 1_000_000
                and done[1].get(offset) == part
            ):
                return None
        whole = self.open.add(key, ts_us, offset, more, part, tag=n)
        if whole is None:
            return None
        self.done.pop(key, None)
        if len(self.done) >= MAX_FRAGMENTED_DATAGRAMS:
            del self.done[next(iter(self.done))]
        self.done[key] = (ts_us, whole.pieces)
        return whole.data

    def unfinished(self) -> Iterator[tuple[int, bytes | None]]:
        """(first packet number, the first fragment's octets or None) of each datagram left incomplete."""
        yield from self.expired
        for datagram in self.open.unfinished():
            yield datagram.tag, _udp_head(datagram)


_IDENTITY_TYPES = frozenset({radius.CLASS, radius.CALLED_STATION_ID, radius.CALLING_STATION_ID})


@dataclass(frozen=True, slots=True)
class _Identity:
    """The identities in the tail of a request (from its first Vendor-Specific attribute on)."""

    std: dict[int, bytes]
    line: str | None
    apn: str | None
    imsi: str | None
    imeisv: str | None
    charging_id: int | None
    serving_plmn: str | None
    sgsn: str | None
    rat: int | None
    ms_tz: bytes | None


class _Decoder:
    """Frames to Accounting-Requests: link layer, IP, UDP, RADIUS, authenticators."""

    def __init__(
        self,
        secret: bytes,
        report: ReadReport,
        ports: frozenset[int],
        line_from: LineFrom,
        *,
        check_clock: bool = True,
        late_copies: int = LATE_COPY_KEPT,
        look_ahead: Callable[[], frozenset[bytes]] | None = None,
    ) -> None:
        """`look_ahead`: the accounting clients some Accounting-Response of the whole captures goes to (one
        more pass over them, `_answered_clients`), asked once, when a request unanswered so far is seen again
        past the retry window before any answer to its client was read (`_answered_later`)."""
        self.secret = secret
        self.report = report
        self.ports = ports
        self.tcp_ports = ports | {RADSEC_PORT}
        self.line_from = line_from
        self.tracker = SessionTracker(
            report, hold_s=HOLD_S, check_clock=check_clock, late_copies_kept=late_copies
        )
        self.pending: dict[tuple[bytes, int, int], bytes] = {}  # (NAS address, port, id) -> authenticator
        self.answered: dict[tuple[bytes, int, int], bytes] = {}  # the same -> last Response Authenticator
        # the same -> the Request Authenticator that response answered: a copy of an answered request
        # (the client re-sent before the response reached it) is a retransmission, not a new request
        self.answered_request: dict[tuple[bytes, int, int], bytes] = {}
        # the same -> when that request's latest copy was seen (s): the same octets again are a retransmission
        # within the client's retry window of it (`within_retry`), a new request later (a NAS rebooted)
        self.request_seen: dict[tuple[bytes, int, int], int] = {}
        # accounting clients some response to which was read (`_radius`: up to REORDER_S before the requests
        # handled now): the capture holds the server's answers to them, so a request of theirs still awaiting
        # one had none (`request`: its copy is re-sent, at any distance in time); for others (a capture of
        # one direction) an answer may have gone unseen
        self.answers_seen: set[bytes] = set()
        # the same, over the whole captures (None: not looked for yet): a server down for minutes as the
        # capture begins answers the client only then (`_answered_later`)
        self.look_ahead = look_ahead
        self.answered_anywhere: frozenset[bytes] | None = None
        # the same (NAS address, port, id) -> (attributes but those a copy may change, Acct-Delay-Time) of an
        # Accounting-On/Off awaiting its answer there: the same re-sent there, its Acct-Delay-Time grown, is a
        # copy (`_reset_resent`)
        self.resets_awaiting: dict[tuple[bytes, int, int], tuple[int, int]] = {}
        # client's address -> (latest copy's time, key) in time order, to forget those keys (`_forget`)
        # once ANSWERED_KEPT_S, then UNANSWERED_KEPT_S have passed on that client's clock
        self.seen_order: dict[bytes, tuple[deque[tuple[int, tuple[bytes, int, int]]], ...]] = {}
        self.unanswered_forgotten = 0
        self.status_pending: dict[tuple[bytes, int, int], bytes] = {}  # Status-Servers (RFC 5997) the same
        # the same, of a request seen only cut by the snapshot length so far (awaiting its answer, in `pending`)
        self.cut: set[tuple[bytes, int, int]] = set()
        # the same -> the Request Authenticators of the copies before the one awaiting its answer there, when
        # the client re-sent it with other octets (Acct-Delay-Time grown): the answer to one is no bad answer
        self.superseded: dict[tuple[bytes, int, int], list[bytes]] = {}
        # the same -> a response without its request yet (packet, file, message), oldest first
        self.early_responses: dict[tuple[bytes, int, int], tuple[int, str | None, bytes]] = {}
        self.fragments = _Fragments()
        self.identities: dict[bytes, _Identity] = {}  # a request's tail (first VSA on) -> what it says
        self.orig = 0  # the length on the wire of the packet being read (more than its frame: cut)
        # RADIUS messages waiting to be handled in time order: (time, arrival, packet, file, kind, datagram),
        # those read in time order in a queue, the others in a heap
        self.in_order: deque[_Waiting] = deque()
        self.disordered: list[_Waiting] = []
        self.arrivals = 0
        self.n, self.now_us = 0, 0  # the packet being read: its number and time
        self.newest_us = 0  # the latest packet time queued
        # accounting client's address -> the latest packet time of its messages handled (a capture per
        # client, or per interface, merged are in order client by client: that is what counts)
        self.handled_us: dict[bytes, int] = {}
        self.outer: tuple[int, int] | None = None  # (captured, on the wire) of a tunnel's frame being read
        self.tunnels = 0  # tunnels open around the frame being read
        # (copied, the packet's length) of an NFLOG record whose payload the log rule cut short
        self.logged: tuple[int, int] | None = None

    def _truncated(self, n: int, data: bytes, detail: str) -> None:
        """A frame too short for what it says: cut by the capture's snapshot length, or damaged."""
        if self.orig > len(data) and self.logged is not None:
            copied, whole = self.logged
            self.report.reject(
                n,
                SNAPLEN_CUT,
                f"NFLOG copied {copied} of the packet's {whole} bytes: log packets whole (nft "
                "'log group N' without snaplen, iptables NFLOG without --nflog-size)",
            )
        elif self.orig > len(data):
            captured, orig = self.outer or (len(data), self.orig)  # (the frame's, not a tunnel's inner one)
            self.report.reject(
                n,
                SNAPLEN_CUT,
                f"captured {captured} of {orig} bytes: capture with -s 0 (tcpdump, dumpcap) "
                "to keep whole packets",
            )
        else:
            self.report.reject(n, "truncated frame", detail)

    def _cut_request(self, data: bytes, at: int, nas: bytes, sport: int, dport: int) -> None:
        """An Accounting-Request cut by the snapshot length after its Authenticator: awaits its response
        (which is whole, and not one 'without a request')."""
        if self.orig > len(data) and dport in self.ports and len(data) >= at + 20 and data[at] == 4:
            self._queue(self.n, self.now_us, _CUT_REQUEST, (nas, b"", sport, dport, data[at : at + 20]))

    def _cut_before_ports(self, n: int, data: bytes) -> None:
        """A frame cut by the snapshot length before its UDP ports: it may be accounting (a reject);
        a frame merely short, on the wire too, is not."""
        if self.orig > len(data):
            self._truncated(n, data, "")

    # -- link layer and IP -------------------------------------------------------------------------

    def udp(self, n: int, data: bytes, linktype: int) -> Udp | None:
        """(source, destination, source port, destination port, payload) of a UDP datagram, else None."""
        if linktype == LINKTYPE_ETHERNET:
            if len(data) < 14:
                self._truncated(n, data, f"{len(data)} octets")
                return None
            off, ethertype = 14, _U16.unpack_from(data, 12)[0]
        elif linktype in _RAW_IP:
            off, ethertype = 0, 0
        elif linktype == LINKTYPE_LINUX_SLL2:
            if len(data) < 20:
                self._truncated(n, data, f"{len(data)} octets")
                return None
            off, ethertype = 20, _U16.unpack_from(data, 0)[0]
        elif linktype == LINKTYPE_LINUX_SLL:
            if len(data) < 16:
                self._truncated(n, data, f"{len(data)} octets")
                return None
            off, ethertype = 16, _U16.unpack_from(data, 14)[0]
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            off, ethertype = 4, 0  # the address family's encoding varies by system: read the IP version
        elif linktype == LINKTYPE_NFLOG:
            return self._nflog(n, data)
        elif linktype == NOT_A_PACKET:  # (a pcapng record numbered as a frame: a journal entry...)
            return None
        else:
            self.report.reject(n, "unsupported link type", str(linktype))
            return None
        while ethertype in _VLAN_TAGS and len(data) >= off + 4:  # 802.1Q, 802.1ad (QinQ)
            ethertype = _U16.unpack_from(data, off + 2)[0]
            off += 4
        if ethertype == PBB:  # a provider backbone's link: the customer's frame after the I-tag
            return self._ethernet_at(n, data, off + 4)
        if ethertype == PPPOE_SESSION and len(data) >= off + 8:  # PPPoE, then PPP's protocol
            compressed = data[off + 6] & 1  # (its protocol field compressed to one octet: RFC 1661)
            protocol = data[off + 6] if compressed else _U16.unpack_from(data, off + 6)[0]
            ethertype = _PPP_IP.get(protocol, -1)
            off += 7 if compressed else 8
        if ethertype in _MPLS:  # a core link: labels up to the bottom of the stack, then the IP version
            ethertype = 0
            while len(data) >= off + 4:
                off += 4
                if data[off - 2] & 1:
                    break
            else:
                off = len(data)
            if len(data) > off and not self._ip_under_labels(data, off):
                return self._pseudowire(n, data, off)
        if ethertype == 0 and len(data) > off:
            ethertype = {4: 0x0800, 6: 0x86DD}.get(data[off] >> 4, -1)
        if ethertype == 0x0800:
            return self._ipv4(n, data, off)
        if ethertype == 0x86DD:
            return self._ipv6(n, data, off)
        if ethertype in (0, PPPOE_SESSION) or ethertype in _VLAN_TAGS:  # cut before the IP version, in tags
            self._cut_before_ports(n, data)
        return None

    def _ip_under_labels(self, data: bytes, off: int) -> bool:
        """Whether the packet under the bottom MPLS label is IP, not an Ethernet pseudowire's frame: its
        first nibble is the IP version (an Ethernet frame's is its destination MAC's, 4 or 6 as often as
        not: 4c:96:14, 64:87:88...), and an IPv4 header captured whole has its checksum right, an IPv6
        header the payload length the frame has on the wire (with a frame check sequence or not).
        One failing those checks is still IP unless the frame read from there has an Ethernet type a
        link carries (`_carried_type`, as `_pseudowire` reads it): an IPv4 header whose checksum a
        card left to be filled (0, as a capture on a host with checksum offload shows it), an IPv6
        packet followed by a trailer (a packet broker's timestamp) were dropped without a word."""
        version = data[off] >> 4
        if version == 4:
            ihl = (data[off] & 0x0F) * 4
            if len(data) < off + max(ihl, 20):
                return ihl >= 20
            words = struct.unpack_from(f"!{ihl // 2}H", data, off)
            total: int = sum(words)
            while total > 0xFFFF:
                total = (total & 0xFFFF) + (total >> 16)
            return total == 0xFFFF or not _carried_type(data, off)
        if version == 6:
            if len(data) < off + 6:
                return True
            payload: int = _U16.unpack_from(data, off + 4)[0]
            return self.orig - (off + 40 + payload) in (0, 4) or not _carried_type(data, off)
        return False

    def _pseudowire(self, n: int, data: bytes, off: int) -> Udp | None:
        """The datagram of an Ethernet pseudowire's frame (EoMPLS, VPLS: RFC 4448) under the bottom MPLS
        label, after its 4-octet control word when there is one. The control word's first nibble is 0,
        but so is that of many a MAC address (00:1b:21, 02:...): the frame is the one whose Ethernet type,
        past its VLAN tags, is one a link carries (IP, ARP, MPLS) read from the nibble on; else it is
        after a control word. The associated channel (first nibble 1: OAM, BFD) carries no user traffic."""
        first = data[off] >> 4
        if first == 1:
            return None
        if first == 0 and not _carried_type(data, off):
            off += 4
        return self._ethernet_at(n, data, off)

    def _ethernet_at(self, n: int, data: bytes, off: int) -> Udp | None:
        """The datagram of the Ethernet frame carried from `off` to the end of the frame read: a
        pseudowire's, or the customer's frame of a provider backbone (802.1ah, MAC-in-MAC)."""
        if len(data) < off + 14:  # cut before the frame's Ethernet type: it may be accounting
            self._cut_before_ports(n, data)
            return None
        return self._inner(n, data, off, len(data), LINKTYPE_ETHERNET)

    def _nflog(self, n: int, data: bytes) -> Udp | None:
        """The datagram of a Linux NFLOG record: a 4-octet header (its first, the address family), then
        TLVs whose length and type are in the byte order of the machine that captured (that of the file,
        not said here: the one whose TLVs lead to the packet), each padded to 32 bits; the packet, from
        its IP header on, is NFULA_PAYLOAD's."""
        version = {2: 4, 10: 6}.get(data[0]) if data else None
        if version is None and data:
            return self._nflog_link(n, data)
        for order in "<>":
            payload = _nflog_payload(data, order)
            if payload is not None and payload[0] < len(data) and data[payload[0]] >> 4 == version:
                return self._logged(n, data, *payload, LINKTYPE_RAW)
        self._cut_before_ports(n, data)  # (cut before its packet: it may be accounting)
        return None

    def _nflog_link(self, n: int, data: bytes) -> Udp | None:
        """The datagram of an NFLOG record of the bridge family (7: `nft` table bridge, ebtables' nflog),
        netdev (5: ingress and egress hooks) or another not IP's own: its first TLV, the packet header,
        gives the Ethernet type (and, being first with length 8, the TLVs' byte order) and the hook. The
        payload is the packet from its network header on, VLAN tag taken out (the Ethernet type is the
        inner one), at every hook but netdev egress, where it is the Ethernet frame (as measured on Linux
        6.18 with `tcpdump -i nflog:N`)."""
        payload = None
        for order in "<>":
            if len(data) >= 12 and struct.unpack_from(order + "HH", data, 4) == (8, 1):
                payload = _nflog_payload(data, order)
                break
        if payload is None:
            self._cut_before_ports(n, data)
            return None
        if data[0] == NFPROTO_NETDEV and data[10] == NF_NETDEV_EGRESS:
            return self._logged(n, data, *payload, LINKTYPE_ETHERNET)
        head = bytes(12) + data[8:10]  # (an Ethernet header of its type: VLAN tags, MPLS read on)
        return self._logged(n, data, *payload, LINKTYPE_ETHERNET, head)

    def _logged(
        self, n: int, data: bytes, start: int, end: int, linktype: int, head: bytes = b""
    ) -> Udp | None:
        """The datagram of an NFLOG record's payload `data[start:end]` (after `head`). A log rule that
        copies part of each packet (nft's `snaplen`, iptables' `--nflog-size`) cuts it without the
        capture saying so (its record is whole): the IP header's length tells, and the packet is read
        as one the snapshot length cut (a reject saying so; a request's response is not one 'without
        a request'), where it was a 'truncated frame' and its response a reject too."""
        at = start - len(head) + (0 if linktype == LINKTYPE_RAW else 14)  # (its IP header, in `data`)
        kind = (head + data[start : start + 14])[12:14] if linktype != LINKTYPE_RAW else b""
        ip = data[at : min(at + 6, end)] if kind in (b"", b"\x08\x00", b"\x86\xdd") else b""
        wire = 0
        if len(ip) == 6 and ip[0] >> 4 == 4:
            wire = at + _U16.unpack_from(ip, 2)[0]
        elif len(ip) == 6 and ip[0] >> 4 == 6:
            wire = at + 40 + _U16.unpack_from(ip, 4)[0]
        if wire <= min(end, len(data)) or self.orig > len(data):  # (whole, or the capture cut it)
            return self._inner(n, data, start, end, linktype, head)
        self.logged = (min(end, len(data)) - at, wire - at)
        try:
            return self._inner(n, data, start, end, linktype, head, wire - start + len(head))
        finally:
            self.logged = None

    def _ipv4(self, n: int, data: bytes, off: int) -> Udp | None:
        if len(data) < off + 20 and (len(data) <= off + 9 or data[off + 9] in (17, IP_GRE)):
            self._cut_before_ports(n, data)  # (UDP or GRE, or its protocol not captured)
            return None
        if len(data) < off + 20 or data[off] >> 4 != 4:
            return None
        if data[off + 9] == IP_GRE and not _U16.unpack_from(data, off + 6)[0] & 0x3FFF:
            ihl = (data[off] & 0x0F) * 4
            return self._gre(n, data, off + ihl, off + _U16.unpack_from(data, off + 2)[0])
        frag = _U16.unpack_from(data, off + 6)[0]
        ihl = (data[off] & 0x0F) * 4
        if data[off + 9] != 17:
            if frag & 0x3FFF:  # (a fragment of other traffic: TCP, ICMP, GRE fragmented on its way)
                self.report.fragments += 1
            elif data[off + 9] == IP_TCP:  # (a total length of 0: a segment the card was left to cut, TSO)
                self._tcp(data, off + ihl, off + (_U16.unpack_from(data, off + 2)[0] or len(data)))
            return None
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
        if frag & 0x3FFF:
            total = _U16.unpack_from(data, off + 2)[0]
            key = (src, dst, 17, _U16.unpack_from(data, off + 4)[0])
            if self.orig > len(data):  # a fragment cut short cannot be reassembled
                first = None if frag & 0x1FFF else (17, off + ihl)  # (the first: its ports say)
                self._cut_fragment(n, data, first, key)
                return None
            return self._fragment(
                n, key, (frag & 0x1FFF) * 8, bool(frag & 0x2000), data[off + ihl : off + total]
            )
        return self._datagram(n, src, dst, data, off + ihl)

    def _ipv6(self, n: int, data: bytes, off: int) -> Udp | None:
        if len(data) < off + 40:
            self._cut_before_ports(n, data)
            return None
        next_header = data[off + 6]
        end = off + 40 + _U16.unpack_from(data, off + 4)[0]
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
        pos = off + 40
        while next_header in _IPV6_EXTENSIONS or next_header == 44:
            if len(data) < pos + 8:
                self._cut_before_ports(n, data)
                return None
            if next_header == 44:  # fragment header
                inner, _res, offset_flags, ident = _FRAG6.unpack_from(data, pos)
                if inner != 17 and inner not in _IPV6_EXTENSIONS:  # (UDP, or headers before it)
                    self.report.fragments += 1
                    return None
                key = (src, dst, inner, ident)
                if self.orig > len(data):  # a fragment cut short cannot be reassembled
                    # (the first: what it carries past its extension headers says)
                    first = None if offset_flags & 0xFFF8 else _past_extensions(data, pos + 8, inner)
                    self._cut_fragment(n, data, first, key)
                    return None
                return self._fragment(
                    n, key, offset_flags & 0xFFF8, bool(offset_flags & 1), data[pos + 8 : end]
                )
            length = (data[pos + 1] + 2) * 4 if next_header == 51 else (data[pos + 1] + 1) * 8
            next_header = data[pos]
            pos += length
        if next_header == IP_GRE:
            return self._gre(n, data, pos, end)
        if next_header != 17:
            if next_header == IP_TCP:  # (a Payload Length of 0: a segment the card was left to cut, TSO)
                self._tcp(data, pos, end if end > off + 40 else len(data))
            return None
        return self._datagram(n, src, dst, data, pos)

    # -- tunnels: mirrored traffic (ERSPAN, GRE, VXLAN, Geneve) ---------------------------------------

    def _gre(self, n: int, data: bytes, start: int, end: int) -> Udp | None:
        """The datagram a GRE packet carries (RFC 2784/2890: IP, transparent Ethernet bridging; Cisco's
        ERSPAN types I, II and III, as a remote SPAN port sends the traffic it mirrors), else None."""
        if len(data) < start + 4:
            self._cut_before_ports(n, data)
            return None
        flags, protocol = _U16.unpack_from(data, start)[0], _U16.unpack_from(data, start + 2)[0]
        if flags & 0x0007:  # version 1: PPTP's enhanced GRE, PPP inside
            return None
        # checksum and reserved, key, sequence number: 4 octets each when present
        head = start + 4 + 4 * ((flags >> 15 & 1) + (flags >> 13 & 1) + (flags >> 12 & 1))
        if protocol == 0x88BE and flags & 0x1000:  # ERSPAN type II (type I: no sequence, no header)
            head += 8
        elif protocol == 0x22EB:  # ERSPAN type III, and its platform-specific subheader (O flag)
            head += 12 + (8 if len(data) >= head + 12 and data[head + 11] & 1 else 0)
        if protocol in _GRE_ETHERNET:
            return self._inner(n, data, head, end, LINKTYPE_ETHERNET)
        if protocol in _GRE_IP:
            return self._inner(n, data, head, end, LINKTYPE_RAW)
        return None

    def _inner(
        self,
        n: int,
        data: bytes,
        start: int,
        end: int,
        linktype: int,
        head: bytes = b"",
        wire: int = 0,
    ) -> Udp | None:
        """The datagram of the frame a tunnel carries in `data[start:end]` (after `head`, a link header
        made up for it); what the capture cut off the outer frame is cut off the inner one (`wire`: the
        inner frame's length when known to be more)."""
        if self.tunnels >= MAX_TUNNELS:
            return None
        inner = head + data[start:end]
        outer_orig, outer = self.orig, self.outer
        self.orig = max(wire, len(inner) + max(0, outer_orig - len(data)))
        self.outer = outer or (len(data), outer_orig)
        self.tunnels += 1
        try:
            return self.udp(n, inner, linktype)
        finally:
            self.orig, self.outer = outer_orig, outer
            self.tunnels -= 1

    def _cut_fragment(self, n: int, data: bytes, first: tuple[int, int] | None, key: _Key) -> None:
        """A fragment the snapshot length cut, which cannot be reassembled: a reject, unless it is the
        first (`first`: the protocol it carries and where) and that, or its UDP ports, say it is other
        traffic's, then counted as such (a GTP one as GTP), and so are its datagram's next fragments; a
        mirror's tunnel (VXLAN, Geneve) may carry accounting: a reject."""
        if first is None:
            if self.fragments.other(key, self.now_us):
                self.report.fragments += 1
            else:
                self._truncated(n, data, "")
            return
        ports = (
            _UDP_PORTS.unpack_from(data, first[1]) if first[0] == 17 and len(data) >= first[1] + 4 else None
        )
        if first[0] != 17 or (
            ports is not None and self.ports.isdisjoint(ports) and ports[1] not in _TUNNEL_PORTS
        ):
            self.report.fragments += 1
            if self.fragments.mark_other(key, self.now_us) and ports is not None:
                self._gtp(ports[0], ports[1], data[first[1] + 8 : first[1] + 9])
        else:
            self._truncated(n, data, "")

    def _fragment(self, n: int, key: _Key, offset: int, more: bool, part: bytes) -> Udp | None:
        """A fragment not cut: put together with its datagram's others, unless its datagram is other
        traffic's (its first fragment's ports say so: counted, a GTP one as GTP, none of it kept)."""
        self.report.fragments += 1
        fragments = self.fragments
        if offset == 0:
            start = _udp_start(part, key[2])
            if start is not None and len(part) >= start + 8:
                sport, dport = _UDP_PORTS.unpack_from(part, start)
                if sport in self.ports or dport in self.ports or dport in _TUNNEL_PORTS:
                    fragments.others.pop(key, None)  # (its identification used again: this one is read)
                else:
                    if fragments.mark_other(key, self.now_us, part, more):
                        self._other_port(part, start, dport)
                        self._gtp(sport, dport, part[start + 8 : start + 9])
                    return None
        elif fragments.later_of_other(key, self.now_us, offset, more, part):
            return None
        whole = fragments.add(n, self.now_us, key, offset, more, part)
        if whole is None:
            return None
        start = _udp_start(whole, key[2])
        if start is None:
            return None
        udp = self._datagram(n, key[0], key[1], whole, start)
        if udp is not None and (udp[3] in self.ports or udp[2] in self.ports):
            self.report.reassembled += 1
        return udp

    def _datagram(self, n: int, src: bytes, dst: bytes, data: bytes, udp: int) -> Udp | None:
        if len(data) < udp + 8:  # not even a UDP header: nothing says it is accounting, unless cut short
            ports = _UDP_PORTS.unpack_from(data, udp) if len(data) >= udp + 4 else None
            if ports is None or not self.ports.isdisjoint(ports) or ports[1] in _TUNNEL_PORTS:
                self._cut_before_ports(n, data)  # (accounting, or a mirror's tunnel that may carry it)
            else:  # (cut after its ports, which say what it is: GTP counted as such)
                self._gtp(*ports)
            return None
        sport, dport, ulen = _UDP.unpack_from(data, udp)
        if dport not in self.ports and sport not in self.ports:
            if dport in _TUNNEL_PORTS and len(data) < udp + 16:
                self._cut_before_ports(n, data)  # (cut before the frame it carries)
                return None
            if dport == VXLAN_PORT and len(data) >= udp + 16 and data[udp + 8] & 0x08:  # VNI valid
                return self._inner(n, data, udp + 16, udp + ulen, LINKTYPE_ETHERNET)
            if dport == GENEVE_PORT and len(data) >= udp + 16 and data[udp + 10 : udp + 12] == b"\x65\x58":
                options = (data[udp + 8] & 0x3F) * 4  # Geneve carrying Ethernet, after its options
                return self._inner(n, data, udp + 16 + options, udp + ulen, LINKTYPE_ETHERNET)
            self._other_port(data, udp, dport)
            self._gtp(sport, dport, data[udp + 8 : udp + 9])
            return None
        if ulen < 8 or len(data) < udp + ulen:
            self._truncated(n, data, f"UDP length {ulen}, {len(data) - udp} octets captured")
            self._cut_request(data, udp + 8, src, sport, dport)
            return None
        return src, dst, sport, dport, data[udp + 8 : udp + ulen]

    def _gtp(self, sport: int, dport: int, first: bytes = b"") -> None:
        """Count a GTP datagram (a capture of GTP alone gives no record: the warning says why); `first`:
        its payload's first octet, when captured, which tells GTP' from GTPv0 on UDP 3386 (Protocol Type 0:
        GTP'; else version 0: GTPv0; not captured: GTP', the port's use today)."""
        if dport == GTPU_PORT or sport == GTPU_PORT:
            self.report.gtp_u += 1
        elif dport == GTPC_PORT or sport == GTPC_PORT:
            self.report.gtp_c += 1
        elif dport == GTP_PRIME_PORT or sport == GTP_PRIME_PORT:
            if first and first[0] & 0x10 and first[0] >> 5 == 0:
                self.report.gtp_v0 += 1
            elif not first or not first[0] & 0x10:
                self.report.gtp_prime += 1

    def _tcp(self, data: bytes, at: int, end: int) -> None:
        """Count a TCP segment (header at `at`, the IP packet ending at `end`) of RADIUS over TCP or TLS
        (`ReadReport.radius_tcp`): to or from an accounting port, its payload starting as Accounting-Requests
        or Responses do (`_radius_stream`); to or from RadSec's port, as a TLS record does.  Any other (a
        handshake, an acknowledgement, another protocol on the port) was counted too."""
        if len(data) < at + 13:
            return
        sport, dport = _U16.unpack_from(data, at)[0], _U16.unpack_from(data, at + 2)[0]
        if sport not in self.tcp_ports and dport not in self.tcp_ports:
            return
        payload = data[at + (data[at + 12] >> 4) * 4 : min(end, len(data))]
        port = dport if dport in self.tcp_ports else sport
        if port == RADSEC_PORT:
            if not (
                len(payload) >= 5 and payload[0] in _TLS_CONTENT_TYPES and payload[1] == 3 and payload[2] <= 4
            ):
                return
            kind = "TLS"
        elif _radius_stream(payload):
            kind = "RADIUS"
        else:
            return
        self.report.radius_tcp += 1
        self.report.radius_tcp_by[kind, port] += 1

    def _other_port(self, data: bytes, udp: int, dport: int) -> None:
        """Count a datagram to another port that looks like an Accounting-Request (code 4, Length fits)."""
        ulen = _U16.unpack_from(data, udp + 4)[0]
        if (
            ulen >= 28
            and len(data) >= udp + 12
            and data[udp + 8] == 4
            and _U16.unpack_from(data, udp + 10)[0] == ulen - 8
        ):
            self.report.other_ports[dport] += 1

    # -- RADIUS -------------------------------------------------------------------------------------

    def packet(self, n: int, data: bytes, linktype: int, ts_us: int) -> list[UsageRecord] | None:
        """Read a frame; returns the records of the RADIUS messages whose wait is over."""
        self.n = n
        self.now_us = ts_us
        ports = self.ports
        if (  # the common case inline: Ethernet, IPv4 without options, UDP, not a fragment
            linktype == LINKTYPE_ETHERNET
            and len(data) >= 42
            and data[12:15] == b"\x08\x00\x45"
            and data[23] == 17
            and not (data[20] & 0x3F or data[21])
        ):
            sport, dport, ulen = _UDP.unpack_from(data, 34)
            if dport not in ports and sport not in ports:
                if dport in _TUNNEL_PORTS:  # mirrored traffic (VXLAN, Geneve): opened on the long path
                    return self._datagram_of(n, data, linktype, ts_us)
                if data[42:43] == b"\x04":
                    self._other_port(data, 34, dport)
                self._gtp(sport, dport, data[42:43])
                return None
            if ulen < 8 or len(data) < 34 + ulen:
                self._truncated(n, data, f"UDP length {ulen}, {len(data) - 34} octets captured")
                self._cut_request(data, 42, data[26:30], sport, dport)
                return None
            src, dst, payload = data[26:30], data[30:34], data[42 : 34 + ulen]
        else:
            return self._datagram_of(n, data, linktype, ts_us)
        return self._radius(n, src, dst, sport, dport, payload, ts_us)

    def _datagram_of(self, n: int, data: bytes, linktype: int, ts_us: int) -> list[UsageRecord] | None:
        udp = self.udp(n, data, linktype)
        if udp is None:
            return None
        return self._radius(n, *udp, ts_us)

    def _radius(
        self, n: int, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ts_us: int
    ) -> list[UsageRecord] | None:
        """Queue a datagram of the accounting ports; returns the records of those whose wait is over."""
        if dport in self.ports or sport in self.ports:
            if sport in self.ports and payload[:1] == b"\x05":
                # (as it is read: a server answering late, or only once back, answers its client within the
                # time requests wait to be handled in order, and the requests re-sent meanwhile are copies)
                self.answers_seen.add(dst)
            return self._queue(n, ts_us, _RADIUS, (src, dst, sport, dport, payload))
        return None

    def _queue(self, n: int, ts_us: int, kind: int, datagram: Udp) -> list[UsageRecord] | None:
        """RADIUS messages are handled in time order, each REORDER_S (packet time) after it was read
        (at most REORDER_LIMIT wait): a later packet read first waits for it."""
        self.arrivals += 1
        entry = (ts_us, self.arrivals, n, self.report.current_file, kind, datagram)
        if ts_us >= self.newest_us:  # (the common case: in order, in a queue)
            self.in_order.append(entry)
            self.newest_us = ts_us
        else:
            heapq.heappush(self.disordered, entry)
        due = self.newest_us - REORDER_S * 1_000_000 - 1_000_000  # (handled a second's worth at a time)
        if (
            (not self.in_order or self.in_order[0][0] >= due)
            and (not self.disordered or self.disordered[0][0] >= due)
            and len(self.in_order) + len(self.disordered) <= REORDER_LIMIT
        ):
            return None
        return self.release(final=False)

    def release(self, *, final: bool) -> list[UsageRecord]:
        """Handle the RADIUS messages whose wait is over (`final`: every one), in time order."""
        in_order, disordered, report = self.in_order, self.disordered, self.report
        reading = report.current_file
        due = self.newest_us - REORDER_S * 1_000_000
        records: list[UsageRecord] = []
        while in_order or disordered:
            if disordered and (not in_order or disordered[0] < in_order[0]):
                entry = disordered[0]
                if not (final or entry[0] < due or len(in_order) + len(disordered) > REORDER_LIMIT):
                    break
                heapq.heappop(disordered)
            else:
                entry = in_order[0]
                if not (final or entry[0] < due or len(in_order) + len(disordered) > REORDER_LIMIT):
                    break
                in_order.popleft()
            ts_us, _arrival, n, file, kind, (src, dst, sport, dport, payload) = entry
            report.current_file = file
            if kind == _RADIUS and payload[:1] == b"\x04" and dport in self.ports:  # (what makes records)
                handled = self.handled_us.get(src, 0)
                if ts_us < handled:  # later than the wait: after a request of its client it came before
                    report.out_of_order += 1
                    if report.out_of_order_first is None:
                        late = (handled - ts_us) / 1e6
                        report.out_of_order_first = {"packet": n, "file": file, "late_s": late}
                else:
                    self.handled_us[src] = ts_us
            if kind == _CUT_REQUEST:
                key, auth = (src, sport, payload[1]), payload[4:20]
                if self.pending.get(key) == auth or self.answered_request.get(key) == auth:
                    continue  # a cut copy of a request read (a mirror's truncated copy, seen after it)
                self.cut.add(key)  # (its copy seen whole is the request: `_whole_of_cut`)
                self._seen(key, ts_us // 1_000_000)  # (forgotten in time as any request)
                self._await(n, key, auth)
                continue
            got = self._handle(n, src, dst, sport, dport, payload, ts_us)
            if got:
                records += got
        report.current_file = reading
        return records

    def _handle(
        self, n: int, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ts_us: int
    ) -> list[UsageRecord] | None:
        ports = self.ports
        code = payload[:1]
        if dport in ports and code == b"\x04":
            return self.request(n, src, sport, payload, ts_us)
        if sport in ports and code == b"\x05":
            self.response(n, dst, dport, payload)
        elif dport in ports and code == b"\x0c":
            self.status_server(n, src, sport, payload, ts_us)
        else:  # (no RADIUS: GTP whose other side took an accounting port as its own, counted so)
            self._gtp(sport, dport, payload[:1])
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

    def status_server(self, n: int, nas: bytes, port: int, payload: bytes, ts_us: int) -> None:
        """A Status-Server to an accounting port (RFC 5997 4: a proxy checking that its home server is
        alive): no accounting, but the server answers it with an Accounting-Response, paired here.  Its
        key is forgotten in time as a request's (`_seen`)."""
        msg = self._message(n, payload)
        if msg is not None:
            self.report.status_server += 1
            key = (nas, port, msg[1])
            self.status_pending[key] = msg[4:20]
            self._seen(key, ts_us // 1_000_000)

    def response(self, n: int, nas: bytes, port: int, payload: bytes) -> None:
        msg = self._message(n, payload)
        if msg is None:
            return
        key = (nas, port, msg[1])
        status_auth = self.status_pending.get(key)
        if status_auth is not None and radius.response_authenticator_ok(msg, status_auth, self.secret):
            del self.status_pending[key]  # the answer to a Status-Server: no accounting
            self.answered[key] = msg[4:20]  # (a copy of it is a duplicate response)
            return
        self.report.accounting_responses += 1
        request_auth = self.pending.pop(key, None)
        if request_auth is None:
            if self.answered.get(key) == msg[4:20] or self._answers_superseded(key, msg):
                self.report.duplicate_responses += 1
                return
            # its request may come next: dated a little later, by another interface's or probe's clock
            early = self.early_responses
            if key in early and early[key][2] == msg:
                self.report.duplicate_responses += 1
                return
            if key in early:
                self._without_request(*early.pop(key))
            elif len(early) >= MAX_EARLY_RESPONSES:
                self._without_request(*early.pop(next(iter(early))))
            early[key] = (n, self.report.current_file, msg)
        elif not radius.response_authenticator_ok(msg, request_auth, self.secret):
            self.pending[key] = request_auth  # its client drops it (RFC 2865 3): still unanswered, re-sent
            if self._answers_superseded(key, msg):
                self.report.duplicate_responses += 1  # (the answer to a copy before the one awaiting)
            else:
                self.report.reject(n, "bad Response Authenticator", f"identifier {msg[1]}")
        else:
            self.answered[key] = msg[4:20]
            self.answered_request[key] = request_auth
            self.resets_awaiting.pop(key, None)

    def _answers_superseded(self, key: tuple[bytes, int, int], msg: bytes) -> bool:
        """Whether the response `msg` answers a request its client re-sent on the same Identifier with other
        octets since (`superseded`): the server answered both copies, the first late."""
        return any(
            radius.response_authenticator_ok(msg, auth, self.secret) for auth in self.superseded.get(key, ())
        )

    def _await(self, n: int, key: tuple[bytes, int, int], auth: bytes) -> None:
        """A request (`key`: its client's address, port and Identifier) awaits its response; one read just
        before it, whose time said it came first, is paired now."""
        self.pending[key] = auth
        early = self.early_responses.pop(key, None) if self.early_responses else None
        if early is None:
            return
        msg = early[2]
        if radius.response_authenticator_ok(msg, auth, self.secret):
            del self.pending[key]
            self.answered[key] = msg[4:20]
            self.answered_request[key] = auth
        else:
            self._without_request(*early)

    def _seen(self, key: tuple[bytes, int, int], seen_s: int) -> None:
        """A request on `key` seen at `seen_s` (its latest copy): remembered, and the client's keys whose
        time has passed forgotten (amortised O(1): each time is queued once and taken off once)."""
        self.request_seen[key] = seen_s
        order = self.seen_order.get(key[0])
        if order is None:
            order = self.seen_order[key[0]] = (deque(), deque())
        order[0].append((seen_s, key))
        # on this packet's own time: by the client's latest one (a packet dated later, read before it), a
        # request read out of order forgot itself as it was read, and a copy of it was a new request
        now_s = seen_s
        answered_window, unanswered_window = order
        seen = self.request_seen
        while answered_window and answered_window[0][0] < now_s - ANSWERED_KEPT_S:
            t, old = answered_window.popleft()
            if seen.get(old) != t:
                continue  # seen again since: queued again
            if old in self.pending or old in self.status_pending:
                unanswered_window.append((t, old))  # kept for hours
            else:
                self._forget(old)
        while unanswered_window and unanswered_window[0][0] < now_s - UNANSWERED_KEPT_S:
            t, old = unanswered_window.popleft()
            if seen.get(old) == t:
                if self.pending.pop(old, None) is not None:
                    self.unanswered_forgotten += 1
                self.status_pending.pop(old, None)
                self._forget(old)

    def _forget(self, key: tuple[bytes, int, int]) -> None:
        self.cut.discard(key)
        self.resets_awaiting.pop(key, None)
        self.superseded.pop(key, None)
        self.request_seen.pop(key, None)
        self.answered.pop(key, None)
        self.answered_request.pop(key, None)

    def _without_request(self, n: int, file: str | None, msg: bytes) -> None:
        report = self.report
        reading, report.current_file = report.current_file, file
        report.reject(n, "Accounting-Response without a request", f"identifier {msg[1]}")
        report.current_file = reading

    def request(self, n: int, nas: bytes, port: int, payload: bytes, ts_us: int) -> list[UsageRecord] | None:
        msg = self._message(n, payload)
        if msg is None:
            return None
        report = self.report
        report.accounting_requests += 1
        key = (nas, port, msg[1])
        auth = msg[4:20]
        seen_s = ts_us // 1_000_000
        pending = self.pending.get(key)
        whole_of_cut = False
        retry = within_retry(self.request_seen.get(key, seen_s), seen_s)
        if (
            # unanswered where the capture holds the server's answers to its client: re-sent until answered
            # (RFC 2866 2), whatever the backoff between copies
            (pending == auth and (nas in self.answers_seen or (not retry and self._answered_later(nas))))
            or ((pending == auth or (pending is None and self.answered_request.get(key) == auth)) and retry)
        ):
            whole_of_cut = bool(self.cut) and self._whole_of_cut(key)
            if not whole_of_cut:
                report.retransmissions += 1  # the same octets again, before or after the response
                if seen_s > self.request_seen.get(key, seen_s - 1):
                    self._seen(key, seen_s)
                self._reset_copy_seen(msg, nas, ts_us)
                return None
        self._seen(key, seen_s)
        superseded = False  # (an unanswered request on its key, other octets: `_reset_resent`)
        if not whole_of_cut:  # (that one awaits, or had, its answer already)
            if pending is not None and pending != auth:
                superseded = True
                # re-sent on its Identifier with its octets changed (Acct-Delay-Time grown), or another
                # request: an answer to the copy before, seen after this, is no bad one
                earlier = self.superseded.setdefault(key, [])
                earlier[: max(0, len(earlier) - SUPERSEDED_KEPT + 1)] = []
                earlier.append(pending)
            self.cut.discard(key)  # (a request seen whole awaits there now: its copies are retransmissions)
            self._await(n, key, auth)
        if not radius.request_authenticator_ok(msg, self.secret):
            report.reject(n, "bad Request Authenticator", "wrong shared secret or altered message")
            return None
        report.authenticated_requests += 1
        try:
            req = self._acct_request(msg, nas, ts_us)
        except _BadMessage as exc:
            report.reject(n, "malformed Accounting-Request", str(exc))
            return None
        if req is None or req.status not in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF):
            if self.resets_awaiting:
                self.resets_awaiting.pop(key, None)  # (another request took the Identifier)
            return None if req is None else self.tracker.request(req, n)  # (others carry no usage)
        if self._reset_resent(key, msg, req.delay or 0, superseded):
            report.retransmissions += 1
            self.tracker.reset_copy_seen(req)
            return None
        return self.tracker.request(req, n)  # (Accounting-On/Off end the client's sessions)

    def _answered_later(self, nas: bytes) -> bool:
        """Whether the captures hold some Accounting-Response to the client `nas`, read or not yet: the server
        answers its client, so a request of that client still unanswered had none, and its copy is re-sent
        (a server down for minutes as the capture begins, answering only its client's later copies).  The
        captures are looked through once, the first time it is asked (`look_ahead`)."""
        if self.look_ahead is None:
            return False
        if self.answered_anywhere is None:
            self.answered_anywhere = self.look_ahead()
        return nas in self.answered_anywhere

    def _reset_resent(self, key: tuple[bytes, int, int], msg: bytes, delay: int, superseded: bool) -> bool:
        """Whether the Accounting-On/Off `msg` on `key` (its client's address, port and Identifier) is a copy of
        the one awaiting its answer there (`superseded`: it had none), re-sent with its Acct-Delay-Time grown:
        its other attributes the same (`_resend_form`).  A rebooted NAS sends its Accounting-On afresh, its
        Acct-Delay-Time none or 0 again; a copy told by the time it was sent (seen less Acct-Delay-Time) is
        the tracker's, this one whatever the time between (a NAS counting its Acct-Delay-Time from its first
        retry, or its backoff, not from the first copy)."""
        form = _resend_form(msg)
        awaiting = self.resets_awaiting.get(key)
        if superseded and awaiting is not None and awaiting[0] == form and delay > awaiting[1]:
            self.resets_awaiting[key] = (form, delay)
            return True
        self.resets_awaiting[key] = (form, delay)  # (forgotten with its key: `_forget`, or answered)
        return False

    def _whole_of_cut(self, key: tuple[bytes, int, int]) -> bool:
        """Whether the request on `key` was seen only cut by the snapshot length so far (a reject, read
        no further): a copy of it seen whole is the request, read then (once)."""
        if key not in self.cut:
            return False
        self.cut.discard(key)
        return True

    def _reset_copy_seen(self, msg: bytes, nas: bytes, ts_us: int) -> None:
        """A retransmission (the same octets) that is an Accounting-On/Off: the session tracker's retry window
        for it runs from this copy too (`SessionTracker.reset_copy_seen`), as it does in a detail file, which
        logs every copy. It ran from the copy the tracker had read: the same Accounting-On re-sent later on
        another Identifier was a restart in a capture, a copy in the detail file."""
        try:
            req = self._acct_request(msg, nas, ts_us)
        except _BadMessage:
            return  # (so was the first copy: rejected)
        if (
            req is not None
            and req.status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF)
            and radius.request_authenticator_ok(msg, self.secret)
        ):
            self.tracker.reset_copy_seen(req)

    def _acct_request(self, msg: bytes, nas: bytes, ts_us: int) -> AcctRequest | None:
        # The attributes before the first Vendor-Specific are parsed every time (the counters are
        # there in a GGSN's requests); from it on, a session's requests repeat the same octets: that
        # tail is parsed once and its identity cached.
        std: dict[int, bytes] = {}
        pos, end = 20, len(msg)
        while pos < end:
            a_type = msg[pos]
            if a_type == 26:  # Vendor-Specific: the tail starts here
                break
            a_len = msg[pos + 1] if pos + 1 < end else 0
            nxt = pos + a_len
            if a_len < 2 or nxt > end:
                raise _BadMessage(f"attribute {a_type} has length {a_len} at offset {pos}")
            if a_type not in std:
                std[a_type] = msg[pos + 2 : nxt]
            elif a_type == radius.CLASS:  # several: the first that is a line id
                std[a_type] = class_for_line(std[a_type], msg[pos + 2 : nxt])
            pos = nxt
        tail = msg[pos:]
        identity = self.identities.get(tail)
        if identity is None:
            if len(self.identities) >= 65_536:
                self.identities.clear()
            identity = self.identities[tail] = self._identity(tail, pos)
        tail_std = identity.std
        if tail_std:
            head_std = std
            std = dict(tail_std)
            std.update(head_std)  # the first occurrence wins: the head's
            if radius.CLASS in head_std and radius.CLASS in tail_std:
                std[radius.CLASS] = class_for_line(head_std[radius.CLASS], tail_std[radius.CLASS])
            line, apn = identity.line, identity.apn
            if not _IDENTITY_TYPES.isdisjoint(head_std):
                line, apn = self._line(std), _text(std, radius.CALLED_STATION_ID)
        else:
            line, apn = self._line(std), _text(std, radius.CALLED_STATION_ID)
        status = _u32(std, radius.ACCT_STATUS_TYPE, "Acct-Status-Type")
        if status is None:
            raise _BadMessage("missing Acct-Status-Type")
        nas_ip, nas_id, nas_ipv6 = (
            std.get(radius.NAS_IP_ADDRESS),
            std.get(NAS_IDENTIFIER),
            std.get(NAS_IPV6_ADDRESS),
        )
        client = nas_ip or nas_id or nas_ipv6 or nas
        nas_names = (nas_ip or None, nas_id or None, nas_ipv6 or None)
        if status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF):  # the client's sessions end (no usage)
            return AcctRequest(
                status=status,
                session_id="",
                client=client,
                nas_names=nas_names,
                time_s=ts_us // 1_000_000,
                event_time=_u32(std, radius.EVENT_TIMESTAMP, "Event-Timestamp"),
                delay=_u32(std, ACCT_DELAY_TIME, "Acct-Delay-Time"),
                reset_id=_text(std, radius.ACCT_SESSION_ID) or "",
            )
        if status not in (radius.STATUS_START, radius.STATUS_INTERIM, radius.STATUS_STOP):
            return None
        session_id = _text(std, radius.ACCT_SESSION_ID)
        if session_id is None:
            raise _BadMessage("missing Acct-Session-Id")
        event = _u32(std, radius.EVENT_TIMESTAMP, "Event-Timestamp")
        # A Start's attributes are digested when it has no Event-Timestamp (or one before 2000): two Starts
        # with one are alike only with the same, and a copy of it is told by that (its signature) first.
        resend_form = (
            _resend_form(msg)
            if status == radius.STATUS_START and (event is None or event < CLOCK_FLOOR_S)
            else None
        )
        return AcctRequest(
            status=status,
            session_id=session_id,
            client=client,
            nas_names=nas_names,
            time_s=ts_us // 1_000_000,
            line=line,
            event_time=event,
            session_time=_u32(std, radius.ACCT_SESSION_TIME, "Acct-Session-Time"),
            in_lo=_u32(std, radius.ACCT_INPUT_OCTETS, "Acct-Input-Octets"),
            in_gw=_gigawords(std, radius.ACCT_INPUT_GIGAWORDS, "Acct-Input-Gigawords"),
            out_lo=_u32(std, radius.ACCT_OUTPUT_OCTETS, "Acct-Output-Octets"),
            out_gw=_gigawords(std, radius.ACCT_OUTPUT_GIGAWORDS, "Acct-Output-Gigawords"),
            terminate=_u32(std, radius.ACCT_TERMINATE_CAUSE, "Acct-Terminate-Cause"),
            delay=_u32(std, ACCT_DELAY_TIME, "Acct-Delay-Time"),
            resend_form=resend_form,
            imsi=identity.imsi,
            imeisv=identity.imeisv,
            apn=apn,
            charging_id=identity.charging_id,
            serving_plmn=identity.serving_plmn,
            sgsn=identity.sgsn,
            rat=identity.rat,
            ms_tz=identity.ms_tz,
        )

    def _line(self, std: dict[int, bytes]) -> str | None:
        return choose_line(std.get(radius.CLASS), _text(std, radius.CALLING_STATION_ID), self.line_from)

    def _identity(self, tail: bytes, offset: int) -> _Identity:
        """What a request's tail (from its first Vendor-Specific on) says, parsed once per distinct tail."""
        message = bytes(20) + tail
        try:
            std, vendor = _attributes(message)
        except _BadMessage as exc:  # name the offset in the real message
            raise _BadMessage(f"{exc} (+{offset - 20} octets)") from None
        tgpp = _vendor_attributes(message, vendor)
        charging = tgpp.get(radius.TGPP_CHARGING_ID)
        rat = tgpp.get(radius.TGPP_RAT_TYPE)
        sgsn = tgpp.get(radius.TGPP_SGSN_ADDRESS)
        plmn = tgpp.get(radius.TGPP_SGSN_MCC_MNC)
        location = tgpp.get(radius.TGPP_USER_LOCATION_INFO)
        try:
            serving_plmn = serving_plmn_of(plmn) if plmn else None
        except ValueError as exc:
            raise _BadMessage(f"3GPP-SGSN-MCC-MNC {exc}") from None
        if serving_plmn is None and location:  # (the cell's network: where the device is served)
            try:
                serving_plmn = plmn_of_location(location)
            except ValueError as exc:
                raise _BadMessage(f"3GPP-User-Location-Info {exc}") from None
        return _Identity(
            std=std,
            line=self._line(std),
            apn=_text(std, radius.CALLED_STATION_ID),
            imsi=_text(tgpp, radius.TGPP_IMSI),
            imeisv=_text(tgpp, radius.TGPP_IMEISV),
            charging_id=int(_U32.unpack(charging)[0]) if charging and len(charging) == 4 else None,
            serving_plmn=serving_plmn,
            sgsn=sgsn.hex() if sgsn else None,
            rat=rat[0] if rat else None,
            ms_tz=tgpp.get(radius.TGPP_MS_TIMEZONE),
        )

    def finish(self) -> list[UsageRecord]:
        """The end of the captures: returns the records still waiting or held."""
        records = self.release(final=True)
        records += self.tracker.finish()
        for early in self.early_responses.values():
            self._without_request(*early)
        self.early_responses = {}
        self.report.unanswered_requests = len(self.pending) + self.unanswered_forgotten
        given_up = [
            *(
                (n, head, "fragmented RADIUS message longer than 65,535 octets", "dropped")
                for n, head in self.fragments.too_long
            ),
            *(
                (n, head, "incomplete fragmented RADIUS message", "fragments missing")
                for n, head in self.fragments.unfinished()
            ),
        ]
        self.report.fragments_without_first = self.fragments.without_first + sum(
            datagram.head is None for datagram in self.fragments.open.unfinished()
        )
        for first, head, category, detail in given_up:
            if head is not None and len(head) >= 4:
                sport, dport = _U16.unpack_from(head, 0)[0], _U16.unpack_from(head, 2)[0]
                if sport in self.ports or dport in self.ports:
                    self.report.reject(first, category, detail)
        return records


class _AnswerScout(_Decoder):
    """The look-ahead pass: the accounting clients some Accounting-Response of the captures goes to, read
    through the same link layers, tunnels and reassembly as the records are; nothing else kept."""

    def __init__(self, ports: frozenset[int]) -> None:
        super().__init__(b"", ReadReport(), ports, "auto", check_clock=False)
        self.clients: set[bytes] = set()

    def _radius(
        self, n: int, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ts_us: int
    ) -> list[UsageRecord] | None:
        if sport in self.ports and payload[:1] == b"\x05" and len(self.clients) < MAX_ANSWERED_CLIENTS:
            self.clients.add(dst)
        return None


def _answered_clients(files: list[Path], ports: frozenset[int]) -> frozenset[bytes]:
    """Every accounting client (address) some Accounting-Response in `files` goes to: one more pass over
    the captures, up to a cut within a packet (said by the records' own pass)."""
    scout = _AnswerScout(ports)
    for path in files:
        try:
            for n, (ts_us, linktype, data, orig) in enumerate(read_frames(path), 1):
                scout.orig = orig
                scout.packet(n, data, linktype, ts_us)
        except CaptureCutShort:
            pass
    return frozenset(scout.clients)


_RADIUS, _CUT_REQUEST = 0, 1  # what waits: a datagram of the accounting ports; a request cut short
ACCT_DELAY_TIME = 41
NAS_IDENTIFIER = 32
NAS_IPV6_ADDRESS = 95


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file of a folder given that is not read, and why."""

    path: Path
    reason: str


def capture_files(inputs: Iterable[Path | str]) -> tuple[list[Path], list[Skipped]]:
    """(capture files, other files skipped, with why) of the inputs: files as given, folders' captures
    by name.  A capture compressed by gzip or zstd beside the plain capture of its name (`gzip -k
    part.pcap`: `part.pcap.gz`) that holds the same bytes, or the first bytes of the other, is read
    once, from the longer, the other skipped (`_read_once`).

    `CaptureFileError` for a missing input or a folder without any capture.
    """
    files: list[Path] = []
    skipped: list[Skipped] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            members = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            found = [p for p in members if is_capture(p)]
            if not found:
                inner = path / "capture"  # (a run folder: `m2msim run --capture` wrote its capture there)
                hint = f": its capture is in {inner}, give that folder" if inner.is_dir() else ""
                raise CaptureFileError(f"{path}: folder holds no pcap or pcapng file{hint}")
            files += found
            skipped += [Skipped(p, skipped_said(p)) for p in members if p not in found]
        elif not path.exists():
            raise CaptureFileError(f"{path}: no such file")
        else:
            files.append(path)
    return _read_once(files, skipped)


def _read_once(files: list[Path], skipped: list[Skipped]) -> tuple[list[Path], list[Skipped]]:
    """`files` less the copies of a capture read twice, each listed in `skipped` with why: the
    same file given again (`m2msim.inputs.each_once`); a compressed one (gzip or zstd) whose plain
    capture by its name is read too and holds the same bytes, or its first bytes (a copy taken before the capture ended, or compressed data cut short);
    the plain one when it holds the compressed one's first bytes (still being written when
    compressed, or cut since).  Both were read: every packet and request counted twice (the
    records once, the second copy's requests taken as retransmissions).  A compressed file of the
    name that holds another capture (a ring buffer's earlier lap) is read too, as another capture."""
    files, repeats = each_once(files)
    skipped += [Skipped(path, why) for path, why in repeats]
    given = {p.resolve(): p for p in files}
    dropped: set[Path] = set()
    for path in files:
        plain = plain_sibling(path)
        if plain is None or plain.resolve() not in given or plain.resolve() == path.resolve():
            continue
        plain = given[plain.resolve()]  # (as given)
        how, shared = compare_decompressed(plain, path)
        if how == "same":
            why = f"the same capture as {plain}, compressed: read once, from {plain}"
        elif how == "packed-prefix":
            why = f"a compressed copy of the first {shared} bytes of {plain}, which has more: read once, from {plain}"
        elif how == "plain-prefix":
            why = f"the first {shared} bytes of {path}, which has more: read once, from {path}"
            path, plain = plain, path  # (the plain one skipped)
        else:
            continue
        if path.resolve() not in dropped:
            skipped.append(Skipped(path, why))
            dropped.add(path.resolve())
    kept = [p for p in files if p.resolve() not in dropped]
    return kept, skipped


def records_from_pcap(
    path: Path | str | Sequence[Path | str],
    secret: bytes | str = DEFAULT_SECRET,
    report: ReadReport | None = None,
    *,
    ports: Iterable[int] = ACCT_PORTS,
    line_from: LineFrom = "auto",
    event_time: EventTime = "check",
    late_copies: int = LATE_COPY_KEPT,
) -> Iterator[UsageRecord]:
    """Usage records rebuilt from the RADIUS accounting of one capture, several, or a folder of them.

    `event_time`: "check" dates a request whose Event-Timestamp is far from when it was sent as
    one without it (a NAS clock that is wrong, `SessionTracker`); "trust" takes every
    Event-Timestamp as written (a capture replayed later whose requests keep their first times).

    Several files are merged by packet time (ties: the order given, then file
    order).  Inputs are checked at once (`CaptureFileError` if one cannot be
    used); packets are read lazily.  A file cut within a packet (a ring buffer's
    live file, a disk that filled up) is read up to the cut, which `report.cut_short`
    lists; one damaged otherwise raises `CaptureFileError` when the reading reaches
    it.  Pass a `ReadReport` to learn what was rejected and why.
    """
    inputs = [path] if isinstance(path, (str, Path)) else list(path)
    files, _skipped = capture_files(inputs)
    report = report if report is not None else ReadReport()
    report.files = [str(f) for f in files]
    # every input now, so that an unusable one fails before any record
    compressed = sum(check_file(f) is not None for f in files)
    if compressed:  # (each read from its temporary file, held open while the captures are merged)
        try:
            raise_fd_limit(compressed + FDS_SPARE, fewer="read fewer compressed captures at once")
        except FdLimitError as exc:
            raise CaptureFileError(f"{compressed} compressed captures to merge: {exc}") from None
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    return _records(files, key, report, frozenset(ports), line_from, event_time, late_copies)


def _numbered(index: int, path: Path, report: ReadReport) -> Iterator[tuple[int, int, int, int, bytes, int]]:
    try:
        for n, (ts_us, linktype, data, orig) in enumerate(read_frames(path), 1):
            yield ts_us, index, n, linktype, data, orig
    except CaptureCutShort as cut:
        _cut_short(report, path, cut)


def _cut_short(report: ReadReport, path: Path, cut: CaptureCutShort) -> None:
    """A file read up to a cut within a packet: said in `report.cut_short`."""
    report.cut_short.append(
        {
            "file": str(path),
            "packets": cut.packets,
            "offset": cut.offset,
            "compression": cut.compression,
            "zero_fill": None
            if cut.zero_fill is None
            else {"offset": cut.zero_fill[0], "bytes": cut.zero_fill[1]},
            "reason": str(cut),
        }
    )


def _records(
    files: list[Path],
    secret: bytes,
    report: ReadReport,
    ports: frozenset[int],
    line_from: LineFrom,
    event_time: EventTime = "check",
    late_copies: int = LATE_COPY_KEPT,
) -> Iterator[UsageRecord]:
    decoder = _Decoder(
        secret,
        report,
        ports,
        line_from,
        check_clock=event_time == "check",
        late_copies=late_copies,
        look_ahead=lambda: _answered_clients(files, ports),
    )
    report.ports = sorted(ports)
    names = [str(f) for f in files]
    packet = decoder.packet
    if len(files) == 1:
        report.current_file = names[0]
        try:
            for n, (ts_us, linktype, data, orig) in enumerate(read_frames(files[0]), 1):
                report.packets = n
                decoder.orig = orig
                records = packet(n, data, linktype, ts_us)
                if records:
                    yield from records
        except CaptureCutShort as cut:
            _cut_short(report, files[0], cut)
    else:
        for ts_us, index, n, linktype, data, orig in heapq.merge(
            *(_numbered(i, f, report) for i, f in enumerate(files))
        ):
            report.packets += 1
            report.current_file = names[index]
            decoder.orig = orig
            records = packet(n, data, linktype, ts_us)
            if records:
                yield from records
    yield from decoder.finish()
