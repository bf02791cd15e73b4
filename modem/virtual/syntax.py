"""V.250 command-line syntax: the text after "AT" split into commands.

Basic commands are a letter (or `&` and a letter) with an optional number
(`E0`, `V1`, `&F`), S-registers (`S0=2`, `S7?`), `D` takes the rest of the
line as its dial string; extended commands start with `+` (or a vendor
prefix `^ $ # %`), take `?` (read), `=?` (test), `=<args>` (set) or nothing
(execute), and end at an unquoted `;` or the end of the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from modem.virtual.results import AtError, CmeError

EXT_PREFIXES = "+^$#%*"


class Op(Enum):
    EXEC = "exec"
    READ = "read"
    TEST = "test"
    SET = "set"


@dataclass(slots=True)
class Cmd:
    """One command of a command line: `name` upper-case (`+CSQ`, `E`, `&F`, `S7`, `D`)."""

    name: str
    op: Op
    arg: str = ""  # SET: the text after '='; basic: the number; D: the dial string

    def params(self) -> list[str | None]:
        """Comma-separated parameters; quoted strings unquoted, empty ones None."""
        out: list[str | None] = []
        if self.op is not Op.SET:
            return out
        cur: list[str] = []
        quoted = False
        was_quoted = False
        for ch in self.arg:
            if ch == '"':
                quoted = not quoted
                was_quoted = True
            elif ch == "," and not quoted:
                out.append("".join(cur) if (cur or was_quoted) else None)
                cur, was_quoted = [], False
            elif quoted or ch != " ":
                cur.append(ch)
        out.append("".join(cur) if (cur or was_quoted) else None)
        return out

    def int_at(self, i: int, default: int | None = None, lo: int = 0, hi: int = 2**31) -> int:
        """Integer parameter `i` in [lo, hi]; CME 50 when absent (without default) or out of range."""
        ps = self.params()
        raw = ps[i] if i < len(ps) else None
        if raw is None or raw == "":
            if default is None:
                raise CmeError(50)
            return default
        try:
            value = int(raw)
        except ValueError:
            raise CmeError(50) from None
        if not lo <= value <= hi:
            raise CmeError(50)
        return value

    def str_at(self, i: int, default: str | None = None) -> str:
        ps = self.params()
        raw = ps[i] if i < len(ps) else None
        if raw is None:
            if default is None:
                raise CmeError(50)
            return default
        return raw


def parse_line(body: str) -> list[Cmd]:
    """Split the command line after "AT" into commands; AtError on a syntax error."""
    cmds: list[Cmd] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == " " or ch == ";":
            i += 1
            continue
        up = ch.upper()
        if ch in EXT_PREFIXES:
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_&"):
                j += 1
            name = body[i:j].upper()
            if j == i + 1:
                raise AtError()
            if body.startswith("=?", j):
                cmds.append(Cmd(name, Op.TEST))
                j += 2
            elif j < n and body[j] == "?":
                cmds.append(Cmd(name, Op.READ))
                j += 1
            elif j < n and body[j] == "=":
                k = j + 1
                quoted = False
                while k < n and (quoted or body[k] != ";"):
                    if body[k] == '"':
                        quoted = not quoted
                    k += 1
                cmds.append(Cmd(name, Op.SET, body[j + 1 : k]))
                j = k
            else:
                cmds.append(Cmd(name, Op.EXEC))
            i = j
        elif up == "D":
            cmds.append(Cmd("D", Op.EXEC, body[i + 1 :].replace(" ", "")))
            break
        elif up == "S" and i + 1 < n and body[i + 1].isdigit():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            name = "S" + str(int(body[i + 1 : j]))
            if j < n and body[j] == "?":
                cmds.append(Cmd(name, Op.READ))
                j += 1
            elif j < n and body[j] == "=":
                k = j + 1
                while k < n and body[k].isdigit():
                    k += 1
                cmds.append(Cmd(name, Op.SET, body[j + 1 : k]))
                j = k
            else:
                raise AtError()
            i = j
        elif up == "&" or up.isalpha():
            j = i + 1
            if up == "&":
                if j >= n or not body[j].isalpha():
                    raise AtError()
                j += 1
            name = body[i:j].upper()
            k = j
            while k < n and body[k].isdigit():
                k += 1
            if k < n and body[k] == "?" and up != "&":
                cmds.append(Cmd(name, Op.READ))
                k += 1
            else:
                cmds.append(Cmd(name, Op.EXEC, body[j:k]))
            i = k
        else:
            raise AtError()
    return cmds
