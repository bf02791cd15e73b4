"""Time order in a capture: a reorder buffer for per-event writes, sorted runs and their merge for bulk writes.

- `ReorderBuffer` holds per-event packets for a horizon of simulated time and
  writes them sorted by (timestamp, emission order).  Guarantee: the file's
  timestamps never decrease as long as every packet is dated no earlier than
  `horizon_us` before the newest packet seen and no more than `limit` packets
  wait; a packet that arrives later than that is still written (at the next
  drain, out of order) and counted in `late`.
- `RunWriter` spills a time-sorted run of pcap records (bytes, plus an index of
  timestamps and lengths) to a temporary directory; `merge_runs` merges any
  number of runs into the final file in chunks of at most `chunk` records per
  run (numpy on the indexes, no per-packet heap): memory stays bounded whatever
  the capture's size.  Ties between runs go to the run written first, so the
  merged order is (timestamp, emission order).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
_RECORD_HEAD = struct.Struct("<IIII")
_FIRST = itemgetter(0)
MIN_DRAIN = 4_096  # packets buffered between two sorts (amortises the sort)


class ReorderBuffer:
    """Packets (pcap records) waiting to be written in timestamp order."""

    __slots__ = (
        "_items",
        "_next_drain",
        "_seq",
        "_write",
        "horizon_us",
        "late",
        "limit",
        "newest",
        "written",
        "written_ts",
    )

    def __init__(self, write: Callable[[bytes], object], horizon_us: int, limit: int) -> None:
        if horizon_us < 0 or limit < 1:
            raise ValueError(f"reorder horizon {horizon_us} us and limit {limit}: expected >= 0 and >= 1")
        self._write = write
        self.horizon_us = horizon_us
        self.limit = limit
        self._items: list[tuple[int, int, bytes]] = []
        self._seq = 0
        self._next_drain = MIN_DRAIN
        self.newest = -(1 << 62)  # newest timestamp pushed
        self.written_ts = -(1 << 62)  # timestamp of the last packet written
        self.written = 0  # packets written
        self.late = 0  # packets written out of order (later than the horizon or the limit allowed)

    def __len__(self) -> int:
        return len(self._items)

    def push(self, ts_us: int, record: bytes) -> None:
        if ts_us < self.written_ts:
            self.late += 1
        if ts_us > self.newest:
            self.newest = ts_us
        self._seq += 1
        self._items.append((ts_us, self._seq, record))
        if len(self._items) >= self._next_drain or len(self._items) > self.limit:
            self.drain(self.newest - self.horizon_us)

    def drain(self, upto_us: int | None = None) -> None:
        """Write the packets dated up to `upto_us` (all with None); keep at most `limit` waiting."""
        items = self._items
        if not items:
            return
        items.sort()
        cut = len(items) if upto_us is None else bisect.bisect_right(items, upto_us, key=_FIRST)
        cut = max(cut, len(items) - self.limit)
        if cut:
            self._write(b"".join([item[2] for item in items[:cut]]))
            self.written_ts = max(self.written_ts, items[cut - 1][0])
            self.written += cut
            del items[:cut]
        self._next_drain = max(MIN_DRAIN, 2 * len(items))


class RunWriter:
    """One time-sorted run of pcap records in a data file, with its (timestamp, length) index."""

    def __init__(self, data_path: Path, index_path: Path) -> None:
        self.data_path = data_path
        self.index_path = index_path
        self._data = data_path.open("wb", buffering=1 << 20)
        self._index = index_path.open("wb", buffering=1 << 16)
        self.packets = 0
        self.last_ts = -(1 << 62)

    def write(self, data: bytes, ts_us: I64, lengths: I64) -> None:
        """Records already in order (`ts_us` non-decreasing and not before the previous call's)."""
        if ts_us.shape[0] == 0:
            return
        self._data.write(data)
        np.stack((ts_us.astype(np.int64), lengths.astype(np.int64)), axis=1).tofile(self._index)
        self.packets += int(ts_us.shape[0])
        self.last_ts = int(ts_us[-1])

    def close(self) -> None:
        self._data.close()
        self._index.close()


def index_records(stream: BinaryIO, index_path: Path) -> int:
    """Write the (timestamp, length) index of the pcap records that follow in `stream`; returns the count."""
    rows: list[tuple[int, int]] = []
    count = 0
    with index_path.open("wb") as out:
        while True:
            head = stream.read(16)
            if len(head) < 16:
                break
            sec, usec, incl, _orig = _RECORD_HEAD.unpack(head)
            stream.seek(incl, 1)
            rows.append((sec * 1_000_000 + usec, 16 + incl))
            if len(rows) >= 65_536:
                np.array(rows, dtype=np.int64).tofile(out)
                count += len(rows)
                rows.clear()
        if rows:
            np.array(rows, dtype=np.int64).tofile(out)
            count += len(rows)
    return count


class _Run:
    __slots__ = ("base", "data", "done", "index", "pos")

    def __init__(self, data_path: Path, index_path: Path, base: int) -> None:
        size = index_path.stat().st_size
        self.index: npt.NDArray[np.int64] = (
            np.memmap(index_path, dtype=np.int64, mode="r", shape=(size // 16, 2))
            if size
            else np.empty((0, 2), dtype=np.int64)
        )
        self.data = data_path.open("rb")
        self.data.seek(base)
        self.base = base
        self.pos = 0
        self.done = self.index.shape[0] == 0


def merge_runs(
    runs: list[tuple[Path, Path, int]], write: Callable[[bytes], object], chunk: int = 65_536
) -> int:
    """Merge time-sorted runs `(data file, index file, data offset)` into `write`; returns records written.

    The index files are memory-mapped; each round looks at `chunk` rows per run
    and writes those dated before the cutoff, the earliest "last timestamp
    looked at" of the runs that have more (no record before it can be left
    unseen); when every run is at the cutoff, the first run's records dated at
    it go first (ties follow run order).  Memory holds one chunk per run.
    """
    opened = [_Run(d, i, base) for d, i, base in runs]
    written = 0
    try:
        live = [r for r in opened if not r.done]
        if len(live) == 1:  # nothing to merge: copy
            run = live[0]
            while block := run.data.read(1 << 20):
                write(block)
            return int(run.index.shape[0])
        while live:
            windows = [r.index[r.pos : r.pos + chunk] for r in live]
            bounded = [
                int(w[-1, 0])
                for r, w in zip(live, windows, strict=True)
                if r.pos + w.shape[0] < r.index.shape[0]
            ]
            cutoff = min(bounded) if bounded else None
            ts_parts: list[I64] = []
            len_parts: list[I64] = []
            blobs: list[bytes] = []
            if cutoff is None:
                takes = [int(w.shape[0]) for w in windows]
            else:  # strictly before the cutoff: no run holds such a record past its window
                takes = [int(np.searchsorted(w[:, 0], cutoff, side="left")) for w in windows]
                if not any(takes):  # every run is at the cutoff or after: its ties, run by run
                    first = next(i for i, w in enumerate(windows) if int(w[0, 0]) == cutoff)
                    takes[first] = int(np.searchsorted(windows[first][:, 0], cutoff, side="right"))
            for r, w, take in zip(live, windows, takes, strict=True):
                if take == 0:
                    ts_parts.append(w[:0, 0])
                    len_parts.append(w[:0, 1])
                    blobs.append(b"")
                    continue
                ts_parts.append(w[:take, 0])
                len_parts.append(w[:take, 1])
                blobs.append(r.data.read(int(w[:take, 1].sum())))
                r.pos += take
                r.done = r.pos >= r.index.shape[0]
            written += _write_merged(ts_parts, len_parts, blobs, write)
            live = [r for r in live if not r.done]
    finally:
        for r in opened:
            r.data.close()
    return written


def _write_merged(
    ts_parts: list[I64], len_parts: list[I64], blobs: list[bytes], write: Callable[[bytes], object]
) -> int:
    ts = np.concatenate(ts_parts)
    n = int(ts.shape[0])
    if n == 0:
        return 0
    lengths = np.concatenate(len_parts)
    blob = b"".join(blobs)
    starts = np.cumsum(lengths) - lengths
    order = np.argsort(ts, kind="stable")  # ties: earlier run first, then run order
    # records that follow each other in the blob and in the output are copied as one segment
    cuts = np.flatnonzero(order[1:] != order[:-1] + 1) + 1
    first = order[np.concatenate(([0], cuts))]
    last = order[np.concatenate((cuts - 1, [n - 1]))]
    segments = zip(starts[first].tolist(), (starts[last] + lengths[last]).tolist(), strict=True)
    write(b"".join([blob[a:b] for a, b in segments]))
    return n
