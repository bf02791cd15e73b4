"""Capture packets: the byte templates equal scapy's definitions, and scapy dissects them back."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from netparts import EPOCH
from scapy.contrib.gtp import GTP_U_Header, GTPHeader
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.radius import Radius
from scapy.packet import Raw
from scapy.utils import RawPcapReader, rdpcap

from gateway.capture import PcapCapture, codec, gtpc, radius, reference
from gateway.capture.frames import UdpFlow
from gateway.capture.sink import APP_PORT, DEFAULT_APP_SERVER
from gateway.events import ContextInfo

SECRET = b"test-secret"


def make_ctx(**changes: object) -> ContextInfo:
    base: dict[str, object] = {
        "session_id": "S000000042",
        "line_id": "M0042",
        "imsi": "208011234567890",
        "msisdn": "33612345678",
        "imeisv": "3534900612345601",
        "apn": "orange.m2m.spec",
        "charging_id": 0x01020304,
        "ip_address": "10.64.1.7",
        "sgsn_address": "192.0.2.2",
        "ggsn_address": "192.0.2.1",
        "serving_plmn": "20801",
        "rat": "geran",
        "nsapi": 5,
        "teid_up": 84,
        "teid_down": 85,
        "sequence": 42,
    }
    base.update(changes)
    return ContextInfo(**base)  # type: ignore[arg-type]


CONTEXTS = [
    make_ctx(),
    make_ctx(serving_plmn="310260", rat="utran", imsi="31026012345678"),  # 3-digit MNC, 14-digit IMSI
    make_ctx(serving_plmn="22801", rat="eutran", apn="m2m.orange.fr", msisdn="41791234567"),
    make_ctx(apn="internet-entreprise", authentication="pap", password="entreprise"),  # PCO with PAP
    make_ctx(apn="orange-mib", authentication="chap", password="mib-access"),  # PCO with CHAP
]


@pytest.mark.parametrize("ctx", CONTEXTS, ids=["fr-geran", "us-3digit-mnc", "ch-eutran", "pap", "chap"])
def test_gtpc_templates_equal_scapy_definitions(ctx: ContextInfo) -> None:
    tunnel = gtpc.Tunnel.of(ctx)
    tz = codec.ms_time_zone(ctx.serving_plmn, EPOCH)
    assert gtpc.create_request(ctx, tunnel, 42, 1, tz) == bytes(
        reference.create_request(ctx, tunnel, 42, 1, tz)
    )
    assert gtpc.create_response(ctx, tunnel, 42, 1, 128) == bytes(
        reference.create_response(ctx, tunnel, 42, 1, 128)
    )
    assert gtpc.create_response(ctx, tunnel, 42, 1, 219) == bytes(
        reference.create_response(ctx, tunnel, 42, 1, 219)
    )
    assert gtpc.delete_request(ctx, tunnel, 43) == bytes(reference.delete_request(ctx, tunnel, 43))
    assert gtpc.delete_response(tunnel, 43) == bytes(reference.delete_response(tunnel, 43))


@pytest.mark.parametrize("ctx", CONTEXTS, ids=["fr-geran", "us-3digit-mnc", "ch-eutran", "pap", "chap"])
def test_radius_templates_equal_scapy_definitions(ctx: ContextInfo) -> None:
    tz = codec.ms_time_zone(ctx.serving_plmn, EPOCH)
    template = radius.AccountingTemplate(radius.identity_attributes(ctx, tz, gtpc.uli(ctx)), SECRET)
    t0 = 1_772_323_200
    start, auth = template.start(7, t0)
    assert start == bytes(reference.accounting_request(ctx, radius.STATUS_START, 7, t0, SECRET, tz))
    up, down = (3 << 32) + 12_345, (1 << 32) - 1
    interim, _ = template.interim(8, t0 + 43_200, up, down, 43_200)
    assert interim == bytes(
        reference.accounting_request(ctx, radius.STATUS_INTERIM, 8, t0 + 43_200, SECRET, tz, up, down, 43_200)
    )
    stop, _ = template.stop(9, t0 + 50_000, up + 1, down + 1, 50_000, 2)
    assert stop == bytes(
        reference.accounting_request(
            ctx, radius.STATUS_STOP, 9, t0 + 50_000, SECRET, tz, up + 1, down + 1, 50_000, 2
        )
    )
    assert radius.response(7, auth, SECRET) == bytes(reference.accounting_response(7, auth, SECRET))


def _ies(packet: bytes) -> dict[int, object]:
    gtp = GTPHeader(packet)
    return {ie.ietype: ie for ie in gtp.IE_list}


def test_scapy_dissects_create_request_identities() -> None:
    ctx = CONTEXTS[1]
    tz = codec.ms_time_zone(ctx.serving_plmn, EPOCH)
    raw = gtpc.create_request(ctx, gtpc.Tunnel.of(ctx), 42, 1, tz)
    gtp = GTPHeader(raw)
    assert gtp.gtp_type == 16 and gtp.seq == 42 and gtp.length == len(raw) - 8
    types = [ie.ietype for ie in gtp.IE_list]
    assert types == sorted(types)  # ascending IE order (TS 29.060 7.7)
    assert 154 in types and 134 in types and 152 in types
    ies = {ie.ietype: ie for ie in gtp.IE_list}
    assert ies[2].imsi == b"31026012345678"
    assert ies[131].APN == b"orange.m2m.spec"
    assert ies[154].IMEI == b"3534900612345601"
    assert ies[134].digits == b"33612345678"
    assert ies[151].RAT_Type == 1
    assert ies[3].MCC == b"3100" and ies[3].MNC == b"26"  # MNC digit 3 rides in the MCC field's octet
    assert raw[21:25] == b"\x03\x13\x00\x62"  # RAI: MCC 310, MNC 260 (TS 24.008 10.5.1.3)
    # the IMSI IE pads 14 digits with F, not 0
    assert raw[12:21] == b"\x02\x13\x20\x06\x21\x43\x65\x87\xff"


def test_scapy_dissects_accounting_counters_and_vsas() -> None:
    ctx = CONTEXTS[0]
    tz = codec.ms_time_zone(ctx.serving_plmn, EPOCH)
    template = radius.AccountingTemplate(radius.identity_attributes(ctx, tz, gtpc.uli(ctx)), SECRET)
    up, down = (5 << 32) + 7, 4_294_967_295
    raw, _ = template.stop(3, 1_772_400_000, up, down, 77_000, 1)
    packet = Radius(raw)
    std = {a.type: a.value for a in packet.attributes if a.type != 26}
    vsas = {a.vendor_type: a.value for a in packet.attributes if a.type == 26 and a.vendor_id == 10415}
    assert std[42] == 7 and std[52] == 5  # Acct-Input-Octets + Gigawords = 5 * 2^32 + 7
    assert std[43] == 4_294_967_295 and std[53] == 0
    assert std[46] == 77_000 and std[49] == 1 and std[40] == 2
    assert std[31] == b"33612345678" and std[30] == b"orange.m2m.spec" and std[25] == b"M0042"
    assert vsas[1] == b"208011234567890"
    assert vsas[20] == b"3534900612345601"
    assert vsas[18] == b"20801" and vsas[8] == b"20801"
    assert int.from_bytes(vsas[2], "big") == 0x01020304
    assert vsas[21] == b"\x02"  # GERAN


def test_authenticators_follow_rfc_2866() -> None:
    ctx = CONTEXTS[0]
    template = radius.AccountingTemplate(radius.identity_attributes(ctx, b"\x40\x00", gtpc.uli(ctx)), SECRET)
    raw, auth = template.interim(200, 1_772_400_000, 10, 20, 43_200)
    # Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets + attributes + secret)
    assert auth == hashlib.md5(raw[:4] + bytes(16) + raw[20:] + SECRET).digest() == raw[4:20]
    assert Radius(raw).compute_authenticator(bytes(16), SECRET) == auth  # type: ignore[no-untyped-call]
    assert radius.request_authenticator_ok(raw, SECRET)
    assert not radius.request_authenticator_ok(raw, b"other-secret")
    reply = radius.response(200, auth, SECRET)
    assert reply[4:] == hashlib.md5(reply[:4] + auth + SECRET).digest()
    assert radius.response_authenticator_ok(reply, auth, SECRET)
    assert not radius.response_authenticator_ok(reply, bytes(16), SECRET)


@pytest.mark.parametrize(
    ("octets", "low", "gigawords"),
    [(0, 0, 0), ((1 << 32) - 1, 0xFFFFFFFF, 0), (1 << 32, 0, 1), ((7 << 32) + 9, 9, 7)],
)
def test_counters_split_into_gigawords(octets: int, low: int, gigawords: int) -> None:
    assert radius.split_octets(octets) == (low, gigawords)


def test_counter_out_of_range_is_a_typed_error() -> None:
    with pytest.raises(codec.CaptureError):
        radius.split_octets(-1)
    with pytest.raises(codec.CaptureError):
        radius.split_octets(1 << 64)


def test_tbcd_plmn_and_time_zone_encodings() -> None:
    assert codec.tbcd("12345") == b"\x21\x43\xf5"
    assert codec.tbcd("1234", 4) == b"\x21\x43\xff\xff"
    assert codec.untbcd(codec.tbcd("208011234567890", 8)) == "208011234567890"
    assert codec.plmn_octets("20801") == b"\x02\xf8\x10"
    assert codec.plmn_octets("310260") == b"\x13\x00\x62"
    assert codec.plmn_from_octets(b"\x13\x00\x62") == "310260"
    assert codec.home_plmn("310260123456789") == "310260" and codec.home_plmn("208011234567890") == "20801"
    assert codec.ms_time_zone("20801", datetime(2026, 1, 15, tzinfo=UTC)) == b"\x40\x00"  # UTC+1
    assert codec.ms_time_zone("20801", datetime(2026, 7, 15, tzinfo=UTC)) == b"\x80\x01"  # UTC+2, DST 1 h
    assert codec.ms_time_zone("310260", datetime(2026, 1, 15, tzinfo=UTC)) == b"\x0a\x00"  # UTC-5
    with pytest.raises(codec.CaptureError):
        codec.plmn_octets("2080")
    with pytest.raises(codec.CaptureError):
        codec.apn_labels("bad..apn")


def test_frames_have_correct_ip_lengths_and_checksums() -> None:
    flow = UdpFlow("192.0.2.1", "192.0.2.10", 32_768, 1813)
    payload = b"\x04" + bytes(99)
    frame = flow.headers(0xBEEF, len(payload)) + payload
    assert frame == bytes(reference.frame("192.0.2.1", "192.0.2.10", 32_768, 1813, 0xBEEF, payload))
    packet = Ether(frame)
    ip = packet[IP]
    assert ip.len == 20 + 8 + 100 and packet[UDP].len == 8 + 100
    checksum = ip.chksum
    del ip.chksum
    assert IP(bytes(ip))[IP].chksum == checksum


def test_sampled_gpdu_equals_scapy_definition(tmp_path: Path) -> None:
    ctx = CONTEXTS[0]
    with PcapCapture(tmp_path / "g.pcap", EPOCH, SECRET, gtpu_sample_rate=1.0, mtu=300) as capture:
        capture.pdp_create(0.0, ctx, 128)
        capture.user_packets(1.0, ctx, 300, 0)
    with RawPcapReader(str(tmp_path / "g.pcap")) as reader:
        frame = [bytes(data) for data, _meta in reader][-1]
    tunnel = gtpc.Tunnel.of(ctx)
    inner = (
        IP(src=ctx.ip_address, dst=DEFAULT_APP_SERVER, id=3, ttl=64, flags=0)
        / UDP(sport=40_000 + ctx.charging_id % 20_000, dport=APP_PORT, chksum=0)
        / Raw(bytes(300 - 28))
    )
    want = reference.frame(
        ctx.sgsn_address, ctx.ggsn_address, 2152, 2152, 4, reference.gpdu(tunnel.ggsn_teid, inner)
    )
    assert frame == bytes(want)
    dissected = Ether(frame)
    assert dissected[GTP_U_Header].teid == tunnel.ggsn_teid
    assert dissected[GTP_U_Header][IP].len == 300


def test_sampled_gpdu_pads_a_short_remainder_to_ipv4_and_udp_headers(tmp_path: Path) -> None:
    path = tmp_path / "pad.pcap"
    with PcapCapture(path, EPOCH, SECRET, gtpu_sample_rate=1.0, mtu=200) as capture:
        ctx = make_ctx()
        capture.pdp_create(0.0, ctx, 128)
        capture.user_packets(1.0, ctx, 205, 3)  # 200 + a 5-octet remainder up, 3 octets down
    frames = [bytes(p) for p in rdpcap(str(path)) if p.haslayer(UDP) and p[UDP].dport == 2152]
    inner = sorted(struct.unpack_from("!H", f, 42 + 8 + 2)[0] for f in frames)  # inner IPv4 total length
    assert inner == [28, 28, 200]  # never shorter than IPv4 20 + UDP 8


def test_a_real_packet_is_one_gpdu_carrying_it_whole_in_its_direction(tmp_path: Path) -> None:
    ctx = CONTEXTS[0]
    up = bytes(IP(src=ctx.ip_address, dst="203.0.113.7", id=9) / UDP(sport=5000, dport=7) / Raw(b"ping"))
    down = bytes(IP(src="203.0.113.7", dst=ctx.ip_address, id=10) / UDP(sport=7, dport=5000) / Raw(b"pong"))
    path = tmp_path / "real.pcap"
    with PcapCapture(path, EPOCH, SECRET) as capture:  # real packets need no sampling
        capture.pdp_create(0.0, ctx, 128)
        capture.user_packet(1.0, ctx, up, True)
        capture.user_packet(1.5, ctx, down, False)
        capture.user_packets(2.0, ctx, 5_000, 5_000)  # modelled volume: sampled at 0, so none
        assert capture.user_packets_real == 2 and capture.user_packets_sampled == 0
    with RawPcapReader(str(path)) as reader:
        frames = [bytes(data) for data, _meta in reader][2:]
    tunnel = gtpc.Tunnel.of(ctx)
    assert frames == [
        bytes(
            reference.frame(
                ctx.sgsn_address, ctx.ggsn_address, 2152, 2152, 3, reference.gpdu(tunnel.ggsn_teid, IP(up))
            )
        ),
        bytes(
            reference.frame(
                ctx.ggsn_address, ctx.sgsn_address, 2152, 2152, 4, reference.gpdu(tunnel.sgsn_teid, IP(down))
            )
        ),
    ]
    assert [bytes(Ether(f)[GTP_U_Header].payload) for f in frames] == [up, down]


def test_real_packets_can_be_left_out_and_an_oversized_one_is_skipped_with_a_reason(tmp_path: Path) -> None:
    ctx = CONTEXTS[0]
    with PcapCapture(tmp_path / "off.pcap", EPOCH, SECRET, gtpu_real=False) as capture:
        capture.pdp_create(0.0, ctx, 128)
        capture.user_packet(1.0, ctx, bytes(100), True)
        assert capture.packets == 2 and capture.user_packets_real == 0
    with PcapCapture(tmp_path / "big.pcap", EPOCH, SECRET) as capture:
        capture.pdp_create(0.0, ctx, 128)
        capture.user_packet(1.0, ctx, bytes(65_486), True)  # its frame would pass pcap's 65,535 octets
        capture.user_packet(1.0, ctx, bytes(65_485), False)
        assert capture.user_packets_real == 1 and capture.skipped["user packet"] == 1
        assert "65486-octet packet" in capture.skipped_examples[0]
