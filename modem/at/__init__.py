"""The AT command layer: sans-IO parser, command grammar, typed errors and the asyncio client."""

from modem.at.client import ATClient, Reply, RetryPolicy, UrcStream, WatchdogPolicy
from modem.at.command import Command
from modem.at.errors import (
    CallFailed,
    CMEError,
    CMSError,
    CommandError,
    CommandTimeout,
    ConnectionClosed,
    ModemError,
    PortBusy,
    SettingsRestored,
    TransportError,
    UntrustedAnswer,
)
from modem.at.grammar import Result
from modem.at.parser import ATParser, Data, Event, Final, Foreign, Prompt, PushedData, Response, Urc

__all__ = [
    "ATClient",
    "ATParser",
    "CMEError",
    "CMSError",
    "CallFailed",
    "Command",
    "CommandError",
    "CommandTimeout",
    "ConnectionClosed",
    "Data",
    "Event",
    "Final",
    "Foreign",
    "ModemError",
    "PortBusy",
    "Prompt",
    "PushedData",
    "Reply",
    "Response",
    "Result",
    "RetryPolicy",
    "SettingsRestored",
    "TransportError",
    "UntrustedAnswer",
    "Urc",
    "UrcStream",
    "WatchdogPolicy",
]
