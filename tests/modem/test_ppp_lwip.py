"""Interop: lwIP's PPPoS client (written by others) dials the virtual modem through a pty.

The client (tests/modem/lwip_pppos/client.c) is built with cc from the lwIP sources of Debian's
`lwip` source package (Debian's liblwip0 is built without PPP), which `.ci/run` unpacks under
/usr/local/src/m2msim-lwip (or $M2MSIM_LWIP_SRC); it is cached in the temporary folder by the
sources' hash.  It defines context 1 (AT+CGDCONT), waits for the registration, dials ATD*99#, negotiates LCP / CHAP / IPCP, opens a TCP connection
through the forwarder to a server on loopback, and hangs up with LCP Terminate.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.internet import Internet, Target
from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import Conditions, conditions_from, preset
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.bearer import PppBearer
from modem.virtual.ppp.hdlc import FrameDecoder
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint
from tests.netparts import EPOCH, RecordSink

HERE = Path(__file__).parent / "lwip_pppos"
SERVER_ADDRESS = "192.0.2.80"  # what the device dials; the Internet table sends it to loopback


def lwip_sources() -> Path | None:
    root = Path(os.environ.get("M2MSIM_LWIP_SRC", "/usr/local/src/m2msim-lwip"))
    found = sorted(root.glob("lwip-*/src/netif/ppp/pppos.c"))
    return found[-1].parents[2] if found else None


def build_client() -> Path:
    src = lwip_sources()
    if src is None:
        pytest.skip(
            "lwIP sources not found under $M2MSIM_LWIP_SRC or /usr/local/src/m2msim-lwip (.ci/run unpacks them)"
        )
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build lwIP's PPPoS client")
    files = sorted(
        [
            *src.glob("core/*.c"),
            *src.glob("core/ipv4/*.c"),
            *src.glob("netif/ppp/*.c"),
            *src.glob("netif/ppp/polarssl/*.c"),
        ]
    )
    ours = [HERE / "client.c", HERE / "lwipopts.h", HERE / "arch" / "cc.h"]
    digest = hashlib.sha256()
    for f in [*ours, *files]:
        digest.update(f.read_bytes())
    out = Path(tempfile.gettempdir()) / f"m2msim-lwip-client-{digest.hexdigest()[:16]}"
    if not out.exists():
        tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
        cmd = [
            cc,
            "-O1",
            "-w",
            "-o",
            str(tmp),
            f"-I{HERE}",
            f"-I{src / 'include'}",
            str(HERE / "client.c"),
            *map(str, files),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            pytest.fail(f"building lwIP's PPPoS client failed:\n{done.stderr[-3000:]}")
        tmp.replace(out)
    return out


@dataclass(frozen=True)
class Dialled:
    """What a run of lwIP's client left: its exit status and output, the bytes each way on the pty."""

    returncode: int | None
    out: str
    err: str
    to_modem: bytes
    from_modem: bytes


async def run_client(
    client: Path,
    modem: VirtualModem,
    clock: LoopClock,
    message: str,
    address: str = SERVER_ADDRESS,
    port: int = 7000,
    mode: str = "tcp",
    mru: int = 0,
) -> Dialled:
    """lwIP's client against `modem` served on a pty: it dials (asking for `mru` when not 0), sends
    `message` to `address`:`port` over TCP or UDP (`mode`; the caller's Internet table says where
    that goes), reads the answer and hangs up."""
    endpoint = PtyEndpoint(modem, clock)
    to_modem, from_modem = bytearray(), bytearray()
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
            address,
            str(port),
            message,
            "33612345678",
            "secret",
            mode,
            str(mru),
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
    return Dialled(proc.returncode, out.decode(), err.decode(), bytes(to_modem), bytes(from_modem))


def ip_packets(stream: bytes) -> list[bytes]:
    """The IPv4 packets (protocol 0x0021) in a stream of PPP frames, up to the first Terminate-Request
    of IPCP or LCP: IP that follows is dropped by the receiver (its IPCP is no longer open)."""
    found = []
    for proto, info in FrameDecoder(accm=0).feed(stream):
        if proto in (0x8021, 0xC021) and info[:1] == b"\x05":
            break
        if proto == 0x21:
            found.append(info)
    return found


def ip_bytes(stream: bytes) -> int:
    return sum(map(len, ip_packets(stream)))


def served_modem(conditions: Conditions, port: int) -> tuple[VirtualModem, Network, RecordSink]:
    """A SIM800 on a network whose Internet table sends SERVER_ADDRESS to `port` on loopback."""
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    modem = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=conditions
    )
    provision(net, modem, ServeScenario())
    modem.internet = Internet(hosts={SERVER_ADDRESS: Target(host="127.0.0.1", port=port)})
    return modem, net, sink


def keep_bearers(monkeypatch: pytest.MonkeyPatch) -> list[PppBearer]:
    """The PPP bearers made from now on, as they are made."""
    bearers: list[PppBearer] = []
    init = PppBearer.__init__

    def keep(self: PppBearer, *args: Any) -> None:
        init(self, *args)
        bearers.append(self)

    monkeypatch.setattr(PppBearer, "__init__", keep)
    return bearers


@pytest.mark.parametrize(
    ("net", "netloss"),
    [
        ("full", None),  # no shaping: the exchange as fast as the pty goes
        ("umts", "5"),  # UMTS rates and latency, 5 % of IP packets lost: lwIP's TCP retransmits
    ],
)
def test_lwip_pppos_client_dials_gets_an_address_and_exchanges_tcp(
    net: str, netloss: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = build_client()
    bearers = keep_bearers(monkeypatch)
    conditions = conditions_from(preset(net), netloss=netloss)
    message = "hello from lwIP " * 200  # 3,200 bytes: several segments each way
    asyncio.run(asyncio.wait_for(_exchange(client, message, conditions, bearers), 120))


async def _exchange(client: Path, message: str, conditions: Conditions, bearers: list[PppBearer]) -> None:
    loop = asyncio.get_running_loop()
    got = bytearray()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while len(got) < len(message):
            chunk = await reader.read(65536)
            if not chunk:
                break
            got.extend(chunk)
        writer.write(b"ECHO:" + bytes(got))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    # the Internet table: the address the device dials leads to the local server
    modem, net, sink = served_modem(conditions, server.sockets[0].getsockname()[1])
    clock = LoopClock(loop, 0.0, 1.0)
    try:
        dialled = await run_client(client, modem, clock, message)
    finally:
        server.close()
        await server.wait_closed()
    text = dialled.out
    assert dialled.returncode == 0, f"{text[-2000:]}\n{dialled.err[-2000:]}"
    ctx = modem.net.contexts[1]
    lines = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    assert ipaddress.IPv4Address(lines["ip"]) in ipaddress.IPv4Network("10.64.0.0/12")
    assert lines["recv"] == "ECHO:" + message and bytes(got) == message.encode()
    assert ctx.auth == "chap" and ctx.user == "33612345678"
    assert modem.ppp is None and not ctx.active  # the device's LCP Terminate ended the bearer
    net.flush(modem.now + 1)
    (record,) = [r for r in sink.records if r.session is not None]
    # billed: exactly the IP packets that crossed the serial line, each way, less the uplink ones
    # the radio lost (they never reached the gateway); downlink ones lost were billed, not received
    (bearer,) = bearers
    assert record.bytes_up == ip_bytes(dialled.to_modem) - bearer.lost_up > len(message)
    assert record.bytes_down == ip_bytes(dialled.from_modem) + bearer.lost_down > len(message)
    if conditions.loss:
        assert bearer.lost_up + bearer.lost_down > 0  # the loss was there, and TCP got through it


def test_lwip_with_a_small_mru_gets_a_big_udp_answer_in_fragments(monkeypatch: pytest.MonkeyPatch) -> None:
    # lwIP asks for an MRU of 576 and sends a small UDP datagram; the server on the host answers
    # with a 1,238-byte IP packet, Don't Fragment set: it went out in one frame over the MRU (lwIP
    # takes it; a stack holding to its MRU drops it).  The modem drops it and tells the sender
    # (ICMP fragmentation needed); lwIP sends again after a second and the answer comes in
    # fragments that fit, which lwIP puts back together.
    client = build_client()
    bearers = keep_bearers(monkeypatch)
    asyncio.run(asyncio.wait_for(_udp_with_a_small_mru(client, bearers), 120))


async def _udp_with_a_small_mru(client: Path, bearers: list[PppBearer]) -> None:
    loop = asyncio.get_running_loop()
    big = b"A" * 1200

    class Answer(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(b"ECHO:" + data + big, addr)

    transport, _ = await loop.create_datagram_endpoint(Answer, local_addr=("127.0.0.1", 0))
    modem, net, sink = served_modem(preset("full"), transport.get_extra_info("sockname")[1])
    try:
        dialled = await run_client(client, modem, LoopClock(loop, 0.0, 1.0), "hello", mode="udp", mru=576)
    finally:
        transport.close()
    assert dialled.returncode == 0, f"{dialled.out[-2000:]}\n{dialled.err[-2000:]}"
    lines = dict(line.split(" ", 1) for line in dialled.out.splitlines() if " " in line)
    assert lines["recv"] == "ECHO:hello" + big.decode()
    down = ip_packets(dialled.from_modem)
    assert down and all(len(p) <= 576 for p in down)
    assert any(p[6] & 0x20 for p in down)  # More Fragments: the answer came in pieces
    (bearer,) = bearers
    assert bearer.too_big == 1 and bearer.lost_down == 20 + 8 + len("ECHO:hello") + len(big)
    net.flush(modem.now + 1)
    (record,) = [r for r in sink.records if r.session is not None]
    # billed: what crossed the radio, the answer dropped for Don't Fragment and the ICMP error included
    assert record.bytes_down == ip_bytes(dialled.from_modem) + bearer.lost_down
    # (the ICMP error quotes as much of the dropped answer as fits in 576 octets, as Linux does)
    assert record.bytes_up == ip_bytes(dialled.to_modem) + min(20 + 8 + bearer.lost_down, 576)
