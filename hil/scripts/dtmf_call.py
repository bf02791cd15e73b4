"""`dtmf_call`: call an allowed number, send DTMF digits with AT+VTS once it answers, hang up.

The call is placed with `ATD<number>;` (voice).  Modules answer OK at once and report the call's
progress in AT+CLCC (27.007 §7.18: stat 2 dialing, 3 alerting, 0 active); BUSY / NO ANSWER /
NO CARRIER end it.  The driver polls AT+CLCC every `poll` seconds until the call is active; the
script then sends the digits, holds the line `hold` seconds and hangs up (ATH), and hangs up too
when anything fails after the dial.  Call seconds are counted from answer to hang-up, as the
operator bills them; an answered call is counted when the run fails after the answer too (a
failed AT+VTS, a modem gone), up to the hang-up, else up to the failure, with a note.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from hil.errors import HilError
from hil.scripts import BenchScript, Param, number_problem
from hil.usage import CallUse
from modem.at.errors import CallFailed
from modem.drivers.calls import DTMF_DIGITS

if TYPE_CHECKING:
    from hil.bench import BenchContext

CALL_ENDS = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")


class CallNotAnswered(HilError):
    """The call ended or did not become active in time."""


def _dtmf_problem(digits: Any) -> str | None:
    bad = sorted(set(str(digits).upper()) - DTMF_DIGITS)
    return f"not DTMF digits: {''.join(bad)}" if bad else None


async def run(bench: BenchContext) -> dict[str, Any]:
    p = bench.params
    digits, hold, poll = str(p["digits"]), float(p["hold"]), float(p["poll"])
    timeout = float(p["timeout"])
    await bench.registered(timeout)
    number = bench.target("call")
    bench.check(number, "call")
    calls = bench.modem.calls
    zone = await bench.serving_zone()
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_end(urc: Any) -> None:
        if not ended.done():
            ended.set_result(urc.line)

    sub = bench.modem.client.subscribe(on_end, CALL_ENDS)
    answered_at: float | None = None
    started = bench.now()
    seconds = 0.0
    dropped: str | None = None
    dialled = hung_up = False
    try:
        with bench.step("dial", number=number):
            dialled = True
            try:
                await calls.dial(number, timeout=timeout, poll=poll)
            except CallFailed as exc:
                raise CallNotAnswered(f"{number}: {exc.final}") from exc
            except TimeoutError:
                raise CallNotAnswered(f"{number}: not answered within {timeout:g} s") from None
        answered_at, started = time.monotonic(), bench.now()
        with bench.step("dtmf", digits=digits):
            await calls.send_dtmf(digits)
        with bench.step("hold", seconds=hold):
            await asyncio.wait({ended}, timeout=max(0.0, hold))
        dropped = ended.result() if ended.done() else None
        with bench.step("hang-up"):
            await calls.hang_up()
            hung_up = True
    finally:
        sub.cancel()
        if dialled and not hung_up and not ended.done():
            try:
                await calls.hang_up()
                hung_up = True
            except Exception as exc:  # the call may already be over; keep the first error
                bench.note(f"hang-up after failure: {exc}")
        if answered_at is not None:
            # an answered call is billed from answer to release, however the run goes on after it
            seconds = time.monotonic() - answered_at
            bench.usage.calls.append(CallUse(started, number, bench.dest_of(number), seconds, digits, zone))
            if not hung_up and not ended.done():
                bench.note(
                    f"the call to {number} was answered and its hang-up not confirmed: counted "
                    f"{seconds:.1f} s, up to here; the network bills it until it releases the call"
                )
    if dropped is not None:
        raise CallNotAnswered(f"{number}: the call dropped ({dropped}) before hang-up")
    return {"number": number, "digits": digits, "call_seconds": round(seconds, 3)}


SCRIPT = BenchScript(
    name="dtmf_call",
    description="call an allowed number, send DTMF digits with AT+VTS, hang up",
    run=run,
    needs=frozenset({"call"}),
    params={
        "to": Param("", "number to call (default: the allow-list's first call number)", check=number_problem),
        "digits": Param("1234#", "DTMF digits to send once the call is answered", check=_dtmf_problem),
        "hold": Param(2.0, "seconds to hold the line after the digits"),
        "poll": Param(0.5, "seconds between AT+CLCC polls while the call is set up"),
        "timeout": Param(60.0, "seconds to wait for registration, and for the answer"),
    },
    network_offer="business-m2m-dtmf",
)
