"""A modem that restarts in the middle of a run: noticed, written to the transcript, and the run's
verdict.

SIMCom and Quectel modules print `RDY` when their serial port is ready after power-on or a reset,
before they answer AT.  Once the bench's initialisation has been answered, a `RDY` means the
module restarted: a supply that sags under a transmit burst (up to 2 A on GSM), a watchdog, a
firmware crash.  Its settings went back to their defaults (echo on, +CMEE, URCs off) and its
calls, PDP contexts and sockets are gone, so a run that went on is no proof of anything.  A restart
a command of the run asked for (`AT+CFUN=1,1`, `AT+CRESET`, ...; AT+CFUN=1 on a Wavecom, whose
driver profile says so: `ATClient.restarts_module`) is only noted.

Not every module says `RDY`: a SIM800 at auto-baud (`AT+IPR=0`, its default) cannot, not knowing
the rate yet, and a Wavecom prints nothing.  Their restart shows in what they lost: the echo the
bench's initialisation turned off (`ATE0`) is back on, or, with echo off in the stored profile
(`AT&W`), a setting the initialisation made (`AT+CMEE=1`) reads as at power-up, or a boot notice
(`SMS Ready`, `+CPIN: READY`) comes that nothing asked for.  The client notices it
(`ATClient.on_restart`) and it counts as a restart too, once per restart when `RDY` came as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hil.transcript import Transcript
from modem.at.client import RESTART_COMMAND
from modem.at.parser import Urc

BOOT_URCS = frozenset({"RDY"})


def _restarts(line: str) -> bool:
    return RESTART_COMMAND.search(line) is not None


class RestartWatch:
    """A URC callback (subscribe it to `BOOT_URCS` once the modem has answered): each restart is a
    `note` in the transcript; `unexpected` has the elapsed seconds of those nothing asked for."""

    def __init__(self, transcript: Transcript, asks_restart: Callable[[str], bool] = _restarts) -> None:
        self.transcript = transcript
        # whether a command line restarts or powers off the module: the client's, which knows the
        # lines of its module family (`ATClient.restarts_module`: AT+CFUN=1 on a Wavecom)
        self.asks_restart = asks_restart
        self.unexpected: list[tuple[float, str]] = []
        self._seen = len(transcript.commands)
        self._last_sign: int | None = None  # commands recorded when the last restart was noticed

    def __call__(self, urc: Urc) -> None:
        self._restart(urc.line)

    def silent(self, why: str) -> None:
        """An `ATClient.on_restart` callback: a restart the modem did not announce (its echo back
        on, a setting back to its power-up value, a boot notice nothing asked for)."""
        if self._last_sign == len(self.transcript.commands):
            return  # the same restart, whose RDY came first: no command was answered since
        sign = getattr(why, "sign", "") or "its echo back on"
        self._restart(f"no RDY; {sign}", detail=str(why))

    def _restart(self, sign: str, detail: str | None = None) -> None:
        commands = self.transcript.commands
        asked = any(self.asks_restart(c["command"]) for c in commands[self._seen :])
        self._seen = self._last_sign = len(commands)
        at = self.transcript.elapsed()
        extra: dict[str, Any] = {"detail": detail} if detail else {}
        if asked:
            self.transcript.record("note", text=f"the modem restarted ({sign}), as the run asked", **extra)
            return
        self.unexpected.append((at, sign))
        self.transcript.record(
            "note", text=f"the modem restarted ({sign}) without being asked", restart=True, **extra
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
