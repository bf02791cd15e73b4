"""Bench safety: allow-lists, number spellings, and refusals on physical links."""

from __future__ import annotations

from pathlib import Path

import pytest

from modem.safety import (
    AllowAll,
    AllowList,
    NoDialPolicy,
    NumberNotAllowed,
    SafetyError,
    check,
    is_virtual,
    normalise_number,
    resolve_policy,
)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("06-12-34-56-78", "0612345678"),
        ("(+33) 6.12.34.56.78", "+33612345678"),
        ("*100#", "*100#"),
    ],
)
def test_normalise_number(spelling: str, canonical: str) -> None:
    assert normalise_number(spelling) == canonical


@pytest.mark.parametrize("bad", ["", "+33 6 12 34 56 7x", "ATD123;", "123;H"])
def test_not_a_number(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_number(bad)


def test_allow_list_matches_any_spelling_and_action() -> None:
    bench = AllowList(["+33 6 12 34 56 78"], actions=["sms"])
    bench.check("0033612345678", "sms")
    with pytest.raises(NumberNotAllowed, match="call to '\\+33612345678' refused"):
        bench.check("+33612345678", "call")
    with pytest.raises(NumberNotAllowed):
        bench.check("+33612345679", "sms")
    with pytest.raises(NumberNotAllowed):
        bench.check("112; ATH", "sms")
    with pytest.raises(ValueError, match="unknown actions"):
        AllowList([], actions=["fax"])


@pytest.mark.parametrize(
    ("numbers", "home_only"),
    [(["*100#"], []), (["+33612345678", "**21*0699999999#"], []), (["+33612345678"], ["#31#0612345678"])],
)
def test_an_allow_list_built_in_code_refuses_ussd_and_ss_codes_as_the_files_do(
    numbers: list[str], home_only: list[str]
) -> None:
    # a USSD or supplementary-service code is not a subscriber: the file loaders refuse it, and
    # so does the class a bench script builds itself (one rule, `listed_number`)
    field = "home_only" if home_only else "numbers"
    with pytest.raises(ValueError, match=rf"AllowList {field}: .* no wildcards .* USSD"):
        AllowList(numbers, home_only=home_only)


def test_a_listed_number_written_with_00_or_nationally_goes_on_the_home_network_only() -> None:
    bench = AllowList(["+33612345678"], home_only=["0612345678"])
    home_only = [
        n
        for n in ("+33 6 12 34 56 78", "00 33 6 12 34 56 78", "06.12.34.56.78", "0033 612")
        if bench.home_network_only(n, "sms")
    ]
    assert home_only == ["00 33 6 12 34 56 78", "06.12.34.56.78", "0033 612"]
    assert not bench.home_network_only("not a number", "sms")


def test_allow_list_file_reports_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "bench.txt"
    good.write_text("# bench phones\n+33 6 12 34 56 78  # operator desk\n\n0033699999999\n")
    assert AllowList.from_file(good).numbers == {"+33612345678", "+33699999999"}
    bad = tmp_path / "bad.txt"
    bad.write_text("+33612345678\nnot a number\n")
    with pytest.raises(SafetyError, match=r"bad.txt:2: not a phone number"):
        AllowList.from_file(bad)
    wild = tmp_path / "wild.txt"
    wild.write_text("+33612345678\n+33 6 12 34 56 *\n")
    with pytest.raises(SafetyError, match=r"wild.txt:2: .* no wildcards"):
        AllowList.from_file(wild)


def test_policy_required_except_on_the_virtual_modem() -> None:
    assert is_virtual("virtual://generic") and is_virtual("spy://virtual://generic?seed=1")
    assert not is_virtual("/dev/ttyUSB2") and not is_virtual("socket://127.0.0.1:7000")
    assert isinstance(resolve_policy("spy://virtual://generic", None), AllowAll)
    check("virtual://generic", None, "+33699999999", "call")
    for url in ("/dev/ttyUSB2", "socket://10.0.0.5:7000", "spy:///dev/ttyACM0"):
        with pytest.raises(NoDialPolicy, match="without an allow-list"):
            check(url, None, "+33612345678", "sms")
    bench = AllowList(["+33612345678"])
    assert resolve_policy("virtual://generic", bench) is bench  # a given policy applies everywhere
    with pytest.raises(NumberNotAllowed):
        check("virtual://generic", bench, "+33699999999", "sms")
