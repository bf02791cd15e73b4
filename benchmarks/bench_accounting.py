"""Accounting speed and memory: a month of 30 million usage rows for 10,000 lines, rated end to end.

The rows are generated with numpy/pyarrow in 1-million-row chunks and written once to Parquet and
to CSV in a temporary directory.  Each rating (read, validate, aggregate, price, invoice JSON and
text) runs in a fresh child process so that its peak memory (RSS high-water mark) is its own.  The
baseline is a plain-Python loop doing the same per-row work (validation, ko rounding, per-line
sums) over a sample of the same rows, measured in the same run.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

LINES = 10_000
CHUNK = 1_000_000
MEMORY_LIMIT = "1GB"
GROUPS = [  # (prefix, count, offer, plan, commitment, calls)
    ("B", 4000, "business-m2m", "forfait-2mo", 24, "csd"),
    ("D", 2000, "business-m2m-dtmf", "compteur", 36, "voice"),
    ("I", 3000, "intense", "optima", 36, "csd"),
    ("E", 1000, "europe", "forfait-5mo", 24, "csd"),
]


def inventory_dict() -> dict[str, Any]:
    lines = [
        {"id_prefix": p, "count": n, "offer": o, "plan": pl, "commitment": c, "since": "2025-01-01"}
        for p, n, o, pl, c, _ in GROUPS
    ]
    return {
        "customer": "bench",
        "month": "2026-03",
        "lines": lines,
        "services": {"assistance": {"hours": "24-7"}},
    }


def _line_ids() -> tuple[np.ndarray, np.ndarray]:
    ids, voice = [], []
    for prefix, count, *_, calls in GROUPS:
        width = len(str(count))
        ids += [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]
        voice += [calls == "voice"] * count
    return np.array(ids), np.array(voice)


def _chunk(rng: np.random.Generator, n: int, ids: pa.Array, voice: np.ndarray) -> pa.Table:
    li = rng.integers(0, LINES, n)
    kind = rng.choice(4, n, p=[0.93, 0.04, 0.02, 0.01])  # data, sms, call, location-free filler as data
    kind[kind == 3] = 0
    is_call = kind == 2
    types = np.where(kind == 0, 0, np.where(kind == 1, 1, np.where(voice[li], 2, 3)))
    type_names = pa.array(["data", "sms", "voice", "csd"])
    zone = rng.choice(3, n, p=[0.95, 0.04, 0.01])
    zone[kind != 0] = 0  # SMS and calls from France
    dest = np.where(rng.random(n) < 0.7, 0, 1)
    dest_arr = pa.DictionaryArray.from_arrays(
        pa.array(dest.astype(np.int32), mask=kind == 0), pa.array(["fr-mobile", "fr-fixed"])
    )
    start = 1_772_323_200 + rng.integers(0, 31 * 86_400, n)
    up = np.where(kind == 0, rng.lognormal(7.0, 1.2, n).astype(np.int64), 0)
    down = np.where(kind == 0, rng.lognormal(7.5, 1.2, n).astype(np.int64), 0)
    dur = np.where(is_call, rng.integers(0, 300, n), np.where(kind == 0, rng.integers(1, 43_200, n), 0))
    return pa.table(
        {
            "line": ids.take(pa.array(li)),
            "type": type_names.take(pa.array(types)),
            "start": pa.array(start.astype("datetime64[s]"), pa.timestamp("s", tz="UTC")),
            "duration_s": pa.array(dur),
            "bytes_up": pa.array(up, mask=kind != 0),
            "bytes_down": pa.array(down, mask=kind != 0),
            "zone": pa.array(["fr", "eu", "world"]).take(pa.array(zone)),
            "dest": dest_arr.cast(pa.string()),
        }
    )


def generate(tmp: Path, rows: int, seed: int = 2026) -> tuple[Path, Path, float]:
    rng = np.random.default_rng(seed)
    ids_np, voice = _line_ids()
    ids = pa.array(ids_np)
    pq_path, csv_path = tmp / "usage.parquet", tmp / "usage.csv"
    t0 = time.perf_counter()
    pw: pq.ParquetWriter | None = None
    cw: pacsv.CSVWriter | None = None
    done = 0
    while done < rows:
        table = _chunk(rng, min(CHUNK, rows - done), ids, voice)
        if pw is None:
            pw = pq.ParquetWriter(pq_path, table.schema, compression="zstd")
            cw = pacsv.CSVWriter(csv_path, table.schema)
        pw.write_table(table, row_group_size=CHUNK)
        assert cw is not None
        cw.write_table(table)
        done += table.num_rows
    assert pw is not None and cw is not None
    pw.close()
    cw.close()
    return pq_path, csv_path, time.perf_counter() - t0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rate_child(path: str, queue: Any) -> None:
    from accounting import inventory_from_dict, load_catalog
    from accounting.engine import rate_run
    from accounting.usage import UsageReader, connect

    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    con = connect(threads=os.cpu_count(), memory_limit=MEMORY_LIMIT)
    run = rate_run(inventory_from_dict(inventory_dict()), None, load_catalog(), reader=UsageReader(path, con))
    invoice = run.invoice
    text = invoice.render_text()
    doc = invoice.to_json()
    elapsed = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    t1 = time.perf_counter()
    from accounting.compare import compare

    comparison = compare(run)
    compare_s = time.perf_counter() - t1
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items())
    stages += f", invoice text+JSON and set-up {elapsed - sum(run.timings.values()):.2f} s ({len(text) + len(doc):,} chars)"
    stages += f"; CPU time {cpu:.2f} s (the machine is shared: rows per CPU-second {invoice.rows_read / cpu / 1e6:.2f} M)"
    queue.put(
        (
            elapsed,
            peak_kib,
            str(invoice.total),
            invoice.rows_read,
            invoice.rejects_total,
            stages,
            compare_s,
            str(comparison.cheapest.total),
        )
    )


def rate_in_child(path: Path) -> tuple[float, int, str, int, int, str, float, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rate_child, args=(str(path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result  # type: ignore[no-any-return]


def python_loop(path: Path, sample: int) -> tuple[float, int]:
    """The same per-row work in plain Python over the first `sample` rows: rows/s."""
    table = pq.ParquetFile(path).read_row_group(0).slice(0, sample)
    rows = table.to_pylist()
    month_start = datetime(2026, 3, 1, tzinfo=UTC)
    month_end = datetime(2026, 4, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    ko: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str], int] = defaultdict(int)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in rows:
        t = r["type"]
        if t not in ("data", "sms", "voice", "csd", "sms_internet", "location_hit"):
            continue
        if not month_start <= r["start"] < month_end:
            continue
        zone = r["zone"] or "fr"
        if t == "data":
            ko[(r["line"], zone)] += math.ceil((r["bytes_up"] + r["bytes_down"]) / 1024)
        elif t in ("voice", "csd"):
            seconds[(r["line"], t)] += max(0, math.ceil(r["duration_s"]) - 60)
        counts[(r["line"], t, zone)] += 1
    return time.perf_counter() - t0, len(rows)


def main(quick: bool) -> None:
    rows = 1_000_000 if quick else 30_000_000
    with tempfile.TemporaryDirectory(prefix="m2msim-bench-") as tmp:
        pq_path, csv_path, gen_s = generate(Path(tmp), rows)
        print(
            f"generated {rows:,} rows for {LINES:,} lines in {gen_s:.1f} s "
            f"(parquet {pq_path.stat().st_size / 2**20:.0f} MiB, csv {csv_path.stat().st_size / 2**20:.0f} MiB)"
        )
        print(f"cores {os.cpu_count()}, DuckDB memory_limit {MEMORY_LIMIT}")
        results = {}
        for label, path in (("parquet", pq_path), ("csv", csv_path)):
            elapsed, peak_kib, total, read, rejected, stages, compare_s, cheapest = rate_in_child(path)
            results[label] = rows / elapsed
            print(
                f"rate from {label:<7}: {elapsed:6.2f} s  {rows / elapsed / 1e6:6.2f} M rows/s  "
                f"peak RSS {peak_kib / 2**20:.2f} GiB  total {total} EUR  rows read {read:,}  rejected {rejected:,}"
            )
            print(f"  stages: {stages}")
            print(
                f"  compare (10,000 lines x every choice): {compare_s:.2f} s, cheapest fleet total {cheapest} EUR"
            )
        sample = min(rows, 300_000)
        loop_s, n = python_loop(pq_path, sample)
        loop_rate = n / loop_s
        print(
            f"plain-Python loop over {n:,} rows (aggregation only, rows already in memory): {loop_rate / 1e6:.2f} M rows/s"
        )
        print(
            f"ratio vs plain Python: parquet x{results['parquet'] / loop_rate:.1f}, csv x{results['csv'] / loop_rate:.1f} "
            "(targets: parquet >= 10 M rows/s, csv >= 2 M rows/s, peak <= 1.5 GiB)"
        )
