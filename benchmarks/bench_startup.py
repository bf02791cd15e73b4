"""Start-up as a user meets it: the installed `m2msim` console script, a fresh process each time.

`m2msim --help`, `m2msim sms-decode PDU` and `m2msim rate` of a one-row usage file (CSV, and
Parquet as pyarrow writes it) with a 10,000-line inventory (four groups of lines, as
accounting-io.md's `id_prefix`/`count`), each against same-run baselines: `python -c pass` (the
interpreter alone), `python -c "import duckdb"` (the DuckDB package) and the DuckDB engine
started (`import _duckdb` and an in-memory connection: the floor of a rating through DuckDB; the
one-row files here, small and plain, are rated without it: `accounting.usage_small`).  One more row
rates the same month with the 10,000 lines written out one by one (50,000 YAML lines): the same
bill, read from a large YAML file.

m2msim keeps the parsed inventory and catalog between runs (`m2msim.yamlcache`, keyed by their
content): the rows are measured with that cache as a user's second run finds it (written by the
untimed first run), and the `YAML cache cold` rows with an empty cache folder at each run (the
first run after the inventory changed).

The commands are run in turns (one of each, then again), so a load swing on a shared machine
falls on all of them alike; the median of the runs is reported, wall and CPU time (user + system
of every thread: less swayed by the machine's load than the wall time).  Target: <= 0.3 s each (the
line-by-line inventory is shown for what it costs, not held to the target).

Python's compiled-module caches are kept in a folder of the benchmark's own
(`PYTHONPYCACHEPREFIX`), written by an untimed first run of each command: an installed package
has them, and a shell that sets `PYTHONDONTWRITEBYTECODE` would otherwise compile every module of
m2msim at each start.  `M2MSIM_BENCH_BASELINE=/path/to/other/venv/bin/m2msim` runs each m2msim
command of that installation too, in the same turns (e.g. the main branch's, for a before/after
ratio measured under the same load).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bench_accounting import inventory_dict

PDU = "07913396050066F0040B913366554433F20000626070512390800AC8329BFD06DDDF723619"
TARGET_S = 0.3
INFO = "(line by line)"  # a row shown, not held to the target


COLD = ", YAML cache cold"


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _wall(argv: list[str], env: dict[str, str], cold: bool) -> tuple[float, float]:
    """The command's wall time and CPU time (user + system, every thread of it)."""
    if cold:  # an empty cache folder of its own
        env = {**env, "XDG_CACHE_HOME": tempfile.mkdtemp(dir=env["XDG_CACHE_HOME"])}
    c0, t0 = _cpu(), time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t0, _cpu() - c0


def _one_by_one(inventory: dict[str, Any]) -> dict[str, Any]:
    """The same inventory with every line of every group written out (`id` instead of a group)."""
    lines = []
    for group in inventory["lines"]:
        width = len(str(group["count"]))
        terms = {k: v for k, v in group.items() if k not in ("id_prefix", "count")}
        lines += [{"id": f"{group['id_prefix']}{n:0{width}d}", **terms} for n in range(1, group["count"] + 1)]
    return {**inventory, "lines": lines}


def _files(tmp: Path) -> tuple[Path, Path, Path, Path]:
    inventory = tmp / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(inventory_dict(), sort_keys=False), encoding="utf-8")
    written_out = tmp / "inventory-lines.yaml"
    written_out.write_text(yaml.safe_dump(_one_by_one(inventory_dict()), sort_keys=False), encoding="utf-8")
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
    return inventory, written_out, csv, parquet


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(quick: bool) -> None:
    runs = 3 if quick else 7
    py = sys.executable
    scripts = {"": str(Path(py).with_name("m2msim"))}
    baseline = os.environ.get("M2MSIM_BENCH_BASELINE")
    if baseline:
        scripts[" [baseline]"] = baseline
    with tempfile.TemporaryDirectory(prefix="m2msim-bench-") as folder:
        inventory, written_out, csv, parquet = _files(Path(folder))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        env["XDG_CACHE_HOME"] = str(Path(folder) / "cache")
        Path(env["XDG_CACHE_HOME"]).mkdir()
        cases = {
            "python -c pass": [py, "-c", "pass"],
            'python -c "import duckdb"': [py, "-c", "import duckdb"],
            "DuckDB engine + connect": [py, "-c", "import _duckdb; _duckdb.connect(':memory:')"],
        }
        for tag, script in scripts.items():
            cases |= {
                f"m2msim --help{tag}": [script, "--help"],
                f"m2msim sms-decode PDU{tag}": [script, "sms-decode", PDU],
                f"m2msim rate (1-row CSV){tag}": [script, "rate", str(inventory), str(csv)],
                f"m2msim rate (1-row Parquet){tag}": [script, "rate", str(inventory), str(parquet)],
                f"m2msim rate {INFO}{tag}": [script, "rate", str(written_out), str(csv)],
            }
            if not tag:  # the baseline may have no such cache: its rows are cold already
                cases |= {
                    f"m2msim rate (1-row CSV{COLD})": [script, "rate", str(inventory), str(csv)],
                    f"m2msim rate {INFO[:-1]}{COLD})": [script, "rate", str(written_out), str(csv)],
                }
        for name, argv in cases.items():  # once untimed: the module caches written, the files warm
            _wall(argv, env, COLD in name)
        load_before = _load()
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, argv in cases.items():
                wall, cpu = _wall(argv, env, COLD in name)
                times[name].append(wall)
                cpus[name].append(cpu)
        load_after = _load()
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpus.items()}
    bare, duck = med["python -c pass"], med['python -c "import duckdb"']
    print(
        f"start-up, fresh process each time, median of {runs} (commands in turns); 10,000-line "
        f"inventory; load average {load_before} before, {load_after} after"
    )
    for name, t in med.items():
        if name.startswith(("python", "DuckDB")) or INFO[:-1] in name or "[baseline]" in name:
            verdict = ""
        else:
            verdict = "  ok" if t <= TARGET_S else f"  over {TARGET_S} s"
        print(
            f"  {name:<42} {t * 1000:7.0f} ms ({med_cpu[name] * 1000:4.0f} CPU-ms)  x{t / bare:5.1f} "
            f"python -c pass  x{t / duck:4.2f} import duckdb{verdict}"
        )
    if baseline:
        for name in med:
            if "[baseline]" in name:
                mine = name.replace(" [baseline]", "")
                print(
                    f"  {mine:<42} x{med[mine] / med[name]:4.2f} the baseline's time, "
                    f"x{med_cpu[mine] / med_cpu[name]:4.2f} its CPU time"
                )
