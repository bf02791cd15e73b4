"""The SMSC: mobile-originated SMS classified and billed, mobile-terminated SMS stored and forwarded.

- MO SMS (`Network.send_sms`): the destination is classified with the home
  numbering plan (`gateway.numbering`: fr-mobile, fr-fixed, fr-premium, intl)
  and the sender's zone; an accepted MO SMS is one usage record (`sms`).  An
  MO SMS to another line of the network is also stored for that line as MT.
- MT SMS (`Smsc.submit`): kept per line until the device is reachable
  (attached), asks for it (`Network.pending_sms`) and has room to store it
  (a full memory is a temporary error: the message waits and is offered
  again), or until its validity period ends; each outcome (delivered when the
  device takes it, expired) gives a delivery report when the sender asked for
  one, and expiries are counted.  An MO SMS for a line whose store is full is
  not kept: its sender's status report says so (TP-Status 0x48, SM deleted by
  SC administration, a permanent error).  MT SMS are not billed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.api import TP_ST_DELETED_BY_SC, DeliveryReport, MtSms, ReportTo, SmsStatus

log = logging.getLogger(__name__)

MAX_USER_DATA = 160  # septets of a 7-bit single SMS (TP-UDL); 140 octets for 8-bit/UCS2

# RP-cause names (TS 24.011 8.2.5.4) given in refusals
RP_UNASSIGNED_NUMBER = "unassigned (unallocated) number"
RP_UNIDENTIFIED_SUBSCRIBER = "unidentified subscriber"
RP_INVALID_MANDATORY_INFORMATION = "invalid mandatory information"
RP_MEMORY_CAPACITY_EXCEEDED = "memory capacity exceeded"


@dataclass(frozen=True, slots=True)
class SmscConfig:
    validity_s: float = 3 * 86_400.0  # MT validity when the submitter gives none
    max_stored_per_line: int = 100  # further MT SMS for an unreachable line are refused


class Smsc:
    """The store of MT SMS and its counters."""

    def __init__(self, config: SmscConfig | None = None) -> None:
        self.config = config or SmscConfig()
        self._store: dict[str, deque[MtSms]] = {}
        self._next_ref = 0
        self.reports: list[DeliveryReport] = []
        self._line_reports: dict[str, deque[DeliveryReport]] = {}  # for lines that asked (TP-SRR)
        self.submitted = 0
        self.delivered = 0
        self.expired = 0
        self.refused = 0
        self.memory_full = 0  # deliveries that left messages behind: the device's memory was full

    def submit(
        self,
        now: float,
        line_id: str,
        sender: str,
        text: str,
        validity_s: float | None = None,
        status_report: bool = False,
        udh: bytes = b"",
        report_to: ReportTo | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> tuple[SmsStatus, MtSms | None]:
        """Store an MT SMS for `line_id`; STORED, or REFUSED when the line's store is full.

        `udh`: the user-data header's information elements of an MO part, relayed as they came.
        `report_to`: an MO SMS whose sender asked for a status report: when the message is
        delivered or expires, a report with the sender's TP-MR waits for it (`take_reports`).
        `extra`: kept with the message for the recipient's device (`MtSms.extra`).
        """
        queue = self._store.setdefault(line_id, deque())
        self._expire_queue(now, line_id, queue)
        if len(queue) >= self.config.max_stored_per_line:
            self.refused += 1
            log.warning("MT SMS for %s refused: %d messages already stored", line_id, len(queue))
            if report_to is not None:  # an MO SMS the SMSC took but cannot keep: a permanent error
                report = DeliveryReport(
                    line_id,
                    sender,
                    report_to.message_ref,
                    now,
                    now,
                    SmsStatus.REFUSED,
                    report_to.recipient,
                    TP_ST_DELETED_BY_SC,
                )
                self.report_to_line(report_to.line_id, report)
            return SmsStatus.REFUSED, None
        validity = self.config.validity_s if validity_s is None else float(validity_s)
        if validity <= 0:
            raise ValueError(f"validity_s must be positive, got {validity_s}")
        sms = MtSms(
            sender=sender,
            text=text,
            submitted_at=now,
            validity_s=validity,
            message_ref=self._next_ref,
            status_report=status_report,
            udh=udh,
            report_to=report_to,
            extra=dict(extra or {}),
        )
        self._next_ref = (self._next_ref + 1) % 256
        queue.append(sms)
        self.submitted += 1
        return SmsStatus.STORED, sms

    def stored(self, line_id: str) -> int:
        return len(self._store.get(line_id, ()))

    def _report(self, now: float, line_id: str, sms: MtSms, status: SmsStatus) -> None:
        to = sms.report_to
        if to is not None:
            report = DeliveryReport(
                line_id, sms.sender, to.message_ref, sms.submitted_at, now, status, to.recipient
            )
            self.report_to_line(to.line_id, report)
        elif sms.status_report:
            self.reports.append(
                DeliveryReport(line_id, sms.sender, sms.message_ref, sms.submitted_at, now, status)
            )

    def report_to_line(self, line_id: str, report: DeliveryReport) -> None:
        """A status report for a line's MO SMS, kept until the line takes it."""
        self._line_reports.setdefault(line_id, deque()).append(report)

    def take_reports(self, line_id: str) -> list[DeliveryReport]:
        """The status reports waiting for `line_id`, oldest first, taken out."""
        queue = self._line_reports.pop(line_id, None)
        return list(queue) if queue else []

    def _expire_queue(self, now: float, line_id: str, queue: deque[MtSms]) -> int:
        kept: deque[MtSms] = deque()
        count = 0
        for sms in queue:
            if now > sms.submitted_at + sms.validity_s:
                count += 1
                self._report(sms.submitted_at + sms.validity_s, line_id, sms, SmsStatus.EXPIRED)
                log.info("MT SMS %d for %s expired unread", sms.message_ref, line_id)
            else:
                kept.append(sms)
        if count:
            queue.clear()
            queue.extend(kept)
            self.expired += count
        return count

    def expire(self, now: float) -> int:
        """Drop (and count, and report) every MT SMS whose validity ended before `now`."""
        return sum(self._expire_queue(now, line, q) for line, q in self._store.items())

    def deliver(self, now: float, line_id: str, reachable: bool, room: int | None = None) -> list[MtSms]:
        """The MT SMS deliverable now (oldest first), taken out of the store; none if unreachable.

        `room`: how many the device can store now (None: all).  The others are not delivered: the
        device's memory capacity is exceeded (RP cause 22), a temporary error; they stay here, offered
        again at the next delivery, until taken (delivered then) or their validity ends (expired)."""
        queue = self._store.get(line_id)
        if not queue:
            return []
        self._expire_queue(now, line_id, queue)
        if not reachable:
            return []
        take = len(queue) if room is None else max(0, min(room, len(queue)))
        out = [queue.popleft() for _ in range(take)]
        if queue:
            self.memory_full += 1
            log.info("MT SMS for %s: %d wait, the device's memory is full", line_id, len(queue))
        for sms in out:
            self._report(now, line_id, sms, SmsStatus.ACCEPTED)
        self.delivered += len(out)
        return out
