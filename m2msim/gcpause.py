"""Pause Python's cyclic garbage collector while many small objects are made that all live on.

Pricing a 10,000-line month makes hundreds of thousands of small containers (aggregates, per-line
usage, invoice items) that all live until the invoice is written and hold no reference cycles:
reference counting frees them.  Each time enough of them have been made, the cyclic collector walks
every tracked object, the month's aggregates included, and finds nothing to free; on the 30 M-row
benchmark that was a third of the Python time.  Reading a large YAML file (an inventory of 10,000
lines written one by one) is the same: the collector took half of PyYAML's time.  The collector is
paused for the duration and put back as it was; objects freed meanwhile by reference counting are
freed as usual.  The objects the block made leave it counted as old ones (`_aged`): left young, the
first collection after the pause walked them all, and the next one again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's state is restored on the way out,
    the objects made meanwhile counted as old ones (`_aged`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _aged()
            gc.enable()


def _aged() -> None:
    """Every object the collector tracks moved to its oldest generation, and the count of new
    objects made 0.  Without it, the first object made after a pause set off a collection of
    the youngest generation, which walked every object the block made (they all were still in
    it), then of the next, which walked them again: 0.04 s after rating a month of 10,000
    lines, 0.33 s after 100,000, 3.0 s after a million.  The oldest generation is walked by
    the full collections alone, as seldom as the collector makes them; garbage among the
    objects moved (a cycle) is freed then.  Done by freezing every object and unfreezing them at once (the unfreezing
    puts them in the oldest generation); not done when some code of the process keeps objects
    frozen, which the unfreezing would give back to the collector."""
    if gc.get_freeze_count():
        return
    gc.freeze()
    gc.unfreeze()
