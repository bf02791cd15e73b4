"""27.007 §10.1.19 AT+CGEREP, packet domain event reporting: ModemManager tests for it with `=?`,
which every profile answered ERROR; the network's detach is reported as `+CGEV: NW DETACH`."""

from __future__ import annotations

import pytest

from modem.virtual.netlink import STAT_SEARCHING
from tests.modem.test_virtual_sockets import at, setup

OK = b"\r\nOK\r\n"


@pytest.mark.parametrize("profile", ["generic", "simcom-sim800", "quectel-bg96", "wavecom-fastrack"])
def test_cgerep_forms(profile: str) -> None:
    m, _ = setup(profile)
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CGEREP=?") == b"\r\n+CGEREP: (0-2),(0,1)\r\n" + OK
    assert at(m, "AT+CGEREP?") == b"\r\n+CGEREP: 0,0\r\n" + OK
    assert at(m, "AT+CGEREP=2,1") == OK
    assert at(m, "AT+CGEREP?") == b"\r\n+CGEREP: 2,1\r\n" + OK
    assert at(m, "AT+CGEREP=") == OK  # <mode> absent: 0
    assert at(m, "AT+CGEREP?") == b"\r\n+CGEREP: 0,0\r\n" + OK
    assert at(m, "AT+CGEREP=3") == b"\r\n+CME ERROR: 50\r\n"
    assert at(m, "AT+CGEREP=1,2") == b"\r\n+CME ERROR: 50\r\n"


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_the_networks_detach_is_reported_when_asked(mode: int) -> None:
    m, _ = setup("quectel-eg25")
    at(m, f"AT+CGEREP={mode}")
    m.net.detach(STAT_SEARCHING, by_network=True)
    said = m.take_output()
    assert (b"\r\n+CGEV: NW DETACH\r\n" in said) is (mode > 0)


def test_a_detach_of_the_modems_own_says_nothing() -> None:
    m, _ = setup("quectel-eg25")
    at(m, "AT+CGEREP=2")
    assert at(m, "AT+CGATT=0") == OK
    assert b"+CGEV" not in m.take_output()
