"""`m2msim bench ports`: serial ports with their USB ids, interface numbers and the module the ids
name (a fake pyserial list_ports result), and `--probe` on ptys: identity commands only."""

from __future__ import annotations

import argparse
import json
import os
import tty
from types import SimpleNamespace
from typing import Any

import pytest
from ptys import held_open, served_ptys

from hil import cli as hil_cli
from hil.ports import PROBE_COMMANDS, identify, interface_number, known_modules, list_ports, probe_ports
from m2msim.cli import main


def port(device: str, **kw: Any) -> SimpleNamespace:
    fields = {"description": "n/a", "vid": None, "pid": None, "serial_number": None, "location": None,
              "interface": None, "manufacturer": None, "product": None}  # fmt: skip
    fields.update(kw)
    return SimpleNamespace(device=device, **fields)


DESK = [
    port(
        "/dev/ttyUSB3",
        vid=0x2C7C,
        pid=0x0125,
        serial_number="EC25A1",
        location="1-1.2:1.3",
        description="EC25",
    ),
    port(
        "/dev/ttyUSB2",
        vid=0x2C7C,
        pid=0x0125,
        serial_number="EC25A1",
        location="1-1.2:1.2",
        description="EC25",
    ),
    port("/dev/ttyACM0", vid=0x1BC7, pid=0x1201, serial_number="LE910", location="1-1.3:1.4"),
    port("/dev/ttyUSB7", vid=0x1199, pid=0x9999, location="2-1:1.0"),  # a Sierra product not in the table
    port(
        "/dev/ttyUSB9",
        vid=0x0403,
        pid=0x6001,
        serial_number="FTDI1",
        location="1-4:1.0",
        description="FT232R",
    ),
    port("/dev/ttyS0"),
]


def args(**kw: Any) -> argparse.Namespace:
    base = {
        "script": "ports",
        "probe": False,
        "probe_timeout": 1.0,
        "json": False,
        "modem_url": None,
        "rack": None,
    }
    base.update(kw)
    return argparse.Namespace(**base)


def test_ports_are_listed_with_ids_interfaces_and_modules(capsys: pytest.CaptureFixture[str]) -> None:
    ports = list_ports(lambda: DESK)
    assert [p.device for p in ports] == sorted(p.device for p in DESK)
    by = {p.device: p for p in ports}
    ec25 = by["/dev/ttyUSB2"]
    assert (ec25.usb_id, ec25.serial_number, ec25.interface) == ("2c7c:0125", "EC25A1", 2)
    assert ec25.module is not None and ec25.module.name == "Quectel EC25/EG25/EC20 (MDM9x07)"
    assert ec25.at_port is True
    assert by["/dev/ttyACM0"].module is not None and by["/dev/ttyACM0"].module.vendor == "Telit"
    assert by["/dev/ttyACM0"].at_port is True  # LE910C1 composition 1201: AT on interface 4
    sierra = by["/dev/ttyUSB7"].module
    assert sierra is not None and sierra.name == "Sierra Wireless"  # the vendor, product unknown
    assert by["/dev/ttyUSB9"].module is None and by["/dev/ttyS0"].module is None

    assert hil_cli.ports_command(args(), comports=lambda: DESK) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["device", "usb", "id", "serial", "if", "module", "AT?"]
    row = next(line for line in table if line.startswith("/dev/ttyUSB2"))
    assert "2c7c:0125" in row and "EC25A1" in row and "Quectel EC25" in row and row.rstrip().endswith("yes")
    assert "unknown" in next(line for line in table if line.startswith("/dev/ttyUSB9"))

    assert hil_cli.ports_command(args(json=True), comports=lambda: DESK) == 0
    data = json.loads(capsys.readouterr().out)
    entry = next(p for p in data["ports"] if p["device"] == "/dev/ttyUSB3")
    assert entry["usb_id"] == "2c7c:0125" and entry["vid"] == 0x2C7C and entry["interface"] == 3
    assert entry["module"] == "Quectel EC25/EG25/EC20 (MDM9x07)" and entry["at_port"] is True


def test_no_port_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert hil_cli.ports_command(args(), comports=list) == 0
    assert capsys.readouterr().out == "no serial ports found\n"
    assert hil_cli.ports_command(args(probe_timeout=0.0), comports=list) == 2
    assert "--probe-timeout" in capsys.readouterr().err
    assert hil_cli.ports_command(args(modem_url=["/dev/ttyUSB0"]), comports=list) == 2
    assert "--modem-url and --rack do not apply" in capsys.readouterr().err


def test_the_id_table() -> None:
    table = known_modules()
    assert len({(m.vid, m.pid) for m in table}) == len(table)  # no id listed twice
    vendors = {m.vendor for m in table}
    assert {"Quectel", "SIMCom", "Sierra Wireless", "u-blox", "Telit", "Huawei", "ZTE"} <= vendors
    bg96 = identify(0x2C7C, 0x0296)
    assert bg96 is not None and bg96.model == "BG96"
    assert identify(0x2C7C, 0x9999) is not None and identify(0x2C7C, 0x9999).model == ""  # type: ignore[union-attr]
    assert identify(None, None) is None and identify(0x0403, 0x6001) is None
    assert [interface_number(x) for x in ("1-1.2:1.3", "3-2:1.0", "1-1", None, "x:y")] == [
        3,
        0,
        None,
        None,
        None,
    ]


async def test_probe_on_ptys_asks_identity_only() -> None:
    # one port answered by a virtual modem, one silent port whose every byte the test reads
    controller, silent = os.openpty()
    tty.setraw(controller)
    silent_path = os.ttyname(silent)
    try:
        async with served_ptys("quectel-bg96", count=1, seed=4) as [modem]:
            desk = [port(modem, vid=0x2C7C, pid=0x0296, location="1-1:1.2"), port(silent_path)]
            ports = list_ports(lambda: desk)
            await probe_ports(ports, timeout=0.5)
        by = {p.device: p for p in ports}
        answered = by[modem].probe
        assert answered["AT+CGMM"] == ["BG96"]
        assert len(answered["AT+CGSN"][0]) == 15 and answered["AT+CGSN"][0].isdigit()
        assert answered["ATI"][0] == "Quectel"
        quiet = by[silent_path].probe
        assert list(quiet) == ["ATI"] and "no answer within 0.5 s" in quiet["ATI"]["error"]
        os.set_blocking(controller, False)
        written = os.read(controller, 4096)
        assert written == b"ATI\r"  # nothing but the first identity command: no answer, no more
    finally:
        os.close(controller)
        os.close(silent)
    assert PROBE_COMMANDS == ("ATI", "AT+CGMM", "AT+CGSN")


def test_the_ports_command_is_wired(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("hil.ports._comports", lambda: DESK)
    assert main(["bench", "ports", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["ports"]) == len(DESK)


async def test_a_port_another_program_holds_is_named_and_not_probed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    controller, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    try:
        with held_open(path) as other:
            ports = list_ports(lambda: [port(path, vid=0x2C7C, pid=0x0125, location="1-1.2:1.2")])
            await probe_ports(ports, timeout=0.5)
            assert hil_cli.ports_command(args(), comports=lambda: [port(path)]) == 0
            table = capsys.readouterr().out.splitlines()
            os.set_blocking(controller, False)
            with pytest.raises(BlockingIOError):
                os.read(controller, 4096)  # nothing was written to it
        [held] = ports
        assert held.held_by == [f"python -c (pid {other.pid})"]
        assert held.probe == {"error": f"in use by python -c (pid {other.pid}): not probed"}
        assert table[0].split()[-2:] == ["held", "by"] and table[1].endswith(f"python -c (pid {other.pid})")
    finally:
        os.close(controller)
