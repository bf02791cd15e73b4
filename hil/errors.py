"""Typed errors of the bench harness.

Refusals of the safety rules themselves are `modem.safety.SafetyError` (`NoDialPolicy`,
`NumberNotAllowed`): the harness re-raises them unchanged so a caller sees one kind of refusal
whether the harness or the driver stopped the send.
"""

from __future__ import annotations

from m2msim.yamlio import YamlError


class HilError(Exception):
    """Base class of the bench harness's errors."""


class AllowListError(YamlError, HilError, ValueError):
    """A bench allow-list file that cannot be used: names the file, the line and the key path."""

    def __init__(self, source: str, line: int | None, field: str, reason: str) -> None:
        super().__init__(source, line, field, reason)
        self.field = field


class UnknownScript(HilError, ValueError):
    """No bench script by that name."""


class ScriptFileError(UnknownScript):
    """A user's script file that cannot be used (not a bench script module, a bad YAML script):
    the message names the file, and the line when there is one."""


class ScriptParamError(HilError, ValueError):
    """A bench script parameter that cannot be used (wrong name or value)."""


class ScriptSkipped(HilError):
    """The modem lacks what a script needs (e.g. no TCP stack in its profile): the run is skipped."""


class NotRegistered(HilError):
    """The modem did not register on a network within the script's time."""


class ModemRestarted(HilError):
    """The modem restarted during the run without a command of the run asking for it."""
