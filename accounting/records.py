"""The usage record: the one schema the gateway writes and accounting reads.

A usage record is one row of `accounting-io` USAGE: one gateway record of a data
session (one 12-hour period or the session's end), one SMS, one call, one SMS
Internet message or one localisation hit.  The rating columns come first; the
3GPP columns after them are kept by the gateway (like a partial G-CDR) and are
ignored by the rating.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


class UsageType(StrEnum):
    DATA = "data"
    SMS = "sms"
    VOICE = "voice"
    CSD = "csd"
    SMS_INTERNET = "sms_internet"
    LOCATION_HIT = "location_hit"


class Zone(StrEnum):
    FR = "fr"
    EU = "eu"
    WORLD = "world"


class Dest(StrEnum):
    FR_MOBILE = "fr-mobile"
    FR_FIXED = "fr-fixed"
    FR_PREMIUM = "fr-premium"
    INTL = "intl"
    ORANGE_FR = "orange-fr"
    OTHER = "other"
    EMERGENCY = "emergency"  # the emergency services (112, 911, the country's own: the numbering plan's)


class ClosingCause(IntEnum):
    """Cause for record closing, 3GPP TS 32.298."""

    NORMAL = 0
    ABNORMAL = 4
    VOLUME_LIMIT = 16
    TIME_LIMIT = 17
    SERVING_NODE_CHANGE = 18
    MANAGEMENT_INTERVENTION = 20
    RAT_CHANGE = 22
    MS_TIME_ZONE_CHANGE = 23
    PLMN_CHANGE = 24
    # m2msim's own, outside TS 32.298's values: the session was still open when its gateway (a
    # `modem serve`) was killed; the record runs to the session's last interim point before the kill
    # (accounting.interim)
    KILLED = 99
    # m2msim's own too: a partial record whose session went on (the next partial record follows it)
    # while its source does not say why, at no mark of the partial-record interval (an operator's
    # export that split a session at a volume limit or a serving node change, with no cause column):
    # not the time limit (17), which it was taken for (gateway.sessions_csv)
    PARTIAL_UNSTATED = 98


# The rating columns, in the order of accounting-io.md.
RATING_COLUMNS: tuple[str, ...] = (
    "line",
    "type",
    "start",
    "duration_s",
    "bytes_up",
    "bytes_down",
    "zone",
    "dest",
    "delivered",
    "session",
)

# The charging id of a simulated session is what a GGSN puts in its 32-bit ChargingID (TS 32.298
# 5.1.2.2.11, TS 29.060 7.7.26: unique per GGSN), so the records and the capture carry the same value
# whatever the fleet's size. Bit 31 (RETRY_BIT) marks a reconnection attempt after an outage; the 31
# bits below it are the device's block: the device's index + 1 in the top bits, as few as the fleet
# needs, its session counter in the rest (`charging_block_bits`). A device's counter wraps within its
# block, as a real GGSN's counter wraps: ids of live contexts stay distinct (a block holds 131,072
# sessions of each of 10,000 devices, 2,048 of each of 1,000,000). Rating ignores the id; the simulator
# writes it, the run's report and SQL read it.
CHARGING_ID_BITS = 31
RETRY_BIT = 1 << CHARGING_ID_BITS


def charging_block_bits(n_devices: int) -> int:
    """Bits of a device's session counter in a fleet of `n_devices` (the device number takes the rest)."""
    return max(CHARGING_ID_BITS - max(n_devices, 1).bit_length(), 1)


def is_retry_charging(charging_id: int | None) -> bool:
    """Whether a simulated session's charging id is that of a reconnection attempt (`RETRY_BIT`)."""
    return charging_id is not None and charging_id >= RETRY_BIT


def is_failed_session(cause: int | None, charging_id: int | None) -> bool:
    """Whether a data record ends a failed session: a context lost (cause 4, abnormalRelease), or a
    reconnection attempt its device released itself once its connection had failed (`RETRY_BIT`,
    cause 0: the network saw a normal PDP context release, TS 32.298 5.1.2.2.15; one still open at the
    period's end, cause 20, has not failed by then)."""
    return cause == ClosingCause.ABNORMAL or (cause == ClosingCause.NORMAL and is_retry_charging(charging_id))


# Columns a gateway record keeps beyond rating (partial G-CDR fields).
GATEWAY_COLUMNS: tuple[str, ...] = (
    "imsi",
    "imeisv",
    "apn",
    "charging_id",
    "serving_plmn",
    "cause",
    "sequence",
)

USAGE_SCHEMA: pa.Schema  # the Arrow schema of a usage file; made on first use (see `__getattr__`)


def __getattr__(name: str) -> Any:
    """`USAGE_SCHEMA`, made (and pyarrow imported) when a module first asks for it: reading the
    records' enums and `UsageRecord` does not import pyarrow (`m2msim rate` starts faster)."""
    if name != "USAGE_SCHEMA":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import pyarrow as pa

    schema = pa.schema(
        [
            pa.field("line", pa.string()),
            pa.field("type", pa.string()),
            pa.field("start", pa.timestamp("s", tz="UTC")),
            pa.field("duration_s", pa.int64()),
            pa.field("bytes_up", pa.int64()),
            pa.field("bytes_down", pa.int64()),
            pa.field("zone", pa.string()),
            pa.field("dest", pa.string()),
            pa.field("delivered", pa.bool_()),
            pa.field("session", pa.string()),
            pa.field("imsi", pa.string()),
            pa.field("imeisv", pa.string()),
            pa.field("apn", pa.string()),
            pa.field("charging_id", pa.int64()),
            pa.field("serving_plmn", pa.string()),
            pa.field("cause", pa.int32()),
            pa.field("sequence", pa.int32()),
        ]
    )
    globals()["USAGE_SCHEMA"] = schema
    return schema


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One usage record; `None` means the column is empty in the file."""

    line: str
    type: UsageType
    start: datetime
    duration_s: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    zone: Zone = Zone.FR
    dest: Dest | None = None
    delivered: bool | None = None  # SMS Internet only: was the message delivered (None: not said)
    session: str | None = None
    imsi: str | None = None
    imeisv: str | None = None
    apn: str | None = None
    charging_id: int | None = None
    serving_plmn: str | None = None
    cause: int | None = None
    sequence: int | None = None

    def as_row(self) -> dict[str, object]:
        """The record as a mapping of column name to value (enums as their strings)."""
        row: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            row[f.name] = value.value if isinstance(value, StrEnum) else value
        return row
