"""The time-limit partial-record rule (gateway.partial)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.partial import INTERVAL_S, cut_sessions, cut_sessions_py, prorate, record_bytes, record_count

sessions = st.lists(
    st.tuples(
        st.integers(0, 2_000_000_000),  # start
        st.integers(0, 40 * INTERVAL_S),  # duration
        st.integers(0, 10**15),  # bytes up
        st.integers(0, 10**15),  # bytes down
        st.booleans(),  # abnormal
    ),
    min_size=0,
    max_size=30,
)


def _columns(
    rows: list[tuple[int, int, int, int, bool]],
) -> tuple[list[int], list[int], list[int], list[int], list[bool]]:
    return (
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )


@settings(max_examples=200, deadline=None)
@given(sessions)
def test_totals_durations_and_starts(rows: list[tuple[int, int, int, int, bool]]) -> None:
    start, dur, up, down, abn = _columns(rows)
    rec = cut_sessions(start, dur, up, down, abnormal=abn)
    n = len(rows)
    assert set(rec.session_index.tolist()) == set(range(n))
    for i, (s, d, u, w, a) in enumerate(rows):
        mask = rec.session_index == i
        assert int(rec.bytes_up[mask].sum()) == u
        assert int(rec.bytes_down[mask].sum()) == w
        assert int(rec.duration_s[mask].sum()) == d
        starts = rec.start_s[mask]
        k = np.arange(starts.shape[0])
        assert np.array_equal(starts, s + k * INTERVAL_S)
        assert np.array_equal(rec.sequence[mask], k + 1)
        causes = rec.cause[mask].tolist()
        assert causes[:-1] == [17] * (len(causes) - 1)
        assert causes[-1] == (4 if a else 0)
        assert (rec.bytes_up[mask] >= 0).all() and (rec.bytes_down[mask] >= 0).all()
        assert len(causes) == record_count(d)


@settings(max_examples=100, deadline=None)
@given(sessions)
def test_vectorised_equals_python_reference(rows: list[tuple[int, int, int, int, bool]]) -> None:
    start, dur, up, down, abn = _columns(rows)
    rec = cut_sessions(start, dur, up, down, abnormal=abn)
    expected = cut_sessions_py(start, dur, up, down, abnormal=abn)
    got = list(
        zip(
            rec.session_index.tolist(),
            rec.start_s.tolist(),
            rec.duration_s.tolist(),
            rec.bytes_up.tolist(),
            rec.bytes_down.tolist(),
            rec.sequence.tolist(),
            rec.cause.tolist(),
            strict=True,
        )
    )
    assert got == expected


@given(st.integers(0, 10**15), st.integers(1, 10**7), st.data())
def test_prorate_is_floor_of_exact_share(total: int, d: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(0, d))
    assert prorate(total, t, d) == total * t // d


def test_exact_interval_gives_one_normal_record() -> None:
    rec = cut_sessions([1000], [INTERVAL_S], [5], [6])
    assert len(rec) == 1
    assert rec.duration_s.tolist() == [INTERVAL_S]
    assert rec.cause.tolist() == [0]


def test_one_second_past_the_interval_gives_a_time_limit_record() -> None:
    rec = cut_sessions([0], [INTERVAL_S + 1], [INTERVAL_S + 1], [0])
    assert rec.cause.tolist() == [17, 0]
    assert rec.duration_s.tolist() == [INTERVAL_S, 1]
    assert rec.bytes_up.tolist() == [INTERVAL_S, 1]
    assert rec.start_s.tolist() == [0, INTERVAL_S]


def test_zero_length_session_keeps_its_bytes() -> None:
    rec = cut_sessions([7], [0], [123], [45])
    assert rec.bytes_up.tolist() == [123]
    assert rec.bytes_down.tolist() == [45]
    assert record_bytes(123, 0, 0, 0) == 123


def test_no_int64_overflow_on_huge_volumes() -> None:
    big = 2**62
    rec = cut_sessions([0], [30 * INTERVAL_S - 1], [big], [big - 1])
    assert int(rec.bytes_up.astype(object).sum()) == big
    assert int(rec.bytes_down.astype(object).sum()) == big - 1


def test_custom_interval_and_empty_input() -> None:
    rec = cut_sessions([0], [10], [10], [0], interval_s=3)
    assert rec.duration_s.tolist() == [3, 3, 3, 1]
    assert rec.bytes_up.tolist() == [3, 3, 3, 1]
    assert len(cut_sessions([], [], [], [])) == 0


@pytest.mark.parametrize(
    ("dur", "up", "message"),
    [([-1], [0], "duration_s\\[0\\] is negative"), ([5], [-3], "bytes_up\\[0\\] is negative")],
)
def test_negative_inputs_are_refused(dur: list[int], up: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cut_sessions([0], dur, up, [0])


def test_mismatched_lengths_and_bad_interval_are_refused() -> None:
    with pytest.raises(ValueError, match="bytes_down"):
        cut_sessions([0, 1], [1, 1], [1, 1], [1])
    with pytest.raises(ValueError, match="interval_s"):
        cut_sessions([0], [1], [1], [1], interval_s=0)


@settings(max_examples=100, deadline=None)
@given(sessions, st.lists(st.booleans(), min_size=30, max_size=30))
def test_a_session_still_open_at_the_end_closes_its_last_record_with_cause_20(
    rows: list[tuple[int, int, int, int, bool]], still: list[bool]
) -> None:
    """Cut at the period's end, not released by the device: management intervention (TS 32.298),
    whatever `abnormal` says; the other records keep their time-limit cause."""
    start, dur, up, down, abn = _columns(rows)
    still = still[: len(rows)]
    rec = cut_sessions(start, dur, up, down, abnormal=abn, still_open=still)
    assert rec.cause.tolist() == [
        r[6] for r in cut_sessions_py(start, dur, up, down, abnormal=abn, still_open=still)
    ]
    last = np.append(rec.session_index[1:] != rec.session_index[:-1], True)[: len(rec)]
    for i, a in enumerate(abn):
        causes = rec.cause[(rec.session_index == i) & last].tolist()
        assert causes == [20 if still[i] else 4 if a else 0]
    assert (rec.cause[~last] == 17).all()
