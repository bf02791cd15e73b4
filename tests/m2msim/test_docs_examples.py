"""What a user copies from README.md and docs/*.md works as shown.

Every fenced block of those pages is either checked here (a YAML snippet through the project's
own loader of that kind of file, a Python snippet run or its imports and calls checked against
the code, a shell example run in this process against the shipped scenarios or `virtual://`
modems, a shown output compared with what the command prints) or listed in `NOT_RUN` with the
reason; a block that is neither fails the test, so a new example cannot slip in unchecked.
Every `m2msim COMMAND ... --option` the pages mention is checked against the command's parser.
The README's SQL queries are run by tests/reports/test_report_sql.py.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib
import inspect
import json
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fuzzing import run_cli

from m2msim.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
SCENARIOS = ROOT / "scenarios"
EXAMPLE = SCENARIOS / "example-month"


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # the line of the opening fence
    lang: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        """How the lists below name a block: its page and the first words of its first line (line numbers move)."""
        return (self.page, _start(self.text))


def _start(text: str) -> str:
    """The first six words of a block's first line: enough to tell the blocks of a page apart."""
    return " ".join(text.split("\n", 1)[0].split()[:6])


def blocks() -> list[Block]:
    """The fenced blocks, and the blocks indented by four spaces (not a list item's lines)."""
    found = []
    for page in PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").split("\n")
        i, text_before = 0, ""
        while i < len(lines):
            m = re.match(r"^```(\w*)\s*$", lines[i])
            if m:
                end = lines.index("```", i + 1)
                found.append(Block(page, i + 1, m.group(1), "\n".join(lines[i + 1 : end]) + "\n"))
                i = end + 1
                continue
            if (
                lines[i].startswith("    ")
                and lines[i].strip()
                and not lines[i - 1].strip()
                and not re.match(r"\s*([-*]|\d+\.)\s|\s{2,}", text_before)
            ):
                end = i
                while end < len(lines) and (
                    lines[end].startswith("    ")
                    or (not lines[end].strip() and end + 1 < len(lines) and lines[end + 1].startswith("    "))
                ):
                    end += 1
                found.append(Block(page, i + 1, "indented", "\n".join(x[4:] for x in lines[i:end]) + "\n"))
                i = end
                continue
            if lines[i].strip():
                text_before = lines[i]
            i += 1
    return found


BLOCKS = blocks()


def block(page: str, first: str) -> Block:
    [found] = [b for b in BLOCKS if b.key == (page, _start(first))]
    return found


# Blocks this test does not run, and why (each still has to be found in its page).
SYNOPSIS = "a synopsis: its options are checked against the parser"
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "make run # creates .venv from"): "re-installs the environment and runs the whole suite",
    ("docs/scaling.md", "dask scheduler --host 10.0.0.5 # machine"): "a Dask cluster on other machines",
    (
        "docs/capture.md",
        "m2msim records-from-pcap CAPTURE... [--out FILE.parquet|FILE.csv] [--json]",
    ): SYNOPSIS,
    (
        "docs/records.md",
        "m2msim records-from-radius-detail DETAIL... [--out FILE.parquet|.csv] [--json]",
    ): SYNOPSIS,
    ("docs/modem.md", "m2msim modem probe URL [--profile NAME|FILE]"): SYNOPSIS,
    ("docs/accounting.md", "m2msim rate INVENTORY USAGE [--json] [--out"): SYNOPSIS,
    ("docs/bench.md", "m2msim bench SCRIPT --modem-url URL [--modem-url"): SYNOPSIS,
    ("docs/report.md", 'm2msim sql RUN_DIR "SELECT ..." [--csv'): SYNOPSIS,
    (
        "docs/bench.md",
        "m2msim bench ./my_check.py --modem-url /dev/ttyUSB2 --param",
    ): "a physical modem (the command line is parsed below)",
    (
        "docs/bench.md",
        "m2msim bench register --modem-url /dev/ttyUSB2 --modem-url",
    ): "physical modems (the command lines are parsed below)",
    (
        "docs/bench.md",
        "replay://hw/register.jsonl: command 'AT+CGMM' is not in",
    ): "tests/hil/test_hil_replay.py makes this error",
    (
        "docs/bench.md",
        "pytest tests/bench # the virtual modem,",
    ): "the bench suite itself (and physical modems)",
    (
        "docs/console.md",
        '{"m2msim": "console-address", "address": "tcp://127.0.0.1:41235", "token": "9f1c...",',
    ): "a serve's address file, checked by tests/modem/test_console_serve.py",
    (
        "docs/ppp.md",
        "m2msim modem serve --profile simcom-sim800 --ip-path",
    ): "root, a network namespace and servers in it (the m2msim line is parsed below)",
    (
        "docs/ppp.md",
        "m2msim modem serve --profile simcom-sim800 #",
    ): "serves until interrupted (parsed below)",
    ("docs/ppp.md", 'ABORT "NO CARRIER"'): "pppd's chat script, for a kernel with PPP",
    ("docs/ppp.md", "/dev/pts/5"): "pppd's peers file, for a kernel with PPP",
    ("docs/ppp.md", "socat /dev/tnt1,raw,echo=0 /dev/pts/5,raw,echo=0 &"): "tty0tty kernel module and socat",
    (
        "docs/ppp.md",
        'ACTION=="add|change", SUBSYSTEM=="tty", KERNEL=="tnt0", ENV{ID_MM_DEVICE_PROCESS}="1", ENV{ID_MM_PORT_TYPE_AT_PRIMARY}="1"',
    ): "a udev rule",
    ("docs/ppp.md", "nmcli connection add type gsm ifname"): "NetworkManager and ModemManager",
    ("docs/scaling.md", "wall(devices, machines) = fixed + shards0"): "a formula",
    (
        "docs/virtual-modem.md",
        "m2msim modem serve --profile simcom-sim800",
    ): "serves until interrupted (the command lines are parsed below)",
}

SMS_EXAMPLES = (
    "docs/sms.md",
    "python -m modem.sms sms-decode 07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
)

# Python fragments (top-level await, names the page leaves to the reader, a physical modem):
# their imports are run and every call of an imported name is bound to its signature.
FRAGMENTS = {
    ("docs/console.md", "from modem.virtual.control_client import ConsoleClient, ConsoleError"),
    ("docs/console.md", "# conftest.py"),
    ("docs/bench.md", "from hil import load_allow_list, run_bench"),
    ("docs/capture.md", "from gateway.partial import cut_sessions"),
    ("docs/modem.md", "from modem.at import ATClient, Command, errors"),
    ("docs/modem.md", "from modem.drivers import Modem"),
    ("docs/sms.md", "from datetime import timedelta"),
}


def _checked_elsewhere() -> set[tuple[str, str]]:
    """The README's SQL queries: tests/reports/test_report_sql.py runs them."""
    return {b.key for b in BLOCKS if b.page == "README.md" and b.lang == "sql"}


# Each YAML snippet: the file name it is written to and the loader of that kind of file.
YAML_LOADERS: dict[tuple[str, str], tuple[str, str]] = {
    ("docs/scenarios.md", "name: smart-meters"): ("scen.yaml", "simulator.scenario:load_scenario"),
    ("docs/gateway.md", "timezone: Europe/Paris # for the period"): (
        "alarms.yaml",
        "gateway.alarms:load_alarm_config",
    ),
    ("docs/bench.md", 'country_code: "33" # how national numbers'): (
        "bench.yaml",
        "hil.allowlist:load_allow_list",
    ),
    ("docs/bench.md", "name: signal_check # default: the file's"): (
        "steps.yaml",
        "hil.steps:load_steps_script",
    ),
    ("docs/bench.md", "# rack.yaml"): ("rack.yaml", "hil.rack:load_rack"),
    ("docs/virtual-modem.md", "hosts:"): ("hosts.yaml", "gateway.internet:load_internet"),
    # its `internet: hosts.yaml` is the table above, written beside it first
    ("docs/virtual-modem.md", "start: 2026-03-01T08:00:00Z # the network's epoch"): (
        "serve.yaml",
        "modem.virtual.scenario:load_scenario",
    ),
}


@pytest.mark.parametrize("key", list(YAML_LOADERS), ids=lambda k: f"{k[0]}:{k[1][:20]}")
def test_a_yaml_snippet_loads_with_the_projects_loader(key: tuple[str, str], tmp_path: Path) -> None:
    name, loader = YAML_LOADERS[key]
    module, function = loader.split(":")
    load: Callable[[Path], object] = getattr(importlib.import_module(module), function)
    (tmp_path / "hosts.yaml").write_text(block("docs/virtual-modem.md", "hosts:").text, encoding="utf-8")
    path = tmp_path / name
    path.write_text(block(*key).text, encoding="utf-8")
    assert load(path) is not None


# ---------------------------------------------------------------------------------------------
# Python snippets


def _imports_and_calls(code: str) -> list[str]:
    """Run a fragment's imports, then bind each call of an imported name (or of an attribute of
    one: `Modem.open`, `AllowList.from_file`) to its signature; the calls that do not bind."""
    tree = ast.parse(f"async def _fragment():\n{_indent(code)}")
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), "<fragment>", "exec"), names)
    for node in ast.walk(tree):  # a test's parameter (a fixture) is not the imported function
        if isinstance(node, ast.arg):
            names.pop(node.arg, None)
    wrong = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        target = _resolve(node.func, names)
        if target is None or any(k.arg is None for k in node.keywords):
            continue
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            continue
        try:
            signature.bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg})
        except TypeError as exc:
            wrong.append(f"{ast.unparse(node)}: {exc}")
    return wrong


def _indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.splitlines()) or "    pass\n"


def _resolve(func: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute):
        owner = _resolve(func.value, names)
        return None if owner is None else getattr(owner, func.attr)
    return None


@pytest.mark.parametrize("key", sorted(FRAGMENTS), ids=lambda k: f"{k[0]}:{k[1][:30]}")
def test_a_python_fragment_imports_and_calls_what_the_code_has(key: tuple[str, str]) -> None:
    assert _imports_and_calls(block(*key).text) == []


def test_the_accounting_api_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    code = block("docs/accounting.md", "from accounting import (").text
    (tmp_path / "inventory.yaml").write_bytes((EXAMPLE / "inventory.yaml").read_bytes())
    pq.write_table(pacsv.read_csv(EXAMPLE / "usage.csv"), tmp_path / "usage.parquet")
    (tmp_path / "my-operator.yaml").write_bytes(
        (ROOT / "accounting/catalogs/orange-m2m-2012.yaml").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    printed: list[object] = []
    names: dict[str, Any] = {"print": printed.append}
    exec(compile(code, "docs/accounting.md", "exec"), names)
    r = run_cli(["rate", "inventory.yaml", "usage.parquet", "--json"])
    assert str(names["invoice"].total) == json.loads(r.out)["total_ht"]  # as `m2msim rate` bills it
    assert names["comparison"].cheapest is not None
    assert str(printed[0]).startswith("Invoice acme-meters, 2026-03")
    assert names["table"].num_rows == 1


def test_the_gateway_api_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    network = block("docs/gateway.md", "from datetime import UTC, datetime").text
    alarms = block("docs/gateway.md", "from gateway.alarms import JsonLinesAlarmSink, load_alarm_config").text
    (tmp_path / "runs").mkdir()
    (tmp_path / "alarms.yaml").write_text(
        block("docs/gateway.md", "timezone: Europe/Paris # for the period").text
    )
    monkeypatch.chdir(tmp_path)
    # the alarm snippet goes inside the first one's `with`, where `config` and `sink` are
    exec(compile(network + _indent(alarms), "docs/gateway.md", "exec"), {})
    rows = pq.read_table(tmp_path / "runs/usage.parquet").to_pylist()
    data, sms, voice = (next(r for r in rows if r["type"] == t) for t in ("data", "sms", "voice"))
    # "final record, cause 0"
    assert (data["cause"], data["bytes_up"], data["bytes_down"]) == (0, 1_200, 3_400)
    assert sms["dest"] == "fr-mobile"
    assert voice["duration_s"] == 60  # "record with duration 60 s"


def test_the_sms_receiving_snippet_runs() -> None:
    shown = block("docs/sms.md", "from modem.sms import Direction, Reassembler, decode_pdu").text
    example = block(*SMS_EXAMPLES).text.split()[4]  # the page's DELIVER
    tpdu_octets = len(example) // 2 - 1 - int(example[:2], 16)  # less its SMSC prefix
    handled: list[tuple[str, str]] = []
    names: dict[str, Any] = {
        "pdu_line": example,
        "loop": types.SimpleNamespace(time=lambda: 0.0),
        "handle": lambda number, text: handled.append((number, text)),
        "log": print,
    }
    exec(compile(shown.replace(",,25", f",,{tpdu_octets}"), "docs/sms.md", "exec"), names)
    assert handled == [("27838890001", "hellohello")]


def test_the_capture_snippet_writes_what_records_from_pcap_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    from gateway.api import CallKind, Subscriber

    shown = block("docs/capture.md", "from datetime import UTC, datetime").text
    uses = block("docs/gateway.md", "from datetime import UTC, datetime").text.split("\n")
    # the page's `...`: the gateway page's session, from its subscriber to its flush
    first = next(i for i, line in enumerate(uses) if "register_subscriber" in line)
    last = next(i for i, line in enumerate(uses) if "net.flush" in line)
    assert shown.count("    ...\n") == 1
    code = shown.replace("    ...\n", "\n".join(uses[first : last + 1]) + "\n")

    class Records:
        def __init__(self) -> None:
            self.rows: list[Any] = []

        def write(self, record: Any) -> None:
            self.rows.append(record)

    records = Records()
    (tmp_path / "runs/x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    exec(
        compile(code, "docs/capture.md", "exec"),
        {"records": records, "Subscriber": Subscriber, "CallKind": CallKind},
    )
    [written] = [r for r in records.rows if r.type == "data"]
    r = run_cli(["records-from-pcap", "runs/x/capture.pcap", "--out", "read.csv"])
    assert r.rc == 0, r.err + r.traceback
    [read] = list(csv.DictReader((tmp_path / "read.csv").read_text(encoding="utf-8").splitlines()))
    assert (read["line"], int(read["bytes_up"]), int(read["bytes_down"])) == (
        written.line,
        written.bytes_up,
        written.bytes_down,
    )


def test_the_extending_example_declares_a_command(tmp_path: Path) -> None:
    from modem.virtual.registry import CommandSet
    from modem.virtual.results import Final
    from modem.virtual.syntax import Cmd

    shown = block("docs/extending.md", '@GENERAL.command("+CGMI", "+GMI") # names, upper-case, with')
    commands = CommandSet("doc")  # a set of its own: the page's GENERAL already has +CGMI
    names = {"GENERAL": commands, "Cmd": Cmd, "Final": Final, "VirtualModem": object}
    exec(compile(shown.text, "docs/extending.md", "exec"), names)
    assert {"+CGMI", "+GMI"} <= set(commands.commands)
    # the options the page names
    assert {"sim", "listed"} <= set(inspect.signature(commands.command).parameters)


def test_the_virtual_modem_snippets_run() -> None:
    from datetime import UTC, datetime

    from gateway.network import Network, NetworkConfig

    in_process = block("docs/virtual-modem.md", "from modem.virtual import open_virtual").text
    names: dict[str, Any] = {}
    exec(
        compile(f"async def snippet():\n{_indent(in_process)}    return t", "docs/virtual-modem.md", "exec"),
        names,
    )

    async def first_answer() -> bytes:
        t = await names["snippet"]()
        await t.write(b"AT+CSQ\r")
        answer: bytes = await t.read()
        await t.close()
        return answer

    assert b"+CSQ: " in asyncio.run(first_answer())

    sans_io = block("docs/virtual-modem.md", "from modem.profiles import load_profile").text
    records: list[object] = []
    net = Network(NetworkConfig(epoch=datetime(2026, 3, 1, tzinfo=UTC), seed=7), records)
    names = {"net": net}
    exec(
        compile(
            sans_io.replace("m.take_output()", "shown = m.take_output()"), "docs/virtual-modem.md", "exec"
        ),
        names,
    )
    assert names["shown"].endswith(b"+CREG: 0,2\r\n\r\nOK\r\n")  # searching at 0 s: registered later
    assert names["m"].next_deadline() is not None


# ---------------------------------------------------------------------------------------------
# Shell examples and the outputs shown


def _sh(line: str) -> list[str]:
    """A shown command line as m2msim's arguments: its comment and a trailing `&` dropped."""
    words = line.split("#", 1)[0].strip().removesuffix("&").split()
    assert words[0] == "m2msim", line
    return words[1:]


def _linked_scenarios(tmp_path: Path) -> Path:
    if not (tmp_path / "scenarios").exists():
        (tmp_path / "scenarios").symlink_to(SCENARIOS)
    return tmp_path


README_EXAMPLES = block(
    "README.md", "m2msim run scenarios/smart-meters.yaml --days 2 --out"
).text.splitlines()
README_NOT_RUN = {
    "m2msim modem serve": "serves until interrupted; `modem probe` below runs on a virtual:// modem instead",
    "m2msim modem probe /dev/pts/N": "the pty of the serve above: the same probe on virtual:// is compared below",
    "m2msim bench sms_roundtrip --modem-url /dev/ttyUSB2": "a physical modem",
}


@pytest.mark.parametrize("line", README_EXAMPLES)
def test_the_readme_examples_run(line: str, tmp_path: Path) -> None:
    if any(line.startswith(start) for start in README_NOT_RUN):
        assert re.match(r"m2msim (modem serve|modem probe /dev/pts/N|bench \S+ --modem-url /dev/tty)", line)
        return
    r = run_cli(_sh(line), cwd=_linked_scenarios(tmp_path))
    assert r.rc == 0, r.err + r.traceback
    if "--out" in line:
        out = tmp_path / _sh(line)[_sh(line).index("--out") + 1]
        assert {"usage.parquet", "invoice.txt", "summary.txt", "report.html"} <= {
            p.name for p in out.iterdir()
        }


def test_the_scenarios_page_examples_parse_and_the_quick_one_runs(tmp_path: Path) -> None:
    lines = block("docs/scenarios.md", "m2msim run scenarios/default.yaml --out runs/default #")
    shown = [_sh(line) for line in lines.text.splitlines()]
    parser = build_parser()
    for argv in shown:
        parser.parse_args(argv)  # every option as written
    [quick] = [a for a in shown if "--max-lines" in a]  # the others: a month of thousands, a cluster
    r = run_cli(quick, cwd=_linked_scenarios(tmp_path))
    assert r.rc == 0, r.err + r.traceback
    assert (tmp_path / "runs/alarm-panels/usage.csv").is_file()  # --csv


# Each shown error of a scenario, made by one change to the page's scenario snippet.
SCENARIO_ERRORS = {
    "groups[0].schedule.period": ("period: 15min", "period: soon"),
    "groups[0].shedule": ("    schedule:", "    shedule:"),
    "groups[3].sms[0].dest": ('dest: "0612000000", size', "dest: 0612345670, size"),
    "groups[0].schedule.jitter": ("jitter: tr37868-model1", "jitter: tr37868-model3"),
    "groups[3].calls[0].rate_per_day": ("rate_per_day: 0.33", "rate_per_day: -1"),
    "inventory.lines[0].offer": ("offer: business-m2m,", "offer: business-m3m,"),
    "name": ("name: smart-meters", "name: ../x"),
}


def test_the_scenario_errors_shown_are_those_given(tmp_path: Path) -> None:
    shown = block("docs/scenarios.md", "m2msim run: scen.yaml:44: groups[0].schedule.period: expected a")
    snippet = block("docs/scenarios.md", "name: smart-meters").text
    lines = shown.text.splitlines()
    assert len(lines) == len(SCENARIO_ERRORS)
    for line in lines:
        m = re.fullmatch(r"m2msim run: scen\.yaml:\d+: (\S+): (.*)", line)
        assert m, line
        before, after = SCENARIO_ERRORS[m.group(1)]
        assert snippet.count(before) == 1, before
        (tmp_path / "scen.yaml").write_text(snippet.replace(before, after), encoding="utf-8")
        r = run_cli(["run", "scen.yaml", "--out", "runs/x"], cwd=tmp_path)
        assert r.rc == 2, r.err
        # the snippet has one group: the page's group index is that of a longer file
        key = re.sub(r"groups\[\d+\]", "groups[0]", m.group(1))
        assert re.fullmatch(
            rf"m2msim run: scen\.yaml:\d+: {re.escape(key)}: {re.escape(m.group(2))}\n", r.err
        ), r.err


def test_the_sms_examples_print_what_is_shown() -> None:
    shown = block(*SMS_EXAMPLES)
    commands = re.split(r"\n(?=python -m modem\.sms )", shown.text.strip())
    assert len(commands) == 3
    for command in commands:
        first, *expected = command.splitlines()
        argv = _quoted_words(first.removeprefix("python -m modem.sms "))
        r = run_cli(argv)  # `python -m modem.sms` is `m2msim`'s sms commands
        assert r.rc == 0, r.err
        got = r.out.splitlines()
        expected = [e for e in expected if e and not e.startswith("#")]
        if "..." in expected:  # the lines between are left out
            cut = expected.index("...")
            assert (
                got[:cut] == expected[:cut]
                and got[len(got) - len(expected) + cut + 1 :] == expected[cut + 1 :]
            )
        else:
            assert got == expected


def _quoted_words(line: str) -> list[str]:
    return [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', line)]


def test_the_probe_shown_is_what_a_virtual_modem_answers() -> None:
    shown = block("docs/modem.md", "url: virtual://quectel-bg96").text.splitlines()
    # the page's `m2msim modem probe virtual://quectel-bg96 --wait 10`, on a clock 50 times as fast
    r = run_cli(["modem", "probe", "virtual://quectel-bg96?speed=50", "--wait", "10"])
    assert r.rc == 0, r.err + r.traceback
    got = r.out.splitlines()
    assert got[0] == "url:          virtual://quectel-bg96?speed=50" and got[1:] == shown[1:]


ACCOUNTING_WARNING = (
    "m2msim rate: warning: 37 of the 37 usage rows were rejected, 37 as malformed value (row 2: malformed value: "
    "start '01/03/2026 00:00:00'); a start is ISO 8601 with its offset (2026-03-01T10:00:00Z), not a date with "
    "slashes as a spreadsheet shows it: the invoice bills only the rows not rejected"
)
CATALOG_ERROR = (
    "accounting/catalogs/orange-m2m-2012.yaml:117: fleet_discounts[0].rate: expected a non-negative decimal "
    "below 1,000,000,000, got 'five'"
)
KEEP_ERROR = "m2msim rate: --out keep.txt: exists and was not written by m2msim: choose another name, or --force to replace it"


def test_the_accounting_examples_run(tmp_path: Path) -> None:
    shown = block(
        "docs/accounting.md",
        "m2msim rate scenarios/example-month/inventory.yaml scenarios/example-month/usage.csv",
    )
    for line in shown.text.splitlines():
        r = run_cli(_sh(line), cwd=_linked_scenarios(tmp_path))
        assert r.rc == 0, r.err + r.traceback


# Each shown `rate` error, from an inventory (its line numbers those shown) or a usage file made to have it.
_INVENTORY = """customer: x
month: 2026-03
lines:
  - offer: business-m2m
    id: "33612345678"
    plan: forfait-2mo
    commitment: 24
    since: 2025-01-01
"""
RATE_ERRORS = {  # the start of the line shown -> (inventory, usage without its `start` column)
    "inventory.yaml:2: month": (_INVENTORY.replace("2026-03", "13"), False),
    "usage.csv: missing": (_INVENTORY, True),
    "inventory.yaml:5: lines[0].id": (_INVENTORY.replace('"33612345678"', "0612345670"), False),
    "inventory.yaml:6: lines[0].ofer": (
        _INVENTORY.replace(
            'offer: business-m2m\n    id: "33612345678"',
            'plan: x\n    id: "33612345678"\n    ofer: business-m2m',
        ).replace("    plan: forfait-2mo\n", ""),
        False,
    ),
}


def test_the_rate_errors_shown_are_those_given(tmp_path: Path) -> None:
    shown = block("docs/accounting.md", "m2msim rate: inventory.yaml:2: month: expected YYYY-MM,").text
    assert len(shown.splitlines()) == len(RATE_ERRORS)
    usage = [row.split(",") for row in (EXAMPLE / "usage.csv").read_text(encoding="utf-8").splitlines()]
    at = usage[0].index("start")
    for line in shown.splitlines():
        [(inventory, no_start)] = [v for k, v in RATE_ERRORS.items() if line.startswith(f"m2msim rate: {k}")]
        (tmp_path / "inventory.yaml").write_text(inventory)
        rows = [row[:at] + row[at + 1 :] if no_start else row for row in usage]
        (tmp_path / "usage.csv").write_text("".join(",".join(row) + "\n" for row in rows))
        r = run_cli(["rate", "inventory.yaml", "usage.csv"], cwd=tmp_path)
        assert (r.rc, r.err) == (2, line + "\n")


def test_the_rejected_starts_warning_is_as_shown(tmp_path: Path) -> None:
    assert ACCOUNTING_WARNING in block("docs/accounting.md", ACCOUNTING_WARNING).text
    header, *rows = (EXAMPLE / "usage.csv").read_text(encoding="utf-8").splitlines()
    at = header.split(",").index("start")
    assert len(rows) == 37  # the bundled month, its starts written as a spreadsheet shows dates
    slashed = []
    for n, row in enumerate(rows):
        cells = row.split(",")
        cells[at] = f"01/03/2026 00:{n:02d}:00"  # each row its own minute: none a duplicate of another
        slashed.append(",".join(cells))
    (tmp_path / "usage.csv").write_text("\n".join([header, *slashed]) + "\n")
    r = run_cli(["rate", str(EXAMPLE / "inventory.yaml"), "usage.csv"], cwd=tmp_path)
    assert r.rc == 0 and r.err == ACCOUNTING_WARNING + "\n"


def test_the_catalog_error_shown_is_the_shipped_catalogs(tmp_path: Path) -> None:
    assert block("docs/tariff.md", CATALOG_ERROR).text == CATALOG_ERROR + "\n"
    path, number, *_ = CATALOG_ERROR.split(":")
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines(keepends=True)
    assert re.fullmatch(r"\s*rate: [\d.]+\n", lines[int(number) - 1]), lines[int(number) - 1]
    lines[int(number) - 1] = re.sub(r"rate: [\d.]+", "rate: five", lines[int(number) - 1])
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text("".join(lines))
    r = run_cli(
        ["rate", str(EXAMPLE / "inventory.yaml"), str(EXAMPLE / "usage.csv"), "--catalog", path], cwd=tmp_path
    )
    assert (r.rc, r.err) == (2, f"m2msim rate: {CATALOG_ERROR}\n")


def test_an_out_not_written_by_m2msim_is_refused_as_shown(tmp_path: Path) -> None:
    assert block("docs/reliability.md", KEEP_ERROR).text == KEEP_ERROR + "\n"
    (tmp_path / "keep.txt").write_text("my notes\n")
    r = run_cli(
        ["rate", str(EXAMPLE / "inventory.yaml"), str(EXAMPLE / "usage.csv"), "--out", "keep.txt"],
        cwd=tmp_path,
    )
    assert (r.rc, r.err) == (2, KEEP_ERROR + "\n")
    assert (tmp_path / "keep.txt").read_text() == "my notes\n"


def test_the_bench_on_a_virtual_modem_and_its_replay_run(tmp_path: Path) -> None:
    [virtual] = [
        _sh(line)
        for line in block(
            "docs/bench.md", "m2msim bench register --modem-url virtual://quectel-bg96"
        ).text.splitlines()
        if "virtual://" in line  # the others: a modem on /dev/ttyUSB2
    ]
    r = run_cli([*virtual, "--out", "runs/bench/register-1"], cwd=tmp_path)
    assert r.rc == 0, r.err + r.traceback
    replay = _sh(
        block(
            "docs/bench.md",
            "m2msim bench register --modem-url replay://runs/bench/register-1/transcript.jsonl",
        ).text.splitlines()[0]
    )
    r = run_cli([*replay, "--out", "runs/bench/replayed"], cwd=tmp_path)
    assert r.rc == 0, r.err + r.traceback
    assert "PASSED" in r.out


def test_bench_ports_lists_without_a_modem() -> None:
    for line in block("docs/bench.md", "m2msim bench ports [--json]").text.splitlines()[:1]:
        assert line == "m2msim bench ports [--json]"
        for argv in (["bench", "ports"], ["bench", "ports", "--json"]):
            r = run_cli(argv)
            assert r.rc == 0, r.err + r.traceback


def test_the_console_session_is_made_of_console_commands() -> None:
    from modem.virtual.control import COMMANDS

    session = block("docs/console.md", "$ m2msim modem serve --profile simcom-sim800")
    ctl = [
        line.split("#", 1)[0].split()[5:]
        for line in session.text.splitlines()
        if line.startswith("$ m2msim modem ctl")
    ]
    assert ctl and all(words[0] in COMMANDS for words in ctl), ctl
    journal = block(
        "docs/console.md", '{"count": 2, "m2msim": "console-journal", "profile": "simcom-sim800",'
    )
    for line in journal.text.splitlines()[1:]:
        assert json.loads(line)["cmd"][0] in COMMANDS


REPO_PATH = re.compile(r"(scenarios|hil|accounting|gateway|modem|simulator|reports|tests|benchmarks)/\S+")


def test_the_files_a_command_line_shown_names_are_the_repositorys() -> None:
    """A shown command line that names a file of the repository runs from its root: every file it
    names there (`hil/examples/rack.yaml`, and a script beside it) is there."""
    wrong = []
    for b in BLOCKS:
        for line in b.text.splitlines():
            words = _quoted_words(line.removeprefix("$ ").split(" #", 1)[0])
            if words[:1] != ["m2msim"] or not any(REPO_PATH.fullmatch(w) for w in words):
                continue
            for word in words[1:]:
                if (REPO_PATH.fullmatch(word) or word.startswith("./")) and not (ROOT / word).exists():
                    wrong.append(f"{b.page}:{b.line}: {word}")
    assert wrong == []


def test_every_bench_param_a_page_names_is_the_scripts() -> None:
    """`m2msim bench SCRIPT ... --param KEY=...` and `SCRIPT --param KEY=...`: KEY is a parameter of
    SCRIPT (a built-in, or the example script of that name in hil/examples/)."""
    from hil.scripts import get_script

    wrong, seen = [], 0
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for m in re.finditer(r"(?:m2msim bench (\S+)[^`|\n]*?|`([a-z_]+) )--param ([a-z_]+)=", text):
            name, key = m.group(1) or m.group(2), m.group(3)
            if name.startswith("./"):
                name = str(ROOT / "hil/examples" / name.removeprefix("./"))
            seen += 1
            if key not in get_script(name).params:
                wrong.append(f"{page}: {m.group(0)}")
    assert wrong == [] and seen >= 3


def test_the_steps_script_shown_passes_on_a_virtual_modem(tmp_path: Path) -> None:
    (tmp_path / "steps.yaml").write_text(
        block("docs/bench.md", "name: signal_check # default: the file's").text
    )
    # a clock 50 times as fast: registration in a tenth of a second
    argv = ["bench", "./steps.yaml", "--modem-url", "virtual://quectel-bg96?speed=50", "--out", "out"]
    r = run_cli(argv, cwd=tmp_path)
    assert r.rc == 0 and "bench signal_check" in r.out and "PASSED" in r.out, r.err + r.out


def test_every_command_line_shown_parses() -> None:
    """Each `m2msim ...` line of a block (not a synopsis, not an error line) is a command line the
    parser takes as written."""
    parser = build_parser()
    wrong, seen = [], 0
    for b in BLOCKS:
        for line in b.text.splitlines():
            line = line.removeprefix("$ ")
            if (
                not line.startswith("m2msim ")
                or re.match(r"m2msim [\w-]+( \w+)?:", line)
                or re.search(r"\[|\.\.\.|COMMAND|URL|SCRIPT", line)
            ):
                continue
            words = _quoted_words(
                line.split(" #", 1)[0].strip().removesuffix("&").replace("$ADDR", "control.json")
            )[1:]
            seen += 1
            try:
                parser.parse_args(words)
            except SystemExit:
                wrong.append(f"{b.page}:{b.line}: {line}")
    assert wrong == []
    assert seen > 30


# ---------------------------------------------------------------------------------------------
# Every block is accounted for; every option named exists.

CHECKED = {
    *_checked_elsewhere(),
    *FRAGMENTS,
    *YAML_LOADERS,
    ("docs/accounting.md", "from accounting import ("),
    ("docs/gateway.md", "from datetime import UTC, datetime"),
    ("docs/gateway.md", "from gateway.alarms import JsonLinesAlarmSink, load_alarm_config"),
    ("README.md", "m2msim run scenarios/smart-meters.yaml --days 2 --out"),
    ("docs/scenarios.md", "m2msim run scenarios/default.yaml --out runs/default #"),
    ("docs/scenarios.md", "m2msim run: scen.yaml:44: groups[0].schedule.period: expected a"),
    SMS_EXAMPLES,
    ("docs/modem.md", "url: virtual://quectel-bg96"),
    ("docs/virtual-modem.md", "from modem.virtual import open_virtual"),
    ("docs/virtual-modem.md", "from modem.profiles import load_profile"),
    ("docs/sms.md", "from modem.sms import Direction, Reassembler, decode_pdu"),
    ("docs/capture.md", "from datetime import UTC, datetime"),
    ("docs/extending.md", '@GENERAL.command("+CGMI", "+GMI") # names, upper-case, with'),
    (
        "docs/accounting.md",
        "m2msim rate scenarios/example-month/inventory.yaml scenarios/example-month/usage.csv",
    ),
    ("docs/accounting.md", "m2msim rate: inventory.yaml:2: month: expected YYYY-MM,"),
    ("docs/accounting.md", ACCOUNTING_WARNING),
    ("docs/tariff.md", CATALOG_ERROR),
    ("docs/reliability.md", KEEP_ERROR),
    ("docs/bench.md", "m2msim bench register --modem-url virtual://quectel-bg96"),
    ("docs/bench.md", "m2msim bench register --modem-url replay://runs/bench/register-1/transcript.jsonl"),
    ("docs/bench.md", "m2msim bench ports [--json]"),
    ("docs/console.md", "$ m2msim modem serve --profile simcom-sim800"),
    ("docs/console.md", '{"count": 2, "m2msim": "console-journal", "profile": "simcom-sim800",'),
}


def test_every_block_is_checked_or_listed_with_a_reason() -> None:
    keys = {b.key for b in BLOCKS}
    assert len(keys) == len(BLOCKS)  # each block named by its first words alone
    checked = {(page, _start(first)) for page, first in CHECKED}
    unaccounted = [f"{b.page}:{b.line}" for b in BLOCKS if b.key not in checked and b.key not in NOT_RUN]
    assert unaccounted == []
    assert set(NOT_RUN) - keys == set() and checked - keys == set()  # no entry left for a block gone


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def _sub(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def test_every_option_a_page_names_is_the_commands() -> None:
    top = build_parser()
    commands = _sub(top)
    wrong, seen = [], 0
    for page in PAGES:
        for number, raw in enumerate((ROOT / page).read_text(encoding="utf-8").splitlines(), 1):
            line = raw.replace("\\|", "/")  # a table cell's escaped bar
            # `m2msim CMD ...` anywhere, or `CMD --opt ...` in backquotes (`rate --report`)
            for m in re.finditer(r"(?:\bm2msim(?:\s+-v+)?\s+|`)([a-z][a-z-]+)\b([^`|\n]*)", line):
                if m.group(1) not in commands:
                    continue
                parser = commands[m.group(1)].declared()  # type: ignore[attr-defined]
                words = m.group(2).split()
                if words and words[0] in _sub(parser):
                    parser = _sub(parser)[words[0]]
                known = _options(parser) | _options(top)
                for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", m.group(2)):
                    seen += 1
                    if option not in known:
                        wrong.append(f"{page}:{number}: m2msim {m.group(1)} {option}")
    assert wrong == []
    assert seen > 200  # the pages' options were found


def test_every_subcommand_a_page_names_exists() -> None:
    commands = _sub(build_parser())
    wrong = []
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for group in ("modem", "bench"):
            parser = commands[group].declared()  # type: ignore[attr-defined]
            for name in re.findall(rf"`m2msim {group} ([a-z]+)\b", text):
                if name not in _sub(parser) and (group != "bench" or not _is_bench_script(name)):
                    wrong.append(f"{page}: m2msim {group} {name}")
    assert wrong == []


def _is_bench_script(name: str) -> bool:
    from hil.scripts import NAMES

    return name in NAMES or name == "ports"  # `bench ports` is a word of `bench SCRIPT`
