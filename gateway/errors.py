"""Typed errors of the gateway.

Refusals a real network answers (unknown APN, CSD on a DTMF offer, a device out
of reach) are *results* (`gateway.api`); the errors below are for malformed
input and programming errors: a malformed identity, a volume that cannot be,
an unknown session id, time going backwards.  Each names the field and the
value at fault.
"""

from __future__ import annotations

from m2msim.yamlio import YamlError


class GatewayError(Exception):
    """Base class of the gateway's errors."""


class InvalidIdentity(GatewayError, ValueError):
    """A malformed IMSI, IMEI(SV), MSISDN or PLMN id."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field} {value!r}: {reason}")


class InvalidVolume(GatewayError, ValueError):
    """A negative or absurd byte or packet count."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field} {value!r}: {reason}")


class OutOfOrder(GatewayError, ValueError):
    """An event dated before an earlier event of the same line, session or call."""

    def __init__(self, what: str, now: float, last: float) -> None:
        self.what = what
        self.now = now
        self.last = last
        super().__init__(f"{what}: time went backwards ({now} < {last})")


class UnknownLine(GatewayError, KeyError):
    """A line id the network has not been told about (`register_subscriber`)."""

    def __init__(self, line_id: str) -> None:
        self.line_id = line_id
        super().__init__(f"unknown line {line_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownSession(GatewayError, KeyError):
    """A session id the network never issued."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"unknown session {session_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownCall(GatewayError, KeyError):
    """A call id the switch never issued."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        super().__init__(f"unknown call {call_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigError(GatewayError, ValueError):
    """An unusable gateway data file or setting (names the file and the key)."""


class ConfigFileError(YamlError, ConfigError):
    """An unusable gateway file (alarms, data tables): `source:line: key.path: reason`."""


class InvalidRequest(GatewayError, ValueError):
    """A request that cannot be understood (an unknown call kind, a bad setting of a call)."""
