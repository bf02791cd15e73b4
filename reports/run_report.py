"""The report of a run (or of a `rate`/`compare` output): what the fleet costs, on which offer, when it
peaks, what an outage's retry storm does, which lines raise alarms.

Every figure is aggregated in DuckDB over the folder's views (`reports.data`) before it is drawn:
a month of 10,000 devices (some 30 million records) comes down to a few thousand numbers.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accounting.db import duckdb
from accounting.errors import AccountingError
from accounting.invoice import FIXED_UNITS, as_utc, run_coverage
from accounting.money import cents
from accounting.records import Zone
from accounting.usage import disable_optimizers
from gateway.plmn import default_table
from reports import svg
from reports.data import (
    Rejects,
    ReportError,
    RunFiles,
    connect,
    damaged_usage,
    failed_sql,
    find_files,
    records_counted,
    rejects_of,
    unbilled_lines,
)
from reports.hourly import HourlyUsage
from reports.page import Page, count, date_text, e, kpi, money, table, td, tr
from reports.run_common import (
    CENT,
    NO_INVENTORY_GROUP,
    RECORD_GROUP_SQL,
    UNKNOWN_LINE_GROUP,
    Period,
    mo,
    parse_time,
)
from reports.run_cost import comparison, costliest_section, groups_section, offers_section, problems_section
from reports.run_time import alarms_section, sms_calls_section, storm_section, traffic_section
from reports.shapes import check_documents

if TYPE_CHECKING:
    from accounting.engine import RatingRun

log = logging.getLogger(__name__)


def _period(files: RunFiles, con: duckdb.DuckDBPyConnection) -> Period | None:
    if files.summary and isinstance(files.summary.get("period"), dict):
        p = files.summary["period"]
        return Period(parse_time(p["start"]), parse_time(p["end"]))
    # (an invoice or a comparison of part of the month: its days, not the month's)
    for doc in (files.invoice or {}, files.comparison or {}):
        covers = doc.get("usage_covers")
        if isinstance(covers, dict) and covers.get("start") and covers.get("end"):
            return Period(parse_time(covers["start"]), parse_time(covers["end"]))
    month = (files.invoice or files.comparison or {}).get("month")
    if isinstance(month, str) and len(month) == 7:
        y, m = int(month[:4]), int(month[5:])
        start = datetime(y, m, 1, tzinfo=UTC)
        return Period(start, start + timedelta(days=calendar.monthrange(y, m)[1]))
    row = con.execute("SELECT min(start), max(start) FROM usage").fetchone()
    if row and row[0] is not None:
        # (the view's starts are TIMESTAMPTZ, read in UTC; a naive one, of a TIMESTAMP, is UTC too,
        # where `astimezone` took it for the machine's local time)
        return Period(as_utc(row[0]), as_utc(row[1]) + timedelta(seconds=1), from_records=True)
    return None


# ---------------------------------------------------------------------------------------------------
# Sections


def _projected(files: RunFiles, period: Period | None) -> tuple[Decimal, str] | None:
    """The month's projected cost when the period is shorter than the billing month, and how it was made.

    The run's own projection (summary's, else invoice.json's `projected_month.total_ht`) is used
    when it has one; else the invoice's rule (`accounting.invoice.PROJECTION_RULE`): subscriptions,
    options and fees (units `FIXED_UNITS`) as billed, the other charges, fleet's too, scaled by
    month days / period days.
    """
    if period is None or files.invoice is None or period.days >= period.month_days() - 1e-9:
        return None
    for doc in (files.summary or {}, files.invoice):
        proj = doc.get("projected_month")
        if isinstance(proj, dict) and proj.get("total_ht") is not None:
            return Decimal(str(proj["total_ht"])), "the run's projection"
    factor = Decimal(period.month_days()) / Decimal(str(round(period.days, 6)))
    usage = fixed = Decimal(0)
    items = [it for bill in files.invoice.get("lines", []) for it in bill.get("items", [])]
    for it in items + list(files.invoice.get("fleet", [])):
        amount = Decimal(str(it.get("amount", "0")))
        if it.get("unit") in FIXED_UNITS:
            fixed += amount
        else:
            usage += amount
    how = f"subscriptions, options and fees as billed, usage × {period.month_days()}/{period.days:g} days"
    return cents(usage * factor) + fixed, how


def _covers(files: RunFiles, period: Period | None) -> tuple[str, int] | None:
    """(days, days in the month) when the run's usage covers part of the billing month only: the
    run's `usage_covers` (summary's, else invoice.json's, else comparison.json's), else a run's
    period shorter than its month."""
    for doc in (files.summary or {}, files.invoice or {}, files.comparison or {}):
        c = doc.get("usage_covers")
        if isinstance(c, dict) and c.get("days") is not None:
            return str(c["days"]), int(c.get("days_in_month") or 0)
    if files.summary and period is not None and period.days < period.month_days() - 1e-9:
        return f"{round(period.days, 6):g}", period.month_days()
    return None


def _fleet_known(files: RunFiles) -> bool:
    """Whether the folder tells the fleet's lines (a run's summary, an inventory, an invoice or a
    comparison): usage records alone do not (they said "0 devices")."""
    return bool(files.summary or files.inventory or files.invoice is not None or files.comparison is not None)


def _no_inventory(group: str) -> str:
    """A records' group where the folder holds no inventory (`_fleet_known`): its lines are in
    none, not "not in the inventory"."""
    return NO_INVENTORY_GROUP if group == UNKNOWN_LINE_GROUP else group


def _headline(files: RunFiles, period: Period | None, devices: int, currency: str) -> str:
    s, inv = files.summary or {}, files.invoice
    cards = [
        kpi("fleet", f"{devices:,} devices", key="summary:devices" if s else None)
        if _fleet_known(files)
        else kpi("fleet", "not known", "no inventory, run summary nor invoice here")
    ]
    if period is not None and period.from_records:
        # (usage records alone: their first and last times are not the period they cover, which a
        # run of part of the month says in its summary.json; it said "period 0.997847 days")
        last = period.end - timedelta(seconds=1)
        cards.append(
            kpi(
                "records dated",
                f"{date_text(period.start, '%d %b %Y %H:%M')} – {date_text(last, '%d %b %Y %H:%M')} UTC",
                "the first and last records' starts; the period they cover is not known here "
                "(a run's summary.json or an invoice says it)",
            )
        )
    elif period is not None:
        cards.append(
            kpi(
                "period",
                f"{period.days:g} days",
                f"{date_text(period.start, '%d %b %Y %H:%M')} – {date_text(period.end, '%d %b %Y %H:%M')} UTC",
            )
        )
    projected = _projected(files, period)
    if inv is not None:
        total = Decimal(str(inv["total_ht"]))
        note = f"billing month {inv.get('month', '')}, {inv.get('catalog', '')}"
        cards.append(kpi("total cost HT", money(total, currency), note, key="invoice:total_ht", accent=True))
        base = projected[0] if projected else total
        if devices:
            per = (base / devices).quantize(CENT, ROUND_HALF_UP)
            what = "on the projected month" if projected else "the billing month"
            cards.append(kpi("cost per device per month", money(per, currency), what))
        if projected:
            cards.append(kpi("projected month HT", money(projected[0], currency), projected[1], accent=True))
    if s:
        t = s["totals"]
        # sessions, not records: a session is a record per 12-hour period and its end (a 30-hour
        # session, 3 records), both said, each under its own label
        records = t.get("data_records")
        note = f"{count(records)} data records (a session's 12-hour periods)" if records is not None else ""
        cards.append(
            kpi("data sessions", count(t["data_sessions"]), note, key="summary:totals.data_sessions")
        )
        cards.append(
            kpi(
                "billable volume",
                f"{t['billable_ko']:,} ko",
                mo(t["bytes_up"] + t["bytes_down"]) + " on the wire",
                key="summary:totals.billable_ko",
            )
        )
        cards.append(kpi("alarms", count(s["alarms"]["total"]), key="summary:alarms.total"))
    return f'<div class="kpis">{"".join(cards)}</div>'


def _minute(text: Any) -> str:
    return f"{parse_time(text):%Y-%m-%dT%H:%M}"


def _scenario(files: RunFiles) -> str:
    s = files.summary or {}
    sc = files.scenario or {}
    run = sc.get("run") if isinstance(sc.get("run"), dict) else {}
    rows = []

    def row(k: str, v: Any, key: str | None = None) -> None:
        rows.append(tr([td(k), f"<td{f' data-key={chr(34)}{e(key)}{chr(34)}' if key else ''}>{e(v)}</td>"]))

    if s or sc:
        row("scenario", s.get("scenario") or sc.get("name", "–"))
        if sc.get("description"):
            row("description", " ".join(str(sc["description"]).split()))
        row("seed", s.get("seed", sc.get("seed", "–")), "summary:seed" if s else None)
        if s:
            row("shards", s.get("shards"), "summary:shards")
        shard_devices = (run or {}).get("shard_devices") or sc.get("shard_devices")
        if shard_devices:
            row("devices per shard", shard_devices)
        if isinstance(s.get("period"), dict):
            row("period (UTC)", f"{_minute(s['period']['start'])} to {_minute(s['period']['end'])}")
        for o in s.get("outages") or []:
            where = ", ".join(o.get("groups") or []) or "every group"
            row(f"{o.get('kind', '')} outage", f"{_minute(o['start'])} to {_minute(o['end'])} UTC ({where})")
        if s:
            row("usage records", f"{s.get('usage_records', 0):,}", "summary:usage_records")
            inc = s.get("gateway_incidents") or {}
            row(
                "refused by the gateway as bad input",
                ", ".join(f"{k} {v:,}" for k, v in inc.items()) or "none",
            )
    if files.invoice:
        row("customer", files.invoice.get("customer"))
        row("catalog", files.invoice.get("catalog"))
    replay = ""
    if files.scenario is not None:
        replay = (
            "<p>To replay this run bit for bit: <code>m2msim run RUN_DIR/scenario.yaml --out OTHER_DIR</code> "
            "(the scenario as run, seed and "
            "overrides included; the results do not depend on the number of workers).</p>"
        )
    return table(["", ""], rows) + replay


# ---------------------------------------------------------------------------------------------------


def hourly_usage(con: duckdb.DuckDBPyConnection) -> HourlyUsage:
    """Per hour and device group: volume, billable ko, sessions, failed, SMS, calls, call s, roaming
    volume (`record_sums`)."""
    return record_sums(con)[0]


CallRow = tuple[str, str, str | None, int, int]  # device group, type, destination, records, seconds


def record_sums(con: duckdb.DuckDBPyConnection) -> tuple[HourlyUsage, list[CallRow]]:
    """The records' sums per hour and device group, and their SMS and calls per device group, type
    and destination (the "SMS and calls" table), in one pass over every record.

    Grouped by hour, device group, record type and destination with no filter on the type (one
    hash of the type per row instead of a comparison per figure); the few thousand groups are
    then folded per hour and group (`HourlyUsage`, records with a start only), and per group,
    type and destination (every record of those types).  Hours are bucketed on the epoch
    (integer arithmetic, no time zone rules to apply per row).  A CSV's records were read twice
    for the two (3.5 of 12 s for 30 M rows).
    """
    # roaming: carried in a network outside France (the serving network's zone, not the record's:
    # a session opened at home is rated at home after a move abroad), else a zone other than fr
    home = ", ".join(f"'{mcc}'" for mcc in default_table().mccs(Zone.FR))
    abroad = (
        f"CASE WHEN coalesce(u.serving_plmn, '') = '' THEN u.zone <> 'fr' "
        f"ELSE left(u.serving_plmn, 3) NOT IN ({home}) END"
    )
    rows = con.execute(
        f"SELECT epoch_ms(u.start) // 3600000 AS h, {_GROUP} AS g, "
        f"u.type, u.dest, sum({_VOLUME}), sum(({_VOLUME} + 1023) // 1024), "
        f"count(*) FILTER ({_OPENS}), count(*) FILTER ({_UNNUMBERED}), count(*) FILTER ({failed_sql('u.')}), "
        f"count(*), sum(u.duration_s), sum({_VOLUME}) FILTER ({abroad}) "
        "FROM usage u LEFT JOIN lines l USING (line) GROUP BY ALL"
    ).fetchall()
    out = HourlyUsage()
    calls: dict[tuple[str, str, str | None], list[int]] = {}
    unnumbered = 0
    for h, g, kind, dest, vol, ko, first, loose, failed, n, seconds, roaming in rows:
        unnumbered += int(loose) if kind == "data" else 0
        if kind in _CALL_TYPES:
            found = calls.setdefault((g, kind, dest), [0, 0])
            found[0] += int(n)
            found[1] += int(seconds or 0)
        if h is None:
            continue
        out.add(
            int(h),
            g,
            kind,
            records=int(n),
            volume=int(vol or 0),
            ko=int(ko or 0),
            first=int(first),
            failed=int(failed),
            seconds=int(seconds or 0),
            roaming=int(roaming or 0),
        )
    if unnumbered:  # records of a session id without a sequence number: the session at its first
        for h, g, opened in con.execute(
            "SELECT h, g, count(*) FROM (SELECT epoch_ms(min(u.start)) // 3600000 AS h, "
            f"{_GROUP} AS g FROM usage u LEFT JOIN lines l USING (line) "
            f"WHERE u.type = 'data' AND {_UNNUMBERED} GROUP BY u.line, u.session, g) GROUP BY ALL"
        ).fetchall():
            if h is not None:
                out.add(int(h), g, "data", first=int(opened))
    listed = sorted(calls.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] is None, kv[0][2] or ""))
    return out, [(g, kind, dest, n, seconds) for (g, kind, dest), (n, seconds) in listed]


_GROUP = RECORD_GROUP_SQL
# A record's bytes, added as a 128-bit integer: two counts past 2^62 (a file of another writer, or
# damaged) overflowed the 64-bit addition and the page was refused naming the folder, not the file.
_VOLUME = "(u.bytes_up::HUGEINT + u.bytes_down)"
# A data session is counted once, at the record that opens it: the gateway numbers a session's
# records (`sequence` 1, 2, ... one per 12-hour period and its end), so the one numbered 1; a
# session id whose records carry no number (an operator's export, a CSV of the schema's columns)
# at its first record (`_UNNUMBERED`, grouped by line and session id); a record with neither is a
# session of its own.  Counting records instead made a 30-hour session of such a file 3 sessions.
_OPENS = "u.sequence <= 1 OR (u.sequence IS NULL AND coalesce(u.session, '') = '')"
_UNNUMBERED = "(u.sequence IS NULL AND coalesce(u.session, '') <> '')"


_CALL_TYPES = frozenset(("sms", "voice", "csd", "sms_internet"))


def render_files(files: RunFiles, *, threads: int | None = None, hourly: HourlyUsage | None = None) -> str:
    """The report of what `files` holds (see `render_run_report`).

    `hourly`: the records' sums per hour and device group when the caller counted them as it
    wrote the records (`m2msim run`); else the page aggregates the records itself.
    """
    check_documents(files)
    rejects = rejects_of(files)  # (once a page: 100,000 listed cost 0.12 CPU-s)
    con = connect(files, threads, rejects=rejects)
    # The page's joins are the records against the small `lines` table, written so. DuckDB knows
    # no row count of a CSV and chose to build its hash table on the records (30 M CSV rows: 2.9
    # GB and 10.8 s for one join, against 261 MB and 6.3 s as written).
    with contextlib.suppress(duckdb.Error):  # (a DuckDB before 1.1 has no such step: its own choice)
        disable_optimizers(con, "build_side_probe_side")  # (beside those `connect` turned off)
    try:
        return _render(files, con, hourly, rejects)
    except duckdb.Error as exc:
        raise damaged_usage(files) or ReportError(
            f"{files.folder}: cannot aggregate the records: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        con.close()


def _render(
    files: RunFiles, con: duckdb.DuckDBPyConnection, tally: HourlyUsage | None, rejects: Rejects
) -> str:
    period = _period(files, con)
    s = files.summary or {}
    inv = files.invoice or {}
    cur = inv.get("currency") or (files.comparison or {}).get("currency") or "EUR"
    # (the inventory's lines, as the device groups count them: the invoice's lines leave out a line
    # with an inventory error, listed among its errors; a `compare --json` output alone: its lines,
    # each line that was compared)
    devices = int(
        s.get("devices")
        or len(
            (files.inventory.lines if files.inventory is not None else None)
            or (inv.get("lines") or []) + unbilled_lines(inv)
            or (files.comparison or {}).get("lines")
            or []
        )
    )
    name = (
        s.get("scenario")
        or inv.get("customer")
        or (files.comparison or {}).get("customer")
        or files.folder.name
    )
    calls = None  # (a run's tally has no destinations: `sms_calls_section` asks the records)
    if tally is None or rejects.rows:
        # (a run's tally counted every record its shards wrote, those the invoice rejects too: a
        # line with an inventory error drew its sessions and roaming beside its bill of nothing)
        tally, calls = record_sums(con)
    hourly = tally.rows()
    if not _fleet_known(files):
        hourly = [(r[0], _no_inventory(r[1]), *r[2:]) for r in hourly]
        calls = calls and [(_no_inventory(r[0]), *r[1:]) for r in calls]
    groups = [g["name"] for g in s.get("groups", [])] or sorted({r[1] for r in hourly})
    bands = [
        svg.Band(
            parse_time(o["start"]).timestamp(),
            parse_time(o["end"]).timestamp(),
            f"{o.get('kind', '')} outage",
        )
        for o in s.get("outages") or []
    ]
    when = ""
    if period is not None:
        # (of records: the last record's start, as the headline says; the period's end is a second past it)
        last = period.end - timedelta(seconds=1) if period.from_records else period.end
        when = f"{date_text(period.start, '%d %b %Y')} – {date_text(last, '%d %b %Y')}"
        if period.from_records:
            when = f"records dated {when}"
    fleet = f"{devices:,} devices" if _fleet_known(files) else "devices not known"
    page = Page(f"m2msim report: {name}", f"{fleet} · {when}")
    page.add("headline", "Headline", _headline(files, period, devices, cur))
    cmp = comparison(files, con)
    if cmp is not None:
        page.add("offers", "Cost per offer and plan", offers_section(cmp, _covers(files, period)))
    # (the records' figures are known when the folder holds them, or the run handed over their sums)
    read = bool(files.usage) or calls is None
    page.add(
        "groups", "Cost and volume per device group", groups_section(files, con, hourly, cur, rejects, read)
    )
    page.add(
        "traffic",
        "Volume and sessions over time",
        traffic_section(period, hourly, groups, bands, records_counted(files), read=read),
    )
    if files.summary is not None:
        page.add("storm", "Outages and retry storms", storm_section(files, con, cur))
    page.add("alarms", "Alarms", alarms_section(con, period))
    page.add("lines", "Costliest lines", costliest_section(files, con, cur))
    page.add("problems", "Rejects and inventory errors", problems_section(files, cur))
    page.add("sms", "SMS and calls", sms_calls_section(files, hourly, groups, con, rejects, calls, period))
    page.add("scenario", "The scenario as run", _scenario(files))
    page.footer = (
        f"Made by m2msim from {e(_sources(files))}; amounts in {e(cur)} HT as invoiced. The same data "
        'answers SQL: <code>m2msim sql RUN_DIR "SELECT …"</code>.'
    )
    return page.render()


MOST_USAGE_NAMED = 3  # the usage files the footer names one by one; past them, how many and where


def _sources(files: RunFiles) -> str:
    """What the page was made from, the files it read by name: the footer named summary.json,
    scenario.yaml and alarms.jsonl under a page of a folder holding an invoice and its usage alone."""

    def shown(path: Path) -> str:
        return str(path.relative_to(files.folder)) if path.is_relative_to(files.folder) else str(path)

    names = [shown(files.paths[k]) for k in ("summary", "invoice", "comparison") if k in files.paths]
    if files.scenario is not None:
        names.append("scenario.yaml")
    if len(files.usage) > MOST_USAGE_NAMED:
        where = {shown(p.parent) for p in files.usage}
        names.append(f"{len(files.usage):,} usage files in {', '.join(sorted(where))}")
    else:
        names += [shown(p) for p in files.usage]
    if files.alarms is not None:
        names.append(shown(files.alarms))
    # (`rate`/`compare --report`: the invoice and the comparison are the command's, read from no file)
    rated = files.invoice is not None and "invoice" not in files.paths
    listed = ", ".join(names)
    if rated:
        return f"the month as rated, and the usage records of {listed}" if names else "the month as rated"
    return f"the folder's files ({listed})"


def render_run_report(run_dir: Path | str, *, threads: int | None = None) -> str:
    """The HTML report of a run folder, or of a folder holding `rate` / `compare` outputs."""
    return render_files(find_files(run_dir), threads=threads)


__all__ = ["hourly_usage", "record_sums", "render_files", "render_rating_report", "render_run_report"]


def render_rating_report(
    inventory: Path | str, usage: Path | str, catalog: str | None = None, *, run: RatingRun | None = None
) -> str:
    """The report of `m2msim rate`/`compare INVENTORY USAGE`: the month rated (`run`: as the
    command rated it) and compared, then drawn."""
    from accounting import compare, load_catalog, load_inventory, rate_run

    usage_path = Path(usage)
    try:
        if run is None:
            run = rate_run(load_inventory(inventory), usage, load_catalog(catalog))
        inv = run.inventory
        compared = compare(run)
    except AccountingError as exc:
        raise ReportError(str(exc)) from None
    from accounting.usage import input_files

    invoice = run.invoice
    # (`m2msim rate` and `compare` give their run the coverage already: `accounting.cli`)
    covers = run_coverage(usage_path, invoice.month) if invoice.coverage is None else None
    if covers is not None:  # (its projected month is this invoice's, made by the invoice's rule)
        invoice = dataclasses.replace(invoice, coverage=covers)
        compared = dataclasses.replace(compared, covers=covers)
    files = RunFiles(
        usage_path.parent,
        invoice=invoice.to_dict(),
        comparison=compared.to_dict(),
        inventory=inv,
        usage=input_files([usage_path]),  # (a folder's files, as the rating read them)
    )
    return render_files(files)
