"""Delivery reports: `sms_roundtrip --param report=yes` asks for a status report of each part
(TP-SRR) and, on a profile whose module routes them (`driver.sms.status_reports`, +CNMI <ds>=1),
waits for them and records the delivery; a profile without that line says the delivery is not known."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hil.allowlist import allow_list_from_numbers
from hil.bench import run_bench
from hil.errors import ScriptFileError
from hil.fakemodem import REGISTERED, AnsweringTransport
from hil.steps import load_steps_script
from modem.drivers.profile import DriverProfileError, load_driver_profile
from modem.sms import Direction, SmsStatusReport, decode_pdu, encode_status_report
from modem.sms.textmode import format_scts_text

NUMBER = "+33612345678"


@pytest.mark.parametrize("profile", ["generic", "simcom-sim800", "quectel-bg96"])
async def test_the_delivery_of_an_sms_is_recorded_from_its_status_report(profile: str) -> None:
    result = await run_bench(
        "sms_roundtrip", f"virtual://{profile}?seed=1&speed=20", params={"report": "yes", "timeout": 30}
    )
    assert result.status == "passed", result.error
    commands = [c["command"] for c in result.transcript.commands]
    assert "AT+CNMI=2,1,0,1,0" in commands  # status reports routed as +CDS
    assert any(e["line"].startswith("+CDS:") for e in result.transcript.of_kind("urc"))
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert step["info"]["delivered"] is True
    [part] = result.details["delivery"]
    assert part["delivered"] is True and part["status"] == 0
    assert part["reference"] == result.details["references"][0]


async def test_without_a_report_asked_none_is_routed_nor_waited_for() -> None:
    result = await run_bench("sms_roundtrip", "virtual://generic?seed=1&speed=20")
    assert result.status == "passed", result.error
    assert "AT+CNMI=2,1,0,0,0" in [c["command"] for c in result.transcript.commands]
    assert "delivery" not in result.details


class UndeliverableSms(AnsweringTransport):
    """The network takes the SMS (+CMGS: 7), then reports it could not deliver it (TP-ST 0x41,
    incompatible destination: a permanent error)."""

    def __init__(self) -> None:
        super().__init__({**REGISTERED, "AT+CMGS": self._sent}, url="/dev/ttyUSB9")

    def _sent(self, line: str) -> str:
        when = datetime.now(UTC)  # the service centre took it just now
        pdu = encode_status_report(7, NUMBER, when, when, 0x41)
        self.push(f"\r\n+CDS: {pdu.tpdu_length}\r\n{pdu.hex}\r\n".encode())
        return "+CMGS: 7"


async def test_an_sms_the_network_could_not_deliver_fails_the_run() -> None:
    fake = UndeliverableSms()
    allow = allow_list_from_numbers({NUMBER: "bench phone"}, actions=("sms",))
    result = await run_bench(
        "sms_roundtrip",
        fake.url,
        transport=fake,
        profile="generic",
        allow_list=allow,
        params={"report": "yes", "expect_reply": "no", "timeout": 5},
    )
    assert result.status == "failed" and result.error_type == "NotDelivered", result.error
    assert "part 7" in (result.error or "") and "status 65" in (result.error or "")
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert step["info"]["delivered"] is False and not step["ok"]
    assert len(result.usage.sms) == 1  # the network took it: billed all the same


async def test_a_profile_without_status_reports_notes_that_the_delivery_is_not_known() -> None:
    result = await run_bench(
        "sms_roundtrip",
        "virtual://generic?seed=1&speed=20",
        profile="wavecom-fastrack",
        params={"report": "yes", "timeout": 30},
    )
    assert result.status == "passed", result.error
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert any("routes no status reports" in text for text in notes)
    assert "delivery" not in result.details


def test_a_status_reports_line_that_does_not_route_them_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.yaml"
    path.write_text(
        'name: module\ndriver:\n  sms:\n    status_reports: "AT+CNMI=2,1,0,0,0"\n', encoding="utf-8"
    )
    with pytest.raises(DriverProfileError, match=r"module.yaml:4: driver.sms.status_reports: .*<ds>=1"):
        load_driver_profile(path)


async def test_a_yaml_sms_step_asks_for_and_records_the_delivery(tmp_path: Path) -> None:
    script = tmp_path / "delivered.yaml"
    script.write_text(
        "steps:\n  - register: {timeout: 30}\n  - sms: {text: hello, report: yes, timeout: 30}\n"
    )
    result = await run_bench(str(script), "virtual://simcom-sim800?seed=1&speed=20")
    assert result.status == "passed", result.error
    [delivery] = [e for e in result.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert delivery["info"]["delivered"] is True
    [sms] = [e for e in result.transcript.of_kind("step") if e["name"].endswith("sms")]
    assert sms["info"]["delivery"][0]["delivered"] is True


def test_a_yaml_sms_step_with_report_neither_yes_nor_no_is_refused_naming_the_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text("steps:\n  - sms: {text: hello, report: maybe}\n")
    with pytest.raises(
        ScriptFileError, match=r"bad.yaml:2: steps\[0\]\.sms\.report: 'maybe': expected yes or no"
    ):
        load_steps_script(script)


async def test_in_text_mode_the_report_is_asked_for_with_csmp_and_read_from_its_text(tmp_path: Path) -> None:
    # AT+CMGF=1: TP-SRR is AT+CSMP's first octet (49), and +CDS comes as
    # `+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` (27.005 §3.4.1), matched by <mr>
    generic = Path(__file__).resolve().parents[2] / "modem" / "profiles" / "generic.yaml"
    profile = tmp_path / "generic-text.yaml"
    profile.write_text(generic.read_text().replace("mode: pdu", "mode: text"))
    result = await run_bench(
        "sms_roundtrip",
        "virtual://generic?seed=1&speed=20",
        profile=str(profile),
        params={"report": "yes", "timeout": 30},
    )
    assert result.status == "passed", result.error
    commands = [c["command"] for c in result.transcript.commands]
    send = next(i for i, c in enumerate(commands) if c.startswith("AT+CMGS="))
    assert commands[send - 1] == "AT+CMGF=1;+CSMP=49,167,0,0", commands  # then the number
    urcs = [e for e in result.transcript.of_kind("urc") if e["line"].startswith("+CDS:")]
    assert urcs and "extra" not in urcs[0]  # the report's fields on its one line, no PDU after it
    [part] = result.details["delivery"]
    assert part["delivered"] is True and part["status"] == 0
    assert part["reference"] == result.details["references"][0]
    assert urcs[0]["line"].startswith(f"+CDS: 6,{part['reference']},")


GENERIC = Path(__file__).resolve().parents[2] / "modem" / "profiles" / "generic.yaml"
ALLOW = allow_list_from_numbers({NUMBER: "bench phone"}, actions=("sms",))


def text_mode_profile(tmp_path: Path) -> Path:
    profile = tmp_path / "generic-text.yaml"
    profile.write_text(GENERIC.read_text().replace("mode: pdu", "mode: text"))
    return profile


class LateReports(AnsweringTransport):
    """The network takes the SMS (+CMGS: 7) and routes, with the part's own report (not delivered,
    TP-ST 0x41), two that carry reference 7 too: an earlier message's, late (its service centre
    time stamp an hour old; delivered), and one to another recipient (delivered).  In PDU mode,
    or in text mode (`text`: `+CDS: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st>`, `bare`: without <ra>)."""

    def __init__(self, mode: str = "pdu", ago: timedelta = timedelta(hours=1)) -> None:
        super().__init__({**REGISTERED, "AT+CMGS": self._sent}, url="/dev/ttyUSB9")
        self.mode = mode
        self.ago = ago

    def _cds(self, number: str, when: datetime, status: int) -> str:
        if self.mode == "pdu":
            pdu = encode_status_report(7, number, when, when, status)
            return f"\r\n+CDS: {pdu.tpdu_length}\r\n{pdu.hex}\r\n"
        scts = format_scts_text(when)
        ra = f'"{number}",145' if self.mode == "text" else ","
        return f'\r\n+CDS: 6,7,{ra},"{scts}","{scts}",{status}\r\n'

    def _sent(self, line: str) -> str:
        now = datetime.now(UTC)
        self.push(self._cds(NUMBER, now, 0x41).encode())  # this part's: not delivered
        self.push(self._cds(NUMBER, now - self.ago, 0x00).encode())  # an earlier message's
        if self.mode != "bare":
            self.push(self._cds("+33699999999", now, 0x00).encode())  # another recipient's
        return "+CMGS: 7"


@pytest.mark.parametrize("mode", ["pdu", "text", "bare"])
async def test_a_late_report_of_an_earlier_message_with_the_same_reference_is_not_taken(
    mode: str, tmp_path: Path
) -> None:
    # TP-MR is 0-255 and comes round: the part was taken as delivered by the last report with its
    # reference, an earlier message's, though its own said the network could not deliver it
    fake = LateReports(mode)
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake,
        profile="generic" if mode == "pdu" else str(text_mode_profile(tmp_path)), allow_list=ALLOW,
        params={"report": "yes", "expect_reply": "no", "timeout": 5},
    )  # fmt: skip
    assert result.status == "failed" and result.error_type == "NotDelivered", result.error
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert step["info"]["delivered"] is False
    reasons = [r["reason"] for r in step["info"]["rejected"]]
    assert any("before its part was sent" in r and "earlier message" in r for r in reasons), reasons
    if mode != "bare":  # a report without <ra> is matched by its time stamp only
        assert any(f"is not {NUMBER}, the number texted" in r for r in reasons), reasons
    assert len(reasons) == (1 if mode == "bare" else 2)
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert sum("status report for reference 7 not taken" in n for n in notes) == len(reasons)


async def test_a_report_within_the_clock_skew_and_in_another_spelling_is_taken(tmp_path: Path) -> None:
    # an SMSC clock a minute behind the bench's, its recipient the national spelling: the part's
    fake = LateReports("text", ago=timedelta(minutes=1))
    fake.answers["AT+CMGS"] = lambda line: (
        fake.push(fake._cds("0612345678", datetime.now(UTC) - timedelta(minutes=1), 0).encode()) or "+CMGS: 7"
    )
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, profile=str(text_mode_profile(tmp_path)), allow_list=ALLOW,
        params={"report": "yes", "expect_reply": "no", "timeout": 5},
    )  # fmt: skip
    assert result.status == "passed", result.error
    [part] = result.details["delivery"]
    assert part["delivered"] is True


def yesterday(m: re.Match[str]) -> str:
    when = datetime.strptime(m.group(1), "%y/%m/%d,%H:%M:%S").replace(tzinfo=UTC)
    return f'"{format_scts_text(when - timedelta(days=1))}"'


async def test_a_recording_replays_its_reports_by_its_own_times(tmp_path: Path) -> None:
    # a run recorded yesterday: its report's time stamp is yesterday's, set against the recorded
    # time of the send (the recording's clock), not against the time of the replay
    fake = AnsweringTransport({**REGISTERED}, url="/dev/ttyUSB9")
    delivered = LateReports("text")
    fake.answers["AT+CMGS"] = lambda line: (
        fake.push(delivered._cds(NUMBER, datetime.now(UTC), 0).encode()) or "+CMGS: 7"
    )
    out = tmp_path / "run"
    out.mkdir()
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, profile=str(text_mode_profile(tmp_path)), allow_list=ALLOW,
        params={"report": "yes", "expect_reply": "no", "timeout": 5}, out=out,
    )  # fmt: skip
    assert result.status == "passed", result.error
    day = timedelta(days=1)
    lines = []
    for raw in (out / "transcript.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(raw)
        if event["kind"] == "start":
            event["wall_clock"] = (datetime.fromisoformat(event["wall_clock"]) - day).isoformat()
        if event["kind"] == "urc" and event["line"].startswith("+CDS:"):
            event["line"] = re.sub(r'"(\d\d/\d\d/\d\d,\d\d:\d\d:\d\d)\+00"', yesterday, event["line"])
        lines.append(json.dumps(event))
    recording = tmp_path / "yesterday.jsonl"
    recording.write_text("\n".join(lines) + "\n", encoding="utf-8")
    replayed = await run_bench(
        "sms_roundtrip",
        f"replay://{recording}?scale=0",
        profile=str(text_mode_profile(tmp_path)),
        allow_list=ALLOW,
    )
    assert replayed.status == "passed", replayed.error
    [part] = replayed.details["delivery"]
    assert part["delivered"] is True, part


@pytest.mark.parametrize("answer", ["+CMGS: 300", "+CMGS: -4", "+CMGS: ４"])
async def test_a_message_reference_out_of_range_fails_the_step_and_is_matched_with_no_report(
    answer: str,
) -> None:
    # TP-MR is one octet (0-255): `+CMGS: 300` is a garbled answer; before, 300 was kept as the
    # part's reference, the report of reference 44 (300 mod 256) was not its, and the run passed
    # with the delivery "not known"
    fake = AnsweringTransport({**REGISTERED}, url="/dev/ttyUSB9")

    def cmgs(_: str) -> str:
        pdu = encode_status_report(44, NUMBER, datetime.now(UTC), datetime.now(UTC), 0)
        fake.push(f"\r\n+CDS: {pdu.tpdu_length}\r\n{pdu.hex}\r\n".encode())
        return answer

    fake.answers["AT+CMGS"] = cmgs
    result = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, profile="generic", allow_list=ALLOW,
        params={"report": "yes", "expect_reply": "no", "timeout": 1},
    )  # fmt: skip
    assert result.status == "failed" and result.error_type == "ModemError", (result.status, result.error)
    assert repr(answer) in (result.error or "") and "0-255" in (result.error or ""), result.error
    assert not [e for e in result.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert result.summary()["sms_sent"] == 1 and result.usage.sms[0].references == ()  # billed, no reference


def _shifted(pdu_hex: str, by: timedelta) -> tuple[int, str]:
    """A status report PDU with its time stamps `by` later: (its TPDU length, its hex)."""
    report = decode_pdu(pdu_hex, Direction.MT)
    assert isinstance(report, SmsStatusReport)
    again = encode_status_report(
        report.message_reference, report.recipient.number, report.scts + by, report.discharge_time + by,
        report.status,
    )  # fmt: skip
    return again.tpdu_length, again.hex


async def test_each_part_s_report_is_set_against_that_part_s_own_send_time(tmp_path: Path) -> None:
    # a long message whose second part (reference 8) went 10 minutes after the first (a module slow
    # to take it, retries): a late report of an earlier message with reference 8, stamped 3 minutes
    # after the first part but 7 before the second, was set against the message's start, taken,
    # and showed the part delivered, though its own report had not come
    fake = AnsweringTransport({**REGISTERED}, url="/dev/ttyUSB9")
    parts: list[int] = []

    def cmgs(_: str) -> str:
        parts.append(7 + len(parts))
        if len(parts) == 2:
            now = datetime.now(UTC)
            for ref, when in ((7, now), (8, now - timedelta(minutes=7))):  # (8: an earlier message's)
                pdu = encode_status_report(ref, NUMBER, when, when, 0)
                fake.push(f"\r\n+CDS: {pdu.tpdu_length}\r\n{pdu.hex}\r\n".encode())
        return f"+CMGS: {parts[-1]}"

    fake.answers["AT+CMGS"] = cmgs
    out = tmp_path / "run"
    out.mkdir()
    params = {"report": "yes", "expect_reply": "no", "timeout": 1, "text": "x" * 200}
    recorded = await run_bench(
        "sms_roundtrip", fake.url, transport=fake, profile="generic", allow_list=ALLOW, params=params, out=out
    )
    assert recorded.status == "passed", recorded.error
    # the recording, its second part and all after it 10 minutes later, as the modem took it
    events = [
        json.loads(line) for line in (out / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    second = [e for e in events if e["kind"] == "command" and e["command"].startswith("AT+CMGS=")][1]
    late = timedelta(minutes=10)
    cut = second["t"]
    for event in (e for e in events if e.get("t", 0) >= cut):
        event["t"] += late.total_seconds()
        if event["kind"] == "urc" and event["line"].startswith("+CDS:"):
            length, event["extra"] = _shifted(event["extra"], late)
            event["line"] = f"+CDS: {length}"
    recording = tmp_path / "slow-parts.jsonl"
    recording.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    replayed = await run_bench(
        "sms_roundtrip", f"replay://{recording}?scale=0", profile="generic", allow_list=ALLOW
    )
    assert replayed.status == "passed", replayed.error
    [step] = [e for e in replayed.transcript.of_kind("step") if e["name"] == "sms-delivery"]
    assert [p["delivered"] for p in step["info"]["parts"]] == [True, None]  # part 8: no report of its own
    assert step["info"]["delivered"] is None
    [rejected] = step["info"]["rejected"]
    assert rejected["reference"] == 8 and "7 min 0 s before its part was sent" in rejected["reason"], rejected
