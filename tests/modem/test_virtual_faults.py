"""Fault injection in the virtual modem: from the URL query or a profile, seeded and replayable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.network import Network, NetworkConfig
from modem.profiles import load_profile
from modem.virtual.core import VirtualModem
from modem.virtual.faults import FaultError, make_faults
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.transport import VirtualUrlError, build_modem, parse_virtual_url

EPOCH = datetime(2026, 3, 2, tzinfo=UTC)


def url_modem(url: str, network: Network | None = None) -> VirtualModem:
    m = build_modem(parse_virtual_url(url), network, epoch=EPOCH)
    m.take_output(0.0)
    m.settings.echo = False
    return m


def at(m: VirtualModem, line: str, now: float | None = None) -> bytes:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output()


def network_for(m: VirtualModem) -> Network:
    class Sink:
        def write(self, record: object) -> None:
            pass

    net = Network(NetworkConfig(epoch=EPOCH), Sink())
    provision(net, m, ServeScenario())
    m.net.network = net
    return net


def test_sim_busy_for_the_first_sim_commands_only() -> None:
    m = url_modem("virtual://generic?sim_busy=2")
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CGMI") == b"\r\nM2MSIM\r\n\r\nOK\r\n"  # needs no SIM
    assert at(m, "AT+CPIN?") == b"\r\n+CME ERROR: 14\r\n"
    assert at(m, "AT+CIMI") == b"\r\n+CME ERROR: 14\r\n"
    assert at(m, "AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"


def test_cme_515_for_seconds_after_power_on_and_cfun() -> None:
    m = url_modem("virtual://generic?cme515=2")
    at(m, "AT+CMEE=1")  # answered while initialising, as +CFUN is
    assert at(m, "AT+CSQ") == b"\r\n+CME ERROR: 515\r\n"  # power-on: 2 s
    m.feed(b"AT+CSQ\r", 2.0)
    assert m.take_output().endswith(b"OK\r\n")
    assert at(m, "AT+CFUN=1") == b"\r\nOK\r\n"
    assert at(m, "AT") == b"\r\nOK\r\n"  # a bare AT runs no command
    assert at(m, "ATI").endswith(b"OK\r\n")  # basic commands answer
    assert at(m, "AT+CSQ") == b"\r\n+CME ERROR: 515\r\n"
    assert at(m, "AT+CSQ") == b"\r\n+CME ERROR: 515\r\n"  # a time, not a count
    m.feed(b"AT+CSQ\r", 4.0)
    assert m.take_output().endswith(b"OK\r\n")


def test_chosen_commands_fail_with_chosen_errors() -> None:
    m = url_modem("virtual://generic?fail=%2BCMGS:cms:500,%2BCOPS:cme:30,ATD:error")
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CMGS=20") == b"\r\n+CMS ERROR: 500\r\n"
    assert at(m, "AT+COPS?") == b"\r\n+CME ERROR: 30\r\n"
    assert at(m, "ATD123;") == b"\r\nERROR\r\n"


def test_registration_denied_and_lost_then_back() -> None:
    denied = url_modem("virtual://generic?reg_denied=1")
    network_for(denied)
    denied.poll(5.0)
    assert at(denied, "AT+CREG?") == b"\r\n+CREG: 0,3\r\n\r\nOK\r\n"

    m = url_modem("virtual://generic?reg_lost_at=10&reg_back_at=20")
    net = network_for(m)
    at(m, "AT+CREG=1")
    assert m.take_output(2.0) == b"\r\n+CREG: 1\r\n"
    assert m.take_output(10.0) == b"\r\n+CREG: 2\r\n"
    assert not net.line(m.identity.line_id).attached
    assert m.take_output(22.0) == b"\r\n+CREG: 1\r\n"  # searched again at 20 s, registered 2 s later


def test_delay_holds_the_response_and_the_input_behind_it() -> None:
    m = url_modem("virtual://generic?delay_ms=250")
    m.feed(b"AT+CGMI\rAT+CGMM\r", 1.0)
    assert m.take_output() == b""
    assert m.next_deadline() == pytest.approx(1.25)
    assert m.take_output(1.25) == b"\r\nM2MSIM\r\n\r\nOK\r\n"
    assert m.take_output(1.5) == b"\r\nGENERIC-3GPP\r\n\r\nOK\r\n"


def test_drop_garbage_and_urc_bursts_are_seeded() -> None:
    def run(seed: int) -> list[bytes]:
        m = url_modem(f"virtual://generic?seed={seed}&drop=0.2&garbage=0.2&urc_burst=0.2")
        return [at(m, "AT+CSQ") for _ in range(60)]

    a, b = run(7), run(7)
    assert a == b  # replays
    assert run(8) != a
    assert b"" in a  # some dropped
    assert any(out[:1] >= b"\x80" for out in a if out)  # some start with noise
    burst = [out for out in a if b"+CIEV: 2,3" in out]
    assert burst and all(out.index(b"+CSQ") < out.index(b"+CIEV") < out.index(b"OK") for out in burst)


def test_profile_faults_and_url_faults_merge() -> None:
    import dataclasses

    profile = dataclasses.replace(load_profile("generic"), faults={"sim_busy": 5, "delay_ms": 10})
    base = make_faults(profile.faults)
    merged = make_faults({"sim_busy": "1"}, base)
    assert (merged.sim_busy, merged.delay_ms) == (1, 10.0)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("virtual://nosuch", "unknown modem profile"),
        ("virtual://generic?frobnicate=1", "unknown query key 'frobnicate'"),
        ("virtual://generic?drop=1.5", "probability"),
        ("virtual://generic?fail=%2BCMGS:cms", "needs an error number"),
        ("virtual://generic?plmn=20", "plmn must be MCC"),
        ("serial:///dev/ttyUSB0", "expected virtual://PROFILE"),
    ],
)
def test_bad_urls_are_named(url: str, words: str) -> None:
    with pytest.raises(VirtualUrlError, match=words):
        build_modem(parse_virtual_url(url))


def test_unknown_fault_key_in_a_profile() -> None:
    with pytest.raises(FaultError, match="unknown fault 'sim_bsy'"):
        make_faults({"sim_bsy": 1})


def test_pin_locked_sim_until_the_right_pin_then_puk_after_three_wrong() -> None:
    m = url_modem("virtual://generic?pin=4321")
    network_for(m)
    at(m, "AT+CMEE=1")
    m.poll(5.0)
    assert at(m, "AT+CPIN?;+CREG?") == b"\r\n+CPIN: SIM PIN\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert at(m, "AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert at(m, 'AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert at(m, 'AT+CPIN="4321"') == b"\r\nOK\r\n"
    assert at(m, "AT+CIMI") == f"\r\n{m.identity.imsi}\r\n\r\nOK\r\n".encode()
    m.poll(8.0)
    assert at(m, "AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"

    locked = url_modem("virtual://generic?pin=4321")
    for _ in range(3):
        at(locked, 'AT+CPIN="1111"')
    assert at(locked, "AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert at(locked, 'AT+CPIN="4321"') == b"\r\nERROR\r\n"  # +CMEE=0


def test_a_burst_repeats_the_registration_the_modem_is_in() -> None:
    """A module repeats its registration URCs with its state: the burst said "+CREG: 1" (home) of a
    modem refused by the network, and a client (or the bench's guard) believed a registration that
    was not there.  Written whole, a burst line is still sent as written."""
    m = url_modem("virtual://generic?seed=3&urc_burst=1.0&reg_denied=1")
    m.take_output(30.0)
    out = at(m, "AT+CSQ", 30.0)
    assert b"\r\n+CREG: 3\r\n" in out and b"\r\n+CGREG: " in out and b"+CREG: 1" not in out
    told = url_modem("virtual://generic?seed=3&urc_burst=1.0&reg_denied=1&burst_urcs=%2BCREG:%201")
    told.take_output(30.0)
    assert b"\r\n+CREG: 1\r\n" in at(told, "AT+CSQ", 30.0)
