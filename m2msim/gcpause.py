"""Pause Python's cyclic garbage collector while many small objects are made that all live on.

Pricing a 10,000-line month makes hundreds of thousands of small containers (aggregates, per-line
usage, invoice items) that all live until the invoice is written and hold no reference cycles:
reference counting frees them.  Each time enough of them have been made, the cyclic collector walks
every tracked object, the month's aggregates included, and finds nothing to free; on the 30 M-row
benchmark that was a third of the Python time.  Reading a large YAML file (an inventory of 10,000
lines written one by one) is the same: the collector took half of PyYAML's time.  The collector is
paused for the duration and put back as it was; objects freed meanwhile by reference counting are
freed as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's state is restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
