"""The usage files of the fast paths' tests: seeded months in the forms users give them.

- `csv_file(rnd, style, rows)`: a clean usage CSV (every row passes the row checks; some keys
  the engine refuses later) written as a person, pyarrow or a spreadsheet writes it
  (`CSV_STYLES`); `csv_with_columns` one with some columns; `replace_field` changes one field
  of one row.
- `records(rnd, n, fractions)`, `parquet_table(cols, rnd, start, delivered)`, `write_parquet`:
  clean records as pyarrow writes them to Parquet, the start as text in any form the row proof
  reads, or typed.
- `rating(source)`: what the rating of a source gives (the aggregates, the invoice text and
  JSON, or the error that refuses it): compared byte for byte between the fast paths and DuckDB.
- `INV`, `LINES`, `MONTH`, `PERIODS`: the inventory and the month they are rated in.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from invoice_docs import bill_of

from accounting import inventory_from_dict, rate
from accounting.errors import UsageError
from accounting.usage import UsageReader, connect, month_bounds
from accounting.usage_claim import seal

MONTH = month_bounds(2026, 3)
PERIODS = (0, 1, 30, 60)
INV = inventory_from_dict(
    {
        "customer": "c",
        "month": "2026-03",
        "lines": [
            {
                "id_prefix": "V",
                "count": 6,
                "offer": "business-m2m-dtmf",
                "plan": "compteur",
                "commitment": 24,
                "since": "2025-01-01",
            },
            {
                "id_prefix": "C",
                "count": 6,
                "offer": "business-m2m",
                "plan": "forfait-2mo",
                "commitment": 24,
                "since": "2025-01-01",
            },
        ],
    }
)
LINES = [f"V{i}" for i in range(1, 7)] + [f"C{i}" for i in range(1, 7)]
OPTIONAL = ["duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered", "session"]
TYPES = ["data"] * 6 + ["sms", "voice", "voice", "csd", "sms_internet", "location_hit"]
DESTS = {"sms": ["fr-mobile", "intl"], "voice": ["fr-mobile", "fr-fixed", "fr-premium", "intl"]}
DESTS |= {"csd": ["fr-fixed"], "sms_internet": ["orange-fr", "other"]}
_ORDER = ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered")
CSV_STYLES = ("bare", "pyarrow", "spreadsheet", "mixed")


def _csv_start(rnd: random.Random, second: int) -> str:
    """A start in March 2026 (a distinct second per row), in one of the forms the proof reads."""
    moment = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(seconds=second)
    form = rnd.randrange(5)
    if form == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == 1:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if form == 2:
        return (moment + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
    if form == 3:
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{rnd.randrange(1000):03d}Z"
    return (moment - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S-02")


def _csv_row(rnd: random.Random, second: int, odd: bool) -> dict[str, str]:
    """A clean row; `odd`: a key the engine refuses or judges (the rows stay clean)."""
    type_ = rnd.choice(TYPES)
    row = {
        "line": rnd.choice(LINES),
        "type": type_,
        "start": _csv_start(rnd, second),
        "duration_s": str(rnd.randrange(43_200 if type_ == "data" else 4_000)) if rnd.random() < 0.9 else "",
        "bytes_up": str(rnd.randrange(50_000)),
        "bytes_down": str(rnd.randrange(500_000)),
        "zone": rnd.choice(["fr", "fr", "eu", "world", ""]),
        "dest": rnd.choice(DESTS.get(type_, [""])),
        "delivered": rnd.choice(["", "true", "false"]) if type_ == "sms_internet" else "",
        "session": f"s{rnd.randrange(10_000)}",
    }
    if type_ != "data" and rnd.random() < 0.3:
        row["bytes_up"] = row["bytes_down"] = ""
    if odd:
        key, value = rnd.choice(
            [("line", "NOBODY"), ("type", "fax"), ("zone", "mars"), ("dest", ""), ("line", "")]
        )
        if key == "line" and type_ not in ("data", "sms", "voice", "csd"):
            key, value = "zone", "mars"
        row[key] = value
    return row


def csv_file(rnd: random.Random, style: str, rows: int) -> bytes:
    """A clean file of `rows` rows written in `style`: bare, pyarrow (text in quotes), spreadsheet
    (every field in quotes, CRLF), mixed (each text field in quotes or not)."""
    columns = ["line", "type", "start", *rnd.sample(OPTIONAL, rnd.randrange(len(OPTIONAL) + 1))]
    rnd.shuffle(columns)
    if "type" in columns and not {"bytes_up", "bytes_down"} <= set(columns):
        columns += [c for c in ("bytes_up", "bytes_down") if c not in columns]  # data rows need both
    fraction = style != "spreadsheet" and rnd.random() < 0.3  # whole counts written `120.0`
    seconds = rnd.sample(range(27 * 86_400), rows)
    lines = []
    quote_header = style == "spreadsheet" or rnd.random() < 0.2
    lines.append(",".join(f'"{c}"' if quote_header else c for c in columns))
    for i in range(rows):
        row = _csv_row(rnd, seconds[i], rnd.random() < 0.02)
        fields = []
        for c in columns:
            value = row[c]
            if fraction and value and c in ("duration_s", "bytes_up") and rnd.random() < 0.5:
                value += ".0"
            number = c in ("duration_s", "bytes_up", "bytes_down")
            if style == "spreadsheet":
                quoted = bool(value) or rnd.random() < 0.3  # an empty field as "" now and then
            elif style == "pyarrow":
                quoted = bool(value) and c not in ("start",) and not number
            elif style == "mixed":
                quoted = not number and rnd.random() < 0.5
            else:
                quoted = False
            fields.append(f'"{value}"' if quoted else value)
        lines.append(",".join(fields))
    end = "\r\n" if style == "spreadsheet" else "\n"
    return (end.join(lines) + (end if rnd.random() < 0.9 else "")).encode()


def csv_with_columns(rnd: random.Random, columns: set[str], rows: int = 300) -> str:
    """A clean bare CSV (`csv_file`) whose header has these optional columns among others."""
    for _ in range(100):
        text = csv_file(rnd, "bare", rows).decode()
        if columns <= set(text.split("\n")[0].split(",")):
            return text
    raise AssertionError(f"no file with the columns {sorted(columns)} in 100 tries")


def replace_field(text: str, row: int, column: str, new: Callable[[str], str]) -> str:
    """The file with one field of row `row` (the header is row 1) replaced."""
    lines = text.split("\n")
    names = [n.strip('"\r') for n in lines[0].split(",")]
    fields = lines[row - 1].split(",")
    at = names.index(column)
    fields[at] = new(fields[at])
    lines[row - 1] = ",".join(fields)
    return "\n".join(lines)


def start_text(moment: datetime, rnd: random.Random, form: int) -> str:
    """A start as text in one of the forms read by the proof (`form` picks it; some rows vary)."""
    sep = "T" if form % 2 else " "
    base = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    fraction = "" if form % 3 == 0 or not moment.microsecond else "." + f"{moment.microsecond:06d}"
    if form % 3 == 2 and fraction:
        fraction = fraction.rstrip("0") or ".0"
    zone = ("Z", "+00", "+00:00", "", "+02:00", "-05", "-0330")[(form + rnd.randrange(2)) % 7]
    if zone in ("+02:00", "-05", "-0330"):  # the same instant written in another time zone
        hours = {"+02:00": 2, "-05": -5, "-0330": -3.5}[zone]
        base = (moment + timedelta(hours=hours)).strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    return base + fraction + zone


def records(rnd: random.Random, n: int, fractions: bool) -> dict[str, list[Any]]:
    """`n` clean records (each row passes every row check) with keys refused later."""
    lines = [*LINES, "X1", ""]
    kinds = ["data"] * 6 + ["sms", "voice", "csd", "sms_internet", "location_hit", "fax"]
    zones: list[str | None] = ["fr", "eu", "world", "", None, "mars"]
    dests: list[str | None] = ["fr-mobile", "fr-fixed", None, "", "moon"]
    cols: dict[str, list[Any]] = {k: [] for k in _ORDER}
    end = MONTH[1]
    for i in range(n):
        kind = rnd.choice(kinds)
        start = MONTH[0] + timedelta(seconds=rnd.randrange(31 * 86_400 - 1))
        if fractions and rnd.random() < 0.5:
            start += timedelta(microseconds=rnd.randrange(1, 1_000_000))
        room = int((end - start).total_seconds()) - 1  # whole seconds left before the month's end
        most = min(room, 43_200) if kind == "data" else room
        dur = rnd.choice((None, 0, 1, 30, 61, rnd.randrange(max(most, 1)), most))
        if dur is not None:
            dur = max(0, min(dur, most))
        if i % 97 == 0 and kind not in ("data", "voice", "csd"):
            dur = 10**9  # long records of other types are no reject
        up: int | None = rnd.randrange(3_000_000_000) if rnd.random() < 0.05 else rnd.randrange(9000)
        down: int | None = rnd.randrange(700)
        if kind != "data" and rnd.random() < 0.3:
            up, down = None, None
        cols["line"].append(rnd.choice(lines))
        cols["type"].append(kind)
        cols["start"].append(start)
        cols["duration_s"].append(dur)
        cols["bytes_up"].append(up)
        cols["bytes_down"].append(down)
        cols["zone"].append(rnd.choice(zones))
        cols["dest"].append(None if kind == "data" else rnd.choice(dests))
        cols["delivered"].append(rnd.choice((True, False, None)))
    return cols


def parquet_table(cols: dict[str, list[Any]], rnd: random.Random, start: str, delivered: bool) -> pa.Table:
    """The records as pyarrow writes them: `start` as text ("text") or typed ("ms", "us", "naive"),
    the columns in a seeded order, maybe an extra column; a start of None is a NULL."""
    form = rnd.randrange(12)
    if start == "text":
        starts = pa.array(
            [None if s is None else start_text(s, rnd, form + i % 2) for i, s in enumerate(cols["start"])],
            pa.string(),
        )
    elif start == "naive":
        starts = pa.array(
            [None if s is None else s.replace(tzinfo=None) for s in cols["start"]], pa.timestamp("us")
        )
    else:
        starts = pa.array(cols["start"], pa.timestamp(start, tz="UTC"))
    fields = {
        "line": pa.array(cols["line"], pa.string()),
        "type": pa.array(cols["type"], pa.string()),
        "start": starts,
        **{k: pa.array(cols[k], pa.int64()) for k in ("duration_s", "bytes_up", "bytes_down")},
        "zone": pa.array(cols["zone"], pa.string()),
        "dest": pa.array(cols["dest"], pa.string()),
    }
    if delivered:
        fields["delivered"] = pa.array(cols["delivered"], pa.bool_())
    if rnd.random() < 0.5:
        fields["imsi"] = pa.array([f"20801{rnd.randrange(10**9):09d}" for _ in cols["line"]], pa.string())
    if rnd.random() < 0.3:
        fields["cause"] = pa.array([rnd.randrange(4) for _ in cols["line"]], pa.int32())
    names = list(fields)
    rnd.shuffle(names)
    return pa.table({k: fields[k] for k in names})


def write_parquet(path: Path, table: pa.Table, rnd: random.Random) -> Path:
    pq.write_table(table, path, row_group_size=max(len(table) // rnd.randrange(1, 5), 1))
    return path


def rating(source: Any, threads: int = 2) -> tuple[Any, ...]:
    """The aggregates of `source` (normalised), its invoice text and bill (its JSON text without the
    files rated, `invoice_docs.bill_of`: another file of the same records is another file); or the
    refusal's message when the file is refused."""
    try:
        groups = UsageReader(source, connect(threads=threads)).aggregate(*MONTH, PERIODS)
        invoice = rate(INV, source)
    except UsageError as exc:
        return (str(exc),)
    plain = sorted(((*g[:9], sorted(g.beyond.items())) for g in groups), key=repr)
    return plain, invoice.render_text(), json.dumps(bill_of(invoice), indent=2)


def key_listings(monkeypatch: Any) -> list[bool]:
    """From now on, for each listing by `UsageReader._key_listing`: whether it listed the rejects
    (from the pass's cells and the rows set aside) rather than leave them to DuckDB's listing."""
    used: list[bool] = []
    real = UsageReader._key_listing

    def spy(reader: UsageReader, *args: Any) -> Any:
        listed = real(reader, *args)
        used.append(listed is not None)
        return listed

    monkeypatch.setattr(UsageReader, "_key_listing", spy)
    return used


def listing(source: Any, limit: int) -> tuple[list[dict[str, Any]], str]:
    """The rejects `rate` lists for `source` (at most `limit`) and its invoice's text."""
    import json

    from accounting import load_catalog
    from accounting.engine import rate_run

    run = rate_run(
        INV, source, load_catalog(), reader=UsageReader(source, connect(threads=2)), max_rejects=limit
    )
    rejects: list[dict[str, Any]] = json.loads(run.invoice.to_json())["rejects"]
    return rejects, run.invoice.render_text()


# The forms of one set of rows (`every_form`): a CSV as people, programs and spreadsheets write
# it, compressed or not, its Parquet conversions, and folders of parts of each.
TEXT_FORMS = (
    "plain.csv",
    "crlf.csv",
    "gzip.csv.gz",
    "zstd.csv.zst",
    "spreadsheet.csv",
    "text.parquet",
    "csv-parts",
    "text-parts",
)
# (a typed value is quoted in a reason as DuckDB writes it)
TYPED_FORMS = ("typed.parquet", "export.parquet", "mixed-parts", "typed-table")


def _csv_rows(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text, newline="")))


def as_table(rows: list[list[str]], typed: bool, nulls: list[str] | None = None) -> pa.Table:
    """The rows as pyarrow's CSV reader converts them: with the types it infers, or every column
    as text ('' for an empty cell).  Typed, only an empty cell is NULL, as in the CSV (`nulls`:
    the texts read as NULL; None for pyarrow's default list, which holds `NaN`, `nan`, `NA`,
    `null`, `N/A`...: a NaN count becomes a NULL, another value than the CSV's)."""
    import csv
    import io

    import pyarrow.csv as pacsv

    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    data = pa.BufferReader(out.getvalue().encode())
    parse = pacsv.ParseOptions(newlines_in_values=True)
    if typed:
        options = pacsv.ConvertOptions() if nulls is None else pacsv.ConvertOptions(null_values=nulls)
        return pacsv.read_csv(data, parse_options=parse, convert_options=options)
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(rows[0], pa.string()))
    return pacsv.read_csv(data, parse_options=parse, convert_options=options)


KEPT = [""]  # (`as_table`'s `nulls` for a conversion that keeps every value of the CSV)


def _exported(table: pa.Table) -> pa.Table:
    """The typed rows as a warehouse exports them: counts as Spark's or Snowflake's NUMBER(20,0)
    or an unsigned 64-bit integer (those pyarrow typed as integers of 0 or more; a count with a
    fraction stays a float), keys as large_string, the line dictionary-encoded, the start in a
    time zone of its own."""
    import pyarrow.compute as pc

    columns = dict(zip(table.column_names, table.columns, strict=True))
    kinds = {"duration_s": pa.decimal128(20, 0), "bytes_up": pa.uint64(), "bytes_down": pa.decimal128(20, 0)}
    for name, kind in kinds.items():
        column = columns.get(name)
        whole = column is not None and pa.types.is_integer(column.type)
        if whole and (column.null_count == len(column) or pc.min(column).as_py() >= 0):
            columns[name] = column.cast(kind)
    for name in ("line", "type", "zone", "dest"):
        if name in columns and pa.types.is_string(columns[name].type):
            columns[name] = columns[name].cast(pa.large_string())
    if "line" in columns and pa.types.is_large_string(columns["line"].type):
        columns["line"] = columns["line"].dictionary_encode()
    if pa.types.is_timestamp(columns["start"].type) and columns["start"].type.tz is not None:
        columns["start"] = columns["start"].cast(pa.timestamp("us", tz="Europe/Paris"))
    return pa.table(columns)


def every_form(text: str, folder: Path) -> dict[str, tuple[Path, dict[str, int]]]:
    """A CSV's rows (`text`: ',' separated, `\\n` line ends) written in every form of `TEXT_FORMS`
    and `TYPED_FORMS`: each form's path, and for a folder each part's first row among the
    file's rows less one (a part's row r is the file's row r + offset)."""
    import csv
    import gzip
    import io

    rows = _csv_rows(text)
    header, body = rows[0], rows[1:]
    cut = max(len(body) // 2, 1)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, dict[str, int]]] = {}

    def put(name: str, data: bytes) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    out["plain.csv"] = (put("plain.csv", text.encode()), {})
    out["gzip.csv.gz"] = (put("gzip.csv.gz", gzip.compress(text.encode())), {})
    with pa.CompressedOutputStream(str(folder / "zstd.csv.zst"), "zstd") as stream:
        stream.write(text.encode())
    out["zstd.csv.zst"] = (folder / "zstd.csv.zst", {})
    sheet = io.StringIO(newline="")  # every field in quotes, ';' between, CRLF, a byte-order mark
    csv.writer(sheet, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    out["spreadsheet.csv"] = (put("spreadsheet.csv", b"\xef\xbb\xbf" + sheet.getvalue().encode()), {})
    pq.write_table(as_table(rows, False), folder / "text.parquet")
    out["text.parquet"] = (folder / "text.parquet", {})
    pq.write_table(as_table(rows, True, KEPT), folder / "typed.parquet")
    out["typed.parquet"] = (folder / "typed.parquet", {})
    # CRLF, the header in quotes, a line left empty at the end (a text editor's or Windows' file)
    crlf = ",".join(f'"{c}"' for c in header) + "\r\n" + "\r\n".join(text.rstrip("\n").split("\n")[1:])
    out["crlf.csv"] = (put("crlf.csv", (crlf + "\r\n\r\n").encode()), {})
    export = _exported(as_table(rows, True, KEPT))  # (in row groups of 3 rows, without statistics)
    pq.write_table(export, folder / "export.parquet", row_group_size=3, write_statistics=False)
    out["export.parquet"] = (folder / "export.parquet", {})
    for name, first, second in (
        ("csv-parts", "csv", "csv"),
        ("text-parts", "text", "text"),
        ("mixed-parts", "typed", "text"),
    ):
        parts = folder / name
        parts.mkdir()
        offsets = {}
        for i, (kind, chunk) in enumerate(((first, body[:cut]), (second, body[cut:]))):
            offsets[f"part-{i}.{'csv' if kind == 'csv' else 'parquet'}"] = i * cut
            if kind == "csv":
                part = io.StringIO(newline="")
                csv.writer(part, lineterminator="\n").writerows([header, *chunk])
                (parts / f"part-{i}.csv").write_text(part.getvalue(), encoding="utf-8")
            else:
                pq.write_table(as_table([header, *chunk], kind == "typed", KEPT), parts / f"part-{i}.parquet")
        out[name] = (parts, offsets)
    return out


def as_one_file(doc: dict[str, Any], offsets: dict[str, int]) -> dict[str, Any]:
    """An invoice (JSON) of a folder of parts with its rejects as the one file's: each at its row
    among the file's rows, a duplicate naming the row it repeats so."""
    import re

    if not offsets:
        return doc

    def row_of(m: re.Match[str]) -> str:
        return f"row {int(m[2]) + offsets[m[1]]}"

    return doc | {
        "rejects": [
            {
                "row": r["row"] + offsets[r["file"]],
                "reason": re.sub(r"(part-\d\.\w+):(\d+)", row_of, r["reason"]),
            }
            for r in doc["rejects"]
        ]
    }


def write_claimed(table: pa.Table, path: Path, claim: dict[str, Any], **options: Any) -> None:
    """`table` written by pyarrow (`options`: `write_table`'s) with the simulator's footer claim
    bound to the file as written (`accounting.usage_claim.seal`), as `UsageWriter` binds it."""
    pq.write_table(table, path, **options)
    options.pop("row_group_size", None)  # (the empty footer's writer has no row groups)
    st = path.stat()
    seal(path, claim, lambda sink: pq.ParquetWriter(sink, table.schema, **options), (st.st_dev, st.st_ino))


def answers(patch: pytest.MonkeyPatch, owner: Any, name: str) -> list[bool]:
    """`owner.name` (a reading path that gives None where it leaves the file to another) watched:
    the list is told, at each call, whether the path answered."""
    told: list[bool] = []
    real = getattr(owner, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        told.append(found is not None)
        return found

    patch.setattr(owner, name, watched)
    return told
