"""`m2msim modem probe` and `m2msim modem at`, on the in-process virtual modem and over a pty."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from gateway.api import MtSms
from m2msim.cli import main
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.identity import derive_identity
from modem.virtual.server import PtyEndpoint


def test_probe_virtual_modem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modem", "probe", "virtual://quectel-bg96?seed=2"]) == 0
    out = capsys.readouterr().out
    ident = derive_identity(load_profile("quectel-bg96"), 2, 0)
    assert "manufacturer: Quectel" in out and "model:        BG96" in out
    assert f"IMEI:         {ident.imei}" in out and f"IMSI:         {ident.imsi}" in out
    assert f"ICCID:        {ident.iccid}" in out
    assert "CEREG" in out and "signal:" in out


def test_probe_waits_for_the_virtual_modem_to_register_on_its_network(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # speed=50: the profile's network search passes 50 times faster than the wall clock.
    assert main(["modem", "probe", "virtual://quectel-bg96?seed=2&speed=50", "--wait", "10"]) == 0
    out = capsys.readouterr().out
    assert "CEREG         1 (registered, home network)" in out
    assert "operator:     Orange F" in out and "signal:       -" in out and "unknown" not in out


def test_probe_exits_1_when_the_network_refuses_registration(capsys: pytest.CaptureFixture[str]) -> None:
    # reg_denied: the network answers the attach with stat 3; the probe stops waiting at once.
    url = "virtual://generic?seed=2&speed=50&reg_denied=1"
    assert main(["modem", "probe", url, "--wait", "30"]) == 1
    captured = capsys.readouterr()
    assert "CREG          3 (registration denied)" in captured.out  # the report is still printed
    err = [line for line in captured.err.splitlines() if line.strip()]
    assert err == [
        f"m2msim modem probe: {url}: registration refused by the network "
        "(CREG 3 (registration denied), CGREG 3 (registration denied))"
    ]


def test_probe_exits_1_when_the_modem_does_not_register_within_wait(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Coverage lost at simulated second 0 and never back: searching (stat 2) for ever.
    url = "virtual://generic?seed=2&speed=50&reg_lost_at=0"
    assert main(["modem", "probe", url, "--wait", "0.5"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(
        f"m2msim modem probe: {url}: not registered after 0.5 s (CREG 2"
    )


def test_probe_without_wait_reports_a_search_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    # A modem still searching is a state to report, not a failure, unless --wait asked for more.
    assert main(["modem", "probe", "virtual://generic?seed=2&reg_lost_at=0"]) == 0
    assert "CREG          2 (not registered, searching)" in capsys.readouterr().out


def test_raw_at_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modem", "at", "virtual://generic", "AT+CGMI", "AT+NOSUCH", "AT+CSQ"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "> AT+CGMI" and "M2MSIM" in lines and "> AT+NOSUCH" in lines
    assert "error: 'AT+NOSUCH': ERROR" in lines
    assert any(line.startswith("+CSQ: ") for line in lines) and lines[-1] == "OK"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["modem", "probe", "loop://"], "no file descriptor"),
        (["modem", "at", "/dev/does-not-exist-m2msim", "AT"], "cannot open serial device"),
        (["modem", "probe", "virtual://generic", "--profile", "nokia-3310"], "unknown modem profile"),
        (["modem", "at", "rfc2217://h:1", "AT"], "unsupported URL scheme"),
    ],
)
def test_unusable_input_exits_2_without_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("line", ["ATD+33612345678;", "ATE0D+33612345678;", 'AT+CMSS=1,"+33612345678"', "A/"])
def test_raw_lines_that_text_or_call_are_refused_on_a_physical_modem(
    line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # checked before the device is opened: no allow-list here, so nothing that texts or calls goes
    assert main(["modem", "at", "/dev/does-not-exist-m2msim", "AT+CSQ", line]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "cannot open" not in err and "Traceback" not in err


def test_a_command_not_known_to_be_safe_is_refused_on_a_physical_modem_unless_allowed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    device = "/dev/does-not-exist-m2msim"
    assert main(["modem", "at", device, "AT+CSQ", 'AT+QCFG="roamservice",2']) == 2
    err = capsys.readouterr().err
    assert "AT+QCFG is not known to be safe" in err and "cannot open" not in err
    # listed: it gets as far as opening the device
    assert main(["modem", "at", device, "--allow-command", "AT+QCFG", 'AT+QCFG="roamservice",2']) == 2
    assert "cannot open" in capsys.readouterr().err
    assert main(["modem", "at", device, "--allow-command", "AT+QCFG=1", "AT"]) == 2
    assert "--allow-command: 'AT+QCFG=1' is not a command name" in capsys.readouterr().err


class PtyServedModem:
    """The virtual modem on a pseudo-terminal, served by an event loop in a background thread."""

    def __init__(self, profile: str) -> None:
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(profile,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the pty server did not start"

    def _run(self, profile: str) -> None:
        asyncio.set_event_loop(self._loop)
        clock = LoopClock(self._loop)
        self.modem = VirtualModem(load_profile(profile), seed=5, now=clock.now())
        self.endpoint = PtyEndpoint(self.modem, clock)
        self.path = self.endpoint.path
        self._ready.set()
        self._loop.run_forever()
        self.endpoint.close()
        self._loop.close()

    def call(self, action: Callable[[VirtualModem], object]) -> None:
        """Run `action(modem)` on the modem's event loop, and wait for it."""

        async def run() -> None:
            action(self.modem)

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_raw_text_mode_reads_take_a_message_whole_with_its_length_and_warn_without(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stored text-mode message holding a line `OK`: with AT+CSDH=1 the answer ended at that line
    (the rest printed as URCs and the modem's OK as a URC); now the text runs to the header's
    <length>, printed with its line breaks as \\n.  Without AT+CSDH=1 nothing tells where the
    text ends: the user is told so on stderr."""
    served = PtyServedModem("simcom-sim800")
    try:
        served.call(lambda m: m.sms.receive(MtSms("+33611111111", "hi\nOK\nbye", 0.0)))
        commands = ["AT+CMGF=1", "AT+CSDH=1", "AT+CMGR=1", "AT+CSQ", "AT+CSDH=0", "AT+CMGR=1"]
        status = main(["modem", "at", served.path, *commands, "--timeout", "10"])
    finally:
        served.stop()
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert status == 0
    read = out.index("> AT+CMGR=1")
    assert out[read + 1].startswith('+CMGR: "REC UNREAD","+33611111111",,') and out[read + 1].endswith(",9")
    assert out[read + 2 : read + 5] == ["hi\\nOK\\nbye", "OK", "> AT+CSQ"]
    assert not {"URC OK", "URC bye"} & set(out[: read + 5])
    warning = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "text mode without the message's <length> (AT+CSDH=0)" in warning[0]
    assert "Send AT+CSDH=1 first" in warning[0] and warning[0].startswith(
        "m2msim modem at: warning: '+CMGR: "
    )


def test_probe_over_a_pty(capsys: pytest.CaptureFixture[str]) -> None:
    served = PtyServedModem("simcom-sim800")
    try:
        status = main(["modem", "probe", served.path, "--profile", "simcom-sim800", "--timeout", "10"])
    finally:
        served.stop()
    out = capsys.readouterr().out
    ident = served.modem.identity
    assert status == 0
    assert f"IMEI:         {ident.imei}" in out and f"ICCID:        {ident.iccid}" in out
    assert "model:        SIMCOM_SIM800" in out


class _Unplugged(threading.Thread):
    """A pty whose modem is unplugged as the first command line comes: the port fails to read."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        self.got = b""

    def run(self) -> None:
        while b"\r" not in self.got:
            self.got += os.read(self.master, 100)
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.parametrize("command", [["probe"], ["at", "AT+CSQ"]], ids=["probe", "at"])
def test_a_modem_unplugged_mid_command_exits_1_saying_so(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = _Unplugged()
    port.start()
    code = main(["modem", command[0], port.name, *command[1:], "--timeout", "5"])
    port.join(5)
    captured = capsys.readouterr()
    said = (captured.err + captured.out).strip().splitlines()[-1]
    assert code == 1 and "read failed" in said and port.name in said, said
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("line", "instead"),
    [
        ("AT+CMEE=1;Z", "AT+CMEE=1 ATZ"),
        ("ATE0;&F", "ATE0 'AT&F'"),
        ("AT+CSQ;Z0", "AT+CSQ ATZ0"),
        # quoted for the shell: pasted, a bare ';' ended the command there (and '&' sent it to the
        # background), the rest run as another command
        ("AT+CMEE=1;+CREG=2;Z", "'AT+CMEE=1;+CREG=2' ATZ"),
        ('AT+CSCS="GSM";Z', """'AT+CSCS="GSM"' ATZ"""),
    ],
)
def test_a_reset_within_a_line_is_refused_before_anything_is_sent_saying_what_to_send(
    line: str, instead: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # before, the command guard refused it once the modem was open and the lines before it sent,
    # exit 1, speaking of settings this tool does not set; now nothing is sent, exit 2, and the
    # message says to send the reset on its own line
    device = "/dev/does-not-exist-m2msim"
    assert main(["modem", "at", device, "AT+CSQ", line]) == 2
    err = capsys.readouterr().err
    assert "cannot open" not in err and "Traceback" not in err
    assert f"{line!r} refused: AT" in err and "within the line" in err
    assert f"on its own line, e.g. `m2msim modem at {device} {instead}`: nothing was sent" in err
    # a reset at the start of its line is seen, and goes (as far as opening the device)
    assert main(["modem", "at", device, "ATZ"]) == 2
    assert "cannot open" in capsys.readouterr().err
