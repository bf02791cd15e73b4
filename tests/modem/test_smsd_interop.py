"""smsd (SMS Server Tools 3, Debian package `smstools`) against `m2msim modem serve`.

What users run it for: a file dropped into its outgoing spool is sent through the modem and moved to
`sent/`; an SMS the modem receives is written to `incoming/`.  smsd runs in the foreground (`-t`) with
a configuration, spool folders, pidfile, infofile and logfile all in the test's folder, in a process
group of its own that the fixture ends whatever happens.  Files are waited for with inotify.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from filewatch import wait_in
from processes import end_group
from ptys import PtyDte

from modem.virtual.control_fixture import ServedConsole

SMSD = shutil.which("smsd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
pytestmark = pytest.mark.skipif(
    SMSD is None, reason="smsd is not installed (Debian package smstools; .ci/run installs it)"
)

Start = Callable[..., ServedConsole]
WAIT_S = 30.0  # smsd checks its spool and the modem every second; a bound for a loaded CI machine
SPOOLS = ("outgoing", "checked", "failed", "incoming", "sent")


@dataclass
class Smsd:
    folder: Path
    process: subprocess.Popen[bytes]

    def spool(self, name: str) -> Path:
        return self.folder / name

    def log(self) -> str:
        path = self.folder / "smsd.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def smsd(tmp_path: Path) -> Iterator[Callable[[str], Smsd]]:
    """A factory: `smsd(device)` starts smsd on that modem; every smsd started is ended with its group."""
    started: list[Smsd] = []

    def start(device: str) -> Smsd:
        assert SMSD is not None
        folder = tmp_path / "smsd"
        for name in SPOOLS:
            (folder / name).mkdir(parents=True)
        spools = "".join(f"{name} = {folder / name}\n" for name in SPOOLS)
        conf = folder / "smsd.conf"
        conf.write_text(
            f"devices = GSM1\n{spools}logfile = {folder / 'smsd.log'}\nloglevel = 7\n"
            f"infofile = {folder / 'smsd.working'}\npidfile = {folder / 'smsd.pid'}\n"
            "delaytime = 1\ndelaytime_mainprocess = 1\nreceive_before_send = no\nautosplit = 3\n\n"
            f"[GSM1]\ndevice = {device}\nincoming = yes\nbaudrate = 115200\n"
        )
        output = (folder / "smsd.out").open("wb")
        process = subprocess.Popen(
            [SMSD, "-t", f"-c{conf}"], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        output.close()
        started.append(Smsd(folder, process))
        return started[-1]

    yield start
    for each in started:
        end_group(each.process)


def serve(serve_console: Start, count: int) -> ServedConsole:
    return serve_console(
        "--profile", "simcom-sim800", "--count", str(count), "--seed", "12", "--net", "full",
        "--ip-path", "user",
    )  # fmt: skip


def test_an_outgoing_file_is_sent_to_the_other_modem_moved_to_sent_and_billed(
    serve_console: Start, smsd: Callable[[str], Smsd]
) -> None:
    served = serve(serve_console, 2)
    sender, recipient = served.console.modems()
    daemon = smsd(served.paths[0])
    text = "Pump 7 stopped at 03:12"
    with PtyDte(served.paths[1], timeout=WAIT_S) as other:
        other.at("ATE0")
        # smsd's own format: headers, an empty line, the text; the number without its "+"
        draft = daemon.spool("outgoing") / ".pump7"
        draft.write_text(f"To: {recipient['msisdn'].lstrip('+')}\n\n{text}\n")
        draft.rename(daemon.spool("outgoing") / "pump7")
        sent = daemon.spool("sent") / "pump7"
        wait_in(daemon.spool("sent"), lambda: sent if sent.exists() else None, WAIT_S, "pump7 sent")
        read = other.next_sms()
    assert f'"REC UNREAD","{sender["msisdn"]}"' in read and f"\r\n{text}\r\n" in read, read
    assert re.search(r"SMS sent, Message_id: \d+, To: 3362", daemon.log()), daemon.log()[-3000:]
    assert os.listdir(daemon.spool("failed")) == []
    (usage,) = served.console.usage(0)
    assert usage["sms_records"] == usage["records"] == 1
    assert Decimal(usage["usage_amount"]) > 0  # the offer prices an SMS to a mobile


def test_an_sms_the_modem_receives_is_written_to_incoming(
    serve_console: Start, smsd: Callable[[str], Smsd]
) -> None:
    served = serve(serve_console, 1)
    daemon = smsd(served.paths[0])
    served.console.sms(0, "+33698765432", "Open valve 3")
    incoming = daemon.spool("incoming")

    def received() -> str | None:
        for path in incoming.iterdir():
            if path.name.startswith("GSM1."):  # smsd's name for a message: modem, then a random part
                text = path.read_text(errors="replace")
                length = re.search(r"^Length: (\d+)$", text, re.MULTILINE)
                # whole once the text after the headers is as long as their Length says
                if length and len(text.partition("\n\n")[2]) >= int(length.group(1)):
                    return text
        return None

    message = wait_in(incoming, received, WAIT_S, "the SMS in incoming/")
    headers, _, body = message.partition("\n\n")
    assert "From: 33698765432" in headers.splitlines(), message
    assert body == "Open valve 3", message
    assert "From_SMSC: " in message and "Modem: GSM1" in headers.splitlines(), message
