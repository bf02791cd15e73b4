"""Users' own bench scripts: a Python module of the built-ins' shape and a declarative YAML script,
run on the virtual modem over a pty (a device path: the physical-modem rules apply); bad files are
refused with the file and line, before any modem is opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from ptys import served_ptys

from hil.allowlist import allow_list_from_numbers
from hil.bench import run_bench
from hil.errors import ScriptFileError
from hil.fakemodem import REGISTERED, AnsweringTransport
from hil.scripts import get_script
from hil.steps import ScriptYamlError
from m2msim.cli import main
from modem.safety import NoDialPolicy

EXAMPLES = Path(__file__).resolve().parents[2] / "hil" / "examples"

USER_PY = """
from hil.scripts import BenchScript, Param

async def run(bench):
    reply = await bench.modem.client.command("AT+CGMM")
    with bench.step("model") as info:
        info["model"] = reply.lines[0]
    return {"model": reply.lines[0], "greeting": bench.params["greeting"]}

SCRIPT = BenchScript(name="user_model", description="the model", run=run,
                     params={"greeting": Param("hello", "a word")})
"""

STEPS = """\
name: user_steps
params:
  low: {default: 1}
steps:
  - name: sim
    send: AT+CPIN?
    expect: '\\+CPIN: READY'
  - register: {timeout: 60}
  - wait_urc: '\\+CREG: (?P<stat>[15])'
    timeout: 5
  - send: AT+CSQ
    expect: '\\+CSQ: (?P<rssi>\\d+),'
  - assert: rssi
    min: ${low}
    max: 31
  - assert: stat
    equals: "1"
  - sms: {text: hello from a YAML script}
  - sleep: 0.01
"""


async def test_a_users_python_script_and_a_yaml_script_run_over_a_pty(tmp_path: Path) -> None:
    user = tmp_path / "my_check.py"
    user.write_text(USER_PY, encoding="utf-8")
    steps = tmp_path / "steps.yaml"
    steps.write_text(STEPS, encoding="utf-8")
    allow = allow_list_from_numbers({"+33600000009": "far end"}, actions=("sms",))
    async with served_ptys("simcom-sim800", count=1) as [pty]:
        result = await run_bench(get_script(str(user)), pty, params={"greeting": "bonjour"})
        assert result.status == "passed", result.error
        assert result.details == {"model": "SIMCOM_SIM800", "greeting": "bonjour"}
        assert "model" in result.summary()["steps"]

        script = get_script(str(steps))
        assert script.needs == frozenset({"sms"})
        with pytest.raises(NoDialPolicy):  # texting on a device without an allow-list: refused first
            await run_bench(script, pty)
        result = await run_bench(script, pty, allow_list=allow)
        assert result.status == "passed", result.error
        measures = result.details["measures"]
        assert measures["stat"] == "1" and 0 <= int(measures["rssi"]) <= 31
        assert {"sim", "2-register", "3-wait_urc", "7-sms", "8-sleep"} <= set(result.summary()["steps"])
        assert [c for c in result.transcript.commands if c["command"].startswith("AT+CMGS")]
        assert result.summary()["sms_sent"] == 1

        # a number that is not on the allow-list: refused before any AT+CMGS
        other = tmp_path / "other.yaml"
        other.write_text('steps:\n  - sms: {to: "+33611111111", text: hello}\n', encoding="utf-8")
        refused = await run_bench(get_script(str(other)), pty, allow_list=allow)
        assert refused.status == "refused", refused.error
        assert not [c for c in refused.transcript.commands if c["command"].startswith("AT+CMGS")]
        assert refused.transcript.of_kind("refused")[0]["number"] == "+33611111111"


async def test_a_failed_expectation_names_the_file_and_line(tmp_path: Path) -> None:
    steps = tmp_path / "weak.yaml"
    steps.write_text(
        "steps:\n  - send: AT+CSQ\n    expect: '\\+CSQ: (?P<rssi>\\d+),'\n  - assert: rssi\n    max: -1\n",
        encoding="utf-8",
    )
    result = await run_bench(get_script(str(steps)), "virtual://generic?seed=1")
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(f"{steps}:4: rssi = ")
    assert "expected within [-inf, -1]" in result.error


async def test_a_duration_given_as_a_parameter_is_bounded_when_the_step_runs(tmp_path: Path) -> None:
    steps = tmp_path / "wait.yaml"
    steps.write_text(
        "params:\n  t: {default: 0.5}\nsteps:\n  - wait_urc: NEVER\n    timeout: ${t}\n", encoding="utf-8"
    )
    for value, shown in (("1e300", "1e+300"), ("nan", "nan"), ("-1", "-1.0")):
        result = await run_bench(get_script(str(steps)), "virtual://generic?seed=1", params={"t": value})
        assert result.status == "failed", value
        assert result.error == f"{steps}:4: timeout='{shown}': expected seconds within 0..86400", result.error


async def test_a_pattern_made_catastrophic_by_its_parameter_fails_its_step_unrun(tmp_path: Path) -> None:
    """A pattern holding a parameter is checked once filled in: `(${x}+)+$` with x=a is `(a+)+$`,
    which would backtrack for ever on the fake modem's 40-character line of a's."""
    steps = tmp_path / "param.yaml"
    steps.write_text(
        "params:\n  x: {default: 'b'}\nsteps:\n  - send: AT+CGMI\n    expect: '(${x}+)+$'\n",
        encoding="utf-8",
    )
    fake = AnsweringTransport({**REGISTERED, "AT+CGMI": "a" * 40 + "!"}, url="script://")
    result = await run_bench(get_script(str(steps)), fake.url, transport=fake, params={"x": "a"})
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(
        f"{steps}:4: expect: '(a+)+$' backtracks for minutes"
    ), result.error


async def test_yaml_socket_steps_on_a_vendor_stack() -> None:
    script = get_script(str(EXAMPLES / "data_echo.yaml"))
    result = await run_bench(script, "virtual://quectel-bg96?seed=1")
    assert result.status == "passed", result.error
    assert result.details["measures"]["bytes_received"] == len("hello from the bench")
    assert result.summary()["bytes_sent"] == len("hello from the bench")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("steps:\n  - sned: AT\n", "bad.yaml:2: steps[0].sned: unknown key (did you mean 'send'?)"),
        (
            "steps:\n  - send: AT\n    expct: OK\n",
            "bad.yaml:3: steps[0].expct: unknown key (did you mean 'expect'?)",
        ),
        (
            "steps:\n  - send: AT\n    expect: '(unclosed'\n",
            "bad.yaml:3: steps[0].expect: not a regular expression",
        ),
        (  # exponential backtracking on a line it does not match: the bench would hang on it
            "steps:\n  - send: AT+CSQ\n    expect: '(a+)+$'\n",
            "bad.yaml:3: steps[0].expect: '(a+)+$' backtracks for minutes",
        ),
        (
            "steps:\n  - send: AT+CSQ\n    final: '(\\w+\\s?)*ERROR'\n",
            "bad.yaml:3: steps[0].final: '(\\\\w+\\\\s?)*ERROR' backtracks for minutes",
        ),
        (
            "steps:\n  - send: AT\n  - wait_urc: '^(.|\\s)*RING$'\n",
            "bad.yaml:3: steps[1].wait_urc: '^(.|\\\\s)*RING$' backtracks for minutes",
        ),
        (
            "steps:\n  - send: AT+CSQ;D0612345678;\n",
            "bad.yaml:2: steps[0].send: 'AT+CSQ;D0612345678;': texting",
        ),
        ("steps:\n  - send: at+cmgs=12\n", "bad.yaml:2: steps[0].send: 'at+cmgs=12': texting"),
        (  # V.250 basic commands chain without separator: the dial after E0
            "steps:\n  - send: ATE0D+33612345678;\n",
            "bad.yaml:2: steps[0].send: 'ATE0D+33612345678;': texting and dialling",
        ),
        (
            'steps:\n  - send: AT+CCFC=0,3,"+33699999999"\n',
            "bad.yaml:2: steps[0].send: 'AT+CCFC=0,3,\"+33699999999\"': texting and dialling",
        ),
        (
            "steps:\n  - send: ATD+33612345678;\n",
            "bad.yaml:2: steps[0].send: 'ATD+33612345678;': texting and dialling",
        ),
        (
            "steps:\n  - sms: {to: +33612345678}\n",
            "bad.yaml:2: steps[0].sms.to: +33612345678 is read by YAML as a number",
        ),
        ("steps:\n  - sleep: -1\n", "bad.yaml:2: steps[0].sleep: -1 s is out of range"),
        (  # a wait of 10^300 s never ends: every duration is bounded as `sleep` is
            "steps:\n  - wait_urc: RING\n    timeout: 1e300\n",
            "bad.yaml:3: steps[0].timeout: 1e+300 s is out of range: must be at most 86400 s",
        ),
        (
            "steps:\n  - dial: {to: '+33612345678', poll: 1e9}\n",
            "bad.yaml:2: steps[0].dial.poll: 1e+09 s is out of range",
        ),
        ("steps:\n  - send: AT${nope}\n", "bad.yaml:2: steps[0].send: ${nope} is not a parameter"),
        ("steps:\n  - send: AT\n    sleep: 1\n", "bad.yaml:2: steps[0]: a step has exactly one action"),
        ("steps:\n  - assert: rssi\n", "bad.yaml:2: steps[0].assert: give min, max or equals"),
        ("steps: []\n", "bad.yaml:1: steps: no steps"),
        ("name: x\n", "bad.yaml:1: steps: missing (required)"),
        (
            "steps:\n  - send: AT\n  - send: AT\n    send: AT\n",
            "bad.yaml:4: not valid YAML: duplicate key 'send' (first at line 3)",
        ),
    ],
)
def test_a_bad_yaml_script_is_refused_with_file_line_and_key(tmp_path: Path, text: str, error: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ScriptYamlError) as caught:
        get_script(str(bad))
    assert str(caught.value).startswith(f"{tmp_path}/{error}"), str(caught.value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("x = 1\n", "user.py: no SCRIPT in the module"),
        ("SCRIPT = 3\n", "user.py: SCRIPT is a int, expected a hil.scripts.BenchScript"),
        ("x = 1\ny = (\n", "user.py:2: syntax error"),
        ("x = 1\nraise RuntimeError('boom')\n", "user.py:2: the module failed to load: RuntimeError: boom"),
        ("import no_such_module_here\n", "user.py:1: the module failed to load: ModuleNotFoundError"),
        # a module that exits while it loads ran nothing: not a run that passed (exit 0) or an exit 3
        ("import sys\nsys.exit(0)\n", "user.py:2: the module failed to load: SystemExit: 0"),
        ("raise SystemExit(3)\n", "user.py:1: the module failed to load: SystemExit: 3"),
        ("x = 1\0\n", "user.py: syntax error: source code string cannot contain null bytes"),
    ],
)
def test_a_python_file_that_is_not_a_bench_script_is_refused(tmp_path: Path, text: str, error: str) -> None:
    bad = tmp_path / "user.py"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ScriptFileError) as caught:
        get_script(str(bad))
    assert str(caught.value).startswith(f"{tmp_path}/{error}"), str(caught.value)


def test_the_command_refuses_a_bad_script_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (tmp_path / "slow.yaml").write_text("steps:\n  - send: AT+CGMI\n    expect: '(a+)+$'\n", encoding="utf-8")
    for args, error in (
        ([str(tmp_path / "missing.py")], "missing.py: no such file"),
        ([str(tmp_path / "missing.yaml")], "missing.yaml"),
        ([str(tmp_path / "notes.txt")], "notes.txt: a script file is a Python module (.py) or a YAML script"),
        ([str(tmp_path / "slow.yaml")], "slow.yaml:3: steps[0].expect: '(a+)+$' backtracks for minutes"),
    ):
        code = main(["bench", *args, "--modem-url", "virtual://generic", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and error in err and "Traceback" not in err, err
    assert not out.exists()  # refused before anything was opened or written


def test_the_command_runs_the_example_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for script in ("my_check.py", "signal_check.yaml"):
        out = tmp_path / script
        code = main(
            [
                "bench",
                str(EXAMPLES / script),
                "--modem-url",
                "virtual://quectel-bg96?seed=2",
                "--out",
                str(out),
            ]
        )
        printed = capsys.readouterr().out
        assert code == 0, printed
        assert (
            "PASSED" in printed and (out / "transcript.jsonl").is_file() and (out / "report.json").is_file()
        )


RAW_WRITE = """
from hil.scripts import BenchScript

async def run(bench):
    await bench.modem.client.transport.write(b"ATD+33699999999;\\r")
    return {}

SCRIPT = BenchScript(name="raw_write", description="bytes past the client", run=run)
"""

SWAP_GUARD = """
from hil.scripts import BenchScript

async def run(bench):
    bench.modem.client.guard = None
    await bench.modem.client.command("ATD+33699999999;")
    return {}

SCRIPT = BenchScript(name="swap_guard", description="the guard removed", run=run)
"""


OWN_GUARD = """
from hil.scripts import BenchScript

class Passes:
    strict = True
    def check(self, line, data=None): pass
    def done(self, line, lines=()): pass
    def urc(self, name, line=""): pass
    def restarted(self, why): pass
    def check_data_write(self, data_mode, data, numeric=False, *, seven_bit=False): pass
    def written(self, data=False): pass
    def write_failed(self, data): pass

async def run(bench):
    bench.modem.client.guard = Passes()
    await bench.modem.client.command("ATD+33699999999;")
    return {}

SCRIPT = BenchScript(name="own_guard", description="a guard that says it is strict", run=run)
"""

SECOND_DRIVER = """
from hil.scripts import BenchScript
from modem.drivers.generic import Modem

class Everyone:
    def check(self, number, action): pass

async def run(bench):
    Modem(bench.modem.client, None, Everyone())
    await bench.modem.client.command("ATD+33699999999;")
    return {}

SCRIPT = BenchScript(name="second_driver", description="a driver with its own policy", run=run)
"""


@pytest.mark.parametrize(
    "source",
    [RAW_WRITE, SWAP_GUARD, OWN_GUARD, SECOND_DRIVER],
    ids=["raw-write", "guard-removed", "own-strict-guard", "second-driver-own-policy"],
)
async def test_a_python_script_cannot_write_past_the_command_guard(tmp_path: Path, source: str) -> None:
    # the client handed out its transport as is: a script's own bytes (a dial to a number off the
    # allow-list) went to the physical modem unread by the guard; so did its lines once it had set
    # the client's guard to None
    script = tmp_path / "past_the_guard.py"
    script.write_text(source)
    fake = AnsweringTransport(REGISTERED, url="/dev/ttyUSB9")
    allow = allow_list_from_numbers({"+33612345678": "bench phone"})
    result = await run_bench(str(script), fake.url, transport=fake, allow_list=allow)
    assert result.status == "refused" and result.error_type == "SafetyError", (result.status, result.error)
    assert b"ATD" not in fake.written
    assert "+33699999999" not in fake.written.decode("latin-1")
