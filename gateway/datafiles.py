"""Reading the gateway's data tables (APNs, PLMNs, numbering plan): bundled or the user's own file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError


def load_table(path: Path | None, bundled: str) -> tuple[dict[str, Any], str]:
    """The YAML mapping in `path`, or the package's `data/<bundled>` when `path` is None, with the
    name to cite in errors.  ConfigError names the file for an unreadable file, bad YAML or a
    document that is not a mapping."""
    if path is None:
        text = resources.files("gateway").joinpath(f"data/{bundled}").read_text(encoding="utf-8")
        source = f"gateway/data/{bundled}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        source = str(path)
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return doc, source
