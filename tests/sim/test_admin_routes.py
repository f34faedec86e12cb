"""Services, hypervisors, flavors, groups, zones, aggregates, placement, images, migrations."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call, error


def test_services_list_and_disable_enable_2_53(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    computes = [s for s in conn.compute.services() if s.binary == "nova-compute"]
    assert sorted(s.host for s in computes) == ["a", "b", "c"]
    a = next(s for s in computes if s.host == "a")
    assert len(a.id) == 36 and a.availability_zone == "az1" and a.state == "up"
    conn.compute.disable_service(a, disabled_reason="patching")
    raw = call(conn, "GET", "/os-services?host=a&binary=nova-compute").json()["services"][0]
    assert (raw["status"], raw["disabled_reason"]) == ("disabled", "patching")
    conn.compute.enable_service(a)
    raw = call(conn, "GET", "/os-services?host=a").json()["services"][0]
    assert (raw["status"], raw["disabled_reason"]) == ("enabled", None)
    bad = call(conn, "PUT", "/os-services/not-a-uuid", json={"status": "disabled"})
    assert error(bad)[0] == 400


def test_service_reason_without_status_is_refused_as_nova_does(
    frozen: Callable[..., SimHandle],
) -> None:
    """Nova 2.53+: a disabled_reason alone is "no update"; with status it re-disables."""
    sim = frozen()
    conn = sim.connect()
    a = next(s for s in conn.compute.services() if s.host == "a")
    put = f"/os-services/{a.id}"
    call(conn, "PUT", put, "2.53", json={"status": "disabled", "disabled_reason": "disk"})
    alone = call(conn, "PUT", put, "2.53", json={"disabled_reason": "kernel upgrade"})
    assert error(alone) == (
        400,
        "badRequest",
        "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
    )
    assert sim.state.hosts["a"].disabled_reason == "disk"
    both = {"status": "disabled", "disabled_reason": "kernel upgrade"}
    again = call(conn, "PUT", put, "2.53", json=both).json()["service"]
    assert (again["status"], again["disabled_reason"]) == ("disabled", "kernel upgrade")
    enabling = call(conn, "PUT", put, "2.53", json={"status": "enabled", "disabled_reason": "x"})
    assert error(enabling)[0] == 400 and sim.state.hosts["a"].status == "disabled"


def test_services_legacy_action_forms(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    body = {"host": "b", "binary": "nova-compute", "disabled_reason": "disk"}
    resp = call(conn, "PUT", "/os-services/disable-log-reason", "2.11", json=body)
    assert resp.json()["service"] == {
        "host": "b",
        "binary": "nova-compute",
        "status": "disabled",
        "disabled_reason": "disk",
    }
    down = call(
        conn,
        "PUT",
        "/os-services/force-down",
        "2.11",
        json={"host": "b", "binary": "nova-compute", "forced_down": True},
    )
    assert down.json()["service"]["forced_down"] is True
    listed = call(conn, "GET", "/os-services?host=b", "2.11").json()["services"][0]
    assert (listed["state"], listed["forced_down"], listed["id"]) == ("down", True, 11)
    call(conn, "PUT", "/os-services/enable", "2.11", json={"host": "b", "binary": "nova-compute"})
    assert sim.state.hosts["b"].status == "enabled"
    assert (
        error(
            call(
                conn,
                "PUT",
                "/os-services/force-down",
                "2.10",
                json={"host": "b", "binary": "nova-compute", "forced_down": True},
            )
        )[0]
        == 404
    )


def test_killed_host_shows_service_down(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.kill_host("c")
    c = next(s for s in conn.compute.services() if s.host == "c")
    assert (c.state, c.status, c.is_forced_down) == ("down", "enabled", False)


def test_hypervisors_by_microversion(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    old = call(conn, "GET", "/os-hypervisors/detail", "2.87").json()["hypervisors"]
    a = next(h for h in old if h["hypervisor_hostname"] == "a")
    assert a["running_vms"] == 9 and a["vcpus"] == 32 and a["vcpus_used"] > 0
    assert a["memory_mb_used"] == sim.state.usages()["a"].ram + 512
    new = call(conn, "GET", "/os-hypervisors/detail", "2.88").json()["hypervisors"]
    assert all("vcpus" not in h and "running_vms" not in h for h in new)
    servers = call(
        conn, "GET", "/os-hypervisors?with_servers=true&hypervisor_hostname_pattern=a", "2.53"
    ).json()["hypervisors"]
    assert len(servers) == 1 and len(servers[0]["servers"]) == 9
    assert {s["uuid"] for s in servers[0]["servers"]} == set(sim.instances_on("a"))
    hyp = conn.compute.get_hypervisor(servers[0]["id"])
    assert hyp.name == "a" and hyp.state == "up"
    assert (
        error(call(conn, "GET", "/os-hypervisors?hypervisor_hostname_pattern=zz", "2.53"))[0] == 404
    )
    legacy = call(conn, "GET", "/os-hypervisors/b/servers", "2.1").json()["hypervisors"]
    assert legacy[0]["servers"] == [] and legacy[0]["id"] == 2


def test_flavors_with_extra_specs(sim: SimHandle) -> None:
    conn = sim.connect()
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert {"m1.tiny", "m1.2xlarge", "c1.pinned", "g1.pci", "s1.vtpm"} <= set(flavors)
    assert {f.vcpus for f in flavors.values()} >= {1, 16}
    pinned = conn.compute.find_flavor("c1.pinned", ignore_missing=False)
    assert pinned.extra_specs == {"hw:cpu_policy": "dedicated"}
    assert conn.compute.fetch_flavor_extra_specs(flavors["g1.pci"]).extra_specs == {
        "pci_passthrough:alias": "gpu:1"
    }
    old = call(conn, "GET", "/flavors/detail", "2.60").json()["flavors"]
    assert all("extra_specs" not in f for f in old)


def test_server_groups_by_microversion(sim: SimHandle) -> None:
    conn = sim.connect()
    groups = list(conn.compute.server_groups(all_projects=True))
    assert {g.policy for g in groups} >= {"anti-affinity", "affinity"}
    member = next(g for g in groups if g.member_ids)
    for sid in member.member_ids:
        assert sid in sim.state.instances
    old = call(conn, "GET", f"/os-server-groups/{member.id}", "2.63").json()["server_group"]
    assert old["policies"] == [member.policy] and "policy" not in old
    new = call(conn, "GET", f"/os-server-groups/{member.id}", "2.64").json()["server_group"]
    assert new["policy"] == member.policy and new["rules"] == {}
    mine = call(conn, "GET", "/os-server-groups").json()["server_groups"]
    assert all(g["project_id"] == sim.state.projects["admin"] for g in mine)


def test_zones_and_aggregates(sim: SimHandle) -> None:
    conn = sim.connect()
    zones = {z.name: z for z in conn.compute.availability_zones(details=True)}
    assert set(zones) == {"az1", "az2", "internal"}
    assert set(zones["az1"].hosts) == {"sim-compute-0", "sim-compute-1"}
    aggs = {a.name: a for a in conn.compute.aggregates()}
    assert aggs["az2-hosts"].availability_zone == "az2"
    assert aggs["az2-hosts"].metadata["cpu_allocation_ratio"] == "4.0"
    assert set(aggs["az2-hosts"].hosts) == {"sim-compute-2", "sim-compute-3"}


def test_placement_inventories_and_usages(sim: SimHandle) -> None:
    conn = sim.connect()
    rps = {rp.name: rp for rp in conn.placement.resource_providers()}
    assert set(rps) == set(sim.state.hosts)
    rp = rps["sim-compute-0"]
    inv = conn.placement.get(f"/resource_providers/{rp.id}/inventories").json()["inventories"]
    host = sim.state.hosts["sim-compute-0"]
    assert inv["VCPU"]["total"] == host.vcpus and inv["VCPU"]["allocation_ratio"] == 4.0
    assert inv["MEMORY_MB"]["reserved"] == 512
    usages = conn.placement.get(f"/resource_providers/{rp.id}/usages").json()["usages"]
    assert usages["VCPU"] == sim.state.usages()["sim-compute-0"].vcpus


def test_images(sim: SimHandle) -> None:
    conn = sim.connect()
    images = list(conn.image.images())
    assert {"cirros-0.6.2", "ubuntu-24.04"} <= {i.name for i in images}
    one = conn.image.get_image(images[0].id)
    assert one.name == images[0].name and one.status == "active"


def test_os_migrations_filters_and_paging(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    live = [sim.server_id(n) for n in ("web-1", "web-2", "bfv-1")]
    for sid in live:
        conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    cold = sim.server_id("db-1")
    conn.compute.migrate_server(cold, host="c")
    sim.advance(2000)
    everything = list(conn.compute.migrations())
    assert len(everything) == 4
    assert {m.migration_type for m in conn.compute.migrations(migration_type="live-migration")} == {
        "live-migration"
    }
    to_c = list(conn.compute.migrations(host="c"))
    assert [m.server_id for m in to_c] == [cold]
    assert [m.server_id for m in conn.compute.migrations(server_id=live[1])] == [live[1]]
    completed = list(conn.compute.migrations(status="completed"))
    assert len(completed) == 3
    page = call(conn, "GET", "/os-migrations?limit=2", "2.59").json()
    assert len(page["migrations"]) == 2 and page["migrations"][0]["uuid"]
    assert "marker=" in page["migrations_links"][0]["href"]
    rest = call(
        conn, "GET", f"/os-migrations?limit=2&marker={page['migrations'][-1]['uuid']}", "2.59"
    ).json()["migrations"]
    assert len(rest) == 2
    old = call(conn, "GET", "/os-migrations", "2.22").json()["migrations"]
    assert all("migration_type" not in m and "uuid" not in m for m in old)
    bad = call(conn, "GET", "/os-migrations?marker=nope", "2.59")
    assert error(bad)[0] == 400


def test_server_migration_routes_need_their_microversion(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    assert call(conn, "GET", f"/servers/{sid}/migrations", "2.22").status_code == 404
    assert call(conn, "GET", f"/servers/{sid}/migrations/99", "2.23").status_code == 404


def test_remaining_show_update_delete_routes(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    (listed,) = conn.compute.server_migrations(sid)
    shown = conn.compute.get_server_migration(listed.id, sid, ignore_missing=False)
    assert (shown.status, shown.source_compute, shown.dest_compute) == ("queued", "a", "b")
    by_uuid = call(conn, "GET", f"/servers/{sid}/migrations/{listed.uuid}", "2.59")
    assert by_uuid.json()["migration"]["id"] == listed.id
    renamed = conn.compute.update_server(sid, name="web-1-renamed")
    assert renamed.name == "web-1-renamed" and sim.instance(sid).name == "web-1-renamed"
    group = conn.compute.create_server_group(name="tmp", policy="soft-anti-affinity")
    conn.compute.delete_server_group(group)
    assert group.id not in sim.state.groups
    (agg,) = [a for a in conn.compute.aggregates() if a.name == "az2-hosts"]
    assert conn.compute.get_aggregate(agg.id).hosts == ["c"]
