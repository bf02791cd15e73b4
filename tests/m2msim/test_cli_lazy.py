"""The `m2msim` parser is built without importing any command's modules (docs/reliability.md).

A command's modules are imported when the command line names it: `m2msim --help` or a codec
command never load DuckDB, pyarrow, numpy, SimPy, scapy or PyYAML.  What each command accepts is still
what its package declares: the table of commands in `m2msim.cli` is checked against the
packages' own `register`, and `m2msim CMD --help` is the package's help.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m2msim import cli

HEAVY = ("duckdb", "_duckdb", "pyarrow", "numpy", "simpy", "scapy", "pandas", "dask", "yaml")


def _imported_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_building_the_parser_imports_no_heavy_module() -> None:
    assert _imported_after("from m2msim.cli import build_parser\nbuild_parser()") == []


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import contextlib, io\nfrom m2msim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    )
    assert _imported_after(code) == []


def test_sms_decode_imports_no_heavy_module() -> None:
    pdu = "07913396050066F0040B913366554433F20000626070512390800AC8329BFD06DDDF723619"
    code = (
        "import contextlib, io\nfrom m2msim.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['sms-decode', '{pdu}']) == 0"
    )
    assert _imported_after(code) == []


def _registered() -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Every command as the packages declare it, each package's `register` called in turn."""
    top = argparse.ArgumentParser(prog="m2msim")
    sub = top.add_subparsers()
    modules: list[str] = []  # the module declaring each command (the first of its list), in order
    for _, _, names in cli._COMMANDS:
        modules += [] if names[0] in modules else [names[0]]
    for _, _, names in cli._COMMANDS:  # then those adding options to another's command
        modules += [m for m in names if m not in modules]
    for name in modules:
        importlib.import_module(name).register(sub)
    return sub


def test_the_table_of_commands_is_what_the_packages_register() -> None:
    sub = _registered()
    declared = [(a.dest, a.help) for a in sub._choices_actions]
    table = [(name, text) for name, text, _ in cli._COMMANDS]
    assert table == declared


@pytest.mark.parametrize("command", [name for name, _, _ in cli._COMMANDS])
def test_command_help_is_the_packages_own(command: str) -> None:
    lazy = cli.build_parser()
    action = next(a for a in lazy._actions if isinstance(a, argparse._SubParsersAction))
    assert action.choices[command].format_help() == _registered().choices[command].format_help()


def test_version_is_printed_on_stdout() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "m2msim", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("m2msim ") and done.stderr == ""


def test_a_command_usage_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["rate", "--top"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "m2msim rate: argument --top: expected one argument (see m2msim rate --help)"
    ], err


def test_rating_a_small_file_loads_duckdbs_engine_alone_or_nothing(tmp_path: Path) -> None:
    """A small plain CSV, or a small Parquet file of the usual column types, is read without
    DuckDB; another (here a CSV with a spreadsheet's line ends) loads DuckDB's engine (its compiled
    module, without the package's Python layer when the installed DuckDB has one).  PyYAML for the
    inventory and the catalog, not even that once their parsed documents are in the cache: no
    pyarrow, no numpy."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    text = (
        "line,type,start,duration_s,bytes_up,bytes_down,zone,dest\n"
        "33612345678,data,2026-03-02T10:00:00Z,60,1000,2000,fr,\n"
        "33612345678,data,2026-03-02T10:00:00Z,60,1000,2000,fr,\n"  # a duplicate: the hash pass runs
    )
    inventory = Path(__file__).resolve().parents[2] / "scenarios" / "example-month" / "inventory.yaml"
    engine = "_duckdb" if importlib.util.find_spec("_duckdb") is not None else "duckdb"
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    (tmp_path / "crlf.csv").write_bytes(text.replace("\n", "\r\n").encode())
    pq.write_table(pacsv.read_csv(tmp_path / "plain.csv"), tmp_path / "typed.parquet")
    for i, (name, duckdb) in enumerate((("plain.csv", []), ("typed.parquet", []), ("crlf.csv", [engine]))):
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / f"cache{i}")}
        code = (
            "import contextlib, io\nfrom m2msim.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['rate', {str(inventory)!r}, {str(tmp_path / name)!r}, '--json']) == 0"
        )
        assert _imported_after(code, env) == sorted([*duckdb, "yaml"]), name
        assert _imported_after(code, env) == duckdb, name
