"""DuckDB as the rating loads it: the engine, without the package's Python layer.

The rating sends SQL text and fetches rows; that is all it asks of DuckDB.  `import duckdb` first
runs the package's Python layer (relations, expressions, value classes, and a version lookup
through `importlib.metadata`): measured at 0.09-0.25 s of a `m2msim rate` start-up, several times
the engine's own import.  The engine is the package's compiled module `_duckdb`, which the
package re-exports unchanged (`duckdb.connect is _duckdb.connect`, `duckdb.Error is
_duckdb.Error`); this module loads it alone when the installed DuckDB has one, and the package
otherwise.

Scanning a Python Arrow object (`con.register(name, table)`) needs what the package sets up when
imported: call `arrow_scans()` before registering one (pyarrow is loaded by then anyway).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
else:
    try:
        duckdb = importlib.import_module("_duckdb")
    except ImportError:  # a DuckDB whose engine is not a top-level module: the package
        import duckdb

__all__ = ["arrow_scans", "duckdb"]


def arrow_scans() -> None:
    """Make the engine able to scan Python Arrow objects (the package's set-up, done once)."""
    importlib.import_module("duckdb")
