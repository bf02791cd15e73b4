"""replay://: a transcript recorded on a (pty-served) modem answers as that modem did; a command
the recording does not have fails with the documented error; the shipped examples replay."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ptys import served_ptys

from hil.bench import run_bench
from hil.examples.record import RECORDINGS
from hil.fakemodem import REGISTERED, Answer, AnsweringTransport
from hil.replay import ReplayError, UnmatchedCommand, load_recording, open_replay, split_url
from hil.transcript import Transcript, read_transcript
from m2msim.cli import main
from m2msim.outputs import OutputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "hil" / "examples" / "transcripts"


def exchanges(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["command"], e.get("responses"), e.get("final"), e.get("payloads"), e.get("error"))
        for e in events
        if e["kind"] == "command"
    ]


def wire(events: list[dict[str, Any]], kind: str) -> str:
    return "".join(e["text"] for e in events if e["kind"] == kind)


async def test_a_recording_replays_byte_for_byte(tmp_path: Path) -> None:
    async with served_ptys("quectel-bg96", count=1, seed=3) as [pty]:
        recorded = await run_bench(
            "attach_and_send", pty, profile="quectel-bg96", raw=True, params={"bytes": 300}
        )
    assert recorded.status == "passed", recorded.error
    path = recorded.transcript.write(tmp_path / "hw.jsonl")

    replayed = await run_bench("attach_and_send", f"replay://{path}?scale=0", raw=True, params={"bytes": 300})
    assert replayed.status == "passed", replayed.error
    assert replayed.profile == "quectel-bg96"  # the recording's driver profile
    before, after = read_transcript(path), replayed.transcript.events
    # the same commands, the same answers (lines, binary payloads, finals), the same URCs
    assert exchanges(after) == exchanges(before)
    assert [e["line"] for e in after if e["kind"] == "urc"] == [
        e["line"] for e in before if e["kind"] == "urc"
    ]
    # byte for byte: what the firmware wrote, and what the modem answered (echo aside: the modem
    # had echo on for the first command only)
    assert wire(after, "tx") == wire(before, "tx")
    assert wire(after, "rx") == wire(before, "rx").replace("ATE0\\r", "", 1)
    # the link's measured timing (`link`) is the replay's own: at scale 0 nothing waits
    assert replayed.details["bytes_received"] == 300 and replayed.details == recorded.details | {
        "address": replayed.details["address"],
        "link": replayed.details["link"],
    }


async def test_a_changed_firmware_command_fails_naming_it_and_the_nearest_recorded(tmp_path: Path) -> None:
    source = EXAMPLES / "register-simcom-sim800.jsonl"
    changed = tmp_path / "old-firmware.jsonl"
    # the module of the recording answered AT+GMM: the firmware now sends AT+CGMM
    changed.write_text(source.read_text(encoding="utf-8").replace('"AT+CGMM"', '"AT+GMM"'), encoding="utf-8")
    line = next(i for i, e in enumerate(read_transcript(changed), start=1) if e.get("command") == "AT+GMM")
    result = await run_bench("register", f"replay://{changed}?scale=0")
    assert result.status == "failed"
    assert result.error_type == "UnmatchedCommand"
    assert result.error == (
        f"replay://{changed}?scale=0: command 'AT+CGMM' is not in the recording {changed} "
        f"(expected next: 'AT+GMM', line {line}; nearest recorded: 'AT+GMM', line {line})"
    )
    failed = [c for c in result.transcript.commands if c.get("error") == "UnmatchedCommand"]
    assert failed[0]["command"] == "AT+CGMM"


async def test_a_repeated_poll_is_answered_as_its_last_recording() -> None:
    recording = load_recording(EXAMPLES / "register-simcom-sim800.jsonl")
    transport, replay = open_replay(f"replay://{EXAMPLES / 'register-simcom-sim800.jsonl'}?scale=0")
    first = recording.exchanges[0].command
    await transport.write(f"{first}\r".encode())
    await transport.write(f"{first}\r".encode())  # sent once more than recorded: the same answer
    received = b""
    while not replay._inbox.empty():  # scale=0: everything is queued at once
        received += await transport.read()
    answer = recording.exchanges[0].answer
    assert answer is not None and answer.endswith(b"OK\r\n")
    assert received.count(answer) == 2
    with pytest.raises(UnmatchedCommand, match="command 'AT\\+NOPE' is not in the recording"):
        await transport.write(b"AT+NOPE\r")
    await transport.close()
    assert replay.cursor == 1


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("replay://", "expected replay://PATH"),
        ("replay://x.jsonl?scale=-1", "scale='-1': expected a number 0 or more"),
        ("replay://x.jsonl?scale=nan", "scale='nan'"),
        ("replay://x.jsonl?speed=2", "unknown option 'speed'; known: scale"),
    ],
)
def test_bad_replay_urls(url: str, error: str) -> None:
    with pytest.raises(ReplayError, match=error.replace("(", "\\(").replace("?", "\\?")):
        split_url(url)


def test_unusable_recordings_are_refused_naming_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"seq": 0, "t": 0, "kind": "start"}) + "\n", encoding="utf-8")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"kind": "start"}\nnot json\n', encoding="utf-8")
    for path, error in (
        (tmp_path / "missing.jsonl", "missing.jsonl: no such transcript"),
        (tmp_path, "is a folder"),
        (empty, "no AT command in the transcript"),
        (garbage, "garbage.jsonl:2: not a JSON object"),
    ):
        with pytest.raises(ReplayError, match=error):
            load_recording(path)


_COMMAND = {"seq": 1, "t": 0.5, "kind": "command", "command": "AT", "responses": [], "final": "OK"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"t": "abc"}, "t: expected a number, got 'abc'"),
        ({"t": None}, "t: expected a number, got None"),
        ({"duration_s": "0.1"}, "duration_s: expected a number, got '0.1'"),
        ({"duration_s": -1}, "duration_s: -1 is out of range"),
        ({"data_bytes": [1]}, "data_bytes: expected a number, got \\[1\\]"),
        ({"responses": 5}, "responses: expected a list of text, got 5"),
        ({"responses": ["x"], "payloads": 5}, "payloads: expected a list of text, got 5"),
        ({"responses": ["x"], "payloads": ["***"]}, "payloads: not base64: '\\*\\*\\*'"),
        ({"final": ["OK"]}, "final: expected text"),
    ],
)
def test_an_event_field_of_the_wrong_type_is_refused_naming_file_line_and_field(
    tmp_path: Path, change: dict[str, object], error: str
) -> None:
    # a hand-edited recording (step 2 of turning a failure into a test): a field's value of the wrong
    # type ended the replay with a traceback (TypeError, ValueError, binascii.Error)
    path = tmp_path / "edited.jsonl"
    start = json.dumps({"seq": 0, "t": 0, "kind": "start"})
    path.write_text(f"{start}\n\n{json.dumps(_COMMAND | change)}\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=f"edited.jsonl:3: {error}"):
        load_recording(path)


def test_a_bad_line_is_named_by_its_line_in_the_file_blank_lines_counted(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    start = json.dumps({"seq": 0, "t": 0, "kind": "start"})
    good = json.dumps(_COMMAND)
    bad = json.dumps(_COMMAND | {"command": 5})
    path.write_text(f"{start}\n\n\n{good}\n\n{bad}\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=r"edited\.jsonl:6: a command event without its `command`"):
        load_recording(path)
    path.write_text(f"{start}\n\n{good}\n", encoding="utf-8")
    assert [e.line for e in load_recording(path).exchanges] == [3]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("[" * 100_000 + "]" * 100_000, "edited.jsonl:2: not a transcript event: nested too deep"),
        (
            '{"kind": "urc", "t": 1' + "0" * 5000 + "}",
            "edited.jsonl:2: not a transcript event: Exceeds the limit",
        ),
    ],
)
def test_a_line_json_cannot_hold_is_refused_naming_it(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "edited.jsonl"
    path.write_text(json.dumps(_COMMAND) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=error):
        load_recording(path)


def test_a_recording_saved_with_a_byte_order_mark_replays(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    path.write_text("\ufeff" + json.dumps(_COMMAND) + "\n", encoding="utf-8")
    assert [e.command for e in load_recording(path).exchanges] == ["AT"]


def test_the_command_replays_with_the_recorded_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"replay://{EXAMPLES / 'attach_and_send-quectel-bg96.jsonl'}?scale=0"
    assert main(["bench", "attach_and_send", "--modem-url", url, "--out", str(tmp_path / "a"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["params"]["bytes"] == 200 and report["details"]["bytes_received"] == 200
    # a parameter given still wins: 300 bytes were never recorded
    code = main(
        ["bench", "attach_and_send", "--modem-url", url, "--out", str(tmp_path / "b"), "--param", "bytes=300"]
    )
    assert code == 1 and "is not in the recording" in capsys.readouterr().out


def test_the_command_refuses_a_missing_recording_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["bench", "register", "--modem-url", f"replay://{tmp_path}/none.jsonl", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "none.jsonl: no such transcript" in err and "Traceback" not in err


@pytest.mark.parametrize(("name", "script", "url", "params"), RECORDINGS, ids=[r[0] for r in RECORDINGS])
async def test_the_shipped_transcripts_replay(
    name: str, script: str, url: str, params: dict[str, Any]
) -> None:
    result = await run_bench(script, f"replay://{EXAMPLES / name}?scale=0", params=params)
    assert result.status == "passed", result.error
    assert exchanges(result.transcript.events) == exchanges(read_transcript(EXAMPLES / name))


def test_pytest_runs_the_bench_tests_against_a_recording() -> None:
    url = f"replay://{EXAMPLES / 'register-simcom-sim800.jsonl'}?scale=0"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests/bench", "--modem-url", url, "-rs"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert any("test_register_script[" in line and "PASSED" in line for line in run.stdout.splitlines())
    assert "a recording of register, not of sms_roundtrip" in run.stdout
    assert "a recording of the script register, not of test_modem_fixture_records_commands" in run.stdout


def test_pytest_replays_each_test_from_its_own_recording_in_a_folder(tmp_path: Path) -> None:
    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
             "tests/bench/test_bench_register.py", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    recorded = pytest_run("--modem-url", "virtual://simcom-sim800?seed=1", "--bench-out", str(tmp_path))
    assert recorded.returncode == 0, recorded.stdout
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == [
        "test_modem_fixture_records_commands_simcom-sim800-seed-1_",
        "test_register_script_simcom-sim800-seed-1_",
    ]
    replayed = pytest_run("--modem-url", f"replay://{tmp_path}?scale=0")
    assert replayed.returncode == 0, replayed.stdout
    assert "2 passed" in replayed.stdout, replayed.stdout
    (tmp_path / folders[1] / "transcript.jsonl").unlink()
    missing = pytest_run("--modem-url", f"replay://{tmp_path}?scale=0")
    assert (
        "1 passed, 1 skipped" in missing.stdout and "no recording of test_register_script" in missing.stdout
    )


def test_a_recording_keeps_answers_payloads_urcs_and_their_offsets(tmp_path: Path) -> None:
    events = [
        {"seq": 0, "t": 0.0, "kind": "start"},
        {"seq": 1, "t": 0.01, "kind": "open", "script": "register", "profile": "simcom-sim800", "params": {"timeout": 5}},
        {"seq": 2, "t": 0.5, "kind": "urc", "line": "RDY"},
        {"seq": 4, "t": 1.0, "kind": "command", "command": "AT+CREG=2", "responses": [], "final": "OK", "duration_s": 0.2},
        {"seq": 3, "t": 3.0, "kind": "urc", "line": '+CREG: 1,"1A","2B"'},
        {"seq": 5, "t": 4.0, "kind": "command", "command": "AT+CIFSR", "responses": ["10.64.0.1"],
         "final": "10.64.0.1", "duration_s": 0.1},
        {"seq": 6, "t": 5.0, "kind": "command", "command": "AT+CIPRXGET=2,4", "responses": ["+CIPRXGET: 2,4,0"],
         "payloads": ["AAEC/w=="], "final": "OK", "duration_s": 0.05},
        {"seq": 7, "t": 6.0, "kind": "command", "command": "AT+CPIN?", "responses": [], "error": "CMEError",
         "final": "+CME ERROR: 10", "duration_s": 0.01},
        {"seq": 8, "t": 7.0, "kind": "command", "command": "AT+COPS?", "error": "CommandTimeout", "duration_s": 5.0},
    ]  # fmt: skip
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    rec = load_recording(path)
    assert (rec.script, rec.profile, rec.params) == ("register", "simcom-sim800", {"timeout": 5})
    assert rec.opening == [(0.5, b"\r\nRDY\r\n")]
    creg, cifsr, rx, cpin, cops = rec.exchanges
    # the answer after the recorded delay; the URC at its offset from the command's start
    assert (creg.answer, creg.delay, creg.urcs) == (
        b"\r\nOK\r\n",
        0.2,
        [(2.0, b'\r\n+CREG: 1,"1A","2B"\r\n')],
    )
    assert cifsr.answer == b"\r\n10.64.0.1\r\n"  # a vendor final is the last line, not repeated
    assert rx.answer == b"\r\n+CIPRXGET: 2,4,0\r\n\x00\x01\x02\xff\r\n\r\nOK\r\n"  # the payload bytes
    assert cpin.answer == b"\r\n+CME ERROR: 10\r\n"
    assert cops.answer is None  # timed out when recorded: no answer now either
    assert [e.line for e in rec.exchanges] == [4, 6, 7, 8, 9]  # lines of the file


async def test_a_scaled_replay_answers_in_the_recorded_order() -> None:
    # scale 0.05: answers and URCs come after their recorded delays, twenty times faster
    name = "register-simcom-sim800.jsonl"
    result = await run_bench("register", f"replay://{EXAMPLES / name}?scale=0.05")
    assert result.status == "passed", result.error
    before = read_transcript(EXAMPLES / name)
    assert exchanges(result.transcript.events) == exchanges(before)
    assert [e["line"] for e in result.transcript.events if e["kind"] == "urc"] == [
        e["line"] for e in before if e["kind"] == "urc"
    ]


async def test_a_physical_modem_s_recording_without_a_profile_replays_with_the_same_driver(
    tmp_path: Path,
) -> None:
    """No --profile on a physical modem: the driver's defaults (registration URCs +CREG, +CGREG and
    +CEREG), which are not the shipped `generic` profile's (+CREG, +CGREG); the replay must send
    what was recorded, not fail on the first difference."""
    fake = AnsweringTransport(REGISTERED, url="/dev/ttyUSB9")
    recorded = await run_bench("register", fake.url, transport=fake, out=tmp_path)
    assert recorded.status == "passed", recorded.error
    assert "AT+CEREG=2" in fake.lines
    replayed = await run_bench("register", f"replay://{tmp_path / 'transcript.jsonl'}?scale=0")
    assert replayed.status == "passed", replayed.error
    assert exchanges(replayed.transcript.events) == exchanges(recorded.transcript.events)


async def test_a_recording_that_timed_out_replays_with_its_own_timeout(tmp_path: Path) -> None:
    """A run with --timeout 0.2 whose AT+CGMR never answered: replayed, the same command times out
    after the same 0.2 s (not the default 5 s), with the same reason."""
    fake = AnsweringTransport({**REGISTERED, "AT+CGMR": Answer(final="")}, url="/dev/ttyUSB9")  # no final
    recorded = await run_bench("register", fake.url, transport=fake, out=tmp_path, timeout=0.2)
    assert recorded.status == "failed" and recorded.error_type == "CommandTimeout", recorded.error
    replayed = await asyncio.wait_for(
        run_bench("register", f"replay://{tmp_path / 'transcript.jsonl'}?scale=0"), 4
    )
    assert (replayed.status, replayed.error) == (recorded.status, recorded.error)
    assert "within 0.2 s" in (replayed.error or "")
    # and the clean-up after it (ATH, AT+CGACT=0) replays too: the client's resynchronisation after
    # the timeout, which no recording holds, is answered as a module answers it
    assert exchanges(replayed.transcript.events) == exchanges(recorded.transcript.events)


async def test_a_replay_never_writes_over_the_recording_it_replays(tmp_path: Path) -> None:
    fake = AnsweringTransport(REGISTERED, url="/dev/ttyUSB9")
    await run_bench("register", fake.url, transport=fake, out=tmp_path)
    recording = (tmp_path / "transcript.jsonl").read_bytes()
    with pytest.raises(OutputError, match="is the recording being replayed"):
        await run_bench("register", f"replay://{tmp_path / 'transcript.jsonl'}?scale=0", out=tmp_path)
    assert (tmp_path / "transcript.jsonl").read_bytes() == recording


@pytest.mark.parametrize(
    ("open_fields", "error"),
    [
        (
            {"script": "register", "params": {"timeout": "abc"}},
            "edited.jsonl:1: params: parameter timeout='abc'",
        ),
        (
            {"profile": "nokia-3310"},
            "edited.jsonl:1: profile: nokia-3310: unknown modem profile 'nokia-3310'",
        ),
    ],
)
def test_an_unusable_recorded_parameter_or_profile_names_the_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], open_fields: dict[str, object], error: str
) -> None:
    # they were reported as if given on the command line ('parameter timeout=...'), the recording unnamed
    path = tmp_path / "edited.jsonl"
    opened = {"seq": 0, "t": 0, "kind": "open"} | open_fields
    path.write_text(json.dumps(opened) + "\n" + json.dumps(_COMMAND) + "\n", encoding="utf-8")
    code = main(
        ["bench", "register", "--modem-url", f"replay://{path}?scale=0", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path}/{error}" in err and len(err.splitlines()) == 1, err


def test_a_transcript_of_a_later_format_is_refused_not_half_replayed(tmp_path: Path) -> None:
    later = tmp_path / "later.jsonl"
    start = {"seq": 0, "t": 0, "kind": "start", "format": 2}
    later.write_text(json.dumps(start) + "\n" + json.dumps(_COMMAND) + "\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=r"later\.jsonl:1: format: recorded by a later m2msim"):
        load_recording(later)
    written = Transcript()  # what this version writes, it reads
    assert written.events[0]["format"] == 1
    written.record("command", command="AT", responses=[], final="OK")
    written.write(later)
    assert [e.command for e in load_recording(later).exchanges] == ["AT"]


async def test_a_polled_registration_replays_at_once_at_scale_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose registration URCs never came: the bench read AT+CREG? / AT+CGREG? again 2 s
    later (`wait_registered`'s poll).  Replayed at scale=0 the poll waited those 2 s of real time
    all the same; it now follows the replay's clock, and the replay answers the reads in order.
    What is asserted is that no timer of the bench's loop ran out after a wait (the poll's 2 s were
    one), not how long the run took: a loaded machine stretches any wall time."""
    events = read_transcript(EXAMPLES / "register-simcom-sim800.jsonl")
    urcs = [e for e in events if e["kind"] == "urc" and "REG:" in e["line"]]
    assert urcs  # the registration came as URCs in this recording: read instead, 2 s later
    polled: list[dict[str, Any]] = []
    for e in events:
        if e in urcs:
            continue
        polled.append(e)
        if e.get("command") == "AT+CGREG?":
            t = e["t"] + 1.97  # (before the AT+COPS? that followed)
            polled.append(
                {**e, "t": t, "command": "AT+CREG?", "responses": ['+CREG: 2,1,"746B","B67C2AB",0']}
            )
            polled.append(
                {**e, "t": t, "command": "AT+CGREG?", "responses": ['+CGREG: 2,1,"746B","B67C2AB",0']}
            )
    path = tmp_path / "polled.jsonl"
    path.write_text(
        "".join(json.dumps({**e, "seq": i}) + "\n" for i, e in enumerate(polled)), encoding="utf-8"
    )
    loop = asyncio.get_running_loop()
    waited: list[float] = []  # the delay of each timer that ran out (asyncio.sleep, asyncio.timeout)
    call_at = loop.call_at

    def timed(when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        delay = when - loop.time()

        def ran_out(*a: Any) -> None:
            waited.append(delay)
            callback(*a)

        return call_at(when, ran_out, *args, context=context)

    monkeypatch.setattr(loop, "call_at", timed)
    result = await run_bench("register", f"replay://{path}?scale=0")
    monkeypatch.undo()
    assert result.status == "passed", result.error
    reads = [c["command"] for c in result.transcript.commands if c["command"].endswith("REG?")]
    assert reads == ["AT+CREG?", "AT+CGREG?"] * 2  # as recorded: read, then read again
    # the recording's 2 s poll is not waited for on the bench's clock (it was: a 2 s timer ran out)
    assert [d for d in waited if d > 0.001] == []
