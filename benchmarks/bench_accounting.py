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

import contextlib
import math
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting.usage_writer import UsageWriter
from simulator.engine import DICTIONARY_COLUMNS, PART_PARQUET_OPTIONS, REQUIRED_COLUMNS, RUN_COLUMNS

LINES = 10_000
CHUNK = 1_000_000
MEMORY_LIMIT = "1GB"
GROUPS = [  # (prefix, count, offer, plan, commitment, calls)
    ("B", 4000, "business-m2m", "forfait-2mo", 24, "csd"),
    ("D", 2000, "business-m2m-dtmf", "compteur", 36, "voice"),
    ("I", 3000, "intense", "optima", 36, "csd"),
    ("E", 1000, "europe", "forfait-5mo", 24, "csd"),
]


def fleet_groups(scale: int = 1) -> list[tuple[str, int, str, str, int, str]]:
    """The bench fleet's groups of lines, each `scale` times as many (100: a million lines)."""
    return [(p, n * scale, o, pl, c, calls) for p, n, o, pl, c, calls in GROUPS]


def inventory_dict(scale: int = 1) -> dict[str, Any]:
    lines = [
        {"id_prefix": p, "count": n, "offer": o, "plan": pl, "commitment": c, "since": "2025-01-01"}
        for p, n, o, pl, c, _ in fleet_groups(scale)
    ]
    return {
        "customer": "bench",
        "month": "2026-03",
        "lines": lines,
        "services": {"assistance": {"hours": "24-7"}},
    }


def _line_ids(scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    ids, voice = [], []
    for prefix, count, *_, calls in fleet_groups(scale):
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


def _identities(lines: int) -> tuple[pa.Array, pa.Array]:
    """Each line's IMSI and IMEISV."""
    return pa.array([f"20801{i:010d}" for i in range(lines)]), pa.array([f"35{i:014d}" for i in range(lines)])


def _chunk(
    rng: np.random.Generator, n: int, ids: pa.Array, voice: np.ndarray, identities: tuple[pa.Array, pa.Array]
) -> dict[str, Any]:
    """One chunk of the month, as the columns the simulator hands to `UsageWriter.write_columns`:
    rows of lines drawn at random from the whole fleet."""
    li = rng.integers(0, len(ids), n)
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
    imsi, imeisv = identities
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


def generate(tmp: Path, rows: int, seed: int = 2026, scale: int = 1) -> tuple[Path, Path, float]:
    """The month's rows for the bench fleet (`scale` times its lines), as the simulator writes
    them (Parquet) and as a CSV of the rating's columns."""
    rng = np.random.default_rng(seed)
    ids_np, voice = _line_ids(scale)
    ids = pa.array(ids_np)
    identities = _identities(len(ids))
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
        run_columns=RUN_COLUMNS,
    ) as pw:
        while done < rows:
            n = min(CHUNK, rows - done)
            columns = _chunk(rng, n, ids, voice, identities)
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


def _peak_kib() -> int:
    """This process's peak resident memory since it was started (KiB): VmHWM, which a new
    program image starts afresh, where `ru_maxrss` keeps the high-water mark of the process it
    was forked from (a bench that made its files in memory showed 2 GiB for every rating)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rate_child(path: str, queue: Any, arrow: bool = True, scale: int = 1, offers: bool = True) -> None:
    from accounting import inventory_from_dict, load_catalog, usage_arrow

    if not arrow:  # the settled aggregate left to DuckDB, as for a file too small for pyarrow
        usage_arrow.ARROW_ROWS = 1 << 62
    from accounting.engine import rate_run
    from accounting.usage import UsageReader, connect

    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    con = connect(threads=os.cpu_count(), memory_limit=MEMORY_LIMIT)
    inventory = inventory_from_dict(inventory_dict(scale))
    run = rate_run(inventory, None, load_catalog(), reader=UsageReader(path, con))
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

    cheapest = str(compare(run).cheapest.total) if offers else None
    compare_s = time.perf_counter() - t2
    peak_kib = _peak_kib()
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
            "cheapest": cheapest,
        }
    )


def rate_in_child(path: Path, arrow: bool = True, scale: int = 1, offers: bool = True) -> dict[str, Any]:
    """One rating of the file in a fresh process: wall and CPU seconds, peak RSS, the invoice's
    total; `arrow`: a settled Parquet month aggregated by pyarrow (else by DuckDB); `scale`: the
    bench fleet that many times (`fleet_groups`); `offers`: the offer comparison made after."""
    return _in_child(_rate_child, str(path), arrow, scale, offers)


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    """`target(*args, queue)`'s answer, run in a fresh process; a child that dies without one
    (a crash in the code measured) stops the bench with its exit status instead of hanging it."""
    import queue as queues

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(args[0], queue, *args[1:]))
    proc.start()
    while True:
        try:
            result: dict[str, Any] = queue.get(timeout=1.0)
            break
        except queues.Empty:
            if not proc.is_alive() and queue.empty():
                raise RuntimeError(
                    f"{target.__name__}({args[0]}): the child exited {proc.exitcode} without an answer"
                ) from None
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


def _batches(csv_path: Path, start_type: pa.DataType) -> Any:
    """The rows of the benchmark's CSV as a stream of record batches, `start` read as `start_type`."""
    return pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(block_size=64 << 20),
        convert_options=pacsv.ConvertOptions(column_types={"start": start_type}, strings_can_be_null=True),
    )


def _to_parquet(
    csv_path: Path, out: Path, start_type: pa.DataType, rejects: float = 0.0, dictionary: bool = True
) -> None:
    """A Parquet file as pyarrow writes one from a CSV: plain columns, pyarrow's default options;
    with `rejects`, that share of rows made unusable as `_damaged` makes them; `dictionary=False`:
    no column dictionary-encoded (as writers that store text plainly give it)."""
    reader = _batches(csv_path, start_type)
    rng = np.random.default_rng(7)
    with pq.ParquetWriter(out, reader.schema, use_dictionary=dictionary) as writer:
        for batch in reader:
            if rejects:
                writer.write_table(_damaged(pa.Table.from_batches([batch]), rng, rejects, 3))
            else:
                writer.write_batch(batch)


def _retyped(csv_path: Path, out: Path, kinds: dict[str, pa.DataType], int96: bool = False) -> None:
    """A Parquet file of the rows with these columns in these types, as another writer makes it:
    pandas (a start in nanoseconds, counts as floats: its integers with a missing value), or
    Spark (`int96`: the start as INT96, the duration an IntegerType)."""
    reader = _batches(csv_path, pa.timestamp("s", tz="UTC"))
    schema = pa.schema([pa.field(f.name, kinds.get(f.name, f.type)) for f in reader.schema])
    with pq.ParquetWriter(out, schema, use_deprecated_int96_timestamps=int96) as writer:
        for batch in reader:
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [c.cast(f.type) for c, f in zip(batch.columns, schema, strict=True)], schema=schema
                )
            )


def _damaged(table: pa.Table, rng: np.random.Generator, rejects: float, kinds: int) -> pa.Table:
    """`rejects` of the rows made unusable (an unknown line, a start that is no date, a negative
    byte count), each kind alike among the first `kinds`."""
    kind = np.where(rng.random(len(table)) < rejects, rng.integers(1, kinds + 1, len(table)), 0)
    for k, name, value in ((1, "line", "X-unknown"), (2, "start", "yesterday"), (3, "bytes_up", -5)):
        column = table.column(name)
        bad = pa.array(kind == k)
        fixed = pc.if_else(bad, pa.scalar(value, column.type), column)
        table = table.set_column(table.schema.get_field_index(name), name, fixed)
    return table


def _to_csv(csv_path: Path, out: Path, rejects: float = 0.0, seed: int = 7, kinds: int = 3) -> None:
    """The same rows as a spreadsheet exports them (every field quoted, the columns in another order,
    CRLF line ends); with `rejects`, that share of rows made unusable (an unknown line, a start
    that is no date, a negative byte count), each kind alike among the first `kinds`."""
    reader = _batches(csv_path, pa.string())
    order = ["start", "type", "line", "zone", "dest", "duration_s", "bytes_down", "bytes_up"]
    rng = np.random.default_rng(seed)
    options = pacsv.WriteOptions(quoting_style="all_valid", eol="\r\n")
    writer: pacsv.CSVWriter | None = None
    for batch in reader:
        table = pa.Table.from_batches([batch]).select(order)
        if rejects:
            table = _damaged(table, rng, rejects, kinds)
        if writer is None:
            writer = pacsv.CSVWriter(out, table.schema, write_options=options)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _with_duplicates(csv_path: Path, out: Path, copies: int = 12) -> None:
    """The CSV with a few of its rows written a second time at the end (as a re-sent export)."""
    shutil.copyfile(csv_path, out)
    with csv_path.open("rb") as f:
        f.readline()
        lines = [f.readline() for _ in range(copies * 1000)][::1000]
    with out.open("ab") as f:
        f.writelines(lines)


def _gzipped(source: Path, make: Callable[[Path], None], out: Path) -> None:
    """`source` (made by `make` first when missing) compressed as `gzip -6` does (zlib-ng's
    deflate at level 6, as an export piped to gzip)."""
    from zlib_ng import gzip_ng

    if not source.exists():
        make(source)
    part = out.with_name(out.name + ".part")
    with source.open("rb") as f, gzip_ng.open(part, "wb", compresslevel=6) as g:  # type: ignore[no-untyped-call]
        shutil.copyfileobj(f, g, 16 << 20)
    part.replace(out)


def _zstd(source: Path, make: Callable[[Path], None], out: Path) -> None:
    """`source` (made by `make` first when missing) compressed as `zstd` does by default (level 3,
    a checksum of the frame), by the command when it is installed, else by pyarrow's stream
    (level 1, no checksum: faster to decompress)."""
    if not source.exists():
        make(source)
    part = out.with_name(out.name + ".part")
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", "-f", "-3", str(source), "-o", str(part)], check=True)
    else:
        with source.open("rb") as f, pa.output_stream(str(part), compression="zstd") as z:
            shutil.copyfileobj(f, z, 16 << 20)
    part.replace(out)


def _daily(source: Path, make: Callable[[Path], None], out: Path, days: int) -> None:
    """`source` (made by `make` first when missing) cut into `days` files of as many rows (a
    folder of daily exports, each with the header), each compressed as `gzip -6` does."""
    from zlib_ng import gzip_ng

    if not source.exists():
        make(source)
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir()
    with source.open("rb") as f:
        header = f.readline()
        rows = sum(1 for _ in f)
        f.seek(len(header))
        for day in range(days):
            with gzip_ng.open(part / f"day-{day + 1:02d}.csv.gz", "wb", compresslevel=6) as g:  # type: ignore[no-untyped-call]
                g.write(header)
                for _ in range(-(-rows // days)):
                    line = f.readline()
                    if not line:
                        break
                    g.write(line)
    part.replace(out)


def _plmn_only(csv_path: Path, out: Path, parquet: bool) -> None:
    """The rows as an operator exports them: each row's serving network (MCC+MNC, one of its
    zone's: France's, Germany's, the United States') in place of its zone, as a CSV or a Parquet
    file as pyarrow writes one (rated in each network's zone, `accounting.zones`)."""
    reader = _batches(csv_path, pa.string() if not parquet else pa.timestamp("s", tz="UTC"))
    networks, zones = pa.array(["20801", "26202", "310260"]), pa.array(["fr", "eu", "world"])
    writer: Any = None
    for batch in reader:
        table = pa.Table.from_batches([batch])
        at = table.schema.get_field_index("zone")
        plmn = networks.take(pc.index_in(table.column(at), value_set=zones))
        table = table.set_column(at, "serving_plmn", plmn)
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema) if parquet else pacsv.CSVWriter(out, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def shapes(tmp: Path, pq_path: Path, csv_path: Path, wanted: list[str]) -> dict[str, Path]:
    """The usage files of one month in the shapes users give: (label -> file); `wanted`: only
    the shapes whose label holds one of these words are made (none: every shape)."""
    out = {"simulator parquet": pq_path, "simulator csv": csv_path}
    made: dict[str, tuple[Path, Callable[[Path], None]]] = {
        "pyarrow parquet, text start": (
            tmp / "text-start.parquet",
            lambda p: _to_parquet(csv_path, p, pa.string()),
        ),
        "pyarrow parquet, TIMESTAMPTZ": (
            tmp / "typed-start.parquet",
            lambda p: _to_parquet(csv_path, p, pa.timestamp("s", tz="UTC")),
        ),
        "pyarrow parquet, no dictionaries": (
            tmp / "plain-text.parquet",
            lambda p: _to_parquet(csv_path, p, pa.string(), dictionary=False),
        ),
        "pandas parquet (ns, float counts)": (
            tmp / "pandas.parquet",
            lambda p: _retyped(
                csv_path,
                p,
                {
                    "start": pa.timestamp("ns", tz="UTC"),
                    **dict.fromkeys(("duration_s", "bytes_up", "bytes_down"), pa.float64()),
                },
            ),
        ),
        "spark parquet (INT96, int32 duration)": (
            tmp / "spark.parquet",
            lambda p: _retyped(
                csv_path, p, {"start": pa.timestamp("ns"), "duration_s": pa.int32()}, int96=True
            ),
        ),
        "pyarrow parquet, 0.1% rejects": (
            tmp / "rejects.parquet",
            lambda p: _to_parquet(csv_path, p, pa.string(), rejects=0.001),
        ),
        "spreadsheet csv (quoted, CRLF)": (tmp / "spreadsheet.csv", lambda p: _to_csv(csv_path, p)),
        "csv with 0.1% rejects": (tmp / "rejects.csv", lambda p: _to_csv(csv_path, p, rejects=0.001)),
        "csv with 0.01% unknown lines": (
            tmp / "unknown-lines.csv",
            lambda p: _to_csv(csv_path, p, rejects=0.0001, kinds=1),
        ),
        "csv with 12 duplicates": (tmp / "duplicates.csv", lambda p: _with_duplicates(csv_path, p)),
        "spreadsheet csv.gz (gzip -6)": (
            tmp / "spreadsheet.csv.gz",
            lambda p: _gzipped(tmp / "spreadsheet.csv", lambda q: _to_csv(csv_path, q), p),
        ),
        "spreadsheet csv.zst (zstd -3)": (
            tmp / "spreadsheet.csv.zst",
            lambda p: _zstd(tmp / "spreadsheet.csv", lambda q: _to_csv(csv_path, q), p),
        ),
        "10 daily csv.gz exports (a folder)": (
            tmp / "daily-gzip",
            lambda p: _daily(tmp / "spreadsheet.csv", lambda q: _to_csv(csv_path, q), p, 10),
        ),
        "csv, serving_plmn (no zone)": (tmp / "plmn.csv", lambda p: _plmn_only(csv_path, p, False)),
        "pyarrow parquet, serving_plmn": (
            tmp / "plmn.parquet",
            lambda p: _plmn_only(csv_path, p, True),
        ),
        "csv.gz with 0.1% rejects": (
            tmp / "rejects.csv.gz",
            lambda p: _gzipped(tmp / "rejects.csv", lambda q: _to_csv(csv_path, q, rejects=0.001), p),
        ),
    }
    for label, (path, make) in made.items():
        if wanted and not any(w in label for w in wanted):
            continue
        if not path.exists():
            make(path)
        out[label] = path
    return out


def _bare_child(path: str, queue: Any) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute("SET enable_progress_bar = false")
    if os.path.isdir(path):  # (a folder of CSV files, read as one)
        path = os.path.join(path, "*")
    source = f"read_parquet('{path}')" if path.endswith(".parquet") else f"read_csv('{path}')"
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    rows = con.execute(
        f"SELECT line, SUM((bytes_up + bytes_down + 1023) // 1024), COUNT(*) FROM {source} GROUP BY line"
    ).fetchall()
    queue.put(
        {"elapsed": time.perf_counter() - t0, "cpu": _cpu_seconds() - cpu0, "rows": sum(r[2] for r in rows)}
    )


def bare_in_child(path: Path) -> dict[str, Any]:
    """One bare DuckDB aggregate over the file (per line, the sum of rounded ko), types as DuckDB
    detects them, in a fresh process with the rating's threads and memory limit."""
    return _in_child(_bare_child, str(path))


def _tiny(tmp: Path) -> Path:
    path = tmp / "tiny.csv"
    path.write_text(
        "line,type,start,duration_s,bytes_up,bytes_down,zone,dest\nB0001,data,2026-03-02T10:00:00Z,60,1000,2000,fr,\n",
        encoding="utf-8",
    )
    return path


def month_files(
    stack: contextlib.ExitStack, name: str, rows: int, scale: int = 1
) -> tuple[Path, Path, Path, float]:
    """The bench month's folder, Parquet and CSV files, and the seconds it took to make them:
    in `M2MSIM_BENCH_KEEP`/`name` when set (made there once and kept), else in a temporary
    folder removed with `stack`."""
    keep = os.environ.get("M2MSIM_BENCH_KEEP")
    tmp = (
        Path(keep) / name
        if keep
        else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="m2msim-bench-")))
    )
    tmp.mkdir(parents=True, exist_ok=True)
    pq_path, csv_path = tmp / "usage.parquet", tmp / "usage.csv"
    if pq_path.exists() and csv_path.exists():
        return tmp, pq_path, csv_path, 0.0
    return tmp, *generate(tmp, rows, scale=scale)


def _warm(path: Path) -> None:
    """The file (or a folder's files) read once, untimed, into the page cache: the rating and the
    bare aggregate of each pair then both read it from memory, as a file just exported or
    written is read."""
    for one in sorted(path.iterdir()) if path.is_dir() else [path]:
        with one.open("rb", buffering=0) as f:
            while f.read(1 << 24):
                pass


def numpy_paths() -> str:
    """Which of NumPy's code paths the ratings take (`m2msim.entry.sorts_without_slow_avx512`)."""
    off = os.environ.get("NPY_DISABLE_CPU_FEATURES")
    return f"NumPy without {off}" if off else "NumPy's own CPU paths"


def main(quick: bool) -> None:
    rows = int(os.environ.get("M2MSIM_BENCH_ROWS", 1_000_000 if quick else 30_000_000))
    runs = 1 if quick else 3
    with contextlib.ExitStack() as stack:
        tmp, pq_path, csv_path, gen_s = month_files(stack, f"{rows}-rows", rows)
        wanted = [w.strip() for w in os.environ.get("M2MSIM_BENCH_SHAPES", "").split(",") if w.strip()]
        files = shapes(tmp, pq_path, csv_path, wanted)
        os.sync()  # the generated files' dirty pages are written out now, not during the first timed run
        print(
            f"{rows:,} rows for {LINES:,} lines (generated in {gen_s:.1f} s): parquet as the simulator writes it "
            f"({pq_path.stat().st_size / 2**20:.0f} MiB, dictionary strings, every gateway column), "
            f"csv with the rating columns ({csv_path.stat().st_size / 2**20:.0f} MiB), and the same rows in "
            "the shapes below"
        )
        print(
            f"cores {os.cpu_count()}, {numpy_paths()}, DuckDB memory_limit {MEMORY_LIMIT}, median of {runs} run(s), "
            "each in a fresh process, the file read once before (in the page cache for both); "
            "marginal = rows / (time - the time of a 1-row file); bare = one DuckDB aggregate over the same file "
            "(per line, sum of rounded ko), run in turn with the rating"
        )
        tiny = _tiny(tmp)
        tiny_runs = [rate_in_child(tiny) for _ in range(runs)]
        fixed = statistics.median(r["elapsed"] for r in tiny_runs)
        fixed_cpu = statistics.median(r["cpu"] for r in tiny_runs)
        print(
            f"fixed cost (a 1-row file, 10,000-line inventory, invoice text and JSON): {fixed:.2f} s, "
            f"{fixed_cpu:.2f} CPU-s"
        )
        results = {}
        for label, path in files.items():
            if wanted and not any(w in label for w in wanted):
                continue  # M2MSIM_BENCH_SHAPES: the shapes whose label holds one of these words
            _warm(path)  # (else the first rating alone read it from the disk, and its bare from memory)
            done, bare, by_duckdb = [], [], []
            load_before = os.getloadavg()[0]  # the machine is shared: how busy it was, beside the ratios
            settled = label == "simulator parquet"  # the shape whose month pyarrow aggregates
            for _ in range(runs):  # in turns: a load swing falls on both
                done.append(rate_in_child(path))
                bare.append(bare_in_child(path))
                if settled:
                    by_duckdb.append(rate_in_child(path, arrow=False))
            assert len({(r["total"], r["rows"]) for r in done + by_duckdb}) == 1, "runs disagree"
            med = sorted(done, key=lambda r: r["elapsed"])[len(done) // 2]
            cpu = statistics.median(r["cpu"] for r in done)
            bare_s = statistics.median(b["elapsed"] for b in bare)
            bare_cpu = statistics.median(b["cpu"] for b in bare)
            marginal = rows / max(med["elapsed"] - fixed, 1e-9)
            results[label] = marginal
            print(
                f"{label:<31} {med['elapsed']:6.2f} s  {rows / med['elapsed'] / 1e6:5.2f} M rows/s end to end, "
                f"{marginal / 1e6:5.2f} M rows/s marginal; bare DuckDB {bare_s:5.2f} s {rows / bare_s / 1e6:5.2f} M rows/s; "
                f"rating/bare x{(med['elapsed'] - fixed) / bare_s:.2f} (CPU-s x{(cpu - fixed_cpu) / bare_cpu:.2f})"
            )
            print(
                f"  runs {', '.join(format(r['elapsed'], '.2f') for r in done)} s, "
                f"bare {', '.join(format(b['elapsed'], '.2f') for b in bare)} s; "
                f"CPU {cpu:.2f} s, bare {bare_cpu:.2f} s; peak RSS {max(r['peak_kib'] for r in done) / 2**20:.2f} GiB; "
                f"total {med['total']} EUR; rows read {med['rows']:,}, rejected {med['rejected']:,}; "
                f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} cores)"
            )
            print(
                "  stages: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in med["stages"].items())
                + f" ({med['chars']:,} chars); compare {med['compare_s']:.2f} s"
            )
            if by_duckdb:
                other = sorted(by_duckdb, key=lambda r: r["elapsed"])[len(by_duckdb) // 2]
                other_cpu = statistics.median(r["cpu"] for r in by_duckdb)
                print(
                    f"  aggregated by DuckDB instead of pyarrow: {other['elapsed']:.2f} s, CPU {other_cpu:.2f} s, "
                    f"aggregate stage {other['stages']['aggregate']:.2f} s (pyarrow {med['stages']['aggregate']:.2f}), "
                    f"rating/bare x{(other['elapsed'] - fixed) / bare_s:.2f}; runs "
                    + ", ".join(format(r["elapsed"], ".2f") for r in by_duckdb)
                    + " s"
                )
        sample = min(rows, 300_000)
        loop_s, n = python_loop(pq_path, sample)
        loop_rate = n / loop_s
        print(
            f"plain-Python loop over {n:,} rows (aggregation only, rows already in memory): {loop_rate / 1e6:.2f} M rows/s"
        )
        print(
            "targets: >= 10 M rows/s marginal from Parquet, >= 3 M rows/s from CSV, rating/bare <= x2, peak <= 1.5 GiB"
        )
