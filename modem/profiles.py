"""Vendor profiles: what a modem model says about itself and how it behaves, as data.

A profile is a YAML file in `modem/profiles/` (or any path).  The virtual modem
reads the sections below; other sections (for example `driver:`, read by the
AT client's drivers) are kept untouched in `Profile.sections`, so one file
describes a model for every part of the project.

    name: simcom-sim800
    description: SIMCom SIM800, GSM/GPRS
    identity: {manufacturer, model, revision, imei_tac, imsi_prefix, iccid_prefix, msisdn_prefix}
    ati: [lines answered to ATI]
    commands: [command sets by name: v250, general, ... (modem.virtual.sets.COMMAND_SETS)]
    ccid_commands: ["+CCID"]          # which of +CCID / +ICCID / +QCCID the model has
    network: {rat, act, csq}
    boot: {urcs: [...], search_s: 2.0, init_s: 0, cfun_reset: false, power_down_urcs: [...]}
    defaults: {echo, cmee, cmgf, cnmi, sms_storages, sms_capacity, smsc}
    quirks: {cifsr_no_ok, cpin_no_ok, numeric_connect}
    faults: {...}                     # default faults, see modem.virtual.faults

Errors name the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from m2msim.yamlio import (
    LocatedDict,
    YamlError,
    check_keys,
    flag_field,
    int_field,
    join_path,
    load_yaml,
    mapping,
    number_field,
    parse_yaml,
    text_field,
    text_list,
)

PROFILE_DIR = "profiles"

# The top-level sections of a profile file (`driver` is read by modem.drivers.profile).
SECTIONS = (
    "name",
    "description",
    "identity",
    "ati",
    "commands",
    "ccid_commands",
    "network",
    "boot",
    "defaults",
    "quirks",
    "faults",
    "driver",
)
IDENTITY_KEYS = (
    "manufacturer",
    "model",
    "revision",
    "imei_tac",
    "imsi_prefix",
    "iccid_prefix",
    "msisdn_prefix",
    "imei",
    "imsi",
    "iccid",
    "msisdn",
)
DEFAULT_KEYS = ("echo", "cmee", "cmgf", "cnmi", "sms_storages", "sms_capacity", "smsc")
QUIRKS = ("ccid_bare", "cifsr_no_ok", "cpin_no_ok", "numeric_connect", "sms_index_base")
RATS = ("geran", "utran", "eutran")


class ProfileError(YamlError, ValueError):
    """A profile file that cannot be used: names the file, the line and the key path."""


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
    init_s: float = 0.0  # after power-on or a reset: extended commands answer +CME ERROR: 515 this long
    cfun_reset: bool = False  # AT+CFUN=1 at full functionality resets the module (as =1,1 does everywhere)
    power_down_urcs: tuple[str, ...] = ()  # sent by AT+CPOWD=1 / AT+QPOWD=1 before the module goes off
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
    doc, source = load_profile_document(name_or_path)
    return profile_from_document(doc, source)


def load_profile_document(name_or_path: str | Path) -> tuple[LocatedDict, str]:
    """The YAML mapping of a profile (shipped by name, or a file by path) and the name to cite in
    errors; its top-level keys are checked (the sections of every reader of a profile)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(name_or_path):
        source = str(path)
        doc = load_yaml(path, source=source)
    else:
        res = resources.files("modem").joinpath(PROFILE_DIR, f"{name_or_path}.yaml")
        if not str(name_or_path) or not res.is_file():
            raise UnknownProfile(str(name_or_path), profile_names())
        source = f"modem/profiles/{name_or_path}.yaml"
        doc = parse_yaml(res.read_text(encoding="utf-8"), source)
    top = mapping(doc, source, "")
    check_keys(top, SECTIONS, source, "")
    return top, source


class UnknownProfile(ProfileError):
    """A profile name that is neither shipped nor a file."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        message = f"unknown modem profile {name!r}; known: {', '.join(known)} (or a YAML file)"
        Exception.__init__(self, message)
        self.source, self.line, self.key, self.reason = name, None, "", message


def _text(m: LocatedDict, key: str, src: str, path: str, default: str | None = None) -> str:
    value = text_field(m, key, src, path, default=default, required=default is None)
    assert value is not None
    return value


def _digits(m: LocatedDict, key: str, src: str, path: str, lengths: range) -> str:
    value = _text(m, key, src, path)
    if not value.isdigit() or len(value) not in lengths:
        raise ProfileError(
            src,
            m.line_of(key),
            join_path(path, key),
            f"expected {lengths.start}-{lengths.stop - 1} digits, got {value!r}",
        )
    return value


def _int(m: LocatedDict, key: str, src: str, path: str, default: int, low: int, high: int) -> int:
    value = int_field(m, key, src, path, default=default, minimum=low, maximum=high)
    assert value is not None
    return value


def _ints(m: LocatedDict, key: str, src: str, path: str, count: int, default: list[int]) -> tuple[int, ...]:
    where = join_path(path, key)
    value = m.get(key, default)
    if isinstance(value, str):  # "2,1,0,0,0" as the AT command takes it
        parts = [v.strip() for v in value.split(",")]
        value = [int(v) for v in parts if v.isdigit()] if all(v.isdigit() for v in parts) else None
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        shown = m.raw(key) if m.raw(key) is not None else value
        raise ProfileError(src, m.line_of(key), where, f"expected {count} integers 0-255, got {shown}")
    return tuple(value)


def _section(top: LocatedDict, key: str, src: str, allowed: Iterable[str]) -> LocatedDict:
    value = top.get(key)
    if value is None:
        section = LocatedDict()
        section.line = top.line_of(key)
        return section
    section = mapping(value, src, key, top.line_of(key))
    check_keys(section, allowed, src, key)
    return section


def _maybe_text(m: LocatedDict, key: str, src: str, path: str) -> str | None:
    return text_field(m, key, src, path, required=False)


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


def parse_profile(text: str, source: str = "<profile>") -> Profile:
    """A profile from YAML text (`ProfileError`, a `YamlError`, names the file, line and key)."""
    top = mapping(parse_yaml(text, source), source, "")
    check_keys(top, SECTIONS, source, "")
    return profile_from_document(top, source)


def profile_from_document(top: LocatedDict, src: str) -> Profile:
    """Validate a profile's sections (the top-level keys are checked by the loader)."""
    try:
        return _profile(top, src)
    except ProfileError:
        raise
    except YamlError as exc:
        raise ProfileError(exc.source, exc.line, exc.key, exc.reason) from None


def _profile(top: LocatedDict, src: str) -> Profile:
    idm = _section(top, "identity", src, IDENTITY_KEYS)
    if "identity" not in top:
        raise ProfileError(src, top.line, "identity", "missing (required)")
    ident = Identity(
        manufacturer=_text(idm, "manufacturer", src, "identity"),
        model=_text(idm, "model", src, "identity"),
        revision=_text(idm, "revision", src, "identity"),
        imei_tac=_digits(idm, "imei_tac", src, "identity", range(8, 9)),
        imsi_prefix=_digits(idm, "imsi_prefix", src, "identity", range(5, 11)),
        iccid_prefix=_digits(idm, "iccid_prefix", src, "identity", range(4, 13)),
        msisdn_prefix=_digits(idm, "msisdn_prefix", src, "identity", range(2, 12)),
        imei=_maybe_text(idm, "imei", src, "identity"),
        imsi=_maybe_text(idm, "imsi", src, "identity"),
        iccid=_maybe_text(idm, "iccid", src, "identity"),
        msisdn=_maybe_text(idm, "msisdn", src, "identity"),
    )

    def bad(key: str, reason: str) -> ProfileError:
        return ProfileError(src, idm.line_of(key), f"identity.{key}", reason)

    if ident.imei is not None and (len(ident.imei) != 15 or not luhn_ok(ident.imei)):
        raise bad("imei", f"{ident.imei!r} is not a 15-digit IMEI with a valid Luhn check digit")
    if ident.iccid is not None and (len(ident.iccid) not in (19, 20) or not luhn_ok(ident.iccid)):
        raise bad("iccid", f"{ident.iccid!r} is not a 19-20 digit ICCID with a valid Luhn digit")
    if ident.imsi is not None and (not ident.imsi.isdigit() or len(ident.imsi) not in (14, 15)):
        raise bad("imsi", f"{ident.imsi!r} is not a 14-15 digit IMSI")
    if ident.msisdn is not None and (not ident.msisdn.isdigit() or not 3 <= len(ident.msisdn) <= 15):
        raise bad("msisdn", f"{ident.msisdn!r} is not an E.164 number (3-15 digits, no '+')")
    commands = text_list(top, "commands", src, "", what="a command set name")
    if commands is None:
        raise ProfileError(src, top.line, "commands", "missing (required)")
    from modem.virtual.sets import COMMAND_SETS  # the virtual modem's sets, named by profiles

    unknown = sorted(set(commands) - set(COMMAND_SETS))
    if unknown:
        raise ProfileError(
            src,
            top.line_of("commands"),
            "commands",
            f"unknown command sets {unknown}; known: {sorted(COMMAND_SETS)}",
        )
    net = _section(top, "network", src, ("rat", "act", "csq"))
    boot = _section(top, "boot", src, ("urcs", "search_s", "init_s", "cfun_reset", "power_down_urcs"))
    dflt = _section(top, "defaults", src, DEFAULT_KEYS)
    quirks = _section(top, "quirks", src, QUIRKS)
    for key in quirks:
        if key == "sms_index_base":
            _int(quirks, key, src, "quirks", 1, 0, 1)
        else:
            flag_field(quirks, key, src, "quirks")
    rat = _text(net, "rat", src, "network", "geran")
    if rat not in RATS:
        raise ProfileError(
            src, net.line_of("rat"), "network.rat", f"expected one of {list(RATS)}, got {rat!r}"
        )
    csq = _ints(net, "csq", src, "network", 2, [20, 0])
    storages = text_list(dflt, "sms_storages", src, "defaults", default=["SM", "ME"], what="a storage name")
    if not storages:
        raise ProfileError(src, dflt.line_of("sms_storages"), "defaults.sms_storages", "at least one storage")
    cnmi = _ints(dflt, "cnmi", src, "defaults", 5, [0, 0, 0, 0, 0])
    from modem.virtual.faults import FaultError, fault_keys, make_faults  # modem.virtual reads profiles

    faults_section = _section(top, "faults", src, fault_keys())
    try:
        make_faults(faults_section)
    except FaultError as exc:
        key = next(iter(faults_section), "")
        for k in faults_section:
            if f"fault {k}:" in str(exc):
                key = k
        raise ProfileError(src, faults_section.line_of(key), join_path("faults", key), str(exc)) from None
    search_s = number_field(boot, "search_s", src, "boot", default=2.0, minimum=0, maximum=3600, unit="s")
    assert search_s is not None
    init_s = number_field(boot, "init_s", src, "boot", default=0.0, minimum=0, maximum=600, unit="s")
    assert init_s is not None
    return Profile(
        name=_text(top, "name", src, ""),
        description=_text(top, "description", src, "", ""),
        identity=ident,
        ati=tuple(
            text_list(top, "ati", src, "", default=[ident.manufacturer, ident.model, ident.revision]) or ()
        ),
        commands=frozenset(commands),
        ccid_commands=tuple(text_list(top, "ccid_commands", src, "", default=["+CCID"]) or ()),
        rat=rat,
        act=_int(net, "act", src, "network", 0, 0, 15),
        csq=(csq[0], csq[1]),
        boot_urcs=tuple(text_list(boot, "urcs", src, "boot", default=[]) or ()),
        search_s=search_s,
        echo=bool(flag_field(dflt, "echo", src, "defaults", default=True)),
        cmee=_int(dflt, "cmee", src, "defaults", 0, 0, 2),
        cmgf=_int(dflt, "cmgf", src, "defaults", 0, 0, 1),
        cnmi=(cnmi[0], cnmi[1], cnmi[2], cnmi[3], cnmi[4]),
        sms_storages=tuple(storages),
        sms_capacity=_int(dflt, "sms_capacity", src, "defaults", 30, 1, 10_000),
        smsc=_text(dflt, "smsc", src, "defaults", "+33689004000"),
        quirks=dict(quirks),
        faults=dict(faults_section),
        init_s=init_s,
        cfun_reset=bool(flag_field(boot, "cfun_reset", src, "boot", default=False)),
        power_down_urcs=tuple(text_list(boot, "power_down_urcs", src, "boot", default=[]) or ()),
        sections=dict(top),
        source=src,
    )
