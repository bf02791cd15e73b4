"""A large usage CSV file read by pyarrow.csv on two threads, every row proven clean, summed by the pass.

DuckDB reads a CSV file at 1-2 M rows/s here (its reader, then the row checks of
`UsageReader._scan_sql` and the duplicate search of `UsageReader._dedupe`).  A file written in
the plain forms below is read instead by pyarrow.csv, in chunks of whole lines (each read with
`pread`: a file cut short while it is read says so, `FileChanged`) parsed on two threads, each
chunk a table of the columns as the pyarrow pass reads them from Parquet (keys as
dictionaries, counts as int64, `delivered` as bool) for `usage_arrow.table_rows`; the row proof
of `usage_arrow_checks` checks every row as the pass reads it.  When every row passes, the
pass's sums are the month's: no row is a reject, and the engine's rejects (an unknown line, a
service not in the offer) are listed by DuckDB as before.  At anything else the reader does
what it did (DuckDB reads and checks the file, and lists its rejects).

The forms read here are those whose reading by DuckDB (`read_csv` as `UsageReader._csv` calls
it: every field as text, `"` quoting and escaping, an empty field NULL, a quoted empty field
NULL too) is certain:

- files (`.csv`, `.txt`, `.tsv` or any name the reader takes as text, one or several with one header: a folder of daily exports, each
  one's rows after the one before's) of at least `MIN_BYTES` in all, each maybe compressed by
  gzip (`.csv.gz`, `.txt.gz`, `.tsv.gz`, one member or several as `cat` joins them) or zstd
  (`.csv.zst`, ..., one frame or several): inflated on a thread of its own a piece at a time
  (`Inflated`) as the chunks are parsed.  A gzip inflater's state is kept where each chunk
  begins, so that a chunk is inflated again from there when its rows are read back (`lines`);
  zstd's cannot be copied: its chunks read back are decompressed again in one sweep from the
  file's start (the rows the proof sets aside are kept as it sets them aside, from the chunks
  still at hand: only rows compared as copies are read back so);
- a header of plain names (letters, digits, `_`), each bare or within quotes, maybe after a
  UTF-8 byte-order mark, separated by the file's separator (`,`, or `;`, a tab or `|` as the
  header says: `usage._csv_header`);
- every line ended by `\n`, or every line by `\r\n` when the header is (a `\r` elsewhere: DuckDB
  refuses the file), and none longer than a quarter of `usage.MAX_CSV_LINE` (some up to half of
  it pass; none longer): counted on each chunk's bytes just before it is parsed (`_lines`),
  the chunk holding as many rows as lines;
- pyarrow splits the fields with quoting off, at every separator and line end: a value within
  quotes comes with them and is taken out of them here, and a quote anywhere else (inside a
  field, a character after a closing quote, which pyarrow's quoting would keep where DuckDB
  refuses the row, a quoted separator or line end, an escaped quote) shows in some value: unsure;
- no control character in a text (DuckDB's reading of one is not certain); every text UTF-8,
  checked by the row proof (the parse here takes any bytes);
- a count (`duration_s`, `bytes_up`, `bytes_down`) read as a DOUBLE by pyarrow, whose forms
  DuckDB's TRY_CAST reads alike (pyarrow's int64 would read `0x1F`, DuckDB does not), whole and
  within `MAX_COUNT`; or, when the first lines quote the counts, text of digits only;
- `delivered` is `true`, `false` or empty.

The rest (the start's forms, the bounds, the 12 hours, the month's end, duplicates) is the row
proof's.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from accounting import usage_arrow, usage_arrow_checks
from accounting.csv_forms import COMPRESSED, compressed_csv
from accounting.errors import FileChanged, UsageError
from m2msim.compressed import cut_short

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from accounting.activation import FirstStarts

log = logging.getLogger(__name__)

MAX_DIGITS = 15  # a count of more digits may not be exact in DuckDB's DOUBLE
# A chunk with more than 1/16 of its durations with a fraction is left to DuckDB (`_counts`):
# each row set aside costs ~12 us (1.2 M rows: 40,000 such 1.89 CPU-s, 190,000 3.32, DuckDB 2.6-2.8)
FRACTIONS_SHARE = 16
MAX_COUNT = 10**15  # (the largest bound of the reader's checks): exact in a DOUBLE
MIN_BYTES = 24 << 20  # a smaller file is read by DuckDB (importing pyarrow costs what it saves)
GZIP_RATIO = 3  # a compressed CSV's bytes inflated, about (against `MIN_BYTES`)
PIECE = 1 << 17  # compressed bytes inflated at a time (`Inflated`, gzip)
# Bytes decompressed at a time (`Inflated`, zstd): pyarrow's stream lets the other threads run
# while it decompresses, then waits for the interpreter's lock to give each piece; against a
# thread that holds the lock, 600 MB took 7.6 s in pieces of 512 KiB, 1.5 s in 4 MiB (0.7 alone).
ZSTD_PIECE = 1 << 22
RECENT = 12  # chunks of a compressed file kept at hand for the rows the proof sets aside
CHUNK_BYTES = 16 << 20  # lines parsed at a time by one thread (about 300,000 rows)
AHEAD = 3  # chunks parsed ahead of the pass
WORKERS = 2
SPAN = 4096  # bytes whose line ends are counted together (`Lines`)
KEYS = ("line", "type", "zone", "dest")
NUMBERS = ("duration_s", "bytes_up", "bytes_down")
_NAME = rb'(?:"[A-Za-z0-9_]+"|[A-Za-z0-9_]+)'  # a header's name, bare or within quotes
_NAMES = {
    sep: re.compile(_NAME + rb"(?:" + re.escape(sep.encode()) + _NAME + rb")*(\r?)\n")
    for sep in (",", ";", "\t", "|")
}
_NEWLINE, _RETURN, _QUOTE, _BLANK, _TAB = 10, 13, 34, 32, 9
_BOM = b"\xef\xbb\xbf"


class _Unsure(ValueError):
    """A file, or a chunk of one, not in the forms read here: DuckDB reads it."""


class Chunk(NamedTuple):
    """Whole lines of the file: bytes start to stop."""

    start: int
    stop: int


class Lines(NamedTuple):
    """A chunk's lines, counted as it is parsed: how many, and the line ends in each `SPAN`
    bytes from its start (where `lines` finds a row again without looking at every line end)."""

    rows: int
    ends: np.ndarray


class CsvPlan(NamedTuple):
    """A file in the forms read here (see the module's text), cut in chunks of whole lines."""

    path: Path
    header: list[str]
    chunks: list[Chunk]
    quoted: bool  # counts within quotes on the first lines: read as text, then as numbers here
    crlf: bool  # every line ended by `\r\n`, as the header is
    guess: int  # the rows the file may hold (from its first lines): room made for the proof's
    read: list[Lines]  # each chunk's lines, filled in file order as `tables` gives its table
    # A file compressed by gzip: its bytes as inflated (the chunks, offsets in them, cut as they come).
    inflated: Inflated | None = None
    delimiter: str = ","  # (or ';', a tab, '|': `usage._csv_header`)

    @property
    def rows(self) -> int | None:
        """The file's rows, once every chunk was read (None before)."""
        if len(self.read) != len(self.chunks) or (self.inflated is not None and not self.inflated.ended):
            return None
        return sum(lines.rows for lines in self.read)

    @property
    def types(self) -> dict[str, str]:
        """The columns as the row proof reads them (DuckDB's names of the Arrow types made here)."""
        kinds = {**dict.fromkeys(NUMBERS, "BIGINT"), "delivered": "BOOLEAN"}
        return {name: kinds.get(name, "VARCHAR") for name in self.header}

    @property
    def settled(self) -> usage_arrow.Settled:
        """What the pass reads of the tables (`usage_arrow.Settled`)."""
        present = set(self.header)

        def column(name: str) -> str | None:
            return name if name in present else None

        zone = column("zone") or column(usage_arrow.PLMN_COLUMN)  # (no zone: each row's network's)
        return usage_arrow.Settled(
            (column("line"), column("type"), zone, column("dest")),
            column("bytes_up"),
            column("bytes_down"),
            column("duration_s"),
            column("delivered"),
        )


def csv_plans(paths: Sequence[Path], header: Sequence[str], delimiter: str = ",") -> list[CsvPlan] | None:
    """The plans of reading these files (whose header DuckDB's reader takes as `header`, each
    one's rows after the one before's, as a folder of daily exports) here, or None: DuckDB
    reads them.  Their lines are counted and checked as each chunk is parsed (`_lines`): a scan
    of the whole file before the pass cost 0.4-0.6 s of 30 M rows, and read every byte twice."""
    try:
        if sum(path.stat().st_size * (GZIP_RATIO if compression(path) else 1) for path in paths) < MIN_BYTES:
            return None
        plans = [_plan(path, list(header), delimiter) for path in paths]
    except (_Unsure, OSError, ValueError) as exc:  # ArrowException is an OSError or ValueError
        log.debug("the CSV files are read by DuckDB: %s", exc)
        return None
    return None if None in plans else [plan for plan in plans if plan is not None]


def compression(path: Path) -> str | None:
    """ "gzip" or "zstd" for a text file compressed so by its name (`.csv.gz`, `.txt.zst`, ...),
    else None."""
    return compressed_csv(path.name.lower())


def _plan(path: Path, header: list[str], delimiter: str) -> CsvPlan | None:
    codec = compression(path)
    if codec is not None:
        return _compressed_plan(path, header, delimiter, codec)
    if path.name.lower().endswith(tuple(COMPRESSED)):  # (compressed, by another name: DuckDB's)
        return None
    with path.open("rb", buffering=0) as file:
        handle = file.fileno()
        size = os.fstat(handle).st_size
        start = os.pread(handle, 1 << 16, 0)
        crlf, body = _header(start, header, len(start) == size, delimiter)
        chunks = [Chunk(a, b) for a, b in itertools.pairwise(_bounds(handle, size, body, path))]
        sample = os.pread(handle, min(size - body, 1 << 16), body)
    return _planned(path, header, chunks, crlf, sample, size - body, None, delimiter)


def _compressed_plan(path: Path, header: list[str], delimiter: str, codec: str) -> CsvPlan | None:
    """`_plan` of a file compressed by gzip or zstd (`codec`): its first pieces inflated for the
    header and the first lines, its chunks cut as it is inflated (`Inflated.chunks`)."""
    size = path.stat().st_size
    inflated = Inflated(path, codec)
    start, used = inflated.head(1 << 17)
    crlf, body = _header(start, header, len(start) < 1 << 17, delimiter)
    sample = start[body:]
    sample = sample[: sample.rfind(b"\n") + 1]  # (the first whole lines, or none)
    inflated.body = body
    return _planned(
        path, header, [], crlf, sample, size * len(start) // max(used, 1) - body, inflated, delimiter
    )


def _header(start: bytes, header: list[str], whole: bool, delimiter: str) -> tuple[bool, int]:
    """Whether the lines end by `\r\n` (as the header's does), and where the header's line ends,
    from the file's first bytes (`whole`: the whole file, which may be its header alone, without
    a line end); `_Unsure` when the header is not in the forms read here."""
    # (a UTF-8 byte order mark, as a spreadsheet's "CSV UTF-8" export begins: DuckDB skips it)
    head = _NAMES[delimiter].match(
        start + b"\n" if whole and not start.endswith(b"\n") else start,
        len(_BOM) if start.startswith(_BOM) else 0,
    )
    if head is None:
        raise _Unsure("a header of other forms than plain names")
    names = head.group(0).rstrip(b"\r\n").replace(b'"', b"").decode().split(delimiter)
    if names != header:
        raise _Unsure("the header is not read alike")
    return bool(head.group(1)), min(head.end(), len(start))


def _planned(
    path: Path,
    header: list[str],
    chunks: list[Chunk],
    crlf: bool,
    sample: bytes,
    body: int,
    inflated: Inflated | None,
    delimiter: str,
) -> CsvPlan:
    """The plan, from the first lines (`sample`) and the bytes after the header (`body`, about)."""
    first = sample.split(b"\n")[:-1]
    # Room for a quarter more rows than lines as long as the first ones; at most a line of
    # empty fields per `len(header)` bytes (more: the proof's arrays are made larger).
    body = max(body, 0)
    guess = min(body * max(len(first), 1) // max(len(sample), 1) * 5 // 4, body // len(header)) + 1024
    # Counts in quotes on the first lines: read as text (pyarrow reads no DOUBLE in quotes here).
    at = [header.index(n) for n in NUMBERS if n in header]
    quoted = any(
        f[i].startswith(b'"')
        for f in (line.split(delimiter.encode()) for line in first)
        if len(f) == len(header)
        for i in at
    )
    return CsvPlan(path, header, chunks, quoted, crlf, guess, [], inflated, delimiter)


class _Point(NamedTuple):
    """Where inflating may begin again: the inflated bytes before it, the compressed bytes
    before it, and the inflater's state there (None: a gzip member begins there).  zstd's begins
    again from the file's start only: `at` is the compressed bytes read once the piece was
    given, and `state` None."""

    out: int
    at: int
    state: Any


class Inflated:
    """A file compressed by gzip or zstd (`codec`), inflated a piece at a time.

    gzip: `PIECE` compressed bytes at a time.  A file of several members (as `cat` joins gzip
    files, and as DuckDB reads them) is read member after member; anything else after a member,
    or a file that ends within one, is unsure (DuckDB refuses it).  Where each chunk begins, the
    state of the inflater is kept (`_Point`, a copy of about 40 KiB each), so that a chunk is
    inflated again from there alone.

    zstd: by pyarrow's stream, `ZSTD_PIECE` bytes at a time, frame after frame as DuckDB reads
    them.  Its state cannot be copied: chunks are decompressed again from the file's start, all
    those wanted in one sweep (`again`).  A file cut within a frame (which DuckDB reads up to the
    cut without a word, its last line maybe cut within a count), data that fail their checksum
    or are no zstd frame: `UsageError`."""

    def __init__(self, path: Path, codec: str = "gzip") -> None:
        self.path = path
        self.codec = codec
        self.body = 0  # where the header's line ends in the inflated bytes
        self.points: list[_Point] = []  # each chunk's (`CsvPlan.chunks`)
        self.ended = False  # every chunk cut
        # The last chunks' bytes (by index), while the row proof may still set rows of them
        # aside, and the lines of those it did (by row of the file): `keep`.
        self.recent: dict[int, bytes] = {}
        self.kept: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def _pieces(self, point: _Point) -> Generator[tuple[_Point, bytes | memoryview], None, None]:
        """The inflated bytes from `point` on, a piece at a time, each with the point where it
        begins (zstd: from the start only)."""
        if self.codec == "zstd":
            yield from self._zstd_pieces()
            return
        with self.path.open("rb", buffering=0) as file:
            yield from self._gzip_pieces(file.fileno(), point)

    def _zstd_pieces(self) -> Generator[tuple[_Point, memoryview], None, None]:
        """The pieces as pyarrow's buffers (not copied to `bytes`: the chunks join them)."""
        import pyarrow as pa

        out = 0
        with pa.OSFile(str(self.path), "r") as raw, pa.CompressedInputStream(raw, "zstd") as stream:
            while True:
                try:
                    piece = memoryview(stream.read_buffer(ZSTD_PIECE))
                except OSError as exc:  # (pyarrow's errors of the stream)
                    raise zstd_error(self.path, exc) from None
                if not len(piece):
                    return
                yield _Point(out, raw.tell(), None), piece
                out += len(piece)

    def _gzip_pieces(self, handle: int, point: _Point) -> Generator[tuple[_Point, bytes], None, None]:
        zlib = _zlib()
        out, at, state = point
        inflater = None if state is None else state.copy()
        while True:
            data = os.pread(handle, PIECE, at)
            if not data:
                if inflater is not None:
                    raise _Unsure("the file ends within a gzip member")
                return
            here = _Point(out, at, None if inflater is None else inflater.copy())
            pieces = []
            rest = data
            try:
                while rest:
                    if inflater is None:
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # (a gzip header only)
                    pieces.append(inflater.decompress(rest))
                    rest = b""
                    if inflater.eof:  # a member's end: another may follow
                        rest, inflater = inflater.unused_data, None
            except zlib.error as exc:
                if re.search("incorrect (data|length) check", str(exc)):  # (CRC-32, size mod 2**32)
                    # (DuckDB reads such a file without a word)
                    raise UsageError(
                        str(self.path),
                        f"damaged: its gzip data fail their own check ({exc}); nothing was rated",
                    ) from None
                raise _Unsure(f"not gzip as DuckDB reads it: {exc}") from None
            piece = b"".join(pieces) if len(pieces) > 1 else pieces[0]
            yield here, piece
            out += len(piece)
            at += len(data)

    def head(self, size: int) -> tuple[bytes, int]:
        """The first `size` inflated bytes or more (fewer: the whole file), and the compressed
        bytes they took."""
        found, used = [], 0
        pieces = self._pieces(_Point(0, 0, None))
        for point, piece in pieces:
            found.append(piece)
            used = point.at if self.codec == "zstd" else point.at + PIECE
            if point.out + len(piece) >= size:
                break
        pieces.close()
        return b"".join(found), used

    def chunks(self, plan: CsvPlan) -> Generator[bytes, None, None]:
        """The bytes after the header cut in chunks of whole lines, each the first line end past
        `CHUNK_BYTES` (as `_bounds` cuts a file), each chunk added to `plan.chunks` and where it
        begins to `points`; `ended` once the last is given."""
        self.points.clear()
        plan.chunks.clear()
        self.recent.clear()
        self.kept.clear()
        self.ended = False
        held: list[bytes | memoryview] = []  # the bytes inflated but not yet in a chunk, from `begin`
        points: deque[_Point] = deque()  # the points of the pieces held
        begin, size = 0, 0
        pieces = self._pieces(_Point(0, 0, None))
        try:
            for point, piece in pieces:
                points.append(point)
                held.append(piece)
                size += len(piece)
                if begin == 0:  # (the header's line first taken off)
                    if size < self.body:
                        continue
                    data = b"".join(held)
                    held, begin, size = [data[self.body :]], self.body, size - self.body
                while size > CHUNK_BYTES:
                    data = held[0] if len(held) == 1 and isinstance(held[0], bytes) else b"".join(held)
                    end = data.find(b"\n", CHUNK_BYTES)
                    if end < 0:
                        if size > CHUNK_BYTES + (1 << 20):
                            raise _Unsure("a line longer than 1 MiB")
                        held = [data]
                        break
                    yield self._cut(plan, points, begin, data[: end + 1])
                    begin += end + 1
                    held, size = [data[end + 1 :]], size - end - 1
            if begin == 0:
                raise _Unsure("fewer inflated bytes than the header's")
            if size:
                yield self._cut(plan, points, begin, b"".join(held))
        finally:
            pieces.close()
        self.ended = True

    def _cut(self, plan: CsvPlan, points: deque[_Point], begin: int, data: bytes) -> bytes:
        """A chunk of `data` from `begin` noted, with the last point at or before it."""
        while len(points) > 1 and points[1].out <= begin:
            points.popleft()
        with self._lock:
            self.recent[len(self.points)] = data  # (let go by `_chunks`)
            self.points.append(points[0])
            plan.chunks.append(Chunk(begin, begin + len(data)))
        return data

    def let_go(self, index: int) -> None:
        """A chunk's bytes no longer kept at hand (`_chunks` keeps `RECENT` of all the files')."""
        with self._lock:
            self.recent.pop(index, None)

    def keep(self, plan: CsvPlan, rows: list[int]) -> None:
        """The lines of these rows of the file (from 0, sorted) kept from their chunks' bytes while they
        are still at hand (the row proof sets them aside a chunk or two after their parse): a
        chunk no longer at hand is inflated again when its rows are read back (`lines`)."""
        import numpy as np

        with self._lock:
            recent = dict(self.recent)
        for held in _by_chunk(plan, np.asarray(rows, np.int64)):
            if held.chunk in recent:
                data = np.frombuffer(recent[held.chunk], np.uint8)
                self.kept.update(_chunk_lines(plan, _BytesChunk(data), held))

    def chunk(self, index: int, chunk: Chunk) -> bytes:
        """The bytes of a chunk (`index` in `points`) inflated again (gzip: from its point);
        `FileChanged` when they cannot be."""
        return next(self.again([chunk], self.points[index]))

    def again(self, chunks: Sequence[Chunk], point: _Point | None = None) -> Generator[bytes, None, None]:
        """The bytes of these chunks (in file order) inflated again, in one sweep from `point`
        (the file's start: None); `FileChanged` when they cannot be."""
        point = point or _Point(0, 0, None)
        wanted = iter(chunks)
        current = next(wanted, None)
        parts: list[bytes | memoryview] = []
        pieces = self._pieces(point)
        try:
            for at, piece in pieces:
                end = at.out + len(piece)
                while current is not None and current.start < end:
                    parts.append(piece[max(current.start - at.out, 0) : current.stop - at.out])
                    if current.stop > end:
                        break
                    data = b"".join(parts)
                    parts.clear()
                    if len(data) != current.stop - current.start:
                        raise FileChanged(self.path, "cut short")
                    yield data
                    current = next(wanted, None)
                if current is None:
                    return
        except _Unsure:
            raise FileChanged(self.path, "other compressed bytes where they were") from None
        finally:
            pieces.close()
        raise FileChanged(self.path, "cut short")


def check_compressed(path: Path) -> None:
    """`UsageError` when the file's gzip data fail their check (CRC-32 and length), or its zstd
    data are cut within a frame, fail their checksum or are no zstd frame, which DuckDB's reading
    does not make (zstd's cut: DuckDB reads up to it) or says in its own words: inflated to its
    end, nothing kept (other faults of gzip data are DuckDB's to refuse)."""
    codec = compression(path) or ("zstd" if path.name.lower().endswith(".zst") else "gzip")
    with contextlib.suppress(_Unsure):
        for _ in Inflated(path, codec)._pieces(_Point(0, 0, None)):
            pass


def zstd_error(path: Path, exc: OSError, done: str = "rated") -> UsageError:
    """The refusal of a file whose zstd stream pyarrow's reader stopped at (`exc`): nothing was
    `done` with it."""
    text = str(exc).removeprefix("ZSTD decompress failed: ")
    if cut_short(exc):
        why = "cut short: its zstd data end within a frame"
    elif "checksum" in text:
        why = f"damaged: its zstd data fail their own check ({text})"
    else:
        why = f"damaged: not zstd data as its writer left them ({text})"
    return UsageError(str(path), f"{why}; nothing was {done}")


def _zlib() -> Any:
    """zlib-ng's inflater (twice as fast as the standard library's zlib here), or zlib's."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:  # pragma: no cover (a dependency; the standard library's inflates alike)
        import zlib

        return zlib
    return zlib_ng


def _bounds(handle: int, size: int, first: int, path: Path) -> list[int]:
    """Where the chunks start (after a line's end), and the file's end (`size` bytes; `handle`:
    `path` open; `FileChanged` when it has fewer bytes now).  Each chunk's first line end is
    looked for in the next `SPAN` bytes, then in the next MiB (reading a MiB at each of a 2 GB
    file's 119 chunks took 0.07-0.12 s, on one core, before the pass could start)."""
    out = [first]
    while size - out[-1] > CHUNK_BYTES:
        at = out[-1] + CHUNK_BYTES
        end = _pread(handle, min(size - at, SPAN), at, path).find(b"\n")
        if end < 0:
            end = _pread(handle, min(size - at, 1 << 20), at, path).find(b"\n")
            if end < 0:
                raise _Unsure("a line longer than 1 MiB")
        out.append(at + end + 1)
    if out[-1] < size:
        out.append(size)
    return out


def _lines(a: np.ndarray, crlf: bool) -> Lines:
    """The lines of a chunk's bytes (whole lines, but perhaps the file's last), when they end as
    the header does and none is long; else `_Unsure`.  Counted a block of a quarter of DuckDB's
    line limit at a time (each block's line ends and returns found while it is in the
    processor's cache: a third of the time of the whole chunk at once), and each `SPAN` bytes'
    line ends kept (`Lines`)."""
    import numpy as np

    from accounting.usage import MAX_CSV_LINE

    block = MAX_CSV_LINE // 4  # (a multiple of `SPAN`)
    found = np.zeros(min(len(a), block) + SPAN, bool)
    # Each 8 flags read as one word, whose product by 0x0101... holds their sum in its top byte:
    # each span's line ends then a sum of SPAN / 8 words (3.3 ms a chunk of 16 MiB, where
    # NumPy's sum of the flags by span took 4.8).
    sums = np.empty(len(found) // 8, np.uint64)
    spans = []
    returns = 0
    for at in range(0, len(a), block):
        part = a[at : at + block]
        width = -(-len(part) // SPAN) * SPAN
        seen = found[:width]
        np.equal(part, _NEWLINE, out=seen[: len(part)])
        seen[len(part) :] = False
        words = sums[: width // 8]
        np.multiply(seen.view(np.uint64), np.uint64(0x0101010101010101), out=words)
        words >>= np.uint64(56)
        ends = words.reshape(-1, SPAN // 8).sum(axis=1).astype(np.int32)
        # A line of half DuckDB's limit or more spans a whole block (blocks from the chunk's
        # start) with no line end in it; a shorter line never does.
        if len(part) == block and not ends.any():
            raise _Unsure("a long line")
        spans.append(ends)
        returns += int(np.count_nonzero(np.equal(part, _RETURN, out=seen[: len(part)])))
    counts = np.concatenate(spans)
    total = int(counts.sum())
    # With as many rows as `\n` (`_table`), a `\r` not before a `\n` would have ended a line.
    if returns != (total if crlf else 0) or a[-1] == _RETURN:
        raise _Unsure("a line not ended as the header is")
    return Lines(total + int(a[-1] != _NEWLINE), counts)


def tables(plans: Sequence[CsvPlan], threads: bool) -> Generator[pa.Table, None, None]:
    """The files' chunks as tables, file after file in file order (their bytes read or inflated
    in turn on a thread of their own, `_chunks`, and parsed `AHEAD` chunks ahead on two more),
    each chunk's lines kept in its plan's `read` as its table is given; `_Unsure` at a chunk not
    in the forms read here."""
    for plan in plans:
        plan.read.clear()
    chunks = _chunks(plans)
    try:
        if not threads:
            for i, data in chunks:
                table, lines = _table(_chunk_bytes(data, plans[i]), plans[i])
                plans[i].read.append(lines)
                yield table
            return
        reader = ThreadPoolExecutor(1, thread_name_prefix="usage-csv-read")
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="usage-csv")

        def parse(got: Future[tuple[int, Chunk | bytes] | None]) -> tuple[int, pa.Table, Lines] | None:
            found = got.result()
            if found is None:
                return None
            i, chunk = found
            return i, *_table(_chunk_bytes(chunk, plans[i]), plans[i])

        pending: deque[Future[tuple[int, pa.Table, Lines] | None]] = deque()
        try:
            for _ in range(AHEAD + 1):
                pending.append(pool.submit(parse, reader.submit(next, chunks, None)))
            while pending:
                parsed = pending.popleft().result()
                if parsed is None:
                    break
                pending.append(pool.submit(parse, reader.submit(next, chunks, None)))
                plans[parsed[0]].read.append(parsed[2])
                yield parsed[1]
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
            reader.shutdown(wait=True)
    finally:
        chunks.close()


def _chunks(plans: Sequence[CsvPlan]) -> Generator[tuple[int, Chunk | bytes], None, None]:
    """Each file's chunks, file after file (its plan's index, the chunk): a plain file's as
    `Chunk`s, read by the thread that parses each (`_chunk_bytes`); a file compressed by gzip's as
    their bytes, inflated and cut here (`Inflated.chunks`)."""
    at_hand: deque[tuple[Inflated, int]] = deque()  # the chunks kept at hand, of any file
    for i, plan in enumerate(plans):
        if plan.inflated is None:
            for chunk in plan.chunks:
                yield i, chunk
            continue
        inflated = plan.inflated.chunks(plan)
        try:
            for data in inflated:
                at_hand.append((plan.inflated, len(plan.inflated.points) - 1))
                while len(at_hand) > RECENT:
                    owner, index = at_hand.popleft()
                    owner.let_go(index)
                yield i, data
        finally:
            inflated.close()


def _chunk_bytes(chunk: Chunk | bytes, plan: CsvPlan) -> pa.Buffer | bytes:
    """A chunk's bytes: a plain file's read with `pread` into a buffer of its own, not through
    a memory map of the file (a file cut short while it is read gives a short read here,
    `FileChanged`, where a mapping's missing pages killed the process with SIGBUS; the copy
    costs about 0.15 CPU-s a 1.7 GB file, 30 M rows, more than the mapping's page faults, 1 %
    of the rating's CPU)."""
    import pyarrow as pa

    if not isinstance(chunk, Chunk):
        return chunk
    with pa.OSFile(str(plan.path), "r", memory_pool=pa.default_memory_pool()) as source:
        data = source.read_at(chunk.stop - chunk.start, chunk.start)
    if len(data) != chunk.stop - chunk.start:
        raise FileChanged(plan.path, "cut short")
    return data


def _table(data: pa.Buffer | bytes, plan: CsvPlan) -> tuple[pa.Table, Lines]:
    """One chunk's rows: keys as dictionaries, numbers as int64, `delivered` as bool, the rest
    as text, each value as DuckDB reads it, and its lines; `_Unsure` when one is not in the
    forms read here.

    pyarrow splits the fields without quoting (at every comma and line end): a value in quotes
    comes with its quotes, taken off here, and a quote anywhere else, which DuckDB would read
    otherwise or refuse, shows in a value."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    lines = _lines(np.frombuffer(data, np.uint8), plan.crlf)
    # Keys as text, each made a dictionary after (`_dictionary`): the parse's dictionaries cost
    # 2.5 ms more a chunk of 250,000 rows than Arrow's encoding of the text it gives.
    kinds: dict[str, pa.DataType] = {}
    # (a file separated by ';': counts as text, digits only, `1.000` left to the reader, for whom
    # it is a reject: `UsageReader._grouped_thousands`)
    if not plan.quoted and plan.delimiter != ";":
        kinds.update(dict.fromkeys(NUMBERS, pa.float64()))  # no `0x...`, unlike int64
        kinds["duration_s"] = pa.string()  # (its length looked at, then read as a DOUBLE: `_duration`)
    header = plan.header
    names = list(header)
    # a file without `zone`: its networks read as a key's dictionary (`CsvPlan.settled`)
    keys = (*KEYS, usage_arrow.PLMN_COLUMN) if "zone" not in header else KEYS

    def read() -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=header, use_threads=False, block_size=len(data) + 1),
            parse_options=pacsv.ParseOptions(
                delimiter=plan.delimiter, quote_char=False, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: kinds.get(name, pa.string()) for name in header},
                null_values=[""],
                strings_can_be_null=True,
                include_columns=names,
                check_utf8=False,  # (each text checked after: `usage_arrow_checks`, 0.45 CPU-s a month)
            ),
        )

    try:
        table = read()
    except pa.ArrowInvalid:
        if plan.quoted:
            raise
        kinds.update(dict.fromkeys(NUMBERS, pa.string()))  # counts in quotes further on: as text
        table = read()
    if table.num_rows != lines.rows or not table.num_rows:
        raise _Unsure("a chunk of other rows than lines")
    table = table.combine_chunks()
    columns = []
    for name in names:
        column = table.column(name).chunk(0)
        if name in keys or name == "delivered":
            column = _dictionary(column, name)
        elif name == "duration_s":
            column = _counts(_duration(column), fractions=True)
        elif name in NUMBERS:
            column = _counts(column)
        else:
            column = _unquoted(column, _offsets(column), controls=name != "start")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=names), lines


def _unquoted_text(value: str) -> str | None:
    """A field as DuckDB reads it: within quotes, the text inside (NULL when empty)."""
    if '"' not in value:
        return value
    inside = value[1:-1]
    if len(value) < 2 or value[0] != '"' or value[-1] != '"' or '"' in inside:
        raise _Unsure("a quote inside a field")
    return inside or None


def _dictionary(text: pa.Array, name: str) -> pa.Array:
    """A column of text as a dictionary, its values read (`delivered`: as bool)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.dictionary_encode(text)
    values = column.dictionary
    values = _unquoted(values, _offsets(values))
    if name != "delivered":
        return pa.DictionaryArray.from_arrays(column.indices, values)
    texts = values.to_pylist()
    if not set(texts) <= {"true", "false", None}:
        raise _Unsure("a delivered other than true or false")
    table = np.array([v == "true" for v in texts] + [False], bool)
    known = np.array([v is not None for v in texts] + [False], bool)
    indices = column.indices.fill_null(len(texts)).to_numpy()
    return pa.array(table[indices], pa.bool_(), mask=~known[indices])


def _counts(column: pa.Array, fractions: bool = False) -> pa.Array:
    """A count column as int64, as DuckDB's TRY_CAST to DOUBLE reads it: read by pyarrow as a
    DOUBLE (the same forms, no hexadecimal), here whole and within -`MAX_COUNT`..`MAX_COUNT` (a
    negative count is a reject, which the proof sets aside); else text, in quotes or not, digits
    only.  `fractions` (a duration): a value with a fraction of a second (`60.5`, `1e-1`) is
    given as -1, which the proof sets aside, its line read again and judged by DuckDB (the call
    rounded up, the checks on the value as written): the rest of the file stays the pass's,
    where one such value left the whole file to DuckDB; a chunk of many (`FRACTIONS_SHARE`) is
    left to DuckDB."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_string(column.type):
        return _whole(column, _offsets(column))
    if column.offset:
        raise _Unsure("a sliced column")  # (a chunk's columns are read whole)
    values = np.frombuffer(column.buffers()[1], np.float64)[: len(column)]
    if column.null_count:
        values = np.where(column.is_valid().to_numpy(zero_copy_only=False), values, 0.0)
    if not bool(((np.abs(values) <= MAX_COUNT) & (values == np.trunc(values))).all()):
        if not fractions or not bool((np.abs(values) <= MAX_COUNT).all()):
            raise _Unsure("a count not whole, or out of bounds")
        whole = values == np.trunc(values)
        if (len(whole) - int(np.count_nonzero(whole))) * FRACTIONS_SHARE > len(whole):
            raise _Unsure("many durations with a fraction")  # (each set aside costs more than DuckDB)
        values = np.where(whole, values, -1.0)
    return pa.Array.from_buffers(
        pa.int64(),
        len(column),
        [column.buffers()[0], pa.py_buffer(values.astype(np.int64))],
    )


def _duration(column: pa.Array) -> pa.Array:
    """A duration's text as DuckDB's TRY_CAST to DOUBLE reads it, by pyarrow's cast (spaces and
    tabs around it taken off first, as both readers do); a column with a quote, or one the cast
    does not read, as it is (`_whole` reads digits, within quotes or not).  The quotes are looked
    for first: pyarrow's cast reads every value before it fails, 66 ms a chunk of 250,000 quoted
    values (0.8 CPU-s of a spreadsheet's 3 M rows).  A text longer than 15 bytes may hold more
    significant digits than the DOUBLE, which may read it whole where it is not
    (`usage.finer_than_double_sql`: a reject): such a one is given a fraction, which `_counts`
    sets aside for DuckDB to judge; the others (`60.000000000000000000`, exact) stay the pass's."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from accounting.usage import MANY_DIGITS

    offsets = _offsets(column)
    data = _bytes(column, offsets)[offsets[0] : offsets[-1]]
    if bool((data == _QUOTE).any()):
        return column
    spaced = bool(((data == _BLANK) | (data == _TAB)).any())
    try:
        read = (pc.utf8_trim(column, " \t") if spaced else column).cast(pa.float64())
    except pa.ArrowInvalid:
        return column
    long = np.flatnonzero(np.diff(offsets) > 15)
    if not len(long):
        return read
    values = np.frombuffer(read.buffers()[1], np.float64)[read.offset : read.offset + len(read)].copy()
    many = pc.match_substring_regex(column.take(pa.array(long)), MANY_DIGITS).to_numpy(zero_copy_only=False)
    at = values[long]
    finer = long[many & (at == np.trunc(at)) & (np.abs(at) < 1e15)]
    if len(finer):  # (and not below its whole DOUBLE, which its call rounds up to: a few values)
        texts = column.take(pa.array(finer)).to_pylist()
        finer = finer[[_not_below(str(t), float(v)) for t, v in zip(texts, values[finer], strict=True)]]
    if not len(finer):
        return read
    values[finer] += 0.5  # (a fraction: set aside, DuckDB's reject)
    valid = None if not read.null_count else read.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(values, pa.float64(), mask=None if valid is None else ~valid)


def _not_below(text: str, whole: float) -> bool:
    """Whether the number `text` is, in magnitude, not below `whole` (its DOUBLE), compared as
    DuckDB's DECIMAL of `usage.ABOVE_PLACES` places does (`usage.finer_than_double_sql`)."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    from accounting.usage import ABOVE_PLACES

    try:
        exact = Decimal(text.strip(" \t")).quantize(Decimal(1).scaleb(-ABOVE_PLACES), ROUND_HALF_UP)
    except InvalidOperation:
        return True
    return abs(exact) >= abs(Decimal(whole))


def _offsets(column: pa.Array) -> np.ndarray:
    import numpy as np

    offsets = np.frombuffer(column.buffers()[1], np.int32)[column.offset : column.offset + len(column) + 1]
    return offsets.astype(np.int64)


def _bytes(column: pa.Array, offsets: np.ndarray) -> np.ndarray:
    import numpy as np

    buffer = column.buffers()[2]
    if buffer is None or offsets[-1] == offsets[0]:
        return np.zeros(max(int(offsets[-1]), 1), np.uint8)
    return np.frombuffer(buffer, np.uint8)


def _quoted(
    column: pa.Array, offsets: np.ndarray, data: np.ndarray, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Which values are within quotes (checked: the two quotes, and no other in any value);
    `lengths`: the values' (`offsets`' differences), when already found."""
    import numpy as np

    if lengths is None:
        lengths = np.diff(offsets)
    quoted: np.ndarray = (lengths > 0) & (data[np.minimum(offsets[:-1], len(data) - 1)] == _QUOTE)
    count = int(np.count_nonzero(data[offsets[0] : offsets[-1]] == _QUOTE))
    if count:
        within = int(np.count_nonzero(quoted))
        if within == len(lengths):  # every value (a spreadsheet's export): no selection to make
            ok = bool((lengths >= 2).all()) and bool((data[offsets[1:] - 1] == _QUOTE).all())
        else:
            ok = bool((lengths[quoted] >= 2).all()) and bool((data[offsets[1:][quoted] - 1] == _QUOTE).all())
        if not ok or count != 2 * within:
            raise _Unsure("a quote inside a field")
    return quoted


def _unquoted(column: pa.Array, offsets: np.ndarray, controls: bool = True) -> pa.Array:
    """A text column as DuckDB reads it: the values within quotes without them, `""` NULL;
    `controls`: `_Unsure` at a control character (`start`: its forms are the proof's)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    data = _bytes(column, offsets)
    lengths = np.diff(offsets)
    quoted = _quoted(column, offsets, data, lengths)
    if controls and bool((data[offsets[0] : offsets[-1]] < _BLANK).any()):
        raise _Unsure("a control character in a text")
    if not quoted.any():
        return column
    if not bool((lengths == 2).any()) or not bool((lengths[quoted] == 2).any()):
        # Each quote is the first or the last character of a value within quotes (`_quoted`):
        # trimming the quotes off the ends takes off exactly those (a third of the copy below).
        return pc.ascii_trim(column, '"')
    keep = np.ones(len(data), bool)  # `""` among the values: NULL
    keep[offsets[:-1][quoted]] = False
    keep[offsets[1:][quoted] - 1] = False
    taken = np.concatenate([[0], np.cumsum(2 * quoted)])
    new_offsets = (offsets - offsets[0] - taken).astype(np.int32)
    body = data[offsets[0] : offsets[-1]][keep[offsets[0] : offsets[-1]]]
    valid = np.diff(new_offsets) > 0
    if column.null_count:
        valid &= column.is_valid().to_numpy(zero_copy_only=False)
    return pa.Array.from_buffers(
        pa.string(),
        len(column),
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(new_offsets), pa.py_buffer(body)],
    )


def _whole(column: pa.Array, offsets: np.ndarray) -> pa.Array:
    """A count column of text as DuckDB's TRY_CAST to DOUBLE reads it, when every value is digits
    (within quotes or not) after at most a minus sign, at most `MAX_DIGITS` characters: as int64
    (NULL when empty; a negative count is a reject, which the proof sets aside).

    Read 8 bytes at a time (`_eight`): the word that ends at each value's last digit, read from
    any byte of the chunk, holds up to 8 of its digits, checked and summed within the word; a
    longer value's first digits are in the word before.  4.6-4.8 ms a column of 250,000 values,
    where taking the quotes off and Arrow's cast took 5.7-7.4."""
    import numpy as np
    import pyarrow as pa

    data = _bytes(column, offsets)
    within = _quoted(column, offsets, data)
    first = offsets[:-1] + within  # each value's first byte within its quotes, and its end
    last = offsets[1:] - within
    size = last - first
    if len(size) and int(size.max()) > MAX_DIGITS:
        raise _Unsure("a number of many digits")
    # The bytes after 8 of nothing: the word of the 8 bytes before a value's end `e` is at `e`.
    padded = np.zeros(len(data) + 9, np.uint8)
    padded[8:-1] = data
    words = np.ndarray((len(data) + 2,), np.uint64, padded, 0, (1,))
    digits = size.copy()
    negative = None
    minus = np.flatnonzero(data[offsets[0] : offsets[-1]] == ord("-")) + offsets[0]
    if len(minus):  # each one the first byte of its value (within its quotes), before a digit
        value = np.searchsorted(first, minus, side="right") - 1
        if not bool((first[np.maximum(value, 0)] == minus).all()) or bool((size[value] < 2).any()):
            raise _Unsure("a number in another form than digits")
        digits[value] -= 1
        negative = value
    low, fits = _eight(np.take(words, last), np.minimum(digits, 8))
    long = np.flatnonzero(digits > 8)
    if len(long):  # (the first digits of a value of 9 to 15)
        high, high_fits = _eight(np.take(words, last[long] - 8), digits[long] - 8)
        low[long] += high * np.uint64(100_000_000)
        fits &= high_fits
    if not fits:
        raise _Unsure("a number in another form than digits")
    counts = low.view(np.int64)
    if negative is not None:
        counts[negative] *= -1
    valid = size > 0
    if column.null_count:  # (a NULL slot may hold bytes)
        valid &= column.is_valid().to_numpy(zero_copy_only=False)
    mask = None if bool(valid.all()) else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.int64(), len(counts), [mask, pa.py_buffer(counts)])


# 8 bytes read as one little-endian word (`_eight`): the byte at the lowest address lowest.
_ZEROS = 0x3030303030303030  # "0" in each byte
_HIGH_BITS = 0x8080808080808080
_PAST_NINE = 0x7676767676767676  # added to a byte of 0-127: 128 or more when past 9
# The word's `k` highest bytes (the last `k` of the 8), for `k` from 0 to 8.
_LAST_BYTES = tuple(((1 << 64) - 1) ^ ((1 << (64 - 8 * k)) - 1) for k in range(9))


def _eight(words: np.ndarray, digits: np.ndarray) -> tuple[np.ndarray, bool]:
    """The numbers written by the last `digits` (0-8) bytes of each word, and whether each of
    those bytes is a digit.  The bytes before them are taken as leading zeros; the digits are
    paired, then the pairs, then the fours, each step one multiplication of the whole word (the
    higher part of each sum falls out of the lanes kept)."""
    import numpy as np

    last = np.array(_LAST_BYTES, np.uint64)
    value = words ^ np.uint64(_ZEROS)  # a digit's byte now its value, 0-9
    value &= np.take(last, digits)
    fits = not bool(((value | (value + np.uint64(_PAST_NINE))) & np.uint64(_HIGH_BITS)).any())
    value *= np.uint64(10 << 8 | 1)  # each 16 bits: 10 * its first byte + its second, in the second
    value >>= np.uint64(8)
    value &= np.uint64(0x00FF00FF00FF00FF)
    value *= np.uint64(100 << 16 | 1)
    value >>= np.uint64(16)
    value &= np.uint64(0x0000FFFF0000FFFF)
    value *= np.uint64(10_000 << 32 | 1)
    value >>= np.uint64(32)
    return value, fits


class CsvRead(NamedTuple):
    """The settled scans' rows of files whose every row was checked by the proof; `repeats`:
    None when no two rows are alike, else the rows (file index, row of the file from 0) among
    which every copy of every duplicate is (the proof's hashes seen twice); `set_aside`: the
    rows (among all, from 0) that may fail a check, summed all the same, and `taken` those rows
    as the pass read them (`RowProof`); `firsts`: each file's first row among all."""

    rows: usage_arrow.SettledRows
    repeats: list[tuple[int, int]] | None
    set_aside: list[int]
    taken: pa.Table | None
    cells: usage_arrow.Cells  # each row's aggregate cell: its rows by key listed without reading it again
    aside: Future[Any] | None  # `settled_rows`' `aside(set_aside)`, made while the hashes were sorted
    firsts: list[int]


def settled_rows(
    plans: Sequence[CsvPlan],
    month_start: datetime,
    month_end: datetime,
    first_periods: Sequence[int],
    threads: bool,
    aside: Callable[[list[tuple[int, int]]], Any] | None = None,
    starts: FirstStarts | None = None,
) -> CsvRead | None:
    """The settled scans' rows of the files (`usage_arrow.settled_rows`' form), every row proven
    clean for this month but those set aside; None when too many may not be, or anything is
    unsure.  `aside`: work on the rows set aside (file index, row of the file from 0; their
    lines read again), run while the proof's hashes are sorted (0.25 s of 20,000 rows beside a
    sort of 0.27 s on 30 M rows), given as the read's `aside`.  `starts`: told the starts the proof
    reads (`RowProof.starts`)."""
    plan = plans[0]  # (the files have one header: the same columns, read alike)
    proof = usage_arrow_checks.row_proof(
        [], plan.types, month_start, month_end, sum(p.guess for p in plans), threads, grows=True
    )
    if proof is None:
        return None
    proof.starts = starts
    if any(p.inflated is not None for p in plans):
        proof.on_aside = partial(_keep, plans)
    cells = proof.cells = usage_arrow.Cells()

    def meanwhile() -> Any:
        if aside is None or not proof.set_aside:
            return None
        return aside(proof.of_files(proof.set_aside))

    read = None
    try:
        read = usage_arrow.table_rows(
            tables(plans, threads), plan.settled, first_periods, threads, proof, cells
        )
    finally:
        counts = [p.rows for p in plans]
        rows = None if None in counts else [n for n in counts if n is not None]
        proof.finish(rows, meanwhile if read is not None else None)
    early = proof.meanwhile
    if read is None or not proof.clean or (not proof.proven and proof.repeats is None):
        _settle(early)
        return None
    try:
        taken = usage_arrow_checks.taken_table(proof) if proof.set_aside else None
    except (OSError, ValueError) as exc:  # (chunks of other types)
        log.debug("the rows set aside are left to DuckDB with the others: %r", exc)
        _settle(early)
        return None
    repeats = None if proof.proven else list(proof.repeats or ())
    return CsvRead(read, repeats, proof.set_aside, taken, cells, early, proof.firsts)


def _keep(plans: Sequence[CsvPlan], rows: list[int]) -> None:
    """`Inflated.keep` of the rows (among all, sorted) the proof sets aside, in their files."""
    first = 0
    for plan in plans:
        read = sum(lines.rows for lines in plan.read)
        mine = [row - first for row in rows if first <= row < first + read]
        if mine and plan.inflated is not None:
            plan.inflated.keep(plan, mine)
        first += read
        if first > rows[-1]:
            return


def _settle(work: Future[Any] | None) -> None:
    """Work begun beside the proof's sort waited for, its answer and error dropped (the file is
    read by DuckDB instead): no thread of it outlives the read."""
    if work is not None:
        with contextlib.suppress(Exception):
            work.result()


def lines(plan: CsvPlan, rows: Sequence[int]) -> dict[int, bytes]:
    """The text of these rows (from 0), as written, without their line ends, once every chunk was
    read: each row found from the line ends its chunk's parse counted by spans (`Lines`), only
    the spans that hold a row's line end read again from the file (a few thousand bytes a row;
    read through a memory map of the file, each cost a page fault, twice the time), all of a
    chunk's at once (`_line_spans`: 0.2 s for 30,000 rows, beside the proof's sort, where a
    NumPy call per span took 0.43).  A file compressed by gzip: each chunk that holds some is
    inflated again from where it begins (`Inflated.chunk`, two at a time).  `FileChanged` when
    the file has fewer bytes than its chunks now."""
    import numpy as np

    wanted = np.unique(np.asarray(rows, np.int64))
    if plan.rows is None:
        raise ValueError("the file's chunks were not all read")
    out: dict[int, bytes] = {}
    if plan.inflated is not None:  # (those kept as their chunk was read: `Inflated.keep`)
        out = {row: plan.inflated.kept[row] for row in wanted.tolist() if row in plan.inflated.kept}
        if out:
            wanted = wanted[~np.isin(wanted, np.fromiter(out, np.int64, len(out)))]
    groups = _by_chunk(plan, wanted)
    with contextlib.ExitStack() as stack:
        if plan.inflated is None:
            handle = stack.enter_context(plan.path.open("rb", buffering=0)).fileno()
            sources: Any = ((_FileChunk(handle, plan.path, plan.chunks[g.chunk]), g) for g in groups)
        else:
            sources = _inflated_chunks(plan, plan.inflated, groups, stack)
        for source, held in sources:
            out.update(_chunk_lines(plan, source, held))
    return out


class _InChunk(NamedTuple):
    """Rows of a file that one chunk holds: the chunk's index, its first row in the file, and
    the rows (from that first, sorted)."""

    chunk: int
    first: int
    rows: np.ndarray


def _by_chunk(plan: CsvPlan, rows: np.ndarray) -> list[_InChunk]:
    """These rows of the file (from 0, sorted) by the chunk that holds them, among the chunks
    read."""
    import numpy as np

    firsts = np.cumsum([0, *(lines.rows for lines in plan.read)])
    of_chunk = np.searchsorted(firsts, rows, side="right") - 1
    inside = of_chunk < len(firsts) - 1
    rows, of_chunk = rows[inside], of_chunk[inside]
    cut = np.flatnonzero(np.diff(of_chunk)) + 1
    return (
        [
            _InChunk(int(of_chunk[at]), int(firsts[of_chunk[at]]), part - int(firsts[of_chunk[at]]))
            for at, part in zip([0, *cut.tolist()], np.split(rows, cut), strict=True)
        ]
        if len(rows)
        else []
    )


def _chunk_lines(plan: CsvPlan, source: _FileChunk | _BytesChunk, held: _InChunk) -> dict[int, bytes]:
    """`lines` of the rows one chunk holds, its bytes read from `source`; keyed by their row of
    the file."""
    import numpy as np

    c, first, rows = held
    size = plan.chunks[c].stop - plan.chunks[c].start
    try:
        begin, end, read_spans, data = _line_spans(source.spans, size, rows, plan.read[c].ends)
    except _Unsure:
        raise FileChanged(plan.path, "other lines where they were") from None
    # A line within the span read that holds its line end is taken from it; else read.
    span = np.searchsorted(read_spans, end // SPAN)
    inside = (span < len(read_spans)) & (begin >= end // SPAN * SPAN) & (end < size)
    if len(read_spans):  # (the chunk's last line, without its line end: read)
        inside &= read_spans[np.minimum(span, len(read_spans) - 1)] == end // SPAN
    shift = (span - end // SPAN) * SPAN  # where the span's bytes are in `data`
    flat = data.reshape(-1)
    out: dict[int, bytes] = {}
    for row, b, e, ok, moved in zip(
        rows.tolist(), begin.tolist(), end.tolist(), inside.tolist(), shift.tolist(), strict=True
    ):
        line = flat[b + moved : e + moved].tobytes() if ok else source.text(b, e)
        out[first + row] = line[:-1] if line.endswith(b"\r") else line
    return out


class _FileChunk(NamedTuple):
    """A chunk's bytes read again from the (uncompressed) file."""

    handle: int
    path: Path
    chunk: Chunk

    def spans(self, spans: np.ndarray) -> np.ndarray:
        return _read_spans(
            self.handle, self.path, self.chunk.start, self.chunk.stop - self.chunk.start, spans
        )

    def text(self, begin: int, end: int) -> bytes:
        return _pread(self.handle, end - begin, self.chunk.start + begin, self.path)


class _BytesChunk(NamedTuple):
    """A chunk's bytes inflated again."""

    data: np.ndarray

    def spans(self, spans: np.ndarray) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(spans), SPAN), np.uint8)
        for i, at in enumerate((spans * SPAN).tolist()):
            got = self.data[at : at + SPAN]
            out[i, : len(got)] = got
        return out

    def text(self, begin: int, end: int) -> bytes:
        return self.data[begin:end].tobytes()


def _inflated_chunks(
    plan: CsvPlan, inflated: Inflated, groups: list[_InChunk], stack: contextlib.ExitStack
) -> Generator[tuple[_BytesChunk, _InChunk], None, None]:
    """The chunks that hold these rows: those still at hand (the pass's last chunks) as they are,
    the others inflated again (gzip: on two threads from where each begins, the next one while
    the rows of one are found; zstd: in one sweep from the start, which ends at the last one)."""
    import numpy as np

    with inflated._lock:
        at_hand = dict(inflated.recent)
    for held in groups:
        if held.chunk in at_hand:
            yield _BytesChunk(np.frombuffer(at_hand[held.chunk], np.uint8)), held
    rest = [held for held in groups if held.chunk not in at_hand]
    if inflated.codec == "zstd":  # (no state kept: every chunk wanted in one sweep from the start)
        again = inflated.again([plan.chunks[held.chunk] for held in rest])
        stack.callback(again.close)
        for held in rest:
            text = next(again, None)
            if text is None:  # (`again` raises when it has fewer)
                raise FileChanged(inflated.path, "cut short")
            yield _BytesChunk(np.frombuffer(text, np.uint8)), held
        return
    pool = stack.enter_context(ThreadPoolExecutor(WORKERS, thread_name_prefix="usage-gzip"))
    ahead: deque[tuple[Future[bytes], _InChunk]] = deque()
    try:
        for i, held in enumerate(rest):
            ahead.append((pool.submit(inflated.chunk, held.chunk, plan.chunks[held.chunk]), held))
            while ahead and (len(ahead) > WORKERS or i == len(rest) - 1):
                data, done = ahead.popleft()
                yield _BytesChunk(np.frombuffer(data.result(), np.uint8)), done
    finally:
        for data, _ in ahead:
            data.cancel()


def _read_spans(handle: int, path: Path, start: int, size: int, spans: np.ndarray) -> np.ndarray:
    """The bytes of these `SPAN`s (sorted) of the chunk of `size` bytes from `start` of the file
    (`handle`: `path` open), a row each (past the chunk's end: 0); `FileChanged` when the file
    has fewer bytes now."""
    import numpy as np

    out = bytearray(len(spans) * SPAN)
    into = memoryview(out)
    for i, at in enumerate((spans * SPAN).tolist()):
        wanted = min(SPAN, size - at)
        if os.preadv(handle, [into[i * SPAN : i * SPAN + wanted]], start + at) != wanted:
            raise FileChanged(path, "cut short")
    return np.frombuffer(out, np.uint8).reshape(-1, SPAN)


def _pread(handle: int, size: int, at: int, path: Path) -> bytes:
    """`size` bytes of the file from `at`; `FileChanged` when it has fewer now."""
    data = os.pread(handle, size, at)
    if len(data) != size:
        raise FileChanged(path, "cut short")
    return data


def _line_spans(
    read: Callable[[np.ndarray], np.ndarray], size: int, rows: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each of these lines (from 0, sorted) of a chunk of `size` bytes begins, and where
    its line end (or the chunk's end) is, and the spans read to find them with their bytes;
    `ends`: the line ends in each `SPAN` bytes, `read` gives the bytes of spans (sorted, a row
    each)."""
    import numpy as np

    through = np.cumsum(ends, dtype=np.int64)  # the line ends up to each span's end
    total = int(through[-1]) if len(through) else 0
    # Line r begins after the r-th line end (from 1) and ends at the (r + 1)-th, or the chunk's end.
    numbers = np.union1d(rows[rows > 0], rows[rows < total] + 1)
    if not len(numbers):  # (the chunk's one line, without its line end)
        return np.zeros(len(rows), np.int64), np.full(len(rows), size), numbers, np.zeros((0, SPAN), np.uint8)
    spans = np.searchsorted(through, numbers)  # each one's span: the first to reach that many
    read_spans, of_span = np.unique(spans, return_inverse=True)
    data = read(read_spans)
    found = np.flatnonzero(data.reshape(-1) == _NEWLINE)  # every line end in the spans read
    first_found = np.searchsorted(found, np.arange(len(read_spans)) * SPAN)  # each span's first
    if not np.array_equal(np.diff(first_found, append=len(found)), ends[read_spans]):
        raise _Unsure("the spans read hold other line ends than their parse counted")
    before = np.where(spans > 0, through[np.maximum(spans - 1, 0)], 0)  # line ends before its span
    # The line end's place among those of its span read, then in the chunk.
    where = found[first_found[of_span] + numbers - before - 1] + (spans - of_span) * SPAN
    at = np.searchsorted(numbers, rows)
    begin = np.where(rows > 0, where[np.minimum(at, len(numbers) - 1)] + 1, 0)
    after = np.searchsorted(numbers, rows + 1)
    end = np.where(rows < total, where[np.minimum(after, len(numbers) - 1)], size)
    return begin, end, read_spans, data
