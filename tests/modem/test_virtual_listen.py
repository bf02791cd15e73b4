"""Servers on the module: SIMCom AT+CIPSERVER and Quectel "TCP LISTENER", reached from the host
through the Internet table's `inbound` ports when the device is on a private APN."""

from __future__ import annotations

import asyncio
import csv
import socket
from pathlib import Path

import pytest

from accounting.records import UsageType
from gateway.internet import InternetError, RouteKind, load_internet, parse_internet
from gateway.wire import HEADER
from m2msim.yamlio import parse_yaml
from modem.virtual.core import VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from tests.modem.test_virtual_sockets import WAIT_S, Dte, Sink, at, later
from tests.modem.test_virtual_sockets import setup as ready_modem
from tests.processes import served_tcp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def simcom_mux(table: str | None = None, apn: str = "orange.m2m.spec") -> tuple[VirtualModem, Sink]:
    """A SIM800 in multi-connection mode with its session up on `apn` (after AT+CIFSR)."""
    m, sink = ready_modem("simcom-sim800", table)
    at(m, "AT+CIPSHUT")
    at(m, "AT+CIPMUX=1")
    at(m, f'AT+CSTT="{apn}";+CIICR')
    at(m, "AT+CIFSR")
    return m, sink


# ----- the table's `inbound` section and the policy ------------------------------------------------


def test_inbound_ports_reach_devices_on_private_apns_only() -> None:
    table = parse_internet(parse_yaml("inbound:\n  8080: 18080\n  502: 10502\n", "t.yaml"), "t.yaml")
    route = table.inbound_route("10.64.0.7", 8080)
    assert (route.kind, route.host, route.port) == (RouteKind.CONNECT, "127.0.0.1", 18080)
    assert table.inbound_route("10.64.0.7", 502).port == 10502
    unmapped = table.inbound_route("10.64.0.7", 23)
    assert unmapped.kind is RouteKind.REFUSED and "port 23: not under 'inbound'" in unmapped.reason
    public = table.inbound_route("198.18.0.5", 8080)  # orange.m2m's public pool (data/apns.yaml)
    assert public.kind is RouteKind.REFUSED and "not on a private APN" in public.reason
    assert table.inbound_route(None, 8080).kind is RouteKind.REFUSED  # no session: no address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inbound:\n  8080: 70000\n", r"h.yaml:2: inbound.8080: host port 70000: expected a port 1..65535"),
        ("inbound:\n  0: 18080\n", r"h.yaml:2: inbound.0: device port 0: expected a port 1..65535"),
        ('inbound:\n  8080: "18080"\n', r"h.yaml:2: inbound.8080: host port '18080': expected a port"),
        ("inbound:\n  80: 18080\n  81: 18080\n", r"h.yaml:3: inbound.81: host port 18080 is given twice"),
        ("inbound: [8080]\n", r"h.yaml:1: inbound"),
    ],
)
def test_inbound_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(text)
    with pytest.raises(InternetError, match=message.replace("h.yaml", f"{path}")):
        load_internet(path)


# ----- SIMCom AT+CIPSERVER, sans-IO ------------------------------------------------------------------


def test_simcom_cipserver_needs_an_address() -> None:
    m, _ = ready_modem("simcom-sim800")
    at(m, "AT+CIPSHUT")
    at(m, "AT+CIPMUX=1")
    assert at(m, "AT+CIPSERVER=1,8080") == b"\r\nERROR\r\n"  # IP INITIAL: no session, no address
    assert (
        at(m, "AT+CIPSERVER=?") == b"\r\n+CIPSERVER: (0-CLOSE SERVER, 1-OPEN SERVER),(1,65535)\r\n\r\nOK\r\n"
    )
    assert at(m, "AT+CIPSERVER?") == b"\r\n+CIPSERVER: 0\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSERVER=0") == b"\r\nERROR\r\n"  # no server to close


def test_simcom_cipserver_opens_shows_and_closes_the_server() -> None:
    m, _ = simcom_mux()
    assert at(m, "AT+CIPSERVER=1,8080") == b"\r\nOK\r\n\r\nSERVER OK\r\n"
    assert at(m, "AT+CIPSERVER=1,8081") == b"\r\nERROR\r\n"  # one server
    assert at(m, "AT+CIPSERVER?") == b"\r\n+CIPSERVER: 1,8080,0,0\r\n\r\nOK\r\n"
    status = at(m, "AT+CIPSTATUS")
    assert b"STATE: IP PROCESSING\r\n" in status
    assert status.endswith(b'C: 5,,"","","","INITIAL"\r\nS: 0,0,"8080","LISTENING"\r\n')
    # No inbound port in the table: the server listens, nobody can reach it.
    assert m.tcp.listeners[0].route.kind is RouteKind.REFUSED
    assert at(m, "AT+CIPSERVER=0") == b"\r\nOK\r\n\r\nSERVER CLOSE\r\n"
    assert not m.tcp.listeners and b"S: " not in at(m, "AT+CIPSTATUS")
    at(m, "AT+CIPSERVER=1,8080")
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"  # the session ends: the server with it
    assert not m.tcp.listeners


def test_simcom_single_connection_server_listens_and_blocks_cipstart() -> None:
    m, _ = ready_modem("simcom-sim800")
    assert at(m, 'AT+CIPSTART="TCP","116.228.221.51",8500') == b"\r\nOK\r\n"
    assert at(m, "AT+CIPSERVER=1,8080").endswith(b"\r\nERROR\r\n")  # the one connection is in use
    assert at(m, "AT+CIPCLOSE") == b"\r\nCLOSE OK\r\n"
    assert at(m, "AT+CIPSERVER=1,8080") == b"\r\nOK\r\n\r\nSERVER OK\r\n"
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: SERVER LISTENING\r\n"
    assert at(m, 'AT+CIPSTART="TCP","116.228.221.51",8500') == b"\r\nERROR\r\n"
    assert at(m, "AT+CIPSERVER=0") == b"\r\nOK\r\n\r\nSERVER CLOSE\r\n"
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n"


# ----- SIMCom through the loop: a host program connects to the device --------------------------------


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(WAIT_S):
        return await asyncio.open_connection("127.0.0.1", port)


async def test_simcom_server_accepts_host_clients_exchanges_and_bills() -> None:
    host_port = free_port()
    m, sink = simcom_mux(f"inbound:\n  8080: {host_port}\n")
    dte = Dte(m, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s: 2 s of the host's
    await dte.at("AT+CIPSERVER=1,8080", b"SERVER OK\r\n")
    reader0, writer0 = await connect(host_port)
    local0 = writer0.get_extra_info("sockname")
    assert await dte.expect(b"0, REMOTE IP: 127.0.0.1\r\n") == b"\r\n0, REMOTE IP: 127.0.0.1\r\n"
    writer0.write(b"hello")
    assert await dte.expect(b"hello") == b"\r\n+RECEIVE,0,5:\r\nhello"
    await dte.at("AT+CIPSEND=0,3", b"> ")
    dte.write(b"abc")
    await dte.expect(b"0, SEND OK\r\n")
    async with asyncio.timeout(WAIT_S):
        assert await reader0.readexactly(3) == b"abc"
    status = await dte.at("AT+CIPSTATUS", b'"LISTENING"\r\n')
    assert f'C: 0,0,"TCP","127.0.0.1","{local0[1]}","CONNECTED"'.encode() in status
    _, writer1 = await connect(host_port)  # a second client takes the next free number
    await dte.expect(b"\r\n1, REMOTE IP: 127.0.0.1\r\n")
    writer0.close()  # the first client leaves
    await dte.expect(b"\r\n0, CLOSED\r\n")
    await dte.at("AT+CIPCLOSE=1", b"1, CLOSE OK\r\n")
    await dte.at("AT+CIPSERVER=0", b"SERVER CLOSE\r\n")
    with pytest.raises(ConnectionRefusedError):  # nothing serves the port any more
        await connect(host_port)
    await dte.at("AT+CIPSHUT", b"SHUT OK\r\n")
    await dte.close()
    writer1.close()
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA and (r.bytes_up or r.bytes_down)]
    accept_up, accept_down = 2 * HANDSHAKE_DOWN, 2 * HANDSHAKE_UP  # the clients' SYN, ACK come down
    data_up = 3 + HEADER  # "abc", carrying the ACK of "hello"
    data_down = 5 + HEADER + HEADER  # "hello"; the delayed ACK of "abc", alone: SEND OK waits for it
    # the first client closes: its FIN down, the module's FIN up, the last ACK down; the module
    # closes the second: its FIN up, the client's FIN down, the last ACK up
    assert (rec.bytes_up, rec.bytes_down) == (
        accept_up + data_up + HEADER + 2 * HEADER,
        accept_down + data_down + 2 * HEADER + HEADER,
    )


async def test_simcom_single_connection_server_takes_one_client_at_a_time() -> None:
    host_port = free_port()
    m, _ = ready_modem("simcom-sim800", f"inbound:\n  8080: {host_port}\n")
    dte = Dte(m)
    await dte.at("AT+CIPHEAD=1;+CIPSERVER=1,8080", b"SERVER OK\r\n")
    reader, writer = await connect(host_port)
    assert await dte.expect(b"CONNECT OK\r\n") == b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nCONNECT OK\r\n"
    other, other_writer = await connect(host_port)
    async with asyncio.timeout(WAIT_S):
        assert await other.read() == b""  # turned away: the one connection is taken
    writer.write(b"hi")
    assert await dte.expect(b"hi") == b"\r\n+IPD,2:hi"
    await dte.at("AT+CIPSEND=2", b"> ")
    dte.write(b"yo")
    await dte.expect(b"SEND OK\r\n")
    async with asyncio.timeout(WAIT_S):
        assert await reader.readexactly(2) == b"yo"
    writer.close()
    await dte.expect(b"\r\nCLOSED\r\n")
    assert await dte.at("AT+CIPSTATUS", b"LISTENING\r\n") == b"\r\nOK\r\n\r\nSTATE: SERVER LISTENING\r\n"
    _, again = await connect(host_port)  # the server takes the next client
    await dte.expect(b"\r\nREMOTE IP: 127.0.0.1\r\n\r\nCONNECT OK\r\n")
    for w in (other_writer, again):
        w.close()
    await dte.close()


async def test_simcom_server_turns_away_a_seventh_client() -> None:
    host_port = free_port()
    m, _ = simcom_mux(f"inbound:\n  8080: {host_port}\n")
    dte = Dte(m)
    await dte.at("AT+CIPSERVER=1,8080", b"SERVER OK\r\n")
    clients = []
    for sid in range(6):
        clients.append(await connect(host_port))
        await dte.expect(f"{sid}, REMOTE IP: 127.0.0.1\r\n".encode())
    reader, writer = await connect(host_port)
    async with asyncio.timeout(WAIT_S):
        assert await reader.read() == b""  # closed by the module: no connection number left
    assert sorted(m.tcp.sockets) == list(range(6))
    for _, w in [*clients, (reader, writer)]:
        w.close()
    await dte.close()


async def test_a_device_on_a_public_apn_is_not_reachable() -> None:
    host_port = free_port()
    m, _ = simcom_mux(f"inbound:\n  8080: {host_port}\n", apn="orange.m2m")
    dte = Dte(m)
    await dte.at("AT+CIPSERVER=1,8080", b"SERVER OK\r\n")  # the module listens; the network blocks
    assert m.tcp.listeners[0].route.kind is RouteKind.REFUSED
    with pytest.raises(ConnectionRefusedError):
        await connect(host_port)
    await dte.close()


# ----- Quectel "TCP LISTENER" ----------------------------------------------------------------------------


def test_quectel_listener_opens_shows_and_closes() -> None:
    q, _ = ready_modem("quectel-bg96")
    assert at(q, 'AT+QIOPEN=1,11,"TCP LISTENER","127.0.0.1",0,2020,0') + later(q, 0.0) == (
        b"\r\nOK\r\n\r\n+QIOPEN: 11,0\r\n"
    )
    assert at(q, 'AT+QIOPEN=1,11,"TCP","127.0.0.1",80,0,0') == b"\r\n+CME ERROR: 563\r\n"  # id in use
    ip = q.net.context(1).ip
    assert at(q, "AT+QISTATE=1,11") == (
        f'\r\n+QISTATE: 11,"TCP LISTENER","{ip}",0,2020,3,1,11,0,"uart1"\r\n\r\nOK\r\n'.encode()
    )
    assert b"+QIOPEN: 0,561\r\n" in at(q, 'AT+QIOPEN=2,0,"TCP LISTENER","127.0.0.1",0,2021,0')
    assert at(q, 'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,0,0') == b"\r\n+CME ERROR: 50\r\n"
    assert at(q, "AT+QICLOSE=11") == b"\r\nOK\r\n"
    assert not q.tcp.listeners and at(q, "AT+QISTATE") == b"\r\nOK\r\n"


async def test_quectel_listener_accepts_in_push_mode_and_bills() -> None:
    host_port = free_port()
    q, sink = ready_modem("quectel-bg96", f"inbound:\n  2020: {host_port}\n")
    dte = Dte(q, speed=0.1)  # the host's steps within the delayed ACK's 0.2 s: 2 s of the host's
    await dte.at('AT+QIOPEN=1,11,"TCP LISTENER","127.0.0.1",0,2020,1', b"+QIOPEN: 11,0\r\n")
    reader, writer = await connect(host_port)
    client_port = writer.get_extra_info("sockname")[1]
    urc = await dte.expect(f"{client_port}\r\n".encode())
    assert urc == f'\r\n+QIURC: "incoming",0,11,"127.0.0.1",{client_port}\r\n'.encode()
    status = await dte.at("AT+QISTATE=1,0")
    assert f'+QISTATE: 0,"TCP INCOMING","127.0.0.1",{client_port},2020,2,1,11,1,"uart1"'.encode() in status
    writer.write(b"ping")
    assert await dte.expect(b"ping") == b'\r\n+QIURC: "recv",0,4\r\nping'
    await dte.at("AT+QISEND=0,4", b"> ")
    dte.write(b"pong")
    await dte.expect(b"SEND OK\r\n")
    async with asyncio.timeout(WAIT_S):
        assert await reader.readexactly(4) == b"pong"
    writer.close()
    await dte.expect(b'\r\n+QIURC: "closed",0\r\n')
    await dte.at("AT+QICLOSE=0")
    await dte.at("AT+QICLOSE=11")
    with pytest.raises(ConnectionRefusedError):
        await connect(host_port)
    await dte.at("AT+QIDEACT=1")
    await dte.close()
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA and (r.bytes_up or r.bytes_down)]
    # "pong" carries the ACK of "ping"; the client's FIN the ACK of "pong", the module's ACK of it
    # up at once; the module's FIN up at AT+QICLOSE, the last ACK down
    assert (rec.bytes_up, rec.bytes_down) == (
        HANDSHAKE_DOWN + (4 + HEADER) + HEADER + HEADER,
        HANDSHAKE_UP + (4 + HEADER) + HEADER + HEADER,
    )


async def test_quectel_listener_in_buffer_mode_and_incoming_full() -> None:
    host_port = free_port()
    q, _ = ready_modem("quectel-bg96", f"inbound:\n  2020: {host_port}\n")
    dte = Dte(q)
    await dte.at('AT+QIOPEN=1,11,"TCP LISTENER","127.0.0.1",0,2020,0', b"+QIOPEN: 11,0\r\n")
    clients = []
    for sid in range(11):  # connectIDs 0..10: the listener holds 11
        clients.append(await connect(host_port))
        await dte.expect(f'+QIURC: "incoming",{sid},11,'.encode())
    clients[3][1].write(b"buffered")
    await dte.expect(b'\r\n+QIURC: "recv",3\r\n')
    assert await dte.at("AT+QIRD=3,100") == b"\r\n+QIRD: 8\r\nbuffered\r\n\r\nOK\r\n"
    reader, writer = await connect(host_port)
    await dte.expect(b'\r\n+QIURC: "incoming full"\r\n')
    async with asyncio.timeout(WAIT_S):
        assert await reader.read() == b""
    for _, w in [*clients, (reader, writer)]:
        w.close()
    await dte.close()


# ----- m2msim modem serve --internet: a host program reaches a served modem's server ----------------


def test_serve_maps_the_inbound_port_to_the_served_modem_s_server(tmp_path: Path) -> None:
    host_port = free_port()
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"inbound:\n  8080: {host_port}\n")
    records = tmp_path / "usage.csv"
    with served_tcp(
        "--profile", "simcom-sim800", "--internet", str(hosts), "--records", str(records), timeout=WAIT_S
    ) as dte:
        dte.send(b"ATE0;+CREG=1;+CREG?\r")
        dte.until(b"+CREG: 1,")
        if not dte.got.startswith(b"1"):  # not yet registered: the URC says when
            dte.until(b"\r\n+CREG: 1\r\n")
        dte.send(b'AT+CIPMUX=1;+CSTT="orange.m2m.spec";+CIICR\r')
        dte.until(b"OK\r\n")
        dte.send(b"AT+CIFSR\r")
        dte.until(b"\r\n")
        dte.send(b"AT+CIPSERVER=1,8080\r")
        dte.until(b"SERVER OK\r\n")
        with socket.create_connection(("127.0.0.1", host_port), timeout=WAIT_S) as client:
            dte.until(b"0, REMOTE IP: 127.0.0.1\r\n")
            client.sendall(b"reading?")
            assert dte.until(b"reading?").endswith(b"+RECEIVE,0,8:\r\nreading?")
            dte.send(b"AT+CIPSEND=0,4\r")
            dte.until(b"> ")
            dte.send(b"1234")
            dte.until(b"0, SEND OK\r\n")
            assert client.recv(4, socket.MSG_WAITALL) == b"1234"
            dte.send(b"AT+CIPCLOSE=0\r")
            dte.until(b"0, CLOSE OK\r\n")
            assert client.recv(1) == b""
        dte.send(b"AT+CIPSHUT\r")
        dte.until(b"SHUT OK\r\n")
    with records.open() as f:
        (data,) = [row for row in csv.DictReader(f) if row["type"] == "data"]
    # the answer carries the ACK of the question; SEND OK once the client's delayed ACK of it is
    # back (alone); the module closes: its FIN up, the client's FIN down, the last ACK up
    up = HANDSHAKE_DOWN + (4 + HEADER) + 2 * HEADER
    down = HANDSHAKE_UP + (8 + HEADER) + HEADER + HEADER
    assert (int(data["bytes_up"]), int(data["bytes_down"])) == (up, down)


@pytest.mark.parametrize(
    ("profile", "command"),
    [
        ("quectel-bg96", "AT+CIPSERVER=1,8080"),  # SIMCom's command: not in a Quectel's sets
        ("simcom-sim800", 'AT+QIOPEN=1,11,"TCP LISTENER","127.0.0.1",0,2020,0'),
    ],
)
def test_each_vendor_s_server_command_is_its_profile_s_only(profile: str, command: str) -> None:
    m, _ = ready_modem(profile)
    assert at(m, command) == b"\r\nERROR\r\n"
    assert not m.tcp.listeners
