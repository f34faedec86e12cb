"""The snapshot's capacity is Placement's: ratios and reserved from nova.conf, allocations held
by moves in flight and by evacuated dead hosts, the disabled trait, nested providers, and a
plan that says when aggregate metadata disagrees. Checked against the sim over HTTP."""

from __future__ import annotations

from typing import Any

from novaflow import planner
from novaflow.models import DrainRequest, Host, Snapshot, placement_request
from novaflow.sim.spec import AggregateSpec, ClusterSpec
from novaflow.sim.testing import SimHandle

from .conftest import Connect


def hosts_of(snap: Snapshot) -> dict[str, Host]:
    return {h.name: h for h in snap.hosts}


def sixteen_threads(ratio: float) -> ClusterSpec:
    """a holds four 2-vCPU instances; b is a 16-thread host already running 16 vCPUs."""
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .host("a", vcpus=16)
        .host("b", vcpus=16, cpu_allocation_ratio=ratio)
        .instance("filler", host="b", flavor="m1.2xlarge")
    )
    for i in range(4):
        spec.instance(f"web-{i}", host="a", flavor="m1.medium")
    return spec


def drain_a(snap: Snapshot) -> Any:
    return planner.plan(snap, DrainRequest(hosts=["a"]))


def run_moves(sim: SimHandle, plan: Any) -> dict[str, tuple[str | None, str]]:
    """Issue each planned move over the API, as the operator's run would, and settle it."""
    conn = sim.connect()
    for move in plan.moves:
        if move.method == "live":
            conn.compute.live_migrate_server(
                move.instance_id, host=move.target, block_migration="auto"
            )
        else:
            conn.compute.migrate_server(move.instance_id, host=move.target)
        sim.advance(600)
        if sim.status_of(move.instance_id) == "VERIFY_RESIZE":
            conn.compute.confirm_server_resize(move.instance_id)
            sim.advance(10)
    return {
        m.instance_id: (sim.host_of(m.instance_id), sim.status_of(m.instance_id))
        for m in plan.moves
    }


def test_ratio_one_on_sixteen_threads_means_no_room_and_the_sim_agrees(connect: Connect):
    sim, cloud = connect(sixteen_threads(1.0), time_scale=0)
    b = hosts_of(cloud.snapshot())["b"]
    assert (b.usable.vcpus, b.free.vcpus) == (16, 0)
    p = drain_a(cloud.snapshot())
    assert not p.feasible
    # Nova's scheduler refuses the same move: the instance stays where it was.
    conn = sim.connect()
    web = sim.server_id("web-0")
    conn.compute.live_migrate_server(web, host="b", block_migration="auto")
    sim.advance(600)
    assert sim.host_of(web) == "a" and sim.migrations(web)[0].status == "error"


def test_ratio_sixteen_gives_room_and_the_sim_carries_the_plan_out(connect: Connect):
    sim, cloud = connect(sixteen_threads(16.0), time_scale=0)
    assert hosts_of(cloud.snapshot())["b"].usable.vcpus == 256
    p = drain_a(cloud.snapshot())
    assert p.feasible and {m.target for m in p.moves} == {"b"}
    landed = run_moves(sim, p)
    assert set(landed.values()) == {("b", "ACTIVE")}


def test_reserved_memory_is_subtracted(connect: Connect):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .host("a")
        .host("b", memory_mb=65536, reserved_host_memory_mb=32768)
        .instance("big", host="a", flavor="m1.2xlarge")
        .instance("tiny", host="b", flavor="m1.tiny")
    )
    sim, cloud = connect(spec, time_scale=0)
    snap = cloud.snapshot()
    b = hosts_of(snap)["b"]
    assert (b.capacity.ram_mb, b.reserved.ram_mb, b.usable.ram_mb) == (65536, 32768, 32768)
    assert b.free.ram_mb == 32768 - 512
    p = planner.plan(snap, DrainRequest(hosts=["a"]))
    assert not p.feasible
    big = sim.server_id("big")
    sim.connect().compute.live_migrate_server(big, host="b", block_migration="auto")
    sim.advance(600)
    assert sim.host_of(big) == "a" and sim.migrations(big)[0].status == "error"


def test_verify_resize_counts_on_both_hosts_and_evacuated_dead_host_keeps_its_share(
    connect: Connect,
):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .host("a")
        .host("b")
        .host("c")
        .instance("web", host="a", flavor="m1.large")
        .instance("db", host="c", flavor="m1.xlarge")
    )
    sim, cloud = connect(spec, time_scale=0)
    conn = sim.connect()
    web, db = sim.server_id("web"), sim.server_id("db")
    conn.compute.migrate_server(web, host="b")
    sim.advance(600)
    assert sim.status_of(web) == "VERIFY_RESIZE"
    hosts = hosts_of(cloud.snapshot())
    assert (hosts["a"].used.vcpus, hosts["b"].used.vcpus) == (4, 4)

    sim.kill_host("c")
    conn.compute.force_service_down(
        next(s for s in conn.compute.services() if s.host == "c"), "c", "nova-compute", True
    )
    conn.compute.evacuate_server(db, host="a")
    sim.advance(600)
    assert sim.host_of(db) == "a" and sim.status_of(db) in ("ACTIVE", "SHUTOFF")
    hosts = hosts_of(cloud.snapshot())
    assert hosts["c"].used.vcpus == 8 and hosts["a"].used.vcpus == 4 + 8


def test_disabled_service_and_nested_vgpu_providers(connect: Connect):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .flavor("v1.gpu", vcpus=2, ram=4096, disk=20, extra_specs={"resources:VGPU": "1"})
        .host("a", vgpus=2)
        .host("b", disabled=True, disabled_reason="bios update")
        .host("small", vcpus=8)
        .instance("vdi", host="a", flavor="v1.gpu")
    )
    _, cloud = connect(spec, time_scale=0)
    hosts = hosts_of(cloud.snapshot())
    assert hosts["b"].placement_disabled and not hosts["a"].placement_disabled
    (gpu,) = hosts["a"].nested
    assert gpu.inventory["VGPU"].total == 2 and gpu.inventory["VGPU"].used == 1
    assert hosts["a"].nested_room("VGPU") == 1
    wanted = placement_request(
        next(i for i in cloud.snapshot().instances if i.name == "vdi").flavor
    )
    assert hosts["a"].refusal(wanted) is None
    assert hosts["b"].refusal(wanted) == "b has no VGPU provider"
    # max_unit: one instance never gets more vCPUs than the node has threads.
    assert hosts["small"].refusal({"VCPU": 16}) == "16 VCPU is more than its max_unit 8 on small"


def test_plan_says_where_aggregate_ratios_differ_from_placement(connect: Connect):
    spec = sixteen_threads(16.0)
    spec.aggregates = [
        AggregateSpec(name="old", hosts=["a", "b"], metadata={"cpu_allocation_ratio": "4.0"})
    ]
    _, cloud = connect(spec, time_scale=0)
    p = drain_a(cloud.snapshot())
    (note,) = [w for w in p.warnings if "aggregate metadata" in w]
    assert "cpu_allocation_ratio 4 on b" in note and "Placement has 16" in note


def test_plan_keeps_an_instance_placement_would_refuse_everywhere(connect: Connect):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .flavor("v1.gpu", vcpus=2, ram=4096, disk=20, extra_specs={"resources:VGPU": "1"})
        .host("a", vgpus=1)
        .host("b")
        .instance("vdi", host="a", flavor="v1.gpu")
    )
    _, cloud = connect(spec, time_scale=0)
    p = drain_a(cloud.snapshot())
    # Nova would answer NoValidHost on b: the plan does not send it there, and says why.
    assert p.moves == []
    (skip,) = p.skips
    assert skip.instance_name == "vdi" and "b has no VGPU provider" in skip.reason
    assert not p.feasible
