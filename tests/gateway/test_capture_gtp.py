"""The capture reader on a GGSN's Gn traffic (GTPv1-C and GTP-U, TS 29.060) captured with its RADIUS
accounting: GTP is counted, never billed nor taken for accounting, whatever its messages say, and a
GTP packet the snapshot length cut is counted as what its captured headers show, not rejected as
possible accounting."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_sessions import T0, exchange, expected, read, rows, session_messages, v4
from handmade_pcap import ethernet, fragments4, sll, sll2, udp, write_pcap, write_pcapng
from scapy.contrib.gtp import (
    IE_NSAPI,
    IE_TEICP,
    IE_TEIDI,
    GTP_PDCP_PDU_ExtensionHeader,
    GTP_U_Header,
    GTPCreatePDPContextRequest,
    GTPCreatePDPContextResponse,
    GTPDeletePDPContextRequest,
    GTPDeletePDPContextResponse,
    GTPEchoRequest,
    GTPEchoResponse,
    GTPHeader,
    GTPUpdatePDPContextRequest,
    GTPUpdatePDPContextResponse,
    IE_Cause,
    IE_QoS,
    IE_Teardown,
)
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw, raw

from accounting.records import UsageRecord
from gateway.capture import ReadReport

SGSN, NEW_SGSN, GGSN_GN = "10.0.0.1", "10.0.0.2", "10.0.0.9"
_Frame = tuple[int, bytes, str]  # (microseconds, IPv4 packet, "gtp-c" / "gtp-u" / "radius" / "fragment")


def _c(src: str, dst: str, message: Packet, *, sport: int = 2123, dport: int = 2123) -> bytes:
    return raw(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / message)


def _u(src: str, dst: str, message: Packet) -> bytes:
    return raw(IP(src=src, dst=dst) / UDP(sport=2152, dport=2152) / message)


def _gtpc(seq: int, teid: int = 0, **kw: object) -> Packet:
    return GTPHeader(S=1, seq=seq, teid=teid, **kw)


def gn_traffic() -> list[tuple[bytes, str]]:
    """A GGSN's Gn packets over a session's life, as SGSNs and GGSNs send them (TS 29.060)."""
    create = GTPCreatePDPContextRequest(
        IE_list=[IE_TEIDI(TEIDI=0x1111), IE_TEICP(TEICI=0x2222), IE_NSAPI(NSAPI=5)]
    )
    accepted = GTPCreatePDPContextResponse(
        IE_list=[IE_Cause(CauseValue=128), IE_TEIDI(TEIDI=0x3333), IE_TEICP(TEICI=0x4444)]
    )
    inner4 = raw(IP(src="100.64.0.1", dst="198.51.100.10") / UDP(sport=5684, dport=5684) / Raw(bytes(100)))
    inner6 = raw(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5684, dport=5684) / Raw(bytes(50)))
    # a device's own RADIUS accounting to its company's server, carried in its tunnel: user traffic
    tunnelled = raw(
        IP(src="100.64.0.1", dst="203.0.113.5", proto=17) / Raw(udp(40000, 1813, session_messages()[1]))
    )
    return [
        # a Create re-sent (same sequence number) and its response re-sent; the sequence wraps
        (_c(SGSN, GGSN_GN, _gtpc(65535) / create), "gtp-c"),
        (_c(SGSN, GGSN_GN, _gtpc(65535) / create), "gtp-c"),
        (_c(GGSN_GN, SGSN, _gtpc(65535, 0x2222) / accepted), "gtp-c"),
        (_c(GGSN_GN, SGSN, _gtpc(65535, 0x2222) / accepted), "gtp-c"),
        # a Create refused (no resources, 199), then tried again; a Create whose response was lost
        (_c(SGSN, GGSN_GN, _gtpc(0) / create), "gtp-c"),
        (
            _c(
                GGSN_GN,
                SGSN,
                _gtpc(0, 0x2222) / GTPCreatePDPContextResponse(IE_list=[IE_Cause(CauseValue=199)]),
            ),
            "gtp-c",
        ),
        (_c(SGSN, GGSN_GN, _gtpc(1) / create), "gtp-c"),
        # a secondary context (NSAPI 6 linked to 5), Echo, Version Not Supported
        (
            _c(SGSN, GGSN_GN, _gtpc(2, 0x4444) / GTPCreatePDPContextRequest(IE_list=[IE_NSAPI(NSAPI=6)])),
            "gtp-c",
        ),
        (_c(SGSN, GGSN_GN, _gtpc(3) / GTPEchoRequest()), "gtp-c"),
        (_c(GGSN_GN, SGSN, _gtpc(3) / GTPEchoResponse()), "gtp-c"),
        (_c(GGSN_GN, SGSN, _gtpc(4, gtp_type=3)), "gtp-c"),
        # GTP-U: plain, S/PN flags with zero values, a PDCP PDU number extension header, IPv6 inside,
        # RADIUS inside, an Error Indication (the context gone on one side)
        (_u(SGSN, GGSN_GN, GTP_U_Header(teid=0x3333) / Raw(inner4)), "gtp-u"),
        (_u(SGSN, GGSN_GN, GTP_U_Header(teid=0x3333, S=1, PN=1, seq=0, npdu=0) / Raw(inner4)), "gtp-u"),
        (
            _u(
                SGSN,
                GGSN_GN,
                GTP_U_Header(teid=0x3333, E=1, next_ex=0xC0)
                / GTP_PDCP_PDU_ExtensionHeader(pdcp_pdu=7, next_ex=0)
                / Raw(inner4),
            ),
            "gtp-u",
        ),
        (_u(GGSN_GN, SGSN, GTP_U_Header(teid=0x1111) / Raw(inner6)), "gtp-u"),
        (_u(SGSN, GGSN_GN, GTP_U_Header(teid=0x3333) / Raw(tunnelled)), "gtp-u"),
        (_u(GGSN_GN, SGSN, GTP_U_Header(gtp_type=26, teid=0)), "gtp-u"),
        # an inter-SGSN routing area update (new SGSN, its own port), a GGSN's QoS change
        (_c(NEW_SGSN, GGSN_GN, _gtpc(9, 0x4444) / GTPUpdatePDPContextRequest(), sport=41000), "gtp-c"),
        (_c(GGSN_GN, NEW_SGSN, _gtpc(9, 0x2222) / GTPUpdatePDPContextResponse(), dport=41000), "gtp-c"),
        (_c(GGSN_GN, NEW_SGSN, _gtpc(5, 0x2222) / GTPUpdatePDPContextRequest(IE_list=[IE_QoS()])), "gtp-c"),
        (_c(NEW_SGSN, GGSN_GN, _gtpc(5, 0x4444) / GTPUpdatePDPContextResponse()), "gtp-c"),
        # Delete with Teardown, answered 'Non-existent'; one by the GGSN never answered; the TEID
        # used again by a new context
        (
            _c(
                NEW_SGSN,
                GGSN_GN,
                _gtpc(10, 0x4444) / GTPDeletePDPContextRequest(IE_list=[IE_Teardown(), IE_NSAPI(NSAPI=5)]),
                sport=41000,
            ),
            "gtp-c",
        ),
        (
            _c(
                GGSN_GN,
                NEW_SGSN,
                _gtpc(10, 0x2222) / GTPDeletePDPContextResponse(IE_list=[IE_Cause(CauseValue=192)]),
                dport=41000,
            ),
            "gtp-c",
        ),
        (
            _c(GGSN_GN, NEW_SGSN, _gtpc(6, 0x2222) / GTPDeletePDPContextRequest(IE_list=[IE_NSAPI(NSAPI=6)])),
            "gtp-c",
        ),
        (_c(SGSN, GGSN_GN, _gtpc(11) / create), "gtp-c"),
        (_u(SGSN, GGSN_GN, GTP_U_Header(teid=0x3333) / Raw(inner4)), "gtp-u"),
    ]


def with_accounting(gn: list[tuple[bytes, str]]) -> list[_Frame]:
    """The session's RADIUS exchange (`session_messages`) with `gn` spread over its life."""
    radius = [(ts, v4(m, r), "radius") for ts, m, r in exchange(session_messages())]
    step = 900_000_000 // len(gn)
    gtp = [(T0 * 1_000_000 + 1_000_000 + i * step, ip, kind) for i, (ip, kind) in enumerate(gn)]
    return sorted(radius + gtp)


def read_frames(
    path: Path, linktype: int, link: Callable[[bytes], bytes], frames: list[_Frame], **kw: int
) -> tuple[list[UsageRecord], ReadReport]:
    return read(write_pcap(path, linktype, [(ts, link(ip)) for ts, ip, _ in frames], **kw))


LINKS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet": (1, ethernet),
    "vlan": (1, lambda ip: ethernet(ip, vlans=[100])),
    "qinq": (1, lambda ip: ethernet(ip, vlans=[10, 200])),
    "linux-cooked-v1": (113, sll),
    "linux-cooked-v2": (276, sll2),
}


@pytest.mark.parametrize("link", LINKS)
def test_gn_traffic_is_counted_and_bills_nothing(tmp_path: Path, link: str) -> None:
    """Whatever the GTP says (a Create re-sent, refused, unanswered; Updates from a new SGSN and from
    the GGSN; Deletes with Teardown, 'Non-existent', unanswered; TEIDs and sequence numbers used
    again; G-PDUs with extension headers, IPv6 or RADIUS inside; Error Indication), the records are
    the RADIUS accounting's, each GTP datagram counted once, none a reject."""
    frames = with_accounting(gn_traffic())
    records, report = read_frames(tmp_path / "gn.pcap", *LINKS[link], frames)
    kinds = [kind for _, _, kind in frames]
    assert rows(records) == expected()
    assert (report.gtp_c, report.gtp_u) == (kinds.count("gtp-c"), kinds.count("gtp-u"))
    assert report.rejected == 0 and report.accounting_requests == 3 and report.other_ports == {}


def test_gn_traffic_on_interfaces_of_several_link_types(tmp_path: Path) -> None:
    """A pcapng of a Gn interface (Linux cooked v2) and a Gi one (Ethernet, VLAN): the same."""
    frames = with_accounting(gn_traffic())
    blocks = [
        (0, ts, sll2(ip)) if kind != "radius" else (1, ts, ethernet(ip, vlans=[30]))
        for ts, ip, kind in frames
    ]
    records, report = read(write_pcapng(tmp_path / "gn.pcapng", [276, 1], blocks))
    kinds = [kind for _, _, kind in frames]
    assert rows(records) == expected() and report.rejected == 0
    assert (report.gtp_c, report.gtp_u) == (kinds.count("gtp-c"), kinds.count("gtp-u"))


def _gn_and_gi(
    tmp_path: Path, gn: list[tuple[bytes, str]], snaplen: int
) -> tuple[list[UsageRecord], ReadReport]:
    """The Gn packets captured by a probe keeping `snaplen` octets of each (Ethernet), the Gi's
    accounting by another keeping them whole, read together."""
    frames = with_accounting(gn)
    gn_path = write_pcap(
        tmp_path / "gn.pcap",
        1,
        [(ts, ethernet(ip)) for ts, ip, kind in frames if kind != "radius"],
        snaplen=snaplen,
    )
    gi_path = write_pcap(
        tmp_path / "gi.pcap", 1, [(ts, ethernet(ip)) for ts, ip, kind in frames if kind == "radius"]
    )
    return read([gn_path, gi_path])


def test_gtp_cut_within_its_udp_header_is_counted(tmp_path: Path) -> None:
    """A Gn probe keeping 40 octets of each frame (Ethernet, IPv4, the UDP ports and length): each
    datagram's ports say GTP-C or GTP-U, not accounting. They were neither counted nor rejected:
    'gtp_c 0, gtp_u 0' for a capture of 26 GTP packets."""
    gn = gn_traffic()
    records, report = _gn_and_gi(tmp_path, gn, 14 + 20 + 6)
    kinds = [kind for _, kind in gn]
    assert rows(records) == expected() and report.rejected == 0
    assert (report.gtp_c, report.gtp_u) == (kinds.count("gtp-c"), kinds.count("gtp-u"))


def _fragmented_gpdus(count: int) -> list[tuple[bytes, str]]:
    """G-PDUs of full-size user packets (1,500 octets) that the Gn's MTU of 1,500 cuts in two."""
    out: list[tuple[bytes, str]] = []
    for i in range(count):
        inner = raw(
            IP(src="100.64.0.1", dst="198.51.100.10") / UDP(sport=5684, dport=5684) / Raw(bytes(1472))
        )
        outer = (
            IP(src=SGSN, dst=GGSN_GN, id=1000 + i)
            / UDP(sport=2152, dport=2152)
            / GTP_U_Header(teid=0x3333)
            / Raw(inner)
        )
        out += [(raw(part), "fragment") for part in fragment(outer, 1480)]
    return out


@pytest.mark.parametrize("snaplen", [262_144, 128, 96, 40])
def test_fragmented_gtp_u_cut_by_the_snapshot_length_is_counted_not_rejected(
    tmp_path: Path, snaplen: int
) -> None:
    """A header-only Gn capture (`tcpdump -s 96`) of G-PDUs the path's MTU fragments: the first
    fragment's ports say GTP-U, so the next fragments of its datagram (same addresses, protocol and
    identification), cut too, are its: fragments counted, each datagram one GTP-U. Each later
    fragment was a reject, 'packet cut by the capture's snapshot length' (it may be accounting),
    and no fragmented G-PDU counted in gtp_u."""
    gn = [*gn_traffic(), *_fragmented_gpdus(20)]
    records, report = _gn_and_gi(tmp_path, gn, snaplen)
    kinds = [kind for _, kind in gn]
    assert rows(records) == expected() and report.rejected == 0
    assert report.fragments == kinds.count("fragment") == 40
    assert (report.gtp_c, report.gtp_u) == (kinds.count("gtp-c"), kinds.count("gtp-u") + 20)


def test_a_radius_datagram_pushed_out_of_reassembly_by_gtp_fragments_is_a_reject(tmp_path: Path) -> None:
    """A probe on one link of a load-shared Gn sees G-PDUs' later fragments alone (their first,
    hashed on its UDP ports, takes the other link): each waits 30 s for a first fragment that never
    comes. Past 4,096 such datagrams the oldest in reassembly is dropped; an Accounting-Request whose
    last fragment was lost, dropped so, is a reject ('incomplete fragmented RADIUS message') as one
    given up for its time is. It went without a word, as did one given up after 4,096 others."""
    first, _last = fragments4("192.0.2.1", "192.0.2.10", udp(32_768, 1813, session_messages()[1]), 7, 64)[:2]
    lone = [
        raw(IP(src=SGSN, dst=GGSN_GN, id=i & 0xFFFF, proto=17, frag=185, flags=0) / Raw(bytes(60)))
        for i in range(2 * 4_200)
    ]
    # (the first 4,200 given up when pushed out, before the request's first fragment comes)
    packets = [*lone[:4_200], first, *lone[4_200:]]
    t0 = T0 * 1_000_000
    records, report = read(
        write_pcap(tmp_path / "gn.pcap", 1, [(t0 + i, ethernet(p)) for i, p in enumerate(packets)])
    )
    assert records == [] and report.fragments == len(packets)
    assert report.reasons == {"incomplete fragmented RADIUS message": 1}
    assert [r.packet for r in report.rejects] == [4_201]


def test_gtp_c_on_a_port_of_accounting_is_counted_as_gtp(tmp_path: Path) -> None:
    """An SGSN whose stack takes source ports from 1024-5000 (old BSD and Windows ephemeral ranges)
    may send GTP-C from 1646 or 1813, the accounting ports: its requests to 2123 and the GGSN's
    responses back are GTP-C, counted so, and no accounting. They were counted nowhere."""
    create = GTPCreatePDPContextRequest(IE_list=[IE_TEIDI(TEIDI=0x1111), IE_NSAPI(NSAPI=5)])
    accepted = GTPCreatePDPContextResponse(IE_list=[IE_Cause(CauseValue=128)])
    gn = [(_c(SGSN, GGSN_GN, _gtpc(1) / create, sport=port), "gtp-c") for port in (1646, 1813)] + [
        (_c(GGSN_GN, SGSN, _gtpc(1, 0x2222) / accepted, dport=port), "gtp-c") for port in (1646, 1813)
    ]
    records, report = read_frames(tmp_path / "gn.pcap", 1, ethernet, with_accounting(gn))
    assert rows(records) == expected() and report.rejected == 0
    assert (report.gtp_c, report.gtp_u, report.accounting_requests) == (4, 0, 3)


def test_gn_captures_whose_clock_goes_back_between_files(tmp_path: Path) -> None:
    """Two Gn captures, the second's clock an hour behind the first's, read with the Gi's: GTP's
    time order is nothing to the reader (no out_of_order, no warning), each datagram counted once."""
    gn = gn_traffic()
    frames = [f for f in with_accounting(gn) if f[2] != "radius"]
    half = len(frames) // 2
    first = write_pcap(tmp_path / "gn-1.pcap", 1, [(ts, ethernet(ip)) for ts, ip, _ in frames[:half]])
    second = write_pcap(
        tmp_path / "gn-2.pcap", 1, [(ts - 3_600_000_000, ethernet(ip)) for ts, ip, _ in frames[half:]]
    )
    radius = [(ts, ethernet(ip)) for ts, ip, kind in with_accounting(gn) if kind == "radius"]
    records, report = read([first, second, write_pcap(tmp_path / "gi.pcap", 1, radius)])
    kinds = [kind for _, kind in gn]
    assert rows(records) == expected() and report.rejected == 0 and report.out_of_order == 0
    assert (report.gtp_c, report.gtp_u) == (kinds.count("gtp-c"), kinds.count("gtp-u"))


def test_a_secondary_context_is_billed_by_its_own_accounting_session(tmp_path: Path) -> None:
    """A secondary context (NSAPI 6, linked to the primary's 5) whose GGSN opens it a RADIUS session
    of its own, both deleted by one Delete with the Teardown Indicator: each session's records, the
    teardown billing nothing more."""
    gn = gn_traffic()
    # (each request sent 100 s after the primary's, the same Event-Timestamp: the same start)
    secondary = [(ts + 100_000_000, m, r) for ts, m, r in exchange(session_messages("sess-2"))]
    frames = sorted(
        [*with_accounting(gn), *((ts, v4(m, r), "radius") for ts, m, r in secondary)], key=lambda f: f[0]
    )
    records, report = read_frames(tmp_path / "gn.pcap", 1, ethernet, frames)
    assert sorted(rows(records)) == sorted([*expected(), *expected("sess-2")]) and report.rejected == 0
    assert report.sessions == 2 and report.open_sessions == []


# -- GTP' and GTPv0 (UDP 3386) ----------------------------------------------------------------------------

CGF = "10.0.0.20"  # a charging gateway


def _gtp_prime(seq: int, cdr: bytes) -> bytes:
    """A GTP' Data Record Transfer Request (TS 32.295: version 2, Protocol Type 0, the 6-octet header)
    from the GGSN to its charging gateway, carrying a CDR (IE 252, Data Record Packet) of `cdr`."""
    ie = bytes((252,)) + (len(cdr) + 2).to_bytes(2, "big") + bytes((1, 1)) + cdr
    body = bytes((0x4E, 240)) + len(ie).to_bytes(2, "big") + seq.to_bytes(2, "big") + ie
    return raw(IP(src=GGSN_GN, dst=CGF) / UDP(sport=3386, dport=3386) / Raw(body))


def _gtp_v0(seq: int, message: int, body: bytes) -> bytes:
    """A GTPv0 message (TS 09.60: version 0, Protocol Type 1, the 20-octet header, its TID)."""
    head = bytes((0x1E, message)) + len(body).to_bytes(2, "big") + seq.to_bytes(2, "big") + bytes(6)
    return raw(IP(src=SGSN, dst=GGSN_GN) / UDP(sport=3386, dport=3386) / Raw(head + bytes(8) + body))


def test_gtp_prime_and_gtp_v0_are_counted_and_said_not_billed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GGSN's charging data records over GTP' to its charging gateway (UDP 3386) and an old SGSN's GTPv0
    (UDP 3386 too), captured with the RADIUS accounting: they were neither read nor counted, and nothing
    said their CDRs were billed by no record. They are counted (`gtp_prime`, `gtp_v0`, told by the
    header's Protocol Type and version), and a warning says they are not billed; a capture of them alone
    says so in its 'no usable' warning."""
    from handmade_pcap import SECRET

    from m2msim.cli import main

    rng = random.Random(32295)
    gn = [(_gtp_prime(i, rng.randbytes(rng.randrange(40, 400))), "gtp'") for i in range(5)]
    gn += [(_gtp_v0(i, 16 if i % 2 else 255, rng.randbytes(60)), "gtpv0") for i in range(3)]
    frames = with_accounting(gn)
    path = write_pcap(tmp_path / "ga.pcap", 1, [(ts, ethernet(ip)) for ts, ip, _ in frames])
    records, report = read(path)
    assert rows(records) == expected() and report.rejected == 0
    assert (report.gtp_prime, report.gtp_v0, report.gtp_c, report.gtp_u) == (5, 3, 0, 0)
    said = (
        "5 GTP' datagrams (the charging data records a GGSN sends its charging gateway, TS 32.295) and 3 "
        "GTPv0 (TS 09.60) seen on UDP 3386: not read, no record is made of them, the usage they carry is "
        "not billed here"
    )
    assert report.gtp_prime_said() == said
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"m2msim records-from-pcap: warning: {said}\n"
    alone = write_pcap(
        tmp_path / "alone.pcap", 1, [(T0 * 1_000_000 + i, ethernet(ip)) for i, (ip, _) in enumerate(gn)]
    )
    _, report = read(alone)
    assert report.no_usable_requests is not None and report.no_usable_requests.endswith(f"; {said}")


# -- fragments: a first fragment lost, identifications used again -------------------------------------------


def _gpdu_fragments(count: int, rng: random.Random, first_id: int = 2000) -> list[list[bytes]]:
    """The fragments of `count` G-PDUs of user packets of random sizes the Gn's MTU cuts in 2 or 3."""
    out = []
    for i in range(count):
        inner = raw(
            IP(src="100.64.0.1", dst="198.51.100.10")
            / UDP()
            / Raw(rng.randbytes(rng.randrange(1_500, 2_900)))
        )
        outer = (
            IP(src=SGSN, dst=GGSN_GN, id=first_id + i)
            / UDP(sport=2152, dport=2152)
            / GTP_U_Header(teid=7)
            / Raw(inner)
        )
        out.append([raw(part) for part in fragment(outer, 1480)])
    return out


def test_g_pdus_whose_first_fragment_was_lost_are_counted(tmp_path: Path) -> None:
    """A probe on one link of a load-shared Gn saw some G-PDUs' later fragments alone (the first took the
    other link): each waited 30 s for its first fragment and was dropped with no trace but `fragments`.
    They are counted (`fragments_without_first`), whether given up for their time or left at the end.
    A G-PDU whose later fragment came before its first is no such datagram: its first fragment's ports
    say GTP-U, and the pieces held are dropped with it (they would have been counted at the end)."""
    rng = random.Random(4)
    gpdus = _gpdu_fragments(12, rng)
    # (each G-PDU's fragments within microseconds, 40 s after the one before: given up for their time)
    frames = [(ts, v4(m, r), "radius") for ts, m, r in exchange(session_messages())]
    for i, parts in enumerate(gpdus):
        seen = parts[1:] if i % 3 == 0 else [*parts[1:], parts[0]] if i % 3 == 1 else parts
        t = (T0 + 1 + 40 * i) * 1_000_000  # (the first lost; the first last; all in order)
        frames += [(t + k, part, "fragment") for k, part in enumerate(seen)]
    frames.sort()
    frames += [(frames[-1][0] + 1_000_000 + k, part, "fragment") for k, part in enumerate(gpdus[0][1:])]
    records, report = read_frames(tmp_path / "gn.pcap", 1, ethernet, frames)
    assert rows(records) == expected() and report.rejected == 0
    assert report.fragments == sum(kind == "fragment" for _, _, kind in frames)
    assert report.gtp_u == 8  # (those whose first fragment came)
    assert report.fragments_without_first == 4 + 1  # (and one at the end)


def test_a_capture_of_later_fragments_alone_counts_them_and_rejects_nothing(tmp_path: Path) -> None:
    """A capture holding later fragments only (a filter on `ip[6:2] & 0x1fff != 0`, or a probe that
    misses every first): nothing can be read, nothing is a reject, each datagram is counted once as one
    whose first fragment never came, and the 'no usable' warning still names the packets."""
    rng = random.Random(5)
    later = [part for parts in _gpdu_fragments(30, rng) for part in parts[1:]]
    rng.shuffle(later)
    t0 = T0 * 1_000_000
    path = write_pcap(
        tmp_path / "later.pcap", 1, [(t0 + i * 3_000_000, ethernet(p)) for i, p in enumerate(later)]
    )
    records, report = read(path)
    assert records == [] and report.rejected == 0
    assert (report.fragments, report.fragments_without_first, report.gtp_u) == (len(later), 30, 0)
    assert (
        report.no_usable_requests is not None
        and f"none among its {len(later)} packets" in report.no_usable_requests
    )


@pytest.mark.parametrize("lost", [False, True])
@pytest.mark.parametrize("between_s", [0, 5, 29])
def test_radius_fragmented_under_an_identification_used_again_within_30_s(
    tmp_path: Path, between_s: int, lost: bool
) -> None:
    """The GGSN's IP identification used again within 30 s for the same server (the 16-bit counter
    wrapping, or a stack drawing it at random): the Interim-Update and the Stop fragmented under one
    identification, and between them another datagram (syslog, UDP 514) under the same, the Stop's later
    fragment before its first. Each is its own datagram: the records are the session's, no reject; the
    other datagram's fragments counted, none of them taken into the Stop. With the other datagram's last
    fragment lost (`lost`), it never came whole: every later fragment under its identification within 30 s
    was taken as its own, the Stop's among them, the Stop a reject; one with other octets at an offset it
    had is another datagram's."""
    rng = random.Random(between_s)
    start, interim, stop = session_messages()
    ident = 4_242
    other = fragments4("192.0.2.1", "192.0.2.10", udp(40_000, 514, rng.randbytes(300)), ident, 128)
    other = other[:-1] if lost else other
    parts_i = fragments4("192.0.2.1", "192.0.2.10", udp(32_768, 1813, interim), ident, 128)
    parts_s = fragments4("192.0.2.1", "192.0.2.10", udp(32_768, 1813, stop), ident, 128)
    t = T0 * 1_000_000
    frames = [(ts, v4(m, r)) for ts, m, r in exchange([start, interim, stop])]
    reqs = [frames[0], frames[1]]
    at_i, at_s = t + 600_000_000, t + 600_000_000 + between_s * 1_000_000 + 10_000
    reqs += [(at_i + k, p) for k, p in enumerate(parts_i)] + [(at_i + 2_000, frames[3][1])]
    reqs += [(at_i + 5_000 + k, p) for k, p in enumerate(other)]
    reqs += [(at_s + k, p) for k, p in enumerate([*parts_s[1:], parts_s[0]])] + [(at_s + 5_000, frames[5][1])]
    records, report = read(
        write_pcap(tmp_path / "ids.pcap", 1, [(ts, ethernet(p)) for ts, p in sorted(reqs)])
    )
    assert report.rejected == 0
    assert rows(records) == expected()
    assert (report.reassembled, report.accounting_requests) == (2, 3)


@pytest.mark.parametrize(
    ("prime", "v0", "said"),
    [
        (0, 3, "3 GTPv0 datagrams (TS 09.60) seen on UDP 3386: "),
        (
            1,
            0,
            "1 GTP' datagram (the charging data records a GGSN sends its charging gateway, TS 32.295) seen ",
        ),
        (
            1,
            1,
            "1 GTP' datagram (the charging data records a GGSN sends its charging gateway, TS 32.295) and 1 ",
        ),
    ],
)
def test_the_gtp_prime_warning_names_the_kinds_seen(prime: int, v0: int, said: str) -> None:
    """The warning of UDP 3386 names what was seen there: of GTPv0 alone it began '0 GTP' datagrams (the
    charging data records a GGSN sends its charging gateway ...)', records that were not there."""
    from gateway.capture import ReadReport

    report = ReadReport()
    report.gtp_prime, report.gtp_v0 = prime, v0
    text = report.gtp_prime_said()
    assert text.startswith(said), text
    assert text.endswith(": not read, no record is made of them, the usage they carry is not billed here"), (
        text
    )
    assert ("GTP'" in text) == bool(prime) and ("GTPv0" in text) == bool(v0), text


def test_the_radius_over_tcp_warning_of_one_segment_is_in_the_singular() -> None:
    """One TCP segment of RADIUS over TCP: the warning said '1 TCP segments ... the accounting they carry'."""
    from gateway.capture import ReadReport

    report = ReadReport()
    report.radius_tcp = 1
    report.radius_tcp_by["RADIUS", 1813] = 1
    assert report.radius_tcp_said() == (
        "1 TCP segment of RADIUS over TCP or TLS (1 carrying RADIUS accounting (RFC 6613) on TCP port 1813): "
        "not read, the accounting it carries is in no record"
    )
