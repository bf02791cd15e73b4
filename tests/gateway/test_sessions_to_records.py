"""`m2msim sessions-to-records` against a plain recomputation of the rule (docs/tariff-rules "Data
volume"): a record every 12 hours counted from the session's start and one at its end, the bytes
counted by an offset t of a session of d seconds being floor(B * t / d); and rated by `m2msim rate`
as the gateway's own records of the same sessions are."""

from __future__ import annotations

import gzip
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interrupts import signals_restored, terminated
from invoice_docs import billed
from netparts import IMEISV

from m2msim.cli import main

INTERVAL = 43_200
BASE = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = ["line", "start", "duration_s", "bytes_up", "bytes_down", "zone", "session", "abnormal"]


def convert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, status: int, out: str = "usage.parquet"
) -> tuple[Path, Path, str]:
    """Write `text` as sessions.csv and convert it to `out`, exiting `status`: the paths and stderr."""
    src = tmp_path / "sessions.csv"
    src.write_text(text, encoding="utf-8")
    path = tmp_path / out
    assert main(["sessions-to-records", str(src), str(path)]) == status
    return src, path, capsys.readouterr().err


def expected(
    line: str,
    start: datetime,
    d: int,
    up: int,
    down: int,
    zone: str,
    session: str,
    abnormal: bool,
    interval: int,
) -> list[tuple[object, ...]]:
    """The records of one session, recomputed from the rule with Python's integers."""
    marks = list(range(interval, d, interval))  # strictly inside the session
    bounds = [0, *marks, d]

    def carried(total: int, t: int) -> int:
        return total if t >= d else total * t // d

    out = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        last = k == len(bounds) - 2
        cause = (4 if abnormal else 0) if last else 17
        before_up = 0 if k == 0 else carried(up, lo)
        before_down = 0 if k == 0 else carried(down, lo)
        first = start.astimezone(UTC).replace(microsecond=0)
        out.append(
            (
                line,
                first + timedelta(seconds=lo),
                hi - lo,
                carried(up, hi) - before_up,
                carried(down, hi) - before_down,
                zone,
                session,
                cause,
                k + 1,
            )
        )
    return out


def got(path: Path) -> list[tuple[object, ...]]:
    return [
        (
            r["line"],
            r["start"],
            r["duration_s"],
            r["bytes_up"],
            r["bytes_down"],
            r["zone"],
            r["session"],
            r["cause"],
            r["sequence"],
        )
        for r in pq.read_table(path).to_pylist()
    ]


ZONES: list[tzinfo] = [
    UTC,
    ZoneInfo("Europe/Paris"),  # +01:00 then +02:00 from 29 March 02:00
    timezone(timedelta(hours=-5, minutes=-30)),
]
session_st = st.tuples(
    st.integers(-40 * 86_400, 40 * 86_400),  # around the end of March (and its change to summer time)
    st.sampled_from(ZONES),
    st.one_of(
        st.sampled_from([0, 1, INTERVAL - 1, INTERVAL, INTERVAL + 1, 2 * INTERVAL, 3 * INTERVAL]),
        st.integers(0, 4 * 86_400),
    ),
    st.one_of(st.sampled_from([0, 1, 2**32, 2**32 + 1, 2**50]), st.integers(0, 2**50)),
    st.one_of(st.sampled_from([0, 1, 2**32 - 1, 2**50]), st.integers(0, 2**50)),
    st.sampled_from(["fr", "eu", "world"]),
    st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sessions=st.lists(session_st, min_size=1, max_size=6),
    interval=st.sampled_from([INTERVAL, 3_600, 997]),
    seed=st.integers(0, 2**32 - 1),
)
def test_records_are_the_rules_whatever_the_file_looks_like(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sessions: list[tuple[int, tzinfo, int, int, int, str, bool]],
    interval: int,
    seed: int,
) -> None:
    """Columns in any order, an operator's extra column, BOM, CRLF, semicolons, gzip: the same
    records, each one the rule's; the bytes of a session add up to its own, up and down."""
    rnd = random.Random(seed)
    order = [*COLUMNS, "imsi"]
    rnd.shuffle(order)
    want: list[tuple[object, ...]] = []
    lines = []
    for i, (offset, tz, d, up, down, zone, abnormal) in enumerate(sessions):
        start = (BASE + timedelta(days=30, seconds=offset)).astimezone(tz)
        values = {
            "line": f"L{i % 2}",
            "start": start.isoformat(),
            "duration_s": str(d),
            "bytes_up": str(up),
            "bytes_down": str(down),
            "zone": zone,
            "session": f"s{i}",
            "abnormal": "true" if abnormal else "",
            "imsi": "20801000000000",
        }
        lines.append([values[c] for c in order])
        want += expected(f"L{i % 2}", start, d, up, down, zone, f"s{i}", abnormal, interval)
    sep = rnd.choice([",", ";"])
    end = rnd.choice(["\n", "\r\n"])
    text = end.join(sep.join(row) for row in [order, *lines]) + end
    data = (rnd.choice(["", "\ufeff"]) + text).encode()
    name = "sessions.csv"
    if rnd.random() < 0.3:
        data, name = gzip.compress(data, mtime=0), "sessions.csv.gz"
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "usage.parquet"
    out.unlink(missing_ok=True)
    assert main(["sessions-to-records", str(src), str(out), "--interval", str(interval)]) == 0
    capsys.readouterr()
    records = got(out)
    assert records == want
    for i, (_, _, _, up, down, _, _) in enumerate(sessions):
        mine = [r for r in records if r[6] == f"s{i}"]
        assert sum(r[3] for r in mine) == up and sum(r[4] for r in mine) == down  # type: ignore[misc]


def test_a_leap_second_start_is_read_as_rate_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session opened on the leap second of 31 December 2016 (23:59:60 UTC, or 00:59:60 in a zone
    one hour ahead) was a reject, "not an ISO 8601 time", its bytes billed nowhere, while `rate`
    reads such a start as 23:59:59.999999 (`accounting.starts`): its records start at 23:59:59, in
    December.  A second 60 at another time is no leap second, and still a reject."""
    _, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session\n"
            "L1,2016-12-31T23:59:60Z,86400,3000,0,a\n"
            "L1,2017-01-01T00:59:60.5+01:00,60,7,7,b\n"
            "L1,2016-12-31T22:59:60Z,60,7,7,c\n"
        ),
        1,
    )
    assert "row 4: rejected: field 'start' '2016-12-31T22:59:60Z' is no leap second" in err
    assert "row 2" not in err and "row 3" not in err
    leap = datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert got(out) == [
        *expected("L1", leap, 86_400, 3000, 0, "fr", "a", False, INTERVAL),
        *expected("L1", leap, 60, 7, 7, "fr", "b", False, INTERVAL),
    ]


@pytest.mark.parametrize(
    "start", ["9999-12-31T12:00:00Z", "0001-01-01T00:30:00+01:00"], ids=["after-9999", "before-year-1"]
)
def test_a_session_whose_records_leave_the_calendar_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str
) -> None:
    """Its records were written dated 10000-01-01 or 0000-12-31, which no reader of usage records
    takes (docs/records.md: a record ending after the year 9999 is a reject)."""
    _, out, err = convert(
        tmp_path,
        capsys,
        f"line,start,duration_s,bytes_up,bytes_down\nL1,{start},86400,5,5\nL2,2026-03-01T00:00:00Z,1,1,1\n",
        1,
    )
    assert f"row 2: rejected: field 'start' '{start}': the session's records would fall outside" in err
    assert [r[0] for r in got(out)] == ["L2"]


def test_a_column_named_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bytes_up` twice in the header: the last one was read, the other left aside without a word."""
    src, out, err = convert(
        tmp_path,
        capsys,
        "line,start,duration_s,bytes_up,bytes_down,bytes_up\nL1,2026-03-01T00:00:00Z,60,100,5,7\n",
        2,
        "usage.csv",
    )
    assert err.startswith(f"m2msim sessions-to-records: {src}:1: column 'bytes_up' is in the header 2 times")
    assert "(columns 4, 6)" in err and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("interval", ["0", "-1", "59", "43201", "x"])
def test_interval_out_of_its_bounds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], interval: str
) -> None:
    """RADIUS interim updates come at least 60 s apart (RFC 2869, Acct-Interim-Interval): `--interval
    1` cut a year's session into 31,622,400 records, and a few such rows took the memory of the
    machine (a traceback, 'Unable to allocate')."""
    src = tmp_path / "sessions.csv"
    src.write_text(
        "line,start,duration_s,bytes_up,bytes_down\nL1,2026-03-01T00:00:00Z,600,1,1\n", encoding="utf-8"
    )
    out = tmp_path / "usage.parquet"
    try:
        status = main(["sessions-to-records", str(src), str(out), "--interval", interval])
    except SystemExit as exc:  # (argparse: not an integer)
        status = exc.code  # type: ignore[assignment]
    assert status == 2 and not out.exists()
    assert "--interval" in capsys.readouterr().err
    assert main(["sessions-to-records", str(src), str(out), "--interval", "60"]) == 0
    assert [r[2] for r in got(out)] == [60] * 10


def test_records_are_cut_and_written_a_batch_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """All the records of a file were cut at once, in memory: a file of long sessions needed memory
    in proportion to its records.  They are cut by batches of sessions, the same records."""
    import gateway.cli
    from gateway.partial import cut_sessions

    sizes: list[int] = []

    def spy(*args: object, **kwargs: object) -> object:
        cut = cut_sessions(*args, **kwargs)  # type: ignore[arg-type]
        sizes.append(len(cut))
        return cut

    monkeypatch.setattr(gateway.cli, "cut_sessions", spy)
    monkeypatch.setattr(gateway.cli, "CHUNK_RECORDS", 4, raising=False)
    rows = [
        f"L{i},2026-03-0{1 + i % 5}T00:00:00+01:00,{3 * INTERVAL - i},{1000 + i},{i},s{i}" for i in range(10)
    ]
    src = tmp_path / "sessions.csv"
    src.write_text("line,start,duration_s,bytes_up,bytes_down,session\n" + "\n".join(rows) + "\n")
    for name in ("usage.parquet", "usage.csv"):
        out = tmp_path / name
        sizes.clear()
        assert main(["sessions-to-records", str(src), str(out)]) == 0
        assert "10 sessions -> 30 records" in capsys.readouterr().out
        assert sum(sizes) == 30 and max(sizes) <= 4 + 3 - 1
    want = []
    for i in range(10):
        start = datetime(2026, 3, 1 + i % 5, tzinfo=timezone(timedelta(hours=1)))
        want += expected(f"L{i}", start, 3 * INTERVAL - i, 1000 + i, i, "fr", f"s{i}", False, INTERVAL)
    assert got(tmp_path / "usage.parquet") == want


SESSIONS = [  # (seconds from 1 March 00:00 UTC, duration, up, down, abnormal)
    (0, 0, 0, 0, False),
    (3_600, 0, 1_500, 10, False),  # zero length, with bytes
    (7_200, INTERVAL, 1_000_001, 3, False),  # exactly 12 h
    (60_000, 2 * INTERVAL, 2_000_003, 2**32 + 7, True),  # exactly 24 h
    (200_000, 5 * INTERVAL + 17, 9_999_999, 123_457, False),
    (30 * 86_400 + 7_000, 2 * 86_400 + 1, 5_000_000, 7_000_001, False),  # across the end of March
]


def test_rated_as_the_gateway_records_of_the_same_sessions_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from accounting.usage_writer import UsageWriter
    from gateway.api import Subscriber
    from gateway.network import Network, NetworkConfig

    gateway_out = tmp_path / "gateway.parquet"
    with UsageWriter(gateway_out) as writer:
        net = Network(NetworkConfig(epoch=BASE, scan_rate_per_hour=0, max_bytes_per_s=10**12), writer)
        net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
        assert net.attach(0, "L1", IMEISV, "20801").accepted
        ids = []
        for start, d, up, down, abnormal in SESSIONS:
            s = net.open_session(start, "L1", "orange.m2m.spec")
            assert s.session_id
            net.transfer(start + d, s.session_id, up, down)
            net.close_session(start + d, s.session_id, abnormal=abnormal)
            ids.append(s.session_id)
    rows = [
        f"{down},{(BASE + timedelta(seconds=start)).astimezone(timezone(timedelta(hours=2))).isoformat()},"
        f"L1,{d},{up},{sid},{'true' if abnormal else ''}"
        for (start, d, up, down, abnormal), sid in zip(SESSIONS, ids, strict=True)
    ]
    src = tmp_path / "sessions.csv"
    src.write_text("bytes_down,start,line,duration_s,bytes_up,session,abnormal\n" + "\n".join(rows) + "\n")
    mine = tmp_path / "mine.parquet"
    assert main(["sessions-to-records", str(src), str(mine)]) == 0
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: L1, offer: business-m2m, plan: compteur, "
        "commitment: 24, since: 2025-01-15}\n"
    )
    capsys.readouterr()
    invoices = []
    for usage in (gateway_out, mine):
        assert main(["rate", str(inventory), str(usage), "--json"]) == 0
        invoices.append(billed(json.loads(capsys.readouterr().out)))
    assert invoices[0] == invoices[1]
    assert any(r["reason"].startswith("outside") or "month" in r["reason"] for r in invoices[1]["rejects"])


@pytest.mark.parametrize("session", [True, False], ids=["with-session-ids", "without"])
def test_a_session_written_twice_in_other_forms_is_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: bool
) -> None:
    """Only rows identical as text were duplicates: the same session with its start in another
    offset, a count with a leading 0, a space, or another value in an operator's column was cut
    again, its records written twice (rate then rejected them as duplicates; without a session id
    they were billed twice)."""
    forms = [
        "L1,2026-03-01T10:00:00Z,60,100,5,a",
        "L1,2026-03-01T11:00:00+01:00,60,100,5,b",
        "L1,2026-03-01T10:00:00Z,60,0100,5,c",
        "L1,2026-03-01T10:00:00Z, 60,100,5,d",
        "L1,2026-03-01T10:00:00Z,61,100,5,e",  # another session
    ]
    rows = [f"{row},s{1 + (i == 4)}" if session else row for i, row in enumerate(forms)]
    src = tmp_path / "sessions.csv"
    header = "line,start,duration_s,bytes_up,bytes_down,export" + (",session" if session else "")
    src.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out)]) == 1
    err = capsys.readouterr().err
    for row in (3, 4, 5):
        assert f"row {row}: rejected: duplicate of row 2 (the same session" in err
    assert "row 6" not in err
    assert [r[2] for r in got(out)] == [60, 61]


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compressed_data_in_a_file_not_named_so_says_its_compression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """It was 'binary data (a NUL byte): not a text file' (or 'not UTF-8'), where `rate` says what
    the data are and the name to give them."""
    import pyarrow as pa

    raw = b"line,start,duration_s,bytes_up,bytes_down\nL1,2026-03-01T00:00:00Z,60,1,1\n"
    data = gzip.compress(raw) if kind == "gzip" else pa.Codec("zstd").compress(raw, asbytes=True)
    src = tmp_path / "sessions.csv"
    src.write_bytes(data)
    out = tmp_path / "usage.csv"
    assert main(["sessions-to-records", str(src), str(out)]) == 2
    end = ".gz" if kind == "gzip" else ".zst"
    assert capsys.readouterr().err == (
        f"m2msim sessions-to-records: {src}: compressed by {kind}: name it sessions.csv{end}, or decompress it\n"
    )
    named = src.rename(tmp_path / f"sessions.csv{end}")
    assert main(["sessions-to-records", str(named), str(out)]) == 0


@pytest.mark.parametrize("kind", ["utf-16", "utf-16-le-no-bom", "workbook"])
def test_a_spreadsheets_other_exports_are_named_as_rate_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A sheet saved as 'Unicode text' (UTF-16) or as a workbook (a zip archive) was refused as
    'binary data (a NUL byte): not a text file'; `rate` says what it is and what to do."""
    import zipfile

    text = "line,start,duration_s,bytes_up,bytes_down\nL1,2026-03-01T00:00:00Z,60,1,1\n"
    src = tmp_path / "sessions.csv"
    if kind == "workbook":
        with zipfile.ZipFile(src, "w") as z:
            z.writestr("xl/worksheets/sheet1.xml", text)
    else:
        src.write_bytes(text.encode("utf-16" if kind == "utf-16" else "utf-16-le"))
    out = tmp_path / "usage.csv"
    assert main(["sessions-to-records", str(src), str(out)]) == 2
    why = "a zip archive (or a spreadsheet workbook)" if kind == "workbook" else "UTF-16 text"
    err = capsys.readouterr().err
    assert err.startswith(f"m2msim sessions-to-records: {src}: {why}") and len(err.splitlines()) == 1


def test_one_session_given_twice_with_other_values_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Session `s1` of line L1 opened at 10:00, in two exports with other counts: both were cut,
    and the session billed twice.  The second is a reject; the session id by another line is
    another session; the same id later on its line is the session's next partial record, the one
    between them lost (`test_a_gap_in_a_sessions_partial_records_is_one_session_and_named`)."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session\n"
            "L1,2026-03-01T10:00:00Z,600,100,5,s1\n"
            "L1,2026-03-01T11:00:00+01:00,900,150,9,s1\n"
            "L1,2026-03-02T10:00:00Z,600,100,5,s1\n"
            "L2,2026-03-01T10:00:00Z,900,150,9,s1\n"
        ),
        1,
    )
    lines = err.splitlines()
    assert lines == [
        f"{src}: row 3: rejected: session 's1' of line 'L1' opened at 2026-03-01T11:00:00+01:00 is row 2 "
        "with other values: which one is right is not known",
        f"{src}: row 4: warning: session 's1' of line 'L1' from 2026-03-02T10:00:00Z follows row 2, the "
        "same session up to 2026-03-01T10:10:00Z: the partial record(s) of the 85800 s between them are "
        "not in the file (one session's partial records abut, TS 32.298); kept as one session, its "
        "records numbered on from row 2's",
    ]
    assert [(r[0], r[2], r[8]) for r in got(out)] == [("L1", 600, 1), ("L1", 600, 2), ("L2", 900, 1)]


def test_a_busy_out_is_refused_before_the_sessions_are_read_and_an_interruption_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OUT was locked for the writing only: a second conversion to it read its whole sessions file
    (minutes for a big export) before it was refused, or, the first done meanwhile, replaced its
    records; and a signal during the reading said nothing of OUT."""
    import gateway.cli
    from m2msim.outputs import output_lock

    sessions = tmp_path / "sessions.csv"
    sessions.write_text("line,start,duration_s,bytes_up,bytes_down\n336,2026-03-01T00:00:00Z,100,10,20\n")
    out = tmp_path / "records.csv"
    read: list[Path] = []
    real = gateway.cli.scan_sessions
    monkeypatch.setattr(gateway.cli, "scan_sessions", lambda path: read.append(path) or real(path))
    with output_lock(out):  # another command writing it now
        assert main(["sessions-to-records", str(sessions), str(out)]) == 2
    assert "is writing it now" in capsys.readouterr().err and read == [] and not out.exists()

    # SIGTERM while the sessions are read, as m2msim.signals raises it
    monkeypatch.setattr(gateway.cli, "scan_sessions", terminated)
    with signals_restored():
        assert main(["sessions-to-records", str(sessions), str(out)]) == 143
    assert (
        capsys.readouterr().err == f"m2msim sessions-to-records: interrupted (SIGTERM); not written: {out}\n"
    )


def test_a_session_id_overlapping_itself_on_a_line_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Session `s1` of line L1 from the operator's portal and from the device's log, its start a
    few seconds apart (two clocks): both were cut, the session billed twice.  A row whose session id
    is, on its line, one of a session still lasting is a reject naming that row; one starting as
    the other ends is the session's next partial record (a portal exporting a session's records one
    a row); the same id on another line or later (a counter that wrapped) is another session, as
    are two sessions of one line under other ids (two PDP contexts)."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session\n"
            "L1,2026-03-01T10:00:00Z,86400,100,5,s1\n"  # row 2: to 03-02 10:00
            "L1,2026-03-01T11:00:07+01:00,86400,100,5,s1\n"  # row 3: 7 s later
            "L1,2026-03-02T10:00:00Z,600,10,5,s1\n"  # row 4: as row 2 ends
            "L1,2026-03-02T10:05:00Z,0,1,1,s1\n"  # row 5: an instant inside row 4
            "L1,2026-03-01T09:00:00Z,3601,1,1,s1\n"  # row 6: ends a second into row 2
            "L1,2026-03-01T09:00:00Z,3600,1,1,s2\n"  # another id: another context
            "L2,2026-03-01T10:00:00Z,900,150,9,s1\n"  # another line
            "L1,2026-03-01T09:00:00Z,3600,1,1,s1\n"  # row 9: ends as row 2 starts
        ),
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 3: rejected: session 's1' of line 'L1' from 2026-03-01T10:00:07Z to "
        "2026-03-02T10:00:07Z overlaps row 2, the same session id from 2026-03-01T10:00:00Z to "
        "2026-03-02T10:00:00Z: a session id is the session's while it lasts, so one of them is not right",
        f"{src}: row 5: rejected: session 's1' of line 'L1' from 2026-03-02T10:05:00Z to "
        "2026-03-02T10:05:00Z overlaps row 4, the same session id from 2026-03-02T10:00:00Z to "
        "2026-03-02T10:10:00Z: a session id is the session's while it lasts, so one of them is not right",
        f"{src}: row 6: rejected: session 's1' of line 'L1' from 2026-03-01T09:00:00Z to "
        "2026-03-01T10:00:01Z overlaps row 2, the same session id from 2026-03-01T10:00:00Z to "
        "2026-03-02T10:00:00Z: a session id is the session's while it lasts, so one of them is not right",
    ]
    opened = sorted((r[0], r[6], r[1]) for r in got(out) if r[8] == 1)
    assert opened == [
        ("L1", "s1", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("L1", "s2", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("L2", "s1", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ]
    # rows 9, 2 and 4: one session's partial records, numbered on; row 2, past 12 h, cut at the
    # session's 12-hour marks (from row 9's start, as the gateway cuts a context) and closed by the
    # time limit there; row 9 at 1 h and row 2 at 25 h by a cause the file does not say (98)
    chain = sorted((r[1], r[2], r[8], r[7]) for r in got(out) if r[:1] == ("L1",) and r[6] == "s1")
    assert chain == [
        (datetime(2026, 3, 1, 9, tzinfo=UTC), 3600, 1, 98),
        (datetime(2026, 3, 1, 10, tzinfo=UTC), INTERVAL - 3600, 2, 17),
        (datetime(2026, 3, 1, 21, tzinfo=UTC), INTERVAL, 3, 17),
        (datetime(2026, 3, 2, 9, tzinfo=UTC), 3600, 4, 98),
        (datetime(2026, 3, 2, 10, tzinfo=UTC), 600, 5, 0),
    ]


@pytest.mark.parametrize("interval", [60, 3_601, INTERVAL])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_records_are_the_gateways_record_for_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], interval: int, seed: int
) -> None:
    """The gateway's records of sessions (each reported by one transfer at its end) and the
    records cut from their export, starts in the past's offsets and with fractions of a second:
    the same records, field for field (start, duration, bytes, cause, sequence)."""
    from accounting.usage_writer import UsageWriter
    from gateway.api import Subscriber
    from gateway.network import Network, NetworkConfig

    rng = random.Random(seed)
    sessions = []
    for i in range(30):
        d = rng.choice(
            [0, 1, interval - 1, interval, interval + 1, 2 * interval, rng.randrange(5 * interval)]
        )
        start = rng.randrange(25 * 86_400) + rng.choice([0, 0.25, 0.999])
        sessions.append((f"L{i}", start, d, rng.randrange(10 ** rng.randrange(1, 13)), rng.randrange(10**9)))
    config = NetworkConfig(
        epoch=BASE, scan_rate_per_hour=0, max_bytes_per_s=10**12, interim_interval_s=interval
    )
    gateway_out = tmp_path / "gateway.parquet"
    rows = []
    with UsageWriter(gateway_out) as writer:
        net = Network(config, writer)
        for k, (line, start, d, up, down) in enumerate(sessions):
            net.register_subscriber(
                Subscriber(line, f"2080112345678{k:02d}", f"336123456{k:02d}", "business-m2m")
            )
            assert net.attach(0, line, IMEISV, "20801").accepted
            s = net.open_session(start, line, "orange.m2m.spec")
            assert s.session_id
            net.transfer(start + d, s.session_id, up, down)
            abnormal = k % 3 == 0
            net.close_session(start + d, s.session_id, abnormal=abnormal)
            offset = timezone(timedelta(hours=1 + k % 2))  # +01:00 and +02:00
            when = (BASE + timedelta(seconds=start)).astimezone(offset).isoformat()
            rows.append(f"{line},{when},{d},{up},{down},{s.session_id},{str(abnormal).lower()}")
    src = tmp_path / "sessions.csv"
    src.write_text("line,start,duration_s,bytes_up,bytes_down,session,abnormal\n" + "\n".join(rows) + "\n")
    mine = tmp_path / "mine.csv"
    assert main(["sessions-to-records", str(src), str(mine), "--interval", str(interval)]) == 0
    theirs = sorted(got(gateway_out))
    assert sorted(got_csv(mine)) == theirs
    assert any(r[8] > 1 for r in theirs)  # (cut somewhere)


def got_csv(path: Path) -> list[tuple[object, ...]]:
    """`got` of a CSV of usage records, its values typed as the Parquet file's."""
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        return [
            (
                r["line"],
                datetime.fromisoformat(r["start"]),
                int(r["duration_s"]),
                int(r["bytes_up"]),
                int(r["bytes_down"]),
                r["zone"],
                r["session"],
                int(r["cause"]),
                int(r["sequence"]),
            )
            for r in csv.DictReader(f)
        ]


def test_a_header_in_capitals_names_the_column_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A portal's export headed `Line,Start,...`: every column was said missing (`missing column(s)
    line, start, duration_s, bytes_up, bytes_down`), the columns there before the user's eyes; as
    `rate` says of a usage file, the first is named with the column it resembles."""
    src, _, err = convert(
        tmp_path,
        capsys,
        "Line,Start,Duration_s,Bytes_up,Bytes_down\nL1,2026-03-01T10:00:00Z,600,100,5\n",
        2,
        "usage.csv",
    )
    assert err == (
        f"m2msim sessions-to-records: {src}:1: column 'Line': unknown column (did you mean 'line'?)\n"
    )


def test_a_spreadsheets_note_of_the_separator_is_named_as_rate_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's export with its first line `sep=;`: every column was said missing (`missing
    column(s) line, start, ...`); it is named, as `rate` names it, saying to delete that line."""
    src, _, err = convert(
        tmp_path,
        capsys,
        "sep=;\r\nline;start;duration_s;bytes_up;bytes_down\r\nL1;2026-03-01T10:00:00Z;600;100;5\r\n",
        2,
        "usage.csv",
    )
    assert err == (
        f"m2msim sessions-to-records: {src}:1: 'sep=;' is a spreadsheet's note of the separator, not "
        "the header row: delete that line (the header is line 2; a ';' between its names is read as "
        "the separator)\n"
    )


@pytest.mark.parametrize("abnormal", [False, True])
def test_a_sessions_partial_records_one_a_row_are_its_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], abnormal: bool
) -> None:
    """A portal's export of a session already cut at 12 h, one partial record a row (one session id,
    each row starting as the one before ends, in any order): each row was taken for a session of
    its own, sequence 1 and cause 0 each.  They are the session's records, as the gateway writes
    them (TS 32.298: the record sequence number links one context's partial records): sequence
    1..n, cause 17 (time limit) but on the last, 0 or 4 by its release."""
    start = datetime(2026, 3, 30, 20, tzinfo=timezone(timedelta(hours=2)))
    d, up, down = 2 * INTERVAL + 21_600, 3_000_000_007, 12_345
    whole = expected("L1", start, d, up, down, "eu", "s9", abnormal, INTERVAL)
    rows = [
        f"L1,{(r[1]).astimezone(timezone(timedelta(hours=2))).isoformat()},{r[2]},{r[3]},{r[4]},eu,s9,"
        f"{str(abnormal and r[8] == len(whole)).lower()}"
        for r in whole
    ]
    rows = [rows[2], rows[0], rows[1]]  # (an export sorted otherwise)
    _, out, err = convert(
        tmp_path,
        capsys,
        "line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal\n" + "\n".join(rows) + "\n",
        0,
    )
    assert err == ""
    assert sorted(got(out), key=lambda r: r[8]) == whole
    assert [r[8] for r in whole] == [1, 2, 3] and [r[7] for r in whole] == [17, 17, 4 if abnormal else 0]


def test_partial_records_longer_than_the_interval_are_cut_and_numbered_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Partial records of 12 h cut at 1 h (`--interval 3600`): each row's records numbered on from
    the rows before it, 1 to 30, every one closed by the time limit but the last."""
    src = tmp_path / "sessions.csv"
    src.write_text(
        "line,start,duration_s,bytes_up,bytes_down,session\n"
        "L1,2026-03-01T12:00:00Z,43200,4320,0,s1\n"
        "L1,2026-03-01T00:00:00Z,43200,4320,0,s1\n"
        "L1,2026-03-02T00:00:00Z,21600,2160,0,s1\n"
    )
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out), "--interval", "3600"]) == 0
    assert "1 sessions (2 rows continuing" in capsys.readouterr().out
    records = sorted(got(out), key=lambda r: r[1])
    assert [r[8] for r in records] == list(range(1, 31))
    assert [r[7] for r in records] == [17] * 29 + [0]
    assert {r[2] for r in records} == {3600} and sum(r[3] for r in records) == 10_800


def test_a_partial_record_after_an_abnormal_release_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row continuing one that says the session was released abnormally at that second: a next
    partial record of a released session, or another session under its id, which one is not known:
    a reject naming both rows, and the rows continuing it with it, after a gap too (its partial
    record between them lost).  A row without a session id is a session of its own, as before."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session,abnormal\n"
            "L1,2026-03-01T00:00:00Z,43200,10,1,s1,false\n"  # row 2
            "L1,2026-03-01T12:00:00Z,43200,10,1,s1,true\n"  # row 3: released abnormally
            "L1,2026-03-02T00:00:00Z,600,10,1,s1,false\n"  # row 4: continues it
            "L1,2026-03-02T00:10:00Z,600,10,1,s1,false\n"  # row 5: continues row 4
            "L1,2026-03-02T01:00:00Z,600,10,1,s1,false\n"  # row 6: continues row 5 after a gap
            "L2,2026-03-01T00:00:00Z,600,10,1,,false\n"  # row 7: no session id
            "L2,2026-03-01T00:10:00Z,600,10,1,,false\n"  # row 8: no session id
        ),
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 4: rejected: session 's1' of line 'L1' from 2026-03-02T00:00:00Z continues row 3, its "
        "partial record up to then, which says the session was released abnormally then: a next partial "
        "record of a released session, or another session given its id that second, which one is not known",
        f"{src}: row 5: rejected: session 's1' of line 'L1' from 2026-03-02T00:10:00Z continues row 4, "
        "rejected: the session it continues is not known",
        f"{src}: row 6: rejected: session 's1' of line 'L1' from 2026-03-02T01:00:00Z continues row 5, "
        "rejected: the session it continues is not known",
    ]
    records = sorted((r[0], r[1], r[8], r[7]) for r in got(out))
    assert records == [
        ("L1", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 17),
        ("L1", datetime(2026, 3, 1, 12, tzinfo=UTC), 2, 4),
        ("L2", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 0),
        ("L2", datetime(2026, 3, 1, 0, 10, tzinfo=UTC), 1, 0),
    ]


def test_a_split_not_at_the_interval_does_not_claim_the_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A portal's export whose rows of one session split at a volume limit (5 h) and 12 h later: the
    row ending at 5 h closed by the time limit (17), which it was not.  Without a cause in the file,
    a row continued at no mark of the interval closes by 98 (m2msim's own: a partial record whose
    trigger the file does not say); with a `cause` column (a number or TS 32.298's name), by the
    cause it gives.  A cause no TS 32.298 record has, or one saying otherwise than `abnormal`, is a
    reject naming the field; a row after one whose cause says it was released is a reject."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session,abnormal,cause\n"
            "L1,2026-03-01T00:00:00Z,18000,10,1,s1,,\n"  # row 2: split at 5 h, no cause said
            "L1,2026-03-01T05:00:00Z,43200,10,1,s1,,\n"  # row 3: 12 h: the time limit
            "L1,2026-03-01T17:00:00Z,600,10,1,s1,,\n"  # row 4: released
            "L2,2026-03-01T00:00:00Z,7200,10,1,s2,,volumeLimit\n"  # row 5
            "L2,2026-03-01T02:00:00Z,3600,10,1,s2,,18\n"  # row 6: a serving node change
            "L2,2026-03-01T03:00:00Z,600,10,1,s2,,\n"  # row 7: released
            "L3,2026-03-01T00:00:00Z,600,10,1,s3,false,4\n"  # row 8: says otherwise than abnormal
            "L3,2026-03-01T01:00:00Z,600,10,1,s4,,15\n"  # row 9: no such cause
            "L4,2026-03-01T00:00:00Z,600,10,1,s5,,normalRelease\n"  # row 10: released
            "L4,2026-03-01T00:10:00Z,600,10,1,s5,,\n"  # row 11: after its release
        ),
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 8: rejected: field 'cause' 4 (abnormalRelease) and field 'abnormal' 'false' say "
        "otherwise of the session's release: which one is right is not known",
        f"{src}: row 9: rejected: field 'cause' '15' is not a TS 32.298 cause for record closing (0 "
        "normalRelease, 4 abnormalRelease, 5 cAMELInitCallRelease, 16 volumeLimit, 17 timeLimit, 18 "
        "servingNodeChange, 19 maxChangeCond, 20 managementIntervention, 21 intraSGSNIntersystemChange, "
        "22 rATChange, 23 mSTimeZoneChange, 24 sGSNPLMNIDChange)",
        f"{src}: row 11: rejected: session 's5' of line 'L4' from 2026-03-01T00:10:00Z continues row 10, "
        "its partial record up to then, which says the session was released (cause 0, normalRelease) "
        "then: a next partial record of a released session, or another session given its id that "
        "second, which one is not known",
    ]
    records = sorted((r[0], r[1], r[2], r[8], r[7]) for r in got(out))
    assert records == [
        ("L1", datetime(2026, 3, 1, 0, tzinfo=UTC), 18000, 1, 98),
        # the 12 h row from 5 h is cut at the session's 12 h mark, as the gateway cuts the context
        # (`test_a_row_within_the_interval_is_cut_at_the_sessions_mark_as_the_gateway_cuts_it`); its
        # end at 17 h is no mark: a trigger the file does not say
        ("L1", datetime(2026, 3, 1, 5, tzinfo=UTC), 25200, 2, 17),
        ("L1", datetime(2026, 3, 1, 12, tzinfo=UTC), 18000, 3, 98),
        ("L1", datetime(2026, 3, 1, 17, tzinfo=UTC), 600, 4, 0),
        ("L2", datetime(2026, 3, 1, 0, tzinfo=UTC), 7200, 1, 16),
        ("L2", datetime(2026, 3, 1, 2, tzinfo=UTC), 3600, 2, 18),
        ("L2", datetime(2026, 3, 1, 3, tzinfo=UTC), 600, 3, 0),
        ("L4", datetime(2026, 3, 1, 0, tzinfo=UTC), 600, 1, 0),
    ]
    # at --interval 3600, the 5-hour row ends at a mark: cut there, it closes by the time limit
    out = tmp_path / "hourly.parquet"
    assert main(["sessions-to-records", str(src), str(out), "--interval", "3600"]) == 1
    capsys.readouterr()
    assert [r[7] for r in sorted(got(out), key=lambda r: (r[0], r[8])) if r[0] == "L1"] == [17] * 17 + [0]


def test_a_gap_in_a_sessions_partial_records_is_one_session_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session's partial records one a row, the one of 2026-03-02 00:00 to 12:00 missing from the
    export: the row after the gap was taken for a session of its own (sequence 1, the row before
    it closed as released), a session that never was.  One context's partial records abut (TS
    32.298), so the file lost one: the rows stay one session, numbered on, and the row after the
    gap is listed on stderr naming both rows and the time lost (exit 1, as for a reject)."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session\n"
            "L1,2026-03-01T00:00:00Z,43200,10,1,s1\n"  # row 2
            "L1,2026-03-01T12:00:00Z,43200,10,1,s1\n"  # row 3
            "L1,2026-03-02T12:00:00Z,3600,10,1,s1\n"  # row 4: after 12 h missing
            "L2,2026-03-01T00:00:00Z,3600,10,1,s1\n"  # another line: another session
        ),
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 4: warning: session 's1' of line 'L1' from 2026-03-02T12:00:00Z follows row 3, the "
        "same session up to 2026-03-02T00:00:00Z: the partial record(s) of the 43200 s between them are "
        "not in the file (one session's partial records abut, TS 32.298); kept as one session, its "
        "records numbered on from row 3's"
    ]
    records = sorted((r[0], r[1], r[8], r[7]) for r in got(out))
    assert records == [
        ("L1", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 17),
        ("L1", datetime(2026, 3, 1, 12, tzinfo=UTC), 2, 17),
        ("L1", datetime(2026, 3, 2, 12, tzinfo=UTC), 3, 0),
        ("L2", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 0),
    ]
    assert main(["sessions-to-records", str(src), str(tmp_path / "again.parquet")]) == 1
    assert capsys.readouterr().out == (
        "2 sessions (2 rows continuing the session of another: its partial records one a row) -> 4 "
        f"records in {tmp_path / 'again.parquet'}; 0 rows rejected; 1 gaps (partial records missing)\n"
    )


REUSED = (
    "line,start,duration_s,bytes_up,bytes_down,session,cause\n"
    "L1,2026-04-01T20:00:00Z,600,10,1,s1,\n"  # row 2: the second session's last record
    "L2,2026-03-03T00:00:00Z,600,10,1,s2,\n"  # row 3: two days after row 7
    "L1,2026-03-01T12:00:00Z,600,10,1,s1,0\n"  # row 4: the first session released
    "L3,2026-03-01T20:00:00Z,600,10,1,s3,\n"  # row 5: 19 h 50 after row 9: a gap
    "L1,2026-04-01T08:00:00Z,43200,10,1,s1,\n"  # row 6: s1 a month later: another session
    "L2,2026-03-01T00:00:00Z,600,10,1,s2,\n"  # row 7
    "L1,2026-03-01T00:00:00Z,43200,10,1,s1,\n"  # row 8: the first session's first record
    "L3,2026-03-01T00:00:00Z,600,10,1,s3,\n"  # row 9
    "L1,2026-04-01T09:00:00Z,600,10,1,s1,\n"  # row 10: inside row 6
)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_session_id_given_again_past_the_max_gap_is_another_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """A NAS numbering its sessions anew after a restart (or a counter that wrapped) gives `s1` of
    line L1 to a session a month after the first one: the rows were joined into one session over the
    month (its records numbered on, a warning of 2,663,400 s of partial records lost, exit 1), and
    after a first session released (cause 0) the later one was a reject, billed nowhere.  Past
    `--max-gap` (2 intervals: 86,400 s by default) the later row opens another session, numbered from
    1, listed on stderr naming both rows; a gap within it is one session as before (a warning, exit
    1), and a row overlapping the later session is a reject naming it.  The same in a file read a
    block at a time, its rows in no order."""
    import gateway.sessions_csv as sessions_csv

    blocks: list[Path] = []
    if streamed:
        scan_blocks = sessions_csv._scan_blocks
        monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", 128)
        monkeypatch.setattr(sessions_csv, "BUCKET_ROWS", 2)

        def spy(path: Path, *args: object) -> object:
            scan = scan_blocks(path, *args)  # type: ignore[arg-type]
            blocks.append(path)  # (read a block at a time: not read whole instead)
            return scan

        monkeypatch.setattr(sessions_csv, "_scan_blocks", spy)
    src, out, err = convert(tmp_path, capsys, REUSED, 1)
    assert len(blocks) == streamed
    assert err.splitlines() == [
        f"{src}: row 10: rejected: session 's1' of line 'L1' from 2026-04-01T09:00:00Z to "
        "2026-04-01T09:10:00Z overlaps row 6, the same session id from 2026-04-01T08:00:00Z to "
        "2026-04-01T20:00:00Z: a session id is the session's while it lasts, so one of them is not right",
        f"{src}: row 3: warning: session 's2' of line 'L2' from 2026-03-03T00:00:00Z follows row 7, the same "
        "session id up to 2026-03-01T00:10:00Z, 172200 s after it, more than the 86400 s a session's lost "
        "partial records may leave: another session given the id again (a NAS numbering its sessions anew "
        "after a restart, a counter that wrapped), its records numbered from 1",
        f"{src}: row 5: warning: session 's3' of line 'L3' from 2026-03-01T20:00:00Z follows row 9, the same "
        "session up to 2026-03-01T00:10:00Z: the partial record(s) of the 71400 s between them are not in "
        "the file (one session's partial records abut, TS 32.298); kept as one session, its records "
        "numbered on from row 9's",
        f"{src}: row 6: warning: session 's1' of line 'L1' from 2026-04-01T08:00:00Z follows row 4, the same "
        "session id up to 2026-03-01T12:10:00Z, 2663400 s after it, more than the 86400 s a session's lost "
        "partial records may leave: another session given the id again (a NAS numbering its sessions anew "
        "after a restart, a counter that wrapped), its records numbered from 1",
    ]
    assert sorted((r[0], r[1], r[8], r[7]) for r in got(out)) == [
        ("L1", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 17),
        ("L1", datetime(2026, 3, 1, 12, tzinfo=UTC), 2, 0),
        ("L1", datetime(2026, 4, 1, 8, tzinfo=UTC), 1, 17),
        ("L1", datetime(2026, 4, 1, 20, tzinfo=UTC), 2, 0),
        ("L2", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 0),
        ("L2", datetime(2026, 3, 3, 0, tzinfo=UTC), 1, 0),
        ("L3", datetime(2026, 3, 1, 0, tzinfo=UTC), 1, 98),
        ("L3", datetime(2026, 3, 1, 20, tzinfo=UTC), 2, 0),
    ]
    again = tmp_path / "again.parquet"
    assert main(["sessions-to-records", str(src), str(again)]) == 1
    assert capsys.readouterr().out == (
        "5 sessions (3 rows continuing the session of another: its partial records one a row) -> 8 records "
        f"in {again}; 1 rows rejected; 1 gaps (partial records missing); 2 session ids given again (more "
        "than --max-gap 86400 s after: other sessions)\n"
    )


@pytest.mark.parametrize(
    ("options", "summary"),
    [
        # the default follows --interval: 2 hours at 1 h, L3's gap of 19 h 50 another session
        (["--interval", "3600"], "6 sessions (2 rows continuing; 3 given again past 7200 s)"),
        (["--max-gap", "0"], "6 sessions (2 rows continuing; 3 given again past 0 s)"),
        (["--max-gap", "71400"], "5 sessions (3 rows continuing; 2 given again past 71400 s; 1 gaps)"),
        # a month: rows 6, 2 after the release of row 4 as before (rejects), L2 one session
        (["--max-gap", "2678400"], "3 sessions (3 rows continuing; 0 given again past 2678400 s; 2 gaps)"),
    ],
)
def test_the_max_gap_is_the_option_given_else_two_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], summary: str
) -> None:
    src = tmp_path / "sessions.csv"
    src.write_text(REUSED)
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out), *options]) == 1
    said = capsys.readouterr()
    counts = re.match(r"(\d+) sessions \((\d+) rows continuing", said.out)
    assert counts is not None
    given = re.search(r"(\d+) session ids given again \(more than --max-gap (\d+) s", said.out)
    gaps = re.search(r"(\d+) gaps", said.out)
    shown = (
        f"{counts[1]} sessions ({counts[2]} rows continuing; {given[1] if given else 0} given again past "
        f"{given[2] if given else options[-1]} s" + (f"; {gaps[1]} gaps)" if gaps else ")")
    )
    assert shown == summary
    assert said.err.count("given the id again") == (int(given[1]) if given else 0)


def test_reused_session_ids_alone_exit_0_and_a_negative_max_gap_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another session under an id given again: its records are all there, the rows all used
    (listed on stderr, exit 0); exit 1 stays for rows rejected and partial records lost."""
    src, out, err = convert(
        tmp_path,
        capsys,
        "line,start,duration_s,bytes_up,bytes_down,session\n"
        "L2,2026-03-01T00:00:00Z,600,10,1,s2\n"
        "L2,2026-03-31T00:00:00Z,600,10,1,s2\n",
        0,
    )
    assert err == (
        f"{src}: row 3: warning: session 's2' of line 'L2' from 2026-03-31T00:00:00Z follows row 2, the same "
        "session id up to 2026-03-01T00:10:00Z, 2591400 s after it, more than the 86400 s a session's lost "
        "partial records may leave: another session given the id again (a NAS numbering its sessions anew "
        "after a restart, a counter that wrapped), its records numbered from 1\n"
    )
    assert [(r[8], r[7]) for r in got(out)] == [(1, 0), (1, 0)]
    assert main(["sessions-to-records", str(src), str(tmp_path / "no.parquet"), "--max-gap", "-1"]) == 2
    assert capsys.readouterr().err == (
        "m2msim sessions-to-records: --max-gap -1: a number of seconds, 0 or more\n"
    )
    assert not (tmp_path / "no.parquet").exists()


def gateway_context(tmp_path: Path, release_h: int) -> tuple[str, list[tuple[object, ...]]]:
    """The gateway's records of a context opened 2026-03-31 12:00 UTC, its RAT changed 5 h later
    (a partial record, cause 22) and released `release_h` hours after its start; its session id."""
    from accounting.usage_writer import UsageWriter
    from gateway.api import Subscriber
    from gateway.network import Network, NetworkConfig

    start = (datetime(2026, 3, 31, 12, tzinfo=UTC) - BASE).total_seconds()
    config = NetworkConfig(epoch=BASE, scan_rate_per_hour=0, max_bytes_per_s=10**12)
    gateway_out = tmp_path / "gateway.parquet"
    with UsageWriter(gateway_out) as writer:
        net = Network(config, writer)
        net.register_subscriber(Subscriber("L1", "208011234567800", "33612345600", "business-m2m"))
        assert net.attach(0, "L1", IMEISV, "20801", rat="utran").accepted
        s = net.open_session(start, "L1", "orange.m2m.spec")
        net.transfer(start + 5 * 3600, s.session_id, 5_000_003, 7)
        net.move(start + 5 * 3600, "L1", "20801", rat="eutran")
        net.transfer(start + release_h * 3600, s.session_id, 20_000_011, 1_000_003)
        net.close_session(start + release_h * 3600, s.session_id)
    return s.session_id, got(gateway_out)


def exported_after_the_move(sid: str, theirs: list[tuple[object, ...]], release_h: int) -> str:
    """The export of `gateway_context`'s records by a portal that did not cut at the time limit: its
    first record, then one row from the move to the release."""
    rows = [f"L1,{r[1].isoformat()},{r[2]},{r[3]},{r[4]},{sid},{r[7]}" for r in theirs[:1]] + [
        f"L1,{theirs[1][1].isoformat()},{(release_h - 5) * 3600},{sum(r[3] for r in theirs[1:])},"
        f"{sum(r[4] for r in theirs[1:])},{sid},"
    ]
    return "line,start,duration_s,bytes_up,bytes_down,session,cause\n" + "\n".join(rows) + "\n"


def test_a_row_continuing_a_session_is_cut_at_the_sessions_marks_as_the_gateway_cuts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A context whose RAT changed 5 h after its start (a partial record, cause 22) and released
    20 h later: the gateway cuts it at 12 h and 24 h from the context's start (TS 32.298's time
    limit counts from it, whatever other partial records were closed).  Exported as a portal that
    did not cut at the time limit (its first record, then one row to the release), its second row
    was cut at 12 h from its own start, 17 h into the session: 12 h of its bytes billed in March
    where the gateway bills 7 h of them, and three records where the gateway writes four."""
    sid, theirs = gateway_context(tmp_path, 25)
    assert [r[7] for r in theirs] == [22, 17, 17, 0]
    _, mine, _ = convert(tmp_path, capsys, exported_after_the_move(sid, theirs, 25), 0)
    assert got(mine) == theirs


def test_a_row_within_the_interval_is_cut_at_the_sessions_mark_as_the_gateway_cuts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same context released 17 h after its start: its second row, 5 h to 17 h, lasts 12 h, no
    more than the interval, and was kept whole: one record of 12 h closed at 17 h (1 April 05:00
    UTC), its bytes billed in March, where the gateway cuts it at the session's 12 h mark, 1 April
    00:00 UTC, and bills 7 h of them in March and 5 h in April."""
    sid, theirs = gateway_context(tmp_path, 17)
    assert [(r[1].month, r[2], r[7]) for r in theirs] == [
        (3, 5 * 3600, 22),
        (3, 7 * 3600, 17),
        (4, 5 * 3600, 0),
    ]
    _, mine, _ = convert(tmp_path, capsys, exported_after_the_move(sid, theirs, 17), 0)
    assert got(mine) == theirs


def test_a_session_whose_first_partial_records_are_lost_is_counted_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session whose partial records before 1 March 05:00 are not in the export (its first row
    present opened by a RAT change at 5 h): the file does not say when the session began, so its
    marks are counted from that row, 7 h off the gateway's; the rows the file says closed by the
    time limit (17) at 12:00 and 00:00, no mark counted from 05:00, show it.  They were cut without
    a word; the summary counts them (a session with no such row cannot be told)."""
    src = tmp_path / "sessions.csv"
    src.write_text(
        "line,start,duration_s,bytes_up,bytes_down,session,cause\n"
        "L1,2026-03-01T05:00:00Z,25200,10,1,s1,17\n"
        "L1,2026-03-01T12:00:00Z,43200,10,1,s1,17\n"
        "L1,2026-03-02T00:00:00Z,600,10,1,s1,\n"
        "L2,2026-03-01T00:00:00Z,43200,10,1,s2,17\n"  # a session from its first record: at its mark
        "L2,2026-03-01T12:00:00Z,600,10,1,s2,\n"
    )
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out)]) == 0
    said = capsys.readouterr()
    assert said.err == ""
    assert said.out == (
        f"2 sessions (3 rows continuing the session of another: its partial records one a row) -> 6 "
        f"records in {out}; 0 rows rejected; 2 rows closed by the time limit off their session's "
        "marks (cut at marks counted from its session_start, else from its first row: its first "
        "partial records not in the file, or the session_start given not its context's start)\n"
    )


def test_a_row_closed_by_the_time_limit_off_the_marks_of_its_session_start_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row the file says closed by the time limit at 18:00, its session's `session_start` 12:00:
    no mark of that start.  The summary counted it as cut at marks from the session's first row, its
    first records lost, where the marks counted from the start given (the start is not the
    context's, or the cause wrong): it names the session_start."""
    src = tmp_path / "sessions.csv"
    src.write_text(
        "line,start,duration_s,bytes_up,bytes_down,session,cause,session_start\n"
        "L1,2026-03-31T17:00:00Z,3600,1000,10,s1,17,2026-03-31T12:00:00Z\n"
        "L1,2026-03-31T18:00:00Z,600,1000,10,s1,,\n"
    )
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(src), str(out)]) == 0
    assert capsys.readouterr().out == (
        f"1 sessions (1 rows continuing the session of another: its partial records one a row) -> 2 "
        f"records in {out}; 0 rows rejected; 1 rows closed by the time limit off their session's "
        "marks (cut at marks counted from its session_start, else from its first row: its first "
        "partial records not in the file, or the session_start given not its context's start)\n"
    )


@pytest.mark.parametrize("block", [None, 128])
def test_a_session_start_given_cuts_at_the_gateways_marks_when_first_records_are_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    """The context of 31 March 12:00 UTC, its RAT changed at 5 h and released at 25 h, exported
    without its first record (lost) as one row from the move to the release: cut at 12 h from that
    row's start, 1 April 05:00, and 12 h of its bytes billed in March where the gateway bills 7 h
    of them.  With the export's `session_start` (the context's start) the marks count from it: the
    gateway's records but the lost one, numbered from 1 (the lost records' number is not known);
    read whole or a block at a time."""
    from gateway import sessions_csv

    if block is not None:
        monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", block)
    sid, theirs = gateway_context(tmp_path, 25)
    opened = theirs[0][1]
    rows = exported_after_the_move(sid, theirs, 25).splitlines()
    text = "\n".join([rows[0] + ",session_start", f"{rows[2]},{opened.isoformat()}"]) + "\n"
    _, mine, err = convert(tmp_path, capsys, text, 0)
    assert err == ""
    assert [r[:7] for r in got(mine)] == [r[:7] for r in theirs[1:]]
    assert [r[1].month for r in got(mine)] == [3, 4, 4]
    assert [(r[7], r[8]) for r in got(mine)] == [(17, 1), (17, 2), (0, 3)]


def test_a_session_start_after_the_rows_start_or_not_a_time_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `session_start` after its row's start, or not a time, is a reject naming the field; an
    empty one is not known (the marks count from the session's first row)."""
    src, out, err = convert(
        tmp_path,
        capsys,
        (
            "line,start,duration_s,bytes_up,bytes_down,session,session_start\n"
            "L1,2026-03-01T05:00:00Z,600,10,1,s1,2026-03-01T06:00:00Z\n"
            "L2,2026-03-01T05:00:00Z,600,10,1,s2,yesterday\n"
            "L3,2026-03-01T05:00:00Z,600,10,1,s3,\n"
        ),
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 2: rejected: field 'session_start' '2026-03-01T06:00:00Z' is after the row's start, "
        "or more than 366 days before it",
        f"{src}: row 3: rejected: field 'session_start' 'yesterday' is not an ISO 8601 time",
    ]
    assert [(r[0], r[2]) for r in got(out)] == [("L3", 600)]


def test_a_session_start_given_on_one_row_counts_for_its_sessions_other_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The context of 31 March 12:00 UTC (RAT changed at 5 h, released at 27 h), its first record
    lost, exported as a row from 17:00 to 13:00 the next day and a row to the release, the session's
    start given on the last row alone (a stop record's): the first row present was cut at 05:00,
    12 h from its own start, where the gateway cuts at 00:00 and 12:00."""
    sid, theirs = gateway_context(tmp_path, 27)
    assert [(r[1].hour, r[2] // 3600) for r in theirs] == [(12, 5), (17, 7), (0, 12), (12, 3)]
    opened = theirs[0][1]
    text = (
        "line,start,duration_s,bytes_up,bytes_down,session,session_start\n"
        f"L1,{theirs[1][1].isoformat()},{20 * 3600},1000,10,{sid},\n"
        f"L1,{(theirs[1][1] + timedelta(hours=20)).isoformat()},{2 * 3600},100,1,{sid},{opened.isoformat()}\n"
    )
    _, mine, err = convert(tmp_path, capsys, text, 0)
    assert err == ""
    assert [(r[1], r[2], r[7]) for r in got(mine)] == [
        (theirs[1][1], 7 * 3600, 17),
        (theirs[2][1], 12 * 3600, 17),
        (theirs[3][1], 1 * 3600, 98),
        (theirs[3][1] + timedelta(hours=1), 2 * 3600, 0),
    ]


def apart(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    block: int | None,
    first: str,
    last: str,
    status: int,
) -> tuple[Path, Path, str]:
    """`convert` of rows `first` and `last` (with `session_start`) 8 rows of other lines apart, read
    whole, or `block` bytes at a time (`STREAM_BLOCK`): their rows 2 and 11."""
    from gateway import sessions_csv

    if block is not None:
        monkeypatch.setattr(sessions_csv, "STREAM_BLOCK", block)
    text = (
        "line,start,duration_s,bytes_up,bytes_down,session,session_start\n"
        f"{first}\n" + "".join(f"P{i},2026-03-01T00:00:00Z,60,1,1,p{i},\n" for i in range(8)) + f"{last}\n"
    )
    return convert(tmp_path, capsys, text, status)


@pytest.mark.parametrize("block", [None, 128])
@pytest.mark.parametrize(
    ("first", "second", "starts"),
    [
        (
            "2026-03-31T12:00:00Z",
            "2026-03-31T13:00:00Z",
            "2026-03-31T12:00:00+00:00, 2026-03-31T13:00:00+00:00",
        ),
        ("", "2026-03-31T18:00:00Z", "2026-03-31T18:00:00+00:00"),  # after the first row's start
    ],
)
def test_a_sessions_rows_giving_starts_that_cannot_all_hold_are_refused_naming_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    block: int | None,
    first: str,
    second: str,
    starts: str,
) -> None:
    """Rows of one session giving two `session_start`s, or one after another row's start: each row
    was cut from the start it gave or took (the row from 17:00 cut at 06:00 from a start at 18:00,
    a mark before the session began), exit 0 without a word; the file cannot say where the marks
    are: refused, naming the rows and the field, read whole or a block at a time."""
    src, out, err = apart(
        tmp_path,
        capsys,
        monkeypatch,
        block,
        f"L1,2026-03-31T17:00:00Z,72000,1000,10,s1,{first}",
        f"L1,2026-04-01T13:00:00Z,7200,100,1,s1,{second}",
        2,
    )
    assert err == (
        f"m2msim sessions-to-records: {src}: rows 2, 11: field 'session_start' ({starts}): the rows of "
        "one session (line L1, session s1) give two starts, or one after a row's start or more than "
        "366 days before it\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("block", [None, 128])
def test_a_session_without_id_given_twice_with_and_without_its_start_is_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    """A session without a session id given twice, once with its `session_start` and once without:
    the same session (line, start, duration, bytes, zone, release); it was two, its records written
    and billed twice, read whole or a block at a time."""
    src, out, err = apart(
        tmp_path,
        capsys,
        monkeypatch,
        block,
        "L1,2026-03-31T17:00:00Z,600,1000,10,,2026-03-31T12:00:00Z",
        "L1,2026-03-31T17:00:00Z,600,1000,10,,",
        1,
    )
    assert err.splitlines() == [
        f"{src}: row 11: rejected: duplicate of row 2 (the same session: line, start, duration, bytes, "
        "zone, session and release as read)"
    ]
    assert [(r[0], r[3]) for r in got(out) if r[0] == "L1"] == [("L1", 1000)]
