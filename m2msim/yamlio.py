"""The one YAML loader of m2msim: every reader (catalog, inventory, scenario, alarms, profiles,
allow-list, serve scenario) reads its file through here.

What it adds to PyYAML's safe loader, for error messages a user can act on:

- mappings come back as `LocatedDict` and sequences as `LocatedList`, which remember the line of
  every key and item and the scalar text as it was written (`raw`), so a validator can say
  "file:12: lines[3].id: 0612345670 is read by YAML as the number 103402424: quote it";
- duplicate keys are an error (PyYAML keeps the last one silently);
- a file that cannot be used at all (missing, a directory, not UTF-8, binary, empty, not YAML)
  raises `YamlError`, the one error type of every YAML reader, whose text is
  `source:line: key.path: reason`;
- `decimals_as_text=True` keeps numbers with a fraction as their text (money must stay exact).

The validation helpers (`check_keys`, `text_field`, `text_list`, `number_field`, `int_field`,
`flag_field`, `mapping`, `sequence`) are the shared vocabulary of the readers: one wording for
one kind of mistake.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from m2msim.gcpause import paused_gc

__all__ = [
    "LocatedDict",
    "LocatedList",
    "YamlError",
    "check_keys",
    "flag_field",
    "int_field",
    "join_path",
    "load_yaml",
    "mapping",
    "number_field",
    "parse_yaml",
    "read_file_bytes",
    "read_text_file",
    "sequence",
    "text_field",
    "text_list",
]


class YamlError(Exception):
    """A YAML input that cannot be used: where (source, line, key path) and why."""

    def __init__(self, source: str, line: int | None, key: str, reason: str) -> None:
        self.source, self.line, self.key, self.reason = str(source), line, key, reason
        where = f"{self.source}:{line}" if line is not None else self.source
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class LocatedDict(dict[str, Any]):
    """A mapping read from YAML, with the line of the mapping and of each key (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]
    raw_text: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}
        self.raw_text = {}

    def line_of(self, key: str) -> int | None:
        """The line where `key` was written, else the mapping's own line."""
        return self.key_lines.get(key, self.line)

    def raw(self, key: str) -> str | None:
        """The value of `key` as written in the file, when it was a plain scalar."""
        return self.raw_text.get(key)


class LocatedList(list[Any]):
    """A sequence read from YAML, with its line and the line of each item (1-based)."""

    line: int | None = None
    item_lines: list[int]
    raw_text: list[str | None]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []
        self.raw_text = []

    def line_of(self, index: int) -> int | None:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line

    def raw(self, index: int) -> str | None:
        return self.raw_text[index] if 0 <= index < len(self.raw_text) else None


def read_text_file(path: Path | str, source: str | None = None, what: str = "file") -> str:
    """A text file's content as UTF-8 (a BOM is allowed), or `YamlError` saying why it cannot be read.

    Missing, a directory, unreadable, not UTF-8 (the line and byte named), binary (NUL bytes).
    """
    src = source or str(path)
    return decode_text(read_file_bytes(path, src, what), src)


def read_file_bytes(path: Path | str, source: str | None = None, what: str = "file") -> bytes:
    """A file's bytes, or `YamlError` saying why it cannot be read (missing, a directory, unreadable)."""
    src = source or str(path)
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise YamlError(src, None, "", f"cannot read: is a directory, expected a {what}") from None
    except FileNotFoundError:
        raise YamlError(src, None, "", "cannot read: no such file") from None
    except OSError as exc:
        raise YamlError(src, None, "", f"cannot read: {exc.strerror or exc}") from None


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text of `data` (BOM dropped), or `YamlError` naming the line of the first bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise YamlError(source, line, "", "binary data (a NUL byte): not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlError(
            source,
            line,
            "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {col}): save the file as UTF-8",
        ) from None


def load_yaml(
    path: Path | str,
    *,
    source: str | None = None,
    decimals_as_text: bool = False,
    allow_empty: bool = False,
    cache: bool = False,
) -> Any:
    """Read and parse a YAML file; mappings are `LocatedDict`, sequences `LocatedList`.

    Every problem is a `YamlError` naming `source` (default: the path as given).  `cache=True`:
    the document is kept between runs, keyed by the file's content (`m2msim.yamlcache`), for
    files read at every start that may be large (an inventory, a catalog).
    """
    src = source or str(path)
    text = read_text_file(path, src, "YAML file")
    if not cache:
        return parse_yaml(text, src, decimals_as_text=decimals_as_text, allow_empty=allow_empty)
    from m2msim import yamlcache

    key = yamlcache.key_of(text, f"decimals_as_text={decimals_as_text}")
    if key is not None:
        found, data = yamlcache.lookup(key)
        if found:
            return data
    data = parse_yaml(text, src, decimals_as_text=decimals_as_text, allow_empty=allow_empty)
    if key is not None and data is not None:
        yamlcache.store(key, data)
    return data


def parse_yaml(text: str, source: str, *, decimals_as_text: bool = False, allow_empty: bool = False) -> Any:
    """Parse YAML text (see `load_yaml`)."""
    # PyYAML is imported here, not with this module: every command imports `YamlError`, and
    # `m2msim --help` or `m2msim sms-decode` read no YAML.
    import yaml

    from m2msim._pyyaml import load

    try:
        with paused_gc():  # a large file makes many objects that all live on (see m2msim.gcpause)
            data = load(text, decimals_as_text=decimals_as_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlError(
            source, line, "", f"not valid YAML: {reason}" if reason else "not valid YAML"
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(source, None, "", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise YamlError(source, None, "", "nested too deeply") from None
    if data is None and not allow_empty:
        raise YamlError(source, None, "", "the file is empty (no YAML document)")
    if "&" in text and "*" in text:  # anchors and aliases: what the readers would walk, once expanded
        try:
            expanded, written = _expanded_size(data)
        except RecursionError:
            raise YamlError(source, None, "", "nested too deeply") from None
        if expanded > MAX_EXPANDED and expanded > ALIAS_EXPANSION * written:
            raise YamlError(
                source,
                None,
                "",
                f"its aliases (*name) expand it to {expanded:,} values from {written:,} written: "
                "too many to read (a YAML bomb?)",
            )
    return data


# A document whose aliases expand it to more values than this, and this many times the values
# written, is refused: its readers walk every value of it (a "billion laughs" YAML of a few lines
# made them run for hours).
MAX_EXPANDED = 1_000_000
ALIAS_EXPANSION = 100


def _expanded_size(data: Any) -> tuple[int, int]:
    """The values of `data` counted as its readers walk them (an alias's each time it is used), and
    as written (each mapping or list once): the loader gives a value used twice as one object."""
    sizes: dict[int, int] = {}
    written = 0

    def size(value: Any) -> int:
        nonlocal written
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        total = 1
        for child in children:
            total += size(child)
        written += 1 + len(value)
        sizes[id(value)] = total
        return total

    return size(data), written


# -- validation vocabulary -----------------------------------------------------------------------


def join_path(path: str, key: str | int) -> str:
    """`groups` + 2 -> `groups[2]`; `groups[2]` + `traffic` -> `groups[2].traffic`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def mapping(value: Any, source: str, path: str, line: int | None = None) -> LocatedDict:
    """`value` if it is a mapping, else `YamlError`."""
    if isinstance(value, LocatedDict):
        return value
    if isinstance(value, dict):
        d = LocatedDict(value)
        d.line = line
        return d
    raise YamlError(
        source, _line(value, line), path or "(top)", f"expected a mapping, got {_type_name(value)}"
    )


def sequence(value: Any, source: str, path: str, line: int | None = None) -> LocatedList:
    """`value` if it is a list, else `YamlError`."""
    if isinstance(value, LocatedList):
        return value
    if isinstance(value, list):
        seq = LocatedList(value)
        seq.line = line
        return seq
    raise YamlError(source, _line(value, line), path or "(top)", f"expected a list, got {_type_name(value)}")


def _line(value: Any, fallback: int | None) -> int | None:
    return getattr(value, "line", None) or fallback


def check_keys(
    m: LocatedDict, allowed: Iterable[str], source: str, path: str, required: Iterable[str] = ()
) -> None:
    """Every key of `m` is one of `allowed` (a misspelt key is named, with the nearest allowed one);
    every key of `required` is present."""
    allowed = list(allowed)
    for key in m:
        if key not in allowed:
            import difflib  # only for a misspelt key's message

            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (allowed: {', '.join(sorted(allowed))})"
            raise YamlError(source, m.line_of(key), join_path(path, key), f"unknown key{hint}")
    for key in required:
        if key not in m:
            raise YamlError(source, m.line, join_path(path, key), "missing (required)")


def text_field(
    m: LocatedDict,
    key: str,
    source: str,
    path: str,
    *,
    default: str | None = None,
    required: bool = True,
    what: str = "text",
) -> str | None:
    """A text value (an identifier, a phone number, a name).

    A YAML number or boolean is refused, showing how YAML read it and telling the user to quote it:
    `0612345670` unquoted is the octal number 103402424, `+33612345678` the integer 33612345678,
    `no` is false.
    """
    where = join_path(path, key)
    if key not in m or m[key] is None:
        if required and default is None:
            raise YamlError(source, m.line_of(key), where, "missing (required)")
        return default
    value = m[key]
    if isinstance(value, str):
        if not value.strip():
            raise YamlError(source, m.line_of(key), where, f"empty: {what} expected")
        return value
    raise YamlError(source, m.line_of(key), where, _not_text(value, m.raw(key), what))


def _not_text(value: Any, raw: str | None, what: str) -> str:
    """Why `value` (not text) is refused where `what` is expected; a scalar YAML converted is shown
    as written and as read, with the advice to quote it."""
    if isinstance(value, bool | int | float) and raw is not None:
        if raw.strip() != str(value):
            read = str(value).lower() if isinstance(value, bool) else value
            shown = f"{raw} is read by YAML as {_type_name(value)} ({read})"
        else:
            shown = f"{raw} is read by YAML as {_type_name(value)}"
        return f'{shown}, expected {what}: quote it ("{raw}")'
    return f"expected {what}, got {_type_name(value)}"


def number_field(
    m: LocatedDict,
    key: str,
    source: str,
    path: str,
    *,
    default: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    unit: str = "",
) -> float | None:
    """A finite number within bounds (NaN, infinities, booleans and text are refused)."""
    where = join_path(path, key)
    if key not in m or m[key] is None:
        return default
    value = m[key]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise YamlError(source, m.line_of(key), where, f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise YamlError(source, m.line_of(key), where, f"expected a number, got {_type_name(value)}")
    return check_number(
        float(value), source, m.line_of(key), where, minimum, maximum, exclusive_minimum, unit
    )


def int_field(
    m: LocatedDict,
    key: str,
    source: str,
    path: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """A whole number within bounds (a fraction, boolean, text or NaN is refused)."""
    where = join_path(path, key)
    if key not in m or m[key] is None:
        return default
    value = m[key]
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float | str) and not isinstance(value, bool):
            try:
                f = float(value)
            except ValueError:
                f = math.nan
            if math.isfinite(f) and f == int(f) and (isinstance(value, float) or value.strip().isdigit()):
                value = int(f)
            else:
                raise YamlError(source, m.line_of(key), where, f"expected a whole number, got {value!r}")
        else:
            raise YamlError(
                source, m.line_of(key), where, f"expected a whole number, got {_type_name(value)}"
            )
    check_number(float(value), source, m.line_of(key), where, minimum, maximum, False, "")
    return int(value)


def check_number(
    value: float,
    source: str,
    line: int | None,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    unit: str = "",
) -> float:
    """`value` if finite and within bounds, else `YamlError`."""
    u = f" {unit}" if unit else ""
    if not math.isfinite(value):
        raise YamlError(source, line, where, f"{value} is not a finite number")
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        op = "more than" if exclusive_minimum else "at least"
        raise YamlError(source, line, where, f"{value:g}{u} is out of range: must be {op} {minimum:g}{u}")
    if maximum is not None and value > maximum:
        raise YamlError(source, line, where, f"{value:g}{u} is out of range: must be at most {maximum:g}{u}")
    return value


def flag_field(
    m: LocatedDict, key: str, source: str, path: str, *, default: bool | None = None
) -> bool | None:
    """A true/false value (a number or text such as "yes" in quotes is refused)."""
    where = join_path(path, key)
    if key not in m or m[key] is None:
        return default
    value = m[key]
    if not isinstance(value, bool):
        shown = m.raw(key) if m.raw(key) is not None else _type_name(value)
        raise YamlError(source, m.line_of(key), where, f"expected true or false, got {shown}")
    return value


def text_list(
    m: LocatedDict,
    key: str,
    source: str,
    path: str,
    *,
    default: Iterable[str] | None = None,
    what: str = "text",
) -> list[str] | None:
    """A list of text values (a single text is taken as a list of one); an item YAML read as a
    number or boolean is refused with the advice to quote it, as in `text_field`."""
    where = join_path(path, key)
    if key not in m or m[key] is None:
        return None if default is None else list(default)
    value = m[key]
    if isinstance(value, str):
        value = LocatedList([value])
        value.line = m.line_of(key)
        value.item_lines = [m.line_of(key) or 0]
        value.raw_text = [m.raw(key)]
    seq = sequence(value, source, where, m.line_of(key))
    out: list[str] = []
    for i, item in enumerate(seq):
        line = seq.line_of(i)
        if isinstance(item, str):
            if not item.strip():
                raise YamlError(source, line, join_path(where, i), f"empty: {what} expected")
            out.append(item)
            continue
        raise YamlError(source, line, join_path(where, i), _not_text(item, seq.raw(i), what))
    return out
