"""The capture reader on traffic other tools made and captured: FreeRADIUS's `radclient` sends accounting
over loopback (IPv4 and IPv6) to this test's own UDP server, and Wireshark's `dumpcap` captures it
(`-i lo`: Ethernet link type; `-i any`: Linux cooked v2).  Skipped, saying why, without those tools.

Nothing here depends on how fast the machine is: dumpcap prints "Capturing on" before it opens the
interface, so the test sends marker datagrams to a port of its own and starts radclient only once one of
them is in the file, and stops dumpcap only once a last marker, sent after radclient ended, is in the file
(dumpcap flushes the file before each "Packets: N" report on stderr: each report is the moment to look).
radclient may re-send a request more often than the one deliberate time on a busy machine: the capture is
compared with every datagram the server received and sent, however many there were."""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.capture import ReadReport, records_from_pcap
from gateway.capture.pcapfile import CaptureFileError, read_packets

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
    (so that radclient must re-send it); keeps every Accounting-Request received and response sent."""

    def __init__(self, family: int, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()
        self.port = self.address[1]
        self.family = family
        self.requests: list[bytes] = []
        self.responses: list[bytes] = []
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
            self.requests.append(msg)
            if INTERIM in msg and not self.dropped.is_set():
                self.dropped.set()
                continue
            head = bytes((5, msg[1])) + (20).to_bytes(2, "big")
            auth = hashlib.md5(head + msg[4:20] + SECRET.encode()).digest()
            self.responses.append(head + auth)  # before sending: radclient ends only after it got it
            self.sock.sendto(head + auth, peer)

    def close(self) -> None:
        self.stopping.set()
        with socket.socket(self.family, socket.SOCK_DGRAM) as wake:  # unblocks recvfrom
            wake.sendto(b"stop", self.address)
        self.thread.join()
        self.sock.close()


EVENTS = [T0, T0 + 3600, T0 + 5400]  # the Event-Timestamp of each
INTERIM = b"\x28\x06\x00\x00\x00\x03"  # Acct-Status-Type = Interim-Update


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


LINK_HEADER = {1: 14, 276: 20}  # Ethernet, Linux cooked v2


def datagrams(path: Path) -> Iterator[tuple[int, int, int, bytes]]:
    """(link type, source port, destination port, payload) of each UDP datagram of a loopback capture."""
    for _ts, linktype, frame in read_packets(path):
        ip = frame[LINK_HEADER[linktype] :]
        udp = ip[(ip[0] & 0x0F) * 4 :] if ip[0] >> 4 == 4 else ip[40:]  # loopback IPv6: no extension header
        sport, dport, length = struct.unpack_from("!HHH", udp)
        yield linktype, sport, dport, udp[8:length]


class Capture:
    """dumpcap writing a pcapng, and marker datagrams (to a port of their own, in the capture filter) that
    tell when the capture has seen everything sent before them."""

    def __init__(self, tmp_path: Path, interface: list[str], srv: AccountingServer) -> None:
        self.path = tmp_path / "radclient.pcapng"
        self.sink = socket.socket(srv.family, socket.SOCK_DGRAM)
        self.sink.bind((srv.address[0], 0))
        self.marker_port = self.sink.getsockname()[1]
        self.stderr = b""
        self.dumpcap = subprocess.Popen(
            [
                "dumpcap",
                *interface,
                "-f",
                f"udp port {srv.port} or udp port {self.marker_port}",
                "-a",
                "duration:120",  # a bound if the test itself hangs; it stops dumpcap long before
                "-w",
                str(self.path),
            ],
            stderr=subprocess.PIPE,
        )

    def markers(self) -> list[bytes]:
        try:
            return [p for _l, _s, d, p in datagrams(self.path) if d == self.marker_port]
        except (CaptureFileError, FileNotFoundError, struct.error, IndexError, KeyError):
            return []  # not written yet, or a block half flushed: the next report says when to look again

    def _more_stderr(self, deadline: float) -> bool:
        """Wait (until `deadline`) for dumpcap to say something more; False at the deadline or its end."""
        assert self.dumpcap.stderr is not None
        fd = self.dumpcap.stderr.fileno()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return False
        chunk = os.read(fd, 4096)
        self.stderr += chunk
        return bool(chunk)

    def mark(self, marker: bytes, timeout: float) -> bool:
        """Send `marker` and wait, at most `timeout` seconds, until it is in the file; False if it is not
        (or dumpcap ended)."""
        self.sink.sendto(marker, self.sink.getsockname())
        deadline = time.monotonic() + timeout
        while marker not in self.markers():
            if not self._more_stderr(deadline):  # "Packets: N": the file was flushed just before
                return False
        return True

    def start(self) -> None:
        """Return once the capture is running (a marker is in the file), or skip if dumpcap cannot capture."""
        deadline = time.monotonic() + 30
        while b"\nFile: " not in self.stderr and self._more_stderr(deadline):
            pass  # "Capturing on" comes before the interface is open, "File:" once it is
        for attempt in range(10):
            if self.mark(b"m2msim capture running %d" % attempt, timeout=3):
                return
            if self.dumpcap.poll() is not None:
                break
        self.stop()
        message = self.stderr.decode(errors="replace").strip()
        if self.dumpcap.returncode not in (None, 0):
            pytest.skip(f"dumpcap cannot capture here: {message}")
        pytest.fail(f"dumpcap captured none of the marker datagrams: {message}")

    def finish(self) -> None:
        """Stop dumpcap once everything sent so far is in the file."""
        seen = self.mark(b"m2msim capture end", timeout=30)
        self.stop()
        assert seen, (
            f"the last marker datagram never reached the capture: {self.stderr.decode(errors='replace')}"
        )

    def stop(self) -> None:
        if self.dumpcap.poll() is None:
            self.dumpcap.terminate()  # dumpcap writes out what it captured and ends
        _out, err = self.dumpcap.communicate(timeout=60)
        self.stderr += err or b""
        self.sink.close()


def _capture(
    tmp_path: Path, interface: list[str], srv: AccountingServer, target: str, family_flag: list[str]
) -> Capture:
    capture = Capture(tmp_path, interface, srv)
    try:
        capture.start()
        for i, (packet, event) in enumerate(zip(PACKETS, EVENTS, strict=True)):
            source = tmp_path / f"packet{i}.txt"
            # sent now, the NAS says how long after its event (RFC 2866 5.2: else the reader takes the
            # Event-Timestamps, months before the capture's time, for a NAS clock that is wrong)
            source.write_text(packet + f"Acct-Delay-Time = {max(0, int(time.time()) - event)}\n")
            subprocess.run(
                [
                    "radclient",
                    *family_flag,
                    "-r",
                    "3",
                    "-t",
                    "3",  # the one deliberate re-send; more on a busy machine are compared all the same
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
        capture.finish()
    finally:
        if capture.dumpcap.poll() is None:
            capture.stop()
    return capture


@pytest.mark.parametrize(
    ("interface", "linktype"),
    [(["-i", "lo"], 1), (["-i", "any", "-y", "LINUX_SLL2"], 276)],
)
def test_radclient_accounting_captured_by_dumpcap(
    tmp_path: Path, server: tuple[AccountingServer, str], interface: list[str], linktype: int
) -> None:
    srv, target = server
    family_flag = ["-6"] if target.startswith("[") else ["-4"]
    capture = _capture(tmp_path, interface, srv, target, family_flag)
    path = capture.path
    assert srv.dropped.is_set()

    # every datagram radclient and the server exchanged is in the capture, once, with the right link type
    seen = list(datagrams(path))
    assert {lt for lt, *_ in seen} == {linktype}
    requests = Counter(p for _l, _s, d, p in seen if d == srv.port)
    responses = Counter(p for _l, s, _d, p in seen if s == srv.port)
    markers = [p for _l, _s, d, p in seen if d == capture.marker_port]
    assert len(markers) + sum(requests.values()) + sum(responses.values()) == len(seen)
    assert markers[-1] == b"m2msim capture end"
    assert requests == Counter(srv.requests) and responses == Counter(srv.responses)
    # three requests and their three responses; the Interim-Update re-sent (at least the deliberate once)
    assert len(requests) == 3 and len(responses) == 3
    interim = [n for msg, n in requests.items() if INTERIM in msg]
    assert len(interim) == 1 and interim[0] >= 2

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
    ]
    assert report.counter_wraps == 1 and report.rejected == 0 and report.unanswered_requests == 0
    assert report.packets == len(seen) and report.authenticated_requests == 3
    assert report.retransmissions == sum(requests.values()) - 3
    assert report.duplicate_responses == sum(responses.values()) - 3
