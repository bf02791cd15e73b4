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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from accounting.errors import UsageError
from accounting.records import Dest, UsageType, Zone

log = logging.getLogger(__name__)

UsageSource: TypeAlias = str | Path | pa.Table | list[Path] | None  # a list: Parquet parts, read as one
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


class Group(NamedTuple):
    """One aggregate: rows sharing line, type, zone, destination (and row-level reject code).

    A named tuple: tens of thousands are made per month, and a tuple is made six times faster
    than a frozen dataclass.
    """

    line: str | None
    type: str | None
    zone: str | None
    dest: str | None
    delivered: bool | None
    code: str | None
    rows: int
    ko: int
    calls: int
    beyond: Mapping[int, int]  # first period (s) -> seconds beyond it; never changed once made

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
    con.execute("SET preserve_insertion_order = false")  # results are grouped or ordered explicitly
    return con


def _keep_try_cast_in_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Keep DuckDB from turning a TRY_CAST over a CSV column into the reader's hard conversion.

    The `type_pushdown` optimizer moves a cast into the CSV scan, where a bad cell then fails the
    whole read instead of giving NULL (duckdb/duckdb#23818); a bad cell must be a rejected row.
    """
    current = str(con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] or "")  # type: ignore[index]
    names = [n.strip() for n in current.split(",") if n.strip()]
    if "type_pushdown" not in names:
        con.execute(f"SET disabled_optimizers = '{','.join([*names, 'type_pushdown'])}'")


def _sql_safe(text: str) -> str:
    return text.replace("'", "''")


def _lit(values: Sequence[str]) -> str:
    return ", ".join(f"'{_sql_safe(v)}'" for v in values)


class Scan(NamedTuple):
    """The SQL of the aggregate; settled: the statistics settled every row check (no flag)."""

    sql: str
    calls: str  # settled only: the call sums per call group, run when the month has calls
    settled: bool


class UsageReader:
    """One usage input (a CSV or Parquet file, or an Arrow table) bound to a DuckDB connection."""

    def __init__(self, source: UsageSource, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or connect()
        self.name = "<table>"
        self.kind = "table"
        self.numbered = ""
        self.parquet_files: list[Path] = []
        if isinstance(source, pa.Table):
            self.con.register("usage_input", source)
            self.relation = "usage_input"
        elif isinstance(source, list):
            self._parts([Path(p) for p in source])
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
                _keep_try_cast_in_sql(self.con)
                self.relation = (
                    f"read_csv('{q}', header = true, all_varchar = true, delim = ',', quote = '\"')"
                )
            else:
                self.kind = "parquet"
                self.relation = f"read_parquet('{q}')"
                self.numbered = f"read_parquet('{q}', file_row_number = true)"
                self.parquet_files = [path]
        self.columns = self._columns()
        self.empty_columns, self.ranges = _parquet_statistics(self.parquet_files)

    def _parts(self, paths: list[Path]) -> None:
        """Parquet files read as one, in the given order; rows numbered across them, as in one file."""
        if not paths:
            raise UsageError("<no usage files>", "an empty list of Parquet files")
        before, rows = [], 0  # rows in the files before each one
        for path in paths:
            if not path.is_file():
                raise UsageError(str(path), "no such file" if not path.exists() else "not a file")
            before.append(rows)
            rows += pq.ParquetFile(path).metadata.num_rows
        self.name = f"{paths[0].parent} ({len(paths)} Parquet files)"
        files = "[" + _lit([str(p) for p in paths]) + "]"
        case = " ".join(f"WHEN '{_sql_safe(str(p))}' THEN {b}" for p, b in zip(paths, before, strict=True))
        self.kind = "parquet"
        self.parquet_files = paths
        self.relation = f"read_parquet({files})"
        self.numbered = (
            f"(SELECT * REPLACE (file_row_number + CASE filename {case} END AS file_row_number) "
            f"FROM read_parquet({files}, file_row_number = true, filename = true))"
        )

    def _columns(self) -> set[str]:
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error as exc:
            raise UsageError(self.name, f"cannot read: {_first_line(exc)}") from None
        self.types = {str(row[0]): str(row[1]) for row in described}
        cols = set(self.types)
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

    def _range_check(self, name: str, value: str, alias: str, most: int) -> str:
        """SQL true when a value is outside 0..most (NULL is not); false when the statistics settle it.

        The statistics are those of the column as stored: they settle the check only when the
        value is the column itself, read as it is (BIGINT), not a TRY_CAST of it.
        """
        lo, hi = self.ranges.get(name, (-1, most + 1))
        if value == "NULL" or (value == f'"{name}"' and lo >= 0 and hi <= most):
            return "false"  # a column NULL on every row is never out of range
        return f"COALESCE(NOT ({alias} BETWEEN 0 AND {most}), false)"

    def _typed(self, name: str, kinds: frozenset[str], cast: str) -> str:
        """A column as the type the checks need: as it is when already of that kind, else TRY_CAST."""
        if name not in self.columns or name in self.empty_columns:
            return f"CAST(NULL AS {cast})"
        if self.types.get(name) in kinds:
            return f'"{name}"'
        return f'TRY_CAST("{name}" AS {cast})'

    def aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        """Per (line, type, zone, dest, delivered, row check): counts, ko, calls and seconds.

        One scan groups the rows on the raw key columns and a single per-row flag (any row-level
        check failed); the sums only take the clean rows.  Only when some row is flagged does a
        second scan (`_aggregate_flagged`) sort the flagged rows by reason.  Type, zone,
        destination and line are judged once per aggregate (`_judge`), in the same order as
        `list_rejects`.
        """
        groups: dict[tuple[Any, ...], Group] = {}
        periods = [int(p) for p in first_periods]
        no_calls: Mapping[int, int] = dict.fromkeys(periods, 0)  # shared by the groups without calls
        flagged = 0
        judged: dict[tuple[Any, ...], str | None] = {}
        scan = self._scan_sql(month_start, month_end, first_periods)
        settled = scan.settled
        rows = self._fetch(scan.sql)
        # Settled: the call sums come from a scan of their own, made only when there are calls.
        call_sums: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        if settled and any(row[1] in _CALL_TYPES for row in rows):
            call_sums = {row[:5]: row[5:] for row in self._fetch(scan.calls)}
        for row in rows:
            raw_line, type_, raw_zone, raw_dest, deliv, bad, n, ko = row[:8]
            if bad:
                flagged += n
                continue
            if settled and type_ == "data" and n != row[-1]:
                # data rows without both byte counts: sorted out by the second scan
                flagged += n - row[-1]
                n = row[-1]
                if not n:
                    continue
            line = raw_line or None
            zone = raw_zone or "fr"
            dest = raw_dest or None
            jkey = (line is None, type_, zone, dest)
            code = judged.get(jkey, "?")
            if code == "?":
                code = judged[jkey] = _judge(line, type_, zone, dest)
            if type_ in _CALL_TYPES:
                sums = call_sums[row[:5]] if settled else row[8:]
                calls = int(sums[0] or 0)
                beyond: Mapping[int, int] = {p: int(v or 0) for p, v in zip(periods, sums[1:], strict=True)}
            else:
                calls, beyond = 0, no_calls
            _add(groups, Group(line, type_, zone, dest, deliv, code, n, int(ko or 0), calls, beyond))
        if flagged:
            for g in self._aggregate_flagged(month_start, month_end, first_periods):
                _add(groups, g)
        return list(groups.values())

    def _fetch(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise UsageError(self.name, f"cannot read: {_first_line(exc)}") from None

    def _scan_sql(self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]) -> Scan:
        """The one-scan aggregate: raw keys, a row-check flag, integer sums over the clean rows.

        Or, when the statistics settled the row checks, the two scans of `_settled_scan_sql`.
        """

        def c(name: str) -> str:  # a column known to be all NULL (Parquet statistics) is not read
            return "NULL" if name in self.empty_columns else self._col(name)

        integer = _INTEGER_TYPES
        ts = self._typed("start", frozenset({"TIMESTAMP WITH TIME ZONE"}), "TIMESTAMPTZ")
        bu = self._typed("bytes_up", integer, "BIGINT")
        bd = self._typed("bytes_down", integer, "BIGINT")
        if self.types.get("duration_s") in integer:
            dur = c("duration_s")
            secs = "COALESCE(dur, 0)"
            dur_bad = self._range_check("duration_s", dur, "dur", MAX_SECONDS)
        else:
            dur = self._typed("duration_s", frozenset(), "DOUBLE")
            secs = "CAST(ceil(COALESCE(dur, 0)) AS BIGINT)"
            dur_bad = f"(has_dur AND (dur IS NULL OR NOT (dur BETWEEN 0 AND {MAX_SECONDS})))"
        if "delivered" in self.columns and "delivered" not in self.empty_columns:
            deliv = self._typed("delivered", frozenset({"BOOLEAN"}), "BOOLEAN")
            # A BOOLEAN column holds a value or NULL (not given): never a malformed one.
            deliv_bad = "false" if deliv == '"delivered"' else "(has_deliv AND deliv IS NULL)"
        else:  # no column: no key (a constant key still costs the hash table a column)
            deliv, deliv_bad = "", "false"
        start_txt = month_start.strftime("%Y-%m-%d %H:%M:%S+00")
        end_txt = month_end.strftime("%Y-%m-%d %H:%M:%S+00")
        type_v = f"CAST({c('type')} AS VARCHAR)"
        # Exactly the rows the CASE of `_normalised` flags, plus data rows without both byte counts.
        lo, hi = self.ranges.get("start", (None, None))
        if (
            ts == '"start"'
            and lo is not None
            and lo.tzinfo is not None
            and month_start <= lo
            and hi < month_end
        ):
            ts_bad = "false"  # every row has a start, and all of them are in the month
        else:
            ts_bad = f"(ts IS NULL OR ts < TIMESTAMPTZ '{start_txt}' OR ts >= TIMESTAMPTZ '{end_txt}')"
        row_checks = [
            ts_bad,
            dur_bad,
            self._range_check("bytes_up", bu, "bu", MAX_OCTETS),
            self._range_check("bytes_down", bd, "bd", MAX_OCTETS),
            deliv_bad,
        ]
        if all(check == "false" for check in row_checks):
            # The statistics settled every row check but one: a data row without both byte counts,
            # which the aggregate counts (`with_bytes`).  No per-row flag, no flag in the key.
            lo, hi = self.ranges.get("delivered", (None, None))
            if deliv and lo is not None and lo == hi:
                deliv = "true" if lo else "false"  # the same on every row: a constant, not a key
            return Scan(*self._settled_scan_sql(type_v, bu, bd, dur, secs, deliv, first_periods), True)
        checks = " OR ".join(row_checks)
        # Each column is converted once (inner SELECT), then checked, then summed.
        inner = f"""
                SELECT CAST({c("line")} AS VARCHAR) AS line_v, {type_v} AS type_v,
                    CAST({c("zone")} AS VARCHAR) AS zone_v, CAST({c("dest")} AS VARCHAR) AS dest_v,
                    {f'{deliv} AS deliv, "delivered" IS NOT NULL AS has_deliv, ' if deliv else ""}
                    {ts} AS ts, {c("duration_s")} IS NOT NULL AS has_dur, {dur} AS dur, {bu} AS bu, {bd} AS bd
                FROM {self.relation}"""
        # The sums are formed under CASE: a flagged row's values may not even fit the arithmetic.
        call = "NOT bad AND type_v IN ('voice', 'csd')"
        beyond = "".join(
            f",\n SUM(CASE WHEN {call} THEN GREATEST({secs} - {int(p)}, 0) END) AS b{int(p)}"
            for p in first_periods
        )
        return Scan(
            f"""
            SELECT line_v, type_v, zone_v, dest_v, {"deliv" if deliv else "NULL"}, bad, COUNT(*) AS n,
                SUM(CASE WHEN NOT bad THEN (bu + bd + 1023) // 1024 END) AS ko,
                COUNT(*) FILTER ({call} AND dur > 0) AS calls{beyond}
            FROM (
                SELECT *, ({checks}
                    OR (COALESCE(type_v = 'data', false) AND (bu IS NULL OR bd IS NULL))) AS bad
                FROM ({inner}))
            GROUP BY line_v, type_v, zone_v, dest_v, {"deliv, " if deliv else ""}bad""",
            "",
            False,
        )

    def _settled_scan_sql(
        self,
        type_v: str,
        bu: str,
        bd: str,
        dur: str,
        secs: str,
        deliv: str,
        first_periods: Sequence[int],
    ) -> tuple[str, str]:
        """The aggregate when only missing byte counts can still make a row bad: two scans.

        The first counts every row and sums its ko per group; `with_bytes` (the rows with both
        byte counts) tells the caller how many of a data group's rows lack one.  The second, run
        only when some group is of a call type, makes the call sums over the call rows alone:
        summing them over every row, or under a per-row type test, costs a fifth of the scan more.
        `deliv`: the `delivered` column (a key), a constant the statistics proved, or "" (none).
        """
        c = self._col
        keyed = deliv not in ("", "true", "false")  # a column to group on, not a constant or none
        keys = "line_v, type_v, zone_v, dest_v" + (", deliv_v" if keyed else "")
        selected = f"line_v, type_v, zone_v, dest_v, {'deliv_v' if keyed else deliv or 'NULL'}"
        periods = [int(p) for p in first_periods]
        beyond = "".join(f", SUM(GREATEST({secs} - {p}, 0)) AS b{p}" for p in periods)
        rows = f"""(
                SELECT CAST({c("line")} AS VARCHAR) AS line_v, {type_v} AS type_v,
                    CAST({c("zone")} AS VARCHAR) AS zone_v, CAST({c("dest")} AS VARCHAR) AS dest_v,
                    {f"{deliv} AS deliv_v, " if keyed else ""}{bu} AS bu, {bd} AS bd, {dur} AS dur
                FROM {self.relation})"""
        counts = f"""
            SELECT {selected}, false, COUNT(*) AS n, SUM(ko) AS ko, COUNT(ko) AS with_bytes
            FROM (SELECT {keys}, (bu + bd + 1023) // 1024 AS ko FROM {rows})
            GROUP BY {keys}"""
        calls = f"""
            SELECT {selected}, COUNT(*) FILTER (dur > 0){beyond}
            FROM {rows}
            WHERE type_v IN ('voice', 'csd')
            GROUP BY {keys}"""
        return counts, calls

    def _aggregate_flagged(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> list[Group]:
        """Second scan, only when some row failed a row-level check: those rows, grouped by reason."""
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
            WHERE code IS NOT NULL OR (type_v = 'data' AND (bu IS NULL OR bd IS NULL))
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


def _parquet_statistics(
    files: Sequence[Path],
) -> tuple[frozenset[str], dict[str, tuple[Any, Any]]]:
    """What the Parquet files' statistics prove, before reading a row.

    The optional columns that are NULL on every row (the simulator writes every column of the usage
    schema; `delivered`, for SMS Internet only, is often empty throughout): they are left out of the
    scan and of the grouping key.  And the (min, max) of the integer columns over their non-NULL
    values, and of `start` and `delivered` when no row lacks one, when every row group says: a
    check the statistics settle is not made row by row, and a `delivered` that is the same on
    every row (the simulator writes true) is a constant rather than a grouping key.
    """
    empty = set(OPTIONAL)
    ranges: dict[str, tuple[Any, Any]] = {}
    if not files:
        return frozenset(), ranges
    bounded = {"start", "duration_s", "bytes_up", "bytes_down", "delivered"}
    try:
        for path in files:
            meta = pq.ParquetFile(path).metadata
            index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
            for name in sorted(empty | bounded):
                i = index.get(name)
                if i is None:
                    bounded.discard(name)
                    continue  # not in this file: NULL there too
                for g in range(meta.num_row_groups):
                    rg = meta.row_group(g)
                    st = rg.column(i).statistics
                    if st is None or not st.has_null_count or st.null_count != rg.num_rows:
                        empty.discard(name)
                    if name in ("start", "delivered") and (
                        st is None or not st.has_null_count or st.null_count
                    ):
                        bounded.discard(name)  # a row without a start is bad; `delivered` may vary
                    if name in bounded and st is not None and st.null_count == rg.num_rows:
                        continue  # only NULLs here: nothing to bound
                    kind = {"start": datetime, "delivered": bool}.get(name, int)
                    if st is None or not st.has_min_max or not isinstance(st.min, kind):
                        bounded.discard(name)
                    elif name in bounded:
                        lo, hi = ranges.get(name, (st.min, st.max))
                        ranges[name] = (min(lo, st.min), max(hi, st.max))
    except (OSError, pa.ArrowException):
        return frozenset(), {}  # DuckDB reports the unreadable file
    return frozenset(empty), {k: v for k, v in ranges.items() if k in bounded}


_INTEGER_TYPES = frozenset(("BIGINT",))  # read as they are; other types go through TRY_CAST
_CALL_TYPES = frozenset(("voice", "csd"))


def _add(groups: dict[tuple[Any, ...], Group], g: Group) -> None:
    """Add an aggregate to the one of the same key, if any (raw keys that normalise alike meet here)."""
    key = (g.line, g.type, g.zone, g.dest, g.delivered, g.code)
    old = groups.get(key)
    if old is None:
        groups[key] = g
        return
    beyond = {p: old.beyond.get(p, 0) + g.beyond.get(p, 0) for p in {**old.beyond, **g.beyond}}
    groups[key] = g._replace(
        rows=old.rows + g.rows, ko=old.ko + g.ko, calls=old.calls + g.calls, beyond=beyond
    )


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
