"""`m2msim sessions-to-records` and `m2msim alarms-check`."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from m2msim.cli import main


def test_sessions_to_records_cuts_and_lists_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(
        "line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal\n"
        "L1,2026-03-01T10:00:00Z,90000,1000,2000,fr,s1,\n"
        "L2,2026-03-01T11:00:00+01:00,43200,5,5,eu,s2,true\n"
        "L3,yesterday,1,1,1,,,\n"
        "L4,2026-03-01T10:00:00Z,-1,1,1,,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "usage.parquet"
    assert main(["sessions-to-records", str(sessions), str(out)]) == 1
    err = capsys.readouterr().err
    assert "row 4: rejected: field 'start' 'yesterday'" in err
    assert "row 5: rejected: field 'duration_s' '-1'" in err
    table = pq.read_table(out).to_pylist()
    assert [(r["line"], r["duration_s"], r["bytes_up"], r["cause"], r["sequence"]) for r in table] == [
        ("L1", 43_200, 480, 17, 1),
        ("L1", 43_200, 480, 17, 2),
        ("L1", 3_600, 40, 0, 3),
        ("L2", 43_200, 5, 4, 1),
    ]
    assert table[3]["start"].isoformat() == "2026-03-01T10:00:00+00:00"
    assert table[3]["session"] == "s2" and table[3]["zone"] == "eu"


def test_sessions_to_records_unusable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions-to-records", str(tmp_path / "missing.csv"), str(tmp_path / "o.csv")]) == 2
    assert "missing.csv: cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("line,start\nL1,2026-03-01T00:00:00Z\n", encoding="utf-8")
    assert main(["sessions-to-records", str(bad), str(tmp_path / "o.csv")]) == 2
    assert "missing column(s) duration_s, bytes_up, bytes_down" in capsys.readouterr().err


def test_alarms_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "alarms.yaml"
    good.write_text(
        "groups:\n  - name: meters\n    line_prefix: M\n    imei_change: true\n    period: {hours: ['08:00-20:00']}\n",
        encoding="utf-8",
    )
    assert main(["alarms-check", str(good)]) == 0
    assert "meters: lines M*; rules period, imei-change" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: meters\n    period: {days: [lundi]}\n", encoding="utf-8")
    assert main(["alarms-check", str(bad)]) == 2
    assert "bad.yaml:3: groups[0] (meters).period.days: unknown ['lundi']" in capsys.readouterr().err
