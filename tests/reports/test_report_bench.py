"""The bench page, the rating report (`rate`/`compare --report`, `m2msim report` on their outputs), --version."""

from __future__ import annotations

import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, find_chromium
from fuzzing import run_cli
from reportcheck import as_number, shown_keys, value_at, without_footer

from m2msim.outputs import output_lock
from reports import ReportError, render_bench_report, render_report

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
FAST = "virtual://quectel-bg96?seed=3&speed=20"  # 20 simulated seconds per real second
needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "sms"
    r = run_cli(["bench", "sms_roundtrip", "--modem-url", FAST, "--out", str(out)])
    assert r.rc == 0, r
    return out


def test_the_bench_writes_its_page_with_the_reports_numbers(bench_dir: Path) -> None:
    html = (bench_dir / "report.html").read_text(encoding="utf-8")
    assert html == render_bench_report(bench_dir) == render_report(bench_dir)
    doc = json.loads((bench_dir / "report.json").read_text())
    seen = set()
    for key, text in shown_keys(html):
        source, _, path = key.partition(":")
        assert source == "report", key
        expected = value_at(doc, path)
        if path == "summary.status":
            assert text == str(expected).upper()
        else:
            # a float is shown rounded from its exact binary value (0.235 is 0.23499..., shown 0.23)
            exact = Decimal(expected) if isinstance(expected, float) else Decimal(str(expected))
            assert as_number(text) == exact.quantize(as_number(text)), (key, text, expected)
        seen.add(path)
    assert {"summary.at_commands", "summary.urcs", "estimate.usage_amount", "estimate.month_total"} <= seen
    assert "sms-send" in html and "AT+CMGS" in html and doc["estimate"]["cheapest"] in html


def test_a_transcript_cut_while_written_still_makes_a_page(bench_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cut"
    shutil.copytree(bench_dir, copy)
    text = (copy / "transcript.jsonl").read_text()
    (copy / "transcript.jsonl").write_text(text[: len(text) - 25])  # the last event half written
    assert "plot-steps" in render_bench_report(copy)
    lines = text.splitlines()
    lines[3] = "{not json"
    (copy / "transcript.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match=r"transcript.jsonl:4: not a JSON object"):
        render_bench_report(copy)


def test_the_bench_pages_footer_names_no_transcript_the_folder_lacks(bench_dir: Path, tmp_path: Path) -> None:
    """A bench folder copied without its transcript: the page's footer said it was made from
    report.json and transcript.jsonl."""
    assert "from the bench folder's report.json and transcript.jsonl;" in render_bench_report(bench_dir)
    copy = tmp_path / "no-transcript"
    shutil.copytree(bench_dir, copy)
    (copy / "transcript.jsonl").unlink()
    footer = render_bench_report(copy).split("<footer>", 1)[1]
    assert "from the bench folder's report.json (no transcript.jsonl there);" in footer


def test_a_transcripts_line_noise_and_markup_are_shown_escaped(bench_dir: Path, tmp_path: Path) -> None:
    """A modem's line noise (a wrong baud rate, a reset mid-answer) reaches the transcript as control
    bytes and, for bytes that are not UTF-8, as lone surrogates (read with surrogateescape). The
    page held the controls raw (an ill-formed page) and a surrogate made `m2msim report` end in a
    traceback (exit 1, after writing the page)."""
    copy = tmp_path / "noisy"
    shutil.copytree(bench_dir, copy)
    (copy / "report.html").unlink()
    noise = "\x00\x1b[31m\x07\x7f\x85\udcff"
    events = [
        {"seq": 900, "t": 1.0, "kind": "urc", "line": f"+CMT: </script><img src=http://x/a.png>{noise}"},
        {"seq": 901, "t": 1.1, "kind": "command", "command": f"AT+X{noise}", "responses": [f"</td>{noise}"],
         "final": "OK", "duration_s": 0.01},
    ]  # fmt: skip
    with (copy / "transcript.jsonl").open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(ev) + "\n" for ev in events))
    r = run_cli(["report", str(copy)])
    assert r.rc == 0 and "Traceback" not in r.err, r
    html = (copy / "report.html").read_bytes().decode("utf-8")  # (strict: no surrogate written)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", html)
    assert "</script>" not in html and "<img" not in html and "</td>\\x00" not in html
    assert r"+CMT: &lt;/script&gt;&lt;img src=http://x/a.png&gt;\x00\x1b[31m\x07\x7f\x85\udcff" in html
    assert r"AT+X\x00\x1b[31m\x07\x7f\x85\udcff" in html


@needs_chromium
def test_chromium_renders_the_bench_page_offline(bench_dir: Path, tmp_path: Path) -> None:
    with Browser(tmp_path) as b:
        page = b.load(bench_dir / "report.html")
        assert page.requests == [page.url] and page.errors == []
        marks = b.evaluate(
            "Object.fromEntries(['plot-steps', 'plot-at-latency'].map(id => [id, "
            "document.querySelectorAll('#' + id + ' rect.bar').length]))"
        )
        b.screenshot(tmp_path / "bench-report.png")
    doc = json.loads((bench_dir / "report.json").read_text())
    assert marks["plot-steps"] == len(doc["summary"]["steps"])
    assert marks["plot-at-latency"] == doc["summary"]["at_commands"]


def test_rate_and_compare_write_the_report(tmp_path: Path) -> None:
    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    r = run_cli(
        [
            "rate",
            str(inv),
            str(usage),
            "--json",
            "--out",
            str(tmp_path / "invoice.json"),
            "--report",
            str(tmp_path / "rate.html"),
        ]
    )
    assert r.rc == 0, r
    c = run_cli(
        [
            "compare",
            str(inv),
            str(usage),
            "--json",
            "--out",
            str(tmp_path / "compare.json"),
            "--report",
            str(tmp_path / "compare.html"),
        ]
    )
    assert c.rc == 0, c
    html = (tmp_path / "rate.html").read_text()
    assert html == (tmp_path / "compare.html").read_text()
    invoice = json.loads((tmp_path / "invoice.json").read_text())
    comparison = json.loads((tmp_path / "compare.json").read_text())
    keys = dict(shown_keys(html))
    assert as_number(keys["invoice:total_ht"]) == Decimal(invoice["total_ht"])
    assert as_number(keys["comparison:fleet.saving_ht"]) == Decimal(comparison["fleet"]["saving_ht"])
    # the same outputs in a folder (with the usage, plain or compressed) make the same page with
    # `m2msim report`
    import gzip

    for name in ("rate.html", "compare.html"):
        (tmp_path / name).unlink()
    pages = []
    for name, data in (
        ("usage.csv", usage.read_bytes()),
        ("usage.csv.gz", gzip.compress(usage.read_bytes())),
    ):
        for old in tmp_path.glob("usage.csv*"):
            old.unlink()
        (tmp_path / name).write_bytes(data)
        again = run_cli(["report", str(tmp_path)])
        assert again.rc == 0, again
        pages.append((tmp_path / "report.html").read_text())
        folder_keys = dict(shown_keys(pages[-1]))
        assert folder_keys["invoice:total_ht"] == keys["invoice:total_ht"]
        assert folder_keys["comparison:fleet.cheapest.total_ht"] == keys["comparison:fleet.cheapest.total_ht"]
    # (but for the footer, which names the usage file read)
    assert without_footer(pages[0]) == without_footer(pages[1])
    assert "usage.csv);" in pages[0] and "usage.csv.gz);" in pages[1]


def test_the_rating_report_of_any_usage_form_is_the_plain_files(tmp_path: Path) -> None:
    """The same rows compressed by gzip or zstd, split by `;`, as a folder of daily gzip files, or
    as a Parquet file of pyarrow's with no gateway column (its `usage` view made of the columns
    it has): the same page as the plain CSV's.  (Each was refused after the invoice was printed:
    the page's view read a compressed CSV or a folder as Parquet, and asked any Parquet file for
    `charging_id`.)  A CSV with a malformed row makes its page too."""
    import gzip

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    raw = usage.read_bytes()
    header, *rows = raw.decode().splitlines(keepends=True)
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "u.csv.gz").write_bytes(gzip.compress(raw))
    (forms / "u.csv.zst").write_bytes(pa.Codec("zstd").compress(raw, asbytes=True))
    (forms / "u-semicolon.csv").write_text("".join(line.replace(",", ";") for line in [header, *rows]))
    daily = forms / "daily"
    daily.mkdir()
    (daily / "d1.csv.gz").write_bytes(gzip.compress("".join([header, *rows[:15]]).encode()))
    (daily / "d2.csv.gz").write_bytes(gzip.compress("".join([header, *rows[15:]]).encode()))
    names = header.strip().split(",")
    empty_null = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
    )
    text = pacsv.read_csv(usage, convert_options=empty_null)  # (every field as text, an empty one NULL)
    pq.write_table(text, forms / "u.parquet")
    # (without its session column too: each data record is then a session of its own, as the
    # page's sessions say; the rest of the page is the same)
    pq.write_table(text.drop_columns(["session"]), tmp_path / "no-session.parquet")
    pages = {}
    for source in [usage, *sorted(forms.iterdir())]:
        out = tmp_path / f"{source.name}.html"
        r = run_cli(["rate", str(inv), str(source), "--report", str(out)])
        assert r.rc == 0, (source.name, r)
        pages[source.name] = out.read_text()
    # (the folder's rejects name their file and its row: the rest of its page is the same)
    # (each footer names the file read: the rest of the page is the same)
    assert all(f"the usage records of {name};" in page for name, page in pages.items() if name != "daily")
    assert "the usage records of daily/d1.csv.gz, daily/d2.csv.gz;" in pages["daily"]
    plain = without_footer(pages["usage.csv"])
    assert [name for name, page in pages.items() if without_footer(page) != plain] == ["daily"]
    totals = {name: dict(shown_keys(page)) for name, page in pages.items()}
    assert totals["daily"] == totals["usage.csv"]
    out = tmp_path / "no-session.html"
    r = run_cli(["rate", str(inv), str(tmp_path / "no-session.parquet"), "--report", str(out)])
    assert r.rc == 0, r
    assert dict(shown_keys(out.read_text())) == totals["usage.csv"]
    bad = tmp_path / "malformed.csv"
    bad.write_text("".join([header, *rows[:5], "33612345678,data,,,\n", *rows[5:]]))
    r = run_cli(["rate", str(inv), str(bad), "--report", str(tmp_path / "malformed.html")])
    assert r.rc == 0, r
    assert "malformed row" in (tmp_path / "malformed.html").read_text()


def test_the_rating_report_draws_the_month_the_command_rated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rate --report`: the month is rated once (the report drew it after rating it a second time,
    which doubled the time of a large file), and the page is the one the month makes alone."""
    import accounting.engine
    from m2msim.cli import main
    from reports.run_report import render_rating_report

    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    real = accounting.engine._rate_run
    calls: list[object] = []

    def counted(*args: Any) -> Any:
        calls.append(args[1])
        return real(*args)

    monkeypatch.setattr(accounting.engine, "_rate_run", counted)
    assert main(["rate", str(inv), str(usage), "--report", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    assert len(calls) == 1
    assert (tmp_path / "r.html").read_text() == render_rating_report(inv, usage)


def test_the_rating_report_reads_a_csvs_records_once_joined_to_the_small_lines_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pass over the records (hourly sums, SMS and calls together), whose join to the inventory's
    lines builds its hash table on the lines: DuckDB knows no row count of a CSV and built it on
    the records (30 M CSV rows: 2.9 GB for that join alone)."""
    import reports.run_report as run_report
    from reports.run_report import render_rating_report

    real = run_report.connect
    seen: list[tuple[str, str]] = []

    class Watched:
        def __init__(self, con: Any) -> None:
            self.con = con

        def execute(self, query: str, *args: Any) -> Any:
            if "FROM usage" in query:
                plan = self.con.execute("EXPLAIN " + query, *args).fetchall()[0][1]
                seen.append((query, plan))
            return self.con.execute(query, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.con, name)

    monkeypatch.setattr(
        run_report,
        "connect",
        lambda files, threads=None, **views: Watched(real(files, threads, **views)),
    )
    # More lines than records, as a fleet's first exports have: DuckDB's guess of the CSV's rows
    # is then the smaller side, and its join was turned around (the lines probing the records).
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id_prefix: M, count: 5000, offer: business-m2m,"
        " plan: forfait-2mo, commitment: 24, since: 2025-01-01}\n",
        encoding="utf-8",
    )
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "line,type,start,duration_s,bytes_up,bytes_down\n"
        + "".join(f"M{1 + i:04d},data,2026-03-0{1 + i % 9}T10:00:00Z,60,{i},{2 * i}\n" for i in range(300)),
        encoding="utf-8",
    )
    render_rating_report(inv, usage)
    assert len(seen) == 1, [q for q, _ in seen]
    query, plan = seen[0]
    assert "LEFT JOIN lines" in query and "Join Type: LEFT" in plan and "RIGHT" not in plan, plan


def test_report_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    over = run_cli(["rate", str(inv), str(usage), "--report", str(usage)])
    assert over.rc == 2 and "refusing to overwrite an input" in over.err and len(over.err.splitlines()) == 1
    for command in ("rate", "compare"):  # the page was written over the --out file, exit 0
        both = tmp_path / "sub" / ".." / f"{command}.txt"
        twice = run_cli(
            [command, str(inv), str(usage), "--out", str(both), "--report", str(tmp_path / f"{command}.txt")]
        )
        assert twice.rc == 2 and "is also --out" in twice.err and len(twice.err.splitlines()) == 1, twice.err
        assert not (tmp_path / f"{command}.txt").exists()
    nothing = run_cli(["report", str(tmp_path)])
    assert nothing.rc == 2 and "no run outputs here" in nothing.err
    missing = run_cli(["report", str(tmp_path / "nope")])
    assert missing.rc == 2 and "no such folder" in missing.err


def test_version() -> None:
    r = run_cli(["--version"])
    assert r.rc == 0 and r.out.startswith("m2msim ") and r.out.split()[1][0].isdigit()


def test_a_damaged_run_folder_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"totals": {"devices": 3}, "groups": "x", "period": 5}')
    bad = run_cli(["report", str(tmp_path)])
    assert bad.rc == 2 and len(bad.err.strip().splitlines()) == 1 and "Traceback" not in bad.err + bad.out
    (tmp_path / "summary.json").unlink()
    (tmp_path / "invoice.json").write_text('{"total_ht": "1.00", "lines": [{"id": "L1", "total_ht": "abc"}]}')
    inv = run_cli(["report", str(tmp_path)])
    assert inv.rc == 2 and "lines[0].total_ht: not an amount" in inv.err
    (tmp_path / "invoice.json").write_text('{"total_ht": "abc", "lines": []}')
    total = run_cli(["report", str(tmp_path)])
    assert total.rc == 2 and len(total.err.strip().splitlines()) == 1, total.err
    assert f"{tmp_path / 'invoice.json'}: total_ht: not an amount: 'abc'" in total.err


def _damage(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    if value is KeyError:
        del doc[last]
    else:
        doc[last] = value


@pytest.mark.parametrize(
    ("name", "path", "value", "said"),
    [
        ("summary.json", "totals.data_sessions", KeyError, "totals.data_sessions: missing"),
        ("summary.json", "alarms", KeyError, "alarms: missing"),
        ("summary.json", "totals.billable_ko", "12", "totals.billable_ko: not a number: '12'"),
        ("summary.json", "period.start", "yesterday", "period.start: not a date and time: 'yesterday'"),
        ("summary.json", "groups.0.name", KeyError, "groups[0].name: missing"),
        ("summary.json", "retry_storm.cost_ht", "x", "retry_storm.cost_ht: not an amount: 'x'"),
        ("invoice.json", "rows_read", None, "rows_read: not a number: None"),
        ("invoice.json", "lines.0.plan", 5, "lines[0].plan: not a text: 5"),
        ("invoice.json", "lines.0.items.0.unit", [], "lines[0].items[0].unit: not a text: []"),
        (
            "compare.json",
            "fleet.scenarios.0.total_ht",
            None,
            "fleet.scenarios[0].total_ht: not an amount: None",
        ),
        ("compare.json", "lines.0.id", 7, "lines[0].id: not a text: 7"),
        ("compare.json", "lines.0.in_best_mix", 5, "lines[0].in_best_mix: not a text: 5"),
    ],
)
def test_a_document_not_as_m2msim_writes_it_is_named_with_its_field(
    storm_run: Path, tmp_path: Path, name: str, path: str, value: Any, said: str
) -> None:
    """A summary.json, an invoice or a comparison edited by hand, mended after being cut, or of
    another version: the page ended in a KeyError or a ValueError said as "FOLDER: a file is not as
    m2msim writes it (KeyError: 'alarms')", naming no file (or in a traceback, for `sql`)."""
    folder = tmp_path / "run"
    shutil.copytree(storm_run, folder)
    (folder / "report.html").unlink()
    if name == "compare.json":
        c = run_cli(["compare", str(EXAMPLE / "inventory.yaml"), str(EXAMPLE / "usage.csv"), "--json",
                     "--out", str(folder / name)])  # fmt: skip
        assert c.rc == 0, c
    doc = json.loads((folder / name).read_text())
    _damage(doc, path, value)
    (folder / name).write_text(json.dumps(doc))
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r
    assert f"{folder / name}: {said}" in r.err, r.err
    assert not (folder / "report.html").exists()
    if name == "invoice.json" and path.startswith(
        "lines."
    ):  # (what the invoice's views read: `sql` said it in a traceback)
        q = run_cli(["sql", str(folder), "SELECT count(*) FROM invoice_items"])
        assert q.rc == 2 and "Traceback" not in q.err and f"{folder / name}: {said}" in q.err, q


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [("t", "x", "t: not a number: 'x'"), ("duration_s", None, "duration_s: not a number: None"),
     ("responses", 5, "responses: not a list: int")],
)  # fmt: skip
def test_a_transcript_event_not_as_the_bench_writes_it_is_named(
    bench_dir: Path, tmp_path: Path, field: str, value: Any, said: str
) -> None:
    """An event whose time was not a number ended the bench page in a ValueError naming no file."""
    copy = tmp_path / "bench"
    shutil.copytree(bench_dir, copy)
    lines = (copy / "transcript.jsonl").read_text().splitlines()
    n = next(i for i, text in enumerate(lines) if json.loads(text)["kind"] == "command")
    ev = json.loads(lines[n])
    ev[field] = value
    lines[n] = json.dumps(ev)
    (copy / "transcript.jsonl").write_text("\n".join(lines) + "\n")
    r = run_cli(["report", str(copy)])
    assert r.rc == 2 and "Traceback" not in r.err, r
    assert f"{copy / 'transcript.jsonl'}:{n + 1}: {said}" in r.err, r.err
    report = json.loads((copy / "report.json").read_text())
    report["summary"]["at_time_s"] = None
    (copy / "report.json").write_text(json.dumps(report))
    r = run_cli(["report", str(copy)])
    assert r.rc == 2 and f"{copy / 'report.json'}: summary.at_time_s: not a number: None" in r.err, r.err


@pytest.mark.skipif(shutil.which("duckdb") is not None, reason="DuckDB's shell is installed here")
def test_sql_shell_without_duckdbs_shell_says_so(tmp_path: Path) -> None:
    (tmp_path / "invoice.json").write_text('{"total_ht": "0.00", "lines": []}')
    r = run_cli(["sql", str(tmp_path), "--shell"])
    assert r.rc == 2 and "`duckdb` command) is not installed" in r.err


@pytest.mark.parametrize(
    ("amounts", "named"),
    [
        ({"total_ht": None, "quantity": "1", "amount": "1.00"}, "lines[1].total_ht: not an amount"),
        (
            {"total_ht": "1.00", "quantity": "x", "amount": "1.00"},
            "lines[1].items[1].quantity: not an amount",
        ),
        ({"total_ht": "1.00", "quantity": "1", "amount": "1,5"}, "lines[1].items[1].amount: not an amount"),
        (
            {"total_ht": "1.00", "quantity": "1", "amount": "1e40"},
            "lines[1].items[1].amount: not an amount of an invoice: '1e40'",
        ),
    ],
)
def test_an_invoice_amount_that_is_not_one_is_named(amounts: dict[str, Any], named: str) -> None:
    from reports.data import invoice_tables

    good = {"code": "x", "quantity": "2", "amount": "0.50"}
    bad = {"code": "y", "quantity": amounts["quantity"], "amount": amounts["amount"]}
    doc = {
        "lines": [
            {"id": "L0", "total_ht": "1.00", "items": [good]},
            {"id": "L1", "total_ht": amounts["total_ht"], "items": [good, bad]},
        ]
    }
    with pytest.raises(ReportError, match=re.escape(f"inv: {named}")):
        invoice_tables(doc, "inv")
    doc["lines"][1] = {"id": "L1", "total_ht": "1.5", "items": [good, {**good, "quantity": 3}]}
    lines, items = invoice_tables(doc, "inv")
    assert lines["total_ht"].to_pylist() == [Decimal("1.00"), Decimal("1.50")]
    assert items["quantity"].to_pylist() == [Decimal("2.000"), Decimal("2.000"), Decimal("3.000")]


def test_rate_holds_out_and_report_from_the_start(tmp_path: Path) -> None:
    """Each output was locked only for the instant of its write: a second rate on the same files ran
    whole, its invoice and the first one's page ending side by side (and a warning on the month,
    printed before the refusal, made the refusal two lines)."""
    inv = EXAMPLE / "inventory.yaml"
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "line,type,start,duration_s,bytes_up,bytes_down\n33612345678,data,2026-03-02,60,1,2\n"
        "33612345678,data,01/03/2026,60,1,2\n33612345678,data,02/03/2026,60,1,2\n",
        encoding="utf-8",
    )
    out, page = tmp_path / "invoice.txt", tmp_path / "month.html"
    argv = ["rate", str(inv), str(usage), "--out", str(out), "--report", str(page)]
    for held in (out, page):
        with output_lock(held):  # as another rate writing it holds it
            busy = run_cli(argv)
        assert busy.rc == 2 and busy.err.strip().splitlines() == [
            f"m2msim rate: {held}: process {os.getpid()} is writing it now (one writer per output); "
            "wait for it or choose another"
        ], busy.err
        assert not out.exists() and not page.exists()
    assert run_cli(argv).rc == 0 and out.exists() and page.exists()


def test_the_report_of_a_comparison_alone_counts_its_lines(tmp_path: Path) -> None:
    """A folder holding only `compare --json --out`'s output: the page said "0 devices" for a
    comparison of the example's nine billable lines (it counted the invoice's lines only)."""
    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    out = tmp_path / "compare.json"
    assert run_cli(["compare", str(inv), str(usage), "--json", "--out", str(out)]).rc == 0
    lines = json.loads(out.read_text())["lines"]
    html = render_report(tmp_path)
    assert len(lines) == 9 and f'<div class="value">{len(lines)} devices</div>' in html


def test_the_page_shows_where_the_best_mix_puts_a_line_its_own_cheapest_would_cost_a_discount(
    tmp_path: Path,
) -> None:
    """50 Business compteur lines, one (H) that sent 3 Mo: its own cheapest is Intense optima,
    "saving" 5.25, but moved alone it costs the 49 others their 5%; the best mix puts it on Business
    forfait-2mo. The text says so under the line, and `compare --json` now too (`in_best_mix`):
    the page of that output listed H's move alone as the saving, without a word."""
    lines = [
        {"id_prefix": "G", "count": 49, "offer": "business-m2m", "plan": "compteur", "commitment": 36},
        {"id": "H", "offer": "business-m2m", "plan": "compteur", "commitment": 36},
    ]
    for line in lines:
        line["since"] = "2025-01-01"
    import yaml

    (tmp_path / "inventory.yaml").write_text(
        yaml.safe_dump({"customer": "c", "month": "2026-03", "lines": lines})
    )
    (tmp_path / "usage.csv").write_text(
        "line,type,start,bytes_up,bytes_down\nH,data,2026-03-10T10:00:00Z,3145728,0\n"
    )
    folder = tmp_path / "out"
    argv = ["compare", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json"]
    assert run_cli([*argv, "--out", str(folder / "compare.json")]).rc == 0
    offers = render_report(folder).split('<section id="offers">', 1)[1].split("</section>", 1)[0]
    assert "<td>intense optima 36 m (in the best mix: business-m2m forfait-2mo 36 m)</td>" in offers
    assert "moved alone it changes the fleet discounts" in offers


def _row(html: str, section: str, first: str, after: str = "") -> list[str]:
    """The cells' texts of the row of `section`'s table (after the text `after`) whose first cell is `first`."""
    part = html[html.index(f'id="{section}"') :]
    part = part[part.index(after) :]
    part = part[: part.index("</section>")]
    m = re.search(rf"<tr[^>]*><td[^>]*>{re.escape(first)}</td>(.*?)</tr>", part)
    assert m, (section, first)
    return re.findall(r">([^<]*)</td>", m.group(1))


def test_the_rating_report_shows_the_invoices_quantities_beside_the_records_read(tmp_path: Path) -> None:
    """Every record twice (billed once: the copies are rejected as duplicates): the page's group M
    showed 1,229,974 billable ko against the invoice's 614,987, and without the copies 'single
    lines' 12,979 ko against 12,974 (a line with an inventory error, a refused service) and a
    rejected 30 s call among the SMS and calls, all counted from the records as if billed."""
    from reports.run_report import render_rating_report

    text = (EXAMPLE / "usage.csv").read_text()
    usage = tmp_path / "dup.csv"
    usage.write_text(text + "".join(text.splitlines(keepends=True)[1:]))
    out = tmp_path / "invoice.json"
    assert run_cli(["rate", str(EXAMPLE / "inventory.yaml"), str(usage), "--json", "--out", str(out)]).rc == 0
    invoice = json.loads(out.read_text())
    assert invoice["total_ht"] == "2753.96"  # as without the copies

    def billed(prefix: str, unit: str) -> int:
        return sum(
            int(i["quantity"])
            for ln in invoice["lines"]
            if ln["id"].startswith(prefix)
            for i in ln["items"]
            if i["unit"] == unit
        )

    html = render_rating_report(EXAMPLE / "inventory.yaml", usage)
    m = _row(html, "groups", "M")
    assert as_number(m[4]) == billed("M", "ko") == 614_987  # ko invoiced
    # data sessions read: M1's 24-hour session (2 records), M2's and M3's, their copies the same
    # sessions (it said 8: every record, each twice)
    assert as_number(m[1]) == 3
    single = _row(html, "groups", "single lines")
    assert as_number(single[4]) == sum(billed(p, "ko") for p in ("3", "P", "B")) == 12_974
    rejected = sum(r["count"] for r in invoice["rejects_by_reason"])
    for section in ("groups", "sms"):
        part = html[html.index(f'id="{section}"') :]
        note = re.sub(r"<[^>]+>", "", part[: part.index("</p>")])
        assert f"of the {invoice['rows_read']:,} records read, {rejected:,} rejected" in note, note
    assert [as_number(c) for c in _row(html, "sms", "single lines", "Invoiced")] == [
        3,
        227,
        90,
    ]  # SMS, voice s, csd s


def test_a_page_into_a_folder_not_made_yet_is_written_as_rates_out(storm_run: Path, tmp_path: Path) -> None:
    """`rate --out new/x.json` makes its folder; `--report new/x.html` was refused after the month
    was rated ("No such file or directory"), and `m2msim report --out new/x.html` named a
    temporary file (`new/.m2msim-x.html.tmp-...: No such file or directory`)."""
    inv, usage = EXAMPLE / "inventory.yaml", EXAMPLE / "usage.csv"
    page = tmp_path / "new" / "month" / "rate.html"
    r = run_cli(["rate", str(inv), str(usage), "--report", str(page)])
    assert r.rc == 0 and page.read_text().startswith("<!DOCTYPE html>"), r
    out = tmp_path / "other" / "run.html"
    again = run_cli(["report", str(storm_run), "--out", str(out)])
    assert again.rc == 0 and out.read_text() == (storm_run / "report.html").read_text(), again
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.html"]
    (tmp_path / "afile").write_text("kept")
    for argv in (
        ["report", str(storm_run), "--out", str(tmp_path / "afile" / "x.html")],
        ["rate", str(inv), str(usage), "--report", str(tmp_path / "afile" / "x.html")],
    ):
        bad = run_cli(argv)
        assert bad.rc == 2 and "afile is a file, not a folder" in bad.err, bad
    assert (tmp_path / "afile").read_text() == "kept"
