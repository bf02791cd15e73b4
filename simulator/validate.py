"""Small typed readers for YAML values: each error names the file, the key path and what was expected."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any


class ScenarioError(ValueError):
    """A scenario file cannot be used: `file: key.path: expected ..., got ...`."""

    def __init__(
        self,
        source: str,
        path: str,
        expected: str,
        got: Any = None,
        *,
        show_got: bool = True,
        plain: bool = False,
    ) -> None:
        self.source = source
        self.path = path
        self.expected = expected
        where = f"{source}: {path}: " if path else f"{source}: "
        text = f"{where}{'' if plain else 'expected '}{expected}"
        if show_got and not plain:
            text += f", got {got!r}"
        super().__init__(text)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d|w)?\s*$")
_UNIT_S = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNIT_S["w"] = 7 * 86400.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|ko|KiB|MB|Mo|MiB)?\s*$")
_SIZE_B = {None: 1, "B": 1, "kB": 1024, "ko": 1024, "KiB": 1024, "MB": 1024**2, "Mo": 1024**2, "MiB": 1024**2}


class Reader:
    """Reads typed values out of a parsed YAML document, naming `source` and the key path on error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str, got: Any = None, *, show_got: bool = True) -> ScenarioError:
        return ScenarioError(self.source, path, expected, got, show_got=show_got)

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "a mapping", value)
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                raise self.fail(
                    f"{path}.{unknown[0]}" if path else unknown[0],
                    f"one of the keys {', '.join(sorted(allowed))}",
                    show_got=False,
                )
        return value

    def seq(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, "a list", value)
        return value

    def string(self, value: Any, path: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(path, "a string", value)
        return str(value)

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(path, f"one of {', '.join(choices)}", value)
        return str(value)

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
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(path, f"a number in [{lo}, {hi if hi is not None else '...'}]", value)
        return v

    def share(self, value: Any, path: str) -> float:
        return self.number(value, path, 0.0, 1.0)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value

    def duration(self, value: Any, path: str, *, positive: bool = True) -> float:
        """Seconds, from a number of seconds or a string such as '15min', '2h', '1d', '30s'."""
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            m = _DURATION.match(value)
            if m:
                seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
        if seconds is None or seconds < 0 or (positive and seconds == 0):
            raise self.fail(path, "a duration such as 30s, 15min, 2h, 1d (or a number of seconds)", value)
        return seconds

    def size(self, value: Any, path: str) -> int:
        """Bytes, from an integer or a string such as '200kB', '1.5 Mo' (1 kB = 1,024 B)."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str):
            m = _SIZE.match(value)
            if m:
                return int(float(m.group(1)) * _SIZE_B[m.group(2)])
        raise self.fail(path, "a size such as 512, 200kB, 1.5Mo", value)

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
        if not text.isdigit() or len(text) not in lengths:
            raise self.fail(path, f"a string of {' or '.join(map(str, lengths))} digits", value)
        return text
