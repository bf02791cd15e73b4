"""Which path reads a usage CSV depends on how it is cut in chunks: the pyarrow pass sets a row of
a fractional duration aside for DuckDB, but leaves the whole file to DuckDB when a chunk holds more
than 1/16 of such rows (`usage_csv_arrow.FRACTIONS_SHARE`).  The rating does not: the same file cut
at several chunk sizes (the fractions in one chunk, across a chunk's end, or spread), as it is or
compressed by gzip or zstd, and read by DuckDB alone, gives the same aggregates, invoice and rejects, with a row written again whose copy
writes its fractional duration otherwise (`12.5`, `1.25e1`), and a whole one written with a
fraction (`60`, `60.0`)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from usage_forms import answers, csv_with_columns, rating, replace_field

from accounting import usage_csv_arrow
from accounting.usage import UsageReader


def _data_rows(text: str) -> list[int]:
    """The data rows with a duration (their row numbers, the header row 1)."""
    lines = text.split("\n")
    names = lines[0].split(",")
    found = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if (
            len(fields) == len(names)
            and fields[names.index("type")] == "data"
            and fields[names.index("duration_s")]
        ):
            found.append(number)
    return found


def _file(seed: int) -> tuple[str, list[int]]:
    """A file of data rows with fractional durations close together (a few rows of the 300, so
    that a small chunk holding them has more than 1/16 of them, the whole file fewer), a row of
    one written again as `1.25e1`, a whole duration's row written again as `60.0`; and the rows of
    the fractions."""
    rnd = random.Random(seed)
    text = csv_with_columns(rnd, {"duration_s", "bytes_up", "bytes_down", "session"})
    rows = _data_rows(text)
    middle = len(rows) // 2
    fractions = rows[middle : middle + 4]
    for row, value in zip(fractions, ("12.5", "0.25", "7.75", "3599.5"), strict=True):
        text = replace_field(text, row, "duration_s", lambda v, value=value: value)
    whole = rows[middle + 6]
    text = replace_field(text, whole, "duration_s", lambda v: "60")
    lines = text.rstrip("\n").split("\n")
    n = len(lines)
    text = "\n".join([*lines, lines[fractions[0] - 1], lines[whole - 1]])
    text = replace_field(text, n + 1, "duration_s", lambda v: "1.25e1")
    return replace_field(text, n + 2, "duration_s", lambda v: "60.0") + "\n", fractions


def _rated(path: Path, patch: pytest.MonkeyPatch, chunk: int | None) -> tuple[tuple[Any, ...], bool]:
    """The rating of the file cut in chunks of `chunk` bytes (None: by DuckDB alone), and whether
    the pass read it (rather than leaving it to DuckDB)."""
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 1 << 62 if chunk is None else 0)
    if chunk is not None:
        patch.setattr(usage_csv_arrow, "CHUNK_BYTES", chunk)
    read = answers(patch, UsageReader, "_csv_aggregate")
    return rating(path), any(read)


@pytest.mark.parametrize(
    ("seed", "name"), [(1, "usage.csv"), (2, "usage.csv"), (3, "usage.csv.gz"), (4, "usage.csv.zst")]
)
def test_the_same_file_cut_otherwise_is_rated_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, name: str
) -> None:
    text, fractions = _file(seed)
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif name.endswith(".zst"):
        with pa.CompressedOutputStream(str(path), "zstd") as stream:
            stream.write(text.encode())
    else:
        path.write_text(text)
    want, _ = _rated(path, monkeypatch, None)
    assert len(want) == 3 and want[2].count("duplicate record: identical") == 2  # (both copies found)
    data = text.encode()
    starts = [0, *(i + 1 for i, b in enumerate(data) if b == 10)]  # each line's first byte
    first, last = starts[fractions[0] - 1], starts[fractions[-1]]  # the fractions' bytes
    # One chunk holding every fraction (more than 1/16 of its rows), chunks ending within them
    # (the first and the others apart, a chunk's last line a fraction), then the whole file in one.
    sizes = {
        "the fractions in a small chunk": last - first + 200,
        "a chunk ending on the first": starts[fractions[0]] - 1,
        "a chunk ending within them": starts[fractions[1]] + 3,
        "one chunk": len(data) * 2,
    }
    paths = {}
    for name, size in sizes.items():
        got, here = _rated(path, monkeypatch, size)
        paths[name] = here
        assert got == want, name
    assert paths["one chunk"] and not paths["the fractions in a small chunk"], paths


@pytest.mark.parametrize("value", ["43200.0000000000000001", "4.32000000000000000001e4"])
def test_a_duration_past_a_doubles_digits_is_the_same_reject_on_the_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A duration the DOUBLE reads whole where its text is not (`usage.finer_than_double_sql`) is
    a reject by DuckDB's reading; the pass, which reads a duration as a DOUBLE, sets its row aside
    for DuckDB to judge: it billed the record as 12 hours."""
    text, _ = _file(5)
    row = _data_rows(text)[3]
    path = tmp_path / "usage.csv"
    path.write_text(replace_field(text, row, "duration_s", lambda v: value))
    want, _ = _rated(path, monkeypatch, None)
    assert f"malformed value: duration_s '{value}': more significant digits than a DOUBLE" in want[2]
    got, here = _rated(path, monkeypatch, len(text) * 2)
    assert got == want and here


@pytest.mark.parametrize(
    "form", [" {}", "{} ", "{}.000000000000000000", "000000000000000{}", "{}.00000000000000000000000000000"]
)
def test_whole_durations_written_with_spaces_or_many_digits_stay_the_passs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """Every duration written with a space around it (DuckDB's cast, as pyarrow's reading of a
    DOUBLE, takes it off) or with more than 15 characters that are exact (`60.000000000000000000`,
    a DECIMAL(38, 18) column exported): the pass reads the file, as DuckDB rates it; one of them
    past a DOUBLE's digits (`60.00000000000000001`) is set aside, DuckDB's reject.  Both forms
    left the whole file to DuckDB, several times the CPU, where the pass read them before it
    read a duration as text."""
    text = csv_with_columns(random.Random(11), {"duration_s", "bytes_up", "bytes_down", "session"})
    rows = _data_rows(text)
    for row in rows:
        text = replace_field(text, row, "duration_s", lambda v: form.format(v) if v.isdigit() else v)
    finer = rows[len(rows) // 2]
    text = replace_field(text, finer, "duration_s", lambda v: "60.00000000000000001")
    path = tmp_path / "usage.csv"
    path.write_text(text)
    want, _ = _rated(path, monkeypatch, None)
    assert "malformed value: duration_s '60.00000000000000001': more significant digits" in want[2]
    got, here = _rated(path, monkeypatch, len(text) * 2)
    assert got == want and here


@pytest.mark.parametrize("value", ["59.99999999999999999", "4.3199999999999999999e4"])
def test_a_duration_past_a_doubles_digits_just_below_a_whole_is_billed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A text of more digits than a DOUBLE holds that is just below the whole number its DOUBLE
    reads (`59.99999999999999999`: 60) is rated as the text says, its call rounded up to that
    whole number alike: it was a malformed value, the call not billed at all, on both paths."""
    text, _ = _file(5)
    row = _data_rows(text)[3]
    path = tmp_path / "usage.csv"
    path.write_text(replace_field(text, row, "duration_s", lambda v: value))
    want, _ = _rated(path, monkeypatch, None)
    assert "more significant digits" not in want[2]
    got, here = _rated(path, monkeypatch, len(text) * 2)
    assert got == want and here
