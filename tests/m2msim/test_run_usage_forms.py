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
    assert bill == json.loads(_ok(["rate", "--json", str(inventory), str(merged)]))
    written = json.loads((merged / "invoice.json").read_text())  # (the run's own: a projection more)
    assert bill["total_ht"] == written["total_ht"] and bill["lines"] == written["lines"]
    compared = _ok(["compare", "--json", str(inventory), str(run)])
    assert json.loads(compared) == json.loads(_ok(["compare", "--json", str(inventory), str(merged)]))
    query = "SELECT count(*), sum(bytes_up) FROM usage"
    assert _ok(["sql", str(run), query]) == _ok(["sql", str(merged), query])
    _ok(["report", str(run), "--out", str(tmp_path / "page.html")])
    assert (tmp_path / "page.html").is_file()
