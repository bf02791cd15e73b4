"""The mutation harness of the reliability suite (tests/fuzz/): damaged inputs for every reader.

- `mutated_bytes(data)`: a hypothesis strategy of `data` damaged as files get damaged: bytes
  flipped, cut short, a piece repeated or deleted, garbage inserted, re-encoded (Latin-1, UTF-16).
- `mutated_yaml(text)`: a YAML text with a mistake a person makes: a key misspelt, a line
  duplicated (a duplicate key) or removed, a value replaced by an extreme (NaN, infinities,
  negatives, 1e30, empty, 10 kB of text, a number where text is expected, a list or a mapping,
  dates that are none or the last one: the year 0, 30 February, 9999-12-31 and its 24:00).
- `run_cli(argv)`: `m2msim ...` in this process, its exit status, stdout and stderr captured
  (logging included), any exception that escapes recorded as a traceback.
- `assert_cli_contract(result)`: the exit status is one of those allowed; on exit 2 stderr is
  exactly one line; no traceback anywhere.
- `FUZZ`: the suite's hypothesis settings: derandomized (every run replays), `FUZZ_EXAMPLES`
  examples per test (25 by default, as `make test` runs it; `make fuzz` runs 1000).
- `first_then_long(values, keep)`: parameters of which `make test` runs the first `keep`, the
  others marked `long` (run by `make fuzz`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def first_then_long(values: Iterable[Any], keep: int = 1) -> list[Any]:
    """`values` as pytest parameters: the first `keep` as they are, the others marked `long`
    (tests/conftest.py leaves them to `make fuzz`).  A tuple is the values of several argument
    names; a value that is already a `pytest.param` keeps its id and marks."""
    import pytest

    out: list[Any] = []
    for i, value in enumerate(values):
        if i < keep:
            out.append(value)
        elif isinstance(value, type(pytest.param(None))):
            out.append(pytest.param(*value.values, id=value.id, marks=(*value.marks, pytest.mark.long)))
        else:
            values = value if isinstance(value, tuple) else (value,)
            out.append(pytest.param(*values, marks=pytest.mark.long))
    return out


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# Values a validator must refuse or handle: no network produces them, people type them.
EXTREME_VALUES: tuple[str, ...] = (
    ".nan",
    ".inf",
    "-.inf",
    "-1",
    "0",
    "1e30",
    "-0.5",
    "2.5",
    "99999999999999999999",
    "''",
    "null",
    "yes",
    "0612345670",
    "+33612345678",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "2026-13-45",
    "0000-01-01",  # no date (the year 0)
    "9999-12-31",  # the last date: a day or a month after it is none
    "9999-12-31T24:00:00Z",
    "2026-02-30",
    "'" + "x" * 10_000 + "'",
    '"\\u0000"',
)


@st.composite
def _one_byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    n = len(data)
    kind = draw(st.sampled_from(("flip", "cut", "repeat", "delete", "insert", "latin1", "utf16", "empty")))
    if kind == "empty" or n == 0:
        return b"" if kind == "empty" else draw(st.binary(min_size=1, max_size=64))
    i = draw(st.integers(0, n - 1))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    if kind == "cut":
        return data[:i]
    j = draw(st.integers(i + 1, min(n, i + 512)))
    if kind == "repeat":
        return data[:j] + data[i:j] + data[j:]
    if kind == "delete":
        return data[:i] + data[j:]
    if kind == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=64)) + data[i:]
    text = data.decode("utf-8", errors="replace")
    if kind == "latin1":
        return (text + "é").encode("latin-1", errors="replace")
    return text.encode("utf-16")


def mutated_bytes(data: bytes, max_mutations: int = 3) -> st.SearchStrategy[bytes]:
    """`data` with one to `max_mutations` damages applied one after the other."""

    @st.composite
    def chain(draw: st.DrawFn) -> bytes:
        out = data
        for _ in range(draw(st.integers(1, max_mutations))):
            out = draw(_one_byte_mutation(out))
        return out if out != data else data + b"\xff"  # two damages that undo each other

    return chain()


_KEY_LINE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*)(\s*:)(\s*)(.*)$")


def _typo(key: str, draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("swap", "drop", "double", "upper", "suffix")))
    if len(key) < 2 or kind == "suffix":
        return key + "s"
    i = draw(st.integers(0, len(key) - 2))
    if kind == "swap":
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    if kind == "drop":
        return key[:i] + key[i + 1 :]
    if kind == "double":
        return key[:i] + key[i] + key[i:]
    return key.upper()


@st.composite
def _one_yaml_mutation(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not keyed:
        return text
    i = draw(st.sampled_from(keyed))
    m = _KEY_LINE.match(lines[i])
    assert m is not None
    indent, key, colon, space, value = m.groups()
    kind = draw(st.sampled_from(("value", "value", "value", "typo", "duplicate", "remove")))
    if kind == "value":
        lines[i] = f"{indent}{key}{colon} {draw(st.sampled_from(EXTREME_VALUES))}"
    elif kind == "typo":
        lines[i] = f"{indent}{_typo(key, draw)}{colon}{space}{value}"
    elif kind == "duplicate" and value.strip():
        lines.insert(i + 1, " " * len(indent) + f"{key}{colon}{space}{value}")
    else:
        del lines[i]
    return "\n".join(lines) + "\n"


def mutated_yaml(text: str, max_mutations: int = 2) -> st.SearchStrategy[str]:
    """`text` with one to `max_mutations` of the mistakes people make in YAML files."""

    @st.composite
    def chain(draw: st.DrawFn) -> str:
        out = text
        for _ in range(draw(st.integers(1, max_mutations))):
            out = draw(_one_yaml_mutation(out))
        return out if out != text else text + "zz: 1\n"  # a stray key if the damages cancelled

    return chain()


@dataclass
class CliResult:
    argv: list[str]
    rc: int | None  # None: an exception escaped main()
    out: str
    err: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"m2msim {' '.join(self.argv)} -> {self.rc}\nstdout: {self.out[-2000:]}\nstderr: {self.err[-2000:]}\n{self.traceback}"


class _Capture(io.TextIOWrapper):
    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)

    def text(self) -> str:
        self.flush()
        buf = self.buffer
        assert isinstance(buf, io.BytesIO)
        return buf.getvalue().decode("utf-8", errors="backslashreplace")


def run_cli(argv: Sequence[str], cwd: Path | str | None = None) -> CliResult:
    """`m2msim argv...` in this process; stdout, stderr and log records captured."""
    from m2msim.cli import main

    out, err = _Capture(), _Capture()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    old_cwd = os.getcwd()
    rc: int | None
    tb = ""
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(argv))
            except SystemExit as exc:
                code = exc.code
                rc = code if isinstance(code, int) else (0 if code is None else 1)
            except BaseException:
                rc = None
                tb = traceback.format_exc()
    finally:
        os.chdir(old_cwd)
        for h in root.handlers[:]:
            root.removeHandler(h)
        root.handlers.extend(saved_handlers)
        root.setLevel(saved_level)
    return CliResult(list(argv), rc, out.text(), err.text(), tb)


def assert_cli_contract(result: CliResult, allowed: Sequence[int] = (0, 2)) -> None:
    """Exit status allowed; on 2 exactly one stderr line; never a traceback."""
    assert result.rc is not None, f"an exception escaped:\n{result}"
    assert "Traceback (most recent call last)" not in result.err + result.out, str(result)
    assert result.rc in allowed, f"exit {result.rc} not in {tuple(allowed)}:\n{result}"
    if result.rc == 2:
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1, f"exit 2 must print exactly one line on stderr:\n{result}"


def write(path: Path, data: bytes | str) -> Path:
    """Write a mutated input (bytes as they are, text as UTF-8) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


__all__ = [
    "EXTREME_VALUES",
    "FUZZ",
    "FUZZ_EXAMPLES",
    "CliResult",
    "assert_cli_contract",
    "mutated_bytes",
    "mutated_yaml",
    "run_cli",
    "write",
]
