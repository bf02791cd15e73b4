"""The run report's figures over time: per hour and device group, the month's records folded into eight sums.

One rule for both ways of getting them: `m2msim report` folds DuckDB's aggregate of the usage
records (`reports.run_report`), and `m2msim run` hands over the same sums that its shards
counted while they wrote the records (`simulator.engine`), so the report need not read every
record again.  Either way the figures are whole numbers added up exactly, and become floats
only when drawn.

Imports nothing but the standard library: the simulator's workers use it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

# The sums of a cell, in this order (`HourlyUsage.rows`).
FIELDS = ("volume", "ko", "sessions", "failed", "sms", "calls", "call_seconds", "roaming_volume")


class HourlyUsage:
    """Per hour since the Unix epoch and device group, the sums of `FIELDS`.

    - data records: volume (up + down), billable ko (each record rounded up to a ko), sessions
      (records that open a session: sequence 1 or none), failed sessions (`accounting.records.is_failed_session`: closing
      cause 4, or a reconnection attempt released by its device), and
      the volume carried outside France, the roaming share (a serving network outside zone `fr`,
      whatever the zone the record is rated in: a session opened at home and going on abroad
      is rated in `fr`; a record that names no network: its zone other than `fr`);
    - `sms` and `sms_internet` records (an SMS the fleet's SMS Internet service sent, listed beside
      the others on the page): their count; `voice` and `csd` records: their count and seconds;
    - any other type only makes its hour and group appear (with nothing added).

    The group is a device group's name in the report; a shard counts under its group index
    and the run renames them (`relabel`).
    """

    def __init__(self) -> None:
        self.cells: dict[tuple[int, Hashable], list[int]] = {}

    def add(
        self,
        hour: int,
        group: Hashable,
        kind: str,
        *,
        records: int = 0,
        volume: int = 0,
        ko: int = 0,
        first: int = 0,
        failed: int = 0,
        seconds: int = 0,
        roaming: int = 0,
    ) -> None:
        """Records of one type in one hour and group, already summed: `records` of them, `first` of
        which open their session, `failed` end a failed session, `roaming` bytes outside France."""
        acc = self.cells.get((hour, group))
        if acc is None:
            acc = self.cells[(hour, group)] = [0] * len(FIELDS)
        if kind == "data":
            acc[0] += volume
            acc[1] += ko
            acc[2] += first
            acc[3] += failed
            acc[7] += roaming
        elif kind in ("sms", "sms_internet"):
            acc[4] += records
        elif kind in ("voice", "csd"):
            acc[5] += records
            acc[6] += seconds

    def merge(self, other: HourlyUsage) -> None:
        for key, values in other.cells.items():
            self._add_cell(key, values)

    def _add_cell(self, key: tuple[int, Hashable], values: list[int]) -> None:
        acc = self.cells.get(key)
        if acc is None:
            self.cells[key] = list(values)
        else:
            for i, v in enumerate(values):
                acc[i] += v

    def relabel(self, names: Mapping[Any, str]) -> HourlyUsage:
        """The same sums under the groups' names (groups of the same name added together)."""
        out = HourlyUsage()
        for (hour, group), values in self.cells.items():
            out._add_cell((hour, names[group]), values)
        return out

    def rows(self) -> list[tuple[Any, ...]]:
        """(hour as a UTC datetime, group, *FIELDS as floats), in hour then group order."""
        return [
            (datetime.fromtimestamp(hour * 3600, UTC), group, *(float(v) for v in values))
            for (hour, group), values in sorted(self.cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HourlyUsage) and self.cells == other.cells

    __hash__ = None  # type: ignore[assignment]
