"""Run statistics per device group: what the summary reports, added up across shards."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class GroupStats:
    devices: int = 0
    roaming_devices: int = 0
    data_sessions: int = 0  # sessions opened (bulk and per-call), retries included
    data_records: int = 0  # usage records of type data (12-hour partial records)
    bytes_up: int = 0
    bytes_down: int = 0
    billable_ko: int = 0  # sum over data records of ceil((up + down) / 1024)
    session_refusals: int = 0  # PDP context activations the network refused
    # sessions that waited for one of the line's 11 NSAPIs (all held when they were due) past the
    # period's end: not sent in it (`Device.sessions`), on the bulk path as played one by one
    nsapi_waits_past_end: int = 0
    # persistent connections kept out of a whole stretch, the line's 11 NSAPIs held to its end (one
    # a stretch: the device tries again in the next; `Device.traffic`), the same on both paths
    nsapi_connections_kept_out: int = 0
    attach_refusals: int = 0  # registrations refused by the network
    no_coverage_attempts: int = 0  # attach attempts during an area outage (no cell)
    retry_attempts: int = 0  # reconnection attempts during outages (all kinds)
    retry_sessions: int = 0  # attempts that opened a data session (apn/server outages)
    retry_records: int = 0
    retry_ko: int = 0  # billable ko of those sessions
    reconnections: int = 0  # devices back after an outage
    sms_sent: int = 0
    sms_refused: int = 0
    mt_sms_submitted: int = 0
    mt_sms_delivered: int = 0
    calls_answered: int = 0
    calls_busy: int = 0
    calls_no_answer: int = 0
    calls_refused: int = 0
    call_seconds: int = 0
    sim_swaps: int = 0

    def add(self, other: GroupStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GroupStats:
        return GroupStats(**{f.name: int(data.get(f.name, 0)) for f in fields(GroupStats)})
