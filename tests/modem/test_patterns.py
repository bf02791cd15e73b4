"""Users' regular expressions (bench scripts, profiles): refused when they could backtrack for
minutes on a line they do not match, and matched on a bounded text."""

from __future__ import annotations

import pytest

from modem.patterns import MAX_MATCHED, PatternError, compile_pattern, fullmatch, search

# Each of these takes minutes or more on a line of some dozens (nested) or a thousand (chained)
# characters it does not match: Python's `re` has no time limit, and the bench waited for ever.
REFUSED = [
    (r"(a+)+$", "a repeat inside a repeated group"),
    (r"(a*)*b", "a repeat inside a repeated group"),
    (r"^(\d+)+$", "a repeat inside a repeated group"),
    (r"(\w+\s?)*$", "a repeat inside a repeated group"),
    (r"(.*,)*x", "a repeat inside a repeated group"),
    (r"(a{1,20}){1,20}$", "a repeat inside a repeated group"),
    (r"(a|ab)+c", "alternatives in a repeated group"),
    (r"(.|\s)*x", "alternatives in a repeated group"),
    (r"(a|)+b", "alternatives in a repeated group"),
    (r".*.*.*=x", "three repeats in a row"),
    (r"\s*\s*\s*$", "three repeats in a row"),
    (r"a.*b.*c.*d", "three repeats in a row"),
    (r"(?:x.*){3}y", "three repeats in a row"),
]

# What bench scripts and profiles write, and the rewrites the refusal suggests.
KEPT = [
    r"\+CPIN: READY",
    r"\+CSQ: (?P<rssi>\d+),(?P<ber>\d+)",
    r'\+COPS: \d,\d,"(?P<op>[^"]*)",(?P<act>\d)',
    r"\+CGPADDR: 1,(?P<ip>\d+\.\d+\.\d+\.\d+)",
    r"(\d{1,3}\.){3}\d{1,3}",
    r"(\d{1,3}\.)+x",
    r"\+CMGL: (\d+,)*",
    r"\+CPIN: .*",
    r".*OK.*",
    r"a.*b.*c",
    r"(foo|bar)+",
    r"(?:[a-z]+ )+end",
    r"(?>\w+\s?)*$",
    r"(\w++\s?)*$",
    r"a[^b]*b[^c]*c[^d]*d",
]


@pytest.mark.parametrize(("pattern", "why"), REFUSED)
def test_a_pattern_that_could_backtrack_for_minutes_is_refused_saying_how_to_write_it(
    pattern: str, why: str
) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    text = str(caught.value)
    assert text.startswith(f"{pattern!r} backtracks for minutes or more on a long line") and why in text
    assert "atomic group (?>...)" in text and "possessive quantifier" in text


@pytest.mark.parametrize("pattern", KEPT)
def test_usual_patterns_and_the_suggested_rewrites_are_kept(pattern: str) -> None:
    assert compile_pattern(pattern).pattern == pattern


def test_not_a_regular_expression() -> None:
    with pytest.raises(PatternError, match="not a regular expression: missing \\), unterminated subpattern"):
        compile_pattern("(unclosed")


def test_a_pattern_is_matched_on_a_bounded_part_of_a_line() -> None:
    rx = compile_pattern(r"(?P<n>\d+)!")
    assert search(rx, "x" * (MAX_MATCHED - 3) + "12!") is not None
    assert search(rx, "x" * MAX_MATCHED + "12!") is None
    assert fullmatch(r"\d+\.\d+", "10.0") and not fullmatch(r"\d+", "1" * (MAX_MATCHED + 1))
