"""IPv4, ICMP, UDP and TCP packets: the few fields the forwarder reads and the packets it writes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.api import DF, ICMP_ERROR_MAX, ICMP_HEADER, MF, checksum, icmp_error_size

ICMP, TCP, UDP = 1, 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
FRAG_NEEDED = 4  # ICMP destination unreachable code: fragmentation needed and DF set (RFC 792, 1191)


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


def build_ipv4(
    src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 0, ttl: int = 64, df: bool = True
) -> bytes:
    flags = DF if df else 0
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, flags, ttl, proto, 0, src, dst
    )
    return header[:10] + checksum(header).to_bytes(2, "big") + header[12:] + payload


def dont_fragment(packet: bytes) -> bool:
    """Whether an IPv4 packet's Don't Fragment flag is set."""
    return bool(packet[6] & 0x40)


def without_dont_fragment(packet: bytes) -> bytes:
    """An IPv4 packet with its Don't Fragment flag cleared (the header checksum made again)."""
    if not dont_fragment(packet):
        return packet
    ihl = (packet[0] & 0x0F) * 4
    header = bytearray(packet[:ihl])
    header[6] &= ~0x40 & 0xFF
    header[10:12] = b"\0\0"
    header[10:12] = checksum(bytes(header)).to_bytes(2, "big")
    return bytes(header) + packet[ihl:]


def fragment(packet: bytes, mtu: int) -> list[bytes]:
    """An IPv4 packet (Don't Fragment clear) cut to fit `mtu`, as a router does (RFC 791 3.2,
    RFC 1812 4.2.2.7): every fragment but the last carries a multiple of 8 data octets and More
    Fragments; the offsets count from the original's (a fragment is cut again the same way); the
    first keeps the header's options, the others only those marked to be copied.  A packet that
    fits is returned alone."""
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) <= mtu:
        return [packet]
    header, data = packet[:ihl], packet[ihl:]
    flags_offset = int.from_bytes(packet[6:8], "big")
    offset, more = flags_offset & 0x1FFF, flags_offset & MF
    later_header = header[:20] + _copied_options(header[20:])
    out = []
    start = 0
    while start < len(data):
        head = header if start == 0 else later_header
        room = (mtu - len(head)) // 8 * 8
        if room <= 0:
            raise ValueError(f"an MTU of {mtu} cannot carry a fragment of this packet")
        piece = data[start : start + room]
        last = start + len(piece) >= len(data)
        fields = (offset + start // 8) | (more if last else MF)
        h = bytearray(head)
        h[0] = 0x40 | len(head) // 4
        h[2:4] = (len(head) + len(piece)).to_bytes(2, "big")
        h[6:8] = fields.to_bytes(2, "big")
        h[10:12] = b"\0\0"
        h[10:12] = checksum(bytes(h)).to_bytes(2, "big")
        out.append(bytes(h) + piece)
        start += len(piece)
    return out


def is_fragment(packet: bytes) -> bool:
    """Whether an IPv4 packet is a fragment (More Fragments set, or a non-zero offset)."""
    return bool(int.from_bytes(packet[6:8], "big") & 0x3FFF)


def _copied_options(options: bytes) -> bytes:
    """The IPv4 options a fragment after the first carries: those with the copied flag, padded."""
    out = bytearray()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:  # end of options
            break
        if kind == 1:  # no operation
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        if kind & 0x80:
            out += options[i : i + options[i + 1]]
        i += options[i + 1]
    return bytes(out) + bytes(-len(out) % 4)


def icmp_quote(packet: bytes, mtu: int = ICMP_ERROR_MAX) -> bytes:
    """What an ICMP error about IPv4 `packet` quotes after its ICMP header: as much of the packet as
    fits in the error's 576 bytes (RFC 1812 4.3.2.3, as Linux's `icmp_send`), the whole of one of
    548 bytes or less; less when the sender's path `mtu` to the device is smaller (552: 524 bytes);
    the error's size `gateway.wire.icmp_error_size`'s."""
    return packet[: icmp_error_size(len(packet), mtu) - ICMP_HEADER]  # (after the error's own headers)


def is_icmp_error(packet: bytes) -> bool:
    """Whether an IPv4 packet is an ICMP error message (destination unreachable, source quench,
    redirect, time exceeded, parameter problem), which gets no ICMP error itself (RFC 1812 4.3.2.7)."""
    ihl = (packet[0] & 0x0F) * 4
    return packet[9] == ICMP and len(packet) > ihl and packet[ihl] in (3, 4, 5, 11, 12)


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
    opts = payload[20:hlen]
    at = _mss_at(opts)
    mss = None if at is None else int.from_bytes(opts[at : at + 2], "big")
    return Tcp(sport, dport, seq, ack, flags, window, mss, payload[hlen:])


def _mss_at(options: bytes) -> int | None:
    """Where the value of the Maximum Segment Size option is in a TCP header's options, if any."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        if kind == 2 and options[i + 1] == 4 and i + 4 <= len(options):
            return i + 2
        i += options[i + 1]
    return None


def clamp_mss(packet: bytes, mss: int) -> bytes:
    """A TCP SYN whose Maximum Segment Size option is above `mss` with the option lowered to it and
    the checksum made again ("TCP MSS adjust", as routers and gateways do at a smaller link MTU);
    any other packet as it is."""
    ihl = (packet[0] & 0x0F) * 4
    if (
        len(packet) < ihl + 20
        or packet[9] != TCP
        or int.from_bytes(packet[6:8], "big") & 0x3FFF  # a fragment
        or not packet[ihl + 13] & SYN
    ):
        return packet
    hlen = (packet[ihl + 12] >> 4) * 4
    at = _mss_at(packet[ihl + 20 : ihl + hlen])
    if at is None:
        return packet
    at += ihl + 20
    if int.from_bytes(packet[at : at + 2], "big") <= mss:
        return packet
    total = int.from_bytes(packet[2:4], "big")
    if checksum(_pseudo(packet[12:16], packet[16:20], TCP, total - ihl) + packet[ihl:total]) != 0:
        return packet  # damaged: the receiver drops it as it is
    out = bytearray(packet)
    out[at : at + 2] = mss.to_bytes(2, "big")
    segment = out[ihl:total]
    segment[16:18] = b"\0\0"
    c = checksum(_pseudo(packet[12:16], packet[16:20], TCP, len(segment)) + bytes(segment))
    out[ihl + 16 : ihl + 18] = c.to_bytes(2, "big")
    return bytes(out)


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


def build_icmp(
    src: bytes, dst: bytes, icmp_type: int, code: int, rest: bytes, ident: int = 0, df: bool = True
) -> bytes:
    body = bytes([icmp_type, code, 0, 0]) + rest
    c = checksum(body)
    return build_ipv4(src, dst, ICMP, body[:2] + c.to_bytes(2, "big") + body[4:], ident, df=df)
