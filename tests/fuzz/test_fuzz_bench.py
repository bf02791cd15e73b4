"""`m2msim bench` under damaged input files: YAML scripts, replay:// transcripts, rack files.

Every damaged file goes through the command a user runs and must end in exit 0, 1 (the script ran
and failed) or 2; on 2 exactly one line on stderr, naming the file; never a traceback.  The table
of `test_malformed_inputs_exit_2_naming_the_file` holds inputs that are wrong whatever the
mutation: each must exit 2.  Seeded (`fuzzing.FUZZ`): every run replays the same inputs.
"""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import pytest
from fuzzing import FUZZ, CliResult, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "hil" / "examples"
SIGNAL_CHECK = (EXAMPLES / "signal_check.yaml").read_text(encoding="utf-8")
RECORDING = (EXAMPLES / "transcripts" / "signal_check-quectel-bg96.jsonl").read_text(encoding="utf-8")
RACK = "modems:\n  - url: virtual://generic?seed=1\n    name: a\n  - url: virtual://generic?seed=2\n"
_runs = count()

# JSON values a hand-edited or newer transcript may hold where replay expects another type
JSON_EXTREMES: tuple[object, ...] = (
    None,
    "abc",
    "",
    -1,
    0,
    1e308,
    [],
    {},
    [1],
    {"a": 1},
    True,
    "\u0000",
    "***",
)


def _bench(tmp_path: Path, script: str, url: str, *extra: str) -> CliResult:
    out = tmp_path / f"out{next(_runs)}"  # a new folder each example: --out refuses an earlier bench's
    return run_cli(["bench", script, "--modem-url", url, "--out", str(out), "--timeout", "2", *extra])


def _assert_names(result: CliResult, path: Path) -> None:
    assert_cli_contract(result, allowed=(0, 1, 2))
    if result.rc == 2:
        assert path.name in result.err, f"the error must name {path.name}:\n{result}"


@st.composite
def mutated_events(draw: st.DrawFn, text: str) -> str:
    """A transcript with one event's field set to a value of another type, or removed."""
    lines = text.splitlines()
    i = draw(st.integers(0, len(lines) - 1))
    event = json.loads(lines[i])
    key = draw(st.sampled_from(sorted(event)))
    if draw(st.booleans()):
        event[key] = draw(st.sampled_from(JSON_EXTREMES))
    else:
        del event[key]
    lines[i] = json.dumps(event)
    return "\n".join(lines) + "\n"


@FUZZ
@given(damaged=st.one_of(mutated_yaml(SIGNAL_CHECK), mutated_bytes(SIGNAL_CHECK.encode())))
def test_mutated_yaml_scripts(tmp_path: Path, damaged: str | bytes) -> None:
    path = write(tmp_path / "signal_check.yaml", damaged)
    # replayed: a script that still reads well runs at once, and a changed command is an error
    _assert_names(_bench(tmp_path, str(path), "virtual://quectel-bg96?seed=1"), path)


@FUZZ
@given(damaged=st.one_of(mutated_events(RECORDING), mutated_bytes(RECORDING.encode())))
def test_mutated_transcripts(tmp_path: Path, damaged: str | bytes) -> None:
    path = write(tmp_path / "recording.jsonl", damaged)
    script = str(EXAMPLES / "signal_check.yaml")
    _assert_names(_bench(tmp_path, script, f"replay://{path}?scale=0"), path)


@FUZZ
@given(damaged=st.one_of(mutated_yaml(RACK), mutated_bytes(RACK.encode())))
def test_mutated_rack_files(tmp_path: Path, damaged: str | bytes) -> None:
    path = write(tmp_path / "rack.yaml", damaged)
    out = tmp_path / f"out{next(_runs)}"
    result = run_cli(["bench", "register", "--rack", str(path), "--out", str(out), "--timeout", "2"])
    _assert_names(result, path)


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


_START = json.dumps({"seq": 0, "t": 0, "kind": "start"})
_AT = {"seq": 1, "t": 0.1, "kind": "command", "command": "AT", "responses": [], "final": "OK"}

# (file name, content, extra arguments): each is wrong, each must exit 2 naming the file
MALFORMED: list[tuple[str, str | bytes]] = [
    ("empty.yaml", ""),
    ("bom-only.yaml", "\ufeff"),
    ("binary.yaml", bytes(range(256)) * 8),
    ("tab.yaml", "steps:\n\t- send: AT\n"),
    ("list.yaml", "- send: AT\n"),
    ("steps-map.yaml", "steps:\n  first: {send: AT}\n"),
    ("unknown-key.yaml", "steps:\n  - send: AT\n    expct: OK\n"),
    ("duplicate.yaml", "steps:\n  - send: AT\n    send: ATI\n"),
    (
        "bomb.yaml",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
        )
        + "steps: [{send: AT}]\n",
    ),
    ("send-number.yaml", "steps:\n  - send: 5\n"),
    ("send-ctrl-z.yaml", 'steps:\n  - send: "AT+CMGF=0\\x1a"\n'),
    ("send-cr.yaml", 'steps:\n  - send: "AT\\rATD+33612345678;"\n'),
    ("timeout-string.yaml", "steps:\n  - send: AT\n    timeout: soon\n"),
    ("timeout-negative.yaml", "steps:\n  - send: AT\n    timeout: -1\n"),
    ("timeout-huge.yaml", "steps:\n  - wait_urc: RING\n    timeout: 1e300\n"),
    ("timeout-nan.yaml", "steps:\n  - register: {timeout: .nan}\n"),
    ("regex.yaml", "steps:\n  - send: AT\n    expect: '(['\n"),
    ("latin1.yaml", "description: caf\xe9\nsteps: [{send: AT}]\n".encode("latin-1")),
    ("exits.py", "import sys\nsys.exit(0)\n"),
    ("nul.py", b"x = 1\x00\n"),
    ("truncated.jsonl", RECORDING[: len(RECORDING) // 2]),
    ("not-json.jsonl", _lines(_START, "hello", json.dumps(_AT))),
    ("t-text.jsonl", _lines(_START, json.dumps(_AT | {"t": "abc"}))),
    ("responses-number.jsonl", _lines(_START, json.dumps(_AT | {"responses": 5}))),
    ("payload.jsonl", _lines(_START, json.dumps(_AT | {"responses": ["x"], "payloads": ["!!"]}))),
    (
        "profile-number.jsonl",
        _lines(json.dumps({"seq": 0, "t": 0, "kind": "open", "profile": 5}), json.dumps(_AT)),
    ),
    ("deep.jsonl", _lines(_START, "[" * 100_000 + "]" * 100_000)),
    ("no-command.jsonl", _lines(_START)),
    (
        "open-params.jsonl",
        _lines(
            json.dumps({"seq": 0, "t": 0, "kind": "open", "script": "register", "params": {"timeout": "x"}}),
            json.dumps(_AT),
        ),
    ),
    (
        "open-profile.jsonl",
        _lines(json.dumps({"seq": 0, "t": 0, "kind": "open", "profile": "nokia"}), json.dumps(_AT)),
    ),
]

GENERIC = (ROOT / "modem" / "profiles" / "generic.yaml").read_text(encoding="utf-8")
# modem profiles given by the user to `m2msim modem serve --check --profile FILE`
PROFILES: list[tuple[str, str | bytes]] = [
    ("empty-profile.yaml", ""),
    ("extra-field.yaml", GENERIC + "colour: red\n"),
    ("missing-identity.yaml", GENERIC.replace("identity:", "identiti:", 1)),
    ("no-ok-regex.yaml", GENERIC + "  no_ok: {ATD: '(['}\n"),
    ("timeouts.yaml", GENERIC + "  timeouts: {AT+COPS: .nan}\n"),
    ("binary-profile.yaml", bytes(range(256))),
]


def _assert_refused_naming(result: CliResult, path: Path) -> None:
    assert_cli_contract(result, allowed=(2,))
    assert str(path) in result.err, f"the error must name the file:\n{result}"


@pytest.mark.parametrize(("name", "content"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_exit_2_naming_the_file(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = write(tmp_path / name, content)
    if name.endswith(".jsonl"):
        _assert_refused_naming(_bench(tmp_path, "register", f"replay://{path}?scale=0"), path)
    else:
        _assert_refused_naming(_bench(tmp_path, str(path), "virtual://generic?seed=1"), path)


@pytest.mark.parametrize(("name", "content"), PROFILES, ids=[m[0] for m in PROFILES])
def test_malformed_profiles_exit_2_naming_the_file(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = write(tmp_path / name, content)
    _assert_refused_naming(run_cli(["modem", "serve", "--check", "--profile", str(path)]), path)
    _assert_refused_naming(
        _bench(tmp_path, "register", "virtual://generic?seed=1", "--profile", str(path)), path
    )
