"""`m2msim.rundir.run_folder`: a folder that appears whole, one writer, never a foreign file lost."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filewatch import IN_OPEN, watch
from interrupts import signals_restored
from mounts import mounted
from processes import dead_pid

import m2msim.outputs
import m2msim.rundir
from m2msim.outputs import (
    OutputBusy,
    OutputError,
    OutputSet,
    atomic_write_text,
    host_name,
    output_lock,
    temporary_name,
)
from m2msim.rundir import (
    MARKER,
    UNFINISHED,
    _exchange,
    changed_files,
    is_run_folder,
    marker_files,
    run_folder,
    swap_in,
    unfinished_run,
)
from m2msim.signals import Terminated, handle_signals


def _fill(folder: Path, **files: str) -> None:
    for name, text in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_folder_appears_with_its_marker(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "r"
    with run_folder(out) as work:
        assert work.parent == out.parent and work.name.startswith(".m2msim-r.tmp-")
        assert not out.exists()  # nothing under the final name while it is built
        _fill(work, a="1", usage__part="2")
    assert json.loads((out / MARKER).read_text())["files"] == ["a", "usage/part"]
    assert is_run_folder(out) and sorted(p.name for p in out.parent.iterdir()) == ["r"]


def test_the_folder_is_marked_unfinished_until_it_is_whole(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, usage__part="1")
        said = unfinished_run(work)
        assert said is not None and "has not ended" in said and f"process {os.getpid()}" in said
        # a reader given the run's usage records, its folder or one of its parts
        assert unfinished_run(work / "usage") == said == unfinished_run(work / "usage" / "part")
    assert _tree(out) == {MARKER: (out / MARKER).read_text(), "usage/part": "1"}  # (the mark is gone)
    assert unfinished_run(out) is None and unfinished_run(out / "usage" / "part") is None


def test_a_run_folder_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old", b="old")
    with run_folder(out) as work:
        _fill(work, a="new")
        assert _tree(out)["a"] == "old"  # the old run, untouched until the end
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_without_an_atomic_exchange_two_renames_replace_it(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old", b="old")
    new = tmp_path / "new"
    _fill(new, a="new")
    (new / MARKER).write_text(json.dumps({"files": ["a"]}))
    swap_in(new, out, exchange=lambda a, b: False)  # a file system without RENAME_EXCHANGE
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


@pytest.mark.parametrize("exchange", [_exchange, lambda a, b: False], ids=["exchange", "two renames"])
@pytest.mark.parametrize("state", ["a run", "empty", "foreign, --force"])
def test_a_replaced_folder_keeps_its_permissions(
    tmp_path: Path, exchange: Callable[[Path, Path], bool], state: str
) -> None:
    """A run folder kept `chmod 750` (or an empty folder made `chmod 700` for the run) was replaced
    by one the umask made readable by all (0755): the next run's invoice was open to every user."""
    out = tmp_path / "r"
    out.mkdir()
    if state == "a run":
        with run_folder(out) as work:
            _fill(work, a="old")
    elif state != "empty":
        _fill(out, notes="mine")
    out.chmod(0o750)
    with run_folder(out, force=state.endswith("--force"), exchange=exchange) as work:
        _fill(work, a="new")
    assert _tree(out)["a"] == "new" and (out.stat().st_mode & 0o7777) == 0o750
    new = tmp_path / "new"  # a folder made where none was: the umask's permissions
    with run_folder(new) as work:
        _fill(work, a="new")
    assert new.stat().st_mode & 0o777 == 0o777 & ~_umask()


@pytest.mark.parametrize("exchange", [_exchange, lambda a, b: False], ids=["exchange", "two renames"])
def test_the_files_of_a_replaced_run_folder_keep_their_permissions(
    tmp_path: Path, exchange: Callable[[Path, Path], bool]
) -> None:
    """A run's invoice kept `chmod 600` (its summary `chmod 640`) came back at the umask's 0644 when
    the next run replaced the folder, which alone kept its mode.  Each file of the same name keeps
    the stricter of its old and new permissions; a new name, the umask's; never more than written."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "old", "summary.json": "old", "usage/part-0.csv": "old"})
    (out / "invoice.json").chmod(0o600)
    (out / "summary.json").chmod(0o640)
    (out / "usage" / "part-0.csv").chmod(0o400)  # (read-only: writable by its owner again)
    (out / MARKER).chmod(0o600)
    mask = os.umask(0o022)
    try:
        with run_folder(out, exchange=exchange) as work:
            _fill(work, **{"invoice.json": "new", "summary.json": "new", "usage/part-0.csv": "new"})
            _fill(work, **{"report.html": "new"})
            (work / "summary.json").chmod(0o600)  # (the writer's own restriction stays)
    finally:
        os.umask(mask)
    modes = {rel: os.lstat(out / rel).st_mode & 0o7777 for rel in _tree(out)}
    assert _tree(out)["invoice.json"] == "new"
    assert modes["invoice.json"] == 0o600 and modes["summary.json"] == 0o600
    assert modes["usage/part-0.csv"] == 0o600 and modes["report.html"] == 0o644
    assert os.lstat(out / MARKER).st_mode & 0o7777 == 0o600
    assert is_run_folder(out)  # (its files as the run wrote them: the next run replaces it)


def test_a_run_folder_in_a_shared_folder_keeps_its_group_inheritance(tmp_path: Path) -> None:
    """A run folder in a folder shared by a group (`chmod g+s`: what is made in it takes its group)
    lost its set-group-ID at its next run: the permissions kept of the folder it replaced were
    given with the special bits cleared, before the run's files were written, so they took the
    user's own group and the others of the group could no longer read them."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    out = shared / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "old"})
    assert out.stat().st_mode & 0o7777 == 0o2777 & ~_umask()
    out.chmod(0o2750)
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "new", "usage/part-0.csv": "new"})
        assert work.stat().st_mode & 0o7777 == 0o2750  # (before its files are written)
        assert (work / "usage").stat().st_mode & stat.S_ISGID
    assert out.stat().st_mode & 0o7777 == 0o2750


@pytest.mark.parametrize("exchange", [_exchange, lambda a, b: False], ids=["exchange", "two renames"])
def test_a_run_folder_keeps_the_mode_and_group_set_on_it_by_hand(
    tmp_path: Path, exchange: Callable[[Path, Path], bool]
) -> None:
    """A run folder a user gave to a group by hand (`chgrp team`, `chmod 2775`: the group writes
    in it, what is made in it takes the group) came back from its next run as the umask's 0755 in
    the user's own group: the set-group-ID, the group's write and the group were lost, and the
    run's files, made in it, took the user's group."""
    others = [g for g in os.getgroups() if g != os.getegid()]
    if os.geteuid() != 0 and not others:
        pytest.skip("needs a second group to give the folder")
    team = others[0] if others else 4242
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "old"})
    os.chown(out, -1, team)
    out.chmod(0o2775)
    mask = os.umask(0o022)
    try:
        with run_folder(out, exchange=exchange) as work:
            _fill(work, **{"invoice.json": "new", "usage/part-0.csv": "new"})
            assert work.stat().st_mode & 0o7777 == 0o2775  # (before its files are written)
            assert work.stat().st_gid == team
    finally:
        os.umask(mask)
    assert _tree(out)["invoice.json"] == "new"
    assert out.stat().st_mode & 0o7777 == 0o2775 and out.stat().st_gid == team
    assert (out / "invoice.json").stat().st_gid == team
    assert (out / "usage" / "part-0.csv").stat().st_gid == team


def test_a_run_folder_whose_group_cannot_be_given_keeps_the_groups_bits_from_the_users_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run folder of a group the user may not give (`chgrp` refused: not one of the user's groups)
    came back from its next run in the user's own group with the old group's bits (`2770`: the
    group writes) and set-group-ID: what was open to `team` was opened to the user's group, and the
    run's files took that group."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "old"})
    team = os.getegid() + 4242
    with contextlib.suppress(PermissionError):
        os.chown(out, -1, team)
    if out.stat().st_gid != team:
        pytest.skip("needs a folder of another group than the user's")
    out.chmod(0o2770)

    monkeypatch.setattr(os, "chown", _refused)
    mask = os.umask(0o022)
    try:
        with run_folder(out) as work:
            _fill(work, **{"invoice.json": "new"})
            made = work.stat()
            assert made.st_gid != team and made.st_mode & 0o7777 == 0o750  # (the umask's group bits)
    finally:
        os.umask(mask)
    assert _tree(out)["invoice.json"] == "new"
    assert out.stat().st_mode & 0o7777 == 0o750 and out.stat().st_gid != team


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A Linux access control list as its extended attribute holds it: (tag, permissions, id) each."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_a_run_folder_keeps_its_access_control_list(tmp_path: Path) -> None:
    """A run folder a user opened to another user by an access control list (`setfacl -m
    u:ana:rwx`: the mode's group bits are then the list's mask, `rwx`) came back from its next run
    without the list and with the mask as its group's bits: the user named lost the folder, and its
    group, given `r-x`, could write in it."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.json": "old"})
    anyone = 0xFFFFFFFF
    listed = _acl((0x01, 7, anyone), (0x02, 7, 4242), (0x04, 5, anyone), (0x10, 7, anyone), (0x20, 0, anyone))
    try:
        os.setxattr(out, "system.posix_acl_access", listed)
    except OSError:
        pytest.skip("needs a file system with access control lists")
    assert out.stat().st_mode & 0o7777 == 0o770  # (the group's bits are the mask's)
    mask = os.umask(0o022)
    try:
        with run_folder(out) as work:
            _fill(work, **{"invoice.json": "new"})
            assert os.getxattr(work, "system.posix_acl_access") == listed  # (before its files are written)
    finally:
        os.umask(mask)
    assert _tree(out)["invoice.json"] == "new"
    assert os.getxattr(out, "system.posix_acl_access") == listed and out.stat().st_mode & 0o7777 == 0o770


def _refused(*args: object, **kwargs: object) -> None:
    """A call the system refuses (as `utime` or `chown` of a file system or a user that may not)."""
    raise PermissionError(errno.EPERM, "Operation not permitted")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("how", ["atomic", "set", "link"])
def test_a_replaced_file_keeps_its_permissions(tmp_path: Path, how: str) -> None:
    """An output kept `chmod 600` (an invoice) was replaced by a file the umask made readable by all
    (0644); through a link, the permissions are the file's it names."""
    path = tmp_path / "invoice.txt"
    path.write_text("old")
    path.chmod(0o600)
    given = path
    if how == "link":
        given = tmp_path / "latest.txt"
        given.symlink_to(path.name)
    if how == "set":
        with OutputSet() as outputs:
            outputs.stage(given, b"new")
            outputs.commit()
    else:
        atomic_write_text(given, "new")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o7777) == 0o600
    if how == "link":
        assert given.is_symlink()
    path.chmod(0o440)  # read-only (replaced with --force only): writable by its owner again
    atomic_write_text(given, "newer")
    assert path.read_text() == "newer" and (path.stat().st_mode & 0o7777) == 0o640
    fresh = tmp_path / "fresh.txt"
    atomic_write_text(fresh, "new")
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~_umask()
    fresh.chmod(0o644)  # never more than the writer gives: a secret written under umask 077
    mask = os.umask(0o077)
    try:
        atomic_write_text(fresh, "token")
    finally:
        os.umask(mask)
    assert fresh.stat().st_mode & 0o7777 == 0o600


@pytest.mark.parametrize("how", ["atomic", "set"])
def test_a_replaced_file_is_written_with_its_permissions(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invoice kept `chmod 600` was written under the umask's 0644 and given its mode only at
    the rename: readable by every user while it was written."""
    path = tmp_path / "invoice.txt"
    path.write_text("old")
    path.chmod(0o600)
    modes: list[int] = []
    if how == "atomic":
        with m2msim.outputs.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(b"new")
            modes.append(os.fstat(f.fileno()).st_mode & 0o7777)
    else:
        write_bytes = Path.write_bytes

        def hooked(self: Path, data: bytes) -> int:  # the writer, seen as it writes
            written = write_bytes(self, data)
            modes.append(self.stat().st_mode & 0o7777)
            return written

        monkeypatch.setattr(Path, "write_bytes", hooked)
        with OutputSet() as outputs:
            outputs.stage(path, b"new")
            outputs.commit()
    assert modes == [0o600]
    assert path.read_text() == "new" and path.stat().st_mode & 0o7777 == 0o600


@pytest.mark.parametrize("was", ["a file", "nothing"])
def test_an_atomic_block_that_writes_nothing_leaves_the_output_as_it_was(tmp_path: Path, was: str) -> None:
    """A block of `atomic_path` that ended without writing its temporary file put an empty file in
    place of the user's good one (the temporary file is made beforehand, with the old file's
    permissions); with nothing there, it failed at the rename.  It is an error, the output left as
    it was, the temporary file removed; a block that writes an empty file writes one."""
    path = tmp_path / "invoice.txt"
    if was == "a file":
        path.write_text("good")
        path.chmod(0o600)
    nothing = pytest.raises(OutputError, match=r"--out .*invoice.txt: its writer wrote nothing")
    with nothing, m2msim.outputs.atomic_path(path, option="--out"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == (["invoice.txt"] if was == "a file" else [])
    if was == "a file":
        assert path.read_text() == "good" and path.stat().st_mode & 0o7777 == 0o600
    with m2msim.outputs.atomic_path(path) as tmp:
        tmp.write_bytes(b"")  # (an empty output, written)
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["invoice.txt"]


@pytest.mark.parametrize("short", [False, True], ids=["mark written", "mark written short"])
def test_an_empty_write_is_told_where_the_file_system_refuses_to_set_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short: bool
) -> None:
    """On a file system that refuses `utime`, the temporary file made beforehand kept the time of
    its making: a writer that wrote it empty within the same tick was taken as having written
    nothing, its output refused.  The file's bytes tell instead; a block that writes nothing is
    still refused, and a written output holds the writer's bytes alone.  Where the write of those
    bytes stopped short (a network file system's short write), a block that wrote nothing was
    taken as having written the file: the first bytes of m2msim's replaced the good output."""
    utime, write = os.utime, os.write

    def first_bytes(fd: int, data: bytes) -> int:
        return write(fd, data[:10] if data == m2msim.outputs._UNWRITTEN_MARK else data)

    monkeypatch.setattr(os, "utime", _refused)
    if short:
        monkeypatch.setattr(os, "write", first_bytes)
    path = tmp_path / "invoice.txt"
    path.write_text("good")
    with pytest.raises(OutputError, match="its writer wrote nothing"), m2msim.outputs.atomic_path(path):
        pass
    assert path.read_text() == "good" and sorted(p.name for p in tmp_path.iterdir()) == ["invoice.txt"]
    with m2msim.outputs.atomic_path(path) as tmp:
        made = os.stat(tmp)
        tmp.write_bytes(b"")  # (an empty output, written within the tick of the file's making)
        utime(tmp, ns=(made.st_atime_ns, made.st_mtime_ns))
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["invoice.txt"]
    path.write_text("good")
    with m2msim.outputs.atomic_path(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new"


@pytest.fixture(params=["tmpfs", "bind"])
def mount_point(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A folder that is a mount point: a tmpfs, or a bind mount of a folder of the same file system
    (as a container's volume is), unmounted at the end; skipped where mounting is not allowed."""
    point = tmp_path / "mnt"
    point.mkdir()
    source = tmp_path / "source"
    source.mkdir()
    how = ["-t", "tmpfs", "m2msim-test"] if request.param == "tmpfs" else ["--bind", str(source)]
    with mounted(point, *how):
        yield point


@pytest.mark.parametrize("state", ["empty", "a run"])
def test_a_mount_point_as_the_folder_is_refused_before_the_work(mount_point: Path, state: str) -> None:
    """`--out /data` where /data is a mount point (a container's volume): the run was made whole, then
    its swap failed (`mnt: Device or resource busy`, a rename cannot move a mount point), the run
    lost; it is refused before the work, naming a folder inside it."""
    if state == "a run":
        with run_folder(mount_point / "run") as work:
            _fill(work, a="old")
        for f in [*(mount_point / "run").iterdir()]:
            f.rename(mount_point / f.name)
        (mount_point / "run").rmdir()
    before = sorted(p.name for p in mount_point.parent.iterdir())
    inside = sorted(p.name for p in mount_point.iterdir())
    with pytest.raises(OutputError) as refused, run_folder(mount_point):
        pytest.fail("the run was let start")
    assert str(refused.value) == (
        f"--out {mount_point}: is a mount point, which m2msim cannot replace (a run folder is put in "
        f"place whole by a rename): give a folder inside it, such as {mount_point / 'run'}"
    )
    assert sorted(p.name for p in mount_point.parent.iterdir()) == before
    assert sorted(p.name for p in mount_point.iterdir()) == inside
    with run_folder(mount_point / "run") as work:  # the folder it names is written there
        _fill(work, a="new")
    assert _tree(mount_point / "run")["a"] == "new"


def test_an_exception_leaves_the_old_folder_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    before = _tree(out)
    with pytest.raises(KeyboardInterrupt), run_folder(out, writes=["a"]) as work:
        _fill(work, a="half")
        raise KeyboardInterrupt
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["r"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_runs_folder_loses_only_the_files_the_run_wrote(
    tmp_path: Path, sig: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    """A live run interrupted by SIGINT or SIGTERM removed its temporary folder whole: a file the
    user had dropped into it went with it.  Now only the files the run writes (and m2msim's own
    `.m2msim-*`) go; the rest is kept aside as `NAME.kept-N`, and said."""
    from m2msim.signals import handle_signals

    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    before = _tree(out)
    writes = ["summary.txt", "usage/part-*.parquet"]
    with (
        caplog.at_level("WARNING", logger="m2msim.rundir"),
        handle_signals(),
        pytest.raises(KeyboardInterrupt),
        run_folder(out, writes=writes) as work,
    ):
        _fill(
            work,
            **{"summary.txt": "run", "usage__part-00000.parquet": "run", ".m2msim-attempts__x": "run"},
        )
        _fill(work, **{"notes.txt": "mine", "usage__mine.parquet": "mine too"})
        signal.raise_signal(sig)
    assert _tree(out) == before
    assert _tree(tmp_path / "r.kept-1") == {"notes.txt": "mine", "usage/mine.parquet": "mine too"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "r.kept-1"]
    said = "\n".join(caplog.messages)
    assert f"the temporary folder of the interrupted run of {out} held 2 file(s)" in said
    assert f"kept, as {tmp_path / 'r.kept-1'}" in said


def test_a_file_put_in_the_folder_while_the_run_writes_it_is_not_listed_as_the_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file put in a run's temporary folder while the run wrote it was listed in the marker as
    one the run wrote: the next run into that folder deleted it.  Now only the names the run
    writes are listed; the next run refuses the folder, the file kept."""
    out = tmp_path / "r"
    with caplog.at_level("WARNING", logger="m2msim.rundir"), run_folder(out, writes=["a"]) as work:
        _fill(work, a="run", notes="mine")
    assert marker_files(out) == ["a"] and not is_run_folder(out)
    assert f"{out}: 1 file(s) put in the run's folder while it was written" in "\n".join(caplog.messages)
    with (
        pytest.raises(OutputError, match="not empty and not an m2msim run folder"),
        run_folder(out, writes=["a"]),
    ):
        pass
    assert _tree(out)["notes"] == "mine"


def test_one_writer(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out), pytest.raises(OutputBusy, match="is writing it now"), run_folder(out):
        pass


def test_a_kill_between_the_two_renames_is_undone_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    before = _tree(out)
    # what a SIGKILL after "old away" and before "new in" leaves: the old run under its temporary
    # name, a half-built new one beside it
    old = tmp_path / ".m2msim-r.old-4242-0123abcd"
    out.rename(old)
    half = tmp_path / ".m2msim-r.tmp-4242-89abcdef"
    _killed_in(half, 4242, ["a"], a="half")
    with run_folder(out) as work:
        assert _tree(out) == before  # put back before anything else
        _fill(work, a="new")
    assert _tree(out)["a"] == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def _killed_in(folder: Path, pid: int, writes: list[str], **files: str) -> None:
    """What a run of process `pid` writing `writes` and killed by SIGKILL leaves: its folder, marked
    unfinished, with `files`."""
    folder.mkdir()
    said = {"m2msim": "unfinished run", "out": "?", "host": host_name(), "pid": pid, "writes": writes}
    (folder / UNFINISHED).write_text(json.dumps(said))
    _fill(folder, **files)


def test_a_killed_runs_folder_loses_only_the_files_the_run_wrote(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file put in the temporary folder a killed run left (or in one that is not a run's at all,
    under such a name) was removed with the whole folder by the next run: a file m2msim did not
    write, deleted.  Now only the files the run's mark says it writes go; the rest is kept aside,
    and said."""
    out = tmp_path / "r"
    dead = dead_pid()
    killed = tmp_path / f".m2msim-r.tmp-{host_name()}-{dead}-0123abcd"
    writes = ["summary.txt", "usage/part-*.parquet"]
    _killed_in(
        killed,
        dead,
        writes,
        **{"summary.txt": "run", "usage__part-00000.parquet": "run", ".m2msim-attempts__x": "run"},
        **{"notes.txt": "mine", "usage__mine.parquet": "mine too"},
    )
    # named as a run's folder, but no run's mark (or another process's): nothing of it is provably ours
    unmarked = tmp_path / f".m2msim-r.tmp-{host_name()}-{dead}-89abcdef"
    _fill(unmarked, **{"summary.txt": "not a run's"})
    other = tmp_path / f".m2msim-r.tmp-{host_name()}-{dead}-01234567"
    _killed_in(other, dead + 1, writes, **{"summary.txt": "another process's"})
    empty = tmp_path / f".m2msim-r.tmp-{host_name()}-{dead}-fedcba98"  # killed as it was made
    empty.mkdir()
    with caplog.at_level("WARNING", logger="m2msim.rundir"), run_folder(out) as work:
        _fill(work, a="new")
    assert _tree(out)["a"] == "new"
    assert _tree(tmp_path / "r.kept-1") == {"notes.txt": "mine", "usage/mine.parquet": "mine too"}
    assert _tree(unmarked) == {"summary.txt": "not a run's"}
    assert _tree(other) == {"summary.txt": "another process's", UNFINISHED: (other / UNFINISHED).read_text()}
    assert not empty.exists()
    said = "\n".join(caplog.messages)
    assert f"{killed}: the temporary folder of a killed run of {out} held 2 file(s)" in said
    assert f"kept, as {tmp_path / 'r.kept-1'}" in said
    assert f"{unmarked}: left as it is" in said and f"{other}: left as it is" in said


def test_the_old_run_a_kill_left_aside_loses_only_its_own_files(tmp_path: Path) -> None:
    """The old run renamed aside by the swap, a kill before its files were removed: the next run
    removed it whole, a file dropped into it included."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    old = tmp_path / f".m2msim-r.old-{host_name()}-4242-0123abcd"
    out.rename(old)
    with run_folder(out) as work:  # (the old run is put back: no run there)
        _fill(work, a="new")
    assert _tree(out)["a"] == "new"
    with run_folder(out) as work:
        _fill(work, a="old")
    shutil.copytree(out, old)  # (identities kept: the old run's files as it wrote them)
    shutil.copystat(out / "a", old / "a")
    _fill(old, notes="mine")
    with run_folder(out) as work:
        _fill(work, a="newer")
    assert _tree(out)["a"] == "newer" and not old.exists()
    assert _tree(tmp_path / "r.kept-1") == {"notes": "mine"}


def test_files_m2msim_did_not_write_are_never_deleted(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    _fill(out, notes="mine")
    with (
        pytest.raises(
            OutputError, match=r"not an m2msim run folder .1 file.s. m2msim did not write, such as 'notes'"
        ),
        run_folder(out),
    ):
        pass
    with run_folder(out, force=True) as work:
        _fill(work, a="new")
    assert _tree(tmp_path / "r.kept-1") == {"notes": "mine"}
    # a file dropped into a run folder while the next run builds: the old run's files go, it stays
    with run_folder(out) as work:
        _fill(work, a="newer")
        _fill(out, late="mine too")
    assert _tree(out)["a"] == "newer" and _tree(tmp_path / "r.kept-2") == {"late": "mine too"}
    with (
        pytest.raises(OutputError, match="exists and is not a folder"),
        run_folder(tmp_path / "r.kept-1" / "notes"),
    ):
        pass


def test_a_signal_during_the_swap_never_removes_a_file_dropped_into_the_old_run(tmp_path: Path) -> None:
    """Held back during the swap, a SIGINT was delivered right after it, before the old run's own
    files were removed: the caller then removed the old run's folder whole, the user's file in it."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")

    def exchange_then_ctrl_c(a: Path, b: Path) -> bool:
        swapped = _exchange(a, b)
        os.kill(os.getpid(), signal.SIGINT)  # pending: the swap holds it back
        return swapped

    for exchange in (exchange_then_ctrl_c, lambda a, b: os.kill(os.getpid(), signal.SIGINT) or False):
        with pytest.raises(KeyboardInterrupt), run_folder(out, exchange=exchange) as work:
            _fill(work, a="new")
            _fill(out, notes="mine")  # dropped into the old run while the new one is built
        assert _tree(out)["a"] == "new"
        kept = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("r.kept-"))
        assert [_tree(tmp_path / k) for k in kept][-1] == {"notes": "mine"}
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]


def test_what_a_killed_writer_of_one_of_its_files_left_inside_is_removed(tmp_path: Path) -> None:
    """`m2msim report RUN` killed by SIGKILL while it wrote `report.html` left its temporary file in
    the run folder: the next run refused the folder as one holding a file m2msim did not write."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"report.html": "old", "usage__part-0.parquet": "old"})
    dead = dead_pid()
    left = [
        out / f".m2msim-report.html.tmp-{host_name()}-{dead}-0123abcd",
        out / "usage" / f".m2msim-part-0.parquet.tmp-{host_name()}-{dead}-89abcdef",
    ]
    kept = {  # a live writer's, another host's, another name's: not the run's to remove
        out / temporary_name(out / "report.html").name: "live",
        out / f".m2msim-report.html.tmp-{host_name()}x-{dead}-0123abcd": "other host",
        out / f".m2msim-notes.txt.tmp-{host_name()}-{dead}-0123abcd": "not listed",
    }
    for path in left:
        path.write_text("half of a page")
    for path, text in kept.items():
        path.write_text(text)
        with pytest.raises(OutputError, match="not an m2msim run folder"), run_folder(out):
            pass
        path.unlink()
    with run_folder(out) as work:
        _fill(work, a="new")
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_folder_of_the_run_made_a_link_is_never_followed(tmp_path: Path) -> None:
    """The run's `usage` folder replaced by a link to another (`usage -> /archive/2026-03`, moved to a
    bigger disk): the next run removed the files the old run's marker lists through the link, files
    outside the run folder (an archived `part-00000.parquet` of the user's)."""
    out, archive = tmp_path / "r", tmp_path / "archive"
    archive.mkdir()
    with run_folder(out) as work:
        _fill(work, a="old", usage__part="old part")
    shutil.rmtree(out / "usage")
    (archive / "part").write_text("the user's archived part")
    (out / "usage").symlink_to(archive)
    with (
        pytest.raises(
            OutputError, match=r"not an m2msim run folder .1 file.s. m2msim did not write, such as 'usage'"
        ),
        run_folder(out),
    ):
        pass
    with run_folder(out, force=True) as work:  # kept whole beside it
        _fill(work, a="new")
    assert (tmp_path / "r.kept-1" / "usage").is_symlink() and _tree(archive) == {
        "part": "the user's archived part"
    }
    # made a link while the next run is built (after its check): not followed when the old run goes
    shutil.rmtree(out)
    with run_folder(out) as work:
        _fill(work, a="old", usage__part="old part")
    with run_folder(out) as work:
        _fill(work, a="new")
        shutil.rmtree(out / "usage")
        (out / "usage").symlink_to(archive)
    assert _tree(archive) == {"part": "the user's archived part"} and _tree(out)["a"] == "new"
    assert (tmp_path / "r.kept-2" / "usage").is_symlink()


def test_a_link_to_a_folder_is_refused_naming_the_folder(tmp_path: Path) -> None:
    """`--out runs/latest`, a link to a run folder, was refused as "exists and is not a folder"."""
    with run_folder(tmp_path / "r") as work:
        _fill(work, a="old")
    (tmp_path / "latest").symlink_to("r")
    said = f"latest: is a symbolic link to the folder {tmp_path / 'r'}: give"
    with pytest.raises(OutputError, match=said), run_folder(tmp_path / "latest"):
        pass
    assert (tmp_path / "latest").is_symlink() and _tree(tmp_path / "r")["a"] == "old"


def test_a_folder_kept_aside_never_takes_the_name_of_a_dangling_link(tmp_path: Path) -> None:
    """`r.kept-1`, a link of the user's to a folder not there (a disk not mounted): the folder kept
    with --force was renamed over it, and the link was gone."""
    out = tmp_path / "r"
    out.mkdir()
    _fill(out, notes="mine")
    (tmp_path / "r.kept-1").symlink_to(tmp_path / "not-mounted")
    with run_folder(out, force=True) as work:
        _fill(work, a="new")
    assert (tmp_path / "r.kept-1").is_symlink() and _tree(tmp_path / "r.kept-2") == {"notes": "mine"}


def test_the_lock_file_a_killed_writer_of_one_of_its_files_left_inside_is_removed(tmp_path: Path) -> None:
    """`rate INV RUN/usage.parquet --out RUN/invoice.txt` killed by SIGKILL left its lock file,
    `.m2msim-invoice.txt.lock`, in the run folder (its lock went with it): the next run refused the
    folder as one holding a file m2msim did not write.  One that is held is a live writer's."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, **{"invoice.txt": "old"})
    said = re.escape("m2msim did not write, such as '.m2msim-invoice.txt.lock'")
    with output_lock(out / "invoice.txt"):  # a writer of it now: its lock file stays, the run waits
        with pytest.raises(OutputError, match=said), run_folder(out):
            pass
        left = (out / ".m2msim-invoice.txt.lock").read_bytes()
    (out / ".m2msim-invoice.txt.lock").write_bytes(left)  # as the killed writer left it: nobody holds it
    with run_folder(out) as work:
        _fill(work, a="new")
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_signal_as_the_temporary_folder_is_made_leaves_nothing_beside_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGINT that came just as the run's temporary folder was made (before the block that removes it
    on an exception) left that folder beside `--out`, empty, after `interrupted (SIGINT)`; the
    next run removed it, but a user who looked saw a run's leftover."""
    import m2msim.rundir
    from m2msim.signals import Terminated

    class Interrupted(type(tmp_path)):  # type: ignore[misc]
        def mkdir(self, *args: object, **kwargs: object) -> None:
            super().mkdir(*args, **kwargs)
            raise Terminated  # as m2msim.signals raises it, at the first bytecode after the mkdir

    monkeypatch.setattr(m2msim.rundir, "temporary_name", lambda *a: Interrupted(temporary_name(*a)))
    with pytest.raises(Terminated), run_folder(tmp_path / "run"):
        pass
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_a_file_of_the_run_edited_by_hand_is_refused_then_kept_whole_with_force(tmp_path: Path) -> None:
    """The marker listed names only: a `summary.txt` the user added notes to (or replaced by a file
    of their own of the same name) was taken for the run's and deleted by the next run."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, summary="the run's", other="x")
    (out / "summary").write_text("the run's, and my notes")
    assert not is_run_folder(out) and changed_files(out) == ["summary"]
    with (
        pytest.raises(OutputError, match=r"'summary' changed since the run wrote it.*--force"),
        run_folder(out),
    ):
        pass
    assert (out / "summary").read_text() == "the run's, and my notes"
    with run_folder(out, force=True) as work:
        _fill(work, summary="new")
    assert (tmp_path / "r.kept-1" / "summary").read_text() == "the run's, and my notes"
    assert _tree(out) == {"summary": "new", MARKER: (out / MARKER).read_text()}


def test_a_file_edited_after_the_check_is_kept_not_deleted(tmp_path: Path) -> None:
    """Edited while the next run is built, after its check: the removal of the old run skips it."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old", b="old")
    with run_folder(out) as work:
        (out / "b").write_text("edited while the run ran")
        _fill(work, a="new")
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}
    assert _tree(tmp_path / "r.kept-1") == {"b": "edited while the run ran"}


def test_a_forged_marker_does_not_have_a_foreign_file_deleted(tmp_path: Path) -> None:
    """A marker copied from another run (or written by hand) naming the user's file: the next run deleted it."""
    run, mine = tmp_path / "run", tmp_path / "mine"
    with run_folder(run) as work:
        _fill(work, thesis="the run's")
    mine.mkdir()
    (mine / "thesis").write_text("my thesis, years of it")
    shutil.copy(run / MARKER, mine / MARKER)
    doc = json.loads((mine / MARKER).read_text())
    doc["written"]["thesis"]["size"] = len("my thesis, years of it")  # (its mtime_ns is not the file's)
    (mine / MARKER).write_text(json.dumps(doc))
    with pytest.raises(OutputError, match="'thesis' changed since the run wrote it"), run_folder(mine):
        pass
    with run_folder(mine, force=True) as work:
        _fill(work, a="new")
    assert (tmp_path / "mine.kept-1" / "thesis").read_text() == "my thesis, years of it"
    # a `written` not as m2msim writes it records no file as the run's
    (mine / MARKER).write_text(json.dumps({"files": ["a"], "written": []}))
    assert changed_files(mine) == ["a"] and not is_run_folder(mine)


def test_a_marker_of_an_older_version_lists_names_only(tmp_path: Path) -> None:
    """Backward compatible: a marker without identities takes each file it lists for the run's."""
    out = tmp_path / "r"
    out.mkdir()
    _fill(out, a="old", b="edited")
    (out / MARKER).write_text(json.dumps({"m2msim": "run folder", "files": ["a", "b"]}))
    assert is_run_folder(out) and changed_files(out) == []
    with run_folder(out) as work:
        _fill(work, a="new")
    assert _tree(out) == {"a": "new", MARKER: (out / MARKER).read_text()}


def test_a_file_m2msim_writes_later_into_the_run_folder_is_recorded(tmp_path: Path) -> None:
    """`report RUN` rewriting `report.html`, `rate --out RUN/invoice.txt` adding a file the run did
    not write: the next run took the first for a changed file and the second for a foreign one."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, page="the run's page")
    atomic_write_text(out / "page", "a page drawn again, longer")
    atomic_write_text(out / "invoice", "an invoice")
    assert marker_files(out) == ["page", "invoice"] and is_run_folder(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".m2msim-") and p.name != MARKER]
    with run_folder(out) as work:
        _fill(work, page="new")
    assert _tree(out) == {"page": "new", MARKER: (out / MARKER).read_text()}
    # under the lock the writer holds already (`report RUN` holds the folder's): recorded too
    with output_lock(out, output=False):
        atomic_write_text(out / "page", "drawn under the folder's lock")
    assert is_run_folder(out)


@contextlib.contextmanager
def _held_by_another_process(out: Path, until: Callable[[], object] = signal.pause) -> Iterator[None]:
    """The folder's lock held by a forked process from the block's start until `until()` returns in
    it (or the block ends)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            with output_lock(out, output=False):
                os.write(writer, b"1")
                until()
        finally:
            os._exit(0)
    os.close(writer)
    try:
        assert os.read(reader, 1) == b"1"
        yield
    finally:
        os.kill(pid, signal.SIGTERM)  # (gone already once `until()` returned)
        os.waitpid(pid, 0)
        os.close(reader)


def test_a_file_written_while_a_run_replaces_the_folder_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker is not written while a run holds the folder (its swap would be undone): the file
    stays unrecorded, and the run keeps it (once the wait for the lock is over: shortened here)."""
    monkeypatch.setattr(m2msim.rundir, "MARKER_WAIT_S", 0.05)
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, page="the run's page")
    before = (out / MARKER).read_text()
    with _held_by_another_process(out):  # (a run holding the folder)
        atomic_write_text(out / "page", "drawn again meanwhile")
        assert (out / MARKER).read_text() == before and not is_run_folder(out)


def test_two_writers_recording_their_files_at_once_both_are_recorded(tmp_path: Path) -> None:
    """Two commands ending at once that wrote into one run folder (`rate --out RUN/a.txt`, `compare
    --out RUN/b.txt`): one found the folder's lock held by the other's marker write, left its file
    unrecorded, and the next run refused the folder as one holding a file m2msim did not write.  The
    other writer here holds the lock until this one has come for it a second time (it waits for it),
    then lets it go."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, page="the run's page")
    lock = f".m2msim-{out.name}.lock"
    with watch(tmp_path, IN_OPEN) as names:  # (made before the fork: the other process reads it)

        def opened_again() -> None:  # (the lock file opened by the other process, then twice by this one)
            opened = (n for n in names() if n == lock)
            next(opened), next(opened), next(opened)

        with _held_by_another_process(out, opened_again):
            atomic_write_text(out / "invoice", "an invoice written as the other writer records its file")
    assert marker_files(out) == ["page", "invoice"] and is_run_folder(out)


def test_a_signal_while_a_set_waits_to_record_its_files_is_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rate --out RUN/invoice.txt --report RUN/page.html` while another command holds RUN: the wait
    for the folder's lock to record each file must not be made with the signals held back (the
    renames' guard), or a SIGTERM would wait for every file's wait in turn."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, page="the run's page")
    monkeypatch.setattr(m2msim.rundir, "MARKER_WAIT_S", 0.2)
    waits: list[Path] = []
    lock_for_the_marker = m2msim.rundir._lock_for_the_marker

    def signalled(folder: Path, held: contextlib.ExitStack) -> None:
        waits.append(folder)
        os.kill(os.getpid(), signal.SIGTERM)
        lock_for_the_marker(folder, held)

    monkeypatch.setattr(m2msim.rundir, "_lock_for_the_marker", signalled)
    held = _held_by_another_process(out)
    with held, signals_restored(), pytest.raises(Terminated), handle_signals(), OutputSet() as outputs:
        outputs.stage(out / "invoice", b"an invoice")
        outputs.stage(out / "page", b"a page")
        outputs.commit()
    assert len(waits) == 1  # (the second file's wait not made: the signal came in the first)
    assert (out / "invoice").read_bytes() == b"an invoice" and (out / "page").read_bytes() == b"a page"


def test_a_folder_on_overlayfs_is_the_same_folder_when_its_inode_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On overlayfs with `xino=off` (its layers on two file systems) a folder's inode may differ
    from one `stat` to the next (a folder of the lower layer copied up): `rate RUN` said "the run
    folder changed while it was read" of a folder nobody replaced.  There the folder is told by
    its files; another run put in its place is still told apart."""
    import m2msim.rundir
    from m2msim.rundir import folder_identity

    base = tmp_path / "my runs"  # (a space: `\040` in /proc/self/mountinfo)
    out = base / "r"
    with run_folder(out) as work:
        _fill(work, a="old", **{"usage__part-00000.parquet": "part"})
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        f"99 27 0:50 / {str(base).replace(' ', chr(92) + '040')} rw,relatime - overlay overlay "
        "rw,lowerdir=/l,upperdir=/u,workdir=/w,xino=off\n"
    )
    monkeypatch.setattr(m2msim.outputs, "_MOUNTINFO", str(mountinfo))
    real_stat, calls = os.stat, [0]

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        st = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.path.abspath(str(path)) in (str(out), str(out / "usage")):
            calls[0] += 1  # (the folder's inode as overlayfs gives it: another at each call)
            return os.stat_result((st.st_mode, st.st_ino + calls[0], *tuple(st)[2:]))
        return st

    monkeypatch.setattr(os, "stat", stat)
    for folder in (out, out / "usage"):
        first = folder_identity(folder)
        assert first is not None and folder_identity(folder) == first
        half = folder / f".m2msim-x.tmp-{host_name()}-1-0123abcd"
        half.write_text("a reader's output, half")
        assert folder_identity(folder) == first
        half.unlink()
    # `m2msim report RUN` writes its page into the folder while another command reads it: no other run
    first = folder_identity(out)
    atomic_write_text(out / "report.html", "<html>the run's report</html>")
    assert folder_identity(out) == first
    before = {folder: folder_identity(folder) for folder in (out, out / "usage")}
    with run_folder(out) as work:  # another run put in its place, the same names
        _fill(work, a="old", **{"usage__part-00000.parquet": "part"})
    for folder, identity in before.items():
        assert folder_identity(folder) != identity
    # (elsewhere than on overlayfs the inode tells: here the simulated one changes at each call)
    mountinfo.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    assert folder_identity(out) != folder_identity(out)


class _Killed(BaseException):
    """The process killed (SIGKILL) where it is raised."""


def test_a_run_killed_while_it_removes_its_interrupted_folder_leaves_it_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed run removes its temporary folder file by file; killed meanwhile (SIGKILL, or
    SIGTERM after a failure), it left the folder without its unfinished mark, removed first: the
    next run left it as it was, m2msim's own files in it, with a warning.  The mark goes last."""
    out = tmp_path / "r"
    dead = dead_pid()
    monkeypatch.setattr(os, "getpid", lambda: dead)  # (the process that is killed)
    unlink = Path.unlink
    removed: list[str] = []

    def unlinking(path: Path, missing_ok: bool = False) -> None:
        if removed:
            raise _Killed
        removed.append(path.name)
        unlink(path, missing_ok=missing_ok)

    with pytest.raises(_Killed), run_folder(out, writes=["summary.txt", "usage/part-*.parquet"]) as work:
        _fill(work, **{"summary.txt": "run", "usage__part-00000.parquet": "run"})
        monkeypatch.setattr(Path, "unlink", unlinking)
        raise OSError("disk full")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-r.tmp-")]
    with caplog.at_level("WARNING", logger="m2msim.rundir"), run_folder(out) as work:
        _fill(work, a="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert "left as it is" not in caplog.text


@pytest.mark.parametrize("at", ["_written_by_run", "_marker_text", "swap_in"])
def test_a_run_killed_as_it_ends_leaves_its_folder_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, at: str
) -> None:
    """A run killed (SIGKILL) once its files were written, as it listed them for its marker or wrote
    the marker: its unfinished mark was removed first, so the next run found a folder with neither
    mark, left it beside `out` with a warning to remove it by hand, and did so at every run after."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    dead = dead_pid()
    monkeypatch.setattr(os, "getpid", lambda: dead)  # (the process that is killed)
    monkeypatch.setattr(m2msim.rundir, "_discard", lambda *args: None)  # (SIGKILL: no clean-up)

    def killed(*args: object, **kwargs: object) -> None:
        raise _Killed

    monkeypatch.setattr(m2msim.rundir, at, killed)
    with pytest.raises(_Killed), run_folder(out, writes=["summary.txt", "usage/part-*.parquet"]) as work:
        _fill(work, **{"summary.txt": "run", "usage__part-00000.parquet": "run"})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-r.tmp-")]
    assert _tree(out)["a"] == "old"
    with caplog.at_level("WARNING", logger="m2msim.rundir"), run_folder(out) as work:
        _fill(work, a="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"] and _tree(out)["a"] == "new"
    assert "left as it is" not in caplog.text


def test_the_folders_an_interrupted_run_made_for_its_out_are_removed(tmp_path: Path) -> None:
    """`--out runs/2026/03/r` where `runs/` did not exist: a run interrupted or failed left
    `runs/2026/03/` behind, empty; a folder that was there, or holds a file now, stays."""
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "2026" / "03" / "r"
    with pytest.raises(Terminated), run_folder(out, writes=["a"]) as work:
        _fill(work, a="part")
        raise Terminated(signal.SIGTERM)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["runs"]
    with pytest.raises(OSError, match="disk full"), run_folder(out) as work:
        (tmp_path / "runs" / "2026" / "notes.txt").write_text("mine")  # (put there meanwhile)
        raise OSError("disk full")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "runs",
        "runs/2026",
        "runs/2026/notes.txt",
    ]
    with run_folder(out) as work:  # a run that ends keeps them
        _fill(work, a="new")
    assert _tree(out)["a"] == "new"


def test_a_folder_another_process_made_as_the_run_made_its_own_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out runs/2026/03/r`, `runs/2026/` missing when the run looked: another process (a run into
    `runs/2026/02/`, the user) made it before this run did.  The run, failing, removed it as one it
    had made; only those it made itself go."""
    (tmp_path / "runs").mkdir()
    theirs = tmp_path / "runs" / "2026"
    out = theirs / "03" / "r"
    real_mkdir = os.mkdir

    def mkdir(path: str | os.PathLike[str], mode: int = 0o777, **kwargs: int) -> None:
        if os.fspath(path) == str(theirs) and not os.path.lexists(theirs):
            real_mkdir(theirs)  # (the other process, first)
        real_mkdir(path, mode, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(OSError, match="disk full"), run_folder(out):
        raise OSError("disk full")
    monkeypatch.undo()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["runs", "runs/2026"]


def test_a_run_folder_kept_private_is_private_while_the_run_writes(tmp_path: Path) -> None:
    """A run folder kept `chmod 700`: its next run wrote into a temporary folder the umask made
    open to every user (0755), given the old folder's permissions only at the swap; any user could
    read (or open, and keep open) the run's files all the while it wrote them."""
    out = tmp_path / "r"
    with run_folder(out) as work:
        _fill(work, a="old")
    out.chmod(0o700)
    mask = os.umask(0o022)
    try:
        with run_folder(out) as work:
            assert work.stat().st_mode & 0o777 == 0o700
            _fill(work, a="new")
    finally:
        os.umask(mask)
    assert _tree(out)["a"] == "new" and out.stat().st_mode & 0o777 == 0o700


def test_a_folder_removed_by_the_run_that_made_it_as_this_one_locks_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runs/2026/` made by a run into `runs/2026/02/r` that then failed: it removed it, empty, just
    as this run into `runs/2026/r`, finding it there, went to put its lock file in it; this run
    failed, "No such file or directory".  The folder is made again."""
    theirs = tmp_path / "runs" / "2026"
    theirs.mkdir(parents=True)
    out = theirs / "r"
    real_lock = m2msim.rundir.output_lock
    removed: list[Path] = []

    def output_lock(path: Path, **kwargs: bool) -> contextlib.AbstractContextManager[None]:
        if not removed:
            os.rmdir(theirs)  # (the other run, failing)
            removed.append(theirs)
        return real_lock(path, **kwargs)

    monkeypatch.setattr(m2msim.rundir, "output_lock", output_lock)
    with run_folder(out) as work:
        _fill(work, a="new")
    assert removed and _tree(out)["a"] == "new"
