"""GTP-C identities of the per-call path: one sequence counter per path, real NSAPIs, a TEID-C per context."""

from __future__ import annotations

import struct
from pathlib import Path

from netparts import EPOCH
from scapy.utils import RawPcapReader

from accounting.records import UsageRecord
from gateway.api import GtpCause, Subscriber
from gateway.capture import PcapCapture
from gateway.capture.gtpc import CREATE_PDP_REQUEST, CREATE_PDP_RESPONSE, DELETE_PDP_REQUEST
from gateway.network import Network, NetworkConfig


class Records:
    def write(self, record: UsageRecord) -> None:
        pass


def gtp_messages(path: Path) -> list[tuple[int, int, bytes]]:
    """(message type, sequence number, message) of every GTP-C packet."""
    out = []
    reader = RawPcapReader(str(path))
    packets = [bytes(data) for data, _meta in reader]
    reader.close()
    for frame in packets:
        if 2123 not in struct.unpack_from("!HH", frame, 34):  # UDP ports (Ethernet 14 + IPv4 20 octets in)
            continue
        gtp = frame[42:]
        out.append((gtp[1], struct.unpack_from("!H", gtp, 8)[0], gtp))
    return out


def ie_value(message: bytes, ie_type: int, size: int) -> bytes:
    """A TV information element's value (the first one of its type) in a GTPv1-C message."""
    pos = 12
    while pos < len(message):
        t = message[pos]
        if t == ie_type:
            return message[pos + 1 : pos + 1 + size]
        if t & 0x80:  # TLV
            pos += 3 + struct.unpack_from("!H", message, pos + 1)[0]
        else:
            pos += 1 + {1: 1, 2: 8, 3: 6, 8: 1, 14: 1, 15: 1, 16: 4, 17: 4, 19: 1, 20: 1, 26: 2, 127: 4}[t]
    raise AssertionError(f"IE {ie_type} missing")


def test_refused_creates_take_fresh_sequence_numbers_real_nsapis_and_own_teids(tmp_path: Path) -> None:
    path = tmp_path / "ids.pcap"
    with PcapCapture(path, EPOCH) as capture:
        net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0.0), Records(), capture=capture)
        net.register_subscriber(Subscriber("L1", "208010000000001", "33612345678", "europe"))
        net.attach(0, "L1", "3533281100000401", "20801")
        opened = [net.open_session(1, "L1", "orange.m2m.spec") for _ in range(3)]
        refused = [net.open_session(1, "L1", "no.such.apn"), net.open_session(1, "L1", "internet-entreprise")]
        assert all(s.accepted for s in opened)
        assert [r.cause for r in refused] == [
            GtpCause.MISSING_OR_UNKNOWN_APN,
            GtpCause.USER_AUTHENTICATION_FAILED,
        ]
        for s in opened:
            assert s.session_id is not None
            net.close_session(2, s.session_id)
    messages = gtp_messages(path)
    requests = [(t, seq, m) for t, seq, m in messages if t in (CREATE_PDP_REQUEST, DELETE_PDP_REQUEST)]
    assert len(requests) == 8
    # one counter on the path: every request has its own number, and each response answers one
    assert sorted(seq for _t, seq, _m in requests) == list(range(1, 9))
    creates = [m for t, _s, m in requests if t == CREATE_PDP_REQUEST]
    nsapis = [ie_value(m, 20, 1)[0] for m in creates]
    assert nsapis == [5, 6, 7, 8, 8]  # refused attempts ask with the line's first free NSAPI, never 0
    teids = [ie_value(m, 17, 4) for m in creates]
    assert len(set(teids)) == len(teids)  # a TEID-C per context and per refused attempt
    responses = [seq for t, seq, _m in messages if t == CREATE_PDP_RESPONSE]
    assert sorted(responses) == sorted(seq for t, seq, _m in requests if t == CREATE_PDP_REQUEST)
