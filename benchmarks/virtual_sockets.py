"""Socket figures of the virtual modem (called by bench_virtual_modem): real TCP through a pty.

- throughput: one Quectel BG96 served on a pty (in a child process), network conditions off, a
  transparent-mode socket (AT+QIOPEN access mode 2) to a loopback TCP server in this process;
  bytes written to the pty reach the server (upload), then bytes the server sends come out of the
  pty (download).  Target: >= 10 MB/s each way (the best of 3 rounds).  Baseline: the same bytes through a bare pty
  relay (a loop that copies pty <-> socket without a modem) on the same kind of loop.
- 100 modems from one process, each with its transparent socket open to one loopback echo server
  (a third process): aggregate 64-byte echo round trips per second with one message outstanding
  per modem, and the serving process's resident memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

CHUNK = 65536
MESSAGE = 64


def _modems(count: int, loop: asyncio.AbstractEventLoop) -> list[Any]:
    from gateway.network import Network, NetworkConfig
    from modem.profiles import load_profile
    from modem.virtual.clock import LoopClock
    from modem.virtual.conditions import preset
    from modem.virtual.core import VirtualModem
    from modem.virtual.scenario import ServeScenario, provision
    from modem.virtual.server import PtyEndpoint

    class Discard:
        def write(self, record: Any) -> None:
            pass

    net = Network(NetworkConfig(epoch=datetime(2026, 3, 2, tzinfo=UTC), seed=1), Discard())
    profile = load_profile("quectel-bg96")
    endpoints = []
    for i in range(count):
        m = VirtualModem(profile, network=net, seed=1, index=i, conditions=preset("full"))
        provision(net, m, ServeScenario())
        m.poll(5.0)  # registered before serving starts
        endpoints.append(PtyEndpoint(m, LoopClock(loop, m.now)))
    return endpoints


def _serve(kind: str, count: int, conn: Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        closers = []
        paths = []
        if kind == "modem":
            for ep in _modems(count, loop):
                closers.append(ep.close)
                paths.append(ep.path)
        else:  # a bare relay: pty <-> the first TCP port the client names
            master, slave = os.openpty()
            tty.setraw(slave)
            paths.append(os.ttyname(slave))
        stop = asyncio.Event()
        conn.send(paths)
        if kind != "modem":
            port = conn.recv()
            loop.add_reader(conn.fileno(), stop.set)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            os.set_blocking(master, False)

            def from_pty() -> None:
                writer.write(os.read(master, CHUNK))

            loop.add_reader(master, from_pty)

            async def to_pty() -> None:
                while data := await reader.read(CHUNK):
                    view = memoryview(data)
                    while view:
                        try:
                            view = view[os.write(master, view) :]
                        except BlockingIOError:  # wait until the pty can take more
                            ready = loop.create_future()
                            loop.add_writer(master, ready.set_result, None)
                            await ready
                            loop.remove_writer(master)

            task = asyncio.create_task(to_pty())
            await stop.wait()
            task.cancel()
            writer.close()
        else:
            loop.add_reader(conn.fileno(), stop.set)
            await stop.wait()
        for close in closers:
            close()
        conn.send(rss_kb())

    asyncio.run(main())


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Served:
    """Ptys served by a forked process running `serve(kind, count, conn)`, opened raw here; the
    serving process sends their paths, then its resident memory (kB) when told to stop."""

    def __init__(
        self, kind: str, count: int, serve: Callable[[str, int, Connection], None] | None = None
    ) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve or _serve, args=(kind, count, child), daemon=True)
        self.proc.start()
        self.paths: list[str] = self.conn.recv()
        self.fds = []
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(fd)
            self.fds.append(fd)

    def close(self) -> int:
        """Stop serving; the serving process's resident memory (kB) at the end."""
        for fd in self.fds:
            os.close(fd)
        self.conn.send(None)
        rss = int(self.conn.recv()) if self.conn.poll(10) else 0
        self.proc.join(10)
        return rss


def _expect(fd: int, token: bytes) -> bytes:
    buf = b""
    deadline = time.monotonic() + 30
    while token not in buf:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {token!r}; got {buf[-200:]!r}")
        buf += os.read(fd, 4096)
    return buf


def _open_transparent(fd: int, port: int) -> None:
    os.write(fd, b"ATE0\r")
    _expect(fd, b"OK\r\n")
    os.write(fd, b'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1\r')
    _expect(fd, b"OK\r\n")
    os.write(fd, f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2\r'.encode())
    _expect(fd, b"CONNECT\r\n")


def throughput(kind: str, size: int) -> tuple[float, float]:
    """(upload, download) MB/s through one pty to a loopback TCP server."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    served = Served(kind, 1)
    fd = served.fds[0]
    try:
        if kind == "modem":
            _open_transparent(fd, port)
        else:
            served.conn.send(port)
        peer, _ = server.accept()
        received = threading.Event()

        def sink() -> None:
            got = 0
            while got < size:
                got += len(peer.recv(1 << 20))
            received.set()

        block = os.urandom(CHUNK).replace(b"+", b"-")  # no escape sequence in the data
        reader = threading.Thread(target=sink)
        t0 = time.perf_counter()
        reader.start()
        for _ in range(size // CHUNK):
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view) :]
        received.wait(120)
        up = size / (time.perf_counter() - t0) / 1e6
        reader.join()

        def source() -> None:
            for _ in range(size // CHUNK):
                peer.sendall(block)

        writer = threading.Thread(target=source)
        t0 = time.perf_counter()
        writer.start()
        got = 0
        while got < size:
            got += len(os.read(fd, 1 << 20))
        down = size / (time.perf_counter() - t0) / 1e6
        writer.join()
        peer.close()
        return up, down
    finally:
        served.close()
        server.close()


def _echo_server(conn: Connection) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    sel.register(conn.fileno(), selectors.EVENT_READ)
    conn.send(server.getsockname()[1])
    while True:
        for key, _ in sel.select():
            if key.fileobj is server:
                peer, _ = server.accept()
                peer.setblocking(True)
                sel.register(peer, selectors.EVENT_READ)
            elif key.fileobj == conn.fileno():
                return
            else:
                peer = key.fileobj  # type: ignore[assignment]
                try:
                    data = peer.recv(65536)
                except ConnectionError:  # the modems' sockets are aborted when serving stops
                    data = b""
                if not data:
                    sel.unregister(peer)
                    peer.close()
                else:
                    peer.sendall(data)


def many_sockets(count: int, seconds: float) -> tuple[float, int]:
    """Aggregate echo round trips/s of `count` modems with a real socket each; serving RSS (kB)."""
    ctx = mp.get_context("fork")
    echo_conn, child = ctx.Pipe()
    echo = ctx.Process(target=_echo_server, args=(child,), daemon=True)
    echo.start()
    port = echo_conn.recv()
    served = Served("modem", count)
    sel = selectors.DefaultSelector()
    rss = 0
    try:
        for fd in served.fds:
            _open_transparent(fd, port)
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        message = b"m" * MESSAGE
        got = dict.fromkeys(served.fds, 0)
        done = 0
        t0 = time.perf_counter()
        for fd in served.fds:
            os.write(fd, message)
        end = t0 + seconds
        while (now := time.perf_counter()) < end:
            for key, _ in sel.select(end - now):
                fd = int(key.fd)
                got[fd] += len(os.read(fd, 65536))
                if got[fd] >= MESSAGE:
                    got[fd] -= MESSAGE
                    done += 1
                    os.write(fd, message)
        rate = done / (time.perf_counter() - t0)
    finally:
        sel.close()
        rss = served.close()
        echo_conn.send(None)
        echo.join(10)
    return rate, rss


def report(quick: bool) -> None:
    size, rounds = (32 << 20, 1) if quick else (128 << 20, 3)
    runs = [(throughput("modem", size), throughput("bare", size)) for _ in range(rounds)]
    # The best of the rounds (modem and bare relay alternate): a shared machine only ever slows a run.
    up, down = max(r[0][0] for r in runs), max(r[0][1] for r in runs)
    bare_up, bare_down = max(r[1][0] for r in runs), max(r[1][1] for r in runs)
    verdict = "meets" if min(up, down) >= 10 else "MISSES"
    print(
        f"socket      one modem, transparent TCP, conditions off: up {up:7.1f} MB/s  down {down:7.1f} MB/s"
        f"   bare pty relay: up {bare_up:7.1f}  down {bare_down:7.1f}   ({verdict} the 10 MB/s target)"
    )
    count, secs = 100, (2.0 if quick else 5.0)
    rate, rss = many_sockets(count, secs)
    print(
        f"sockets     {count} modems x 1 open socket, one process: {rate:9,.0f} echo round trips/s"
        f" ({rate / count:,.0f}/s per modem), serving process {rss / 1024:,.0f} MB resident"
    )
