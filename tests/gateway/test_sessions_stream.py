"""`m2msim sessions-to-records` reads a file past `STREAM_BLOCK` bytes a block at a time
(`gateway.sessions_csv.scan_sessions`): the whole file was held in memory, about 400 bytes a session
at the peak.  Whatever the blocks, the same records, rejects, notes and summary as the file read
whole, the rows of one session (its partial records, a duplicate) anywhere in the file."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gateway.cli
import gateway.sessions_csv as sessions_csv
from m2msim.cli import main

BASE = datetime(2026, 3, 1, tzinfo=UTC)
HEADER = "line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal,cause,imsi\n"


def _rows(rng: random.Random, n: int) -> list[str]:
    """Sessions of a few lines, many exported one partial record a row (12 h, a volume limit, a row
    lost), some given twice, some bad, in no order."""
    rows: list[str] = []
    while len(rows) < n:
        line = f"L{rng.randrange(40)}"
        sid = rng.choice(
            ["", f"s{rng.randrange(10**6)}", f"s{rng.randrange(30)}", f"{rng.randrange(30)}" * 41]
        )
        t = BASE + timedelta(seconds=rng.randrange(60 * 86_400))
        for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
            d = rng.choice([0, 600, 18_000, 43_200, 43_200, rng.randrange(200_000)])
            stamp = t.isoformat().replace("+00:00", "Z") if rng.random() < 0.7 else t.isoformat()
            fields = [
                line,
                stamp,
                str(d),
                str(rng.randrange(10**9)),
                str(rng.randrange(10**6)),
                rng.choice(["fr", "eu", "", "world"]),
                sid,
                rng.choice(["", "", "", "false", "true"]),
                rng.choice(["", "", "", "", "", "", "16", "volumeLimit", "0", "99"]),
                rng.choice(["208011234567890", '"a, quoted; one"', '"two\nlines"', ""]),
            ]
            if rng.random() < 0.02:
                fields[rng.randrange(1, 5)] = rng.choice(["-1", "x", "2026-02-30T00:00:00Z", " 7 "])
            rows.append(",".join(fields))
            if rng.random() < 0.03:
                rows.append(rows[-1])  # given twice
            t += timedelta(
                seconds=d + (rng.choice([0, 0, 0, 0, 3_600, 9 * 86_400]) if sid else rng.randrange(9_999))
            )
    rng.shuffle(rows)
    return rows


def _convert(src: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    folder.mkdir()
    status = 0
    for name in ("usage.parquet", "usage.csv"):
        status = main(["sessions-to-records", str(src), str(folder / name), "--interval", "3600"])
    captured = capsys.readouterr()
    return status, captured.out.replace(str(folder), "OUT"), captured.err


def _tables_converted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each table converted from now on (a block's, or the whole file's), as a list."""
    tables: list[int] = []
    converted = sessions_csv._converted

    def spy(header: list[str], read: list[tuple[object, bool]], first: int) -> object:
        tables.append(read[-1][0].num_rows)  # type: ignore[attr-defined]
        return converted(header, read, first)  # type: ignore[arg-type]

    monkeypatch.setattr(sessions_csv, "_converted", spy)
    return tables


@pytest.mark.parametrize("seed", range(4))
def test_a_file_read_a_block_at_a_time_gives_the_records_of_the_file_read_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    src = tmp_path / "sessions.csv"
    src.write_text(HEADER + "\n".join(_rows(rng, 3_000)) + "\n", encoding="utf-8")
    monkeypatch.setattr(gateway.cli, "CHUNK_RECORDS", rng.choice([50, 1_000, 1 << 18]))
    whole = _convert(src, tmp_path / "whole", capsys)

    tables = _tables_converted(monkeypatch)
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)
    monkeypatch.setattr(sessions_csv, "BUCKET_ROWS", 50 if seed % 2 else 1 << 16, raising=False)
    blocks = _convert(src, tmp_path / "blocks", capsys)

    assert blocks == whole and whole[0] == 1 and "rejected" in whole[2]
    assert "partial records missing" in whole[1] and "given again" in whole[1]  # (gaps, ids given again)
    assert len(tables) > 2 * 10 and max(tables) < 500  # (more than 10 blocks a file, converted twice)
    for name in ("usage.parquet", "usage.csv"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert pq.read_table(tmp_path / "blocks" / "usage.parquet").num_rows > 3_000


@pytest.mark.parametrize(
    "bad",
    [
        b"L1,2026-03-01T00:00:00Z,60,1,1\n",  # another number of fields
        b"L1,2026-03-01T00:00:00Z,60,1,1,fr,s\x00,,,\n",  # a NUL
        b"L1,2026-03-01T00:00:00Z,60,1,1,fr,\xff,,,\n",  # not UTF-8
    ],
)
def test_a_file_the_blocks_cannot_read_past_its_first_block_is_read_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bad: bytes
) -> None:
    """A row Python's csv numbers otherwise than pyarrow (another number of fields), or reads
    otherwise (a NUL, bytes that are not UTF-8), far into the file: read whole, as before."""
    rows = _rows(random.Random(7), 2_000)
    src = tmp_path / "sessions.csv"
    src.write_bytes(
        (HEADER + "\n".join(rows[:1_500]) + "\n").encode() + bad + ("\n".join(rows[1_500:]) + "\n").encode()
    )
    whole = _convert(src, tmp_path / "whole", capsys)
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)
    blocks = _convert(src, tmp_path / "blocks", capsys)
    assert blocks == whole and "row 1502: rejected" in whole[2]
    for name in ("usage.parquet", "usage.csv"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_no_room_for_the_temporary_file_reads_the_file_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "sessions.csv"
    src.write_text(HEADER + "\n".join(_rows(random.Random(3), 1_000)) + "\n", encoding="utf-8")
    whole = _convert(src, tmp_path / "whole", capsys)
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)

    def full(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sessions_csv.tempfile, "TemporaryFile", full)
    assert _convert(src, tmp_path / "blocks", capsys) == whole
    for name in ("usage.parquet", "usage.csv"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


@pytest.mark.parametrize(
    ("header", "streamed"),
    [
        # every name quoted, as m2msim writes a CSV's header and spreadsheets export it
        (",".join(f'"{name}"' for name in HEADER.strip().split(",")) + "\n", True),
        ('line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal,cause,"im""si"\r\n', True),
        # quotes holding a line end: the header row ends on the file's second line
        ('line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal,cause,"im\nsi"\n', False),
        ('line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal,cause,x"y,"z\nw"\n', False),
    ],
)
def test_a_file_whose_header_is_quoted_is_read_a_block_at_a_time(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    header: str,
    streamed: bool,
) -> None:
    """A header row with quotes was read whole (the file in memory, 400 bytes a session) for fear of
    a quoted line end: one whose quotes hold none is read a block at a time, the same records,
    rejects and summary; one whose quotes hold a line end is read whole, as before."""
    src = tmp_path / "sessions.csv"
    src.write_bytes((header + "\n".join(_rows(random.Random(5), 1_000)) + "\n").encode())
    whole = _convert(src, tmp_path / "whole", capsys)
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)
    tables = _tables_converted(monkeypatch)
    blocks = _convert(src, tmp_path / "blocks", capsys)
    assert blocks == whole and "rejected" in whole[2]
    assert (len(tables) > 2 * 3) == streamed  # (blocks of a few hundred rows, or the file at once)
    for name in ("usage.parquet", "usage.csv"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def _compressed(kind: str, raw: bytes) -> bytes:
    return gzip.compress(raw) if kind == "gzip" else pa.Codec("zstd").compress(raw, asbytes=True)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_compressed_file_is_read_a_block_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A compressed export was decompressed whole, then read whole: the file's bytes and its
    sessions in memory at once (GBs for millions of rows).  Past STREAM_BLOCK bytes decompressed, it
    is decompressed as it is read, a block at a time: the same records, rejects and summary."""
    raw = (HEADER + "\n".join(_rows(random.Random(11), 1_000)) + "\n").encode()
    src = tmp_path / ("sessions.csv.gz" if kind == "gzip" else "sessions.csv.zst")
    src.write_bytes(_compressed(kind, raw))
    assert len(raw) > 4 * 16_384
    whole = _convert(src, tmp_path / "whole", capsys)
    plain = tmp_path / "plain" / "sessions.csv"
    plain.parent.mkdir()
    plain.write_bytes(raw)
    assert _convert(plain, tmp_path / "plain" / "out", capsys)[1:] == (
        whole[1],
        whole[2].replace(str(src), str(plain)),
    )
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)
    tables = _tables_converted(monkeypatch)
    blocks = _convert(src, tmp_path / "blocks", capsys)
    assert blocks == whole and "rejected" in whole[2] and len(tables) > 2 * 3
    for name in ("usage.parquet", "usage.csv"):
        assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


@pytest.mark.parametrize(
    ("kind", "damage"),
    [
        ("gzip", lambda data: data[:-9]),  # cut short
        ("gzip", lambda data: data[:-4] + b"\x00\x00\x00\x00"),  # its length wrong in its trailer
        ("gzip", lambda data: data + b"\x00" * 8),  # zeros after it: read, as gzip reads them
        ("gzip", lambda data: data + b"not gzip"),  # data after it that are not gzip
        ("zstd", lambda data: data[:-9]),
        ("zstd", lambda data: data[:-200] + bytes(200)),
    ],
)
def test_compressed_data_damaged_past_their_first_block_say_so_as_read_whole(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    damage: Callable[[bytes], bytes],
) -> None:
    """Compressed data damaged or cut short far into the file: what the file read whole says (its
    records, or the file refused, exit 2, naming why), not a traceback nor records of half a file."""
    raw = (HEADER + "\n".join(_rows(random.Random(13), 1_000)) + "\n").encode()
    src = tmp_path / ("sessions.csv.gz" if kind == "gzip" else "sessions.csv.zst")
    src.write_bytes(damage(_compressed(kind, raw)))
    whole = _convert(src, tmp_path / "whole", capsys)
    monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 16_384, raising=False)
    assert _convert(src, tmp_path / "blocks", capsys) == whole
    for name in ("usage.parquet", "usage.csv"):
        made = [(tmp_path / folder / name).exists() for folder in ("whole", "blocks")]
        assert made[0] == made[1]
        if made[0]:
            assert (tmp_path / "blocks" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
