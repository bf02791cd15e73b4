"""A signal while DuckDB's engine is loaded (`accounting.db`) stops the command as any other does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from m2msim.cli import main as m2msim

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"

# SIGINT raised inside the engine's own initialisation: at the first attribute it sets on a type it
# makes (an audit event), after the import of its shared library has begun
_AS_THE_ENGINE_LOADS = textwrap.dedent(
    """
    import signal, sys
    state = {"loading": False, "sent": False}

    def hook(event, args):
        if event == "import" and args[0] == "_duckdb" and args[1] is not None:
            state["loading"] = True
        elif event == "object.__setattr__" and state["loading"] and not state["sent"]:
            state["sent"] = True
            signal.raise_signal(signal.SIGINT)

    sys.addaudithook(hook)
    """
)


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _AS_THE_ENGINE_LOADS + textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_signal_as_the_engine_is_loaded_is_an_interruption_not_an_abort() -> None:
    """SIGINT while `_duckdb` made its types raised KeyboardInterrupt inside nanobind, which aborted
    the process ("Critical nanobind error", exit -6) with a traceback: `rate` interrupted at that
    moment of its start-up did not end with its one line and 130.  The signal now waits for the
    engine to be loaded, then interrupts."""
    done = _run(
        """
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from accounting.db import duckdb
        try:
            duckdb.connect
        except KeyboardInterrupt:
            print("interrupted", state["sent"], "_duckdb" in sys.modules)
            sys.exit(130)
        print("not interrupted", state["sent"])
        """
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "interrupted True True\n", "")


def test_report_interrupted_as_the_engine_is_loaded_says_one_line(tmp_path: Path) -> None:
    """`m2msim report` loaded DuckDB with `import duckdb` of its own: the same abort there."""
    assert (
        m2msim(
            [
                "rate",
                str(MONTH / "inventory.yaml"),
                str(MONTH / "usage.csv"),
                "--json",
                "--out",
                str(tmp_path / "invoice.json"),
            ]
        )
        == 0
    )
    page = tmp_path / "page.html"
    done = _run(
        f"""
        sys.argv = ["m2msim", "report", {str(tmp_path)!r}, "--out", {str(page)!r}]
        from m2msim.entry import console
        console()
        """
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        130,
        "",
        f"m2msim report: interrupted (SIGINT); not written: {page}\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice.json"]
