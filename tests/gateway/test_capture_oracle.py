"""records-from-pcap against tshark: captures built as real networks produce them, decoded by tshark, each
session's usage worked out from tshark's fields in a few plain lines, compared with m2msim's records."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from handmade_pcap import (
    SECRET,
    attr,
    ethernet,
    fragments4,
    ipv4,
    ipv6,
    request,
    response,
    sll,
    sll2,
    u32,
    udp,
    vsa3gpp,
    write_pcap,
)

from gateway.capture import ReadReport, records_from_pcap

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")

T0 = 1_772_360_000
AAA = "192.0.2.10"
NAS = ["192.0.2.1", "192.0.2.2", "v6"]  # two IPv4 GGSNs, one reached over IPv6 (address 2001:db8::N)
PLMNS = {"20801": "fr", "26201": "eu", "310410": "world"}
FIELDS = [
    "radius.Acct_Status_Type",
    "radius.NAS_IP_Address",
    "radius.NAS_IPv6_Address",
    "radius.Acct_Session_Id",
    "radius.Acct_Session_Time",
    "radius.Acct_Input_Octets",
    "radius.Acct_Input_Gigawords",
    "radius.Acct_Output_Octets",
    "radius.Acct_Output_Gigawords",
    "radius.Event_Timestamp",
    "radius.Class",
    "radius.3GPP_SGSN_MCC_MNC",
    "frame.time_epoch",
    "radius.Acct_Delay_Time",
]


def frame(nas: int, msg: bytes, is_request: bool, sport: int) -> bytes:
    """The IP packet of a RADIUS message between GGSN `nas` and the server."""
    if NAS[nas] == "v6":
        body = udp(sport, 1813, msg) if is_request else udp(1813, sport, msg)
        return ipv6(7, 10, body) if is_request else ipv6(10, 7, body)
    if is_request:
        return ipv4(NAS[nas], AAA, udp(sport, 1813, msg))
    return ipv4(AAA, NAS[nas], udp(1813, sport, msg))


def acct_request(
    status: int, sid: str, nas: int, s: int, plmn: str, event: int, usage: tuple[int, int, int] | None
) -> bytes:
    """The attributes of a request of GGSN `nas`, in its manner: GGSN 0 sends Gigawords always, GGSN 1
    when not zero, GGSN 2 never (32-bit counters that wrap), and no Event-Timestamp (RFC 2869 5.1-5.3)."""
    if NAS[nas] == "v6":  # NAS-IPv6-Address
        nas_id = attr(95, bytes.fromhex("20010db8000000000000000000000007"))
    else:  # NAS-IP-Address
        nas_id = attr(4, bytes(int(x) for x in NAS[nas].split(".")))
    parts = [
        attr(40, u32(status)),
        attr(44, sid.encode()),
        nas_id,
        attr(25, f"LINE-{s}".encode()),
        attr(31, f"3361200000{s}".encode()),
        vsa3gpp(18, plmn.encode()),
    ]
    if nas != 2:
        parts.append(attr(55, u32(event)))
    if usage is not None:
        st, up, down = usage
        parts += [attr(46, u32(st)), attr(42, u32(up & 0xFFFFFFFF)), attr(43, u32(down & 0xFFFFFFFF))]
        if nas == 0 or (nas == 1 and up >> 32):
            parts.append(attr(52, u32(up >> 32)))
        if nas == 0 or (nas == 1 and down >> 32):
            parts.append(attr(53, u32(down >> 32)))
        if status == 2:
            parts.append(attr(49, u32(1)))
    return b"".join(parts)


def traffic(seed: int, late_share: float = 0.5) -> list[tuple[int, int, bytes]]:
    """(microseconds, GGSN, IP packet) of several GGSNs' sessions, in time order: Gigawords wraps,
    retransmissions (the same octets; a new Identifier and Acct-Delay-Time), lost responses, one
    session id used by two GGSNs, an Interim-Update first heard of after the next request."""
    rng = random.Random(seed)
    out: list[tuple[int, int, bytes]] = []
    ident = [0, 0, 0]

    def send(when: int, nas: int, attrs: bytes, answered: bool) -> None:
        sport = 32_768 + nas
        ident[nas] = (ident[nas] + 1) % 256
        req = request(ident[nas], attrs)
        out.append((when, nas, frame(nas, req, True, sport)))
        if rng.random() < 0.15:  # the same octets again: the response was late
            out.append((when + 3_000_000, nas, frame(nas, req, True, sport)))
        if answered and rng.random() < 0.8:  # else the response was lost
            out.append((when + 1_000, nas, frame(nas, response(req), False, sport)))

    for s in range(12):
        nas = s % 3
        sid = f"sess-{s // 2}"  # sess-0 on GGSNs 0 and 1, ...
        plmn = rng.choice(sorted(PLMNS))
        t = T0 + rng.randrange(0, 3_000)
        st, up, down = 0, 0, 0
        steps = [(t, acct_request(1, sid, nas, s, plmn, t, None))]
        for i in range(rng.randrange(1, 6)):
            st += rng.randrange(300, 20_000)
            wide = nas != 2 and rng.random() < 0.5  # (GGSN 2: under 2^32, its counters wrap at most once)
            up += rng.randrange(2**33) if wide else rng.randrange(2**32)
            down += rng.randrange(2**34) if wide else rng.randrange(2**32)
            status = 2 if i == 4 or rng.random() < 0.25 else 3
            if rng.random() < 0.2:  # moved: the records stay in the zone where the session opened
                plmn = rng.choice(sorted(PLMNS))
            steps.append((t + st, acct_request(status, sid, nas, s, plmn, t + st, (st, up, down))))
            if status == 2:
                break
        late = rng.randrange(1, len(steps) - 1) if len(steps) > 2 and rng.random() < late_share else None
        for k, (event, attrs) in enumerate(steps):
            when = event * 1_000_000 + rng.randrange(1_000_000)
            if k == late:  # lost before the probe, re-sent only after the next request went
                nxt = steps[k + 1][0] * 1_000_000 + 2_000_000
                send(nxt, nas, acct_request_delayed(attrs, nxt // 1_000_000 - event), True)
                continue
            send(when, nas, attrs, True)
            if rng.random() < 0.15:  # re-sent with a new Identifier and Acct-Delay-Time (RFC 2866 5.2)
                send(when + 3_000_000, nas, acct_request_delayed(attrs, 3), True)
    out.sort(key=lambda p: p[0])
    return out


def acct_request_delayed(attrs: bytes, delay: int) -> bytes:
    return attrs + attr(41, u32(delay))


def tshark_requests(path: Path) -> list[dict[str, str]]:
    assert TSHARK is not None
    args = [TSHARK, "-n", "-r", str(path), "-Y", "radius.code == 4", "-T", "fields", "-E", "occurrence=f"]
    for f in FIELDS:
        args += ["-e", f]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]


def sent(r: dict[str, str]) -> int:
    """When a request's event happened: its Event-Timestamp, else when it was seen less Acct-Delay-Time."""
    if r["radius.Event_Timestamp"]:
        when = r["radius.Event_Timestamp"][:21].replace("  ", " ")
        return int(datetime.strptime(when, "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC).timestamp())
    return int(float(r["frame.time_epoch"])) - int(r["radius.Acct_Delay_Time"] or 0)


def totals(r: dict[str, str], last: list[int]) -> list[int]:
    """[Acct-Session-Time, octets in, octets out] of a request, after `last`."""
    now = [int(r["radius.Acct_Session_Time"])]
    for name, prev in (("Input", last[1]), ("Output", last[2])):
        low, giga = int(r[f"radius.Acct_{name}_Octets"]), r[f"radius.Acct_{name}_Gigawords"]
        if giga:
            now.append(low + (int(giga) << 32))
        else:  # (at most one wrap between two requests)
            now.append(prev - prev % 2**32 + low + (2**32 if low < prev % 2**32 else 0))
    return now


def oracle(path: Path) -> list[tuple[object, ...]]:
    """Each session's records from tshark's fields: requests de-duplicated, in Acct-Session-Time order,
    deltas of the counters (RFC 2869 5.1-5.2: + Gigawords x 2^32; without them, 32 bits that wrap).
    A session the capture joined mid-way starts at its Interim-Update of the lowest Acct-Session-Time
    (its baseline), whatever the order they were seen in (one re-sent late)."""
    Seen = dict[tuple[str, ...], tuple[dict[str, str], list[int]]]
    sessions: dict[tuple[str, str], Seen] = defaultdict(dict)
    for at, r in enumerate(tshark_requests(path)):
        start = r["radius.Acct_Status_Type"] == "1"
        sig = (r["radius.Event_Timestamp"],) if start else tuple(r[f] for f in FIELDS[:9])
        nas = r["radius.NAS_IP_Address"] or r["radius.NAS_IPv6_Address"]
        sessions[(nas, r["radius.Acct_Session_Id"])].setdefault(sig, (r, []))[1].append(at)
    rows = []
    for reqs in sessions.values():
        firsts = [r for r in reqs.values() if r[0]["radius.Acct_Status_Type"] != "2"]
        if not firsts:
            continue  # a Stop alone: nothing delimits its record
        first = min(firsts, key=lambda r: int(r[0]["radius.Acct_Session_Time"] or 0))[0]
        zone = PLMNS[firsts[0][0]["radius.3GPP_SGSN_MCC_MNC"]]  # (the first seen's: where it was opened)
        t0 = sent(first) - int(first["radius.Acct_Session_Time"] or 0)
        last = totals(first, [0, 0, 0]) if first["radius.Acct_Status_Type"] == "3" else [0, 0, 0]
        usage = [r for r, _seen in reqs.values() if r["radius.Acct_Status_Type"] != "1"]
        for r in sorted(usage, key=lambda r: int(r["radius.Acct_Session_Time"])):
            if int(r["radius.Acct_Session_Time"]) <= last[0]:
                continue  # (before the baseline of a session joined mid-way)
            now = totals(r, last)
            line = bytes.fromhex(r["radius.Class"].replace(":", "")).decode()
            delta = [b - a for a, b in zip(last, now, strict=True)]
            rows.append((line, r["radius.Acct_Session_Id"], t0 + last[0], *delta, zone))
            last = now
    return sorted(rows)


def m2msim(path: Path | list[Path]) -> tuple[list[tuple[object, ...]], ReadReport]:
    report = ReadReport()
    out = [
        (r.line, r.session, int(r.start.timestamp()), r.duration_s, r.bytes_up, r.bytes_down, str(r.zone))
        for r in records_from_pcap(path, SECRET.decode(), report)
    ]
    return sorted(out), report


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", block_type, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng(
    path: Path, interfaces: list[tuple[int, int]], frames: list[tuple[int, int, bytes]], snaplen: int = 0
) -> Path:
    """A pcapng: `interfaces` (link type, if_tsresol 10^-n), `frames` (interface, microseconds, frame)
    written in the order given."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype, resol in interfaces:
        options = struct.pack("<HHB3x", 9, 1, resol) + struct.pack("<HH", 0, 0)
        out.append(_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options))
    for iface, ts_us, data in frames:
        ticks = ts_us * 10 ** interfaces[iface][1] // 1_000_000
        kept = data[:snaplen] if snaplen else data
        body = struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(kept), len(data)) + kept
        out.append(_block(6, body))
    path.write_bytes(b"".join(out))
    return path


def tcp_noise(rng: random.Random, t: int) -> bytes:
    """A full-size TCP segment between other hosts (cut by a snapshot length: no accounting)."""
    seg = struct.pack("!HHIIBBHHH", 443, 50_000, 1, 1, 0x50, 0x10, 65_535, 0, 0) + rng.randbytes(1_400)
    return ipv4("198.51.100.1", "198.51.100.2", seg, proto=6, ident=t & 0xFFFF)


LINKS = {
    "ethernet-vlan": (1, lambda ip: ethernet(ip, vlans=[100])),
    "ethernet-qinq": (1, lambda ip: ethernet(ip, vlans=[10, 200])),
    "sll": (113, sll),
    "sll2": (276, sll2),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_classic_pcap_matches_tshark(tmp_path: Path, seed: int, link: str) -> None:
    linktype, wrap = LINKS[link]
    frames = [(t, wrap(ip)) for t, _nas, ip in traffic(seed)]
    path = write_pcap(tmp_path / "c.pcap", linktype, frames, nano=seed % 2 == 0)
    records, report = m2msim(path)
    assert records == oracle(path)
    assert report.rejected == 0, report.reasons
    assert report.retransmissions and report.counter_wraps and report.unanswered_requests


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_pcapng_interfaces_match_tshark(tmp_path: Path, seed: int) -> None:
    """One interface per GGSN link (Ethernet with a VLAN tag in microseconds, Linux cooked v2 in
    nanoseconds, Ethernet in 100 µs ticks), each written in its own chunks, so the file's order is
    not the time order across interfaces; TCP noise cut by the snapshot length."""
    rng = random.Random(seed)
    interfaces = [(1, 6), (276, 9), (1, 4)]
    wraps = [lambda ip: ethernet(ip, vlans=[100]), sll2, ethernet]
    frames: list[tuple[int, int, bytes]] = []
    for t, nas, ip in traffic(seed):
        frames.append((nas, t - t % 100 if nas == 2 else t, wraps[nas](ip)))
        if rng.random() < 0.2:
            frames.append((nas, t + 5, wraps[nas](tcp_noise(rng, t))))
    chunks: list[tuple[int, int, bytes]] = []
    for at in range(0, len(frames), 7):  # interface by interface, 7 packets at a time
        chunks += sorted(frames[at : at + 7], key=lambda f: f[0])
    path = pcapng(tmp_path / "c.pcapng", interfaces, chunks, snaplen=300)
    records, report = m2msim(path)
    assert records == oracle(path)
    assert report.rejected == 0 and report.out_of_order == 0, report.reasons
    assert report.retransmissions and report.counter_wraps and report.unanswered_requests


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_capture_begun_and_ended_mid_session_matches_tshark(tmp_path: Path, seed: int) -> None:
    """A capture of nine hours amid the sessions: some joined at an Interim-Update, some cut before
    their Stop, some begun at a Stop whose session's Interim-Update, re-sent late, comes after it
    (that Stop's record was lost: refused as 'never seen before', the session joined at the Interim
    listed without a Stop), some joined at an Interim whose predecessor, re-sent late, comes after it
    (refused as counters going backwards, its record lost)."""
    frames = [
        (t, ethernet(ip)) for t, _nas, ip in traffic(seed) if T0 + 6_000 <= t // 1_000_000 <= T0 + 40_000
    ]
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    records, report = m2msim(path)
    assert records == oracle(path)
    assert report.joined and report.open_sessions
    assert set(report.reasons) <= {"Stop of a session never seen before"}, report.reasons  # (the first seen)


def fragmented(ip: bytes, ident: int, size: int = 48) -> list[bytes]:
    """An IPv4 packet (no options) cut into fragments of `size` octets of its datagram."""
    src = ".".join(str(b) for b in ip[12:16])
    dst = ".".join(str(b) for b in ip[16:20])
    return fragments4(src, dst, ip[20:], ident=ident, size=size)


@pytest.mark.parametrize("seed", [12, 13])
def test_fragmented_and_span_duplicated_packets_match_tshark(tmp_path: Path, seed: int) -> None:
    """A SPAN port that sees every packet twice, and Accounting-Requests crossing a link with a small
    MTU (IPv4 fragments of 48 octets), the IP identification counting per GGSN modulo 4, so that each
    is used again and again over the capture: the records of tshark's reading of the packets whole."""
    frames: list[tuple[int, bytes]] = []
    ident = [0, 0, 0]
    for t, nas, ip in traffic(seed):
        if ip[0] >> 4 == 4 and ip[9] == 17 and ip[22:24] == b"\x07\x15" and len(ip) > 100:  # to 1813
            ident[nas] = (ident[nas] + 1) % 4
            pieces = fragmented(ip, ident[nas])
        else:
            pieces = [ip]
        for k, piece in enumerate(pieces):
            frames += [(t + k, ethernet(piece)), (t + k, ethernet(piece))]
    path = write_pcap(tmp_path / "c.pcap", 1, frames)
    records, report = m2msim(path)
    # (tshark puts fragments of datagrams under one identification together into one: read whole)
    whole = write_pcap(tmp_path / "whole.pcap", 1, [(t, ethernet(ip)) for t, _nas, ip in traffic(seed)])
    assert records == oracle(whole)
    assert report.rejected == 0, report.reasons
    assert report.reassembled and report.retransmissions and report.duplicate_responses


@pytest.mark.parametrize("seed", [10, 11])
def test_a_capture_per_ggsn_read_together_matches_tshark_on_the_merged_one(tmp_path: Path, seed: int) -> None:
    """One capture per GGSN link, of their own link types and timestamp resolutions, given together:
    the records of tshark's reading of all the packets in one file."""
    packets = traffic(seed)
    whole = write_pcap(tmp_path / "all.pcap", 1, [(t, ethernet(ip)) for t, _nas, ip in packets])
    links = [(1, ethernet), (276, sll2), (113, sll)]
    parts = [
        write_pcap(
            tmp_path / f"ggsn-{k}.pcap",
            links[k][0],
            [(t, links[k][1](ip)) for t, n, ip in packets if n == k],
            nano=k == 1,
        )
        for k in range(3)
    ]
    records, report = m2msim(parts)
    assert records == oracle(whole) and report.rejected == 0
