"""Ethernet/IPv4/UDP framing and the pcap file format, written with `struct` (no per-packet objects).

A `UdpFlow` holds the constant part of a flow's headers (MAC and IP addresses,
ports) and the partial one's-complement sum of its constant IPv4 header
words, so that framing a payload costs one `struct.pack` and a checksum fold.
The UDP checksum is 0 ("not computed"), which RFC 768 allows over IPv4.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from gateway.capture import codec

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65_535

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
FILE_HEADER = _PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
# Ethernet (dst, src, type) + IPv4 (20 octets) + UDP (8 octets): 42 octets.
_L2_L4 = struct.Struct("!6s6sH BBHHHBBH4s4s HHHH")
# The same 42 octets with a flow's constant runs pre-packed: Ethernet + version/TOS (16 octets), total
# length, id, flags/fragment/TTL/protocol (4), checksum, addresses + ports (12), UDP length, checksum.
_L2_L4_FAST = struct.Struct("!16sHH4sH12sHH")
IP_TTL = 64
_FRAG_TTL_PROTO = bytes((0, 0, IP_TTL, 17))
HEADERS_LEN = _L2_L4.size
# GTP-U G-PDU header (flags 0x30, type 255, length, TEID) + inner IPv4 + UDP headers: 36 octets.
_GPDU_INNER = struct.Struct("!BBHI BBHHHBBH4s4s HHHH")


def mac_for(ip: bytes) -> bytes:
    """A locally administered unicast MAC derived from an IPv4 address (02:00:a.b.c.d)."""
    return b"\x02\x00" + ip


def _fold(total: int) -> int:
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class UdpFlow:
    """One direction of a UDP conversation between two IPv4 hosts on one Ethernet segment."""

    __slots__ = ("addresses", "checksum_base", "dport", "dst", "dst_mac", "head", "sport", "src", "src_mac")

    def __init__(self, src: str, dst: str, sport: int, dport: int) -> None:
        self.src = codec.ipv4(src, "source address")
        self.dst = codec.ipv4(dst, "destination address")
        self.sport = sport
        self.dport = dport
        self.src_mac = mac_for(self.src)
        self.dst_mac = mac_for(self.dst)
        words = struct.unpack("!4H", self.src + self.dst)
        # version/IHL/TOS 0x4500, flags/fragment 0, TTL/protocol, addresses; length and id vary.
        self.checksum_base = 0x4500 + (IP_TTL << 8 | 17) + sum(words)
        self.head = self.dst_mac + self.src_mac + b"\x08\x00\x45\x00"
        self.addresses = self.src + self.dst + struct.pack("!HH", sport, dport)

    def headers(self, ip_id: int, payload_len: int) -> bytes:
        """Ethernet + IPv4 + UDP headers for a payload of `payload_len` octets."""
        total = 28 + payload_len
        checksum = _fold(self.checksum_base + total + ip_id)
        return _L2_L4.pack(
            self.dst_mac,
            self.src_mac,
            0x0800,
            0x45,
            0,
            total,
            ip_id,
            0,
            IP_TTL,
            17,
            checksum,
            self.src,
            self.dst,
            self.sport,
            self.dport,
            8 + payload_len,
            0,
        )

    def reversed(self) -> UdpFlow:
        return UdpFlow.from_bytes(self.dst, self.src, self.dport, self.sport)

    @classmethod
    def from_bytes(cls, src: bytes, dst: bytes, sport: int, dport: int) -> UdpFlow:
        return cls(".".join(map(str, src)), ".".join(map(str, dst)), sport, dport)


_GPDU = struct.Struct("!BBHI")
MAX_TPDU = SNAPLEN - HEADERS_LEN - _GPDU.size  # the largest T-PDU whose frame fits the snapshot length


def gpdu_record(ts_us: int, flow: UdpFlow, ip_id: int, teid: int, tpdu: bytes) -> bytes:
    """One G-PDU of `flow` at `ts_us` as a pcap record, as `udp_record` frames a payload: the GTP-U
    header (version 1, no optional fields, message 255, length, TEID) and `tpdu`, copied once."""
    n = len(tpdu)
    total = 36 + n  # IPv4 20 + UDP 8 + GTP-U 8 + T-PDU
    checksum = flow.checksum_base + total + ip_id
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    sec, usec = divmod(ts_us, 1_000_000)
    return b"".join(
        (
            _RECORD.pack(sec, usec, total + 14, total + 14),
            _L2_L4_FAST.pack(flow.head, total, ip_id, _FRAG_TTL_PROTO, checksum, flow.addresses, 16 + n, 0),
            _GPDU.pack(0x30, 255, n, teid),
            tpdu,
        )
    )


def gpdu_with_inner(teid: int, inner: UdpFlow, ip_id: int, size: int) -> bytes:
    """GTP-U header + inner IPv4/UDP headers of a user packet of `size` octets of IP (payload not included)."""
    checksum = inner.checksum_base + size + ip_id
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    return _GPDU_INNER.pack(
        0x30,
        255,
        size,
        teid,
        0x45,
        0,
        size,
        ip_id,
        0,
        IP_TTL,
        17,
        checksum,
        inner.src,
        inner.dst,
        inner.sport,
        inner.dport,
        size - 20,
        0,
    )


def udp_record(ts_us: int, flow: UdpFlow, ip_id: int, payload: bytes) -> bytes:
    """One UDP packet of `flow` at `ts_us` as a pcap record (record header, frame headers, payload)."""
    n = len(payload)
    total = 28 + n
    checksum = flow.checksum_base + total + ip_id
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    sec, usec = divmod(ts_us, 1_000_000)
    return (
        _RECORD.pack(sec, usec, total + 14, total + 14)
        + _L2_L4_FAST.pack(flow.head, total, ip_id, _FRAG_TTL_PROTO, checksum, flow.addresses, 8 + n, 0)
        + payload
    )


def is_own_capture(path: Path) -> bool:
    """Whether `path` holds a capture `PcapStream` wrote (m2msim's, which an output may replace: see
    `m2msim.outputs`).  A classic pcap header has no room for a writer's name, so m2msim's is known by
    its content: this writer's file header exactly (micro-seconds, little-endian, snapshot length
    65,535, Ethernet), then no packet, or a first packet whose Ethernet addresses are those `mac_for`
    derives from its IPv4 addresses (02:00:a.b.c.d), which no real network's capture has."""
    with open(path, "rb") as f:
        head = f.read(_PCAP_HEADER.size + _RECORD.size + HEADERS_LEN)
    if head[: _PCAP_HEADER.size] != FILE_HEADER:
        return False
    frame = head[_PCAP_HEADER.size + _RECORD.size :]
    if len(head) == _PCAP_HEADER.size:
        return True  # a capture of nothing
    if len(frame) < HEADERS_LEN or frame[12:14] != b"\x08\x00":
        return False
    return frame[:6] == mac_for(frame[30:34]) and frame[6:12] == mac_for(frame[26:30])


class PcapStream:
    """Writes a classic pcap (microsecond timestamps, Ethernet) to a binary stream."""

    __slots__ = ("_write", "packets", "stream")

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._write = stream.write
        self.packets = 0
        stream.write(FILE_HEADER)

    def write_udp(self, ts_us: int, flow: UdpFlow, ip_id: int, payload: bytes) -> None:
        """One UDP packet of `flow` at `ts_us`."""
        self._write(udp_record(ts_us, flow, ip_id, payload))
        self.packets += 1

    def write(self, ts_us: int, frame_headers: bytes, payload: bytes) -> None:
        """One packet at `ts_us` microseconds since 1970 (UTC)."""
        n = len(frame_headers) + len(payload)
        sec, usec = divmod(ts_us, 1_000_000)
        self._write(_RECORD.pack(sec, usec, n, n) + frame_headers + payload)
        self.packets += 1
