"""The console's endpoint: a Unix socket (default) or a loopback TCP port guarded by a random token.

    server = ControlServer(console, kind="unix")          # or kind="tcp"
    await server.start()
    server.address                                        # "unix:/tmp/m2msim-serve-ab12/control.sock"
    server.write_address_file(path)                       # JSON: address, token, pid, modem paths

On TCP the first request line must be `auth TOKEN` (the token is in the address file, mode 0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from m2msim.outputs import atomic_write_text, private_folder
from modem.virtual.control import MAX_LINE, Console, answer

log = logging.getLogger(__name__)

ADDRESS_TAG = "console-address"


_SUN_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path, 108 with its NUL)


def _private_folder() -> Path:
    """A fresh folder (mode 0700) for the console's socket and address file,
    `m2msim-serve-HOST-PID-XXXXXXXX` in the temporary directory: one a serve killed by SIGKILL left
    (its socket and its address file with the token) is removed by the next serve of this host and
    user, as DuckDB's spill folders are (`m2msim.outputs.private_folder`); they stayed in /tmp for
    good.  A Unix socket's path holds 107 bytes at most: where the temporary directory's path is
    too long for it (a deep TMPDIR, as test runners and CI jobs set), the folder goes to /tmp, and
    an OSError names the directory and the ways out when neither fits."""
    tmpdir = tempfile.gettempdir()
    for parent in dict.fromkeys([tmpdir, "/tmp"]):
        if not os.path.isdir(parent):
            continue
        for named in (True, False):  # the short name (never cleaned up by a later serve): a long host name
            folder = (
                private_folder("m2msim-serve", parent) if named else Path(mkdtemp("m2msim-serve-", parent))
            )
            if len(os.fsencode(folder / "control.sock")) <= _SUN_PATH_MAX:
                if parent != tmpdir:
                    log.info("console socket in %s: the temporary directory's path is too long", parent)
                return folder
            folder.rmdir()
    needed = len(os.fsencode(Path(tmpdir) / "m2msim-serve-HOST-PID-XXXXXXXX" / "control.sock"))
    raise OSError(
        f"the console's Unix socket would be {needed} bytes of path in {tmpdir} "
        f"(a Unix socket's path holds {_SUN_PATH_MAX}): set TMPDIR to a shorter folder, or use "
        "--control tcp"
    )


class ControlServer:
    """Serves a `Console` to clients, one request line at a time per connection."""

    def __init__(self, console: Console, kind: str = "unix") -> None:
        if kind not in ("unix", "tcp"):
            raise ValueError(f"control endpoint kind {kind!r}: unix or tcp")
        self.console = console
        self.kind = kind
        self.token: str | None = secrets.token_hex(16) if kind == "tcp" else None
        self.folder: Path | None = None  # the private folder of the Unix socket (ours, removed at close)
        self.address = ""
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._address_file: Path | None = None

    async def start(self) -> None:
        if self.kind == "unix":
            self.folder = _private_folder()
            sock = self.folder / "control.sock"
            self._server = await asyncio.start_unix_server(self._client, path=str(sock), limit=MAX_LINE)
            os.chmod(sock, 0o600)
            self.address = f"unix:{sock}"
        else:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=MAX_LINE)
            port = self._server.sockets[0].getsockname()[1]
            self.address = f"tcp://127.0.0.1:{port}"

    def default_address_file(self) -> Path:
        """Where the address goes when no file is named: the socket's folder, or a fresh private one."""
        if self.folder is None:
            self.folder = _private_folder()
        return self.folder / "control.json"

    def write_address_file(self, path: Path, paths: list[str]) -> None:
        """The address (and token) as JSON, written atomically, readable by its owner only."""
        doc: dict[str, Any] = {
            "m2msim": ADDRESS_TAG,
            "address": self.address,
            "token": self.token,
            "pid": os.getpid(),
            "modems": paths,
        }
        old = os.umask(0o077)
        try:
            atomic_write_text(path, json.dumps(doc) + "\n")  # one line: its first line says what it is
        finally:
            os.umask(old)
        self._address_file = path

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            authorised = self.token is None
            while True:
                try:
                    raw = await reader.readline()
                except ValueError:  # a line longer than the limit
                    await self._send(writer, {"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
                    break
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                if not authorised:
                    word, _, token = line.partition(" ")
                    assert self.token is not None
                    if word != "auth" or not hmac.compare_digest(token.strip(), self.token):
                        await self._send(
                            writer, {"ok": False, "error": "auth TOKEN first (the address file has it)"}
                        )
                        break
                    authorised = True
                    await self._send(writer, {"ok": True, "result": "authorised"})
                    continue
                await self._send(writer, await answer(self.console, line))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        writer.write((json.dumps(reply) + "\n").encode())
        await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._address_file is not None:
            with contextlib.suppress(OSError):
                self._address_file.unlink()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
