"""A modem that restarts mid-run (RDY after the bench's initialisation was answered): the run fails
saying so, unless a command of the run asked for the restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hil.allowlist import allow_list_from_numbers
from hil.bench import run_bench
from hil.fakemodem import REGISTERED, Answer, AnsweringTransport, AnswerSpec

BOOT = b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"


class RestartsAt(AnsweringTransport):
    """A SIM800 whose supply sags when `at` is sent: it answers, then boots again (RDY, ...), with
    its echo back on."""

    def __init__(self, answers: dict[str, AnswerSpec], at: str) -> None:
        super().__init__(answers, url="/dev/ttyUSB9")
        self.at = at.encode()
        self.echo = False

    async def write(self, data: bytes) -> None:
        if self.echo:
            self.push(data)
        await super().write(data)
        if data.startswith(self.at):
            self.push(BOOT)
            self.echo = True


async def test_a_restart_nothing_asked_for_fails_a_run_that_went_on() -> None:
    fake = RestartsAt(REGISTERED, at="AT+COPS?")
    result = await run_bench("register", fake.url, transport=fake)
    # the script's commands all answered after the restart; the run is no proof: failed, saying why
    assert result.status == "failed" and result.error_type == "ModemRestarted"
    assert (result.error or "").startswith("the modem restarted once during the run, at ")
    assert "(RDY), without a command asking for it" in (result.error or "")
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert "the modem restarted (RDY) without being asked" in notes


async def test_a_restart_gives_its_reason_beside_the_failure_it_caused() -> None:
    fake = RestartsAt(
        {**REGISTERED, "AT+CLCC": Answer(final="ERROR")}, at="ATD+33612345678;"
    )  # the call is gone with the restart
    allow = allow_list_from_numbers({"+33612345678": "bench phone"})
    result = await run_bench("dtmf_call", fake.url, transport=fake, allow_list=allow, params={"timeout": 2.0})
    assert result.status == "failed" and result.error_type != "ModemRestarted"
    assert "; the modem restarted once during the run" in (result.error or "")


async def test_a_restart_the_script_asked_for_is_only_noted(tmp_path: Path) -> None:
    script = tmp_path / "reset_check.yaml"
    script.write_text(
        "steps:\n  - send: AT+CFUN=1,1\n  - wait_urc: 'SMS Ready'\n    timeout: 30\n  - send: AT\n"
    )
    result = await run_bench(str(script), "virtual://simcom-sim800?seed=1&speed=10")
    assert result.status == "passed", result.error
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert "the modem restarted (RDY), as the run asked" in notes


class RestartsSilently(RestartsAt):
    """A SIM800 at auto-baud (or a Wavecom): it restarts without a word, no RDY, and only its echo,
    back on, shows it."""

    async def write(self, data: bytes) -> None:
        if self.echo:
            self.push(data)
        await AnsweringTransport.write(self, data)
        if data.startswith(self.at):
            self.echo = True


async def test_a_restart_without_rdy_fails_the_run_by_the_echo_it_brings_back() -> None:
    fake = RestartsSilently(REGISTERED, at="AT+COPS?")
    result = await run_bench("register", fake.url, transport=fake)
    assert result.status == "failed" and result.error_type == "ModemRestarted", result.error
    assert "(no RDY; its echo back on), without a command asking for it" in (result.error or "")
    notes = [e for e in result.transcript.of_kind("note") if e.get("restart")]
    assert len(notes) == 1 and "ATE0 was answered before" in notes[0]["detail"]


class RestartsWithEchoOffStored(AnsweringTransport):
    """A SIM800 at auto-baud whose stored profile (AT&W) has echo off: it restarts as `at` is sent
    and that command's answer is lost; no RDY, no echo: only its +CMEE, back to 0, shows it."""

    def __init__(self, answers: dict[str, AnswerSpec], at: str) -> None:
        super().__init__(
            {**answers, "AT+CMEE?": lambda _: f"+CMEE: {self.cmee}", "AT+CMEE=1": self._cmee_on},
            url="/dev/ttyUSB9",
        )
        self.at = at
        self.cmee = 0

    def _cmee_on(self, line: str) -> str:
        self.cmee = 1
        return ""

    def _reply(self, line: str) -> None:
        if line == self.at and self.cmee:
            self.cmee = 0  # restarted as it read the line
            return
        super()._reply(line)


async def test_a_restart_with_echo_off_stored_fails_the_run_by_the_setting_it_lost() -> None:
    # the command it restarted on timed out: the watchdog's probe is answered, and reads +CMEE back
    fake = RestartsWithEchoOffStored(REGISTERED, at="AT+CGMM")
    result = await run_bench("register", fake.url, transport=fake, timeout=0.2)
    assert (result.error or "").startswith(
        "'AT+CGMM': no final result within 0.2 s; the modem restarted once"
    )
    assert "(no RDY; +CMEE back to its power-up value)" in (result.error or "")
    notes = [e for e in result.transcript.of_kind("note") if e.get("restart")]
    assert len(notes) == 1 and "where +CMEE=1 was answered OK before" in notes[0]["detail"]


class AnswersThenRestarts(RestartsWithEchoOffStored):
    def _reply(self, line: str) -> None:
        AnsweringTransport._reply(self, line)
        if line == self.at:
            self.cmee = 0  # answered, then restarted: every later command answered too


async def test_a_restart_with_echo_off_stored_and_no_command_lost_fails_the_run_at_its_end() -> None:
    fake = AnswersThenRestarts(REGISTERED, at="AT+CGMM")
    result = await run_bench("register", fake.url, transport=fake, timeout=0.2)
    assert result.status == "failed" and result.error_type == "ModemRestarted", result.error
    assert "(no RDY; +CMEE back to its power-up value)" in (result.error or "")
    assert fake.lines[-2:] == ["AT+CMEE?", "ATS3?"]  # then the check that answers were the bench's
    notes = [e for e in result.transcript.of_kind("note") if e.get("restart")]
    assert len(notes) == 1 and "where +CMEE=1 was answered OK before" in notes[0]["detail"]


async def test_a_wavecom_restarted_by_cfun_1_as_asked_has_the_bench_settings_set_again(
    tmp_path: Path,
) -> None:
    # AT+CFUN=1 resets a Wavecom (its guide): its echo comes back on, which was taken for a restart
    # nothing asked for, and the run failed; now its driver profile says so, and the run passes
    script = tmp_path / "wavecom_reset.yaml"
    script.write_text("steps:\n  - send: AT+CFUN=1\n  - send: AT+CSQ\n")
    result = await run_bench(str(script), "virtual://wavecom-fastrack?seed=1&speed=50")
    assert result.status == "passed", result.error
    notes = [e for e in result.transcript.of_kind("note")]
    assert [n.get("settings_after_restart") for n in notes] == ["AT+CFUN=1"]
    assert not any(n.get("restart") for n in notes)
    lines = [c["command"] for c in result.transcript.commands]
    assert lines[lines.index("AT+CFUN=1") + 1 :] == [
        "ATQ0V1",
        "ATE0",
        "AT+CMEE=1",
        "AT",
        "AT+CMEE?",
        "AT+CSQ",
    ]


class BootsAfterReset(AnsweringTransport):
    """A module that, answered `AT+CFUN=1,1`, reads nothing while it boots (`BOOT_S`: a real one
    takes seconds), then prints its boot notices, echo off in its stored profile and +CMEE back at 0."""

    BOOT_S = 0.3

    def __init__(self) -> None:
        super().__init__(
            {**REGISTERED, "AT+CMEE?": lambda _: f"+CMEE: {self.cmee}", "AT+CMEE=1": self._cmee_on},
            url="/dev/ttyUSB9",
        )
        self.cmee = 0
        self.booting = False

    def _cmee_on(self, line: str) -> str:
        self.cmee = 1
        return ""

    def _reply(self, line: str) -> None:
        if self.booting:
            return  # lost: the module is not reading its port yet
        super()._reply(line)
        if line == "AT+CFUN=1,1":
            self.booting, self.cmee = True, 0
            asyncio.get_running_loop().call_later(self.BOOT_S, self.boot)

    def boot(self) -> None:
        self.booting = False
        self.push(BOOT)


@pytest.mark.parametrize("url", ["/dev/ttyUSB9", "virtual://simcom-sim800"])
async def test_a_run_ending_with_a_reset_waits_for_the_module_and_sets_its_settings_again(
    tmp_path: Path, url: str
) -> None:
    # the script's last line resets the module: before, nothing more was set (the run ended with
    # the module in its power-up settings), and on a physical modem the end's trust check (ATS3?)
    # went to the module as it booted, unanswered, and the run failed; now the module is waited
    # for, the settings set again and checked, and the run passes
    script = tmp_path / "reset_last.yaml"
    script.write_text("steps:\n  - send: AT+CSQ\n  - send: AT+CFUN=1,1\n")
    fake = BootsAfterReset()
    fake.url = url  # (a physical port, and the virtual modem's URL where no trust check is made)
    result = await run_bench(str(script), url, transport=fake, timeout=0.5)
    assert result.status == "passed", result.error
    notes = [e for e in result.transcript.of_kind("note")]
    assert "the modem restarted (RDY), as the run asked" in [n["text"] for n in notes]
    assert [n.get("settings_after_restart") for n in notes if "settings_after_restart" in n] == [
        "AT+CFUN=1,1"
    ]
    after = fake.lines[fake.lines.index("AT+CFUN=1,1") + 1 :]
    kept = ["ATS0=0"] if url.startswith("/dev/") else []  # auto-answer off, on a physical modem
    assert after[: 5 + len(kept)] == ["ATQ0V1", "ATE0", "AT+CMEE=1", *kept, "AT", "AT+CMEE?"]
    assert fake.cmee == 1


@pytest.mark.parametrize("line", ["AT+CPOWD=1", "AT+CPOWD=0"])
async def test_a_run_ending_with_a_power_down_leaves_the_module_off_and_passes(
    tmp_path: Path, line: str
) -> None:
    # SIMCom's AT+CPOWD=1 answers NORMAL POWER DOWN and no OK, AT+CPOWD=0 nothing at all: before,
    # the line timed out and the watchdog found no modem (ModemNotAnswering); now the line is
    # answered (or done once written), and the module, off, is sent nothing more
    script = tmp_path / "power_down.yaml"
    script.write_text(f"steps:\n  - send: AT+CSQ\n  - send: {line}\n")
    result = await run_bench(str(script), "virtual://simcom-sim800?seed=1&speed=50", timeout=1.0)
    assert result.status == "passed", result.error
    commands = [c["command"] for c in result.transcript.commands]
    assert commands[-1] == line
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert notes[-1] == f"the modem was powered off by {line!r}: left off, its settings not set again"
