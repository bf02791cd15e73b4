"""DuckDB as the rating loads it: the engine, without the package's Python layer, when first used.

The rating sends SQL text and fetches rows; that is all it asks of DuckDB.  `import duckdb` first
runs the package's Python layer (relations, expressions, value classes, and a version lookup
through `importlib.metadata`): measured at 0.09-0.25 s of a `m2msim rate` start-up, several times
the engine's own import.  The engine is the package's compiled module `_duckdb`, which the
package re-exports unchanged (`duckdb.connect is _duckdb.connect`, `duckdb.Error is
_duckdb.Error`); this module loads it alone when the installed DuckDB has one, and the package
otherwise.

`duckdb` here stands for that module and loads it at its first use (an attribute looked up:
`duckdb.connect(...)`, `except duckdb.Error`): importing the rating costs nothing of DuckDB, so
that a small CSV file rated without it (`accounting.usage_small`) never loads the engine (0.02 s).

Scanning a Python Arrow object (`con.register(name, table)`) needs what the package sets up when
imported: call `arrow_scans()` before registering one (pyarrow is loaded by then anyway).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["arrow_scans", "duckdb"]


def _import_held(name: str) -> ModuleType:
    """`importlib.import_module(name)` with SIGINT, SIGTERM and SIGHUP held back until it is done.

    The engine's initialisation (nanobind, DuckDB 1.4 on) runs Python code as it makes its types
    and enums; a signal's `KeyboardInterrupt` raised there is a "Critical nanobind error" that
    aborts the process (SIGABRT, exit status -6 / 134) with a traceback, where an interrupted
    command ends with one line and 130 / 143 / 129.  Held back, the signal is delivered once the
    module is whole (about 0.1 s later)."""
    from m2msim.signals import deferred_signals

    with deferred_signals():
        return importlib.import_module(name)


def _engine() -> ModuleType:
    """DuckDB's engine module (imported once; Python keeps it in `sys.modules`)."""
    try:
        return _import_held("_duckdb")
    except ImportError:  # a DuckDB whose engine is not a top-level module: the package
        return _import_held("duckdb")


class _Deferred:
    """The engine module, imported when one of its names is first looked up."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(_engine(), name)
        setattr(self, name, value)  # the next look-up finds it here
        return value


if TYPE_CHECKING:
    import duckdb
else:
    duckdb = _Deferred()


def arrow_scans() -> None:
    """Make the engine able to scan Python Arrow objects (the package's set-up, done once)."""
    _import_held("duckdb")
