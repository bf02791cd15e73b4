"""A usage CSV compressed by gzip and padded with zero bytes after its last member (a tape's or a
block device's padding, which gzip -d ignores) is refused by DuckDB's reader ('Input is not a GZIP
stream'): the refusal names the file and says what its end holds and how to take it off, on both
paths (the pyarrow pass leaves such a file to DuckDB), one member or several, alone or in a folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from accounting import load_inventory, rate, usage_arrow, usage_csv_arrow
from accounting.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "example-month"
TEXT = (EXAMPLE / "usage.csv").read_bytes()
HALF = TEXT.index(b"\n", len(TEXT) // 2) + 1


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("fast", [False, True])
def test_a_gzip_file_padded_with_zeros_is_refused_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, members: int, fast: bool
) -> None:
    data = gzip.compress(TEXT) if members == 1 else gzip.compress(TEXT[:HALF]) + gzip.compress(TEXT[HALF:])
    path = tmp_path / "usage.csv.gz"
    path.write_bytes(data + bytes(10_240))
    assert gzip.decompress(path.read_bytes()) == TEXT  # (as gzip -d reads it: the zeros ignored)
    monkeypatch.setattr(usage_csv_arrow, "MIN_BYTES", 0 if fast else 1 << 62)
    monkeypatch.setattr(usage_arrow, "ARROW_ROWS", 0 if fast else 1 << 62)
    inventory = load_inventory(str(EXAMPLE / "inventory.yaml"))
    for source in (path, tmp_path):
        with pytest.raises(UsageError) as caught:
            rate(inventory, source)
        assert str(caught.value) == (
            f"{path}: 10,240 zero bytes after its gzip data (a tape's or a block device's padding, "
            "which gzip -d ignores), which DuckDB's reader refuses: nothing was rated; take them "
            "off (gzip -dc FILE | gzip > NEW.csv.gz)"
        )
