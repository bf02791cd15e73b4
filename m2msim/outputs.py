"""Writing outputs that can be trusted: atomic files, one writer per output, never over an input.

- `atomic_path(path)` yields a temporary name in the same folder; on success the file is flushed
  to disk, given the permissions of the file it replaces (`keep_mode`; it is created with them, before
  a byte is written), and renamed over `path`
  (a reader sees the old file or the new one, never a part);
  on any failure, an interruption included, or a block that wrote nothing there, the temporary
  file is removed and `path` left as it was.  The name carries the
  host and the process (`.m2msim-NAME.tmp-HOST-PID-XXXXXXXX`): the file a writer killed by SIGKILL
  left is removed at the next write of the same output on the same host, once that process is gone;
  one filled as it goes (`tag` of `LIVE_TAGS`: `modem serve`'s records and capture) is kept beside
  the output instead, cut after its last whole record (`keep_left`).
- `output_lock(path)` makes a second writer of the same output fail at once with `OutputBusy`,
  which names the process that holds it (an advisory `flock` on a small file beside the output in
  its real folder, beside the file a symbolic link names, and on the existing output itself, so that
  two names of one file, a link, `a/../b`, a hard link, a bind mount, are one output; the kernel
  drops it when the holder dies, so a killed run never leaves a stale lock).
- `refuse_same_file(out, inputs)` refuses an output that is one of the command's inputs.
- `refuse_misnamed(out, written)` refuses an output whose name's suffix says another format than
  the one it would be written in (`report --out F/x.json`: an HTML page a `.json` name, which the
  next `report F` refused as a JSON file that does not parse).
- `refuse_foreign(path, own, force=...)` refuses an output path that holds a file m2msim did not
  write: an existing regular, non-empty file (the file a symbolic link names) is replaced only when
  `own(path)` recognises it as this writer's output, or with `force` (the user's `--force`, which
  replaces a link to such a file by the output, never the file through the link); a file nobody
  may write (`chmod a-w`) is refused likewise, m2msim's own too.  Both this and
  `refuse_same_file` check the path as it will be once its folders are made (`as_made`).  Each
  writer passes its own recogniser, a check of the content it writes (a first line, a header, JSON
  keys, a Parquet schema, an HTML `generator`), never of extended attributes (lost by `cp`, `scp`).
  `atomic_path(path, own=..., force=...)` makes the same check again at the rename: a file created
  at `path` while the output was written is never replaced (`renameat2(RENAME_NOREPLACE)`, else a
  hard link, which fail when the name exists); a file there that m2msim wrote is replaced.

- `OutputSet()` writes several files of one output (`rate --out F --report P`) whole to their
  temporary files first, then renames them into place together, the stop signals held back: a
  failure or an interruption before that leaves every one as it was.
- `track_output(path)` (done by `output_lock`) and `output_written(path)` (done by the writers
  above) let an interrupted command say what became of each of its outputs (`interrupted_words`).

An output path that is a device, a pipe or a socket (`--out /dev/null`, `/dev/stdout`, a FIFO) is
written in place: it cannot be replaced by a file (renaming over `/dev/null` would put a regular
file in its place), and nobody reads it as a file that could be half written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "Kept",
    "OutputBusy",
    "OutputError",
    "OutputSet",
    "Recogniser",
    "any_of",
    "as_made",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_parents",
    "check_writable_dir",
    "forget_outputs",
    "head_matches",
    "holds_lock",
    "interrupted_words",
    "is_mount_point",
    "is_stream",
    "keep_left",
    "keep_mode",
    "left_words",
    "marked_folder",
    "mounts",
    "output_lock",
    "output_written",
    "refuse_foreign",
    "refuse_misnamed",
    "refuse_same_file",
    "remove_files_of_the_dead",
    "remove_stale",
    "remove_stale_locks",
    "remove_stale_of",
    "remove_unheld_locks",
    "same_path",
    "stale_pattern",
    "temporary_name",
    "track_output",
]

log = logging.getLogger(__name__)

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


class _Output(NamedTuple):
    shown: str  # as the command was given it
    existed: bool  # whether something was there when the command took it


# The outputs this process's command writes (each one it took the lock of: `output_lock`), and those
# of them put in place: what an interrupted command says it kept (`interrupted_words`).
_outputs: dict[str, _Output] = {}
_written: set[str] = set()


def _key(path: Path | str) -> str:
    return os.path.abspath(path)


def track_output(path: Path | str) -> None:
    """Count `path` among the command's outputs (`output_lock` does it for each output it locks)."""
    key = _key(path)
    if key not in _outputs and not _is_stream(Path(path)):  # (a pipe's: nothing to keep or take back)
        _outputs[key] = _Output(str(path), os.path.lexists(path))


def output_written(path: Path | str) -> None:
    """Say that the output `path` is in place, whole (once renamed there)."""
    _written.add(_key(path))


def forget_outputs() -> None:
    """Start afresh: a new command (the tests run several in one process)."""
    _outputs.clear()
    _written.clear()


def interrupted_words() -> str:
    """What became of the command's outputs, for the line of an interrupted command: `; written:
    F`, `; left as it was: F` (it existed), `; not written: F` (it did not); empty when the command
    had taken none (interrupted before, or writing only to standard output)."""
    said: dict[str, list[str]] = {"written": [], "left as it was": [], "not written": []}
    for key, output in _outputs.items():
        state = "written" if key in _written else "left as it was" if output.existed else "not written"
        said[state].append(output.shown)
    return "".join(f"; {state}: {', '.join(shown)}" for state, shown in said.items() if shown)


# How a writer knows a file it wrote: given the existing file (a regular, non-empty one), True when its
# content is this writer's output (an earlier run of the same command, or an older m2msim's).
Recogniser = Callable[[Path], bool]

HEAD_BYTES = 4096  # what `head_matches` reads of a file


def head_matches(pattern: str | bytes) -> Recogniser:
    """A recogniser: the file's first `HEAD_BYTES` bytes match `pattern` (a regex, from the start)."""
    regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)

    def recognise(path: Path) -> bool:
        with open(path, "rb") as f:
            return regex.match(f.read(HEAD_BYTES)) is not None

    return recognise


def any_of(*recognisers: Recogniser) -> Recogniser:
    """A recogniser of the files any of `recognisers` knows (a command that writes several kinds)."""

    def recognise(path: Path) -> bool:
        return any(r(path) for r in recognisers)

    return recognise


def _foreign(path: Path, own: Recogniser) -> bool:
    """Whether `path` holds a file m2msim may not replace: a regular, non-empty file that `own`
    does not recognise (one that cannot be read cannot be recognised)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False  # nothing there (a dangling link: its target is created)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False  # a folder is refused by the writers, a device or a pipe is written in place
    try:
        return not own(path)
    except (OSError, ValueError):
        return True


_MOUNTINFO = "/proc/self/mountinfo"  # the mounts this process sees (Linux), the last on top


def _unescaped(field: str) -> str:
    """A path of /proc/self/mountinfo as it is (a space there is written `\\040`)."""
    return re.sub(r"\\([0-7]{3})", lambda found: chr(int(found[1], 8)), field)


def mounts() -> list[tuple[str, str]]:
    """The mount points this process sees and the type of each (`ext4`, `overlay`, ...), in the
    order of /proc/self/mountinfo (a mount on the same point later is on top); none without /proc."""
    try:
        text = Path(_MOUNTINFO).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        mount, sep, rest = line.partition(" - ")
        fields, after = mount.split(), rest.split()
        if sep and len(fields) >= 5 and after:
            found.append((_unescaped(fields[4]), after[0]))
    return found


def is_mount_point(path: Path) -> bool:
    """Whether `path` is a mount point (another file system's root, a bind mount of a folder or a
    file of the same one, a container's volume), which no rename can move or replace."""
    if os.path.ismount(path):
        return True
    real = os.path.realpath(path)
    return any(point == real for point, _ in mounts())


_FORCE = ", or --force to replace it"  # the remedy of a command that has --force


def _foreign_error(path: Path | str, option: str | None, after: str = "", force: str = _FORCE) -> OutputError:
    name = f"{option} {path}" if option else str(path)
    return OutputError(f"{name}: exists and was not written by m2msim{after}: choose another name{force}")


def _read_only(path: Path) -> bool:
    """Whether `path` is a regular file nobody may write (`chmod a-w`: an invoice kept as sent)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222


def _read_only_error(path: Path | str, option: str | None, force: str = _FORCE) -> OutputError:
    name = f"{option} {path}" if option else str(path)
    return OutputError(
        f"{name}: is read-only (no write permission): m2msim does not replace it; make it writable, "
        f"choose another name{force}"
    )


def refuse_foreign(
    path: Path | str,
    own: Recogniser,
    *,
    force: bool = False,
    option: str | None = None,
    forceable: bool = True,
) -> None:
    """`OutputError` when `path` (or the file its symbolic link names) is a regular, non-empty file
    that `own` does not recognise as m2msim's output, or a file nobody may write (m2msim's own
    too: renaming over it replaced it, its write permissions taken off or not), unless `force`.
    Call it before the command's work: the refusal then costs nothing (no rating, no modem opened).
    `forceable`: the caller has a `--force` (the refusal says it); else it is not offered."""
    final = _final(as_made(path))
    remedy = _FORCE if forceable else ""
    _refuse_mount_point(final, path, option)
    if not force and _foreign(final, own):
        raise _foreign_error(path, option, force=remedy)
    if not force and _read_only(final):
        raise _read_only_error(path, option, force=remedy)


def _refuse_mount_point(final: Path, path: Path | str, option: str | None) -> None:
    """`OutputError` when the file `final` (written for `path`) is a mount point (a file bind-mounted
    there, a container's `-v invoice.txt:/out/invoice.txt`): no rename replaces it, and the output
    was refused after the work, naming its temporary file (`.m2msim-NAME.tmp-...: Device or resource
    busy`).  A device, pipe or socket there is written in place (`is_stream`): not refused."""
    if os.path.lexists(final) and not _is_stream(final) and is_mount_point(final):
        name = f"{option} {path}" if option else str(path)
        raise OutputError(
            f"{name}: is a mount point (a file mounted there), which m2msim cannot replace (an output "
            "is put in place whole by a rename): write it under another name, then copy it there"
        )


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _rename_noreplace(src: Path, dst: Path) -> bool:
    """Rename `src` to `dst` unless `dst` exists (False then); atomic: a file created at `dst` at the
    same moment is never replaced.  `renameat2(RENAME_NOREPLACE)`, else a hard link and an unlink."""
    import ctypes

    renameat2: Any
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        renameat2 = None
    if renameat2 is not None:
        rc = renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(dst))
    try:
        os.link(src, dst)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # no hard links here (a FAT or network file system): the check just made stands, and a file
        # created in the instant between it and this rename would be replaced
        if dst.exists() or dst.is_symlink():
            return False
        os.replace(src, dst)
        return True
    os.unlink(src)
    return True


def host_name() -> str:
    """This machine's name as m2msim's temporary names carry it: letters, digits, `.` and `_` (any
    other character, `-` included, as `_`), at most 64 of them."""
    return re.sub(r"[^A-Za-z0-9._]", "_", os.uname().nodename)[:64] or "_"


NAME_MAX = 255  # bytes in a file's name (Linux's file systems, and most others)


def _fitted(name: str, tail: int) -> str:
    """`name` as m2msim's own names beside it carry it (`.m2msim-NAME` and `tail` more bytes): the
    name itself when they fit in `NAME_MAX` bytes, else its start and a digest of it (an output
    whose name is near the limit: its temporary file and its lock could not be made)."""
    room = NAME_MAX - len(TMP_PREFIX) - tail
    if len(os.fsencode(name)) <= room:
        return name
    import hashlib

    digest = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    start = name
    while len(os.fsencode(start + digest)) > room:
        start = start[:-1]
    return start + digest


def _temporary_stem(path: Path) -> str:
    """The `NAME` of `temporary_name(path, TAG)`: room kept for a tag of 8, the host, a PID of 10."""
    return _fitted(path.name, len(f".{'t' * 8}-{host_name()}-{'9' * 10}-{'f' * 8}"))


def temporary_name(path: Path, tag: str = "tmp") -> Path:
    """A fresh hidden name beside `path`, in the same folder (so the final rename is atomic):
    `.m2msim-NAME.TAG-HOST-PID-XXXXXXXX`, which says who made it, so that what a killed writer
    left can be known for its own (`remove_stale`).  `tag`: at most 8 characters."""
    stem = _temporary_stem(path)
    return path.with_name(f"{TMP_PREFIX}{stem}.{tag}-{host_name()}-{os.getpid()}-{os.urandom(4).hex()}")


def stale_pattern(path: Path, tags: str = "tmp", *, legacy: bool = False) -> re.Pattern[str]:
    """The names `temporary_name(path, TAG)` gives on this host, for a TAG of `tags` (a regex
    alternation, `tmp|old`): groups `tag` and `pid`.  With `legacy`, also the names of versions
    before the host was in them (`.m2msim-NAME.TAG-PID-XXXXXXXX`)."""
    host = re.escape(host_name()) + "-"
    return re.compile(
        rf"{re.escape(TMP_PREFIX + _temporary_stem(path))}\.(?P<tag>{tags})-"
        rf"{f'(?:{host})?' if legacy else host}(?P<pid>\d+)-[0-9a-f]{{8}}"
    )


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host (one of another user's too)."""
    if pid <= 0:
        return True  # (no process of ours has such a number: never taken as dead)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process; a number no process has (not ours: never touched)
    return True


def remove_stale(path: Path) -> list[Path]:
    """Remove the temporary files a killed writer of `path` left beside it (SIGKILL, a power loss):
    only regular files named by `temporary_name(path)` on this host whose process is no longer
    alive.  Anything else is left as it is: a live writer's file, another host's (a shared
    folder), a folder, a link, a name of an older version.  The files removed."""
    return remove_files_of_the_dead(path.parent, stale_pattern(path))


def remove_stale_of(paths: Iterable[Path]) -> list[Path]:
    """`remove_stale` for each of `paths` (a run's files, thousands of parts), each folder listed
    once: the temporary files of those names on this host whose writer is gone.  The files removed."""
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(_temporary_stem(path))
    pattern = re.compile(
        rf"{re.escape(TMP_PREFIX)}(?P<stem>.+)\.tmp-{re.escape(host_name())}-(?P<pid>\d+)-[0-9a-f]{{8}}"
    )
    removed: list[Path] = []
    for folder, stems in by_folder.items():
        for entry in _left_by_the_dead(folder, pattern):
            found = pattern.fullmatch(entry.name)
            with contextlib.suppress(OSError):
                if found is not None and found["stem"] in stems and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def remove_stale_locks(paths: Iterable[Path]) -> list[Path]:
    """Remove the lock files (`output_lock`) beside `paths` that nobody holds: a writer killed by
    SIGKILL leaves its lock file (its lock goes with it).  Each is locked before it is removed, so
    a writer that opened it meanwhile sees it gone and makes its own (`_name_lock`).  The files
    removed."""
    return [lock for lock in map(_lock_file, paths) if _remove_unheld(lock)]


def remove_unheld_locks(folder: Path) -> list[Path]:
    """Remove every lock file (`output_lock`) of `folder` that nobody holds, as `remove_stale_locks`
    does: those of outputs named once (`bench`'s `runs/bench/NAME-TIME`, `--out b-{run}`), which
    no later writer of the same name removes.  The files removed."""
    try:
        names = [
            e.name for e in os.scandir(folder) if e.name.startswith(TMP_PREFIX) and e.name.endswith(".lock")
        ]
    except OSError:
        return []
    return [lock for lock in (folder / name for name in sorted(names)) if _remove_unheld(lock)]


def _remove_unheld(lock: Path) -> bool:
    """Remove the lock file `lock` if it is a regular file nobody holds; whether it was removed."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # the name may have gone to another file as the lock was taken (its holder removed it on
        # release, the next writer made its own and holds it): that one is not ours to remove
        # (every remover of a lock file holds its lock, so the name stays on this file meanwhile)
        now, kept = os.fstat(fd), os.stat(lock, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (kept.st_dev, kept.st_ino):
            return False
        os.unlink(lock)
        return True
    except OSError:
        return False  # held: its writer is alive
    finally:
        os.close(fd)


def _whole_lines(path: Path) -> int:
    """The length of `path` up to the end of its last whole line after the first (a CSV's header):
    0 when no whole line follows it.  Read from the end, a block at a time."""
    with open(path, "rb") as f:
        first = f.readline()
        if not first.endswith(b"\n"):
            return 0
        end = f.seek(0, os.SEEK_END)
        while end > len(first):
            start = max(len(first), end - (1 << 16))
            f.seek(start)
            at = f.read(end - start).rfind(b"\n")
            if at >= 0:
                return start + at + 1
            end = start
    return 0


_PCAP_LE_US = b"\xd4\xc3\xb2\xa1"  # a classic pcap as m2msim writes it: little-endian, microseconds


def _whole_packets(path: Path) -> int:
    """The length of the pcap `path` up to the end of its last whole packet: 0 when it holds none
    (or is not a little-endian classic pcap, the only kind m2msim writes)."""
    with open(path, "rb") as f:
        if f.read(24)[:4] != _PCAP_LE_US:
            return 0
        size = f.seek(0, os.SEEK_END)
        end = at = 24
        while at + 16 <= size:
            f.seek(at + 8)
            at += 16 + int.from_bytes(f.read(4), "little")
            if at > size:
                break
            end = at
    return end if end > 24 else 0


# Temporary files a writer fills as it goes (`m2msim modem serve`'s usage records and capture, the
# evidence of a whole session): what a killed writer left is kept beside the output under a visible
# name, cut after its last whole part, never removed.  tag -> (suffix, what it holds, its whole part)
LIVE_TAGS: dict[str, tuple[str, str, Callable[[Path], int]]] = {
    "rec": (".csv", "the usage records", _whole_lines),
    "pcap": (".pcap", "the capture", _whole_packets),
}


OPEN_TAG = "open"
"""The tag of the journal of open data sessions beside a `rec` file (`accounting.interim`)."""


class Kept(NamedTuple):
    """A file `keep_left` kept: its name, what it holds in words ("the usage records"), and how many
    data sessions still open at the kill it holds up to their last interim point."""

    path: Path
    what: str
    open_sessions: int = 0


def keep_left(path: Path) -> list[Kept]:
    """Keep what a killed writer of `path` left in a temporary file it filled as it went (a tag of
    `LIVE_TAGS`, named by `temporary_name(path, TAG)` on this host, its process gone): renamed to
    `STEM.recovered-HOST-PID.SUFFIX` beside `path` (`-2`, `-3`... before the suffix when that name is
    taken: nothing is ever replaced) and cut after its last whole record or packet (a write the kill
    cut short); one with no whole record is removed, as it holds nothing.  Usage records get first
    the records of the sessions the writer had open, from its journal of them (`OPEN_TAG`, same
    process; `accounting.interim.fold_open_sessions`), then removed; a journal without its records
    file (the records were written whole) is removed.  The files kept."""
    kept: list[Kept] = []
    path = _final(Path(path))  # (a link's file is the one written, its temporary file beside it)
    pattern = stale_pattern(path, "|".join(LIVE_TAGS))
    journal_pattern = stale_pattern(path, OPEN_TAG)
    journals = _left_by_the_dead(path.parent, journal_pattern)
    for entry in _left_by_the_dead(path.parent, pattern):
        found = pattern.fullmatch(entry.name)
        with contextlib.suppress(OSError):
            if found is None or not entry.is_file(follow_symlinks=False):
                continue
            suffix, what, whole = LIVE_TAGS[found["tag"]]
            src = Path(entry.path)
            folded = 0
            if found["tag"] == "rec":
                mine = [
                    Path(j.path)
                    for j in journals
                    if (m := journal_pattern.fullmatch(j.name)) and m["pid"] == found["pid"]
                ]
                if mine:
                    from accounting.interim import fold_open_sessions

                    folded = fold_open_sessions(src, mine)  # (on the disk before the journals go)
                    for journal in mine:
                        os.unlink(journal)
            tail = f".recovered-{host_name()}-{found['pid']}"
            stem = _fitted(Path(path.name).stem, len(f"{tail}-999{suffix}") - len(TMP_PREFIX)) + tail
            for n in range(1, 1000):
                dest = path.with_name(f"{stem}{f'-{n}' if n > 1 else ''}{suffix}")
                if _rename_noreplace(src, dest):
                    break
            else:
                continue
            size = whole(dest)
            if size == 0:
                os.unlink(dest)
                continue
            if size < dest.stat().st_size:
                os.truncate(dest, size)
            kept.append(Kept(dest, what, folded))
    try:
        left = {found["pid"] for e in os.scandir(path.parent) if (found := pattern.fullmatch(e.name))}
    except OSError:
        return kept
    for entry in journals:  # without records beside it: they were written whole, or it is kept
        owner = journal_pattern.fullmatch(entry.name)
        if owner is not None and owner["pid"] not in left:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    return kept


def left_words(kept: Kept) -> str:
    """What a file `keep_left` kept holds, in words for the line that names it."""
    part = "record" if "records" in kept.what else "packet"
    words = f"holds {kept.what} of a modem serve that did not end (killed), up to its last written {part}"
    if kept.open_sessions:
        n = kept.open_sessions
        words += (
            f", and {n} data session{'s' if n > 1 else ''} it had open up to {'their' if n > 1 else 'its'}"
            " last interim point (cause 99)"
        )
    return words


def remove_files_of_the_dead(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Remove the regular files of `folder` named by `pattern` (a `pid` group: a process of this
    host) whose process is no longer alive; the files removed."""
    removed: list[Path] = []
    for entry in _left_by_the_dead(folder, pattern):
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _left_by_the_dead(folder: Path, pattern: re.Pattern[str]) -> list[os.DirEntry[str]]:
    """The entries of `folder` named by `pattern` (a `pid` group: a process of this host) whose
    process is no longer alive; none when the folder cannot be listed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return [e for e in entries if (found := pattern.fullmatch(e.name)) and not pid_alive(int(found["pid"]))]


def remove_dead_folders(prefix: str, parent: Path | str | None = None) -> None:
    """Remove the folders `PREFIX-HOST-PID-XXXXXXXX` in `parent` (the temporary directory unless
    given) that a killed process of this host and user left there (DuckDB's spill files of a
    rating killed by SIGKILL or the OOM killer can be gigabytes)."""
    parent = Path(parent if parent is not None else tempfile.gettempdir())
    pattern = re.compile(rf"{re.escape(prefix)}-{re.escape(host_name())}-(?P<pid>\d+)-[a-z0-9_]+")
    for entry in _left_by_the_dead(parent, pattern):
        with contextlib.suppress(OSError):
            if (
                entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_uid == os.getuid()
            ):
                shutil.rmtree(entry.path, ignore_errors=True)


def private_folder(prefix: str, parent: Path | str | None = None, *, clean: bool = True) -> Path:
    """A fresh folder of this process in `parent` (the temporary directory unless given),
    `PREFIX-HOST-PID-XXXXXXXX`, after removing the folders of that name a killed process of this
    host and user left there (`remove_dead_folders`; not with `clean=False`: the caller did)."""
    if clean:
        remove_dead_folders(prefix, parent)
    parent = Path(parent if parent is not None else tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{host_name()}-{os.getpid()}-", dir=parent))


# in a `marked_folder`: who made it and the files it writes there
FOLDER_MARK = ".m2msim-folder.json"


@contextlib.contextmanager
def marked_folder(prefix: str, files: Iterable[str], parent: Path | str | None = None) -> Iterator[Path]:
    """A fresh folder of this process in `parent` (the temporary directory unless given),
    `PREFIX-HOST-PID-XXXXXXXX`, for the files `files` (names) alone, removed when the block ends:
    those files, then the folder if nothing else is in it.  It holds `FOLDER_MARK` (this host, this
    process, `files`) from its start: the folder a process killed by SIGKILL left is known for
    m2msim's, and loses the same files (and the mark, and then itself if empty) when the next one
    of `prefix` is made, once that process is gone.  A folder of that name without the mark of the
    process its name names (another user's, one made by hand, an older version's) is left as it is:
    none of its files is provably m2msim's."""
    names = sorted(set(files))
    parent = Path(parent if parent is not None else tempfile.gettempdir())
    pattern = re.compile(rf"{re.escape(prefix)}-{re.escape(host_name())}-(?P<pid>\d+)-[a-z0-9_]+")
    for entry in _left_by_the_dead(parent, pattern):
        found = pattern.fullmatch(entry.name)
        if found is not None and entry.is_dir(follow_symlinks=False):
            _clear_marked(Path(entry.path), int(found["pid"]))
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-{host_name()}-{os.getpid()}-", dir=parent))
    try:
        said = {"m2msim": prefix, "host": host_name(), "pid": os.getpid(), "files": names}
        (folder / FOLDER_MARK).write_text(json.dumps(said) + "\n", encoding="utf-8")
        yield folder
    finally:
        _clear_marked(folder, os.getpid())


def _clear_marked(folder: Path, pid: int) -> None:
    """Remove the files the mark of `marked_folder` `folder` lists, when it is the mark of process
    `pid` of this host, then the mark and the folder if nothing else is in it."""
    try:
        said = json.loads((folder / FOLDER_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if not isinstance(said, dict) or said.get("pid") != pid or said.get("host") != host_name():
        return
    listed = said.get("files")
    for name in listed if isinstance(listed, list) else []:
        if isinstance(name, str) and name and Path(name).name == name and name not in (".", ".."):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                (folder / name).unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / FOLDER_MARK).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def is_stream(path: Path | str) -> bool:
    """Whether `path` names a device, a pipe or a socket (through links too): an output written in
    place, with nothing beside it."""
    return _is_stream(Path(path))


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


def _final(path: Path) -> Path:
    """The file written for `path`: the one a symbolic link names, else `path`.  A link to a device,
    a pipe or a socket is kept as given: `/dev/stdout` names `/proc/self/fd/1`, whose link to a
    pipe, `pipe:[897112]`, is no path (a temporary file was made in `/proc/PID/fd/` and failed)."""
    if not path.is_symlink() or _is_stream(path):
        return path
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def atomic_path(
    path: Path | str,
    *,
    fsync: bool = True,
    own: Recogniser | None = None,
    force: bool = False,
    option: str | None = None,
    tag: str = "tmp",
) -> Iterator[Path]:
    """A temporary path to write; renamed over `path` when the block ends without an exception.

    The folder must exist (a missing folder is the caller's decision to create).  On any
    exception, KeyboardInterrupt and SystemExit included, the temporary file is removed and
    `path` is left as it was; and likewise, with `OutputError`, when the block ends without having
    written the temporary file (an empty file made there is a write): the empty file made for it
    (`_made_as_strict`) replaced the output.  A device, pipe or socket at `path` is yielded itself, to write in place.
    A symbolic link at `path` is kept: the file it names is the one replaced (renaming over the link
    put a file in its place and left the file it named as it was).  With `own` and `force`, a link to
    a file m2msim did not write is itself replaced by the output: `--force` replaces what is at the
    name given, never a file elsewhere through a link.  A dangling link: the file it names is created.
    With `own`, a file m2msim did not write is never replaced (unless `force`): refused on entry, and
    at the rename, where a file that appeared meanwhile is left as it is and `OutputError` raised.
    `tag` names the temporary file (`temporary_name`): one of `LIVE_TAGS` for a file written as it
    goes, which a killed writer leaves to be kept (`keep_left`), not removed.  What a killed writer of
    `path` left is removed (`remove_stale`), or kept and said on the log (`keep_left`).
    """
    final, guard = _prepare(Path(path), own, force, option)
    if _is_stream(final):
        yield final
        return
    tmp = temporary_name(final, tag)
    renaming = False
    try:
        made = _made_as_strict(final, tmp)
        yield tmp
        if _unwritten(tmp, made):
            name = f"{option} {path}" if option else str(path)
            raise OutputError(f"{name}: its writer wrote nothing (no file was made): left as it was")
        if fsync:
            _fsync_file(tmp)
        renaming = True
        _rename_into_place(tmp, final, path, own, guard, option)
        output_written(path)
        _note_in_run(final)
    except BaseException:
        if renaming and not os.path.lexists(tmp):  # (interrupted just after the rename: in place)
            output_written(path)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync_dir(final.parent)


def _note_in_run(final: Path) -> None:
    """`final`, just put in place, recorded in the marker of the run folder it is in, if it is in one
    (`m2msim.rundir.note_written`): the next run takes it for the run's own.  A failure to record it
    does not undo the output: the next run then keeps the file, never deletes it."""
    from m2msim.rundir import note_written

    try:
        note_written(final)
    except (OSError, OutputError) as exc:
        log.warning("%s: not recorded as the run's in its folder's marker (%s)", final, exc)


def _prepare(path: Path, own: Recogniser | None, force: bool, option: str | None) -> tuple[Path, bool]:
    """The file to write for `path` (see `atomic_path`) and whether it is guarded (`own` without
    `force`: a file m2msim did not write there is never replaced); what a killed writer of it left
    is removed or kept."""
    final = _final(path)  # a link's file is written (atomically, beside it); the link stays
    guard = own is not None and not force
    foreign = own is not None and _foreign(final, own)
    if guard and foreign:
        raise _foreign_error(path, option)
    if guard and _read_only(final):  # (m2msim's own output, kept from being replaced)
        raise _read_only_error(path, option)
    if foreign and final != path:
        # --force through a link to a file m2msim did not write: the link is replaced by the
        # output, and the file it names is left as it is (m2msim never writes over it)
        log.info("%s: replacing the link, not %s it names (not written by m2msim)", path, final)
        final = path
    if final.is_dir():
        raise OutputError(f"{final}: is a directory, expected a file name")
    if _is_stream(final):
        return final, guard
    _refuse_mount_point(final, path, option)
    for kept in keep_left(final):
        log.warning("%s: %s", kept.path, left_words(kept))
    for stale in remove_stale(final):
        log.info("removed %s, left by a writer of %s that was killed", stale, final)
    return final, guard


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rename_into_place(
    tmp: Path, final: Path, path: Path | str, own: Recogniser | None, guard: bool, option: str | None
) -> None:
    """`tmp` renamed over `final`; guarded, never over a file m2msim did not write that appeared there.
    The file replaced gives `tmp` its permissions (`keep_mode`)."""
    keep_mode(final, tmp)
    if not guard or own is None:
        os.replace(tmp, final)
    elif not _rename_noreplace(tmp, final):  # a file is there: m2msim's own, or one just made
        if _foreign(final, own):
            raise _foreign_error(path, option, " (it appeared while the output was written)")
        os.replace(tmp, final)


def _made_as_strict(final: Path, tmp: Path) -> os.stat_result | None:
    """Create `tmp` empty with the permissions of the file `final` it is to replace (the umask
    applied), before a byte is written: an invoice kept `chmod 600` was written readable by all
    (0644, the umask's) and given its mode only at the rename.  Its owner may write it (one kept
    `chmod a-w`).  A writer opening `tmp` to write truncates it and keeps that mode; `keep_mode`
    still applies at the rename.  Nothing replaced (or not a regular file): `tmp` is left for the
    writer to create (None).  The file made is given the time `_UNWRITTEN_NS`, which any write
    changes, an empty one too (opening it to write truncates it, which sets its time to now); on a
    file system that refuses to set it, the file holds `_UNWRITTEN_MARK` instead, which a writer's
    truncation or bytes change (its time alone did not tell an empty write within the tick of the
    file's making: the output was refused as not written).  Its state is returned, to tell whether
    the writer wrote it (`_unwritten`)."""
    try:
        was = os.lstat(final)
    except OSError:
        return None
    if not stat.S_ISREG(was.st_mode):
        return None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(was.st_mode) & 0o777 | stat.S_IWUSR)
    try:
        try:
            os.utime(fd, ns=(_UNWRITTEN_NS, _UNWRITTEN_NS))
        except OSError:
            with contextlib.suppress(OSError):  # (a full disk: a write within the tick is not told)
                os.write(fd, _UNWRITTEN_MARK)
        return os.fstat(fd)
    finally:
        os.close(fd)


# The time of a temporary file `_made_as_strict` made until its writer writes it (1 January 1970):
# no write leaves it (a writer that made nothing left an empty file in place of the output)
_UNWRITTEN_NS = 0
# What that file holds where its time cannot be set (no writer's output is these bytes alone)
_UNWRITTEN_MARK = b"\0m2msim: not written by its writer\0\n"


def _unwritten(tmp: Path, made: os.stat_result | None) -> bool:
    """Whether the writer of `tmp` wrote nothing: no file there, or the file `_made_as_strict` made
    (`made`) as it was made (the same file, size and time; and, holding `_UNWRITTEN_MARK` or the
    part of it written, those bytes still)."""
    try:
        now = os.lstat(tmp)
    except FileNotFoundError:
        return True
    if made is None or (now.st_ino, now.st_size, now.st_mtime_ns) != (
        made.st_ino,
        made.st_size,
        made.st_mtime_ns,
    ):
        return False
    if made.st_size == 0:
        return True
    with open(tmp, "rb") as f:  # (the mark as far as it was written: a write may stop short)
        return f.read(made.st_size + 1) == _UNWRITTEN_MARK[: made.st_size]


def keep_mode(old: Path, new: Path) -> None:
    """Give `new` (an output's temporary file, or a run's file in its temporary folder, about to
    replace `old`) the permissions of `old`, when `old` is of the same kind (not a link): an
    invoice kept `chmod 600` was replaced by one the umask made readable by all (0644).  Never
    more than `new` has: a writer's own restriction stays (`modem serve`'s address file, made 0600
    under `umask 077`: its token was readable by all when it replaced a file of 0644).  One nobody
    may write (`chmod a-w`, replaced only with `--force`) gives it its owner's write.  Its own
    set-user/group-ID and sticky bits stay.  A run folder itself is given the mode, group and
    access control lists of the one it replaces by `m2msim.rundir.keep_folder_mode`."""
    try:
        was, now = os.lstat(old), os.lstat(new)
    except OSError:
        return  # (nothing replaced: the umask's permissions)
    if stat.S_IFMT(was.st_mode) == stat.S_IFMT(now.st_mode) and not stat.S_ISLNK(was.st_mode):
        mode = stat.S_IMODE(was.st_mode) & stat.S_IMODE(now.st_mode) & 0o777
        mode = mode if mode & 0o222 else mode | stat.S_IWUSR
        # (its own special bits stay: a folder made in a shared one (`chmod g+s`) lost its set-group-ID
        # before its files were written, which then took the user's group, not the shared one's)
        mode |= stat.S_IMODE(now.st_mode) & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
        if mode != stat.S_IMODE(now.st_mode):  # (a run's thousands of files: most are as they were)
            with contextlib.suppress(OSError):
                os.chmod(new, mode)


class _Staged(NamedTuple):
    path: Path  # as given
    final: Path  # the file written (`_prepare`)
    tmp: Path | None  # its temporary file (None: a device, pipe or socket, written at the commit)
    data: bytes
    own: Recogniser | None
    guard: bool
    option: str | None


class OutputSet:
    """Several files of one command that form one output (`rate --out F --report P`: an invoice and
    its page), written so that they are replaced together: each is written whole to its temporary
    file first (`stage`), and only when all are (`commit`) are they renamed into place, one after
    the other with SIGINT, SIGTERM and SIGHUP held back (`deferred_signals`).  A full disk, an error
    or an interruption before the commit leaves every file as it was and removes the temporary
    files; the files were written one after the other, and the first one's new file stood beside
    the second's old one (a full disk at the page: a new invoice beside the previous month's page).

    Use it as a context manager: on leaving it, whatever was not committed is removed, and the
    locks given to `hold` are released (after the commit: they cover it)."""

    def __init__(self) -> None:
        self._staged: list[_Staged] = []
        self._held = contextlib.ExitStack()
        self.failed: Path | None = None  # the output `commit` could not put in place, as given

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.discard()
        finally:
            self._held.close()

    def hold(self, context: contextlib.AbstractContextManager[Any]) -> None:
        """Enter `context` (an `output_lock`) until the set is left."""
        self._held.enter_context(context)

    @property
    def paths(self) -> list[Path]:
        """The outputs staged, as given."""
        return [s.path for s in self._staged]

    def stage(
        self,
        path: Path | str,
        data: bytes,
        *,
        own: Recogniser | None = None,
        force: bool = False,
        option: str | None = None,
    ) -> None:
        """Write `data` whole to a temporary file beside `path` (checked as `atomic_path` checks it),
        to be renamed over it at `commit`."""
        final, guard = _prepare(Path(path), own, force, option)
        if _is_stream(final):
            self._staged.append(_Staged(Path(path), final, None, data, own, guard, option))
            return
        tmp = temporary_name(final)
        self._staged.append(_Staged(Path(path), final, tmp, data, own, guard, option))
        _made_as_strict(final, tmp)
        tmp.write_bytes(data)
        _fsync_file(tmp)

    def commit(self) -> None:
        """Put every staged file in its place.  A file m2msim did not write that appeared at one of
        them meanwhile is refused before any is renamed (`OutputError`)."""
        from m2msim.signals import deferred_signals

        for s in self._staged:
            if s.tmp is not None and s.guard and s.own is not None and _foreign(s.final, s.own):
                raise _foreign_error(s.path, s.option, " (it appeared while the output was written)")
        # a device or a pipe first, written in place, the signals let through: a FIFO nobody reads
        # yet blocks its writer, which only a signal can stop (held back, nothing could)
        for s in [s for s in self._staged if s.tmp is None]:
            try:
                with open(s.final, "wb") as f:
                    f.write(s.data)
            except OSError as exc:
                raise self._failed(s, exc) from None
            output_written(s.path)
            self._staged.remove(s)
        placed = []
        with deferred_signals():
            while self._staged:
                s = self._staged[0]
                assert s.tmp is not None
                try:
                    _rename_into_place(s.tmp, s.final, s.path, s.own, s.guard, s.option)
                except OSError as exc:
                    raise self._failed(s, exc) from None
                _fsync_dir(s.final.parent)
                output_written(s.path)
                self._staged.pop(0)
                placed.append(s.final)
        # recorded once the signals are let through: a run folder's lock may be waited for
        # (`note_written`), and a signal must not be held back that long
        for final in placed:
            _note_in_run(final)

    def _failed(self, s: _Staged, exc: OSError) -> OutputError:
        """The error of the output `s` that could not be put in place, naming it (`failed`)."""
        self.failed = s.path
        name = f"{s.option} {s.path}" if s.option else str(s.path)
        return OutputError(f"{name}: {exc.strerror or exc}")

    def discard(self) -> None:
        """Remove the temporary files not yet renamed: every output stays as it was."""
        for s in self._staged:
            if s.tmp is not None:
                with contextlib.suppress(OSError):
                    s.tmp.unlink()
        self._staged.clear()


def atomic_write_bytes(
    path: Path | str,
    data: bytes,
    *,
    fsync: bool = True,
    own: Recogniser | None = None,
    force: bool = False,
    option: str | None = None,
) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path, fsync=fsync, own=own, force=force, option=option) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(
    path: Path | str,
    text: str,
    *,
    encoding: str = "utf-8",
    fsync: bool = True,
    own: Recogniser | None = None,
    force: bool = False,
    option: str | None = None,
) -> None:
    """Write `text` to `path` atomically (see `atomic_path`).  A file name in it whose bytes are not
    UTF-8 (`relev\xe9`, read from the system as text with surrogates) is written escaped, `\udce9`,
    as on stderr: the file stays valid UTF-8 (a JUnit XML too); it raised UnicodeEncodeError (a
    bench's report.html in such a folder, after the bench had run)."""
    data = text.encode(encoding, errors="backslashreplace")
    atomic_write_bytes(path, data, fsync=fsync, own=own, force=force, option=option)


def same_path(a: Path | str, b: Path | str) -> bool:
    """Whether `a` and `b` name the same file, existing (a hard link too) or not yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def as_made(path: Path | str) -> Path:
    """The file `path` names once the folders on its way are made: `path` itself when it exists (or
    is a link), else its folders resolved as the kernel will follow them.  `new/../usage.csv` names
    nothing until `new` is made, then `usage.csv`: checked as given, it was neither an input nor a
    file m2msim did not write, and the command wrote over `usage.csv` (`--force`), or refused it
    only after its work, leaving the folder `new` behind."""
    p = Path(path)
    if os.path.lexists(p) or p.name in ("", ".", ".."):
        return p
    return Path(os.path.realpath(p.parent)) / p.name


def refuse_same_file(out: Path | str, inputs: Iterable[Path | str], option: str = "--out") -> None:
    """`OutputError` when `out` is one of `inputs` (or a file inside an input folder); `out` as
    it will be once its folders are made (`as_made`)."""
    o = as_made(out)
    for i in inputs:
        ip = Path(i)
        if not ip.exists():
            continue
        if o.exists() and same_path(o, ip):
            raise OutputError(f"{option} {Path(out)}: is the input {ip}; refusing to overwrite an input")
        if ip.is_dir() and o.resolve().is_relative_to(ip.resolve()):
            raise OutputError(f"{option} {Path(out)}: is inside the input folder {ip}; choose another place")


# The formats m2msim writes its documents in, with the name endings that say each (the first is the
# one suggested), and the endings that say another format: a name ending otherwise (or without a
# dot) is the user's choice. JSON is YAML (1.2) too: a JSON document under a .yaml name reads alike.
_OWN_SUFFIXES: dict[str, tuple[str, ...]] = {
    "HTML": (".html", ".htm", ".xhtml"),
    "JSON": (".json", ".yaml", ".yml"),
    "text": (".txt", ".text", ".log"),
}
_FORMAT_SUFFIXES = frozenset(
    (
        *(s for own in _OWN_SUFFIXES.values() for s in own),
        *(".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".gz", ".zst", ".xz", ".bz2", ".zip"),
        *(".pcap", ".pcapng", ".xml", ".pdf", ".md"),
    )
)


def refuse_misnamed(
    path: Path | str, written: str, what: str, option: str = "--out", other: str = ""
) -> None:
    """`OutputError` when `path`'s suffix says another format than `written` (a key of
    `_OWN_SUFFIXES`), `what` the document (`the report`): the file would be taken for what its name says by the next reader (`m2msim
    report F` read `F/x.json`, a page, as a JSON file that does not parse). `other`: how else the
    user gets the format the name says (`, or add --json`)."""
    p = Path(path)
    suffix = p.suffix.lower()
    own = _OWN_SUFFIXES[written]
    if suffix in own or suffix not in _FORMAT_SUFFIXES or is_stream(p):
        return
    raise OutputError(
        f"{option} {p}: a {p.suffix} name for {what}, which is {written}: name it {p.stem}{own[0]}{other}"
    )


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


def check_parents(path: Path | str, option: str = "--out") -> None:
    """`OutputError` when a folder on the way to `path` is a file: the command would do its work
    and then fail to make the folder ("File exists")."""
    for folder in reversed(Path(path).parents):
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{option} {path}: {folder} is a file, not a folder")


def _unwritable(target: Path, exc: OSError) -> OutputError:
    """The error of a lock file that cannot be made beside `target`, in words of `target`."""
    if exc.errno == errno.ENOTDIR:
        try:
            check_parents(target, "output")
        except OutputError as found:
            return found
    return OutputError(f"{target}: cannot write in {target.parent} ({exc.strerror or exc})")


def _lock_file(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{_fitted(path.name, len('.lock'))}.lock")


def _real_place(path: Path) -> Path:
    """`path` with its folder resolved (links, `..`, as the kernel follows them), its name kept."""
    return Path(os.path.realpath(path.parent)) / path.name


def _lock_places(target: Path) -> list[Path]:
    """The names whose lock files stand for `target`: its own name in its real folder and, when it
    is a symbolic link, the name of the file the link names (written through it, or, with
    `--force`, replaced by the output in the link's place), in that file's real folder.  Two paths
    to one output (a link, `a/../b`, a folder reached through a link or a bind mount: the lock file
    is in the same folder) meet on one of these."""
    places = [_real_place(target)]
    if target.is_symlink():
        final = Path(os.path.realpath(target))
        if not final.parent.is_dir():
            raise OutputError(
                f"{target}: is a symbolic link to {final}, whose folder does not exist (or the link loops)"
            )
        if final != places[0]:
            places.append(final)
    return places


def _holder_of(fd: int) -> int | None:
    """The process holding a `flock` on the file `fd` is open on, read from `/proc/locks` (Linux);
    None when it cannot be told."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if "->" not in fields and len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode:
                    return int(fields[4]) or None
    except (OSError, ValueError):
        pass
    return None


@contextlib.contextmanager
def _identity_lock(target: Path, shown: Path) -> Iterator[None]:
    """An exclusive `flock` on the existing file or folder `target` itself, for the block: a second
    name of the same file (a hard link, a bind mount of the file or folder) meets it whatever folder
    it is in.  Nothing is locked when `target` does not exist yet (its name locks stand for it), is
    not a regular file or a folder, or cannot be opened or locked here (a file system without
    `flock`): the name locks still hold."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        yield
        return
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputBusy(shown, _holder_of(fd)) from None
                # (EBADF, ENOLCK: NFS wants a writable descriptor for it) the name locks stand
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def output_lock(path: Path | str, *, output: bool = True) -> Iterator[None]:
    """Hold the right to write `path` (a file or a folder) for the block; `OutputBusy` if taken.

    The right is held on the output's identity, not on the name given: a lock file beside it in its
    real folder (and beside the file a symbolic link names), which holds the owner's PID and is
    removed on release, and a lock on the existing file or folder itself (a hard link, a bind
    mount).  Two paths to one output are one writer's (`run1/../out.csv`, a link to it, a second
    name of it).  The parent folder must exist; a symbolic link whose file's folder does not is
    refused.  A holder that dies loses the lock with its file descriptors.  A device, pipe or socket
    (`/dev/null`) is not locked: it is written in place, and no lock file goes beside it.
    `output`: `path` is one of the command's outputs (`track_output`); False for a folder locked
    while it is read (`m2msim report RUN`).
    """
    target = Path(path)
    if target.name in ("", ".", ".."):  # (`--out .`, `--out ''`: the folder they name)
        target = target.resolve()
        if not target.name:
            raise OutputError(f"{path}: is the root folder, expected a file name")
    if _is_stream(target):
        yield
        return
    if output:  # (not a device or a pipe: what went there cannot be taken back, nor kept)
        track_output(path)
    places = _lock_places(target)
    with contextlib.ExitStack() as held:
        for n, place in enumerate(places):
            held.enter_context(_name_lock(place, target, required=n == 0))
        held.enter_context(_identity_lock(places[-1], target))
        key = str(places[0])
        _holding[key] = _holding.get(key, 0) + 1
        try:
            yield
        finally:
            _holding[key] -= 1
            if not _holding[key]:
                del _holding[key]


# The outputs whose lock this process holds now (their name in their real folder: `_real_place`).
_holding: dict[str, int] = {}


def holds_lock(path: Path | str) -> bool:
    """Whether this process holds `output_lock(path)` now (taking it again would fail: `OutputBusy`)."""
    return str(_real_place(Path(os.path.abspath(path)))) in _holding


@contextlib.contextmanager
def _name_lock(place: Path, target: Path, *, required: bool = True) -> Iterator[None]:
    """The lock file of `place` (a real folder and a name), held for the block; errors in words of
    `target`, the output as the user named it.  Not `required` (the file a link names), a folder
    this user cannot write in is passed over: no writer of this user can write that file either
    (its temporary file goes beside it)."""
    lock = _lock_file(place)
    from m2msim.signals import deferred_signals

    with contextlib.ExitStack() as held:
        # signals held back from the lock file's creation until its removal is set: a Ctrl-C that
        # came just after the open, before the block that removes it, left it beside the output
        with deferred_signals():
            unlocked = False
            while True:
                try:
                    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as exc:
                    if not required and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                        unlocked = True
                        break
                    if exc.errno == errno.ENOENT:  # (no such folder: the caller's to say or make)
                        raise
                    raise _unwritable(target, exc) from None
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
                # The file may have been removed (and re-created) by the previous holder between our
                # open and our lock: then we hold a lock on a name nobody sees. Start again on the new
                # file.
                try:
                    same = os.fstat(fd).st_ino == os.stat(lock).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            if not unlocked:
                held.callback(_release_lock, fd, lock)
        if unlocked:
            yield
            return
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:  # a full disk: not even the lock file's few bytes
            raise OutputError(f"{target}: cannot write beside it ({exc.strerror or exc})") from None
        yield


def _release_lock(fd: int, lock: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(lock)
    os.close(fd)
