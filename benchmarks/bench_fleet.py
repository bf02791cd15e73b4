"""Rating a large fleet's month: a million lines, 30 M usage rows.

The accounting bench's month with its fleet 100 times larger (1,000,000 lines in the same four
offers, `bench_accounting.fleet_groups`), each row's line drawn from the whole fleet, so that
every row group of the Parquet file (as the simulator writes it) and every chunk of the CSV
holds most of the fleet's lines, as an operator's export sorted by time does.  Each file is
rated in a fresh process, in turns with the bare DuckDB aggregate over it (per line, the sum of
rounded ko); the Parquet file also with DuckDB's aggregate instead of the pyarrow pass, the
way it was rated before the pass took large fleets.  Printed: wall and CPU seconds, the
stages (aggregate, pricing, invoice text and JSON), peak memory, marginal rows/s past the
rating of a 1-row file with the same inventory.  `--quick`: 100,000 lines, 3 M rows.
`M2MSIM_BENCH_KEEP=FOLDER` keeps the generated files there for the next run.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from typing import Any

from benchmarks.bench_accounting import _tiny, bare_in_child, month_files, rate_in_child


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["elapsed"])[len(runs) // 2]


def main(quick: bool) -> None:
    scale = 10 if quick else 100
    rows = int(os.environ.get("M2MSIM_BENCH_ROWS", 3_000_000 if quick else 30_000_000))
    runs = 1 if quick else 3
    lines = 10_000 * scale
    with contextlib.ExitStack() as stack:
        tmp, pq_path, csv_path, gen_s = month_files(stack, f"fleet-{lines}-lines-{rows}-rows", rows, scale)
        os.sync()
        print(
            f"{rows:,} rows for {lines:,} lines (generated in {gen_s:.1f} s), each row's line drawn from the whole "
            f"fleet; cores {os.cpu_count()}, median of {runs} run(s), each in a fresh process, in turns"
        )
        tiny = [rate_in_child(_tiny(tmp), scale=scale, offers=False) for _ in range(runs)]
        fixed = statistics.median(r["elapsed"] for r in tiny)
        print(f"fixed cost (a 1-row file, {lines:,}-line inventory, invoice text and JSON): {fixed:.2f} s")
        for label, path, other in (("simulator parquet", pq_path, True), ("csv", csv_path, False)):
            done, bare, by_duckdb = [], [], []
            for _ in range(runs):
                done.append(rate_in_child(path, scale=scale, offers=False))
                bare.append(bare_in_child(path))
                if other:
                    by_duckdb.append(rate_in_child(path, arrow=False, scale=scale, offers=False))
            assert len({(r["total"], r["rows"]) for r in done + by_duckdb}) == 1, "runs disagree"
            med = _median(done)
            bare_s = statistics.median(b["elapsed"] for b in bare)
            marginal = rows / max(med["elapsed"] - fixed, 1e-9)
            print(
                f"{label:<18} {med['elapsed']:6.2f} s, CPU {statistics.median(r['cpu'] for r in done):.2f} s, "
                f"{marginal / 1e6:.2f} M rows/s marginal; bare DuckDB {bare_s:.2f} s; rating/bare "
                f"x{(med['elapsed'] - fixed) / bare_s:.2f}; peak RSS {max(r['peak_kib'] for r in done) / 2**20:.2f} GiB"
            )
            print(
                f"  runs {', '.join(format(r['elapsed'], '.2f') for r in done)} s, bare "
                f"{', '.join(format(b['elapsed'], '.2f') for b in bare)} s; total {med['total']} EUR, "
                f"rows {med['rows']:,}; stages "
                + ", ".join(f"{k} {v:.2f} s" for k, v in med["stages"].items())
            )
            if by_duckdb:
                slow = _median(by_duckdb)
                print(
                    f"  aggregated by DuckDB instead of the pass: {slow['elapsed']:.2f} s (aggregate stage "
                    f"{slow['stages']['aggregate']:.2f} s against {med['stages']['aggregate']:.2f}), "
                    f"peak RSS {max(r['peak_kib'] for r in by_duckdb) / 2**20:.2f} GiB; runs "
                    + ", ".join(format(r["elapsed"], ".2f") for r in by_duckdb)
                    + " s"
                )
