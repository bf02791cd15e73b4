"""A run folder given to `rate`, `compare`, `sql` and `report` is read as its usage in every form
`m2msim run` writes it (merged Parquet, `--no-merge` parts, `--csv` beside either, its CSV
compressed since), the same records and the same bill: a run without `usage.parquet` had its
`invoice.txt`, `alarms.jsonl` and the like read as usage CSVs ("missing required column(s)"), and
a `--csv` run was refused as "a folder of Parquet files and CSV files"."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fuzzing import assert_cli_contract, run_cli
from invoice_docs import billed

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "default.yaml"
SMALL = ["--days", "1", "--max-lines", "2", "--seed", "5"]
FORMS = {"merged": [], "parts": ["--no-merge"], "csv": ["--csv"], "parts-csv": ["--no-merge", "--csv"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    d = tmp_path_factory.mktemp("forms")
    out: dict[str, Path] = {}
    for name, more in FORMS.items():
        result = run_cli(["run", str(SCENARIO), *SMALL, *more, "--out", str(d / name)])
        assert result.rc == 0, result
        out[name] = d / name
    # the CSV of a `--no-merge --csv` run compressed since, as an archive keeps it
    packed = d / "parts-csv-gz"
    shutil.copytree(out["parts-csv"], packed, copy_function=shutil.copy2)
    with (packed / "usage.csv").open("rb") as f, gzip.open(packed / "usage.csv.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    (packed / "usage.csv").unlink()
    out["parts-csv-gz"] = packed
    assert not (out["parts"] / "usage.parquet").exists() and (out["parts-csv"] / "usage.csv").is_file()
    doc = yaml.safe_load((out["merged"] / "scenario.yaml").read_text())["inventory"]
    for group in doc["lines"]:
        group["count"] = 2  # (--max-lines 2)
    inventory = d / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    return inventory, out


def _ok(argv: list[str]) -> str:
    result = run_cli(argv)
    assert_cli_contract(result, allowed=(0,))
    return result.out


@pytest.mark.parametrize("form", [*FORMS, "parts-csv-gz"])
def test_every_form_of_run_folder_is_read_as_its_usage(
    runs: tuple[Path, dict[str, Path]], form: str, tmp_path: Path
) -> None:
    inventory, out = runs
    run, merged = out[form], out["merged"]
    bill = json.loads(_ok(["rate", "--json", str(inventory), str(run)]))
    assert billed(bill) == billed(json.loads(_ok(["rate", "--json", str(inventory), str(merged)])))
    written = json.loads((merged / "invoice.json").read_text())  # (the run's own: a projection more)
    assert bill["total_ht"] == written["total_ht"] and bill["lines"] == written["lines"]
    compared = _ok(["compare", "--json", str(inventory), str(run)])
    assert json.loads(compared) == json.loads(_ok(["compare", "--json", str(inventory), str(merged)]))
    query = "SELECT count(*), sum(bytes_up) FROM usage"
    assert _ok(["sql", str(run), query]) == _ok(["sql", str(merged), query])
    _ok(["report", str(run), "--out", str(tmp_path / "page.html")])
    assert (tmp_path / "page.html").is_file()


def _notes_said_not_read(command: str, notes: Path, argv: list[str], alone: str) -> None:
    """A file of notes put at `notes` in a run folder: `argv` answers `alone` as without it, and
    says it not read; the file is taken away again."""
    notes.write_text("to ask the operator about line 3\n")
    said = run_cli(argv)
    assert_cli_contract(said, allowed=(0,))
    assert said.out == alone
    assert said.err == (
        f"m2msim {command}: warning: {notes}: not read (in the run folder, not a file the run wrote "
        "(.m2msim-run.json does not list it), and not usage)\n"
    ), said.err
    notes.unlink()


@pytest.mark.parametrize("where", ["", "usage/"])
@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_file_the_run_did_not_write_in_its_folder_is_said_not_read_or_refused_as_usage(
    runs: tuple[Path, dict[str, Path]], tmp_path: Path, command: str, where: str
) -> None:
    """A file put in a run folder (not written by the run: its marker does not list it) was passed
    over without a word by `rate RUN`, an export of usage among them (its records left out of the
    month).  A usage file (a CSV or Parquet of usage columns) is refused, exit 2, naming it; any
    other file is said not read, and the month is rated as the run's."""
    inventory, out = runs
    run = tmp_path / "run"
    shutil.copytree(out["merged"], run, copy_function=shutil.copy2)
    alone = run_cli([command, "--json", str(inventory), str(run)])
    assert_cli_contract(alone, allowed=(0,))
    _notes_said_not_read(
        command, run / f"{where}notes.txt", [command, "--json", str(inventory), str(run)], alone.out
    )
    head = (run / "usage.csv").read_text().splitlines()[0] if (run / "usage.csv").exists() else None
    for name, make in (
        ("april.csv", lambda p: p.write_text((head or "line,type,start,volume\n").strip() + "\n")),
        ("april.parquet", lambda p: shutil.copy(run / "usage.parquet", p)),
    ):
        export = run / f"{where}{name}"
        make(export)
        refused = run_cli([command, str(inventory), str(run)])
        assert_cli_contract(refused, allowed=(2,))
        assert refused.out == "" and refused.err == (
            f"m2msim {command}: {export}: a usage file (its columns are a usage file's) in the run "
            "folder, which the run did not write (.m2msim-run.json does not list it): rating "
            f"{run} reads the run's usage alone and would leave its records out; rate it by its "
            "name, or move it out of the run folder\n"
        ), refused.err
        export.unlink()


@pytest.mark.parametrize("where", ["", "usage/"])
@pytest.mark.parametrize("command", ["report", "sql"])
def test_report_and_sql_of_a_run_folder_say_a_file_the_run_did_not_write(
    runs: tuple[Path, dict[str, Path]], tmp_path: Path, command: str, where: str
) -> None:
    """`report RUN` and `sql RUN` passed over a file put in the run folder without a word, an
    export of usage among them (its records left out of the page and the tables).  As for `rate
    RUN`: a usage file there is refused, exit 2, naming it; any other is said not read."""
    _inventory, out = runs
    run = tmp_path / "run"
    shutil.copytree(out["merged"], run, copy_function=shutil.copy2)
    argv = {
        "report": ["report", str(run), "--out", str(tmp_path / "page.html")],
        "sql": ["sql", "--json", str(run), "SELECT count(*) AS n, sum(bytes_up) AS up FROM usage"],
    }[command]
    reader = {"report": f"the report of {run}", "sql": f"a query of {run}"}[command]
    alone = run_cli(argv)
    assert_cli_contract(alone, allowed=(0,))
    assert alone.err == ""
    _notes_said_not_read(command, run / f"{where}notes.txt", argv, alone.out)
    export = run / f"{where}april.parquet"
    shutil.copy(run / "usage.parquet", export)
    refused = run_cli(argv)
    assert_cli_contract(refused, allowed=(2,))
    assert refused.out == "" and refused.err == (
        f"m2msim {command}: {export}: a usage file (its columns are a usage file's) in the run "
        f"folder, which the run did not write (.m2msim-run.json does not list it): {reader} reads "
        "the run's usage alone and would leave its records out; rate it by its name, or move it out "
        "of the run folder\n"
    ), refused.err


def test_a_json_file_copied_into_a_run_folder_is_not_read_as_the_runs(
    runs: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    """`sql RUN` and `report RUN` read every JSON file of the folder by its kind, the first by name
    of each: another month's invoice copied in as `a-invoice.json` was read as the run's, its lines
    the tables' without a word.  In a run folder the files the run wrote are read alone."""
    _inventory, out = runs
    run = tmp_path / "run"
    shutil.copytree(out["merged"], run, copy_function=shutil.copy2)
    query = ["sql", "--json", str(run), "SELECT count(*) AS n FROM invoice_lines"]
    alone = run_cli(query)
    assert_cli_contract(alone, allowed=(0,))
    other = json.loads((run / "invoice.json").read_text())
    other["lines"] = other["lines"][:1] * 7
    copied = run / "a-invoice.json"
    copied.write_text(json.dumps(other))
    said = run_cli(query)
    assert_cli_contract(said, allowed=(0,))
    assert said.out == alone.out
    assert f"m2msim sql: warning: {copied}: not read" in said.err


def test_a_json_file_m2msim_wrote_into_a_run_folder_since_is_not_read_as_the_runs(
    runs: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    """Another month's invoice that m2msim itself wrote into the run folder since (`rate --json
    --out RUN/a-invoice.json`: the marker lists it) was read by `sql RUN` and `report RUN` as the
    run's, before the run's `invoice.json` by name.  The run's own names are read first."""
    _inventory, out = runs
    run = tmp_path / "run"
    shutil.copytree(out["merged"], run, copy_function=shutil.copy2)
    query = ["sql", "--json", str(run), "SELECT count(*) AS n FROM invoice_lines"]
    alone = _ok(query)
    month = ROOT / "scenarios" / "example-month"
    other = run / "a-invoice.json"
    _ok(["rate", "--json", "--out", str(other), str(month / "inventory.yaml"), str(month / "usage.csv")])
    assert other.name in json.loads((run / ".m2msim-run.json").read_text())["files"]
    assert json.loads(other.read_text())["lines"] != json.loads((run / "invoice.json").read_text())["lines"]
    said = run_cli(query)
    assert_cli_contract(said, allowed=(0,))
    assert said.out == alone and said.err == ""


@pytest.mark.parametrize("command", ["rate", "sql"])
def test_a_usage_file_m2msim_wrote_into_a_run_folder_since_is_said_not_read(
    runs: tuple[Path, dict[str, Path]], tmp_path: Path, command: str
) -> None:
    """`records-from-pcap --out RUN/usage.csv` beside the run's `usage.parquet`: m2msim wrote it, so
    the marker lists it (no file the run did not write), and `rate RUN` read the run's
    `usage.parquet` alone, passing over the CSV's records without a word.  Said not read, naming it."""
    from m2msim.outputs import atomic_write_text

    inventory, out = runs
    run = tmp_path / "run"
    shutil.copytree(out["merged"], run, copy_function=shutil.copy2)
    argv = {
        "rate": ["rate", "--json", str(inventory), str(run)],
        "sql": ["sql", "--json", str(run), "SELECT count(*) AS n FROM usage"],
    }[command]
    alone = run_cli(argv)
    assert_cli_contract(alone, allowed=(0,))
    csv = run / "usage.csv"
    atomic_write_text(csv, (out["csv"] / "usage.csv").read_text())  # (as any m2msim command writes it)
    said = run_cli(argv)
    assert_cli_contract(said, allowed=(0,))
    assert said.out == alone.out  # (the run's usage, as before)
    reader = {"rate": f"rating {run}", "sql": f"a query of {run}"}[command]
    assert said.err == (
        f"m2msim {command}: warning: {csv}: not read (a usage file m2msim wrote into the run folder "
        f"after the run: {reader} reads the run's usage alone; rate it by its name, or move it out of "
        "the run folder)\n"
    ), said.err
