"""The scenario reader and `m2msim run` under damaged scenarios (scenarios/default.yaml mutated).

A damaged scenario is read as a good one or refused with one `YamlError` naming the file (and,
when the damage is inside the document, its line and key path); never another exception, never a
traceback.  The loader is called directly (fast); a few examples go through `m2msim run` on a
tiny period and fleet, which must exit 0 or 2 with one stderr line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given, settings

from m2msim.yamlio import YamlError
from simulator.scenario import load_scenario

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"
TEXT = DEFAULT.read_text(encoding="utf-8")


class _TooBig(Exception):
    pass


def _admit(devices: int, days: float) -> None:
    if devices > 10_000:  # what the CLI's estimate refuses; the loader must not expand it here
        raise _TooBig


def _load(path: Path) -> None:
    try:
        load_scenario(path, days=1, max_lines=3, admit=_admit)
    except YamlError as exc:
        text = str(exc)
        assert text.startswith(str(path)), text
        assert "\n" not in text.strip() or text.count("\n") == 0, text
    except _TooBig:
        pass


@FUZZ
@given(mutated_yaml(TEXT))
def test_mistyped_scenarios_load_or_name_the_line(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = write(tmp_path_factory.mktemp("s") / "scenario.yaml", text)
    _load(path)


@FUZZ
@given(mutated_bytes(TEXT.encode("utf-8")))
def test_damaged_scenario_files_load_or_are_refused(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = write(tmp_path_factory.mktemp("s") / "scenario.yaml", data)
    _load(path)


@settings(FUZZ, max_examples=max(3, FUZZ.max_examples // 8))  # each simulates: fewer examples
@given(mutated_yaml(TEXT))
def test_run_on_a_mistyped_scenario_keeps_the_cli_contract(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("r")
    path = write(folder / "scenario.yaml", text)
    argv = [
        "run",
        str(path),
        "--days",
        "0.25",
        "--max-lines",
        "2",
        "--no-invoice",
        "--out",
        str(folder / "out"),
    ]
    result = run_cli(argv)
    assert_cli_contract(result)
    if result.rc == 2:
        assert str(path) in result.err or "--" in result.err, result
