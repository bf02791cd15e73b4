"""A modem served by `m2msim modem serve` moving between networks, as the console moves it.

A move with coverage is a routing area update, as the simulator's devices make (`gateway.api.move_to`):
the PDP context goes on, and the socket on it; the gateway cuts its record with the cause of the change
(24 another PLMN, 22 another radio), the next one in the zone where the context was opened.  A move
into no coverage loses the context (cause 4).  The client is a terminal on the pty; every wait is on
the modem's answer or a console `wait`, with a timeout.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ptys import PtyDte

from accounting.records import ClosingCause
from modem.virtual.control_fixture import ServedConsole

Start = Callable[..., ServedConsole]
IP_UDP = 28  # an IPv4 header and a UDP header around each datagram, as the gateway counts them


def _open_socket(dte: PtyDte, served: ServedConsole) -> None:
    """A Quectel context on orange.m2m.spec and a UDP socket to the echo, 5 bytes there and back."""
    dte.at("ATE0")
    served.console.wait(0, "registered", timeout=30)
    dte.at('AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1')
    dte.at('AT+QIOPEN=1,0,"UDP","echo.example",7,0,1', b"+QIOPEN: 0,0")
    _echo(dte, b"hello")


def _echo(dte: PtyDte, data: bytes) -> None:
    dte.at(f"AT+QISEND=0,{len(data)}", b"> ")
    os.write(dte.fd, data)
    dte.until(f'+QIURC: "recv",0,{len(data)}\r\n'.encode() + data)  # pushed back


def _data_rows(records: Path) -> list[dict[str, str]]:
    with records.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["type"] == "data"]


@pytest.mark.parametrize(
    ("start", "to", "state", "zone"),
    [
        ((), "20610", "roaming", "fr"),  # home to Belgium: the context opened in France stays fr
        (("--plmn", "20610"), "home", "home", "eu"),  # --plmn abroad, then home: it stays eu
    ],
)
def test_a_move_keeps_the_context_and_its_socket_and_cuts_the_record(
    serve_console: Start, tmp_path: Path, start: tuple[str, ...], to: str, state: str, zone: str
) -> None:
    records = tmp_path / "usage.csv"
    served = serve_console("--profile", "quectel-bg96", "--seed", "8", "--records", str(records), *start)
    first_plmn = start[1] if start else "20801"
    with PtyDte(served.paths[0]) as dte:
        _open_socket(dte, served)
        address = dte.at("AT+QIACT?")
        served.console.coverage(0, to)
        served.console.wait(0, state, timeout=30)
        _echo(dte, b"abroad")  # the same socket, on the same context and address
        assert dte.at("AT+QIACT?") == address
    assert served.stop() == 143
    rows = _data_rows(records)
    assert [(r["session"], r["sequence"]) for r in rows] == [
        (rows[0]["session"], "1"),
        (rows[0]["session"], "2"),
    ]
    assert [r["cause"] for r in rows] == [
        str(int(ClosingCause.PLMN_CHANGE)),  # 24 sGSNPLMNIDChange, not 4 (abnormal release)
        str(int(ClosingCause.MANAGEMENT_INTERVENTION)),  # still open when serving ended
    ]
    assert [r["serving_plmn"] for r in rows] == [first_plmn, "20610" if to == "20610" else "20801"]
    assert [r["zone"] for r in rows] == [zone, zone]
    assert [(int(r["bytes_up"]), int(r["bytes_down"])) for r in rows] == [
        (5 + IP_UDP, 5 + IP_UDP),
        (6 + IP_UDP, 6 + IP_UDP),
    ]


def test_another_radio_keeps_the_context_and_cuts_the_record_for_it(
    serve_console: Start, tmp_path: Path
) -> None:
    records = tmp_path / "usage.csv"
    served = serve_console("--profile", "quectel-bg96", "--seed", "9", "--records", str(records))
    with PtyDte(served.paths[0]) as dte:
        _open_socket(dte, served)
        served.console.run("rat", "0", "utran")
        _echo(dte, b"on 3G")
    assert served.stop() == 143
    rows = _data_rows(records)
    assert [r["cause"] for r in rows] == [
        str(int(ClosingCause.RAT_CHANGE)),
        str(int(ClosingCause.MANAGEMENT_INTERVENTION)),
    ]
    assert len({r["session"] for r in rows}) == 1


def test_no_coverage_loses_the_context_and_closes_the_socket(serve_console: Start, tmp_path: Path) -> None:
    records = tmp_path / "usage.csv"
    served = serve_console("--profile", "quectel-bg96", "--seed", "10", "--records", str(records))
    with PtyDte(served.paths[0]) as dte:
        _open_socket(dte, served)
        served.console.coverage(0, "none")
        dte.until(b'+QIURC: "pdpdeact",1')
        served.console.coverage(0, "home")
        served.console.wait(0, "home", timeout=30)
        assert dte.at("AT+QISEND=0,2", b"ERROR").endswith(b"ERROR")
    assert served.stop() == 143
    rows = _data_rows(records)
    assert [r["cause"] for r in rows] == [str(int(ClosingCause.ABNORMAL))]
