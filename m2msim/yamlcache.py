"""Parsed YAML kept between runs, keyed by the file's content: a large inventory is parsed once.

`m2msim rate` with an inventory of 10,000 lines written one by one (50,000 YAML lines) spent over
a second in PyYAML at every start.  `yamlio.load_yaml(path, cache=True)` asks here first: the
document as `parse_yaml` returned it (mappings `LocatedDict`, lists `LocatedList`, with their
lines and the scalars as written) is stored as JSON in the user's cache folder
(`$XDG_CACHE_HOME/m2msim/yaml`, else `~/.cache/m2msim/yaml`) under the SHA-256 of what decides
it: the text, the parse options and the code (`yamlio`, `_pyyaml`, this module and PyYAML's
installation).  An entry is used only when the key stored in it is that key, and anything that
cannot be read back as written (a damaged, truncated or foreign file) is ignored and the text
parsed again.  Only a successful parse is stored; the reader checks the data every time.

Entries are written atomically, by m2msim only, in a folder of its own; the oldest beyond
`MAX_ENTRIES` are removed when a new one is written.  A cache that cannot be written (a read-only
home) is skipped silently: it only saves time.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m2msim.gcpause import paused_gc
from m2msim.outputs import TMP_PREFIX, atomic_write_text, host_name, remove_files_of_the_dead
from m2msim.yamlio import LocatedDict, LocatedList

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:  # Python's own SHA-256: hashlib's loads OpenSSL's libcrypto, a few ms of every start-up
        from _sha256 import sha256
    except ImportError:  # a Python that names it otherwise
        from hashlib import sha256

__all__ = ["MAX_ENTRIES", "cache_folder", "key_of", "lookup", "store"]

FORMAT = "m2msim-yaml-cache 1"
MAX_ENTRIES = 64
_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")
# an entry's temporary name on this host (`m2msim.outputs.temporary_name`): group `pid` its writer
_TEMPORARY = re.compile(
    rf"{re.escape(TMP_PREFIX)}[0-9a-f]{{64}}\.json\.tmp-{re.escape(host_name())}-(?P<pid>\d+)-[0-9a-f]{{8}}"
)
_PRIMITIVE = frozenset((str, int, float, bool, type(None)))


class _Uncacheable(Exception):
    """A value the cache does not store (a recursive alias, a type PyYAML rarely makes)."""


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "m2msim" / "yaml"


@functools.cache
def _stamp() -> bytes:
    """What the parse depends on besides the text: the loader's code and PyYAML's installation."""
    parts = []
    here = Path(__file__).resolve().parent
    for name in ("yamlio.py", "_pyyaml.py", "yamlcache.py"):
        parts.append(sha256((here / name).read_bytes()).hexdigest())
    spec = importlib.util.find_spec("yaml")
    origin = spec.origin if spec is not None else None
    if origin:
        st = os.stat(origin)
        parts.append(f"{origin}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts).encode()


def key_of(text: str, options: str) -> str | None:
    """The cache key of `text` parsed with `options`; None when the loader's files cannot be read."""
    try:
        h = sha256(FORMAT.encode())
        h.update(b"\0" + _stamp() + b"\0" + options.encode() + b"\0")
    except OSError:
        return None
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def lookup(key: str) -> tuple[bool, Any]:
    """(True, the document) when the cache holds a good entry under `key`, else (False, None)."""
    try:
        text = (cache_folder() / f"{key}.json").read_text(encoding="utf-8")
        with paused_gc():  # many objects that all live on (see m2msim.gcpause)
            entry = json.loads(text)
            if isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("key") == key:
                return True, _decode(entry["data"])
    except (OSError, ValueError, KeyError, TypeError, IndexError, RecursionError):
        pass
    return False, None


def store(key: str, data: Any) -> None:
    """Keep `data` (a document `parse_yaml` returned) under `key`; silently skipped when it cannot."""
    try:
        encoded = _encode(data, set())
    except (_Uncacheable, RecursionError):
        return
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"format": FORMAT, "key": key, "data": encoded}, ensure_ascii=False)
        atomic_write_text(folder / f"{key}.json", text, fsync=False)
        _prune(folder)
    except (OSError, ValueError):
        return


def _prune(folder: Path) -> None:
    """The oldest entries beyond `MAX_ENTRIES` removed (only names this module writes), and the
    temporary files of entries whose writer was killed (SIGKILL, the OOM killer) before it renamed
    one: `atomic_path` removes those of the entry it writes only, so one of a file that changed
    since stayed for good, as large as the parsed document."""
    remove_files_of_the_dead(folder, _TEMPORARY)
    entries = []
    for path in folder.iterdir():
        if _ENTRY.match(path.name):
            try:
                entries.append((path.stat().st_mtime_ns, path))
            except OSError:
                continue
    entries.sort()
    for _, path in entries[: max(0, len(entries) - MAX_ENTRIES)]:
        with contextlib.suppress(OSError):
            path.unlink()


# -- the document as JSON: every container a list whose first item says what it is -----------------


def _encode(value: Any, path: set[int]) -> Any:
    if type(value) in _PRIMITIVE:
        return value
    if id(value) in path:
        raise _Uncacheable("a recursive alias")
    path.add(id(value))
    try:
        if type(value) is LocatedDict:
            raws = value.raw_text
            items = [
                [
                    k,
                    _encode(v, path),
                    value.key_lines.get(k),
                    True if type(v) is str and raws.get(k) == v else raws.get(k),
                ]
                for k, v in value.items()
            ]  # raw text `true`: as the value (a text scalar, the usual case)
            return ["d", value.line, items]
        if type(value) is LocatedList:
            items = [_encode(v, path) for v in value]
            return ["l", value.line, items, list(value.item_lines), list(value.raw_text)]
        if type(value) is datetime:
            return ["T", value.isoformat()]
        if type(value) is date:
            return ["D", value.isoformat()]
        if type(value) is list:
            return ["L", [_encode(v, path) for v in value]]
        if type(value) is tuple:
            return ["t", [_encode(v, path) for v in value]]
        raise _Uncacheable(type(value).__name__)
    finally:
        path.discard(id(value))


def _decode(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    tag = value[0]
    if tag == "d":
        d = LocatedDict()
        d.line = value[1]
        key_lines, raw_text = d.key_lines, d.raw_text
        for k, v, line, raw in value[2]:
            d[k] = _decode(v)
            if line is not None:
                key_lines[k] = line
            if raw is True:
                raw_text[k] = d[k]
            elif raw is not None:
                raw_text[k] = raw
        return d
    if tag == "l":
        seq = LocatedList(_decode(v) for v in value[2])
        seq.line = value[1]
        seq.item_lines = value[3]
        seq.raw_text = value[4]
        return seq
    if tag == "T":
        return datetime.fromisoformat(value[1])
    if tag == "D":
        return date.fromisoformat(value[1])
    if tag == "L":
        return [_decode(v) for v in value[1]]
    if tag == "t":
        return tuple(_decode(v) for v in value[1])
    raise ValueError(f"not a cache entry's value: {tag!r}")
