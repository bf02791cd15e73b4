"""An SMS's delivery, from the status reports the module routes as `+CDS` (+CNMI <ds>=1): what the
`sms_roundtrip` script and the YAML `sms` step record when asked for a report (`report: yes`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from hil.errors import HilError
from modem.drivers.messaging import Messaging
from modem.sms import SmsStatusReport
from modem.sms.status import StatusCategory

if TYPE_CHECKING:
    from hil.bench import BenchContext


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
        self._came = asyncio.Event()
        self._subscription = sms.on_status_report(self._report)

    def _report(self, status: SmsStatusReport) -> None:
        self.reports.append(status)
        self._came.set()

    def close(self) -> None:
        self._subscription.cancel()

    def last(self, ref: int) -> SmsStatusReport | None:
        """The part's last final report, else its last one, else None."""
        mine = [r for r in self.reports if r.message_reference == ref]
        done = [r for r in mine if _final(r)]
        return done[-1] if done else mine[-1] if mine else None

    async def delivery(self, bench: BenchContext, refs: list[int], timeout: float) -> list[dict[str, Any]]:
        """Wait up to `timeout` s for each part's last report (by message reference), as an
        `sms-delivery` step; raises `NotDelivered` when one says the network could not deliver it."""
        with bench.step("sms-delivery", references=refs) as info:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while not all((r := self.last(ref)) is not None and _final(r) for ref in refs):
                        self._came.clear()
                        await self._came.wait()
            parts = [self._part(ref, timeout) for ref in refs]
            info["parts"] = parts
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
