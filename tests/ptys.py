"""Virtual modems served on pseudo-terminals (`m2msim modem serve --count N`): to the bench, device
paths like a physical modem's, so the physical-modem rules (allow-list, no network records) apply."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator


@contextlib.asynccontextmanager
async def served_ptys(
    profile: str = "simcom-sim800", count: int = 1, seed: int = 5
) -> AsyncIterator[list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "m2msim", "modem", "serve", "--profile", profile, "--seed", str(seed),
        "--count", str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        paths: list[str] = []
        async with asyncio.timeout(60):
            while len(paths) < count:
                line = (await proc.stdout.readline()).decode().strip()
                assert line.startswith("/dev/"), line
                paths.append(line)
        yield paths
    finally:
        proc.terminate()
        await proc.wait()


@contextlib.contextmanager
def served_ptys_sync(profile: str = "simcom-sim800", count: int = 1, seed: int = 5) -> Iterator[list[str]]:
    """`served_ptys` for a test that runs the command in its own thread (`m2msim.cli.main`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--profile", profile, "--seed", str(seed),
         "--count", str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        paths = [proc.stdout.readline().strip() for _ in range(count)]
        assert all(p.startswith("/dev/") for p in paths), paths
        yield paths
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


_HOLD = (
    "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY); print('held', flush=True); "
    "sys.stdin.read()"
)


@contextlib.contextmanager
def held_open(path: str) -> Iterator[subprocess.Popen[str]]:
    """A second process with the device `path` open (a terminal left on the port), once it has it;
    it closes it and is waited on when the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


class PtyDte:
    """A terminal on a served modem's pty: AT lines out, bytes read as they come and consumed up to each
    awaited token (an answer or a URC; none within `timeout` seconds fails the test with what came)."""

    def __init__(self, path: str, timeout: float = 15.0) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.timeout = timeout
        self.got = b""

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> PtyDte:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def until(self, token: bytes) -> bytes:
        """Everything up to and with `token`; what follows stays in `got`."""
        deadline = time.monotonic() + self.timeout
        while token not in self.got:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no {token!r} in {self.timeout:g} s; got {self.got!r}"
            self.got += os.read(self.fd, 65536)
        end = self.got.index(token) + len(token)
        seen, self.got = self.got[:end], self.got[end:]
        return seen

    def at(self, line: str, until: bytes = b"\r\nOK\r\n") -> bytes:
        os.write(self.fd, line.encode() + b"\r")
        return self.until(until)

    def next_sms(self) -> str:
        """The next SMS the modem stores, as its +CMTI says (+CNMI <mt>=1), read in text mode: the +CMGR
        answer."""
        self.until(b'+CMTI: "')
        index = self.until(b"\r\n").decode().split(",")[1].strip()
        self.at("AT+CMGF=1")
        return self.at(f"AT+CMGR={index}").decode()
