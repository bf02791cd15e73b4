"""Many virtual modems from one `m2msim modem serve`: the open-file limit is raised, every modem answers."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from modem.virtual.serving import FdLimitError, fds_needed, raise_fd_limit

ROOT = Path(__file__).resolve().parents[2]


def limited(soft: int, hard: int | None = None) -> Callable[[], None]:
    """A preexec_fn: the child starts with RLIMIT_NOFILE `soft` (and `hard`, default unchanged)."""

    def apply() -> None:
        _, old_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old_hard if hard is None else hard))

    return apply


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)


def serve(procs: list[subprocess.Popen[str]], soft: int, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        preexec_fn=limited(soft),
    )
    procs.append(proc)
    return proc


def exchange(send: Callable[[bytes], object], recv: Callable[[], bytes], line: bytes) -> bytes:
    send(line + b"\r")
    got = b""
    while not got.endswith((b"OK\r\n", b"ERROR\r\n")):
        chunk = recv()
        assert chunk, f"no answer to {line!r}, got {got!r}"
        got += chunk
    return got


def _hard_limit_allows(need: int) -> bool:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard == resource.RLIM_INFINITY or hard >= need


@pytest.mark.skipif(not _hard_limit_allows(fds_needed(300, tcp=True)), reason="hard RLIMIT_NOFILE too low")
def test_300_modems_on_tcp_all_answer_past_a_low_soft_limit(procs: list[subprocess.Popen[str]]) -> None:
    count = 300  # 3 x 300 + 64 descriptors, started under a soft limit of 256
    proc = serve(procs, 256, "--profile", "quectel-bg96", "--count", str(count), "--tcp", "0", "--no-network")
    assert proc.stdout is not None
    urls = [proc.stdout.readline().strip() for _ in range(count)]
    assert all(u.startswith("socket://127.0.0.1:") for u in urls) and len(set(urls)) == count
    imeis = set()
    for url in urls:
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock:
            exchange(sock.sendall, lambda: sock.recv(4096), b"ATE0")
            got = exchange(sock.sendall, lambda: sock.recv(4096), b"AT+CGSN")
            imeis.add(got.split()[0])
            assert exchange(sock.sendall, lambda: sock.recv(4096), b"AT+CSQ").startswith(b"\r\n+CSQ: ")
    assert len(imeis) == count
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert proc.returncode == 143


@pytest.mark.skipif(not _hard_limit_allows(fds_needed(100, tcp=False)), reason="hard RLIMIT_NOFILE too low")
def test_100_modems_on_ptys_all_answer_past_a_low_soft_limit(procs: list[subprocess.Popen[str]]) -> None:
    count = 100
    proc = serve(procs, 128, "--profile", "simcom-sim800", "--count", str(count), "--no-network")
    assert proc.stdout is not None
    paths = [proc.stdout.readline().strip() for _ in range(count)]
    assert all(p.startswith("/dev/pts/") for p in paths) and len(set(paths)) == count
    for path in paths:
        with serial.Serial(path, 115200, timeout=10) as port:
            exchange(port.write, lambda: port.read(1), b"ATE0")
            assert exchange(port.write, lambda: port.read(1), b"AT+CREG?") == b"\r\n+CREG: 0,2\r\n\r\nOK\r\n"
    proc.send_signal(signal.SIGINT)
    proc.wait(10)
    assert proc.returncode == 130


def test_a_count_past_the_hard_limit_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--count", "1000", "--tcp", "0", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        preexec_fn=limited(256, 512),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "m2msim modem serve: --count 1000: needs 3064 open files, the limit is 256 (hard limit 512): "
        "raise it (ulimit -n 3064 as root) or serve fewer modems\n"
    )


def test_raise_fd_limit_leaves_a_sufficient_limit_alone() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_fd_limit(10) == soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft


def test_raise_fd_limit_refuses_past_the_hard_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard RLIMIT_NOFILE to go past")
    with pytest.raises(FdLimitError, match=f"needs {hard + 1} open files"):
        raise_fd_limit(hard + 1)
