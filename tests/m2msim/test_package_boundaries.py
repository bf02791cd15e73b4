"""The packages' boundaries: who may import whom (the architecture page's table).

Every import of every module of our packages is read from its syntax tree (those inside functions
and `if TYPE_CHECKING:` too): an import another package's row does not allow fails, named by file
and line.  The rows:

- `accounting` imports nothing of ours; `gateway` only `accounting.records` (the usage record);
- `simulator` imports `accounting` and, of the gateway, `gateway.api` alone (the typed contract,
  docs/gateway.md: never the concrete network class nor another module of the gateway);
- `modem` imports nothing of ours but `modem.virtual`, the virtual modem, which imports `gateway.api`
  alone of the gateway;
- `hil` imports `modem` and `accounting`;
- and the packages import each other without a cycle.

`m2msim` (the command line and the plumbing every package shares: YAML reading, atomic outputs,
signals) and `reports` (the HTML report and SQL views of a run or a bench) have no row of the table:
every package may use the plumbing, which imports none of them; `reports` imports `accounting`.
What goes beyond a row is listed in `EXCEPTIONS`, each with its reason; an exception no import uses
any more fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounting", "gateway", "simulator", "modem", "hil", "reports", "m2msim")

# What each package may import of the others (a module and the modules under it), by the path of
# the importing modules (the longest prefix rules).  `tests/` and `benchmarks/` may import everything.
ALLOWED: dict[str, tuple[str, ...]] = {
    "accounting/": ("m2msim",),
    "gateway/": ("accounting.records", "m2msim"),
    "simulator/": ("gateway.api", "accounting", "m2msim"),
    "modem/": ("m2msim",),
    "modem/virtual/": ("gateway.api", "m2msim"),
    "hil/": ("modem", "accounting", "m2msim"),
    "reports/": ("accounting", "m2msim"),
    "m2msim/": (),
}


@dataclass(frozen=True)
class Exemption:
    where: str  # the importing module's path, or a folder ending in '/'
    imports: str  # the module imported (and those under it)
    why: str
    cycle: bool = False  # an edge the package cycle check leaves out (see `why`)


EXCEPTIONS = (
    Exemption(
        "modem/virtual/",
        "accounting",
        "the virtual modem's `serve` writes its network's usage records (accounting.usage_writer, "
        "accounting.interim's journal of the open sessions) and its control rates them "
        "(accounting.rate): the usage-record interface, which the table's row for modem lacks",
    ),
    Exemption(
        "gateway/partial.py",
        "accounting.partial",
        "the 12-hour partial-record rule lives in accounting so that the bench, which may not import "
        "the gateway, estimates a run's records by the code the gateway writes them with",
    ),
    Exemption(
        "gateway/wire.py",
        "accounting.wire",
        "the TCP/IP model a connection is billed by lives in accounting so that the bench estimates "
        "a run's IP bytes by it too",
    ),
    Exemption(
        "gateway/plmn.py",
        "accounting.zones",
        "the PLMN table is accounting's (accounting/data/plmn.yaml) so that the bench rates its "
        "sessions by it too; gateway.plmn is its loader with the gateway's errors",
    ),
    Exemption(
        "gateway/alarms.py",
        "accounting.money",
        "an alarm's amounts are written as the invoices write money",
    ),
    Exemption(
        "gateway/sessions_csv.py",
        "accounting.csv_forms",
        "the sessions CSV is read by the usage CSV's forms (delimiters, decimal commas, headers)",
    ),
    Exemption(
        "gateway/sessions_csv.py",
        "accounting.errors",
        "a sessions CSV that cannot be read says so as the usage CSV reader does",
    ),
    Exemption(
        "gateway/sessions_csv.py",
        "accounting.usage_csv_arrow",
        "a zstd-compressed sessions CSV is refused by the usage CSV reader's words",
    ),
    Exemption(
        "gateway/sessions_csv.py",
        "accounting.usage_arrow",
        "a session's line and id hashed by the rating's own text hash (text_hashes), one rule for both",
    ),
    Exemption(
        "gateway/cli.py",
        "accounting.usage_writer",
        "records-from-* and sessions-to-records write usage-record files (the record type's writer)",
    ),
    Exemption(
        "gateway/recordfiles.py",
        "accounting.usage_writer",
        "the commands' usage-record outputs, written by the record type's writer",
    ),
    Exemption(
        "gateway/logs/cli.py",
        "accounting.usage_writer",
        "records-from-radius-detail / -osmo-cdr: the output must be a usage-record file",
    ),
    Exemption(
        "gateway/capture/cli.py",
        "accounting.usage_writer",
        "records-from-pcap: the output must be a usage-record file",
    ),
    Exemption(
        "simulator/",
        "reports",
        "a run writes its HTML report and hourly usage (reports, not in the table)",
    ),
    Exemption(
        "hil/result.py",
        "reports",
        "a bench folder's HTML page (reports, not in the table)",
    ),
    Exemption(
        "reports/run_report.py",
        "gateway.plmn",
        "the run report's home networks, from the gateway's PLMN table",
    ),
    Exemption(
        "m2msim/outputs.py",
        "accounting.interim",
        "recovering a record file a dead process left folds in its journal of open sessions; "
        "imported in that function only, never when the plumbing is imported",
        cycle=True,
    ),
)


@dataclass(frozen=True)
class Import:
    path: str  # relative to the project, with '/'
    line: int
    module: str  # absolute, e.g. gateway.api, accounting.zones for `from accounting import zones`


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[Import]:
    """Every import of our packages in the module at `path`, wherever it stands in the module."""
    rel = path.relative_to(ROOT).as_posix()
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            # `from accounting import zones` imports the module accounting.zones
            found = [
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base for alias in node.names
            ]
        for module in dict.fromkeys(found):
            if module.split(".")[0] in PACKAGES:
                yield Import(rel, node.lineno, module)


def all_imports() -> list[Import]:
    return [
        found
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for found in imports_of(path)
    ]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _package(path: str) -> str:
    return path.split("/")[0]


def _exception(found: Import) -> Exemption | None:
    for e in EXCEPTIONS:
        where = found.path.startswith(e.where) if e.where.endswith("/") else found.path == e.where
        if where and _under(found.module, e.imports):
            return e
    return None


def _allowed(found: Import) -> bool:
    if _package(found.path) == found.module.split(".")[0]:
        return True  # its own package
    row = max((p for p in ALLOWED if found.path.startswith(p)), key=len)
    return any(_under(found.module, a) for a in ALLOWED[row]) or _exception(found) is not None


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_every_import_is_allowed_by_its_packages_row(imports: list[Import]) -> None:
    wrong = [f"{i.path}:{i.line}: imports {i.module}" for i in imports if not _allowed(i)]
    assert wrong == [], "imports the architecture table does not allow:\n" + "\n".join(wrong)


def test_the_simulator_and_the_virtual_modem_use_the_gateway_by_its_api_alone(imports: list[Import]) -> None:
    wrong = [
        f"{i.path}:{i.line}: imports {i.module} (take it from gateway.api)"
        for i in imports
        if i.path.startswith(("simulator/", "modem/"))
        and _under(i.module, "gateway")
        and i.module != "gateway.api"
        and _exception(i) is None
    ]
    assert wrong == []


def test_only_the_virtual_modem_of_the_modem_package_uses_the_gateway(imports: list[Import]) -> None:
    wrong = [
        f"{i.path}:{i.line}: imports {i.module}"
        for i in imports
        if i.path.startswith("modem/")
        and not i.path.startswith("modem/virtual/")
        and _under(i.module, "gateway")
    ]
    assert wrong == []


def test_every_exception_is_still_used(imports: list[Import]) -> None:
    used = {id(e) for i in imports if (e := _exception(i)) is not None}
    stale = [f"{e.where} -> {e.imports}" for e in EXCEPTIONS if id(e) not in used]
    assert stale == [], "exceptions no import needs any more (remove them):\n" + "\n".join(stale)


def test_every_exception_goes_beyond_its_row() -> None:
    """An exception the row allows anyway would hide nothing: it is not an exception."""
    moot = []
    for e in EXCEPTIONS:
        row = max((p for p in ALLOWED if e.where.startswith(p)), key=len)
        if any(_under(e.imports, a) for a in ALLOWED[row]) or _package(e.where) == e.imports.split(".")[0]:
            moot.append(f"{e.where} -> {e.imports}")
    assert moot == []


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle of the graph (its packages in order, the first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_packages_import_each_other_without_a_cycle(imports: list[Import]) -> None:
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for i in imports:
        src, dst = _package(i.path), i.module.split(".")[0]
        e = _exception(i)
        if src != dst and not (e is not None and e.cycle):
            edges.setdefault(src, set()).add(dst)
            where.setdefault((src, dst), f"{i.path}:{i.line}")
    cycle = _cycle(edges)
    assert cycle == [], "a cycle: " + ", ".join(
        f"{a} -> {b} ({where[a, b]})" for a, b in itertools.pairwise(cycle)
    )


def test_the_check_finds_what_it_looks_for() -> None:
    """The reading of imports finds them where a module may hide them (in a function, under
    TYPE_CHECKING, relative, a submodule named in `from package import`)."""
    sample = ROOT / "modem" / "virtual" / "ppp" / "tun.py"  # imports gateway.api inside a function
    assert any(i.module == "gateway.api" for i in imports_of(sample))
    relative = ROOT / "modem" / "sms" / "cli.py"  # `from .address import ...`
    assert any(i.module == "modem.sms.address" for i in imports_of(relative))
    plmn = ROOT / "gateway" / "plmn.py"  # `from accounting import zones`
    assert any(i.module == "accounting.zones" for i in imports_of(plmn))
    assert not _allowed(Import("simulator/engine.py", 1, "gateway.plmn"))
    assert not _allowed(Import("modem/at/client.py", 1, "gateway.api"))
    assert not _allowed(Import("accounting/usage.py", 1, "gateway.api"))
    assert not _allowed(Import("gateway/ggsn.py", 1, "accounting.usage"))
    assert not _allowed(Import("hil/bench.py", 1, "gateway.api"))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) == []
