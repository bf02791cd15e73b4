"""The PPP bearer's real IP packets in the gateway's GTP-U capture, judged by tshark.

A device dials PPP on the virtual modem with the gateway writing a capture; it exchanges TCP, UDP,
ICMP and DNS through the forwarder.  tshark reads the pcap: every G-PDU's inner IP packet is one
that crossed the PPP line (the same octets, the same count, in order each way), uplink ones from
the SGSN to the GGSN with the GGSN's TEID Data of the Create PDP Context Response, downlink ones
back with the SGSN's TEID Data of the Create request; their sum equals the usage record's bytes
and the RADIUS Stop's octets.  The lwIP client (written by others) does the same through a pty,
and `m2msim modem serve --capture` writes the same file for a device on its TCP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ipaddress
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.capture import PcapCapture, ReadReport, records_from_pcap
from gateway.capture.frames import PcapStream
from gateway.internet import ECHO_ADDRESS, Internet, Target
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import preset
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.bearer import DNS_SERVERS, OWN_ADDRESS
from modem.virtual.ppp.ip import build_icmp, build_udp
from modem.virtual.ppp.link import PppLink
from modem.virtual.scenario import ServeScenario, provision
from tests.modem.pppdevice import Device, TcpClient, no_timers
from tests.modem.test_ppp_lwip import SERVER_ADDRESS, build_client, ip_packets, run_client
from tests.modem.test_virtual_serve import serve
from tests.netparts import EPOCH, RecordSink

SECRET = "ppp-capture-secret"
TSHARK = shutil.which("tshark")

if TSHARK is None:
    print("tshark is not installed (Debian package tshark; .ci/run installs it): PPP capture tests skipped")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")


def tshark(path: Path, *args: str) -> str:
    assert TSHARK is not None
    done = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", f"radius.shared_secret:{SECRET}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def fields(path: Path, display: str, *names: str) -> list[list[str]]:
    out = tshark(path, "-Y", display, "-T", "fields", *(a for n in names for a in ("-e", n)))
    return [line.split("\t") for line in out.splitlines() if line]


@dataclass(frozen=True)
class Gpdu:
    number: int  # the frame's number in the file
    src: str  # the outer IPv4 addresses (SGSN, GGSN)
    dst: str
    teid: int
    inner: bytes  # the T-PDU, as tshark delimits it: from its inner IP layer, gtp.length octets


def gpdus(path: Path) -> list[Gpdu]:
    """The G-PDUs of a capture as tshark dissects them, in file order."""
    out = tshark(
        path, "-Y", "gtp.message == 0xff", "-T", "json", "-x", "--no-duplicate-keys", "-j", "frame ip gtp"
    )
    found = []
    for packet in json.loads(out):
        layers = packet["_source"]["layers"]
        frame = bytes.fromhex(layers["frame_raw"][0])
        outer, inner = layers["ip"]  # two IPv4 layers: the GTP path's, then the user's
        length = int(layers["gtp"]["gtp.length"])
        start = layers["ip_raw"][1][1]  # where tshark found the inner IP header
        assert int(inner["ip.len"]) == length  # the T-PDU is exactly one IP packet
        found.append(
            Gpdu(
                int(layers["frame"]["frame.number"]),
                outer["ip.src"],
                outer["ip.dst"],
                int(layers["gtp"]["gtp.teid"], 16),
                frame[start : start + length],
            )
        )
    return found


def check_capture(path: Path, up: list[bytes], down: list[bytes], record_up: int, record_down: int) -> None:
    """tshark's view of `path` against the IP packets that crossed PPP each way and the record."""
    config = NetworkConfig(epoch=EPOCH)
    assert fields(path, "_ws.malformed || _ws.expert.severity >= error", "frame.number") == []
    ((sgsn_teid, _request_address),) = fields(path, "gtp.message == 16", "gtp.teid_data", "gtp.user_ipv4")
    ((ggsn_teid, address),) = fields(path, "gtp.message == 17", "gtp.teid_data", "gtp.user_ipv4")
    found = gpdus(path)
    uplink = [g for g in found if (g.src, g.dst) == (config.sgsn_address, config.ggsn_address)]
    downlink = [g for g in found if (g.src, g.dst) == (config.ggsn_address, config.sgsn_address)]
    assert len(uplink) + len(downlink) == len(found)
    assert [g.inner for g in uplink] == up and [g.inner for g in downlink] == down
    assert {g.teid for g in uplink} == {int(ggsn_teid, 16)} and {g.teid for g in downlink} == {
        int(sgsn_teid, 16)
    }
    device = ipaddress.IPv4Address(address).packed
    assert all(g.inner[12:16] == device for g in uplink) and all(g.inner[16:20] == device for g in downlink)
    assert (sum(map(len, up)), sum(map(len, down))) == (record_up, record_down)
    ((octets_in, octets_out),) = fields(
        path, "radius.Acct_Status_Type == 2", "radius.Acct_Input_Octets", "radius.Acct_Output_Octets"
    )
    assert (int(octets_in), int(octets_out)) == (record_up, record_down)


def captured_modem(sink: RecordSink, capture: PcapCapture) -> tuple[Network, VirtualModem]:
    """A network writing `capture` and a provisioned SIM800 on it, its link unshaped."""
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink, capture=capture)
    modem = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
    )
    provision(net, modem, ServeScenario())
    return net, modem


def registered_with_context(m: VirtualModem) -> None:
    """Echo off, registered, context 1 on the private APN: ready for `ATD*99#`."""
    m.feed(b"ATE0\r", 0.0)
    m.poll(m.profile.search_s + 1.0)
    m.feed(b'AT+CGDCONT=1,"IP","orange.m2m.spec"\r', m.now)
    m.take_output()


def test_every_ip_packet_of_a_ppp_session_is_in_the_capture_inside_gtp_u(tmp_path: Path) -> None:
    path = tmp_path / "ppp.pcap"
    sink = RecordSink()
    with PcapCapture(path, EPOCH, SECRET) as capture:
        net, m = captured_modem(sink, capture)
        registered_with_context(m)
        dev = Device(m, user="33612345678", password="secret")
        assert dev.dial() == b"\r\nCONNECT\r\n" and dev.link.ip is not None
        echo = ipaddress.IPv4Address(ECHO_ADDRESS).packed
        dev.ping(ipaddress.IPv4Address(OWN_ADDRESS).packed, b"p" * 64)
        dev.send(build_udp(dev.address, echo, 5000, 7, b"udp through the tunnel"))
        query = (
            b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04demo\x07example\x03com\x00\x00\x01\x00\x01"
        )
        dev.send(build_udp(dev.address, ipaddress.IPv4Address(DNS_SERVERS[0]).packed, 5353, 53, query))
        tcp = TcpClient(dev, echo, 7)
        tcp.connect()
        tcp.write(bytes(range(256)) * 12)  # 3,072 octets: three segments each way
        tcp.close()
        tcp.read()
        assert bytes(tcp.data) == bytes(range(256)) * 12 and tcp.peer_fin
        dev.link.terminate("done")
        dev.pump()
        assert m.ppp is None
        net.flush(m.now + 1.0)
        assert (
            capture.user_packets_real == len(dev.sent) + len(dev.received)
            and capture.user_packets_sampled == 0
        )
    (record,) = [r for r in sink.data() if r.session is not None]
    assert len(dev.sent) >= 8 and len(dev.received) >= 8
    check_capture(path, dev.sent, dev.received, record.bytes_up, record.bytes_down)
    report = ReadReport()
    assert list(records_from_pcap(path, SECRET, report=report)) == [record]  # the G-PDUs are no RADIUS
    assert report.rejected == 0 and not report.other_ports


def test_a_ppp_session_over_12_hours_cuts_its_records_between_packets(tmp_path: Path) -> None:
    path = tmp_path / "long.pcap"
    sink = RecordSink()
    with PcapCapture(path, EPOCH, SECRET) as capture:
        net, m = captured_modem(sink, capture)
        registered_with_context(m)
        dev = Device(m)
        dev.dial()
        echo = ipaddress.IPv4Address(ECHO_ADDRESS).packed
        dev.ping(echo, b"before " * 20)
        dev.send(build_udp(dev.address, echo, 5000, 7, b"still the first period"))
        m.poll(m.now + 13 * 3600)  # thirteen hours later, still online
        dev.pump()
        dev.ping(echo, b"after " * 30)
        dev.link.terminate("done")
        dev.pump()
        net.flush(m.now + 1.0)
    records = [r for r in sink.data() if r.session is not None]
    assert [r.cause for r in records] == [17, 0]
    ((interim, up1, down1), (stop, up2, down2)) = [
        tuple(map(int, row))
        for row in fields(
            path,
            "radius.Acct_Status_Type == 2 || radius.Acct_Status_Type == 3",
            "frame.number",
            "radius.Acct_Input_Octets",
            "radius.Acct_Output_Octets",
        )
    ]
    config = NetworkConfig(epoch=EPOCH)
    found = gpdus(path)

    def octets(before: int, src: str) -> int:
        return sum(len(g.inner) for g in found if g.number < before and g.src == src)

    # the Interim-Update's counters are the G-PDUs before it, the Stop's all of them: cut between packets
    assert (up1, down1) == (octets(interim, config.sgsn_address), octets(interim, config.ggsn_address))
    assert (up2, down2) == (octets(stop, config.sgsn_address), octets(stop, config.ggsn_address))
    assert (records[0].bytes_up, records[0].bytes_down) == (up1, down1) and up1 > 0 and up2 > up1
    check_capture(path, dev.sent, dev.received, up2, down2)


def test_lwip_pppos_packets_are_the_capture_s_g_pdus(tmp_path: Path) -> None:
    client = build_client()
    asyncio.run(asyncio.wait_for(_lwip_exchange(client, tmp_path / "lwip.pcap"), 120))


async def _lwip_exchange(client: Path, path: Path) -> None:
    message = b"lwIP through GTP-U " * 150  # 2,850 octets: several segments each way

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readexactly(len(message))
        writer.write(b"ECHO:" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink = RecordSink()
    with PcapCapture(path, EPOCH, SECRET) as capture:
        net, modem = captured_modem(sink, capture)
        modem.internet = Internet(hosts={SERVER_ADDRESS: Target(host="127.0.0.1", port=port)})
        try:
            dialled = await run_client(
                client, modem, LoopClock(asyncio.get_running_loop(), 0.0, 1.0), message.decode()
            )
        finally:
            server.close()
            await server.wait_closed()
        assert dialled.returncode == 0, f"{dialled.out[-2000:]}\n{dialled.err[-2000:]}"
        assert "recv ECHO:" + message.decode() in dialled.out
        net.flush(modem.now + 1.0)
    (record,) = [r for r in sink.data() if r.session is not None]
    up, down = ip_packets(dialled.to_modem), ip_packets(dialled.from_modem)
    check_capture(path, up, down, record.bytes_up, record.bytes_down)


def test_serve_writes_the_capture_of_a_ppp_session(tmp_path: Path) -> None:
    records, path = tmp_path / "usage.csv", tmp_path / "gateway.pcap"
    with path.open("wb") as f:  # an earlier capture (of nothing): replaced
        PcapStream(f)
    proc = serve(
        *("--profile", "simcom-sim800", "--tcp", "0", "--control", "none", "--net", "full"),
        *("--records", str(records), "--capture", str(path)),
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sent, received = _dial_and_exchange(sock)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].endswith(f"; usage records in {records}; capture in {path}")
    with records.open(newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["type"] == "data"]
    check_capture(path, sent, received, int(row["bytes_up"]), int(row["bytes_down"]))


def _dial_and_exchange(sock: socket.socket) -> tuple[list[bytes], list[bytes]]:
    """AT, dial, PPP with the project's client, a ping and a UDP echo, LCP Terminate: the IP sent and received."""

    def until(want: bytes, line: bytes = b"") -> bytes:
        if line:
            sock.sendall(line + b"\r")
        got = b""
        while want not in got:
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        return got

    until(b"OK", b"ATE0")
    until(b"OK", b'AT+CGDCONT=1,"IP","orange.m2m.spec"')
    for _ in range(100):  # registered after the profile's 2 s of search
        if b"+CGREG: 0,1" in until(b"OK", b"AT+CGREG?"):
            break
        sock.settimeout(0.1)
        with contextlib.suppress(TimeoutError):
            sock.recv(1)  # nothing comes: a bounded pause of 0.1 s between two questions
        sock.settimeout(10)
    until(b"CONNECT\r\n", b"ATD*99#")
    received: list[bytes] = []
    link = PppLink(
        "device",
        sock.sendall,
        no_timers,
        random.Random(3),
        user="33612345678",
        password="x",
        on_ip=received.append,
    )
    link.start()
    while link.ip is None:
        link.receive(sock.recv(4096))
    me, echo = link.ip.local, ipaddress.IPv4Address(ECHO_ADDRESS).packed
    sent = [
        build_icmp(me, echo, 8, 0, b"\x12\x34\x00\x01" + b"served ping"),
        build_udp(me, echo, 6000, 7, b"served udp " * 40),
    ]
    for packet in sent:
        link.send_ip(packet)
    while len(received) < len(sent):
        link.receive(sock.recv(4096))
    link.terminate("done")
    tail = b""
    while b"NO CARRIER" not in tail:
        data = sock.recv(4096)
        assert data, tail
        link.receive(data)
        tail = (tail + data)[-64:]
    return sent, received


def test_serve_refuses_records_without_a_network(tmp_path: Path) -> None:
    """`--records R --no-network`: the serve records nothing (no network), and its end put an
    empty file in place of an earlier serve's records R (with no R, it failed at the rename after
    serving).  Refused before serving, R left as it is."""
    records = tmp_path / "usage.csv"
    records.write_text("line,start,duration_s,bytes_up,bytes_down\n")
    command = [sys.executable, "-m", "m2msim", "modem", "serve", "--records", str(records), "--no-network"]
    done = subprocess.run([*command, "--check"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line == "m2msim modem serve: --records: there is no network to record usage with --no-network"
    assert records.read_text() == "line,start,duration_s,bytes_up,bytes_down\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--capture", "{notes}"], "--capture {notes}: exists and was not written by m2msim"),
        (["--capture", "{dir}"], "--capture {dir}: is a directory, expected a file name"),
        (
            ["--capture", "{out}", "--no-network"],
            "--capture: there is no network to capture with --no-network",
        ),
        (["--capture", "{out}", "--records", "{out}"], "--capture {out}: is also the --records file"),
    ],
)
def test_serve_refuses_a_capture_it_cannot_write_with_one_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a capture: never replaced\n")
    names = {"notes": str(notes), "dir": str(tmp_path), "out": str(tmp_path / "out.pcap")}
    command = [sys.executable, "-m", "m2msim", "modem", "serve", "--check"]
    done = subprocess.run(
        command + [o.format(**names) for o in options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("m2msim modem serve: " + message.format(**names))
    assert notes.read_text() == "not a capture: never replaced\n"
