"""A usage file that changes while it is being rated (an export still being written, a file cut
short or replaced by another): the rating stops with one line naming the file and what changed,
exit 2, and no invoice, rather than rate rows read from two versions of the file.

The change is made at a chosen point of the reading (a hook on the reader's own steps), so each
test is replayable.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from usage_forms import INV, csv_file

from accounting import usage_csv_arrow
from accounting.engine import rate_run
from accounting.errors import FileChanged
from accounting.usage import UsageReader, connect
from accounting.usage_small import SmallUsageReader, small_reader
from m2msim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"


def _chunked(path: Path, monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """The CSV file read by pyarrow in chunks of a few lines, `change(path)` made just before the
    second chunk is read."""
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    monkeypatch.setattr(usage_csv_arrow, "PIECE", 1_000)
    real = usage_csv_arrow._table
    calls: list[int] = []

    def hooked(data: Any, plan: Any) -> Any:
        calls.append(len(data))
        if len(calls) == 2:
            change(path)
        return real(data, plan)

    monkeypatch.setattr(usage_csv_arrow, "_table", hooked)


def _csv(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / "usage.csv"
    path.write_bytes(csv_file(random.Random(seed), "bare", 1_500))
    return path


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["usage.csv", "usage.csv.gz"])
def test_a_csv_cut_short_while_its_chunks_are_read_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, name: str
) -> None:
    """Found by the pass's own short read; a file compressed by gzip, by its inflater finding
    the file ending within its member (DuckDB then refuses it): the refusal names the change."""
    import gzip

    path = _csv(tmp_path, 1)
    if name.endswith(".gz"):
        path = path.rename(tmp_path / name)
        path.write_bytes(gzip.compress(path.read_bytes()))
    size = path.stat().st_size

    def cut(p: Path) -> None:
        os.truncate(p, size // 3)

    _chunked(path, monkeypatch, cut)
    with pytest.raises(FileChanged) as caught:
        rate_run(INV, path, reader=UsageReader(path, connect(threads=threads)))
    assert str(caught.value) == (
        f"{path}: changed while it was being read ({size:,} bytes when first read, {size // 3:,} now): "
        "nothing was rated; rate it once it is complete"
    )
    if not name.endswith(".gz"):  # (DuckDB did not go on to read what is left of the file)
        assert str(caught.value.__context__).endswith(
            "changed while it was being read (cut short): nothing was rated; rate it once it is complete"
        )


def test_a_csv_still_being_written_is_refused_with_its_two_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path, 2)
    size = path.stat().st_size
    extra = path.read_bytes().splitlines(keepends=True)[1]

    def append(p: Path) -> None:
        with p.open("ab") as f:
            f.write(extra)

    _chunked(path, monkeypatch, append)
    with pytest.raises(FileChanged) as caught:
        rate_run(INV, path, reader=UsageReader(path, connect(threads=2)))
    assert f"({size:,} bytes when first read, {size + len(extra):,} now)" in str(caught.value)


def test_the_same_csv_left_alone_is_rated_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _csv(tmp_path, 3)
    _chunked(path, monkeypatch, lambda p: None)
    run = rate_run(INV, path, reader=UsageReader(path, connect(threads=2)))
    assert run.rated.rows == 1_500


def test_a_parquet_file_replaced_by_another_while_rated_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, other = tmp_path / "usage.parquet", tmp_path / "other.parquet"
    table = pacsv.read_csv(pa.BufferReader(csv_file(random.Random(4), "bare", 500)))
    pq.write_table(table, path)
    pq.write_table(table, other)  # the same rows: only the file's identity tells the change
    real = UsageReader.aggregate

    def aggregate(reader: UsageReader, *args: Any) -> Any:
        found = real(reader, *args)
        os.replace(other, path)
        return found

    monkeypatch.setattr(UsageReader, "aggregate", aggregate)
    with pytest.raises(FileChanged, match="another file now has its name"):
        rate_run(INV, path, reader=UsageReader(path, connect(threads=2)))


def test_a_small_file_written_to_after_it_was_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        "line,type,start,duration_s,bytes_up,bytes_down,zone,dest\nV1,data,2026-03-02T10:00:00Z,60,1000,2000,fr,\n",
        encoding="utf-8",
    )
    reader = small_reader(path)
    assert reader is not None  # read whole, without DuckDB
    real = SmallUsageReader.aggregate

    def aggregate(self: SmallUsageReader, *args: Any) -> Any:
        found = real(self, *args)
        before = path.stat()
        path.write_bytes(path.read_bytes())  # the same bytes written again, a newer time of change
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
        return found

    monkeypatch.setattr(SmallUsageReader, "aggregate", aggregate)
    with pytest.raises(FileChanged, match=r"\(written to\)"):
        rate_run(INV, path, reader=reader)


def test_the_command_refuses_a_file_that_changed_in_one_line_and_writes_no_invoice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = tmp_path / "usage.csv", tmp_path / "invoice.txt"
    text = (EXAMPLE / "usage.csv").read_bytes()
    path.write_bytes(text)
    row = text.splitlines(keepends=True)[1]
    real = UsageReader.aggregate

    def aggregate(self: UsageReader, *args: Any) -> Any:
        found = real(self, *args)
        with path.open("ab") as f:  # a row more, as an export still being written adds them
            f.write(row)
        return found

    monkeypatch.setattr(UsageReader, "aggregate", aggregate)
    rc = main(["rate", str(EXAMPLE / "inventory.yaml"), str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == (
        f"m2msim rate: {path}: changed while it was being read ({len(text):,} bytes when first read, "
        f"{len(text) + len(row):,} now): nothing was rated; rate it once it is complete\n"
    )
    assert not out.exists()


def test_a_csv_cut_short_while_its_repeated_rows_are_read_again_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines, lines[10], lines[700]]))  # two rows written twice
    size = path.stat().st_size
    _chunked(path, monkeypatch, lambda p: None)
    real = usage_csv_arrow.lines
    asked: list[int] = []

    def cut_first(plan: Any, rows: Any) -> Any:
        asked.extend(rows)
        os.truncate(path, size // 2)
        return real(plan, rows)

    monkeypatch.setattr(usage_csv_arrow, "lines", cut_first)
    with pytest.raises(FileChanged, match=f"{size:,} bytes when first read, {size // 2:,} now"):
        rate_run(INV, path, reader=UsageReader(path, connect(threads=2)))
    assert asked  # (the repeated rows were being read again when the file was cut)


def test_a_csv_rewritten_alike_in_size_and_time_while_rows_are_read_again_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line end moved in place, the file's size and time of change kept: the spans read again
    to find the repeated rows hold other line ends than the parse counted, and the rating says
    the file changed rather than compare other bytes as those rows."""
    path = _csv(tmp_path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines, lines[10], lines[700]]))  # two rows written twice
    at = sum(len(line) for line in lines[:10]) + lines[10].index(b",")  # in row 10's line
    _chunked(path, monkeypatch, lambda p: None)
    real = usage_csv_arrow.lines

    def rewrite_first(plan: Any, rows: Any) -> Any:
        state = path.stat()
        with path.open("r+b") as f:
            f.seek(at)
            f.write(b"\n")
        os.utime(path, ns=(state.st_atime_ns, state.st_mtime_ns))
        return real(plan, rows)

    monkeypatch.setattr(usage_csv_arrow, "lines", rewrite_first)
    with pytest.raises(FileChanged, match="other lines where they were"):
        rate_run(INV, path, reader=UsageReader(path, connect(threads=2)))
