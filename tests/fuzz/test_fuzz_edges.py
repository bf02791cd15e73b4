"""The command line at its edges: every command given a path that is no usable file, and the readers
the other fuzz files leave aside (FreeRADIUS detail files, osmo-sgsn CDR files, a run folder read
again by `report` and `sql`) given damaged inputs.

- A path that is no usable file (a folder, a loop of symbolic links, a link to nothing, an empty or
  binary file, a name past the 255 bytes of a file name, a name of bytes that are not UTF-8): exit
  2, one line naming it, never a traceback (a name too long and a loop of links ended `report`,
  `sql`, `sessions-to-records` and `records-from-pcap` in a traceback, and `rate` said
  `--report None: File name too long`).
- A damaged detail or CDR file: exit 0, 1 or 2, one line on 2; with `--out` the records are written
  whole (as many rows as the summary says) or not at all, and no temporary file is left beside.
- A run folder whose files were edited or damaged: `report` exits 0 or 2, writing its page on 0 and
  none on 2; `sql` exits 0 or 2.

`make test` runs FUZZ_EXAMPLES (25) damaged inputs per test, `make fuzz` 1,000 (docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fuzzing import FUZZ, assert_cli_contract, mutated_bytes, mutated_yaml, run_cli, write
from hypothesis import given
from hypothesis import strategies as st
from log_samples import CDR, DETAIL

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"
INV, USAGE = MONTH / "inventory.yaml", MONTH / "usage.csv"

SCENARIO = """\
name: edges
seed: 3
period: {start: "2026-03-01", days: 1}
inventory:
  customer: unit
  month: "2026-03"
  lines:
    - {id_prefix: M, count: 3, offer: business-m2m, plan: compteur, commitment: 24, since: "2025-01-01"}
groups:
  - name: meters
    lines: M
    schedule: {period: 1h, jitter: uniform, jitter_s: 5min}
    application: {profile: coap, payload: {fixed: 48}}
"""

_COUNTER = iter(range(10**9))


def _tmp(factory: pytest.TempPathFactory) -> Path:
    return factory.mktemp(f"fuzz-edges-{next(_COUNTER)}")


# -- a path that is no usable file, for every command's every input ------------------------------

Argv = Callable[[Path, Path], list[str]]  # (the path given, a folder for outputs) -> argv

INPUTS: dict[str, Argv] = {
    "rate inventory": lambda p, o: ["rate", str(p), str(USAGE)],
    "rate usage": lambda p, o: ["rate", str(INV), str(p)],
    "rate catalog": lambda p, o: ["rate", str(INV), str(USAGE), "--catalog", str(p)],
    "compare usage": lambda p, o: ["compare", str(INV), str(p), "--report", str(o / "c.html")],
    "run scenario": lambda p, o: ["run", str(p), "--out", str(o / "run")],
    "alarms-check": lambda p, o: ["alarms-check", str(p)],
    "sessions-to-records": lambda p, o: ["sessions-to-records", str(p), str(o / "r.csv")],
    "records-from-radius-detail": lambda p, o: ["records-from-radius-detail", str(p)],
    "records-from-osmo-cdr": lambda p, o: ["records-from-osmo-cdr", str(p), "--out", str(o / "r.parquet")],
    "records-from-pcap": lambda p, o: ["records-from-pcap", str(p)],
    "report": lambda p, o: ["report", str(p), "--out", str(o / "r.html")],
    "sql": lambda p, o: ["sql", str(p), "SELECT count(*) FROM usage"],
    "bench script": lambda p, o: [
        "bench",
        str(p),
        "--modem-url",
        "virtual://quectel-bg96",
        "--out",
        str(o / "b"),
    ],
    "bench allow-list": lambda p, o: [
        "bench",
        "register",
        "--modem-url",
        "virtual://quectel-bg96",
        "--allow-list",
        str(p),
        "--out",
        str(o / "b"),
    ],
    "modem serve scenario": lambda p, o: ["modem", "serve", "--scenario", str(p), "--check"],
    "modem serve profile": lambda p, o: ["modem", "serve", "--profile", str(p), "--check"],
    "modem serve alarms": lambda p, o: ["modem", "serve", "--alarms", str(p), "--check"],
}


def _unusable(kind: str, folder: Path) -> Path:
    """A path of `kind` in `folder`, where a file of the command's input is expected."""
    path = folder / f"{kind}.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to("nowhere")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 16)
    elif kind == "long name":
        path = folder / ("n" * 300)  # past NAME_MAX: no file can have it
    elif kind == "name not UTF-8":
        path = folder / os.fsdecode(b"caf\xe9.yaml")
        path.write_bytes(b"\xff\xfe\x00 not text\n")
    return path


@pytest.mark.parametrize(
    "kind", ["folder", "loop", "dangling", "empty", "binary", "long name", "name not UTF-8"]
)
@pytest.mark.parametrize("target", sorted(INPUTS))
def test_a_path_that_is_no_usable_file_is_refused_in_one_line_naming_it(
    tmp_path: Path, target: str, kind: str
) -> None:
    given = _unusable(kind, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(os.listdir(tmp_path))
    result = run_cli(INPUTS[target](given, out))
    assert_cli_contract(result, allowed=(2,))
    shown = str(given) if kind != "name not UTF-8" else given.name[:3]
    assert shown[:40] in result.err or given.name[:40] in result.err, str(result)
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(out) == [], "nothing written"


# -- FreeRADIUS detail files and osmo-sgsn CDR files, damaged -------------------------------------


def _records_whole_or_absent(out: Path, result: Any) -> None:
    """`--out` is the records whole (as many as the summary counts) or not there; nothing beside."""
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".m2msim-")] == [], str(result)
    if result.rc == 2:
        assert not out.exists(), str(result)
        return
    summary = json.loads(result.out)
    assert pq.read_table(out).num_rows == summary["records"], str(result)


@FUZZ
@given(damaged=st.one_of(mutated_bytes(DETAIL.encode()), mutated_yaml(DETAIL.replace(" = ", ": "))))
def test_a_damaged_detail_file(tmp_path_factory: pytest.TempPathFactory, damaged: bytes | str) -> None:
    folder = _tmp(tmp_path_factory)
    text = damaged.replace(": ", " = ") if isinstance(damaged, str) else damaged
    path = write(folder / "detail", text)
    out = folder / "usage.parquet"
    result = run_cli(["records-from-radius-detail", str(path), "--out", str(out), "--json"])
    assert_cli_contract(result, allowed=(0, 1, 2))
    _records_whole_or_absent(out, result)


@FUZZ
@given(damaged=st.one_of(mutated_bytes(CDR.encode()), st.data()))
def test_a_damaged_cdr_file(tmp_path_factory: pytest.TempPathFactory, damaged: bytes | st.DataObject) -> None:
    folder = _tmp(tmp_path_factory)
    if not isinstance(damaged, bytes):  # one field of a row replaced by a value people or files make
        lines = CDR.splitlines()
        row = damaged.draw(st.integers(1, len(lines) - 1))
        cells = lines[row].split(",")
        cells[damaged.draw(st.integers(0, len(cells) - 1))] = damaged.draw(st.sampled_from(_CDR_VALUES))
        lines[row] = ",".join(cells)
        damaged = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    path = write(folder / "sgsn.cdr", damaged)
    out = folder / "usage.parquet"
    result = run_cli(["records-from-osmo-cdr", str(path), "--out", str(out), "--json"])
    assert_cli_contract(result, allowed=(0, 1, 2))
    _records_whole_or_absent(out, result)


_CDR_VALUES = (
    "",
    "-1",
    "nan",
    "inf",
    "1e308",
    "99999999999999999999999",
    str(2**63),
    "00000101000000000",  # the year 0
    "99991231240000000",  # 24:00 on the last day of 9999
    "20260230100000000",  # 30 February
    '"' + "x" * 200_000 + '"',  # past the csv module's field limit (a traceback before)
    '"',
    "\udcff",
    "N/A",
)


# -- a run folder read again, its files edited or damaged -----------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("edges-run")
    scenario = write(folder / "edges.yaml", SCENARIO)
    result = run_cli(["run", str(scenario), "--out", str(folder / "run")])
    assert result.rc == 0, str(result)
    (folder / "run" / "report.html").unlink()
    return folder / "run"


_JSON_VALUES: tuple[Any, ...] = (
    None,
    "x",
    -1,
    2**70,
    1e308,
    [],
    {},
    True,
    "0000-01-01T00:00:00Z",
    "9999-12-31T24:00:00Z",
    "1e400",
)


def _leaves(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [at] + [p for k, v in doc.items() for p in _leaves(v, (*at, k))]
    if isinstance(doc, list):
        return [at] + [p for i, v in enumerate(doc[:3]) for p in _leaves(v, (*at, i))]
    return [at]


@FUZZ
@given(data=st.data())
def test_report_and_sql_of_a_damaged_run_folder(
    tmp_path_factory: pytest.TempPathFactory, run_folder: Path, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(RUN_FILES))
    folder = _tmp(tmp_path_factory) / "run"
    shutil.copytree(run_folder, folder)
    original = (folder / name).read_bytes()
    if name.endswith(".json") and data.draw(st.booleans()):
        # one value of the document replaced (edited by hand, another writer's or version's)
        doc = json.loads(original)
        at = data.draw(st.sampled_from(_leaves(doc)))
        value = data.draw(st.sampled_from(_JSON_VALUES))
        if at == ():
            doc = value
        else:
            parent = doc
            for key in at[:-1]:
                parent = parent[key]
            parent[at[-1]] = value
        (folder / name).write_text(json.dumps(doc), encoding="utf-8")
    else:
        (folder / name).write_bytes(data.draw(mutated_bytes(original)))
    result = run_cli(["report", str(folder)])
    assert_cli_contract(result, allowed=(0, 2))
    assert (folder / "report.html").exists() == (result.rc == 0), str(result)
    query = data.draw(st.sampled_from(QUERIES))
    assert_cli_contract(run_cli(["sql", str(folder), query, "--json"]), allowed=(0, 2))


RUN_FILES = ("summary.json", "invoice.json", "alarms.jsonl", "scenario.yaml", "usage.parquet")
QUERIES = (
    "SELECT count(*), sum(bytes_up) FROM usage",
    "FROM invoice_lines",
    "FROM invoice_items",
    "FROM lines",
)
