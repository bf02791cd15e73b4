"""IPv4, ICMP, UDP and TCP packets: the few fields the forwarder reads and the packets it writes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

ICMP, TCP, UDP = 1, 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`.

    The one's complement sum of the 16-bit words is the data read as one big number modulo
    0xFFFF (2**16 is 1 modulo 0xFFFF), except that a non-zero sum is never 0 but 0xFFFF.
    """
    if len(data) & 1:
        data += b"\0"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


@dataclass(frozen=True, slots=True)
class Ipv4:
    src: bytes  # 4 octets
    dst: bytes
    proto: int
    ttl: int
    payload: bytes
    ident: int = 0


def datagram(info: bytes) -> bytes | None:
    """The IPv4 datagram a PPP frame's information field carries: cut at the header's total length
    (RFC 1661 2: the field may be padded up to the MRU); None when it holds none (another IP
    version, a header shorter than 20 octets or longer than the total, a total longer than the
    field).  What the gateway counts and forwards: padding and non-IP bytes are not billed."""
    if len(info) < 20 or info[0] >> 4 != 4:
        return None
    ihl = (info[0] & 0x0F) * 4
    total = int.from_bytes(info[2:4], "big")
    if ihl < 20 or total < ihl or total > len(info):
        return None
    return info if total == len(info) else info[:total]


def parse_ipv4(packet: bytes) -> Ipv4 | None:
    """The header fields and payload of an IPv4 packet; None when it is not one or is damaged."""
    whole = datagram(packet)
    if whole is None:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = len(whole)
    if checksum(packet[:ihl]) != 0:
        return None
    if int.from_bytes(packet[6:8], "big") & 0x3FFF:
        return None  # fragments are not reassembled
    return Ipv4(
        packet[12:16],
        packet[16:20],
        packet[9],
        packet[8],
        packet[ihl:total],
        int.from_bytes(packet[4:6], "big"),
    )


def build_ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, ttl, proto, 0, src, dst
    )
    return header[:10] + checksum(header).to_bytes(2, "big") + header[12:] + payload


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, proto, length)


def transport_ok(ip: Ipv4) -> bool:
    """Whether a TCP or UDP segment's checksum is right (a UDP checksum of 0: none sent)."""
    if ip.proto == UDP and len(ip.payload) >= 8 and ip.payload[6:8] == b"\0\0":
        return True
    return checksum(_pseudo(ip.src, ip.dst, ip.proto, len(ip.payload)) + ip.payload) == 0


def build_udp(src: bytes, dst: bytes, sport: int, dport: int, data: bytes, ident: int = 0) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = checksum(_pseudo(src, dst, UDP, len(seg)) + seg) or 0xFFFF
    return build_ipv4(src, dst, UDP, seg[:6] + c.to_bytes(2, "big") + seg[8:], ident)


@dataclass(frozen=True, slots=True)
class Tcp:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    mss: int | None
    data: bytes


def parse_tcp(payload: bytes) -> Tcp | None:
    if len(payload) < 20:
        return None
    sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", payload[:16])
    hlen = (off >> 4) * 4
    if hlen < 20 or hlen > len(payload):
        return None
    mss = None
    opts = payload[20:hlen]
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if kind == 2 and opts[i + 1] == 4 and i + 4 <= len(opts):
            mss = int.from_bytes(opts[i + 2 : i + 4], "big")
        i += opts[i + 1]
    return Tcp(sport, dport, seq, ack, flags, window, mss, payload[hlen:])


def build_tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    data: bytes = b"",
    mss: int | None = None,
    ident: int = 0,
) -> bytes:
    opts = b"" if mss is None else struct.pack("!BBH", 2, 4, mss)
    hlen = 20 + len(opts)
    seg = (
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            hlen // 4 << 4,
            flags,
            min(window, 0xFFFF),
            0,
            0,
        )
        + opts
        + data
    )
    c = checksum(_pseudo(src, dst, TCP, len(seg)) + seg)
    return build_ipv4(src, dst, TCP, seg[:16] + c.to_bytes(2, "big") + seg[18:], ident)


def build_icmp(src: bytes, dst: bytes, icmp_type: int, code: int, rest: bytes, ident: int = 0) -> bytes:
    body = bytes([icmp_type, code, 0, 0]) + rest
    c = checksum(body)
    return build_ipv4(src, dst, ICMP, body[:2] + c.to_bytes(2, "big") + body[4:], ident)
