"""Serving virtual modems to any AT client: on pseudo-terminals or on loopback TCP ports.

A pty: the master side is read in the loop's `ReadyHub` (one loop callback serves every modem
ready at that moment), the slave is put in raw mode and kept open by the server (so the master
never reads EIO while no client has the device open); clients open the slave's path (`/dev/pts/N`).
A TCP port: a listening socket on 127.0.0.1, one client at a time (a new one takes over), its
socket read in the same hub.  Both write the modem's output at once and keep what the client has
not taken yet (`_Writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
import socket
import tty
from collections.abc import Callable

from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.serving import ReadyHub
from modem.virtual.transport import ModemRunner

log = logging.getLogger(__name__)

BACKLOG = 1 << 20  # bytes waiting for the client before the modem's sockets stop being read
READ_SIZE = 65536


class _Writer:
    """Bytes toward one client descriptor: written at once; what does not fit waits for the loop's
    writability, and past `BACKLOG` the modem's sockets stop being read until the client catches up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.runner: ModemRunner | None = None  # whose sockets pause while the client is behind
        self.pending = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if self.pending:
            self.pending += data
        else:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                n = 0
            except (BrokenPipeError, ConnectionResetError):
                self.lost()
                return
            if n == len(data):
                return
            self.pending += data[n:]
            self.loop.add_writer(self.fd, self._writable)
        if len(self.pending) > BACKLOG and self.runner is not None:
            self.runner.sockets.pause_reading()  # the client reads slower than servers send

    def _writable(self) -> None:
        try:
            n = os.write(self.fd, self.pending)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            self.lost()
            return
        del self.pending[:n]
        if not self.pending:
            self.loop.remove_writer(self.fd)
            self._resume()

    def lost(self) -> None:
        """The client is gone: what waits for it is dropped (the endpoint closes the descriptor)."""
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.pending:
            self.pending.clear()
            self.loop.remove_writer(self.fd)
            self._resume()

    def _resume(self) -> None:
        if self.runner is not None:
            self.runner.sockets.resume_reading()


class PtyEndpoint:
    """One virtual modem on one pseudo-terminal."""

    def __init__(self, modem: VirtualModem, clock: LoopClock) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.loop = clock.loop
        self._writer = _Writer(self.loop, self.master)
        self.runner = ModemRunner(modem, clock, self._writer.write)
        self._writer.runner = self.runner
        self._hub = ReadyHub.of(self.loop)
        self._hub.add(self.master, self._reader())

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem

    def _reader(self) -> Callable[[], None]:
        """What the hub calls when the master is readable (the hot path: what it uses bound once)."""
        fd, read, runner = self.master, os.read, self.runner

        def readable() -> None:
            try:
                data = read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise
            if data:
                runner.feed(data)

        return readable

    def close(self) -> None:
        self.runner.close()
        self._hub.remove(self.master)
        self._writer.close()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpEndpoint:
    """One virtual modem on a loopback TCP port (one client at a time; a new one takes over)."""

    def __init__(self, modem: VirtualModem, clock: LoopClock, port: int) -> None:
        self.port = port
        self.clock = clock
        self.loop = clock.loop
        self._client: socket.socket | None = None
        self._writer: _Writer | None = None
        self.runner = ModemRunner(modem, clock, self._write)
        self._listener: socket.socket | None = None
        self._hub: ReadyHub | None = None

    @property
    def path(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._drop_client()  # a new client takes over
        self._client = client
        self._writer = _Writer(self.loop, client.fileno())
        self._writer.runner = self.runner
        self._hub = ReadyHub.of(self.loop)
        self._hub.add(client.fileno(), self._readable)

    def _readable(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            data = client.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset by the peer: as a close
        if data:
            self.runner.feed(data)
        else:
            self._drop_client()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._hub is not None:
            self._hub.remove(client.fileno())
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        client.close()

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is not None:
            writer.write(data)
            if writer.closed:
                self._drop_client()

    def close(self) -> None:
        self.runner.close()
        self._drop_client()
        if self._listener is not None:
            if not self.loop.is_closed():
                self.loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
