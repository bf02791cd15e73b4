"""The serial ports on the desk, and which modem each one is (`m2msim bench ports`).

    ports = list_ports()                      # pyserial's list_ports, with the module named
    await probe_ports(ports, timeout=1.0)     # ATI, AT+CGMM, AT+CGSN on each port (nothing else)

Each port has its USB vendor and product ids, serial number and interface number (from the
port's USB location, `1-1.4:1.2` -> interface 2), and the module those ids name in the data table
`hil/data/usb_modems.csv` (ids from Linux's USB serial drivers).  `--probe` asks each port only
the identity commands in `PROBE_COMMANDS`, with a short timeout: nothing that registers, texts,
calls or attaches, so nothing that costs money.
"""

from __future__ import annotations

import asyncio
import csv
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from modem import portholders
from modem.at.client import ATClient, WatchdogPolicy
from modem.at.errors import CommandTimeout, ModemError
from modem.at.policies import RetryPolicy
from modem.transports import open_transport

log = logging.getLogger(__name__)

PROBE_COMMANDS: tuple[str, ...] = ("ATI", "AT+CGMM", "AT+CGSN")  # identity only: nothing that costs


@dataclass(frozen=True)
class KnownModule:
    vid: int
    pid: int | None  # None: any product of the vendor
    vendor: str
    model: str
    at_interfaces: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.vendor} {self.model}".strip()


@dataclass
class SerialPort:
    device: str
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    interface: int | None = None  # USB interface number
    interface_name: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    location: str | None = None
    module: KnownModule | None = None
    probe: dict[str, Any] = field(default_factory=dict)  # command -> answer lines, or "error"
    #: the other programs holding the port (`ModemManager (pid 812)`): a bench would be refused it
    held_by: list[str] = field(default_factory=list)

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else ""

    @property
    def at_port(self) -> bool | None:
        """True / False when the table knows the module's AT interfaces, else None."""
        if self.module is None or not self.module.at_interfaces or self.interface is None:
            return None
        return self.interface in self.module.at_interfaces

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "module"}
        out["usb_id"] = self.usb_id or None
        out["module"] = self.module.name if self.module is not None else None
        out["at_port"] = self.at_port
        return out


@cache
def known_modules() -> tuple[KnownModule, ...]:
    """The table of module USB ids shipped with m2msim (`hil/data/usb_modems.csv`)."""
    text = resources.files("hil").joinpath("data/usb_modems.csv").read_text(encoding="utf-8")
    return parse_modules(text.splitlines())


def parse_modules(lines: Iterable[str]) -> tuple[KnownModule, ...]:
    rows = csv.DictReader(line for line in lines if line.strip() and not line.startswith("#"))
    out = []
    for row in rows:
        out.append(
            KnownModule(
                vid=int(row["vid"], 16),
                pid=None if row["pid"] == "*" else int(row["pid"], 16),
                vendor=row["vendor"],
                model=row["model"] or "",
                at_interfaces=tuple(int(i) for i in (row["at_interfaces"] or "").split()),
            )
        )
    return tuple(out)


def identify(
    vid: int | None, pid: int | None, table: Sequence[KnownModule] | None = None
) -> KnownModule | None:
    """The module the ids name: the exact product, else the vendor, else None."""
    if vid is None:
        return None
    modules = known_modules() if table is None else table
    exact = next((m for m in modules if m.vid == vid and m.pid == pid), None)
    return exact or next((m for m in modules if m.vid == vid and m.pid is None), None)


def interface_number(location: str | None) -> int | None:
    """The USB interface number from a pyserial location (`1-1.4:1.2` -> 2; `1-1:x.3` -> 3)."""
    if not location or ":" not in location:
        return None
    tail = location.rsplit(":", 1)[1]
    number = tail.rsplit(".", 1)[-1]
    return int(number) if number.isdigit() else None


def _comports() -> list[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def list_ports(comports: Callable[[], Iterable[Any]] | None = None) -> list[SerialPort]:
    """Every serial port pyserial sees (`comports` stands in for it in tests), sorted by device."""
    out = []
    for info in (comports or _comports)():
        location = getattr(info, "location", None)
        port = SerialPort(
            device=str(info.device),
            description=str(getattr(info, "description", "") or ""),
            vid=getattr(info, "vid", None),
            pid=getattr(info, "pid", None),
            serial_number=getattr(info, "serial_number", None),
            interface=interface_number(location),
            interface_name=getattr(info, "interface", None),
            manufacturer=getattr(info, "manufacturer", None),
            product=getattr(info, "product", None),
            location=location,
        )
        port.module = identify(port.vid, port.pid)
        port.held_by = held_by(port.device)
        out.append(port)
    return sorted(out, key=lambda p: p.device)


def held_by(device: str) -> list[str]:
    """The other programs that have the port open or locked (`modem.portholders`), named."""
    found, _ = portholders.holders(device)
    lock = portholders.lock_holder(device)
    return [str(h) for h in found] + ([str(lock)] if lock and all(h.pid != lock.pid for h in found) else [])


async def probe_port(device: str, timeout: float = 1.0) -> dict[str, Any]:
    """`PROBE_COMMANDS` on one port, each within `timeout` seconds: command -> the answer's lines,
    or {"error": reason}.  No retries, no watchdog recovery, no initialisation sequence."""
    result: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout * (len(PROBE_COMMANDS) + 2)):
            transport = await open_transport(device)
    except (ModemError, TimeoutError) as exc:
        return {"error": str(exc) or "timed out opening the port"}
    client = ATClient(
        transport,
        timeout=timeout,
        timeouts={c: timeout for c in PROBE_COMMANDS},
        retry=RetryPolicy(attempts=1),
        watchdog=WatchdogPolicy(enabled=False),
    )
    client.start()
    try:
        for command in PROBE_COMMANDS:
            try:
                reply = await client.command(command, timeout=timeout)
            except (CommandTimeout, TimeoutError):
                result[command] = {"error": f"no answer within {timeout:g} s"}
                if command == PROBE_COMMANDS[0]:
                    break  # not an AT port (or a silent one): ask nothing more
                continue
            except ModemError as exc:
                result[command] = {"error": str(exc)}
                continue
            result[command] = list(reply.lines)
    finally:
        await client.close()
    return result


async def probe_ports(ports: Sequence[SerialPort], timeout: float = 1.0) -> None:
    """Probe every port at once; each port's `probe` gets its answers.  A port another program
    holds is not probed: its answers would be mixed with that program's."""
    free = [p for p in ports if not p.held_by]
    answers = await asyncio.gather(*(probe_port(p.device, timeout) for p in free))
    for port, answer in zip(free, answers, strict=True):
        port.probe = answer
    for port in ports:
        if port.held_by:
            port.probe = {"error": f"in use by {', '.join(port.held_by)}: not probed"}


def probe_summary(probe: dict[str, Any]) -> str:
    """One line: model (AT+CGMM, else ATI), IMEI (AT+CGSN), or why the port did not answer."""
    if not probe:
        return ""
    if "error" in probe:
        return f"({probe['error']})"
    first = probe.get(PROBE_COMMANDS[0])
    if isinstance(first, dict):
        return f"(no AT answer: {first.get('error')})"
    model = probe.get("AT+CGMM")
    parts = []
    if isinstance(model, list) and model:
        parts.append(model[0])
    elif isinstance(first, list) and first:
        parts.append(" ".join(first[:2]))
    imei = probe.get("AT+CGSN")
    if isinstance(imei, list) and imei:
        parts.append(f"IMEI {imei[0]}")
    return ", ".join(parts) or "AT port"


def render_ports(ports: list[SerialPort], *, probed: bool) -> str:
    if not ports:
        return "no serial ports found\n"
    header = ["device", "usb id", "serial", "if", "module", "AT?"]
    held = any(p.held_by for p in ports)
    if held:
        header.append("held by")
    if probed:
        header.append(f"probe ({', '.join(PROBE_COMMANDS)})")
    rows = [header]
    for p in ports:
        at = {True: "yes", False: "no", None: ""}[p.at_port]
        row = [
            p.device,
            p.usb_id or "-",
            p.serial_number or "",
            "" if p.interface is None else str(p.interface),
            p.module.name if p.module is not None else (p.description if p.vid is None else "unknown"),
            at,
        ]
        if held:
            row.append(", ".join(p.held_by))
        if probed:
            row.append(probe_summary(p.probe))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip() for r in rows
    ]
    return "\n".join(lines) + "\n"
