"""Execution order and predicted timeline: keep every node's migration slots busy.

The estimate of one move's duration (seconds) is deliberately simple and documented so an
operator can sanity-check it:

* live: ``LIVE_BASE_S`` + ``LIVE_S_PER_GIB_RAM`` x RAM (memory copy incl. dirty-page
  rounds, ~1.4 Gbit/s effective) + ``BLOCK_S_PER_GIB`` x local disk (block migration);
* cold: ``COLD_BASE_S`` (stop, claim, start, confirm) + ``COPY_S_PER_GIB`` x local disk;
* evacuate: ``EVACUATE_BASE_S`` (claim, ports, volume connections, define the guest) +
  ``SPAWN_S_PER_GIB_RAM`` x RAM (the guest's memory set up at spawn: locked, preallocated or
  hugepage-backed memory grows with it) + ``REBUILD_S_PER_GIB`` x local disk (a fresh root
  disk created from the image, which the new host fetches once and caches) unless the disk
  is on shared storage or a volume. Nothing of the old disk is copied: an evacuation
  rebuilds from the image, so a big flavor disk costs little and a big RAM more. The
  simulated cloud's rebuild model (novaflow/sim/moves/common.py) has the same shape.

Scheduling is list scheduling over an event queue: a live or cold move holds one of its
source's ``max_concurrent_live_migrations`` slots (Nova's own per-node limit; cold moves use
the same budget so a source is not flooded), every move holds one of ``per_target`` slots
on its target and one of ``global_cap`` slots overall. Whenever a slot frees, the source
with the highest-priority head and the most remaining work starts its next move whose
target has room; within a source, moves run longest first (LPT keeps the makespan short).
Evacuations have no source slot: their host is dead; their queue takes the targets in turn
(priority first, longest first per target) so every target rebuilds from the start.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from novaflow.models import Host, Method, Move, TimelineEntry

LIVE_BASE_S = 15.0
LIVE_S_PER_GIB_RAM = 6.0
BLOCK_S_PER_GIB = 8.0
COLD_BASE_S = 45.0
COPY_S_PER_GIB = 8.0
EVACUATE_BASE_S = 30.0
SPAWN_S_PER_GIB_RAM = 2.0
REBUILD_S_PER_GIB = 0.25

PER_TARGET = 2
"""Incoming moves a target takes at once (libvirt and disk I/O suffer beyond this)."""
GLOBAL_CAP = 20
"""Moves in flight across the cloud at once (control plane and network headroom)."""
LOOKAHEAD = 16
"""How deep into a source's queue to look for a move whose target has a free slot."""


def estimate_seconds(move: Move, shared_storage: bool = False) -> float:
    """Predicted duration of one move from its RAM and local disk (see module docstring)."""
    ram_gib = move.resources.ram_mb / 1024.0
    disk = move.resources.disk_gb
    if move.method is Method.LIVE:
        return LIVE_BASE_S + LIVE_S_PER_GIB_RAM * ram_gib + BLOCK_S_PER_GIB * disk
    if move.method is Method.COLD:
        return COLD_BASE_S + COPY_S_PER_GIB * disk
    disk_s = 0.0 if shared_storage else REBUILD_S_PER_GIB * disk
    return EVACUATE_BASE_S + SPAWN_S_PER_GIB_RAM * ram_gib + disk_s


def order_moves(
    moves: list[Move],
    hosts: Mapping[str, Host],
    *,
    per_target: int = PER_TARGET,
    global_cap: int = GLOBAL_CAP,
    virtual_targets: Mapping[str, str] | None = None,
    shared_storage: bool = False,
) -> tuple[list[Move], list[TimelineEntry]]:
    """Moves in start order with `expected_seconds` set, and the predicted timeline.

    `virtual_targets` gives the planner's own placement for moves whose target is left to
    Nova's scheduler, so per-target slots are still respected in the prediction.
    """
    n = len(moves)
    if not n:
        return [], []
    per_target = max(1, per_target)
    global_cap = max(1, global_cap)
    vt = virtual_targets or {}
    dur = [estimate_seconds(m, shared_storage) for m in moves]
    tgt = [m.target or vt.get(m.instance_id) for m in moves]
    queues: dict[str, list[int]] = {}
    for i, m in enumerate(moves):
        queues.setdefault(m.source, []).append(i)
    limit: dict[str, int] = {}
    remaining: dict[str, float] = {}
    for src, q in queues.items():
        q.sort(key=lambda i: (-moves[i].priority, -dur[i], moves[i].instance_name))
        evac = all(moves[i].method is Method.EVACUATE for i in q)
        if evac:
            q[:] = _targets_in_turn(q, moves, tgt)
        host = hosts.get(src)
        limit[src] = global_cap if evac or host is None else host.max_concurrent_live_migrations
        remaining[src] = sum(dur[i] for i in q)
    head = dict.fromkeys(queues, 0)
    started = [False] * n
    src_busy = dict.fromkeys(queues, 0)
    tgt_busy: dict[str, int] = {}
    waiting: dict[str, set[str]] = {}
    ready: list[tuple[int, float, str]] = []
    in_ready: set[str] = set()

    def push(src: str) -> None:
        q = queues[src]
        h = head[src]
        while h < len(q) and started[q[h]]:
            h += 1
        head[src] = h
        if h < len(q) and src_busy[src] < limit[src] and src not in in_ready:
            in_ready.add(src)
            heapq.heappush(ready, (-moves[q[h]].priority, -remaining[src], src))

    for src in sorted(queues):
        push(src)
    running: list[tuple[float, int]] = []
    busy = 0
    now = 0.0
    start = [0.0] * n
    seq: list[int] = []
    while True:
        while ready and busy < global_cap:
            _, _, src = heapq.heappop(ready)
            in_ready.discard(src)
            q = queues[src]
            pick = -1
            looked = 0
            blocked_on: list[str] = []
            for pos in range(head[src], len(q)):
                i = q[pos]
                if started[i]:
                    continue
                t = tgt[i]
                if t is None or tgt_busy.get(t, 0) < per_target:
                    pick = i
                    break
                blocked_on.append(t)
                looked += 1
                if looked >= LOOKAHEAD:
                    break
            if pick < 0:
                for t in blocked_on:
                    waiting.setdefault(t, set()).add(src)
                continue
            started[pick] = True
            start[pick] = now
            seq.append(pick)
            busy += 1
            src_busy[src] += 1
            remaining[src] -= dur[pick]
            t = tgt[pick]
            if t is not None:
                tgt_busy[t] = tgt_busy.get(t, 0) + 1
            heapq.heappush(running, (now + dur[pick], pick))
            push(src)
        if not running:
            break
        now = running[0][0]
        while running and running[0][0] <= now + 1e-9:
            _, i = heapq.heappop(running)
            busy -= 1
            src = moves[i].source
            src_busy[src] -= 1
            push(src)
            t = tgt[i]
            if t is not None:
                tgt_busy[t] -= 1
                for other in waiting.pop(t, ()):
                    push(other)
    for i in range(n):  # defensive: a move the loop could not start still runs, last
        if not started[i]:
            start[i] = now
            now += dur[i]
            seq.append(i)
    out: list[Move] = []
    timeline: list[TimelineEntry] = []
    for i in seq:
        m = moves[i]
        out.append(m.model_copy(update={"expected_seconds": round(dur[i], 1)}))
        slot = m.source if m.method is not Method.EVACUATE else (m.target or "scheduler")
        timeline.append(
            TimelineEntry(
                instance_id=m.instance_id,
                start=round(start[i], 1),
                end=round(start[i] + dur[i], 1),
                slot_host=slot,
            )
        )
    return out, timeline


def _targets_in_turn(q: list[int], moves: list[Move], tgt: list[str | None]) -> list[int]:
    """Rebuilds of one failed host, priority first and then each target in turn, longest
    first per target: every target's build slots fill at once instead of one target after
    another (a dispatcher with a global cap starts moves in this order)."""
    turn: dict[tuple[int, str | None], int] = {}
    rank: dict[int, int] = {}
    for i in q:  # q is already sorted by priority, then longest first
        key = (moves[i].priority, tgt[i])
        rank[i] = turn.get(key, 0)
        turn[key] = rank[i] + 1
    return sorted(q, key=lambda i: (-moves[i].priority, rank[i]))


def makespan(timeline: list[TimelineEntry]) -> float:
    """Predicted wall-clock seconds from the first move's start to the last move's end."""
    return max((e.end for e in timeline), default=0.0)
