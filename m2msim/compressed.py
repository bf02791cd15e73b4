"""Files compressed by gzip or zstd, known by their first bytes whatever their names: which
compression (`compression_of`), a stream of their bytes decompressed (`decompressing`), and
whether an error of that stream says the data end too soon (`cut_short`).  Shared by the usage
readers (`accounting`), the log readers and the capture reader (`gateway`)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}  # how each compression's data begin


def compression_of(start: bytes) -> str | None:
    """ "gzip" or "zstd" when a file's first 4 bytes are those of that compression's data, else None."""
    if len(start) == 4 and 0x50 <= start[0] <= 0x5F and start[1:] == b"\x2a\x4d\x18":
        return "zstd"  # (a skippable frame first)
    return next((kind for magic, kind in _MAGIC.items() if start.startswith(magic)), None)


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
