"""Delivery of unsolicited results: callbacks and async iterators, fed by the client's reader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from modem.at.errors import ConnectionClosed
from modem.at.parser import Urc

log = logging.getLogger(__name__)

UrcCallback = Callable[[Urc], None]


class Subscription:
    """A URC callback registration; `cancel()` stops the deliveries."""

    def __init__(self, hub: UrcHub, names: frozenset[str] | None, callback: UrcCallback) -> None:
        self._hub = hub
        self.names = names
        self.callback = callback

    def wants(self, urc: Urc) -> bool:
        return self.names is None or urc.name in self.names

    def cancel(self) -> None:
        self._hub.subscriptions.discard(self)


class UrcStream:
    """Async iterator over URCs (optionally filtered by name); ends when the link closes."""

    def __init__(self, hub: UrcHub, names: frozenset[str] | None) -> None:
        self._queue: asyncio.Queue[Urc | None] = asyncio.Queue()
        self._hub = hub
        self._sub = hub.subscribe(self._queue.put_nowait, names)
        hub.streams.append(self._queue)

    def __aiter__(self) -> UrcStream:
        return self

    async def __anext__(self) -> Urc:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> Urc:
        """The next URC; raises TimeoutError after `timeout` seconds, ConnectionClosed at the end."""
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if item is None:
            raise ConnectionClosed(f"{self._hub.url}: closed")
        return item

    def close(self) -> None:
        self._sub.cancel()
        with contextlib.suppress(ValueError):
            self._hub.streams.remove(self._queue)

    async def __aenter__(self) -> UrcStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class UrcHub:
    """The subscribers of one link.  `publish` runs callbacks at once; a failing callback is logged."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.subscriptions: set[Subscription] = set()
        self.streams: list[asyncio.Queue[Urc | None]] = []

    def subscribe(self, callback: UrcCallback, names: Iterable[str] | None = None) -> Subscription:
        sub = Subscription(self, frozenset(names) if names is not None else None, callback)
        self.subscriptions.add(sub)
        return sub

    def stream(self, names: Iterable[str] | None = None) -> UrcStream:
        return UrcStream(self, frozenset(names) if names is not None else None)

    def publish(self, urc: Urc) -> None:
        for sub in list(self.subscriptions):
            if sub.wants(urc):
                try:
                    sub.callback(urc)
                except Exception:
                    log.exception("%s: URC callback failed on %r", self.url, urc.line)

    def end(self) -> None:
        """The link closed: every stream ends."""
        for queue in self.streams:
            queue.put_nowait(None)
