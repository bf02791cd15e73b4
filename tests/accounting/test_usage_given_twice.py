"""A usage file that a folder names twice (a symbolic or hard link beside it to another file of the
folder) is rated once, and the name not read is said on stderr: `rate` and `compare` of such a
folder gave the month's rows twice, every row of the second name listed as a `duplicate record`
(74 rows read, 43 rejected where the file alone gives 37 and 6), and the `--report` page
counting every record and octet twice."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzzing import run_cli
from invoice_docs import billed
from reportcheck import without_footer

from accounting.usage import UsageReader, input_files

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
INV, USAGE = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"


def _text_parquet(csv: Path, out: Path) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    names = csv.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    options = pc.ConvertOptions(column_types={n: pa.string() for n in names})
    pq.write_table(pc.read_csv(csv, convert_options=options), out)
    return out


def _symlink(target: Path, name: Path) -> None:
    name.symlink_to(target.name)


def _hardlink(target: Path, name: Path) -> None:
    os.link(target, name)


LINKS: dict[str, Callable[[Path, Path], None]] = {"symlink": _symlink, "hardlink": _hardlink}


def _folder(tmp_path: Path, kind: str, link: str) -> tuple[Path, Path, Path]:
    """(the file alone, a folder holding it and a link to it, the link's name)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    if kind == "csv":
        alone = USAGE
        (folder / "march.csv").write_bytes(USAGE.read_bytes())
        file, name = folder / "march.csv", folder / "latest.csv"
    else:
        alone = _text_parquet(USAGE, tmp_path / "usage.parquet")
        file, name = folder / "part-00000.parquet", folder / "part-00001.parquet"
        file.write_bytes(alone.read_bytes())
    LINKS[link](file, name)
    return alone, folder, name


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_file_of_the_folder_named_twice_is_rated_once(
    tmp_path: Path, command: str, kind: str, link: str
) -> None:
    alone, folder, _ = _folder(tmp_path, kind, link)
    expected = run_cli([command, str(INV), str(alone), "--json"])
    assert expected.rc == 0 and expected.err == "", expected
    got = run_cli([command, str(INV), str(folder), "--json"])
    assert got.rc == 0, got
    assert billed(json.loads(got.out)) == billed(json.loads(expected.out))
    if command == "rate":
        doc = json.loads(got.out)
        assert (doc["rows_read"], len(doc["rejects"])) == (37, 6)  # (74 and 43: each row twice)
    # the name not read, said once, naming the file read (the first of the folder by name)
    first, second = sorted(folder.iterdir())
    lines = got.err.splitlines()
    assert lines == [
        f"m2msim {command}: warning: {second}: the same file as {first}: read once, from {first}"
    ]


def test_the_report_page_counts_the_file_once(tmp_path: Path) -> None:
    _, folder, _ = _folder(tmp_path, "csv", "symlink")
    assert run_cli(["rate", str(INV), str(USAGE), "--report", str(tmp_path / "alone.html")]).rc == 0
    got = run_cli(["rate", str(INV), str(folder), "--report", str(tmp_path / "folder.html")])
    assert got.rc == 0, got
    assert "37 usage rows read, 6 rejected" in got.out
    alone_page = (tmp_path / "alone.html").read_text(encoding="utf-8")
    page = (tmp_path / "folder.html").read_text(encoding="utf-8")
    assert '<span data-key="invoice:rows_read">37</span>' in page
    assert without_footer(page) == without_footer(alone_page)  # (each footer names the file read)


def test_the_reader_reads_a_file_given_twice_once(tmp_path: Path) -> None:
    """The reader given a list: the same name twice, a folder and a file of it, a link to a file
    given; each read once, under the first name, the others in `skipped` with why."""
    _, folder, name = _folder(tmp_path, "csv", "symlink")
    march = folder / "march.csv"
    for given, read, skipped in (
        ([march, march], [march], [march]),
        ([folder, march], [name], [march]),  # (the folder's first name: latest.csv)
        ([march, name], [march], [name]),
        ([march, folder], [march], [name, march]),  # (the folder names march.csv again)
    ):
        reader = UsageReader(list(given))
        assert reader.files == read, given
        assert input_files(given) == read
        assert [f for f, _ in reader.skipped] == skipped, given
        assert all(why.endswith(f"read once, from {read[0]}") for _, why in reader.skipped)
        reader.check_unchanged()  # (each folder's listing is the one checked: no FolderChanged)


def test_a_file_replaced_as_the_names_were_compared_is_not_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`latest.csv` a hard link to `march.csv` (read under `latest.csv`, the first by name), and
    `march.csv` replaced (an export written again, renamed over it) just after the reader found the
    two names one file: the new `march.csv`, another file now, was left out without a word.  The
    reader says the file changed."""
    import accounting.usage
    from accounting.errors import FileChanged

    _, folder, name = _folder(tmp_path, "csv", "hardlink")
    march = folder / "march.csv"
    real = accounting.usage.each_once

    def each_once(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
        got = real(paths)
        new = folder / ".new"
        new.write_bytes(USAGE.read_bytes())
        os.replace(new, march)  # (meanwhile: march.csv written again)
        return got

    monkeypatch.setattr(accounting.usage, "each_once", each_once)
    with pytest.raises(FileChanged, match=r"march\.csv"):
        UsageReader([folder])
    assert os.stat(name).st_ino != os.stat(march).st_ino
