"""`sms_roundtrip`: send an SMS to an allowed number and, when it comes back, receive it.

The number is the `to` parameter, else the allow-list's first number allowed for SMS, else (on
the virtual modem) the modem's own number.  A message to the modem's own number (AT+CNUM) comes
back through the SMSC as an MT SMS (`+CMTI`); it is read, compared and deleted from the modem only
after it was checked; a message that is not the one sent stays on the modem (noted in the
transcript) and the wait goes on.  A long message may come back as one reassembled message (the network kept
the concatenation header) or as one message per part: either way the texts must join up to the
text sent.  `expect_reply`: `auto` (wait when the number is the modem's own), `yes`,
`no`.  `report`: `yes` asks the service centre for a status report of each part (TP-SRR) and, when
the driver profile routes them (`driver.sms.status_reports`, +CNMI <ds>=1), waits for them: the
delivery of each part is the `sms-delivery` step's and the details' `delivery`; a part the network
reports it could not deliver fails the run.  A profile without such a line has a note instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from hil.delivery import StatusReports, note_not_routed
from hil.errors import HilError
from hil.scripts import BenchScript, Param, number_problem
from modem.at import grammar
from modem.at.errors import ModemError
from modem.drivers.messaging import IncomingSms
from modem.safety import normalise_number

if TYPE_CHECKING:
    from hil.bench import BenchContext


class ReplyMismatch(HilError):
    """The message that came back is not the one sent."""


class NoReply(HilError):
    """The message sent to the modem's own number did not come back in time."""


async def own_number(bench: BenchContext) -> str | None:
    """The SIM's MSISDN from AT+CNUM, when the SIM knows it."""
    try:
        reply = await bench.modem.client.command("AT+CNUM")
    except ModemError:
        return None
    line = reply.line("+CNUM")
    if line is None:
        return None
    fields = grammar.fields_of(line)
    number = grammar.unquote(fields[1]) if len(fields) > 1 else ""
    return number or None


def _same(a: str, b: str) -> bool:
    try:
        return normalise_number(a).lstrip("+") == normalise_number(b).lstrip("+")
    except ValueError:
        return False


async def run(bench: BenchContext) -> dict[str, Any]:
    p = bench.params
    text = str(p["text"])
    timeout = float(p["timeout"])
    expect = str(p["expect_reply"])
    report = str(p["report"]) == "yes"
    await bench.registered(timeout)
    number = bench.target("sms")
    bench.check(number, "sms")
    with bench.step("sms-configure"):
        routed = await bench.modem.sms.configure(status_reports=report)
        mine = await own_number(bench)
    if report and not routed:
        note_not_routed(bench)
    watch = StatusReports(bench.modem.sms) if routed else None
    wait = expect == "yes" or (expect == "auto" and mine is not None and _same(mine, number))
    zone = await bench.serving_zone()
    received: list[IncomingSms] = []
    async with bench.modem.client.urcs({"+CMTI"}) as stream:
        with bench.step("sms-send", number=number) as info:
            t0 = time.monotonic()
            refs = await bench.send_sms(number, text, status_report=routed, zone=zone, reports=watch)
            info["references"] = refs
        if wait:
            with bench.step("sms-receive") as info:
                joined = ""

                def check(msg: IncomingSms) -> None:
                    piece = msg.text or ""
                    if not piece or not text.startswith(joined + piece):
                        raise ReplyMismatch(f"sent {text!r}, received {joined + piece!r} from {msg.sender}")

                try:
                    async with asyncio.timeout(timeout):
                        while joined != text:
                            urc = await stream.get()
                            fields = urc.fields
                            if not fields or not fields[-1].isdigit():
                                continue
                            stored = await bench.modem.sms.read(int(fields[-1]))
                            try:
                                got = await bench.modem.sms.deliver(stored, check)
                            except ReplyMismatch as exc:  # someone else's message: left on the modem
                                bench.note(f"message {stored.index} kept on the modem: {exc}")
                                continue
                            if got is not None:
                                received.append(got)
                                joined += got.text or ""
                except TimeoutError:
                    raise NoReply(
                        f"{number}: the message did not come back within {timeout:g} s "
                        f"({len(joined)} of {len(text)} characters received)"
                    ) from None
                info.update(
                    sender=received[0].sender,
                    messages=len(received),
                    seconds=round(time.monotonic() - t0, 6),
                )
            bench.usage.sms_received += len(received)
    delivery = None
    if watch is not None:
        try:
            delivery = await watch.delivery(bench, refs, timeout)
        finally:
            watch.close()
    return {
        **({"delivery": delivery} if delivery is not None else {}),
        "number": number,
        "own_number": mine,
        "text": text,
        "parts": len(refs),
        "references": refs,
        "waited_for_reply": wait,
        "received": [{"sender": m.sender, "text": m.text, "indexes": list(m.indexes)} for m in received],
    }


SCRIPT = BenchScript(
    name="sms_roundtrip",
    description="send an SMS to an allowed number; receive it back when it is the modem's own",
    run=run,
    needs=frozenset({"sms"}),
    params={
        "to": Param("", "number to text (default: the allow-list's first SMS number)", check=number_problem),
        "expect_reply": Param(
            "auto", "wait for the message to come back: auto, yes, no", ("auto", "yes", "no")
        ),
        "text": Param("m2msim bench ping", "message text", check=lambda v: None if v else "empty message"),
        "timeout": Param(60.0, "seconds to wait for registration, for the reply and for status reports"),
        "report": Param("no", "ask for and wait for a status report of each part: yes, no", ("yes", "no")),
    },
)
