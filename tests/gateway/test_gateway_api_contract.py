"""`gateway.api` is the whole contract of the gateway for its callers (docs/gateway.md).

Besides `NetworkAPI` and its types, it re-exports the data, configuration types and pure
functions of the gateway's other modules its callers need (`_CONTRACT`), imported when first
asked for: `import gateway.api` stays light (no numpy, no scapy, no PyYAML), and the names mypy
sees (its `TYPE_CHECKING` imports) are exactly those served.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gateway.api as api

HEAVY = ("numpy", "scapy", "yaml", "duckdb", "pyarrow", "simpy")


def _fresh(code: str) -> list[str]:
    """The modules of `HEAVY` and of the gateway a fresh interpreter has imported after `code`."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} and '.' not in m"
        " or m.startswith('gateway.'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_api_imports_no_heavy_module_nor_the_rest_of_the_gateway() -> None:
    assert _fresh("import gateway.api") == ["gateway.api", "gateway.events"]


def test_a_name_of_the_contract_imports_its_own_module_when_asked_for() -> None:
    loaded = _fresh("from gateway.api import luhn_check_digit")
    assert "gateway.identity" in loaded
    assert "gateway.capture" not in loaded and "scapy" not in loaded


@pytest.mark.parametrize("name", sorted(api._CONTRACT))
def test_each_name_is_its_owners_object(name: str) -> None:
    owner = importlib.import_module(api._CONTRACT[name])
    assert getattr(api, name) is getattr(owner, name)
    assert name in dir(api)


def test_a_name_outside_the_contract_is_refused() -> None:
    with pytest.raises(AttributeError, match=r"gateway\.api.*Network"):
        api.Network  # noqa: B018  # the concrete class is not part of the contract
    with pytest.raises(ImportError):
        exec("from gateway.api import NetworkConfig", {})


def test_what_mypy_sees_is_what_the_module_serves() -> None:
    """The `if TYPE_CHECKING:` imports of api.py name each re-export from the module `_CONTRACT`
    gives for it, under its own name, and no other."""
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module is not None
                for alias in stmt.names:
                    assert alias.asname == alias.name  # an explicit re-export
                    seen[alias.name] = stmt.module
    assert seen == api._CONTRACT


def test_the_contract_does_not_shadow_the_apis_own_names() -> None:
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    own = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    own |= {t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign) for t in _targets(n)}
    assert own & set(api._CONTRACT) == set()


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.Name]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t for t in targets if isinstance(t, ast.Name)]
