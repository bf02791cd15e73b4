"""A usage CSV read by pyarrow.csv and proven clean row by row (`accounting.usage_csv_arrow`).

Seeded generated files in the forms users give (bare fields, text in quotes as pyarrow writes
it, a spreadsheet's export with every field quoted and CRLF line ends, quoted headers, any column
order, optional columns missing, an extra column, quoted empty fields, whole counts written with
a fraction), with keys the engine refuses later (unknown lines and types, unknown zones, missing
destinations): the file is read here, in several chunks, and the Groups, the invoice text and its
JSON (with the reject listing) are byte for byte those of DuckDB's reading.  Each form DuckDB may
read otherwise makes the file go to DuckDB; each row the proof does not pass is set aside for
DuckDB to check; and the rating is still the same both ways.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fuzzing import first_then_long
from usage_forms import (
    CSV_STYLES,
    MONTH,
    PERIODS,
    csv_file,
    csv_with_columns,
    key_listings,
    listing,
    rating,
    replace_field,
)

from accounting import usage, usage_csv_arrow
from accounting.usage import UsageReader
from accounting.usage_csv_arrow import SPAN


class _Taken:
    """For each rating from now on: whether the file was read and summed here, and the rows (from
    0) the proof set aside."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: list[bool] = []
        self.aside: list[list[int]] = []
        self._reads = 0
        real = UsageReader._csv_aggregate
        read = usage_csv_arrow.settled_rows

        def spy(*args: Any, **kwargs: Any) -> Any:
            reads = self._reads
            found = real(*args, **kwargs)
            if self._reads > reads:  # the file was read here (and maybe given up after)
                self.answers.append(found is not None)
            return found

        def seen(*args: Any, **kwargs: Any) -> Any:
            self._reads += 1
            found = read(*args, **kwargs)
            if found is not None:
                self.aside.append(found.set_aside)
            return found

        monkeypatch.setattr(UsageReader, "_csv_aggregate", spy)
        monkeypatch.setattr(usage_csv_arrow, "settled_rows", seen)


def _rated(path: Path, here: bool, monkeypatch: pytest.MonkeyPatch, threads: int = 2) -> tuple[Any, ...]:
    """`rating(path)`; `here`: the file may be read by this module (in chunks of a few lines),
    else by DuckDB as a small file is."""
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if here else 1 << 62)
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    return rating(path, threads)


def _same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, threads: int = 2) -> list[bool]:
    """Whether the file was read here (once per rating), the rating the same both ways."""
    taken = _Taken(monkeypatch)
    here = _rated(path, True, monkeypatch, threads)
    made = list(taken.answers)
    by_duckdb = _rated(path, False, monkeypatch, threads)
    assert taken.answers == made, "read here although left to DuckDB"
    assert here == by_duckdb
    return made


@pytest.mark.parametrize("seed", first_then_long(range(16), 8))
def test_clean_files_are_read_here_and_rated_alike_both_ways(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(seed)
    path = tmp_path / "usage.csv"
    path.write_bytes(csv_file(rnd, CSV_STYLES[seed % 4], rnd.randrange(200, 900)))
    assert _same_both_ways(path, monkeypatch) == [True, True]  # the aggregate, and `rate`'s own


@pytest.mark.parametrize("seed", first_then_long(range(4), 2))
def test_a_file_that_begins_with_a_byte_order_mark_is_read_here_alike(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spreadsheet's "CSV UTF-8" export begins with a UTF-8 byte order mark, which DuckDB
    skips: read here too, its rows numbered alike (a bad row, a refused line, a copy among them)."""
    rnd = random.Random(seed)
    rows, lines = _marked(csv_with_columns(rnd, {"zone", "dest", "duration_s"}, rnd.randrange(200, 900)))
    path = tmp_path / "usage.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n" if seed % 2 else "\n").join(lines).encode())
    _marks_read_here_alike(path, rows, lines, monkeypatch)


def _marked(text: str) -> tuple[list[int], list[str]]:
    """The data rows of `text` (`_data_rows`), and its lines with three marks: a bad row
    (`rows[3]`, a negative count: set aside), a refused line (`rows[5]`) and a copy of `rows[9]`
    last."""
    rows = _data_rows(text)
    text = replace_field(text, rows[3], "bytes_up", lambda v: "-7")
    text = replace_field(text, rows[5], "line", lambda v: "NOBODY")
    lines = text.split("\n")
    lines.insert(-1, lines[rows[9] - 1])  # a copy, last
    return rows, lines


def _marks_read_here_alike(
    path: Path, rows: list[int], lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file of `_marked` lines read here and rated alike both ways, its bad row set aside,
    and its marks listed as DuckDB lists them."""
    taken = _Taken(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert taken.aside and rows[3] - 2 in taken.aside[0]
    listed = {r["row"]: r["reason"] for r in json.loads(_rated(path, True, monkeypatch)[2])["rejects"]}
    assert listed[rows[5]] == "unknown line 'NOBODY'" and rows[3] in listed, listed
    assert listed[len(lines) - 1].startswith("duplicate record"), listed


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
@pytest.mark.parametrize("seed", first_then_long(range(3)))
def test_a_file_split_by_another_separator_is_read_here_alike(
    tmp_path: Path, seed: int, delimiter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spreadsheet's export in a locale whose lists are separated by ';' (or a tab, or '|'):
    read here with its separator, a bad row set aside and read back, a refused line and a copy
    listed, as DuckDB reads it with that separator; a comma in a text is text."""
    rnd = random.Random(30 + seed)
    text = csv_with_columns(rnd, {"zone", "dest", "duration_s", "session"}, rnd.randrange(200, 900))
    rows, lines = _marked(text)
    lines = [line.replace(",", delimiter) for line in lines]
    at = [n.strip('"') for n in lines[0].split(delimiter)].index("session")
    fields = lines[rows[7] - 1].split(delimiter)
    fields[at] = f"{fields[at].strip(chr(34))},x"  # (a comma in a text)
    lines[rows[7] - 1] = delimiter.join(fields)
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines))
    _marks_read_here_alike(path, rows, lines, monkeypatch)


def test_the_refused_keys_are_listed_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown lines and types, bad zones and destinations: rows the engine refuses, listed."""
    rnd = random.Random(99)
    text = csv_file(rnd, "pyarrow", 400).decode()
    row = _data_row(text)
    text = replace_field(text, row, "line", lambda v: '"NOBODY"')
    path = tmp_path / "usage.csv"
    path.write_text(text)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    listed = json.loads(_rated(path, True, monkeypatch)[2])["rejects"]
    assert {"row": row, "reason": "unknown line 'NOBODY'"} in listed, listed


@pytest.mark.parametrize("seed", range(2))
def test_a_one_thread_connection_reads_the_chunks_on_its_own_thread(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(50 + seed)
    path = tmp_path / "usage.csv"
    path.write_bytes(csv_file(rnd, CSV_STYLES[seed * 2], 500))
    assert _same_both_ways(path, monkeypatch, threads=1) == [True, True]


def _data_rows(text: str) -> list[int]:
    """The data rows with a duration (their row numbers), past the first few."""
    lines = text.split("\n")
    names = [n.strip('"\r') for n in lines[0].split(",")]
    found = []
    for number, line in enumerate(lines[1:], start=2):
        fields = [f.strip('"\r') for f in line.split(",")]
        data = len(fields) == len(names) and fields[names.index("type")] == "data"
        if number > 10 and data and fields[names.index("duration_s")]:
            found.append(number)
    return found


def _data_row(text: str) -> int:
    return _data_rows(text)[0]


DECLINED: dict[str, Callable[[str, int], str]] = {
    "a lone carriage return": lambda t, r: replace_field(t, r, "bytes_up", lambda v: v + "\r0"),
    "a line ended by CRLF in a file of LF": lambda t, r: t.replace("\n", "\r\n", r)[::1],
    "a quote inside a field": lambda t, r: replace_field(t, r, "line", lambda v: v[:2] + '"' + v[2:]),
    "a character after a closing quote": lambda t, r: replace_field(
        t, r, "line", lambda v: f'"{v.strip(chr(34))}"7'
    ),
    "a blank after a closing quote": lambda t, r: replace_field(
        t, r, "zone", lambda v: f'"{v.strip(chr(34))}" '
    ),
    "a quoted comma": lambda t, r: replace_field(t, r, "line", lambda v: f'"{v.strip(chr(34))},x"'),
    "a quoted newline": lambda t, r: replace_field(t, r, "line", lambda v: f'"{v.strip(chr(34))}\nx"'),
    "an escaped quote": lambda t, r: replace_field(t, r, "line", lambda v: f'"{v.strip(chr(34))}""x"'),
    "an empty line": lambda t, r: replace_field(t, r, "line", lambda v: "\n" + v),
    "too many fields": lambda t, r: replace_field(t, r, "line", lambda v: v + ",x"),
    "a hexadecimal count": lambda t, r: replace_field(t, r, "bytes_up", lambda v: "0x1F"),
    "a count of 16 digits": lambda t, r: replace_field(t, r, "bytes_down", lambda v: "1" * 16),
    "a minus within a count": lambda t, r: replace_field(t, r, "bytes_down", lambda v: '"3-3"'),
    "a count not a number": lambda t, r: replace_field(t, r, "bytes_down", lambda v: "nan"),
    "text that is not UTF-8": lambda t, r: replace_field(t, r, "line", lambda v: v + "\udcff"),
    # (the parse takes any bytes: each column's are checked after it, a start's when set aside)
    "a start that is not UTF-8": lambda t, r: replace_field(t, r, "start", lambda v: v + "\udcff"),
    "a column not rated that is not UTF-8": lambda t, r: replace_field(
        t, r, "session", lambda v: "\udcff" + v
    ),
    "a delivered that is not UTF-8": lambda t, r: replace_field(t, r, "delivered", lambda v: "\udcff"),
    "a zone that is not UTF-8": lambda t, r: replace_field(t, r, "zone", lambda v: "fr\udce9"),
    "a delivered other than true or false": lambda t, r: replace_field(t, r, "delivered", lambda v: "yes"),
    "a long line": lambda t, r: replace_field(t, r, "session", lambda v: "s" * (1 << 19)),
    "a control character": lambda t, r: replace_field(t, r, "session", lambda v: v + "\x01"),
    "a NUL byte": lambda t, r: replace_field(t, r, "line", lambda v: v + "\x00"),
    "a blank in the header": lambda t, r: t.replace(",", ", ", 1),
}


SET_ASIDE: dict[str, Callable[[str, int], str]] = {
    "a negative count": lambda t, r: replace_field(t, r, "bytes_down", lambda v: "-3"),
    "a negative count in quotes": lambda t, r: replace_field(t, r, "bytes_up", lambda v: '"-12"'),
    "a data row without bytes": lambda t, r: replace_field(t, r, "bytes_down", lambda v: ""),
    "a start outside the month": lambda t, r: replace_field(t, r, "start", lambda v: "2026-04-02T10:00:00Z"),
    "a start in another form": lambda t, r: replace_field(t, r, "start", lambda v: "2026-03-10"),
    # (read by DuckDB as the last instant of 23:59:59: accounting.starts)
    "a start on a leap second": lambda t, r: replace_field(t, r, "start", lambda v: "2026-03-10T23:59:60Z"),
    "a record over 12 h": lambda t, r: replace_field(t, r, "duration_s", lambda v: "43201"),
    "a start missing": lambda t, r: replace_field(t, r, "start", lambda v: ""),
}
# (a call rounded up by DuckDB's reading; the file was left to DuckDB at its first fraction; not
# among the seeded tests' choices: in their chunks of a few lines one is many, `FRACTIONS_SHARE`)
FRACTIONS: dict[str, Callable[[str, int], str]] = {
    "a fractional duration": lambda t, r: replace_field(t, r, "duration_s", lambda v: "12.5"),
    "a duration of a fraction in an exponent": lambda t, r: replace_field(
        t, r, "duration_s", lambda v: "1.25e1"
    ),
    "a negative fractional duration": lambda t, r: replace_field(t, r, "duration_s", lambda v: "-0.5"),
}


@pytest.mark.parametrize("case", sorted(SET_ASIDE | FRACTIONS))
def test_each_row_that_may_fail_is_set_aside_for_duckdb(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read here all the same: the row's sums are taken back out and the row is
    checked by DuckDB from its line read again; the same aggregates, invoice and listing."""
    rnd = random.Random(7)
    columns_needed = {"line", "bytes_up", "bytes_down", "duration_s", "zone", "delivered", "session"}
    text = csv_with_columns(rnd, columns_needed)
    row = _data_row(text)
    path = tmp_path / "usage.csv"
    path.write_text((SET_ASIDE | FRACTIONS)[case](text, row))
    taken = _Taken(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert taken.aside[:2] == [[row - 2], [row - 2]]  # (the header is row 1)


def test_a_file_of_many_fractional_durations_is_left_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than 1/16 of a chunk's durations with a fraction (`FRACTIONS_SHARE`): each row set
    aside costs more than DuckDB's reading of the whole file, which reads it (the same rating);
    a few are set aside (`SET_ASIDE`)."""
    rnd = random.Random(9)
    text = csv_with_columns(rnd, {"line", "bytes_up", "bytes_down", "duration_s", "zone", "session"})
    rows = _data_rows(text)
    total = len(text.rstrip("\n").split("\n")) - 1
    assert len(rows) * 16 > total
    for row in rows:
        text = replace_field(text, row, "duration_s", lambda v: v + ".5")
    path = tmp_path / "usage.csv"
    path.write_text(text)
    assert _same_both_ways(path, monkeypatch) in ([False, False], [False], [])


def test_the_rows_set_aside_are_read_again_beside_the_proofs_sort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their lines are read again and split on a thread of their own while the proof's hashes
    are sorted, on two threads and on one; the listing is still DuckDB's."""
    rnd = random.Random(8)
    text = csv_with_columns(rnd, {"line", "bytes_up", "bytes_down", "duration_s", "zone", "session"})
    rows = _data_rows(text)[:3]
    for row in rows:
        text = SET_ASIDE["a negative count"](text, row)
    path = tmp_path / "usage.csv"
    path.write_text(text)
    real = UsageReader._csv_fields_of
    threads: list[str] = []

    def spy(self: UsageReader, plan: Any, asked: list[tuple[int, int]]) -> Any:
        threads.append(threading.current_thread().name)
        assert asked == [(0, r - 2) for r in rows]  # every row set aside, once the checks are done
        return real(self, plan, asked)

    monkeypatch.setattr(UsageReader, "_csv_fields_of", spy)
    for workers in (2, 1):
        threads.clear()
        assert _same_both_ways(path, monkeypatch, workers) == [True, True]
        assert len(threads) == 2 and all(t.startswith("usage-meanwhile") for t in threads), threads


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_each_unsure_form_or_row_leaves_the_file_to_duckdb(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(7)
    columns_needed = {"line", "bytes_up", "bytes_down", "duration_s", "zone", "delivered", "session"}
    text = csv_with_columns(rnd, columns_needed)
    clean = tmp_path / "clean.csv"
    clean.write_text(text)
    assert _same_both_ways(clean, monkeypatch) == [True, True]
    path = tmp_path / "usage.csv"
    path.write_bytes(DECLINED[case](text, _data_row(text)).encode("utf-8", "surrogateescape"))
    # Given up as it was read (DuckDB refusing the file after it: no second rating), or not read.
    assert _same_both_ways(path, monkeypatch) in ([False, False], [False], [])


def test_other_inputs_are_left_to_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files, one or several, plain or compressed (`MIN_BYTES` in all): DuckDB as before."""
    import gzip

    rnd = random.Random(3)
    text = csv_file(rnd, "pyarrow", 300)
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for p in paths:
        p.write_bytes(text)
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(text))
    taken = _Taken(monkeypatch)
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 2 * len(text) + 1)
    UsageReader(paths).aggregate(*MONTH, PERIODS)
    UsageReader(paths[0]).aggregate(*MONTH, PERIODS)
    UsageReader(tmp_path / "c.csv.gz").aggregate(*MONTH, PERIODS)
    assert taken.answers == []
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 2 * len(text))  # (the two files: enough)
    UsageReader(paths).aggregate(*MONTH, PERIODS)
    assert taken.answers == [True]


@pytest.mark.parametrize("seed", first_then_long(range(6), 2))
def test_several_files_are_read_here_one_after_the_other_alike(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of daily exports (one header; some gzip, some CRLF, some ending without a line
    end, one of its header alone): read here as one input, each file's rows numbered on their
    own; rows that may fail set aside in any file, a refused line, a row of one file copied in
    a later one: the rating and its listing (naming each row's file) DuckDB's."""
    rnd = random.Random(90 + seed)
    text = csv_with_columns(rnd, {"zone", "dest", "duration_s", "session"}, rnd.randrange(600, 900))
    lines = text.rstrip("\n").split("\n")
    header, body = lines[0], lines[1:]
    cuts = sorted(rnd.sample(range(1, len(body)), 3))
    days = [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]
    days.insert(rnd.randrange(len(days) + 1), [])  # (a day of no usage: its header alone)
    folder = tmp_path / "exports"
    folder.mkdir()
    aside: list[tuple[int, int]] = []
    refused: list[tuple[int, int]] = []
    texts = []
    for k, day in enumerate(days):
        day_text = "\n".join([header, *day]) + "\n"
        rows = [r for r in _data_rows(day_text) if r < len(day) + 1]
        bad = rnd.sample(rows, min(2, len(rows)))
        for row in bad:
            day_text = SET_ASIDE[rnd.choice([c for c in sorted(SET_ASIDE) if "quotes" not in c])](
                day_text, row
            )
            aside.append((k, row))
        others = [r for r in rows if r not in bad]
        if k == 1 and others:
            day_text = replace_field(day_text, others[-1], "line", lambda v: "NOBODY")
            refused.append((k, others[-1]))
        texts.append(day_text)
    # A copy, in the last file, of a clean row of the first file that has rows.
    k, first = next((k, text) for k, text in enumerate(texts) if text.count("\n") > 1)
    row = next(r for r in _data_rows(first) if (k, r) not in aside + refused)
    texts[-1] += first.split("\n")[row - 1] + "\n"
    for k, day_text in enumerate(texts):
        end = "\r\n" if rnd.random() < 0.4 else "\n"
        raw = end.join(day_text.rstrip("\n").split("\n")).encode() + (
            end.encode() if rnd.random() < 0.7 else b""
        )
        name = f"day-{k:02d}.csv"
        if rnd.random() < 0.5:
            (folder / (name + ".gz")).write_bytes(_gzipped(raw, rnd, 1 + rnd.randrange(2)))
        else:
            (folder / name).write_bytes(raw)
    monkeypatch.setattr(usage_csv_arrow, "PIECE", rnd.choice((61, 4096)))
    monkeypatch.setattr(usage_csv_arrow, "RECENT", rnd.choice((1, 12)))
    taken = _Taken(monkeypatch)
    assert _same_both_ways(folder, monkeypatch, threads=1 + seed % 2) == [True, True]
    assert len(taken.aside[0]) == len(aside), (taken.aside, aside)
    listed, _ = listing(folder, 100_000)
    assert [r["file"] for r in listed if r["reason"].startswith("duplicate record")] == [
        max(p.name for p in folder.iterdir())
    ], listed
    names = sorted(p.name for p in folder.iterdir())
    # (listed under its own file's row number: as an unknown line, or for another key refused first)
    assert set(refused) <= {(names.index(r["file"]), r["row"]) for r in listed}, (refused, listed)


def test_the_chunks_kept_at_hand_are_few_whatever_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of gzip files read one after the other, `RECENT` chunks in all are kept at hand for the
    rows the proof sets aside, the last ones read (a folder of daily files held every file's)."""
    import gzip

    rnd = random.Random(5)
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    monkeypatch.setattr(usage_csv_arrow, "RECENT", 3)
    head, *lines = csv_file(rnd, "bare", 1_200).split(b"\n")
    paths = []
    for day in range(4):
        paths.append(tmp_path / f"day-{day}.csv.gz")
        paths[-1].write_bytes(gzip.compress(b"\n".join([head, *lines[day * 300 : day * 300 + 300]]) + b"\n"))
    header = head.decode().split(",")
    plans = usage_csv_arrow.csv_plans(paths, header)
    assert plans is not None and all(p.inflated is not None for p in plans)
    for _ in usage_csv_arrow.tables(plans, threads=True):
        pass
    kept = [(k, c) for k, p in enumerate(plans) if p.inflated for c in p.inflated.recent]
    assert len(plans[-1].chunks) >= 3 and kept == [
        (3, c) for c in range(len(plans[-1].chunks) - 3, len(plans[-1].chunks))
    ]


def _gzipped(raw: bytes, rnd: random.Random, members: int) -> bytes:
    """`raw` compressed by gzip in `members` members (as `cat a.gz b.gz` joins them), cut anywhere."""
    import gzip

    cuts = sorted(rnd.sample(range(1, len(raw)), members - 1))
    return b"".join(
        gzip.compress(raw[a:b], rnd.choice((1, 6, 9))) for a, b in itertools.pairwise([0, *cuts, len(raw)])
    )


def _zstd(raw: bytes, rnd: random.Random, frames: int) -> bytes:
    """`raw` compressed by zstd in `frames` frames (as `cat a.zst b.zst` joins them), cut anywhere,
    each with its size in its header (one-shot) or without (streamed)."""
    import pyarrow as pa

    cuts = sorted(rnd.sample(range(1, len(raw)), frames - 1))
    out = []
    for a, b in itertools.pairwise([0, *cuts, len(raw)]):
        if rnd.random() < 0.5:
            out.append(pa.Codec("zstd", rnd.choice((1, 3, 9))).compress(raw[a:b], asbytes=True))
        else:
            sink = pa.BufferOutputStream()
            with pa.CompressedOutputStream(sink, "zstd") as stream:
                for at in range(a, b, 997):
                    stream.write(raw[at : min(at + 997, b)])
            out.append(sink.getvalue().to_pybytes())
    return b"".join(out)


@pytest.mark.parametrize(
    ("codec", "seed"),
    [
        *first_then_long((("gzip", s) for s in range(8)), 3),
        *first_then_long((("zstd", s) for s in range(8)), 3),
    ],
)
def test_a_compressed_file_is_read_here_alike(
    tmp_path: Path, codec: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.csv.gz` of one member or several, or a `.csv.zst` of one frame or several, inflated a
    few bytes at a time and cut in chunks of a few lines: read here, rows that may fail set aside
    (their lines kept as they are, or read back by inflating their chunks again: gzip from where
    each begins, zstd from the file's start), a refused line and copies listed, the rating and
    its listing DuckDB's."""
    rnd = random.Random(70 + seed + (100 if codec == "zstd" else 0))
    text = csv_with_columns(rnd, {"zone", "dest", "duration_s", "session"}, rnd.randrange(300, 700))
    rows = _data_rows(text)
    bad = rnd.sample(rows, 5)
    for row in bad[:3]:
        text = SET_ASIDE[rnd.choice([c for c in sorted(SET_ASIDE) if "quotes" not in c])](text, row)
    text = replace_field(text, bad[3], "line", lambda v: "NOBODY")
    lines = text.rstrip("\n").split("\n")
    lines += [lines[bad[4] - 1], lines[bad[0] - 1]]  # copies: clean, and of a row set aside
    end = "\r\n" if seed % 2 else "\n"
    raw = end.join(lines).encode() + (end.encode() if seed % 3 else b"")
    end = ".gz" if codec == "gzip" else ".zst"
    path = tmp_path / ("usage.csv" + end if seed % 4 else "usage.txt" + end)
    path.write_bytes((_gzipped if codec == "gzip" else _zstd)(raw, rnd, 1 + seed % 3))
    monkeypatch.setattr(usage_csv_arrow, "PIECE", rnd.choice((61, 512, 4096)))
    monkeypatch.setattr(usage_csv_arrow, "ZSTD_PIECE", rnd.choice((61, 512, 4096)))
    # Lines set aside kept from the chunks at hand, or (a chunk at hand) from chunks inflated again.
    monkeypatch.setattr(usage_csv_arrow, "RECENT", 12 if seed < 4 else 1)
    taken = _Taken(monkeypatch)
    assert _same_both_ways(path, monkeypatch, threads=1 + seed % 2) == [True, True]
    assert sorted(taken.aside[0]) == sorted({*(r - 2 for r in bad[:3]), len(lines) - 2}), taken.aside
    listed = {r["row"]: r["reason"] for r in json.loads(_rated(path, True, monkeypatch)[2])["rejects"]}
    assert listed[bad[3]] == "unknown line 'NOBODY'", listed
    assert listed[len(lines) - 1].startswith("duplicate record"), listed


@pytest.mark.parametrize("case", ["cut short", "bytes after it", "a bad checksum", "only its header"])
def test_a_gzip_file_duckdb_refuses_is_refused_alike(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compressed file that ends within its member or has other bytes after it: left to
    DuckDB, which refuses it, with its message, both ways.  One whose data fail gzip's check
    (which DuckDB's reading does not make): refused as damaged, both ways.  One of its header
    alone: read here, no rows either way."""
    import gzip

    rnd = random.Random(11)
    raw = csv_with_columns(rnd, {"zone", "duration_s"}, 400).encode()
    packed = gzip.compress(raw)
    damaged = {
        "cut short": packed[: len(packed) * 2 // 3],
        "bytes after it": packed + b"\x00" * 8,
        "a bad checksum": packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:],
        "only its header": gzip.compress(raw.split(b"\n", 1)[0] + b"\n"),
    }[case]
    path = tmp_path / "usage.csv.gz"
    path.write_bytes(damaged)
    monkeypatch.setattr(usage_csv_arrow, "PIECE", 333)
    answers = _same_both_ways(path, monkeypatch)
    assert (True in answers) == (case == "only its header")  # (that one read here: no rows)
    refused = _rated(path, True, monkeypatch)
    assert (len(refused) == 1) == (case != "only its header"), refused
    assert ("damaged: its gzip data fail their own check" in refused[0]) == (case == "a bad checksum")


@pytest.mark.parametrize(
    "case",
    [
        "cut short",
        "cut at a line's end",
        "bytes after it",
        "a damaged block",
        "a bad checksum",
        "only its header",
    ],
)
def test_a_damaged_zstd_file_is_refused_both_ways(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.csv.zst` cut within its frame (DuckDB reads it up to the cut without a word: rows
    lost, or a count cut short), with other bytes after its frame, a block damaged, or data that
    fail its checksum: refused as such (exit 2 in `rate`), read here or left to DuckDB.  One of
    its header alone: read here, no rows either way."""
    import shutil
    import subprocess

    import pyarrow as pa

    rnd = random.Random(12)
    # (more than the 1 MiB the header's reading takes in: the cut is past it)
    raw = csv_with_columns(rnd, {"zone", "duration_s"}, 24_000).encode()
    assert len(raw) > usage.MAX_CSV_LINE
    codec = pa.Codec("zstd")
    packed = codec.compress(raw, asbytes=True)
    if case == "cut at a line's end":  # (a frame of its own: the first ends at a line's end)
        first = raw[: raw.index(b"\n", len(raw) // 2) + 1]
        two = codec.compress(first, asbytes=True) + codec.compress(raw[len(first) :], asbytes=True)
        damaged = two[: len(two) - 5]
    elif case == "a bad checksum":
        if shutil.which("zstd") is None:
            pytest.skip("the zstd command (package zstd) is not installed: it writes a frame's checksum")
        with_check = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
        damaged = with_check[:-4] + bytes(b ^ 0xFF for b in with_check[-4:])
    else:
        damaged = {
            "cut short": packed[: len(packed) * 2 // 3],
            "bytes after it": packed + b"\x00" * 8,
            "a damaged block": packed[:40] + bytes([packed[40] ^ 0xFF]) + packed[41:],
            "only its header": codec.compress(raw.split(b"\n", 1)[0] + b"\n", asbytes=True),
        }[case]
    path = tmp_path / "usage.csv.zst"
    path.write_bytes(damaged)
    monkeypatch.setattr(usage_csv_arrow, "ZSTD_PIECE", 333)
    expected = {
        "cut short": "cut short: its zstd data end within a frame; nothing was rated",
        "cut at a line's end": "cut short: its zstd data end within a frame; nothing was rated",
        "bytes after it": "damaged: not zstd data as its writer left them",
        "a damaged block": "damaged: not zstd data as its writer left them",
        "a bad checksum": "damaged: its zstd data fail their own check",
    }
    for here in (True, False):
        found = _rated(path, here, monkeypatch)
        if case == "only its header":
            assert len(found) == 3, found
            continue
        assert len(found) == 1 and found[0].startswith(f"{path}: {expected[case]}"), found


def test_a_count_written_as_a_whole_fraction_reads_as_duckdb_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`120.0`, `1e2`, ` 7`, `+5`, `-0`: DOUBLEs DuckDB reads alike, whole; the file is read here."""
    rnd = random.Random(11)
    text = csv_with_columns(rnd, {"bytes_up", "duration_s"})
    rows = _data_rows(text)
    for form, row in zip(("120.0", "1e2", " 7", "007", "+5", "-0"), rows, strict=False):
        text = replace_field(text, row, "bytes_up", lambda v, f=form: f)  # type: ignore[misc]
    path = tmp_path / "usage.csv"
    path.write_text(text)
    assert _same_both_ways(path, monkeypatch) == [True, True]


def test_counts_in_quotes_further_on_are_read_as_text_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bare counts on the first lines, quoted ones in a later chunk: that chunk read again with
    its counts as text."""
    rnd = random.Random(12)
    text = csv_with_columns(rnd, {"bytes_up"})
    rows = _data_rows(text)
    text = replace_field(text, rows[-1], "bytes_up", lambda v: f'"{v}"')
    path = tmp_path / "usage.csv"
    path.write_text(text)
    assert _same_both_ways(path, monkeypatch) == [True, True]


def test_rows_alike_are_compared_here_as_duckdb_compares_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line written twice (a duplicate: a reject naming the first), the same fields written
    otherwise (a field quoted: a duplicate too, the same values), rows alike in the hashed
    columns but another zone (not duplicates): the sums stand, the rows alike are compared here,
    the listing is DuckDB's."""
    rnd = random.Random(21)
    text = csv_with_columns(rnd, {"zone", "session"}, 400)
    lines = text.rstrip("\n").split("\n")
    rows = _data_rows(text)
    copy, quoted, other, twin = (lines[r - 1] for r in rows[:4])
    names = lines[0].split(",")
    at = names.index("line")

    def requote(line: str) -> str:
        fields = line.split(",")
        fields[at] = f'"{fields[at]}"'
        return ",".join(fields)

    def rezone(line: str) -> str:
        fields = line.split(",")
        fields[names.index("zone")] = "world" if fields[names.index("zone")] != "world" else "eu"
        return ",".join(fields)

    lines += [copy, copy, requote(copy), requote(quoted), rezone(other), requote(twin)]
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    assert _same_both_ways(path, monkeypatch) == [True, True]
    listed = json.loads(_rated(path, True, monkeypatch)[2])["rejects"]
    first = rows[0]
    dups = [r for r in listed if r["reason"].startswith("duplicate")]
    n = len(lines)  # (the last row's number: the header is row 1)
    assert dups == [
        *(
            {"row": r, "reason": f"duplicate record: identical in every field to row {first}"}
            for r in (n - 5, n - 4, n - 3)
        ),
        {"row": n - 2, "reason": f"duplicate record: identical in every field to row {rows[1]}"},
        {"row": n, "reason": f"duplicate record: identical in every field to row {rows[3]}"},
    ], dups


@pytest.mark.parametrize(("length", "here"), [(200_000, True), (600_000, False)])
def test_a_long_line_is_read_here_below_a_quarter_of_duckdbs_limit(
    tmp_path: Path, length: int, here: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines up to a quarter of `MAX_CSV_LINE` are read here; from half of it, by DuckDB."""
    rnd = random.Random(31)
    text = csv_with_columns(rnd, {"session", "duration_s"})
    row = _data_rows(text)[3]
    path = tmp_path / "usage.csv"
    path.write_text(replace_field(text, row, "session", lambda v: "s" * length))
    assert _same_both_ways(path, monkeypatch) in ([[True, True]] if here else [[False, False], []])


def _key_listings(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """`key_listings`, the file read in chunks of a few lines."""
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3_000)
    return key_listings(monkeypatch)


def test_rejects_by_key_are_listed_by_pyarrow_as_duckdb_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown lines, types and zones (refused by their key), some of their rows and a clean row
    written twice (the copies listed as duplicates, not by their key): the file's rows are
    listed by pyarrow reading its key columns again, the same rows with the same reasons as
    DuckDB's listing, up to any limit."""
    rnd = random.Random(41)
    text = csv_with_columns(rnd, {"zone", "dest", "duration_s"}, 600)
    rows = _data_rows(text)
    changes = [("line", "NOBODY"), ("type", "fax"), ("zone", "mars"), ("line", "X9")] * 2
    for row, (column, value) in zip(rows[:8], changes, strict=True):
        text = replace_field(text, row, column, lambda v, x=value: x)  # type: ignore[misc]
    lines = text.rstrip("\n").split("\n")
    lines += [lines[rows[0] - 1], lines[rows[20] - 1], lines[rows[4] - 1]]  # copies
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    used = _key_listings(monkeypatch)

    def rejects(here: bool, limit: int) -> list[dict[str, Any]]:
        monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if here else 1 << 62)
        return listing(path, limit)[0]

    full = rejects(False, 100_000)
    assert used == [False]  # a file DuckDB read: its listing too
    used.clear()
    assert {r["row"] for r in full} >= set(rows[:8])
    copies = [r for r in full if r["row"] > len(lines) - 3]
    assert len(copies) == 3 and all(r["reason"].startswith("duplicate record") for r in copies), copies
    for limit in (1, 7, 100_000):
        assert rejects(True, limit) == full[:limit]
    assert used == [True, True, True]


def test_rows_set_aside_are_listed_with_the_refused_keys_as_duckdb_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that fail a check (set aside by the proof and checked by DuckDB), among rows refused
    by their key and duplicates: a bad row with a refused key too (its check's reason comes
    first), a row set aside that DuckDB finds clean but whose key is refused, a bad row written
    twice (its copy a duplicate): the same listing as DuckDB's reading of the whole file, up to
    any limit, and the same invoice."""
    rnd = random.Random(43)
    text = csv_with_columns(rnd, {"zone", "dest", "duration_s"}, 600)
    rows = _data_rows(text)
    changes: list[tuple[tuple[str, str], ...]] = [
        (("line", "NOBODY"),),
        (("start", "2026-04-01T00:00:00Z"),),
        (("bytes_up", "-7"),),
        (("start", "yesterday"), ("line", "X9")),  # a bad start on a refused line: bad-start
        (("start", "2026-03-10 10:00"), ("line", "NOBODY")),  # read by DuckDB, no seconds: unknown line
        (("duration_s", "43201"),),
        (("type", "fax"),),
        (("bytes_down", ""),),
    ]
    for row, change in zip(rows[:8], changes, strict=True):
        for column, value in change:
            text = replace_field(text, row, column, lambda v, x=value: x)  # type: ignore[misc]
    lines = text.rstrip("\n").split("\n")
    lines += [lines[rows[2] - 1], lines[rows[20] - 1], lines[rows[0] - 1]]  # copies: bad, clean, refused
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    used = _key_listings(monkeypatch)
    taken = _Taken(monkeypatch)

    def rated(here: bool, limit: int) -> tuple[list[dict[str, Any]], str]:
        monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if here else 1 << 62)
        return listing(path, limit)

    full, invoice = rated(False, 100_000)
    assert not any(used)  # a file DuckDB read: its listing too
    used.clear()
    reasons = {r["row"]: r["reason"] for r in full}
    assert reasons[rows[3]].startswith("malformed value: start"), reasons[rows[3]]
    assert reasons[rows[4]] == "unknown line 'NOBODY'"
    assert reasons[len(lines) - 2].startswith("duplicate record"), reasons  # the bad row's copy
    for limit in (1, 7, 13, 100_000):
        listed, text_invoice = rated(True, limit)
        assert listed == full[:limit]
        assert text_invoice == (invoice if limit == 100_000 else rated(False, limit)[1])
    assert used == [True] * 4
    assert taken.answers == [True] * 4
    # The seven rows that may fail and the bad row's copy set aside (the header is row 1).
    assert sorted(taken.aside[0]) == sorted(r - 2 for r in [*rows[1:6], rows[7], len(lines) - 2]), taken.aside


def test_rows_past_the_room_first_made_for_them_are_read_here_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first lines long (a `session` of 600 characters), the rest short: the proof's arrays,
    made for as many rows as lines as long as the first ones, are made larger as the rows come;
    a row set aside past that room, and a copy there of a row before it, still found, the rating
    the same both ways."""
    from accounting import usage_arrow_checks

    rnd = random.Random(5)
    text = csv_with_columns(rnd, {"session", "bytes_up", "duration_s"}, 3000)
    lines = text.rstrip("\n").split("\n")
    at = [n.strip('"') for n in lines[0].split(",")].index("session")
    for i in range(1, 120):  # about 64 KiB of long lines first
        fields = lines[i].split(",")
        fields[at] = "s" * 600
        lines[i] = ",".join(fields)
    rows = _data_rows("\n".join(lines))
    lines.append(lines[rows[0] - 1])  # a copy of an early row, far past the room: a duplicate
    text = replace_field("\n".join(lines) + "\n", rows[-2], "bytes_up", lambda v: "-4")
    path = tmp_path / "usage.csv"
    path.write_text(text)
    grown: list[int] = []
    room = usage_arrow_checks.RowProof._room

    def spy(proof: Any, needed: int) -> None:
        grown.append(needed)
        room(proof, needed)

    monkeypatch.setattr(usage_arrow_checks.RowProof, "_room", spy)
    taken = _Taken(monkeypatch)
    assert _same_both_ways(path, monkeypatch) == [True, True]
    assert grown  # (the room first made was too small)
    assert taken.aside[0] == [rows[-2] - 2]
    listed = json.loads(_rated(path, True, monkeypatch)[2])["rejects"]
    assert {
        "row": len(lines),
        "reason": f"duplicate record: identical in every field to row {rows[0]}",
    } in listed


@pytest.mark.parametrize("seed", range(6))
def test_lines_are_found_again_from_the_line_ends_counted_by_spans(seed: int) -> None:
    """A chunk's lines (of 0 to 3 spans of bytes, LF or CRLF, the last with or without its line
    end) counted as the parse counts them, then any of them found again from those counts: the
    bytes of each are those of the chunk split at its line ends."""
    import numpy as np

    rnd = random.Random(seed)
    crlf = seed % 2 == 1
    end = "\r\n" if crlf else "\n"
    texts = [
        "x" * rnd.choice((0, 1, 5, 60, 70, SPAN - 1, SPAN, SPAN + 1, 3 * SPAN))
        for _ in range(rnd.randrange(1, 400))
    ]
    chunk = end.join(texts) + (end if seed % 3 else "")
    data = np.frombuffer(chunk.encode(), np.uint8)
    if texts == [""] and not seed % 3:
        return  # (an empty chunk is never read)
    counted = usage_csv_arrow._lines(data, crlf)
    assert counted.rows == len(texts)
    assert int(counted.ends.sum()) == chunk.count("\n")
    picked = rnd.sample(range(len(texts)), min(len(texts), rnd.randrange(1, 50)))
    wanted = sorted({*picked, 0, len(texts) - 1})

    def read(spans: Any) -> Any:
        padded = np.zeros((int(spans.max()) + 1) * SPAN if len(spans) else 0, np.uint8)
        padded[: len(data)] = data[: len(padded)]
        return padded.reshape(-1, SPAN)[spans]

    begin, stop, spans, read_bytes = usage_csv_arrow._line_spans(
        read, len(data), np.array(wanted, np.int64), counted.ends
    )
    assert (read_bytes == read(spans)).all()
    found = [data[b:e].tobytes().decode().removesuffix("\r") for b, e in zip(begin, stop, strict=True)]
    assert found == [texts[r] for r in wanted]


@pytest.mark.parametrize("seed", range(8))
def test_counts_as_text_are_read_as_duckdb_reads_them(seed: int) -> None:
    """Counts of text (within quotes or not, empty, `""`, negative, of 0 to 8 or 15 characters):
    the values DuckDB's TRY_CAST to DOUBLE gives; a value that is not digits after at most a minus
    sign leaves the chunk to DuckDB."""
    import duckdb
    import pyarrow as pa

    rnd = random.Random(seed)
    longest = 8 if seed % 2 else 15
    texts: list[str | None] = []
    for _ in range(3000):
        size = rnd.randrange(0, longest + 1)
        digits = "".join(rnd.choice("0123456789") for _ in range(size))
        if size >= 2 and rnd.random() < 0.1:
            digits = "-" + digits[1:]
        quoted = f'"{digits}"' if rnd.random() < 0.5 else digits
        texts.append(quoted or None)
    column = pa.array(texts, pa.string())
    read = usage_csv_arrow._whole(column, usage_csv_arrow._offsets(column))
    plain = [None if t is None else t.strip('"') or None for t in texts]
    con = duckdb.connect()
    duck = con.execute(
        "SELECT CAST(TRY_CAST(t AS DOUBLE) AS BIGINT) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
        [plain],
    ).fetchall()
    assert read.to_pylist() == [d for (d,) in duck]
    # (bytes next to the digits, ":" and "/", in the last 8 bytes of a value or the 7 before)
    odd_forms = ("-", "1-2", "+5", "1.0", " 5", "5 ", "٣", "0x1F", '"-"', "--5")
    for bad in (*odd_forms, "9:", "/1", "12345678/9", "1:12345678"):
        odd = pa.array([*texts[:50], bad, *texts[50:60]], pa.string())
        with pytest.raises((usage_csv_arrow._Unsure, pa.ArrowInvalid)):
            usage_csv_arrow._whole(odd, usage_csv_arrow._offsets(odd))


@pytest.mark.parametrize("long_line", [0, SPAN - 1, SPAN + 1, 3 * SPAN, (1 << 20) + 10])
def test_chunks_start_after_the_first_line_end_past_each_cut(
    tmp_path: Path, long_line: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk starts after the first line end at or past its cut, whether that end is in the
    next `SPAN` bytes or further (a line longer than `SPAN` across the cut); no line end in the
    MiB past a cut leaves the file to DuckDB."""
    rnd = random.Random(long_line)
    lines = [b"x" * rnd.randrange(1, 200) for _ in range(400)]
    lines[150] = b"y" * long_line
    body = b"\n".join(lines) + b"\n"
    path = tmp_path / "u.csv"
    path.write_bytes(b"a\n" + body)
    cut = 2 + sum(len(line) + 1 for line in lines[:150]) + 5  # 5 bytes into the long line
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", cut - 2)
    with path.open("rb") as file:
        if long_line > 1 << 20:
            with pytest.raises(usage_csv_arrow._Unsure, match="longer than 1 MiB"):
                usage_csv_arrow._bounds(file.fileno(), len(body) + 2, 2, path)
            return
        bounds = usage_csv_arrow._bounds(file.fileno(), len(body) + 2, 2, path)
    data = path.read_bytes()
    assert bounds[0] == 2 and bounds[-1] == len(data)
    assert all(data[b - 1 : b] == b"\n" for b in bounds[1:])
    ends = [i + 1 for i, c in enumerate(data) if c == 10]
    for before, after in itertools.pairwise(bounds[:-1]):
        assert after == min(e for e in ends if e > before + usage_csv_arrow.CHUNK_BYTES)


@pytest.mark.parametrize("seed", range(4))
def test_rows_read_again_are_the_lines_of_the_file(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lines` gives each row's line as written (no line end), whether the line lies within the
    span of bytes read to find it or across two (a long field), the file's last line with or
    without its line end, in chunks of a few lines."""
    rnd = random.Random(seed)
    text = csv_with_columns(rnd, {"session", "duration_s"})
    for row in rnd.sample(_data_rows(text), 12):  # lines across the spans
        text = replace_field(text, row, "session", lambda v: "s" * rnd.randrange(SPAN // 2, 2 * SPAN))
    raw = text.encode()
    if seed % 2:
        raw = raw.rstrip(b"\n")
    path = tmp_path / "usage.csv"
    path.write_bytes(raw)
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0)
    monkeypatch.setattr(usage_csv_arrow, "CHUNK_BYTES", 3 * SPAN)
    header = raw.split(b"\n", 1)[0].decode().replace('"', "").split(",")
    plans = usage_csv_arrow.csv_plans([path], header)
    assert plans is not None and len(plans[0].chunks) > 3
    plan = plans[0]
    for _ in usage_csv_arrow.tables([plan], threads=False):
        pass
    written = raw.split(b"\n")[1:]
    if not seed % 2:
        written = written[:-1]  # (after the last line end)
    wanted = sorted({0, len(written) - 1, *rnd.sample(range(len(written)), 60)})
    assert usage_csv_arrow.lines(plan, wanted) == {r: written[r] for r in wanted}


def test_a_count_whose_null_slot_holds_digits_stays_null() -> None:
    """Arrow lets a NULL slot hold bytes: the count read is NULL there, the others as written."""
    import numpy as np
    import pyarrow as pa

    body = b'"12"7"-3"'
    offsets = np.array([0, 4, 5, 9], np.int32)
    valid = np.array([True, False, True])
    column = pa.Array.from_buffers(
        pa.string(),
        3,
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(offsets), pa.py_buffer(body)],
    )
    read = usage_csv_arrow._whole(column, usage_csv_arrow._offsets(column))
    assert read.to_pylist() == [12, None, -3]


def _count_as_duckdb_reads_it(text: str | None) -> int | None:
    """A count's value as the CSV reader must give it (`_whole`): NULL, or the digits after at
    most a minus, within quotes or not, of at most `MAX_DIGITS` characters; a ValueError for any
    other form (the column is then unsure)."""
    if text is None:
        return None
    if '"' in text:
        if len(text) < 2 or text[0] != '"' or text[-1] != '"' or '"' in text[1:-1]:
            raise ValueError(text)
        text = text[1:-1]
    if not text:
        return None
    if len(text) > usage_csv_arrow.MAX_DIGITS or not re.fullmatch("-?[0-9]+", text):
        raise ValueError(text)
    return int(text)


@pytest.mark.parametrize("seed", range(4))
def test_counts_of_any_bytes_are_read_or_left_unsure_as_their_forms_say(seed: int) -> None:
    """Columns of values drawn from digits and the bytes next to them (a minus, quotes, `:` and
    `/` on each side of the digits, blanks, a sign, a point, a letter, a non-ASCII digit), of 0 to
    17 characters: each column read as the forms say, value for value, or left unsure whole."""
    import pyarrow as pa

    rnd = random.Random(seed)
    alphabet = "0123456789" * 6 + '-"/:+. x٣'
    for _ in range(400):
        texts: list[str | None] = []
        odd = rnd.choice((0.0, 0.02, 0.3))  # the share of characters drawn from every byte
        for _ in range(rnd.randrange(1, 30)):
            size = rnd.randrange(0, 18 if odd else 16)  # (16 characters or more: unsure)
            value = "".join(rnd.choice(alphabet if rnd.random() < odd else "0123456789") for _ in range(size))
            if size > 1 and rnd.random() < 0.1:
                value = "-" + value[1:]
            if rnd.random() < 0.4:
                value = f'"{value}"'
            texts.append(value if value or rnd.random() < 0.5 else None)
        column = pa.array(texts, pa.string())
        try:
            expected: list[int | None] | None = [_count_as_duckdb_reads_it(t) for t in texts]
        except ValueError:
            expected = None
        try:
            read = usage_csv_arrow._whole(column, usage_csv_arrow._offsets(column)).to_pylist()
        except (usage_csv_arrow._Unsure, pa.ArrowInvalid):
            read = None
        assert read == expected, texts
