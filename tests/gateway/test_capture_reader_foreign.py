"""The capture reader on captures m2msim's writer did not make: link types, IPv6, VLANs, fragments,
retransmissions, opaque Class, sessions joined mid-way, wrapping counters, several files."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from capture_sessions import AAA, GGSN, T0, exchange, expected, read, rows, session_messages, v4, v6
from handmade_pcap import (
    SECRET,
    acct,
    attr,
    ethernet,
    fragments4,
    ipv4,
    ipv6,
    loop,
    null,
    pcapng_block,
    request,
    response,
    sll,
    sll2,
    u32,
    udp,
    vsa3gpp,
    write_pcap,
    write_pcapng,
)

from accounting.records import UsageRecord
from accounting.usage_writer import UsageWriter
from gateway.capture import ReadReport
from m2msim.cli import main

LINKS: dict[str, tuple[int, Callable[[bytes, bool], bytes]]] = {
    "ethernet": (1, lambda m, r: ethernet(v4(m, r))),
    "ethernet-vlan": (1, lambda m, r: ethernet(v4(m, r), vlans=[100])),
    "ethernet-qinq": (1, lambda m, r: ethernet(v4(m, r), vlans=[10, 200])),
    "ethernet-ipv6": (1, lambda m, r: ethernet(v6(m, r))),
    "linux-cooked-v1": (113, lambda m, r: sll(v4(m, r))),
    # `tcpdump -i any -y LINUX_SLL` of VLAN 30 on Linux 6.18: libpcap puts the tag back after the
    # header (protocol 0x8100, then the tag and the inner type); v2 has the packet untagged
    "linux-cooked-v1-vlan": (
        113,
        lambda m, r: struct.pack("!HHH8sHHH", 0, 1, 6, bytes(8), 0x8100, 30, 0x0800) + v4(m, r),
    ),
    "linux-cooked-v2": (276, lambda m, r: sll2(v4(m, r))),
    "linux-cooked-v2-ipv6": (276, lambda m, r: sll2(v6(m, r))),
    "bsd-null": (0, lambda m, r: null(v4(m, r))),
    "bsd-null-ipv6": (0, lambda m, r: null(v6(m, r))),
    "openbsd-loop": (108, lambda m, r: loop(v4(m, r))),
    "raw-ip": (101, lambda m, r: v4(m, r)),
    "raw-ip-v6": (101, lambda m, r: v6(m, r)),
    "raw-ipv4": (228, lambda m, r: v4(m, r)),
    "raw-ipv6": (229, lambda m, r: v6(m, r)),
}


@pytest.mark.parametrize("link", sorted(LINKS))
def test_every_link_type_gives_the_session_records(tmp_path: Path, link: str) -> None:
    linktype, frame = LINKS[link]
    frames = [(ts, frame(msg, is_req)) for ts, msg, is_req in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", linktype, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.packets == 6


def nflog(ip: bytes, order: str = "<") -> bytes:
    """A Linux NFLOG record (link type 239) of `ip`: its header (address family, version, group), then
    TLVs in the capturing machine's byte order: the packet header, a log prefix, the payload."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack(order + "HH", 4 + len(value), kind) + value + bytes(-len(value) % 4)

    family = 10 if ip[0] >> 4 == 6 else 2
    head = struct.pack("!BBH", family, 0, 5)
    ethertype = 0x86DD if family == 10 else 0x0800
    return head + tlv(1, struct.pack("!HBx", ethertype, 1)) + tlv(10, b"acct\0") + tlv(9, ip)


@pytest.mark.parametrize(("big", "way"), [(False, v4), (True, v4), (False, v6), (True, v6)])
def test_linux_nflog_captures_give_the_session_records(
    tmp_path: Path, big: bool, way: Callable[..., bytes]
) -> None:
    """`tcpdump -i nflog:5` of the packets a firewall rule logs (`-j NFLOG --nflog-group 5`): link type
    239, the packet in a TLV, in the byte order of the machine that captured (the file's); a packet
    longer than 2 KiB leaves no doubt about it. Each was a reject, 'unsupported link type: 239', and
    the capture gave no record."""
    tail = bytes(2_100)  # (after the datagram: its first TLV's length, 8, read in the other order is 2,048)
    order = ">" if big else "<"
    frames = [(ts, nflog(way(m, r) + tail, order)) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", 239, frames, big=big))
    assert rows(records) == expected() and report.rejected == 0 and report.unanswered_requests == 0
    frames = [(ts, nflog(way(m, r), order)) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "s.pcap", 239, frames, big=big, snaplen=100))
    said = [SNAPLEN.format(100, len(f)) for _ts, f in frames if len(f) > 100]
    assert records == [] and len(said) == 3
    assert [r.reason[: len(c)] for r, c in zip(report.rejects, said, strict=True)] == said


def nflog_link(ip: bytes, family: int, hook: int, order: str = "<", vlan: int | None = None) -> bytes:
    """An NFLOG record of a family not IP's own as Linux 6.18 writes it (measured with `tcpdump -i
    nflog:N` of `nft` rules `log group N`): bridge (7, forward hook 2) and netdev (5, ingress hook 0,
    egress 1). Its TLVs as there: packet header (the Ethernet type, inner to a VLAN tag, and the hook),
    prefix, interfaces, hardware address, type and header length, MAC header, timestamp, the VLAN tag
    (a nested TLV), the L2 header, then the payload: from the network header on, the Ethernet frame at
    netdev egress."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack(order + "HH", 4 + len(value), kind) + value + bytes(-len(value) % 4)

    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    l2 = bytes.fromhex("1a90623f0c1fceb9e1284485") + struct.pack("!H", ethertype)
    out = struct.pack("!BBH", family, 0, 7_777) + tlv(1, struct.pack("!HBx", ethertype, hook))
    out += tlv(10, b"\0") + tlv(4, struct.pack("!I", 3)) + tlv(8, bytes.fromhex("0006ceb9e12844850000"))
    out += tlv(15, struct.pack("!H", 1)) + tlv(17, struct.pack("!H", 14)) + tlv(16, l2)
    out += tlv(3, struct.pack("!QQ", 1_802_940_321, 489_001))
    if vlan is not None:
        out += tlv(0x8014, tlv(1, struct.pack("!H", 0x8100)) + tlv(2, struct.pack("!H", vlan)))
    out += tlv(21, l2)
    return out + tlv(9, l2 + ip if (family, hook) == (5, 1) else ip)


NFLOG_LINKS = {  # (family, hook, VLAN tag) of a record, by what logged it
    "bridge": (7, 2, None),
    "bridge-vlan": (7, 2, 30),
    "netdev-ingress": (5, 0, None),
    "netdev-ingress-vlan": (5, 0, 30),
    "netdev-egress": (5, 1, None),
}


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("way", [v4, v6])
@pytest.mark.parametrize("logged", sorted(NFLOG_LINKS))
def test_nflog_of_the_bridge_and_netdev_families_gives_the_session_records(
    tmp_path: Path, logged: str, way: Callable[..., bytes], big: bool
) -> None:
    """`tcpdump -i nflog:N` of what an `nft` bridge table (a filtering bridge before the accounting
    server) or a netdev table's ingress or egress chain logs: the record's family is 7 or 5, not the IP
    version's, its payload the packet from the network header on (the Ethernet type in the packet
    header TLV) or, at netdev egress, the Ethernet frame. Each was read as no packet: no record ('no
    usable Accounting-Request'). Cut by the snapshot length, each is a reject saying so."""
    family, hook, vlan = NFLOG_LINKS[logged]
    order = ">" if big else "<"
    frames = [
        (ts, nflog_link(way(m, r), family, hook, order, vlan)) for ts, m, r in exchange(session_messages())
    ]
    records, report = read(write_pcap(tmp_path / "c.pcap", 239, frames, big=big))
    assert rows(records) == expected() and report.rejected == 0 and report.unanswered_requests == 0
    records, report = read(write_pcap(tmp_path / "s.pcap", 239, frames, big=big, snaplen=200))
    said = [SNAPLEN.format(200, len(f)) for _ts, f in frames if len(f) > 200]
    assert records == [] and len(said) >= 3 and report.rejected == len(said)
    assert [r.reason[: len(c)] for r, c in zip(report.rejects, said, strict=True)] == said


NFLOG_COPIED = {  # an NFLOG record of the first `copy` octets of a packet (nft's log snaplen), by family
    "inet": lambda ip, copy: nflog(ip[:copy]),
    "bridge": lambda ip, copy: nflog_link(ip[:copy], 7, 2),
    "netdev-egress": lambda ip, copy: nflog_link(ip[: copy - 14], 5, 1),
}


@pytest.mark.parametrize("logged", sorted(NFLOG_COPIED))
def test_nflog_records_the_log_rule_cut_short_say_so(tmp_path: Path, logged: str) -> None:
    """A log rule that copies part of each packet (`nft ... log group 5 snaplen 100`, iptables'
    `--nflog-size 100`) writes whole pcap records of cut packets: each request was a 'truncated frame:
    UDP length 136, 80 octets captured', and each response, whole, an 'Accounting-Response without a
    request' (measured with tcpdump -i nflog:N on Linux 6.18). Now the request is a packet cut by the
    snapshot length, saying how much the log copied and how to log whole packets, and its response
    no reject."""
    frames = []
    for ts, m, r in exchange(session_messages()):
        ip = v4(m, r)
        frames.append((ts, NFLOG_COPIED[logged](ip, 100 if r else len(ip) + 14)))
    records, report = read(write_pcap(tmp_path / "c.pcap", 239, frames))
    whole = [len(v4(m, True)) for _ts, m, r in exchange(session_messages()) if r]
    assert records == [] and report.rejected == 3 and report.unanswered_requests == 0
    copied = 100 - 14 if logged == "netdev-egress" else 100  # (of the IP packet, past its Ethernet header)
    assert [r.reason for r in report.rejects] == [
        f"packet cut by the capture's snapshot length: NFLOG copied {copied} "
        f"of the packet's {length} bytes: log packets whole (nft 'log group N' without snaplen, "
        "iptables NFLOG without --nflog-size)"
        for length in whole
    ]


def gre(inner: bytes, protocol: int, flags: int = 0, extra: bytes = b"") -> bytes:
    """A GRE header (RFC 2784/2890: `extra` holds its checksum, key and sequence fields) and `inner`."""
    return struct.pack("!HH", flags, protocol) + extra + inner


SPAN_SOURCE, SPAN_PROBE = "198.51.100.1", "198.51.100.2"  # the mirroring switch and the probe
MIRRORED: dict[str, Callable[[bytes], bytes]] = {  # a frame as a probe receives it mirrored, by way
    "mpls": lambda f: f[:12] + struct.pack("!HII", 0x8847, 0x1000_0040, 0x0200_1140) + f[14:],
    "eompls": lambda f: f[:12] + struct.pack("!HII", 0x8847, 0x1000_0040, 0x0200_1140) + f,
    "eompls-control-word": lambda f: f[:12] + struct.pack("!HIII", 0x8847, 0x1000_0040, 0x0200_1140, 7) + f,
    "gre-ip": lambda f: ethernet(ipv4(SPAN_SOURCE, SPAN_PROBE, gre(f[14:], 0x0800), proto=47)),
    "gre-key-ethernet": lambda f: ethernet(
        ipv4(SPAN_SOURCE, SPAN_PROBE, gre(f, 0x6558, 0x2000, u32(7)), proto=47)
    ),
    "erspan-1": lambda f: ethernet(ipv4(SPAN_SOURCE, SPAN_PROBE, gre(f, 0x88BE), proto=47)),
    "erspan-2": lambda f: ethernet(
        ipv4(
            SPAN_SOURCE,
            SPAN_PROBE,
            gre(f, 0x88BE, 0x1000, u32(5) + bytes.fromhex("1064000000000001")),
            proto=47,
        )
    ),
    "erspan-3-subheader": lambda f: ethernet(
        ipv4(
            SPAN_SOURCE,
            SPAN_PROBE,
            gre(f, 0x22EB, 0x1000, u32(5) + bytes.fromhex("2064000012345678000000a1") + bytes(8)),
            proto=47,
        )
    ),
    "erspan-2-over-ipv6": lambda f: ethernet(
        ipv6(1, 2, gre(f, 0x88BE, 0x1000, u32(5) + bytes.fromhex("1064000000000001")), next_header=47)
    ),
    "erspan-2-in-vxlan": lambda f: MIRRORED["vxlan"](MIRRORED["erspan-2"](f)),
    "vxlan": lambda f: ethernet(
        ipv4(SPAN_SOURCE, SPAN_PROBE, udp(49_152, 4_789, bytes.fromhex("0800000000012300") + f))
    ),
    "geneve": lambda f: ethernet(
        ipv4(SPAN_SOURCE, SPAN_PROBE, udp(49_152, 6_081, bytes.fromhex("0200655800012300") + bytes(8) + f))
    ),
}


@pytest.mark.parametrize("way", sorted(MIRRORED))
def test_traffic_mirrored_through_a_tunnel_or_mpls_gives_the_session_records(
    tmp_path: Path, way: str
) -> None:
    """A probe fed by a remote SPAN (ERSPAN types I-III, GRE), cloud traffic mirroring (VXLAN, Geneve)
    or a core link (MPLS labels) sees the accounting inside: those captures gave no record at all
    ('no usable Accounting-Request, none among its packets'), as tshark reads them whole."""
    frames = [(ts, MIRRORED[way](ethernet(v4(m, r)))) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.accounting_responses == 3


@pytest.mark.parametrize("snaplen", [60, 40])
@pytest.mark.parametrize("way", sorted(MIRRORED))
def test_mirrored_traffic_cut_by_the_snapshot_length_says_so(tmp_path: Path, way: str, snaplen: int) -> None:
    """A mirrored capture cut short (`tcpdump -s 60`) loses its accounting: each packet is a reject
    naming the frame's own lengths, whether the cut falls in the tunnel's headers or inside. Cut
    within the UDP header of VXLAN or Geneve (`-s 40`: its ports and length kept), it was no reject
    and no count, the accounting inside lost without a word."""
    frames = [(ts, MIRRORED[way](ethernet(v4(m, r)))) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames, snaplen=snaplen))
    assert records == [] and report.reasons == {"packet cut by the capture's snapshot length": 6}
    assert report.rejects[0].reason.startswith(SNAPLEN.format(snaplen, len(frames[0][1])))


@pytest.mark.parametrize("control_word", [False, True])
@pytest.mark.parametrize("mac", ["00:1b:21:0a:0b:0c", "4c:96:14:0a:0b:0c", "64:87:88:0a:0b:0c"])
def test_radius_over_an_ethernet_pseudowire_gives_the_session_records(
    tmp_path: Path, control_word: bool, mac: str
) -> None:
    """A probe on an MPLS core link sees RADIUS accounting carried by an Ethernet pseudowire (EoMPLS,
    VPLS: RFC 4448) whose frame is under the label stack, after a control word or not, VLAN-tagged
    inside; its destination MAC address's first nibble (0, 4 or 6) is no control word and no IP
    version. Such captures gave no record ('no usable Accounting-Request')."""
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw

    frames = []
    for ts, msg, is_req in exchange(session_messages()):
        src, dst, sport, dport = (GGSN, AAA, 32_768, 1_813) if is_req else (AAA, GGSN, 1_813, 32_768)
        inner = Ether(dst=mac, src="00:1b:21:aa:bb:cc") / Dot1Q(vlan=30) / IP(src=src, dst=dst)
        inner = inner / UDP(sport=sport, dport=dport) / Raw(msg)
        labels = MPLS(label=16_000, s=0, ttl=64) / MPLS(label=299, s=1, ttl=64)
        cw = Raw(struct.pack("!I", 7)) if control_word else Raw(b"")
        outer = Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02", type=0x8847) / labels / cw / inner
        frames.append((ts, bytes(outer)))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.accounting_responses == 3


def _checksum_left_to_the_card(frame: bytes) -> bytes:
    """An IPv4-over-MPLS frame (two labels) whose IP header checksum is 0, as a capture on a host whose
    card computes it shows it."""
    at = 14 + 8 + 10
    return frame[:at] + bytes(2) + frame[at + 2 :]


IP_UNDER_LABELS: dict[str, Callable[[bytes, bool], bytes]] = {
    "ipv4-checksum-0": lambda m, r: _checksum_left_to_the_card(MIRRORED["mpls"](ethernet(v4(m, r)))),
    "ipv6-trailer": lambda m, r: MIRRORED["mpls"](ethernet(v6(m, r))) + bytes(8),
}


@pytest.mark.parametrize("way", sorted(IP_UNDER_LABELS))
def test_ip_under_labels_that_fails_the_pseudowire_checks_is_still_read(tmp_path: Path, way: str) -> None:
    """IP under MPLS labels whose IPv4 header checksum is not filled in (0) or whose IPv6 packet is
    followed by a trailer (a packet broker's timestamp: the frame longer than its payload length
    says) was taken for an Ethernet pseudowire's frame since those are read: no record and no
    reject, where it was read before. It is IP unless the frame read from there has an Ethernet
    type a link carries."""
    frames = [(ts, IP_UNDER_LABELS[way](m, r)) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.accounting_responses == 3


def test_tunnels_nested_a_thousand_deep_end_in_no_traceback(tmp_path: Path) -> None:
    """A frame of GRE inside GRE a thousand times deep (crafted: no network nests so) is left alone
    after a few levels; opening them all ended the read on a RecursionError, a traceback."""
    ip = v4(session_messages()[0], True)
    for _ in range(1_000):
        ip = ipv4(SPAN_SOURCE, SPAN_PROBE, gre(ip, 0x0800), proto=47)
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, [(T0 * 1_000_000, ethernet(ip))]))
    assert records == [] and report.rejected == 0 and report.accounting_requests == 0


@pytest.mark.parametrize(("nano", "big"), [(True, False), (False, True), (True, True)])
def test_pcap_byte_orders_and_nanosecond_timestamps(tmp_path: Path, nano: bool, big: bool) -> None:
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames, nano=nano, big=big))
    assert rows(records) == expected() and report.rejected == 0


@pytest.mark.parametrize("joined", ["cat", "gzip members"])
def test_pcap_files_joined_end_to_end_are_read_through(tmp_path: Path, joined: str) -> None:
    """Classic pcaps joined end to end (`cat a.pcap b.pcap`, or gzip files concatenated, as a rotated
    `tcpdump -z gzip` ring is gathered): each header after the first begins another capture, with its
    own byte order, timestamp resolution and link type; one of no packet yet (a ring's newest) adds none.
    The second header was read as packets, then refused as 'not plausible (corrupt file)': no record."""
    ex = exchange(session_messages())
    first = write_pcap(tmp_path / "a.pcap", 1, [(ts, ethernet(v4(m, r))) for ts, m, r in ex[:3]])
    second = write_pcap(
        tmp_path / "b.pcap", 113, [(ts, sll(v4(m, r))) for ts, m, r in ex[3:]], nano=True, big=True
    )
    empty = write_pcap(tmp_path / "c.pcap", 1, [])
    parts = [p.read_bytes() for p in (first, second, empty)]
    if joined == "cat":
        path = tmp_path / "all.pcap"
        path.write_bytes(b"".join(parts))
    else:
        path = tmp_path / "all.pcap.gz"
        path.write_bytes(b"".join(gzip.compress(part) for part in parts))
    records, report = read(path)
    assert rows(records) == expected()
    assert report.packets == 6 and report.rejected == 0 and report.cut_short == []


@pytest.mark.parametrize("order", ["pcap-pcapng", "pcapng-pcap", "pcapng-pcap-pcapng"])
def test_a_pcap_and_a_pcapng_joined_end_to_end_are_read_through(tmp_path: Path, order: str) -> None:
    """`cat a.pcap b.pcapng` (or a pcapng then a pcap): each capture is read in turn, the packets
    numbered on across them. The pcapng's section header was read as a pcap record, 'captured
    length ... is not plausible (corrupt file)'; the pcap's file header after a pcapng as a block,
    'is corrupt'; exit 2, no record."""
    ex = exchange(session_messages())
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in ex]
    cuts = {"pcap-pcapng": [0, 3, 6], "pcapng-pcap": [0, 2, 6], "pcapng-pcap-pcapng": [0, 2, 4, 6]}[order]
    parts = []
    for k, kind in enumerate(order.split("-")):
        part = frames[cuts[k] : cuts[k + 1]]
        if kind == "pcap":
            parts.append(write_pcap(tmp_path / f"{k}.pcap", 1, part, nano=True, big=True).read_bytes())
        else:
            ng = [(0, ts, f) for ts, f in part]
            parts.append(write_pcapng(tmp_path / f"{k}.pcapng", [1], ng, tsresol=9).read_bytes())
    path = tmp_path / "all.cap"
    path.write_bytes(b"".join(parts))
    records, report = read(path)
    assert rows(records) == expected()
    assert report.packets == 6 and report.rejected == 0 and report.cut_short == []
    # the second capture's header cut by the file's end: read up to it, the cut said there
    path.write_bytes(parts[0] + parts[1][:20])
    records, report = read(path)
    assert report.packets == cuts[1] and [(c["packets"], c["offset"]) for c in report.cut_short] == [
        (cuts[1], len(parts[0]))
    ]


@pytest.mark.parametrize("kept", [16, 20, 23])
def test_pcap_files_joined_end_to_end_the_last_header_cut(tmp_path: Path, kept: int) -> None:
    """Captures joined end to end whose last file header the file's end cuts (a ring's newest file
    caught as it was begun): the packets before are read, then the cut is said, at that header. Its
    first 16 octets were read as a packet record (of no octet), a packet more counted, and the cut
    said to be in a packet after it."""
    ex = exchange(session_messages())
    first = write_pcap(tmp_path / "a.pcap", 1, [(ts, ethernet(v4(m, r))) for ts, m, r in ex])
    second = write_pcap(tmp_path / "b.pcap", 1, [])
    path = tmp_path / "all.pcap"
    path.write_bytes(first.read_bytes() + second.read_bytes()[:kept])
    records, report = read(path)
    assert rows(records) == expected() and report.packets == 6 and report.rejected == 0
    offset = first.stat().st_size
    assert [(c["packets"], c["offset"]) for c in report.cut_short] == [(6, offset)]
    assert f"file header at offset {offset} cut ({kept} of 24 octets)" in report.cut_short[0]["reason"]


@pytest.mark.parametrize("tsresol", [None, 9])
def test_pcapng_with_interfaces_of_different_link_types(tmp_path: Path, tsresol: int | None) -> None:
    """Requests seen on an Ethernet interface, responses on a Linux cooked v2 one (`dumpcap -i a -i b`)."""
    frames = [
        (0, ts, ethernet(v4(m, r))) if r else (1, ts, sll2(v4(m, r)))
        for ts, m, r in exchange(session_messages())
    ]
    path = write_pcapng(tmp_path / "c.pcapng", [1, 276], frames, tsresol=tsresol)
    records, report = read(path)
    assert rows(records) == expected()
    assert report.rejected == 0 and report.unanswered_requests == 0


def test_radius_on_a_non_standard_port_needs_the_option(tmp_path: Path) -> None:
    frames = [(ts, ethernet(v4(m, r, port=18_130))) for ts, m, r in exchange(session_messages())]
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    records, report = read(path)
    assert records == [] and report.other_ports == {18_130: 3}  # said, never silently dropped
    records, report = read(path, ports=[18_130])
    assert rows(records) == expected() and report.rejected == 0


def test_retransmissions_are_billed_once(tmp_path: Path) -> None:
    """RFC 2866 5.2: the same request before and after its response, and one re-sent with a new
    Acct-Delay-Time (so a new Identifier and authenticator)."""
    start, interim, stop = session_messages()
    interim_again = request(9, acct(3, event=T0 + 600, st=600, octets=(100, 200), delay=5))
    stop_again = request(10, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1, delay=30))
    us = 1_000_000
    timeline = [
        (T0 * us, start, True),
        (T0 * us + 500, start, True),  # before its response, same Identifier
        (T0 * us + 1_000, response(start), False),
        (T0 * us + 1_500, response(start), False),  # the server answers the copy too
        (T0 * us + 2_000, start, True),  # after its response
        (T0 * us + 2_500, response(start), False),
        ((T0 + 600) * us, interim, True),
        ((T0 + 605) * us, interim_again, True),  # its response was lost: re-sent with Acct-Delay-Time
        ((T0 + 605) * us + 1_000, response(interim_again), False),
        ((T0 + 900) * us, stop, True),
        ((T0 + 900) * us + 1_000, response(stop), False),
        ((T0 + 930) * us, stop_again, True),  # a late duplicate after the session closed
        ((T0 + 930) * us + 1_000, response(stop_again), False),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in timeline]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    # the Start's two copies are re-sends of its very octets, answered each: two duplicate responses
    assert report.retransmissions == 4 and report.duplicate_responses == 2
    assert report.authenticated_requests == 5  # Start, Interim twice, Stop twice: each read once
    assert report.rejected == 0
    assert report.unanswered_requests == 1  # the first Interim, whose response never came


def test_status_server_to_the_accounting_port_and_its_answer_are_no_rejects(tmp_path: Path) -> None:
    """RFC 5997 4: a proxy checks that its home server is alive with Status-Server sent to the
    accounting port, and the server answers with an Accounting-Response (FreeRADIUS does, every 30 s
    per proxy by default). Each answer was a reject, 'Accounting-Response without a request'; it is
    paired with its Status-Server by its authenticator, even on the Identifier of a request whose own
    response never came. An answer that fits no request is still a reject."""
    start, interim, stop = session_messages()

    def status_server(ident: int, nonce: bytes) -> bytes:
        attributes = attr(80, bytes(16))  # Message-Authenticator (RFC 5997 requires it; not checked here)
        return struct.pack("!BBH", 12, ident, 20 + len(attributes)) + nonce * 16 + attributes

    probe, probe_on_interim = status_server(7, b"\x11"), status_server(interim[1], b"\x22")
    us = 1_000_000
    timeline = [
        (T0 * us, start, True),
        (T0 * us + 1_000, response(start), False),
        ((T0 + 30) * us, probe, True),
        ((T0 + 30) * us + 1_000, response(probe), False),
        ((T0 + 600) * us, interim, True),  # its response is lost
        ((T0 + 630) * us, probe_on_interim, True),
        ((T0 + 630) * us + 1_000, response(probe_on_interim), False),
        ((T0 + 900) * us, stop, True),
        ((T0 + 900) * us + 1_000, response(stop), False),
        ((T0 + 901) * us, response(status_server(8, b"\x33")), False),  # answers nothing seen
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in timeline]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.reasons == {"Accounting-Response without a request": 1} and report.rejects[0].packet == 10
    assert report.status_server == 2 and report.accounting_responses == 3
    assert report.unanswered_requests == 1  # the Interim


@pytest.mark.parametrize(
    ("line_class", "line_from", "line"),
    [
        (b"LINE-1", "auto", "LINE-1"),
        (bytes.fromhex("8f00a1ff3c5d0102"), "auto", "33612345678"),  # opaque state from Access-Accept
        (b"session 42", "auto", "33612345678"),  # text, but not one token: not an id
        (None, "auto", "33612345678"),
        (b"LINE-1", "calling-station-id", "33612345678"),
    ],
)
def test_line_from_class_only_when_it_is_a_text_id(
    tmp_path: Path, line_class: bytes | None, line_from: str, line: str
) -> None:
    msgs = session_messages(line_class=line_class)
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames), line_from=line_from)
    assert {r.line for r in records} == {line} and len(records) == 2 and report.rejected == 0


OPAQUE_CLASS = attr(25, bytes.fromhex("8f00a1ff3c5d0102"))  # state an Access-Accept set, echoed


@pytest.mark.parametrize(
    ("where", "line_from"),
    [("first", "auto"), ("first", "class"), ("before", "auto"), ("after", "auto")],
)
def test_of_several_class_attributes_the_line_id_names_the_line(
    tmp_path: Path, where: str, line_from: str
) -> None:
    """Several Class attributes (RFC 2865 5.25: the server, or each proxy, sets one; the client echoes
    them all): the one that is a line id names the line, wherever the opaque one stands (first in the
    request, or just before or after the id). With the opaque one first, the records were the MSISDN's
    (`auto`) or rejects 'no line id' (`class`): the line's usage billed to a line not in the inventory."""

    def with_opaque(msg: bytes) -> bytes:
        attributes = msg[20:]
        if where == "first":
            attributes = OPAQUE_CLASS + attributes
        elif where == "before":
            attributes = attributes.replace(attr(25, b"LINE-1"), OPAQUE_CLASS + attr(25, b"LINE-1"))
        else:
            attributes = attributes.replace(attr(25, b"LINE-1"), attr(25, b"LINE-1") + OPAQUE_CLASS)
        return request(msg[1], attributes)

    msgs = [with_opaque(m) for m in session_messages()]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames), line_from=line_from)
    assert [(r.line, r.bytes_up) for r in records] == [("LINE-1", 100), ("LINE-1", 50)]
    assert report.rejected == 0


def test_ipv4_fragments_of_other_traffic_are_ignored_and_radius_ones_reassembled(tmp_path: Path) -> None:
    start, interim, stop = session_messages()
    big_other = udp(40_000, 5_000, bytes(3_000))  # a large datagram of another application
    frames: list[tuple[int, bytes]] = []
    for i, piece in enumerate(fragments4("198.51.100.1", "198.51.100.2", big_other, ident=7, size=1_480)):
        frames.append((T0 * 1_000_000 - 10 + i, ethernet(piece)))
    icmp_fragment = ipv4("198.51.100.1", "198.51.100.2", bytes(64), proto=1, ident=8, frag=0x2000)
    frames.append((T0 * 1_000_000 - 5, ethernet(icmp_fragment)))
    orphan = ipv4("198.51.100.1", "198.51.100.2", bytes(64), ident=9, frag=100)  # a last fragment alone
    frames.append((T0 * 1_000_000 - 4, ethernet(orphan)))
    for ts, m, r in exchange([start, interim, stop]):
        if m is interim:  # the Interim-Update crosses a link with a small MTU: three fragments
            for k, piece in enumerate(fragments4(GGSN, AAA, udp(32_768, 1813, m), ident=99, size=64)):
                frames.append((ts + k, ethernet(piece)))
        else:
            frames.append((ts, ethernet(v4(m, r))))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.reassembled == 1 and report.fragments == 8


def test_incomplete_fragmented_radius_is_a_reject(tmp_path: Path) -> None:
    start, interim, _stop = session_messages()
    first = fragments4(GGSN, AAA, udp(32_768, 1813, interim), ident=99, size=64)[0]
    frames = [(T0 * 1_000_000, ethernet(v4(start, True))), (T0 * 1_000_000 + 5, ethernet(first))]
    _records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert report.reasons == {"incomplete fragmented RADIUS message": 1}


def test_a_fragmented_radius_message_made_longer_than_65535_octets_is_a_reject(tmp_path: Path) -> None:
    """A fragment ending past 65,535 octets (the "ping of death") after the first fragment of an
    Interim-Update: the datagram is dropped, as a host drops it, and its first fragment, the one
    naming the accounting port, went with it without a word (the fragments after it, without
    their first, say nothing of RADIUS).  It is a reject."""
    start, interim, _stop = session_messages()
    first, *rest = fragments4(GGSN, AAA, udp(32_768, 1813, interim), ident=99, size=64)
    bogus = ipv4(GGSN, AAA, bytes(16), ident=99, frag=65_528 // 8)
    frames = [(T0 * 1_000_000, ethernet(v4(start, True)))]
    frames += [(T0 * 1_000_000 + k, ethernet(f)) for k, f in enumerate([first, bogus, *rest], 5)]
    _records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.packet, r.reason) for r in report.rejects] == [
        (2, "fragmented RADIUS message longer than 65,535 octets: dropped")
    ]


@pytest.mark.parametrize("lost", ["first", "last"])
def test_an_ip_identification_used_again_is_another_datagram(tmp_path: Path, lost: str) -> None:
    """A fragmented request of another session of which the capture lost one fragment, then, 700 s
    later, the Interim-Update fragmented under the same IP identification (it wraps at 65,536). The
    old pieces were put together with the new: a 'bad Request Authenticator' (the Interim lost, its
    period billed in the Stop's record), or, the first fragment lost, the old request dropped without a
    word. A datagram's fragments are put together within 30 s of its first, as Linux does; one left
    incomplete with its ports known is a reject."""
    start, interim, stop = session_messages()
    other = request(9, acct(3, "sess-x", event=T0 - 100, st=60, octets=(1, 2)))
    pieces = fragments4(GGSN, AAA, udp(32_768, 1813, other), ident=99, size=64)
    kept = pieces[1:] if lost == "first" else pieces[:-1]
    frames = [((T0 - 100) * 1_000_000 + k, ethernet(piece)) for k, piece in enumerate(kept)]
    for ts, m, r in exchange([start, interim, stop]):
        if m is interim:
            for k, piece in enumerate(fragments4(GGSN, AAA, udp(32_768, 1813, m), ident=99, size=64)):
                frames.append((ts + k, ethernet(piece)))
        else:
            frames.append((ts, ethernet(v4(m, r))))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected() and report.reassembled == 1
    if lost == "first":  # (nothing says the pieces left were accounting)
        assert report.reasons == {}
    else:
        assert [(r.packet, r.reason) for r in report.rejects] == [
            (1, "incomplete fragmented RADIUS message: fragments missing")
        ]


def test_fragments_a_span_port_saw_twice_leave_nothing_for_the_next_datagram(tmp_path: Path) -> None:
    """A SPAN port that sees each fragment twice: the second copy of the last fragment, after the
    datagram was put together, started a datagram of its own, which the next request fragmented
    under the same IP identification (10 s later) joined: a 'bad Request Authenticator' (that Stop
    lost, the session without a Stop). A copy of a fragment of a datagram put together within 30 s
    is a copy."""
    start, interim, stop = session_messages()
    frames: list[tuple[int, bytes]] = []
    for ts, m, r in exchange([start, interim, stop], [T0, T0 + 600, T0 + 610]):
        if r and m is not start:
            for k, piece in enumerate(fragments4(GGSN, AAA, udp(32_768, 1813, m), ident=99, size=64)):
                frames += [(ts + k, ethernet(piece)), (ts + k, ethernet(piece))]
        else:
            frames.append((ts, ethernet(v4(m, r))))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.rejected == 0 and report.reassembled == 2 and report.open_sessions == []


def test_session_joined_at_an_interim_gives_records_from_it_on(tmp_path: Path) -> None:
    """The capture began mid-session: the first Interim seen is the baseline."""
    interim1 = request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200)))
    interim2 = request(3, acct(3, event=T0 + 1_200, st=1_200, octets=(160, 260)))
    stop = request(4, acct(2, event=T0 + 1_500, st=1_500, octets=(170, 300), terminate=1))
    frames = [
        (ts, ethernet(v4(m, r)))
        for ts, m, r in exchange([interim1, interim2, stop], [T0 + 600, T0 + 1_200, T0 + 1_500])
    ]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    start = datetime.fromtimestamp(T0, UTC)
    assert rows(records) == [
        ("LINE-1", "sess-1", start.replace(minute=23), 600, 60, 60, 17, None, "20801"),
        ("LINE-1", "sess-1", start.replace(minute=33), 300, 10, 40, 0, None, "20801"),
    ]
    assert report.joined == [
        {
            "session": "sess-1",
            "at": 1,
            "session_time_s": 600,
            "bytes_up_before": 100,
            "bytes_down_before": 200,
        }
    ]
    assert report.rejected == 0


def test_stop_of_an_unseen_session_is_a_reject_not_a_record(tmp_path: Path) -> None:
    stop = request(4, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1))
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange([stop], [T0 + 900])]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert records == [] and report.reasons == {"Stop of a session never seen before": 1}


def test_without_event_timestamp_the_start_is_when_the_client_sent_it(tmp_path: Path) -> None:
    """A client that sends no Event-Timestamp: the session starts when its Start left the client, the
    time it was captured less Acct-Delay-Time (RFC 2866 5.2: the first copy was lost, the one seen
    was re-sent 30 s later). It started 30 s late; a session joined at an Interim-Update sent 20 s
    late likewise."""

    def late(status: int, session: str, delay: int, **kw: object) -> bytes:
        return acct(status, session, event=T0, delay=delay, **kw).replace(attr(55, u32(T0)), b"")  # type: ignore[arg-type]

    msgs = [
        request(1, late(1, "sess-1", 30)),
        request(2, late(3, "sess-1", 0, st=600, octets=(100, 200))),
        request(3, late(3, "sess-2", 20, st=600, octets=(10, 20))),
        request(4, late(3, "sess-2", 0, st=1_200, octets=(30, 40))),
    ]
    times = [T0 + 30, T0 + 600, T0 + 620, T0 + 1_200]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.session, r.start, r.duration_s) for r in records] == [
        ("sess-1", datetime.fromtimestamp(T0, UTC), 600),
        ("sess-2", datetime.fromtimestamp(T0 + 600, UTC), 600),
    ]
    assert report.rejected == 0


@pytest.mark.parametrize("event_timestamp", [True, False])
def test_interims_without_acct_session_time_close_their_own_records(
    tmp_path: Path, event_timestamp: bool
) -> None:
    """A client that sends Acct-Session-Time in its Stop only (RFC 2866 5.7 names it for a Stop): each
    Interim-Update's session time is its event's time (Event-Timestamp, else when it was sent: the
    capture time less Acct-Delay-Time) less the session's start. Each Interim was a reject, 'missing
    Acct-Session-Time', and the Stop's record of 30 h cut at the 12-hour marks with its octets spread in
    proportion to time: 2,400,000 octets up in the first 12 h where the client counted 3,000,000 in its
    first 6 h alone."""
    hour = 3_600

    def req(ident: int, status: int, at: int, delay: int = 0, **kw: object) -> bytes:
        attributes = acct(status, event=T0 + at - delay, delay=delay or None, **kw)  # type: ignore[arg-type]
        if not event_timestamp:
            attributes = attributes.replace(attr(55, u32(T0 + at - delay)), b"")
        return request(ident, attributes)

    msgs = [
        req(1, 1, 0),
        req(2, 3, 6 * hour, octets=(3_000_000, 10)),
        req(3, 3, 12 * hour + 5, delay=5, octets=(3_500_000, 20)),  # re-sent 5 s late: its event is at 12 h
        req(4, 3, 24 * hour, octets=(4_000_000, 30)),
        req(5, 2, 30 * hour, st=30 * hour, octets=(6_000_000, 40), terminate=1),
    ]
    times = [T0, T0 + 6 * hour, T0 + 12 * hour + 5, T0 + 24 * hour, T0 + 30 * hour]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.start, r.duration_s, r.bytes_up, r.cause) for r in records] == [
        (datetime.fromtimestamp(T0, UTC), 6 * hour, 3_000_000, 17),
        (datetime.fromtimestamp(T0 + 6 * hour, UTC), 6 * hour, 500_000, 17),
        (datetime.fromtimestamp(T0 + 12 * hour, UTC), 12 * hour, 500_000, 17),
        (datetime.fromtimestamp(T0 + 24 * hour, UTC), 6 * hour, 2_000_000, 0),
    ]
    assert report.rejected == 0


def read_serving_network(tmp_path: Path, said: bytes) -> tuple[list[UsageRecord], ReadReport]:
    """The records of `session_messages` with `said` (attributes) in place of their 3GPP-SGSN-MCC-MNC."""
    msgs = [
        request(i, m[20:].replace(vsa3gpp(18, b"20801"), said)) for i, m in enumerate(session_messages(), 1)
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    return read(write_pcap(tmp_path / "c.pcap", 1, frames))


def test_no_serving_network_said_is_the_records_default_zone_not_world(tmp_path: Path) -> None:
    """A client that sends no 3GPP-SGSN-MCC-MNC (optional in TS 29.061, absent from non-3GPP
    clients): the records have no serving_plmn and the usage record's default zone, fr. They were
    zone world, rated as roaming outside Europe."""
    records, report = read_serving_network(tmp_path, b"")
    assert [(r.serving_plmn, r.zone.value) for r in records] == [(None, "fr"), (None, "fr")]
    assert report.rejected == 0


@pytest.mark.parametrize(
    ("value", "plmn", "zone"),
    [
        (b"\x32\xf4\x51", "23415", "eu"),  # BCD as in the RAI / ULI (TS 24.008 10.5.1.3), 2-digit MNC
        (b"\x13\x00\x14", "310410", "world"),  # 3-digit MNC: its third digit in place of the F
        (b"23415\0", "23415", "eu"),  # a C string with its NUL
        (b"234-15", "23415", "eu"),  # text forms besides TS 29.061's: a separator, padding, the F filler
        (b"23415   ", "23415", "eu"),
        (b"234F15", "23415", "eu"),
    ],
)
def test_serving_network_in_octets_is_read_as_its_digits(
    tmp_path: Path, value: bytes, plmn: str, zone: str
) -> None:
    """3GPP-SGSN-MCC-MNC as the three BCD octets of a PLMN id (copied from the RAI or ULI), not TS
    29.061's text: read as text, '2\xf4Q' was no network in the table, the records zone world (a UK
    session rated as roaming outside Europe) with that serving_plmn. Text with a separator, padding or
    the F filler written out is its digits (it was rated by its MCC, but kept as serving_plmn)."""
    records, report = read_serving_network(tmp_path, vsa3gpp(18, value))
    assert [(r.serving_plmn, r.zone.value, r.bytes_up) for r in records] == [
        (plmn, zone, 100),
        (plmn, zone, 50),
    ]
    assert report.rejected == 0


def test_a_serving_network_that_is_no_mcc_mnc_is_a_reject_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3GPP-SGSN-MCC-MNC that is neither digits nor BCD octets says no network to rate by: each
    request is a reject naming the packet and the attribute. Its records were zone world (no MCC in
    the table), with that serving_plmn."""
    records, report = read_serving_network(tmp_path, vsa3gpp(18, b"GB-VF"))
    path = tmp_path / "c.pcap"
    assert records == []
    assert report.reasons == {"malformed Accounting-Request": 3}
    first = report.as_dict()["rejects"][0]  # type: ignore[index]
    assert (
        first["packet"] == 1 and "3GPP-SGSN-MCC-MNC 0x47422d5646 ('GB-VF') is no MCC+MNC" in first["reason"]
    )
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 1
    assert "3GPP-SGSN-MCC-MNC" in capsys.readouterr().err


def test_session_ids_that_differ_in_octets_that_are_no_utf8_are_two_sessions(tmp_path: Path) -> None:
    r"""Two sessions of a client whose Acct-Session-Ids differ only in an octet that is no UTF-8 (and
    a Calling-Station-Id with such an octet): read as U+FFFD both ids were one, the second session's
    requests taken for retransmissions of the first's, its 150/300 octets billed nowhere. Each such
    octet is now `\xNN`, as the detail file reader gives it."""

    def messages(session: bytes, msisdn: bytes, ident: int) -> list[bytes]:
        return [
            request(
                ident + i,
                m[20:]
                .replace(attr(44, b"X"), attr(44, session))
                .replace(attr(31, b"33612345678"), attr(31, msisdn)),
            )
            for i, m in enumerate(session_messages("X", line_class=None))
        ]

    first, second = messages(b"\x80A", b"33612345678", 1), messages(b"\x81A", b"3361234567\xff", 10)
    msgs = [m for pair in zip(first, second, strict=True) for m in pair]
    times = [T0, T0 + 1, T0 + 600, T0 + 601, T0 + 900, T0 + 901]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert sorted((r.session, r.line, r.bytes_up, r.bytes_down) for r in records) == [
        ("\\x80A", "33612345678", 50, 100),
        ("\\x80A", "33612345678", 100, 200),
        ("\\x81A", "3361234567\\xff", 50, 100),
        ("\\x81A", "3361234567\\xff", 100, 200),
    ]
    assert report.retransmissions == 0 and report.rejected == 0 and report.sessions == 2


@pytest.mark.parametrize(
    ("location", "plmn", "zone"),
    [
        (bytes.fromhex("8132f451") + u32(0x0123456), "23415", "eu"),  # ECGI (TS 29.274 8.21.5)
        (
            bytes.fromhex("82130014") + b"\x00\x07" + bytes.fromhex("13001400123456"),
            "310410",
            "world",
        ),  # TAI+ECGI
        (bytes.fromhex("0062f2101a2b3c4d"), "26201", "eu"),  # CGI (TS 29.060 7.7.51): MCC, MNC, LAC, CI
        (bytes.fromhex("c832f451000000"), None, "fr"),  # a Geographic Location Type not known: no network
    ],
)
def test_without_sgsn_mcc_mnc_the_user_location_info_says_the_serving_network(
    tmp_path: Path, location: bytes, plmn: str | None, zone: str
) -> None:
    """A GGSN that sends 3GPP-User-Location-Info but no 3GPP-SGSN-MCC-MNC (both optional in TS 29.061):
    the cell's PLMN id is the serving network. Its records were no serving_plmn and zone fr, a session
    roaming in the UK or the US rated as at home."""
    records, report = read_serving_network(tmp_path, vsa3gpp(22, location))
    assert [(r.serving_plmn, r.zone.value, r.bytes_up) for r in records] == [
        (plmn, zone, 100),
        (plmn, zone, 50),
    ]
    assert report.rejected == 0


def test_a_user_location_info_whose_plmn_is_no_bcd_is_a_reject_naming_it(tmp_path: Path) -> None:
    records, report = read_serving_network(tmp_path, vsa3gpp(22, bytes.fromhex("81aaf451") + u32(1)))
    assert records == [] and report.reasons == {"malformed Accounting-Request": 3}
    reason = report.as_dict()["rejects"][0]["reason"]  # type: ignore[index]
    assert "3GPP-User-Location-Info 0x81aaf45100000001: its PLMN id 0xaaf451 is no BCD MCC+MNC" in reason


def test_32_bit_counters_without_gigawords_wrap(tmp_path: Path) -> None:
    msgs = [
        request(1, acct(1, event=T0, gigawords=False)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(4_000_000_000, 10), gigawords=False)),
        request(3, acct(2, event=T0 + 900, st=900, octets=(1_000, 20), gigawords=False, terminate=1)),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [r.bytes_up for r in records] == [4_000_000_000, (1 << 32) + 1_000 - 4_000_000_000]
    assert [r.bytes_down for r in records] == [10, 10]
    assert report.counter_wraps == 1 and report.rejected == 0


def accounting_on(ident: int, event: int, delay: int = 0) -> bytes:
    """Accounting-On (RFC 2866 5.1) of the GGSN: it restarted."""
    return request(
        ident, attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1))) + attr(55, u32(event)) + attr(41, u32(delay))
    )


def test_accounting_on_ends_the_clients_sessions_and_a_reused_session_id_is_a_new_session(
    tmp_path: Path,
) -> None:
    """The GGSN restarts (Accounting-On) and numbers its sessions from the start again: the new session
    with the old Acct-Session-Id is billed from its own Start (it was a 'duplicate Start', then its
    counters were taken as the old session's: a 32-bit wrap of ~4 GB, or every record refused). The
    Accounting-On re-sent later (Acct-Delay-Time) ends nothing opened since."""
    msgs = [
        request(1, acct(1, event=T0, gigawords=False)),
        request(2, acct(3, event=T0 + 3_600, st=3_600, octets=(100_000_000, 5_000), gigawords=False)),
        accounting_on(3, T0 + 4_000),
        request(4, acct(1, event=T0 + 4_100, gigawords=False)),
        accounting_on(5, T0 + 4_000, delay=120),
        request(6, acct(3, event=T0 + 4_700, st=600, octets=(10_000_000, 1_000), gigawords=False)),
        request(
            7, acct(2, event=T0 + 5_000, st=900, octets=(120_000_000, 1_500), gigawords=False, terminate=1)
        ),
    ]
    times = [T0, T0 + 3_600, T0 + 4_000, T0 + 4_100, T0 + 4_120, T0 + 4_700, T0 + 5_000]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records] == [
        (datetime.fromtimestamp(T0, UTC), 3_600, 100_000_000, 5_000, 1),
        (datetime.fromtimestamp(T0 + 4_100, UTC), 600, 10_000_000, 1_000, 1),
        (datetime.fromtimestamp(T0 + 4_700, UTC), 300, 110_000_000, 500, 2),
    ]
    assert report.rejected == 0 and report.counter_wraps == 0
    assert report.open_sessions == ["sess-1"]  # the first one: ended by the restart, without a Stop


def test_a_client_restarting_without_accounting_on_and_reusing_the_session_id_bills_no_false_wrap(
    tmp_path: Path,
) -> None:
    """The GGSN restarts without an Accounting-On and numbers its sessions afresh: a Start for the open
    session after its Interim-Update is a new session. It was a 'duplicate Start', then the new
    session's 32-bit counters, below the old one's, were read as a wrap: 4,194,967,296 octets up
    billed for 10 MB. A second Start before any Interim is still a duplicate Start."""
    msgs = [
        request(1, acct(1, event=T0, gigawords=False)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100_000_000, 5_000), gigawords=False)),
        request(3, acct(1, event=T0 + 700, gigawords=False)),
        request(4, acct(1, event=T0 + 710, gigawords=False)),
        request(5, acct(3, event=T0 + 1_900, st=1_200, octets=(10_000_000, 1_000), gigawords=False)),
        request(
            6, acct(2, event=T0 + 2_000, st=1_300, octets=(12_000_000, 1_500), gigawords=False, terminate=1)
        ),
    ]
    times = [T0, T0 + 600, T0 + 700, T0 + 710, T0 + 1_900, T0 + 2_000]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records] == [
        (datetime.fromtimestamp(T0, UTC), 600, 100_000_000, 5_000, 1),
        (datetime.fromtimestamp(T0 + 700, UTC), 1_200, 10_000_000, 1_000, 1),
        (datetime.fromtimestamp(T0 + 1_900, UTC), 100, 2_000_000, 500, 2),
    ]
    assert report.counter_wraps == 0 and report.reasons == {"duplicate Start": 1}
    assert report.open_sessions == ["sess-1"]  # the first one: ended by the restart, without a Stop


def test_a_reused_session_id_without_event_timestamp_is_a_new_session_not_a_retransmission(
    tmp_path: Path,
) -> None:
    """A client that sends no Event-Timestamp (radclient, many NASes) restarts and numbers its sessions
    afresh. Every Start of an id had the same signature, so the new session's Start was a
    retransmission: after an Interim-Update of the old session (no Accounting-On), the new session's
    32-bit counters, below the old one's at the same Acct-Session-Time, were a wrap (4,204,967,296
    octets up billed for 10 MB); after the old session's Stop and an Accounting-On, its requests were
    'after the session's Stop', lost. A Start sent at or after the old session's last request is a new
    session; a copy of a Start re-sent with an updated Acct-Delay-Time is still a retransmission."""

    def plain(status: int, **kw: object) -> bytes:
        return acct(status, "sess-1", event=T0, gigawords=False, **kw).replace(attr(55, u32(T0)), b"")  # type: ignore[arg-type]

    accounting_on = attr(40, u32(7)) + attr(4, b"\xc0\x00\x02\x01")
    msgs = [
        request(1, plain(1)),
        request(2, plain(1, delay=3)),  # the Start re-sent 3 s later
        request(3, plain(3, st=600, octets=(100_000_000, 5_000))),
        request(4, plain(1)),  # restarted, no Accounting-On
        request(5, plain(3, st=600, octets=(10_000_000, 1_000))),
        request(6, plain(2, st=700, octets=(12_000_000, 1_500), terminate=1)),
        request(7, accounting_on),  # restarted again, said so
        request(8, plain(1)),
        request(9, plain(1, delay=4)),  # re-sent
        request(10, plain(2, st=120, octets=(1_000, 2_000), terminate=1)),
    ]
    times = [T0, T0 + 3, T0 + 600, T0 + 700, T0 + 1_300, T0 + 1_400, T0 + 1_500, T0 + 1_510, T0 + 1_514]
    times.append(T0 + 1_630)
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records] == [
        (datetime.fromtimestamp(T0, UTC), 600, 100_000_000, 5_000, 1),
        (datetime.fromtimestamp(T0 + 700, UTC), 600, 10_000_000, 1_000, 1),
        (datetime.fromtimestamp(T0 + 1_300, UTC), 100, 2_000_000, 500, 2),
        (datetime.fromtimestamp(T0 + 1_510, UTC), 120, 1_000, 2_000, 1),
    ]
    assert report.counter_wraps == 0 and report.rejected == 0 and report.retransmissions == 2
    assert report.sessions == 3 and report.open_sessions == ["sess-1"]  # the first: no Stop


def test_a_late_interim_without_gigawords_closes_its_record_and_no_wrap_is_said(tmp_path: Path) -> None:
    """The first Interim-Update's copy re-sent late (Acct-Delay-Time), after the second: its 32-bit
    counters are below the session's, its Acct-Session-Time too; it was refused as going backwards
    (one record for both periods) and the summary said two counters had wrapped (2^32 added) though no
    record took them. It closes its own record (RFC 2866 5.2: the same report, delivered late), and
    no counter wrapped."""
    msgs = [
        request(1, acct(1, event=T0, gigawords=False)),
        request(3, acct(3, event=T0 + 1_200, st=1_200, octets=(3_000, 300), gigawords=False)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(1_000, 100), gigawords=False, delay=601)),
        request(4, acct(2, event=T0 + 1_500, st=1_500, octets=(4_000, 400), gigawords=False, terminate=1)),
    ]
    frames = [
        (ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, [T0, T0 + 1_200, T0 + 1_201, T0 + 1_500])
    ]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.bytes_up, r.bytes_down, r.duration_s, r.sequence) for r in records] == [
        (1_000, 100, 600, 1),
        (2_000, 200, 600, 2),
        (1_000, 100, 300, 3),
    ]
    assert report.reasons == {} and report.counter_wraps == 0


def test_a_late_interim_after_the_stop_tells_the_32_bit_wrap_the_stop_hid(tmp_path: Path) -> None:
    """The Interim-Update re-sent after the Stop: between them the input counter wrapped, which the
    Stop alone could not show (its 32 bits below the Interim's); the record lost 4 GiB."""
    msgs = [
        request(1, acct(1, event=T0, gigawords=False)),
        request(
            3, acct(2, event=T0 + 1_200, st=1_200, octets=(2**32 + 500, 300), gigawords=False, terminate=1)
        ),
        request(2, acct(3, event=T0 + 600, st=600, octets=(2**32 - 500, 100), gigawords=False, delay=601)),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, [T0, T0 + 1_200, T0 + 1_201])]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.bytes_up, r.bytes_down, r.duration_s, r.cause) for r in records] == [
        (2**32 - 500, 100, 600, 17),
        (1_000, 200, 600, 0),
    ]
    assert report.reasons == {} and report.counter_wraps == 1


def test_a_capture_begun_at_a_stop_gives_its_record_from_the_late_interim_after_it(tmp_path: Path) -> None:
    """The capture began between an Interim-Update's first copy (lost) and the session's Stop; the
    Interim, re-sent with Acct-Delay-Time, came after the Stop. The Stop was refused as 'never seen
    before' and the session joined at the Interim was listed without a Stop: its last record (the
    Stop's 2,000 octets up) billed nowhere. The Interim is the baseline the Stop's record starts from;
    a copy of the Stop is a retransmission. A Stop no Interim delimits within 300 s is still refused."""
    msgs = [
        request(3, acct(2, event=T0 + 1_200, st=1_200, octets=(3_000, 300), terminate=1)),
        request(4, acct(2, event=T0 + 1_200, st=1_200, octets=(3_000, 300), terminate=1, delay=2)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(1_000, 100), delay=603)),
        request(9, acct(2, "sess-2", event=T0 + 1_300, st=900, octets=(50, 60), terminate=1)),
    ]
    times = [T0 + 1_200, T0 + 1_202, T0 + 1_203, T0 + 1_300]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    start = datetime.fromtimestamp(T0 + 600, UTC)
    assert rows(records) == [("LINE-1", "sess-1", start, 600, 2_000, 200, 0, None, "20801")]
    assert report.open_sessions == [] and report.retransmissions == 1
    assert [j["bytes_up_before"] for j in report.joined] == [1_000]
    assert [(r.packet, r.reason[:35]) for r in report.rejects] == [(7, "Stop of a session never seen before")]


@pytest.mark.parametrize("stop_first", [False, True])
def test_a_late_interim_before_the_baseline_of_a_joined_session_gives_its_record(
    tmp_path: Path, stop_first: bool
) -> None:
    """The capture began between an Interim-Update's first copy (lost) and the next Interim, where the
    session was joined; the first, re-sent late, comes after it (or after the Stop). It was refused
    as counters going backwards (or as after the session's Stop), its period, 600 s and 2,000 octets
    up, billed nowhere. It gives the record from it to the baseline, and is the baseline now;
    the input counter (32 bits, no Gigawords) wrapped between the two."""
    interim1 = request(
        2, acct(3, event=T0 + 600, st=600, octets=(2**32 - 1_000, 100), gigawords=False, delay=601)
    )
    interim2 = request(3, acct(3, event=T0 + 1_200, st=1_200, octets=(2**32 + 1_000, 300), gigawords=False))
    stop = request(
        4, acct(2, event=T0 + 1_500, st=1_500, octets=(2**32 + 2_000, 400), gigawords=False, terminate=1)
    )
    msgs, times = [interim2, interim1, stop], [T0 + 1_200, T0 + 1_201, T0 + 1_500]
    if stop_first:
        msgs, times = [interim2, stop, interim1], [T0 + 1_200, T0 + 1_500, T0 + 1_501]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    start = datetime.fromtimestamp(T0 + 600, UTC)
    assert sorted(rows(records), key=lambda r: r[2]) == [
        ("LINE-1", "sess-1", start, 600, 2_000, 200, 17, None, "20801"),
        ("LINE-1", "sess-1", start.replace(minute=33), 300, 1_000, 100, 0, None, "20801"),
    ]
    assert report.reasons == {} and report.counter_wraps == 1
    assert report.joined == [
        {
            "session": "sess-1",
            "at": 1,
            "session_time_s": 600,
            "bytes_up_before": 2**32 - 1_000,
            "bytes_down_before": 100,
        }
    ]


def test_an_interim_sent_after_the_stop_or_baseline_is_not_delimiting_them(tmp_path: Path) -> None:
    """An Interim-Update with a lower Acct-Session-Time that was sent after the Stop (or the baseline)
    it follows is not theirs, re-sent late: it is of a later session with the id (the client
    restarted, its Start not captured). sess-1: a Stop, then such an Interim: the Stop is a reject,
    the Interim a session joined. sess-2: joined at an Interim, then such an Interim, which says it
    began (its Event-Timestamp less Acct-Session-Time) after the first: the first session ends without
    a Stop, the Interim is a later session joined (it was 'counters went backwards')."""
    msgs = [
        request(1, acct(2, "sess-1", event=T0 + 1_200, st=1_200, octets=(3_000, 300), terminate=7)),
        request(2, acct(3, "sess-1", event=T0 + 1_260, st=60, octets=(10, 20))),
        request(3, acct(3, "sess-2", event=T0 + 1_200, st=1_200, octets=(3_000, 300))),
        request(4, acct(3, "sess-2", event=T0 + 1_300, st=60, octets=(10, 20))),
    ]
    times = [T0 + 1_200, T0 + 1_260, T0 + 1_200, T0 + 1_300]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, sorted(frames, key=lambda f: f[0])))
    assert records == []
    assert report.reasons == {"Stop of a session never seen before": 1}
    assert [(j["session"], j["session_time_s"]) for j in report.joined] == [
        ("sess-2", 1_200),
        ("sess-1", 60),
        ("sess-2", 60),
    ]
    assert report.open_sessions == ["sess-1", "sess-2", "sess-2"]


def test_a_late_interim_after_an_accounting_on_cuts_the_record_of_the_session_it_ended(
    tmp_path: Path,
) -> None:
    """The GGSN restarts (Accounting-On) and re-sends, from its queue, an Interim-Update of a session
    the restart ended, dated before it: it opened a session of its own, joined at it, with no
    records, listed without a Stop beside the one ended; the ended session's record kept both
    periods. It cuts that record as any late Interim does, and the Stop the GGSN re-sends next
    closes the session (listed without a Stop no more); a copy of a request is a retransmission."""
    msgs = [
        request(1, acct(1, event=T0)),
        request(3, acct(3, event=T0 + 1_200, st=1_200, octets=(3_000, 300))),
        accounting_on(4, T0 + 1_300),
        request(2, acct(3, event=T0 + 600, st=600, octets=(1_000, 100), delay=701)),
        request(5, acct(3, event=T0 + 1_200, st=1_200, octets=(3_000, 300), delay=102)),
        request(6, acct(2, event=T0 + 1_250, st=1_250, octets=(3_500, 350), terminate=7, delay=53)),
    ]
    times = [T0, T0 + 1_200, T0 + 1_300, T0 + 1_301, T0 + 1_302, T0 + 1_303]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, times)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.cause, r.sequence) for r in records] == [
        (datetime.fromtimestamp(T0, UTC), 600, 1_000, 100, 17, 1),
        (datetime.fromtimestamp(T0 + 600, UTC), 600, 2_000, 200, 17, 2),
        (datetime.fromtimestamp(T0 + 1_200, UTC), 50, 500, 50, 20, 3),
    ]
    assert report.sessions == 1 and report.joined == [] and report.open_sessions == []
    assert report.rejected == 0 and report.retransmissions == 1


def test_counters_going_down_with_gigawords_are_a_reject(tmp_path: Path) -> None:
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(5_000, 10))),
        request(3, acct(2, event=T0 + 900, st=900, octets=(1_000, 20), terminate=1)),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert len(records) == 1 and report.reasons == {"counters went backwards": 1}


def test_gigawords_past_2_to_the_31_are_a_reject_naming_packet_and_attribute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acct-Input-Gigawords >= 2^31 (a damaged or hostile request) made octets past 2^63: the Parquet
    writer stopped with a traceback. A counter that wraps past 2^63 (32-bit after Gigawords) too."""
    near = ((1 << 31) - 1) << 32
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(3, event=T0 + 600, st=600, octets=((1 << 31 << 32) + 5, 10))),
        request(3, acct(3, event=T0 + 700, st=700, octets=(near + 0xFFFF_FFF0, 20))),
        request(4, acct(2, event=T0 + 900, st=900, octets=(5, 30), gigawords=False, terminate=1)),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, [T0, T0 + 600, T0 + 700, T0 + 900])]
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    records, report = read(path)
    assert [(r.bytes_up, r.bytes_down) for r in records] == [(near + 0xFFFF_FFF0, 20)]
    assert [(r.packet, r.reason) for r in report.rejects] == [
        (
            3,
            "malformed Accounting-Request: Acct-Input-Gigawords 2147483648 is out of range "
            "(more than 2^31 - 1: octets past 2^63 - 1)",
        ),
        (
            7,
            "malformed Accounting-Request: Acct-Input-Octets: 9223372036854775813 octets is out of "
            "range (more than 2^63 - 1)",
        ),
    ]
    out = tmp_path / "usage.parquet"
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err and out.exists()


SNAPLEN = "packet cut by the capture's snapshot length: captured {} of {} bytes: capture with -s 0"


@pytest.mark.parametrize("snaplen", [120, 62, 40, 30, 20, 10])
@pytest.mark.parametrize("form", ["pcap", "pcapng", "ipv6"])
def test_packets_cut_by_the_snapshot_length_are_rejects_saying_so(
    tmp_path: Path, snaplen: int, form: str
) -> None:
    """A capture made with a snapshot length (`tcpdump -s 120`, `editcap -s 40`): each accounting
    packet cut short is a reject saying the capture cut it and which option keeps it whole. Cut in
    the RADIUS message they were 'truncated frame' (and their responses 'without a request'); cut
    in the UDP or IP header they were dropped without a word. Other traffic cut short is no reject
    where what was captured says it is no accounting (TCP, or a UDP port that is not 1813/1646)."""
    v = v6 if form == "ipv6" else v4
    frames = [(ts, ethernet(v(m, r)), "radius") for ts, m, r in exchange(session_messages())]
    frames += [
        (T0 * 1_000_000 + 5, ethernet(ipv4(GGSN, AAA, udp(2123, 2123, bytes(300)))), "gtp"),
        (T0 * 1_000_000 + 6, ethernet(ipv4(GGSN, AAA, bytes(300), proto=6)), "tcp"),
    ]
    frames.sort()
    if form == "pcapng":
        path = write_pcapng(tmp_path / "c.pcapng", [1], [(0, ts, f) for ts, f, _ in frames], snaplen=snaplen)
    else:
        path = write_pcap(tmp_path / "c.pcap", 1, [(ts, f) for ts, f, _ in frames], snaplen=snaplen)
    records, report = read(path)
    may_be_accounting = {"radius": True, "gtp": snaplen < 14 + 20 + 4, "tcp": snaplen <= 14 + 9}
    cut = [
        (n, SNAPLEN.format(snaplen, len(f)))
        for n, (_ts, f, kind) in enumerate(frames, 1)
        if len(f) > snaplen and may_be_accounting[kind]
    ]
    assert records == [] and len(cut) >= 3
    assert [(r.packet, r.reason[: len(c)]) for r, (_n, c) in zip(report.rejects, cut, strict=True)] == cut
    # (a request cut after its Authenticator still pairs with its response, never 'without a request')
    assert report.reasons == {"packet cut by the capture's snapshot length": len(cut)}
    assert report.unanswered_requests == 0
    # a frame cut only after its datagram (Ethernet padding, a trailer) is whole: read
    padded = [(ts, ethernet(v(m, r)) + bytes(300)) for ts, m, r in exchange(session_messages())]
    records, report = read(write_pcap(tmp_path / "p.pcap", 1, padded, snaplen=max(snaplen, 250)))
    assert rows(records) == expected() and report.rejected == 0


def test_simple_packet_blocks_cut_by_the_snapshot_length_are_rejects_not_padding_read(tmp_path: Path) -> None:
    """A pcapng of Simple Packet Blocks (no captured length of their own: the packet cut to the
    interface's snapshot length, then padded to 32 bits): the padding is no packet data. It was read
    as such: a request cut 1 octet short looked whole, a zero for its last octet, and was a 'bad
    Request Authenticator' (each request so: 'the shared secret is wrong'); the others' rejects said
    3 octets more captured than were."""
    frames = [ethernet(v4(m, r)) for _ts, m, r in exchange(session_messages())]
    snaplen = len(frames[0]) - 1  # the Start's last octet cut, and its 32-bit padding longer than that
    assert snaplen % 4 and all(len(f) > snaplen for f in frames[::2])

    blocks = [
        pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        pcapng_block(1, struct.pack("<HHI", 1, 0, snaplen)),
        *(pcapng_block(3, struct.pack("<I", len(f)) + f[:snaplen]) for f in frames),
    ]
    path = tmp_path / "simple.pcapng"
    path.write_bytes(b"".join(blocks))
    records, report = read(path)
    assert records == []
    cut = [(n, SNAPLEN.format(snaplen, len(f))) for n, f in enumerate(frames, 1) if n % 2]
    assert [(r.packet, r.reason[: len(c)]) for r, (_n, c) in zip(report.rejects, cut, strict=True)] == cut


def pcapng_with_journal_and_custom_blocks(path: Path) -> tuple[Path, list[bytes]]:
    """A pcapng of the session's exchange, a systemd journal entry, a custom block and a sysdig event
    (which Wireshark numbers as frames) before the Interim-Update, which a snapshot length of 64 cut (as the Start and Stop); and its frames."""
    frames = [ethernet(v4(m, r)) for _ts, m, r in exchange(session_messages())]

    blocks = [
        pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        pcapng_block(1, struct.pack("<HHI", 1, 0, 64)),
    ]
    for k, ((ts, _m, _r), frame) in enumerate(zip(exchange(session_messages()), frames, strict=True)):
        if k == 2:
            blocks.append(pcapng_block(9, b"__REALTIME_TIMESTAMP=%d\nMESSAGE=radiusd started\n" % ts))
            blocks.append(pcapng_block(0x00000BAD, struct.pack("<I", 32_473) + b"a note"))  # (PEN: example)
            # a sysdig event (a system call, `sysdig -w` merged in): CPU, time in ns, thread, length, type
            blocks.append(pcapng_block(0x204, struct.pack("<HQQIH", 0, ts * 1_000, 42, 26, 1) + bytes(2)))
            blocks.append(pcapng_block(5, struct.pack("<III", 0, 0, 0)))  # interface statistics: no frame
        kept = frame[:64]
        blocks.append(
            pcapng_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(kept), len(frame)) + kept)
        )
    path.write_bytes(b"".join(blocks))
    return path, frames


def test_packet_numbers_are_wiresharks_past_journal_entries_and_custom_blocks(tmp_path: Path) -> None:
    """A reject names the packet by Wireshark's frame number (`tshark -Y frame.number==N` finds it): a
    systemd journal entry, a custom block and a sysdig event are frames there. They were not counted,
    and each packet after them was named by a number too small: another packet's."""
    path, frames = pcapng_with_journal_and_custom_blocks(tmp_path / "c.pcapng")
    records, report = read(path)
    # the Start, its response, the Interim-Update after the three numbered blocks, its response, the Stop
    numbers = [1, 2, 3 + 3, 4 + 3, 5 + 3, 6 + 3]
    cut = [(n, SNAPLEN.format(64, len(f))) for n, f in zip(numbers, frames, strict=True) if len(f) > 64]
    said = [(r.packet, r.reason) for r in report.rejects if r.reason.startswith(SNAPLEN[:44])]
    assert records == [] and len(cut) == 3
    assert [(n, reason[: len(c)]) for (n, reason), (_n, c) in zip(said, cut, strict=True)] == cut
    assert report.packets == len(frames) + 3


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark (Debian tshark)")
def test_tshark_numbers_the_journal_entries_and_custom_blocks_as_frames_too(tmp_path: Path) -> None:
    path, frames = pcapng_with_journal_and_custom_blocks(tmp_path / "c.pcapng")
    _records, report = read(path)
    listed = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.len"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    lengths = dict(line.split("\t") for line in listed if line.strip())
    assert len(lengths) == report.packets
    assert [lengths[str(r.packet)] for r in report.rejects if r.reason.startswith(SNAPLEN[:44])] == [
        str(len(f)) for f in frames if len(f) > 64
    ]


def test_interim_with_a_new_serving_network_is_a_partial_record_boundary(tmp_path: Path) -> None:
    msgs = [
        request(1, acct(1, event=T0, plmn="20801")),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200), plmn="21407")),  # roamed to Spain
        request(3, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1, plmn="21407")),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert [(r.cause, r.serving_plmn, r.zone.value, r.sequence) for r in records] == [
        (24, "20801", "fr", 1),
        (0, "21407", "fr", 2),  # carried in Spain, in the zone where the session was opened
    ]
    assert report.sessions == 1 and report.rejected == 0


def _split_capture(tmp_path: Path) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    a = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages("sess-a"))]
    b = [
        (ts + 300_000_000, ethernet(v4(m, r)))
        for ts, m, r in exchange(session_messages("sess-b", nas=b"\xc0\x00\x02\x02"))
    ]
    return a, b


def test_several_files_and_a_folder_are_merged_in_time_order(tmp_path: Path) -> None:
    a, b = _split_capture(tmp_path)
    whole = sorted(a + b)
    want, _ = read(write_pcap(tmp_path / "whole.pcap", 1, whole))
    ring = tmp_path / "ring"
    ring.mkdir()
    # a ring buffer: the time line cut in three files; and one pcapng among them
    write_pcap(ring / "cap_00001.pcap", 1, whole[:5])
    write_pcapng(ring / "cap_00002.pcapng", [1], [(0, ts, f) for ts, f in whole[5:9]])
    write_pcap(ring / "cap_00003.pcap", 1, whole[9:])
    (ring / "README.txt").write_text("ring buffer of the probe\n")
    got, report = read([ring])
    assert rows(got) == rows(want) and len(got) == 4 and report.rejected == 0
    # one file per shard, overlapping in time, given in any order
    shard_a = write_pcap(tmp_path / "a.pcap", 1, a)
    shard_b = write_pcap(tmp_path / "b.pcap", 1, b)
    got, report = read([shard_b, shard_a])
    assert sorted(rows(got)) == sorted(rows(want)) and report.rejected == 0 and report.packets == 12
    assert [r.start for r in got] == sorted(r.start for r in got)


def test_cli_reads_a_folder_and_names_skipped_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _split_capture(tmp_path)
    folder = tmp_path / "caps"
    folder.mkdir()
    write_pcap(folder / "a.pcap", 1, a)
    write_pcap(folder / "b.pcap", 1, b)
    (folder / "notes.txt").write_text("x")
    out = tmp_path / "usage.csv"
    assert (
        main(["records-from-pcap", str(folder), "--secret", SECRET.decode(), "--out", str(out), "--json"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 4 and summary["skipped_files"] == [str(folder / "notes.txt")]
    assert len(out.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("garbage", "not a pcap or pcapng capture"),
        ("empty", "empty file"),
        ("short-header", "pcap header cut"),
        ("corrupt-block", "block at offset 28 (after packet 0) is corrupt: length 13"),
        ("huge-length", "not plausible"),
        ("empty-folder", "holds no pcap"),
        ("gzip-cut", "its gzip data are cut short"),
        ("gzip-damaged", "its gzip data are damaged"),
        ("gzip-of-text", "compressed by gzip, but not a pcap or pcapng capture inside"),
    ],
)
def test_unusable_inputs_exit_2_with_one_line(
    tmp_path: Path, kind: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    path = tmp_path / "in.pcap"
    if kind == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "short-header":
        path.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    elif kind == "corrupt-block":  # (a block cut short at the end is read up to the cut)
        path = write_pcapng(tmp_path / "in.pcapng", [1], [(0, ts, f) for ts, f in frames])
        data = bytearray(path.read_bytes())
        data[28 + 4 : 28 + 8] = (13).to_bytes(4, "little")  # the interface block's length
        path.write_bytes(bytes(data))
    elif kind == "huge-length":
        data = bytearray(write_pcap(path, 1, frames).read_bytes())
        data[24 + 8 : 24 + 12] = (10**9).to_bytes(4, "little")
        path.write_bytes(bytes(data))
    elif (
        kind == "gzip-cut"
    ):  # before the capture's header (cut later: read up to the cut, `test_capture_cli`)
        packed = gzip.compress(write_pcap(path, 1, frames).read_bytes())
        path.write_bytes(packed[:14])
    elif kind == "gzip-damaged":  # its CRC-32 (cut short, it is read up to the cut)
        packed = bytearray(gzip.compress(write_pcap(path, 1, frames).read_bytes()))
        packed[-8] ^= 0xFF
        path.write_bytes(bytes(packed))
    elif kind == "gzip-of-text":
        path.write_bytes(gzip.compress(b"line,type,start\n" * 10))
    elif kind == "empty-folder":
        path = tmp_path / "folder"
        path.mkdir()
        (path / "x.txt").write_text("no capture here")
    out = tmp_path / "usage.parquet"
    with UsageWriter(out):  # an earlier output (no records), which a usable capture would replace
        pass
    previous = out.read_bytes()
    code = main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--out", str(out)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("m2msim records-from-pcap: ") and str(path) in lines[0] and needle in lines[0]
    assert out.read_bytes() == previous  # the output is untouched (atomic)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")] == []


@pytest.mark.parametrize(
    ("kind", "compress", "undo"), [("bzip2", bz2.compress, "bunzip2 -k"), ("xz", lzma.compress, "unxz -k")]
)
def test_a_capture_compressed_by_bzip2_or_xz_is_refused_naming_it_not_skipped(
    tmp_path: Path,
    kind: str,
    compress: Callable[[bytes], bytes],
    undo: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ring of `tcpdump -z bzip2` (the option's own example) or `-z xz`: its captures compressed so
    were skipped as 'not a pcap or pcapng file', and the folder read in part (exit 0, the sessions begun
    in them lost or billed from a later Interim). Now the read is refused, exit 2, naming the file and
    how to decompress it, as one given alone is; another file so compressed, not a capture, is skipped."""
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    ring = tmp_path / "ring"
    ring.mkdir()
    older = write_pcap(ring / "acct.pcap0", 1, frames[:3])
    packed = ring / f"acct.pcap0.{kind}"
    packed.write_bytes(compress(older.read_bytes()))
    older.unlink()
    write_pcap(ring / "acct.pcap1", 1, frames[3:])
    for given in (ring, packed):
        code = main(["records-from-pcap", str(given), "--secret", SECRET.decode()])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err
        assert lines[0] == (
            f"m2msim records-from-pcap: {packed}: a capture compressed by {kind}, which is not read: "
            f"decompress it ({undo} {packed}) and read the capture, or compress it with gzip or zstd"
        )
    packed.write_bytes(compress(b"notes, not a capture\n"))
    assert main(["records-from-pcap", str(ring), "--secret", SECRET.decode(), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["skipped_files"] == [str(packed)]


def _zipped(name: str, data: bytes) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def _lz4(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.Codec("lz4").compress(data, asbytes=True)  # (an LZ4 frame, as `lz4 FILE` writes)


@pytest.mark.parametrize(("kind", "undo"), [("lz4", "lz4 -d"), ("zip", "unzip"), ("7z", "7z x")])
def test_a_capture_compressed_by_lz4_zip_or_7z_is_refused_naming_how_to_decompress_it(
    tmp_path: Path, kind: str, undo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture compressed by lz4, zipped or put in a 7z archive: given, it was refused as 'not a pcap
    or pcapng capture (starts with 04224d18)'; in a folder, skipped as 'not a pcap or pcapng file'
    and the folder read in part, exit 0. Now it is refused, exit 2, naming the compression and how
    to undo it; in a folder too when its content can be seen to be a capture (lz4, zip), else (7z, or
    an archive of no capture) it is skipped saying why."""
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    ring = tmp_path / "ring"
    ring.mkdir()
    older = write_pcap(tmp_path / "acct.pcap0", 1, frames[:3]).read_bytes()
    write_pcap(ring / "acct.pcap1", 1, frames[3:])
    packed = ring / f"acct.pcap0.{kind}"
    pack = {"lz4": _lz4, "zip": lambda d: _zipped("acct.pcap0", d), "7z": lambda d: b"7z\xbc\xaf\x27\x1c" + d}
    packed.write_bytes(pack[kind](older))
    said = f"compressed with {kind}, which records-from-pcap does not read: decompress it first ({undo} {packed})"
    for given in (packed, ring) if kind != "7z" else (packed,):
        code = main(["records-from-pcap", str(given), "--secret", SECRET.decode()])
        captured = capsys.readouterr()
        assert code == 2 and captured.err == f"m2msim records-from-pcap: {packed}: {said}\n"
    if kind == "7z":  # (what it holds is not seen here)
        reason = f"{said}, if it holds a capture"
    else:
        packed.write_bytes(pack[kind](b"notes, not a capture\n"))
        reason = "not a pcap or pcapng file"
    assert main(["records-from-pcap", str(ring), "--secret", SECRET.decode(), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped_files"] == [str(packed)] and summary["skipped_reasons"] == {str(packed): reason}
    assert main(["records-from-pcap", str(ring), "--secret", SECRET.decode()]) == 1
    assert f"  skipped {packed}: {reason}\n" in capsys.readouterr().out


def test_out_refuses_to_be_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    path = write_pcap(tmp_path / "in.pcap", 1, frames)
    before = path.read_bytes()
    assert main(["records-from-pcap", str(path), "--out", str(path)]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_every_request_failing_its_authenticator_exits_1_naming_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(session_messages())]
    path = write_pcap(tmp_path / "in.pcap", 1, frames)
    assert main(["records-from-pcap", str(path), "--secret", "not-it"]) == 1
    captured = capsys.readouterr()
    assert (
        "check --secret" in captured.err and "rejected 3 packets: bad Request Authenticator" in captured.out
    )
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0


def test_packets_out_of_time_order_are_read_in_time_order(tmp_path: Path) -> None:
    """Two interfaces' packets written interface by interface (or two captures joined end to end that
    overlap in time): the session's Interim-Update and Stop come in the file before its Start, 50 s
    earlier. Read in file order, the session was joined at the Interim, its Start a 'duplicate
    Start', its first record lost. RADIUS messages wait 60 s of packet time to be read in time order."""
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(3, event=T0 + 30, st=30, octets=(100, 200))),
        request(3, acct(2, event=T0 + 50, st=50, octets=(150, 300), terminate=1)),
    ]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, [T0, T0 + 30, T0 + 50])]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, [*frames[2:], *frames[:2]]))
    start = datetime.fromtimestamp(T0, UTC)
    assert rows(records) == [
        ("LINE-1", "sess-1", start, 30, 100, 200, 17, 1, "20801"),
        ("LINE-1", "sess-1", start.replace(second=50), 20, 50, 100, 0, 2, "20801"),
    ]
    assert report.rejected == 0 and report.joined == [] and report.out_of_order == 0


def test_captures_joined_end_to_end_later_first_say_the_records_may_be_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two captures joined end to end (`mergecap -a`, `cat` of pcapng files), the later one first:
    the session's Interim and Stop are read an hour before its Start. Its records (one of two, and a
    'duplicate Start') were given with exit 0 and no word of the order. The summary counts the
    requests out of time order, a warning names the first and says to sort the capture, exit 1;
    sorted (reordercap), the capture gives the session's records."""
    msgs = session_messages()
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs, [T0, T0 + 3_600, T0 + 3_900])]
    path = write_pcap(tmp_path / "c.pcap", 1, [*frames[2:], *frames[:2]])
    out = tmp_path / "usage.csv"
    assert (
        main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--out", str(out), "--json"]) == 1
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["out_of_order"] == 1  # the Start
    assert summary["out_of_order_first"] == {"packet": 5, "file": str(path), "late_s": 3_600.0}
    assert captured.err.startswith(f"m2msim records-from-pcap: warning: {path}: 1 Accounting-Request out of ")
    assert "(the first: packet 5, 3600 s before one read earlier;" in captured.err
    assert "reordercap" in captured.err and out.exists()
    reordercap = shutil.which("reordercap")
    if reordercap is not None:
        subprocess.run(
            [reordercap, str(path), str(tmp_path / "sorted.pcap")], check=True, capture_output=True
        )
        records, report = read(tmp_path / "sorted.pcap")
        assert len(records) == 2 and report.rejected == 0 and report.out_of_order == 0


@pytest.mark.parametrize(
    ("form", "behind_us"), [("one file", 5_000), ("one file", 120_000_000), ("a file per probe", 5_000)]
)
def test_a_response_dated_before_its_request_by_another_clock_is_paired(
    tmp_path: Path, form: str, behind_us: int
) -> None:
    """The requests captured on one interface (or probe, on the client's side), the responses on
    another whose clock is 5 ms (or 2 min) behind: each response is dated before its request. Read in
    time order (two files are merged so; one file is now too), each was a reject, 'Accounting-Response
    without a request', and its request counted unanswered. A response waits for a request read
    after it; one whose request never comes is still that reject. Responses out of time order by
    more than the reader's wait do not make the records doubtful (they exited 1 saying so)."""
    orphan = response(request(77, acct(3, "sess-0", event=T0 - 60, st=60, octets=(1, 2))))
    timeline = [((T0 - 59) * 1_000_000, orphan, False), *exchange(session_messages())]
    timeline += exchange([request(9, acct(1, "sess-9", event=T0 + 530))], [T0 + 530])  # (another session)
    timeline.sort(key=lambda m: m[0])
    frames = [(ts - (0 if r else behind_us), ethernet(v4(m, r))) for ts, m, r in timeline]  # (as they came)
    if form == "one file":
        paths: Path | list[Path] = write_pcap(tmp_path / "c.pcap", 1, frames)
    else:
        ours = [f for f, (_ts, _m, r) in zip(frames, timeline, strict=True) if r]
        theirs = [f for f, (_ts, _m, r) in zip(frames, timeline, strict=True) if not r]
        paths = [write_pcap(tmp_path / "a.pcap", 1, ours), write_pcap(tmp_path / "b.pcap", 1, theirs)]
    records, report = read(paths)
    assert rows(records) == expected()
    assert [r.reason for r in report.rejects] == ["Accounting-Response without a request: identifier 77"]
    assert report.unanswered_requests == 0 and report.accounting_responses == 5
    assert report.out_of_order == 0 and report.open_sessions == ["sess-9"]


def test_ipv6_fragmented_radius_is_reassembled(tmp_path: Path) -> None:
    start, interim, stop = session_messages()
    frames: list[tuple[int, bytes]] = []
    for ts, m, r in exchange([start, interim, stop]):
        if m is interim:  # two fragments behind an IPv6 fragment header (RFC 8200 4.5)
            datagram = udp(32_768, 1813, m)
            cut = 64
            for k, (offset, part) in enumerate(((0, datagram[:cut]), (cut, datagram[cut:]))):
                more = 1 if offset == 0 else 0
                header = bytes((17, 0)) + (offset | more).to_bytes(2, "big") + (4242).to_bytes(4, "big")
                frames.append((ts + k, ethernet(ipv6(1, 10, header + part, next_header=44))))
        else:
            frames.append((ts, ethernet(v6(m, r))))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected() and report.reassembled == 1 and report.rejected == 0


@pytest.mark.parametrize("whole", [True, False])
def test_ipv6_fragmented_radius_behind_destination_options_is_reassembled(
    tmp_path: Path, whole: bool
) -> None:
    """A sender's Destination Options header in the fragmentable part (RFC 8200 4.5: before UDP, after
    the fragment header), as scapy's fragment6 cuts it: the datagram was counted as a fragment of other
    traffic and dropped, no record and no reject (tshark reads it). Put together, UDP is found past it;
    a fragment missing is a reject naming the first's packet."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, fragment6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    frames: list[tuple[int, bytes]] = []
    firsts: list[int] = []  # each request's first packet
    ether = Ether(src="00:1b:21:0a:0b:0c", dst="00:1b:21:0a:0b:0d")
    for ts, m, r in exchange(session_messages()):
        src, dst, sport, dport = ("::1", "::a", 32_768, 1_813) if r else ("::a", "::1", 1_813, 32_768)
        inner = IPv6ExtHdrDestOpt() / UDP(sport=sport, dport=dport) / Raw(m)
        if not r:  # (a response, too short to cut)
            frames.append((ts, bytes(ether / IPv6(src=src, dst=dst) / inner)))
            continue
        datagram = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=4_242 + len(frames)) / inner
        parts = [bytes(ether / part) for part in fragment6(datagram, 96)]
        assert len(parts) >= 2
        firsts.append(len(frames) + 1)
        frames += [(ts + k, frame) for k, frame in enumerate(parts if whole else parts[:-1])]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    if whole:
        assert rows(records) == expected() and report.reassembled == 3 and report.rejected == 0
    else:
        assert records == [] and report.reasons["incomplete fragmented RADIUS message"] == 3
        said = [r.packet for r in report.rejects if r.reason.startswith("incomplete fragmented")]
        assert said == firsts


def test_cli_says_which_sessions_were_joined_mid_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    interim = request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200)))
    stop = request(3, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1))
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange([interim, stop], [T0 + 600, T0 + 900])]
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    out = tmp_path / "usage.csv"
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        "1 sessions joined mid-way" in text
        and "sess-1 at packet 1: 100 octets up, 200 down over 600 s" in text
    )
    (row,) = list(csv.DictReader(out.read_text().splitlines()))
    assert row["sequence"] == "" and row["cause"] == "0" and row["bytes_up"] == "50"  # place unknown: empty


def test_a_stop_repeated_hours_later_is_a_reject_never_a_record(tmp_path: Path) -> None:
    start, interim, stop = session_messages()
    stop_again = request(10, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1, delay=7_200))
    timeline = [*exchange([start, interim, stop]), ((T0 + 8_100) * 1_000_000, stop_again, True)]
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in timeline]
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    assert rows(records) == expected()
    assert report.reasons == {"Stop of a session never seen before": 1} and report.retransmissions == 0


@pytest.mark.parametrize("case", ["cut", "rejected", "none", "other-port", "two-files"])
def test_a_capture_without_a_usable_request_says_so(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Accounting-Request could be used (all cut by the snapshot length, all rejected, none
    there): one warning line on stderr naming the capture and why, and the summary's `warning`;
    the output is still written (empty) and the exit status is 1, done with a failure the command
    reports, as for a wrong secret. It was an empty output and exit 0 without a word."""
    msgs = session_messages()
    frames = [(ts, ethernet(v4(m, r))) for ts, m, r in exchange(msgs)]
    path = tmp_path / "in.pcap"
    files = [path]
    if case == "cut":
        write_pcap(path, 1, frames, snaplen=40)
        why = "6 packets rejected, 6 as packet cut by the capture's snapshot length (packet 1: captured 40 of 170"
    elif case == "rejected":  # the capture began after the Interim-Update: a Stop alone
        write_pcap(path, 1, frames[4:])
        why = "1 packets rejected, 1 as Stop of a session never seen before (packet 1: 'sess-1': no Start"
    elif case == "none":
        write_pcap(path, 1, [(T0 * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(2123, 2123, bytes(30)))))])
        why = "none among its 1 packets (UDP ports 1646, 1813)"
    elif case == "other-port":
        write_pcap(path, 1, [(ts, ethernet(v4(m, r, port=11813))) for ts, m, r in exchange(msgs)])
        why = "none among its 6 packets (UDP ports 1646, 1813); 3 datagrams to UDP port 11813 look like some"
    else:
        write_pcap(path, 1, frames[:2], snaplen=40)
        files.append(write_pcap(tmp_path / "in2.pcap", 1, frames[2:], snaplen=40))
        why = f"6 as packet cut by the capture's snapshot length ({path} packet 1: captured 40 of 170"
    out = tmp_path / "usage.csv"
    argv = ["records-from-pcap", *map(str, files), "--secret", SECRET.decode(), "--out", str(out)]
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    names = ", ".join(map(str, files))
    line = captured.err.strip()
    assert "\n" not in line and line.startswith(
        f"m2msim records-from-pcap: warning: {names}: no usable Accounting-Request, no records: "
    )
    assert why in line, line
    summary = json.loads(captured.out)
    assert summary["warning"] == line.removeprefix("m2msim records-from-pcap: warning: ")
    assert out.read_text().count("\n") == 1  # the header: written, empty
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == line and f"  warning: {summary['warning']}\n" in captured.out
    # a capture with a usable request says nothing
    write_pcap(path, 1, frames[:2])
    assert main([*argv[:2], *argv[-4:]]) == 0 and capsys.readouterr().err == ""


@pytest.mark.parametrize("where", ["pcap-data", "pcap-record-header", "pcapng-block", "ring-buffer"])
def test_a_capture_cut_within_its_last_packet_is_read_up_to_the_cut(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live file of a ring buffer, or a capture on a disk that filled up, ends within a packet:
    its packets up to the cut are read (as tshark does), a warning names the file and where it was
    cut, and the summary lists it in `cut_short`. The whole run exited 2 with nothing written."""
    a, b = _split_capture(tmp_path)
    frames = sorted(a + b)  # sess-a's Interim at packet 3, its Stop at 5, sess-b's Stop at 11
    path = tmp_path / "in.pcap"
    inputs = [path]
    if where == "pcap-data":
        data = write_pcap(path, 1, frames[:10]).read_bytes()
        path.write_bytes(data[:-30])  # packet 10 cut
        packets, offset = 9, len(data) - 16 - len(frames[9][1])
    elif where == "pcap-record-header":
        data = write_pcap(path, 1, frames[:10]).read_bytes()
        offset = len(data) - 16 - len(frames[9][1])
        path.write_bytes(data[: offset + 9])  # packet 10's record header cut
        packets = 9
    elif where == "pcapng-block":
        path = tmp_path / "in.pcapng"
        inputs = [path]
        data = write_pcapng(path, [1], [(0, ts, f) for ts, f in frames[:10]]).read_bytes()
        path.write_bytes(data[:-40])
        packets, offset = 9, len(data) - 32 - (len(frames[9][1]) + 3) // 4 * 4
    else:  # the ring buffer's older file whole, the live one cut
        write_pcap(tmp_path / "ring_00001.pcap", 1, frames[:6])
        data = write_pcap(path, 1, frames[6:10]).read_bytes()
        path.write_bytes(data[:-30])
        inputs = [tmp_path / "ring_00001.pcap", path]
        packets, offset = 3, len(data) - 16 - len(frames[9][1])
    out = tmp_path / "usage.csv"
    argv = ["records-from-pcap", *map(str, inputs), "--secret", SECRET.decode(), "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    want, _ = read(write_pcap(tmp_path / "whole.pcap", 1, frames[:9]))
    assert summary["records"] == len(want) == 3 and len(out.read_text().splitlines()) == 4
    assert [(c["file"], c["packets"], c["offset"]) for c in summary["cut_short"]] == [
        (str(path), packets, offset)
    ]
    assert captured.err == (
        f"m2msim records-from-pcap: warning: {path}: cut short at byte offset {offset}, after packet "
        f"{packets}: read up to there, its records are complete only up to packet {packets} (a capture "
        "still being written, or a disk that filled up?)\n"
    )
    # in Python: the records up to the cut, the cut in the report
    records, report = read(inputs)
    assert rows(records) == rows(want) and report.cut_short == summary["cut_short"]


@pytest.mark.parametrize("where", ["after-a-block", "within-a-block", "pcap"])
def test_a_capture_ending_in_zeros_is_read_up_to_them(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pcapng whose end is zeros (a file preallocated, dumpcap stopped by a crash or a full disk,
    its last blocks never written, maybe one of them in part): its blocks before the zeros are read,
    a warning names the file, where the zeros begin and how many, and `cut_short` lists it as a
    capture cut short. It was refused whole, 'block at offset N ... is corrupt: length 0', exit 2.
    A classic pcap so ended was read as a packet of no octet per 16 zeros, each a 'truncated frame'."""
    import gateway.capture.pcapfile as pcapfile

    monkeypatch.setattr(pcapfile, "CHUNK", 64)  # (the zeros looked for over several reads)
    a, b = _split_capture(tmp_path)
    frames = sorted(a + b)
    if where == "pcap":
        data = write_pcap(tmp_path / "whole.pcap", 1, frames[:9]).read_bytes()
        kept = data
        cut_at = len(data)
    else:
        data = write_pcapng(tmp_path / "w.pcapng", [1], [(0, ts, f) for ts, f in frames[:10]]).read_bytes()
        cut_at = len(data) - 32 - (len(frames[9][1]) + 3) // 4 * 4  # where packet 10's block begins
        kept = data[: cut_at + (40 if where == "within-a-block" else 0)]
    zeros_at = max(cut_at, len(kept.rstrip(b"\0")))  # (a block's length at its end has zero octets)
    path = tmp_path / f"in.{'pcap' if where == 'pcap' else 'pcapng'}"
    path.write_bytes(kept + bytes(5000))
    zeros = path.stat().st_size - zeros_at
    out = tmp_path / "usage.csv"
    argv = ["records-from-pcap", str(path), "--secret", SECRET.decode(), "--out", str(out), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    want, _ = read(write_pcap(tmp_path / "nine.pcap", 1, frames[:9]))
    assert summary["records"] == len(want) == 3 and len(out.read_text().splitlines()) == 4
    (cut,) = summary["cut_short"]
    assert (cut["packets"], cut["offset"], cut["zero_fill"]) == (
        9,
        cut_at,
        {"offset": zeros_at, "bytes": zeros},
    )
    assert captured.err == (
        f"m2msim records-from-pcap: warning: {path}: zero-filled from byte offset {zeros_at} to its end "
        f"({zeros} bytes of zeros), after packet 9: read up to there, its records are complete only up to "
        "packet 9 (a file preallocated, or a capture stopped by a crash or a full disk?)\n"
    )
    records, report = read(path)
    assert rows(records) == rows(want) and report.cut_short == summary["cut_short"]
    if where != "pcap":  # zeros within, with blocks after them: damaged, refused as before
        path.write_bytes(kept + bytes(64) + data[cut_at:])
        assert main(argv) == 2
        assert "is corrupt: length 0" in capsys.readouterr().err


def test_a_pcap_whose_zeros_begin_within_a_record_header_is_read_up_to_that_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A classic pcap whose zeros begin within a record's header (its time written, its lengths
    not): that record is where the capture stops.  It was read as a packet of no octet, a
    'truncated frame' reject, the capture said complete up to it and its zeros said to begin 16
    bytes after it."""
    a, b = _split_capture(tmp_path)
    frames = sorted(a + b)
    nine = write_pcap(tmp_path / "nine.pcap", 1, frames[:9])
    at = nine.stat().st_size  # where packet 10's record begins
    written = write_pcap(tmp_path / "ten.pcap", 1, frames[:10]).read_bytes()[: at + 8]
    path = tmp_path / "in.pcap"
    path.write_bytes(written + bytes(5000))
    argv = ["records-from-pcap", str(path), "--secret", SECRET.decode(), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    want, _ = read(nine)
    zeros_at = len(written.rstrip(b"\0"))
    assert summary["rejected"] == 0 and summary["packets"] == 9 and summary["records"] == len(want)
    (cut,) = summary["cut_short"]
    assert (cut["packets"], cut["offset"]) == (9, at)
    assert cut["zero_fill"] == {"offset": zeros_at, "bytes": path.stat().st_size - zeros_at}


# Reads a capture through `m2msim records-from-pcap`, changing the file (argv 2: "empty", "cut" to
# its first half, "grow", "replace" by a copy) as its second packet is read; argv 3: the bytes the
# reader reads at a time.
_CHANGED_WHILE_READ = """
import os, sys
from pathlib import Path
import gateway.capture.pcapfile as pcapfile
import gateway.capture.reader as reader
from m2msim.cli import main

path, change, out = Path(sys.argv[1]), sys.argv[2], sys.argv[4]
pcapfile.CHUNK = int(sys.argv[3])
read_frames = reader.read_frames

def changing(p):
    for n, frame in enumerate(read_frames(p), 1):
        if n == 2:
            if change == "grow":  # (a live capture: read up to its size when opened)
                with open(p, "ab") as f:
                    f.write(bytes(5000))
            elif change == "replace":  # (another capture renamed over it)
                other = p.with_name("other.pcap")
                other.write_bytes(p.read_bytes())
                os.replace(other, p)
            else:  # (tcpdump -W reusing the file's name, a user emptying it)
                os.truncate(p, 0 if change == "empty" else p.stat().st_size // 2)
        yield frame

reader.read_frames = changing
sys.exit(main(["records-from-pcap", str(path), "--secret", "%s", "--out", out, "--json"]))
"""


@pytest.mark.parametrize(
    ("kind", "change", "chunk"),
    [
        ("pcap", "empty", 4096),
        ("pcap", "cut", 1 << 20),
        ("pcapng", "empty", 1 << 20),
        ("pcapng", "cut", 4096),
        ("pcap", "grow", 4096),
        ("pcap", "replace", 4096),
    ],
)
def test_a_capture_emptied_or_cut_while_it_is_read_is_refused_by_name(
    tmp_path: Path, kind: str, change: str, chunk: int
) -> None:
    """A capture emptied or cut while it is read (tcpdump -W or -C reusing its name, a user
    emptying it): one line naming it, exit 2, nothing written. Read over a memory map, the process
    died of SIGBUS (exit -7) without a word. A capture replaced under its name is refused alike; one
    growing meanwhile is read up to its size when it was opened."""
    frames = sorted(
        (ts + k * 1_000_000, ethernet(v4(m, r)))
        for k in range(40)
        for ts, m, r in exchange(session_messages(f"sess-{k}"))
    )
    path = tmp_path / f"live.{kind}"
    if kind == "pcap":
        write_pcap(path, 1, frames)
    else:
        write_pcapng(path, [1], [(0, ts, f) for ts, f in frames])
    assert path.stat().st_size > 8 * 4096
    want, _ = read(path)
    out = tmp_path / "usage.csv"
    script = _CHANGED_WHILE_READ % SECRET.decode()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), change, str(chunk), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if change == "grow":
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["records"] == len(want) == 80
        return
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith(f"m2msim records-from-pcap: {path}: changed while it was read (")
    assert done.stderr.endswith("(nothing written)\n") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and not out.exists()


# `m2msim ARGV...` with a soft limit of 64 open files.
_UNDER_64_OPEN_FILES = """
import resource, sys
from m2msim.cli import main
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_a_folder_of_more_captures_than_open_files_allowed_is_read(tmp_path: Path, compressed: bool) -> None:
    """A ring buffer of hourly captures (tcpdump -G 3600: 1,440 files in two months) read as one
    folder: every capture merged was held open (a memory map keeps its file), and past the limit of
    open files (1,024 by default) the run stopped, "Too many open files". Compressed as it rotates
    (tcpdump -z gzip), each is read from its decompressed temporary file, held open: the run stopped
    likewise, calling the next one's gzip data "damaged (Too many open files)"; the soft limit is now
    raised up to the hard one. Read here with a soft limit of 64 and 80 captures."""
    frames = sorted(
        (ts + k * 1_000_000, ethernet(v4(m, r)))
        for k in range(80)
        for ts, m, r in exchange(session_messages(f"sess-{k}"))
    )
    ring = tmp_path / "ring"
    ring.mkdir()
    for k in range(80):
        path = write_pcap(ring / f"cap_{k:05d}.pcap", 1, frames[k * 6 : (k + 1) * 6])
        if compressed:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    argv = ["records-from-pcap", str(ring), "--secret", SECRET.decode(), "--json"]
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_64_OPEN_FILES, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["records"] == 160 and summary["sessions"] == 80 and len(summary["files"]) == 80


def test_a_capture_given_twice_is_read_once_and_the_repeat_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same capture given again (inside a folder given and by its name, by a symbolic or a hard
    link, or the same name twice) was read again: the records right (its requests taken as
    retransmissions) but every packet and request counted twice in the summary. Each file (device and
    inode, links resolved) is read once, the first name given; each repeat is listed as skipped,
    naming the name read."""
    a, b = _split_capture(tmp_path)
    folder = tmp_path / "caps"
    folder.mkdir()
    write_pcap(folder / "a.pcap", 1, a)
    write_pcap(folder / "b.pcap", 1, b)
    (tmp_path / "b-link.pcap").symlink_to(folder / "b.pcap")
    (tmp_path / "a-hard.pcap").hardlink_to(folder / "a.pcap")
    argv = [
        "records-from-pcap",
        str(folder),
        str(folder / "a.pcap"),
        str(tmp_path / "b-link.pcap"),
        str(tmp_path / "a-hard.pcap"),
        str(folder / "a.pcap"),
        "--secret",
        SECRET.decode(),
    ]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 4 and summary["packets"] == 12 and summary["accounting_requests"] == 6
    assert summary["retransmissions"] == 0
    assert summary["files"] == [str(folder / "a.pcap"), str(folder / "b.pcap")]
    assert summary["skipped_files"] == [
        str(folder / "a.pcap"),
        str(tmp_path / "b-link.pcap"),
        str(tmp_path / "a-hard.pcap"),
    ]
    reasons = summary["skipped_reasons"]
    assert f"the same file as {folder / 'b.pcap'}" in reasons[str(tmp_path / "b-link.pcap")]
    assert f"the same file as {folder / 'a.pcap'}" in reasons[str(tmp_path / "a-hard.pcap")]
    assert "given twice" in reasons[str(folder / "a.pcap")]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.startswith("2 captures: 12 packets, 6 accounting requests, 2 sessions -> 4 records")
    assert f"skipped {tmp_path / 'a-hard.pcap'}: the same file as {folder / 'a.pcap'}" in said
    # the library reads each file once too
    got, report = read([folder / "a.pcap", tmp_path / "a-hard.pcap", folder / "b.pcap"])
    assert (
        len(got) == 4
        and report.packets == 12
        and report.files == [str(folder / "a.pcap"), str(folder / "b.pcap")]
    )


def _tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    """The fields tshark reads in each packet of `path`."""
    args = [arg for field in fields for arg in ("-e", field)]
    done = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", *args], capture_output=True, text=True, check=True
    )
    return [line.split("\t") for line in done.stdout.splitlines()]


def _carried_session(
    tmp_path: Path, frames: list[tuple[int, bytes]], cut: int, tshark_says: tuple[str, str]
) -> None:
    """`frames` (`_customer_frames`' traffic, carried some way) give the session's records and count
    the G-PDU; cut to `cut` octets, each is a reject saying so; tshark reads the field `tshark_says`
    (name, value) of the way in every packet, and the RADIUS in them."""
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    records, report = read(path)
    assert rows(records) == expected() and report.gtp_u == 1
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.accounting_responses == 3
    records, report = read(write_pcap(tmp_path / "cut.pcap", 1, frames, snaplen=cut))
    assert records == [] and report.reasons == {"packet cut by the capture's snapshot length": 7}
    if shutil.which("tshark") is not None:  # (what was built is what tshark reads so)
        said = _tshark_fields(path, tshark_says[0], "radius.code")
        assert said == [[tshark_says[1], code] for code in ("4", "5", "", "4", "5", "4", "5")]


def _customer_frames(wrap: Callable[[object], object]) -> list[tuple[int, bytes]]:
    """The session's exchange, and a G-PDU (GTP-U, UDP 2152), as customer Ethernet frames (VLAN 30)
    given to `wrap` (scapy layers around them)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw

    frames = []
    gpdu = (
        (T0 + 300) * 1_000_000,
        "192.0.2.2",
        "192.0.2.1",
        2_152,
        2_152,
        bytes.fromhex("30ff000400000001") + bytes(4),
    )
    for ts, src, dst, sport, dport, payload in [
        *(
            (ts, *((GGSN, AAA, 32_768, 1_813) if r else (AAA, GGSN, 1_813, 32_768)), m)
            for ts, m, r in exchange(session_messages())
        ),
        gpdu,
    ]:
        inner = Ether(dst="00:1b:21:0a:0b:0c", src="4c:96:14:aa:bb:cc") / Dot1Q(vlan=30)
        inner = inner / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(payload)
        frames.append((ts, bytes(wrap(inner))))  # type: ignore[call-overload]
    return sorted(frames)


@pytest.mark.parametrize("b_tag", [False, True])
def test_radius_in_mac_in_mac_gives_the_session_records(tmp_path: Path, b_tag: bool) -> None:
    """A probe on a provider backbone bridge's link (IEEE 802.1ah, MAC-in-MAC: Ethernet type 0x88E7,
    the I-tag, then the customer's Ethernet frame, with a backbone VLAN tag before or not) sees the
    accounting inside, as tshark dissects it: such captures gave no record ('no usable
    Accounting-Request') and no GTP counted."""
    from scapy.layers.l2 import Dot1AD, Dot1AH, Ether

    def backbone(inner: object) -> object:
        outer = Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02")
        tag = Dot1AD(vlan=100) if b_tag else None
        return (outer / tag if tag is not None else outer) / Dot1AH(isid=0x10203) / inner  # type: ignore[operator]

    frames = _customer_frames(backbone)
    _carried_session(tmp_path, frames, 40, ("ieee8021ah.isid", "66051"))


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("ip", [4, 6])
def test_radius_in_pppoe_sessions_gives_the_session_records(
    tmp_path: Path, ip: int, compressed: bool
) -> None:
    """A probe on a broadband access link sees the traffic in PPPoE session frames (Ethernet type
    0x8864, RFC 2516: its 6-octet header, then PPP's protocol, 0x0021 IPv4 or 0x0057 IPv6, or one
    octet when the link compressed it, RFC 1661 6.5; VLAN-tagged or not), as tshark dissects it:
    such captures gave no record ('no usable Accounting-Request') and no GTP counted."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.layers.ppp import PPP, PPPoE
    from scapy.packet import Raw

    frames = []
    gpdu = bytes.fromhex("30ff000400000001") + bytes(4)
    traffic = [
        (ts, *((1, 10, 32_768, 1_813) if r else (10, 1, 1_813, 32_768)), m)
        for ts, m, r in exchange(session_messages())
    ]
    for k, (ts, src, dst, sport, dport, payload) in enumerate(
        [*traffic, ((T0 + 300) * 1_000_000, 2, 1, 2_152, 2_152, gpdu)]
    ):
        if ip == 4:
            packet = IP(src=f"192.0.2.{src}", dst=f"192.0.2.{dst}")
        else:
            packet = IPv6(src=f"2001:db8::{src:x}", dst=f"2001:db8::{dst:x}")
        outer = Ether(src="00:1b:21:0a:0b:0c", dst="4c:96:14:aa:bb:cc")
        if k % 2:
            outer = outer / Dot1Q(vlan=835)
        outer = outer / PPPoE(sessionid=0x2A) / PPP() / packet / UDP(sport=sport, dport=dport) / Raw(payload)
        frame = bytes(outer)
        if compressed:  # (PPP's protocol in one octet: the PPPoE payload one octet shorter)
            at = frame.index(b"\x88\x64") + 2
            length = struct.unpack_from("!H", frame, at + 4)[0] - 1
            frame = frame[: at + 4] + struct.pack("!H", length) + frame[at + 7 :]
        frames.append((ts, frame))
    frames.sort()
    _carried_session(tmp_path, frames, 20, ("pppoe.session_id", "0x002a"))


def test_fragments_of_other_traffic_are_counted_whatever_they_carry(tmp_path: Path) -> None:
    """Fragments of other traffic are counted (`fragments`), never rejected: IPv4 ones of TCP, ICMP
    or GRE went without a count; an IPv6 first fragment the snapshot length cut whose fragmentable
    part begins with extension headers (destination options, then TCP or UDP) had its ports read in
    those headers: TCP and other UDP went without a count, and RADIUS without a reject."""
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, fragment6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    ether = Ether(src="00:1b:21:0a:0b:0c", dst="00:1b:21:0a:0b:0d")
    payload = Raw(bytes(400))
    whole = [
        *fragment(IP(src="198.51.100.1", dst="198.51.100.2") / TCP(dport=443) / payload, 160),
        *fragment(IP(src="198.51.100.1", dst="198.51.100.2") / ICMP() / payload, 160),
        *fragment(
            IP(src=GGSN, dst="198.51.100.2") / GRE() / IP(src=GGSN, dst=AAA) / UDP(dport=1813) / payload, 160
        ),
    ]
    assert len(whole) == 9
    firsts = [  # (the first fragment of each, which the capture cuts after the UDP ports)
        fragment6(
            IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=k) / IPv6ExtHdrDestOpt() / layer / payload, 200
        )[0]
        for k, layer in enumerate([TCP(dport=443), UDP(sport=53, dport=53), UDP(sport=32_768, dport=1813)])
    ]
    # behind extension headers of the uniform format (RFC 6564) other than the four common ones:
    # HIP, Shim6, experimental (went without a count)
    behind = [
        IPv6(src="::1", dst="::2", nh=kind)
        / Raw(bytes((44, 0)) + bytes(6))
        / IPv6ExtHdrFragment(nh=6, m=1, id=9)
        for kind in (139, 140, 253)
    ]
    frames = [
        (T0 * 1_000_000 + k, bytes(ether / packet)) for k, packet in enumerate([*whole, *firsts, *behind])
    ]
    _records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames, snaplen=14 + 40 + 8 + 8 + 12))
    assert report.fragments == 14
    assert report.reasons == {"packet cut by the capture's snapshot length": 1}
    assert [r.packet for r in report.rejects] == [12]


@pytest.mark.parametrize("way", ["vxlan", "geneve"])
def test_a_mirrors_tunnel_fragmented_and_cut_is_a_reject(tmp_path: Path, way: str) -> None:
    """Mirrored accounting in VXLAN or Geneve whose outer datagram was fragmented on its way to the
    probe, the probe keeping 80 octets of each frame: the first fragment's ports name the tunnel,
    which may carry accounting, so the datagram that cannot be put together is a reject, as one cut
    whole is. It was counted as other traffic's fragment, the accounting lost without a word."""
    frames = []
    for ts, m, r in exchange(session_messages()):
        outer = MIRRORED[way](ethernet(v4(m, r)))[14:]  # (the mirror's IPv4 datagram)
        for i, part in enumerate(fragments4(SPAN_SOURCE, SPAN_PROBE, outer[20:], ts % 65_536, 64)):
            frames.append((ts + i, ethernet(part)))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames, snaplen=80))
    cut = [frame for _, frame in frames if len(frame) > 80]  # (each datagram's last fragment is whole)
    assert records == [] and report.reasons == {"packet cut by the capture's snapshot length": len(cut)}
