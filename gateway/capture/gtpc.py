"""GTPv1-C Create/Delete PDP Context messages and the GTP-U G-PDU header, as bytes (TS 29.060).

Information elements are written in ascending type order with explicit lengths,
as TS 29.060 7.7 requires; TV elements have the fixed sizes of table 37.
`gateway.capture.reference` builds the same messages with scapy: the tests check
that both agree byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.capture import codec
from gateway.events import ContextInfo

GTPC_PORT = 2123
GTPU_PORT = 2152

CREATE_PDP_REQUEST = 16
CREATE_PDP_RESPONSE = 17
UPDATE_PDP_REQUEST = 18
UPDATE_PDP_RESPONSE = 19
DELETE_PDP_REQUEST = 20
DELETE_PDP_RESPONSE = 21
G_PDU = 255

REQUEST_ACCEPTED = 128

SELECTION_MODE_SUBSCRIBED = 0xFC  # spare bits set, "MS or network provided APN, subscription verified"
CHARGING_NORMAL = 0x0800  # Charging Characteristics: normal charging (TS 32.298 5.1.2.2.7)
REORDERING_NOT_REQUIRED = 0xFE
TEARDOWN = 0xFF

# QoS profile (TS 24.008 10.5.6.5) of an M2M background-class context:
# ARP 2; delay class 4, reliability 3; peak 256 kB/s, precedence 2; best-effort mean;
# background class, no delivery order, no erroneous SDUs; max SDU 1,500 octets;
# 64 kbit/s both ways; residual BER 1e-5, SDU error ratio 1e-4.
QOS_PROFILE = bytes((0x02, 0x23, 0x92, 0x1F, 0x93, 0x96, 0x40, 0x40, 0x74, 0x4B, 0x00, 0x00))

_HEADER = struct.Struct("!BBHIHBB")  # flags, type, length, TEID, sequence, N-PDU, next extension
_GPDU_HEADER = struct.Struct("!BBHI")
# Create request, from Recovery to NSAPI: Recovery, Selection mode, TEID Data I, TEID C-plane, NSAPI,
# then Charging Characteristics and the dynamic End User Address (constant).
_CREATE_MIDDLE = struct.Struct("!BB BB BI BI BB")
_CHARGING_AND_EUA = bytes((26,)) + struct.pack("!H", CHARGING_NORMAL) + b"\x80\x00\x02\xf1\x21"
# Create response after Cause 128: Reordering, Recovery, TEIDs, Charging ID, End User Address, GSN x 2.
_CREATE_ACCEPTED = struct.Struct("!BB BB BB BI BI BI BHBB4s BH4s BH4s")
_QOS_IE = struct.pack("!BH", 135, len(QOS_PROFILE)) + QOS_PROFILE


def header(msg_type: int, teid: int, sequence: int, body_len: int) -> bytes:
    """The 12-octet GTPv1-C header with a sequence number (flags 0x32: version 1, PT 1, S 1)."""
    return _HEADER.pack(0x32, msg_type, body_len + 4, teid, sequence & 0xFFFF, 0, 0)


def gpdu_header(teid: int, payload_len: int) -> bytes:
    """The 8-octet GTP-U header of a G-PDU without optional fields (flags 0x30)."""
    return _GPDU_HEADER.pack(0x30, G_PDU, payload_len, teid)


def tv(ie_type: int, value: bytes) -> bytes:
    return bytes((ie_type,)) + value


def tlv(ie_type: int, value: bytes) -> bytes:
    return struct.pack("!BH", ie_type, len(value)) + value


@dataclass(frozen=True, slots=True)
class Tunnel:
    """The tunnel endpoint ids of a context: the SGSN's (downlink) and the GGSN's (uplink)."""

    sgsn_teid: int
    ggsn_teid: int

    @classmethod
    def of(cls, ctx: ContextInfo, attempt: str = "") -> Tunnel:
        """The context's own TEIDs, else `codec.context_teids` (`attempt` names a refused Create)."""
        sgsn, ggsn = codec.context_teids(ctx.charging_id, attempt or ctx.session_id)
        return cls(
            sgsn_teid=(ctx.teid_down or sgsn) & 0xFFFFFFFF, ggsn_teid=(ctx.teid_up or ggsn) & 0xFFFFFFFF
        )


def uli(ctx: ContextInfo) -> bytes:
    """User Location Information value: CGI on GERAN, SAI otherwise (TS 29.060 7.7.51)."""
    lac, _rac, cell = codec.location_codes(ctx.line_id, ctx.serving_plmn)
    loc_type = 0 if ctx.rat.lower() == "geran" else 1
    return bytes((loc_type,)) + codec.plmn_octets(ctx.serving_plmn) + struct.pack("!HH", lac, cell)


def rai(ctx: ContextInfo) -> bytes:
    lac, rac, _cell = codec.location_codes(ctx.line_id, ctx.serving_plmn)
    return codec.plmn_octets(ctx.serving_plmn) + struct.pack("!HB", lac, rac)


def msisdn_ie(msisdn: str) -> bytes:
    """MSISDN IE (conditional: absent when the subscriber has none)."""
    if not msisdn:
        return b""
    digits = codec.digits(msisdn, "MSISDN", range(3, 16))
    return tlv(134, b"\x91" + codec.tbcd(digits))  # international number, ISDN/telephony plan


def imeisv_ie(imeisv: str) -> bytes:
    """IMEI(SV) IE (conditional: absent when the device did not give it)."""
    if not imeisv:
        return b""
    return tlv(154, codec.tbcd(codec.digits(imeisv, "IMEISV", range(16, 17))))


def request_prefix(ctx: ContextInfo) -> bytes:
    """The IMSI and RAI IEs of a Create PDP Context Request (the same for every context of a line)."""
    imsi = codec.digits(ctx.imsi, "IMSI", range(6, 16))
    return tv(2, codec.tbcd(imsi, 8)) + tv(3, rai(ctx))


def request_suffix(ctx: ContextInfo, ms_tz: bytes) -> bytes:
    """The IEs after the GSN addresses: MSISDN, QoS, RAT, ULI, MS Time Zone, IMEI(SV) (per line)."""
    return b"".join(
        (
            msisdn_ie(ctx.msisdn),
            _QOS_IE,
            tlv(151, bytes((codec.rat_type(ctx.rat),))),
            tlv(152, uli(ctx)),
            tlv(153, ms_tz),
            imeisv_ie(ctx.imeisv),
        )
    )


def create_request(
    ctx: ContextInfo,
    tunnel: Tunnel,
    sequence: int,
    recovery: int,
    ms_tz: bytes,
    prefix: bytes | None = None,
    suffix: bytes | None = None,
) -> bytes:
    """Create PDP Context Request, SGSN -> GGSN (TS 29.060 7.3.1, IEs in ascending order).

    `prefix` and `suffix` are `request_prefix(ctx)` and `request_suffix(ctx, ms_tz)`,
    which a caller may keep per line.
    """
    sgsn = tlv(133, codec.ipv4(ctx.sgsn_address, "SGSN address"))  # for signalling, then user traffic
    body = b"".join(
        (
            prefix if prefix is not None else request_prefix(ctx),
            _CREATE_MIDDLE.pack(
                14,
                recovery & 0xFF,
                15,
                SELECTION_MODE_SUBSCRIBED,
                16,
                tunnel.sgsn_teid,
                17,
                tunnel.sgsn_teid,
                20,
                ctx.nsapi & 0x0F,
            ),
            _CHARGING_AND_EUA,  # End User Address: IETF, IPv4, dynamic (no address yet)
            tlv(131, codec.apn_labels(ctx.apn) if ctx.apn else b""),  # empty: the MS gave none
            sgsn,
            sgsn,
            suffix if suffix is not None else request_suffix(ctx, ms_tz),
        )
    )
    return header(CREATE_PDP_REQUEST, 0, sequence, len(body)) + body


def create_response(ctx: ContextInfo, tunnel: Tunnel, sequence: int, recovery: int, cause: int) -> bytes:
    """Create PDP Context Response, GGSN -> SGSN (TS 29.060 7.3.2); a refusal carries the cause only."""
    if cause != REQUEST_ACCEPTED:
        body = tv(1, bytes((cause & 0xFF,)))
        return header(CREATE_PDP_RESPONSE, tunnel.sgsn_teid, sequence, len(body)) + body
    ggsn = codec.ipv4(ctx.ggsn_address, "GGSN address")  # for control plane, then user traffic
    body = (
        _CREATE_ACCEPTED.pack(
            1,
            cause,
            8,
            REORDERING_NOT_REQUIRED,
            14,
            recovery & 0xFF,
            16,
            tunnel.ggsn_teid,
            17,
            tunnel.ggsn_teid,
            127,
            ctx.charging_id & 0xFFFFFFFF,
            128,
            6,
            0xF1,
            0x21,
            codec.ipv4(ctx.ip_address, "End User Address"),
            133,
            4,
            ggsn,
            133,
            4,
            ggsn,
        )
        + _QOS_IE
    )
    return header(CREATE_PDP_RESPONSE, tunnel.sgsn_teid, sequence, len(body)) + body


def delete_request(ctx: ContextInfo, tunnel: Tunnel, sequence: int) -> bytes:
    """Delete PDP Context Request, SGSN -> GGSN (TS 29.060 7.3.5)."""
    body = bytes((19, TEARDOWN, 20, ctx.nsapi & 0x0F))
    return header(DELETE_PDP_REQUEST, tunnel.ggsn_teid, sequence, len(body)) + body


def delete_response(tunnel: Tunnel, sequence: int) -> bytes:
    """Delete PDP Context Response, GGSN -> SGSN (TS 29.060 7.3.6)."""
    body = bytes((1, REQUEST_ACCEPTED))
    return header(DELETE_PDP_RESPONSE, tunnel.sgsn_teid, sequence, len(body)) + body


def update_request(ctx: ContextInfo, tunnel: Tunnel, sequence: int, recovery: int, ms_tz: bytes) -> bytes:
    """Update PDP Context Request, (new) SGSN -> GGSN, after a routing area update (TS 29.060 7.3.3).

    IMSI, the new RAI, Recovery, the SGSN's TEIDs, NSAPI, the new SGSN addresses, QoS,
    RAT Type, ULI and MS Time Zone, in ascending IE order; the header carries the
    GGSN's TEID-C.
    """
    imsi = codec.digits(ctx.imsi, "IMSI", range(6, 16))
    sgsn = tlv(133, codec.ipv4(ctx.sgsn_address, "SGSN address"))
    body = b"".join(
        (
            tv(2, codec.tbcd(imsi, 8)),
            tv(3, rai(ctx)),
            tv(14, bytes((recovery & 0xFF,))),
            tv(16, struct.pack("!I", tunnel.sgsn_teid)),
            tv(17, struct.pack("!I", tunnel.sgsn_teid)),
            tv(20, bytes((ctx.nsapi & 0x0F,))),
            sgsn,
            sgsn,
            _QOS_IE,
            tlv(151, bytes((codec.rat_type(ctx.rat),))),
            tlv(152, uli(ctx)),
            tlv(153, ms_tz),
        )
    )
    return header(UPDATE_PDP_REQUEST, tunnel.ggsn_teid, sequence, len(body)) + body


def update_response(ctx: ContextInfo, tunnel: Tunnel, sequence: int, recovery: int) -> bytes:
    """Update PDP Context Response, GGSN -> SGSN (TS 29.060 7.3.4): accepted, the GGSN's TEIDs and addresses."""
    ggsn = tlv(133, codec.ipv4(ctx.ggsn_address, "GGSN address"))
    body = b"".join(
        (
            tv(1, bytes((REQUEST_ACCEPTED,))),
            tv(14, bytes((recovery & 0xFF,))),
            tv(16, struct.pack("!I", tunnel.ggsn_teid)),
            tv(17, struct.pack("!I", tunnel.ggsn_teid)),
            tv(127, struct.pack("!I", ctx.charging_id & 0xFFFFFFFF)),
            ggsn,
            ggsn,
            _QOS_IE,
        )
    )
    return header(UPDATE_PDP_RESPONSE, tunnel.sgsn_teid, sequence, len(body)) + body
