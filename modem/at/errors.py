"""Typed errors of the AT layer: one base class, result codes as exception classes.

`+CME ERROR` and `+CMS ERROR` finals become `CMEError` / `CMSError` (or a subclass for the codes a
caller commonly handles, e.g. `SimBusy`, `SimPinRequired`), carrying the code and its 27.007 / 27.005
meaning.  A call-progress final (`NO CARRIER`, `BUSY`, ...) on a dial command becomes `CallFailed`.
"""

from __future__ import annotations

from modem.at.codes import (
    TRANSIENT_CME,
    TRANSIENT_CMS,
    cme_code_from_text,
    cme_meaning,
    cms_code_from_text,
    cms_meaning,
)


class ModemError(Exception):
    """Base class of every error raised by the modem package's AT layer and drivers."""


class TransportError(ModemError):
    """The byte pipe could not be opened or broke (OS errors are mapped here, at the edge)."""


class ConnectionClosed(TransportError):
    """The transport reached end of file while a command was waiting."""


class PortBusy(TransportError):
    """A serial port another program has open or locked (`modem.portholders`): refused before
    a byte is written, naming who holds it."""


class UntrustedAnswer(ModemError):
    """What the modem sent cannot be an answer to this client: an echo of a command line it did
    not send, a final result while none of its commands waits for one.  Another program is writing to the
    modem, so no answer on the port can be trusted."""


class SettingsRestored(ModemError):
    """A command with data (AT+CMGS, AT+CMGW) waited, unsent, for a restart (or a reset) of the
    module and the client's settings set again after it: the line its caller sent just before it
    (AT+CMGF, which the command guard wants on the line before AT+CMGS) no longer is, and is to be
    sent again, then the command.  Nothing of the command was sent."""

    def __init__(self, command: str, after: str) -> None:
        super().__init__(
            f"{command!r}: not sent: it waited for {after!r} and the settings set again after it; "
            "the lines before it (AT+CMGF) are to be sent again"
        )
        self.command = command
        self.after = after


class CommandTimeout(ModemError):
    """No final result arrived within the command's timeout."""

    def __init__(self, command: str, timeout: float, *, not_sent: str | None = None) -> None:
        if not_sent is None:
            super().__init__(f"{command!r}: no final result within {timeout:g} s")
        else:  # an earlier command timed out, and the modem answered nothing since
            super().__init__(
                f"{command!r}: not sent: an earlier command timed out, and the modem did not answer "
                f"{not_sent} within {timeout:g} s either (sent to skip that command's late answer)"
            )
        self.command = command
        self.timeout = timeout
        self.not_sent = not_sent


class ModemNotAnswering(CommandTimeout):
    """A command timed out and the modem answered nothing else either: not the watchdog's probe
    (`ATS3?`), nor `ATQ0` after its recovery (ESC, `+++`).  Off, on another port, or at another
    baud rate.  `recovery_time`: the seconds the probe and the recovery took after the command's
    own timeout (with the default `WatchdogPolicy` at most 8 s: the probe 2 s, the guard time 1 s,
    `+++` and its answer's wait 1 + 2 s, `ATQ0` 2 s)."""

    def __init__(
        self,
        command: str,
        timeout: float,
        url: str,
        recovery: str,
        noise: int = 0,
        recovery_time: float = 0.0,
    ) -> None:
        super().__init__(command, timeout)
        self.noise = noise
        self.recovery_time = recovery_time
        took = (
            f" (the command waited {timeout:g} s, then the watchdog's probe and its recovery, ESC and the "
            f"+++ escape with its guard times, {recovery_time:.1f} s)"
        )
        if noise:  # bytes came, none of them text: the rates differ (a module restarted at its own)
            self.args = (
                f"{command!r}: no final result within {timeout:g} s, and {url} answers nothing that "
                f"reads as text, not the watchdog's probe, nor {recovery} after its recovery{took}: "
                f"{noise} bytes of line noise came instead, as from a modem at another baud rate (one "
                "that restarted at its default or auto-baud rate?)",
            )
            return
        self.args = (
            f"{command!r}: no final result within {timeout:g} s, and {url} answers nothing, not the "
            f"watchdog's probe, nor {recovery} after its recovery{took}: is the modem powered, on this "
            "port, at this baud rate?",
        )


class CommandError(ModemError):
    """The modem answered a plain `ERROR` (or a vendor failure final such as `SEND FAIL`)."""

    def __init__(self, command: str, final: str = "ERROR", lines: tuple[str, ...] = ()) -> None:
        super().__init__(f"{command!r}: {final}")
        self.command = command
        self.final = final
        self.lines = lines


class CMEError(CommandError):
    """`+CME ERROR: <err>`: a mobile-equipment error, TS 27.007 §9.2."""

    code: int | None
    meaning: str

    def __init__(self, command: str, code: int | None, text: str = "", lines: tuple[str, ...] = ()) -> None:
        self.code = code
        self.meaning = cme_meaning(code) if code is not None else text
        label = f"+CME ERROR: {code if code is not None else text}"
        CommandError.__init__(self, command, label, lines)
        self.args = (f"{command!r}: {label} ({self.meaning})",)


class CMSError(CommandError):
    """`+CMS ERROR: <err>`: a message-service error, TS 27.005 §3.2.5."""

    code: int | None
    meaning: str

    def __init__(self, command: str, code: int | None, text: str = "", lines: tuple[str, ...] = ()) -> None:
        self.code = code
        self.meaning = cms_meaning(code) if code is not None else text
        label = f"+CMS ERROR: {code if code is not None else text}"
        CommandError.__init__(self, command, label, lines)
        self.args = (f"{command!r}: {label} ({self.meaning})",)


def is_transient(exc: ModemError) -> bool:
    """A "not ready" error worth retrying a little later: SIM busy (CME 14, CMS 314), please wait
    (CME 515, also while a module initialises after a reset), ..."""
    if isinstance(exc, CMEError):
        return exc.code in TRANSIENT_CME
    return isinstance(exc, CMSError) and exc.code in TRANSIENT_CMS


class SimNotInserted(CMEError):
    """CME 10."""


class SimPinRequired(CMEError):
    """CME 11."""


class SimPukRequired(CMEError):
    """CME 12."""


class SimFailure(CMEError):
    """CME 13."""


class SimBusy(CMEError):
    """CME 14: the SIM is still initialising; transient."""


class IncorrectPassword(CMEError):
    """CME 16."""


class OperationNotAllowed(CMEError):
    """CME 3."""


class OperationNotSupported(CMEError):
    """CME 4."""


class NoNetworkService(CMEError):
    """CME 30."""


class NetworkTimeout(CMEError):
    """CME 31."""


class PleaseWait(CMEError):
    """CME 515 (vendor): the module is initialising or busy; transient."""


class SmsSimBusy(CMSError):
    """CMS 314: (U)SIM busy; transient."""


class SmscAddressUnknown(CMSError):
    """CMS 330."""


class SmsNoNetworkService(CMSError):
    """CMS 331."""


class InvalidMemoryIndex(CMSError):
    """CMS 321."""


class CallFailed(ModemError):
    """A dial command ended with a call-progress final: NO CARRIER, BUSY, NO ANSWER or NO DIALTONE."""

    def __init__(self, command: str, final: str) -> None:
        super().__init__(f"{command!r}: {final}")
        self.command = command
        self.final = final


_CME_CLASSES: dict[int, type[CMEError]] = {
    3: OperationNotAllowed,
    4: OperationNotSupported,
    10: SimNotInserted,
    11: SimPinRequired,
    12: SimPukRequired,
    13: SimFailure,
    14: SimBusy,
    16: IncorrectPassword,
    30: NoNetworkService,
    31: NetworkTimeout,
    515: PleaseWait,
}

_CMS_CLASSES: dict[int, type[CMSError]] = {
    314: SmsSimBusy,
    321: InvalidMemoryIndex,
    330: SmscAddressUnknown,
    331: SmsNoNetworkService,
}


def cme_error(command: str, value: str, lines: tuple[str, ...] = ()) -> CMEError:
    """Build the typed exception for a `+CME ERROR: <value>` final (numeric or verbose form)."""
    value = value.strip()
    code = int(value) if value.isdigit() else cme_code_from_text(value)
    cls = _CME_CLASSES.get(code, CMEError) if code is not None else CMEError
    return cls(command, code, value, lines)


def cms_error(command: str, value: str, lines: tuple[str, ...] = ()) -> CMSError:
    """Build the typed exception for a `+CMS ERROR: <value>` final (numeric or verbose form)."""
    value = value.strip()
    code = int(value) if value.isdigit() else cms_code_from_text(value)
    cls = _CMS_CLASSES.get(code, CMSError) if code is not None else CMSError
    return cls(command, code, value, lines)
