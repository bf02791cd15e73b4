"""The AT grammar as data: final result codes, unsolicited words, and which prefixed lines are answers.

The rule the parser applies (h11's model: grammar, not timing): a `+NAME:` line is a response only
if `+NAME` is a prefix of the command in flight and the prefix's rule below accepts its fields;
every other prefixed line is unsolicited.  A bare line is a response unless it is one of the
unsolicited words (RING, RDY, Call Ready, `0, CLOSED`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import Enum

from modem import patterns
from modem.at.command import Command


class Result(Enum):
    """Final result codes of V.250 / 27.007 / 27.005, plus command-declared vendor finals."""

    OK = "OK"
    CONNECT = "CONNECT"
    NO_CARRIER = "NO CARRIER"
    ERROR = "ERROR"
    NO_DIALTONE = "NO DIALTONE"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"
    VENDOR = "vendor"


# V.250 §5.7.1 table 1: numeric (ATV0) result codes.  2 is RING (unsolicited), 5 is unused.
NUMERIC_RESULTS: dict[str, Result] = {
    "0": Result.OK,
    "1": Result.CONNECT,
    "3": Result.NO_CARRIER,
    "4": Result.ERROR,
    "6": Result.NO_DIALTONE,
    "7": Result.BUSY,
    "8": Result.NO_ANSWER,
}
CALL_PROGRESS = {
    "NO CARRIER": Result.NO_CARRIER,
    "BUSY": Result.BUSY,
    "NO ANSWER": Result.NO_ANSWER,
    "NO DIALTONE": Result.NO_DIALTONE,
}
_CONNECT = re.compile(r"CONNECT(?: (\d[^\r\n]*))?")

# Bare unsolicited lines: boot and power notices, SIMCom socket notices, call notices.
URC_WORDS: frozenset[str] = frozenset(
    {
        "RING",
        "RDY",
        "Call Ready",
        "SMS Ready",
        "NORMAL POWER DOWN",
        "POWERED DOWN",
        "POWER DOWN",
        "UNDER-VOLTAGE POWER DOWN",
        "UNDER-VOLTAGE WARNNING",
        "OVER-VOLTAGE POWER DOWN",
        "OVER-VOLTAGE WARNNING",
        "CLOSED",
        "CONNECT OK",
        "CONNECT FAIL",
        "ALREADY CONNECT",
        "PDP DEACT",
        "SERVER OK",
        "SERVER CLOSE",
        "APP RDY",
        # SIMCom SIM7600 / SIM7000 once the SIM's phonebook and SMS are read after boot
        "PB DONE",
        "SMS DONE",
    }
)
# SIMCom multi-socket notices: `0, CLOSED`, `1, CONNECT OK`, `RECV FROM:1.2.3.4:5000`, and a server's
# client `0, REMOTE IP: 1.2.3.4` (`REMOTE IP: 1.2.3.4` with one connection).
URC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("CLOSED", re.compile(r"\d+, CLOSED")),
    ("CONNECT OK", re.compile(r"\d+, CONNECT OK")),
    ("CONNECT FAIL", re.compile(r"\d+, CONNECT FAIL")),
    ("ALREADY CONNECT", re.compile(r"\d+, ALREADY CONNECT")),
    ("RECV FROM", re.compile(r"RECV FROM:.*")),
    ("REMOTE IP", re.compile(r"(?:\d+, )?REMOTE IP:.*")),
)

_PREFIX = re.compile(r"([+^*$%#][A-Za-z0-9_]+)\s*[:,]")


def prefix_of(line: str) -> str | None:
    """`+CREG` for `+CREG: 0,1`, `^RSSI` for `^RSSI:17`; None for a bare line."""
    m = _PREFIX.match(line)
    return m.group(1).upper() if m else None


def split_fields(text: str) -> list[str]:
    """Split a parameter list on commas outside double quotes; fields keep their quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    out.append("".join(current).strip())
    return out


def fields_of(line: str) -> list[str]:
    """The parameters after `+NAME:` (empty list when there are none)."""
    m = _PREFIX.match(line)
    if m:
        rest = line[m.end() :].strip()
        if line[m.end() - 1] == ",":  # `+RECEIVE,0,5:` / `+IPD,5:` forms
            rest = rest.removesuffix(":")
    else:
        _, sep, rest = line.partition(":")
        rest = rest.strip() if sep else ""
    return split_fields(rest) if rest else []


def unquote(field: str) -> str:
    return field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field


def _registration(cmd: Command, prefix: str, fields: list[str]) -> bool:
    # Read answer `+CREG: <n>,<stat>[,"lac","ci"]`: the second field is an unquoted number.
    # The URC `+CREG: <stat>[,"lac","ci"]` has one field or a quoted second field.
    kind = cmd.kinds.get(prefix)
    if kind == "test":
        return True
    return kind == "read" and len(fields) >= 2 and fields[1].isdigit()


def _caller_id(cmd: Command, prefix: str, fields: list[str]) -> bool:
    # `AT+CLIP?` answers `+CLIP: <n>,<m>`; the URC `+CLIP: "<number>",<type>,...` starts with a quote.
    return bool(fields) and not fields[0].startswith('"')


def _read_or_test(cmd: Command, prefix: str, fields: list[str]) -> bool:
    # USSD results, socket-open results: answers only to the read / test forms.
    return cmd.kinds.get(prefix) in ("read", "test")


def _ciprxget(cmd: Command, prefix: str, fields: list[str]) -> bool:
    # `+CIPRXGET: 1[,<id>]` is the "data arrived" URC; reads answer with mode 2, 3 or 4.
    return cmd.kinds.get(prefix) in ("read", "test") or (bool(fields) and fields[0] != "1")


ResponseRule = Callable[[Command, str, list[str]], bool]
RESPONSE_RULES: dict[str, ResponseRule] = {
    "+CREG": _registration,
    "+CGREG": _registration,
    "+CEREG": _registration,
    "+C5GREG": _registration,
    "+CLIP": _caller_id,
    "+CCWA": _caller_id,
    "+CUSD": _read_or_test,
    "+QIOPEN": _read_or_test,
    "+CIPRXGET": _ciprxget,
}


def is_response(cmd: Command, prefix: str, line: str) -> bool:
    """Whether a `+NAME:` line is a plausible answer to the command in flight."""
    if prefix not in cmd.prefixes:
        return False
    rule = RESPONSE_RULES.get(prefix)
    return rule is None or rule(cmd, prefix, fields_of(line))


def urc_word(line: str) -> str | None:
    """The name of a bare unsolicited line, or None if the line is not one."""
    if line in URC_WORDS:
        return line
    for name, pattern in URC_PATTERNS:
        if pattern.fullmatch(line):
            return name
    return None


def urc_followed_by_line(prefix: str, fields: list[str]) -> bool:
    """Unsolicited results whose data is on the next line (27.005 §3.4.1): +CMT and +CBM in either
    mode, +CDS in PDU mode (`+CDS: <length>`; in text mode its fields are on its one line)."""
    if prefix in ("+CMT", "+CBM"):
        return True
    return prefix == "+CDS" and len(fields) == 1


# Response lines whose next line is message text / PDU, never to be read as a URC (27.005 §3.4.2/3).
BODY_FOLLOWS: frozenset[str] = frozenset({"+CMGR", "+CMGL"})

# The most characters an SMS's text-mode <length> can give (160 GSM 7-bit characters); a <length>
# above it is not a message's, and the text is then taken as one line.
MAX_TEXT_LENGTH = 160


def _number(field: str) -> bool:
    return field.isdigit()


def body_follows(prefix: str, fields: list[str]) -> bool:
    """Whether a `+CMGR:` / `+CMGL:` header is followed by a line of message text or PDU.

    In text mode a status report is its header alone (27.005 §3.4.2/3: `+CMGR: <stat>,<fo>,<mr>,...`,
    `+CMGL: <index>,<stat>,<fo>,<mr>,...`), told from a message by its <fo>, a number where a
    message has its address in quotes; so is an SMS-COMMAND in a listing, and in a read unless its
    header gives the command's <length> (then its <cdata> follows, in hex).  In PDU mode a PDU
    always follows."""
    if prefix == "+CMGR":
        text_mode = bool(fields) and fields[0].startswith('"')
        if not text_mode or len(fields) < 2 or not _number(fields[1]):
            return True
        if unquote(fields[0]).upper().startswith("STO"):  # an SMS-COMMAND (MO): <cdata> with <length>
            return len(fields) >= 8 and _number(fields[-1]) and int(fields[-1]) > 0
        return False
    if prefix == "+CMGL":
        text_mode = len(fields) > 1 and fields[1].startswith('"')
        return not (text_mode and len(fields) > 2 and _number(fields[2]))
    return False


def text_length(prefix: str, fields: list[str]) -> int | None:
    """The <length> of a text-mode message header that gives it (AT+CSDH=1), in characters: the
    text that follows may hold line breaks (anybody can text `hi<LF>OK`) and runs on until that
    many characters are read.  None for a header that gives none (AT+CSDH=0, where the text is
    taken as one line), a PDU-mode header (a PDU is one line), a status report or command, or a
    <length> above `MAX_TEXT_LENGTH`.

    27.005 §3.4.1-3 with the header fields shown: `+CMT: <oa>,[<alpha>],<scts>,<tooa>,<fo>,<pid>,
    <dcs>,<sca>,<tosca>,<length>` (10 fields), `+CMGR: <stat>,<oa/da>,[<alpha>],...,<length>` (11),
    `+CMGL: <index>,<stat>,<oa/da>,[<alpha>],[<scts>],<tooa/toda>,<length>` (7)."""
    if prefix == "+CMT":
        count, text_mode = 10, len(fields) > 2
    elif prefix == "+CMGR":
        count = 11
        text_mode = bool(fields) and fields[0].startswith('"') and body_follows(prefix, fields)
    elif prefix == "+CMGL":
        count = 7
        text_mode = len(fields) > 1 and fields[1].startswith('"') and body_follows(prefix, fields)
    else:
        return None
    if not text_mode or len(fields) != count or not _number(fields[-1]):
        return None
    length = int(fields[-1])
    return length if length <= MAX_TEXT_LENGTH else None


def text_unbounded(prefix: str, fields: list[str]) -> bool:
    """Whether this is a text-mode message header without its <length> (AT+CSDH=0, the power-up
    setting): its text is taken as the one line after it, so a line break in the text ends it there,
    and the text's later lines (a line `OK`, `ERROR`, `+CMTI: ...`) read as answer lines, the end
    of the answer or URCs."""
    if prefix not in ("+CMT", "+CMGR", "+CMGL") or (prefix != "+CMT" and not body_follows(prefix, fields)):
        return False
    return text_may_be_empty(prefix, fields) and text_length(prefix, fields) is None


def text_may_be_empty(prefix: str, fields: list[str]) -> bool:
    """Whether the message line after this header may be empty: a text-mode header (27.005 §3.4.3,
    §4.1; an empty SMS has empty text), told by its status or address in quotes where PDU mode has
    a number (`+CMGR: "REC READ",...` / `+CMGR: 0,,22`, `+CMGL: 1,"REC READ",...` / `+CMGL: 1,0,,22`)
    or, for `+CMT`, by its timestamp where PDU mode has only `[<alpha>],<length>`.  A PDU is never
    empty."""
    if prefix == "+CMGR":
        return bool(fields) and fields[0].startswith('"')
    if prefix == "+CMGL":
        return len(fields) > 1 and fields[1].startswith('"')
    return prefix == "+CMT" and len(fields) > 2


_BASIC = re.compile(r"(&[A-Z]|\\[A-Z]|S\d+(?:=\d*|\?)?|[A-Z])(\d*)")


def verbose_after(line: str) -> bool | None:
    """Whether the modem answers in words (ATV1, True) or digits (ATV0, False) once `line` is done,
    or None when the line does not change it (V.250 §6.2.6; ATZ and AT&F bring back V1, the
    factory setting).  Only the basic commands before a dial or an extended command are read."""
    sets, verbose = _basic_setting_after(line, "V", after_reset=True)
    return verbose if sets else None


def verbosity_from_stored_profile(line: str) -> bool:
    """Whether the result format is the stored profile's once `line` is done: ATZ with no ATV or
    AT&F after it on the line (a profile stored with AT&W may hold ATV0; AT&F's is ATV1)."""
    upper = line.upper()
    start = upper.find("AT")
    if start < 0:
        return False
    body = upper[start + 2 :].replace(" ", "")
    last = ""
    i = 0
    while i < len(body):
        m = _BASIC.match(body, i)
        if m is None or m.group(1) == "D":
            break
        if m.group(1) in ("Z", "&F", "V"):
            last = m.group(1)
        i = m.end()
    return last == "Z"


def echo_after(line: str) -> tuple[bool, bool | None]:
    """Whether `line` sets the echo (V.250 §6.2.4 ATE), and to what once it is done: True (ATE1),
    False (ATE0), None (not known: ATZ brings back the stored profile, whose echo may be either)."""
    return _basic_setting_after(line, "E", after_reset=None)


#: Lines that restart the module or power it off (to be powered on again): AT+CFUN=<fun>,1 (27.007
#: reset), AT+CFUN=15 (u-blox), SIMCom's AT+CRESET and AT+CPOWD, Quectel's AT+QPOWD and AT+QRST.
#: Searched for outside the line's quoted parameters (`restarts`); a driver profile's `restarts`
#: name its family's others (AT+CFUN=1 on a Wavecom, Telit's AT#REBOOT).  The one list of restarts:
#: the client waits for them and sets its settings again, the command guard and
#: `modem.safety.costly_command` take them for resets.
RESTART_COMMAND = re.compile(
    r"\+(?:CFUN\s*=\s*\d*\s*,\s*1|CFUN\s*=\s*15|CRESET|CPOWD|QPOWD|QRST)\b(?!\?|=\?)", re.IGNORECASE
)
# A line's quoted string parameters (a URL, a text, a number), which name no command of their own
QUOTED = re.compile(r'"[^"]*"?')


def restart_patterns(texts: Iterable[str]) -> list[re.Pattern[str]]:
    """A driver profile's `restarts` (regular expressions, checked at load) compiled as `restarts`
    searches them: case ignored, as a module reads a line."""
    return [re.compile(text, re.IGNORECASE) for text in texts]


def restarts(line: str, family: Iterable[re.Pattern[str]] = ()) -> bool:
    """Whether `line`, answered, restarts the module or powers it off: one of `RESTART_COMMAND`, or
    of the lines its family restarts on (`family`: `restart_patterns` of the driver profile's
    `restarts`), outside the line's quoted parameters (not a "+CRESET" in a URL)."""
    bare = QUOTED.sub('""', line)
    return RESTART_COMMAND.search(bare) is not None or any(
        patterns.search(rx, bare) is not None for rx in family
    )


def resets(line: str) -> bool:
    """Whether `line` brings back the stored profile (ATZ) or the factory settings (AT&F)."""
    return _basic_setting_after(line, "", after_reset=True)[0]


def _basic_setting_after(line: str, name: str, *, after_reset: bool | None) -> tuple[bool, bool | None]:
    """(whether the line sets the basic setting `name`, its value once the line is done); ATZ and
    AT&F set it to `after_reset`."""
    upper = line.upper()
    start = upper.find("AT")
    if start < 0:
        return False, None
    body = upper[start + 2 :].replace(" ", "")
    sets, value = False, None
    i = 0
    while i < len(body):
        m = _BASIC.match(body, i)
        if m is None or m.group(1) == "D":
            break
        if m.group(1) == name:
            sets, value = True, m.group(2) not in ("", "0")
        elif m.group(1) in ("Z", "&F"):
            sets, value = True, after_reset
        i = m.end()
    return sets, value


def parse_connect(line: str) -> str | None:
    """The speed text of a `CONNECT [speed]` line ("" without speed), or None if not one."""
    m = _CONNECT.fullmatch(line)
    if not m:
        return None
    return m.group(1) or ""
