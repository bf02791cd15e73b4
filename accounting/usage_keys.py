"""The rows of the aggregates refused by their key, found by pyarrow (`UsageReader._key_listing`).

When every reject of a month is by its key (an unknown type, zone or destination, no line, a
line the inventory does not hold, a service not in the offer) or a duplicate's copy, listing
them needs only each row's key: the key columns of a CSV pyarrow read and proved are read again
by pyarrow (`usage_csv_arrow.key_tables`, two threads) instead of DuckDB reading and converting
every column of every row.  A row is looked at one by one only when each of its key's values is
in some refused key.  (Parquet files are left to DuckDB: reading their key columns with pyarrow,
0.8 s for 30 M rows, saved nothing on DuckDB's listing, 1.1-1.4 s.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Key = tuple[str, str, str, str, str]
COLUMNS = ("line", "type", "zone", "dest", "delivered")


def key_rows(
    sources: Iterable[Iterable[pa.Table | pa.RecordBatch]],
    keys: Collection[Key],
    limit: int,
    skip: Collection[tuple[int, int]] = (),
) -> list[tuple[int, int, Key]]:
    """(source, row from 0, key) of each row whose aggregate key (`usage.group_key` of the line,
    type, zone as the aggregates normalise it, destination and `delivered`) is one of `keys`, in
    order, the (source, row) of `skip` left out, at most `limit`.  `sources`: each file's tables
    or batches of its key columns, in order (a column missing: NULL)."""
    import numpy as np

    from accounting.usage import group_key

    wanted = [{key[i] for key in keys} for i in range(5)]  # each column's values among the keys
    found: list[tuple[int, int, Key]] = []
    for source, parts in enumerate(sources):
        first = 0
        try:
            for part in parts:
                rows = part.num_rows
                maybe: np.ndarray | None = None
                values: list[list[Any]] = []
                indices: list[np.ndarray] = []
                for i, name in enumerate(COLUMNS):
                    if name in part.schema.names:
                        entries, index = _entries(_whole(part.column(name)))
                    else:
                        entries, index = [None], np.zeros(rows, np.int8)
                    table = np.array([_text(i, v) in wanted[i] for v in entries], bool)
                    values.append(entries)
                    indices.append(index)
                    if table.all():
                        continue  # every row's value is among the keys'
                    maybe = table[index] if maybe is None else maybe & table[index]
                rows_in = range(rows) if maybe is None else np.flatnonzero(maybe).tolist()
                for row in rows_in:
                    if (source, first + row) in skip:
                        continue
                    line, type_, zone, dest, deliv = (values[i][int(indices[i][row])] for i in range(5))
                    key = group_key(line, type_, zone or "fr", dest, deliv)
                    if key in keys:
                        found.append((source, first + row, key))
                        if len(found) >= limit:
                            return found
                first += rows
        finally:
            close = getattr(parts, "close", None)
            if close is not None:  # a generator left early: its readers shut
                close()
    return found


def _whole(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array (a table's column may come in chunks)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.unify_dictionaries() if pa.types.is_dictionary(column.type) else column
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _entries(column: pa.Array) -> tuple[list[Any], np.ndarray]:
    """A key column's values and each row's index among them (the last value: NULL)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        entries = [*column.dictionary.to_pylist(), None]
        indices = column.indices
        if indices.null_count:
            indices = indices.fill_null(len(entries) - 1)
        return entries, indices.to_numpy()
    if pa.types.is_boolean(column.type):  # `delivered`
        flags = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int8)
        if column.null_count:
            flags[column.is_null().to_numpy(zero_copy_only=False)] = 2
        return [False, True, None], flags
    return _entries(column.dictionary_encode())


def _text(position: int, value: Any) -> str:
    """A key column's value as `usage.group_key` writes it (the zone as the aggregates normalise
    it: empty or NULL is 'fr')."""
    if position == 2:
        return str(value or "fr")
    if position == 4:
        return "" if value is None else str(value).lower()
    return str(value or "")
