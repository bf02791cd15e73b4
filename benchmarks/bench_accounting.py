"""Accounting speed and memory: a month of 30 million usage rows for 10,000 lines, rated end to end.

The rows are generated with numpy/pyarrow in 1-million-row chunks and written once to Parquet the way
the simulator writes its usage files (`UsageWriter` with the simulator's options: dictionary-encoded
string columns, `PART_PARQUET_OPTIONS`, the columns every record has stored REQUIRED; every gateway
column filled for data records: session, IMSI, IMEISV, APN, charging id, serving PLMN, cause,
sequence), and once to CSV with the rating columns only (an operator's export converted to the usage
columns).  Each rating (read, validate, aggregate, price, invoice text and JSON) runs in a fresh child
process so that its peak memory (RSS high-water mark) and its CPU time (all threads) are its own; each
is run three times and the median is reported.  The machine may be shared: CPU-seconds per 30 M rows
and rows per CPU-second are what an idle machine turns into wall time.  The baseline is a plain-Python
loop doing the same per-row work (validation, ko rounding, per-line sums) over a sample of the same
rows, measured in the same run.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting.usage_writer import UsageWriter
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS

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


CSV_COLUMNS = ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest")
MONTH_START = 1_772_323_200  # 2026-03-01T00:00:00Z


def _dictionary(codes: np.ndarray, values: list[str] | pa.Array, mask: np.ndarray | None = None) -> pa.Array:
    """A dictionary-encoded string column from integer codes (null where `mask` is true)."""
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(
        indices, values if isinstance(values, pa.Array) else pa.array(values)
    )


def _chunk(rng: np.random.Generator, n: int, ids: pa.Array, voice: np.ndarray) -> dict[str, Any]:
    """One chunk of the month, as the columns the simulator hands to `UsageWriter.write_columns`."""
    li = rng.integers(0, LINES, n)
    kind = rng.choice(4, n, p=[0.93, 0.04, 0.02, 0.01])  # data, sms, call, location-free filler as data
    kind[kind == 3] = 0
    is_data = kind == 0
    is_call = kind == 2
    types = np.where(is_data, 0, np.where(kind == 1, 1, np.where(voice[li], 2, 3)))
    zone = rng.choice(3, n, p=[0.95, 0.04, 0.01])
    zone[~is_data] = 0  # SMS and calls from France
    dest = np.where(rng.random(n) < 0.7, 0, 1)
    start = MONTH_START + rng.integers(0, 31 * 86_400, n)
    # As the simulator's records: every row has its byte counts and duration (0 where they do not
    # apply) and a zone; the gateway's columns are filled for data rows only.
    up = np.where(is_data, rng.lognormal(7.0, 1.2, n).astype(np.int64), 0)
    down = np.where(is_data, rng.lognormal(7.5, 1.2, n).astype(np.int64), 0)
    dur = np.where(is_call, rng.integers(0, 300, n), np.where(is_data, rng.integers(1, 43_200, n), 0))
    dur = np.minimum(dur, MONTH_START + 31 * 86_400 - start)  # as the simulator's: none past the month
    charging = rng.integers(1, 2**31, n)
    line = _dictionary(li, ids)
    session = pc.binary_join_element_wise(
        line.cast(pa.string()), pc.cast(pa.array(charging), pa.string()), "-"
    )
    imsi = pa.array([f"20801{i:010d}" for i in range(LINES)])
    imeisv = pa.array([f"35{i:014d}" for i in range(LINES)])
    return {
        "line": line,
        "type": _dictionary(types, ["data", "sms", "voice", "csd"]),
        "start": start,
        "duration_s": dur,
        "bytes_up": up,
        "bytes_down": down,
        "zone": _dictionary(zone, ["fr", "eu", "world"]),
        "dest": _dictionary(dest, ["fr-mobile", "fr-fixed"], mask=is_data),
        "session": pc.if_else(pa.array(is_data), session, pa.nulls(n, pa.string())),
        "imsi": _dictionary(li, imsi),
        "imeisv": _dictionary(li, imeisv, mask=~is_data),
        "apn": _dictionary(np.zeros(n, np.int64), ["m2m.orange.fr"], mask=~is_data),
        "charging_id": pa.array(charging, mask=~is_data),
        "serving_plmn": _dictionary(zone, ["20801", "26202", "310260"], mask=~is_data),
        "cause": pa.array(np.where(dur >= 43_200, 17, 0).astype(np.int32), mask=~is_data),
        "sequence": pa.array(np.ones(n, np.int32), mask=~is_data),
    }


def generate(tmp: Path, rows: int, seed: int = 2026) -> tuple[Path, Path, float]:
    rng = np.random.default_rng(seed)
    ids_np, voice = _line_ids()
    ids = pa.array(ids_np)
    pq_path, csv_path = tmp / "usage.parquet", tmp / "usage.csv"
    t0 = time.perf_counter()
    cw: pacsv.CSVWriter | None = None
    done = 0
    with UsageWriter(
        pq_path,
        dictionary_columns=DICTIONARY_COLUMNS,
        parquet_options=PART_PARQUET_OPTIONS,
        required_columns=REQUIRED_COLUMNS,
        origin={"run": f"bench seed {seed}", "shard": 0},
    ) as pw:
        while done < rows:
            n = min(CHUNK, rows - done)
            columns = _chunk(rng, n, ids, voice)
            pw.write_columns(columns, length=n)
            table = pa.table(
                {
                    c: columns[c].cast(pa.string())
                    if isinstance(columns[c], pa.DictionaryArray)
                    else columns[c]
                    for c in CSV_COLUMNS
                    if c != "start"
                }
            ).add_column(
                2, "start", pa.array(columns["start"].astype("datetime64[s]"), pa.timestamp("s", tz="UTC"))
            )
            if cw is None:
                cw = pacsv.CSVWriter(csv_path, table.schema)
            cw.write_table(table)
            done += n
    assert cw is not None
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
    t1 = time.perf_counter()
    text = invoice.render_text()
    doc = invoice.to_json()
    elapsed = time.perf_counter() - t0
    stages = {**run.timings, "text+JSON": time.perf_counter() - t1}
    stages["set-up"] = elapsed - sum(stages.values())
    cpu = _cpu_seconds() - cpu0
    t2 = time.perf_counter()
    from accounting.compare import compare

    comparison = compare(run)
    compare_s = time.perf_counter() - t2
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "elapsed": elapsed,
            "cpu": cpu,
            "peak_kib": peak_kib,
            "total": str(invoice.total),
            "rows": invoice.rows_read,
            "rejected": invoice.rejects_total,
            "stages": stages,
            "chars": len(text) + len(doc),
            "compare_s": compare_s,
            "cheapest": str(comparison.cheapest.total),
        }
    )


def rate_in_child(path: Path) -> dict[str, Any]:
    """One rating of the file in a fresh process: wall and CPU seconds, peak RSS, the invoice's total."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rate_child, args=(str(path), queue))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    return result


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
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="m2msim-bench-") as tmp:
        pq_path, csv_path, gen_s = generate(Path(tmp), rows)
        os.sync()  # the generated files' dirty pages are written out now, not during the first timed run
        print(
            f"generated {rows:,} rows for {LINES:,} lines in {gen_s:.1f} s: parquet as the simulator writes it "
            f"({pq_path.stat().st_size / 2**20:.0f} MiB, dictionary strings, every gateway column), "
            f"csv with the rating columns ({csv_path.stat().st_size / 2**20:.0f} MiB)"
        )
        print(
            f"cores {os.cpu_count()}, DuckDB memory_limit {MEMORY_LIMIT}, median of {runs} run(s), each in a fresh process"
        )
        results = {}
        for label, path in (("parquet", pq_path), ("csv", csv_path)):
            done = [rate_in_child(path) for _ in range(runs)]
            assert len({(r["total"], r["rows"]) for r in done}) == 1, "runs disagree"
            med = sorted(done, key=lambda r: r["elapsed"])[len(done) // 2]
            cpu = statistics.median(r["cpu"] for r in done)
            results[label] = rows / med["elapsed"]
            print(
                f"rate from {label:<7}: {med['elapsed']:6.2f} s  {rows / med['elapsed'] / 1e6:6.2f} M rows/s  "
                f"(runs: {', '.join(format(r['elapsed'], '.2f') for r in done)} s)  "
                f"peak RSS {max(r['peak_kib'] for r in done) / 2**20:.2f} GiB  total {med['total']} EUR  "
                f"rows read {med['rows']:,}  rejected {med['rejected']:,}"
            )
            print(
                f"  CPU time {cpu:.2f} s (all threads): {cpu * 30e6 / rows:.2f} CPU-s per 30 M rows, "
                f"{rows / cpu / 1e6:.2f} M rows per CPU-second"
            )
            print(
                "  stages: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in med["stages"].items())
                + f" ({med['chars']:,} chars)"
            )
            print(
                f"  compare (10,000 lines x every choice): {med['compare_s']:.2f} s, "
                f"cheapest fleet total {med['cheapest']} EUR"
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
