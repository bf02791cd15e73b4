"""A line's state as the network sees it (HLR/VLR): identities, registration, serving network."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounting.records import Zone
from gateway.api import Subscriber


@dataclass(slots=True)
class LineState:
    subscriber: Subscriber
    attached: bool = False
    imeisv: str | None = None  # 16 digits, from the last attach
    serving_plmn: str | None = None
    zone: Zone = Zone.FR
    rat: str = "geran"
    ms_time_zone: bytes = b""  # MS Time Zone octets of the serving country at the last registration or move
    last_time: float = float("-inf")  # time of the line's last event (attach, session, SMS, call)
    sessions: set[str] = field(default_factory=set)  # open session ids
    nsapis: set[int] = field(default_factory=set)  # NSAPIs in use (5..15)
    last_charging: int = 0  # the highest charging id of the line's contexts (its session ids)
    call_id: str | None = None  # the call in progress
    calls: int = 0  # calls placed that reached the switch's outcome (their ids: `CallSwitch.call_id`)
    message_ref: int = 0  # TP-MR of the next MO SMS (0..255)

    @property
    def line_id(self) -> str:
        return self.subscriber.line_id
