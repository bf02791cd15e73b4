"""Command sets: the AT commands the virtual modem knows, in named groups a profile lists.

A `CommandSet` holds its commands (`@SET.command("+CSQ")` on each handler) and, for a vendor
set that keeps state between commands (SIMCom's TCP/IP stack state, Quectel's push modes), a
factory of that state: each modem makes one per set its profile names, and the set's handlers
reach theirs with `SET.state(m)`.  A module reset (AT+CFUN=1,1, AT+CFUN=0 or 4, power off and
on) runs each set's `reset` hook: a stateful set's state is made anew, as the module boots with
it, after the set's own `on_reset` (what it had told the rest of the modem, taken back), unless the
set keeps it (`kept=True`: a module's file system, in flash).
`modem.virtual.sets` lists every set by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar, cast

from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

Handler: TypeAlias = "Callable[[VirtualModem, Cmd], Final | None]"
S = TypeVar("S")

#: `pure=` of a command whose every form only reads (the identities, +CSQ)
ALL_FORMS: frozenset[Op] = frozenset(Op)
#: `pure=` of a setting whose read (`?`) and test (`=?`) forms only read (+CREG, +CFUN...)
QUERIES: frozenset[Op] = frozenset({Op.READ, Op.TEST})


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    group: str  # the name of the set it belongs to
    handler: Handler
    sim: bool  # needs the SIM: answers CME 14 while the SIM is busy
    listed: bool  # shown by AT+CLAC
    #: the forms whose answer depends on the modem's state alone and that change nothing: a line made of
    #: such commands is answered from the modem's memo while nothing changes (`VirtualModem.answer`)
    pure: frozenset[Op] = frozenset()


class CommandSet:
    """A named group of commands (the names a profile's `commands:` lists)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: dict[str, Spec] = {}

    def command(
        self, *names: str, sim: bool = False, listed: bool = True, pure: Iterable[Op] = ()
    ) -> Callable[[Handler], Handler]:
        """Add `handler` under every name in `names` (upper-case, with the prefix: `+CSQ`, `E`, `&F`).

        `pure`: the forms (`ALL_FORMS`, `QUERIES`) that only read the modem's state (no timer, no random
        draw, no change, nothing that depends on the time): their answers may be replayed."""
        forms = frozenset(pure)

        def add(handler: Handler) -> Handler:
            for name in names:
                self.commands[name] = Spec(name, self.name, handler, sim, listed, forms)
            return handler

        return add

    def new_state(self) -> object | None:
        """The state one modem keeps for this set (None: the set keeps none)."""
        return None

    def reset(self, m: VirtualModem) -> None:
        """The module resets (its sockets and contexts already ended): nothing to do for a set
        that keeps no state."""
        return None

    def __repr__(self) -> str:
        return f"CommandSet({self.name!r}, {len(self.commands)} commands)"


class StatefulSet(CommandSet, Generic[S]):
    """A command set whose commands share state in each modem (made by `state_factory`)."""

    def __init__(
        self,
        name: str,
        state_factory: Callable[[], S],
        on_reset: Callable[[VirtualModem], None] | None = None,
        kept: bool = False,
    ) -> None:
        super().__init__(name)
        self._factory = state_factory
        self._on_reset = on_reset
        self._kept = kept  # the state outlives a reset (a module's flash): only `on_reset` runs

    def new_state(self) -> S:
        return self._factory()

    def state(self, m: VirtualModem) -> S:
        """This set's state in modem `m` (made when the modem was, as its profile names the set)."""
        return cast(S, m.set_states[self.name])

    def reset(self, m: VirtualModem) -> None:
        """The module resets: `on_reset`, then the state as a new modem has it."""
        if self.name not in m.set_states:
            return
        if self._on_reset is not None:
            self._on_reset(m)
        if not self._kept:
            m.set_states[self.name] = self._factory()


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
