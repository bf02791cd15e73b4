"""`m2msim records-from-pcap`: usage file, summary, and exit 2 on unusable input."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from netparts import EPOCH

from gateway.capture import PcapCapture, ReadReport, records_from_pcap
from gateway.capture.synthetic import drive, make_sessions
from m2msim.cli import main


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "run.pcap"
    with PcapCapture(path, EPOCH, "cli-secret") as sink:
        drive(sink, make_sessions(12, seed=4, lines=5))
    return path


def test_writes_parquet_and_csv_usage_files(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want = list(records_from_pcap(capture, "cli-secret"))
    for name in ("usage.parquet", "usage.csv"):
        out = tmp_path / name
        assert main(["records-from-pcap", str(capture), "--out", str(out), "--secret", "cli-secret"]) == 0
        table = pq.read_table(out) if name.endswith(".parquet") else pacsv.read_csv(out)
        assert table.num_rows == len(want) > 12
        assert table.column("bytes_down").to_pylist() == [r.bytes_down for r in want]
        assert table.column("session").to_pylist() == [r.session for r in want]
        assert f"{len(want)} records for 5 lines" in capsys.readouterr().out


def test_json_summary_counts_records_and_rejects(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["records-from-pcap", str(capture), "--json", "--secret", "wrong"]) == 1
    )  # says: check --secret
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 0
    assert summary["reasons"] == {
        "bad Request Authenticator": summary["accounting_requests"],
        "bad Response Authenticator": summary["accounting_responses"],
    }
    assert summary["rejects"][0]["packet"] > 0
    assert main(["records-from-pcap", str(capture), "--json", "--secret", "cli-secret"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 0 and summary["records"] > 12 and summary["lines"] == 5


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_compressed_capture_gives_the_records_of_the_plain_one(
    capture: Path, tmp_path: Path, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture compressed by gzip or zstd (as Wireshark saves `.pcap.gz`, or a rotation
    compresses it), named so or not, alone or in a folder: its records are the plain capture's
    (it was refused: "decompress it first").  Its data cut before the capture's header: refused."""
    import gzip

    import pyarrow as pa

    raw = capture.read_bytes()
    packed = gzip.compress(raw) if codec == "gzip" else pa.Codec("zstd").compress(raw, asbytes=True)
    folder = tmp_path / "rotated"
    folder.mkdir()
    (folder / "run.pcap.1").write_bytes(packed)
    plain = tmp_path / "plain.csv"
    assert main(["records-from-pcap", str(capture), "--out", str(plain), "--secret", "cli-secret"]) == 0
    for source in (folder / "run.pcap.1", folder):
        out = tmp_path / "compressed.csv"
        assert main(["records-from-pcap", str(source), "--out", str(out), "--secret", "cli-secret"]) == 0
        assert out.read_bytes() == plain.read_bytes()
    capsys.readouterr()
    cut = 12  # before the capture's header is whole: refused, nothing written
    (folder / "run.pcap.1").write_bytes(packed[:cut])
    for source in (folder / "run.pcap.1", folder):  # (a folder's too: not skipped as no capture)
        out = tmp_path / "cut.csv"
        argv = ["records-from-pcap", str(source), "--out", str(out), "--secret", "cli-secret"]
        assert main(argv) == 2
        assert f"run.pcap.1: its {codec} data are cut short" in capsys.readouterr().err
        assert not out.exists()


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_compressed_capture_cut_short_is_read_up_to_the_cut(
    capture: Path, tmp_path: Path, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compressed data cut short (a copy or a download that stopped) are read as a plain capture
    cut short: the packets their data give (gzip's every octet, zstd's up to its last whole block),
    a warning saying where, `cut_short` in the summary. They were refused, nothing written."""
    import gzip

    import pyarrow as pa

    raw = capture.read_bytes()
    half = len(raw) // 2
    if codec == "gzip":
        packed = gzip.compress(raw)
        cut = len(packed) * 2 // 3
        given = len(zlib.decompressobj(31).decompress(packed[:cut]))  # all the octets the cut data give
    else:  # two frames, cut within the second: the first's octets
        first = pa.Codec("zstd").compress(raw[:half], asbytes=True)
        packed = first + pa.Codec("zstd").compress(raw[half:], asbytes=True)
        cut, given = len(first) + 40, half
    path = tmp_path / "run.pcap.1"
    path.write_bytes(packed[:cut])
    cut_plain = tmp_path / "cut.pcap"
    cut_plain.write_bytes(raw[:given])
    report = ReadReport()
    want = list(records_from_pcap(cut_plain, "cli-secret", report))
    (whole_packets,) = [c["packets"] for c in report.cut_short] or [report.packets]
    assert 0 < len(want) < len(list(records_from_pcap(capture, "cli-secret")))
    out = tmp_path / "usage.csv"
    argv = ["records-from-pcap", str(path), "--out", str(out), "--secret", "cli-secret", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["records"] == len(want) and len(out.read_text().splitlines()) == len(want) + 1
    assert [(c["packets"], c["compression"]) for c in summary["cut_short"]] == [(whole_packets, codec)]
    offset = summary["cut_short"][0]["offset"]
    assert captured.err == (
        f"m2msim records-from-pcap: warning: {path}: its {codec} data are cut short at byte offset {offset} "
        f"of the decompressed capture, after packet {whole_packets}: read up to there, its records are "
        "complete only up to packet "
        f"{whole_packets} (a capture still being written, or a disk that filled up?)\n"
    )


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "directory"])
def test_unusable_capture_exits_2_with_one_line(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.pcap"
    if kind == "text":
        path.write_text("line,type,start\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    assert main(["records-from-pcap", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("m2msim records-from-pcap: ") and str(path) in err and "\n" not in err


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs Wireshark's editcap")
@pytest.mark.parametrize("snaplen", [200, 40])
def test_a_capture_cut_by_editcap_lists_every_request_as_cut(
    capture: Path, tmp_path: Path, snaplen: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """`editcap -s 200` cuts every Accounting-Request (they were 'truncated frame', their responses
    'without a request'); `-s 40` cuts the UDP header (they were dropped without a word)."""
    cut = tmp_path / f"cut{snaplen}.pcap"
    subprocess.run(["editcap", "-s", str(snaplen), str(capture), str(cut)], check=True)
    assert main(["records-from-pcap", str(cut), "--json", "--secret", "cli-secret"]) == 1  # (nothing usable)
    summary = json.loads(capsys.readouterr().out)
    report = ReadReport()
    whole = list(records_from_pcap(capture, "cli-secret", report))
    assert summary["records"] == 0 and len(whole) > 12
    assert list(summary["reasons"]) == ["packet cut by the capture's snapshot length"]
    responses_cut = report.accounting_responses if snaplen < 62 else 0
    assert summary["rejected"] == report.accounting_requests + responses_cut
    assert re.fullmatch(
        f"packet cut by the capture's snapshot length: captured {snaplen} of [0-9]+ bytes: "
        r"capture with -s 0 \(tcpdump, dumpcap\) to keep whole packets",
        summary["rejects"][0]["reason"],
    )


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_capture_beside_its_compressed_copy_is_read_once(
    capture: Path, tmp_path: Path, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gzip -k part.pcap` leaves part.pcap and part.pcap.gz side by side: a folder of both was read
    as two captures, every packet and request counted twice. The copy holding the same capture is
    skipped, saying why."""
    import gzip

    import pyarrow as pa

    raw = capture.read_bytes()
    folder = tmp_path / "parts"
    folder.mkdir()
    plain = folder / "part.pcap"
    plain.write_bytes(raw)
    suffix = ".gz" if codec == "gzip" else ".zst"
    packed = folder / f"part.pcap{suffix}"

    def compress(data: bytes) -> bytes:
        return gzip.compress(data) if codec == "gzip" else pa.Codec("zstd").compress(data, asbytes=True)

    packed.write_bytes(compress(raw))
    alone = ReadReport()
    want = list(records_from_pcap(capture, "cli-secret", alone))
    for given in ([folder], [plain, packed]):
        argv = ["records-from-pcap", *map(str, given), "--secret", "cli-secret", "--json"]
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["files"] == [str(plain)] and summary["packets"] == alone.packets
        assert summary["records"] == len(want) and summary["accounting_requests"] == alone.accounting_requests
        assert summary["skipped_files"] == [str(packed)]
        reason = f"the same capture as {plain}, compressed: read once, from {plain}"
        assert summary["skipped_reasons"] == {str(packed): reason}
    assert main(["records-from-pcap", str(folder), "--secret", "cli-secret"]) == 0
    assert f"  skipped {packed}: {reason}\n" in capsys.readouterr().out
    assert main(["records-from-pcap", str(packed), "--secret", "cli-secret"]) == 0  # (alone: read)
    capsys.readouterr()


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_capture_and_a_copy_of_its_first_bytes_beside_it_are_read_once_from_the_longer(
    capture: Path, tmp_path: Path, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compressed copy taken before the capture ended (or cut short: `gzip -k` interrupted), or a
    plain file that holds the compressed one's first bytes (still being written when compressed):
    the same capture at two moments.  Read as two, every packet and request was counted twice;
    then refused, exit 2, though its records came out right (the second copy's requests taken as
    retransmissions).  The longer is read, the other skipped saying why.  A compressed file of the
    name that holds another capture (a ring buffer's earlier lap) is read too, as before."""
    import gzip

    import pyarrow as pa

    def compress(data: bytes) -> bytes:
        return gzip.compress(data) if codec == "gzip" else pa.Codec("zstd").compress(data, asbytes=True)

    raw = capture.read_bytes()
    alone = ReadReport()
    want = list(records_from_pcap(capture, "cli-secret", alone))
    half = len(raw) // 2
    folder = tmp_path / "parts"
    folder.mkdir()
    plain = folder / "part.pcap"
    packed = folder / f"part.pcap{'.gz' if codec == 'gzip' else '.zst'}"
    whole = compress(raw)
    cases = [
        (
            raw,
            compress(raw[:half]),
            packed,
            f"a compressed copy of the first {half} bytes of {plain}, "
            f"which has more: read once, from {plain}",
        ),
        (
            raw[:half],
            whole,
            plain,
            f"the first {half} bytes of {packed}, which has more: read once, from {packed}",
        ),
    ]
    if codec == "gzip":  # (compressed data cut short; zstd's one block of this capture gives nothing then)
        cases.append((raw, whole[: len(whole) * 3 // 4], packed, None))
    for plain_bytes, packed_bytes, skipped, reason in cases:
        plain.write_bytes(plain_bytes)
        packed.write_bytes(packed_bytes)
        assert main(["records-from-pcap", str(folder), "--secret", "cli-secret", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["skipped_files"] == [str(skipped)]
        if reason is not None:
            assert summary["skipped_reasons"] == {str(skipped): reason}
        else:
            assert re.fullmatch(
                rf"a compressed copy of the first \d+ bytes of {re.escape(str(plain))}, which has more: "
                rf"read once, from {re.escape(str(plain))}",
                summary["skipped_reasons"][str(packed)],
            )
        assert (
            summary["files"] == [str(plain if skipped == packed else packed)] and summary["cut_short"] == []
        )
        assert summary["packets"] == alone.packets and summary["records"] == len(want)
        assert summary["accounting_requests"] == alone.accounting_requests
    other = tmp_path / "other.pcap"  # another capture under the name
    with PcapCapture(other, EPOCH, "cli-secret") as sink:
        drive(sink, make_sessions(3, seed=9, lines=2))
    both = ReadReport()
    want = list(records_from_pcap([capture, other], "cli-secret", both))  # (by other names)
    plain.write_bytes(raw)
    packed.write_bytes(compress(other.read_bytes()))
    assert main(["records-from-pcap", str(folder), "--secret", "cli-secret", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped_files"] == [] and sorted(summary["files"]) == sorted([str(plain), str(packed)])
    assert summary["packets"] == both.packets > alone.packets and summary["records"] == len(want)


@pytest.mark.parametrize("vlan", [None, 5])
def test_a_capture_of_gtp_alone_says_what_it_saw_and_why_no_record(
    tmp_path: Path, vlan: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture of the Gn interface alone (GTP-C and GTP-U, no RADIUS accounting) exited 1 saying
    'none among its N packets (UDP ports 1646, 1813)', not a word of its GTP. The warning now counts
    the GTP-C and GTP-U packets and says why no record comes of them."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.utils import rdpcap, wrpcap

    both = tmp_path / "both.pcap"
    with PcapCapture(both, EPOCH, "cli-secret", gtpu_sample_rate=0.01, seed=3) as sink:
        drive(sink, make_sessions(6, seed=4, lines=3))
    packets = rdpcap(str(both))
    ports = [{p[UDP].sport, p[UDP].dport} for p in packets]
    gtp = [p for p, pair in zip(packets, ports, strict=True) if pair & {2123, 2152}]
    if vlan is not None:  # (a frame the reader opens on its longer path)
        gtp = [Ether(src=p.src, dst=p.dst) / Dot1Q(vlan=vlan) / p[IP] for p in gtp]
    gtp_c = sum(2123 in pair for pair in ports)
    gtp_u = sum(2152 in pair for pair in ports)
    assert gtp_c > 12 and gtp_u > 12 and len(gtp) == gtp_c + gtp_u < len(packets)
    path = tmp_path / "gn.pcap"
    wrpcap(str(path), gtp)
    assert main(["records-from-pcap", str(path), "--secret", "cli-secret", "--json"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["records"], summary["gtp_c"], summary["gtp_u"]) == (0, gtp_c, gtp_u)
    assert captured.err == (
        f"m2msim records-from-pcap: warning: {path}: no usable Accounting-Request, no records: none "
        f"among its {len(gtp)} packets (UDP ports 1646, 1813); {gtp_c} GTP-C and {gtp_u} GTP-U packets "
        "seen (UDP 2123, 2152), of which no record is made: GTP-C's PDP context messages carry no "
        "octet count, and GTP-U's user packets are not the volume the network counted (a probe "
        "samples them, or misses some); records come from the RADIUS accounting's Interim-Updates "
        "and Stops: capture its traffic too\n"
    )
    assert main(["records-from-pcap", str(both), "--secret", "cli-secret", "--json"]) == 0  # (counted)
    summary = json.loads(capsys.readouterr().out)
    assert (summary["gtp_c"], summary["gtp_u"], summary["warning"]) == (gtp_c, gtp_u, None)


def test_radius_over_tcp_or_tls_is_said_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A NAS sending its accounting over TCP (RFC 6613, port 1813) and a proxy over TLS (RadSec, RFC 6614,
    port 2083), beside a NAS over UDP: the TCP segments were passed over without a word, exit 0, the
    records those of the UDP NAS alone as if they were all. They are counted (`radius_tcp`), and a warning
    says their accounting is in no record; a capture of them alone says so in its 'no usable' warning."""
    from handmade_pcap import SECRET, acct, request, response
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    t0, MAC = 1_772_360_000, "02:00:00:00:00:01"  # (MACs given: scapy looks none up)
    start, stop = request(1, acct(1, event=t0)), request(2, acct(2, event=t0 + 600, st=600, octets=(5, 6)))
    udp_nas = []
    for t, msg in ((0, start), (600, stop)):
        for frame, dt in (
            (IP(src="192.0.2.1", dst="192.0.2.10") / UDP(sport=32_768, dport=1813) / Raw(msg), 0.0),
            (
                IP(src="192.0.2.10", dst="192.0.2.1") / UDP(sport=1813, dport=32_768) / Raw(response(msg)),
                0.001,
            ),
        ):
            packet = Ether(src=MAC, dst=MAC) / frame
            packet.time = t0 + t + dt
            udp_nas.append(packet)
    tcp = []
    tls = bytes((23, 3, 3, 0, 32)) + bytes(range(32))  # a TLS record of application data
    for i, (ip, port, payload) in enumerate(
        [
            (IP(src="192.0.2.2", dst="192.0.2.10"), 1813, start),
            (IPv6(src="2001:db8::3", dst="2001:db8::10"), 2083, tls),
        ]
    ):
        packet = Ether(src=MAC, dst=MAC) / ip / TCP(sport=40_000, dport=port, flags="PA") / Raw(payload)
        packet.time = t0 + 1 + i
        tcp.append(packet)
    mixed, alone = tmp_path / "mixed.pcap", tmp_path / "tcp.pcap"
    wrpcap(str(mixed), sorted(udp_nas + tcp, key=lambda p: p.time))
    wrpcap(str(alone), tcp)
    said = (
        "2 TCP segments of RADIUS over TCP or TLS (1 carrying RADIUS accounting (RFC 6613) on TCP port 1813; "
        "1 carrying TLS records (RadSec, RFC 6614) on TCP port 2083): not read, the accounting they carry is "
        "in no record"
    )
    secret = SECRET.decode()
    assert main(["records-from-pcap", str(mixed), "--secret", secret, "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["records"], summary["radius_tcp"]) == (1, 2)
    assert captured.err == f"m2msim records-from-pcap: warning: {said}\n"
    assert main(["records-from-pcap", str(alone), "--secret", secret]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"m2msim records-from-pcap: warning: {alone}: no usable Accounting-Request, no records: none among "
        f"its 2 packets (UDP ports 1646, 1813); {said}\n"
    )


def test_radius_over_tcp_counts_only_segments_that_carry_radius_or_tls(tmp_path: Path) -> None:
    """Every TCP segment to or from 1646, 1813 or 2083 was counted as RADIUS over TCP or TLS: a
    handshake's SYN, the acknowledgements, another service on the port (an SGSN's stack drawing 1646 as a
    source port, a web server on 2083), and the warning said that many segments carried accounting. Only a
    payload starting as RADIUS accounting does (code 4 or 5, a Length that fits: several messages, or the
    stream cut into segments) on the accounting ports, or as a TLS record on 2083, is counted, by kind and
    port (`radius_tcp_by`), and the warning names them."""
    from handmade_pcap import SECRET, acct, request, response
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    rng = random.Random(6613)
    t0, MAC = 1_772_360_000, "02:00:00:00:00:01"
    start = request(1, acct(1, event=t0))
    big = request(2, acct(3, event=t0 + 600, st=600, octets=(5, 6), msisdn="3" * 200))
    counted = [
        (1813, start),
        (1813, start + response(start)),  # (two messages in one segment)
        (1646, big[:60]),  # (the stream cut: the message runs past the segment)
        (2083, bytes((22, 3, 1, 0, 64)) + rng.randbytes(64)),  # a TLS ClientHello's record
    ]
    not_counted = [
        (1813, b""),  # SYN, ACK
        (1646, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (1813, bytes((1, 7, 0, 20)) + bytes(16)),  # an Access-Request: no accounting
        (1813, bytes((4, 7, 0, 19)) + bytes(16)),  # a Length no message has
        (1813, bytes((4, 7, 0, 30)) + bytes(26) + b"\x99\x00"),  # what follows it no message
        (2083, start),  # RADIUS in clear on RadSec's port: no TLS
        (2083, bytes((23, 9, 9, 0, 4)) + b"abcd"),  # no TLS version
    ]
    frames = []
    for i, (port, payload) in enumerate(counted + not_counted):
        packet = Ether(src=MAC, dst=MAC) / IP(src="192.0.2.2", dst="192.0.2.10")
        flags = "S" if not payload else "PA"
        packet = packet / TCP(sport=40_000 + rng.randrange(1_000), dport=port, flags=flags) / Raw(payload)
        packet.time = t0 + i
        frames.append(packet)
    # (a segment the card was left to cut, TSO: its IPv4 total length 0 as captured on the sending host)
    tso = Ether(src=MAC, dst=MAC) / IP(src="192.0.2.2", dst="192.0.2.10", len=0)
    tso = tso / TCP(sport=40_001, dport=1813, flags="PA") / Raw(start + big)
    tso.time = t0 + len(frames)
    path = tmp_path / "tcp.pcap"
    wrpcap(str(path), [*frames, tso])
    report = ReadReport()
    assert list(records_from_pcap(path, SECRET, report)) == []
    assert report.radius_tcp == 5
    assert report.as_dict()["radius_tcp_by"] == {"RADIUS 1646": 1, "RADIUS 1813": 3, "TLS 2083": 1}
    assert report.radius_tcp_said() == (
        "5 TCP segments of RADIUS over TCP or TLS (4 carrying RADIUS accounting (RFC 6613) on TCP ports "
        "1646, 1813; 1 carrying TLS records (RadSec, RFC 6614) on TCP port 2083): not read, the accounting "
        "they carry is in no record"
    )


def test_radius_over_tcp_of_ipv6_with_payload_length_0_is_counted(tmp_path: Path) -> None:
    """A segment of RADIUS over TCP captured on the sending host that left the card to cut it (TSO; or
    a jumbogram, RFC 2675): its IPv6 Payload Length 0, as an IPv4 one's total length is then. The IPv4
    segment was read to its frame's end, the IPv6 one taken as empty and not counted: the warning said
    nothing of the accounting it carried."""
    from handmade_pcap import SECRET, acct, request
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    t0, mac = 1_772_360_000, "02:00:00:00:00:01"
    stream = b"".join(request(i, acct(1, f"sess-{i}", event=t0)) for i in range(1, 4))
    frames = []
    for i, ip in enumerate(
        [IP(src="192.0.2.2", dst="192.0.2.10", len=0), IPv6(src="2001:db8::3", dst="2001:db8::10", plen=0)]
    ):
        packet = Ether(src=mac, dst=mac) / ip / TCP(sport=40_001, dport=1813, flags="PA") / Raw(stream)
        packet.time = t0 + i
        frames.append(packet)
    path = tmp_path / "tso.pcap"
    wrpcap(str(path), frames)
    report = ReadReport()
    assert list(records_from_pcap(path, SECRET, report)) == []
    assert (report.radius_tcp, report.as_dict()["radius_tcp_by"]) == (2, {"RADIUS 1813": 2})


def test_a_pipe_is_refused_as_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture given as a pipe (a FIFO, `<(zcat part.pcap.gz)`) is refused at once, exit 2, nothing
    read: the captures may be read twice (the look-ahead pass for a server's later answers), which a pipe
    cannot be."""
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    assert main(["records-from-pcap", str(fifo)]) == 2
    assert capsys.readouterr().err == f"m2msim records-from-pcap: {fifo}: not a file\n"
