"""The sim's Placement, read over HTTP as an operator's tools read it: nova.conf settings in
the inventories, allocations per consumer through moves, traits, nested providers, candidates."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typer.testing import CliRunner

from novaflow.cli import app
from novaflow.sim.spec import ClusterSpec, NovaConf
from novaflow.sim.state import SimCloud
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import action


def placement(conn: Any, path: str, mv: str = "1.39", **params: Any) -> Any:
    resp = conn.placement.get(path, microversion=mv, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["OpenStack-API-Version"] == f"placement {mv}"
    return resp.json()


def provider(conn: Any, name: str) -> str:
    (rp,) = placement(conn, "/resource_providers", name=name)["resource_providers"]
    return str(rp["uuid"])


def usage(conn: Any, host: str) -> dict[str, int]:
    return placement(conn, f"/resource_providers/{provider(conn, host)}/usages")["usages"]


def until(sim: SimHandle, sid: str, status: str, limit: int = 600) -> None:
    for _ in range(limit):
        if sim.status_of(sid) == status:
            return
        sim.advance(1)
    raise AssertionError(f"{sid} never reached {status}: {sim.status_of(sid)}")


def two_hosts(**b: Any) -> ClusterSpec:
    return (
        ClusterSpec(projects=["admin", "demo"])
        .host("a", vcpus=16)
        .host("b", vcpus=16, **b)
        .instance("big", host="a", flavor="m1.2xlarge")
        .instance("web", host="a", flavor="m1.medium")
    )


def test_inventories_carry_nova_conf_ratios_and_reserved(frozen: Callable[..., SimHandle]):
    spec = ClusterSpec().host(
        "a",
        vcpus=16,
        memory_mb=65536,
        disk_gb=1000,
        cpu_allocation_ratio=16.0,
        ram_allocation_ratio=1.5,
        reserved_host_memory_mb=4096,
        reserved_host_cpus=2,
        reserved_host_disk_mb=20480,
    )
    conn = frozen(spec).connect()
    inv = placement(conn, f"/resource_providers/{provider(conn, 'a')}/inventories")["inventories"]
    assert inv["VCPU"] == {
        "total": 16,
        "reserved": 2,
        "min_unit": 1,
        "max_unit": 16,
        "step_size": 1,
        "allocation_ratio": 16.0,
    }
    assert (inv["MEMORY_MB"]["reserved"], inv["MEMORY_MB"]["allocation_ratio"]) == (4096, 1.5)
    assert inv["DISK_GB"]["reserved"] == 20


def test_ratio_one_on_a_sixteen_thread_host_refuses_a_move_that_ratio_sixteen_accepts(
    frozen: Callable[..., SimHandle],
):
    # b is full at ratio 1.0 with one 16-vCPU instance: a 2-vCPU instance has no room there.
    tight = frozen(two_hosts(cpu_allocation_ratio=1.0).instance("filler", "b", flavor="m1.2xlarge"))
    conn = tight.connect()
    sid = tight.server_id("web")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    tight.advance(5)
    assert tight.host_of(sid) == "a" and tight.migrations(sid)[0].status == "error"

    loose = frozen(
        two_hosts(cpu_allocation_ratio=16.0).instance("filler", "b", flavor="m1.2xlarge")
    )
    conn = loose.connect()
    sid = loose.server_id("web")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    until(loose, sid, "ACTIVE")
    loose.advance(400)
    assert loose.host_of(sid) == "b" and loose.migrations(sid)[0].status == "completed"


def test_reserved_memory_is_not_handed_out(frozen: Callable[..., SimHandle]):
    # b has 64 GiB, half reserved: the 32 GiB m1.2xlarge fits in 32 GiB only with none used.
    spec = two_hosts(memory_mb=65536, reserved_host_memory_mb=32768).instance(
        "small", "b", flavor="m1.tiny"
    )
    sim = frozen(spec)
    conn = sim.connect()
    sid = sim.server_id("big")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    sim.advance(5)
    assert sim.host_of(sid) == "a" and sim.migrations(sid)[0].status == "error"
    events = conn.compute.get(
        f"/servers/{sid}/os-instance-actions/{sim.migrations(sid)[0].request_id}",
        microversion="2.84",
    ).json()["instanceAction"]["events"]
    assert any("No valid host" in (e.get("details") or "") for e in events)


def test_verify_resize_holds_both_hosts_until_confirm(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts())
    conn = sim.connect()
    sid = sim.server_id("web")
    before = usage(conn, "a")
    conn.compute.migrate_server(sid, host="b")
    until(sim, sid, "VERIFY_RESIZE")
    (m,) = sim.migrations(sid)
    # The migration holds the old flavor on the source; the instance holds the target.
    assert usage(conn, "a") == before and usage(conn, "b")["VCPU"] == 2
    held = placement(conn, f"/allocations/{m.uuid}")
    assert held["allocations"][provider(conn, "a")]["resources"]["VCPU"] == 2
    assert held["consumer_type"] == "MIGRATION"
    mine = placement(conn, f"/allocations/{sid}")["allocations"]
    assert list(mine) == [provider(conn, "b")]
    action(conn, sid, {"confirmResize": None})
    sim.advance(5)
    assert usage(conn, "a")["VCPU"] == before["VCPU"] - 2
    assert placement(conn, f"/allocations/{m.uuid}")["allocations"] == {}


def test_revert_gives_the_source_allocation_back(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts())
    conn = sim.connect()
    sid = sim.server_id("web")
    before_a, before_b = usage(conn, "a"), usage(conn, "b")
    conn.compute.migrate_server(sid, host="b")
    until(sim, sid, "VERIFY_RESIZE")
    action(conn, sid, {"revertResize": None})
    sim.advance(60)
    assert sim.status_of(sid) == "ACTIVE" and sim.host_of(sid) == "a"
    assert (usage(conn, "a"), usage(conn, "b")) == (before_a, before_b)
    assert list(placement(conn, f"/allocations/{sid}")["allocations"]) == [provider(conn, "a")]


def test_live_migration_holds_both_during_the_move(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts())
    conn = sim.connect()
    sid = sim.server_id("web")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    sim.advance(5)
    assert sim.status_of(sid) == "MIGRATING"
    assert usage(conn, "a")["VCPU"] == 18 and usage(conn, "b")["VCPU"] == 2
    until(sim, sid, "ACTIVE")
    sim.advance(5)
    assert usage(conn, "a")["VCPU"] == 16 and sim.host_of(sid) == "b"


def test_dead_host_keeps_allocations_after_evacuation_until_it_returns(
    frozen: Callable[..., SimHandle],
):
    sim = frozen(two_hosts())
    conn = sim.connect()
    sid = sim.server_id("web")
    sim.kill_host("a")
    sim.advance(1)
    conn.compute.force_service_down(
        next(s for s in conn.compute.services() if s.host == "a"), "a", "nova-compute", True
    )
    action(conn, sid, {"evacuate": {"host": "b"}}, mv="2.94")
    until(sim, sid, "ACTIVE")
    assert sim.host_of(sid) == "b"
    # Both hosts count the instance: the dead one until its compute service cleans up.
    assert usage(conn, "a")["VCPU"] == 18 and usage(conn, "b")["VCPU"] == 2
    assert set(placement(conn, f"/allocations/{sid}")["allocations"]) == {
        provider(conn, "a"),
        provider(conn, "b"),
    }
    sim.revive_host("a")
    sim.advance(1)
    assert usage(conn, "a")["VCPU"] == 16
    assert list(placement(conn, f"/allocations/{sid}")["allocations"]) == [provider(conn, "b")]


def test_disabled_service_sets_the_trait_and_filters_out(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts())
    conn = sim.connect()
    svc = next(s for s in conn.compute.services() if s.host == "b")
    conn.compute.disable_service(svc, "b", "nova-compute", disabled_reason="maintenance")
    rp = provider(conn, "b")
    assert (
        "COMPUTE_STATUS_DISABLED" in placement(conn, f"/resource_providers/{rp}/traits")["traits"]
    )
    enabled = placement(conn, "/resource_providers", required="!COMPUTE_STATUS_DISABLED")
    assert [p["name"] for p in enabled["resource_providers"]] == ["a"]
    either = placement(conn, "/resource_providers", required="in:COMPUTE_STATUS_DISABLED,X")
    assert [p["name"] for p in either["resource_providers"]] == ["b"]
    sid = sim.server_id("web")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    sim.advance(5)
    assert sim.host_of(sid) == "a" and sim.migrations(sid)[0].status == "error"


def test_nested_vgpu_provider_decides_where_a_vgpu_flavor_goes(frozen: Callable[..., SimHandle]):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .flavor("v1.gpu", vcpus=2, ram=4096, disk=20, extra_specs={"resources:VGPU": "1"})
        .host("a", vgpus=1)
        .host("b")
        .host("c", vgpus=2)
        .instance("vdi", host="a", flavor="v1.gpu")
    )
    sim = frozen(spec)
    conn = sim.connect()
    c = provider(conn, "c")
    tree = placement(conn, "/resource_providers", in_tree=c)["resource_providers"]
    (child,) = [p for p in tree if p["parent_provider_uuid"] == c]
    assert child["root_provider_uuid"] == c
    sid = sim.server_id("vdi")
    conn.compute.migrate_server(sid)
    until(sim, sid, "VERIFY_RESIZE")
    assert sim.host_of(sid) == "c"
    held = placement(conn, f"/allocations/{sid}")["allocations"]
    assert held[child["uuid"]]["resources"] == {"VGPU": 1}


def test_allocation_candidates_summaries(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts(cpu_allocation_ratio=1.0).instance("filler", "b", flavor="m1.2xlarge"))
    conn = sim.connect()
    body = placement(conn, "/allocation_candidates", resources="VCPU:2,MEMORY_MB:4096")
    a, b = provider(conn, "a"), provider(conn, "b")
    assert [list(r["allocations"]) for r in body["allocation_requests"]] == [[a]]
    summary = body["provider_summaries"][a]
    assert summary["resources"]["VCPU"] == {"capacity": 64, "used": 18}
    assert summary["root_provider_uuid"] == a and "COMPUTE_NODE" in summary["traits"]
    assert b not in body["provider_summaries"]
    old = placement(conn, "/allocation_candidates", mv="1.16", resources="VCPU:2", limit=1)
    assert old["provider_summaries"][a] == {"resources": {"VCPU": {"capacity": 64, "used": 18}}}


def test_usages_by_project_and_microversion_errors(frozen: Callable[..., SimHandle]):
    sim = frozen(two_hosts())
    conn = sim.connect()
    project = sim.state.projects["demo"]
    body = placement(conn, "/usages", mv="1.9", project_id=project)
    assert body["usages"] == {"VCPU": 18, "MEMORY_MB": 36864, "DISK_GB": 240}
    conn.compute.migrate_server(sim.server_id("web"), host="b")
    until(sim, sim.server_id("web"), "VERIFY_RESIZE")
    grouped = placement(conn, "/usages", project_id=project)["usages"]
    assert grouped["INSTANCE"] == {
        "consumer_count": 2,
        "VCPU": 18,
        "MEMORY_MB": 36864,
        "DISK_GB": 240,
    }
    assert grouped["MIGRATION"]["consumer_count"] == 1 and grouped["MIGRATION"]["VCPU"] == 2
    every = placement(conn, "/usages", project_id=project, consumer_type="all")["usages"]
    assert every == {"all": {"consumer_count": 3, "VCPU": 20, "MEMORY_MB": 40960, "DISK_GB": 280}}
    resp = conn.placement.get(
        "/resource_providers", microversion="1.13", params={"in_tree": provider(conn, "a")}
    )
    assert resp.status_code == 400 and resp.json()["errors"][0]["status"] == 400


def test_affinity_group_on_one_host_cannot_be_moved_by_the_scheduler(
    frozen: Callable[..., SimHandle],
):
    # Nova's ServerGroupAffinityFilter: the group's hosts include the moving member's own.
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .host("a")
        .host("b")
        .group("pair", "affinity")
        .instance("one", host="a", groups=["pair"])
        .instance("two", host="a", groups=["pair"])
    )
    sim = frozen(spec)
    conn = sim.connect()
    one = sim.server_id("one")
    conn.compute.live_migrate_server(one, host=None, block_migration="auto")
    sim.advance(600)
    assert sim.host_of(one) == "a" and sim.migrations(one)[0].status == "error"
    conn.compute.migrate_server(one, host="b")
    sim.advance(600)
    assert sim.host_of(one) == "a" and sim.migrations(one)[-1].status == "error"


def test_anti_affinity_counts_other_members_against_max_server_per_host(
    frozen: Callable[..., SimHandle],
):
    spec = (
        ClusterSpec(projects=["admin", "demo"])
        .host("a")
        .host("b")
        .host("c")
        .group("web", "anti-affinity", rules={"max_server_per_host": 2})
        .instance("w1", host="a", groups=["web"])
        .instance("w2", host="b", groups=["web"])
        .instance("w3", host="b", groups=["web"])
        .instance("w4", host="c", groups=["web"])
    )
    sim = frozen(spec)
    conn = sim.connect()
    w1, w4 = sim.server_id("w1"), sim.server_id("w4")
    conn.compute.live_migrate_server(w1, host="b", block_migration="auto")
    sim.advance(600)
    assert sim.host_of(w1) == "a"  # b already holds two other members
    conn.compute.live_migrate_server(w4, host="a", block_migration="auto")
    sim.advance(600)
    assert sim.host_of(w4) == "a"  # one other member there: room for a second


def test_generated_clouds_mix_nova_conf_per_host():
    conf = NovaConf(cpu_allocation_ratios=[1.0, 4.0, 16.0], reserved_host_memory_mb=[512, 8192])
    spec = ClusterSpec.generated(hosts=12, instances=60, seed=3, nova_conf=conf)
    assert {h.cpu_allocation_ratio for h in spec.hosts} == {1.0, 4.0, 16.0}
    assert {h.reserved_host_memory_mb for h in spec.hosts} == {512, 8192}
    # Without it, the same seed gives the same cloud as before the option existed.
    plain = ClusterSpec.generated(hosts=12, instances=60, seed=3)
    assert {h.cpu_allocation_ratio for h in plain.hosts} == {4.0}
    assert plain.instances == ClusterSpec.generated(hosts=12, instances=60, seed=3).instances
    cloud = SimCloud(spec)
    for name, used in cloud.usages().items():
        root = cloud.providers[cloud.hosts[name].hypervisor_uuid]
        assert used.vcpus <= root.inventories["VCPU"].capacity  # the generator respects them


def test_sim_spec_command_takes_the_mix():
    result = CliRunner().invoke(
        app, ["sim", "spec", "--hosts", "6", "--cpu-ratios", "1,16", "--reserved-memory-mb", "512"]
    )
    hosts = json.loads(result.stdout)["hosts"]
    assert {h["cpu_allocation_ratio"] for h in hosts} == {1.0, 16.0}
