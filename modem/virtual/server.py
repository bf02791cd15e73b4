"""Serving virtual modems to any AT client: on pseudo-terminals or on loopback TCP ports.

A pty: the master side is read in the loop's `ReadyHub` (one loop callback serves every modem
ready at that moment) while a client has the device open, the slave is put in raw mode; clients open
the slave's path (`/dev/pts/N`).  What the modem prints while no client has it open is dropped, as a
real module's output with no one on the line (`PtyEndpoint`).
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
import select
import socket
import termios
import tty
from collections.abc import Callable

from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.serving import OpenWatch, ReadyHub
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

    def discard(self) -> None:
        """Drop what waits for the client (it went away); later output is written again."""
        if self.pending:
            self.pending.clear()
            self.loop.remove_writer(self.fd)
            self._resume()

    def lost(self) -> None:
        """The client is gone: what waits for it is dropped (the endpoint closes the descriptor)."""
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.discard()

    def _resume(self) -> None:
        if self.runner is not None:
            self.runner.sockets.resume_reading()


class PtyEndpoint:
    """One virtual modem on one pseudo-terminal.

    A real module's port carries its output to whoever listens: what it prints while no client has
    the port open (its boot messages, RDY, +CFUN: 1, +CPIN: READY, Call Ready, SMS Ready, at power-up)
    is gone, and a client that opens it later reads only what comes after.  A pty keeps what the
    master writes for the next reader, so the endpoint writes only while a client has the device open
    (the master hangs up, POLLHUP, while none has: the endpoint does not hold the slave open), and
    what a client left unread when it closed is dropped with it.  Whether one has it open is asked of
    the master when output comes while none had; the master is read while one has it (its hang-up is
    reported without end otherwise), from the open that the kernel tells (`OpenWatch`) until the
    hang-up.  Without inotify the slave is held open as before: output waits for the next client."""

    def __init__(self, modem: VirtualModem, clock: LoopClock) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(slave)  # (kept by the pty for its next opener)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(slave)
        self.loop = clock.loop
        self._hangup = select.poll()
        self._hangup.register(self.master, select.POLLIN)  # (POLLHUP is reported whatever is asked)
        self._writer = _Writer(self.loop, self.master)
        self._hub = ReadyHub.of(self.loop)
        self._watch = OpenWatch.of(self.loop)
        self.slave: int | None = slave
        self.listening = True  # a client has the device open (as far as the endpoint knows)
        if self._watch is not None and self._watch.add(self.path, self._opened):
            os.close(slave)  # no client yet: the master hangs up
            self.slave, self.listening = None, False
        self.runner = ModemRunner(modem, clock, self._output)
        self._writer.runner = self.runner
        self._hub.add(self.master, self._reader())
        if not self.listening:
            self._hub.pause(self.master)

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem

    def _output(self, data: bytes) -> None:
        if self.listening or self._client_came():
            self._writer.write(data)
        # else: no client has the port open, nothing is on the line to receive it

    def _client_came(self) -> bool:
        """Whether a client has the device open now (the master no longer hangs up); if so, from now
        on its input is read and the output written."""
        if any(event & select.POLLHUP for _, event in self._hangup.poll(0)):
            return False
        self.listening = True
        self._hub.resume(self.master)
        return True

    def _opened(self) -> None:
        if not self.listening:
            self._client_came()

    def _left(self) -> None:
        """The last client closed the device: what it did not read goes with it, as does what comes
        until the next one opens it.  Its close drops DTR, as a serial port's last close does (HUPCL,
        the termios default): AT&D says what becomes of a data connection (a PPP bearer whose host
        was killed ends under &D2, the default, its context released)."""
        self.listening = False
        self._hub.pause(self.master)
        self._writer.discard()
        with contextlib.suppress(OSError):
            termios.tcflush(self.master, termios.TCIOFLUSH)
        self.runner.run_now(self.runner.modem.dtr_drop)

    def _reader(self) -> Callable[[], None]:
        """What the hub calls when the master is readable (the hot path: what it uses bound once)."""
        fd, read, runner = self.master, os.read, self.runner

        def readable() -> None:
            try:
                data = read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EIO:  # hung up: no client has the device open any more
                    if self.slave is None:
                        self._left()
                    return
                raise
            if data:
                runner.feed(data)

        return readable

    def close(self) -> None:
        self.runner.close()
        if self._watch is not None:
            self._watch.remove(self.path)
        self._hub.remove(self.master)
        self._writer.close()
        for fd in (self.master, self.slave):
            if fd is not None:
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
        """The client is gone (closed, reset, taken over): as a serial port's close, DTR drops
        (AT&D: a data connection ends under &D2)."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._hub is not None:
            self._hub.remove(client.fileno())
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        client.close()
        self.runner.run_now(self.runner.modem.dtr_drop)

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
