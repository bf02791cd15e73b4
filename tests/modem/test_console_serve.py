"""`m2msim modem serve` driven through its console while a real AT client (python-gsmmodem-new) reacts.

The serve runs as a process (the `serve_console` fixture of modem.virtual.control_fixture); the client
opens the pty as it would a USB modem.  Every wait is on an event or a console `wait`, with a timeout.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modem.virtual.control_client import ConsoleClient, ConsoleError
from modem.virtual.control_fixture import ServedConsole

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
    warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
    warnings.filterwarnings("ignore", '"is( not)?" with a literal', SyntaxWarning)
    gsmmodem = pytest.importorskip("gsmmodem")
    from gsmmodem.modem import GsmModem

ROOT = Path(__file__).resolve().parents[2]
Start = Callable[..., ServedConsole]


class WatchedModem(GsmModem):  # type: ignore[misc]
    """python-gsmmodem, keeping the unsolicited lines it is shown (the +CREG it does not handle itself)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.urcs: list[str] = []
        self.urc_seen = threading.Condition()
        self.deleted = threading.Event()

    def deleteStoredSms(self, index: int, memory: str | None = None) -> None:
        super().deleteStoredSms(index, memory)
        self.deleted.set()  # python-gsmmodem deletes a message once its callback returned

    def _handleModemNotification(self, lines: list[str]) -> None:
        with self.urc_seen:
            self.urcs.extend(lines)
            self.urc_seen.notify_all()
        super()._handleModemNotification(lines)

    def wait_urc(self, line: str, after: int = 0, timeout: float = 15.0) -> int:
        """Wait for `line` among the URCs from position `after`; the position after it."""
        with self.urc_seen:
            ok = self.urc_seen.wait_for(lambda: line in self.urcs[after:], timeout)
            assert ok, f"no {line!r} in {self.urcs[after:]}"
            return self.urcs.index(line, after) + 1


@pytest.fixture
def client_of() -> Iterator[Callable[..., WatchedModem]]:
    opened: list[WatchedModem] = []

    def connect(path: str, **callbacks: Any) -> WatchedModem:
        gsm = WatchedModem(path, 115200, **callbacks)
        gsm.connect()
        opened.append(gsm)
        gsm.waitForNetworkCoverage(timeout=15)
        return gsm

    yield connect
    for gsm in opened:
        gsm.close()


def test_mt_sms_from_the_console_is_read_by_the_client(serve_console: Start, client_of: Any) -> None:
    served = serve_console("--profile", "simcom-sim800", "--seed", "4")
    inbox: list[Any] = []
    got = threading.Event()

    def on_sms(sms: Any) -> None:
        inbox.append(sms)
        got.set()

    gsm = client_of(served.paths[0], smsReceivedCallbackFunc=on_sms)
    served.console.sms(0, "+33698765432", "Open valve 3")
    assert got.wait(15), "no SMS reached the client"
    assert inbox[0].text == "Open valve 3"
    assert inbox[0].number == "+33698765432"
    assert gsm.deleted.wait(15), "the client did not delete the message"
    assert served.console.modems(0)[0]["sms_stored"] == 0


def test_incoming_call_from_the_console_is_answered_by_the_client(
    serve_console: Start, client_of: Any
) -> None:
    served = serve_console("--profile", "simcom-sim800", "--seed", "5")
    rang: list[Any] = []
    answered = threading.Event()

    def on_call(call: Any) -> None:  # python-gsmmodem's handler thread
        rang.append(call.number)
        call.answer()
        answered.set()

    client_of(served.paths[0], incomingCallCallbackFunc=on_call)
    served.console.call(0, "+33655555555")
    assert served.console.wait(0, "call-active", timeout=20)["state"] == "call-active"
    assert answered.wait(15), "the client's ATA got no answer"
    assert rang == ["+33655555555"]
    served.console.hangup(0)
    assert served.console.wait(0, "idle", timeout=10)["state"] == "idle"


def test_coverage_lost_then_back_shows_in_the_clients_creg_urcs(serve_console: Start, client_of: Any) -> None:
    served = serve_console("--profile", "quectel-bg96", "--seed", "6")
    gsm = client_of(served.paths[0])
    gsm.write("AT+CREG=1")
    served.console.coverage(0, "none")
    at = gsm.wait_urc("+CREG: 2")
    assert served.console.modems(0)[0]["registration"] == 2
    served.console.coverage(0, "home")
    gsm.wait_urc("+CREG: 1", after=at)
    served.console.coverage(0, "20610")  # roaming in Belgium
    gsm.wait_urc("+CREG: 5", after=at)
    assert gsm.networkName == "Orange B"


def test_console_usage_equals_the_gateways_records(
    serve_console: Start, client_of: Any, tmp_path: Path
) -> None:
    records, journal = tmp_path / "usage.csv", tmp_path / "journal.jsonl"
    served = serve_console(
        "--profile", "simcom-sim800", "--seed", "7", "--records", str(records), "--journal", str(journal)
    )
    gsm = client_of(served.paths[0])
    served.console.run("outcome", "0140000000", "answered")
    gsm.sendSms("+33612345678", "Meter 42: 1234 kWh")
    answered = threading.Event()
    # the client's own 5 s wait for the call's set-up is a bound for a loaded CI machine: give it more
    call = gsm.dial(
        "0140000000", timeout=60, callStatusUpdateCallbackFunc=lambda c: c.answered and answered.set()
    )
    assert answered.wait(60)
    call.hangup()
    served.console.wait(0, "idle", timeout=10)
    (usage,) = served.console.usage(0)
    ussd = gsm.sendUssd("*#123#")  # the operator's menu: the same month, priced by the catalog
    assert f": {usage['usage_amount']} EUR (month {usage['month_total']} EUR)" in ussd.message
    assert served.stop() == 143
    with records.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["line"] == usage["line"]]
    assert usage["records"] == len(rows) == 2
    assert usage["sms_records"] == sum(1 for r in rows if r["type"] == "sms") == 1
    assert usage["voice_records"] == sum(1 for r in rows if r["type"] == "voice") == 1
    assert usage["duration_s"] == sum(int(r["duration_s"]) for r in rows)
    head, *entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert head["profile"] == "simcom-sim800" and head["seed"] == 7
    assert [e["cmd"] for e in entries] == [["outcome", "0140000000", "answered"]]


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "ctl", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        timeout=60,
    )


def test_ctl_command_line_and_the_tcp_console_with_its_token(serve_console: Start) -> None:
    served = serve_console("--profile", "generic", "--count", "2", "--control", "tcp")
    doc = json.loads(served.address_file.read_text())
    assert doc["address"].startswith("tcp://127.0.0.1:") and len(doc["token"]) == 32
    assert doc["modems"] == served.paths
    assert oct(served.address_file.stat().st_mode & 0o777) == "0o600"
    done = ctl(str(served.address_file), "csq", "1", "12")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"csq": [12, 0], "modems": [1]}
    bad = ctl(str(served.address_file), "csq", "1", "77")
    assert bad.returncode == 2
    assert bad.stderr == "m2msim modem ctl: csq RSSI '77': 0..31 or 99\n"
    no_token = ctl(doc["address"], "list")
    assert no_token.returncode == 2 and "needs its token" in no_token.stderr
    with pytest.raises(ConsoleError, match="auth TOKEN first"):
        ConsoleClient(doc["address"], token="0" * 32)
    served.console.wait("all", "registered", timeout=15)
    assert [r["csq"] for r in served.console.modems()] == [[20, 0], [12, 0]]
    assert served.stop() == 143
    assert not served.address_file.exists()  # the serve removes the address file it wrote


def test_ctl_reports_an_unreachable_console_in_one_line(tmp_path: Path) -> None:
    done = ctl(str(tmp_path / "nothing.json"), "list")
    assert done.returncode == 2
    assert done.stderr == f"m2msim modem ctl: {tmp_path / 'nothing.json'}: no such address file or socket\n"


def serve_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m2msim", "modem", "serve", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_serve_refuses_bad_console_options_in_one_line(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    done = serve_check("--control-file", str(mine), "--check")
    assert done.returncode == 2
    assert (
        done.stderr
        == f"m2msim modem serve: --control-file {mine}: exists and is not a console address file\n"
    )
    assert mine.read_text() == "my notes\n"
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"m2msim": "console-journal"}\n{"t": 1, "cmd": ["wait", "0", "registered"]}\n')
    done = serve_check("--replay", str(journal), "--check")
    assert done.returncode == 2
    assert (
        done.stderr
        == f"m2msim modem serve: {journal}:2: cmd: 'wait' is not a command that a journal replays\n"
    )
    done = serve_check("--control", "none", "--journal", str(tmp_path / "out.jsonl"), "--check")
    assert done.returncode == 2 and "--control none" in done.stderr
    beside = tmp_path / "usage.csv.console.jsonl"
    beside.write_text("my notes\n")
    done = serve_check("--records", str(tmp_path / "usage.csv"), "--check")
    assert done.returncode == 2
    assert (
        f"{beside} (the console journal beside the records) exists and is not a console journal"
        in done.stderr
    )
    assert beside.read_text() == "my notes\n"


def test_a_journal_replays_on_a_new_serve(serve_console: Start, tmp_path: Path) -> None:
    journal = tmp_path / "usage.csv.console.jsonl"  # with --records, the journal goes beside them
    first = serve_console("--profile", "generic", "--seed", "3", "--records", str(tmp_path / "usage.csv"))
    first.console.run("csq", "0", "9", "1")
    first.console.run("coverage", "0", "20610")
    first.console.wait(0, "roaming", timeout=15)
    assert first.stop() == 143
    again = serve_console("--profile", "generic", "--seed", "3", "--replay", str(journal))
    again.console.wait(0, "roaming", timeout=15)
    (row,) = again.console.modems(0)
    assert row["csq"] == [9, 1] and row["plmn"] == "20610"
