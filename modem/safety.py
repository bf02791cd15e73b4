"""Bench safety: no SMS, call or data call to a number the bench has not allowed.

Every driver call that sends an SMS or places a call asks a `DialPolicy` first.  The bench harness
passes its allow-list (`AllowList`); on the virtual modem (a `virtual://` URL, possibly under
`spy://`) the policy may be omitted, since nothing leaves the process.  On any other transport a
missing policy is refused with `NoDialPolicy`: a physical modem never dials by default.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn, Protocol, TypeVar, cast

from modem.at import grammar
from modem.at.errors import ModemError

log = logging.getLogger(__name__)

Action = Literal["sms", "call", "csd"]
ACTIONS: frozenset[str] = frozenset({"sms", "call", "csd"})
_SEPARATORS = re.compile(r"[\s\-().]")
_NUMBER = re.compile(r"\+?[0-9*#]+")


class SafetyError(ModemError):
    """A send or a call refused by the bench's safety rules."""


class NumberNotAllowed(SafetyError):
    """The number is not on the allow-list for that action."""

    def __init__(self, number: str, action: str) -> None:
        super().__init__(f"{action} to {number!r} refused: not on the bench's allow-list")
        self.number = number
        self.action = action


class NoDialPolicy(SafetyError):
    """No allow-list was given for a transport that reaches a physical modem."""


class ReadOnlyPolicy(SafetyError, AttributeError):
    """An attempt to change an allow-list, or a command guard's rules, once built: a bench script
    that widened the list in place would text or call whoever it added."""


class ReadOnly:
    """Attributes set once, in `__init__` (with `object.__setattr__`), then read-only: setting or
    deleting one raises `ReadOnlyPolicy`.  Subclasses declare `__slots__` (no `__dict__` to write
    into past the check) and hold only immutable values (frozensets, tuples, `FrozenMapping`)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise ReadOnlyPolicy(
            f"{type(self).__name__}.{name} is read-only: the bench's allow-list is fixed once loaded"
        )

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyPolicy(
            f"{type(self).__name__}.{name} is read-only: the bench's allow-list is fixed once loaded"
        )


_K = TypeVar("_K")
_V = TypeVar("_V")


class FrozenMapping(Mapping[_K, _V]):
    """A read-only copy of a mapping (over `types.MappingProxyType`): item assignment and deletion
    raise `ReadOnlyPolicy`."""

    __slots__ = ("_items",)
    _items: MappingProxyType[_K, _V]

    def __init__(self, items: Mapping[_K, _V]) -> None:
        object.__setattr__(self, "_items", MappingProxyType(dict(items)))

    def __getitem__(self, key: _K) -> _V:
        return self._items[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FrozenMapping({dict(self._items)!r})"

    def __setitem__(self, key: _K, value: _V) -> NoReturn:
        raise ReadOnlyPolicy(f"{key!r}: the bench's allow-lists are read-only once loaded")

    def __delitem__(self, key: _K) -> NoReturn:
        raise ReadOnlyPolicy(f"{key!r}: the bench's allow-lists are read-only once loaded")

    def __setattr__(self, name: str, value: object) -> None:
        raise ReadOnlyPolicy(f"FrozenMapping.{name} is read-only")

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyPolicy(f"FrozenMapping.{name} is read-only")


def normalise_number(number: str) -> str:
    """`+33 6 12-34-56-78` -> `+33612345678`; `0033...` -> `+33...`; raises ValueError if not a number."""
    return _read_number(number)[0]


def listed_number(number: str) -> str:
    """A number as an allow-list lists it, normalised; raises ValueError for what is not one number:
    `*` and `#` (a wildcard to whoever wrote it, a supplementary-service or USSD code to the
    network: `**21*...#` forwards every call, `*100#` is USSD) besides what `normalise_number` refuses."""
    canonical = normalise_number(number)
    wild = next((ch for ch in canonical if ch in "*#"), None)
    if wild is not None:
        raise ValueError(
            f"{number!r} holds {wild!r}: an allow-list has no wildcards (list each number), and * and # "
            "make supplementary-service and USSD codes, which a bench never sends"
        )
    return canonical


def _list_entry(number: str, field: str) -> str:
    """`listed_number`, its error naming the `AllowList` argument it came in."""
    try:
        return listed_number(number)
    except ValueError as exc:
        raise ValueError(f"AllowList {field}: {exc}") from None


def _read_number(number: str) -> tuple[str, bool]:
    """The number normalised, and whether it was written with `00` for `+` (the home country's
    international prefix, not every country's); raises ValueError if not a number."""
    text = _SEPARATORS.sub("", number.strip())
    with_00 = text.startswith("00")
    if with_00:
        text = "+" + text[2:]
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a phone number: {number!r}")
    return text, with_00


class DialPolicy(Protocol):
    """Decides whether an SMS, a voice call or a data call to a number may go out.

    A policy may also carry `allow_commands` (command names): what the bench lets its command guard
    pass besides the commands known to be safe (`policy_commands`)."""

    def check(self, number: str, action: Action) -> None:
        """Return if allowed; raise `NumberNotAllowed` otherwise."""
        ...


class AllowList(ReadOnly):
    """An explicit list of numbers (any common spelling), optionally per action, and the commands
    the bench lets its command guard pass besides those known to be safe (`allow_commands`).

    Read-only once built (`ReadOnly`): a script cannot add a number to the list it is checked by.
    Each number is read by `listed_number`, as the file loaders read theirs: one with `*` or `#`
    (a supplementary-service or USSD code, `**21*<n>#`, `*100#`) raises ValueError."""

    __slots__ = ("actions", "allow_commands", "home_only", "incoming_calls", "numbers")
    numbers: frozenset[str]
    actions: frozenset[str]
    allow_commands: tuple[str, ...]
    incoming_calls: bool  # auto-answer (ATS0=<n>, n > 0) may be set
    home_only: frozenset[str]  # national spellings of listed numbers: the same subscriber only at home

    def __init__(
        self,
        numbers: Iterable[str],
        actions: Iterable[str] = ACTIONS,
        allow_commands: Iterable[str] = (),
        home_only: Iterable[str] = (),
        *,
        incoming_calls: bool = False,
    ) -> None:
        # `listed_number`, the loaders' rule too: a list built in code lists no `*`/`#` code either
        listed = frozenset(_list_entry(n, "numbers") for n in numbers)
        wanted = frozenset(actions)
        unknown = wanted - ACTIONS
        if unknown:
            raise ValueError(f"unknown actions {sorted(unknown)}; known: {sorted(ACTIONS)}")
        init = object.__setattr__
        init(self, "numbers", listed)
        init(self, "actions", wanted)
        init(self, "allow_commands", tuple(command_name(c) for c in allow_commands))
        init(self, "incoming_calls", incoming_calls is True)
        init(self, "home_only", frozenset(_list_entry(n, "home_only") for n in home_only) - listed)

    def check(self, number: str, action: Action) -> None:
        try:
            canonical = normalise_number(number)
        except ValueError:
            raise NumberNotAllowed(number, action) from None
        if action not in self.actions or canonical not in self.numbers | self.home_only:
            raise NumberNotAllowed(number, action)

    def home_network_only(self, number: str, action: Action) -> bool:
        """True when `number` reaches the listed subscriber only on the home network: any spelling
        without `+` (a national number or a short code, listed as written or the national spelling
        of a listed international number: abroad it is a number of the visited country), or one
        dialled with `00` as the international prefix (the home country's; abroad it may be
        another, `011` in North America)."""
        try:
            canonical, with_00 = _read_number(number)
        except ValueError:
            return False
        return with_00 or not canonical.startswith("+")

    @classmethod
    def from_file(cls, path: str | Path) -> AllowList:
        """One number per line; `#` starts a comment.  Bad lines are reported as `file:line`."""
        numbers: list[str] = []
        for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                numbers.append(listed_number(text))
            except ValueError as exc:
                raise SafetyError(f"{path}:{lineno}: {exc}") from None
        return cls(numbers)


def home_network_only(policy: DialPolicy | None, number: str, action: Action) -> bool:
    """Whether the policy allows `number` only while the modem is registered on its home network
    (a national spelling of a listed international number: abroad it reaches someone else)."""
    method = getattr(policy, "home_network_only", None)
    return bool(method(number, action)) if callable(method) else False


def incoming_calls(policy: DialPolicy | None) -> bool:
    """Whether the policy says the bench expects incoming calls (its `incoming_calls`): only then
    may a physical modem be set to answer by itself (`ATS0=<n>`, n > 0)."""
    return getattr(policy, "incoming_calls", False) is True


def policy_commands(policy: DialPolicy | None) -> tuple[str, ...]:
    """The command names a policy adds to the command guard's safe list (its `allow_commands`)."""
    return tuple(getattr(policy, "allow_commands", ()))


class AllowAll:
    """Allows everything: only ever chosen for the in-process virtual modem."""

    def check(self, number: str, action: Action) -> None:
        return None


def is_virtual(url: str) -> bool:
    """True for `virtual://...`, also under `spy://`."""
    while url.startswith("spy://"):
        url = url[len("spy://") :]
    return url.startswith("virtual://")


def resolve_policy(url: str, policy: DialPolicy | None) -> DialPolicy:
    """The policy to apply on `url`: the one given, else allow-all on virtual://, else refuse."""
    if policy is not None:
        return policy
    if is_virtual(url):
        return AllowAll()
    raise NoDialPolicy(
        f"{url}: refusing to send an SMS or place a call without an allow-list (pass a DialPolicy, "
        "e.g. modem.safety.AllowList([...]))"
    )


def check(url: str, policy: DialPolicy | None, number: str, action: Action) -> None:
    """Apply the safety rules for one send or call."""
    resolve_policy(url, policy).check(number, action)


# -- command lines: what a raw AT command line would make the modem send or call -------------------

Effect = tuple[str, str]  # (kind, value): kind is an Action, "pdu" (AT+CMGS=<length>), "refuse",
# "unreadable" (refused too: the line cannot be read for sure), "data" (a packet data dial, ATD*99#),
# "format" (AT+CMGF: "pdu" / "text"), "reset" (the SMS format is no longer known), "auto-answer"
# (ATS0=<n>, n > 0: the modem answers incoming calls by itself), "answer" (ATA: a call answered now)
# "profile" (ATZ / AT&F, besides its "reset": the stored or factory profile back, its S0 too) or
# "parameters" (AT+CSMP: "plain" when it gives both the first octet and the TP-PID, an SMS-SUBMIT
# of a plain TP-PID; "" when it leaves one as the module has it) or "charset" (AT+CSCS=<chset>: the
# set named, upper-case)

_EXT_START = frozenset("+^$*%#!@")
_EXT_NAME = re.compile(r"[A-Z0-9_.]+")
# a send command with parameters, of a line read as the module reads it: its name and parameters
_SEND_WITH_ARGS = re.compile(r"([+^$#%*!@][A-Z0-9_.]+)=(.*)")


@dataclass(frozen=True, slots=True)
class SendForm:
    """How a module reads the data of one form of a socket send (`SEND_FORMS`).

    `length`: which parameter (0-based) is the number of bytes the module takes, None when the data
    has no length; `prompt`: what the module answers before it reads the data (`"> "`, u-blox's
    `"@"`), "" when the data is in the line itself; `ctrl_z`: the data ends at its Ctrl-Z (ESC
    cancels it); `inline`: the data is a parameter of the line (hex digits, or quoted text), and no
    bytes are read after it."""

    length: int | None
    prompt: str = "> "
    ctrl_z: bool = False
    inline: bool = False


# The socket sends of the modules' AT manuals, by name and number of parameters: how the module
# reads their data.  Of a length, it takes exactly that many bytes (any byte, Ctrl-Z and CR too) and
# is back in command mode; without one, the bytes up to a Ctrl-Z.
SEND_FORMS: Mapping[tuple[str, int], SendForm] = MappingProxyType(
    {
        # SIMCom SIM800 (TCP/IP application note): AT+CIPSEND, then a Ctrl-Z; AT+CIPSEND=<length>
        # (single connection); AT+CIPSEND=<n>,<length> (AT+CIPMUX=1); SIM7500/SIM7600:
        # AT+CIPSEND=<link_num>,<length>[,<serverIP>,<serverPort>] (UDP)
        ("+CIPSEND", 0): SendForm(None, ctrl_z=True),
        ("+CIPSEND", 1): SendForm(0),
        ("+CIPSEND", 2): SendForm(1),
        ("+CIPSEND", 4): SendForm(1),
        # SIMCom SIM7000/SIM7070 (TCP/IP application note): AT+CASEND=<cid>,<datalen>[,<inputtime>]
        ("+CASEND", 2): SendForm(1),
        ("+CASEND", 3): SendForm(1),
        # Quectel (TCP/IP AT commands manual): AT+QISEND=<connectID>, then a Ctrl-Z;
        # AT+QISEND=<connectID>,<send_length>[,<remoteIP>,<remote_port>] (UDP service), a length of 0
        # reads how much was sent (no prompt: no data is taken); AT+QISENDEX=<connectID>,<hex_string>
        ("+QISEND", 1): SendForm(None, ctrl_z=True),
        ("+QISEND", 2): SendForm(1),
        ("+QISEND", 4): SendForm(1),
        ("+QISENDEX", 2): SendForm(None, prompt="", inline=True),
        # Quectel (SSL application note): AT+QSSLSEND=<clientID>[,<sendlen>], as AT+QISEND
        ("+QSSLSEND", 1): SendForm(None, ctrl_z=True),
        ("+QSSLSEND", 2): SendForm(1),
        # u-blox (AT commands manual, +USOWR, +USOST): binary syntax AT+USOWR=<socket>,<length> and
        # AT+USOST=<socket>,<remote_addr>,<remote_port>,<length>, the data after an `@` prompt; with
        # a last <data> parameter (text, or hex digits after AT+UDCONF=1) the data is in the line
        ("+USOWR", 2): SendForm(1, prompt="@"),
        ("+USOWR", 3): SendForm(1, prompt="", inline=True),
        ("+USOST", 4): SendForm(3, prompt="@"),
        ("+USOST", 5): SendForm(3, prompt="", inline=True),
        # Telit (AT commands reference guides, #SSEND, #SSENDEXT): AT#SSEND=<connId>[,<Rai>], then a
        # Ctrl-Z; AT#SSENDEXT=<connId>,<bytesToSend>[,<Rai>], every octet 0x00-0xFF data
        ("#SSEND", 1): SendForm(None, ctrl_z=True),
        ("#SSEND", 2): SendForm(None, ctrl_z=True),
        ("#SSENDEXT", 2): SendForm(1),
        ("#SSENDEXT", 3): SendForm(1),
    }
)


_SEND_NAMES = frozenset(name for name, _ in SEND_FORMS)


def _is_send(name: str) -> bool:
    """Whether the command `name` sends data it reads after its line (or in it): one of
    `SEND_FORMS`, or any vendor's with `SEND` in its name."""
    return name in _SEND_NAMES or "SEND" in name


def send_length(line: str) -> int | None:
    """The number of bytes the socket send `line` takes after its prompt (`send_form`: a send of a
    length), None when it is no such send (its data ends with a Ctrl-Z, or is in the line)."""
    send = _lone_send(line)
    if send is None or send[0].length is None:
        return None
    length = send[1][send[0].length]
    return _decimal(length) if length.isdigit() else None


def send_form(line: str) -> SendForm | None:
    """How the module reads the data of `line`'s socket send (`SEND_FORMS`), when the line is one
    (alone, not after other commands); None otherwise."""
    send = _lone_send(line)
    return None if send is None else send[0]


def _lone_send(line: str) -> tuple[SendForm, list[str]] | None:
    """The form of `line`'s socket send in `SEND_FORMS` and its parameters, when the line is one
    alone; None otherwise."""
    parts = _split(_outside_quotes(_seven_bit(line)).partition("AT")[2], ";")
    if len(parts) != 1:
        return None
    m = _SEND_WITH_ARGS.fullmatch(parts[0])
    params = [] if m is None else _split(m.group(2), ",")
    form = SEND_FORMS.get((parts[0], 0) if m is None else (m.group(1), len(params)))
    return None if form is None else (form, params)


def _decimal(digits: str) -> int:
    """The value of a V.250 decimal constant (`digits`, digits only), its leading zeros dropped:
    one of more digits past them than any module keeps reads as 10**18, more than any value the
    guard compares it with (Python converts at most 4,300 digits: the check failed with a
    ValueError where it refuses the line)."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 18 else 10**18


_S_REGISTER = re.compile(r"S(\d+)(?:=(\d*)|\?)?")
_PACKET_DIAL = re.compile(r"\*99(\*\*\*\d+)?#|\*98(\*\d+)?#")  # ATD*99#, ATD*99***<cid>#, ATD*98*<cid>#
_DIAL_NUMBER = re.compile(r"(\+?[0-9*#]+)I?G?")
# S3 ends a command line, S5 edits it (backspace), S2 escapes data mode and S12 is the silence
# around that escape (Hayes, in 1/50 s; 0: none needed, so a `+++` inside a line written while the
# modem is back in data mode unknown to the client, after ATO or a transparent AT+QIOPEN, leaves
# data mode and the rest of the line is a command line): another value would change what the
# modem reads as a command.  S4 is the line feed after each line the modem answers: the AT client
# reads answers by their line ends and checks S3, S4 and S5 to find its place again after a
# timeout (`modem.at.client.SYNC_REGISTERS`), so another value would change what the guard learns
# from the answers (the SMS format, the registration, the character set)
_S_DEFAULTS = {2: 43, 3: 13, 4: 10, 5: 8, 12: 50}
_CRSM_READS = frozenset({"176", "178", "192", "242"})  # READ BINARY, READ RECORD, GET RESPONSE, STATUS
_MESSAGE_URCS = frozenset(
    {"+CMT", "+CBM"}
)  # a text anybody may write, its lines past the first as the modem's
_BOOT_NOTICES = frozenset({"RDY", "APP RDY", "SMS Ready", "Call Ready", "PB DONE", "SMS DONE", "+CFUN"})
_SMS_BY_NAME = ("CMGS", "CMSS", "CMGC")  # any vendor's variant (+QCMGS, +CMGSEX, +CMSSEX, ...)
_CALLS_BY_NAME = ("DIAL", "ECALL")
# MMS, any vendor's command with `MMS` and more in its name (SIMCom AT+CMMSSEND / AT+CMMSRECP /
# AT+CMMSCC, Quectel AT+QMMSCFG / AT+QMMSEDIT / AT+QMMSEND, u-blox AT+UMMSC...): its recipients are
# numbers or e-mail addresses, set by one command and sent to by another, which a number allow-list
# cannot check for sure; not 27.005's AT+CMMS (more messages to send), which sends nothing
_MMS_NAME = re.compile(r"[A-Z]*MMS[A-Z0-9_.]+")
_MMS_WHY = "is an MMS command (it sends a message to recipients, numbers or e-mail addresses, of its own)"
# AT commands run from elsewhere than the serial line, where the guard never reads them: Telit's
# #SMSATRUN (with #SMSATRUNCFG, #SMSATWL: an SMS whose text is a command line is run, and its answer
# texted back to whoever sent it) and #TCPATRUNL / #TCPATRUND (a TCP peer's lines, #TCPATRUNCFG),
# Maestro's +SMSAT on its Wavecom-based modems (the same by SMS); their settings are kept in the
# module's non-volatile memory, past the run.  Read, test and disable (`=0`) go when listed
_REMOTE_AT = ("SMSAT", "ATRUN")
_REMOTE_AT_WHY = (
    "is a remote AT service: command lines received by SMS or from a TCP peer are run, which the guard "
    "never reads (a dial to any number among them; an SMS command's answer is texted back to its "
    "sender), and the module keeps the setting past the run"
)
# TP-MTI (23.040 §9.2.3.1), bits 1-0 of an MO message's first octet: 1 is SMS-SUBMIT, 2
# SMS-COMMAND, 0 SMS-DELIVER-REPORT, 3 reserved.  AT+CSMP's <fo> (27.005 §3.3.2) is the first octet
# a text-mode send uses
_MTI_SUBMIT = 0x01
# TP-RP (23.040 §9.2.3.17), bit 7 of an SMS-SUBMIT's first octet: the reply path is requested.  The
# recipient's reply then goes through the bench's SMS centre and, per Annex D, may be charged to the
# bench's subscription: a message the bench pays for but did not send, which no allow-list entry
# covers (the allow-list checks what the bench sends and dials, not what others send at its cost)
_TP_RP = 0x80
# Fail closed on a physical modem: besides the dial and AT+CMGS (checked against the allow-list),
# a command line goes only when each of its commands is one known to be safe here, or one the
# bench's configuration adds (`allow_commands`).  A known extended command may be read (`?`) and
# tested (`=?`); its action (no parameter, "e") and set ("s") forms go when listed below.
_SAFE_BASIC = frozenset("AEHILMOPQTVXZ") | {"&C", "&D", "&F", "&K", "&S", "&V", "&W"}
_SAFE_EXTENDED: dict[str, str] = {
    # identity and general (V.250 §6.1, 27.007 §5)
    "+GMI": "e", "+GMM": "e", "+GMR": "e", "+GSN": "e", "+GCAP": "e",
    "+CGMI": "e", "+CGMM": "e", "+CGMR": "e", "+CGSN": "es", "+CIMI": "e", "+CSCS": "s",
    "+CMEE": "s", "+CFUN": "s", "+CPAS": "e", "+CCLK": "s", "+CEER": "e", "+CIND": "",
    "+CMER": "s", "+CPIN": "s", "+CLCK": "", "+IFC": "s", "+CSCLK": "s", "+CPSMS": "s",
    "+CEDRXS": "s", "+CTZU": "s", "+CTZR": "s", "+CBC": "e", "+CCID": "e", "+ICCID": "e",
    "+QCCID": "e", "+CRSM": "s",
    # network (27.007 §7): +COPS is checked by its mode, a manual selection may roam
    "+CSQ": "e", "+CESQ": "e", "+CREG": "s", "+CGREG": "s", "+CEREG": "s", "+C5GREG": "s",
    "+COPS": "s", "+CNUM": "e", "+CPOL": "", "+CPLS": "",
    # calls in progress (27.007 §6-7, C.2.11): placing one is the dial's, checked above
    "+CLCC": "e", "+VTS": "s", "+CHUP": "e", "+CRC": "s", "+CLIP": "s", "+CLIR": "s",
    "+COLP": "s", "+CCWA": "s", "+CSSN": "s", "+CBST": "s", "+CHLD": "s", "+CCFC": "s",
    "+CUSD": "es",
    # packet data (27.007 §10): a PDP context calls no number (AT+CGDATA as ATD*99#)
    "+CGDCONT": "s", "+CGACT": "s", "+CGATT": "s", "+CGPADDR": "es", "+CGCONTRDP": "es",
    "+CGAUTH": "s", "+CGEREP": "s", "+CGSMS": "s", "+CGDATA": "s",
    # SMS (27.005 §3): reading, storage and settings (not +CRES: it may restore another SMS
    # centre); sending is AT+CMGS's, checked above
    "+CMGF": "s", "+CSCA": "", "+CPMS": "s", "+CNMI": "s", "+CMGR": "s", "+CMGL": "es",
    "+CMGD": "s", "+CMGW": "es", "+CSMP": "s", "+CSDH": "s", "+CSMS": "s", "+CSCB": "s",
    "+CNMA": "es", "+CMMS": "s", "+CSAS": "es",
    # phonebook (27.007 §8.11-8.14; dialling from it, ATD>, is refused)
    "+CPBS": "s", "+CPBR": "s", "+CPBF": "s", "+CPBW": "s",
    # the drivers' TCP stacks: SIMCom (SIM800 manual ch. 8) and Quectel (TCP/IP AT manual)
    "+CIPMUX": "s", "+CIPRXGET": "s", "+CSTT": "es", "+CIICR": "e", "+CIFSR": "e",
    "+CIPSTART": "s", "+CIPSEND": "es", "+CIPCLOSE": "es", "+CIPSHUT": "e", "+CIPACK": "es",
    "+CIPSTATUS": "es", "+QICSGP": "s", "+QIACT": "s", "+QIDEACT": "s", "+QIOPEN": "s",
    "+QISEND": "s", "+QIRD": "s", "+QICLOSE": "s", "+QISTATE": "es", "+QGDCNT": "s",
    "+QIGETERROR": "e",
}  # fmt: skip
# TP-PID (23.040 §9.2.3.9) of a message the SMS centre delivers as an SMS to its TP-DA: a plain one,
# a type 0 (silent) or a replace type.  Telematic interworking (0x20-0x3F) has it converted to
# another service (fax, telex, paging, X.400, e-mail to an address in the text, speech by a call),
# and 0xC0-0xFF are the SMS centre's own: who gets what is not the allow-list's to know.
_PLAIN_PIDS = frozenset({0x00, *range(0x40, 0x48)})
_COPS_SAFE_MODES = frozenset({"", "0", "2", "3"})  # automatic, deregister, set the format
_ALLOW_NAME = re.compile(r"[+^$*%#!@][A-Z0-9_.]+|[&\\][A-Z]|[A-Z]")
_REGISTRATIONS = frozenset({"+CREG", "+CGREG", "+CEREG", "+C5GREG"})
_HOME = frozenset({1, 6, 9})  # 27.007 §7.2 / §10.1.22: home (SMS only, CSFB not preferred)
_ROAMING = frozenset({5, 7, 10})
# a line that only reads what the guard follows (the registration, the SMS format): it changes
# none of it, so what the guard knows of either stays known across it
_STATE_READ = re.compile(r"(?:\+C(?:(?:E|G|5G)?REG|MGF|SMP)\?;?)+")
# a line that only reads that state or sets the SMS format or text-mode parameters: what the guard
# knows of the format and the parameters stays known across it (what it sets replaces it)
_SMS_SETUP = re.compile(r"(?:\+C(?:(?:E|G|5G)?REG\?|MGF(?:\?|=[01])|SMP(?:\?|=[0-9,]*));?)+")
_REGISTRATION_READ = re.compile(r"(?:\+C(?:(?:E|G|5G)?REG(?:\?|=\d?)|MGF\?);?)+")
_REGISTRATION_SET = re.compile(r"(\+C(?:E|G|5G)?REG)=(?!\?)([^;]*)")
# another operator chosen: the registration is not known (mode 3 sets only the read's format)
_OPERATOR_SET = re.compile(r"\+COPS=(?!3(?:,|;|$))")
# AT+CSCS: the TE character set, in which a text-mode AT+CMGS number is written (27.005 §3.5.1,
# 27.007 §5.5).  In these a digit, `+`, `*` and `#` are themselves; in "HEX" each character is two
# hex digits ("3636" is the number 66) and in "UCS2" four ("0033" is 3): the number the module
# reads is not the one the guard reads.  A module starts in one of these (IRA or GSM).  A set is
# read as the modem reads the line (`command_effects`: its "charset"), spaces and quoted strings
# included, not found in the line as written.
_CHARSET_READS = ("+CSCS?", "+CSCS?;")  # a line that only reads the character set
# AT&W (AT&W0): the active settings stored in the profile that ATZ and a power-up bring back (V.250
# 6.1.2); AT&W<n> stores another numbered profile, which only ATZ<n> brings back
_PROFILE_STORE = re.compile(r"&W(?!0*[1-9])", re.IGNORECASE)
# AT&Y<n> (Hayes; AT&P<n> on Telit): the stored profile the module starts in (and, on some, the one
# ATZ brings back); once another than 0 is chosen, the set after a restart is not the one AT&W stored.
# Which basic commands choose it is the module family's (a driver profile's `startup_profile`):
# elsewhere AT&P<n> is the Hayes pulse dialling make/break ratio, which leaves the profiles alone
# AT&Y is always one: a profile may add Telit's &P, never take &Y away (fail-closed)
STARTUP_PROFILE = ("&Y",)
STARTUP_PROFILE_KNOWN = ("&Y", "&P")


def startup_profile_names(names: Iterable[str]) -> tuple[str, ...]:
    """The guard's names (`&Y`) of the commands that choose the start-up profile: `&Y` first and
    always, then those `names` add; ValueError for one no module family uses so."""
    chosen = list(STARTUP_PROFILE)
    for text in names:
        name = command_name(text)
        if name not in STARTUP_PROFILE_KNOWN:
            raise ValueError(
                f"{text!r}: not a command that chooses the start-up profile "
                f"(one of {', '.join('AT' + known for known in STARTUP_PROFILE_KNOWN)})"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def _startup_profile(names: Iterable[str]) -> re.Pattern[str]:
    """The pattern of a line's commands that choose another start-up profile than 0 (`AT&Y1`)."""
    letters = "".join(sorted({name[1] for name in startup_profile_names(names)}))
    return re.compile(rf"&[{letters}]0*[1-9]", re.IGNORECASE)


PLAIN_CHARSETS = frozenset(
    {"IRA", "GSM", "PCCP437", "PCDN", "UTF-8", *(f"8859-{n}" for n in (*"123456789", "C", "A", "G", "H"))}
)
# 27.007 §5.5: the sets that write each character of a number as hex digits (two an octet of the
# MT's set, where digits, +, * and # are those of IRA; four a UTF-16 unit); in PLAIN_CHARSETS a
# number's characters are themselves
_HEX_WIDTH = {"HEX": 2, "UCS2": 4}
_HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")
# AT+CRES (27.005 §3.3.5): the SMS settings stored in a profile back (+CSCA, +CSMP, +CSCB), as
# whoever stored them (AT+CSAS) left them, not as the guard checked them
_CRES_WHY = (
    "restores the SMS settings stored in a profile: its SMS centre (AT+CSCA) and text-mode parameters "
    "(AT+CSMP, a protocol identifier that turns a message into a fax, an e-mail or a call), which the "
    "guard has not checked"
)
# Whether a command restarts the module (`grammar.restarts`: the client's `RESTART_COMMAND`,
# SIMCom's AT+CRESET, AT+CPOWD, Quectel's AT+QRST, AT+QPOWD, and a driver profile's `restarts`,
# Telit's AT#REBOOT, when the profile is known): it comes back with its stored format and text-mode
# parameters, as after AT+CFUN=1,1 (a "reset"); what the line set before it is not known
Restarts = Callable[[str], bool]
_REFUSED_NAMES = {
    "+CDU": "dials a URI",
    "+CTFR": "deflects a call to another number",
    "+CSIM": "sends raw commands to the SIM",
    "+CGLA": "sends raw commands to the SIM",
    # the SIM toolkit: a proactive SIM sets up calls, sends SMS, SS and USSD to numbers of its own,
    # and an answer, an envelope (a menu item chosen) or a "go ahead" from the TE lets it
    "+CUSAT": "is a SIM toolkit command (the SIM may set up calls and send SMS)",  # 27.007 +CUSATT, +CUSATE
    # SIMCom +STKTR/+STKENV/+STKCALL/+STKSMS/+STKSS, Quectel +QSTK/+QSTKRSP, u-blox/Telit +STKTR/+STKENV
    "+STK": "is a SIM toolkit command (the SIM may set up calls and send SMS)",
    "+STGR": "answers the SIM toolkit (which may set up calls and SMS)",  # Wavecom, SIMCom
    "+STSR": "answers the SIM toolkit (which may set up calls and SMS)",  # Telit #STSR
    # Cinterion's Remote-SAT: ^SSTR answers the SIM toolkit, ^SSTA chooses whether the module
    # carries out a proactive SIM's commands (a call set up, an SMS sent) by itself; Telit's #STIA
    # turns the SIM toolkit interface on, with modes where the module does the same
    "+SSTR": "answers the SIM toolkit (which may set up calls and SMS)",
    "+SSTA": "is a SIM toolkit command (the module may set up the SIM's calls and SMS by itself)",
    "+STIA": "is a SIM toolkit command (the module may set up the SIM's calls and SMS by itself)",
    # a vendor's USSD (Quectel +QUSSD, Telit #USSD, Huawei ^USSDMODE): a string to the network that
    # may call, forward or transfer credit, which the allow-list cannot check (27.007's +CUSD aside)
    "+USSD": "sends USSD (a string the network may act on: calls, forwards, transfers)",
}


def _hex_text(text: str, charset: str) -> str:
    """`text` written as hex digits in `charset` ("HEX", "UCS2"), read; ValueError when it is not."""
    width = _HEX_WIDTH[charset]
    if len(text) % width or not set(text) <= _HEX_DIGITS:
        raise ValueError(f'{text!r} is not written in "{charset}" ({width} hex digits a character)')
    octets = bytes.fromhex(text)
    try:
        return octets.decode("utf-16-be") if charset == "UCS2" else octets.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f'{text!r} is not a number written in "{charset}"') from None


def te_number(text: str, charset: str | None) -> str:
    """A number written in the TE character set `charset` (27.007 §5.5; None: the module's own, IRA
    or GSM), read: as a module answers it, or as the TE sends it (the virtual modem's +CCFC, +CSCA,
    <da>); ValueError when it cannot be read for sure in that set."""
    if charset is None or charset in PLAIN_CHARSETS or not text:
        return text
    if charset not in _HEX_WIDTH:
        raise ValueError(
            f'the TE character set (AT+CSCS) is "{charset}", in which the bench cannot read a number '
            'for sure: set AT+CSCS="IRA" (or "GSM", "UCS2") before the run'
        )
    return _hex_text(text, charset)


def parse_charset(lines: list[str]) -> str | None:
    """The set an `AT+CSCS?` answer names, upper-case (`+CSCS: "UCS2"`, or as some modules write
    every string in "UCS2" and "HEX", `+CSCS: "0055004300530032"`); None when it has no +CSCS line;
    ValueError when it cannot be read (two, or one with other than one field)."""
    answers = [grammar.fields_of(line) for line in lines if grammar.prefix_of(line) == "+CSCS"]
    if not answers:
        return None
    if len(answers) != 1 or len(answers[0]) != 1:
        raise ValueError(f"expected one +CSCS: <chset> line, got {lines}")
    named = grammar.unquote(answers[0][0]).strip().upper()
    for charset in _HEX_WIDTH:  # the set's own name written in it
        try:
            if _hex_text(named, charset).upper() == charset:
                return charset
        except ValueError:
            continue
    return named


def _charset_not_ascii(line: str) -> str:
    """Why the set `line` names is not known: the line is not ASCII (`_seven_bit`)."""
    return f"{line!r} is not ASCII: a module that drops the parity bit reads another set's name in it, or not"


def parse_charsets(lines: list[str]) -> frozenset[str] | None:
    """The sets an `AT+CSCS=?` answer lists (`+CSCS: ("IRA","GSM","UCS2")`, or unquoted), upper-case
    as written (a name written in another set is none of PLAIN_CHARSETS); None when it has neither a
    +CSCS line nor a bare one (the module lists none).  A bare line is read as part of the list (a
    list carried on to a next line, `"UCS2")`, or one written without its prefix): a set on it is
    the module's as much as one on the +CSCS line."""
    answers = [
        line.split(":", 1)[1] if grammar.prefix_of(line) else line
        for line in lines
        if grammar.prefix_of(line) in ("+CSCS", None) and line.strip()
    ]
    if not answers:
        return None
    names = (grammar.unquote(name.strip()).strip() for text in answers for name in re.split(r"[(),]", text))
    return frozenset(name.upper() for name in names if name)


_SEVEN_BITS = bytes(b & 0x7F for b in range(256))  # `bytes.translate`: each byte without its high bit
_CONTROLS = bytes([*range(0x20), 0x7F])  # the control characters a module drops from a line


def _seven_bit(text: str) -> str:
    """The line as a modem that drops the parity bit reads it (each byte & 0x7F)."""
    return text.encode("utf-8", "surrogateescape").translate(_SEVEN_BITS).decode("ascii")


def _outside_quotes(body: str) -> str:
    """Spaces dropped and letters upper-cased outside quoted strings (V.250 §5.1 ignores both)."""
    out: list[str] = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if quoted or ch == '"':
            out.append(ch)
        elif ch != " ":
            out.append(ch.upper())
    return "".join(out)


def _string_trouble(body: str) -> str | None:
    """Why the quoted strings of a line may end elsewhere on some module than where the guard ends
    them (what it takes for a string's text, another module may run as commands), or None.

    V.250 §5.4.2.2 embeds characters in a string as `\\HH` only; a module that reads `\\"` as a
    quote inside the string (some do) ends it at a later quote, and one that splits the line on `;`
    before reading its strings runs what follows a `;` inside one as a command."""
    strings = re.findall(r'"([^"]*)"?', body)
    if body.count('"') % 2:
        return "a quoted string is not closed: modules differ on where it ends"
    for string in strings:
        if ";" in string:
            return (
                f"the quoted string {string!r} holds ';': a module that splits the line on ';' before "
                "reading strings would run what follows as a command (write ';' as \\3B)"
            )
        if re.search(r"\\(?![0-9A-Fa-f]{2})", string):
            return (
                f"the quoted string {string!r} holds a backslash not followed by two hex digits: a module "
                'that reads \\" as a quote in the string would end it elsewhere (write a backslash as \\5C)'
            )
    return None


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def command_effects(line: str, restarts: Restarts = grammar.restarts) -> list[Effect]:
    """What a command line makes the modem do that the bench's allow-list must know of.

    The line is read as a modem reads it (ITU-T V.250): from its first `AT` (anything before is
    ignored), `A/` repeating the last line, spaces ignored (`A T` too), any case, basic commands chained without
    separator (`ATE0D+33...;`), extended ones after `;`.  What cannot be read with certainty is
    refused (`("refuse", why)`): the check fails closed.  `restarts` tells a command (`AT<name>...`)
    that restarts the module (a "reset"): the common ones, or a client's with its profile's.
    """
    if line.isascii():
        return _line_effects(line, restarts)
    # A module that drops the parity bit reads other characters (0x9A as Ctrl-Z, 0xA2 as a quote)
    # than one that does not: what either would do counts.
    effects = _line_effects(line, restarts)
    return effects + [e for e in _line_effects(_seven_bit(line), restarts) if e not in effects]


def _line_effects(text: str, restarts: Restarts) -> list[Effect]:
    bad = next((ch for ch in text if ord(ch) < 0x20 or ord(ch) == 0x7F), None)
    if bad is not None:
        return [("unreadable", f"the line holds the control character {bad!r} (a line end or an edit)")]
    # V.250 ignores spaces in a command line: a module may read `A T` as the prefix too
    m = re.search(r"A *[T/]", text, re.IGNORECASE)
    if m is None:
        return []  # no command: the modem ignores the line
    if m.group(0)[-1] == "/":
        return [("refuse", "A/ repeats the last command line")]
    trouble = _string_trouble(text[m.end() :])
    if trouble is not None:
        return [("unreadable", trouble)]
    body = _outside_quotes(text[m.end() :])
    parts = _split(body, ";")
    effects: list[Effect] = []
    for i, part in enumerate(parts):
        effects += _part_effects(part, restarts, voice=i + 1 < len(parts))
    return effects


def _part_effects(part: str, restarts: Restarts, *, voice: bool) -> list[Effect]:
    effects: list[Effect] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c in _EXT_START:
            name = _EXT_NAME.match(part, i + 1)
            if name is None:
                return [*effects, ("unreadable", f"{part[i:]!r} is not an extended command")]
            return effects + _extended(c + name.group(0), part[name.end() :], restarts)
        if c == "D":
            return [*effects, _dial(part[i + 1 :], voice)]
        if c == "S":
            s = _S_REGISTER.match(part, i)
            if s is None:
                return [*effects, ("unreadable", f"{part[i:]!r} is not an S-register command")]
            register, value = _decimal(s.group(1)), s.group(2)
            # (a decimal value, V.250 §6.1.3: `S4=010` is 10; `S4=` is refused, modules differ on it)
            if (
                value is not None
                and register in _S_DEFAULTS
                and (not value or _decimal(value) != _S_DEFAULTS[register])
            ):
                return [
                    *effects,
                    ("refuse", f"S{register}={value} changes how the modem reads or ends a line"),
                ]
            if register == 0 and value and _decimal(value) > 0:
                effects.append(("auto-answer", value))
            i = s.end()
            continue
        if c in "&\\" and i + 1 < len(part) and part[i + 1].isalpha():
            if part[i : i + 2] == "&F":
                effects += [("reset", ""), ("profile", "&F")]
            if part[i : i + 2] not in _SAFE_BASIC:
                effects.append(("unlisted", part[i : i + 2]))
            i += 2
        elif c.isalpha():
            if c == "Z":  # (ATZ<n>: the stored profile n, `_other_profile`)
                number = re.match(r"\d*", part[i + 1 :])
                effects += [("reset", ""), ("profile", "Z" + (number.group(0) if number else ""))]
            if c == "A":
                effects.append(("answer", ""))
            if c not in _SAFE_BASIC:
                effects.append(("unlisted", c))
            i += 1
        else:
            return [*effects, ("unreadable", f"{part[i:]!r} cannot be read as V.250 commands")]
        while i < len(part) and part[i].isdigit():
            i += 1
    return effects


def _dial(dial: str, voice: bool) -> Effect:
    if dial.startswith(">"):
        return ("refuse", "ATD> dials a phonebook entry")
    if dial.startswith("L"):
        return ("refuse", "ATDL redials the last number")
    if dial.startswith("S"):
        return ("refuse", "ATDS dials a stored number")
    # a packet data session (27.007 §10.2.1): no number is called; `ATDT*99#` (a tone modifier
    # first, as wvdial and many chat scripts dial) is the same
    if not voice and _PACKET_DIAL.fullmatch(dial.removeprefix("T").removeprefix("P")):
        return ("data", dial)
    m = _DIAL_NUMBER.fullmatch(dial)
    if m is None:
        # without a digit it reaches nobody (`at dawn` in a call's data, read as a command line)
        return (
            "refuse" if any(c.isdigit() for c in dial) else "unreadable",
            f"dial string {dial!r}: only a number (digits, * and #, a leading +) can be checked",
        )
    return ("call" if voice else "csd", m.group(1))


# what a tail read as commands may do that the guard refuses or must follow (not an unknown letter,
# nor ATA or a packet data dial, which go on their own line too)
_TAIL_KINDS = frozenset({"refuse", "pdu", "auto-answer", "profile", "reset", "format", "charset", *ACTIONS})
_VALUE = re.compile(r'\A(?:"[^"]*"|[0-9]*)')  # a V.250 string or numeric constant (§5.4.2)
_HEX = re.compile(r"(?:0X)?[0-9][0-9A-F]*")  # a hexadecimal constant (§5.4.2.1), a whole parameter
_HEX_0X = re.compile(r"0X[0-9A-F]+")


def _hex_constant(name: str, params: list[str]) -> re.Pattern[str] | None:
    """How the module that has this command writes the hexadecimal numbers it reads, None when it
    reads decimal ones: SIMCom's band masks (`AT+CNBP=0x0002000000400183,0x000007FF3FDF3FFF`),
    Quectel's (`AT+QCFG="band",0,800D5,0`); read as decimal, `800D5` would end at `D` and dial 5."""
    if name == "+CNBP":
        return _HEX_0X
    if name == "+QCFG" and params[:1] != [] and params[0].strip('"').lower() == "band":
        return _HEX
    return None


def _lenient_tail(name: str, args: str, restarts: Restarts) -> Effect | None:
    """What the characters after an extended command's mark (`?`, `=?`) or after a parameter's value
    (a quoted string, a decimal number) do on a module that ends the command there and reads the
    rest as basic commands (`AT+CMGF=1D+33699999999;`, `AT+CPBW=1,"x"D+33...`): V.250 wants a `;`
    first, and a module may answer ERROR or run them; refused when they would text, call, forward,
    reset or change how lines are read.  None when there is no such tail, or it does none of it."""
    marks = "=?" if args.startswith("=?") else "?" if args.startswith("?") else ""
    if marks or not args.startswith("="):
        tails = [args[len(marks) :]]
    else:
        params = _split(args[1:], ",")
        hex_constant = _hex_constant(name, params)
        tails = [
            "" if hex_constant and hex_constant.fullmatch(p) else _VALUE.sub("", p, count=1) for p in params
        ]
    for tail in tails:
        if not tail:
            continue
        for voice in (True, False):
            effects = _part_effects(tail, restarts, voice=voice)
            # (after `?` or `=?` nothing but a ';' is read: what cannot be read there, `,D+33...`, is
            # where a module may take up commands again)
            kinds = _TAIL_KINDS | {"unreadable"} if marks else _TAIL_KINDS
            kind, value = next(((k, v) for k, v in effects if k in kinds), ("", ""))
            if kind:
                what = value if kind in ("refuse", "unreadable") else f"{kind} {value}".strip()
                return (
                    "refuse",
                    f"AT{name}{args}: {tail!r} follows a value with no ';' before it (V.250 puts one "
                    f"before another command): a module that reads it as commands runs it ({what})",
                )
    return None


def _extended(name: str, args: str, restarts: Restarts) -> list[Effect]:
    tail = _lenient_tail(name, args, restarts)
    if tail is not None:
        return [tail]
    if args == "=?":  # a test command changes nothing; an unknown one still is not known
        return [] if name in _SAFE_EXTENDED else [("unlisted", name)]
    kind = "read" if args == "?" else "set" if args.startswith("=") else "exec"
    params = _split(args[1:], ",") if kind == "set" else []
    word = name[1:]
    if name == "+CMGS":
        return [_cmgs(params) if kind == "set" else ("refuse", "AT+CMGS without a destination")]
    if any(s in word for s in _SMS_BY_NAME):
        return [("refuse", f"AT{name} sends an SMS the allow-list cannot check (use AT+CMGS)")]
    if _MMS_NAME.fullmatch(word):
        return [("refuse", f"AT{name} {_MMS_WHY}")]
    if any(s in word for s in _REMOTE_AT) and kind != "read" and params != ["0"]:
        return [("refuse", f"AT{name}{args} {_REMOTE_AT_WHY}")]
    if word == "CRES":  # 27.005 §3.3.5, not +CRESET (a restart)
        return [("refuse", f"AT{name}{args} {_CRES_WHY}")]
    # by name and in any vendor's variant (+CCFCU, ^CHLD, +QCSCA...): a bench that lists one in
    # allow_commands for its other uses gets those, never a forward, a transfer or another centre
    refused = next((why for key, why in _REFUSED_NAMES.items() if key[1:] in word), None)
    if any(s in word for s in _CALLS_BY_NAME) or refused is not None:
        return [("refuse", f"AT{name} {refused or 'places a call'}")]
    if "CUSD" in word and (name != "+CUSD" or len(params) > 1 or params[:1] not in ([], ["0"], ["1"], ["2"])):
        return [("refuse", f"AT{name}{args} sends a USSD string")]
    if "CCFC" in word and kind == "set" and (len(params) < 2 or params[1] not in ("0", "2", "4")):
        return [("refuse", f"AT{name}{args} forwards calls (only disable, query and erase can go)")]
    if "CHLD" in word and kind == "set" and not re.fullmatch(r"[0-3]\d?", params[0]):
        return [("refuse", f"AT{name}{args} transfers or deflects a call")]
    first = params[0] if name == "+CSMP" and kind == "set" and params else ""
    if first and not _plain_first_octet(_decimal(first) if first.isdigit() else -1):
        return [("refuse", f"AT+CSMP={','.join(params)}: {_first_octet_why(first)}")]
    pid = params[2] if name == "+CSMP" and kind == "set" and len(params) > 2 else ""
    if pid and not (pid.isdigit() and _decimal(pid) in _PLAIN_PIDS):
        return [("refuse", f"AT+CSMP={','.join(params)}: {_pid_why(_decimal(pid) if pid.isdigit() else -1)}")]
    if name == "+CSMP" and kind == "set":  # (the first octet and TP-PID checked above)
        return [("parameters", "plain" if first and pid else "")]
    if "CSCA" in word and kind == "set":
        return [("refuse", f"AT{name} changes the SMS service centre")]
    # 27.007 §8.18 / §8.46: the command is +CRSM's first field, +CRLA's second (after the session)
    at = 1 if name == "+CRLA" else 0
    sim_command = params[at] if len(params) > at else ""
    if name in ("+CRSM", "+CRLA") and kind == "set" and sim_command not in _CRSM_READS:
        return [("refuse", f"AT{name}{args} writes to the SIM")]
    if name == "+CSCS" and kind == "set":  # (the set's name: a quoted string, or as some read it, not)
        named = params[0].strip() if params else ""
        return [
            ("charset", named.removeprefix('"').removesuffix('"').strip().upper()),
            *_listed(name, kind, params),
        ]
    if name == "+CMGF":
        if kind == "set" and params in (["0"], ["1"]):
            return [("format", "pdu" if params == ["0"] else "text")]
        return [] if kind == "read" else [("reset", "")]
    if name == "+CFUN" and kind == "set":
        return [("reset", "")]
    if kind != "read" and restarts(f"AT{name}{args}"):  # (still refused unless listed)
        return [("reset", ""), *_listed(name, kind, params)]
    return _listed(name, kind, params)


def _listed(name: str, kind: str, params: list[str]) -> list[Effect]:
    """Nothing for a command known to be safe in this form, else why it cannot be known to be."""
    forms = _SAFE_EXTENDED.get(name)
    if forms is None:
        return [("unlisted", name)]
    if name == "+COPS" and kind == "set" and params[0] not in _COPS_SAFE_MODES:
        return [("unlisted-form", name)]  # a manual selection may register on a roaming network
    if kind == "read" or (kind == "exec" and "e" in forms) or (kind == "set" and "s" in forms):
        return []
    return [("unlisted-form", name)]


def command_name(text: str) -> str:
    """An `allow_commands` entry as the guard names commands: `at+qeng` -> `+QENG`, `AT&Y` -> `&Y`;
    raises ValueError for anything else (a whole command line, parameters, a dial)."""
    name = text.strip().upper().removeprefix("AT")
    if not _ALLOW_NAME.fullmatch(name) or name in ("D", "S"):
        raise ValueError(
            f"{text!r} is not a command name (e.g. AT+QENG, AT^SYSINFO, AT&Y): parameters, dials "
            "and S-registers cannot be listed"
        )
    return name


def _cmgs(params: list[str]) -> Effect:
    first = params[0] if params else ""
    if first.isdigit():
        return ("pdu", first)
    if len(first) >= 2 and first[0] == first[-1] == '"':
        number = first[1:-1]
        if not _NUMBER.fullmatch(number):
            # the allow-list reads past spaces, dashes, dots and brackets; a module may refuse them,
            # skip them or encode each as a semi-octet of its own (a space as 0, `(` as 8): the
            # number it texts is not known
            return (
                "refuse",
                f"AT+CMGS number {number!r}: only digits, * and # after an optional + can be checked",
            )
        toda = params[1] if len(params) > 1 else ""
        if number.startswith("+") and toda not in ("", "145"):
            # 27.005 §3.5.1: the type of address is 145 for a `+` number; told another one, a module
            # may drop the `+` and send the digits as a national or unknown-type number (another
            # subscriber), or take the `+` for international after all: which, is not known
            return (
                "refuse",
                f"AT+CMGS number {number!r} with the type of address {toda}: a module may send its digits "
                "as a national number (write it without the type, or with 145)",
            )
        if toda == "145" and not number.startswith("+"):
            number = "+" + number
        elif toda not in ("", "129", "161", "145"):
            return ("refuse", f"AT+CMGS type of address {toda!r}")
        return ("sms", number)
    return ("refuse", f"AT+CMGS={','.join(params)}: no number or PDU length to check")


def unseen_reset(line: str) -> str | None:
    """The reset (`Z`: the stored profile back; `&F`: the factory one) `line` makes where the AT
    client does not see a reset (after an extended command or a ';', the prefix spaced, a parity
    bit set: `AT+CMEE=1;Z`), or None: the client sees only a line that starts with it
    (`modem.at.grammar.resets`), and reads the answer and sets its settings again by that."""
    if grammar.resets(line):
        return None
    return next((value for kind, value in command_effects(line) if kind == "profile"), None)


def costly_command(
    line: str, allow_commands: Iterable[str] | None = None, restarts: Iterable[str] = ()
) -> str | None:
    """Why the command line texts, calls, forwards or cannot be read for sure; None when it does not.

    With `allow_commands` (names, `command_name`), as on a physical modem: also a command that is
    not known to be safe nor in `allow_commands`.  `restarts`: the driver profile's (its `restarts`
    patterns, Telit's AT#REBOOT), restarts besides the common ones, as the command guard of a
    client on that profile reads them."""
    allowed = None if allow_commands is None else frozenset(allow_commands)
    family = grammar.restart_patterns(restarts)
    for kind, value in command_effects(line, lambda text: grammar.restarts(text, family)):
        if kind == "unreadable":
            return value
        if kind in ("unlisted", "unlisted-form") and allowed is not None and value not in allowed:
            return _unlisted_why(kind, value)
        why = _costly_effect([(kind, value)])
        if why is not None:
            return why
    return None


def allow_commands_field(m: Any, source: str, path: str) -> tuple[str, ...]:
    """The `allow_commands` list of a YAML mapping (the bench's allow-list, a profile's `driver:`),
    each entry read by `command_name`; a bad one is a `YamlError` naming the file, line and key."""
    from m2msim.yamlio import LocatedList, YamlError, join_path, text_list

    names = text_list(m, "allow_commands", source, path, default=(), what="a command name") or []
    raw = m.get("allow_commands")
    out: list[str] = []
    for i, text in enumerate(names):
        line = raw.line_of(i) if isinstance(raw, LocatedList) else m.line_of("allow_commands")
        try:
            name = command_name(text)
        except ValueError as exc:
            raise YamlError(source, line, join_path(join_path(path, "allow_commands"), i), str(exc)) from None
        if name in _SAFE_EXTENDED or name in _SAFE_BASIC:
            log.info("%s: %s is known to be safe already; listing it changes nothing", source, name)
        out.append(name)
    return tuple(out)


def _unlisted_why(kind: str, name: str) -> str:
    what = f"AT{name}" if kind == "unlisted" else f"AT{name} in this form"
    return (
        f"{what} is not known to be safe on a physical modem (it might text, call, send USSD or register on a roaming network); "
        f"if it does none of these, list {name} under allow_commands in the bench's allow-list or "
        "the driver profile"
    )


def is_physical(url: str) -> bool:
    """False for the virtual modem and a recording (`replay://`), also under `spy://`."""
    while url.startswith("spy://"):
        url = url[len("spy://") :]
    return not url.startswith(("virtual://", "replay://"))


class CommandGuard:
    """The last check before bytes go to the modem: every command line an `ATClient` writes.

    Installed by the driver (`modem.drivers.Modem`) and `m2msim modem at`: a voice or data call
    (`ATD<n>[;]`) and an SMS (`AT+CMGS`: the quoted number in text mode, the PDU's destination in PDU
    mode) go out only to a number the policy allows; whatever else texts, calls or forwards (stored
    messages, phonebook and redial, USSD, call forwarding, another SMS centre, `A/`, ...) is refused.
    On the virtual modem (or with `AllowAll`) nothing is refused.  The guard also follows the SMS
    format (AT+CMGF): `AT+CMGS=<n>` is a PDU length in PDU mode but the destination number in text
    mode, so it goes only when the format is known fresh to be PDU (and `AT+CMGS="<number>"` only
    when known fresh to be text): set or read on the line just before, since a module that resets
    without a word comes back in its default format.

    On a physical modem it fails closed: a command that is not known to be safe (a vendor's
    extension that may text, call or send USSD, or one not known at all) is refused unless it is in
    `allow_commands` (names as `command_name` reads them: the bench's and the profile's lists).
    """

    # its rules, set once: a bench script cannot swap the policy nor turn the guard lax (`strict`
    # also decides whether the client hands out its transport's bytes)
    _RULES = (
        "url",
        "policy",
        "enforcing",
        "strict",
        "allow_commands",
        "incoming_calls",
        "restarts",
        "startup_profile",
    )
    # what it learns from the modem as the run goes
    _STATE = (
        "_sms_format",
        "_format_after",
        "_parameters",
        "_parameters_after",
        "_reads_state",
        "_message_in_answer",
        "_reads_registration",
        "_registration",
        "_reg_urcs",
        "_reg_after",
        "_charset",
        "_charset_after",
        "_charset_unknown",
        "_stored_charset",
        "_stores_profile",
        "_resets_charset",
        "_other_profile",
        "_other_startup",
        "_reads_charset",
        "_data_tail",
        "_line_tail",
        "_tails_next",
        "_maybe_written",
        "_line_lost",
        "_held",
    )
    __slots__ = _RULES + _STATE
    url: str
    policy: DialPolicy | None
    enforcing: bool
    strict: bool
    allow_commands: frozenset[str]
    incoming_calls: bool  # the policy's, as it was given: auto-answer (ATS0=<n>) may be set
    restarts: Callable[[str], bool] | None  # whether a line restarts the module (the client's)
    startup_profile: re.Pattern[str]  # a line's commands that choose another start-up profile

    def __setattr__(self, name: str, value: object) -> None:
        if name not in CommandGuard._STATE:
            raise ReadOnlyPolicy(
                f"CommandGuard.{name} is read-only: the guard of a bench keeps the rules it was built with"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyPolicy(f"CommandGuard.{name} is read-only")

    def __init__(
        self,
        url: str,
        policy: DialPolicy | None,
        allow_commands: Iterable[str] = (),
        restarts: Callable[[str], bool] | None = None,
        startup_profile: Iterable[str] = STARTUP_PROFILE,
    ) -> None:
        rule = object.__setattr__
        # the basic commands that choose the stored profile the module starts in: `&Y`, and Telit's
        # `&P` when the driver profile says so (`DriverProfile.startup_profile`)
        rule(self, "startup_profile", _startup_profile(startup_profile))
        # whether a line restarts the module: the client's (`ATClient.restarts_module`: its
        # `RESTART_COMMAND` and the driver profile's `restarts`, Telit's AT#REBOOT), so that every
        # restart the project knows makes the format and text-mode parameters unknown, as a reset
        rule(self, "restarts", restarts)
        enforcing = not isinstance(policy, AllowAll) and not (policy is None and is_virtual(url))
        rule(self, "url", url)
        rule(self, "policy", policy)
        rule(self, "enforcing", enforcing)
        rule(self, "strict", enforcing and is_physical(url))
        rule(self, "allow_commands", frozenset(command_name(c) for c in allow_commands))
        rule(self, "incoming_calls", incoming_calls(policy))
        # "pdu" / "text" while known fresh: set (AT+CMGF=<mode>) or read (+CMGF: <mode>) by the line
        # answered just before, or before lines that only read the registration or the format
        self._sms_format: str | None = None
        self._format_after: str | None = None  # the format once the line in flight is answered OK
        # the text-mode parameters (AT+CSMP) known to make a plain SMS-SUBMIT, fresh as the format:
        # set (both <fo> and <pid>) or read (+CSMP: ...) on the line before, or before lines that only
        # read or set up the SMS (`_SMS_SETUP`); else the module's own, stored with AT+CSAS by
        # whoever stored them, restored by a reset: a TP-PID that has the SMS centre mail the text
        # to an address inside it (0x32), fax it or call, an <fo> that is no SMS-SUBMIT
        self._parameters = False
        self._parameters_after = False
        self._reads_state = False  # the line in flight only reads the registration or the format
        self._message_in_answer = False  # a message's text came in while the line in flight was answered
        # the line in flight only reads or sets the registration (or reads the format): its answer's
        # +CREG lines are the registration, where another command's may be an SMS's text
        self._reads_registration = False
        # registration (+CREG/+CGREG/+CEREG/+C5GREG) as the modem last told it: kind -> stat; kept
        # while that kind's URCs are on, else only until the next line that does not read it
        self._registration: dict[str, int] = {}
        self._reg_urcs: dict[str, bool] = {}
        self._reg_after: list[tuple[str, bool]] = []  # URC settings of the line in flight
        # AT+CSCS as last set and answered OK (or read: AT+CSCS?), upper-case; None: not set nor
        # read since the start or a restart (the module's own, whichever a program before the run
        # or a stored profile left: a text-mode number is refused in it); "" while not known (a
        # set not answered OK yet)
        self._charset: str | None = None
        self._charset_after: str | None = None  # what the line in flight sets, once answered OK
        self._charset_unknown = ""  # why the character set is not known (the line not answered OK)
        # the character set stored with AT&W (answered OK), which ATZ and a restart bring back; None:
        # none stored by this guard (the module's own)
        self._stored_charset: str | None = None
        self._stores_profile = False  # the line in flight stores the profile (AT&W)
        self._resets_charset = False  # the line in flight resets the module (ATZ, AT&F)
        self._other_profile = False  # ... to a numbered profile this guard did not see stored (ATZ1)
        self._other_startup = False  # a profile other than 0 chosen to start in (AT&Y1): for the run
        self._reads_charset = False  # the line in flight only reads the character set (AT+CSCS?)
        self._data_tail = b""  # the last bytes written in data mode (an escape split over writes)
        self._line_tail = b""  # data-mode bytes since their last line end (a line split over writes)
        # (line tail, data tail) once the bytes last checked are written (`written`): the tails move
        # for bytes written, not for bytes checked that the client did not write
        self._tails_next: tuple[bytes, bytes] = (b"", b"")
        # bytes a write that failed may have left after `_line_tail`, any first part of them (the
        # rest not written); None: none
        self._maybe_written: bytes | None = None
        self._line_lost = ""  # why the modem's line is not known at all (a write failed twice)
        self._held: str | None = None  # why no line may text or call yet (`hold`); None: they may

    @property
    def sms_format(self) -> str | None:
        """The SMS format, `pdu` or `text`, while known fresh: set (AT+CMGF=<mode>) or read
        (+CMGF: <mode>) by the line answered just before, or before lines that only read the
        registration or the format; None otherwise."""
        return self._sms_format

    @property
    def registration(self) -> Mapping[str, int]:
        """Registration (+CREG/+CGREG/+CEREG/+C5GREG) as the modem last told it: kind -> stat
        (a read-only copy: the guard learns it from the modem's answers alone)."""
        return FrozenMapping(self._registration)

    @property
    def charset(self) -> str | None:
        """AT+CSCS as last set and answered OK (or read), upper-case; None: not set since the start or a
        restart; "" while not known."""
        return self._charset

    @property
    def stored_charset(self) -> str | None:
        """The character set stored with AT&W (answered OK); None: none stored by this guard."""
        return self._stored_charset

    def costs(self, line: str) -> bool:
        """Whether `line` texts or calls on a modem another program may write to (any but the
        virtual one; a replay as the recording did): the client first checks that its answers are
        its own (`ATClient.check_trust`), since what the guard knows (the SMS format, the
        registration) it learnt from them."""
        return not is_virtual(self.url) and _texts_or_calls(command_effects(line, self._restarts))

    @property
    def held(self) -> str | None:
        """Why no line may text or call yet (`hold`); None when they may."""
        return self._held

    def hold(self, why: str) -> None:
        """Refuse every line that texts or calls (`SafetyError` saying `why`) until `release`: what
        must be checked before the first SMS or call (the SIM's call forwarding) has not been, on
        whichever path the SMS or the call would take (a driver's method, a raw command line)."""
        self._held = why

    def release(self) -> None:
        """Lines that text or call may go again (to the numbers the policy allows)."""
        self._held = None

    def _restarts(self, line: str) -> bool:
        """Whether `line` restarts the module: the client's (its profile's too), else the common ones."""
        return self.restarts(line) if self.restarts is not None else grammar.restarts(line)

    def check(self, line: str, data: bytes | None = None) -> None:
        """Raise `SafetyError` (or `NumberNotAllowed`, `NoDialPolicy`) unless `line` (and the `data`
        written after its prompt) may go to the modem."""
        effects = command_effects(line, self._restarts)
        if self.restarts is not None and self.restarts(line):
            # a profile's restart (AT#REBOOT) is a reset: whatever the line set before or after it
            effects = [("reset", ""), *effects, ("reset", "")]
        unlisted = self.enforcing and self.policy is None
        if (unlisted or self._held is not None) and _texts_or_calls(effects):
            if unlisted:  # no allow-list on a physical modem: `NoDialPolicy`, as on every other way
                resolve_policy(self.url, self.policy)
            raise SafetyError(f"{self.url}: {line!r} refused: {self._held}")
        if self.strict and self._line_lost:
            raise self._refuse(line, self._line_lost)
        if self.strict and (self._line_tail or self._maybe_written):
            found = self._across(line.encode("utf-8", "surrogateescape"))
            if found is not None:
                raise self._refuse(
                    line,
                    f"the modem may read it after the bytes written before it, left without a line "
                    f"end should it be back in command mode (a call dropped, a send given up): "
                    f"{found[0]!r} {found[1]}; send a line of its own first (AT)",
                )
        if self.enforcing:
            if data is not None:
                self._check_data(line, data)
            sms_format, parameters, charset = self._sms_format, self._parameters, self._charset
            unknown = self._charset_unknown
            for kind, value in effects:
                if kind in ("format", "reset"):  # the rest of the line runs in a format not known
                    sms_format = None
                parameters = _parameters_after(parameters, kind, value)
                if kind == "charset":  # (a line not ASCII is read two ways: in which order, not known)
                    charset, unknown = (value, "") if line.isascii() else ("", _charset_not_ascii(line))
                self._check(line, kind, value, data, sms_format, parameters)
                if kind == "sms":
                    self._check_charset(line, charset, unknown)
        # once written (`written`), a command line ends the bytes before it (a line refused or not
        # written leaves them in the modem's line); its data's last line, should the module give
        # the send up, is before the next
        self._tails_next = (
            b"" if data is None or not self.enforcing else data[-_LINE_TAIL:],
            self._data_tail,
        )
        text = _outside_quotes(line)
        sets_charset = [value for kind, value in effects if kind == "charset"]
        self._charset_after = (sets_charset[-1] if line.isascii() else "") if sets_charset else None
        self._stores_profile = _PROFILE_STORE.search(text) is not None
        # (at the check, answered or not: the module may have taken it)
        self._other_startup = self._other_startup or self.startup_profile.search(text) is not None
        resets = any(kind == "reset" for kind, _ in effects)
        if sets_charset and resets:  # (set, then reset to the stored one, or the other way: not known)
            self._charset_after = ""
        self._resets_charset = resets and not sets_charset
        self._other_profile = any(
            kind == "profile" and value.startswith("Z") and value[1:].strip("0") for kind, value in effects
        )
        if sets_charset or (
            self._resets_charset and (self._other_profile or self._charset != self._stored_charset)
        ):
            self._charset = ""  # until the modem answers OK: it may have taken it, or not
            self._charset_unknown = (
                f"{line!r} was not answered OK: the module may have taken the set it names, or not"
                if sets_charset and not resets
                else f"{line!r} was not answered OK (a stored profile with ATQ1 keeps back even the "
                "reset's OK; the bench's settings were set again after it): the module may be back "
                "in its stored profile's character set, or not"
            )
        commands = text.partition("AT")[2]
        self._reads_charset = commands in _CHARSET_READS
        read = _STATE_READ.fullmatch(commands)
        # A module may reset without a word (brown-out, watchdog) and come back in its default
        # format and text-mode parameters: what the guard knows of them lasts until the next line,
        # unless that line only reads state or sets the format or the parameters (`_SMS_SETUP`) and
        # is answered OK, and comes back with what the line sets.
        setup = _SMS_SETUP.fullmatch(commands) is not None
        after = self._sms_format if setup else None
        parameters = self._parameters and setup
        for kind, value in effects:
            if kind in ("format", "reset"):
                after = value or None
            parameters = _parameters_after(parameters, kind, value)
        self._sms_format = None
        self._format_after = after
        self._parameters, self._parameters_after = False, parameters
        self._reads_state = read is not None
        self._message_in_answer = False
        self._reads_registration = _REGISTRATION_READ.fullmatch(commands) is not None
        if any(kind == "reset" for kind, _ in effects) or _OPERATOR_SET.search(text):
            self._registration.clear()
            self._reg_urcs.clear()
        # a registration URC setting (anywhere in the line): off until the modem confirms it
        sets = _REGISTRATION_SET.findall(text)
        for kind, _ in sets:
            self._reg_urcs[kind] = False
        self._reg_after = [(kind, n not in ("", "0") and n.isdigit()) for kind, n in sets]
        for kind in list(self._registration):
            if not self._reg_urcs.get(kind) and not read:
                del self._registration[kind]  # no URC would tell a change: known no longer

    def done(self, line: str, lines: Iterable[str] = ()) -> None:
        """The modem answered OK to the line last checked, with these information lines."""
        # A text-mode SMS (or cell broadcast) that came in during the answer: the lines of its text
        # past the first are not told from the modem's (+CMT has no length without +CSDH), and
        # anybody can text the bench's SIM.  Its lines may be the whole answer, its `OK` too, the
        # modem's own (an ERROR, say) still to come: nothing of the answer is believed.
        tainted, self._message_in_answer = self._message_in_answer, False
        self._sms_format, self._format_after = (None if tainted else self._format_after), None
        self._parameters, self._parameters_after = self._parameters_after and not tainted, False
        if self._charset_after is not None:
            self._charset, self._charset_after = self._charset_after, None
            if not self._charset:
                self._charset_unknown = (
                    _charset_not_ascii(line)
                    if not line.isascii()
                    else f"{line!r} sets it and resets the module on one line: which one the module "
                    "did last is not known"
                )
        elif self._resets_charset:  # the stored profile's (after AT&F too: refused until set, if not plain)
            # (ATZ<n>: a profile whose set the guard never saw stored, as the module's own)
            # (after AT&Y<n>: the profile ATZ or a restart brings back may be n, likewise)
            self._charset = None if self._other_profile or self._other_startup else self._stored_charset
        if self._stores_profile:
            self._stored_charset = self._charset
        self._stores_profile = self._resets_charset = self._other_profile = False
        for kind, on in self._reg_after:
            self._reg_urcs[kind] = on and not tainted
        self._reg_after = []
        lines = list(lines)
        if self._reads_charset and not tainted:
            # the module's answer: its set, whatever the guard believed (the module's own at the
            # start is the one a program before the run left, or a stored profile's)
            try:
                named = parse_charset(lines)
            except ValueError as exc:
                self._charset, self._charset_unknown = "", f"{line!r} named no one set: {exc}"
            else:
                self._charset = self._charset if named is None else named
        self._reads_charset = False
        # One read answers one line per kind: with a second one (such an SMS's text), which line is
        # the modem's is not known, nor the state.
        prefixes = [grammar.prefix_of(text) for text in lines]
        twice = {prefix for prefix in prefixes if prefix is not None and prefixes.count(prefix) > 1}
        if tainted:
            twice |= {prefix for prefix in prefixes if prefix is not None}
            twice |= _REGISTRATIONS if self._reads_registration else set()
        for kind in twice & _REGISTRATIONS:
            self._registration.pop(kind, None)
            self._reg_urcs[kind] = False
        for text in lines:
            prefix = grammar.prefix_of(text)
            fields = grammar.fields_of(text)
            if prefix in twice:
                continue
            if (
                self._reads_registration  # (a text-mode SMS listed by AT+CMGL or AT+CMGR may hold
                # a line "+CREG: 0,1", and anybody can text the bench's SIM)
                and prefix in _REGISTRATIONS
                and len(fields) >= 2
                and fields[0].isdigit()
                and fields[1].isdigit()
            ):
                self._reg_urcs[prefix] = fields[0] != "0"  # a read answer: <n>,<stat>,...
                self._registration[prefix] = int(fields[1])
            elif prefix == "+CMGF" and self._reads_state and fields in (["0"], ["1"]):
                self._sms_format = "pdu" if fields == ["0"] else "text"  # the answer to AT+CMGF?
            elif prefix == "+CSMP" and self._reads_state:  # the answer to AT+CSMP?: <fo>,<vp>,<pid>,<dcs>
                self._parameters = _plain_parameters(fields)
        self._reads_state = self._reads_registration = False

    def urc(self, name: str, line: str = "") -> None:
        """An unsolicited result: after a boot notice the SMS format is the modem's stored one again
        (and the registration is not known); a registration URC gives its new state."""
        if name in _MESSAGE_URCS and len(grammar.fields_of(line)) > 2:  # text mode (PDU: [<alpha>,]<length>)
            self._message_in_answer = True
        if name in _BOOT_NOTICES:
            self._format_after = None  # the line in flight may have run before the reset
            self._parameters_after = False
            self.restarted(name)
        elif name in _REGISTRATIONS:
            fields = grammar.fields_of(line)
            if fields and fields[0].isdigit():
                stat = int(fields[0])
                if stat not in _HOME:
                    self._registration[name] = stat  # roaming, searching, denied: believed at once
                elif self._registration.get(name) not in _HOME:
                    # "home" is believed from the answer to a read only: a text-mode SMS whose text
                    # holds a line "+CREG: 1" reads as this URC (its text's lines past the first are
                    # not told from URCs without +CSDH's length), and anybody can text the bench's
                    # SIM.  Back from roaming, the state is not known until the next read.
                    self._registration.pop(name, None)

    def restarted(self, why: str) -> None:
        """The modem restarted (a boot notice, or a sign of it such as its echo back on, which
        tells that it read the line in flight after the restart: what that line sets or reads
        stands): its SMS format is its stored one again, its registration URCs are off and its
        registration not known."""
        log.info("%s: the modem restarted (%s): SMS format and registration not known", self.url, why)
        self._sms_format = None
        self._parameters = False
        # the stored profile's (AT&W), else the module's own (as after AT&Y<n>: profile n's)
        self._charset = None if self._other_startup else self._stored_charset
        self._registration.clear()
        self._reg_urcs.clear()
        # a restart empties the command line, whatever a write left in it
        self._line_tail, self._maybe_written, self._line_lost = b"", None, ""

    @property
    def home(self) -> bool | None:
        """True: registered on the home network; False: roaming; None: not known."""
        stats = set(self._registration.values())
        if stats & _ROAMING:
            return False
        return True if stats & _HOME else None

    def check_data_write(
        self, data_mode: bool, data: bytes, numeric: bool = False, *, seven_bit: bool = False
    ) -> None:
        """Raw bytes (`ATClient.write_data`) go only to a call or socket in data mode, and never
        hold the `+++` escape (with a pause around it the modem would take the next bytes as
        command lines: `ATClient.escape()` is the way back to command mode).  Nor while the modem
        answers in digits (`numeric`, ATV0): the end of the call or socket, `3` for NO CARRIER,
        cannot be told from its data, and the modem, back in command mode, would read the bytes
        written after it as command lines.  `seven_bit`: the line carries 7 bits a character (a
        port opened 7E1): the modem reads each byte without its high bit, 0xAB as `+`."""
        if not self.enforcing:
            return
        if not data_mode:
            raise SafetyError(f"{self.url}: raw bytes refused: the modem is not in data mode")
        if numeric:
            raise SafetyError(
                f"{self.url}: raw bytes refused: the modem answers in digits (ATV0), where the end "
                "of data mode (3, NO CARRIER) cannot be told from data, after which the bytes would be "
                "command lines: send ATV1 before the call or socket"
            )
        written = self._data_tail + data
        if b"+++" in written or (seven_bit and b"+++" in written.translate(_SEVEN_BITS)):
            raise SafetyError(f"{self.url}: raw bytes refused: they hold the +++ escape (use escape())")
        found = _command_in_data(self._line_tail + data, self._restarts)
        if found is not None:
            text, why = found
            text = text if len(text) <= 80 else f"{text[:40]}...{text[-30:]}"
            raise SafetyError(
                f"{self.url}: raw bytes refused: they hold {text!r}, a command line ({why}) should the "
                "modem be back in command mode when it reads them (the far end hung up, the call "
                "dropped): send commands with command(), where the allow-list checks them"
            )
        tail = (self._line_tail + data)[-_LINE_TAIL:]
        self._tails_next = (tail[tail.rfind(b"\r") + 1 :], (self._data_tail + data)[-2:])

    def _across(self, line: bytes) -> tuple[str, str] | None:
        """A costly command line the modem may read from the bytes kept in its line on into `line`
        (`_command_across`): after a write that failed, from each first part of its bytes."""
        maybe = self._maybe_written
        if maybe is None:
            return _command_across(self._line_tail, line, self._restarts)
        for end in range(len(maybe) + 1):
            found = _command_across((self._line_tail + maybe[:end])[-_LINE_TAIL:], line, self._restarts)
            if found is not None:
                return found
        return None

    def written(self, data: bool = False) -> None:
        """The bytes checked last went out whole: the command line (with its line end), or with
        `data` the data after its prompt (`check`) or the raw bytes (`check_data_write`)."""
        line_tail, data_tail = self._tails_next
        self._line_tail = line_tail if data else b""
        if data:
            self._data_tail = data_tail
        self._maybe_written = None

    def write_failed(self, data: bytes) -> None:
        """A write of `data` (checked) failed or was cut: the modem may hold any first part of it
        after the bytes it held before.  Every next line is read after each of those; should a
        second write fail before one went out whole, what the modem's line holds is not known and
        every line is refused until the module restarts."""
        if self._maybe_written is not None:
            self._line_lost = (
                f"two writes failed one after the other ({len(data)} bytes the last): what the "
                "modem's command line holds is not known, and a line could be read after it as a "
                "call or an SMS; restart the module (AT+CFUN=1,1 is refused too: power it off and on)"
            )
        self._maybe_written = data[-_LINE_TAIL:]
        self._data_tail = b"++"  # (an escape split over the writes: the worst case)

    def _refuse(self, line: str, why: str) -> SafetyError:
        return SafetyError(f"{self.url}: {line!r} refused: {why}")

    def _check(
        self, line: str, kind: str, value: str, data: bytes | None, sms_format: str | None, parameters: bool
    ) -> None:
        if kind in ("refuse", "unreadable"):
            raise self._refuse(line, value)
        if kind == "auto-answer" and self.strict and not self.incoming_calls:
            raise self._refuse(
                line,
                f"S0={value} has the modem answer incoming calls by itself: a data (CSD) call answered "
                "would connect whoever calls to the bench's serial line, and an answered call is billed "
                "when roaming; set incoming_calls: yes in the bench's allow-list if calls are expected",
            )
        if kind == "profile" and self.strict and unseen_reset(line) is not None:
            raise self._refuse(
                line,
                f"AT{value} brings back the stored or factory profile (a stored S0 > 0 answers calls "
                "by itself) where the client does not see a reset (after an extended command or a ';', "
                "the prefix spaced, a parity bit set), so it would not set its settings and "
                f"auto-answer off again after it: send AT{value} at the start of its own line",
            )
        if kind == "answer" and self.strict:
            log.warning(
                "%s: %r answers an incoming call: a data (CSD) call connects the caller to the serial "
                "line, and an answered call is billed when roaming",
                self.url,
                line,
            )
        if kind in ("unlisted", "unlisted-form"):
            if self.strict and value not in self.allow_commands:
                raise self._refuse(line, _unlisted_why(kind, value))
        elif kind in ACTIONS:
            if kind == "sms" and sms_format != "text":
                raise self._refuse(
                    line,
                    "the SMS format is not known to be text mode (in PDU mode the text would be read "
                    "as a PDU): send AT+CMGF=1 (or read AT+CMGF?) on the line before",
                )
            if kind == "sms" and data is None:
                raise self._refuse(line, "the message must be given with the command")
            if kind == "sms":
                self._check_parameters(line, parameters)
            resolve_policy(self.url, self.policy).check(value, cast(Action, kind))
            self._check_home(line, value, cast(Action, kind))
        elif kind == "pdu":
            policy = resolve_policy(self.url, self.policy)
            if sms_format != "pdu":
                raise self._refuse(
                    line,
                    "the SMS format is not known to be PDU mode (in text mode the number is "
                    "the destination): send AT+CMGF=0 (or read AT+CMGF?) on the line before",
                )
            if data is None:
                raise self._refuse(line, "the message must be given with the command")
            destination = _pdu_destination(line, _decimal(value), data, self._refuse)
            policy.check(destination, "sms")
            self._check_home(line, destination, "sms")

    def _check_parameters(self, line: str, parameters: bool) -> None:
        """A text-mode send goes only with the text-mode parameters known to make a plain
        SMS-SUBMIT: set or read just before, as the format (`CommandGuard._parameters`)."""
        if not parameters:
            raise self._refuse(
                line,
                "the text-mode parameters (AT+CSMP) are not known to make a plain SMS-SUBMIT: the module "
                "sends with the first octet and protocol identifier it has (stored with AT+CSAS by whoever "
                "stored them, brought back by a reset), which may have the SMS centre mail the text to an "
                "address inside it, fax it or call: send AT+CSMP=17,167,0,0 (or read AT+CSMP?) just before",
            )

    def _check_charset(self, line: str, charset: str | None, unknown: str) -> None:
        """A text-mode number goes only in a character set known to write it as itself: `charset`,
        the one the send runs in (set on the line before it, else as last set or read); "" not
        known, for the reason `unknown`; None neither set nor read since the start or a restart
        (the module's own: the one a program before the run left, or its stored profile's; the
        virtual modem's and a recording's are the ones they started in)."""
        if charset in PLAIN_CHARSETS or (charset is None and not self.strict):
            return
        if charset is None:
            raise self._refuse(
                line,
                "the TE character set (AT+CSCS), in which the module reads the quoted number, was neither "
                "set nor read since the start or the module's restart: a program before the run, or the "
                'stored profile (AT&W), may have left "HEX", where "3636" is the number 66; read AT+CSCS? '
                'or set AT+CSCS="IRA" (or "GSM") first, or text in PDU mode',
            )
        said = f'"{charset}"' if charset else f"not known ({unknown})"
        raise self._refuse(
            line,
            f"the TE character set (AT+CSCS) is {said}: the module reads the quoted number in it "
            '("3636" in "HEX" is the number 66), not as written: set AT+CSCS="IRA" or "GSM" first',
        )

    def _check_home(self, line: str, number: str, action: Action) -> None:
        """A spelling without `+` (or with `00` for it) reaches the listed subscriber on the home
        network only."""
        if not home_network_only(self.policy, number, action) or self.home:
            return
        where = (
            "the modem is roaming"
            if self.home is False
            else "the modem is not known to be on its home network"
        )
        raise self._refuse(
            line,
            f"{number} is allowed only as a home network's spelling of a listed number (national or "
            f"short, or with 00 as the international prefix), which reaches that subscriber only on the "
            f"home network, and {where} (+CREG/+CGREG/+CEREG): use the international spelling (+)",
        )

    def _check_data(self, line: str, data: bytes) -> None:
        """Data after a prompt must end where the modem ends it: at its length, or at its one Ctrl-Z
        (bytes after an early Ctrl-Z or ESC would be read as command lines).  A send is read by its
        form in `SEND_FORMS` (the modules' manuals): one with a length (`AT+CIPSEND=<n>`,
        `AT+QISEND=<id>,<n>`, `AT#SSENDEXT=<id>,<n>`, `AT+USOWR=<s>,<n>`, `AT+CASEND=<cid>,<n>`)
        takes that many bytes, whatever they are: data of another length is refused, as the bytes
        past it would be read as command lines (and the bytes short of it taken from the next line,
        the rest of which read from another place).  A send not in the table whose last parameter
        is a number is read as of that length; one whose data is in the line takes none after it."""
        text = _outside_quotes(_seven_bit(line))
        parts = _split(text.partition("AT")[2], ";")
        sends = [m for m in map(_SEND_WITH_ARGS.fullmatch, parts) if m is not None and _is_send(m.group(1))]
        lengths: list[str] = []
        for m in sends:
            params = _split(m.group(2), ",")
            form = SEND_FORMS.get((m.group(1), len(params)))
            if form is not None and form.inline:
                raise self._refuse(
                    line,
                    "its data is in the line: the module reads no bytes after it, and would read "
                    "these as a command line",
                )
            if form is None:
                lengths.append(params[-1])
            elif form.length is not None:
                lengths.append(params[form.length])
        for length in lengths:
            if length.isdigit() and _decimal(length) != len(data):
                raise self._refuse(
                    line,
                    f"its data is {len(data)} bytes, but the modem may take {_decimal(length)} (the "
                    "send's length): bytes past it would be read as command lines",
                )
        # (then a Ctrl-Z is data; a send after other commands on its line ends at its Ctrl-Z too)
        sized = len(parts) == len(sends) == len(lengths) == 1 and lengths[0].isdigit()
        if not sized:
            for view in (data, data.translate(_SEVEN_BITS)):  # as read with and without the parity bit
                ends = [i for i, b in enumerate(view) if b in (0x1A, 0x1B)]
                if ends != [len(data) - 1] or view[-1] != 0x1A:
                    raise self._refuse(
                        line, "its data must end with one Ctrl-Z and hold no other Ctrl-Z or ESC"
                    )
        # the modem reads the bytes after its prompt as data, whatever they are, up to the send's
        # length or its Ctrl-Z; but a `> ` that was not its own (a line of a text-mode SMS's text,
        # which anybody can send the bench's SIM) or a send it refuses after all leaves it in command
        # mode, where the bytes are a command line (the Ctrl-Z a control character it drops), ended
        # by the next line's CR if not by their own (on a physical modem: the virtual one's prompts
        # are its own, and reading each payload costs 0.05-0.3 ms of CPU a 1,460-byte segment)
        found = _command_in_data(data + b"\r", self._restarts) if self.strict else None
        if found is not None:
            raise self._refuse(
                line,
                f"its data holds {found[0]!r}, a command line ({found[1]}) should the modem read "
                "it in command mode (a prompt not its own, a send refused)",
            )


_LINE_TAIL = 1024  # longer than any module's command line buffer (V.250: at least 40 characters)
_PREFIX = re.compile(r"A *T", re.IGNORECASE)
_MAY_COST = re.compile(r"[DS+^$*%#!@]", re.IGNORECASE)  # what a costly command line holds
_DATA_READINGS = 512  # `AT`s read as command lines per write: a bound on the time it takes


def _command_in_data(data: bytes, restarts: Restarts) -> tuple[str, str] | None:
    """A command line in data-mode bytes that would text, call, forward or send USSD should the
    modem read them in command mode, with what it does; None when there is none.

    The modem may be back in command mode at any byte (the call dropped before the bytes went), and
    then takes the first `AT` it meets as a prefix: each `AT` in the bytes is one, up to the next
    line end (CR, or LF for modules that take it).  Each line is read with the control characters
    dropped, backspaces applied or not, as is and without the parity bit.  Lines that merely cannot
    be read as commands are data (the modem answers ERROR); `A/` is too common in text to count,
    and repeats a line the guard checked.  A line whose quoted strings a module may end elsewhere
    (`_string_trouble`) is read without its quotes too: one that runs a line up to where it fails
    dials before a quote left open (`{"cmd":"ATD+33...;"}`), and V.250 ignores a quote in a dial
    string (`ATD+336"99...;`)."""
    seven = data.translate(_SEVEN_BITS)
    read: set[str] = set()  # each reading once: most lines look the same every way
    for view in (data, seven) if seven != data else (data,):
        for ends in (rb"\r", rb"[\r\n]"):
            for line in re.split(ends, view)[:-1]:  # the last one has no line end yet
                for edit in (True, False) if b"\b" in line else (False,):  # (without one, the same)
                    text = _typed(line, edit)
                    if not _MAY_COST.search(text):
                        continue  # no dial, S-register or extended command: nothing to read
                    found = _costly_reading(text, len(text), read, restarts)
                    if found is not None:
                        return found
    return None


def _costly_reading(text: str, before: int, read: set[str], restarts: Restarts) -> tuple[str, str] | None:
    """The first command line read from an `AT` of `text` that starts before `before` that would
    text or call, with what it does; None when there is none.  `read`: the readings made so far
    (each once; past `_DATA_READINGS` of them the bytes are refused)."""
    for m in _PREFIX.finditer(text):
        if m.start() >= before:
            break
        readings = [text[m.start() : m.start() + _LINE_TAIL]]  # no module keeps a longer line
        while readings:
            command = readings.pop()
            if command in read:
                continue
            if len(read) == _DATA_READINGS:
                return command[:40], (
                    f"one of more than {_DATA_READINGS} `AT`s in one write, too many to read each as a "
                    "command line: write the bytes in smaller parts"
                )
            read.add(command)
            effects = _line_effects(command, restarts)
            why = _costly_effect(effects)
            if why is not None:
                return command, why
            if _quotes_unread(command, effects):  # read without them too
                readings.append(command.replace('"', ""))
    return None


def _command_across(tail: bytes, line: bytes, restarts: Restarts) -> tuple[str, str] | None:
    """A command line the modem reads from an `AT` in `tail` (bytes written before `line` after
    their last line end, kept in its command line should it be back in command mode) on into
    `line`, that would text or call, with what it does; None when there is none.  Read as
    `_command_in_data` reads; the readings from the line's own `AT`s are the line's, checked as it."""
    read: set[str] = set()
    for before, after in ((tail, line), (tail.translate(_SEVEN_BITS), line.translate(_SEVEN_BITS))):
        for ends in (rb"\r", rb"[\r\n]"):
            last = re.split(ends, before)[-1]
            for edit in (True, False) if b"\b" in last else (False,):
                head = _typed(last, edit)
                found = _costly_reading(head + _typed(after, edit), len(head), read, restarts)
                if found is not None:
                    return found
    return None


def _quotes_unread(command: str, effects: list[Effect]) -> bool:
    """Whether the guard read none of `command` for its quoted strings, which a module may end
    elsewhere (`_string_trouble`: the line is unreadable as a whole)."""
    unread = len(effects) == 1 and effects[0][0] == "unreadable" and '"' in command
    return unread and _string_trouble(command) is not None


def _typed(line: bytes, edit: bool) -> str:
    """A line as a module keeps it: control characters dropped, a backspace (`edit`) erasing the
    character before it."""
    if not edit:
        return line.translate(None, _CONTROLS).decode("latin-1")
    parts = line.translate(None, _CONTROLS.replace(b"\b", b"")).split(b"\b")
    out = bytearray(parts[0])
    for part in parts[1:]:  # each after a backspace, which erased the character before it
        del out[-1:]
        out += part
    return out.decode("latin-1")


def _texts_or_calls(effects: list[Effect]) -> bool:
    """Whether these effects text or call (a number, or AT+CMGS=<length>: a PDU whose number follows)."""
    return any(kind in ACTIONS or kind == "pdu" for kind, _ in effects)


def _costly_effect(effects: list[Effect]) -> str | None:
    """What of these effects texts, calls, forwards or sends USSD, in words; None when none does."""
    for kind, value in effects:
        if kind == "refuse":
            return value
        if kind in ACTIONS:
            return f"{'texts' if kind == 'sms' else 'calls'} {value}"
        if kind == "pdu":
            return "sends an SMS (PDU mode)"
    return None


def _pid_why(pid: int) -> str:
    what = (
        "has the SMS centre convert the message to another service (fax, e-mail to an address in the "
        "text, a call reading it out)"
        if 0x20 <= pid <= 0x3F
        else "is the SMS centre's own use or reserved"
        if pid >= 0x80
        else "is not a plain SMS (0), a type 0 or a replace type (64-71)"
    )
    return f"the protocol identifier {pid if pid >= 0 else '?'} {what}"


def _plain_first_octet(first: int) -> bool:
    """Whether an MO first octet (0-255) is an SMS-SUBMIT's without the reply path."""
    return 0 <= first <= 0xFF and first & 0x03 == _MTI_SUBMIT and not first & _TP_RP


def _reply_path_why(first: int) -> str:
    return (
        f"the first octet {first} sets TP-Reply-Path (bit 7, 23.040 §9.2.3.17): the recipient's reply "
        "goes through the bench's SMS centre and may be charged to the bench's SIM (23.040 Annex D), "
        "a message the allow-list does not cover"
    )


def _first_octet_why(first: str) -> str:
    octet = _decimal(first) if first.isdigit() else -1
    if not 0 <= octet <= 0xFF:
        return f"the first octet {first!r} is not a number 0-255 (27.005 §3.3.2: integer format)"
    if octet & 0x03 == _MTI_SUBMIT:
        return _reply_path_why(octet)
    kind = {0: "an SMS-DELIVER-REPORT", 2: "an SMS-COMMAND"}.get(octet & 0x03, "reserved")
    return (
        f"the first octet {first} has the message type indicator {octet & 0x03} ({kind}), not "
        "SMS-SUBMIT (1): text mode would send a message the SMS centre acts on its own way (an "
        "SMS-COMMAND deletes, enquires about or has it act on an earlier message)"
    )


def _parameters_after(known: bool, kind: str, value: str) -> bool:
    """Whether the text-mode parameters are known to make a plain SMS-SUBMIT after one effect: a
    reset brings the module's stored ones back, an AT+CSMP giving the first octet and the TP-PID
    sets plain ones (the guard refuses any other), one leaving either as it is keeps what was known."""
    if kind == "reset":
        return False
    return known or value == "plain" if kind == "parameters" else known


def _plain_parameters(fields: list[str]) -> bool:
    """Whether a `+CSMP: <fo>,<vp>,<pid>,<dcs>` answer makes a plain SMS-SUBMIT."""
    if len(fields) < 3 or not (fields[0].isdigit() and fields[2].isdigit()):
        return False
    return _plain_first_octet(int(fields[0])) and int(fields[2]) in _PLAIN_PIDS


def _pdu_destination(line: str, length: int, data: bytes, refuse: Callable[[str, str], SafetyError]) -> str:
    """The destination number of the SMS-SUBMIT written after `AT+CMGS=<length>`."""
    from modem.sms import Direction, SmsCodecError, SmsSubmit, decode_pdu

    body = data[:-1]
    if not re.fullmatch(rb"(?:[0-9A-Fa-f]{2})+", body):
        raise refuse(line, "the PDU is not hexadecimal octets")
    try:
        message = decode_pdu(body.decode("ascii"), Direction.MO, tpdu_length=length, prefix_required=True)
    except SmsCodecError as exc:
        raise refuse(line, f"the PDU cannot be read: {exc}") from None
    if not isinstance(message, SmsSubmit):
        raise refuse(line, f"the PDU is a {type(message).__name__}, not an SMS-SUBMIT")
    if message.smsc is not None:
        raise refuse(line, f"the PDU names its own SMS centre ({message.smsc.number})")
    if message.reply_path:
        raise refuse(line, _reply_path_why(int(body[2:4], 16)))  # after the empty SMSC octet
    if message.pid not in _PLAIN_PIDS:
        raise refuse(line, _pid_why(message.pid))
    dest = message.destination
    if dest.ton > 2 or dest.npi > 1:
        raise refuse(line, f"the destination {dest.value!r} has the type of address {dest.toa:#x}")
    # TP-DA (23.040 §9.1.2.5) after the empty SMSC octet, TP-MTI and TP-MR: its digit count, its type
    # of address and its semi-octets, low one first.  The reader drops a filler F wherever it is:
    # one among the counted digits (`336F12345678`) reads as an allowed number while an SMS centre
    # may end the number there or refuse it; a last semi-octet past an odd count that is not F
    # may be read as a digit.  Either way the number the network uses is not known.
    tpdu = bytes.fromhex(body.decode("ascii"))[1:]
    if not tpdu[3] & 0x80:
        # 23.040 §9.1.2.5 sets bit 7 of the type of address; clear, a reader that follows 24.008's
        # called party BCD number (octet 3 extended by an octet 3a) takes the first two digits for
        # that octet and sends the rest: another number than the one read here
        raise refuse(
            line,
            f"the destination's type of address {tpdu[3]:#04x} has bit 7 clear (23.040 sets it): a reader "
            "may take the next octet for an extension of it and the number for another",
        )
    count = tpdu[2]
    semis = "".join(f"{b & 0xF:x}{b >> 4:x}" for b in tpdu[4 : 4 + (count + 1) // 2])
    if "f" in semis[:count]:
        why = f"hold a filler F among its {count} digits"
    elif semis[count:] not in ("", "f"):
        why = f"end its odd count ({count}) with {semis[count:].upper()!r}, not the filler F"
    else:
        return dest.number
    raise refuse(
        line, f"the destination's semi-octets {semis.upper()!r} {why}: an SMS centre may read another number"
    )
