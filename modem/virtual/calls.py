"""Voice and CSD calls: ATD / ATA / ATH / ATO, +VTS DTMF, +CLCC, RING / +CRING / +CLIP.

An outgoing voice call (`ATD<n>;`) answers OK at once and shows in +CLCC as
dialing (stat 2); after `SETUP_S` the network is asked (`place_call` with
alerting): the called end is alerted (stat 3) until it answers (stat 0, active)
or the call ends with the BUSY / NO ANSWER / NO CARRIER result code (busy and
refusals come without alerting).  A number that is a line of the same network
served by another virtual modem rings there (this module is its line's
`gateway.api.CallParty`): RING or +CRING, +CLIP, every `RING_PERIOD_S`, until
ATA, ATH / AT+CHUP (the caller gets BUSY) or the network's no-answer time (NO
ANSWER; the called modem NO CARRIER).  Any other number is answered by the
switch after its ring time, or not.  A data call (`ATD<n>`) waits the same way
for its result: CONNECT 9600 and online data mode, where the remote end
echoes every byte, until `+++` (guard time S12) and ATH.  The circuit carries
bytes as the `gsm` preset of `modem.virtual.conditions` says (9.6 kbit/s each
way and its round trip; no shaping when the modem's conditions are `full`):
the echo of bytes sent at t arrives after their uplink then downlink crossing;
echoed bytes that arrive in command mode (after `+++`) wait for ATO.  Calls
are billed by the gateway from the answer to `hang_up`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from modem.virtual.conditions import Link, preset
from modem.virtual.registry import CommandSet, numeric_setting
from modem.virtual.results import BUSY, NO_ANSWER, NO_CARRIER, OK, CmeError, Final, connect
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from gateway.api import CallKind
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

VOICE_CALLS = CommandSet("voice")  # dialling, answering, DTMF, call list
CSD = CommandSet("csd")  # no commands of its own: lets ATD (without ';') place circuit-switched data calls

SETUP_S = 1.0  # dialing -> the network's answer
RING_PERIOD_S = 3.0
MAX_RINGS = 10
CSD_RATE = 9600
ACTIVE, DIALING, ALERTING, INCOMING = 0, 2, 3, 4
VOICE, DATA = 0, 1
# The result code of an outgoing call released before its answer, by the Q.850 cause number the
# network gives (V.250 6.3.1, 27.007 6.1): the called end declined (17 user busy) is BUSY, no answer
# (19) NO ANSWER, anything else NO CARRIER.
RELEASE_RESULTS = {"17": BUSY, "19": NO_ANSWER}


@dataclass(slots=True)
class Call:
    idx: int
    direction: int  # 0 mobile originated, 1 mobile terminated
    stat: int
    mode: int  # 0 voice, 1 data
    number: str
    network_id: str | None = None
    started: float = 0.0
    rings: int = 0
    dtmf: list[str] = field(default_factory=list)
    timer: Timer | None = None

    @property
    def toa(self) -> int:
        return 145 if self.number.startswith("+") else 129


@dataclass(slots=True)
class CallControl:
    modem: VirtualModem
    calls: dict[int, Call] = field(default_factory=dict)
    dtmf_log: list[tuple[float, str]] = field(default_factory=list)
    ended: list[tuple[str, float, float]] = field(default_factory=list)  # (number, start, end)
    csd_rx: bytearray = field(default_factory=bytearray)  # echoed bytes that arrived in command mode
    _csd_link: Link | None = None

    def _new_idx(self) -> int:
        i = 1
        while i in self.calls:
            i += 1
        return i

    def dial(self, number: str, mode: int) -> Final | None:
        m = self.modem
        if any(c.stat != INCOMING for c in self.calls.values()):
            raise CmeError(3)
        network = m.net.network
        if not number or network is None:
            return NO_CARRIER
        if not m.net.registered and not (mode == VOICE and self.emergency_possible(number)):
            return NO_CARRIER
        call = Call(self._new_idx(), 0, DIALING, mode, number, started=m.now)
        self.calls[call.idx] = call
        call.timer = m.schedule(SETUP_S, lambda: self._setup(call))
        if mode == VOICE:
            return None
        return m.wait(
            lambda: self._end(call)
        )  # a data call's result: CONNECT, or why not (NO CARRIER: aborted)

    def emergency_possible(self, number: str) -> bool:
        """An emergency number, and a network on the air to place it on (limited service: any
        network's coverage, without registration or an unlocked SIM, TS 22.101 10.1)."""
        m = self.modem
        network = m.net.network
        return (
            network is not None and m.net.cfun == 1 and bool(m.net.coverage) and network.is_emergency(number)
        )

    def _setup(self, call: Call) -> None:
        from gateway.api import CallKind, CallOutcome

        m = self.modem
        call.timer = None
        if self.calls.get(call.idx) is not call or m.net.network is None:
            return
        kind = CallKind.VOICE if call.mode == VOICE else CallKind.CSD
        result = m.net.network.place_call(m.now, m.identity.line_id, call.number, kind, alerting=True)
        if result.outcome == CallOutcome.ALERTING and result.call_id is not None:
            call.stat = ALERTING
            call.network_id = result.call_id
            self._progress_at(call, result.until)
            return
        self._settled(call, result.outcome, result.cause, result.call_id)

    def _progress_at(self, call: Call, until: float | None) -> None:
        m = self.modem
        call.timer = m.schedule((m.now if until is None else until) - m.now, lambda: self._progress(call))

    def _progress(self, call: Call) -> None:
        """The switch's time for the alerting call came: answered by a far end, or no answer."""
        from gateway.api import CallOutcome

        m = self.modem
        call.timer = None
        if self.calls.get(call.idx) is not call or call.network_id is None or m.net.network is None:
            return
        result = m.net.network.call_progress(m.now, call.network_id)
        if result.outcome == CallOutcome.ALERTING:
            self._progress_at(call, result.until)
            return
        self._settled(call, result.outcome, result.cause, result.call_id)

    def _settled(self, call: Call, outcome: str, cause: str | None, call_id: str | None) -> None:
        """The outgoing call's outcome: active (a data call: CONNECT and online data), or gone with
        BUSY / NO ANSWER / NO CARRIER (a data call's final result; a voice call's unsolicited line)."""
        from gateway.api import CallOutcome

        m = self.modem
        if outcome == CallOutcome.ANSWERED:
            call.stat = ACTIVE
            call.network_id = call_id
            call.started = m.now
            if call.mode == DATA:
                m.enter_data(self._remote_echo)
                m.complete(connect(CSD_RATE))
            return
        call.network_id = None  # the network released it
        self._drop(call)
        if outcome == CallOutcome.BUSY:
            final = BUSY
        elif outcome == CallOutcome.NO_ANSWER:
            final = NO_ANSWER
        else:
            final = RELEASE_RESULTS.get((cause or "").split(" ", 1)[0], NO_CARRIER)
        if call.mode == DATA and m.waiting:
            m.complete(final)
        else:
            m.urc(final.text)

    # ----- the network's side: this modem as the `gateway.api.CallParty` of its line ----------------

    def _by_network_id(self, call_id: str) -> Call | None:
        return next((c for c in self.calls.values() if c.network_id == call_id), None)

    def call_offered(self, now: float, call_id: str, caller: str, kind: CallKind) -> bool:
        """A call from another line rings here (RING / +CRING, +CLIP) until ATA, ATH or its release;
        False (the caller hears busy) while this modem has a call or cannot take one."""
        from gateway.api import CallKind

        m = self.modem
        data = kind != CallKind.VOICE
        if (
            self.calls
            or not m.powered
            or not m.net.registered
            or (data and CSD.name not in m.profile.commands)
        ):
            return False
        m.external(partial(self._offered, now, call_id, caller, data))
        return True

    def _offered(self, now: float, call_id: str, caller: str, data: bool) -> None:
        m = self.modem
        m.poll(now)
        call = Call(self._new_idx(), 1, INCOMING, DATA if data else VOICE, caller, call_id, started=m.now)
        self.calls[call.idx] = call
        # the first ring runs from the modem's own timers: an auto-answer (S0) reaches the caller after
        # the caller's own call into the network has returned
        call.timer = m.schedule(0.0, lambda: self._ring(call))

    def call_answered(self, now: float, call_id: str) -> None:
        """The called line's device answered this modem's call."""
        from gateway.api import CallOutcome

        call = self._by_network_id(call_id)
        if call is None or call.direction != 0 or call.stat == ACTIVE:
            return

        def run() -> None:
            self.modem.poll(now)
            if self.calls.get(call.idx) is call:
                if call.timer is not None:
                    call.timer.cancel()
                    call.timer = None
                self._settled(call, CallOutcome.ANSWERED, None, call_id)

        self.modem.external(run)

    def call_released(self, now: float, call_id: str, cause: str) -> None:
        """The other end (or the network) released the call: declined (BUSY), not answered, or hung up."""
        from gateway.api import CallOutcome

        call = self._by_network_id(call_id)
        if call is None:
            return  # released here first

        def run() -> None:
            m = self.modem
            m.poll(now)
            if self.calls.get(call.idx) is not call:
                return
            call.network_id = None
            if call.direction == 0 and call.stat != ACTIVE:
                self._settled(call, CallOutcome.REFUSED, cause, None)
                return
            self._drop(call)
            if call.mode == DATA and m.in_data_mode:
                m.leave_data()
            m.urc(NO_CARRIER.text)

        self.modem.external(run)

    def csd_link(self) -> Link:
        """The data circuit's link: the gsm preset (none when the modem's conditions are `full`)."""
        m = self.modem
        name = "full" if not m.link.conditions.shaped else "gsm"
        if self._csd_link is None or self._csd_link.conditions.name != name:
            self._csd_link = Link(preset(name), f"{m.link.seed}/csd")
        return self._csd_link

    def _remote_echo(self, data: bytes) -> None:
        m = self.modem
        call = next((c for c in self.calls.values() if c.mode == DATA and c.stat == ACTIVE), None)
        if call is None:
            return
        link = self.csd_link()
        back = link.down.send(link.up.send(m.now, len(data)), len(data))
        if back <= m.now:
            self._echo_arrives(call, data)  # no shaping: at once
        else:
            m.schedule(back - m.now, partial(self._echo_arrives, call, data))

    def _echo_arrives(self, call: Call, data: bytes) -> None:
        m = self.modem
        if self.calls.get(call.idx) is not call:
            log.debug("CSD echo of %d bytes after the call ended: the circuit is gone", len(data))
            return
        if m.in_data_mode:
            m.send_raw(data)
        else:
            self.csd_rx += data

    def resume_data(self) -> None:
        """ATO: back to online data; echoed bytes that arrived meanwhile follow the CONNECT."""
        m = self.modem
        m.enter_data(self._remote_echo)
        if self.csd_rx:
            m.schedule(0.0, self._flush_rx)

    def _flush_rx(self) -> None:
        if self.modem.in_data_mode and self.csd_rx:
            self.modem.send_raw(bytes(self.csd_rx))
            self.csd_rx.clear()

    def hang_up(self) -> None:
        m = self.modem
        if m.ppp is not None:
            m.ppp.end(announce=False)
        for call in list(self.calls.values()):
            self._end(call)
        if m.in_data_mode:
            m.leave_data()

    def hang_up_data(self) -> bool:
        """The data connection left in online command state by "+++" (a PPP bearer, a CSD call)
        ends, voice calls stay; whether there was one."""
        m = self.modem
        ended = False
        if m.ppp is not None:
            m.ppp.end(announce=False)
            ended = True
        for call in list(self.calls.values()):
            if call.mode == DATA and call.stat == ACTIVE:
                self._end(call)
                ended = True
        return ended

    def _end(self, call: Call, declined: bool = True) -> None:
        """This end releases the call (ATH, AT+CHUP; the radio off or the coverage lost: not
        `declined`, the caller of a call ringing here hears NO CARRIER, not busy): the network is told."""
        m = self.modem
        network_id, call.network_id = call.network_id, None
        self._drop(call)  # before the network hears of it: its release comes back to no call
        if network_id is not None and m.net.network is not None:
            if call.stat == INCOMING and declined:
                m.net.network.reject_call(m.now, network_id)  # declined while it rings
            else:
                m.net.network.hang_up(m.now, network_id)
        if call.direction == 0 and call.mode == DATA and call.stat != ACTIVE and m.waiting:
            m.complete(NO_CARRIER)  # a data call given up before its answer

    def _drop(self, call: Call) -> None:
        """The call is gone from this modem (+CLCC), its timers with it."""
        m = self.modem
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self.ended.append((call.number, call.started, m.now))
        self.calls.pop(call.idx, None)
        if call.mode == DATA:
            self.csd_rx.clear()

    def lost(self) -> None:
        """The network went away: every call ends with NO CARRIER."""
        if not self.calls:
            return
        m = self.modem
        told = m.waiting  # a data call being set up: NO CARRIER is its dial's result
        for call in list(self.calls.values()):
            self._end(call, declined=False)
        if m.in_data_mode:
            m.leave_data()
        if not told:
            m.urc(NO_CARRIER.text)

    # ----- incoming ----------------------------------------------------------------------------------

    def incoming(self, number: str, data: bool = False) -> int:
        """A mobile-terminated call rings (RING / +CRING, +CLIP); returns its +CLCC index."""
        call = Call(self._new_idx(), 1, INCOMING, DATA if data else VOICE, number, started=self.modem.now)
        self.calls[call.idx] = call
        self._ring(call)
        return call.idx

    def _ring(self, call: Call) -> None:
        m = self.modem
        if self.calls.get(call.idx) is not call or call.stat != INCOMING:
            return
        call.rings += 1
        if call.rings > MAX_RINGS and call.network_id is None:  # a line's call: the network's no-answer timer
            del self.calls[call.idx]
            m.urc(NO_CARRIER.text)
            return
        s = m.settings
        ring = ("+CRING: " + ("REL ASYNC" if call.mode == DATA else "VOICE")) if s.crc else "RING"
        clip = f'+CLIP: "{call.number}",{call.toa},"",0,"",0' if s.clip else None
        m.urc(ring, clip)
        if s.sreg[0] and call.rings >= s.sreg[0]:
            final = self.answer(announce=True)
            if final is not OK:
                log.debug("auto-answered call %d: %s", call.idx, final.text)
            return
        call.timer = m.schedule(RING_PERIOD_S, lambda: self._ring(call))

    def answer(self, announce: bool = False) -> Final:
        """ATA (or auto-answer after S0 rings when `announce`: the result goes out as an unsolicited line)."""
        m = self.modem
        ringing = [c for c in self.calls.values() if c.stat == INCOMING]
        if not ringing:
            return NO_CARRIER
        call = ringing[0]
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        if call.network_id is not None:
            network = m.net.network
            if network is None or not network.answer_call(m.now, call.network_id):
                call.network_id = None
                self._drop(call)
                return NO_CARRIER  # released by the caller meanwhile
        call.stat = ACTIVE
        call.started = m.now
        if call.mode == DATA:
            if announce:
                m.urc(connect(CSD_RATE).text)
            m.enter_data(self._remote_echo)
            return connect(CSD_RATE)
        return OK


@VOICE_CALLS.command("D")
def dial(m: VirtualModem, c: Cmd) -> Final | None:
    text = c.arg
    voice = text.endswith(";")
    number = "".join(ch for ch in text.rstrip(";") if ch.isdigit() or ch in "+*#")
    if number.startswith("*99") and not voice:  # a packet data call: PPP, on every profile
        from modem.virtual.ppp.bearer import gprs_dial

        return gprs_dial(m, number)
    if not voice and CSD.name not in m.profile.commands:
        return NO_CARRIER
    if text.upper().startswith(">"):
        raise CmeError(4)  # dialing from a phonebook is not supported
    return m.calls.dial(number, VOICE if voice else DATA)


@VOICE_CALLS.command("A")
def answer(m: VirtualModem, c: Cmd) -> Final | None:
    return m.calls.answer()


@VOICE_CALLS.command("H", "+CHUP")
def hang_up(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    m.calls.hang_up()
    return None


@VOICE_CALLS.command("O")
def online(m: VirtualModem, c: Cmd) -> Final | None:
    from modem.virtual.ppp.bearer import resume as resume_ppp

    resumed = resume_ppp(m)  # a PPP bearer left by "+++"
    if resumed is not None:
        return resumed
    data_calls = [call for call in m.calls.calls.values() if call.mode == DATA and call.stat == ACTIVE]
    if not data_calls:
        resume = m.tcp.resume  # a transparent socket left by "+++" (Quectel access mode 2)
        return resume() if resume is not None else NO_CARRIER
    m.calls.resume_data()
    return connect(CSD_RATE)


@VOICE_CALLS.command("+VTS")
def dtmf(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+VTS: (0-9,#,*,A-D),(1-255)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    active = [call for call in m.calls.calls.values() if call.stat == ACTIVE and call.mode == VOICE]
    if not active:
        raise CmeError(3)
    tones = [t for t in c.str_at(0) if t not in ", "]
    if not tones or any(t.upper() not in "0123456789#*ABCD" for t in tones):
        raise CmeError(50)  # a character that is no DTMF tone: nothing is sent
    for tone in tones:
        active[0].dtmf.append(tone.upper())
        m.calls.dtmf_log.append((m.now, tone.upper()))
    return None


@VOICE_CALLS.command("+CLCC")
def list_calls(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.EXEC:
        for call in sorted(m.calls.calls.values(), key=lambda k: k.idx):
            m.info(f'+CLCC: {call.idx},{call.direction},{call.stat},{call.mode},0,"{call.number}",{call.toa}')
    return None


@VOICE_CALLS.command("+CLIP")
def clip(m: VirtualModem, c: Cmd) -> Final | None:
    return numeric_setting(m, c, "clip", 1, lambda n: f"{n},1")


@VOICE_CALLS.command("+CRC")
def crc(m: VirtualModem, c: Cmd) -> Final | None:
    return numeric_setting(m, c, "crc", 1)


@VOICE_CALLS.command("+CCWA")
def ccwa(m: VirtualModem, c: Cmd) -> Final | None:
    """27.007 §7.12 call waiting, as a network without it answers: `=?` `+CCWA: (0,1)`, `?` `+CCWA:
    <n>`; `=<n>[,<mode>[,<class>]]` keeps <n>; <mode> 2 (query) `+CCWA: 0,7` (not active for any
    class), 0 (disable) OK, 1 (enable) CME 3: the network offers no call waiting, a modem with a
    call being busy for another."""
    if c.op is not Op.SET:
        return numeric_setting(m, c, "ccwa", 1)
    n = c.int_at(0, 0, 0, 1)
    mode = c.int_at(1, -1, 0, 2)  # -1: absent
    c.int_at(2, 7, 1, 255)
    if mode == 1:
        raise CmeError(3)
    m.settings.ccwa = n
    if mode == 2:
        m.info("+CCWA: 0,7")
    return None


@VOICE_CALLS.command("+CVHU")
def cvhu(m: VirtualModem, c: Cmd) -> Final | None:
    return numeric_setting(m, c, "cvhu", 1)
