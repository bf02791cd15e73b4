"""An output folder that appears whole: built beside its final place, then swapped in.

`run_folder(out)` is how `m2msim run` writes its `--out` folder:

1. it takes `output_lock(out)`: a second writer of the same folder fails at once, naming the
   process that holds it;
2. it removes what a killed run left beside `out` (`.m2msim-NAME.tmp-HOST-PID-XXXXXXXX` folders
   of this host, or of a version before the host was named), and puts back the old run
   if a kill came between the two renames of the fallback swap (below); and, inside the old run,
   the temporary file a killed writer of one of its files left (`m2msim report RUN`'s).  Of such a
   folder only the files m2msim wrote go: in one marked unfinished by the process its name names
   (4.), those its mark says the run writes (`writes`: the caller's names, and m2msim's own
   `.m2msim-*`); in one holding a run's marker, those the marker lists as written; anything else
   (a file the user put there) is kept, the folder renamed `NAME.kept-N` beside `out`, and a folder
   with neither mark is left as it is (unless empty), both said in a warning;
3. it checks what `out` is (a mount point is refused: no rename moves it) and holds now: nothing,
   or an m2msim run folder (one with the marker file
   `.m2msim-run.json`, which lists the files the run wrote and what identifies the version of
   each it wrote, its size and `st_mtime_ns`; holding no other file, and each listed one as it was
   written: a file edited or replaced since is one m2msim did not write) are replaced; anything
   else is refused unless `force`, and with `force` it is kept whole under a new name beside it (`NAME.kept-N`): m2msim never deletes or overwrites a file it did not write;
4. it yields a fresh temporary folder beside `out` for the caller to fill, with the permissions
   and group of the folder it replaces (`keep_folder_mode`), marked unfinished
   (`UNFINISHED`: the run's `out`, host and process, and the names it writes; a run killed by SIGKILL leaves the folder, and
   the readers refuse it, `unfinished_run`); on an exception (an interruption included) the files
   of that folder the run writes (`writes`, `.m2msim-*`) are removed, and the folder if nothing
   else is in it (a file dropped into it is kept, the folder renamed `NAME.kept-N`, with a
   warning), and `out` is untouched;
5. on success it writes the marker, gives each of its files the permissions of the file of the
   same name in the folder it replaces (`keep_mode`: the stricter, never more than written),
   removes the unfinished mark, gives the new folder the mode and group of the one it replaces, then
   swaps it in:
   an atomic exchange of the two names (Linux `renameat2(RENAME_EXCHANGE)`), or where the file
   system cannot, two renames
   (old away, new in).  Then the old run's files, those its marker lists as it wrote them, are
   removed; SIGINT and SIGTERM are held back during both.

m2msim's later writers into a run folder (`report RUN`, `rate --out RUN/invoice.txt`: any atomic
output) record the file they put there in its marker (`note_written`).

Readers see the old complete folder or the new complete folder, never a part of one, whatever
stops the process (SIGKILL included).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import stat as stat_module
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from m2msim.compressed import Salvaged, compression_of, zstd_content_size
from m2msim.outputs import (
    TMP_PREFIX,
    OutputBusy,
    OutputError,
    atomic_write_text,
    check_parents,
    holds_lock,
    host_name,
    is_mount_point,
    keep_mode,
    mounts,
    output_lock,
    output_written,
    remove_stale_locks,
    remove_stale_of,
    stale_pattern,
    temporary_name,
)
from m2msim.signals import deferred_signals

__all__ = [
    "MARKER",
    "UNFINISHED",
    "FolderIdentity",
    "changed_files",
    "is_run_folder",
    "marker_files",
    "not_read",
    "not_whole_run",
    "note_written",
    "run_folder",
    "run_of",
    "run_usage",
    "run_usage_of",
    "swap_in",
    "unfinished_run",
    "unread_files",
]

log = logging.getLogger(__name__)

MARKER = ".m2msim-run.json"  # in every run folder: which files the run wrote
# in a run's temporary folder until the run is complete: who writes it (the folder a killed run
# left holds it, and no reader takes it for a whole run)
UNFINISHED = ".m2msim-unfinished.json"
_EXCHANGE = 2  # RENAME_EXCHANGE
_AT_FDCWD = -100


def _read_marker(folder: Path) -> dict[str, object] | None:
    try:
        doc = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _listed(doc: dict[str, object]) -> list[str] | None:
    files = doc.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return [f for f in files if not Path(f).is_absolute() and ".." not in Path(f).parts]


def marker_files(folder: Path) -> list[str] | None:
    """The files (relative paths) a run folder's marker lists; None when `folder` has no valid marker."""
    doc = _read_marker(folder)
    return None if doc is None else _listed(doc)


def _identity(st: os.stat_result) -> dict[str, int]:
    """What tells the version of a file m2msim wrote from any later one: its size and its time of
    last change to the nanosecond (any write sets it; `cp -a`, `rsync -a`, `tar` keep both, while
    they give the file a new inode: a run folder copied or restored stays the run's)."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _identities(doc: dict[str, object]) -> dict[str, dict[str, int]] | None:
    """The identity of each file the marker records (`written`); None for a marker of a version
    before them (names only: each listed file is taken for the run's); a `written` not as m2msim
    writes it records none (every listed file is then one m2msim did not write)."""
    if "written" not in doc:
        return None
    written = doc["written"]
    if not isinstance(written, dict):
        return {}
    return {
        name: {"size": said["size"], "mtime_ns": said["mtime_ns"]}
        for name, said in written.items()
        if isinstance(said, dict)
        and all(type(said.get(k)) is int for k in ("size", "mtime_ns"))  # (not a bool, not a float)
    }


def _changed(folder: Path, doc: dict[str, object]) -> list[str]:
    identities = _identities(doc)
    if identities is None:
        return []
    changed = []
    for rel in _listed(doc) or ():
        try:
            st = os.lstat(folder / rel)
        except OSError:
            continue  # (gone, or not reachable: nothing to remove)
        if identities.get(rel) != _identity(st):
            changed.append(rel)
    return changed


def changed_files(folder: Path) -> list[str]:
    """The files a run folder's marker lists that are no longer the version the run wrote (edited
    by hand, replaced by another file of the same name, or listed by a marker that is not the run's
    own): files m2msim did not write, never removed.  None for a marker of a version before the
    identities were recorded (names only): each file it lists is taken for the run's."""
    doc = _read_marker(folder)
    return [] if doc is None else _changed(folder, doc)


def _marker_text(
    files: list[str], written: dict[str, dict[str, int]] | None, since: list[str] | None = None
) -> str:
    marker: dict[str, object] = {"m2msim": "run folder", "files": files}
    if written is not None:
        marker["written"] = written
    if since:
        marker["since"] = since
    return json.dumps(marker, indent=1) + "\n"


def _since(doc: dict[str, object]) -> list[str]:
    """The names m2msim wrote into the run folder after the run (`note_written`: `since`)."""
    since = doc.get("since")
    return [f for f in since if isinstance(f, str)] if isinstance(since, list) else []


def note_written(path: Path) -> None:
    """Record in the marker of the run folder `path` is in (its folder) that m2msim wrote `path`
    just now (`m2msim report RUN`'s `report.html`, `rate --out RUN/invoice.txt`): its new identity,
    and its name when the run did not write it (an invoice into a `--no-invoice` run), so that the
    next run takes it for the run's own.  The marker is replaced atomically, under the folder's lock
    (the one a run holds: a run replacing the folder now is not written into; the file is then not
    recorded, and the next run keeps it).  A folder that is not a run's is left as it is."""
    if path.name in (MARKER, UNFINISHED):
        return
    folder = Path(os.path.realpath(path.parent))
    if not (folder / MARKER).is_file() or (folder / UNFINISHED).exists() or not folder.name:
        return
    with contextlib.ExitStack() as held:
        if not holds_lock(folder):
            try:
                _lock_for_the_marker(folder, held)
            except OutputBusy:
                log.warning(
                    "%s: not recorded in %s (another m2msim command holds the folder now, a run "
                    "replacing it or a report of it): the next run keeps it",
                    path,
                    folder / MARKER,
                )
                return
            except OSError as exc:  # (a folder nobody may rename: no run can replace it either)
                if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
        doc = _read_marker(folder)
        listed = None if doc is None else _listed(doc)
        if doc is None or listed is None:
            return
        try:
            st = os.lstat(folder / path.name)
        except OSError:
            return
        files = listed if path.name in listed else [*listed, path.name]
        written = _identities(doc)
        if written is not None:
            written = {**written, path.name: _identity(st)}
        since = _since(doc)
        since = since if path.name in since else [*since, path.name]
        atomic_write_text(folder / MARKER, _marker_text(files, written, since))


# How long a writer waits for the folder's lock to record its file in the marker: another writer
# recording its own holds it for the few milliseconds of its marker's write; a run or a report of
# the folder holds it for seconds, and then the file is left unrecorded
MARKER_WAIT_S = 2.0


def _lock_for_the_marker(folder: Path, held: contextlib.ExitStack) -> None:
    """Take the run folder's lock into `held`, waiting up to `MARKER_WAIT_S` for a holder to let it go:
    `OutputBusy` past it.  Two commands ending at once that wrote into one run folder (`rate --out
    RUN/a.txt` and `compare --out RUN/b.txt`) found each other's marker write holding it: one of the
    two files was left unrecorded, and the next run refused the folder as one holding a file m2msim
    did not write."""
    deadline = time.monotonic() + MARKER_WAIT_S
    while True:
        try:
            held.enter_context(output_lock(folder, output=False))
            return
        except OutputBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _mark_unfinished(work: Path, out: Path, writes: Sequence[str]) -> None:
    said = {
        "m2msim": "unfinished run",
        "out": os.path.abspath(out),
        "host": host_name(),
        "pid": os.getpid(),
        "writes": list(writes),
    }
    (work / UNFINISHED).write_text(json.dumps(said) + "\n", encoding="utf-8")


def _writes_of(folder: Path, pid: int) -> list[str] | None:
    """The names the run that left `folder` writes (`run_folder`'s `writes`), as its unfinished mark
    says them, when the mark is that of process `pid` (the one the folder's name names) of this
    host; None when the folder holds no such mark (not provably a run's: nothing of it is removed).
    A mark of a version before the names were recorded: none (only m2msim's own `.m2msim-*`)."""
    try:
        said = json.loads((folder / UNFINISHED).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(said, dict) or said.get("pid") != pid or said.get("host") != host_name():
        return None
    writes = said.get("writes", [])
    return [w for w in writes if isinstance(w, str)] if isinstance(writes, list) else []


def _written_by_run(rel: str, writes: Sequence[str]) -> bool:
    """Whether the file `rel` (relative to a run's folder) is one the run writes: named by one of
    `writes` (`usage/part-*.parquet`: a shell pattern for each part of the path), or by m2msim's
    own prefix (`.m2msim-*`: its marks, temporary files, locks, and what is in its folders)."""
    parts = PurePosixPath(rel).parts
    if any(part.startswith(TMP_PREFIX) for part in parts):
        return True
    for pattern in writes:
        said = PurePosixPath(pattern).parts
        if len(said) == len(parts) and all(fnmatchcase(p, s) for p, s in zip(parts, said, strict=True)):
            return True
    return False


def unfinished_run(path: Path | str) -> str | None:
    """Why `path` (a folder, or a file) must not be read as a run's: it is in the folder of a run
    that has not ended (still running, or killed: its temporary folder, where its shards wrote
    part of the records), looked for in the folder itself and the one above (`RUN/usage/`,
    `RUN/usage/part-00000.parquet`); None when it is not."""
    folders = []
    for at in _spellings(Path(path)):
        folders += (([at] if at.is_dir() else []) + [_parent(at), _parent(_parent(at))])[:2]
    for folder in folders:
        try:
            said = json.loads((folder / UNFINISHED).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, UnicodeDecodeError):
            said = {}
        said = said if isinstance(said, dict) else {}
        who = f"process {said.get('pid', '?')} on {said.get('host', '?')}"
        return (
            f"{folder}: the folder of an m2msim run that has not ended (m2msim run --out "
            f"{said.get('out', '?')}, {who}: still running, or stopped before its end), holding part "
            "of its files: not a whole run; read the run's --out once it has ended, or run it again"
        )
    return None


# The folders of a run's files that a reader takes whole (`rate RUN/usage`, `records-from-pcap
# RUN/capture`): one file per shard, each listed by the marker
_SHARD_FOLDERS = ("usage", "capture")


def _compressed(path: Path) -> bool:
    """Whether the file's data are gzip's or zstd's (a run's file compressed since, whatever its name)."""
    try:
        with open(path, "rb") as f:
            return compression_of(f.read(4)) is not None
    except OSError:
        return False


def _decompressed_size(path: Path, want: int) -> int | None:
    """How many bytes a file compressed by gzip or zstd holds, up to where its data stop: `want` at
    once when gzip's size field (of its last member, modulo 2^32) or zstd's frame headers (the
    content size of each, `zstd_content_size`: a 46 MB capture part was decompressed once more
    before the reader did, 0.087 s of CPU) say so, else counted through them; None when it cannot be read, or its
    data are damaged (the reader says so as it meets them)."""
    try:
        with open(path, "rb") as f:
            kind = compression_of(f.read(4))
            if kind is None:
                return None
            if kind == "gzip" and f.seek(0, os.SEEK_END) >= 24:
                f.seek(-4, os.SEEK_END)
                if int.from_bytes(f.read(4), "little") == want % (1 << 32):
                    return want
        if kind == "zstd" and zstd_content_size(path) == want:
            return want
        return sum(len(piece) for piece in Salvaged(path, kind))
    except (OSError, EOFError, zlib.error):
        return None


def _run_of(folder: Path) -> tuple[Path, Path] | None:
    """The run folder whose files a reader given `folder` reads: `folder` itself when it holds the
    marker, or the folder above its `usage/` or `capture/` (by its name, else, for a link, by the
    folder it names: `_spellings`), and the spelling of `folder` that found it; None when neither
    is a run's."""
    for spelling in _spellings(folder):
        if (spelling / MARKER).is_file():
            return spelling, spelling
        up = _parent(spelling)
        if _name(spelling) in _SHARD_FOLDERS and (up / MARKER).is_file():
            return up, spelling
    return None


def run_of(path: Path | str) -> Path | None:
    """The run folder whose usage a reader given `path` reads: `path` itself, or the folder above
    its `usage/` (`.` in it, a link to it: `_run_of`), or above its `usage.parquet` or `usage.csv`
    (or a link to it); None when it is no run's.  A file in a shard's folder is one part of the
    usage, no run's whole."""
    at = Path(path)
    if at.is_dir():
        found = _run_of(at)
        return None if found is None else found[0]
    for spelling in _spellings(at):
        up = _parent(spelling)
        if (up / MARKER).is_file():
            return up
    return None


# a run's usage, in the forms `m2msim run` writes it, the first found read: merged (`usage.parquet`),
# the shards' parts (`--no-merge`), else its CSV (`--csv`, maybe compressed since by gzip or zstd)
_RUN_CSVS = ("usage.csv", "usage.csv.gz", "usage.csv.zst")


# What names a folder for `folder_identity`: (device, inode), or on overlayfs a digest of its files
FolderIdentity = tuple[int | str, ...]


def _file_system_type(path: Path | str) -> str | None:
    """The type of the file system `path` is on (`ext4`, `overlay`, ...), from the mount point
    nearest to it in /proc/self/mountinfo; None when it cannot be told (no /proc)."""
    real = os.path.realpath(path)
    nearest, kind = "", None
    for point, of in mounts():
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(nearest):  # (a mount on the same point later is on top)
            nearest, kind = point, of
    return kind


REPORT_PAGE = "report.html"  # what `m2msim report RUN` writes in the run folder


def _files_identity(folder: Path) -> str:
    """A digest of the regular files of `folder` (their names, sizes and times of last change),
    m2msim's own `.m2msim-*` aside (its locks and temporary files, a reader's output among them),
    and the page `m2msim report RUN` writes into the run folder (`REPORT_PAGE`, which no reader
    reads: a report of the run made while it is read is no other run): another run put in its place
    has other files, or the same names written at other times."""
    import hashlib

    said = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX) or entry.name == REPORT_PAGE:
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            said.append(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}")
    return hashlib.sha256(os.fsencode("\n".join(sorted(said)))).hexdigest()


def folder_identity(path: Path | str) -> FolderIdentity | None:
    """The folder `path` names now: its (device, inode); None when it names none.  Another one once
    a run is put in its place: `m2msim run` swaps its new folder in under the same name (`swap_in`).
    On overlayfs a folder's inode may change while it stays the same folder (`xino=off` with its
    layers on two file systems: a folder of the lower layer copied up as a file is written in it, a
    reader then said "the run folder changed" of a folder nobody replaced), so there it is told by
    its files (`_files_identity`)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat_module.S_ISDIR(st.st_mode):
        return None
    if _file_system_type(path) != "overlay":
        return (st.st_dev, st.st_ino)
    try:
        return ("overlay", _files_identity(Path(path)))
    except OSError:
        return None


def folder_changed(again: str) -> str:
    """What a reader says of a folder `folder_identity` found another once read; `again`: what to do."""
    return (
        "the run folder changed while it was read (another run put in its place, as by m2msim run "
        f"--force into it, or its files added or removed): nothing of it was used; {again}"
    )


def run_usage(folder: Path) -> list[Path]:
    """The files of the run folder `folder` that hold its usage records: its `usage.parquet`, else
    its `usage/part-*.parquet` (in shard order), else its `usage.csv` (as it is, or compressed since
    by gzip or zstd); empty when there is none of them.  Its other files (`invoice.txt`,
    `alarms.jsonl`, `summary.txt`, ...) are none of its usage."""
    return next(usage_forms(folder), [])


def usage_forms(folder: Path) -> Iterator[list[Path]]:
    """Each form of usage records the folder `folder` holds, in the order `run_usage` takes them:
    its `usage.parquet`, its `usage/part-*.parquet`, its `usage.csv`, then that CSV compressed
    (`usage.csv.gz`, `usage.csv.zst`: one rated beside the CSV uncompressed since, `gunzip -k`, is
    a form of its own, which the report reads by its content)."""
    if (folder / "usage.parquet").is_file():
        yield [folder / "usage.parquet"]
    if parts := sorted((folder / "usage").glob("part-*.parquet")):
        yield parts
    for name in _RUN_CSVS:
        if (folder / name).is_file():
            yield [folder / name]


def run_usage_of(folder: Path) -> list[Path] | None:
    """`run_usage` of `folder` when it is a run folder (it holds the marker); None when it is not."""
    return run_usage(folder) if (folder / MARKER).is_file() else None


def _spellings(path: Path) -> list[Path]:
    """`path`, and for a link the file or folder it names (`march` made by `ln -s RUN/usage march`:
    `RUN/usage`, whose run a reader given the link reads)."""
    return [path, Path(os.path.realpath(path))] if path.is_symlink() else [path]


def _name(path: Path) -> str:
    """The name of the file or folder `path` names (`usage` for `.` in `RUN/usage`)."""
    return Path(os.path.abspath(path)).name if path.name in ("", ".", "..") else path.name


def _parent(path: Path) -> Path:
    """The folder holding `path` (`RUN` for `.` in `RUN/usage`, where `Path('.').parent` is `.`)."""
    return Path(os.path.abspath(path)).parent if path.name in ("", ".", "..") else path.parent


def not_whole_run(given: Path | str, read: Sequence[Path], what: str = "usage") -> str | None:
    """Why the files `read` (its `what`: "usage", "capture"), which a reader found in the folder
    `given` (a run folder, or its `usage/` or `capture/`), are not the run's whole `what` as its
    marker lists it: a file the run did not write there (a part of another run, copied in: an `rsync`
    without `--delete` of a run made again with fewer shards), one of another size than the run
    wrote (cut short by a copy, or replaced), or one of the run's files in the same folder and of
    the same kind that is missing (deleted, or lost by a copy cut short; a shard's part, in `usage/`
    or `capture/`: a file beside the whole `usage.parquet` is none of it).  Each was read as the
    run's whole, without a word.  A file the run wrote, compressed since by gzip or zstd
    (`usage.csv.gz`), is the run's.  None when they are the run's, or when `given` is no run's
    folder (a file given by name is read as given; a marker of a version before the sizes checks
    names only)."""
    at = Path(given)
    if not at.is_dir() or (found := _run_of(at)) is None:
        return None
    run, spelling = found
    doc = _read_marker(run)
    listed = None if doc is None else _listed(doc)
    if doc is None or listed is None:
        return None
    sizes = {name: said["size"] for name, said in (_identities(doc) or {}).items()}
    root = os.path.abspath(run)
    places: set[tuple[str, str]] = set()  # (folder, suffix) of the run's files read, relative to it
    present: set[str] = set()  # the run's files read, as they are or compressed
    for path in read:
        # (a file read in a link given is the run's file in the folder it names)
        where = spelling / path.name if spelling is not at and path.parent == at else path
        rel = Path(os.path.relpath(os.path.abspath(where), root))
        if rel.parts[:1] == ("..",):
            continue
        name = rel.as_posix()
        if name not in listed and rel.suffix and _compressed(path):
            name = name[: -len(rel.suffix)]  # (`usage.csv.gz`: the run's `usage.csv`, gzip'ed since)
            if name not in listed:
                name = rel.as_posix()
            elif name in sizes and (size := _decompressed_size(path, sizes[name])) not in (None, sizes[name]):
                return (
                    f"{path}: {size:,} bytes decompressed, the run wrote {sizes[name]:,} of {name} "
                    f"({run / MARKER}): not the file the run wrote (cut short before it was "
                    f"compressed, or replaced): not the run's whole {what}; run it again, or copy it "
                    "again whole"
                )
        elif name in sizes:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = sizes[name]  # (gone: said as the reader meets it)
            if size != sizes[name]:
                return (
                    f"{path}: {size:,} bytes, the run wrote {sizes[name]:,} ({run / MARKER}): not the "
                    f"file the run wrote (cut short by a copy, or replaced): not the run's whole {what}; "
                    "run it again, or copy it again whole"
                )
        if name not in listed:
            return (
                f"{path}: not one of the files the run wrote there ({run / MARKER} does not list "
                f"it: another run's, copied in?): the folder is not one run's {what}; remove it, or "
                "read the run's files from a copy of their own"
            )
        if Path(name).parent.as_posix() in _SHARD_FOLDERS:
            # (a shard's part: the folder's others of its kind are the rest of the run's; a file
            # beside a whole one, `usage.parquet`, is no part of it: a later output there, removed)
            places.add((Path(name).parent.as_posix(), Path(name).suffix))
        present.add(name)
    missing = [
        name
        for name in listed
        if (Path(name).parent.as_posix(), Path(name).suffix) in places
        and name not in present
        and not os.path.lexists(run / name)
    ]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return (
            f"{at}: {missing[0]}{more}, one of the files the run wrote ({run / MARKER} lists it), is "
            f"missing (deleted, or lost by a copy cut short): not the run's whole {what}; run it "
            "again, or copy it again whole"
        )
    return None


def not_read(given: Path | str, read: Sequence[Path]) -> list[Path]:
    """The files in the run folder `given` (and the folders in it), or in its `usage/` or
    `capture/` when given that, that a reader of it does not read (`read`: the files it reads),
    and that the run did not write: its marker does not list them (a file of the user's put there,
    an export copied in), m2msim's own `.m2msim-*` and a file the run wrote compressed since by gzip
    or zstd aside.  Readers of the run's usage read the run's
    files by their names (`run_usage`), and such a file was left out without a word.  Empty when
    `given` is no run's folder (nor one of its `usage/` or `capture/`)."""
    at = Path(given)
    if not at.is_dir() or (found := _run_of(at)) is None:
        return []
    run, spelling = found
    listed = marker_files(run)
    if listed is None:
        return []
    root = Path(os.path.abspath(run))
    within = Path(os.path.relpath(os.path.abspath(spelling), root))
    taken = {Path(os.path.abspath(p)) for p in read}
    out = []
    for rel in _files_under(run):
        parts = Path(rel).parts
        if rel in listed or any(part.startswith(TMP_PREFIX) for part in parts):
            continue
        if Path(rel).suffix and rel[: -len(Path(rel).suffix)] in listed and _compressed(run / rel):
            continue  # (`usage.csv.gz`: the run's `usage.csv`, compressed since)
        if within.parts and Path(rel).parts[: len(within.parts)] != within.parts:
            continue  # (given `RUN/usage`: the files of `RUN/usage` only)
        path = at / Path(rel).relative_to(within) if within.parts else at / rel
        if Path(os.path.abspath(run / rel)) not in taken and Path(os.path.abspath(path)) not in taken:
            out.append(path)
    return out


def unread_files(
    given: Path | str, read: Sequence[Path], reader: str, is_usage: Callable[[Path], bool]
) -> tuple[str | None, list[str]]:
    """What a reader of the run folder `given` (`rate RUN`, `compare RUN`, `report RUN`,
    `sql RUN`; `reader`: what it does, "rating RUN") says of the files there the run did not write
    and it does not read (`not_read`; `read`: the files it reads): why it refuses the folder, when
    one is a usage file (`is_usage`, `accounting.usage.has_usage_columns`: a CSV or Parquet of
    usage columns, an export copied in among the run's files, whose records the reader would
    leave out without a word), else None; and one line for each other such file, to say as a
    warning."""
    unread = not_read(given, read)
    for path in unread:
        if is_usage(path):
            return (
                f"{path}: a usage file (its columns are a usage file's) in the run folder, which the run "
                f"did not write ({MARKER} does not list it): {reader} reads the run's usage alone "
                "and would leave its records out; rate it by its name, or move it out of the run folder"
            ), []
    return None, [
        *(
            f"{path}: not read (in the run folder, not a file the run wrote ({MARKER} does not list it), "
            "and not usage)"
            for path in unread
        ),
        *(
            f"{path}: not read (a usage file m2msim wrote into the run folder after the run: {reader} "
            "reads the run's usage alone; rate it by its name, or move it out of the run folder)"
            for path in _written_since(given, read, is_usage)
        ),
    ]


def _written_since(given: Path | str, read: Sequence[Path], is_usage: Callable[[Path], bool]) -> list[Path]:
    """The usage files (`is_usage`) m2msim wrote into the run folder `given` after the run (its
    marker's `since`: `records-from-pcap --out RUN/usage.csv` beside the run's `usage.parquet`) that
    are not `read`: a reader of the run reads its own usage by name (`run_usage`), and such a file's
    records were left out without a word (the marker lists it: no file the run did not write)."""
    at = Path(given)
    doc = _read_marker(at) if at.is_dir() else None
    if doc is None:
        return []
    taken = {Path(os.path.abspath(p)) for p in read}
    out = []
    for name in _since(doc):
        path = at / name
        if Path(os.path.abspath(path)) not in taken and path.is_file() and is_usage(path):
            out.append(path)
    return out


def _files_under(folder: Path) -> list[str]:
    """The files under `folder` (relative paths), and the links to folders there, as files: a run
    wrote none, and what is through one is not in the run folder (`usage -> /archive/2026-03`)."""
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in sorted([*files, *links]):
            out.append(str((Path(root) / name).relative_to(folder)))
    return out


def _through_link(folder: Path, rel: str) -> bool:
    """Whether a folder on the way from `folder` to its file `rel` is a symbolic link."""
    at = folder
    for part in Path(rel).parts[:-1]:
        at = at / part
        if at.is_symlink():
            return True
    return False


def is_run_folder(folder: Path) -> bool:
    """A folder m2msim wrote whole: a marker, and no file that the marker does not list."""
    listed = marker_files(folder)
    if listed is None:
        return False
    known = {*listed, MARKER}
    return all(f in known for f in _files_under(folder)) and not changed_files(folder)


def _clean_stale(out: Path) -> None:
    """Remove the temporary folders of killed runs of `out` (the caller holds the lock), their
    files m2msim wrote only (the module docstring, 2.)."""
    pattern = stale_pattern(out, "tmp|old", legacy=True)
    stale = sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name))
    old = [p for p in stale if pattern.fullmatch(p.name)["tag"] == "old"]  # type: ignore[index]
    if not out.exists() and old and marker_files(old[0]) is not None:
        os.rename(old[0], out)  # a kill came between "old away" and "new in": the old run comes back
        stale.remove(old[0])
    for p in stale:
        if not p.is_dir() or p.is_symlink():
            # a file under the same kind of name (an atomic write of a file named like the folder)
            p.unlink(missing_ok=True)
        elif (p / UNFINISHED).exists() or not (p / MARKER).is_file():
            _clean_unfinished(p, int(pattern.fullmatch(p.name)["pid"]), out)  # type: ignore[index]
        else:  # a whole run killed before it was swapped in, or the old one killed as it was removed
            _remove_run(p, _kept_name(out))
            if os.path.lexists(p):
                log.warning("%s: left as it is: it could not be renamed", p)


def _remove_empty_folders(folder: Path) -> None:
    for root, _dirs, _files in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(root)


def _clean_unfinished(folder: Path, pid: int, out: Path) -> None:
    """Remove the files the killed run `pid` wrote in its temporary folder `folder` (those its
    unfinished mark says it writes), then its empty folders; whatever else is there is kept, the
    folder renamed `NAME.kept-N`.  A folder without the run's mark is left as it is, unless empty
    (a run killed as it made it): none of its files is provably m2msim's."""
    writes = _writes_of(folder, pid)
    if writes is not None:
        _remove_run_files(folder, out, writes, folder, "a killed run")
        return
    _remove_empty_folders(folder)
    if os.path.lexists(folder):
        log.warning(
            "%s: left as it is: named as the temporary folder of an m2msim run of %s, but it does not "
            "hold that run's mark (%s), so its files may not be m2msim's; remove it yourself once "
            "you have checked what it holds",
            folder,
            out,
            UNFINISHED,
        )


def _remove_written(folder: Path, writes: Sequence[str]) -> None:
    """Remove the files of a run's temporary folder `folder` that the run writes (`writes`, and
    m2msim's own `.m2msim-*`: `_written_by_run`), none reached through a link.  The unfinished
    mark goes last: a process killed meanwhile leaves the folder to the next run with it (removed
    first, by name, it left the folder without it, which the next run leaves as it is)."""
    for rel in sorted(_files_under(folder), key=lambda rel: rel == UNFINISHED):
        if _written_by_run(rel, writes) and not _through_link(folder, rel):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                (folder / rel).unlink()


def _remove_run_files(folder: Path, out: Path, writes: Sequence[str], shown: Path, whose: str) -> None:
    """Remove the temporary folder `folder` of `whose` run of `out` (a killed one's, or this process's
    interrupted one): the files the run writes (`_remove_written`), then its empty folders; a file of
    another name (one the user dropped into it) is kept, the folder renamed `NAME.kept-N` beside
    `out` (left where it is if it cannot be), with a warning naming it as `shown`."""
    _remove_written(folder, writes)
    _remove_empty_folders(folder)
    if not os.path.lexists(folder):
        return
    kept = _kept_name(out)
    left = _files_under(folder)
    try:
        os.rename(folder, kept)
    except OSError:
        kept = folder
    log.warning(
        "%s: the temporary folder of %s of %s held %d file(s) the run did not write, such as %r: kept, as %s",
        shown,
        whose,
        out,
        len(left),
        left[0] if left else "?",
        kept,
    )


def _discard(work: Path, out: Path, writes: Sequence[str]) -> None:
    """Remove the temporary folder `work` of this process's run of `out`, interrupted (or failed),
    as `_remove_run_files` does (it was removed whole, a file the user dropped into it with it).

    The folder is first renamed to another temporary name of this process: a cluster's shards
    stop when their attempt's folder is gone from under `work` (they write nothing more there),
    which the removal of the folder whole did at once and a removal file by file would leave to
    its last file.  A second signal during the removal leaves a folder the next run cleans up as
    a killed run's (its name and its unfinished mark are this process's)."""
    away = temporary_name(out, "tmp")
    try:
        os.rename(work, away)
    except OSError:
        away = work
    _remove_run_files(away, out, writes, work, "the interrupted run")


def _clean_inside(out: Path) -> None:
    """Remove what a killed writer of one of the run's own files left in the run folder `out` (the
    caller holds its lock): `m2msim report RUN` killed by SIGKILL (or a power cut) while it wrote
    `report.html` left `.m2msim-report.html.tmp-HOST-PID-...` there, a file the marker does not
    list, and the next run refused the folder as not a run folder (with `--force`, kept it whole
    as `RUN.kept-N`).  Only this host's temporary files of listed names, their writer gone; and
    the lock files of listed names nobody holds (`rate --out RUN/invoice.txt` killed by SIGKILL)."""
    listed = marker_files(out) if out.is_dir() and not out.is_symlink() else None
    if listed:
        remove_stale_of(out / f for f in [*listed, MARKER])  # (the marker's: `note_written` killed)
        remove_stale_locks(out / f for f in listed)


def _kept_name(out: Path) -> Path:
    """The first `NAME.kept-N` beside `out` that names nothing, not even a dangling link (renaming
    the folder over the user's link to a folder not mounted yet removed the link)."""
    n = 1
    while os.path.lexists(candidate := out.with_name(f"{out.name}.kept-{n}")):
        n += 1
    return candidate


def _check_existing(out: Path, force: bool, option: str) -> bool:
    """Whether `out` must be kept aside (it holds files m2msim did not write, and `force`)."""
    if not out.exists() and not out.is_symlink():
        return False
    if out.is_symlink() and out.is_dir():
        # (the link is a name the user keeps, `runs/latest`: never replaced by the run's folder)
        raise OutputError(
            f"{option} {out}: is a symbolic link to the folder {os.path.realpath(out)}: give that "
            "folder itself, or another place"
        )
    if out.is_symlink() or not out.is_dir():
        raise OutputError(f"{option} {out}: exists and is not a folder; choose another place")
    if is_mount_point(out):
        # (refused after the whole run: the swap's rename failed, "Device or resource busy")
        raise OutputError(
            f"{option} {out}: is a mount point, which m2msim cannot replace (a run folder is put in "
            f"place whole by a rename): give a folder inside it, such as {out / 'run'}"
        )
    if not any(out.iterdir()) or is_run_folder(out):
        return False
    if force:
        return True
    listed = set(marker_files(out) or ())
    foreign = [f for f in _files_under(out) if f not in listed and f != MARKER]
    if not foreign and (changed := changed_files(out)):
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise OutputError(
            f"{option} {out}: {changed[0]!r}{more} changed since the run wrote it (edited, or replaced "
            "by another file): m2msim does not delete it; choose another folder, or add --force to "
            f"keep it whole as {_kept_name(out).name} and write the run in its place"
        )
    what = (
        f"{len(foreign)} file(s) m2msim did not write, such as {foreign[0]!r}" if foreign else "folders only"
    )
    raise OutputError(
        f"{option} {out}: not empty and not an m2msim run folder ({what}); choose another folder, "
        f"or add --force to keep it whole as {_kept_name(out).name} and write the run in its place"
    )


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names atomically; False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_run(folder: Path, keep_as: Path) -> None:
    """Remove the files a run's marker lists, as the run wrote them (`changed_files`), then its
    empty folders; whatever is left is kept."""
    doc = _read_marker(folder)
    changed = set(_changed(folder, doc)) if doc is not None else set()
    for rel in marker_files(folder) or ():
        if rel in changed:  # (edited after the check: no longer the run's)
            continue
        if _through_link(folder, rel):  # (made a link after the check: the file it reaches is not ours)
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            (folder / rel).unlink()
    (folder / MARKER).unlink(missing_ok=True)
    _remove_empty_folders(folder)
    if folder.exists():  # a file written there by someone else meanwhile: never deleted
        os.rename(folder, keep_as)


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Make the folders missing on the way to `folder` (itself included), each this process made
    put first in `made` (deepest first), as it is made.  One another process made meanwhile (a run
    into a folder beside, the user) is not the run's: its removal (`_remove_made`) left it alone."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        try:
            os.mkdir(each)
        except FileExistsError:
            if not os.path.isdir(each):
                raise
            continue
        made.insert(0, each)


def _lock_out(final: Path, option: str, made: list[Path], held: contextlib.ExitStack) -> None:
    """Make the folders on the way to `final` (`_make_folders`) and hold its lock (`output_lock`) in
    `held`.  A folder another run made, found there, may be removed by that run (interrupted or
    failed, `_remove_made`) before this one's lock file is in it: it is made again (the run failed,
    "No such file or directory")."""
    for attempt in range(3):
        try:
            _make_folders(final.parent, made)
        except OSError as exc:
            raise OutputError(
                f"{option} {final}: cannot create the folder it goes in ({exc.strerror or exc})"
            ) from None
        try:
            held.enter_context(output_lock(final))
            return
        except FileNotFoundError:
            if attempt == 2 or os.path.isdir(final.parent):
                raise


def _keep_modes(old: Path, new: Path, files: Sequence[str]) -> None:
    """Give each of `files` (relative paths) in the folder `new` the permissions of the file of the
    same name in the folder `old` it replaces, as `keep_mode` gives a single output those of the
    file it replaces: the stricter of the two, never more than the writer gave.  A name that is
    nothing in `old`, not a file there, or reached through a link there keeps its own."""
    if not old.is_dir() or old.is_symlink():
        return
    linked: dict[str, bool] = {}  # (a folder's answer, once: its thousands of parts)
    for rel in files:
        folder = os.path.dirname(rel)
        if folder not in linked:
            linked[folder] = _through_link(old, rel)
        if not linked[folder]:
            keep_mode(old / rel, new / rel)


def keep_folder_mode(old: Path, new: Path) -> None:
    """Give the folder `new`, about to replace the folder `old`, the mode and group of `old` as they
    are, as `cp` keeps those of a file it writes over: what a user set by hand on a run folder
    (`chgrp team`, `chmod 2775`: a folder the group shares, its files made in it taking the group)
    stays through the run that replaces it; the permissions, set-group-ID and sticky bits were kept
    only as far as the umask's folder had them (2755 under umask 022), the group not at all.  Its
    owner keeps read, write and search (m2msim writes in it and replaces it); set-user-ID, which
    means nothing on a folder, is not given.  A group the user may not give stays the user's, and
    then the group's bits and set-group-ID are no more than as made: those of `old` were granted to
    its group (`chmod 2770` of a folder of group `team`), not to the user's own, which sharing
    them opened the run to all of the user's group.
    A folder given an access control list (`setfacl -m u:ana:rwx`) keeps it, and its default one
    (what its files are made with): its mode's group bits are the list's mask, not its group's (kept
    without the list, the group had what the mask let the users named in it have, and they lost it);
    a list that cannot be given is as a group that cannot.
    Nothing replaced (`old` missing, not a folder, or a link): `new` is left as made."""
    try:
        was, now = os.lstat(old), os.lstat(new)
    except OSError:
        return
    if not stat_module.S_ISDIR(was.st_mode) or not stat_module.S_ISDIR(now.st_mode):
        return
    if was.st_gid != now.st_gid:  # (first: a change of group may clear the set-group-ID)
        with contextlib.suppress(OSError):
            os.chown(new, -1, was.st_gid, follow_symlinks=False)
    listed = _keep_acls(old, new)
    keep = stat_module.S_ISGID | stat_module.S_ISVTX | 0o777
    mode = stat_module.S_IMODE(was.st_mode) & keep | stat_module.S_IRWXU
    with contextlib.suppress(OSError):
        if not listed or os.lstat(new).st_gid != was.st_gid:  # (the group could not be given: EPERM)
            group = stat_module.S_IRWXG | stat_module.S_ISGID
            made = stat_module.S_IMODE(now.st_mode)
            mode = mode & ~group | mode & made & stat_module.S_IRWXG | made & stat_module.S_ISGID
    with contextlib.suppress(OSError):
        os.chmod(new, mode)


# a folder's access control lists (Linux): the one of the folder itself, and the one of what is made in it
_ACLS = ("system.posix_acl_access", "system.posix_acl_default")


def _keep_acls(old: Path, new: Path) -> bool:
    """Give the folder `new` the access control lists `old` has (`_ACLS`); False when `old` has an
    access list `new` could not be given (a file system without them, or refused)."""
    given = True
    for name in _ACLS:
        try:
            value = os.getxattr(old, name, follow_symlinks=False)
        except OSError:
            continue  # (none: ENODATA; or a file system without them)
        try:
            os.setxattr(new, name, value, follow_symlinks=False)
        except OSError:
            given = given and name != _ACLS[0]
    return given


def _remove_made(folders: list[Path]) -> None:
    """Remove the folders a run made for its `--out` (`_make_folders`), deepest first, those
    still empty: an interrupted or failed run left them (`--out runs/2026/03/r`: `runs/2026/03/`)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def swap_in(
    new: Path, out: Path, keep_aside: bool = False, exchange: Callable[[Path, Path], bool] = _exchange
) -> None:
    """Put the complete folder `new` in the place of `out` (see the module docstring); `exchange`
    swaps two names atomically or says it cannot (then two renames are used)."""
    old: Path | None = None
    keep_folder_mode(out, new)  # (a folder kept `chmod 750` stays so)
    with deferred_signals():
        if keep_aside:
            os.rename(out, _kept_name(out))
        if not out.exists():
            os.rename(new, out)
        elif not any(out.iterdir()):
            os.rmdir(out)
            os.rename(new, out)
        elif exchange(new, out):
            old = new  # the old run now has the temporary name
        else:
            old = temporary_name(out, "old")
            os.rename(out, old)
            os.rename(new, out)
        _fsync_dir(out.parent)
        output_written(out)
        # still held: a signal that came during the swap, delivered here, would have the caller
        # remove the old run's folder whole, a file dropped into it meanwhile included
        if old is not None:
            _remove_run(old, _kept_name(out))


@contextlib.contextmanager
def run_folder(
    out: Path | str,
    *,
    force: bool = False,
    option: str = "--out",
    exchange: Callable[[Path, Path], bool] = _exchange,
    writes: Sequence[str] = (),
) -> Iterator[Path]:
    """A temporary folder to fill; it replaces `out` whole when the block ends without an exception
    (`exchange`: as for `swap_in`).  `writes`: the names of the files the caller writes in it, as
    shell patterns of paths in it (`usage/part-*.parquet`), which the next run removes of this
    one's folder if it is killed (m2msim's own `.m2msim-*` go without being named)."""
    final = Path(out)
    if final.name in ("", ".", ".."):
        final = final.resolve()
    check_parents(final, option)  # (else "cannot create the folder it goes in (File exists)")
    made: list[Path] = []
    try:
        with contextlib.ExitStack() as held:
            _lock_out(final, option, made, held)
            _clean_stale(final)
            _clean_inside(final)
            keep_aside = _check_existing(final, force, option)
            work = temporary_name(final, "tmp")
            try:
                # made inside the block: a signal that came as mkdir returned left it beside `out`
                # (its name is this process's own: whatever is there is ours to remove)
                work.mkdir()
                # the old folder's permissions from the start (given at the swap only, a folder
                # kept `chmod 700` had its next run's files open to all while they were written)
                keep_folder_mode(final, work)
                _mark_unfinished(work, final, writes)
                yield work
                files = [f for f in _files_under(work) if f not in (MARKER, UNFINISHED)]
                # (a file put in the folder while the run wrote it, of a name the run does not write, was
                # listed as the run's: the next run deleted it)
                foreign = [f for f in files if writes and not _written_by_run(f, writes)]
                if foreign:
                    files = [f for f in files if f not in foreign]
                    log.warning(
                        "%s: %d file(s) put in the run's folder while it was written, not the run's, such "
                        "as %r: not listed as the run's (%s), the next run into it refuses it",
                        final,
                        len(foreign),
                        foreign[0],
                        MARKER,
                    )
                written = {f: _identity(os.lstat(work / f)) for f in files}
                (work / MARKER).write_text(_marker_text(files, written), encoding="utf-8")
                # (a run's files kept `chmod 600` came back at the umask's 0644, the folder alone
                # kept its mode; a change of mode leaves the identities recorded as they are)
                _keep_modes(final, work, [*files, MARKER])
                # the mark goes once the marker is whole: killed before, the folder holds the mark (the
                # next run removes what it says the run writes); after, a whole run's (removed as one)
                # (removed first, a kill as the files were listed left a folder with neither: the next
                # run left it as it was, with a warning to remove it by hand)
                (work / UNFINISHED).unlink()
                swap_in(work, final, keep_aside, exchange)
            except BaseException:
                if os.path.lexists(work):
                    _discard(work, final, writes)
                raise
    except BaseException:
        _remove_made(made)
        raise
