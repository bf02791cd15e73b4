"""`PcapCapture`: the gateway's capture sink, streaming GTPv1-C, RADIUS and sampled GTP-U to a pcap.

Each PDP context's constant bytes (GTP tunnel ids, RADIUS identity attributes,
flows) are prepared once when it is created; every later event packs only what
varies.  Memory holds the open contexts only; packets go straight to a buffered
file.  Timestamps are the simulated time (`epoch + now`, microseconds), so the
same run writes a byte-identical capture.
"""

from __future__ import annotations

import logging
import math
import struct
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np

from gateway.capture import codec, gtpc, radius
from gateway.capture.frames import PcapStream, UdpFlow, gpdu_with_inner
from gateway.events import ContextInfo

log = logging.getLogger(__name__)

DEFAULT_SECRET = b"m2msim-accounting"
"""Shared secret of the simulated GGSN and accounting server, unless a run sets its own."""

DEFAULT_AAA_ADDRESS = "192.0.2.10"  # the accounting server (RFC 5737 documentation range)
DEFAULT_APP_SERVER = "198.51.100.10"  # the devices' application server, peer of sampled user packets
NAS_ACCT_PORT = 32_768  # the GGSN's RADIUS client port
APP_PORT = 5684  # CoAP over DTLS, the devices' reporting protocol in sampled user packets
GTP_RESPONSE_DELAY_US = 2_000
RADIUS_RESPONSE_DELAY_US = 1_000
INNER_HEADERS_LEN = 28  # IPv4 + UDP headers of a sampled user packet
MAX_SKIPPED_EXAMPLES = 100
MAX_CACHED_PARTS = 200_000  # per-line byte blocks kept (GTP IEs, RADIUS attributes)


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
        self.up_inner: UdpFlow | None = None
        self.down_inner: UdpFlow | None = None
        if capture.gtpu_sample_rate > 0:
            self.up_inner = UdpFlow(ctx.ip_address, capture.app_server, app_port, APP_PORT)
            self.down_inner = UdpFlow(capture.app_server, ctx.ip_address, APP_PORT, app_port)


class PcapCapture:
    """A `gateway.events.CaptureSink` writing a pcap file; use as a context manager.

    `epoch` is the run's time origin (UTC); `secret` the RADIUS shared secret.
    `gtpu_sample_rate` is the fraction of user-plane packets written as GTP-U
    G-PDUs (0: none), drawn with a generator seeded by `seed`; user volume is cut
    into packets of `mtu` octets of inner IP.
    """

    def __init__(
        self,
        path: Path | str,
        epoch: datetime,
        secret: bytes | str = DEFAULT_SECRET,
        *,
        gtpu_sample_rate: float = 0.0,
        seed: int = 0,
        mtu: int = 1_400,
        aaa_address: str = DEFAULT_AAA_ADDRESS,
        app_server: str = DEFAULT_APP_SERVER,
        restart_counter: int = 1,
        buffer_size: int = 1 << 20,
    ) -> None:
        if not 0.0 <= gtpu_sample_rate <= 1.0:
            raise codec.CaptureError(f"GTP-U sample rate {gtpu_sample_rate}: expected 0..1")
        if not INNER_HEADERS_LEN < mtu <= 65_000:
            raise codec.CaptureError(f"MTU {mtu}: expected {INNER_HEADERS_LEN + 1}..65000")
        self.path = Path(path)
        self.epoch = codec.epoch_utc(epoch)
        self._epoch_us = int(self.epoch.timestamp()) * 1_000_000 + self.epoch.microsecond
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.gtpu_sample_rate = gtpu_sample_rate
        self.mtu = mtu
        self.aaa_address = aaa_address
        self.app_server = app_server
        codec.ipv4(aaa_address, "accounting server address")
        codec.ipv4(app_server, "application server address")
        self.restart_counter = restart_counter & 0xFF
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb", buffering=buffer_size)
        self._pcap = PcapStream(self._file)
        self.user_packets_sampled = 0

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def packets(self) -> int:
        """Packets written so far."""
        return self._pcap.packets

    @property
    def open_contexts(self) -> int:
        return len(self._contexts)

    def paths(self, ctx: ContextInfo) -> tuple[UdpFlow, UdpFlow, UdpFlow, UdpFlow]:
        """GTP-C SGSN->GGSN and back, RADIUS GGSN->server and back, for a context's GSN pair."""
        key = (ctx.sgsn_address, ctx.ggsn_address)
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = (
                self.flow(ctx.sgsn_address, ctx.ggsn_address, gtpc.GTPC_PORT, gtpc.GTPC_PORT),
                self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPC_PORT, gtpc.GTPC_PORT),
                self.flow(ctx.ggsn_address, self.aaa_address, NAS_ACCT_PORT, radius.ACCT_PORT),
                self.flow(self.aaa_address, ctx.ggsn_address, radius.ACCT_PORT, NAS_ACCT_PORT),
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
        )
        part = self._radius_parts.get(key)
        if part is None:
            if len(self._radius_parts) >= MAX_CACHED_PARTS:
                self._radius_parts.clear()  # bounded memory: a larger fleet rebuilds its parts
            part = radius.line_attributes(ctx, self.ms_tz(ctx), gtpc.uli(ctx))
            self._radius_parts[key] = part
        return part

    def _create_request(self, ctx: ContextInfo, tunnel: gtpc.Tunnel, seq: int) -> bytes:
        key = (ctx.line_id, ctx.imsi, ctx.msisdn, ctx.imeisv, ctx.serving_plmn, ctx.rat)
        ms_tz = self.ms_tz(ctx)
        parts = self._gtp_parts.get(key)
        if parts is None:
            if len(self._gtp_parts) >= MAX_CACHED_PARTS:
                self._gtp_parts.clear()
            parts = self._gtp_parts[key] = (gtpc.request_prefix(ctx), gtpc.request_suffix(ctx, ms_tz))
        return gtpc.create_request(ctx, tunnel, seq, self.restart_counter, ms_tz, parts[0], parts[1])

    def _ts(self, now: float) -> int:
        return self._epoch_us + round(now * 1_000_000)

    def _emit(self, ts_us: int, flow: UdpFlow, payload: bytes) -> None:
        self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
        self._pcap.write_udp(ts_us, flow, ip_id, payload)

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
        ident = (self._radius_ident.get(ggsn, -1) + 1) & 0xFF
        self._radius_ident[ggsn] = ident
        return ident

    def _skip(self, event: str, ctx: ContextInfo, exc: Exception) -> None:
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
            tunnel = gtpc.Tunnel.of(ctx)
            seq = ctx.sequence if ctx.sequence else self._next_gtp_seq(ctx)
            request = self._create_request(ctx, tunnel, seq)
            reply = gtpc.create_response(ctx, tunnel, seq, self.restart_counter, cause)
            req_flow, back, _acct, _acct_back = self.paths(ctx)
            state = _Context(self, ctx, tunnel) if cause == gtpc.REQUEST_ACCEPTED else None
        except codec.CaptureError as exc:
            self._skip("Create PDP Context", ctx, exc)
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
            self._skip("Delete PDP Context", ctx, exc)
            return
        self._emit(ts, state.gtpc, gtpc.delete_request(ctx, state.tunnel, seq))
        self._emit(ts + GTP_RESPONSE_DELAY_US, state.gtpc_back, gtpc.delete_response(state.tunnel, seq))
        state.deleted = True
        self._release(state)

    # -- RADIUS accounting -----------------------------------------------------------------------------

    def _exchange(self, ts: int, state: _Context, ident: int, message: tuple[bytes, bytes]) -> None:
        request, auth = message
        self._emit(ts, state.acct, request)
        self._emit(ts + RADIUS_RESPONSE_DELAY_US, state.acct_back, radius.response(ident, auth, self.secret))

    def acct_start(self, now: float, ctx: ContextInfo) -> None:
        try:
            ts = self._ts(now)
            state = self._context(ctx)
        except codec.CaptureError as exc:
            self._skip("Accounting Start", ctx, exc)
            return
        ident = self._next_ident(ctx.ggsn_address)
        self._exchange(ts, state, ident, state.template.start(ident, ts // 1_000_000))

    def acct_interim(
        self, now: float, ctx: ContextInfo, octets_up: int, octets_down: int, session_time_s: int
    ) -> None:
        try:
            ts = self._ts(now)
            state = self._context(ctx)
            ident = self._next_ident(ctx.ggsn_address)
            message = state.template.interim(ident, ts // 1_000_000, octets_up, octets_down, session_time_s)
        except (codec.CaptureError, struct.error) as exc:
            self._skip("Accounting Interim-Update", ctx, exc)
            return
        self._exchange(ts, state, ident, message)

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
            ident = self._next_ident(ctx.ggsn_address)
            message = state.template.stop(
                ident, ts // 1_000_000, octets_up, octets_down, session_time_s, terminate
            )
        except (codec.CaptureError, struct.error) as exc:
            self._skip("Accounting Stop", ctx, exc)
            return
        self._exchange(ts, state, ident, message)
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
            self._skip("user packets", ctx, exc)
            return
        if state.up_inner is None or state.down_inner is None:
            return
        up = self.flow(ctx.sgsn_address, ctx.ggsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        down = self.flow(ctx.ggsn_address, ctx.sgsn_address, gtpc.GTPU_PORT, gtpc.GTPU_PORT)
        self._sample(ts, max(bytes_up, 0), up, state.up_inner, state.tunnel.ggsn_teid)
        self._sample(ts, max(bytes_down, 0), down, state.down_inner, state.tunnel.sgsn_teid)

    def _sample(self, ts: int, volume: int, outer: UdpFlow, inner: UdpFlow, teid: int) -> None:
        count = math.ceil(volume / self.mtu)
        if count == 0:
            return
        keep = (
            count if self.gtpu_sample_rate >= 1.0 else int(self._rng.binomial(count, self.gtpu_sample_rate))
        )
        last = volume - (count - 1) * self.mtu
        zeros = self._zeros
        for i in range(keep):
            size = max(last if i == count - 1 else self.mtu, INNER_HEADERS_LEN)
            self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
            self._ip_id = outer_id = (ip_id + 1) & 0xFFFF
            payload = gpdu_with_inner(teid, inner, ip_id, size) + zeros[: size - INNER_HEADERS_LEN]
            self._pcap.write_udp(ts, outer, outer_id, payload)
        self.user_packets_sampled += keep

    # -- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            log.debug(
                "capture %s: %d packets, %d contexts left open", self.path, self.packets, len(self._contexts)
            )

    def __enter__(self) -> PcapCapture:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["DEFAULT_SECRET", "PcapCapture"]
