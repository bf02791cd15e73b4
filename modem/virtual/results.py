"""Final result codes and the errors a command handler raises (V.250, 27.007 9.2, 27.005 3.2.5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Final:
    """A final result code: its verbose text and its V.250 numeric code (-1: none)."""

    text: str
    code: int


OK = Final("OK", 0)
CONNECT = Final("CONNECT", 1)
RING = Final("RING", 2)
NO_CARRIER = Final("NO CARRIER", 3)
ERROR = Final("ERROR", 4)
NO_DIALTONE = Final("NO DIALTONE", 6)
BUSY = Final("BUSY", 7)
NO_ANSWER = Final("NO ANSWER", 8)
# The line ends with no final result (SIMCom's AT+CIFSR answers the bare IP address).
SILENT = Final("", -1)
# The handler opened a text-entry prompt ("> "); the rest of the line is dropped.
PROMPT = Final("", -2)
# The command finishes later (`VirtualModem.defer`): nothing now, input waits.
DEFERRED = Final("", -3)


def connect(rate: int) -> Final:
    return Final(f"CONNECT {rate}", 1)


class AtError(Exception):
    """Ends the command line with an error final result."""

    def __init__(self, code: int = -1) -> None:
        super().__init__(code)
        self.code = code


class CmeError(AtError):
    """`+CME ERROR: <err>` (27.007 9.2), or ERROR when +CMEE=0."""


class CmsError(AtError):
    """`+CMS ERROR: <err>` (27.005 3.2.5)."""


# 27.007 9.2.1 / 9.2.2: the codes this modem uses, with their verbose texts (+CMEE=2).
CME_TEXT: dict[int, str] = {
    0: "phone failure",
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    50: "Incorrect parameters",
    100: "unknown",
    103: "Illegal MS",
    106: "Illegal ME",
    107: "GPRS services not allowed",
    111: "PLMN not allowed",
    113: "Roaming not allowed in this location area",
    132: "service option not supported",
    133: "requested service option not subscribed",
    134: "service option temporarily out of order",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    515: "Please wait, init or command processing in progress",
    533: "Missing or unknown APN",
}

# 27.005 3.2.5 (300-500) and TS 24.011 RP causes (0-127) used by this modem.
CMS_TEXT: dict[int, str] = {
    1: "Unassigned (unallocated) number",
    10: "Call barred",
    21: "Short message transfer rejected",
    22: "Memory capacity exceeded",
    27: "Destination out of service",
    28: "Unidentified subscriber",
    29: "Facility rejected",
    30: "Unknown subscriber",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Congestion",
    47: "Resources unavailable, unspecified",
    50: "Requested facility not subscribed",
    69: "Requested facility not implemented",
    96: "Invalid mandatory information",
    111: "Protocol error, unspecified",
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    314: "SIM busy",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}


def rp_cause_code(name: str | None) -> int:
    """The CMS code of a TS 24.011 RP cause given by name (the gateway's refusal reason); 500 if unknown."""
    if not name:
        return 500
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    for code, text in CMS_TEXT.items():
        if code < 300 and "".join(ch for ch in text.lower() if ch.isalnum()) == key:
            return code
    return 500
