"""SMS PDU codec (3GPP TS 23.040 / TS 23.038): alphabets, addresses, TPDUs, concatenation, text mode.

Sending::

    for pdu in encode_submit("Hello €", "+33612345678", validity=timedelta(days=1)):
        # AT+CMGS=<pdu.tpdu_length>, then pdu.hex and Ctrl-Z
        ...

Receiving::

    msg = decode_pdu(hex_from_cmgr, Direction.MT)   # SmsDeliver | SmsStatusReport
    whole = reassembler.add(msg, now=loop.time())   # None until every part arrived
"""

from .address import Address, NumberingPlan, TypeOfNumber
from .codec import (
    DeliverPdu,
    EncodedPdu,
    StatusReportPdu,
    SubmitPdu,
    build_user_data,
    encode_deliver,
    encode_message,
    encode_status_report,
    encode_submit,
)
from .dcs import Alphabet, DataCoding, MessageWaiting, MessageWaitingType
from .errors import (
    InvalidAddressError,
    InvalidHexError,
    InvalidTimestampError,
    InvalidUserDataHeaderError,
    InvalidValidityPeriodError,
    MalformedPduError,
    MessageTooLongError,
    PduLengthMismatchError,
    SmsCodecError,
    TextModeParseError,
    TruncatedPduError,
    UnencodableTextError,
    UnsupportedPduError,
)
from .gsm7 import can_encode_gsm7, decode_gsm7, encode_gsm7, gsm7_length, pack_septets, unpack_septets
from .national import Language
from .pdu import Direction, SmsDeliver, SmsMessage, SmsStatusReport, SmsSubmit, decode_pdu, decode_tpdu
from .reassembly import ExpiredMessage, ReassembledMessage, Reassembler
from .reports import CommandType, SmsCommand, SmsDeliverReport, SmsSubmitReport, failure_cause_meaning
from .segment import LengthInfo, choose_alphabet, count_parts, length_info, split_text
from .status import StatusCategory, status_category, status_meaning
from .textmode import MessageStatus
from .timestamp import (
    EnhancedValidity,
    decode_relative_validity,
    encode_relative_validity,
)
from .udh import ConcatInfo, InformationElement, PortInfo, SpecialIndication
from .userdata import UserData

__all__ = [
    "Address",
    "Alphabet",
    "CommandType",
    "ConcatInfo",
    "DataCoding",
    "DeliverPdu",
    "Direction",
    "EncodedPdu",
    "EnhancedValidity",
    "ExpiredMessage",
    "InformationElement",
    "InvalidAddressError",
    "InvalidHexError",
    "InvalidTimestampError",
    "InvalidUserDataHeaderError",
    "InvalidValidityPeriodError",
    "Language",
    "LengthInfo",
    "MalformedPduError",
    "MessageStatus",
    "MessageTooLongError",
    "MessageWaiting",
    "MessageWaitingType",
    "NumberingPlan",
    "PduLengthMismatchError",
    "PortInfo",
    "ReassembledMessage",
    "Reassembler",
    "SmsCodecError",
    "SmsCommand",
    "SmsDeliver",
    "SmsDeliverReport",
    "SmsMessage",
    "SmsStatusReport",
    "SmsSubmit",
    "SmsSubmitReport",
    "SpecialIndication",
    "StatusCategory",
    "StatusReportPdu",
    "SubmitPdu",
    "TextModeParseError",
    "TruncatedPduError",
    "TypeOfNumber",
    "UnencodableTextError",
    "UnsupportedPduError",
    "UserData",
    "build_user_data",
    "can_encode_gsm7",
    "choose_alphabet",
    "count_parts",
    "decode_gsm7",
    "decode_pdu",
    "decode_relative_validity",
    "decode_tpdu",
    "encode_deliver",
    "encode_gsm7",
    "encode_message",
    "encode_relative_validity",
    "encode_status_report",
    "encode_submit",
    "failure_cause_meaning",
    "gsm7_length",
    "length_info",
    "pack_septets",
    "split_text",
    "status_category",
    "status_meaning",
    "unpack_septets",
]
