"""Bench safety: a physical modem never texts or calls a number the bench has not allowed.

The modem here is a fake transport on a serial-looking URL that answers like a registered module
and records every byte written: no `ATD` and no `AT+CMGS` may ever reach it unless the number is
on the allow-list.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.allowlist import allow_list_from_numbers, parse_allow_list
from hil.bench import run_bench
from hil.errors import ScriptParamError
from hil.fakemodem import AnsweringTransport
from hil.scripts import get_script
from m2msim.cli import main
from modem.at.client import ATClient
from modem.drivers.generic import Modem
from modem.drivers.profile import DriverProfile
from modem.safety import CommandGuard, NoDialPolicy, NumberNotAllowed, SafetyError

# Answers by command prefix (longest match wins); anything else answers OK.
ANSWERS: dict[str, str] = {
    "AT+CREG?": '+CREG: 2,1,"1A2B","01C2D3E",0',
    "AT+CGREG?": '+CGREG: 2,1,"1A2B","01C2D3E",0',
    "AT+CEREG?": "+CEREG: 2,4",
    "AT+CPIN?": "+CPIN: READY",
    "AT+CNUM": '+CNUM: "","+33611111111",145',
    "AT+CLCC": '+CLCC: 1,0,0,0,0,"+33612345678",145',
}


def bench_fake(url: str = "/dev/ttyUSB9") -> AnsweringTransport:
    """A registered module on a serial-looking URL (so: physical) that records every byte."""
    return AnsweringTransport(ANSWERS, url=url)


def assert_never_dialled_or_texted(fake: AnsweringTransport) -> None:
    assert b"ATD" not in fake.written
    assert b"AT+CMGS" not in fake.written
    assert b"AT+VTS" not in fake.written


@pytest.mark.parametrize("script", ["sms_roundtrip", "dtmf_call"])
async def test_no_allow_list_refuses_before_any_byte(script: str) -> None:
    fake = bench_fake()
    with pytest.raises(NoDialPolicy, match=r"/dev/ttyUSB9: script .* no bench allow-list"):
        await run_bench(script, fake.url, transport=fake)
    assert bytes(fake.written) == b""


@pytest.mark.parametrize(("script", "action"), [("sms_roundtrip", "sms"), ("dtmf_call", "call")])
async def test_number_not_on_the_list_is_refused_and_logged(script: str, action: str) -> None:
    fake = bench_fake()
    allow = allow_list_from_numbers({"+33612345678": "bench phone"}, actions=("sms", "call"))
    result = await run_bench(
        script, fake.url, transport=fake, allow_list=allow, params={"to": "+33699999999"}
    )
    assert result.status == "refused"
    assert result.error_type == "NumberNotAllowed"
    [refused] = result.transcript.of_kind("refused")
    assert (refused["action"], refused["number"]) == (action, "+33699999999")
    assert b"AT+CREG" in fake.written  # the run did talk to the modem...
    assert_never_dialled_or_texted(fake)  # ...but never sent or dialled
    assert result.records == []


async def test_call_allowed_only_for_sms_is_refused() -> None:
    fake = bench_fake()
    allow = allow_list_from_numbers({"+33612345678": "SMS only"}, actions=("sms",))
    # the allow-list has no number for calls: nothing to call, refused before a byte is written
    with pytest.raises(ScriptParamError, match="no number allowed for call"):
        await run_bench("dtmf_call", fake.url, transport=fake, allow_list=allow)
    assert bytes(fake.written) == b""
    fake = bench_fake()
    result = await run_bench(
        "dtmf_call", fake.url, transport=fake, allow_list=allow, params={"to": "+33612345678"}
    )
    assert result.status == "refused"
    assert_never_dialled_or_texted(fake)


async def test_allowed_call_does_reach_the_modem() -> None:
    """The positive control: the same fake sees ATD and AT+VTS when the number is allowed."""
    fake = bench_fake()
    allow = allow_list_from_numbers({"06 12 34 56 78": "bench phone"}, actions=("call",))
    result = await run_bench("dtmf_call", fake.url, transport=fake, allow_list=allow, params={"hold": 0.0})
    assert result.status == "passed", result.error
    assert b"ATD+33612345678;\r" in fake.written
    assert b"AT+VTS=1\r" in fake.written


async def test_driver_refuses_without_policy_on_a_physical_url() -> None:
    """The driver's own check (the harness's second line of defence) on the same fake."""
    fake = bench_fake()
    async with ATClient(fake) as client:
        modem = Modem(client, DriverProfile(), policy=None)
        with pytest.raises(NoDialPolicy):
            await modem.sms.send("+33612345678", "hello")
        with pytest.raises(NoDialPolicy):
            await modem.calls.dial("+33612345678")
        # nor does a second driver given another policy take the place of its guard
        with pytest.raises(SafetyError, match="cannot be removed"):
            Modem(client, DriverProfile(), allow_list_from_numbers(["+33600000000"]).policy())
    assert_never_dialled_or_texted(fake)
    fake = bench_fake()
    async with ATClient(fake) as client:
        allowed = Modem(client, DriverProfile(), allow_list_from_numbers(["+33612345678"]).policy())
        with pytest.raises(NumberNotAllowed):
            await allowed.calls.dial("+33600000000")
    assert_never_dialled_or_texted(fake)


def test_cli_refuses_a_texting_script_without_allow_list(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "sms_roundtrip", "--modem-url", "/dev/ttyUSB-m2msim-absent"])
    err = capsys.readouterr().err
    assert status == 2
    assert "no bench allow-list" in err and "--allow-list" in err
    assert "Traceback" not in err


def test_cli_bad_allow_list_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("numbers:\n  - number: '+33612345678'\n    allow: [sms, telex]\n", encoding="utf-8")
    status = main(["bench", "sms_roundtrip", "--modem-url", "/dev/ttyUSB9", "--allow-list", str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{path}:3: numbers[0].allow" in err and "telex" in err


RAW_DIAL_PY = """
from hil.scripts import BenchScript

async def run(bench):
    await bench.modem.client.command("ATE0D+33699999999;")  # past the dial step, raw
    return {}

SCRIPT = BenchScript(name="raw_dial", description="dials raw", run=run)
"""


async def test_a_python_script_cannot_dial_raw_past_the_allow_list(tmp_path: Path) -> None:
    script = tmp_path / "raw_dial.py"
    script.write_text(RAW_DIAL_PY, encoding="utf-8")
    fake = bench_fake()
    allow = allow_list_from_numbers({"+33612345678": "bench phone"}, actions=("call",))
    # (the number's check, not the hold until the SIM's call forwarding is read)
    result = await run_bench(str(script), fake.url, transport=fake, allow_list=allow, check_forwarding=False)
    assert result.status == "refused", result.error
    assert "not on the bench's allow-list" in (result.error or "")
    [refused] = result.transcript.of_kind("refused")  # a refusal, not a command sent
    assert (refused["action"], refused["number"]) == ("call", "+33699999999")
    assert refused["command"] == "ATE0D+33699999999;" and result.summary()["refused"] == 1
    assert "ATE0D+33699999999;" not in [c["command"] for c in result.transcript.commands]
    assert_never_dialled_or_texted(fake)


async def test_a_yaml_send_made_a_dial_by_a_parameter_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "param.yaml"
    script.write_text("params:\n  cmd: {default: +CSQ}\nsteps:\n  - send: AT${cmd}\n", encoding="utf-8")
    fake = bench_fake()
    result = await run_bench(str(script), fake.url, transport=fake, params={"cmd": "D+33699999999;"})
    assert result.status == "refused", result.error
    [refused] = result.transcript.of_kind("refused")
    assert refused["command"] == "ATD+33699999999;"
    assert_never_dialled_or_texted(fake)


# -- a national spelling reaches the listed subscriber only on the home network ----------------------


def roaming_fake(stat: int) -> AnsweringTransport:
    """A module registered with this +CREG / +CGREG stat (1 home, 5 roaming), URCs off."""
    answers = {
        **ANSWERS,
        "AT+CREG?": f"+CREG: 0,{stat}",
        "AT+CGREG?": f"+CGREG: 0,{stat}",
        "AT+CMGS": "+CMGS: 7",
    }
    return AnsweringTransport(answers, url="/dev/ttyUSB9")


def national_twin_modem(fake: AnsweringTransport) -> Modem:
    # +33 6 12 34 56 78 is listed; 0612345678 is its national spelling. 0698765432 is listed as is.
    allow = allow_list_from_numbers(["+33 6 12 34 56 78", "06 98 76 54 32"], actions=("sms", "call"))
    client = ATClient(fake)
    client.start()
    return Modem(client, DriverProfile(registration=("+CREG", "+CGREG")), allow.policy())


async def test_a_national_spelling_of_a_listed_number_is_refused_while_roaming() -> None:
    fake = roaming_fake(5)
    async with national_twin_modem(fake) as modem:
        with pytest.raises(SafetyError, match=r"0612345678 .* home network, and the modem is roaming"):
            await modem.calls.dial("06 12 34 56 78")
        with pytest.raises(SafetyError, match="roaming"):
            await modem.sms.send("0612345678", "hi")
        await modem.client.command("AT+CREG?")
        with pytest.raises(SafetyError, match="roaming"):  # a raw line too
            await modem.client.command("ATD0612345678;")
        await modem.client.command("AT+CREG?")
        with pytest.raises(SafetyError, match="roaming"):  # 00: the international prefix at home only
            await modem.client.command("ATD0033612345678;")  # (the driver dials it as +33612345678)
        await modem.sms.send("+33612345678", "hi")  # the international spelling reaches the subscriber
        with pytest.raises(SafetyError, match="roaming"):  # listed as written, national all the same:
            await modem.sms.send("0698765432", "hi")  # abroad a number of the visited country
        await modem.client.command("AT+CREG?")
        with pytest.raises(SafetyError, match="roaming"):
            await modem.client.command("ATD0698765432;")
        await modem.sms.send("+33698765432", "hi")
    assert [line for line in fake.lines if line.startswith(("ATD", "AT+CMGS"))] == [
        "AT+CMGS=15",
        "AT+CMGS=15",
    ]


async def test_an_sms_whose_text_reads_as_a_registration_answer_does_not_make_the_modem_home() -> None:
    # Roaming, a text-mode SMS comes in while AT+CREG? is answered: the lines of its text past the
    # first cannot be told from the answer's, and one says "+CREG: 0,1" (home).
    sms = '+CMT: "+33611111111",,"26/12/06,22:00:00+04"\nhi\n+CREG: 0,1'
    fake = roaming_fake(5)
    fake.answers["AT+CREG?"] = f"+CREG: 0,5\n{sms}"
    async with national_twin_modem(fake) as modem:
        await modem.client.command("AT+CREG?")
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")
        fake.answers["AT+CMGF?"] = '+CMGF: 1\n+CMT: "+33611111111",,"26/12/06,22:00:00+04"\nhi\n+CMGF: 0'
        await modem.client.command("AT+CMGF?")  # the module is in text mode, the SMS says PDU
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await modem.client.command_with_data("AT+CMGS=15", b"00" * 15 + b"\x1a")
    assert not [line for line in fake.lines if line.startswith(("ATD", "AT+CMGS"))]


async def test_an_answer_a_text_mode_sms_came_into_is_not_believed() -> None:
    # Roaming, a text-mode SMS comes in as AT+CREG? is sent: its text's lines are the whole answer
    # ("+CREG: 0,1", "OK"), and the modem's own, "+CREG: 0,5", would come after the next line went.
    sms = '+CMT: "+33611111111",,"26/12/06,22:00:00+04"\nhi\n+CREG: 0,1'
    fake = roaming_fake(5)
    fake.answers["AT+CREG?"] = sms
    async with national_twin_modem(fake) as modem:
        await modem.client.command("AT+CREG?")
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")
        # a PDU-mode SMS has a single line, its PDU: the answer around it stands
        fake.answers["AT+CREG?"] = (
            "+CMT: ,22\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\n+CREG: 0,1"
        )
        await modem.client.command("AT+CREG?")
        await modem.client.command("ATD0612345678;")
    assert [line for line in fake.lines if line.startswith("ATD")] == ["ATD0612345678;"]


async def test_a_national_spelling_goes_on_the_home_network_once_the_modem_says_so() -> None:
    fake = roaming_fake(1)
    async with national_twin_modem(fake) as modem:
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")  # nothing read yet
        await modem.calls.dial("0612345678")  # the driver reads the registration first
        await modem.client.command("AT+CREG?")
        await modem.client.command("AT+CSQ")  # URCs off: the state may have changed since
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")
        async with modem.client.urcs({"+CREG"}) as urcs:  # URCs on: each change is told
            fake.answers["AT+CREG?"] = '+CREG: 2,1,"1A2B","01C2D3E"'
            await modem.client.command("AT+CREG=2")
            fake.push(b'\r\n+CREG: 1,"1A2B","01C2D3E"\r\n')
            await urcs.get()
            with pytest.raises(SafetyError, match="not known to be on its home network"):
                await modem.client.command("ATD0612345678;")  # "home" is believed from a read only
            await modem.client.command("AT+CREG?")
            await modem.client.command("AT+CSQ")  # URCs on: known across other lines
            await modem.client.command("ATD0612345678;")
            fake.push(b'\r\n+CREG: 5,"2B3C","01C2D3E"\r\n')
            await urcs.get()
            with pytest.raises(SafetyError, match="roaming"):
                await modem.client.command("ATD0612345678;")
            fake.push(b'\r\n+CREG: 1,"1A2B","01C2D3E"\r\n')  # back home: not known until read
            await urcs.get()
            with pytest.raises(SafetyError, match="not known to be on its home network"):
                await modem.client.command("ATD0612345678;")
            await modem.client.command("AT+CREG?")
            await modem.client.command("ATD0612345678;")
            fake.push(b'\r\n+CREG: 1,"1A2B","01C2D3E"\r\n')  # a home URC while home: still home
            await urcs.get()
            await modem.client.command("ATD0612345678;")
            await modem.client.command("AT+CSQ;+CREG=0")  # URCs off again: a change would not be told
            with pytest.raises(SafetyError, match="not known to be on its home network"):
                await modem.client.command("ATD0612345678;")
    assert fake.lines.count("ATD0612345678;") == 4


async def test_an_sms_text_that_reads_as_a_registration_does_not_make_the_modem_home() -> None:
    """Anybody can text the bench's SIM: a text-mode SMS whose text holds a line "+CREG: 1" (a
    +CMT's text past its first line reads as a URC without +CSDH's length; AT+CMGL and AT+CMGR
    list it as information lines) must not make a roaming modem's national spellings go."""
    fake = roaming_fake(5)
    fake.answers["AT+CMGL"] = '+CMGL: 1,"REC UNREAD","+33611111111",,"26/12/06,10:00:00+04"\nhi\n+CREG: 0,1'
    async with national_twin_modem(fake) as modem:
        async with modem.client.urcs({"+CREG", "+CMT"}) as urcs:
            await modem.client.command("AT+CREG=1;+CREG?")  # URCs on; the answer: roaming
            fake.push(b'\r\n+CMT: "+33611111111",,"26/12/06,10:00:00+04"\r\nhello\r\n+CREG: 1\r\n')
            await urcs.get()
            await urcs.get()
            with pytest.raises(SafetyError, match="not known to be on its home network"):
                await modem.client.command("ATD0612345678;")
        await modem.client.command("AT+CREG?")
        await modem.client.command('AT+CMGL="ALL"')
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")
    assert "ATD0612345678;" not in fake.lines
    # and should a client hand such a line over as the answer's (not as a URC): only the answer to
    # a line that reads the registration tells it
    allow = allow_list_from_numbers(["+33 6 12 34 56 78"], actions=("sms", "call"))
    guard = CommandGuard("/dev/ttyUSB9", allow.policy())
    guard.check("AT+CMGR=1")
    guard.done("AT+CMGR=1", ['+CMGR: "REC READ","+33611111111",,"26/12/06,10:00:00+04"', "+CREG: 0,1"])
    assert guard.home is None
    guard.check("AT+CREG?")
    guard.done("AT+CREG?", ["+CREG: 0,1"])
    assert guard.home is True


class EchoesAfterRestart(AnsweringTransport):
    """A module that restarts without a word (a SIM800 at auto-baud prints no RDY): its echo is back
    on from then, its registration URCs off, so that roaming after it is not told."""

    restarted = False

    async def write(self, data: bytes) -> None:
        if self.restarted:
            self.push(data)
        await super().write(data)


async def test_a_restart_without_rdy_forgets_the_registration_its_urcs_kept() -> None:
    fake = EchoesAfterRestart({**ANSWERS, "AT+CREG?": '+CREG: 2,1,"1A2B","01C2D3E"'}, url="/dev/ttyUSB9")
    async with national_twin_modem(fake) as modem:
        await modem.client.command("ATE0")
        await modem.client.command("AT+CREG=2")  # URCs on
        await modem.client.command("AT+CREG?")  # at home: known across other lines from now on
        await modem.client.command("AT+CSQ")
        await modem.client.command("ATD0612345678;")
        fake.restarted = True  # and registered again, abroad (stat 5), with URCs off: not told
        fake.answers["AT+CREG?"] = "+CREG: 0,5"
        await modem.client.command("AT+CSQ")  # its echo tells the restart
        with pytest.raises(SafetyError, match="not known to be on its home network"):
            await modem.client.command("ATD0612345678;")
    assert fake.lines.count("ATD0612345678;") == 1 and modem.client.restarts == 1


async def test_a_national_spelling_is_texted_on_the_home_network_with_the_format_set_just_before() -> None:
    # the format set, then the registration read: lines that only read keep the format known fresh
    fake = roaming_fake(1)
    async with national_twin_modem(fake) as modem:
        await modem.sms.send("0612345678", "hi")
        await modem.client.command("AT+CREG?")
        await modem.client.command("AT+CMGF?")  # and the registration across a format read
        await modem.client.command("ATD0612345678;")
    sent = ["AT+CMGF=0", "AT+CREG?", "AT+CGREG?", "ATS3?", "AT+CMGS=14"]
    assert fake.lines == [*sent, "AT+CREG?", "AT+CMGF?", "ATS3?", "ATD0612345678;"]


async def test_a_script_command_not_known_to_be_safe_ends_the_run_refused(tmp_path: Path) -> None:
    script = tmp_path / "cell.yaml"
    script.write_text('steps:\n  - send: AT+QENG="servingcell"\n    expect: "servingcell"\n')
    fake = bench_fake()
    result = await run_bench(get_script(str(script)), fake.url, transport=fake)
    assert result.status == "refused" and "AT+QENG is not known to be safe" in (result.error or "")
    refused = [e for e in result.transcript.events if e["kind"] == "refused"]
    assert refused and refused[0]["command"] == 'AT+QENG="servingcell"'
    assert not any(line.startswith("AT+QENG") for line in fake.lines)
    listed = parse_allow_list({"numbers": ["+33612345678"], "allow_commands": ["AT+QENG"]}, "bench.yaml")
    fake = AnsweringTransport({**ANSWERS, "AT+QENG": '+QENG: "servingcell","NOCONN"'}, url="/dev/ttyUSB9")
    assert (
        await run_bench(get_script(str(script)), fake.url, transport=fake, allow_list=listed)
    ).status == "passed"


def test_setting_the_operator_format_keeps_the_registration_a_selection_forgets_it() -> None:
    """The bench reads the serving network as numbers (`AT+COPS=3,2`, the format only) when it opens
    a data session: the guard keeps knowing the modem home; a selection (`AT+COPS=0`, automatic)
    may register elsewhere, and the registration is not known until read again."""
    allow = allow_list_from_numbers(["+33 6 12 34 56 78"], actions=("sms", "call"))
    guard = CommandGuard("/dev/ttyUSB9", allow.policy())
    for line, answer in (("AT+CREG=1", []), ("AT+CREG?", ["+CREG: 1,1"])):
        guard.check(line)
        guard.done(line, answer)
    assert guard.home is True
    for line in ("AT+COPS=3,2", "AT+COPS?", "AT+COPS=3,0"):
        guard.check(line)
        guard.done(line, ['+COPS: 0,2,"20801",7'] if line == "AT+COPS?" else [])
        assert guard.home is True, line
    guard.check("AT+COPS=0")
    guard.done("AT+COPS=0")
    assert guard.home is None
