"""The APN gateway (GGSN): PDP contexts, address pools, volume counting and partial records.

`gateway.network.Network` owns one and hands it the data-session calls; the
rules are described there and in `gateway.partial`.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import IPv4Network
from typing import Protocol

import numpy as np

from accounting.records import ClosingCause, UsageRecord, UsageType, Zone
from gateway.alarms import UseKind
from gateway.api import MAX_IP_PACKET, NSAPIS, GtpCause, PcoAuth, RecordSink, SessionResult, Subscriber
from gateway.apn import AddressPool, Apn, ApnCatalog, fixed_host
from gateway.config import CountingMode, NetworkConfig, SourceViolation
from gateway.errors import InvalidRequest, InvalidVolume, UnknownSession
from gateway.events import CaptureSink, ContextInfo
from gateway.journal import Journal
from gateway.lines import LineState
from gateway.partial import prorate
from gateway.scans import ContextScans, ScanSetting, record_probes, scan_rng

log = logging.getLogger("gateway.network")

GTP_U_OVERHEAD = 36  # outer IPv4 (20) + UDP (8) + GTP-U header (8) per packet


class UseReporter(Protocol):
    """Where the gateway reports data use (the network forwards it to the alarm engine)."""

    def __call__(
        self,
        now: float,
        line: LineState,
        kind: UseKind,
        zone: Zone | None = None,
        *,
        nbytes: int = 0,
        ko: int = 0,
    ) -> None: ...


def _ipv4(text: str) -> bytes | None:
    """The 4 octets of an IPv4 address written in dotted form; None for another kind of address."""
    try:
        return socket.inet_aton(text)
    except OSError:
        return None


@dataclass(slots=True)
class _Session:
    sid: str
    line: LineState
    apn: Apn
    ctx: ContextInfo
    zone: Zone  # where the context was opened: the zone of all its records (docs/tariff.md)
    serving_zone: Zone  # where its bytes are carried now (the alarms' roaming data)
    start_t: int  # whole seconds since the epoch
    last_time: float  # time of the session's last event (as given)
    mark_t: int  # counters are settled up to here
    period_start_t: int
    seq: int = 0  # records written
    limits: int = 0  # time-limit records written (the 12-hour cuts count from the start)
    cur_up: int = 0  # bytes of the current period
    cur_down: int = 0
    cum_up: int = 0  # bytes in the records written
    cum_down: int = 0
    ko_written: int = 0  # billable ko of the records written (each rounded up to a whole ko)
    ko_told: int = 0  # billable ko reported as used so far (those and the current record's)
    scan: ContextScans | None = None  # its probes (`gateway.scans`): drawn for each record it closes


def whole(now: float) -> int:
    """A time floored to its second: records and cuts are in whole seconds."""
    return math.floor(now)


_NO_APN_POOL = IPv4Network("10.0.0.0/8")  # the address of a bulk session on an APN the table lacks


def session_id(line_id: str, charging_id: int) -> str:
    """A context's session id (Acct-Session-Id and the records' `session`): unique per line and GGSN."""
    return f"{line_id}-{charging_id}"


class Ggsn:
    def __init__(
        self,
        config: NetworkConfig,
        catalog: ApnCatalog,
        records: RecordSink,
        capture: CaptureSink | None,
        journal: Journal,
        time: Callable[[float], datetime],
        use: UseReporter,
        lines: Mapping[str, LineState],
    ) -> None:
        self.config = config
        self.lines = lines
        self.catalog = catalog
        self.records = records
        self.capture = capture
        self.journal = journal
        self.time = time
        self.use = use
        self._pools = {name: AddressPool(apn.pool) for name, apn in catalog.apns.items()}
        self._sessions: dict[str, _Session] = {}
        self._next_charging = 1  # charging ids of contexts whose caller gives none
        # scans per public APN: the scenario's setting, else the APN's rate, else the network's
        given = dict(config.apn_scans)
        self._scans = {
            name: given.get(name)
            or ScanSetting(
                config.scan_rate_per_hour if apn.scan_rate_per_hour is None else apn.scan_rate_per_hour,
                config.scan_packet_bytes,
                config.scan_reply_bytes,
            )
            for name, apn in catalog.apns.items()
            if apn.public
        }
        self._scan_rngs: dict[str, np.random.Generator] = {}  # each line's scan stream
        self._outer = config.counting == CountingMode.OUTER_GTP

    def open_sessions(self) -> list[str]:
        return list(self._sessions)

    def session_open(self, session_id: str) -> bool:
        return session_id in self._sessions

    def pool(self, apn: str) -> AddressPool:
        return self._pools[apn]

    def _context(
        self, line: LineState, apn: str, charging_id: int, ip: str, nsapi: int, found: Apn | None = None
    ) -> ContextInfo:
        """A context's identities; the session id is the line and the charging id (`session_id`).

        Tunnel ids and the GTP sequence are left to the capture: it derives the TEIDs from the
        charging id (`gateway.capture.codec.context_teids`) and numbers the sequence per path.
        """
        sub = line.subscriber
        return ContextInfo(
            session_id=session_id(sub.line_id, charging_id) if charging_id else "",
            line_id=sub.line_id,
            imsi=sub.imsi,
            msisdn=sub.msisdn,
            imeisv=line.imeisv or "",
            apn=apn,
            charging_id=charging_id & 0xFFFFFFFF,
            ip_address=ip,
            sgsn_address=self.sgsn_of(line.serving_plmn),
            ggsn_address=self.config.ggsn_address,
            serving_plmn=line.serving_plmn or "",
            rat=line.rat,
            nsapi=nsapi,
            authentication=found.authentication if found is not None else "",
            password=found.password if found is not None else "",
        )

    def bulk_context(
        self, line: LineState, charging_id: int, apn: str, serving_plmn: str, imeisv: str
    ) -> ContextInfo:
        """A session played whole by the caller (`gateway.api.BulkNetworkAPI.bulk_context`): the
        identities `_context` gives an opened one, its address the line's fixed host in the APN's
        pool (10.0.0.0/8 for an APN the table lacks) and the default NSAPI."""
        sub = line.subscriber
        found = self.catalog.apns.get(apn.strip().lower())
        pool = found.pool if found is not None else _NO_APN_POOL
        return ContextInfo(
            session_id=session_id(sub.line_id, charging_id),
            line_id=sub.line_id,
            imsi=sub.imsi,
            msisdn=sub.msisdn,
            imeisv=imeisv,
            apn=apn,
            charging_id=charging_id & 0xFFFFFFFF,
            ip_address=fixed_host(pool, sub.static_address or 0),
            sgsn_address=self.sgsn_of(serving_plmn),
            ggsn_address=self.config.ggsn_address,
            serving_plmn=serving_plmn,
            rat=line.rat,
            authentication=found.authentication if found is not None else "",
            password=found.password if found is not None else "",
        )

    def sgsn_of(self, serving_plmn: str | None) -> str:
        """The SGSN serving a network: the home one, or the visited network's (over Gp)."""
        if serving_plmn == self.config.home_plmn:
            return self.config.sgsn_address
        return self.config.visited_sgsn_address

    def refuse(
        self, now: float, line: LineState | None, apn: str, cause: GtpCause, why: str
    ) -> SessionResult:
        self.journal.counters[f"session-refused:{int(cause)}"] += 1
        subject = line.line_id if line is not None else "?"
        log.info("t=%s line %s: PDP context on %r refused, cause %d (%s)", now, subject, apn, cause, why)
        if self.capture is not None and line is not None and line.attached:
            # the NSAPI the MS asked with: its first free one (all in use: the last)
            nsapi = next((n for n in NSAPIS if n not in line.nsapis), NSAPIS[-1])
            found = self.catalog.apns.get(apn)
            self.capture.pdp_create(now, self._context(line, apn, 0, "0.0.0.0", nsapi, found), int(cause))
        return SessionResult(cause)

    def default_apn(self, sub: Subscriber) -> str:
        """The APN the network selects for a line that asks none: its subscription's first, else
        the first of the APN table its offer may use ("" when there is none: refused as missing)."""
        if sub.apns:
            return sub.apns[0].strip().lower()
        policy = self.catalog.offers.get(sub.offer)
        m2m_only = policy is not None and policy.m2m_apns_only
        return next((n for n, a in self.catalog.apns.items() if a.m2m or not m2m_only), "")

    def open(
        self,
        now: float,
        line: LineState,
        apn: str,
        charging_id: int | None = None,
        auth: PcoAuth | None = None,
        scan: ContextScans | None = None,
    ) -> SessionResult:
        """Activate a PDP context for a known line (the caller checked its time order).

        `auth`: the credentials the device gave (a modem's PPP PAP / CHAP); on an APN that asks for
        authentication they must match its password (refused with 209 otherwise).  None: the
        device sends what the APN asks (the simulator's devices).

        `charging_id`: the context's charging id when the caller allocates it (the simulator
        takes it from the device's block, so that it does not depend on the sharding); else
        the gateway's own counter gives it.  The session id is `<line>-<charging id>`.

        `scan`: how the context is scanned (the simulator's persistent connections: the scenario's
        setting, the device's scan stream); None: as the network scans its APN (its setting, the
        line's stream of the network's seed).
        """
        name = apn.strip().lower() if isinstance(apn, str) else ""
        if not line.attached:
            return self.refuse(now, line, name, GtpCause.USER_AUTHENTICATION_FAILED, "not attached")
        if not name:  # no APN asked (AT+CGDCONT=1,"IP",""): the subscription's default (TS 23.060 9.2.1)
            name = self.default_apn(line.subscriber)
        found = self.catalog.apns.get(name)
        if found is None:
            return self.refuse(now, line, name, GtpCause.MISSING_OR_UNKNOWN_APN, "missing or unknown APN")
        sub = line.subscriber
        policy = self.catalog.offers[sub.offer]
        if policy.m2m_apns_only and not found.m2m:
            return self.refuse(
                now,
                line,
                name,
                GtpCause.USER_AUTHENTICATION_FAILED,
                f"offer {sub.offer} is for M2M APNs only",
            )
        if sub.apns and name not in (a.lower() for a in sub.apns):
            return self.refuse(
                now, line, name, GtpCause.USER_AUTHENTICATION_FAILED, "APN not in the line's subscription"
            )
        if auth is not None and found.authentication and not auth.verifies(found.password):
            return self.refuse(
                now,
                line,
                name,
                GtpCause.USER_AUTHENTICATION_FAILED,
                f"{auth.method.upper()} credentials not those of the APN",
            )
        free = [n for n in NSAPIS if n not in line.nsapis]
        if not free:
            return self.refuse(now, line, name, GtpCause.NO_RESOURCES_AVAILABLE, "all 11 NSAPIs in use")
        if len(self._sessions) >= self.config.max_contexts:
            return self.refuse(now, line, name, GtpCause.NO_RESOURCES_AVAILABLE, "context limit reached")
        pool = self._pools[name]
        ip = pool.allocate(line.subscriber.static_address)
        if ip is None:
            return self.refuse(
                now, line, name, GtpCause.ALL_DYNAMIC_ADDRESSES_OCCUPIED, "address pool exhausted"
            )
        if charging_id is None:
            n = self._next_charging
            self._next_charging += 1
        else:
            n = int(charging_id)
            if n <= 0 or session_id(line.line_id, n) in self._sessions:
                pool.release(ip)
                self.journal.fail(
                    now,
                    "bad-request",
                    line.line_id,
                    InvalidRequest(f"charging id {charging_id!r}: must be positive and not in use"),
                )
        line.last_charging = max(line.last_charging, n)
        ctx = self._context(line, name, n, ip, free[0], found)
        t = whole(now)
        session = _Session(
            sid=ctx.session_id,
            line=line,
            apn=found,
            ctx=ctx,
            zone=line.zone,
            serving_zone=line.zone,
            start_t=t,
            last_time=now,
            mark_t=t,
            period_start_t=t,
            scan=scan if scan is not None else self._apn_scans(line.line_id, name),
        )
        self._sessions[ctx.session_id] = session
        line.sessions.add(ctx.session_id)
        line.nsapis.add(ctx.nsapi)
        self.journal.counters["session-opened"] += 1
        if self.capture is not None:
            self.capture.pdp_create(now, ctx, int(GtpCause.REQUEST_ACCEPTED))
            self.capture.acct_start(now, ctx)
        self.use(now, line, UseKind.DATA, zone=session.zone)
        return SessionResult(GtpCause.REQUEST_ACCEPTED, ctx.session_id, ip, ctx.charging_id)

    def _session(self, now: float, session_id: str, what: str) -> _Session | None:
        """The open session, None (with an incident) if the network already released it."""
        found = self._sessions.get(session_id)
        if found is not None:
            return found
        if not self._issued(session_id):
            self.journal.fail(now, "unknown-session", str(session_id), UnknownSession(str(session_id)))
        self.journal.incident(
            now, "released-session", session_id, f"{what} on a session already released: ignored"
        )
        return None

    def _issued(self, sid: object) -> bool:
        """Whether `sid` is a session id this gateway gave (`<line>-<charging id>` of a known line)."""
        if not isinstance(sid, str) or "-" not in sid:
            return False
        line_id, _, number = sid.rpartition("-")
        line = self.lines.get(line_id)
        return line is not None and number.isdigit() and 0 < int(number) <= line.last_charging

    def _volume(self, now: float, sid: str, name: str, value: object, elapsed: float) -> int:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            self.journal.fail(now, "bad-volume", sid, InvalidVolume(name, value, "must be an integer"))
        v = int(value)
        if v < 0:
            self.journal.fail(now, "bad-volume", sid, InvalidVolume(name, value, "must not be negative"))
        limit = self.config.max_bytes_per_s * max(elapsed, 1.0)
        if v > limit:
            self.journal.fail(
                now,
                "bad-volume",
                sid,
                InvalidVolume(
                    name, value, f"more than {self.config.max_bytes_per_s} bytes/s over {elapsed:g} s"
                ),
            )
        return v

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
        s = self._session(now, session_id, "transfer")
        if s is None:
            return
        self.journal.check_order(now, s.last_time, f"session {session_id}")
        elapsed = now - s.last_time
        up = self._volume(now, session_id, "bytes_up", bytes_up, elapsed)
        down = self._volume(now, session_id, "bytes_down", bytes_down, elapsed)
        pk_up = (
            None if packets_up is None else self._volume(now, session_id, "packets_up", packets_up, elapsed)
        )
        pk_down = (
            None
            if packets_down is None
            else self._volume(now, session_id, "packets_down", packets_down, elapsed)
        )
        self._advance(s, now, up, down, pk_up, pk_down)

    def carry(self, now: float, session_id: str, packet: bytes, uplink: bool) -> bool:
        """One real IP packet on a session: counted at its length, and handed whole to the capture.

        The source check: an uplink IPv4 packet whose source is not the session's address is
        dropped (False; 3GPP TS 33.203 T.6), counted in the `source-violations` counter, and in the
        records unless `source_violation` is `excluded` (as Cisco StarOS's APN setting)."""
        s = self._session(now, session_id, "packet")
        if s is None:
            return False
        self.journal.check_order(now, s.last_time, f"session {session_id}")
        if not isinstance(packet, (bytes, bytearray, memoryview)):
            self.journal.fail(
                now, "bad-volume", session_id, InvalidVolume("packet", type(packet).__name__, "must be bytes")
            )
        n = len(packet)
        if not 0 < n <= MAX_IP_PACKET:
            self.journal.fail(
                now,
                "bad-volume",
                session_id,
                InvalidVolume("packet", f"{n} octets", f"an IP packet is 1..{MAX_IP_PACKET} octets"),
            )
        data = bytes(packet)
        if not uplink:
            self._advance(s, now, 0, n, 0, 1, data, False)
            return True
        own = _ipv4(s.ctx.ip_address)
        if n < 20 or data[0] >> 4 != 4 or own is None or data[12:16] == own:
            self._advance(s, now, n, 0, 1, 0, data, True)
            return True
        self.journal.counters["source-violations"] += 1
        if self.config.source_violation is SourceViolation.EXCLUDED:
            self._advance(s, now, 0, 0, 0, 0, data, True)  # in the capture (it crossed Gn), not counted
        else:
            self._advance(s, now, n, 0, 1, 0, data, True)
        return False

    def _packets(self, nbytes: int, given: int | None) -> int:
        if given is not None:
            return given
        return -(-nbytes // self.config.mean_packet_bytes)

    def _advance(
        self,
        s: _Session,
        now: float,
        up: int,
        down: int,
        pk_up: int | None,
        pk_down: int | None,
        packet: bytes | None = None,
        uplink: bool = False,
        final: bool = False,
    ) -> None:
        """Count a chunk, and the scans of the records it closes (`gateway.scans`): those its span
        crosses a 12-hour cut of, and with `final` (the context ends, or a move cuts its record, at
        `now`) the current one.

        `packet`: the chunk is this real IP packet, carried at the instant `now`: it is counted
        whole in the period `now` falls in (a boundary passes once `now` is past it), and given
        whole to the capture after the records of the boundaries passed.  The chunk's volume is
        spread over the span since the last event, as any `transfer`; each record's probes are its
        own, drawn over its span (they arrived along the context's life).
        """
        t = whole(now)
        until = t if packet is None else math.ceil(now)
        scan = s.scan
        probes: list[tuple[int, int]] = []  # (up, down) counted bytes of the probes of each record closed
        scan_packets = scan_up = scan_down = 0
        if scan is not None and scan.setting.per_hour > 0:
            spans = self._record_spans(s, until, final)
            if spans:
                setting = scan.setting
                # a count per record, over its span, from the line's stream: what the simulator's
                # device draws for a session of one record (`simulator.traffic.scan_bytes`)
                counts = record_probes(
                    scan.rng(), setting.per_hour, np.array(spans, dtype=np.int64), s.seq == 0
                )
                begin = s.period_start_t
                for n, span in zip(counts.tolist(), spans, strict=True):
                    if self.capture is not None and n:  # in the span of the record that counts them
                        self.capture.scan_probes(
                            float(begin),
                            float(begin + span),
                            s.ctx,
                            n,
                            setting.packet_bytes,
                            setting.reply_bytes,
                        )
                    begin += span
                    # each probe a SYN down and, unless the device filters, its reset up: a refused
                    # connect of the wire model, as the simulator bills a scan
                    p_down, p_up = n * setting.packet_bytes, n * setting.reply_bytes
                    scan_packets += n
                    scan_up += p_up
                    scan_down += p_down
                    if self._outer:
                        p_up += GTP_U_OVERHEAD * (n if setting.reply_bytes else 0)
                        p_down += GTP_U_OVERHEAD * n
                    probes.append((p_up, p_down))
        if scan_packets:
            self.journal.counters["scan-packets"] += scan_packets
            self.journal.counters["scan-bytes"] += scan_down + scan_up
        scan_up_counted = sum(p[0] for p in probes)
        scan_down_counted = sum(p[1] for p in probes)
        if self._outer:
            up_counted = up + GTP_U_OVERHEAD * self._packets(up, pk_up) + scan_up_counted
            down_counted = down + GTP_U_OVERHEAD * self._packets(down, pk_down) + scan_down_counted
        else:
            up_counted, down_counted = up + scan_up, down + scan_down
        if packet is None:
            if self.capture is not None and (up or down):  # (the probes given above, at their times)
                self.capture.user_packets(now, s.ctx, up, down)
            self._settle(s, until, up_counted - scan_up_counted, down_counted - scan_down_counted, probes)
        else:
            self._settle(s, until, 0, 0, probes)  # the boundaries before `now`
            if self.capture is not None:
                self.capture.user_packet(now, s.ctx, packet, uplink)
            s.cur_up += up_counted - scan_up_counted
            s.cur_down += down_counted - scan_down_counted
        s.last_time = now
        if up_counted or down_counted:
            # the billable ko this chunk adds: the records it closed and the current one, each rounded
            ko = s.ko_written - (-(s.cur_up + s.cur_down) // 1024)
            added, s.ko_told = ko - s.ko_told, ko
            self.use(
                now, s.line, UseKind.DATA, zone=s.serving_zone, nbytes=up_counted + down_counted, ko=added
            )

    def _record_spans(self, s: _Session, t: int, final: bool) -> list[int]:
        """The spans (s) of the records a chunk settled up to `t` closes (`_settle`'s 12-hour cuts),
        and with `final` the current one's, to `t` (where `_close` and `relocate` end it)."""
        interval = self.config.interim_interval_s
        start = s.period_start_t
        spans = []
        k = s.limits + 1
        boundary = s.start_t + k * interval
        while boundary < t:
            if boundary > start:
                spans.append(boundary - start)
                start = boundary
            k += 1
            boundary = s.start_t + k * interval
        if final:
            spans.append(max(t, start) - start)
        return spans

    def _apn_scans(self, line_id: str, apn: str) -> ContextScans | None:
        """How the network scans a context of `line_id` on `apn`: its setting, the line's stream."""
        setting = self._scans.get(apn)
        if setting is None or setting.per_hour <= 0:
            return None
        rng = self._scan_rngs.get(line_id)
        if rng is None:
            rng = self._scan_rngs[line_id] = scan_rng(self.config.seed, line_id)
        return ContextScans(setting, rng)

    def _settle(
        self, s: _Session, t: int, up: int, down: int, probes: list[tuple[int, int]] | None = None
    ) -> None:
        """Add a chunk carried over [mark, t], cutting it at the time-limit boundaries it crosses;
        `probes`: the (up, down) bytes of the probes of each record it closes, in order, and after
        them those of the current one (`_record_spans`), each whole in its record."""
        interval = self.config.interim_interval_s
        span = t - s.mark_t
        taken_up = taken_down = 0
        extra = iter(probes or ())
        boundary = s.start_t + (s.limits + 1) * interval
        while boundary < t:
            s.limits += 1
            if boundary > s.period_start_t:  # not a cut a mobility record already made
                offset = boundary - s.mark_t
                cum_up = prorate(up, offset, span)
                cum_down = prorate(down, offset, span)
                p_up, p_down = next(extra, (0, 0))
                s.cur_up += cum_up - taken_up + p_up
                s.cur_down += cum_down - taken_down + p_down
                taken_up, taken_down = cum_up, cum_down
                self._emit(s, boundary, ClosingCause.TIME_LIMIT)
            boundary = s.start_t + (s.limits + 1) * interval
        p_up, p_down = next(extra, (0, 0))
        s.cur_up += up - taken_up + p_up
        s.cur_down += down - taken_down + p_down
        if t > s.mark_t:
            s.mark_t = t

    def _record(self, s: _Session, end_t: int, cause: ClosingCause | None, sequence: int) -> UsageRecord:
        """The record of `s`'s current period, closed at `end_t` with `cause`."""
        ctx = s.ctx
        return UsageRecord(
            line=ctx.line_id,
            type=UsageType.DATA,
            start=self.time(s.period_start_t),
            duration_s=end_t - s.period_start_t,
            bytes_up=s.cur_up,
            bytes_down=s.cur_down,
            zone=s.zone,
            session=s.sid,
            imsi=ctx.imsi,
            imeisv=ctx.imeisv,
            apn=ctx.apn,
            charging_id=ctx.charging_id,
            serving_plmn=ctx.serving_plmn,
            cause=None if cause is None else int(cause),
            sequence=sequence,
        )

    def _emit(self, s: _Session, end_t: int, cause: ClosingCause) -> None:
        s.seq += 1
        ctx = s.ctx
        record = self._record(s, end_t, cause, s.seq)
        s.cum_up += s.cur_up
        s.cum_down += s.cur_down
        s.ko_written -= -(s.cur_up + s.cur_down) // 1024
        s.cur_up = s.cur_down = 0
        s.period_start_t = end_t
        self.records.write(record)
        self.journal.counters["data-records"] += 1
        if cause == ClosingCause.TIME_LIMIT and self.capture is not None:
            self.capture.acct_interim(float(end_t), ctx, s.cum_up, s.cum_down, end_t - s.start_t)

    def current_records(self, now: float) -> list[UsageRecord]:
        """Each open session's current record as it stands at `now`, written nowhere and changing
        nothing (interim accounting: RADIUS Interim-Update, a partial CDR's state): the bytes counted
        since its last record, from that record's end to `now` (to the next 12-hour cut when `now` is
        past it: no bytes counted yet lie beyond it), with the sequence number it will be written
        under and no cause (it is not closed)."""
        interval = self.config.interim_interval_s
        found: list[UsageRecord] = []
        for s in self._sessions.values():
            cut = s.start_t + (s.limits + 1) * interval
            end_t = max(s.period_start_t, min(max(whole(now), s.mark_t), cut))
            found.append(self._record(s, end_t, None, s.seq + 1))
        return found

    def relocate(self, now: float, line: LineState, cause: ClosingCause, ms_time_zone: bytes) -> None:
        """A line's contexts after a routing area update that changed what `cause` says.

        Each open context goes on (TS 23.060 inter-SGSN RAU): a partial record closes at
        `now` with `cause`, in the network it was carried in; the context then takes the
        line's new serving network, SGSN, RAT and MS time zone, and the capture gets an
        Update PDP Context exchange and a RADIUS Interim-Update carrying them.  Its records
        stay in the zone where it was opened (a session belongs to that zone), before the
        move and after.  The 12-hour time-limit cuts still count from the context's start.
        """
        for sid in sorted(line.sessions):
            s = self._sessions[sid]
            when = max(now, s.last_time)
            self._advance(s, when, 0, 0, 0, 0, final=True)  # (its record's probes with it)
            t = max(whole(when), s.period_start_t)
            self._emit(s, t, cause)
            old = s.ctx
            s.ctx = replace(
                old,
                serving_plmn=line.serving_plmn or "",
                sgsn_address=self.sgsn_of(line.serving_plmn),
                rat=line.rat,
                ms_time_zone=ms_time_zone,
            )
            s.serving_zone = line.zone
            s.last_time = when
            self.journal.counters[f"context-updated:{int(cause)}"] += 1
            if self.capture is not None:
                self.capture.pdp_update(when, s.ctx)
                self.capture.acct_interim(when, s.ctx, s.cum_up, s.cum_down, t - s.start_t)

    def close_session(self, now: float, session_id: str, abnormal: bool = False) -> None:
        s = self._session(now, session_id, "close")
        if s is None:
            return
        self.journal.check_order(now, s.last_time, f"session {session_id}")
        self._close(s, now, ClosingCause.ABNORMAL if abnormal else ClosingCause.NORMAL)

    def _close(self, s: _Session, now: float, cause: ClosingCause) -> None:
        self._advance(s, now, 0, 0, 0, 0, final=True)
        t = max(whole(now), s.period_start_t)
        self._emit(s, t, cause)
        if self.capture is not None:
            self.capture.pdp_delete(now, s.ctx)
            self.capture.acct_stop(now, s.ctx, s.cum_up, s.cum_down, t - s.start_t, int(cause))
        self._pools[s.apn.name].release(s.ctx.ip_address)
        s.line.sessions.discard(s.sid)
        s.line.nsapis.discard(s.ctx.nsapi)
        del self._sessions[s.sid]
        self.journal.counters["session-closed"] += 1

    def flush(self, now: float, close: bool) -> None:
        """Close every open session's record at the period's end (`close`: cause 20, management
        intervention, the device never released the context), or write the time-limit records `now`
        has passed."""
        sessions = list(self._sessions.values())
        for s in sessions:  # check them all before changing anything
            self.journal.check_order(now, s.last_time, f"session {s.sid}")
        for s in sessions:
            if close:
                self._close(s, now, ClosingCause.MANAGEMENT_INTERVENTION)
            else:
                self._advance(s, now, 0, 0, 0, 0)

    def release_line(self, now: float, line: LineState, cause: ClosingCause = ClosingCause.NORMAL) -> None:
        """Release a line's sessions (detach, or a new registration): normally, or with `cause` (20
        when the network detaches the line)."""
        for sid in sorted(line.sessions):
            s = self._sessions[sid]
            self._close(s, max(now, s.last_time), cause)
