"""The bench allow-list file: loading, spellings, per-action policy, and errors naming file:line: field."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounting.records import Dest
from hil.allowlist import allow_list_from_numbers, destination_of, load_allow_list, spellings_of
from hil.errors import AllowListError
from modem.safety import NumberNotAllowed

GOOD = """\
# bench numbers
country_code: "33"
numbers:
  - number: "+33 6 12 34 56 78"
    label: bench phone A
    allow: [sms, call]
  - number: "06 98 76 54 32"
    label: SMS loopback SIM
    allow: [sms]
  - number: "+32470123456"
    label: Belgian handset
    allow: [call]
  - number: "0145678901"
    label: office line
    allow: call
    dest: fr-fixed
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_labels_actions_and_destinations(tmp_path: Path) -> None:
    allow = load_allow_list(write(tmp_path, GOOD))
    assert [e.label for e in allow] == ["bench phone A", "SMS loopback SIM", "Belgian handset", "office line"]
    assert [e.line for e in allow] == [4, 7, 10, 13]
    a, loop, be, office = allow.entries
    assert a.actions == {"sms", "call"} and loop.actions == {"sms"} and office.actions == {"call"}
    assert a.spellings == {"+33612345678", "0612345678"}
    assert loop.spellings == {"0698765432", "+33698765432"}
    assert be.spellings == {"+32470123456"}
    assert (a.dest, be.dest, office.dest) == (Dest.FR_MOBILE, Dest.INTL, Dest.FR_FIXED)
    assert allow.first("call") is a and allow.first("sms") is a
    assert allow.find("0033612345678") is a


def test_policy_is_per_action_and_accepts_any_spelling(tmp_path: Path) -> None:
    policy = load_allow_list(write(tmp_path, GOOD)).policy()
    policy.check("+33612345678", "sms")
    policy.check("06.12.34.56.78", "call")
    policy.check("+33698765432", "sms")  # listed in national form
    policy.check("0032470123456", "call")
    with pytest.raises(NumberNotAllowed):
        policy.check("+33698765432", "call")  # SMS only
    with pytest.raises(NumberNotAllowed):
        policy.check("+32470123456", "sms")  # calls only
    with pytest.raises(NumberNotAllowed):
        policy.check("+33612345679", "sms")  # one digit off
    with pytest.raises(NumberNotAllowed):
        policy.check("+33612345678", "csd")  # no entry allows data calls
    with pytest.raises(NumberNotAllowed):
        policy.check("not a number", "sms")


def test_spellings_and_destinations() -> None:
    assert spellings_of("+33 7 00 00 00 01") == {"+33700000001", "0700000001"}
    assert spellings_of("3630") == {"3630"}  # a short code has one spelling
    assert destination_of("0812345678") is Dest.FR_PREMIUM
    assert destination_of("3630") is Dest.FR_PREMIUM
    assert destination_of("+4915112345678") is Dest.INTL
    assert destination_of("0912345678") is Dest.FR_FIXED
    built = allow_list_from_numbers({"+33612345678": "A"}, actions=("sms",))
    assert built.entries[0].label == "A" and built.entries[0].actions == {"sms"}


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("numbers:\n  - number: '+33612345678'\n  label: [x\n", 3, "", "not valid YAML"),
        ("", 1, "numbers", "empty"),
        ("- '+33612345678'\n", 1, "", "mapping"),
        ("numbers: []\nlabels: x\n", 2, "labels", "unknown key"),
        ("numbers:\n  - label: no number\n", 2, "numbers[0].number", "required"),
        ("numbers:\n  - number: 33612345678\n", 2, "numbers[0].number", "quote it"),
        ("numbers:\n  - number: +33612345678\n", 2, "numbers[0].number", 'quote it ("+33612345678")'),
        ("numbers:\n  - number: 0612345670\n", 2, "numbers[0].number", "as a number (103402424)"),
        ("numbers:\n  - 0612345670\n", 2, "numbers[0]", 'quote it ("0612345670")'),
        ("numbers:\n  - '+33612345678'\n  - +33698765432\n", 3, "numbers[1]", "quote it"),
        ("numbers:\n  - number: '+33 6 12 ab'\n", 2, "numbers[0].number", "not a phone number"),
        # a wildcard to whoever wrote it; to the network `*` and `#` make service codes
        ("numbers:\n  - number: '+33 6 12 34 56 *'\n", 2, "numbers[0].number", "no wildcards"),
        ("numbers:\n  - '+33612345678'\n  - '*'\n", 3, "numbers[1].number", "no wildcards"),
        ("numbers:\n  - number: '**21*0612345678#'\n", 2, "numbers[0].number", "USSD codes"),
        ("numbers:\n  - number: '+33612345678'\n    allow: [sms, fax]\n", 3, "numbers[0].allow", "'fax'"),
        ("numbers:\n  - number: '+33612345678'\n    dest: moon\n", 3, "numbers[0].dest", "moon"),
        ("numbers:\n  - number: '+33612345678'\n    colour: red\n", 3, "numbers[0].colour", "unknown key"),
        (
            "numbers:\n  - number: '+33612345678'\n  - number: '06 12 34 56 78'\n",
            3,
            "numbers[1].number",
            "already listed (line 2)",
        ),
        ("country_code: abc\nnumbers: []\n", 1, "country_code", "1-3 digits"),
        ("numbers: '+33612345678'\n", 1, "numbers", "list"),
        (
            "numbers: ['+33612345678']\nallow_commands:\n  - AT+QENG\n  - AT+QENG=1\n",
            4,
            "allow_commands[1]",
            "not a command name",
        ),
        ("numbers: ['+33612345678']\nincoming_calls: maybe\n", 2, "incoming_calls", "yes or no"),
        ("numbers: ['+33612345678']\nsms_centre: +33689004000\n", 2, "sms_centre", "quote it"),
        ("numbers: ['+33612345678']\nsms_centre: '*100#'\n", 2, "sms_centre", "no wildcards"),
        ("numbers: ['+33612345678']\nsms_centre: 'centre'\n", 2, "sms_centre", "not a phone number"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AllowListError) as info:
        load_allow_list(path)
    err = info.value
    assert (err.source, err.line, err.field) == (str(path), line, field or err.field)
    assert str(err).startswith(f"{path}:{line}: ")
    assert words in str(err)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AllowListError, match=r"bench\.yaml: cannot read"):
        load_allow_list(tmp_path / "bench.yaml")


def test_allow_commands_reach_the_policy(tmp_path: Path) -> None:
    allow = load_allow_list(write(tmp_path, GOOD + "allow_commands: [AT+QENG, 'at^sysinfo']\n"))
    assert allow.allow_commands == ("+QENG", "^SYSINFO")
    assert allow.policy().allow_commands == ("+QENG", "^SYSINFO")


def test_incoming_calls_reach_the_policy(tmp_path: Path) -> None:
    assert load_allow_list(write(tmp_path, GOOD)).policy().incoming_calls is False
    allow = load_allow_list(write(tmp_path, GOOD + "incoming_calls: yes\n"))
    assert allow.incoming_calls is True and allow.policy().incoming_calls is True


def test_the_sms_centre_is_read_with_its_spellings(tmp_path: Path) -> None:
    assert load_allow_list(write(tmp_path, GOOD)).sms_centres == frozenset()  # none named: not checked
    allow = load_allow_list(write(tmp_path, GOOD + "sms_centre: '06 89 00 40 00'\n"))
    assert allow.sms_centre == "06 89 00 40 00"
    assert allow.sms_centres == {"0689004000", "+33689004000"}
