"""GTPv1-C Create/Delete PDP Context messages and the GTP-U G-PDU header, as bytes (TS 29.060).

Information elements are written in ascending type order with explicit lengths,
as TS 29.060 7.7 requires; TV elements have the fixed sizes of table 37.
`gateway.capture.reference` builds the same messages with scapy: the tests check
that both agree byte for byte.
"""

from __future__ import annotations

import hashlib
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
_CREATE_ACCEPTED = struct.Struct("!BB BB BB BI BI BI BHBB4s")  # Cause ... End User Address

# Protocol Configuration Options (TS 24.008 10.5.6.3): what the MS asks the network at activation
PCO_PPP = 0x80  # extension bit, configuration protocol 0 (PPP for use with IP PDP type)
PCO_PAP = 0xC023  # a PAP packet (RFC 1334)
PCO_CHAP = 0xC223  # a CHAP packet (RFC 1994)
PCO_DNS_IPV4 = 0x000D  # DNS Server IPv4 Address Request (MS -> network) / the address (network -> MS)
PPP_IDENTIFIER = 1  # the MS's PAP / CHAP packet identifier (one exchange per activation)
DEFAULT_DNS_SERVERS = ("192.0.2.53", "192.0.2.54")  # the APNs' resolvers (RFC 5737 documentation range)
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


def pco_container(protocol: int, contents: bytes) -> bytes:
    if len(contents) > 253:
        raise codec.CaptureError(f"PCO container {protocol:#06x}: {len(contents)} octets exceed 253")
    return struct.pack("!HB", protocol, len(contents)) + contents


def _ppp_auth(code: int, value: bytes, name: bytes) -> bytes:
    """A CHAP Challenge (1) or Response (2) packet: code, identifier, length, value size, value, name."""
    return struct.pack("!BBHB", code, PPP_IDENTIFIER, 5 + len(value) + len(name), len(value)) + value + name


def pco_request(ctx: ContextInfo) -> bytes:
    """The Protocol Configuration Options IE of a Create request: authentication, then a DNS request.

    The APN's authentication (`ContextInfo.authentication`): PAP sends an
    Authenticate-Request with the user name (the MSISDN, else the IMSI) and the
    password; CHAP sends the MS's Challenge (16 octets, MD5 of the session id) and
    its Response (MD5 of identifier, password and challenge, RFC 1994), with the
    user name.  Every request asks for the DNS servers' IPv4 addresses.
    """
    user = (ctx.msisdn or ctx.imsi).encode()
    password = ctx.password.encode()
    parts = [bytes((PCO_PPP,))]
    if ctx.authentication == "pap":
        pap = struct.pack("!BBHB", 1, PPP_IDENTIFIER, 6 + len(user) + len(password), len(user))
        parts.append(pco_container(PCO_PAP, pap + user + bytes((len(password),)) + password))
    elif ctx.authentication == "chap":
        challenge = hashlib.md5(b"chap/" + ctx.session_id.encode(), usedforsecurity=False).digest()
        answer = hashlib.md5(bytes((PPP_IDENTIFIER,)) + password + challenge, usedforsecurity=False).digest()
        parts.append(pco_container(PCO_CHAP, _ppp_auth(1, challenge, user)))
        parts.append(pco_container(PCO_CHAP, _ppp_auth(2, answer, user)))
    parts.append(pco_container(PCO_DNS_IPV4, b""))
    return tlv(132, b"".join(parts))


def pco_response(authentication: str, dns_servers: tuple[str, ...]) -> bytes:
    """The Protocol Configuration Options IE of an accepted Create response.

    PAP: Authenticate-Ack with no message; CHAP: Success; then one DNS Server IPv4
    Address container per resolver.
    """
    parts = [bytes((PCO_PPP,))]
    if authentication == "pap":
        parts.append(pco_container(PCO_PAP, struct.pack("!BBHB", 2, PPP_IDENTIFIER, 5, 0)))
    elif authentication == "chap":
        parts.append(pco_container(PCO_CHAP, struct.pack("!BBH", 3, PPP_IDENTIFIER, 4)))
    for address in dns_servers:
        parts.append(pco_container(PCO_DNS_IPV4, codec.ipv4(address, "DNS server address")))
    return tlv(132, b"".join(parts))


def gsn_addresses(address: str, what: str) -> bytes:
    """The two GSN Address IEs (signalling, then user traffic) of one node."""
    ie = tlv(133, codec.ipv4(address, what))
    return ie + ie


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
            pco_request(ctx),
            sgsn,
            sgsn,
            suffix if suffix is not None else request_suffix(ctx, ms_tz),
        )
    )
    return header(CREATE_PDP_REQUEST, 0, sequence, len(body)) + body


def create_response(
    ctx: ContextInfo,
    tunnel: Tunnel,
    sequence: int,
    recovery: int,
    cause: int,
    dns_servers: tuple[str, ...] = DEFAULT_DNS_SERVERS,
) -> bytes:
    """Create PDP Context Response, GGSN -> SGSN (TS 29.060 7.3.2); a refusal carries the cause only."""
    if cause != REQUEST_ACCEPTED:
        body = tv(1, bytes((cause & 0xFF,)))
        return header(CREATE_PDP_RESPONSE, tunnel.sgsn_teid, sequence, len(body)) + body
    body = b"".join(
        (
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
            ),
            pco_response(ctx.authentication, dns_servers),
            gsn_addresses(ctx.ggsn_address, "GGSN address"),  # for control plane, then user traffic
            _QOS_IE,
        )
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
