"""Virtual modems served on pseudo-terminals (`m2msim modem serve --count N`): to the bench, device
paths like a physical modem's, so the physical-modem rules (allow-list, no network records) apply."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
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
