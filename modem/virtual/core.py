"""The virtual modem's engine: sans-IO, bytes from the DTE in, bytes to the DTE out, timers on a clock.

    modem = VirtualModem(load_profile("simcom-sim800"), network=net, seed=3)
    modem.feed(b"AT+CSQ\\r", now=1.0)
    modem.take_output(now=1.0)        # b"AT+CSQ\\r\\r\\n+CSQ: 21,0\\r\\n\\r\\nOK\\r\\n"
    modem.next_deadline()             # when to call poll(now) again (timers, held responses)

The engine owns V.250 line handling (echo, verbose / numeric results, quiet,
S3/S4/S5, `A/`), the three modes (command, text entry after `> `, online
data with the `+++` escape), URC buffering outside command mode, and fault
injection on responses.  The commands themselves live in command sets
(`modem.virtual.sets`, the ones the profile names), the network side in `netlink`, SMS in
`sms`, calls in `calls`.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from gateway.api import DEFAULT_INTERNET, Internet
from modem.profiles import Profile
from modem.virtual.conditions import Conditions, Link, preset, preset_for
from modem.virtual.faults import Faults, make_faults
from modem.virtual.identity import ModemIdentity, derive_identity
from modem.virtual.results import (
    CME_TEXT,
    CMS_TEXT,
    DEFERRED,
    ERROR,
    NO_CARRIER,
    OK,
    PROMPT,
    SILENT,
    AtError,
    CmeError,
    CmsError,
    Final,
)
from modem.virtual.sets import COMMAND_SETS
from modem.virtual.syntax import Cmd, parse_line

if TYPE_CHECKING:
    from gateway.api import IcmpHosts, NetworkAPI
    from modem.virtual.calls import CallControl
    from modem.virtual.netlink import NetLink
    from modem.virtual.ppp.bearer import PppBearer
    from modem.virtual.ppp.tun import TunNetwork
    from modem.virtual.sms import SmsService
    from modem.virtual.sockets import TcpSockets

log = logging.getLogger(__name__)

CTRL_Z = 0x1A
ESC = 0x1B


class Mode(Enum):
    COMMAND = "command"
    ENTRY = "entry"  # text after the "> " prompt (SMS, socket data)
    DATA = "data"  # online data (CSD), left by "+++"


class Timer:
    """A scheduled callback; `cancel()` makes it a no-op."""

    __slots__ = ("cancelled", "fn", "quiet", "when")

    def __init__(self, when: float, fn: Callable[[], None], quiet: bool = False) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False
        self.quiet = quiet  # `fn` calls `changed()` itself when it changes anything (the SMS poll)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(slots=True)
class Settings:
    """What ATZ / AT&F restore."""

    echo: bool
    cmee: int
    cmgf: int
    cnmi: list[int]
    verbose: bool = True
    quiet: bool = False
    sreg: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 7: 60, 10: 15, 12: 50})
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    cops_format: int = 0
    clip: int = 0
    crc: int = 0
    ccwa: int = 0  # AT+CCWA <n>: the +CCWA URC (never said: no call waits, the network offers none)
    cvhu: int = 1
    cscs: str = "IRA"
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    csdh: int = 0  # AT+CSDH: 1 shows the header fields in text mode
    csms: int = 0  # AT+CSMS <service>: 0 phase 2, 1 phase 2+
    cgerep: tuple[int, int] = (0, 0)  # AT+CGEREP <mode>,<bfr>: <mode> 1 / 2 says +CGEV: NW DETACH
    dtr: int = 2  # AT&D: what dropping DTR does (0 nothing, 1 command mode, 2 hang up, after "+++" too)


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """What AT&W stores and ATZ (and a power-up) brings back (V.250 §6.1.1: the user profile):
    echo, quiet, result format, the S-registers, and +CMEE, which modules store with them."""

    echo: bool
    quiet: bool
    verbose: bool
    sreg: tuple[tuple[int, int], ...]
    cmee: int

    @classmethod
    def of(cls, settings: Settings) -> StoredProfile:
        return cls(
            settings.echo,
            settings.quiet,
            settings.verbose,
            tuple(sorted(settings.sreg.items())),
            settings.cmee,
        )

    def apply(self, settings: Settings) -> None:
        settings.echo, settings.quiet, settings.verbose = self.echo, self.quiet, self.verbose
        settings.sreg = dict(self.sreg)
        settings.cmee = self.cmee


@dataclass(slots=True)
class _Entry:
    on_done: Callable[[bytes], Final | None]
    length: int | None
    on_cancel: Callable[[], None] | None


@dataclass(frozen=True, slots=True)
class RadioSettings:
    """Where the modem is: the serving network and the radio conditions."""

    plmn: str = ""  # serving PLMN (MCC+MNC); empty: the SIM's home network
    csq: tuple[int, int] | None = None  # rssi, ber; None: the profile's
    rat: str = ""  # geran / utran / eutran; empty: the profile's


class VirtualModem:
    """One virtual module, bound (optionally) to a network through `gateway.api.NetworkAPI`."""

    def __init__(
        self,
        profile: Profile,
        *,
        network: NetworkAPI | None = None,
        seed: int = 0,
        index: int = 0,
        identity: ModemIdentity | None = None,
        faults: Faults | None = None,
        radio: RadioSettings | None = None,
        now: float = 0.0,
        epoch: datetime | None = None,
        pin: str | None = None,
        conditions: Conditions | None = None,
        internet: Internet | None = None,
        icmp: IcmpHosts | None = None,
    ) -> None:
        from modem.virtual.calls import CallControl
        from modem.virtual.netlink import NetLink
        from modem.virtual.sms import SmsService
        from modem.virtual.sockets import TcpSockets

        self.profile = profile
        self.identity = identity or derive_identity(profile, seed, index)
        # The memo: input chunks made of pure commands (`registry.Spec.pure`) and the output they gave,
        # replayed by `answer` until anything changes (any other input, a timer that is not quiet, a
        # URC, `changed()`) and while no timer is due (`_memo_due`).
        self._memo: dict[bytes, tuple[bytes, str]] = {}
        self._memo_due = 0.0
        self._pure = False  # every command of the input being fed so far was pure
        self._faults = faults or make_faults(profile.faults)
        self.rng = random.Random(f"{profile.name}/{seed}/{index}/rng")
        self.epoch = epoch or datetime(2012, 3, 1, tzinfo=UTC)
        self.now = now
        #: the user profile AT&W stored (None: the factory settings, as shipped)
        self.stored_profile: StoredProfile | None = None
        self.settings = self._defaults()
        self.mode = Mode.COMMAND
        self._transcript: list[tuple[float, str, str]] | None = None
        self._on_line: Callable[[str], None] | None = None
        sets = [COMMAND_SETS[name] for name in sorted(profile.commands)]
        self._sets = sets
        self._table = {
            name: spec
            for s in sets
            for name, spec in s.commands.items()
            if name not in _ID_ALIASES or name in profile.ccid_commands
        }
        #: each named set's own state (SIMCom's and Quectel's TCP/IP stacks), see `StatefulSet.state`
        self.set_states: dict[str, object] = {
            s.name: state for s in sets if (state := s.new_state()) is not None
        }
        self._inbuf = bytearray()
        self._line = bytearray()
        self._last_line = ""
        self._out = bytearray()
        self._resp = bytearray()
        self._held: deque[tuple[float, bytes]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._entry: _Entry | None = None
        self._entry_buf = bytearray()
        self._entry_at = now  # when the open prompt last took bytes
        self._entry_seq = 0  # counts the prompts opened (`entry_received`)
        self._prompt = b"\r\n> "  # what opens the running prompt (SIMCom's AT+HTTPDATA: DOWNLOAD)
        self._waiting = False  # a command waits for an event to finish (`wait`, `complete`)
        self._boots = 0  # the module's resets and power-offs so far (`completer`)
        self._on_abort: Callable[[], None] | None = None  # what a DTE character does meanwhile
        self._data_handler: Callable[[bytes], None] | None = None
        self._escape_plus = 0
        self._escape_timer: Timer | None = None
        self._last_data = now
        self._urc_backlog: list[bytes] = []
        self._sim_busy_left = self._faults.sim_busy
        self.pin = pin  # the SIM's PIN: locked until AT+CPIN="<pin>"; None: no PIN asked
        self.sim_state = "SIM PIN" if pin else "READY"  # READY, SIM PIN, SIM PUK
        self.pin_attempts = 3
        self.pin_off = "0000"  # the PIN a SIM keeps while its lock is off (AT+CLCK="SC",0 / 1)
        #: the SIM's PUK (derived from the seed; `modem ctl ... list` shows it) and the tries left
        self.puk = f"{random.Random(f'{profile.name}/{seed}/{index}/puk').randrange(10**8):08d}"
        self.puk_attempts = 10
        self.powered = True  # False after AT+CPOWD / AT+QPOWD: input is ignored, nothing comes out
        self._muted = False  # a reset or power-off ends calls and data calls without NO CARRIER (`_end_all`)
        self._ready_at = now + max(profile.init_s, self._faults.cme515)  # +CME ERROR: 515 until then
        self._crlf = b"\r\n"
        self._radio = radio or RadioSettings()
        #: the packet bearer's shaper (`modem.virtual.conditions`): the profile's RAT preset unless given
        self.link = Link(
            conditions or preset(preset_for(profile.rat, profile.act)), f"{profile.name}/{seed}/{index}"
        )
        self.internet = internet or DEFAULT_INTERNET  # where the stacks' sockets go (gateway.internet)
        # the ICMP limits of the network's hosts (`NetLink.icmp`): the serve's, shared by the modems
        # it serves on one network, else the modem's own
        self.net: NetLink = NetLink(self, network) if icmp is None else NetLink(self, network, icmp=icmp)
        self.sms: SmsService = SmsService(self)
        self.calls: CallControl = CallControl(self)
        self.tcp: TcpSockets = TcpSockets(self)
        self.ppp: PppBearer | None = None  # the PPP bearer (ATD*99#), online or suspended
        self.tun: TunNetwork | None = None  # PPP's IP into this TUN device's namespace; None: the forwarder
        # Runs `fn` for an event from outside the engine (a host socket's data); the runner
        # serving the modem replaces it to advance time first and send the output after.
        self.external: Callable[[Callable[[], None]], None] = _call
        for line in profile.boot_urcs:
            self.urc(line)
        self.net.power_on()

    # ----- I/O --------------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Bytes from the DTE at simulated time `now`."""
        hit = self.answer(data, now)
        if hit is not None:
            self._out += hit
            return
        self._advance(now)
        if not self.powered:
            self._memo.clear()
            return
        if self._waiting and self._on_abort is not None and data:
            self._on_abort()  # V.250 6.3.1: a character from the DTE aborts a call attempt, and is lost
            return
        start = len(self._out)
        self._pure = True
        self._inbuf += data
        self._drain()
        if self._pure and self._quiet() and self.now >= self._ready_at and not self._inbuf:
            # nothing changed: the answers known stay true, and this one joins them
            if not self._memo:
                due = self.next_deadline()
                self._memo_due = float("inf") if due is None else due
            self._memo[data] = (bytes(self._out[start:]), self._last_line)
        elif self._memo:
            self._memo.clear()

    def answer(self, data: bytes, now: float) -> bytes | None:
        """What feeding `data` at `now` gives when the memo knows it (the same line of pure commands
        answered earlier, nothing changed since, no timer due, no output waiting); None otherwise (then
        `feed` it).  Time moves to `now` as `feed` would move it."""
        hit = self._memo.get(data)  # empty while a transcript or a line observer is set (their setters)
        if hit is None or self._out:
            return None
        if now >= self._memo_due:
            self._advance(now)  # quiet timers (the SMS poll) keep the memo; any other forgets it
            hit = self._memo.get(data)
            if hit is None or self._out or now >= self._memo_due:
                return None
        if now > self.now:
            self.now = now
        self._last_line = hit[1]
        return hit[0]

    def changed(self) -> None:
        """Forget the memo of answers: call after changing the modem's state from outside its commands
        and timers (ModemRunner.kick and run_now do; setting `radio` or `faults` does)."""
        self._memo.clear()

    @property
    def transcript(self) -> list[tuple[float, str, str]] | None:
        """(now, "dte"/"urc", text) of every command line and URC while recording; None: not recording."""
        return self._transcript

    @transcript.setter
    def transcript(self, value: list[tuple[float, str, str]] | None) -> None:
        self._transcript = value
        self.changed()  # every line is recorded from now on: none answered from the memo

    @property
    def on_line(self) -> Callable[[str], None] | None:
        """Called after each command line ran ("AT..."); None: nobody is told."""
        return self._on_line

    @on_line.setter
    def on_line(self, value: Callable[[str], None] | None) -> None:
        self._on_line = value
        self.changed()  # every line runs (and is told) from now on: none answered from the memo

    @property
    def radio(self) -> RadioSettings:
        """Where the modem is (serving network, signal, RAT): the console and scenarios change it."""
        return self._radio

    @radio.setter
    def radio(self, value: RadioSettings) -> None:
        self._radio = value
        self.changed()

    @property
    def faults(self) -> Faults:
        """The faults injected into its answers (the console changes them)."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = value
        self.changed()

    def _quiet(self) -> bool:
        """Command mode with nothing pending: no partial line, held response, entry or URC backlog."""
        return (
            self.mode is Mode.COMMAND
            and not self._line
            and not self._held
            and not self._urc_backlog
            and not self._waiting
            and self.powered
            and self._transcript is None
            and self._on_line is None
            and not self._faults.noisy
        )

    def poll(self, now: float) -> None:
        """Run what is due at `now` (timers, held responses, waiting input)."""
        self._advance(now)
        self._drain()

    def take_output(self, now: float | None = None) -> bytes:
        """Bytes for the DTE, ready at `now` (default: the last time seen)."""
        if now is not None:
            self.poll(now)
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """Simulated time of the next timer or held response, None when nothing is scheduled."""
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        t = timers[0][0] if timers else None
        if self._held and (t is None or self._held[0][0] < t):
            t = self._held[0][0]
        return t

    def schedule(self, delay: float, fn: Callable[[], None], quiet: bool = False) -> Timer:
        """Call `fn` at `now + delay` (simulated seconds).  `quiet`: `fn` mostly changes nothing and
        calls `changed()` when it does (else the memo of answers is forgotten when it runs)."""
        timer = Timer(self.now + max(0.0, delay), fn, quiet)
        if timer.when < self._memo_due:
            self._memo_due = timer.when  # the memo's answers hold until then at most
        self._seq += 1
        heapq.heappush(self._timers, (timer.when, self._seq, timer))
        return timer

    def _advance(self, now: float) -> None:
        if now > self.now:
            self.now = now
        ran = False
        while True:
            t_timer = self.next_deadline()
            if t_timer is None or t_timer > self.now:
                if ran:
                    self._memo_due = float("inf") if t_timer is None else t_timer
                return
            ran = True
            if self._held and self._held[0][0] <= t_timer:
                self._memo.clear()
                self._out += self._held.popleft()[1]
                continue
            _, _, timer = heapq.heappop(self._timers)
            if not timer.quiet:
                self._memo.clear()
            saved = self.now
            self.now = timer.when
            try:
                timer.fn()
            finally:
                self.now = max(saved, self.now)

    # ----- input scanning --------------------------------------------------------------------------

    def _drain(self) -> None:
        buf = self._inbuf
        while buf and not self._held and not self._waiting:
            if self.mode is Mode.COMMAND:
                settings = self.settings  # read again each line: ATZ puts new settings in place
                cr = settings.sreg[3]
                j = buf.find(b"\r" if cr == 13 else bytes((cr,)))
                if j < 0:
                    chunk = bytes(buf)
                    buf.clear()
                    if settings.echo:
                        self._out += chunk
                    self._line += chunk
                    stripped = self._line.strip(b"\n ").upper()
                    if not stripped:
                        self._line.clear()  # the LF of a CR LF line end
                        return
                    if stripped.endswith(b"A/") and b"AT" not in stripped:
                        self._line.clear()
                        self._run_body(self._last_line)
                    return
                if settings.echo:
                    self._out += buf[: j + 1]
                if self._line:
                    self._line += buf[:j]
                    line = bytes(self._line)
                    self._line.clear()
                else:
                    line = bytes(buf[:j])
                del buf[: j + 1]
                self._run_line(line)
            elif self.mode is Mode.ENTRY:
                self._scan_entry()
            else:
                self._scan_data()

    def _run_line(self, line: bytes) -> None:
        bs = self.settings.sreg[5]
        if bs in line:
            kept = bytearray()
            for b in line:
                if b == bs:
                    if kept:
                        kept.pop()
                else:
                    kept.append(b)
            line = bytes(kept)
        text = line.decode("latin-1")
        i = text.find("AT")
        if i < 0:
            i = text.upper().find("AT")
            if i < 0:
                if text.strip("\n ").upper().endswith("A/"):  # `A/` and the CR in one write
                    self._run_body(self._last_line)
                return  # noise without a command: real modules ignore it
        body = text[i + 2 :].strip("\n")
        self._last_line = body
        self._run_body(body)

    def _run_body(self, body: str) -> None:
        if self._transcript is not None:
            self._transcript.append((self.now, "dte", "AT" + body))
        final: Final | AtError = OK
        try:
            cmds = _PARSED.get(body)
            if cmds is None:
                cmds = _parsed(body)
            for cmd in cmds:
                result = self._dispatch(cmd)
                if result is not None and result is not OK:
                    if result is SILENT and cmd is not cmds[-1] and self.powered:
                        continue  # no result code of its own (SIMCom's +CIFSR): the line goes on
                    final = result
                    break
        except AtError as exc:
            final = exc
        self._finish(final)
        if self._on_line is not None:
            self._on_line("AT" + body)

    def _dispatch(self, cmd: Cmd) -> Final | None:
        name = cmd.name
        spec = self._table.get(name)
        if spec is None and name[0] == "S" and name[1:].isdigit():
            spec = self._table.get("S")
        if spec is None:
            raise AtError()
        if cmd.op not in spec.pure:
            self._pure = False
        if self.now < self._ready_at and name[0] == "+" and name not in _DURING_INIT:
            raise CmeError(515)
        if spec.sim and self._sim_busy_left > 0:
            self._pure = False
            self._sim_busy_left -= 1
            raise CmeError(14)
        if spec.sim and self.sim_state != "READY" and name != "+CPIN":
            raise CmeError(SIM_LOCK_ERRORS.get(self.sim_state, 13))
        rule = self._faults.fail.get(name) if self._faults.fail else None
        if rule is not None:
            if rule.kind == "cme":
                raise CmeError(rule.code)
            if rule.kind == "cms":
                raise CmsError(rule.code)
            raise AtError()
        return spec.handler(self, cmd)

    # ----- output ----------------------------------------------------------------------------------

    def info(self, line: str) -> None:
        """An information response line of the command being run."""
        if self.settings.verbose:
            if not self._resp:
                self._resp += self._crlf
            self._resp += line.encode("latin-1") + self._crlf
        else:
            self._resp += line.encode("latin-1") + self._crlf

    def raw(self, data: bytes) -> None:
        """Raw bytes inside the response (socket data read by AT+QIRD / AT+CIPRXGET)."""
        self._resp += data

    def urc(self, line: str, payload: str | None = None) -> None:
        """An unsolicited result (with an optional second line, as +CMT's PDU); buffered outside command mode."""
        if not self.powered or (self._muted and line == NO_CARRIER.text):
            return
        if self._memo:
            self._memo.clear()
        data = self._crlf + line.encode("latin-1") + self._crlf
        if payload is not None:
            data += payload.encode("latin-1") + self._crlf
        if self._transcript is not None:
            self._transcript.append((self.now, "urc", line))
        if self.mode is Mode.COMMAND and not self._line:
            self._out += data
        else:
            self._urc_backlog.append(data)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight to the DTE now (online data, SIMCom's raw socket data)."""
        self._pure = False
        self._out += data

    def defer(self, seconds: float, produce: Callable[[], Final | None]) -> Final:
        """Finish the running command `seconds` later with what `produce()` gives then (its info
        lines, its final result or AtError), e.g. an SMS submit after its radio leg; input waits
        meanwhile, as on a module busy with the network.  Return what this gives from the handler."""
        if seconds <= 0.0:
            return produce() or OK

        boot = self._boots

        def finish() -> None:
            if self._boots != boot:
                return  # the module reset meanwhile: the command ended with it, unanswered
            final: Final | AtError
            try:
                final = produce() or OK
            except AtError as exc:
                final = exc
            self._finish(final)

        self._held.append((self.now + seconds, b""))  # blocks input; released just before `finish`
        self.schedule(seconds, finish)
        return DEFERRED

    def wait(self, on_abort: Callable[[], None] | None = None) -> Final:
        """Leave the running command open until `complete` gives its final result (a data call that
        waits for the far end's answer).  Input meanwhile calls `on_abort` (which should complete the
        command) and is dropped; without it, input waits.  Return what this gives from the handler."""
        self._waiting = True
        self._on_abort = on_abort
        return DEFERRED

    def completer(self) -> Callable[[Final | AtError], None]:
        """`complete` for the command that is about to `wait`, as the event that finishes it calls it:
        nothing once the module has reset or powered off since (the command ended with it, and a
        later command may be waiting by then)."""
        boot = self._boots

        def done(final: Final | AtError) -> None:
            if self._boots == boot:
                self.complete(final)

        return done

    def _abandon(self) -> None:
        """A reset or power-off: the command running (waiting for the network, its answer deferred)
        ends without a final result, as on a module that restarts; what was typed meanwhile is lost;
        what would have finished it does nothing (`completer`, `defer`)."""
        self._boots += 1
        self._waiting = False
        self._on_abort = None
        self._held.clear()
        self._inbuf.clear()

    @property
    def boots(self) -> int:
        """The module's resets and power-offs so far: what was under way before one ended with it."""
        return self._boots

    @property
    def waiting(self) -> bool:
        """A command left open by `wait` has not been completed yet."""
        return self._waiting

    def complete(self, final: Final | AtError) -> None:
        """Finish the command left open by `wait` with `final`; the input that waited runs then."""
        if not self._waiting:
            return
        self._waiting = False
        self._on_abort = None
        self._finish(final)
        self._drain()

    def final_bytes(self, final: Final) -> bytes:
        if self.settings.quiet or final.code < 0:
            return b""
        if self.settings.verbose:
            return self._crlf + final.text.encode() + self._crlf
        return str(final.code).encode() + self._crlf[:1]

    def _error_bytes(self, err: AtError) -> bytes:
        mode = self.settings.cmee
        if isinstance(err, CmsError):
            text = CMS_TEXT.get(err.code, "unknown error") if mode == 2 else str(err.code)
            return self._crlf + f"+CMS ERROR: {text}".encode() + self._crlf
        if isinstance(err, CmeError) and mode:
            text = CME_TEXT.get(err.code, "unknown") if mode == 2 else str(err.code)
            return self._crlf + f"+CME ERROR: {text}".encode() + self._crlf
        return self.final_bytes(ERROR)

    def _finish(self, final: Final | AtError) -> None:
        if isinstance(final, AtError):
            tail = self._error_bytes(final)
        elif final is PROMPT:
            tail = self._prompt
        else:
            tail = self.final_bytes(final)
        faults = self._faults
        if not faults.noisy:  # the common case: the response goes out as it is
            out = self._out
            out += self._resp
            out += tail
            self._resp.clear()
            if self._urc_backlog:
                self._flush_backlog()
            return
        resp = self._resp
        self._resp = bytearray()
        rng = self.rng
        if faults.drop and rng.random() < faults.drop:
            log.debug("fault: response dropped")
            return
        if faults.garbage and rng.random() < faults.garbage:
            resp[0:0] = bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 9)))
        if faults.urc_burst and rng.random() < faults.urc_burst:
            for line in faults.burst_urcs:
                if line in _STATE_URCS:  # the modem's own state, not a made-up one
                    line = f"{line}: {self.net.stat if line == '+CREG' else self.net.ps_stat}"
                resp += self._crlf + line.encode("latin-1") + self._crlf
        if faults.delay_ms:
            self._held.append((self.now + faults.delay_ms / 1000.0, bytes(resp + tail)))
            self._flush_backlog()
            return
        self._out += resp
        self._out += tail
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        if self._urc_backlog and self.mode is Mode.COMMAND:
            for data in self._urc_backlog:
                self._out += data
            self._urc_backlog.clear()

    # ----- modes -----------------------------------------------------------------------------------

    def prompt(
        self,
        on_done: Callable[[bytes], Final | None],
        length: int | None = None,
        on_cancel: Callable[[], None] | None = None,
        banner: str = "> ",
    ) -> Final:
        """Open the "> " prompt (or the `banner` line, as SIMCom's `DOWNLOAD`): the text up to
        Ctrl-Z (or `length` bytes) goes to `on_done`."""
        self._prompt = b"\r\n> " if banner == "> " else self._crlf + banner.encode() + self._crlf
        self._entry = _Entry(on_done, length, on_cancel)
        self._entry_buf.clear()
        self._entry_at = self.now
        self._entry_seq += 1
        self.mode = Mode.ENTRY
        return PROMPT

    @property
    def entry_received(self) -> tuple[int, int, float]:
        """Which prompt is open (a number that grows with each one opened; 0: none is), how many
        bytes it has taken so far and when its last ones came (when it opened, before any)."""
        if self._entry is None:
            return 0, 0, self.now
        return self._entry_seq, len(self._entry_buf), self._entry_at

    def end_entry(self, final: Final | AtError) -> None:
        """Close the open prompt with `final` (a data upload that timed out): what it took is
        dropped, input is read as commands again."""
        if self._entry is None:
            return
        self._entry = None
        self._entry_buf.clear()
        self.mode = Mode.COMMAND
        self._pure = False
        self._finish(final)
        self._drain()

    def _scan_entry(self) -> None:
        entry = self._entry
        assert entry is not None
        buf = self._inbuf
        if buf:
            self._entry_at = self.now
        if entry.length is not None:
            need = entry.length - len(self._entry_buf)
            chunk = bytes(buf[:need])
            del buf[:need]
            self._entry_buf += chunk
            if len(self._entry_buf) < entry.length:
                return
            self._end_entry(entry, bytes(self._entry_buf), cancelled=False)
            return
        for k, b in enumerate(buf):
            if b in (CTRL_Z, ESC):
                chunk = bytes(buf[:k])
                del buf[: k + 1]
                if self.settings.echo:
                    self._out += chunk
                self._entry_buf += chunk
                self._end_entry(entry, bytes(self._entry_buf), cancelled=b == ESC)
                return
        if self.settings.echo:
            self._out += buf
        self._entry_buf += buf
        buf.clear()

    def _end_entry(self, entry: _Entry, text: bytes, cancelled: bool) -> None:
        self._entry = None
        self._entry_buf.clear()
        self.mode = Mode.COMMAND
        bs = self.settings.sreg[5]
        # Backspace edits typed text only; a fixed-length entry (AT+CIPSEND=n, AT+QISEND=id,n) is raw data.
        if entry.length is None and bs in text:
            kept = bytearray()
            for b in text:
                if b == bs:
                    if kept:
                        kept.pop()
                else:
                    kept.append(b)
            text = bytes(kept)
        if cancelled:
            if entry.on_cancel is not None:
                entry.on_cancel()
            self._finish(OK)
            return
        final: Final | AtError
        try:
            final = entry.on_done(text) or OK
        except AtError as exc:
            final = exc
        self._finish(final)

    @property
    def in_data_mode(self) -> bool:
        """Online data (a CSD call), left by "+++" or the call's end."""
        return self.mode is Mode.DATA

    def enter_data(self, handler: Callable[[bytes], None]) -> None:
        """Switch to online data: DTE bytes go to `handler` until "+++" (guard time S12) or hang-up."""
        self._data_handler = handler
        self._escape_plus = 0
        self._last_data = self.now
        self.mode = Mode.DATA

    def leave_data(self) -> None:
        """Back to command mode (the call or connection ended, or the escape sequence)."""
        self._data_handler = None
        if self._escape_timer is not None:
            self._escape_timer.cancel()
            self._escape_timer = None
        self.mode = Mode.COMMAND
        self._flush_backlog()

    def _scan_data(self) -> None:
        data = bytes(self._inbuf)
        self._inbuf.clear()
        guard = self.settings.sreg[12] / 50.0
        if self._escape_timer is not None:
            self._escape_timer.cancel()
            self._escape_timer = None
        quiet_before = self.now - self._last_data >= guard
        self._last_data = self.now
        if (
            data.strip(b"+") == b""
            and self._escape_plus + len(data) <= 3
            and (self._escape_plus or quiet_before)
        ):
            self._escape_plus += len(data)
            if self._escape_plus == 3:
                self._escape_timer = self.schedule(guard, self._escape)
            return
        if self._escape_plus:
            data = b"+" * self._escape_plus + data
            self._escape_plus = 0
        if self._data_handler is not None:
            self._data_handler(data)

    def dtr_drop(self) -> None:
        """The DTE dropped DTR: as AT&D says, nothing (0), command mode as after "+++" (1), or hang up (2).

        `&D2` clears the data connection in online command state too (V.250 6.2.9: the call is
        cleared whatever the state), a PPP bearer or a CSD call left by "+++": NO CARRIER."""
        if self.settings.dtr == 0:
            return
        if self.mode is not Mode.DATA:
            if self.settings.dtr == 2 and self.calls.hang_up_data():
                self.urc("NO CARRIER")
            return
        if self.settings.dtr == 1:
            self._escape()
            return
        self.calls.hang_up()
        self.urc("NO CARRIER")

    def _escape(self) -> None:
        self._escape_timer = None
        self._escape_plus = 0
        self._data_handler = None
        self.mode = Mode.COMMAND
        self._finish(OK)

    # ----- state helpers for handlers --------------------------------------------------------------

    def _defaults(self) -> Settings:
        p = self.profile
        return Settings(echo=p.echo, cmee=p.cmee, cmgf=p.cmgf, cnmi=list(p.cnmi))

    def reset(self, *, factory: bool = False) -> None:
        """ATZ (and a power-up): the factory settings with the stored profile (AT&W) over them;
        AT&F (`factory`): the factory settings alone, the stored profile kept for the next ATZ.
        Storage and network state are kept."""
        self.settings = self._defaults()
        if self.stored_profile is not None and not factory:
            self.stored_profile.apply(self.settings)
        self._crlf = bytes([self.settings.sreg[3], self.settings.sreg[4]])

    def store_profile(self) -> None:
        """AT&W: the current echo, quiet, result format, S-registers and +CMEE become the profile
        ATZ and a power-up bring back."""
        self.stored_profile = StoredProfile.of(self.settings)

    def set_sreg(self, reg: int, value: int) -> None:
        self.settings.sreg[reg] = value
        self._crlf = bytes([self.settings.sreg[3], self.settings.sreg[4]])

    def after_cfun(self) -> None:
        """AT+CFUN=...: a module re-initialising answers CME 515 for a while (fault `cme515`, seconds)."""
        self._ready_at = max(self._ready_at, self.now + self._faults.cme515)

    @property
    def initialising(self) -> bool:
        """True while extended commands answer +CME ERROR: 515 (after power-on or a reset)."""
        return self.now < self._ready_at

    def restart(self, fun: int = 1) -> None:
        """A software reset (AT+CFUN=1,1; AT+CFUN=1 on modules that reset; power on again): calls,
        sockets and contexts end, the network is left (deregistration), the settings come back to the
        profile's, the boot URCs come again, the initialisation time starts, then the search (at
        functionality level `fun`: 0 or 4 stay off the network).  A call or data call the reset
        ends (dialled or online, CSD or PPP) gives no NO CARRIER, and its held CONNECT never comes:
        the module restarts, it does not clear the call; the boot URCs come next."""
        self.powered = True
        self._abandon()
        self._end_all()
        self.reset()
        self.mode = Mode.COMMAND
        self._entry = None
        self._data_handler = None
        self._line.clear()
        self._urc_backlog.clear()
        self.sms.held.clear()  # and the indications +CNMI <mode>=0 kept in the TA
        if self.pin is not None and self.sim_state == "READY":
            self.sim_state = "SIM PIN"  # a reset asks for the PIN again
        for line in self.profile.boot_urcs:
            self.urc(line)
        self._ready_at = self.now + max(self.profile.init_s, self._faults.cme515)
        if fun == 1:
            self.net.power_on()
        else:
            self.net.cfun = fun

    def reset_stacks(self) -> None:
        """The module's TCP/IP stacks back at their start (a reset, AT+CFUN=0 or 4, power off), once
        their sockets are gone and their contexts released at the gateway: each command set's
        `reset` hook (`registry.StatefulSet.reset`)."""
        for s in self._sets:
            s.reset(self)
        self.tcp.resume = None

    def _end_all(self) -> None:
        """A reset or power-off ends the sockets, calls, data calls and contexts, and the stacks start
        again; a call or data call it ends gives no NO CARRIER (the module stops, it does not clear
        the call)."""
        self._muted = True
        try:
            self.tcp.lost()
            self.calls.lost()
            self.net.detach()
            self.reset_stacks()
        finally:
            self._muted = False

    def power_off(self, urcs: tuple[str, ...] = ()) -> None:
        """AT+CPOWD / AT+QPOWD, the power key: log off the network, send `urcs`, then nothing more
        until powered on (a data call ended with it says no NO CARRIER, as for a reset)."""
        self._abandon()
        self._end_all()
        for line in urcs:
            self.urc(line)
        self.net.cfun = 0
        self.powered = False
        self._inbuf.clear()

    def enabled_commands(self) -> list[str]:
        """Listed commands of this profile, as AT+CLAC shows them."""
        out = []
        for name, spec in self._table.items():
            if spec.listed:
                out.append("AT" + name)
        return sorted(out)

    def timestamp(self, t: float) -> str:
        """27.005 time string "yy/MM/dd,hh:mm:ss+zz" of simulated time `t` (UTC)."""
        from datetime import timedelta

        moment = self.epoch + timedelta(seconds=t)
        return moment.strftime("%y/%m/%d,%H:%M:%S") + "+00"

    def state(self) -> dict[str, Any]:
        """A summary for logs and tests."""
        return {
            "mode": self.mode.value,
            "registration": self.net.stat,
            "cfun": self.net.cfun,
            "sms_stored": self.sms.stored_count(),
            "calls": len(self.calls.calls),
        }


def _call(fn: Callable[[], None]) -> None:
    fn()


_STATE_URCS = frozenset({"+CREG", "+CGREG", "+CEREG"})  # a fault burst's registration URCs: the state
_ID_ALIASES = frozenset({"+CCID", "+ICCID", "+QCCID"})
# +CME ERROR of a command that needs the SIM while it is locked; a blocked SIM (no PUK tries left): 13.
SIM_LOCK_ERRORS = {"SIM PIN": 11, "SIM PUK": 12}
# Answered while a module initialises (the rest of the extended commands answer +CME ERROR: 515).
_DURING_INIT = frozenset({"+CFUN", "+CMEE"})

# Command lines already parsed, by their text after "AT": a fleet's clients repeat a few lines
# (AT+CSQ, AT+CREG?...) and the commands are never changed once parsed.  Bounded: cleared when full.
_PARSED: dict[str, tuple[Cmd, ...]] = {}
_PARSED_MAX = 4096


def _parsed(body: str) -> tuple[Cmd, ...]:
    """`parse_line(body)`, kept in `_PARSED` (a line with a syntax error raises AtError each time)."""
    cmds = tuple(parse_line(body))
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[body] = cmds
    return cmds
