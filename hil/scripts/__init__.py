"""Bench scripts: plain async functions run on one modem by `hil.bench.run_bench`.

Each script module defines `SCRIPT = BenchScript(...)`: its name, what it needs from the bench's
allow-list (`sms`, `call`), its parameters with defaults, and `run(bench) -> details`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hil.errors import ScriptParamError, UnknownScript

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


def get_script(name: str) -> BenchScript:
    """The script called `name` (`register`, `attach_and_send`, `sms_roundtrip`, `dtmf_call`)."""
    key = name.replace("-", "_")
    if key not in NAMES:
        raise UnknownScript(f"unknown bench script {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"hil.scripts.{key}")
    script: BenchScript = module.SCRIPT
    return script


def all_scripts() -> list[BenchScript]:
    return [get_script(n) for n in NAMES]
