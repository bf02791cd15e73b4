"""Build a usage table in memory (for the simulator's small runs, tests, and the API).

`usage_table(rows)` takes rows as mappings with accounting-io.md's column names and returns an
Arrow table the rating reads like a file; the row numbers of rejects count as in a CSV file with a
header (the first row is row 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from accounting.records import RATING_COLUMNS

COLUMNS = RATING_COLUMNS


def usage_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as text columns, exactly as a CSV file would hold them (None: an empty cell)."""
    data: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    for row in rows:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown usage columns: {sorted(unknown)}")
        for c in COLUMNS:
            v = row.get(c)
            data[c].append(None if v is None else (str(v).lower() if isinstance(v, bool) else str(v)))
    return pa.table({c: pa.array(v, pa.string()) for c, v in data.items()})
