"""Counters a benchmark reads: API requests by route template and migrations by outcome."""

from __future__ import annotations

from collections import Counter
from typing import Any

from novaflow.sim.state import SimCloud


def sim_stats(cloud: SimCloud) -> dict[str, Any]:
    with cloud.lock:
        cloud.advance()
        moves: dict[str, Counter[str]] = {}
        for m in cloud.migrations.values():
            moves.setdefault(m.migration_type, Counter())[m.status] += 1
        return {
            "now": cloud.now,
            "requests": dict(sorted(cloud.requests.items())),
            "total_requests": sum(cloud.requests.values()),
            "injected_errors": cloud.injected_errors,
            "injected_resets": cloud.injected_resets,
            "migrations": {k: dict(v) for k, v in sorted(moves.items())},
        }
