"""Regular expressions users write (a bench script's `expect`, `final` and `wait_urc`, a profile's
`driver.no_ok`): refused where they are read when they could backtrack for minutes, and matched on
a bounded text.

Python's `re` backtracks, and has no time limit (the `regex` module's timeout is not a dependency).
A pattern that can match the same text in many ways, `(a+)+$` or `(\\w+\\s?)*$`, takes time
exponential in the length of a line it does not match: a bench waiting on it hangs (40 characters
are already hours), and no limit on the line saves it.  So `compile_pattern` refuses, and the
caller names the file, line and field (exit 2):

- a repeat inside a group repeated many times (`+`, `*`, `{n,}`, or more than `MANY_TIMES`) whose
  characters can also begin what follows it there (`(a+)+`, `(\\w+\\s?)*`, `(.*,)*`); a repeat
  that what follows it ends is kept (`(\\d+,)*`, `(\\d{1,3}\\.)+`);
- alternatives in such a group that can begin with the same character, or match nothing
  (`(a|ab)+`, `(.|\\s)*`);
- three repeats in a row that can take the same characters, with nothing between them that one
  of them cannot take (`.*.*.*=x`, `a.*b.*c.*d`): the time grows as the line's length to the fourth
  power, minutes on a line of 1,000 characters.  Two are kept (`.*OK.*`, `a.*b.*c`).

An atomic group `(?>...)` or a possessive quantifier (`a++`, `a*+`) never gives back what it took,
so it is kept: `(?>\\w+\\s?)*` searches the same lines without the backtracking; `[^b]*` in place of
`.*` stops at the first `b`.

What is kept backtracks at most as the cube of a line's length, a search included; a pattern is
matched on at most `MAX_MATCHED` characters of a line (`search`, `fullmatch`), where that is under
a second.  The analysis reads the pattern's parse tree (Python's own `re._parser`) and errs on the
side of refusing: the message says how to write the pattern instead.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

#: the characters of a line (an answer's lines joined, a URC) a user's pattern is matched on
MAX_MATCHED = 1024
#: a repeat of at most this many times is not repeated "many times" (`(\d{1,3}\.){3}` is kept)
MANY_TIMES = 10

_OTHER = 256  # every character past U+00FF, as one
_ALL = frozenset(range(_OTHER + 1))
_EMPTY: frozenset[int] = frozenset()
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)

REWRITE = (
    "write it so that each part of a line can be matched one way only ([^,]* rather than .* for a "
    "part that ends at a comma), or with an atomic group (?>...) or a possessive quantifier (a++, "
    "a*+), which never give back what they took"
)


class PatternError(ValueError):
    """A user's pattern that is not a regular expression, or could backtrack for minutes."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled; PatternError (its message for a `file:line: field:` error) when it is not
    a regular expression or could backtrack for minutes on a line it does not match."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise PatternError(f"not a regular expression: {exc}") from None
    why = _check(list(sre_parse.parse(pattern)), _EMPTY, many=False)
    if why is not None:
        raise PatternError(
            f"{pattern!r} backtracks for minutes or more on a long line it does not match ({why}), "
            f"which would hang the bench; {REWRITE}"
        )
    return rx


def search(rx: re.Pattern[str], text: str) -> re.Match[str] | None:
    """`rx.search` on the first `MAX_MATCHED` characters of `text`."""
    return rx.search(text[:MAX_MATCHED])


def fullmatch(pattern: str, text: str) -> bool:
    """Whether `pattern` matches the whole of `text`; a text longer than `MAX_MATCHED` never does."""
    return len(text) <= MAX_MATCHED and re.fullmatch(pattern, text) is not None


# -- the analysis ----------------------------------------------------------------------------------
Items = list[tuple[Any, Any]]


def _check(items: Items, follow: frozenset[int], *, many: bool) -> str | None:
    """Why this sequence could backtrack for minutes, or None; `follow`: the characters that may come
    after it, `many`: it is inside a group repeated many times."""
    chained = _chained(items)
    if chained is not None:
        return chained
    for i, (op, av) in enumerate(items):
        rest, rest_empty = _first(items[i + 1 :])
        after = rest | follow if rest_empty else rest
        why: str | None = None
        if op in _REPEATS:
            low, high, body = av
            body = list(body)
            if many and low != high and high > 1 and _chars(body) & after:
                return "a repeat inside a repeated group can also match what follows it, as in (a+)+"
            first, _ = _first(body)
            why = _check(body, first | after, many=many or _many(op, av))
        elif op is sre.POSSESSIVE_REPEAT:
            why = _check(list(av[2]), _EMPTY, many=False)  # never gives back what it took
        elif op is sre.ATOMIC_GROUP:
            why = _check(list(av), _EMPTY, many=False)
        elif op is sre.SUBPATTERN:
            why = _check(list(av[3]), after, many=many)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            why = _check(list(av[1]), _ALL, many=many)
        elif op is sre.BRANCH:
            branches = [list(b) for b in av[1]]
            if many:
                seen: frozenset[int] = _EMPTY
                for branch in branches:
                    first, empty = _first(branch)
                    if empty or first & seen:
                        return "alternatives in a repeated group can match the same text, as in (a|ab)+"
                    seen |= first
            for branch in branches:
                why = why or _check(branch, after, many=many)
        elif op is sre.GROUPREF_EXISTS:
            for branch in av[1:]:
                if branch is not None:
                    why = why or _check(list(branch), after, many=many)
        if why is not None:
            return why
    return None


def _flat(items: Items) -> Items:
    """The sequence with its plain groups spelt out and a repeat of a few times (at most
    `MANY_TIMES`) written that many times: `(?:x.*){3}` is `x.*x.*x.*`."""
    out: Items = []
    for op, av in items:
        if op is sre.SUBPATTERN:
            out += _flat(list(av[3]))
        elif op in _REPEATS and 1 < av[1] <= MANY_TIMES and _unbounded(list(av[2])):
            out += _flat(list(av[2])) * av[1]
        else:
            out.append((op, av))
    return out


def _many(op: Any, av: Any) -> bool:
    """Whether this is a repeat of many times that may give back what it took."""
    return op in _REPEATS and (av[1] == sre.MAXREPEAT or av[1] > MANY_TIMES)


def _unbounded(items: Items) -> bool:
    """Whether the sequence holds a repeat of many times that may give back what it took."""
    for op, av in items:
        if _many(op, av):
            return True
        if op in _REPEATS and _unbounded(list(av[2])):
            return True
        if op is sre.SUBPATTERN and _unbounded(list(av[3])):
            return True
        if op is sre.BRANCH and any(_unbounded(list(b)) for b in av[1]):
            return True
    return False


def _chained(items: Items) -> str | None:
    """Three repeats in a row that can take the same characters, nothing between them that one of
    them cannot take (`.*.*.*=x`, `.*=.*=.*;`): each may end anywhere, so a line they do not match
    costs its length to the fourth power (a search adds one): minutes on a line of 1,000."""
    live: list[frozenset[int]] = []
    for op, av in _flat(items):
        if _many(op, av) or (op is sre.BRANCH and _unbounded([(op, av)])):
            chars = _chars(list(av[2])) if op in _REPEATS else _chars([(op, av)])
            live = [c for c in live if c & chars]
            if len(live) >= 2:
                return "three repeats in a row can take the same characters, as in .*.*.*"
            live.append(chars)
        elif op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            char = _one_char(op, av)
            live = [c for c in live if c & char]  # a repeat that cannot take it ends before it
        elif op in _REPEATS and av[0] > 0:
            first, empty = _first(list(av[2]))
            if not empty:
                live = [c for c in live if c & first]
    return None


def _first(items: Items) -> tuple[frozenset[int], bool]:
    """The characters a match of the sequence may begin with, and whether it may match nothing."""
    out: frozenset[int] = _EMPTY
    for op, av in items:
        first, empty = _first_of(op, av)
        out |= first
        if not empty:
            return out, False
    return out, True


def _first_of(op: Any, av: Any) -> tuple[frozenset[int], bool]:
    if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
        return _one_char(op, av), False
    if op in _REPEATS or op is sre.POSSESSIVE_REPEAT:
        first, empty = _first(list(av[2]))
        return first, empty or av[0] == 0
    if op is sre.SUBPATTERN:
        return _first(list(av[3]))
    if op is sre.ATOMIC_GROUP:
        return _first(list(av))
    if op is sre.BRANCH:
        firsts = [_first(list(b)) for b in av[1]]
        return frozenset().union(*(f for f, _ in firsts)), any(e for _, e in firsts)
    if op is sre.GROUPREF_EXISTS:
        return _ALL, True
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return _EMPTY, True
    return _ALL, True  # a back reference: any text


def _chars(items: Items) -> frozenset[int]:
    """Every character a match of the sequence may hold."""
    out: frozenset[int] = _EMPTY
    for op, av in items:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            out |= _one_char(op, av)
        elif op in _REPEATS or op is sre.POSSESSIVE_REPEAT:
            out |= _chars(list(av[2]))
        elif op is sre.SUBPATTERN:
            out |= _chars(list(av[3]))
        elif op is sre.ATOMIC_GROUP:
            out |= _chars(list(av))
        elif op is sre.BRANCH:
            for branch in av[1]:
                out |= _chars(list(branch))
        elif op not in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            return _ALL
    return out


def _one_char(op: Any, av: Any) -> frozenset[int]:
    if op is sre.ANY:
        return _ALL
    if op is sre.LITERAL:
        return _folded(av)
    if op is sre.NOT_LITERAL:
        return _ALL - _folded(av)
    chars: set[int] = set()
    negate = False
    for kind, value in av:
        if kind is sre.NEGATE:
            negate = True
        elif kind is sre.LITERAL:
            chars |= _folded(value)
        elif kind is sre.RANGE:
            low, high = value
            chars |= set(range(low, min(high, _OTHER - 1) + 1)) | ({_OTHER} if high >= _OTHER else set())
        elif kind is sre.CATEGORY:
            rx = re.compile(_CATEGORIES.get(value, r"[\s\S]"))
            chars |= {c for c in range(_OTHER) if rx.fullmatch(chr(c))} | {_OTHER}
        else:
            return _ALL
    return _ALL - chars if negate else frozenset(chars)


def _folded(code: int) -> frozenset[int]:
    """A literal and its other case (a pattern may be case-insensitive)."""
    if code >= _OTHER:
        return frozenset({_OTHER})
    ch = chr(code)
    return frozenset(min(ord(c), _OTHER) for c in {ch, ch.lower(), ch.upper()} if len(c) == 1)
