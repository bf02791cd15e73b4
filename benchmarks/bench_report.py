"""Report speed and size: the HTML report of a 10,000-device month, and of the default scenario's month.

Full: 10,000 MQTT meters for 30 days (28.8 million usage records, `bench_simulator`'s fleet) are
simulated on 2 processes with their invoice, then `render_run_report` is timed on the folder, stage
by stage: the SQL views, the hourly aggregation per device group (DuckDB, the only pass over the
records), the offer comparison (accounting, on the month's aggregates) and the whole page.  The
ratio printed is the report's time against the run's own (simulation, merge and invoice): what
writing `report.html` adds to `m2msim run`.  Then the default scenario's whole month: the page's
size (target: under a few MB) and render time.  Then the report `rate --report` writes of a CSV
export (the accounting bench's spreadsheet CSV, 3 M rows): `m2msim rate` with and without
`--report`, each in a process of its own, wall time and peak RSS.  `--quick`: 1,000 devices for 3
days, the default scenario for 3 days, a CSV of 300,000 rows (measured first).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from accounting import compare_month
from benchmarks.bench_accounting import _to_csv, generate, inventory_dict
from benchmarks.bench_simulator import fleet_doc, m2msim_command
from reports import render_run_report
from reports.data import connect, find_files
from reports.run_report import record_sums
from simulator.run import simulate
from simulator.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _timed_run(doc_days: tuple[int, int], out: Path) -> tuple[float, float]:
    devices, days = doc_days
    sc = parse_scenario(fleet_doc(devices, days, 5000 if devices >= 10_000 else 500), "bench-report.yaml")
    t0 = time.perf_counter()
    simulate(sc, out, workers=2)
    total = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    html = render_run_report(out)
    report, cpu = time.perf_counter() - t1, time.process_time() - c1
    (out / "report.html").write_text(html, encoding="utf-8")
    print(f"  (the report's CPU time, all threads: {cpu:.1f} s; the wall time depends on the machine's load)")
    return total - report, report  # simulate() writes report.html too: its run time less one render


def _rating_report(folder: Path, rows: int) -> None:
    """`m2msim rate INVENTORY CSV` without and with `--report`, each in a process of its own."""
    folder.mkdir()
    _, csv_path, _ = generate(folder, rows)
    export = folder / "spreadsheet.csv"
    _to_csv(csv_path, export)
    inventory = folder / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(inventory_dict(1)), encoding="utf-8")
    figures = []
    for extra in ([], ["--report", str(folder / "report.html")]):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        done = subprocess.run(
            [*m2msim_command(), "rate", str(inventory), str(export), *extra], capture_output=True, check=False
        )
        wall = time.perf_counter() - t0
        assert done.returncode == 0, done.stderr.decode()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        figures.append((wall, peak if peak > before else None))
    (plain, plain_rss), (report, report_rss) = figures

    def rss(kib: int | None) -> str:
        return "no more than before" if kib is None else f"{kib / 2**20:.2f} GiB"

    print(
        f"rate --report of a spreadsheet CSV export ({rows:,} rows, 10,000 lines): {report:.2f} s, peak "
        f"{rss(report_rss)}; without the report {plain:.2f} s, peak {rss(plain_rss)}: the report adds "
        f"{report - plain:.2f} s (x{report / plain:.2f})"
    )


def main(quick: bool) -> None:
    devices, days = (1_000, 3) if quick else (10_000, 30)
    tmp = Path(tempfile.mkdtemp(prefix="m2msim-bench-report-"))
    try:
        # (first: the peak memory of this process's children is the largest so far)
        _rating_report(tmp / "csv", 300_000 if quick else 3_000_000)
        out = tmp / "fleet"
        run_s, report_s = _timed_run((devices, days), out)
        files = find_files(out)
        t0 = time.perf_counter()
        con = connect(files)
        views_s = time.perf_counter() - t0
        rows = con.execute("SELECT count(*) FROM usage").fetchone()
        n = int(rows[0]) if rows else 0
        t0 = time.perf_counter()
        hourly = record_sums(con)[0].rows()
        agg_s = time.perf_counter() - t0
        con.close()
        t0 = time.perf_counter()
        assert files.inventory is not None
        compare_month(files.inventory, files.usage)
        cmp_s = time.perf_counter() - t0
        size = (out / "report.html").stat().st_size
        print(
            f"report of {devices:,} devices x {days} days ({n:,} records): {report_s:.2f} s "
            f"(views {views_s:.2f} s, hourly aggregation {agg_s:.2f} s = {n / agg_s / 1e6:.1f} M records/s "
            f"into {len(hourly):,} rows, offer comparison {cmp_s:.2f} s), {size / 1024:,.0f} KiB"
        )
        print(
            f"  the run itself (simulate, merge, invoice): {run_s:.1f} s; the report adds x{report_s / run_s:.2f}"
        )
        shutil.rmtree(out)
        d_days = 3 if quick else None
        sc = load_scenario(SCENARIOS / "default.yaml", days=d_days)
        t0 = time.perf_counter()
        simulate(sc, tmp / "default", workers=2)
        t1 = time.perf_counter()
        html = render_run_report(tmp / "default")
        t2 = time.perf_counter()
        print(
            f"default scenario ({sc.n_devices:,} devices, {(sc.end - sc.start).days} days): report "
            f"{len(html.encode()) / 1024:,.0f} KiB in {t2 - t1:.2f} s (run {t1 - t0:.1f} s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
