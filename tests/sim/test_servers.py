"""Server list/show/create/delete/metadata as openstacksdk users see them."""

from __future__ import annotations

from collections.abc import Callable

import openstack.exceptions
import pytest

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call, error, pair_spec


def test_list_filters_by_host_status_and_name(sim: SimHandle) -> None:
    conn = sim.connect()
    everything = list(conn.compute.servers(all_projects=True))
    assert len(everything) == len(sim.state.instances)
    on_0 = list(conn.compute.servers(all_projects=True, compute_host="sim-compute-0"))
    assert sorted(s.id for s in on_0) == sim.instances_on("sim-compute-0")
    assert all(s.compute_host == "sim-compute-0" for s in on_0)
    shutoff = list(conn.compute.servers(all_projects=True, status="SHUTOFF"))
    assert shutoff and all(s.status == "SHUTOFF" for s in shutoff)
    named = list(conn.compute.servers(all_projects=True, name="web"))
    assert named and all("web" in s.name for s in named)
    regex = list(conn.compute.servers(all_projects=True, name="^acme-"))
    assert all(s.name.startswith("acme-") for s in regex)


def test_without_all_projects_only_the_admin_project_is_listed(sim: SimHandle) -> None:
    conn = sim.connect()
    mine = list(conn.compute.servers())
    admin_project = sim.state.projects["admin"]
    assert all(s.project_id == admin_project for s in mine)
    acme = sim.state.projects["acme"]
    scoped = list(conn.compute.servers(all_projects=True, project_id=acme))
    assert scoped and all(s.project_id == acme for s in scoped)


def test_paging_with_limit_and_marker_follows_next_links(
    make_sim: Callable[..., SimHandle],
) -> None:
    sim = make_sim(hosts=4, instances=40, seed=3)
    conn = sim.connect()
    first = call(conn, "GET", "/servers/detail?all_tenants=1&limit=7").json()
    assert len(first["servers"]) == 7
    next_href = first["servers_links"][0]["href"]
    assert "marker=" + first["servers"][-1]["id"] in next_href and "all_tenants=1" in next_href
    paged = list(conn.compute.servers(all_projects=True, limit=7))
    assert len({s.id for s in paged}) == len(sim.state.instances)
    bad = call(conn, "GET", "/servers?marker=nope")
    assert error(bad)[0] == 400


def test_show_has_the_admin_fields(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    raw = call(conn, "GET", f"/servers/{sim.server_id('bfv-1')}").json()["server"]
    assert raw["OS-EXT-SRV-ATTR:host"] == "a"
    assert raw["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "a"
    assert raw["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert raw["OS-EXT-STS:vm_state"] == "active"
    assert raw["OS-EXT-STS:task_state"] is None
    assert raw["OS-EXT-STS:power_state"] == 1
    assert raw["OS-EXT-AZ:availability_zone"] == "az1"
    assert raw["image"] == ""  # booted from volume
    assert raw["os-extended-volumes:volumes_attached"][0]["id"]
    (addr,) = raw["addresses"]["private"]
    assert addr["version"] == 4 and addr["OS-EXT-IPS:type"] == "fixed"
    assert addr["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:")
    assert raw["flavor"]["original_name"] == "m1.small"
    assert raw["locked"] is False and raw["host_status"] == "UP"


def test_show_shape_follows_the_microversion(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("tpm-1")
    old = call(conn, "GET", f"/servers/{sid}", "2.1").json()["server"]
    assert set(old["flavor"]) == {"id", "links"}
    assert "locked" not in old and "host_status" not in old
    new = call(conn, "GET", f"/servers/{sid}", "2.47").json()["server"]
    assert new["flavor"]["extra_specs"]["hw:tpm_version"] == "2.0"
    assert new["locked"] is False
    latest = call(conn, "GET", f"/servers/{sid}", "2.96").json()["server"]
    assert "pinned_availability_zone" in latest and "locked_reason" in latest


def test_unknown_server_is_404(sim: SimHandle) -> None:
    conn = sim.connect()
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.find_server("no-such-server", ignore_missing=False)


def test_create_places_by_capacity_and_zone_then_delete(make_sim: Callable[..., SimHandle]) -> None:
    spec = ClusterSpec().host("a", vcpus=4, cpu_allocation_ratio=1.0).host("b", zone="az2")
    sim = make_sim(spec)
    conn = sim.connect()
    image = next(iter(conn.image.images()))
    flavor = conn.compute.find_flavor("m1.large", ignore_missing=False)
    server = conn.compute.create_server(
        name="new-1",
        image_id=image.id,
        flavor_id=flavor.id,
        networks="auto",
        availability_zone="az1",
    )
    server = conn.compute.wait_for_server(server, interval=0.05, wait=10)
    assert server.status == "ACTIVE" and server.compute_host == "a"
    # a is now full (4 pCPU at ratio 1.0): the next one cannot go to az1.
    second = conn.compute.create_server(
        name="new-2",
        image_id=image.id,
        flavor_id=flavor.id,
        networks="auto",
        availability_zone="az1",
    )
    second = conn.compute.get_server(second.id)
    assert second.status == "ERROR" and "No valid host" in second.fault["message"]
    third = conn.compute.create_server(
        name="new-3", image_id=image.id, flavor_id=flavor.id, networks="auto"
    )
    assert sim.host_of(third.id) == "b"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.05, wait=5)
    assert server.id not in sim.state.instances


def test_a_forced_host_skips_the_filters_but_not_a_disabled_hosts_trait(
    make_sim: Callable[..., SimHandle],
) -> None:
    """`zone:host` bypasses the scheduler's filters, not Placement's mandatory pre-filter
    (Train+): the request forbids COMPUTE_STATUS_DISABLED, so a disabled host takes nothing."""
    sim = make_sim(ClusterSpec().host("a").host("b"))
    conn = sim.connect()
    image = next(iter(conn.image.images()))
    flavor = conn.compute.find_flavor("m1.small", ignore_missing=False)

    def boot(name: str) -> str:
        server = conn.compute.create_server(
            name=name,
            image_id=image.id,
            flavor_id=flavor.id,
            networks="auto",
            availability_zone="az1:a",
        )
        return server.id

    on_a = boot("forced-1")
    assert sim.host_of(on_a) == "a"
    service = next(s for s in conn.compute.services() if s.host == "a")
    conn.compute.disable_service(service, disabled_reason="maintenance")
    refused = conn.compute.get_server(boot("forced-2"))
    assert refused.status == "ERROR" and "No valid host" in refused.fault["message"]
    assert sim.host_of(refused.id) is None


def test_create_honours_server_group_policies(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(ClusterSpec().host("a").host("b").host("c"))
    conn = sim.connect()
    image = next(iter(conn.image.images()))
    anti = conn.compute.create_server_group(name="anti", policy="anti-affinity")
    aff = conn.compute.create_server_group(name="aff", policy="affinity")
    anti_hosts, aff_hosts = [], []
    for n in range(3):
        s = conn.compute.create_server(
            name=f"anti-{n}",
            image_id=image.id,
            flavor_id="2",
            networks="none",
            scheduler_hints={"group": anti.id},
        )
        anti_hosts.append(sim.host_of(s.id))
        s = conn.compute.create_server(
            name=f"aff-{n}",
            image_id=image.id,
            flavor_id="2",
            networks="none",
            scheduler_hints={"group": aff.id},
        )
        aff_hosts.append(sim.host_of(s.id))
    assert len(set(anti_hosts)) == 3
    assert len(set(aff_hosts)) == 1
    fourth = conn.compute.create_server(
        name="anti-3",
        image_id=image.id,
        flavor_id="2",
        networks="none",
        scheduler_hints={"group": anti.id},
    )
    assert conn.compute.get_server(fourth.id).status == "ERROR"
    assert len(conn.compute.get_server_group(anti.id).member_ids) == 4


def test_create_rejects_bad_requests(sim: SimHandle) -> None:
    conn = sim.connect()
    missing = call(conn, "POST", "/servers", json={"server": {"flavorRef": "1"}})
    assert error(missing)[:2] == (400, "badRequest")
    assert "'name' is a required property" in error(missing)[2]
    bad_flavor = call(
        conn,
        "POST",
        "/servers",
        json={"server": {"name": "x", "flavorRef": "nope", "imageRef": "x"}},
    )
    assert error(bad_flavor)[0] == 400


def test_metadata_get_set_delete(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    server = conn.compute.get_server(sim.server_id("web-1"))
    conn.compute.set_server_metadata(server, evacuation_priority="1", owner="team-a")
    assert conn.compute.fetch_server_metadata(server).metadata["owner"] == "team-a"
    conn.compute.delete_server_metadata(server, ["owner"])
    meta = conn.compute.fetch_server_metadata(server).metadata
    assert meta == {"evacuation_priority": "1"}
    assert sim.instance(server.id).metadata == {"evacuation_priority": "1"}


def test_stop_start_lock_unlock(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(pair_spec())
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.stop_server(sid)
    assert conn.compute.get_server(sid).task_state == "powering-off"
    sim.advance(5)
    assert conn.compute.get_server(sid).status == "SHUTOFF"
    again = call(conn, "POST", f"/servers/{sid}/action", json={"os-stop": None})
    assert error(again)[:2] == (409, "conflictingRequest")
    assert f"Cannot 'stop' instance {sid} while it is in vm_state stopped" in error(again)[2]
    conn.compute.start_server(sid)
    sim.advance(5)
    assert conn.compute.get_server(sid).power_state == 1
    conn.compute.lock_server(sid, locked_reason="maintenance")
    server = conn.compute.get_server(sid)
    assert server.is_locked and server.locked_reason == "maintenance"
    conn.compute.unlock_server(sid)
    assert not conn.compute.get_server(sid).is_locked


def test_a_lock_is_a_change_of_the_server(frozen: Callable[..., SimHandle]) -> None:
    """Nova saves the instance on lock and unlock: `updated` moves, `changes-since` shows it."""
    sim = frozen(pair_spec())
    conn = sim.connect()
    mark = sim.state.time(sim.state.now).strftime("%Y-%m-%dT%H:%M:%S")
    sim.advance(10)
    sid = sim.server_id("web-1")
    conn.compute.lock_server(sid)
    changed = list(conn.compute.servers(all_projects=True, changes_since=mark))
    assert [(s.id, s.is_locked) for s in changed] == [(sid, True)]


def test_unknown_action_is_400(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    resp = call(conn, "POST", f"/servers/{sim.server_id('web-1')}/action", json={"reboot2": {}})
    assert error(resp) == (400, "badRequest", "There is no such action: reboot2")


def test_changes_since_filters_servers_and_migrations(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    mark = sim.state.time(sim.state.now).strftime("%Y-%m-%dT%H:%M:%S")  # naive means UTC
    sim.advance(10)
    sid = sim.server_id("web-1")
    conn.compute.set_server_metadata(sid, touched="yes")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    changed = list(conn.compute.servers(all_projects=True, changes_since=mark))
    assert [s.id for s in changed] == [sid]
    recent = call(conn, "GET", f"/os-migrations?changes-since={mark}", "2.59").json()
    assert [m["instance_uuid"] for m in recent["migrations"]] == [sid]
    bad = call(conn, "GET", "/servers?changes-since=yesterday")
    assert error(bad)[0] == 400


def test_deleted_instance_is_listed_deleted_only_with_changes_since(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    mark = sim.state.time(sim.state.now).strftime("%Y-%m-%dT%H:%M:%SZ")
    sim.advance(10)
    sid = sim.server_id("web-1")
    conn.compute.delete_server(sid)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server(sid)
    # A normal listing, with or without all_tenants, never shows it.
    assert sid not in {s.id for s in conn.compute.servers(all_projects=True)}
    assert sid not in {s["id"] for s in call(conn, "GET", "/servers/detail").json()["servers"]}
    # With changes-since, Nova returns it with status DELETED (the poller's way to learn it).
    changed = call(conn, "GET", f"/servers/detail?all_tenants=1&changes-since={mark}").json()
    (gone,) = changed["servers"]
    assert gone["id"] == sid and gone["status"] == "DELETED"
    assert gone["OS-EXT-STS:vm_state"] == "deleted" and gone["OS-EXT-STS:task_state"] is None
    assert gone["OS-SRV-USG:terminated_at"] and gone["updated"] >= mark
    sdk_view = list(conn.compute.servers(all_projects=True, changes_since=mark))
    assert [(s.id, s.status) for s in sdk_view] == [(sid, "DELETED")]
    # An admin can ask for deleted ones only, or rule them out.
    only = call(conn, "GET", "/servers/detail?all_tenants=1&deleted=true").json()["servers"]
    assert [s["id"] for s in only] == [sid]
    live = call(conn, "GET", f"/servers?all_tenants=1&deleted=false&changes-since={mark}").json()
    assert live["servers"] == []
    # Deleted before the mark: not a change since then.
    sim.advance(10)
    later = sim.state.time(sim.state.now).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert call(conn, "GET", f"/servers?changes-since={later}").json()["servers"] == []


def test_a_deleted_instance_can_be_the_marker_of_a_changes_since_page(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    mark = sim.state.time(sim.state.now).strftime("%Y-%m-%dT%H:%M:%SZ")
    sim.advance(5)
    for name in ("web-1", "web-2", "db-1"):
        conn.compute.delete_server(sim.server_id(name))
    seen = list(conn.compute.servers(all_projects=True, changes_since=mark, limit=1))
    assert sorted(s.id for s in seen) == sorted(sim.state.deleted)
    assert {s.status for s in seen} == {"DELETED"}
    assert len(sim.state.deleted) == 3 and not set(sim.state.deleted) & set(sim.state.instances)


def test_servers_sort_by_updated_newest_first_and_page_in_that_order(
    frozen: Callable[..., SimHandle],
) -> None:
    """What a poller asks for (`sort_key=updated_at`): the latest change on the first page."""
    sim = frozen()
    conn = sim.connect()
    sim.advance(5)
    sid = sim.server_id("web-2")
    conn.compute.stop_server(sid)
    sim.advance(60)
    newest = "/servers/detail?all_tenants=1&sort_key=updated_at&sort_dir=desc"
    listed = call(conn, "GET", newest).json()["servers"]
    assert listed[0]["id"] == sid
    assert [s["updated"] for s in listed] == sorted((s["updated"] for s in listed), reverse=True)
    first = call(conn, "GET", newest + "&limit=1").json()
    rest = call(conn, "GET", newest + f"&marker={sid}").json()["servers"]
    assert [s["id"] for s in first["servers"]] == [sid] and "servers_links" in first
    assert [s["id"] for s in rest] == [s["id"] for s in listed[1:]]
    oldest = call(conn, "GET", "/servers/detail?all_tenants=1&sort_key=updated_at&sort_dir=asc")
    assert oldest.json()["servers"][-1]["id"] == sid
    assert error(call(conn, "GET", "/servers?sort_key=colour"))[0] == 400
    # Keys Nova takes and drops (SERVER_LIST_IGNORE_SORT_KEY): the default order.
    dropped = call(conn, "GET", "/servers/detail?all_tenants=1&sort_key=id").json()["servers"]
    default = call(conn, "GET", "/servers/detail?all_tenants=1").json()["servers"]
    assert [s["id"] for s in dropped] == [s["id"] for s in default]
    assert error(call(conn, "GET", "/servers?sort_key=updated_at&sort_dir=up"))[0] == 400
