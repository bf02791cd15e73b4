"""A module's stored profile (AT&W): ATZ brings back what it holds (echo on, results in digits,
results off, +CMEE 0), and the bench sets its own settings again after it and checks them, on the
virtual modem, which stores and restores the profile as V.250 says."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from accounting.records import Zone
from hil.allowlist import BenchAllowList, allow_list_from_numbers
from hil.bench import BenchContext, run_bench
from hil.delivery import StatusReports
from hil.fakemodem import REGISTERED, Answer, AnsweringTransport, AnswerSpec
from hil.replay import Exchange, Recording, ReplayError
from hil.result import BenchResult
from hil.scripts import BenchScript
from hil.stored import ForwardNotAllowed, charset_read_recorded, check_stored
from m2msim.cli import main
from modem.drivers.generic import Modem
from modem.transport import Transport
from modem.virtual.bound import VirtualBinding, open_bound_virtual
from modem.virtual.cmd_forwarding import FORWARDING, Forward

URL = "virtual://generic?seed=1"

AFTER_ATZ = """\
name: after_atz
steps:
  - send: ATZ
  - send: AT+CSQ
    expect: '\\+CSQ: (?P<rssi>\\d+),'
"""


async def _with_stored_profile(stored: str) -> Transport:
    """The virtual modem with `stored` (`ATE1V0`) saved by AT&W, then AT&F: the bench starts on the
    factory settings, and only its ATZ brings the stored ones back."""
    t, _ = await open_bound_virtual(URL, "business-m2m")
    for line in (f"AT{stored}&W\r", "AT&F\r"):
        await t.write(line.encode())
    answer = b""
    while not answer.endswith(b"OK\r\n"):  # AT&F's, in words: the factory result format
        answer += await t.read()
    return t


@pytest.mark.parametrize(
    "stored",
    [
        "E1V0",  # echo on, results in digits
        "E0Q1",  # results off: ATZ itself answers nothing
        "E1V0+CMEE=0",
    ],
)
async def test_after_atz_the_bench_sets_its_settings_again_and_checks_them(
    tmp_path: Path, stored: str
) -> None:
    script = tmp_path / "after_atz.yaml"
    script.write_text(AFTER_ATZ)
    t = await _with_stored_profile(stored.replace("+CMEE=0", ";+CMEE=0"))
    result = await run_bench(str(script), URL, transport=t, timeout=1.0)
    assert result.status == "passed", result.error
    commands = result.transcript.commands
    lines = [c["command"] for c in commands]
    at = lines.index("ATZ")
    assert lines[at + 1 : at + 6] == ["ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?"]
    assert commands[at + 4]["final"] == "OK"  # the check: in words, results on
    assert commands[at + 5]["responses"] == ["+CMEE: 1"]  # errors with their codes again
    assert [c["final"] for c in commands if c["command"] == "AT+CSQ"] == ["OK"]  # in words


async def test_atf_also_brings_the_bench_settings_back(tmp_path: Path) -> None:
    script = tmp_path / "after_atf.yaml"
    script.write_text(AFTER_ATZ.replace("send: ATZ", "send: AT&F"))
    t, _ = await open_bound_virtual(URL, "business-m2m")
    result = await run_bench(str(script), URL, transport=t, timeout=1.0)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index("AT&F")
    assert lines[at + 1 : at + 6] == ["ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?"]


async def _sent_with_report(bench: BenchContext, routed: bool, text: str) -> dict[str, Any]:
    """An SMS to the bench's target asking for a status report, and its delivery."""
    watch = StatusReports(bench.modem.sms)
    try:
        refs = await bench.send_sms(
            bench.target("sms"), text, status_report=routed, zone=Zone.FR, reports=watch
        )
        return {"delivery": await watch.delivery(bench, refs, 30)}
    finally:
        watch.close()


@pytest.mark.parametrize("reset", ["ATZ", "AT&F"])
async def test_after_a_reset_the_driver_s_sms_settings_are_set_again_and_the_report_comes(reset: str) -> None:
    # a script's ATZ between the driver's AT+CNMI (status reports routed as +CDS, <ds>=1) and its
    # send: the module went back to its stored (or factory) AT+CNMI, routed no report, and the
    # delivery was "no status report within 30 s"; the driver's settings are now set again
    async def run(bench: BenchContext) -> dict[str, Any]:
        await bench.registered(30)
        routed = await bench.modem.sms.configure(status_reports=True)
        await bench.modem.client.command(reset)
        return await _sent_with_report(bench, routed, "after a reset")

    script = BenchScript(name="reset_then_report", description="ATZ, then an SMS with a report", run=run)
    result = await run_bench(script, "virtual://generic?seed=1&speed=20")
    assert result.status == "passed", result.error
    assert [part["delivered"] for part in result.details["delivery"]] == [True]
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index(reset)
    kept = lines[at + 1 : lines.index("AT", at)]
    assert kept[:3] == ["ATQ0V1", "ATE0", "AT+CMEE=1"], kept
    assert [line for line in kept[3:] if not line.startswith(("AT+CGREG", "AT+CEREG"))] == [
        "AT+CREG=2",
        "AT+CMGF=0",
        'AT+CPMS="SM","SM","SM"',
        "AT+CNMI=2,1,0,1,0",
    ], kept
    reads = lines[lines.index("AT", at) + 1 : lines.index("AT", at) + 8]
    assert "AT+CNMI?" in reads, reads  # read back as set


class AsPhysical:
    """The virtual modem behind a device path: the bench takes it for a physical modem (its
    command guard strict, no call answered by itself unless the allow-list says so)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.url = "/dev/ttyUSB7"

    async def read(self) -> bytes:
        return await self.inner.read()

    async def write(self, data: bytes) -> None:
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()


S0_READ = """\
name: s0_read
steps:
  - send: ATS0?
    expect: '^0+$'
"""
NUMBERS = allow_list_from_numbers({"+33612345678": "bench phone"})


async def _told(lines: list[str], url: str = URL) -> tuple[Transport, VirtualBinding]:
    """The virtual modem at `url`, told `lines` (S0 set, a profile stored with AT&W)."""
    t, binding = await open_bound_virtual(url, "business-m2m")
    for line in lines:
        await t.write(f"{line}\r".encode())
        answer = b""
        while not answer.endswith(b"OK\r\n"):
            answer += await t.read()
    return t, binding


async def _s0_set(lines: list[str], url: str = URL) -> AsPhysical:
    return AsPhysical((await _told(lines, url))[0])


async def test_a_modem_set_to_answer_calls_by_itself_is_set_not_to_for_the_run(tmp_path: Path) -> None:
    # S0=2 (left by another program, or its stored profile at power-up): the modem answers the
    # second ring by itself, and the guard only refused a script's own ATS0=<n>
    script = tmp_path / "s0_read.yaml"
    script.write_text(S0_READ)
    port = await _s0_set(["ATS0=2"])
    result = await run_bench(str(script), port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    assert lines[lines.index("ATS0?") + 1] == "ATS0=0", lines
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "auto-answer"]
    assert step["info"]["s0"] == 2
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert any("answered calls by itself (S0=2): set ATS0=0" in n for n in notes), notes


async def _s0_read_after(tmp_path: Path, line: str) -> BenchResult:
    """A run on a modem whose stored profile answers calls by itself (S0=2, S0=0 set since): the
    script's `line`, then S0 read."""
    script = tmp_path / "s0_after_reset.yaml"
    script.write_text(S0_READ.replace("steps:\n", f"steps:\n  - send: '{line}'\n"))
    port = await _s0_set(["ATS0=2&W", "ATS0=0"])
    return await run_bench(str(script), port.url, transport=port, allow_list=NUMBERS, timeout=1.0)


@pytest.mark.parametrize("reset", ["ATZ", "AT&F"])
async def test_a_stored_auto_answer_brought_back_by_a_reset_is_set_off_again(
    tmp_path: Path, reset: str
) -> None:
    # S0=2 stored with AT&W, then S0=0: the bench starts on 0, and the script's ATZ brings 2 back
    result = await _s0_read_after(tmp_path, reset)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index(reset)
    assert "ATS0=0" in lines[at + 1 : lines.index("AT", at)], lines  # with the bench's settings
    assert lines.count("ATS0=0") == 1  # read 0 at the start: nothing to set then


async def test_an_allow_list_expecting_calls_leaves_auto_answer_as_it_is(tmp_path: Path) -> None:
    script = tmp_path / "s0_read.yaml"
    script.write_text(S0_READ.replace("'^0+$'", "'^0*2$'"))
    port = await _s0_set(["ATS0=2"])
    calls_in = replace(NUMBERS, incoming_calls=True)
    result = await run_bench(str(script), port.url, transport=port, allow_list=calls_in, timeout=1.0)
    assert result.status == "passed", result.error
    assert not [e for e in result.transcript.of_kind("step") if e["name"] == "auto-answer"]


async def test_a_modem_that_keeps_answering_calls_by_itself_is_refused_before_the_script() -> None:
    fake = AnsweringTransport(
        {**REGISTERED, "ATS0?": "003", "ATS0=0": Answer(final="ERROR")}, url="/dev/ttyUSB9"
    )
    result = await run_bench("register", fake.url, transport=fake, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "refused" and result.error_type == "SafetyError", result.error
    assert "S0 is 3" in (result.error or "") and "refused ATS0=0" in (result.error or "")
    assert fake.lines.index("ATS0=0") == len(fake.lines) - 1, fake.lines  # the script did not run


async def test_a_recording_with_the_auto_answer_step_replays_it(tmp_path: Path) -> None:
    # recorded on a physical modem (S0 was 2): the replay sends ATS0? and ATS0=0 as the run did,
    # where a replay, which texts and calls no one, would not check by itself
    fake = AnsweringTransport({**REGISTERED, "ATS0?": "002"}, url="/dev/ttyUSB9")
    out = tmp_path / "run"
    out.mkdir()
    recorded = await run_bench("register", fake.url, transport=fake, allow_list=NUMBERS, out=out, timeout=1.0)
    assert recorded.status == "passed", recorded.error
    replayed = await run_bench("register", f"replay://{out / 'transcript.jsonl'}?scale=0")
    assert replayed.status == "passed", replayed.error
    lines = [c["command"] for c in replayed.transcript.commands]
    assert lines[lines.index("ATS0?") + 1] == "ATS0=0", lines


RESTART_S0 = """\
name: restart_s0
steps:
  - send: {restart}
  - wait_urc: '{ready}'
    timeout: 30
  - send: ATS0?
    expect: '^0+$'
"""


@pytest.mark.parametrize(
    ("url", "restart", "ready"),
    [
        ("virtual://simcom-sim800?seed=1&speed=10", "AT+CFUN=1,1", "SMS Ready"),
        ("virtual://quectel-bg96?seed=1&speed=10", "AT+CFUN=1,1", "APP RDY"),
    ],
)
async def test_a_restart_the_script_asks_for_has_the_bench_settings_set_again(
    tmp_path: Path, url: str, restart: str, ready: str
) -> None:
    # stored: auto-answer on the 2nd ring and echo on; the restart brings them back (before, the
    # run went on with S0=2: the module would have answered a call by itself)
    script = tmp_path / "restart_s0.yaml"
    script.write_text(RESTART_S0.format(restart=restart, ready=ready))
    port = await _s0_set(["ATE1S0=2&W", "ATS0=0"], url)
    result = await run_bench(str(script), port.url, transport=port, allow_list=NUMBERS, timeout=2.0)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index(restart)
    kept = lines[at + 1 : lines.index("AT", at)]
    assert kept[:3] == ["ATQ0V1", "ATE0", "AT+CMEE=1"], kept
    assert "ATS0=0" in kept, kept
    notes = [e["text"] for e in result.transcript.of_kind("note")]
    assert f"the modem restarted ({restart}): the bench's settings set again" in notes, notes


@pytest.mark.parametrize("restart", ["AT+CFUN=1,1", "RDY"])
async def test_after_a_restart_the_driver_s_sms_settings_are_set_again_and_the_report_comes(
    restart: str,
) -> None:
    # a restart (asked for, or a brown-out's RDY) between the driver's AT+CNMI (<ds>=1) and its
    # send: the module's default AT+CNMI routed no report, "no status report within 30 s"
    async def run(bench: BenchContext) -> dict[str, Any]:
        await bench.registered(30)
        routed = await bench.modem.sms.configure(status_reports=True)
        if restart == "RDY":
            assert bench.binding is not None
            bench.binding.modem.restart()  # unasked: the module boots again on its own
        else:
            await bench.modem.client.command(restart)
        await bench.registered(30)
        return await _sent_with_report(bench, routed, "after a restart")

    script = BenchScript(name="restart_then_report", description="a restart, then an SMS", run=run)
    result = await run_bench(script, "virtual://simcom-sim800?seed=1&speed=20")
    assert [part["delivered"] for part in result.details["delivery"]] == [True], result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index("ATQ0V1")
    assert "AT+CNMI=2,1,0,1,0" in lines[at : lines.index("AT", at)], lines


async def test_a_module_powered_off_and_on_again_has_the_bench_settings_set_again() -> None:
    # AT+QPOWD, then the power key (`m2msim virtual` console: power on): the module boots with its
    # stored profile, S0=2 and echo on
    t, binding = await _told(["ATE1S0=2&W", "ATS0=0"], "virtual://quectel-bg96?seed=1&speed=10")

    async def run(bench: BenchContext) -> dict[str, Any]:
        client = bench.modem.client
        down = client.urcs({"POWERED DOWN"})
        async with down:
            await client.command("AT+QPOWD=1")
            await anext(aiter(down))
        binding.modem.restart()  # powered on again
        reply = await client.command("ATS0?")
        return {"s0": reply.lines[0]}

    script = BenchScript(name="power_cycle", description="AT+QPOWD, power on, ATS0?", run=run)
    port = AsPhysical(t)
    powers = replace(NUMBERS, allow_commands=("AT+QPOWD",))
    result = await run_bench(script, port.url, transport=port, allow_list=powers, timeout=2.0)
    assert result.status == "passed", result.error
    assert result.details["s0"].strip("0") == "", result.details
    lines = [c["command"] for c in result.transcript.commands]
    assert lines[lines.index("AT+QPOWD=1") + 1] == "ATQ0V1", lines


async def test_a_change_of_functionality_is_no_restart(tmp_path: Path) -> None:
    # AT+CFUN=4 then AT+CFUN=1: the radio off and on again, the settings kept: nothing set again
    script = tmp_path / "flight_mode.yaml"
    script.write_text("steps:\n  - send: AT+CFUN=4\n  - send: AT+CFUN=1\n  - send: AT+CSQ\n")
    result = await run_bench(str(script), "virtual://simcom-sim800?seed=1&speed=10")
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    assert "ATQ0V1" not in lines, lines


@pytest.mark.parametrize("line", ["AT+CMEE=1;Z", "ATE0;&F", "AT+CSQ;Z0"])
async def test_a_reset_the_client_would_not_see_is_refused_on_a_physical_modem(
    tmp_path: Path, line: str
) -> None:
    # ATZ after an extended command or a ';' resets the module all the
    # same, its stored S0=2 back, but the client only sets its settings again (auto-answer off)
    # after a line that starts with the reset: the modem answered calls by itself for the rest of the run
    result = await _s0_read_after(tmp_path, line)
    assert result.status == "refused" and result.error_type == "SafetyError", (result.status, result.error)
    assert "send AT" in (result.error or "") and "at the start of its own line" in (result.error or "")
    assert line not in [c["command"] for c in result.transcript.commands]


async def test_a_stored_auto_answer_brought_back_by_a_restart_the_script_asked_for_is_set_off_again(
    tmp_path: Path,
) -> None:
    # AT+CFUN=1,1 restarts the module on its stored profile, S0=2 too: the run went on with the
    # modem answering calls by itself, the driver's settings (auto-answer off among them) not set again
    script = tmp_path / "s0_after_restart.yaml"
    script.write_text(S0_READ.replace("steps:\n", "steps:\n  - send: AT+CFUN=1,1\n  - sleep: 1\n"))
    port = await _s0_set(["ATS0=2&W", "ATS0=0"], "virtual://generic?seed=1&speed=20")
    result = await run_bench(str(script), port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index("AT+CFUN=1,1")
    assert "ATS0=0" in lines[at + 1 : lines.index("AT", at)], lines  # with the bench's settings


# -- what the SIM and module hold from before the run: call forwarding, the SMS centre --------------

OFF = "+33699999999"


async def _forwarded(to: str | None, url: str = URL) -> tuple[AsPhysical, VirtualBinding]:
    """The virtual modem behind a device path, its line forwarding every voice call to `to`, as
    set on the SIM before the run (by a handset, another program): the network's, not the run's."""
    t, binding = await _told([], url)
    if to is not None:
        FORWARDING.state(binding.modem).forwards[(0, 1)] = Forward(to, 145, True, 20)
    return AsPhysical(t), binding


async def test_a_sim_forwarding_calls_off_the_allow_list_is_refused_before_the_run_goes_on() -> None:
    # AT+CCFC=0,3,"+33699999999",145 set before the run: every call to the bench's SIM goes to a
    # number off the allow-list, at the SIM's charge; the bench ran on, never reading it
    port, _ = await _forwarded(OFF)
    result = await run_bench("register", port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "ForwardNotAllowed"), result.error
    assert result.error is not None and OFF in result.error and "unconditional" in result.error
    assert "AT+CCFC=0,4" in result.error and "--no-forwarding-check" in result.error
    lines = [c["command"] for c in result.transcript.commands]
    assert lines[lines.index("AT+CCFC=0,2") :][:4] == [f"AT+CCFC={r},2" for r in range(4)]
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "stored-settings"]
    assert step["ok"] is False and step["info"]["forwards"] == [f"unconditional (voice) to {OFF}"]


@pytest.mark.parametrize("to", [None, "+33612345678"])  # none, or to a number listed for calls
async def test_a_sim_forwarding_nowhere_or_to_a_listed_number_runs(to: str | None) -> None:
    port, _ = await _forwarded(to)
    result = await run_bench("register", port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "passed", result.error
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "stored-settings"]
    assert step["info"]["forwards"] == ([] if to is None else [f"unconditional (voice) to {to}"])


async def test_the_forwarding_check_can_be_skipped_and_the_virtual_modem_has_none() -> None:
    port, _ = await _forwarded(OFF)
    result = await run_bench(
        "register", port.url, transport=port, allow_list=NUMBERS, timeout=1.0, check_forwarding=False
    )
    assert result.status == "passed", result.error
    assert not any(c["command"].startswith("AT+CCFC") for c in result.transcript.commands)
    virtual = await run_bench("register", URL, allow_list=NUMBERS, timeout=1.0)  # nothing is charged
    assert virtual.status == "passed", virtual.error
    assert not any(c["command"].startswith(("AT+CCFC", "AT+CSCA")) for c in virtual.transcript.commands)


@pytest.mark.parametrize(("centre", "status"), [("+33 6 89 00 40 00", "passed"), ("0689004001", "refused")])
async def test_the_sms_centre_the_allow_list_names_is_the_module_s(centre: str, status: str) -> None:
    # the module's SMS centre (the virtual line's +33689004000): every message goes through it
    port, _ = await _forwarded(None)
    allow = replace(NUMBERS, sms_centre=centre)
    result = await run_bench("register", port.url, transport=port, allow_list=allow, timeout=1.0)
    assert result.status == status, result.error
    assert "AT+CSCA?" in [c["command"] for c in result.transcript.commands]
    if status == "refused":
        assert result.error_type == "SmsCentreNotAllowed"
        assert result.error is not None and "+33689004000" in result.error and centre in result.error


def _ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


@pytest.mark.parametrize(("to", "status"), [("+33612345678", "passed"), (OFF, "refused")])
async def test_a_sim_in_ucs2_has_its_forwarding_read_in_ucs2(to: str, status: str) -> None:
    # AT+CSCS="UCS2" left by the program before (27.007 §7.11: <number> in the TE character set):
    # the +CCFC number came as UCS2 hex, "002B0033...", which no allow-list holds, and every run
    # on such a module was refused, a forward to a listed number or none
    t, binding = await _told(['AT+CSCS="UCS2"'])
    FORWARDING.state(binding.modem).forwards[(0, 1)] = Forward(to, 145, True, 20)
    port = AsPhysical(t)
    result = await run_bench("register", port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == status, result.error
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "stored-settings"]
    assert step["info"]["forwards"] == [f"unconditional (voice) to {to}"]
    assert step["info"]["charset"] == "UCS2"
    if status == "refused":
        assert result.error_type == "ForwardNotAllowed" and result.error is not None and OFF in result.error


async def test_a_sim_in_ucs2_has_its_sms_centre_read_in_ucs2() -> None:
    t, _ = await _told(['AT+CSCS="UCS2"'])
    port = AsPhysical(t)
    allow = replace(NUMBERS, sms_centre="+33 6 89 00 40 00")
    result = await run_bench("register", port.url, transport=port, allow_list=allow, timeout=1.0)
    assert result.status == "passed", result.error
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "stored-settings"]
    assert step["info"]["sms_centre"] == "+33689004000"


def _fake_in(cscs: str, forward: str) -> AnsweringTransport:
    """A module in the TE character set `cscs` (its +CSCS read as it answers it), forwarding every
    voice call to `forward`, as written in that set."""
    return AnsweringTransport(
        {**REGISTERED, "AT+CSCS?": f'+CSCS: "{cscs}"', "AT+CCFC=0,2": f'+CCFC: 1,1,"{forward}",129'},
        url="/dev/ttyUSB7",
    )


async def test_a_forward_read_in_hex_is_the_number_it_encodes_not_its_digits() -> None:
    # in "HEX" each character is two hex digits: "3636" is the number 66, not the short code 3636
    # the allow-list names; read as written, the forward to 66 was taken for an allowed one
    allow = allow_list_from_numbers({"3636": "bench short code"})
    fake = _fake_in("HEX", "3636")
    result = await run_bench("register", fake.url, transport=fake, allow_list=allow, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "ForwardNotAllowed"), result.error
    assert result.error is not None and "to 66 is set" in result.error
    fake = _fake_in("HEX", b"3636".hex())  # the short code itself, in HEX
    result = await run_bench("register", fake.url, transport=fake, allow_list=allow, timeout=1.0)
    assert result.status == "passed", result.error


@pytest.mark.parametrize(
    ("cscs", "forward"),
    [
        (_ucs2("UCS2"), _ucs2("+33612345678")),  # a module that answers its +CSCS in UCS2 hex too
        ("8859-1", "+33612345678"),  # a set where digits are themselves
        ("UTF-8", "+33612345678"),
    ],
)
async def test_the_character_set_read_decides_how_the_forward_s_number_is_read(
    cscs: str, forward: str
) -> None:
    fake = _fake_in(cscs, forward)
    result = await run_bench("register", fake.url, transport=fake, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "passed", result.error


@pytest.mark.parametrize(("cscs", "forward"), [("CP936", "+33612345678"), ("UCS2", "+33612345678")])
async def test_a_number_that_cannot_be_read_in_the_character_set_is_refused(cscs: str, forward: str) -> None:
    # a vendor's set the bench does not know, or a "UCS2" answer that is not UCS2 hex: not read, not allowed
    fake = _fake_in(cscs, forward)
    result = await run_bench("register", fake.url, transport=fake, allow_list=NUMBERS, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "ForwardNotAllowed"), result.error
    assert result.error is not None and cscs in result.error


def _fake_unread(read: AnswerSpec, test: AnswerSpec, forward: str = "3636") -> AnsweringTransport:
    """A module whose `AT+CSCS?` answers `read` (no set named) and `AT+CSCS=?` `test`, forwarding
    every voice call to `forward` as it writes it."""
    answers = {
        **REGISTERED,
        "AT+CSCS?": read,
        "AT+CSCS=?": test,
        "AT+CCFC=0,2": f'+CCFC: 1,1,"{forward}",129',
    }
    return AnsweringTransport(answers, url="/dev/ttyUSB7")


SHORT_CODE = allow_list_from_numbers({"3636": "bench short code"})


@pytest.mark.parametrize(
    ("read", "test"),
    [
        (Answer(final="ERROR"), '+CSCS: ("IRA","GSM","HEX")'),
        ("", '+CSCS: ("IRA","GSM","UCS2")'),  # OK with no +CSCS line
        (Answer(final="+CME ERROR: 4"), "+CSCS: (IRA,GSM,HEX)"),  # names unquoted
        (Answer(final="ERROR"), "+CSCS: ()"),  # a list that names nothing readable
        # a list carried on to a next line: the set on it was dropped, "IRA", "GSM" alone read plain
        (Answer(final="ERROR"), '+CSCS: ("IRA","GSM",\r\n"UCS2")'),
        (Answer(final="ERROR"), '("IRA","GSM","HEX")'),  # a list written without its prefix
        # OK listing nothing, to the read or not: no module's answer (one with no sets answers
        # ERROR to both), and it was read as "digits as written"
        ("", ""),
        (Answer(final="ERROR"), ""),
    ],
)
async def test_a_module_whose_set_cannot_be_read_but_may_hide_digits_is_refused(
    read: AnswerSpec, test: AnswerSpec
) -> None:
    # AT+CSCS? not answered with a set on a module that has "HEX": its forward "3636" was read as
    # written, the allowed short code 3636, where the module may mean 66 (the run set no set)
    fake = _fake_unread(read, test)
    result = await run_bench("register", fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "SafetyError"), result.error
    assert result.error is not None and "AT+CSCS=?" in result.error and 'set AT+CSCS="IRA"' in result.error
    assert "AT+CCFC=0,2" not in fake.lines


async def test_a_module_that_answers_its_set_s_read_ok_but_not_its_list_is_refused() -> None:
    # AT+CSCS? answered OK (the command is there) with no set named, AT+CSCS=? ERROR: not a module
    # with no sets (ERROR to both), one that told neither; its "3636" was read as written
    fake = _fake_unread("", Answer(final="ERROR"))
    result = await run_bench("register", fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "SafetyError"), result.error
    assert result.error is not None and "nor its sets listed (AT+CSCS=?" in result.error
    assert "AT+CCFC=0,2" not in fake.lines


@pytest.mark.parametrize(
    "test", [Answer(final="ERROR"), '+CSCS: ("IRA","GSM")', '+CSCS: ("IRA","8859-1","UTF-8")']
)
async def test_a_module_with_no_set_hiding_digits_has_its_numbers_read_as_written(test: AnswerSpec) -> None:
    # ERROR to both forms (no character sets at all), or only sets where digits are themselves
    fake = _fake_unread(Answer(final="ERROR"), test)
    result = await run_bench("register", fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert result.status == "passed", result.error
    fake = _fake_unread(Answer(final="ERROR"), test, forward="66")
    result = await run_bench("register", fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert (result.status, result.error_type) == ("refused", "ForwardNotAllowed"), result.error


async def test_the_fake_modem_answers_its_character_set_as_a_module_does() -> None:
    # with no table entry it answered OK with no +CSCS line to the read and the list, which the
    # check read as "digits as written": a module that always names its set does not answer so
    fake = AnsweringTransport(REGISTERED)
    result = await run_bench("register", fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert result.status == "passed", result.error
    [step] = [e for e in result.transcript.of_kind("step") if e["name"] == "stored-settings"]
    assert step["info"]["charset"] == "IRA"
    assert "AT+CSCS=?" not in fake.lines

    async def run(bench: BenchContext) -> dict[str, Any]:
        listed = await bench.modem.client.command("AT+CSCS=?")
        await bench.modem.client.command('AT+CSCS="UCS2"')
        read = await bench.modem.client.command("AT+CSCS?")
        with pytest.raises(Exception, match="ERROR"):
            await bench.modem.client.command('AT+CSCS="PCCP936"')  # not among those it lists
        return {"listed": list(listed.lines), "read": list(read.lines)}

    script = BenchScript(name="direct", description="its sets", run=run, params={})
    fake = AnsweringTransport(REGISTERED)
    result = await run_bench(script, fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert result.status == "passed", result.error
    assert result.details["listed"] == ['+CSCS: ("IRA","GSM","UCS2","HEX")']
    assert result.details["read"] == ['+CSCS: "UCS2"']


async def test_a_set_the_script_set_is_the_one_read_where_the_module_names_none() -> None:
    # the way out the refusal names: the set the run set (answered OK) is known, nothing more asked
    fake = _fake_unread(Answer(final="ERROR"), '+CSCS: ("IRA","HEX")', forward=b"3636".hex())

    async def run(bench: BenchContext) -> dict[str, Any]:
        await bench.modem.client.command('AT+CSCS="HEX"')
        await bench.registered(5.0)
        return {}

    script = BenchScript(name="direct", description="sets its character set", run=run, params={})
    result = await run_bench(script, fake.url, transport=fake, allow_list=SHORT_CODE, timeout=1.0)
    assert result.status == "passed", result.error
    assert "AT+CSCS=?" not in fake.lines


async def _replayed_lines(tmp_path: Path, port: Any, allow: BenchAllowList, dropped: str | None) -> list[str]:
    """The lines a replay sends of the `register` run recorded on `port`, its `dropped` command taken
    out of the recording first (as one made before the bench sent it)."""
    out = tmp_path / "run"
    out.mkdir()
    recorded = await run_bench("register", port.url, transport=port, allow_list=allow, out=out, timeout=1.0)
    assert recorded.status == "passed", recorded.error
    path = out / "transcript.jsonl"
    if dropped is not None:
        kept = [line for line in path.read_text().splitlines() if f'"command": "{dropped}"' not in line]
        assert len(kept) < len(path.read_text().splitlines())
        path.write_text("\n".join(kept) + "\n")
    replayed = await run_bench("register", f"replay://{path}?scale=0")
    assert replayed.status == "passed", replayed.error
    return [c["command"] for c in replayed.transcript.commands]


@pytest.mark.parametrize("before", [False, True], ids=["recorded now", "recorded before the charset read"])
async def test_a_recording_with_the_forwarding_check_replays_it_as_recorded(
    tmp_path: Path, before: bool
) -> None:
    # a recording made before the check read the TE character set has no AT+CSCS? before its
    # AT+CCFC=0,2: its replay sends none (as recorded), one made now sends it where it came
    port, _ = await _forwarded("+33612345678")
    lines = await _replayed_lines(tmp_path, port, NUMBERS, "AT+CSCS?" if before else None)
    assert ("AT+CSCS?" in lines) is not before, lines
    assert "AT+CCFC=0,2" in lines


@pytest.mark.parametrize(
    ("commands", "read"),
    [
        (["AT+CSCS?", "AT+CCFC=0,2"], True),
        (["AT+CSCS?", "AT+CSCS=?", "AT+CCFC=0,2"], True),  # a command between: it was not seen
        (["AT+CSCS?", "AT+CMEE=2", "AT+CSCS=?", "AT+CSCA?"], True),
        (["AT+CCFC=0,2", "AT+CSCS?"], False),  # a script's read after the check: the check read none
        (["AT+COPS?", "AT+CCFC=0,2"], False),
    ],
)
def test_the_charset_read_is_found_wherever_the_recording_has_it_before_the_check(
    commands: list[str], read: bool
) -> None:
    exchanges = [Exchange(command, line, b"\r\nOK\r\n", 0.0) for line, command in enumerate(commands)]
    assert charset_read_recorded(Recording("run.jsonl", exchanges, [])) is read


@pytest.mark.parametrize("before", [False, True], ids=["recorded now", "recorded before the sets' list"])
async def test_a_recording_of_a_module_naming_no_set_replays_its_sets_list_as_recorded(
    tmp_path: Path, before: bool
) -> None:
    # the check's AT+CSCS? and AT+CSCS=? before its AT+CCFC=0,2: the replay saw no charset read
    # (a command between) and failed with UnmatchedCommand; one recorded before the list sends none
    fake = _fake_unread(Answer(final="ERROR"), Answer(final="ERROR"))
    lines = await _replayed_lines(tmp_path, fake, SHORT_CODE, "AT+CSCS=?" if before else None)
    assert "AT+CSCS?" in lines and ("AT+CSCS=?" in lines) is not before, lines


def test_a_recording_with_the_forwarding_check_is_not_replayed_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --no-forwarding-check on a replay of a run that read the forwarding: no AT+CCFC was sent, and
    # the replay failed at the script's next command with UnmatchedCommand ('AT+COPS?' is not in
    # the recording, expected next: the check's first read), not saying why
    async def record() -> None:
        port, _ = await _forwarded(None)
        result = await run_bench(
            "register", port.url, transport=port, allow_list=NUMBERS, out=out, timeout=1.0
        )
        assert result.status == "passed", result.error

    out = tmp_path / "run"
    out.mkdir()
    asyncio.run(record())
    url = f"replay://{out / 'transcript.jsonl'}?scale=0"
    with pytest.raises(
        ReplayError, match=r"read the SIM's call forwarding \(AT\+CCFC=0,2, line \d+\)"
    ) as caught:
        asyncio.run(run_bench("register", url, check_forwarding=False))
    assert "--no-forwarding-check" in str(caught.value) and "replay it without" in str(caught.value)
    status = main(
        ["bench", "register", "--modem-url", url, "--no-forwarding-check", "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert status == 2 and "call forwarding" in err and "Traceback" not in err, err
    assert not (tmp_path / "r" / "transcript.jsonl").exists()
    assert asyncio.run(run_bench("register", url)).status == "passed"  # as recorded


async def _caught_then_texts(bench: BenchContext) -> dict[str, Any]:
    with contextlib.suppress(ForwardNotAllowed):  # a script that goes on after the check's refusal
        await bench.registered(5.0)
    await bench.send_sms("+33612345678", "hi", status_report=False, zone=Zone.FR)
    return {}


async def _texts_by_the_driver(bench: BenchContext) -> dict[str, Any]:
    await bench.modem.sms.send("+33612345678", "hi")  # no registration step, no bench.send_sms
    return {}


async def _dials_by_a_raw_line(bench: BenchContext) -> dict[str, Any]:
    await bench.modem.client.command("ATD+33612345678;")
    return {}


async def _texts_by_a_second_driver(bench: BenchContext) -> dict[str, Any]:
    # a driver of its own on the client, given the bench's policy: its guard replaces the bench's
    await Modem(bench.modem.client, bench.modem.profile, bench.policy).sms.send("+33612345678", "hi")
    return {}


@pytest.mark.parametrize(
    "run", [_caught_then_texts, _texts_by_the_driver, _dials_by_a_raw_line, _texts_by_a_second_driver]
)
async def test_a_python_script_cannot_text_or_call_before_the_forwarding_check_passed(run: Any) -> None:
    # the check ran only in bench.registered(), bench.send_sms and the dial step, and marked itself
    # done before it passed: a script that caught its refusal, or texted through the driver or called
    # with a command line, did so with the SIM forwarding its calls off the allow-list, never read
    port, _ = await _forwarded(OFF)
    script = BenchScript(name="direct", description="texts or calls its own way", run=run, params={})
    result = await run_bench(script, port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "refused", (result.status, result.error)
    lines = [c["command"] for c in result.transcript.commands]
    assert not any(line.startswith(("AT+CMGS", "ATD")) for line in lines), lines
    assert "must be read before the run's first SMS or call" in (result.error or "") or (
        result.error_type == "ForwardNotAllowed"
    )


async def _registered_then_dials(bench: BenchContext) -> dict[str, Any]:
    await bench.registered(5.0)  # the check passed (no forward): the hold released
    await bench.modem.client.command("ATD+33612345678;")
    return {}


async def test_without_an_allow_list_every_way_to_text_or_call_is_refused_alike() -> None:
    # a script that does not say it texts or calls (no preflight) on a device with no allow-list:
    # a command line sent before the forwarding check was refused as not checked yet (SafetyError),
    # where the driver's ways, and the same line after the check, said NoDialPolicy
    errors = set()
    for run in (
        _dials_by_a_raw_line,
        _texts_by_the_driver,
        _texts_by_a_second_driver,
        _registered_then_dials,
    ):
        port, _ = await _forwarded(None)
        script = BenchScript(name="direct", description="texts or calls its own way", run=run, params={})
        result = await run_bench(script, port.url, transport=port, timeout=1.0)
        assert (result.status, result.error_type) == ("refused", "NoDialPolicy"), (run, result.error)
        lines = [c["command"] for c in result.transcript.commands]
        assert not any(line.startswith(("AT+CMGS", "ATD")) for line in lines), lines
        errors.add(result.error)
    assert len(errors) == 1, errors
    assert "without an allow-list" in errors.pop()


async def test_a_python_script_texts_once_the_forwarding_check_passed() -> None:
    port, _ = await _forwarded("+33612345678")  # a forward to a number listed for calls

    async def run(bench: BenchContext) -> dict[str, Any]:
        await bench.registered(5.0)  # the check done there
        await bench.modem.sms.send("+33612345678", "hi")
        return {}

    script = BenchScript(name="direct", description="texts through the driver", run=run, params={})
    result = await run_bench(script, port.url, transport=port, allow_list=NUMBERS, timeout=1.0)
    assert result.status == "passed", result.error
    assert any(c["command"].startswith("AT+CMGS") for c in result.transcript.commands)


def _checking(**kwargs: Any) -> BenchScript:
    """A script that reads the stored settings itself, as a pytest test on the `modem` fixture does
    (`check_stored(modem.client, bench_policy, bench_allow_list)`)."""

    async def run(bench: BenchContext) -> dict[str, Any]:
        info: dict[str, Any] = {}
        await check_stored(bench.modem.client, bench.policy, bench.allow_list, info=info, **kwargs)
        return info

    return BenchScript(name="checking", description="calls check_stored", run=run, params={})


@pytest.mark.parametrize(
    "dropped",
    [[], ["AT+CSCS?", "AT+CSCS=?"], ["AT+CSCS=?"]],
    ids=["recorded now", "before the charset read", "before the sets' list"],
)
async def test_a_test_s_own_check_stored_replays_as_its_recording_read_the_charset(
    tmp_path: Path, dropped: list[str]
) -> None:
    # a pytest recording of a test that calls check_stored made before the check read the TE
    # character set (or listed its sets): the replay sent AT+CSCS? anyway, and the test failed
    # with "the TE character set ... could not be read (AT+CSCS?: ... is not in the recording"
    fake = _fake_unread(Answer(final="ERROR"), Answer(final="ERROR"), forward="+33612345678")
    out = tmp_path / "run"
    out.mkdir()
    recorded = await run_bench(
        _checking(), fake.url, transport=fake, allow_list=NUMBERS, out=out, timeout=1.0
    )
    assert recorded.status == "passed", recorded.error
    path = out / "transcript.jsonl"
    lines = path.read_text().splitlines()
    kept = [line for line in lines if not any(f'"command": "{c}"' in line for c in dropped)]
    assert len(lines) - len(kept) == len(dropped)
    path.write_text("\n".join(kept) + "\n")
    replayed = await run_bench(_checking(), f"replay://{path}?scale=0")
    assert replayed.status == "passed", replayed.error
    sent = [c["command"] for c in replayed.transcript.commands]
    assert [c for c in sent if c.startswith("AT+CSCS")] == [
        c for c in ("AT+CSCS?", "AT+CSCS=?") if c not in dropped
    ]
    assert replayed.details["forwards"] == ["unconditional (voice) to +33612345678"]


async def test_a_test_s_own_check_stored_replays_a_recording_with_no_forwarding_read(tmp_path: Path) -> None:
    # a recording of a test made before it read the forwarding (or with its read skipped): its
    # replay sent AT+CCFC=0,2 and was refused telling to "check the SIM", which a replay has not
    fake = AnsweringTransport(REGISTERED, url="/dev/ttyUSB7")
    out = tmp_path / "run"
    out.mkdir()
    recorded = await run_bench(
        _checking(forwarding=False), fake.url, transport=fake, allow_list=NUMBERS, out=out, timeout=1.0
    )
    assert recorded.status == "passed", recorded.error
    assert not [line for line in fake.lines if line.startswith(("AT+CCFC", "AT+CSCS"))]
    replayed = await run_bench(_checking(), f"replay://{out / 'transcript.jsonl'}?scale=0")
    assert replayed.status == "passed", replayed.error
    assert not [c for c in replayed.transcript.commands if c["command"].startswith(("AT+CCFC", "AT+CSCS"))]
