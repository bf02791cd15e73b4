"""Reading the gateway's data tables (APNs, PLMNs, numbering plan): bundled or the user's own file.

Every table is read by the one YAML loader (`m2msim.yamlio`): an unreadable, non-UTF-8, binary
or empty file, a duplicate key or a YAML error is a `ConfigFileError` naming the file and line;
the tables' readers check their keys with the same vocabulary (`check_table_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from gateway.errors import ConfigFileError
from m2msim.yamlio import LocatedDict, YamlError, check_keys, load_yaml, mapping, parse_yaml


def load_table(path: Path | None, bundled: str) -> tuple[LocatedDict, str]:
    """The YAML mapping in `path`, or the package's `data/<bundled>` when `path` is None, with the
    name to cite in errors.  `ConfigFileError` (a `ConfigError`) names the file and the line."""
    try:
        if path is None:
            source = f"gateway/data/{bundled}"
            text = resources.files("gateway").joinpath(f"data/{bundled}").read_text(encoding="utf-8")
            doc = parse_yaml(text, source)
        else:
            source = str(path)
            doc = load_yaml(path, source=source)
        return mapping(doc, source, ""), source
    except YamlError as exc:
        raise ConfigFileError(exc.source, exc.line, exc.key, exc.reason) from None


def check_table_keys(
    m: LocatedDict, allowed: Iterable[str], source: str, path: str, required: Iterable[str] = ()
) -> None:
    """`check_keys` for a data table, raising `ConfigFileError`."""
    try:
        check_keys(m, allowed, source, path, required)
    except YamlError as exc:
        raise ConfigFileError(exc.source, exc.line, exc.key, exc.reason) from None
