"""Named Linux network namespaces for the TUN path: made (or joined), entered from a thread, removed.

    ns = Namespace.open("m2msim-4242")    # `ip netns add` unless it exists (then joined, and kept)
    ns.ip("addr", "add", "100.64.0.1/32", "dev", "m2msim0")     # `ip -n NAME ...`
    sock = ns.call(lambda: socket.socket(...))   # runs in a thread that entered the namespace
    ns.close()                            # `ip netns del NAME` only when this process made it

A namespace is named as `ip netns` names them (a bind mount under /run/netns), so the user's
programs join it with `ip netns exec NAME ...`.  Python 3.11 has no `os.setns`: a short-lived
thread calls libc's `setns(2)` (a thread's namespace is its own), and what it opens there (a TUN
device, a socket) stays in the namespace when the thread ends.  iproute2's `ip` does the rest.

The namespaces this process makes are noted under /run/m2msim/netns (one file per name, holding the
process id, the namespace's inode and its change time): a later start removes those whose process
is gone (killed before it could clean up) when the name still holds that very namespace, and never
one it did not make.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from m2msim.outputs import atomic_write_text, pid_alive

log = logging.getLogger(__name__)

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")  # where `ip netns` keeps the names
OURS_DIR = Path("/run/m2msim/netns")  # the names this program made, each with its process id
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
IP_TIMEOUT_S = 10.0


class NamespaceError(OSError):
    """A namespace that cannot be made, entered or configured (the text says which and why)."""

    def __str__(self) -> str:
        return str(self.strerror)


def check_name(name: str) -> str:
    """`name` when it can name a namespace (letters, digits, `_.-`, at most 64), else ValueError."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a namespace name is 1 to 64 letters, digits, '_', '.' or '-'")
    return name


def ip_command() -> str | None:
    """The path of iproute2's `ip`, None when it is not installed."""
    return shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)), None
    )


def _run_ip(args: list[str], stdin: str | None = None) -> None:
    ip = ip_command()
    if ip is None:
        raise NamespaceError(errno.ENOENT, "iproute2's `ip` command is not installed")
    try:
        done = subprocess.run(
            [ip, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=IP_TIMEOUT_S,
            check=False,
            start_new_session=True,  # a Ctrl-C at the terminal does not cut a clean-up short
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NamespaceError(errno.EIO, f"ip {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        reason = "; ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise NamespaceError(errno.EIO, f"ip {' '.join(args)}: {reason or f'status {done.returncode}'}")


def _setns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _identity(path: Path) -> str:
    """A namespace's inode and its change time (an inode number alone is reused once freed)."""
    st = path.stat()
    return f"{st.st_ino} {st.st_ctime_ns}"


class Namespace:
    """A named network namespace: made by this process (`made`, removed by `close`) or joined."""

    def __init__(self, name: str, made: bool) -> None:
        self.name = name
        self.made = made
        self._owner = os.getpid()  # a forked child never removes its parent's namespace
        self.closed = False

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    @classmethod
    def open(cls, name: str) -> Namespace:
        """Join the namespace `name` when it exists, else make it (and note it as ours)."""
        check_name(name)
        remove_stale()
        if (NETNS_DIR / name).exists():
            log.info("network namespace %s exists: joined, and kept at the end", name)
            return cls(name, made=False)
        _run_ip(["netns", "add", name])
        ns = cls(name, made=True)
        try:
            OURS_DIR.mkdir(parents=True, exist_ok=True)
            # the process and the namespace's identity: a later namespace of the same name is not ours
            atomic_write_text(OURS_DIR / name, f"{os.getpid()} {_identity(ns.path)}\n")
            ns.ip("link", "set", "lo", "up")
        except BaseException:
            ns.close()
            raise
        log.info("network namespace %s made", name)
        return ns

    def ip(self, *args: str) -> None:
        """`ip -n NAME ARGS...`; NamespaceError with ip's own message when it fails."""
        _run_ip(["-n", self.name, *args])

    def ip_batch(self, commands: list[list[str]]) -> None:
        """Several `ip` commands in the namespace in one run (`ip -n NAME -batch -`)."""
        _run_ip(["-n", self.name, "-batch", "-"], "\n".join(" ".join(c) for c in commands) + "\n")

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` in a thread that entered the namespace; its result, or its exception raised here."""
        result: list[T] = []
        error: list[BaseException] = []

        def work() -> None:
            try:
                _setns(self.path)
                result.append(fn())
            except BaseException as exc:  # handed to the caller's thread
                error.append(exc)

        thread = threading.Thread(target=work, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]

    def close(self) -> None:
        """Remove the namespace if this process made it (a joined one is left as it was)."""
        if self.closed or os.getpid() != self._owner:
            return
        self.closed = True
        if not self.made:
            return
        try:
            _run_ip(["netns", "del", self.name])
            log.info("network namespace %s removed", self.name)
        except NamespaceError as exc:
            log.warning("network namespace %s not removed: %s", self.name, exc)
            return
        with contextlib.suppress(OSError):
            (OURS_DIR / self.name).unlink()


def remove_stale() -> list[str]:
    """Remove the namespaces an m2msim process made and could not remove (it was killed); their names."""
    removed: list[str] = []
    try:
        notes = list(OURS_DIR.iterdir())
    except OSError:
        return removed
    for note in notes:
        try:
            pid_text, identity = note.read_text(encoding="ascii").split(maxsplit=1)
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if pid <= 0 or pid_alive(pid):
            continue
        try:
            same = _identity(NETNS_DIR / note.name) == identity.strip()
        except OSError:
            same = False
        if same:
            try:
                _run_ip(["netns", "del", note.name])
            except NamespaceError as exc:
                log.warning("stale network namespace %s not removed: %s", note.name, exc)
                continue
            log.info("stale network namespace %s (process %d gone) removed", note.name, pid)
            removed.append(note.name)
        with contextlib.suppress(OSError):
            note.unlink()
    return removed
