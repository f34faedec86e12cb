"""Simulated time: a clock scaled from real time plus an ordered queue of future events."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class SimClock:
    """Simulated seconds since the sim started; `real seconds = simulated * time_scale`.

    A `time_scale` of 0 freezes the clock: time then moves only through `skip()`, which
    tests use to jump over a migration without waiting for it.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = time_scale
        self._real_start = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        if self.time_scale == 0:
            return self._offset
        return self._offset + (time.monotonic() - self._real_start) / self.time_scale

    def skip(self, seconds: float) -> None:
        """Jump simulated time forward without waiting in real time."""
        if seconds < 0:
            raise ValueError("cannot skip backwards in time")
        self._offset += seconds


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")


class EventQueue:
    """Future state changes, run strictly in time order (ties in the order they were added)."""

    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._seq = itertools.count()

    def push(self, at: float, action: Callable[[], None], label: str = "") -> None:
        heapq.heappush(self._heap, _Event(at, next(self._seq), action, label))

    def next_due(self, until: float) -> _Event | None:
        if self._heap and self._heap[0].at <= until:
            return heapq.heappop(self._heap)
        return None

    def __len__(self) -> int:
        return len(self._heap)

    def peek_time(self) -> float | None:
        return self._heap[0].at if self._heap else None
