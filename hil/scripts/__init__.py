"""Bench scripts: plain async functions run on one modem by `hil.bench.run_bench`.

Each script module defines `SCRIPT = BenchScript(...)`: its name, what it needs from the bench's
allow-list (`sms`, `call`), its parameters with defaults, and `run(bench) -> details`.

`get_script(spec)` takes a built-in's name, a user's Python file of the same shape
(`./my_check.py`, loaded by `load_script_file`) or a declarative YAML script (`./my_check.yaml`,
`hil.steps`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.errors import ScriptFileError, ScriptParamError, UnknownScript

if TYPE_CHECKING:
    from hil.bench import BenchContext

ScriptFn = Callable[["BenchContext"], Awaitable[dict[str, Any]]]

NAMES: tuple[str, ...] = ("register", "attach_and_send", "sms_roundtrip", "dtmf_call")


@dataclass(frozen=True)
class Param:
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None  # returns what is wrong with a value, or None

    def validate(self, name: str, value: Any) -> Any:
        if self.choices and value not in self.choices:
            raise ScriptParamError(f"parameter {name}={value!r}: expected one of {', '.join(self.choices)}")
        problem = self.check(value) if self.check is not None else None
        if problem:
            raise ScriptParamError(f"parameter {name}={value!r}: {problem}")
        return value

    def parse(self, name: str, text: str) -> Any:
        """A command-line value (`--param name=value`) as the default's type."""
        kind = type(self.default)
        try:
            if kind is bool:
                low = text.lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError("expected true or false")
                return low in ("1", "true", "yes", "on")
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
        except ValueError as exc:
            raise ScriptParamError(f"parameter {name}={text!r}: {exc}") from None
        return text


def number_problem(value: Any) -> str | None:
    """What is wrong with a `to` parameter (empty: the allow-list's first number is used)."""
    from modem.safety import normalise_number

    if not value:
        return None
    try:
        normalise_number(str(value))
    except ValueError:
        return "not a phone number (digits, with spaces, dots, dashes, 00 or + as written)"
    return None


@dataclass(frozen=True)
class BenchScript:
    name: str
    description: str
    run: ScriptFn
    needs: frozenset[str] = frozenset()  # actions needing the allow-list: "sms", "call"
    params: Mapping[str, Param] = field(default_factory=dict)
    network_offer: str = "business-m2m"  # the virtual network line's offer (voice needs a DTMF offer)

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with the given values (strings are parsed to the default's type)."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise ScriptParamError(f"script {self.name}: unknown parameter {unknown[0]!r}; known: {known}")
        out = {k: p.default for k, p in self.params.items()}
        for key, value in given.items():
            out[key] = self.params[key].parse(key, value) if isinstance(value, str) else value
        for key, value in out.items():
            self.params[key].validate(key, value)
        return out


SCRIPT_SUFFIXES = (".py", ".yaml", ".yml")


def is_script_file(spec: str) -> bool:
    """A script given as a file (a path, or a name ending in .py / .yaml / .yml) rather than a built-in."""
    return spec.endswith(SCRIPT_SUFFIXES) or "/" in spec or "\\" in spec


def get_script(name: str) -> BenchScript:
    """The script called `name` (`register`, `attach_and_send`, `sms_roundtrip`, `dtmf_call`), or the
    script in the file `name` names (a `.py` module with `SCRIPT = BenchScript(...)`, a YAML script)."""
    if is_script_file(name):
        return load_script_file(name)
    key = name.replace("-", "_")
    if key not in NAMES:
        raise UnknownScript(f"unknown bench script {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"hil.scripts.{key}")
    script: BenchScript = module.SCRIPT
    return script


def all_scripts() -> list[BenchScript]:
    return [get_script(n) for n in NAMES]


def load_script_file(path: str | Path) -> BenchScript:
    """The `BenchScript` of a user's file: a Python module defining `SCRIPT = BenchScript(...)` as the
    built-ins do, or a YAML script (`hil.steps`).  Anything else is a `ScriptFileError` naming the
    file (and the line, for a syntax error or an exception while the module loads)."""
    file = Path(path)
    source = str(path)
    if file.suffix in (".yaml", ".yml"):
        from hil.steps import load_steps_script

        return load_steps_script(file)
    if file.suffix != ".py":
        raise ScriptFileError(f"{source}: a script file is a Python module (.py) or a YAML script (.yaml)")
    if not file.is_file():
        raise ScriptFileError(f"{source}: no such file" if not file.exists() else f"{source}: not a file")
    module_name = f"m2msim_bench_script_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ScriptFileError(f"{source}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and typing look the module up while it loads
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:  # a NUL byte has no line
        where = f"{source}:{exc.lineno}" if exc.lineno is not None else source
        raise ScriptFileError(f"{where}: syntax error: {exc.msg}") from None
    except (Exception, SystemExit) as exc:  # the user's code failed (or exited) while loading: name where
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
        where = f"{source}:{frames[-1].lineno}" if frames else source
        raise ScriptFileError(f"{where}: the module failed to load: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(module_name, None)
    script = getattr(module, "SCRIPT", None)
    if script is None:
        raise ScriptFileError(
            f"{source}: no SCRIPT in the module; a bench script defines SCRIPT = BenchScript(name=..., "
            "description=..., run=...) (from hil.scripts import BenchScript)"
        )
    if not isinstance(script, BenchScript):
        raise ScriptFileError(
            f"{source}: SCRIPT is a {type(script).__name__}, expected a hil.scripts.BenchScript"
        )
    if not callable(script.run):
        raise ScriptFileError(f"{source}: SCRIPT.run is not a function")
    return script
