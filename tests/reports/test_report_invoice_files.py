"""The report checks that the invoice beside the usage files rated them: `invoice.json`'s
`usage_files` (each file's name, size and sampled hash) against the files in the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fuzzing import run_cli

HEADER = "line,type,start,duration_s,bytes_up,bytes_down,zone,dest,delivered,session\n"
INVENTORY = (
    "customer: c\nmonth: 2026-03\nlines:\n"
    "  - {id_prefix: A, count: 1, offer: business-m2m, plan: forfait-2mo, commitment: 24, "
    "since: 2025-01-15}\n"
)
RATED = [
    "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",
    "A1,sms,2026-03-05T11:00:00Z,,,,fr,fr-mobile,,",
    "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",  # duplicate: rejected, row 4
]
# other records, as many: the invoice's rows_read is theirs too, and its reject (row 4) a billed SMS
OTHER = [
    "A1,data,2026-03-07T10:00:00Z,60,2097152,2097152,fr,,,s2",
    "A1,sms,2026-03-07T11:00:00Z,,,,fr,fr-mobile,,",
    "A1,sms,2026-03-08T11:00:00Z,,,,fr,fr-mobile,,",
]


def _usage(path: Path, rows: list[str]) -> Path:
    text = HEADER + "".join(r + "\n" for r in rows)
    if path.suffix == ".csv":
        path.write_text(text, encoding="utf-8")
    else:
        staged = path.with_suffix(".staged.csv")
        staged.write_text(text, encoding="utf-8")
        options = pacsv.ConvertOptions(strings_can_be_null=False, column_types={"dest": "string"})
        pq.write_table(pacsv.read_csv(staged, convert_options=options), path)
        staged.unlink()
    return path


def _invoice(tmp_path: Path, usage: Path) -> dict[str, object]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    r = run_cli(["rate", str(inventory), str(usage), "--json"])
    assert r.rc == 0, str(r)
    doc: dict[str, object] = json.loads(r.out)
    assert doc["rows_read"] == 3 and len(doc["rejects"]) == 1  # type: ignore[arg-type]
    return doc


def _folder(folder: Path, invoice: dict[str, object], usage: Path) -> Path:
    folder.mkdir()
    (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    shutil.copy(usage, folder / usage.name)
    return folder


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_an_invoice_of_other_records_as_many_is_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    """An invoice of other records with as many rows: its `rows_read` agreed with the folder's, the
    page was made, and the row it lists as rejected (row 4, a duplicate there) left out a billed SMS
    here without a word."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rated = _usage(tmp_path / "a" / name, RATED)
    invoice = _invoice(tmp_path, rated)
    same = _folder(tmp_path / "same", invoice, rated)
    assert run_cli(["report", str(same)]).rc == 0  # (its own usage, copied: a page)
    folder = _folder(tmp_path / "other", invoice, _usage(tmp_path / "b" / name, OTHER))
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and r.err.count("\n") == 1 and "Traceback" not in r.err, str(r)
    assert r.err.startswith(f"m2msim report: {folder / 'invoice.json'}: usage_files: {folder / name}: "), (
        r.err
    )
    assert "not of these records" in r.err, r.err
    assert not (folder / "report.html").exists()


def test_the_invoice_records_each_usage_file_rated(tmp_path: Path) -> None:
    """`usage_files`: per file rated, its name as given, its size and its
    sampled hash; other records of the same size have another hash."""
    usage = _usage(tmp_path / "usage.csv", RATED)
    [entry] = _invoice(tmp_path, usage)["usage_files"]  # type: ignore[misc]
    st = usage.stat()
    assert (
        entry["name"] == str(usage)
        and entry["bytes"] == st.st_size
        and set(entry) == {"name", "bytes", "sampled_sha256"}
    )
    assert len(entry["sampled_sha256"]) == 64
    usage.write_text(
        usage.read_text(encoding="utf-8").replace("2026-03-05T11", "2026-03-06T11"), encoding="utf-8"
    )
    [again] = _invoice(tmp_path, usage)["usage_files"]  # type: ignore[misc]
    assert again["bytes"] == entry["bytes"] and again["sampled_sha256"] != entry["sampled_sha256"]


def test_a_usage_file_the_invoice_did_not_rate_is_refused(tmp_path: Path) -> None:
    """A usage file in the folder beside those rated (a part copied in since): its records drawn
    as billed, and the invoice's rejects looked up among files it did not rate."""
    (tmp_path / "a").mkdir()
    usage = _usage(tmp_path / "a" / "part-00000.parquet", RATED)
    invoice = _invoice(tmp_path, tmp_path / "a")
    folder = tmp_path / "run"
    (folder / "usage").mkdir(parents=True)
    (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    shutil.copy(usage, folder / "usage" / usage.name)
    assert run_cli(["report", str(folder)]).rc == 0, "(the files rated: a page)"
    shutil.copy(usage, folder / "usage" / "part-00001.parquet")
    r = run_cli(["report", str(folder)])
    assert (
        r.rc == 2
        and f"{folder / 'usage' / 'part-00001.parquet'}: a usage file the invoice did not rate" in r.err
    ), str(r)


def test_an_older_invoice_without_usage_files_is_checked_by_its_rows_and_says_so(tmp_path: Path) -> None:
    """An invoice of an older m2msim (no `usage_files`) is still read: the folder's rows are counted
    against its `rows_read`, and the warning says that is the only check made."""
    (tmp_path / "a").mkdir()
    rated = _usage(tmp_path / "a" / "usage.csv", RATED)
    invoice = _invoice(tmp_path, rated)
    del invoice["usage_files"]
    r = run_cli(["report", str(_folder(tmp_path / "same", invoice, rated))])
    assert r.rc == 0 and "no usage_files (an invoice of an older m2msim)" in r.err, str(r)
    (tmp_path / "b").mkdir()
    fewer = _usage(tmp_path / "b" / "usage.csv", OTHER[:2])
    r = run_cli(["report", str(_folder(tmp_path / "fewer", invoice, fewer))])
    assert r.rc == 2 and "rows_read: 3 usage rows rated, but the usage files here hold 2" in r.err, str(r)
