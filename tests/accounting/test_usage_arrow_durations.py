"""A Parquet `duration_s` its writer typed as an Arrow duration (pandas' timedelta, pyarrow's
`duration[unit]`): Parquet stores it as a bare whole number of its unit, so only a duration in
seconds is read as what it says; another unit refuses the file, naming the column and the unit,
where a call of 90.5 s written in milliseconds was billed as one of 90,500 s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from invoice_docs import bill_of

from accounting import inventory_from_dict, rate
from accounting.errors import UsageError
from accounting.parquet_small import arrow_durations, footer_arrow_durations
from m2msim.cli import main

INVENTORY = """\
customer: c
month: 2026-03
lines:
  - {id: "D", offer: business-m2m-dtmf, plan: compteur, commitment: 24, since: 2025-01-15}
"""
CALL = timedelta(seconds=90, milliseconds=500)  # billed 91 s: 0.15 + 31 x 0.0025 = 0.2275 -> 0.23


def _calls(unit: str, rows: int = 1) -> pa.Table:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return pa.table(
        {
            "line": ["D"] * rows,
            "type": ["voice"] * rows,
            "dest": ["fr-mobile"] * rows,
            "start": pa.array(
                [start + timedelta(minutes=i) for i in range(rows)], pa.timestamp("us", tz="UTC")
            ),
            "duration_s": pa.array([CALL] * rows, pa.duration(unit)),
        }
    )


def _write(path: Path, unit: str, rows: int = 1) -> Path:
    pq.write_table(_calls(unit, rows), path)
    return path


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("rows", [1, 6_000])  # the small reader's file and the reader's
@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_duration_in_another_unit_than_seconds_is_refused(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str], unit: str, rows: int, command: str
) -> None:
    usage = _write(tmp_path / "usage.parquet", unit, rows)
    assert main([command, inventory, str(usage), "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1
    assert f"usage.parquet: column 'duration_s' is an Arrow duration[{unit}]" in out.err
    assert "seconds" in out.err


def test_a_part_of_a_folder_in_milliseconds_is_refused_naming_it(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    _write(folder / "part-0.parquet", "s")
    _write(folder / "part-1.parquet", "ms")
    assert main(["rate", inventory, str(folder)]) == 2
    assert "part-1.parquet: column 'duration_s' is an Arrow duration[ms]" in capsys.readouterr().err


@pytest.mark.parametrize("rows", [1, 6_000])
def test_a_duration_in_seconds_is_rated_as_its_seconds(
    tmp_path: Path, inventory: str, capsys: pytest.CaptureFixture[str], rows: int
) -> None:
    # duration[s] cannot hold the half second: the call is 90 s, 0.15 + 30 x 0.0025 = 0.225 -> 0.23
    usage = _write(tmp_path / "usage.parquet", "s", rows)
    assert main(["rate", inventory, str(usage), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (voice,) = [i for i in doc["lines"][0]["items"] if i["code"] == "voice"]
    assert voice["quantity"] == str(90 * rows)
    assert Decimal(voice["amount"]) == (rows * (Decimal("0.15") + 30 * Decimal("0.0025"))).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert doc["rejects"] == []


def test_the_footer_s_arrow_schema_names_each_duration_and_its_unit(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "a": pa.array([1], pa.duration("ms")),
                "n": pa.array([1], pa.int64()),
                "duration_s": pa.array([1], pa.duration("s")),
                "z": pa.array([1], pa.duration("ns")),
            }
        ),
        path,
    )
    want = {"a": "ms", "duration_s": "s", "z": "ns"}
    assert arrow_durations(pq.read_metadata(path).metadata[b"ARROW:schema"]) == want
    assert footer_arrow_durations(path.read_bytes()) == want
    assert arrow_durations(b"not base64!") == {} and arrow_durations(b"AAAA") == {}
    assert footer_arrow_durations(b"PAR1 not a footer PAR1") == {}


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_an_arrow_table_of_durations_is_read_as_its_parquet_file(tmp_path: Path, unit: str) -> None:
    """A table given to `rate` (DuckDB reads its Arrow durations as INTERVALs) is read as the
    Parquet file written from it: `duration[s]` its seconds, another unit refused naming the
    column and the unit.  It was refused as `an INTERVAL` in every unit: the same calls rated from
    the file and refused from the table."""
    inventory = inventory_from_dict(yaml.safe_load(INVENTORY))

    def rated(source: Path | pa.Table) -> str:
        try:
            return json.dumps(bill_of(rate(inventory, source)))  # (a table has no usage_files)
        except UsageError as exc:
            return "refused: " + exc.reason

    got, expected = rated(_calls(unit, rows=3)), rated(_write(tmp_path / "usage.parquet", unit, 3))
    assert got == expected
    assert got.startswith("refused: column 'duration_s' is an Arrow duration[") == (unit != "s"), got
