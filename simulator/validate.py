"""Small typed readers for YAML values: each error names the file, the line, the key path and what
was expected.

The document comes from `m2msim.yamlio` (mappings and lists that remember their lines); `Reader`
indexes every key path of it once, so a check made anywhere (on a value, a default or a copy) can
name the line where the key was written, or the nearest enclosing one.  A document built in code
(plain dicts) has no lines: the errors then name the key path only.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

from m2msim.yamlio import LocatedDict, LocatedList, YamlError, join_path


class ScenarioError(YamlError):
    """A scenario file cannot be used: `file:line: key.path: expected ..., got ...`."""


def _shown(value: Any) -> str:
    if isinstance(value, date):  # as written in the file, not `datetime.date(2026, 3, 2)`
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d|w)?\s*$")
_UNIT_S = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNIT_S["w"] = 7 * 86400.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|ko|KiB|MB|Mo|MiB)?\s*$")
_SIZE_B = {None: 1, "B": 1, "kB": 1024, "ko": 1024, "KiB": 1024, "MB": 1024**2, "Mo": 1024**2, "MiB": 1024**2}
MAX_DURATION_S = 366 * 86_400.0  # no duration in a scenario (a period, a delay, an outage) is longer
MAX_SIZE_B = 1024**3  # nor any size (a payload, a certificate chain)


class Reader:
    """Reads typed values out of a parsed YAML document, naming `source`, the line and the key path on error."""

    def __init__(self, source: str, doc: Any = None) -> None:
        self.source = source
        self._lines: dict[str, int] = {}
        self._raw: dict[str, str] = {}
        if doc is not None:
            self._index(doc, "")

    def _index(self, value: Any, path: str) -> None:
        if isinstance(value, LocatedDict):
            if value.line is not None:
                self._lines.setdefault(path, value.line)
            for key, item in value.items():
                p = join_path(path, key)
                line, raw = value.line_of(key), value.raw(key)
                if line is not None:
                    self._lines[p] = line
                if raw is not None:
                    self._raw[p] = raw
                self._index(item, p)
        elif isinstance(value, LocatedList):
            if value.line is not None:
                self._lines.setdefault(path, value.line)
            for i, item in enumerate(value):
                p = join_path(path, i)
                line, raw = value.line_of(i), value.raw(i)
                if line is not None:
                    self._lines[p] = line
                if raw is not None:
                    self._raw[p] = raw
                self._index(item, p)

    def line(self, path: str) -> int | None:
        """The line of `path` in the file, else of the nearest enclosing key that has one."""
        p = path
        while True:
            if p in self._lines:
                return self._lines[p]
            if not p:
                return None
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""

    def error(self, path: str, reason: str) -> ScenarioError:
        return ScenarioError(self.source, self.line(path), path, reason)

    def fail(self, path: str, expected: str, got: Any = None, *, show_got: bool = True) -> ScenarioError:
        return self.error(
            path, f"expected {expected}, got {_shown(got)}" if show_got else f"expected {expected}"
        )

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "a mapping", value)
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    near = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
                    hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(sorted(allowed))}"
                    raise self.error(join_path(path, str(key)), f"unknown key ({hint})")
        return value

    def seq(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, "a list", value)
        return value

    def _not_text(self, value: Any, path: str, what: str) -> ScenarioError:
        raw = self._raw.get(path)
        if isinstance(value, bool | int | float) and raw is not None:
            read = str(value).lower() if isinstance(value, bool) else str(value)
            kind = "true/false" if isinstance(value, bool) else "a number"
            shown = f"{raw} is read by YAML as {kind}" + (f" ({read})" if raw.strip() != read else "")
            return self.error(path, f'{shown}, expected {what}: quote it ("{raw}")')
        return self.fail(path, what, value)

    def string(self, value: Any, path: str) -> str:
        """Text.  A YAML number or boolean where text is expected is refused (quote it): `0612345670`
        unquoted is the octal number 103402424, `no` is false."""
        if isinstance(value, str):
            if "\x00" in value:
                raise self.error(path, f"{_shown(value)} contains a NUL character")
            return value
        if isinstance(value, int) and not isinstance(value, bool) and path not in self._raw:
            return str(value)  # a document built in code, where an int is meant as its digits
        raise self._not_text(value, path, "text")

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if isinstance(value, str) and value in choices:
            return value
        near = difflib.get_close_matches(value, choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise self.error(path, f"expected one of {', '.join(choices)}, got {_shown(value)}{hint}")

    def integer(self, value: Any, path: str, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, "an integer", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(path, f"an integer in [{lo}, {hi if hi is not None else '...'}]", value)
        return value

    def number(self, value: Any, path: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, "a number", value)
        v = float(value)
        if not math.isfinite(v):
            raise self.fail(path, "a finite number", value)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(path, f"a number in [{lo:g}, {f'{hi:g}' if hi is not None else '...'}]", value)
        return v

    def share(self, value: Any, path: str) -> float:
        """A share from 0 to 1; a percentage (`30%`, or 30) is refused saying how to write it."""
        pct = value.strip()[:-1] if isinstance(value, str) and value.strip().endswith("%") else None
        if pct is not None or (
            isinstance(value, int | float) and not isinstance(value, bool) and 1 < value <= 100
        ):
            try:
                share = float(pct if pct is not None else value) / 100
            except ValueError:
                share = math.nan
            if 0 <= share <= 1:
                raise self.fail(path, f"a share from 0 to 1, such as {share:g} for {share * 100:g} %", value)
            raise self.fail(path, "a share from 0 to 1 (a number, not a percentage)", value)
        return self.number(value, path, 0.0, 1.0)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value

    def duration(
        self, value: Any, path: str, *, positive: bool = True, max_s: float = MAX_DURATION_S
    ) -> float:
        """Seconds, from a number of seconds or a string such as '15min', '2h', '1d', '30s'.

        Finite, not negative (not zero when `positive`), at most `max_s` (a year by default)."""
        seconds: float | None = None
        raw = self._raw.get(path)
        if isinstance(value, int | float) and not isinstance(value, bool) and raw is not None and ":" in raw:
            raise self.error(
                path,
                f"{raw} is read by YAML as {value:g} seconds (base 60: minutes:seconds or hours:minutes?): "
                "write it with a unit, such as 90s, 15min or 12h",
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            m = _DURATION.match(value)
            if m:
                seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
        if seconds is None or not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
            raise self.fail(path, "a duration such as 30s, 15min, 2h, 1d (or a number of seconds)", value)
        if seconds > max_s:
            raise self.fail(path, f"a duration of at most {max_s:g} s", value)
        return seconds

    def size(self, value: Any, path: str, max_bytes: int = MAX_SIZE_B) -> int:
        """Bytes, from an integer or a string such as '200kB', '1.5 Mo' (1 kB = 1,024 B), at most `max_bytes`."""
        size: int | None = None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            size = value
        elif isinstance(value, str):
            m = _SIZE.match(value)
            if m:
                size = int(float(m.group(1)) * _SIZE_B[m.group(2)])
        if size is None:
            raise self.fail(path, "a size such as 512, 200kB, 1.5Mo", value)
        if size > max_bytes:
            raise self.fail(path, f"a size of at most {max_bytes:,} bytes", value)
        return size

    def instant(self, value: Any, path: str) -> datetime:
        """A UTC datetime from a YAML date/datetime or an ISO 8601 string (naive means UTC)."""
        dt: datetime | None = None
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, date):
            dt = datetime.combine(value, time(0, 0))
        elif isinstance(value, str):
            try:
                dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                dt = None
        if dt is None:
            raise self.fail(path, "a date or an ISO 8601 date-time such as 2026-03-12T02:00:00Z", value)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)

    def digits(self, value: Any, path: str, lengths: tuple[int, ...]) -> str:
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        raw = self._raw.get(path)
        if isinstance(value, int) and raw is not None and raw.strip() != text:
            raise self._not_text(value, path, f"a string of {' or '.join(map(str, lengths))} digits")
        if not text.isascii() or not text.isdigit() or len(text) not in lengths:
            raise self.fail(path, f"a string of {' or '.join(map(str, lengths))} digits", value)
        return text
