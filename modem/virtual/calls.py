"""Voice and CSD calls: ATD / ATA / ATH / ATO, +VTS DTMF, +CLCC, RING / +CRING / +CLIP.

An outgoing voice call (`ATD<n>;`) answers OK at once and shows in +CLCC as
dialing (stat 2); after `SETUP_S` the network is asked (`place_call`): an
answered call becomes active (stat 0), a busy / unanswered / refused one ends
with the BUSY / NO ANSWER / NO CARRIER result code.  A data call (`ATD<n>`)
is placed at once: CONNECT 9600 and online data mode, where the remote end
echoes every byte, until `+++` (guard time S12) and ATH.  The circuit carries
bytes as the `gsm` preset of `modem.virtual.conditions` says (9.6 kbit/s each
way and its round trip; no shaping when the modem's conditions are `full`):
the echo of bytes sent at t arrives after their uplink then downlink crossing;
echoed bytes that arrive in command mode (after `+++`) wait for ATO.  Calls
are billed by the gateway from `place_call` to `hang_up`.
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
        from gateway.api import CallKind

        m = self.modem
        if any(c.stat != INCOMING for c in self.calls.values()):
            raise CmeError(3)
        if not number or not m.net.registered or m.net.network is None:
            return NO_CARRIER
        call = Call(self._new_idx(), 0, DIALING, mode, number, started=m.now)
        self.calls[call.idx] = call
        if mode == VOICE:
            call.timer = m.schedule(SETUP_S, lambda: self._setup(call))
            return None
        result = m.net.network.place_call(m.now, m.identity.line_id, number, CallKind.CSD)
        final = self._outcome(call, result.outcome, result.call_id)
        if final is not None:
            return final
        m.enter_data(self._remote_echo)
        return connect(CSD_RATE)

    def _setup(self, call: Call) -> None:
        from gateway.api import CallKind

        m = self.modem
        call.timer = None
        if call.idx not in self.calls or m.net.network is None:
            return
        result = m.net.network.place_call(m.now, m.identity.line_id, call.number, CallKind.VOICE)
        final = self._outcome(call, result.outcome, result.call_id)
        if final is not None:
            m.urc(final.text)

    def _outcome(self, call: Call, outcome: str, call_id: str | None) -> Final | None:
        from gateway.api import CallOutcome

        if outcome == CallOutcome.ANSWERED:
            call.stat = ACTIVE
            call.network_id = call_id
            call.started = self.modem.now
            return None
        del self.calls[call.idx]
        return {CallOutcome.BUSY: BUSY, CallOutcome.NO_ANSWER: NO_ANSWER}.get(
            CallOutcome(outcome), NO_CARRIER
        )

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

    def _end(self, call: Call) -> None:
        m = self.modem
        if call.timer is not None:
            call.timer.cancel()
        if call.network_id is not None and m.net.network is not None:
            m.net.network.hang_up(m.now, call.network_id)
        self.ended.append((call.number, call.started, m.now))
        self.calls.pop(call.idx, None)
        if call.mode == DATA:
            self.csd_rx.clear()

    def lost(self) -> None:
        """The network went away: every call ends with NO CARRIER."""
        if not self.calls:
            return
        m = self.modem
        for call in list(self.calls.values()):
            self._end(call)
        if m.in_data_mode:
            m.leave_data()
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
        if call.rings > MAX_RINGS:
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


@VOICE_CALLS.command("+CVHU")
def cvhu(m: VirtualModem, c: Cmd) -> Final | None:
    return numeric_setting(m, c, "cvhu", 1)
