"""Usage records in bulk: read CSV or Parquet with DuckDB, validate every row, aggregate integers.

The rows never come into Python.  One streaming pass (`aggregate`) checks each row (type, start
in the billing month, numbers, zone, destination) and sums, per line, type, zone and destination:
the record count, the ko (each record's up+down octets rounded up to a whole ko on its own), the
calls that lasted more than 0 s and the seconds beyond each indivisible first period (durations
rounded up to the second).  Money is computed later, exactly, on these integers.

Rows that cannot be used are counted in the same pass; when there are any, a second pass
(`list_rejects`) returns their row numbers (the header is row 1) and reasons.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa

from accounting.errors import UsageError
from accounting.records import Dest, UsageType, Zone

log = logging.getLogger(__name__)

UsageSource: TypeAlias = str | Path | pa.Table | None
LINE_TYPES = ("data", "sms", "voice", "csd")
REQUIRED = ("line", "type", "start")
OPTIONAL = ("duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered")

# Row-level reasons found in SQL: code -> (category, message prefix).
ROW_REASONS: dict[str, tuple[str, str]] = {
    "bad-type": ("malformed value", "malformed value: type"),
    "bad-start": ("malformed value", "malformed value: start"),
    "outside-month": ("outside the billing month", "outside the billing month: start"),
    "bad-duration": ("malformed value", "malformed value: duration_s"),
    "bad-bytes": ("malformed value", "malformed value: bytes_up/bytes_down"),
    "bad-zone": ("malformed value", "malformed value: zone"),
    "bad-dest": ("malformed value", "malformed value: dest"),
    "bad-delivered": ("malformed value", "malformed value: delivered"),
    "no-line": ("malformed value", "malformed value: line is empty"),
}


@dataclass(frozen=True)
class Group:
    """One aggregate: rows sharing line, type, zone, destination (and row-level reject code)."""

    line: str | None
    type: str | None
    zone: str | None
    dest: str | None
    delivered: bool | None
    code: str | None
    rows: int
    ko: int
    calls: int
    beyond: dict[int, int] = field(default_factory=dict)  # first period (s) -> seconds beyond it

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return group_key(self.line, self.type, self.zone, self.dest, self.delivered)


def group_key(
    line: str | None, type_: str | None, zone: str | None, dest: str | None, delivered: bool | None
) -> tuple[str, str, str, str, str]:
    return (
        line or "",
        type_ or "",
        zone or "",
        dest or "",
        "" if delivered is None else str(delivered).lower(),
    )


@dataclass(frozen=True)
class RejectedKey:
    """A group the engine refuses (unknown line, service not in the offer, ...), with its reason."""

    key: tuple[str, str, str, str, str]
    reason: str


# Larger values are refused as malformed (they would overflow the integer sums).
MAX_SECONDS = 10**12
MAX_OCTETS = 10**15


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set for bounded memory and the machine's cores."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    con.execute(
        f"SET memory_limit = '{_sql_safe(memory_limit or os.environ.get('M2MSIM_DUCKDB_MEMORY', '1GB'))}'"
    )
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _sql_safe(text: str) -> str:
    return text.replace("'", "''")


def _lit(values: Sequence[str]) -> str:
    return ", ".join(f"'{_sql_safe(v)}'" for v in values)


class UsageReader:
    """One usage input (a CSV or Parquet file, or an Arrow table) bound to a DuckDB connection."""

    def __init__(self, source: UsageSource, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or connect()
        self.name = "<table>"
        self.kind = "table"
        self.numbered = ""
        if isinstance(source, pa.Table):
            self.con.register("usage_input", source)
            self.relation = "usage_input"
        elif source is None:
            empty = pa.table({c: pa.array([], pa.string()) for c in REQUIRED})
            self.con.register("usage_input", empty)
            self.relation = "usage_input"
            self.name = "<no usage>"
        else:
            path = Path(source)
            self.name = str(path)
            if not path.is_file():
                raise UsageError(self.name, "no such file" if not path.exists() else "not a file")
            q = _sql_safe(str(path))
            if path.name.lower().endswith((".csv", ".csv.gz", ".txt")):
                self.kind = "csv"
                self.relation = (
                    f"read_csv('{q}', header = true, all_varchar = true, delim = ',', quote = '\"')"
                )
            else:
                self.kind = "parquet"
                self.relation = f"read_parquet('{q}')"
                self.numbered = f"read_parquet('{q}', file_row_number = true)"
        self.columns = self._columns()

    def _columns(self) -> set[str]:
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error as exc:
            raise UsageError(self.name, f"cannot read: {_first_line(exc)}") from None
        cols = {str(row[0]) for row in described}
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise UsageError(self.name, f"missing required column(s): {', '.join(missing)}")
        return cols

    def _col(self, name: str) -> str:
        return f'"{name}"' if name in self.columns else "NULL"

    def _normalised(self, month_start: datetime, month_end: datetime, with_rows: bool) -> str:
        c = self._col
        types = _lit([t.value for t in UsageType])
        zones = _lit([z.value for z in Zone])
        dests = _lit([d.value for d in Dest])
        line_types = _lit(LINE_TYPES)
        if with_rows:
            rn = "file_row_number + 2" if self.kind == "parquet" else "row_number() OVER () + 1"
            rn_col = f"{rn} AS rn, CAST({c('start')} AS VARCHAR) AS start_raw, {c('duration_s')} AS dur_raw, {c('delivered')} AS deliv_raw, "
            rn_col += (
                f"CAST({c('bytes_up')} AS VARCHAR) AS bu_raw, CAST({c('bytes_down')} AS VARCHAR) AS bd_raw, "
            )
        else:
            rn_col = ""
        start_txt = "'" + month_start.strftime("%Y-%m-%d %H:%M:%S+00") + "'"
        end_txt = "'" + month_end.strftime("%Y-%m-%d %H:%M:%S+00") + "'"
        inner = f"""
            SELECT {rn_col}
                NULLIF(CAST({c("line")} AS VARCHAR), '') AS line_v,
                CAST({c("type")} AS VARCHAR) AS type_v,
                TRY_CAST({c("start")} AS TIMESTAMPTZ) AS ts,
                {c("duration_s")} IS NOT NULL AS has_dur,
                TRY_CAST({c("duration_s")} AS DOUBLE) AS dur,
                TRY_CAST({c("bytes_up")} AS BIGINT) AS bu,
                TRY_CAST({c("bytes_down")} AS BIGINT) AS bd,
                COALESCE(NULLIF(CAST({c("zone")} AS VARCHAR), ''), 'fr') AS zone_v,
                NULLIF(CAST({c("dest")} AS VARCHAR), '') AS dest_v,
                {c("delivered")} IS NOT NULL AS has_deliv,
                TRY_CAST({c("delivered")} AS BOOLEAN) AS deliv
            FROM {(self.numbered or self.relation) if with_rows else self.relation}"""
        # Row-level checks, in this order; the ones after `bad-delivered` depend only on the group
        # (type, zone, destination, line) and are made on the aggregates in pass 1 (`_judge`).
        row_checks = f"""
                WHEN ts IS NULL THEN 'bad-start'
                WHEN ts < TIMESTAMPTZ {start_txt} OR ts >= TIMESTAMPTZ {end_txt} THEN 'outside-month'
                WHEN has_dur AND (dur IS NULL OR NOT (dur BETWEEN 0 AND {MAX_SECONDS})) THEN 'bad-duration'
                WHEN NOT (bu BETWEEN 0 AND {MAX_OCTETS}) OR NOT (bd BETWEEN 0 AND {MAX_OCTETS}) THEN 'bad-bytes'
                WHEN has_deliv AND deliv IS NULL THEN 'bad-delivered'"""
        group_checks = f"""
                WHEN type_v IS NULL OR type_v NOT IN ({types}) THEN 'bad-type'
                WHEN type_v = 'data' AND (bu IS NULL OR bd IS NULL) THEN 'bad-bytes'
                WHEN zone_v NOT IN ({zones}) THEN 'bad-zone'
                WHEN type_v IN ('sms', 'voice', 'csd', 'sms_internet')
                     AND (dest_v IS NULL OR dest_v NOT IN ({dests})) THEN 'bad-dest'
                WHEN type_v IN ({line_types}) AND line_v IS NULL THEN 'no-line'"""
        code = f"CASE {row_checks} {group_checks if with_rows else ''} END"
        return f"""
            SELECT *,
                line_v AS g_line, type_v AS g_type, zone_v AS g_zone, dest_v AS g_dest, deliv AS g_deliv
            FROM (SELECT *, {code} AS code FROM ({inner}))"""

    def aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        """One pass: per (line, type, zone, dest, delivered, row check) counts, ko, calls and seconds.

        Only the checks that differ from row to row run on every row; type, zone, destination
        and line are judged once per aggregate (`_judge`), in the same order as `list_rejects`.
        """
        calls = "code IS NULL AND type_v IN ('voice', 'csd')"
        beyond = ",\n".join(
            f"SUM(CASE WHEN {calls} THEN GREATEST(CAST(ceil(COALESCE(dur, 0)) AS BIGINT) - {int(p)}, 0) END) AS b{int(p)}"
            for p in first_periods
        )
        sql = f"""
            SELECT g_line, g_type, g_zone, g_dest, g_deliv, code, COUNT(*) AS n,
                COUNT(CASE WHEN code IS NULL THEN bu + bd END) AS with_bytes,
                SUM(CASE WHEN code IS NULL THEN (bu + bd + 1023) // 1024 END) AS ko,
                COUNT(CASE WHEN {calls} AND dur > 0 THEN 1 END) AS calls,
                {beyond}
            FROM ({self._normalised(month_start, month_end, with_rows=False)})
            GROUP BY ALL"""
        try:
            rows = self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise UsageError(self.name, f"cannot read: {_first_line(exc)}") from None
        groups: list[Group] = []
        for row in rows:
            line, type_, zone, dest, deliv, code, n, with_bytes, ko, calls = row[:10]
            extra = {int(p): int(v or 0) for p, v in zip(first_periods, row[10:], strict=True)}
            bad_bytes = n - with_bytes
            if code is None and type_ == "data" and bad_bytes:
                groups.append(Group(line, type_, zone, dest, deliv, "bad-bytes", int(bad_bytes), 0, 0, {}))
                n -= bad_bytes
                if not n:
                    continue
            code = code or _judge(line, type_, zone, dest)
            groups.append(
                Group(line, type_, zone, dest, deliv, code, int(n), int(ko or 0), int(calls or 0), extra)
            )
        return groups

    def list_rejects(
        self, month_start: datetime, month_end: datetime, rejected: Sequence[RejectedKey], limit: int
    ) -> list[tuple[int, str]]:
        """Second pass, only when there are rejects: (row, reason) in file order, at most `limit`."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE rejected_keys (k_line VARCHAR, k_type VARCHAR, k_zone VARCHAR, "
            "k_dest VARCHAR, k_deliv VARCHAR, reason VARCHAR)"
        )
        if rejected:
            self.con.executemany(
                "INSERT INTO rejected_keys VALUES (?, ?, ?, ?, ?, ?)", [(*r.key, r.reason) for r in rejected]
            )
        messages = " ".join(
            f"WHEN '{code}' THEN '{_sql_safe(text)}' || {_value_of(code)}"
            for code, (_, text) in ROW_REASONS.items()
        )
        sql = f"""
            SELECT rn, COALESCE(CASE code {messages} END, k.reason) AS reason
            FROM ({self._normalised(month_start, month_end, with_rows=True)}) AS r
            LEFT JOIN rejected_keys AS k
              ON r.code IS NULL AND k.k_line = COALESCE(r.g_line, '') AND k.k_type = r.g_type
             AND k.k_zone = r.g_zone AND k.k_dest = COALESCE(r.g_dest, '')
             AND k.k_deliv = COALESCE(CAST(r.g_deliv AS VARCHAR), '')
            WHERE r.code IS NOT NULL OR k.reason IS NOT NULL
            ORDER BY rn
            LIMIT {int(limit)}"""
        try:
            return [(int(rn), str(reason)) for rn, reason in self.con.execute(sql).fetchall()]
        except duckdb.Error as exc:
            raise UsageError(self.name, f"cannot read: {_first_line(exc)}") from None


_TYPES = frozenset(t.value for t in UsageType)
_ZONES = frozenset(z.value for z in Zone)
_DESTS = frozenset(d.value for d in Dest)
_DEST_TYPES = frozenset(("sms", "voice", "csd", "sms_internet"))


def _judge(line: str | None, type_: str | None, zone: str | None, dest: str | None) -> str | None:
    """The group-level checks of one aggregate (same order as the SQL of `list_rejects`)."""
    if type_ not in _TYPES:
        return "bad-type"
    if zone not in _ZONES:
        return "bad-zone"
    if type_ in _DEST_TYPES and dest not in _DESTS:
        return "bad-dest"
    if type_ in LINE_TYPES and line is None:
        return "no-line"
    return None


def _value_of(code: str) -> str:
    """SQL text showing the offending value of a row-level reject."""
    column = {
        "bad-type": "CAST(type_v AS VARCHAR)",
        "bad-start": "start_raw",
        "outside-month": "start_raw",
        "bad-duration": "CAST(dur_raw AS VARCHAR)",
        "bad-zone": "zone_v",
        "bad-dest": "dest_v",
        "bad-delivered": "CAST(deliv_raw AS VARCHAR)",
    }.get(code)
    if code == "bad-bytes":
        return "' ' || COALESCE('''' || bu_raw || '''', 'missing') || '/' || COALESCE('''' || bd_raw || '''', 'missing')"
    if column is None:
        return "''"
    return f"COALESCE(' ' || '''' || {column} || '''', ' missing')"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def describe_source(source: Any) -> str:
    return str(source) if isinstance(source, str | Path) else "<table>"
