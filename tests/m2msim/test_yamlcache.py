"""The parsed-YAML cache (`load_yaml(..., cache=True)`): what it gives back is what the parser gives,
lines and raw text included; a changed file, a damaged entry or an unwritable folder never yields
stale or wrong data; the folder holds a bounded number of m2msim's own entries."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from m2msim import yamlcache
from m2msim.yamlio import LocatedDict, LocatedList, YamlError, load_yaml, parse_yaml

ROOT = Path(__file__).resolve().parents[2]

ODD = """\
plain: text
quoted: '0612345670'
octal: 0612345670
number: +33612345678
money: 12.50
exp: 1e3
inf: .inf
nan: .nan
neg_zero: -0.0
big: 123456789012345678901234567890
flags: [yes, no, on, off, true, ~, null, '']
day: 2026-03-01
moment: 2026-03-01T10:00:00.250+02:00
utc: 2026-03-01 10:00:00Z
naive: 2026-03-01T10:00:00
base: &base {offer: intense, plan: optima}
merged:
  <<: *base
  plan: compteur
alias: *base
folded: >
  two
  lines
pairs: !!pairs [{a: 1}, {b: 2}]
omap: !!omap [{a: 1}, {b: 2}]
nested: [[1, [2, {x: [3]}]], {}, []]
empty:
unicode: "é ✓ 😀"
"""


def _same(a: Any, b: Any, where: str = "doc") -> None:
    """Equal values of the same types, with the same lines and raw text, all the way down."""
    assert type(a) is type(b), where
    if isinstance(a, float) and a != a:
        assert b != b, where
        return
    if isinstance(a, datetime):
        assert a == b and a.utcoffset() == b.utcoffset(), where
        return
    if isinstance(a, LocatedDict):
        assert list(a) == list(b), where
        assert (a.line, a.key_lines, a.raw_text) == (b.line, b.key_lines, b.raw_text), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
        return
    if isinstance(a, LocatedList):
        assert (a.line, a.item_lines, a.raw_text) == (b.line, b.item_lines, b.raw_text), where
    if isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
        return
    assert a == b, where
    if isinstance(a, float):
        assert str(a) == str(b), where  # -0.0 stays -0.0


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def _entries(home: Path) -> list[Path]:
    folder = home / "m2msim" / "yaml"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _repo_yaml() -> list[Path]:
    found = [p for p in ROOT.glob("**/*.yaml") if ".venv" not in p.parts and "runs" not in p.parts]
    assert len(found) >= 10
    return sorted(found)


@pytest.mark.parametrize("decimals_as_text", [False, True])
def test_a_cached_document_is_the_parsers_own(
    cache_home: Path, tmp_path: Path, decimals_as_text: bool
) -> None:
    odd = tmp_path / "odd.yaml"
    odd.write_text(ODD, encoding="utf-8")
    for path in [odd, *_repo_yaml()]:
        text = path.read_text(encoding="utf-8-sig")
        try:
            parsed = parse_yaml(text, str(path), decimals_as_text=decimals_as_text, allow_empty=True)
        except YamlError as exc:  # a file kept broken on purpose: broken through the cache too
            with pytest.raises(YamlError) as again_exc:
                load_yaml(path, decimals_as_text=decimals_as_text, cache=True, allow_empty=True)
            assert str(again_exc.value) == str(exc)
            continue
        first = load_yaml(path, decimals_as_text=decimals_as_text, cache=True, allow_empty=True)
        again = load_yaml(path, decimals_as_text=decimals_as_text, cache=True, allow_empty=True)
        _same(parsed, first, str(path))
        _same(parsed, again, str(path))
    assert _entries(cache_home)  # kept: the second reads came from the entries


def test_the_entry_is_what_is_read_back(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("customer: acme\nmonth: 2026-03\n", encoding="utf-8")
    load_yaml(path, cache=True)
    (entry,) = _entries(cache_home)
    doc = json.loads(entry.read_text(encoding="utf-8"))
    doc["data"][2][0][1] = "changed in the entry"
    entry.write_text(json.dumps(doc), encoding="utf-8")
    assert load_yaml(path, cache=True)["customer"] == "changed in the entry"
    assert load_yaml(path)["customer"] == "acme"  # without cache=True the file is parsed


def test_a_changed_file_is_parsed_again(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("customer: acme\n", encoding="utf-8")
    assert load_yaml(path, cache=True)["customer"] == "acme"
    path.write_text("customer: other\n", encoding="utf-8")
    assert load_yaml(path, cache=True)["customer"] == "other"
    assert len(_entries(cache_home)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "",  # empty
        lambda text: "\x00\xff garbage",
        lambda text: json.dumps({"format": yamlcache.FORMAT, "key": "0" * 64, "data": "other"}),
        lambda text: json.dumps({"format": "another program", "data": "other"}),
        lambda text: text.replace('"d"', '"?"', 1),  # an unknown container
        lambda text: json.dumps([1, 2, 3]),
    ],
)
def test_a_damaged_entry_is_ignored_and_replaced(cache_home: Path, tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("a: 1\nb: [x, 2026-03-01]\n", encoding="utf-8")
    expected = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    load_yaml(path, cache=True)
    (entry,) = _entries(cache_home)
    entry.write_text(damage(entry.read_text(encoding="utf-8")), encoding="utf-8")
    _same(expected, load_yaml(path, cache=True))
    _same(expected, load_yaml(path, cache=True))  # the entry was written again, good this time
    assert json.loads(entry.read_text(encoding="utf-8"))["format"] == yamlcache.FORMAT


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = tmp_path / "x.yaml"
    path.write_text("a: [1, 2]\n", encoding="utf-8")
    assert load_yaml(path, cache=True) == {"a": [1, 2]}
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_errors_are_raised_every_time_and_never_kept(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(YamlError, match="duplicate key"):
            load_yaml(path, cache=True)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(YamlError, match="empty"):
        load_yaml(empty, cache=True)
    assert load_yaml(empty, cache=True, allow_empty=True) is None
    assert _entries(cache_home) == []


def test_a_recursive_alias_is_refused_and_not_kept(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &x [1, *x]\n", encoding="utf-8")
    with pytest.raises(YamlError, match="recursive"):
        load_yaml(path, cache=True)
    assert _entries(cache_home) == []


def test_the_folder_keeps_the_newest_entries_and_nothing_else_is_removed(
    cache_home: Path, tmp_path: Path
) -> None:
    folder = cache_home / "m2msim" / "yaml"
    folder.mkdir(parents=True)
    foreign = folder / "notes.json"
    foreign.write_text("{}", encoding="utf-8")
    for i in range(yamlcache.MAX_ENTRIES + 5):
        path = tmp_path / f"f{i}.yaml"
        path.write_text(f"n: {i}\n", encoding="utf-8")
        load_yaml(path, cache=True)
    assert len(_entries(cache_home)) == yamlcache.MAX_ENTRIES + 1  # + the foreign file, kept
    assert foreign.exists()
    last = tmp_path / f"f{yamlcache.MAX_ENTRIES + 4}.yaml"
    key = yamlcache.key_of(last.read_text(encoding="utf-8"), "decimals_as_text=False")
    assert (folder / f"{key}.json").exists()


def test_dates_keep_their_type(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("since: 2025-01-15\nat: 2026-03-01T10:00:00+01:00\n", encoding="utf-8")
    load_yaml(path, cache=True)
    doc = load_yaml(path, cache=True)
    assert type(doc["since"]) is date and doc["since"] == date(2025, 1, 15)
    assert type(doc["at"]) is datetime and doc["at"].utcoffset() is not None


def test_a_killed_writers_temporary_is_removed_whatever_entry_it_was(
    cache_home: Path, tmp_path: Path
) -> None:
    """A process killed while it wrote an entry left its temporary file; only a later write of that
    very entry removed it, so one of a file that changed since stayed for good."""
    from m2msim.outputs import host_name

    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = cache_home / "m2msim" / "yaml"
    folder.mkdir(parents=True)
    stale = folder / f".m2msim-{'a' * 64}.json.tmp-{host_name()}-{gone.pid}-0123abcd"
    live = folder / f".m2msim-{'b' * 64}.json.tmp-{host_name()}-{os.getpid()}-0123abcd"
    for f in (stale, live):
        f.write_text('{"format": ', encoding="utf-8")
    path = tmp_path / "inventory.yaml"
    path.write_text("n: 1\n", encoding="utf-8")
    load_yaml(path, cache=True)
    assert not stale.exists() and live.exists()  # a live writer's file is its own
    assert len(_entries(cache_home)) == 1
