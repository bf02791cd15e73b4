"""What the vendor TCP stacks have in common: the interface, counters and errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from modem.at.errors import ModemError


class TcpError(ModemError):
    """A socket operation the module refused or that failed on the network side."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class DataCounters:
    """Bytes sent and received: counted by this driver, and as reported by the module if it can."""

    sent: int
    received: int
    module_sent: int | None = None
    module_received: int | None = None


class TcpStack(Protocol):
    async def attach(self, apn: str, user: str = "", password: str = "") -> str:
        """Bring up the packet data context; returns the local IP address."""
        ...

    async def open(self, host: str, port: int) -> int:
        """Open a TCP connection; returns its connection id."""
        ...

    async def send(self, conn: int, data: bytes) -> None: ...

    async def receive(self, conn: int, timeout: float | None = None) -> bytes:
        """The next received bytes; b"" once the peer closed and everything was read."""
        ...

    async def close(self, conn: int) -> None: ...

    async def detach(self) -> None: ...

    async def counters(self) -> DataCounters: ...


class _Connection:
    def __init__(self, conn: int) -> None:
        self.id = conn
        self.ready = asyncio.Event()  # data announced and not yet read
        self.closed = False
        self.sent = 0
        self.received = 0
