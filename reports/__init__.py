"""m2msim: reports.  The HTML report of a run, of a `rate`/`compare` output and of a bench; SQL over a run.

    from reports import render_run_report, render_bench_report
    html = render_run_report("runs/default")     # one self-contained page, no script, no fetch

Reads only files (the run folder's, a bench folder's): imports `accounting` and `m2msim`, and is
imported by `simulator` and `hil` to write `report.html` beside their outputs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounting import Comparison
    from m2msim.outputs import Recogniser
    from reports.bench_report import render_bench_report
    from reports.data import ReportError, RunFiles, connect, find_files
    from reports.hourly import HourlyUsage
    from reports.run_report import render_files, render_run_report

# Imported when first used: `m2msim rate` loads `reports.cli` (for --report) without the pages.
_LAZY = {
    "render_bench_report": "reports.bench_report",
    "ReportError": "reports.data",
    "RunFiles": "reports.data",
    "connect": "reports.data",
    "find_files": "reports.data",
    "render_files": "reports.run_report",
    "render_run_report": "reports.run_report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def render_report(
    folder: str | Path,
    *,
    comparison: Comparison | None = None,
    hourly: HourlyUsage | None = None,
    files: RunFiles | None = None,
) -> str:
    """The page of whatever `folder` holds: a bench folder's, else a run's (or `rate`/`compare` outputs').

    `comparison`: the month's offer comparison when the caller has it already (`m2msim run` rates
    the month once for its invoice and compares on the same aggregates); else the page rates and
    compares the folder's usage itself.  `hourly`: the records' sums per hour and device group
    when the caller counted them as it wrote the records (`reports.hourly`); else the page
    aggregates the folder's records.  `files`: what `find_files(folder)` found, when the caller
    has it already (`m2msim report` checks it first).
    """
    from reports.bench_report import render_bench
    from reports.data import find_files
    from reports.run_report import render_files

    if files is None:
        files = find_files(folder)
    if files.is_bench:
        return render_bench(files)
    if comparison is not None and files.comparison is None:
        from reports.run_cost import page_comparison

        files.comparison = page_comparison(comparison)
    return render_files(files, hourly=hourly)


def write_report(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    comparison: Comparison | None = None,
    hourly: HourlyUsage | None = None,
    own: Recogniser | None = None,
    force: bool = False,
) -> Path:
    """Render `folder`'s report and write it atomically to `out` (default `folder/report.html`);
    with `own`, never over a file m2msim did not write, unless `force` (m2msim.outputs)."""
    from m2msim.outputs import atomic_write_text

    target = Path(out) if out is not None else Path(folder) / "report.html"
    html = render_report(folder, comparison=comparison, hourly=hourly)
    atomic_write_text(target, html, own=own, force=force)
    return target


__all__ = [
    "ReportError",
    "RunFiles",
    "connect",
    "find_files",
    "render_bench_report",
    "render_files",
    "render_report",
    "render_run_report",
    "write_report",
]
