"""The SIM7000's radio preferences (AT+CNMP, AT+CMNB; SIM7000 Series AT Command Manual) on the
virtual SIM7000G: kept and shown, out-of-range values refused, kept across a reset."""

from __future__ import annotations

from tests.modem.test_virtual_sockets import at, later, setup

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
SIM7000 = "simcom-sim7000"


def test_the_preferred_mode_and_the_lte_flavour_are_kept_across_a_reset() -> None:
    m, _ = setup(SIM7000)
    assert at(m, "AT+CNMP?;+CMNB?") == b"\r\n+CNMP: 2\r\n+CMNB: 1\r\n" + OK
    assert at(m, "AT+CNMP=38;+CMNB=2") == OK
    assert at(m, "AT+CNMP=7") == ERROR and at(m, "AT+CMNB=4") == ERROR
    assert at(m, "AT+CFUN=1,1").startswith(OK)
    later(m, 10.0)
    at(m, "ATE0")
    assert at(m, "AT+CNMP?;+CMNB?") == b"\r\n+CNMP: 38\r\n+CMNB: 2\r\n" + OK
    assert at(m, "AT+COPS?").startswith(b'\r\n+COPS: 0,0,"') and b'",7\r\n' in at(m, "AT+COPS?")
