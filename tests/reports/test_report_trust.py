"""What a page can be trusted for: names from the inputs stay text, charts draw what the records hold
(every day, at its scale, in the invoice's currency), and a page stays bounded however many records
or years its files hold, saying what it left out."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzzing import run_cli

from m2msim.cli import main as m2msim
from m2msim.rundir import MARKER
from reports.run_time import MAX_BUCKETS, MAX_DESTINATION_ROWS
from simulator.run import simulate
from simulator.scenario import parse_scenario

CATALOG = Path(__file__).resolve().parents[2] / "accounting" / "catalogs" / "orange-m2m-2012.yaml"
HEADER = "line,type,start,duration_s,bytes_up,bytes_down,zone,dest,delivered,session\n"

# Markup of every kind a name could carry into the page: an element with an event handler, the ends
# of the elements whose text is raw (style, script, title, textarea), attribute quotes, a URL that
# runs script, a line separator that ends a JavaScript string, and an entity.
HOSTILE = (
    '<x-hostile onclick="alert(1)">\'"></style></script></title></textarea>'
    "<script>alert(2)</script>javascript:alert(3)\u2028&amp;"
)


class _Elements(HTMLParser):
    """Every element and attribute of a page, and its text (entities resolved)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def elements(html: str) -> _Elements:
    page = _Elements()
    page.feed(html)
    page.close()
    return page


def assert_names_are_text(html: str, *, shown: int = 1) -> None:
    """No element or attribute of the page came from `HOSTILE`, and it is shown as text (`shown` times
    at least, whole: escaped, not cut by the markup it holds)."""
    page = elements(html)
    names = {t for t, _ in page.tags}
    assert not names & {"x-hostile", "script", "textarea", "iframe", "img", "object", "embed"}, names
    attrs = {k for _, a in page.tags for k in a}
    assert not [k for k in attrs if k.startswith("on")], attrs
    assert [t for t, _ in page.tags].count("style") == 1 and [t for t, _ in page.tags].count("title") >= 1
    refs = [v for _, a in page.tags for k, v in a.items() if k in ("href", "src", "xlink:href")]
    assert all(str(v).startswith("#") for v in refs), refs
    assert "".join(page.text).count("<x-hostile") >= shown
    assert 'onclick="alert(1)"' in "".join(page.text)


def _rate_inputs(folder: Path, *, customer: str, line: str, prefix: str, dest: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    inv = folder / "inventory.yaml"
    inv.write_text(
        json.dumps(
            {
                "customer": customer,
                "month": "2026-03",
                "lines": [
                    {
                        "id": line,
                        "offer": "business-m2m",
                        "plan": "forfait-2mo",
                        "commitment": 24,
                        "since": "2025-01-15",
                    },
                    {  # an inventory error: Intense is 36 months only
                        "id": line + "-bad",
                        "offer": "intense",
                        "plan": "optima",
                        "commitment": 24,
                        "since": "2025-01-15",
                    },
                    {
                        "id_prefix": prefix,
                        "count": 2,
                        "offer": "europe",
                        "plan": "forfait-2mo",
                        "commitment": 24,
                        "since": "2025-01-15",
                    },
                ],
            }
        ),
        encoding="utf-8",
    )

    def q(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    usage = folder / "usage.csv"
    usage.write_text(
        HEADER
        + f"{q(line)},data,2026-03-01T00:00:00Z,3600,900000,1200000,fr,,,{q(dest)}\n"
        + f"{q(line)},sms,2026-03-03T08:00:00Z,,,,fr,{q(dest)},,\n"
        + f"{q(dest)},data,2026-03-04T00:00:00Z,60,100,100,{q(dest)},,,s2\n"
        + f"{q(prefix + '1')},voice,2026-03-05T00:00:00Z,61,,,fr,{q(dest)},,\n",
        encoding="utf-8",
    )
    return inv, usage


def test_hostile_names_in_the_inventory_and_the_usage_stay_text(tmp_path: Path) -> None:
    """A customer, line ids, an id prefix, destinations, zones and session ids full of markup: the
    `rate --report` page and `m2msim report` of the rate's outputs show them as text."""
    inv, usage = _rate_inputs(
        tmp_path / "in", customer="c" + HOSTILE, line="L" + HOSTILE, prefix="P" + HOSTILE, dest="d" + HOSTILE
    )
    out = tmp_path / ("out" + HOSTILE.replace("/", "_")[:60])
    out.mkdir()
    page = out / "month.html"
    argv = ["rate", str(inv), str(usage), "--json", "--out", str(out / "inv.json"), "--report", str(page)]
    assert m2msim(argv) == 0
    assert_names_are_text(page.read_text(encoding="utf-8"), shown=3)
    shutil.copy(usage, out / "usage.csv")
    assert m2msim(["report", str(out), "--out", str(tmp_path / "again.html")]) == 0
    assert_names_are_text((tmp_path / "again.html").read_text(encoding="utf-8"), shown=3)
    # a folder of usage records alone: the page is named after the folder
    alone = tmp_path / ("u" + HOSTILE.replace("/", "_")[:60])
    alone.mkdir()
    shutil.copy(usage, alone / "usage.csv")
    assert m2msim(["report", str(alone)]) == 0
    assert_names_are_text((alone / "report.html").read_text(encoding="utf-8"))


def test_hostile_names_in_a_scenario_stay_text(storm_doc: dict[str, Any], tmp_path: Path) -> None:
    """A scenario's description, customer and device group names (the outage's groups too) on a run's
    page: in tables, chart labels, legends and hover titles."""
    storm_doc["description"] = "d" + HOSTILE
    storm_doc["inventory"]["customer"] = "c" + HOSTILE
    for g in storm_doc["groups"]:
        g["name"] = g["name"] + HOSTILE
    storm_doc["events"]["outages"][0]["groups"] = [storm_doc["groups"][0]["name"]]
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "storm-unit.yaml"), out)
    assert_names_are_text((out / "report.html").read_text(encoding="utf-8"), shown=5)


def test_hostile_text_in_a_bench_folder_stays_text(tmp_path: Path) -> None:
    """A bench's script, modem URL, profile, parameters, error, offer names and the transcript's
    commands, answers, URCs and steps (what a modem or a user's script puts there)."""
    folder = tmp_path / "bench"
    folder.mkdir()
    estimate = {
        "offer": "o" + HOSTILE,
        "plan": "p" + HOSTILE,
        "commitment": 24,
        "month": "2026-03",
        "currency": "EUR",
        "usage_amount": "0.10",
        "month_total": "9.10",
        "subscription_total": "9.00",
        "items": [{"code": "c" + HOSTILE, "quantity": "1", "unit": "u", "amount": "0.10", "note": HOSTILE}],
        "cheapest": "x" + HOSTILE,
        "cheapest_total": "5.00",
        "rejects": [HOSTILE],
        "errors": [HOSTILE],
    }
    report = {
        "summary": {
            "script": "s" + HOSTILE,
            "status": "failed",
            "error": HOSTILE,
            "url": "virtual://" + HOSTILE,
            "profile": HOSTILE,
            "started": HOSTILE,
            "at_commands": 1,
            "urcs": 1,
        },
        "estimate": estimate,
        "params": {HOSTILE: HOSTILE},
        "allow_list": HOSTILE,
        "network_notes": [HOSTILE],
        "usage": {"sms": [{"started": HOSTILE, "number": HOSTILE, "dest": HOSTILE, "parts": 1}]},
    }
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    events = [
        {
            "seq": 1,
            "t": 0.1,
            "kind": "command",
            "command": "AT" + HOSTILE,
            "responses": [HOSTILE],
            "final": HOSTILE,
        },
        {"seq": 2, "t": 0.2, "kind": "urc", "line": HOSTILE},
        {"seq": 3, "t": 0.3, "kind": "step", "name": HOSTILE, "duration_s": 0.1, "ok": False},
        {"seq": 4, "t": 0.4, "kind": HOSTILE, "what": HOSTILE},
    ]
    (folder / "transcript.jsonl").write_text(
        "".join(json.dumps(ev) + "\n" for ev in events), encoding="utf-8"
    )
    assert m2msim(["report", str(folder)]) == 0
    assert_names_are_text((folder / "report.html").read_text(encoding="utf-8"), shown=10)


# ---------------------------------------------------------------------------------------------------


def _figure(html: str, fig_id: str) -> str:
    m = re.search(rf'<figure class="plot" id="{fig_id}">.*?</figure>', html, re.S)
    assert m, f"no {fig_id}"
    return m.group(0)


def _tips(figure: str, series: str) -> list[str]:
    return re.findall(rf"<circle [^>]*><title>{series}, ([^<]*)</title>", figure)


def _rate_page(tmp_path: Path, rows: list[str], *, lines: int = 1) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n"
        f"  - {{id_prefix: A, count: {lines}, offer: business-m2m, plan: forfait-2mo, commitment: 24, "
        "since: 2025-01-15}\n",
        encoding="utf-8",
    )
    usage = tmp_path / "usage.csv"
    usage.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    page = tmp_path / "month.html"
    assert m2msim(["rate", str(inv), str(usage), "--report", str(page)]) in (0, 1)
    return page.read_text(encoding="utf-8")


def test_the_sms_chart_has_every_day_of_the_month_each_a_day_wide(tmp_path: Path) -> None:
    """Two SMS on the 3rd and one on the 10th: the chart drew 2 a day from the 3rd to the 10th (a step
    stretched to the next day with records) and 1 a day for a week after; the SMS of a single day were
    drawn an hour wide, on an axis of hours."""
    page = _rate_page(
        tmp_path,
        [
            "A1,sms,2026-03-03T08:00:00Z,,,,fr,fr-mobile,,",
            "A1,sms,2026-03-03T09:00:00Z,,,,fr,fr-mobile,,",
            "A1,sms,2026-03-10T09:00:00Z,,,,fr,fr-mobile,,",
        ],
    )
    fig = _figure(page, "plot-sms-calls")
    tips = _tips(fig, "SMS")
    assert len(tips) == 31 and tips[0].startswith("01 Mar") and tips[-1].startswith("31 Mar"), tips
    by_day = {t.split(" UTC")[0]: int(t.rsplit(": ", 1)[1].split()[0]) for t in tips}
    assert by_day["03 Mar"] == 2 and by_day["10 Mar"] == 1 and sum(by_day.values()) == 3
    points = re.search(r'points="([^"]*)"><title>SMS</title>', fig)
    assert points
    xs = [float(p.split(",")[0]) for p in points.group(1).split()]
    widths = [b - a for a, b in zip(xs[::2], xs[1::2], strict=True)]
    assert len(widths) == 31 and all(abs(w - 768 / 31) < 0.2 for w in widths)  # every step a day of 31

    one_day = _rate_page(tmp_path / "one", ["A1,sms,2026-03-03T08:00:00Z,,,,fr,fr-mobile,,"])
    assert len(_tips(_figure(one_day, "plot-sms-calls"), "SMS")) == 31


def _usage_alone(folder: Path, starts: list[str]) -> Path:
    folder.mkdir(parents=True)
    n = len(starts)
    table = pa.table(
        {
            "line": [f"L{i}" for i in range(n)],
            "type": ["data"] * (n - 1) + ["sms"],
            "start": starts,
            "bytes_up": [1_000_000] * n,
        }
    )
    pq.write_table(table, folder / "usage.parquet")
    return folder


@pytest.mark.parametrize(
    "starts",
    [
        ["1970-01-01T00:00:00Z", "2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"],  # a device without a clock
        ["0001-01-01T00:00:00Z", "2026-03-01T10:00:00Z", "9999-12-31T23:00:00Z"],
    ],
    ids=["1970", "years-1-to-9999"],
)
def test_a_usage_file_over_many_years_makes_a_bounded_page(tmp_path: Path, starts: list[str]) -> None:
    """A folder of records alone has the records' first and last for its period: a record dated 1970
    drew a point a day for 56 years and a tick a week (2,900 ticks); years 1 and 9999 were refused
    (`year -5 is out of range`), 1970 to 2999 made a page of 32 MB from three records."""
    folder = _usage_alone(tmp_path / "u", starts)
    r = run_cli(["report", str(folder)])
    assert r.rc == 0, r.err
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert len(html) < 400_000
    for fig_id in ("plot-daily-volume", "plot-daily-sessions", "plot-sms-calls"):
        fig = _figure(html, fig_id)
        for pts in re.findall(r'<polyline [^>]*points="([^"]*)"', fig):
            assert len(pts.split()) <= 2 * MAX_BUCKETS
        ticks = re.findall(r'<text class="tick" x="[\d.]+" y="258.0" text-anchor="middle">([^<]*)<', fig)
        assert 2 <= len(ticks) <= 11 and all(re.search(r"\d{1,4}$", t) for t in ticks), ticks  # with the year
        assert "each point is the sum of" in fig
    # every record is counted: the three megabytes in the chart of volume, in its buckets
    vols = [
        float(t.split(": ")[1].split()[0].replace(",", ""))
        for t in re.findall(
            r"<title>\(no inventory here\), ([^<]*)</title>", _figure(html, "plot-daily-volume")
        )
    ]
    assert abs(sum(vols) - 2 * 1_000_000 / 1_048_576) < 0.01


def test_the_charts_speak_the_invoices_currency_and_hover_the_exact_amount(tmp_path: Path) -> None:
    """A catalog in CHF: the offers chart said "EUR HT" and its amounts €, and a device group's cost bar
    showed its amount rounded to the unit on hover (48 for 48.22)."""
    chf = tmp_path / "chf.yaml"
    text = CATALOG.read_text(encoding="utf-8")
    assert "\ncurrency: EUR\n" in text
    chf.write_text(text.replace("\ncurrency: EUR\n", "\ncurrency: CHF\n"), encoding="utf-8")
    example = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
    page = tmp_path / "month.html"
    argv = ["rate", str(example / "inventory.yaml"), str(example / "usage.csv"), "--catalog", str(chf)]
    assert m2msim([*argv, "--report", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "€" not in html and "EUR" not in html
    assert "CHF HT" in _figure(html, "plot-offers") and "CHF HT" in _figure(html, "plot-group-cost")
    shown = dict(
        re.findall(r"<tr><td>([^<]*)</td>(?:<td[^>]*>[^<]*</td>){5}<td class=\"num\">([^<]*)</td>", html)
    )
    tips = dict(re.findall(r"<title>([^<]*) · cost HT: ([^<]*)</title>", _figure(html, "plot-group-cost")))
    billed = {g: v for g, v in shown.items() if v != "–" and g in ("M", "single lines")}
    assert billed and all(tips[g] == v for g, v in billed.items()), (tips, shown)
    assert any(Decimal(v.split()[0].replace(",", "")) % 1 for v in tips.values())  # cents, not units


def test_the_destinations_table_of_many_numbers_is_bounded_and_says_what_it_left_out(tmp_path: Path) -> None:
    """An export whose SMS destinations are numbers (rejected by the rating, read by the page): a table
    row per record, 10,000 rows and a page of 1 MB for 10,000 SMS."""
    n = 3_000
    rows = [f"A{i % 100 + 1:03d},sms,2026-03-03T08:00:00Z,,,,fr,+3361{i:07d},," for i in range(n)]
    rows += ["A001,sms,2026-03-04T08:00:00Z,,,,fr,fr-mobile,,"] * 5
    folder = tmp_path / "run"  # (the records alone: with the invoice, its rejects are not counted)
    folder.mkdir()
    (folder / "usage.csv").write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    assert run_cli(["report", str(folder)]).rc == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="sms">.*?</section>', html, re.S)
    assert section
    table = re.search(r"<table><thead><tr><th>device group</th>.*?</table>", section.group(0), re.S)
    assert table
    body = re.findall(
        r"<tr(?: class=\"total\")?><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
        r"<td class=\"num\">([^<]*)</td>",
        table.group(0),
    )
    assert len(body) == MAX_DESTINATION_ROWS + 1
    assert ("sms", "fr-mobile", "5") in [r[1:] for r in body]  # the rows of the most records are listed
    assert body[-1][0] == f"{n + 1 - MAX_DESTINATION_ROWS:,} other rows"
    assert (
        sum(int(r[3].replace(",", "")) for r in body) == n + 5
    )  # every record counted, in a row or the last
    assert "others summed in the last row" in section.group(0)
    assert len(html) < 200_000
    # the query the page gives lists every row
    code = re.search(r"<code>m2msim sql RUN_DIR &quot;(.*?)&quot;</code>", section.group(0))
    assert code
    r = run_cli(["sql", str(folder), unescape(code.group(1)), "--csv"])
    assert r.rc == 0, r.err
    assert len(r.out.splitlines()) == 1 + n + 1 and r.out.splitlines()[1] == "sms,fr-mobile,5"


def test_more_inventory_errors_than_listed_are_said_so(tmp_path: Path) -> None:
    """5,000 lines in error: 200 were listed under "Inventory errors", not a word of the 4,800 others."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n"
        "  - {id_prefix: B, count: 300, offer: intense, plan: optima, commitment: 24, since: 2025-01-15}\n",
        encoding="utf-8",
    )
    usage = tmp_path / "usage.csv"
    usage.write_text(HEADER + "B1,data,2026-03-03T08:00:00Z,60,1,1,fr,,,s\n", encoding="utf-8")
    page = tmp_path / "month.html"
    assert m2msim(["rate", str(inv), str(usage), "--report", str(page)]) in (0, 1)
    html = page.read_text(encoding="utf-8")
    assert "The first 200 of 300 are listed" in html
    assert "the first 1 rejected rows of 1" in html


def test_byte_counts_past_the_64_bit_sum_make_a_page(tmp_path: Path) -> None:
    """A record of 2^62 bytes up and 2^62 down (a file of another writer, or damaged): the page's sums
    overflowed the 64-bit addition and `m2msim report` was refused naming the folder, not a file."""
    folder = tmp_path / "u"
    folder.mkdir()
    table = pa.table(
        {
            "line": ["L1", "L2"],
            "type": ["data", "data"],
            "start": ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"],
            "bytes_up": [2**62, 5],
            "bytes_down": [2**62, 5],
        }
    )
    pq.write_table(table, folder / "usage.parquet")
    r = run_cli(["report", str(folder)])
    assert r.rc == 0, r.err
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f"{(2**63 + 10) / 1_048_576:,.1f} Mo" in html  # the group's volume read, exactly summed


def _inside(fig: str) -> list[str]:
    """What of a chart is drawn outside its plotting area (points, bars), top to bottom."""
    height = float(re.search(r'viewBox="0 0 \d+ (\d+)"', fig).group(1))  # type: ignore[union-attr]
    top, bottom = 40 - 0.1, height - 58 + 0.1
    out = []
    for pts in re.findall(r'<polyline [^>]*points="([^"]*)"', fig):
        out += [p for p in pts.split() if not top <= float(p.split(",")[1]) <= bottom]
    for y, h in re.findall(r'<rect class="bar" [^>]*y="([-\d.]+)" [^>]*height="([-\d.]+)"', fig):
        if not (top <= float(y) and float(y) + float(h) <= bottom):
            out.append(f"rect y={y} height={h}")
    return out


def test_a_negative_byte_count_read_is_drawn_below_zero_inside_the_chart(tmp_path: Path) -> None:
    """A record of -1,000,000,000 bytes (rejected by the rating, read by the page): the charts' axes
    started at 0, so the day's volume was drawn below the chart, over its axis labels, and the group's
    bar had no height at all."""
    folder = tmp_path / "u"
    folder.mkdir()
    table = pa.table(
        {
            "line": ["L1", "L2", "L1"],
            "type": ["data"] * 3,
            "start": ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"],
            "bytes_up": [-(10**9), 10**8, 10**8],
        }
    )
    pq.write_table(table, folder / "usage.parquet")
    assert run_cli(["report", str(folder)]).rc == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    for fig_id in ("plot-hourly-volume", "plot-group-volume"):
        fig = _figure(html, fig_id)
        assert not _inside(fig), (fig_id, _inside(fig))
        assert re.search(r'text-anchor="end">-[\d,.]+</text>', fig)  # a tick below 0
    bar = re.search(r'<rect class="bar" [^>]*height="([\d.]+)"', _figure(html, "plot-group-volume"))
    assert bar and float(bar.group(1)) > 100


def test_a_negative_horizontal_bar_goes_left_of_zero() -> None:
    """An AT command's duration below 0 (a transcript edited, or a clock stepped back): its bar was 1
    pixel wide at 0, as if it were 0, and its value written over the labels left of the axis."""
    from reports import svg

    fig = svg.hbar_chart("f", "t", [("a", -5.0, "#000"), ("b", 10.0, "#000")], x_label="ms")
    zero = re.search(r'<line class="grid" x1="([\d.]+)"[^>]*/><text class="tick" [^>]*>0</text>', fig)
    assert zero
    bars = re.findall(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', fig)
    (xa, wa), (xb, wb) = ((float(x), float(w)) for x, w in bars)
    assert abs(xa + wa - float(zero.group(1))) < 0.2 and abs(xb - float(zero.group(1))) < 0.2
    assert abs(wa * 2 - wb) < 0.5  # -5 half as long as 10
    values = [float(x) for x in re.findall(r'<text class="val" x="([\d.]+)"', fig)]
    assert all(v > float(zero.group(1)) for v in values)


def test_the_offers_chart_draws_today_and_the_cheapest_however_many_choices() -> None:
    """A catalog of 30 choices (the bundled one has 24): the chart drew the first 24 of the comparison,
    with no word of the others, so today or the cheapest could be left out of it."""
    from reports.run_cost import MAX_CHOICES_DRAWN, offers_section

    scenarios = [
        {"name": f"everyone on offer {i}", "total_ht": f"{200 + i}.00", "lines_moved": 1} for i in range(28)
    ]
    scenarios += [
        {"name": "best choice per line", "total_ht": "150.25", "lines_moved": 3},
        {"name": "today", "total_ht": "999.99", "lines_moved": 0},
    ]
    cmp = {
        "currency": "EUR",
        "month": "2026-03",
        "fleet": {
            "today": {"total_ht": "999.99"},
            "cheapest": {"name": "best choice per line", "total_ht": "150.25"},
            "saving_ht": "849.74",
            "scenarios": scenarios,
        },
    }
    fig = _figure(offers_section(cmp), "plot-offers")
    drawn = re.findall(r"<title>([^<:]*): [^<]*</title></rect>", fig)
    assert len(drawn) == MAX_CHOICES_DRAWN + 1 and {"today", "best choice per line"} <= set(drawn)
    assert "everyone on offer 27" not in drawn  # (one of the dearest left out)
    highlighted = re.search(r'stroke="#111" stroke-width="2"><title>([^<:]*):', fig)
    assert highlighted and highlighted.group(1) == "best choice per line"
    assert f"{MAX_CHOICES_DRAWN + 1} of the 30 choices are drawn, the cheapest and today" in fig


def test_a_bench_of_line_noise_makes_a_bounded_page(tmp_path: Path) -> None:
    """A modem's line noise (a wrong baud rate) is a URC per line, each of its own kind: 20,000 of them
    drew 20,000 ticks on the time line and a table row each, a page of 4.6 MB."""
    from reports.bench_report import MAX_URC_KINDS

    folder = tmp_path / "bench"
    folder.mkdir()
    n = 20_000
    report = {"summary": {"script": "s", "status": "passed", "url": "virtual://x", "urcs": n}}
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    events = [{"seq": 0, "t": 0.0, "kind": "step", "name": "wait", "duration_s": 100.0, "ok": True}]
    events += [{"seq": i + 1, "t": i * 0.005, "kind": "urc", "line": f"~{i:05x}#"} for i in range(n)]
    (folder / "transcript.jsonl").write_text(
        "".join(json.dumps(ev) + "\n" for ev in events), encoding="utf-8"
    )
    assert m2msim(["report", str(folder)]) == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert len(html) < 400_000
    ticks = re.findall(r'<line class="urc" [^>]*><title>([^<]*)</title>', _figure(html, "plot-steps"))
    assert len(ticks) <= 880
    assert sum(int(t.split()[0].replace(",", "")) if " URCs from " in t else 1 for t in ticks) == n
    section = re.search(r'<section id="urcs">.*?</section>', html, re.S)
    assert section
    rows = re.findall(
        r"<tr(?: class=\"total\")?><td>([^<]*)</td><td class=\"num\">([^<]*)</td>", section.group(0)
    )
    assert len(rows) == MAX_URC_KINDS + 1 and rows[-1][0] == f"{n - MAX_URC_KINDS:,} other kinds"
    assert sum(int(c.replace(",", "")) for _, c in rows) == n


def test_a_usage_part_of_another_writer_is_named(storm_run: Path, tmp_path: Path) -> None:
    """A run's usage parts beside one of another writer whose `start` is integers: each part reads,
    but not together, and the refusal named the folder ("FOLDER: cannot aggregate the records:
    Conversion Error ..."), the part only inside DuckDB's text."""
    folder = tmp_path / "run"
    shutil.copytree(storm_run, folder)
    (folder / "usage.parquet").unlink()
    (folder / "report.html").unlink()
    # (parts without their run's marker: in a run folder, a part it does not list is refused as such)
    (folder / MARKER).unlink()
    # (without the invoice: it refuses a part it did not rate before the parts are read together)
    (folder / "invoice.json").unlink()
    stranger = folder / "usage" / "part-00009.parquet"
    pq.write_table(pa.table({"line": ["M1"], "type": ["data"], "start": [5], "bytes_up": [1]}), stranger)
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith(
        f"m2msim report: {stranger}: cannot read the usage records with the other parts: "
    )
    assert "its start is BIGINT" in r.err and "Traceback" not in r.err
    assert not (folder / "report.html").exists()


def test_a_bench_of_many_steps_makes_a_bounded_page(tmp_path: Path) -> None:
    """A script's loop (a step per SMS of a soak test): 5,000 steps drew a time line of 5,000 rows,
    120,000 pixels high, and a table of 5,000 rows; the failed step is drawn whatever its place."""
    from reports.bench_report import MAX_STEP_ROWS, MAX_STEP_TABLE

    folder = tmp_path / "bench"
    folder.mkdir()
    n = 5_000
    report = {"summary": {"script": "s", "status": "failed", "url": "virtual://x"}}
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    events = [
        {"seq": i, "t": float(i), "kind": "step", "name": f"send-{i}", "duration_s": 0.5, "ok": i != 4321}
        for i in range(n)
    ]
    (folder / "transcript.jsonl").write_text(
        "".join(json.dumps(ev) + "\n" for ev in events), encoding="utf-8"
    )
    assert m2msim(["report", str(folder)]) == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert len(html) < 300_000
    fig = _figure(html, "plot-steps")
    bars = re.findall(r'<rect class="bar" [^>]*><title>([^<:]*):', fig)
    assert len(bars) == MAX_STEP_ROWS and "send-4321" in bars
    assert f"{MAX_STEP_ROWS} of the {n:,} steps are drawn" in fig
    section = re.search(r'<section id="steps">.*?</section>', html, re.S)
    assert section and section.group(0).count("<tr><td>send-") == MAX_STEP_TABLE
    assert f"The first {MAX_STEP_TABLE:,} of {n:,} steps are listed" in section.group(0)


def test_the_groups_table_adds_up_to_the_invoices_total(tmp_path: Path) -> None:
    """The device groups' costs were 124.53 EUR beside a total of 2,749.96: the fleet's services
    (2,625.43, billed to no line) were in no row of the table. They are, and the invoice's total
    under them; the column adds up to it."""
    example = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
    page, out = tmp_path / "month.html", tmp_path / "inv.json"
    argv = ["rate", str(example / "inventory.yaml"), str(example / "usage.csv"), "--json", "--out", str(out)]
    assert m2msim([*argv, "--report", str(page)]) == 0
    invoice = json.loads(out.read_text(encoding="utf-8"))
    section = re.search(r'<section id="groups">.*?</section>', page.read_text(encoding="utf-8"), re.S)
    assert section
    costs = dict(
        re.findall(
            r"<tr(?: class=\"(?:sum|total)\")?><td>([^<]*)</td>(?:<td[^>]*>[^<]*</td>){5}<td class=\"num\"[^>]*>([^<]*)</td>",
            section.group(0),
        )
    )
    amounts = {k: Decimal(v.split()[0].replace(",", "")) for k, v in costs.items() if v not in ("–", "")}
    total = amounts.pop("total HT")
    assert total == Decimal(invoice["total_ht"]) == sum(amounts.values())
    assert amounts["fleet services (billed to no line)"] == sum(
        Decimal(i["amount"]) for i in invoice["fleet"]
    )


def test_records_dated_outside_the_period_are_said_not_drawn(tmp_path: Path) -> None:
    """Records of another month (rejected by the rating, counted by the page when the invoice does not
    list them): counted in the tables, left out of the charts over the month without a word, so that
    the charts' sums fell short of them."""
    _rate_page(
        tmp_path,
        [
            "A1,sms,2026-03-03T08:00:00Z,,,,fr,fr-mobile,,",
            "A1,sms,2026-04-03T09:00:00Z,,,,fr,fr-mobile,,",
            "A1,data,2026-02-27T09:00:00Z,60,1048576,1048576,fr,,,s1",
            "A1,data,2026-03-27T09:00:00Z,60,1048576,1048576,fr,,,s2",
        ],
    )
    out = tmp_path / "run"
    out.mkdir()
    argv = ["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json"]
    invoice = json.loads(run_cli(argv).out)
    del invoice["rejects"]  # (past the listing's limit: counted, not listed)
    (out / "invoice.json").write_text(json.dumps(invoice), encoding="utf-8")
    shutil.copy(tmp_path / "usage.csv", out / "usage.csv")
    assert run_cli(["report", str(out)]).rc == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (
        "2 of them are counted here all the same: the invoice does not say which rows they are in "
        "these files" in re.sub(r"<[^>]+>", "", html)
    )
    traffic = re.search(r'<section id="traffic">.*?</section>', html, re.S)
    sms = re.search(r'<section id="sms">.*?</section>', html, re.S)
    assert traffic and sms
    assert "Not drawn: records dated outside the period (Mo: 2.0, data sessions: 1)" in traffic.group(0)
    assert "Not drawn: records dated outside the period (SMS: 1, calls: 0)" in sms.group(0)
    drawn = [int(t.rsplit(": ", 1)[1].split()[0]) for t in _tips(_figure(html, "plot-sms-calls"), "SMS")]
    assert sum(drawn) == 1  # the March SMS; April's is the one said not drawn


def test_a_summarys_times_with_another_offset_are_shown_in_utc(storm_run: Path, tmp_path: Path) -> None:
    """A summary.json whose times carry another offset (edited, or of another writer): the page showed
    them as written (the outage at 08:00, the period from 02:00) under labels saying UTC. The same
    instants make the same page."""
    from reports import render_report

    folder = tmp_path / "run"
    shutil.copytree(storm_run, folder)
    doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))

    def moved(text: str) -> str:
        return (datetime.fromisoformat(text).astimezone(timezone(timedelta(hours=2)))).isoformat()

    doc["period"] = {k: moved(v) if k in ("start", "end") else v for k, v in doc["period"].items()}
    doc["outages"] = [{**o, "start": moved(o["start"]), "end": moved(o["end"])} for o in doc["outages"]]
    assert doc["outages"][0]["start"] == "2026-03-01T08:00:00+02:00"
    (folder / "summary.json").write_text(json.dumps(doc), encoding="utf-8")
    assert render_report(folder) == render_report(storm_run)


def test_a_count_past_2_to_the_53_is_shown_with_its_exact_digits(storm_run: Path, tmp_path: Path) -> None:
    """A summary.json counting 2^60 + 1 data sessions (another writer's, or damaged): the page showed
    1,152,921,504,606,846,976, the count formatted through a float, its last digit wrong."""
    folder = tmp_path / "run"
    shutil.copytree(storm_run, folder)
    doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    doc["totals"]["data_sessions"] = 2**60 + 1
    (folder / "summary.json").write_text(json.dumps(doc), encoding="utf-8")
    r = run_cli(["report", str(folder)])
    assert r.rc == 0, r.err
    html = (folder / "report.html").read_text(encoding="utf-8")
    shown = re.search(r'data-key="summary:totals.data_sessions">([^<]*)<', html)
    assert shown is not None and shown.group(1) == f"{2**60 + 1:,}"


@pytest.mark.parametrize("name", ["invoice.json", "summary.json", "alarms.jsonl"])
def test_a_file_nested_too_deep_is_refused_naming_it(storm_run: Path, tmp_path: Path, name: str) -> None:
    """A JSON document of arrays nested 10^5 deep (damaged, or another writer's): `report` and `sql`
    ended in a traceback (RecursionError)."""
    folder = tmp_path / "run"
    shutil.copytree(storm_run, folder)
    (folder / name).write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    for argv in (["report", str(folder)], ["sql", str(folder), "SELECT 1"]):
        r = run_cli(argv)
        assert r.rc == 2 and r.err.count("\n") == 1, str(r)
        assert f"{folder / name}" in r.err and "nested too deep" in r.err, str(r)


@pytest.mark.parametrize("parts", [1, 2])
def test_the_pages_figures_are_the_billed_records_one_reject_of_each_kind_left_out(
    tmp_path: Path, parts: int
) -> None:
    """A month of one billed data record and one billed SMS beside one record of each kind the rating
    rejects: the page counted the rejects as usage (a byte count of 0.500 as 1 octet, a negative one,
    a duplicate, an unknown line's, another month's, a start it cannot read, a line not active yet, ...):
    group A's volume was 95 million Mo against the 2 Mo invoiced, a group of lines not in the
    inventory, SMS to a destination that is none. Its figures are now the invoice's."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n"
        "  - {id_prefix: A, count: 1, offer: business-m2m, plan: forfait-2mo, commitment: 24, since: 2025-01-15}\n"
        "  - {id_prefix: B, count: 1, offer: business-m2m, plan: forfait-2mo, commitment: 24, since: 2026-03-20}\n",
        encoding="utf-8",
    )
    rows = [
        "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",  # billed
        "A1,sms,2026-03-05T11:00:00Z,,,,fr,fr-mobile,,",  # billed
        "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",  # duplicate
        "A1,data,2026-03-06T10:00:00Z,60,0.500,0,fr,,,s2",  # malformed value (a fraction)
        "A1,data,2026-03-06T11:00:00Z,60,-5000000,0,fr,,,s3",  # malformed value (negative)
        "A1,data,2026-03-06T12:00:00Z,50000,1000,0,fr,,,s4",  # impossible value (over 12 h)
        "A1,data,2026-03-06T13:00:00Z,1,99999999999999,0,fr,,,s5",  # impossible value (octets)
        "X9,data,2026-03-06T14:00:00Z,60,3000000,0,fr,,,s6",  # unknown line
        "X9,sms,2026-03-06T14:00:00Z,,,,fr,fr-mobile,,",  # unknown line
        "A1,data,2026-04-03T09:00:00Z,60,4000000,0,fr,,,s7",  # outside the month
        "A1,sms,2026-02-27T09:00:00Z,,,,fr,fr-mobile,,",  # outside the month
        "A1,data,06/03/2026 15:00,60,5000000,0,fr,,,s8",  # malformed start
        "A1,data,2026-03-06T16:00:00Z,60,6000000,0,fr,,,s9,extra",  # malformed row
        "A1,data,2026-03-06T17:00:00Z,60,7000000,0,mars,,,s10",  # malformed zone
        "A1,sms,2026-03-06T18:00:00Z,,,,fr,nowhere,,",  # malformed dest
        ",data,2026-03-06T19:00:00Z,60,8000000,0,fr,,,s11",  # line empty
        "A1,fax,2026-03-06T19:00:00Z,60,8000000,0,fr,,,s12",  # malformed type
        "B1,data,2026-03-02T10:00:00Z,60,9000000,0,fr,,,s13",  # line not yet active
        "A1,data,2026-03-06T20:00:00Z,1_000,1000,0,fr,,,s14",  # malformed duration
        "A1,sms_internet,2026-03-06T21:00:00Z,,,,fr,orange-fr,maybe,",  # malformed delivered
        "A1,csd,2026-03-06T21:00:00Z,30,,,world,intl,,",  # price not in this catalog
    ]
    usage = tmp_path / "usage.csv"
    usage.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    if parts == 2:  # (two files, the malformed row in the second: rows numbered in each)
        usage = tmp_path / "in"
        usage.mkdir()
        for name, part in (("a.csv", rows[:11]), ("b.csv", rows[11:])):
            (usage / name).write_text(HEADER + "".join(r + "\n" for r in part), encoding="utf-8")
    out, page = tmp_path / "out" / "invoice.json", tmp_path / "out" / "month.html"
    assert m2msim(["rate", str(inv), str(usage), "--json", "--out", str(out), "--report", str(page)]) == 0
    invoice = json.loads(out.read_text(encoding="utf-8"))
    assert len(invoice["rejects"]) == len(rows) - 2  # (every kind is a reject)
    items = {
        i["unit"]: int(i["quantity"]) for ln in invoice["lines"] for i in ln["items"] if ln["id"] == "A1"
    }
    pages = [(page.read_text(encoding="utf-8"), "A")]
    if parts == 1:  # and of the folder of the invoice and its usage (no inventory: grouped by offer and plan)
        pages.append((_report_of(out, usage, tmp_path / "folder"), "business-m2m forfait-2mo"))
    for html, group in pages:
        section = re.search(r'<section id="groups">.*?</section>', html, re.S)
        sms = re.search(r'<section id="sms">.*?</section>', html, re.S)
        assert section and sms
        table = re.findall(r"<tr(?: class=\"\w+\")?><td>([^<]*)</td>(.*?)</tr>", section.group(0))
        cells = {
            name: [unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", rest)] for name, rest in table
        }
        assert cells[group][1:3] == ["1", f"{items['ko'] / 1024:,.1f} Mo"]  # one session, the ko invoiced
        assert "(not in the inventory)" not in cells
        assert not any(cells["fleet services (billed to no line)"][:4])  # (the record of no line)
        assert cells.get("B", ["", "0", "0.0 Mo"])[1:3] == ["0", "0.0 Mo"]  # (not active yet)
        listed = re.findall(
            r"<tr><td>([^<]*)</td><td>(\w+)</td><td>([^<]*)</td><td[^>]*>([\d,]+)</td>", sms.group(0)
        )
        assert listed == [(group, "sms", "fr-mobile", str(items["sms"]))]
        assert "Not drawn" not in html
        drawn = sum(
            float(t.rsplit(": ", 1)[1].split()[0]) for t in _tips(_figure(html, "plot-daily-volume"), group)
        )
        assert drawn == pytest.approx(items["ko"] / 1024)


def _report_of(invoice: Path, usage: Path, folder: Path) -> str:
    """`m2msim report` of a folder of the invoice and its usage."""
    folder.mkdir()
    shutil.copy(invoice, folder / "invoice.json")
    shutil.copy(usage, folder / "usage.csv")
    assert run_cli(["report", str(folder)]).rc == 0
    return (folder / "report.html").read_text(encoding="utf-8")


def test_the_rejects_an_invoice_lists_are_worked_out_once_per_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of a folder whose invoice lists rejects worked them out (file and row of each) up to
    4 times, 0.12 CPU-s each with 100,000 listed; once now (`rejects_of`, handed down), the same
    answer."""
    from reports import data, render_report
    from reports.data import Rejects, RunFiles, find_files, rejects_of

    rows = [
        "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",
        "X9,data,2026-03-06T14:00:00Z,60,3000000,0,fr,,,s6",  # unknown line
        "A1,data,2026-03-06T16:00:00Z,60,6000000,0,fr,,,s9,extra",  # malformed row
        "X9,sms,2026-03-06T14:00:00Z,,,,fr,fr-mobile,,",  # unknown line
    ]
    _rate_page(tmp_path, rows)
    argv = ["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json"]
    invoice = tmp_path / "invoice.json"
    invoice.write_text(run_cli(argv).out, encoding="utf-8")
    folder = tmp_path / "folder"
    _report_of(invoice, tmp_path / "usage.csv", folder)
    worked: list[int] = []  # (each time the listed rejects are placed in the usage files)
    place = data._rejected_rows

    def counted(*args: Any) -> Any:
        worked.append(1)
        return place(*args)

    monkeypatch.setattr(data, "_rejected_rows", counted)
    assert len(json.loads(invoice.read_text(encoding="utf-8"))["rejects"]) == 3
    page = render_report(folder)
    assert render_report(folder, files=find_files(folder)) == page
    assert len(worked) == 2  # (once a page)
    usage = folder / "usage.csv"
    files = RunFiles(folder, invoice=json.loads(invoice.read_text(encoding="utf-8")), usage=[usage])
    # (rows 3 and 5 of the file; the row it could not split, 4, not in the view: 3 and 4 there)
    assert rejects_of(files) == Rejects(((str(usage), 3), (str(usage), 4)), 0, None)
    assert files.invoice is not None
    files.invoice = {**files.invoice, "rejects": files.invoice["rejects"][:1]}
    assert rejects_of(files) == Rejects(((str(usage), 3),), 2, None)


def test_an_invoice_of_other_records_than_the_folders_usage_is_said_not_of_them(tmp_path: Path) -> None:
    """The page leaves out the rows the invoice lists as rejected, by file and row: an invoice rated
    on the usage before a row was taken out of it (its rows shifted by one) left out a billed record
    and drew the duplicate, without a word. The invoice's `rows_read` differs from the rows there."""
    rows = [
        "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",
        "A1,data,2026-03-06T16:00:00Z,60,6000000,0,fr,,,s9,extra",  # malformed row (counted read)
        "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",  # duplicate
        "A1,sms,2026-03-05T11:00:00Z,,,,fr,fr-mobile,,",
    ]
    _rate_page(tmp_path, rows)
    argv = ["rate", str(tmp_path / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json"]
    invoice = tmp_path / "invoice.json"
    invoice.write_text(run_cli(argv).out, encoding="utf-8")
    _report_of(invoice, tmp_path / "usage.csv", tmp_path / "same")  # (its own usage: a page)
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(invoice, folder / "invoice.json")
    (folder / "usage.csv").write_text(HEADER + "".join(r + "\n" for r in rows[1:]), encoding="utf-8")
    r = run_cli(["report", str(folder)])
    assert r.rc == 2 and r.err.count("\n") == 1, str(r)
    assert f"{folder / 'invoice.json'}" in r.err and "not of these records" in r.err, str(r)
    assert not (folder / "report.html").exists()
