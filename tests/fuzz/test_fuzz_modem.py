"""The modem and bench readers under damaged input: profiles, serve scenarios, allow-lists.

Every mutated file goes through the command a user runs (`m2msim modem serve --check`, `m2msim
bench`) and must end in exit 0 or 2, one line on stderr for 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given
from hypothesis import strategies as st

from modem.profiles import profile_names

ROOT = Path(__file__).resolve().parents[2]
PROFILES = {name: (ROOT / "modem" / "profiles" / f"{name}.yaml").read_text() for name in profile_names()}

SCENARIO = """\
start: 2026-03-01T08:00:00Z
seed: 7
offer: business-m2m-dtmf
apns: [orange.m2m.spec]
coverage:
  - at: 0
    plmn: "20801"
  - at: 600
    plmn: "20610"
    csq: [9, 2]
  - at: 900
    plmn: none
events:
  - at: 30
    sms:
      from: "+33600000001"
      text: ping
  - at: 60
    call:
      from: "+33600000002"
      data: false
faults:
  sim_busy: 2
  drop: 0.1
"""

ALLOW_LIST = """\
country_code: "33"
numbers:
  - number: "+33 6 12 34 56 78"
    label: bench phone A
    allow: [sms, call]
  - number: "06 98 76 54 32"
    label: SMS loopback SIM
    allow: [sms]
    dest: fr-mobile
"""


def _serve_check(tmp_path: Path, *extra: str) -> None:
    result = run_cli(["modem", "serve", "--check", *extra])
    assert_cli_contract(result)


def test_the_valid_inputs_pass(tmp_path: Path) -> None:
    for name, text in PROFILES.items():
        result = run_cli(
            ["modem", "serve", "--check", "--profile", str(write(tmp_path / f"{name}.yaml", text))]
        )
        assert result.rc == 0, str(result)
    result = run_cli(["modem", "serve", "--check", "--scenario", str(write(tmp_path / "s.yaml", SCENARIO))])
    assert result.rc == 0 and "2 events" in result.out, str(result)


@pytest.mark.parametrize("name", sorted(PROFILES))
@FUZZ
@given(data=st.data())
def test_mutated_profiles(tmp_path: Path, name: str, data: st.DataObject) -> None:
    text = PROFILES[name]
    damaged = data.draw(st.one_of(mutated_yaml(text), mutated_bytes(text.encode())))
    path = write(tmp_path / f"{name}.yaml", damaged)
    _serve_check(tmp_path, "--profile", str(path))


@FUZZ
@given(damaged=st.one_of(mutated_yaml(SCENARIO), mutated_bytes(SCENARIO.encode())))
def test_mutated_serve_scenarios(tmp_path: Path, damaged: str | bytes) -> None:
    _serve_check(tmp_path, "--scenario", str(write(tmp_path / "scenario.yaml", damaged)))


@FUZZ
@given(damaged=st.one_of(mutated_yaml(ALLOW_LIST), mutated_bytes(ALLOW_LIST.encode())))
def test_mutated_allow_lists(tmp_path: Path, damaged: str | bytes) -> None:
    # A physical URL that does not exist: a usable allow-list gets as far as opening the device
    # (exit 2 naming it), an unusable one stops before.  Nothing is sent either way.
    path = write(tmp_path / "bench.yaml", damaged)
    result = run_cli(
        [
            "bench",
            "sms_roundtrip",
            "--modem-url",
            "/dev/ttyNOPE9",
            "--allow-list",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert_cli_contract(result, allowed=(2,))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["modem", "serve", "--check", "--tcp", "70000"], "--tcp 70000: out of range"),
        (["modem", "serve", "--check", "--tcp", "-1"], "--tcp -1: out of range"),
        (["modem", "serve", "--check", "--tcp", "65535", "--count", "2"], "go past 65535"),
        (["modem", "serve", "--check", "--count", "0"], "--count 0: out of range"),
        (["modem", "serve", "--check", "--count", "1000000"], "--count 1000000: out of range"),
        (["modem", "serve", "--check", "--seed", "-1"], "--seed -1: out of range"),
        (["modem", "serve", "--check", "--profile", "nokia-3310"], "known: generic, quectel-bg96"),
        (["modem", "probe", "virtual://generic", "--wait", "nan"], "--wait nan: not a finite number"),
        (["modem", "probe", "virtual://generic", "--wait", "-1"], "--wait -1: out of range"),
        (["modem", "probe", "virtual://generic", "--timeout", "inf"], "--timeout inf"),
        (["modem", "probe", "virtual://quectel-bg96?seed=abc"], "seed='abc': expected a whole number"),
        (["modem", "probe", "virtual://quectel-bg96?seed=-1"], "seed='-1'"),
        (["modem", "probe", "virtual://quectel-bg96?colour=red"], "unknown query key 'colour'"),
        (["modem", "probe", "virtual://quectel-bg96?speed=nan"], "speed='nan'"),
        (["modem", "probe", "virtual://nokia-3310"], "unknown modem profile 'nokia-3310'; known: generic"),
        (["modem", "probe", "virtual://generic?sim_busy=-2"], "virtual://generic: fault sim_busy"),
        (["modem", "probe", "/dev/ttyNOPE9"], "/dev/ttyNOPE9: cannot open serial device"),
        (["modem", "at", "/dev/ttyNOPE9?baudrate=abc", "AT"], "baudrate='abc'"),
        (["modem", "at", "socket://127.0.0.1:99999", "AT"], "port must be a number"),
        (["sms-encode", "hi", "--to", "+33612345678", "--mr", "256"], "--mr 256: out of range (0..255)"),
        (["sms-encode", "hi", "--to", "+33612345678", "--mr", "-1"], "--mr -1: out of range"),
        (["sms-encode", "hi", "--to", "+33612345678", "--validity", "0"], "--validity 0: out of range"),
        (["sms-decode", "0011", "--length", "-1"], "--length -1: out of range"),
        (["bench", "register", "--modem-url", "virtual://generic", "--timeout", "nan"], "--timeout nan"),
        # no profile: it was read as the profile file '.' ('.: cannot read: is a directory')
        (["bench", "register", "--modem-url", "virtual://"], "bench: virtual://: expected virtual://PROFILE"),
        (["bench", "register", "--modem-url", "spy://virtual://?seed=1"], "virtual://?seed=1: expected"),
    ],
)
def test_unusable_options_and_urls_exit_2_with_one_line(argv: list[str], words: str) -> None:
    result = run_cli(argv)
    assert_cli_contract(result, allowed=(2,))
    assert words in result.err, str(result)


@pytest.mark.parametrize("target", ["dir", "empty", "binary", "latin1"])
def test_unusable_files_for_every_modem_reader(tmp_path: Path, target: str) -> None:
    path = tmp_path / "f.yaml"
    if target == "dir":
        path.mkdir()
    else:
        path.write_bytes(
            {"empty": b"", "binary": b"\x00\x01\x02name", "latin1": "name: caf\xe9\n".encode("latin-1")}[
                target
            ]
        )
    for argv in (
        ["modem", "serve", "--check", "--profile", str(path)],
        ["modem", "serve", "--check", "--scenario", str(path)],
        ["modem", "probe", "virtual://generic", "--profile", str(path)],
        [
            "bench",
            "register",
            "--modem-url",
            "virtual://generic",
            "--profile",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        [
            "bench",
            "sms_roundtrip",
            "--modem-url",
            "/dev/ttyNOPE9",
            "--allow-list",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
    ):
        result = run_cli(argv)
        assert_cli_contract(result, allowed=(2,))
        assert str(path) in result.err, str(result)


def test_an_unquoted_phone_number_is_refused_never_read_as_a_number(tmp_path: Path) -> None:
    for number, shown in (("+33612345678", "33612345678"), ("0612345670", "103402424")):
        path = write(tmp_path / "bench.yaml", f"numbers:\n  - number: {number}\n")
        result = run_cli(
            ["bench", "sms_roundtrip", "--modem-url", "/dev/ttyNOPE9", "--allow-list", str(path)]
        )
        assert_cli_contract(result, allowed=(2,))
        assert f"bench.yaml:2: numbers[0].number: {number} is read by YAML as a number" in result.err
        assert f'quote it ("{number}")' in result.err and (shown in result.err)


QUERY_KEYS = [
    "seed",
    "index",
    "plmn",
    "csq",
    "speed",
    "pin",
    "sim_busy",
    "drop",
    "fail",
    "reg_lost_at",
    "colour",
]
QUERY_VALUES = [
    "abc",
    "-1",
    "0",
    "nan",
    "inf",
    "1e400",
    "20,0",
    "40,9",
    "99999999999999999999999",
    "",
    "%ff",
    "2.5",
]


@FUZZ
@given(
    profile=st.sampled_from([*sorted(PROFILES), "nokia-3310", ""]),
    query=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), st.sampled_from(QUERY_VALUES)), max_size=4),
)
def test_virtual_urls_are_understood_or_refused_in_one_line(
    profile: str, query: list[tuple[str, str]]
) -> None:
    from modem.virtual.transport import VirtualUrlError, build_modem, parse_virtual_url

    url = f"virtual://{profile}" + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    try:
        build_modem(parse_virtual_url(url))
    except VirtualUrlError as exc:
        assert "\n" not in str(exc) and str(exc)


@FUZZ
@given(pdu=st.one_of(st.text(alphabet="0123456789ABCDEFabcdef", max_size=400), st.text(max_size=60)))
def test_sms_decode_of_any_string(pdu: str) -> None:
    for direction in ("mt", "mo"):
        result = run_cli(["sms-decode", pdu, "--direction", direction])
        if pdu.startswith("-"):
            continue  # an option to argparse
        assert_cli_contract(result)


@FUZZ
@given(
    text=st.text(max_size=400), to=st.sampled_from(["+33612345678", "0612345678", "abc", "", "+" + "9" * 30])
)
def test_sms_encode_and_count_of_any_text(text: str, to: str) -> None:
    if text.startswith("-") or to.startswith("-"):
        return
    assert_cli_contract(run_cli(["sms-encode", text, "--to", to]))
    assert_cli_contract(run_cli(["sms-count", text]))
