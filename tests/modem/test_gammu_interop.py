"""gammu (the command-line client of libGammu, Debian package `gammu`) against `m2msim modem serve`.

What users run with it on a modem: `identify`, `getsecuritystatus`, `networkinfo`, `getussd`,
`sendsms TEXT`, `getallsms`, `deleteallsms`, `dialvoice`, `cancelcall`.  Each test serves its own
modems (`serve_console`), gammu opens the pty as it would /dev/ttyUSB0 (`connection = at`), and what it
did is checked on the network's side: the console, the other modem's AT, the usage records.  Every
gammu run is a process group of its own, ended whatever happens (`processes.run_group`).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from processes import end_group, run_group
from ptys import PtyDte

from modem.virtual.control_fixture import ServedConsole

GAMMU = shutil.which("gammu")
pytestmark = pytest.mark.skipif(
    GAMMU is None, reason="gammu is not installed (Debian package gammu; .ci/run installs it)"
)

Start = Callable[..., ServedConsole]
RUN_S = 30.0  # one gammu command: it answers in well under a second; a bound for a loaded CI machine
SENDER = "+33698765432"


def serve(serve_console: Start, count: int = 1, *options: str) -> ServedConsole:
    # no link shaping (the SMS radio legs take no time) and no network namespace: the AT dialogue is
    # what these tests are about
    return serve_console(
        "--profile", "simcom-sim800", "--count", str(count), "--seed", "11", "--net", "full",
        "--ip-path", "user", *options,
    )  # fmt: skip


class Gammu:
    """gammu on one served modem: its own configuration file and debug log in the test's folder."""

    def __init__(self, device: str, folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        self.log = folder / "gammu.log"
        self.rc = folder / "gammurc"
        self.rc.write_text(
            f"[gammu]\ndevice = {device}\nconnection = at\nlogfile = {self.log}\nlogformat = textall\n"
        )

    def __call__(self, *args: str) -> str:
        assert GAMMU is not None
        done = run_group([GAMMU, "-c", str(self.rc), *args], RUN_S)
        log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        assert done.returncode == 0, (
            f"gammu {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}\n{log}"
        )
        return done.stdout

    def interrupted_after(self, marker: str, *args: str) -> str:
        """gammu's output up to `marker`, then Ctrl+C as its "Press Ctrl+C to break" says (getussd waits
        10 s for more replies otherwise); its stdout a pty so that it is line-buffered."""
        assert GAMMU is not None
        master, slave = os.openpty()
        proc = subprocess.Popen(
            [GAMMU, "-c", str(self.rc), *args],
            stdout=slave,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(slave)
        out = b""
        try:
            deadline = time.monotonic() + RUN_S
            while marker.encode() not in out or not out.endswith(b"\n"):
                ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, f"gammu {' '.join(args)}: no {marker!r} in {RUN_S:g} s: {out!r}"
                out += os.read(master, 65536)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(RUN_S)  # gammu ends on Ctrl+C with its "aborted" status (170)
        finally:
            end_group(proc)
            os.close(master)
        return out.decode().replace("\r\n", "\n")

    def batch(self, *commands: str) -> list[str]:
        """`gammu batch FILE`: the commands on one connection (gammu's set-up, ~4 s, once); each one's output."""
        script = self.rc.with_name("batch.txt")
        script.write_text("".join(f"{c}\n" for c in commands))
        out = self(*["batch", str(script)])
        return re.split(r"^-+\nExecuting batch .* - command \d+: .*\n", out, flags=re.MULTILINE)[1:]


def field(out: str, name: str) -> str:
    """The value of gammu's `Name   : value` line."""
    found = re.search(rf"^{re.escape(name)}\s*: (.*)$", out, re.MULTILINE)
    assert found, f"no {name!r} in {out!r}"
    return found.group(1).strip()


def test_identify_security_status_network_and_ussd(serve_console: Start, tmp_path: Path) -> None:
    served = serve(serve_console)
    (modem,) = served.console.modems()
    gammu = Gammu(served.paths[0], tmp_path / "gammu")
    ident, security, network = gammu.batch("identify", "getsecuritystatus", "networkinfo")
    assert field(ident, "Manufacturer") == "SIMCOM_Ltd"
    assert "SIMCOM_SIM800" in field(ident, "Model")
    assert field(ident, "IMEI") == modem["imei"]
    assert field(ident, "SIM IMSI") == modem["imsi"]
    assert field(ident, "Firmware").startswith("Revision:")
    assert security.strip() == "Nothing to enter."
    assert field(network, "Network state") == "home network"
    assert field(network, "Network").startswith("208 01 (Orange, France)")
    assert field(network, "GPRS") == "attached"
    assert field(network, "Name in phone") == '"Orange F"'
    out = gammu.interrupted_after("Service reply", "getussd", "*#100#")
    assert field(out, "Service reply") == f'"Your number: {modem["msisdn"]}"'
    # the console moves the modem to Belgium: gammu sees it roam
    served.console.coverage(0, "20610")
    served.console.wait(0, "roaming", timeout=15)
    out = gammu("networkinfo")
    assert field(out, "Network state") == "roaming network"
    assert field(out, "Network").startswith("206 10")


def test_sendsms_reaches_the_other_modem_and_is_billed(serve_console: Start, tmp_path: Path) -> None:
    served = serve(serve_console, 2)
    sender, recipient = served.console.modems()
    gammu = Gammu(served.paths[0], tmp_path / "gammu")
    text = "Meter 42: 1234 kWh"
    with PtyDte(served.paths[1]) as other:
        other.at("ATE0")
        out = gammu("sendsms", "TEXT", recipient["msisdn"], "-text", text)
        assert re.search(r"OK, message reference=\d+", out), out
        read = other.next_sms()
    assert f'"REC UNREAD","{sender["msisdn"]}"' in read and f"\r\n{text}\r\n" in read, read
    (usage,) = served.console.usage(0)
    assert usage["sms_records"] == usage["records"] == 1
    assert Decimal(usage["usage_amount"]) > 0  # the offer prices an SMS to a mobile


def test_getallsms_shows_a_delivered_sms_and_deleteallsms_empties_the_inbox(
    serve_console: Start, tmp_path: Path
) -> None:
    served = serve(serve_console)
    gammu = Gammu(served.paths[0], tmp_path / "gammu")
    with PtyDte(served.paths[0]) as dte:  # the modem says when the message is stored (+CMTI)
        dte.at("ATE0")
        served.console.sms(0, SENDER, "Open valve 3")
        dte.until(b'+CMTI: "SM",')
    listed, _, emptied = gammu.batch("getallsms", "deleteallsms 1", "getallsms")  # 1: the SIM's inbox
    assert field(listed, "Remote number") == f'"{SENDER}"'
    assert field(listed, "Status") == "UnRead"
    assert "\nOpen valve 3\n" in listed
    assert "1 SMS parts in 1 SMS sequences" in listed
    assert "0 SMS parts in 0 SMS sequences" in emptied
    assert served.console.modems(0)[0]["sms_stored"] == 0


def test_dialvoice_rings_the_other_modem_which_answers_then_cancelcall_ends_it(
    serve_console: Start, tmp_path: Path
) -> None:
    served = serve(serve_console, 2)
    caller, called = served.console.modems()
    gammu = Gammu(served.paths[0], tmp_path / "gammu")
    with PtyDte(served.paths[1]) as other:
        other.at("ATE0")
        other.at("AT+CLIP=1")
        gammu("dialvoice", called["msisdn"])
        other.until(b"\r\nRING\r\n")
        clip = other.until(b"\r\n").decode() + other.until(b"\r\n").decode()
        assert f'+CLIP: "{caller["msisdn"]}",145' in clip, clip
        other.at("ATA")
        served.console.wait("0,1", "call-active", timeout=15)
        gammu("cancelcall")
        other.until(b"\r\nNO CARRIER\r\n")
    served.console.wait("all", "idle", timeout=15)
    (usage,) = served.console.usage(0)
    assert usage["voice_records"] == 1  # the caller's line, the answered time
    assert served.console.usage(1)[0]["voice_records"] == 0  # a call received is not billed


def test_savesms_files_messages_in_the_inbox_and_outbox_that_getallsms_reads_back(
    serve_console: Start, tmp_path: Path
) -> None:
    """gammu files a received message with AT+CMGW=<length>,<stat> and an SMS-DELIVER PDU (27.005
    3.5.3): the <stat> was not read, such a PDU refused (CMS 304) and savesms to the inbox failed."""
    served = serve(serve_console)
    gammu = Gammu(served.paths[0], tmp_path / "gammu")
    gammu("savesms", "TEXT", "-folder", "1", "-sender", SENDER, "-read", "-text", "Inbox copy")
    gammu("savesms", "TEXT", "-folder", "2", "-sender", "+33600000002", "-sent", "-text", "Outbox copy")
    listed = gammu("getallsms")
    inbox, outbox = listed.split("Location 2")
    assert field(inbox, "Remote number") == f'"{SENDER}"' and field(inbox, "Status") == "Read"
    assert "\nInbox copy\n" in inbox
    assert field(outbox, "Remote number") == '"+33600000002"' and field(outbox, "Status") == "Sent"
    assert "\nOutbox copy\n" in outbox
    assert "2 SMS parts in 2 SMS sequences" in listed
