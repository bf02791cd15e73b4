"""A device speaks MQTT 3.1.1 to a real mosquitto broker through a virtual SIM800 served on a pty.

The device side is a small program on the pty (AT commands, the SIMCom TCP/IP stack, MQTT packets
from `mqtt_packets`); the backend is a paho-mqtt client on the host.  The gateway's usage record
and its capture counts must equal the same exchange's bytes on the TCP model (`gateway.wire.play`,
what the simulator's profiles bill with): the bytes that crossed the pty plus the TCP/IP headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mqtt_packets as mq
import pytest

from accounting.records import UsageRecord, UsageType
from gateway.events import ContextInfo
from gateway.internet import load_internet
from gateway.network import Network, NetworkConfig
from gateway.wire import HEADER, SYN, play
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WAIT_S = 15.0  # the longest any one answer may take on a busy machine


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """Debian's mosquitto on loopback, on a free port, with its own configuration; its port."""
    with mosquitto(tmp_path) as port:
        yield port


@contextlib.contextmanager
def mosquitto(tmp_path: Path, listener: str = "") -> Iterator[int]:
    """mosquitto on a free loopback port (`listener`: more settings of that listener, its TLS files);
    the test is skipped when mosquitto is not installed."""
    with mosquitto_process(tmp_path, listener) as (port, _):
        yield port


@contextlib.contextmanager
def mosquitto_process(tmp_path: Path, listener: str = "") -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`mosquitto`, and its process (a test may stop it, SIGSTOP, or kill it)."""
    exe = _mosquitto()
    if exe is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n{listener}allow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + WAIT_S
        while b" running" not in seen:  # "mosquitto version 2.x running": listening
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
            if not chunk:
                pytest.fail(f"mosquitto did not start: {seen.decode(errors='replace')}")
            seen += chunk
        yield port, proc
    finally:
        proc.send_signal(signal.SIGCONT)  # a stopped broker would not stop at SIGTERM
        proc.terminate()
        try:  # its log read meanwhile: a broker blocked writing to a full pipe never ends
            proc.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()  # (no broker left behind, whatever held it)
            proc.communicate()


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


class Capture:
    """The capture's view of user-plane traffic (what GTP-U samples are drawn from)."""

    def __init__(self) -> None:
        self.up = 0
        self.down = 0

    def user_packets(self, now: float, ctx: ContextInfo, bytes_up: int, bytes_down: int) -> None:
        self.up += bytes_up
        self.down += bytes_down

    def __getattr__(self, name: str) -> Any:  # control and accounting events: not looked at here
        return lambda *args, **kwargs: None


class ServedModem:
    """A virtual modem on a pty, served by an event loop in a thread of its own."""

    def __init__(self, modem: VirtualModem) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> PtyEndpoint:
            return PtyEndpoint(modem, LoopClock(self.loop, modem.now))

        self.endpoint = asyncio.run_coroutine_threadsafe(make(), self.loop).result(WAIT_S)

    def close(self) -> None:
        async def stop() -> None:
            self.endpoint.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(WAIT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        self.loop.close()


class Device:
    """The device's side of the pty: AT commands out, answers and `+IPD` data in (SIMCom, CIPHEAD=1)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.buf = bytearray()
        self.mqtt = bytearray()  # socket data received, in order
        self.chunks: list[int] = []  # the size of each +IPD chunk
        self.sent: list[int] = []  # the size of each CIPSEND
        self.exchange: list[tuple[str, int, float]] = []  # both, in order: the steps of `play`

    def close(self) -> None:
        os.close(self.fd)

    def _extract(self) -> None:
        while (i := self.buf.find(b"\r\n+IPD,")) >= 0:
            j = self.buf.find(b":", i)
            if j < 0:
                return
            n = int(self.buf[i + 7 : j])
            if len(self.buf) < j + 1 + n:
                return
            self.chunks.append(n)
            self.exchange.append(("down", n, 0.0))
            self.mqtt += self.buf[j + 1 : j + 1 + n]
            del self.buf[i : j + 1 + n]

    def _read(self, deadline: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no answer in {WAIT_S} s; so far {bytes(self.buf)!r}")
        self.buf += os.read(self.fd, 65536)
        self._extract()

    def expect(self, token: bytes) -> bytes:
        """Everything up to and with `token` (socket data is taken out as it comes)."""
        deadline = time.monotonic() + WAIT_S
        while (i := self.buf.find(token)) < 0:
            self._read(deadline)
        out = bytes(self.buf[: i + len(token)])
        del self.buf[: i + len(token)]
        return out

    def at(self, line: str, until: bytes = b"OK\r\n") -> bytes:
        os.write(self.fd, line.encode() + b"\r")
        return self.expect(until)

    def send(self, packet: bytes) -> None:
        self.at(f"AT+CIPSEND={len(packet)}", b"> ")
        os.write(self.fd, packet)
        self.expect(f"DATA ACCEPT:{len(packet)}\r\n".encode())  # quick send (normal mode waits for the ACK)
        self.sent.append(len(packet))
        self.exchange.append(("up", len(packet), 0.0))

    def packets(self, count: int) -> list[mq.Packet]:
        """The next `count` MQTT packets from the broker."""
        got: list[mq.Packet] = []
        deadline = time.monotonic() + WAIT_S
        pending = bytearray()
        while True:
            pending += self.mqtt
            self.mqtt.clear()
            got += mq.split(pending)
            if len(got) >= count:
                assert not pending and len(got) == count, "more than asked for"
                return got
            self._read(deadline)


def test_mqtt_through_the_pty_reaches_mosquitto_and_is_billed(broker: int, tmp_path: Path) -> None:
    paho = pytest.importorskip("paho.mqtt.client")
    table = tmp_path / "internet.yaml"
    table.write_text(f'hosts:\n  broker.example.com: "127.0.0.1:{broker}"\n')
    sink, capture = Sink(), Capture()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink, capture=capture)  # type: ignore[arg-type]
    modem = VirtualModem(load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH)
    modem.internet = load_internet(table)
    provision(net, modem, ServeScenario())
    modem.poll(3.0)  # registered (the profile's search time) before serving starts
    modem.take_output()
    assert modem.net.registered

    # The backend: subscribed to the device's topic, it answers every message on the device's own.
    backend = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="backend", protocol=paho.MQTTv311)
    subscribed = threading.Event()
    heard: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe("dev1/up", qos=1)

    def on_subscribe(client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
        subscribed.set()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        heard.put((msg.topic, msg.payload))
        client.publish("dev1/cmd", b"ack:" + msg.payload, qos=1)

    backend.on_connect, backend.on_subscribe, backend.on_message = on_connect, on_subscribe, on_message
    backend.connect("127.0.0.1", broker)
    backend.loop_start()
    served = ServedModem(modem)
    device = Device(served.endpoint.path)
    try:
        assert subscribed.wait(WAIT_S)
        device.at("ATE0")
        device.at('AT+CSTT="orange.m2m.spec";+CIICR;+CIPHEAD=1;+CIPQSEND=1')
        assert device.at("AT+CIFSR", b"\r\n") == b"\r\n"
        assert device.expect(b"\r\n").startswith(b"10.")  # the address, and no OK on the SIM800
        device.at('AT+CIPSTART="TCP","broker.example.com",1883', b"CONNECT OK\r\n")

        device.send(mq.connect("dev1"))
        (connack,) = device.packets(1)
        assert (connack.kind, connack.body) == (mq.CONNACK, b"\x00\x00")
        device.send(mq.subscribe(1, "dev1/cmd", qos=1))
        (suback,) = device.packets(1)
        assert (suback.kind, suback.body) == (mq.SUBACK, b"\x00\x01\x01")
        device.send(mq.publish("dev1/up", b"meter=42", qos=1, packet_id=2))
        answers = {p.kind: p for p in device.packets(2)}
        assert answers[mq.PUBACK].pid() == 2
        topic, _, pid, _, payload = answers[mq.PUBLISH].published()
        assert (topic, payload) == ("dev1/cmd", b"ack:meter=42")
        assert heard.get(timeout=WAIT_S) == ("dev1/up", b"meter=42")
        device.send(mq.puback(pid))
        device.send(mq.disconnect())
        device.expect(b"\r\nCLOSED\r\n")  # the broker closes the connection after DISCONNECT
        device.at("AT+CIPSHUT", b"SHUT OK\r\n")
    finally:
        device.close()
        served.close()
        backend.loop_stop()
        backend.disconnect()

    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    payload_up, payload_down = sum(device.sent), sum(device.chunks)
    assert payload_up == sum(
        len(p)
        for p in (
            mq.connect("dev1"),
            mq.subscribe(1, "dev1/cmd"),
            mq.publish("dev1/up", b"meter=42", qos=1, packet_id=2),
            mq.puback(pid),
            mq.disconnect(),
        )
    )
    # every answer comes within the delayed ACK's 0.2 s: each carries the ACK of what it answers;
    # the broker closes after the DISCONNECT: its FIN, the module's, the last ACK
    wire = play([("open", 0, 0.0), *device.exchange, ("close down", 0, 0.0)])
    assert (rec.bytes_up, rec.bytes_down) == (wire.up, wire.down)
    assert wire.up - payload_up == SYN + HEADER * (1 + len(device.sent) + 1)  # SYN; ACK, sends, FIN
    assert wire.down - payload_down == SYN + HEADER * (len(device.chunks) + 2)  # SYN-ACK; chunks, FIN, ACK
    assert (capture.up, capture.down) == (rec.bytes_up, rec.bytes_down)
