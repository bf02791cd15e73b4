"""What serving many virtual modems from one process asks of the process: open files and the event loop.

    reserve_fds(1000, tcp=False)                  # before opening 1,000 ptys (OptionError: --count)
    run_served(main())                            # on uvloop when it is installed, else asyncio's loop
    hub = ReadyHub.of(loop); hub.add(fd, on_readable) ... hub.remove(fd)

`ReadyHub` watches the modems' descriptors (pty masters, TCP clients) in an epoll set of its own,
which the loop watches as one descriptor: one callback of the loop serves every descriptor ready
at that moment, so a fleet's commands cost one loop wake-up per batch instead of one each.

A pty keeps two descriptors open at most (the master, and the slave when inotify cannot tell its
opens: `OpenWatch`), a TCP port two (the listening socket and the client's; three while a new
client takes over).  The soft RLIMIT_NOFILE is raised up to the hard
limit when the modems need more; past the hard limit `FdLimitError` says how many are needed.
uvloop (an optional dependency, `pip install m2msim[speed]`) serves the same modems with less CPU per
command, on TCP most of all; the modems behave the same on either loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import struct
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from m2msim.fdlimit import FdLimitError as FdLimitError
from m2msim.fdlimit import raise_fd_limit as raise_fd_limit
from modem.options import OptionError

T = TypeVar("T")

log = logging.getLogger(__name__)

FDS_SPARE = 64  # the interpreter, imports, the records file, signals, the control socket...


def fds_needed(count: int, tcp: bool) -> int:
    """Descriptors `count` modems keep open (plus a margin for the rest of the process)."""
    return (3 if tcp else 2) * count + FDS_SPARE


def reserve_fds(count: int, tcp: bool) -> None:
    """Raise the open-file limit for `count` modems; `OptionError` naming `--count` when it cannot be."""
    try:
        raise_fd_limit(fds_needed(count, tcp))
    except FdLimitError as exc:
        raise OptionError(f"--count {count}: {exc}") from None


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def run_served(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


class OpenWatch:
    """Who opens which path, as the kernel tells it (Linux inotify, IN_OPEN): one inotify descriptor
    per event loop, read by the loop.  `OpenWatch.of(loop)` is the loop's (None where inotify cannot
    be had: another system, the user's inotify limits reached); `add(path, on_open)` calls
    `on_open()` after each open of `path` by anyone, `remove(path)` stops it."""

    _watches: ClassVar[dict[int, OpenWatch]] = {}  # by id(loop), as ReadyHub's
    IN_OPEN = 0x20

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self._by_wd: dict[int, Callable[[], None]] = {}
        self._wd: dict[str, int] = {}
        loop.add_reader(fd, self._events)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> OpenWatch | None:
        watch = cls._watches.get(id(loop))
        if watch is not None and watch.loop is loop:
            return watch
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.debug("inotify_init1: %s", os.strerror(ctypes.get_errno()))
            return None
        watch = cls._watches[id(loop)] = cls(loop, fd)
        return watch

    def add(self, path: str, on_open: Callable[[], None]) -> bool:
        """Watch `path`'s opens; False when it cannot be watched (the user's inotify watches used up)."""
        libc = _libc()
        wd = -1 if libc is None else libc.inotify_add_watch(self.fd, os.fsencode(path), self.IN_OPEN)
        if wd < 0:
            if not self._by_wd:
                self.close()
            return False
        self._by_wd[wd] = on_open
        self._wd[path] = wd
        return True

    def remove(self, path: str) -> None:
        wd = self._wd.pop(path, None)
        if wd is None:
            return
        self._by_wd.pop(wd, None)
        libc = _libc()
        if libc is not None:
            libc.inotify_rm_watch(self.fd, wd)
        if not self._by_wd:
            self.close()

    def close(self) -> None:
        if self._watches.get(id(self.loop)) is self:
            del self._watches[id(self.loop)]
        if self.fd >= 0:
            if not self.loop.is_closed():
                self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1

    def _events(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        opened = set()
        at = 0
        while at + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name[len]
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, at)
            at += 16 + length
            if mask & self.IN_OPEN:
                opened.add(wd)
        for wd in opened:
            on_open = self._by_wd.get(wd)
            if on_open is not None:
                on_open()


def _libc() -> Any:
    """The C library with inotify (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018  (there, or AttributeError)
    except (OSError, AttributeError):
        return None
    return libc


class ReadyHub:
    """Many descriptors' read readiness in one callback of an event loop (Linux epoll; elsewhere the
    loop's own `add_reader` per descriptor).  `ReadyHub.of(loop)` is the loop's hub: made at the first
    `add`, its epoll set closed when the last descriptor is removed."""

    _hubs: ClassVar[
        dict[int, ReadyHub]
    ] = {}  # by id(loop): uvloop's loops take no attributes nor weak references
    BATCH = 1024  # descriptors served per loop callback at most (the rest: the next one)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._handlers: dict[int, Callable[[], None]] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._ready)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> ReadyHub:
        hub = cls._hubs.get(id(loop))
        if hub is None or hub.loop is not loop:
            hub = cls._hubs[id(loop)] = cls(loop)
        return hub

    def add(self, fd: int, on_readable: Callable[[], None]) -> None:
        """Call `on_readable()` whenever `fd` has something to read (level-triggered, as add_reader)."""
        self._handlers[fd] = on_readable
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            self.loop.add_reader(fd, on_readable)

    def pause(self, fd: int) -> None:
        """Stop watching `fd` for a while (a pty without a client: its hang-up would be reported
        without end); `resume` watches it again.  The hub stays open for it."""
        if fd not in self._handlers:
            return
        if self._epoll is None:
            self.loop.remove_reader(fd)
        else:
            with contextlib.suppress(OSError):  # (not watched now)
                self._epoll.unregister(fd)

    def resume(self, fd: int) -> None:
        on_readable = self._handlers.get(fd)
        if on_readable is None:
            return
        if self._epoll is None:
            self.loop.add_reader(fd, on_readable)
        else:
            with contextlib.suppress(FileExistsError):  # (watched already)
                self._epoll.register(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        """Stop watching `fd` (before closing it); the hub closes when it watches nothing."""
        if self._handlers.pop(fd, None) is None:
            return
        if self._epoll is None:
            self.loop.remove_reader(fd)
        else:
            with contextlib.suppress(OSError):  # closed already: epoll forgot it
                self._epoll.unregister(fd)
        if not self._handlers:
            self.close()

    def close(self) -> None:
        if self._hubs.get(id(self.loop)) is self:
            del self._hubs[id(self.loop)]
        if self._epoll is not None and not self._epoll.closed:
            if not self.loop.is_closed():
                self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()

    def _ready(self) -> None:
        assert self._epoll is not None
        handlers = self._handlers
        for fd, _ in self._epoll.poll(0, self.BATCH):
            handler = handlers.get(fd)
            if handler is None:
                continue
            try:
                handler()
            except Exception as exc:  # one descriptor's failure is reported; the others are served
                self.loop.call_exception_handler(
                    {"message": f"ReadyHub: error serving descriptor {fd}", "exception": exc}
                )
