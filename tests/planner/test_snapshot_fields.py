"""What the planner's constraints read from the cloud, read from the simulated one over HTTP:
2.64 group rules, 2.96 pinned zones and cells named in aggregate metadata."""

from __future__ import annotations

from novaflow.cloud import Cloud, RetryPolicy
from novaflow.models import DrainRequest
from novaflow.planner import plan
from novaflow.sim.spec import AggregateSpec, ClusterSpec

FAST_RETRY = RetryPolicy(attempts=8, initial_s=0.01, max_wait_s=0.05, budget_s=10)


def test_snapshot_carries_rules_pins_and_cells_and_the_plan_keeps_them(make_sim) -> None:
    spec = (
        ClusterSpec()
        .host("a1", zone="az1")
        .host("a2", zone="az1")
        .host("b1", zone="az2")
        .group("web", "anti-affinity", rules={"max_server_per_host": 3})
        .instance("pinned", host="a1", availability_zone="az1", groups=["web"])
        .instance("free", host="a1")
    )
    spec.aggregates = [
        AggregateSpec(name="cell-one", hosts=["a1", "a2"], metadata={"cell": "cell1"}),
        AggregateSpec(name="cell-two", hosts=["b1"], metadata={"cell": "cell2"}),
    ]
    sim = make_sim(spec, time_scale=0.002)
    cloud = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml), retry=FAST_RETRY)
    try:
        snap = cloud.snapshot()
    finally:
        cloud.close()
    assert snap.features.reports_pinned_zones
    insts = {i.name: i for i in snap.instances}
    assert insts["pinned"].pinned_zone == "az1" and insts["free"].pinned_zone is None
    assert {g.name: g.max_server_per_host for g in snap.server_groups} == {"web": 3}
    assert {h.name: h.cell for h in snap.hosts} == {"a1": "cell1", "a2": "cell1", "b1": "cell2"}
    p = plan(snap, DrainRequest(hosts=["a1"]))
    assert {m.instance_name: m.target for m in p.moves} == {"pinned": "a2", "free": "a2"}
