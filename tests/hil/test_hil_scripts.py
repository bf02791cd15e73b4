"""Bench scripts against a stand-in modem: SIM PIN, no coverage, failed calls and sends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from accounting.records import Zone
from hil.allowlist import allow_list_from_numbers
from hil.bench import BenchContext, run_bench
from hil.fakemodem import REGISTERED, Answer, AnsweringTransport, AnswerSpec
from hil.scripts import BenchScript
from m2msim.cli import main
from modem.at.errors import TransportError

ALLOW = allow_list_from_numbers({"+33612345678": "bench phone"})


async def test_register_enters_the_pin_when_the_sim_asks() -> None:
    state = {"pin": "SIM PIN"}

    def cpin_set(line: str) -> str:
        state["pin"] = "READY" if line == 'AT+CPIN="1234"' else "SIM PIN"
        return ""

    fake = AnsweringTransport(
        {**REGISTERED, "AT+CPIN?": lambda _: f"+CPIN: {state['pin']}", 'AT+CPIN="': cpin_set},
        url="/dev/ttyS9",
    )
    result = await run_bench("register", fake.url, transport=fake, params={"pin": "1234"})
    assert result.status == "passed", result.error
    assert 'AT+CPIN="1234"' in fake.lines
    assert result.details["operator"] == "Orange F" and result.details["signal"]["dbm"] == -77
    assert result.details["registration"]["roaming"] is False


async def test_register_without_pin_says_what_to_give() -> None:
    fake = AnsweringTransport({**REGISTERED, "AT+CPIN?": "+CPIN: SIM PIN"}, url="/dev/ttyS9")
    result = await run_bench("register", fake.url, transport=fake)
    assert result.status == "failed"
    assert result.error == "SIM not ready: SIM PIN (give --param pin=NNNN)"
    assert not any(line.startswith("AT+CPIN=") for line in fake.lines)


async def test_no_coverage_fails_with_the_registration_state() -> None:
    fake = AnsweringTransport(
        {**REGISTERED, "AT+CREG?": "+CREG: 2,2", "AT+CGREG?": "+CGREG: 2,3"}, url="/dev/ttyS9"
    )
    result = await run_bench("register", fake.url, transport=fake, params={"timeout": 0.3})
    assert result.status == "failed" and result.error_type == "NotRegistered"
    assert "not registered after 0.3 s" in (result.error or "")
    assert "+CGREG 3 (registration denied)" in (result.error or "")


async def test_call_that_vanishes_is_a_failure_and_is_hung_up() -> None:
    fake = AnsweringTransport({**REGISTERED, "AT+CLCC": ""}, url="/dev/ttyS9")
    result = await run_bench("dtmf_call", fake.url, transport=fake, allow_list=ALLOW, params={"timeout": 1.0})
    # The call never shows in +CLCC: the driver says so at once rather than waiting for the timeout.
    assert result.status == "failed" and result.error == "+33612345678: call released"
    dial = fake.lines.index("ATD+33612345678;")
    assert "ATH" in fake.lines[dial:]
    assert not any(line.startswith("AT+VTS") for line in fake.lines)
    assert result.usage.calls == [] and result.records == []


async def test_sms_refused_by_the_network_is_not_counted() -> None:
    fake = AnsweringTransport(
        {**REGISTERED, "AT+CMGS": Answer(final="+CMS ERROR: 38")}, url="/dev/ttyS9"
    )  # 38: network out of order
    result = await run_bench("sms_roundtrip", fake.url, transport=fake, allow_list=ALLOW)
    assert result.status == "failed" and result.error_type is not None
    [send] = [c for c in result.transcript.commands if c["command"].startswith("AT+CMGS")]
    assert send["code"] == 38 and send["error"]
    assert result.usage.sms == [] and result.summary()["sms_sent"] == 0


def test_cli_prints_why_a_script_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "bench",
            "attach_and_send",
            "--modem-url",
            "virtual://generic?seed=3&speed=20",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "SKIPPED" in out and "has no TCP stack" in out


async def test_someone_elses_sms_is_kept_and_the_wait_ends_with_a_clear_error() -> None:
    from datetime import UTC, datetime

    from modem.sms import encode_deliver

    stray = encode_deliver("hello from elsewhere", "+33699999999", datetime(2026, 3, 1, tzinfo=UTC))[0]

    def cmgs(_: str) -> str:
        fake.push(b'\r\n+CMTI: "SM",4\r\n')  # a message arrives: not the one sent
        return "+CMGS: 5"

    fake = AnsweringTransport(
        {**REGISTERED, "AT+CMGS": cmgs, "AT+CMGR=4": f"+CMGR: 0,,{stray.tpdu_length}\n{stray.hex}"},
        url="/dev/ttyS9",
    )
    result = await run_bench(
        "sms_roundtrip",
        fake.url,
        transport=fake,
        allow_list=ALLOW,
        params={"expect_reply": "yes", "timeout": 1.0},
    )
    assert result.status == "failed" and result.error_type == "NoReply"
    assert (
        result.error == "+33612345678: the message did not come back within 1 s (0 of 17 characters received)"
    )
    assert "AT+CMGR=4" in fake.lines
    assert not any(line.startswith("AT+CMGD") for line in fake.lines)  # the stray message stays
    [note] = result.transcript.of_kind("note")
    assert note["text"].startswith("message 4 kept on the modem") and "hello from elsewhere" in note["text"]
    assert result.summary()["sms_sent"] == 1  # the SMS did go out, and is counted


class UnpluggedAt(AnsweringTransport):
    """A USB modem pulled out when `at` is sent: its port fails every read and write from then on,
    as pyserial's does ("device reports readiness to read but returned no data")."""

    def __init__(self, answers: dict[str, AnswerSpec], at: str) -> None:
        super().__init__(answers, url="/dev/ttyUSB9")
        self.at = at
        self.gone = False

    async def read(self) -> bytes:
        data = await super().read()
        if self.gone:
            raise TransportError(f"{self.url}: read failed: device disconnected")
        return data

    async def write(self, data: bytes) -> None:
        if self.gone:
            raise TransportError(f"{self.url}: write failed: device disconnected")
        if data.startswith(self.at.encode()):
            self.gone = True
            self.push(b"")  # wakes the reader, which finds the port gone
            return
        await super().write(data)


async def test_modem_unplugged_mid_call_is_a_failed_run_with_its_transcript(tmp_path: Path) -> None:
    fake = UnpluggedAt({**REGISTERED, "AT+CLCC": '+CLCC: 1,0,0,0,0,"+33612345678",145'}, at="ATH")
    result = await asyncio.wait_for(
        run_bench(
            "dtmf_call", fake.url, transport=fake, allow_list=ALLOW, params={"hold": 0.0}, timeout=30,
            out=tmp_path,
        ),
        10,
    )  # fmt: skip
    # the run ends at once (not after the command's 30 s), failed, saying why, and is reported
    assert result.status == "failed" and result.error_type == "ConnectionClosed"
    assert "device disconnected" in (result.error or "")
    events = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "end" and events[-1]["status"] == "failed"
    assert any(e.get("command") == "AT+VTS=#" and e.get("final") == "OK" for e in events)
    result.write(tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["status"] == "failed"
    # the call was answered: the network bills it, so the estimate counts it, with a note
    assert len(result.usage.calls) == 1
    assert [r.type.value for r in result.records] == ["voice"]
    assert any("hang-up not confirmed" in e.get("text", "") for e in events)


async def test_answered_call_whose_dtmf_fails_is_still_counted() -> None:
    fake = AnsweringTransport(
        {
            **REGISTERED,
            "AT+CLCC": '+CLCC: 1,0,0,0,0,"+33612345678",145',
            "AT+VTS": Answer(final="+CME ERROR: 3"),
        },
        url="/dev/ttyS9",
    )
    result = await run_bench("dtmf_call", fake.url, transport=fake, allow_list=ALLOW, params={"hold": 0.0})
    assert result.status == "failed" and result.error_type == "OperationNotAllowed"
    assert "ATH" in fake.lines[fake.lines.index("AT+VTS=1") :]  # hung up...
    # ...after an answer the operator bills: the run's usage and estimate have the call
    [call] = result.usage.calls
    assert call.number == "+33612345678" and call.seconds >= 0
    assert [r.type.value for r in result.records] == ["voice"]
    assert result.estimate is not None and result.summary()["calls"] == 1


async def test_parts_of_a_long_sms_sent_before_a_failure_are_counted() -> None:
    """A 3-part message whose second AT+CMGS the network refuses: the first part went out and is
    billed, so the run's usage and estimate count it."""
    sent: list[str] = []

    def cmgs(_: str) -> Answer:
        sent.append("part")
        return Answer("+CMGS: 41") if len(sent) == 1 else Answer(final="+CMS ERROR: 38")

    fake = AnsweringTransport({**REGISTERED, "AT+CMGS": cmgs}, url="/dev/ttyS9")
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, allow_list=ALLOW,
        params={"text": "x" * 400, "expect_reply": "no"},
    )  # fmt: skip
    assert result.status == "failed" and result.error_type is not None
    assert result.summary()["sms_sent"] == 1
    assert [r.type.value for r in result.records] == ["sms"]
    assert result.usage.sms[0].references == (41,)


SMS_STEP = """\
name: long_sms
steps:
  - sms: {to: "+33612345678", text: "%s"}
"""


async def test_a_yaml_sms_step_counts_the_parts_sent_before_a_failure(tmp_path: Path) -> None:
    """The same 3-part message from a YAML `sms` step: before, the part the network took was not
    counted (the run's usage showed no SMS, the estimate nothing)."""
    sent: list[str] = []

    def cmgs(_: str) -> Answer:
        sent.append("part")
        return Answer("+CMGS: 41") if len(sent) == 1 else Answer(final="+CMS ERROR: 38")

    script = tmp_path / "long_sms.yaml"
    script.write_text(SMS_STEP % ("x" * 400))
    fake = AnsweringTransport({**REGISTERED, "AT+CMGS": cmgs}, url="/dev/ttyS9")
    result = await run_bench(str(script), fake.url, transport=fake, allow_list=ALLOW)
    assert result.status == "failed" and "+CMS ERROR: 38" in (result.error or ""), result.error
    assert result.summary()["sms_sent"] == 1 and result.usage.sms[0].references == (41,)
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert "1 part(s) of the message were sent before the failure: counted" in notes


async def test_a_part_answered_ok_without_its_message_reference_is_counted_and_fails_the_run() -> None:
    """27.005 answers a sent message `+CMGS: <mr>` then OK; a module that answers a bare OK has
    sent it (billed), but its status report cannot be matched: the run fails naming the answer,
    and the part is counted (before, it was not: only parts with a reference were)."""
    fake = AnsweringTransport({**REGISTERED, "AT+CMGS": Answer()}, url="/dev/ttyS9")
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, allow_list=ALLOW, params={"expect_reply": "no"}
    )
    assert result.status == "failed" and "no +CMGS line in the answer" in (result.error or "")
    assert result.summary()["sms_sent"] == 1 and result.usage.sms[0].references == ()
    assert [r.type.value for r in result.records] == ["sms"]


async def test_a_message_reference_that_is_not_a_number_fails_the_run_and_counts_the_parts() -> None:
    """`+CMGS: <mr>` whose <mr> is not a number (a garbled line): the part was sent (answered OK),
    and so was the one before; before, int() raised a ValueError the bench did not count the parts
    of, so the run showed no SMS and cost nothing."""
    sent: list[str] = []

    def cmgs(_: str) -> Answer:
        sent.append("part")
        return Answer("+CMGS: 41") if len(sent) == 1 else Answer("+CMGS: 4x")

    fake = AnsweringTransport({**REGISTERED, "AT+CMGS": cmgs}, url="/dev/ttyS9")
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, allow_list=ALLOW,
        params={"text": "x" * 400, "expect_reply": "no"},
    )  # fmt: skip
    assert result.status == "failed" and result.error_type == "ModemError", result.error_type
    assert "'+CMGS: 4x'" in (result.error or "") and "message reference" in (result.error or "")
    assert result.summary()["sms_sent"] == 2 and result.usage.sms[0].references == (41,)
    assert [r.type.value for r in result.records] == ["sms", "sms"]


async def test_a_message_cut_short_counts_the_parts_sent_and_says_so() -> None:
    """A script's own timeout cancels the send while its second part waits for its answer: the
    first part went out (billed); before, the cancellation passed the count by, so the run failed
    'timed out' with no SMS in its usage or estimate."""
    sent: list[str] = []
    second = asyncio.Event()
    fake = AnsweringTransport({}, url="/dev/ttyS9")

    def cmgs(_: str) -> Answer:
        sent.append("part")
        if len(sent) == 2:
            fake.hold()  # the module works on it: no answer yet
            second.set()
        return Answer(f"+CMGS: {40 + len(sent)}")

    fake.answers.update({**REGISTERED, "AT+CMGS": cmgs})

    async def run(bench: BenchContext) -> dict[str, Any]:
        async with asyncio.timeout(None) as limit:
            sending = asyncio.create_task(
                bench.send_sms("+33612345678", "x" * 400, status_report=False, zone=Zone.FR)
            )
            await second.wait()
            limit.reschedule(asyncio.get_running_loop().time())  # the script's time is up
            await sending
        return {}

    script = BenchScript(
        name="cut_short", description="a long SMS cut short", run=run, needs=frozenset({"sms"})
    )
    result = await run_bench(script, fake.url, transport=fake, allow_list=ALLOW)
    assert result.status == "failed", result.status
    assert result.summary()["sms_sent"] == 1 and result.usage.sms[0].references == (41,)
    assert "cut short after 1 part(s) sent" in (result.error or ""), result.error
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert any("cut short after 1 part(s) sent" in n for n in notes), notes
