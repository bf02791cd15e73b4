"""The capture's packets defined with scapy: the reference the byte templates are checked against.

Slow (hundreds of packets per second) but built from scapy's own layer
definitions, with the scapy 2.8 pitfalls worked around explicitly:

- every IE is given its length (the auto-length of IMEI, ULI and MS Time Zone
  is off by one; GSN and End User Address need it) and every field its value
  (a bare `GTPCreatePDPContextRequest()` carries random IEs and a random IMSI);
- TBCD digit strings are padded with F by hand (short IMSIs would be padded
  with 0x0), and a 3-digit MNC's third digit is written in the MCC field's
  second octet (the RAI/ULI MNC field holds two digits only);
- IEs are listed in ascending type order (scapy does not enforce it);
- the 3GPP RADIUS attributes are raw Vendor-Specific values (no dictionary),
  counters are split into Gigawords, and the authenticator is computed.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any

from scapy.contrib.gtp import (
    IE_IMEI,
    IE_IMSI,
    IE_NSAPI,
    IE_TEICP,
    IE_TEIDI,
    GTP_U_Header,
    GTPCreatePDPContextRequest,
    GTPCreatePDPContextResponse,
    GTPDeletePDPContextRequest,
    GTPDeletePDPContextResponse,
    GTPHeader,
    IE_AccessPointName,
    IE_Cause,
    IE_ChargingCharacteristics,
    IE_ChargingId,
    IE_EndUserAddress,
    IE_GSNAddress,
    IE_MSInternationalNumber,
    IE_MSTimeZone,
    IE_ProtocolConfigurationOptions,
    IE_QoS,
    IE_RATType,
    IE_Recovery,
    IE_ReorderingRequired,
    IE_Routing,
    IE_SelectionMode,
    IE_Teardown,
    IE_UserLocationInformation,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.ppp import PPP_CHAP, PPP_CHAP_ChallengeResponse, PPP_PAP_Request, PPP_PAP_Response
from scapy.layers.radius import Radius, RadiusAttr_Vendor_Specific, RadiusAttribute
from scapy.packet import Packet, Raw

from gateway.capture import codec, gtpc, radius
from gateway.capture.frames import IP_TTL
from gateway.events import ContextInfo


def _padded(number: str, digits: int) -> str:
    return number + "F" * (digits - len(number))


def _plmn_fields(plmn: str) -> tuple[str, str]:
    """(MCC field, MNC field) strings for scapy's 2-octet MCC / 1-octet MNC TBCD fields."""
    mcc, mnc = plmn[:3], plmn[3:]
    return mcc + (mnc[2] if len(mnc) == 3 else "F"), mnc[:2]


def _qos() -> IE_QoS:
    return IE_QoS(
        length=len(gtpc.QOS_PROFILE),
        allocation_retention_prioiry=2,
        spare1=0,
        delay_class=4,
        reliability_class=3,
        peak_troughput=9,
        spare2=0,
        precedence_class=2,
        spare3=0,
        mean_troughput=31,
        traffic_class=4,
        delivery_order=2,
        delivery_of_err_sdu=3,
        max_sdu_size=0x96,
        max_bitrate_up=0x40,
        max_bitrate_down=0x40,
        redidual_ber=7,
        sdu_err_ratio=4,
        transfer_delay=18,
        traffic_handling_prio=3,
        guaranteed_bit_rate_up=0,
        guaranteed_bit_rate_down=0,
    )


def _gtp_header(msg_type: int, teid: int, sequence: int) -> GTPHeader:
    return GTPHeader(
        version=1, PT=1, E=0, S=1, PN=0, gtp_type=msg_type, teid=teid, seq=sequence, npdu=0, next_ex=0
    )


def _container(protocol: int, contents: bytes) -> bytes:
    return protocol.to_bytes(2, "big") + bytes((len(contents),)) + contents


def _pco_request(ctx: ContextInfo) -> bytes:
    """PCO contents of a Create request (TS 24.008 10.5.6.3) with scapy's PAP and CHAP packets."""
    user = (ctx.msisdn or ctx.imsi).encode()
    password = ctx.password.encode()
    out = b"\x80"
    if ctx.authentication == "pap":
        pap = PPP_PAP_Request(code=1, id=1, username=user, password=password)
        out += _container(0xC023, bytes(pap))
    elif ctx.authentication == "chap":
        challenge = hashlib.md5(b"chap/" + ctx.session_id.encode(), usedforsecurity=False).digest()
        answer = hashlib.md5(b"\x01" + password + challenge, usedforsecurity=False).digest()
        for code, value in ((1, challenge), (2, answer)):
            chap = PPP_CHAP_ChallengeResponse(code=code, id=1, value=value, optional_name=user)
            out += _container(0xC223, bytes(chap))
    return out + _container(0x000D, b"")


def _pco_response(ctx: ContextInfo, dns_servers: tuple[str, ...]) -> bytes:
    out = b"\x80"
    if ctx.authentication == "pap":
        out += _container(0xC023, bytes(PPP_PAP_Response(code=2, id=1)))
    elif ctx.authentication == "chap":
        out += _container(0xC223, bytes(PPP_CHAP(code=3, id=1)))
    for address in dns_servers:
        out += _container(0x000D, socket.inet_aton(address))
    return out


def create_request(
    ctx: ContextInfo, tunnel: gtpc.Tunnel, sequence: int, recovery: int, ms_tz: bytes
) -> Packet:
    lac, rac, cell = codec.location_codes(ctx.line_id, ctx.serving_plmn)
    mcc, mnc = _plmn_fields(ctx.serving_plmn)
    apn_len = len(codec.apn_labels(ctx.apn))
    msisdn_len = 1 + (len(ctx.msisdn) + 1) // 2
    pco = _pco_request(ctx)
    ies = [
        IE_IMSI(imsi=_padded(ctx.imsi, 16)),
        IE_Routing(MCC=mcc, MNC=mnc, LAC=lac, RAC=rac),
        IE_Recovery(restart_counter=recovery),
        IE_SelectionMode(SelectionMode=gtpc.SELECTION_MODE_SUBSCRIBED),
        IE_TEIDI(TEIDI=tunnel.sgsn_teid),
        IE_TEICP(TEICI=tunnel.sgsn_teid),
        IE_NSAPI(sparebits=0, NSAPI=ctx.nsapi),
        IE_ChargingCharacteristics(
            Ch_ChSpare=0,
            normal_charging=1,
            prepaid_charging=0,
            flat_rate_charging=0,
            hot_billing_charging=0,
            Ch_ChReserved=0,
        ),
        IE_EndUserAddress(length=2, SPARE=15, PDPTypeOrganization=1, PDPTypeNumber=0x21),
        IE_AccessPointName(length=apn_len, APN=ctx.apn),
        IE_ProtocolConfigurationOptions(length=len(pco), Protocol_Configuration=pco),
        IE_GSNAddress(length=4, ipv4_address=ctx.sgsn_address),
        IE_GSNAddress(length=4, ipv4_address=ctx.sgsn_address),
        IE_MSInternationalNumber(length=msisdn_len, flags=0x91, digits=ctx.msisdn),
        _qos(),
        IE_RATType(length=1, RAT_Type=codec.rat_type(ctx.rat)),
        IE_UserLocationInformation(
            length=8, type=0 if ctx.rat.lower() == "geran" else 1, MCC=mcc, MNC=mnc, LAC=lac, SAC=cell
        ),
        IE_MSTimeZone(length=2, timezone=ms_tz[0], spare=0, daylight_saving_time=ms_tz[1]),
        IE_IMEI(length=8, IMEI=ctx.imeisv),
    ]
    return _gtp_header(gtpc.CREATE_PDP_REQUEST, 0, sequence) / GTPCreatePDPContextRequest(IE_list=ies)


def create_response(
    ctx: ContextInfo,
    tunnel: gtpc.Tunnel,
    sequence: int,
    recovery: int,
    cause: int,
    dns_servers: tuple[str, ...] = ("192.0.2.53", "192.0.2.54"),
) -> Packet:
    head = _gtp_header(gtpc.CREATE_PDP_RESPONSE, tunnel.sgsn_teid, sequence)
    if cause != gtpc.REQUEST_ACCEPTED:
        return head / GTPCreatePDPContextResponse(IE_list=[IE_Cause(CauseValue=cause)])
    pco = _pco_response(ctx, dns_servers)
    ies = [
        IE_Cause(CauseValue=cause),
        IE_ReorderingRequired(reordering_required=gtpc.REORDERING_NOT_REQUIRED),
        IE_Recovery(restart_counter=recovery),
        IE_TEIDI(TEIDI=tunnel.ggsn_teid),
        IE_TEICP(TEICI=tunnel.ggsn_teid),
        IE_ChargingId(Charging_id=ctx.charging_id),
        IE_EndUserAddress(
            length=6, SPARE=15, PDPTypeOrganization=1, PDPTypeNumber=0x21, PDPAddress=ctx.ip_address
        ),
        IE_ProtocolConfigurationOptions(length=len(pco), Protocol_Configuration=pco),
        IE_GSNAddress(length=4, ipv4_address=ctx.ggsn_address),
        IE_GSNAddress(length=4, ipv4_address=ctx.ggsn_address),
        _qos(),
    ]
    return head / GTPCreatePDPContextResponse(IE_list=ies)


def delete_request(ctx: ContextInfo, tunnel: gtpc.Tunnel, sequence: int) -> Packet:
    ies = [IE_Teardown(indicator=gtpc.TEARDOWN), IE_NSAPI(sparebits=0, NSAPI=ctx.nsapi)]
    return _gtp_header(gtpc.DELETE_PDP_REQUEST, tunnel.ggsn_teid, sequence) / GTPDeletePDPContextRequest(
        IE_list=ies
    )


def delete_response(tunnel: gtpc.Tunnel, sequence: int) -> Packet:
    return _gtp_header(gtpc.DELETE_PDP_RESPONSE, tunnel.sgsn_teid, sequence) / GTPDeletePDPContextResponse(
        IE_list=[IE_Cause(CauseValue=gtpc.REQUEST_ACCEPTED)]
    )


def gpdu(teid: int, inner: Packet) -> Packet:
    return GTP_U_Header(version=1, PT=1, E=0, S=0, PN=0, gtp_type=gtpc.G_PDU, teid=teid) / inner


def _int_attr(a_type: int, value: int) -> Packet:
    cls: type[Packet] = RadiusAttribute.registered_attributes[a_type]
    return cls(value=value)


def _authenticator(packet: Packet, previous: bytes, secret: bytes) -> bytes:
    """scapy's own RFC 2865 authenticator computation over `packet` with `previous` in its field."""
    radius_layer: Any = packet
    digest: bytes = radius_layer.compute_authenticator(previous, secret)
    return digest


def _vsa(vendor_type: int, value: bytes) -> Packet:
    return RadiusAttr_Vendor_Specific(vendor_id=radius.VENDOR_3GPP, vendor_type=vendor_type, value=value)


def accounting_request(
    ctx: ContextInfo,
    status: int,
    ident: int,
    event_time: int,
    secret: bytes,
    ms_tz: bytes,
    octets_in: int = 0,
    octets_out: int = 0,
    session_time: int = 0,
    terminate: int = 0,
) -> Packet:
    """An Accounting-Request as `radius.AccountingTemplate` writes it, signed with `secret`."""
    lac, _rac, cell = codec.location_codes(ctx.line_id, ctx.serving_plmn)
    uli = bytes((0 if ctx.rat.lower() == "geran" else 1,)) + codec.plmn_octets(ctx.serving_plmn)
    uli += lac.to_bytes(2, "big") + cell.to_bytes(2, "big")
    attrs: list[Packet] = [
        _int_attr(radius.ACCT_STATUS_TYPE, status),
        _int_attr(radius.EVENT_TIMESTAMP, event_time),
    ]
    if status != radius.STATUS_START:
        attrs += [
            _int_attr(radius.ACCT_INPUT_OCTETS, octets_in & 0xFFFFFFFF),
            _int_attr(radius.ACCT_OUTPUT_OCTETS, octets_out & 0xFFFFFFFF),
            _int_attr(radius.ACCT_INPUT_GIGAWORDS, octets_in >> 32),
            _int_attr(radius.ACCT_OUTPUT_GIGAWORDS, octets_out >> 32),
            _int_attr(radius.ACCT_SESSION_TIME, session_time),
        ]
    if status == radius.STATUS_STOP:
        attrs.append(_int_attr(radius.ACCT_TERMINATE_CAUSE, terminate))
    attrs += [
        RadiusAttribute.registered_attributes[radius.FRAMED_IP_ADDRESS](value=ctx.ip_address),
        RadiusAttribute(type=radius.ACCT_SESSION_ID, value=ctx.session_id.encode()),
        _vsa(radius.TGPP_CHARGING_ID, ctx.charging_id.to_bytes(4, "big")),
        _vsa(radius.TGPP_NSAPI, f"{ctx.nsapi:X}".encode()),
        RadiusAttribute(type=radius.USER_NAME, value=ctx.imsi.encode()),
        RadiusAttribute.registered_attributes[radius.NAS_IP_ADDRESS](value=ctx.ggsn_address),
        _int_attr(radius.SERVICE_TYPE, radius.SERVICE_FRAMED),
        _int_attr(radius.FRAMED_PROTOCOL, radius.FRAMED_GPRS_PDP_CONTEXT),
        RadiusAttribute(type=radius.CLASS, value=ctx.line_id.encode()),
        RadiusAttribute(type=radius.CALLED_STATION_ID, value=ctx.apn.encode()),
        RadiusAttribute(type=radius.CALLING_STATION_ID, value=ctx.msisdn.encode()),
        _int_attr(radius.ACCT_AUTHENTIC, radius.AUTHENTIC_RADIUS),
        _int_attr(radius.NAS_PORT_TYPE, radius.NAS_PORT_WIRELESS_OTHER),
        _vsa(radius.TGPP_IMSI, ctx.imsi.encode()),
        _vsa(radius.TGPP_PDP_TYPE, bytes(4)),
        _vsa(radius.TGPP_SGSN_ADDRESS, codec.ipv4(ctx.sgsn_address, "SGSN address")),
        _vsa(radius.TGPP_GGSN_ADDRESS, codec.ipv4(ctx.ggsn_address, "GGSN address")),
        _vsa(radius.TGPP_IMSI_MCC_MNC, codec.home_plmn(ctx.imsi).encode()),
        _vsa(radius.TGPP_GGSN_MCC_MNC, codec.home_plmn(ctx.imsi).encode()),
        _vsa(radius.TGPP_SELECTION_MODE, b"0"),
        _vsa(radius.TGPP_CHARGING_CHARACTERISTICS, b"0800"),
        _vsa(radius.TGPP_SGSN_MCC_MNC, ctx.serving_plmn.encode()),
        _vsa(radius.TGPP_IMEISV, ctx.imeisv.encode()),
        _vsa(radius.TGPP_RAT_TYPE, bytes((codec.rat_type(ctx.rat),))),
        _vsa(radius.TGPP_USER_LOCATION_INFO, uli),
        _vsa(radius.TGPP_MS_TIMEZONE, ms_tz),
    ]
    packet = Radius(
        code=radius.ACCOUNTING_REQUEST, id=ident, authenticator=radius.ZERO_AUTHENTICATOR, attributes=attrs
    )
    packet.authenticator = _authenticator(packet, radius.ZERO_AUTHENTICATOR, secret)
    return packet


def accounting_response(ident: int, request_authenticator: bytes, secret: bytes) -> Packet:
    packet = Radius(code=radius.ACCOUNTING_RESPONSE, id=ident, authenticator=request_authenticator)
    packet.authenticator = _authenticator(packet, request_authenticator, secret)
    return packet


def frame(src: str, dst: str, sport: int, dport: int, ip_id: int, payload: Packet | bytes) -> Packet:
    """Ether/IPv4/UDP around `payload`, as `frames.UdpFlow` writes it (scapy computes the IP checksum)."""
    src_mac = ":".join(f"{b:02x}" for b in b"\x02\x00" + codec.ipv4(src, "source"))
    dst_mac = ":".join(f"{b:02x}" for b in b"\x02\x00" + codec.ipv4(dst, "destination"))
    body = Raw(payload) if isinstance(payload, bytes) else payload
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=dst, id=ip_id, ttl=IP_TTL, flags=0, tos=0)
        / UDP(sport=sport, dport=dport, chksum=0)
        / body
    )
