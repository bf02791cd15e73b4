"""Writing outputs that can be trusted: atomic files, one writer per output, never over an input.

- `atomic_path(path)` yields a temporary name in the same folder; on success the file is flushed
  to disk and renamed over `path` (a reader sees the old file or the new one, never a part);
  on any failure, an interruption included, the temporary file is removed.
- `output_lock(path)` makes a second writer of the same output fail at once with `OutputBusy`,
  which names the process that holds it (an advisory `flock` on a small file beside the output;
  the kernel drops it when the holder dies, so a killed run never leaves a stale lock).
- `refuse_same_file(out, inputs)` refuses an output that is one of the command's inputs.

An output path that is a device, a pipe or a socket (`--out /dev/null`, `/dev/stdout`, a FIFO) is
written in place: it cannot be replaced by a file (renaming over `/dev/null` would put a regular
file in its place), and nobody reads it as a file that could be half written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "OutputBusy",
    "OutputError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_dir",
    "output_lock",
    "refuse_same_file",
    "temporary_name",
]

# Temporary files and locks m2msim creates beside an output start with this: m2msim knows them
# as its own (and may remove a stale one), and nobody mistakes them for an output.
TMP_PREFIX = ".m2msim-"


class OutputError(Exception):
    """An output that cannot be written as asked (the command exits 2 with this text)."""


class OutputBusy(OutputError):
    """Another process is writing the same output."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path, self.pid = path, pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{path}: {who} is writing it now (one writer per output); wait for it or choose another"
        )


def temporary_name(path: Path, tag: str = "tmp") -> Path:
    """A fresh hidden name beside `path`, in the same folder (so the final rename is atomic)."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{tag}-{os.getpid()}-{os.urandom(4).hex()}")


def _is_stream(path: Path) -> bool:
    """Whether `path` exists and is neither a regular file nor a folder (a device, a pipe, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str, *, fsync: bool = True) -> Iterator[Path]:
    """A temporary path to write; renamed over `path` when the block ends without an exception.

    The folder must exist (a missing folder is the caller's decision to create).  On any
    exception, KeyboardInterrupt and SystemExit included, the temporary file is removed and
    `path` is left as it was.  A device, pipe or socket at `path` is yielded itself, to write in place.
    A symbolic link at `path` is kept: the file it names is the one replaced (renaming over the link
    put a file in its place and left the file it named as it was).
    """
    final = Path(path)
    if final.is_symlink():  # the file it names is written (atomically, beside it); the link stays
        final = Path(os.path.realpath(final))
    if final.is_dir():
        raise OutputError(f"{final}: is a directory, expected a file name")
    if _is_stream(final):
        yield final
        return
    tmp = temporary_name(final)
    try:
        yield tmp
        if fsync and tmp.exists():
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync_dir(final.parent)


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> None:
    """Write `text` to `path` atomically (see `atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def refuse_same_file(out: Path | str, inputs: Iterable[Path | str], option: str = "--out") -> None:
    """`OutputError` when `out` is one of `inputs` (or a file inside an input folder)."""
    o = Path(out)
    for i in inputs:
        ip = Path(i)
        if not ip.exists():
            continue
        if o.exists() and _same(o, ip):
            raise OutputError(f"{option} {o}: is the input {ip}; refusing to overwrite an input")
        if ip.is_dir() and o.resolve().is_relative_to(ip.resolve()):
            raise OutputError(f"{option} {o}: is inside the input folder {ip}; choose another place")


def check_writable_dir(folder: Path | str, option: str = "--out") -> None:
    """`OutputError` unless a file can be created in `folder` (checked by creating one)."""
    f = Path(folder)
    if not f.is_dir():
        raise OutputError(f"{option} {f}: no such folder")
    probe = temporary_name(f / "write-check")
    try:
        probe.write_bytes(b"")
    except OSError as exc:
        raise OutputError(f"{option} {f}: cannot write there ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _lock_file(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: Path | str) -> Iterator[None]:
    """Hold the right to write `path` (a file or a folder) for the block; `OutputBusy` if taken.

    The lock file sits beside `path` (the parent folder must exist), holds the owner's PID, and is
    removed on release.  A holder that dies loses the lock with its file descriptor.  A device, pipe
    or socket (`/dev/null`) is not locked: it is written in place, and no lock file goes beside it.
    """
    target = Path(path)
    if _is_stream(target):
        yield
        return
    lock = _lock_file(target)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid: int | None = None
            with contextlib.suppress(OSError, ValueError):
                pid = int(os.pread(fd, 32, 0).decode("ascii").strip() or "0") or None
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusy(target, pid) from None
            raise
        # The file may have been removed (and re-created) by the previous holder between our open
        # and our lock: then we hold a lock on a name nobody sees. Start again on the new file.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:  # a full disk: not even the lock file's few bytes
            raise OutputError(f"{target}: cannot write beside it ({exc.strerror or exc})") from None
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)
