"""Files compressed by gzip or zstd, known by their first bytes whatever their names: which
compression (`compression_of`), a stream of their bytes decompressed (`decompressing`),
whether an error of that stream says the data end too soon (`cut_short`), and all the bytes
data cut short give (`Salvaged`).  Shared by the usage readers (`accounting`), the log readers
and the capture reader (`gateway`)."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}  # how each compression's data begin


def compression_of(start: bytes) -> str | None:
    """ "gzip" or "zstd" when a file's first 4 bytes are those of that compression's data, else None."""
    if len(start) == 4 and 0x50 <= start[0] <= 0x5F and start[1:] == b"\x2a\x4d\x18":
        return "zstd"  # (a skippable frame first)
    return next((kind for magic, kind in _MAGIC.items() if start.startswith(magic)), None)


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"
_FCS_SIZES = (0, 2, 4, 8)  # a zstd frame's content size field, by its flag (0: 1 octet if single-segment)


def zstd_content_size(path: Path) -> int | None:
    """How many bytes a file of zstd frames holds decompressed, as its frames' headers say (RFC 8878
    3.1.1: each frame's Frame_Content_Size; skippable frames none), read without decompressing:
    each frame walked through by its blocks' headers. None when a frame does not say it (written by
    a stream of unknown length), or the file is no whole zstd frames (cut short, or damaged: its
    decompressed data are counted and checked as they are read)."""
    total = 0
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            while (magic := f.read(4)) != b"":
                if len(magic) == 4 and 0x50 <= magic[0] <= 0x5F and magic[1:] == b"\x2a\x4d\x18":
                    skip = f.read(4)  # (a skippable frame: its length, then as many octets)
                    if len(skip) < 4:
                        return None
                    f.seek(int.from_bytes(skip, "little"), os.SEEK_CUR)
                elif magic == _ZSTD_FRAME:
                    size = _zstd_frame_size(f)
                    if size is None:
                        return None
                    total += size
                else:
                    return None
                if f.tell() > end:
                    return None
    except OSError:
        return None
    return total


def _zstd_frame_size(f: BinaryIO) -> int | None:
    """The Frame_Content_Size of the zstd frame whose magic number `f` was read up to, `f` then
    past the frame's end; None when the frame does not say it, or its header is no frame's."""
    head = f.read(1)
    if not head or head[0] & 0x08:  # (the reserved bit set: no frame)
        return None
    flag, single, checksum, dictionary = head[0] >> 6, head[0] >> 5 & 1, head[0] >> 2 & 1, head[0] & 3
    if flag == 0 and not single:
        return None  # (the content size not said)
    fcs = _FCS_SIZES[flag] or 1
    field = f.read((0 if single else 1) + (0, 1, 2, 4)[dictionary] + fcs)[-fcs:]
    if len(field) < fcs:
        return None
    size = int.from_bytes(field, "little") + (256 if fcs == 2 else 0)
    while True:
        block = f.read(3)
        if len(block) < 3:
            return None
        header = int.from_bytes(block, "little")
        kind = header >> 1 & 3
        if kind == 3:
            return None
        f.seek(1 if kind == 1 else header >> 3, os.SEEK_CUR)
        if header & 1:
            break
    if checksum:
        f.seek(4, os.SEEK_CUR)
    return size


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


class Salvaged:
    """The bytes of a file compressed by `kind`, decompressed a piece at a time (iterate it, or read
    `stream()`) up to where its data stop: gzip's every octet, zstd's up to its last whole block
    (pyarrow's stream drops the rest of the read that meets the cut: that read is made again an
    octet at a time, about 1 µs each).  Once they are all read, `cut` says whether the data were
    cut short; data damaged raise as `decompressing`'s reads do (`OSError`, `zlib.error`)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.cut = False

    def __iter__(self) -> Iterator[bytes]:
        done = 0
        try:
            with decompressing(self.path, self.kind) as inner:
                while piece := inner.read1(1 << 16):  # (gzip's: all it has; `read` would lose a part)
                    done += len(piece)
                    yield piece
        except (EOFError, OSError, zlib.error) as exc:
            if not cut_short(exc):
                raise
            self.cut = True
            if self.kind == "zstd":
                yield from _zstd_rest(self.path, done)

    def stream(self) -> io.BufferedReader:
        """The bytes as a binary stream (lines): it ends where the data stop."""
        return io.BufferedReader(_PieceStream(iter(self)))


def _zstd_rest(path: Path, done: int) -> Iterator[bytes]:
    """What the zstd data past their first `done` octets give before they stop: the data again up to
    `done`, then an octet at a time."""
    import pyarrow as pa

    rest, skipped = bytearray(), 0
    stream = pa.input_stream(str(path), compression="zstd")
    try:
        while skipped < done:
            piece = stream.read(min(1 << 20, done - skipped))
            if not piece:
                return
            skipped += len(piece)
        while octet := stream.read(1):
            rest += octet
    except OSError:
        pass  # (where the data stop)
    finally:
        stream.close()
    if rest:
        yield bytes(rest)


class _PieceStream(io.RawIOBase):
    """An iterator of bytes as a raw stream, for `io.BufferedReader`."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.rest:
            self.rest = memoryview(next(self.pieces, b""))
        size = min(len(buffer), len(self.rest))
        buffer[:size] = self.rest[:size]
        self.rest = self.rest[size:]
        return size
