"""A shard never makes the run's folder again: one removed (the run interrupted) between the shard's
own folders and its writers' files stops the shard with FileNotFoundError, nothing made."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import gateway.api
import simulator.engine
from simulator.engine import Shard, fleet
from simulator.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "smart-meters.yaml"


@pytest.mark.parametrize("writer", ["UsageWriter", "PcapCapture"])
def test_run_folder_removed_before_a_writer_opens_is_not_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    sc = load_scenario(SCENARIO, days=1, max_lines=2, shard_devices=4, seed=3)
    out = tmp_path / "run"
    out.mkdir()
    # (the shard takes the capture from the gateway's contract, `gateway.api`, which keeps the name
    # once a first use has imported it: patched there, whichever test of the process came first)
    module: Any = simulator.engine if writer == "UsageWriter" else gateway.api
    real = getattr(module, writer)

    def removed_first(*args: Any, **kwargs: Any) -> Any:
        shutil.rmtree(out, ignore_errors=True)  # the run interrupted just then
        return real(*args, **kwargs)

    monkeypatch.setattr(module, writer, removed_first)
    with pytest.raises(FileNotFoundError):
        Shard(sc, 0, fleet(sc, 0, 4), out, capture=True)
    assert not out.exists()
