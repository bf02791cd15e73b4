"""The gateway's readers under damaged input: the alarm configuration, the sessions CSV, the data
tables.  Exit 0 (or 1 with rejected rows listed) or 2 with one line, never a traceback; the
sessions' output is complete or absent, and never the input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given
from hypothesis import strategies as st

from gateway.apn import ApnCatalog
from gateway.errors import ConfigError
from gateway.numbering import NumberingPlan
from gateway.plmn import PlmnTable

ROOT = Path(__file__).resolve().parents[2]

ALARMS = """\
timezone: Europe/Paris
holdoff_s: 3600
groups:
  - name: meters
    lines: ["33612345678", "33612345679"]
    line_prefix: M
    geography:
      countries: [FR, BE]
      operators: ["26201"]
    period:
      days: [mon, tue, wed, thu, fri]
      hours: ["08:00-20:00"]
      from: 2026-03-01
      until: 2026-12-31
    imei_change: true
    allowed_types: [data, sms]
    threshold:
      bytes: 5242880
      amount: "10.00"
      prices:
        per_mo: "1.5"
        per_sms: "0.07"
        per_call_s: "0.0025"
  - name: panels
    line_prefix: P
    allowed_types: [voice, csd]
"""

SESSIONS = (
    "line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal\n"
    "L1,2026-03-01T00:00:00Z,100,10,20,fr,s1,false\n"
    "L2,2026-03-01T06:00:00+01:00,90000,1000,2000,eu,s2,true\n"
    "L3,2026-03-02T23:59:59Z,43200,0,0,world,,0\n"
)


def test_the_valid_inputs_pass(tmp_path: Path) -> None:
    result = run_cli(["alarms-check", str(write(tmp_path / "alarms.yaml", ALARMS))])
    assert result.rc == 0 and "2 group(s), time zone Europe/Paris" in result.out, str(result)
    out = tmp_path / "records.csv"
    result = run_cli(["sessions-to-records", str(write(tmp_path / "s.csv", SESSIONS)), str(out)])
    assert result.rc == 0 and out.exists(), str(result)


@FUZZ
@given(damaged=st.one_of(mutated_yaml(ALARMS), mutated_bytes(ALARMS.encode())))
def test_mutated_alarm_configurations(tmp_path: Path, damaged: str | bytes) -> None:
    assert_cli_contract(run_cli(["alarms-check", str(write(tmp_path / "alarms.yaml", damaged))]))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            ("  - name: panels", "  - name: meters"),
            "groups[1].name: duplicate group name 'meters' (first at line 4)",
        ),
        (
            ("timezone: Europe/Paris", "timezone: Europe/Pariss"),
            "timezone: unknown time zone 'Europe/Pariss'",
        ),
        (("holdoff_s:", "holdof_s:"), "holdof_s: unknown key (did you mean 'holdoff_s'?)"),
        (("    imei_change: true", "    imei_chnage: true"), "did you mean 'imei_change'?"),
        (("      until: 2026-12-31", "      until: 2026-01-31"), "period.until: 2026-01-31 is before from"),
        (('["08:00-20:00"]', '["20:00-00:00"]'), "midnight is 00:00 at a window's start, 24:00 at its end"),
        (('lines: ["33612345678",', "lines: [0612345670,"), 'quote it ("0612345670")'),
        (("countries: [FR, BE]", "countries: [FR, NO]"), 'quote it ("NO")'),
        (('amount: "10.00"', "amount: .nan"), "threshold.amount"),
        (("holdoff_s: 3600", "holdoff_s: -1"), "holdoff_s: -1 s is out of range"),
        # an empty list allows nothing: the alarm fired on every use (accepted before)
        (
            ("allowed_types: [data, sms]", "allowed_types: []"),
            ":16: groups[0] (meters).allowed_types: an empty",
        ),
        (('hours: ["08:00-20:00"]', "hours: []"), ":12: groups[0] (meters).period.hours: an empty list"),
        (("days: [mon, tue, wed, thu, fri]", "days: []"), ":11: groups[0] (meters).period.days: an empty"),
        (
            ('countries: [FR, BE]\n      operators: ["26201"]', "countries: []\n      operators: []"),
            ":7: groups[0] (meters).geography: a geography needs countries or operators",
        ),
    ],
)
def test_alarm_configuration_mistakes_name_line_and_key(
    tmp_path: Path, change: tuple[str, str], words: str
) -> None:
    assert change[0] in ALARMS
    path = write(tmp_path / "alarms.yaml", ALARMS.replace(*change))
    result = run_cli(["alarms-check", str(path)])
    assert_cli_contract(result, allowed=(2,))
    assert words in result.err and f"{path}:" in result.err, str(result)


def _rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


@FUZZ
@given(damaged=mutated_bytes(SESSIONS.encode()))
def test_mutated_sessions_csv(tmp_path: Path, damaged: bytes) -> None:
    src = write(tmp_path / "sessions.csv", damaged)
    out = tmp_path / "records.csv"
    out.unlink(missing_ok=True)
    result = run_cli(["sessions-to-records", str(src), str(out)])
    assert_cli_contract(result, allowed=(0, 1, 2))
    assert src.read_bytes() == damaged  # the input is never touched
    if result.rc == 2:
        assert not out.exists()
        return
    # Every row is converted or rejected with its number and reason; the output is whole.
    assert out.exists()
    rejected = [line for line in result.err.splitlines() if line.strip()]
    assert all(": row " in line and ": rejected: " in line for line in rejected), str(result)
    assert (result.rc == 1) == bool(rejected)
    assert f"{len(rejected)} rows rejected" in result.out
    assert not list(tmp_path.glob(".m2msim-*")), "a temporary file was left behind"


def test_bad_rows_are_rejects_and_the_rest_is_converted(tmp_path: Path) -> None:
    body = (
        SESSIONS.encode()
        + (
            b"L4,2026-03-01T00:00:00Z,1000000000000,1,1,fr,s4,false\n"  # a 31,700-year session
            b"L5,2026-03-01T00:00:00Z,5,1,1,fr,s5,false,extra\n"  # one field too many
            b"L\xff6,2026-03-01T00:00:00Z,5,1,1,fr,s6,false\n"  # not UTF-8
            b"L1,2026-03-01T00:00:00Z,100,10,20,fr,s1,false\n"  # identical to row 2
            b"L7," + b"x" * 300 + b",5,1,1,fr,s7,false\n"  # an over-long field
            b"L8,2026-03-01T00:00:00Z,5"  # a truncated last row
        )
    )
    src = write(tmp_path / "sessions.csv", body)
    out = tmp_path / "records.csv"
    result = run_cli(["sessions-to-records", str(src), str(out)])
    assert result.rc == 1, str(result)
    for row, reason in (
        (5, "more than a network produces"),
        (6, "9 fields, the header has 8"),
        (7, "not UTF-8"),
        (8, "duplicate of row 2"),
        (9, "characters long"),
        (10, "3 fields, the header has 8"),
    ):
        line = next(x for x in result.err.splitlines() if f"sessions.csv: row {row}: rejected: " in x)
        assert reason in line, str(result)
    assert "3 sessions ->" in result.out and _rows(out) >= 3


@pytest.mark.parametrize("kind", ["missing", "dir", "empty", "binary", "latin1-header", "same"])
def test_unusable_sessions_input_exit_2(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "sessions.csv"
    out = tmp_path / "records.csv"
    if kind == "dir":
        src.mkdir()
    elif kind != "missing":
        src.write_bytes(
            {
                "empty": b"",
                "binary": b"\x00\x01PK\x03\x04",
                "latin1-header": "lin\xe9,start\n".encode("latin-1"),
                "same": SESSIONS.encode(),
            }[kind]
        )
    if kind == "same":
        out = src
    result = run_cli(["sessions-to-records", str(src), str(out)])
    assert_cli_contract(result, allowed=(2,))
    assert str(src) in result.err
    if kind == "same":
        assert src.read_text() == SESSIONS


@pytest.mark.parametrize(
    ("table", "loader"),
    [("plmn.yaml", PlmnTable.load), ("apns.yaml", ApnCatalog.load), ("numbering.yaml", NumberingPlan.load)],
)
@FUZZ
@given(data=st.data())
def test_mutated_data_tables(tmp_path: Path, table: str, loader: object, data: st.DataObject) -> None:
    text = (ROOT / ("accounting" if table == "plmn.yaml" else "gateway") / "data" / table).read_text(
        encoding="utf-8"
    )
    damaged = data.draw(st.one_of(mutated_yaml(text), mutated_bytes(text.encode())))
    path = write(tmp_path / table, damaged)
    try:
        loader(path)  # type: ignore[operator]
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        assert "\n" not in str(exc)


@pytest.mark.parametrize("kind", ["missing", "dir", "empty", "binary", "latin1"])
def test_unusable_alarm_files_exit_2(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "alarms.yaml"
    if kind == "dir":
        path.mkdir()
    elif kind != "missing":
        path.write_bytes(
            {
                "empty": b"",
                "binary": b"\x00\x01groups",
                "latin1": "groups:\n  - name: caf\xe9\n".encode("latin-1"),
            }[kind]
        )
    result = run_cli(["alarms-check", str(path)])
    assert_cli_contract(result, allowed=(2,))
    assert str(path) in result.err
