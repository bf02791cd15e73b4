"""A real FreeRADIUS server rates like the gateway: a fleet's RADIUS accounting (the gateway's own packets,
replayed from its capture) is sent to FreeRADIUS on loopback, which logs it in its `detail` file; the
records read from that file give the same invoice as the gateway's own records.  Skipped, saying why,
without Debian's `freeradius`."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.capture.pcapfile import read_packets
from gateway.capture.sink import DEFAULT_SECRET
from gateway.logs import LogReport, records_from_radius_detail
from gateway.recordfiles import write_records
from m2msim.cli import main

SECRET = DEFAULT_SECRET.decode()  # the simulator's capture signs with it
FREERADIUS = shutil.which("freeradius") or shutil.which("radiusd")

pytestmark = pytest.mark.skipif(FREERADIUS is None, reason="needs a FreeRADIUS server (Debian freeradius)")

SCENARIO = {
    "name": "radius-lab",
    "seed": 23,
    "period": {"start": "2026-03-01", "days": 2},
    "inventory": {
        "customer": "radius-lab",
        "month": "2026-03",
        "lines": [
            {
                "id_prefix": "R",
                "count": 5,
                "offer": "business-m2m",
                "plan": "compteur",
                "commitment": 24,
                "since": "2025-01-01",
            }
        ],
    },
    "groups": [
        {
            "name": "meters",
            "lines": "R",
            "schedule": {"period": "1h", "jitter": "tr37868-model1"},
            "application": {
                "profile": "mqtt-qos1",
                "payload": {"pareto": {"alpha": 1.5, "min": 2000, "max": 400000}},
            },
        }
    ],
}

RADIUSD_CONF = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
confdir = {dir}
raddbdir = {dir}
logdir = {dir}/log
radacctdir = {dir}/radacct
run_dir = {dir}/run
libdir = /usr/lib/freeradius
pidfile = {dir}/run/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
    destination = stdout
}}
security {{
    allow_core_dumps = no
}}
client localhost {{
    ipaddr = 127.0.0.1
    secret = {secret}
}}
modules {{
    detail {{
        filename = ${{radacctdir}}/127.0.0.1/detail
        permissions = 0600
        header = "%t"
    }}
}}
server default {{
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {port}
    }}
    preacct {{
    }}
    accounting {{
        detail
    }}
}}
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def freeradius(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A FreeRADIUS server on loopback with its own configuration; (port, accounting folder)."""
    conf = tmp_path / "raddb"
    for sub in ("log", "radacct", "run"):
        (conf / sub).mkdir(parents=True)
    port = _free_udp_port()
    (conf / "radiusd.conf").write_text(RADIUSD_CONF.format(dir=conf, secret=SECRET, port=port))
    assert FREERADIUS is not None
    server = subprocess.Popen(
        [FREERADIUS, "-f", "-d", str(conf), "-l", "stdout"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        seen = []
        for line in server.stdout:  # until it says it is ready (or exits)
            seen.append(line.strip())
            if "Ready to process requests" in line:
                break
        else:
            pytest.skip(f"freeradius did not start: {' | '.join(seen[-3:])}")
        yield port, conf / "radacct"
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _forwarded(payload: bytes, ts_us: int) -> bytes:
    """The request as a store-and-forward proxy re-sends it now (RFC 2866 5.2): Acct-Delay-Time says how
    long ago its event was, so that the server's Timestamp less it is when the request was first sent
    (else the reader takes the Event-Timestamps, months before the server logged them, for a NAS clock
    that is wrong), and the Request Authenticator is made again."""
    delay = max(0, int(time.time()) - ts_us // 1_000_000)
    attributes = payload[20:] + bytes((41, 6)) + delay.to_bytes(4, "big")
    head = bytes((4, payload[1])) + (20 + len(attributes)).to_bytes(2, "big")
    auth = hashlib.md5(head + bytes(16) + attributes + SECRET.encode()).digest()
    return head + auth + attributes


def _replay(capture: Path, port: int) -> int:
    """Send the capture's Accounting-Requests to the server one by one, each after the previous answer.

    Each request leaves from a socket of its own per source port of the capture, as the gateway's
    client turns through ports so that no (port, Identifier) pair is reused while the server remembers it.
    """
    sent = 0
    sockets: dict[bytes, socket.socket] = {}
    try:
        for ts_us, _link, frame in read_packets(capture):
            if (
                len(frame) < 43
                or frame[23] != 17
                or frame[36:38] != (1813).to_bytes(2, "big")
                or frame[42] != 4
            ):
                continue
            payload = _forwarded(frame[42 : 34 + int.from_bytes(frame[38:40], "big")], ts_us)
            sock = sockets.get(frame[34:36])
            if sock is None:
                sock = sockets[frame[34:36]] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.settimeout(10)
                sock.connect(("127.0.0.1", port))
            sock.send(payload)
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                raise AssertionError(
                    f"no answer to request {sent + 1}: {payload[:4].hex()} from port {frame[34:36].hex()}"
                ) from None
            assert answer[0] == 5 and answer[1] == payload[1]  # Accounting-Response to this request
            sent += 1
    finally:
        for sock in sockets.values():
            sock.close()
    return sent


def _invoice(inventory: Path, usage: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["rate", str(inventory), str(usage), "--json"]) == 0
    invoice: dict[str, object] = json.loads(capsys.readouterr().out)
    return invoice


def test_freeradius_detail_file_gives_the_gateways_invoice(
    tmp_path: Path, freeradius: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    port, radacct = freeradius
    scenario = tmp_path / "lab.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    run = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(run), "--capture"]) == 0
    captures = sorted((run / "capture").glob("*.pcap"))
    assert captures
    sent = sum(_replay(c, port) for c in captures)
    assert sent > 100
    report = LogReport()
    detail_usage = tmp_path / "from-detail.parquet"
    write_records(records_from_radius_detail(radacct, report), detail_usage)
    assert report.accounting_requests == sent and report.rejected == 0 and report.open_sessions == []
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(SCENARIO["inventory"]))
    gateway_invoice = _invoice(inventory, run / "usage.parquet", capsys)
    detail_invoice = _invoice(inventory, detail_usage, capsys)
    assert detail_invoice["total_ht"] == gateway_invoice["total_ht"]
    assert detail_invoice["lines"] == gateway_invoice["lines"]
    assert detail_invoice["rejects"] == gateway_invoice["rejects"] == []
