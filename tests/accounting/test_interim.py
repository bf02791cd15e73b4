"""The journal of a live writer's open data sessions and its fold into what a killed writer left
(accounting.interim, m2msim.outputs.keep_left; docs/reliability.md, "Killed")."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from accounting.interim import OpenSessionJournal, fold_open_sessions
from accounting.records import ClosingCause, UsageRecord, UsageType
from accounting.usage_writer import UsageWriter
from m2msim.outputs import OPEN_TAG, host_name, keep_left, left_words

START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _data(session: str, sequence: int, duration_s: int, up: int, cause: int | None = None) -> UsageRecord:
    return UsageRecord(
        line="L1",
        type=UsageType.DATA,
        start=START,
        duration_s=duration_s,
        bytes_up=up,
        bytes_down=2 * up,
        session=session,
        sequence=sequence,
        cause=cause,
    )


def _dead_pid() -> int:
    """The number of a process that has ended (a killed writer's, as the next one sees it)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _name(out: Path, tag: str, pid: int, n: int) -> Path:
    return out.with_name(f".m2msim-{out.name}.{tag}-{host_name()}-{pid}-0000000{n}")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_sessions_open_at_the_kill_are_added_once_each_and_never_over_their_written_record(
    tmp_path: Path,
) -> None:
    """Session A had its 12-hour record written and was open in its second period; B's last record
    was written after its last interim point (it closed: its journal row is superseded); C was open in
    its first period, its rows in two journal files (a fresh start the kill cut short).  Each open
    session gets its latest row, B nothing; a fold repeated (a recovery killed) adds nothing more."""
    out, pid = tmp_path / "usage.csv", _dead_pid()
    with UsageWriter(_name(out, "rec", pid, 1), "csv", batch_rows=1) as w:
        w.write(_data("A", 1, 43_200, 100, int(ClosingCause.TIME_LIMIT)))
        w.write(_data("B", 1, 30, 7, int(ClosingCause.NORMAL)))
    with _name(out, "rec", pid, 1).open("ab") as f:
        f.write(b'"L1","data","2026-03-02T')  # a record the kill cut short
    killed = int(ClosingCause.KILLED)
    older, newer = _name(out, OPEN_TAG, pid, 1), _name(out, OPEN_TAG, pid, 2)
    with UsageWriter(older, "csv", batch_rows=1) as w:
        w.write_many(
            [_data("A", 2, 5, 10, killed), _data("B", 1, 20, 5, killed), _data("C", 1, 3, 1, killed)]
        )
        w.write_many([_data("A", 2, 9, 30, killed), _data("C", 1, 4, 2, killed)])
    with UsageWriter(newer, "csv", batch_rows=1) as w:
        w.write_many([_data("C", 1, 4, 2, killed), _data("C", 1, 8, 6, killed)])
    with newer.open("ab") as f:
        f.write(b'"L1","data"')  # a row the kill cut short

    (kept,) = keep_left(out)
    assert kept.path == tmp_path / f"usage.recovered-{host_name()}-{pid}.csv" and kept.open_sessions == 2
    assert left_words(kept).endswith(
        "up to its last written record, and 2 data sessions it had open up to their last interim point (cause 99)"
    )
    rows = _rows(kept.path)
    assert [(r["session"], r["sequence"], r["cause"], r["bytes_up"]) for r in rows] == [
        ("A", "1", "17", "100"),
        ("B", "1", "0", "7"),
        ("A", "2", "99", "30"),
        ("C", "1", "99", "6"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.path.name]  # the journals removed
    with UsageWriter(older, "csv", batch_rows=1) as w:  # a recovery killed after its fold: again
        w.write(_data("C", 1, 8, 6, killed))
    assert fold_open_sessions(kept.path, [older]) == 0 and _rows(kept.path) == rows


def test_a_journal_whose_records_were_written_whole_is_removed(tmp_path: Path) -> None:
    """A serve killed after its records were renamed into place (every session closed in them) left
    its journal alone: removed by the next, as it backs nothing."""
    out, pid = tmp_path / "usage.csv", _dead_pid()
    journal = _name(out, OPEN_TAG, pid, 1)
    with UsageWriter(journal, "csv", batch_rows=1) as w:
        w.write(_data("A", 1, 5, 10, int(ClosingCause.KILLED)))
    assert keep_left(out) == [] and not journal.exists()


def test_the_journal_appends_what_changed_and_starts_afresh_past_its_size(tmp_path: Path) -> None:
    names = iter(tmp_path / f"journal-{n}.csv" for n in range(10))
    journal = OpenSessionJournal(lambda: next(names), max_bytes=1000)
    first = journal.path
    assert journal.update([_data("A", 1, 1, 10), _data("B", 1, 1, 0)]) == 2
    assert journal.update([_data("A", 1, 2, 10), _data("B", 1, 2, 0)]) == 0  # nothing carried
    assert journal.update([_data("A", 1, 3, 11), _data("B", 1, 61, 0)]) == 2  # bytes; B idle a minute
    assert journal.update([_data("A", 1, 4, 12)]) == 1  # B closed: forgotten
    journal.sync()
    rows = _rows(first or Path())
    assert [r["cause"] for r in rows] == ["99"] * 5 and rows[-1]["bytes_up"] == "12"
    for n in range(13, 19):  # past 1,000 bytes: a fresh file with A's latest row, the old one removed
        journal.update([_data("A", 1, n, n)])
    assert journal.path != first and first is not None and not first.exists()
    fresh = journal.path
    assert fresh is not None and _rows(fresh)[-1]["bytes_up"] == "18"
    journal.close(remove=True)
    assert not fresh.exists()
