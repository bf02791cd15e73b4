"""The shared file primitives: the YAML loader's errors and the output rules (atomic, one writer)."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from m2msim.outputs import (
    OutputBusy,
    OutputError,
    atomic_path,
    atomic_write_text,
    check_writable_dir,
    output_lock,
    refuse_same_file,
)
from m2msim.yamlio import (
    LocatedDict,
    LocatedList,
    YamlError,
    check_keys,
    int_field,
    load_yaml,
    number_field,
    parse_yaml,
    text_field,
)


def _err(text: str, **kw: bool) -> YamlError:
    with pytest.raises(YamlError) as info:
        parse_yaml(text, "f.yaml", **kw)
    return info.value


def test_lines_and_raw_text_are_kept() -> None:
    doc = parse_yaml("a: 1\nlines:\n  - id: 0612345670\n  - id: '7'\n", "f.yaml")
    assert isinstance(doc, LocatedDict) and doc.line_of("lines") == 2
    lines = doc["lines"]
    assert isinstance(lines, LocatedList) and lines.line_of(1) == 4
    assert lines[0]["id"] == 0o612345670 and lines[0].raw("id") == "0612345670"


def test_duplicate_key_names_both_lines() -> None:
    e = _err("a: 1\nb: 2\na: 3\n")
    assert e.line == 3 and "duplicate key 'a' (first at line 1)" in str(e)


def test_syntax_error_has_a_line() -> None:
    e = _err("a: [1, 2\nb: 3\n")
    assert e.line is not None and str(e).startswith("f.yaml:")


def test_empty_document_is_refused_unless_allowed() -> None:
    assert "empty" in str(_err("# nothing\n"))
    assert parse_yaml("", "f.yaml", allow_empty=True) is None


def billion_laughs(levels: int) -> str:
    """A few lines whose aliases expand to 9**levels values."""
    text = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, levels):
        text += f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n"
    return text


def test_aliases_that_expand_a_few_lines_to_millions_of_values_are_refused() -> None:
    """Every reader walks the document as its aliases expand it: 9 levels made `m2msim run` and
    `m2msim rate` run for hours on a file of ten lines."""
    err = _err(billion_laughs(9))
    assert (
        err.line is None and "aliases (*name) expand it to 490,329,055 values from 100 written" in err.reason
    )
    assert "a YAML bomb?" in err.reason
    small = parse_yaml(billion_laughs(3), "f.yaml")  # 9**3: an anchor used often is fine
    assert len(small["l2"]) == 9 and small["l2"][0] is small["l1"]
    shared = "base: &b {offer: x, plan: y}\n" + "".join(f"l{n}: {{<<: *b, id: '{n}'}}\n" for n in range(2000))
    assert parse_yaml(shared, "f.yaml")["l1999"] == {"offer": "x", "plan": "y", "id": "1999"}


def test_decimals_as_text_keeps_money_exact() -> None:
    assert parse_yaml("p: 0.10\n", "f", decimals_as_text=True)["p"] == "0.10"
    assert parse_yaml("p: 0.10\n", "f")["p"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"a: \xff\xfe\n", "not UTF-8"),
        (b"a: 1\nb: \x00\x01\x02", "binary"),
    ],
)
def test_unreadable_bytes(tmp_path: Path, data: bytes, needle: str) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(data)
    with pytest.raises(YamlError) as info:
        load_yaml(p)
    assert needle in str(info.value) and str(info.value).startswith(f"{p}:")


def test_a_directory_or_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match="is a directory"):
        load_yaml(tmp_path)
    with pytest.raises(YamlError, match="no such file"):
        load_yaml(tmp_path / "nope.yaml")


def test_unknown_key_suggests_the_nearest() -> None:
    m = parse_yaml("period: 1\nrulez: 2\n", "f.yaml")
    with pytest.raises(YamlError) as info:
        check_keys(m, ["period", "rules"], "f.yaml", "alarms")
    assert str(info.value) == "f.yaml:2: alarms.rulez: unknown key (did you mean 'rules'?)"


def test_a_number_where_an_identifier_is_expected_says_quote_it() -> None:
    m = parse_yaml("id: 0612345670\nok: '0612345670'\nflag: no\n", "inv.yaml")
    with pytest.raises(YamlError) as info:
        text_field(m, "id", "inv.yaml", "lines[0]", what="a line id")
    msg = str(info.value)
    assert msg.startswith("inv.yaml:1: lines[0].id: 0612345670 is read by YAML as a number (103402424)")
    assert 'quote it ("0612345670")' in msg
    assert text_field(m, "ok", "inv.yaml", "") == "0612345670"
    with pytest.raises(YamlError, match="true/false"):
        text_field(m, "flag", "inv.yaml", "")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1", "true", "abc"])
def test_numbers_refuse_nan_infinity_and_out_of_range(value: str) -> None:
    m = parse_yaml(f"days: {value}\n", "s.yaml")
    with pytest.raises(YamlError) as info:
        number_field(m, "days", "s.yaml", "", minimum=0, exclusive_minimum=True)
    assert str(info.value).startswith("s.yaml:1: days: ")


def test_int_field_refuses_fractions_and_bounds() -> None:
    m = parse_yaml("count: 2.5\nbig: 1000000000\nok: 12\n", "s.yaml")
    with pytest.raises(YamlError, match="whole number"):
        int_field(m, "count", "s.yaml", "")
    with pytest.raises(YamlError, match="at most"):
        int_field(m, "big", "s.yaml", "", maximum=1000)
    assert int_field(m, "ok", "s.yaml", "", minimum=1) == 12


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "invoice.txt"
    atomic_write_text(out, "old\n")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("interrupted")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["invoice.txt"]
    atomic_write_text(out, "new\n")
    assert out.read_text() == "new\n"


def test_output_equal_to_an_input_is_refused(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text("x\n")
    with pytest.raises(OutputError, match="is the input"):
        refuse_same_file(tmp_path / "." / "usage.csv", [tmp_path / "inv.yaml", usage])
    folder = tmp_path / "parts"
    folder.mkdir()
    with pytest.raises(OutputError, match="inside the input folder"):
        refuse_same_file(folder / "out.json", [folder])
    refuse_same_file(tmp_path / "invoice.json", [usage, folder])


def test_check_writable_dir(tmp_path: Path) -> None:
    check_writable_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="no such folder"):
        check_writable_dir(tmp_path / "missing")


def _hold(
    path: str, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    with output_lock(Path(path)):
        ready.set()
        stop.wait(30)


@contextlib.contextmanager
def held_by_another_process(path: Path) -> Iterator[int]:
    """`output_lock(path)` held by another process for the block (once it holds it): its PID."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, stop))
    holder.start()
    try:
        assert ready.wait(30)
        assert holder.pid is not None
        yield holder.pid
    finally:
        stop.set()
        holder.join(30)


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with held_by_another_process(target) as pid, pytest.raises(OutputBusy) as info, output_lock(target):
        pass
    assert info.value.pid == pid and f"process {pid}" in str(info.value)
    with output_lock(target):  # free again once the holder has gone
        assert os.path.exists(tmp_path / ".m2msim-run.lock")
    assert not (tmp_path / ".m2msim-run.lock").exists()
