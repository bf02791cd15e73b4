"""High-level encoding: text or data in, the PDU strings to send (split when needed) out.

`encode_submit` gives what an AT client writes after `AT+CMGS=<tpdu_length>`;
`encode_deliver` and `encode_status_report` give what a modem (or the virtual
one) shows in +CMGR / +CMGL / +CMT / +CDS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from .address import Address, as_address, encode_smsc
from .dcs import Alphabet, DataCoding
from .errors import SmsCodecError
from .gsm7 import can_encode_gsm7
from .pdu import SmsDeliver, SmsStatusReport, SmsSubmit
from .segment import plan_text, split_payload
from .timestamp import Validity
from .udh import ConcatInfo, InformationElement, PortInfo
from .userdata import UserData

M = TypeVar("M", SmsSubmit, SmsDeliver, SmsStatusReport)


@dataclass(frozen=True, slots=True)
class EncodedPdu(Generic[M]):
    """One PDU ready for the wire: SMSC prefix + TPDU, and the message it encodes."""

    smsc_octets: bytes
    tpdu: bytes
    message: M

    @property
    def hex(self) -> str:
        """The PDU string (upper-case hex, SMSC prefix included)."""
        return (self.smsc_octets + self.tpdu).hex().upper()

    @property
    def tpdu_length(self) -> int:
        """The `<length>` of AT+CMGS: TPDU octets, the SMSC part excluded."""
        return len(self.tpdu)

    @property
    def part(self) -> int:
        c = getattr(self.message, "concat", None)
        return c.sequence if c else 1

    @property
    def parts(self) -> int:
        c = getattr(self.message, "concat", None)
        return c.total if c else 1


SubmitPdu = EncodedPdu[SmsSubmit]
DeliverPdu = EncodedPdu[SmsDeliver]
StatusReportPdu = EncodedPdu[SmsStatusReport]


def _alphabet(value: Alphabet | str | None) -> Alphabet | None:
    if value is None or isinstance(value, Alphabet):
        return value
    try:
        return Alphabet(value.lower())
    except ValueError:
        raise SmsCodecError(f"alphabet must be gsm7, ucs2 or 8bit, got {value!r}") from None


def build_user_data(
    content: str | bytes,
    alphabet: Alphabet | str | None = None,
    *,
    concat_reference: int = 0,
    concat_16bit: bool = False,
    ports: PortInfo | None = None,
    language: int = 0,
) -> list[UserData]:
    """The user data of each part: alphabet chosen (GSM 7-bit when it fits, national tables when
    `language` has them, else UCS2), split, headed."""
    extra: tuple[InformationElement, ...] = (ports.to_ie(),) if ports else ()
    extra_octets = sum(2 + len(ie.data) for ie in extra)
    alpha = _alphabet(alphabet)
    if isinstance(content, bytes | bytearray):
        if alpha not in (None, Alphabet.DATA8):
            raise SmsCodecError("bytes content is sent as 8-bit data; pass text for GSM 7-bit or UCS2")
        used = Alphabet.DATA8
        chunks = split_payload(bytes(content), used, extra_ie_octets=extra_octets, concat_16bit=concat_16bit)
    else:
        plan = plan_text(
            content, alpha, language=int(language), extra_ie_octets=extra_octets, concat_16bit=concat_16bit
        )
        extra = extra + plan.shift_ies
        chunks = plan.chunks
        used = plan.alphabet
    payloads = [(used, c) for c in chunks]
    total = len(payloads)
    out: list[UserData] = []
    for seq, (used_alpha, payload) in enumerate(payloads, start=1):
        header = extra
        if total > 1:
            bits = 16 if concat_16bit else 8
            concat = ConcatInfo(concat_reference & ((1 << bits) - 1), total, seq, bits)
            header = (concat.to_ie(), *extra)
        out.append(UserData(used_alpha, payload, header))
    return out


def _relayed_part(
    content: str | bytes, alphabet: Alphabet | None, header: tuple[InformationElement, ...]
) -> UserData:
    """One part's user data with the given header: GSM 7-bit (default table) when the text has it, else UCS2."""
    if isinstance(content, bytes | bytearray):
        return UserData(Alphabet.DATA8, bytes(content), header)
    if alphabet is None:
        alphabet = Alphabet.GSM7 if can_encode_gsm7(content) else Alphabet.UCS2
    ud = UserData.from_text(content, alphabet, header)
    ud.encode()  # raises MessageTooLongError when the part does not fit one message
    return ud


def encode_submit(
    content: str | bytes,
    destination: str | Address,
    *,
    smsc: str | Address | None = None,
    alphabet: Alphabet | str | None = None,
    message_class: int | None = None,
    validity: Validity | None = None,
    status_report: bool = False,
    reject_duplicates: bool = False,
    reply_path: bool = False,
    message_reference: int = 0,
    concat_reference: int | None = None,
    concat_16bit: bool = False,
    ports: PortInfo | None = None,
    pid: int = 0,
    language: int = 0,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDU strings for a text (or 8-bit data), one per part.

    Parts get TP-MR `message_reference`, +1, +2 ... (mod 256); the concatenation
    reference defaults to `message_reference` (no hidden randomness: replayable).
    `smsc=None` writes `00`: the modem uses its stored SMSC (AT+CSCA).
    """
    dest = as_address(destination)
    smsc_octets = encode_smsc(smsc)
    smsc_addr = as_address(smsc) if smsc else None
    ref = message_reference if concat_reference is None else concat_reference
    uds = build_user_data(
        content, alphabet, concat_reference=ref, concat_16bit=concat_16bit, ports=ports, language=language
    )
    out: list[SubmitPdu] = []
    for i, ud in enumerate(uds):
        msg = SmsSubmit(
            destination=dest,
            user_data=ud,
            message_reference=(message_reference + i) % 256,
            pid=pid,
            dcs=DataCoding(alphabet=ud.alphabet, message_class=message_class),
            validity=validity,
            reject_duplicates=reject_duplicates,
            status_report_request=status_report,
            reply_path=reply_path,
            smsc=smsc_addr,
        )
        out.append(EncodedPdu(smsc_octets, msg.encode(), msg))
    return out


def encode_deliver(
    content: str | bytes,
    originator: str | Address,
    scts: datetime,
    *,
    smsc: str | Address | None = None,
    alphabet: Alphabet | str | None = None,
    message_class: int | None = None,
    more_messages: bool = False,
    status_report_indication: bool = False,
    reply_path: bool = False,
    concat_reference: int = 0,
    concat_16bit: bool = False,
    ports: PortInfo | None = None,
    pid: int = 0,
    language: int = 0,
    header: tuple[InformationElement, ...] = (),
) -> list[DeliverPdu]:
    """SMS-DELIVER PDU strings for a received text (or 8-bit data), one per part.

    `header`: the content is one part already (a part of a long message relayed by the SMSC),
    delivered with these information elements as they came; it is not split.
    """
    orig = as_address(originator)
    smsc_octets = encode_smsc(smsc)
    smsc_addr = as_address(smsc) if smsc else None
    if header:
        uds = [_relayed_part(content, _alphabet(alphabet), header)]
    else:
        uds = build_user_data(
            content,
            alphabet,
            concat_reference=concat_reference,
            concat_16bit=concat_16bit,
            ports=ports,
            language=language,
        )
    out: list[DeliverPdu] = []
    for ud in uds:
        msg = SmsDeliver(
            originator=orig,
            user_data=ud,
            scts=scts,
            pid=pid,
            dcs=DataCoding(alphabet=ud.alphabet, message_class=message_class),
            more_messages=more_messages,
            status_report_indication=status_report_indication,
            reply_path=reply_path,
            smsc=smsc_addr,
        )
        out.append(EncodedPdu(smsc_octets, msg.encode(), msg))
    return out


def encode_status_report(
    message_reference: int,
    recipient: str | Address,
    scts: datetime,
    discharge_time: datetime,
    status: int,
    *,
    smsc: str | Address | None = None,
    more_messages: bool = False,
) -> StatusReportPdu:
    """An SMS-STATUS-REPORT PDU string (as in +CDS / +CMGR)."""
    msg = SmsStatusReport(
        message_reference,
        as_address(recipient),
        scts,
        discharge_time,
        status,
        more_messages=more_messages,
        smsc=as_address(smsc) if smsc else None,
    )
    return EncodedPdu(encode_smsc(smsc), msg.encode(), msg)


def encode_message(message: M, smsc: str | Address | None = None) -> EncodedPdu[M]:
    """Encode any message object (e.g. a decoded one, changed with `dataclasses.replace`)."""
    addr = as_address(smsc) if smsc else message.smsc
    return EncodedPdu(encode_smsc(addr), message.encode(), replace(message, smsc=addr))
