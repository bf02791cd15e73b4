"""The time-limit partial-record rule, as the gateway applies it.

The rule itself lives in `accounting.partial` (moved there so that the bench harness, which may
import `accounting` but not `gateway`, estimates a run's records by the same code the gateway
writes them with); this module re-exports it under its former name.
"""

from __future__ import annotations

from accounting.partial import (
    INTERVAL_S,
    PartialRecords,
    Span,
    cut_sessions,
    cut_sessions_py,
    cut_spans,
    final_causes,
    period_end,
    prorate,
    record_bytes,
    record_count,
    record_counts,
    usage_columns,
)

__all__ = [
    "INTERVAL_S",
    "PartialRecords",
    "Span",
    "cut_sessions",
    "cut_sessions_py",
    "cut_spans",
    "final_causes",
    "period_end",
    "prorate",
    "record_bytes",
    "record_count",
    "record_counts",
    "usage_columns",
]
