"""What the parser needs to know about the command in flight: its line and its grammar.

A `Command` is data: the command line, its timeout, the response prefixes it may answer with
(derived from the line, e.g. `AT+CSQ;+CREG?` -> `+CSQ`, `+CREG`), extra final lines some vendor
commands end with instead of OK (`SEND OK`, `SHUT OK`, a bare IP address for SIMCom's AT+CIFSR),
and where a binary payload follows a response line (`+QIRD: <n>`, `+CIPRXGET: 2,<n>,<left>`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EXT_NAME = re.compile(r"[+^$*%#&][A-Za-z0-9_]+")


def split_chain(line: str) -> list[str]:
    """Split `AT+CSQ;+CREG?` into its commands (`+CSQ`, `+CREG?`), ignoring `;` inside quotes."""
    body = line[2:] if line[:2].upper() == "AT" else line
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


def derive_prefixes(line: str) -> tuple[str, ...]:
    """Response prefixes of the extended commands on a command line, upper-cased (`+CREG`)."""
    out: list[str] = []
    for part in split_chain(line):
        m = _EXT_NAME.match(part)
        if m:
            out.append(m.group(0).upper())
    return tuple(out)


def command_kind(part: str) -> str:
    """`read` for `+X?`, `test` for `+X=?`, `set` for `+X=...`, `exec` otherwise."""
    if part.endswith("=?"):
        return "test"
    if part.endswith("?"):
        return "read"
    if "=" in part:
        return "set"
    return "exec"


def is_dial(line: str) -> bool:
    """True for commands whose finals include call progress (ATD, ATA, ATO)."""
    body = line[2:].lstrip().upper() if line[:2].upper() == "AT" else line.upper()
    return body[:1] in ("D", "A", "O")


@dataclass(frozen=True, slots=True)
class Command:
    """One command line and the grammar of its answer."""

    line: str
    timeout: float | None = None
    #: extra final lines and whether each means success (e.g. {"SEND OK": True, "SEND FAIL": False})
    finals: Mapping[str, bool] = field(default_factory=dict)
    #: a response line fully matching this regex is the successful final (SIMCom AT+CIFSR's bare IP)
    final_pattern: str | None = None
    #: response prefixes besides those derived from the line (e.g. `+ICCID` for AT+CCID on some modules)
    extra_prefixes: tuple[str, ...] = ()
    #: response prefix -> 0-based index of the field giving the length of binary data after that line
    payload_fields: Mapping[str, int] = field(default_factory=dict)
    #: `CONNECT` switches to data mode (ATD without `;`, transparent sockets)
    data_mode: bool = False
    #: `CONNECT <n>` is followed by n raw bytes, then more lines and a final (Quectel file reads)
    connect_payload: bool = False
    #: a transient error (`modem.at.errors.is_transient`) is retried by the client; False when the
    #: caller retries, as the lines that must come just before are to be sent again (AT+CMGF, AT+CMGS)
    retry: bool = True
    #: a final result ends the command only after an information line fully matching this regex;
    #: the finals before it are the late answers of commands abandoned earlier (their timeout
    #: expired), which the modem gives first, as it answers in order (the client's resynchronisation)
    until: str | None = None
    #: the command answers the `> ` prompt and waits for data (`ATClient.command_with_data`): a line
    #: that starts with `> ` is that prompt, with what came right after it (in ATV0 a URC has no
    #: leading line end: `> +CMTI: "SM",1`)
    prompt: bool = False
    #: the prompt the module answers before it reads the data: `> `, or `@` (u-blox's binary
    #: socket writes, AT+USOWR=<socket>,<length>: `modem.safety.SEND_FORMS`)
    prompt_mark: str = "> "
    #: the module answers the line; False for one that powers it off at once, saying nothing
    #: (SIMCom's AT+CPOWD=0): done once written
    answered: bool = True
    prefixes: tuple[str, ...] = field(init=False)
    kinds: Mapping[str, str] = field(init=False)
    dial: bool = field(init=False)

    def __post_init__(self) -> None:
        derived = derive_prefixes(self.line)
        object.__setattr__(self, "prefixes", tuple(dict.fromkeys((*derived, *self.extra_prefixes))))
        kinds: dict[str, str] = {}
        for part in split_chain(self.line):
            m = _EXT_NAME.match(part)
            if m:
                kinds[m.group(0).upper()] = command_kind(part)
        object.__setattr__(self, "kinds", MappingProxyType(kinds))
        object.__setattr__(self, "dial", is_dial(self.line))

    def first_param(self, prefix: str) -> str | None:
        """The first parameter of `+X=<p>,...` on this line, if the line sets `prefix`."""
        for part in split_chain(self.line):
            if part.upper().startswith(prefix + "=") and not part.endswith("?"):
                return part[len(prefix) + 1 :].split(",", 1)[0].strip()
        return None
