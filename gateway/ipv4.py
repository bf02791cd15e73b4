"""Pure IP helpers of the network side: the Internet checksum and the reassembly of fragments.

One rule each, used by the capture reader (`gateway.capture.reader`: RADIUS in fragmented UDP, IPv4
and IPv6) and by the virtual modem's PPP forwarder (the device's fragmented datagrams, put
together as their destination host does).  No I/O and no clock of their own: the caller gives
its time on every call (a capture's packet time, the modem's `now`), in its own unit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = [
    "DF",
    "MF",
    "Reassembly",
    "Unfinished",
    "Whole",
    "add_fragment",
    "checksum",
    "datagram_of",
    "reassemble",
]

DF, MF = 0x4000, 0x2000  # the Don't Fragment and More Fragments flags of the IPv4 header
MAX_DATAGRAM = 65_535  # octets of an IP datagram, header included (its 16-bit total length)

K = TypeVar("K", bound=Hashable)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`.

    The one's complement sum of the 16-bit words is the data read as one big number modulo
    0xFFFF (2**16 is 1 modulo 0xFFFF), except that a non-zero sum is never 0 but 0xFFFF.
    """
    if len(data) & 1:
        data += b"\0"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


@dataclass(frozen=True, slots=True)
class Whole(Generic[K]):
    """A datagram put together: its data (what follows the IP header), the IP header its first
    fragment came with (as the caller gave it), and each fragment's data by offset."""

    key: K
    data: bytes
    header: bytes
    pieces: Mapping[int, bytes]


@dataclass(frozen=True, slots=True)
class Unfinished(Generic[K]):
    """A datagram given up with fragments missing: what the caller said of its first fragment to
    come (`tag`: a packet number...) and the data of the fragment at offset 0, if it came."""

    key: K
    tag: int
    head: bytes | None


@dataclass(slots=True)
class _Partial:
    tag: int
    deadline: float  # the caller's time when the datagram is given up
    pieces: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, data) as they came
    end: int = -1  # the datagram's length, once the fragment without More Fragments came
    header: bytes = b""  # the IP header of the fragment at offset 0

    def head(self) -> bytes | None:
        return next((data for offset, data in self.pieces if offset == 0), None)


class Reassembly(Generic[K]):
    """Fragments put together into their datagram (RFC 791 3.2, RFC 815), by a key naming the
    datagram: (source, destination, protocol, identification).

    - A datagram is whole once its fragments cover it without a hole from offset 0 to the end of
      the fragment without More Fragments.  Fragments may come in any order; a copy of one already
      held is ignored; where fragments overlap, the octets that came first are kept (RFC 815: a
      fragment fills holes only).
    - Bounds: a datagram is given up `timeout` after its first fragment (the caller's time: a
      fragment of its key coming later starts another datagram, as an identification used again);
      at most `max_datagrams` are put together at once (past it, a new one's fragment is refused,
      or with `evict_oldest` the oldest datagram is given up) and `max_pieces` fragments each
      (past it, refused); a fragment that would make the datagram longer than 65,535 octets (its
      header's, or the first fragment's) is refused and the datagram dropped.  `refused` counts
      the fragments refused; `on_given_up` hears of each datagram given up for its time (or pushed
      out by a newer one), and
      `on_too_long` of each dropped for its length.
    """

    def __init__(
        self,
        timeout: float,
        max_datagrams: int,
        max_pieces: int,
        *,
        evict_oldest: bool = False,
        on_given_up: Callable[[Unfinished[K]], None] | None = None,
        on_too_long: Callable[[Unfinished[K]], None] | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self.max_pieces = max_pieces
        self.evict_oldest = evict_oldest
        self.on_given_up = on_given_up
        self.on_too_long = on_too_long
        self.refused = 0
        self._open: dict[K, _Partial] = {}

    def __len__(self) -> int:
        return len(self._open)

    def holds(self, key: K, now: float) -> bool:
        """Whether fragments of `key` are being put together at `now` (their time not up)."""
        partial = self._open.get(key)
        return partial is not None and now < partial.deadline

    def add(
        self, key: K, now: float, offset: int, more: bool, data: bytes, *, header: bytes = b"", tag: int = 0
    ) -> Whole[K] | None:
        """A fragment of datagram `key` at `now`: `data` from octet `offset` of the datagram's data,
        More Fragments `more`, with its IP `header` and the caller's `tag`.  Returns the datagram
        once whole; None while fragments are missing, or when this one is refused."""
        partial = self._open.get(key)
        if partial is not None and now >= partial.deadline:
            self._give_up(key)  # another datagram under the same identification
            partial = None
        if partial is None:
            if len(self._open) >= self.max_datagrams:
                if not self.evict_oldest:
                    self.refused += 1
                    return None
                self._give_up(next(iter(self._open)))
            partial = self._open[key] = _Partial(tag, now + self.timeout)
        elif (offset, data) in partial.pieces:
            return None  # a copy
        if offset + len(data) + len(partial.header or header) > MAX_DATAGRAM:
            del self._open[key]  # no datagram is that long (the "ping of death"): dropped, as Linux does
            self.refused += 1
            if self.on_too_long is not None:
                self.on_too_long(Unfinished(key, partial.tag, partial.head()))
            return None
        if len(partial.pieces) >= self.max_pieces:
            self.refused += 1
            return None
        partial.pieces.append((offset, data))
        if offset == 0 and not partial.header:
            partial.header = header
        if not more and partial.end < 0:
            partial.end = offset + len(data)
        if partial.end < 0:
            return None
        at = 0
        for start, piece in sorted(partial.pieces, key=lambda p: p[0]):
            if start >= partial.end:
                break
            if start > at:
                return None  # a hole
            at = max(at, start + len(piece))
        if at < partial.end:
            return None
        del self._open[key]
        out = bytearray(partial.end)
        pieces: dict[int, bytes] = {}
        for start, piece in reversed(partial.pieces):  # the first come written last: its octets stay
            pieces[start] = piece
            if start < partial.end:  # (octets past the datagram's end are not its)
                chunk = piece[: partial.end - start]
                out[start : start + len(chunk)] = chunk
        return Whole(key, bytes(out), partial.header, pieces)

    def next_deadline(self) -> float | None:
        """When the next datagram's time is up (the caller's time), None when none is open."""
        return min((p.deadline for p in self._open.values()), default=None)

    def expire(self, now: float) -> int:
        """Give up the datagrams whose time is up at `now`; returns how many."""
        late = [key for key, p in self._open.items() if now >= p.deadline]
        for key in late:
            self._give_up(key)
        return len(late)

    def unfinished(self) -> Iterator[Unfinished[K]]:
        """The datagrams still open, incomplete, first fragment first."""
        for key, partial in self._open.items():
            yield Unfinished(key, partial.tag, partial.head())

    def clear(self) -> None:
        self._open.clear()

    def discard(self, key: K) -> None:
        """Drop the fragments of `key` held so far, if any, without giving the datagram up."""
        self._open.pop(key, None)

    def _give_up(self, key: K) -> None:
        partial = self._open.pop(key)
        if self.on_given_up is not None:
            self.on_given_up(Unfinished(key, partial.tag, partial.head()))


def fragment_fields(packet: bytes) -> tuple[tuple[bytes, bytes, int, int], int, bool]:
    """(key, offset in octets, More Fragments) of an IPv4 fragment: the key is (source,
    destination, protocol, identification)."""
    fields = int.from_bytes(packet[6:8], "big")
    key = (packet[12:16], packet[16:20], packet[9], int.from_bytes(packet[4:6], "big"))
    return key, (fields & 0x1FFF) * 8, bool(fields & MF)


def datagram_of(whole: Whole[K]) -> bytes:
    """The IPv4 datagram of a `Whole` put together from IPv4 fragments: its first fragment's header
    (options included) with the total length, no fragment fields but Don't Fragment, the checksum
    made again."""
    header = bytearray(whole.header)
    header[2:4] = (len(header) + len(whole.data)).to_bytes(2, "big")
    header[6:8] = (int.from_bytes(header[6:8], "big") & DF).to_bytes(2, "big")
    header[10:12] = b"\0\0"
    header[10:12] = checksum(bytes(header)).to_bytes(2, "big")
    return bytes(header) + whole.data


def add_fragment(parts: Reassembly[tuple[bytes, bytes, int, int]], now: float, packet: bytes) -> bytes | None:
    """Add the IPv4 fragment `packet` (header and payload, up to its total length) to `parts` at
    `now`: the whole datagram (`datagram_of`) once every fragment of it has come, else None."""
    ihl = (packet[0] & 0x0F) * 4
    key, offset, more = fragment_fields(packet)
    data = packet[ihl : int.from_bytes(packet[2:4], "big")]
    whole = parts.add(key, now, offset, more, data, header=packet[:ihl])
    return None if whole is None else datagram_of(whole)


def reassemble(fragments: list[bytes]) -> bytes | None:
    """The IPv4 datagram that fragments of one datagram make, in any order; None while some are
    missing (`Reassembly` without bounds)."""
    parts: Reassembly[tuple[bytes, bytes, int, int]] = Reassembly(float("inf"), 1, len(fragments) or 1)
    for f in fragments:
        whole = add_fragment(parts, 0.0, f)
        if whole is not None:
            return whole
    return None
