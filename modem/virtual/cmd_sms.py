"""27.005 SMS commands: format, service centre, storages, indications, send, read, list, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.safety import te_number
from modem.sms import Alphabet, Direction, SmsCodecError, SmsDeliver, SmsSubmit, decode_pdu
from modem.sms.dcs import DataCoding
from modem.virtual.registry import CommandSet
from modem.virtual.results import CmsError, Final
from modem.virtual.sms import (
    REC_READ,
    REC_UNREAD,
    STATUS_TEXT,
    STO_SENT,
    STO_UNSENT,
    Stored,
    header_fields,
    te_data,
    te_text,
)
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

SMS = CommandSet("sms")


def _int(c: Cmd, i: int, default: int | None, lo: int, hi: int) -> int:
    """Like Cmd.int_at, but a bad SMS parameter is CMS 302 (text) / 304 (PDU), not CME 50."""
    try:
        return c.int_at(i, default, lo, hi)
    except Exception:
        raise CmsError(302) from None


@SMS.command("+CMGF")
def cmgf(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CMGF: {m.settings.cmgf}")
    elif c.op is Op.TEST:
        m.info("+CMGF: (0,1)")
    elif c.op is Op.SET:
        m.settings.cmgf = _int(c, 0, 0, 0, 1)
    else:
        m.settings.cmgf = 0
    return None


@SMS.command("+CSMS")
def csms(m: VirtualModem, c: Cmd) -> Final | None:
    """27.005 §3.2.1 select message service: `?` `+CSMS: <service>,<mt>,<mo>,<bm>`, `=<service>`
    (0 phase 2, 1 phase 2+) `+CSMS: <mt>,<mo>,<bm>`, each type supported (1); `=?` `+CSMS: (0,1)`."""
    if c.op is Op.READ:
        m.info(f"+CSMS: {m.settings.csms},1,1,1")
    elif c.op is Op.TEST:
        m.info("+CSMS: (0,1)")
    elif c.op is Op.SET:
        m.settings.csms = _int(c, 0, None, 0, 1)
        m.info("+CSMS: 1,1,1")
    else:
        raise CmsError(302)
    return None


@SMS.command("+CSCA", sim=True)
def csca(m: VirtualModem, c: Cmd) -> Final | None:
    sms = m.sms
    if c.op is Op.READ:
        m.info(f'+CSCA: "{te_text(sms.smsc, m.settings.cscs)}",{sms.smsc_toa}')
    elif c.op is Op.SET:
        sms.smsc = _from_te_address(m, c.str_at(0))
        sms.smsc_toa = _int(c, 1, 145 if sms.smsc.startswith("+") else 129, 0, 255)
    elif c.op is not Op.TEST:
        raise CmsError(302)
    return None


@SMS.command("+CSMP")
def csmp(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info("+CSMP: " + ",".join(str(v) for v in m.settings.csmp))
    elif c.op is Op.SET:
        cur = m.settings.csmp
        m.settings.csmp = (
            _int(c, 0, cur[0], 0, 255),
            _int(c, 1, cur[1], 0, 255),
            _int(c, 2, cur[2], 0, 255),
            _int(c, 3, cur[3], 0, 255),
        )
    elif c.op is not Op.TEST:
        raise CmsError(302)
    return None


@SMS.command("+CSDH", listed=True)
def csdh(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+CSDH: {m.settings.csdh}")
    elif c.op is Op.TEST:
        m.info("+CSDH: (0,1)")
    else:
        m.settings.csdh = _int(c, 0, 0, 0, 1)
    return None


@SMS.command("+CPMS", sim=True)
def cpms(m: VirtualModem, c: Cmd) -> Final | None:
    sms = m.sms
    names = list(sms.names)
    if c.op is Op.READ:
        m.info("+CPMS: " + ",".join(f'"{mem}",{sms.usage(mem)}' for mem in sms.mem))
    elif c.op is Op.TEST:
        choice = "(" + ",".join(f'"{n}"' for n in names) + ")"
        m.info(f"+CPMS: {choice},{choice},{choice}")
    elif c.op is Op.SET:
        chosen = [p.upper() if p else None for p in c.params()[:3]]
        if not chosen or any(p is not None and p not in sms.names for p in chosen):
            raise CmsError(302)
        for i, mem in enumerate(chosen):
            if mem is not None:
                sms.mem[i] = mem
        m.info("+CPMS: " + ",".join(sms.usage(mem) for mem in sms.mem))
        sms._deliver_backlog()
    else:
        raise CmsError(302)
    return None


@SMS.command("+CNMI")
def cnmi(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info("+CNMI: " + ",".join(str(v) for v in m.settings.cnmi))
    elif c.op is Op.TEST:
        m.info("+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)")
    elif c.op is Op.SET:
        cur = m.settings.cnmi
        new = [
            _int(c, 0, cur[0], 0, 3),
            _int(c, 1, cur[1], 0, 3),
            _int(c, 2, cur[2], 0, 3),
            _int(c, 3, cur[3], 0, 2),
            _int(c, 4, cur[4], 0, 1),
        ]
        if new[2] not in (0, 2):
            raise CmsError(303)
        m.settings.cnmi = new
        if new[0] != 0:
            m.sms.entered(new[4])
    else:
        raise CmsError(302)
    return None


@SMS.command("+CNMA")
def cnma(m: VirtualModem, c: Cmd) -> Final | None:
    return None


@SMS.command("+CMGS", sim=True)
def cmgs(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if c.op is not Op.SET:
        raise CmsError(302 if m.settings.cmgf else 304)
    if m.settings.cmgf == 1:
        dest = _from_te_address(m, c.str_at(0, ""))
        if not dest:
            raise CmsError(305)

        def send_text(text: bytes) -> Final | None:
            message = _from_te(m, text)
            return m.sms.after_leg(lambda: f"+CMGS: {m.sms.send_text(dest, message)}")

        return m.prompt(send_text)
    length = _int(c, 0, None, 1, 176)

    def send_pdu(text: bytes) -> Final | None:
        pdu = text.decode("latin-1")
        return m.sms.after_leg(lambda: f"+CMGS: {m.sms.send_pdu(pdu, length)}")

    return m.prompt(send_pdu)


@SMS.command("+CMGW", sim=True)
def cmgw(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if m.settings.cmgf == 1:  # +CMGW="<da>"[,<toda>[,<stat>]]: a message to send, STO UNSENT or STO SENT
        dest = _from_te_address(m, c.str_at(0, "")) if c.op is Op.SET else ""
        if not dest:
            raise CmsError(305)  # a stored message needs its destination here
        raw_stat = c.str_at(2, "STO UNSENT").upper() if c.op is Op.SET else "STO UNSENT"
        if raw_stat not in ("STO UNSENT", "STO SENT"):
            raise CmsError(302)  # a received one (REC ...) has no <oa> time stamp to give it here
        text_stat = STATUS_TEXT.index(raw_stat)

        def store_text(text: bytes) -> Final | None:
            m.info(f"+CMGW: {m.sms.write_text(dest, _from_te(m, text), text_stat)}")
            return None

        return m.prompt(store_text)
    if c.op is not Op.SET:
        raise CmsError(304)
    length = _int(c, 0, None, 1, 176)
    stat = _int(c, 1, STO_UNSENT, REC_UNREAD, STO_SENT)  # +CMGW=<length>[,<stat>]

    def store_pdu(text: bytes) -> Final | None:
        m.info(f"+CMGW: {m.sms.write_pdu(text.decode('latin-1'), length, stat)}")
        return None

    return m.prompt(store_pdu)


@SMS.command("+CMSS", sim=True)
def cmss(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if c.op is not Op.SET:
        raise CmsError(302)
    index = _int(c, 0, None, 0, 9999)
    dest = _from_te_address(m, c.str_at(1, "")) or None
    return m.sms.after_leg(lambda: f"+CMSS: {m.sms.send_stored(index, dest)}")


def _from_te(m: VirtualModem, text: bytes) -> str | bytes:
    """Text typed at the prompt (27.005 3.5.1): hex when +CSMP's <dcs> says 8-bit data (the octets)
    or UCS2, or +CSCS is "UCS2" (UTF-16BE); else text in the TE character set."""
    alphabet = DataCoding.from_octet(m.settings.csmp[3]).alphabet
    if alphabet is not Alphabet.GSM7 or m.settings.cscs == "UCS2":
        try:
            octets = bytes.fromhex(text.decode("ascii"))
            return octets if alphabet is Alphabet.DATA8 else octets.decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            raise CmsError(305) from None
    return text.decode("latin-1").replace("\r", "\n")


def _from_te_address(m: VirtualModem, raw: str) -> str:
    """A <da> as the TE writes it (27.005: in the +CSCS set): UCS2 hex in "UCS2", CMS 305 if not."""
    try:
        return te_number(raw, m.settings.cscs)
    except ValueError:
        raise CmsError(305) from None


def _to_te(m: VirtualModem, msg: Stored) -> bytes:
    """A stored message's <data> in text mode as 27.005 says (`te_data`): its PDU's user data."""
    received = msg.status in (REC_UNREAD, REC_READ)
    try:
        decoded = decode_pdu(msg.pdu, Direction.MT if received else Direction.MO)
    except SmsCodecError:
        decoded = None
    if isinstance(decoded, SmsDeliver | SmsSubmit):
        return te_data(decoded, m.settings.cscs).encode("latin-1")
    return te_text(msg.text, m.settings.cscs).encode("latin-1")


def _show(m: VirtualModem, msg: Stored, index: int | None) -> None:
    if m.settings.cmgf == 1:
        status = STATUS_TEXT[msg.status]
        if msg.report:  # a status report (27.005 3.4.3): its fields, no text
            head = f'"{status}",{msg.report}'
            m.info(f"+CMGR: {head}" if index is None else f"+CMGL: {index},{head}")
            return
        listing = index is not None
        if msg.status in (REC_UNREAD, REC_READ):
            head = f'"{status}","{te_text(msg.number, m.settings.cscs)}",,"{msg.scts}"'
            direction = Direction.MT
        else:  # an SMS-SUBMIT has no time stamp (27.005 3.4.2, 3.4.3; as SIM800 shows it)
            head = f'"{status}","{te_text(msg.number, m.settings.cscs)}",""' + ("," if listing else "")
            direction = Direction.MO
        if m.settings.csdh:
            head += header_fields(m, msg.pdu, listing, direction)
        m.info(f"+CMGL: {index},{head}" if listing else f"+CMGR: {head}")
        m.raw(_to_te(m, msg) + b"\r\n")
    else:
        m.info(
            f"+CMGR: {msg.status},,{msg.tpdu_length}"
            if index is None
            else f"+CMGL: {index},{msg.status},,{msg.tpdu_length}"
        )
        m.raw(msg.pdu.encode() + b"\r\n")


@SMS.command("+CMGR", sim=True)
def cmgr(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if c.op is not Op.SET:
        raise CmsError(302)
    msg = m.sms.read(_int(c, 0, None, 0, 9999))
    _show(m, msg, None)
    if msg.status == REC_UNREAD:
        msg.status = REC_READ
    return None


_LIST_TEXT = {"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": 4}


@SMS.command("+CMGL", sim=True)
def cmgl(m: VirtualModem, c: Cmd) -> Final | None:
    text_mode = m.settings.cmgf == 1
    if c.op is Op.TEST:
        if text_mode:
            m.info('+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")')
        else:
            m.info("+CMGL: (0-4)")
        return None
    if c.op is Op.SET:
        raw = c.str_at(0, "")
        if text_mode:
            if raw.upper() not in _LIST_TEXT:
                raise CmsError(302)
            wanted = _LIST_TEXT[raw.upper()]
        else:
            wanted = _int(c, 0, 0, 0, 4)
    elif c.op is Op.EXEC:
        wanted = 0
    else:
        raise CmsError(302)
    store = m.sms.listing(m.sms.mem[0])
    for index in sorted(store):
        msg = store[index]
        if wanted == 4 or msg.status == wanted:
            _show(m, msg, index)
            if msg.status == REC_UNREAD:
                msg.status = REC_READ
    return None


@SMS.command("+CMGD", sim=True)
def cmgd(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        store = m.sms.listing(m.sms.mem[0])
        m.info("+CMGD: (" + ",".join(str(i) for i in sorted(store)) + "),(0-4)")
        return None
    if c.op is not Op.SET:
        raise CmsError(302)
    flag = _int(c, 1, 0, 0, 4)
    index = _int(c, 0, 0 if flag else None, 0, 9999)
    m.sms.delete(index, flag)
    return None
