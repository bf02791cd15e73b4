"""TPDUs (TS 23.040 9.2.2): SMS-SUBMIT, SMS-DELIVER, SMS-STATUS-REPORT, and the PDU string of 27.005.

`decode_pdu(hex, direction)` reads the string of AT+CMGS / +CMGR / +CMGL / +CMT /
+CDS (SMSC prefix then TPDU).  The message type indicator (TP-MTI) means
different things each way, so the caller says which way the message travels:
`Direction.MT` (service centre to mobile: DELIVER, STATUS-REPORT) or
`Direction.MO` (mobile to service centre: SUBMIT).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .address import Address, decode_address, decode_smsc, encode_address
from .dcs import Alphabet, DataCoding
from .errors import (
    InvalidHexError,
    MalformedPduError,
    PduLengthMismatchError,
    SmsCodecError,
    TruncatedPduError,
    UnsupportedPduError,
)
from .reports import SmsCommand, SmsDeliverReport, SmsSubmitReport, read_parameter_indicator, read_parameters
from .status import StatusCategory, status_category, status_meaning
from .timestamp import (
    EnhancedValidity,
    Validity,
    decode_relative_validity,
    decode_timestamp,
    encode_relative_validity,
    encode_timestamp,
)
from .udh import ConcatInfo, PortInfo, SpecialIndication
from .userdata import UserData

log = logging.getLogger(__name__)


class Direction(enum.StrEnum):
    MT = "mt"  # service centre -> mobile (received: +CMGR of REC messages, +CMT, +CDS)
    MO = "mo"  # mobile -> service centre (sent: AT+CMGS, +CMGR of STO messages)


def user_data_alphabet(dcs: DataCoding) -> Alphabet:
    """The alphabet TP-UDL counts in: compressed data always counts octets."""
    return Alphabet.DATA8 if dcs.compressed else dcs.alphabet


def _check_alphabet(dcs: DataCoding, ud: UserData) -> None:
    if user_data_alphabet(dcs) is not ud.alphabet:
        raise SmsCodecError(
            f"DCS says {user_data_alphabet(dcs).value} but the user data is {ud.alphabet.value}"
        )


def _byte(pdu: bytes, offset: int, fld: str) -> int:
    if offset >= len(pdu):
        raise TruncatedPduError(fld, offset, 1, 0)
    return pdu[offset]


class _UserDataMixin:
    __slots__ = ()
    user_data: UserData

    @property
    def text(self) -> str | None:
        """The text for GSM 7-bit and UCS2 messages, None for 8-bit data."""
        return self.user_data.text

    @property
    def data(self) -> bytes:
        """The content octets (8-bit data; for text, the septet codes or UTF-16BE octets)."""
        return self.user_data.payload

    @property
    def concat(self) -> ConcatInfo | None:
        return self.user_data.concat

    @property
    def ports(self) -> PortInfo | None:
        return self.user_data.ports

    @property
    def indications(self) -> tuple[SpecialIndication, ...]:
        """Special SMS message indications (voicemail, fax, e-mail waiting) in the header."""
        return self.user_data.indications


@dataclass(frozen=True, slots=True)
class SmsSubmit(_UserDataMixin):
    """SMS-SUBMIT: a message the mobile sends."""

    destination: Address
    user_data: UserData
    message_reference: int = 0
    pid: int = 0
    dcs: DataCoding = field(default_factory=DataCoding)
    validity: Validity | None = None
    reject_duplicates: bool = False
    status_report_request: bool = False
    reply_path: bool = False
    smsc: Address | None = None

    def encode(self) -> bytes:
        """The TPDU octets."""
        _check_alphabet(self.dcs, self.user_data)
        if not 0 <= self.message_reference <= 255:
            raise SmsCodecError(f"TP-MR must be 0..255, got {self.message_reference}")
        vp = b""
        vpf = 0
        if isinstance(self.validity, timedelta):
            vpf, vp = 0b10, bytes([encode_relative_validity(self.validity)])
        elif isinstance(self.validity, datetime):
            vpf, vp = 0b11, encode_timestamp(self.validity)
        elif isinstance(self.validity, EnhancedValidity):
            raise UnsupportedPduError("encoding the enhanced validity-period format is not supported")
        udl, ud = self.user_data.encode()
        fo = 0x01 | (vpf << 3)
        fo |= 0x04 if self.reject_duplicates else 0
        fo |= 0x20 if self.status_report_request else 0
        fo |= 0x40 if self.user_data.header else 0
        fo |= 0x80 if self.reply_path else 0
        head = bytes([fo, self.message_reference]) + encode_address(self.destination)
        return head + bytes([self.pid & 0xFF, self.dcs.to_octet()]) + vp + bytes([udl]) + ud

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None) -> SmsSubmit:
        fo = _byte(tpdu, 0, "TP-MTI")
        mr = _byte(tpdu, 1, "TP-MR")
        dest, i = decode_address(tpdu, 2, "TP-DA")
        pid = _byte(tpdu, i, "TP-PID")
        dcs = DataCoding.from_octet(_byte(tpdu, i + 1, "TP-DCS"))
        i += 2
        vpf = (fo >> 3) & 0x3
        validity: Validity | None = None
        if vpf == 0b10:
            validity = decode_relative_validity(_byte(tpdu, i, "TP-VP"))
            i += 1
        elif vpf == 0b11:
            validity = decode_timestamp(tpdu, i, "TP-VP")
            i += 7
        elif vpf == 0b01:
            if i + 7 > len(tpdu):
                raise TruncatedPduError("TP-VP", i, 7, len(tpdu) - i)
            validity = EnhancedValidity(bytes(tpdu[i : i + 7]))
            i += 7
        ud, end = UserData.decode(tpdu, i, bool(fo & 0x40), user_data_alphabet(dcs))
        _note_trailing(tpdu, end)
        return cls(dest, ud, mr, pid, dcs, validity, bool(fo & 0x04), bool(fo & 0x20), bool(fo & 0x80), smsc)


@dataclass(frozen=True, slots=True)
class SmsDeliver(_UserDataMixin):
    """SMS-DELIVER: a message the mobile receives."""

    originator: Address
    user_data: UserData
    scts: datetime
    pid: int = 0
    dcs: DataCoding = field(default_factory=DataCoding)
    more_messages: bool = False
    status_report_indication: bool = False
    reply_path: bool = False
    smsc: Address | None = None

    def encode(self) -> bytes:
        _check_alphabet(self.dcs, self.user_data)
        udl, ud = self.user_data.encode()
        fo = 0x00 if self.more_messages else 0x04  # TP-MMS: 0 = more messages are waiting
        fo |= 0x20 if self.status_report_indication else 0
        fo |= 0x40 if self.user_data.header else 0
        fo |= 0x80 if self.reply_path else 0
        head = bytes([fo]) + encode_address(self.originator)
        body = bytes([self.pid & 0xFF, self.dcs.to_octet()]) + encode_timestamp(self.scts)
        return head + body + bytes([udl]) + ud

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None) -> SmsDeliver:
        fo = _byte(tpdu, 0, "TP-MTI")
        orig, i = decode_address(tpdu, 1, "TP-OA")
        pid = _byte(tpdu, i, "TP-PID")
        dcs = DataCoding.from_octet(_byte(tpdu, i + 1, "TP-DCS"))
        scts = decode_timestamp(tpdu, i + 2, "TP-SCTS")
        ud, end = UserData.decode(tpdu, i + 9, bool(fo & 0x40), user_data_alphabet(dcs))
        _note_trailing(tpdu, end)
        return cls(orig, ud, scts, pid, dcs, not fo & 0x04, bool(fo & 0x20), bool(fo & 0x80), smsc)


@dataclass(frozen=True, slots=True)
class SmsStatusReport:
    """SMS-STATUS-REPORT: the service centre's news of a message sent with TP-SRR."""

    message_reference: int
    recipient: Address
    scts: datetime
    discharge_time: datetime
    status: int
    more_messages: bool = False
    qualifier_command: bool = False  # TP-SRQ: report of an SMS-COMMAND (True) or an SMS-SUBMIT (False)
    pid: int | None = None
    dcs: DataCoding | None = None
    user_data: UserData | None = None
    smsc: Address | None = None

    @property
    def category(self) -> StatusCategory:
        return status_category(self.status)

    @property
    def meaning(self) -> str:
        return status_meaning(self.status)

    @property
    def delivered(self) -> bool:
        return self.category is StatusCategory.COMPLETED

    @property
    def text(self) -> str | None:
        return self.user_data.text if self.user_data else None

    def encode(self) -> bytes:
        if not 0 <= self.message_reference <= 255 or not 0 <= self.status <= 255:
            raise SmsCodecError("TP-MR and TP-ST must be 0..255")
        fo = 0x02 | (0x00 if self.more_messages else 0x04)
        fo |= 0x20 if self.qualifier_command else 0
        fo |= 0x40 if self.user_data is not None and self.user_data.header else 0
        out = bytes([fo, self.message_reference]) + encode_address(self.recipient)
        out += encode_timestamp(self.scts) + encode_timestamp(self.discharge_time) + bytes([self.status])
        pi = (1 if self.pid is not None else 0) | (2 if self.dcs is not None else 0)
        pi |= 4 if self.user_data is not None else 0
        if not pi:
            return out
        out += bytes([pi])
        if self.pid is not None:
            out += bytes([self.pid & 0xFF])
        if self.dcs is not None:
            out += bytes([self.dcs.to_octet()])
        if self.user_data is not None:
            if self.dcs is not None:
                _check_alphabet(self.dcs, self.user_data)
            elif self.user_data.alphabet is not Alphabet.GSM7:
                raise SmsCodecError("status-report user data other than GSM 7-bit needs a DCS")
            udl, ud = self.user_data.encode()
            out += bytes([udl]) + ud
        return out

    @classmethod
    def decode(cls, tpdu: bytes, smsc: Address | None = None) -> SmsStatusReport:
        fo = _byte(tpdu, 0, "TP-MTI")
        mr = _byte(tpdu, 1, "TP-MR")
        ra, i = decode_address(tpdu, 2, "TP-RA")
        scts = decode_timestamp(tpdu, i, "TP-SCTS")
        dt = decode_timestamp(tpdu, i + 7, "TP-DT")
        st = _byte(tpdu, i + 14, "TP-ST")
        i += 15
        pid: int | None = None
        dcs: DataCoding | None = None
        ud: UserData | None = None
        if i < len(tpdu):
            # TS 23.040 9.2.3.27: the first TP-PI octet says which parameters follow; the octets its
            # extension bit adds have no meaning yet and are skipped
            pi, i = read_parameter_indicator(tpdu, i)
            try:
                pid, dcs, ud, i = read_parameters(tpdu, i, pi, bool(fo & 0x40))
            except TruncatedPduError as exc:
                # what the report is for (reference, recipient, times, status) is whole: an SMSC's
                # padding read as a TP-PI (0xFF) does not lose it
                log.debug("status report: TP-PI %#04x announces parameters that are not there: %s", pi, exc)
            _note_trailing(tpdu, i)
        return cls(mr, ra, scts, dt, st, not fo & 0x04, bool(fo & 0x20), pid, dcs, ud, smsc)


SmsMessage = SmsSubmit | SmsDeliver | SmsStatusReport | SmsSubmitReport | SmsDeliverReport | SmsCommand


def _note_trailing(tpdu: bytes, end: int) -> None:
    if end < len(tpdu):
        log.debug("PDU has %d octet(s) after its user data, ignored: %s", len(tpdu) - end, tpdu[end:].hex())


def parse_hex(hex_str: str) -> bytes:
    """A PDU string -> octets (whitespace ignored)."""
    text = "".join(hex_str.split())
    if len(text) % 2:
        raise InvalidHexError(f"PDU string has an odd number of hex digits ({len(text)})")
    try:
        return bytes.fromhex(text)
    except ValueError:
        bad = next((c for c in text if c not in "0123456789abcdefABCDEF"), "?")
        raise InvalidHexError(f"PDU string holds {bad!r}, not a hex digit") from None


def decode_tpdu(tpdu: bytes, direction: Direction | str, smsc: Address | None = None) -> SmsMessage:
    """Decode a TPDU (no SMSC prefix)."""
    try:
        way = Direction(direction)
    except ValueError:
        raise SmsCodecError(f"direction must be 'mt' or 'mo', got {direction!r}") from None
    mti = _byte(tpdu, 0, "TP-MTI") & 0x03
    if way is Direction.MT:
        if mti in (0, 3):  # TS 23.040: a reserved MTI received is processed as an SMS-DELIVER
            return SmsDeliver.decode(tpdu, smsc)
        if mti == 2:
            return SmsStatusReport.decode(tpdu, smsc)
        return SmsSubmitReport.decode(tpdu, smsc)
    if mti == 1:
        return SmsSubmit.decode(tpdu, smsc)
    if mti == 0:
        return SmsDeliverReport.decode(tpdu, smsc)
    if mti == 2:
        return SmsCommand.decode(tpdu, smsc)
    raise MalformedPduError("TP-MTI 11 is reserved (mobile to service centre)")


def decode_pdu(
    hex_str: str | bytes,
    direction: Direction | str,
    *,
    with_smsc: bool = True,
    tpdu_length: int | None = None,
    prefix_required: bool = False,
) -> SmsMessage:
    """Decode a 27.005 PDU string: SMSC prefix (unless `with_smsc=False`) then TPDU.

    `tpdu_length` is the `<length>` of AT+CMGS / +CMGR / +CMT (TPDU octets, SMSC
    excluded); when given it must match.  A string exactly `tpdu_length` octets long has no
    SMSC prefix (some modules print +CMGR, +CMT and +CDS without it): it is read as the TPDU,
    unless `prefix_required` (what a DTE writes after AT+CMGS / AT+CMGW, where 27.005 3.5.1 makes
    the prefix part of the PDU: a modem reads its first octet as the SMSC length whatever follows).
    """
    pdu = parse_hex(hex_str) if isinstance(hex_str, str) else bytes(hex_str)
    smsc: Address | None = None
    offset = 0
    if with_smsc:
        if tpdu_length is not None and tpdu_length == len(pdu) and not prefix_required:
            try:
                msg = decode_tpdu(pdu, direction)
            except SmsCodecError as exc:
                after = len(pdu) - 1 - pdu[0] if pdu else 0
                raise PduLengthMismatchError(
                    f"length given is {tpdu_length} but the TPDU has {max(after, 0)} octets after the "
                    f"SMSC prefix (and the whole string read without one does not decode: {exc})"
                ) from None
            log.debug("PDU of %d octets, the <length> given: read without an SMSC prefix", len(pdu))
            return msg
        smsc, offset = decode_smsc(pdu)
    tpdu = pdu[offset:]
    if tpdu_length is not None and tpdu_length != len(tpdu):
        raise PduLengthMismatchError(f"length given is {tpdu_length} but the TPDU has {len(tpdu)} octets")
    return decode_tpdu(tpdu, direction, smsc)
