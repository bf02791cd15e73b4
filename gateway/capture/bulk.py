"""Bulk capture: a batch of sessions' whole packet sequences, from templates, in time order.

`PcapCapture.write_sessions(contexts, records)` takes sessions already cut into
partial records (`gateway.partial.cut_sessions`) and writes, per session:

| event | time | packets |
|---|---|---|
| open | the first record's start | Create PDP Context Request and Response, Accounting-Request Start and Response |
| each time-limit record (cause 17) | its end | Interim-Update (cumulative counters, gigawords) and Response |
| the last record | its end | Stop (cumulative counters, Acct-Terminate-Cause) and Response, Delete PDP Context Request and Response |

The events of the batch are put in the order the per-event sink would get them
(time, then open < interim < close, then session index, as
`gateway.capture.synthetic.events` merges them), so the counters that run over
the whole capture (IP identification, RADIUS Identifier per GGSN, GTP sequence
per SGSN/GGSN pair) get the values the per-event path gives them: the file is
byte-identical to calling `pdp_create`, `acct_start`, `acct_interim`,
`acct_stop`, `pdp_delete` in that order (`drive_records`).

How it is fast: the plan (validation, cumulative counters, event order, every
counter) is numpy over the batch; a Python loop over the events only packs the
payloads (a context's constant bytes come from the capture's per-line caches;
one MD5 per RADIUS request and one per response: the floor); the Ethernet/IPv4/UDP
and pcap record headers of a window of packets are one numpy structured array
(lengths, IP identification, header checksum, timestamps), and the window is
sorted by timestamp with a stable argsort.  A window's packets dated up to its
last event go to the batch's run; the later ones (responses, 1-2 ms after their
request) wait for the next window.  Memory: one window plus the open sessions of
the batch.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gateway.capture import codec, gtpc, radius
from gateway.capture.frames import IP_TTL, UdpFlow
from gateway.capture.gtpc import _CHARGING_AND_EUA
from gateway.capture.order import RunWriter
from gateway.events import CaptureSink, ContextInfo
from gateway.partial import PartialRecords

RADIUS_COUNTER_CYCLE = radius.COUNTER_CYCLE

if TYPE_CHECKING:
    from gateway.capture.sink import PcapCapture

I64 = npt.NDArray[np.int64]

OPEN, INTERIM, CLOSE = 0, 1, 2
_PACKETS = np.array([4, 2, 4], dtype=np.int64)  # packets per event kind
GTP_DELAY_US = 2_000
RADIUS_DELAY_US = 1_000
WINDOW_EVENTS = 16_384

# pcap record header (little-endian) + Ethernet/IPv4/UDP headers (network order): 58 octets.
HEADER = np.dtype(
    [
        ("sec", "<u4"),
        ("usec", "<u4"),
        ("incl", "<u4"),
        ("orig", "<u4"),
        ("head", "V16"),
        ("total", ">u2"),
        ("ip_id", ">u2"),
        ("frag_ttl_proto", "V4"),
        ("checksum", ">u2"),
        ("addresses", "V12"),
        ("udp_len", ">u2"),
        ("udp_checksum", ">u2"),
    ]
)
HEADER_SIZE = HEADER.itemsize
_FRAG_TTL_PROTO = np.frombuffer(bytes((0, 0, IP_TTL, 17)), dtype="V4")[0]

_HEAD = struct.Struct("!BBH")
_START_VAR = struct.Struct("!BBI BBI")
_INTERIM_VAR = struct.Struct("!BBI BBI BBI BBI BBI BBI BBI")
_STOP_VAR = struct.Struct("!BBI BBI BBI BBI BBI BBI BBI BBI")
_ZEROS16 = bytes(16)
_LOW32 = 0xFFFFFFFF
# The per-session parts of the templates, packed in one call each (the tests hold them byte-identical to
# `gtpc.create_request` / `gtpc.create_response` / `radius.session_attributes`).
_GTP_HEADER = struct.Struct("!BBHIHBB")
_CREATE_MIDDLE = struct.Struct("!BB BB BI BI BB")
_CREATE_ACCEPTED = struct.Struct("!BBHIHBB BB BB BB BI BI BI BHBB4s")  # header, Cause ... End User Address
_QOS_IE = struct.pack("!BH", 135, len(gtpc.QOS_PROFILE)) + gtpc.QOS_PROFILE
_CHARGING_VSA = struct.Struct("!BBIBBI")
_DELETE_REQUEST = struct.Struct("!BBHIHBB BBBB")
_DELETE_RESPONSE = struct.Struct("!BBHIHBB BB")
_NSAPI_VSA = {n: radius.vsa(radius.TGPP_NSAPI, f"{n:X}".encode()) for n in range(16)}
_ACCEPTED_BODY_LEN = _CREATE_ACCEPTED.size - 12


@dataclass(frozen=True, slots=True)
class Plan:
    """A batch's events in emission order, with the per-record cumulative counters."""

    time_s: I64  # event time, seconds since the capture's epoch
    kind: I64  # OPEN, INTERIM, CLOSE
    session: I64  # index into the contexts
    record: I64  # index into the records (the session's first record for OPEN)
    cum_up: I64  # per record: cumulative uplink octets at its end
    cum_down: I64
    session_time: I64  # per record: seconds from the session's start to its end

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


def plan(records: PartialRecords, n_contexts: int) -> Plan:
    """Check `records` (grouped by session, sequences 1..n, contiguous in time) and order their events."""
    si = np.asarray(records.session_index, dtype=np.int64)
    n = int(si.shape[0])
    start = np.asarray(records.start_s, dtype=np.int64)
    duration = np.asarray(records.duration_s, dtype=np.int64)
    up = np.asarray(records.bytes_up, dtype=np.int64)
    down = np.asarray(records.bytes_down, dtype=np.int64)
    sequence = np.asarray(records.sequence, dtype=np.int64)
    for name, arr in (("start_s", start), ("duration_s", duration), ("bytes_up", up), ("bytes_down", down)):
        if arr.shape != (n,) or sequence.shape != (n,):
            raise codec.CaptureError(f"records.{name}: expected {n} values, got shape {arr.shape}")
    empty = np.empty(0, dtype=np.int64)
    if n == 0:
        return Plan(empty, empty, empty, empty, empty, empty, empty)
    _check(si, "session_index", (si < 0) | (si >= n_contexts), f"has no context ({n_contexts} given)")
    for name, arr in (("duration_s", duration), ("bytes_up", up), ("bytes_down", down)):
        _check(arr, name, arr < 0, "is negative")
    idx = np.arange(n, dtype=np.int64)
    first = np.empty(n, dtype=bool)
    first[0] = True
    first[1:] = si[1:] != si[:-1]
    group_start = np.maximum.accumulate(np.where(first, idx, 0))
    _check(sequence, "sequence", sequence != idx - group_start + 1, "breaks the session's 1, 2, ... order")
    end = start + duration
    gap = np.zeros(n, dtype=bool)
    gap[1:] = ~first[1:] & (start[1:] != end[:-1])
    _check(start, "start_s", gap, "is not the end of the session's previous record")
    opened = si[first]
    if np.unique(opened).shape[0] != opened.shape[0]:
        raise codec.CaptureError("records: a session's records are not contiguous (grouped by session)")
    last = np.empty(n, dtype=bool)
    last[:-1] = first[1:]
    last[-1] = True
    cum_up = _cumulative(up, group_start)
    cum_down = _cumulative(down, group_start)
    _check(cum_up, "bytes_up", cum_up < 0, "overflows the session's 63-bit cumulative counter")
    _check(cum_down, "bytes_down", cum_down < 0, "overflows the session's 63-bit cumulative counter")
    session_time = end - start[group_start]
    time_s = np.concatenate((start[first], end))
    kind = np.concatenate((np.full(opened.shape[0], OPEN), np.where(last, CLOSE, INTERIM))).astype(np.int64)
    session = np.concatenate((opened, si))
    record = np.concatenate((idx[first], idx))
    order = np.lexsort((session, kind, time_s))
    return Plan(time_s[order], kind[order], session[order], record[order], cum_up, cum_down, session_time)


def _check(arr: npt.NDArray[np.int64], name: str, bad: npt.NDArray[np.bool_], why: str) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        raise codec.CaptureError(f"records row {row}: {name} {int(arr[row])} {why}")


def _cumulative(values: I64, group_start: I64) -> I64:
    total = np.cumsum(values)
    before = (total - values)[group_start]
    return total - before


def running_rank(keys: I64) -> I64:
    """0-based rank of each row among the earlier rows with the same key."""
    n = int(keys.shape[0])
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    pos = np.arange(n, dtype=np.int64)
    rank = pos - np.maximum.accumulate(np.where(new, pos, 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = rank
    return out


class FlowTable:
    """The capture's UDP flows as arrays, for vectorised headers."""

    def __init__(self) -> None:
        self.flows: list[UdpFlow] = []
        self._index: dict[int, int] = {}
        self.head = np.empty(0, dtype="V16")
        self.addresses = np.empty(0, dtype="V12")
        self.base = np.empty(0, dtype=np.int64)

    def index(self, flow: UdpFlow) -> int:
        found = self._index.get(id(flow))
        if found is None:
            found = self._index[id(flow)] = len(self.flows)
            self.flows.append(flow)
            self.head = np.frombuffer(b"".join(f.head for f in self.flows), dtype="V16")
            self.addresses = np.frombuffer(b"".join(f.addresses for f in self.flows), dtype="V12")
            self.base = np.array([f.checksum_base for f in self.flows], dtype=np.int64)
        return found


def headers(flows: FlowTable, ts_us: I64, flow: I64, ip_id: I64, payload_len: I64) -> npt.NDArray[np.void]:
    """pcap record + Ethernet/IPv4/UDP headers of packets, as one structured array."""
    out = np.empty(ts_us.shape[0], dtype=HEADER)
    total = payload_len + 28
    out["sec"] = ts_us // 1_000_000
    out["usec"] = ts_us % 1_000_000
    out["incl"] = total + 14
    out["orig"] = total + 14
    out["head"] = flows.head[flow]
    out["total"] = total
    out["ip_id"] = ip_id
    out["frag_ttl_proto"] = _FRAG_TTL_PROTO
    checksum = flows.base[flow] + total + ip_id
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    out["checksum"] = ~checksum & 0xFFFF
    out["addresses"] = flows.addresses[flow]
    out["udp_len"] = payload_len + 8
    out["udp_checksum"] = 0
    return out


@dataclass(frozen=True, slots=True)
class _Carry:
    """A window's packets dated after the next window's first event: merged with that window."""

    ts: I64
    lengths: I64  # pcap record lengths
    heads: list[bytes]  # pcap record + frame headers
    bodies: list[bytes]  # UDP payloads


# Create request IEs before Recovery, from Charging Characteristics to the APN, the PCO (None: made per
# session, CHAP's challenge), the IEs after it; the line's RADIUS attributes; the Create response's IEs
# after the End User Address (PCO, GGSN addresses, QoS).
_Parts = tuple[bytes, bytes, bytes | None, bytes, bytes, bytes]


class BulkWriter:
    """Writes batches of sessions for one `PcapCapture` (its counters and caches are shared)."""

    def __init__(self, capture: PcapCapture) -> None:
        self.capture = capture
        self.flows = FlowTable()
        self._paths: dict[tuple[str, str], tuple[int, int, int, int]] = {}
        self._request_tails: dict[tuple[str, ...], _Parts] = {}

    def _path_flows(self, ctx: ContextInfo) -> tuple[int, int, int, int]:
        """Flow indices of a GSN pair: GTP-C there and back, RADIUS there and back."""
        key = (ctx.sgsn_address, ctx.ggsn_address)
        found = self._paths.get(key)
        if found is None:
            a, b, c, d = self.capture.paths(ctx)
            found = self._paths[key] = (
                self.flows.index(a),
                self.flows.index(b),
                self.flows.index(c),
                self.flows.index(d),
            )
        return found

    def _request_parts(self, ctx: ContextInfo) -> _Parts:
        """Per line and GSN pair: a Create request's IEs before Recovery and after NSAPI, the line's
        RADIUS attributes, the GGSN address."""
        key = (
            ctx.line_id,
            ctx.imsi,
            ctx.msisdn,
            ctx.imeisv,
            ctx.serving_plmn,
            ctx.rat,
            ctx.apn,
            ctx.sgsn_address,
            ctx.ggsn_address,
            ctx.ms_time_zone.hex(),
            ctx.authentication,
            ctx.password,
        )
        found = self._request_tails.get(key)
        if found is None:
            if len(self._request_tails) >= 200_000:
                self._request_tails.clear()
            prefix, suffix = self.capture.request_parts(ctx)
            apn = gtpc.tlv(131, codec.apn_labels(ctx.apn) if ctx.apn else b"")
            after = gtpc.gsn_addresses(ctx.sgsn_address, "SGSN address") + suffix
            pco = None if ctx.authentication == "chap" else gtpc.pco_request(ctx)
            reply = b"".join(
                (
                    gtpc.pco_response(ctx.authentication, self.capture.dns_servers),
                    gtpc.gsn_addresses(ctx.ggsn_address, "GGSN address"),
                    _QOS_IE,
                )
            )
            found = self._request_tails[key] = (
                prefix,
                _CHARGING_AND_EUA + apn,
                pco,
                after,
                self.capture.line_part(ctx),
                reply,
            )
        return found

    def _valid(
        self, contexts: Sequence[ContextInfo], sessions: list[int], parts: list[_Parts | None]
    ) -> set[int]:
        """Sessions whose context cannot be encoded (logged and counted by the capture); fills `parts`."""
        cap = self.capture
        bad: set[int] = set()
        for i in sessions:
            ctx = contexts[i]
            try:
                parts[i] = self._request_parts(ctx)
                codec.ipv4(ctx.ip_address, "Framed-IP-Address")
                if len(ctx.session_id.encode()) > 253:
                    raise codec.CaptureError(f"session id of {len(ctx.session_id.encode())} octets")
            except codec.CaptureError as exc:
                cap.skip_event("session", ctx, exc)
                bad.add(i)
        return bad

    def write(
        self,
        contexts: Sequence[ContextInfo],
        records: PartialRecords,
        run: RunWriter,
        window: int = WINDOW_EVENTS,
    ) -> int:
        cap = self.capture
        p = plan(records, len(contexts))
        if len(p) == 0:
            return 0
        sessions = np.unique(p.session).tolist()
        parts: list[_Parts | None] = [None] * len(contexts)
        bad = self._valid(contexts, sessions, parts)
        keep = np.ones(len(p), dtype=bool)
        if bad:
            keep = ~np.isin(p.session, np.array(sorted(bad), dtype=np.int64))
        time_s, kind, session, record = p.time_s[keep], p.kind[keep], p.session[keep], p.record[keep]
        n_events = int(time_s.shape[0])
        if n_events == 0:
            return 0

        # Counters in event order: RADIUS Identifier per GGSN, GTP sequence per SGSN/GGSN pair, IP id.
        ggsn_keys: dict[str, int] = {}
        pair_keys: dict[tuple[str, str], int] = {}
        ggsn_of = np.zeros(len(contexts), dtype=np.int64)
        pair_of = np.zeros(len(contexts), dtype=np.int64)
        own_seq = np.zeros(len(contexts), dtype=bool)
        for i in sessions:
            ctx = contexts[i]
            ggsn_of[i] = ggsn_keys.setdefault(ctx.ggsn_address, len(ggsn_keys))
            pair_of[i] = pair_keys.setdefault((ctx.sgsn_address, ctx.ggsn_address), len(pair_keys))
            own_seq[i] = bool(ctx.sequence)
        g = ggsn_of[session]
        ident_base = np.array([cap.radius_ident_last(a) for a in ggsn_keys], dtype=np.int64)
        counters = (ident_base[g] + 1 + running_rank(g)) % RADIUS_COUNTER_CYCLE
        for a, k in ggsn_keys.items():
            cap.set_radius_ident_last(a, int(ident_base[k]) + int(np.count_nonzero(g == k)))
        idents = counters & 0xFF
        # the RADIUS flows (client port from the counter) of each event, through a (GGSN, port) table
        combo = g * RADIUS_COUNTER_CYCLE + (counters & ~0xFF)
        used, where = np.unique(combo, return_inverse=True)
        addresses = list(ggsn_keys)
        acct_there = np.empty(used.shape[0], dtype=np.int64)
        acct_back = np.empty(used.shape[0], dtype=np.int64)
        for j, key in enumerate(used.tolist()):
            there, back = cap.acct_flows(addresses[key // RADIUS_COUNTER_CYCLE], key % RADIUS_COUNTER_CYCLE)
            acct_there[j], acct_back[j] = self.flows.index(there), self.flows.index(back)
        flow_there, flow_back = acct_there[where], acct_back[where]
        needs_seq = (kind == CLOSE) | ((kind == OPEN) & ~own_seq[session])
        pair = np.where(needs_seq, pair_of[session], -1)
        seq_base = np.array([cap.gtp_seq_last(k) for k in pair_keys], dtype=np.int64)
        seqs = np.where(needs_seq, (seq_base[np.maximum(pair, 0)] + 1 + running_rank(pair)) & 0xFFFF, 0)
        for pair_key, j in pair_keys.items():
            cap.set_gtp_seq_last(pair_key, int(seq_base[j]) + int(np.count_nonzero(pair == j)))
        first_ip_id = cap.take_ip_ids(int(_PACKETS[kind].sum()))

        state: dict[int, tuple[int, int, bytes, bytes, int, int]] = {}
        causes = np.asarray(records.cause, dtype=np.int64)
        carry = _Carry(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), [], [])
        written = 0
        for lo in range(0, n_events, window):
            hi = min(lo + window, n_events)
            ts_list: list[int] = []
            flow_list: list[int] = []
            payloads: list[bytes] = []
            rec = record[lo:hi]
            columns = (
                time_s[lo:hi].tolist(),
                kind[lo:hi].tolist(),
                session[lo:hi].tolist(),
                idents[lo:hi].tolist(),
                seqs[lo:hi].tolist(),
                p.cum_up[rec].tolist(),
                p.cum_down[rec].tolist(),
                p.session_time[rec].tolist(),
                causes[rec].tolist(),
                flow_there[lo:hi].tolist(),
                flow_back[lo:hi].tolist(),
            )
            self._pack(contexts, parts, state, columns, ts_list, flow_list, payloads)
            ts = np.array(ts_list, dtype=np.int64)
            lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
            ip_id = (first_ip_id + written + np.arange(ts.shape[0], dtype=np.int64)) & 0xFFFF
            written += int(ts.shape[0])
            hb = headers(self.flows, ts, np.array(flow_list, dtype=np.int64), ip_id, lengths).tobytes()
            heads = carry.heads + [hb[k : k + HEADER_SIZE] for k in range(0, len(hb), HEADER_SIZE)]
            bodies = carry.bodies + payloads
            all_ts = np.concatenate((carry.ts, ts))
            all_len = np.concatenate((carry.lengths, lengths + HEADER_SIZE))
            order = np.argsort(all_ts, kind="stable")
            sorted_ts = all_ts[order]
            cut = (
                sorted_ts.shape[0]
                if hi == n_events
                else int(np.searchsorted(sorted_ts, cap.ts_us(int(time_s[hi])), side="right"))
            )
            taken = order[:cut].tolist()
            pieces = [b""] * (2 * cut)
            pieces[0::2] = [heads[i] for i in taken]
            pieces[1::2] = [bodies[i] for i in taken]
            run.write(b"".join(pieces), sorted_ts[:cut], all_len[order[:cut]])
            left = order[cut:].tolist()
            carry = _Carry(
                sorted_ts[cut:], all_len[order[cut:]], [heads[i] for i in left], [bodies[i] for i in left]
            )
        return written

    def _pack(
        self,
        contexts: Sequence[ContextInfo],
        parts: list[_Parts | None],
        state: dict[int, tuple[int, int, bytes, bytes, int, int]],
        columns: tuple[list[int], ...],
        ts_list: list[int],
        flow_list: list[int],
        payloads: list[bytes],
    ) -> None:
        """The payloads, timestamps and flows of a window of events (the Python part: one pass)."""
        # module constants as locals: the loop below runs once per event
        g_create_pdp_request = gtpc.CREATE_PDP_REQUEST
        g_create_pdp_response = gtpc.CREATE_PDP_RESPONSE
        g_delete_pdp_request = gtpc.DELETE_PDP_REQUEST
        g_delete_pdp_response = gtpc.DELETE_PDP_RESPONSE
        g_reordering_not_required = gtpc.REORDERING_NOT_REQUIRED
        g_request_accepted = gtpc.REQUEST_ACCEPTED
        g_selection_mode_subscribed = gtpc.SELECTION_MODE_SUBSCRIBED
        g_teardown = gtpc.TEARDOWN
        r_accounting_request = radius.ACCOUNTING_REQUEST
        r_accounting_response = radius.ACCOUNTING_RESPONSE
        r_acct_input_gigawords = radius.ACCT_INPUT_GIGAWORDS
        r_acct_input_octets = radius.ACCT_INPUT_OCTETS
        r_acct_output_gigawords = radius.ACCT_OUTPUT_GIGAWORDS
        r_acct_output_octets = radius.ACCT_OUTPUT_OCTETS
        r_acct_session_id = radius.ACCT_SESSION_ID
        r_acct_session_time = radius.ACCT_SESSION_TIME
        r_acct_status_type = radius.ACCT_STATUS_TYPE
        r_acct_terminate_cause = radius.ACCT_TERMINATE_CAUSE
        r_event_timestamp = radius.EVENT_TIMESTAMP
        r_status_interim = radius.STATUS_INTERIM
        r_status_start = radius.STATUS_START
        r_status_stop = radius.STATUS_STOP
        r_tgpp_charging_id = radius.TGPP_CHARGING_ID
        r_vendor_3gpp = radius.VENDOR_3GPP
        r_vendor_specific = radius.VENDOR_SPECIFIC
        gtp_delay_us = GTP_DELAY_US
        radius_delay_us = RADIUS_DELAY_US
        kind_open = OPEN
        kind_interim = INTERIM
        low32 = _LOW32
        pco_request = gtpc.pco_request
        nsapi_vsa = _NSAPI_VSA
        zeros16 = _ZEROS16
        accepted_body_len = _ACCEPTED_BODY_LEN
        cap = self.capture
        secret = cap.secret
        epoch_us = cap.epoch_us
        restart = cap.restart_counter & 0xFF
        md5 = hashlib.md5
        head_pack = _HEAD.pack
        path_flows = self._path_flows
        gtp_header = _GTP_HEADER.pack
        middle_pack = _CREATE_MIDDLE.pack
        accepted_pack = _CREATE_ACCEPTED.pack
        charging_pack = _CHARGING_VSA.pack
        interim_pack = _INTERIM_VAR.pack
        stop_pack = _STOP_VAR.pack
        start_pack = _START_VAR.pack
        delete_req_pack = _DELETE_REQUEST.pack
        delete_resp_pack = _DELETE_RESPONSE.pack
        ipv4 = codec.ipv4
        teids = codec.context_teids
        terminate_for = codec.TERMINATE_CAUSE_FOR_CLOSING.get
        nas_request = codec.NAS_REQUEST
        add_ts = ts_list.extend
        add_flow = flow_list.extend
        add_payload = payloads.extend
        join = b"".join
        for t, kind, s, ident, seq, octets_in, octets_out, elapsed, cause, fa, fb in zip(
            *columns, strict=True
        ):
            ts = epoch_us + t * 1_000_000
            event_time = ts // 1_000_000
            if kind == kind_open:
                ctx = contexts[s]
                sid = ctx.session_id.encode()
                own_sgsn, own_ggsn = teids(ctx.charging_id, ctx.session_id)
                sgsn_teid = (ctx.teid_down or own_sgsn) & low32
                ggsn_teid = (ctx.teid_up or own_ggsn) & low32
                gseq = (ctx.sequence or seq) & 0xFFFF
                nsapi = ctx.nsapi & 0x0F
                prefix, before_pco, pco, after_pco, line, reply_tail = parts[s]
                if pco is None:
                    pco = pco_request(ctx)
                middle = middle_pack(
                    14, restart, 15, g_selection_mode_subscribed, 16, sgsn_teid, 17, sgsn_teid, 20, nsapi
                )
                body_len = len(prefix) + len(middle) + len(before_pco) + len(pco) + len(after_pco)
                request = join(
                    (
                        gtp_header(0x32, g_create_pdp_request, body_len + 4, 0, gseq, 0, 0),
                        prefix,
                        middle,
                        before_pco,
                        pco,
                        after_pco,
                    )
                )
                ip = ipv4(ctx.ip_address, "End User Address")
                charging = ctx.charging_id & low32
                reply = (
                    accepted_pack(
                        0x32,
                        g_create_pdp_response,
                        accepted_body_len + len(reply_tail) + 4,
                        sgsn_teid,
                        gseq,
                        0,
                        0,
                        1,
                        g_request_accepted,
                        8,
                        g_reordering_not_required,
                        14,
                        restart,
                        16,
                        ggsn_teid,
                        17,
                        ggsn_teid,
                        127,
                        charging,
                        128,
                        6,
                        0xF1,
                        0x21,
                        ip,
                    )
                    + reply_tail
                )
                identity = join(
                    (
                        b"\x08\x06",
                        ip,
                        bytes((r_acct_session_id, len(sid) + 2)),
                        sid,
                        charging_pack(
                            r_vendor_specific,
                            12,
                            r_vendor_3gpp,
                            r_tgpp_charging_id,
                            6,
                            charging,
                        ),
                        nsapi_vsa[nsapi],
                        line,
                    )
                )
                fq, fr, _fa, _fb = path_flows(ctx)
                signed = identity + secret
                state[s] = (ggsn_teid, sgsn_teid | nsapi << 32, identity, signed, fq, fr)
                var = start_pack(r_acct_status_type, 6, r_status_start, r_event_timestamp, 6, event_time)
                head = head_pack(r_accounting_request, ident, 32 + len(identity))
                auth = md5(join((head, zeros16, var, signed)), usedforsecurity=False).digest()
                rhead = head_pack(r_accounting_response, ident, 20)
                add_ts((ts, ts + gtp_delay_us, ts, ts + radius_delay_us))
                add_flow((fq, fr, fa, fb))
                add_payload(
                    (
                        request,
                        reply,
                        join((head, auth, var, identity)),
                        rhead + md5(rhead + auth + secret, usedforsecurity=False).digest(),
                    )
                )
                continue
            ggsn_teid, sgsn_nsapi, identity, signed, fq, fr = state[s]
            if kind == kind_interim:
                var = interim_pack(
                    r_acct_status_type,
                    6,
                    r_status_interim,
                    r_event_timestamp,
                    6,
                    event_time,
                    r_acct_input_octets,
                    6,
                    octets_in & low32,
                    r_acct_output_octets,
                    6,
                    octets_out & low32,
                    r_acct_input_gigawords,
                    6,
                    octets_in >> 32,
                    r_acct_output_gigawords,
                    6,
                    octets_out >> 32,
                    r_acct_session_time,
                    6,
                    elapsed,
                )
            else:
                var = stop_pack(
                    r_acct_status_type,
                    6,
                    r_status_stop,
                    r_event_timestamp,
                    6,
                    event_time,
                    r_acct_input_octets,
                    6,
                    octets_in & low32,
                    r_acct_output_octets,
                    6,
                    octets_out & low32,
                    r_acct_input_gigawords,
                    6,
                    octets_in >> 32,
                    r_acct_output_gigawords,
                    6,
                    octets_out >> 32,
                    r_acct_session_time,
                    6,
                    elapsed,
                    r_acct_terminate_cause,
                    6,
                    terminate_for(cause, nas_request),
                )
            head = head_pack(r_accounting_request, ident, 20 + len(var) + len(identity))
            auth = md5(join((head, zeros16, var, signed)), usedforsecurity=False).digest()
            rhead = head_pack(r_accounting_response, ident, 20)
            request = join((head, auth, var, identity))
            response = rhead + md5(rhead + auth + secret, usedforsecurity=False).digest()
            if kind == kind_interim:
                add_ts((ts, ts + radius_delay_us))
                add_flow((fa, fb))
                add_payload((request, response))
                continue
            del state[s]
            add_ts((ts, ts + radius_delay_us, ts, ts + gtp_delay_us))
            add_flow((fa, fb, fq, fr))
            add_payload(
                (
                    request,
                    response,
                    delete_req_pack(
                        0x32,
                        g_delete_pdp_request,
                        8,
                        ggsn_teid,
                        seq,
                        0,
                        0,
                        19,
                        g_teardown,
                        20,
                        sgsn_nsapi >> 32,
                    ),
                    delete_resp_pack(
                        0x32,
                        g_delete_pdp_response,
                        6,
                        sgsn_nsapi & low32,
                        seq,
                        0,
                        0,
                        1,
                        g_request_accepted,
                    ),
                )
            )


def drive_records(sink: CaptureSink, contexts: Sequence[ContextInfo], records: PartialRecords) -> None:
    """Play a batch into a per-event sink in the order `write_sessions` writes it (the reference path)."""
    p = plan(records, len(contexts))
    causes = records.cause
    for t, kind, s, r in zip(
        p.time_s.tolist(), p.kind.tolist(), p.session.tolist(), p.record.tolist(), strict=True
    ):
        ctx = contexts[s]
        now = float(t)
        if kind == OPEN:
            sink.pdp_create(now, ctx, gtpc.REQUEST_ACCEPTED)
            sink.acct_start(now, ctx)
        elif kind == INTERIM:
            sink.acct_interim(now, ctx, int(p.cum_up[r]), int(p.cum_down[r]), int(p.session_time[r]))
        else:
            up, down, elapsed = int(p.cum_up[r]), int(p.cum_down[r]), int(p.session_time[r])
            sink.acct_stop(now, ctx, up, down, elapsed, int(causes[r]))
            sink.pdp_delete(now, ctx)
