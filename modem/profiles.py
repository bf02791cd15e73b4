"""Vendor profiles: what a modem model says about itself and how it behaves, as data.

A profile is a YAML file in `modem/profiles/` (or any path).  The virtual modem
reads the sections below; other sections (for example `driver:`, read by the
AT client's drivers) are kept untouched in `Profile.sections`, so one file
describes a model for every part of the project.

    name: simcom-sim800
    description: SIMCom SIM800, GSM/GPRS
    identity: {manufacturer, model, revision, imei_tac, imsi_prefix, iccid_prefix, msisdn_prefix}
    ati: [lines answered to ATI]
    commands: [command sets: v250, general, network, gprs, sms, voice, csd, simcom-tcp, quectel-tcp]
    ccid_commands: ["+CCID"]          # which of +CCID / +ICCID / +QCCID the model has
    network: {rat, act, csq}
    boot: {urcs: [...], search_s: 2.0}
    defaults: {echo, cmee, cmgf, cnmi, sms_storages, sms_capacity, smsc}
    quirks: {cifsr_no_ok, cpin_no_ok, numeric_connect}
    faults: {...}                     # default faults, see modem.virtual.faults

Errors name the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = "profiles"


class ProfileError(ValueError):
    """A profile file that cannot be used: names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class Identity:
    manufacturer: str
    model: str
    revision: str
    imei_tac: str  # 8-digit type allocation code; the serial and check digit are derived per modem
    imsi_prefix: str  # MCC + MNC (+ optional MSIN start)
    iccid_prefix: str  # 89 + country code + issuer
    msisdn_prefix: str  # E.164 digits without '+'
    imei: str | None = None  # explicit values for modem #0 (override the derived ones)
    imsi: str | None = None
    iccid: str | None = None
    msisdn: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    identity: Identity
    ati: tuple[str, ...]
    commands: frozenset[str]
    ccid_commands: tuple[str, ...]
    rat: str  # geran / utran / eutran, as the gateway's attach takes it
    act: int  # 27.007 <AcT> in +COPS / +CREG
    csq: tuple[int, int]
    boot_urcs: tuple[str, ...]
    search_s: float
    echo: bool
    cmee: int
    cmgf: int
    cnmi: tuple[int, int, int, int, int]
    sms_storages: tuple[str, ...]
    sms_capacity: int
    smsc: str
    quirks: dict[str, Any]
    faults: dict[str, Any]
    sections: dict[str, Any] = field(default_factory=dict)  # every top-level section, known or not
    source: str = ""

    def quirk(self, name: str) -> bool:
        return bool(self.quirks.get(name, False))


def profile_names() -> list[str]:
    """Names of the profiles shipped in `modem/profiles/`."""
    root = resources.files("modem").joinpath(PROFILE_DIR)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name (`simcom-sim800`) or a YAML file by path."""
    text, source = _read(name_or_path)
    return parse_profile(text, source)


def _read(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from exc
    res = resources.files("modem").joinpath(PROFILE_DIR, f"{name_or_path}.yaml")
    if not res.is_file():
        raise ProfileError(f"unknown modem profile {name_or_path!r}; have {', '.join(profile_names())}")
    return res.read_text(encoding="utf-8"), f"modem/profiles/{name_or_path}.yaml"


class _Reader:
    """Typed access to a parsed YAML mapping that reports file:line and the field's path."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        try:
            self.node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark is not None else source
            raise ProfileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if not isinstance(self.data, dict):
            raise ProfileError(f"{source}:1: a profile is a mapping of sections")

    def line(self, path: str) -> int:
        node: Any = self.node
        line = 1
        for key in path.split("."):
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                if k.value == key:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                break
        return line

    def error(self, path: str, message: str) -> ProfileError:
        return ProfileError(f"{self.source}:{self.line(path)}: field {path}: {message}")

    def get(self, path: str, default: Any = ...) -> Any:
        value: Any = self.data
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                if default is ...:
                    raise self.error(path, "missing")
                return default
            value = value[key]
        return value

    def text(self, path: str, default: Any = ...) -> str:
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error(path, f"expected text, got {value!r}")
        return str(value)

    def opt_text(self, path: str) -> str | None:
        value = self.get(path, None)
        return None if value is None else self.text(path)

    def digits(self, path: str, default: Any = ..., lengths: range = range(1, 21)) -> str:
        value = self.text(path, default)
        if not value.isdigit() or len(value) not in lengths:
            raise self.error(path, f"expected {lengths.start}-{lengths.stop - 1} digits, got {value!r}")
        return value

    def number(self, path: str, default: Any = ...) -> float:
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.error(path, f"expected a non-negative number, got {value!r}")
        return float(value)

    def integer(self, path: str, default: Any = ...) -> int:
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {value!r}")
        return value

    def flag(self, path: str, default: Any = ...) -> bool:
        value = self.get(path, default)
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {value!r}")
        return value

    def texts(self, path: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(path, default)
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.error(path, f"expected a list of text, got {value!r}")
        return tuple(str(v) for v in value)

    def ints(self, path: str, count: int, default: Any = ...) -> tuple[int, ...]:
        value = self.get(path, default)
        if isinstance(value, str):
            value = [int(v) for v in value.split(",") if v.strip().isdigit()]
        if (
            not isinstance(value, list | tuple)
            or len(value) != count
            or not all(isinstance(v, int) for v in value)
        ):
            raise self.error(path, f"expected {count} integers, got {value!r}")
        return tuple(value)

    def mapping(self, path: str) -> dict[str, Any]:
        value = self.get(path, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping, got {value!r}")
        return dict(value)


def luhn_ok(digits: str) -> bool:
    """True when the last digit of `digits` is its Luhn check digit."""
    return digits.isdigit() and luhn_digit(digits[:-1]) == digits[-1]


def luhn_digit(body: str) -> str:
    """The Luhn check digit to append to `body` (IMEI, ICCID)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


KNOWN_COMMAND_SETS = frozenset(
    {"v250", "general", "network", "gprs", "sms", "voice", "csd", "simcom-tcp", "quectel-tcp"}
)


def parse_profile(text: str, source: str = "<profile>") -> Profile:
    r = _Reader(text, source)
    ident = Identity(
        manufacturer=r.text("identity.manufacturer"),
        model=r.text("identity.model"),
        revision=r.text("identity.revision"),
        imei_tac=r.digits("identity.imei_tac", lengths=range(8, 9)),
        imsi_prefix=r.digits("identity.imsi_prefix", lengths=range(5, 11)),
        iccid_prefix=r.digits("identity.iccid_prefix", lengths=range(4, 13)),
        msisdn_prefix=r.digits("identity.msisdn_prefix", lengths=range(2, 12)),
        imei=r.opt_text("identity.imei"),
        imsi=r.opt_text("identity.imsi"),
        iccid=r.opt_text("identity.iccid"),
        msisdn=r.opt_text("identity.msisdn"),
    )
    if ident.imei is not None and (len(ident.imei) != 15 or not luhn_ok(ident.imei)):
        raise r.error("identity.imei", f"{ident.imei!r} is not a 15-digit IMEI with a valid Luhn check digit")
    if ident.iccid is not None and (len(ident.iccid) not in (19, 20) or not luhn_ok(ident.iccid)):
        raise r.error("identity.iccid", f"{ident.iccid!r} is not a 19-20 digit ICCID with a valid Luhn digit")
    if ident.imsi is not None and (not ident.imsi.isdigit() or len(ident.imsi) not in (14, 15)):
        raise r.error("identity.imsi", f"{ident.imsi!r} is not a 14-15 digit IMSI")
    commands = r.texts("commands")
    unknown = sorted(set(commands) - KNOWN_COMMAND_SETS)
    if unknown:
        raise r.error("commands", f"unknown command sets {unknown}; known: {sorted(KNOWN_COMMAND_SETS)}")
    cmee = r.integer("defaults.cmee", 0)
    if cmee not in (0, 1, 2):
        raise r.error("defaults.cmee", f"expected 0, 1 or 2, got {cmee}")
    cmgf = r.integer("defaults.cmgf", 0)
    if cmgf not in (0, 1):
        raise r.error("defaults.cmgf", f"expected 0 or 1, got {cmgf}")
    csq = r.ints("network.csq", 2, [20, 0])
    storages = r.texts("defaults.sms_storages", ["SM", "ME"])
    if not storages:
        raise r.error("defaults.sms_storages", "at least one storage")
    cnmi = r.ints("defaults.cnmi", 5, [0, 0, 0, 0, 0])
    return Profile(
        name=r.text("name"),
        description=r.text("description", ""),
        identity=ident,
        ati=r.texts("ati", [ident.manufacturer, ident.model, ident.revision]),
        commands=frozenset(commands),
        ccid_commands=r.texts("ccid_commands", ["+CCID"]),
        rat=r.text("network.rat", "geran"),
        act=r.integer("network.act", 0),
        csq=(csq[0], csq[1]),
        boot_urcs=r.texts("boot.urcs", []),
        search_s=r.number("boot.search_s", 2.0),
        echo=r.flag("defaults.echo", True),
        cmee=cmee,
        cmgf=cmgf,
        cnmi=(cnmi[0], cnmi[1], cnmi[2], cnmi[3], cnmi[4]),
        sms_storages=storages,
        sms_capacity=r.integer("defaults.sms_capacity", 30),
        smsc=r.text("defaults.smsc", "+33689004000"),
        quirks=r.mapping("quirks"),
        faults=r.mapping("faults"),
        sections=dict(r.data),
        source=source,
    )
