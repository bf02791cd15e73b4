"""27.007 general commands: identities, SIM, functionality, errors, signal, command list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.virtual.registry import ALL_FORMS, QUERIES, CommandSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

GENERAL = CommandSet("general")


def _exec_or_test(c: Cmd) -> bool:
    """True for the execute form; the test form answers a bare OK; others are not allowed."""
    if c.op is Op.TEST:
        return False
    if c.op is not Op.EXEC:
        raise CmeError(50)
    return True


@GENERAL.command("+CGMI", "+GMI", pure=ALL_FORMS)
def manufacturer(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(m.profile.identity.manufacturer)
    return None


@GENERAL.command("+CGMM", "+GMM", pure=ALL_FORMS)
def model(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(m.profile.identity.model)
    return None


@GENERAL.command("+CGMR", "+GMR", pure=ALL_FORMS)
def revision(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(m.profile.identity.revision)
    return None


@GENERAL.command("+CGSN", "+GSN", pure=ALL_FORMS)
def imei(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.SET:
        kind = c.int_at(0, 0, 0, 3)
        m.info(
            {0: m.identity.imei, 1: f'+CGSN: "{m.identity.imei}"', 2: f'+CGSN: "{m.identity.imeisv}"'}.get(
                kind, f'+CGSN: "{m.identity.imeisv[-2:]}"'
            )
        )
    elif _exec_or_test(c):
        m.info(m.identity.imei)
    return None


@GENERAL.command("+CIMI", sim=True, pure=ALL_FORMS)
def imsi(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(m.identity.imsi)
    return None


@GENERAL.command("+CCID", "+ICCID", "+QCCID", sim=True)
def iccid(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ or _exec_or_test(c):
        m.info(m.identity.iccid if m.profile.quirk("ccid_bare") else f"{c.name}: {m.identity.iccid}")
    return None


@GENERAL.command("+CNUM", sim=True)
def own_number(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(f'+CNUM: "","+{m.identity.msisdn}",145')
    return None


@GENERAL.command("+CPIN", sim=True, pure=QUERIES)
def pin(m: VirtualModem, c: Cmd) -> Final | None:
    from modem.virtual.results import SILENT

    if m.sim_state == "BLOCKED":
        raise CmeError(13)  # ten wrong PUKs: the SIM is unusable (SIM failure)
    if c.op is Op.READ:
        m.info(f"+CPIN: {m.sim_state}")
        return SILENT if m.profile.quirk("cpin_no_ok") else None
    if c.op is Op.TEST:
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    if m.sim_state == "READY":
        raise CmeError(3)  # no PIN is asked: entering one is not allowed
    if m.sim_state == "SIM PUK":
        return _puk(m, c)
    if c.str_at(0) != m.pin:
        m.pin_attempts -= 1
        if m.pin_attempts == 0:
            m.sim_state = "SIM PUK"
        raise CmeError(16)
    m.sim_state = "READY"
    m.net.search()
    return None


def _puk(m: VirtualModem, c: Cmd) -> Final | None:
    """AT+CPIN="<puk>","<newpin>" (27.007 8.3): the PUK unblocks the SIM with a new PIN; ten wrong
    PUKs block the SIM for good."""
    puk, new_pin = c.str_at(0), c.str_at(1, "")
    if not (new_pin.isdigit() and 4 <= len(new_pin) <= 8):
        raise CmeError(50 if not new_pin else 16)
    if puk != m.puk:
        m.puk_attempts -= 1
        if m.puk_attempts == 0:
            m.sim_state = "BLOCKED"
            raise CmeError(13)
        raise CmeError(16)
    m.pin, m.sim_state, m.pin_attempts, m.puk_attempts = new_pin, "READY", 3, 10
    m.net.search()
    return None


# The facilities of AT+CLCK, in the order of the SIM800 AT manual's <fac> table (27.007 §7.4): call
# barring ("AO" ... "AC", the network's), fixed dialling ("FD"), the SIM's PIN ("SC") and the
# personalisations ("PN", "PU", "PP").
_CLCK_FACILITIES = ("AO", "OI", "OX", "AI", "IR", "AB", "AG", "AC", "FD", "SC", "PN", "PU", "PP")


@GENERAL.command("+CLCK", sim=True)
def facility_lock(m: VirtualModem, c: Cmd) -> Final | None:
    """27.007 §7.4 facility lock. `=?` lists the facilities; `="<fac>",2` `+CLCK: <status>`: "SC" 1
    while the SIM asks its PIN at power-up, every other facility 0 (the network bars nothing, the
    module is not personalised); `="SC",0|1,"<pin>"` turns the PIN lock off or on, a wrong PIN CME 16
    (the third one leaves the SIM asking its PUK); locking or unlocking another facility CME 3."""
    if c.op is Op.TEST:
        m.info("+CLCK: (" + ",".join(f'"{f}"' for f in _CLCK_FACILITIES) + ")")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    fac, mode = c.str_at(0).upper(), c.int_at(1, None, 0, 2)
    if fac not in _CLCK_FACILITIES:
        raise CmeError(50)
    if mode == 2:
        m.info(f"+CLCK: {1 if fac == 'SC' and m.pin is not None else 0}")
        return None
    if fac != "SC":
        raise CmeError(3)
    if c.str_at(2) != (m.pin if m.pin is not None else m.pin_off):
        m.pin_attempts -= 1
        if m.pin_attempts == 0:
            m.sim_state = "SIM PUK"
        raise CmeError(16)
    m.pin_attempts = 3
    if mode == 0 and m.pin is not None:
        m.pin_off, m.pin = m.pin, None
    elif mode == 1 and m.pin is None:
        m.pin = m.pin_off
    return None


# 27.007 §8.18 restricted SIM access: the elementary files a host reads off the SIM (3GPP TS 51.011
# §10 / 31.102 §4.2), READ BINARY only; a <P3> of 0 reads the rest of the file, as the modules do.
# Status words (51.011 §9.4): 144,0 normal ending; 148,4 file not found; 148,2 offset out of the
# file; 103,0 a length running past its end; 109,0 a command the
# virtual SIM does not carry out (READ RECORD, GET RESPONSE, UPDATE, STATUS).
_READ_BINARY = 176
_CRSM_COMMANDS = frozenset({176, 178, 192, 214, 220, 242})
EF_ICCID, EF_IMSI, EF_SPN, EF_AD = 0x2FE2, 0x6F07, 0x6F46, 0x6FAD


def _swapped_bcd(digits: str) -> bytes:
    """Digits two to an octet, the first in the low nibble, an odd one out padded with F."""
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def sim_file(m: VirtualModem, file_id: int) -> bytes | None:
    """The content of elementary file `file_id` of the virtual SIM; None when it has no such file."""
    from modem.sms.gsm7 import encode_gsm7
    from modem.virtual.plmn import operator_names

    ident = m.identity
    if file_id == EF_ICCID:
        return _swapped_bcd(ident.iccid)
    if file_id == EF_IMSI:  # length, then the digits after the parity nibble (9 odd, 1 even)
        nibbles = ("9" if len(ident.imsi) % 2 else "1") + ident.imsi
        return bytes([(len(nibbles) + 1) // 2]) + _swapped_bcd(nibbles)
    if file_id == EF_SPN:  # display condition, the home operator's name in the default alphabet
        name = encode_gsm7(operator_names(ident.home_plmn)[1])[:16]
        return b"\x00" + name + b"\xff" * (16 - len(name))
    if file_id == EF_AD:  # normal operation, no extra information, the MNC's length
        return bytes([0, 0, 0, len(ident.home_plmn) - 3])
    return None


@GENERAL.command("+CRSM", sim=True)
def restricted_sim_access(m: VirtualModem, c: Cmd) -> Final | None:
    """`AT+CRSM=176,<fileid>,<P1>,<P2>,<P3>` `+CRSM: <sw1>,<sw2>[,"<response>"]` (hex); `=?` OK."""
    if c.op is Op.TEST:
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    command = c.int_at(0, None, 0, 255)
    if command not in _CRSM_COMMANDS:
        raise CmeError(50)
    if command != _READ_BINARY:
        m.info("+CRSM: 109,0")
        return None
    file_id = c.int_at(1, None, 0, 0xFFFF)
    offset = c.int_at(2, None, 0, 255) << 8 | c.int_at(3, None, 0, 255)
    length = c.int_at(4, None, 0, 255)  # 0: the rest of the file (ModemManager reads EF_GID1 so)
    content = sim_file(m, file_id)
    if content is None:
        m.info("+CRSM: 148,4")
    elif offset >= len(content):
        m.info("+CRSM: 148,2")
    elif offset + length > len(content):
        m.info("+CRSM: 103,0")
    else:
        end = offset + length if length else len(content)
        m.info(f'+CRSM: 144,0,"{content[offset:end].hex().upper()}"')
    return None


@GENERAL.command("+CFUN", pure=QUERIES)
def functionality(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CFUN: {m.net.cfun}")
    elif c.op is Op.TEST:
        m.info("+CFUN: (0,1,4),(0-1)")
    elif c.op is Op.SET:
        fun = c.int_at(0, None, 0, 4)
        rst = c.int_at(1, 0, 0, 1)
        if fun not in (0, 1, 4):
            raise CmeError(50)
        if rst or (fun == 1 and m.profile.cfun_reset):
            # A reset (=1,1; =1 on modules that reset): after the OK, boot URCs, deregistration, then
            # registration after the search time; =0,1 / =4,1 reset into that level.
            m.schedule(0.0, lambda: m.restart(fun))
            return None
        m.net.set_cfun(fun)
        m.after_cfun()
    else:
        raise CmeError(50)
    return None


@GENERAL.command("+CMEE", pure=QUERIES)
def error_mode(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CMEE: {m.settings.cmee}")
    elif c.op is Op.TEST:
        m.info("+CMEE: (0-2)")
    else:
        m.settings.cmee = c.int_at(0, 0, 0, 2)
    return None


@GENERAL.command("+CSQ", pure=ALL_FORMS)
def signal(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+CSQ: (0-31,99),(0-7,99)")
    elif _exec_or_test(c):
        rssi, ber = m.net.signal()
        m.info(f"+CSQ: {rssi},{ber}")
    return None


@GENERAL.command("+GCAP", pure=ALL_FORMS)
def capabilities(m: VirtualModem, c: Cmd) -> Final | None:
    """V.250 §6.1.9 complete capabilities list: `+GCAP: +CGSM`, the item 27.007 has a TA with its
    commands include (ModemManager reads it to tell a 3GPP modem)."""
    if _exec_or_test(c):
        m.info("+GCAP: +CGSM")
    return None


@GENERAL.command("+CPAS")
def activity(m: VirtualModem, c: Cmd) -> Final | None:
    """27.007 §8.1 phone activity status: `+CPAS: <pas>`, 0 ready, 3 ringing (a call coming in and
    none up), 4 call in progress (a call up or being set up); `=?` `+CPAS: (0,3,4)`."""
    if c.op is Op.TEST:
        m.info("+CPAS: (0,3,4)")
    elif _exec_or_test(c):
        from modem.virtual.calls import INCOMING

        stats = [call.stat for call in m.calls.calls.values()]
        busy = any(stat != INCOMING for stat in stats)
        m.info(f"+CPAS: {4 if busy else 3 if stats else 0}")
    return None


@GENERAL.command("+CLAC")
def command_list(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        for name in m.enabled_commands():
            m.info(name)
    return None


@GENERAL.command("+CSCS")
def charset(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f'+CSCS: "{m.settings.cscs}"')
    elif c.op is Op.TEST:
        m.info('+CSCS: ("IRA","GSM","UCS2")')
    elif c.op is Op.SET:
        value = c.str_at(0).upper()
        if value not in ("IRA", "GSM", "UCS2"):
            raise CmeError(50)
        m.settings.cscs = value
    return None


@GENERAL.command("+CEER")
def extended_error(m: VirtualModem, c: Cmd) -> Final | None:
    if _exec_or_test(c):
        m.info(f"+CEER: {m.net.cause}")
    return None
