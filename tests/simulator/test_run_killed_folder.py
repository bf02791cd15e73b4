"""What the next run removes of the folder a killed run left: the files the run writes (its
`RUN_WRITES`), no other (m2msim.rundir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import simulator.run
from m2msim.rundir import _written_by_run
from simulator.run import RUN_WRITES

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_a_run_writes_on_the_way_is_one_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file a run writes that `RUN_WRITES` does not name would be kept aside, as a user's, from
    the folder of a run killed while it was there: looked at wherever the run's folder holds the
    most (the shards' files before they are merged, the invoice's, the report's)."""
    from gateway.capture.sink import PcapCapture
    from m2msim.cli import main as m2msim

    seen: set[str] = set()

    def snapshot() -> None:
        (work,) = (p for p in tmp_path.iterdir() if p.name.startswith(".m2msim-r.tmp-"))
        seen.update(str(p.relative_to(work)) for p in work.rglob("*") if not p.is_dir())

    def looking(name: str) -> None:
        step = getattr(simulator.run, name)

        def look(*args: Any, **kwargs: Any) -> Any:
            snapshot()
            return step(*args, **kwargs)

        monkeypatch.setattr(simulator.run, name, look)

    for name in ("merge_usage", "merge_alarms", "rate", "write_report"):
        looking(name)
    write_sessions = PcapCapture.write_sessions

    def writing(self: PcapCapture, *args: Any, **kwargs: Any) -> int:
        # (a shard's capture, as it spills its sessions: the runs it merges when it closes)
        written = write_sessions(self, *args, **kwargs)
        snapshot()
        return written

    monkeypatch.setattr(PcapCapture, "write_sessions", writing)
    scenario = ROOT / "scenarios" / "default.yaml"
    argv = ["run", str(scenario), "--days", "1", "--max-lines", "6", "--shard-devices", "2"]
    assert m2msim([*argv, "--csv", "--capture", "--out", str(tmp_path / "r")]) == 0
    # (each kind of file was seen: the shards' parts, the usage merged, the report)
    assert {"usage-csv/part-00000.csv", "alarms/part-00000.jsonl", "capture/part-00000.pcap"} <= seen
    assert {"usage.parquet", "usage.csv", "invoice.json", "summary.txt"} <= seen
    assert any(name.startswith("capture/.part-00000.pcap.runs-") for name in seen)
    seen.update(str(p.relative_to(tmp_path / "r")) for p in (tmp_path / "r").rglob("*") if p.is_file())
    assert [name for name in sorted(seen) if not _written_by_run(name, RUN_WRITES)] == []


def test_merging_the_parts_removes_them_and_no_file_put_beside_them(tmp_path: Path) -> None:
    """Once merged, the shards' `alarms/` and `usage-csv/` were removed whole (rmtree), a file put
    there while the run wrote its folder with them.  Now the parts go, and the folder if empty."""
    from simulator.run import merge_alarms

    (tmp_path / "alarms").mkdir()
    (tmp_path / "alarms" / "part-00000.jsonl").write_text(
        '{"time": "2026-03-01T00:00:00Z", "line": "a", "rule": "r"}\n', encoding="utf-8"
    )
    (tmp_path / "alarms" / "notes.txt").write_text("mine", encoding="utf-8")
    assert merge_alarms(tmp_path) == (1, {"r": 1})
    assert [p.name for p in (tmp_path / "alarms").iterdir()] == ["notes.txt"]
    (tmp_path / "alarms" / "notes.txt").unlink()
    (tmp_path / "alarms" / "part-00000.jsonl").write_text("", encoding="utf-8")
    merge_alarms(tmp_path)
    assert not (tmp_path / "alarms").exists()
