"""One end of a PPP link over an asynchronous serial line: framing, LCP, authentication, IPCP, IP.

`PppLink` runs the phases of RFC 1661 (3.2) for either side: `role="network"` is the modem's side
(it asks the device to authenticate, gives the address, forwards IP), `role="device"` is a minimal
client (the tests' and the benchmark's DTE).  It is sans-IO: `receive(bytes)` takes line bytes, the
line bytes it sends go to `write`, timers go to `schedule`; IP packets go to `on_ip`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from modem.virtual.ppp.auth import Authenticator, Credentials, Peer
from modem.virtual.ppp.cp import (
    CODE_REJ,
    DISCARD_REQ,
    ECHO_REP,
    ECHO_REQ,
    PROTO_REJ,
    Automaton,
    Options,
    Schedule,
    packet,
)
from modem.virtual.ppp.hdlc import FrameDecoder, encode_frame
from modem.virtual.ppp.ipcp import DeviceIpcp, NetworkIpcp
from modem.virtual.ppp.lcp import MAGIC, LcpPolicy

log = logging.getLogger(__name__)

LCP, PAP, CHAP, IPCP, IPV4 = 0xC021, 0xC023, 0xC223, 0x8021, 0x0021


@dataclass(frozen=True, slots=True)
class IpUp:
    """What IPCP agreed: the device's address, the network side's, the DNS servers given."""

    local: bytes
    peer: bytes
    dns: tuple[bytes, ...]


class PppLink:
    def __init__(
        self,
        role: str,
        write: Callable[[bytes], None],
        schedule: Schedule,
        rng: random.Random,
        *,
        demand_auth: tuple[str, ...] = (),
        do_auth: tuple[str, ...] = ("chap", "pap"),
        user: str = "",
        password: str = "",
        refuse_lcp: frozenset[int] = frozenset(),
        mru: int | None = None,
        ipcp_extra: Options | None = None,
        on_auth: Callable[[Credentials], None] | None = None,
        on_network: Callable[[], NetworkIpcp | None] | None = None,
        on_ip_up: Callable[[IpUp], None] | None = None,
        on_ip: Callable[[bytes], None] | None = None,
        on_finished: Callable[[str], None] | None = None,
    ) -> None:
        self.role = role
        self._write = write
        self._schedule = schedule
        self.rng = rng
        self.user, self.password = user, password
        self.ipcp_extra = list(ipcp_extra or [])
        self.on_auth = on_auth
        self.on_network = on_network
        self.on_ip_up = on_ip_up
        self.on_ip = on_ip
        self.on_finished = on_finished
        # Unescaped control characters are kept: a frame sent under the negotiated map may arrive in
        # the same read as the Configure-Ack that agreed it.
        self.decoder = FrameDecoder(accm=0)
        self.lcp_policy = LcpPolicy(
            rng,
            demand_auth=list(demand_auth),
            do_auth=do_auth if role == "device" else (),
            refuse=refuse_lcp,
            mru=mru,
        )
        self.lcp = Automaton(
            "LCP",
            LCP,
            self.lcp_policy,
            self.send,
            schedule,
            self._lcp_up,
            self._lcp_down,
            self._lcp_finished,
            keep_naking=frozenset({MAGIC}),
        )
        self.ipcp: Automaton | None = None
        self.ipcp_policy: NetworkIpcp | DeviceIpcp | None = None
        self.authenticator: Authenticator | None = None
        self.auth_peer: Peer | None = None
        self.phase = "dead"
        self.ip: IpUp | None = None
        self.echo_replies = 0
        self.rejected_protocols: list[int] = []
        self.reason = ""

    # ----- line ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.phase = "establish"
        self.lcp.open()

    def receive(self, data: bytes) -> None:
        for protocol, info in self.decoder.feed(data):
            self._frame(protocol, info)
            if self.phase == "dead":
                return

    def send(self, protocol: int, info: bytes) -> None:
        if protocol == LCP:  # LCP goes with every control character escaped and no compression (RFC 1662 7)
            self._write(encode_frame(protocol, info))
            return
        p = self.lcp_policy
        self._write(encode_frame(protocol, info, accm=p.tx_accm, acfc=p.tx_acfc, pfc=p.tx_pfc))

    def send_ip(self, packet_bytes: bytes) -> bool:
        """An IP packet to the other side; False (dropped) unless IPCP is open."""
        if self.ipcp is None or not self.ipcp.opened:
            return False
        self.send(IPV4, packet_bytes)
        return True

    def terminate(self, reason: str) -> None:
        """Close the link with an LCP Terminate-Request (the other side answers; `on_finished` then)."""
        self.phase = "terminate"
        self._stop_auth()
        if self.ipcp is not None:
            self.ipcp.close(reason)
        self.lcp.close(reason)
        if self.lcp.state in ("initial", "stopped", "closed"):
            self._lcp_finished(reason)

    def stop(self) -> None:
        """The line is gone (hang-up): nothing more is sent."""
        self._stop_auth()
        if self.ipcp is not None:
            self.ipcp.stop()
        self.lcp.stop()
        self.phase = "dead"

    def echo(self, data: bytes = b"") -> None:
        """An LCP Echo-Request (the other side answers with an Echo-Reply)."""
        if self.lcp.opened:
            self.send(
                LCP,
                packet(ECHO_REQ, self.lcp.next_ident(), self.lcp_policy.echo_magic.to_bytes(4, "big") + data),
            )

    # ----- frames -------------------------------------------------------------------------------

    def _frame(self, protocol: int, info: bytes) -> None:
        if protocol == LCP:
            rest = self.lcp.receive(info)
            if rest is not None:
                self._lcp_extra(rest)
            if self.lcp_policy.looped_back and self.phase not in ("terminate", "dead"):
                log.info("PPP: the line is looped back (its own magic number comes back)")
                self.terminate("the line is looped back")
            return
        if not self.lcp.opened:
            return  # nothing but LCP before LCP is up (RFC 1661 3.4)
        if protocol in (PAP, CHAP):
            if self.authenticator is not None:
                self.authenticator.receive(protocol, info)
            elif self.auth_peer is not None:
                self.auth_peer.receive(protocol, info)
        elif protocol == IPCP:
            if self.ipcp is not None:
                rest = self.ipcp.receive(info)
                if rest is not None:  # IPCP has codes 1 to 7 only (RFC 1332 2): the others rejected
                    self._reject(IPCP, CODE_REJ, self.ipcp.next_ident(), rest)
        elif protocol == IPV4:
            if self.ipcp is not None and self.ipcp.opened and self.on_ip is not None:
                self.on_ip(info)
        else:
            self.rejected_protocols.append(protocol)
            self._reject(LCP, PROTO_REJ, self.lcp.next_ident(), protocol.to_bytes(2, "big") + info)

    def _reject(self, protocol: int, code: int, ident: int, rejected: bytes) -> None:
        """A Code-Reject or Protocol-Reject whose rejected part is cut to the peer's MRU (RFC 1661
        5.6, 5.7), the packet's length field saying what is sent: the peer discards a packet whose
        length field is beyond its end."""
        self.send(protocol, packet(code, ident, rejected[: self.lcp_policy.peer_mru - 4]))

    def _lcp_extra(self, data: bytes) -> None:
        code, ident = data[0], data[1]
        if code == ECHO_REQ:
            if self.lcp.opened:
                self.send(
                    LCP, packet(ECHO_REP, ident, self.lcp_policy.echo_magic.to_bytes(4, "big") + data[8:])
                )
        elif code == ECHO_REP:
            self.echo_replies += 1
        elif code == DISCARD_REQ:
            pass
        elif code == PROTO_REJ:
            rejected = int.from_bytes(data[4:6], "big") if len(data) >= 6 else 0
            if rejected == IPCP and self.ipcp is not None:
                self.ipcp.stop()
                self.terminate("IPCP rejected")
        else:
            self._reject(LCP, CODE_REJ, self.lcp.next_ident(), data)

    # ----- phases -------------------------------------------------------------------------------

    def _lcp_up(self) -> None:
        p = self.lcp_policy
        if self.role == "network" and p.auth_agreed is not None:
            self.phase = "authenticate"
            self.authenticator = Authenticator(
                p.auth_agreed,
                self.send,
                self.rng.randbytes,
                self._authenticated,
                self._schedule,
                self.terminate,
            )
            self.authenticator.start()
        elif self.role == "device" and p.auth_to_do is not None:
            self.phase = "authenticate"
            self.auth_peer = Peer(p.auth_to_do, self.user, self.password, self.send, self._auth_result)
            self.auth_peer.start()
        else:
            self._network_phase()

    def _authenticated(self, credentials: Credentials) -> None:
        if self.on_auth is not None:
            self.on_auth(credentials)
        self._network_phase()

    def _auth_result(self, ok: bool) -> None:
        if ok:
            self._network_phase()
        else:
            self.terminate("authentication failed")

    def _network_phase(self) -> None:
        if self.phase == "network":
            return
        self.phase = "network"
        policy: NetworkIpcp | DeviceIpcp | None
        if self.role == "network":
            policy = self.on_network() if self.on_network is not None else None
            if policy is None:
                self.terminate("no PDP context")
                return
        else:
            policy = DeviceIpcp(extra=list(self.ipcp_extra))
        self.ipcp_policy = policy
        self.ipcp = Automaton(
            "IPCP",
            IPCP,
            policy,
            self.send,
            self._schedule,
            self._ipcp_up,
            self._ipcp_down,
            self._ipcp_finished,
        )
        self.ipcp.open()

    def _ipcp_up(self) -> None:
        p = self.ipcp_policy
        if isinstance(p, NetworkIpcp):
            self.ip = IpUp(p.device, p.own, p.dns)
        elif isinstance(p, DeviceIpcp):
            self.ip = IpUp(p.address, p.peer, tuple(p.dns.values()))
        if self.ip is not None and self.on_ip_up is not None:
            self.on_ip_up(self.ip)

    def _ipcp_down(self) -> None:
        self.ip = None

    def _ipcp_finished(self, reason: str) -> None:
        if self.phase != "terminate":
            self.terminate(reason)

    def _lcp_down(self) -> None:
        # LCP renegotiates (the peer's Configure-Request on the open link, e.g. a device whose PPP
        # restarted): back to the Establish phase, so that authentication and IPCP run again when
        # LCP is up (RFC 1661 3.2), with or without authentication.
        self._stop_auth()
        if self.ipcp is not None:
            self.ipcp.stop()
        if self.phase not in ("terminate", "dead"):
            self.phase = "establish"

    def _stop_auth(self) -> None:
        """No more Challenges (the link is renegotiated, closing or gone)."""
        if self.authenticator is not None:
            self.authenticator.stop()

    def _lcp_finished(self, reason: str) -> None:
        if self.phase == "dead":
            return
        self.phase = "dead"
        self.reason = reason
        self._stop_auth()
        if self.ipcp is not None:
            self.ipcp.stop()
        if self.on_finished is not None:
            self.on_finished(reason)
