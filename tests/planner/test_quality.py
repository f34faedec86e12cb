"""Plan quality against yardsticks: bin-packing lower bound, FFD repack, mean load."""

from __future__ import annotations

import pytest

from novaflow.models import MethodPolicy, RebalanceRequest
from novaflow.planner import plan
from novaflow.planner.constraints import Choice, choose_method
from novaflow.planner.metrics import (
    active_hosts,
    constrained_lower_bound,
    ffd_repack,
    host_loads,
    host_usage,
    hosts_in_use,
    load_stats,
    lower_bound_hosts,
)
from novaflow.synthetic import generate

from .util import LARGE, SMALL, host, inst, snap


def _pinned(s):
    """Instances that cannot leave their host: refused a method, left to Nova's scheduler, or
    in a hard-affinity group (Nova moves a member only to a host holding another member, and
    the synthetic cloud puts every group on one host)."""
    grouped = {m for g in s.server_groups if g.policy == "affinity" for m in g.members}
    out = []
    for i in s.instances:
        c = choose_method(i, MethodPolicy.LIVE_THEN_COLD, s.features)
        if not isinstance(c, Choice) or c.scheduler_picks or i.id in grouped:
            out.append(i.id)
    return out


def test_lower_bound_takes_the_biggest_hosts_first():
    s = snap(
        [host("big", ram_gb=64), host("s1", ram_gb=16), host("s2", ram_gb=16)],
        [inst("a", "s1", LARGE), inst("b", "s2", LARGE), inst("c", "s2", SMALL)],
    )
    assert lower_bound_hosts(s, ["big", "s1", "s2"]) == 1


def test_constrained_bound_counts_pinned_hosts_and_anti_affinity():
    s = snap(
        [host("a"), host("b"), host("c")],
        [inst("x", "a", status="ERROR"), inst("y", "b", status="ERROR"), inst("z", "c")],
    )
    assert lower_bound_hosts(s, ["a", "b", "c"]) == 1
    assert constrained_lower_bound(s, ["a", "b", "c"], _pinned(s)) == 2


def test_ffd_repack_counts_migrations_from_scratch():
    s = snap([host("a"), host("b")], [inst("x", "a", SMALL), inst("y", "b", LARGE)])
    r = ffd_repack(s, ["a", "b"], ["b", "a"])
    assert r.placed_all and r.hosts_used == 1 and r.migrations == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_consolidate_is_near_the_lower_bound_with_fewer_moves_than_ffd(seed):
    s = generate(150, 3000, seed)
    act = active_hosts(s)
    p = plan(s, RebalanceRequest(strategy="consolidate"))
    in_use = hosts_in_use(s, p, act)
    pinned = _pinned(s)
    assert in_use <= 1.05 * constrained_lower_bound(s, act, pinned)
    usage = host_usage(s)
    kept = sorted(
        (h for h in act if h not in set(p.emptied_hosts) and any(usage[h])),
        key=lambda h: -usage[h][1],
    )
    assert len(p.moves) < ffd_repack(s, act, kept, pinned).migrations


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_consolidate_reaches_the_plain_bound_where_nothing_pins_a_host(seed):
    # Same clouds with every instance movable and no hard groups: LB is attainable in
    # principle, and the plan must come within 5% of it with fewer moves than FFD.
    s = generate(150, 3000, seed, movable_only=True)
    act = active_hosts(s)
    p = plan(s, RebalanceRequest(strategy="consolidate"))
    assert hosts_in_use(s, p, act) <= 1.05 * lower_bound_hosts(s, act)
    assert len(p.moves) < ffd_repack(s, act, act).migrations


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spread_brings_the_hottest_host_near_the_mean(seed):
    s = generate(150, 3000, seed, unmovable_fraction=0.0)
    act = active_hosts(s)
    p = plan(s, RebalanceRequest(strategy="spread"))
    after = load_stats(host_loads(s, p, act).values())
    before = load_stats(host_loads(s, None, act).values())
    assert after.max <= 1.10 * after.mean
    assert after.std < before.std / 4
