"""The report checks that the invoice beside the usage files rated them: `invoice.json`'s
`usage_files` (each file's name, size and sampled hash) against the files in the folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

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


def _rejects_note(html: str) -> str:
    """The page's note on the records it counts (those billed, the rejects left out)."""
    groups = html[html.index('id="groups"') : html.index('id="traffic"')]
    return re.sub(r"<[^>]+>", "", groups[groups.index("count the usage records") :].split("</p>", 1)[0])


def _reads_the_rated(folder: Path, passed: Path, rated: str, records: int = 3) -> str:
    """`m2msim report` of `folder` reads the files its invoice rated (`rated`, as the warning names
    them), says the file `passed` is not read, and leaves the invoice's reject out; its stderr
    (of several files rated, "known by their sizes ... are read in its place": it said "its size
    ... is read")."""
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and r.err.count("\n") == 1, str(r)
    several = ", " in rated
    assert r.err.startswith(
        f"m2msim report: warning: {passed}: not read: the invoice {folder / 'invoice.json'} rated "
        f"{rated} (known by {'their sizes' if several else 'its size'} and sampled_sha256), not this "
        f"file: {rated} {'are' if several else 'is'} read in its place"
    ), r.err
    note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
    assert f"of the {records} records read, 1 rejected" in note and "counted here all the same" not in note, (
        note
    )
    return r.err


def _rated_parts(rated: Path) -> dict[str, object]:
    """The invoice of a folder `rated` of two parts, `RATED` then `OTHER`, rated as a folder."""
    rated.mkdir()
    _usage(rated / "part-00000.parquet", RATED)
    _usage(rated / "part-00001.parquet", OTHER)
    inventory = rated.parent / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    r = run_cli(["rate", str(inventory), str(rated), "--json"])
    assert r.rc == 0, str(r)
    doc: dict[str, object] = json.loads(r.out)
    return doc


def test_the_files_rated_are_known_by_content_not_by_the_name_given(tmp_path: Path) -> None:
    """The parts of a folder rated (`part-00000.parquet`, `part-00001.parquet`), copied into
    another folder's `usage/` under each other's names: each is a file rated, by its size and
    sampled hash, and the invoice's reject (row 4 of the first) is left out of the file that holds
    it. Looked up by its name, the first was said to be of other content and the page refused."""
    rated = tmp_path / "rated"
    invoice = _rated_parts(rated)
    assert [(x["file"], x["row"]) for x in invoice["rejects"]] == [("part-00000.parquet", 4)]
    folder = tmp_path / "copy"
    (folder / "usage").mkdir(parents=True)
    (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    shutil.copy(rated / "part-00000.parquet", folder / "usage" / "part-00001.parquet")
    shutil.copy(rated / "part-00001.parquet", folder / "usage" / "part-00000.parquet")
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and not r.err, str(r)
    note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
    assert "of the 6 records read, 1 rejected" in note and "counted here all the same" not in note, note


@pytest.mark.parametrize("rows", [RATED, OTHER], ids=["same records", "other records"])
def test_the_usage_file_rated_is_read_beside_another_and_the_other_named(
    tmp_path: Path, rows: list[str]
) -> None:
    """A folder of `rate --json --out` beside the CSV rated and a `usage.parquet` (which the page
    reads before a CSV), of the same records written from it or of others: the page refused the
    folder, the Parquet file "a usage file the invoice did not rate" (before, the CSV found by its
    name, it drew the other records).  The page and the queries read the CSV the invoice rated,
    known by its size and sampled hash, and say which file was not read and why."""
    (tmp_path / "a").mkdir()
    rated = _usage(tmp_path / "a" / "usage.csv", RATED)
    folder = _folder(tmp_path / "f", _invoice(tmp_path, rated), rated)
    _usage(folder / "usage.parquet", rows)
    _reads_the_rated(folder, folder / "usage.parquet", str(folder / "usage.csv"))
    r = run_cli(["sql", str(folder), "SELECT count(*) FILTER (type = 'sms') AS sms FROM usage", "--csv"])
    assert r.rc == 0 and r.out == "sms\n1\n", str(r)  # (the CSV's one SMS; the other file's two)
    assert f"{folder / 'usage.parquet'}: not read: the invoice" in r.err, r.err


@pytest.mark.parametrize("merge", ["their merge", "another tool's"])
def test_the_parts_rated_are_read_beside_a_usage_parquet_that_is_not_their_merge(
    tmp_path: Path, merge: str
) -> None:
    """A folder of `rate --json --out` beside the parts rated (`usage/part-*.parquet`) and a
    `usage.parquet` of the same records: their merge (each part's row groups in turn, as a run
    writes it) is read, checked so; one written by another tool (`COPY ... TO`, its row groups
    otherwise) was refused, "not the merge of the parts it rated ... rate them again", though
    the parts rated were there (and rated again, the same invoice, refused the same).  The page
    reads the parts then, and says why the other file is not read."""
    import pyarrow as pa

    rated = tmp_path / "rated"
    invoice = _rated_parts(rated)
    folder = tmp_path / "f"
    (folder / "usage").mkdir(parents=True)
    (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    parts = sorted(rated.glob("part-*.parquet"))
    for part in parts:
        shutil.copy(part, folder / "usage" / part.name)
    tables = [pq.read_table(part) for part in parts]
    if merge == "their merge":
        with pq.ParquetWriter(folder / "usage.parquet", tables[0].schema) as writer:
            for table in tables:
                writer.write_table(table)
    else:  # (one row group of every record)
        pq.write_table(pa.concat_tables(tables), folder / "usage.parquet")
    if merge == "their merge":
        r = run_cli(["report", str(folder)])
        assert r.rc == 0 and not r.err, str(r)
        note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
        assert "of the 6 records read, 1 rejected" in note and "counted here all the same" not in note, note
    else:
        names = ", ".join(str(folder / "usage" / part.name) for part in parts)
        err = _reads_the_rated(folder, folder / "usage.parquet", names, records=6)
        assert "(this file is not their merge: a row group (1 of 1) is not of its parts' rows)" in err, err


def test_the_compressed_csv_rated_is_read_beside_the_csv_uncompressed_since(tmp_path: Path) -> None:
    """A folder of `rate usage.csv.gz --json --out` whose CSV was then uncompressed beside it
    (`gunzip -k`): the page read `usage.csv`, first by name, and refused it, "a usage file the
    invoice did not rate ... rate them again" (and rated again, the same invoice).  It reads the
    file rated, as it does a CSV rated beside a `usage.parquet`, and says the other not read."""
    import gzip

    (tmp_path / "a").mkdir()
    plain = _usage(tmp_path / "a" / "usage.csv", RATED)
    rated = tmp_path / "a" / "usage.csv.gz"
    rated.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    folder = _folder(tmp_path / "f", _invoice(tmp_path, rated), rated)
    shutil.copy(plain, folder / "usage.csv")
    _reads_the_rated(folder, folder / "usage.csv", str(folder / "usage.csv.gz"))


def test_an_entry_of_no_identity_beside_two_usage_forms_is_checked_by_its_rows(tmp_path: Path) -> None:
    """An invoice whose `usage_files` entry gives no size (a list, hand-edited) in a folder holding
    the usage in two forms (the CSV rated, a `usage.parquet`): the file read is not known for the
    one rated, and is checked by the invoice's `rows_read` with the warning that says so; it ended
    in "a file is not as m2msim writes it (TypeError: unhashable type: 'list')", naming no file."""
    (tmp_path / "a").mkdir()
    rated = _usage(tmp_path / "a" / "usage.csv", RATED)
    invoice = _invoice(tmp_path, rated)
    invoice["usage_files"][0]["bytes"] = [1]  # type: ignore[index]
    folder = _folder(tmp_path / "f", invoice, rated)
    _usage(folder / "usage.parquet", RATED)
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and "not as m2msim writes it" not in r.err, str(r)
    assert f"{folder / 'invoice.json'}: the files it rated are not here" in r.err, r.err
    assert "checked against its rows_read alone" in r.err, r.err
    _usage(folder / "usage.parquet", OTHER[:2])
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and "rows_read: 3 usage rows rated, but the usage files here hold 2" in r.err, str(r)


def test_a_file_rated_under_another_name_is_checked_by_its_content(tmp_path: Path) -> None:
    """The file rated as `march.csv`, in the folder as `usage.csv`: the same bytes, checked as such;
    it was "not here by name", checked by its row count alone with a warning."""
    march = _usage(tmp_path / "march.csv", RATED)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "invoice.json").write_text(json.dumps(_invoice(tmp_path, march)), encoding="utf-8")
    shutil.copy(march, folder / "usage.csv")
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and not r.err, str(r)


@pytest.fixture(scope="module")
def shards_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The storm run in 3 shards, its trackers (the third shard) with an inventory error: their 48
    records are rejects of `usage/part-00002.parquet`, which the run's `usage.parquet` merges."""
    from conftest import _storm_doc

    from simulator.run import simulate
    from simulator.scenario import parse_scenario

    doc = _storm_doc()
    doc["run"] = {"shard_devices": 3}
    doc["inventory"]["lines"][1].update(offer="intense", plan="optima", commitment=24)
    out = tmp_path_factory.mktemp("shards") / "run"
    simulate(parse_scenario(doc, "storm-unit.yaml"), out)
    return out


def _trackers(html: str) -> list[str]:
    groups = html[html.index('id="groups"') : html.index('id="traffic"')]
    row = re.search(r"<tr><td>trackers</td>(.*?)</tr>", groups)
    assert row, groups
    return re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))[:3]


def test_a_runs_page_leaves_out_the_rejects_of_its_parts(shards_run: Path, tmp_path: Path) -> None:
    """A run of several shards: its invoice named its rejects `part-00002.parquet`, as the rating was
    given the parts in the run's temporary folder, and its page, which reads the `usage.parquet`
    merging them, found no such file: the trackers' 48 rejected records were drawn as 48 data
    sessions and a roaming share beside a bill of nothing ("counted here all the same")."""
    invoice = json.loads((shards_run / "invoice.json").read_text(encoding="utf-8"))
    assert {r["file"] for r in invoice["rejects"]} == {"usage/part-00002.parquet"}
    assert sum(r["count"] for r in invoice["rejects_by_reason"]) == len(invoice["rejects"]) == 48
    assert "usage/part-00002.parquet:2: line not billed" in (shards_run / "invoice.txt").read_text("utf-8")
    copy = tmp_path / "copy"
    shutil.copytree(shards_run, copy)
    assert run_cli(["report", str(copy)]).rc == 0
    for page in (shards_run / "report.html", copy / "report.html"):
        html = page.read_text(encoding="utf-8")
        assert _trackers(html) == ["2", "0", "0.0 Mo"], page
        note = _rejects_note(html)
        assert "48 rejected" in note and "counted here all the same" not in note, note


def _merged_alone(run: Path, folder: Path, invoice: dict[str, Any] | None = None) -> Path:
    """The run's files but its parts (`usage/`) and its marker: its `usage.parquet` copied alone,
    with the run's invoice (else `invoice`)."""
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("usage", ".m2msim-run.json", "report.html"))
    if invoice is not None:
        (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    return folder


def test_a_runs_usage_parquet_copied_without_its_parts_places_their_rejects(
    shards_run: Path, tmp_path: Path
) -> None:
    """The run's invoice names its rejects by part and row (`usage/part-00002.parquet`, 2): its
    `usage.parquet` copied without the parts, the page placed none of them, counted its 48
    rejected records as billed (the trackers' 2 data sessions, "counted here all the same") and
    warned that the files were checked by their count alone.  Each part's entry in `usage_files`
    says its records and where they are in `usage.parquet`, that file known by its size and hash."""
    invoice = json.loads((shards_run / "invoice.json").read_text(encoding="utf-8"))
    merged = pq.read_metadata(shards_run / "usage.parquet").num_rows
    offsets = [e["merged_into"]["row_offset"] for e in invoice["usage_files"]]
    rows = [e["rows"] for e in invoice["usage_files"]]
    assert offsets == [sum(rows[:k]) for k in range(len(rows))] and sum(rows) == merged, (offsets, rows)
    assert [pq.read_metadata(shards_run / e["name"]).num_rows for e in invoice["usage_files"]] == rows
    assert {e["merged_into"]["name"] for e in invoice["usage_files"]} == {"usage.parquet"}
    folder = _merged_alone(shards_run, tmp_path / "alone")
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and not r.err, str(r)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert _trackers(html) == _trackers((shards_run / "report.html").read_text(encoding="utf-8"))
    note = _rejects_note(html)
    assert "48 rejected" in note and "counted here all the same" not in note, note


def test_an_older_runs_invoice_beside_its_usage_parquet_alone_is_checked_by_its_rows(
    shards_run: Path, tmp_path: Path
) -> None:
    """An invoice of a version before `rows` and `merged_into` beside the run's `usage.parquet`
    alone reads as it did: its rejects, named by part, are not placed in that file, and the page
    says they are counted all the same, and why.  The file is checked against its `rows_read`, as
    docs/report.md says, and a warning says so: placing none of its rejects, the page was made of
    a file of other records (fewer) without a word."""
    invoice = json.loads((shards_run / "invoice.json").read_text(encoding="utf-8"))
    for entry in invoice["usage_files"]:
        del entry["rows"], entry["merged_into"]
    folder = _merged_alone(shards_run, tmp_path / "older", invoice)
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and "the files it rated are not here (usage/part-00000.parquet)" in r.err, str(r)
    assert "checked against its rows_read alone" in r.err, r.err
    note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
    assert "48 rejected" in note and "48 of them are counted here all the same" in note, note
    assert "or names a file not read here" in note, note
    table = pq.read_table(folder / "usage.parquet")
    pq.write_table(table.slice(0, table.num_rows - 1), folder / "usage.parquet")
    r = run_cli(["report", str(folder)])
    assert (
        r.rc == 2
        and f"rows_read: {table.num_rows:,} usage rows rated, but the usage files here hold" in r.err
    ), str(r)


@pytest.mark.parametrize(
    "change",
    [
        "first part's merged_into left out",
        "a part placed in another file",
        "row_offset true",
        "row_offset -1",
        "its bytes a list",
    ],
)
def test_an_invoice_that_does_not_place_every_part_in_one_merge_places_none(
    shards_run: Path, tmp_path: Path, change: str
) -> None:
    """`merged_into` that does not place every part rated in one file (an entry without it, one
    naming another file, a row_offset that is no count of records) places none of the rejects:
    they are counted, as of an older invoice, the file checked by its `rows_read` with a warning,
    never left out at rows the invoice does not vouch for."""
    invoice = json.loads((shards_run / "invoice.json").read_text(encoding="utf-8"))
    first = invoice["usage_files"][0]
    if change == "first part's merged_into left out":
        del first["merged_into"]
    elif change == "a part placed in another file":
        first["merged_into"]["bytes"] += 1
    elif change == "its bytes a list":  # (hand-edited: it ended in "a file is not as m2msim writes it")
        first["merged_into"]["bytes"] = [first["merged_into"]["bytes"]]
    else:
        first["merged_into"]["row_offset"] = True if change == "row_offset true" else -1
    folder = _merged_alone(shards_run, tmp_path / "f", invoice)
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and "checked against its rows_read alone" in r.err, str(r)
    note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
    assert "48 rejected" in note and "48 of them are counted here all the same" in note, note


def test_a_runs_usage_parquet_alone_of_other_content_is_refused(shards_run: Path, tmp_path: Path) -> None:
    """A `usage.parquet` beside the run's invoice that is not the file the run merged (written
    again, its row groups otherwise) is refused naming it: the invoice's rows would be others."""
    folder = _merged_alone(shards_run, tmp_path / "other")
    table = pq.read_table(folder / "usage.parquet")
    pq.write_table(table, folder / "usage.parquet", row_group_size=1000)
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and r.err.count("\n") == 1, str(r)
    assert (
        f"usage_files: {folder / 'usage.parquet'}: not the usage.parquet that merged the parts it rated: "
        in r.err
    )


def test_a_runs_usage_parquet_replaced_while_its_parts_stay_is_refused(
    shards_run: Path, tmp_path: Path
) -> None:
    """The run's `usage.parquet` replaced by other records (a byte count changed) at the size its
    marker records, its parts as rated: the invoice's files were found, the parts, and the page drew
    the other records of the file it reads."""
    import pyarrow as pa

    from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS

    run = tmp_path / "run"
    shutil.copytree(shards_run, run)
    assert run_cli(["report", str(run)]).rc == 0
    merged = run / "usage.parquet"
    f = pq.ParquetFile(merged, read_dictionary=DICTIONARY_COLUMNS)
    staged = tmp_path / "usage.parquet"
    with pq.ParquetWriter(staged, f.schema_arrow, store_schema=False, **PART_PARQUET_OPTIONS) as w:
        for g in range(f.num_row_groups):
            t = f.read_row_group(g)
            if g == 0:  # (a record's bytes_up, the row group's largest, one more)
                k = t.schema.get_field_index("bytes_up")
                values = t["bytes_up"].to_pylist()
                values[values.index(max(values))] += 1
                t = t.set_column(k, t.schema.field(k), pa.array(values, t.schema.field(k).type))
            w.write_table(t)
    staged.replace(merged)
    marker = json.loads((run / ".m2msim-run.json").read_text(encoding="utf-8"))
    st = merged.stat()  # (a file of the size the run wrote: the marker's check is passed)
    marker["written"]["usage.parquet"] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    (run / ".m2msim-run.json").write_text(json.dumps(marker), encoding="utf-8")
    r = run_cli(["report", str(run)])
    assert r.rc == 2 and r.err.count("\n") == 1, str(r)
    assert f"usage_files: {merged}: not the merge of the parts it rated (usage/part-*.parquet" in r.err, r.err


def test_the_rejected_rows_of_several_files_are_listed_with_their_file(shards_run: Path) -> None:
    """The page's list of rejected rows gave a row number alone: "2" of which of the run's parts?
    Rows of several files (the invoice's `file`) are listed with it."""
    html = (shards_run / "report.html").read_text(encoding="utf-8")
    problems = html[html.index('id="problems"') :].split("</section>", 1)[0]
    listed = problems[problems.index("rejected rows of 48") :]
    assert '<th>file</th><th class="num">row</th><th>reason</th>' in listed
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"num\">(\d+)</td>", listed)
    assert rows[:2] == [("usage/part-00002.parquet", "2"), ("usage/part-00002.parquet", "3")], rows[:3]


@pytest.mark.parametrize("rows", [[], OTHER[1:2]], ids=["empty", "rejects only"])
def test_a_usage_file_of_no_record_billed_is_not_said_to_be_missing(tmp_path: Path, rows: list[str]) -> None:
    """A usage file holding no record, or only records the rating rejects (of a line not in the
    inventory): the page said "No usage records in this folder" beside the file, and of an SMS it
    rejected, "No SMS or call records"."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    usage = _usage(tmp_path / "usage.csv", [r.replace("A1,", "X9,") for r in rows])
    folder = tmp_path / "f"
    folder.mkdir()
    r = run_cli(["rate", str(inventory), str(usage), "--json", "--out", str(folder / "invoice.json")])
    assert r.rc == 0, str(r)
    shutil.copy(usage, folder / "usage.csv")
    assert run_cli(["report", str(folder)]).rc == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "No usage records in this folder" not in html
    assert "No usage record billed: the usage files here hold none that the invoice bills" in html
    assert "No SMS or call records billed." in html


def test_a_merge_is_told_by_its_row_groups_those_of_no_row_aside(tmp_path: Path) -> None:
    """An empty shard's part (a row group of no row) and a merge written with it, as a run's merge
    writes each part's row groups, or without it: the same records, as is a part's row group
    written in two; a merge of other values, of the parts in another order, or of a record more,
    is not their merge."""
    import pyarrow as pa

    from reports.data import _merge_of

    a, empty, b = tmp_path / "a.parquet", tmp_path / "e.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), a)
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), empty)
    pq.write_table(pa.table({"x": [7, 8]}), b)
    merged = tmp_path / "m.parquet"
    for tables, why in (
        ([[1, 2, 3], [7, 8]], None),
        ([[1, 2, 3], [], [7, 8]], None),
        ([[1, 2], [3], [7, 8]], None),
        ([[1, 2, 3], [7, 8], [9]], "6 records, its parts 5"),
        ([[1, 2, 4], [7, 8]], "a row group (1 of 2) holds other values than its part's"),
        ([[7, 8], [1, 2, 3]], "a row group (2 of 2) is not of its parts' rows"),
    ):
        with pq.ParquetWriter(merged, pa.schema([("x", pa.int64())])) as w:
            for t in tables:
                w.write_table(pa.table({"x": pa.array(t, pa.int64())}))
        assert _merge_of(merged, [a, empty, b]) == why


@pytest.mark.parametrize("merged", [False, True], ids=["parts", "merged"])
def test_an_invoice_rated_on_windows_places_its_rejects(tmp_path: Path, merged: bool) -> None:
    """Parts rated on Windows (`rate inv C:\\data\\march`): the invoice names them
    `C:\\data\\march\\part-00000.parquet` and its rejects `part-00000.parquet`, the file name as
    Windows splits it.  Read on Linux, where a backslash is no separator, the parts' names were
    taken whole: the reject was "counted here all the same" beside the parts, and the parts beside
    their merge (`usage.parquet`) were not found ("the files it rated are not here")."""
    rated = tmp_path / "rated"
    invoice = _rated_parts(rated)
    for entry in invoice["usage_files"]:
        entry["name"] = "C:\\data\\march\\" + Path(entry["name"]).name
    assert [(x["file"], x["row"]) for x in invoice["rejects"]] == [("part-00000.parquet", 4)]
    folder = tmp_path / "copy"
    (folder / "usage").mkdir(parents=True)
    (folder / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    for part in rated.iterdir():
        shutil.copy(part, folder / "usage" / part.name)
    if merged:  # (as a run merges its parts: each part's row groups in turn)
        parts = sorted((folder / "usage").iterdir())
        schema = pq.read_schema(parts[0])
        with pq.ParquetWriter(folder / "usage.parquet", schema) as w:
            for part in parts:
                w.write_table(pq.read_table(part))
    r = run_cli(["report", str(folder)])
    assert r.rc == 0 and not r.err, str(r)
    note = _rejects_note((folder / "report.html").read_text(encoding="utf-8"))
    assert "of the 6 records read, 1 rejected" in note and "counted here all the same" not in note, note


def test_a_runs_duplicate_across_parts_names_both_parts_as_the_run_folder_holds_them(tmp_path: Path) -> None:
    """A record of one shard's part identical to one of an earlier part: its reject, and the first
    copy its reason points to, are named by the parts' paths in the run folder
    (`usage/part-00000.parquet:2`), as the invoice's `usage_files` are, not as the rating was
    given them in the run's temporary folder (`part-00000.parquet:2`, a file the page reads none
    of)."""
    import yaml

    from accounting import inventory_from_dict, rate_run
    from simulator.run import _name_in_run

    run = tmp_path / "run"
    (run / "usage").mkdir(parents=True)
    parts = [
        _usage(run / "usage" / "part-00000.parquet", RATED[:2]),
        _usage(run / "usage" / "part-00001.parquet", RATED[2:] + OTHER),
    ]
    invoice = rate_run(inventory_from_dict(yaml.safe_load(INVENTORY)), parts).invoice
    assert [(r.file, r.row, r.reason) for r in invoice.rejects] == [
        ("part-00001.parquet", 2, "duplicate record: identical in every field to part-00000.parquet:2")
    ]
    _name_in_run(invoice, parts, run)
    assert [(r.file, r.row, r.reason) for r in invoice.rejects] == [
        (
            "usage/part-00001.parquet",
            2,
            "duplicate record: identical in every field to usage/part-00000.parquet:2",
        )
    ]
    assert [f["name"] for f in invoice.usage_files or ()] == [
        "usage/part-00000.parquet",
        "usage/part-00001.parquet",
    ]


@pytest.mark.parametrize("seed", range(4))
def test_each_parts_rows_are_placed_at_their_rows_of_the_merge_with_or_without_the_parts(
    tmp_path: Path, seed: int
) -> None:
    """Parts of random sizes (an empty one, row groups of no row among others), merged as a run
    merges them, their entries placed in the merge as a run's invoice places them
    (`_placed_in_merge`): each part's row r (as a reject numbers it, the first row 2) is the
    merge's row r + row_offset, the same record, read with the parts beside the merge
    (`_merged_parts`) or the merge alone (`_merge_alone`); a row_offset off by one left out a
    record of the part before a reject's."""
    import random
    from types import SimpleNamespace

    import pyarrow as pa

    from accounting.usage import file_identity
    from reports.data import RunFiles, check_invoice_files
    from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS
    from simulator.run import _placed_in_merge, merge_usage, usage_parts

    rng = random.Random(seed)
    folder = tmp_path / "run"
    (folder / "usage").mkdir(parents=True)
    sizes = [rng.choice([0, 1, 2, 5, 17]) for _ in range(rng.randint(2, 6))]
    sizes[rng.randrange(len(sizes))] = 0
    made = 0
    for k, size in enumerate(sizes):
        # (the columns the run's merge reads as dictionaries, and a count telling the records apart)
        schema = pa.schema([*((c, pa.string()) for c in DICTIONARY_COLUMNS), ("bytes_up", pa.int64())])
        stated = [c for c in PART_PARQUET_OPTIONS["write_statistics"] if c in schema.names]  # (as a run's)
        with pq.ParquetWriter(
            folder / "usage" / f"part-{k:05d}.parquet", schema, write_statistics=stated
        ) as writer:
            left = size
            while True:  # (row groups of random sizes, some of no row)
                n = min(left, rng.choice([0, 1, 3, 8]))
                rows = range(made, made + n)
                texts = {c: [f"{c}{k}" for _ in rows] for c in DICTIONARY_COLUMNS}
                writer.write_table(pa.table({**texts, "bytes_up": list(rows)}, schema))
                made, left = made + n, left - n
                if left == 0 and rng.random() < 0.5:
                    break
    parts = usage_parts(folder)
    assert merge_usage(folder, csv=False) == sum(sizes) == made
    names = [f"usage/{p.name}" for p in parts]
    invoice = SimpleNamespace(usage_files=[file_identity(p, n) for p, n in zip(parts, names, strict=True)])
    _placed_in_merge(invoice, parts, folder)  # type: ignore[arg-type]
    doc = {"usage_files": invoice.usage_files}
    merged = folder / "usage.parquet"
    own = {n: pq.read_table(p).to_pylist() for p, n in zip(parts, names, strict=True)}
    beside = check_invoice_files(RunFiles(folder, invoice=doc, usage=[merged]))
    shutil.rmtree(folder / "usage")
    alone = check_invoice_files(RunFiles(folder, invoice=doc, usage=[merged]))
    assert beside[0] is None and alone[0] is None, (beside[0], alone[0])
    whole = pq.read_table(merged).to_pylist()
    for name in names:
        assert beside[1][name] == alone[1][name] == (str(merged), alone[1][name][1]), name
        before = alone[1][name][1]
        for row in range(2, len(own[name]) + 2):  # (a part's rows as a reject numbers them)
            assert whole[before + row - 2] == own[name][row - 2], (name, row)
