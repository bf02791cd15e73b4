"""Serving the virtual modem: in-process transport, `m2msim modem serve` on a pty and on TCP, profiles."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import serial
from fuzzing import assert_cli_contract, run_cli

from accounting.usage_writer import CSV_HEADER, is_usage_file
from m2msim.cli import main
from m2msim.outputs import host_name, temporary_name
from modem.profiles import ProfileError, load_profile, parse_profile, profile_names
from modem.transport import Transport
from modem.transports import open_transport
from modem.virtual import open_virtual
from modem.virtual.scenario import ScenarioError, load_scenario
from tests.filewatch import wait_in
from tests.processes import TcpDte

ROOT = Path(__file__).resolve().parents[2]


async def test_open_transport_reaches_the_in_process_modem() -> None:
    t = await open_transport("virtual://simcom-sim800?seed=2")
    try:
        boot = b""
        while b"SMS Ready" not in boot:
            boot += await t.read()
        await t.write(b"ATE0\r")
        got = b""
        while b"OK\r\n" not in got:
            got += await t.read()
        await t.write(b"AT+CGMM\r")
        got = b""
        while b"OK\r\n" not in got:
            got += await t.read()
        assert got == b"\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
    finally:
        await t.close()
    assert await t.read() == b""


async def test_open_virtual_timers_run_on_the_loop() -> None:
    # a held response is released by a timer on the event loop: 2 simulated s at 20 s per real second
    t = open_virtual("virtual://generic?speed=20&delay_ms=2000")
    await t.write(b"ATE0\r")
    got = b""
    while b"OK" not in got:
        got += await asyncio.wait_for(t.read(), 10)
    assert t.modem.now >= 2.0
    await t.close()


async def _until(t: Transport, wanted: bytes) -> bytes:
    got = b""
    while wanted not in got:
        got += await asyncio.wait_for(t.read(), 10)
    return got


async def test_two_modems_on_one_loop_call_each_other_through_their_network() -> None:
    """Each modem's runner hears the other's call events on the loop (`VirtualModem.external`)."""
    from datetime import UTC, datetime

    from gateway.api import build_network
    from modem.virtual.bound import RecordList
    from modem.virtual.scenario import ServeScenario, provision

    sink = RecordList()
    net = build_network(datetime(2026, 3, 2, tzinfo=UTC), sink, 1)
    a = open_virtual("virtual://generic?seed=4&speed=50", network=net)
    b = open_virtual("virtual://generic?seed=4&index=1&speed=50", network=net)
    try:
        for t in (a, b):
            provision(net, t.modem, ServeScenario())
            await t.write(b"ATE0;+CREG=1\r")
            await _until(t, b"+CREG: 1\r\n")
        await b.write(b"AT+CLIP=1\r")
        await _until(b, b"OK\r\n")
        await a.write(f"ATD+{b.modem.identity.msisdn};\r".encode())
        assert await _until(a, b"OK\r\n") == b"\r\nOK\r\n"
        assert f'+CLIP: "+{a.modem.identity.msisdn}",145'.encode() in await _until(b, b"+CLIP")
        await b.write(b"ATA\r")
        await _until(b, b"OK\r\n")
        await a.write(b"AT+CLCC\r")
        assert b'+CLCC: 1,0,0,0,0,"+' in await _until(a, b"OK\r\n")
        await b.write(b"ATH\r")
        assert b"NO CARRIER" in await _until(a, b"NO CARRIER")
    finally:
        await a.close()
        await b.close()
    (rec,) = sink.records
    assert rec.line == a.modem.identity.line_id and rec.type.value == "voice"


def serve(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def server() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def _stopped(
    server: list[subprocess.Popen[str]], proc: subprocess.Popen[str], signum: int
) -> tuple[int, str]:
    """`proc`, a serve on TCP, sent `signum` once it serves (its handlers in place, what an earlier
    serve left dealt with): its exit status and stderr."""
    server.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("socket://")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def command(port: serial.Serial, line: bytes) -> bytes:
    port.write(line + b"\r")
    got = b""
    while not got.endswith((b"OK\r\n", b"ERROR\r\n")):
        chunk = port.read(1)
        assert chunk, f"no answer to {line!r}, got {got!r}"
        got += chunk
    return got


def test_serve_prints_pty_paths_first_and_stops_on_sigterm(server: list[subprocess.Popen[str]]) -> None:
    proc = serve("--profile", "quectel-bg96", "--count", "3")
    server.append(proc)
    assert proc.stdout is not None
    paths = [proc.stdout.readline().strip() for _ in range(3)]
    assert all(p.startswith("/dev/pts/") for p in paths) and len(set(paths)) == 3
    imeis = set()
    for path in paths:
        with serial.Serial(path, 115200, timeout=5) as port:
            command(port, b"ATE0")
            imeis.add(command(port, b"AT+CGSN").split()[0])
            assert command(port, b"AT+CGMM") == b"\r\nBG96\r\n\r\nOK\r\n"
    assert len(imeis) == 3
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143 and err.splitlines()[-1] == "m2msim modem serve: interrupted (SIGTERM)"


BOOT = b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"


def _read_until(fd: int, end: bytes) -> bytes:
    """What the device `fd` gives up to `end` (10 s without a byte fails the test)."""
    got = b""
    while not got.endswith(end):
        ready, _, _ = select.select([fd], [], [], 10)
        assert ready, f"waiting for {end!r}, got {got!r}"
        got += os.read(fd, 1)
    return got


def test_a_client_opening_the_pty_later_reads_no_boot_messages(serve_console: Any) -> None:
    """A real module prints RDY ... SMS Ready when it powers up, to whoever listens on its port: a
    client that opens the port later reads none of them.  The pty kept them for the next client, which
    read them as unexpected input before the answer to its first command (a client that opens the
    device as a file: a firmware's serial layer, minicom, socat; pyserial empties the input at open).
    Now what the modem prints while no client has the device open is dropped; a client listening still
    gets it all."""
    served = serve_console("--profile", "simcom-sim800")
    (path,) = served.paths
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"AT\r")
        assert _read_until(fd, b"OK\r\n") == b"AT\r\r\nOK\r\n"  # the boot at the start: nobody listened
        served.console.run("power", 0, "reset")  # listening: the boot messages come
        assert _read_until(fd, b"SMS Ready\r\n") == BOOT
    finally:
        os.close(fd)
    served.console.run("power", 0, "reset")  # the device closed: printed to no one
    served.console.wait(0, "registered", timeout=30)  # (booted: RDY ... SMS Ready printed)
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"AT\r")
        assert _read_until(fd, b"OK\r\n") == b"AT\r\r\nOK\r\n"
    finally:
        os.close(fd)
    assert served.stop() == 143


def test_serve_stops_on_a_closed_terminal_with_its_records_written(
    tmp_path: Path, server: list[subprocess.Popen[str]]
) -> None:
    """SIGHUP (the terminal or ssh session `modem serve` ran in closed) killed it at once: the
    session's usage records and capture left under temporary names (removed by the next serve), the
    TUN namespace in place, no word.  Now it stops as on SIGTERM, exit 129."""
    records, capture = tmp_path / "usage.csv", tmp_path / "gateway.pcap"
    proc = serve(
        "--profile", "generic", "--tcp", "0", "--ip-path", "user",
        "--records", str(records), "--capture", str(capture),
    )  # fmt: skip
    status, err = _stopped(server, proc, signal.SIGHUP)
    assert status == 128 + signal.SIGHUP, err
    assert err.splitlines()[-1] == (
        f"m2msim modem serve: interrupted (SIGHUP); usage records in {records}; capture in {capture}"
    )
    assert records.read_text().startswith('"line"') and capture.stat().st_size >= 24
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]


def _serve_with_file_size_limit(limit: int, *args: str) -> subprocess.Popen[str]:
    """`m2msim modem serve --tcp 0 ARGS` in a process that cannot write a file past `limit` bytes
    (EFBIG, as a full disk gives ENOSPC)."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.Popen(
        [sys.executable, "-m", "m2msim", "modem", "serve", "--profile", "generic", "--tcp", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1"),
        preexec_fn=limited,
    )


def test_records_the_disk_cannot_take_at_the_end_are_named_and_the_capture_kept(
    tmp_path: Path, server: list[subprocess.Popen[str]]
) -> None:
    """The records' Parquet footer refused at the end (a full disk): the error skipped the capture's
    close, so both files were lost, under one line naming neither ("[Errno 27] File too large")."""
    records, capture = tmp_path / "usage.parquet", tmp_path / "gateway.pcap"
    proc = _serve_with_file_size_limit(
        1000, "--ip-path", "user", "--records", str(records), "--capture", str(capture)
    )
    status, err = _stopped(server, proc, signal.SIGTERM)
    assert status == 2, err
    assert err.splitlines()[-1] == (
        f"m2msim modem serve: --records {records}: cannot write (File too large): the usage records "
        f"are lost; capture in {capture}"
    )
    assert not records.exists()  # nothing partial under its name
    assert capture.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # the capture whole
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]


def test_records_the_disk_cannot_take_from_the_start_are_named(tmp_path: Path) -> None:
    records = tmp_path / "usage.csv"
    proc = _serve_with_file_size_limit(100, "--ip-path", "user", "--records", str(records))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == f"m2msim modem serve: --records {records}: cannot write (File too large)"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_record_the_disk_cannot_take_while_serving_is_named_at_the_end(
    tmp_path: Path, server: list[subprocess.Popen[str]]
) -> None:
    """Records are written as they come (so that a killed serve leaves them): one the disk refuses
    (full) while serving never reaches the modem that made it; the records are said lost at the end."""
    scenario, records = tmp_path / "serve.yaml", tmp_path / "usage.csv"
    scenario.write_text(KILLED_SCENARIO, encoding="utf-8")
    proc = _serve_with_file_size_limit(200, "--scenario", str(scenario), "--records", str(records))
    server.append(proc)
    assert proc.stdout is not None
    _send_sms(int(proc.stdout.readline().strip().rsplit(":", 1)[1]))  # answered +CMGS all the same
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == (
        f"m2msim modem serve: --records {records}: cannot write (File too large): the usage records are lost"
    )
    assert "Traceback" not in err and not records.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder of this test directly under /tmp: a Unix socket's path holds 107 bytes, which the
    console's folder in a test's own temporary folder can pass (as under a parallel runner)."""
    folder = Path(tempfile.mkdtemp(prefix="m2msim-t-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve_console_folder(tmpdir: Path) -> tuple[subprocess.Popen[str], Path]:
    """A serve started with `tmpdir` as its temporary directory, and the folder of its console's socket."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "m2msim",
            "modem",
            "serve",
            "--profile",
            "generic",
            "--tcp",
            "0",
            "--ip-path",
            "user",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmpdir)),
    )
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:
        said.append(line)
        if line.startswith("m2msim modem serve: console "):
            return proc, Path(line.split("console unix:", 1)[1].split()[0]).parent
    proc.stderr.close()
    pytest.fail(f"serve ended ({proc.wait()}) without naming its console: {''.join(said)}")


def _end_serve(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)
    if proc.stderr is not None:
        proc.stderr.close()


def test_a_killed_serves_console_folder_is_removed_by_the_next_serve(short_tmp: Path) -> None:
    """A serve killed by SIGKILL left its console's folder (the socket, the address file and its
    token) in the temporary directory for good; the next serve of this host and user removes it,
    never a live serve's."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    tmp = short_tmp
    stale = tmp / f"m2msim-serve-{host_name()}-{gone.pid}-abcd1234"
    live = tmp / f"m2msim-serve-{host_name()}-{os.getpid()}-abcd1234"
    for folder in (stale, live):
        folder.mkdir(mode=0o700)
        (folder / "control.json").write_text("{}\n")
    proc, mine = _serve_console_folder(tmp)
    try:
        assert mine.parent == tmp and mine.is_dir()
        assert not stale.exists() and live.is_dir()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        assert proc.returncode == 143
        assert not mine.exists() and live.is_dir()
    finally:
        _end_serve(proc)


def test_a_temporary_directory_too_deep_for_a_unix_socket_puts_the_console_in_tmp(tmp_path: Path) -> None:
    """A Unix socket's path holds 107 bytes: with a deep TMPDIR (a CI job's, a parallel test
    runner's) serve ended at start with "AF_UNIX path too long"; its console now goes to /tmp."""
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    proc, mine = _serve_console_folder(deep)
    try:
        assert mine.parent == Path("/tmp") and (mine / "control.sock").is_socket()
        assert not any(deep.iterdir())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        assert proc.returncode == 143
        assert not mine.exists()
    finally:
        _end_serve(proc)


@pytest.mark.parametrize("option", ["--journal", "--control-file"])
def test_a_second_serve_on_the_same_journal_or_address_file_exits_2_naming_the_first(
    tmp_path: Path, server: list[subprocess.Popen[str]], option: str
) -> None:
    """Two serves on one --journal both served, and the later one's journal replaced the other's; on
    one --control-file the later one's address replaced the other's, which removed it on ending."""
    shared = tmp_path / "shared.json"
    first = serve("--profile", "generic", "--tcp", "0", "--ip-path", "user", option, str(shared))
    server.append(first)
    assert first.stdout is not None
    assert first.stdout.readline().startswith("socket://")  # serving, its outputs held
    second = serve("--profile", "generic", "--tcp", "0", "--ip-path", "user", option, str(shared))
    server.append(second)
    assert second.stdout is not None
    assert second.stdout.readline() == ""  # it ends without serving
    _, err = second.communicate(timeout=10)
    assert second.returncode == 2, err
    assert err.strip() == (
        f"m2msim modem serve: {shared}: process {first.pid} is writing it now (one writer per output); "
        "wait for it or choose another"
    )
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=10)
    assert first.returncode == 143


def test_serve_on_tcp_with_a_scenario_delivers_an_sms(
    tmp_path: Path, server: list[subprocess.Popen[str]]
) -> None:
    scenario = tmp_path / "sms.yaml"
    scenario.write_text(
        "start: 2026-03-02T08:00:00Z\n"
        "coverage: [{at: 0, plmn: '20801'}]\n"
        "events:\n  - {at: 3, sms: {from: '+33600000001', text: 'wake up'}}\n"
    )
    records = tmp_path / "usage.csv"
    proc = serve("--profile", "generic", "--tcp", "0", "--scenario", str(scenario), "--records", str(records))
    server.append(proc)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("socket://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"ATE0;+CMGF=1;+CNMI=2,1,0,0,0\r")
        got = b""
        while b"+CMTI:" not in got:
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        assert b'+CMTI: "SM",1' in got
        sock.sendall(b"AT+CMGR=1\r")
        while b"wake up" not in got:
            got += sock.recv(4096)
        sock.sendall(b'AT+CMGS="0612345678"\r')
        while not got.endswith(b"> "):
            got += sock.recv(4096)
        sock.sendall(b"done\x1a")
        while b"+CMGS:" not in got:
            got += sock.recv(4096)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and err.splitlines()[-1].startswith(
        "m2msim modem serve: interrupted (SIGINT)"
    )
    text = records.read_text()
    assert text.count("\n") == 2 and ',"sms",' in text  # header + the MO SMS record


KILLED_SCENARIO = "start: 2026-03-02T08:00:00Z\ncoverage: [{at: 0, plmn: '20801'}]\nseed: 4\n"


def _talk(port: int, *steps: tuple[bytes, bytes]) -> None:
    """On the modem served on `port`: each command (or data) sent in turn, the answer it brings awaited."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        dte = TcpDte(sock)
        for sent, awaited in steps:
            dte.send(sent)
            dte.until(awaited)


def _send_sms(port: int) -> None:
    """An MO SMS from the modem on `port`, once it is registered (one usage record)."""
    _talk(
        port,
        (b"ATE0;+CMGF=1;+CREG=1\r", b"+CREG: 1"),
        (b'AT+CMGS="0612345678"\r', b"> "),
        (b"billed\x1a", b"+CMGS:"),
    )


def _serve_and_interrupt(server: list[subprocess.Popen[str]], *args: str) -> str:
    """`serve --tcp ... ARGS` until it serves (what an earlier serve left is dealt with), then SIGINT:
    its stderr, once it ended with status 130."""
    status, err = _stopped(server, serve(*args), signal.SIGINT)
    assert status == 130, err
    return err


def _left(folder: Path, name: str, tag: str) -> Path | None:
    """The temporary file a serve of `name` writes as it goes (`tag`), once it holds a record."""
    prefix = temporary_name(folder / name, tag).name.rsplit("-", 2)[0]
    for p in folder.iterdir():
        if p.name.startswith(prefix) and p.read_bytes().count(b"\n") >= 2:
            return p
    return None


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_a_killed_serves_records_are_kept_by_the_next_one(
    tmp_path: Path, server: list[subprocess.Popen[str]], name: str
) -> None:
    """A serve killed by SIGKILL (the OOM killer, a CI runner's hard timeout, a power cut): its
    usage records were written under a temporary name only when serving ended, and the next serve
    removed what it left as stale, a whole session's billing evidence lost.  Now each record goes to
    that file as it comes, and the next serve keeps what a killed one left under a visible name beside
    the output, cut after its last whole record (docs/reliability.md)."""
    scenario = tmp_path / "serve.yaml"
    scenario.write_text(KILLED_SCENARIO, encoding="utf-8")
    records, capture = tmp_path / name, tmp_path / "gateway.pcap"
    outputs = ("--scenario", str(scenario), "--records", str(records), "--capture", str(capture))
    first = serve("--profile", "generic", "--tcp", "0", *outputs)
    server.append(first)
    assert first.stdout is not None
    _send_sms(int(first.stdout.readline().strip().rsplit(":", 1)[1]))
    left = wait_in(tmp_path, lambda: _left(tmp_path, name, "rec"), 30, "the SMS's record", growing=True)
    first.send_signal(signal.SIGKILL)  # the record written: nothing of the serve's end runs
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert not records.exists()  # atomic as before: the output never appears part-written
    written = left.read_bytes()
    assert written.startswith(CSV_HEADER) and written.count(b"\n") == 2 and b',"sms",' in written
    with left.open("ab") as f:  # a record the kill cut mid-write
        f.write(b'"33612345678","2026-03-02T08:')

    err = _serve_and_interrupt(server, "--profile", "generic", "--tcp", "0", *outputs)
    kept = tmp_path / f"{Path(name).stem}.recovered-{host_name()}-{first.pid}.csv"
    assert kept.read_bytes() == written  # every record the killed serve wrote, the cut one cut off
    assert err.splitlines()[0] == (
        f"m2msim modem serve: {kept}: holds the usage records of a modem serve that did not end (killed), "
        "up to its last written record"
    )
    assert is_usage_file(kept)  # a usage CSV as m2msim writes it: rated, and replaced, as one
    # the killed serve's capture held no whole packet (an SMS makes none): nothing to keep
    assert not list(tmp_path.glob("gateway.recovered-*")) and capture.exists() and records.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]


def _send_over_a_context(port: int) -> None:
    """On the Quectel modem served on `port`: a PDP context activated and 5 bytes sent over UDP and
    echoed back (up and back down: the context stays active)."""
    _talk(
        port,
        (b"ATE0;+CREG=1\r", b"+CREG: 1"),
        (b'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1\r', b"OK\r\n"),
        (b'AT+QIOPEN=1,0,"UDP","echo.example",7,0,1\r', b"+QIOPEN: 0,0"),
        (b"AT+QISEND=0,5\r", b"> "),
        (b"hello", b'+QIURC: "recv",0,5'),
    )


def _open_session_row(folder: Path, name: str) -> dict[str, str] | None:
    """The latest row of the open data sessions' journal beside `name` once it holds bytes both ways."""
    prefix = temporary_name(folder / name, "open").name.rsplit("-", 2)[0]
    for p in folder.iterdir():
        if p.name.startswith(prefix):
            text = p.read_text(encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])))
            if rows and int(rows[-1]["bytes_up"]) > 0 and int(rows[-1]["bytes_down"]) > 0:
                return rows[-1]
    return None


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_a_killed_serves_open_data_session_is_recovered_up_to_its_last_interim_point(
    tmp_path: Path, server: list[subprocess.Popen[str]], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data session still open when its serve was killed by SIGKILL (the OOM killer, a CI runner's
    hard timeout) had no record at all: its bytes were only counted in memory.  Now the serve keeps an
    interim journal of its open sessions (every second, synced), and the next serve adds each one's
    record, up to its last interim point, to the records it keeps, marked cause 99; `m2msim rate`
    bills it."""
    scenario = tmp_path / "serve.yaml"
    scenario.write_text(KILLED_SCENARIO, encoding="utf-8")
    records = tmp_path / name
    outputs = (
        "--profile",
        "quectel-bg96",
        "--tcp",
        "0",
        "--scenario",
        str(scenario),
        "--records",
        str(records),
    )
    first = serve(*outputs)
    server.append(first)
    assert first.stdout is not None and first.stderr is not None
    port = int(first.stdout.readline().strip().rsplit(":", 1)[1])
    while " IMEI " not in (said := first.stderr.readline()):  # the modem's identity, after the IP path
        assert said, "no identity on stderr"
    line = said.rsplit(" line ", 1)[1].strip()
    _send_over_a_context(port)
    row = wait_in(tmp_path, lambda: _open_session_row(tmp_path, name), 30, "the interim row", growing=True)
    first.send_signal(signal.SIGKILL)  # its data session open
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert row["cause"] == "99" and row["sequence"] == "1" and row["line"] == line

    err = _serve_and_interrupt(server, *outputs)
    kept = tmp_path / f"{Path(name).stem}.recovered-{host_name()}-{first.pid}.csv"
    assert err.splitlines()[0] == (
        f"m2msim modem serve: {kept}: holds the usage records of a modem serve that did not end (killed), "
        "up to its last written record, and 1 data session it had open up to its last interim point (cause 99)"
    )
    (got,) = csv.DictReader(io.StringIO(kept.read_text(encoding="utf-8")))
    assert got == row  # the session's record, as its last interim point had it
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".m2msim-")]

    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        f"customer: lab\nmonth: 2026-03\nlines:\n  - id: '{line}'\n    offer: business-m2m\n"
        "    plan: compteur\n    commitment: 24\n    since: 2026-01-01\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["rate", str(inventory), str(kept), "--json"]) == 0
    invoice = json.loads(capsys.readouterr().out)
    assert invoice["rejects"] == [] and invoice["rows_read"] == 1
    (billed,) = [i for i in invoice["lines"][0]["items"] if i["code"].startswith("data-")]
    octets = int(row["bytes_up"]) + int(row["bytes_down"])
    assert billed["unit"] == "ko" and Decimal(billed["quantity"]) == -(-octets // 1024)


def test_serve_bad_profile_exits_2_with_one_line(server: list[subprocess.Popen[str]]) -> None:
    proc = serve("--profile", "nosuch")
    server.append(proc)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "unknown modem profile 'nosuch'" in err and "Traceback" not in err


def test_shipped_profiles_load_and_keep_other_sections() -> None:
    assert {"generic", "simcom-sim800", "quectel-bg96", "quectel-eg25"} <= set(profile_names())
    for name in profile_names():
        p = load_profile(name)
        assert p.name == name
    text = (ROOT / "modem/profiles/generic.yaml").read_text().split("\ndriver:")[
        0
    ] + "\ndriver:\n  init: [ATE0]\n"
    p = parse_profile(text, "x.yaml")
    assert p.sections["driver"] == {"init": ["ATE0"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('imei_tac: "35209900"', 'imei_tac: "3520"'), r"x\.yaml:\d+: identity\.imei_tac"),
        (('  msisdn_prefix: "3361"', '  msisdn_prefix: "3361"\n  imei: "352099001234567"'), "Luhn"),
        (("commands: [", "commands: [teleport, "), r"commands: unknown command sets \['teleport'\]"),
        (("  cmee: 0", "  cmee: 7"), r"x\.yaml:\d+: defaults\.cmee"),
    ],
)
def test_bad_profiles_name_file_line_and_field(change: tuple[str, str], message: str) -> None:
    text = (ROOT / "modem/profiles/generic.yaml").read_text()
    assert change[0] in text
    with pytest.raises(ProfileError, match=message):
        parse_profile(text.replace(change[0], change[1], 1), "x.yaml")


def test_bad_scenario_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("coverage:\n  - {at: 0, plmn: '2080'}\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:2: coverage\[0\]\.plmn"):
        load_scenario(bad)


def test_a_scenario_network_of_an_unassigned_mcc_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("coverage:\n  - {at: 0, plmn: '20801'}\n  - {at: 60, plmn: '26701'}\n")
    with pytest.raises(
        ScenarioError, match=r"s\.yaml:3: coverage\[1\]\.plmn: MCC 267 of '26701' is not an assigned"
    ):
        load_scenario(bad)


def test_serving_on_an_unassigned_mcc_is_refused_before_serving() -> None:
    result = run_cli(["modem", "serve", "--profile", "generic", "--plmn", "00101", "--check"])
    assert_cli_contract(result)
    assert result.rc == 2 and "--plmn '00101': MCC 001 of '00101' is not an assigned" in result.err, result


def test_a_data_session_open_when_serving_ends_is_closed_by_the_operator(
    tmp_path: Path, server: list[subprocess.Popen[str]]
) -> None:
    """A serve stopped (SIGTERM) with a PDP context up wrote its record with cause 0, a normal release
    the modem never made: it is closed there with cause 20, management intervention (TS 32.298)."""
    scenario = tmp_path / "serve.yaml"
    scenario.write_text(KILLED_SCENARIO, encoding="utf-8")
    records = tmp_path / "usage.csv"
    proc = serve(
        "--profile", "quectel-bg96", "--tcp", "0", "--scenario", str(scenario), "--records", str(records)
    )
    server.append(proc)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
    _send_over_a_context(port)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    (row,) = [
        r for r in csv.DictReader(io.StringIO(records.read_text(encoding="utf-8"))) if r["type"] == "data"
    ]
    assert row["cause"] == "20" and int(row["bytes_up"]) > 0 and int(row["bytes_down"]) > 0
