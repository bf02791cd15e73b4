"""Hand-built captures for the reader tests: RADIUS, IP, link layers and pcap/pcapng files from `struct`.

Written from the formats' specifications (RFC 2865/2866, RFC 791/8200/768, the
tcpdump.org link-type list, the pcap and pcapng drafts), independently of the
project's capture writer, so that the reader is tested on bytes it did not make.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from pathlib import Path

SECRET = b"s3cret"
ZERO16 = bytes(16)


def attr(a_type: int, value: bytes) -> bytes:
    return bytes((a_type, len(value) + 2)) + value


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def vsa3gpp(v_type: int, value: bytes) -> bytes:
    return attr(26, u32(10415) + bytes((v_type, len(value) + 2)) + value)


def request(ident: int, attributes: bytes, secret: bytes = SECRET) -> bytes:
    """Accounting-Request (code 4) with its Request Authenticator (RFC 2866 3)."""
    head = struct.pack("!BBH", 4, ident, 20 + len(attributes))
    auth = hashlib.md5(head + ZERO16 + attributes + secret).digest()
    return head + auth + attributes


def response(req: bytes, secret: bytes = SECRET) -> bytes:
    """Accounting-Response (code 5, no attributes) to `req`."""
    head = struct.pack("!BBH", 5, req[1], 20)
    return head + hashlib.md5(head + req[4:20] + secret).digest()


def acct(
    status: int,
    session: str = "sess-1",
    *,
    event: int,
    st: int | None = None,
    octets: tuple[int, int] | None = None,
    gigawords: bool = True,
    terminate: int | None = None,
    line_class: bytes | None = b"LINE-1",
    msisdn: str = "33612345678",
    plmn: str = "20801",
    delay: int | None = None,
    nas: bytes = b"\xc0\x00\x02\x01",
) -> bytes:
    """The attributes of an Accounting-Request of a GGSN (RFC 2866, TS 29.061)."""
    parts = [
        attr(40, u32(status)),
        attr(44, session.encode()),
        attr(4, nas),
        attr(55, u32(event)),
        attr(30, b"m2m.example"),
        attr(31, msisdn.encode()),
        vsa3gpp(1, b"208011234567890"),
        vsa3gpp(2, u32(77)),
        vsa3gpp(18, plmn.encode()),
    ]
    if line_class is not None:
        parts.append(attr(25, line_class))
    if st is not None:
        parts.append(attr(46, u32(st)))
    if octets is not None:
        up, down = octets
        parts += [attr(42, u32(up & 0xFFFFFFFF)), attr(43, u32(down & 0xFFFFFFFF))]
        if gigawords:
            parts += [attr(52, u32(up >> 32)), attr(53, u32(down >> 32))]
    if terminate is not None:
        parts.append(attr(49, u32(terminate)))
    if delay is not None:
        parts.append(attr(41, u32(delay)))
    return b"".join(parts)


# -- IP and UDP ---------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(src: str, dst: str, body: bytes, *, proto: int = 17, ident: int = 1, frag: int = 0) -> bytes:
    """An IPv4 header (no options) + body; `frag` is the flags/fragment-offset field."""
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag, 64, proto, 0, s, d)
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + body


def ipv6(src_last: int, dst_last: int, body: bytes, *, next_header: int = 17) -> bytes:
    src = bytes.fromhex("20010db8000000000000000000000000")[:15] + bytes((src_last,))
    dst = bytes.fromhex("20010db8000000000000000000000000")[:15] + bytes((dst_last,))
    return struct.pack("!IHBB", 6 << 28, len(body), next_header, 64) + src + dst + body


def fragments4(src: str, dst: str, datagram: bytes, ident: int, size: int) -> list[bytes]:
    """`datagram` (a UDP header + payload) cut into IPv4 fragments of `size` octets (a multiple of 8)."""
    out = []
    for at in range(0, len(datagram), size):
        more = 0x2000 if at + size < len(datagram) else 0
        out.append(ipv4(src, dst, datagram[at : at + size], ident=ident, frag=more | at // 8))
    return out


# -- link layers ---------------------------------------------------------------------------------------


def ethernet(ip: bytes, *, vlans: Sequence[int] = (), ethertype: int | None = None) -> bytes:
    kind = ethertype if ethertype is not None else (0x86DD if ip[0] >> 4 == 6 else 0x0800)
    head = bytes.fromhex("020000000002020000000001")
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", kind) + ip


def sll(ip: bytes) -> bytes:
    """Linux cooked v1 (LINKTYPE_LINUX_SLL 113): packet type, ARPHRD, address length, address, protocol."""
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 4, 772, 6, b"\0" * 8, proto) + ip


def sll2(ip: bytes) -> bytes:
    """Linux cooked v2 (LINKTYPE_LINUX_SLL2 276): protocol, reserved, ifindex, ARPHRD, type, addr len, addr."""
    proto = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", proto, 0, 1, 772, 4, 6, b"\0" * 8) + ip


def null(ip: bytes) -> bytes:
    """BSD loopback (LINKTYPE_NULL 0): the address family in the capturing host's order (little-endian)."""
    family = 30 if ip[0] >> 4 == 6 else 2  # AF_INET6 on macOS, AF_INET
    return struct.pack("<I", family) + ip


def loop(ip: bytes) -> bytes:
    """OpenBSD loopback (LINKTYPE_LOOP 108): the address family in network order."""
    family = 24 if ip[0] >> 4 == 6 else 2
    return struct.pack("!I", family) + ip


# -- files ------------------------------------------------------------------------------------------------


def write_pcap(
    path: Path,
    linktype: int,
    frames: Sequence[tuple[int, bytes]],
    *,
    nano: bool = False,
    big: bool = False,
    snaplen: int = 262_144,
) -> Path:
    """A classic pcap: `frames` are (microseconds since 1970, frame), each cut to `snaplen` octets."""
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts_us, frame in frames:
        frac = ts_us % 1_000_000 * (1_000 if nano else 1)
        kept = frame[:snaplen]
        out.append(struct.pack(order + "IIII", ts_us // 1_000_000, frac, len(kept), len(frame)) + kept)
    path.write_bytes(b"".join(out))
    return path


def pcapng_block(block_type: int, body: bytes) -> bytes:
    """A pcapng block (little-endian) of `body`, padded to 32 bits."""
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", block_type, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def write_pcapng(
    path: Path,
    linktypes: Sequence[int],
    frames: Sequence[tuple[int, int, bytes]],
    *,
    tsresol: int | None = None,
    snaplen: int = 262_144,
) -> Path:
    """A pcapng, one section, an interface per link type; `frames` are (interface, microseconds, frame),
    each cut to `snaplen` octets.

    With `tsresol` (if_tsresol option, 10^-n), timestamps are written in that resolution.
    """
    out = [pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype in linktypes:
        options = b""
        if tsresol is not None:
            options = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
        out.append(pcapng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options))
    for iface, ts_us, frame in frames:
        ticks = ts_us if tsresol is None else ts_us * 10 ** (tsresol - 6)
        kept = frame[:snaplen]
        body = struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(kept), len(frame)) + kept
        out.append(pcapng_block(6, body))
    path.write_bytes(b"".join(out))
    return path
