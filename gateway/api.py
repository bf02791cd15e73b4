"""The gateway API: what a device (simulated or a virtual modem) can ask of the network.

Plain method calls in simulated time.  `now` is seconds since the network's
epoch (`NetworkConfig.epoch`, a UTC datetime; usually the start of the run's
period).  Refusals are typed results the caller must handle, as a real network
answers; exceptions are for programming errors and malformed input only
(`gateway.errors`).

This module is the contract shared by `gateway.network` (the implementation),
`simulator` and `modem.virtual`: `NetworkAPI` is everything a caller may ask of the
network, and `build_network` gives the implementation typed as it (mypy checks that
`Network` satisfies the protocol there).  The callers import nothing else of the gateway:
the data, configuration types and pure functions of its other modules they need are
re-exported here (`_CONTRACT`); tests/m2msim/test_package_boundaries.py holds
them to it.  Change it only together with all three.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Protocol

from accounting.records import Dest, UsageRecord, Zone
from gateway.events import CaptureSink

if TYPE_CHECKING:  # the rest of the contract, as `_CONTRACT` lists it (imported when first used)
    from gateway.alarms import MACHINE_ZONE as MACHINE_ZONE
    from gateway.alarms import Alarm as Alarm
    from gateway.alarms import AlarmConfig as AlarmConfig
    from gateway.alarms import AlarmEngine as AlarmEngine
    from gateway.alarms import JsonLinesAlarmSink as JsonLinesAlarmSink
    from gateway.alarms import Use as Use
    from gateway.alarms import UseKind as UseKind
    from gateway.alarms import is_alarm_file as is_alarm_file
    from gateway.alarms import load_alarm_config as load_alarm_config
    from gateway.alarms import machine_zone as machine_zone
    from gateway.alarms import parse_alarm_config as parse_alarm_config
    from gateway.apn import ApnCatalog as ApnCatalog
    from gateway.apn import default_catalog as default_catalog
    from gateway.apn import fixed_host as fixed_host
    from gateway.capture import PcapCapture as PcapCapture
    from gateway.capture.frames import is_own_capture as is_own_capture
    from gateway.errors import ConfigError as ConfigError
    from gateway.errors import GatewayError as GatewayError
    from gateway.events import ContextInfo as ContextInfo
    from gateway.icmplimit import DEST_UNREACH as DEST_UNREACH
    from gateway.icmplimit import GATEWAY as GATEWAY
    from gateway.icmplimit import HELD_GLOBAL as HELD_GLOBAL
    from gateway.icmplimit import HELD_HOST as HELD_HOST
    from gateway.icmplimit import HOST_UNREACH as HOST_UNREACH
    from gateway.icmplimit import IcmpHosts as IcmpHosts
    from gateway.icmplimit import IcmpRateLimit as IcmpRateLimit
    from gateway.identity import luhn_check_digit as luhn_check_digit
    from gateway.internet import DEFAULT_INTERNET as DEFAULT_INTERNET
    from gateway.internet import Internet as Internet
    from gateway.internet import Route as Route
    from gateway.internet import RouteKind as RouteKind
    from gateway.internet import load_internet as load_internet
    from gateway.internet import parse_internet as parse_internet
    from gateway.ipv4 import DF as DF
    from gateway.ipv4 import MF as MF
    from gateway.ipv4 import Reassembly as Reassembly
    from gateway.ipv4 import add_fragment as add_fragment
    from gateway.ipv4 import checksum as checksum
    from gateway.numbering import InvalidNumber as InvalidNumber
    from gateway.numbering import default_plan as default_plan
    from gateway.partial import INTERVAL_S as INTERVAL_S
    from gateway.partial import PartialRecords as PartialRecords
    from gateway.partial import cut_sessions as cut_sessions
    from gateway.partial import final_causes as final_causes
    from gateway.plmn import default_table as default_table
    from gateway.plmn import home_plmn as home_plmn
    from gateway.plmn import next_time_zone_change as next_time_zone_change
    from gateway.plmn import time_zone_changes as time_zone_changes
    from gateway.plmn import unassigned_mcc as unassigned_mcc
    from gateway.plmn import zone_of as zone_of
    from gateway.scans import SCAN_KEYS as SCAN_KEYS
    from gateway.scans import SCANS as SCANS
    from gateway.scans import ContextScans as ContextScans
    from gateway.scans import ScanSetting as ScanSetting
    from gateway.scans import ScanSettingError as ScanSettingError
    from gateway.scans import id_words as id_words
    from gateway.scans import line_rng as line_rng
    from gateway.scans import scan_probes as scan_probes
    from gateway.scans import scan_rng as scan_rng
    from gateway.scans import scan_setting as scan_setting
    from gateway.wire import ACK_DELAY_S as ACK_DELAY_S
    from gateway.wire import DEVICE as DEVICE
    from gateway.wire import HEADER as HEADER
    from gateway.wire import ICMP_ERROR_MAX as ICMP_ERROR_MAX
    from gateway.wire import ICMP_HEADER as ICMP_HEADER
    from gateway.wire import MSS as MSS
    from gateway.wire import RTO_MAX_S as RTO_MAX_S
    from gateway.wire import RTO_MIN_S as RTO_MIN_S
    from gateway.wire import SERVER as SERVER
    from gateway.wire import SYN as SYN
    from gateway.wire import SYN_RETRIES as SYN_RETRIES
    from gateway.wire import SYN_RTO_S as SYN_RTO_S
    from gateway.wire import UDP_HEADER as UDP_HEADER
    from gateway.wire import TcpWire as TcpWire
    from gateway.wire import icmp_error_size as icmp_error_size
    from gateway.wire import measured_rto as measured_rto
    from gateway.wire import play as play
    from gateway.wire import prompt_acks as prompt_acks
    from gateway.wire import refused as refused
    from gateway.wire import rides as rides
    from gateway.wire import segments as segments
    from gateway.wire import syn_time as syn_time
    from gateway.wire import syns as syns
    from gateway.wire import unanswered as unanswered
    from gateway.wire import unreachable as unreachable

# The rest of the contract: the data and configuration types, errors and pure functions of the
# gateway that its callers need besides `NetworkAPI` (its tables, alarm and scan settings, the
# TCP/IP model it bills a connection by, the partial-record rule, the capture sink), by the module
# that owns each.  They are imported when first asked for (`from gateway.api import X`, module
# `__getattr__`, PEP 562): the gateway's own modules import this one, and `import gateway.api` stays
# as cheap as its own definitions (no numpy, no PyYAML tables, no scapy) for the light paths.
_CONTRACT: dict[str, str] = {
    name: module
    for module, names in (
        (
            "gateway.alarms",
            "Alarm AlarmConfig AlarmEngine JsonLinesAlarmSink MACHINE_ZONE Use UseKind is_alarm_file"
            " load_alarm_config machine_zone parse_alarm_config",
        ),
        ("gateway.apn", "ApnCatalog default_catalog fixed_host"),
        ("gateway.capture", "PcapCapture"),
        ("gateway.capture.frames", "is_own_capture"),
        ("gateway.errors", "ConfigError GatewayError"),
        ("gateway.events", "ContextInfo"),
        (
            "gateway.icmplimit",
            "DEST_UNREACH GATEWAY HELD_GLOBAL HELD_HOST HOST_UNREACH IcmpHosts IcmpRateLimit",
        ),
        ("gateway.identity", "luhn_check_digit"),
        ("gateway.internet", "DEFAULT_INTERNET Internet Route RouteKind load_internet parse_internet"),
        ("gateway.ipv4", "DF MF Reassembly add_fragment checksum"),
        ("gateway.numbering", "InvalidNumber default_plan"),
        ("gateway.partial", "INTERVAL_S PartialRecords cut_sessions final_causes"),
        (
            "gateway.plmn",
            "default_table home_plmn next_time_zone_change time_zone_changes unassigned_mcc zone_of",
        ),
        (
            "gateway.scans",
            "SCANS SCAN_KEYS ContextScans ScanSetting ScanSettingError id_words line_rng scan_probes scan_rng "
            "scan_setting",
        ),
        (
            "gateway.wire",
            "ACK_DELAY_S DEVICE HEADER ICMP_ERROR_MAX ICMP_HEADER MSS SERVER RTO_MAX_S RTO_MIN_S SYN SYN_RETRIES SYN_RTO_S TcpWire UDP_HEADER icmp_error_size measured_rto play prompt_acks refused"
            " rides segments syn_time syns unanswered unreachable",
        ),
    )
    for name in names.split()
}

if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all attribute

    def __getattr__(name: str) -> object:
        """A name of `_CONTRACT`, from its module (imported now, kept here for the next use)."""
        module = _CONTRACT.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_CONTRACT})


MAX_IP_PACKET = 65_535
"""The largest packet `NetworkAPI.carry_packet` takes: an IPv4 Total Length (an IPv6 packet without jumbogram)."""

NSAPIS = range(5, 16)
"""A line's NSAPIs (TS 24.008: 5..15), so at most 11 PDP contexts of a line at once: a twelfth is
refused (cause 199, `GtpCause.NO_RESOURCES_AVAILABLE`)."""


class GtpCause(IntEnum):
    """GTPv1-C cause values (TS 29.060 7.7.1) a GGSN answers to Create PDP Context."""

    REQUEST_ACCEPTED = 128
    NON_EXISTENT = 192
    NO_RESOURCES_AVAILABLE = 199
    SERVICE_NOT_SUPPORTED = 200
    USER_AUTHENTICATION_FAILED = 209
    ALL_DYNAMIC_ADDRESSES_OCCUPIED = 211
    MISSING_OR_UNKNOWN_APN = 219


class AttachCause(IntEnum):
    """GMM causes (TS 24.008 10.5.5.14) for a refused attach / registration."""

    ACCEPTED = 0
    IMSI_UNKNOWN_IN_HLR = 2
    ILLEGAL_MS = 3
    GPRS_SERVICES_NOT_ALLOWED = 7
    PLMN_NOT_ALLOWED = 11
    ROAMING_NOT_ALLOWED_IN_LA = 13
    NO_SUITABLE_CELLS = 15
    NETWORK_FAILURE = 17


class CallKind(StrEnum):
    VOICE = "voice"  # voice channel, DTMF signalling
    CSD = "csd"  # circuit-switched data (GSM data)
    FAX = "fax"


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    REFUSED = "refused"  # barred by the offer or the network: see `cause`
    # The called party is alerted (`place_call(..., alerting=True)`): the call waits for its answer;
    # ask `call_progress` at `CallResult.until`.  Never an outcome to force.
    ALERTING = "alerting"


class SmsStatus(StrEnum):
    ACCEPTED = "accepted"  # taken by the SMSC (MO) / delivered (MT)
    REFUSED = "refused"  # barred or malformed: see `cause`
    STORED = "stored"  # MT: device unreachable, kept until the validity period ends
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A line as the network knows it (HLR + the offer's policy)."""

    line_id: str
    imsi: str  # 14-15 digits, MCC+MNC+MSIN
    msisdn: str  # E.164 digits without '+', e.g. 33612345678
    offer: str  # catalog offer id, e.g. business-m2m-dtmf
    apns: tuple[str, ...] = ()  # APNs this line may use; empty: the offer's defaults
    # The line's fixed address: its host number in every APN pool (modulo the pool's size), as M2M
    # private APNs give a SIM a fixed IP; taken when free, else a dynamic one. None: dynamic only.
    static_address: int | None = None


@dataclass(frozen=True, slots=True)
class AttachResult:
    accepted: bool
    cause: AttachCause
    zone: Zone | None = None


@dataclass(frozen=True, slots=True)
class SessionResult:
    """Outcome of `open_session` (a Create PDP Context exchange)."""

    cause: GtpCause
    session_id: str | None = None  # set when accepted
    ip_address: str | None = None
    charging_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.cause == GtpCause.REQUEST_ACCEPTED


@dataclass(frozen=True, slots=True)
class PcoAuth:
    """The credentials a device gives in its activation's Protocol Configuration Options (TS 24.008
    10.5.6.3): PAP's user and password, or CHAP's name with the identifier, challenge and response
    of its MD5 exchange (RFC 1994) -- what a modem passes on from its PPP link."""

    method: str  # "pap" or "chap"
    user: str = ""
    password: bytes = b""  # PAP
    chap_id: int = 0  # CHAP
    challenge: bytes = b""
    response: bytes = b""

    def verifies(self, secret: str) -> bool:
        """The credentials match the APN's password `secret`."""
        key = secret.encode()
        if self.method == "pap":
            return hmac.compare_digest(self.password, key)
        if self.method == "chap":
            expected = hashlib.md5(
                bytes((self.chap_id & 0xFF,)) + key + self.challenge, usedforsecurity=False
            )
            return hmac.compare_digest(self.response, expected.digest())
        return False


@dataclass(frozen=True, slots=True)
class SmsResult:
    status: SmsStatus
    message_ref: int | None = None
    dest: Dest | None = None
    cause: str | None = None  # human-readable refusal reason (TS 24.011 RP cause name)


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: CallOutcome
    call_id: str | None = None  # set when answered or alerting
    cause: str | None = None
    until: float | None = None  # ALERTING: when the switch settles the call unless answered before


class CallParty(Protocol):
    """A device that takes a line's calls (`NetworkAPI.serve_calls`), e.g. a virtual modem: it is
    alerted of the calls to its line and told when the other end answers or releases.  `now` is the
    network's time of the event; the device runs it at that time on its own clock."""

    def call_offered(self, now: float, call_id: str, caller: str, kind: CallKind) -> bool:
        """A call from `caller` (its number, E.164 with '+') alerts the device: it rings until it
        answers (`answer_call`), declines (`reject_call`) or the call is released.  False: the device
        cannot take it (a call of its own in progress): the caller hears busy."""
        ...

    def call_answered(self, now: float, call_id: str) -> None:
        """The called end of this device's call answered: the call is active from `now`."""
        ...

    def call_released(self, now: float, call_id: str, cause: str) -> None:
        """The call was released by the other end or the network (a Q.850 cause text, as `CallResult.cause`).
        A device told of a call it no longer holds (it released it itself) ignores it."""
        ...


@dataclass(slots=True)
class MtSms:
    """A mobile-terminated SMS waiting for or delivered to a device."""

    sender: str
    text: str
    submitted_at: float
    validity_s: float = 3 * 86_400.0
    message_ref: int = 0
    status_report: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    # The information elements of the submitted part's user-data header (TP-UDH without its length
    # octet: concatenation, application ports), relayed to the recipient as the SMSC got them.
    udh: bytes = b""
    report_to: ReportTo | None = None  # an MO SMS whose sender asked for a status report


@dataclass(frozen=True, slots=True)
class ReportTo:
    """Where the status report of an MO SMS goes: the sending line, its TP-MR, the number it dialled."""

    line_id: str
    message_ref: int
    recipient: str


# TP-Status (TS 23.040 9.2.3.15) the SMSC gives in a status report
TP_ST_DELIVERED = 0x00  # short message received by the SME
TP_ST_VALIDITY_EXPIRED = 0x46  # permanent error: SM validity period expired
TP_ST_DELETED_BY_SC = 0x48  # permanent error: SM deleted by SC administration (not kept by the SMSC)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """An SMS-STATUS-REPORT for the submitter of an MT SMS (or, with `recipient`, for a line's MO SMS)."""

    line_id: str  # the recipient (a line id; for a report to a line, see `recipient`)
    sender: str
    message_ref: int  # the SMSC's reference; for a report to a line, the line's TP-MR
    submitted_at: float
    completed_at: float
    status: SmsStatus  # ACCEPTED (delivered), EXPIRED, or REFUSED (the SMSC did not keep it)
    recipient: str = ""  # the recipient's number (TP-RA) in a report sent back to a line
    tp_status: int | None = None  # the TP-Status the SMSC gives; None: the one of `status` (`st`)

    @property
    def st(self) -> int:
        """The report's TP-Status: the SMSC's, else delivered (0) or validity period expired (0x46)."""
        if self.tp_status is not None:
            return self.tp_status
        return TP_ST_DELIVERED if self.status is SmsStatus.ACCEPTED else TP_ST_VALIDITY_EXPIRED


class RecordSink(Protocol):
    """Where the network writes its usage records (a usage file writer, a list in tests)."""

    def write(self, record: UsageRecord) -> None: ...


class NetworkAPI(Protocol):
    """What devices call, and what the operator side does around them (provisioning a line, an
    application server's SMS, the end of a run).  Every method on a line takes the current
    simulated time first."""

    def register_subscriber(self, subscriber: Subscriber) -> None:
        """Provision a line (HLR).  Raises `gateway.errors` InvalidIdentity or ConfigError on bad data."""
        ...

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
        ...

    def force_call_outcome(self, numbers: Iterable[str], outcome: CallOutcome | str) -> None:
        """From now on, calls to `numbers` (as dialled, or E.164 digits) end as `outcome`."""
        ...

    def flush(self, now: float, close: bool = True) -> None:
        """End of the run: open sessions' records are closed (cause 20, the context was not released)
        and written, calls in progress hung up."""
        ...

    def current_records(self, now: float) -> list[UsageRecord]:
        """Each open data session's current record as it stands at `now`, written nowhere and
        changing nothing (interim accounting): its bytes since its last record, the sequence number
        it will be written under, no cause.  What a crash of the gateway at `now` would lose."""
        ...

    def attach(
        self, now: float, line_id: str, imeisv: str, serving_plmn: str, rat: str = "geran"
    ) -> AttachResult:
        """GPRS attach / registration of `line_id` in device `imeisv` on network `serving_plmn` (MCC+MNC)."""
        ...

    def detach(self, now: float, line_id: str, *, by_network: bool = False) -> None:
        """Detach; any open session is released normally (cause 0: the device's own detach, AT+CGATT=0,
        a power-down).  `by_network`: the network detaches the line (an operator's action, TS 24.008
        4.7.4.2 network-initiated detach): the records are closed with cause 20, management
        intervention (TS 32.298), as the operator's own release of the contexts still up at the
        period's end is."""
        ...

    def time_zone_change(self, now: float, line_id: str) -> bool:
        """The serving country's clocks changed (daylight saving) under an attached line: its open
        contexts get the new MS Time Zone, each record cut with cause 23.  True when it changed."""
        ...

    def move(self, now: float, line_id: str, serving_plmn: str, rat: str | None = None) -> AttachResult:
        """A routing area update of an attached line to `serving_plmn` (and `rat`; None: the same):
        its open PDP contexts go on, each cut into a partial record with the TS 32.298 cause of
        what changed.  A line not attached is attached."""
        ...

    def open_session(
        self, now: float, line_id: str, apn: str, *, auth: PcoAuth | None = None
    ) -> SessionResult:
        """Activate a PDP context on `apn`; `auth`: the credentials the device gave (its PPP link's
        PAP or CHAP), checked against the APN's password when the APN asks for authentication."""
        ...

    def transfer(self, now: float, session_id: str, bytes_up: int, bytes_down: int) -> None:
        """Count IP bytes carried by an open session since the last call (the capture samples
        G-PDUs made from these counts: their packets are modelled, not real)."""
        ...

    def carry_packet(self, now: float, session_id: str, packet: bytes, *, uplink: bool) -> bool:
        """Carry one real IP packet on an open session: counted at its length (uplink: from the
        device; else downlink), and, when the capture writes GTP-U, written as one G-PDU whose
        T-PDU is exactly `packet` (uplink SGSN -> GGSN with the GGSN's TEID, downlink back with the
        SGSN's).  `packet` is 1..`MAX_IP_PACKET` octets (else `gateway.errors.InvalidVolume`).  `transfer`
        is for volume whose packets are not real (modelled headers, the simulator's traffic).
        False: an uplink IPv4 packet whose source is not the session's address, dropped by the
        gateway's source check (counted unless `NetworkConfig.source_violation` is `excluded`);
        True: the gateway forwards it."""
        ...

    def close_session(self, now: float, session_id: str, abnormal: bool = False) -> None:
        """Deactivate a PDP context; writes the session's final record."""
        ...

    def session_open(self, session_id: str) -> bool:
        """Whether a session is still open: the network may have released it on its own (a detach
        by the network, a move into no coverage, the end of the run's `flush`)."""
        ...

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
        """A mobile-originated SMS to `dest_number` (national or E.164 digits, '+' allowed).

        `text` and `udh` (the part's user-data header elements) reach the recipient when it is a
        line of this network; `status_report` (TP-SRR) with the device's TP-MR `message_ref` puts a
        status report in `pending_reports` once the message is delivered or expires.
        `validity_s`: the TP-VP it was submitted with, in seconds (None: the SMSC's default).
        `extra` goes with the text to such a recipient as `MtSms.extra` (the device's own encoding
        of the part: what its modem delivers as it came).
        """
        ...

    def pending_sms(self, now: float, line_id: str, room: int | None = None) -> list[MtSms]:
        """Mobile-terminated SMS deliverable to `line_id` now (taken out of the SMSC's store).

        `room`: how many the device can store now (None: as many as wait).  Those beyond are not
        delivered (memory capacity exceeded, a temporary error): they wait in the SMSC for the next
        asking, and their status report (TP-SRR) says delivered only when they are taken, or
        expired when their validity ends first."""
        ...

    def pending_reports(self, now: float, line_id: str) -> list[DeliveryReport]:
        """Status reports for the line's MO SMS that asked for one (oldest first), taken out."""
        ...

    def place_call(
        self, now: float, line_id: str, dest_number: str, kind: CallKind, *, alerting: bool = False
    ) -> CallResult:
        """A mobile-originated call; answered calls stay up until `hang_up`.

        Without `alerting` the outcome is known at once (the simulator's devices).  With it, a call
        that is not refused or busy first alerts the called party: ALERTING with `until`, when the
        caller asks `call_progress`; a line of this network served by a device (`serve_calls`)
        rings there and is answered when that device answers (the caller's `CallParty` is told).
        """
        ...

    def is_emergency(self, dialled: str) -> bool:
        """Whether the network routes `dialled` to the emergency services (its numbering plan's
        emergency numbers): a device may place such a voice call without registration, on any offer."""
        ...

    def call_progress(self, now: float, call_id: str) -> CallResult:
        """Where an alerting call stands at `now`: ALERTING (with `until`), ANSWERED, or NO_ANSWER once
        `until` has passed unanswered (then released: the called device is told)."""
        ...

    def serve_calls(self, line_id: str, party: CallParty | None) -> None:
        """The device that takes `line_id`'s calls (alerted, answers, declines), and is told of the
        progress of the calls it places; None: no device (calls to the line get the switch's outcomes)."""
        ...

    def answer_call(self, now: float, call_id: str) -> bool:
        """The called device answers a call alerting it (ATA): active from `now`, the caller is told.
        False when the call is no longer alerting (released meanwhile)."""
        ...

    def reject_call(self, now: float, call_id: str) -> None:
        """The called device declines a call alerting it (ATH / AT+CHUP while it rings): released, the
        caller hears busy (Q.850 17 user busy)."""
        ...

    def hang_up(self, now: float, call_id: str) -> None:
        """Release a call (either end, or the caller before the answer); writes its record with the
        duration; the other end's device is told."""
        ...


class BulkNetworkAPI(NetworkAPI, Protocol):
    """`NetworkAPI` and what a caller that plays data sessions whole, without the per-call methods,
    asks of the network to bill and capture them as it would have (the simulator's bulk path:
    `gateway.partial.cut_sessions` cuts them, `PcapCapture.write_sessions` writes their packets)."""

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
        """`NetworkAPI.open_session`, with the context's charging id when the caller allocates it
        (the simulator takes a device's from its own block, for its sessions played whole and
        those played by call alike, so that they do not depend on the run's sharding); the session
        id is `<line>-<charging id>`.  None: the network's counter gives it.  One not positive or
        in use on the line raises `gateway.errors.InvalidRequest`.  `scan`: how the context is
        scanned (`gateway.scans`: the probes of each of its records drawn when the gateway closes
        it, as a served modem's; the simulator's persistent connections); None: as the network
        scans its APN."""
        ...

    def allowed_apns(self, offer: str) -> frozenset[str]:
        """The APNs the network's policy lets a line of `offer` use (its APN table's, by name)."""
        ...

    def bulk_context(
        self, line_id: str, charging_id: int, apn: str, serving_plmn: str, imeisv: str
    ) -> ContextInfo:
        """The identities of a data session of the registered line `line_id` on `apn` from
        `serving_plmn` in device `imeisv`, played whole by the caller, as the capture writes them:
        the session id of its line and charging id, the line's fixed address in the APN's pool (as
        the per-call path gives it; an APN the table lacks: in 10.0.0.0/8), the SGSN serving
        `serving_plmn`, the line's RAT now and the APN's authentication.  Raises
        `gateway.errors.UnknownLine` for a line not registered."""
        ...

    def incident_counts(self) -> dict[str, int]:
        """The bad input refused so far (`gateway.errors`, each left as an incident), by kind."""
        ...


def move_to(
    net: NetworkAPI,
    now: float,
    line_id: str,
    imeisv: str,
    serving_plmn: str,
    rat: str | None = None,
    *,
    attached: bool,
) -> AttachResult:
    """A device that finds coverage on `serving_plmn` after a move (`rat`: the radio it is served
    on, None: the one it had): the rule the simulator's devices and the virtual modem share.

    Attached, it makes a routing area update (`NetworkAPI.move`): its PDP contexts go on, as a
    core keeps them across an inter-SGSN or inter-PLMN change, each cut into a partial record
    closed with the cause of what changed (TS 32.298 causeForRecClosing: 24 sGSNPLMNIDChange,
    18 servingNodeChange, 22 rATChange, 23 mSTimeZoneChange), the records after it in the zone
    where the context was opened.  Not attached (never yet, or after a loss of coverage), it
    attaches.  A move into no coverage is not made here: the device can signal nothing, its
    contexts are lost (closed abnormally, cause 4, by the caller) and it attaches when coverage
    comes back.
    """
    if attached:
        return net.move(now, line_id, serving_plmn, rat)
    return net.attach(now, line_id, imeisv, serving_plmn, rat or "geran")


def build_network(
    epoch: datetime,
    records: RecordSink,
    seed: int = 0,
    *,
    capture: CaptureSink | None = None,
    alarms: AlarmEngine | None = None,
    scans: Mapping[str, ScanSetting] | None = None,
    home_plmn: str = "20801",
) -> BulkNetworkAPI:
    """The operator network (`gateway.network.Network`, default configuration) as a `BulkNetworkAPI`
    (a virtual modem asks only its `NetworkAPI` part).

    `epoch`: the UTC time of simulated 0; `records`: where its usage records go; `seed`: the
    call switch's seeded outcomes and the lines' scan streams; `capture`: where its control,
    accounting and user-plane events go (e.g. a `gateway.capture.PcapCapture`); `alarms`: the
    autodiagnostic alarm engine its lines' uses are reported to (`gateway.alarms`); `scans`: the
    Internet scans of public APNs, by APN name (`gateway.scans`; none by default); `home_plmn`:
    the operator's network, MCC+MNC (its SGSN serves there, any other is visited; bad:
    `ConfigError`).  This is where mypy checks the implementation against the protocols.
    """
    from gateway.network import Network, NetworkConfig  # the implementation imports this module

    apn_scans = tuple(sorted((scans or {}).items()))
    config = NetworkConfig(epoch=epoch, home_plmn=home_plmn, seed=seed, apn_scans=apn_scans)
    return Network(config, records, capture=capture, alarms=alarms)
