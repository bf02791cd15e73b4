"""What the report reads of each JSON document, checked before the page is drawn, so that a document
of another shape (edited by hand, cut and mended, written by another version of m2msim) is refused
naming its file and the field: `runs/x/summary.json: totals.data_sessions: missing`.

The page reads a few dozen fields of `summary.json`, of an invoice, of a comparison and of a bench's
`report.json`; one missing or of another type ended the page in a KeyError or a ValueError, said as
"FOLDER: a file is not as m2msim writes it", naming no file.  Only what the page reads is checked,
and as loosely as the page reads it (a count may be an integer or a float; a field the page reads
with a default may be absent or null).

A shape is a check (a function saying what is wrong with a value, or None), a dict (an object: its
keys, those ending in `?` optional) or a one-element list (a list of that shape).  An optional key
may be absent; null only where the page reads it with a default: an object or a list (read with
`or`), or a value checked `_or_none`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from reports.data import ReportError, RunFiles
from reports.run_common import parse_time

Check = Callable[[Any], str | None]


def _number(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return None if ok else f"not a number: {v!r}"


def _integer(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) else f"not an integer: {v!r}"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) else f"not a text: {v!r}"


def _time(v: Any) -> str | None:
    try:
        parse_time(v)
    except (TypeError, ValueError):
        return f"not a date and time: {v!r}"
    return None


def _amount(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        return f"not an amount: {v!r}"
    try:
        d = Decimal(str(v))
        ok = d.is_finite() and abs(d) < _MOST
    except InvalidOperation:
        ok = False
    return None if ok else f"not an amount: {v!r}"


_MOST = Decimal(10) ** 36  # (what DECIMAL(38,2) holds, as `reports.data.MONEY`: any amount the rating bills)


def _anything(v: Any) -> str | None:
    return None


def _or_none(check: Check) -> Check:
    """`check`, or null (a field the page reads with `or`)."""

    def checked(v: Any) -> str | None:
        return None if v is None else check(v)

    return checked


def _numbers(v: Any) -> str | None:
    """An object of counts (the gateway's incidents)."""
    if not isinstance(v, dict):
        return f"not an object: {type(v).__name__}"
    bad = next((k for k, x in v.items() if _number(x)), None)
    return None if bad is None else f"{bad}: not a number: {v[bad]!r}"


SUMMARY: dict[str, Any] = {
    "period?": {"start": _time, "end": _time},
    "devices?": _or_none(_number),
    "usage_records?": _number,
    "totals": {
        "data_records?": _or_none(_number),
        **dict.fromkeys(
            (
                "data_sessions",
                "billable_ko",
                "bytes_up",
                "bytes_down",
                "sms_sent",
                "sms_refused",
                "mt_sms_submitted",
                "mt_sms_delivered",
                "calls_answered",
                "call_seconds",
                "calls_busy",
                "calls_no_answer",
                "calls_refused",
            ),
            _number,
        ),
    },
    "alarms": {"total": _number},
    "groups": [{"name": _text, "devices?": _integer, "lines?": _anything}],
    "outages?": [{"start": _time, "end": _time, "groups?": [_text]}],
    "retry_storm?": {
        "attempts": _number,
        "sessions": _number,
        "billable_ko": _number,
        "cost_ht": _or_none(_amount),  # (a run not rated, --no-invoice: none)
    },
    "projected_month?": {"total_ht?": _or_none(_amount)},
    "usage_covers?": {"days_in_month?": _or_none(_number)},
    "gateway_incidents?": _numbers,
}

# The days a partial month's invoice or comparison covers (`rate`/`compare --json` of a run folder)
_COVERS: dict[str, Any] = {
    "start?": _or_none(_time),
    "end?": _or_none(_time),
    "days_in_month?": _or_none(_number),
}

INVOICE: dict[str, Any] = {
    "total_ht": _amount,
    "currency?": _text,
    "rows_read?": _number,
    "rejects_by_reason?": [{"count?": _number}],
    "rejects?": [{}],
    "errors?": [{}],
    "quotes?": [{}],
    # (its lines and items: `reports.data.invoice_tables`, which reads every amount at once)
    "projected_month?": {"total_ht?": _or_none(_amount)},
    # (its start and end: the page's period, where no summary gives one)
    "usage_covers?": _COVERS,
}

COMPARISON: dict[str, Any] = {
    "currency?": _text,
    "fleet": {
        "today": {"total_ht": _amount},
        "cheapest": {"name": _text, "total_ht": _amount},
        "saving_ht": _amount,
        "scenarios": [{"name": _text, "total_ht": _amount, "lines_moved": _number, "discounts?": [_text]}],
    },
    "lines?": [
        {
            "id": _text,
            "current": _anything,
            "cheapest": _anything,
            "saving_ht": _amount,
            "in_best_mix?": _or_none(_text),  # (absent where the best mix keeps the line's cheapest)
        }
    ],
    "usage_covers?": _COVERS,  # (the page's period, where neither a summary nor an invoice gives one)
}

_ESTIMATE: dict[str, Any] = {
    "offer": _anything,
    "plan": _anything,
    "commitment": _anything,
    "month": _anything,
    "usage_amount": _amount,
    "month_total": _amount,
    "subscription_total": _amount,
    "items?": [{"amount?": _amount}],
    "cheapest_total?": _or_none(_amount),
    "rejects?": [_anything],
    "errors?": [_anything],
}

BENCH: dict[str, Any] = {
    "summary": dict.fromkeys(
        (
            "duration_s?",
            "at_commands?",
            "at_errors?",
            "at_time_s?",
            "urcs?",
            "data_sessions?",
            "bytes_sent?",
            "bytes_received?",
            "ip_bytes_up?",
            "ip_bytes_down?",
            "calls?",
            "call_seconds?",
        ),
        _number,
    ),
    "estimate?": _ESTIMATE,
    "network_estimate?": _ESTIMATE,
    "network?": {"ip_bytes_up": _number, "ip_bytes_down": _number},
    "network_notes?": [_anything],
    "usage?": {"sms?": [{"started?": _text}]},
    "params?": {},
}


# An event of a bench's transcript.jsonl, as the page reads it (its times, a command's answers).
EVENT: dict[str, Any] = {"t?": _number, "duration_s?": _number, "responses?": [_anything]}


def problem(doc: Any, shape: Any, place: str = "") -> str | None:
    """What is wrong with `doc` against `shape`, at its place (`totals.data_sessions: missing`), or None."""
    if callable(shape):
        why = shape(doc)
        return None if why is None else f"{place}: {why}" if place else why
    if isinstance(shape, dict):
        if not isinstance(doc, dict):
            return f"{place or 'the document'}: not an object: {type(doc).__name__}"
        for key, sub in shape.items():
            name = key.rstrip("?")
            where = f"{place}.{name}" if place else name
            if name not in doc or (doc[name] is None and not callable(sub)):
                if key.endswith("?"):
                    continue
                return f"{where}: missing"
            found = problem(doc[name], sub, where)
            if found is not None:
                return found
        return None
    if not isinstance(doc, list):
        return f"{place}: not a list: {type(doc).__name__}"
    for i, item in enumerate(doc):
        found = problem(item, shape[0], f"{place}[{i}]")
        if found is not None:
            return found
    return None


_SHAPES = {"summary": SUMMARY, "invoice": INVOICE, "comparison": COMPARISON, "bench": BENCH}


def check_documents(files: RunFiles) -> None:
    """`ReportError` naming the file and the field when a document the page reads is not of the shape
    m2msim writes."""
    for kind, shape in _SHAPES.items():
        doc = getattr(files, kind)
        if doc is None or kind not in files.paths:  # (handed over by the command that made it)
            continue
        found = problem(doc, shape)
        if found is not None:
            raise ReportError(f"{Path(files.source(kind))}: {found} (not as m2msim writes it)")
