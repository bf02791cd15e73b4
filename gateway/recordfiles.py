"""Usage records streamed to a file atomically, with the totals a command's summary prints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from accounting.records import UsageRecord
from accounting.usage_writer import UsageWriter, format_for, is_usage_file, misnamed_output
from m2msim.outputs import OutputError, atomic_path, output_lock


@dataclass(slots=True)
class Totals:
    records: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    lines: set[str] = field(default_factory=set)


def write_records(
    records: Iterable[UsageRecord], out: Path | None, *, force: bool = False, option: str = "--out"
) -> Totals:
    """Consume `records`, writing them to `out` (.csv, else Parquet) when given; the totals.

    The file appears whole or not at all: written under a temporary name beside `out` and
    renamed at the end; any exception (from the records' source too) leaves `out` as it was.
    A file at `out` that is not usage records as m2msim writes them is never replaced, unless
    `force` (`OutputError`, before the first record is read; m2msim.outputs).  `out` is held for
    the whole reading (`output_lock`): a second command writing it meanwhile is refused at once.
    """
    totals = Totals()

    def counted(record: UsageRecord) -> UsageRecord:
        totals.records += 1
        totals.bytes_up += record.bytes_up
        totals.bytes_down += record.bytes_down
        totals.lines.add(record.line)
        return record

    if out is None:
        for record in records:
            counted(record)
        return totals
    misnamed = misnamed_output(out)
    if misnamed is not None:
        raise OutputError(f"{option} {out}: {misnamed}")
    out.parent.mkdir(parents=True, exist_ok=True)
    guarded = atomic_path(out, own=is_usage_file, force=force, option=option)
    with output_lock(out), guarded as tmp, UsageWriter(tmp, format_for(out)) as writer:
        for record in records:
            writer.write(counted(record))
    return totals
