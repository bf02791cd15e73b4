"""The page's labels say which usage records its figures count: those billed when the folder has
an invoice (the rows it lists as rejected left out), every record read when it has none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzzing import run_cli

HEADER = "line,type,start,duration_s,bytes_up,bytes_down,zone,dest,delivered,session\n"
ROWS = [
    "A1,data,2026-03-05T10:00:00Z,60,1048576,1048576,fr,,,s1",
    "A1,sms,2026-03-05T11:00:00Z,,,,fr,fr-mobile,,",
    "A1,voice,2026-03-06T11:00:00Z,60,,,fr,fr-mobile,,",
]
LABELS = (
    "Data volume per device group (Mo, records {w})",
    "per device group (records {w})",
    "(all groups, records {w})",
    '<th class="num">records {w}</th>',
    '<th class="num">seconds {w}</th>',
    '<th class="num">data sessions {w}</th>',
    '<th class="num">volume {w}</th>',
    '<th class="num">roaming ({w})</th>',
)


def test_a_pages_labels_say_records_billed_beside_an_invoice(storm_run: Path) -> None:
    """The figures drawn from the usage records count the records billed since the page leaves out
    the invoice's rejects: their labels said "records read"."""
    html = (storm_run / "report.html").read_text(encoding="utf-8")
    for label in (*LABELS[:2], "ko of the retry records {w}"):
        assert label.format(w="billed") in html, label
        assert label.format(w="read") not in html, label


@pytest.mark.parametrize("invoice", [True, False])
def test_the_sms_and_data_labels_say_which_records(tmp_path: Path, invoice: bool) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "usage.csv").write_text(HEADER + "".join(r + "\n" for r in ROWS), encoding="utf-8")
    if invoice:
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(
            "customer: c\nmonth: 2026-03\nlines:\n  - {id: A1, offer: business-m2m, plan: forfait-2mo, "
            "commitment: 24, since: 2025-01-15}\n",
            encoding="utf-8",
        )
        rated = run_cli(["rate", str(inventory), str(folder / "usage.csv"), "--json"])
        assert rated.rc == 0, rated
        (folder / "invoice.json").write_text(json.dumps(json.loads(rated.out)), encoding="utf-8")
    assert run_cli(["report", str(folder)]).rc == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    said, not_said = ("billed", "read") if invoice else ("read", "billed")
    for label in LABELS:
        assert label.format(w=said) in html, label
        assert label.format(w=not_said) not in html, label
