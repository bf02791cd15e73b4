"""AT+CCLK, the module's clock (27.007 §8.15), as ModemManager's time interface and firmware that
stamps its readings use it: before, every profile answered ERROR."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.modem.test_virtual_sockets import EPOCH, at, later, setup

OK = b"\r\nOK\r\n"


def _clock(text: str) -> bytes:
    return f'\r\n+CCLK: "{text}"\r\n'.encode() + OK


@pytest.mark.parametrize(
    "profile",
    ["simcom-sim800", "simcom-sim7000", "quectel-bg96", "quectel-eg25", "wavecom-fastrack", "generic"],
)
def test_the_clock_reads_the_network_time_until_set_then_runs_on(profile: str) -> None:
    m, _ = setup(profile)
    assert at(m, "AT+CCLK=?") == OK
    network = EPOCH.replace(tzinfo=None) + timedelta(seconds=m.now)  # the network's time, UTC
    assert at(m, "AT+CCLK?") == _clock(f"{network:%y/%m/%d,%H:%M:%S}+00")
    assert at(m, 'AT+CCLK="26/12/31,23:59:30+04"') == OK  # local time, UTC+1
    later(m, 45.0)
    assert at(m, "AT+CCLK?") == _clock("27/01/01,00:00:15+04")
    assert at(m, "AT+CCLK?", m.now + 1.0) == _clock("27/01/01,00:00:16+04")  # never a stale answer


def test_a_bad_time_is_cme_50_and_the_clock_outlives_a_reset() -> None:
    m, _ = setup("simcom-sim800")
    at(m, "AT+CMEE=1")
    for bad in (
        '"26/02/30,12:00:00+00"',
        '"26/01/01,12:00:00"',
        '"26/01/01,25:00:00+00"',
        '"1,2"',
        '"26/01/01,12:00:00+60"',
    ):
        assert at(m, f"AT+CCLK={bad}") == b"\r\n+CME ERROR: 50\r\n", bad
    assert at(m, 'AT+CCLK="26/03/01,08:00:00-20"') == OK  # UTC-5
    assert at(m, "AT+CFUN=1,1").startswith(OK)
    later(m, 10.0)
    at(m, "ATE0")
    assert at(m, "AT+CCLK?") == _clock("26/03/01,08:00:10-20")
