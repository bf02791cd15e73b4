"""The page of a bench run: steps on a time line, each AT command's latency, URCs, the data exchanged,
the cost estimate and the cheapest offer, from the bench folder's `report.json` and `transcript.jsonl`."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from reports import svg
from reports.data import ReportError, RunFiles, find_files
from reports.page import Page, count, e, kpi, money, num, table, td, tr
from reports.shapes import EVENT, check_documents, problem

MAX_COMMAND_BARS = 60
MAX_STEP_ROWS = 60  # the steps' time line's rows at most (the failed, then the longest)
MAX_STEP_TABLE = 200  # the steps listed at most
MAX_URC_KINDS = 50  # the URC table's rows at most, the kinds received most (the others in one row)


def read_events(path: Path | None) -> list[dict[str, Any]]:
    """The transcript's events in order; a line being written (the last, cut short) is left out."""
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    events = []
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            ev = json.loads(text)
        except json.JSONDecodeError as exc:
            if n == len(lines):
                break
            raise ReportError(f"{path}:{n}: not a JSON object: {exc.msg}") from None
        except RecursionError:  # arrays nested 10^5 deep: a traceback before
            raise ReportError(f"{path}:{n}: not a transcript event: nested too deep") from None
        if not isinstance(ev, dict) or "kind" not in ev:
            raise ReportError(f"{path}:{n}: an event is an object with a `kind`")
        wrong = problem(ev, EVENT)
        if wrong is not None:  # (it ended the page in a TypeError naming no file)
            raise ReportError(f"{path}:{n}: {wrong} (not as m2msim writes it)")
        events.append(ev)
    return events


def _estimate(est: dict[str, Any] | None, label: str, key: str) -> str:
    if not est:
        return f'<p class="muted">No {e(label)}.</p>'
    cur = est.get("currency", "EUR")
    parts = [
        f"<h3>{e(label)}: {e(est['offer'])} {e(est['plan'])} {e(est['commitment'])} m, month {e(est['month'])}</h3>"
    ]
    parts.append(
        '<div class="kpis">'
        + "".join(
            [
                kpi(
                    "the run's usage costs",
                    money(est["usage_amount"], cur),
                    "on top of the subscription",
                    key=f"{key}.usage_amount",
                    accent=True,
                ),
                kpi(
                    "the line's month",
                    money(est["month_total"], cur),
                    "with only this usage",
                    key=f"{key}.month_total",
                ),
                kpi(
                    "subscription alone",
                    money(est["subscription_total"], cur),
                    key=f"{key}.subscription_total",
                ),
            ]
        )
        + "</div>"
    )
    items = est.get("items") or []
    if items:
        parts.append(
            table(
                ["item", "quantity", "amount HT", "note"],
                [
                    tr(
                        [
                            td(i.get("code")),
                            num(f"{i.get('quantity')} {i.get('unit')}"),
                            num(money(i.get("amount"), cur)),
                            td(i.get("note") or ""),
                        ]
                    )
                    for i in items
                ],
                numeric=[1, 2],
            )
        )
    cheapest, ctotal = est.get("cheapest"), est.get("cheapest_total")
    if cheapest and ctotal is not None:
        saving = Decimal(str(est["month_total"])) - Decimal(str(ctotal))
        if saving > 0:
            parts.append(
                f'<p class="callout">Cheapest for this usage: <b>{e(cheapest)}</b>, '
                f'<b data-key="{e(key)}.cheapest_total">{e(money(ctotal, cur))}</b> the month '
                f"({e(money(saving, cur))} less).</p>"
            )
        else:
            parts.append(
                f'<p class="ok">The chosen offer is already the cheapest for this usage ({e(cheapest)}).</p>'
            )
    for r in est.get("rejects") or []:
        parts.append(f'<p class="bad">Not priced: {e(r)}</p>')
    for r in est.get("errors") or []:
        parts.append(f'<p class="bad">Inventory error: {e(r)}</p>')
    return "".join(parts)


def _steps(spans: list[tuple[str, float, float, bool]], marks: list[tuple[float, str]]) -> str:
    """The steps on a time line and in a table. Past `MAX_STEP_ROWS` steps (a script's loop: a step
    per SMS of a soak test) the time line draws the failed and the longest, in their order, and the
    table lists the first `MAX_STEP_TABLE`, each saying so: 5,000 steps drew a chart of 5,000 rows,
    120,000 pixels high, and a table of 5,000 rows."""
    drawn = spans
    caption = None
    if len(spans) > MAX_STEP_ROWS:
        worst = sorted(range(len(spans)), key=lambda i: (spans[i][3], -spans[i][2], i))[:MAX_STEP_ROWS]
        drawn = [spans[i] for i in sorted(worst)]
        caption = (
            f"{MAX_STEP_ROWS} of the {len(spans):,} steps are drawn: the failed ones, then the longest; "
            "the URCs are every one."
        )
    rows = [
        tr([td(n), num(f"{t:.3f} s"), num(f"{d:.3f} s"), td("passed" if ok else "failed")])
        for n, t, d, ok in spans[:MAX_STEP_TABLE]
    ]
    more = (
        f'<p class="muted">The first {MAX_STEP_TABLE:,} of {len(spans):,} steps are listed; every one is '
        "in transcript.jsonl (its events of kind step).</p>"
        if len(spans) > MAX_STEP_TABLE
        else ""
    )
    return (
        svg.gantt("plot-steps", "Bench steps and URCs over time", drawn, marks, caption=caption)
        + table(["step", "began", "lasted", ""], rows, numeric=[1, 2])
        + more
    )


def _urc_table(urcs: list[dict[str, Any]]) -> str:
    """URCs by kind (the text before `:`): the `MAX_URC_KINDS` kinds received most, the others summed
    in one row. A modem's line noise (a wrong baud rate) is a URC of its own kind per line: 20,000
    of them made a row each."""
    if not urcs:
        return '<p class="muted">No URC.</p>'
    kinds: dict[str, list[float]] = defaultdict(list)
    for u in urcs:
        kinds[str(u.get("line", "")).split(":")[0]].append(float(u.get("t", 0)))
    listed = sorted(kinds, key=lambda k: -len(kinds[k]))[:MAX_URC_KINDS]
    rows = [
        tr([td(k), num(count(len(v))), num(f"{min(v):.3f} s"), num(f"{max(v):.3f} s")])
        for k, v in kinds.items()
        if k in listed
    ]
    others = [t for k, v in kinds.items() if k not in listed for t in v]
    if others:
        rows.append(
            tr(
                [
                    td(f"{len(kinds) - len(listed):,} other kinds"),
                    num(count(len(others))),
                    num(f"{min(others):.3f} s"),
                    num(f"{max(others):.3f} s"),
                ],
                "total",
            )
        )
    return table(["URC", "count", "first at", "last at"], rows, numeric=[1, 2, 3])


def _latency(commands: list[dict[str, Any]]) -> str:
    if not commands:
        return svg.empty("plot-at-latency", "AT command latency", "no AT command in the transcript")
    if len(commands) <= MAX_COMMAND_BARS:
        rows = [
            (
                f"{c.get('seq', i)} {str(c.get('command', ''))[:34]}",
                float(c.get("duration_s", 0)) * 1000,
                svg.PALETTE[5] if "error" in c or c.get("final") not in (None, "OK", ">") else svg.PALETTE[0],
            )
            for i, c in enumerate(commands)
        ]
        title = "Latency of each AT command, in the order sent"
    else:
        by: dict[str, list[float]] = defaultdict(list)
        for c in commands:
            by[str(c.get("command", "")).split("=")[0].split("?")[0][:34]].append(
                float(c.get("duration_s", 0)) * 1000
            )
        rows = [
            (f"{k} (×{len(v)}, max)", max(v), svg.PALETTE[0])
            for k, v in sorted(by.items(), key=lambda kv: -max(kv[1]))
        ]
        title = "Longest latency per AT command"
    chart = svg.hbar_chart(
        "plot-at-latency",
        title,
        rows,
        x_label="milliseconds from command to final result code",
        x_fmt=lambda v: f"{v:,.2f} ms" if v < 10 else f"{v:,.0f} ms",
        caption="Red: an error or an unexpected final result code. Hover a bar for the exact value.",
    )
    return chart


def render_bench(files: RunFiles) -> str:
    check_documents(files)
    rep = files.bench or {}
    s = rep.get("summary") or {}
    events = read_events(files.transcript)
    commands = [ev for ev in events if ev.get("kind") == "command"]
    urcs = [ev for ev in events if ev.get("kind") == "urc"]
    steps = [ev for ev in events if ev.get("kind") == "step"]
    status = str(s.get("status", "?"))
    page = Page(
        f"m2msim bench: {s.get('script', '?')} — {status.upper()}",
        f"{s.get('url', '')} · profile {s.get('profile', '')} · started {s.get('started', '')} UTC",
    )
    est = rep.get("estimate") or {}
    cur = est.get("currency", "EUR")
    cards = [
        kpi("status", status.upper(), s.get("error") or "", key="report:summary.status", accent=True),
        kpi("duration", f"{float(s.get('duration_s', 0)):,.2f} s", key="report:summary.duration_s"),
        kpi(
            "AT commands",
            count(s.get("at_commands")),
            f"{s.get('at_errors', 0)} errors, {float(s.get('at_time_s', 0)) * 1000:,.1f} ms in all",
            key="report:summary.at_commands",
        ),
        kpi("URCs", count(s.get("urcs")), key="report:summary.urcs"),
    ]
    if est:
        cards.append(
            kpi(
                "usage cost",
                money(est.get("usage_amount"), cur),
                f"{est.get('offer')} {est.get('plan')}",
                key="report:estimate.usage_amount",
            )
        )
        if est.get("cheapest"):
            cards.append(
                kpi(
                    "cheapest offer",
                    str(est["cheapest"]),
                    money(est.get("cheapest_total"), cur) + " the month",
                )
            )
    page.add(
        "headline",
        "Headline",
        f'<div class="kpis">{"".join(cards)}</div>'
        + (f'<p class="bad">Reason: {e(s["error"])}</p>' if s.get("error") else ""),
    )
    spans = [
        (str(st.get("name")), float(st.get("t", 0)), float(st.get("duration_s", 0)), bool(st.get("ok", True)))
        for st in sorted(steps, key=lambda x: float(x.get("t", 0)))
    ]
    marks = [(float(u.get("t", 0)), str(u.get("line", ""))) for u in urcs]
    page.add("steps", "Steps on a time line", _steps(spans, marks))
    page.add("latency", "AT command latency", _latency(commands))
    page.add("urcs", "Unsolicited result codes", _urc_table(urcs))
    usage = rep.get("usage") or {}
    net = rep.get("network")
    data_rows = [
        tr(
            [
                td("bytes over the AT link (sent / received)"),
                num(f"{s.get('bytes_sent', 0):,} / {s.get('bytes_received', 0):,} B"),
            ]
        ),
        tr(
            [
                td("IP bytes, estimated (up / down)"),
                num(f"{s.get('ip_bytes_up', 0):,} / {s.get('ip_bytes_down', 0):,} B"),
            ]
        ),
        tr([td("data sessions"), num(count(s.get("data_sessions", 0)))]),
        tr([td("SMS sent / received"), num(f"{s.get('sms_sent', 0)} / {s.get('sms_received', 0)}")]),
        tr([td("calls (seconds)"), num(_calls_cell(s))]),
    ]
    if net:
        data_rows.append(
            tr(
                [
                    td("what the virtual network counted"),
                    num(
                        f"{net['ip_bytes_up']:,} / {net['ip_bytes_down']:,} IP B, {net['sms']} SMS, {net['call_seconds']} call s"
                    ),
                ]
            )
        )
        data_rows.extend(tr([td("why they differ"), td(note)]) for note in rep.get("network_notes") or [])
    sms = usage.get("sms") or []
    sms_tbl = (
        table(
            ["sent (UTC)", "to", "destination", "parts"],
            [
                tr(
                    [
                        td(m.get("started", "")[:19]),
                        td(m.get("number")),
                        td(m.get("dest")),
                        num(str(m.get("parts"))),
                    ]
                )
                for m in sms
            ],
            numeric=[3],
        )
        if sms
        else ""
    )
    page.add("data", "Data exchanged", table(["", ""], data_rows) + sms_tbl)
    page.add(
        "cost",
        "Cost estimate and cheapest offer",
        _estimate(rep.get("estimate"), "cost estimate", "report:estimate")
        + (
            _estimate(
                rep.get("network_estimate"), "priced from the network's records", "report:network_estimate"
            )
            if rep.get("network_estimate")
            else ""
        ),
    )
    shown = events[:1000]
    rows = [
        tr([num(f"{float(ev.get('t', 0)):.4f}"), td(ev.get("kind")), td(_event_text(ev))]) for ev in shown
    ]
    page.add(
        "transcript",
        "Transcript",
        f"<details><summary>{len(events):,} events"
        f"{' (the first 1,000)' if len(events) > 1000 else ''}</summary>"
        + table(["t (s)", "kind", "event"], rows, numeric=[0])
        + "</details>",
    )
    params = rep.get("params") or {}
    page.add(
        "setup",
        "The bench as run",
        table(
            ["", ""],
            [
                tr([td("script"), td(s.get("script"))]),
                tr([td("modem"), td(s.get("url"))]),
                tr([td("profile"), td(s.get("profile"))]),
                tr([td("parameters"), td(", ".join(f"{k}={v}" for k, v in params.items()) or "–")]),
                tr([td("allow-list"), td(rep.get("allow_list") or "none")]),
                tr([td("folder"), td(str(files.folder))]),
            ],
        ),
    )
    # (the footer named transcript.jsonl under the page of a folder without one)
    read = files.paths["bench"].name if "bench" in files.paths else "report.json"
    read += " and transcript.jsonl" if files.transcript is not None else " (no transcript.jsonl there)"
    page.footer = f"Made by m2msim from the bench folder's {e(read)}; times are monotonic seconds since the bench started."
    return page.render()


def _event_text(ev: dict[str, Any]) -> str:
    kind = ev.get("kind")
    if kind == "command":
        resp = " | ".join(str(r) for r in ev.get("responses") or [])
        return (
            f"{ev.get('command')} → {resp + ' ' if resp else ''}{ev.get('final') or ev.get('error', '')} "
            f"({float(ev.get('duration_s', 0)) * 1000:.2f} ms)"
        )
    if kind == "urc":
        return str(ev.get("line"))
    if kind == "step":
        return (
            f"{ev.get('name')}: {float(ev.get('duration_s', 0)):.3f} s, {'ok' if ev.get('ok') else 'failed'}"
        )
    rest = {k: v for k, v in ev.items() if k not in ("seq", "t", "kind")}
    return json.dumps(rest, ensure_ascii=False, default=str)[:300]


def render_bench_page(bench_dir: Path | str, report: dict[str, Any]) -> str:
    """The page of the bench folder `bench_dir` whose `report.json` is `report`, not yet written
    there (`m2msim bench` puts its three reports in place together): the page `report` gives
    once it is, the same bytes."""
    folder = Path(bench_dir)
    transcript = folder / "transcript.jsonl"
    files = RunFiles(folder, bench=report, transcript=transcript if transcript.is_file() else None)
    return render_bench(files)


def render_bench_report(bench_dir: Path | str) -> str:
    """The HTML page of a bench folder (`m2msim bench --out DIR`)."""
    files = find_files(bench_dir)
    if files.bench is None:
        raise ReportError(f"{bench_dir}: no bench report.json here")
    return render_bench(files)


def _calls_cell(s: dict[str, Any]) -> str:
    """Calls, their measured seconds, and the seconds billed (each call rounded up; older reports
    have no billed figure)."""
    text = f"{s.get('calls', 0)} ({float(s.get('call_seconds', 0)):.1f} s"
    if s.get("calls") and "call_seconds_billed" in s:
        text += f", billed {s['call_seconds_billed']} s"
    return text + ")"
