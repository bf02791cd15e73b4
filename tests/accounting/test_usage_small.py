"""A small plain CSV rated without DuckDB (`accounting.usage_small`) gives byte for byte what
DuckDB's reader gives: generated files (seeded) with every reject reason, columns in any order
or missing, copies of rows, values at the limits of each check, rated both ways."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accounting import load_catalog, load_inventory
from accounting.engine import rate_run
from accounting.inventory import Inventory
from accounting.usage_small import MAX_BYTES, small_reader

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
FILES = 100  # in four seeded runs

LINES = ["33612345678", "33612345679", "33612345680", "33612345681", "33612345682", "M1", "M2"]
LINES += ["PROTO1", "BAD1", "LATE1", "NOBODY", ""]
TYPES = ["data"] * 3 + ["voice", "sms", "csd", "sms_internet", "location_hit", "fax", "", "DATA", "data"]
PLAIN_TYPES = ["data"] * 2 + ["voice", "csd", "sms"]  # calls among them: calls past the month's end come up
STARTS = [
    "2026-03-02T10:00:00Z",
    "2026-03-15T23:59:59.5Z",
    "2026-03-01T00:00:00Z",
    "2026-03-31T23:59:59.999999Z",
    "2026-03-31T23:00:00Z",
    "2026-03-01T00:30:00+01:00",  # February in UTC
    "2026-04-01T01:00:00+02:00",  # March in UTC
    "2026-03-20T08:00:00",  # no offset: UTC
    "2026-03-01T01:00:00+02",  # February in UTC
    "2026-03-31T20:00:00-03:00",  # April in UTC
    "2026-04-01T00:00:00Z",
    "2026-02-28T12:00:00Z",
    "",
]
DURATIONS = ["", "0", "60", "0.4", "3.5", "43200", "43201", "7200", "-1", "007", "0.000001"]
DURATIONS += ["1000000000001", "100000", "3000000"]
BYTES = ["", "0", "1", "1000", "1023", "1024", "1025", "900000", "-5", "1.5", "12.0"]
BYTES += ["1000000000000001", "999999999999999", "200000000000000"]
ZONES = ["", "fr", "fr", "eu", "world", "mars"]
DESTS = ["", "fr-mobile", "fr-fixed", "fr-premium", "intl", "orange-fr", "other", "moon"]
DELIVERED = ["", "", "true", "false"]
# Forms of a value only DuckDB reads for sure: a file with one is read by DuckDB both times.
UNSURE = {
    "start": ["2026-03-10", "2026-02-30T10:00:00Z", "yesterday"],
    "duration_s": ["1e3", "abc"],
    "bytes_up": ["x"],
    "delivered": ["yes"],
}
OPTIONAL = ["duration_s", "bytes_up", "bytes_down", "zone", "dest", "delivered", "session", "imsi"]


def _value(rng: random.Random, column: str, row: dict[str, str]) -> str:
    pools = {
        "line": LINES,
        "type": TYPES,
        "start": STARTS,
        "duration_s": DURATIONS,
        "bytes_up": BYTES,
        "bytes_down": BYTES,
        "zone": ZONES,
        "dest": DESTS,
        "delivered": DELIVERED,
    }
    if column == "session":
        return f"s{rng.randrange(1000)}"
    if column == "imsi":
        return rng.choice(["", "208011234567890", "it's"])
    pool = pools[column]
    # mostly plain values: bad ones often enough that each reason comes up
    if rng.random() < 0.75 and column != "dest":
        return {"start": "2026-03-12T09:00:00Z", "duration_s": "120", "bytes_up": "4096"}.get(
            column,
            pool[1]
            if column in ("line", "zone")
            else rng.choice(PLAIN_TYPES if column == "type" else pool[:5]),
        )
    return rng.choice(pool)


def _file(rng: random.Random, path: Path) -> None:
    columns = ["line", "type", "start", *rng.sample(OPTIONAL, rng.randrange(len(OPTIONAL) + 1))]
    rng.shuffle(columns)
    rows: list[str] = []
    for _ in range(rng.randrange(1, 40)):
        if rows and rng.random() < 0.1:
            rows.append(rng.choice(rows))  # a copy of a row written before
            continue
        row: dict[str, str] = {}
        for c in columns:
            row[c] = _value(rng, c, row)
        for c in sorted(UNSURE.keys() & row.keys()) if rng.random() < 0.01 else ():
            row[c] = rng.choice(UNSURE[c])
        rows.append(",".join(row[c] for c in columns))
    text = "\n".join([",".join(columns), *rows]) + ("\n" if rng.random() < 0.9 else "")
    quirk = rng.random()
    if quirk < 0.04:
        text = "\ufeff" + text  # a spreadsheet's byte order mark
    elif quirk < 0.08:
        text = text.replace("\n", "\r\n")  # a spreadsheet's line ends
    elif quirk < 0.11:
        text = text.replace(",fr,", ',"fr",', 1)  # a quoted field
    elif quirk < 0.13:
        text += ",".join(["x"] * (len(columns) + 1)) + "\n"  # a malformed row
    path.write_bytes(text.encode("utf-8"))


def _both(inventory: Inventory, path: Path) -> tuple[str, str, bool]:
    catalog = load_catalog()
    small = small_reader(path)
    outputs = []
    for reader in (None, small):
        run = rate_run(inventory, path, catalog, reader=reader)
        invoice = run.invoice
        outputs.append((invoice.to_json(), invoice.render_text(top=1000, all_lines=True), run.rated.rows))
    assert outputs[0] == outputs[1], path.read_text(encoding="utf-8")
    return outputs[0][0], outputs[0][1], small is not None


LATE = """  - id: "LATE1"
    offer: business-m2m
    plan: forfait-2mo
    commitment: 24
    since: 2026-04-10
"""


def _kind(reason: str) -> str:
    """A reject's reason without the values it shows."""
    if reason.startswith(("price not", "service not")):
        return reason.split(":")[0]
    return reason.split(" '")[0].split(" row ")[0]


def test_generated_files_rate_alike_both_ways(tmp_path: Path) -> None:
    rng = random.Random(16)
    text = (EXAMPLE / "inventory.yaml").read_text(encoding="utf-8")
    head, services = text.split("\nservices:")
    (tmp_path / "with.yaml").write_text(f"{head}\n{LATE}services:{services}", encoding="utf-8")
    (tmp_path / "without.yaml").write_text(f"{head}\n{LATE}", encoding="utf-8")  # no fleet services
    inventories = [load_inventory(tmp_path / "with.yaml"), load_inventory(tmp_path / "without.yaml")]
    small = 0
    reasons: set[str] = set()
    parquet = 0
    for i in range(FILES):
        path = tmp_path / f"u{i}.csv"
        _file(rng, path)
        doc, _, was_small = _both(inventories[i % 2], path)
        small += was_small
        if was_small:
            reasons |= {_kind(r["reason"]) for r in json.loads(doc)["rejects"]}
            # the same rows as Parquet: columns typed as pyarrow infers them, or all text
            as_text = rng.random() < 0.3
            options = pacsv.ConvertOptions(
                column_types=dict.fromkeys(pacsv.read_csv(path).column_names, pa.string())
                if as_text
                else None,
                strings_can_be_null=True,
            )
            # zstd or version 2 pages: not decoded in Python, the rows fetched as text by DuckDB
            other = rng.choice([{}, {}, {"compression": "zstd"}, {"data_page_version": "2.0"}])
            pq.write_table(
                pacsv.read_csv(path, convert_options=options), path.with_suffix(".parquet"), **other
            )
            parquet += _both(inventories[i % 2], path.with_suffix(".parquet"))[2]
    assert small >= FILES // 2  # most files are plain: the small path is what is compared
    assert parquet >= small // 2
    expected = {
        "duplicate record: identical in every field to",
        "impossible value: a data record is cut at 43,200 s (12 h): duration_s",
        "impossible value: more octets than 30 Gbit/s carries in the record's duration: bytes_up/bytes_down",
        "impossible value: the record lasts more than 12 h past the end of the billing month: start + duration_s",
        "line not active in the month: line",
        "line not billed (inventory error): line",
        "malformed value: bytes_up/bytes_down",
        "malformed value: dest",
        "malformed value: dest missing",
        "malformed value: duration_s",
        "malformed value: line is empty",
        "malformed value: start missing",
        "malformed value: type",
        "malformed value: type missing",
        "malformed value: zone",
        "outside the billing month: start",
        "price not in this catalog",
        "service not in the offer",
        "unknown line",
    }
    assert reasons >= expected, sorted(expected - reasons)


def test_the_small_path_takes_plain_files_only(tmp_path: Path) -> None:
    plain = "line,type,start\nL1,sms,2026-03-02T10:00:00Z\n"
    cases = {
        "plain.csv": (plain.encode(), True),
        "upper.CSV": (plain.encode(), True),
        "bom.csv": (b"\xef\xbb\xbf" + plain.encode(), False),
        "crlf.csv": (plain.replace("\n", "\r\n").encode(), False),
        "quoted.csv": (plain.replace("L1", '"L1"').encode(), False),
        "spaced.csv": (plain.replace("L1", "L 1").encode(), False),
        "latin.csv": (plain.replace("L1", "L\u00e9").encode(), False),
        "empty-line.csv": (plain.replace("\nL1", "\n\nL1").encode(), False),
        "short-row.csv": (plain.encode() + b"L2,sms\n", False),
        "no-line-column.csv": (b"type,start\nsms,2026-03-02T10:00:00Z\n", False),
        "twice.csv": (b"line,type,type,start\n", False),
        "exponent.csv": (b"line,type,start,duration_s\nL1,voice,2026-03-02T10:00:00Z,1e3\n", False),
        "date.csv": (b"line,type,start\nL1,sms,2026-03-02\n", False),
        "big.csv": (plain.encode() + b"L1,sms,2026-03-02T10:00:00Z\n" * (MAX_BYTES // 20), False),
        "usage.parquet": (plain.encode(), False),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert (small_reader(path) is not None) is expected, name
    assert small_reader(tmp_path) is None  # a folder
    assert small_reader(tmp_path / "missing.csv") is None  # DuckDB's reader says why
