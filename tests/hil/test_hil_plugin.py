"""The pytest plugin's options: which modems the bench tests run on, and a bad allow-list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = "tests/bench/test_bench_register.py"


def collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", TESTS, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_default_runs_on_the_three_virtual_profiles() -> None:
    run = collect()
    assert run.returncode == 0, run.stderr
    ids = [line for line in run.stdout.splitlines() if "test_register_script[" in line]
    assert [i.split("[", 1)[1] for i in ids] == [
        "generic-seed-1]",
        "simcom-sim800-seed-1]",
        "quectel-bg96-seed-1]",
    ]


def test_modem_url_option_replaces_the_defaults() -> None:
    run = collect("--modem-url", "/dev/ttyUSB2", "--modem-url", "virtual://quectel-bg96?seed=7")
    assert run.returncode == 0, run.stderr
    ids = [line.split("[", 1)[1] for line in run.stdout.splitlines() if "test_register_script[" in line]
    assert ids == ["dev-ttyUSB2]", "quectel-bg96-seed-7]"]


def test_a_bad_allow_list_stops_the_session_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bench.yaml"
    bad.write_text("numbers:\n  - number: 612\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS, "--allow-list", str(bad),
         "-k", "test_register_script and generic"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert f"{bad}:2: numbers[0].number" in run.stdout + run.stderr
