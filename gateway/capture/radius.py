"""RADIUS accounting as a GGSN sends it (RFC 2866, TS 29.061 16): bytes, templates and authenticators.

A context's identity attributes (session id, MSISDN, APN, the 3GPP vendor
attributes...) are serialised once into an `AccountingTemplate`; each
Start / Interim-Update / Stop then packs only its few varying attributes in
front of them and signs the message:

- Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets +
  attributes + shared secret) (RFC 2866 3);
- Response Authenticator = MD5(Code + Identifier + Length + Request
  Authenticator + attributes + shared secret) (RFC 2865 3).

Octet counters above 2^32 - 1 are split into Acct-Input/Output-Octets (low 32
bits) and Acct-Input/Output-Gigawords (RFC 2869 5.1, 5.2).
"""

from __future__ import annotations

import hashlib
import struct

from gateway.capture import codec
from gateway.events import ContextInfo

ACCT_PORT = 1813
NAS_ACCT_PORT = 32_768  # the GGSN's first RADIUS client port
NAS_ACCT_PORTS = 64  # client ports the GGSN turns through: 256 Identifiers per source port (RFC 2865 3)
COUNTER_CYCLE = 256 * NAS_ACCT_PORTS  # a GGSN's request counter: Identifier (low 8 bits), client port above
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5

STATUS_START = 1
STATUS_STOP = 2
STATUS_INTERIM = 3

VENDOR_3GPP = 10415

# RFC 2865/2866/2869 attribute types used here.
USER_NAME = 1
NAS_IP_ADDRESS = 4
SERVICE_TYPE = 6
FRAMED_PROTOCOL = 7
FRAMED_IP_ADDRESS = 8
CLASS = 25
VENDOR_SPECIFIC = 26
CALLED_STATION_ID = 30
CALLING_STATION_ID = 31
ACCT_STATUS_TYPE = 40
ACCT_INPUT_OCTETS = 42
ACCT_OUTPUT_OCTETS = 43
ACCT_SESSION_ID = 44
ACCT_AUTHENTIC = 45
ACCT_SESSION_TIME = 46
ACCT_TERMINATE_CAUSE = 49
ACCT_INPUT_GIGAWORDS = 52
ACCT_OUTPUT_GIGAWORDS = 53
EVENT_TIMESTAMP = 55
NAS_PORT_TYPE = 61

# 3GPP vendor-specific attributes (TS 29.061 16.4.7.2).
TGPP_IMSI = 1
TGPP_CHARGING_ID = 2
TGPP_PDP_TYPE = 3
TGPP_SGSN_ADDRESS = 6
TGPP_GGSN_ADDRESS = 7
TGPP_IMSI_MCC_MNC = 8
TGPP_GGSN_MCC_MNC = 9
TGPP_NSAPI = 10
TGPP_SELECTION_MODE = 12
TGPP_CHARGING_CHARACTERISTICS = 13
TGPP_SGSN_MCC_MNC = 18
TGPP_IMEISV = 20
TGPP_RAT_TYPE = 21
TGPP_USER_LOCATION_INFO = 22
TGPP_MS_TIMEZONE = 23

SERVICE_FRAMED = 2
FRAMED_GPRS_PDP_CONTEXT = 7
AUTHENTIC_RADIUS = 1
NAS_PORT_WIRELESS_OTHER = 18

ZERO_AUTHENTICATOR = bytes(16)
GIGAWORD = 1 << 32
MAX_OCTETS = (1 << 64) - 1

_HEAD = struct.Struct("!BBH")
_START_VAR = struct.Struct("!BBI BBI")
_INTERIM_VAR = struct.Struct("!BBI BBI BBI BBI BBI BBI BBI")
_STOP_VAR = struct.Struct("!BBI BBI BBI BBI BBI BBI BBI BBI")


def attr(attr_type: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise codec.CaptureError(f"RADIUS attribute {attr_type}: value of {len(value)} octets exceeds 253")
    return bytes((attr_type, len(value) + 2)) + value


def vsa(vendor_type: int, value: bytes) -> bytes:
    """A 3GPP vendor-specific attribute: type 26, vendor 10415, vendor type, vendor length, value."""
    if len(value) > 247:
        raise codec.CaptureError(f"3GPP attribute {vendor_type}: value of {len(value)} octets exceeds 247")
    return (
        struct.pack("!BBIBB", VENDOR_SPECIFIC, len(value) + 8, VENDOR_3GPP, vendor_type, len(value) + 2)
        + value
    )


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def session_attributes(ctx: ContextInfo) -> bytes:
    """The attributes proper to one PDP context: address, session id, charging id, NSAPI."""
    return b"".join(
        (
            attr(FRAMED_IP_ADDRESS, codec.ipv4(ctx.ip_address, "Framed-IP-Address")),
            attr(ACCT_SESSION_ID, ctx.session_id.encode()),
            vsa(TGPP_CHARGING_ID, u32(ctx.charging_id & 0xFFFFFFFF)),
            vsa(TGPP_NSAPI, f"{ctx.nsapi & 0x0F:X}".encode()),
        )
    )


def line_attributes(ctx: ContextInfo, ms_tz: bytes, uli: bytes) -> bytes:
    """The attributes every context of a line on one network repeats (TS 29.061 table 16.4)."""
    imsi = codec.digits(ctx.imsi, "IMSI", range(6, 16))
    if ctx.imeisv:
        codec.digits(ctx.imeisv, "IMEISV", range(16, 17))
    if ctx.msisdn:
        codec.digits(ctx.msisdn, "MSISDN", range(3, 16))
    codec.plmn_octets(ctx.serving_plmn)
    return b"".join(
        (
            attr(USER_NAME, imsi.encode()),
            attr(NAS_IP_ADDRESS, codec.ipv4(ctx.ggsn_address, "GGSN address")),
            attr(SERVICE_TYPE, u32(SERVICE_FRAMED)),
            attr(FRAMED_PROTOCOL, u32(FRAMED_GPRS_PDP_CONTEXT)),
            attr(CLASS, ctx.line_id.encode()),
            attr(CALLED_STATION_ID, ctx.apn.encode()),
            attr(CALLING_STATION_ID, ctx.msisdn.encode()) if ctx.msisdn else b"",
            attr(ACCT_AUTHENTIC, u32(AUTHENTIC_RADIUS)),
            attr(NAS_PORT_TYPE, u32(NAS_PORT_WIRELESS_OTHER)),
            vsa(TGPP_IMSI, imsi.encode()),
            vsa(TGPP_PDP_TYPE, u32(0)),  # IPv4
            vsa(TGPP_SGSN_ADDRESS, codec.ipv4(ctx.sgsn_address, "SGSN address")),
            vsa(TGPP_GGSN_ADDRESS, codec.ipv4(ctx.ggsn_address, "GGSN address")),
            vsa(TGPP_IMSI_MCC_MNC, codec.home_plmn(imsi).encode()),
            vsa(TGPP_GGSN_MCC_MNC, codec.home_plmn(imsi).encode()),  # the GGSN is in the home network
            vsa(TGPP_SELECTION_MODE, b"0"),
            vsa(TGPP_CHARGING_CHARACTERISTICS, b"0800"),
            vsa(TGPP_SGSN_MCC_MNC, ctx.serving_plmn.encode()),
            vsa(TGPP_IMEISV, ctx.imeisv.encode()) if ctx.imeisv else b"",
            vsa(TGPP_RAT_TYPE, bytes((codec.rat_type(ctx.rat),))),
            vsa(TGPP_USER_LOCATION_INFO, uli),
            vsa(TGPP_MS_TIMEZONE, ms_tz),
        )
    )


def identity_attributes(ctx: ContextInfo, ms_tz: bytes, uli: bytes, line_part: bytes | None = None) -> bytes:
    """All attributes a context's accounting requests repeat: its own, then its line's."""
    return session_attributes(ctx) + (
        line_part if line_part is not None else line_attributes(ctx, ms_tz, uli)
    )


def split_octets(octets: int) -> tuple[int, int]:
    """(low 32 bits, gigawords) of an octet counter (RFC 2869 Acct-*-Gigawords)."""
    if octets < 0 or octets > MAX_OCTETS:
        raise codec.CaptureError(f"octet counter {octets} out of range 0..2^64-1")
    return octets & 0xFFFFFFFF, octets >> 32


def _counter_fields(
    status: int, event_time: int, octets_in: int, octets_out: int, session_time: int
) -> tuple[int, ...]:
    """The attribute fields an Interim-Update and a Stop share, counters split into Gigawords."""
    in_lo, in_gw = split_octets(octets_in)
    out_lo, out_gw = split_octets(octets_out)
    return (
        ACCT_STATUS_TYPE, 6, status,
        EVENT_TIMESTAMP, 6, event_time,
        ACCT_INPUT_OCTETS, 6, in_lo,
        ACCT_OUTPUT_OCTETS, 6, out_lo,
        ACCT_INPUT_GIGAWORDS, 6, in_gw,
        ACCT_OUTPUT_GIGAWORDS, 6, out_gw,
        ACCT_SESSION_TIME, 6, session_time,
    )  # fmt: skip


class AccountingTemplate:
    """A context's pre-serialised accounting attributes; packs signed requests in a few microseconds."""

    __slots__ = ("identity", "secret")

    def __init__(self, identity: bytes, secret: bytes) -> None:
        self.identity = identity
        self.secret = secret

    def _sign(self, ident: int, variable: bytes) -> tuple[bytes, bytes]:
        body = variable + self.identity
        head = _HEAD.pack(ACCOUNTING_REQUEST, ident, 20 + len(body))
        auth = hashlib.md5(head + ZERO_AUTHENTICATOR + body + self.secret, usedforsecurity=False).digest()
        return head + auth + body, auth

    def start(self, ident: int, event_time: int) -> tuple[bytes, bytes]:
        """Accounting-Request Start and its Request Authenticator."""
        var = _START_VAR.pack(ACCT_STATUS_TYPE, 6, STATUS_START, EVENT_TIMESTAMP, 6, event_time)
        return self._sign(ident, var)

    def interim(
        self, ident: int, event_time: int, octets_in: int, octets_out: int, session_time: int
    ) -> tuple[bytes, bytes]:
        """Accounting-Request Interim-Update with cumulative counters."""
        fields = _counter_fields(STATUS_INTERIM, event_time, octets_in, octets_out, session_time)
        return self._sign(ident, _INTERIM_VAR.pack(*fields))

    def stop(
        self, ident: int, event_time: int, octets_in: int, octets_out: int, session_time: int, terminate: int
    ) -> tuple[bytes, bytes]:
        """Accounting-Request Stop with cumulative counters and Acct-Terminate-Cause."""
        fields = _counter_fields(STATUS_STOP, event_time, octets_in, octets_out, session_time)
        var = _STOP_VAR.pack(*fields, ACCT_TERMINATE_CAUSE, 6, terminate)
        return self._sign(ident, var)


def response(ident: int, request_authenticator: bytes, secret: bytes) -> bytes:
    """Accounting-Response (no attributes) with its Response Authenticator."""
    head = _HEAD.pack(ACCOUNTING_RESPONSE, ident, 20)
    return head + hashlib.md5(head + request_authenticator + secret, usedforsecurity=False).digest()


def request_authenticator_ok(message: bytes, secret: bytes) -> bool:
    """Whether an Accounting-Request's authenticator is MD5(header, zeros, attributes, secret)."""
    expected = hashlib.md5(message[:4] + ZERO_AUTHENTICATOR + message[20:] + secret, usedforsecurity=False)
    return expected.digest() == message[4:20]


def response_authenticator_ok(message: bytes, request_authenticator: bytes, secret: bytes) -> bool:
    expected = hashlib.md5(message[:4] + request_authenticator + message[20:] + secret, usedforsecurity=False)
    return expected.digest() == message[4:20]
