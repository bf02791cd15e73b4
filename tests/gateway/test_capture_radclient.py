"""The capture reader on traffic other tools made and captured: FreeRADIUS's `radclient` sends accounting
over loopback (IPv4 and IPv6) to this test's own UDP server, and Wireshark's `dumpcap` captures it
(`-i lo`: Ethernet link type; `-i any`: Linux cooked v2).  Skipped, saying why, without those tools."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.capture import ReadReport, records_from_pcap

SECRET = "radclient-secret"
T0 = 1_772_359_200  # 2026-03-01 10:00:00 UTC

pytestmark = pytest.mark.skipif(
    shutil.which("radclient") is None or shutil.which("dumpcap") is None,
    reason="needs radclient (Debian freeradius-utils) and dumpcap (Debian wireshark-common)",
)

PACKETS = [
    f"""Acct-Status-Type = Start
Acct-Session-Id = "rc-0001"
NAS-IP-Address = 192.0.2.1
Calling-Station-Id = "33612345678"
Called-Station-Id = "m2m.example"
Class = 0x8f00a1ff3c5d0102
3GPP-IMSI = "208011234567890"
3GPP-Charging-ID = 31337
3GPP-SGSN-MCC-MNC = "20801"
Event-Timestamp = {T0}
""",
    f"""Acct-Status-Type = Interim-Update
Acct-Session-Id = "rc-0001"
NAS-IP-Address = 192.0.2.1
Calling-Station-Id = "33612345678"
Class = 0x8f00a1ff3c5d0102
3GPP-SGSN-MCC-MNC = "20801"
Acct-Session-Time = 3600
Acct-Input-Octets = 4000000000
Acct-Output-Octets = 123456
Event-Timestamp = {T0 + 3600}
""",
    f"""Acct-Status-Type = Stop
Acct-Session-Id = "rc-0001"
NAS-IP-Address = 192.0.2.1
Calling-Station-Id = "33612345678"
Class = 0x8f00a1ff3c5d0102
3GPP-SGSN-MCC-MNC = "20801"
Acct-Session-Time = 5400
Acct-Input-Octets = 1000
Acct-Output-Octets = 223456
Acct-Terminate-Cause = Lost-Carrier
Event-Timestamp = {T0 + 5400}
""",
]


class AccountingServer:
    """A UDP accounting server for the test: answers every request, except the first Interim-Update
    (so that radclient must re-send it)."""

    def __init__(self, family: int, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()
        self.port = self.address[1]
        self.family = family
        self.dropped = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if self.stopping.is_set():
                return
            if msg[:1] != b"\x04":
                continue
            if b"\x28\x06\x00\x00\x00\x03" in msg and not self.dropped.is_set():  # Acct-Status-Type Interim
                self.dropped.set()
                continue
            head = bytes((5, msg[1])) + (20).to_bytes(2, "big")
            auth = hashlib.md5(head + msg[4:20] + SECRET.encode()).digest()
            self.sock.sendto(head + auth, peer)

    def close(self) -> None:
        self.stopping.set()
        with socket.socket(self.family, socket.SOCK_DGRAM) as wake:  # unblocks recvfrom
            wake.sendto(b"stop", self.address)
        self.thread.join()
        self.sock.close()


@pytest.fixture(params=["ipv4", "ipv6"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[AccountingServer, str]]:
    if request.param == "ipv6":
        if not socket.has_ipv6:
            pytest.skip("no IPv6 on this machine")
        try:
            srv = AccountingServer(socket.AF_INET6, "::1")
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback: {exc}")
        yield srv, f"[::1]:{srv.port}"
    else:
        srv = AccountingServer(socket.AF_INET, "127.0.0.1")
        yield srv, f"127.0.0.1:{srv.port}"
    srv.close()


def _capture(tmp_path: Path, interface: list[str], port: int, target: str, family_flag: list[str]) -> Path:
    out = tmp_path / "radclient.pcapng"
    # 3 requests + 1 retransmission + 3 responses, each seen once on the interface
    dumpcap = subprocess.Popen(
        ["dumpcap", *interface, "-f", f"udp port {port}", "-c", "7", "-a", "duration:60", "-w", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert dumpcap.stderr is not None
        line = dumpcap.stderr.readline()  # "Capturing on ...": the capture is running
        if "Capturing on" not in line:
            dumpcap.kill()
            pytest.skip(f"dumpcap cannot capture here: {line.strip()}")
        for i, packet in enumerate(PACKETS):
            source = tmp_path / f"packet{i}.txt"
            source.write_text(packet)
            subprocess.run(
                [
                    "radclient",
                    *family_flag,
                    "-r",
                    "3",
                    "-t",
                    "3",  # the one deliberate re-send; a shorter wait re-sends again on a busy machine
                    "-q",
                    "-f",
                    str(source),
                    target,
                    "acct",
                    SECRET,
                ],
                check=True,
                timeout=30,
            )
        dumpcap.communicate(timeout=60)  # it stops by itself after the 7 packets
    finally:
        if dumpcap.poll() is None:
            dumpcap.terminate()
        dumpcap.communicate()
    return out


@pytest.mark.parametrize(
    ("interface", "linktype"),
    [(["-i", "lo"], "Ethernet"), (["-i", "any", "-y", "LINUX_SLL2"], "Linux cooked v2")],
)
def test_radclient_accounting_captured_by_dumpcap(
    tmp_path: Path, server: tuple[AccountingServer, str], interface: list[str], linktype: str
) -> None:
    srv, target = server
    family_flag = ["-6"] if target.startswith("[") else ["-4"]
    path = _capture(tmp_path, interface, srv.port, target, family_flag)
    assert srv.dropped.is_set()
    report = ReadReport()
    records = list(records_from_pcap(path, SECRET, report, ports=[srv.port]))
    start = datetime.fromtimestamp(T0, UTC)
    assert [
        (
            r.line,
            r.session,
            r.start,
            r.duration_s,
            r.bytes_up,
            r.bytes_down,
            r.cause,
            r.charging_id,
            r.sequence,
        )
        for r in records
    ] == [
        # the opaque Class is not a line id: the line is the Calling-Station-Id
        ("33612345678", "rc-0001", start, 3600, 4_000_000_000, 123456, 17, 31337, 1),
        # Acct-Input-Octets went from 4e9 to 1000 without Gigawords: one wrap
        (
            "33612345678",
            "rc-0001",
            start.replace(hour=11),
            1800,
            (1 << 32) + 1000 - 4_000_000_000,
            100_000,
            4,
            31337,
            2,
        ),
    ], linktype
    assert report.retransmissions == 1 and report.counter_wraps == 1
    assert report.rejected == 0 and report.unanswered_requests == 0 and report.packets == 7
