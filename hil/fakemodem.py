"""A stand-in modem for testing bench scripts without hardware: it answers each command line from
a table and records every byte it is sent.

    fake = AnsweringTransport({"AT+CPIN?": "+CPIN: READY", "AT+CSQ": "+CSQ: 20,0"}, url="/dev/ttyUSB9")
    await run_bench("register", fake.url, transport=fake)
    assert b"ATD" not in fake.written

An answer is the information text (the final `OK` is added), a callable of the command line giving
that text, or an `Answer` with another final result.  The longest matching prefix wins; a command
with no entry answers `OK`, but for what every module has, answered as a module answers it: the
V.250 S-registers (`ATS3?` -> `013`) and the TE character set (27.007 §5.5: `AT+CSCS?` ->
`+CSCS: "IRA"`, the one last set by `AT+CSCS="<chset>"` among those `AT+CSCS=?` lists, another
answering ERROR).  A table with an `AT+CSCS` entry plays a module that answers otherwise: the
forms it has no entry for answer `OK`.  `AT+CMGS` (and any command listed in `prompts`) answers the `> `
prompt (u-blox's sends `@`), then its table entry once the data ends: with Ctrl-Z, or for a socket
send of a length (`modem.safety.SEND_FORMS`: `AT+QISEND=<id>,<n>`, `AT#SSENDEXT=<id>,<n>`) after
that many bytes, whatever they are.  `hold()` keeps the answers back, as
a module still busy with a command answers late; `catch_up()` gives them, in order.
`interject(line)` plays another program writing to the same port (ModemManager probing it): what
the module answers to that program's command line comes just before the next answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modem.safety import send_form, send_length

CTRL_Z = 0x1A


@dataclass(frozen=True)
class Answer:
    text: str = ""
    final: str = "OK"


AnswerSpec = str | Answer | Callable[[str], "str | Answer"]

# V.250 §6.2: auto-answer off, line end, line feed, backspace; read as `ATS3?` -> `013`
S_REGISTERS = {0: 0, 3: 13, 4: 10, 5: 8}
_S_READ = re.compile(r"ATS(\d+)\?", re.IGNORECASE)
# 27.007 §5.5: the sets a module lists (`AT+CSCS=?`, as a SIMCom or Quectel module lists some of
# them), the first its own at power-up
CHARSETS = ("IRA", "GSM", "UCS2", "HEX")
_CHARSET_SET = re.compile(r'AT\+CSCS="([^"]*)"', re.IGNORECASE)

# A GSM/GPRS module with its SIM ready, registered at home, that tells who it is: a table to
# start from (`{**REGISTERED, "AT+CSQ": "+CSQ: 99,99"}`).
REGISTERED: dict[str, AnswerSpec] = {
    "AT+CREG?": '+CREG: 2,1,"1A2B","01C2D3E",0',
    "AT+CGREG?": '+CGREG: 2,1,"1A2B","01C2D3E",0',
    "AT+CEREG?": Answer(final="ERROR"),  # a GSM/GPRS module has no EPS registration
    "AT+CPIN?": "+CPIN: READY",
    "AT+COPS?": '+COPS: 0,0,"Orange F",0',
    "AT+CSQ": "+CSQ: 18,0",
    "AT+CGSN": "356938035643809",
    "AT+CIMI": "208011234567890",
    "AT+CCID": "89330123456789012345",
    "AT+CGMI": "ACME",
    "AT+CGMM": "M1",
    "AT+CGMR": "1.0",
}


class AnsweringTransport:
    """`modem.transport.Transport` answering from a table; `written` has every byte received."""

    def __init__(
        self,
        answers: Mapping[str, AnswerSpec],
        *,
        url: str = "/dev/ttyFAKE0",
        prompts: tuple[str, ...] = ("AT+CMGS",),
    ) -> None:
        self.url = url
        self.answers = dict(answers)
        self.prompts = prompts
        self.written = bytearray()
        self.lines: list[str] = []
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._buf = bytearray()
        self._entry: str | None = None  # the command whose data follows the prompt
        self._closed = False
        self._held: list[bytes] | None = None  # answers kept back while busy (`hold`)
        self.received = asyncio.Event()  # set at each command line received
        self._interjected: list[str] = []  # another program's exchanges, before the next answer
        self.charset = CHARSETS[0]  # the TE character set, as the module's default answers say it

    def hold(self) -> None:
        """From now on answers wait, as a module still working on a command answers late."""
        if self._held is None:
            self._held = []

    def catch_up(self) -> None:
        """The answers held back come, in order (each as its own read); later ones come at once."""
        held, self._held = self._held or [], None
        for answer in held:
            self._inbox.put_nowait(answer)

    def interject(self, line: str, answer: str = "", final: str = "OK", *, echo: bool = True) -> None:
        """Another program writes `line` to the module: its echo (when `echo`), `answer` and `final`
        come just before the answer to the next command line received."""
        body = "".join(f"\r\n{text}\r\n" for text in answer.splitlines())
        self._interjected.append(f"{line}\r" * echo + f"{body}\r\n{final}\r\n")

    def push(self, data: bytes) -> None:
        """Unsolicited bytes (URCs) to the client."""
        self._inbox.put_nowait(data)

    async def read(self) -> bytes:
        if self._closed:
            return b""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        self.written += data
        self._buf += data
        while True:
            if self._entry is not None:
                length = send_length(self._entry)
                if length is not None:  # that many bytes, whatever they are
                    end = length - 1
                    if len(self._buf) <= end:
                        return
                else:
                    end = self._buf.find(bytes([CTRL_Z]))
                    if end < 0:
                        return
                del self._buf[: end + 1]
                command, self._entry = self._entry, None
                self._reply(command)
                continue
            end = self._buf.find(b"\r")
            if end < 0:
                return
            line = self._buf[:end].decode("latin-1").strip()
            del self._buf[: end + 1]
            if not line:
                continue
            self.lines.append(line)
            self.received.set()
            if line.startswith(self.prompts):
                self._entry = line
                form = send_form(line)
                self._send(b"\r\n" + (form.prompt if form is not None else "> ").encode())
            else:
                self._reply(line)

    def _send(self, answer: bytes) -> None:
        if self._interjected:
            answer = "".join(self._interjected).encode() + answer
            self._interjected.clear()
        if self._held is not None:
            self._held.append(answer)
        else:
            self._inbox.put_nowait(answer)

    def _reply(self, line: str) -> None:
        key = max((k for k in self.answers if line.startswith(k)), key=len, default=None)
        register = _S_READ.fullmatch(line)
        spec: AnswerSpec = Answer()
        if key is not None:
            spec = self.answers[key]
        elif register is not None and int(register.group(1)) in S_REGISTERS:
            spec = f"{S_REGISTERS[int(register.group(1))]:03d}"
        elif not any(k.upper().startswith("AT+CSCS") for k in self.answers):
            spec = self._charset_answer(line.upper())
        answer = spec(line) if callable(spec) else spec
        if isinstance(answer, str):
            answer = Answer(answer)
        body = "".join(f"\r\n{text}\r\n" for text in answer.text.splitlines())
        self._send(f"{body}\r\n{answer.final}\r\n".encode())

    def _charset_answer(self, line: str) -> AnswerSpec:
        """What a module answers to the TE character set's read, list and set; `OK` to anything else."""
        if line == "AT+CSCS?":
            return f'+CSCS: "{self.charset}"'
        if line == "AT+CSCS=?":
            return "+CSCS: ({})".format(",".join(f'"{name}"' for name in CHARSETS))
        chosen = _CHARSET_SET.fullmatch(line)
        if chosen is None:
            return Answer()
        if chosen.group(1) not in CHARSETS:
            return Answer(final="ERROR")
        self.charset = chosen.group(1)
        return Answer()

    async def close(self) -> None:
        self._closed = True
        self._inbox.put_nowait(b"")
