"""The SIM as ModemManager reads it: 27.007 §8.18 AT+CRSM READ BINARY of EF_ICCID, EF_IMSI, EF_SPN and
EF_AD, and 27.007 §7.4 AT+CLCK for the PIN lock; both answered ERROR by every profile before."""

from __future__ import annotations

import pytest

from modem.virtual.core import VirtualModem
from tests.modem.test_virtual_manuals import at, later, served
from tests.modem.test_virtual_sockets import at as raw_at
from tests.modem.test_virtual_sockets import setup

OK = b"\r\nOK\r\n"
PROFILES = ["generic", "simcom-sim800", "simcom-sim7000", "quectel-bg96", "quectel-eg25", "wavecom-fastrack"]


def _read(m: VirtualModem, file_id: int, length: int) -> str:
    """The hex a READ BINARY of `length` octets from the file's start answers, checking the framing."""
    out = raw_at(m, f"AT+CRSM=176,{file_id},0,0,{length}")
    head, tail = b'\r\n+CRSM: 144,0,"', b'"\r\n' + OK
    assert out.startswith(head) and out.endswith(tail), out
    return out[len(head) : -len(tail)].decode()


def _unswap(hexdigits: str) -> str:
    return "".join(hexdigits[i + 1] + hexdigits[i] for i in range(0, len(hexdigits), 2))


@pytest.mark.parametrize("profile", PROFILES)
def test_crsm_reads_the_virtual_sims_files(profile: str) -> None:
    """ICCID and IMSI as AT+CCID and AT+CIMI give them, the operator's name, a 2-digit MNC (208 01)."""
    m, _ = setup(profile)
    assert _unswap(_read(m, 0x2FE2, 10)) == m.identity.iccid
    imsi = _read(m, 0x6F07, 9)
    assert imsi[:2] == "08" and _unswap(imsi[2:]) == "9" + m.identity.imsi
    assert _read(m, 0x6F46, 17) == "00" + b"Orange".hex().upper() + "FF" * 10
    assert _read(m, 0x6FAD, 4) == "00000002"
    assert raw_at(m, "AT+CRSM=176,28589,0,3,1") == b'\r\n+CRSM: 144,0,"02"\r\n' + OK  # at an offset
    assert raw_at(m, "AT+CRSM=176,28589,0,2,0") == b'\r\n+CRSM: 144,0,"0002"\r\n' + OK  # P3 0: the rest
    assert raw_at(m, "AT+CRSM=?") == OK


def test_crsm_status_words_and_errors() -> None:
    m, _ = setup("simcom-sim800")
    raw_at(m, "AT+CMEE=1")
    assert raw_at(m, "AT+CRSM=176,28480,0,0,10") == b"\r\n+CRSM: 148,4\r\n" + OK  # no EF_MSISDN here
    assert raw_at(m, "AT+CRSM=176,28589,0,4,1") == b"\r\n+CRSM: 148,2\r\n" + OK  # past the end
    assert raw_at(m, "AT+CRSM=176,28589,0,0,5") == b"\r\n+CRSM: 103,0\r\n" + OK  # too long
    assert raw_at(m, "AT+CRSM=242") == b"\r\n+CRSM: 109,0\r\n" + OK  # STATUS: not carried out
    assert raw_at(m, "AT+CRSM=177,12258,0,0,10") == b"\r\n+CME ERROR: 50\r\n"
    assert raw_at(m, "AT+CRSM?") == b"\r\n+CME ERROR: 50\r\n"


def test_clck_lists_and_queries_the_facilities() -> None:
    m, _ = setup("quectel-bg96")
    raw_at(m, "AT+CMEE=1")
    assert raw_at(m, "AT+CLCK=?") == (
        b'\r\n+CLCK: ("AO","OI","OX","AI","IR","AB","AG","AC","FD","SC","PN","PU","PP")\r\n' + OK
    )
    assert raw_at(m, 'AT+CLCK="SC",2') == b"\r\n+CLCK: 0\r\n" + OK
    assert raw_at(m, 'AT+CLCK="AO",2') == b"\r\n+CLCK: 0\r\n" + OK
    assert raw_at(m, 'AT+CLCK="AO",1,"0000"') == b"\r\n+CME ERROR: 3\r\n"
    assert raw_at(m, 'AT+CLCK="XX",2') == b"\r\n+CME ERROR: 50\r\n"
    assert raw_at(m, 'AT+CLCK="SC",3') == b"\r\n+CME ERROR: 50\r\n"


def test_clck_turns_the_pin_lock_off_and_on() -> None:
    """Off with the right PIN: a reset no longer asks it; on again: it does; a wrong one is CME 16."""
    m, _ = served("simcom-sim800", pin="1234")
    at(m, "ATE0", 1.0)
    at(m, "AT+CMEE=1")
    at(m, 'AT+CPIN="1234"')
    later(m, 1.0 + m.profile.search_s)
    assert at(m, 'AT+CLCK="SC",2') == "\r\n+CLCK: 1\r\n\r\nOK\r\n"
    assert at(m, 'AT+CLCK="SC",0,"0000"') == "\r\n+CME ERROR: 16\r\n"
    assert at(m, 'AT+CLCK="SC",0,"1234"') == "\r\nOK\r\n"
    assert at(m, 'AT+CLCK="SC",2') == "\r\n+CLCK: 0\r\n\r\nOK\r\n"
    at(m, "AT+CFUN=1,1", 10.0)
    at(m, "ATE0")
    assert "+CPIN: READY" in at(m, "AT+CPIN?")
    later(m, 20.0)
    assert at(m, 'AT+CLCK="SC",1,"1234"') == "\r\nOK\r\n"
    at(m, "AT+CFUN=1,1", 30.0)
    at(m, "ATE0")
    assert "+CPIN: SIM PIN" in at(m, "AT+CPIN?")


def test_three_wrong_pins_to_clck_leave_the_sim_asking_its_puk() -> None:
    m, _ = served("generic", pin="1234")
    at(m, "ATE0", 1.0)
    at(m, 'AT+CPIN="1234"')
    later(m, 1.0 + m.profile.search_s)
    for _ in range(3):
        at(m, 'AT+CLCK="SC",0,"9999"')
    assert "+CPIN: SIM PUK" in at(m, "AT+CPIN?")
