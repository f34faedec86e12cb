"""Execution order: slots per source, per target and overall stay busy; durations explained."""

from __future__ import annotations

from novaflow.models import Method, Move, Resources
from novaflow.planner.order import (
    COLD_BASE_S,
    EVACUATE_BASE_S,
    LIVE_BASE_S,
    LIVE_S_PER_GIB_RAM,
    SPAWN_S_PER_GIB_RAM,
    estimate_seconds,
    makespan,
    order_moves,
)

from .util import host


def mv(name, src, dst, ram_gb=4, disk=0, method=Method.LIVE, priority=0):
    return Move(
        instance_id=name,
        instance_name=name,
        source=src,
        target=dst,
        method=method,
        reason="test",
        priority=priority,
        resources=Resources(vcpus=1, ram_mb=ram_gb * 1024, disk_gb=disk),
    )


def hosts(**limits):
    return {n: host(n, max_concurrent_live_migrations=k) for n, k in limits.items()}


def test_estimate_grows_with_ram_for_live_and_disk_for_cold():
    assert estimate_seconds(mv("a", "s", "t", ram_gb=8)) == LIVE_BASE_S + 8 * LIVE_S_PER_GIB_RAM
    assert estimate_seconds(mv("a", "s", "t", ram_gb=16)) > estimate_seconds(mv("a", "s", "t"))
    cold = mv("c", "s", "t", disk=100, method=Method.COLD)
    assert estimate_seconds(cold) > COLD_BASE_S
    assert estimate_seconds(mv("e", "s", "t", disk=100, method=Method.EVACUATE), True) < (
        estimate_seconds(mv("e", "s", "t", disk=100, method=Method.EVACUATE))
    )


def test_an_evacuation_is_estimated_by_ram_more_than_by_flavor_disk():
    """A rebuild creates a fresh disk from the image (nothing of the old one is copied), so a
    big volume-backed guest takes longer than a small one with a big local disk."""
    big_on_volume = mv("big", "dead", "t", ram_gb=16, disk=0, method=Method.EVACUATE)
    small_local = mv("small", "dead", "t", ram_gb=2, disk=40, method=Method.EVACUATE)
    assert estimate_seconds(big_on_volume) > estimate_seconds(small_local)
    assert estimate_seconds(big_on_volume) == EVACUATE_BASE_S + 16 * SPAWN_S_PER_GIB_RAM


def test_each_source_keeps_its_slots_busy():
    moves = [mv(f"a{i}", "s1", f"t{i}") for i in range(4)] + [
        mv(f"b{i}", "s2", f"u{i}") for i in range(4)
    ]
    ordered, timeline = order_moves(moves, hosts(s1=2, s2=2), global_cap=10)
    at_zero = [e for e in timeline if e.start == 0]
    assert len(at_zero) == 4  # two per source, at once
    d = estimate_seconds(moves[0])
    assert makespan(timeline) == round(2 * d, 1)
    assert all(m.expected_seconds == round(d, 1) for m in ordered)


def test_longest_first_within_a_source():
    moves = [mv("short", "s", "t1", ram_gb=1), mv("long", "s", "t2", ram_gb=32)]
    ordered, _ = order_moves(moves, hosts(s=1))
    assert [m.instance_name for m in ordered] == ["long", "short"]


def test_global_cap_limits_moves_in_flight():
    moves = [mv(f"m{i}", f"s{i}", f"t{i}") for i in range(6)]
    _, timeline = order_moves(moves, hosts(**{f"s{i}": 4 for i in range(6)}), global_cap=3)
    starts = sorted(e.start for e in timeline)
    assert starts[:3] == [0, 0, 0] and starts[3] > 0


def test_target_limit_and_other_sources_fill_the_gap():
    # Both of s1's moves go to t; with one slot per target s1's second waits, but s2 starts.
    moves = [mv("a", "s1", "t"), mv("b", "s1", "t"), mv("c", "s2", "u")]
    _, timeline = order_moves(moves, hosts(s1=2, s2=1), per_target=1)
    start = {e.instance_id: e.start for e in timeline}
    assert start["c"] == 0 and min(start["a"], start["b"]) == 0 and max(start["a"], start["b"]) > 0


def test_source_with_more_work_starts_first_under_a_cap():
    moves = [mv("small", "s1", "t1", ram_gb=1)] + [
        mv(f"big{i}", "s2", f"u{i}", ram_gb=16) for i in range(3)
    ]
    ordered, _ = order_moves(moves, hosts(s1=1, s2=1), global_cap=1)
    assert ordered[0].instance_name.startswith("big")


def test_higher_priority_starts_first():
    moves = [
        mv("low", "dead", "t1", method=Method.EVACUATE, priority=0),
        mv("high", "dead", "t2", method=Method.EVACUATE, priority=9),
    ]
    ordered, timeline = order_moves(moves, hosts(), global_cap=1)
    assert ordered[0].instance_name == "high"
    assert timeline[0].slot_host == "t2"


def test_no_moves_no_timeline():
    assert order_moves([], {}) == ([], [])


def test_timeline_never_exceeds_any_limit_on_a_big_plan():
    from novaflow.models import RebalanceRequest
    from novaflow.planner import plan
    from novaflow.planner.order import GLOBAL_CAP, PER_TARGET
    from novaflow.synthetic import generate

    s = generate(60, 1200, seed=21)
    p = plan(s, RebalanceRequest(strategy="consolidate"))
    limits = {h.name: h.max_concurrent_live_migrations for h in s.hosts}
    by_id = {m.instance_id: m for m in p.moves}
    events = sorted({e.start for e in p.timeline})
    for t in events:
        live = [e for e in p.timeline if e.start <= t < e.end]
        assert len(live) <= GLOBAL_CAP
        per_src: dict[str, int] = {}
        per_tgt: dict[str, int] = {}
        for e in live:
            m = by_id[e.instance_id]
            per_src[m.source] = per_src.get(m.source, 0) + 1
            per_tgt[m.target] = per_tgt.get(m.target, 0) + 1
        assert all(n <= limits[h] for h, n in per_src.items())
        assert all(n <= PER_TARGET for n in per_tgt.values())
    # Busy: until the last source runs out of work, the global cap is (nearly) always full.
    first_half = [t for t in events if t < max(e.end for e in p.timeline) / 2]
    full = sum(
        1 for t in first_half if sum(1 for e in p.timeline if e.start <= t < e.end) >= GLOBAL_CAP
    )
    assert full >= 0.9 * len(first_half)


def test_rebuilds_of_a_failed_host_take_the_targets_in_turn_priority_first():
    # Names sort every a-move before every b-move; with slots to spare the order must still
    # alternate targets, so a dispatcher with a global cap starts rebuilds on both at once.
    ev = Method.EVACUATE
    moves = [mv(f"a{n}", "dead", "A", method=ev) for n in range(4)]
    moves += [mv(f"b{n}", "dead", "B", method=ev) for n in range(4)]
    moves.append(mv("urgent", "dead", "B", method=ev, priority=9))
    out, _ = order_moves(moves, hosts(dead=1, A=10, B=10), per_target=10, global_cap=20)
    names = [m.instance_name for m in out]
    assert names[0] == "urgent"
    assert [m.target for m in out[1:]] == ["A", "B"] * 4
