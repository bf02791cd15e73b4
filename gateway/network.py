"""The operator's network: APN gateway (GGSN), SMSC and call switch behind one `NetworkAPI`.

Simulated devices and the virtual modem call it in simulated time (seconds
since `NetworkConfig.epoch`).  It writes usage records to a sink (anything
with `write(UsageRecord)`, e.g. `accounting.usage_writer.UsageWriter`),
tells an optional capture sink (`gateway.events.CaptureSink`) about each
control and accounting event, and feeds an optional alarm engine.

Data sessions
-------------
- `open_session` checks the line (registered, attached), the APN (known:
  else 219), the offer's APN policy and the line's APN list (else 209), the
  line's NSAPIs and the gateway's context limit (else 199), then takes an
  address from the APN's pool (exhausted: 211).
- Real IP packets (`carry_packet`, the PPP bearer's) are counted one by one at
  their length and handed whole to the capture (`CaptureSink.user_packet`);
  `transfer` counts volume whose packets are modelled (the capture samples it).
- Volume is counted per direction on the IP packets (`CountingMode.INNER_IP`),
  or on the GTP-U packets between the SGSN and the GGSN
  (`CountingMode.OUTER_GTP`: each packet carries 36 more bytes, outer IPv4
  20 + UDP 8 + GTP-U 8; the packets are those the caller gives, or else
  estimated as ceil(bytes / `mean_packet_bytes`) per transfer and direction).
- Records follow `gateway.partial`: a time-limit record (cause 17) each
  `interim_interval_s` from the session's start and a final one at release
  (0 normal, 4 abnormal).  They are written lazily: when a `transfer`,
  `close_session` or `flush` is dated after a boundary.  The bytes of one
  `transfer` are those carried since the previous event of the session, spread
  over that span in proportion to time (`gateway.partial.prorate`), so a
  session reported by one transfer at its end is cut exactly as
  `cut_sessions` cuts it.  Each time-limit record sends a RADIUS
  Interim-Update dated at the boundary.
- Sessions on public-address APNs receive unsolicited inbound probes
  (scans): a Poisson process of `scan_rate_per_hour` probes (none by default),
  each record of a context carrying those of its span, drawn from the line's
  seeded stream when the record is closed (`gateway.scans`);
  each is a SYN of `scan_packet_bytes` billed as downlink and the device's reset
  of `scan_reply_bytes` billed as uplink, as the simulator bills them.  Private
  APNs receive none.
- Times are kept to the second (records are whole seconds): a time is
  floored to its second for records and cuts.

Bad input raises the typed errors of `gateway.errors` and leaves an
`Incident` in `Network.incidents` (with a log line), so nothing is dropped
without a trace; refusals a real network gives are results with a cause and
are counted in `Network.counters`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from accounting.records import ClosingCause, Dest, UsageRecord, UsageType, Zone
from gateway.alarms import AlarmEngine, Use, UseKind
from gateway.api import (
    AttachCause,
    AttachResult,
    CallKind,
    CallOutcome,
    CallParty,
    CallResult,
    DeliveryReport,
    GtpCause,
    MtSms,
    PcoAuth,
    RecordSink,
    ReportTo,
    SessionResult,
    SmsResult,
    SmsStatus,
    Subscriber,
)
from gateway.apn import ApnCatalog, default_catalog
from gateway.config import CountingMode, NetworkConfig, network_config
from gateway.errors import ConfigError, InvalidIdentity, InvalidRequest, UnknownCall, UnknownLine
from gateway.events import CaptureSink, ContextInfo
from gateway.ggsn import GTP_U_OVERHEAD, Ggsn, whole
from gateway.identity import imei14, normalise_imeisv, validate_imsi, validate_msisdn, validate_plmn
from gateway.journal import Incident, Journal
from gateway.lines import LineState
from gateway.numbering import InvalidNumber, NumberingPlan, default_plan
from gateway.plmn import PlmnTable, default_table, ms_time_zone
from gateway.scans import ContextScans
from gateway.smsc import (
    MAX_USER_DATA,
    RP_INVALID_MANDATORY_INFORMATION,
    RP_UNASSIGNED_NUMBER,
    RP_UNIDENTIFIED_SUBSCRIBER,
    Smsc,
)
from gateway.switch import (
    Q850_BEARER_NOT_AUTHORIZED,
    Q850_INVALID_NUMBER_FORMAT,
    Q850_NO_ANSWER,
    Q850_NO_CIRCUIT,
    Q850_NORMAL_CLEARING,
    Q850_SUBSCRIBER_ABSENT,
    Q850_USER_BUSY,
    ActiveCall,
    AlertingCall,
    CallSwitch,
)

__all__ = [
    "GTP_U_OVERHEAD",
    "CountingMode",
    "Incident",
    "Network",
    "NetworkConfig",
    "RecordSink",
    "network_config",
]

log = logging.getLogger(__name__)


def mobility_cause(
    old_plmn: str,
    new_plmn: str,
    old_sgsn: str,
    new_sgsn: str,
    old_rat: str,
    new_rat: str,
    old_tz: bytes,
    new_tz: bytes,
) -> ClosingCause | None:
    """The TS 32.298 cause for record closing of a routing area update, None when nothing billed changed.

    One record per update, so one cause, in this order: the serving PLMN (sGSNPLMNIDChange 24,
    an inter-PLMN move being also a change of SGSN), the SGSN (servingNodeChange 18), the RAT
    (rATChange 22), the MS time zone (mSTimeZoneChange 23).
    """
    if old_plmn != new_plmn:
        return ClosingCause.PLMN_CHANGE
    if old_sgsn != new_sgsn:
        return ClosingCause.SERVING_NODE_CHANGE
    if old_rat != new_rat:
        return ClosingCause.RAT_CHANGE
    if old_tz != new_tz:
        return ClosingCause.MS_TIME_ZONE_CHANGE
    return None


# RAT names accepted by `attach`, and their canonical (TS 29.060 RAT Type) names
RATS: dict[str, str] = {
    "utran": "utran",
    "umts": "utran",
    "3g": "utran",
    "geran": "geran",
    "gsm": "geran",
    "gprs": "geran",
    "edge": "geran",
    "2g": "geran",
    "wlan": "wlan",
    "gan": "gan",
    "hspa": "hspa",
    "eutran": "eutran",
    "lte": "eutran",
    "4g": "eutran",
}


class Network:
    """APN gateway, SMSC and call switch; implements `gateway.api.NetworkAPI`."""

    def __init__(
        self,
        config: NetworkConfig,
        records: RecordSink,
        capture: CaptureSink | None = None,
        alarms: AlarmEngine | None = None,
    ) -> None:
        self.config = config
        self.records = records
        self.capture = capture
        self.alarms = alarms
        self.catalog = default_catalog() if config.apn_file is None else ApnCatalog.load(config.apn_file)
        self.plmns = default_table() if config.plmn_file is None else PlmnTable.load(config.plmn_file)
        self.numbering = (
            default_plan() if config.numbering_file is None else NumberingPlan.load(config.numbering_file)
        )
        self.journal = Journal(config.max_incidents_kept)
        self.smsc = Smsc(config.sms)
        self.switch = CallSwitch(config.calls, config.seed)
        self._lines: dict[str, LineState] = {}
        self.ggsn = Ggsn(
            config, self.catalog, records, capture, self.journal, self._time, self._use, self._lines
        )
        self._by_msisdn: dict[str, str] = {}
        self._by_imsi: dict[str, str] = {}
        self._parties: dict[str, CallParty] = {}  # line id -> the device that takes its calls

    @property
    def counters(self) -> Counter[str]:
        """What the network did and refused, by kind (sessions opened, records written, refusals...)."""
        return self.journal.counters

    @property
    def incidents(self) -> list[Incident]:
        """Bad input refused, in order (the first `max_incidents_kept`; all are counted)."""
        return self.journal.incidents

    def _incident(self, now: float, kind: str, subject: str, detail: str) -> None:
        self.journal.incident(now, kind, subject, detail)

    def _time(self, t: float) -> datetime:
        return self.config.epoch + timedelta(seconds=t)

    def _use(
        self,
        now: float,
        line: LineState,
        kind: UseKind,
        zone: Zone | None = None,
        imei: str = "",
        nbytes: int = 0,
        seconds: int = 0,
        count: int = 0,
        ko: int = 0,
    ) -> None:
        if self.alarms is not None and self.alarms.group_of(line.line_id) is not None:
            self.alarms.observe(
                Use(
                    self._time(now),
                    line.line_id,
                    kind,
                    line.serving_plmn or "",
                    line.zone if zone is None else zone,
                    imei=imei,
                    bytes=nbytes,
                    ko=ko,
                    seconds=seconds,
                    count=count,
                )
            )

    def line(self, line_id: str) -> LineState:
        """The network's view of a line (raises UnknownLine)."""
        found = self._lines.get(line_id)
        if found is None:
            raise UnknownLine(line_id)
        return found

    def open_sessions(self) -> list[str]:
        return self.ggsn.open_sessions()

    def session_open(self, session_id: str) -> bool:
        """Whether a session is still open (the network may have released it: detach, flush)."""
        return self.ggsn.session_open(session_id)

    # ----------------------------------------------------------------- sessions played whole

    def allowed_apns(self, offer: str) -> frozenset[str]:
        """The APNs the offer's policy lets a line use (see `gateway.api.BulkNetworkAPI`)."""
        return frozenset(self.catalog.allowed_apns(offer))

    def bulk_context(
        self, line_id: str, charging_id: int, apn: str, serving_plmn: str, imeisv: str
    ) -> ContextInfo:
        """A session's identities for the capture (see `gateway.api.BulkNetworkAPI.bulk_context`)."""
        return self.ggsn.bulk_context(self.line(line_id), charging_id, apn, serving_plmn, imeisv)

    def incident_counts(self) -> dict[str, int]:
        """The incidents so far by kind (`counters`' `incident:<kind>`)."""
        return {
            kind.removeprefix("incident:"): n
            for kind, n in self.counters.items()
            if kind.startswith("incident:")
        }

    # ----------------------------------------------------------------- subscribers

    def register_subscriber(self, subscriber: Subscriber) -> None:
        """Provision a line (HLR).  Raises InvalidIdentity or ConfigError on bad data."""
        if not isinstance(subscriber.line_id, str) or not subscriber.line_id:
            raise InvalidIdentity("line_id", subscriber.line_id, "must be a non-empty string")
        where = f"line {subscriber.line_id}"
        imsi = validate_imsi(subscriber.imsi)
        msisdn = validate_msisdn(subscriber.msisdn)
        if subscriber.offer not in self.catalog.offers:
            raise ConfigError(f"{where}: unknown offer {subscriber.offer!r}")
        for apn in subscriber.apns:
            if apn.lower() not in self.catalog.apns:
                raise ConfigError(f"{where}: unknown APN {apn!r}")
        if subscriber.line_id in self._lines:
            raise ConfigError(f"{where}: already registered")
        if msisdn in self._by_msisdn:
            raise ConfigError(f"{where}: MSISDN {msisdn} is already line {self._by_msisdn[msisdn]}")
        if imsi in self._by_imsi:
            raise ConfigError(f"{where}: IMSI {imsi} is already line {self._by_imsi[imsi]}")
        self._lines[subscriber.line_id] = LineState(subscriber)
        self._by_msisdn[msisdn] = subscriber.line_id
        self._by_imsi[imsi] = subscriber.line_id

    # ----------------------------------------------------------------- mobility

    def attach(
        self, now: float, line_id: str, imeisv: str, serving_plmn: str, rat: str = "geran"
    ) -> AttachResult:
        try:
            device = normalise_imeisv(imeisv)
            plmn = validate_plmn(serving_plmn)
        except InvalidIdentity as exc:
            self.journal.fail(now, "bad-identity", line_id, exc)
        rat_name = RATS.get(str(rat).lower())
        if rat_name is None:
            self.journal.fail(
                now, "bad-identity", line_id, InvalidIdentity("rat", rat, f"one of {sorted(RATS)}")
            )
        line = self._lines.get(line_id)
        if line is None:
            self.journal.counters["attach-refused"] += 1
            self._incident(now, "unknown-line", line_id, "attach refused: IMSI unknown in HLR")
            return AttachResult(False, AttachCause.IMSI_UNKNOWN_IN_HLR)
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        if line.attached:
            self._release_line(now, line)  # a new registration replaces the old one
        line.last_time = now
        line.attached = True
        line.imeisv = device
        line.serving_plmn = plmn
        line.rat = rat_name
        line.zone = self.plmns.zone(plmn)
        line.ms_time_zone = ms_time_zone(plmn, self._time(now))
        self.journal.counters["attach"] += 1
        self._use(now, line, UseKind.ATTACH, imei=imei14(device))
        return AttachResult(True, AttachCause.ACCEPTED, line.zone)

    def time_zone_change(self, now: float, line_id: str) -> bool:
        """The serving country's clocks changed (daylight saving) under an attached line.

        The SGSN updates each open PDP context with the new MS Time Zone (TS 29.060 7.3.3)
        and the GGSN closes a partial record with mSTimeZoneChange (23); the contexts go on.
        No routing area update: the device did nothing.  True when the MS Time Zone changed.
        """
        line = self._lines.get(line_id)
        if line is None or not line.attached or not line.serving_plmn:
            return False
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        tz = ms_time_zone(line.serving_plmn, self._time(now))
        if tz == line.ms_time_zone:
            return False
        line.last_time = now
        line.ms_time_zone = tz
        if line.sessions:
            self.ggsn.relocate(now, line, ClosingCause.MS_TIME_ZONE_CHANGE, tz)
        return True

    def move(self, now: float, line_id: str, serving_plmn: str, rat: str | None = None) -> AttachResult:
        """A routing area update of an attached line: new serving network and/or RAT, contexts going on.

        What a core does on an inter-SGSN, inter-PLMN, RAT or time-zone change: each open
        PDP context gets an Update PDP Context and a partial record closed with the TS 32.298
        cause of the change (`mobility_cause`); the context then goes on in the new network
        (records and RADIUS carry the new 3GPP-SGSN-MCC-MNC, RAT and location).  A line that
        is not attached is attached (`attach`, with the device it last used).
        """
        try:
            plmn = validate_plmn(serving_plmn)
        except InvalidIdentity as exc:
            self.journal.fail(now, "bad-identity", line_id, exc)
        line = self._lines.get(line_id)
        if line is None or not line.attached or line.imeisv is None:
            return self.attach(
                now, line_id, line.imeisv if line and line.imeisv else "", plmn, rat or "geran"
            )
        rat_name = line.rat if rat is None else RATS.get(str(rat).lower())
        if rat_name is None:
            self.journal.fail(
                now, "bad-identity", line_id, InvalidIdentity("rat", rat, f"one of {sorted(RATS)}")
            )
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        old_plmn, old_rat = line.serving_plmn or "", line.rat
        old_tz = line.ms_time_zone
        line.last_time = now
        line.serving_plmn = plmn
        line.rat = rat_name
        line.zone = self.plmns.zone(plmn)
        line.ms_time_zone = ms_time_zone(plmn, self._time(now))
        cause = mobility_cause(
            old_plmn,
            plmn,
            self.ggsn.sgsn_of(old_plmn),
            self.ggsn.sgsn_of(plmn),
            old_rat,
            rat_name,
            old_tz,
            line.ms_time_zone,
        )
        self.journal.counters["routing-area-update"] += 1
        if cause is not None and line.sessions:
            self.ggsn.relocate(now, line, cause, line.ms_time_zone)
        self._use(now, line, UseKind.ATTACH, imei=imei14(line.imeisv))
        return AttachResult(True, AttachCause.ACCEPTED, line.zone)

    def detach(self, now: float, line_id: str, *, by_network: bool = False) -> None:
        line = self._lines.get(line_id)
        if line is None:
            self.journal.fail(now, "unknown-line", line_id, UnknownLine(line_id))
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        line.last_time = now
        if line.attached:
            cause = ClosingCause.MANAGEMENT_INTERVENTION if by_network else ClosingCause.NORMAL
            self._release_line(now, line, cause)
            line.attached = False
            self.journal.counters["detach"] += 1

    def _release_line(self, now: float, line: LineState, cause: ClosingCause = ClosingCause.NORMAL) -> None:
        self.ggsn.release_line(now, line, cause)
        if line.call_id is not None:
            ringing = self.switch.alerting.get(line.call_id)
            if ringing is not None:
                self._unanswered(now, ringing, Q850_SUBSCRIBER_ABSENT)
            else:
                self._end_call(now, self.switch.active[line.call_id])

    # ----------------------------------------------------------------- data sessions

    def open_session(
        self,
        now: float,
        line_id: str,
        apn: str,
        *,
        charging_id: int | None = None,
        auth: PcoAuth | None = None,
        scan: ContextScans | None = None,
    ) -> SessionResult:
        """Activate a PDP context; `charging_id` when the caller allocates it (`Ggsn.open`); `auth`
        the device's credentials, checked when the APN asks for authentication; `scan` how it is
        scanned, when not as the network scans its APN (`Ggsn.open`)."""
        line = self._lines.get(line_id)
        if line is None:
            self._incident(now, "unknown-line", line_id, f"PDP context on {apn!r} refused: unknown line")
            return self.ggsn.refuse(now, None, str(apn), GtpCause.USER_AUTHENTICATION_FAILED, "unknown line")
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        line.last_time = now
        return self.ggsn.open(now, line, apn, charging_id, auth, scan)

    def transfer(
        self,
        now: float,
        session_id: str,
        bytes_up: int,
        bytes_down: int,
        *,
        packets_up: int | None = None,
        packets_down: int | None = None,
    ) -> None:
        """Count bytes carried since the session's previous event.

        `packets_up` / `packets_down` (optional) are used by the outer-GTP counting mode.
        """
        self.ggsn.transfer(
            now, session_id, bytes_up, bytes_down, packets_up=packets_up, packets_down=packets_down
        )

    def carry_packet(self, now: float, session_id: str, packet: bytes, *, uplink: bool) -> bool:
        """One real IP packet on a session: counted at its length, written whole as a G-PDU by the
        capture; False when the source check dropped it (`Ggsn.carry`)."""
        return self.ggsn.carry(now, session_id, packet, uplink)

    def close_session(self, now: float, session_id: str, abnormal: bool = False) -> None:
        self.ggsn.close_session(now, session_id, abnormal)

    def current_records(self, now: float) -> list[UsageRecord]:
        """Each open session's current record at `now`, not written (`Ggsn.current_records`)."""
        return self.ggsn.current_records(now)

    def flush(self, now: float, close: bool = True) -> None:
        """End of a run (or a checkpoint with `close=False`).

        With `close`, every open session's record is closed (final record, cause
        20: management intervention, TS 32.298; the device did not release the
        context, the period ended) and every call in progress is hung up; without, only the time-limit
        records whose boundary `now` has passed are written.  Either way MT SMS
        whose validity has ended are expired.
        """
        self.journal.check_order(now, -math.inf, "flush")
        if close:
            for call in self.switch.active.values():  # check before changing anything
                self.journal.check_order(now, call.answered_at, f"call {call.call_id}")
        self.ggsn.flush(now, close)
        if close:
            for ringing in list(self.switch.alerting.values()):
                self._unanswered(max(now, ringing.call.answered_at), ringing, Q850_NORMAL_CLEARING)
            for call in list(self.switch.active.values()):
                self._end_call(now, call)
        self.smsc.expire(now)

    # ----------------------------------------------------------------- SMS

    def send_sms(
        self,
        now: float,
        line_id: str,
        dest_number: str,
        user_data_len: int = 0,
        *,
        text: str | None = None,
        udh: bytes = b"",
        status_report: bool = False,
        message_ref: int | None = None,
        validity_s: float | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> SmsResult:
        """A mobile-originated SMS; `text` (optional) is forwarded when the destination is a line of this network.

        `udh`: the information elements of the part's user-data header (concatenation, ports),
        forwarded with the text, so that the parts of a long message arrive as parts of one.
        `status_report` (TP-SRR) with the device's TP-MR `message_ref`: a status report waits for
        the line (`pending_reports`) once the message is delivered to another line of this network
        or expires there; a destination outside the network is beyond the simulation, and its
        report says delivered at once.  `validity_s` (the submitted TP-VP, in seconds; None: the
        SMSC's default) is how long the message waits for another line of the network; a period
        that is not above 0 (an absolute TP-VP already past) is refused.  `extra` is kept with the
        text for such a recipient (`MtSms.extra`).
        """
        line = self._lines.get(line_id)
        if line is None:
            self._incident(now, "unknown-line", line_id, "MO SMS refused: unknown line")
            self.journal.counters["sms-refused"] += 1
            return SmsResult(SmsStatus.REFUSED, cause=RP_UNIDENTIFIED_SUBSCRIBER)
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        line.last_time = now
        if not line.attached:
            self.journal.counters["sms-refused"] += 1
            return SmsResult(SmsStatus.REFUSED, cause=RP_UNIDENTIFIED_SUBSCRIBER)
        if text is not None and not user_data_len:
            user_data_len = len(text)
        if not isinstance(user_data_len, int) or not 0 <= user_data_len <= MAX_USER_DATA:
            self._incident(
                now, "bad-sms", line_id, f"user_data_len {user_data_len!r} not in 0..{MAX_USER_DATA}"
            )
            self.journal.counters["sms-refused"] += 1
            return SmsResult(SmsStatus.REFUSED, cause=RP_INVALID_MANDATORY_INFORMATION)
        if validity_s is not None and not (isinstance(validity_s, int | float) and 0 < validity_s < math.inf):
            self._incident(now, "bad-sms", line_id, f"validity_s {validity_s!r} is not above 0")
            self.journal.counters["sms-refused"] += 1
            return SmsResult(SmsStatus.REFUSED, cause=RP_INVALID_MANDATORY_INFORMATION)
        try:
            classified = self.numbering.classify(str(dest_number))
        except InvalidNumber as exc:
            self._incident(now, "bad-number", line_id, f"MO SMS refused: {exc}")
            self.journal.counters["sms-refused"] += 1
            return SmsResult(SmsStatus.REFUSED, cause=RP_UNASSIGNED_NUMBER)
        ref = line.message_ref if message_ref is None else int(message_ref) % 256
        line.message_ref = (ref + 1) % 256
        sub = line.subscriber
        self.records.write(
            UsageRecord(
                line=line_id,
                type=UsageType.SMS,
                start=self._time(whole(now)),
                zone=line.zone,
                dest=classified.dest,
                imsi=sub.imsi,
                imeisv=line.imeisv,
                serving_plmn=line.serving_plmn,
                sequence=ref,  # the message reference: two SMS in one second stay two records
            )
        )
        self.journal.counters["sms-mo"] += 1
        self._use(now, line, UseKind.SMS, count=1)
        target = self._by_msisdn.get(classified.e164 or "")
        report_to = ReportTo(line_id, ref, classified.e164 or str(dest_number)) if status_report else None
        if target is not None:
            self.smsc.submit(
                now, target, sub.msisdn, text or "", validity_s, udh=udh, report_to=report_to, extra=extra
            )
        elif report_to is not None:
            delivered = DeliveryReport("", sub.msisdn, ref, now, now, SmsStatus.ACCEPTED, report_to.recipient)
            self.smsc.report_to_line(line_id, delivered)
        return SmsResult(SmsStatus.ACCEPTED, message_ref=ref, dest=classified.dest)

    def submit_sms(
        self,
        now: float,
        msisdn_or_line: str,
        sender: str,
        text: str,
        validity_s: float | None = None,
        status_report: bool = False,
    ) -> SmsResult:
        """A mobile-terminated SMS from outside (an application server) to a line, by line id or MSISDN."""
        self.journal.check_order(now, -math.inf, f"MT SMS to {msisdn_or_line}")
        line_id = msisdn_or_line if msisdn_or_line in self._lines else self._by_msisdn.get(msisdn_or_line)
        if line_id is None:
            self._incident(now, "unknown-line", msisdn_or_line, "MT SMS refused: no such line or MSISDN")
            return SmsResult(SmsStatus.REFUSED, cause=RP_UNIDENTIFIED_SUBSCRIBER)
        status, sms = self.smsc.submit(now, line_id, sender, text, validity_s, status_report)
        if sms is None:
            return SmsResult(status, cause="memory capacity exceeded")
        return SmsResult(status, message_ref=sms.message_ref)

    def pending_reports(self, now: float, line_id: str) -> list[DeliveryReport]:
        """Status reports for the line's MO SMS that asked for one (oldest first), taken out."""
        self.journal.check_order(now, -math.inf, f"line {line_id}")
        if line_id not in self._lines:
            self.journal.fail(now, "unknown-line", line_id, UnknownLine(line_id))
        self.smsc.expire(now)
        return self.smsc.take_reports(line_id)

    def pending_sms(self, now: float, line_id: str, room: int | None = None) -> list[MtSms]:
        self.journal.check_order(now, -math.inf, f"line {line_id}")
        line = self._lines.get(line_id)
        if line is None:
            self.journal.fail(now, "unknown-line", line_id, UnknownLine(line_id))
        return self.smsc.deliver(now, line_id, reachable=line.attached, room=room)

    # ----------------------------------------------------------------- calls

    def place_call(
        self, now: float, line_id: str, dest_number: str, kind: CallKind, *, alerting: bool = False
    ) -> CallResult:
        try:
            call_kind = CallKind(kind)
        except ValueError:
            self.journal.fail(
                now, "bad-call", line_id, InvalidRequest(f"call kind {kind!r}: one of voice, csd, fax")
            )
        line = self._lines.get(line_id)
        if line is None:
            self._incident(now, "unknown-line", line_id, "call refused: unknown line")
            return self._refuse_call(Q850_SUBSCRIBER_ABSENT)
        self.journal.check_order(now, line.last_time, f"line {line_id}")
        line.last_time = now
        if call_kind == CallKind.VOICE and self.numbering.is_emergency(str(dest_number)):
            return self._emergency_call(now, line, str(dest_number), alerting)
        if not line.attached:
            return self._refuse_call(Q850_SUBSCRIBER_ABSENT)
        self._use(now, line, UseKind(call_kind.value))
        if call_kind not in self.catalog.offers[line.subscriber.offer].calls:
            return self._refuse_call(Q850_BEARER_NOT_AUTHORIZED)
        if line.call_id is not None:
            return self._refuse_call(Q850_NO_CIRCUIT)
        try:
            classified = self.numbering.classify(str(dest_number))
        except InvalidNumber as exc:
            self._incident(now, "bad-number", line_id, f"call refused: {exc}")
            return self._refuse_call(Q850_INVALID_NUMBER_FORMAT)
        callee = self._by_msisdn.get(classified.e164 or "") if alerting else None
        party = self._parties.get(callee) if callee is not None and callee != line_id else None
        if party is not None and callee is not None:
            return self._call_line(now, line, call_kind, classified.dest, callee, party)
        line.calls += 1
        outcome = self.switch.outcome(str(dest_number), classified.e164, line_id, line.calls)
        self.switch.outcomes[outcome] += 1
        call_id = self.switch.call_id(line_id, line.calls)
        call = ActiveCall(call_id, line_id, call_kind, classified.dest, line.zone, line.serving_plmn, now)
        if outcome == CallOutcome.ANSWERED and not alerting:
            self.switch.active[call_id] = call
            line.call_id = call_id
            return CallResult(outcome, call_id)
        if outcome != CallOutcome.BUSY and alerting:  # a far end: it rings, then answers or not
            config = self.switch.config
            until = now + (config.ring_s if outcome == CallOutcome.ANSWERED else config.no_answer_s)
            self.switch.alerting[call_id] = AlertingCall(call, outcome, until)
            line.call_id = call_id
            return CallResult(CallOutcome.ALERTING, call_id, until=until)
        self._call_record(call, 0)
        return CallResult(outcome, cause=Q850_USER_BUSY if outcome == CallOutcome.BUSY else Q850_NO_ANSWER)

    def is_emergency(self, dialled: str) -> bool:
        """Whether `dialled` is an emergency number of the numbering plan (`numbering.yaml`)."""
        return self.numbering.is_emergency(dialled)

    def _emergency_call(self, now: float, line: LineState, dialled: str, alerting: bool) -> CallResult:
        """A voice call to the emergency services: connected whatever the offer and the registration
        (limited service, TS 22.101 10.1), answered by the emergency centre (after `ring_s` when
        alerting), recorded with dest `emergency`, which the catalog prices at nothing."""
        if line.call_id is not None:
            return self._refuse_call(Q850_NO_CIRCUIT)
        line.calls += 1
        self.journal.counters["emergency-calls"] += 1
        call_id = self.switch.call_id(line.line_id, line.calls)
        call = ActiveCall(
            call_id, line.line_id, CallKind.VOICE, Dest.EMERGENCY, line.zone, line.serving_plmn, now
        )
        self.switch.outcomes[CallOutcome.ANSWERED] += 1
        line.call_id = call_id
        log.info("line %s: emergency call to %s", line.line_id, dialled)
        if not alerting:
            self.switch.active[call_id] = call
            return CallResult(CallOutcome.ANSWERED, call_id)
        until = now + self.switch.config.ring_s
        self.switch.alerting[call_id] = AlertingCall(call, CallOutcome.ANSWERED, until)
        return CallResult(CallOutcome.ALERTING, call_id, until=until)

    def _call_line(
        self, now: float, line: LineState, kind: CallKind, dest: Dest, callee_id: str, party: CallParty
    ) -> CallResult:
        """A call to a line of this network whose device takes its calls: it rings there (alerting)."""
        callee = self._lines[callee_id]
        if not callee.attached:
            return self._refuse_call(Q850_SUBSCRIBER_ABSENT)
        line.calls += 1
        call_id = self.switch.call_id(line.line_id, line.calls)
        call = ActiveCall(call_id, line.line_id, kind, dest, line.zone, line.serving_plmn, now, callee_id)
        if callee.call_id is not None or not party.call_offered(
            now, call_id, "+" + line.subscriber.msisdn, kind
        ):
            self.switch.outcomes[CallOutcome.BUSY] += 1
            self._call_record(call, 0)
            return CallResult(CallOutcome.BUSY, cause=Q850_USER_BUSY)
        until = now + self.switch.config.no_answer_s
        self.switch.alerting[call_id] = AlertingCall(call, CallOutcome.NO_ANSWER, until)
        line.call_id = callee.call_id = call_id
        return CallResult(CallOutcome.ALERTING, call_id, until=until)

    def serve_calls(self, line_id: str, party: CallParty | None) -> None:
        """The device that takes `line_id`'s calls (None: none); raises UnknownLine."""
        if line_id not in self._lines:
            raise UnknownLine(line_id)
        if party is None:
            self._parties.pop(line_id, None)
        else:
            self._parties[line_id] = party

    def call_progress(self, now: float, call_id: str) -> CallResult:
        """Where an alerting call stands at `now` (see `gateway.api.NetworkAPI.call_progress`)."""
        ringing = self.switch.alerting.get(call_id)
        if ringing is None:
            active = self.switch.active.get(call_id)
            if active is not None:
                return CallResult(CallOutcome.ANSWERED, call_id)
            return CallResult(CallOutcome.NO_ANSWER, cause=Q850_NORMAL_CLEARING)
        if now < ringing.until:
            return CallResult(CallOutcome.ALERTING, call_id, until=ringing.until)
        if ringing.outcome == CallOutcome.ANSWERED:
            self._answered(ringing, ringing.until)
            return CallResult(CallOutcome.ANSWERED, call_id)
        self._unanswered(ringing.until, ringing, Q850_NO_ANSWER, notify_caller=False)
        if ringing.call.callee is not None:  # a far end's outcome was counted when it was drawn
            self.switch.outcomes[CallOutcome.NO_ANSWER] += 1
        return CallResult(CallOutcome.NO_ANSWER, cause=Q850_NO_ANSWER)

    def answer_call(self, now: float, call_id: str) -> bool:
        """The called device answers an alerting call: active from `now`, the caller's device told."""
        ringing = self.switch.alerting.get(call_id)
        if ringing is None or ringing.call.callee is None:
            return False
        self._answered(ringing, max(now, ringing.call.answered_at))
        self.switch.outcomes[CallOutcome.ANSWERED] += 1
        party = self._parties.get(ringing.call.line_id)
        if party is not None:
            party.call_answered(ringing.call.answered_at, call_id)
        return True

    def reject_call(self, now: float, call_id: str) -> None:
        """The called device declines an alerting call: released, the caller hears busy."""
        ringing = self.switch.alerting.get(call_id)
        if ringing is None:
            return
        self.switch.outcomes[CallOutcome.BUSY] += 1
        self._unanswered(now, ringing, Q850_USER_BUSY, notify_callee=False)

    def _answered(self, ringing: AlertingCall, at: float) -> None:
        call = ringing.call
        del self.switch.alerting[call.call_id]
        call.answered_at = at
        self.switch.active[call.call_id] = call

    def _unanswered(
        self,
        now: float,
        ringing: AlertingCall,
        cause: str,
        *,
        notify_caller: bool = True,
        notify_callee: bool = True,
    ) -> None:
        """Release an alerting call: a record of 0 s (nothing answered), the lines free, the devices told."""
        call = ringing.call
        del self.switch.alerting[call.call_id]
        self._free_lines(call)
        self._call_record(call, 0)
        self._tell_released(now, call, cause, notify_caller, notify_callee)

    def _free_lines(self, call: ActiveCall) -> None:
        for line_id in (call.line_id, call.callee):
            line = self._lines.get(line_id) if line_id is not None else None
            if line is not None and line.call_id == call.call_id:
                line.call_id = None

    def _tell_released(self, now: float, call: ActiveCall, cause: str, caller: bool, callee: bool) -> None:
        ends = ((call.line_id, caller), (call.callee, callee))
        for line_id, tell in ends:
            party = self._parties.get(line_id) if tell and line_id is not None else None
            if party is not None:
                party.call_released(now, call.call_id, cause)

    def _refuse_call(self, cause: str) -> CallResult:
        self.journal.counters["call-refused"] += 1
        self.switch.outcomes[CallOutcome.REFUSED] += 1
        return CallResult(CallOutcome.REFUSED, cause=cause)

    def _call_record(self, call: ActiveCall, duration_s: int) -> None:
        line = self._lines[call.line_id]
        sub = line.subscriber
        self.records.write(
            UsageRecord(
                line=call.line_id,
                type=UsageType.VOICE if call.kind == CallKind.VOICE else UsageType.CSD,
                start=self._time(whole(call.answered_at)),
                duration_s=duration_s,
                zone=call.zone,
                dest=call.dest,
                session=call.call_id,
                imsi=sub.imsi,
                imeisv=line.imeisv,
                serving_plmn=call.serving_plmn,
            )
        )
        self.journal.counters["call-records"] += 1

    def _end_call(self, now: float, call: ActiveCall) -> None:
        # to the microsecond first: a call answered at 1.3 s and hung up 7 s later is 1.3 + 7 -
        # 1.3 = 7.000000000000001 s in floating point, which rounded up billed 8 s
        duration = math.ceil(round(now - call.answered_at, 6))
        del self.switch.active[call.call_id]
        self._free_lines(call)
        line = self._lines[call.line_id]
        self._call_record(call, duration)
        if duration:  # its seconds for the threshold (a call of 0 s adds none, and was checked when placed)
            self._use(now, line, UseKind(call.kind.value), zone=call.zone, seconds=duration)
        self._tell_released(now, call, Q850_NORMAL_CLEARING, True, True)

    def force_call_outcome(self, numbers: Iterable[str], outcome: CallOutcome | str) -> None:
        """From now on, calls to `numbers` (as dialled, or E.164 digits) end as `outcome` (a bench's far ends)."""
        self.switch.force_outcome(numbers, outcome)

    def hang_up(self, now: float, call_id: str) -> None:
        ringing = self.switch.alerting.get(call_id)
        if ringing is not None:  # the caller gives up before the answer
            self.journal.check_order(now, ringing.call.answered_at, f"call {call_id}")
            self._unanswered(now, ringing, Q850_NORMAL_CLEARING)
            return
        call = self.switch.active.get(call_id)
        if call is None:
            line_id, _, number = call_id.rpartition("-C") if isinstance(call_id, str) else ("", "", "")
            line = self._lines.get(line_id)
            issued = line is not None and number.isdigit() and 0 < int(number) <= line.calls
            if not issued:
                self.journal.fail(now, "unknown-call", str(call_id), UnknownCall(str(call_id)))
            self._incident(now, "released-call", call_id, "hang-up of a call already released: ignored")
            return
        self.journal.check_order(now, call.answered_at, f"call {call_id}")
        self._end_call(now, call)
