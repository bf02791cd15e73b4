"""Processes of a command under test, read from /proc (the signal tests' proof that none is left, and
when a command has started handling signals)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def dead_pid() -> int:
    """The PID of a process that has ended (and been waited for)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def process_group(pgid: int) -> list[int]:
    """Live processes (not zombies) of process group `pgid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(int(entry))
    return found


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (SigCgt of /proc/PID/status); False once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def wait_for_handler(proc: subprocess.Popen[bytes], signum: int, timeout: float = 60.0) -> bool:
    """Wait until `proc` handles `signum` (its program has started) or has ended; True if it handles it.

    Nothing tells another process when a handler is installed: /proc is read again every
    millisecond, for at most `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if catches(proc.pid, signum):
            return True
        time.sleep(0.001)
    return False


class TcpDte:
    """A terminal on a served modem's TCP port: bytes read as they come, consumed up to each awaited
    token (the answer or URC the test waits for; the connection closing before it fails the test)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.got = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, token: bytes) -> bytes:
        """Everything up to and including `token`; what follows stays in `got`."""
        while token not in self.got:
            chunk = self.sock.recv(4096)
            assert chunk, self.got
            self.got += chunk
        end = self.got.index(token) + len(token)
        seen, self.got = self.got[:end], self.got[end:]
        return seen


@contextlib.contextmanager
def served_tcp(*options: str, timeout: float) -> Iterator[TcpDte]:
    """`m2msim modem serve --tcp 0 OPTIONS...` in a child process, a `TcpDte` on the port it prints.

    On leaving normally the serve gets SIGINT and must end with status 130 (its files written);
    whatever happens, it is not left running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--tcp", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=timeout) as sock:
            yield TcpDte(sock)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 130, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=timeout)


def _wait_ended(pids: list[int], timeout: float) -> None:
    """Wait until the processes `pids` (not our children: no SIGCHLD) have ended, through pidfds."""
    fds = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds.append(os.pidfd_open(pid))
    try:
        deadline = time.monotonic() + timeout
        pending = list(fds)
        while pending and (left := deadline - time.monotonic()) > 0:
            ended, _, _ = select.select(pending, [], [], left)
            pending = [fd for fd in pending if fd not in ended]
    finally:
        for fd in fds:
            os.close(fd)


def end_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop `proc`, started with `start_new_session=True`, and everything of its process group: SIGTERM,
    then SIGKILL for what is still there after `timeout` seconds; proven empty from /proc."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    _wait_ended(process_group(pgid), timeout)
    if process_group(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        _wait_ended(process_group(pgid), timeout)
    proc.wait(timeout)
    assert not process_group(pgid), f"processes of group {pgid} left: {process_group(pgid)}"


def run_group(args: list[str], timeout: float, **popen: Any) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(args, capture_output=True, text=True)` in a process group of its own, of which
    nothing is left when it returns or raises (a timeout fails the test with what it had printed)."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **popen
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end_group(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{args} did not end in {timeout:g} s: {out}{err}") from None
    finally:
        if proc.poll() is None or process_group(proc.pid):
            end_group(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
