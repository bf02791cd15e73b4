"""The virtual modem's AT interpreter, sans-IO: V.250 line handling, results, 27.007 general commands."""

from __future__ import annotations

import dataclasses

import pytest

from modem.profiles import load_profile, luhn_ok
from modem.virtual.core import Mode, VirtualModem
from modem.virtual.syntax import Op, parse_line


def modem(profile: str = "generic", **kw: object) -> VirtualModem:
    m = VirtualModem(load_profile(profile), **kw)  # type: ignore[arg-type]
    m.take_output(0.0)  # boot URCs
    return m


def at(m: VirtualModem, line: str, now: float | None = None) -> bytes:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output()


def test_echo_then_verbose_ok_and_echo_off() -> None:
    m = modem()
    assert at(m, "AT") == b"AT\r\r\nOK\r\n"
    assert at(m, "ATE0") == b"ATE0\r\r\nOK\r\n"  # echoed before it takes effect
    assert at(m, "AT") == b"\r\nOK\r\n"


def test_numeric_results_and_quiet() -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, "ATV0") == b"0\r"
    assert at(m, "AT+NOPE") == b"4\r"
    assert at(m, "AT+CGMI") == b"M2MSIM\r\n0\r"
    assert at(m, "ATV1Q1") == b""
    assert at(m, "ATQ0") == b"\r\nOK\r\n"


def test_unknown_command_is_error_not_ok() -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, "AT+ZPAS?") == b"\r\nERROR\r\n"
    assert at(m, "AT^CVOICE=0") == b"\r\nERROR\r\n"
    assert at(m, "ATW") == b"\r\nERROR\r\n"


def test_chained_extended_commands_one_final_and_stop_at_first_error() -> None:
    m = modem("simcom-sim800")
    at(m, "ATE0")
    out = at(m, "AT+CGMI;+CGMM;+CGMR")
    assert out == b"\r\nSIMCOM_Ltd\r\nSIMCOM_SIM800\r\nRevision:1418B04SIM800C24\r\n\r\nOK\r\n"
    out = at(m, "AT+CMEE=1;+BOGUS;+CMEE=0")
    assert out == b"\r\nERROR\r\n"
    assert m.settings.cmee == 1  # the first command ran, the third did not


def test_cme_error_modes() -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, "AT+CPIN=1234") == b"\r\nERROR\r\n"
    assert at(m, "AT+CMEE=1;+CPIN=1234") == b"\r\n+CME ERROR: 3\r\n"
    assert at(m, "AT+CMEE=2;+CPIN=1234") == b"\r\n+CME ERROR: operation not allowed\r\n"


def test_repeat_last_line_with_a_slash() -> None:
    m = modem()
    at(m, "ATE0")
    first = at(m, "AT+CGSN")
    m.feed(b"A/", m.now)
    assert m.take_output() == first
    # an AT client writes its lines with a CR: `A/` runs at once, the CR after it is an empty line
    m.feed(b"A/\r", m.now)
    assert m.take_output() == first


def test_atz_restores_profile_defaults() -> None:
    m = modem()
    at(m, "ATE0V0")
    at(m, "AT+CMEE=2")
    assert at(m, "ATZ") == b"\r\nOK\r\n"  # answered with the settings it restored
    assert m.settings.echo and m.settings.verbose and m.settings.cmee == 0


def test_atw_stores_the_profile_atz_brings_back_and_atf_does_not() -> None:
    # V.250 §6.1.1: AT&W stores echo, quiet, result format and S-registers (and +CMEE, as modules do)
    m = modem()
    at(m, "ATE0V0")
    at(m, "AT+CMEE=2")
    at(m, "ATS3=13")
    assert at(m, "AT&W") == b"0\r"
    at(m, "ATE1V1")
    at(m, "AT+CMEE=0")
    assert at(m, "ATZ") == b"ATZ\r0\r"  # echoed as it came, answered in the restored digits
    assert not m.settings.echo and not m.settings.verbose and m.settings.cmee == 2
    assert at(m, "AT&F") == b"\r\nOK\r\n"  # the factory settings: words, echo on
    assert m.settings.echo and m.settings.cmee == 0
    assert at(m, "ATZ") == b"ATZ\r0\r"  # the stored profile is kept by AT&F
    m.restart()  # a power-up loads it too
    assert not m.settings.echo and not m.settings.verbose


def test_a_stored_quiet_profile_answers_atz_with_nothing() -> None:
    m = modem()
    at(m, "ATE0Q1")
    assert at(m, "AT&W") == b""
    at(m, "ATQ0")
    assert at(m, "ATZ") == b""  # results off again: not even ATZ's OK
    assert at(m, "ATQ0") == b"\r\nOK\r\n"


def test_s_registers_read_and_set_and_s3_s4_shape_results() -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, "ATS0?") == b"\r\n000\r\n\r\nOK\r\n"
    assert at(m, "ATS0=2") == b"\r\nOK\r\n"
    assert m.settings.sreg[0] == 2
    assert at(m, "ATS7=300") == b"\r\nERROR\r\n"
    assert at(m, "ATS4=13") == b"\r\rOK\r\r"  # S4 is the line feed character


@pytest.mark.parametrize("line", ["ATS?", "ATS=3", "ATS"])
def test_an_s_command_without_its_register_number_is_an_error(line: str) -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, line) == b"\r\nERROR\r\n"
    assert at(m, "AT") == b"\r\nOK\r\n"


def test_identity_is_valid_and_replays() -> None:
    a = modem("quectel-bg96", seed=3)
    b = modem("quectel-bg96", seed=3)
    c = modem("quectel-bg96", seed=3, index=1)
    assert a.identity == b.identity
    assert c.identity.imei != a.identity.imei
    assert luhn_ok(a.identity.imei) and len(a.identity.imei) == 15
    assert luhn_ok(a.identity.iccid) and len(a.identity.iccid) == 20
    at(a, "ATE0")
    assert at(a, "AT+QCCID") == f"\r\n+QCCID: {a.identity.iccid}\r\n\r\nOK\r\n".encode()
    assert at(a, "AT+CCID") == b"\r\nERROR\r\n"  # not a BG96 command


def test_cfun_read_and_cpin_and_wavecom_style_cpin_without_ok() -> None:
    m = modem()
    at(m, "ATE0")
    assert at(m, "AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"
    assert at(m, "AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    quirky = dataclasses.replace(load_profile("generic"), quirks={"cpin_no_ok": True})
    w = VirtualModem(quirky)
    w.take_output(0.0)
    at(w, "ATE0")
    assert at(w, "AT+CPIN?") == b"\r\n+CPIN: READY\r\n"


def test_clac_lists_only_the_profile_commands() -> None:
    generic = modem("generic")
    sim800 = modem("simcom-sim800")
    listed_generic = at(generic, "AT+CLAC").decode().split()
    listed_sim800 = at(sim800, "AT+CLAC").decode().split()
    assert "AT+CIPSTART" in listed_sim800 and "AT+CIPSTART" not in listed_generic
    assert "AT+VTS" in listed_generic and "AT+CMGS" in listed_generic
    assert "AT+QIOPEN" not in listed_sim800


def test_boot_urcs_come_first() -> None:
    m = VirtualModem(load_profile("quectel-bg96"))
    assert m.take_output(0.0) == (
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\nAPP RDY\r\n"
    )


def test_input_split_across_writes_and_garbage_before_at() -> None:
    m = modem()
    at(m, "ATE0")
    m.feed(b"\x00\xffA", 0.0)
    m.feed(b"T+CG", 0.0)
    assert m.take_output() == b""
    m.feed(b"MI\r", 0.0)
    assert m.take_output() == b"\r\nM2MSIM\r\n\r\nOK\r\n"
    m.feed(b"noise\r", 0.0)
    assert m.take_output() == b""


def test_backspace_edits_the_line() -> None:
    m = modem()
    at(m, "ATE0")
    m.feed(b"AT+CGMX\x08I\r", 0.0)
    assert m.take_output() == b"\r\nM2MSIM\r\n\r\nOK\r\n"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("", []),
        ("E0V1", [("E", Op.EXEC, "0"), ("V", Op.EXEC, "1")]),
        ('+CMGS="+336;1"', [("+CMGS", Op.SET, '"+336;1"')]),
        ("+CSQ;+COPS?;+CPMS=?", [("+CSQ", Op.EXEC, ""), ("+COPS", Op.READ, ""), ("+CPMS", Op.TEST, "")]),
        ("S0=2S7?", [("S0", Op.SET, "2"), ("S7", Op.READ, "")]),
        ("D+33612345678;", [("D", Op.EXEC, "+33612345678;")]),
        ("&FE0", [("&F", Op.EXEC, ""), ("E", Op.EXEC, "0")]),
    ],
)
def test_parse_line(body: str, names: list[tuple[str, Op, str]]) -> None:
    assert [(c.name, c.op, c.arg) for c in parse_line(body)] == names


def test_params_unquote_and_keep_empty() -> None:
    (cmd,) = parse_line('+CGDCONT=1,"IP","orange.m2m.spec",,0')
    assert cmd.params() == ["1", "IP", "orange.m2m.spec", None, "0"]


def test_entry_mode_buffers_urcs_until_the_prompt_ends() -> None:
    m = modem()
    at(m, "ATE0")
    at(m, "AT+CMGF=1")
    assert at(m, 'AT+CMGS="+33612345678"') == b"\r\n> "
    assert m.mode is Mode.ENTRY
    m.urc("+CREG: 1")
    assert m.take_output() == b""
    m.feed(b"hi\x1b", m.now)  # ESC cancels
    assert m.take_output() == b"\r\nOK\r\n\r\n+CREG: 1\r\n"
    assert m.mode.value == "command"


def test_crlf_line_ends_do_not_hold_back_urcs() -> None:
    m = modem()
    at(m, "ATE0")
    m.feed(b"AT\r\n", 0.0)
    assert m.take_output() == b"\r\nOK\r\n"
    m.urc('+CMTI: "SM",1')
    assert m.take_output() == b'\r\n+CMTI: "SM",1\r\n'


def test_quirks_are_profile_data_wavecom() -> None:
    m = modem("wavecom-fastrack")
    at(m, "ATE0")
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CPIN?", now=1.9) == b"\r\n+CME ERROR: 515\r\n"  # initialising: boot.init_s 2 s
    assert at(m, "AT+CPIN?", now=2.0) == b"\r\n+CPIN: READY\r\n"  # no OK
    assert at(m, "AT+CFUN=1") == b"\r\nOK\r\n"  # a reset on Wavecom: initialising again
    at(m, "ATE0")  # the reset restored the profile's settings (echo on)
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CSQ", now=2.5) == b"\r\n+CME ERROR: 515\r\n"
    assert at(m, "AT+CSQ", now=3.9) == b"\r\n+CME ERROR: 515\r\n"
    assert at(m, "AT+CGMI", now=4.0) == b"\r\nWAVECOM MODEM\r\n\r\nOK\r\n"
