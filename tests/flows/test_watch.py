"""watch_compute_services: a host down too long gets one evacuation run, never two."""

from __future__ import annotations

from prefect.client.orchestration import get_client

from flows.evacuation import evacuate_failed_node
from flows.watch import watch_compute_services
from novaflow.sim.spec import ClusterSpec


def test_a_dead_host_gets_exactly_one_evacuation_run_waiting_for_approval(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").instance("web-0", host="cmp-a")
    sim = cloud_of(spec)
    deployment_id = evacuate_failed_node.to_deployment(name="evacuate-failed-node").apply()
    assert watch_compute_services(cloud="sim", down_for_s=0) == []  # everything up
    sim.kill_host("cmp-a")
    first = watch_compute_services(cloud="sim", down_for_s=0)
    second = watch_compute_services(cloud="sim", down_for_s=0)
    assert first == ["cmp-a"] and second == []
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.deployment_id == deployment_id]
    assert len(runs) == 1 and runs[0].parameters["host"] == "cmp-a"
    assert sim.instances_on("cmp-a")  # nothing moves before a human approves


def test_a_host_down_for_less_than_the_threshold_is_left_alone(cloud_of):
    sim = cloud_of(ClusterSpec().host("cmp-a").host("cmp-b").instance("web-0", host="cmp-a"))
    sim.kill_host("cmp-a")
    assert watch_compute_services(cloud="sim", down_for_s=3600) == []
