"""The run report: one offline page, its numbers equal the invoice's and the summary's, every plot drawn.

The default scenario (two days) is run once for the module; a small unit scenario with an outage,
a retry storm and SIM swaps (alarms) shows the storm and alarm plots.  The Chromium tests skip,
with the reason, where Debian's `chromium` is not installed (`.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, find_chromium
from fuzzing import run_cli
from reportcheck import as_number, parse, shown_keys, value_at

from accounting import compare_month, inventory_from_dict
from m2msim.cli import main as m2msim
from m2msim.outputs import output_lock
from reports import render_run_report
from simulator.run import simulate
from simulator.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)

DEFAULT_PLOTS = {
    "plot-offers",
    "plot-group-cost",
    "plot-group-volume",
    "plot-daily-volume",
    "plot-daily-sessions",
    "plot-hourly-volume",
    "plot-hourly-sessions",
    "plot-alarms",
    "plot-sms-calls",
}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default") / "run"
    simulate(load_scenario(SCENARIOS / "default.yaml", days=2), out)
    return out


def check_numbers(html: str, folder: Path) -> set[str]:
    """Every marked number equals its source (the offers: compared here again); returns the keys seen."""
    sc = load_scenario(folder / "scenario.yaml")
    docs: dict[str, Any] = {
        "summary": json.loads((folder / "summary.json").read_text()),
        "invoice": json.loads((folder / "invoice.json").read_text()),
        "comparison": compare_month(
            inventory_from_dict(sc.inventory, "scenario"), folder / "usage.parquet"
        ).to_dict(),
    }
    seen = set()
    for key, text in shown_keys(html):
        source, _, path = key.partition(":")
        assert source in docs, key
        expected = value_at(docs[source], path)
        assert as_number(text) == Decimal(str(expected)), (key, text, expected)
        seen.add(key)
    return seen


def test_the_run_writes_its_report_and_the_command_makes_it_again(default_run: Path, tmp_path: Path) -> None:
    html = (default_run / "report.html").read_text(encoding="utf-8")
    assert m2msim(["report", str(default_run), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == html  # made from the files alone
    assert render_run_report(default_run) == html


def test_a_report_of_a_folder_a_run_is_writing_is_refused(storm_doc: dict[str, Any], tmp_path: Path) -> None:
    """A report made while a run swapped its new folder in wrote the old run's page into the new run."""
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "storm-unit.yaml"), out)
    page = (out / "report.html").read_bytes()
    with output_lock(out):  # as the next run of this folder holds it until its swap
        busy = run_cli(["report", str(out)])
        elsewhere = run_cli(["report", str(out / "." / ""), "--out", str(tmp_path / "page.html")])
    for r in (busy, elsewhere):
        assert r.rc == 2 and f"process {os.getpid()} is writing it now" in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1
    assert (out / "report.html").read_bytes() == page and not (tmp_path / "page.html").exists()
    assert m2msim(["report", str(out), "--out", str(tmp_path / "page.html")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "run"]


def test_the_page_is_self_contained_small_and_fetches_nothing(default_run: Path) -> None:
    raw = (default_run / "report.html").read_bytes()
    assert len(raw) < 2_000_000
    html = raw.decode("utf-8")
    page = parse(html)
    csp = [
        a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in (csp[0] or "")
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    refs = [a.get(k) for _, a in page.tags for k in ("src", "href", "xlink:href") if a.get(k)]
    assert all(str(r).startswith("#") for r in refs), refs  # only links within the page
    assert "url(" not in html and "@import" not in html


def test_the_numbers_on_the_page_are_the_invoices_and_the_summarys(default_run: Path) -> None:
    html = (default_run / "report.html").read_text(encoding="utf-8")
    seen = check_numbers(html, default_run)
    summary = json.loads((default_run / "summary.json").read_text())
    must = {
        "invoice:total_ht",
        "summary:devices",
        "summary:totals.data_sessions",
        "summary:totals.billable_ko",
        "comparison:fleet.cheapest.total_ht",
        "comparison:fleet.saving_ht",
        "summary:seed",
        "summary:shards",
        "summary:retry_storm.cost_ht",
        "summary:totals.sms_sent",
        "summary:totals.calls_answered",
    }
    for g in summary["groups"]:
        must |= {
            f"summary:groups[{g['name']}].{k}" for k in ("cost_ht", "devices", "data_sessions", "billable_ko")
        }
    assert must <= seen, must - seen
    # the costliest lines are the invoice's, in order
    invoice = json.loads((default_run / "invoice.json").read_text())
    top = sorted(invoice["lines"], key=lambda ln: (-Decimal(ln["total_ht"]), ln["id"]))[:10]
    shown = [k.split("[")[1].split("]")[0] for k, _ in shown_keys(html) if k.startswith("invoice:lines[")]
    assert shown == [ln["id"] for ln in top]


def test_a_short_period_gets_a_projected_month(default_run: Path) -> None:
    html = (default_run / "report.html").read_text(encoding="utf-8")
    invoice = json.loads((default_run / "invoice.json").read_text())
    m = re.search(r"projected month HT</div><div class=\"value\">([\d,.]+) EUR", html)
    assert m, "no projected month on a two-day run"
    projected = Decimal(m.group(1).replace(",", ""))
    monthly = sum(
        Decimal(i["amount"]) for ln in invoice["lines"] for i in ln["items"] if i["unit"] == "month"
    )
    usage = sum(Decimal(i["amount"]) for ln in invoice["lines"] for i in ln["items"] if i["unit"] != "month")
    assert projected == (monthly + usage * Decimal(31) / Decimal(2)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert projected > Decimal(invoice["total_ht"])


def test_the_storm_table_counts_every_retry_of_the_run(storm_run: Path) -> None:
    html = (storm_run / "report.html").read_text(encoding="utf-8")
    check_numbers(html, storm_run)
    summary = json.loads((storm_run / "summary.json").read_text())
    assert summary["outages"] == [
        {
            "kind": "server",
            "start": "2026-03-01T06:00:00+00:00",
            "end": "2026-03-01T08:00:00+00:00",
            "groups": ["meters"],
        }
    ]
    rs = summary["retry_storm"]
    assert rs["sessions"] > 6 * 300
    row = re.search(r"server outage 01 Mar 06:00–08:00 UTC \(meters\)</td>((?:<td[^>]*>[^<]*</td>){3})", html)
    assert row, "no storm row"
    cells = [as_number(c) for c in re.findall(r">([^<]*)</td>", row.group(1))]
    assert cells == [rs["sessions"], rs["sessions"], rs["billable_ko"]]  # every retry failed, a ko each


@needs_chromium
def test_chromium_renders_the_default_report_offline(default_run: Path, tmp_path: Path) -> None:
    with Browser(tmp_path) as b:
        page = b.load(default_run / "report.html")
        assert page.requests == [page.url]  # the page itself, nothing else
        assert page.errors == []
        plots = b.evaluate(
            "Array.from(document.querySelectorAll('figure.plot')).map(f => [f.id, "
            "f.querySelector('svg .ptitle') ? f.querySelector('svg .ptitle').textContent : '', "
            "f.querySelectorAll('rect.bar, polyline.series, circle.pt').length, "
            "Math.round(f.getBoundingClientRect().height)])"
        )
        ids = {p[0] for p in plots}
        assert ids >= DEFAULT_PLOTS, DEFAULT_PLOTS - ids
        for fid, title, marks, height in plots:
            assert title and height > 50, fid
            assert marks > 0 or fid == "plot-alarms", fid  # no alarm in two days: the plot says so
        shown = b.evaluate("document.querySelector('[data-key=\"invoice:total_ht\"]').innerText")
        total = json.loads((default_run / "invoice.json").read_text())["total_ht"]
        assert as_number(shown) == Decimal(total)
        shot = b.screenshot(tmp_path / "default-report.png")
        pdf = b.pdf(tmp_path / "default-report.pdf")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert pdf.read_bytes()[:5] == b"%PDF-"


@needs_chromium
def test_chromium_renders_the_storm_and_alarm_plots(storm_run: Path, tmp_path: Path) -> None:
    with Browser(tmp_path) as b:
        page = b.load(storm_run / "report.html")
        assert page.requests == [page.url] and page.errors == []
        counts = b.evaluate(
            "Object.fromEntries(['plot-storm-1', 'plot-alarms'].map(id => [id, "
            "document.querySelectorAll('#' + id + ' polyline.series, #' + id + ' circle.pt').length]))"
        )
        b.screenshot(tmp_path / "storm-report.png")
    assert counts["plot-storm-1"] >= 3 and counts["plot-alarms"] >= 1


@needs_chromium
def test_the_browser_check_sees_a_request_and_a_refusal(tmp_path: Path) -> None:
    """The harness itself: a page that fetches is caught, with or without the policy."""
    loose = tmp_path / "loose.html"
    loose.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    strict = tmp_path / "strict.html"
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    strict.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{csp}">'
        '</head><body><img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    with Browser(tmp_path) as b:
        a = b.load(loose)
        s = b.load(strict)
    assert "http://127.0.0.1:9/x.png" in a.requests
    assert any("Content Security Policy" in e for e in s.errors), s.errors


def test_an_older_run_folder_is_projected_by_the_invoices_rule(storm_run: Path, tmp_path: Path) -> None:
    """A run folder of a version whose summary.json had no projected month: the page made its own,
    and scaled a one-off fee (first-traffic billing, a set-up) by 31 days / 1 as if it were usage,
    and kept the fleet's usage (SMS Internet messages, localisation hits) unscaled."""
    summary = json.loads((storm_run / "summary.json").read_text())
    invoice = json.loads((storm_run / "invoice.json").read_text())
    rule = invoice["projected_month"]
    fee = {"code": "option-first-traffic-billing-fee", "quantity": "1", "unit": "once", "amount": "3.00"}
    hits = {"code": "localisation-hits", "quantity": "2", "unit": "hit", "amount": "0.16"}
    invoice["lines"][0]["items"].append(fee)
    invoice["lines"][0]["total_ht"] = str(Decimal(invoice["lines"][0]["total_ht"]) + Decimal("3.00"))
    invoice["fleet"] = [*invoice.get("fleet", []), hits]
    invoice["total_ht"] = str(Decimal(invoice["total_ht"]) + Decimal("3.16"))
    for doc in (summary, invoice):
        del doc["projected_month"], doc["usage_covers"]
    folder = tmp_path / "older"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "invoice.json").write_text(json.dumps(invoice))
    html = render_run_report(folder)
    m = re.search(r"projected month HT</div><div class=\"value\">([\d,.]+) EUR", html)
    assert m, "no projected month on a one-day run"
    usage = Decimal(rule["usage_ht"]) + Decimal("0.16")
    expected = (
        Decimal(rule["fixed_ht"]) + Decimal("3.00") + (usage * 31).quantize(Decimal("0.01"), ROUND_HALF_UP)
    )
    assert Decimal(m.group(1).replace(",", "")) == expected


def test_rate_report_of_a_partial_runs_folder_is_of_its_days(storm_run: Path, tmp_path: Path) -> None:
    """`rate INVENTORY RUN --report` of a one-day run: the page drew a period of 31 days, compared
    the offers "on the month" (its axis "cost of the month") and projected nothing, where the run's
    own page, of the same invoice, said the day and projected the month. The run's summary says
    which days its usage covers."""
    import yaml

    from reports.run_report import render_rating_report

    inventory = yaml.safe_load((storm_run / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    own = (storm_run / "report.html").read_text(encoding="utf-8")
    for usage in (storm_run, storm_run / "usage"):
        page = render_rating_report(tmp_path / "inventory.yaml", usage)
        offers = page[page.index('id="offers"') : page.index('id="groups"')]
        assert "cost of the 1 day simulated (of 31), EUR HT" in offers and "on the month" not in offers
        headline = page[page.index('id="headline"') : page.index('id="offers"')]
        assert "1 days" in headline
        projected = re.findall(r"projected month HT</div><div class=\"value\">([\d,.]+ EUR)", page)
        assert projected and projected == re.findall(
            r"projected month HT</div><div class=\"value\">([\d,.]+ EUR)", own
        )
    # (a usage file of no run: the month, as before)
    whole = render_rating_report(tmp_path / "inventory.yaml", storm_run / "usage" / "part-00000.parquet")
    assert "cost of the month, EUR HT" in whole


def test_the_rate_and_compare_outputs_of_a_partial_run_say_its_days(storm_run: Path, tmp_path: Path) -> None:
    """`rate RUN --json` and `compare RUN --json` of a one-day run wrote the month without the days
    its usage covers: `m2msim report` of their folder drew 31 days, compared the offers on "the
    month" and projected nothing, where `rate RUN --report` and the run's own page said the day and
    projected the month. They say the days now (`usage_covers`), every other key as it was."""
    import yaml

    inventory = yaml.safe_load((storm_run / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    both, alone = tmp_path / "both", tmp_path / "alone"
    args = [str(tmp_path / "inventory.yaml"), str(storm_run)]
    assert m2msim(["rate", *args, "--report", str(tmp_path / "rated.html")]) == 0
    assert m2msim(["rate", *args, "--json", "--out", str(both / "invoice.json")]) == 0
    assert m2msim(["compare", *args, "--json", "--out", str(both / "comparison.json")]) == 0
    assert m2msim(["compare", *args, "--json", "--out", str(alone / "comparison.json")]) == 0
    invoice = json.loads((both / "invoice.json").read_text())
    own = json.loads((storm_run / "invoice.json").read_text())
    # (the files rated: the run's usage.parquet, the run's own of its parts as they were written)
    assert [f["name"] for f in invoice.pop("usage_files")] == [str(storm_run / "usage.parquet")]
    assert [f["name"] for f in own.pop("usage_files")] == ["usage/part-00000.parquet"]
    assert invoice == own  # (the run's own)
    comparison = json.loads((both / "comparison.json").read_text())
    assert comparison["usage_covers"] == invoice["usage_covers"]
    del comparison["usage_covers"]
    whole = compare_month(inventory_from_dict(inventory, "x"), storm_run / "usage.parquet").to_dict()
    assert comparison == whole  # (every other key as it was)
    assert m2msim(["report", str(both)]) == 0 and m2msim(["report", str(alone)]) == 0
    projected = r'projected month HT</div><div class="value">([\d,.]+ EUR)'

    def parts(html: str) -> tuple[str, str]:
        return html[html.index('id="headline"') : html.index('id="offers"')], html[
            html.index('id="offers"') : html.index('id="groups"')
        ]

    page = (tmp_path / "rated.html").read_text(encoding="utf-8")
    for folder in (both, alone):
        html = (folder / "report.html").read_text(encoding="utf-8")
        headline, offers = parts(html)
        assert "1 days" in headline and "1 days" in parts(page)[0]
        assert "cost of the 1 day simulated (of 31), EUR HT" in offers and "on the month" not in offers
    html = (both / "report.html").read_text(encoding="utf-8")
    assert re.findall(projected, html) == re.findall(projected, page) != []
    assert parts(html)[1] == parts(page)[1]


def test_rate_report_finds_a_partial_run_as_its_usage_is_read(
    storm_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's usage read as the rating reads it, and so a page of its days: through a link to its
    `usage/` (`ln -s RUN/usage march`), as `.` in it, and in a run folder holding a file of the
    user's (notes.txt) beside the run's, unchanged. Each drew 31 days and compared "on the month"."""
    import shutil

    import yaml

    from reports.run_report import render_rating_report

    inventory = yaml.safe_load((storm_run / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "march").symlink_to(storm_run / "usage")
    copy = tmp_path / "copy"
    shutil.copytree(storm_run, copy)  # (copy2: sizes and times kept, the run's files still)
    (copy / "notes.txt").write_text("sent to the customer on 2 March\n")

    def of_its_day(usage: Path) -> bool:
        page = render_rating_report(tmp_path / "inventory.yaml", usage)
        offers = page[page.index('id="offers"') : page.index('id="groups"')]
        return "cost of the 1 day simulated (of 31), EUR HT" in offers and "on the month" not in offers

    assert of_its_day(tmp_path / "march")
    assert of_its_day(copy)
    monkeypatch.chdir(storm_run / "usage")
    assert of_its_day(Path("."))
    # (the run's summary.json edited since: not the run's, the month as before)
    summary = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    assert not of_its_day(copy)


def test_rate_report_of_an_older_partial_runs_folder_is_of_its_period(
    storm_run: Path, tmp_path: Path
) -> None:
    """A one-day run of a version whose summary.json had no `usage_covers` (its period only, and a
    marker of names): its own page drew the day and projected the month from the summary's period,
    where `rate RUN --report` drew 31 days, compared "on the month" and projected nothing."""
    import shutil

    import yaml

    from m2msim.rundir import MARKER
    from reports.run_report import render_rating_report

    folder = tmp_path / "older"
    shutil.copytree(storm_run, folder)
    for name in ("summary.json", "invoice.json"):
        doc = json.loads((folder / name).read_text())
        del doc["projected_month"], doc["usage_covers"]
        (folder / name).write_text(json.dumps(doc))
    marker = json.loads((folder / MARKER).read_text())
    del marker["written"]
    (folder / MARKER).write_text(json.dumps(marker))
    inventory = yaml.safe_load((folder / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    projected = r'projected month HT</div><div class="value">([\d,.]+ EUR)'
    own = render_run_report(folder)
    page = render_rating_report(tmp_path / "inventory.yaml", folder)
    for html in (own, page):
        offers = html[html.index('id="offers"') : html.index('id="groups"')]
        assert "cost of the 1 day simulated (of 31), EUR HT" in offers and "on the month" not in offers
        assert "1 days" in html[html.index('id="headline"') : html.index('id="offers"')]
    assert re.findall(projected, page) == re.findall(projected, own) != []


def test_an_invoices_days_not_as_m2msim_writes_them_are_named(storm_run: Path, tmp_path: Path) -> None:
    """A partial run's invoice.json alone, its `usage_covers.start` edited: the page reads its days
    as its period, and said only "a file is not as m2msim writes it (ValueError: Invalid isoformat
    string: 'soon')", naming neither the file nor the field."""
    doc = json.loads((storm_run / "invoice.json").read_text())
    doc["usage_covers"]["start"] = "soon"
    (tmp_path / "invoice.json").write_text(json.dumps(doc))
    r = run_cli(["report", str(tmp_path)])
    assert r.rc == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r
    assert f"{tmp_path / 'invoice.json'}: usage_covers.start: not a date and time: 'soon'" in r.err, r.err


def test_a_period_ending_within_a_day_draws_its_last_day() -> None:
    """`--days 2.5`: the daily curves stopped at 2 March, the half day of 3 March's volume and
    sessions left out (the buckets were the period's whole days only); an hour alike for 1.01 days."""
    from datetime import UTC, datetime

    from reports.run_common import Period
    from reports.run_time import traffic_section

    def drawn(html: str, plot: str) -> list[str]:
        part = html[html.index(f'id="{plot}"') :]
        return re.findall(r"<title>([^<]*)</title>", part[: part.index("</svg>")])

    start = datetime(2026, 3, 1, tzinfo=UTC)
    row = (datetime(2026, 3, 3, 6, tzinfo=UTC), "meters", 1048576.0, 1024.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    half = traffic_section(Period(start, datetime(2026, 3, 3, 12, tzinfo=UTC)), [row], ["meters"], [])
    assert "meters, 03 Mar 00:00 UTC: 1.00 Mo" in drawn(half, "plot-daily-volume")
    assert "meters, 03 Mar 00:00 UTC: 3 sessions" in drawn(half, "plot-daily-sessions")
    late = (datetime(2026, 3, 2, 0, tzinfo=UTC), *row[1:])
    hour = traffic_section(Period(start, datetime(2026, 3, 2, 0, 14, tzinfo=UTC)), [late], ["meters"], [])
    assert "meters, 02 Mar 00:00 UTC: 1.00 Mo" in drawn(hour, "plot-hourly-volume")


def test_an_inventory_line_no_device_group_uses_has_its_cost_on_the_page(
    storm_doc: dict[str, Any], tmp_path: Path
) -> None:
    """A spare SIM in the inventory, bound to no device group: billed its subscription, but the
    page's cost per device group listed the run's groups only, so its cost was nowhere on it."""
    storm_doc["inventory"]["lines"].append(
        {"id": "SPARE1", "offer": "business-m2m", "plan": "compteur", "commitment": 24, "since": "2025-01-01"}
    )
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "spare.yaml"), out)
    invoice = json.loads((out / "invoice.json").read_text())
    [spare] = [ln for ln in invoice["lines"] if ln["id"] == "SPARE1"]
    html = (out / "report.html").read_text(encoding="utf-8")
    groups = html[html.index('id="groups"') : html.index('id="traffic"')]
    rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", groups)
    costs = {name: re.findall(r'<td class="num"[^>]*>([^<]*)</td>', cells)[5] for name, cells in rows}
    assert costs["single lines"] == f"{Decimal(spare['total_ht']):,.2f} EUR"
    fleet = sum(Decimal(f["amount"]) for f in invoice.get("fleet", []))
    assert sum(as_number(c) for c in costs.values()) + fleet == Decimal(invoice["total_ht"])


def test_a_groups_billable_ko_are_the_invoices_not_its_records(
    storm_doc: dict[str, Any], tmp_path: Path
) -> None:
    """The trackers' lines all have an inventory error (Intense is 36 months only): billed nothing,
    their records rejected, yet summary.json and the page gave them the records' ko as billable
    beside a cost of 0.00."""
    storm_doc["inventory"]["lines"][1].update(offer="intense", plan="optima", commitment=24)
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "storm-unit.yaml"), out)
    summary = json.loads((out / "summary.json").read_text())
    invoice = json.loads((out / "invoice.json").read_text())
    trackers = next(g for g in summary["groups"] if g["name"] == "trackers")
    assert trackers["cost_ht"] == "0.00" and trackers["billable_ko"] == 0
    assert trackers["records_ko"] > 0
    billed = sum(int(i["quantity"]) for ln in invoice["lines"] for i in ln["items"] if i["unit"] == "ko")
    assert summary["totals"]["billable_ko"] == billed > 0
    assert summary["totals"]["records_ko"] == sum(g["records_ko"] for g in summary["groups"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "summary:groups[trackers].billable_ko" in check_numbers(html, out)
    rejected = sum(r["count"] for r in invoice["rejects_by_reason"])
    assert (
        rejected > 0 and f"<b>{rejected:,} rejected</b> by the rating and billed nothing are left out" in html
    )
    # the trackers' records, all rejected, are not counted: the run's own sums (every record its
    # shards wrote) gave them 48 data sessions and a roaming share beside a bill of nothing
    groups = html[html.index('id="groups"') : html.index('id="traffic"')]
    row = re.search(r"<tr><td>trackers</td>(.*?)</tr>", groups)
    assert row and re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))[1:4] == ["0", "0.0 Mo", "–"]


def test_the_offers_of_a_partial_run_are_compared_on_its_days_and_say_so(storm_run: Path) -> None:
    """A one-day run compared the offers on that day's usage and said the cheapest choice saved
    so much 'on the month', on the page and nowhere in the summary; the chart's axis said "cost of
    the month" still."""
    html = (storm_run / "report.html").read_text(encoding="utf-8")
    part = html[html.index('id="offers"') : html.index('id="groups"')]
    assert "on the month" not in part
    assert "on the 1 day simulated (of 31) against today" in part
    assert "compared on the usage of the 1 day simulated (of 31) only" in part
    assert "The 1 day simulated (of 31) on every offer and plan" in part
    assert "cost of the month" not in part  # (the chart's axis said so)
    assert "cost of the 1 day simulated (of 31), EUR HT" in part
    summary = json.loads((storm_run / "summary.json").read_text())
    keys = dict(shown_keys(html))
    c = summary["comparison"]
    assert as_number(keys["comparison:fleet.saving_ht"]) == Decimal(c["saving_ht"])
    assert c["covers"] == "the usage of the 1 day simulated only (of the month's 31), not a projected month"
    text = (storm_run / "summary.txt").read_text()
    assert f"saving {c['saving_ht']} against today's {c['today_ht']} EUR HT, on {c['covers']}" in text


def test_the_retry_storms_billed_ko_are_the_invoices(storm_doc: dict[str, Any], tmp_path: Path) -> None:
    """The meters' lines all have an inventory error (autodiagnostic without autogestion): their
    reconnection attempts are billed nothing (the storm costs 0.00), yet the summary and the page
    said their records' ko were 'billed'."""
    storm_doc["inventory"]["lines"][0]["options"] = ["autodiagnostic"]
    out = tmp_path / "run"
    simulate(parse_scenario(storm_doc, "storm-unit.yaml"), out)
    rs = json.loads((out / "summary.json").read_text())["retry_storm"]
    assert rs["sessions"] > 0 and rs["cost_ht"] == "0.00"
    assert rs["billable_ko"] == 0 and rs["records_ko"] >= rs["sessions"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "summary:retry_storm.billable_ko" in check_numbers(html, out)
    assert "ko of the retry records billed" in html


def _page_of_a_copy(
    run: Path, folder: Path, names: tuple[str, ...]
) -> tuple[str, dict[str, Any], str, set[str]]:
    """The page of a copy of `run` holding only `names`: (its HTML, the summary, its groups section,
    the keys of the numbers it marks), every number marked as the summary's or the invoice's equal
    to it."""
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((run / name).read_bytes())
    html = render_run_report(folder)
    docs = {name: json.loads((folder / f"{name}.json").read_text()) for name in ("summary", "invoice")}
    seen = set()
    for key, text in shown_keys(html):
        source, _, path = key.partition(":")
        if source in docs:
            assert as_number(text) == Decimal(str(value_at(docs[source], path))), (key, text)
            seen.add(key)
    groups = re.search(r'<section id="groups">(.*?)</section>', html, re.S)
    assert groups is not None
    return html, docs["summary"], groups.group(1), seen


def test_a_run_folder_without_its_scenario_keeps_its_device_groups(storm_run: Path, tmp_path: Path) -> None:
    """A run folder whose scenario.yaml was left behind (copied without it, or removed): the page
    listed each of the run's device groups with no line (0 sessions, 0 ko invoiced, no cost, beside
    the summary's own figures marked as theirs), then each line's offer and plan as another group,
    so that the devices were counted twice. The invoice's lines are placed in the run's groups by
    the id or id prefix each group names."""
    names = ("summary.json", "invoice.json", "usage.parquet", "alarms.jsonl")
    _, summary, groups, seen = _page_of_a_copy(storm_run, tmp_path / "run", names)
    for g in summary["groups"]:
        assert {f"summary:groups[{g['name']}].{k}" for k in ("devices", "data_sessions", "cost_ht")} <= seen
    rows = re.findall(r"<tr><td>([^<]*)</td>", groups)
    assert rows == [g["name"] for g in summary["groups"]], rows


def test_a_run_folder_without_its_usage_shows_no_records_figure_as_zero(
    storm_run: Path, tmp_path: Path
) -> None:
    """A run folder whose usage files were left behind (too big to copy): the groups showed 0 data
    sessions under the summary's key (the summary has 3,270 for the meters), 0.0 Mo read, beside
    "the usage records read: N records" of the invoice, and the SMS section said there were no SMS
    or call records in the period. They are not known, and the page says so."""
    names = ("summary.json", "invoice.json", "scenario.yaml", "alarms.jsonl")
    html, summary, groups, _ = _page_of_a_copy(storm_run, tmp_path / "run", names)
    assert "No usage records in this folder" in groups
    for g in summary["groups"]:
        row = re.search(rf"<tr><td>{g['name']}</td>(.*?)</tr>", groups)
        assert row is not None
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
        assert cells[1:4] == ["–", "–", "–"], cells  # sessions, volume and roaming read
    assert "No SMS or call records in this period" not in html
    storm = re.search(r'<section id="storm">(.*?)</section>', html, re.S)
    assert storm is not None and "reconnection records" not in storm.group(1)  # (a table of zeros)
    assert "the records in each outage's window are not known" in storm.group(1).replace("&#x27;", "'")


def test_a_line_not_active_in_the_month_is_not_among_the_costliest(tmp_path: Path) -> None:
    """A line activated after the billing month is listed in the invoice with no items: the page
    listed it among the "Costliest lines" at 0.00 with an empty items cell. It is counted under the
    table as not active instead."""
    from reports.run_report import render_rating_report

    (tmp_path / "inventory.yaml").write_text(
        "customer: c\nmonth: 2026-03\nlines:\n"
        "  - {id: L1, offer: business-m2m, plan: compteur, commitment: 24, since: 2025-01-01}\n"
        "  - {id: L2, offer: business-m2m, plan: compteur, commitment: 24, since: 2026-05-01}\n",
        encoding="utf-8",
    )
    (tmp_path / "usage.csv").write_text(
        "line,type,start,bytes_up,bytes_down,zone\nL1,data,2026-03-06T10:00:00Z,1000,2000,fr\n",
        encoding="utf-8",
    )
    page = render_rating_report(tmp_path / "inventory.yaml", tmp_path / "usage.csv")
    costliest = page.split('<section id="lines">', 1)[1].split("</section>", 1)[0]
    assert "<td>L1</td>" in costliest and "<td>L2</td>" not in costliest
    assert "1 line not active in the month (activated after it): no items, not listed." in costliest


def _fleet_as_listed(page: str) -> tuple[int, str]:
    """The devices the page's device groups list, when the headline counts as many (else fails), and
    the headline's cost per device, checked to be the invoice's total over them."""
    groups = page[page.index('id="groups"') : page.index('id="traffic"')]
    rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", groups)
    devices = {name: re.findall(r'<td class="num"[^>]*>([^<]*)</td>', cells)[0] for name, cells in rows}
    in_groups = sum(int(as_number(n)) for n in devices.values() if n.strip())
    assert f"{in_groups:,} devices ·" in page
    total = re.search(r"total cost HT.*?([\d,]+\.\d\d) EUR", page, re.S)
    assert total is not None
    per_device = (as_number(total.group(1)) / in_groups).quantize(Decimal("0.01"), ROUND_HALF_UP)
    headline = page[page.index('id="headline"') :].split("</section>", 1)[0]
    assert f"{per_device:,.2f} EUR" in headline
    return in_groups, f"{per_device:,.2f}"


def test_the_fleet_in_the_headline_is_the_device_groups_devices() -> None:
    """`rate --report` on the example month: the headline counted the invoice's lines, 9 devices,
    leaving out the two lines with an inventory error, while the device groups below counted every
    line of the inventory, 3 + 8 = 11 devices; the cost per device divided by 9 there."""
    import yaml

    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    inventory = inventory_from_dict(yaml.safe_load((month / "inventory.yaml").read_text()), "inventory.yaml")
    page = render_rating_report(month / "inventory.yaml", month / "usage.csv")
    assert _fleet_as_listed(page)[0] == len(inventory.lines) == 11


def test_a_folder_of_rate_outputs_counts_the_lines_with_an_inventory_error_as_rate_report_does(
    tmp_path: Path,
) -> None:
    """`m2msim report` on a folder of `rate --json --out` and the usage (no inventory): the headline
    and the device groups counted the invoice's lines, 9 devices, and the cost per device divided by
    9, where `rate --report` made of the same month counted the inventory's 11 (the two lines with
    an inventory error are the invoice's errors, not its lines), and their records were listed as of
    lines not in the inventory."""
    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    (tmp_path / "usage.csv").write_bytes((month / "usage.csv").read_bytes())
    assert (
        m2msim(
            [
                "rate",
                str(month / "inventory.yaml"),
                str(tmp_path / "usage.csv"),
                "--json",
                "--out",
                str(tmp_path / "invoice.json"),
            ]
        )
        == 0
    )
    page = render_run_report(tmp_path)
    assert (
        _fleet_as_listed(page)
        == _fleet_as_listed(render_rating_report(month / "inventory.yaml", month / "usage.csv"))
        == (11, "250.36")
    )
    groups = page[page.index('id="groups"') : page.index('id="traffic"')]
    # (the records of a line not in the inventory and of one with an inventory error, rejected, are
    # not counted: the lines are, as the fleet's)
    assert "(not in the inventory)" not in groups
    assert re.search(r"<tr><td>\(inventory error\)</td><td[^>]*>2</td><td[^>]*>0</td>", groups)


def test_the_footer_names_the_files_the_page_was_made_from(storm_run: Path, tmp_path: Path) -> None:
    """The footer said every page was made from summary.json, invoice.json, scenario.yaml, usage
    records and alarms.jsonl: a folder of `rate --json --out` and its usage holds two of them."""
    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    (tmp_path / "usage.csv").write_bytes((month / "usage.csv").read_bytes())
    args = [str(month / "inventory.yaml"), str(tmp_path / "usage.csv"), "--json", "--out"]
    assert m2msim(["rate", *args, str(tmp_path / "march.json")]) == 0

    def footer(page: str) -> str:
        return page[page.index("<footer>") : page.index("</footer>")]

    assert "from the folder&#x27;s files (march.json, usage.csv);" in footer(render_run_report(tmp_path))
    rated = footer(render_rating_report(month / "inventory.yaml", tmp_path / "usage.csv"))
    assert "from the month as rated, and the usage records of usage.csv;" in rated
    whole = "(summary.json, invoice.json, scenario.yaml, usage.parquet, alarms.jsonl)"
    assert whole in footer(render_run_report(storm_run))


def test_the_footer_counts_a_runs_many_usage_parts() -> None:
    """A run of 16 shards' parts: the footer says how many and where, not each name."""
    from reports.data import RunFiles
    from reports.run_report import _sources

    run = Path("/runs/big")
    parts = [run / "usage" / f"part-{i:05d}.parquet" for i in range(16)]
    files = RunFiles(run, summary={}, usage=parts, paths={"summary": run / "summary.json"})
    assert _sources(files) == "the folder's files (summary.json, 16 usage files in usage)"


def test_the_sms_and_calls_chart_counts_the_records_its_table_lists() -> None:
    """The example month's table lists 4 SMS and 3 SMS Internet records (sent to the devices by the
    fleet's SMS Internet service) and 7 calls; the chart below it, drawn from the same records,
    counted the SMS Internet ones nowhere: 4 SMS in all."""
    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    page = render_rating_report(month / "inventory.yaml", month / "usage.csv")
    section = page[page.index('<section id="sms">') :].split("</section>", 1)[0]
    listed: dict[str, int] = {"SMS": 0, "calls": 0}
    for cells in re.findall(r"<tr>(<td>.*?)</tr>", section):
        texts = re.findall(r"<td[^>]*>([^<]*)</td>", cells)
        if len(texts) == 5 and texts[1] in ("sms", "sms_internet", "voice", "csd"):
            listed["SMS" if texts[1].startswith("sms") else "calls"] += int(as_number(texts[3]))
    drawn: dict[str, int] = {"SMS": 0, "calls": 0}
    for name, n in re.findall(r"<title>(SMS|calls), \d\d \w+ UTC: ([\d,]+) records</title>", section):
        drawn[name] += int(as_number(n))
    assert (
        listed == drawn == {"SMS": 6, "calls": 6}
    )  # (an SMS and a call rejected by the rating, not counted)


def test_the_fleets_sms_internet_records_are_not_said_to_be_of_lines_not_in_the_inventory() -> None:
    """The example month's 3 SMS Internet records (no line: the fleet's service, 2 billed to the
    fleet) were listed under "(not in the inventory)", as the record of an unknown line the rating
    rejects, beside the invoice's bill for them."""
    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    page = render_rating_report(month / "inventory.yaml", month / "usage.csv")
    section = page[page.index('<section id="sms">') :].split("</section>", 1)[0]
    assert re.search(r"<td>\(fleet services, no line\)</td><td>sms_internet</td><td>orange-fr</td>", section)
    assert "<td>(not in the inventory)</td><td>sms_internet</td>" not in section


def test_the_fleets_records_of_no_line_are_not_a_device_group_costing_nothing() -> None:
    """The example month's SMS Internet records (no line) made a device group of their own in the
    groups' table and charts, '(fleet services, no line)': 0 devices, and a bar saying it cost
    0.00 EUR HT, beside the row of the fleet's services billed 2,625.43 EUR."""
    from reports.run_report import render_rating_report

    month = SCENARIOS / "example-month"
    page = render_rating_report(month / "inventory.yaml", month / "usage.csv")
    groups = page[page.index('id="groups"') : page.index('id="traffic"')]
    assert "(fleet services, no line)" not in groups
    assert re.search(r"<td>fleet services \(billed to no line\)</td>.*?2,625\.43 EUR", groups, re.S)


def test_the_text_outputs_of_a_partial_run_say_its_days(
    storm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compare RUN` of a one-day run said "saving N EUR a month" and "this month's usage" with no
    word of the day its usage covers (its --json says `usage_covers`): the saving of one day's usage
    read as a month's. `rate RUN` writes the lines of the run's own invoice.txt."""
    import yaml

    inventory = yaml.safe_load((storm_run / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    args = [str(tmp_path / "inventory.yaml"), str(storm_run)]
    capsys.readouterr()
    assert m2msim(["rate", *args]) == 0
    assert (
        capsys.readouterr().out.rstrip() == (storm_run / "invoice.txt").read_text(encoding="utf-8").rstrip()
    )
    assert m2msim(["compare", *args]) == 0
    text = capsys.readouterr().out
    head = text[: text.index("Fleet scenarios")]
    assert "usage covers" in head and "1 of the month's 31 days" in head
    assert "a month" not in head and "this month's usage" not in head


def test_rate_of_a_partial_run_whose_usage_was_replaced_projects_nothing(
    storm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A one-day run's usage.parquet replaced by another file (a whole month's records put in its
    place): `rate RUN` still took the run's day from its summary.json and projected that usage x31.
    The days are the run's usage's only while that usage is the run's as written."""
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(storm_run, run, copy_function=shutil.copy2)  # (as written: the run's)
    inventory = yaml.safe_load((run / "scenario.yaml").read_text())["inventory"]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    args = [str(tmp_path / "inventory.yaml"), str(run / "usage.parquet"), "--json"]
    capsys.readouterr()
    assert m2msim(["rate", *args]) == 0
    assert "usage_covers" in json.loads(capsys.readouterr().out)
    os.utime(run / "usage.parquet", ns=(0, 1_000_000_000))  # (another file: not the run's version)
    assert m2msim(["rate", *args]) == 0
    out = capsys.readouterr()
    assert "usage_covers" not in json.loads(out.out) and "projected_month" not in json.loads(out.out)
    assert "usage.parquet is not the run's as it wrote it" in caplog.text


def test_a_partial_runs_usage_file_alone_is_said_to_tell_no_period_nor_fleet(
    storm_run: Path, tmp_path: Path
) -> None:
    """The `usage.parquet` of a one-day run, alone in a folder: the headline said "period 0.997847
    days" (its records' first and last starts, not the days the run covered, which its summary.json
    says), "0 devices" of a fleet it cannot tell, its records' lines a group "(not in the inventory)"
    of 0 devices where there is none, and the chart of the cost per device group drew
    each group at 0.00 where the table said "–" (no invoice)."""
    folder = tmp_path / "alone"
    folder.mkdir()
    (folder / "usage.parquet").write_bytes((storm_run / "usage.parquet").read_bytes())
    html = render_run_report(folder)
    headline = html[html.index('id="headline"') :].split("</section>", 1)[0]
    cards = [
        re.sub(r"<[^>]+>", " ", c) for c in re.findall(r'<div class="kpi">(.*?)</div>\s*</div>', headline)
    ]
    text = " ".join(" ".join(cards).split())
    assert "period 0" not in text and " days" not in text and "0 devices" not in text, text
    assert "fleet not known" in text and "records dated 01 Mar 2026 00:" in text, text
    assert "the period they cover is not known here" in text
    assert "devices not known · records dated 01 Mar 2026" in html
    assert 'id="plot-group-cost"' not in html
    assert "(not in the inventory)" not in html  # (of no inventory: a group of "0" devices)
    groups = html[html.index('id="groups"') : html.index('id="traffic"')]
    assert re.search(r"<tr><td>\(no inventory here\)</td><td class=\"num\">–</td><td[^>]*>[1-9]", groups)
    # (a run's folder: its period and its fleet, the cost chart)
    run = render_run_report(storm_run)
    assert "records dated" not in run and "8 devices" in run and 'id="plot-group-cost"' in run


def test_records_alone_ending_on_a_months_last_second_are_dated_to_that_day(
    storm_run: Path, tmp_path: Path
) -> None:
    """Usage records alone, the last started at 31 Mar 23:59:59: the page's heading said "records
    dated 30 Mar 2026 – 01 Apr 2026" (the period's end, a second past the last start) where the
    headline said 31 Mar 23:59."""
    import duckdb

    folder = tmp_path / "alone"
    folder.mkdir()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "COPY (SELECT * REPLACE (start + (TIMESTAMP '2026-03-31 23:59:59' - max(start::TIMESTAMP) OVER ()) "
        f"AS start) FROM '{storm_run / 'usage.parquet'}') TO '{folder / 'usage.parquet'}' (FORMAT parquet)"
    )
    html = render_run_report(folder)
    assert "31 Mar 2026 23:59 UTC" in html
    assert re.search(r"records dated \d\d Mar 2026 – 31 Mar 2026", html), html[:2000]
    assert "01 Apr 2026" not in html
