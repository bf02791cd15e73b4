"""A modem that restarts in the middle of a run: noticed, written to the transcript, and the run's
verdict.

SIMCom and Quectel modules print `RDY` when their serial port is ready after power-on or a reset,
before they answer AT.  Once the bench's initialisation has been answered, a `RDY` means the
module restarted: a supply that sags under a transmit burst (up to 2 A on GSM), a watchdog, a
firmware crash.  Its settings went back to their defaults (echo on, +CMEE, URCs off) and its
calls, PDP contexts and sockets are gone, so a run that went on is no proof of anything.  A restart
a command of the run asked for (`AT+CFUN=1,1`, `AT+CRESET`, ...) is only noted.
"""

from __future__ import annotations

import re

from hil.transcript import Transcript
from modem.at.parser import Urc

BOOT_URCS = frozenset({"RDY"})
# commands that restart or power off the module: after them a boot URC is expected
RESET_COMMAND = re.compile(r"AT\+(CFUN=\d*,1|CRESET|CPOWD|QPOWD|QRST|CFUN=15)\b", re.IGNORECASE)


class RestartWatch:
    """A URC callback (subscribe it to `BOOT_URCS` once the modem has answered): each restart is a
    `note` in the transcript; `unexpected` has the elapsed seconds of those nothing asked for."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.unexpected: list[tuple[float, str]] = []
        self._seen = len(transcript.commands)

    def __call__(self, urc: Urc) -> None:
        commands = self.transcript.commands
        asked = any(RESET_COMMAND.match(c["command"]) for c in commands[self._seen :])
        self._seen = len(commands)
        at = self.transcript.elapsed()
        if asked:
            self.transcript.record("note", text=f"the modem restarted ({urc.line}), as the run asked")
            return
        self.unexpected.append((at, urc.line))
        self.transcript.record(
            "note", text=f"the modem restarted ({urc.line}) without being asked", restart=True
        )

    def reason(self) -> str | None:
        """Why the run cannot pass, or None when the modem did not restart on its own."""
        if not self.unexpected:
            return None
        when = ", ".join(f"{at:.1f} s ({line})" for at, line in self.unexpected)
        times = "once" if len(self.unexpected) == 1 else f"{len(self.unexpected)} times"
        return (
            f"the modem restarted {times} during the run, at {when}, without a command asking for it "
            "(a supply sagging under a transmit burst, a watchdog, a firmware crash): its settings, calls "
            "and PDP contexts were lost"
        )
