"""Packets of a pcap or pcapng file, read with `struct` over chunks of the file (no dissection).

`read_packets(path)` yields `(microseconds since 1970, link type, frame bytes)`
(`read_frames(path)` adds the packet's length on the wire, more than the frame's
when the capture's snapshot length cut it) for every packet of a classic pcap (either byte order, micro- or nanosecond
timestamps; several joined end to end, `cat`, each file header starting another) or a
pcapng (any number of sections and interfaces, each interface
with its own link type and timestamp resolution; Enhanced, Simple and obsolete
Packet blocks; the other records Wireshark numbers as frames, systemd journal entries, sysdig events
and custom blocks, come as `NOT_A_PACKET` records, of no frame, so that a packet's number is Wireshark's; other
blocks skipped); pcaps and pcapngs joined end to end (`cat a.pcap b.pcapng`) are read in
turn.  A file that is not a capture, or damaged,
raises `CaptureFileError` naming the file and, past the header, the packet
number and the byte offset where it stops making sense; one cut inside a packet
raises `CaptureCutShort` (a `CaptureFileError`) once the packets before the cut
were read; so does one that ends in zeros (preallocated, or cut by a crash), at the
block or record they begin in (its `zero_fill`: where they begin, how many).  The file is read with `pread`, a MiB at a time, up to the size it had
when opened (a live capture growing is read up to there), never memory-mapped: a
file emptied, cut or replaced while it is read (tcpdump -W reusing its name)
raises `CaptureFileError` ("changed while it was read"), where a map's process
died of SIGBUS.  No plain capture is held open between reads.
A capture compressed by gzip or zstd (`capture.pcap.gz`, as tcpdump's rotation
or Wireshark save them; known by its first bytes) is decompressed into an
unnamed temporary file first, and read the same way; compressed data damaged,
or cut before the capture's header, raise `CaptureFileError` too, and data cut
short later are read up to where they stop, then `CaptureCutShort`.  One compressed by
bzip2, xz or lz4, or in a zip or 7z archive, is refused, naming the command that decompresses it.
"""

from __future__ import annotations

import bz2
import lzma
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO

from m2msim.compressed import Salvaged, compression_of, cut_short, decompressing

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little-endian, microseconds (multiplier to nanoseconds)
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
# a pcap file header's magic read as a record's seconds, in either byte order (captures joined end to end)
_MAGIC_SECONDS = frozenset(struct.unpack(order + "I", magic)[0] for magic in PCAP_MAGICS for order in "<>")
MAX_SNAPLEN = 1 << 20  # no capture tool writes a larger packet record; past it the file is garbage
MAX_BLOCK = MAX_SNAPLEN + (1 << 16)  # a pcapng block: a packet and its options; past it, garbage
CHUNK = 1 << 20  # bytes read at a time (more for a packet that needs more)

_SHB, _IDB, _OPB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_BYTE_ORDER_MAGICS = (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")  # a section header's, either order
# blocks that are no packet but that Wireshark (tshark) numbers as frames: a systemd journal entry, a
# sysdig event (a system call, `sysdig -w`: its event blocks 0x204, v2 0x216 and v2 large 0x221) and custom
# blocks (copied or not by an editor); given as records of this link type, of no frame
NOT_A_PACKET = -1
_NUMBERED_BLOCKS = frozenset({9, 0x204, 0x216, 0x221, 0x00000BAD, 0x40000BAD})


class CaptureFileError(Exception):
    """The file is missing, unreadable, not a capture, or cut short."""


class CaptureCutShort(CaptureFileError):
    """The capture ends within a packet (a ring buffer's live file, a disk that filled up): raised once
    every whole packet before the cut was read. `packets`: how many; `offset`: where the cut one starts.
    Compressed data cut short are read likewise, up to where they stop."""

    def __init__(
        self,
        message: str,
        packets: int,
        offset: int,
        *,
        compression: str | None = None,
        zero_fill: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.packets = packets
        self.offset = offset
        self.compression = compression  # the offset is then the decompressed capture's
        # (offset, bytes) of the zeros that end the file, when they are what cut it (`_zero_fill`)
        self.zero_fill = zero_fill


def _head(path: Path, size: int) -> tuple[bytes, str | None]:
    """The first `size` bytes of the capture (decompressed: gzip's or zstd's), and its compression."""
    with path.open("rb") as stream:
        kind = compression_of(stream.read(4))
        if kind is None:
            stream.seek(0)
            return stream.read(size), None
    try:
        with decompressing(path, kind) as inner:
            return inner.read(size), kind
    except (EOFError, OSError, zlib.error) as exc:
        raise _compressed_error(path, kind, exc) from None


# compressions a capture is not read from (tcpdump -z bzip2, -z xz), and archives (lz4, zip, 7z): such a
# capture is refused, naming the command that decompresses it, rather than skipped as no capture (a
# folder read in part); by their first bytes: the name, that command
_UNREAD_COMPRESSIONS = {b"BZh": ("bzip2", "bunzip2 -k"), b"\xfd7zX": ("xz", "unxz -k")}
_ARCHIVES = {
    b"\x04\x22\x4d\x18": ("lz4", "lz4 -d"),  # (an LZ4 frame)
    b"\x02\x21\x4c\x18": ("lz4", "lz4 -d"),  # (the legacy format, `lz4 -l`)
    b"PK\x03\x04": ("zip", "unzip"),
    b"7z\xbc\xaf\x27\x1c": ("7z", "7z x"),
}
_ZIP_MEMBERS_LOOKED_AT = 100


def _unread_compression(path: Path, start: bytes) -> tuple[str, str] | None:
    """(compression, command that undoes it) when a file starting with `start` is a capture compressed
    by bzip2 or xz (its first decompressed bytes say so), else None."""
    for magic, (kind, undo) in _UNREAD_COMPRESSIONS.items():
        if start.startswith(magic):
            try:
                with bz2.BZ2File(path) if kind == "bzip2" else lzma.LZMAFile(path) as inner:
                    first = inner.read(4)
            except (EOFError, OSError, lzma.LZMAError):
                return None
            return (kind, undo) if first in PCAP_MAGICS or first == PCAPNG_SHB else None
    return None


def _archive(start: bytes) -> tuple[str, str] | None:
    """(lz4, zip or 7z, the command that undoes it) when a file starts with `start` so, else None."""
    return next((found for magic, found in _ARCHIVES.items() if start.startswith(magic)), None)


def _archive_of(path: Path) -> tuple[str, str] | None:
    """`_archive` of the file's first bytes (None when it cannot be read)."""
    try:
        with path.open("rb") as stream:
            return _archive(stream.read(8))
    except OSError:
        return None


def _archived_capture(path: Path, kind: str) -> bool | None:
    """Whether the lz4 data or a zip member of `path` starts like a capture; None when that cannot be
    seen here (7z; data damaged, encrypted)."""
    try:
        if kind == "lz4":
            import pyarrow as pa

            with pa.input_stream(str(path), compression="lz4") as inner:
                firsts = [inner.read(4)]
        elif kind == "zip":
            with zipfile.ZipFile(path) as archive:
                firsts = []
                for member in archive.infolist()[:_ZIP_MEMBERS_LOOKED_AT]:
                    with archive.open(member) as inner:
                        firsts.append(inner.read(4))
        else:
            return None
    except (OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error, NotImplementedError):
        return None
    return any(first in PCAP_MAGICS or first == PCAPNG_SHB for first in firsts)


def _archive_said(path: Path, found: tuple[str, str]) -> str:
    kind, undo = found
    return (
        f"compressed with {kind}, which records-from-pcap does not read: decompress it first ({undo} {path})"
    )


NOT_A_CAPTURE = "not a pcap or pcapng file"


def skipped_said(path: Path) -> str:
    """Why a file of a folder that `is_capture` passed over is not read: no capture, or an archive
    (lz4, zip, 7z) whose content cannot be seen here (7z; a zip encrypted or damaged)."""
    found = _archive_of(path)
    if found is None or _archived_capture(path, found[0]) is not None:
        return NOT_A_CAPTURE
    return f"{_archive_said(path, found)}, if it holds a capture"


def is_capture(path: Path) -> bool:
    """Whether `path` is a regular file that starts like a pcap or pcapng (maybe compressed by
    gzip or zstd; or by bzip2, xz, lz4 or zip, which `check_file` refuses)."""
    try:
        head, _ = _head(path, 8)
    except CaptureFileError:
        return True  # (compressed data that stop before a capture's first bytes: `check_file` says so)
    except OSError:
        return False
    if head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_SHB or _unread_compression(path, head) is not None:
        return True
    archive = _archive(head)
    return archive is not None and _archived_capture(path, archive[0]) is True


def check_file(path: Path) -> str | None:
    """`CaptureFileError` unless `path` is a readable file that starts like a capture; its
    compression ("gzip", "zstd") or None."""
    if not path.exists():
        raise CaptureFileError(f"{path}: no such file")
    if not path.is_file():
        raise CaptureFileError(f"{path}: not a file")
    try:
        head, kind = _head(path, 24)
    except OSError as exc:
        raise CaptureFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise CaptureFileError(f"{path}: empty file, not a capture")
    if kind is not None and head[:4] not in PCAP_MAGICS and head[:4] != PCAPNG_SHB:
        raise CaptureFileError(f"{path}: compressed by {kind}, but not a pcap or pcapng capture inside")
    if head[:4] not in PCAP_MAGICS and head[:4] != PCAPNG_SHB:
        unread = _unread_compression(path, head) if kind is None else None
        archived = _archive(head) if kind is None else None
        if archived is not None:
            raise CaptureFileError(f"{path}: {_archive_said(path, archived)}")
        if unread is not None:
            raise CaptureFileError(
                f"{path}: a capture compressed by {unread[0]}, which is not read: decompress it "
                f"({unread[1]} {path}) and read the capture, or compress it with gzip or zstd"
            )
        raise CaptureFileError(f"{path}: not a pcap or pcapng capture (starts with {head[:4].hex()})")
    if head[:4] in PCAP_MAGICS and len(head) < 24:
        raise CaptureFileError(f"{path}: pcap header cut at {len(head)} of 24 octets")
    return kind


_COMPRESSED_SUFFIXES = frozenset({".gz", ".zst", ".zstd"})


def plain_sibling(path: Path) -> Path | None:
    """The plain file `path` would decompress to by its name (`part.pcap` of `part.pcap.gz`, `.zst`),
    when `path` is compressed by gzip or zstd and that file exists beside it; else None."""
    if path.suffix.lower() not in _COMPRESSED_SUFFIXES:
        return None
    sibling = path.with_suffix("")
    try:
        with path.open("rb") as stream:
            if compression_of(stream.read(4)) is None:
                return None
        with sibling.open("rb") as stream:
            if compression_of(stream.read(4)) is not None:
                return None
    except OSError:
        return None
    return sibling if sibling.is_file() else None


def compare_decompressed(plain: Path, packed: Path) -> tuple[str, int]:
    """How `packed` (gzip or zstd) decompressed compares with `plain`, and the bytes they share from
    their start: "same" (the very bytes), "plain-prefix" (`plain` holds the first bytes of it, which
    has more: `plain` a copy taken before the capture ended, or still being written), "packed-prefix"
    (it holds the first bytes of `plain`, which has more; its compressed data maybe cut short, as
    `gzip -k` interrupted leaves them), or "other" (other bytes, or compressed data damaged: another
    capture under the name, each read as it is)."""
    with packed.open("rb") as stream:
        kind = compression_of(stream.read(4))
    assert kind is not None  # (`plain_sibling` said so)
    done = 0
    salvaged = Salvaged(packed, kind)
    try:
        with plain.open("rb") as other:
            for piece in salvaged:  # (up to where the data stop, when cut short)
                got = other.read(len(piece))
                if got != piece:
                    differ = next(
                        (k for k, (a, b) in enumerate(zip(got, piece, strict=False)) if a != b), None
                    )
                    if differ is None:  # (`plain` ends within the piece: a prefix of it)
                        return "plain-prefix", done + len(got)
                    return "other", done + differ
                done += len(piece)
            more = bool(other.read(1))
    except (OSError, zlib.error):  # (damaged: the reader says so)
        return "other", done
    if salvaged.cut and done < 24:  # (cut before the capture's header: the reader says so)
        return "other", done
    return ("packed-prefix" if more else "same"), done


def read_packets(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(microseconds since 1970, link type, frame) of each packet, in file order."""
    for ts_us, linktype, frame, _orig in read_frames(path):
        if linktype != NOT_A_PACKET:
            yield ts_us, linktype, frame


def read_frames(path: Path) -> Iterator[tuple[int, int, bytes, int]]:
    """(microseconds since 1970, link type, frame, the packet's length on the wire) of each packet,
    in file order: a frame shorter than its length was cut by the capture's snapshot length.  A pcapng's
    records that Wireshark numbers as frames but are no packet come as (the time of the packet before,
    `NOT_A_PACKET`, b"", 0)."""
    check_file(path)
    with path.open("rb") as raw:
        kind = compression_of(raw.read(4))
    data_cut = False
    kept: IO[bytes] | None = None
    try:
        if kind is not None:
            kept, data_cut = _decompressed(path, kind)
        source = _Source(path, kept)
    except OSError as exc:
        if kept is not None:
            kept.close()
        raise CaptureFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        first = source.at(0, 0)
        try:
            if first[:4] != PCAPNG_SHB and (first[:4] not in PCAP_MAGICS or len(first) < 24):
                raise source.changed("other bytes now")  # (as `check_file` saw it a moment ago: replaced)
            # a pcap and a pcapng joined end to end (`cat a.pcap b.pcapng`): each read in turn
            packets, buf = 0, first
            at: int | None = 0
            while at is not None:
                reader = _pcapng if buf[:4] == PCAPNG_SHB else _pcap
                packets, at = yield from reader(path, source, at, buf, packets)
                if at is not None:
                    buf = source.at(at, 24)
            offset = source.size
        except CaptureCutShort as exc:
            if not data_cut:
                source.check()
                raise
            packets, offset = exc.packets, exc.offset  # (the data stop within a packet, as they mostly do)
        source.check()
    finally:
        if kept is not None:
            kept.close()
    if data_cut:  # read up to where the data stop, as a plain capture cut short
        raise CaptureCutShort(
            f"{path}: its {kind} data are cut short: read up to byte {offset} of the decompressed capture, "
            f"after packet {packets}",
            packets,
            offset,
            compression=kind,
        )


class _Source:
    """The bytes of a capture, read with `pread` up to the size it had when first opened.  A plain
    file is opened again for each read, and checked to be the same file: the captures of a folder,
    merged, hold no file open (over a map, 1,018 of them stopped at "Too many open files", the
    usual limit being 1,024).  `kept`: a decompressed capture's unnamed temporary file, held open."""

    def __init__(self, path: Path, kept: IO[bytes] | None) -> None:
        self.path, self.kept = path, kept
        self.identity: tuple[int, int] | None = None
        if kept is not None:
            self.size = os.fstat(kept.fileno()).st_size
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            stat = os.fstat(fd)
        finally:
            os.close(fd)
        self.size, self.identity = stat.st_size, (stat.st_dev, stat.st_ino)

    def at(self, pos: int, need: int) -> bytes:
        """The file's bytes from offset `pos`: a chunk, or `need` when more (the caller has checked
        that the file holds them), or up to its end; `CaptureFileError` when it no longer does."""
        want = min(max(CHUNK, need), self.size - pos)
        if self.kept is not None:
            return self._read(self.kept.fileno(), pos, want)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise self.changed("removed now") from None
        except OSError as exc:
            raise CaptureFileError(f"{self.path}: cannot be read ({exc.strerror or exc})") from exc
        try:
            stat = os.fstat(fd)
            if (stat.st_dev, stat.st_ino) != self.identity:
                raise self.changed("another file under its name now")
            return self._read(fd, pos, want)
        finally:
            os.close(fd)

    def _read(self, fd: int, pos: int, want: int) -> bytes:
        data = os.pread(fd, want, pos)
        while len(data) < want:  # (a regular file gives all it has at once)
            more = os.pread(fd, want - len(data), pos + len(data))
            if not more:
                raise self.changed(f"{os.fstat(fd).st_size} now")
            data += more
        return data

    def check(self) -> None:
        """`CaptureFileError` when the file is now shorter than when it was opened (emptied or cut
        while it was read, maybe written again since: its bytes read may come from two captures)."""
        if self.kept is not None:
            return
        try:
            stat = os.stat(self.path)
        except OSError:
            return  # (removed once read: what was read was one file's)
        if (stat.st_dev, stat.st_ino) == self.identity and stat.st_size < self.size:
            raise self.changed(f"{stat.st_size} now")

    def changed(self, now: str) -> CaptureFileError:
        return CaptureFileError(
            f"{self.path}: changed while it was read ({self.size} bytes when opened, {now}: emptied, cut "
            "or replaced, as tcpdump -W or -C reusing a file's name does): nothing read from it stands; "
            "read it once it is complete, or a copy"
        )


def _zero_start(source: _Source, pos: int) -> int:
    """Where the zeros that end the file begin (its size when its last byte is not zero), at `pos` or
    after: a file preallocated, or extended by a crash before its blocks were written (dumpcap on a
    full disk), ends with zeros."""
    end = source.size
    while end > pos:
        start = max(pos, end - CHUNK)
        chunk = source.at(start, end - start)[: end - start]
        kept = len(chunk.rstrip(b"\0"))
        if kept:
            return start + kept
        end = start
    return pos


def _zero_fill(path: Path, source: _Source, pos: int, n: int, reach: int) -> CaptureCutShort | None:
    """The file cut by the zeros that end it, at the pcapng block or pcap record at `pos` (after
    packet `n`) that reaches `reach` (its end, as its header says), when they begin before that and
    the file holds it (one that ends before it is cut, by a zero octet or not); else None."""
    if reach > source.size:
        return None
    zeros = _zero_start(source, pos)
    if zeros >= source.size or zeros >= reach:
        return None
    count = source.size - zeros
    return CaptureCutShort(
        f"{path}: zero-filled from byte offset {zeros} to its end ({count} bytes), after packet {n}",
        n,
        pos,
        zero_fill=(zeros, count),
    )


def _decompressed(path: Path, kind: str) -> tuple[IO[bytes], bool]:
    """The capture decompressed into an unnamed temporary file (gone when closed), whose bytes are
    then read as a plain capture's, and whether its compressed data are cut short (then the file
    holds all they give: `Salvaged`); `CaptureFileError` when they are damaged."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (the caller's, which closes it)
    data = Salvaged(path, kind)
    try:
        for piece in data:
            out.write(piece)
    except (EOFError, OSError, zlib.error) as exc:
        out.close()
        raise _compressed_error(path, kind, exc) from None
    out.flush()
    return out, data.cut


def _compressed_error(path: Path, kind: str, exc: Exception) -> CaptureFileError:
    """The refusal of a capture whose compressed data stop making sense (`exc`, while decompressed)."""
    return CaptureFileError(
        f"{path}: its {kind} data are {'cut short' if cut_short(exc) else f'damaged ({exc})'}"
    )


# what a pcap or a pcapng reader gives: its packets, then how many there are in the file up to its end
# and where a capture of the other format begins after it (None: the file ends)
_Packets = Generator[tuple[int, int, bytes, int], None, tuple[int, int | None]]


def _pcap(path: Path, source: _Source, base: int, buf: bytes, n: int) -> _Packets:
    """The packets of a classic pcap at offset `base` (`buf`: the file's bytes from there), after
    `n` packets; up to the file's end or a pcapng section's header (captures joined end to end)."""
    if len(buf) < 24:
        raise CaptureCutShort(f"{path}: file header at offset {base} cut ({len(buf)} of 24 octets)", n, base)
    order, frac_us, linktype = _pcap_header(buf, 0)
    unpack = struct.Struct(order + "IIII").unpack_from
    size, i = source.size, 24  # `buf` holds the file's bytes from offset `base`; at `i`
    limit, held = size - base, len(buf)
    while i < limit:
        n += 1
        if i + 16 > held:  # (the record header past the bytes held)
            pos = base + i
            if pos + 16 > size:
                raise CaptureCutShort(
                    f"{path}: packet {n} at offset {pos}: record header cut ({size - pos} octets)", n - 1, pos
                )
            buf, base, i = source.at(pos, 16), pos, 0
            limit, held = size - base, len(buf)
        sec, frac, incl, orig = unpack(buf, i)
        if sec == _SHB and buf[i + 8 : i + 12] in _BYTE_ORDER_MAGICS:  # a pcapng section after it
            return n - 1, base + i
        zeros = None
        if not (incl or orig) and sec not in _MAGIC_SECONDS:  # (no packet: maybe the zeros that end the file)
            zeros = _zero_fill(path, source, base + i, n - 1, base + i + 16)
        if zeros is not None:
            raise zeros
        if sec in _MAGIC_SECONDS:  # maybe another capture's file header: captures joined end to end
            if i + 24 > held and base + i + 24 <= size:
                pos = base + i
                buf, base, i = source.at(pos, 24), pos, 0
                limit, held = size - base, len(buf)
            if i + 24 <= held and _pcap_header(buf, i)[0]:  # (`cat`, gzip members concatenated)
                order, frac_us, linktype = _pcap_header(buf, i)
                unpack = struct.Struct(order + "IIII").unpack_from
                n -= 1
                i += 24
                continue
            if i + 24 > held and _pcap_header(buf, i)[0]:  # (one that the file's end cuts: no packet)
                pos = base + i
                raise CaptureCutShort(
                    f"{path}: file header at offset {pos} cut ({size - pos} of 24 octets)", n - 1, pos
                )
        if incl > MAX_SNAPLEN:
            raise CaptureFileError(
                f"{path}: packet {n} at offset {base + i}: captured length {incl} is not plausible (corrupt file)"
            )
        end = i + 16 + incl
        if end > held:
            pos = base + i
            if pos + 16 + incl > size:
                raise CaptureCutShort(
                    f"{path}: packet {n} at offset {pos}: cut after {size - pos - 16} of {incl} octets",
                    n - 1,
                    pos,
                )
            buf, base, i, end = source.at(pos, 16 + incl), pos, 0, 16 + incl
            limit, held = size - base, len(buf)
        yield sec * 1_000_000 + (frac if frac_us else frac // 1_000), linktype, buf[i + 16 : end], orig
        i = end
    return n, None


def _pcap_header(buf: bytes, at: int) -> tuple[str, bool, int]:
    """(byte order, whether the timestamps' fraction is in microseconds, link type) of the pcap file
    header at `at`; the byte order is "" when the bytes there are not one (version 2.4 after the magic)."""
    order, to_ns = PCAP_MAGICS[buf[at : at + 4]]
    if struct.unpack_from(order + "HH", buf, at + 4) != (2, 4) and at:
        return "", False, 0
    if at + 24 > len(buf):  # (its start only: a header cut, whose link type is not there)
        return order, to_ns == 1_000, 0
    return order, to_ns == 1_000, struct.unpack_from(order + "I", buf, at + 20)[0] & 0xFFFF


def _tick_converter(option: int | None) -> tuple[int, int]:
    """(multiplier, divisor) turning an interface's ticks into microseconds (if_tsresol: 10^-n or 2^-n)."""
    if option is None:
        return 1, 1
    if option & 0x80:
        return 1_000_000, 1 << (option & 0x7F)
    exponent = option & 0x7F
    if exponent <= 6:
        return 10 ** (6 - exponent), 1
    return 1, 10 ** (exponent - 6)


def _pcapng(path: Path, source: _Source, base: int, buf: bytes, n: int) -> _Packets:
    """The packets of a pcapng at offset `base` (`buf`: the file's bytes from there), after `n`
    packets; up to the file's end or a classic pcap's file header (captures joined end to end)."""
    size, i = source.size, 0  # `buf` holds the file's bytes from offset `base`; at `i`
    order = "<"
    # (link type, multiplier, divisor, offset in us, snapshot length: 0 for none)
    interfaces: list[tuple[int, int, int, int, int]] = []
    last_ts = 0
    while base + i < size:
        pos = base + i
        if i + 12 > len(buf):  # (the block header past the bytes held)
            if pos + 12 > size:
                raise CaptureCutShort(
                    f"{path}: block at offset {pos} cut ({size - pos} octets) after packet {n}", n, pos
                )
            buf, base, i = source.at(pos, 12), pos, 0
        pcap = PCAP_MAGICS.get(buf[i : i + 4])
        if pcap is not None and struct.unpack_from(pcap[0] + "HH", buf, i + 4) == (2, 4):
            return n, pos  # a classic pcap's file header: a pcap after it (`cat`)
        if buf[i : i + 4] == PCAPNG_SHB:
            magic = buf[i + 8 : i + 12]
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise CaptureFileError(f"{path}: section header at offset {pos} has no byte-order magic")
            interfaces = []
        block_type, length = struct.unpack_from(order + "II", buf, i)
        if length < 12 or length % 4 or pos + length > size:
            reach = pos + (length if 12 <= length <= MAX_BLOCK else 12)
            if (zeros := _zero_fill(path, source, pos, n, reach)) is not None:
                raise zeros
            message = f"{path}: block at offset {pos} (after packet {n}) is %s: length {length}, {size - pos} octets left"
            if length >= 12 and not length % 4 and length <= MAX_BLOCK:  # a whole block's length: cut
                raise CaptureCutShort(message % "cut", n, pos)
            raise CaptureFileError(message % "corrupt")
        if i + length > len(buf):  # (checked above: the file holds it)
            buf, base, i = source.at(pos, length), pos, 0
        body, end = i + 8, i + length - 4
        zeros = None
        if struct.unpack_from(order + "I", buf, end)[0] != length:  # (its length again, at its end)
            zeros = _zero_fill(path, source, pos, n, pos + length)
        if zeros is not None:
            raise zeros
        if block_type == _IDB:
            if end - body < 8:
                raise CaptureFileError(f"{path}: interface block at offset {pos} is too short")
            linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, body)
            resol: int | None = None
            offset_s = 0
            opt = body + 8
            while opt + 4 <= end:
                code, olen = struct.unpack_from(order + "HH", buf, opt)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    resol = buf[opt + 4]
                elif code == 14 and olen >= 8:
                    offset_s = struct.unpack_from(order + "q", buf, opt + 4)[0]
                opt += 4 + (olen + 3) // 4 * 4
            mul, div = _tick_converter(resol)
            interfaces.append((linktype, mul, div, offset_s * 1_000_000, snaplen))
        elif block_type in (_EPB, _OPB, _SPB):
            n += 1
            if block_type == _SPB:
                if not interfaces:
                    raise CaptureFileError(f"{path}: packet {n} at offset {pos}: no interface described")
                linktype, snaplen = interfaces[0][0], interfaces[0][4]
                orig = struct.unpack_from(order + "I", buf, body)[0]
                # its data: the packet cut to the interface's snapshot length, then padded to 32 bits
                caplen = min(orig, snaplen or orig, end - body - 4)
                data_at, ts_us = body + 4, last_ts
            else:
                if end - body < 20:
                    raise CaptureFileError(f"{path}: packet {n} at offset {pos}: block too short")
                if block_type == _EPB:
                    iface, high, low, caplen, orig = struct.unpack_from(order + "IIIII", buf, body)
                else:
                    iface, _drops, high, low, caplen, orig = struct.unpack_from(order + "HHIIII", buf, body)
                if iface >= len(interfaces):
                    raise CaptureFileError(
                        f"{path}: packet {n} at offset {pos}: interface {iface} was never described"
                    )
                linktype, mul, div, since, _snaplen = interfaces[iface]
                ts_us = ((high << 32 | low) * mul) // div + since
                data_at = body + 20
            if data_at + caplen > end:
                raise CaptureFileError(
                    f"{path}: packet {n} at offset {pos}: captured length {caplen} overruns its block"
                )
            last_ts = ts_us
            yield ts_us, linktype, buf[data_at : data_at + caplen], orig
        elif block_type in _NUMBERED_BLOCKS:
            n += 1
            yield last_ts, NOT_A_PACKET, b"", 0
        i += length
    return n, None
