"""Property checks: every plan on seeded synthetic clouds passes the independent validator."""

from __future__ import annotations

import pytest

from novaflow.models import DrainRequest, EvacuateRequest, RebalanceRequest
from novaflow.planner import plan, violations
from novaflow.planner.metrics import active_hosts, host_loads, hosts_in_use, load_stats
from novaflow.synthetic import generate

SEEDS = range(6)


@pytest.fixture(scope="module", params=SEEDS)
def cloud(request):
    return generate(40, 700, seed=request.param, disabled_hosts=2, down_hosts=1, zones=2)


def _drainable(s, k):
    return [h.name for h in s.hosts if h.is_up][:k]


def test_drain_is_valid_and_complete(cloud):
    hosts = _drainable(cloud, 3)
    p = plan(cloud, DrainRequest(hosts=hosts))
    assert violations(cloud, p) == []
    on = {i.id for i in cloud.instances if i.host in hosts}
    assert {m.instance_id for m in p.moves} | {s.instance_id for s in p.skips} == on
    assert len(p.timeline) == len(p.moves)


def test_drain_with_scheduler_is_valid(cloud):
    p = plan(cloud, DrainRequest(hosts=_drainable(cloud, 2), let_scheduler_choose=True))
    assert violations(cloud, p) == [] and all(m.target is None for m in p.moves)


def test_evacuate_is_valid(cloud):
    dead = next(h.name for h in cloud.hosts if not h.is_up)
    spare = _drainable(cloud, 1)
    p = plan(cloud, EvacuateRequest(host=dead, reserved_hosts=spare))
    assert violations(cloud, p) == []
    prios = [m.priority for m in p.moves]
    assert prios == sorted(prios, reverse=True) or len(set(prios)) > 1


def test_consolidate_is_valid_and_empties_hosts(cloud):
    p = plan(cloud, RebalanceRequest(strategy="consolidate"))
    assert violations(cloud, p) == []
    act = active_hosts(cloud)
    assert hosts_in_use(cloud, p, act) < hosts_in_use(cloud, None, act)
    assert len(p.emptied_hosts) > 0


def test_spread_is_valid_and_lowers_the_peak(cloud):
    p = plan(cloud, RebalanceRequest(strategy="spread"))
    assert violations(cloud, p) == []
    act = active_hosts(cloud)
    before = load_stats(host_loads(cloud, None, act).values())
    after = load_stats(host_loads(cloud, p, act).values())
    assert after.max <= before.max and after.std < before.std


def test_proximity_is_valid(cloud):
    p = plan(
        cloud,
        RebalanceRequest(
            strategy="proximity", select_project="project-03", target_zone="az1", max_moves=20
        ),
    )
    assert violations(cloud, p) == [] and len(p.moves) <= 20


def test_generator_is_reproducible():
    a = generate(20, 300, seed=7)
    b = generate(20, 300, seed=7)
    assert a.model_dump_json() == b.model_dump_json()
    assert generate(20, 300, seed=8).model_dump_json() != a.model_dump_json()


def test_generated_cloud_is_itself_within_capacity():
    s = generate(30, 600, seed=3)
    for h in s.hosts:
        assert h.used.fits_in(h.usable), h.name
    assert sum(1 for i in s.instances) == 600
