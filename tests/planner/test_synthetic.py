"""The synthetic cloud generator gives the shapes the planner must cope with."""

from __future__ import annotations

from collections import Counter

from novaflow.planner.metrics import host_loads, load_stats
from novaflow.synthetic import generate


def test_shapes_of_a_generated_cloud():
    s = generate(60, 1500, seed=4, zones=3, disabled_hosts=2, down_hosts=1, unmovable_fraction=0.05)
    assert len(s.hosts) == 60 and len(s.instances) == 1500
    assert {h.zone for h in s.hosts} == {"az1", "az2", "az3"}
    assert len({h.capacity.ram_mb for h in s.hosts}) > 1
    assert sum(1 for h in s.hosts if h.status == "disabled") == 3  # 2 disabled + the down one
    assert sum(1 for h in s.hosts if not h.is_up) == 1
    policies = Counter(g.policy for g in s.server_groups)
    assert policies["anti-affinity"] and policies["affinity"]
    statuses = Counter(i.status for i in s.instances)
    assert statuses["ERROR"] and statuses["SHUTOFF"]
    assert any(i.boot_from_volume for i in s.instances)
    assert any("pci_passthrough:alias" in i.flavor.extra_specs for i in s.instances)
    assert any(i.zone for i in s.instances) and any(i.zone is None for i in s.instances)


def test_load_is_uneven_and_groups_are_placed_by_their_policy():
    s = generate(80, 1600, seed=5)
    stats = load_stats(host_loads(s).values())
    assert stats.std > 0.1
    where = {i.id: i.host for i in s.instances}
    for g in s.server_groups:
        hosts = [where[m] for m in g.members]
        if g.policy == "anti-affinity":
            assert len(set(hosts)) == len(hosts)
        if g.policy == "affinity":
            assert len(set(hosts)) == 1


def test_small_cloud_asked_for_too_much_is_full_not_invalid():
    s = generate(2, 2000, seed=1)
    assert len(s.instances) < 2000
    for h in s.hosts:
        assert h.used.fits_in(h.usable)


def test_movable_only_is_the_same_cloud_with_nothing_pinned():
    from novaflow.models import MethodPolicy
    from novaflow.planner.constraints import Choice, choose_method

    full = generate(60, 1500, seed=4, unmovable_fraction=0.05)
    free = generate(60, 1500, seed=4, unmovable_fraction=0.05, movable_only=True)
    assert [h.model_dump() for h in free.hosts] == [h.model_dump() for h in full.hosts]
    assert [(i.id, i.host, i.flavor.ram_mb) for i in free.instances] == [
        (i.id, i.host, i.flavor.ram_mb) for i in full.instances
    ]
    for i in free.instances:
        c = choose_method(i, MethodPolicy.LIVE_THEN_COLD, free.features)
        assert isinstance(c, Choice) and not c.scheduler_picks, i.name
    assert {g.policy for g in free.server_groups} <= {"soft-affinity", "soft-anti-affinity"}
    assert [g.members for g in free.server_groups] == [g.members for g in full.server_groups]
    assert any(
        not isinstance(choose_method(i, MethodPolicy.LIVE_THEN_COLD, full.features), Choice)
        for i in full.instances
    )


def test_clouds_of_every_size_have_the_same_host_mix_and_spread_of_load():
    from novaflow.synthetic import HOST_SIZES

    small, big = generate(10, 200, seed=3), generate(200, 4000, seed=3)
    for s in (small, big):
        n = len(s.hosts)
        mix = Counter(h.capacity.ram_mb for h in s.hosts)
        for size in HOST_SIZES:
            assert abs(mix[size.ram_mb] - size.weight * n) < 1, (n, mix)
    a = load_stats(host_loads(small).values())
    b = load_stats(host_loads(big).values())
    assert abs(a.mean - b.mean) < 0.1 and abs(a.std - b.std) < 0.1


def test_hard_anti_affinity_groups_leave_room_on_a_small_cloud():
    for hosts, most in ((5, 2), (10, 2), (12, 3), (40, 5)):
        s = generate(hosts, 20 * hosts, seed=2, group_fraction=0.5)
        anti = [len(g.members) for g in s.server_groups if g.policy == "anti-affinity"]
        assert anti and max(anti) <= most, (hosts, anti)
    soft = generate(5, 100, seed=2, group_fraction=0.5)
    assert max(len(g.members) for g in soft.server_groups if g.policy.startswith("soft")) > 2
