"""The byte pipe under the AT client, whatever is at its other end.

A transport is opened from a URL (`/dev/ttyUSB2`, `socket://127.0.0.1:7000`,
`/dev/pts/7`, `virtual://quectel-bg96?seed=3`, `spy://...`); the AT client only
sees this protocol.  The factory `open_transport` lives in `modem.transports`.
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    url: str

    async def read(self) -> bytes:
        """Wait for and return the next bytes available (at least one); b"" when closed."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the modem."""
        ...

    async def close(self) -> None: ...
