"""Serving virtual modems to any AT client: on pseudo-terminals or on loopback TCP ports.

A pty: the master side is read with the loop's `add_reader`, the slave is put
in raw mode and kept open by the server (so the master never reads EIO while
no client has the device open); clients open the slave's path (`/dev/pts/N`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
import tty
from typing import cast

from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.transport import ModemRunner

log = logging.getLogger(__name__)

BACKLOG = 1 << 20  # bytes waiting for the pty's reader before the modem's sockets stop being read


class PtyEndpoint:
    """One virtual modem on one pseudo-terminal."""

    def __init__(self, modem: VirtualModem, clock: LoopClock) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.loop = clock.loop
        self._pending = bytearray()
        self._writing = False
        self.loop.add_reader(self.master, self._readable)
        self.runner = ModemRunner(modem, clock, self._write)

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        if data:
            self.runner.feed(data)

    def _write(self, data: bytes) -> None:
        if self._pending:
            self._pending += data
        else:
            try:
                n = os.write(self.master, data)
            except BlockingIOError:
                n = 0
            if n < len(data):
                self._pending += data[n:]
                self.loop.add_writer(self.master, self._writable)
        if len(self._pending) > BACKLOG:
            self.runner.sockets.pause_reading()  # the client reads slower than servers send

    def _writable(self) -> None:
        try:
            n = os.write(self.master, self._pending)
        except BlockingIOError:
            return
        del self._pending[:n]
        if not self._pending:
            self.loop.remove_writer(self.master)
            self.runner.sockets.resume_reading()

    def close(self) -> None:
        self.runner.close()
        self.loop.remove_reader(self.master)
        if self._pending:
            self.loop.remove_writer(self.master)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class _TcpClient(asyncio.Protocol):
    """One client connection of a `TcpEndpoint`: its bytes go straight to the modem (no stream, no task)."""

    def __init__(self, endpoint: TcpEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.endpoint._connected(self)

    def data_received(self, data: bytes) -> None:
        self.endpoint.runner.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint._disconnected(self)


class TcpEndpoint:
    """One virtual modem on a loopback TCP port (one client at a time; a new one takes over)."""

    def __init__(self, modem: VirtualModem, clock: LoopClock, port: int) -> None:
        self.port = port
        self.clock = clock
        self._client: _TcpClient | None = None
        self.runner = ModemRunner(modem, clock, self._write)
        self.server: asyncio.AbstractServer | None = None

    @property
    def path(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem

    async def start(self) -> None:
        loop = self.clock.loop
        self.server = await loop.create_server(lambda: _TcpClient(self), "127.0.0.1", self.port)
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]

    def _connected(self, client: _TcpClient) -> None:
        old, self._client = self._client, client
        if old is not None and old.transport is not None:
            old.transport.close()

    def _disconnected(self, client: _TcpClient) -> None:
        if self._client is client:
            self._client = None

    def _write(self, data: bytes) -> None:
        client = self._client
        if client is not None and client.transport is not None and not client.transport.is_closing():
            client.transport.write(data)

    def close(self) -> None:
        self.runner.close()
        if self._client is not None and self._client.transport is not None:
            self._client.transport.close()
        if self.server is not None:
            self.server.close()
