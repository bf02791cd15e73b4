"""Standard status commands AT clients probe, answered ERROR by every profile before: 27.007 §8.1
AT+CPAS (phone activity), 27.005 §3.2.1 AT+CSMS (message service), V.250 §6.1.9 AT+GCAP
(capabilities, which ModemManager reads)."""

from __future__ import annotations

import pytest

from tests.modem.test_virtual_network import setup
from tests.modem.test_virtual_sockets import at
from tests.modem.test_virtual_sockets import setup as data_setup

OK = b"\r\nOK\r\n"


def test_cpas_follows_the_calls() -> None:
    """0 ready, 3 ringing, 4 a call in progress, 0 again once it is over."""
    m, _, _ = setup()
    assert at(m, "AT+CPAS=?") == b"\r\n+CPAS: (0,3,4)\r\n" + OK
    assert at(m, "AT+CPAS") == b"\r\n+CPAS: 0\r\n" + OK
    m.calls.incoming("+33611111111")
    m.take_output()
    assert at(m, "AT+CPAS") == b"\r\n+CPAS: 3\r\n" + OK
    assert at(m, "ATA") == OK
    assert at(m, "AT+CPAS") == b"\r\n+CPAS: 4\r\n" + OK
    assert at(m, "ATH") == OK
    assert at(m, "AT+CPAS") == b"\r\n+CPAS: 0\r\n" + OK


@pytest.mark.parametrize("profile", ["simcom-sim800", "simcom-sim7000", "quectel-bg96", "wavecom-fastrack"])
def test_csms_selects_the_message_service(profile: str) -> None:
    m, _ = data_setup(profile)
    assert at(m, "AT+CSMS=?") == b"\r\n+CSMS: (0,1)\r\n" + OK
    assert at(m, "AT+CSMS?") == b"\r\n+CSMS: 0,1,1,1\r\n" + OK
    assert at(m, "AT+CSMS=1") == b"\r\n+CSMS: 1,1,1\r\n" + OK
    assert at(m, "AT+CSMS?") == b"\r\n+CSMS: 1,1,1,1\r\n" + OK
    assert at(m, "AT+CSMS=2") == b"\r\n+CMS ERROR: 302\r\n"


@pytest.mark.parametrize("profile", ["simcom-sim800", "simcom-sim7000", "quectel-bg96", "wavecom-fastrack"])
def test_gcap_lists_the_27_007_command_set(profile: str) -> None:
    m, _ = data_setup(profile)
    assert at(m, "AT+GCAP") == b"\r\n+GCAP: +CGSM\r\n" + OK
    assert at(m, "AT+GCAP=?") == OK


@pytest.mark.parametrize("profile", ["generic", "simcom-sim800", "quectel-eg25", "wavecom-fastrack"])
def test_ccwa_answers_as_a_network_without_call_waiting(profile: str) -> None:
    """27.007 §7.12: the URC setting kept; the network's call waiting queried not active, not enabled."""
    m, _ = data_setup(profile)
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CCWA=?") == b"\r\n+CCWA: (0,1)\r\n" + OK
    assert at(m, "AT+CCWA?") == b"\r\n+CCWA: 0\r\n" + OK
    assert at(m, "AT+CCWA=1") == OK
    assert at(m, "AT+CCWA?") == b"\r\n+CCWA: 1\r\n" + OK
    assert at(m, "AT+CCWA=1,2") == b"\r\n+CCWA: 0,7\r\n" + OK
    assert at(m, "AT+CCWA=1,0,1") == OK
    assert at(m, "AT+CCWA=1,1") == b"\r\n+CME ERROR: 3\r\n"
    assert at(m, "AT+CCWA=2") == b"\r\n+CME ERROR: 50\r\n"
