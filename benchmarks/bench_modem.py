"""AT client speed: parser events/s, and AT round trips/s in-process and over a pseudo-terminal.

Client side only (the virtual modem's own serving speed is measured with the virtual modem):
- parser: `ATParser.feed` on a recorded answer, the ceiling for everything else;
- in-process, minimal modem: `ATClient.command` against a transport that answers at once;
- in-process, `virtual://generic`: the client against the real virtual modem, no OS in between;
- pty, minimal modem: the client over pyserial-asyncio-fast on a pty, the far end answering OK;
- pty, virtual modem: the same against the virtual modem served on a pty (`PtyEndpoint`).
Ratios are against the in-process minimal modem, measured in the same process.
"""

from __future__ import annotations

import asyncio
import os
import time
import tty
from collections.abc import Awaitable, Callable

from modem.at.client import ATClient, WatchdogPolicy
from modem.at.command import Command
from modem.at.parser import ATParser
from modem.transports import open_transport

ANSWER = b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n"


class InstantModem:
    """An in-memory transport: every command line gets ANSWER at once."""

    url = "bench://instant"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        if data.endswith(b"\r"):
            self._queue.put_nowait(ANSWER)

    async def close(self) -> None:
        self._queue.put_nowait(b"")


def bench_parser(n: int) -> float:
    parser = ATParser()
    cmd = Command("AT+CSQ")
    t0 = time.perf_counter()
    for _ in range(n):
        parser.begin(cmd)
        parser.feed(ANSWER)
    return n / (time.perf_counter() - t0)


async def round_trips(client: ATClient, n: int) -> float:
    await client.command("AT+CSQ")  # warm up (and swallow boot URCs)
    t0 = time.perf_counter()
    for _ in range(n):
        await client.command("AT+CSQ")
    return n / (time.perf_counter() - t0)


def client_for(transport: object) -> ATClient:
    return ATClient(transport, watchdog=WatchdogPolicy(enabled=False))  # type: ignore[arg-type]


async def bench_instant(n: int) -> float:
    async with client_for(InstantModem()) as at:
        return await round_trips(at, n)


async def bench_virtual(n: int) -> float:
    async with client_for(await open_transport("virtual://generic")) as at:
        return await round_trips(at, n)


async def bench_pty_minimal(n: int) -> float:
    master, slave = os.openpty()
    tty.setraw(slave)
    loop = asyncio.get_running_loop()
    pending = b""

    def readable() -> None:
        nonlocal pending
        pending += os.read(master, 65536)
        while b"\r" in pending:
            _, pending = pending.split(b"\r", 1)
            os.write(master, ANSWER)

    loop.add_reader(master, readable)
    try:
        async with client_for(await open_transport(os.ttyname(slave))) as at:
            return await round_trips(at, n)
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


async def bench_pty_virtual(n: int) -> float:
    from modem.profiles import load_profile
    from modem.virtual.clock import LoopClock
    from modem.virtual.core import VirtualModem
    from modem.virtual.server import PtyEndpoint

    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    endpoint = PtyEndpoint(VirtualModem(load_profile("generic"), now=clock.now()), clock)
    try:
        async with client_for(await open_transport(endpoint.path)) as at:
            return await round_trips(at, n)
    finally:
        endpoint.close()


def run(fn: Callable[[int], Awaitable[float]], n: int) -> float:
    return asyncio.run(fn(n))  # type: ignore[arg-type]


def main(quick: bool) -> None:
    n = 500 if quick else 5000
    parser = bench_parser(n * 4)
    instant = run(bench_instant, n)
    figures = [
        ("parser (feed + events), answers/s", parser),
        ("in-process, instant modem, round trips/s", instant),
    ]
    for label, fn in (
        ("in-process, virtual://generic, round trips/s", bench_virtual),
        ("pty, minimal responder, round trips/s", bench_pty_minimal),
        ("pty, virtual modem (PtyEndpoint), round trips/s", bench_pty_virtual),
    ):
        try:
            figures.append((label, run(fn, n)))
        except (ImportError, OSError) as exc:
            print(f"{label}: skipped ({exc})")
    for label, value in figures:
        print(f"{label:<52} {value:>10,.0f}   x{value / instant:.2f} of in-process instant")
