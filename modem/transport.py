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


def _holder(transport: object, name: str) -> object | None:
    """The transport, or the first one it wraps (`inner`), that has the attribute `name`."""
    while transport is not None and not hasattr(transport, name):
        transport = getattr(transport, "inner", None)
    return transport


async def settled(transport: object) -> None:
    """Wait until the transport has delivered what its modem is due to send before the next
    command (a replay: the URCs recorded after the last answer, at their scaled offsets), so that a
    poll goes where the recording had it; at once for a live modem."""
    holder = _holder(transport, "settled")
    if holder is not None:
        await holder.settled()  # type: ignore[attr-defined]


def time_scale(transport: object) -> float:
    """Seconds of the bench's clock for each second of the modem's: a transport whose modem keeps
    scaled time says so with a `time_scale` attribute (a replay's `scale`, 0 when it answers at
    once; a virtual modem's 1 / `speed`), a wrapper (`spy://`, the bench's raw recording) has its
    inner transport's; 1 otherwise (a physical modem's time is the bench's)."""
    holder = _holder(transport, "time_scale")
    scale = getattr(holder, "time_scale", 1.0)
    return float(scale) if isinstance(scale, int | float) else 1.0


def seven_bit(transport: object) -> bool:
    """Whether the transport's line carries characters of 7 bits (a serial port opened with
    `bytesize=7`, as 7E1): the modem reads each byte's low 7 bits, 0xAB as `+` (a wrapper, `spy://`,
    has its inner transport's; a transport that does not say carries 8)."""
    return getattr(_holder(transport, "bytesize"), "bytesize", 8) == 7
