"""The table of AT commands the virtual modem knows, grouped in command sets named by profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

Handler: TypeAlias = "Callable[[VirtualModem, Cmd], Final | None]"


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    group: str
    handler: Handler
    sim: bool  # needs the SIM: answers CME 14 while the SIM is busy
    listed: bool  # shown by AT+CLAC


COMMANDS: dict[str, Spec] = {}


def command(*names: str, group: str, sim: bool = False, listed: bool = True) -> Callable[[Handler], Handler]:
    """Register `handler` for every name in `names` (upper-case, with the prefix: `+CSQ`, `E`, `&F`)."""

    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Spec(name, group, handler, sim, listed)
        return handler

    return register


def numeric_setting(
    m: VirtualModem, c: Cmd, attr: str, hi: int, shown: Callable[[int], str] = str
) -> Final | None:
    """A setting 0..hi kept in `m.settings.<attr>`: `?` shows it (through `shown`), `=?` its range,
    `=n` sets it; the bare command is not supported (CME 50), as for +CREG and +CLIP on modules."""
    if c.op is Op.READ:
        m.info(f"{c.name}: {shown(getattr(m.settings, attr))}")
    elif c.op is Op.TEST:
        m.info(f"{c.name}: (0,1)" if hi == 1 else f"{c.name}: (0-{hi})")
    elif c.op is Op.SET:
        setattr(m.settings, attr, c.int_at(0, 0, 0, hi))
    else:
        raise CmeError(50)
    return None
