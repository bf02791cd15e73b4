"""PPP through the virtual modem's pty at "full" speed (no radio shaping): throughput and CPU per MB.

A child process serves one virtual modem on a pty (asyncio, `PtyEndpoint`), bound to the operator
network, with the Internet table sending 192.0.2.9 to loopback.  This process is the device: it
dials `ATD*99#`, negotiates with the project's PPP client (`PppLink`, role "device"), then

- uplink: UDP datagrams of 1,400 bytes through PPP to a host socket here;
- downlink: the host socket sends datagrams of 1,400 bytes back through the forwarder to the device,

each with at most `WINDOW` datagrams in flight (the receiver's count paces the sender, so no socket
buffer overflows); then one TCP connection each way carrying as many octets (`TcpBulk`: the device
sends with a 64 KiB window, or acknowledges every segment it receives).  Figures: megabytes per
second (UDP: IP bytes as the gateway counts them; TCP: payload), and the serving process's CPU
seconds (user + system) per megabyte.  Baseline in the same run: the frame codec alone (encode +
decode in-process) in MB/s.

Both IP paths are measured in the same run: the user-space forwarder (host sockets on loopback) and,
when this runs as root with TUN (`modem.virtual.ppp.tun`), the TUN device in a network namespace the
serving process makes (the host sockets are then opened in that namespace, the device sends to the
gateway's address).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from multiprocessing.connection import Connection

from modem.virtual.ppp.hdlc import FrameDecoder, encode_frame
from modem.virtual.ppp.ip import ACK, PSH, RST, SYN, TCP, build_tcp, build_udp, parse_ipv4, parse_tcp
from modem.virtual.ppp.link import PppLink

PAYLOAD = 1400
WINDOW = 64
SERVER = "192.0.2.9"
APN = "orange.m2m.spec"


def _serve(conn: Connection, ip_path: str) -> None:
    async def main() -> None:
        from datetime import UTC, datetime

        from gateway.internet import Internet, Target
        from gateway.network import Network, NetworkConfig
        from modem.profiles import load_profile
        from modem.virtual.clock import LoopClock
        from modem.virtual.conditions import preset
        from modem.virtual.core import VirtualModem
        from modem.virtual.scenario import ServeScenario, provision
        from modem.virtual.server import PtyEndpoint

        class Drop:
            def write(self, record: object) -> None:
                pass

        loop = asyncio.get_running_loop()
        clock = LoopClock(loop)
        net = Network(NetworkConfig(epoch=datetime(2026, 3, 1, tzinfo=UTC)), Drop())  # type: ignore[arg-type]
        modem = VirtualModem(load_profile("simcom-sim800"), network=net, conditions=preset("full"))
        provision(net, modem, ServeScenario())
        modem.internet = Internet(hosts={SERVER: Target(host="127.0.0.1")})
        tun = None
        if ip_path == "tun":
            from modem.virtual.ppp.tun import TunNetwork

            tun = modem.tun = TunNetwork.open(f"m2msim-bench-{os.getpid()}")
        ep = PtyEndpoint(modem, clock)
        stop = asyncio.Event()

        def command() -> None:
            msg = conn.recv()
            if msg == "cpu":
                t = os.times()
                conn.send(t.user + t.system)
            else:
                stop.set()

        loop.add_reader(conn.fileno(), command)
        conn.send((ep.path, tun.namespace.name if tun is not None else None))
        try:
            await stop.wait()
        finally:
            ep.close()
            if tun is not None:
                tun.close()

    asyncio.run(main())


class _Timer:
    def cancel(self) -> None:
        pass


def _chat(fd: int, command: bytes, answer: bytes, seconds: float = 10.0) -> bytes:
    os.write(fd, command)
    buf = b""
    end = time.monotonic() + seconds
    while answer not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"no {answer!r} after {command!r}: {buf[-200:]!r}")
        if select.select([fd], [], [], left)[0]:
            buf += os.read(fd, 4096)
    return buf


class Device:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.received = 0
        self.received_bytes = 0
        self.on_packet: Callable[[bytes], None] | None = None
        self.link = PppLink("device", self._write, lambda d, fn: _Timer(), random.Random(1), on_ip=self._ip)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [])
            n = os.write(self.fd, view)
            view = view[n:]

    def _ip(self, packet: bytes) -> None:
        self.received += 1
        self.received_bytes += len(packet)
        if self.on_packet is not None:
            self.on_packet(packet)

    def read(self, timeout: float) -> None:
        if select.select([self.fd], [], [], timeout)[0]:
            with contextlib.suppress(BlockingIOError):
                self.link.receive(os.read(self.fd, 65536))

    def connect(self) -> None:
        _chat(self.fd, b"ATE0\r", b"OK")
        _chat(self.fd, f'AT+CGDCONT=1,"IP","{APN}"\r'.encode(), b"OK")
        end = time.monotonic() + 15
        while b"+CREG: 0,1" not in _chat(self.fd, b"AT+CREG?\r", b"OK"):
            if time.monotonic() > end:
                raise RuntimeError("the virtual modem did not register")
            time.sleep(0.2)
        _chat(self.fd, b"ATD*99#\r", b"CONNECT\r\n")
        self.link.start()
        end = time.monotonic() + 15
        while self.link.ip is None:
            if time.monotonic() > end:
                raise RuntimeError(f"PPP did not come up: {self.link.phase}")
            self.read(0.1)


def _cpu(conn: Connection) -> float:
    conn.send("cpu")
    return float(conn.recv())


def uplink(
    dev: Device, conn: Connection, sink: socket.socket, count: int, server: bytes
) -> tuple[float, float]:
    assert dev.link.ip is not None
    port = sink.getsockname()[1]
    got = [0, 0]
    done = threading.Event()

    def receive() -> None:
        while got[0] < count:
            data = sink.recv(65536)
            got[0] += 1
            got[1] += len(data) + 28
        done.set()

    threading.Thread(target=receive, daemon=True).start()
    packet = build_udp(dev.link.ip.local, server, 40000, port, b"u" * PAYLOAD)
    p = dev.link.lcp_policy
    frame = encode_frame(0x21, packet, accm=p.tx_accm, acfc=p.tx_acfc, pfc=p.tx_pfc)
    cpu0, t0 = _cpu(conn), time.perf_counter()
    sent = 0
    deadline = time.monotonic() + 60
    while sent < count and time.monotonic() < deadline:
        if sent - got[0] < WINDOW:
            burst = min(WINDOW - (sent - got[0]), count - sent)
            dev._write(frame * burst)
            sent += burst
        else:
            time.sleep(0.0005)
    done.wait(max(0.0, deadline - time.monotonic()))
    seconds, cpu = time.perf_counter() - t0, _cpu(conn) - cpu0
    mb = got[1] / 1e6
    return mb / seconds, cpu / mb


def downlink(
    dev: Device, conn: Connection, source: socket.socket, count: int, server: bytes
) -> tuple[float, float]:
    assert dev.link.ip is not None
    port = source.getsockname()[1]
    dev.link.send_ip(build_udp(dev.link.ip.local, server, 40001, port, b"start"))
    source.settimeout(10)
    _, peer = source.recvfrom(65536)
    source.settimeout(None)
    base = dev.received
    payload = b"d" * PAYLOAD
    cpu0, t0 = _cpu(conn), time.perf_counter()
    sent = 0
    deadline = time.monotonic() + 60
    while dev.received - base < count and time.monotonic() < deadline:
        while sent < count and sent - (dev.received - base) < WINDOW:
            source.sendto(payload, peer)
            sent += 1
        dev.read(0.01)
    seconds, cpu = time.perf_counter() - t0, _cpu(conn) - cpu0
    mb = (dev.received - base) * (PAYLOAD + 28) / 1e6
    return mb / seconds, cpu / mb


class TcpBulk:
    """The device's side of one TCP connection in bulk: it sends (acknowledgements counted) or
    receives (every in-order segment acknowledged); the line loses nothing (pty, net=full)."""

    def __init__(self, dev: Device, server: bytes, port: int, sport: int) -> None:
        assert dev.link.ip is not None
        self.dev, self.server, self.port, self.sport = dev, server, port, sport
        self.local = dev.link.ip.local
        self.iss = 1000
        self.sent_total = 0  # payload octets sent
        self.acked = 0  # payload octets the peer acknowledged
        self.rcv_nxt = 0
        self.received = 0  # in-order payload octets received
        self.synack = False
        self.peer_window = 0
        dev.on_packet = self._packet

    def _packet(self, packet: bytes) -> None:
        ip = parse_ipv4(packet)
        if ip is None or ip.proto != TCP:
            return
        t = parse_tcp(ip.payload)
        if t is None or t.dport != self.sport:
            return
        if t.flags & SYN:
            self.synack = True
            self.rcv_nxt = (t.seq + 1) & 0xFFFFFFFF
        if t.flags & ACK:
            self.acked = max(self.acked, ((t.ack - self.iss - 1) & 0xFFFFFFFF))
            self.peer_window = t.window
        if t.data and t.seq == self.rcv_nxt:
            self.rcv_nxt = (self.rcv_nxt + len(t.data)) & 0xFFFFFFFF
            self.received += len(t.data)
            self.send(ACK, self.iss + 1 + self.sent_total)

    def send(self, flags: int, seq: int, data: bytes = b"", mss: int | None = None) -> None:
        packet = build_tcp(
            self.local, self.server, self.sport, self.port, seq, self.rcv_nxt, flags, 65535, data, mss
        )
        p = self.dev.link.lcp_policy
        self.dev._write(encode_frame(0x21, packet, accm=p.tx_accm, acfc=p.tx_acfc, pfc=p.tx_pfc))

    def connect(self) -> None:
        self.send(SYN, self.iss, mss=PAYLOAD)
        end = time.monotonic() + 10
        while not self.synack:
            if time.monotonic() > end:
                raise RuntimeError("no SYN-ACK")
            self.dev.read(0.1)
        self.send(ACK, self.iss + 1)

    def upload(self, total: int, window: int = 64 * 1024) -> None:
        payload = b"t" * PAYLOAD
        end = time.monotonic() + 60
        while self.acked < total and time.monotonic() < end:
            while self.sent_total < total and self.sent_total - self.acked < min(
                window, self.peer_window or window
            ):
                n = min(PAYLOAD, total - self.sent_total)
                self.send(ACK | PSH, self.iss + 1 + self.sent_total, payload[:n])
                self.sent_total += n
            self.dev.read(0.01)

    def reset(self) -> None:
        self.send(RST | ACK, self.iss + 1 + self.sent_total)
        self.dev.on_packet = None


def _listener(rcvbuf: bool) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1" if rcvbuf else "0.0.0.0", 0))
    s.listen()
    return s


def tcp_uplink(
    dev: Device, conn: Connection, listener: socket.socket, total: int, server: bytes
) -> tuple[float, float]:
    """The device sends `total` octets over TCP to a server: payload MB/s, serving CPU s per payload MB."""
    got = [0]
    done = threading.Event()

    def serve() -> None:
        peer, _ = listener.accept()
        with peer:
            while got[0] < total:
                data = peer.recv(1 << 20)
                if not data:
                    break
                got[0] += len(data)
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    bulk = TcpBulk(dev, server, listener.getsockname()[1], 41000)
    bulk.connect()
    cpu0, t0 = _cpu(conn), time.perf_counter()
    bulk.upload(total)
    done.wait(30)
    seconds, cpu = time.perf_counter() - t0, _cpu(conn) - cpu0
    bulk.reset()
    mb = got[0] / 1e6
    return mb / seconds, cpu / mb


def tcp_downlink(
    dev: Device, conn: Connection, listener: socket.socket, total: int, server: bytes
) -> tuple[float, float]:
    """A server sends `total` octets over TCP to the device: payload MB/s, serving CPU s per payload MB."""

    def serve() -> None:
        peer, _ = listener.accept()
        with peer:
            peer.sendall(b"d" * total)
            with contextlib.suppress(OSError):
                peer.recv(1)  # until the device resets the connection

    threading.Thread(target=serve, daemon=True).start()
    bulk = TcpBulk(dev, server, listener.getsockname()[1], 41001)
    bulk.connect()
    cpu0, t0 = _cpu(conn), time.perf_counter()
    end = time.monotonic() + 60
    while bulk.received < total and time.monotonic() < end:
        dev.read(0.01)
    seconds, cpu = time.perf_counter() - t0, _cpu(conn) - cpu0
    bulk.reset()
    mb = bulk.received / 1e6
    return mb / seconds, cpu / mb


def codec(n: int) -> float:
    packet = bytes(random.Random(3).randbytes(PAYLOAD + 28))
    dec = FrameDecoder(accm=0)
    t0 = time.perf_counter()
    for _ in range(n):
        dec.feed(encode_frame(0x21, packet, accm=0, acfc=True, pfc=True))
    return n * len(packet) / 1e6 / (time.perf_counter() - t0)


def _socket(rcvbuf: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1" if rcvbuf else "0.0.0.0", 0))
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return s


def measure(ip_path: str, count: int) -> list[tuple[float, float]]:
    """(MB/s, serving CPU s/MB) through one IP path: UDP up, UDP down, TCP up, TCP down."""
    from modem.virtual.ppp.bearer import OWN_ADDRESS
    from modem.virtual.ppp.netns import Namespace

    ctx = mp.get_context("fork")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, ip_path), daemon=True)
    proc.start()
    fd = -1
    socks: list[socket.socket] = []
    try:
        if not conn.poll(30):
            raise RuntimeError("the serving process did not start")
        path, namespace = conn.recv()
        if namespace is None:
            socks = [_socket(4 << 20), _socket(4 << 20), _listener(True), _listener(True)]
            server = socket.inet_aton(SERVER)
        else:  # the host sockets live in the serving process's namespace (it removes it at the end)
            ns = Namespace(namespace, made=False)
            socks = [ns.call(lambda: _socket(0)), ns.call(lambda: _socket(0))]
            socks += [ns.call(lambda: _listener(False)), ns.call(lambda: _listener(False))]
            socks[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            server = socket.inet_aton(OWN_ADDRESS)
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        dev = Device(fd)
        dev.connect()
        figures = [
            uplink(dev, conn, socks[0], count, server),
            downlink(dev, conn, socks[1], count, server),
            tcp_uplink(dev, conn, socks[2], count * PAYLOAD, server),
            tcp_downlink(dev, conn, socks[3], count * PAYLOAD, server),
        ]
    finally:
        if fd >= 0:
            os.close(fd)
        conn.send(None)
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(10)
        for s in socks:
            s.close()
    return figures


def main(quick: bool) -> None:
    from modem.virtual.ppp.tun import tun_unavailable

    count = 2_000 if quick else 20_000
    paths = ["user"]
    reason = tun_unavailable()
    if reason is None:
        paths.append("tun")
    for ip_path in paths:
        (up, up_cpu), (down, down_cpu), (tcp_up, tcp_up_cpu), (tcp_down, tcp_down_cpu) = measure(
            ip_path, count
        )
        what = "forwarder" if ip_path == "user" else "TUN      "
        print(
            f"PPP {what} UDP uplink   {up:8.2f} MB/s of IP   serving CPU {up_cpu:6.3f} s/MB   "
            f"(UDP {PAYLOAD} B, {count} datagrams, pty, net=full)"
        )
        print(f"PPP {what} UDP downlink {down:8.2f} MB/s of IP   serving CPU {down_cpu:6.3f} s/MB")
        print(
            f"PPP {what} TCP uplink   {tcp_up:8.2f} MB/s payload serving CPU {tcp_up_cpu:6.3f} s/MB   "
            f"({count * PAYLOAD / 1e6:.1f} MB each way, one connection)"
        )
        print(f"PPP {what} TCP downlink {tcp_down:8.2f} MB/s payload serving CPU {tcp_down_cpu:6.3f} s/MB")
    if reason is not None:
        print(f"PPP TUN: not measured ({reason})")
    print(f"frame codec alone (encode + decode, in-process) {codec(count):8.2f} MB/s")


if __name__ == "__main__":
    main(quick=True)
