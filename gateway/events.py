"""What the gateway tells its observers: the packet capture and the alarm engine.

The APN gateway (`gateway.network`) calls a `CaptureSink` at each control and
accounting event of a PDP context; `gateway.capture` turns those calls into
GTPv1-C and RADIUS packets.  Counters passed to the accounting calls are
cumulative since the context's start, as RADIUS Interim-Update counters are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """A PDP context's identities, as carried by Create PDP Context and RADIUS Start."""

    session_id: str  # Acct-Session-Id; also the usage record's `session`
    line_id: str
    imsi: str
    msisdn: str
    imeisv: str  # 16 digits
    apn: str
    charging_id: int
    ip_address: str  # End User Address / Framed-IP-Address
    sgsn_address: str
    ggsn_address: str
    serving_plmn: str  # MCC+MNC of the serving network, 5 or 6 digits
    rat: str  # "utran" | "geran" | "eutran" ...
    nsapi: int = 5
    teid_up: int = 0  # tunnel endpoint ids (GTP-U), SGSN and GGSN sides
    teid_down: int = 0
    sequence: int = 0  # GTP sequence number of the Create request (0: the capture numbers it per path)
    ms_time_zone: bytes = b""  # MS Time Zone octets when the network reported one (empty: the capture's)
    authentication: str = ""  # what the APN asks in the PCO: "" (none), "pap" or "chap"
    password: str = ""  # the APN's password for PAP / CHAP (the user name is the MSISDN)


class CaptureSink(Protocol):
    """Receives the gateway's control/accounting events with their simulated time (seconds since epoch)."""

    def pdp_create(self, now: float, ctx: ContextInfo, cause: int) -> None:
        """Create PDP Context Request and its Response with `cause` (128 accepted)."""
        ...

    def pdp_delete(self, now: float, ctx: ContextInfo) -> None:
        """Delete PDP Context Request and Response."""
        ...

    def pdp_update(self, now: float, ctx: ContextInfo) -> None:
        """Update PDP Context Request (from the context's new SGSN) and Response: `ctx` as updated."""
        ...

    def acct_start(self, now: float, ctx: ContextInfo) -> None: ...

    def acct_interim(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int
    ) -> None:
        """Interim-Update with cumulative counters (at each partial record: 12-hour cut or mobility)."""
        ...

    def acct_stop(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int, cause: int
    ) -> None:
        """Stop with cumulative counters and the cause for record closing (TS 32.298)."""
        ...

    def user_packets(self, now: float, ctx: ContextInfo, bytes_up: int, bytes_down: int) -> None:
        """User-plane traffic carried since the last call (the capture may sample GTP-U packets from it)."""
        ...

    def user_packet(self, now: float, ctx: ContextInfo, packet: bytes, uplink: bool) -> None:
        """One real IP packet carried by the context (uplink: from the device): its G-PDU carries it."""
        ...

    def scan_probes(
        self, start: float, end: float, ctx: ContextInfo, probes: int, packet_bytes: int, reply_bytes: int
    ) -> None:
        """`probes` unsolicited inbound probes that arrived over [start, end], the span of the record
        that counts them (`gateway.scans`): each `packet_bytes` down and, unless `reply_bytes` is 0,
        the device's reply up (the capture may sample them, each at its own time in the span)."""
        ...
