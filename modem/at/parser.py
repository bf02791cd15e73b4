"""Sans-IO AT response parser: bytes in, events out.

The parser is told which command is in flight (`begin`) and turns the modem's bytes into events:
`Response` lines (with a binary payload when the grammar gives a length), a `Final` result, the
`Prompt` (`> `, no line end), `Urc` unsolicited results and `Data` in data mode after `CONNECT`.
What is unsolicited is decided by the grammar (`modem.at.grammar`) and the command in flight, never
by timing; the echo of the command line is recognised and dropped, whether echo is on or off.
The parser does no I/O and keeps no clock: feeding the same bytes split anywhere gives the same events.
In ATV0 (numeric results) a one-digit line ended by CR is a result code, and text when LF follows
(V.250 §5.7.1); when the CR is the last byte so far the parser holds it (`holding`) until the next
byte, or until the client, the modem having fallen quiet, calls `flush()`.  In ATV1 results are
words and a one-digit line is always text.  Which of the two the modem is in is not known before
its first result: a program that had the port before may have left it in ATV0 (the power-up default
is ATV1).  Until then a one-digit line ended by CR alone is a result code too, and the first result
tells (`verbose`).
Socket data a module pushes after a header of its own (SIMCom's `+IPD,<n>:`, Quectel's
`+QIURC: "recv",<id>,<n>`) is vendor framing: the vendor's driver declares it (`PushedData`) and
hands it to the parser; the generic parser knows none.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, auto

from modem import patterns
from modem.at import grammar
from modem.at.command import Command
from modem.at.grammar import Result

log = logging.getLogger(__name__)

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # lossless: `line.encode("utf-8", "surrogateescape")` gives the bytes back
_NO_CARRIER = b"\r\nNO CARRIER\r\n"
_MAX_LINE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """An information line answering the command in flight, with the binary data that followed it."""

    line: str
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class Final:
    """The final result of the command in flight."""

    result: Result
    line: str
    ok: bool
    value: str = ""  # the +CME/+CMS error value, or the CONNECT speed


@dataclass(frozen=True, slots=True)
class Prompt:
    """The `> ` prompt: the modem waits for data (SMS text or PDU, socket payload)."""


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result: `name` is its prefix (`+CMTI`) or word (`RING`, `CLOSED`)."""

    name: str
    line: str
    extra: str | None = None  # the second line of +CMT / +CBM / +CDS (PDU or text)
    payload: bytes | None = None  # pushed socket data (+IPD, +RECEIVE, +QIURC "recv" with length)

    @property
    def fields(self) -> list[str]:
        return grammar.fields_of(self.line)


@dataclass(frozen=True, slots=True)
class Late:
    """A final result that came before the answer a `Command(until=...)` waits for: the late answer
    of a command abandoned earlier (its timeout expired), dropped; the information lines before it
    were that answer's too."""

    line: str


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes received in data mode (after CONNECT on a dial / transparent command)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Foreign:
    """What cannot be an answer to this client's commands: `kind` `echo`, the echo of a command
    line it did not send (another program writing to the modem, as ModemManager's `AT+GCAP`), or
    `final`, a final result while no command of its waits for one and none was abandoned (an
    answer to another program's command).  The line is dropped; the client decides what follows."""

    kind: str
    line: str


Event = Response | Final | Prompt | Urc | Data | Late | Foreign

# A command line as a DTE writes it (what its echo looks like): `AT`, `ATI`, `ATE0 V1`, `AT+GCAP`,
# `AT+CPIN?`, `AT^SYSINFO`, `ATD+33...;`, `ATS0=1` (V.250's basic commands' letters); not text
# that begins so (`AT&T Wireless`, `ATTENTION`).
_COMMAND_LINE = re.compile(
    r"AT\s*(?:[+&%$^#*!@][A-Z][A-Z0-9_.]*(?:\s*[?=].*|;.*)?|D.*|(?:(?:[AEHILMOPQTVXZ]\d*|&[A-Z]\d*|S\d+(?:\?|=\d*))\s*)*;?)",
    re.IGNORECASE | re.DOTALL,
)
# final results a command of another program may get
_FINAL_WORDS = ("OK", "ERROR")
_FINAL_PREFIXES = ("+CME ERROR:", "+CMS ERROR:")
_FINAL_DIGITS = ("0", "4")  # OK and ERROR in ATV0, ended by CR alone: no text ends so
# results a modem gives in words (ATV1) or digits (ATV0): which one tells how it answers
_BOTH_FORMS = frozenset(
    {
        Result.OK,
        Result.ERROR,
        Result.CONNECT,
        Result.NO_CARRIER,
        Result.BUSY,
        Result.NO_ANSWER,
        Result.NO_DIALTONE,
    }
)
# commands whose answer lines may be command names (AT+CLAC lists the commands the module takes)
_LISTS_COMMANDS = re.compile(r"AT\s*\+\s*CLAC\b", re.IGNORECASE)
# the command lines this parser was told of that an echo may still come back for (a late echo
# of an abandoned command, a resynchronisation's register read)
SENT_REMEMBERED = 32


class _Mode(Enum):
    LINES = auto()
    RAW = auto()
    DATA = auto()


@dataclass(frozen=True, slots=True)
class PushedData:
    """Socket data a module pushes after an unsolicited header, as its vendor frames it.

    `prefix`: the header's name (`+IPD`); `length_field`: which of the header's fields gives the
    data's length in bytes (-1: the last); `inline`: the data follows the header's `:` at once,
    without a line end (SIMCom's `+IPD,<n>:<data>`), else it starts after the header's line end
    (Quectel's `+QIURC: "recv",<id>,<n>`); `first_field` and `field_count`, when given, must match
    (unquoted) for the header to announce data at all (`+QIURC: "recv",<id>` alone does not).
    """

    prefix: str
    length_field: int = -1
    inline: bool = False
    first_field: str | None = None
    field_count: int | None = None

    def length(self, fields: list[str]) -> int | None:
        """The data's length announced by a header with these fields, or None if it announces none."""
        if self.field_count is not None and len(fields) != self.field_count:
            return None
        if self.first_field is not None and (not fields or grammar.unquote(fields[0]) != self.first_field):
            return None
        if not -len(fields) <= self.length_field < len(fields):
            return None
        value = fields[self.length_field]
        return int(value) if value.isdigit() else None


class ATParser:
    """Incremental parser of a modem's output. One instance per serial link."""

    def __init__(self, pushed: Iterable[PushedData] = ()) -> None:
        self._inline: list[tuple[bytes, re.Pattern[bytes], PushedData]] = []
        self._after_line: dict[str, list[PushedData]] = {}
        self.expect_pushed(pushed)
        self._buf = bytearray()
        self._mode = _Mode.LINES
        self._skip_lf = False
        self._command: Command | None = None
        self._echo: list[str] = []
        self._data_echo: str | None = None  # the text written after a prompt, until its echo is seen
        self._echo_on = False
        self._raw_need = 0
        self._raw_owner: Response | Urc | None = None
        self._raw_chunks: list[bytes] = []
        self._pending_urc: Urc | None = None  # +CMT header waiting for its second line
        # ATV1: result codes are words, a bare digit is text; ATV0: digits; None: not known yet (the
        # power-up default is ATV1, but a program that had the port before may have sent ATV0)
        self._verbose: bool | None = None
        self._verbose_after: bool | None = None  # what the command in flight sets (ATV0, ATZ...)
        self._stored_verbosity = False  # ... the stored profile's (ATZ): not known until a result
        self._flushing = False
        self._body_next = False  # the next line is +CMGR/+CMGL message text
        self._empty_text = False  # ... which may be empty (text mode; a PDU never is)
        # the text after a header giving its <length> (AT+CSDH=1) runs on over line breaks until
        # that many bytes are read (`grammar.text_length`): the bytes of its lines so far
        self._text_need: int | None = None
        self._text = bytearray()
        self._until_seen = False  # the command's `until` line came (its own answer, not a late one)
        self._sent: deque[str] = deque(maxlen=SENT_REMEMBERED)  # command lines begun, upper case
        # a final result with no command in flight may be a command's late answer: before the first
        # command (what the port held from before), after one was abandoned, after a vendor final
        self._late_ok = True
        #: bytes of lines that are not text (invalid UTF-8, control characters): a modem at another
        #: baud rate, or one powering up; message text (+CMGR...) is not counted
        self.noise_bytes = 0

    # -- what the client tells the parser ------------------------------------------------------
    @property
    def command(self) -> Command | None:
        """The command in flight, if any."""
        return self._command

    @property
    def echoed(self) -> bool:
        """Whether the command line in flight (or last answered) came back: the modem echoes (ATE1)."""
        return self._echo_on

    @property
    def in_data_mode(self) -> bool:
        return self._mode is _Mode.DATA

    def begin(self, command: Command) -> None:
        """Announce the command just sent: its answer is parsed against its grammar."""
        if self._mode is _Mode.DATA:
            self._mode = _Mode.LINES
        self._command = command
        self._verbose_after = grammar.verbose_after(command.line)
        self._stored_verbosity = grammar.verbosity_from_stored_profile(command.line)
        self._echo = [command.line.strip().upper()]
        self._sent.append(self._echo[0])
        self._late_ok = False
        self._data_echo = None
        self._echo_on = False  # the command line came back: the modem echoes (ATE1)
        self._body_next = False
        if self._pending_urc is None:  # a +CMT's text may still be coming in
            self._text_need = None
            self._text = bytearray()
        self._until_seen = False

    def expect_echo(self, text: str) -> None:
        """Data written after a prompt (SMS text) may be echoed back: recognise it and drop it."""
        self._data_echo = text.strip("\r\n\x1a\x1b").upper()
        self._echo.append(self._data_echo)

    def abandon(self) -> None:
        """Forget the command in flight (its timeout expired); later lines are unsolicited."""
        self._command = None
        self._late_ok = True
        self._echo = []
        self._data_echo = None
        self._body_next = False
        if self._pending_urc is None:
            self._text_need = None
            self._text = bytearray()

    def restarted(self) -> None:
        """The modem restarted: it answers in words again (ATV1, the power-up setting)."""
        self._verbose = True
        self._verbose_after = None

    def expect_pushed(self, pushed: Iterable[PushedData]) -> None:
        """Recognise these vendor framings of pushed socket data from now on."""
        for p in pushed:
            if p.inline:
                head = p.prefix.encode() + b","
                self._inline.append((head, re.compile(re.escape(head) + rb"([^:\r\n]*):"), p))
            else:
                self._after_line.setdefault(p.prefix, []).append(p)

    def leave_data_mode(self) -> None:
        """Back to command mode after the `+++` escape; the modem's next lines are parsed again."""
        self._mode = _Mode.LINES

    # -- bytes in, events out ------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Parse the next bytes from the modem; returns the events they complete, in order."""
        self._buf += data
        events: list[Event] = []
        buf = self._buf
        while buf:
            if self._mode is _Mode.DATA:
                if self._skip_lf and buf[0] == 0x0A:  # the LF of "CONNECT\r\n"
                    del buf[0]
                self._skip_lf = False
                self._feed_data(events)
                break
            if self._mode is _Mode.RAW:
                if self._skip_lf:
                    if buf[0] == 0x0A:
                        del buf[0]
                        if not buf:
                            break
                    self._skip_lf = False
                take = min(self._raw_need, len(buf))
                self._raw_chunks.append(bytes(buf[:take]))
                del buf[:take]
                self._raw_need -= take
                if self._raw_need == 0:
                    self._finish_raw(events)
                continue
            if self._skip_lf and buf[0] == 0x0A:
                del buf[0]
                self._skip_lf = False
                continue
            self._skip_lf = False
            body = self._pending_urc is not None or self._body_next  # the next line is message text
            if body and self._text_need is not None:
                if not self._counted_text(events):
                    break
                continue
            # a vendor's inline push: +IPD,<len>:<data>, no line end (never inside a message's text)
            if self._inline and buf[0] == 0x2B and not body:
                inline = self._inline_push(buf)
                if inline is not None:
                    header, length, end, prefix = inline
                    del buf[:end]
                    self._start_raw(Urc(prefix, header), length, skip_lf=False, events=events)
                    continue
                if (
                    any(buf.startswith(head) for head, _, _ in self._inline)
                    and b"\r" not in buf
                    and b"\n" not in buf
                ):
                    break
            cr = buf.find(b"\r")
            lf = buf.find(b"\n")
            end = cr if lf < 0 or (0 <= cr < lf) else lf
            if end < 0:
                if (buf == b"> " or self._at_prompt(buf)) and not body:
                    del buf[:]
                    self._prompt(events)
                elif len(buf) > _MAX_LINE:
                    log.warning("discarding %d bytes without a line end", len(buf))
                    self.noise_bytes += len(buf)
                    del buf[:]
                break
            raw = bytes(buf[:end])
            if end + 1 == len(buf) and buf[end] == 0x0D and not self._flushing and self._may_be_numeric(raw):
                break  # `<digit><CR>`: a result code, or text if LF follows; the next byte tells
            self._skip_lf = buf[end] == 0x0D
            # ATV0 ends a result code with CR alone, information text with CR LF (V.250 §5.7.1)
            bare_cr = self._skip_lf and (end + 1 == len(buf) or buf[end + 1] != 0x0A)
            del buf[: end + 1]
            if raw:
                text = raw.decode(_ENCODING, _ERRORS)
                if not self._body_next and self._pending_urc is None and _garbled(text):
                    self.noise_bytes += len(raw)
                self._line(text, events, bare_cr)
            elif self._empty_text and (self._pending_urc is not None or self._body_next):
                # the line right after a +CMT / +CMGR / +CMGL header is the message's text, and an
                # empty SMS has an empty one (anybody can send it): the next line is not its text
                self._line("", events, bare_cr)
        return events

    # -- internals -----------------------------------------------------------------------------
    def _inline_push(self, buf: bytearray) -> tuple[str, int, int, str] | None:
        """(header, data length, bytes the header takes, prefix) of an inline push at the start of `buf`."""
        for head, pattern, pushed in self._inline:
            if buf.startswith(head):
                m = pattern.match(buf)
                if m:
                    length = pushed.length(m.group(1).decode(_ENCODING, _ERRORS).split(","))
                    if length is not None:
                        return buf[: m.end() - 1].decode(_ENCODING, _ERRORS), length, m.end(), pushed.prefix
        return None

    def _counted_text(self, events: list[Event]) -> bool:
        """Take the message text of a header that gave its <length>: line ends are the text's until
        that many bytes are read (bytes, not characters: a module counting characters writes at
        least as many bytes, so the line after the text, its `OK`, is never taken for it).  False
        while the bytes so far do not tell where the text ends."""
        buf = self._buf
        need = self._text_need or 0
        while True:
            cr = buf.find(b"\r")
            lf = buf.find(b"\n")
            end = cr if lf < 0 or (0 <= cr < lf) else lf
            if end < 0:
                if len(self._text) + len(buf) > _MAX_LINE:
                    log.warning("discarding %d bytes of message text without a line end", len(buf))
                    self.noise_bytes += len(buf)
                    del buf[:]
                return False
            if len(self._text) + end >= need:  # the text ends at this line end
                text = bytes(self._text + buf[:end]).decode(_ENCODING, _ERRORS)
                self._skip_lf = buf[end] == 0x0D
                del buf[: end + 1]
                self._text = bytearray()
                self._text_need = None
                self._line(text, events)
                return True
            if buf[end] == 0x0D:
                if end + 1 == len(buf):
                    return False  # CR LF or CR alone: the next byte tells how long the line end is
                end += 1 if buf[end + 1] == 0x0A else 0
            self._text += buf[: end + 1]
            del buf[: end + 1]

    def _at_prompt(self, text: bytes | bytearray) -> bool:
        """Whether `text` is u-blox's `@` prompt, answered to the command in flight (`prompt_mark`)."""
        cmd = self._command
        return text == b"@" and cmd is not None and cmd.prompt and cmd.prompt_mark == "@"

    def _prompt(self, events: list[Event]) -> None:
        events.append(Prompt())

    def _start_raw(self, owner: Response | Urc, length: int, *, skip_lf: bool, events: list[Event]) -> None:
        self._raw_owner = owner
        self._raw_need = length
        self._raw_chunks = []
        if length == 0:
            self._finish_raw(events)
            return
        self._mode = _Mode.RAW
        self._skip_lf = skip_lf

    def _finish_raw(self, events: list[Event]) -> None:
        owner = self._raw_owner
        payload = b"".join(self._raw_chunks)
        self._mode = _Mode.LINES
        self._raw_owner = None
        self._raw_chunks = []
        if isinstance(owner, Response):
            events.append(Response(owner.line, payload))
        elif isinstance(owner, Urc):
            events.append(Urc(owner.name, owner.line, owner.extra, payload))

    def _feed_data(self, events: list[Event]) -> None:
        buf = self._buf
        idx = buf.find(_NO_CARRIER)
        if idx >= 0:
            if idx:
                events.append(Data(bytes(buf[:idx])))
            del buf[: idx + len(_NO_CARRIER)]
            self._mode = _Mode.LINES
            events.append(Urc("NO CARRIER", "NO CARRIER"))
            if buf:
                events.extend(self.feed(b""))
            return
        # hold back a tail that may be the start of the NO CARRIER notice
        keep = 0
        for n in range(min(len(_NO_CARRIER) - 1, len(buf)), 0, -1):
            if buf.endswith(_NO_CARRIER[:n]):
                keep = n
                break
        if len(buf) > keep:
            events.append(Data(bytes(buf[: len(buf) - keep])))
            del buf[: len(buf) - keep]

    @property
    def holding(self) -> bool:
        """A one-digit line ended by CR waits for the next byte: LF makes it text (ATV0)."""
        buf = self._buf
        return self._mode is _Mode.LINES and buf.endswith(b"\r") and self._may_be_numeric(bytes(buf[:-1]))

    def flush(self) -> list[Event]:
        """The modem fell quiet: a held `<digit><CR>` had no LF after it, so it is a result code."""
        self._flushing = True
        try:
            return self.feed(b"")
        finally:
            self._flushing = False

    def _may_be_numeric(self, raw: bytes) -> bool:
        text = raw.strip(b" \t\n")
        return len(text) == 1 and text.isdigit() and b"\r" not in raw and self._numeric(True)

    @property
    def verbose(self) -> bool | None:
        """True while the modem answers in words (ATV1), False in digits (ATV0, answered OK, or a
        result in digits before the modem was told either), None while not known: before its first
        result, and after `verbosity_unknown`."""
        return self._verbose

    def verbosity_unknown(self) -> None:
        """Forget how the modem answers: its next result, in words or in digits, tells."""
        self._verbose = None

    def _numeric(self, bare_cr: bool) -> bool:
        """Whether a one-digit line is a numeric result code: in ATV0, while not known, or for the
        command that switches (whose result may come either way), and ended by CR alone; in ATV1
        never."""
        return bare_cr and (self._verbose is not True or self._verbose_after is not None)

    def _final(self, events: list[Event], result: Result, line: str, ok: bool, value: str = "") -> None:
        cmd = self._command
        if cmd is not None and cmd.until is not None and not self._until_seen:
            # the late answer of a command abandoned before: the modem answers in order, so this
            # command's own answer is still to come
            log.info("late final result of an abandoned command dropped: %r", line)
            self._body_next = False
            events.append(Late(line))
            return
        if ok and self._stored_verbosity:
            self._verbose = None  # ATZ: the stored profile's format, which the next result tells
        elif ok and self._verbose_after is not None:
            self._verbose = self._verbose_after
        elif self._verbose is None and result in _BOTH_FORMS:
            self._verbose = not line.isdigit()  # the first result in words or digits tells
        self._verbose_after = None
        self._stored_verbosity = False
        self._command = None
        self._echo = []
        self._data_echo = None
        self._body_next = False
        self._late_ok = result is Result.VENDOR  # a module may still add its OK
        events.append(Final(result, line, ok, value))
        if result is Result.CONNECT and cmd is not None and cmd.data_mode:
            self._mode = _Mode.DATA

    def _line(self, line: str, events: list[Event], bare_cr: bool = False) -> None:
        if self._pending_urc is not None:  # second line of +CMT / +CBM / +CDS
            head = self._pending_urc
            self._pending_urc = None
            events.append(Urc(head.name, head.line, line))
            return
        cmd = self._command
        if cmd is not None and self._body_next:  # message text after +CMGR / +CMGL, whatever it is
            self._body_next = False
            events.append(Response(line))
            return
        if _is_noise(line):  # line noise: bytes that are not text (power-up, baud mismatch)
            log.debug("line noise dropped: %r", line.encode(_ENCODING, _ERRORS))
            return
        if cmd is None:
            stripped = line.strip(_EDGE_NOISE)
            if self._foreign_echo(stripped, events):
                return
            if not self._late_ok and (
                stripped in _FINAL_WORDS
                or stripped.startswith(_FINAL_PREFIXES)
                # ATV0: `0<CR>` OK, `4<CR>` ERROR (2 and 3 are RING and NO CARRIER, unsolicited)
                or (stripped in _FINAL_DIGITS and self._numeric(bare_cr))
            ):
                events.append(Foreign("final", stripped))
                return
            self._unsolicited(line, events, numeric=self._numeric(bare_cr))
            return
        stripped = line.strip(_EDGE_NOISE)
        key = self._data_echo
        body = stripped.removeprefix("> ")
        if key and self._echo_on and body[: len(key)].upper() == key and body[len(key) :].strip(_EDGE_NOISE):
            # ATE1 ATV0: answers have no leading CR LF, so the echoed text (and its Ctrl-Z, when
            # echoed) runs straight into the answer, `...C8F40C+CMGS: 7`
            self._data_echo = None
            if key in self._echo:
                self._echo.remove(key)
            self._line(body[len(key) :], events, bare_cr)
            return
        if self._echo and stripped.strip("\x1a\x1b").upper() in self._echo:
            self._echo.remove(stripped.strip("\x1a\x1b").upper())
            self._echo_on = self._echo_on or stripped.upper() == cmd.line.strip().upper()
            return
        if stripped in (">", "> ") or (stripped == "@" and self._at_prompt(b"@")):
            self._prompt(events)
            return
        if stripped.startswith("> ") and stripped[2:].strip("\x1a\x1b").upper() in self._echo:
            self._prompt(events)  # prompt and echo of the data on one line
            return
        if cmd.prompt and stripped.startswith("> "):
            self._prompt(events)  # and what came right after it, without a line end between
            self._line(stripped[2:], events, bare_cr)
            return
        if not _LISTS_COMMANDS.match(cmd.line) and self._foreign_echo(stripped, events):
            return
        if self._command_final(cmd, stripped, events, numeric=self._numeric(bare_cr)):
            return
        prefix = grammar.prefix_of(stripped)
        if prefix is not None:
            if grammar.is_response(cmd, prefix, stripped):
                self._response(cmd, prefix, stripped, events)
            else:
                self._unsolicited(stripped, events)
            return
        numeric = self._numeric(bare_cr)
        if (
            grammar.urc_word(stripped) is not None
            or (numeric and stripped in ("2", "3"))
            or stripped in grammar.CALL_PROGRESS
        ):
            self._unsolicited(stripped, events, numeric=numeric)
            return
        if cmd.final_pattern is not None and patterns.fullmatch(cmd.final_pattern, stripped):
            events.append(Response(stripped))
            self._final(events, Result.VENDOR, stripped, True)
            return
        if cmd.until is not None and patterns.fullmatch(cmd.until, stripped):
            self._until_seen = True
        events.append(Response(stripped))

    def _foreign_echo(self, line: str, events: list[Event]) -> bool:
        """An echo that is not the command in flight's: of an earlier command line (a late echo,
        dropped), or of one none of this parser's, another program's (`Foreign`).  False for a
        line that is not a command line."""
        if not self._sent or line[:2].upper() != "AT" or len(line) > 512:
            return False
        if not _COMMAND_LINE.fullmatch(line):
            return False
        compact = "".join(line.split())
        if line.upper() in self._sent or compact.upper() in ("".join(s.split()) for s in self._sent):
            log.debug("late echo dropped: %r", line)
            return True
        events.append(Foreign("echo", line))
        if self._command is not None:
            self.abandon()  # its answer can no more be told from the other program's
        return True

    def _command_final(self, cmd: Command, line: str, events: list[Event], *, numeric: bool = False) -> bool:
        if line in cmd.finals:
            self._final(events, Result.VENDOR, line, cmd.finals[line])
            return True
        if line == "OK":
            self._final(events, Result.OK, line, True)
            return True
        if line == "ERROR":
            self._final(events, Result.ERROR, line, False)
            return True
        if line.startswith("+CME ERROR:"):
            self._final(events, Result.CME_ERROR, line, False, line[11:].strip())
            return True
        if line.startswith("+CMS ERROR:"):
            self._final(events, Result.CMS_ERROR, line, False, line[11:].strip())
            return True
        speed = grammar.parse_connect(line)
        if speed is not None:
            if cmd.connect_payload and speed.isdigit():
                self._start_raw(Response(line), int(speed), skip_lf=self._skip_lf, events=events)
                return True
            self._final(events, Result.CONNECT, line, True, speed)
            return True
        if cmd.dial and line in grammar.CALL_PROGRESS:
            self._final(events, grammar.CALL_PROGRESS[line], line, False)
            return True
        if numeric and len(line) == 1 and line in grammar.NUMERIC_RESULTS:  # ATV0: `<digit><CR>`
            result = grammar.NUMERIC_RESULTS[line]
            if result in (Result.OK, Result.ERROR) or cmd.dial or result is Result.CONNECT:
                ok = result in (Result.OK, Result.CONNECT)
                self._final(events, result, line, ok)
                return True
        return False

    def _response(self, cmd: Command, prefix: str, line: str, events: list[Event]) -> None:
        index = cmd.payload_fields.get(prefix)
        if index is not None:
            fields = grammar.fields_of(line)
            if index < len(fields) and fields[index].isdigit():
                self._start_raw(Response(line), int(fields[index]), skip_lf=self._skip_lf, events=events)
                return
        if prefix in grammar.BODY_FOLLOWS:
            fields = grammar.fields_of(line)
            self._body_next = grammar.body_follows(prefix, fields)
            self._empty_text = grammar.text_may_be_empty(prefix, fields)
            self._text_need = grammar.text_length(prefix, fields) if self._body_next else None
        events.append(Response(line))
        if cmd.final_pattern is not None and patterns.fullmatch(cmd.final_pattern, line):
            self._final(events, Result.VENDOR, line, True)  # e.g. Wavecom's +CPIN: READY without OK

    def _unsolicited(self, line: str, events: list[Event], *, numeric: bool = False) -> None:
        line = line.strip(_EDGE_NOISE)
        if not line:
            return
        prefix = grammar.prefix_of(line)
        if prefix is not None:
            fields = grammar.fields_of(line)
            for pushed in self._after_line.get(prefix, ()):
                length = pushed.length(fields)
                if length is not None:
                    self._start_raw(Urc(prefix, line), length, skip_lf=self._skip_lf, events=events)
                    return
            if grammar.urc_followed_by_line(prefix, fields):
                self._pending_urc = Urc(prefix, line)
                self._empty_text = grammar.text_may_be_empty(prefix, fields)
                self._text_need = grammar.text_length(prefix, fields)
                return
            events.append(Urc(prefix, line))
            return
        name = grammar.urc_word(line)
        if name is None:
            if numeric and line in ("2", "3"):  # ATV0 RING / NO CARRIER
                name = "RING" if line == "2" else "NO CARRIER"
            elif line in grammar.CALL_PROGRESS:
                name = line
            else:
                name = line.split(":", 1)[0]
                log.debug("unsolicited line not in the grammar: %r", line)
        events.append(Urc(name, line))


# Stripped from both ends of an answer or URC line: spaces and control bytes, and 0xFF (as decoded):
# the NUL or 0xFF a UART glues to a line (a break, a module's reset) must not hide an OK.
_EDGE_NOISE = "".join(map(chr, range(0x21))) + "\x7f\udcff"


# not text: control characters but tab (and the Ctrl-Z or ESC ending echoed SMS text); the bytes that
# are not UTF-8 (kept as lone surrogates) when they outnumber the printable ASCII (`_garbled`)
_CONTROL = re.compile("[\x00-\x08\x0b-\x19\x1c-\x1f\x7f]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _garbled(line: str) -> bool:
    """Not text as a module writes it: a control character, or more bytes that are not UTF-8 than
    printable ASCII (a module at another baud rate).  An 8-bit charset's letters in a line of
    ASCII (`+COPS: 0,0,"R\xe9union"` from a module in latin-1) are not line noise."""
    if _CONTROL.search(line):
        return True
    bad = len(_NOT_UTF8.findall(line))
    return bad > 0 and bad >= sum(" " < ch <= "~" for ch in line)


def _is_noise(line: str) -> bool:
    """Line noise: not one printable ASCII character (answers and URCs always have some).

    Message text, which may be all non-ASCII, is taken before this check; a line in another
    charset (latin-1 `R\xe9union`) keeps its ASCII letters and is kept.
    """
    return not any(" " < ch <= "~" for ch in line)
