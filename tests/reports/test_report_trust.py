"""What a page can be trusted for: names from the inputs (an inventory, a usage file, a scenario, a
bench's report and transcript, a folder's name) stay text, whatever markup they hold: no element or
attribute of the page comes from them."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from m2msim.cli import main as m2msim
from simulator.run import simulate
from simulator.scenario import parse_scenario

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
