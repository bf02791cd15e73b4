"""The PPP bearer's real IP packets in the gateway's GTP-U capture, judged by tshark.

A device dials PPP on the virtual modem with the gateway writing a capture; it exchanges TCP, UDP,
ICMP and DNS through the forwarder.  tshark reads the pcap: every G-PDU's inner IP packet is one
that crossed the PPP line (the same octets, the same count, in order each way), uplink ones from
the SGSN to the GGSN with the GGSN's TEID Data of the Create PDP Context Response, downlink ones
back with the SGSN's TEID Data of the Create request; their sum equals the usage record's bytes
and the RADIUS Stop's octets.  The lwIP client (written by others) does the same through a pty.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.capture import PcapCapture
from gateway.internet import ECHO_ADDRESS, Internet, Target
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import preset
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.bearer import DNS_SERVERS, OWN_ADDRESS
from modem.virtual.ppp.hdlc import FrameDecoder
from modem.virtual.ppp.ip import build_udp
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint
from tests.modem.pppdevice import Device, TcpClient
from tests.modem.test_ppp_lwip import build_client
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


def test_every_ip_packet_of_a_ppp_session_is_in_the_capture_inside_gtp_u(tmp_path: Path) -> None:
    path = tmp_path / "ppp.pcap"
    sink = RecordSink()
    with PcapCapture(path, EPOCH, SECRET) as capture:
        net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink, capture=capture)
        m = VirtualModem(
            load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
        )
        provision(net, m, ServeScenario())
        m.feed(b"ATE0\r", 0.0)
        m.poll(m.profile.search_s + 1.0)  # registered
        m.feed(b'AT+CGDCONT=1,"IP","orange.m2m.spec"\r', m.now)
        m.take_output()
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


def ip_packets(stream: bytes) -> list[bytes]:
    """The IPv4 packets (protocol 0x0021) in a stream of PPP frames, up to the first Terminate-Request
    of IPCP or LCP (IP after it is dropped by the receiver: its IPCP is no longer open)."""
    found = []
    for proto, info in FrameDecoder(accm=0).feed(stream):
        if proto in (0x8021, 0xC021) and info[:1] == b"\x05":
            break
        if proto == 0x21:
            found.append(info)
    return found


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
    to_modem, from_modem = bytearray(), bytearray()
    with PcapCapture(path, EPOCH, SECRET) as capture:
        net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink, capture=capture)
        modem = VirtualModem(
            load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
        )
        provision(net, modem, ServeScenario())
        modem.internet = Internet(hosts={"192.0.2.80": Target(host="127.0.0.1", port=port)})
        endpoint = PtyEndpoint(modem, LoopClock(asyncio.get_running_loop(), 0.0, 1.0))
        feed, sink_out = endpoint.runner.feed, endpoint.runner.sink

        def tap_in(data: bytes) -> None:
            to_modem.extend(data)
            feed(data)

        def tap_out(data: bytes) -> None:
            from_modem.extend(data)
            sink_out(data)

        endpoint.runner.feed = tap_in  # type: ignore[method-assign]
        endpoint.runner.sink = tap_out
        try:
            proc = await asyncio.create_subprocess_exec(
                str(client),
                endpoint.path,
                "orange.m2m.spec",
                "192.0.2.80",
                "7000",
                message.decode(),
                "33612345678",
                "secret",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        finally:
            endpoint.close()
            server.close()
            await server.wait_closed()
        assert proc.returncode == 0, f"{out.decode()[-2000:]}\n{err.decode()[-2000:]}"
        assert b"recv ECHO:" + message in out
        net.flush(modem.now + 1.0)
    (record,) = [r for r in sink.data() if r.session is not None]
    up, down = ip_packets(bytes(to_modem)), ip_packets(bytes(from_modem))
    check_capture(path, up, down, record.bytes_up, record.bytes_down)
