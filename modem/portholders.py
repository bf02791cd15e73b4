"""Who else has a serial port open: a port shared with another program is not a bench's to use.

Two programs on one modem get each other's answers: ModemManager probing a new USB modem (`AT`,
`AT+GCAP`, `ATI`, `AT+CGMI`...), gpsd, a `screen` or `minicom` left open, a second bench.  Its
`OK` is taken for the bench's, its `+CREG:` read believed by the command guard, and it can send
what the bench's allow-list would refuse.  So before a serial port is opened (and again once it
is locked, as ModemManager may open it in between) the processes holding it are found:

- every `/proc/PID/fd/N` link naming the device (a `/dev/serial/by-id/...` name is resolved to its
  tty first), but for this process and, on a pseudo-terminal, the process holding its master
  side (`/dev/ptmx` whose `fdinfo` gives its `tty-index`): that is the pty's server, the modem;
- a UUCP lock file (`/run/lock/LCK..ttyUSB2`, the HDB form minicom writes: its pid in ASCII, or
  4 binary bytes) whose process is alive (`take_lock` writes this process's own, on a device
  that is not a pty);
- a process whose open files may not be read (ModemManager and gpsd run as root, the bench
  usually not) is named when it is one of `PORT_PROBERS`, as what may hold a port found busy.

`port_busy(device)` gives the one-line refusal naming them and the remedy (`PortBusy`).
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from m2msim.outputs import pid_alive
from modem.at.errors import PortBusy

log = logging.getLogger(__name__)

PROC = Path("/proc")
LOCK_DIRS: tuple[Path, ...] = (Path("/run/lock"), Path("/var/lock"))
# daemons that open serial ports on their own: named when their open files cannot be read
PORT_PROBERS: frozenset[str] = frozenset({"ModemManager", "gpsd", "brltty"})
_INTERPRETERS = ("python", "perl", "ruby", "node", "sh", "bash")
_PTS = "/dev/pts/"


@dataclass(frozen=True)
class Holder:
    """A process that has the port open (`how`: `open` or its lock file's path)."""

    pid: int
    name: str
    how: str = "open"

    def __str__(self) -> str:
        lock = f", by its lock file {self.how}" if self.how != "open" else ""
        return f"{self.name} (pid {self.pid}{lock})"


def tty_of(device: str) -> str:
    """The device a path names, symlinks (`/dev/serial/by-id/...`) resolved."""
    return os.path.realpath(device)


def process_name(pid: int, proc: Path = PROC) -> str:
    """`ModemManager`, `minicom`; an interpreter with what it runs (`python3 -m m2msim`)."""
    try:
        name = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"
    if name.startswith(_INTERPRETERS):
        try:
            args = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return name
        words = [name]
        for arg in (a.decode("utf-8", "replace") for a in args[1:] if a):
            if arg == "-c":  # its code says nothing short
                words.append(arg)
                break
            words.append(os.path.basename(arg) if "/" in arg else arg)
            if not arg.startswith("-") or len(words) > 3:
                break
        shown = " ".join(words)
        return shown if len(shown) <= 60 else shown[:57] + "..."
    return name


def _pty_servers(index: int, proc: Path, pids: list[int]) -> set[int]:
    """The processes holding the master side of `/dev/pts/<index>`."""
    servers: set[int] = set()
    for pid in pids:
        fds = proc / str(pid) / "fd"
        try:
            entries = list(fds.iterdir())
        except OSError:
            continue
        for fd in entries:
            try:
                if os.readlink(fd) != "/dev/ptmx":
                    continue
                info = (proc / str(pid) / "fdinfo" / fd.name).read_text()
            except OSError:
                continue
            for line in info.splitlines():
                if line.startswith("tty-index:") and line.split(":", 1)[1].strip() == str(index):
                    servers.add(pid)
    return servers


def _fds(proc: Path, pid: int) -> list[Path]:
    """A process's open files (`/proc/PID/fd/*`); PermissionError for another user's, but as root."""
    return list((proc / str(pid) / "fd").iterdir())


def holders(device: str, *, proc: Path = PROC, me: int | None = None) -> tuple[list[Holder], list[Holder]]:
    """(the processes holding `device` open, the `PORT_PROBERS` running whose open files could not
    be read).  This process, and a pty's server, are left out."""
    tty = tty_of(device)
    try:
        rdev = os.stat(tty).st_rdev
    except OSError:
        rdev = None
    me = os.getpid() if me is None else me
    try:
        pids = sorted(int(p.name) for p in proc.iterdir() if p.name.isdigit())
    except OSError:
        return [], []
    found: list[Holder] = []
    hidden: list[Holder] = []
    for pid in pids:
        if pid == me:
            continue
        try:
            entries = _fds(proc, pid)
        except PermissionError:
            name = process_name(pid, proc)
            if name in PORT_PROBERS:
                hidden.append(Holder(pid, name))
            continue
        except OSError:  # gone meanwhile
            continue
        for fd in entries:
            try:
                target = os.readlink(fd)
                same = target == tty or (
                    rdev is not None
                    and target.startswith("/dev/")
                    and target != "/dev/ptmx"
                    and os.stat(fd).st_rdev == rdev
                )
            except OSError:
                continue
            if same:
                found.append(Holder(pid, process_name(pid, proc)))
                break
    if found and tty.startswith(_PTS) and tty[len(_PTS) :].isdigit():
        servers = _pty_servers(int(tty[len(_PTS) :]), proc, [h.pid for h in found])
        found = [h for h in found if h.pid not in servers]
    return found, hidden


def lock_holder(device: str, *, dirs: tuple[Path, ...] | None = None, proc: Path = PROC) -> Holder | None:
    """The live process of a UUCP lock file on the device (`/run/lock/LCK..ttyUSB2`), if any; a
    lock whose process is gone is stale and ignored, this process's own too."""
    name = f"LCK..{os.path.basename(tty_of(device))}"
    for folder in dirs or LOCK_DIRS:
        path = folder / name
        try:
            data = path.read_bytes()[:64]
        except OSError:
            continue
        text = data.decode("ascii", "replace").strip()
        if text.isdigit():
            pid = int(text)
        elif len(data) == 4:  # the old binary form: a C int
            pid = int.from_bytes(data, "little")
        else:
            log.info("%s: not a lock file m2msim can read (%r): ignored", path, data[:16])
            continue
        if pid <= 0 or pid == os.getpid():
            continue
        if not pid_alive(pid):
            log.info("%s: stale lock of pid %d (no such process): ignored", path, pid)
            continue
        return Holder(pid, process_name(pid, proc), str(path))
    return None


def take_lock(device: str, *, dirs: tuple[Path, ...] | None = None) -> Path | None:
    """Write this process's UUCP lock file on the device (HDB form: its pid in ASCII, 10 wide),
    for minicom and the tools that look there: made under a temporary name, then linked, so that
    it is never half written nor put over one that is there.  None when none could be written (a
    lock folder this user cannot write, a lock already there: `lock_holder` has said whose)."""
    name = f"LCK..{os.path.basename(tty_of(device))}"
    for folder in dict.fromkeys(Path(os.path.realpath(d)) for d in dirs or LOCK_DIRS):
        temp = folder / f"LTMP.{os.getpid()}"
        try:
            temp.write_text(f"{os.getpid():10d}\n")
            try:
                os.link(temp, folder / name)
            finally:
                temp.unlink()
        except FileExistsError:
            return None
        except OSError as exc:
            log.debug("%s: no lock file written: %s", folder / name, exc.strerror or exc)
            continue
        return folder / name
    return None


def drop_lock(path: Path) -> None:
    """Remove a lock file `take_lock` wrote, when it still holds this process's pid (never one
    another program wrote)."""
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError as exc:
        log.debug("%s: lock file not removed: %s", path, exc.strerror or exc)


def remedy(names: list[str]) -> str:
    """What to do about the programs holding the port."""
    tips: list[str] = []
    if any(n == "ModemManager" for n in names):
        tips.append(
            "stop ModemManager (`systemctl stop ModemManager`) or have it leave the device alone "
            '(a udev rule with ENV{ID_MM_DEVICE_IGNORE}="1" for it, then `udevadm control --reload` '
            "and `udevadm trigger`)"
        )
    if any(n == "gpsd" for n in names):
        tips.append("stop gpsd (`systemctl stop gpsd gpsd.socket`) or take the port out of its devices")
    if any(n not in ("ModemManager", "gpsd") for n in names):
        tips.append("close the other program (a terminal such as screen, minicom or picocom, a second bench)")
    return "; ".join(tips)


def port_busy(device: str, url: str, cause: str | None = None, *, proc: Path = PROC) -> PortBusy:
    """The refusal of a port held by other programs: one line naming the port, who holds it (as
    far as can be seen) and what to do, and how to share it knowingly (`exclusive=0`)."""
    tty = tty_of(device)
    shown = device if tty == device else f"{device} ({tty})"
    found, hidden = holders(device, proc=proc)
    lock = lock_holder(device, proc=proc)
    if lock is not None and all(h.pid != lock.pid for h in found):
        found.append(lock)
    if found:
        who = f"{tty} is open by {', '.join(map(str, found))}"
    elif hidden:
        who = (
            f"{tty} is busy{f' ({cause})' if cause else ''}; running, and opening serial modems: "
            f"{', '.join(map(str, hidden))} (its open files cannot be read by this user)"
        )
    elif cause is not None and "temporarily unavailable" in cause:
        who = (
            f"{tty} is locked by another open of it (a second bench, or two modems of one run "
            "on the same port)"
        )
    else:
        who = f"{tty} is busy ({cause or 'another program has it'}); no process holding it could be seen"
    names = [h.name for h in found or hidden] or ["?"]
    if cause is not None and "busy" in cause.lower():  # TIOCEXCL: no open of another program goes
        share = "It cannot be shared: the program holding it keeps others out (TIOCEXCL)"
    else:
        share = f"To share it knowingly: {shown}?exclusive=0"
    return PortBusy(
        f"{url}: port in use: {who}; two programs on one modem get each other's answers. "
        f"To free it: {remedy(names)}. {share}"
    )


def is_busy_error(exc: BaseException) -> bool:
    """An open or lock failure that says another program has the port (EBUSY: TIOCEXCL; EAGAIN
    from the flock of another open)."""
    code = getattr(exc, "errno", None)
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
        return True
    text = str(exc)
    return "Errno 16]" in text or "Could not exclusively lock" in text
