"""A transport that plays the modem's side of a recorded AT dialogue.

Each step pairs the exact bytes the client is expected to write with the bytes the modem answered
(a transcript from a module manual or a bench capture).  A reply of `None` models a modem that
stays silent.  Unsolicited bytes can be pushed at any time with `push`.  If the client writes
something the transcript does not expect, the transport records the mismatch and ends the stream,
so the client fails with `ConnectionClosed` and the test can show what diverged.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    expect: bytes
    reply: bytes | None


def steps(*pairs: tuple[str | bytes, str | bytes | None]) -> list[Step]:
    """Build steps from (expected, reply) pairs; str is encoded as UTF-8."""
    out = []
    for expect, reply in pairs:
        e = expect.encode() if isinstance(expect, str) else expect
        r = reply.encode() if isinstance(reply, str) else reply
        out.append(Step(e, r))
    return out


class ScriptedTransport:
    """Replays a transcript; `written` keeps every byte the client sent."""

    def __init__(self, script: Iterable[Step], *, boot: bytes = b"", url: str = "script://") -> None:
        self.url = url
        self.steps: deque[Step] = deque(script)
        self.written = bytearray()
        self.mismatch: str | None = None
        self._pending = bytearray()
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = False
        self.finished = asyncio.Event()  # set once every step has been played
        if not self.steps:
            self.finished.set()
        if boot:
            self._inbox.put_nowait(boot)

    @property
    def done(self) -> bool:
        """True once every step of the transcript has been played."""
        return not self.steps

    def push(self, data: bytes) -> None:
        """Send unsolicited bytes to the client."""
        self._inbox.put_nowait(data)

    async def read(self) -> bytes:
        if self._closed:
            return b""
        data = await self._inbox.get()
        if not data:
            self._closed = True
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionResetError("scripted transport closed")
        self.written += data
        self._pending += data
        while self.steps and self._pending.startswith(self.steps[0].expect):
            step = self.steps.popleft()
            del self._pending[: len(step.expect)]
            if step.reply:
                self._inbox.put_nowait(step.reply)
            if not self.steps:
                self.finished.set()
        if self._pending and not (self.steps and self.steps[0].expect.startswith(bytes(self._pending))):
            expected = self.steps[0].expect if self.steps else b"(end of transcript)"
            self.mismatch = f"client wrote {bytes(self._pending)!r}, transcript expects {expected!r}"
            self._inbox.put_nowait(b"")

    async def close(self) -> None:
        self._closed = True
        self._inbox.put_nowait(b"")
