"""An SMS's delivery, from the status reports the module routes as `+CDS` (+CNMI <ds>=1): what the
`sms_roundtrip` script and the YAML `sms` step record when asked for a report (`report: yes`).

A report names its part by message reference (TP-MR, 0-255), which comes round again: a late
report of an earlier message (another run's, a module that counts from 0 again after a restart)
may carry the reference of a part just sent.  So a report is taken for a part only when its
recipient, where it carries one, is the number texted (any spelling), and its service centre time
stamp (TP-SCTS: when the centre took the part) is not before that part was sent (its own
`AT+CMGS` answered: `part_sent`) by more than `SCTS_SKEW`; the others are listed with the reason
(`rejected`), never taken."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hil.errors import HilError
from modem.drivers.messaging import Messaging
from modem.sms import SmsStatusReport
from modem.sms.status import StatusCategory

if TYPE_CHECKING:
    from hil.bench import BenchContext


# How far a service centre's clock (TP-SCTS) may be behind the bench's when both are right: SMSC
# and host keep network time (NTP), within seconds; the time stamp has whole seconds, and a module
# or SMSC may hold the submit a few seconds.  Five minutes takes that with room, and still tells
# a report of a message from an earlier run (minutes to days before) from the part just sent.  A
# centre whose clock is further off (or that stamps local time as UTC) has its reports rejected,
# each listed with its time stamp and this bound.
SCTS_SKEW = timedelta(minutes=5)


class NotDelivered(HilError):
    """A status report says the network could not deliver the message."""


def note_not_routed(bench: BenchContext) -> None:
    """A report was asked for, but the profile routes none: say so in the transcript."""
    bench.note(
        f"profile {bench.modem.profile.name!r} routes no status reports (driver.sms.status_reports, "
        "+CNMI <ds>=1): no report asked for, the delivery is not known"
    )


def _final(status: SmsStatusReport) -> bool:
    """Whether the report is the last one for its message (the service centre stops trying)."""
    return status.category is not StatusCategory.TEMPORARY_RETRYING


class StatusReports:
    """The status reports that come while a message is sent and waits for its delivery: subscribe
    before sending (a report may come before the send's answer), `close()` after."""

    def __init__(self, sms: Messaging) -> None:
        self.reports: list[SmsStatusReport] = []
        self._number: str | None = None
        self._sent: datetime | None = None  # the message's first part
        self._parts: dict[int, datetime] = {}  # reference -> when that part went
        self._came = asyncio.Event()
        self._subscription = sms.on_status_report(self._report)

    def _report(self, status: SmsStatusReport) -> None:
        self.reports.append(status)
        self._came.set()

    def close(self) -> None:
        self._subscription.cancel()

    def sending(self, number: str, sent: datetime) -> None:
        """The message about to be sent: to `number`, its first part at `sent` (the modem's time,
        `BenchContext.modem_time`): a report is taken for one of its parts only if it fits."""
        self._number, self._sent = number, sent
        self._parts = {}

    def part_sent(self, ref: int, sent: datetime) -> None:
        """The part of reference `ref` was taken by the network at `sent` (the modem's time): its
        reports are set against that time, not the message's start (the parts of a long message may
        go minutes apart).  A reference given twice keeps its first time (a report may be either's)."""
        self._parts.setdefault(ref, sent)

    def rejection(self, report: SmsStatusReport) -> str | None:
        """Why `report` is not one of the message's (another recipient, a time stamp from before
        the message), or None."""
        recipient = report.recipient.number
        if self._number is not None and recipient and not same_number(recipient, self._number):
            return f"its recipient {recipient} is not {self._number}, the number texted"
        sent = self._parts.get(report.message_reference, self._sent)
        if sent is not None:
            what = "its part" if report.message_reference in self._parts else "the message"
            scts = report.scts if report.scts.tzinfo is not None else report.scts.replace(tzinfo=UTC)
            if scts < sent - SCTS_SKEW:
                return (
                    f"its service centre time stamp {scts.isoformat()} is {_ago(sent - scts)} before "
                    f"{what} was sent ({sent.isoformat(timespec='seconds')}; more than "
                    f"{_ago(SCTS_SKEW)} of clock skew): a report of an earlier message with the same reference"
                )
        return None

    def last(self, ref: int) -> SmsStatusReport | None:
        """The part's last final report, else its last one, else None (reports of another message
        with the same reference left out: `rejection`)."""
        mine = [r for r in self.reports if r.message_reference == ref and self.rejection(r) is None]
        done = [r for r in mine if _final(r)]
        return done[-1] if done else mine[-1] if mine else None

    async def delivery(self, bench: BenchContext, refs: list[int], timeout: float) -> list[dict[str, Any]]:
        """Wait up to `timeout` s for each part's last report (by message reference, recipient and
        time stamp: `rejection`), as an `sms-delivery` step, whose info lists the reports `rejected`
        with the reason; raises `NotDelivered` when one says the network could not deliver it."""
        with bench.step("sms-delivery", references=refs) as info:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while not all((r := self.last(ref)) is not None and _final(r) for ref in refs):
                        self._came.clear()
                        await self._came.wait()
            parts = [self._part(ref, timeout) for ref in refs]
            info["parts"] = parts
            rejected = [
                {
                    "reference": r.message_reference,
                    "recipient": r.recipient.number,
                    "scts": r.scts.isoformat(),
                    "status": r.status,
                    "reason": why,
                }
                for r in self.reports
                if r.message_reference in refs and (why := self.rejection(r)) is not None
            ]
            if rejected:
                info["rejected"] = rejected
                for entry in rejected:
                    bench.note(
                        f"status report for reference {entry['reference']} not taken: {entry['reason']}"
                    )
            outcomes = {part["delivered"] for part in parts}
            info["delivered"] = False if False in outcomes else None if None in outcomes else True
            failed = [part for part in parts if part["delivered"] is False]
            if failed:
                raise NotDelivered(
                    "the network could not deliver "
                    + ", ".join(
                        f"part {p['reference']} ({p['meaning']}, status {p['status']})" for p in failed
                    )
                )
        return parts

    def _part(self, ref: int, timeout: float) -> dict[str, Any]:
        status = self.last(ref)
        if status is None:
            return {
                "reference": ref,
                "delivered": None,
                "status": None,
                "meaning": f"no status report within {timeout:g} s",
            }
        return {
            "reference": ref,
            "delivered": status.delivered if _final(status) else None,
            "status": status.status,
            "meaning": status.meaning,
            "discharge_time": status.discharge_time.isoformat(),
        }


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def same_number(a: str, b: str) -> bool:
    """Whether two spellings name one subscriber as far as a report tells: the same digits, or
    a national spelling (its leading 0 dropped) ending the international one after its country
    code of 1-3 digits (`0612345678` and `+33612345678`, with or without the `+`)."""
    da, db = (n.lstrip("+") for n in (a, b))
    if da == db:
        return True
    short, long = sorted((da.lstrip("0"), db.lstrip("0")), key=len)
    return len(short) >= 6 and long.endswith(short) and len(long) - len(short) <= 3
