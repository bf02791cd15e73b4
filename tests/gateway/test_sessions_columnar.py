"""`m2msim sessions-to-records` reads its CSV by columns (`gateway.sessions_csv.read_sessions`): on
seeded random files, the same sessions, row numbers and rejects as the rules applied row by row
(`read_sessions_py`), and the same records as the rule cut by a loop (`cut_sessions_py`)."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gateway.partial import cut_sessions_py
from gateway.sessions_csv import _open, _table, default_max_gap, read_sessions, read_sessions_py
from m2msim.cli import main

INTERVAL = 43_200
BASE = datetime(2026, 3, 1, tzinfo=UTC)
HEADER = [
    "line",
    "start",
    "duration_s",
    "bytes_up",
    "bytes_down",
    "zone",
    "session",
    "abnormal",
    "cause",
    "imsi",
]
CAUSES = ["16", "17", "18", "0", "4", "volumeLimit", "016", "99", "x"]  # (a row in ten gives one)


def _start(rng: random.Random) -> str:
    """A start as exports write them, now and then one the reader must refuse or read slowly."""
    seconds = rng.choice([0, INTERVAL, 2 * INTERVAL, rng.randrange(-40 * 86_400, 40 * 86_400)])
    when = BASE + timedelta(seconds=seconds)
    offset = timezone(timedelta(minutes=rng.choice([0, 60, 120, -330, 345, 23 * 60 + 59])))
    text = when.astimezone(offset).isoformat()
    pick = rng.random()
    if pick < 0.15:
        text = text.replace("+00:00", "Z")
    elif pick < 0.25:
        text = text.replace("T", " ")
    elif pick < 0.35:  # fractions of a second, of 1 to 7 digits
        text = text[:19] + "." + "".join(rng.choices("0123456789", k=rng.randint(1, 7))) + text[19:]
    elif pick < 0.38:
        text = text[:19]  # no offset: a reject
    elif pick < 0.41:
        text = rng.choice(
            [
                "2026-02-30T00:00:00Z",
                "2026-03-01T24:00:00Z",
                "2016-12-31T23:59:60Z",
                "2026-03-01T10:00:00+0100",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:00:00Z",
                "2026-3-1T10:00:00Z",
                "2024-02-29T12:00:00-01:00",
                "2026-03-01T10:00:00z",
                "yesterday",
                "",
                "2026-03-01T10:00:00+24:00",
                "2026-03-01T10:00:00.5+01",
                "2026-03-01T10:00:00.1x+01:00",
                "2026-03-01T10:00:00.12:4Z",
                "2026-03-01T10:00:00,5Z",
            ]
        )
    return text if rng.random() > 0.1 else f" {text}\t"


def _number(rng: random.Random, limit: int) -> str:
    value = rng.choice(
        [0, 1, INTERVAL - 1, INTERVAL, INTERVAL + 1, 3 * INTERVAL, 5 * INTERVAL + 17, rng.randrange(limit)]
    )
    text = str(value)
    pick = rng.random()
    if pick < 0.05:
        return rng.choice(["-1", "1.5", "", "1e3", "٣", str(limit + 1), "00000000000000000000012", " 7 "])
    if pick < 0.1:
        return "000" + text
    return text


def _file(rng: random.Random, rows: int) -> bytes:
    lines = [f"L{i}" for i in range(6)] + ["Lé", " L0 "]
    sessions = ["", "", "s1", "s2", "s3", "ş4", "row2"]
    out = io.StringIO(newline="")
    writer = csv.writer(
        out, quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), lineterminator=rng.choice(["\n", "\r\n"])
    )
    writer.writerow(HEADER)
    for _ in range(rows):
        row = [
            rng.choice(lines) if rng.random() > 0.02 else "",
            _start(rng),
            _number(rng, 4 * 86_400),
            _number(rng, 2**50),
            _number(rng, 2**40),
            rng.choice(["fr", "eu", "world", "", " eu ", "EU", "mars"]),
            rng.choice(sessions),
            rng.choice(["", "true", "false", "1", "0", "TRUE", "yes"]),
            rng.choice(CAUSES) if rng.random() < 0.1 else "",
            rng.choice(["208011234567890", "x" * 300 if rng.random() < 0.02 else "", 'a "quoted", value']),
        ]
        writer.writerow(row)
        if rng.random() < 0.03:  # a row given again, as exports repeat them
            writer.writerow(row)
        while rng.random() < 0.15 and row[2].strip().isdigit():  # its session's next partial record
            try:
                ends = datetime.fromisoformat(row[1].strip().replace("Z", "+00:00")) + timedelta(
                    seconds=int(row[2])
                )
            except (ValueError, OverflowError):
                break
            row = [*row[:1], ends.isoformat(), str(rng.choice([0, INTERVAL, 600])), *row[3:]]
            row[7] = rng.choice(["", "false", "true"])
            row[8] = rng.choice(CAUSES) if rng.random() < 0.1 else ""
            writer.writerow(row)
        if rng.random() < 0.02:
            out.write(rng.choice(["\n", "\r\n"]))  # a blank line: not a row
    data = out.getvalue().encode("utf-8")
    return b"\xef\xbb\xbf" + data if rng.random() < 0.5 else data


def _same(path: Path) -> tuple[int, int]:
    sessions, rejects = read_sessions(path)
    reference, want_rejects = read_sessions_py(path)
    want = reference.rows()
    assert rejects == want_rejects
    assert sessions.rows() == want
    assert sessions.notes == reference.notes and sessions.reused == reference.reused
    for name in ("row", "named", "chain", "part", "more", "cause"):
        assert getattr(sessions, name).tolist() == getattr(reference, name).tolist(), name
    numbers = sessions.row.tolist()
    assert numbers == sorted(numbers) and not set(numbers) & {n for n, _ in rejects}
    return len(want), len(want_rejects)


@pytest.mark.parametrize("seed", range(12))
def test_the_columns_read_the_sessions_and_rejects_the_rows_read(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "sessions.csv"
    path.write_bytes(_file(rng, 400))
    assert _table(_open(path)) is not None  # (read by columns, not row by row)
    kept, rejected = _same(path)
    assert kept > 100 and rejected > 10  # (both kinds there)


@pytest.mark.parametrize("seed", range(4))
def test_a_file_the_columns_cannot_number_is_read_row_by_row(tmp_path: Path, seed: int) -> None:
    """A row with another number of fields, a header whose quotes hold a line end, lone carriage
    returns, bad bytes (in a row of another number of fields too: pyarrow's handler of such rows
    failed decoding it), a last row cut short (and a `;` export): the same sessions and rejects."""
    rng = random.Random(seed)
    data = _file(rng, 200)
    cut = data.index(b"\n", len(data) // 2) + 1
    variants = {
        "short.csv": data[:cut] + b"L1,2026-03-01T00:00:00Z,5\n" + data[cut:],
        "quoted.csv": b'"line","start","duration_s","bytes_up","bytes_down","a\nnote"\n'
        + b"L1,2026-03-01T00:00:00Z,5,1,2,\n",
        "cr.csv": data.replace(b"\r\n", b"\n").replace(b"\n", b"\r"),
        "bad.csv": data[:cut] + b"L\xff,2026-03-01T00:00:00Z,5,1,2,fr,,,\n" + data[cut:],
        "bad-short.csv": data[:cut] + b"L\xc3,2026-03-01T00:00:00Z,5\n" + data[cut:],
        "semicolon.csv": data.replace(b",", b";"),
        "cut.csv": data.rstrip(b"\r\n")[:-3],
    }
    for name, content in variants.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert (_table(_open(path)) is None) or name in ("semicolon.csv", "cut.csv"), name
        _same(path)


def ending(row: tuple[object, ...], more: bool, interval: int, phase: int = 0) -> int:
    """The cause of a row's last record: the one it gives; else, continued by the next partial
    record of its session, the time limit when it ends at a mark of the interval, else 98; else 4
    or 0 by its release."""
    cause, duration = int(row[8]), int(row[2])  # type: ignore[call-overload]
    if cause >= 0:
        return cause
    if more:
        return 17 if duration and (duration + phase) % interval == 0 else 98
    return 4 if row[7] else 0


@pytest.mark.parametrize("interval", [INTERVAL, 3_600])
def test_the_records_are_the_rule_cut_by_a_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], interval: int
) -> None:
    """Sessions across several 12-hour marks, of 0 s, of exactly 12 h, starting on a mark: the
    records written are those of the rule cut by a loop over the rows read row by row."""
    rng = random.Random(interval)
    src = tmp_path / "sessions.csv"
    src.write_bytes(_file(rng, 500))
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out), "--interval", str(interval)]) == 1
    capsys.readouterr()
    sessions, _ = read_sessions_py(src, default_max_gap(interval))
    rows = sessions.rows()
    chain = sessions.chain.tolist()
    # a row past the interval continuing a session is cut at its session's marks (its first row's)
    phase = [(r[1] - rows[chain[i]][1]) % interval if r[2] > interval else 0 for i, r in enumerate(rows)]
    cut = cut_sessions_py(
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        interval_s=interval,
        abnormal=[r[7] for r in rows],
        phase_s=phase,
    )
    # a row continuing a session's partial records numbers on from the rows before it
    count = Counter(i for i, *_ in cut)
    chain, part, more = sessions.chain.tolist(), sessions.part.tolist(), sessions.more.tolist()
    before = {
        i: sum(count[j] for j in range(len(rows)) if chain[j] == chain[i] and part[j] < part[i])
        for i in count
    }
    want = [
        (
            rows[i][0],
            s,
            d,
            u,
            w,
            rows[i][5],
            rows[i][6],
            ending(rows[i], more[i], interval, phase[i]) if q == count[i] else c,
            q + before[i],
        )
        for i, s, d, u, w, q, c in cut
    ]
    c = pq.read_table(out).to_pydict()
    starts = [int(t.timestamp()) for t in c["start"]]
    names = ("line", "duration_s", "bytes_up", "bytes_down", "zone", "session", "cause", "sequence")
    line, dur, up, down, zone, session, cause, sequence = (c[k] for k in names)
    mine = list(zip(line, starts, dur, up, down, zone, session, cause, sequence, strict=True))
    assert mine == want
    assert max(q for *_, q in want) >= 3 and any(d == 0 for _, _, d, *_ in want)


def test_starts_all_written_alike_read_as_one_matrix(tmp_path: Path) -> None:
    """Starts of one length (an export's one form) are read as a matrix of bytes: the calendar's
    days, hours and offsets checked as row by row, and out of it (30 February, hour 24, second 60,
    month 13, offset 24 h) rejected as row by row."""
    rng = random.Random(5)
    odd = [
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-03-01T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2000-02-29T23:59:59Z",
        "0000-01-01T00:00:00Z",
    ]
    rows = ["line,start,duration_s,bytes_up,bytes_down"]
    for i in range(3_000):
        when = BASE + timedelta(seconds=rng.randrange(-(10**9), 10**9))
        start = rng.choice(odd) if i % 50 == 0 else when.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"L{i % 7},{start},{rng.choice([0, INTERVAL, 7 * INTERVAL + 1])},{i},{i * 3}")
    path = tmp_path / "sessions.csv"
    path.write_text("\n".join(rows) + "\n")
    offsets = tmp_path / "offsets.csv"
    offsets.write_text(
        "line,start,duration_s,bytes_up,bytes_down\n"
        + "".join(
            f"L1,2026-03-01T10:00:00{z},5,1,2\n"
            for z in ("+23:59", "-23:59", "+24:00", "+01:60", "-00:30", "+1a:00")
        )
    )
    for one in (path, offsets):
        assert _table(_open(one)) is not None
        _same(one)
