"""The `driver:` section of a vendor profile: what differs between modules, as data.

    driver:
      init: [ATE0, AT+CMEE=1]            # run at start and after a watchdog recovery
      iccid: [AT+CCID]                   # tried in order until one answers
      registration: [+CREG, +CGREG]      # registration reads (add +CEREG on LTE modules)
      sms: {cnmi: "AT+CNMI=2,1,0,0,0", storage: SM, mode: pdu}
      timeouts: {+CIICR: 85}             # seconds, by response prefix
      tcp: {stack: simcom-cip, max_send: 1460, read_size: 1460, mux: false, context: 1}
      no_ok: {"AT+CPIN?": "\\+CPIN: .*"}   # answers that end a command without OK (Wavecom)

Everything has a default (a plain 3GPP module without a TCP stack), so a profile without a
`driver:` section drives a generic modem.  Errors name the file, the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from modem.at.errors import ModemError

TCP_STACKS = ("none", "simcom-cip", "quectel-qi")
REGISTRATIONS = ("+CREG", "+CGREG", "+CEREG", "+C5GREG")


class DriverProfileError(ModemError, ValueError):
    """A `driver:` section that cannot be used."""


@dataclass(frozen=True, slots=True)
class TcpSettings:
    stack: str = "none"
    max_send: int = 1460  # bytes per AT+CIPSEND / AT+QISEND
    read_size: int = 1460  # bytes per AT+CIPRXGET=2 / AT+QIRD
    mux: bool = False  # SIMCom AT+CIPMUX=1 (multi-connection forms with a connection id)
    context: int = 1  # Quectel PDP context id
    connect_timeout: float = 150.0  # wait for CONNECT OK / +QIOPEN


@dataclass(frozen=True, slots=True)
class DriverProfile:
    name: str = "generic"
    init: tuple[str, ...] = ("ATE0", "AT+CMEE=1")
    iccid: tuple[str, ...] = ("AT+CCID", "AT+ICCID", "AT+QCCID")
    registration: tuple[str, ...] = ("+CREG", "+CGREG", "+CEREG")
    cnmi: str = "AT+CNMI=2,1,0,0,0"
    sms_storage: str = "SM"
    sms_mode: str = "pdu"
    timeouts: dict[str, float] = field(default_factory=dict)
    no_ok: dict[str, str] = field(default_factory=dict)
    tcp: TcpSettings = field(default_factory=TcpSettings)
    source: str = "<defaults>"


def _line_of(node: Any, path: list[str]) -> int:
    line = 1
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == key:
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def parse_driver_section(
    data: Any, source: str = "<profile>", node: Any = None, name: str = "generic"
) -> DriverProfile:
    """Build a `DriverProfile` from the parsed `driver:` mapping (None gives the defaults)."""

    def fail(path: str, message: str) -> DriverProfileError:
        line = _line_of(node, ["driver", *path.split(".")]) if node is not None else 0
        where = f"{source}:{line}" if line else source
        return DriverProfileError(f"{where}: field driver.{path}: {message}")

    if data is None:
        return DriverProfile(name=name, source=source)
    if not isinstance(data, dict):
        raise fail("", f"expected a mapping, got {data!r}")
    known = {"init", "iccid", "registration", "sms", "timeouts", "tcp", "no_ok"}
    for key in data:
        if key not in known:
            raise fail(str(key), f"unknown key; known: {sorted(known)}")
    defaults = DriverProfile()

    def texts(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, f"expected a list of text, got {value!r}")
        return tuple(value)

    registration = texts("registration", defaults.registration)
    for reg in registration:
        if reg not in REGISTRATIONS:
            raise fail("registration", f"{reg!r} is not one of {list(REGISTRATIONS)}")
    sms = data.get("sms") or {}
    if not isinstance(sms, dict):
        raise fail("sms", f"expected a mapping, got {sms!r}")
    mode = str(sms.get("mode", defaults.sms_mode))
    if mode not in ("pdu", "text"):
        raise fail("sms.mode", f"expected pdu or text, got {mode!r}")
    timeouts_raw = data.get("timeouts") or {}
    if not isinstance(timeouts_raw, dict):
        raise fail("timeouts", f"expected a mapping, got {timeouts_raw!r}")
    timeouts: dict[str, float] = {}
    for key, value in timeouts_raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise fail(f"timeouts.{key}", f"expected seconds > 0, got {value!r}")
        timeouts[str(key)] = float(value)
    no_ok_raw = data.get("no_ok") or {}
    if not isinstance(no_ok_raw, dict):
        raise fail("no_ok", f"expected a mapping of command -> regex, got {no_ok_raw!r}")
    no_ok: dict[str, str] = {}
    for key, value in no_ok_raw.items():
        try:
            re.compile(str(value))
        except re.error as exc:
            raise fail(f"no_ok.{key}", f"not a regular expression: {exc}") from None
        no_ok[str(key).upper()] = str(value)
    tcp_raw = data.get("tcp") or {}
    if not isinstance(tcp_raw, dict):
        raise fail("tcp", f"expected a mapping, got {tcp_raw!r}")
    tcp_defaults = TcpSettings()
    stack = str(tcp_raw.get("stack", "none"))
    if stack not in TCP_STACKS:
        raise fail("tcp.stack", f"expected one of {list(TCP_STACKS)}, got {stack!r}")

    def tcp_int(key: str, default: int, low: int, high: int) -> int:
        value = tcp_raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise fail(f"tcp.{key}", f"expected an integer {low}..{high}, got {value!r}")
        return value

    mux = tcp_raw.get("mux", tcp_defaults.mux)
    if not isinstance(mux, bool):
        raise fail("tcp.mux", f"expected true or false, got {mux!r}")
    connect_timeout = tcp_raw.get("connect_timeout", tcp_defaults.connect_timeout)
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, int | float)
        or connect_timeout <= 0
    ):
        raise fail("tcp.connect_timeout", f"expected seconds > 0, got {connect_timeout!r}")
    tcp = TcpSettings(
        stack=stack,
        max_send=tcp_int("max_send", tcp_defaults.max_send, 1, 1460),
        read_size=tcp_int("read_size", tcp_defaults.read_size, 1, 1500),
        mux=mux,
        context=tcp_int("context", tcp_defaults.context, 1, 16),
        connect_timeout=float(connect_timeout),
    )
    return DriverProfile(
        name=name,
        init=texts("init", defaults.init),
        iccid=texts("iccid", defaults.iccid),
        registration=registration,
        cnmi=str(sms.get("cnmi", defaults.cnmi)),
        sms_storage=str(sms.get("storage", defaults.sms_storage)),
        sms_mode=mode,
        timeouts=timeouts,
        no_ok=no_ok,
        tcp=tcp,
        source=source,
    )


def load_driver_profile(name_or_path: str | Path) -> DriverProfile:
    """The driver section of a shipped profile (`quectel-bg96`) or of a profile file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise DriverProfileError(f"{path}: cannot read profile: {exc.strerror}") from exc
    else:
        res = resources.files("modem").joinpath("profiles", f"{name_or_path}.yaml")
        if not res.is_file():
            raise DriverProfileError(f"unknown modem profile {str(name_or_path)!r}")
        text, source = res.read_text(encoding="utf-8"), f"modem/profiles/{name_or_path}.yaml"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DriverProfileError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DriverProfileError(f"{source}:1: a profile is a mapping of sections")
    name = str(data.get("name", path.stem))
    return parse_driver_section(data.get("driver"), source, node, name)
