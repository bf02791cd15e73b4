"""The harness itself: mutations damage the input, the CLI runner sees what a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli
from hypothesis import given

ORIGINAL = b"line,type,start\nL1,data,2026-03-01T00:00:00Z\n"
YAML = "customer: acme\nmonth: 2026-03\nlines:\n  - id: '1'\n    count: 3\n"


@FUZZ
@given(mutated_bytes(ORIGINAL))
def test_byte_mutations_change_the_input(data: bytes) -> None:
    assert data != ORIGINAL


@FUZZ
@given(mutated_yaml(YAML))
def test_yaml_mutations_change_the_text(text: str) -> None:
    assert text != YAML


def test_run_cli_reports_the_exit_status_and_one_error_line(tmp_path: Path) -> None:
    result = run_cli(["rate", str(tmp_path / "none.yaml"), str(tmp_path / "none.csv")])
    assert_cli_contract(result)
    assert result.rc == 2 and "none.yaml" in result.err


def test_the_contract_catches_an_escaped_exception() -> None:
    result = run_cli(["sms-decode", "--no-such-option"])
    assert result.rc == 2  # argparse's usage error: exit 2
    with pytest.raises(AssertionError):
        assert_cli_contract(result.__class__(result.argv, None, "", "", "Traceback (most recent call last)"))
