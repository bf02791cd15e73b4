"""Bench safety: no SMS, call or data call to a number the bench has not allowed.

Every driver call that sends an SMS or places a call asks a `DialPolicy` first.  The bench harness
passes its allow-list (`AllowList`); on the virtual modem (a `virtual://` URL, possibly under
`spy://`) the policy may be omitted, since nothing leaves the process.  On any other transport a
missing policy is refused with `NoDialPolicy`: a physical modem never dials by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Protocol

from modem.at.errors import ModemError

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


def normalise_number(number: str) -> str:
    """`+33 6 12-34-56-78` -> `+33612345678`; `0033...` -> `+33...`; raises ValueError if not a number."""
    text = _SEPARATORS.sub("", number.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a phone number: {number!r}")
    return text


class DialPolicy(Protocol):
    """Decides whether an SMS, a voice call or a data call to a number may go out."""

    def check(self, number: str, action: Action) -> None:
        """Return if allowed; raise `NumberNotAllowed` otherwise."""
        ...


class AllowList:
    """An explicit list of numbers (any common spelling), optionally per action."""

    def __init__(self, numbers: Iterable[str], actions: Iterable[str] = ACTIONS) -> None:
        self.numbers = frozenset(normalise_number(n) for n in numbers)
        self.actions = frozenset(actions)
        unknown = self.actions - ACTIONS
        if unknown:
            raise ValueError(f"unknown actions {sorted(unknown)}; known: {sorted(ACTIONS)}")

    def check(self, number: str, action: Action) -> None:
        try:
            canonical = normalise_number(number)
        except ValueError:
            raise NumberNotAllowed(number, action) from None
        if action not in self.actions or canonical not in self.numbers:
            raise NumberNotAllowed(number, action)

    @classmethod
    def from_file(cls, path: str | Path) -> AllowList:
        """One number per line; `#` starts a comment.  Bad lines are reported as `file:line`."""
        numbers: list[str] = []
        for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                numbers.append(normalise_number(text))
            except ValueError as exc:
                raise SafetyError(f"{path}:{lineno}: {exc}") from None
        return cls(numbers)


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
