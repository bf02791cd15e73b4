"""The bench allow-list: the numbers a bench may text and call, with labels, from a YAML file.

    # bench.yaml
    country_code: "33"            # how national numbers (0 + 9 digits) are read (default 33)
    numbers:
      - number: "+33 6 12 34 56 78"
        label: bench phone A (Orange)
        allow: [sms, call]        # sms, call, csd (default: sms and call)
      - number: "06 98 76 54 32"  # national spelling: also allowed as +33698765432
        label: SMS loopback SIM
        allow: [sms]
        dest: fr-mobile           # tariff destination for the cost estimate (default: from the number)

The file becomes a `modem.safety` policy (`BenchAllowList.policy()`): one `modem.safety.AllowList`
per action, so the decision (number normalisation, matching) is the modem layer's, never a second
copy.  A national number is allowed under its E.164 spelling too, and an E.164 number of the
bench's country under its national spelling: the same subscriber either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accounting.records import Dest
from hil.errors import AllowListError
from modem.safety import ACTIONS, Action, AllowList, NumberNotAllowed, normalise_number

log = logging.getLogger(__name__)

DEFAULT_ACTIONS: tuple[str, ...] = ("sms", "call")
_TOP_KEYS = {"country_code", "numbers"}
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
    def e164(self) -> str:
        """The `+CC...` spelling when there is one, else the number as normalised."""
        return next((s for s in sorted(self.spellings) if s.startswith("+")), min(self.spellings))


class ActionAllowLists:
    """A `modem.safety.DialPolicy` made of one `modem.safety.AllowList` per action."""

    def __init__(self, lists: Mapping[str, AllowList]) -> None:
        self.lists = dict(lists)

    def check(self, number: str, action: Action) -> None:
        allow = self.lists.get(action)
        if allow is None:
            raise NumberNotAllowed(number, action)
        allow.check(number, action)


@dataclass(frozen=True, slots=True)
class BenchAllowList:
    """The loaded allow-list file."""

    entries: tuple[AllowedNumber, ...]
    source: str = "<allow-list>"
    country_code: str = "33"

    def __iter__(self) -> Iterator[AllowedNumber]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def policy(self) -> ActionAllowLists:
        """The `modem.safety` policy the drivers and the harness check before every send and call."""
        lists: dict[str, AllowList] = {}
        for action in sorted(ACTIONS):
            numbers = [s for e in self.entries if action in e.actions for s in e.spellings]
            lists[action] = AllowList(numbers, actions=[action])
        return ActionAllowLists(lists)

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


def _key_line(node: Any, key: str) -> int | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return None


def _value_node(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _node_line(node: Any) -> int | None:
    return int(node.start_mark.line) + 1 if node is not None else None


def parse_allow_list(data: Any, source: str = "<allow-list>", node: Any = None) -> BenchAllowList:
    """Build the allow-list from parsed YAML (`node`: the composed document, for line numbers)."""
    if data is None:
        raise AllowListError(source, 1, "numbers", "the file is empty: list the bench's numbers")
    if not isinstance(data, dict):
        raise AllowListError(source, _node_line(node) or 1, "", "expected a mapping with `numbers:`")
    for key in data:
        if key not in _TOP_KEYS:
            raise AllowListError(
                source, _key_line(node, str(key)), str(key), f"unknown key; known: {sorted(_TOP_KEYS)}"
            )
    cc_raw = data.get("country_code", "33")
    country_code = str(cc_raw).lstrip("+")
    if isinstance(cc_raw, bool) or not country_code.isdigit() or not 1 <= len(country_code) <= 3:
        raise AllowListError(
            source, _key_line(node, "country_code"), "country_code", f"expected 1-3 digits, got {cc_raw!r}"
        )
    raw = data.get("numbers")
    if raw is None:
        raise AllowListError(source, _node_line(node) or 1, "numbers", "required field missing")
    list_node = _value_node(node, "numbers")
    if not isinstance(raw, list):
        raise AllowListError(source, _key_line(node, "numbers"), "numbers", "expected a list of entries")
    entries: list[AllowedNumber] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        item_node = list_node.value[i] if isinstance(list_node, yaml.SequenceNode) else None
        entry = _parse_entry(item, i, source, item_node, country_code)
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
    return BenchAllowList(tuple(entries), source, country_code)


def _parse_entry(item: Any, i: int, source: str, node: Any, country_code: str) -> AllowedNumber:
    path = f"numbers[{i}]"
    line = _node_line(node)

    def fail(key: str, reason: str) -> AllowListError:
        where = _key_line(node, key) or line
        return AllowListError(source, where, f"{path}.{key}" if key else path, reason)

    if isinstance(item, str | int) and not isinstance(item, bool):
        item = {"number": str(item)}
    if not isinstance(item, dict):
        raise fail("", f"expected {{number, label, allow}} or a number, got {item!r}")
    for key in item:
        if key not in _ENTRY_KEYS:
            raise fail(str(key), f"unknown key; known: {sorted(_ENTRY_KEYS)}")
    number = item.get("number")
    if number is None:
        raise fail("number", "required field missing")
    if isinstance(number, int) and not isinstance(number, bool):
        raise fail("number", f"write the number as a quoted string (YAML read {number!r} as an integer)")
    if not isinstance(number, str):
        raise fail("number", f"expected a phone number, got {number!r}")
    try:
        spellings = spellings_of(number, country_code)
    except ValueError as exc:
        raise fail("number", str(exc)) from None
    label = item.get("label", "")
    if not isinstance(label, str):
        raise fail("label", f"expected text, got {label!r}")
    allow = item.get("allow", list(DEFAULT_ACTIONS))
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(allow, list) or not allow or not all(isinstance(a, str) for a in allow):
        raise fail("allow", f"expected a list of actions from {sorted(ACTIONS)}, got {allow!r}")
    unknown = sorted(set(allow) - ACTIONS)
    if unknown:
        raise fail("allow", f"unknown action {unknown[0]!r}; known: {sorted(ACTIONS)}")
    dest_raw = item.get("dest")
    if dest_raw is None:
        dest = destination_of(number, country_code)
    else:
        try:
            dest = Dest(str(dest_raw))
        except ValueError:
            known = [d.value for d in Dest if d not in (Dest.ORANGE_FR, Dest.OTHER)]
            raise fail("dest", f"unknown destination {dest_raw!r}; known: {known}") from None
    return AllowedNumber(number, label, frozenset(allow), spellings, dest, line or 0)


def load_allow_list(path: str | Path) -> BenchAllowList:
    """Read a bench allow-list file; `AllowListError` names the file, the line and the field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AllowListError(source, None, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise AllowListError(source, None, "", f"not UTF-8 text: {exc.reason}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise AllowListError(source, line, "", f"not valid YAML: {problem}") from None
    result = parse_allow_list(data, source, node)
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
