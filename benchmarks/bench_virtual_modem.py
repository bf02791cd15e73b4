"""Virtual modem speed: AT round trips per second in-process and over a pty, and 100 modems at once.

Each figure comes with a baseline measured in the same run:
- in-process: the modem's feed/take_output vs. a bare function that returns a canned "OK";
- over a pty: the virtual modem served by `PtyEndpoint` (asyncio, in a child process) vs. a bare
  responder on the same kind of pty and loop that answers every line with OK without parsing it;
- 100 modems from one process: aggregate commands/s with one command outstanding per modem, against
  100 bare responders;
- sockets (benchmarks/virtual_sockets.py): real TCP through one modem's pty at >= 10 MB/s with
  network conditions off, and 100 modems each with an open socket served by one process.
The client is this process, with blocking reads (one modem) or a selector (100 modems).
Target: >= 2,000 commands/s over a pty.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import selectors
import time
import tty
from multiprocessing.connection import Connection

from modem.profiles import load_profile
from modem.virtual.core import VirtualModem

COMMANDS = (b"AT\r", b"AT+CSQ\r", b"AT+CREG?\r", b"AT+CGMI\r")
TERMINATORS = (b"OK\r\n", b"ERROR\r\n")


def _serve(kind: str, count: int, conn: Connection) -> None:
    async def main() -> None:
        from modem.virtual.clock import LoopClock
        from modem.virtual.server import PtyEndpoint

        loop = asyncio.get_running_loop()
        clock = LoopClock(loop)
        closers = []
        paths = []
        profile = load_profile("simcom-sim800")
        for i in range(count):
            if kind == "modem":
                ep = PtyEndpoint(VirtualModem(profile, seed=1, index=i, now=clock.now()), clock)
                closers.append(ep.close)
                paths.append(ep.path)
            else:
                master, slave = os.openpty()
                tty.setraw(slave)
                os.set_blocking(master, False)

                def answer(fd: int = master) -> None:
                    data = os.read(fd, 65536)
                    os.write(fd, b"\r\nOK\r\n" * data.count(b"\r"))

                loop.add_reader(master, answer)
                paths.append(os.ttyname(slave))
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(paths)
        await stop.wait()
        for close in closers:
            close()

    asyncio.run(main())


class Served:
    def __init__(self, kind: str, count: int) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(kind, count, child), daemon=True)
        self.proc.start()
        self.paths: list[str] = self.conn.recv()
        self.fds = []
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(fd)
            self.fds.append(fd)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.conn.send(None)
        self.proc.join(10)


def _round_trip(fd: int, cmd: bytes) -> None:
    buf = b""
    os.write(fd, cmd)
    while not buf.endswith(TERMINATORS):
        buf += os.read(fd, 4096)


def one_pty(kind: str, n: int) -> float:
    served = Served(kind, 1)
    try:
        fd = served.fds[0]
        if kind == "modem":
            _round_trip(fd, b"ATE0\r")  # boot URCs, then the ATE0 answer
        for i in range(50):
            _round_trip(fd, COMMANDS[i % 4])
        t0 = time.perf_counter()
        for i in range(n):
            _round_trip(fd, COMMANDS[i % 4])
        return n / (time.perf_counter() - t0)
    finally:
        served.close()


def many_ptys(kind: str, count: int, seconds: float) -> float:
    served = Served(kind, count)
    sel = selectors.DefaultSelector()
    try:
        bufs = {fd: b"" for fd in served.fds}
        for fd in served.fds:
            if kind == "modem":
                _round_trip(fd, b"ATE0\r")
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        for fd in served.fds:
            while True:  # drain what is left (boot URCs)
                try:
                    if not os.read(fd, 65536):
                        break
                except BlockingIOError:
                    break
        done = 0
        t0 = time.perf_counter()
        for fd in served.fds:
            os.write(fd, COMMANDS[0])
        end = t0 + seconds
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            for key, _ in sel.select(end - now):
                fd = int(key.fd)
                bufs[fd] += os.read(fd, 4096)
                if bufs[fd].endswith(TERMINATORS):
                    bufs[fd] = b""
                    done += 1
                    os.write(fd, COMMANDS[done % 4])
        return done / (time.perf_counter() - t0)
    finally:
        sel.close()
        served.close()


def in_process(n: int) -> tuple[float, float]:
    m = VirtualModem(load_profile("simcom-sim800"))
    m.take_output(0.0)
    m.feed(b"ATE0\r", 0.0)
    m.take_output()
    t0 = time.perf_counter()
    for i in range(n):
        m.feed(COMMANDS[i % 4], 1.0)
        m.take_output()
    modem_rate = n / (time.perf_counter() - t0)

    def canned(data: bytes) -> bytes:
        return b"\r\nOK\r\n" if data.endswith(b"\r") else b""

    t0 = time.perf_counter()
    for i in range(n):
        canned(COMMANDS[i % 4])
    return modem_rate, n / (time.perf_counter() - t0)


def main(quick: bool) -> None:
    n_in, n_pty, secs, count = (20_000, 2_000, 2.0, 100) if quick else (200_000, 20_000, 5.0, 100)
    modem_rate, canned_rate = in_process(n_in)
    print(
        f"in-process  virtual modem {modem_rate:12,.0f} commands/s   canned-OK function {canned_rate:12,.0f}/s"
        f"   ratio {modem_rate / canned_rate:.3f}"
    )
    modem_pty = one_pty("modem", n_pty)
    bare_pty = one_pty("bare", n_pty)
    verdict = "meets" if modem_pty >= 2000 else "MISSES"
    print(
        f"one pty     virtual modem {modem_pty:12,.0f} round trips/s  bare responder {bare_pty:12,.0f}/s"
        f"   ratio {modem_pty / bare_pty:.2f}   ({verdict} the 2,000/s target)"
    )
    modem_many = many_ptys("modem", count, secs)
    bare_many = many_ptys("bare", count, secs)
    print(
        f"{count} ptys    virtual modems {modem_many:11,.0f} commands/s   bare responders {bare_many:11,.0f}/s"
        f"   ratio {modem_many / bare_many:.2f}   ({modem_many / count:,.0f}/s per modem)"
    )
    from benchmarks.virtual_sockets import report

    report(quick)


if __name__ == "__main__":
    main(quick=True)
