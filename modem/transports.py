"""Open a `Transport` from a URL, as pyserial's `serial_for_url` does for serial ports.

    /dev/ttyUSB2?baudrate=115200&rtscts=1    a serial device (pyserial-asyncio-fast)
    /dev/pts/7                               a pseudo-terminal (same code path)
    socket://127.0.0.1:7000                  a TCP socket (asyncio streams)
    virtual://quectel-bg96?seed=3            the in-process virtual modem (modem.virtual.open_virtual)
    spy://<any of the above>                 log every byte both ways (logger `modem.transports.spy`)

Flow control is off by default (most bench wiring is a 3-wire UART: TX, RX, GND); turn it on with
`rtscts=1` or `xonxoff=1` in the URL query or as keyword options.  `loop://` is refused: it has no
file descriptor, which asyncio serial transports need.  OS errors are mapped to `TransportError` here.

A serial device or pty is the client's alone (`exclusive=0` in the query shares it knowingly): one
another process holds is refused naming it (`modem.portholders`, `PortBusy`), before it is opened
and again once locked, and while open it is locked (pyserial's `exclusive` flock; on a device that
is not a pty TIOCEXCL and a UUCP lock file, `SerialTransport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import os
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from modem import portholders
from modem.at.errors import TransportError
from modem.transport import Transport

log = logging.getLogger(__name__)
spy_log = logging.getLogger(__name__ + ".spy")

_SERIAL_OPTIONS = {
    "baudrate": int,
    "rtscts": bool,
    "xonxoff": bool,
    "dsrdtr": bool,
    "bytesize": int,
    "parity": str,
    "stopbits": float,
    "exclusive": bool,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
READ_SIZE = 4096


def _coerce(name: str, value: object, url: str) -> object:
    kind = _SERIAL_OPTIONS[name]
    if kind is bool and isinstance(value, str):
        low = value.lower()
        if low not in _TRUE | _FALSE:
            raise TransportError(f"{url}: option {name}={value!r}: expected 1/0, true/false")
        return low in _TRUE
    try:
        out = kind(value)
    except (TypeError, ValueError) as exc:
        raise TransportError(f"{url}: option {name}={value!r}: {exc}") from None
    if name == "baudrate" and not 50 <= int(out) <= 4_000_000:
        raise TransportError(f"{url}: option baudrate={value!r}: expected 50..4000000")
    return out


def serial_options(url: str, query: Mapping[str, str], opts: Mapping[str, Any]) -> dict[str, Any]:
    """Serial settings from the URL query and keyword options; flow control off unless asked."""
    settings: dict[str, Any] = {"baudrate": 115200, "rtscts": False, "xonxoff": False, "dsrdtr": False}
    for source in (query, opts):
        for name, value in source.items():
            if name not in _SERIAL_OPTIONS:
                raise TransportError(
                    f"{url}: unknown option {name!r}; known: {', '.join(sorted(_SERIAL_OPTIONS))}"
                )
            settings[name] = _coerce(name, value, url)
    return settings


class StreamTransport:
    """A transport over an asyncio StreamReader / StreamWriter pair (socket or serial)."""

    def __init__(self, url: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.url = url
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(READ_SIZE)
        except OSError as exc:
            if exc.errno == errno.EIO:  # pty whose other side closed
                return b""
            raise TransportError(f"{self.url}: read failed: {exc.strerror or exc}") from exc

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise TransportError(f"{self.url}: write failed: {exc.strerror or exc}") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await self._writer.wait_closed()


class SpyTransport:
    """Wraps a transport and logs every byte both ways, like pyserial's `spy://`."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.url = f"spy://{inner.url}"

    async def read(self) -> bytes:
        data = await self.inner.read()
        spy_log.info("%s RX %s", self.inner.url, describe(data) if data else "<eof>")
        return data

    async def write(self, data: bytes) -> None:
        spy_log.info("%s TX %s", self.inner.url, describe(data))
        await self.inner.write(data)

    async def close(self) -> None:
        spy_log.info("%s closed", self.inner.url)
        await self.inner.close()


_PRINTABLE = set(string.printable.encode()) - set(b"\r\n\t\x0b\x0c")


def describe(data: bytes) -> str:
    """Printable text with control bytes escaped (`\\r`, `\\n`, `\\x1a`)."""
    out = []
    for b in data:
        if b in _PRINTABLE:
            out.append(chr(b))
        elif b == 13:
            out.append("\\r")
        elif b == 10:
            out.append("\\n")
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


async def open_transport(url: str, **opts: Any) -> Transport:
    """Open the transport a URL names; raises `TransportError` with the reason when it cannot."""
    if url.startswith("spy://"):
        return SpyTransport(await open_transport(url[len("spy://") :], **opts))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "loop":
        raise TransportError(
            f"{url}: loop:// has no file descriptor and cannot be used with asyncio serial transports; "
            "use virtual://generic for an in-process modem or a pty path"
        )
    if scheme == "virtual":
        return await _open_virtual(url, opts)
    if scheme == "socket":
        try:
            port = parts.port
        except ValueError:
            raise TransportError(f"{url}: the port must be a number 1..65535") from None
        return await _open_socket(url, parts.hostname, port, parts.query)
    if scheme in ("", "serial") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):  # COM paths too
        return await _open_serial(
            url, parts.path if scheme == "serial" else url.split("?", 1)[0], parts.query, opts
        )
    raise TransportError(
        f"{url}: unsupported URL scheme {scheme!r}; use a device path, socket://host:port, virtual://PROFILE or spy://"
    )


async def _open_socket(url: str, host: str | None, port: int | None, query: str) -> Transport:
    if not host or port is None or port == 0:
        raise TransportError(f"{url}: expected socket://host:port (port 1..65535)")
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise TransportError(
            f"{url}: cannot connect: {getattr(exc, 'strerror', None) or exc or 'timeout'}"
        ) from exc
    return StreamTransport(url, reader, writer)


async def _open_serial(url: str, path: str, query: str, opts: Mapping[str, Any]) -> Transport:
    import serial
    import serial_asyncio_fast

    settings = serial_options(url, dict(parse_qsl(query)), opts)
    exclusive = settings.setdefault("exclusive", True)
    _refuse_shared(url, path, exclusive)
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, **settings)
    except (OSError, serial.SerialException, ValueError) as exc:
        if exclusive and portholders.is_busy_error(exc):
            raise portholders.port_busy(path, url, _reason(exc)) from exc
        raise TransportError(f"{url}: cannot open serial device: {exc}") from exc
    transport = SerialTransport(url, reader, writer)
    transport.opened_bytesize = int(settings.get("bytesize", 8))  # (7: the modem reads 7 bits a byte)
    ser = writer.transport.get_extra_info("serial")
    try:
        if ser is not None and exclusive:
            transport.exclude_others(ser)
        # who opened it between the look and the lock (ModemManager probes a port as it appears)
        _refuse_shared(url, path, exclusive)
    except BaseException:
        await transport.close()
        raise
    if ser is not None and not settings["rtscts"] and not settings["dsrdtr"]:
        set_modem_lines(ser, dtr=True, rts=True)
    return transport


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    return os.strerror(code) if isinstance(code, int) else str(exc)


def _refuse_shared(url: str, path: str, exclusive: bool) -> None:
    """Refuse a port other processes hold (`modem.portholders`); with `exclusive=0`, warn."""
    found, _ = portholders.holders(path)
    lock = portholders.lock_holder(path)
    if not found and lock is None:
        return
    if exclusive:
        raise portholders.port_busy(path, url)
    names = ", ".join(map(str, [*found, *([lock] if lock else [])]))
    log.warning("%s: shared (exclusive=0) with %s: their answers may be taken for ours", url, names)


# devices left without TIOCEXCL and a UUCP lock file: a pty's TIOCEXCL outlives its slave's close
# while the server holds the master, and its lock would be named after a number (`LCK..3`)
NO_TIOCEXCL: tuple[str, ...] = ("/dev/pts/",)


class SerialTransport(StreamTransport):
    """A serial device or pty, locked against other opens while it is used: pyserial's
    `exclusive` flock, and on a device that is not a pty TIOCEXCL (a second open fails with EBUSY
    but for root) and a UUCP lock file (`/run/lock/LCK..ttyUSB2`, which minicom honours), both
    lifted again on close."""

    _excl_fd: int | None = None
    _lock_file: Path | None = None
    opened_bytesize = 8  # bits a character the port was opened with (its URL's `bytesize`)

    @property
    def bytesize(self) -> int:
        """Bits a character on the line (`modem.transport.seven_bit`): the fewer of those the port
        was opened with and those its device has now (a script may set `ser.bytesize = 7` once it
        is open, as after AT+ICF): a size read once at the open would hold 0xAB for data where the
        modem reads `+`."""
        port = self._writer.transport.get_extra_info("serial")
        now = getattr(port, "bytesize", None)
        return min(self.opened_bytesize, now) if isinstance(now, int) else self.opened_bytesize

    def exclude_others(self, ser: Any) -> None:
        fd = getattr(ser, "fd", None)  # none on Windows, whose COM ports are exclusive anyway
        port = str(getattr(ser, "port", "") or "")
        if not isinstance(fd, int) or os.path.realpath(port).startswith(NO_TIOCEXCL):
            return  # a bench that died would leave a served modem closed to every later one
        import fcntl
        import termios

        self._lock_file = portholders.take_lock(port)
        try:
            fcntl.ioctl(fd, termios.TIOCEXCL)
        except OSError as exc:
            log.debug("%s: TIOCEXCL not supported (%s)", self.url, exc.strerror)
            return
        self._excl_fd = fd

    async def close(self) -> None:
        if self._excl_fd is not None:
            import fcntl
            import termios

            with contextlib.suppress(OSError):
                fcntl.ioctl(self._excl_fd, termios.TIOCNXCL)
            self._excl_fd = None
        if self._lock_file is not None:
            portholders.drop_lock(self._lock_file)
            self._lock_file = None
        await super().close()


def set_modem_lines(ser: Any, *, dtr: bool, rts: bool) -> None:
    """Raise DTR/RTS where the device has them; a pty answers ENOTTY/EINVAL, which is fine."""
    for name, value in (("dtr", dtr), ("rts", rts)):
        try:
            setattr(ser, name, value)
        except OSError as exc:
            if exc.errno not in (errno.ENOTTY, errno.EINVAL):
                raise TransportError(f"{ser.port}: cannot set {name.upper()}: {exc.strerror}") from exc
            log.debug("%s: %s not supported (%s)", ser.port, name.upper(), exc.strerror)


async def _open_virtual(url: str, opts: Mapping[str, Any]) -> Transport:
    try:
        from modem import virtual
    except ImportError as exc:
        raise TransportError(f"{url}: the virtual modem is not available: {exc}") from exc
    opener = getattr(virtual, "open_virtual", None)
    if opener is None:
        raise TransportError(f"{url}: modem.virtual has no open_virtual(url)")
    result = opener(url, **opts) if opts else opener(url)
    if inspect.isawaitable(result):
        result = await result
    transport: Transport = result
    return transport
