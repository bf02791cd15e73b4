"""Typed errors of the SMS codec: one base class, one subclass per kind of fault.

Every message names what was wrong and, for decoding, where in the PDU (octet
offset of the TPDU or of the field), so a bad capture can be diagnosed from the
error alone.  Nothing in the codec raises anything else on bad input.
"""

from __future__ import annotations


class SmsCodecError(ValueError):
    """Base class: the input cannot be encoded or decoded as an SMS."""


class InvalidHexError(SmsCodecError):
    """The PDU string is not an even-length hexadecimal string."""


class TruncatedPduError(SmsCodecError):
    """The PDU ends before a field it announces."""

    def __init__(self, field: str, offset: int, needed: int, available: int) -> None:
        self.field = field
        self.offset = offset
        self.needed = needed
        self.available = available
        super().__init__(
            f"truncated PDU: field {field} at octet {offset} needs {needed} octet(s), {available} left"
        )


class MalformedPduError(SmsCodecError):
    """A field holds a value the PDU layout does not allow."""


class PduLengthMismatchError(SmsCodecError):
    """The length given with the PDU (AT+CMGS / +CMGR) does not match the TPDU."""


class UnsupportedPduError(SmsCodecError):
    """A well-formed PDU of a type or option this codec does not handle."""


class InvalidAddressError(SmsCodecError):
    """An address (TP-OA, TP-DA, TP-RA, SMSC) cannot be encoded or decoded."""


class InvalidTimestampError(SmsCodecError):
    """A service-centre timestamp or absolute validity is not a valid date and time."""


class InvalidValidityPeriodError(SmsCodecError):
    """A validity period outside what TP-VP can express."""


class UnencodableTextError(SmsCodecError):
    """Text holds a character the requested alphabet cannot represent."""


class MessageTooLongError(SmsCodecError):
    """The message needs more than 255 parts, or more than one part where only one is allowed."""


class InvalidUserDataHeaderError(SmsCodecError):
    """The user-data header is inconsistent (lengths that overrun it)."""


class TextModeParseError(SmsCodecError):
    """A text-mode response line (+CMGR, +CMGL, +CMT, +CDS) does not parse."""
