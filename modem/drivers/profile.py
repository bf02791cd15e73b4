"""The `driver:` section of a vendor profile: what differs between modules, as data.

    driver:
      init: [ATE0, AT+CMEE=1]            # run at start and after a watchdog recovery
      iccid: [AT+CCID]                   # tried in order until one answers
      registration: [+CREG, +CGREG]      # registration reads (add +CEREG on LTE modules)
      sms: {cnmi: "AT+CNMI=2,1,0,0,0", storage: SM, mode: pdu,
            status_reports: "AT+CNMI=2,1,0,1,0"}   # +CNMI routing status reports as +CDS (<ds>=1)
      timeouts: {+CIICR: 85}             # seconds, by response prefix
      tcp: {stack: simcom-cip, max_send: 1460, read_size: 1460, mux: false, context: 1}
      no_ok: {"AT+CPIN?": "\\+CPIN: .*"}   # answers that end a command without OK (Wavecom)
      restarts: ['\\+CFUN\\s*=\\s*1\\b']     # lines that restart this family besides the common
                                         # ones (modem.at.client.RESTART_COMMAND): AT+CFUN=1 on Wavecom
      allow_commands: [AT+QENG]          # vendor commands the command guard may let through
      boot_notice: false                 # prints no RDY when it restarts: polled with AT instead
      startup_profile: [AT&Y, AT&P]      # basic commands that choose the stored profile the module
                                         # starts in (default AT&Y; Telit's AT&P too, elsewhere the
                                         # pulse dialling make/break ratio); AT&Y always, listed or not

Everything has a default (a plain 3GPP module without a TCP stack), so a profile without a
`driver:` section drives a generic modem.  Errors name the file, the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m2msim.yamlio import (
    LocatedDict,
    YamlError,
    check_keys,
    flag_field,
    int_field,
    join_path,
    mapping,
    number_field,
    text_field,
    text_list,
)
from modem import patterns
from modem.at.errors import ModemError
from modem.safety import STARTUP_PROFILE, allow_commands_field, startup_profile_names

TCP_STACKS = ("none", "simcom-cip", "quectel-qi")
REGISTRATIONS = ("+CREG", "+CGREG", "+CEREG", "+C5GREG")


# AT+CNMI=<mode>,<mt>,...: the <mt> a profile's `sms.cnmi` sets (27.005 §3.4.1)
_CNMI_MT = re.compile(r"AT\+CNMI=\s*\d*\s*,\s*(\d+)", re.IGNORECASE)
# ... and its <ds>, the fourth: 1 routes status reports to the serial line as +CDS
_CNMI_DS = re.compile(r"AT\+CNMI=\s*\d*\s*,\s*\d*\s*,\s*\d*\s*,\s*(\d*)", re.IGNORECASE)


class DriverProfileError(YamlError, ModemError, ValueError):
    """A profile (its `driver:` section, or the file) that cannot be used: file, line, key path."""


@dataclass(frozen=True, slots=True)
class TcpSettings:
    stack: str = "none"
    max_send: int = 1460  # bytes per AT+CIPSEND / AT+QISEND
    read_size: int = 1460  # bytes per AT+CIPRXGET=2 / AT+QIRD
    mux: bool = False  # SIMCom AT+CIPMUX=1 (multi-connection forms with a connection id)
    context: int = 1  # Quectel PDP context id
    connect_timeout: float = 150.0  # wait for CONNECT OK / +QIOPEN

    @property
    def send_waits_ack(self) -> bool:
        """A send returns once the far end's ACK of its data came back: SIMCom's AT+CIPSEND answers
        SEND OK then (normal mode, the drivers' own), Quectel's AT+QISEND once the data is buffered."""
        return self.stack == "simcom-cip"


@dataclass(frozen=True, slots=True)
class DriverProfile:
    name: str = "generic"
    init: tuple[str, ...] = ("ATE0", "AT+CMEE=1")
    iccid: tuple[str, ...] = ("AT+CCID", "AT+ICCID", "AT+QCCID")
    registration: tuple[str, ...] = ("+CREG", "+CGREG", "+CEREG")
    cnmi: str = "AT+CNMI=2,1,0,0,0"
    # the AT+CNMI that also routes SMS status reports as +CDS (<ds>=1), when the module has it:
    # sent instead of `cnmi` when a message asks for a delivery report; "" when not known
    status_reports: str = ""
    sms_storage: str = "SM"
    sms_mode: str = "pdu"
    timeouts: dict[str, float] = field(default_factory=dict)
    no_ok: dict[str, str] = field(default_factory=dict)
    tcp: TcpSettings = field(default_factory=TcpSettings)
    source: str = "<defaults>"
    allow_commands: tuple[str, ...] = ()  # commands the command guard may let through besides its own
    # regexes (case-insensitive, searched outside a line's quoted parameters) of the lines that
    # restart this module family besides `modem.at.client.RESTART_COMMAND` (AT+CFUN=1 on Wavecom)
    restarts: tuple[str, ...] = ()
    # the module prints a boot notice (RDY, ...) when it restarts, which a restart a line asked for
    # is waited for (at most `ATClient.restart_wait`); false (Wavecom): polled with AT until it
    # answers OK instead
    boot_notice: bool = True
    # the basic commands that choose the stored profile the module starts in (`AT&Y<n>`): after
    # one with n > 0 the command guard takes the character set after a restart for unknown; Telit's
    # `AT&P<n>` too, which on other modules sets the pulse dialling make/break ratio (Hayes)
    startup_profile: tuple[str, ...] = STARTUP_PROFILE


def parse_driver_section(
    data: Any, source: str = "<profile>", node: Any = None, name: str = "generic"
) -> DriverProfile:
    """Build a `DriverProfile` from the parsed `driver:` mapping (None gives the defaults).

    `data` read by `m2msim.yamlio` carries its lines; `node` is accepted for older callers."""
    try:
        return _driver(data, source, name)
    except DriverProfileError:
        raise
    except YamlError as exc:
        raise DriverProfileError(exc.source, exc.line, exc.key, exc.reason) from None


def _driver(data: Any, src: str, name: str) -> DriverProfile:
    if data is None:
        return DriverProfile(name=name, source=src)
    d = mapping(data, src, "driver")
    check_keys(
        d,
        (
            "init",
            "iccid",
            "registration",
            "sms",
            "timeouts",
            "tcp",
            "no_ok",
            "allow_commands",
            "restarts",
            "boot_notice",
            "startup_profile",
        ),
        src,
        "driver",
    )
    defaults = DriverProfile()

    def fail(m: LocatedDict, key: str, path: str, message: str) -> DriverProfileError:
        return DriverProfileError(src, m.line_of(key), join_path(path, key), message)

    def texts(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(text_list(d, key, src, "driver", default=default, what="an AT command") or ())

    registration = texts("registration", defaults.registration)
    for reg in registration:
        if reg not in REGISTRATIONS:
            raise fail(d, "registration", "driver", f"{reg!r} is not one of {list(REGISTRATIONS)}")
    sms = mapping(d.get("sms") or LocatedDict(), src, "driver.sms", d.line_of("sms"))
    check_keys(sms, ("cnmi", "storage", "mode", "status_reports"), src, "driver.sms")
    mode = text_field(sms, "mode", src, "driver.sms", default=defaults.sms_mode)
    if mode not in ("pdu", "text"):
        raise fail(sms, "mode", "driver.sms", f"expected pdu or text, got {mode!r}")
    timeouts_raw = mapping(d.get("timeouts") or LocatedDict(), src, "driver.timeouts", d.line_of("timeouts"))
    timeouts: dict[str, float] = {}
    for key in timeouts_raw:
        value = timeouts_raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            shown = timeouts_raw.raw(key) if timeouts_raw.raw(key) is not None else value
            raise fail(
                timeouts_raw, key, "driver.timeouts", f"expected seconds > 0 (at most 3600), got {shown}"
            )
        timeouts[str(key)] = float(value)
    no_ok_raw = mapping(d.get("no_ok") or LocatedDict(), src, "driver.no_ok", d.line_of("no_ok"))
    no_ok: dict[str, str] = {}
    for key in no_ok_raw:
        pattern = text_field(no_ok_raw, key, src, "driver.no_ok", what="a regular expression")
        try:
            patterns.compile_pattern(str(pattern))
        except patterns.PatternError as exc:
            raise fail(no_ok_raw, key, "driver.no_ok", str(exc)) from None
        no_ok[str(key).upper()] = str(pattern)
    restarts = texts("restarts", ())
    for pattern in restarts:
        try:
            patterns.compile_pattern(pattern)
        except patterns.PatternError as exc:
            raise fail(d, "restarts", "driver", f"{pattern!r}: {exc}") from None
    try:
        # AT&Y whatever the list says (`[]` included): a profile adds commands, never removes &Y
        startup_profile = startup_profile_names(texts("startup_profile", STARTUP_PROFILE))
    except ValueError as exc:
        raise fail(d, "startup_profile", "driver", str(exc)) from None
    cnmi = str(text_field(sms, "cnmi", src, "driver.sms", default=defaults.cnmi, what="an AT command"))
    routed = _CNMI_MT.match(cnmi.strip())
    if routed is not None and routed.group(1) in ("2", "3"):
        raise fail(
            sms,
            "cnmi",
            "driver.sms",
            f"{cnmi!r}: <mt>={routed.group(1)} routes received messages to the serial line as +CMT "
            "without storing them, and the driver takes messages from storage (+CMTI, AT+CMGR): "
            "they would be lost; use <mt>=1, e.g. AT+CNMI=2,1,0,0,0",
        )
    reports = str(
        text_field(
            sms, "status_reports", src, "driver.sms", default=defaults.status_reports, what="an AT command"
        )
    )
    if reports:
        routed_reports = _CNMI_MT.match(reports.strip())
        ds = _CNMI_DS.match(reports.strip())
        if (
            ds is None
            or ds.group(1) != "1"
            or (routed_reports is not None and routed_reports.group(1) != "1")
        ):
            raise fail(
                sms,
                "status_reports",
                "driver.sms",
                f"{reports!r}: expected an AT+CNMI with <mt>=1 (messages stored, +CMTI) and <ds>=1 "
                "(status reports routed as +CDS), e.g. AT+CNMI=2,1,0,1,0",
            )
    tcp_raw = mapping(d.get("tcp") or LocatedDict(), src, "driver.tcp", d.line_of("tcp"))
    check_keys(
        tcp_raw, ("stack", "max_send", "read_size", "mux", "context", "connect_timeout"), src, "driver.tcp"
    )
    tcp_defaults = TcpSettings()
    stack = text_field(tcp_raw, "stack", src, "driver.tcp", default="none")
    if stack not in TCP_STACKS:
        raise fail(tcp_raw, "stack", "driver.tcp", f"expected one of {list(TCP_STACKS)}, got {stack!r}")

    def tcp_int(key: str, default: int, low: int, high: int) -> int:
        value = int_field(tcp_raw, key, src, "driver.tcp", default=default, minimum=low, maximum=high)
        assert value is not None
        return value

    connect_timeout = number_field(
        tcp_raw,
        "connect_timeout",
        src,
        "driver.tcp",
        default=tcp_defaults.connect_timeout,
        minimum=0,
        exclusive_minimum=True,
        maximum=3600,
        unit="s",
    )
    assert connect_timeout is not None
    tcp = TcpSettings(
        stack=stack,
        max_send=tcp_int("max_send", tcp_defaults.max_send, 1, 1460),
        read_size=tcp_int("read_size", tcp_defaults.read_size, 1, 1500),
        mux=bool(flag_field(tcp_raw, "mux", src, "driver.tcp", default=tcp_defaults.mux)),
        context=tcp_int("context", tcp_defaults.context, 1, 16),
        connect_timeout=connect_timeout,
    )
    return DriverProfile(
        name=name,
        init=texts("init", defaults.init),
        iccid=texts("iccid", defaults.iccid),
        registration=registration,
        cnmi=cnmi,
        status_reports=reports,
        sms_storage=str(text_field(sms, "storage", src, "driver.sms", default=defaults.sms_storage)),
        sms_mode=mode,
        timeouts=timeouts,
        no_ok=no_ok,
        tcp=tcp,
        source=src,
        allow_commands=allow_commands_field(d, src, "driver"),
        restarts=restarts,
        boot_notice=bool(flag_field(d, "boot_notice", src, "driver", default=True)),
        startup_profile=startup_profile,
    )


def load_driver_profile(name_or_path: str | Path) -> DriverProfile:
    """The driver section of a shipped profile (`quectel-bg96`) or of a profile file by path."""
    from modem.profiles import load_profile_document

    try:
        doc, source = load_profile_document(name_or_path)
        name = text_field(doc, "name", source, "", default=Path(name_or_path).stem)
    except DriverProfileError:
        raise
    except YamlError as exc:
        raise DriverProfileError(exc.source, exc.line, exc.key, exc.reason) from None
    return parse_driver_section(doc.get("driver"), source, None, str(name))
