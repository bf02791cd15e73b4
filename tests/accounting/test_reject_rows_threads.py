"""A reject's row is its row in the file, also when DuckDB reads the file on several threads.

The CSV is numbered as DuckDB hands its rows on (`row_number() OVER ()`): the rows must come in
file order whatever the number of threads.  The files here are larger than several of DuckDB's CSV
read buffers, so that several threads scan them; the rejected rows sit at the start, across the
buffers and at the end.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from accounting import inventory_from_dict, load_catalog
from accounting.engine import rate_run
from accounting.inventory import Inventory
from accounting.usage import UsageReader, connect

ROWS = 700_000  # ~45 MB: DuckDB splits a CSV scan in buffers of a few MB, one per thread
HEADER = "line,type,start,duration_s,bytes_up,bytes_down,zone,dest,session\n"
BAD = {  # what a bad row holds -> the reason listed
    "unknown": ("X-UNKNOWN,data,2026-03-02T10:00:00Z,5,1,1,fr,,{n}\n", "unknown line 'X-UNKNOWN'"),
    "start": ("L1,data,yesterday,5,1,1,fr,,{n}\n", "malformed value: start 'yesterday'"),
    "fields": ("L1,data,2026-03-02T10:00:00Z,5,1,1,fr,,{n},extra\n", "malformed row: more fields than"),
}


def _inventory() -> Inventory:
    return inventory_from_dict(
        {
            "customer": "rows",
            "month": "2026-03",
            "lines": [
                {
                    "id": "L1",
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                }
            ],
        }
    )


def _write(path: Path, bad_rows: dict[int, str], salt: str = "s") -> None:
    """ROWS data rows of line L1 (distinct sessions: no duplicates, none with another file of
    another `salt`); file row r (the header is row 1) holds the bad row of kind `bad_rows[r]`."""
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for n in range(2, ROWS + 2):
            kind = bad_rows.get(n)
            if kind is not None:
                f.write(BAD[kind][0].format(n=f"{salt}{n}"))
                continue
            day, sec = divmod(n * 3, 86_400)
            hh, rest = divmod(sec, 3600)
            mm, ss = divmod(rest, 60)
            f.write(
                f"L1,data,2026-03-{day + 1:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z,5,{n % 900},1,fr,,{salt}{n}\n"
            )


def _bad_rows(seed: int) -> dict[int, str]:
    rng = random.Random(seed)
    rows = {2, 3, ROWS + 1, *rng.sample(range(4, ROWS + 1), 40)}
    return {r: rng.choice(sorted(BAD)) for r in sorted(rows)}


@pytest.mark.slow
@pytest.mark.parametrize("threads", [2, 4])
def test_reject_rows_are_file_rows_on_several_threads(tmp_path: Path, threads: int) -> None:
    bad = _bad_rows(seed=threads)
    path = tmp_path / "usage.csv"
    _write(path, bad)
    reader = UsageReader(path, connect(threads=threads))
    invoice = rate_run(_inventory(), None, load_catalog(), reader=reader).invoice
    listed = [(r.row, r.reason) for r in invoice.rejects]
    assert [row for row, _ in listed] == sorted(bad)
    for row, reason in listed:
        assert reason.startswith(BAD[bad[row]][1]), (row, reason)


@pytest.mark.slow
def test_reject_rows_of_several_files_count_from_each_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    bad_a, bad_b = _bad_rows(seed=11), _bad_rows(seed=12)
    _write(first, bad_a, salt="a")
    _write(second, bad_b, salt="b")
    reader = UsageReader([first, second], connect(threads=4))
    invoice = rate_run(_inventory(), None, load_catalog(), reader=reader).invoice
    listed = [(r.file, r.row) for r in invoice.rejects]
    assert listed == [("a.csv", r) for r in sorted(bad_a)] + [("b.csv", r) for r in sorted(bad_b)]
