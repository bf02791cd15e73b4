"""Module behaviour as the vendors' AT manuals describe it (the sections are cited in the profiles).

Sans-IO: simulated time is given with each command.  The console-driven ones (USSD's priced
consumption, status reports stored with +CDSI) run on the console console_bench.
"""

from __future__ import annotations

import asyncio
import re

from accounting.records import UsageType
from gateway.api import CallOutcome
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.core import RadioSettings, VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import TcpEndpoint
from tests.modem.console_bench import EPOCH, ConsoleBench, Kept


def served(profile: str, pin: str | None = None) -> tuple[VirtualModem, Kept]:
    """A modem on the network, its boot output read, registered at t=10 (`at` advances time)."""
    kept = Kept()
    net = Network(
        NetworkConfig(epoch=EPOCH, seed=1, calls=SwitchConfig(forced={"0140000000": CallOutcome.ANSWERED})),
        kept,
    )
    m = VirtualModem(load_profile(profile), network=net, seed=1, epoch=EPOCH, pin=pin)
    provision(net, m, ServeScenario())
    m.take_output(0.0)
    return m, kept


def at(m: VirtualModem, line: str, now: float | None = None) -> str:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output(m.now).decode("latin-1")  # with what follows at once (a reset's URCs)


def later(m: VirtualModem, now: float) -> str:
    """What the modem says on its own up to `now`."""
    return m.take_output(now).decode("latin-1")


# ----- AT+CFUN ------------------------------------------------------------------------------------------


def test_cfun_1_1_resets_with_boot_urcs_deregisters_then_registers_after_the_search_time() -> None:
    m, _ = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    at(m, "AT+CREG=1")
    assert m.net.stat == 1
    out = at(m, "AT+CFUN=1,1", 20.0)
    # OK first, then the deregistration (+CREG: 0 while the old settings still hold), then the boot URCs
    assert out.index("OK") < out.index("+CREG: 0") < out.index("RDY")
    assert [line for line in out.split("\r\n") if line][-5:] == [
        "RDY",
        "+CFUN: 1",
        "+CPIN: READY",
        "Call Ready",
        "SMS Ready",
    ]
    assert m.net.stat == 2 and m.settings.echo  # searching; settings are the profile's again
    later(m, 20.0 + m.profile.search_s - 0.01)
    assert m.net.stat == 2
    later(m, 20.0 + m.profile.search_s)
    assert m.net.stat == 1
    assert "+CREG: 0,1" in at(m, "AT+CREG?")


def test_cfun_4_is_airplane_mode_and_cfun_1_comes_back_without_a_reset() -> None:
    m, _ = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CFUN=4") == "\r\nOK\r\n"
    assert "+CFUN: 4" in at(m, "AT+CFUN?")
    assert "+CSQ: 99,99" in at(m, "AT+CSQ")
    assert "+CREG: 0,0" in at(m, "AT+CREG?")
    assert "+CME ERROR: 30" in at(m, "AT+COPS=?")
    assert "NO CARRIER" in at(m, "ATD0140000000;")
    out = at(m, "AT+CFUN=1", 30.0)
    assert out == "\r\nOK\r\n"  # SIM800: =1 from 4 is no reset, no boot URCs
    later(m, 30.0 + m.profile.search_s)
    assert m.net.stat == 1


def test_cfun_1_on_a_module_that_resets() -> None:
    m, _ = served("wavecom-fastrack")
    at(m, "ATE0", 10.0)
    at(m, "AT+CMEE=1")
    assert "OK" in at(m, "AT+CFUN=1", 10.0)
    assert m.net.stat == 2 and m.initialising  # reset: deregistered, initialising
    at(m, "ATE0")
    at(m, "AT+CMEE=1")
    assert "+CME ERROR: 515" in at(m, "AT+CREG?")


# ----- +CREG location: the cell identity's size is the radio's ----------------------------------------------


def creg_location(m: VirtualModem) -> tuple[str, str]:
    answer = at(m, "AT+CREG?")
    found = re.search(r'\+CREG: 2,1,"([0-9A-F]+)","([0-9A-F]+)"', answer)
    assert found, answer
    return found.group(1), found.group(2)


def test_a_gsm_cell_has_a_two_byte_cell_id_an_lte_cell_a_28_bit_one() -> None:
    # SIM800 manual 3.2.28 AT+CREG: <lac> and <ci> "two byte ... in hexadecimal format" (a GERAN cell
    # identity is 16 bits, TS 23.003 4.3.1); smsd logs the last four digits of a longer one as the cell.
    m, _ = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    at(m, "AT+CREG=2")
    lac, ci = creg_location(m)
    assert len(lac) == 4 and len(ci) == 4
    # the same modem moved onto LTE: E-UTRAN's 28-bit cell identity (TS 36.413 9.2.1.38), 7 hex digits,
    # whose last 16 bits are the GSM cell's (the cell drawn once, its size the radio's)
    m.radio = RadioSettings(rat="eutran")
    lac_lte, ci_lte = creg_location(m)
    assert lac_lte == lac and len(ci_lte) == 7 and ci_lte.endswith(ci)
    bg96, _ = served("quectel-bg96")  # LTE-M: 28 bits as well
    at(bg96, "ATE0", 10.0)
    at(bg96, "AT+CREG=2")
    assert len(creg_location(bg96)[1]) == 7


# ----- power down ---------------------------------------------------------------------------------------


def test_cpowd_1_says_normal_power_down_without_ok_then_answers_nothing() -> None:
    m, kept = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    at(m, 'AT+CGDCONT=1,"IP","orange.m2m.spec"')
    at(m, "AT+CGACT=1,1")
    assert at(m, "AT+CPOWD=1") == "\r\nNORMAL POWER DOWN\r\n"
    assert not m.powered and m.net.stat == 0
    assert [r.type for r in kept.records] == [UsageType.DATA]  # the session ended with the power
    assert at(m, "AT") == ""
    m.restart()  # the power key again
    out = later(m, 20.0)
    assert "RDY" in out and at(m, "AT").endswith("OK\r\n")


def test_cpowd_0_powers_off_silently() -> None:
    m, _ = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    assert at(m, "AT+CPOWD=0") == ""
    assert at(m, "AT") == ""


def test_qpowd_answers_ok_logs_off_then_says_powered_down() -> None:
    m, _ = served("quectel-bg96")
    at(m, "ATE0", 10.0)
    assert at(m, "AT+QPOWD") == "\r\nOK\r\n"
    assert m.powered
    assert later(m, 11.99) == ""
    assert later(m, 12.0) == "\r\nPOWERED DOWN\r\n"
    assert not m.powered and at(m, "AT") == ""


def test_qpowd_0_is_immediate() -> None:
    m, _ = served("quectel-bg96")
    at(m, "ATE0", 10.0)
    assert at(m, "AT+QPOWD=0") == "\r\nOK\r\n"
    later(m, 10.0)
    assert not m.powered


# ----- CME 515: a time, also across connections -----------------------------------------------------------


async def test_cme_515_lasts_the_init_time_and_a_new_connection_later_finds_the_module_ready() -> None:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop, 0.0, 20.0)  # 2 s of initialisation pass in 0.1 s
    modem = VirtualModem(load_profile("wavecom-fastrack"), now=clock.now())
    endpoint = TcpEndpoint(modem, clock, 0)
    await endpoint.start()
    ready = asyncio.Event()
    modem.schedule(modem.profile.init_s, ready.set)  # init_s after power-on: the modem's own timer
    endpoint.runner.kick()

    async def ask(line: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        try:
            writer.write(b"ATE0\r" + line + b"\r")
            got = b""
            while got.count(b"OK\r\n") + got.count(b"515\r\n") < 2:  # ATE0's answer, then the line's
                got += await asyncio.wait_for(reader.read(4096), 5)
            return got
        finally:
            writer.close()

    try:
        assert (await ask(b"AT+CMEE=1;+CSQ")).endswith(b"+CME ERROR: 515\r\n")
        assert not ready.is_set()
        assert (await ask(b"AT+CSQ")).endswith(b"+CME ERROR: 515\r\n")  # reconnecting restarts nothing
        await asyncio.wait_for(ready.wait(), 5)
        assert (await ask(b"AT+CSQ")).endswith(b"OK\r\n")
    finally:
        endpoint.close()


# ----- PUK ------------------------------------------------------------------------------------------------


def test_three_wrong_pins_then_the_puk_sets_a_new_pin() -> None:
    m, _ = served("simcom-sim800", pin="1234")
    at(m, "ATE0", 1.0)
    at(m, "AT+CMEE=1")
    for _ in range(3):
        assert "+CME ERROR: 16" in at(m, 'AT+CPIN="0000"')
    assert "+CPIN: SIM PUK" in at(m, "AT+CPIN?")
    assert "+CME ERROR: 12" in at(m, "AT+CIMI")
    assert "+CME ERROR: 16" in at(m, 'AT+CPIN="00000000","4321"')
    assert m.puk_attempts == 9
    assert at(m, f'AT+CPIN="{m.puk}","4321"') == "\r\nOK\r\n"
    assert "+CPIN: READY" in at(m, "AT+CPIN?")
    later(m, 1.0 + m.profile.search_s)
    assert m.net.stat == 1 and m.pin == "4321" and m.puk_attempts == 10


def test_a_reset_asks_for_the_pin_again() -> None:
    m, _ = served("simcom-sim800", pin="1234")
    at(m, "ATE0", 1.0)
    at(m, 'AT+CPIN="1234"')
    later(m, 1.0 + m.profile.search_s)
    assert m.net.stat == 1
    at(m, "AT+CFUN=1,1", 10.0)
    at(m, "ATE0")
    assert "+CPIN: SIM PIN" in at(m, "AT+CPIN?")
    later(m, 20.0)
    assert m.net.stat == 0  # no PIN, no search


def test_ten_wrong_puks_block_the_sim() -> None:
    m, _ = served("generic", pin="1234")
    at(m, "ATE0", 1.0)
    at(m, "AT+CMEE=1")
    for _ in range(3):
        at(m, 'AT+CPIN="0000"')
    for _ in range(9):
        assert "+CME ERROR: 16" in at(m, 'AT+CPIN="11111111","4321"')
    assert "+CME ERROR: 13" in at(m, 'AT+CPIN="11111111","4321"')
    assert "+CME ERROR: 13" in at(m, f'AT+CPIN="{m.puk}","4321"')  # blocked for good
    assert "+CME ERROR: 13" in at(m, "AT+CPIN?")
    assert "+CME ERROR: 13" in at(m, "AT+CIMI")


# ----- phonebook, battery -----------------------------------------------------------------------------------


def test_phonebook_write_read_delete() -> None:
    m, _ = served("simcom-sim800")
    at(m, "ATE0", 10.0)
    at(m, "AT+CMEE=1")
    assert '+CPBS: "SM",0,250' in at(m, "AT+CPBS?")
    assert at(m, 'AT+CPBW=,"+33612345678",145,"Depot"') == "\r\nOK\r\n"
    assert at(m, 'AT+CPBW=5,"0140000000",129,"Office"') == "\r\nOK\r\n"
    out = at(m, "AT+CPBR=1,10")
    assert '+CPBR: 1,"+33612345678",145,"Depot"' in out and '+CPBR: 5,"0140000000",129,"Office"' in out
    assert at(m, "AT+CPBW=1") == "\r\nOK\r\n"
    assert "+CPBR: 1," not in at(m, "AT+CPBR=1,10")
    assert "+CME ERROR: 21" in at(m, 'AT+CPBW=251,"1"')
    assert "+CME ERROR: 24" in at(m, 'AT+CPBW=2,"1",129,"fifteen chars!!"')
    assert "+CPBR: (1-250),40,14" in at(m, "AT+CPBR=?")
    at(m, 'AT+CPBS="ME"')
    assert '+CPBS: "ME",0,100' in at(m, "AT+CPBS?")


def test_battery() -> None:
    m, _ = served("quectel-bg96")
    at(m, "ATE0", 10.0)
    assert "+CBC: 0,95,4100" in at(m, "AT+CBC")


# ----- on the console bench: USSD priced consumption, +CDSI ------------------------------------------------


async def test_ussd_consumption_is_the_lines_month_priced_by_the_catalog(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CMGF=1")
    await console_bench.at(0, 'AT+CMGS="+33612345678"', "> ")
    console_bench.served[0].runner.feed(b"meter 42\x1a")
    await console_bench.expect(0, "OK")
    (usage,) = await console_bench.ctl("usage 0")
    await console_bench.at(0, 'AT+CUSD=1,"*#123#",15')
    got = await console_bench.expect(0, ",15\r\n")
    assert f'+CUSD: 0,"2026-03: 1 SMS, 0 s of calls, 0.0 kB of data: {usage["usage_amount"]} EUR' in got
    await console_bench.at(0, 'AT+CUSD=1,"*123#",15')
    got = await console_bench.expect(0, ",15\r\n")
    assert '+CUSD: 1,"Orange M2M\n1 My consumption\n2 My number",15' in got
    await console_bench.at(0, 'AT+CUSD=1,"2",15')
    got = await console_bench.expect(0, ",15\r\n")
    assert f'+CUSD: 0,"Your number: +{console_bench.modem(0).identity.msisdn}",15' in got
    await console_bench.at(0, 'AT+CUSD=1,"*#999#",15')
    await console_bench.expect(0, "+CUSD: 4\r\n")


async def test_status_report_stored_and_announced_with_cdsi(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CMGF=1")
    await console_bench.at(0, "AT+CSMP=49,167,0,0")  # TP-SRR: a status report is requested
    await console_bench.at(0, "AT+CNMI=2,1,0,2,0")  # <ds>=2: reports stored, +CDSI
    to = "+" + console_bench.modem(1).identity.msisdn
    await console_bench.at(0, f'AT+CMGS="{to}"', "> ")
    console_bench.served[0].runner.feed(b"ping\x1a")
    await console_bench.expect(0, "+CMGS: 0")
    await console_bench.expect(0, '+CDSI: "SM",1')  # delivered to modem 1: the report is stored at index 1
    out = await console_bench.at(0, "AT+CMGR=1")
    (line,) = [x for x in out.split("\r\n") if x.startswith("+CMGR:")]
    assert line.startswith(f'+CMGR: "REC UNREAD",6,0,"{to}",145,"26/03/02,')
    assert line.endswith(",0")  # TP-Status 0: received by the SME
    await console_bench.at(0, "AT+CMGF=0")
    out = await console_bench.at(0, "AT+CMGR=1")
    assert "+CMGR: 1,," in out  # read now; the PDU follows


async def test_console_power_and_battery(console_bench: ConsoleBench) -> None:
    await console_bench.ctl("battery 1 40 3700 --charging")
    assert "+CBC: 1,40,3700" in await console_bench.at(1, "AT+CBC")
    await console_bench.ctl("power 0 off")
    await console_bench.expect(0, "NORMAL POWER DOWN")
    assert (await console_bench.ctl("list 0"))[0]["powered"] is False
    await console_bench.ctl("power 0 on")
    await console_bench.expect(0, "SMS Ready")
    await console_bench.ctl("wait 0 registered 5")
