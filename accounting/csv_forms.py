"""How an input file is written, read from its first bytes and its header: its compression (gzip
or zstd, against what its name says; a stream of its bytes decompressed), and the separator of a
spreadsheet's CSV export in a locale whose lists use `;`.  Shared by `rate`, `sessions-to-records`,
the log readers and the capture reader."""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accounting.errors import UsageError

CSV_NAMES = (".csv", ".txt", ".tsv")  # the ends of a CSV file's name
COMPRESSED = {
    ".gz": "gzip",
    ".zst": "zstd",
}  # what DuckDB's reader inflates (and the pass), by the name's end
_ENDS = {kind: end for end, kind in COMPRESSED.items()}
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}  # how each compression's data begin


def compressed_csv(name: str, compressions: Mapping[str, str] = COMPRESSED) -> str | None:
    """The compression a file's name (lower case) says a CSV is compressed by, among these (by
    the name's end: `usage.csv.gz`, `day.txt.zst`), or None."""
    for end, kind in compressions.items():
        if name.endswith(end) and name[: -len(end)].endswith(CSV_NAMES):
            return kind
    return None


def compression_of(start: bytes) -> str | None:
    """ "gzip" or "zstd" when a file's first 4 bytes are those of that compression's data, else None."""
    if len(start) == 4 and 0x50 <= start[0] <= 0x5F and start[1:] == b"\x2a\x4d\x18":
        return "zstd"  # (a skippable frame first)
    return next((kind for magic, kind in _MAGIC.items() if start.startswith(magic)), None)


def named_compression(path: Path) -> None:
    """`UsageError` for a file named as compressed by gzip or zstd whose data are not (another's,
    or none): its name says what it should be named (rather than a decompressor's words)."""
    name = path.name.lower()
    named = next((kind for kind, end in _ENDS.items() if name.endswith(end)), None)
    if named is None:
        return
    try:
        with path.open("rb") as f:
            start = f.read(4)
    except OSError:
        return  # (the reading after says why)
    found = compression_of(start)
    if found == named or not start:
        return
    stem = path.name[: -len(_ENDS[named])]
    if found is None:
        raise UsageError(
            str(path), f"named {_ENDS[named]}, but its data are not compressed by {named}: name it {stem}"
        )
    raise UsageError(
        str(path), f"named {_ENDS[named]}, but compressed by {found}: name it {stem}{_ENDS[found]}"
    )


def other_separator(names: Sequence[str], required: Sequence[str]) -> str | None:
    """The separator a one-column header's names are split by, when it splits into the `required`
    columns (';', a tab or '|'), else None."""
    if len(names) != 1:
        return None
    for sep in (";", "\t", "|"):
        parts = [part.strip().strip('"') for part in names[0].split(sep)]
        if all(c in parts for c in required):
            return sep
    return None


class _ArrowStream(io.RawIOBase):
    """A pyarrow input stream as a raw stream, for `io.BufferedReader` (lines, `copyfileobj`)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


def cut_short(exc: BaseException) -> bool:
    """Whether an error of a `decompressing` stream says its data end too soon (gzip's `EOFError`,
    pyarrow's "Truncated compressed stream"), rather than that they are damaged."""
    return isinstance(exc, EOFError) or "Truncated" in str(exc)


def decompressing(path: Path, kind: str) -> io.BufferedIOBase:
    """A stream of the file's bytes decompressed by `kind` ("gzip" or "zstd", `compression_of`).
    Reading it raises `EOFError` (gzip) or `OSError` (zstd: "Truncated compressed stream") when the
    data are cut short, `OSError` or `zlib.error` when they are damaged."""
    if kind == "gzip":
        return gzip.GzipFile(path, "rb")
    import pyarrow as pa

    return io.BufferedReader(_ArrowStream(pa.input_stream(str(path), compression="zstd")))
