"""The virtual modem's side of the network: registration, PDP contexts, and byte counting.

Registration follows the network's answer to `attach`: accepted on the SIM's
home PLMN -> stat 1, on another PLMN -> stat 5 (roaming), refused -> stat 3,
no network or not yet answered -> stat 2 (searching); AT+CFUN=0 -> stat 0.

Real IP packets (the PPP bearer's) are given to the gateway whole (`carry`,
the gateway's `carry_packet`): counted at their length and written as they are
into its GTP-U capture.  The module TCP/IP stacks' data is counted by the
gateway (`count`, the gateway's `transfer`) as IP bytes, TCP/IP headers
included: each TCP connection of a stack bills through a `gateway.wire.TcpWire`
(handshake with options, delayed and piggybacked ACKs, the close as measured), the
one model the simulator's application profiles bill with (docs/virtual-modem.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.api import (
    HEADER,
    MAX_IP_PACKET,
    SYN,
    IcmpHosts,
    PcoAuth,
    move_to,
    next_time_zone_change,
    segments,
)
from modem.virtual.plmn import neighbours, operator_names

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.api import NetworkAPI, SmsResult
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

__all__ = ["HANDSHAKE_DOWN", "HANDSHAKE_UP", "HEADER", "Context", "NetLink", "segments"]

HANDSHAKE_UP, HANDSHAKE_DOWN = SYN + HEADER, SYN  # a connect's packets on the link: SYN and ACK, SYN-ACK

STAT_NOT_SEARCHING, STAT_HOME, STAT_SEARCHING, STAT_DENIED, STAT_ROAMING = 0, 1, 2, 3, 5
ACT_OF_RAT = {"geran": 0, "utran": 2, "eutran": 7}  # 27.007 <AcT>: GSM, UTRAN, E-UTRAN


@dataclass(slots=True)
class Context:
    """A PDP context (AT+CGDCONT) and, when active, its gateway session."""

    cid: int
    pdp_type: str = "IP"
    apn: str = ""
    session_id: str | None = None
    ip: str | None = None
    bytes_up: int = 0  # IP bytes, as counted by the gateway
    bytes_down: int = 0
    payload_up: int = 0  # application bytes (AT+QGDCNT)
    payload_down: int = 0
    auth: str = ""  # what the DTE gave over PPP: "pap" or "chap", the user name and (PAP) the password
    user: str = ""
    password: str = ""
    pco_auth: PcoAuth | None = None  # those credentials as the activation passes them to the network

    @property
    def active(self) -> bool:
        return self.session_id is not None


@dataclass(slots=True)
class NetLink:
    modem: VirtualModem
    network: NetworkAPI | None
    stat: int = STAT_NOT_SEARCHING
    cfun: int = 1
    plmn: str = ""
    cause: int = 0  # last refusal cause (GMM cause), for AT+CEER
    contexts: dict[int, Context] = field(default_factory=dict)
    lac: str = ""
    ci: str = ""
    refuse_next: int | None = None  # GTP cause the next PDP activation is refused with (the console)
    ps_detached: bool = False  # AT+CGATT=0: off the packet domain, the circuit domain still registered
    #: the network whose coverage the modem is in (its neighbours of the same country are on the air
    #: too: `on_air`); "" when there is none.  `plmn` is the one selected, the same or a neighbour.
    coverage: str = ""
    selection: int = 0  # +COPS <mode> in force: 0 automatic, 1 manual
    #: the ICMP rate limits of the network's hosts that send this modem's devices their errors
    #: (`gateway.icmplimit`), the PPP bearer's and the module stacks' alike: a host limits the
    #: errors to one address (one PDP context) together, whichever of them sent the packets; the
    #: modems served on one network share them (`modem.virtual.scenario.served_modems`)
    icmp: IcmpHosts = field(default_factory=IcmpHosts)
    _search: Timer | None = None
    _clock: Timer | None = None  # the serving country's next clock change (`watch_clock`)

    def __post_init__(self) -> None:
        m = self.modem
        self.plmn = self.coverage = m.radio.plmn or m.identity.home_plmn
        self.lac = f"{m.rng.randrange(0x100, 0xFFFF):04X}"
        self.ci = f"{m.rng.randrange(0x1000, 0xFFFFFFF):07X}"
        self.contexts[1] = Context(1)
        faults = m.faults
        if faults.reg_lost_at is not None:
            m.schedule(faults.reg_lost_at - m.now, self.lose)
        if faults.reg_back_at is not None:
            m.schedule(faults.reg_back_at - m.now, self.search)

    # ----- registration ----------------------------------------------------------------------------

    @property
    def rat(self) -> str:
        """The radio technology served now (the console's `rat`, else the profile's)."""
        return self.modem.radio.rat or self.modem.profile.rat

    @property
    def act(self) -> int:
        """27.007 <AcT> of the served technology (the profile's own when it serves its own)."""
        if not self.modem.radio.rat or self.modem.radio.rat == self.modem.profile.rat:
            return self.modem.profile.act
        return ACT_OF_RAT[self.modem.radio.rat]

    @property
    def registered(self) -> bool:
        return self.stat in (STAT_HOME, STAT_ROAMING)

    @property
    def ps_stat(self) -> int:
        """The packet domain's registration state (+CGREG, +CEREG): 0 after AT+CGATT=0."""
        return STAT_NOT_SEARCHING if self.ps_detached and self.registered else self.stat

    def set_ps_attached(self, attached: bool) -> None:
        """AT+CGATT=<state> (and the attach an activation makes first, 27.007 10.1.10): leaving the
        packet domain ends the contexts; +CGREG / +CEREG show it."""
        if attached == (not self.ps_detached):
            return
        if not attached:
            if any(ctx.active for ctx in self.contexts.values()):
                self.modem.tcp.lost()  # the sockets on them go too (they went on, their bytes unbilled)
            for ctx in self.contexts.values():
                self.deactivate(ctx)
        self.ps_detached = not attached
        if self.registered:
            self._urcs(("+CGREG", "+CEREG"), self.ps_stat)

    def power_on(self) -> None:
        self.cfun = 1
        self.search()

    def search(self) -> None:
        """Start looking for the network; the attach is tried after the profile's search time."""
        if self.cfun != 1 or self.registered or self.modem.sim_state != "READY":
            return  # a locked SIM: not registered, not searching (stat 0)
        self._set_stat(STAT_SEARCHING)
        if self._search is not None:
            self._search.cancel()
        self._search = self.modem.schedule(self.modem.profile.search_s, self.attach)

    def attach(self) -> None:
        self._search = None
        m = self.modem
        if self.cfun != 1:
            return
        if m.faults.reg_denied:
            self.cause = 3
            self._set_stat(STAT_DENIED)
            return
        if self.network is None or not self.plmn:
            return  # no network or no coverage: searching on
        result = self.network.attach(m.now, m.identity.line_id, m.identity.imeisv, self.plmn, self.rat)
        if result.accepted:
            self.cause = 0
            self._set_stat(STAT_HOME if self.plmn == m.identity.home_plmn else STAT_ROAMING)
            m.sms.start_polling()
            self.watch_clock()
        else:
            self.cause = int(result.cause)
            self._set_stat(STAT_DENIED)

    def detach(
        self, stat: int = STAT_NOT_SEARCHING, abnormal: bool = False, by_network: bool = False
    ) -> None:
        """Off the network (`stat` after it).  `abnormal`: the contexts were lost (coverage gone),
        their records closed with cause 4.  `by_network`: the network detaches the modem (the
        console's `detach`): the gateway closes the contexts' records (cause 20, management
        intervention: `NetworkAPI.detach`) and the modem is told its contexts are gone."""
        m = self.modem
        released = by_network and self.registered and self.network is not None
        if released:
            assert self.network is not None
            self.network.detach(m.now, m.identity.line_id, by_network=True)
        for ctx in self.contexts.values():
            if ctx.active:
                self.deactivate(ctx, abnormal=abnormal or by_network, released=released)
        if self._search is not None:
            self._search.cancel()
            self._search = None
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        if self.registered and self.network is not None and not released:
            self.network.detach(m.now, m.identity.line_id)
        self.ps_detached = False  # the next registration attaches both domains again
        self._set_stat(stat)
        if released:
            self._report_detach()

    def _report_detach(self) -> None:
        """`+CGEV: NW DETACH` (27.007 §10.1.19) when AT+CGEREP asks for the packet domain's events:
        <mode> 1 drops it while the line is in online data, 2 keeps it for the command mode."""
        from modem.virtual.core import Mode

        m = self.modem
        mode = m.settings.cgerep[0]
        if mode == 2 or (mode == 1 and m.mode is Mode.COMMAND):
            m.urc("+CGEV: NW DETACH")

    def lose(self) -> None:
        """Coverage lost (fault `reg_lost_at`): sessions end abnormally, the modem searches again."""
        if self.cfun == 1:
            self.modem.tcp.lost(by_network=True)
            self.modem.calls.lost()
            self.detach(STAT_SEARCHING, abnormal=True)

    def move(self, plmn: str | None) -> None:
        """Coverage changes (a scenario's `coverage:` step, the console's `coverage`): another PLMN,
        or none at all.  Registered, the modem follows its coverage to another network by a routing
        area update (`relocate`): its PDP contexts go on.  Without coverage they are lost."""
        if plmn is None:
            self.lose()
            if self._search is not None:
                self._search.cancel()
                self._search = None
            self.plmn = self.coverage = ""
            return
        self.coverage = plmn
        self.selection = 0  # a new area: the module selects again, automatically
        if plmn == self.plmn and self.registered:
            return
        if self.registered and self.network is not None:
            self.relocate(plmn)
            return
        self.plmn = plmn
        self.search()

    def relocate(self, plmn: str) -> None:
        """A registered modem now served by `plmn` on the radio `rat` says (another network, or
        another radio of the same one): a routing area update, as a simulated device makes on a
        move (`gateway.api.move_to`, the rule both share).  Its PDP contexts go on, and the sockets
        and PPP link on them: the gateway cuts each context's record with the cause of the change
        (24 another PLMN, 22 another RAT), the next in the zone where it was opened.  A call in
        progress drops (no handover to another network or radio)."""
        m = self.modem
        assert self.network is not None
        if self._search is not None:
            self._search.cancel()
            self._search = None
        m.calls.lost()
        result = move_to(
            self.network, m.now, m.identity.line_id, m.identity.imeisv, plmn, self.rat, attached=True
        )
        self.plmn = plmn
        if result.accepted:
            self.cause = 0
            stat = STAT_HOME if plmn == m.identity.home_plmn else STAT_ROAMING
            if stat != self.stat:
                self._set_stat(stat)
            else:  # registered as before, somewhere else: what +CREG=2 shows (27.007 7.2) changed
                self._urcs(("+CREG", "+CGREG", "+CEREG"), stat, located_only=True)
            self.watch_clock()
        else:  # refused there (the line unknown: not for a registered one): off the network
            m.tcp.lost(by_network=True)
            for ctx in self.contexts.values():
                if ctx.active:
                    self.deactivate(ctx, abnormal=True)
            self.cause = int(result.cause)
            self._set_stat(STAT_DENIED)

    def watch_clock(self) -> None:
        """Wake at the serving country's next clock change (daylight saving, `gateway.plmn`): the
        network then updates the open contexts with the new MS Time Zone, a record cut with cause
        23 (`NetworkAPI.time_zone_change`), as it does for the simulator's devices."""
        m = self.modem
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        if not self.registered or self.network is None:
            return
        change = next_time_zone_change(self.plmn, m.epoch + timedelta(seconds=m.now))
        if change is not None:  # a millisecond after it: the network's clock past it too
            at = (change - m.epoch).total_seconds() + 0.001
            self._clock = m.schedule(at - m.now, self._clock_changed)

    def _clock_changed(self) -> None:
        self._clock = None
        if self.registered and self.network is not None:
            self.network.time_zone_change(self.modem.now, self.modem.identity.line_id)
        self.watch_clock()

    def set_cfun(self, fun: int) -> None:
        if fun == 1:
            self.cfun = 1
            self.search()
        else:
            self.modem.tcp.lost()
            self.modem.calls.lost()  # the radio goes off: a call ends with NO CARRIER
            self.detach(STAT_NOT_SEARCHING)
            self.modem.reset_stacks()  # the stacks start again, as after a reset
            self.cfun = fun

    def on_air(self) -> list[str]:
        """The networks the modem finds where it is (what AT+COPS=? lists): its coverage's network and
        the other networks of that country (`modem.virtual.plmn.neighbours`); none without coverage."""
        if not self.coverage:
            return []
        return [self.coverage, *neighbours(self.coverage)]

    def select_plmn(self, plmn: str) -> None:
        """AT+COPS=0/1/4: select `plmn` (one `on_air`); a registered modem moves there by a routing
        area update (`relocate`: its contexts and sockets go on, as on a coverage move), else it
        searches for it."""
        if plmn == self.plmn and self.registered:
            return
        if self.registered and self.network is not None:
            self.relocate(plmn)
            return
        self.detach(STAT_SEARCHING)
        self.plmn = plmn
        self.search()

    def _set_stat(self, stat: int) -> None:
        if stat == self.stat:
            return
        self.stat = stat
        self._urcs(("+CREG", "+CGREG", "+CEREG"), stat)

    def _urcs(self, names: tuple[str, ...], stat: int, located_only: bool = False) -> None:
        """The registration URCs of `names` that +CREG / +CGREG / +CEREG <n> ask for, with `stat`
        (`located_only`: only those with the location, <n> 2: the state did not change)."""
        m = self.modem
        s = m.settings
        shown = {"+CREG": s.creg_n, "+CGREG": s.cgreg_n, "+CEREG": s.cereg_n}
        for name in names:
            n = shown[name]
            if n == 1 and not located_only:
                m.urc(f"{name}: {stat}")
            elif n == 2:
                m.urc(f"{name}: {self.location(stat)}")

    def location(self, stat: int | None = None) -> str:
        stat = self.stat if stat is None else stat
        if stat in (STAT_HOME, STAT_ROAMING):
            # a GERAN cell identity is 16 bits (TS 23.003 4.3.1; "two byte cell ID" in the 2G modules'
            # manuals), UTRAN's and E-UTRAN's 28: the cell drawn once, shown at the served radio's size
            ci = self.ci[-4:] if self.rat == "geran" else self.ci
            return f'{stat},"{self.lac}","{ci}",{self.act}'
        return str(stat)

    def operator(self, fmt: int) -> str:
        long_name, short_name = operator_names(self.plmn)
        return {0: long_name, 1: short_name}.get(fmt, self.plmn)

    def signal(self) -> tuple[int, int]:
        if self.cfun != 1 or self.stat in (STAT_NOT_SEARCHING, STAT_SEARCHING):
            return 99, 99
        return self.modem.radio.csq or self.modem.profile.csq

    # ----- PDP contexts and data -------------------------------------------------------------------

    def context(self, cid: int) -> Context:
        ctx = self.contexts.get(cid)
        if ctx is None:
            ctx = self.contexts[cid] = Context(cid)
        return ctx

    def activate(self, ctx: Context) -> int:
        """Open a gateway session for `ctx`; 0 when done, else the CME error to answer."""
        from gateway.api import GtpCause, SessionResult

        m = self.modem
        if ctx.active:
            return 0
        if not self.registered or self.network is None:
            return 30
        self.set_ps_attached(True)
        if self.refuse_next is not None:
            cause, self.refuse_next = self.refuse_next, None
            result: SessionResult = SessionResult(GtpCause(cause))
        else:
            result = self.network.open_session(m.now, m.identity.line_id, ctx.apn, auth=ctx.pco_auth)
        if not result.accepted:
            return {
                GtpCause.MISSING_OR_UNKNOWN_APN: 533,
                GtpCause.USER_AUTHENTICATION_FAILED: 149,
                GtpCause.SERVICE_NOT_SUPPORTED: 132,
                GtpCause.NO_RESOURCES_AVAILABLE: 134,
                GtpCause.ALL_DYNAMIC_ADDRESSES_OCCUPIED: 134,
            }.get(result.cause, 148)
        ctx.session_id = result.session_id
        ctx.ip = result.ip_address or "10.0.0.1"
        return 0

    def deactivate(self, ctx: Context, abnormal: bool = False, released: bool = False) -> None:
        """End `ctx`: its session closed at the gateway (cause 4 when `abnormal`, else 0), unless the
        gateway `released` it already (a network-initiated detach).  `abnormal` or `released`: the
        network ended it, and the stacks say so."""
        bearer = self.modem.ppp
        if bearer is not None and bearer.ctx is ctx:
            bearer.network_lost()  # NO CARRIER: the PPP bearer on this context ends
        was_active = ctx.active
        if ctx.session_id is not None and self.network is not None and not released:
            self.network.close_session(self.modem.now, ctx.session_id, abnormal=abnormal)
        ctx.session_id = None
        ctx.ip = None
        if (abnormal or released) and was_active:
            self.modem.tcp.context_lost(ctx)  # the network ended it: the stacks say so (+QIURC "pdpdeact")

    def count(self, ctx: Context, up: int, down: int, payload_up: int = 0, payload_down: int = 0) -> None:
        """Count modelled IP bytes on `ctx`'s session at the gateway (`transfer`: packets not real)."""
        ctx.bytes_up += up
        ctx.bytes_down += down
        ctx.payload_up += payload_up
        ctx.payload_down += payload_down
        if ctx.session_id is not None and self.network is not None and (up or down):
            self.network.transfer(self.modem.now, ctx.session_id, up, down)

    def carry(self, ctx: Context, packet: bytes, uplink: bool) -> bool | None:
        """One real IP packet on `ctx`'s session: counted by the gateway at its length and written
        whole into its capture (`carry_packet`).  None (nothing counted) when the context has no
        session or the bytes cannot be an IP packet (empty, or more than 65,535 octets); False when
        the gateway's source check dropped it (an uplink packet from another address), else True.
        The context's own counters (the modem's) count what the modem sent and received."""
        n = len(packet)
        if ctx.session_id is None or self.network is None or not 0 < n <= MAX_IP_PACKET:
            return None
        if uplink:
            ctx.bytes_up += n
        else:
            ctx.bytes_down += n
        return self.network.carry_packet(self.modem.now, ctx.session_id, packet, uplink=uplink)

    def send_sms(
        self,
        dest: str,
        user_data_len: int,
        text: str,
        udh: bytes = b"",
        status_report: bool = False,
        message_ref: int | None = None,
        validity_s: float | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> SmsResult:
        """MO SMS through the SMSC.

        The text and the user-data header's elements go along (to reach another line of the network,
        a long message's parts as parts of one message), and so does a status report request (TP-SRR)
        with the message's TP-MR.
        """
        assert self.network is not None
        m = self.modem
        return self.network.send_sms(
            m.now,
            m.identity.line_id,
            dest,
            user_data_len,
            text=text,
            udh=udh,
            status_report=status_report,
            message_ref=message_ref,
            validity_s=validity_s,
            extra=extra,
        )
