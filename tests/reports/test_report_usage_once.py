"""`sql` and `report` of a folder of `rate` outputs and their usage read each usage file once: a part
of `usage/` beside a link to it (symbolic or hard) was read twice, the `usage` view holding every
record twice (`count(*)` 74 where the part holds 37) and the page's volumes twice the invoice's;
the name not read is said on stderr, as `rate` of that folder says it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pc
import pyarrow.parquet as pq
import pytest
from fuzzing import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"


def _month(folder: Path) -> Path:
    """`folder` holding the example month's usage as `usage/part-00000.parquet` and its invoice."""
    (folder / "usage").mkdir(parents=True)
    names = USAGE.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    options = pc.ConvertOptions(column_types={n: pa.string() for n in names})
    pq.write_table(pc.read_csv(USAGE, convert_options=options), folder / "usage" / "part-00000.parquet")
    rated = run_cli(
        ["rate", str(INV), str(folder / "usage"), "--json", "--out", str(folder / "invoice.json")]
    )
    assert rated.rc == 0, rated
    return folder


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_part_beside_a_link_to_it_is_read_once(tmp_path: Path, link: str) -> None:
    alone = _month(tmp_path / "alone")
    folder = tmp_path / "linked"
    shutil.copytree(alone, folder)
    part, name = folder / "usage" / "part-00000.parquet", folder / "usage" / "part-00001.parquet"
    if link == "symlink":
        name.symlink_to(part.name)
    else:
        os.link(part, name)
    said = f"warning: {name}: the same file as {part}: read once, from {part}"

    got = run_cli(["sql", str(folder), "SELECT count(*) AS n, sum(bytes_down) AS down FROM usage", "--json"])
    assert got.rc == 0, got
    expected = run_cli(
        ["sql", str(alone), "SELECT count(*) AS n, sum(bytes_down) AS down FROM usage", "--json"]
    )
    assert json.loads(got.out) == json.loads(expected.out)
    assert json.loads(got.out)[0]["n"] == 37  # (74: every record twice)
    assert got.err.splitlines() == [f"m2msim sql: {said}"]

    pages = []
    for at in (alone, folder):
        made = run_cli(["report", str(at), "--out", str(tmp_path / f"{at.name}.html")])
        assert made.rc == 0, made
        pages.append((tmp_path / f"{at.name}.html").read_text(encoding="utf-8"))
    assert made.err.splitlines() == [f"m2msim report: {said}"]
    assert pages[1] == pages[0]


@pytest.mark.parametrize("command", ["sql", "report"])
def test_a_part_replaced_as_the_names_were_compared_is_not_left_out(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`part-00001.parquet` a hard link to `part-00000.parquet` (read under the first), and
    `part-00001.parquet` written again (renamed over it) just after the two names were found one
    file: another file now, its records were left out of the page and the queries without a word.
    Said as `rate` says it: the file changed, exit 2."""
    import reports.data

    folder = _month(tmp_path / "linked")
    part, name = folder / "usage" / "part-00000.parquet", folder / "usage" / "part-00001.parquet"
    os.link(part, name)
    real = reports.data.each_once

    def each_once(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
        got = real(paths)
        new = folder / "usage" / ".new"
        shutil.copyfile(part, new)
        os.replace(new, name)  # (meanwhile: the part written again)
        return got

    monkeypatch.setattr(reports.data, "each_once", each_once)
    argv = ["sql", str(folder), "SELECT count(*) FROM usage"] if command == "sql" else ["report", str(folder)]
    got = run_cli([*argv, "--out", str(tmp_path / "out")] if command == "report" else argv)
    assert got.rc == 2, got
    assert f"{name}: changed while it was being read (another file now has its name)" in got.err
    assert not (tmp_path / "out").exists()
