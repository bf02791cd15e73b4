"""The table of AT commands the virtual modem knows, grouped in command sets named by profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from modem.virtual.results import Final
from modem.virtual.syntax import Cmd

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
