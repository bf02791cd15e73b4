"""Transports by URL: socket://, a pty path (pyserial-asyncio-fast), spy://, and the refusals."""

from __future__ import annotations

import asyncio
import logging
import os
import tty
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from modem.at.client import ATClient, WatchdogPolicy
from modem.at.errors import TransportError
from modem.transport import seven_bit, time_scale
from modem.transports import SerialTransport, SpyTransport, describe, open_transport, serial_options


def answer(line: bytes) -> bytes:
    """A minimal modem: OK to everything, a signal report to AT+CSQ."""
    if line.upper() == b"AT+CSQ":
        return b"\r\n+CSQ: 19,0\r\n\r\nOK\r\n"
    return b"\r\nOK\r\n"


class LineModem:
    """Splits what the client writes into command lines and answers each (test side of a link)."""

    def __init__(self, respond: Callable[[bytes], bytes]) -> None:
        self.respond = respond
        self.buffer = b""
        self.lines: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = b""
        while b"\r" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r", 1)
            self.lines.append(line)
            out += self.respond(line)
        return out


@pytest.fixture
async def tcp_modem() -> AsyncIterator[tuple[str, LineModem]]:
    modem = LineModem(answer)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(modem.feed(data))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"socket://127.0.0.1:{port}", modem


async def test_socket_url(tcp_modem: tuple[str, LineModem]) -> None:
    url, modem = tcp_modem
    transport = await open_transport(url)
    async with ATClient(transport, watchdog=WatchdogPolicy(enabled=False)) as at:
        reply = await at.command("AT+CSQ")
    assert reply.fields("+CSQ") == ["19", "0"] and modem.lines == [b"AT+CSQ"]


async def test_spy_logs_both_directions(
    tcp_modem: tuple[str, LineModem], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = tcp_modem
    caplog.set_level(logging.INFO, logger="modem.transports.spy")
    transport = await open_transport("spy://" + url)
    assert transport.url == "spy://" + url
    async with ATClient(transport, watchdog=WatchdogPolicy(enabled=False)) as at:
        await at.command("AT")
    messages = [r.getMessage() for r in caplog.records]
    assert any("TX AT\\r" in m for m in messages)
    assert any("RX \\r\\nOK\\r\\n" in m for m in messages)


async def test_pty_path_with_serial_transport() -> None:
    # Field notes: keep the slave fd open (else EIO), tty.setraw it; DTR/RTS ioctls answer ENOTTY.
    master, slave = os.openpty()
    tty.setraw(slave)
    modem = LineModem(answer)
    loop = asyncio.get_running_loop()

    def on_readable() -> None:
        data = os.read(master, 4096)
        reply = modem.feed(data)
        if reply:
            os.write(master, reply)

    loop.add_reader(master, on_readable)
    try:
        transport = await open_transport(os.ttyname(slave) + "?baudrate=115200")
        async with ATClient(transport, watchdog=WatchdogPolicy(enabled=False)) as at:
            reply = await at.command("AT+CSQ")
            await at.command("ATE0")
        assert reply.lines == ("+CSQ: 19,0",) and modem.lines == [b"AT+CSQ", b"ATE0"]
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(("query", "seven"), [("?bytesize=7", True), ("", False), ("?bytesize=8", False)])
async def test_a_serial_port_tells_whether_its_line_carries_seven_bits(
    query: str, seven: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command guard reads data-mode bytes without their high bit on a 7-bit line (0xAB is `+`);
    # a pty refuses 7-bit characters (EINVAL): it is opened with 8, as the port asked for 7 would be
    import serial_asyncio_fast

    real = serial_asyncio_fast.open_serial_connection

    def opened(**settings: Any) -> Any:
        assert settings.pop("bytesize", 8) == (7 if seven else 8)
        return real(**settings)

    monkeypatch.setattr(serial_asyncio_fast, "open_serial_connection", opened)
    master, slave = os.openpty()
    try:
        transport = await open_transport(os.ttyname(slave) + query)
        try:
            assert seven_bit(transport) is seven
            assert seven_bit(SpyTransport(transport)) is seven
        finally:
            await transport.close()
    finally:
        os.close(master)
        os.close(slave)


async def test_a_serial_port_set_to_seven_bits_after_it_was_opened_tells_so() -> None:
    # a bench script may set the port's character size once it is open (`ser.bytesize = 7`, as
    # after AT+ICF): the modem then reads 7 bits a byte, 0xAB as `+`, whatever the URL said
    class Port:
        bytesize = 8

    port = Port()

    class Pipe:
        def get_extra_info(self, name: str) -> object:
            return port if name == "serial" else None

    class Writer:
        transport = Pipe()

    transport = SerialTransport("/dev/ttyUSB9", asyncio.StreamReader(), Writer())  # type: ignore[arg-type]
    assert seven_bit(transport) is False
    port.bytesize = 7
    assert seven_bit(transport) is True
    assert seven_bit(SpyTransport(transport)) is True


async def test_loop_url_is_refused_with_a_reason() -> None:
    with pytest.raises(TransportError, match="no file descriptor"):
        await open_transport("loop://")


async def test_unknown_scheme_and_missing_device() -> None:
    with pytest.raises(TransportError, match="unsupported URL scheme 'rfc2217'"):
        await open_transport("rfc2217://host:2217")
    with pytest.raises(TransportError, match="cannot open serial device"):
        await open_transport("/dev/does-not-exist-m2msim")
    with pytest.raises(TransportError, match="expected socket://host:port"):
        await open_transport("socket://nohostport")


def test_flow_control_off_by_default_and_configurable() -> None:
    assert serial_options("/dev/ttyS0", {}, {}) == {
        "baudrate": 115200,
        "rtscts": False,
        "xonxoff": False,
        "dsrdtr": False,
    }
    opts = serial_options(
        "/dev/ttyS0?rtscts=1&baudrate=9600", {"rtscts": "1", "baudrate": "9600"}, {"xonxoff": True}
    )
    assert opts["rtscts"] is True and opts["xonxoff"] is True and opts["baudrate"] == 9600
    with pytest.raises(TransportError, match="unknown option 'parity_bit'"):
        serial_options("/dev/ttyS0", {"parity_bit": "N"}, {})
    with pytest.raises(TransportError, match="rtscts='maybe'"):
        serial_options("/dev/ttyS0", {"rtscts": "maybe"}, {})


def test_describe_escapes_control_bytes() -> None:
    assert describe(b"AT\r\n> \x1a\xff") == "AT\\r\\n> \\x1a\\xff"


@pytest.mark.parametrize(
    ("url", "scale"),
    [("virtual://simcom-sim800?speed=4", 0.25), ("spy://virtual://simcom-sim800?speed=4", 0.25),
     ("virtual://simcom-sim800", 1.0)],
)  # fmt: skip
async def test_a_transport_tells_how_its_modem_keeps_time(url: str, scale: float) -> None:
    # what the driver's waits follow (`wait_registered`'s poll): the virtual modem's speed, under
    # spy:// too; a physical modem's time is the bench's
    transport = await open_transport(url)
    try:
        assert time_scale(transport) == scale
    finally:
        await transport.close()
    assert time_scale(object()) == 1.0
