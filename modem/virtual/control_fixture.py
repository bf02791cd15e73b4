"""A pytest fixture: a running `m2msim modem serve` and its console, for firmware and client tests.

    pytest_plugins = ["modem.virtual.control_fixture"]

    def test_sms_reaches_my_client(serve_console):
        served = serve_console("--profile", "simcom-sim800", "--count", "2")
        my_client = open_my_client(served.paths[0])
        served.console.sms(0, "+33600000001", "hello")
        served.console.wait(0, "registered", timeout=10)

`serve_console(*options)` starts the serve (with `--control-file` in the test's tmp_path), waits for
its console line, and gives a `ServedConsole`: the device paths, a connected `ConsoleClient`, and
`stop()` (SIGTERM, then the exit status).  Every serve still running at the end of the test is stopped.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modem.virtual.control_client import ConsoleClient

START_TIMEOUT_S = 30.0


class ServedConsole:
    """One `m2msim modem serve` process and a client of its console."""

    def __init__(self, options: tuple[str, ...], folder: Path) -> None:
        self.address_file = folder / "control.json"
        args = [sys.executable, "-m", "m2msim", "modem", "serve", *options]
        if "--control-file" not in options:
            args += ["--control-file", str(self.address_file)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.paths: list[str] = []
        self.stderr: list[str] = []
        try:
            self._read_start()
            self.console = ConsoleClient(str(self.address_file))
        except BaseException:
            self.process.kill()
            self.process.wait(10)
            self._close_streams()
            raise
        # the rest of its standard error is read as it comes (a full pipe would stall the serve)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr.append(raw.decode(errors="replace").rstrip("\n"))

    def _close_streams(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def _read_start(self) -> None:
        """The device paths (stdout) until the console's line (stderr); the process's own pace, no sleeps."""
        assert self.process.stdout is not None and self.process.stderr is not None
        out_fd, err_fd = self.process.stdout.fileno(), self.process.stderr.fileno()
        text = {out_fd: b"", err_fd: b""}
        sel = selectors.DefaultSelector()
        sel.register(out_fd, selectors.EVENT_READ)
        sel.register(err_fd, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while b" console " not in text[err_fd] or not text[err_fd].endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(
                        f"modem serve did not start in {START_TIMEOUT_S:g} s: {text[err_fd]!r}"
                    )
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        self.process.wait(10)
                        raise RuntimeError(
                            f"modem serve exited {self.process.returncode}: {text[err_fd].decode(errors='replace')}"
                        )
                    text[key.fd] += chunk
        finally:
            sel.close()
        self.paths = [p for p in text[out_fd].decode().splitlines() if p]
        self.stderr = text[err_fd].decode(errors="replace").splitlines()

    def stop(self) -> int:
        """SIGTERM; the serve's exit status (143 when it stopped as it should)."""
        self.console.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._drain.join(10)
        self._close_streams()
        return code


@pytest.fixture
def serve_console(tmp_path: Path) -> Iterator[Callable[..., ServedConsole]]:
    """A factory: `serve_console(*serve_options)` starts one serve with its console (see the module)."""
    started: list[ServedConsole] = []

    def start(*options: str) -> ServedConsole:
        folder = tmp_path / f"serve{len(started)}"
        folder.mkdir()
        served = ServedConsole(tuple(options), folder)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.stop()
