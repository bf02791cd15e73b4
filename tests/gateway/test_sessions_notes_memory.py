"""The warnings of `sessions-to-records` (a session id given again past `--max-gap`, a gap in a
session's partial records) are kept as numbers and formatted only as they are written: a file of
rows nearly all giving their id again held a message of about 450 bytes a row until the end
(582 MB for 600,000 rows, against 321 MB for the same rows as abutting records)."""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import gateway.sessions_csv as sessions_csv
from gateway.sessions_csv import noted_lines, scan_sessions


def _sessions(path: Path, lines: int, per_line: int, seed: int, reusing: bool) -> Path:
    """Rows of `lines` lines, each line's rows a day and more apart (a few an hour apart), in no
    order: `reusing`, each line's rows under one session id (another session past `--max-gap`, or
    a gap); else each row a session of its own, under an id of the same length."""
    rnd = random.Random(seed)
    rows = []
    for i in range(lines):
        t = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=rnd.randrange(3600))
        for k in range(per_line):
            given = f"id{i % 7:05d}" if reusing else f"u{i * per_line + k:06d}"
            rows.append(f"L{i},{t:%Y-%m-%dT%H:%M:%SZ},600,{rnd.randrange(1, 5000)},7,{given}")
            t += timedelta(seconds=600 + (3600 if rnd.random() < 0.1 else 86_400 + rnd.randrange(1, 7200)))
    rnd.shuffle(rows)
    path.write_text("line,start,duration_s,bytes_up,bytes_down,session\n" + "\n".join(rows) + "\n")
    return path


def _scanned(src: Path) -> tuple[int, list[tuple[int, str]]]:
    """The memory the scan of `src` holds (Python's and Arrow's), and its warnings."""
    tracemalloc.start()
    try:
        before, arrow_before = tracemalloc.get_traced_memory()[0], pa.total_allocated_bytes()
        with scan_sessions(src, 43_200) as scan:
            held = tracemalloc.get_traced_memory()[0] - before
            held += pa.total_allocated_bytes() - arrow_before
            said = list(noted_lines(scan.notes, scan.reused))
            assert len(said) == len(scan.notes) + len(scan.reused)
    finally:
        tracemalloc.stop()
    return held, said


@pytest.mark.parametrize("streamed", [False, True])
def test_noted_rows_are_kept_as_numbers_not_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 64 << 10)
        monkeypatch.setattr(sessions_csv, "BUCKET_ROWS", 2_000)
    _scanned(_sessions(tmp_path / "first.csv", 20, 30, seed=2, reusing=True))  # (the modules it imports)
    held, said = _scanned(_sessions(tmp_path / "reusing.csv", 400, 30, seed=3, reusing=True))
    alone, none = _scanned(_sessions(tmp_path / "alone.csv", 400, 30, seed=3, reusing=False))
    assert len(said) > 10_000 and none == []
    assert [row for row, _ in said] == sorted(row for row, _ in said)
    assert all("of line 'L" in why and "follows row" in why for _, why in said)
    # what the warnings hold until they are written: about 560 bytes a row held as text
    assert (held - alone) / len(said) < 150, (held - alone) / len(said)
