"""Network conditions applied to the virtual modem: sockets, CSD, SMS, URL keys, serve options, scenario steps."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accounting.records import UsageRecord
from gateway.api import CallOutcome
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig
from modem.profiles import load_profile
from modem.virtual.conditions import Conditions, Link, conditions_from, preset
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP, HEADER
from modem.virtual.scenario import ScenarioError, ServeScenario, load_scenario, provision, schedule
from modem.virtual.transport import VirtualUrlError, build_modem, parse_virtual_url

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
FIXED = dict(netdelay="200", netloss="0")  # 100 ms each way, no loss: arrival times are exact


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


def modem(profile: str, conditions: Conditions, **forced: CallOutcome) -> VirtualModem:
    # the far ends answer as they are alerted: a data call dialled at t is connected at t + 1 s (set-up)
    calls = SwitchConfig(forced=forced, ring_s=0.0)
    net = Network(NetworkConfig(epoch=EPOCH, seed=1, calls=calls), Sink())
    m = VirtualModem(load_profile(profile), network=net, seed=5, epoch=EPOCH, conditions=conditions)
    provision(net, m, ServeScenario(offer="business-m2m" if forced else "business-m2m-dtmf"))
    m.take_output(0.0)
    at(m, "ATE0", 0.0)
    m.poll(3.0)  # registered
    return m


def next_output(m: VirtualModem, until: float = 60.0) -> tuple[float, bytes]:
    """Run the modem's timers one by one: the first time something comes out, and what."""
    while (t := m.next_deadline()) is not None and t <= until:
        out = m.take_output(t)
        if out:
            return t, out
    return until, m.take_output(until)


def at(m: VirtualModem, line: str, now: float | None = None) -> bytes:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output()


def tcp_echo_times(conditions: Conditions) -> tuple[float, float]:
    """(when CONNECT OK comes, when the echo of 5 bytes sent at 4.0 comes) on a SIM800."""
    m = modem("simcom-sim800", conditions)
    at(m, 'AT+CSTT="orange.m2m.spec";+CIICR')
    at(m, "AT+CIFSR")
    assert at(m, 'AT+CIPSTART="TCP","echo.example",7', 3.0) == b"\r\nOK\r\n"
    up, out = next_output(m)
    assert out == b"\r\nCONNECT OK\r\n"
    at(m, "AT+CIPSEND=5", 4.0)
    m.feed(b"hello", 4.0)
    assert m.take_output() == b""  # SEND OK once the server's ACK is back: on the echo
    back, out = next_output(m)
    assert out == b"\r\nSEND OK\r\nhello"
    return up - 3.0, back - 4.0


def test_edge_tcp_connect_and_echo_take_the_computed_times() -> None:
    connect, echo = tcp_echo_times(conditions_from(preset("edge"), **FIXED))
    up, down = 118_400, 236_800
    assert connect == pytest.approx(HANDSHAKE_UP * 8 / up + HANDSHAKE_DOWN * 8 / down + 0.2)
    size = 5 + HEADER
    assert echo == pytest.approx(size * 8 / up + size * 8 / down + 0.2)


def test_a_preset_changes_the_measured_times_as_computed() -> None:
    _, edge = tcp_echo_times(conditions_from(preset("edge"), **FIXED))
    _, gprs = tcp_echo_times(conditions_from(preset("gprs"), **FIXED))
    size = 5 + HEADER
    assert gprs - edge == pytest.approx(size * 8 * (1 / 26_800 + 1 / 53_600 - 1 / 118_400 - 1 / 236_800))
    _, lte = tcp_echo_times(conditions_from(preset("lte"), netdelay="40", netloss="0"))
    assert lte == pytest.approx(size * 8 * (1 / 50e6 + 1 / 150e6) + 0.04)


def test_same_seed_same_socket_timings_with_random_latency() -> None:
    gprs = preset("gprs")  # latency drawn in 300-1000 ms round trip, 1% loss
    first = tcp_echo_times(gprs)
    assert tcp_echo_times(gprs) == first
    assert 0.3 <= first[0] <= 1.0 + 1.5  # at most one retransmission timeout for a lost packet


def test_udp_loss_drops_the_echo_and_counts_only_what_crossed() -> None:
    m = modem("quectel-bg96", conditions_from(preset("lte-m"), netloss="100"))
    at(m, 'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1')
    at(m, 'AT+QIOPEN=1,0,"UDP","echo.example",7,0,0', 4.0)
    assert m.take_output(4.0) == b"\r\n+QIOPEN: 0,0\r\n"  # no handshake for UDP
    at(m, "AT+QISEND=0,4")
    m.feed(b"ping", 4.0)
    assert m.take_output() == b"\r\nSEND OK\r\n"
    assert next_output(m) == (60.0, b"")  # never echoed
    assert m.net.context(1).payload_up == 0  # lost on the uplink: the gateway never saw it


def test_csd_echo_crosses_the_96_kbits_circuit_both_ways() -> None:
    m = modem("simcom-sim800", preset("gprs"), **{"0140000002": CallOutcome.ANSWERED})
    assert at(m, "ATD0140000002", 4.0) == b""
    assert m.take_output(5.0) == b"\r\nCONNECT 9600\r\n"
    data = b"x" * 120  # 100 ms of air time each way at 9.6 kbit/s
    m.feed(data, 5.5)
    assert m.take_output() == b""
    back, out = next_output(m)
    gsm = preset("gsm")
    assert 5.5 + 0.2 + gsm.rtt_min <= back <= 5.5 + 0.2 + gsm.rtt_max
    assert out == data
    # the same seed gives the same circuit timing
    twin = Link(gsm, f"{m.link.seed}/csd")
    assert back == pytest.approx(twin.down.send(twin.up.send(5.5, 120), 120))


def test_csd_echo_arriving_in_command_mode_waits_for_ato() -> None:
    m = modem("simcom-sim800", preset("gprs"), **{"0140000002": CallOutcome.ANSWERED})
    assert at(m, "ATS12=5") == b"\r\nOK\r\n"  # escape guard time 0.1 s
    at(m, "ATD0140000002", 4.0)
    assert m.take_output(5.0) == b"\r\nCONNECT 9600\r\n"
    m.feed(b"y" * 600, 5.0)  # 0.5 s of air time each way: the echo is back after 6.175 s at the earliest
    m.feed(b"+++", 5.2)
    assert m.take_output(6.0) == b"\r\nOK\r\n"  # command mode, the call still up
    assert m.take_output(7.5) == b""  # the echo arrived meanwhile: held
    assert at(m, "ATO", 7.5) == b"\r\nCONNECT 9600\r\n"
    assert m.take_output(7.5) == b"y" * 600


def test_full_conditions_shape_nothing_even_csd() -> None:
    m = modem("simcom-sim800", preset("full"), **{"0140000002": CallOutcome.ANSWERED})
    at(m, "ATD0140000002", 4.0)
    assert m.take_output(5.0) == b"\r\nCONNECT 9600\r\n"
    m.feed(b"now", 5.5)
    assert m.take_output() == b"now"


def test_mo_sms_answer_waits_one_radio_leg() -> None:
    leg = replace(preset("gprs"), sms_min=3.0, sms_max=3.0)
    m = modem("generic", leg)
    at(m, "AT+CMGF=1")
    assert at(m, 'AT+CMGS="0612345678"', 4.0) == b"\r\n> "
    m.feed(b"hi\x1a", 4.0)
    assert m.take_output() == b""
    m.feed(b"AT\r", 5.0)  # typed while the modem waits for the network: runs after the answer
    assert m.take_output(6.99) == b""
    # the answer, then the waiting AT's
    assert m.take_output(7.0) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n\r\nOK\r\n"
    assert m.sms.sent == [(7.0, "0612345678", "hi")]  # the SMSC got it at the end of the leg


def test_mt_sms_arrives_one_radio_leg_after_the_smsc_hands_it_over() -> None:
    leg = replace(preset("umts"), sms_min=2.5, sms_max=2.5)
    m = modem("generic", leg)
    at(m, "AT+CNMI=2,1,0,0,0;+CMGF=1")
    net = m.net.network
    assert net is not None
    net.submit_sms(3.2, m.identity.msisdn, "+33600000001", "one")
    net.submit_sms(3.3, m.identity.msisdn, "+33600000001", "two")
    # fetched at 4.0 (the modem polls every second), on the air until 6.5
    assert m.take_output(6.49) == b""
    assert m.take_output(6.5) == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    assert b"one" in at(m, "AT+CMGR=1") and b"two" in at(m, "AT+CMGR=2")


def test_url_keys_choose_and_override_the_conditions() -> None:
    spec = parse_virtual_url("virtual://simcom-sim800?netspeed=edge&netdelay=150:550&netloss=0")
    m = build_modem(spec)
    c = m.link.conditions
    assert (c.up_bps, c.down_bps, c.rtt_min, c.rtt_max, c.loss) == (118_400, 236_800, 0.15, 0.55, 0.0)
    assert c.name == "custom"
    assert build_modem(parse_virtual_url("virtual://simcom-sim800")).link.conditions.name == "gprs"
    assert build_modem(parse_virtual_url("virtual://simcom-sim800?net=nb-iot")).link.conditions == preset(
        "nb-iot"
    )
    with pytest.raises(
        VirtualUrlError,
        match=r"^virtual://generic\?netdelay=slow: netdelay='slow': expected round trip in ms",
    ):
        parse_virtual_url("virtual://generic?netdelay=slow")


def test_scenario_step_changes_the_conditions_at_its_time(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "coverage:\n"
        "  - {at: 0, plmn: '20801'}\n"
        "  - {at: 60, plmn: '20801', net: edge, netdelay: 400}\n"
        "  - {at: 90, plmn: '20801', netspeed: '9.6:19.2', netloss: 5}\n"
    )
    scenario = load_scenario(path)
    assert scenario.coverage[1].net == (("net", "edge"), ("netdelay", "400"))
    m = modem("quectel-eg25", preset("lte"))
    schedule(m, scenario, m.net.network)
    m.poll(59.0)
    assert m.link.conditions.name == "lte"
    m.poll(60.0)
    c = m.link.conditions
    assert (c.down_bps, c.rtt_min, c.rtt_max) == (236_800, 0.4, 0.4)
    m.poll(90.0)
    c = m.link.conditions
    assert (c.up_bps, c.down_bps, c.rtt_max, c.loss) == (9_600, 19_200, 0.4, 0.05)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{at: 5, plmn: '20801', netspeed: 5g}", r"s\.yaml:3: coverage\[1\]\.netspeed: netspeed='5g'"),
        ("{at: 5, plmn: '20801', net: [edge]}", r"s\.yaml:3: coverage\[1\]\.net: expected a preset name"),
        (
            "{at: 5, plmn: '20801', netlos: 1}",
            r"s\.yaml:3: coverage\[1\]\.netlos: unknown key \(did you mean 'netloss'\?\)",
        ),
    ],
)
def test_bad_scenario_conditions_name_file_line_and_key(tmp_path: Path, step: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"coverage:\n  - {{at: 0, plmn: '20801'}}\n  - {step}\n")
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def serve_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_serve_options_set_the_conditions_and_bad_ones_exit_2() -> None:
    ok = serve_check("--profile", "quectel-bg96", "--netspeed", "edge", "--netloss", "0")
    assert ok.returncode == 0, ok.stderr
    assert "network conditions custom: up 118.4 / down 236.8 kbit/s, RTT 50-130 ms, loss 0%" in ok.stdout
    default = serve_check("--profile", "quectel-bg96")
    assert "network conditions lte-m: up 375 / down 300 kbit/s" in default.stdout
    bad = serve_check("--profile", "generic", "--netdelay", "9:1")
    assert bad.returncode == 2
    assert bad.stderr == "m2msim modem serve: --netdelay='9:1': the maximum is below the minimum\n"
