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
