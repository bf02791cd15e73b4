"""The PPP bearer's TUN path: the device's IP into a TUN device in a network namespace m2msim makes.

Needs root, /dev/net/tun and iproute2 (`tun_unavailable` says which is missing: the tests skip with
that reason).  Every namespace a test makes is removed when it ends, failed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.internet import ECHO_ADDRESS, Internet, Target
from gateway.network import Network, NetworkConfig
from gateway.wire import icmp_error_size
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import preset
from modem.virtual.core import VirtualModem
from modem.virtual.ppp.bearer import DNS_SERVERS, OWN_ADDRESS
from modem.virtual.ppp.ip import ICMP, TCP, UDP, build_icmp, build_udp, fragment, parse_ipv4, parse_tcp
from modem.virtual.ppp.netns import NETNS_DIR, OURS_DIR, Namespace, remove_stale
from modem.virtual.ppp.tun import TunNetwork, TunPath, tun_unavailable
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.transport import VirtualUrlError, open_virtual
from tests.modem.pppdevice import Device, TcpClient
from tests.modem.test_ppp import _reassembled, online, setup
from tests.modem.test_ppp_lwip import build_client, ip_bytes, run_client
from tests.netparts import EPOCH, RecordSink

OWN = ipaddress.IPv4Address(OWN_ADDRESS).packed
ECHO_HOST = ipaddress.IPv4Address(ECHO_ADDRESS).packed
ALLOWED = "192.0.2.10"  # under `allow`, and put on the namespace's loopback by the test
REFUSED = ipaddress.IPv4Address("198.51.100.7").packed

REASON = tun_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no TUN path here: {REASON}")

_names = iter(range(1000))


def namespace_name() -> str:
    return f"m2msim-test-{os.getpid()}-{next(_names)}"


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


@pytest.fixture
def tun() -> Iterator[TunNetwork]:
    network = TunNetwork.open(namespace_name())
    try:
        yield network
    finally:
        network.close()
    assert not exists(network.namespace.name)


class Online:
    """A device dialled into a modem whose bearer uses `tun`; `wait` pumps what the TUN sends back."""

    def __init__(self, tun: TunNetwork | None, internet: Internet | None = None, **link: object) -> None:
        m, self.net, self.sink = setup()
        if internet is not None:
            m.internet = internet
        m.tun = tun  # None: the user-space forwarder's path alone
        self.arrived = asyncio.Event()

        def external(fn: Callable[[], None]) -> None:
            fn()
            self.arrived.set()

        m.external = external
        self.dev = Device(m, user="33612345678", password="secret", **link)
        assert self.dev.dial() == b"\r\nCONNECT\r\n"
        assert m.ppp is not None and m.ppp.forwarder is not None
        assert isinstance(m.ppp.forwarder.kernel, TunPath) or tun is None

    async def wait(self, count: int) -> None:
        """Until the device has received `count` packets in all."""
        dev = self.dev
        dev.pump()
        while len(dev.received) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)
            dev.pump()


def _listening() -> socket.socket:
    """A TCP server's socket on every address (made in the namespace by `Namespace.call`)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    s.listen()
    return s


def _udp_server() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.setblocking(False)
    return s


async def test_the_namespace_kernel_answers_ping_and_a_udp_server_there_sees_the_device(
    tun: TunNetwork,
) -> None:
    o = Online(tun)
    dev = o.dev
    ctx = dev.m.net.contexts[1]
    up0, down0 = ctx.bytes_up, ctx.bytes_down
    dev.ping(OWN, b"real kernel")
    await o.wait(1)
    reply = parse_ipv4(dev.received[0])
    assert reply is not None and reply.proto == ICMP and reply.src == OWN and reply.payload[0] == 0
    assert reply.payload.endswith(b"real kernel")
    server = tun.namespace.call(_udp_server)  # a server in the namespace, as `ip netns exec` starts one
    try:
        port = server.getsockname()[1]
        dev.send(build_udp(dev.address, OWN, 40000, port, b"hello from the device"))
        data, peer = await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(server, 2048), 10)
        assert data == b"hello from the device"
        assert peer == (ctx.ip, 40000)  # a real IP host: the server sees the device's own address
        server.sendto(b"answer " * 100, peer)
        await o.wait(2)
    finally:
        server.close()
    answer = parse_ipv4(dev.received[1])
    assert answer is not None and answer.proto == UDP and answer.payload[8:] == b"answer " * 100
    # billed: the real packets, as they crossed the line
    assert ctx.bytes_up - up0 == sum(len(p) for p in dev.sent)
    assert ctx.bytes_down - down0 == sum(len(p) for p in dev.received)
    assert tun.packets_in == 2 and tun.packets_out == 2


async def test_the_kernel_and_the_forwarder_answer_a_closed_port_with_errors_of_one_size(
    tun: TunNetwork,
) -> None:
    """Datagrams of 35, 200 and 1,028 octets to a port nothing listens on at the gateway's address:
    the namespace's kernel answers each "port unreachable", quoting as much of it as fits in 576
    octets (Linux's icmp_send); the forwarder, without TUN, answers the same datagrams with errors
    of the same size (it quoted 28 octets: 56 each), billed alike, as the module stacks bill theirs."""
    o = Online(tun)
    dev = o.dev
    ctx = dev.m.net.contexts[1]
    down0 = ctx.bytes_down
    sizes = (7, 172, 1000)
    for i, n in enumerate(sizes):
        dev.send(build_udp(dev.address, OWN, 40000 + i, 9, bytes(n)))
        await o.wait(i + 1)
    kernel = [parse_ipv4(p) for p in dev.received]
    assert [(ip.src, ip.payload[:2]) for ip in kernel if ip is not None] == [(OWN, b"\x03\x03")] * 3
    assert [ip.payload[8:] for ip in kernel if ip is not None] == [d[: 576 - 28] for d in dev.sent]
    lengths = [len(p) for p in dev.received]
    assert lengths == [20 + 8 + 28 + 7, 20 + 8 + 28 + 172, 576]  # 63, 228: the datagram quoted whole
    assert ctx.bytes_down - down0 == sum(lengths) and tun.packets_out == 3

    plain, _, _ = online()  # the forwarder's path
    pctx = plain.m.net.contexts[1]
    down0 = pctx.bytes_down
    for i, n in enumerate(sizes):
        plain.send(build_udp(plain.address, OWN, 40000 + i, 9, bytes(n)))
    forwarded = [parse_ipv4(p) for p in plain.received]
    assert [(ip.src, ip.payload[:2]) for ip in forwarded if ip is not None] == [(OWN, b"\x03\x03")] * 3
    assert [len(p) for p in plain.received] == lengths and pctx.bytes_down - down0 == sum(lengths)
    assert [icmp_error_size(len(d)) for d in plain.sent] == lengths  # the module stacks' bill


async def _tcp_exchange(o: Online, port: int, *chunks: bytes) -> TcpClient:
    """The device connects to `port` at the gateway's address, sends `chunks` and reads to the FIN."""
    c = TcpClient(o.dev, OWN, port)
    c._send(0x02)  # SYN: the namespace's kernel answers
    await o.wait(1)
    c.read()
    for chunk in chunks:
        c.write(chunk)
    while not c.peer_fin:
        await o.wait(len(o.dev.received) + 1)
        c.read()
    return c


async def test_tcp_to_a_server_in_the_namespace(tun: TunNetwork) -> None:
    got = bytearray()
    peers: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        got.extend(await reader.readexactly(3000))
        writer.write(b"ECHO:" + bytes(got))
        await writer.drain()
        writer.close()

    sock = tun.namespace.call(_listening)
    server = await asyncio.start_server(serve, sock=sock)
    try:
        o = Online(tun)
        dev = o.dev
        c = await _tcp_exchange(o, sock.getsockname()[1], b"t" * 1000, b"t" * 2000)
    finally:
        server.close()
        await server.wait_closed()
    assert bytes(c.data) == b"ECHO:" + b"t" * 3000
    assert peers == [dev.m.net.contexts[1].ip]
    ctx = dev.m.net.contexts[1]
    assert ctx.bytes_up == sum(len(p) for p in dev.sent)
    assert ctx.bytes_down == sum(len(p) for p in dev.received)
    segments = [parse_ipv4(p) for p in dev.received]
    assert all(s is not None and s.proto == TCP and s.src == OWN for s in segments)
    assert any(s is not None and (t := parse_tcp(s.payload)) is not None and t.flags & 0x01 for s in segments)


async def test_tcp_to_a_device_with_a_small_mru_comes_in_segments_that_fit(tun: TunNetwork) -> None:
    # The device asked for an MRU of 576 but its SYN says MSS 1400 (a stack with a fixed MSS): the
    # kernel's 1,440-byte segments were sent whole.  The modem lowers the SYN's MSS
    # to the MRU less 40 ("TCP MSS adjust"): every segment fits, none is dropped, the bill is the
    # line's IP bytes each way.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(5)
        writer.write(b"s" * 3000)
        await writer.drain()
        writer.close()

    sock = tun.namespace.call(_listening)
    server = await asyncio.start_server(serve, sock=sock)
    try:
        o = Online(tun, mru=576)
        dev = o.dev
        c = await _tcp_exchange(o, sock.getsockname()[1], b"hello")  # its SYN says MSS 1400
    finally:
        server.close()
        await server.wait_closed()
    assert bytes(c.data) == b"s" * 3000
    assert all(len(p) <= 576 for p in dev.received)
    assert dev.m.ppp is not None and dev.m.ppp.too_big == 0
    ctx = dev.m.net.contexts[1]
    assert ctx.bytes_up == sum(len(p) for p in dev.sent)
    assert ctx.bytes_down == sum(len(p) for p in dev.received)


async def test_the_internet_table_still_decides(tun: TunNetwork) -> None:
    # an allowed address the user put in the namespace: the kernel there answers for it
    tun.namespace.ip("addr", "add", f"{ALLOWED}/32", "dev", "lo")
    internet = Internet(
        hosts={"redirected.example.com": Target(host="127.0.0.1", port=9)},
        allow=(ipaddress.ip_network(ALLOWED),),
    )
    o = Online(tun, internet)
    dev = o.dev
    allowed = ipaddress.IPv4Address(ALLOWED).packed
    dev.ping(allowed, b"to the namespace")
    await o.wait(1)
    assert tun.packets_in == 1
    # refused by the policy: "administratively prohibited" at once, nothing into the namespace
    dev.ping(REFUSED)
    # the echo's stand-in and the DNS servers: the forwarder, as without TUN
    dev.ping(ECHO_HOST, b"echo")
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x0aredirected\x07example\x03com\x00\x00\x01\x00\x01"
    dev.send(build_udp(dev.address, ipaddress.IPv4Address(DNS_SERVERS[0]).packed, 5353, 53, query))
    assert tun.packets_in == 1
    got = [parse_ipv4(p) for p in dev.received]
    assert [(g.src, g.payload[:2]) for g in got[:3] if g is not None] == [
        (allowed, b"\x00\x00"),  # echo reply from the namespace's kernel
        (REFUSED, b"\x03\x0d"),  # destination unreachable, communication administratively prohibited
        (ECHO_HOST, b"\x00\x00"),
    ]
    dns = got[3]
    assert (
        dns is not None and dns.proto == UDP and dns.payload[-4:] == bytes([100, 127, 0, 2])
    )  # its stand-in
    ctx = dev.m.net.contexts[1]
    assert ctx.bytes_up == sum(len(p) for p in dev.sent)
    assert ctx.bytes_down == sum(len(p) for p in dev.received)


@pytest.mark.parametrize("mru", [576, 296])
async def test_a_datagram_too_big_for_the_devices_mru_gets_icmp_and_the_kernel_sends_fragments(
    tun: TunNetwork, mru: int
) -> None:
    # The device asked for an MRU of 576 (or 296).  A server in the namespace answers 1,428 bytes of
    # UDP, Don't Fragment set (Linux's path MTU discovery): it was sent whole to the device.  The
    # modem drops it and sends ICMP "fragmentation needed" (next-hop MTU 576) into the namespace
    # from the device's address; the kernel there sends the next answer in fragments that fit.
    # Under 552 (net.ipv4.route.min_pmtu), what the forwarder's hosts model: the kernel takes 552
    # and drops Don't Fragment, the modem cuts each of its datagrams to the MRU, no ICMP again.
    o = Online(tun, mru=mru)
    dev = o.dev
    ctx = dev.m.net.contexts[1]
    bearer = dev.m.ppp
    assert bearer is not None
    server = tun.namespace.call(_udp_server)
    loop = asyncio.get_running_loop()
    try:
        port = server.getsockname()[1]
        dev.send(build_udp(dev.address, OWN, 40000, port, b"hello"))
        _, peer = await asyncio.wait_for(loop.sock_recvfrom(server, 2048), 10)
        o.arrived.clear()
        server.sendto(b"a" * 1400, peer)
        await asyncio.wait_for(o.arrived.wait(), 10)
        dev.pump()
        assert dev.received == [] and bearer.too_big == 1 and tun.packets_in == 2  # the ICMP went in
        sent = fragment(build_udp(OWN, dev.address, port, 40000, b"b" * 1400), max(mru, 552))  # the kernel's
        server.sendto(b"b" * 1400, peer)
        await o.wait(sum(len(fragment(p, mru)) for p in sent))
    finally:
        server.close()
    assert all(len(p) <= mru for p in dev.received) and bearer.too_big == 1 and len(sent) == 3
    assert bearer.fragmented == (len(sent) if mru < 552 else 0)
    _, udp = _reassembled(dev.received)
    assert udp[8:] == b"b" * 1400
    # billed: what crossed the radio, the dropped answer and the ICMP error included
    # (the ICMP error quotes as much of the 1,428-octet answer as fits in 576 octets, as Linux does)
    assert ctx.bytes_up == sum(len(p) for p in dev.sent) + 576
    assert ctx.bytes_down == 1428 + sum(map(len, sent)) <= 1428 + sum(map(len, dev.received))


async def _port_unreachable(o: Online, host: bytes, sport: int) -> int:
    """A 1,000-byte datagram to a port nothing listens on at `host`: the bytes billed for the ICMP
    "port unreachable" it gets (checked: it reaches the device, in two fragments of its MRU)."""
    dev = o.dev
    ctx = dev.m.net.contexts[1]
    down0, got = ctx.bytes_down, len(dev.received)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))  # a port nothing listens on (given back)
        closed = s.getsockname()[1]
    datagram = build_udp(dev.address, host, sport, closed, bytes(range(250)) * 4)
    dev.send(datagram)
    await o.wait(got + 2)
    header, body = _reassembled(dev.received[got:])
    assert header[9] == ICMP and header[12:16] == host and body[:2] == b"\x03\x03"
    assert body[8:] == datagram[: len(body) - 8]
    billed = ctx.bytes_down - down0
    assert billed == 20 + len(body)
    return billed


async def _errors_before_and_after_learning(o: Online, host: bytes, server: socket.socket) -> tuple[int, int]:
    """The bytes billed for `_port_unreachable` from `host` to a device of a small MRU, before and
    after `server` (a UDP socket at `host`) learned its path MTU: it answers the device 1,400 bytes
    with Don't Fragment, the modem drops them and tells the host "fragmentation needed"."""
    dev = o.dev
    bearer = dev.m.ppp
    assert bearer is not None
    before = await _port_unreachable(o, host, 40001)
    got = len(dev.received)
    o.arrived.clear()
    dev.send(build_udp(dev.address, host, 40000, server.getsockname()[1], b"hello"))
    _, peer = await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(server, 2048), 10)
    server.sendto(bytes(1400), peer)
    await asyncio.wait_for(o.arrived.wait(), 10)
    dev.pump()
    assert len(dev.received) == got and bearer.too_big == 1  # dropped, "fragmentation needed" sent
    after = await _port_unreachable(o, host, 40002)
    assert bearer.too_big == 1 and bearer.fragmented == 2
    return before, after


@pytest.mark.parametrize("mru", [296, 500])
async def test_a_hosts_errors_to_a_device_of_a_small_mru_are_billed_alike_on_both_paths(
    tun: TunNetwork, mru: int
) -> None:
    # The namespace's kernel sends its errors to a device of MRU 296 or 500 at 576 bytes (the TUN
    # device's MTU is 1,500: the MRU is not the route's), without Don't Fragment: the modem cuts
    # them.  Told "fragmentation needed" with the MRU, it takes 552 (net.ipv4.route.min_pmtu) as
    # its path MTU to the device and caps its errors there (icmp_send: the room is the route's
    # MTU, at most 576): 552 bytes.  The forwarder's hosts bill and send the same (they sent 576
    # with Don't Fragment: dropped by the modem, never reaching the device, and after learning
    # billed 24 bytes more than the kernel).
    server = tun.namespace.call(_udp_server)
    try:
        in_kernel = await _errors_before_and_after_learning(Online(tun, mru=mru), OWN, server)
    finally:
        server.close()
    far = "192.0.2.80"
    host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host.bind(("127.0.0.1", 0))
    host.setblocking(False)
    user = Online(None, Internet(hosts={far: Target(host="127.0.0.1")}, allow=()), mru=mru)
    try:
        in_forwarder = await _errors_before_and_after_learning(user, ipaddress.IPv4Address(far).packed, host)
    finally:
        assert user.dev.m.ppp is not None and user.dev.m.ppp.forwarder is not None
        user.dev.m.ppp.forwarder.close()  # (its host sockets)
        host.close()
    assert in_kernel == in_forwarder == (576, 552)


async def test_a_spoofed_source_does_not_enter_the_namespace(tun: TunNetwork) -> None:
    o = Online(tun)
    dev = o.dev
    spoof = build_icmp(ipaddress.IPv4Address("10.99.0.1").packed, OWN, 8, 0, b"\x00\x01\x00\x01spoof")
    dev.send(spoof)
    assert tun.packets_in == 0
    assert dev.m.ppp is not None and dev.m.ppp.source_violations == 1  # the gateway's source check
    assert o.net.counters["source-violations"] == 1 and dev.m.net.contexts[1].bytes_up == len(spoof)


async def test_the_bearer_ending_detaches_its_address(tun: TunNetwork) -> None:
    o = Online(tun)
    dev = o.dev
    address = dev.address
    assert address in tun._paths
    dev.link.terminate("bye")
    dev.pump()
    assert dev.m.ppp is None and address not in tun._paths


# ----- the namespace's life ----------------------------------------------------------------------


def test_a_namespace_m2msim_made_goes_with_its_device_a_joined_one_stays() -> None:
    name = namespace_name()
    made = TunNetwork.open(name)
    try:
        device = made.device
        assert exists(name) and made.namespace.made
    finally:
        made.close()
    assert not exists(name)
    user = Namespace.open(name)  # the user's namespace (made here as `ip netns add` would)
    try:
        user.made = False  # as though someone else had made it
        joined = TunNetwork.open(name)
        assert not joined.namespace.made and joined.device == device
        joined.close()
        assert exists(name)  # kept
        assert "m2msim" not in _links(name)  # but our device is gone
    finally:
        user.made = True
        user.closed = False
        user.close()
    assert not exists(name)


def _links(name: str) -> str:
    return subprocess.run(["ip", "-n", name, "-o", "link"], capture_output=True, text=True, check=True).stdout


def test_stale_namespaces_of_a_killed_m2msim_are_removed_and_only_those() -> None:
    stale, reused = namespace_name(), namespace_name()
    proc = subprocess.Popen(["true"])  # a process id that is gone: this child's
    proc.wait()
    for name in (stale, reused):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        OURS_DIR.mkdir(parents=True, exist_ok=True)
        st = (NETNS_DIR / stale).stat()
        (OURS_DIR / stale).write_text(f"{proc.pid} {st.st_ino} {st.st_ctime_ns}\n")
        # the name was ours once, but the namespace now under it is another one (its inode number
        # may be the freed one again, not its change time): not removed
        st = (NETNS_DIR / reused).stat()
        (OURS_DIR / reused).write_text(f"{proc.pid} {st.st_ino} {st.st_ctime_ns - 1}\n")
        removed = remove_stale()
        assert stale in removed and reused not in removed
        assert not exists(stale) and exists(reused)
    finally:
        for name in (stale, reused):
            if exists(name):
                subprocess.run(["ip", "netns", "del", name], check=False)
            (OURS_DIR / name).unlink(missing_ok=True)


# ----- `m2msim modem serve --ip-path` --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--control", "none", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _line_with(proc: subprocess.Popen[str], text: str, seconds: float = 30.0) -> str:
    """The first stderr line of `proc` containing `text` (within `seconds`)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no {text!r} on stderr: {''.join(seen)}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_states_the_tun_path_and_removes_its_namespace_on_a_signal(sig: signal.Signals) -> None:
    name = namespace_name()
    proc = _serve("--ip-path", "tun", "--netns", name)
    try:
        line = _line_with(proc, "PPP's IP path")
        assert f"network namespace {name} (made by m2msim" in line and f"ip netns exec {name}" in line
        assert exists(name)
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if exists(name):  # the test failed: remove it all the same
            subprocess.run(["ip", "netns", "del", name], check=False)
    assert proc.returncode == 128 + sig
    assert not exists(name) and not (OURS_DIR / name).exists()


@contextlib.contextmanager
def _ip_path_of_serve(*args: str) -> Iterator[str]:
    """`modem serve ARGS` with its stderr line stating PPP's IP path; SIGTERM on leaving normally
    (the serve must end with 128 + SIGTERM); whatever happens, not left running."""
    proc = _serve(*args)
    try:
        yield _line_with(proc, "PPP's IP path")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_joins_a_namespace_it_did_not_make_and_keeps_it() -> None:
    name = namespace_name()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with _ip_path_of_serve("--ip-path", "auto", "--netns", name) as line:
            assert "joined, kept at the end" in line
            assert "m2msim0" in _links(name)
        assert exists(name) and "m2msim" not in _links(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_serve_user_path_and_option_errors() -> None:
    with _ip_path_of_serve("--ip-path", "user") as line:
        assert "the user-space forwarder (--ip-path user)" in line
    for args, message in (
        (["--netns", "no/slash"], "--netns 'no/slash': a namespace name is"),
        (["--ip-path", "user", "--netns", "lab"], "--netns lab: only with --ip-path tun or auto"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "m2msim", "modem", "serve", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    check = subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--ip-path", "tun", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0 and "IP path tun" in check.stdout


# ----- `virtual://...?ip=tun` ----------------------------------------------------------------------


async def test_virtual_url_ip_tun_makes_the_namespace_with_the_modem_and_removes_it_at_close() -> None:
    name = namespace_name()
    t = open_virtual(f"virtual://simcom-sim800?ip=tun&netns={name}")
    assert not exists(name)  # made when the modem starts
    try:
        await t.write(b"ATE0\r")
        assert t.tun is not None and exists(name) and t.modem.tun is t.tun
    finally:
        await t.close()
    assert not exists(name)
    for url, message in (
        ("virtual://generic?ip=kernel", "ip='kernel': expected auto or tun or user"),
        ("virtual://generic?netns=lab", "netns is for ip=tun or ip=auto"),
        ("virtual://generic?ip=tun&netns=a/b", "netns='a/b': a namespace name is"),
    ):
        with pytest.raises(VirtualUrlError, match=re.escape(message)):
            open_virtual(url)


async def test_one_tun_serves_every_modem_of_the_network_each_gets_its_own_answers(tun: TunNetwork) -> None:
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    devices = []
    arrived = asyncio.Event()

    def external(fn: Callable[[], None]) -> None:
        fn()
        arrived.set()

    for index in range(2):
        m = VirtualModem(
            load_profile("simcom-sim800"),
            network=net,
            seed=5,
            index=index,
            epoch=EPOCH,
            conditions=preset("full"),
        )
        provision(net, m, ServeScenario())
        m.tun, m.external = tun, external
        m.take_output(0.0)
        m.poll(m.profile.search_s + 1.0)
        m.feed(b'AT+CGDCONT=1,"IP","orange.m2m.spec"\r', m.now)
        m.take_output()
        dev = Device(m)
        assert b"CONNECT" in dev.dial()
        devices.append(dev)
    assert devices[0].address != devices[1].address
    for i, dev in enumerate(devices):
        dev.ping(OWN, f"from device {i}".encode())
    while not all(dev.received for dev in devices):
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), 10)
        for dev in devices:
            dev.pump()
    for i, dev in enumerate(devices):
        (reply,) = [parse_ipv4(p) for p in dev.received]
        assert (
            reply is not None
            and reply.dst == dev.address
            and reply.payload.endswith(f"from device {i}".encode())
        )


def test_a_tun_that_cannot_be_made_exits_2_with_tun_and_falls_back_with_auto() -> None:
    name = namespace_name()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # the namespace already routes a pool elsewhere (another m2msim serving into it, say)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", name, "route", "add", "10.64.0.0/12", "dev", "lo"], check=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "m2msim",
                "modem",
                "serve",
                "--control",
                "none",
                "--ip-path",
                "tun",
                *("--netns", name),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("m2msim modem serve: ip -n ") and f"namespace {name}" in done.stderr
        assert exists(name) and "m2msim" not in _links(name)  # joined, kept, our device gone
        with _ip_path_of_serve("--ip-path", "auto", "--netns", name) as line:
            assert "the user-space forwarder (ip -n " in line
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# ----- interop: lwIP's PPPoS client through the TUN path --------------------------------------------


def test_lwip_pppos_client_reaches_a_server_in_the_namespace(tun: TunNetwork) -> None:
    """lwIP's client (tests/modem/test_ppp_lwip.py builds and runs it) dials through a pty; the namespace's
    kernel carries its TCP to a server started in the namespace, which sees the device's own address;
    the bill is the real IP packets that crossed the line."""
    client = build_client()
    asyncio.run(asyncio.wait_for(_lwip_through_tun(client, tun, "hello through the TUN " * 150), 120))
    assert tun.packets_in > 0 and tun.packets_out > 0


async def _lwip_through_tun(client: Path, tun: TunNetwork, message: str) -> None:
    got = bytearray()
    peers: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        got.extend(await reader.readexactly(len(message)))
        writer.write(b"ECHO:" + bytes(got))
        await writer.drain()
        writer.close()

    # a server in the namespace, as `ip netns exec NAME ...` starts one
    server = await asyncio.start_server(serve, sock=tun.namespace.call(_listening))
    port = server.sockets[0].getsockname()[1]
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    clock = LoopClock(asyncio.get_running_loop(), 0.0, 1.0)
    modem = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
    )
    provision(net, modem, ServeScenario())
    modem.tun = tun
    try:
        # the device dials the gateway's address: the namespace's host
        dialled = await run_client(client, modem, clock, message, OWN_ADDRESS, port)
    finally:
        server.close()
        await server.wait_closed()
    assert dialled.returncode == 0, f"{dialled.out[-2000:]}\n{dialled.err[-2000:]}"
    lines = dict(line.split(" ", 1) for line in dialled.out.splitlines() if " " in line)
    assert lines["recv"] == "ECHO:" + message and bytes(got) == message.encode()
    assert peers == [lines["ip"]]  # a real IP host: the server sees the device's pool address
    assert modem.ppp is None  # the device's LCP Terminate ended the bearer
    net.flush(modem.now + 1)
    (record,) = [r for r in sink.records if r.session is not None]
    # billed: exactly the IP packets that crossed the serial line, each way (nothing lost: net=full)
    assert record.bytes_up == ip_bytes(dialled.to_modem) > len(message)
    assert record.bytes_down == ip_bytes(dialled.from_modem) > len(message)
