"""`PcapCapture`: the gateway's capture sink, streaming GTPv1-C, RADIUS and sampled GTP-U to a pcap.

Each PDP context's constant bytes (GTP tunnel ids, RADIUS identity attributes,
flows) are prepared once when it is created; every later event packs only what
varies.  Memory holds the open contexts only; packets go straight to a buffered
file.  Timestamps are the simulated time (`epoch + now`, microseconds), so the
same run writes a byte-identical capture.

Time order: per-event packets pass through a `ReorderBuffer` (horizon
`reorder_horizon_s` of simulated time, at most `reorder_limit` packets) and are
written sorted by (timestamp, call order); `write_sessions` writes a batch of
sessions from `gateway.partial` records in bulk (`gateway.capture.bulk`) as a
time-sorted run spilled to a temporary file, and `close` merges the runs (and
the per-event packets) into the file in timestamp order with bounded memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import struct
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np

from gateway.capture import codec, gtpc, radius
from gateway.capture.bulk import WINDOW_EVENTS, BulkWriter
from gateway.capture.frames import (
    MAX_TPDU,
    PcapStream,
    UdpFlow,
    gpdu_record,
    gpdu_with_inner,
    is_own_capture,
    udp_record,
)
from gateway.capture.order import ReorderBuffer, RunWriter, index_records, merge_runs
from gateway.events import ContextInfo
from gateway.partial import PartialRecords
from m2msim.outputs import atomic_path, refuse_foreign

log = logging.getLogger(__name__)

DEFAULT_SECRET = b"m2msim-accounting"
"""Shared secret of the simulated GGSN and accounting server, unless a run sets its own."""

DEFAULT_AAA_ADDRESS = "192.0.2.10"  # the accounting server (RFC 5737 documentation range)
DEFAULT_APP_SERVER = "198.51.100.10"  # the devices' application server, peer of sampled user packets
NAS_ACCT_PORT = radius.NAS_ACCT_PORT
NAS_ACCT_PORTS = radius.NAS_ACCT_PORTS
RADIUS_COUNTER_CYCLE = radius.COUNTER_CYCLE
APP_PORT = 5684  # CoAP over DTLS, the devices' reporting protocol in sampled user packets
GTP_RESPONSE_DELAY_US = 2_000
RADIUS_RESPONSE_DELAY_US = 1_000
INNER_HEADERS_LEN = 28  # IPv4 + UDP headers of a sampled user packet
MAX_SKIPPED_EXAMPLES = 100
MAX_CACHED_PARTS = 200_000  # per-line byte blocks kept (GTP IEs, RADIUS attributes)
DEFAULT_REORDER_HORIZON_S = 60.0
DEFAULT_REORDER_LIMIT = 262_144
MERGE_ROWS = 1 << 19  # packets held by the merge of the bulk runs at close (spread over the runs)


MAX_ENDPOINTS = (65_536 - NAS_ACCT_PORT) // NAS_ACCT_PORTS  # 512 sets of RADIUS client ports
SGSN_EPHEMERAL_PORT = 49_152


def endpoint_ports(endpoint: int) -> tuple[int, int]:
    """(SGSN GTP-C port, first RADIUS client port) of the capture writer numbered `endpoint`.

    The writers of one run (one per shard) are the same GGSN and SGSN, each with its
    own GTP-C path (the SGSN's source port: 2123 for writer 0, 49152 + k - 1 for writer
    k) and its own 64 RADIUS client ports (32768 + 64 k ...): each numbers its GTP
    sequence and RADIUS Identifiers on its own, and the merged captures never pair
    a response with another writer's request.  Writers 512 apart share RADIUS ports.
    """
    sgsn = gtpc.GTPC_PORT if endpoint == 0 else SGSN_EPHEMERAL_PORT + (endpoint - 1) % 16_384
    return sgsn, NAS_ACCT_PORT + (endpoint % MAX_ENDPOINTS) * NAS_ACCT_PORTS


class _Context:
    """What a capture keeps per open PDP context."""

    __slots__ = (
        "acct",
        "acct_back",
        "ctx",
        "deleted",
        "down_inner",
        "gtpc",
        "gtpc_back",
        "gtpu",
        "stopped",
        "template",
        "tunnel",
        "up_inner",
    )

    def __init__(self, capture: PcapCapture, ctx: ContextInfo, tunnel: gtpc.Tunnel | None = None) -> None:
        self.ctx = ctx
        self.deleted = False
        self.stopped = False
        self.tunnel = tunnel if tunnel is not None else gtpc.Tunnel.of(ctx)
        self.gtpc, self.gtpc_back, self.acct, self.acct_back = capture.paths(ctx)
        identity = radius.session_attributes(ctx) + capture.line_part(ctx)
        self.template = radius.AccountingTemplate(identity, capture.secret)
        app_port = 40_000 + ctx.charging_id % 20_000
        self.gtpu: tuple[UdpFlow, int, UdpFlow, int] | None = None  # (path, TEID) up, then down
        self.up_inner: UdpFlow | None = None
        self.down_inner: UdpFlow | None = None
        if capture.gtpu_sample_rate > 0:
            self.up_inner = UdpFlow(ctx.ip_address, capture.app_server, app_port, APP_PORT)
            self.down_inner = UdpFlow(capture.app_server, ctx.ip_address, APP_PORT, app_port)


class PcapCapture:
    """A `gateway.events.CaptureSink` writing a pcap file; use as a context manager.

    `epoch` is the run's time origin (UTC); `secret` the RADIUS shared secret.
    `gtpu_sample_rate` is the fraction of modelled user-plane packets (volume
    given as byte counts, `user_packets`) written as GTP-U G-PDUs (0: none), drawn
    with a generator seeded by `seed`; that volume is cut into packets of `mtu`
    octets of inner IP.  Real IP packets (`user_packet`, the PPP bearer's) are each
    written as a G-PDU carrying them whole, unless `gtpu_real` is False.

    Per-event packets are written in (timestamp, call order) order when each
    call is dated no earlier than `reorder_horizon_s` before the latest one and
    at most `reorder_limit` packets wait; later ones are written out of order
    and counted in `late_packets`.  `write_sessions` writes whole sessions in bulk.

    A file at `path` that is not a capture m2msim wrote (`frames.is_own_capture`) raises
    `m2msim.outputs.OutputError` rather than being written over, unless `force`.

    The capture appears whole: it is written under a temporary name beside `path`
    (`.m2msim-NAME.tmp-HOST-PID-XXXXXXXX`, see `m2msim.outputs.atomic_path`) and renamed to
    `path` by `close`.  Left by an exception (the `with` block's, or `abort`), the temporary file is
    removed and `path` left as it was; one a killed process left is removed by the next capture to
    the same path.  With `in_place`, the file is written at `path` itself as it goes, readable
    while it grows (and cut short at its last packet if the process dies): for a caller that
    names its own temporary file, or a run folder that is swapped in whole.
    """

    def __init__(
        self,
        path: Path | str,
        epoch: datetime,
        secret: bytes | str = DEFAULT_SECRET,
        *,
        gtpu_sample_rate: float = 0.0,
        gtpu_real: bool = True,
        seed: int = 0,
        mtu: int = 1_400,
        aaa_address: str = DEFAULT_AAA_ADDRESS,
        app_server: str = DEFAULT_APP_SERVER,
        restart_counter: int = 1,
        buffer_size: int = 1 << 20,
        reorder_horizon_s: float = DEFAULT_REORDER_HORIZON_S,
        reorder_limit: int = DEFAULT_REORDER_LIMIT,
        endpoint: int = 0,
        dns_servers: tuple[str, ...] = gtpc.DEFAULT_DNS_SERVERS,
        force: bool = False,
        in_place: bool = False,
        parents: bool = True,
    ) -> None:
        if not 0.0 <= gtpu_sample_rate <= 1.0:
            raise codec.CaptureError(f"GTP-U sample rate {gtpu_sample_rate}: expected 0..1")
        if not INNER_HEADERS_LEN < mtu <= 65_000:
            raise codec.CaptureError(f"MTU {mtu}: expected {INNER_HEADERS_LEN + 1}..65000")
        if not reorder_horizon_s >= 0 or reorder_limit < 1:
            raise codec.CaptureError(
                f"reorder horizon {reorder_horizon_s} s and limit {reorder_limit}: expected >= 0 and >= 1"
            )
        self.path = Path(path)
        self.epoch = codec.epoch_utc(epoch)
        self._epoch_us = int(self.epoch.timestamp()) * 1_000_000 + self.epoch.microsecond
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.gtpu_sample_rate = gtpu_sample_rate
        self.gtpu_real = gtpu_real
        self.mtu = mtu
        self.aaa_address = aaa_address
        self.app_server = app_server
        codec.ipv4(aaa_address, "accounting server address")
        codec.ipv4(app_server, "application server address")
        for address in dns_servers:
            codec.ipv4(address, "DNS server address")
        self.dns_servers = tuple(dns_servers)
        self.restart_counter = restart_counter & 0xFF
        if endpoint < 0:
            raise codec.CaptureError(f"endpoint {endpoint}: expected >= 0")
        # the ports of this writer's GTP-C path and RADIUS client (`endpoint_ports`)
        self.sgsn_port, self.nas_port_base = endpoint_ports(endpoint)
        self._rng = np.random.default_rng(seed)
        self._zeros = bytes(mtu)
        self._flows: dict[tuple[str, str, int, int], UdpFlow] = {}
        self._tz: dict[str, bytes] = {}
        self._paths: dict[tuple[str, str], tuple[UdpFlow, UdpFlow, UdpFlow, UdpFlow]] = {}
        self._radius_parts: dict[tuple[str, ...], bytes] = {}
        self._gtp_parts: dict[tuple[str, ...], tuple[bytes, bytes]] = {}
        self._contexts: dict[str, _Context] = {}
        self._ip_id = 0
        self._radius_ident: dict[str, int] = {}
        self._gtp_seq: dict[tuple[str, str], int] = {}
        self.skipped: Counter[str] = Counter()  # events that could not be encoded, by event
        self.skipped_examples: list[str] = []  # the first MAX_SKIPPED_EXAMPLES of them, with the reason
        # a capture of another program (tcpdump's) at `path` is never written over, unless `force`
        refuse_foreign(self.path, is_own_capture, force=force)
        # `parents=False`: the capture's folder is made, never its parents (`UsageWriter`'s `parents`)
        self.path.parent.mkdir(parents=parents, exist_ok=True)
        self._buffer_size = buffer_size
        # the name written until `close` renames it to `path` (the path itself `in_place`)
        self._output = contextlib.ExitStack()
        self.writing_path = (
            self.path
            if in_place
            else self._output.enter_context(atomic_path(self.path, own=is_own_capture, force=force))
        )
        try:
            self._file = self.writing_path.open("wb", buffering=buffer_size)
        except BaseException:
            self._output.close()
            raise
        self._pcap = PcapStream(self._file)
        self._order = ReorderBuffer(self._file.write, round(reorder_horizon_s * 1_000_000), reorder_limit)
        self._packets = 0
        self._runs: list[RunWriter] = []
        self._run_dir: tempfile.TemporaryDirectory[str] | None = None
        self._bulk: BulkWriter | None = None
        self.user_packets_sampled = 0  # G-PDUs made from byte counts (`user_packets`)
        self.user_packets_real = 0  # G-PDUs carrying a real packet (`user_packet`)

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def packets(self) -> int:
        """Packets written so far (including those waiting for their turn in time order)."""
        return self._packets

    @property
    def late_packets(self) -> int:
        """Per-event packets that arrived later than the reorder horizon allowed: written out of order."""
        return self._order.late

    @property
    def epoch_us(self) -> int:
        """The epoch in microseconds since 1970 (UTC)."""
        return self._epoch_us

    @property
    def open_contexts(self) -> int:
        return len(self._contexts)

    def paths(self, ctx: ContextInfo) -> tuple[UdpFlow, UdpFlow, UdpFlow, UdpFlow]:
        """GTP-C SGSN->GGSN and back, RADIUS GGSN->server and back, for a context's GSN pair."""
        key = (ctx.sgsn_address, ctx.ggsn_address)
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = (
                self.flow(ctx.sgsn_address, ctx.ggsn_address, self.sgsn_port, gtpc.GTPC_PORT),
                self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPC_PORT, self.sgsn_port),
                self.flow(ctx.ggsn_address, self.aaa_address, self.nas_port_base, radius.ACCT_PORT),
                self.flow(self.aaa_address, ctx.ggsn_address, radius.ACCT_PORT, self.nas_port_base),
            )
        return found

    def flow(self, src: str, dst: str, sport: int, dport: int) -> UdpFlow:
        key = (src, dst, sport, dport)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = UdpFlow(src, dst, sport, dport)
        return flow

    def ms_tz(self, ctx: ContextInfo) -> bytes:
        """MS Time Zone of the serving country at the run's epoch (one value per MCC for the run)."""
        if ctx.ms_time_zone:  # the network reported it (a time-zone change)
            return ctx.ms_time_zone
        mcc = ctx.serving_plmn[:3]
        tz = self._tz.get(mcc)
        if tz is None:
            tz = self._tz[mcc] = codec.ms_time_zone(ctx.serving_plmn, self.epoch)
        return tz

    def line_part(self, ctx: ContextInfo) -> bytes:
        """The RADIUS attributes common to a line's contexts on one network, built once per line."""
        key = (
            ctx.line_id,
            ctx.imsi,
            ctx.msisdn,
            ctx.imeisv,
            ctx.apn,
            ctx.sgsn_address,
            ctx.ggsn_address,
            ctx.serving_plmn,
            ctx.rat,
            ctx.ms_time_zone.hex(),
        )
        part = self._radius_parts.get(key)
        if part is None:
            if len(self._radius_parts) >= MAX_CACHED_PARTS:
                self._radius_parts.clear()  # bounded memory: a larger fleet rebuilds its parts
            part = radius.line_attributes(ctx, self.ms_tz(ctx), gtpc.uli(ctx))
            self._radius_parts[key] = part
        return part

    def request_parts(self, ctx: ContextInfo) -> tuple[bytes, bytes]:
        """The per-line IEs of a Create PDP Context Request (before and after the GSN addresses)."""
        key = (
            ctx.line_id,
            ctx.imsi,
            ctx.msisdn,
            ctx.imeisv,
            ctx.serving_plmn,
            ctx.rat,
            ctx.ms_time_zone.hex(),
        )
        parts = self._gtp_parts.get(key)
        if parts is None:
            if len(self._gtp_parts) >= MAX_CACHED_PARTS:
                self._gtp_parts.clear()
            parts = self._gtp_parts[key] = (
                gtpc.request_prefix(ctx),
                gtpc.request_suffix(ctx, self.ms_tz(ctx)),
            )
        return parts

    def create_request_bytes(self, ctx: ContextInfo, tunnel: gtpc.Tunnel, seq: int) -> bytes:
        """A Create PDP Context Request from the per-line parts."""
        prefix, suffix = self.request_parts(ctx)
        return gtpc.create_request(ctx, tunnel, seq, self.restart_counter, self.ms_tz(ctx), prefix, suffix)

    _create_request = create_request_bytes

    def ts_us(self, now: float) -> int:
        """A simulated time (seconds since the epoch) as microseconds since 1970."""
        return self._epoch_us + round(now * 1_000_000)

    _ts = ts_us

    def _emit(self, ts_us: int, flow: UdpFlow, payload: bytes) -> None:
        self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
        self._order.push(ts_us, udp_record(ts_us, flow, ip_id, payload))
        self._packets += 1

    # -- counters shared by the per-event and bulk paths ------------------------------------------------

    def radius_ident_last(self, ggsn: str) -> int:
        """A GGSN's last RADIUS request counter (-1: none yet): Identifier in its low 8 bits, client port above."""
        return self._radius_ident.get(ggsn, -1)

    def set_radius_ident_last(self, ggsn: str, value: int) -> None:
        self._radius_ident[ggsn] = value % RADIUS_COUNTER_CYCLE

    def acct_flows(self, ggsn: str, counter: int) -> tuple[UdpFlow, UdpFlow]:
        """RADIUS GGSN -> server and back for a request counter: client port NAS_ACCT_PORT + counter / 256."""
        port = self.nas_port_base + (counter >> 8) % NAS_ACCT_PORTS
        return (
            self.flow(ggsn, self.aaa_address, port, radius.ACCT_PORT),
            self.flow(self.aaa_address, ggsn, radius.ACCT_PORT, port),
        )

    def gtp_seq_last(self, pair: tuple[str, str]) -> int:
        """The last GTP-C sequence number used between an (SGSN, GGSN) pair (0: none yet)."""
        return self._gtp_seq.get(pair, 0)

    def set_gtp_seq_last(self, pair: tuple[str, str], value: int) -> None:
        self._gtp_seq[pair] = value & 0xFFFF

    def take_ip_ids(self, count: int) -> int:
        """Reserve `count` IPv4 identifications; returns the first (callers mask with 0xFFFF)."""
        first = self._ip_id + 1
        self._ip_id = (self._ip_id + count) & 0xFFFF
        return first

    def _context(self, ctx: ContextInfo) -> _Context:
        state = self._contexts.get(ctx.session_id)
        if state is None or (state.ctx is not ctx and state.ctx != ctx):
            state = self._contexts[ctx.session_id] = _Context(self, ctx)
        return state

    def _next_gtp_seq(self, ctx: ContextInfo) -> int:
        key = (ctx.sgsn_address, ctx.ggsn_address)
        seq = (self._gtp_seq.get(key, 0) + 1) & 0xFFFF
        self._gtp_seq[key] = seq
        return seq

    def _next_ident(self, ggsn: str) -> int:
        """The GGSN's next request counter: Identifier (low 8 bits) and client port (above).

        One client port has 256 Identifiers; turning through `NAS_ACCT_PORTS` ports
        keeps 16,384 requests apart, so that a burst of accounting at the same
        second does not reuse an Identifier before its response.
        """
        counter = (self._radius_ident.get(ggsn, -1) + 1) % RADIUS_COUNTER_CYCLE
        self._radius_ident[ggsn] = counter
        return counter

    def skip_event(self, event: str, ctx: ContextInfo, exc: Exception) -> None:
        """An event whose context cannot be encoded: logged and counted, never raised into the network."""
        self.skipped[event] += 1
        if len(self.skipped_examples) < MAX_SKIPPED_EXAMPLES:
            self.skipped_examples.append(f"{event} of session {ctx.session_id!r}: {exc}")
        log.warning("capture: %s of session %r not written: %s", event, ctx.session_id, exc)

    def _release(self, state: _Context) -> None:
        if state.deleted and state.stopped:
            self._contexts.pop(state.ctx.session_id, None)

    # -- GTPv1-C ---------------------------------------------------------------------------------------

    def pdp_create(self, now: float, ctx: ContextInfo, cause: int) -> None:
        try:
            ts = self._ts(now)
            seq = ctx.sequence if ctx.sequence else self._next_gtp_seq(ctx)
            # a refused attempt has no charging id: its TEID-C from the line, time and sequence
            attempt = "" if ctx.charging_id or ctx.session_id else f"{ctx.line_id}/{ts}/{seq}"
            tunnel = gtpc.Tunnel.of(ctx, attempt)
            request = self._create_request(ctx, tunnel, seq)
            reply = gtpc.create_response(ctx, tunnel, seq, self.restart_counter, cause, self.dns_servers)
            req_flow, back, _acct, _acct_back = self.paths(ctx)
            state = _Context(self, ctx, tunnel) if cause == gtpc.REQUEST_ACCEPTED else None
        except codec.CaptureError as exc:
            self.skip_event("Create PDP Context", ctx, exc)
            return
        self._emit(ts, req_flow, request)
        self._emit(ts + GTP_RESPONSE_DELAY_US, back, reply)
        if state is not None:
            self._contexts[ctx.session_id] = state

    def pdp_delete(self, now: float, ctx: ContextInfo) -> None:
        try:
            ts = self._ts(now)
            state = self._context(ctx)
            seq = self._next_gtp_seq(ctx)
        except codec.CaptureError as exc:
            self.skip_event("Delete PDP Context", ctx, exc)
            return
        self._emit(ts, state.gtpc, gtpc.delete_request(ctx, state.tunnel, seq))
        self._emit(ts + GTP_RESPONSE_DELAY_US, state.gtpc_back, gtpc.delete_response(state.tunnel, seq))
        state.deleted = True
        self._release(state)

    def pdp_update(self, now: float, ctx: ContextInfo) -> None:
        try:
            ts = self._ts(now)
            old = self._contexts.get(ctx.session_id)
            state = self._context(ctx)  # the context's attributes and paths as updated
            if old is not None:
                state.tunnel = old.tunnel
            seq = self._next_gtp_seq(ctx)
            request = gtpc.update_request(ctx, state.tunnel, seq, self.restart_counter, self.ms_tz(ctx))
            reply = gtpc.update_response(ctx, state.tunnel, seq, self.restart_counter)
        except codec.CaptureError as exc:
            self.skip_event("Update PDP Context", ctx, exc)
            return
        self._emit(ts, state.gtpc, request)
        self._emit(ts + GTP_RESPONSE_DELAY_US, state.gtpc_back, reply)

    # -- RADIUS accounting -----------------------------------------------------------------------------

    def _exchange(self, ts: int, ctx: ContextInfo, counter: int, message: tuple[bytes, bytes]) -> None:
        request, auth = message
        acct, back = self.acct_flows(ctx.ggsn_address, counter)
        self._emit(ts, acct, request)
        self._emit(ts + RADIUS_RESPONSE_DELAY_US, back, radius.response(counter & 0xFF, auth, self.secret))

    def acct_start(self, now: float, ctx: ContextInfo) -> None:
        try:
            ts = self._ts(now)
            state = self._context(ctx)
        except codec.CaptureError as exc:
            self.skip_event("Accounting Start", ctx, exc)
            return
        counter = self._next_ident(ctx.ggsn_address)
        self._exchange(ts, ctx, counter, state.template.start(counter & 0xFF, ts // 1_000_000))

    def acct_interim(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int
    ) -> None:
        try:
            ts = self._ts(now)
            state = self._context(ctx)
            counter = self._next_ident(ctx.ggsn_address)
            message = state.template.interim(
                counter & 0xFF, ts // 1_000_000, octets_up, octets_down, session_time_s
            )
        except (codec.CaptureError, struct.error) as exc:
            self.skip_event("Accounting Interim-Update", ctx, exc)
            return
        self._exchange(ts, ctx, counter, message)

    def acct_stop(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int, cause: int
    ) -> None:
        terminate = codec.TERMINATE_CAUSE_FOR_CLOSING.get(cause)
        if terminate is None:
            log.warning("closing cause %d has no Acct-Terminate-Cause: sent as NAS-Request", cause)
            terminate = codec.NAS_REQUEST
        try:
            ts = self._ts(now)
            state = self._context(ctx)
            counter = self._next_ident(ctx.ggsn_address)
            message = state.template.stop(
                counter & 0xFF, ts // 1_000_000, octets_up, octets_down, session_time_s, terminate
            )
        except (codec.CaptureError, struct.error) as exc:
            self.skip_event("Accounting Stop", ctx, exc)
            return
        self._exchange(ts, ctx, counter, message)
        state.stopped = True
        self._release(state)

    # -- GTP-U -----------------------------------------------------------------------------------------

    def user_packets(self, now: float, ctx: ContextInfo, bytes_up: int, bytes_down: int) -> None:
        if self.gtpu_sample_rate <= 0.0 or (bytes_up <= 0 and bytes_down <= 0):
            return
        try:
            ts = self._ts(now)
            state = self._context(ctx)
        except codec.CaptureError as exc:
            self.skip_event("user packets", ctx, exc)
            return
        if state.up_inner is None or state.down_inner is None:
            return
        up = self.flow(ctx.sgsn_address, ctx.ggsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        down = self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        self._sample(ts, max(bytes_up, 0), up, state.up_inner, state.tunnel.ggsn_teid)
        self._sample(ts, max(bytes_down, 0), down, state.down_inner, state.tunnel.sgsn_teid)

    def user_packet(self, now: float, ctx: ContextInfo, packet: bytes, uplink: bool) -> None:
        """A real IP packet: one G-PDU carrying it whole, in its direction (unless `gtpu_real` is off)."""
        if not self.gtpu_real:
            return
        try:
            ts = self._ts(now)
            state = self._context(ctx)
            if len(packet) > MAX_TPDU:
                raise codec.CaptureError(f"a {len(packet)}-octet packet: a G-PDU frame holds {MAX_TPDU}")
            paths = state.gtpu
            if paths is None:
                paths = state.gtpu = (
                    self.flow(ctx.sgsn_address, ctx.ggsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT),
                    state.tunnel.ggsn_teid,
                    self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT),
                    state.tunnel.sgsn_teid,
                )
        except codec.CaptureError as exc:
            self.skip_event("user packet", ctx, exc)
            return
        outer, teid = (paths[0], paths[1]) if uplink else (paths[2], paths[3])
        self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
        self._order.push(ts, gpdu_record(ts, outer, ip_id, teid, packet))
        self._packets += 1
        self.user_packets_real += 1

    def scan_probes(
        self, start: float, end: float, ctx: ContextInfo, probes: int, packet_bytes: int, reply_bytes: int
    ) -> None:
        """Probes that arrived over [start, end], sampled as modelled user packets are (one in
        `gtpu_sample_rate`): each kept one dated at its own time, drawn uniform over the span (the
        arrival times of a Poisson count given it), its packet down and its reply up."""
        if self.gtpu_sample_rate <= 0.0 or probes <= 0 or (packet_bytes <= 0 and reply_bytes <= 0):
            return
        try:
            state = self._context(ctx)
            first = self._ts(start)
            span = max(self._ts(end) - first, 0)
        except codec.CaptureError as exc:
            self.skip_event("scan probes", ctx, exc)
            return
        if state.up_inner is None or state.down_inner is None:
            return
        rate = self.gtpu_sample_rate
        keep = probes if rate >= 1.0 else int(self._rng.binomial(probes, rate))
        if keep == 0:
            return
        up = self.flow(ctx.sgsn_address, ctx.ggsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        down = self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        at = np.sort(self._rng.integers(0, span + 1, size=keep)) + first  # (microseconds)
        for ts in at.tolist():
            self._sample(ts, packet_bytes, down, state.down_inner, state.tunnel.sgsn_teid, every=True)
            self._sample(ts, reply_bytes, up, state.up_inner, state.tunnel.ggsn_teid, every=True)

    def _sample(
        self, ts: int, volume: int, outer: UdpFlow, inner: UdpFlow, teid: int, every: bool = False
    ) -> None:
        """`volume` cut into packets of `mtu`, one in `gtpu_sample_rate` of them written at `ts`
        (`every`: all of them, sampled already)."""
        count = math.ceil(volume / self.mtu)
        if count == 0:
            return
        keep = (
            count
            if every or self.gtpu_sample_rate >= 1.0
            else int(self._rng.binomial(count, self.gtpu_sample_rate))
        )
        last = volume - (count - 1) * self.mtu
        zeros = self._zeros
        for i in range(keep):
            size = max(last if i == count - 1 else self.mtu, INNER_HEADERS_LEN)
            self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
            self._ip_id = outer_id = (ip_id + 1) & 0xFFFF
            payload = gpdu_with_inner(teid, inner, ip_id, size) + zeros[: size - INNER_HEADERS_LEN]
            self._order.push(ts, udp_record(ts, outer, outer_id, payload))
        self._packets += keep
        self.user_packets_sampled += keep

    # -- bulk ------------------------------------------------------------------------------------------

    def write_sessions(
        self, contexts: Sequence[ContextInfo], records: PartialRecords, *, window_events: int = WINDOW_EVENTS
    ) -> int:
        """Write a batch of whole sessions from their partial records; returns the packets written.

        `contexts[i]` is session i's identities; `records` are the sessions' partial
        records (`gateway.partial.cut_sessions`, times in seconds since the epoch,
        `session_index` into `contexts`).  Each session gets Create PDP Context
        request/response, Accounting Start/response, one Interim-Update/response per
        time-limit record (cumulative counters), Stop/response and Delete PDP Context
        request/response: the bytes the per-event calls would write
        (`gateway.capture.bulk.drive_records`).  The batch is spilled as one
        time-sorted run, `window_events` events at a time; `close` merges the
        runs.  A session whose identities cannot be encoded is skipped whole
        (counted in `skipped["session"]`); malformed records raise `CaptureError`
        naming the row and field, before anything is written.
        """
        if self._file.closed:
            raise codec.CaptureError(f"capture {self.path} is closed")
        if self._bulk is None:
            self._bulk = BulkWriter(self)
            self._run_dir = tempfile.TemporaryDirectory(
                prefix=f".{self.path.name}.runs-", dir=self.writing_path.parent
            )
        assert self._run_dir is not None
        n = len(self._runs)
        base = Path(self._run_dir.name) / f"run-{n:05d}"
        run = RunWriter(base.with_suffix(".data"), base.with_suffix(".index"))
        try:
            written = self._bulk.write(contexts, records, run, max(1, window_events))
        finally:
            run.close()
        if run.packets:
            self._runs.append(run)
        self._packets += written
        return written

    # -- lifecycle -------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Write the packets the reorder window no longer holds back and push the file to the disk:
        a process killed afterwards leaves a capture with them (`m2msim modem serve` calls it every
        second, so that a killed serve's capture can be kept: docs/reliability.md).  The packets of
        the last `reorder_horizon_s` still wait, to be written in time order."""
        if self._file.closed:
            return
        self._order.drain(self._order.newest - self._order.horizon_us)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Write what waits, merge the bulk runs, and rename the file to `path` (a capture that
        cannot be completed is removed, as `abort` does, and the error raised)."""
        if not self._file.closed:
            try:
                self._order.drain(None)
                if self._runs:
                    self._merge()
                self._file.close()
            except BaseException:
                self.abort()
                raise
            finally:
                if self._run_dir is not None:
                    self._run_dir.cleanup()
            self._output.close()  # the rename to `path`
            log.debug(
                "capture %s: %d packets, %d contexts left open", self.path, self.packets, len(self._contexts)
            )

    def abort(self) -> None:
        """Give the capture up: its temporary file is removed and `path` left as it was (with
        `in_place`, what was written stays at `path`, as a cut capture)."""
        with contextlib.suppress(OSError):
            self._file.close()
        if self._run_dir is not None:
            self._run_dir.cleanup()
        stop = codec.CaptureError(f"capture {self.path} given up")
        self._output.__exit__(type(stop), stop, None)  # (atomic_path: its temporary file removed)

    def _merge(self) -> None:
        """Merge the bulk runs, and the per-event packets already in the file, in timestamp order."""
        assert self._run_dir is not None
        runs = [(r.data_path, r.index_path, 0) for r in self._runs]
        if self._order.written:
            self._file.close()
            events = Path(self._run_dir.name) / "events.data"
            shutil.move(self.writing_path, events)
            with events.open("rb") as stream:
                stream.seek(24)  # the pcap file header
                index_records(stream, events.with_suffix(".index"))
            runs.insert(0, (events, events.with_suffix(".index"), 24))
            self._file = self.writing_path.open("wb", buffering=self._buffer_size)
            self._pcap = PcapStream(self._file)
        merge_runs(runs, self._file.write, chunk=max(256, MERGE_ROWS // len(runs)))
        self._runs.clear()

    def __enter__(self) -> PcapCapture:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # a part capture is never left under the final name
            self.abort()


__all__ = ["DEFAULT_SECRET", "PcapCapture"]
