"""A bench on a port another program uses (ModemManager, gpsd, a terminal, a second bench): refused
when it is seen before the run, failed as untrusted when its traffic shows during the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from ptys import held_open, served_ptys_sync

from hil.bench import run_bench
from hil.fakemodem import REGISTERED, Answer, AnsweringTransport
from m2msim.cli import main


async def test_a_foreign_echo_fails_the_run_as_untrusted() -> None:
    fake: AnsweringTransport

    def csq(line: str) -> str | Answer:
        fake.interject("AT+GCAP", "+GCAP: +CGSM")  # ModemManager probes the port as the run goes
        return "+CSQ: 18,0"

    fake = AnsweringTransport({**REGISTERED, "AT+CSQ": csq}, url="/dev/ttyUSB9")
    result = await run_bench("register", fake.url, transport=fake)
    assert result.status == "failed"
    assert result.error_type == "UntrustedAnswer"
    assert result.error is not None
    assert result.error.startswith(
        "'AT+CSQ': /dev/ttyUSB9: untrusted port: 'AT+GCAP' came, the echo of a command"
    )
    notes = [e for e in result.transcript.events if e["kind"] == "note" and e.get("untrusted")]
    assert notes and "'AT+GCAP'" in notes[0]["text"]
    # nothing the bench asked after it was believed: no command answered OK after the intrusion
    csq_at = next(i for i, c in enumerate(result.transcript.commands) if c["command"] == "AT+CSQ")
    after = result.transcript.commands[csq_at + 1 :]
    assert all(c["command"] in ("ATH", "AT+CGACT=0", "ATS3?") or c.get("error") for c in after)
    assert "ATH" in fake.lines  # the way out still went


@pytest.mark.parametrize("kind", ["echo", "final"])
async def test_a_replay_fails_as_the_untrusted_run_did(kind: str, tmp_path: Path) -> None:
    fake: AnsweringTransport

    def csq(line: str) -> str | Answer:
        fake.interject("AT+GCAP", "+GCAP: +CGSM")  # its echo, during AT+CSQ
        return "+CSQ: 18,0"

    # an OK after the IMEI's: another program's, which no command of the bench waited for
    imei = Answer("356938035643809", final="OK\r\n\r\nOK")
    fake = AnsweringTransport({**REGISTERED, **({"AT+CSQ": csq} if kind == "echo" else {"AT+CGSN": imei})})
    (tmp_path / "run").mkdir()
    recorded = await run_bench("register", fake.url, transport=fake, out=tmp_path / "run")
    assert recorded.error_type == "UntrustedAnswer" and recorded.error is not None
    [note] = [e for e in recorded.transcript.events if e.get("untrusted")]
    assert (note["foreign_kind"], note["foreign"]) == ((kind, "AT+GCAP") if kind == "echo" else (kind, "OK"))
    assert note["during"] == ("AT+CSQ" if kind == "echo" else None)

    (tmp_path / "replay").mkdir()
    url = f"replay://{tmp_path / 'run' / 'transcript.jsonl'}?scale=0"
    replayed = await run_bench("register", url, out=tmp_path / "replay")
    assert (replayed.status, replayed.error_type) == ("failed", "UntrustedAnswer")
    assert replayed.error is not None
    assert replayed.error.replace(url, fake.url) == recorded.error.replace(fake.url, fake.url)
    sent = [c["command"] for c in replayed.transcript.commands]
    assert sent == [c["command"] for c in recorded.transcript.commands]


def test_the_bench_refuses_a_port_another_process_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served_ptys_sync("simcom-sim800", seed=5) as (path,):
        with held_open(path) as other:
            status = main(["bench", "register", "--modem-url", path, "--out", str(tmp_path / "run")])
            err = capsys.readouterr().err.strip().splitlines()
            at = main(["modem", "at", path, "AT+CSQ"])
            at_err = capsys.readouterr().err.strip().splitlines()
        # the other process gone, the same port runs (its server, holding the master, is no holder)
        passed = main(["modem", "at", path, "AT+CSQ"])
    assert status == 2 and len(err) == 1
    assert f"{path} is open by python -c (pid {other.pid})" in err[0]
    assert f"To share it knowingly: {path}?exclusive=0" in err[0]
    assert at == 2 and len(at_err) == 1 and f"(pid {other.pid})" in at_err[0]
    assert passed == 0, capsys.readouterr()


class AnsweredBehindAnother(AnsweringTransport):
    """Another program's command (echo off) answered just before the bench's `AT+CMEE?` (the
    read-back of its settings at the end of a run): from then on each of the bench's answers comes
    with its next line, until the register read."""

    shifted = False

    def _reply(self, line: str) -> None:
        if line == "AT+CMEE?":
            self.push(b"\r\nOK\r\n")  # the other program's answer, first
            self.shifted = True
        if self.shifted:
            self.catch_up()  # the answer to the line before
            if line == "ATS3?":
                self.shifted = False
            else:
                self.hold()
        super()._reply(line)


async def test_another_programs_answer_taken_for_the_last_command_fails_the_run_at_its_end() -> None:
    # the bench's last command took the other program's OK, and no final result came with no
    # command waiting: the register read at the end of the run brings the bench's own out
    fake = AnsweredBehindAnother(REGISTERED, url="/dev/ttyUSB2")
    result = await run_bench("register", fake.url, transport=fake, timeout=2)
    assert result.status == "failed" and result.error_type == "UntrustedAnswer", result.error
    notes = [e for e in result.transcript.of_kind("note") if e.get("untrusted")]
    assert notes and notes[0]["foreign_kind"] == "final" and notes[0]["during"] == "ATS3?"
