"""Usage of a line before its activation day, within the month it is activated in.

A line activated on 2026-03-15 is billed the whole of March (no pro rata), but it did not exist
before that day: a record of it started earlier cannot have been made under this subscription.
Such rows are rejected, naming the line's `since`, as a line activated after the month has its
rows rejected (`engine.LINE_NOT_ACTIVE`), before what its offer would say of them (so that
`compare` prices the line alike on every offer).

The readers aggregate a month by line, type, zone and destination, not by day.  While they read,
they note which lines activated within the month have a row before their activation
(`FirstStarts`: from a minimum of the start per aggregate in DuckDB's scans, from the starts the
pyarrow passes read anyway, or one column more, compared with the line's activation); only then
are the rows of those lines alone read again, to sum and list those before it
(`UsageReader.early_rows`).  A month without such rows is read once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from accounting.inventory import Line, Month

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from accounting.usage import Group

log = logging.getLogger(__name__)

LINE_NOT_YET_ACTIVE = "line not yet active"
BEFORE_ACTIVATION = "before-activation"  # the code of an aggregate of rows before the line's activation
LINE_TYPES = frozenset(("data", "sms", "voice", "csd"))  # the usage of a line (not of the fleet's services)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EarlyLines(NamedTuple):
    """What a reader's `early_rows` is asked, after `aggregate`: the rows of these lines that
    start before their activation."""

    month_start: datetime
    month_end: datetime
    cutoffs: Mapping[str, tuple[datetime, str]]  # id -> (activation instant, reject reason)
    keys: Collection[tuple[str, str, str, str, str]]  # the lines' clean aggregates (`Group.key`)
    first_periods: Sequence[int]


def activation_cutoffs(lines: Collection[Line], month: Month) -> dict[str, datetime]:
    """The lines activated after the first day of the billing month: id -> the activation instant
    (00:00 UTC of its `since`, the billing month's time)."""
    out = {}
    for line in lines:
        since = line.since
        if since.day > 1 and month.contains(since):
            out[line.id] = datetime(since.year, since.month, since.day, tzinfo=UTC)
    return out


def reason_for(line: Line) -> str:
    return f"{LINE_NOT_YET_ACTIVE}: line {line.id!r} starts {line.since}"


def micros(moment: datetime) -> int:
    """An instant as microseconds since 1970 (DuckDB's `epoch_us`)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class FirstStarts:
    """The watched lines (activated within the month) that have a row read before their
    activation, found by the readers as they aggregate.  A reader may note a row that turns out
    a reject (a duplicate's copy, a row set aside for DuckDB's checks): `early` only says which
    lines to read again, where the rows are sorted out exactly (`UsageReader.early_rows`)."""

    def __init__(self, cutoffs: Mapping[str, datetime]) -> None:
        self.cutoffs = dict(cutoffs)
        # The lines still watched (a line seen is read again whatever its other rows: no longer
        # looked at), each with its activation in microseconds.
        self._limits = {line: micros(at) for line, at in cutoffs.items()}
        self.seen: set[str] = set()  # the lines with a row before their activation
        self._names: pa.Array | None = None  # the lines still watched, sorted (`note_rows`)
        # their activations in a unit of the starts (microseconds per unit -> the activations in
        # it, rounded up, and one that no start is before), made as `note_rows` is given them
        self._limit_of: dict[int, pa.Array] = {}
        # the last dictionary looked up, the unit, and its entries' activations in it (None: no
        # watched line among them)
        self._last: tuple[pa.Array, int, pa.Array | None] | None = None

    def note(self, line: Any, first: int) -> None:
        """A line's (an aggregate's) earliest start, in microseconds since 1970."""
        limit = self._limits.get(line)
        if limit is not None and first < limit:
            self._seen([line])

    def early(self) -> dict[str, datetime]:
        """The lines with a row read before their activation: id -> the activation instant."""
        return {line: self.cutoffs[line] for line in self.seen}

    def _seen(self, lines: Iterable[str]) -> None:
        """These lines have a row before their activation: no longer watched."""
        for line in lines:
            self.seen.add(line)
            if self._limits.pop(line, None) is not None:
                self._names, self._last = None, None

    def note_rows(
        self, lines: pa.Array, starts: np.ndarray, skip: np.ndarray | None = None, unit: int = 1
    ) -> None:
        """The starts of a batch's rows, in units of `unit` microseconds (1: microseconds since
        1970, 1,000: milliseconds, as a Parquet timestamp stores them: compared as they are, the
        activations rounded up to the unit), `lines` the batch's line column (a dictionary or
        text), `skip` the rows not to note (None: none).  A lookup of the dictionary's values
        among the lines still watched, then a comparison per row with its line's activation (a
        line not watched: the earliest instant there is); nothing once every line is seen."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self._limits:
            return  # (every watched line seen: nothing more to learn from the month's rows)
        if self._names is None:
            names = sorted(self._limits)
            self._names = pa.array(names, pa.string())
            self._limit_of = {}
        limit_of = self._limit_of.get(unit)
        if limit_of is None:
            at = np.array([self._limits[n] for n in self._names.to_pylist()], np.int64)
            limit_of = self._limit_of[unit] = pa.array(
                np.append(-(-at // unit), np.iinfo(np.int64).min), pa.int64()
            )
        if not pa.types.is_dictionary(lines.type):
            lines = pc.dictionary_encode(lines)
        dictionary = lines.dictionary
        if not pa.types.is_string(dictionary.type):
            dictionary = dictionary.cast(pa.string())
        last = self._last
        if last is not None and last[1] == unit and (last[0] is dictionary or last[0].equals(dictionary)):
            limits = last[2]  # (the row groups of one file often share one dictionary)
        else:
            position = pc.index_in(dictionary, value_set=self._names)
            limits = None
            if position.null_count < len(position):
                limits = limit_of.take(position.fill_null(len(limit_of) - 1))
            self._last = (dictionary, unit, limits)
        if limits is None:
            return  # no watched line in the batch
        unwatched = len(limit_of) - 1
        indices = lines.indices
        if indices.null_count:  # (a row without a line: no line's)
            limits = pa.concat_arrays([limits, limit_of[unwatched:]])
            indices = indices.fill_null(len(limits) - 1)
        # each row's line's activation gathered by Arrow from the 32-bit indices (NumPy's gather
        # first widens them; with the unit as stored, the probe of a settled month's row: 5 -> 3 ns)
        before = starts < limits.take(indices).to_numpy()
        if skip is not None:
            before &= ~skip
        if before.any():
            index = indices.to_numpy(zero_copy_only=False)
            codes = np.unique(index[before])
            self._seen(dictionary.take(pa.array(codes)).to_pylist())


class StartProbe:
    """The pyarrow pass's row check (`usage_arrow.RowCheck`) that only notes the watched lines'
    rows before their activation, for a pass with no other check (typed starts settled by the files' statistics):
    the start column read besides the pass's own."""

    def __init__(self, starts: FirstStarts, line: str, start_type: str) -> None:
        self.starts, self.line, self.start_type = starts, line, start_type
        self.columns = [line, "start"]

    def __call__(self, batch: pa.RecordBatch) -> None:
        import numpy as np
        import pyarrow as pa

        from accounting import usage_arrow_checks as checks

        start = batch.column("start")
        unread: np.ndarray | None
        unit = 1  # microseconds per unit of `values`
        if pa.types.is_timestamp(start.type):
            if start.type.unit in checks.MICROS:  # (compared as stored: no pass to make microseconds)
                values, unit = checks.stored_values(start), checks.MICROS[start.type.unit]
            else:
                values = checks.timestamp_micros(start, self.start_type)
            unread = None if not start.null_count else ~start.is_valid().to_numpy(zero_copy_only=False)
        else:
            if pa.types.is_dictionary(start.type):
                start = start.cast(start.type.value_type)
            values, unread = checks.read_stamps(start)
        if unread is not None:  # (not read here: a bound that sends the line to be read again)
            values = np.where(unread, 0, values)
        self.starts.note_rows(batch.column(self.line), values, unit=unit)


def split(groups: Iterable[Group], before: Iterable[Group]) -> list[Group]:
    """`groups` with the rows of `before` (clean rows of a line before its activation, by the
    aggregates' keys) taken out into aggregates of their own, coded `BEFORE_ACTIVATION`."""
    out: dict[tuple[Any, ...], Group] = {
        (g.line, g.type, g.zone, g.dest, g.delivered, g.code): g for g in groups
    }
    for b in before:
        key = (b.line, b.type, b.zone, b.dest, b.delivered, None)
        whole = out.get(key)
        if whole is None or whole.rows < b.rows:  # (never: the rows are among the aggregate's)
            raise AssertionError(f"rows before activation not in their aggregate: {key}")
        if whole.rows == b.rows:
            del out[key]
        else:
            beyond = {p: s - b.beyond.get(p, 0) for p, s in whole.beyond.items()}
            out[key] = whole._replace(
                rows=whole.rows - b.rows, ko=whole.ko - b.ko, calls=whole.calls - b.calls, beyond=beyond
            )
        coded = b._replace(code=BEFORE_ACTIVATION)
        out[(b.line, b.type, b.zone, b.dest, b.delivered, BEFORE_ACTIVATION)] = coded
    return list(out.values())
