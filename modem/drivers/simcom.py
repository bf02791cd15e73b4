"""SIMCom SIM800-family TCP stack (AT+CIP*), from the SIM800 Series TCP/IP Application Note V1.02
and the SIM800 Series AT Command Manual V1.10, chapter 8 ("AT Commands for TCPIP Application Toolkit").

    AT+CIPMUX=0 / 1        single or multi connection (profile `driver.tcp.mux`)
    AT+CIPRXGET=1          receive manually: "+CIPRXGET: 1[,<id>]" announces data
    AT+CSTT="apn","u","p"  AT+CIICR  AT+CIFSR -> the IP address alone, no OK
    AT+CIPSTART="TCP","host",port -> OK, then "CONNECT OK" (multi: "<id>, CONNECT OK")
    AT+CIPSEND=<n> -> "> " -> <n bytes> -> "SEND OK" (no OK)
    AT+CIPRXGET=2,<n> -> "+CIPRXGET: 2,<got>,<left>" then <got> bytes, OK
    AT+CIPCLOSE -> "CLOSE OK"; AT+CIPSHUT -> "SHUT OK"; remote close: "CLOSED" / "<id>, CLOSED"
"""

from __future__ import annotations

import asyncio
import logging

from modem.at.client import ATClient
from modem.at.command import Command
from modem.at.errors import CommandError
from modem.at.parser import PushedData, Urc
from modem.drivers.network import quote
from modem.drivers.profile import DriverProfile
from modem.drivers.tcp import DataCounters, TcpError, _Connection

log = logging.getLogger(__name__)
_IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"

#: How the SIM800 pushes received data when not asked to keep it (AT+CIPRXGET=0): `+IPD,<n>:<data>`
#: with no line end (AT+CIPHEAD=1, single connection), `+RECEIVE,<id>,<n>:` then the data (multi).
PUSHED_DATA = (PushedData("+IPD", length_field=0, inline=True), PushedData("+RECEIVE", length_field=-1))


class SimcomTcp:
    def __init__(self, client: ATClient, profile: DriverProfile) -> None:
        self.client = client
        self.settings = profile.tcp
        self.mux = profile.tcp.mux
        self._conns: dict[int, _Connection] = {}
        self._done_sent = 0
        self._done_received = 0
        client.expect_pushed(PUSHED_DATA)
        self._sub = client.subscribe(self._on_urc, {"+CIPRXGET", "CLOSED"})

    def _conn_of(self, urc: Urc) -> int:
        if urc.name == "CLOSED":
            head = urc.line.split(",", 1)[0]
            return int(head) if self.mux and head.isdigit() else 0
        fields = urc.fields
        return int(fields[1]) if self.mux and len(fields) > 1 and fields[1].isdigit() else 0

    def _on_urc(self, urc: Urc) -> None:
        conn = self._conns.get(self._conn_of(urc))
        if conn is None:
            return
        if urc.name == "CLOSED":
            conn.closed = True
        conn.ready.set()

    def _args(self, conn: int, *rest: str) -> str:
        return ",".join(((str(conn),) if self.mux else ()) + rest)

    def _tag(self, conn: int, word: str) -> str:
        return f"{conn}, {word}" if self.mux else word

    async def attach(self, apn: str, user: str = "", password: str = "") -> str:
        await self.client.command(f"AT+CIPMUX={int(self.mux)}")
        await self.client.command("AT+CIPRXGET=1")
        await self.client.command(
            f"AT+CSTT={quote(apn, 'APN')},{quote(user, 'user')},{quote(password, 'password')}"
        )
        await self.client.command("AT+CIICR")
        reply = await self.client.command(Command("AT+CIFSR", final_pattern=_IPV4))
        return reply.final.line

    async def open(self, host: str, port: int) -> int:
        conn = min(set(range(6)) - set(self._conns)) if self.mux else 0
        if not self.mux and self._conns:
            raise TcpError("single-connection mode (AT+CIPMUX=0): a connection is already open")
        state = _Connection(conn)
        self._conns[conn] = state
        words = {self._tag(conn, w): w for w in ("CONNECT OK", "CONNECT FAIL", "ALREADY CONNECT")}
        try:
            async with self.client.urcs({"CONNECT OK", "CONNECT FAIL", "ALREADY CONNECT"}) as stream:
                args = self._args(conn, '"TCP"', quote(host, "host"), quote(str(port), "port"))
                await self.client.command(f"AT+CIPSTART={args}")
                async with asyncio.timeout(self.settings.connect_timeout):
                    while True:
                        urc = await stream.get()
                        word = words.get(urc.line)
                        if word is None:
                            continue
                        if word == "CONNECT FAIL":
                            raise TcpError(f"{host}:{port}: CONNECT FAIL")
                        return conn
        except BaseException:
            self._conns.pop(conn, None)
            raise

    async def send(self, conn: int, data: bytes) -> None:
        state = self._state(conn)
        finals = {self._tag(conn, "SEND OK"): True, self._tag(conn, "SEND FAIL"): False}
        for start in range(0, len(data), self.settings.max_send):
            chunk = data[start : start + self.settings.max_send]
            cmd = Command(f"AT+CIPSEND={self._args(conn, str(len(chunk)))}", finals=finals)
            try:
                await self.client.command_with_data(cmd, chunk)
            except CommandError as exc:
                raise TcpError(f"connection {conn}: send failed: {exc.final}") from exc
            state.sent += len(chunk)

    async def _read(self, state: _Connection) -> bytes:
        index = 2 if self.mux else 1  # +CIPRXGET: 2[,<id>],<reqlength>,<cnflength>
        cmd = Command(
            f"AT+CIPRXGET=2,{self._args(state.id, str(self.settings.read_size))}",
            payload_fields={"+CIPRXGET": index},
        )
        reply = await self.client.command(cmd)
        data = reply.payload
        fields = reply.fields("+CIPRXGET")
        left = int(fields[index + 1]) if len(fields) > index + 1 and fields[index + 1].isdigit() else 0
        if left:
            state.ready.set()
        state.received += len(data)
        return data

    async def receive(self, conn: int, timeout: float | None = None) -> bytes:
        state = self._state(conn)
        async with asyncio.timeout(timeout):
            while True:
                state.ready.clear()
                try:
                    data = await self._read(state)
                except CommandError:
                    if state.closed:  # the module forgets a connection the peer closed
                        return b""
                    raise
                if data:
                    return data
                if state.closed:
                    return b""
                await state.ready.wait()

    async def close(self, conn: int) -> None:
        state = self._conns.pop(conn, None)
        if state is None:
            return
        self._done_sent += state.sent
        self._done_received += state.received
        if state.closed:
            return
        args = f"={conn}" if self.mux else ""
        await self.client.command(Command(f"AT+CIPCLOSE{args}", finals={self._tag(conn, "CLOSE OK"): True}))

    async def detach(self) -> None:
        await self.client.command(Command("AT+CIPSHUT", finals={"SHUT OK": True}))
        for conn in list(self._conns):
            state = self._conns.pop(conn)
            self._done_sent += state.sent
            self._done_received += state.received

    async def counters(self) -> DataCounters:
        """Bytes this driver sent and read; the module's own count of sent bytes from AT+CIPACK."""
        sent = sum(c.sent for c in self._conns.values()) + self._done_sent
        received = sum(c.received for c in self._conns.values()) + self._done_received
        module_sent: int | None = None
        if not self.mux and self._conns:
            try:
                f = (await self.client.command("AT+CIPACK")).fields("+CIPACK")
                module_sent = int(f[0])
            except (CommandError, ValueError, IndexError):
                module_sent = None
        return DataCounters(sent, received, module_sent, None)

    def _state(self, conn: int) -> _Connection:
        state = self._conns.get(conn)
        if state is None:
            raise TcpError(f"connection {conn} is not open")
        return state
