"""The bench allow-list: the numbers a bench may text and call, with labels, from a YAML file.

    # bench.yaml
    country_code: "33"            # how national numbers (0 + 9 digits) are read (default 33)
    numbers:
      - number: "+33 6 12 34 56 78"
        label: bench phone A (Orange)
        allow: [sms, call]        # sms, call, csd (default: sms and call)
      - number: "06 98 76 54 32"  # national spelling: also allowed as +33698765432 (as written: at home)
        label: SMS loopback SIM
        allow: [sms]
        dest: fr-mobile           # tariff destination for the cost estimate (default: from the number)
    allow_commands: [AT+QENG]     # commands the driver's command guard lets through on a physical
                                  # modem besides those known to be safe (never texts, calls, USSD)
    incoming_calls: no            # yes: the bench expects calls in, so ATS0=<n> (auto-answer) may
                                  # be set on a physical modem (default no: refused)
    sms_centre: "+33 6 89 00 40 00"  # the SMS centre the module must have (AT+CSCA?) on a physical
                                  # modem before the run's first SMS or call (default: not checked)

The file becomes a `modem.safety` policy (`BenchAllowList.policy()`): one `modem.safety.AllowList`
per action, so the decision (number normalisation, matching) is the modem layer's, never a second
copy.  A national number is allowed under its E.164 spelling too, and an E.164 number of the
bench's country under its national spelling: the same subscriber either way, but only on the home
network, so a national spelling (listed or not) goes only while the modem is registered at home (the driver's
command guard follows +CREG/+CGREG/+CEREG; `modem.safety.CommandGuard`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accounting.records import Dest
from hil.errors import AllowListError
from m2msim.yamlio import (
    LocatedDict,
    LocatedList,
    YamlError,
    check_keys,
    load_yaml,
    mapping,
    sequence,
    text_field,
    text_list,
)
from modem.safety import (
    ACTIONS,
    Action,
    AllowList,
    FrozenMapping,
    NumberNotAllowed,
    ReadOnly,
    allow_commands_field,
    listed_number,
    normalise_number,
)

log = logging.getLogger(__name__)

DEFAULT_ACTIONS: tuple[str, ...] = ("sms", "call")
_TOP_KEYS = {"country_code", "numbers", "allow_commands", "incoming_calls", "sms_centre"}
_ENTRY_KEYS = {"number", "label", "allow", "dest"}
_NSN_DIGITS = 9  # France: 0 + 9-digit national significant number (ARCEP plan)


@dataclass(frozen=True, slots=True)
class AllowedNumber:
    """One allowed number as written in the file, with its spellings, label and actions."""

    number: str
    label: str
    actions: frozenset[str]
    spellings: frozenset[str]  # normalised forms matched by the safety policy
    dest: Dest
    line: int  # where it is in the file (1-based; 0 when built in code)

    @property
    def home_only(self) -> frozenset[str]:
        """The national spelling of a number listed in international form: it reaches the same
        subscriber only while the modem is on its home network (abroad it is a number there)."""
        written = normalise_number(self.number)
        return frozenset(s for s in self.spellings if s != written and not s.startswith("+"))

    @property
    def e164(self) -> str:
        """The `+CC...` spelling when there is one, else the number as normalised."""
        return next((s for s in sorted(self.spellings) if s.startswith("+")), min(self.spellings))


class ActionAllowLists(ReadOnly):
    """A `modem.safety.DialPolicy` made of one `modem.safety.AllowList` per action, with the
    bench's `allow_commands` for the driver's command guard.

    Read-only once built (`modem.safety.ReadOnly`, its lists a `FrozenMapping` of read-only
    `AllowList`s): a bench script cannot add a number, an action or a command to the policy the
    command guard checks; setting, deleting or replacing any of it raises `ReadOnlyPolicy`."""

    __slots__ = ("allow_commands", "incoming_calls", "lists")
    lists: FrozenMapping[str, AllowList]
    allow_commands: tuple[str, ...]
    incoming_calls: bool  # the command guard lets ATS0=<n> (auto-answer) through

    def __init__(
        self,
        lists: Mapping[str, AllowList],
        allow_commands: Iterable[str] = (),
        *,
        incoming_calls: bool = False,
    ) -> None:
        for action, allow in lists.items():
            if not isinstance(allow, AllowList):  # a read-only list, not one a caller may change
                raise TypeError(f"{action}: expected a modem.safety.AllowList, got {type(allow).__name__}")
        init = object.__setattr__
        init(self, "lists", FrozenMapping(lists))
        init(self, "allow_commands", tuple(allow_commands))
        init(self, "incoming_calls", incoming_calls is True)

    def check(self, number: str, action: Action) -> None:
        allow = self.lists.get(action)
        if allow is None:
            raise NumberNotAllowed(number, action)
        allow.check(number, action)

    def home_network_only(self, number: str, action: Action) -> bool:
        allow = self.lists.get(action)
        return allow is not None and allow.home_network_only(number, action)


@dataclass(frozen=True, slots=True)
class BenchAllowList:
    """The loaded allow-list file."""

    entries: tuple[AllowedNumber, ...]
    source: str = "<allow-list>"
    country_code: str = "33"
    allow_commands: tuple[str, ...] = ()  # commands the command guard lets through besides its own
    incoming_calls: bool = False  # calls in are expected: auto-answer (ATS0=<n>, n > 0) may be set
    sms_centre: str = ""  # the SMS centre the module must have (AT+CSCA?), as written; "": not checked

    @property
    def sms_centres(self) -> frozenset[str]:
        """The `sms_centre`'s spellings (`spellings_of`); empty when none is named."""
        return spellings_of(self.sms_centre, self.country_code) if self.sms_centre else frozenset()

    def __iter__(self) -> Iterator[AllowedNumber]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def policy(self) -> ActionAllowLists:
        """The `modem.safety` policy the drivers and the harness check before every send and call."""
        lists: dict[str, AllowList] = {}
        for action in sorted(ACTIONS):
            entries = [e for e in self.entries if action in e.actions]
            home_only = [s for e in entries for s in e.home_only]
            numbers = [s for e in entries for s in e.spellings - e.home_only]
            lists[action] = AllowList(numbers, actions=[action], home_only=home_only)
        return ActionAllowLists(lists, self.allow_commands, incoming_calls=self.incoming_calls)

    def find(self, number: str) -> AllowedNumber | None:
        """The entry a number belongs to (any spelling), or None."""
        try:
            wanted = normalise_number(number)
        except ValueError:
            return None
        return next((e for e in self.entries if wanted in e.spellings), None)

    def first(self, action: str) -> AllowedNumber | None:
        """The first entry allowed for `action` (the default target of a bench script)."""
        return next((e for e in self.entries if action in e.actions), None)


def spellings_of(number: str, country_code: str = "33") -> frozenset[str]:
    """`0612345678` -> {`0612345678`, `+33612345678`}; `+33612345678` -> the same pair."""
    canonical = normalise_number(number)
    out = {canonical}
    digits = canonical.lstrip("+")
    if canonical.startswith("0") and len(canonical) == _NSN_DIGITS + 1 and digits.isdigit():
        out.add(f"+{country_code}{canonical[1:]}")
    elif canonical.startswith(f"+{country_code}") and len(canonical) == len(country_code) + 1 + _NSN_DIGITS:
        out.add("0" + canonical[len(country_code) + 1 :])
    return frozenset(out)


def destination_of(number: str, country_code: str = "33") -> Dest:
    """The tariff destination of a number by the French numbering plan (ARCEP).

    06/07 mobile, 01-05 and 09 fixed, 08 special-rate (premium), short codes (2-6 digits)
    premium, another country code international.  Overseas departments share the +33 code but are
    priced as international: give them `dest: intl` in the allow-list.
    """
    canonical = normalise_number(number)
    if canonical.startswith("+"):
        if not canonical.startswith(f"+{country_code}"):
            return Dest.INTL
        nsn = canonical[len(country_code) + 1 :]
    elif canonical.startswith("0") and len(canonical) == _NSN_DIGITS + 1:
        nsn = canonical[1:]
    elif 2 <= len(canonical) <= 6:
        return Dest.FR_PREMIUM
    else:
        nsn = canonical
    first = nsn[:1]
    if first in ("6", "7"):
        return Dest.FR_MOBILE
    if first == "8":
        return Dest.FR_PREMIUM
    return Dest.FR_FIXED


# -- loading -------------------------------------------------------------------------------------------


def parse_allow_list(data: Any, source: str = "<allow-list>", node: Any = None) -> BenchAllowList:
    """Build the allow-list from parsed YAML (read by `m2msim.yamlio`, whose mappings carry their
    lines; plain dicts built in code are taken too).  `node` is accepted for older callers."""
    try:
        return _allow_list(data, source)
    except AllowListError:
        raise
    except YamlError as exc:
        raise AllowListError(exc.source, exc.line, exc.key, exc.reason) from None


def _allow_list(data: Any, source: str) -> BenchAllowList:
    if data is None:
        raise AllowListError(source, 1, "numbers", "the file is empty: list the bench's numbers")
    top = mapping(data, source, "", 1)
    check_keys(top, _TOP_KEYS, source, "", required=("numbers",))
    cc_raw = top.get("country_code", "33")
    country_code = str(cc_raw).lstrip("+")
    if isinstance(cc_raw, bool) or not country_code.isdigit() or not 1 <= len(country_code) <= 3:
        raise AllowListError(
            source, top.line_of("country_code"), "country_code", f"expected 1-3 digits, got {cc_raw!r}"
        )
    items = sequence(top["numbers"], source, "numbers", top.line_of("numbers"))
    entries: list[AllowedNumber] = []
    seen: dict[str, int] = {}
    for i in range(len(items)):
        entry = _parse_entry(items, i, source, country_code)
        for spelling in entry.spellings:
            if spelling in seen:
                raise AllowListError(
                    source,
                    entry.line or None,
                    f"numbers[{i}].number",
                    f"{entry.number!r} is already listed (line {seen[spelling]})",
                )
            seen[spelling] = entry.line
        entries.append(entry)
    commands = allow_commands_field(top, source, "")
    incoming = top.get("incoming_calls", False)
    if not isinstance(incoming, bool):
        raise AllowListError(
            source, top.line_of("incoming_calls"), "incoming_calls", f"expected yes or no, got {incoming!r}"
        )
    centre = text_field(top, "sms_centre", source, "", required=False, what="a phone number") or ""
    if centre:
        try:
            listed_number(centre)
        except ValueError as exc:
            raise AllowListError(source, top.line_of("sms_centre"), "sms_centre", str(exc)) from None
    return BenchAllowList(tuple(entries), source, country_code, commands, incoming, centre)


def _parse_entry(items: LocatedList, i: int, source: str, country_code: str) -> AllowedNumber:
    path = f"numbers[{i}]"
    line = items.line_of(i)
    item = items[i]
    if not isinstance(item, dict):
        # A bare list item: the number itself (an unquoted one is refused: YAML made it a number).
        holder = LocatedDict({"number": item})
        holder.line = line
        holder.key_lines["number"] = line or 0
        raw = items.raw(i)
        if raw is not None:
            holder.raw_text["number"] = raw
        if isinstance(item, list):
            raise AllowListError(
                source, line, path, "expected {number, label, allow} or a number, got a list"
            )
        try:
            number = text_field(holder, "number", source, "", what="a phone number")
        except YamlError as exc:  # the item is the number: name the item, not a key it lacks
            raise AllowListError(source, line, path, exc.reason) from None
        entry = LocatedDict({"number": number})
        entry.line = line
        entry.key_lines["number"] = line or 0
        item = entry
    entry = mapping(item, source, path, line)
    check_keys(entry, _ENTRY_KEYS, source, path, required=("number",))

    def fail(key: str, reason: str) -> AllowListError:
        return AllowListError(source, entry.line_of(key), f"{path}.{key}", reason)

    number = text_field(entry, "number", source, path, what="a phone number")
    assert number is not None
    try:
        listed_number(number)
        spellings = spellings_of(number, country_code)
    except ValueError as exc:
        raise fail("number", str(exc)) from None
    label = entry.get("label") or ""
    if not isinstance(label, str):  # a number or a list: refused as text_field words it
        text_field(entry, "label", source, path, what="a label")
    allow = text_list(entry, "allow", source, path, default=DEFAULT_ACTIONS, what="an action")
    if not allow:
        raise fail("allow", f"expected a list of actions from {sorted(ACTIONS)}, got an empty list")
    unknown = sorted(set(allow) - ACTIONS)
    if unknown:
        raise fail("allow", f"unknown action {unknown[0]!r}; known: {sorted(ACTIONS)}")
    dest_raw = text_field(entry, "dest", source, path, required=False, what="a tariff destination")
    if dest_raw is None:
        dest = destination_of(number, country_code)
    else:
        try:
            dest = Dest(dest_raw)
        except ValueError:
            known = [d.value for d in Dest if d not in (Dest.ORANGE_FR, Dest.OTHER)]
            raise fail("dest", f"unknown destination {dest_raw!r}; known: {known}") from None
    return AllowedNumber(number, label, frozenset(allow), spellings, dest, line or 0)


def load_allow_list(path: str | Path) -> BenchAllowList:
    """Read a bench allow-list file; `AllowListError` names the file, the line and the key path.

    A phone number YAML reads as a number (`+33612345678` or `0612345670` unquoted: the second is
    the octal number 103402424) is refused with the advice to quote it, never guessed back."""
    source = str(path)
    try:
        data = load_yaml(path, source=source, allow_empty=True)
    except YamlError as exc:
        raise AllowListError(exc.source, exc.line, exc.key, exc.reason) from None
    result = parse_allow_list(data, source)
    log.info("%s: %d allowed numbers", source, len(result))
    return result


def allow_list_from_numbers(
    numbers: Mapping[str, str] | list[str],
    actions: tuple[str, ...] = DEFAULT_ACTIONS,
    country_code: str = "33",
) -> BenchAllowList:
    """An allow-list built in code: numbers (optionally number -> label) allowed for `actions`."""
    labelled = dict(numbers) if isinstance(numbers, Mapping) else dict.fromkeys(numbers, "")
    data = {
        "country_code": country_code,
        "numbers": [{"number": n, "label": label, "allow": list(actions)} for n, label in labelled.items()],
    }
    return parse_allow_list(data, "<code>")
