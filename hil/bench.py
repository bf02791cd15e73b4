"""Run one bench script on one modem: open, initialise, run, record, price.

    result = await run_bench("sms_roundtrip", "/dev/ttyUSB2", allow_list=load_allow_list("bench.yaml"),
                             profile="simcom-sim800")
    result.status              # passed / failed / refused / skipped
    result.write("runs/bench") # transcript.jsonl, report.json, report.txt

Safety: every SMS and call is checked against the bench's `modem.safety` policy twice, by the
harness (`BenchContext.check`, which also writes the refusal to the transcript) and by the driver.
On a physical modem (any URL that is not `virtual://` or `replay://`), a script that texts or calls
refuses to start without an allow-list (`modem.safety.NoDialPolicy`), before a byte is written.
A `replay://transcript.jsonl` modem (`hil.replay`) answers as the recorded one did; it sends
nothing anywhere, so without an allow-list it texts and calls the numbers the recording used.
The script's parameters default to the recording's (those given still win).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accounting.records import Dest, Zone
from accounting.zones import zone_of_plmn
from hil import stored
from hil.allowlist import BenchAllowList, destination_of
from hil.errors import HilError, ModemRestarted, NotRegistered, ScriptParamError, ScriptSkipped
from hil.recording import RecordingClient, RecordingTransport
from hil.replay import (
    Recording,
    ReplayError,
    ReplayTransport,
    is_replay,
    open_replay,
    recorded_field_error,
    recording_of,
    split_url,
)
from hil.report import DEFAULT_COMMITMENT, DEFAULT_OFFER, DEFAULT_PLAN, estimate_cost
from hil.restarts import BOOT_URCS, RestartWatch
from hil.result import BenchResult
from hil.scripts import BenchScript, get_script
from hil.transcript import Transcript, is_transcript
from hil.usage import BenchUsage, SmsUse, usage_records
from hil.virtual import VIRTUAL_FAR_END, VirtualBinding, open_bound_virtual
from m2msim.outputs import OutputError, refuse_foreign, same_path
from modem import safety
from modem.at import grammar
from modem.at.client import ATClient, ForeignNotice
from modem.at.errors import ModemError, UntrustedAnswer
from modem.drivers.generic import Modem
from modem.drivers.network import Registration
from modem.drivers.profile import DriverProfile, DriverProfileError, load_driver_profile
from modem.sms import SmsCodecError
from modem.sms.textmode import parse_cmgs
from modem.transport import Transport
from modem.transports import open_transport
from modem.virtual.transport import parse_virtual_url

if TYPE_CHECKING:
    from hil.delivery import StatusReports

log = logging.getLogger(__name__)


TRANSCRIPT = "transcript.jsonl"
DEFAULT_TIMEOUT = 5.0  # seconds per AT command
RELEASE_S = 1.5  # the most the clean-up on the way out may take (a signal must end the run in 2 s)
RELEASE_COMMANDS = (("ATH", "AT+CHUP"), ("AT+CGACT=0",))  # hang up (or the 3GPP form); PDP off


def _note_untrusted(transcript: Transcript, why: str) -> None:
    """A line that answered none of the bench's commands: noted with what a replay plays again
    (`foreign`, its `foreign_kind`, and `during`, the command it came during)."""
    extra: dict[str, Any] = {}
    if isinstance(why, ForeignNotice):
        extra = {"foreign": why.line, "foreign_kind": why.kind, "during": why.command}
    transcript.record("note", text=str(why), untrusted=True, **extra)


def _interruption(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)


async def release(ctx: BenchContext, why: str) -> None:
    """Hang up any call and deactivate the PDP contexts, as the run leaves (failure or
    interruption): nothing stays connected, and billed, after the bench.  Each command is written
    to the transcript; refusals are noted, and the whole takes at most `RELEASE_S` seconds."""
    with contextlib.suppress(TimeoutError), ctx.step("release", reason=why):
        await release_lines(ctx.modem.client, ctx.note)


async def release_lines(client: ATClient, note: Callable[[str], object]) -> None:
    """`RELEASE_COMMANDS` (a hang-up, then the PDP contexts off), each form until one is answered;
    a refusal is `note`d.  Raises TimeoutError once `RELEASE_S` seconds have gone."""
    async with asyncio.timeout(RELEASE_S):
        for forms in RELEASE_COMMANDS:
            for line in forms:
                try:
                    await client.command(line, timeout=RELEASE_S / 2)
                    break
                except ModemError as exc:
                    note(f"{line} on the way out: {exc}")


async def end_checks(client: ATClient, note: Callable[[str], object]) -> None:
    """What a run that went to its end checks before its verdict.  A module the script's last
    line powered off (AT+CPOWD, AT+QPOWD) is left off, with a note: nothing more is sent to it.
    Otherwise a restart its last line asked for (AT+CFUN=1,1; AT+CFUN=1 on a Wavecom) is waited for
    and the bench's settings set again and checked (`ATClient.settle`), as before any further
    command: the module left as the bench set it, and the checks below read a module that came
    back, not one still booting.  (A restart nothing asked for fails the run whatever follows:
    `hil.restarts`.)  Then a restart that left no other
    sign (no RDY, echo off in its stored profile, no command timed out) shows in a setting the
    initialisation made, back as at power-up; and, echo off, another program's command answered
    just before the client's last one shows by the client's own answer coming late, which a
    register read brings out (not on the virtual modem; a replay as its recording did)."""
    off = client.powered_down
    if off is not None:
        note(f"the modem was powered off by {off!r}: left off, its settings not set again")
        return
    await client.settle()
    await client.check_settings()
    if not safety.is_virtual(client.url):
        await client.check_trust()


def checks_auto_answer(url: str, policy: safety.DialPolicy | None, replaying: ReplayTransport | None) -> bool:
    """Whether the run (or the pytest plugin's `modem`) first has the modem answer no call by
    itself (`Calls.auto_answer_off`): on a physical modem whose allow-list does not say
    `incoming_calls: yes`, and on a replay whose recording did (its `ATS0?`)."""
    if replaying is not None:
        return any(e.command.upper() == "ATS0?" for e in replaying.recording.exchanges)
    return safety.is_physical(url) and not safety.incoming_calls(policy)


def _checks_stored(url: str, replaying: ReplayTransport | None, read: str) -> bool:
    """Whether the run reads a stored setting (`hil.stored`, by its first command `read`): on a
    physical modem, and on a replay whose recording did."""
    if replaying is not None:
        return any(e.command.upper() == read for e in replaying.recording.exchanges)
    return safety.is_physical(url)


def _refuse_unchecked_replay(url: str, recording: Recording) -> None:
    """`ReplayError` for a replay told to skip the forwarding check (`--no-forwarding-check`) of a
    recording that made it: the replay follows its recording, which goes on with the check's reads,
    and would fail at the next command, not saying why."""
    read = next((e for e in recording.exchanges if e.command.upper() == stored.FORWARDS_READ), None)
    if read is not None:
        raise ReplayError(
            f"{url}: the recording read the SIM's call forwarding ({stored.FORWARDS_READ}, line "
            f"{read.line}) and {stored.SKIP_OPTION} skips that read, so the replay would not follow it "
            f"from there; a replay checks as its recording did (it texts and calls no one): replay it "
            f"without {stored.SKIP_OPTION}, or replay a run recorded with it"
        )


async def no_auto_answer(ctx: BenchContext) -> None:
    """Auto-answer off for the run (`Calls.auto_answer_off`: `ATS0?`, `ATS0=0` unless it reads 0,
    and again after any ATZ / AT&F), as an `auto-answer` step: the command guard refuses a script's
    `ATS0=<n>`, but a module whose stored profile (AT&W) holds S0 > 0 starts answering calls by
    itself (a data call so answered connects whoever calls to the serial line; an answered call is
    billed when roaming).  A module that was set so is noted."""
    with ctx.step("auto-answer") as info:
        s0 = await ctx.modem.calls.auto_answer_off()
        info["s0"] = s0
        if s0 != 0:
            said = f"answered calls by itself (S0={s0})" if s0 is not None else "did not read S0 as a number"
            ctx.note(
                f"the modem {said}: set ATS0=0 for the run (not stored), and again after any ATZ or "
                "AT&F; the allow-list's incoming_calls: yes leaves it as it is"
            )


def driver_profile_for(url: str, profile: str | Path | DriverProfile | None) -> DriverProfile:
    """The driver profile: the one given, else the `virtual://PROFILE`'s, else the generic one."""
    if isinstance(profile, DriverProfile):
        return profile
    if profile is not None:
        return load_driver_profile(profile)
    inner = url
    while inner.startswith("spy://"):
        inner = inner[len("spy://") :]
    if inner.startswith("virtual://"):
        # the URL read as the virtual modem reads it: `virtual://` without a profile is refused
        # naming the URL (it was loaded as the profile file '.')
        return load_driver_profile(parse_virtual_url(inner).profile)
    if is_replay(inner):
        return recorded_profile(recording_of(inner))
    return DriverProfile()


def recorded_profile(recording: Recording) -> DriverProfile:
    """The driver profile a recording ran with: the defaults when none was given (a physical modem
    without --profile: they are not the shipped `generic` profile's), else the named profile, else
    the recorded profile file."""
    defaults = DriverProfile()
    if recording.profile_source == defaults.source or not recording.profile:
        return replace(defaults, name=recording.profile or defaults.name)
    try:
        try:
            return load_driver_profile(recording.profile)
        except DriverProfileError:
            if recording.profile_source and Path(recording.profile_source).is_file():
                return load_driver_profile(recording.profile_source)  # a profile file of the bench's own
            raise
    except DriverProfileError as exc:  # the recording names it: say which recording
        raise recorded_field_error(recording, "profile", exc) from None


def preflight(
    script: BenchScript, url: str, allow_list: BenchAllowList | None, params: Mapping[str, Any]
) -> None:
    """Refuse, before opening anything, a texting or calling script on a physical modem with no
    allow-list (`NoDialPolicy`), or with nothing to text or call (`ScriptParamError`)."""
    if not script.needs or safety.is_virtual(url) or is_replay(url):
        return
    if allow_list is None:
        needs = " and ".join("send SMS" if n == "sms" else "place calls" for n in sorted(script.needs))
        raise safety.NoDialPolicy(
            f"{url}: script {script.name} would {needs} on a physical modem, and no bench allow-list "
            "was given (--allow-list FILE): refusing to start"
        )
    for action in sorted(script.needs):
        if not params.get("to") and allow_list.first(action) is None:
            raise ScriptParamError(
                f"{allow_list.source}: no number allowed for {action}; script {script.name} needs one "
                "(or --param to=NUMBER, which must be on the list)"
            )


def _parts_accepted(commands: list[dict[str, Any]]) -> tuple[int, list[int]]:
    """The parts of a message the network took, from the transcript's commands: the AT+CMGS
    answered OK, and the message references their answers gave (`+CMGS: <mr>`)."""
    parts, refs = 0, []
    for c in commands:
        if not c["command"].upper().startswith("AT+CMGS") or c.get("final") != "OK":
            continue
        parts += 1
        for line in c.get("responses") or ():
            if grammar.prefix_of(str(line)) == "+CMGS":
                with contextlib.suppress(SmsCodecError):  # a garbled <mr>: the part counted, no reference
                    refs.append(parse_cmgs(str(line))[0])
    return parts, refs


@dataclass
class BenchContext:
    """What a script works with: the driver, the transcript, the safety policy and the usage tally."""

    script: BenchScript
    url: str
    modem: Modem
    transcript: Transcript
    params: dict[str, Any]
    allow_list: BenchAllowList | None = None
    policy: safety.DialPolicy | None = None
    binding: VirtualBinding | None = None
    usage: BenchUsage = field(default_factory=BenchUsage)
    recorded_targets: Mapping[str, str] = field(default_factory=dict)  # replay: the numbers used
    cut_short: str | None = None  # a message whose send was cancelled between parts, said in the error
    replay: ReplayTransport | None = None  # a replayed modem: its recording's times are the modem's
    # what the SIM and module hold from before the run that would cost the bench (`hil.stored`),
    # checked once on a physical modem, before its first SMS or call: call forwarding (unless
    # `--no-forwarding-check`) and, when the allow-list names one, the SMS centre
    forwarding_check: bool = False
    sms_centre_check: bool = False
    stored_checked: bool = False

    @property
    def virtual(self) -> bool:
        return safety.is_virtual(self.url)

    @property
    def time_scale(self) -> float:
        """The network's seconds for each of the bench's: a virtual modem's `speed`, else 1."""
        return self.binding.speed if self.binding is not None else 1.0

    def since(self, t0: float) -> float:
        """Seconds of the network's clock since `t0` of the bench's monotonic clock."""
        return (time.monotonic() - t0) * self.time_scale

    @property
    def client(self) -> RecordingClient:
        client = self.modem.client
        assert isinstance(client, RecordingClient)
        return client

    def step(self, name: str, **fields: Any) -> AbstractContextManager[dict[str, Any]]:
        return self.transcript.step(name, **fields)

    def note(self, text: str, **fields: Any) -> None:
        self.transcript.record("note", text=text, **fields)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def modem_time(self) -> datetime:
        """The time of the modem's world, to set against the times it reports (a status report's
        service centre time stamp): now, or on a replayed modem the recorded time of the place the
        replay is at, so that a recording replays as it ran, whenever it is replayed."""
        recorded = self.replay.recorded_now() if self.replay is not None else None
        return recorded if recorded is not None else self.now()

    def check(self, number: str, action: safety.Action) -> None:
        """The safety rules for one send or call; a refusal is written to the transcript and raised."""
        try:
            safety.check(self.modem.client.url, self.policy, number, action)
        except safety.SafetyError as exc:
            self.transcript.record("refused", action=action, number=number, reason=str(exc))
            raise

    def target(self, action: safety.Action, param: str = "to") -> str:
        """The number to text or call: the `to` parameter, else the allow-list's first number for the
        action, else on the virtual modem its own number for SMS (the network loops it back) and
        `VIRTUAL_FAR_END` for calls."""
        given = str(self.params.get(param) or "")
        if given:
            return given
        if self.allow_list is not None:
            entry = self.allow_list.first(action)
            if entry is not None:
                return entry.e164
        if self.binding is not None:
            return self.binding.msisdn if action == "sms" else VIRTUAL_FAR_END
        if action in self.recorded_targets:
            return self.recorded_targets[action]
        raise ScriptParamError(
            f"script {self.script.name}: no number to {'text' if action == 'sms' else 'call'}: "
            f"give --param {param}=NUMBER or an allow-list entry allowing {action}"
        )

    async def send_sms(
        self,
        number: str,
        text: str,
        *,
        status_report: bool,
        zone: Zone,
        reports: StatusReports | None = None,
    ) -> list[int]:
        """Send a text with the driver (split in parts when long) and count it in the usage; returns
        the message references.  `reports`: the status reports the message waits for, told the
        number and when each part went (`StatusReports.sending`, `part_sent`: the modem's time as
        each part's `AT+CMGS` is answered), a report being set against its own part's time.
        When a part fails (+CMS ERROR after the network took the first
        ones, a part answered OK with no `+CMGS: <mr>`), the parts the network took are counted all
        the same, as the operator bills them, with a note, and the error is raised: each AT+CMGS
        answered OK, whether its answer gave a message reference or not.  A part whose AT+CMGS timed
        out is not counted, though the network may have taken it.  So when the send is cancelled
        (a script's timeout, an interruption) between parts: those sent are counted, noted, and the
        run's error says the message was cut short (`cut_short`)."""
        await self.stored_settings()
        started = self.now()
        mark = len(self.transcript.commands)
        if reports is not None:
            reports.sending(number, self.modem_time())

        def on_part(ref: int) -> None:
            if reports is not None:
                reports.part_sent(ref, self.modem_time())

        try:
            refs = await self.modem.sms.send(number, text, status_report=status_report, on_part=on_part)
        except BaseException as exc:
            parts, refs = _parts_accepted(self.transcript.commands[mark:])
            if parts:
                self.usage.sms.append(SmsUse(started, number, self.dest_of(number), parts, tuple(refs), zone))
            if isinstance(exc, asyncio.CancelledError):
                self.cut_short = (
                    f"the message to {number} was cut short after {parts} part(s) sent (counted), "
                    "the rest not sent"
                )
                self.note(self.cut_short)
            elif parts:
                self.note(f"{parts} part(s) of the message were sent before the failure: counted")
            raise
        self.usage.sms.append(SmsUse(started, number, self.dest_of(number), len(refs), tuple(refs), zone))
        return refs

    def dest_of(self, number: str) -> Dest:
        if self.allow_list is not None:
            entry = self.allow_list.find(number)
            if entry is not None:
                return entry.dest
        return destination_of(number, self.allow_list.country_code if self.allow_list else "33")

    async def serving_zone(self) -> Zone:
        """The tariff zone of a data session opened now, or an SMS sent or a call made now: the
        network's the modem is registered on (AT+COPS? read as MCC+MNC, `accounting.zones`), as the
        operator rates them by where they were made.  A modem that cannot tell, and a recording made before the bench read it, leave
        the registration: home is `fr`; roaming somewhere not known is noted and rated `fr`."""
        with self.step("serving-network") as info:
            try:
                plmn = await self.modem.network.serving_plmn()
            except (ModemError, ReplayError, TimeoutError) as exc:
                plmn = None
                info["error"] = f"{type(exc).__name__}: {exc}"
            info["plmn"] = plmn
            if plmn is not None:
                zone = zone_of_plmn(plmn)
            else:
                roaming = any(r.roaming for r in self.modem.network.registrations.values())
                zone = Zone.FR
                if roaming:
                    self.note("roaming on a network the modem did not name: its usage is rated fr")
            info["zone"] = zone.value
        return zone

    async def registered(self, timeout: float) -> Registration:
        """Turn on registration URCs and wait until the modem is registered (home or roaming)."""
        network = self.modem.network
        with self.step("registration", timeout_s=timeout) as info:
            await network.enable_registration_urcs()
            try:
                reg = await network.wait_registered(timeout)
            except TimeoutError:
                states = ", ".join(f"{r.kind} {r.stat} ({r.state})" for r in network.registrations.values())
                raise NotRegistered(f"not registered after {timeout:g} s: {states or 'no answer'}") from None
            info.update(registration=reg.kind, stat=reg.stat, state=reg.state)
        await self.stored_settings()
        return reg

    async def stored_settings(self) -> None:
        """Once per run, on a physical modem, once registered (the forwarding query goes to the
        network) and before its first SMS or call: a `stored-settings` step refusing the run
        (`hil.stored.ForwardNotAllowed`, `SmsCentreNotAllowed`) when the SIM forwards calls to a
        number off the allow-list, or the SMS centre is not the allow-list's `sms_centre`."""
        if self.stored_checked or not self.checks_stored:
            return
        with self.step("stored-settings") as info:
            await stored.check_stored(
                self.modem.client,
                self.policy,
                self.allow_list,
                forwarding=self.forwarding_check,
                centre=self._checks_centre,
                info=info,
            )
        # only once passed: a script that caught the refusal still has its SMS and calls refused
        self.stored_checked = True

    @property
    def _checks_centre(self) -> bool:
        named = self.allow_list is not None and bool(self.allow_list.sms_centre)
        return self.sms_centre_check and (named or self.replay is not None)

    @property
    def checks_stored(self) -> bool:
        """Whether the run reads what the SIM and module hold (`stored_settings`) before its first
        SMS or call; until it has, the command guard refuses every line that texts or calls
        (`modem.safety.CommandGuard.hold`), whichever way a script sends it."""
        return self.forwarding_check or self._checks_centre


async def run_bench(
    script: str | BenchScript,
    url: str,
    *,
    allow_list: BenchAllowList | None = None,
    profile: str | Path | DriverProfile | None = None,
    params: Mapping[str, Any] | None = None,
    offer: str = DEFAULT_OFFER,
    plan: str = DEFAULT_PLAN,
    commitment: int = DEFAULT_COMMITMENT,
    timeout: float | None = None,
    transport: Transport | None = None,
    transport_options: Mapping[str, Any] | None = None,
    raw: bool = False,
    out: Path | None = None,
    check_forwarding: bool = True,
) -> BenchResult:
    """Run a bench script on the modem at `url` (or on `transport`, whose URL then counts).

    `timeout`: seconds per AT command (default `DEFAULT_TIMEOUT`; a replayed modem's, the recording's).
    `raw`: also record every chunk of bytes both ways (`tx` / `rx` events).
    `out`: a writable folder; the transcript is streamed to `out/transcript.jsonl` as it happens.
    `check_forwarding`: False skips reading the SIM's call forwarding on a physical modem
    (`hil.stored`; `--no-forwarding-check`).

    On a failure, an interruption (cancellation: SIGINT / SIGTERM) or any error after the modem
    was opened, calls are hung up and PDP contexts deactivated (`release`) before the modem is
    closed, within `RELEASE_S` seconds; an interruption is then re-raised.

    Raises before touching the modem for unusable input: `UnknownScript`, `ScriptParamError`,
    `DriverProfileError`, `NoDialPolicy` (physical modem, texting script, no allow-list),
    `OutputError` (`out` cannot be written, holds the recording being replayed, or a transcript's
    name there is a file m2msim did not write),
    `TransportError` (the URL cannot be opened; `ReplayError`: a replay not `check_forwarding` of a
    recording that read the forwarding).  Everything the modem does afterwards, including
    refusals of the safety rules, ends in the result's `status`.
    """
    bench_script = script if isinstance(script, BenchScript) else get_script(script)
    if transport is not None:
        url = transport.url
    given = dict(params or {})
    if is_replay(url) and transport is None:
        # a recording replays with the parameters it was recorded with, unless given otherwise
        recording = recording_of(url)
        if recording.script == bench_script.name:
            recorded = {
                k: v for k, v in recording.params.items() if k in bench_script.params and k not in given
            }
            try:
                bench_script.resolve(recorded)
            except ScriptParamError as exc:  # an edited recording: name it, not the command line
                raise recorded_field_error(recording, "params", exc) from None
            given = {**recorded, **given}
        if timeout is None and recording.timeout is not None:
            timeout = recording.timeout  # a command that timed out then times out as soon again
        if not check_forwarding:
            _refuse_unchecked_replay(url, recording)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    values = bench_script.resolve(given)
    driver = driver_profile_for(url, profile)
    preflight(bench_script, url, allow_list, values)
    policy: safety.DialPolicy | None = allow_list.policy() if allow_list is not None else None
    if policy is None and is_replay(url):
        policy = safety.AllowAll()  # a recording texts and calls no one

    if out is not None and is_replay(url) and same_path(split_url(url)[0], Path(out) / TRANSCRIPT):
        raise OutputError(
            f"{Path(out) / TRANSCRIPT}: is the recording being replayed; write the replay's run elsewhere"
        )
    if out is not None:
        # (the file was emptied as the transcript began, whatever it held: a user's file under that
        # name in the pytest plugin's --bench-out, or given to the Python API; `m2msim bench` refuses
        # any earlier transcript before this)
        refuse_foreign(Path(out) / TRANSCRIPT, is_transcript, forceable=False)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    # The transcript file exists before the first byte goes to the modem: a bench whose output
    # cannot be written never texts or calls.
    transcript = Transcript(started=started, path=Path(out) / TRANSCRIPT if out is not None else None)
    with transcript:  # closed (the file complete up to here) however the run ends
        transcript.record(
            "open",
            url=url,
            script=bench_script.name,
            profile=driver.name,
            profile_source=driver.source,
            timeout=timeout,
            params=values,
            allow_list=allow_list.source if allow_list else None,
        )
        binding: VirtualBinding | None = None
        replaying: ReplayTransport | None = None
        targets: dict[str, str] = {}
        try:
            if transport is None:
                if is_replay(url):
                    transport, replaying = open_replay(url)
                    targets = replaying.recording.targets
                elif safety.is_virtual(url):
                    transport, binding = await open_bound_virtual(url, bench_script.network_offer)
                    far_ends = [VIRTUAL_FAR_END, *(e.e164 for e in allow_list or () if "call" in e.actions)]
                    if values.get("to"):
                        far_ends.append(str(values["to"]))
                    binding.answer(far_ends)
                else:
                    transport = await open_transport(url, **dict(transport_options or {}))
        except BaseException as exc:
            transcript.record("end", status="interrupted" if _interruption(exc) else "failed", error=str(exc))
            raise
        if raw:
            transport = RecordingTransport(transport, transcript)
        client = RecordingClient(transport, transcript, timeout=timeout)
        client.start()
        modem = Modem(client, driver, policy)
        ctx = BenchContext(bench_script, url, modem, transcript, values, allow_list, policy, binding)
        ctx.recorded_targets = targets
        ctx.replay = replaying
        # on a replay, as the recording did
        ctx.forwarding_check = check_forwarding and _checks_stored(url, replaying, stored.FORWARDS_READ)
        ctx.sms_centre_check = _checks_stored(url, replaying, stored.CENTRE_READ)
        if ctx.checks_stored and isinstance(client.guard, safety.CommandGuard):
            client.guard.hold(stored.NOT_CHECKED)
        status, error, error_type = "passed", None, None
        details: dict[str, Any] = {}
        restarts = RestartWatch(transcript, client.restarts_module)
        # another program writing to the modem (ModemManager probing the port): noted as it shows
        client.on_untrusted(lambda why: _note_untrusted(transcript, why))
        try:
            with transcript.step("initialise"):
                await client.initialise()
            # the modem has answered: a boot URC from now on is a restart, and so is its echo back on
            client.subscribe(restarts, BOOT_URCS)
            client.on_restart(restarts.silent)
            if checks_auto_answer(url, policy, replaying):
                await no_auto_answer(ctx)
            details = await bench_script.run(ctx)
            await end_checks(client, ctx.note)
        except ScriptSkipped as exc:
            status, error, error_type = "skipped", str(exc), type(exc).__name__
        except safety.SafetyError as exc:
            status, error, error_type = "refused", str(exc), type(exc).__name__
        except (
            ModemError,
            HilError,
            TimeoutError,
            ValueError,
        ) as exc:  # ValueError: a driver refused an input
            status, error, error_type = "failed", str(exc) or "timed out", type(exc).__name__
            if ctx.cut_short is not None:
                error = f"{error}; {ctx.cut_short}"
            await release(ctx, "failed")
        except BaseException as exc:  # interrupted (SIGINT / SIGTERM cancel the run) or a bug: clean up
            why = "interrupted" if _interruption(exc) else "failed"
            transcript.record("interrupted" if why == "interrupted" else "error", error=type(exc).__name__)
            await release(ctx, why)
            transcript.record("end", status=why, error_type=type(exc).__name__)
            raise
        finally:
            await modem.close()
        untrusted = client.untrusted
        if untrusted is not None and status in ("passed", "skipped"):
            status, error, error_type = "failed", untrusted, UntrustedAnswer.__name__
        elif untrusted is not None and error is not None and untrusted not in error:
            error = f"{error}; {untrusted}"  # the likely cause of the failure, said beside it
        restarted = restarts.reason()
        if restarted is not None and status == "passed":
            status, error, error_type = "failed", restarted, ModemRestarted.__name__
        elif restarted is not None and status == "failed":
            error = f"{error}; {restarted}"  # the likely cause of the failure, said beside it
        if error is not None:
            transcript.record("end", status=status, error=error, error_type=error_type)
            log.info("%s on %s: %s: %s", bench_script.name, url, status, error)
        else:
            transcript.record("end", status=status)
        line = binding.line if binding is not None else "bench"
        result = BenchResult(
            script=bench_script.name,
            url=url,
            profile=driver.name,
            status=status,
            started=started,
            duration_s=time.monotonic() - t0,
            transcript=transcript,
            usage=ctx.usage,
            details=details,
            error=error,
            error_type=error_type,
            params=values,
            allow_list=allow_list.source if allow_list else None,
            line=line,
            recoveries=client.recoveries,
            time_scale=binding.speed if binding is not None else 1.0,
        )
        result.records = usage_records(ctx.usage, line, time_scale=result.time_scale)
        result.estimate = estimate_cost(
            result.records, line=line, offer=offer, plan=plan, commitment=commitment, when=started
        )
        if binding is not None:
            result.network_records = binding.close()
            result.network_estimate = estimate_cost(
                result.network_records, line=line, offer=offer, plan=plan, commitment=commitment, when=started
            )
        return result
