"""A serial port another program has open is refused, naming it (`modem.portholders`): real ptys,
and a second process that opens the slave side, started here and waited on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ptys import held_open

from modem import portholders, transports
from modem.at.errors import PortBusy
from modem.transports import open_transport


@pytest.fixture
def pty() -> Iterator[str]:
    """A pty whose master this process holds (as a modem's server does): its slave's path."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    try:
        yield path
    finally:
        os.close(master)


async def test_a_pty_only_its_server_holds_opens(pty: str) -> None:
    transport = await open_transport(pty)
    await transport.close()
    assert portholders.holders(pty) == ([], [])


async def test_a_port_another_process_holds_is_refused_naming_it(pty: str) -> None:
    with held_open(pty) as other, pytest.raises(PortBusy) as refused:
        await open_transport(pty)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{pty}: port in use: {pty} is open by python")
    assert f"(pid {other.pid})" in message
    assert "close the other program" in message
    assert f"To share it knowingly: {pty}?exclusive=0" in message


async def test_a_by_id_name_is_resolved_to_its_tty(pty: str, tmp_path: Path) -> None:
    by_id = tmp_path / "usb-Quectel_EG25-if02-port0"
    by_id.symlink_to(pty)
    with held_open(pty) as other, pytest.raises(PortBusy) as refused:
        await open_transport(str(by_id))
    assert str(refused.value).startswith(f"{by_id}: port in use: {pty} is open by python")
    assert f"(pid {other.pid})" in str(refused.value)
    assert f"{by_id} ({pty})?exclusive=0" in str(refused.value)


async def test_a_second_open_of_a_port_in_use_is_refused(pty: str) -> None:
    first = await open_transport(pty)
    try:
        with pytest.raises(PortBusy, match=r"is locked by another open of it \(a second bench"):
            await open_transport(pty)
    finally:
        await first.close()
    second = await open_transport(pty)  # the lock went with the first
    await second.close()


async def test_exclusive_0_shares_the_port_knowingly(pty: str, caplog: pytest.LogCaptureFixture) -> None:
    with held_open(pty) as other, caplog.at_level(logging.WARNING, "modem.transports"):
        transport = await open_transport(f"{pty}?exclusive=0")
        await transport.close()
    assert "shared (exclusive=0) with python" in caplog.text
    assert f"(pid {other.pid})" in caplog.text


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to open as another user",
)
async def test_tiocexcl_keeps_other_users_out_until_close(
    pty: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # as on a /dev/ttyUSB*: ptys go without it (NO_TIOCEXCL), here taken away to see it work
    monkeypatch.setattr(transports, "NO_TIOCEXCL", ())
    monkeypatch.setattr(portholders, "LOCK_DIRS", (tmp_path,))
    os.chmod(pty, 0o666)
    try_open = [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
        "import os, sys; os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)", pty,
    ]  # fmt: skip
    transport = await open_transport(pty)
    refused = subprocess.run(try_open, capture_output=True, text=True)
    lock = tmp_path / f"LCK..{os.path.basename(pty)}"
    assert lock.read_text() == f"{os.getpid():10d}\n"  # for minicom and the tools that look there
    await transport.close()
    assert not lock.exists()
    assert refused.returncode == 1 and "Device or resource busy" in refused.stderr
    assert subprocess.run(try_open, capture_output=True, text=True).returncode == 0  # lifted


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to open as another user",
)
def test_a_port_kept_by_tiocexcl_is_refused_as_busy(pty: str) -> None:
    # a user's bench on a port root's daemon holds with TIOCEXCL (ModemManager does), its files
    # out of the user's sight: EBUSY at open, one line
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if subprocess.run(
        [*as_nobody, "import modem.transports"], capture_output=True, cwd="/", env=env
    ).returncode:
        pytest.skip("another user (uid 65534) cannot read this checkout (a clone in a 0700 folder)")
    os.chmod(pty, 0o666)
    with held_open(pty) as other:
        excl = subprocess.run([sys.executable, "-c", _EXCL, str(other.pid), pty], check=False)
        assert excl.returncode == 0
        bench = subprocess.run([*as_nobody, _OPEN, pty], capture_output=True, text=True, cwd="/", env=env)
    assert bench.returncode == 2, bench.stderr
    assert bench.stderr.strip() == (
        f"{pty}: port in use: {pty} is busy (Device or resource busy); no process holding it could be "
        "seen; two programs on one modem get each other's answers. To free it: close the other program "
        "(a terminal such as screen, minicom or picocom, a second bench). It cannot be shared: the "
        "program holding it keeps others out (TIOCEXCL)"
    )


# TIOCEXCL on the tty another process holds (its fd reopened through /proc), as that process would
_EXCL = (
    "import fcntl, os, sys, termios; pid = sys.argv[1]; "
    "fd = next(os.open(f'/proc/{pid}/fd/{n}', os.O_RDWR | os.O_NOCTTY) for n in os.listdir(f'/proc/{pid}/fd') "
    "if os.readlink(f'/proc/{pid}/fd/{n}') == sys.argv[2]); fcntl.ioctl(fd, termios.TIOCEXCL)"
)
_OPEN = (
    "import asyncio, sys\nfrom modem.at.errors import PortBusy\nfrom modem.transports import open_transport\n"
    "try:\n    asyncio.run(open_transport(sys.argv[1]))\n"
    "except PortBusy as exc:\n    print(exc, file=sys.stderr)\n    sys.exit(2)"
)


def test_the_pty_server_is_not_a_holder(pty: str) -> None:
    # a server holding both sides (the master, and the slave against EIO) is the modem itself
    code = "import os, sys; m, s = os.openpty(); print(os.ttyname(s), flush=True); sys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        served = proc.stdout.readline().strip()
        assert portholders.holders(served) == ([], [])
        with held_open(served) as other:
            found, _ = portholders.holders(served)
            assert [h.pid for h in found] == [other.pid]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_a_uucp_lock_of_a_live_process_names_it(pty: str, tmp_path: Path) -> None:
    lock = tmp_path / f"LCK..{os.path.basename(pty)}"
    with held_open("/dev/null") as other:
        lock.write_text(f"{other.pid:10d}\n")  # the HDB form minicom writes
        holder = portholders.lock_holder(pty, dirs=(tmp_path,))
        assert holder is not None and holder.pid == other.pid
        assert str(holder) == f"{holder.name} (pid {other.pid}, by its lock file {lock})"
    assert portholders.lock_holder(pty, dirs=(tmp_path,)) is None  # its process gone: stale


def test_a_lock_file_holding_a_number_no_process_can_have_names_the_file(tmp_path: Path) -> None:
    # a pid past what kill(2) takes raised OverflowError (a traceback); it is named with its file
    lock = tmp_path / "LCK..ttyUSB2"
    lock.write_text("99999999999999999999\n")
    holder = portholders.lock_holder("/dev/ttyUSB2", dirs=(tmp_path,))
    assert holder is not None and holder.pid == 99999999999999999999
    assert str(lock) in str(holder)


def test_a_lock_file_is_written_once_and_only_ours_removed(tmp_path: Path) -> None:
    lock = portholders.take_lock("/dev/ttyUSB2", dirs=(tmp_path,))
    assert lock == tmp_path / "LCK..ttyUSB2" and lock.read_text() == f"{os.getpid():10d}\n"
    assert portholders.lock_holder("/dev/ttyUSB2", dirs=(tmp_path,)) is None  # this process's
    assert portholders.take_lock("/dev/ttyUSB2", dirs=(tmp_path,)) is None  # not written over
    portholders.drop_lock(lock)
    assert list(tmp_path.iterdir()) == []
    theirs = tmp_path / "LCK..ttyUSB2"
    theirs.write_text("         1\n")  # another program's: left alone
    assert portholders.take_lock("/dev/ttyUSB2", dirs=(tmp_path,)) is None
    portholders.drop_lock(theirs)
    assert theirs.read_text() == "         1\n"
    assert portholders.take_lock("/dev/ttyUSB2", dirs=(tmp_path / "missing", tmp_path / "x")) is None


def test_daemons_whose_files_cannot_be_read_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as a user other than root ModemManager's /proc/PID/fd cannot be listed: a port it holds is
    # only busy (TIOCEXCL: EBUSY), and the daemon running is what can be named
    proc = tmp_path / "proc"
    for pid, name in ((812, "ModemManager"), (900, "bash")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(f"{name}\n")

    def fds(proc: Path, pid: int) -> list[Path]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(portholders, "_fds", fds)
    found, hidden = portholders.holders("/dev/null", proc=proc, me=1)
    assert found == [] and hidden == [portholders.Holder(812, "ModemManager")]
    message = str(portholders.port_busy("/dev/ttyUSB2", "/dev/ttyUSB2", "Device or resource busy", proc=proc))
    assert message.startswith(
        "/dev/ttyUSB2: port in use: /dev/ttyUSB2 is busy (Device or resource busy); running, and opening "
        "serial modems: ModemManager (pid 812)"
    )
    assert "stop ModemManager (`systemctl stop ModemManager`)" in message
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in message


@pytest.mark.skipif(shutil.which("ModemManager") is None, reason="ModemManager is not installed")
async def test_modemmanager_holding_a_port_shows_in_the_refusal() -> None:
    mm = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and portholders.process_name(int(p.name)) == "ModemManager"
    ]
    if not mm:
        pytest.skip("ModemManager is installed but not running")
    ports: list[str] = []
    for fd in (mm[0] / "fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith(("/dev/ttyUSB", "/dev/ttyACM")):
                ports.append(target)
    if not ports:
        pytest.skip("ModemManager holds no /dev/ttyUSB* or /dev/ttyACM* port: no modem on this machine")
    with pytest.raises(PortBusy) as refused:
        await asyncio.wait_for(open_transport(ports[0]), 30)
    assert f"{ports[0]} is open by ModemManager (pid {mm[0].name})" in str(refused.value)
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in str(refused.value)
