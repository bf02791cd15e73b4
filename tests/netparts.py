"""Pieces the network tests share: the month they start in, a device's IMEISV, a sink keeping records."""

from __future__ import annotations

from datetime import UTC, datetime

from accounting.records import UsageRecord, UsageType

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
IMEISV = "3569380356438091"


class RecordSink:
    """A `Network`'s record sink that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)

    def data(self) -> list[UsageRecord]:
        return [r for r in self.records if r.type == UsageType.DATA]
