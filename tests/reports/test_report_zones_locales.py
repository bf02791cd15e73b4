"""A page's dates are the same bytes whatever the machine's time zone (TZ) and locale (LC_ALL): the
records' times are UTC, however a file writes them (a CSV's start without an offset, a Parquet
TIMESTAMP with or without isAdjustedToUTC), and the month names are English."""

from __future__ import annotations

import locale
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reports import render_report

HEADER = "line,type,start,duration_s,bytes_up,bytes_down,zone,dest,delivered,session\n"
# (a record late on a day in UTC: early on the next in Asia, the day before in America)
STARTS = [datetime(2026, 3, 5, 23, 30), datetime(2026, 3, 9, 0, 30)]
ZONES = ("America/New_York", "Asia/Kolkata")
OTHER_LOCALE = "de_DE.UTF-8"  # (`%b` of March: `Mär`)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets the process's time zone (TZ, `time.tzset`), restored after the test."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `OTHER_LOCALE` compiled (`localedef`), for LOCPATH: the machine may have
    none but C installed."""
    folder = tmp_path_factory.mktemp("locales")
    localedef = shutil.which("localedef")
    if localedef is None:
        pytest.skip("no localedef to make a locale with")
    made = subprocess.run(
        [localedef, "-i", OTHER_LOCALE.split(".")[0], "-f", "UTF-8", str(folder / OTHER_LOCALE)],
        capture_output=True,
        check=False,
    )
    if made.returncode not in (0, 1) or not (folder / OTHER_LOCALE).exists():  # (1: warnings alone)
        pytest.skip(f"localedef could not make {OTHER_LOCALE}: {made.stderr.decode(errors='replace')}")
    return folder


@pytest.fixture
def other_locale(locales: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's locale set to `OTHER_LOCALE`, as a program does that sets its user's
    (`locale.setlocale(LC_ALL, "")`), restored after the test."""
    saved = locale.setlocale(locale.LC_ALL)
    monkeypatch.setenv("LOCPATH", str(locales))
    locale.setlocale(locale.LC_ALL, OTHER_LOCALE)
    yield
    locale.setlocale(locale.LC_ALL, saved)


def _folders(root: Path) -> list[Path]:
    """Folders of usage records alone (their period their records' first and last starts), a
    start written each way a file may write it."""
    out = []
    rows = [f"A1,data,{{}},60,1048576,1048576,fr,,,s{k}" for k in range(len(STARTS))]

    def folder(name: str) -> Path:
        path = root / name
        path.mkdir()
        out.append(path)
        return path

    for name, text in (("csv-no-offset", "%Y-%m-%d %H:%M:%S"), ("csv-z", "%Y-%m-%dT%H:%M:%SZ")):
        lines = [r.format(t.strftime(text)) for r, t in zip(rows, STARTS, strict=True)]
        (folder(name) / "usage.csv").write_text(HEADER + "".join(x + "\n" for x in lines), encoding="utf-8")
    for name, kind, starts in (
        ("parquet-timestamp", pa.timestamp("us"), STARTS),  # (isAdjustedToUTC false)
        ("parquet-utc", pa.timestamp("us", tz="UTC"), [t.replace(tzinfo=UTC) for t in STARTS]),
        ("parquet-ms", pa.timestamp("ms"), STARTS),
    ):
        table = pa.table(
            {
                "line": ["A1"] * len(STARTS),
                "type": ["data"] * len(STARTS),
                "start": pa.array(starts, kind),
                "duration_s": [60] * len(STARTS),
                "bytes_up": [1048576] * len(STARTS),
                "bytes_down": [1048576] * len(STARTS),
            }
        )
        pq.write_table(table, folder(name) / "usage.parquet")
    return out


def _pages(folders: list[Path]) -> list[str]:
    return [render_report(f) for f in folders]


def test_the_page_is_the_same_bytes_in_any_zone_and_locale(
    storm_run: Path, tmp_path: Path, zone: Callable[[str], None], other_locale: None
) -> None:
    """A run's page and pages of usage records alone, made in other zones under another locale,
    are the bytes made in UTC under C: the month names followed the locale a program had set
    (`05 Mär 2026`, `Mär 09 00:30`)."""
    folders = [storm_run, *_folders(tmp_path)]
    zone("UTC")
    locale.setlocale(locale.LC_ALL, "C")
    expected = _pages(folders)
    assert "05 Mar 2026 23:30 – 09 Mar 2026 00:30 UTC" in expected[1], expected[1]
    locale.setlocale(locale.LC_ALL, OTHER_LOCALE)
    for name in ZONES:
        zone(name)
        for folder, page, want in zip(folders, _pages(folders), expected, strict=True):
            assert page == want, (name, folder.name)


def test_the_command_draws_the_same_page_in_any_zone_and_locale(
    storm_run: Path, tmp_path: Path, locales: Path
) -> None:
    """`m2msim report` run with TZ and LC_ALL set otherwise writes the page it writes in UTC."""
    [folder] = [f for f in _folders(tmp_path) if f.name == "parquet-timestamp"]
    pages = []
    for env in (
        {"TZ": "UTC", "LC_ALL": "C"},
        {"TZ": ZONES[0], "LC_ALL": OTHER_LOCALE, "LOCPATH": str(locales)},
    ):
        out = tmp_path / f"{len(pages)}.html"
        r = subprocess.run(
            [sys.executable, "-m", "m2msim", "report", str(folder), "--out", str(out)],
            env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]


def test_a_start_without_a_zone_is_taken_as_utc_in_any_zone(zone: Callable[[str], None]) -> None:
    """The records' first and last starts, the period of usage records alone: a naive datetime
    (a TIMESTAMP's) was taken for the machine's local time, the period shifted by its offset
    (`05 Mar 2026 23:30` drawn `06 Mar 2026 04:30` in New York)."""
    from reports.data import RunFiles
    from reports.run_report import _period

    class Records:
        def execute(self, _sql: str) -> Records:
            return self

        def fetchone(self) -> tuple[datetime, datetime]:
            return STARTS[0], STARTS[1]

    zone(ZONES[0])
    period = _period(RunFiles(Path(".")), Records())  # type: ignore[arg-type]
    assert period is not None
    assert (period.start, period.end) == (
        STARTS[0].replace(tzinfo=UTC),
        STARTS[1].replace(second=1, tzinfo=UTC),
    )
