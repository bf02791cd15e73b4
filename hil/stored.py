"""What the bench SIM and module hold from before the run that would cost the bench, read before
its first SMS or call: call forwarding and the SMS centre.

Call forwarding (27.007 §7.11) is the network's: set on the SIM before the run (by another program,
a handset, `ATD**21*<n>#`), it has the network forward the calls made to the bench's SIM to a number
of its own, at the SIM's charge, whatever the run does.  The bench reads each reason
(`AT+CCFC=<reason>,2`: unconditional, busy, no reply, not reachable) and refuses to go on when an
active forward points to a number the allow-list does not allow calls to (`ForwardNotAllowed`).
The query goes to the network, so it is asked once the modem is registered.

The SMS centre (27.005 §3.3.1) is the module's or the SIM's: every message goes through it.  When
the allow-list names one (`sms_centre`), `AT+CSCA?` must read it (`SmsCentreNotAllowed`).

Both answers write their number in the TE character set (27.007 §5.5, §7.11; 27.005 §3.3.1): in
"UCS2" `+33699999999` comes as `002B0033...`, in "HEX" as `2B3333...` ("3636" is the number 66).
So the set is read first (`AT+CSCS?`) and each number read in it (`modem.safety.te_number`); a set in which a
number cannot be read for sure (a vendor's) refuses the run, as a number that cannot be read does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.allowlist import BenchAllowList, spellings_of
from hil.replay import Recording, is_replay, recording_of
from modem import safety
from modem.at import grammar
from modem.at.client import ATClient
from modem.at.errors import CommandError, ModemError

# 27.007 §7.11 <reason>: those a query names (4 "all" and 5 "all conditional" only set or erase)
FORWARD_REASONS: dict[int, str] = {0: "unconditional", 1: "busy", 2: "no reply", 3: "not reachable"}
CLASS_NAMES = {
    1: "voice",
    2: "data",
    4: "fax",
    8: "SMS",
    16: "data sync",
    32: "data async",
    64: "packet",
    128: "PAD",
}
SKIP_OPTION = "--no-forwarding-check"
FORWARDS_READ = "AT+CCFC=0,2"  # the first query (a replay checks when its recording did)
CENTRE_READ = "AT+CSCA?"
CHARSET_READ = "AT+CSCS?"  # before the others: the set their numbers are written in
CHARSETS_TEST = "AT+CSCS=?"  # the sets the module has, when the read tells none
# why the command guard refuses an SMS or a call before the check (`hil.bench.BenchContext.checks_stored`)
NOT_CHECKED = (
    "the SIM's call forwarding (and the allow-list's sms_centre) must be read before the run's first "
    "SMS or call, and was not, or was refused: a Python script sends through bench.send_sms, or "
    f"awaits bench.registered() or bench.stored_settings() before it texts or calls; {SKIP_OPTION} "
    "skips the forwarding read"
)
# why the pytest `modem` fixture's driver refuses an SMS or a call before the check
FIXTURE_NOT_CHECKED = (
    "the SIM's call forwarding must be read before a test's first SMS or call on a physical modem: "
    "await hil.stored.check_stored(modem.client, bench_policy, bench_allow_list) once registered, "
    f"or give {SKIP_OPTION}"
)


class ForwardNotAllowed(safety.SafetyError):
    """Call forwarding set on the bench's SIM to a number the allow-list does not allow calls to,
    or that cannot be read."""


class SmsCentreNotAllowed(safety.SafetyError):
    """The module's SMS centre is not the allow-list's `sms_centre`, or cannot be read."""


@dataclass(frozen=True, slots=True)
class Forward:
    """One active forward, as `AT+CCFC=<reason>,2` answered it."""

    reason: int
    klass: int
    number: str  # `+` added for a type of address 145

    def __str__(self) -> str:
        what = CLASS_NAMES.get(self.klass, f"class {self.klass}")
        return f"{FORWARD_REASONS[self.reason]} ({what}) to {self.number}"


async def read_charset(client: ATClient, read: bool = True, listed: bool = True) -> str | None:
    """The TE character set the module writes numbers in: read (`AT+CSCS?`) when `read`; when not,
    or when the module does not answer it OK or names no set, as the command guard knows it (set by
    the run).  When neither tells and `read` and `listed` (a replay whose recording did not: as
    recorded), the sets the module has (`AT+CSCS=?`): a module with none (ERROR to the read and to
    the list) or only sets in which a number's characters are themselves writes it as it is
    (None); one that has another ("HEX", "UCS2": "3636" may be 66) may be in it, and is refused.
    `SafetyError` when the set is not known so (an answer that cannot be read, a set not answered
    OK, a list answered OK naming no set, a module that has a set hiding digits)."""
    why = "is not known"
    refused = False  # the read answered ERROR (a module with no character sets does)
    if read:
        try:
            named = safety.parse_charset(list((await client.command(CHARSET_READ)).lines))
            if named is not None:
                return named
            why = f"was not named by the module ({CHARSET_READ} answered no +CSCS line)"
        except ValueError as exc:
            raise _charset_unread(client, f"could not be read ({CHARSET_READ}: {exc})") from None
        except ModemError as exc:
            why = f"could not be read ({CHARSET_READ}: {exc})"
            refused = isinstance(exc, CommandError)
    known = client.guard.charset if isinstance(client.guard, safety.CommandGuard) else None
    if known == "":
        raise _charset_unread(client, why if not read else f"{why} and is not known")
    if known is not None or not (read and listed):
        return known
    try:
        sets = safety.parse_charsets(list((await client.command(CHARSETS_TEST)).lines))
    except CommandError as exc:
        if refused:
            return None  # no character sets (ERROR to both): the module writes a number as it is
        # the read answered OK, or timed out: the module may have sets, in one that hides digits
        raise _charset_unread(client, f"{why}, nor its sets listed ({CHARSETS_TEST}: {exc})") from None
    except ModemError as exc:
        raise _charset_unread(client, f"{why}, nor its sets listed ({CHARSETS_TEST}: {exc})") from None
    if sets and sets <= safety.PLAIN_CHARSETS:
        return None  # only sets where a number's characters are themselves
    # 27.007 §5.5: a module with the command lists its sets; OK with none listed is no answer (a
    # module with no sets answers ERROR to both forms), and it may be in one that hides digits
    has = (
        f"lists {', '.join(sorted(sets))}"
        if sets
        else "answered a +CSCS line naming no set"
        if sets is not None
        else "answered OK listing no set (a module with none answers ERROR)"
    )
    raise _charset_unread(
        client,
        f"{why}, and the module ({CHARSETS_TEST}) {has}: it may be in a set that writes a number's "
        'digits otherwise (in "HEX", "3636" is 66)',
        '; have the script set AT+CSCS="IRA" (or "GSM") before it registers, texts or calls',
    )


def charset_read_recorded(recording: Recording, read: str = CHARSET_READ) -> bool:
    """Whether the recording's stored-settings step read the TE character set (`read`: `AT+CSCS?`, or
    the sets' list `AT+CSCS=?`, before its first forwarding or SMS centre read, wherever before it:
    other commands may come between): one made before it did not."""
    commands = [e.command.upper() for e in recording.exchanges]
    first = next((at for at, c in enumerate(commands) if c in (FORWARDS_READ, CENTRE_READ)), 0)
    return read in commands[:first]


def _charset_unread(client: ATClient, why: str, way_out: str = "") -> safety.SafetyError:
    return safety.SafetyError(
        f"{client.url}: the TE character set (AT+CSCS), in which the SIM's call forwarding and SMS "
        f"centre numbers are written, {why}: they cannot be checked{way_out}"
    )


def _number(fields: list[str], at: int, charset: str | None = None) -> str:
    """The number at `at`, read in `charset`, with its type of address after it: `+` added for 145
    (27.007 §7.11)."""
    number = safety.te_number(grammar.unquote(fields[at]), charset) if len(fields) > at else ""
    toa = fields[at + 1] if len(fields) > at + 1 else ""
    return "+" + number if toa == "145" and number and not number.startswith("+") else number


def parse_forwards(reason: int, lines: list[str], charset: str | None = None) -> list[Forward]:
    """The active forwards of a query's answer (`+CCFC: <status>,<class>[,<number>,<type>...]`),
    their numbers read in the TE character set `charset` (`modem.safety.te_number`); a line that cannot be read
    is a ValueError (a forward the bench cannot check is not allowed)."""
    out: list[Forward] = []
    for line in lines:
        if grammar.prefix_of(line) != "+CCFC":
            continue
        fields = grammar.fields_of(line)
        if len(fields) < 2 or not fields[0].isdigit() or not fields[1].isdigit():
            raise ValueError(f"{line!r} is not a +CCFC answer (<status>,<class>,...)")
        if fields[0] == "0":
            continue  # not active
        out.append(Forward(reason, int(fields[1]), _number(fields, 2, charset)))
    return out


async def read_forwards(client: ATClient, charset: str | None = None) -> list[Forward]:
    """Every active forward on the line, one query per reason, its number read in the TE character
    set `charset` (`read_charset`); a query the modem does not answer OK, or a number that cannot be
    read in it, raises `ForwardNotAllowed` (what is not read cannot be checked)."""
    found: list[Forward] = []
    for reason in FORWARD_REASONS:
        line = f"AT+CCFC={reason},2"  # (FORWARDS_READ first)
        try:
            reply = await client.command(line)
            found += parse_forwards(reason, list(reply.lines), charset)
        except (ModemError, ValueError) as exc:
            raise ForwardNotAllowed(
                f"{client.url}: call forwarding could not be read ({line}: {exc}), so a forward of the "
                "calls to the bench's SIM to a number off the allow-list, at its charge, cannot be ruled "
                f"out: check the SIM (registered, supplementary services) or give {SKIP_OPTION}"
            ) from None
    return found


def check_forwards(url: str, forwards: list[Forward], policy: safety.DialPolicy | None) -> None:
    """Refuse (`ForwardNotAllowed`) an active forward to a number the policy does not allow calls
    to: the network would forward the calls made to the bench's SIM there, at its charge."""
    for forward in forwards:
        try:
            if policy is None or not forward.number:
                raise safety.NumberNotAllowed(forward.number or "(no number)", "call")
            policy.check(forward.number, "call")
        except safety.NumberNotAllowed:
            erase = f"AT+CCFC={forward.reason},4"
            raise ForwardNotAllowed(
                f"{url}: call forwarding {forward} is set on the bench's SIM, and {forward.number or 'its number'} "
                "is not on the allow-list for calls: the network would forward the calls made to the "
                f"bench's SIM there, at its charge; erase it ({erase}, or AT+CCFC=4,4 for every forward), "
                f"list the number for calls, or give {SKIP_OPTION}"
            ) from None


async def check_sms_centre(
    client: ATClient, allow_list: BenchAllowList | None, charset: str | None = None
) -> str:
    """The module's SMS centre (`AT+CSCA?`, its number read in the TE character set `charset`),
    checked against the allow-list's `sms_centre` when it names one (`SmsCentreNotAllowed`);
    without one (a replay), only read."""
    wanted = allow_list.sms_centre if allow_list is not None else ""
    try:
        reply = await client.command(CENTRE_READ)
        answers = [line for line in reply.lines if grammar.prefix_of(line) == "+CSCA"]
        if len(answers) != 1:
            raise ValueError(f"expected one +CSCA line, got {list(reply.lines)}")
        centre = _number(grammar.fields_of(answers[0]), 0, charset)
        spellings = spellings_of(centre, allow_list.country_code if allow_list is not None else "33")
    except (ModemError, ValueError) as exc:
        raise SmsCentreNotAllowed(
            f"{client.url}: the SMS centre could not be read (AT+CSCA?: {exc}): every message goes "
            f"through it{f', and the allow-list names {wanted}' if wanted else ''}"
        ) from None
    if allow_list is not None and wanted and not spellings & allow_list.sms_centres:
        raise SmsCentreNotAllowed(
            f"{client.url}: the module's SMS centre is {centre} (AT+CSCA?), not the allow-list's "
            f"sms_centre {wanted} ({allow_list.source}): every message would go through another "
            'centre, at its own price; set it outside the bench (in a terminal, AT+CSCA="<number>",145 '
            "then AT+CSAS; the bench refuses AT+CSCA=) or correct the allow-list"
        )
    return centre


async def check_stored(
    client: ATClient,
    policy: safety.DialPolicy | None,
    allow_list: BenchAllowList | None = None,
    *,
    forwarding: bool = True,
    centre: bool | None = None,
    charset: bool = True,
    charsets: bool = True,
    info: dict[str, Any] | None = None,
) -> None:
    """Read and check what the SIM and module hold (`read_forwards` and `check_forwards` unless not
    `forwarding`; `check_sms_centre` when `centre`, by default when the allow-list names one), the
    modem registered; then let the client's command guard text and call (`CommandGuard.release`).
    Their numbers are read in the TE character set, read first (`read_charset`) unless not
    `charset` (a replay whose recording did not: then as the command guard knows it); the sets
    listed when the read names none unless not `charsets` (likewise).  On a replay each read goes
    only where its recording has it (`charset_read_recorded`), whatever was asked: a recording
    made before the check read the set or listed them, or without a forwarding or SMS centre
    read, replays as it was made.
    `info` gets what was read (`charset`, `forwards`, `sms_centre`)."""
    info = {} if info is None else info
    if centre is None:
        centre = allow_list is not None and bool(allow_list.sms_centre)
    if is_replay(client.url):
        # a replay reads as its recording did (it texts and calls no one), a pytest test's own
        # call as much as a run's: one made before the check read the set or listed the sets, or
        # with no forwarding or centre read, has no such read to answer
        recording = recording_of(client.url)
        recorded = {e.command.upper() for e in recording.exchanges}
        forwarding = forwarding and FORWARDS_READ in recorded
        centre = centre and CENTRE_READ in recorded
        charset = charset and charset_read_recorded(recording)
        charsets = charsets and charset_read_recorded(recording, CHARSETS_TEST)
    chset = None
    if forwarding or centre:
        chset = info["charset"] = await read_charset(client, charset, charsets)
    if forwarding:
        forwards = await read_forwards(client, chset)
        info["forwards"] = [str(f) for f in forwards]
        check_forwards(client.url, forwards, policy)
    if centre:
        info["sms_centre"] = await check_sms_centre(client, allow_list, chset)
    if isinstance(client.guard, safety.CommandGuard):
        client.guard.release()
