"""The `driver:` section of the vendor profiles: shipped values and errors naming file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.fakemodem import AnsweringTransport
from modem.at.client import ATClient
from modem.drivers import TCP_STACKS, DriverProfile, load_driver_profile
from modem.drivers.generic import Modem
from modem.drivers.profile import DriverProfileError
from modem.profiles import profile_names
from modem.safety import CommandGuard


def test_every_shipped_profile_has_a_usable_driver_section() -> None:
    for name in profile_names():
        profile = load_driver_profile(name)
        assert profile.name == name and profile.init[0] == "ATE0"
        assert profile.tcp.stack == "none" or profile.tcp.stack in TCP_STACKS


def test_vendor_differences_are_data() -> None:
    sim800, bg96 = load_driver_profile("simcom-sim800"), load_driver_profile("quectel-bg96")
    assert (sim800.tcp.stack, bg96.tcp.stack) == ("simcom-cip", "quectel-qi")
    assert sim800.iccid == ("AT+CCID",) and bg96.iccid[0] == "AT+QCCID"
    assert "+CEREG" in bg96.registration and "+CEREG" not in sim800.registration
    assert sim800.timeouts["+CIICR"] == 85.0


def test_defaults_without_a_driver_section(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("name: plain\nidentity: {manufacturer: X}\n")
    assert load_driver_profile(path) == DriverProfile(name="plain", source=str(path))


@pytest.mark.parametrize(
    ("section", "line", "field", "message"),
    [
        ("driver:\n  tcp: {stack: nokia-ip}\n", 3, "driver.tcp.stack", "expected one of"),
        ("driver:\n  init: [ATE0]\n  registration: [+CXREG]\n", 4, "driver.registration", "'+CXREG'"),
        ("driver:\n  timeouts:\n    +CIICR: -1\n", 4, "driver.timeouts.+CIICR", "expected seconds > 0"),
        ("driver:\n  sms: {mode: unicode}\n", 3, "driver.sms.mode", "expected pdu or text"),
        # messages routed as +CMT are not stored, and the driver reads them from storage: lost
        ("driver:\n  sms:\n    cnmi: AT+CNMI=2,2,0,0,0\n", 4, "driver.sms.cnmi", "<mt>=2 routes"),
        ("driver:\n  sms: {cnmi: 'at+cnmi=1, 3'}\n", 3, "driver.sms.cnmi", "would be lost"),
        ("driver:\n  colour: red\n", 3, "driver.colour", "unknown key"),
        (  # matched on every line of AT+CPIN?'s answer: it would hang the driver's parser
            "driver:\n  no_ok:\n    AT+CPIN?: '\\+CPIN: (\\w+ ?)+'\n",
            4,
            "driver.no_ok.AT+CPIN?",
            "backtracks for minutes",
        ),
        (
            "driver:\n  allow_commands:\n    - AT+QENG\n    - ATD+33612345678;\n",
            5,
            "driver.allow_commands[1]",
            "not a command name",
        ),
    ],
)
def test_bad_driver_sections(tmp_path: Path, section: str, line: int, field: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n" + section)
    with pytest.raises(DriverProfileError) as info:
        load_driver_profile(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: {field}:") and message in text


def test_unknown_profile_name() -> None:
    with pytest.raises(DriverProfileError, match="unknown modem profile 'nokia-3310'"):
        load_driver_profile("nokia-3310")


def test_no_ok_quirks_reach_the_client(tmp_path: Path) -> None:
    path = tmp_path / "wavecom.yaml"
    path.write_text('name: wavecom\ndriver:\n  no_ok: {"at+cpin?": "\\\\+CPIN: .*"}\n')
    assert load_driver_profile(path).no_ok == {"AT+CPIN?": "\\+CPIN: .*"}
    path.write_text('name: wavecom\ndriver:\n  no_ok: {"AT+CPIN?": "(unclosed"}\n')
    with pytest.raises(DriverProfileError, match=r"wavecom.yaml:3: driver.no_ok.AT\+CPIN\?: not a regular"):
        load_driver_profile(path)


def test_allow_commands_are_read_as_the_guard_names_commands(tmp_path: Path) -> None:
    path = tmp_path / "quectel.yaml"
    path.write_text("name: quectel\ndriver:\n  allow_commands: [at+qeng, AT^SYSINFO, AT&Y]\n")
    assert load_driver_profile(path).allow_commands == ("+QENG", "^SYSINFO", "&Y")


def test_the_lines_a_family_restarts_on_reach_the_client(tmp_path: Path) -> None:
    # AT+CFUN=1 resets a Wavecom, and nothing else: the driver of its profile tells the client
    client = ATClient(AnsweringTransport({}))
    Modem(client, load_driver_profile("wavecom-fastrack"))
    assert client.restarts_module("AT+CFUN=1") and client.restarts_module("at+cfun = 1")
    assert not client.restarts_module("AT+CFUN=4") and not client.restarts_module('AT+X="+CFUN=1"')
    other = ATClient(AnsweringTransport({}))
    Modem(other, load_driver_profile("simcom-sim800"))
    assert not other.restarts_module("AT+CFUN=1") and other.restarts_module("AT+CFUN=1,1")
    path = tmp_path / "wavecom.yaml"
    path.write_text("name: wavecom\ndriver:\n  restarts: ['(a+)+$']\n")
    with pytest.raises(
        DriverProfileError, match=r"wavecom.yaml:3: driver.restarts: '\(a\+\)\+\$': .*backtracks"
    ):
        load_driver_profile(path)


def test_a_family_without_a_boot_notice_says_so_to_the_client(tmp_path: Path) -> None:
    # the Wavecom prints no RDY when it restarts: its client polls it with AT rather than wait
    client = ATClient(AnsweringTransport({}))
    Modem(client, load_driver_profile("wavecom-fastrack"))
    assert client.boot_notice is False
    assert all(load_driver_profile(name).boot_notice for name in ("generic", "simcom-sim800", "quectel-bg96"))
    path = tmp_path / "wavecom.yaml"
    path.write_text("name: wavecom\ndriver:\n  boot_notice: 'no'\n")
    with pytest.raises(
        DriverProfileError, match=r"wavecom.yaml:3: driver.boot_notice: expected true or false"
    ):
        load_driver_profile(path)


def test_the_commands_that_choose_the_start_up_profile_are_the_family_s(tmp_path: Path) -> None:
    # AT&Y<n> everywhere; AT&P<n> on Telit only (elsewhere the pulse dialling make/break ratio)
    assert all(load_driver_profile(name).startup_profile == ("&Y",) for name in profile_names())
    path = tmp_path / "telit.yaml"
    path.write_text("name: telit\ndriver:\n  startup_profile: [AT&Y, at&p]\n")
    telit = load_driver_profile(path)
    assert telit.startup_profile == ("&Y", "&P")
    client = ATClient(AnsweringTransport({}, url="/dev/ttyUSB9"))
    Modem(client, telit)
    assert isinstance(client.guard, CommandGuard) and client.guard.startup_profile.search("AT&P1")
    for bad, why in (
        ("AT+CSCS", "not a command that chooses the start-up profile"),
        ("AT&Q", "not a command that chooses the start-up profile"),
        ("AT&P1", "not a command name"),
    ):
        path.write_text(f"name: telit\ndriver:\n  startup_profile: [AT&Y, '{bad}']\n")
        with pytest.raises(DriverProfileError, match=rf"telit.yaml:3: driver.startup_profile: .*{why}"):
            load_driver_profile(path)


def test_a_profile_adds_start_up_profile_commands_never_removes_at_y(tmp_path: Path) -> None:
    # `startup_profile: []` (or a list without AT&Y) stopped the guard tracking AT&Y<n>: after
    # AT&Y1 and a restart it took the character set AT&W stored for the one the module starts in
    path = tmp_path / "bare.yaml"
    for listed, expected in (("[]", ("&Y",)), ("[AT&P]", ("&Y", "&P")), ("[at&p, AT&Y]", ("&Y", "&P"))):
        path.write_text(f"name: bare\ndriver:\n  startup_profile: {listed}\n")
        profile = load_driver_profile(path)
        assert profile.startup_profile == expected
        client = ATClient(AnsweringTransport({}, url="/dev/ttyUSB9"))
        Modem(client, profile)
        assert isinstance(client.guard, CommandGuard) and client.guard.startup_profile.search("AT&Y1")
