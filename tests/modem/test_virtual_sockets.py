"""The modules' TCP/IP stacks: the Internet table and its policy, SIMCom multi-connection, Quectel's
three access modes, UDP, and real endpoints on loopback through the asyncio runner."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from accounting.records import UsageRecord, UsageType
from gateway.apn import ApnCatalog
from gateway.internet import (
    DEFAULT_INTERNET,
    ECHO_ADDRESS,
    STAND_IN,
    InternetError,
    RouteKind,
    load_internet,
    parse_internet,
)
from gateway.network import Network, NetworkConfig
from gateway.wire import HEADER, SYN
from m2msim.yamlio import parse_yaml
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.conditions import Link, preset
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from modem.virtual.scenario import ScenarioError, ServeScenario, load_scenario, provision
from modem.virtual.sockets import UDP_HEADER, Listener, Socket
from modem.virtual.transport import ModemRunner, VirtualUrlError, build_modem, parse_virtual_url
from tests.processes import served_tcp

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WAIT_S = 15.0


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


def setup(profile: str, table: str | None = None, net_preset: str = "full") -> tuple[VirtualModem, Sink]:
    """A registered modem (echo off) with a data session ready on context 1; no link delays by default."""
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    m = VirtualModem(load_profile(profile), network=net, seed=5, epoch=EPOCH, conditions=preset(net_preset))
    if table is not None:
        m.internet = parse_internet(parse_yaml(table, "t.yaml"), "t.yaml")
    provision(net, m, ServeScenario())
    m.poll(3.0)
    m.take_output()
    at(m, "ATE0")
    if profile.startswith("simcom"):
        at(m, 'AT+CSTT="orange.m2m.spec";+CIICR')
        at(m, "AT+CIFSR")
    else:
        at(m, 'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1')
    return m, sink


def at(m: VirtualModem, line: str, now: float | None = None) -> bytes:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output()


def later(m: VirtualModem, seconds: float) -> bytes:
    return m.take_output(m.now + seconds)


def typed(m: VirtualModem, command: str, data: bytes) -> bytes:
    """`command` opens the `> ` prompt, `data` is typed there: the answer."""
    assert at(m, command).endswith(b"> ")
    m.feed(data, m.now)
    return m.take_output()


# ----- the table and the policy ------------------------------------------------------------------


def test_table_routes_names_addresses_and_refuses_the_rest() -> None:
    table = parse_internet(
        parse_yaml(
            "hosts:\n"
            "  broker.example.com: 127.0.0.1:1883\n"
            "  api.example.com: 127.0.0.1\n"
            '  203.0.113.7: "[::1]:8080"\n'
            "  demo.example.com: echo\n"
            "allow: [192.0.2.10, 198.51.100.0/24]\n"
            "unknown: fail\n",
            "t.yaml",
        ),
        "t.yaml",
    )
    broker = table.route("Broker.Example.COM.", 1)
    assert (broker.kind, broker.host, broker.port) == (RouteKind.CONNECT, "127.0.0.1", 1883)
    assert table.route("api.example.com", 80).port == 80
    assert (table.route("203.0.113.7", 1).host, table.route("203.0.113.7", 1).port) == ("::1", 8080)
    assert table.route("demo.example.com", 5).kind is RouteKind.ECHO
    assert table.route("220.180.239.212", 8009).kind is RouteKind.ECHO  # Quectel's demo server
    assert table.route("198.51.100.9", 7).kind is RouteKind.CONNECT  # an allowed network
    assert table.route("10.0.0.9", 7).kind is RouteKind.REFUSED
    assert table.route("8.8.8.8", 53).kind is RouteKind.REFUSED
    assert table.route("nowhere.example", 7).kind is RouteKind.UNRESOLVED
    # DNS as a PPP device sees it: a name with a port gets a stand-in address leading to its endpoint.
    stand_in = table.resolve("broker.example.com")
    assert stand_in is not None and ipaddress.ip_address(stand_in) in STAND_IN
    assert table.route(stand_in, 9).port == 1883
    assert table.resolve("api.example.com") == "127.0.0.1"
    assert table.resolve("nowhere.example") is None
    # The built-in table: every unknown name reaches the echo; loopback is reachable, nothing else.
    assert DEFAULT_INTERNET.route("anything.example", 7).kind is RouteKind.ECHO
    assert DEFAULT_INTERNET.resolve("anything.example") == ECHO_ADDRESS
    assert DEFAULT_INTERNET.route("localhost", 7).kind is RouteKind.CONNECT
    assert DEFAULT_INTERNET.route("192.0.2.10", 7).kind is RouteKind.REFUSED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hosts:\n  a.example: 10.1.2.3\n", "t.yaml:2: hosts.a.example: 10.1.2.3 is not reachable"),
        ("hosts:\n  a.example: 127.0.0.1:99999\n", "t.yaml:2: hosts.a.example: '127.0.0.1:99999': port"),
        ("hosts:\n  a.example: other.example\n", "t.yaml:2: hosts.a.example: 'other.example': not an IP"),
        ("hosts:\n  a.example: 1883\n", "t.yaml:2: hosts.a.example: expected echo"),
        ("allow:\n  - 10.0.0.1/8\n", "t.yaml:2: allow[0]: '10.0.0.1/8'"),
        ("allow: 10.0.0.0/8\n", "t.yaml:1: allow: expected a list"),
        ("hostz: {}\n", "t.yaml:1: hostz: unknown key (did you mean 'hosts'?)"),
        ("unknown: drop\n", "t.yaml:1: unknown: 'drop': expected echo or fail"),
    ],
)
def test_table_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(InternetError) as err:
        load_internet(path)
    assert str(err.value).replace(str(path), "t.yaml").startswith(message)


def test_table_from_the_url_the_scenario_and_the_serve_option(tmp_path: Path) -> None:
    good = tmp_path / "hosts.yaml"
    good.write_text('hosts:\n  broker.example.com: "127.0.0.1:1883"\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  broker.example.com: 10.9.9.9\n")
    modem = build_modem(parse_virtual_url(f"virtual://simcom-sim800?internet={good}"))
    assert modem.internet.route("broker.example.com", 1).port == 1883
    with pytest.raises(VirtualUrlError, match=r"bad.yaml:2: hosts.broker.example.com: 10.9.9.9"):
        build_modem(parse_virtual_url(f"virtual://simcom-sim800?internet={bad}"))
    scenario = tmp_path / "s.yaml"
    scenario.write_text("seed: 1\ninternet:\n  hosts:\n    x.example: echo\n  unknown: fail\n")
    loaded = load_scenario(scenario).internet
    assert loaded is not None and loaded.route("y.example", 1).kind is RouteKind.UNRESOLVED
    scenario.write_text("seed: 1\ninternet: hosts.yaml\n")
    loaded = load_scenario(scenario).internet
    assert loaded is not None and loaded.route("broker.example.com", 1).port == 1883
    scenario.write_text("seed: 1\ninternet:\n  allow: [not-an-address]\n")
    with pytest.raises(ScenarioError, match=r"s.yaml:3: internet.allow\[0\]"):
        load_scenario(scenario)
    run = subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--check", "--internet", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"m2msim modem serve: {bad}:2: hosts.broker.example.com: 10.9.9.9 is not reachable: only loopback "
        "and the addresses under 'allow'"
    ]


def test_refused_destination_gives_each_module_its_connect_failure() -> None:
    m, _sink = setup("simcom-sim800")
    assert at(m, 'AT+CIPSTART="TCP","10.0.0.9",7') == b"\r\nOK\r\n"
    assert later(m, 0.5) == b"\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n"
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n"
    ctx = m.net.context(1)
    assert (ctx.bytes_up, ctx.bytes_down) == (SYN, HEADER)  # the SYN, and the reset
    q, _ = setup("quectel-bg96")
    assert at(q, 'AT+QIOPEN=1,0,"TCP","10.0.0.9",7,0,1') == b"\r\nOK\r\n"
    assert later(q, 0.5) == b"\r\n+QIOPEN: 0,566\r\n"
    assert at(q, "AT+QISTATE") == b"\r\nOK\r\n"  # the failed socket is gone
    assert at(q, 'AT+QIOPEN=1,1,"TCP","10.0.0.9",7,0,2') == b""  # transparent: the answer waits
    assert later(q, 0.5) == b"\r\nERROR\r\n"


def test_unknown_name_with_unknown_fail_is_a_dns_failure() -> None:
    q, _ = setup("quectel-bg96", "unknown: fail\n")
    at(q, 'AT+QIOPEN=1,0,"TCP","nowhere.example",80,0,0')
    assert later(q, 0.5) == b"\r\n+QIOPEN: 0,565\r\n"
    m, _ = setup("simcom-sim800", "unknown: fail\n")
    at(m, "AT+CIPMUX?")
    at(m, 'AT+CIPSTART="UDP","nowhere.example",53')
    assert later(m, 0.5) == b"\r\nSTATE: UDP CLOSED\r\n\r\nCONNECT FAIL\r\n"


def test_a_real_destination_without_a_served_modem_fails_to_connect() -> None:
    m, _ = setup("quectel-bg96")  # no event loop: no real sockets
    at(m, 'AT+QIOPEN=1,0,"TCP","127.0.0.1",9,0,0')
    assert later(m, 0.5) == b"\r\n+QIOPEN: 0,566\r\n"


def test_the_link_of_the_rat_times_the_handshake_and_the_echo() -> None:
    m, _ = setup("simcom-sim800", net_preset="gprs")
    twin = Link(preset("gprs"), "simcom-sim800/5/0")  # the modem's link: same preset, same seed
    start = m.now
    handshake = twin.rtt(start, HANDSHAKE_UP, HANDSHAKE_DOWN)
    assert handshake > 0.1  # GPRS: hundreds of milliseconds
    at(m, 'AT+CIPSTART="TCP","echo.example",7')
    assert m.next_deadline() == pytest.approx(start + handshake)
    assert m.take_output(start + handshake) == b"\r\nCONNECT OK\r\n"
    at(m, "AT+CIPSEND=1000")
    m.feed(b"x" * 1000, m.now)
    assert m.take_output() == b""  # normal mode: SEND OK when the server's ACK is back
    there = twin.up.send(m.now, 1000 + HEADER)
    back = twin.down.send(there, 1000 + HEADER)
    assert m.take_output(back - 1e-6) == b""
    assert m.take_output(back) == b"\r\nSEND OK\r\n" + b"x" * 1000  # the ACK came on the echo


@pytest.mark.parametrize(
    ("profile", "start", "send", "ask", "counts"),
    [
        (
            "quectel-bg96",
            'AT+QIOPEN=1,0,"TCP","echo.example",7,0,0',
            "AT+QISEND=0,4",
            "AT+QISEND=0,0",
            "+QISEND",
        ),
        (
            "simcom-sim800",
            'AT+CIPQSEND=1;+CIPSTART="TCP","echo.example",7',  # quick send: DATA ACCEPT at once
            "AT+CIPSEND=4",
            "AT+CIPACK",
            "+CIPACK",
        ),
    ],
)
def test_sent_bytes_are_acknowledged_once_they_reach_the_other_end(
    profile: str, start: str, send: str, ask: str, counts: str
) -> None:
    """AT+QISEND=<id>,0 and AT+CIPACK: what a host polls before closing, to know the data is there."""
    m, _ = setup(profile, net_preset="gprs")
    at(m, start)
    later(m, 5.0)
    sent = b"\r\nDATA ACCEPT:4\r\n" if profile.startswith("simcom") else b"\r\nSEND OK\r\n"
    assert typed(m, send, b"ping") == sent
    assert at(m, ask) == f"\r\n{counts}: 4,0,4\r\n\r\nOK\r\n".encode()  # still on the uplink
    later(m, 5.0)
    assert at(m, ask) == f"\r\n{counts}: 4,4,0\r\n\r\nOK\r\n".encode()


def test_simcom_quick_send_answers_data_accept() -> None:
    """AT+CIPQSEND=1 (SIM800 manual §8.2.4), as TinyGSM sets it: DATA ACCEPT instead of SEND OK."""
    m, _ = setup("simcom-sim800")
    assert at(m, "AT+CIPQSEND=1;+CIPQSEND?") == b"\r\n+CIPQSEND: 1\r\n\r\nOK\r\n"
    at(m, 'AT+CIPSTART="TCP","echo.example",7')
    later(m, 0.0)
    assert typed(m, "AT+CIPSEND=3", b"\x00\x1a\x1b") == b"\r\nDATA ACCEPT:3\r\n"
    assert later(m, 0.1) == b"\x00\x1a\x1b"
    for line in ("AT+CIPSHUT", "AT+CIPMUX=1", 'AT+CSTT="orange.m2m.spec";+CIICR;+CIFSR'):
        at(m, line)
    at(m, 'AT+CIPSTART=2,"TCP","echo.example",7')
    later(m, 0.0)
    assert typed(m, "AT+CIPSEND=2", b"ping\x1a") == b"\r\nDATA ACCEPT:2,4\r\n"


def test_the_sim800_answers_tinygsm_s_connection_sequence_as_it_waits_for() -> None:
    """TinyGSM's SIM800 client after its bearer set-up: each line's answer is what it waits for (an
    OK for `AT+CIFSR;E0`: the IP has no OK of its own, the E0 gives the line one)."""
    m, _ = setup("simcom-sim800")
    for line in ("AT+CIPSHUT", "AT+CIPMUX=1", "AT+CIPQSEND=1", "AT+CIPRXGET=1"):
        at(m, line)
    assert at(m, 'AT+CSTT="orange.m2m.spec","",""') == b"\r\nOK\r\n"
    assert at(m, "AT+CIICR") == b"\r\nOK\r\n"
    assert at(m, "AT+CIFSR;E0") == f"\r\n{m.net.context(1).ip}\r\n\r\nOK\r\n".encode()
    assert at(m, 'AT+CDNSCFG="8.8.8.8","8.8.4.4"') == b"\r\nOK\r\n"
    assert at(m, "AT+CDNSCFG?") == b"\r\nPrimaryDns: 8.8.8.8\r\nSecondaryDns: 8.8.4.4\r\n\r\nOK\r\n"
    at(m, 'AT+CIPSTART=0,"TCP","echo.example",7')
    assert later(m, 0.0) == b"\r\n0, CONNECT OK\r\n"
    assert typed(m, "AT+CIPSEND=0,2", b"\x00\xff") == b"\r\nDATA ACCEPT:0,2\r\n"
    assert later(m, 0.1) == b"\r\n+CIPRXGET: 1,0\r\n"
    assert at(m, "AT+CIPRXGET=2,0,64") == b"\r\n+CIPRXGET: 2,0,2,0\r\n\x00\xff\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSTATUS=0").startswith(b'\r\n+CIPSTATUS: 0,0,"TCP","echo.example","7","CONNECTED"')
    assert at(m, "AT+CIPCLOSE=0,1") == b"\r\n0, CLOSE OK\r\n"


# ----- SIMCom multi-connection ---------------------------------------------------------------------


def test_simcom_reports_the_network_ending_its_context_with_pdp_deact() -> None:
    """SIM800 manual, URCs: `+PDP: DEACT`, "GPRS is disconnected by network"; the state is PDP DEACT
    (+CIPSTATUS) until AT+CIPSHUT, whether a connection was open or not."""
    m, _ = setup("simcom-sim800")
    at(m, 'AT+CIPSTART="TCP","220.180.239.212",8009')
    assert later(m, 0.3) == b"\r\nCONNECT OK\r\n"
    m.net.lose()
    assert m.take_output() == b"\r\nCLOSED\r\n\r\n+PDP: DEACT\r\n"
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: PDP DEACT\r\n"
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"
    idle, _ = setup("simcom-sim800")  # the context up, no connection: +PDP: DEACT all the same
    idle.net.lose()
    assert idle.take_output() == b"\r\n+PDP: DEACT\r\n"
    assert at(idle, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: PDP DEACT\r\n"


def test_simcom_leaving_the_network_itself_reports_no_pdp_deact() -> None:
    m, _ = setup("simcom-sim800")
    m.net.set_cfun(0)
    assert m.take_output() == b""


def test_simcom_multi_connection_ids_receive_status_and_close() -> None:
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    m = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=preset("full")
    )
    provision(net, m, ServeScenario())
    m.poll(3.0)
    m.take_output()
    at(m, "ATE0")
    assert at(m, "AT+CIPMUX=1;+CIPMUX?") == b"\r\n+CIPMUX: 1\r\n\r\nOK\r\n"
    at(m, 'AT+CSTT="orange.m2m.spec";+CIICR')
    at(m, "AT+CIFSR")
    assert at(m, "AT+CIPMUX=0") == b"\r\nERROR\r\n"  # §8.2.1: only in IP INITIAL
    assert at(m, 'AT+CIPSTART=0,"TCP","echo.example",7') == b"\r\nOK\r\n"
    assert later(m, 0.0) == b"\r\n0, CONNECT OK\r\n"  # no link delays here: at once
    assert at(m, 'AT+CIPSTART=3,"UDP","116.228.221.51",8500') == b"\r\nOK\r\n"
    assert later(m, 0.0) == b"\r\n3, CONNECT OK\r\n"
    assert at(m, 'AT+CIPSTART=0,"TCP","echo.example",7') == b"\r\nERROR\r\n\r\n0, ALREADY CONNECT\r\n"
    assert at(m, "AT+CIPSEND=3,4") == b"\r\n> "
    m.feed(b"ping", m.now)
    assert m.take_output() == b"\r\n3, SEND OK\r\n"
    assert later(m, 0.2) == b"\r\n+RECEIVE,3,4:\r\nping"
    assert at(m, "AT+CIPSEND=0") == b"\r\n> "
    m.feed(b"hello\x1a", m.now)
    assert m.take_output() == b"\r\n0, SEND OK\r\n"
    assert later(m, 0.2) == b"\r\n+RECEIVE,0,5:\r\nhello"
    status = at(m, "AT+CIPSTATUS").decode()
    assert status.startswith("\r\nOK\r\n\r\nSTATE: IP PROCESSING\r\n\r\n")
    assert 'C: 0,0,"TCP","echo.example","7","CONNECTED"' in status
    assert 'C: 1,,"","","","INITIAL"' in status
    assert 'C: 3,0,"UDP","116.228.221.51","8500","CONNECTED"' in status
    assert (
        at(m, "AT+CIPSTATUS=3")
        == b'\r\n+CIPSTATUS: 3,0,"UDP","116.228.221.51","8500","CONNECTED"\r\n\r\nOK\r\n'
    )
    # Manual receive, per connection.
    at(m, "AT+CIPRXGET=1;+CIPSEND=0,6")
    m.feed(b"abcdef", m.now)
    m.take_output()
    assert later(m, 0.2) == b"\r\n+CIPRXGET: 1,0\r\n"
    assert at(m, "AT+CIPRXGET=2,0,4") == b"\r\n+CIPRXGET: 2,0,4,2\r\nabcd\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPRXGET=4,0") == b"\r\n+CIPRXGET: 4,0,2\r\n\r\nOK\r\n"
    # §8.2.6: AT+CIPCLOSE=<id>[,<n>], <n> 0 slow close or 1 quick close; another <n> closes nothing.
    assert at(m, "AT+CIPCLOSE=3,2") == b"\r\nERROR\r\n"
    assert 'C: 3,0,"UDP","116.228.221.51","8500","CONNECTED"' in at(m, "AT+CIPSTATUS").decode()
    assert at(m, "AT+CIPCLOSE=3") == b"\r\n3, CLOSE OK\r\n"
    assert at(m, "AT+CIPCLOSE=3") == b"\r\nERROR\r\n"
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    ctx = m.net.context(1)
    udp = 4 + UDP_HEADER
    # each echo carries the ACK of its data; the modem's delayed ACK of each echo goes alone 0.2 s
    # later; the close: the modem's FIN and the last ACK up, the echo server's FIN down
    tcp_up = HANDSHAKE_UP + (5 + 2 * HEADER) + (6 + 2 * HEADER) + 2 * HEADER
    tcp_down = HANDSHAKE_DOWN + (5 + HEADER) + (6 + HEADER) + HEADER
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (tcp_up + udp, tcp_down + udp) == (ctx.bytes_up, ctx.bytes_down)


# ----- Quectel's access modes ----------------------------------------------------------------------


def test_quectel_push_mode_shows_the_data_with_the_urc() -> None:
    q, _ = setup("quectel-bg96")
    at(q, 'AT+QIOPEN=1,2,"UDP","220.180.239.212",8062,0,1')
    assert later(q, 0.3) == b"\r\n+QIOPEN: 2,0\r\n"
    at(q, "AT+QISEND=2,5")
    q.feed(b"hello", q.now)
    assert q.take_output() == b"\r\nSEND OK\r\n"
    assert later(q, 0.2) == b'\r\n+QIURC: "recv",2,5\r\nhello\r\n'
    assert (
        at(q, "AT+QISTATE=1,2")
        == b'\r\n+QISTATE: 2,"UDP","220.180.239.212",8062,0,2,1,0,1,"uart1"\r\n\r\nOK\r\n'
    )
    assert at(q, "AT+QISWTMD=2,0") == b"\r\nOK\r\n"  # to buffer mode
    at(q, "AT+QISEND=2,2")
    q.feed(b"hi", q.now)
    q.take_output()
    assert later(q, 0.2) == b'\r\n+QIURC: "recv",2\r\n'
    assert at(q, "AT+QIRD=2") == b"\r\n+QIRD: 2\r\nhi\r\n\r\nOK\r\n"


def test_quectel_reports_the_network_s_end_of_the_context_and_keeps_its_sockets_closing() -> None:
    """BG96 TCP/IP manual: a socket the network closes is "closing" (state 4) until AT+QICLOSE, and the
    end of its PDP context is `+QIURC: "pdpdeact",<contextID>`, which the host answers with AT+QIDEACT."""
    q, _ = setup("quectel-bg96")
    at(q, "AT+CMEE=1")
    at(q, 'AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,0')
    assert later(q, 0.3) == b"\r\n+QIOPEN: 0,0\r\n"
    at(q, "AT+QISEND=0,4")
    q.feed(b"ping", q.now)
    q.take_output()
    assert later(q, 0.2) == b'\r\n+QIURC: "recv",0\r\n'  # unread when coverage goes
    q.net.lose()
    assert q.take_output() == b'\r\n+QIURC: "closed",0\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    assert at(q, "AT+QISTATE=1,0").endswith(b',0,4,1,0,0,"uart1"\r\n\r\nOK\r\n')
    assert at(q, 'AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,0') == b"\r\n+CME ERROR: 563\r\n"
    assert at(q, "AT+QIRD=0,1500") == b"\r\n+QIRD: 4\r\nping\r\n\r\nOK\r\n"
    assert at(q, "AT+QIACT?") == b"\r\nOK\r\n"  # the context is gone
    assert at(q, "AT+QIDEACT=1;+QISTATE") == b"\r\nOK\r\n"  # and with it the socket


def test_quectel_leaving_the_network_itself_frees_the_sockets_without_pdpdeact() -> None:
    q, _ = setup("quectel-bg96")
    at(q, 'AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,0')
    assert later(q, 0.3) == b"\r\n+QIOPEN: 0,0\r\n"
    q.net.set_cfun(0)  # the module leaves the network itself: no report of the network's
    assert q.take_output() == b'\r\n+QIURC: "closed",0\r\n'
    assert at(q, "AT+QISTATE") == b"\r\nOK\r\n"


def test_quectel_transparent_mode_escape_buffer_and_back() -> None:
    q, _ = setup("quectel-bg96")
    assert at(q, 'AT+QIOPEN=1,0,"TCP","echo.example",7,0,2') == b""
    assert later(q, 0.3) == b"\r\nCONNECT\r\n"
    assert q.in_data_mode
    q.feed(b"raw bytes", q.now + 2.0)
    assert later(q, 0.2) == b"raw bytes"  # the echo, straight on the port
    assert at(q, "AT+QISTATE") == b""  # in data mode a command line is data too
    assert later(q, 0.2) == b"AT+QISTATE\r"
    # "+++" after a quiet second, then a quiet second: command mode, the socket in buffer mode.
    q.feed(b"+++", q.now + 1.5)
    assert later(q, 1.1) == b"\r\nOK\r\n"
    assert not q.in_data_mode
    assert at(q, "AT+QISTATE").endswith(b',0,2,1,0,0,"uart1"\r\n\r\nOK\r\n')
    at(q, "AT+QISEND=0,3")
    q.feed(b"abc", q.now)
    q.take_output()
    assert later(q, 0.2) == b'\r\n+QIURC: "recv",0\r\n'
    # ATO: back to the socket; what was buffered comes first, after CONNECT.
    assert at(q, "ATO") + later(q, 0.0) == b"\r\nCONNECT\r\nabc"
    q.feed(b"+++", q.now + 1.5)
    later(q, 1.1)
    assert at(q, "AT+QISWTMD=0,2") == b"\r\nCONNECT\r\n"
    assert q.in_data_mode


# ----- real endpoints on loopback, through the asyncio runner --------------------------------------


class Dte:
    """The DTE's view of a modem driven on the running loop."""

    def __init__(self, modem: VirtualModem, speed: float = 1.0) -> None:
        self.buf = bytearray()
        self.changed = asyncio.Event()
        clock = LoopClock(asyncio.get_running_loop(), modem.now, speed)
        self.runner = ModemRunner(modem, clock, self._sink)

    def _sink(self, data: bytes) -> None:
        self.buf += data
        self.changed.set()

    async def expect(self, token: bytes) -> bytes:
        async with asyncio.timeout(WAIT_S):
            while (i := self.buf.find(token)) < 0:
                self.changed.clear()
                await self.changed.wait()
        out = bytes(self.buf[: i + len(token)])
        del self.buf[: i + len(token)]
        return out

    async def at(self, line: str, until: bytes = b"OK\r\n") -> bytes:
        self.runner.feed(line.encode() + b"\r")
        return await self.expect(until)

    def write(self, data: bytes) -> None:
        self.runner.feed(data)

    async def close(self) -> None:
        self.runner.close()
        await asyncio.sleep(0)  # one turn of the loop: the closed transports release their sockets


@pytest.fixture
async def upper_server() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """A loopback TCP server answering each chunk in upper case; its port and its open connections."""
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[object]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            while data := await reader.read(65536):
                writer.write(data.upper())
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], writers
    finally:
        for w in writers:
            w.close()
        await asyncio.gather(*handlers, return_exceptions=True)  # each sees its end of file
        server.close()
        await server.wait_closed()


class UdpUpper(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data.upper(), addr)


async def test_simcom_real_tcp_two_connections_and_the_remote_closing(
    upper_server: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, writers = upper_server
    m, sink = setup("simcom-sim800", f'hosts:\n  api.example.com: "127.0.0.1:{port}"\n')
    at(m, "AT+CIPSHUT")
    at(m, "AT+CIPMUX=1")
    at(m, 'AT+CSTT="orange.m2m.spec";+CIICR')
    at(m, "AT+CIFSR")
    dte = Dte(m, speed=0.01)  # the host's steps take no simulated time: no delayed ACK runs out
    await dte.at('AT+CIPSTART=1,"TCP","api.example.com",80', b"1, CONNECT OK\r\n")
    await dte.at(f'AT+CIPSTART=4,"TCP","127.0.0.1",{port}', b"4, CONNECT OK\r\n")
    await dte.at("AT+CIPSEND=4,5", b"> ")
    dte.write(b"hello")
    await dte.expect(b"4, SEND OK\r\n")
    assert await dte.expect(b"HELLO") == b"\r\n+RECEIVE,4,5:\r\nHELLO"
    await dte.at("AT+CIPSEND=1,3", b"> ")
    dte.write(b"abc")
    assert (await dte.expect(b"ABC")).endswith(b"\r\n+RECEIVE,1,3:\r\nABC")
    assert len(writers) == 2
    writers[0].close()  # the server ends connection 1
    await dte.expect(b"\r\n1, CLOSED\r\n")
    assert b'C: 1,,"","","","INITIAL"' in await dte.at("AT+CIPSTATUS", b'C: 5,,"","","","INITIAL"')
    await dte.at("AT+CIPCLOSE=4", b"4, CLOSE OK\r\n")
    await dte.at("AT+CIPSHUT", b"SHUT OK\r\n")
    await dte.close()
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA and r.bytes_up]
    # the answers carry the ACKs of the data.  Connection 4, closed by the module: its FIN (with
    # the ACK of the answer) and the last ACK up, the server's FIN down.  Connection 1, closed by
    # the server after its answer: its FIN down, the module's FIN (with the ACK) up, the last ACK
    # down.
    up = 2 * HANDSHAKE_UP + (5 + HEADER) + 2 * HEADER + (3 + HEADER) + HEADER
    down = 2 * HANDSHAKE_DOWN + (5 + HEADER) + HEADER + (3 + HEADER) + 2 * HEADER
    assert (rec.bytes_up, rec.bytes_down) == (up, down)


async def test_simcom_connection_refused_by_the_endpoint_is_connect_fail_and_billed() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m, _ = setup("simcom-sim800")
    dte = Dte(m)
    out = await dte.at(f'AT+CIPSTART="TCP","127.0.0.1",{port}', b"CONNECT FAIL\r\n")
    assert out == b"\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n"
    ctx = m.net.context(1)
    assert (ctx.bytes_up, ctx.bytes_down) == (SYN, HEADER)  # the SYN, and the endpoint's reset
    await dte.close()


@pytest.mark.parametrize(
    ("profile", "start", "failure"),
    [
        (
            "simcom-sim800",
            'AT+CIPSTART="TCP","127.0.0.1",{}',
            b"\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n",
        ),
        ("quectel-bg96", 'AT+QIOPEN=1,0,"TCP","127.0.0.1",{},0,0', b"\r\n+QIOPEN: 0,566\r\n"),
    ],
)
async def test_an_endpoint_that_never_answers_times_out_on_the_module_s_clock(
    profile: str, start: str, failure: bytes
) -> None:
    """75 s of the module's clock (SIM800 manual §8.2.2), not of the host's: 75 ms at speed 1,000."""
    import socket

    with socket.create_server(("127.0.0.1", 0), backlog=0) as listening:
        port = listening.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the queue: the next SYN is dropped
            m, _ = setup(profile)
            dte = Dte(m, speed=1000.0)
            try:
                assert (await dte.at(start.format(port), failure)).endswith(failure)
            finally:
                await dte.close()
    ctx = m.net.context(1)
    # the SYN and its retransmissions at 1, 3, 7, 15, 31 and 63 s, never answered (one SYN before)
    assert (ctx.bytes_up, ctx.bytes_down) == (7 * SYN, 0)


async def test_quectel_real_transparent_mode_ends_with_no_carrier(
    upper_server: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, writers = upper_server
    q, _ = setup("quectel-bg96")
    dte = Dte(q, speed=50.0)  # the +++ guard times (1 s each) pass in 20 ms
    await dte.at(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2', b"\r\nCONNECT\r\n")
    dte.write(b"through")
    assert await dte.expect(b"THROUGH") == b"THROUGH"
    await asyncio.sleep(1.5 / 50)  # the guard time before "+++" is itself the thing under test
    dte.write(b"+++")
    await dte.expect(b"\r\nOK\r\n")
    writers[0].write(b"while away")
    await dte.expect(b'\r\n+QIURC: "recv",0\r\n')  # buffer mode now
    assert await dte.at("AT+QIRD=0,100") == b"\r\n+QIRD: 10\r\nwhile away\r\n\r\nOK\r\n"
    await dte.at("ATO", b"\r\nCONNECT\r\n")
    writers[0].close()
    await dte.expect(b"\r\nNO CARRIER\r\n")
    assert not q.in_data_mode
    assert await dte.at("ATO", b"NO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
    await dte.close()


@pytest.mark.parametrize("profile", ["simcom-sim800", "quectel-bg96"])
async def test_real_udp_on_both_stacks(profile: str) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(UdpUpper, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    m, _sink = setup(profile, f'hosts:\n  time.example.com: "127.0.0.1:{port}"\n')
    dte = Dte(m)
    send: Callable[[int], str]
    if profile.startswith("simcom"):
        await dte.at('AT+CIPHEAD=1;+CIPSTART="UDP","time.example.com",123', b"CONNECT OK\r\n")
        send = "AT+CIPSEND={}".format
        reply = b"\r\n+IPD,4:TICK"
    else:
        await dte.at('AT+QIOPEN=1,0,"UDP","time.example.com",123,0,1', b"+QIOPEN: 0,0\r\n")
        send = "AT+QISEND=0,{}".format
        reply = b'\r\n+QIURC: "recv",0,4\r\nTICK'
    await dte.at(send(4), b"> ")
    dte.write(b"tick")
    await dte.expect(b"SEND OK\r\n")
    assert (await dte.expect(b"TICK")).endswith(reply)
    ctx = m.net.context(1)
    assert (ctx.bytes_up, ctx.bytes_down) == (4 + UDP_HEADER, 4 + UDP_HEADER)
    await dte.close()
    transport.close()


class FakeIO:
    """A `SocketIO` that connects at once and records what the stack asks of it."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.pauses: list[bool] = []

    def connect(self, sock: Socket, host: str, port: int) -> None:
        sock.handle = self

    def send(self, sock: Socket, data: bytes) -> None:
        self.sent.append(data)

    def close(self, sock: Socket) -> None:
        sock.handle = None

    def pause(self, sock: Socket, paused: bool) -> None:
        self.pauses.append(paused)

    def listen(self, listener: Listener) -> None:
        listener.handle = self

    def unlisten(self, listener: Listener) -> None:
        listener.handle = None


def test_a_fast_server_is_paused_while_a_window_waits_for_the_gprs_downlink_or_unread() -> None:
    q, _ = setup("quectel-bg96", net_preset="gprs")
    io = FakeIO()
    q.tcp.io = io
    at(q, 'AT+QIOPEN=1,0,"TCP","127.0.0.1",5000,0,0')
    sock = q.tcp.sockets[0]
    q.tcp.connected(sock)  # the real connect is done; the handshake still crosses the link
    assert q.take_output() == b""
    q.poll(q.now + 5.0)
    assert q.take_output() == b"\r\n+QIOPEN: 0,0\r\n"
    at(q, "AT+QISEND=0,3")
    q.feed(b"get", q.now)
    assert q.take_output() == b"\r\nSEND OK\r\n" and io.sent == []  # still on the uplink
    q.poll(q.now + 5.0)
    assert io.sent == [b"get"]
    for _ in range(50):  # 50 x 1,460 B from the server at once: more than a window
        q.tcp.received(sock, b"d" * 1460)
    assert io.pauses == [True]
    assert sock.waiting == 50 * 1460
    q.poll(q.now + 600.0)  # GPRS downlink: the window is across, but unread in the module's buffer
    assert io.pauses == [True] and sock.waiting == 0
    assert q.take_output() == b'\r\n+QIURC: "recv",0\r\n'
    assert at(q, "AT+QIRD=0,0") == b"\r\n+QIRD: 73000,0,73000\r\n\r\nOK\r\n"
    while len(sock.rx) > 65535 // 2:  # AT+QIRD with a length drains it; reading resumes at half
        assert io.pauses == [True]
        assert at(q, "AT+QIRD=0,1500").startswith(b"\r\n+QIRD: 1500\r\n")
    assert io.pauses == [True, False]
    ctx = q.net.context(1)
    assert ctx.payload_down == 73000 and ctx.payload_up == 3


def test_serve_with_the_scenario_s_internet_reaches_a_local_server_and_bills_it(tmp_path: Path) -> None:
    """`m2msim modem serve --scenario` with an inline `internet:` table: a socket to a name reaches a
    loopback server, and the records file carries its bytes with the modelled headers."""
    import csv
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo_once() -> None:
        peer, _ = listener.accept()
        with peer:
            while data := peer.recv(4096):
                peer.sendall(data)

    thread = threading.Thread(target=echo_once, daemon=True)
    thread.start()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f'start: 2026-03-02T08:00:00Z\ninternet:\n  hosts:\n    backend.example.com: "127.0.0.1:{port}"\n'
    )
    records = tmp_path / "usage.csv"
    try:
        with served_tcp(
            "--profile",
            "quectel-bg96",
            "--scenario",
            str(scenario),
            "--records",
            str(records),
            timeout=WAIT_S,
        ) as dte:
            dte.send(b"ATE0;+CEREG=1;+CEREG?\r")
            dte.until(b"+CEREG: 1,")
            if not dte.got.startswith(b"1"):  # not yet registered: the URC says when
                dte.until(b"\r\n+CEREG: 1\r\n")
            dte.send(b'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1\r')
            dte.until(b"OK\r\n")
            dte.send(b'AT+QIOPEN=1,0,"TCP","backend.example.com",80,0,1\r')
            dte.until(b"+QIOPEN: 0,0\r\n")
            dte.send(b"AT+QISEND=0,5\r")
            dte.until(b"> ")
            dte.send(b"hello")
            dte.until(b'+QIURC: "recv",0,5\r\nhello\r\n')
            dte.send(b"AT+QICLOSE=0;+QIDEACT=1\r")
            dte.until(b"OK\r\n")
    finally:
        listener.close()
    thread.join(WAIT_S)
    with records.open() as f:
        (data,) = [row for row in csv.DictReader(f) if row["type"] == "data"]
    # the answer carries the ACK of the data; the module's FIN, sent at once, the ACK of the answer
    up = HANDSHAKE_UP + (5 + HEADER) + 2 * HEADER  # the data, the module's FIN, the last ACK
    down = HANDSHAKE_DOWN + (5 + HEADER) + HEADER  # the answer, the server's FIN
    assert (int(data["bytes_up"]), int(data["bytes_down"])) == (up, down)


def test_stand_in_addresses_are_no_device_address() -> None:
    """A device on any APN never gets an address that DNS hands out for a name (or the PPP link's own)."""
    pools = [apn.pool for apn in ApnCatalog.load().apns.values()]
    assert pools and not any(STAND_IN.overlaps(pool) for pool in pools)
    assert not STAND_IN.overlaps(ipaddress.ip_network("100.64.0.0/24"))  # the PPP peer and DNS servers
