"""ModemManager's probe and initialisation, replayed against every profile: what still answers ERROR
is listed below, each with its reason, and nothing else may.

The commands and their order are ModemManager's (1.23): src/mm-port-probe.c (AT, vendor and product
probing), src/mm-broadband-modem.c (the primary port's init sequence, then the modem, 3GPP,
messaging, voice, USSD, time and SIM loads), src/mm-base-sim.c (the SIM's files by AT+CRSM), and
the vendor plugins a profile's module is driven by: src/plugins/simtech (SIMCom), src/plugins/quectel
and src/plugins/wavecom."""

from __future__ import annotations

import pytest

from tests.modem.test_virtual_sockets import at, setup

GENERIC = [
    # mm-port-probe.c: is it AT, then vendor and product
    "AT",
    "AT+GCAP",
    "AT+CGMI",
    "AT+CGMM",
    # mm-broadband-modem.c: reset, then primary_init_sequence
    "ATZ",
    "ATE0",
    "ATV1",
    "AT+CMEE=1",
    "ATX4",
    "AT&C1",
    # modem interface: capabilities, identity, lock, power
    "AT+GCAP",
    "AT+WS46=?",
    "AT+CGMR",
    "AT+CGSN",
    "AT+CPIN?",
    "AT+CFUN?",
    "AT+CNUM",
    # 3GPP: facility locks, one +CLCK query per facility the test form lists that it knows
    "AT+CLCK=?",
    'AT+CLCK="SC",2',
    'AT+CLCK="FD",2',
    'AT+CLCK="PN",2',
    'AT+CLCK="PU",2',
    'AT+CLCK="PP",2',
    # mm-base-sim.c: ICCID, EF_AD (MNC length), EF_SPN, EF_GID1, EF_GID2, EF_ECC, IMSI
    "AT+CRSM=176,12258,0,0,10",
    "AT+CRSM=176,28589,0,0,4",
    "AT+CRSM=176,28486,0,0,17",
    "AT+CRSM=176,28478,0,0,0",
    "AT+CRSM=176,28479,0,0,0",
    "AT+CRSM=176,28599,0,0,15",
    "AT+CIMI",
    # unsolicited events, registration, operator, signal, bearers
    "AT+CMER=?",
    "AT+CIND=?",
    "AT+CGEREP=?",
    "AT+CREG=2",
    "AT+CGREG=2",
    "AT+CEREG=2",
    "AT+COPS=3,2;+COPS?",
    "AT+COPS=3,0;+COPS?",
    "AT+CSQ",
    "AT+CGDCONT=?",
    "AT+CGDCONT?",
    "AT+CGACT?",
    # messaging
    "AT+CNMI=?",
    "AT+CPMS=?",
    "AT+CMGF=?",
    "AT+CSCS=?",
    'AT+CSCS="GSM"',
    # voice, USSD, time
    "AT+CLCC=?",
    "AT+CLIP=1",
    "AT+CRC=1",
    "AT+CCWA=1",
    "AT+CUSD=?",
    "AT+CUSD=1",
    "AT+CCLK?",
    "AT+CTZU=1",
]

VENDOR = {
    # src/plugins/simtech: access technology and signal reports, mode preference
    "simcom-sim800": ["AT+CNSMOD=?", "AT+AUTOCSQ=?", "AT+CNMP?"],
    "simcom-sim7000": ["AT+CNSMOD=?", "AT+AUTOCSQ=?", "AT+CNMP?", "AT+CNAOP?"],
    # src/plugins/quectel: firmware, network time, GNSS
    "quectel-bg96": ["AT+QGMR?", "AT+CTZU=?", "AT+CTZU=3", "AT+QGPS=?"],
    "quectel-eg25": ["AT+QGMR?", "AT+CTZU=?", "AT+CTZU=3", "AT+QGPS=?"],
    # src/plugins/wavecom: GPRS class, bands
    "wavecom-fastrack": ["AT+CGCLASS=?", "AT+CGCLASS?", "AT+WWSM?", "AT+WGPRS=9,2"],
    "generic": [],
}

# Answered ERROR by the module itself: the command is not in its AT manual.
ABSENT = {
    # the SIM800 is GSM/GPRS only: the SIMCom 3G/4G access technology and mode commands are
    # not in the SIM800 Series AT Command Manual (ModemManager's SIMCom plugin is for those modules)
    "simcom-sim800": {"AT+CNSMOD=?", "AT+AUTOCSQ=?", "AT+CNMP?"},
    # a data module (the profile's header: no voice and no CSD): no call commands
    "simcom-sim7000": {"AT+CLCC=?", "AT+CLIP=1", "AT+CRC=1", "AT+CCWA=1"},
}

# Not emulated yet: the virtual module answers ERROR where the real one answers (docs/virtual-modem.md,
# "Not emulated"). Each one that gets emulated leaves this list.
NOT_YET_ALL = {"AT+WS46=?", "AT+CMER=?", "AT+CIND=?", "AT+CTZU=1"}
NOT_YET = {
    "simcom-sim7000": {"AT+CUSD=?", "AT+CUSD=1", "AT+CNSMOD=?", "AT+AUTOCSQ=?", "AT+CNAOP?"},
    "quectel-bg96": {"AT+QGMR?", "AT+CTZU=?", "AT+CTZU=3", "AT+QGPS=?"},
    "quectel-eg25": {"AT+QGMR?", "AT+CTZU=?", "AT+CTZU=3", "AT+QGPS=?"},
    "wavecom-fastrack": {"AT+CGCLASS=?", "AT+CGCLASS?", "AT+WWSM?", "AT+WGPRS=9,2"},
}


@pytest.mark.parametrize("profile", sorted(VENDOR))
def test_modemmanagers_probe_and_init_meet_no_unexpected_error(profile: str) -> None:
    m, _ = setup(profile)
    errors = {line for line in GENERIC + VENDOR[profile] if b"ERROR" in at(m, line)}
    expected = ABSENT.get(profile, set()) | NOT_YET_ALL | NOT_YET.get(profile, set())
    assert errors == expected
