"""The console's client: talk to a running `m2msim modem serve` from Python (or `m2msim modem ctl`).

    with ConsoleClient("/tmp/m2msim-serve-ab12/control.json") as ctl:   # the address file, or
        ctl.run("sms", "0", "+33600000001", "hello")                    # "unix:/path" / "tcp://127.0.0.1:N"
        ctl.wait(0, "registered", timeout=10)
        ctl.usage(0)[0]["usage_amount"]                                 # Decimal as text, e.g. "0.15"

A refused command raises `ConsoleError` with the serve's one line; a lost connection `ConsoleError` too.
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 60.0


class ConsoleError(RuntimeError):
    """A command the serve refused, or a console that cannot be reached (one line)."""


def resolve_address(address: str, token: str | None = None) -> tuple[str, str | None]:
    """`(address, token)` from an address file (JSON written by the serve) or an address as given."""
    if address.startswith(("unix:", "tcp://")):
        return address, token
    path = Path(address)
    if path.is_socket():
        return f"unix:{path}", token
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConsoleError(f"{address}: no such address file or socket") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConsoleError(f"{address}: not a console address file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("address"), str):
        raise ConsoleError(f"{address}: not a console address file (no address)")
    return doc["address"], token or doc.get("token")


class ConsoleClient:
    """A blocking connection to a serve's console; one request at a time."""

    def __init__(self, address: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.address, self.token = resolve_address(address, token)
        self.timeout = timeout
        try:
            if self.address.startswith("unix:"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(self.address[len("unix:") :])
            else:
                parts = urlsplit(self.address)
                if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
                    raise ConsoleError(
                        f"{self.address}: a console listens on loopback only (tcp://127.0.0.1:PORT)"
                    )
                sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        except OSError as exc:
            raise ConsoleError(f"{self.address}: cannot connect: {exc.strerror or exc}") from None
        self._sock = sock
        self._file = sock.makefile("rwb")
        if self.address.startswith("tcp://"):
            if not self.token:
                self.close()
                raise ConsoleError(
                    f"{self.address}: a TCP console needs its token (--token, or the address file)"
                )
            try:
                self._exchange(f"auth {self.token}")
            except ConsoleError:
                self.close()
                raise

    def __enter__(self) -> ConsoleClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for thing in (self._file, self._sock):
            with contextlib.suppress(OSError):
                thing.close()

    def _exchange(self, line: str, timeout: float | None = None) -> Any:
        self._sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            self._file.write(line.encode() + b"\n")
            self._file.flush()
            raw = self._file.readline()
        except OSError as exc:
            raise ConsoleError(f"{self.address}: {exc.strerror or exc}") from None
        if not raw:
            raise ConsoleError(f"{self.address}: the console closed the connection")
        reply = json.loads(raw)
        if not reply.get("ok"):
            raise ConsoleError(str(reply.get("error")))
        return reply.get("result")

    def run(self, *words: object, timeout: float | None = None) -> Any:
        """Run one command (its words); the result, or `ConsoleError`."""
        return self._exchange(json.dumps([str(w) for w in words]), timeout)

    # ----- the commands, spelled out ---------------------------------------------------------------

    def modems(self, target: object = "all") -> list[dict[str, Any]]:
        """`list`: the modems and their state."""
        result: list[dict[str, Any]] = self.run("list", target)
        return result

    def sms(
        self,
        target: object,
        sender: str,
        text: str = "",
        *,
        flash: bool = False,
        report: bool = False,
        pdu: str | None = None,
    ) -> Any:
        if pdu is not None:
            return self.run("sms", target, f"--pdu={pdu}")
        flags = [f for f, on in (("--flash", flash), ("--report", report)) if on]
        return self.run("sms", target, sender, text, *flags)

    def call(self, target: object, sender: str, data: bool = False) -> Any:
        return self.run("call", target, sender, *(["--data"] if data else []))

    def hangup(self, target: object) -> Any:
        return self.run("hangup", target)

    def coverage(self, target: object, where: str) -> Any:
        return self.run("coverage", target, where)

    def wait(self, target: object, state: str, timeout: float = 30.0) -> Any:
        return self.run("wait", target, state, f"{timeout:g}", timeout=timeout + self.timeout)

    def usage(self, target: object) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.run("usage", target)
        return result
