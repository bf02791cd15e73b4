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


@pytest.mark.parametrize(
    ("column", "meant", "value"),
    [("Zone", "zone", "world"), ("zones", "zone", "eu"), ("abnormall", "abnormal", "true")],
)
def test_a_misspelt_optional_column_is_refused_not_left_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, meant: str, value: str
) -> None:
    """Left aside, a `Zone` column made every session a session in France, billed as such."""
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(
        f"line,start,duration_s,bytes_up,bytes_down,{column},imsi\nL1,2026-03-01T10:00:00Z,60,10,20,{value},1\n",
        encoding="utf-8",
    )
    out = tmp_path / "usage.csv"
    assert main(["sessions-to-records", str(sessions), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"sessions.csv:1: column {column!r}: unknown column (did you mean {meant!r}?)" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    sessions.write_text(sessions.read_text().replace(column, meant), encoding="utf-8")  # imsi: left aside
    assert main(["sessions-to-records", str(sessions), str(out)]) == 0


def test_a_column_as_close_to_one_present_as_to_one_lacking_is_the_lacking_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lizone` is as close to `line` (the file has it) as to `zone` (it lacks it): the rule of the
    usage files (`accounting.csv_forms.misspelt_column`) takes the closest among the columns lacking."""
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(
        "line,start,duration_s,bytes_up,bytes_down,lizone\nL1,2026-03-01T10:00:00Z,60,10,20,eu\n",
        encoding="utf-8",
    )
    out = tmp_path / "usage.csv"
    assert main(["sessions-to-records", str(sessions), str(out)]) == 2
    err = capsys.readouterr().err
    assert "sessions.csv:1: column 'lizone': unknown column (did you mean 'zone'?)" in err
    with_zone = (
        "line,start,duration_s,bytes_up,bytes_down,zone,lizone\nL1,2026-03-01T10:00:00Z,60,10,20,eu,x\n"
    )
    sessions.write_text(with_zone, encoding="utf-8")  # both columns there: lizone is one of the operator's
    assert main(["sessions-to-records", str(sessions), str(out)]) == 0


SESSIONS = (
    "line,start,duration_s,bytes_up,bytes_down,zone,session,abnormal\n"
    "L1,2026-03-01T10:00:00Z,90000,1000,2000,fr,s1,\n"
    "L2,2026-03-01T11:00:00+01:00,43200,5,5,eu,s2,true\n"
)


@pytest.mark.parametrize("form", ["gzip", "zstd", "semicolons", "tabs"])
def test_sessions_as_rate_reads_a_csv_make_the_same_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """Compressed by gzip or zstd, or a spreadsheet's export split by `;` or tabs: the records of the
    plain file (each was refused: "binary data", or "missing column(s)")."""
    import gzip

    import pyarrow as pa

    plain = tmp_path / "sessions.csv"
    plain.write_text(SESSIONS, encoding="utf-8")
    raw = SESSIONS.encode()
    path, data = {
        "gzip": (tmp_path / "s.csv.gz", gzip.compress(raw)),
        "zstd": (tmp_path / "s.csv.zst", pa.Codec("zstd").compress(raw, asbytes=True)),
        "semicolons": (tmp_path / "s.csv", raw.replace(b",", b";")),
        "tabs": (tmp_path / "s.tsv", raw.replace(b",", b"\t")),
    }[form]
    path.write_bytes(data)
    assert main(["sessions-to-records", str(plain), str(tmp_path / "plain.parquet")]) == 0
    assert main(["sessions-to-records", str(path), str(tmp_path / "form.parquet")]) == 0
    capsys.readouterr()
    assert pq.read_table(tmp_path / "form.parquet") == pq.read_table(tmp_path / "plain.parquet")
    if form in ("gzip", "zstd"):  # cut short, or named as the other compression: refused, exit 2
        path.write_bytes(data[: len(data) // 2])
        assert main(["sessions-to-records", str(path), str(tmp_path / "cut.parquet")]) == 2
        why = "cut short: its zstd data end within a frame" if form == "zstd" else "damaged: not gzip data"
        assert f"m2msim sessions-to-records: {path}: {why}" in capsys.readouterr().err
        other = path.with_name("s.csv.zst" if form == "gzip" else "s.csv.gz")
        other.write_bytes(data)
        assert main(["sessions-to-records", str(other), str(tmp_path / "o.parquet")]) == 2
        assert f"compressed by {form}: name it s.csv{path.suffix}" in capsys.readouterr().err


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
