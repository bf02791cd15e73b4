"""The PPP data bearer of the virtual modem: `ATD*99#`, `AT+CGDATA="PPP"`, `+++` / `ATO`, `ATH`, DTR.

After `CONNECT` the modem speaks PPP on the serial line as the network side (`PppLink`, role
"network"): LCP, then PAP or CHAP (any credentials are accepted and recorded in the PDP context),
then IPCP, when the PDP context is activated (the gateway's session: APN policy, address pool, the
12-hour cut) and its address given to the device with the DNS servers.  The device's IP packets go
to the `Forwarder`; every IP packet is carried by the gateway whole (`NetLink.carry`): counted at
its real size, each way, and written as it is into the gateway's GTP-U capture.  The
radio between the two is the modem's link (`modem.virtual.conditions`): each packet is a datagram
on it, delayed by the preset's rate and latency, or lost (the device's TCP retransmits, as on a
lossy bearer); an uplink packet lost on the radio never reaches the gateway, a downlink one has
been counted by it already.  A downlink packet larger than the device's MRU is cut into fragments,
or, with Don't Fragment, dropped with ICMP "fragmentation needed" to its sender, and the device's
SYN has its MSS lowered to fit (`_fit`, `clamp_mss`), as a router onto a link of that MTU does.

`+++` (guard time S12) suspends the bearer: command mode, the context stays up, what the network
sends meanwhile is dropped; `ATO` resumes it.  `ATH`, DTR dropped under `AT&D2`, the device's LCP
Terminate-Request, the context's deactivation (`AT+CGACT=0`, the network lost) end it: the context
is deactivated (if the bearer activated it) and `NO CARRIER` is given.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from gateway.api import HELD_GLOBAL, HELD_HOST, PcoAuth
from modem.virtual.ppp.auth import Credentials
from modem.virtual.ppp.forwarder import Forwarder
from modem.virtual.ppp.ip import (
    FRAG_NEEDED,
    build_icmp,
    clamp_mss,
    datagram,
    dont_fragment,
    fragment,
    icmp_quote,
    is_icmp_error,
)
from modem.virtual.ppp.ipcp import NetworkIpcp, addr
from modem.virtual.ppp.link import IpUp, PppLink
from modem.virtual.results import CONNECT, NO_CARRIER, CmeError, Final

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem
    from modem.virtual.netlink import Context

log = logging.getLogger(__name__)

# The network side's address and the DNS servers given by IPCP: RFC 6598 shared address space, as a
# carrier-grade NAT uses, outside every APN pool of gateway/data/apns.yaml.
OWN_ADDRESS = "100.64.0.1"
DNS_SERVERS = ("100.64.0.2", "100.64.0.3")


class PppBearer:
    def __init__(self, modem: VirtualModem, ctx: Context) -> None:
        self.modem = modem
        self.ctx = ctx
        ctx.pco_auth = None  # this link's authentication, if any, gives the credentials
        self.activated = False  # the bearer activated the context (and deactivates it at the end)
        self.ended = False
        self.forwarder: Forwarder | None = None
        self.packets_up = 0  # IP packets counted by the gateway, each way
        self.packets_down = 0
        # IP bytes lost on the way: uplink ones that never reached the gateway (lost on the radio,
        # or still on it when the bearer ended), downlink ones billed that the device never got
        # (lost on the radio, or arriving while the bearer was suspended or over)
        self.lost_up = 0
        self.lost_down = 0
        self.not_ip = 0  # IPv4-protocol frames from the device holding no IPv4 datagram: dropped, unbilled
        # downlink packets larger than the device's MRU: fragmented by the modem (Don't Fragment
        # clear), or dropped with ICMP "fragmentation needed" to their sender (set)
        self.fragmented = 0
        self.too_big = 0
        self._ident = 0  # the identification of the modem's own IP packets (its ICMP errors)
        self.source_violations = 0  # uplink packets from another address, dropped by the gateway
        # the ICMP errors the forwarder's hosts send the device by `IcmpRateLimit.verdict` (sent,
        # held back per destination, globally), limited by the hosts' limits of the modem
        # (`NetLink.icmp`: its module stacks' too, and kept across IPCP negotiated again)
        self.icmp_held = [0, 0, 0]
        self._flying = [0, 0]  # IP bytes on the radio now, up and down
        self.link = PppLink(
            "network",
            self._write,
            lambda delay, fn: modem.schedule(delay, fn),
            modem.rng,
            demand_auth=("chap", "pap"),
            on_auth=self._auth,
            on_network=self._network,
            on_ip_up=self._ip_up,
            on_ip=self._from_device,
            on_finished=self._finished,
        )

    @property
    def suspended(self) -> bool:
        return not self.modem.in_data_mode

    # ----- line ---------------------------------------------------------------------------------

    def from_dte(self, data: bytes) -> None:
        self.link.receive(data)

    def _write(self, data: bytes) -> None:
        if not self.suspended:
            self.modem.send_raw(data)

    # ----- the link's phases ----------------------------------------------------------------------

    def _auth(self, credentials: Credentials) -> None:
        self.ctx.auth = credentials.method
        self.ctx.user = credentials.user
        self.ctx.password = credentials.password
        # what the activation's PCO carries: an APN that asks for authentication checks it
        self.ctx.pco_auth = PcoAuth(
            credentials.method,
            credentials.user,
            credentials.password.encode("latin-1"),
            credentials.chap_id,
            credentials.challenge,
            bytes.fromhex(credentials.response),
        )

    def _network(self) -> NetworkIpcp | None:
        m, ctx = self.modem, self.ctx
        if not ctx.active:
            err = m.net.activate(ctx)
            if err:
                log.info("PPP: context %d on APN %r not activated: CME %d", ctx.cid, ctx.apn, err)
                return None
            self.activated = True
        assert ctx.ip is not None
        return NetworkIpcp(addr(OWN_ADDRESS), addr(ctx.ip), (addr(DNS_SERVERS[0]), addr(DNS_SERVERS[1])))

    def _ip_up(self, ip: IpUp) -> None:
        m = self.modem
        if self.forwarder is not None:  # IPCP negotiated again: the old flows go
            self.forwarder.close()
        self.forwarder = Forwarder(
            ip.local,
            ip.peer,
            ip.dns,
            m.internet,
            self._to_device,
            lambda delay, fn: m.schedule(delay, fn),
            m.external,
            mss=self.link.lcp_policy.peer_mru - 40,
            seed=m.rng.randrange(1 << 32),
            now=lambda: m.now,
            icmp=m.net.icmp,
            icmp_held=self.icmp_held,
        )
        if m.tun is not None:  # the namespace behind the TUN device takes what the table lets through
            m.tun.attach(self.forwarder, m.external)
        log.info("PPP: up, device %s", ipaddress.IPv4Address(ip.local))

    def _from_device(self, info: bytes) -> None:
        """An IP packet from the device: over the radio (`modem.link`: delayed, maybe lost), then
        counted by the gateway and forwarded.  The frame's padding is not the packet's, and a frame
        that holds no IPv4 datagram is dropped before the radio: neither is billed."""
        m = self.modem
        packet = datagram(info)
        if packet is None:
            self.not_ip += 1
            return
        # "TCP MSS adjust": the device's SYN asks for segments that fit its MRU, whatever MSS it put
        # there (a stack with a fixed MSS): TCP answers within it, nothing to cut or drop
        packet = clamp_mss(packet, self.link.lcp_policy.peer_mru - 40)
        arrival = m.link.up.send_datagram(m.now, len(packet))
        if arrival is None:
            self.lost_up += len(packet)
        elif arrival <= m.now:
            self._uplink(packet)
        else:
            self._flying[0] += len(packet)
            m.schedule(arrival - m.now, lambda: self._uplink(packet, flew=True))

    def _uplink(self, packet: bytes, flew: bool = False) -> None:
        if self.ended:
            return  # counted as lost when the bearer ended
        if flew:
            self._flying[0] -= len(packet)
        carried = self.modem.net.carry(self.ctx, packet, uplink=True)
        if carried is None:
            self.lost_up += len(packet)  # no session any more (or not an IP packet): never carried
            return
        self.packets_up += 1
        if not carried:
            self.source_violations += 1  # from another address: the gateway's source check dropped it
        elif self.forwarder is not None:
            self.forwarder.from_device(packet)

    def _to_device(self, packet: bytes) -> None:
        """An IP packet for the device: counted by the gateway, then over the radio."""
        m = self.modem
        if self.ended or m.net.carry(self.ctx, packet, uplink=False) is None:
            return
        self.packets_down += 1
        arrival = m.link.down.send_datagram(m.now, len(packet))
        if arrival is None:
            self.lost_down += len(packet)
        elif arrival <= m.now:
            self._downlink(packet)
        else:
            self._flying[1] += len(packet)
            m.schedule(arrival - m.now, lambda: self._downlink(packet, flew=True))

    def _downlink(self, packet: bytes, flew: bool = False) -> None:
        if self.ended:
            return  # counted as lost when the bearer ended
        if flew:
            self._flying[1] -= len(packet)
        link = self.link
        if self.suspended or link.ipcp is None or not link.ipcp.opened:
            self.lost_down += len(packet)  # not IP on the line (RFC 1661: dropped)
            return
        mru = link.lcp_policy.peer_mru
        pieces = [packet] if len(packet) <= mru else self._fit(packet, mru)
        if not pieces:
            self.lost_down += len(packet)
        for piece in pieces:
            link.send_ip(piece)

    def _fit(self, packet: bytes, mru: int) -> list[bytes]:
        """A packet from the network larger than the device's MRU (RFC 1661 6.1: the peer is sent no
        larger frame), as a router forwards onto a link of that MTU (RFC 791, 1191, 1812): cut into
        fragments when its Don't Fragment flag is clear; else dropped, and ICMP "fragmentation
        needed" with the MRU as next-hop MTU goes back to its sender, from the device's address (the
        only one the modem has on the network), uplink over the radio like any packet.  The packet
        crossed the radio whole: the gateway billed it as it was."""
        if not dont_fragment(packet):
            try:
                pieces = fragment(packet, mru)
            except ValueError:  # a header with options too long for the MRU: lost
                return []
            self.fragmented += 1
            return pieces
        self.too_big += 1
        offset = int.from_bytes(packet[6:8], "big") & 0x1FFF
        if not is_icmp_error(packet) and offset == 0 and self.ctx.ip is not None:
            self._ident = (self._ident + 1) & 0xFFFF
            rest = bytes(2) + mru.to_bytes(2, "big") + icmp_quote(packet)
            own = ipaddress.IPv4Address(self.ctx.ip).packed
            self._from_device(build_icmp(own, packet[12:16], 3, FRAG_NEEDED, rest, self._ident))
        return []

    def _finished(self, reason: str) -> None:
        log.info("PPP: link ended: %s", reason)
        self.end()

    # ----- endings ------------------------------------------------------------------------------

    def end(self, announce: bool = True) -> None:
        """The bearer is over: flows closed, the context deactivated if the bearer activated it,
        command mode, NO CARRIER (unless `announce` is False: ATH answers OK itself)."""
        if self.ended:
            return
        self.ended = True
        log.info(
            "PPP: bearer on context %d ended: %d good frames from the device, %d dropped (bad FCS, aborted "
            "or too long), %d IPv4 frames holding no IPv4 datagram dropped; %d IP packets up, %d down, "
            "%d down fragmented to the device's MRU, %d down too big with Don't Fragment (ICMP to the sender), "
            "%d up from a source that is not the device's address (dropped by the gateway); "
            "%d ICMP errors to the device not sent for the rate limits (%d per destination, %d global)",
            self.ctx.cid,
            self.link.decoder.good,
            self.link.decoder.bad,
            self.not_ip,
            self.packets_up,
            self.packets_down,
            self.fragmented,
            self.too_big,
            self.source_violations,
            self.icmp_held[HELD_HOST] + self.icmp_held[HELD_GLOBAL],
            self.icmp_held[HELD_HOST],
            self.icmp_held[HELD_GLOBAL],
        )
        self.lost_up += self._flying[0]  # still on the radio: never reaches the gateway / the device
        self.lost_down += self._flying[1]
        m = self.modem
        if m.ppp is self:
            m.ppp = None
        self.link.stop()
        if self.forwarder is not None:
            self.forwarder.close()
        if self.activated and self.ctx.active:
            m.net.deactivate(self.ctx)
        if m.in_data_mode:
            m.leave_data()
        if announce:
            m.urc(NO_CARRIER.text)

    def close_io(self) -> None:
        """The modem's runner stopped (its transport closed, serving ends): the forwarder's host
        sockets and connections under way go with it.  The context is left as it is: the network
        closes its record when it ends (`m2msim modem serve`: cause 20)."""
        if self.forwarder is not None:
            self.forwarder.close()

    def network_lost(self) -> None:
        """The context was deactivated under the bearer (AT+CGACT=0, coverage lost): LCP
        Terminate-Request to the device, then NO CARRIER."""
        if self.ended:
            return
        self.activated = False  # already deactivated
        if not self.suspended:
            self.link.terminate("PDP context deactivated")
        self.end()


def gprs_dial(m: VirtualModem, number: str) -> Final | None:
    """`ATD*99[*[address][*[L2P][*[cid]]]]#` (27.007 10.2.1.1)."""
    fields = number[3:].rstrip("#").split("*")[1:]
    cid = 1
    if len(fields) >= 3 and fields[2]:
        if not fields[2].isdigit():
            return NO_CARRIER
        cid = int(fields[2])
    return start(m, cid)


def start(m: VirtualModem, cid: int) -> Final | None:
    """CONNECT and PPP on context `cid` (it is activated when the device's IPCP starts)."""
    if m.ppp is not None:
        raise CmeError(3)
    ctx = m.net.contexts.get(cid)
    if ctx is None or not m.net.registered or m.net.network is None:
        return NO_CARRIER
    bearer = PppBearer(m, ctx)
    m.ppp = bearer
    m.enter_data(bearer.from_dte)
    m.schedule(0.0, bearer.link.start)  # after CONNECT has gone out
    return CONNECT


def resume(m: VirtualModem) -> Final | None:
    """ATO with a suspended bearer: back to online data; None when there is none."""
    bearer = m.ppp
    if bearer is None:
        return None
    m.enter_data(bearer.from_dte)
    return CONNECT
