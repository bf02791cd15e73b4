"""TP-Status of an SMS-STATUS-REPORT (TS 23.040 9.2.3.15): values, meanings and categories."""

from __future__ import annotations

import enum


class StatusCategory(enum.Enum):
    """What the status means for the message."""

    COMPLETED = "completed"  # delivered, or otherwise finished successfully
    TEMPORARY_RETRYING = "temporary-retrying"  # temporary error, the SC is still trying
    PERMANENT = "permanent"  # permanent error, the SC gave up
    TEMPORARY_GAVE_UP = "temporary-gave-up"  # temporary error, the SC is not trying any more
    RESERVED = "reserved"


_MEANINGS: dict[int, str] = {
    0x00: "short message received by the SME",
    0x01: "short message forwarded by the SC to the SME but the SC is unable to confirm delivery",
    0x02: "short message replaced by the SC",
    0x20: "congestion",
    0x21: "SME busy",
    0x22: "no response from SME",
    0x23: "service rejected",
    0x24: "quality of service not available",
    0x25: "error in SME",
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by SME",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "SM validity period expired",
    0x47: "SM deleted by originating SME",
    0x48: "SM deleted by SC administration",
    0x49: "SM does not exist",
    0x60: "congestion",
    0x61: "SME busy",
    0x62: "no response from SME",
    0x63: "service rejected",
    0x64: "quality of service not available",
    0x65: "error in SME",
}


def status_category(status: int) -> StatusCategory:
    if status < 0x20:
        return StatusCategory.COMPLETED
    if status < 0x40:
        return StatusCategory.TEMPORARY_RETRYING
    if status < 0x60:
        return StatusCategory.PERMANENT
    if status < 0x80:
        return StatusCategory.TEMPORARY_GAVE_UP
    return StatusCategory.RESERVED


def status_meaning(status: int) -> str:
    """Human meaning of a TP-ST value, with SC-specific and reserved ranges named."""
    if status in _MEANINGS:
        return _MEANINGS[status]
    low = status & 0x1F
    category = status_category(status)
    if category is StatusCategory.RESERVED:
        return f"reserved status {status:#04x}"
    if low >= 0x10:
        return f"SC-specific status {status:#04x} ({category.value})"
    return f"reserved status {status:#04x} ({category.value})"
