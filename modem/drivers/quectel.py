"""Quectel BG96 / EG25-family TCP stack (AT+QI*), from the Quectel BG96 TCP/IP AT Commands Manual
V1.0 (chapter 2, "Description of TCP/IP AT Commands", and chapter 4, "Summary of Error Codes").

    AT+QICSGP=<ctx>,1,"apn","user","pwd",<auth>   configure the context
    AT+QIACT=<ctx>  then AT+QIACT? -> +QIACT: <ctx>,1,1,"10.7.157.1"
    AT+QIOPEN=<ctx>,<id>,"TCP","host",port,0,0 -> OK, then +QIOPEN: <id>,<err>
    AT+QISEND=<id>,<n> -> "> " -> <n bytes> -> SEND OK
    +QIURC: "recv",<id>  then  AT+QIRD=<id>,1500 -> +QIRD: <n> / <n bytes> / OK
    AT+QICLOSE=<id> -> OK; remote close: +QIURC: "closed",<id>
    AT+QGDCNT? -> +QGDCNT: <bytes sent>,<bytes received>
"""

from __future__ import annotations

import asyncio
import logging

from modem.at import grammar
from modem.at.client import ATClient
from modem.at.command import Command
from modem.at.errors import CommandError
from modem.at.parser import PushedData, Urc
from modem.drivers.network import quote
from modem.drivers.profile import DriverProfile
from modem.drivers.tcp import DataCounters, TcpError, _Connection

log = logging.getLogger(__name__)

#: How the BG96 / EG25 push received data in access mode 1: `+QIURC: "recv",<id>,<n>`, a line end,
#: then the data (in mode 0, `+QIURC: "recv",<id>` only announces it, for AT+QIRD).
PUSHED_DATA = (PushedData("+QIURC", length_field=2, first_field="recv", field_count=3),)

# BG96 TCP/IP AT Commands Manual, "Summary of Error Codes" (<err> of +QIOPEN and friends).
QUECTEL_TCP_ERRORS: dict[int, str] = {
    0: "operation successful",
    550: "unknown error",
    551: "operation blocked",
    552: "invalid parameters",
    553: "memory not enough",
    554: "create socket failed",
    555: "operation not supported",
    556: "socket bind failed",
    557: "socket listen failed",
    558: "socket write failed",
    559: "socket read failed",
    560: "socket accept failed",
    561: "open PDP context failed",
    562: "close PDP context failed",
    563: "socket identity has been used",
    564: "DNS busy",
    565: "DNS parse failed",
    566: "socket connect failed",
    567: "socket has been closed",
    568: "operation busy",
    569: "operation timeout",
    570: "PDP context broken down",
    571: "cancel send",
    572: "operation not allowed",
    573: "APN not configured",
    574: "port busy",
}


class QuectelTcp:
    def __init__(self, client: ATClient, profile: DriverProfile) -> None:
        self.client = client
        self.settings = profile.tcp
        self.context = profile.tcp.context
        self._conns: dict[int, _Connection] = {}
        self._done = [0, 0]
        client.expect_pushed(PUSHED_DATA)
        self._sub = client.subscribe(self._on_urc, {"+QIURC"})

    def _on_urc(self, urc: Urc) -> None:
        fields = urc.fields
        if len(fields) < 2 or not fields[1].isdigit():
            return
        kind = grammar.unquote(fields[0])
        conn = self._conns.get(int(fields[1]))
        if conn is None:
            return
        if kind == "closed":
            conn.closed = True
            conn.ready.set()
        elif kind == "recv":
            conn.ready.set()

    async def attach(self, apn: str, user: str = "", password: str = "") -> str:
        auth = 1 if user else 0  # 0 none, 1 PAP
        creds = f"{quote(apn, 'APN')},{quote(user, 'user')},{quote(password, 'password')}"
        await self.client.command(f"AT+QICSGP={self.context},1,{creds},{auth}")
        await self.client.command(f"AT+QIACT={self.context}")
        reply = await self.client.command("AT+QIACT?")
        for line in reply.lines:
            f = grammar.fields_of(line)
            if len(f) >= 4 and f[0] == str(self.context):
                return grammar.unquote(f[3])
        raise TcpError(f"context {self.context} has no address after AT+QIACT: {list(reply.lines)!r}")

    async def open(self, host: str, port: int) -> int:
        free = sorted(set(range(12)) - set(self._conns))
        if not free:
            raise TcpError("all 12 connection ids are in use")
        conn = free[0]
        state = _Connection(conn)
        self._conns[conn] = state
        try:
            async with self.client.urcs({"+QIOPEN"}) as stream:
                await self.client.command(
                    f'AT+QIOPEN={self.context},{conn},"TCP",{quote(host, "host")},{port},0,0'
                )
                async with asyncio.timeout(self.settings.connect_timeout):
                    while True:
                        f = (await stream.get()).fields
                        if len(f) >= 2 and f[0] == str(conn) and f[1].isdigit():
                            err = int(f[1])
                            if err:
                                meaning = QUECTEL_TCP_ERRORS.get(err, "unlisted error")
                                raise TcpError(f"{host}:{port}: +QIOPEN error {err} ({meaning})", err)
                            return conn
        except BaseException:
            self._conns.pop(conn, None)
            raise

    async def send(self, conn: int, data: bytes) -> None:
        state = self._state(conn)
        for start in range(0, len(data), self.settings.max_send):
            chunk = data[start : start + self.settings.max_send]
            cmd = Command(f"AT+QISEND={conn},{len(chunk)}", finals={"SEND OK": True, "SEND FAIL": False})
            try:
                await self.client.command_with_data(cmd, chunk)
            except CommandError as exc:
                raise TcpError(f"connection {conn}: send failed: {exc.final}") from exc
            state.sent += len(chunk)

    async def receive(self, conn: int, timeout: float | None = None) -> bytes:
        state = self._state(conn)
        async with asyncio.timeout(timeout):
            while True:
                state.ready.clear()
                cmd = Command(f"AT+QIRD={conn},{self.settings.read_size}", payload_fields={"+QIRD": 0})
                reply = await self.client.command(cmd)
                data = reply.payload
                if data:
                    state.received += len(data)
                    state.ready.set()  # there may be more buffered: the next call reads again
                    return data
                if state.closed:
                    return b""
                await state.ready.wait()

    async def close(self, conn: int) -> None:
        state = self._conns.pop(conn, None)
        if state is None:
            return
        self._done[0] += state.sent
        self._done[1] += state.received
        await self.client.command(f"AT+QICLOSE={conn}")

    async def detach(self) -> None:
        for conn in list(self._conns):
            await self.close(conn)
        await self.client.command(f"AT+QIDEACT={self.context}")

    async def counters(self) -> DataCounters:
        """Driver counts, and the module's AT+QGDCNT? totals (bytes sent, received)."""
        sent = sum(c.sent for c in self._conns.values()) + self._done[0]
        received = sum(c.received for c in self._conns.values()) + self._done[1]
        f = (await self.client.command("AT+QGDCNT?")).fields("+QGDCNT")
        return DataCounters(sent, received, int(f[0]), int(f[1]))

    def _state(self, conn: int) -> _Connection:
        state = self._conns.get(conn)
        if state is None:
            raise TcpError(f"connection {conn} is not open")
        return state
