"""The collector's pause: the objects a paused block made leave it as old ones, not to be walked
again by the young generations' collections; nothing leaks, and objects frozen by other code
stay frozen."""

from __future__ import annotations

import gc
import weakref

from m2msim.gcpause import paused_gc


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_the_objects_a_paused_block_made_leave_it_in_the_oldest_generation() -> None:
    assert gc.isenabled()
    with paused_gc():
        made = [[i] for i in range(50_000)]  # tracked containers, as a month's aggregates are
    young = gc.get_count()[0]
    marker = made[-1]
    assert young < 1_000  # (without the ageing: the 50,000 lists, waiting for a collection)
    assert _in_generation(marker, 2)
    assert not _in_generation(marker, 0)
    assert gc.isenabled()


def test_a_cycle_made_in_a_pause_is_freed_by_the_next_full_collection() -> None:
    with paused_gc():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        watch = weakref.ref(a)
    del a, b
    assert watch() is not None  # a cycle: reference counting does not free it
    gc.collect()
    assert watch() is None


def test_objects_frozen_by_other_code_stay_frozen() -> None:
    keep = [[i] for i in range(100)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen >= len(keep)
        with paused_gc():
            made = [[i] for i in range(1_000)]
        # still frozen: outside the generations get_objects lists (the count itself falls when
        # another thread frees a frozen object, as a test runner's own threads do)
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(k) in tracked for k in keep)
        assert not _in_generation(made[-1], 2)  # (the ageing would unfreeze theirs: not done)
    finally:
        gc.unfreeze()


def test_a_nested_pause_ages_nothing_before_the_outer_one_ends() -> None:
    with paused_gc():
        with paused_gc():
            inner = [[i] for i in range(1_000)]
        assert not gc.isenabled()
        assert not _in_generation(inner[-1], 2)
    assert gc.isenabled()
    assert _in_generation(inner[-1], 2)
