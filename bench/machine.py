"""How fast this machine is right now: the benchmarks' yardstick for comparing runs."""

from __future__ import annotations

import time

GAUGE_N = 300_000


def cpu_gauge() -> float:
    """Milliseconds this machine takes for a fixed piece of pure-Python work (the best of 5).

    The same code and settings, measured half an hour apart on one shared 2-CPU machine, ran
    the 1,000-move overhead flow at 25 and at 56 ms per move, with 12 and 28 ms of Prefect
    server CPU per move: the host, not the code, had changed (and a change measured in
    between looked like a gain it was not). Taken before each section, this says how fast
    the machine was then, so two RESULTS.md files, or two sections, can be compared."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        table = {}
        for i in range(GAUGE_N):
            table[i % 1000] = table.get(i % 1000, 0) + i * i
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best
