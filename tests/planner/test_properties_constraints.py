"""Property checks with Nova's scheduler constraints switched on: pinned zones read at 2.96,
two cells, Placement unit limits and anti-affinity rules. Every plan passes the validator,
which checks each of them independently of the planner."""

from __future__ import annotations

import pytest

from novaflow.models import (
    CloudFeatures,
    DrainRequest,
    EvacuateRequest,
    Inventory,
    RebalanceRequest,
)
from novaflow.planner import plan, violations
from novaflow.synthetic import generate

SEEDS = range(4)


def with_constraints(s):
    """The generated cloud, with every constraint the planner must keep made visible."""
    hosts = []
    for n, h in enumerate(s.hosts):
        update = {"cell": "cell1" if n % 2 else "cell2"}
        if n % 3 == 0:
            update["inventory"] = {"VCPU": Inventory(total=int(h.capacity.vcpus), max_unit=4)}
        hosts.append(h.model_copy(update=update))
    # Instances that carried a zone keep it as a 2.96 pin; the rest become unpinned.
    instances = [
        i.model_copy(update={"pinned_zone": i.zone if n % 3 == 0 else None})
        for n, i in enumerate(s.instances)
    ]
    groups = [
        g.model_copy(update={"rules": {"max_server_per_host": 2}})
        if g.policy == "anti-affinity" and n % 2
        else g
        for n, g in enumerate(s.server_groups)
    ]
    return s.model_copy(
        update={
            "hosts": hosts,
            "instances": instances,
            "server_groups": groups,
            "features": CloudFeatures(max_microversion="2.96"),
        }
    )


@pytest.fixture(scope="module", params=SEEDS)
def cloud(request):
    s = generate(40, 700, seed=request.param, disabled_hosts=2, down_hosts=1, zones=2)
    return with_constraints(s)


def _drainable(s, k):
    return [h.name for h in s.hosts if h.is_up][:k]


def test_drain_keeps_every_constraint_and_accounts_for_every_instance(cloud):
    hosts = _drainable(cloud, 3)
    p = plan(cloud, DrainRequest(hosts=hosts))
    assert violations(cloud, p) == []
    on = {i.id for i in cloud.instances if i.host in hosts}
    assert {m.instance_id for m in p.moves} | {s.instance_id for s in p.skips} == on
    assert p.moves


def test_evacuation_keeps_every_constraint(cloud):
    dead = next(h.name for h in cloud.hosts if not h.is_up)
    p = plan(cloud, EvacuateRequest(host=dead))
    assert violations(cloud, p) == []


@pytest.mark.parametrize("strategy", ["consolidate", "spread"])
def test_rebalance_keeps_every_constraint(cloud, strategy):
    p = plan(cloud, RebalanceRequest(strategy=strategy))
    assert violations(cloud, p) == []


def test_proximity_keeps_every_constraint(cloud):
    req = RebalanceRequest(strategy="proximity", select_project="project-03", target_zone="az1")
    assert violations(cloud, plan(cloud, req)) == []
