"""A start whose time carries a zone's name is read only where the name says one instant, by every
reader alike (the small Python path, DuckDB's scans and listing, the pyarrow pass, the report's
view; CSV and Parquet of text): `UTC`/`GMT` and an IANA name (`Europe/Paris`) at a local time the
zone shows once.  An abbreviation (`IST`: India, Israel or Ireland), a time inside a DST change's
gap, a time its fold shows twice, are malformed values whose reason says why: DuckDB's cast read
them as one guess each and moved the row's start by hours, here across the month's end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from invoice_docs import bill_of

from accounting import load_catalog
from accounting.engine import rate_run
from accounting.inventory import inventory_from_dict
from accounting.usage_small import small_reader
from reports.data import connect, find_files
from tests.accounting.test_usage_leap_second import PATHS, _write, by_the_pass

INVENTORY = inventory_from_dict(
    {
        "customer": "c",
        "month": "2012-10",
        "lines": [
            {
                "id": "L1",
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2012-01-01",
            }
        ],
    }
)


def _rows(start: str) -> list[list[str]]:
    return [
        ["L1", "data", "2012-10-01T10:00:00Z", "60", "1000", "2000", ""],
        ["L1", "data", start, "30", "300000", "700000", ""],
        ["L1", "sms", "2012-10-31T20:00:00Z", "", "", "", "fr-mobile"],
    ]


def _rated(path: Path, path_: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    """The invoice's bill (each file compared is its own in usage_files) and rejects by that reader path (the pass: told it read the file)."""
    passes = by_the_pass(monkeypatch, path.suffix) if path_ == "pyarrow pass" else []
    reader = small_reader(path) if path_ == "small" else None
    invoice = rate_run(INVENTORY, path, load_catalog(), reader=reader).invoice
    monkeypatch.undo()
    if path_ == "pyarrow pass":
        assert passes == [True]
    return bill_of(invoice), invoice.rejects


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("path_", PATHS)
@pytest.mark.parametrize(
    ("start", "instant"),
    [
        ("2012-10-31 23:30:00 UTC", "2012-10-31T23:30:00Z"),
        ("2012-10-31 23:30:00 gmt", "2012-10-31T23:30:00Z"),
        ("2012-10-28 03:30:00 Europe/Paris", "2012-10-28T02:30:00Z"),  # (after the fold: once)
        ("2012-10-31 18:30:00 America/New_York", "2012-10-31T22:30:00Z"),
    ],
)
def test_utc_gmt_and_an_iana_zone_are_read_as_their_instant(
    tmp_path: Path, suffix: str, path_: str, start: str, instant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, none = _rated(_write(tmp_path / f"twin{suffix}", _rows(instant)), "duckdb", monkeypatch)
    assert none == []
    assert _rated(_write(tmp_path / f"usage{suffix}", _rows(start)), path_, monkeypatch) == (expected, [])


REFUSED = [
    # India's +05:30 read 2012-10-31T18:30Z, October; Israel's +02:00 is November, Ireland's too
    ("2012-11-01 00:00:00 IST", "ambiguous zone abbreviation IST: "),
    ("2012-10-31 20:00:00 CST", "ambiguous zone abbreviation CST: "),  # US Central: November
    ("2012-11-01 00:30:00 BST", "ambiguous zone abbreviation BST: "),  # Bangladesh: October
    ("2012-10-31 22:00:00 UTC+2", "ambiguous zone abbreviation UTC+2: "),
    ("2012-10-28 02:30:00 Europe/Paris", "start is ambiguous in Europe/Paris: "),
    ("2012-03-25 02:30:00 Europe/Paris", "start does not exist in Europe/Paris: "),
    # a misspelt IANA name, an abbreviation no zone database knows: named, not a bare "malformed"
    ("2012-03-05 10:00:00 Europe/Pariss", "unknown zone Europe/Pariss: "),
    ("2012-10-31 20:00:00 XYZ", "unknown zone XYZ: "),
    # the name ICU gives a zone it could not tell (no IANA zone), which DuckDB's cast read as UTC
    ("2012-10-31 20:00:00 Etc/Unknown", "unknown zone Etc/Unknown: "),
]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("path_", PATHS)
@pytest.mark.parametrize(("start", "why"), REFUSED)
def test_an_abbreviation_a_gap_or_a_fold_is_a_reject_saying_why(
    tmp_path: Path, suffix: str, path_: str, start: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed with its row and reason, the rest of the file billed as without it."""
    rows = _rows(start)
    expected, _ = _rated(_write(tmp_path / f"twin{suffix}", [rows[0], rows[2]]), "duckdb", monkeypatch)
    billed, rejects = _rated(_write(tmp_path / f"usage{suffix}", rows), path_, monkeypatch)
    assert [r.row for r in rejects] == [3]
    assert rejects[0].reason.startswith(f"malformed value: start '{start}': {why}"), rejects[0].reason
    assert (billed["lines"], billed["total_ht"]) == (expected["lines"], expected["total_ht"])


def test_the_reports_view_reads_them_alike(tmp_path: Path) -> None:
    rows = [
        *_rows("2012-10-28 03:30:00 Europe/Paris"),
        ["L1", "data", "2012-11-01 00:00:00 IST", "1", "5", "5", ""],
    ]
    con = connect(find_files(_write(tmp_path / "usage.csv", rows).parent))
    found = con.execute(
        "SELECT bytes_up, strftime(start, '%Y-%m-%dT%H:%M:%S') FROM usage WHERE bytes_up IN (300000, 5) ORDER BY 1"
    ).fetchall()
    assert found == [(5, None), (300000, "2012-10-28T02:30:00")]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("path_", PATHS)
def test_a_second_60_that_is_no_leap_second_in_a_known_zone_is_not_an_unknown_zone(
    tmp_path: Path, suffix: str, path_: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """23:59:60 in Paris is 22:59:60 UTC, no leap second: the same malformed value as with its
    offset, the zone's name not blamed (it was `unknown zone Europe/Paris`, a name that is one);
    a misspelt name there is still named."""
    reasons = []
    for start in [
        "2012-10-31T23:59:60+01:00",
        "2012-10-31 23:59:60 Europe/Paris",
        "2012-10-31 23:59:60 Europe/Pariss",
    ]:
        _, rejects = _rated(_write(tmp_path / f"usage{suffix}", _rows(start)), path_, monkeypatch)
        assert [r.row for r in rejects] == [3]
        reasons.append(rejects[0].reason.replace(start, "<start>"))
    assert reasons[0] == reasons[1] == "malformed value: start '<start>'"
    assert reasons[2].startswith("malformed value: start '<start>': unknown zone Europe/Pariss: "), reasons[2]
