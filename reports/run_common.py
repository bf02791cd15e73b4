"""What the run report's sections share: the period, time parsing, units and limits."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from accounting.invoice import document_time

CENT = Decimal("0.01")
HOURLY_UP_TO_DAYS = 7  # hourly curves for runs up to a week; daily curves from two days on
TOP_LINES = 10
MO = 1_048_576
# A usage record's device group in the page's SQL (`u` the usage, `l` the lines): its line's; a record
# of no line is the fleet's services' (an SMS Internet message, a localisation hit: billed to the
# fleet), one of a line the inventory does not hold is not in the inventory (rejected). The fleet's
# SMS Internet messages were listed as records of lines not in the inventory, beside their bill.
FLEET_GROUP = "(fleet services, no line)"
UNKNOWN_LINE_GROUP = "(not in the inventory)"
# (a folder of usage records alone: no inventory to hold a line or not; its records' lines were
# said "not in the inventory", a group of 0 devices)
NO_INVENTORY_GROUP = "(no inventory here)"
RECORD_GROUP_SQL = (
    "coalesce(l.device_group, CASE WHEN coalesce(u.line, '') = '' "
    f"THEN '{FLEET_GROUP}' ELSE '{UNKNOWN_LINE_GROUP}' END)"
)


@dataclass
class Period:
    start: datetime
    end: datetime
    # (the records' first and last times, a second past the last: a folder of usage records alone,
    # which cannot tell the period they cover, a run's of part of the month or not)
    from_records: bool = False

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def month_days(self) -> int:
        return calendar.monthrange(self.start.year, self.start.month)[1]


# A time of a document, in UTC (one written with another offset, `08:00+02:00`, was shown as 08:00
# under labels saying UTC): the invoice's reading of a run's period, so both read a time alike.
parse_time = document_time


def mo(v: float) -> str:
    return f"{v / MO:,.1f} Mo"


def amount(currency: str) -> Callable[[float], str]:
    """A chart's amount, to the cent, in the invoice's currency (charts said € and "EUR HT" whatever
    the catalog's currency, beside the tables' CHF)."""
    return lambda v: f"{v:,.2f} {currency}"
