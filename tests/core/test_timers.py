"""The engine's timer queue fires timers as a heap of ``[at, seq, ...]`` would: by time,
then in creation order; cancelled ones never; put-back ones in their old place."""

from __future__ import annotations

import heapq
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wfsim._core._timers import TimerQueue


def _noop() -> None:
    pass


def _drain_queue(q: TimerQueue) -> list[int]:
    fired: list[int] = []
    while (at := q.next_instant()) is not None:
        fired += [t[1] for t in q.take_due(at) if t[2] is not None]
    return fired


def _drain_heap(heap: list[Any]) -> list[int]:
    fired: list[int] = []
    while heap:
        timer = heapq.heappop(heap)
        if timer[2] is not None:
            fired.append(timer[1])
    return fired


# each op: (instant, cancel an earlier timer (its position), take all then put back)
ops = st.lists(
    st.tuples(st.integers(0, 6), st.none() | st.integers(0, 50), st.booleans()), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_timers_fire_by_time_then_creation_like_a_heap(steps: list[Any]) -> None:
    q, heap, made = TimerQueue(), [], []
    for at, cancel, round_trip in steps:
        timer = q.add(at, _noop, ())
        made.append(timer)
        heapq.heappush(heap, timer)  # the same list: cancelling cancels both
        if cancel is not None and cancel < len(made):
            made[cancel][2] = None
        if round_trip:  # a crash takes every live timer out; the recovery puts them back
            for t in reversed(q.take_all()):
                q.put_back(t)
    assert _drain_queue(q) == _drain_heap(heap)


def test_an_instant_whose_timers_are_all_cancelled_is_skipped() -> None:
    q = TimerQueue()
    a = q.add(5, _noop, ())
    q.add(9, _noop, ())
    a[2] = None
    assert q.next_instant() == 9
    assert [t[0] for t in q] == [9]
    q.clear()
    assert q.next_instant() is None
