"""27.005 response headers of SMS reading and arrival: +CMGR, +CMGL, +CMT, +CDS, in text and PDU mode.

Text mode (AT+CMGF=1)::

    +CMGR: "REC UNREAD","+31628870634",,"11/01/09,10:26:26+04"
    +CMGL: 1,"REC READ","+31628870634",,"11/01/09,10:26:26+04"
    +CMT: "+31628870634",,"11/01/09,10:26:26+04"
    +CDS: 6,46,"+31628870634",145,"11/01/09,10:26:26+04","11/01/09,10:26:30+04",0

PDU mode (AT+CMGF=0): `+CMGR: 0,,23`, `+CMGL: 1,0,,23`, `+CMT: ,23`, `+CDS: 25`
(the length counts TPDU octets), the PDU string on the next line.  With
AT+CSDH=1 text-mode headers carry the extra fields (type of address, first
octet, PID, DCS, SMSC, length); they are read when present.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .address import Address
from .dcs import Alphabet, DataCoding
from .errors import SmsCodecError, TextModeParseError
from .pdu import Direction, SmsStatusReport
from .timestamp import encode_relative_validity


class MessageStatus(enum.IntEnum):
    """<stat>: numeric in PDU mode, a string in text mode."""

    REC_UNREAD = 0
    REC_READ = 1
    STO_UNSENT = 2
    STO_SENT = 3
    ALL = 4

    @property
    def text(self) -> str:
        return self.name.replace("_", " ")

    @property
    def direction(self) -> Direction:
        """Stored received messages are MT (SMS-DELIVER), stored ones to send are MO (SMS-SUBMIT)."""
        return Direction.MT if self in (MessageStatus.REC_UNREAD, MessageStatus.REC_READ) else Direction.MO

    @classmethod
    def parse(cls, value: str) -> MessageStatus:
        v = value.strip().strip('"')
        if v.isdigit():
            try:
                return cls(int(v))
            except ValueError:
                pass
        else:
            try:
                return cls[v.upper().replace(" ", "_")]
            except KeyError:
                pass
        raise TextModeParseError(f"message status {value!r} is not one of 0..4 / REC UNREAD ... ALL")


@dataclass(frozen=True, slots=True)
class Param:
    """One comma-separated parameter: its text, and whether it was quoted."""

    value: str
    quoted: bool

    @property
    def empty(self) -> bool:
        return not self.quoted and self.value == ""


def split_params(text: str) -> list[Param]:
    """Split an AT response's parameters on commas outside double quotes."""
    out: list[Param] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise TextModeParseError(f"unterminated quoted string at column {i} in {text!r}")
            out.append(Param(text[i + 1 : end], True))
            i = end + 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                raise TextModeParseError(
                    f"unexpected {text[i]!r} after a quoted string at column {i} in {text!r}"
                )
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            out.append(Param(text[i:end].strip(), False))
            i = end
        if i >= n:
            return out
        i += 1  # the comma


def _strip_prefix(line: str, prefix: str) -> str:
    s = line.strip()
    if s.upper().startswith(prefix):
        return s[len(prefix) :].lstrip()
    if s.startswith("+"):
        raise TextModeParseError(f"expected a {prefix} line, got {line!r}")
    return s


_SCTS = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)(?:([+-])(\d{1,2}))?$")


def parse_scts_text(value: str) -> datetime:
    """`yy/MM/dd,hh:mm:ss±zz` (zone in quarter hours) -> datetime (naive when the zone is missing)."""
    m = _SCTS.match(value.strip().strip('"'))
    if not m:
        raise TextModeParseError(f"time stamp {value!r} is not yy/MM/dd,hh:mm:ss±zz")
    yy, mo, dd, hh, mi, ss = (int(g) for g in m.groups()[:6])
    tz = None
    if m.group(7):
        q = int(m.group(8))
        tz = timezone(timedelta(minutes=15 * q * (-1 if m.group(7) == "-" else 1)))
    try:
        return datetime(2000 + yy if yy < 90 else 1900 + yy, mo, dd, hh, mi, ss, tzinfo=tz)
    except ValueError as exc:
        raise TextModeParseError(f"time stamp {value!r}: {exc}") from None


def format_scts_text(when: datetime) -> str:
    """datetime -> `yy/MM/dd,hh:mm:ss±zz` (the quotes are the caller's)."""
    off = when.utcoffset()
    q = int(off.total_seconds()) // 900 if off is not None else 0
    sign = "-" if q < 0 else "+"
    return f"{when:%y/%m/%d,%H:%M:%S}{sign}{abs(q):02d}"


def _int(p: Param, name: str, line: str) -> int | None:
    if p.empty:
        return None
    try:
        return int(p.value, 0) if not p.value.isdigit() else int(p.value)
    except ValueError:
        raise TextModeParseError(f"{name} {p.value!r} is not a number in {line!r}") from None


def _str(p: Param) -> str | None:
    return None if p.empty else p.value


@dataclass(frozen=True, slots=True)
class TextHeader:
    """A text-mode header.  `kind` is deliver, submit or status-report; unused fields are None."""

    kind: str
    status: MessageStatus | None = None
    index: int | None = None
    address: str | None = None  # <oa>, <da> or <ra>
    alpha: str | None = None
    scts: datetime | None = None
    type_of_address: int | None = None
    first_octet: int | None = None
    pid: int | None = None
    dcs: int | None = None
    validity: str | None = None
    sca: str | None = None
    tosca: int | None = None
    length: int | None = None
    message_reference: int | None = None
    discharge_time: datetime | None = None
    st: int | None = None


@dataclass(frozen=True, slots=True)
class PduHeader:
    """A PDU-mode header: the PDU string follows on the next line; `length` counts TPDU octets."""

    length: int
    status: MessageStatus | None = None
    index: int | None = None
    alpha: str | None = None


def _get(params: list[Param], i: int) -> Param:
    return params[i] if i < len(params) else Param("", False)


def _status_report(params: list[Param], start: int, line: str, **extra: object) -> TextHeader:
    # <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>
    if len(params) < start + 7:
        raise TextModeParseError(f"status report needs fo,mr,ra,tora,scts,dt,st: {line!r}")
    p = params[start:]
    scts_p, dt_p = p[4], p[5]
    return TextHeader(
        "status-report",
        first_octet=_int(p[0], "<fo>", line),
        message_reference=_int(p[1], "<mr>", line),
        address=_str(p[2]),
        type_of_address=_int(p[3], "<tora>", line),
        scts=None if scts_p.empty else parse_scts_text(scts_p.value),
        discharge_time=None if dt_p.empty else parse_scts_text(dt_p.value),
        st=_int(p[6], "<st>", line),
        **extra,  # type: ignore[arg-type]
    )


def _deliver_or_submit(
    params: list[Param], start: int, status: MessageStatus | None, line: str, index: int | None, listing: bool
) -> TextHeader:
    p = params[start:]
    address, alpha = _str(_get(p, 0)), _str(_get(p, 1))
    submit = status is not None and status.direction is Direction.MO
    if listing:  # +CMGL: ...,<oa/da>,[<alpha>],[<scts>][,<tooa/toda>,<length>]
        scts_p = _get(p, 2)
        return TextHeader(
            "submit" if submit else "deliver",
            status,
            index,
            address,
            alpha,
            None if scts_p.empty else parse_scts_text(scts_p.value),
            type_of_address=_int(_get(p, 3), "<tooa>", line),
            length=_int(_get(p, 4), "<length>", line),
        )
    if submit:  # +CMGR: <stat>,<da>,[<alpha>][,<toda>,<fo>,<pid>,<dcs>,[<vp>],<sca>,<tosca>,<length>]
        return TextHeader(
            "submit",
            status,
            index,
            address,
            alpha,
            None,
            type_of_address=_int(_get(p, 2), "<toda>", line),
            first_octet=_int(_get(p, 3), "<fo>", line),
            pid=_int(_get(p, 4), "<pid>", line),
            dcs=_int(_get(p, 5), "<dcs>", line),
            validity=_str(_get(p, 6)),
            sca=_str(_get(p, 7)),
            tosca=_int(_get(p, 8), "<tosca>", line),
            length=_int(_get(p, 9), "<length>", line),
        )
    # +CMGR / +CMT: ...,<oa>,[<alpha>],<scts>[,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>]
    scts_p = _get(p, 2)
    return TextHeader(
        "deliver",
        status,
        index,
        address,
        alpha,
        None if scts_p.empty else parse_scts_text(scts_p.value),
        type_of_address=_int(_get(p, 3), "<tooa>", line),
        first_octet=_int(_get(p, 4), "<fo>", line),
        pid=_int(_get(p, 5), "<pid>", line),
        dcs=_int(_get(p, 6), "<dcs>", line),
        sca=_str(_get(p, 7)),
        tosca=_int(_get(p, 8), "<tosca>", line),
        length=_int(_get(p, 9), "<length>", line),
    )


def parse_cmgr_text(line: str) -> TextHeader:
    """`+CMGR: <stat>,...` in text mode (SMS-DELIVER, SMS-SUBMIT or SMS-STATUS-REPORT)."""
    params = split_params(_strip_prefix(line, "+CMGR:"))
    if len(params) < 2:
        raise TextModeParseError(f"+CMGR needs at least a status and an address: {line!r}")
    status = MessageStatus.parse(params[0].value)
    if not params[1].quoted and params[1].value.isdigit():
        return _status_report(params, 1, line, status=status)
    return _deliver_or_submit(params, 1, status, line, None, listing=False)


def parse_cmgl_text(line: str) -> TextHeader:
    """`+CMGL: <index>,<stat>,...` in text mode."""
    params = split_params(_strip_prefix(line, "+CMGL:"))
    if len(params) < 3:
        raise TextModeParseError(f"+CMGL needs index, status and an address: {line!r}")
    index = _int(params[0], "<index>", line)
    status = MessageStatus.parse(params[1].value)
    if not params[2].quoted and params[2].value.isdigit():
        return _status_report(params, 2, line, status=status, index=index)
    return _deliver_or_submit(params, 2, status, line, index, listing=True)


def parse_cmt_text(line: str) -> TextHeader:
    """`+CMT: <oa>,[<alpha>],<scts>[,...]` (new message routed to the terminal, text mode)."""
    params = split_params(_strip_prefix(line, "+CMT:"))
    if len(params) < 3:
        raise TextModeParseError(f"+CMT needs oa, alpha, scts: {line!r}")
    return _deliver_or_submit(params, 0, None, line, None, listing=False)


def parse_cds_text(line: str) -> TextHeader:
    """`+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` (status report routed to the terminal)."""
    return _status_report(split_params(_strip_prefix(line, "+CDS:")), 0, line)


def status_report_text(line: str) -> SmsStatusReport:
    """A text-mode status report (`+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`, 27.005 §3.4.1;
    or its `+CMGR` / `+CMGL` line) as the `SmsStatusReport` its PDU gives: message reference,
    recipient (of <tora>'s type; none given, an empty number), service centre time stamp, discharge
    time, status, and from <fo> TP-MMS and TP-SRQ.  TextModeParseError when a field is missing."""
    prefix = line.strip().split(":", 1)[0].upper()
    h = {"+CMGR": parse_cmgr_text, "+CMGL": parse_cmgl_text}.get(prefix, parse_cds_text)(line)
    if h.kind != "status-report":
        raise TextModeParseError(f"not a status report: {line!r}")
    mr, scts, dt, st = h.message_reference, h.scts, h.discharge_time, h.st
    if mr is None or scts is None or dt is None or st is None:
        fields = (("<mr>", mr), ("<scts>", scts), ("<dt>", dt), ("<st>", st))
        missing = ", ".join(name for name, value in fields if value is None)
        raise TextModeParseError(f"status report without {missing}: {line!r}")
    fo = h.first_octet or 0
    ra = h.address or ""
    try:
        if h.type_of_address is not None:
            recipient = Address.from_toa(ra.removeprefix("+"), h.type_of_address)
        else:
            recipient = Address.parse(ra) if ra else Address("")
    except (IndexError, SmsCodecError) as exc:
        raise TextModeParseError(f"status report recipient {ra!r}: {exc}: {line!r}") from None
    return SmsStatusReport(
        mr,
        recipient,
        scts,
        dt,
        st,
        more_messages=not fo & 0x04,
        qualifier_command=bool(fo & 0x20),
    )


def _length(p: Param, line: str) -> int:
    n = _int(p, "<length>", line)
    if n is None:
        raise TextModeParseError(f"missing <length> in {line!r}")
    return n


def parse_cmgr_pdu(line: str) -> PduHeader:
    """`+CMGR: <stat>,[<alpha>],<length>`."""
    params = split_params(_strip_prefix(line, "+CMGR:"))
    if len(params) < 2:
        raise TextModeParseError(f"+CMGR (PDU mode) needs stat,[alpha],length: {line!r}")
    return PduHeader(
        _length(params[-1], line),
        MessageStatus.parse(params[0].value),
        None,
        _str(params[1]) if len(params) > 2 else None,
    )


def parse_cmgl_pdu(line: str) -> PduHeader:
    """`+CMGL: <index>,<stat>,[<alpha>],<length>`."""
    params = split_params(_strip_prefix(line, "+CMGL:"))
    if len(params) < 3:
        raise TextModeParseError(f"+CMGL (PDU mode) needs index,stat,[alpha],length: {line!r}")
    return PduHeader(
        _length(params[-1], line),
        MessageStatus.parse(params[1].value),
        _int(params[0], "<index>", line),
        _str(params[2]) if len(params) > 3 else None,
    )


def parse_cmt_pdu(line: str) -> PduHeader:
    """`+CMT: [<alpha>],<length>`."""
    params = split_params(_strip_prefix(line, "+CMT:"))
    return PduHeader(_length(params[-1], line), None, None, _str(params[0]) if len(params) > 1 else None)


def parse_cds_pdu(line: str) -> PduHeader:
    """`+CDS: <length>`."""
    params = split_params(_strip_prefix(line, "+CDS:"))
    return PduHeader(_length(params[-1], line))


def decode_ucs2_hex(value: str) -> str:
    """A text-mode body in AT+CSCS="UCS2" (hex of UTF-16BE) -> text."""
    try:
        return bytes.fromhex(value.strip()).decode("utf-16-be", errors="replace")
    except ValueError:
        raise TextModeParseError(f"UCS2 body {value[:40]!r} is not hexadecimal") from None


@dataclass(frozen=True, slots=True)
class SubmitParameters:
    """AT+CSMP=<fo>,<vp>,<pid>,<dcs>: how a text-mode AT+CMGS message is sent."""

    first_octet: int
    validity: int
    pid: int
    dcs: int

    @property
    def command(self) -> str:
        return f"AT+CSMP={self.first_octet},{self.validity},{self.pid},{self.dcs}"


def submit_parameters(
    validity: timedelta | None = None,
    *,
    status_report: bool = False,
    reject_duplicates: bool = False,
    message_class: int | None = None,
    alphabet: Alphabet = Alphabet.GSM7,
    pid: int = 0,
) -> SubmitParameters:
    """The AT+CSMP values for the same options `encode_submit` takes (relative validity only:
    text mode carries one <vp> integer).  `submit_parameters(timedelta(days=1), status_report=True)`
    gives `AT+CSMP=49,167,0,0`."""
    fo = 0x01 | (0x10 if validity is not None else 0)
    fo |= 0x04 if reject_duplicates else 0
    fo |= 0x20 if status_report else 0
    vp = encode_relative_validity(validity) if validity is not None else 0
    return SubmitParameters(fo, vp, pid, DataCoding(alphabet, message_class).to_octet())


def parse_cmgs(line: str) -> tuple[int, datetime | None]:
    """`+CMGS: <mr>[,<scts>|<ackpdu>]` -> (message reference, service-centre time stamp when given).
    <mr> is TP-MR, one octet (23.040 §9.2.3.6): digits 0-255 as written, else `TextModeParseError`
    (a garbled line: `300`, `-4`, `0x1f` or `４` read as a reference would match another part's
    status reports, or none)."""
    params = split_params(_strip_prefix(line, "+CMGS:"))
    text = params[0].value.strip() if params and not params[0].quoted else ""
    mr = int(text) if text.isascii() and text.isdigit() else None
    if mr is None or not 0 <= mr <= 255:
        raise TextModeParseError(f"+CMGS needs a message reference 0..255: {line!r}")
    scts = parse_scts_text(params[1].value) if len(params) > 1 and params[1].quoted else None
    return mr, scts
