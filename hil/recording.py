"""An AT client that writes every command, answer and URC to a `Transcript`.

`RecordingClient` is an `modem.at.client.ATClient`: the drivers use it unchanged.  Each call of
`command` / `command_with_data` becomes one `command` event (the line, the answer's lines, the
final result or the typed error, and how long it took); every URC becomes a `urc` event as it
arrives.  Data written after a prompt (SMS PDUs, socket data) is recorded by length and a short
preview; binary payloads the modem answers with (socket data read, pushed data) in full, as base64
(`payloads`, `payload`), so that the transcript can be replayed (`hil.replay`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from hil.transcript import Transcript
from modem.at.client import ATClient, Reply
from modem.at.command import Command
from modem.at.errors import CMEError, CMSError, CommandError, ModemError
from modem.at.parser import Urc
from modem.safety import NumberNotAllowed, SafetyError
from modem.transport import Transport
from modem.transports import describe

PREVIEW = 48  # bytes of a payload shown in the transcript


def preview(data: bytes) -> str:
    text = describe(data[:PREVIEW])
    return text + ("..." if len(data) > PREVIEW else "")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class RecordingClient(ATClient):
    """`ATClient` + transcript: commands with timings, answers, errors and URCs."""

    def __init__(self, transport: Transport, transcript: Transcript, **options: Any) -> None:
        super().__init__(transport, **options)
        self.transcript = transcript
        self.commands_sent = 0
        self.subscribe(self._on_urc)

    def _on_urc(self, urc: Urc) -> None:
        fields: dict[str, Any] = {"line": urc.line}
        if urc.extra is not None:
            fields["extra"] = urc.extra
        if urc.payload is not None:
            fields["payload_bytes"] = len(urc.payload)
            fields["payload"] = _b64(urc.payload)
        self.transcript.record("urc", **fields)

    async def _issue(
        self, cmd: Command, data: bytes | None, *, watchdog: bool = True, resync: bool = True
    ) -> Reply:
        line = cmd.line
        event: dict[str, Any] = {"command": line}
        if data is not None:
            event["data_bytes"] = len(data)
            event["data"] = preview(data)
        start = time.monotonic()
        began = self.transcript.elapsed()
        self.commands_sent += 1
        try:
            reply = await super()._issue(cmd, data, watchdog=watchdog, resync=resync)
        except SafetyError as exc:  # the command guard refused the line: nothing was written
            refused: dict[str, Any] = {"action": getattr(exc, "action", "command"), "command": line}
            if isinstance(exc, NumberNotAllowed):
                refused["number"] = exc.number
            self.transcript.record("refused", at=began, reason=str(exc), **refused)
            raise
        except ModemError as exc:
            event["responses"] = list(getattr(exc, "lines", ()) or ())
            event["error"] = type(exc).__name__
            event["message"] = str(exc)
            if isinstance(exc, CMEError | CMSError):
                event["code"] = exc.code
                event["meaning"] = exc.meaning
            if isinstance(exc, CommandError):
                event["final"] = exc.final
            event["duration_s"] = round(time.monotonic() - start, 6)
            self.transcript.record("command", at=began, **event)
            raise
        except asyncio.CancelledError:  # interrupted while the modem was answering
            event["error"] = "cancelled"
            event["duration_s"] = round(time.monotonic() - start, 6)
            self.transcript.record("command", at=began, **event)
            raise
        event["responses"] = list(reply.lines)
        payload = reply.payload
        if payload:
            event["payload_bytes"] = len(payload)
            event["payloads"] = [_b64(r.payload) if r.payload is not None else None for r in reply.responses]
        event["final"] = reply.final.line
        event["duration_s"] = round(time.monotonic() - start, 6)
        self.transcript.record("command", at=began, **event)
        return reply

    def _restart_settings(self, after: str) -> None:
        self.transcript.record(
            "note",
            text=f"the modem restarted ({after}): the bench's settings set again",
            settings_after_restart=after,
        )

    def _read_back(self, line: str, reply: Reply) -> None:
        # not a command of the run: a replay answers it as recorded, without sending it as one
        self.transcript.record("setting", command=line, responses=list(reply.lines), final=reply.final.line)


class RecordingTransport:
    """Wraps a transport and writes every chunk both ways to the transcript (`tx` / `rx` events,
    control bytes escaped), for the byte-level view of a session (`m2msim bench --raw`)."""

    def __init__(self, inner: Transport, transcript: Transcript) -> None:
        self.inner = inner
        self.url = inner.url
        self.transcript = transcript

    async def read(self) -> bytes:
        data = await self.inner.read()
        self.transcript.record("rx", bytes=len(data), text=describe(data) if data else "<eof>")
        return data

    async def write(self, data: bytes) -> None:
        self.transcript.record("tx", bytes=len(data), text=describe(data))
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()
