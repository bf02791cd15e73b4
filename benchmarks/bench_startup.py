"""Start-up as a user meets it: the installed `m2msim` console script, a fresh process each time.

`m2msim --help`, `m2msim sms-decode PDU` and `m2msim rate` of a one-row usage file (CSV, and
Parquet as pyarrow writes it) with a 10,000-line inventory, each against the same-run baselines
`python -c pass` (the interpreter alone) and `python -c "import duckdb"` (what any rating must
load).  The commands are run in turns (one of each, then again), so a load swing on a shared
machine falls on all of them alike; the median of the runs is reported.  Target: <= 0.3 s each.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.bench_accounting import inventory_dict

PDU = "07913396050066F0040B913366554433F20000626070512390800AC8329BFD06DDDF723619"
TARGET_S = 0.3


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def _files(tmp: Path) -> tuple[Path, Path, Path]:
    inventory = tmp / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(inventory_dict(), sort_keys=False), encoding="utf-8")
    csv = tmp / "usage.csv"
    csv.write_text(
        "line,type,start,duration_s,bytes_up,bytes_down,zone,dest\nB0001,data,2026-03-02T10:00:00Z,60,1000,2000,fr,\n",
        encoding="utf-8",
    )
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet = tmp / "usage.parquet"
    pq.write_table(
        pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)), parquet
    )
    return inventory, csv, parquet


def main(quick: bool) -> None:
    runs = 3 if quick else 7
    script = str(Path(sys.executable).with_name("m2msim"))
    with tempfile.TemporaryDirectory(prefix="m2msim-bench-") as folder:
        inventory, csv, parquet = _files(Path(folder))
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import duckdb"': [sys.executable, "-c", "import duckdb"],
            "m2msim --help": [script, "--help"],
            "m2msim sms-decode PDU": [script, "sms-decode", PDU],
            "m2msim rate (1-row CSV)": [script, "rate", str(inventory), str(csv)],
            "m2msim rate (1-row Parquet)": [script, "rate", str(inventory), str(parquet)],
        }
        for argv in cases.values():  # once untimed: the files and the interpreter's caches are warm
            _wall(argv)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, argv in cases.items():
                times[name].append(_wall(argv))
    med = {name: statistics.median(t) for name, t in times.items()}
    bare, duck = med["python -c pass"], med['python -c "import duckdb"']
    print(f"start-up, fresh process each time, median of {runs} (commands in turns); 10,000-line inventory")
    for name, t in med.items():
        verdict = "" if name.startswith("python") else ("  ok" if t <= TARGET_S else f"  over {TARGET_S} s")
        print(
            f"  {name:<30} {t * 1000:7.0f} ms  x{t / bare:5.1f} python -c pass  "
            f"x{t / duck:4.2f} import duckdb{verdict}"
        )
