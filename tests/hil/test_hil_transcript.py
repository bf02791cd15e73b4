"""The bench transcript: timed events as JSON lines, and the recording AT client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.recording import RecordingClient
from hil.transcript import Transcript, read_transcript
from modem.at.errors import CMEError
from modem.at.script import ScriptedTransport, steps


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_events_are_timed_from_the_start_and_written_as_json_lines(tmp_path: Path) -> None:
    clock = FakeClock()
    t = Transcript(clock=clock)
    clock.now = 100.5
    with t.step("attach") as info:
        clock.now = 102.0
        t.record("command", command="AT+CGATT=1", final="OK")
        info["apn"] = "orange.m2m.spec"
        clock.now = 102.25
    with pytest.raises(RuntimeError), t.step("send"):
        clock.now = 103.0
        raise RuntimeError("link down")
    events = read_transcript(t.write(tmp_path / "t.jsonl"))
    assert [e["kind"] for e in events] == ["start", "command", "step", "step"]
    assert [e["seq"] for e in events] == [0, 1, 2, 3]
    assert events[1]["t"] == 2.0
    attach = events[2]
    assert (attach["t"], attach["duration_s"], attach["ok"]) == (0.5, 1.75, True)
    assert attach["info"] == {"apn": "orange.m2m.spec"}
    send = events[3]
    assert send["ok"] is False and send["info"]["error"] == "RuntimeError: link down"
    assert t.step_durations() == {"attach": 1.75, "send": 0.75}
    for line in (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines():
        assert isinstance(json.loads(line), dict)


def test_reading_a_bad_transcript_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"kind": "start"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"t\.jsonl:2: not a JSON object"):
        read_transcript(path)


async def test_recording_client_keeps_commands_answers_errors_and_urcs() -> None:
    transport = ScriptedTransport(
        steps(
            ("AT+CSQ\r", "\r\n+CSQ: 17,0\r\n\r\nOK\r\n"),
            ("AT+CPIN?\r", "\r\n+CME ERROR: 10\r\n"),
            ("AT+CMGS=19\r", "\r\n> "),
            (b"0011000B913366554433F20000AA05E8329BFD06\x1a", "\r\n+CMGS: 7\r\n\r\nOK\r\n"),
        ),
        url="/dev/ttyUSB9",
    )
    transcript = Transcript()
    client = RecordingClient(transport, transcript, timeout=2.0)
    async with client:
        transport.push(b'\r\n+CMTI: "SM",3\r\n')
        await client.command("AT+CSQ")
        with pytest.raises(CMEError):
            await client.command("AT+CPIN?")
        await client.command_with_data("AT+CMGS=19", b"0011000B913366554433F20000AA05E8329BFD06\x1a")
    assert transport.mismatch is None
    csq, cpin, cmgs = transcript.commands
    assert (csq["command"], csq["responses"], csq["final"]) == ("AT+CSQ", ["+CSQ: 17,0"], "OK")
    assert (cpin["error"], cpin["code"]) == ("SimNotInserted", 10)
    assert cpin["meaning"]
    assert cmgs["data_bytes"] == 41 and cmgs["data"].endswith("\\x1a")
    assert cmgs["responses"] == ["+CMGS: 7"]
    assert [u["line"] for u in transcript.of_kind("urc")] == ['+CMTI: "SM",3']
    times = [c["t"] for c in transcript.commands]
    assert times == sorted(times) and all(c["duration_s"] >= 0 for c in transcript.commands)
    assert client.commands_sent == 3


async def test_raw_mode_records_every_byte_both_ways() -> None:
    from hil.bench import run_bench
    from hil.fakemodem import AnsweringTransport

    fake = AnsweringTransport({"AT+CPIN?": "+CPIN: READY"}, url="/dev/ttyS9")
    result = await run_bench("register", fake.url, transport=fake, raw=True, params={"timeout": 0.2})
    sent = "".join(e["text"] for e in result.transcript.of_kind("tx"))
    assert sent.replace("\\r", "\r").encode() == bytes(fake.written)
    assert sum(e["bytes"] for e in result.transcript.of_kind("tx")) == len(fake.written)
    received = "".join(e["text"] for e in result.transcript.of_kind("rx"))
    assert "+CPIN: READY\\r\\n" in received


def test_a_transcript_with_a_path_is_on_disk_event_by_event(tmp_path: Path) -> None:
    path = tmp_path / "transcript.jsonl"
    with Transcript(path=path) as t:
        assert [json.loads(x)["kind"] for x in path.read_text().splitlines()] == ["start"]
        t.record("note", text="one")
        lines = path.read_text().splitlines()  # flushed at once, before anything else happens
        assert json.loads(lines[-1]) == t.events[-1] and len(lines) == 2
        assert t.write(path) == path and path.read_text() == t.to_jsonl()
    other = tmp_path / "copy.jsonl"
    t.write(other)
    assert other.read_text() == path.read_text()
