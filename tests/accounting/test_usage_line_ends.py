"""A usage CSV whose lines do not all end alike (CRLF and LF mixed, a carriage return alone within
a line) is refused, exit 2, by a message naming the file, the line and its end, in every form
(plain, gzip, zstd, one of a folder's files) and on every path (DuckDB's reader, the pyarrow pass,
which leaves such a file to DuckDB): DuckDB's own words named neither ('The CSV Parser state
machine reached an invalid state')."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from accounting import load_inventory, rate, usage_arrow, usage_csv_arrow
from accounting.csv_forms import line_end_fault
from accounting.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
LINES = (EXAMPLE / "usage.csv").read_text(encoding="utf-8").rstrip("\n").split("\n")


def _written(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    elif name.endswith(".zst"):
        with pa.CompressedOutputStream(str(path), "zstd") as stream:
            stream.write(data)
    else:
        path.write_bytes(data)
    return path


def _refused(source: Path, patch: pytest.MonkeyPatch, fast: bool) -> UsageError:
    patch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if fast else 1 << 62)
    patch.setattr(usage_arrow, "ARROW_ROWS", 0 if fast else 1 << 62)
    with pytest.raises(UsageError) as caught:
        rate(load_inventory(str(EXAMPLE / "inventory.yaml")), source)
    return caught.value


MIXED = {
    "LF after CRLF": (
        "\r\n".join(LINES[:10]) + "\r\n" + "\n".join(LINES[10:]) + "\n",
        "line 11: ended by \\n (LF), where the header (line 1) ends by \\r\\n (CRLF)",
    ),
    "CRLF after LF": (
        "\n".join(LINES[:20]) + "\n" + "\r\n".join(LINES[20:]) + "\r\n",
        "line 21: ended by \\r\\n (CRLF), where the header (line 1) ends by \\n (LF)",
    ),
    "a carriage return alone": (
        "\n".join([*LINES[:5], LINES[5].replace(",fr,", ",fr\r,"), *LINES[6:]]) + "\n",
        "line 6: a carriage return (\\r) alone within the line",
    ),
}


@pytest.mark.parametrize("name", ["usage.csv", "usage.csv.gz", "usage.csv.zst"])
@pytest.mark.parametrize("case", sorted(MIXED))
@pytest.mark.parametrize("fast", [False, True])
def test_a_file_whose_lines_end_otherwise_is_refused_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, name: str, fast: bool
) -> None:
    text, said = MIXED[case]
    path = _written(tmp_path, name, text.encode())
    exc = _refused(path, monkeypatch, fast)
    assert str(exc).startswith(f"{path}: {said}"), str(exc)
    assert "state machine" not in str(exc)


def test_the_file_of_a_folder_at_fault_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _written(tmp_path, "a.csv", ("\n".join(LINES) + "\n").encode())
    text = MIXED["LF after CRLF"][0]
    _written(tmp_path, "b.csv", text.replace("\r\n", "\n", 1).encode())  # (the header ends by \n)
    exc = _refused(tmp_path, monkeypatch, False)
    assert str(exc).startswith(f"{tmp_path / 'b.csv'}: line 2: ended by \\r\\n (CRLF)"), str(exc)


def test_a_line_end_within_quotes_is_no_lines_end() -> None:
    """A field in quotes may hold a line end of either kind: the line ends are those outside."""
    lines = [b"line,type,session\r\n", b'L1,data,"a\n', b'b"\r\n', b'L2,data,"x\r\n', b'y"\r\n']
    assert line_end_fault(lines) is None
    assert line_end_fault([b"a,b\n", b"c,d\n", b"e,f"]) is None  # (the last line unended)


def test_a_last_line_without_its_end_and_a_return_within_quotes() -> None:
    """The last line may have no end, in a file of either kind, and still be judged by the lines
    before it; a carriage return within a quoted field of a CRLF file is no fault, one outside
    quotes is."""
    assert line_end_fault([b"a,b\r\n", b"c,d\r\n", b"e,f"]) is None
    fault = line_end_fault([b"a,b\r\n", b"c,d\n", b"e,f"])
    assert fault is not None and fault.startswith("line 2: ended by \\n (LF)")
    assert line_end_fault([b"a,b\r\n", b'c,"x\ry"\r\n', b"e,f\r\n"]) is None
    fault = line_end_fault([b"a,b\r\n", b"c,x\ry\r\n"])
    assert fault is not None and fault.startswith("line 2: a carriage return (\\r) alone")
    assert line_end_fault([]) is None
