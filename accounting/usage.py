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

import atexit
import bisect
import contextlib
import csv
import functools
import gzip
import json
import logging
import operator
import os
import re
import shutil
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from accounting import usage_arrow
from accounting.csv_forms import (
    CSV_NAMES,
    compressed_csv,
    line_end_fault,
    misspelt_column,
    named_compression,
    other_separator,
    other_than_csv,
    separator_note,
)
from accounting.db import arrow_scans, duckdb
from accounting.errors import FileChanged, FolderChanged, UsageError
from accounting.parquet_small import ARROW_SCHEMA_KEY, arrow_duckdb_numbers, arrow_durations
from accounting.records import GATEWAY_COLUMNS, RATING_COLUMNS, Dest, UsageType, Zone
from accounting.starts import start_sql, start_why
from accounting.usage_arrow import Settled
from accounting.usage_claim import claim_bound, layout_digests
from accounting.zones import PLMN_REFUSED, usage_zone_sql
from m2msim.inputs import each_once, replaced_repeat
from m2msim.rundir import FolderIdentity, folder_identity

if TYPE_CHECKING:
    import pyarrow as pa

    from accounting.activation import EarlyLines, FirstStarts
    from accounting.usage_arrow_checks import RowProof
    from accounting.usage_csv_arrow import CsvPlan

# pyarrow and numpy are imported where they are used (an Arrow table, Parquet footers, the duplicate
# search of a large input): rating a CSV file starts with DuckDB alone (`m2msim rate` in 0.3 s).

log = logging.getLogger(__name__)

UsageSource: TypeAlias = "str | Path | pa.Table | list[Path] | None"  # a list or a folder: files read as one
LINE_TYPES = ("data", "sms", "voice", "csd")
REQUIRED = ("line", "type", "start")
OPTIONAL = ("duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered")
# The optional columns read as a value (a number, a boolean): a Parquet file of text ('' where a
# CSV's cell was empty) has them unset there, as an empty CSV cell is (`_unset_empty_text`).
VALUE_COLUMNS = ("duration_s", "bytes_up", "bytes_down", "delivered")
NUMBER_COLUMNS = ("duration_s", "bytes_up", "bytes_down")
_EXACT_DOUBLE = 1 << 53  # a DOUBLE holds every whole number below this exactly
# The columns the duplicate search compares as the rating reads them, not as written (`_compared`).
_READ_AS_VALUES = frozenset(("start", *NUMBER_COLUMNS, "delivered"))
# In a text column of Parquet or an Arrow table, '' is an empty cell, unset, as in a CSV (where an
# empty field and `""` are both NULL): in the rating's columns, `type` and `start` among them (an
# empty one a reject that says it is missing), and, for the duplicate search, in every column
# outside the contract (imsi, apn, ...): a row holding '' and one holding NULL are one row twice,
# as their CSV lines are.

GROUPED_THOUSANDS_WHY = (
    ": a dot before three digits, in a file separated by ';', is a thousands separator where a"
    " spreadsheet writes the decimal comma (1.000 is 1000, not 1), and cannot be told from a decimal"
    " point: write the count without separators, a fraction of a second without a trailing zero (1.5,"
    " not 1.500)"
)
SPACED_THOUSANDS_WHY = (
    ": a space (or a no-break space, or an apostrophe) between groups of three digits, in a file"
    " separated by ';', is a thousands separator: write the number without separators (1234,5)"
)
COMMA_COUNT_WHY = (
    ": a count of octets is a whole number, and a comma in it, in a file separated by ';', is a"
    " decimal comma or a thousands separator: write the count as digits alone (1500)"
)
# Row-level reasons found in SQL: code -> (category, message prefix).
ROW_REASONS: dict[str, tuple[str, str]] = {
    "bad-type": ("malformed value", "malformed value: type"),
    "bad-start": ("malformed value", "malformed value: start"),
    "outside-month": ("outside the billing month", "outside the billing month: start"),
    "grouped-thousands": ("malformed value", "malformed value:"),
    "bad-duration": ("malformed value", "malformed value: duration_s"),
    "bad-bytes": ("malformed value", "malformed value: bytes_up/bytes_down"),
    "bad-zone": ("malformed value", "malformed value: zone"),
    "bad-plmn": ("malformed value", "malformed value: serving_plmn"),
    "bad-dest": ("malformed value", "malformed value: dest"),
    "bad-delivered": ("malformed value", "malformed value: delivered"),
    "no-line": ("malformed value", "malformed value: line is empty"),
    "duplicate": ("duplicate record", "duplicate record: identical in every field to"),
    "over-12h": ("impossible value", "impossible value: a data record is cut at 43,200 s (12 h): duration_s"),
    "past-month-end": (
        "impossible value",
        "impossible value: the record lasts more than 12 h past the end of the billing month: start + duration_s",
    ),
    "too-many-octets": (
        "impossible value",
        "impossible value: more octets than 30 Gbit/s carries in the record's duration: bytes_up/bytes_down",
    ),
    "bad-row": ("malformed row", "malformed row"),
}

# Columns the reader adds to a numbered input: the file and the row (the header is row 1) of a
# record, and for a duplicate the row it repeats.
FILE_COL = "__m2msim_file"
ROW_COL = "__m2msim_row"
DUP_FILE = "__m2msim_dup_file"
DUP_ROW = "__m2msim_dup_row"
MAX_CSV_LINE = 1 << 20  # bytes: a usage row is a few hundred; a longer line is a malformed row
FETCH_ROWS = 4096  # an aggregate with more rows than this is fetched by columns
SMALL_CSV = 64 << 20  # bytes: about a million rows, whose hashes DuckDB groups in a few MiB
SMALL_PARQUET = 1_000_000  # rows (the footers count them): grouped in DuckDB alike
ARROW_TABLE_ROWS = 1_000  # a temporary table of text of this many rows or more: sent as Arrow
# The listing of rejects passes over the rows of aggregates without a reject when fewer than this
# hold one (their keys' hashes are a list in the SQL text; past it most rows are read anyway).
MAX_LISTED_KEYS = 5_000

# What no network produces (values beyond these are rejects, "impossible value"):
MAX_RECORD_S = 43_200  # a data record is cut every 12 h of a session (field notes)
# A record is billed in the month its start falls in, whole, and may end after it: a 12-hour partial
# record opened in the month's last 12 hours, a call across midnight.  One that ends more than 12 h
# after the month (the longest data record) is the reject (a call of a trillion seconds).
PAST_MONTH_END_S = MAX_RECORD_S
# Octets (up + down) one record can carry per second: 30 Gbit/s, the IMT-2020 peak rates of 5G NR
# (20 Gbit/s down plus 10 Gbit/s up), the fastest radio access there is; a record shorter than a
# second is allowed a second's worth, one without a duration the 12 hours of the record limit.
MAX_OCTETS_PER_S = 3_750_000_000


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


_SPILL: list[str] = []
_SPILL_REMOVED_AT_EXIT: list[bool] = []


def _remove_spill() -> None:
    for folder in _SPILL:
        shutil.rmtree(folder, ignore_errors=True)


def _spill_folder() -> str:
    """One temporary folder per process for DuckDB to spill into; removed when the process exits, and
    by the next process of this host whose own is made, if it was killed (`private_folder`).

    Its removal at exit is registered before it is made, and it is made and named in `_SPILL`
    with SIGINT, SIGTERM and SIGHUP held back: a Ctrl-C that came between making it and
    registering its removal left it in the temporary directory for good (its process still alive
    when the next one looked, then gone).  The folders killed processes left are removed before,
    the signals not held (gigabytes of spilled rows: a Ctrl-C waited for their removal)."""
    if not _SPILL:
        from m2msim.outputs import private_folder, remove_dead_folders
        from m2msim.signals import deferred_signals

        if not _SPILL_REMOVED_AT_EXIT:
            atexit.register(_remove_spill)
            _SPILL_REMOVED_AT_EXIT.append(True)
        remove_dead_folders("m2msim-duckdb")
        with deferred_signals():
            _SPILL.append(str(private_folder("m2msim-duckdb", clean=False)))
    return _SPILL[0]


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set for bounded memory and the machine's cores."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    con.execute(
        f"SET memory_limit = '{_sql_safe(memory_limit or os.environ.get('M2MSIM_DUCKDB_MEMORY', '1GB'))}'"
    )
    con.execute("SET TimeZone = 'UTC'")
    # Spilled data goes to a folder of our own, removed at exit, never `.tmp/` in the user's folder.
    con.execute(f"SET temp_directory = '{_sql_safe(_spill_folder())}'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")  # results are grouped or ordered explicitly
    return con


def _keep_try_cast_in_sql(con: duckdb.DuckDBPyConnection, fresh: bool = False) -> None:
    """Keep DuckDB from turning a TRY_CAST over a CSV column into the reader's hard conversion.

    The `type_pushdown` optimizer moves a cast into the CSV scan, where a bad cell then fails the
    whole read instead of giving NULL (duckdb/duckdb#23818); a bad cell must be a rejected row.
    `fresh`: a connection made by `connect()`, which disables no optimizer (the first
    `current_setting` on a connection costs 10-40 ms of a small rating's start-up).
    """
    _disable_optimizer(con, "type_pushdown", fresh)


def _disable_optimizer(con: duckdb.DuckDBPyConnection, name: str, fresh: bool) -> None:
    """Add DuckDB's optimizer `name` to the connection's disabled ones (`fresh`: none yet)."""
    if fresh:
        con.execute(f"SET disabled_optimizers = '{name}'")
        return
    current = str(con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] or "")  # type: ignore[index]
    names = [n.strip() for n in current.split(",") if n.strip()]
    if name not in names:
        con.execute(f"SET disabled_optimizers = '{','.join([*names, name])}'")


def _sql_safe(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    """`name` as an SQL identifier: a file's column name may hold any character, `"` too."""
    return '"' + name.replace('"', '""') + '"'


def _lit(values: Sequence[str]) -> str:
    return ", ".join(f"'{_sql_safe(v)}'" for v in values)


class Scan(NamedTuple):
    """The SQL of the aggregate; settled: the statistics settled every row check (no reject code)."""

    sql: str
    calls: str  # settled only: the call sums per call group, run when the month has calls
    settled: bool
    plan: Settled | None = None  # settled only: the columns the scans read as they are (None: some other way)


class UsageReader:
    """One usage input (CSV or Parquet files, a folder of them, or an Arrow table) on a DuckDB connection.

    Several files (a list, or a folder: a run's `usage/part-*.parquet`, or `*.csv` files) are read
    as one input; their rows are numbered per file and a reject names its file.
    """

    # The lines activated within the month whose rows before it `aggregate` looks for (`watch_starts`)
    first_starts: FirstStarts | None = None
    # each folder given, and the folder it named before its files were listed (`check_unchanged`)
    _folders: Sequence[tuple[Path, FolderIdentity | None]] = ()

    def __init__(self, source: UsageSource, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or connect()
        self._fresh = con is None  # a connection of our own, as `connect()` made it
        self.name = "<table>"
        self.kind = "table"
        self.files: list[Path] = []
        # names of a file read under another (`m2msim.inputs.each_once`), each with why it is not read
        self.skipped: list[tuple[Path, str]] = []
        self._listings: list[tuple[Path, list[Path]]] = []  # each path given, and the files it names
        self._states: Sequence[FileState] = ()  # each file's state when first seen (`check_unchanged`)
        self.parquet_files: list[Path] = []
        self.csv_rejects = self.csv_scans = ""  # where DuckDB lists the CSV rows it could not parse
        self.csv_fields = 0
        self._read_csv = ""
        self._header: list[str] = []
        self._delimiter = ","  # a CSV's: ',', or ';', a tab or '|' as its header is split
        self.max_end: datetime | None = None  # the files' footers: the latest end of a record
        self.claims_unique = False  # the files' footers: records unique by construction
        # the Parquet files whose footers are the simulator's own (`_footer_claims`): the only ones
        # whose statistics are believed
        self._ours: frozenset[str] = frozenset()
        self.origins: list[tuple[str, str]] = []  # then, each file's (run, shard), in file order
        self.parquet_rows = 0  # the rows the Parquet files' footers count
        self.duplicates = 0  # rows identical in every field to an earlier one (found by `_dedupe`)
        self._in_order = False
        self._coded: list[Group] | None = None  # the aggregates with a reject code (`aggregate`)
        self._rows_proven = False  # the scan taken as settled as `_proof` checks every row
        self._proof: RowProof | None = None  # the checks made as the pyarrow pass reads the rows
        # a CSV file read by pyarrow.csv and proven row by row (`_csv_aggregate`): its settled rows
        self._csv_rows: Callable[[Sequence[int]], usage_arrow.SettledRows | None] | None = None
        self._csv_plans: list[CsvPlan] | None = None  # the files' plans, while their repeats are compared
        # the files whose rows pyarrow proved (a CSV file, or Parquet files): each row's aggregate
        # cell, kept by the pass, and each file's first row among all (their rejects are listed
        # without reading them again, `_key_listing`)
        self._cells: tuple[usage_arrow.Cells, Sequence[int]] | None = None
        self._pass_cells: usage_arrow.Cells | None = None  # kept by the pass under way
        self._aside = 0  # rows the proof set aside, checked by DuckDB (the table `set_aside_rows`)
        self._files = ""  # Parquet: the relation of the files themselves (not of a table made from them)
        # Parquet files whose columns differ: each file's columns and their DuckDB types (`_parquet`)
        self._part_types: list[dict[str, str]] = []
        self._file_types: list[dict[str, str]] = []  # Parquet: each file's columns and types
        # a `zone` read from `serving_plmn`: the input has that column and no `zone` (`_zone_from_plmn`)
        self.zone_from_plmn = False
        if _is_arrow_table(source):
            _given_once(self.name, source.column_names)  # type: ignore[union-attr]
            arrow_scans()
            try:
                self.con.register("usage_input", _durations_read(_duckdb_types(source), self.name))
            except duckdb.Error as exc:  # (a column of a type DuckDB does not scan)
                raise self._unreadable(exc) from None
            self.relation = "usage_input"
        elif source is None:
            import pyarrow as pa

            empty = pa.table({c: pa.array([], pa.string()) for c in REQUIRED})
            arrow_scans()
            self.con.register("usage_input", empty)
            self.relation = "usage_input"
            self.name = "<no usage>"
        else:
            paths = [Path(p) for p in source] if isinstance(source, list) else [Path(source)]
            # a folder's files are listed, then each file's state taken: a run put in the folder's
            # place between (`m2msim run --force` into it) left a list of the old run's parts with
            # the states of the new run's, a part of one run's usage rated as the whole
            self._folders = [(p, folder_identity(p)) for p in paths if p.is_dir()]
            # each path's files, as listed (`_check_folders` lists each folder again)
            self._listings = [(p, _listed_files([p])) for p in paths] if paths else []
            # (a file of a folder given again, by a link to it, or named beside its folder: each
            # of its rows was billed once and listed again as a `duplicate record`)
            listed = [f for _, files in self._listings for f in files] if paths else _listed_files(paths)
            self.files, self.skipped = each_once(listed)
            self._states = [file_state(p) for p in self.files]  # before anything is read
            self._check_skipped()
            self._check_folders()
            self.name = str(source) if not isinstance(source, list) else _describe(self.files)
            csv_files = [is_csv_input(p) for p in self.files]
            if all(csv_files):
                self._csv()
            elif any(csv_files):
                raise UsageError(self.name, "a mix of CSV and Parquet files: give one kind")
            else:
                self._parquet()
        if self.kind == "table":
            self.numbered = (
                f"(SELECT *, NULL AS {FILE_COL}, row_number() OVER () + 1 AS {ROW_COL} FROM {self.relation})"
            )
        if self.kind != "csv":
            self._intervals_read()
        self.columns = self._columns()
        self.empty_columns, self.ranges = _parquet_statistics(
            self.con, self.parquet_files, self._file_types, self._ours
        )
        if self.kind != "csv":
            self._unset_empty_text()
            if "serving_plmn" in self.columns and "zone" not in self.columns:
                self.zone_from_plmn = True
                self._zone_from_plmn()
                self.columns.add("zone")
                self.types["zone"] = "VARCHAR"
                self.empty_columns -= {"zone"}  # (the statistics' of a column the files lack)

    def watch_starts(self, cutoffs: Mapping[str, datetime]) -> FirstStarts:
        """Have `aggregate` note which of these lines (id -> activation instant) have a row that
        starts before their activation, as it reads the rows (`accounting.activation`)."""
        from accounting.activation import FirstStarts

        self.first_starts = FirstStarts(cutoffs)
        return self.first_starts

    def check_unchanged(self) -> None:
        """`FileChanged` when an input file is not as it was before it was first read: another
        file in its place, another size, another time of change, or none.  Rows read before and
        after a change (a file still being written, or cut short) would be rated together.
        `FolderChanged` when a folder given is another (a run put in its place) or holds other files."""
        self._check_folders()
        for path, state in zip(self.files, self._states, strict=True):
            try:
                now = file_state(path)
            except OSError as exc:
                raise FileChanged(
                    path, "removed" if isinstance(exc, FileNotFoundError) else str(exc)
                ) from None
            if now != state:
                raise FileChanged(path, state.change(now))

    def _check_skipped(self) -> None:
        """`FileChanged` when a name not read (`skipped`, another name of a file read) no longer
        names a file read: replaced (an export written again) between the comparison of the names
        and the files' states, it was another file left out without a word."""
        replaced = replaced_repeat(self.skipped, {(s.device, s.inode) for s in self._states})
        if replaced is not None:
            raise FileChanged(*replaced)

    def _check_folders(self) -> None:
        """`FolderChanged` when a folder given names another folder than before its files were
        listed, or lists other files now."""
        folders = self._folders
        for folder, identity in folders:
            if identity is None or folder_identity(folder) != identity:
                raise FolderChanged(folder)
        if not folders:
            return
        inside = {folder for folder, _ in folders}
        try:
            # (each folder's own listing: a file of it given by its name too is none of it)
            same = all(_listed_files([p]) == files for p, files in self._listings if p in inside)
        except UsageError:
            same = False
        if not same:
            raise FolderChanged(folders[0][0])

    @property
    def several(self) -> bool:
        """More than one file: rejects name the file of their row."""
        return len(self.files) > 1

    def _parquet(self) -> None:
        """Parquet files read as one, in the given order; rows numbered per file (the first is row 2).

        Files whose columns differ (a part of text beside the simulator's typed parts, a column
        one part lacks) are read by name, each by its own schema, a column at the type of its
        parts together (`union_by_name`: text when one part holds it as text, the typed parts'
        values then as DuckDB writes them); a column one part lacks is NULL there.  Read by the
        first file's types, a text part was cast to them and failed the whole read at its first
        empty cell, and a column the first file lacked was left out of every part."""
        files = "[" + _lit([str(p) for p in self.files]) + "]"
        self.kind = "parquet"
        self.parquet_files = self.files
        self.max_end, self.origins, self.parquet_rows, self._ours = _footer_claims(
            self.con, self.files, warn=True
        )
        self.claims_unique = bool(self.origins)
        self._file_types = _file_types(self.con, self.files)
        schemas = _arrow_schemas(self.con, self.files)
        for path, types in zip(self.files, self._file_types, strict=True):
            held = functools.partial(self._start_held, f"read_parquet({_lit([str(path)])})")
            # (a column of DuckDB's own integer types is its bytes in Parquet: its writer's schema says so)
            schema = schemas.get(str(path))
            as_bytes = arrow_duckdb_numbers(schema) if schema is not None else {}
            refused = kind_refused(str(path), types, held, as_bytes)
            if refused is not None:
                raise refused
        _counts_not_durations(schemas, self.files)
        if len(self._ours) < len(self.files):
            _scans_ignore_statistics(self.con, self._fresh)
        self._part_types = _differing(self.files, self._file_types)
        union = ", union_by_name = true" if self._part_types else ""
        self.relation = self._files = f"read_parquet({files}{union})"
        self.numbered = (
            f"(SELECT * EXCLUDE (file_row_number), file_row_number + 2 AS {ROW_COL} "
            f"FROM read_parquet({files}{union}, file_row_number = true, filename = '{FILE_COL}'))"
        )
        # Parts with `zone` beside parts with only `serving_plmn` (another writer's, an operator's
        # export): the latter's rows rated in their networks' zones, as in a folder of such parts
        # alone (`_zone_from_plmn`), not as NULL zones (`fr`).
        by_plmn = [
            str(p)
            for p, t in zip(self.files, self._file_types, strict=True)
            if "zone" not in t and "serving_plmn" in t
        ]
        if by_plmn and any("zone" in t for t in self._file_types):
            zone = (
                f"CASE WHEN {FILE_COL} IN ({_lit(by_plmn)}) THEN {usage_zone_sql(_ident('serving_plmn'))} "
                "ELSE zone END"
            )
            self.relation = (
                f"(SELECT * EXCLUDE ({FILE_COL}) REPLACE ({zone} AS zone) "
                f"FROM read_parquet({files}{union}, filename = '{FILE_COL}'))"
            )
            self.numbered = f"(SELECT * REPLACE ({zone} AS zone) FROM {self.numbered})"

    def _intervals_read(self) -> None:
        """A `duration_s` typed INTERVAL (a database's export: DuckDB's, or an Arrow interval) read
        as the text of its seconds (`interval_seconds_sql`), a row of months a malformed value
        saying why.  It was refused, the file's every row with it.  Parts of a folder that type it
        otherwise are refused: DuckDB cannot read them as one column."""
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error:
            return  # (`_columns` says what is wrong)
        if dict((str(r[0]), str(r[1])) for r in described).get("duration_s") != "INTERVAL":
            return
        kinds = {t["duration_s"] for t in self._file_types if "duration_s" in t}
        if kinds - {"INTERVAL"}:
            raise UsageError(
                self.name,
                f"column 'duration_s' is an INTERVAL in a file and a {', '.join(sorted(kinds - {'INTERVAL'}))} "
                "in another: write it as a number of seconds in every file",
            )
        seconds = f"REPLACE ({interval_seconds_sql(_ident('duration_s'))} AS duration_s)"
        self.relation = f"(SELECT * {seconds} FROM {self.relation})"
        self.numbered = f"(SELECT * {seconds} FROM {self.numbered})"

    def _unset_empty_text(self) -> None:
        """A number or `delivered` stored as text in Parquet or an Arrow table (a CSV converted with
        every column read as text has '' for an empty cell) read as unset where it is '', as the
        CSV's empty cell is.
        Columns of their own types (the simulator's files) are read as they are: the relation
        stays the files themselves, whose settled scans the pyarrow pass makes."""
        texts = [n for n in VALUE_COLUMNS if self.types.get(n) == "VARCHAR"]
        if not texts:
            return
        unset = ", ".join(f"NULLIF({_ident(n)}, '') AS {_ident(n)}" for n in texts)
        self.relation = f"(SELECT * REPLACE ({unset}) FROM {self.relation})"
        self.numbered = f"(SELECT * REPLACE ({unset}) FROM {self.numbered})"

    def _csv(self) -> None:
        """CSV files with the same header: every field read as text; a row the CSV reader cannot
        split into the header's fields (too many or too few, bad UTF-8, an unclosed quote, a line
        over `MAX_CSV_LINE` bytes) is listed by DuckDB in a rejects table, and is a reject here."""
        header: list[str] | None = None
        delimiter = ","
        for path in self.files:
            names, split = _csv_header(path)
            if header is None:
                header, delimiter = names, split
            elif (names, split) != (header, delimiter):
                raise UsageError(
                    str(path),
                    f"line 1: the header differs from {self.files[0].name}'s: {split.join(names)}"
                    + (
                        f" (its names separated by {split!r}, not {delimiter!r})"
                        if split != delimiter
                        else ""
                    ),
                )
        assert header is not None
        self._delimiter = delimiter
        self.kind = "csv"
        self.zone_from_plmn = "serving_plmn" in header and "zone" not in header
        _keep_try_cast_in_sql(self.con, self._fresh)
        tag = os.urandom(4).hex()
        self.csv_rejects, self.csv_scans, self.csv_fields = (
            f"csv_rejects_{tag}",
            f"csv_scans_{tag}",
            len(header),
        )
        files = "[" + _lit([str(p) for p in self.files]) + "]"
        read = (
            f"read_csv({files}, {csv_read_options(header, delimiter)}, store_rejects = true, "
            f"rejects_table = '{self.csv_rejects}', rejects_scan = '{self.csv_scans}'"
        )
        self._read_csv, self._header = read, header
        self._csv_relations("")

    def _csv_relations(self, where: str) -> None:
        """The CSV input as rows, and as numbered rows.  A row's number counts only the rows the
        reader accepted: `_true_row` puts back the rejected ones before a row number is shown."""
        read = self._read_csv
        self.relation = f"(SELECT * FROM {read}){where})"
        # The rows numbered as they come, over the whole input: a streamed window, read in file
        # order under `_in_file_order` (the files in the given order, each from its first row).
        rows = f"(SELECT *, row_number() OVER () AS {ROW_COL} FROM (SELECT * FROM {read}, filename = '{FILE_COL}'){where}))"
        if len(self.files) == 1:
            self.numbered = f"(SELECT * REPLACE ({ROW_COL} + 1 AS {ROW_COL}) FROM {rows})"
        else:  # each file from its own first row: a partitioned window (holds every row, may spill)
            self.numbered = (
                f"(SELECT * REPLACE ({ROW_COL} - min({ROW_COL}) OVER (PARTITION BY {FILE_COL}) + 2 AS {ROW_COL}) "
                f"FROM {rows})"
            )
        if self.zone_from_plmn:
            self._zone_from_plmn()

    def _zone_from_plmn(self) -> None:
        """An input with `serving_plmn` and no `zone` (an operator's export, a gateway's records
        without their zone): each row's zone read from its serving network, as the gateway reads
        it (`accounting.zones.usage_zone`), added to the relations as the column `zone`, so that
        every scan, check, listing and duplicate search reads it as a file's own.  A network that
        is no MCC+MNC or whose MCC is not assigned gives the reject 'bad-plmn'; an empty one, the
        contract's default zone (`fr`).  The pyarrow passes read the zone of each distinct
        network of a batch alike (`usage_arrow.PLMN_COLUMN`), and the rows they give DuckDB to
        check or compare get their column `zone` here too (`_zoned`)."""
        files = self.relation == self._files
        self.relation = self._zoned(self.relation)
        self.numbered = self._zoned(self.numbered)
        if files:  # (still the files themselves, as the pyarrow pass reads them)
            self._files = self.relation

    @property
    def _own_types(self) -> dict[str, str]:
        """The input's columns and types as its files have them (no `zone` read from
        `serving_plmn`)."""
        if not self.zone_from_plmn:
            return self.types
        return {name: kind for name, kind in self.types.items() if name != "zone"}

    def _zoned(self, rows: str) -> str:
        """SQL: these rows (of the input's columns) with their `zone` read from `serving_plmn`
        when the input has no zone (`_zone_from_plmn`); else as they are."""
        if not self.zone_from_plmn:
            return rows
        zone = usage_zone_sql(_ident("serving_plmn"))
        return f"(SELECT *, {zone} AS zone FROM {rows})"

    def _check_fields_read(self) -> None:
        """After a scan that read every field (the duplicate search's): when DuckDB found bytes
        that are not UTF-8 in one, every later scan reads every field too (`_check_every_field`)."""
        bad = self._fetch(f"SELECT COUNT(*) FROM {self.csv_rejects} WHERE error_type LIKE 'INVALID%'")
        if bad[0][0]:
            self._check_every_field()

    def _check_every_field(self) -> None:
        """Read every field of every row, not only those the rating uses: DuckDB checks a field's
        UTF-8 only when it reads it, and a row with bad bytes in any field is a malformed row."""
        fields = ", ".join(_ident(n) for n in self._header)
        self._csv_relations(f" WHERE strlen(concat({fields})) >= 0")

    def _start_held(self, relation: str) -> bool:
        """Whether the `start` column of `relation` holds a value (`kind_refused`)."""
        try:
            return bool(self.con.execute(f'SELECT COUNT("start") FROM {relation}').fetchone()[0])  # type: ignore[index]
        except duckdb.Error:
            return True  # (the reading says what is wrong)

    def _unreadable(self, exc: BaseException) -> UsageError:
        """The error of input DuckDB cannot read: its first line, or, for CSV files its reader
        refused without saying where (`state machine`), the file, line and line end at fault
        (`line_end_fault`), looked for only then (a read of every file again)."""
        if self.kind == "csv" and "state machine" in str(exc):
            for path in self.files:
                try:
                    fault = line_end_fault(_file_lines(path))
                except (OSError, ValueError, EOFError, zlib.error):  # (pyarrow's: ValueError)
                    break  # (DuckDB's words, then)
                if fault is not None:
                    return UsageError(str(path), fault)
        if self.kind == "csv" and "not a GZIP stream" in str(exc):
            for path in self.files:
                padding = _gzip_padding(path) if path.name.lower().endswith(".gz") else 0
                if padding:
                    return UsageError(
                        str(path),
                        f"{padding:,} zero bytes after its gzip data (a tape's or a block device's "
                        "padding, which gzip -d ignores), which DuckDB's reader refuses: nothing was "
                        "rated; take them off (gzip -dc FILE | gzip > NEW.csv.gz)",
                    )
        return UsageError(self.name, f"cannot read: {_first_line(exc)}")

    def _columns(self) -> set[str]:
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        self.types = {str(row[0]): str(row[1]) for row in described}
        held = functools.partial(self._start_held, self.relation)
        refused = kind_refused(self.name, self.types, held) if self.kind == "table" else None
        if refused is not None:  # (each Parquet file's types are checked as its footer is read)
            raise refused
        cols = set(self.types)
        _check_columns(self.name, cols)  # (a CSV's header was checked as it was read: `_csv_header`)
        return cols

    def _col(self, name: str) -> str:
        return f'"{name}"' if name in self.columns else "NULL"

    def _normalised(
        self,
        month_start: datetime,
        month_end: datetime,
        with_rows: bool,
        duplicates: str = "",
        within: str = "",
        where: str = "",
    ) -> str:
        """Each row with its reject code (NULL: clean); `where`: SQL that keeps a row `n` as read,
        before any value is converted or checked; `duplicates`: the numbered rows with the
        columns of `_numbered_with_duplicates`, read instead of `self.numbered`; `within`: the
        hashes of some `Group.key`s (SQL constants), the rows of other aggregates left out
        before any value is converted or checked.  A list of constants rather than a join: DuckDB
        makes it a lookup of each row in the few keys, where a join built its table of the rows."""
        c = self._col
        source = (duplicates or self.numbered) if with_rows else self.relation
        if within:
            source = f"(SELECT * FROM {source} AS n WHERE {self._key_hash('n')} IN ({within}))"
        if where:
            source = f"(SELECT * FROM {source} AS n WHERE {where})"
        types = _lit([t.value for t in UsageType])
        zones = _lit([z.value for z in Zone])
        dests = _lit([d.value for d in Dest])
        line_types = _lit(LINE_TYPES)
        if with_rows:
            rn_col = (
                f"{ROW_COL} AS rn, {FILE_COL} AS fname, CAST({c('start')} AS VARCHAR) AS start_raw, "
                f"{c('duration_s')} AS dur_raw, {c('delivered')} AS deliv_raw, "
                f"CAST({c('bytes_up')} AS VARCHAR) AS bu_raw, CAST({c('bytes_down')} AS VARCHAR) AS bd_raw, "
            )
        else:
            rn_col = ""
        start_txt = "'" + month_start.strftime("%Y-%m-%d %H:%M:%S+00") + "'"
        end_txt = "'" + month_end.strftime("%Y-%m-%d %H:%M:%S+00") + "'"
        grouped = self._grouped_thousands()
        inner = f"""
            SELECT {rn_col}
                {DUP_ROW if duplicates else "NULL"} AS dup_r, {DUP_FILE if duplicates else "NULL"} AS dup_f,
                NULLIF(CAST({c("line")} AS VARCHAR), '') AS line_v,
                CAST({c("type")} AS VARCHAR) AS type_v,
                {start_sql(c("start"))} AS ts,
                {c("duration_s")} IS NOT NULL AS has_dur,
                TRY_CAST({self._number_text("duration_s", c("duration_s"))} AS DOUBLE) AS dur,
                {grouped} AS grouped,
                {self._count("bytes_up")} AS bu,
                {self._count("bytes_down")} AS bd,
                COALESCE(NULLIF(CAST({c("zone")} AS VARCHAR), ''), 'fr') AS zone_v,
                NULLIF(CAST({c("dest")} AS VARCHAR), '') AS dest_v,
                {c("delivered")} IS NOT NULL AS has_deliv,
                TRY_CAST({c("delivered")} AS BOOLEAN) AS deliv
            FROM {source}"""
        # Row-level checks, in this order; the ones after `too-many-octets` depend only on the group
        # (type, zone, destination, line) and are made on the aggregates in pass 1 (`_judge`).
        records = " ".join(f"WHEN {sql} THEN '{code}'" for code, sql in _record_checks(month_end))
        row_checks = f"""
                WHEN dup_r IS NOT NULL THEN 'duplicate'
                WHEN ts IS NULL THEN 'bad-start'
                WHEN ts < TIMESTAMPTZ {start_txt} OR ts >= TIMESTAMPTZ {end_txt} THEN 'outside-month'
                WHEN grouped THEN 'grouped-thousands'
                WHEN {_BAD_DURATION} THEN 'bad-duration'
                WHEN NOT (bu BETWEEN 0 AND {MAX_OCTETS}) OR NOT (bd BETWEEN 0 AND {MAX_OCTETS}) THEN 'bad-bytes'
                WHEN has_deliv AND deliv IS NULL THEN 'bad-delivered'
                {records}"""
        group_checks = f"""
                WHEN type_v IS NULL OR type_v NOT IN ({types}) THEN 'bad-type'
                WHEN type_v = 'data' AND (bu IS NULL OR bd IS NULL) THEN 'bad-bytes'
                WHEN starts_with(zone_v, chr({ord(PLMN_REFUSED)})) THEN 'bad-plmn'
                WHEN zone_v NOT IN ({zones}) THEN 'bad-zone'
                WHEN type_v IN ('sms', 'voice', 'csd', 'sms_internet')
                     AND (dest_v IS NULL OR dest_v NOT IN ({dests})) THEN 'bad-dest'
                WHEN type_v IN ({line_types}) AND line_v IS NULL THEN 'no-line'"""
        code = f"CASE {row_checks} {group_checks if with_rows else ''} END"
        return f"""
            SELECT *,
                line_v AS g_line, type_v AS g_type, zone_v AS g_zone, dest_v AS g_dest, deliv AS g_deliv
            FROM (SELECT *, {code} AS code FROM ({inner}))"""

    def _file_order(self, column: str) -> str:
        """SQL: the position of the file named in `column` among the input's files (their order)."""
        return f"list_position([{_lit([str(p) for p in self.files]) or 'NULL'}], {column})"

    def _key_hash(self, row: str) -> str:
        """SQL: the hash of the row's aggregate key (`Group.key`: line, type, zone, destination and
        delivered as the aggregates normalise them), as `hash()` of the key's five texts gives it."""

        def col(name: str) -> str:
            return f'CAST({row}."{name}" AS VARCHAR)' if name in self.columns else "CAST(NULL AS VARCHAR)"

        deliv = f'TRY_CAST({row}."delivered" AS BOOLEAN)' if "delivered" in self.columns else "NULL"
        return (
            f"hash(COALESCE({col('line')}, ''), COALESCE({col('type')}, ''), "
            f"COALESCE(NULLIF({col('zone')}, ''), 'fr'), COALESCE({col('dest')}, ''), "
            f"COALESCE(CAST({deliv} AS VARCHAR), ''))"
        )

    def _grouped_thousands(self) -> str:
        """SQL true for a row of a CSV separated by ';' holding a count written with dots between
        groups of three digits (`1.000`, `3.600`, `12.000.000`, `1.234,5`), with spaces between
        them (`1 234,5`), or a count of octets with a comma (`_SEPARATED_FORMS`); "false" for
        another input.

        The locales whose spreadsheets separate a CSV's fields by ';' write a decimal comma, and
        some of them (German, Dutch, Italian, Spanish...) a dot between thousands: such a count
        is 1000, where DuckDB reads 1, a call's `3.600` 3.6 s instead of an hour.  The same text
        in a file separated by ',' is the number it reads as (`60.0` is 60)."""
        if not self._decimal_commas:
            return "false"
        # One regular expression of each count's forms, matched on a text of other characters than
        # digits alone (each form has a separator): a CASE's branch, reached only by those rows.
        tests = [
            f"(CASE WHEN regexp_full_match({text}, '[0-9]*') THEN false ELSE "
            + _separated(text, "|".join(f"({f})" for f, _, names in _SEPARATED_FORMS if n in names))
            + " END)"
            for n in NUMBER_COLUMNS
            for text in [f"CAST({_ident(n)} AS VARCHAR)"]
            if n in self.columns and n not in self.empty_columns
        ]
        return "(" + " OR ".join(tests) + ")" if tests else "false"

    @property
    def _decimal_commas(self) -> bool:
        """Whether the input is a CSV separated by ';': a spreadsheet's of a locale of decimal
        commas, whose durations are read with their decimal comma (`number_text_sql`)."""
        return self.kind == "csv" and self._delimiter == ";"

    def _number_text(self, name: str, value: str) -> str:
        """SQL: the value `value` of the count `name`, when text, as its number is read from it
        (`number_text_sql`: one with an underscore no number, a duration's decimal comma in a CSV
        separated by ';' a point); a typed value as it is."""
        if value == "NULL" or self.types.get(name) != "VARCHAR":
            return value
        duration = name == "duration_s"
        return number_text_sql(value, decimal_comma=self._decimal_commas and duration, duration=duration)

    def _count(self, name: str) -> str:
        """A count column (octets) as BIGINT: as it is when BIGINT; from text or a float only when
        whole (a fraction, NaN, an infinity or a number past 10^18 gives -1, refused by the range
        check; text that is no number gives NULL: refused on a data row, ignored on others).  NaN
        is tested on its own: DuckDB takes a Parquet column's bounds, which leave NaN out, as
        those of every value, and folds `NaN BETWEEN ...` to true."""
        if name not in self.columns or name in self.empty_columns:
            return "CAST(NULL AS BIGINT)"
        kind = self.types.get(name, "")
        if kind in _INTEGER_TYPES:
            return f'"{name}"'
        if kind in _NARROW_INTEGER_TYPES:
            return f'CAST("{name}" AS BIGINT)'
        d = f'TRY_CAST("{name}" AS DOUBLE)'
        digits = f"""NOT {no_number_sql(f'"{name}"')} AND """ if kind == "VARCHAR" else ""
        return (
            f"(CASE WHEN {d} IS NULL THEN NULL WHEN NOT isfinite({d}) THEN -1 "
            f"WHEN {digits}{d} = trunc({d}) AND {d} BETWEEN -1e18 AND 1e18 THEN TRY_CAST({d} AS BIGINT) ELSE -1 END)"
        )

    @contextlib.contextmanager
    def _in_file_order(self) -> Iterator[None]:
        """Rows kept in the input's order: a CSV's (or a table's) rows are numbered as they come
        (`row_number() OVER ()`), which is their row in the file only when DuckDB keeps the order
        it read them in.  With `preserve_insertion_order` it does, on every thread; without, a
        multi-threaded scan may hand the rows on in another order (the connection's default, for
        the aggregates, whose order does not matter)."""
        if self.kind == "parquet" or self._in_order:
            yield  # Parquet rows are numbered by the reader itself (`file_row_number`)
            return
        self._in_order = True
        self.con.execute("SET preserve_insertion_order = true")
        try:
            yield
        finally:
            self.con.execute("SET preserve_insertion_order = false")
            self._in_order = False

    def _range_check(self, name: str, value: str, alias: str, most: int) -> str:
        """SQL true when a value is outside 0..most (NULL when it is NULL: a WHEN does not take it);
        false when the statistics settle it.

        The statistics are those of the column as stored: they settle the check only when the
        value is the column itself, read as it is (BIGINT, or a narrower integer cast to one), not
        a TRY_CAST of it.
        """
        lo, hi = self.ranges.get(name, (-1, most + 1))
        if value == "NULL" or (
            value in (f'"{name}"', f'CAST("{name}" AS BIGINT)') and lo >= 0 and hi <= most
        ):
            return "false"  # a column NULL on every row is never out of range
        return f"NOT ({alias} BETWEEN 0 AND {most})"  # a WHEN: NULL is not taken

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

        One scan groups the rows on the raw key columns and the row's reject code (the first
        row-level check it fails, NULL when clean); the sums only take the clean rows.  Only
        when the statistics settled the checks and some data row lacks a byte count does a
        second scan (`_aggregate_flagged`) sort those rows out.  Type, zone,
        destination and line are judged once per aggregate (`_judge`), in the same order as
        `list_rejects`.
        """
        self._aside = 0
        try:
            groups = self._csv_aggregate(month_start, month_end, first_periods)
            if groups is None:
                groups = self._proven_aggregate(month_start, month_end, first_periods)
            if groups is None:
                self._dedupe()
                groups = self._aggregate_relation(month_start, month_end, first_periods)
        except UsageError as exc:
            raise _parquet_text_not_utf8(exc) or exc from None
        if self.duplicates:
            # Aggregated once with every row; the extra copies of the duplicated rows (a table of
            # their own, a few rows) are aggregated alike and taken back out: each copy fell in
            # the group of the row it repeats, with the same sums.  They are rejects instead.
            relation = self.relation
            self.relation = "dup_copies"
            try:
                copies = self._aggregate_relation(month_start, month_end, first_periods)
            finally:
                self.relation = relation
            for key, g in copies.items():
                _take_back(groups, key, g)
                _add(
                    groups, Group(g.line, g.type, g.zone, g.dest, g.delivered, "duplicate", g.rows, 0, 0, {})
                )
        self._refuse_text_not_utf8()
        malformed = len(self._malformed_rows())
        if malformed:
            _add(groups, Group(None, None, None, None, None, "bad-row", malformed, 0, 0, {}))
        self._coded = [g for g in groups.values() if g.code is not None]
        return list(groups.values())

    def _proven_aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> dict[tuple[Any, ...], Group] | None:
        """Parquet files whose rows DuckDB would check one by one and search for duplicates (no
        footer settles them): the settled scan by the pyarrow pass, which checks every row as it
        reads it (`usage_arrow_checks`); None when a row may fail, or anything is unsure (the
        rows are then checked by DuckDB).  When the statistics settle the scan already, the
        proof only stands for the duplicate search: failed, the pass's sums are kept and the
        duplicates searched by DuckDB.  The proof's module is loaded only when there is one to
        make (compiled from source, as where no bytecode is written, 0.02 CPU-s)."""
        if (
            self.kind != "parquet"
            or self.relation != self._files
            or self.parquet_rows < usage_arrow.ARROW_ROWS
        ):
            return None
        settled = self._scan_sql(month_start, month_end, first_periods).settled  # by the statistics
        if self.claims_unique and settled:
            return None
        from accounting import usage_arrow_checks

        if not usage_arrow_checks.PROVE:
            return None
        with usage_arrow.small_pages():  # (the proof's arrays and the pass's)
            return self._proven_pass(month_start, month_end, first_periods, settled, self._threads)

    def _proven_pass(
        self,
        month_start: datetime,
        month_end: datetime,
        first_periods: Sequence[int],
        settled: bool,
        threads: bool,
    ) -> dict[tuple[Any, ...], Group] | None:
        """`_proven_aggregate` once the files are the proof's to try."""
        from accounting import usage_arrow_checks

        types = self._own_types
        proof = self._proof = usage_arrow_checks.row_proof(
            self.parquet_files, types, month_start, month_end, self.parquet_rows, threads
        )
        if proof is None:
            return None
        proof.starts = self.first_starts
        self._rows_proven = not settled
        cells = self._pass_cells = proof.cells = usage_arrow.Cells()
        try:
            groups = self._aggregate_relation(month_start, month_end, first_periods)
            plan = self._scan_sql(month_start, month_end, first_periods).plan if proof.set_aside else None
        except _Unproven:
            return None
        finally:
            self._rows_proven, self._proof, self._pass_cells = False, None, None
        if not settled and proof.set_aside:
            assert plan is not None
            try:
                numbered = self._taken_rows(proof)
                table = usage_arrow_checks.taken_table(proof)
                self._set_aside(groups, numbered, table, plan, month_start, month_end, first_periods)
            except (_Unproven, OSError, ValueError) as exc:  # (rows of files of other types)
                log.debug("the rows set aside are left to DuckDB with the others: %r", exc)
                return None
        if not proof.proven:  # rows alike in the proof's columns (or a doubt, the scan settled anyway)
            self._dedupe(proof.repeats if proof.clean else None)
        if proof.clean:  # every row's cell kept
            self._cells = cells, proof.firsts
        return groups

    def _csv_aggregate(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> dict[tuple[Any, ...], Group] | None:
        """A large CSV file in plain forms: read by pyarrow.csv, every row proven clean as the
        pyarrow pass reads it (`usage_csv_arrow`); None when it is not, or a row may fail (DuckDB
        then reads and checks the file as before)."""
        self._cells = None
        if self.kind != "csv":
            return None  # (the module of the CSV pass, and the proof's it loads, not loaded)
        from accounting import usage_csv_arrow

        threads = self._threads
        plans = usage_csv_arrow.csv_plans(self.files, self._header, self._delimiter)
        groups = None
        if plans is not None:
            with usage_arrow.small_pages():  # (the proof's arrays and the pass's)
                groups = self._csv_pass(plans, month_start, month_end, first_periods, threads)
        if groups is None:
            for path in self.files:
                if path.name.lower().endswith((".gz", ".zst")):
                    # (left to DuckDB, which reads a damaged gzip file, or a zstd file cut short)
                    usage_csv_arrow.check_compressed(path)
        return groups

    def _csv_pass(
        self,
        plans: list[CsvPlan],
        month_start: datetime,
        month_end: datetime,
        first_periods: Sequence[int],
        threads: bool,
    ) -> dict[tuple[Any, ...], Group] | None:
        """`_csv_aggregate` once the files are in the forms pyarrow reads here."""
        from accounting import usage_csv_arrow

        reads: list[usage_csv_arrow.CsvRead] = []

        def read(periods: Sequence[int]) -> usage_arrow.SettledRows | None:
            aside = partial(self._csv_fields_of, plans)  # (the rows set aside, beside the sort)
            found = usage_csv_arrow.settled_rows(
                plans, month_start, month_end, periods, threads, aside, self.first_starts
            )
            if found is None:
                return None
            reads.append(found)
            return found.rows

        self._csv_rows = read
        self._rows_proven = True
        try:
            groups = self._aggregate_relation(month_start, month_end, first_periods)
        except _Unproven:
            return None
        finally:
            self._rows_proven, self._csv_rows = False, None
        found = reads[0]
        if found.taken is not None:
            try:
                assert found.aside is not None
                numbered = self._csv_lines(found.aside.result())
                self._set_aside(
                    groups, numbered, found.taken, plans[0].settled, month_start, month_end, first_periods
                )
            except _Unproven:
                return None
        if found.repeats is not None:  # rows alike in the proof's columns: compared here
            self._csv_plans = plans
            try:
                self._dedupe(found.repeats)
            finally:
                self._csv_plans = None
        self._cells = found.cells, found.firsts
        return groups

    def _set_aside(
        self,
        groups: dict[tuple[Any, ...], Group],
        numbered: str,
        table: pa.Table,
        plan: Settled,
        month_start: datetime,
        month_end: datetime,
        first_periods: Sequence[int],
    ) -> None:
        """The rows the proof set aside (a few that may fail a check), which the pass summed with
        the others: their sums taken back out of `groups` (the pass run again on `table`, the
        rows as it read them: the same sums, exactly), then the rows checked and summed by DuckDB
        as a scan of the whole input checks them (`numbered`: SQL of those rows as `numbered`
        has them, kept as the table `set_aside_rows` for the listing)."""
        relation = self.relation
        self._rows_proven = True
        self._csv_rows = lambda periods: usage_arrow.table_rows([table], plan, periods, threads=False)
        try:
            summed = self._aggregate_relation(month_start, month_end, first_periods)
        finally:
            self._rows_proven, self._csv_rows = False, None
        for key, g in summed.items():
            _take_back(groups, key, g)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE set_aside_rows AS {numbered}")
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        self.relation = f"(SELECT * EXCLUDE ({FILE_COL}, {ROW_COL}) FROM set_aside_rows)"
        try:
            checked = self._aggregate_relation(month_start, month_end, first_periods)
        finally:
            self.relation = relation
        for g in checked.values():
            _add(groups, g)
        self._aside = len(table)
        log.debug("%d rows that may fail a check set aside, checked by DuckDB", len(table))

    def _taken_rows(self, proof: RowProof) -> str:
        """SQL: the rows the proof set aside, as `numbered` has them, from the values the pass
        read (each column cast to its type in the files; a column neither the pass nor the
        proof read, none of the rating's, NULL): reading them again from the files at their row
        numbers scanned every row group of a month with rejects all through (2.3 s for 30 M
        rows)."""
        import pyarrow as pa

        table = pa.Table.from_batches(proof.taken)
        where = proof.of_files(proof.set_aside)
        table = table.append_column(FILE_COL, pa.array([str(self.files[f]) for f, _ in where], pa.string()))
        table = table.append_column(ROW_COL, pa.array([r + 2 for _, r in where], pa.int64()))
        arrow_scans()
        self.con.register("set_aside_taken", table)
        read = set(table.schema.names)
        own = self._own_types
        quoted = {name: _ident(name) for name in own}
        columns = ", ".join(
            f"CAST({quoted[name] if name in read else 'NULL'} AS {kind}) AS {quoted[name]}"
            for name, kind in own.items()
        )
        return (
            f"SELECT * FROM {self._zoned(f'(SELECT {columns}, {FILE_COL}, {ROW_COL} FROM set_aside_taken)')}"
        )

    def _csv_fields_of(
        self, plans: Sequence[CsvPlan], rows: Sequence[tuple[int, int]]
    ) -> list[tuple[tuple[int, int], tuple[str | None, ...]]]:
        """These rows (file index, row of the file from 0) of the CSV files, their lines read
        again and split as DuckDB's reader splits them (`_csv_repeats`), in file and row order.
        No DuckDB query (only the package's Arrow set-up imported): it may run on a thread beside
        the proof's sort."""
        found = sorted(_csv_texts(plans, rows).items())
        if len(found) >= ARROW_TABLE_ROWS:  # (their table is sent to DuckDB as Arrow: `_table`)
            arrow_scans()  # the package's set-up for it (0.03-0.06 s), here beside the sort
        fields = _csv_fields([text for _, text in found], self._delimiter)
        return list(zip((at for at, _ in found), fields, strict=True))

    def _csv_lines(self, fields: Sequence[tuple[tuple[int, int], tuple[str | None, ...]]]) -> str:
        """SQL: these rows of the CSV files (`_csv_fields_of`) as `numbered` has them."""
        if any(len(f) != len(self._header) for _, f in fields):  # (an empty line): DuckDB reads the files
            raise _Unproven
        return self._csv_numbered("set_aside_lines", fields)

    def _aggregate_relation(
        self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]
    ) -> dict[tuple[Any, ...], Group]:
        """The aggregates of the rows of `self.relation`, by (line, type, zone, dest, delivered, code)."""
        groups: dict[tuple[Any, ...], Group] = {}
        periods = [int(p) for p in first_periods]
        no_calls: Mapping[int, int] = dict.fromkeys(periods, 0)  # shared by the groups without calls
        flagged = 0
        judged: dict[tuple[Any, ...], str | None] = {}
        scan = self._scan_sql(month_start, month_end, first_periods)
        settled = scan.settled
        beyond_cols = [f"b{p}" for p in periods]
        call_sums: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        read = self._settled_by_arrow(scan, periods)
        starts = self.first_starts
        if read is not None:  # the same rows as the settled scans', read and summed by pyarrow and NumPy
            rows = []  # those the blocks leave to the loop below
            seen: set[tuple[Any, ...]] = set()
            for block in read:
                rows += _block_groups(groups, block, periods, no_calls, call_sums, seen)
        else:
            rows = self._fetch_sums(scan.sql, ["ko"] if settled else ["ko", *beyond_cols])
            if starts is not None:  # each aggregate's first start, the scan's last column
                for row in rows:
                    if row[-1] is not None and row[0]:
                        starts.note(row[0], int(row[-1]))
                rows = [row[:-1] for row in rows]
        # Settled: the call sums come from a scan of their own, made only when there are calls.
        if settled and read is None and any(row[1] in _CALL_TYPES for row in rows):
            call_sums = {row[:5]: row[5:] for row in self._fetch_sums(scan.calls, beyond_cols)}
        new = tuple.__new__  # a Group made without its Python-level constructor (tens of thousands)
        for row in rows:
            raw_line, type_, raw_zone, raw_dest, deliv, rejected, n, ko = row[:8]
            line = raw_line or None
            type_ = type_ or None  # ('' in a Parquet file of text: an empty cell, as in a CSV)
            zone = raw_zone or "fr"
            dest = raw_dest or None
            if rejected:  # the rows of a row-level reject (the code), sorted out by the scan itself
                _add(groups, Group(line, type_, zone, dest, deliv, rejected, n, 0, 0, {}))
                continue
            if settled and type_ == "data" and n != row[-1]:
                # data rows without both byte counts: sorted out by the second scan
                flagged += n - row[-1]
                n = row[-1]
                if not n:
                    continue
            jkey = (line is None, type_, zone, dest)
            code = judged.get(jkey, "?")
            if code == "?":
                code = judged[jkey] = _judge(line, type_, zone, dest)
            if type_ in _CALL_TYPES:
                sums = call_sums[row[:5]] if settled else row[8:]
                calls = sums[0]
                beyond: Mapping[int, int] = dict(zip(periods, sums[1:], strict=True))
            else:
                calls, beyond = 0, no_calls
            key = (line, type_, zone, dest, deliv, code)
            if key in groups:  # raw keys that normalise alike (an empty zone and 'fr')
                _add(groups, Group(line, type_, zone, dest, deliv, code, n, ko, calls, beyond))
            else:
                groups[key] = new(Group, (line, type_, zone, dest, deliv, code, n, ko, calls, beyond))
        if flagged and not self._rows_proven:  # (proven: such rows were set aside, `_set_aside`)
            for g in self._aggregate_flagged(month_start, month_end, first_periods):
                _add(groups, g)
        return groups

    def _settled_by_arrow(self, scan: Scan, periods: Sequence[int]) -> usage_arrow.SettledRows | None:
        """The rows of a settled scan of the Parquet files themselves, by `usage_arrow`; None when
        the scan is not one it makes (DuckDB then runs it): unsettled, a small input, a table."""
        if self._csv_rows is not None:  # a CSV file proven row by row as pyarrow reads it
            read = self._csv_rows(periods) if scan.settled else None
            if read is None:
                raise _Unproven
            return read
        proof = self._proof  # the rows checked as the pass reads them: no other way to take
        if (
            not scan.settled
            or scan.plan is None
            or self.relation != self._files
            or self.parquet_rows < usage_arrow.ARROW_ROWS
        ):
            if proof is not None:
                proof.finish()
                raise _Unproven
            return None
        if proof is None:
            probe = None
            if self.first_starts is not None and scan.plan.keys[0] is not None:
                from accounting.activation import StartProbe

                # (the statistics settled the starts: the column is read for the watched lines')
                probe = StartProbe(self.first_starts, scan.plan.keys[0], self.types["start"])
            return usage_arrow.settled_rows(
                self.parquet_files, self.types, scan.plan, periods, threads=self._threads, check=probe
            )
        try:
            read = usage_arrow.settled_rows(
                self.parquet_files,
                self.types,
                scan.plan,
                periods,
                threads=self._threads,
                check=proof,
                cells=self._pass_cells,
            )
        finally:
            # Rows set aside are sent to DuckDB as Arrow (`_taken_rows`): the package's set-up
            # for it (0.03-0.06 s) made beside the proof's sort rather than after it.
            proof.finish(meanwhile=lambda: arrow_scans() if proof.set_aside else None)
        if read is None or (self._rows_proven and not proof.clean):
            raise _Unproven
        return read  # (not proven: rows alike, or settled by the statistics; left to `_dedupe`)

    @property
    def _threads(self) -> bool:
        """Whether the connection runs DuckDB on more than one thread (the pyarrow paths then
        read on two)."""
        return int(self._fetch("SELECT current_setting('threads')")[0][0]) > 1

    def _fetch(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None

    def _fetch_sums(self, sql: str, sums: Sequence[str]) -> list[tuple[Any, ...]]:
        """The rows of an aggregate, its `sums` columns (SUMs, NULL counting as 0) as integers.

        A large result (a month has tens of thousands of aggregates) is fetched by columns, four
        times cheaper than as tuples.  DuckDB's SUM of BIGINT is a HUGEINT, which NumPy would
        turn into a float: the sums are fetched as BIGINT, and when one does not fit (no real
        month comes near 2^63) the aggregate is fetched again as exact tuples.
        """
        if not sums:
            return self._fetch(sql)
        exact = f"SELECT * REPLACE ({', '.join(f'COALESCE({s}, 0) AS {s}' for s in sums)}) FROM ({sql})"
        cast = ", ".join(f"TRY_CAST({s} AS BIGINT) AS {s}" for s in sums)
        try:
            result = self.con.execute(f"SELECT * REPLACE ({cast}) FROM ({exact})")
            names = [str(d[0]) for d in result.description or ()]
            rows = result.fetchmany(FETCH_ROWS)
            if len(rows) == FETCH_ROWS:  # the rest by columns (NumPy is loaded for large inputs only)
                columns = [c.tolist() for c in result.fetchnumpy().values()]
                if any(None in columns[names.index(s)] for s in sums):
                    return self._fetch(exact)
                rows.extend(zip(*columns, strict=True))
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        where = [names.index(s) for s in sums]
        if any(row[i] is None for row in rows for i in where):
            return self._fetch(exact)
        return rows

    def _scan_sql(self, month_start: datetime, month_end: datetime, first_periods: Sequence[int]) -> Scan:
        """The one-scan aggregate: raw keys, a reject code, integer sums over the clean rows.

        Or, when the statistics settled the row checks, the two scans of `_settled_scan_sql`.
        """

        def c(name: str) -> str:  # a column known to be all NULL (Parquet statistics) is not read
            return "NULL" if name in self.empty_columns else self._col(name)

        integer = _INTEGER_TYPES
        ts = self._typed("start", frozenset({"TIMESTAMP WITH TIME ZONE"}), "TIMESTAMPTZ")
        if ts.startswith("TRY_CAST("):  # text: a leap second read as the rule says (`accounting.starts`)
            ts = start_sql('"start"')
        bu = self._count("bytes_up")
        bd = self._count("bytes_down")
        if self.types.get("duration_s") in integer | _NARROW_INTEGER_TYPES:
            dur = c("duration_s")
            if dur != "NULL" and self.types["duration_s"] in _NARROW_INTEGER_TYPES:
                dur = f"CAST({dur} AS BIGINT)"  # (DuckDB's sums of a narrower integer overflow)
            secs = "COALESCE(dur, 0)"
            dur_bad = self._range_check("duration_s", dur, "dur", MAX_SECONDS)
        else:
            dur = self._typed("duration_s", frozenset(), "DOUBLE")
            if dur.startswith("TRY_CAST("):  # (text: `_number_text`)
                dur = f"TRY_CAST({self._number_text('duration_s', c('duration_s'))} AS DOUBLE)"
            secs = "TRY_CAST(ceil(COALESCE(dur, 0)) AS BIGINT)"
            dur_bad = f"({_BAD_DURATION})"
        if "delivered" in self.columns and "delivered" not in self.empty_columns:
            deliv = self._typed("delivered", frozenset({"BOOLEAN"}), "BOOLEAN")
            # A BOOLEAN column holds a value or NULL (not given): never a malformed one.
            deliv_bad = "false" if deliv == '"delivered"' else "(has_deliv AND deliv IS NULL)"
        else:  # no column: no key (a constant key still costs the hash table a column)
            deliv, deliv_bad = "", "false"
        start_txt = month_start.strftime("%Y-%m-%d %H:%M:%S+00")
        end_txt = month_end.strftime("%Y-%m-%d %H:%M:%S+00")
        type_v = f"CAST({c('type')} AS VARCHAR)"
        # Exactly the codes the CASE of `_normalised` gives, plus data rows without both byte counts.
        lo, hi = self.ranges.get("start", (None, None))
        if (
            ts == '"start"'
            and lo is not None
            and lo.tzinfo is not None
            and month_start <= lo
            and hi < month_end
        ):
            ts_checks = []  # every row has a start, and all of them are in the month
        else:
            ts_checks = [
                ("bad-start", "ts IS NULL"),
                ("outside-month", f"ts < TIMESTAMPTZ '{start_txt}' OR ts >= TIMESTAMPTZ '{end_txt}'"),
            ]
        bytes_bad = " OR ".join(
            check
            for check in (
                self._range_check("bytes_up", bu, "bu", MAX_OCTETS),
                self._range_check("bytes_down", bd, "bd", MAX_OCTETS),
            )
            if check != "false"
        )
        # The row checks of `_normalised`, in its order, less those the statistics settle.
        grouped = self._grouped_thousands()
        row_checks = [
            *ts_checks,
            ("grouped-thousands", "grouped" if grouped != "false" else "false"),
            ("bad-duration", dur_bad),
            ("bad-bytes", bytes_bad or "false"),
            ("bad-delivered", deliv_bad),
            *self._record_checks_unsettled(month_end, ts, dur, bu, bd),
        ]
        row_checks = [(code, sql) for code, sql in row_checks if sql != "false" and not self._rows_proven]
        if not row_checks:
            # The statistics settled every row check but one: a data row without both byte counts,
            # which the aggregate counts (`with_bytes`).  No per-row code, no code in the key.
            lo, hi = self.ranges.get("delivered", (None, None))
            if deliv and lo is not None and lo == hi:
                deliv = "true" if lo else "false"  # the same on every row: a constant, not a key
            plan = self._settled_plan(bu, bd, dur, deliv)
            counts, calls = self._settled_scan_sql(type_v, bu, bd, dur, secs, deliv, first_periods, ts)
            return Scan(counts, calls, True, plan)
        # The first failed check names the row's reject (NULL: clean), so that the one scan sorts
        # the rejected rows by reason too; a data row without both byte counts is a 'bad-bytes'
        # (the group check of `_normalised` that depends on the row).
        cases = " ".join(f"WHEN {sql} THEN '{code}'" for code, sql in row_checks)
        code = f"CASE {cases} WHEN (bu IS NULL OR bd IS NULL) AND type_v = 'data' THEN 'bad-bytes' END"
        # Each column is converted once (inner SELECT), then checked, then summed.
        inner = f"""
                SELECT CAST({c("line")} AS VARCHAR) AS line_v, {type_v} AS type_v,
                    CAST({c("zone")} AS VARCHAR) AS zone_v, CAST({c("dest")} AS VARCHAR) AS dest_v,
                    {f'{deliv} AS deliv, "delivered" IS NOT NULL AS has_deliv, ' if deliv else ""}
                    {ts} AS ts, {c("duration_s")} IS NOT NULL AS has_dur, {dur} AS dur, {bu} AS bu, {bd} AS bd
                    {f", {grouped} AS grouped" if grouped != "false" else ""}
                FROM {self.relation}"""
        # The sums are formed under CASE: a rejected row's values may not even fit the arithmetic.
        call = "code IS NULL AND type_v IN ('voice', 'csd')"
        beyond = "".join(
            f",\n SUM(CASE WHEN {call} THEN GREATEST({secs} - {int(p)}, 0) END) AS b{int(p)}"
            for p in first_periods
        )
        if self.first_starts is not None:  # (the lines activated within the month: `watch_starts`)
            beyond += ",\n MIN(CASE WHEN code IS NULL THEN epoch_us(ts) END) AS first_us"
        return Scan(
            f"""
            SELECT line_v, type_v, zone_v, dest_v, {"deliv" if deliv else "NULL"}, code, COUNT(*) AS n,
                SUM(CASE WHEN code IS NULL THEN (bu + bd + 1023) // 1024 END) AS ko,
                COUNT(*) FILTER ({call} AND dur > 0) AS calls{beyond}
            FROM (SELECT *, {code} AS code FROM ({inner}))
            GROUP BY line_v, type_v, zone_v, dest_v, {"deliv, " if deliv else ""}code""",
            "",
            False,
        )

    def _record_checks_unsettled(
        self, month_end: datetime, ts: str, dur: str, bu: str, bd: str
    ) -> list[tuple[str, str]]:
        """The (code, SQL) of the `_record_checks` the statistics (or the files' footers) do not settle."""
        out = []
        no_dur = dur in ("NULL", "CAST(NULL AS DOUBLE)")
        d_lo, d_hi = self.ranges.get("duration_s", (None, None)) if dur == '"duration_s"' else (None, None)
        _, s_hi = self.ranges.get("start", (None, None)) if ts == '"start"' else (None, None)
        u_hi = (
            0
            if bu == "CAST(NULL AS BIGINT)"
            else self.ranges.get("bytes_up", (None, None))[1]
            if bu == '"bytes_up"'
            else None
        )
        v_hi = (
            0
            if bd == "CAST(NULL AS BIGINT)"
            else self.ranges.get("bytes_down", (None, None))[1]
            if bd == '"bytes_down"'
            else None
        )
        for code, sql in _record_checks(month_end):
            if code == "over-12h":
                settled = no_dur or (d_hi is not None and d_hi <= MAX_RECORD_S)
            elif code == "past-month-end":
                settled = no_dur or (
                    d_hi is not None
                    and (
                        (
                            self.max_end is not None
                            and self.max_end <= month_end + timedelta(seconds=PAST_MONTH_END_S)
                        )
                        or (
                            s_hi is not None
                            and s_hi.tzinfo is not None
                            and s_hi.timestamp() + d_hi <= month_end.timestamp() + PAST_MONTH_END_S
                        )
                    )
                )
            else:
                shortest = MAX_RECORD_S if no_dur else None if d_lo is None else min(d_lo, MAX_RECORD_S)
                settled = (
                    u_hi is not None
                    and v_hi is not None
                    and shortest is not None
                    and u_hi + v_hi <= MAX_OCTETS_PER_S * max(shortest, 1)
                )
            if not settled:
                out.append((code, sql))
        return out

    def _settled_plan(self, bu: str, bd: str, dur: str, deliv: str) -> Settled | None:
        """The columns the settled scans read, when each is read as it is or is NULL (see `Settled`)."""
        numbers = (
            ("bytes_up", bu, "CAST(NULL AS BIGINT)"),
            ("bytes_down", bd, "CAST(NULL AS BIGINT)"),
            ("duration_s", dur, "NULL"),
        )

        def read(name: str) -> set[str]:  # the column read as it is: the pass reads its values
            forms = {f'"{name}"', f'CAST("{name}" AS BIGINT)'}  # (narrower integers: widened)
            if self._rows_proven and self.types.get(name) in usage_arrow.FLOAT_COUNT_TYPES:
                forms |= {
                    self._count(name),
                    self._typed(name, frozenset(), "DOUBLE"),
                }  # (whole, the proof says)
            return forms

        if any(sql != null and sql not in read(name) for name, sql, null in numbers):
            return None
        delivered: dict[str, str | bool | None] = {
            '"delivered"': "delivered",
            "true": True,
            "false": False,
            "": None,
        }
        if deliv not in delivered:
            return None
        bytes_up, bytes_down, duration = (name if sql != null else None for name, sql, null in numbers)
        keys: tuple[str | None, ...] = tuple(
            name if name in self.columns else None for name in ("line", "type", "zone", "dest")
        )
        if self.zone_from_plmn:  # (each row's zone read by the pass from its network)
            keys = (keys[0], keys[1], usage_arrow.PLMN_COLUMN, keys[3])
        return Settled(keys, bytes_up, bytes_down, duration, delivered[deliv])

    def _settled_scan_sql(
        self,
        type_v: str,
        bu: str,
        bd: str,
        dur: str,
        secs: str,
        deliv: str,
        first_periods: Sequence[int],
        ts: str = "NULL",
    ) -> tuple[str, str]:
        """The aggregate when only missing byte counts can still make a row bad: two scans.

        The first counts every row and sums its ko per group; `with_bytes` (the rows with both
        byte counts) tells the caller how many of a data group's rows lack one.  The second, run
        only when some group is of a call type, makes the call sums over the call rows alone:
        summing them over every row, or under a per-row type test, costs a fifth of the scan more.
        `deliv`: the `delivered` column (a key), a constant the statistics proved, or "" (none).
        `ts`: the start, whose minimum the counts give last when the reader watches lines
        activated within the month (`watch_starts`).
        """
        c = self._col
        keyed = deliv not in ("", "true", "false")  # a column to group on, not a constant or none
        keys = "line_v, type_v, zone_v, dest_v" + (", deliv_v" if keyed else "")
        selected = f"line_v, type_v, zone_v, dest_v, {'deliv_v' if keyed else deliv or 'NULL'}"
        periods = [int(p) for p in first_periods]
        beyond = "".join(f", SUM(GREATEST({secs} - {p}, 0)) AS b{p}" for p in periods)
        watched = self.first_starts is not None
        rows = f"""(
                SELECT CAST({c("line")} AS VARCHAR) AS line_v, {type_v} AS type_v,
                    CAST({c("zone")} AS VARCHAR) AS zone_v, CAST({c("dest")} AS VARCHAR) AS dest_v,
                    {f"{deliv} AS deliv_v, " if keyed else ""}{bu} AS bu, {bd} AS bd, {dur} AS dur
                    {f", epoch_us({ts}) AS ts_us" if watched else ""}
                FROM {self.relation})"""
        counts = f"""
            SELECT {selected}, false, COUNT(*) AS n, SUM(ko) AS ko, COUNT(ko) AS with_bytes
                {", MIN(ts_us) AS first_us" if watched else ""}
            FROM (SELECT {keys}, (bu + bd + 1023) // 1024 AS ko{", ts_us" if watched else ""} FROM {rows})
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
        """Second scan, only when a settled scan found data rows without both byte counts: the
        rows that fail a row-level check, grouped by reason."""
        calls = "code IS NULL AND type_v IN ('voice', 'csd')"
        beyond = ",\n".join(
            f"SUM(CASE WHEN {calls} THEN GREATEST(TRY_CAST(ceil(COALESCE(dur, 0)) AS BIGINT) - {int(p)}, 0) END) AS b{int(p)}"
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
        rows = self._fetch(sql)
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
        self,
        month_start: datetime,
        month_end: datetime,
        rejected: Sequence[RejectedKey],
        limit: int,
        *,
        every_row: bool = False,
    ) -> list[tuple[str | None, int, str]]:
        """Second pass, only when there are rejects: (file, row, reason) in file order, at most
        `limit`.  The file is None when the input is one file (or a table).  `rejected`: the
        aggregates the engine refuses, besides those `aggregate` gave a reject code.

        After `aggregate`, the rows are read again only when there is more than duplicates and
        malformed CSV rows (both already found), and only the rows of the aggregates that hold a
        reject are converted and checked.  `every_row`: every row read and checked regardless
        (the listing is the same)."""
        coded = None if every_row else self._coded
        if coded is not None and not rejected and all(g.code in _KNOWN_BY_ROW for g in coded):
            return self._listed(self._duplicate_rows(limit), self._malformed_rows(), limit)
        if coded is not None and (self._aside or all(g.code in _LISTED_BY_KEY for g in coded)):
            listed = self._key_listing(coded, rejected, limit, month_start, month_end)
            if listed is not None:
                return listed
        within = ""
        groups = None if coded is None else {*(g.key for g in coded), *(r.key for r in rejected)}
        if groups is not None and len(groups) <= MAX_LISTED_KEYS:
            self._table("listed_keys", _KEY_COLUMNS, sorted(groups))
            hashes = self._fetch(
                "SELECT DISTINCT hash(k_line, k_type, k_zone, k_dest, k_deliv) FROM listed_keys ORDER BY 1"
            )
            within = ", ".join(f"{int(h)}::UBIGINT" for (h,) in hashes)  # `_key_hash` of each key
        with self._in_file_order():
            found = self._listing_scan(month_start, month_end, rejected, limit, within)
            malformed = self._malformed_rows()
        return self._listed(found, malformed, limit)

    def early_rows(
        self, asked: EarlyLines, limit: int
    ) -> tuple[list[Group], list[tuple[str | None, int, str]]]:
        """After `aggregate`: the clean rows of these lines (id -> (activation instant, reason))
        that start before their activation, as aggregates of `aggregate`'s keys and sums, and
        listed (file, row, the line's reason) in file order, at most `limit`.  Only the rows of
        `keys` (the lines' clean aggregates) are converted and checked, as `list_rejects` checks
        them; a duplicate's copy is a duplicate (`aggregate` took it out), not one of these."""
        month_start, month_end, cutoffs, keys, first_periods = asked
        if not cutoffs:
            return [], []
        periods = [int(p) for p in first_periods]
        within = where = ""
        if len(keys) > MAX_LISTED_KEYS:  # (the rows of those lines, whatever their keys)
            where = 'CAST(n."line" AS VARCHAR) IN (SELECT e_line FROM early_lines)'
        else:
            self._table("early_keys", _KEY_COLUMNS, sorted(keys))
            hashes = self._fetch(
                "SELECT DISTINCT hash(k_line, k_type, k_zone, k_dest, k_deliv) FROM early_keys ORDER BY 1"
            )
            within = ", ".join(f"{int(h)}::UBIGINT" for (h,) in hashes) or "NULL"
        self._table(
            "early_lines",
            ["e_line", "e_until", "e_reason"],
            [
                (line, until.strftime("%Y-%m-%d %H:%M:%S+00"), reason)
                for line, (until, reason) in cutoffs.items()
            ],
        )
        duplicates = self._numbered_with_duplicates() if self.duplicates else ""
        normalised = self._normalised(month_start, month_end, True, duplicates, within, where)
        with self._in_file_order():
            try:
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE early_rows AS
                    SELECT r.fname, r.rn, r.g_line, r.g_type, r.g_zone, r.g_dest, r.g_deliv,
                        r.bu, r.bd, r.dur, e.e_reason
                    FROM ({normalised}) AS r JOIN early_lines AS e ON e.e_line = r.g_line
                    WHERE r.code IS NULL AND r.g_type IN ({_lit(LINE_TYPES)})
                      AND r.ts < CAST(e.e_until AS TIMESTAMPTZ)"""
                )
            except duckdb.Error as exc:
                raise self._unreadable(exc) from None
            malformed = self._malformed_rows()
        calls = "g_type IN ('voice', 'csd')"
        secs = "TRY_CAST(ceil(COALESCE(dur, 0)) AS BIGINT)"
        beyond = "".join(f", SUM(CASE WHEN {calls} THEN GREATEST({secs} - {p}, 0) END)" for p in periods)
        sums = self._fetch(
            f"""SELECT g_line, g_type, g_zone, g_dest, g_deliv, COUNT(*), SUM((bu + bd + 1023) // 1024),
                COUNT(*) FILTER ({calls} AND dur > 0){beyond}
            FROM early_rows GROUP BY ALL"""
        )
        groups = [
            Group(
                line, type_, zone, dest, deliv, None, int(n), int(ko or 0), int(n_calls),
                {p: int(v or 0) for p, v in zip(periods, rest, strict=True)},
            )
            for line, type_, zone, dest, deliv, n, ko, n_calls, *rest in sums
        ]  # fmt: skip
        order = self._file_order("fname")
        found = self._fetch(
            f"SELECT fname, rn, e_reason, NULL, NULL FROM early_rows ORDER BY {order}, rn LIMIT {int(limit)}"
        )
        reasons = {reason for _, reason in cutoffs.values()}
        # (the malformed rows give a CSV's rows their true numbers; `list_rejects` lists them)
        listed = self._listed(found, malformed, limit + len(malformed))
        return groups, [r for r in listed if r[2] in reasons][:limit]

    def _listing_scan(
        self,
        month_start: datetime,
        month_end: datetime,
        rejected: Sequence[RejectedKey],
        limit: int,
        within: str = "",
    ) -> list[tuple[Any, ...]]:
        """The rejects among the rows of `numbered` (file, row, reason, duplicate's first file and
        row), each row checked and converted, in file order, at most `limit` (`list_rejects`)."""
        self._table("rejected_keys", [*_KEY_COLUMNS, "reason"], [(*r.key, r.reason) for r in rejected])
        messages = " ".join(
            f"WHEN '{code}' THEN '{_sql_safe(text)}' || {_value_of(code)}"
            for code, (_, text) in ROW_REASONS.items()
            if code not in ("duplicate", "bad-row")
        )
        order = self._file_order("fname")
        duplicates = self._numbered_with_duplicates() if self.duplicates else ""
        sql = f"""
            SELECT fname, rn, COALESCE(CASE code {messages} END, k.reason) AS reason, dup_f, dup_r
            FROM ({self._normalised(month_start, month_end, True, duplicates, within)}) AS r
            LEFT JOIN rejected_keys AS k
              ON r.code IS NULL AND k.k_line = COALESCE(r.g_line, '') AND k.k_type = r.g_type
             AND k.k_zone = r.g_zone AND k.k_dest = COALESCE(r.g_dest, '')
             AND k.k_deliv = COALESCE(CAST(r.g_deliv AS VARCHAR), '')
            WHERE r.code IS NOT NULL OR k.reason IS NOT NULL
            ORDER BY {order}, rn
            LIMIT {int(limit)}"""
        return self._fetch(sql)

    def _key_listing(
        self,
        coded: Sequence[Group],
        rejected: Sequence[RejectedKey],
        limit: int,
        month_start: datetime,
        month_end: datetime,
    ) -> list[tuple[str | None, int, str]] | None:
        """`list_rejects` when every reject is a duplicate's copy (already found), a row of an
        aggregate refused by its key (`_judge`'s codes, then the engine's `rejected`) or a row the
        proof set aside: the rows of refused keys found from each row's aggregate cell, kept by
        the pass (`usage_arrow.Cells`), and the rows set aside checked by DuckDB (the table
        `set_aside_rows`), instead of DuckDB reading every row whole; None (DuckDB's listing)
        unless the pyarrow pass read and checked every row (a CSV file, `_csv_aggregate`, or
        Parquet files, `_proven_aggregate`).  The reasons are the listing scan's, word for word."""
        if self._cells is None:
            return None
        cells, firsts = self._cells
        index = {str(p): i for i, p in enumerate(self.files)}

        several = self.several

        def row_of(fname: Any, rn: Any) -> int:  # a row's number among all the files' (from 0)
            if not several:  # (one file: its rows are all the files')
                return int(rn) - 2
            return firsts[index[str(fname)]] + int(rn) - 2  # (the header is row 1)

        reasons = {r.key: r.reason for r in rejected}  # for rows without a code
        for g in coded:  # a code of the key's own overrides the engine's reason
            if g.code in _LISTED_BY_KEY and g.code not in _KNOWN_BY_ROW:
                value = {"bad-type": g.type, "bad-zone": g.zone, "bad-dest": g.dest}.get(g.code, "")
                shown = "" if g.code == "no-line" else " missing" if not value else f" '{value}'"
                if g.code == "bad-plmn":  # (the mark, then the value and why)
                    shown = " " + (g.zone or "")[1:]
                reasons[g.key] = ROW_REASONS[g.code][1] + shown
        copies = self._duplicate_rows(limit) if self.duplicates else []
        found: list[tuple[Any, ...]] = list(copies)
        skip = {row_of(f, rn) for f, rn, *_ in copies}  # a duplicate's copy: listed as one
        if self._aside:  # every row-level reject is among them (the others passed every check)
            numbered = self.numbered
            self.numbered = "set_aside_rows"
            try:
                aside = self._listing_scan(month_start, month_end, rejected, limit)
            finally:
                self.numbered = numbered
            found += [row for row in aside if row_of(row[0], row[1]) not in skip]
            aside_rows = self._fetch(f"SELECT {FILE_COL}, {ROW_COL} FROM set_aside_rows")
            skip.update(row_of(f, rn) for f, rn in aside_rows)
        if reasons:
            for row, key in cells.rows_of(reasons, limit, skip):
                f = bisect.bisect_right(firsts, row) - 1
                found.append((str(self.files[f]), row - firsts[f] + 2, reasons[key], None, None))
        return self._listed(found, {}, limit)

    def _listed(
        self,
        found: Sequence[tuple[Any, ...]],
        malformed: Mapping[tuple[str, int], str],
        limit: int,
    ) -> list[tuple[str | None, int, str]]:
        """The rejects found (file, row, reason, duplicate's first file and row) and the malformed
        CSV rows, with their true row numbers, in file order, at most `limit`."""
        index = {str(p): i for i, p in enumerate(self.files)}
        lines: dict[str, list[int]] = {}  # each file's malformed rows, sorted once (not per reject)
        for f, line in sorted(malformed):
            lines.setdefault(f, []).append(line)
        several = self.several
        out: list[tuple[int, int, str | None, int, str]] = []
        for fname, rn, reason, dup_f, dup_r in found:
            row = self._row(fname, int(rn), lines)
            if dup_r is not None:
                first = self._row(dup_f, int(dup_r), lines)
                where = f"{self._shown(dup_f)}:{first}" if several else f"row {first}"
                reason = f"{ROW_REASONS['duplicate'][1]} {where}"
            out.append((index.get(str(fname), 0), row, fname, row, str(reason)))
        for (fname, line), reason in malformed.items():
            out.append((index.get(fname, 0), line, fname, line, reason))
        out.sort(key=operator.itemgetter(0, 1))
        return [(self._shown(f) if several else None, row, reason) for _, _, f, row, reason in out[:limit]]

    def _shown(self, fname: Any) -> str:
        """A file as a reject names it: its name, or its path when names repeat."""
        path = Path(str(fname))
        names = [p.name for p in self.files]
        return path.name if names.count(path.name) == 1 else str(path)

    def _row(self, fname: Any, rn: int, malformed: Mapping[str, Sequence[int]]) -> int:
        """The row number in its file: a CSV row's number counted the rows DuckDB accepted only;
        `malformed`: each file's rejected rows, sorted."""
        if self.kind != "csv" or not malformed:
            return rn
        return _true_row(rn - 1, malformed.get(str(fname), ()))

    def _refuse_text_not_utf8(self) -> None:
        """`UsageError` naming the file, the first row and the column of a CSV field that is not
        UTF-8 (DuckDB's reader found it, its scans having read every field: `_check_fields_read`).
        Such a file is in another encoding (Latin-1, Windows-1252: a spreadsheet's 'CSV' in some
        locales), and every row holding an accented letter was a malformed row, left out of the
        invoice, where its Parquet conversion was refused: refused here too, saying how to save it."""
        if not self.csv_rejects:
            return
        try:
            found = self.con.execute(
                f"""SELECT s.file_path, e.line, e.column_name
                FROM {self.csv_rejects} e JOIN {self.csv_scans} s USING (scan_id, file_id)
                WHERE e.error_type IN ('INVALID ENCODING', 'INVALID UNICODE')
                ORDER BY {self._file_order("s.file_path")}, e.line LIMIT 1"""
            ).fetchone()
        except duckdb.Error:
            return  # no scan has listed a rejected row yet
        if found is not None:
            path, row, column = found
            raise UsageError(
                str(path),
                f"row {int(row)} (the header is row 1): column {column!r}: not UTF-8 text; the file may be "
                "Latin-1 or Windows-1252 (a spreadsheet's 'CSV' in some locales): save it as 'CSV UTF-8'",
            )

    def _malformed_rows(self) -> dict[tuple[str, int], str]:
        """The CSV rows DuckDB's reader could not split into fields: (file, row) -> reason."""
        if not self.csv_rejects:
            return {}
        try:
            rows = self.con.execute(
                f"""SELECT s.file_path, e.line, min(e.error_type), min(e.column_name)
                FROM {self.csv_rejects} e JOIN {self.csv_scans} s USING (scan_id, file_id)
                GROUP BY ALL"""
            ).fetchall()
        except duckdb.Error:
            return {}  # no scan has listed a rejected row yet
        return {
            (str(f), int(line)): _csv_reason(str(kind), col, self.csv_fields) for f, line, kind, col in rows
        }

    def _table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], kind: str = "VARCHAR"
    ) -> None:
        """A temporary table `name` of `rows` (every column of type `kind`), sent in one statement
        as one list per column: `executemany` runs a statement per row (100,000 copies of rows
        took 110 s to insert, 5,000 keys of the listing 1-3 s)."""
        if kind == "VARCHAR" and len(rows) >= ARROW_TABLE_ROWS and "pyarrow" in sys.modules:
            import pyarrow as pa

            try:  # text or NULL only (anything else: as below, cast by DuckDB)
                table = pa.table(
                    [pa.array(c, pa.string()) for c in zip(*rows, strict=True)], names=list(columns)
                )
            except (pa.ArrowException, TypeError):
                pass
            else:  # (20,000 rows of 11 fields: 0.04 s against 0.06-0.09 as lists)
                view = f"{name}_arrow_{os.urandom(4).hex()}"
                arrow_scans()
                self.con.register(view, table)
                try:
                    self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
                finally:
                    self.con.unregister(view)
                return
        lists = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in columns]
        unnested = ", ".join(f"unnest(?::{kind}[]) AS {_ident(c)}" for c in columns)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {unnested}", lists)

    def _seen_twice(self, sql: str) -> list[tuple[int]]:
        """The values of column `h` of `sql` that come twice or more.

        Sorted in NumPy rather than grouped in DuckDB: a hash table of 30 million distinct hashes
        outgrows the memory limit and spills gigabytes to disk; the sorted array is 8 bytes a row.
        A small input (a CSV under `SMALL_CSV` bytes, Parquet files of fewer than `SMALL_PARQUET`
        rows) is grouped in DuckDB: no NumPy to load.
        """
        if (self.kind == "parquet" and self.parquet_rows < SMALL_PARQUET) or (
            self.kind == "csv" and sum(p.stat().st_size for p in self.files) < SMALL_CSV
        ):
            return [
                (int(h),) for (h,) in self._fetch(f"SELECT h FROM ({sql}) GROUP BY h HAVING COUNT(*) > 1")
            ]
        try:
            hashes = self.con.execute(sql).fetchnumpy()["h"]
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        import numpy as np

        values = np.asarray(hashes, dtype=np.uint64)
        values.sort()
        repeated = values[1:][values[1:] == values[:-1]]
        return [(int(v),) for v in np.unique(repeated)]

    def _dedupe(self, rows: Sequence[tuple[int, int]] | None = None) -> None:
        """Find the rows identical in every field to an earlier row (the first copy is billed).

        One hash per row, sorted: only hashes seen twice are looked at again, to compare the rows
        themselves.  Files whose footers prove their records unique are not read for this.  One
        scan of the numbered rows whose hash came twice, in file order, finds each extra copy (a
        row repeated n times gives n - 1) with the file and row of its first copy: the table
        `dup_copies` holds their fields, which `aggregate` takes back out of the sums, and
        `dup_rows` where they are, which `list_rejects` names.  `rows`: Parquet rows (file index,
        row of the file from 0) among which every copy of every duplicate is (the row proof's
        hashes found them): only those are read and compared.
        """
        if self.claims_unique:
            return
        cols = [c for c in self.types if c not in (FILE_COL, ROW_COL)]
        keys = ", ".join(_ident(c) for c in cols)
        # A Parquet file's '' where a CSV's cell would be empty is that empty cell: a row holding
        # it and one holding NULL there are alike, as their lines in a CSV are (in any column of
        # text, the contract's or another).
        empty = [] if self.kind == "csv" else [c for c in cols if self.types[c] == "VARCHAR"]
        unset = ", ".join(f"NULLIF({_ident(c)}, '') AS {_ident(c)}" for c in empty)
        h = (
            "hash("
            + ", ".join(
                self._compared(c, f"NULLIF({_ident(c)}, '')" if c in empty else _ident(c), hashed=True)
                for c in cols
            )
            + ")"
        )
        alike = ", ".join(self._compared(c, _ident(c)) for c in cols)
        if rows is not None:
            if not rows:
                return
            candidates = self._csv_repeats(rows) if self._csv_plans is not None else self._parquet_rows(rows)
            if not candidates:
                return
        else:
            # Every row's fields as the reader splits them (a quoted field may hold a line end or
            # a separator), hashed as the rows are compared.
            cand = self._seen_twice(f"SELECT {h} AS h FROM {self.relation}")
            if self.kind == "csv":
                self._check_fields_read()
            if not cand:
                return
            self._table("dup_hashes", ["h"], cand, "UBIGINT")
            candidates = f"SELECT * FROM {self.numbered} WHERE {h} IN (SELECT h FROM dup_hashes)"
        if unset:
            candidates = f"SELECT * REPLACE ({unset}) FROM ({candidates})"
        order = self._file_order(FILE_COL)
        try:
            with self._in_file_order():
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE dup_found AS
                    SELECT * EXCLUDE (k) FROM (
                        SELECT {keys}, {FILE_COL} AS {DUP_FILE}_f, {ROW_COL} AS {DUP_ROW}_r,
                            first_value({FILE_COL}) OVER w AS {DUP_FILE}, first_value({ROW_COL}) OVER w AS {DUP_ROW},
                            row_number() OVER w AS k
                        FROM ({candidates})
                        WINDOW w AS (PARTITION BY {alike} ORDER BY {order}, {ROW_COL}))
                    WHERE k > 1"""
                )
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE dup_copies AS SELECT {keys} FROM dup_found")
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE dup_rows AS SELECT {DUP_FILE}_f AS f, {DUP_ROW}_r AS r, "
                f"{DUP_FILE} AS first_f, {DUP_ROW} AS first_r FROM dup_found"
            )
            self.con.execute("DROP TABLE dup_found")
        except duckdb.Error as exc:
            raise self._unreadable(exc) from None
        self.duplicates = int(self.con.execute("SELECT COUNT(*) FROM dup_rows").fetchone()[0])  # type: ignore[index]

    def _compared(self, name: str, value: str, hashed: bool = False) -> str:
        """SQL: a column's `value` as the duplicate search compares it: the same values, whatever
        the file's form.  The rating's values are compared as the rating reads them, in every
        input: a start as its instant (`2026-03-02T10:00:00Z`, `2026-03-02 11:00:00+01` and a
        typed timestamp of that instant are one start), a count as its number (`60`, `60.0`,
        `+60`, `6e1` and an integer 60, `60,5` and `60.5` in a CSV separated by ';', where a count
        with dotted thousands, `1.500`, is its text, not 1.5; past 2^53, where a DOUBLE is no longer exact, as its
        exact integer: `9007199254740994`, `9007199254740994.0` and `9.007199254740994e15` are
        one count, up to 10^28, past which a count is compared as its text), `delivered` as its
        boolean; a value that reads as none of these by its text
        (each such column is compared as two: the value read, and the text it was not read from).
        Another column as it is, but in Parquet files that type it otherwise (a typed part
        beside a part of text, read as text), a text that reads as the typed parts' type is
        compared as that value's text, so that a typed row and its copy in a part of text are
        one row twice, as they are in one file of either type."""
        kind = self.types.get(name, "VARCHAR")
        text = f"CAST({value} AS VARCHAR)"
        if name == "start":
            if kind.startswith("TIMESTAMP"):
                return value  # (an instant already)
            ts = start_sql(value)
            return f"{ts}, CASE WHEN {ts} IS NULL THEN {text} END"
        if name in NUMBER_COLUMNS:
            if kind in _WHOLE:
                return value
            if name == "duration_s" and self._decimal_commas:  # (`60,5` and `60.5`: one duration)
                value = decimal_comma_sql(value)
            d = f"TRY_CAST({value} AS DOUBLE)"  # (+ 0: -0.0 is 0)
            exact = f"abs({d}) < {_EXACT_DOUBLE}"
            if kind in ("DOUBLE", "FLOAT"):  # past 2^53 a float is whole: its integer, exactly
                whole = f"CAST(TRY_CAST({value} AS HUGEINT) AS VARCHAR)"
            else:  # a text or a decimal read exactly (a DOUBLE cast to DECIMAL is not exact)
                n = f"TRY_CAST({value} AS DECIMAL(38, 10))"
                whole = f"CASE WHEN {n} = trunc({n}) THEN CAST(CAST({n} AS HUGEINT) AS VARCHAR) END"
            number = f"CASE WHEN {exact} THEN {d} + 0 END"
            other = f"CASE WHEN {exact} THEN NULL ELSE COALESCE({whole}, {text}) END"
            # A text that is no number though DuckDB reads one (`no_number_sql`): its text compared;
            # `hashed`: not looked for, the hash of its number coarser than the comparison.
            if kind == "VARCHAR" and not hashed:
                no = no_number_sql(text, grouped=self._decimal_commas, duration=name == "duration_s")
                number, other = (
                    f"CASE WHEN {no} THEN NULL ELSE {number} END",
                    f"CASE WHEN {no} THEN {text} ELSE {other} END",
                )
            return f"{number}, {other}"
        if name == "delivered":
            if kind == "BOOLEAN":
                return value
            b = f"TRY_CAST({value} AS BOOLEAN)"
            return f"{b}, CASE WHEN {b} IS NULL THEN {text} END"
        typed = {t[name] for t in self._part_types if t.get(name, "VARCHAR") != "VARCHAR"}
        if not typed or self.types.get(name) != "VARCHAR":
            return value
        if all(t.startswith("TIMESTAMP") for t in typed):
            kind = "TIMESTAMPTZ"  # (a start without a time zone is read in UTC, as the rating reads it)
        elif typed <= _WHOLE:
            kind = "HUGEINT"
        elif typed <= _WHOLE | {"FLOAT", "DOUBLE"}:
            kind = "DOUBLE"
        elif typed == {"BOOLEAN"}:
            kind = "BOOLEAN"
        else:
            return value  # types with no common reading: compared as their texts
        return f"COALESCE(CAST(TRY_CAST({value} AS {kind}) AS VARCHAR), {value})"

    def _parquet_rows(self, rows: Sequence[tuple[int, int]]) -> str:
        """SQL: these rows (file index, row of the file from 0) as `numbered` has them, each file
        read for its rows alone (DuckDB skips to them by their row numbers)."""
        by_file: dict[int, set[int]] = {}
        for f, r in rows:
            by_file.setdefault(f, set()).add(r)

        def columns(f: int) -> str:  # files whose columns differ: each at the input's type
            if not self._part_types:
                return "* EXCLUDE (file_row_number)"
            own = self._part_types[f]

            def value(n: str) -> str:
                if n == "zone" and n not in own and "serving_plmn" in own:  # (its rows' networks')
                    return usage_zone_sql(_ident("serving_plmn"))
                return _ident(n) if n in own else "NULL"

            return (
                ", ".join(f"CAST({value(n)} AS {kind}) AS {_ident(n)}" for n, kind in self.types.items())
                + f", {FILE_COL}"
            )

        union = " UNION ALL ".join(
            f"SELECT {columns(f)}, file_row_number + 2 AS {ROW_COL} "
            f"FROM read_parquet([{_lit([str(self.files[f])])}], file_row_number = true, filename = '{FILE_COL}') "
            f"WHERE file_row_number IN ({', '.join(str(int(r)) for r in sorted(found))})"
            for f, found in sorted(by_file.items())
        )
        return union if self._part_types else f"SELECT * FROM {self._zoned(f'({union})')}"

    def _csv_repeats(self, rows: Sequence[tuple[int, int]]) -> str:
        """SQL: the rows of the CSV file (file index 0, row from 0) that DuckDB's duplicate search
        would compare, as `numbered` has them: among these rows, every one alike in the row
        proof's hashes, those whose fields come twice or more as DuckDB's reader splits their
        lines, the values the rating reads (start, counts, `delivered`) left for DuckDB to compare
        as it reads them (`_compared`: `60` and `60.0` are one count); "" when none."""
        from collections import Counter

        assert self._csv_plans is not None
        texts = _csv_texts(self._csv_plans, rows)
        fields = dict(zip(texts, _csv_fields(list(texts.values()), self._delimiter), strict=True))
        kept = [i for i, name in enumerate(self._header) if name not in _READ_AS_VALUES]

        def texts_of(f: tuple[str | None, ...]) -> tuple[str | None, ...]:
            return tuple(f[i] for i in kept)

        alike = {f for f, n in Counter(map(texts_of, fields.values())).items() if n > 1}
        if not alike:
            return ""
        return self._csv_numbered(
            "dup_candidates", [(row, f) for row, f in sorted(fields.items()) if texts_of(f) in alike]
        )

    def _csv_numbered(
        self, name: str, fields: Sequence[tuple[tuple[int, int], tuple[str | None, ...]]]
    ) -> str:
        """SQL: rows of the CSV files ((file index, row of the file from 0), with their fields) as
        `numbered` has them, kept as the table `name`."""
        found = [(*f, str(self.files[i]), str(row + 2)) for (i, row), f in fields]  # (the header is row 1)
        self._table(name, [*self._header, FILE_COL, ROW_COL], found)
        rows = f"(SELECT * REPLACE (CAST({ROW_COL} AS BIGINT) AS {ROW_COL}) FROM {name})"
        return f"SELECT * FROM {self._zoned(rows)}"

    def _numbered_with_duplicates(self) -> str:
        """The numbered rows, each duplicate with the file and row of the first copy (`dup_rows`)."""
        return (
            f"(SELECT n.*, d.first_f AS {DUP_FILE}, d.first_r AS {DUP_ROW} FROM {self.numbered} AS n "
            f"LEFT JOIN dup_rows AS d ON n.{FILE_COL} IS NOT DISTINCT FROM d.f AND n.{ROW_COL} = d.r)"
        )

    def _duplicate_rows(self, limit: int) -> list[tuple[Any, ...]]:
        """The rows of `dup_rows` as the listing's scan gives them (file, row, no reason, first file,
        first row), in file order, at most `limit`: the rejects when duplicates are the only ones
        (none when `_dedupe` found none, and made no table)."""
        if not self.duplicates:
            return []
        order = self._file_order("f")
        return self._fetch(
            f"SELECT f, r, NULL, first_f, first_r FROM dup_rows ORDER BY {order}, r LIMIT {int(limit)}"
        )


class _Unproven(Exception):
    """The pyarrow pass could not check every row (`UsageReader._proven_aggregate`)."""


def _record_checks(month_end: datetime) -> list[tuple[str, str]]:
    """(code, SQL) of the checks of what no network produces, over the aliases type_v, ts, dur, bu,
    bd of a normalised row (its start in the month, its numbers in range), each a WHEN of a CASE
    (NULL: not taken).  The numeric test comes first: it rules out almost every row, and DuckDB
    tests the type (text) only on the rows it leaves."""
    end = int(month_end.timestamp()) + PAST_MONTH_END_S
    return [
        ("over-12h", f"dur > {MAX_RECORD_S} AND type_v = 'data'"),
        ("past-month-end", f"dur > {end} - epoch(ts) AND type_v IN ('data', 'voice', 'csd')"),
        (
            "too-many-octets",
            f"CAST(bu AS DOUBLE) + bd > {MAX_OCTETS_PER_S}.0 * GREATEST(COALESCE(dur, {MAX_RECORD_S}), 1) "
            "AND type_v = 'data'",
        ),
    ]


def _is_arrow_table(source: object) -> bool:
    """An Arrow table (only made when pyarrow is already imported: no need to import it to ask)."""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(source, pa.Table)


_OTHER_COMPRESSION = {
    ".bz2": "bzip2",
    ".xz": "xz",
    ".lzma": "lzma",
    ".zip": "zip",
    ".lz4": "lz4",
    ".7z": "7-Zip",
}


def _is_csv(path: Path) -> bool:
    """A CSV file by its name: `.csv` or `.txt`, maybe compressed by gzip or zstd."""
    name = path.name.lower()
    return name.endswith(CSV_NAMES) or compressed_csv(name) is not None


_WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_PARQUET_NAMES = (".parquet", ".parq", ".pq")


def is_csv_input(path: Path) -> bool:
    """Whether a usage file is read as a CSV: by its name (`.csv`, `.txt`, `.tsv`, maybe `.gz` or
    `.zst`), or by its content when its name says neither (`_text_by_content`)."""
    return _is_csv(path) or _text_by_content(path)


def input_files(paths: Sequence[Path], *, once: bool = True) -> list[Path]:
    """The usage files a list of paths names, as the rating reads them (`_listed_files`: a folder's
    parts, or its Parquet or CSV files; each file once, `m2msim.inputs.each_once`); not `once`: as
    listed, a file named twice (a link to another there) twice, as a run's checks see its folder."""
    listed = _listed_files(paths)
    return each_once(listed)[0] if once else listed


def has_usage_columns(path: Path) -> bool:
    """Whether `path` is, by its name, a Parquet file or a CSV whose columns are a usage file's
    (`REQUIRED`: line, type, start, in its schema or its header row)."""
    if path.name.lower().endswith(_PARQUET_NAMES):
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (OSError, ValueError):  # (not Parquet data: no columns to tell)
            return False
        return all(column in names for column in REQUIRED)
    if _is_csv(path):
        try:
            _csv_header(path)
        except UsageError:
            return False
        return True
    return False


def csv_read_options(header: Sequence[str], delimiter: str) -> str:
    """The options of DuckDB's `read_csv` that read a usage CSV as the rating reads it: its header's
    columns, every one as text, its separator, `"` quoting and escaping, lines up to
    `MAX_CSV_LINE` (what it does with a malformed row is the caller's option)."""
    columns = "{" + ", ".join(f"'{_sql_safe(n)}': 'VARCHAR'" for n in header) + "}"
    return (
        f"header = true, auto_detect = false, columns = {columns}, delim = '{_sql_safe(delimiter)}', "
        f"quote = '\"', escape = '\"', max_line_size = {MAX_CSV_LINE}"
    )


def csv_layout(path: Path) -> tuple[list[str], str]:
    """A usage CSV's column names and separator, as the rating reads them (`_csv_header`)."""
    return _csv_header(path)


def _text_by_content(path: Path) -> bool:
    """A file named neither as a CSV nor as Parquet (`cdr-20260301.dat`, no extension) read as a
    CSV unless it begins as Parquet does (`PAR1`)."""
    if path.name.lower().endswith(_PARQUET_NAMES):
        return False
    try:
        with path.open("rb") as f:
            return f.read(4) != b"PAR1"
    except OSError:
        return False  # (the Parquet reader says why)


def _other_compression(path: Path) -> None:
    """`UsageError` for a file named as a CSV compressed otherwise (`usage.csv.bz2`), or as a
    spreadsheet's workbook, rather than its bytes read as Parquet's."""
    name = path.name.lower()
    if name.endswith(_WORKBOOKS):
        raise UsageError(
            str(path),
            f"a spreadsheet workbook ({path.suffix}), not a usage file: save its sheet as CSV "
            "(UTF-8, comma- or semicolon-separated) and rate that",
        )
    kind = compressed_csv(name, _OTHER_COMPRESSION)
    if kind is not None:
        raise UsageError(
            str(path),
            f"a CSV compressed by {kind}: usage CSVs are read as they are, or compressed by gzip "
            "(.csv.gz) or zstd (.csv.zst); decompress it, or compress it by one of those",
        )


class FileState(NamedTuple):
    """What tells a file's content changed: the file itself (device, inode), its size, the time
    of its last change."""

    device: int
    inode: int
    size: int
    changed: int  # ns

    def change(self, now: FileState) -> str:
        """How `now` differs from this state, in words."""
        if (now.device, now.inode) != (self.device, self.inode):
            return "another file now has its name"
        if now.size != self.size:
            return f"{self.size:,} bytes when first read, {now.size:,} now"
        return "written to"


def file_state(path: Path) -> FileState:
    st = path.stat()
    return FileState(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


IDENTITY_BLOCK = 1 << 16  # bytes hashed at each end of a usage file (`file_identity`)
_FOOTER_MOST = 1 << 24  # a Parquet footer hashed whole up to this many bytes


def file_identity(path: Path, name: str | None = None) -> dict[str, Any]:
    """What tells a usage file that was rated from another, cheaply (an invoice's `usage_files`):
    `name` (as given, else the path), its size in bytes and `sampled_sha256`, the SHA-256 of its size (8 bytes, little-endian), its first `IDENTITY_BLOCK`
    bytes and its last `IDENTITY_BLOCK` bytes, or its whole footer when it is a Parquet file's and
    longer (up to 16 MiB): the footer holds every row group's offsets, row counts and column
    statistics, so a Parquet file of other records has another. A few hundred KiB read, whatever
    the file's size (a whole 10 M-row file hashed cost seconds); a CSV changed only in its middle,
    its size kept, is not told by it. Not its time of change: a copy changes it, and a run's
    invoice is the same bytes when the run is made again."""
    import hashlib

    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        size = st.st_size
        digest = hashlib.sha256(size.to_bytes(8, "little"))
        digest.update(f.read(IDENTITY_BLOCK))
        tail = IDENTITY_BLOCK
        if size >= 12:
            f.seek(size - 8)
            end = f.read(8)
            if end[4:] == b"PAR1":
                tail = max(tail, min(int.from_bytes(end[:4], "little") + 8, _FOOTER_MOST))
        start = max(IDENTITY_BLOCK, size - tail)
        if start < size:
            f.seek(start)
            digest.update(f.read(size - start))
    return {
        "name": str(path) if name is None else name,
        "bytes": size,
        "sampled_sha256": digest.hexdigest(),
    }


_RUN_TEXTS = frozenset(("invoice.txt", "summary.txt"))  # a run's folder's readable outputs (not usage)


def _listed_files(paths: Sequence[Path]) -> list[Path]:
    """The files the paths name: each path a file, a run folder (its usage, `m2msim.rundir.run_usage`),
    or a folder of usage files (its `part-*.parquet`, else its `*.parquet`, else its `*.csv`, in name
    order; hidden names are m2msim's temporary files); a file named twice (a link to another of
    the folder's) is listed twice: the rating reads it once (`each_once`)."""
    from m2msim.rundir import run_usage_of

    out: list[Path] = []
    for path in paths:
        if path.is_dir() and (usage := run_usage_of(path)) is not None:
            # (a run folder: its usage in whichever form the run wrote it; its invoice, summary and
            # alarms were read as CSV when it had no `usage.parquet`)
            if not usage:
                raise UsageError(
                    str(path),
                    "a run folder without usage records (usage.parquet, usage/part-*.parquet or usage.csv)",
                )
            out.extend(usage)
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            for p in files:  # (a day's export compressed otherwise would be left out without a word)
                if compressed_csv(p.name.lower(), _OTHER_COMPRESSION) is not None:
                    _other_compression(p)
            parquet = [p for p in files if p.name.endswith(".parquet")]
            parts = [p for p in parquet if p.name.startswith("part-")]
            exports = [p for p in files if _is_csv(p) and p.name not in _RUN_TEXTS]
            if parquet and exports:  # (the CSVs' rows would be left out without a word)
                names = ", ".join(p.name for p in exports[:3]) + (", ..." if len(exports) > 3 else "")
                raise UsageError(
                    str(path),
                    f"a folder of Parquet files and CSV files ({names}): give one kind, or the files",
                )
            found = parts or parquet or [p for p in files if _is_csv(p)]
            if not found:
                raise UsageError(str(path), "a folder without usage files (*.parquet or *.csv) in it")
            out.extend(found)
        elif path.is_file():
            _other_compression(path)
            out.append(path)
        else:
            raise UsageError(str(path), "no such file" if not path.exists() else "not a file")
    if not out:
        raise UsageError("<no usage files>", "an empty list of usage files")
    return out


def _describe(files: Sequence[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"


def _gzip_padding(path: Path) -> int:
    """The zero bytes after a gzip file's last member (0: none, or data that are no gzip's)."""
    inflater = None  # (None: between members)
    zeros = -1  # (counted from the first zero byte where a member would begin)
    try:
        with path.open("rb") as f:
            while piece := f.read(1 << 20):
                if zeros >= 0:
                    if piece.strip(b"\0"):
                        return 0
                    zeros += len(piece)
                    continue
                data = piece
                while data:
                    if inflater is None:
                        if data[:1] == b"\0":  # (a member begins 0x1f 0x8b)
                            if data.strip(b"\0"):
                                return 0
                            zeros = len(data)
                            break
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    inflater.decompress(data)
                    if not inflater.eof:
                        break
                    data, inflater = inflater.unused_data, None
    except (OSError, zlib.error):
        return 0
    return max(zeros, 0)


def _file_lines(path: Path) -> Iterator[bytes]:
    """A CSV file's lines as written (inflated when its name says gzip or zstd), each with its `\\n`."""
    if path.name.lower().endswith(".zst"):
        import pyarrow as pa

        with pa.input_stream(str(path), compression="zstd") as stream:
            rest = b""
            while piece := stream.read(1 << 20):
                lines = (rest + piece).split(b"\n")
                rest = lines.pop()
                yield from (line + b"\n" for line in lines)
            if rest:
                yield rest
        return
    with (gzip.open if path.name.lower().endswith(".gz") else open)(path, "rb") as f:
        yield from f


def _csv_header(path: Path) -> tuple[list[str], str]:
    """The column names of a CSV file's first line and the character that separates them (',',
    or ';', a tab or '|' when split by it the names hold the required columns, as a spreadsheet
    exports a CSV in a locale whose lists are separated by ';'), or `UsageError` saying why it
    has none."""
    named_compression(path)
    try:
        if path.name.lower().endswith(".zst"):
            import pyarrow as pa

            from accounting.usage_csv_arrow import zstd_error

            try:
                with pa.input_stream(str(path), compression="zstd") as stream:
                    first = stream.read(MAX_CSV_LINE + 1)
            except OSError as exc:
                if not path.is_file():
                    raise
                raise zstd_error(path, exc) from None
            head = first[: first.find(b"\n") + 1] if b"\n" in first else first
        else:
            opener = gzip.open if path.name.lower().endswith(".gz") else open
            with opener(path, "rb") as f:
                head = f.readline(MAX_CSV_LINE + 1)
    except (OSError, EOFError, zlib.error) as exc:  # (zlib: damaged gzip data)
        raise UsageError(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if not head.strip():
        raise UsageError(str(path), "line 1: empty, expected the header row (line,type,start,...)")
    if len(head) > MAX_CSV_LINE:
        raise UsageError(str(path), f"line 1: longer than {MAX_CSV_LINE:,} bytes, not a usage header")
    kind = other_than_csv(head)
    if kind is not None:
        raise UsageError(str(path), kind)
    if b"\x00" in head:
        raise UsageError(str(path), "line 1: binary data (a NUL byte): not a CSV file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            str(path), f"line 1: not UTF-8 text (byte 0x{head[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    line = text.rstrip("\r\n")
    if "\r" in line or "\n" in line:  # (a line end within the line: DuckDB's reader ends it there)
        raise UsageError(str(path), "line 1: a carriage return within the header row")
    note = separator_note(line)
    if note is not None:
        raise UsageError(str(path), f"line 1: {note}")
    try:
        names = [n.strip() for n in next(csv.reader([line]), [])]
        delimiter = other_separator(names, REQUIRED) or ","
        if delimiter != ",":
            names = [n.strip() for n in next(csv.reader([line], delimiter=delimiter), [])]
    except csv.Error as exc:  # a name past the csv module's 128 KiB: a traceback before
        raise UsageError(str(path), f"line 1: not a usage header ({exc})") from None
    for i, name in enumerate(names):
        if not name:
            # (a spreadsheet writes a separator for each empty column up to the last one it used)
            trailing = not any(names[i:])
            raise UsageError(
                str(path),
                f"line 1: column {i + 1} of the header has no name"
                + (
                    f" (nor has any after it: the separators {delimiter!r} ending each line, as a "
                    "spreadsheet writes them for empty columns; delete those columns and export again)"
                    if trailing
                    else ""
                ),
            )
        if name.lower() in (n.lower() for n in names[:i]):  # (DuckDB's names ignore case)
            raise UsageError(str(path), f"line 1: column {name!r} is named twice in the header")
        near = _misspelt_column(name, names)
        if near is not None:
            raise UsageError(
                str(path),
                f"line 1: column {name!r} is not a usage column: did you mean {near!r}? (left aside, "
                "every row would be rated without it)",
            )
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise UsageError(str(path), f"missing required column(s): {', '.join(missing)}")
    return names, delimiter


def _misspelt_column(name: str, names: Sequence[str]) -> str | None:
    """The rating column `name` was meant to be (`accounting.csv_forms.misspelt_column`), or None."""
    return misspelt_column(name, names, RATING_COLUMNS, GATEWAY_COLUMNS)


FOOTER_KEY = b"m2msim.usage"  # the Parquet footer entry `UsageWriter` writes (JSON; see there)
_UNBOUND = (
    "%s: its footer holds the simulator's claim (m2msim.usage), but the file is not laid out as "
    "the simulator wrote it (written again by another tool, or by a version of m2msim before "
    "the claim named its layout): the claim is not believed, and every row is checked as in "
    "another writer's file"
)


def _parquet_footers(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], query: str
) -> list[tuple[Any, ...]]:
    """The rows of `query` over the files' footers (`{files}` in it: DuckDB's list of them).

    A file that is not Parquet, or is truncated, is refused naming it (the first such file).
    """
    listed = "[" + _lit([str(p) for p in files]) + "]"
    try:
        return con.execute(query.format(files=listed)).fetchall()
    except duckdb.Error as exc:
        for path in files:  # which file: the first one DuckDB cannot read alone
            try:
                con.execute(query.format(files="[" + _lit([str(path)]) + "]")).fetchall()
            except duckdb.Error as one:
                raise UsageError(
                    str(path), f"cannot read: not a Parquet file, or a truncated one ({_first_line(one)})"
                ) from None
        raise UsageError(_describe(files), f"cannot read: {_first_line(exc)}") from None


def _file_types(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> list[dict[str, str]]:
    """Each file's top-level columns and their DuckDB types, from its footer (`parquet_schema()`).

    A file holding a column twice (a writer that appended a column of a name already there) is
    refused naming it, as a CSV header naming a column twice is: DuckDB read the first and named
    the second `zone_1`, pyarrow's pass read both, and the rating took one without a word."""
    if not files:
        return []
    schema = _parquet_footers(
        con, files, "SELECT file_name, name, num_children, duckdb_type FROM parquet_schema({files})"
    )
    elements: dict[str, list[tuple[Any, ...]]] = {}
    for file_name, *element in schema:
        elements.setdefault(str(file_name), []).append(tuple(element))
    out = []
    for path in files:
        names: list[str] = []
        out.append(_top_level_types(elements.get(str(path), []), names))
        _given_once(str(path), names)
    return out


_UNIT_WORDS = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def duration_refused(source: str, durations: Mapping[str, str]) -> UsageError | None:
    """The refusal of a Parquet file whose writer typed a rating count as an Arrow duration
    (`accounting.parquet_small.arrow_durations`: column -> unit), or None.

    Parquet stores an Arrow duration as a bare whole number of its unit, which every reader takes
    for the number itself: `duration_s` of a 90.5 s call written as `duration[ms]` (pandas'
    `to_timedelta` writes `duration[ns]`) was billed as a call of 90,500 s (226.25 EUR instead
    of 0.23), or rejected as lasting past the month.  A duration in seconds is that number."""
    for name in NUMBER_COLUMNS:
        unit = durations.get(name)
        if unit is None or (name == "duration_s" and unit == "s"):
            continue
        if name != "duration_s":
            return UsageError(
                source, f"column {name!r} is an Arrow duration[{unit}]: it is a count of octets"
            )
        per = _PER_SECOND.get(unit)
        stored = f"stored as a whole number of {_UNIT_WORDS[unit]}" if per else "of an unknown unit"
        example = f" (a 90 s call would be read as {90 * per:,} s)" if per else ""
        return UsageError(
            source,
            f"column 'duration_s' is an Arrow duration[{unit}], {stored}, where the column is read as "
            f"seconds{example}: write it as a number of seconds (pandas: .dt.total_seconds())",
        )
    return None


def _duckdb_types(table: pa.Table) -> pa.Table:
    """An Arrow table with its columns of the types DuckDB cannot scan cast to the types DuckDB
    reads their Parquet file as: a decimal256 as a decimal128 up to 38 digits, else a DOUBLE; a
    half float as a float.  Such a table (a Decimal column of pandas or polars) failed in DuckDB
    with a traceback."""
    import pyarrow as pa

    for at, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_decimal256(kind):
            kind = pa.decimal128(kind.precision, kind.scale) if kind.precision <= 38 else pa.float64()
        elif pa.types.is_float16(kind):
            kind = pa.float32()
        if kind != field.type:
            table = table.set_column(at, field.name, table.column(at).cast(kind))
    return table


def _durations_read(table: pa.Table, source: str) -> pa.Table:
    """An Arrow table given as usage, its counts typed as Arrow durations read as a Parquet file
    of them is (`duration_refused`): `duration_s` of `duration[s]` as its whole number of seconds,
    another unit or column refused.  DuckDB reads an Arrow duration as an INTERVAL, which the
    rating refuses (`kind_refused`): a table was refused where the Parquet file written from it
    was rated."""
    import pyarrow as pa

    units = {f.name: f.type.unit for f in table.schema if pa.types.is_duration(f.type)}
    refused = duration_refused(source, units)
    if refused is not None:
        raise refused
    at = table.schema.get_field_index("duration_s")
    if at >= 0 and table.schema.field(at).type == pa.month_day_nano_interval():
        # (in Python: DuckDB reads its nanoseconds as whole microseconds, a 60.0000005 s call 60 s)
        texts = [None if v is None else interval_seconds(*v) for v in table.column(at).to_pylist()]
        return table.set_column(at, "duration_s", pa.array(texts, pa.string()))
    if "duration_s" not in units:
        return table
    return table.set_column(at, "duration_s", table.column(at).cast(pa.int64()))


INTERVAL_MONTHS_WHY = "an interval in months, and a month has no one length in seconds"


def interval_seconds(months: int, days: int, nanoseconds: int) -> str:
    """An interval (`duration_s` typed INTERVAL: a database's export) as the text of its seconds,
    exactly (a day is 86,400 s: the record's times are UTC); one with months is no number of
    seconds, and its text says why (a malformed value naming it).  `interval_seconds_sql` is the
    same reading in DuckDB."""
    seconds = f"{(Decimal(days * 86_400 * 10**9 + nanoseconds).scaleb(-9)).normalize():f}"
    return seconds if months == 0 else f"{months} months + {seconds} s: {INTERVAL_MONTHS_WHY}"


def interval_seconds_sql(value: str) -> str:
    """SQL: `interval_seconds` of the INTERVAL `value` (DuckDB keeps microseconds)."""
    us = (
        f"(datepart('day', {value})::HUGEINT * 86400000000 + datepart('hour', {value})::HUGEINT * 3600000000"
        f" + datepart('minute', {value})::HUGEINT * 60000000 + datepart('microseconds', {value}))"
    )
    seconds = f"rtrim(rtrim(CAST(CAST({us} AS DECIMAL(38, 0)) * 0.000001 AS VARCHAR), '0'), '.')"
    months = f"(datepart('year', {value}) * 12 + datepart('month', {value}))"
    return (
        f"CASE WHEN {months} = 0 THEN {seconds} "
        f"ELSE {months} || ' months + ' || {seconds} || ' s: {INTERVAL_MONTHS_WHY}' END"
    )


def kind_refused(
    source: str,
    types: Mapping[str, str],
    start_held: Callable[[], bool] = lambda: True,
    as_bytes: Mapping[str, str] | None = None,
) -> UsageError | None:
    """The refusal of a file whose writer typed a rating column as a kind of value it cannot be
    read as (`types`: column -> DuckDB type; `as_bytes`: column -> the DuckDB integer type a Parquet
    file keeps as its bytes, a BLOB, its writer's Arrow schema says, `arrow_duckdb_numbers`), or None.

    A `start` typed DATE (a day without its time: DuckDB, polars or Spark writing a `date`
    column) was read as the day's midnight: the records of one line and day alike in every other
    field were rejected as copies of each other, and the rest billed (600,000 rows, 78,222
    rejected as duplicates).  A `start` typed TIME (a time without its day) or as a number (a
    count since 1970 of an unsaid unit), or an octet count typed INTERVAL, made every row a
    malformed value (a `duration_s` typed INTERVAL is read as its seconds, `interval_seconds`).  A `start` of such a type that holds no value (pandas
    writes a column of empty cells as DOUBLE) is no such start: each row's start is missing
    (`start_held`: whether the column holds one, asked only then).  A count kept as the bytes of
    DuckDB's HUGEINT, UHUGEINT or VARINT (BIGNUM) made every row a malformed value too."""
    as_bytes = as_bytes or {}
    said = _start_kind_refused(as_bytes.get("start") or types.get("start", ""))
    if said is not None and start_held():
        return UsageError(source, said)
    for name in NUMBER_COLUMNS:
        what = "a number of seconds" if name == "duration_s" else "a number of octets"
        if name in as_bytes:
            return UsageError(
                source,
                f"column {name!r} is a {as_bytes[name]} kept as its bytes (DuckDB's own integer, as the "
                f"writer's Arrow schema says), where the column is read as {what}: every row would be a "
                f"malformed value: write it as {what}, a BIGINT (DuckDB: CAST({name} AS BIGINT))",
            )
        if types.get(name) == "INTERVAL" and name != "duration_s":  # (a duration's: `interval_seconds`)
            return UsageError(
                source,
                f"column {name!r} is an INTERVAL, where the column is read as {what}: every row "
                f"would be a malformed value: write it as {what}",
            )
    return None


def _start_kind_refused(kind: str) -> str | None:
    """Why a `start` of this DuckDB type is refused (`kind_refused`), or None."""
    if kind == "DATE":
        return (
            "column 'start' is a DATE, a day without its time: a record's start is an instant "
            "(a timestamp, or ISO 8601 text); read as midnight, the records of a day that are "
            "alike in the other columns would be taken for copies of each other: write the start "
            "with its time of day"
        )
    if kind in _WHOLE or kind in _DUCKDB_WHOLE or kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
        return (
            f"column 'start' is a number ({kind}), not a time: a count of seconds, milliseconds or "
            "microseconds since 1970 cannot be told apart: write the start as a timestamp or ISO "
            "8601 text (DuckDB: to_timestamp(start) of seconds, epoch_ms(start) of milliseconds)"
        )
    if kind.startswith("TIME") and not kind.startswith("TIMESTAMP"):
        return (
            f"column 'start' is a {kind}, a time of day without its date: a record's start is "
            "an instant (a timestamp, or ISO 8601 text): write the start with its date"
        )
    return None


def _arrow_schemas(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> dict[str, bytes]:
    """Each Parquet file's `ARROW:schema` footer entry (its writer's Arrow types), by file name."""
    if not files:
        return {}
    rows = _parquet_footers(
        con,
        files,
        "SELECT file_name, value FROM parquet_kv_metadata({files}) "
        f"WHERE key = '{ARROW_SCHEMA_KEY.decode()}'::BLOB",
    )
    return {str(name): bytes(value) for name, value in rows}


def _counts_not_durations(schemas: Mapping[str, bytes], files: Sequence[Path]) -> None:
    """`UsageError` naming the first Parquet file whose footer's Arrow schema (`schemas`) types a
    rating count as a duration the rating would misread (`duration_refused`)."""
    for path in files:
        value = schemas.get(str(path))
        if value is None:
            continue
        refused = duration_refused(str(path), arrow_durations(value))
        if refused is not None:
            raise refused


def part_columns(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> list[set[str]]:
    """Each Parquet file's top-level columns, from its footer, as the rating reads each part of a
    folder by its own columns (a part without `zone` rated in its rows' networks' zones).
    `UsageError` names a file that is not Parquet or holds a column twice."""
    return [set(types) for types in _file_types(con, files)]


def _given_once(source: str, names: Sequence[str]) -> None:
    """`UsageError` when a column is given twice (DuckDB's names ignore case)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        first = seen.setdefault(name.lower(), i)
        if first != i:
            raise UsageError(
                source,
                f"column {name!r} is given twice (columns {first + 1} and {i + 1}): one of them would "
                "be rated and the other left aside",
            )


def _differing(files: Sequence[Path], types: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The files' `types` when their columns differ (in names or types; not in order: DuckDB
    matches them by name), else [] (one file, or alike).  A file without a required column, or
    with a column close to a usage column, is refused naming it: read with the others, its rows
    would be rated without it."""
    if all(t == types[0] for t in types):
        return []
    first: dict[str, tuple[Path, str]] = {}  # each column's first part and type
    for path, own in zip(files, types, strict=True):
        _check_columns(str(path), set(own))
        for name, kind in own.items():
            seen, was = first.setdefault(name, (path, kind))
            if was != kind and any(_NESTED.search(k) for k in (was, kind)):
                raise UsageError(
                    str(path),
                    f"column {name!r} is {kind} where {seen.name}'s is {was}: the parts of one input may "
                    "hold a column as text in one and typed in another, not as lists or structures of "
                    "another shape",
                )
    return list(types)


_NESTED = re.compile(r"\[|^(STRUCT|MAP|UNION)\b")  # DuckDB's types of lists, arrays, structures
_PARQUET_NOT_UTF8 = re.compile(r'Invalid string encoding found in Parquet file "(.+?)": value')


def _parquet_text_not_utf8(exc: UsageError) -> UsageError | None:
    """DuckDB's refusal of a Parquet file holding text that is not UTF-8 (it names the file and
    the value), as a `UsageError` naming the file, the first such row and its column (found by
    pyarrow, which reads the text unchecked), as for a CSV; None for another error."""
    found = _PARQUET_NOT_UTF8.search(exc.reason)
    if found is None:
        return None
    path = found[1]
    where = ""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        texts = [
            f.name
            for f in parquet.schema_arrow
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        first = 2  # (a Parquet file's first row is row 2, as a CSV's after its header)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=texts)
            bad = [(at, name) for name in texts if (at := _first_not_utf8(table.column(name))) is not None]
            if bad:
                at, name = min(bad)
                where = f"row {first + at} (the first row is row 2): column {name!r}: "
                break
            first += table.num_rows
    except (OSError, ValueError, ImportError):
        pass
    return UsageError(
        path, f"{where}not UTF-8 text; it was written from text in another encoding (Latin-1, Windows-1252?)"
    )


def _first_not_utf8(column: Any) -> int | None:
    """The index of a text column's first value that is not UTF-8, or None."""
    import pyarrow as pa

    at = 0
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            for i, value in enumerate(chunk.cast(pa.binary()).to_pylist()):
                try:
                    (value or b"").decode("utf-8")
                except UnicodeDecodeError:
                    return at + i
        at += len(chunk)
    return None


def _check_columns(name: str, cols: set[str]) -> None:
    """`UsageError` naming `name` when its columns lack a required one, or hold one close to a
    usage column (left aside, every row would be rated without it)."""
    for col in sorted(cols):
        near = _misspelt_column(col, list(cols))
        if near is not None:
            raise UsageError(
                name,
                f"column {col!r} is not a usage column: did you mean {near!r}? (left aside, every "
                "row would be rated without it)",
            )
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise UsageError(name, f"missing required column(s): {', '.join(missing)}")


def _footer_claims(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], warn: bool = False
) -> tuple[datetime | None, list[tuple[str, str]], int, frozenset[str]]:
    """What the files' footers say of their records, checked against the files themselves.

    Last, the files (as `str`) whose footer is the simulator's claim (`UsageWriter`), for as many
    rows as the file holds and for the layout its footer describes (`accounting.usage_claim`): the
    only files whose statistics are believed (`_parquet_statistics`).  A claim for another layout
    (the file written again by another tool, or by an older m2msim) is none: `warn`, it is said.

    (the latest end of a record, start + duration_s, over every file; or None when some file
    does not say); each file's (run, shard) when the records are unique by construction (else an
    empty list): every file says so, for its own run and shard, every file of one run (parts of
    two runs may repeat each other's records), no (run, shard) comes twice (the same part given
    twice is checked like any file) and each file holds the number of rows its footer counted;
    and the number of rows
    of the files.  A file that is not Parquet, or is truncated, is refused here.  The footers are
    read by DuckDB; pyarrow reads again only those holding a claim, for their layout.
    """
    rows = _parquet_footers(
        con,
        files,
        "SELECT f.file_name, f.num_rows, k.value FROM parquet_file_metadata({files}) AS f "
        "LEFT JOIN (SELECT file_name, value FROM parquet_kv_metadata({files}) "
        f"WHERE key = '{FOOTER_KEY.decode()}'::BLOB) AS k USING (file_name)",
    )
    footers = {str(name): (num_rows, value) for name, num_rows, value in rows}
    total = sum(int(footers[str(path)][0] or 0) for path in files)
    # each file's claim, read once (None: it has none, or one not for this file)
    claims = {name: _claim(num_rows, value) for name, (num_rows, value) in footers.items()}
    claimed = [path for path in files if claims[str(path)] is not None]
    # a claim is believed only for the file it was written in: the digest of the layout its footer
    # describes (`accounting.usage_claim`), which a file written again by another tool has not
    digests = layout_digests(claimed) if claimed else {}
    for path in claimed:
        doc = claims[str(path)]
        if doc is not None and not claim_bound(doc, digests.get(str(path))):
            claims[str(path)] = None
            if warn:
                log.warning(_UNBOUND, path)
    ours = frozenset(str(path) for path in files if claims[str(path)] is not None)
    ends: list[int] = []
    unique = bool(files)
    origins: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    runs: set[str] = set()  # the runs the claims name: one run's shards alone are unique together
    for path in files:
        num_rows = footers[str(path)][0]
        doc = claims[str(path)]
        if doc is None:
            unique = False
            ends.clear()
            files = []  # nothing more to learn: one file without a claim settles both answers
            break
        key = (str(doc.get("run")), str(doc.get("shard")))
        runs.add(key[0])
        # (two runs' parts may hold the same records: the same devices, seed and scenario under
        # another name, or cut into other shards; each file's claim says nothing of another run's)
        if key in seen or len(runs) > 1 or doc.get("unique") is not True:
            unique = False
        seen.add(key)
        origins.append(key)
        end = doc.get("max_end")
        if isinstance(end, int) and not isinstance(end, bool):
            ends.append(end)
        elif num_rows:
            ends.clear()
            files = []
            break
    try:
        latest = datetime.fromtimestamp(max(ends), UTC) if ends and files else None
    except (OverflowError, OSError, ValueError):
        latest = None  # past any calendar: no help to the check
    return latest, origins if unique else [], total, ours


def _claim(num_rows: Any, value: Any) -> dict[str, Any] | None:
    """A file's footer claim (`UsageWriter`'s JSON) when it counts the rows the file holds, else None."""
    try:
        doc = json.loads(value) if value is not None else None
    except (ValueError, RecursionError):  # (a footer nested 10^5 deep: not ours either)
        return None
    return doc if isinstance(doc, dict) and doc.get("rows") == num_rows else None


def statistics_believed(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> bool:
    """Whether every Parquet file of `files` carries the simulator's footer claim for as many rows as
    it holds: the only files whose statistics (min, max, null count) are taken for the truth; False
    when a file is of another writer, or cannot be read as Parquet."""
    try:
        return len(_footer_claims(con, files)[3]) == len(files)
    except (UsageError, duckdb.Error):
        return False


def disable_optimizers(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Add DuckDB's optimizers `names` to the connection's disabled ones (keeping those already off)."""
    for name in names:
        _disable_optimizer(con, name, False)


def _scans_ignore_statistics(con: duckdb.DuckDBPyConnection, fresh: bool = False) -> None:
    """Keep DuckDB from folding a row check by a file's Parquet statistics.

    DuckDB's `statistics_propagation` takes a column's footer min/max and null count for the truth
    and folds an expression they settle to a constant: `NOT (bytes_up BETWEEN 0 AND ...)` false, so
    that a row holding 10^16 under a footer whose max says 10^8 was billed.  Only the simulator's
    files (their footers, `_footer_claims`) are believed; any other file leaves the optimizer off
    for this connection, and each row check reads the values.  `fresh`: a connection made by
    `connect()`, which disables no optimizer (as in `_keep_try_cast_in_sql`).
    """
    _disable_optimizer(con, "statistics_propagation", fresh)


_CSV_ERRORS = {
    "TOO MANY COLUMNS": "more fields than the header's {n}",
    "MISSING COLUMNS": "fewer fields than the header's {n}",
    "INVALID ENCODING": "not UTF-8 text",
    "INVALID UNICODE": "not UTF-8 text",
    "UNQUOTED VALUE": "a quote is not closed where it should be",
    "UNTERMINATED QUOTES": "a quote is never closed",
    "LINE SIZE OVER MAXIMUM": f"longer than {MAX_CSV_LINE:,} bytes",
}


def _csv_reason(error_type: str, column: str | None, fields: int) -> str:
    text = _CSV_ERRORS.get(error_type, error_type.lower()).format(n=fields)
    if column and error_type in ("INVALID ENCODING", "INVALID UNICODE"):
        text += f" in column {column}"
    return f"{ROW_REASONS['bad-row'][1]}: {text}"


def _true_row(accepted: int, rejected: Sequence[int]) -> int:
    """The row number of the `accepted`-th row the CSV reader kept (1-based), given the sorted row
    numbers it rejected: row 1 is the header."""
    row = accepted + 1
    while True:
        nxt = accepted + 1 + bisect.bisect_right(rejected, row)
        if nxt == row:
            return row
        row = nxt


def _top_level_types(schema: Sequence[tuple[Any, ...]], names: list[str] | None = None) -> dict[str, str]:
    """A file's top-level columns and their DuckDB types, from its `parquet_schema()` rows
    (name, num_children, duckdb_type): the root first, then each element before its children.
    `names`: filled with the columns' names in order, each as often as the file holds it."""
    types: dict[str, str] = {}
    inside = 0  # elements of the current column's subtree still to pass
    for name, children, duckdb_type in schema[1:]:
        if inside:
            inside += (children or 0) - 1
        else:
            types[str(name)] = str(duckdb_type)
            if names is not None:
                names.append(str(name))
            inside = children or 0
    return types


_WHOLE = frozenset(
    ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
)
# DuckDB's integer types past 64 bits that a Parquet file keeps as bytes (`arrow_duckdb_numbers`), or
# an Arrow table as DuckDB's own (VARINT, BIGNUM since DuckDB 1.4), beside HUGEINT
_DUCKDB_WHOLE = frozenset(("UHUGEINT", "VARINT", "BIGNUM"))
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([+-]\d\d(?::\d\d){0,2})?")


def _statistic(text: str | None, duckdb_type: str, upper: bool) -> Any:
    """A Parquet statistic (DuckDB's text of it) as the value the column holds in Python: an int,
    a bool, a datetime (aware, in UTC, for a timestamp with a time zone, else naive); None for any
    other type, or text not of the type.  A timestamp finer than the microsecond is rounded
    outwards to one (`upper`: up), so that the bound still holds."""
    if text is None:
        return None
    if duckdb_type in _WHOLE:
        return int(text) if text.lstrip("-").isdigit() else None
    if duckdb_type == "BOOLEAN":
        return {"true": True, "false": False}.get(text)
    stamp = _STAMP.fullmatch(text) if duckdb_type.startswith("TIMESTAMP") else None
    if stamp is None:
        return None
    day, fraction, zone = stamp.groups(default="")
    aware = "TIME ZONE" in duckdb_type or duckdb_type.startswith("TIMESTAMPTZ")
    if aware != bool(zone):
        return None
    try:
        value = datetime.fromisoformat(f"{day}.{fraction[:6].ljust(6, '0')}{zone}")
        if upper and fraction[6:].strip("0"):
            value += timedelta(microseconds=1)
    except (ValueError, OverflowError):
        return None
    return value.astimezone(UTC) if aware else value


def _parquet_statistics(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    file_types: Sequence[dict[str, str]],
    ours: frozenset[str],
) -> tuple[frozenset[str], dict[str, tuple[Any, Any]]]:
    """What the Parquet files' statistics prove, before reading a row.

    Only the statistics of the simulator's own files (`ours`: their footers' claims,
    `_footer_claims`) are believed.  Any other writer's may be wrong (a footer rewritten, a tool's
    bug): a column of such a file is neither bounded nor empty by them, and its rows are checked
    one by one (by the pyarrow pass's row proof, or DuckDB's scan).  Believed, a footer whose
    `bytes_up` max said 10^8 over a row holding 10^16 billed that row.

    The optional columns that are NULL on every row (the simulator writes every column of the usage
    schema; `delivered`, for SMS Internet only, is often empty throughout): they are left out of the
    scan and of the grouping key.  And the (min, max) of the integer columns over their non-NULL
    values, and of `start` and `delivered` when no row lacks one, when every row group says: a
    check the statistics settle is not made row by row, and a `delivered` that is the same on
    every row (the simulator writes true) is a constant rather than a grouping key.

    DuckDB reads the footers (`parquet_schema()`, read before: `file_types`, each file's columns'
    types; `parquet_metadata()`: each row group's statistics, as text, converted here to the
    column's type).
    """
    empty = set(OPTIONAL)
    ranges: dict[str, tuple[Any, Any]] = {}
    if not files:
        return frozenset(), ranges
    bounded = {"start", "duration_s", "bytes_up", "bytes_down", "delivered"}
    _refuse_hidden_values(con, [p for p in files if str(p) not in ours])
    for path, types in zip(files, file_types, strict=True):
        if str(path) not in ours:  # statistics not believed: each column it holds may hold anything
            empty -= types.keys()
            bounded -= types.keys()
    if not (empty | bounded):
        return frozenset(), ranges  # (no footer to read)
    names = _lit(sorted(empty | bounded))
    try:
        stats = _parquet_footers(
            con,
            files,
            "SELECT file_name, path_in_schema, row_group_id, row_group_num_rows, stats_null_count, "
            "COALESCE(stats_min_value, stats_min), COALESCE(stats_max_value, stats_max) "
            f"FROM parquet_metadata({{files}}) WHERE path_in_schema IN ({names})",
        )
    except UsageError:
        return frozenset(), {}  # DuckDB reports the unreadable file
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for file_name, path_in_schema, *group in stats:
        groups.setdefault((str(file_name), str(path_in_schema)), []).append(tuple(group))
    for path, types in zip(files, file_types, strict=True):
        for name in sorted(empty | bounded):
            duckdb_type = types.get(name)
            if duckdb_type is None:
                bounded.discard(name)
                continue  # not in this file: NULL there too
            kind = {"start": datetime, "delivered": bool}.get(name, int)
            for _, num_rows, null_count, low, high in groups.get((str(path), name), []):
                if null_count != num_rows:
                    empty.discard(name)
                if name in ("start", "delivered") and null_count != 0:
                    bounded.discard(name)  # a row without a start is bad; `delivered` may vary
                if name in bounded and null_count == num_rows:
                    continue  # only NULLs here: nothing to bound
                lo = _statistic(low, duckdb_type, upper=False)
                hi = _statistic(high, duckdb_type, upper=True)
                if not isinstance(lo, kind) or not isinstance(hi, kind):
                    bounded.discard(name)
                elif name in bounded:
                    old = ranges.get(name)
                    if old is None:
                        ranges[name] = (lo, hi)
                    elif isinstance(lo, datetime) and (old[0].tzinfo is None) != (lo.tzinfo is None):
                        bounded.discard(name)  # files that disagree on the time zone: no common bound
                    else:
                        ranges[name] = (min(old[0], lo), max(old[1], hi))
    return frozenset(empty), {k: v for k, v in ranges.items() if k in bounded}


def _refuse_hidden_values(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """Refuse a file whose footer says a usage column's chunk is NULL on every row where it is not.

    DuckDB's Parquet reader takes such a chunk (null count = rows) for NULL without reading it,
    whatever the optimizers: a row's `zone` 'eu' under a footer whose null count said every row
    had none was rated in France.  Each such chunk of a file not the simulator's is read by
    pyarrow (only its definition levels when it is NULL indeed, as exports' empty columns are).
    """
    if not files:
        return
    rows = _parquet_footers(
        con,
        files,
        "SELECT file_name, path_in_schema, row_group_id, row_group_num_rows FROM parquet_metadata({files}) "
        f"WHERE path_in_schema IN ({_lit(sorted(REQUIRED + OPTIONAL))}) "
        "AND row_group_num_rows > 0 AND stats_null_count = row_group_num_rows",
    )
    if not rows:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Each file's footer is parsed once, each row group read once with its columns so flagged: a
    # file of one-row row groups (a writer flushing every record) has thousands of such chunks,
    # and opening the file again for each parsed its whole footer each time (6,000 rows: minutes).
    # One file is open at a time: a folder of more parts than the process may open files at once
    # would have had its later parts unchecked (their opening failing, taken for a damaged file).
    chunks: dict[str, dict[int, list[tuple[str, int]]]] = {}
    for file_name, column, group, num_rows in rows:
        by_group = chunks.setdefault(str(file_name), {})
        by_group.setdefault(int(group), []).append((str(column), int(num_rows)))
    for file_name, by_group in chunks.items():
        try:
            parquet = pq.ParquetFile(file_name)
        except (OSError, pa.ArrowException):
            continue  # (DuckDB's reading names what is wrong with the file)
        with parquet:
            for group, flagged in by_group.items():
                try:
                    table = parquet.read_row_group(group, columns=[c for c, _ in flagged])
                except (OSError, pa.ArrowException):
                    break
                for column, num_rows in flagged:
                    _refuse_hidden_chunk(file_name, column, group, num_rows, table.column(column))


def _refuse_hidden_chunk(file_name: str, column: str, group: int, num_rows: int, values: Any) -> None:
    """`_refuse_hidden_values` of one column chunk read (`values`), said NULL on its `num_rows`."""
    if values.null_count != num_rows:
        held = num_rows - values.null_count
        raise UsageError(
            file_name,
            f"column {column!r}, row group {group}: the footer says every one of its "
            f"{num_rows:,} values is NULL, but {held:,} of them "
            f"{'holds' if held == 1 else 'hold'} a value: its statistics are wrong (write the file again)",
        )


_KEY_COLUMNS = ["k_line", "k_type", "k_zone", "k_dest", "k_deliv"]  # a `Group.key` as a table's row
_KNOWN_BY_ROW = frozenset(("duplicate", "bad-row"))  # rejects listed without reading the rows again
# the codes a proven CSV's aggregates may hold: listed by their keys (`_csv_listing`)
_LISTED_BY_KEY = frozenset(("duplicate", "bad-type", "bad-zone", "bad-plmn", "bad-dest", "no-line"))
_INTEGER_TYPES = frozenset(("BIGINT",))  # read as they are; other types go through TRY_CAST
# A duration given but not a number of seconds in bounds, over the aliases `has_dur` and `dur` (a
# DOUBLE): NaN tested on its own (DuckDB folds `NaN BETWEEN ...` to true by a column's Parquet
# bounds, which leave NaN out).
# A CSV separated by ';' (`UsageReader._grouped_thousands`): a number with dots between groups of
# three digits, maybe with a decimal comma after (`1.000`, `1.234,5`); with spaces, no-break spaces
# or apostrophes between them (`1 234`, `1 234,5`, `1'234.5`); a count of octets with a comma.
_GROUPED_THOUSANDS = r"[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+(,[0-9]*)?"
_SPACED_THOUSANDS = "[+-]?[0-9]{1,3}([ \u00a0\u202f\u2009'][0-9]{3})+([.,][0-9]*)?"
_COMMA_COUNT = r".*[0-9].*,.*|.*,.*[0-9].*"
# The whitespace DuckDB's cast to a number reads past, before or after it (`_separated`)
_CAST_SPACE = r"[ \t\n\r\v\f]*"
# Each with its reason, and the counts it is looked for in.
_SEPARATED_FORMS = (
    (_GROUPED_THOUSANDS, GROUPED_THOUSANDS_WHY, NUMBER_COLUMNS),
    (_SPACED_THOUSANDS, SPACED_THOUSANDS_WHY, NUMBER_COLUMNS),
    (_COMMA_COUNT, COMMA_COUNT_WHY, ("bytes_up", "bytes_down")),
)
# A number written with a decimal comma (`60,5`, `,5`, `1,5E+03`), as a spreadsheet of a locale of
# decimal commas writes one in a CSV separated by ';' (`number_text_sql`), within the whitespace
# DuckDB's cast reads past (a `\s` has no vertical tab: `\v60,5` was malformed where `\v60.5` is 60.5).
_DECIMAL_COMMA = _CAST_SPACE + r"[+-]?([0-9]+,[0-9]*|,[0-9]+)([eE][+-]?[0-9]+)?" + _CAST_SPACE
_BAD_DURATION = f"has_dur AND (dur IS NULL OR NOT isfinite(dur) OR NOT (dur BETWEEN 0 AND {MAX_SECONDS}))"
_NARROW_INTEGER_TYPES = usage_arrow.COUNT_TYPES - _INTEGER_TYPES  # each value exact as a BIGINT: cast
_CALL_TYPES = frozenset(("voice", "csd"))


def _block_groups(
    groups: dict[tuple[Any, ...], Group],
    block: usage_arrow.Block,
    periods: Sequence[int],
    no_calls: Mapping[int, int],
    call_sums: dict[tuple[Any, ...], tuple[Any, ...]],
    seen: set[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """A settled key's groups, made at once when nothing sets one line's apart: every line named,
    every data row with both byte counts, the key's groups new (`seen`: the keys made so far).
    Else its rows, as the settled scan gives them (the call sums into `call_sums`), for the
    aggregate's loop, which makes the groups one by one."""
    raw_type, raw_zone, raw_dest, deliv = block.key
    type_ = raw_type or None
    zone = raw_zone or "fr"
    dest = raw_dest or None
    code = _judge("", type_, zone, dest)  # a named line's
    key = (type_, zone, dest, deliv, code)
    lines = block.lines
    if key in seen or None in lines or "" in lines or (type_ == "data" and block.rows != block.with_bytes):
        if block.calls is not None:
            call_sums.update(zip([(line, *block.key) for line in lines], block.calls, strict=True))
        return [
            (line, *block.key, False, n, ko, w)
            for line, n, ko, w in zip(lines, block.rows, block.ko, block.with_bytes, strict=True)
        ]
    seen.add(key)
    # Made by C loops (zip, map, repeat): a month has tens of thousands of these groups.
    if block.calls is None:
        calls: Iterable[int] = repeat(0)
        beyond: Iterable[Mapping[int, int]] = repeat(no_calls)
    else:
        calls = map(itemgetter(0), block.calls)
        beyond = map(dict, map(zip, repeat(periods), map(itemgetter(slice(1, None)), block.calls)))
    made = map(
        partial(tuple.__new__, Group),  # a Group made without its Python-level constructor
        zip(lines, *map(repeat, key), block.rows, block.ko, calls, beyond, strict=False),
    )
    groups.update(zip(zip(lines, *map(repeat, key), strict=False), made, strict=False))
    return []


def _csv_texts(plans: Sequence[CsvPlan], rows: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The lines of these rows (file index, row of the file from 0) as written (`usage_csv_arrow.lines`)."""
    from accounting import usage_csv_arrow

    by_file: dict[int, list[int]] = {}
    for f, r in rows:
        by_file.setdefault(f, []).append(r)
    return {
        (f, r): text
        for f, wanted in sorted(by_file.items())
        for r, text in usage_csv_arrow.lines(plans[f], wanted).items()
    }


def _csv_fields(texts: Sequence[bytes], delimiter: str = ",") -> list[tuple[str | None, ...]]:
    """Each CSV line's fields as DuckDB's reader gives them (an empty field NULL), in the forms
    the pyarrow reader takes (`usage_csv_arrow`: no quote within a field, so none left open at a
    line's end: one reader splits them all, in half the time of a reader per line)."""
    return [
        tuple(v if v != "" else None for v in row)
        for row in csv.reader((t.decode() for t in texts), delimiter=delimiter)
    ]


def _take_back(groups: dict[tuple[Any, ...], Group], key: tuple[Any, ...], g: Group) -> None:
    """Take an aggregate's rows and sums back out of the one of the same key (which holds them)."""
    kept = groups[key]
    if kept.rows == g.rows:
        del groups[key]
        return
    taken = g.beyond
    if any(taken.values()):
        beyond: Mapping[int, int] = {p: v - taken.get(p, 0) for p, v in kept.beyond.items()}
    else:  # (no call seconds taken: the same mapping, never changed once made)
        beyond = kept.beyond
    # (made without the named tuple's `_replace`: some 10,000 of them for 30,000 rows set aside)
    groups[key] = tuple.__new__(
        Group, (*kept[:6], kept.rows - g.rows, kept.ko - g.ko, kept.calls - g.calls, beyond)
    )


def _add(groups: dict[tuple[Any, ...], Group], g: Group) -> None:
    """Add an aggregate to the one of the same key, if any (raw keys that normalise alike meet here)."""
    key = (g.line, g.type, g.zone, g.dest, g.delivered, g.code)
    old = groups.get(key)
    if old is None:
        groups[key] = g
        return
    before, more = old.beyond, g.beyond
    if more.keys() <= before.keys() and not any(more.values()):
        beyond = before  # (the same sums: the mapping is never changed once made)
    else:
        beyond = {p: before.get(p, 0) + more.get(p, 0) for p in {**before, **more}}
    groups[key] = tuple.__new__(
        Group, (*g[:6], old.rows + g.rows, old.ko + g.ko, old.calls + g.calls, beyond)
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
        return "bad-plmn" if zone is not None and zone.startswith(PLMN_REFUSED) else "bad-zone"
    if type_ in _DEST_TYPES and dest not in _DESTS:
        return "bad-dest"
    if type_ in LINE_TYPES and line is None:
        return "no-line"
    return None


def _value_of(code: str) -> str:
    """SQL text showing the offending value of a row-level reject."""
    column = {
        "bad-type": "NULLIF(CAST(type_v AS VARCHAR), '')",  # ('' is an empty cell: missing)
        "bad-start": "NULLIF(start_raw, '')",
        "outside-month": "start_raw",
        "bad-duration": "CAST(dur_raw AS VARCHAR)",
        "bad-zone": "zone_v",
        "bad-dest": "dest_v",
        "bad-delivered": "CAST(deliv_raw AS VARCHAR)",
        "over-12h": "CAST(dur_raw AS VARCHAR)",
    }.get(code)
    if code == "grouped-thousands":  # each count so written, then why; each form's so
        raws = {"duration_s": "CAST(dur_raw AS VARCHAR)", "bytes_up": "bu_raw", "bytes_down": "bd_raw"}
        pieces = []
        for form, why, names in _SEPARATED_FORMS:
            shown = ", ".join(
                f"CASE WHEN {_separated(raws[name], form)} THEN '{name} ''' || {raws[name]} || '''' END"
                for name in names
            )
            pieces.append(f"NULLIF(concat_ws(', ', {shown}), '') || '{_sql_safe(why)}'")
        return f"' ' || concat_ws('; ', {', '.join(pieces)})"
    if code == "bad-plmn":  # (the mark, then the value and why: `accounting.zones.usage_zone`)
        return "' ' || substr(zone_v, 2)"
    if code == "past-month-end":
        return "' ''' || start_raw || ''' + ' || CAST(dur_raw AS VARCHAR) || ' s'"
    if code in ("bad-bytes", "too-many-octets"):
        return "' ' || COALESCE('''' || bu_raw || '''', 'missing') || '/' || COALESCE('''' || bd_raw || '''', 'missing')"
    if column is None:
        return "''"
    if code == "bad-duration":  # (and why, for a text of more digits than a DOUBLE holds)
        why = f"CASE WHEN {finer_than_double_sql(column)} THEN '{_sql_safe(MANY_DIGITS_WHY)}' ELSE '' END"
        return f"COALESCE(' ' || '''' || {column} || '''' || {why}, ' missing')"
    if code == "bad-start":  # (and why, for a zone's name read as no start: `accounting.starts`)
        return f"COALESCE(' ' || '''' || {column} || '''' || {start_why('start_raw')}, ' missing')"
    return f"COALESCE(' ' || '''' || {column} || '''', ' missing')"


def _separated(value: str, form: str) -> str:
    """SQL true when the text `value` is written in `form` (`_SEPARATED_FORMS`), past the
    whitespace around it that DuckDB's cast reads a number past (`\t60` is 60): a tab, a line
    feed... as well as the spaces `trim` takes off."""
    return f"regexp_full_match(trim({value}), '{_CAST_SPACE}(?:{_sql_safe(form)}){_CAST_SPACE}')"


def number_text_sql(
    value: str, *, decimal_comma: bool = False, grouped: bool = False, duration: bool = False
) -> str:
    """SQL: the text `value` of a count (octets, seconds) as DuckDB's TRY_CAST is to read it: NULL
    (no number: a malformed value) when it holds an underscore, which DuckDB reads between digits
    (`1_000` is 1000) where the contract's numbers are digits and a spreadsheet writes none; with
    `decimal_comma` (a duration in a CSV separated by ';'), its decimal comma read as a point
    (`60,5` is `60.5`, as TRY_CAST then reads it); else as it is.

    The locales whose spreadsheets separate a CSV's fields by ';' are those of the decimal comma
    (French, German, ...): a comma in a number there is a decimal comma, never between thousands
    (`3,600` is 3.6 in each).  A text with a dot and a comma, or spaces between groups of digits,
    is left as it is: a reject saying why (`_SEPARATED_FORMS`).  `grouped` (a count in a CSV
    separated by ';'): a text with dots between thousands (`1.500`: 1500, a reject, where DuckDB
    reads 1.5) is no number either; nor, with `duration`, a text whose fraction is past the
    digits of the DOUBLE that reads it whole (`finer_than_double_sql`)."""
    text = decimal_comma_sql(value) if decimal_comma else value
    return f"(CASE WHEN {no_number_sql(value, grouped=grouped, duration=duration)} THEN NULL ELSE {text} END)"


# A number of more than 15 significant digits (from its first digit not 0 to its last, a point or
# a decimal comma between them): more than a DOUBLE holds exactly (`finer_than_double_sql`).
MANY_DIGITS = r"[1-9](?:[.,]?[0-9]){14}[.,]?[0-9]*[1-9]"
MANY_DIGITS_WHY = (
    ": more significant digits than a DOUBLE holds, whose reading is a whole number of seconds "
    "where the text is not (60.00000000000000001 is read 60): write at most 15 significant digits"
)


def finer_than_double_sql(value: str) -> str:
    """SQL true when the text `value` of a duration is a number that is not whole (a fraction past
    the DOUBLE's digits: `60.00000000000000001`) while DuckDB's DOUBLE reads it as one (60): its
    call would be billed a second short, a record of `43200.0000000000000001` s taken for 12 hours.
    That is a text of more than 15 significant digits read as a whole DOUBLE below 10^15, where
    a whole number has at most 15 (past it, a duration is out of bounds whatever its reading),
    and whose value (a DECIMAL of `ABOVE_PLACES` places) is not below that whole number: one
    just below it (`59.99999999999999999`, read 60) rounds up to it, as its DOUBLE does.  Only a
    text longer than 15 characters can be one."""
    point = f"replace({value}, ',', '.')"
    d = f"TRY_CAST({point} AS DOUBLE)"
    exact = f"TRY_CAST({point} AS DECIMAL(38, {ABOVE_PLACES}))"
    many = f"regexp_matches({value}, '{MANY_DIGITS}')"
    return (
        f"(CASE WHEN length({value}) <= 15 THEN false "
        f"WHEN {many} THEN {d} = trunc({d}) AND abs({d}) < 1e15 "
        f"AND COALESCE(abs({exact}) >= TRY_CAST(TRY_CAST(abs({d}) AS BIGINT) AS DECIMAL(38, {ABOVE_PLACES})), true) ELSE false END)"
    )


# The places of the DECIMAL that compares a duration past a DOUBLE's digits to its whole DOUBLE
# (`finer_than_double_sql`): 15 digits before the point, 23 after.
ABOVE_PLACES = 23


def no_number_sql(value: str, *, grouped: bool = False, duration: bool = False) -> str:
    """SQL true when the text `value` of a count, which DuckDB may read as a number, is none: one
    with an underscore (`1_000`, 1000 to DuckDB); with `grouped` (a CSV separated by ';'), one
    with dots between thousands (`1.500`, 1500 there, a reject, where DuckDB reads 1.5).  The one
    rule of the rating's reading of a count (`number_text_sql`), its duplicate search
    (`UsageReader._compared`) and the report's view.  Each test a branch of a CASE: DuckDB
    evaluates both sides of an AND on every row, a CASE's later branches only on the rows the
    earlier ones left (the regular expression on a text with a dot alone)."""
    if not grouped and not duration:
        return f"contains({value}, '_')"
    rest = "false"
    if grouped:
        dotted = _separated(value, _GROUPED_THOUSANDS)
        rest = f"(CASE WHEN NOT contains({value}, '.') THEN false ELSE {dotted} END)"
    if duration:
        rest = f"(CASE WHEN {finer_than_double_sql(value)} THEN true ELSE {rest} END)"
    return f"(CASE WHEN contains({value}, '_') THEN true ELSE {rest} END)"


def decimal_comma_sql(value: str) -> str:
    """SQL: the text `value` of a duration from a CSV separated by ';' with its decimal comma read
    as a point (`number_text_sql`), any other text as it is."""
    return (
        f"(CASE WHEN NOT contains({value}, ',') THEN {value} "
        f"WHEN regexp_full_match({value}, '{_DECIMAL_COMMA}') THEN replace({value}, ',', '.') ELSE {value} END)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def describe_source(source: Any) -> str:
    return str(source) if isinstance(source, str | Path) else "<table>"
