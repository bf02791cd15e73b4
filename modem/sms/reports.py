"""The other TPDUs of TS 23.040: SMS-SUBMIT-REPORT, SMS-DELIVER-REPORT (9.2.2.1a, 9.2.2.2a), SMS-COMMAND (9.2.2.4).

Reports acknowledge a message at the transfer layer: RP-ACK form, or RP-ERROR
form with a TP-Failure-Cause (the `+CMS ERROR` codes 128..255).  A report does
not say which form it is; with `error=None` the decoder reads the second octet
as a failure cause when its top bit is set (causes are 0x80..0xFF, while a
parameter indicator with its extension bit set has no defined meaning).
A SUBMIT-REPORT is the `<ackpdu>` of `+CMGS: <mr>,<ackpdu>` (AT+CSMS=1); a
DELIVER-REPORT is the PDU of AT+CNMA; a COMMAND is sent with AT+CMGC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from .address import Address, decode_address, encode_address
from .dcs import Alphabet, DataCoding
from .errors import MalformedPduError, SmsCodecError, TruncatedPduError
from .timestamp import decode_timestamp, encode_timestamp
from .userdata import UserData

_FAILURE_CAUSES: dict[int, str] = {
    0x80: "telematic interworking not supported",
    0x81: "short message type 0 not supported",
    0x82: "cannot replace short message",
    0x8F: "unspecified TP-PID error",
    0x90: "data coding scheme (alphabet) not supported",
    0x91: "message class not supported",
    0x9F: "unspecified TP-DCS error",
    0xA0: "command cannot be actioned",
    0xA1: "command unsupported",
    0xAF: "unspecified TP-Command error",
    0xB0: "TPDU not supported",
    0xC0: "SC busy",
    0xC1: "no SC subscription",
    0xC2: "SC system failure",
    0xC3: "invalid SME address",
    0xC4: "destination SME barred",
    0xC5: "SM rejected-duplicate SM",
    0xC6: "TP-VPF not supported",
    0xC7: "TP-VP not supported",
    0xD0: "(U)SIM SMS storage full",
    0xD1: "no SMS storage capability in (U)SIM",
    0xD2: "error in MS",
    0xD3: "memory capacity exceeded",
    0xD4: "(U)SIM application toolkit busy",
    0xD5: "(U)SIM data download error",
    0xFF: "unspecified error cause",
}


def failure_cause_meaning(cause: int) -> str:
    """Meaning of a TP-FCS value (TS 23.040 9.2.3.22)."""
    if cause in _FAILURE_CAUSES:
        return _FAILURE_CAUSES[cause]
    if 0xE0 <= cause <= 0xFE:
        return f"application-specific failure {cause:#04x}"
    return f"reserved failure cause {cause:#04x}"


class CommandType(enum.IntEnum):
    """TP-Command-Type (TS 23.040 9.2.3.19)."""

    ENQUIRY = 0  # about a previously submitted message (asks for a status report)
    CANCEL_STATUS_REPORT = 1
    DELETE = 2
    ENABLE_STATUS_REPORT = 3


def _byte(pdu: bytes, offset: int, field: str) -> int:
    if offset >= len(pdu):
        raise TruncatedPduError(field, offset, 1, 0)
    return pdu[offset]


def read_parameter_indicator(tpdu: bytes, i: int) -> tuple[int, int]:
    """TP-PI at `i` (and its extension octets, none defined yet: skipped); returns it and the next offset."""
    pi = _byte(tpdu, i, "TP-PI")
    i += 1
    first = pi
    while pi & 0x80 and i < len(tpdu):
        pi = tpdu[i]
        i += 1
    return first, i


def _read_parameters(
    tpdu: bytes, i: int, pi: int, udhi: bool
) -> tuple[int | None, DataCoding | None, UserData | None]:
    """The optional TP-PID, TP-DCS, TP-UDL/TP-UD that TP-PI announces, from offset `i`."""
    pid, dcs, ud, _ = read_parameters(tpdu, i, pi, udhi)
    return pid, dcs, ud


def read_parameters(
    tpdu: bytes, i: int, pi: int, udhi: bool
) -> tuple[int | None, DataCoding | None, UserData | None, int]:
    """The optional TP-PID, TP-DCS, TP-UDL/TP-UD that TP-PI announces, from offset `i`, and the
    offset after them."""
    pid = dcs = ud = None
    if pi & 0x01:
        pid = _byte(tpdu, i, "TP-PID")
        i += 1
    if pi & 0x02:
        dcs = DataCoding.from_octet(_byte(tpdu, i, "TP-DCS"))
        i += 1
    if pi & 0x04:
        alphabet = Alphabet.GSM7 if dcs is None else (Alphabet.DATA8 if dcs.compressed else dcs.alphabet)
        ud, i = UserData.decode(tpdu, i, udhi, alphabet)
    return pid, dcs, ud, i


def _encode_optional(pid: int | None, dcs: DataCoding | None, ud: UserData | None) -> bytes:
    pi = (1 if pid is not None else 0) | (2 if dcs is not None else 0) | (4 if ud is not None else 0)
    out = bytes([pi])
    if pid is not None:
        out += bytes([pid & 0xFF])
    if dcs is not None:
        out += bytes([dcs.to_octet()])
    if ud is not None:
        alphabet = Alphabet.GSM7 if dcs is None else (Alphabet.DATA8 if dcs.compressed else dcs.alphabet)
        if ud.alphabet is not alphabet:
            raise SmsCodecError(f"report user data is {ud.alphabet.value} but its DCS says {alphabet.value}")
        udl, data = ud.encode()
        out += bytes([udl]) + data
    return out


def _is_error(tpdu: bytes, error: bool | None) -> bool:
    return bool(_byte(tpdu, 1, "TP-FCS / TP-PI") & 0x80) if error is None else error


def _check_cause(cause: int | None) -> None:
    if cause is not None and not 0x80 <= cause <= 0xFF:
        raise SmsCodecError(f"TP-FCS must be 0x80..0xFF, got {cause:#x}")


class _ReportAnswer:
    """What SUBMIT-REPORT and DELIVER-REPORT share: the RP-ACK / RP-ERROR outcome and optional text."""

    __slots__ = ()
    failure_cause: int | None
    user_data: UserData | None

    @property
    def accepted(self) -> bool:
        return self.failure_cause is None

    @property
    def meaning(self) -> str:
        return "accepted" if self.failure_cause is None else failure_cause_meaning(self.failure_cause)

    @property
    def text(self) -> str | None:
        return self.user_data.text if self.user_data else None


@dataclass(frozen=True, slots=True)
class SmsSubmitReport(_ReportAnswer):
    """SMS-SUBMIT-REPORT (service centre -> mobile): the SC's answer to an SMS-SUBMIT."""

    scts: datetime
    failure_cause: int | None = None  # set: RP-ERROR form
    pid: int | None = None
    dcs: DataCoding | None = None
    user_data: UserData | None = None
    smsc: Address | None = None

    def encode(self) -> bytes:
        _check_cause(self.failure_cause)
        fo = 0x01 | (0x40 if self.user_data is not None and self.user_data.header else 0)
        out = bytes([fo]) + (bytes([self.failure_cause]) if self.failure_cause is not None else b"")
        optional = _encode_optional(self.pid, self.dcs, self.user_data)
        return out + optional[:1] + encode_timestamp(self.scts) + optional[1:]

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None, error: bool | None = None) -> SmsSubmitReport:
        fo = _byte(tpdu, 0, "TP-MTI")
        i = 1
        cause = None
        if _is_error(tpdu, error):
            cause = tpdu[1]
            i = 2
        pi, i = read_parameter_indicator(
            tpdu, i
        )  # TP-PI comes before TP-SCTS, the parameters it announces after
        scts = decode_timestamp(tpdu, i, "TP-SCTS")
        pid, dcs, ud = _read_parameters(tpdu, i + 7, pi, bool(fo & 0x40))
        return cls(scts, cause, pid, dcs, ud, smsc)


@dataclass(frozen=True, slots=True)
class SmsDeliverReport(_ReportAnswer):
    """SMS-DELIVER-REPORT (mobile -> service centre): the mobile's answer to an SMS-DELIVER (AT+CNMA)."""

    failure_cause: int | None = None  # set: RP-ERROR form, e.g. 0xD3 memory capacity exceeded
    pid: int | None = None
    dcs: DataCoding | None = None
    user_data: UserData | None = None
    smsc: Address | None = None

    def encode(self) -> bytes:
        _check_cause(self.failure_cause)
        fo = 0x00 | (0x40 if self.user_data is not None and self.user_data.header else 0)
        out = bytes([fo]) + (bytes([self.failure_cause]) if self.failure_cause is not None else b"")
        return out + _encode_optional(self.pid, self.dcs, self.user_data)

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None, error: bool | None = None) -> SmsDeliverReport:
        fo = _byte(tpdu, 0, "TP-MTI")
        i = 1
        cause = None
        if _is_error(tpdu, error):
            cause = tpdu[1]
            i = 2
        pi, i = read_parameter_indicator(tpdu, i)
        pid, dcs, ud = _read_parameters(tpdu, i, pi, bool(fo & 0x40))
        return cls(cause, pid, dcs, ud, smsc)


@dataclass(frozen=True, slots=True)
class SmsCommand:
    """SMS-COMMAND (mobile -> service centre): an operation on a message already submitted."""

    message_reference: int
    command_type: int
    message_number: int
    destination: Address
    pid: int = 0
    data: bytes = b""
    status_report_request: bool = False
    smsc: Address | None = None

    @property
    def text(self) -> str | None:
        return None

    def encode(self) -> bytes:
        for name, value in (
            ("TP-MR", self.message_reference),
            ("TP-CT", self.command_type),
            ("TP-MN", self.message_number),
        ):
            if not 0 <= value <= 255:
                raise SmsCodecError(f"{name} must be 0..255, got {value}")
        if len(self.data) > 156:
            raise SmsCodecError(f"TP-CD holds at most 156 octets, got {len(self.data)}")
        fo = 0x02 | (0x20 if self.status_report_request else 0)
        head = bytes([fo, self.message_reference, self.pid & 0xFF, self.command_type, self.message_number])
        return head + encode_address(self.destination) + bytes([len(self.data)]) + self.data

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None) -> SmsCommand:
        fo = _byte(tpdu, 0, "TP-MTI")
        mr = _byte(tpdu, 1, "TP-MR")
        pid = _byte(tpdu, 2, "TP-PID")
        ct = _byte(tpdu, 3, "TP-CT")
        mn = _byte(tpdu, 4, "TP-MN")
        dest, i = decode_address(tpdu, 5, "TP-DA")
        cdl = _byte(tpdu, i, "TP-CDL")
        if i + 1 + cdl > len(tpdu):
            raise TruncatedPduError("TP-CD", i + 1, cdl, len(tpdu) - i - 1)
        if cdl > 156:
            raise MalformedPduError(f"TP-CDL {cdl} at octet {i} exceeds 156")
        return cls(mr, ct, mn, dest, pid, bytes(tpdu[i + 1 : i + 1 + cdl]), bool(fo & 0x20), smsc)
